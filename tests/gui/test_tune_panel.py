"""TunePanel: trials read live from an Optuna storage, the scatter, and "Open best design"."""

from __future__ import annotations

import json

import pytest

optuna = pytest.importorskip("optuna")

from rnn_studio.engine import Block, Project, check, load_project  # noqa: E402
from rnn_studio.gui.tune import TunePanel  # noqa: E402


def design() -> Project:
    return Project(
        "tiny",
        [
            Block("x", "Input", {"timesteps": 12, "features": 1}),
            Block("g", "GRU", {"units": 4}),
            Block("y", "Dense", {"units": 1}),
        ],
        [("x", "g"), ("g", "y")],
        training={"lr": 0.01, "search": {"g.units": [4, 8], "lr": {"low": 1e-4, "high": 1e-2, "log": True}}},
    )


def make_study(tmp_path, name="s"):
    """A study as engine.training.tune writes it (space and design in user attrs), with fake trials: no training."""
    url = f"sqlite:///{tmp_path / 'tune.db'}"
    study = optuna.create_study(study_name=name, storage=url, direction="minimize")
    study.set_user_attr("space", {"g.units": "{4, 8}", "lr": "float [0.0001, 0.01] log"})
    study.set_user_attr("design", design().to_dict())
    dist = {
        "g.units": optuna.distributions.CategoricalDistribution([4, 8]),
        "lr": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True),
    }
    for units, lr, value, state in [
        (4, 1e-3, 0.5, "COMPLETE"),
        (8, 3e-3, 0.2, "COMPLETE"),
        (4, 1e-4, 0.9, "PRUNED"),
        (8, 5e-3, None, "FAIL"),
    ]:
        t = optuna.trial.create_trial(
            params={"g.units": units, "lr": lr},
            distributions=dist,
            value=value if state in ("COMPLETE", "PRUNED") else None,
            intermediate_values={1: value} if value is not None else {},
            state=getattr(optuna.trial.TrialState, state),
            user_attrs={"run": str(tmp_path / f"run{units}-{lr}")}
            if state != "FAIL"
            else {"error": "invalid design: boom"},
        )
        study.add_trial(t)
    return url, study


@pytest.fixture
def panel(qtbot, tmp_path):
    url, study = make_study(tmp_path)
    w = TunePanel(url, "s", poll_ms=100)
    qtbot.addWidget(w)
    w.resize(1000, 500)
    w.show()
    return w, study, tmp_path


def test_lists_trials_and_scatters(panel, qtbot):
    w, study, _ = panel
    qtbot.waitUntil(lambda: w.table.rowCount() == 4, timeout=5000)
    headers = [w.table.horizontalHeaderItem(i).text() for i in range(w.table.columnCount())]
    assert headers == ["#", "state", "value", "g.units", "lr", "run / error"]
    assert [w.table.item(i, 1).text() for i in range(4)] == ["complete", "complete", "pruned", "fail"]
    assert w.table.item(1, 2).text() == "0.2" and "boom" in w.table.item(3, 5).text()
    assert "best #1" in w.status.text() and w.best_button.isEnabled()
    assert [w.study_combo.itemText(i) for i in range(w.study_combo.count())] == ["s"]
    # value vs a categorical param: choices at 0, 1 with labels; the failed trial has no value
    x, y, labels = w.scatter_data("g.units")
    assert labels == ["4", "8"] and sorted(zip(x.tolist(), y.tolist(), strict=True)) == [(0, 0.5), (0, 0.9), (1, 0.2)]
    w.param_combo.setCurrentText("lr")
    x, y, labels = w.scatter_data()
    assert labels is None and len(x) == 3 and w.plot.getPlotItem().ctrl.logXCheck.isChecked()


def test_new_trials_appear_live(panel, qtbot):
    w, study, _ = panel
    qtbot.waitUntil(lambda: w.table.rowCount() == 4, timeout=5000)
    t = study.ask(
        {
            "g.units": optuna.distributions.CategoricalDistribution([4, 8]),
            "lr": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True),
        }
    )
    qtbot.waitUntil(lambda: w.table.rowCount() == 5, timeout=5000)  # a running trial shows up
    assert w.table.item(4, 1).text() == "running"
    study.tell(t, 0.05)
    qtbot.waitUntil(lambda: w.table.item(4, 1).text() == "complete", timeout=5000)
    assert "best #4" in w.status.text()


def test_open_best_design_emits_path(panel, qtbot):
    w, _, tmp_path = panel
    qtbot.waitUntil(lambda: w.best_button.isEnabled(), timeout=5000)
    with qtbot.waitSignal(w.openBestDesign, timeout=2000) as sig:
        w.best_button.click()
    path = sig.args[0]
    assert path == str(tmp_path / "s-best.rnn.json")
    p = load_project(path)
    assert p.block("g").params["units"] == 8 and p.training["lr"] == pytest.approx(3e-3)
    assert "search" not in p.training and check(p).ok and p.training["tuned"]["trial"] == 1


def test_run_activated_and_missing_study(panel, qtbot, tmp_path):
    w, _, _ = panel
    qtbot.waitUntil(lambda: w.table.rowCount() == 4, timeout=5000)
    with qtbot.waitSignal(w.runActivated, timeout=2000) as sig:
        w.table.cellDoubleClicked.emit(1, 0)
    assert sig.args[0].endswith("run8-0.003")
    w.set_study(w.storage(), "nope")
    qtbot.waitUntil(lambda: "no study 'nope'" in w.status.text(), timeout=5000)
    assert w.table.rowCount() == 0 and not w.best_button.isEnabled()
    missing = tmp_path / "elsewhere" / "tune.db"
    w.set_study(f"sqlite:///{missing}", None)
    qtbot.waitUntil(lambda: "yet: start a study" in w.status.text(), timeout=5000)
    assert not missing.exists()  # a viewer never creates a database


def test_follows_a_real_tune(qtbot, tmp_path):
    from rnn_studio.engine.data import DataSpec
    from rnn_studio.engine.training.tune import default_storage, tune

    p = design()
    p.training["search"] = {"lr": [0.01, 0.02]}
    res = tune(
        p,
        DataSpec(demo="sine", demo_rows=500),
        2,
        out_dir=tmp_path,
        pruner="none",
        overrides={"epochs": 1, "threads": 1, "grad_every": 0},
        seed=0,
    )
    w = TunePanel(default_storage(tmp_path), None, poll_ms=0)
    qtbot.addWidget(w)
    w.refresh()
    assert w.study_name() == "tiny" and w.table.rowCount() == 2
    assert {r["run"] for r in w.trials()} == {r["run"] for r in res.trials}
    assert json.loads(json.dumps(w.trials()))  # plain data
