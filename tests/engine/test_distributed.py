"""Data-parallel training under torchrun: two CPU processes with gloo. One run folder written by rank 0,
every training window seen once per epoch across the ranks, the same steps and (with an evenly
divisible batch) the same result as one process, and a STOP file stops both ranks at the same step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rnn_studio.engine import Block, Project
from rnn_studio.engine.data import DataSpec
from rnn_studio.engine.training.runs import request_stop

ROOT = Path(__file__).resolve().parents[2]


def tiny() -> Project:
    blocks = [
        Block("x", "Input", {"timesteps": 12, "features": 1}),
        Block("g", "GRU", {"units": 4}),
        Block("y", "Dense", {"units": 1}),
    ]
    return Project(
        "tiny", blocks, [("x", "g"), ("g", "y")], training={"epochs": 2, "batch_size": 64, "lr": 0.01, "loss": "mse"}
    )


def _torchrun(design: Path, out: Path, *extra: str, wait: bool = True):
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "rnn_studio",
        "train",
        str(design),
        "--demo",
        "sine",
        "--threads",
        "1",
        "--grad-every",
        "0",
        "--out",
        str(out),
        *extra,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if not wait:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)


@pytest.mark.slow
def test_torchrun_two_cpu_processes(tmp_path):
    from rnn_studio.engine.training.train import train

    design = tmp_path / "tiny.rnn.json"
    design.write_text(tiny().to_json())
    r = _torchrun(design, tmp_path / "runs", "--epochs", "2")
    assert r.returncode == 0, r.stdout + r.stderr
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1  # rank 0 alone writes a run folder
    rd = runs[0]
    assert r.stdout.count("run folder:") == 2 and str(rd) in r.stdout  # one report (start + end), rank 0's
    summary = json.loads((rd / "summary.json").read_text())
    d = summary["distributed"]
    assert d["world_size"] == 2 and d["backend"] == "gloo" and d["global_batch_size"] == 64
    n = d["train_windows"]
    assert d["samples_seen"] == 2 * n and d["windows_seen"] == n and d["each_window_once_per_epoch"]
    assert (rd / "checkpoints" / "best.pt").is_file() and (rd / "checkpoints" / "last.pt").is_file()
    epochs = [json.loads(line) for line in (rd / "metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in epochs if e["kind"] == "epoch"] == [1, 2]
    assert sum(1 for e in epochs if e["kind"] == "start") == 1

    # one process, same settings: same steps, same result (2788 windows: every global batch splits evenly)
    assert n % 64 % 2 == 0
    single = train(
        tiny(), DataSpec(demo="sine"), {"epochs": 2, "threads": 1, "grad_every": 0}, out_dir=tmp_path / "single"
    )
    assert summary["steps"] == single["steps"] == 2 * -(-n // 64)
    assert summary["val_loss"] == pytest.approx(single["val_loss"], rel=1e-4)

    # the run folder is an ordinary one: it loads without DDP
    from rnn_studio.engine.training.runs import load_run

    _, model, _ = load_run(rd)
    assert type(model).__name__ == "DesignModel"


@pytest.mark.slow
def test_stop_file_stops_both_ranks(tmp_path):
    design = tmp_path / "tiny.rnn.json"
    design.write_text(tiny().to_json())
    out = tmp_path / "runs"
    proc = _torchrun(design, out, "--epochs", "500", wait=False)
    try:
        deadline = time.monotonic() + 120
        rd = None
        while time.monotonic() < deadline:
            runs = list(out.iterdir()) if out.exists() else []
            if (
                runs
                and (runs[0] / "metrics.jsonl").exists()
                and '"kind": "epoch"' in (runs[0] / "metrics.jsonl").read_text()
            ):
                rd = runs[0]
                break
            time.sleep(0.2)
        assert rd is not None, "no epoch finished"
        request_stop(rd)
        proc.communicate(timeout=60)  # both ranks stop: no rank waits forever in an all-reduce
    finally:
        if proc.poll() is None:
            proc.kill()
    summary = json.loads((rd / "summary.json").read_text())
    assert summary["stop_reason"] == "cancelled" and summary["epochs_completed"] < 500
    assert summary["distributed"]["world_size"] == 2


def test_no_qt_and_world_info(monkeypatch):
    import rnn_studio.engine.training.distributed as d

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert d.world_info()[1] == 1 and not d.in_torchrun() and d.is_rank_zero()
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert d.in_torchrun() and not d.is_rank_zero()
    code = (
        "import rnn_studio.engine.training.distributed, rnn_studio.engine.training.tune, sys\n"
        "print(any(m.startswith('PySide6') for m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.stdout.strip() == "False"
