"""Training-loop overhead of the named-step trainer vs another checkout (a plain script, not collected
by pytest): `python tests/benchmarks/bench_train_seam.py --baseline /path/to/other/checkout`.

Runs the same small training (GRU 16 -> LSTM 16 -> Dense, sine demo of 3000 rows, batch 32, 3 epochs,
1 thread) in fresh processes, alternating this checkout and the baseline, and prints the median
training-step throughput (samples/s from the epoch records: time inside training steps only) of each
and their ratio. Small models make the loop's own bookkeeping (records, checkpoints' host work, stop
checks) as visible as it can be.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, sys, tempfile
import torch
torch.set_num_threads(1)
from rnn_studio.engine import Project
from rnn_studio.engine.data import DataSpec
from rnn_studio.engine.training.train import train
blocks = [{"id": "x", "type": "Input", "params": {"timesteps": 16, "features": 1}},
          {"id": "g", "type": "GRU", "params": {"units": 16, "return_sequences": True}},
          {"id": "l", "type": "LSTM", "params": {"units": 16}},
          {"id": "y", "type": "Dense", "params": {"units": 1}}]
p = Project.from_dict({"format": "rnn-studio", "version": 1, "name": "bench", "blocks": blocks,
                       "links": [["x", "g"], ["g", "l"], ["l", "y"]]})
rates = []
with tempfile.TemporaryDirectory() as out:
    train(p, DataSpec(demo="sine", demo_rows=3000), {"epochs": 3, "batch_size": 32, "threads": 1},
          out_dir=out, on_metric=lambda r: rates.append(r["samples_per_s"]) if r["kind"] == "epoch" else None)
print(json.dumps(rates))
"""


def one(checkout: Path) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(checkout)}
    r = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=tempfile.gettempdir(), env=env, capture_output=True, text=True, check=True
    )
    return statistics.median(json.loads(r.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", required=True, type=Path, help="another checkout of RNN Studio")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    ours, base = [], []
    for _ in range(args.repeats):
        ours.append(one(ROOT))
        base.append(one(args.baseline))
    mo, mb = statistics.median(ours), statistics.median(base)
    print(f"this checkout : {mo:,.0f} samples/s (median of {args.repeats}: {', '.join(f'{v:,.0f}' for v in ours)})")
    print(f"baseline      : {mb:,.0f} samples/s ({', '.join(f'{v:,.0f}' for v in base)})")
    print(f"ratio         : {mo / mb:.3f}")


if __name__ == "__main__":
    main()
