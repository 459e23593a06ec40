"""The Train panel's "Log to" setting reaches the spawned training process: choosing TensorBoard there
gives a run folder with event files holding every step's loss."""

from pathlib import Path

import pytest
from PySide6 import QtCore

from rnn_studio.engine.training.runs import iter_metrics
from rnn_studio.gui.monitor.panel import TrainPanel
from tests.gui.test_monitor import tiny_project

pytestmark = pytest.mark.slow  # measured: see the Makefile's test-quick


@pytest.fixture
def panel(qtbot, tmp_path):
    project = tiny_project()
    w = TrainPanel(lambda: project, runs_root=tmp_path / "runs")
    qtbot.addWidget(w)
    w.show()
    yield w
    if w.is_running():
        w.proc.kill()


def test_log_to_tensorboard_from_the_train_panel(qtbot, panel):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert [panel.log_to.itemText(i) for i in range(panel.log_to.count())] == ["none", "TensorBoard", "MLflow"]
    assert "log" not in panel.overrides()
    panel.source.setCurrentIndex(1)  # noisy sine demo
    panel.epochs.setValue(1)
    panel.batch.setValue(64)
    panel.log_to.setCurrentText("TensorBoard")
    with qtbot.waitSignal(panel.run_finished, timeout=120_000) as done:
        qtbot.mouseClick(panel.start_button, QtCore.Qt.LeftButton)
    run, end = Path(done.args[0]), done.args[1]
    assert end["stop_reason"] == "completed", end
    acc = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0})
    acc.Reload()
    steps = [r["step"] for r in iter_metrics(run) if r["kind"] == "step"]
    assert [e.step for e in acc.Scalars("step/loss")] == steps and steps
