"""Switching designs leaves nothing of the previous one in the Train panel (issue 23, item 5): no loss
curves, no gradient legend of blocks that no longer exist, no predictions, no "Run ended…" line."""

from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from rnn_studio import cli
from rnn_studio.engine import load_project
from rnn_studio.gui.main_window import MainWindow

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "assets" / "examples"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    args = ["train", str(EXAMPLES / "seed-keras.rnn.json"), "--demo", "sine", "--epochs", "1", "--out", str(out)]
    assert cli.main([*args, "--batch-size", "256"]) == 0
    return next(p for p in out.iterdir() if p.is_dir())


def shown(panel) -> dict:
    return {
        "loss": panel.loss_chart.has_data(),
        "grad": sorted(panel.grad_chart.curves),
        "legend": [label.text for _sample, label in panel.grad_chart.legend.items],
        "predictions": panel.pred_chart.currentWidget() is not panel.pred_chart.placeholder,
        "status": panel.status.text(),
    }


@pytest.mark.parametrize("switch", ["open", "new", "import"])
def test_another_design_starts_with_an_empty_panel(qtbot, monkeypatch, finished_run, tmp_path, switch):
    monkeypatch.setattr(MainWindow, "ask_save_changes", lambda self: QMessageBox.StandardButton.Discard)
    win = MainWindow(load_project(EXAMPLES / "seed-keras.rnn.json"), autosave=False)
    qtbot.addWidget(win)
    win.show()
    win.training.show()  # the Train tab in view: a hidden panel draws nothing
    qtbot.waitExposed(win)
    panel = win.training.panel
    panel.attach(finished_run, live=False)
    before = shown(panel)
    assert before["loss"] and before["grad"] == ["g", "l", "y"] and before["predictions"]
    assert before["status"], "the finished run's end line"
    if switch == "open":
        assert win.open_path(str(EXAMPLES / "cnn-lstm.rnn.json"))
    elif switch == "new":
        win.file_new()
    else:  # File > Import Model… ends in set_project with the imported design
        win.set_project(load_project(EXAMPLES / "classify-activity.rnn.json"), None)
    after = shown(panel)
    assert after == {"loss": False, "grad": [], "legend": [], "predictions": False, "status": ""}
    assert panel.follower is None and panel.progress.format() == "idle"
    assert not panel.grad_chart.legend.isVisible()
