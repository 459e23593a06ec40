"""A large table's data plan is derived off the GUI thread (issue 23, responsiveness): the window keeps
painting, the plan box says what it is doing, Start waits, and the newest plan wins."""

from pathlib import Path

from rnn_studio.engine import load_project
from rnn_studio.gui.monitor import train_form
from rnn_studio.gui.monitor.panel import TrainPanel

SEED = Path(__file__).parents[2] / "assets" / "examples" / "seed-keras.rnn.json"


def test_a_large_table_is_planned_off_the_gui_thread(qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(train_form, "PLAN_OFF_THREAD_ROWS", 50)  # this small file counts as large
    data = tmp_path / "d.csv"
    data.write_text("t,a,value\n" + "".join(f"{i},{i % 5},{i * 0.1:.2f}\n" for i in range(300)))
    project = load_project(SEED)
    panel = TrainPanel(lambda: project, runs_root=tmp_path / "runs")
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.data_loaded, timeout=30_000):
        panel.set_data_file(str(data))
    assert panel.planning() and panel.plan is None
    assert panel.plan_text.text().startswith("Planning") and not panel.start_button.isEnabled()
    qtbot.waitUntil(lambda: panel.plan is not None, timeout=30_000)
    assert not panel.planning() and panel.plan.ok and panel.plan.source == str(data)
    assert panel.ticked_features() == panel.plan.features  # the ticks follow the plan, as before
    assert panel.start_button.isEnabled() and "training:" in panel.plan_text.text()
    # two changes in a row: only the newest plan is shown
    panel.target.setCurrentText("a")
    panel.refresh_plan()
    panel.target.setCurrentText("value")
    panel.refresh_plan()
    qtbot.waitUntil(lambda: panel.plan is not None, timeout=30_000)
    qtbot.wait(200)  # a stale plan landing now would replace it
    assert panel.plan.target == "value"
    panel.refresh_plan(wait=True)  # Start asks for the plan now
    assert panel.plan is not None and not panel.planning()
