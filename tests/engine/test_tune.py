"""engine.training.tune: search-space parsing and errors, trial application, the Optuna study (pruning, failed
trials, run folders, best design), two workers sharing one SQLite study, and optionally PostgreSQL."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rnn_studio.engine import Block, Project, check, load_project
from rnn_studio.engine.data import DataSpec
from rnn_studio.engine.training.tune import SearchSpaceError, apply_params, parse_search, tune

ROOT = Path(__file__).resolve().parents[2]
FAST = {"epochs": 2, "threads": 1, "grad_every": 0}


def tiny(search: dict | None = None, name: str = "tiny") -> Project:
    """Input(12, 1) -> GRU 4 -> Dense 1, and a side Dense d merged with Add (its units must stay 4)."""
    blocks = [
        Block("x", "Input", {"timesteps": 12, "features": 1}),
        Block("g", "GRU", {"units": 4}),
        Block("d", "Dense", {"units": 4}),
        Block("a", "Add", {}),
        Block("y", "Dense", {"units": 1}),
    ]
    links = [("x", "g"), ("g", "d"), ("g", "a"), ("d", "a"), ("a", "y")]
    training = {"epochs": 2, "batch_size": 64, "lr": 0.01, "loss": "mse"}
    if search is not None:
        training["search"] = search
    p = Project(name, blocks, links, training=training)
    assert check(p).ok, check(p).errors
    return p


def data() -> DataSpec:
    return DataSpec(demo="sine", demo_rows=700)


# ============================================================================ search space
def test_parse_valid_space():
    space = parse_search(
        tiny(
            {
                "g.units": [4, 8],
                "g.num_layers": {"low": 1, "high": 3},
                "g.dropout": {"low": 0.0, "high": 0.5, "step": 0.1},
                "lr": {"low": 1e-4, "high": 1e-2, "log": True},
                "batch_size": [32, 64],
                "optimizer": ["adam", "sgd"],
                "weight_decay": {"low": 0, "high": 0.01},
            }
        )
    )
    by = {p.key: p for p in space}
    assert by["g.units"].kind == "categorical" and by["g.units"].choices == [4, 8] and by["g.units"].block == "g"
    assert by["g.num_layers"].kind == "int" and (by["g.num_layers"].low, by["g.num_layers"].high) == (1, 3)
    assert by["g.dropout"].kind == "float" and by["g.dropout"].step == 0.1
    assert by["lr"].kind == "float" and by["lr"].log and by["lr"].block is None
    assert by["weight_decay"].kind == "float" and isinstance(by["weight_decay"].low, float)
    assert by["optimizer"].choices == ["adam", "sgd"]


@pytest.mark.parametrize(
    "search, key, words",
    [
        ({"q.units": [4]}, "q.units", "no block 'q'"),
        ({"g.unitz": [4]}, "g.unitz", "has no param 'unitz'"),
        ({"learning_rate": [0.1]}, "learning_rate", "training setting"),
        ({"g.units": []}, "g.units", "empty"),
        ({"g.units": [4, 4]}, "g.units", "repeats"),
        ({"g.units": [0, 4]}, "g.units", "must be >= 1"),
        ({"g.units": [[4]]}, "g.units", "must be a number"),
        ({"g.units": {"low": 8, "high": 4}}, "g.units", "greater than high"),
        ({"g.units": {"low": 4.5, "high": 8}}, "g.units", "whole number"),
        ({"g.units": {"low": 4}}, "g.units", "needs both low and high"),
        ({"g.units": {"low": 4, "high": 8, "lg": True}}, "g.units", "unknown range key"),
        ({"g.bidirectional": {"low": 0, "high": 1}}, "g.bidirectional", "list of choices"),
        ({"lr": {"low": 0, "high": 0.1, "log": True}}, "lr", "low > 0"),
        ({"lr": {"low": 1e-4, "high": 0.1, "log": True, "step": 0.01}}, "lr", "both log and step"),
        ({"lr": [-1.0]}, "lr", "training.lr"),
        ({"optimizer": ["adam", "rmsprop"]}, "optimizer", "rmsprop"),
        ({"optimizer": {"low": 1, "high": 2}}, "optimizer", "list of choices"),
        ({"g.dropout": {"low": 0.0, "high": 1.0}}, "g.dropout", "must be < 1"),
        ({"batch_size": "64"}, "batch_size", "list of choices or a range"),
    ],
)
def test_bad_search_space_names_the_key(search, key, words):
    with pytest.raises(SearchSpaceError) as e:
        parse_search(tiny(search))
    msg = str(e.value)
    assert f"'{key}'" in msg and words in msg and "\n" not in msg, msg


def test_no_search_section():
    with pytest.raises(SearchSpaceError, match="no training.search section"):
        parse_search(tiny())


def test_apply_params_copies():
    p = tiny({"g.units": [4, 8], "lr": [0.1]})
    design, overrides = apply_params(p, {"g.units": 8, "lr": 0.1})
    assert design.block("g").params["units"] == 8 and p.block("g").params["units"] == 4
    assert design.training["lr"] == 0.1 and overrides == {"lr": 0.1}
    assert "search" not in design.training and "search" in p.training


# ============================================================================ studies
def test_tune_runs_trials_writes_best_design(tmp_path):
    p = tiny({"g.num_layers": [1, 2], "lr": {"low": 3e-3, "high": 3e-2, "log": True}, "batch_size": [32, 64]})
    seen = []
    res = tune(p, data(), 3, out_dir=tmp_path, pruner="none", overrides=FAST, seed=0, on_trial=seen.append)
    assert [r["state"] for r in res.trials] == ["COMPLETE"] * 3 and len(seen) == 3
    assert (tmp_path / "tune.db").is_file() and res.storage.startswith("sqlite:///")
    for r in res.trials:  # every trial is a normal run folder with the trial's values
        rd = Path(r["run"])
        assert rd.parent == tmp_path and (rd / "checkpoints" / "best.pt").is_file()
        summary = json.loads((rd / "summary.json").read_text())
        assert summary["tune"]["trial"] == r["number"] and summary["tune"]["state"] == "complete"
        assert summary["val_loss"] == pytest.approx(r["value"])
        snap = load_project(rd / "project.rnn.json")
        assert snap.block("g").params.get("num_layers", 1) == r["params"]["g.num_layers"]
        assert snap.training["batch_size"] == r["params"]["batch_size"] and "search" not in snap.training
    best = min(res.trials, key=lambda r: r["value"])
    assert res.best["number"] == best["number"]
    path = Path(res.best_design_path)
    assert path == tmp_path / "tiny-best.rnn.json"
    design = load_project(path)
    assert check(design).ok and "search" not in design.training
    assert design.block("g").params["num_layers"] == best["params"]["g.num_layers"]
    assert design.training["lr"] == pytest.approx(best["params"]["lr"])
    assert design.training["tuned"]["trial"] == best["number"]
    # a second call continues the same study (load_if_exists)
    res2 = tune(p, data(), 1, out_dir=tmp_path, pruner="none", overrides=FAST)
    assert len(res2.trials) == 4


def test_pruned_trials_stop_cleanly(tmp_path):
    import optuna

    class PruneAtEpoch2(optuna.pruners.BasePruner):
        def prune(self, study, trial):
            return trial.last_step is not None and trial.last_step >= 2 and trial.number > 0

    p = tiny({"lr": [0.01, 0.02]})
    res = tune(p, data(), 2, out_dir=tmp_path, pruner=PruneAtEpoch2(), overrides={**FAST, "epochs": 4}, seed=0)
    states = [r["state"] for r in res.trials]
    assert states == ["COMPLETE", "PRUNED"]
    pruned = res.trials[1]
    assert pruned["pruned_at"] == 2 and pruned["epochs"] == 2
    summary = json.loads((Path(pruned["run"]) / "summary.json").read_text())
    assert summary["tune"]["state"] == "pruned" and summary["stop_reason"] == "cancelled"
    assert summary["epochs_completed"] == 2 and summary["checkpoints"] == {"best": True, "last": True}
    assert res.best["number"] == 0


def test_invalid_sampled_design_is_a_failed_trial(tmp_path):
    # d.units 3 breaks the Add (4 + 3): every trial fails with the shape error, the study never crashes
    p = tiny({"d.units": [3, 5]})
    res = tune(p, data(), 2, out_dir=tmp_path, overrides=FAST, seed=0)
    assert [r["state"] for r in res.trials] == ["FAIL", "FAIL"]
    for r in res.trials:
        assert r["error"].startswith("invalid design:") and "'a'" in r["error"] and r["run"] is None
    assert res.best is None and res.best_design_path is None
    assert not list(tmp_path.glob("*-best.rnn.json"))


def test_bad_data_is_a_failed_trial_not_a_crash(tmp_path):
    p = tiny({"lr": [0.01]})
    from rnn_studio.engine.data import DataError

    with pytest.raises(DataError):  # no data at all: an error before the first trial
        tune(p, DataSpec(), 1, out_dir=tmp_path)
    res = tune(p, DataSpec(path=str(tmp_path / "missing.csv")), 1, out_dir=tmp_path, overrides=FAST)
    assert res.trials[0]["state"] == "FAIL" and "no such file" in res.trials[0]["error"]


def test_asha_pruner_runs(tmp_path):
    p = tiny({"lr": {"low": 1e-3, "high": 3e-2, "log": True}})
    res = tune(p, data(), 2, out_dir=tmp_path, pruner="asha", overrides=FAST, seed=1)
    assert len(res.trials) == 2 and {r["state"] for r in res.trials} <= {"COMPLETE", "PRUNED"}


# ============================================================================ CLI, shared studies
def _cli(*args, cwd=None, env=None, timeout=120):
    e = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "rnn_studio", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=e,
        timeout=timeout,
    )


def test_cli_bad_search_space_exit_2(tmp_path):
    path = tmp_path / "bad.rnn.json"
    path.write_text(tiny({"g.units": {"low": 8, "high": 4}}).to_json())
    r = _cli("tune", str(path), "--demo", "sine", "--trials", "1", "--out", str(tmp_path))
    assert r.returncode == 2 and "g.units" in r.stderr and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def _workers(design: Path, out: Path, storage: str | None, trials: int = 2):
    args = [
        "tune",
        str(design),
        "--demo",
        "sine",
        "--trials",
        str(trials),
        "--study",
        "shared",
        "--out",
        str(out),
        "--epochs",
        "1",
        "--threads",
        "1",
        "--pruner",
        "none",
    ]
    if storage:
        args += ["--storage", storage]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "rnn_studio", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (o, e) in zip(procs, outs, strict=True):
        assert p.returncode == 0, (o, e)
    return outs


def _check_shared(storage_url: str, n: int):
    import optuna

    from rnn_studio.engine.training.tune import open_storage, trial_rows

    study = optuna.load_study(study_name="shared", storage=open_storage(storage_url))
    rows = trial_rows(study)
    assert len(rows) == n and all(r["state"] == "COMPLETE" for r in rows)
    assert sorted(r["number"] for r in rows) == list(range(n))
    assert len({r["worker"] for r in rows}) == 2  # both processes ran trials of the one study
    assert len({r["run"] for r in rows}) == n


@pytest.mark.slow
def test_two_workers_share_one_sqlite_study(tmp_path):
    design = tmp_path / "tiny.rnn.json"
    design.write_text(tiny({"g.num_layers": [1, 2], "lr": {"low": 3e-3, "high": 3e-2, "log": True}}).to_json())
    outs = _workers(design, tmp_path / "runs", None)
    _check_shared(f"sqlite:///{tmp_path / 'runs' / 'tune.db'}", 4)
    assert (tmp_path / "runs" / "shared-best.rnn.json").is_file()
    assert "best design:" in outs[0][0]


@pytest.mark.skipif(
    not os.environ.get("RNN_STUDIO_TEST_PG_URL"),
    reason="no PostgreSQL server: set RNN_STUDIO_TEST_PG_URL=postgresql://user@host/db to run "
    "the two-worker PostgreSQL study (needs the psycopg driver: pip install 'psycopg[binary]')",
)
def test_two_workers_share_one_postgresql_study(tmp_path):
    import optuna

    url = os.environ["RNN_STUDIO_TEST_PG_URL"]
    from rnn_studio.engine.training.tune import open_storage

    with contextlib.suppress(KeyError):
        optuna.delete_study(study_name="shared", storage=open_storage(url))
    design = tmp_path / "tiny.rnn.json"
    design.write_text(tiny({"g.num_layers": [1, 2], "lr": {"low": 3e-3, "high": 3e-2, "log": True}}).to_json())
    _workers(design, tmp_path / "runs", url)
    _check_shared(url, 4)
    assert not (tmp_path / "runs" / "tune.db").exists()


def test_search_example_is_valid():
    p = load_project(ROOT / "assets" / "examples" / "seed-keras-search.rnn.json")
    keys = [s.key for s in parse_search(p)]
    assert "g.units" in keys and "lr" in keys and check(p).ok
