"""Forecasting 1,000 series x 24 steps (issue 19's `bench`: under 5 s on the 2-core CPU).

A small run is trained (20 steps, its last.pt: the figure is the forecast's cost, not the model's quality) on a
generated daily CSV of 1,000 series x 120 rows; then `forecast_run` is timed end to end (read the CSV,
plan, infer each series' frequency, 24 recursive steps, dates, assembling the CSV text) for
  1. the seed-keras-like one-step design (GRU 32, lookback 24): 24 recursive steps, one batched
     forward pass over all 1,000 series per step;
  2. a direct 24-step design (Dense 24 units): one forward pass;
  3. the whole `rnn-studio forecast` process for case 1 (Python start, torch import, CSV written).
Medians of repeated runs after one uncounted warm-up, torch held to one thread.

Run: .venv/bin/python tests/benchmarks/bench_forecast.py [--series 1000] [--steps 24] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from rnn_studio.engine import Project
from rnn_studio.engine.data import DataSpec
from rnn_studio.engine.forecasting.forecast import forecast_run
from rnn_studio.engine.training.train import train

GOAL_S = 5.0
ROOT = Path(__file__).resolve().parents[2]


def design(units: int, lookback: int = 24) -> Project:
    return Project.from_dict(
        {
            "format": "rnn-studio",
            "version": 1,
            "name": f"bench-forecast-{units}",
            "blocks": [
                {"id": "x", "type": "Input", "params": {"timesteps": lookback, "features": 1}},
                {"id": "g", "type": "GRU", "params": {"units": 32}},
                {"id": "y", "type": "Dense", "params": {"units": units}},
            ],
            "links": [["x", "g"], ["g", "y"]],
            "training": {"epochs": 1, "batch_size": 256, "lr": 0.003, "seed": 0},
        }
    )


def write_csv(path: Path, series: int, rows: int) -> None:
    rng = np.random.default_rng(0)
    days = np.datetime64("2024-01-01") + np.arange(rows)
    dates = [str(d) for d in days]
    with open(path, "w") as f:
        f.write("store,date,sales\n")
        for s in range(series):
            level = rng.uniform(50, 150)
            values = level + 10 * np.sin(2 * np.pi * np.arange(rows) / 7 + s) + rng.normal(0, 2, rows)
            f.write("".join(f"s{s:04d},{d},{v:.2f}\n" for d, v in zip(dates, values, strict=True)))


def timed(run: str, path: str, steps: int, repeats: int) -> tuple[float, list[float], str]:
    spec = DataSpec(path=path)
    fc = forecast_run(run, spec, steps=steps, checkpoint="last")  # warm-up (imports, caches), not counted
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fc = forecast_run(run, spec, steps=steps, checkpoint="last")
        fc.to_csv_text()
        times.append(time.perf_counter() - t0)
    assert len(fc.series) > 0 and len(fc.rows()) == len(fc.series) * steps
    return statistics.median(times), times, ",".join(sorted(set(fc.methods)))


def timed_cli(run: str, path: str, steps: int, repeats: int, out: Path) -> tuple[float, list[float], float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    argv = [sys.executable, "-m", "rnn_studio", "forecast", run, "--data", path, "-o", str(out)]
    argv += ["--steps", str(steps), "--checkpoint", "last"]
    baseline = [sys.executable, "-c", "import torch"]  # the floor of any process that runs a model
    times, floor = [], []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t1 = time.perf_counter()
        subprocess.run(baseline, cwd=ROOT, env=env, check=True)
        if i:  # the first run compiles bytecode: not counted
            times.append(t1 - t0)
            floor.append(time.perf_counter() - t1)
    return statistics.median(times), times, statistics.median(floor)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--rows", type=int, default=120)
    ap.add_argument("--steps", type=int, default=24)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stores.csv"
        write_csv(path, args.series, args.rows)
        spec = DataSpec(path=str(path), series="store")
        for units in (1, args.steps):
            s = train(design(units), spec, {"epochs": 1, "max_steps": 20, "threads": 1}, out_dir=Path(tmp) / "runs")
            median, times, methods = timed(s["run"], str(path), args.steps, args.repeats)
            what = "one-step design, recursive" if units == 1 else f"direct {units}-step design"
            ok = "meets" if median < GOAL_S else "MISSES"
            print(
                f"{args.series} series x {args.steps} steps, {what} ({methods}): median {median:.2f} s "
                f"(runs {', '.join(f'{t:.2f}' for t in times)}); {ok} the {GOAL_S:g} s goal"
            )
            if units == 1:
                median, times, floor = timed_cli(s["run"], str(path), args.steps, args.repeats, Path(tmp) / "out.csv")
                print(
                    f"  the whole `rnn-studio forecast` process: median {median:.2f} s "
                    f"(runs {', '.join(f'{t:.2f}' for t in times)}); `python -c 'import torch'` alone, "
                    f"alternating with it: median {floor:.2f} s"
                )


if __name__ == "__main__":
    main()
