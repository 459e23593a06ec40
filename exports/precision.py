"""Smaller precisions of a verified fp32 ONNX model: fp16 and int8, measured against fp32. No Qt.

- int8: onnxruntime's dynamic quantization (`quantize_dynamic`, int8 weights, activations quantized per
  call). It rewrites LSTM (DynamicQuantizeLSTM, bidirectional kept), MatMul / Gemm and Conv; it has no
  rule for GRU or RNN, which stay fp32: `kept_fp32` names those nodes.
- fp16: onnxconverter-common's float16 converter with float32 inputs and outputs (`keep_io_types`). GRU and
  RNN nodes are kept fp32 (FP16_KEEP_OPS): trained GRUs drifted 0.08-0.13 in fp16 in a trial here, and
  onnxruntime's CPU provider runs them in fp32 anyway. fp16 is for GPU providers; on the CPU it is no
  faster (the precision benchmark measures it).

`measure(fp32, other, ...)` gives the figures every precision export reports: file sizes, p50 latency of
both (one thread, batch 1), max / mean difference from fp32 on the verification inputs. `run_metric`
builds the validation metric (RMSE or accuracy) of a run's own validation windows for an ONNX model.
"""

from __future__ import annotations

import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

PRECISIONS = ("fp32", "fp16", "int8")


def _fp32_ops() -> tuple[str, ...]:
    from rnn_studio.engine import CATALOG

    return tuple(sorted({d.onnx_op for d in CATALOG.values() if d.onnx_keeps_fp32 and d.onnx_op}))


FP16_KEEP_OPS = _fp32_ops()  # GRU and RNN (BlockDef.onnx_keeps_fp32): see the module docstring; kept fp32
# onnxruntime 1.32's graph optimizer crashes the process (SIGSEGV while creating the session) on some fp16
# graphs, e.g. seq2seq-demand's fp16 Transpose + Concat around its recurrent layers; keeping these in fp32
# avoids it. Each converted model is first loaded in a child process, so a crash is a message, not a bang.
FP16_FALLBACK_OPS = ("Transpose", "Concat")
WARMUP_RUNS = 10
MIN_RUNS, MAX_RUNS, RUN_SECONDS = 30, 2000, 0.5  # timing: at least 30 calls, about half a second


@dataclass
class Converted:
    data: bytes
    precision: str
    kept_fp32: list[str] = field(default_factory=list)  # node names left in fp32


def convert(data: bytes, precision: str, fp16_keep: tuple[str, ...] = FP16_KEEP_OPS) -> Converted:
    """`data` (fp32 ONNX bytes, metadata included) at `precision`; metadata_props are carried over and
    gain `precision`. `fp16_keep`: op types fp16 leaves in fp32 (the precision benchmark tries `()`)."""
    import onnx

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, received {precision!r}")
    source = onnx.load_from_string(data)
    if precision == "fp32":
        return Converted(data, precision)
    if precision == "int8":
        model = _quantize(source)
        kept = [n.name for n in model.graph.node if n.op_type in FP16_KEEP_OPS]
        if not loads_safely(model.SerializeToString()):
            raise ValueError(_CRASH.format(precision="int8"))
    else:
        model, kept = _half(data, fp16_keep)
    del model.metadata_props[:]
    for entry in source.metadata_props:
        model.metadata_props.add(key=entry.key, value=entry.value)
    model.metadata_props.add(key="precision", value=precision)
    return Converted(model.SerializeToString(), precision, kept)


_CRASH = (
    "onnxruntime crashes loading the {precision} model of this design (an onnxruntime bug, seen on this "
    "stack): export fp32 or another precision"
)


def _half(data: bytes, keep: tuple[str, ...]):
    """(fp16 model, nodes kept fp32): `keep` op types kept; FP16_FALLBACK_OPS too when onnxruntime would
    crash. Weights below fp16's range are clipped (the converter's own rule; its warnings are silenced)."""
    import warnings

    import onnx
    from onnxconverter_common import float16

    for keep_ops in (keep, keep + FP16_FALLBACK_OPS):
        source = onnx.load_from_string(data)
        kept = [n.name for n in source.graph.node if n.op_type in keep_ops]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = float16.convert_float_to_float16(source, keep_io_types=True, node_block_list=kept)
        if loads_safely(model.SerializeToString()):
            return model, kept
    raise ValueError(_CRASH.format(precision="fp16"))


def loads_safely(data: bytes) -> bool:
    """Does onnxruntime (default options, as a deployment would use) load and run `data` without crashing
    the process? Tried in a child process."""
    import subprocess
    import sys

    code = "import sys, onnxruntime as ort\ns = ort.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider'])\n"
    with tempfile.TemporaryDirectory(prefix="rnn-studio-load-") as folder:
        path = os.path.join(folder, "model.onnx")
        with open(path, "wb") as f:
            f.write(data)
        try:
            done = subprocess.run([sys.executable, "-c", code, path], capture_output=True, timeout=120)
        except subprocess.TimeoutExpired:
            return False
    return done.returncode == 0


def _quantize(model):
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)  # "consider pre-processing" and shape-inference notes on every call
    try:
        with tempfile.TemporaryDirectory(prefix="rnn-studio-int8-") as folder:
            out = os.path.join(folder, "int8.onnx")
            quantize_dynamic(model, out, weight_type=QuantType.QInt8)
            return onnx.load(out)
    finally:
        logger.setLevel(level)


def session(data: bytes, threads: int = 1, profile_prefix: str | None = None):
    """A CPU onnxruntime session pinned to `threads` intra-op threads (inter-op 1, sequential)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if profile_prefix:
        so.enable_profiling = True
        so.profile_file_prefix = profile_prefix
    return ort.InferenceSession(data, sess_options=so, providers=["CPUExecutionProvider"])


def timed_runs(sess, feed: dict, warmup: int = WARMUP_RUNS, runs: int | None = None) -> list[float]:
    """Milliseconds per call after `warmup` uncounted calls: `runs` calls, or at least MIN_RUNS and about
    RUN_SECONDS of calls."""
    for _ in range(warmup):
        sess.run(None, feed)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < (runs or MAX_RUNS):
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append((time.perf_counter() - t0) * 1000)
        if runs is None and len(times) >= MIN_RUNS and time.perf_counter() - start > RUN_SECONDS:
            break
    return times


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def latency(data: bytes, sample, threads: int = 1) -> tuple[float, float]:
    """(p50, p90) ms of one call on `sample` (a numpy array)."""
    times = timed_runs(session(data, threads), {"sequence": sample})
    return statistics.median(times), percentile(times, 0.9)


@dataclass
class Measured:
    """What a precision export reports beside fp32 (saved in <model>.verify.json)."""

    precision: str
    file_bytes: int
    fp32_file_bytes: int
    p50_ms: float
    fp32_p50_ms: float
    max_abs_diff: float  # against the fp32 model, on the verification inputs
    mean_abs_diff: float
    kept_fp32: list[str]
    threads: int = 1
    batch: int = 1


def measure(fp32: bytes, converted: Converted, samples: list, threads: int = 1) -> Measured:
    """Sizes, p50 latency at batch 1, and the difference from fp32 over `samples` (numpy inputs)."""
    import numpy as np

    ref, new = session(fp32, threads), session(converted.data, threads)
    diffs = []
    for x in samples:
        a = ref.run(None, {"sequence": x})[0].astype(np.float64)
        b = new.run(None, {"sequence": x})[0].astype(np.float64)
        diffs.append(np.abs(a - b).reshape(-1))
    diff = np.concatenate(diffs) if diffs else np.zeros(1)
    one = samples[0][:1]
    return Measured(
        precision=converted.precision,
        file_bytes=len(converted.data),
        fp32_file_bytes=len(fp32),
        p50_ms=round(latency(converted.data, one, threads)[0], 4),
        fp32_p50_ms=round(latency(fp32, one, threads)[0], 4),
        max_abs_diff=float(diff.max()),
        mean_abs_diff=float(diff.mean()),
        kept_fp32=list(converted.kept_fp32),
        threads=threads,
    )


# ---------------------------------------------------------------- a run's validation metric
def run_metric(run_dir, meta, include_normalization: bool = False) -> Callable[[bytes], tuple[str, float]]:
    """A function: ONNX bytes -> (metric name, value) on the run's own validation windows (its data_spec from
    metrics.jsonl, its normalization): rmse (regression, target units) or accuracy. Raises ValueError
    with a one-line reason when the run's data cannot be read again."""
    from rnn_studio.engine.data import DataSpec, load_dataset
    from rnn_studio.engine.training.runs import iter_metrics, load_run
    from rnn_studio.engine.training.train import TrainConfig, evaluate_split

    start = next((r for r in iter_metrics(run_dir) if r.get("kind") == "start"), None)
    if start is None or not isinstance(start.get("data_spec"), dict):
        raise ValueError(f"{run_dir}: metrics.jsonl has no start record with the run's data settings")
    project, _, run_meta = load_run(run_dir, "best")
    try:
        data = load_dataset(DataSpec.from_dict(start["data_spec"]), project, meta=run_meta)
    except Exception as e:  # DataError, a moved file: say which
        raise ValueError(f"the run's data ({start.get('data')}) cannot be read again: {str(e).splitlines()[0]}") from e
    if "val" not in data.index or data.size("val") == 0:
        raise ValueError(f"{run_dir}: the run has no validation windows")
    cfg = TrainConfig.from_project(project, {"device": "cpu"})
    name = "rmse" if data.task == "regression" else "accuracy"

    def metric(onnx_bytes: bytes) -> tuple[str, float]:
        import torch

        model = onnx_module(onnx_bytes, meta if include_normalization else None, data.task == "regression")
        result = evaluate_split(model, data, "val", cfg, torch.device("cpu"))
        return "val_" + name, float(result.metrics[name])

    return metric


def onnx_module(data: bytes, meta, regression: bool):
    """An ONNX model behind the nn.Module interface evaluate_split calls, taking normalized inputs and
    giving normalized outputs; a model with the normalization folded in (meta given) is fed raw values."""
    import numpy as np
    import torch

    class OnnxModule(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.sess = session(data, 1)

        def forward(self, x):
            if meta is not None:
                x = x * torch.tensor(meta.x_std) + torch.tensor(meta.x_mean)
            array = x.cpu().numpy()
            fed = array.astype(np.int64) if self.sess.get_inputs()[0].type == "tensor(int64)" else array
            out = torch.from_numpy(np.asarray(self.sess.run(None, {"sequence": fed})[0]))
            if meta is not None and regression and meta.y_std is not None:
                out = (out - float(meta.y_mean or 0.0)) / float(meta.y_std)
            return out.float()

    return OnnxModule()


# ---------------------------------------------------------------- into an export's result
def accuracy_loss(name: str, fp32_value: float, value: float) -> float:
    """How much worse `value` is than fp32's: higher RMSE, lower accuracy (negative = better)."""
    return fp32_value - value if name.endswith("accuracy") else value - fp32_value


def apply_precision(result, data: bytes, samples: list, *, precision: str, metric=None, max_delta=None, say) -> bytes:
    """Convert the verified fp32 `data`, fill `result`'s precision fields and return the bytes to write.
    `metric`: run_metric's function or None (a bare design has no validation windows). The caller fails the
    export when `precision_failed(result)` says so."""
    converted = convert(data, precision)
    m = measure(data, converted, samples)
    result.precision = precision
    result.file_bytes = len(converted.data)
    result.fp32_file_bytes, result.p50_ms, result.fp32_p50_ms = m.fp32_file_bytes, m.p50_ms, m.fp32_p50_ms
    result.fp32_max_abs_diff, result.fp32_mean_abs_diff = m.max_abs_diff, m.mean_abs_diff
    result.kept_fp32_nodes = m.kept_fp32
    result.max_delta = max_delta
    say(
        f"precision {precision}: {m.file_bytes / 1024:.0f} KiB (fp32 {m.fp32_file_bytes / 1024:.0f} KiB, "
        f"{m.file_bytes / m.fp32_file_bytes:.0%}); p50 {m.p50_ms:.3f} ms (fp32 {m.fp32_p50_ms:.3f} ms; batch 1, "
        f"1 thread); vs fp32 max |diff| {m.max_abs_diff:.2e}, mean {m.mean_abs_diff:.2e}"
    )
    if m.kept_fp32:
        say(f"  kept in fp32 ({precision} has no rule for them): {', '.join(m.kept_fp32)}")
    if metric is not None:
        name, fp32_value = metric(data)
        _, value = metric(converted.data)
        result.metric_name, result.metric, result.fp32_metric = name, value, fp32_value
        result.metric_delta = value - fp32_value
        say(
            f"  {name} on the run's validation windows: {value:.6g} ({precision}) vs {fp32_value:.6g} (fp32), "
            f"delta {result.metric_delta:+.3g}"
        )
    return converted.data


def precision_failed(result) -> str | None:
    """Why the precision export fails (--max-delta exceeded), or None."""
    if result.max_delta is None or result.metric is None:
        return None
    loss = accuracy_loss(result.metric_name, result.fp32_metric, result.metric)
    if loss > result.max_delta:
        return (
            f"{result.precision} loses {loss:.4g} {result.metric_name} against fp32 ({result.metric:.6g} vs "
            f"{result.fp32_metric:.6g}), more than --max-delta {result.max_delta:g}"
        )
    return None
