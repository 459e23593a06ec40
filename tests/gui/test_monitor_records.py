"""The Train panel reads typed records: the divergence marker sits at the end record's `diverged_step`
field, not at a number parsed out of the stop_reason text."""

import json

import pytest

from rnn_studio.gui.monitor.panel import TrainPanel

from .test_monitor import tiny_project


def _write_run(run, end):
    run.mkdir(parents=True)
    (run / "project.rnn.json").write_text(tiny_project().to_json())
    recs = [
        {
            "kind": "start",
            "name": "tiny",
            "total_steps": 20,
            "steps_per_epoch": 10,
            "epochs": 2,
            "device": "cpu",
            "parameters": 10,
            "data": "demo:sine",
        },
        *({"kind": "step", "step": s, "epoch": 1, "loss": 0.5, "lr": 0.1} for s in range(1, 7)),
        {"kind": "step", "step": "junk"},  # not a well-formed record: skipped, no crash
        {"kind": "end", **end},
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))


def test_divergence_marker_uses_the_diverged_step_field(qtbot, tmp_path):
    panel = TrainPanel(tiny_project, runs_root=tmp_path / "runs")
    qtbot.addWidget(panel)
    run = tmp_path / "runs" / "r1"
    # the text says step 3 (an older writer's wording could say anything); the field says 7
    _write_run(run, {"stop_reason": "diverged at step 3", "diverged_step": 7, "message": "lower the learning rate"})
    panel.show_run(run)
    diverged = [a for a in panel.alerts if a[1] == "diverged"]
    assert diverged and diverged[-1][3] == 7
    assert "lower the learning rate" in panel.status.text()


def test_divergence_without_the_field_falls_back_to_the_last_step(qtbot, tmp_path):
    panel = TrainPanel(tiny_project, runs_root=tmp_path / "runs")
    qtbot.addWidget(panel)
    run = tmp_path / "runs" / "r2"
    _write_run(run, {"stop_reason": "diverged at step 3", "message": "m"})  # an end record without the field
    panel.show_run(run)
    assert [a[3] for a in panel.alerts if a[1] == "diverged"] == [6]


def test_a_run_that_does_not_beat_persistence_is_an_amber_warning(qtbot, tmp_path):
    from rnn_studio.gui import theme

    panel = TrainPanel(tiny_project, runs_root=tmp_path / "runs")
    qtbot.addWidget(panel)
    run = tmp_path / "runs" / "r3"
    end = {
        "stop_reason": "completed",
        "val_rmse": 2.0,
        "val_persistence_rmse": 1.5,
        "beats_persistence": False,
        "persistence_split": "val",
    }
    _write_run(run, end)
    panel.show_run(run)
    text = panel.status.text()
    assert "best val_rmse 2 (persistence 1.5)" in text
    assert "does not beat persistence on the validation split (2 vs 1.5)" in text
    assert theme.LIGHT.warning in panel.status.styleSheet()  # amber, not the error red


@pytest.mark.slow
def test_monitor_colours_follow_the_theme(qtbot, tmp_path):
    """The status line and the plan's error take the theme's colours, and change with the theme."""
    from rnn_studio.gui import theme

    before = theme._manager
    theme._manager = manager = theme.ThemeManager(mode="dark")
    try:
        manager.apply()
        panel = TrainPanel(tiny_project, runs_root=tmp_path / "runs")
        qtbot.addWidget(panel)
        panel._say("boom", error=True)
        panel.source.setCurrentIndex(2)  # a CSV file, none chosen: the plan's error shows
        panel.refresh_plan()
        assert "Choose a data file" in panel.plan_error.text()
        for label in (panel.status, panel.plan_error, panel.preview_error):
            assert theme.DARK.error in label.styleSheet()
        manager.set_mode("light")
        for label in (panel.status, panel.plan_error, panel.preview_error):
            assert theme.LIGHT.error in label.styleSheet() and theme.DARK.error not in label.styleSheet()
        assert theme.LIGHT.warning in panel.plan_warning.styleSheet()
        panel._say("fine")
        assert panel.status.styleSheet() == ""
    finally:
        theme._manager = before
