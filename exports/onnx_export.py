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
from pathlib import Path

from ._files import check_writable, publish, quiet_stdout, remove_quietly, temp_path, write_bytes
from .errors import ExportError, VerificationError
from .precision import PRECISIONS, apply_precision, precision_failed
from .result import DEFAULT_OPSET, EXPORTER, INPUT_NAME, OUTPUT_NAME, ExportResult
from .verify import DEFAULT_ATOL, RECURRENT_OPS, op_counts, verify_onnx

MIN_OPSET = 9  # opsets 7-8 export GRU with ConstantFill, which onnxruntime cannot run
MAX_OPSET = 20  # the TorchScript exporter's highest opset
MASKED_MIN_OPSET = 11  # a recurrent block honouring a padding mask (engine/design/layers.py Recurrent._masked)
TRACE_LENGTH = 8  # length of the example input when time is dynamic
REPORT_SUFFIX = ".verify.json"
ExportReport = ExportResult  # its earlier name; scripts that import it keep working


def report_path_for(path) -> Path:
    """Where the verification report of `path` is saved: model.onnx -> model.onnx.verify.json."""
    path = Path(path)
    return path.with_name(path.name + REPORT_SUFFIX)


def opset_problems(project, opset: int) -> list[str]:
    """Blocks that the chosen opset cannot express, one line each naming the block and the fix."""
    from rnn_studio.engine import CATALOG, check

    if isinstance(opset, bool) or not isinstance(opset, int):
        return [f"opset must be a whole number, received {opset!r}"]
    if not MIN_OPSET <= opset <= MAX_OPSET:
        return [
            f"opset {opset} is not supported: choose {MIN_OPSET}..{MAX_OPSET} (the TorchScript exporter "
            f"tops out at {MAX_OPSET}; below {MIN_OPSET} GRU/LSTM exports cannot run in onnxruntime)"
        ]
    from rnn_studio.engine.design.compile import masked_recurrent_blocks

    out = []
    res = check(project)
    blocks = {b.id: b for b in project.blocks}
    masked = masked_recurrent_blocks(project, res) if res.ok else {}
    for bid in res.order:
        b = blocks[bid]
        need, why = CATALOG[b.type].min_opset(b.resolved()) or (0, "")
        if bid in masked and need < MASKED_MIN_OPSET:
            need, why = MASKED_MIN_OPSET, "skipping padded steps uses CumSum and ScatterElements"
        if opset < need:
            out.append(
                f"{b.type} '{bid}' needs opset {need} or later ({why}); received --opset {opset}: "
                f"use --opset {max(need, DEFAULT_OPSET)}"
            )
    return out


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
    from rnn_studio.engine.training.runs import RunMeta

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


def build_metadata(
    project, meta, *, include_normalization: bool, input_shape, output_shape, opset: int, intervals=None
) -> dict[str, str]:
    """metadata_props: plain strings for names, JSON for numbers and lists; unknown keys left out."""
    from rnn_studio.engine import __version__

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
    for key in ("y_mean", "y_std", "lookback", "horizon", "steps", "season"):
        value = getattr(meta, key)
        if value is not None:
            md[key] = json.dumps(value)
    if meta.target is not None:
        md["target"] = str(meta.target)
    if intervals is not None:  # engine/training/intervals.py: lower/upper = prediction -/+ half_width[step][target]
        iv = {k: v for k, v in intervals.to_dict().items() if k != "abs_residuals"}  # the widths, not the residuals
        md["intervals"] = json.dumps(iv, separators=(",", ":"))
    md["design"] = json.dumps(project.to_dict(), separators=(",", ":"))
    return md


def _versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import torch

    return {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}


def _check_inputs(project, opset: int, path: Path, meta, include_normalization: bool):
    """The design's check result; ExportError (nothing written) when the export cannot be made."""
    from rnn_studio.engine import check

    res = check(project)
    if not res.ok:
        raise ExportError(
            "invalid design: "
            + res.errors[0].message
            + (f" (and {len(res.errors) - 1} more error(s))" if len(res.errors) > 1 else "")
        )
    problems = opset_problems(project, opset)
    if problems:
        raise ExportError(problems[0])
    check_writable(path)
    shape = res.input_shape()
    assert shape is not None  # a valid design has an Input
    features = shape[2]
    if include_normalization:
        if meta.x_mean is None or meta.x_std is None:
            raise ExportError(
                "--include-normalization needs the normalization statistics of a trained run, "
                "and this export has none (a bare design, or a run trained without "
                "normalization): export a run folder, or leave the option out"
            )
        if len(meta.x_mean) != features or len(meta.x_std) != features:
            raise ExportError(
                f"the run's normalization has {len(meta.x_mean)} feature means but the design "
                f"takes {features} features: the run and its design do not match"
            )
    return res


def _trace(module, input_shape, output_shape, opset: int, seed: int, tokens: int | None = None) -> bytes:
    """The ONNX bytes of `module` (batch dynamic; time dynamic when the Input's timesteps is null); `tokens`:
    the input is int64 token ids below this."""
    import io

    import torch

    from .verify import sample_input

    dynamic_time = input_shape[1] is None
    trace_len = TRACE_LENGTH if dynamic_time else input_shape[1]
    example = sample_input(2, trace_len, input_shape[2], seed, tokens=tokens)
    dyn = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}
    if dynamic_time:
        dyn[INPUT_NAME][1] = "time"
        if len(output_shape) == 3:
            dyn[OUTPUT_NAME][1] = "time"
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings(), quiet_stdout():
            warnings.simplefilter("ignore")
            # a file-like target is documented by torch; its type stub lists paths only
            torch.onnx.export(
                module,
                (example,),
                buf,  # type: ignore[arg-type]
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes=dyn,
                opset_version=opset,
                dynamo=False,
                do_constant_folding=True,
            )
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        if isinstance(e, MemoryError) or "can't allocate memory" in first or "out of memory" in first.lower():
            raise ExportError(
                f"not enough memory to trace this design for ONNX ({type(e).__name__}: {first}): free memory, "
                f"or make the design smaller (units, time steps)"
            ) from None
        raise ExportError(
            f"the ONNX exporter cannot express this design at opset {opset}: {first} "
            f"(try a later --opset, up to {MAX_OPSET})"
        ) from None
    return buf.getvalue()


def _finish_proto(raw: bytes, project, md: dict[str, str], input_names: list, output_names: list) -> bytes:
    """Producer, doc string and metadata_props written into the traced model."""
    import onnx

    from rnn_studio.engine import __version__

    proto = onnx.load_from_string(raw)
    proto.producer_name = "rnn-studio"
    proto.producer_version = __version__
    proto.doc_string = (
        f"RNN Studio design '{project.name}': input '{INPUT_NAME}' {input_names}, output '{OUTPUT_NAME}' {output_names}"
    )
    del proto.metadata_props[:]
    for k, v in md.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    return proto.SerializeToString()


def _verify_into(
    result: ExportResult,
    tmp: Path,
    module,
    project,
    input_shape,
    meta,
    *,
    atol: float,
    seed: int,
    include_normalization: bool,
    regression: bool,
    say,
) -> None:
    """Run exports.verify on the written file and copy its findings into `result`."""
    scale = 1.0
    if include_normalization and regression and meta.y_std is not None:
        scale = max(1.0, abs(float(meta.y_std)))
    v = verify_onnx(
        tmp,
        module,
        input_shape,
        project=project,
        atol=atol,
        trace_length=TRACE_LENGTH if input_shape[1] is None else input_shape[1],
        seed=seed + 1,
        input_mean=meta.x_mean if include_normalization else None,
        input_std=meta.x_std if include_normalization else None,
        scale=scale,
        tokens=_tokens(project),
    )
    result.verified = True
    result.passed = v.passed
    result.checker = v.checker
    result.structure_problems = v.structure_problems
    result.max_abs_diff = v.max_abs_diff
    result.cases = list(v.cases)
    result.tolerance = atol * scale
    result.message = v.message
    for c in v.cases:
        say(
            f"  onnxruntime vs PyTorch  batch {c.batch:>2}  length {c.time:>3}  "
            f"max |diff| {c.max_abs_diff:.2e}  {'ok' if c.passed else 'FAIL'}"
        )


def export_onnx(
    model,
    project,
    path,
    *,
    opset: int = DEFAULT_OPSET,
    verify: bool = True,
    meta=None,
    include_normalization: bool = False,
    atol: float = DEFAULT_ATOL,
    seed: int = 0,
    save_report: bool = True,
    log=None,
    precision: str | None = None,
    metric=None,
    max_delta: float | None = None,
    intervals=None,
) -> ExportResult:
    """Export `model`'s current weights (a module from engine.build_model(project) or engine.training.runs.load_run)
    to ONNX at `path`, verify it, and return the ExportResult (also saved to `<path>.verify.json`).

    - input `sequence` (batch, time, features), output `prediction`; batch always dynamic, time dynamic
      when the design's Input has timesteps=null.
    - meta: engine.training.runs.RunMeta (or its dict) with normalization stats, column names, task, classes;
      written to metadata_props. None: a bare design (project name and task only).
    - intervals: engine.training.intervals.Intervals of the run (load_intervals(run_dir)), written as the
      "intervals" metadata entry (JSON, the run folder's intervals.json) so a deployment can add them.
    - include_normalization: fold x' = (x - x_mean)/x_std (and y = y'*y_std + y_mean for regression)
      into the graph, so it takes and returns raw values.
    - verify: checker + structure + onnxruntime vs eager (see exports.verify). On failure raises
      VerificationError (result attached as `.report` and saved), and `path` is not written.
    Raises ExportError (one line, nothing written at `path`) when the export cannot be made.
    `log`: optional callable(str) for progress lines (the CLI prints them).
    - precision "fp32" / "fp16" / "int8", metric, max_delta: the verified fp32 graph converted and measured
      (exports/precision.py); a metric loss above `max_delta` raises VerificationError.
    """
    t0, say, path = time.perf_counter(), log or (lambda s: None), Path(path)
    meta = _as_meta(meta, project)
    res = _check_inputs(project, opset, path, meta, include_normalization)
    rpath = report_path_for(path) if save_report else None
    input_shape, output_shape = tuple(res.input_shape()), tuple(res.output_shape())
    dynamic_time = input_shape[1] is None
    regression = (meta.task or "regression") != "classification"
    module = _export_module(model, meta, regression, include_normalization)
    in_names, out_names = _shape_names(input_shape, dynamic_time), _shape_names(output_shape, dynamic_time)
    md = build_metadata(project, meta, include_normalization=include_normalization, input_shape=in_names,
                        output_shape=out_names, opset=opset, intervals=intervals)  # fmt: skip
    data = _finish_proto(
        _trace(module, input_shape, output_shape, opset, seed, _tokens(project, res)), project, md, in_names, out_names
    )
    result = _new_result(
        data, path, rpath, project, opset, in_names, out_names, dynamic_time, md, include_normalization, atol
    )
    _write_verified(
        result,
        data,
        path,
        rpath,
        say,
        t0,
        verify=verify,
        precision_args=_precision_args(
            precision, metric, max_delta, _precision_samples(input_shape, meta, include_normalization, seed, project)
        ),
        verify_args=dict(
            module=module,
            project=project,
            input_shape=input_shape,
            meta=meta,
            atol=atol,
            seed=seed,
            include_normalization=include_normalization,
            regression=regression,
        ),
    )
    return result


def onnx_bytes(model, project, *, opset: int = DEFAULT_OPSET, meta=None, seed: int = 0) -> bytes:
    """The unverified fp32 ONNX model of `model`, in memory (`rnn-studio profile`): the same trace, node names
    (`/<block id>/...`) and metadata as export_onnx. ExportError when the design cannot be exported."""
    from rnn_studio.engine import check

    meta = _as_meta(meta, project)
    res = check(project)
    if not res.ok:
        raise ExportError("invalid design: " + res.errors[0].message)
    problems = opset_problems(project, opset)
    if problems:
        raise ExportError(problems[0])
    input_shape, output_shape = tuple(res.input_shape()), tuple(res.output_shape())
    regression = (meta.task or "regression") != "classification"
    module = _export_module(model, meta, regression, False)
    dynamic_time = input_shape[1] is None
    in_names, out_names = _shape_names(input_shape, dynamic_time), _shape_names(output_shape, dynamic_time)
    md = build_metadata(
        project, meta, include_normalization=False, input_shape=in_names, output_shape=out_names, opset=opset
    )
    raw = _trace(module, input_shape, output_shape, opset, seed, _tokens(project, res))
    return _finish_proto(raw, project, md, in_names, out_names)


def _export_module(model, meta, regression: bool, include_normalization: bool):
    """A float32 CPU copy of `model` in eval mode, without gradients (the caller's module, maybe training,
    maybe on a GPU, is left untouched), wrapped in the normalization when it is folded in."""
    import copy

    import torch

    core = copy.deepcopy(model).to("cpu", torch.float32).eval()
    for prm in core.parameters():
        prm.requires_grad_(False)
    return _normalized_model(core, meta, regression).eval() if include_normalization else core


def _new_result(
    data: bytes,
    path: Path,
    rpath,
    project,
    opset: int,
    in_names,
    out_names,
    dynamic_time: bool,
    md,
    include_normalization: bool,
    atol: float,
) -> ExportResult:
    """The ExportResult of the built (not yet verified or written) model `data`."""
    ops = op_counts(_load_proto(data))
    return ExportResult(
        path=str(path),
        report_path=str(rpath) if rpath else None,
        project_name=project.name,
        opset=opset,
        input_shape=in_names,
        output_shape=out_names,
        dynamic_time=dynamic_time,
        include_normalization=include_normalization,
        ops=ops,
        recurrent_nodes={k: v for k, v in ops.items() if k in RECURRENT_OPS},
        metadata=md,
        file_bytes=len(data),
        tolerance=atol,
        versions=_versions(),
    )


def _tokens(project, res=None) -> int | None:
    """The token-id bound of a design with integer input (sample inputs are drawn below it); None = floats."""
    from rnn_studio.engine import check
    from rnn_studio.engine.design.compile import token_vocabulary

    return token_vocabulary(project, res or check(project))


def _load_proto(data: bytes):
    import onnx

    return onnx.load_from_string(data)


def _write_verified(
    result: ExportResult,
    data: bytes,
    path: Path,
    rpath: Path | None,
    say,
    t0: float,
    *,
    verify: bool,
    verify_args: dict,
    precision_args: dict | None = None,
) -> None:
    """Write to a temporary file, verify it there, and publish it (with the report) only when it passes."""
    size = f"{len(data) / 1024:.0f} KiB"
    nodes = ", ".join(f"{k} x{v}" for k, v in result.recurrent_nodes.items())
    written = temp_path(path)
    tmp: Path | None = written
    try:
        try:
            write_bytes(written, data)
        except OSError as e:
            raise ExportError(f"{path}: cannot write ({e.strerror or e})") from None
        say(
            f"exported {result.project_name!r} to ONNX opset {result.opset} ({size}" + (f"; {nodes})" if nodes else ")")
        )
        if verify:
            _verify_into(result, written, say=say, **verify_args)
        else:
            result.message = "not verified (--no-verify)"
        result.seconds = round(time.perf_counter() - t0, 3)
        if result.verified and not result.passed:
            remove_quietly(tmp)
            tmp = None
            _save_report(result, rpath)
            raise VerificationError(
                f"verification failed: {result.message}; {path} was not written"
                + (f" (report: {rpath})" if rpath else ""),
                result,
            )
        if precision_args is not None:
            _convert_written(result, data, written, rpath, path, say, precision_args)
        publish(written, path)
        tmp = None
        _save_report(result, rpath)
    finally:
        remove_quietly(tmp)


def _precision_args(precision: str | None, metric, max_delta, samples) -> dict | None:
    """What _convert_written needs; None for a plain fp32 export; ExportError for an unknown precision."""
    if precision is None:
        return None
    if precision not in PRECISIONS:
        raise ExportError(f"precision must be one of {', '.join(PRECISIONS)}, received {precision!r}")
    return dict(precision=precision, metric=metric, max_delta=max_delta, samples=samples)


def _precision_samples(input_shape, meta, include_normalization: bool, seed: int, project) -> list:
    """The verification inputs (numpy) a precision is compared with fp32 on."""
    from .verify import cases_for, sample_input

    tokens = _tokens(project)
    mean = meta.x_mean if include_normalization else None
    std = meta.x_std if include_normalization else None
    trace = TRACE_LENGTH if input_shape[1] is None else input_shape[1]
    return [
        sample_input(b, t, input_shape[2], seed + 1, mean=mean, std=std, tokens=tokens).numpy()
        for b, t in cases_for(input_shape, trace)
    ]


def _convert_written(result, data: bytes, written: Path, rpath, path: Path, say, args: dict) -> None:
    """Replace the verified fp32 temp file by its precision; VerificationError past --max-delta."""
    try:
        converted = apply_precision(result, data, say=say, **args)
    except ValueError as e:
        raise ExportError(str(e).splitlines()[0]) from None
    try:
        write_bytes(written, converted)
    except OSError as e:
        raise ExportError(f"{path}: cannot write ({e.strerror or e})") from None
    reason = precision_failed(result)
    if reason:
        result.passed = False
        result.message = reason
        _save_report(result, rpath)
        raise VerificationError(f"{reason}; {path} was not written" + (f" (report: {rpath})" if rpath else ""), result)


def _save_report(report: ExportResult, rpath: Path | None) -> None:
    if rpath is None:
        return
    written = temp_path(rpath)
    tmp: Path | None = written
    try:
        write_bytes(written, report.to_json().encode("utf-8"))
        publish(written, rpath)
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
