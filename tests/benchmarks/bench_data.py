"""Reading users' data at real-world size (issue: "your own data").

1. `rnn-studio data FILE` on a 1,000,000-row x 9-column numeric CSV, as a whole process, against a
   process that runs `pandas.read_csv(FILE)`, alternating in one run; medians of wall time and peak
   RSS (from wait4). Goal: time <= 1.0x and peak memory <= 1.5x pandas'.
2. Training on a memory-mapped 10,000,000-row x 9-column float64 .npy (687 MiB) for a fixed number of
   steps: the peak RSS of the training process against the file's size, beside the same training on a
   100,000-row file (the process's own baseline: torch, the model).

The files are generated at run time in a temporary folder.

Run: .venv/bin/python tests/benchmarks/bench_data.py [--repeats 5] [--rows 1000000] [--mapped-rows 10000000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def write_csv(path: Path, rows: int, cols: int = 9) -> None:
    rng = np.random.default_rng(0)
    with open(path, "w") as f:
        f.write(",".join(f"c{j}" for j in range(cols)) + "\n")
        for lo in range(0, rows, 100_000):
            block = rng.normal(size=(min(100_000, rows - lo), cols)) * 100
            np.savetxt(f, block, fmt="%.6f", delimiter=",")


def run_measured(argv: list[str], threads: str | None = None) -> tuple[float, float, float]:
    """(wall seconds, peak RSS MiB, CPU seconds user+system) of one child process. `threads` sets
    OMP_NUM_THREADS (the training runs); the reading runs keep the user's default environment: Arrow
    sizes its CSV thread pool from OMP_NUM_THREADS, so 1 there would measure what no user runs."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("OMP_NUM_THREADS", None)
    if threads is not None:
        env["OMP_NUM_THREADS"] = threads
    # both sides run from compiled bytecode, as an installed package does (pip compiles it); with
    # PYTHONDONTWRITEBYTECODE set, every run of ours would compile its modules from source again
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def bench_read(csv_path: Path, repeats: int) -> dict:
    ours = [sys.executable, "-m", "rnn_studio", "data", str(csv_path)]
    pandas = [sys.executable, "-c", f"import pandas; pandas.read_csv({str(csv_path)!r})"]
    results: dict[str, list] = {"ours": [], "pandas": []}
    run_measured(ours)  # warm-up, not counted: bytecode written, the file in the page cache
    run_measured(pandas)
    for _ in range(repeats):  # alternate so both see the same machine state
        results["ours"].append(run_measured(ours))
        results["pandas"].append(run_measured(pandas))
    out = {}
    for name, runs in results.items():
        out[name] = {
            "time_s": statistics.median(r[0] for r in runs),
            "rss_mib": statistics.median(r[1] for r in runs),
            "cpu_s": statistics.median(r[2] for r in runs),  # Arrow parses on every core: more CPU, less wall
        }
    out["time_ratio"] = out["ours"]["time_s"] / out["pandas"]["time_s"]
    out["rss_ratio"] = out["ours"]["rss_mib"] / out["pandas"]["rss_mib"]
    return out


def write_npy(path: Path, rows: int) -> None:
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(rows, 9))
    rng = np.random.default_rng(0)
    for lo in range(0, rows, 1_000_000):
        n = min(1_000_000, rows - lo)
        mm[lo : lo + n] = np.cumsum(rng.normal(size=(n, 9)), axis=0)
    mm.flush()
    del mm


def bench_mapped(folder: Path, rows: int, steps: int) -> dict:
    path = folder / f"series-{rows}.npy"
    # written by another process: a child started (vfork + exec) by a process whose resident memory
    # once reached N MiB reports a peak RSS of at least N MiB (Linux keeps the high-water mark across
    # exec), so this process must never hold the 687 MiB file itself (that is how 798 MiB was reported)
    subprocess.run([sys.executable, __file__, "--write-npy", str(path), str(rows)], check=True)
    design = ROOT / "assets" / "examples" / "seed-keras.rnn.json"
    argv = [
        sys.executable,
        "-m",
        "rnn_studio",
        "train",
        str(design),
        "--data",
        str(path),
        "--target",
        "c8",
        "--features",
        "c8",
        "--max-steps",
        str(steps),
        "--threads",
        "1",
        "--out",
        str(folder / "runs"),
        "--quiet",
    ]
    wall, rss, _cpu = run_measured(argv, threads="1")
    return {"rows": rows, "file_mib": path.stat().st_size / 2**20, "train_rss_mib": rss, "wall_s": wall, "steps": steps}


def _report_read(csv_path: Path, args) -> dict:
    write_csv(csv_path, args.rows)
    read = bench_read(csv_path, args.repeats)
    print(f"CSV {args.rows:,} rows x 9 ({csv_path.stat().st_size / 2**20:.0f} MiB), median of {args.repeats}:")
    for name, label in (("ours", "rnn-studio data"), ("pandas", "pandas.read_csv")):
        r = read[name]
        print(f"  {label}: {r['time_s']:.2f} s wall, {r['cpu_s']:.2f} s CPU, peak RSS {r['rss_mib']:.0f} MiB")
    print(f"  ratio: time {read['time_ratio']:.2f}x (goal <= 1.0), memory {read['rss_ratio']:.2f}x (goal <= 1.5)")
    csv_path.unlink()
    return read


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--mapped-rows", type=int, default=10_000_000)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--mapped-only", action="store_true", help="skip the CSV comparison")
    ap.add_argument("--write-npy", nargs=2, metavar=("PATH", "ROWS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.write_npy:
        write_npy(Path(args.write_npy[0]), int(args.write_npy[1]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv_path = folder / "big.csv"
        read = None
        if not args.mapped_only:
            read = _report_read(csv_path, args)
        small = bench_mapped(folder, 100_000, args.steps)
        mapped = bench_mapped(folder, args.mapped_rows, args.steps)
        for m in (small, mapped):
            print(
                f"memory-mapped .npy {m['rows']:,} rows x 9 float64 ({m['file_mib']:.0f} MiB): training "
                f"{m['steps']} steps peaks at {m['train_rss_mib']:.0f} MiB RSS ({m['wall_s']:.1f} s)"
            )
        print(json.dumps({"read": read, "mapped": mapped, "mapped_small": small}))


if __name__ == "__main__":
    main()
