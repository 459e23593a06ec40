"""Rolling-origin backtest (engine/forecasting/backtest.py, `rnn-studio backtest`): folds train only on rows before
their test block, blocks are consecutive and non-overlapping at the end of each series, a stop keeps the
finished folds, and bad input exits 2 with one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from rnn_studio.cli import main
from rnn_studio.engine.data import DataError, DataSpec, load_dataset
from rnn_studio.engine.design.project import Project
from rnn_studio.engine.forecasting.backtest import run_backtest


def design(units=2):
    return Project.from_dict(
        {
            "format": "rnn-studio",
            "version": 1,
            "name": "bt",
            "blocks": [
                {"id": "x", "type": "Input", "params": {"timesteps": 6, "features": 1}},
                {"id": "g", "type": "GRU", "params": {"units": 4}},
                {"id": "y", "type": "Dense", "params": {"units": units}},
            ],
            "links": [["x", "g"], ["g", "y"]],
            "training": {"epochs": 1, "batch_size": 32, "lr": 0.01},
        }
    )


@pytest.fixture
def two_series(tmp_path):
    """Two daily series of different lengths (160 and 120 rows)."""
    rows = ["shop,date,sales"]
    for shop, n in (("a", 160), ("b", 120)):
        days = np.datetime64("2024-01-01") + np.arange(n)
        rows += [f"{shop},{d},{10 + np.sin(i / 2) + (i % 7) * 0.1:.4f}" for i, d in enumerate(days)]
    f = tmp_path / "shops.csv"
    f.write_text("\n".join(rows) + "\n")
    return f


def _target_rows(ds, split):
    """File rows (0-based) of every target of the split's windows, and of every input row."""
    idx = ds.index[split].numpy()
    targets = ds.file_row(ds.target_rows(idx))
    inputs = ds.file_row(idx[:, None] + np.arange(ds.lookback))
    return targets, inputs


def test_folds_never_train_on_their_test_rows(two_series):
    spec = DataSpec(path=str(two_series), series="shop")
    blocks = []
    for k in (1, 2, 3):
        ds = load_dataset(DataSpec(**{**spec.to_dict(), "split": (0.7, 0.15, 0.15), "fold": [k, 3]}), design())
        test_t, _ = _target_rows(ds, "test")
        seen = set()
        for split in ("train", "val"):
            t, x = _target_rows(ds, split)
            seen |= set(t.ravel()) | set(x.ravel())
        assert not seen & set(test_t.ravel()), k  # no test target is trained or validated on, nor read as input
        for sid in ("a", "b"):  # per series: everything the fold learns from lies before its test block
            rows = np.nonzero(ds.series_ids == sid)[0]
            file_rows = set(ds.file_row(rows))
            block = sorted(set(test_t.ravel()) & file_rows)
            assert max(seen & file_rows) < block[0]
            blocks.append((sid, k, block[0], block[-1]))
        # normalization and MASE scales fitted on rows before each series' test block
        test_rows = ds.target_rows(ds.index["test"].numpy())
        for (start, end), fit_end in zip(ds.segments, ds.fit_ends, strict=True):
            mine = test_rows[(test_rows >= start) & (test_rows < end)]
            assert start < fit_end <= mine.min()
    for sid, end in (("a", 159), ("b", 279)):  # consecutive, non-overlapping, the last one ends the series
        mine = sorted(b[1:] for b in blocks if b[0] == sid)
        assert mine[-1][2] == end
        assert all(mine[i][2] + 1 == mine[i + 1][1] for i in range(2))


def test_cli_backtest_writes_folds_and_json(two_series, tmp_path, capsys):
    d = tmp_path / "bt.rnn.json"
    d.write_text(design().to_json())
    out = tmp_path / "bt"
    rc = main(
        ["backtest", str(d), "--data", str(two_series), "--series", "shop", "--folds", "3", "--out", str(out), "--json"]
    )
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    lines = captured.out.strip().splitlines()
    assert lines[-1] == str(out / "backtest.json")  # its path printed last
    res = json.loads("\n".join(lines[:-1]))
    assert res == json.loads((out / "backtest.json").read_text())  # the same JSON on stdout and on disk
    assert res["folds_completed"] == 3 and res["season"] == 7 and res["forecast_steps"] == 2
    for fold in res["folds"]:
        for key in ("rmse", "mae", "mase", "smape", "seasonal_naive_mase", "persistence_mase", "coverage"):
            assert isinstance(fold[key], float), key
        run = out / f"fold-{fold['fold']}"
        assert (run / "summary.json").is_file() and (run / "intervals.json").is_file()
        plan = json.loads((run / "plan.json").read_text())
        assert plan["fold"] == [fold["fold"], 3]
    starts = [f["test_start"] for f in res["folds"]]
    assert starts == sorted(starts) and len(set(starts)) == 3
    assert res["overall"]["test_windows"] == sum(f["test_windows"] for f in res["folds"])
    w = [f["test_windows"] for f in res["folds"]]
    assert res["overall"]["mae"] == pytest.approx(
        sum(f["mae"] * n for f, n in zip(res["folds"], w, strict=True)) / sum(w)
    )


def test_a_stop_keeps_the_finished_folds(two_series, tmp_path):
    stop = threading.Event()
    done = []

    def on_fold(k, total, fold):
        done.append(k)
        stop.set()  # as the GUI's Stop button (or a Ctrl-C) after the first fold

    spec = DataSpec(path=str(two_series), series="shop")
    res = run_backtest(design(), spec, {"epochs": 1}, 3, tmp_path / "bt", on_fold=on_fold, stop_event=stop)
    saved = json.loads((tmp_path / "bt" / "backtest.json").read_text())
    assert done == [1] and res["stopped"] and saved["folds_completed"] == 1 and len(saved["folds"]) == 1
    assert saved["overall"]["mase"] == saved["folds"][0]["mase"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--folds", "0"], "--folds must be a whole number"),
        (["--folds", "60"], "before fold 1 of 60"),
        (["--folds", "2", "--split", "0.8,0.2,0"], "test fraction"),
        (["--folds", "2", "--level", "1.5"], "--level"),
    ],
)
def test_bad_backtest_input_exits_2_with_one_line(two_series, tmp_path, capsys, args, fragment):
    d = tmp_path / "bt.rnn.json"
    d.write_text(design().to_json())
    rc = main(["backtest", str(d), "--data", str(two_series), "--series", "shop", "--out", str(tmp_path / "o"), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and fragment in err[0], err


def test_no_time_column_needs_a_season(tmp_path, capsys):
    f = tmp_path / "plain.csv"
    f.write_text("v\n" + "".join(f"{np.sin(i / 3):.4f}\n" for i in range(200)))
    d = tmp_path / "bt.rnn.json"
    d.write_text(design().to_json())
    rc = main(["backtest", str(d), "--data", str(f), "--folds", "2", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--season" in err[0] and "no time column" in err[0]
    assert not (tmp_path / "o").exists()  # refused before anything was written
    rc = main(["backtest", str(d), "--data", str(f), "--folds", "2", "--season", "1", "--out", str(tmp_path / "o")])
    assert rc == 0 and json.loads((tmp_path / "o" / "backtest.json").read_text())["season"] == 1


def test_engine_refuses_zero_folds(two_series, tmp_path):
    with pytest.raises(DataError, match="--folds"):
        run_backtest(design(), DataSpec(path=str(two_series), series="shop"), {}, 0, tmp_path)


@pytest.mark.slow
def test_ctrl_c_keeps_the_finished_folds(two_series, tmp_path):
    """A real Ctrl-C (SIGINT) while a later fold trains: exit 130, backtest.json holds the finished folds."""
    d = tmp_path / "bt.rnn.json"
    d.write_text(design().to_json())
    out = tmp_path / "bt"
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "rnn_studio", "backtest", str(d), "--data", str(two_series), "--series", "shop"]
    cmd += ["--folds", "3", "--epochs", "60", "--out", str(out)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "fold-1" / "summary.json").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (out / "fold-1" / "summary.json").exists()  # fold 1 has finished (or is just finishing)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    saved = json.loads((out / "backtest.json").read_text())
    assert saved["stopped"] and 1 <= saved["folds_completed"] < 3 and len(saved["folds"]) == saved["folds_completed"]
    assert "Traceback" not in stderr and stdout.strip().splitlines()[-1] == str(out / "backtest.json")
