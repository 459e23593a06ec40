"""A design named after a file whose name is not UTF-8 (issue #22): the designer saves it, with the odd
bytes escaped in the design's name, instead of failing on a lone surrogate."""

import json
import os

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMessageBox

from rnn_studio import engine
from rnn_studio.gui.app import create_app
from rnn_studio.gui.main_window import MainWindow

pytestmark = pytest.mark.slow  # measured: see the Makefile's test-quick


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("RNN_STUDIO_RECOVERY_DIR", str(tmp_path / "recovery"))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    monkeypatch.setattr(MainWindow, "ask_save_changes", lambda self: QMessageBox.StandardButton.Discard)
    monkeypatch.setattr(MainWindow, "show_error", lambda self, title, text: pytest.fail(f"{title}: {text}"))


def test_untitled_design_saved_under_a_non_utf8_file_name(qtbot, tmp_path):
    create_app()
    project = engine.Project.from_dict(
        {
            "format": "rnn-studio",
            "version": 1,
            "name": "untitled",
            "blocks": [
                {"id": "x", "type": "Input", "params": {"timesteps": 8, "features": 1}},
                {"id": "fc", "type": "Dense", "params": {"units": 1}},
            ],
            "links": [["x", "fc"]],
        }
    )
    w = MainWindow(project, None, autosave=False)
    w.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
    qtbot.addWidget(w)
    target = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"caf\xe9.rnn.json"))  # Latin-1 bytes: a lone surrogate
    assert "\udce9" in target
    assert w.save_to(target)
    (saved,) = tmp_path.glob("*.rnn.json")  # Qt spells the file name its own way; the design is what matters
    assert json.loads(saved.read_text(encoding="utf-8"))["name"] == "caf\\udce9"
    assert engine.load_project(saved).name == "caf\\udce9"  # it opens again (no lone surrogate in it)
