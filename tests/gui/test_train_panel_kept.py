"""The Train panel's choices are kept with the design (issue 23, item 4): reopening a design shows the
data file (stored relative to the design), its columns and the settings exactly as they were; a change
is an undoable step that marks the design modified, so quitting asks. Older designs still open."""

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from PySide6 import QtCore
from PySide6.QtWidgets import QMessageBox

from rnn_studio.engine import load_project
from rnn_studio.gui.main_window import MainWindow

ROOT = Path(__file__).parents[2]


def shops_csv(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(40)]
    rows = [f"{d},{s},{i % 7},{i * 0.5 + k:.2f}" for k, s in enumerate("ab") for i, d in enumerate(days)]
    path.write_text("date,shop,promo,sales\n" + "\n".join(rows) + "\n")
    return path


def open_window(qtbot, path: Path) -> MainWindow:
    w = MainWindow(load_project(path), str(path), autosave=False)
    qtbot.addWidget(w)
    return w


@pytest.fixture(autouse=True)
def asked(monkeypatch) -> Iterator[list]:
    """Closing a modified window asks (recorded here, answered Discard: no modal dialog waits in a test)."""
    seen = []

    def answer(_window):
        seen.append(True)
        return QMessageBox.StandardButton.Discard

    monkeypatch.setattr(MainWindow, "ask_save_changes", answer)
    yield seen
    for w in MainWindow.windows:  # a failed test must not leave a window that asks at Qt's shutdown
        w.restored = False
        w.undo.setClean()


@pytest.fixture
def design(tmp_path) -> Path:
    path = tmp_path / "project" / "seed.rnn.json"
    path.parent.mkdir()
    path.write_text((ROOT / "assets" / "examples" / "seed-keras.rnn.json").read_text())
    return path


def test_choices_survive_save_and_reopen(qtbot, design):
    data = shops_csv(design.parent / "data" / "shops.csv")
    win = open_window(qtbot, design)
    panel = win.training.panel
    assert not win.is_modified()
    with qtbot.waitSignal(panel.data_loaded, timeout=30_000):
        panel.set_data_file(str(data))
    panel.series.setCurrentIndex(panel.series.findText("shop"))
    panel.target.setCurrentText("sales")
    panel.set_features(["sales"])
    panel.features.itemChanged.emit(panel.features.item(0))  # as a click on a tick does
    panel.epochs.setValue(7)
    panel.lr.setValue(0.005)
    assert win.is_modified()  # quitting would ask
    assert win.save_to(str(design))
    training = json.loads(design.read_text())["training"]
    assert training["data"] == {
        "source": "csv",
        "path": "data/shops.csv",  # relative to the design file
        "time": None,
        "series": "shop",
        "missing": "error",
    }
    assert training["target"] == "sales" and training["features"] == ["sales"]
    assert training["epochs"] == 7 and training["lr"] == 0.005 and "device" not in training

    again = open_window(qtbot, design)
    p2 = again.training.panel
    qtbot.waitUntil(lambda: p2.target.currentText() == "sales" and not p2.reading(), timeout=30_000)
    assert p2.source.currentData() == ("csv", None) and Path(p2.path_edit.text()) == data
    assert p2.series.currentData() == "shop" and p2.ticked_features() == ["sales"]
    assert p2.epochs.value() == 7 and abs(p2.lr.value() - 0.005) < 1e-9
    assert p2.plan is not None and p2.plan.ok and not p2.plan_error.isVisible()
    assert not again.is_modified()  # showing the saved choices is not a change


def test_a_change_is_one_undoable_step(qtbot, design, asked):
    win = open_window(qtbot, design)
    panel = win.training.panel
    before = json.loads(json.dumps(win.project.training))
    panel.epochs.setValue(3)
    panel.epochs.setValue(4)  # consecutive changes merge
    assert win.is_modified() and win.project.training["epochs"] == 4 and win.undo.count() == 1
    win.undo.undo()
    assert win.project.training == before and panel.epochs.value() == before.get("epochs", 20)
    assert not win.is_modified()
    win.undo.redo()
    assert panel.epochs.value() == 4
    win.close()
    assert asked == [True]  # quitting after a Train panel change asks to save


def test_switching_to_a_demo_drops_the_column_choices(qtbot, design):
    data = shops_csv(design.parent / "shops.csv")
    win = open_window(qtbot, design)
    panel = win.training.panel
    with qtbot.waitSignal(panel.data_loaded, timeout=30_000):
        panel.set_data_file(str(data))
    assert win.project.training["data"]["path"] == "shops.csv"
    panel.source.setCurrentIndex(1)  # the sine demo
    training = win.project.training
    assert training["data"] == {"source": "demo", "demo": "sine"}
    assert "target" not in training and "features" not in training


def test_older_designs_open_with_a_fresh_form(qtbot, design, tmp_path):
    """A design saved before the panel kept its choices has no `data` object: the demo, defaults,
    settings from its training section, and nothing marked modified; another design's choices do not leak."""
    other = tmp_path / "other.rnn.json"
    doc = json.loads(design.read_text())
    doc["training"] = {"epochs": 11, "data": {"source": "demo", "demo": "sine"}, "note": "kept"}
    other.write_text(json.dumps(doc))
    win = open_window(qtbot, other)
    panel = win.training.panel
    assert panel.source.currentData() == ("demo", "sine") and panel.epochs.value() == 11
    panel.batch.setValue(16)
    assert win.project.training["note"] == "kept"  # keys the panel does not own are kept
    assert win.save_to(str(other))
    win.open_path(str(design))  # no data object: the first demo, the design's own epochs
    assert panel.source.currentData() == ("demo", "chaos") and panel.batch.value() == 64
    assert not win.is_modified()


def test_a_missing_data_file_says_so_on_reopen(qtbot, design):
    doc = json.loads(design.read_text())
    doc["training"] = {"data": {"source": "csv", "path": "gone.csv"}, "target": "sales"}
    design.write_text(json.dumps(doc))
    win = open_window(qtbot, design)
    panel = win.training.panel
    qtbot.waitUntil(lambda: "gone.csv" in panel.preview_error.text(), timeout=30_000)
    assert "no such file" in panel.preview_error.text()
    assert not win.is_modified()
    assert QtCore.QFileInfo(panel.path_edit.text()).isAbsolute()


def test_season_and_interval_level_are_kept(qtbot, design):
    """Forecasting's Season (a data choice) and Interval level (a setting) reopen as they were saved."""
    win = open_window(qtbot, design)
    panel = win.training.panel
    panel.season.setValue(7)
    panel.interval_level.setValue(0.8)
    assert win.is_modified()
    assert win.save_to(str(design))
    training = json.loads(design.read_text())["training"]
    assert training["data"]["season"] == 7 and training["level"] == 0.8

    again = open_window(qtbot, design)
    p2 = again.training.panel
    assert p2.season.value() == 7 and abs(p2.interval_level.value() - 0.8) < 1e-9
    assert not again.is_modified()
    p2.season.setValue(0)  # back to auto: the key goes
    p2.interval_level.setValue(0.9)  # the default: the key goes
    assert again.save_to(str(design))
    training = json.loads(design.read_text())["training"]
    assert "season" not in training["data"] and "level" not in training
