"""The Train panel, driven through its real widgets: a real training process is spawned each time."""

import json
import time
from pathlib import Path

import pytest
from PySide6 import QtCore

from rnn_studio.engine import Block, Project
from rnn_studio.gui.monitor.panel import TrainPanel
from tests.gui.test_data_plan import load


def tiny_project(units: int = 8) -> Project:
    return Project(
        "tiny",
        [
            Block("x", "Input", {"timesteps": 12, "features": 1}),
            Block("g", "GRU", {"units": units}),
            Block("y", "Dense", {"units": 1}),
        ],
        [("x", "g"), ("g", "y")],
    )


@pytest.fixture
def panel(qtbot, tmp_path):
    project = tiny_project()
    w = TrainPanel(lambda: project, runs_root=tmp_path / "runs")
    qtbot.addWidget(w)
    w.resize(1200, 700)
    w.show()
    yield w
    if w.is_running():
        w.proc.kill()


def wait_finished(qtbot, panel, timeout_ms=90_000):
    with qtbot.waitSignal(panel.run_finished, timeout=timeout_ms) as blocker:
        pass
    return Path(blocker.args[0]), blocker.args[1]


@pytest.mark.slow
def test_short_demo_training_fills_charts_and_writes_run(qtbot, panel):
    panel.source.setCurrentIndex(1)  # noisy sine demo
    panel.epochs.setValue(2)
    panel.batch.setValue(32)
    assert panel.source.currentData() == ("demo", "sine")
    with qtbot.waitSignal(panel.run_finished, timeout=90_000) as done:
        qtbot.mouseClick(panel.start_button, QtCore.Qt.LeftButton)
        assert not panel.start_button.isEnabled() and panel.stop_button.isEnabled()
    run, end = Path(done.args[0]), done.args[1]
    assert end["stop_reason"] == "completed"
    assert len(panel.loss_chart.train) > 10  # every step's loss arrived
    assert len(panel.loss_chart.val) == 2  # one validation point per epoch
    assert set(panel.grad_chart.series) == {"g", "y"}  # one curve per design block with weights
    assert len(panel.lr_chart.lr) == len(panel.loss_chart.train)
    assert (run / "checkpoints" / "last.pt").is_file() and (run / "summary.json").is_file()
    assert "completed" in panel.progress.format() and "best val_rmse" in panel.status.text()
    assert panel.start_button.isEnabled() and not panel.stop_button.isEnabled()
    # the prediction view shows the validation series with the model's predictions
    assert panel.pred_chart.currentWidget() is panel.pred_chart.series_plot
    # reopening the runs list (a new panel on the same folder) shows the run
    again = TrainPanel(panel.project_getter, runs_root=panel.runs_root)
    qtbot.addWidget(again)
    texts = [again.runs.item(i).text() for i in range(again.runs.count())]
    assert len(texts) == 1 and texts[0].startswith(run.name) and "completed" in texts[0]
    # selecting it shows its curves
    again.runs.item(0).setSelected(True)
    assert len(again.loss_chart.train) == len(panel.loss_chart.train)
    # the export dialog exports the selected run and reports a passing verification
    dlg = again.open_export_dialog()
    qtbot.addWidget(dlg)
    dlg.path.setText(str(panel.runs_root.parent / "model.onnx"))
    qtbot.mouseClick(dlg.export_button, QtCore.Qt.LeftButton)
    assert dlg.result["ok"], dlg.result
    assert dlg.verdict.text().startswith("✔ Verified") and "max abs diff" in dlg.verdict.text()
    assert dlg.result["max_abs_diff"] < 1e-4
    assert (panel.runs_root.parent / "model.onnx").is_file()


@pytest.mark.slow
def test_stop_ends_the_process_within_seconds(qtbot, panel):
    panel.epochs.setValue(500)
    run = panel.start()
    assert run is not None
    qtbot.waitUntil(lambda: len(panel.loss_chart.train) >= 3, timeout=60_000)
    t0 = time.monotonic()
    with qtbot.waitSignal(panel.run_finished, timeout=30_000) as done:
        qtbot.mouseClick(panel.stop_button, QtCore.Qt.LeftButton)
    assert time.monotonic() - t0 < 10
    assert done.args[1]["stop_reason"] == "cancelled"
    assert not panel.is_running()
    assert (run / "checkpoints" / "last.pt").is_file()
    assert json.loads((run / "summary.json").read_text())["stop_reason"] == "cancelled"


@pytest.mark.slow
def test_diverging_run_shows_the_nan_stop(qtbot, panel):
    panel.lr.setValue(10.0)
    panel.optimizer.setCurrentText("sgd")
    panel.epochs.setValue(50)
    alerts = []
    panel.alert.connect(lambda block, kind, msg: alerts.append((block, kind, msg)))
    with qtbot.waitSignal(panel.run_finished, timeout=90_000) as done:
        panel.start()
    reason = done.args[1]["stop_reason"]
    assert reason.startswith("diverged at step"), reason
    assert any(kind == "diverged" for _, kind, _ in alerts)
    assert any(t.startswith("diverged") for t in panel.loss_chart.marker_texts())
    assert panel.progress.format().startswith("diverged") and "learning rate" in panel.status.text()


def test_invalid_design_or_missing_file_is_refused_with_a_message(qtbot, tmp_path):
    bad = tiny_project()
    bad.blocks[1].params["units"] = 0
    w = TrainPanel(lambda: bad, runs_root=tmp_path / "runs")
    qtbot.addWidget(w)
    assert w.start() is None and "Fix the design first" in w.status.text() and "units" in w.status.text()
    good = tiny_project()
    w2 = TrainPanel(lambda: good, runs_root=tmp_path / "runs")
    qtbot.addWidget(w2)
    w2.source.setCurrentIndex(2)  # CSV file, none chosen
    assert w2.start() is None and "Choose a data file" in w2.status.text()
    assert not (tmp_path / "runs").exists()


def test_csv_preview_and_column_picker(qtbot, tmp_path, panel):
    path = tmp_path / "sensor.csv"
    days = [str(d) for d in __import__("numpy").datetime64("2024-01-01") + __import__("numpy").arange(40)]
    path.write_text("date,temp,load\n" + "".join(f"{days[i]},{i * 0.5},{i % 7}\n" for i in range(40)))
    load(qtbot, panel, str(path))
    assert panel.source.currentData()[0] == "csv"
    assert [panel.target.itemText(i) for i in range(panel.target.count())] == ["date", "temp", "load"]
    assert panel.target.currentText() == "load"
    # the design's Input takes one feature: the default is the target itself; the date orders the rows
    assert panel.ticked_features() == ["load"] == panel.plan.features
    assert panel.plan.time_column == "date" and "time column: date" in panel.plan_text.text()
    assert panel.preview.rowCount() == 40 and panel.preview.item(0, 1).text() == "0"
    spec = panel.data_spec()
    assert spec["path"] == str(path) and spec["target"] == "load" and spec["features"] == ["load"]
