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
