"""The Train panel's "Log to" hint names the command for this installation (issue 23, item 7)."""

from pathlib import Path

from rnn_studio.engine import load_project
from rnn_studio.engine.install_kind import install_command

SEED = Path(__file__).parents[2] / "assets" / "examples" / "seed-keras.rnn.json"


def test_the_train_panel_hint_names_this_installation(qtbot):
    from rnn_studio.gui.monitor.panel import TrainPanel

    project = load_project(SEED)
    panel = TrainPanel(lambda: project)
    qtbot.addWidget(panel)
    tip = panel.log_to.toolTip()
    assert "rnn-studio[tracking]" not in tip
    assert install_command(["tensorboard", "mlflow"], extra="tracking") in tip
