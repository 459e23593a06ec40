"""File > Import Model…: the designer opens an imported model with the same lints and shapes as any design."""

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMessageBox

from rnn_studio import engine
from rnn_studio.exports import export_onnx
from rnn_studio.gui.app import create_app
from rnn_studio.gui.main_window import MainWindow

pytestmark = pytest.mark.slow  # measured: see the Makefile's test-quick

LITERAL_SEED = {
    "format": "rnn-studio",
    "version": 1,
    "name": "literal-seed",
    "blocks": [
        {"id": "inputs", "type": "Input", "params": {"timesteps": 10, "features": 1}},
        {"id": "gru_forward", "type": "GRU", "params": {"units": 4, "return_sequences": True}},
        {"id": "gru_backward", "type": "GRU", "params": {"units": 4, "return_sequences": True, "go_backwards": True}},
        {"id": "gru_bi", "type": "Concatenate", "params": {}},
        {"id": "lstm", "type": "LSTM", "params": {"units": 4, "bidirectional": True}},
        {"id": "outputs", "type": "Dense", "params": {"units": 1}},
    ],
    "links": [
        ["inputs", "gru_forward"],
        ["inputs", "gru_backward"],
        ["gru_forward", "gru_bi"],
        ["gru_backward", "gru_bi"],
        ["gru_bi", "lstm"],
        ["lstm", "outputs"],
    ],
}


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("RNN_STUDIO_RECOVERY_DIR", str(tmp_path / "recovery"))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    monkeypatch.setattr(MainWindow, "ask_save_changes", lambda self: QMessageBox.StandardButton.Discard)


def make_window(qtbot) -> MainWindow:
    create_app()
    w = MainWindow()
    w.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


@pytest.mark.filterwarnings("ignore")
def test_import_model_opens_design_with_its_lint(qtbot, tmp_path):
    project = engine.Project.from_dict(LITERAL_SEED)
    export_onnx(engine.build_model(project).eval(), project, tmp_path / "literal.onnx")
    w = make_window(qtbot)
    assert w.actions["import"] in w.menus["File"].actions()
    assert w.import_path(str(tmp_path / "literal.onnx"))
    assert Path(w.path) == (tmp_path / "literal.rnn.json").resolve() and Path(w.path).is_file()
    assert not w.is_modified()
    assert sorted(w.scene.blocks) == sorted(b["id"] for b in LITERAL_SEED["blocks"])
    rows = w.problems.rows()
    assert [(lv, b) for lv, b, _ in rows] == [("warning", "gru_bi")]
    assert "step t meets step T-1-t" in rows[0][2]
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "checkpoints" / "best.pt").is_file()
    assert runs[0].name in w.statusBar().currentMessage()


def test_import_refusal_is_one_line_and_writes_nothing(qtbot, tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not onnx")
    w = make_window(qtbot)
    before = w.project
    assert not w.import_path(str(bad))
    assert w.project is before
    message = w.statusBar().currentMessage()
    assert "broken.onnx" in message and "not a readable ONNX file" in message and "\n" not in message
    assert not (tmp_path / "broken.rnn.json").exists() and not (tmp_path / "runs").exists()


@pytest.mark.filterwarnings("ignore")
def test_file_import_reads_the_model_off_the_gui_thread(qtbot, tmp_path):
    """File > Import Model… returns at once (the window keeps painting) and opens the design when the worker
    lands; a refusal arrives the same way, as one line."""
    project = engine.Project.from_dict(LITERAL_SEED)
    export_onnx(engine.build_model(project).eval(), project, tmp_path / "literal.onnx")
    w = make_window(qtbot)
    before = w.project
    assert w.import_later(str(tmp_path / "literal.onnx")) is not None
    assert w.project is before and "Importing literal.onnx" in w.statusBar().currentMessage()
    qtbot.waitUntil(lambda: w.path is not None, timeout=60000)
    assert Path(w.path) == (tmp_path / "literal.rnn.json").resolve() and not w.is_modified()
    assert sorted(w.scene.blocks) == sorted(b["id"] for b in LITERAL_SEED["blocks"])
    assert [(lv, b) for lv, b, _ in w.problems.rows()] == [("warning", "gru_bi")]
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not onnx")
    w.import_later(str(bad))
    qtbot.waitUntil(lambda: "not a readable ONNX file" in w.statusBar().currentMessage(), timeout=60000)
    assert Path(w.path) == (tmp_path / "literal.rnn.json").resolve() and not (tmp_path / "broken.rnn.json").exists()
