"""Measured latency per block: onnxruntime's profiler on an in-memory export, each node mapped to its block.

The TorchScript exporter names every node after the module that made it, and the compiled model keeps one
module per block named by its id, so a node `/g/rnn/GRU` (or `/l/rnn/LSTM_quant` after int8 quantization)
belongs to block `g`. Nodes outside any block (casts around fp16, the graph's own shape plumbing) and the
session's own work between kernels make up `overhead_ms`, so block times plus overhead equal the
end-to-end median.

Threads are pinned (intra-op `threads`, inter-op 1, sequential). Two sessions, each with WARMUP_RUNS
uncounted calls, then at least MIN_RUNS calls and about RUN_SECONDS of them:
- a plain one gives `p50_ms` / `p90_ms`: the wall time of `session.run` (perf_counter);
- one with onnxruntime's profiler on gives each block's share: the median over calls of its kernels' summed
  time (the profiler's `dur`), divided by that session's median call. The profiler costs several
  microseconds per node (a batch-1 seed-keras call takes ~4x longer with it on), so its absolute times
  are not the model's; its proportions are. A block's `ms` is its share of the plain `p50_ms`, and
  `overhead_ms` the rest, so they add up to `p50_ms` exactly.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .precision import MAX_RUNS, MIN_RUNS, RUN_SECONDS, WARMUP_RUNS, percentile, session, timed_runs


@dataclass
class Profile:
    """What `rnn-studio profile --json` prints."""

    design: str
    precision: str
    batch: int
    length: int
    threads: int
    runs: int
    p50_ms: float
    p90_ms: float
    overhead_ms: float
    blocks: dict[str, dict[str, float]] = field(default_factory=dict)  # id -> {ms, share}
    kept_fp32: list[str] = field(default_factory=list)
    file_bytes: int = 0
    onnxruntime: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def block_of(node_name: str, block_ids) -> str | None:
    """The block a node belongs to: the first scope of its name that is a block id."""
    for part in node_name.strip("/").split("/")[:3]:
        if part in block_ids:
            return part
    return None


def _kernel_times(trace: list[dict], counted: int) -> list[dict[str, float]]:
    """Per counted run (the last `counted` model_run events), microseconds per node name."""
    runs = [e for e in trace if e.get("cat") == "Session" and e.get("name") == "model_run"]
    runs = sorted(runs, key=lambda e: e["ts"])[-counted:]
    nodes = sorted(
        (e for e in trace if e.get("cat") == "Node" and str(e.get("name", "")).endswith("_kernel_time")),
        key=lambda e: e["ts"],
    )
    out: list[dict[str, float]] = []
    i = 0
    for run in runs:
        start, end = run["ts"], run["ts"] + run["dur"]
        per: dict[str, float] = {}
        while i < len(nodes) and nodes[i]["ts"] < start:
            i += 1
        while i < len(nodes) and nodes[i]["ts"] <= end:
            name = nodes[i]["name"][: -len("_kernel_time")]
            per[name] = per.get(name, 0.0) + float(nodes[i]["dur"])
            i += 1
        out.append(per)
    return out


def _timed_profile(data: bytes, feed: dict, threads: int) -> tuple[list[float], list[dict]]:
    """(wall ms per counted call, the profiler's trace events)."""
    with tempfile.TemporaryDirectory(prefix="rnn-studio-profile-") as folder:
        sess = session(data, threads, profile_prefix=os.path.join(folder, "ort"))
        for _ in range(WARMUP_RUNS):
            sess.run(None, feed)
        times: list[float] = []
        start = time.perf_counter()
        while len(times) < MAX_RUNS:
            t0 = time.perf_counter()
            sess.run(None, feed)
            times.append((time.perf_counter() - t0) * 1000)
            if len(times) >= MIN_RUNS and time.perf_counter() - start > RUN_SECONDS:
                break
        trace = json.loads(Path(sess.end_profiling()).read_text())
    return times, trace


def profile_onnx(data: bytes, block_ids, sample, *, threads: int = 1, design: str = "", precision: str = "fp32"):
    """Profile the ONNX bytes `data` on `sample` (numpy, (batch, time, features))."""
    import onnxruntime

    plain = timed_runs(session(data, threads), {"sequence": sample})
    times, trace = _timed_profile(data, {"sequence": sample}, threads)
    per_run = _kernel_times(trace, len(times))
    ids = list(block_ids)
    per_block: dict[str, list[float]] = {b: [] for b in ids}
    for run in per_run:
        sums = dict.fromkeys(ids, 0.0)
        for node, us in run.items():
            owner = block_of(node, sums)
            if owner is not None:
                sums[owner] += us / 1000
        for b in ids:
            per_block[b].append(sums[b])
    profiled = statistics.median(times)
    share = {b: (statistics.median(v) / profiled if v and profiled else 0.0) for b, v in per_block.items()}
    covered = sum(share.values())
    if covered > 1:  # kernels of a median call cannot exceed the median call: scale to fit
        share = {b: v / covered for b, v in share.items()}
    p50 = statistics.median(plain)
    ms = {b: v * p50 for b, v in share.items()}
    covered = sum(ms.values())
    return Profile(
        design=design,
        precision=precision,
        batch=int(sample.shape[0]),
        length=int(sample.shape[1]),
        threads=threads,
        runs=len(plain),
        p50_ms=round(p50, 4),
        p90_ms=round(percentile(plain, 0.9), 4),
        overhead_ms=round(p50 - covered, 5),
        blocks={b: {"ms": round(ms[b], 5), "share": round(share[b], 4)} for b in ids},
        file_bytes=len(data),
        onnxruntime=onnxruntime.__version__,
    )


def compare_precisions(model, project, meta=None, metric=None, *, threads: int = 1, seed: int = 0) -> list[dict]:
    """fp32 / fp16 / int8 of one model side by side (the export dialog's table): file size, p50 latency
    (batch 1), max |diff| from fp32, the run's validation metric and its delta (None for a bare design),
    the nodes kept in fp32. `metric`: exports.precision.run_metric's function or None."""
    from rnn_studio.engine import check
    from rnn_studio.engine.design.compile import token_vocabulary

    from .onnx_export import TRACE_LENGTH, onnx_bytes
    from .precision import PRECISIONS, convert, measure
    from .verify import sample_input

    res = check(project)
    shape = res.input_shape()
    steps = shape[1] if shape[1] is not None else TRACE_LENGTH
    samples = [sample_input(7, steps, shape[2], seed + 1, tokens=token_vocabulary(project, res)).numpy()]
    fp32 = onnx_bytes(model, project, meta=meta, seed=seed)
    reference = metric(fp32) if metric is not None else None
    rows = []
    for precision in PRECISIONS:
        converted = convert(fp32, precision)
        m = measure(fp32, converted, samples, threads)
        value = metric(converted.data) if metric is not None and precision != "fp32" else reference
        rows.append(
            {
                "precision": precision,
                "file_bytes": m.file_bytes,
                "p50_ms": m.p50_ms,
                "max_abs_diff": m.max_abs_diff,
                "metric_name": reference[0] if reference else None,
                "metric": value[1] if value else None,
                "metric_delta": (value[1] - reference[1]) if value and reference else None,
                "kept_fp32": m.kept_fp32,
            }
        )
    return rows
