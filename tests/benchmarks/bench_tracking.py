"""Tracking overhead benchmark (a plain script, not collected by pytest):
`python tests/benchmarks/bench_tracking.py [--steps 200] [--repeats 5]`.

Trains the seed-keras design on the sine demo (batch 64, 1 thread, per-block gradient norms every
5 steps to exercise more scalars than the default) with no logger, with the TensorBoard logger and with
the MLflow logger (local SQLite store, one log_batch per epoch), interleaved,
and prints per mode the median training-loop time (from the `start` record to the last `step`/`epoch`
record: the end-of-run artifact upload is excluded), its overhead relative to no logging, and the time
spent inside the logger's calls per step (robust to a busy machine, where loop times are noisy).
The order of the modes rotates between repeats. Target: < 3 % per logger.
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
sys.path.insert(0, str(ROOT))  # run as a script: this checkout's code, not an installed copy

# after the sys.path line above, so that this checkout's package is the one imported
from rnn_studio.engine import load_project  # noqa: E402
from rnn_studio.engine.data import DataSpec  # noqa: E402
from rnn_studio.engine.training.tracking import MlflowLogger, TensorBoardLogger  # noqa: E402
from rnn_studio.engine.training.train import train  # noqa: E402

SEED = ROOT / "assets" / "examples" / "seed-keras.rnn.json"


def loop_seconds(mode: str, steps: int, folder: Path) -> tuple[float, float]:
    """(training-loop seconds, seconds inside the logger) for one run."""
    logger = {"none": None, "tensorboard": TensorBoardLogger, "mlflow": MlflowLogger}[mode]
    logger = logger() if logger else None
    marks: dict[str, float] = {"in_logger": 0.0}

    def on_metric(rec: dict) -> None:
        if logger is not None:
            t = time.perf_counter()
            logger(rec)
            if rec["kind"] not in ("start", "end"):
                marks["in_logger"] += time.perf_counter() - t
        now = time.perf_counter()
        if rec["kind"] == "start":
            marks["start"] = now
        elif rec["kind"] in ("step", "epoch"):
            marks["last"] = now

    overrides = {"epochs": 1000, "max_steps": steps, "threads": 1, "grad_every": 5, "batch_size": 64}
    train(
        load_project(SEED),
        DataSpec(demo="sine"),
        overrides,
        out_dir=folder,
        on_metric=on_metric,
        install_signal_handlers=False,
    )
    return marks["last"] - marks["start"], marks["in_logger"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        modes = ["none", "tensorboard", "mlflow"]
        times: dict[str, list[tuple[float, float]]] = {m: [] for m in modes}
        loop_seconds("mlflow", 20, Path(tmp))  # warm-up: imports, database tables
        for i in range(args.repeats):
            for mode in modes[i % 3 :] + modes[: i % 3]:
                times[mode].append(loop_seconds(mode, args.steps, Path(tmp)))
    base = statistics.median(t for t, _ in times["none"])
    print(
        f"training loop, seed-keras, sine demo, batch 64, {args.steps} steps, grad norms every 5, 1 thread, "
        f"median of {args.repeats}:"
    )
    for mode in modes:
        loop = statistics.median(t for t, _ in times[mode])
        inside = statistics.median(c / t for t, c in times[mode])
        print(
            f"  {mode:12s} {loop:7.2f} s  {args.steps / loop:6.1f} steps/s"
            f"  loop overhead {100 * (loop / base - 1):+5.1f} %"
            f"  inside the logger {1e3 * loop * inside / args.steps:5.2f} ms/step = {100 * inside:4.1f} % of the loop"
        )


if __name__ == "__main__":
    main()
