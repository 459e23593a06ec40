"""Tracking overhead benchmark (a plain script, not collected by pytest):
`python tests/benchmarks/bench_tracking.py [--steps 300] [--repeats 5]`.

Trains the seed-keras design on the sine demo (batch 64, 1 thread, per-block gradient norms every
5 steps to exercise more scalars than the default) with no logger, with the TensorBoard logger and with
the MLflow logger (local SQLite store, log_batch at most every 2 s plus once per epoch), interleaved,
and prints the median training-loop time per mode (from the `start` record to the last `step`/`epoch`
record: the end-of-run artifact upload is excluded) and the overhead relative to no logging. Target:
< 3 % per logger.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from engine import load_project
from engine.data import DataSpec
from engine.tracking import MlflowLogger, TensorBoardLogger
from engine.train import train

SEED = ROOT / "assets" / "examples" / "seed-keras.rnn.json"


def loop_seconds(mode: str, steps: int, folder: Path) -> float:
    logger = {"none": None, "tensorboard": TensorBoardLogger, "mlflow": MlflowLogger}[mode]
    logger = logger() if logger else None
    marks: dict[str, float] = {}

    def on_metric(rec: dict) -> None:
        if logger is not None:
            logger(rec)
        now = time.perf_counter()
        if rec["kind"] == "start":
            marks["start"] = now
        elif rec["kind"] in ("step", "epoch"):
            marks["last"] = now

    overrides = {"epochs": 1000, "max_steps": steps, "threads": 1, "grad_every": 5, "batch_size": 64}
    train(load_project(SEED), DataSpec(demo="sine"), overrides, out_dir=folder, on_metric=on_metric,
          install_signal_handlers=False)
    return marks["last"] - marks["start"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        modes = ("none", "tensorboard", "mlflow")
        times: dict[str, list[float]] = {m: [] for m in modes}
        loop_seconds("mlflow", 20, Path(tmp))  # warm-up: imports, database tables
        for _ in range(args.repeats):
            for mode in modes:
                times[mode].append(loop_seconds(mode, args.steps, Path(tmp)))
    base = statistics.median(times["none"])
    print(f"training loop, seed-keras, sine demo, batch 64, {args.steps} steps, 1 thread, median of {args.repeats}:")
    for mode in modes:
        med = statistics.median(times[mode])
        print(f"  {mode:12s} {med:7.2f} s  {args.steps / med:6.1f} steps/s  overhead {100 * (med / base - 1):+5.1f} %")


if __name__ == "__main__":
    main()
