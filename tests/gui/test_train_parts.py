"""The Train panel's parts work alone, each with its own state (issue #21 part 4): the Training tab
(SettingsForm), the GPU probe (DeviceProbe), the Runs tab (RunsList), the run follower (RunMonitor with
TrainingCharts) and the Data tab (DataForm), built without a TrainPanel and driven through their own API and signals."""

import json
import sys
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from rnn_studio.gui.monitor.charts import TrainingCharts
from rnn_studio.gui.monitor.device_probe import DeviceProbe
from rnn_studio.gui.monitor.follower import RunMonitor
from rnn_studio.gui.monitor.runs import RunsList
from rnn_studio.gui.monitor.settings_form import SettingsForm

from .test_monitor import tiny_project


def test_settings_form_alone_gives_the_edited_overrides(qtbot):
    form = SettingsForm()
    qtbot.addWidget(form)
    assert form.overrides()["epochs"] == 20 and "patience" not in form.overrides() and "level" not in form.overrides()
    form.epochs.setValue(3)
    form.patience.setValue(2)
    form.optimizer.setCurrentText("sgd")
    form.interval_level.setValue(0.8)
    o = form.overrides()
    assert (o["epochs"], o["patience"], o["optimizer"], o["level"]) == (3, 2, "sgd", 0.8)
    form.load_settings({"epochs": 7, "optimizer": "adamw", "level": 0.95, "lr": "not a number"})
    o = form.overrides()
    assert (o["epochs"], o["optimizer"], o["level"], o["lr"]) == (7, "adamw", 0.95, 1e-3)


def test_settings_form_lists_probed_devices_before_cpu(qtbot):
    form = SettingsForm()
    qtbot.addWidget(form)
    form.add_devices([("cuda:0 — Test GPU", "cuda:0")])
    items = [(form.device.itemText(i), form.device.itemData(i)) for i in range(form.device.count())]
    assert items == [("auto (cuda:0 — Test GPU)", "auto"), ("cuda:0 — Test GPU", "cuda:0"), ("cpu", "cpu")]
    form.device.setCurrentIndex(1)
    assert form.overrides()["device"] == "cuda:0"


def test_device_probe_alone_reports_what_its_child_prints(qtbot):
    probe = DeviceProbe(program='print(\'[["cuda:0 \\u2014 Fake", "cuda:0"]]\')')
    with qtbot.waitSignal(probe.found, timeout=30_000) as got:
        probe.start()
    assert got.args == [[("cuda:0 — Fake", "cuda:0")]]
    broken = DeviceProbe(program="print('no json here')")  # a broken torch install: auto falls back to CPU
    with qtbot.waitSignal(broken.found, timeout=30_000) as got:
        broken.start()
    assert got.args == [[]]
    broken.shutdown()
    assert broken.proc is not None and broken.proc.state() == QtCore.QProcess.ProcessState.NotRunning


def _fake_run(root, name, summary=None):
    run = root / name
    run.mkdir(parents=True)
    (run / "project.rnn.json").write_text(tiny_project().to_json())
    if summary is not None:
        (run / "summary.json").write_text(json.dumps(summary))
    return run


def test_runs_list_alone_lists_newest_first_and_asks_to_show_or_overlay(qtbot, tmp_path):
    old = _fake_run(tmp_path, "20260101-000000-a", {"stop_reason": "completed", "val_rmse": 0.25})
    new = _fake_run(tmp_path, "20260102-000000-b")
    current = {"run": None}
    runs = RunsList(lambda: tmp_path, current=lambda: current["run"])
    qtbot.addWidget(runs)
    runs.refresh()
    texts = [runs.runs.item(i).text() for i in range(runs.runs.count())]
    assert texts == [new.name, f"{old.name}\ncompleted val_rmse=0.25"]
    with qtbot.waitSignal(runs.show_requested) as shown:
        runs.runs.item(1).setSelected(True)
    assert shown.args == [old] and runs.selected_run() == old
    current["run"] = new
    runs.refresh()  # the run on the charts without a summary reads "running…"
    assert runs.runs.item(0).text() == f"{new.name}\nrunning…" and runs.selected_run() == old
    runs.compare_box.setChecked(True)
    runs.runs.clearSelection()
    with qtbot.waitSignal(runs.overlay_requested) as overlaid:
        runs.runs.item(1).setSelected(True)
    assert overlaid.args == [old]


def _metrics(run, end):
    recs = [
        {"kind": "start", "name": "tiny", "total_steps": 20, "steps_per_epoch": 10, "epochs": 2, "device": "cpu"},
        *({"kind": "step", "step": s, "epoch": 1, "loss": 1.0 / s, "lr": 0.1} for s in range(1, 11)),
        {"kind": "grad", "step": 5, "blocks": {"g": 0.5, "y": 0.25}, "total": 0.6},
        {"kind": "epoch", "step": 10, "epoch": 1, "val_loss": 0.3},
        {"kind": "end", **end},
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))


def test_run_monitor_alone_fills_the_charts_and_reports_the_end(qtbot, tmp_path):
    run = _fake_run(tmp_path, "r1")
    _metrics(run, {"stop_reason": "completed", "message": "done"})
    charts, bar = TrainingCharts(), QtWidgets.QProgressBar()
    qtbot.addWidget(charts)
    qtbot.addWidget(bar)
    monitor = RunMonitor(charts, bar, colors=lambda: {"g": "#ff0000"})
    said = []
    monitor.status.connect(lambda text, level: said.append((text, level)))
    with qtbot.waitSignal(monitor.run_shown) as shown, qtbot.waitSignal(monitor.finished) as ended:
        monitor.attach(run, live=False)
    assert shown.args == [str(run)] and ended.args[0] == str(run) and ended.args[1]["stop_reason"] == "completed"
    assert len(charts.loss_chart.train) == 10 and len(charts.loss_chart.val) == 1
    assert set(charts.grad_chart.series) == {"g", "y"} and len(charts.lr_chart.lr) == 10
    assert bar.value() == 10 and bar.format() == "completed" and not monitor.is_running()
    assert said and said[-1][1] == ""  # a completed run's status line is not an error
    monitor.forget()
    assert monitor.follower is None and bar.format() == "idle" and not charts.loss_chart.has_data()
    assert said[-1] == ("", "")


def test_run_monitor_alone_marks_a_divergence_as_an_alert(qtbot, tmp_path):
    run = _fake_run(tmp_path, "r2")
    _metrics(run, {"stop_reason": "diverged at step 3", "diverged_step": 7, "message": "lower the learning rate"})
    charts, bar = TrainingCharts(), QtWidgets.QProgressBar()
    qtbot.addWidget(charts)
    qtbot.addWidget(bar)
    monitor = RunMonitor(charts, bar)
    with qtbot.waitSignal(monitor.alert) as alerted:
        monitor.attach(run, live=False)
    assert alerted.args == ["", "diverged", "lower the learning rate"]
    assert [a[3] for a in monitor.alerts if a[1] == "diverged"] == [7]
    assert any(t.startswith("diverged") for t in charts.loss_chart.marker_texts())


def test_no_part_reaches_into_the_panel():
    """The parts' modules import nothing of the panel (each is built from its constructor's arguments)."""
    for name in ("charts", "device_probe", "follower", "runs", "settings_form"):
        module = sys.modules[f"rnn_studio.gui.monitor.{name}"]
        source = Path(module.__file__).read_text(encoding="utf-8")
        assert "from .panel" not in source and "TrainPanel" not in source, name


def test_data_form_alone_plans_a_demo_then_a_csv_file(qtbot, tmp_path):
    from rnn_studio.gui.monitor.train_form import DataForm

    from .test_data_plan import seed_like, year_csv

    form = DataForm(lambda: seed_like())
    qtbot.addWidget(form)
    shown: list[tuple[str, bool]] = []
    form.plan_changed.connect(lambda error, waiting: shown.append((error, waiting)))
    form.source.setCurrentIndex(1)  # the demo sine: no file, no columns
    with qtbot.waitSignal(form.plan_changed, timeout=20_000):
        pass  # the plan follows the choice a moment later
    assert form.data_spec()["demo"] == "sine" and form.plan is not None and form.plan.ok
    assert shown[-1] == ("", False) and form.plan_text.text() and not form.plan_error.isVisible()
    reads: list[str] = []
    form.reading_changed.connect(reads.append)
    path = str(year_csv(tmp_path / "yearly.csv"))
    with qtbot.waitSignal(form.data_loaded, timeout=20_000) as got:
        form.set_data_file(path)
    assert got.args == [path, ""] and reads == [path, ""]  # read off the GUI thread, then done
    assert form.source.currentData() == ("csv", None) and form.target.currentText() == "value"
    assert form.preview.rowCount() == 120 and form.ticked_features() == form.plan.features
    spec = form.data_spec()
    assert (spec["path"], spec["target"]) == (path, "value") and shown[-1] == ("", False)
    assert "value" in form.plan_text.text()
