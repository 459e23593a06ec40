"""The Train panel's data plan, driven through real widgets: what is ticked is what trains.

A real training process is spawned for the end-to-end check (ticked == plan == the run's features)."""

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from rnn_studio.engine import Block, Project
from rnn_studio.gui.monitor.panel import TrainPanel


def seed_like(features: int = 1) -> Project:
    return Project(
        "seed",
        [
            Block("x", "Input", {"timesteps": 10, "features": features}),
            Block("g", "GRU", {"units": 8}),
            Block("y", "Dense", {"units": 1}),
        ],
        [("x", "g"), ("g", "y")],
    )


def year_csv(path: Path, n: int = 120) -> Path:
    value = 50 + np.cumsum(np.random.default_rng(0).normal(0, 5, n))
    path.write_text("YEAR,value\n" + "".join(f"{1900 + i},{v:.3f}\n" for i, v in enumerate(value)))
    return path


@pytest.fixture
def made(qtbot, tmp_path):
    holder = {"project": seed_like(), "fixes": []}

    def set_input_features(block_id, n):  # what the designer does through its undo stack
        holder["fixes"].append((block_id, n))
        holder["project"].blocks[0].params["features"] = n

    w = TrainPanel(lambda: holder["project"], runs_root=tmp_path / "runs", set_input_features=set_input_features)
    qtbot.addWidget(w)
    w.resize(1024, 520)
    w.show()
    holder["panel"] = w
    yield holder
    if w.is_running():
        w.proc.kill()


def test_ticked_features_are_the_plan_and_the_runs(qtbot, tmp_path, made):
    panel = made["panel"]
    panel.set_data_file(str(year_csv(tmp_path / "yearly.csv")))
    assert panel.ticked_features() == ["value"] == panel.plan.features  # YEAR is the time column
    assert "time column: YEAR" in panel.plan_text.text() and panel.start_button.isEnabled()
    panel.epochs.setValue(1)
    panel.batch.setValue(32)
    with qtbot.waitSignal(panel.run_finished, timeout=120_000) as done:
        qtbot.mouseClick(panel.start_button, QtCore.Qt.LeftButton)
    run = Path(done.args[0])
    start = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert start["features"] == ["value"] == panel.ticked_features()
    assert json.loads((run / "plan.json").read_text())["features"] == ["value"]
    end = done.args[1]
    if end.get("beats_persistence") is False:  # flagged as a warning, on the same split
        assert "does not beat persistence" in panel.status.text()


def test_mismatch_is_an_inline_error_with_a_one_click_fix(qtbot, tmp_path, made):
    panel = made["panel"]
    panel.set_data_file(str(year_csv(tmp_path / "yearly.csv")))
    panel.features.item(0).setCheckState(QtCore.Qt.Checked)  # tick YEAR too
    panel.refresh_plan()
    assert panel.ticked_features() == ["YEAR", "value"]
    assert not panel.start_button.isEnabled()
    assert "2 feature column(s) chosen" in panel.plan_error.text() and "--" not in panel.plan_error.text()
    assert panel.fix_button.isVisible() and panel.fix_button.text() == "Set Input features to 2"
    qtbot.mouseClick(panel.fix_button, QtCore.Qt.LeftButton)
    assert made["fixes"] == [("x", 2)]
    assert panel.plan.ok and panel.plan.features == ["YEAR", "value"] and panel.start_button.isEnabled()
    assert panel.start() is not None  # ticking both trains on both, never silently on one


def test_no_ticks_names_the_gui_control_before_any_process(qtbot, tmp_path, made):
    panel = made["panel"]
    panel.set_data_file(str(year_csv(tmp_path / "yearly.csv")))
    panel.features.item(1).setCheckState(QtCore.Qt.Unchecked)
    panel.refresh_plan()
    assert "Features ticks" in panel.plan_error.text() and "--features" not in panel.plan_error.text()
    assert not panel.start_button.isEnabled()
    assert panel.start() is None and not panel.is_running() and not (tmp_path / "runs").exists()


def test_series_and_missing_controls_change_the_plan(qtbot, tmp_path, made):
    panel = made["panel"]
    f = tmp_path / "shops.csv"
    rows = [f"{s},{i},{'' if (s, i) == ('b', 7) else i * 0.5}\n" for s in ("a", "b") for i in range(40)]
    f.write_text("shop,t,sales\n" + "".join(rows))
    panel.set_data_file(str(f))
    assert "not after the row above it" in panel.plan_error.text()
    assert "Series column list" in panel.plan_error.text()  # the time restarts: many series in one file
    panel.series.setCurrentIndex(panel.series.findData("shop"))
    panel.refresh_plan()
    assert "missing value" in panel.plan_error.text() and "Missing values list" in panel.plan_error.text()
    panel.missing.setCurrentIndex(panel.missing.findData("interpolate"))
    panel.refresh_plan()
    assert panel.plan.ok, panel.plan.errors
    assert panel.plan.series == 2 and panel.plan.missing["filled"] == 1
    assert sum(panel.plan.windows.values()) == 2 * (40 - 10 - 1 + 1)
    assert panel.data_spec()["series"] == "shop" and panel.data_spec()["missing"] == "interpolate"


def test_data_controls_behave(qtbot, tmp_path, made):
    panel = made["panel"]
    design = tmp_path / "designs" / "d.rnn.json"
    design.parent.mkdir()
    made["project"].path = str(design)
    # "CSV file…" opens the file dialog, in the design's folder
    idx = next(i for i in range(panel.source.count()) if panel.source.itemData(i)[0] == "csv")
    panel.source.setCurrentIndex(idx)
    panel.source.activated.emit(idx)
    dialog = panel.file_dialog
    assert dialog.isVisible() and Path(dialog.directory().absolutePath()) == design.parent
    dialog.reject()
    # every combo draws its items with a styled delegate (no blank current row)
    for combo in (panel.source, panel.target, panel.series, panel.missing, panel.optimizer):
        assert isinstance(combo.itemDelegate(), QtWidgets.QStyledItemDelegate)
    # the preview shows at least 10 rows
    panel.set_data_file(str(year_csv(tmp_path / "yearly.csv")))
    row_h = panel.preview.verticalHeader().defaultSectionSize()
    assert panel.preview.viewport().height() >= 10 * row_h
    # the wheel over the preview scrolls the form unless the preview has the focus
    bar = panel.data_scroll.verticalScrollBar()
    assert bar.maximum() > 0
    bar.setValue(0)
    _wheel(panel.preview.viewport())
    assert bar.value() > 0
    before, preview_bar = bar.value(), panel.preview.verticalScrollBar()
    panel.activateWindow()
    panel.preview.setFocus()
    qtbot.waitUntil(panel.preview.hasFocus)
    _wheel(panel.preview.viewport())
    assert bar.value() == before and preview_bar.value() > 0


def test_form_never_clips_a_widget_at_1024_px(qtbot, made):
    panel = made["panel"]
    panel.resize(1024, 600)
    qtbot.wait(50)
    for page in (panel.data_scroll, panel.settings_scroll):
        panel.tabs.setCurrentWidget(page)
        qtbot.wait(20)
        for w in page.widget().findChildren(QtWidgets.QWidget):
            if not w.isVisible() or not isinstance(
                w, (QtWidgets.QComboBox, QtWidgets.QPushButton, QtWidgets.QAbstractSpinBox, QtWidgets.QLineEdit)
            ):
                continue
            assert w.width() >= w.minimumSizeHint().width(), (type(w).__name__, w.width(), w.minimumSizeHint())
            right = w.mapTo(page.widget(), QtCore.QPoint(w.width(), 0)).x()
            assert right <= page.viewport().width() + 1, type(w).__name__


def _wheel(widget, steps: int = -3) -> None:
    pos = QtCore.QPointF(widget.width() / 2, widget.height() / 2)
    event = QtGui.QWheelEvent(
        pos,
        widget.mapToGlobal(pos),
        QtCore.QPoint(),
        QtCore.QPoint(0, 120 * steps),
        QtCore.Qt.NoButton,
        QtCore.Qt.NoModifier,
        QtCore.Qt.NoScrollPhase,
        False,
    )
    QtWidgets.QApplication.sendEvent(widget, event)


def test_reading_a_file_shows_progress(qtbot, tmp_path, made, monkeypatch):
    from rnn_studio.engine import data

    panel, seen, real = made["panel"], [], data.read_table

    def watching(path):  # the real reader, noting what the progress bar says while it runs
        seen.append((panel.progress.format(), panel.progress.maximum()))
        return real(path)

    monkeypatch.setattr(data, "read_table", watching)
    panel.set_data_file(str(year_csv(tmp_path / "yearly.csv")))
    assert seen == [("reading yearly.csv…", 0)]  # a busy bar naming the file
    assert panel.progress.format() == "idle" and panel.plan.ok
