"""The Train panel's data plan, driven through real widgets: what is ticked is what trains.

A real training process is spawned for the end-to-end check (ticked == plan == the run's features)."""

import json
import time
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


def load(qtbot, panel, path: str, timeout: int = 20_000) -> None:
    """Choose a data file as the user does and wait until its read lands (it runs off the GUI thread)."""
    with qtbot.waitSignal(panel.data_loaded, timeout=timeout):
        panel.set_data_file(path)


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


@pytest.mark.slow
def test_ticked_features_are_the_plan_and_the_runs(qtbot, tmp_path, made):
    panel = made["panel"]
    load(qtbot, panel, str(year_csv(tmp_path / "yearly.csv")))
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
    load(qtbot, panel, str(year_csv(tmp_path / "yearly.csv")))
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


@pytest.mark.slow
def test_no_ticks_names_the_gui_control_before_any_process(qtbot, tmp_path, made):
    panel = made["panel"]
    load(qtbot, panel, str(year_csv(tmp_path / "yearly.csv")))
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
    load(qtbot, panel, str(f))
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


@pytest.mark.slow
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
    load(qtbot, panel, str(year_csv(tmp_path / "yearly.csv")))
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


@pytest.mark.slow
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


def big_csv(path: Path, rows: int) -> Path:
    """A numeric CSV written by pyarrow (fast), large enough that reading it takes a visible while."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(0)
    cols = {f"c{i}": rng.normal(size=rows) for i in range(6)}
    pacsv.write_csv(pa.table({"t": np.arange(rows), **cols}), path)
    return path


@pytest.mark.slow
def test_reading_runs_off_the_gui_thread_with_a_busy_bar(qtbot, tmp_path, made):
    """While a large file reads, the busy bar names it, Start waits, and a QTimer on the GUI thread keeps
    ticking (the window paints); then the preview, columns and plan fill in."""
    panel = made["panel"]
    path = big_csv(tmp_path / "big.csv", 1_000_000)  # 125 MB: read on the GUI thread, a 1-2 s freeze
    panel.refresh_plan()  # as at startup (the demo's plan): torch is imported before any file is read
    ticks: list[float] = []
    timer = QtCore.QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    t0 = time.monotonic()
    panel.set_data_file(str(path))
    assert panel.reading() and panel.read_busy.isVisible() and panel.read_busy.format() == "Reading big.csv…"
    assert panel.read_busy.maximum() == 0  # an indefinite (busy) bar
    assert "Reading big.csv…" in panel.plan_text.text() and not panel.start_button.isEnabled()
    assert panel.start() is None and "Still reading big.csv" in panel.status.text()
    assert panel.preview.rowCount() == 0  # the call returned before the file was read
    with qtbot.waitSignal(panel.data_loaded, timeout=120_000):
        pass
    read_s = time.monotonic() - t0
    timer.stop()
    during = [t for t in ticks if t <= t0 + read_s]
    gaps = np.diff([t0, *during, t0 + read_s])
    assert len(during) >= 3, (len(during), read_s)  # the event loop ran while the file was read ...
    assert gaps.max() < 1.0, (gaps.max(), read_s)  # ... with no long freeze (noisy machine: a loose bound)
    assert not panel.reading() and not panel.read_busy.isVisible()
    assert panel.preview.rowCount() == 200 and panel.preview.horizontalHeaderItem(0).text() == "t"
    assert panel.target.currentText() == "c5"
    # a million rows: the plan is derived off the GUI thread too; Start waits for it
    assert panel.planning() and panel.plan is None and not panel.start_button.isEnabled()
    qtbot.waitUntil(lambda: panel.plan is not None, timeout=60_000)
    assert not panel.planning() and panel.start_button.isEnabled()


@pytest.mark.slow
def test_a_stale_read_is_discarded(qtbot, tmp_path, made):
    """Picking another file while one is read: only the newest file's columns and preview show."""
    panel = made["panel"]
    big = big_csv(tmp_path / "big.csv", 300_000)
    small = year_csv(tmp_path / "yearly.csv")
    seen: list[tuple[str, str]] = []
    panel.data_loaded.connect(lambda path, error: seen.append((Path(path).name, error)))
    load(qtbot, panel, str(small))
    panel.set_data_file(str(big))  # the previous file's columns go while the new one reads
    assert panel.preview.rowCount() == 0 and panel.target.count() == 0 and panel.reading()
    load(qtbot, panel, str(small))  # ... and the user goes back to the small file before it lands
    qtbot.wait(100)
    assert [panel.target.itemText(i) for i in range(panel.target.count())] == ["YEAR", "value"]
    assert panel.ticked_features() == ["value"] == panel.plan.features
    from rnn_studio.gui.monitor.reader import relay

    qtbot.waitUntil(lambda: not relay().busy(), timeout=120_000)  # the big read lands too ...
    qtbot.wait(50)
    assert seen == [("yearly.csv", "")] * 2  # ... and is dropped: nothing applied, no signal
    assert panel.path_edit.text() == str(small) and panel.preview.columnCount() == 2
    assert panel.plan.features == ["value"] and panel.start_button.isEnabled()


def test_a_bad_file_shows_the_one_line_error_inline(qtbot, tmp_path, made):
    panel = made["panel"]
    bad = tmp_path / "ragged.csv"
    bad.write_text("a,b\n1,2\n3\n4,5\n")
    load(qtbot, panel, str(bad))
    text = panel.preview_error.text()
    assert text and "\n" not in text and "ragged.csv" in text and "Traceback" not in text
    assert panel.plan_error.text() == text and not panel.start_button.isEnabled()
    assert panel.preview.rowCount() == 0 and panel.target.count() == 0
    missing = tmp_path / "nope.csv"
    load(qtbot, panel, str(missing))
    assert "nope.csv" in panel.preview_error.text() and "\n" not in panel.preview_error.text()


def test_time_column_picker(qtbot, tmp_path, made):
    """The Time column picker: (auto) detects YEAR, (none) and a column name reach the data spec."""
    panel = made["panel"]
    load(qtbot, panel, str(year_csv(tmp_path / "yearly.csv")))
    picker = panel.time_column
    assert [picker.itemText(i) for i in range(picker.count())][2:] == ["YEAR", "value"]
    assert picker.currentData() is None and panel.data_spec()["time"] is None
    assert panel.plan.time_column == "YEAR"
    picker.setCurrentIndex(picker.findData("none"))
    assert panel.data_spec()["time"] == "none"
    picker.setCurrentIndex(picker.findData("YEAR"))
    assert panel.data_spec()["time"] == "YEAR"
    panel.source.setCurrentIndex(0)  # a demo has no columns to pick
    assert not picker.isEnabled() and "time" not in panel.data_spec()


@pytest.mark.slow
def test_a_token_csv_shows_the_token_plan_and_trains_it(qtbot, tmp_path, made):
    """Issue #13 part 7: the text-classify design with a CSV of token ids: the plan box shows the token
    plan, every id column is ticked, Start is enabled, and the run trains on exactly that plan."""
    from rnn_studio import asset_path
    from rnn_studio.engine import load_project

    made["project"] = load_project(asset_path("examples", "text-classify.rnn.json"))
    rng = np.random.default_rng(0)
    rows = []
    for i in range(60):
        n = int(rng.integers(3, 9))
        ids = list(rng.integers(1, 20, n)) + [0] * (8 - n)
        rows.append(",".join(map(str, ids)) + ("," + ("yes" if i % 2 else "no")))
    path = tmp_path / "ids.csv"
    path.write_text(",".join(f"t{i}" for i in range(8)) + ",label\n" + "\n".join(rows) + "\n")
    panel = made["panel"]
    load(qtbot, panel, str(path))
    qtbot.waitUntil(lambda: panel.plan is not None, timeout=20_000)
    ids = [f"t{i}" for i in range(8)]
    text = panel.plan_text.text()
    assert panel.plan.errors == [] and not panel.plan_error.isVisible(), panel.plan_error.text()
    assert "target: label (classification; classes: no, yes)" in text and "token ids: t0, t1" in text
    assert "ids are never normalized" in text and "training: 42 sequences" in text
    assert panel.ticked_features() == ids == panel.plan.features and panel.start_button.isEnabled()
    shown = panel.plan.to_dict()
    panel.epochs.setValue(1)
    with qtbot.waitSignal(panel.run_finished, timeout=120_000) as done:
        qtbot.mouseClick(panel.start_button, QtCore.Qt.LeftButton)
    run = Path(done.args[0])
    assert json.loads((run / "plan.json").read_text()) == json.loads(json.dumps(shown, default=str))
    # a bad id is an inline error naming row and column, and Start is disabled
    path.write_text("t0,t1,label\n1,2,no\n3,77,yes\n")
    load(qtbot, panel, str(path))
    qtbot.waitUntil(lambda: panel.plan_error.isVisible(), timeout=20_000)
    assert "column 't1', row 2 (line 3): token id 77 is outside the Embedding's vocabulary" in panel.plan_error.text()
    assert not panel.start_button.isEnabled()


def test_a_demo_shows_no_blank_column_lists(qtbot, tmp_path, made):
    """A demo (or .npz) has no columns to choose: the Target/Time/Series/Missing/Features rows are hidden,
    the plan names target and features; a table brings the rows back, filled."""
    panel = made["panel"]
    assert panel.source.currentData()[0] == "demo"
    rows = (panel.target, panel.time_column, panel.series, panel.missing, panel.features)
    assert all(w.isHidden() for w in rows)
    qtbot.waitUntil(lambda: panel.plan is not None, timeout=20_000)
    assert "target: value" in panel.plan_text.text()
    load(qtbot, panel, str(year_csv(tmp_path / "yearly.csv")))
    assert not any(w.isHidden() for w in rows)
    assert panel.target.currentText() == "value"
