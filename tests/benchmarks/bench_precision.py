"""fp32 vs fp16 vs int8 exports of the seed designs: file size, p50 latency at batch 1 and 64 (onnxruntime CPU,
1 thread), and the validation delta of a briefly trained run (chaos demo, 2 epochs, seed 1).

Run: .venv/bin/python tests/benchmarks/bench_precision.py   (or `make bench`). Prints a markdown table
(docs/export.md and the README carry it). Latencies: the three precisions measured in turn, three rounds,
each a median of >= 30 calls after 10 warm-up calls; the table gives the median of the three medians.
"""

import contextlib
import io
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

DESIGNS = ("seed-keras", "seed-pytorch", "lstm-only")
BATCHES = (1, 64)
ROUNDS = 3


def trained_run(design: str, out: Path) -> Path:
    from rnn_studio.cli import main

    args = ["train", str(ROOT / "assets" / "examples" / f"{design}.rnn.json"), "--demo", "chaos"]
    args += ["--epochs", "2", "--seed", "1", "--threads", "1", "--out", str(out)]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(args) == 0, design
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


def measure(design: str, folder: Path) -> list[dict]:
    from rnn_studio.engine.training.runs import load_run
    from rnn_studio.exports import onnx_bytes
    from rnn_studio.exports.precision import PRECISIONS, convert, latency, run_metric
    from rnn_studio.exports.verify import sample_input

    run = trained_run(design, folder / design)
    project, model, meta = load_run(run)
    fp32 = onnx_bytes(model, project, meta=meta)
    metric = run_metric(run, meta)
    models = {p: convert(fp32, p) for p in PRECISIONS}
    if any(n.startswith("/") and "GRU" in n for n in models["fp16"].kept_fp32):
        models["fp16, GRU too"] = convert(fp32, "fp16", fp16_keep=())  # what keeping GRU in fp32 avoids
    steps = project.blocks[0].resolved()["timesteps"]
    samples = {b: sample_input(b, steps, 1, 7).numpy() for b in BATCHES}
    times: dict[tuple[str, int], list[float]] = {}
    for _ in range(ROUNDS):
        for p in models:
            for b in BATCHES:
                times.setdefault((p, b), []).append(latency(models[p].data, samples[b], threads=1)[0])
    name, reference = metric(fp32)
    rows = []
    for p in models:
        value = reference if p == "fp32" else metric(models[p].data)[1]
        rows.append(
            {
                "design": design,
                "precision": p,
                "kib": len(models[p].data) / 1024,
                "ratio": len(models[p].data) / len(fp32),
                **{f"p50_b{b}": statistics.median(times[(p, b)]) for b in BATCHES},
                "metric": f"{name} {value:.5f}",
                "delta": value - reference,
                "kept": ", ".join(models[p].kept_fp32) or "-",
                "max_diff": max_diff(fp32, models[p].data, samples[64]),
            }
        )
    return rows


def max_diff(fp32: bytes, other: bytes, sample) -> float:
    import numpy as np

    from rnn_studio.exports.precision import session

    a = session(fp32).run(None, {"sequence": sample})[0]
    b = session(other).run(None, {"sequence": sample})[0]
    return float(np.abs(a.astype(np.float64) - b).max())


def main() -> None:
    import torch

    torch.set_num_threads(1)
    print(
        "| design | precision | size | of fp32 | p50 batch 1 | p50 batch 64 | max diff vs fp32 | val RMSE | delta "
        "| kept fp32 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for design in DESIGNS:
            for r in measure(design, Path(tmp)):
                print(
                    f"| {r['design']} | {r['precision']} | {r['kib']:.0f} KiB | {r['ratio']:.0%} | "
                    f"{r['p50_b1']:.3f} ms | {r['p50_b64']:.3f} ms | {r['max_diff']:.1e} | {r['metric'].split()[1]} | "
                    f"{r['delta']:+.2e} | {r['kept']} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
