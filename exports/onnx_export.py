"""Design -> ONNX, through the TorchScript-based exporter (`torch.onnx.export(..., dynamo=False)`).

Why not the dynamo exporter (torch 2.13's default): on this stack it freezes the sequence length of
bidirectional RNNs (the checker passes, onnxruntime fails on any other length) and unrolls nn.RNN,
and it has shipped GRU exports with the wrong linear_before_reset flag. The TorchScript exporter emits
native GRU/LSTM/RNN operators that match PyTorch to ~1e-8. Verification (exports/verify.py) checks
this on every export anyway: structure, onnxruntime vs eager at several batch sizes and lengths.
"""
from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ._files import check_writable, publish, quiet_stdout, remove_quietly, temp_path, write_bytes
from .errors import ExportError, VerificationError
from .verify import DEFAULT_ATOL, RECURRENT_OPS, op_counts, verify_onnx

INPUT_NAME = "sequence"
OUTPUT_NAME = "prediction"
DEFAULT_OPSET = 17
MIN_OPSET = 9  # opsets 7-8 export GRU with ConstantFill, which onnxruntime cannot run
MAX_OPSET = 20  # the TorchScript exporter's highest opset
TRACE_LENGTH = 8  # length of the example input when time is dynamic
EXPORTER = "torchscript (torch.onnx.export, dynamo=False)"
REPORT_SUFFIX = ".verify.json"


def report_path_for(path) -> Path:
    """Where the verification report of `path` is saved: model.onnx -> model.onnx.verify.json."""
    path = Path(path)
    return path.with_name(path.name + REPORT_SUFFIX)


def opset_problems(project, opset: int) -> list[str]:
    """Blocks that the chosen opset cannot express, one line each naming the block and the fix."""
    from engine import CATALOG, check

    if isinstance(opset, bool) or not isinstance(opset, int):
        return [f"opset must be a whole number, received {opset!r}"]
    if not MIN_OPSET <= opset <= MAX_OPSET:
        return [f"opset {opset} is not supported: choose {MIN_OPSET}..{MAX_OPSET} (the TorchScript exporter "
                f"tops out at {MAX_OPSET}; below {MIN_OPSET} GRU/LSTM exports cannot run in onnxruntime)"]
    out = []
    res = check(project)
    blocks = {b.id: b for b in project.blocks}
    for bid in res.order:
        b = blocks[bid]
        need, why = CATALOG[b.type].min_opset(b.resolved()) or (0, "")
        if opset < need:
            out.append(f"{b.type} '{bid}' needs opset {need} or later ({why}); received --opset {opset}: "
                       f"use --opset {max(need, DEFAULT_OPSET)}")
    return out


@dataclass
class ExportReport:
    """What an export did and how it verified; saved as JSON beside the model (see report_path_for)."""

    path: str
    report_path: str | None
    format: str = "onnx"
    project_name: str = ""
    opset: int = DEFAULT_OPSET
    exporter: str = EXPORTER
    input_name: str = INPUT_NAME
    output_name: str = OUTPUT_NAME
    input_shape: list = field(default_factory=list)  # "batch" / "time" for dynamic axes
    output_shape: list = field(default_factory=list)
    dynamic_time: bool = False
    include_normalization: bool = False
    ops: dict[str, int] = field(default_factory=dict)
    recurrent_nodes: dict[str, int] = field(default_factory=dict)
    verified: bool = False  # verification ran
    passed: bool | None = None  # None when not verified
    checker: str = "not run"
    structure_problems: list[str] = field(default_factory=list)
    tolerance: float = DEFAULT_ATOL
    max_abs_diff: float | None = None
    cases: list[dict[str, Any]] = field(default_factory=list)  # batch, time, max_abs_diff, passed
    message: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    file_bytes: int = 0
    seconds: float = 0.0
    versions: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(_finite(self.to_dict()), indent=2) + "\n"

    def __getitem__(self, key):  # report["max_abs_diff"] works too
        return getattr(self, key)


def _finite(o):
    """Strict JSON: non-finite numbers (a failed case) become null."""
    if isinstance(o, float):
        return o if o == o and abs(o) != float("inf") else None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    return o


def _normalized_model(inner, meta, regression: bool):
    """Wrap `inner` so the graph takes raw inputs: x' = (x - x_mean) / x_std, and for regression
    returns raw targets: y = y' * y_std + y_mean."""
    import torch
    import torch.nn as nn

    class Normalized(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = inner
            self.register_buffer("x_mean", torch.tensor(meta.x_mean, dtype=torch.float32))
            self.register_buffer("x_std", torch.tensor(meta.x_std, dtype=torch.float32))
            self.descale = regression and meta.y_mean is not None and meta.y_std is not None
            self.register_buffer("y_mean", torch.tensor(float(meta.y_mean or 0.0)))
            self.register_buffer("y_std", torch.tensor(float(meta.y_std or 1.0)))

        def forward(self, x):  # (B, T, F) in raw units
            y = self.model((x - self.x_mean) / self.x_std)
            if self.descale:
                y = y * self.y_std + self.y_mean
            return y

    return Normalized()


def _as_meta(meta, project):
    from engine.runs import RunMeta

    if meta is None:
        return RunMeta(project_name=project.name, task=str(project.training.get("task", "regression")))
    if isinstance(meta, dict):
        meta = RunMeta.from_dict(meta)
    if not meta.project_name:
        meta.project_name = project.name
    return meta


def _shape_names(shape, dynamic_time: bool) -> list:
    out = ["batch"]
    for i, d in enumerate(shape[1:], start=1):
        out.append("time" if (i == 1 and len(shape) == 3 and (d is None or dynamic_time)) else d)
    return out


def build_metadata(project, meta, *, include_normalization: bool, input_shape, output_shape,
                   opset: int) -> dict[str, str]:
    """metadata_props: plain strings for names, JSON for numbers and lists; unknown keys left out."""
    from engine import __version__

    md: dict[str, str] = {
        "producer": f"rnn-studio {__version__}",
        "project_name": meta.project_name or project.name,
        "task": meta.task or "regression",
        "input_name": INPUT_NAME,
        "output_name": OUTPUT_NAME,
        "input_shape": json.dumps(input_shape),
        "output_shape": json.dumps(output_shape),
        "exporter": EXPORTER,
        "opset": str(opset),
    }
    has_x = meta.x_mean is not None and meta.x_std is not None
    if include_normalization:
        md["normalization"] = "in_graph"  # feed raw values; outputs are in raw units
    elif has_x or meta.y_mean is not None:
        md["normalization"] = "external"  # apply x' = (x - x_mean) / x_std yourself
    else:
        md["normalization"] = "none"
    for key in ("features", "classes", "x_mean", "x_std"):
        value = getattr(meta, key)
        if value:
            md[key] = json.dumps(value)
    for key in ("y_mean", "y_std", "lookback", "horizon"):
        value = getattr(meta, key)
        if value is not None:
            md[key] = json.dumps(value)
    if meta.target is not None:
        md["target"] = str(meta.target)
    md["design"] = json.dumps(project.to_dict(), separators=(",", ":"))
    return md


def _versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import torch

    return {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}


def export_onnx(model, project, path, *, opset: int = DEFAULT_OPSET, verify: bool = True, meta=None,
                include_normalization: bool = False, atol: float = DEFAULT_ATOL, seed: int = 0,
                save_report: bool = True, log=None) -> ExportReport:
    """Export `model`'s current weights (a module from engine.build_model(project) or engine.runs.load_run)
    to ONNX at `path`, verify it, and return the report (also saved to `<path>.verify.json`).

    - input `sequence` (batch, time, features), output `prediction`; batch always dynamic, time dynamic
      when the design's Input has timesteps=null.
    - meta: engine.runs.RunMeta (or its dict) with normalization stats, column names, task, classes;
      written to metadata_props. None: a bare design (project name and task only).
    - include_normalization: fold x' = (x - x_mean)/x_std (and y = y'*y_std + y_mean for regression)
      into the graph, so it takes and returns raw values.
    - verify: checker + structure + onnxruntime vs eager (see exports.verify). On failure raises
      VerificationError (report attached and saved), and `path` is not written.
    Raises ExportError (one line, nothing written at `path`) when the export cannot be made.
    `log`: optional callable(str) for progress lines (the CLI prints them).
    """
    import copy

    import onnx
    import torch

    from engine import check

    t0 = time.perf_counter()
    say = log or (lambda s: None)
    path = Path(path)
    res = check(project)
    if not res.ok:
        raise ExportError("invalid design: " + res.errors[0].message +
                          (f" (and {len(res.errors) - 1} more error(s))" if len(res.errors) > 1 else ""))
    problems = opset_problems(project, opset)
    if problems:
        raise ExportError(problems[0])
    check_writable(path)
    rpath = report_path_for(path) if save_report else None
    meta = _as_meta(meta, project)
    input_shape, output_shape = tuple(res.input_shape()), tuple(res.output_shape())
    features = input_shape[2]
    dynamic_time = input_shape[1] is None
    regression = (meta.task or "regression") != "classification"
    if include_normalization:
        if meta.x_mean is None or meta.x_std is None:
            raise ExportError("--include-normalization needs the normalization statistics of a trained run, "
                              "and this export has none (a bare design, or a run trained without "
                              "normalization): export a run folder, or leave the option out")
        if len(meta.x_mean) != features or len(meta.x_std) != features:
            raise ExportError(f"the run's normalization has {len(meta.x_mean)} feature means but the design "
                              f"takes {features} features: the run and its design do not match")

    # Work on a float32 CPU copy in eval mode: the caller's module (maybe training, maybe on a GPU) is
    # left untouched.
    core = copy.deepcopy(model).to("cpu", torch.float32).eval()
    for prm in core.parameters():
        prm.requires_grad_(False)
    module = _normalized_model(core, meta, regression).eval() if include_normalization else core

    trace_len = TRACE_LENGTH if dynamic_time else input_shape[1]
    example = torch.randn(2, trace_len, features, generator=torch.Generator().manual_seed(seed))
    dyn = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}
    if dynamic_time:
        dyn[INPUT_NAME][1] = "time"
        if len(output_shape) == 3:
            dyn[OUTPUT_NAME][1] = "time"

    import io

    buf = io.BytesIO()
    try:
        with warnings.catch_warnings(), quiet_stdout():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (example,), buf, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_axes=dyn, opset_version=opset, dynamo=False, do_constant_folding=True)
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ExportError(f"the ONNX exporter cannot express this design at opset {opset}: {first} "
                          f"(try a later --opset, up to {MAX_OPSET})") from None
    proto = onnx.load_from_string(buf.getvalue())
    proto.producer_name = "rnn-studio"
    from engine import __version__

    proto.producer_version = __version__
    proto.doc_string = (f"RNN Studio design '{project.name}': input '{INPUT_NAME}' "
                        f"{_shape_names(input_shape, dynamic_time)}, output '{OUTPUT_NAME}' "
                        f"{_shape_names(output_shape, dynamic_time)}")
    md = build_metadata(project, meta, include_normalization=include_normalization,
                        input_shape=_shape_names(input_shape, dynamic_time),
                        output_shape=_shape_names(output_shape, dynamic_time), opset=opset)
    del proto.metadata_props[:]
    for k, v in md.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    data = proto.SerializeToString()
    ops = op_counts(proto)
    report = ExportReport(
        path=str(path), report_path=str(rpath) if rpath else None, project_name=project.name, opset=opset,
        input_shape=_shape_names(input_shape, dynamic_time), output_shape=_shape_names(output_shape, dynamic_time),
        dynamic_time=dynamic_time, include_normalization=include_normalization, ops=ops,
        recurrent_nodes={k: v for k, v in ops.items() if k in RECURRENT_OPS}, metadata=md,
        file_bytes=len(data), tolerance=atol, versions=_versions())

    tmp = temp_path(path)
    try:
        try:
            write_bytes(tmp, data)
        except OSError as e:
            raise ExportError(f"{path}: cannot write ({e.strerror or e})") from None
        say(f"exported {project.name!r} to ONNX opset {opset} ({len(data) / 1024:.0f} KiB; "
            + ", ".join(f"{k} x{v}" for k, v in report.recurrent_nodes.items()) + ")"
            if report.recurrent_nodes else f"exported {project.name!r} to ONNX opset {opset} "
                                           f"({len(data) / 1024:.0f} KiB)")
        if verify:
            scale = 1.0
            if include_normalization and regression and meta.y_std is not None:
                scale = max(1.0, abs(float(meta.y_std)))
            v = verify_onnx(tmp, module, input_shape, project=project, atol=atol, trace_length=trace_len,
                            seed=seed + 1, input_mean=meta.x_mean if include_normalization else None,
                            input_std=meta.x_std if include_normalization else None, scale=scale)
            report.verified = True
            report.passed = v.passed
            report.checker = v.checker
            report.structure_problems = v.structure_problems
            report.max_abs_diff = v.max_abs_diff
            report.cases = [asdict(c) for c in v.cases]
            report.tolerance = atol * scale
            report.message = v.message
            for c in v.cases:
                say(f"  onnxruntime vs PyTorch  batch {c.batch:>2}  length {c.time:>3}  "
                    f"max |diff| {c.max_abs_diff:.2e}  {'ok' if c.passed else 'FAIL'}")
        else:
            report.message = "not verified (--no-verify)"
        report.seconds = round(time.perf_counter() - t0, 3)
        if report.verified and not report.passed:
            remove_quietly(tmp)
            tmp = None
            _save_report(report, rpath)
            raise VerificationError(
                f"verification failed: {report.message}; {path} was not written"
                + (f" (report: {rpath})" if rpath else ""), report)
        publish(tmp, path)
        tmp = None
        _save_report(report, rpath)
    finally:
        remove_quietly(tmp)
    return report


def _save_report(report: ExportReport, rpath: Path | None) -> None:
    if rpath is None:
        return
    tmp = temp_path(rpath)
    try:
        write_bytes(tmp, report.to_json().encode("utf-8"))
        publish(tmp, rpath)
        tmp = None
    except OSError as e:
        raise ExportError(f"{rpath}: cannot write the report ({e.strerror or e})") from None
    finally:
        remove_quietly(tmp)


def read_metadata(path) -> dict[str, str]:
    """metadata_props of an .onnx file as a dict (what a deployment reads back)."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in proto.metadata_props}
