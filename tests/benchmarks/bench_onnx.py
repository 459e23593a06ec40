"""onnxruntime (CPU) vs PyTorch eager latency on the same model, for both seed designs.

Plain script (not collected by pytest): `python tests/benchmarks/bench_onnx.py [--threads N ...]`.
For each design: export with exports.export_onnx (verified), then time one sequence (batch 1) and a
batch of 64, PyTorch eager (no_grad, eval) and onnxruntime side by side in this one process, in
alternating rounds; prints the median per call and the ratio eager / onnxruntime (> 1: onnxruntime is
faster).

Threads: both runtimes get the same thread count for a like-for-like figure: torch.set_num_threads(n)
and onnxruntime intra_op_num_threads=n (inter_op 1, sequential execution). The table is printed for
1 thread (what a server running one model per core sees) and for all cores.
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

import numpy as np  # noqa: E402
import torch  # noqa: E402

from rnn_studio import engine  # noqa: E402
from rnn_studio.exports import export_onnx  # noqa: E402
from rnn_studio.exports.verify import make_session  # noqa: E402

DESIGNS = ["seed-keras", "seed-pytorch"]


def _time(fn, reps: int) -> float:
    samples = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def bench(threads: int, reps: int, rounds: int) -> list[tuple]:
    torch.set_num_threads(threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in DESIGNS:
            project = engine.load_project(ROOT / "assets" / "examples" / f"{name}.rnn.json")
            torch.manual_seed(0)
            model = engine.build_model(project).eval()
            path = Path(tmp) / f"{name}.onnx"
            rep = export_onnx(model, project, path)
            sess = make_session(path, threads=threads)
            t, f = engine.check(project).input_shape()[1:]
            for batch in (1, 64):
                x = torch.randn(batch, t, f)
                xn = x.numpy()

                def eager(model=model, x=x):
                    with torch.no_grad():
                        model(x)

                def ort(sess=sess, xn=xn):
                    sess.run(None, {"sequence": xn})

                for _ in range(10):  # warm up both
                    eager()
                    ort()
                e_med, o_med = [], []
                for _ in range(rounds):  # alternate, so drift hits both alike
                    e_med.append(_time(eager, reps))
                    o_med.append(_time(ort, reps))
                e, o = statistics.median(e_med), statistics.median(o_med)
                with torch.no_grad():
                    diff = float(np.abs(model(x).numpy() - sess.run(None, {"sequence": xn})[0]).max())
                rows.append((name, threads, batch, e * 1e3, o * 1e3, e / o, diff, rep.max_abs_diff))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="*", default=None, help="thread counts (default: 1 and all)")
    ap.add_argument("--reps", type=int, default=30, help="calls per timing sample")
    ap.add_argument("--rounds", type=int, default=5, help="alternating samples per runtime (median taken)")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    threads = args.threads or sorted({1, cores})
    import onnxruntime

    print(
        f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, {cores} CPU cores; "
        f"median of {args.rounds} x {args.reps} calls"
    )
    head = (
        f"{'design':<14}{'threads':>8}{'batch':>6}{'eager ms':>11}{'onnxrt ms':>11}{'eager/ort':>11}{'max|diff|':>11}"
    )
    print(head)
    print("-" * len(head))
    for th in threads:
        for name, n, batch, e, o, ratio, diff, _ in bench(th, args.reps, args.rounds):
            print(f"{name:<14}{n:>8}{batch:>6}{e:>11.3f}{o:>11.3f}{ratio:>10.2f}x{diff:>11.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
