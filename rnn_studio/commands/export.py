"""export: a run folder (trained weights) or a design file (fresh, seeded weights) -> verified ONNX, or
standalone PyTorch source + weights."""

from __future__ import annotations

import sys
from pathlib import Path

from rnn_studio.engine.limits import excerpt

from ..cli import EXIT_VERIFY, UserError, load_design


def register(sub) -> None:
    p = sub.add_parser(
        "export",
        help="export a trained run or a design to verified ONNX (or PyTorch source)",
        description="Export a run folder's trained weights, or a design file with fresh seeded weights, to ONNX "
        "(verified against PyTorch with onnxruntime; report saved as OUTPUT.verify.json) or to a "
        "standalone PyTorch module (--format pytorch -o model.py, weights in model.pt). "
        "Exit 2: the export cannot be made; exit 3: verification failed. No partial file is left.",
    )
    p.add_argument("source", metavar="RUN_OR_DESIGN", help="a run folder (runs/...) or a design file (.rnn.json)")
    p.add_argument("-o", "--output", required=True, help="output file: model.onnx, or model.py with --format pytorch")
    p.add_argument(
        "--format",
        choices=("onnx", "pytorch"),
        default=None,
        help="onnx (default) or pytorch; a .py output implies pytorch",
    )
    p.add_argument("--opset", type=int, default=None, help="ONNX opset, 9..20 (default 17)")
    p.add_argument(
        "--checkpoint", choices=("best", "last"), default=None, help="which checkpoint of a run folder (default best)"
    )
    p.add_argument(
        "--no-verify", dest="verify", action="store_false", help="skip the numerical verification (not recommended)"
    )
    p.add_argument(
        "--include-normalization",
        action="store_true",
        help="fold the run's input scaling (and target de-scaling for regression) into the ONNX graph",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for fresh weights of a bare design (default 0)")
    p.add_argument(
        "--precision",
        choices=("fp32", "fp16", "int8"),
        default=None,
        help="fp32 (default), fp16 (float32 inputs/outputs; GRU/RNN kept fp32) or int8 (onnxruntime dynamic "
        "quantization; GRU/RNN kept fp32 and named); reports size, p50 latency and the difference from fp32, "
        "and for a run the validation metric of both",
    )
    p.add_argument(
        "--max-delta",
        type=float,
        default=None,
        metavar="X",
        help="a run: fail (exit 3, nothing written) when the precision loses more than X of the validation "
        "metric against fp32 (RMSE up / accuracy down)",
    )
    p.set_defaults(func=cmd_export)


def load_source(args):
    """(project, model, meta, what) for a run folder or a design file."""
    from rnn_studio.engine import check
    from rnn_studio.engine.training import runs

    src = Path(args.source)
    if src.is_dir():
        if not runs.is_run_dir(src):
            raise UserError(
                f"{src}: not a run folder (no project.rnn.json) and not a design file: pass a folder "
                f"under runs/ or a .rnn.json design"
            )
        refuse_unexportable(load_design(str(src / "project.rnn.json")), args.verify)  # before loading weights
        which = args.checkpoint or "best"
        try:
            project, model, meta = runs.load_run(src, which)
        except runs.RunError as e:
            raise UserError(str(e)) from None
        except Exception as e:  # DesignError from an invalid snapshot, mismatched state_dict
            raise UserError(f"{src}: cannot rebuild the run's model ({str(e).splitlines()[0]})") from None
        return project, model, meta, f"run {src.name} ({which} checkpoint)"
    if not src.exists():
        raise UserError(f"{src}: no such run folder or design file")
    if args.checkpoint:
        print(
            f"note: --checkpoint applies to run folders; {src} is a design file, exporting fresh weights "
            f"(seed {args.seed})",
            file=sys.stderr,
        )
    project = load_design(str(src))
    res = check(project)
    if not res.ok:
        more = f" (and {len(res.errors) - 1} more; run `rnn-studio check {src}`)" if len(res.errors) > 1 else ""
        raise UserError(f"invalid design: {res.errors[0].message}{more}")
    refuse_unexportable(project, args.verify, res)
    import torch

    from rnn_studio.engine import build_model

    torch.manual_seed(args.seed)
    model = build_model(project, res).eval()
    return project, model, None, f"design {src.name} (fresh weights, seed {args.seed}, untrained)"


def refuse_unexportable(project, verify: bool, res=None) -> None:
    """Exit 2 before building the model when it cannot fit in memory, or when verifying it would run a
    fixed-length Input of more time steps than the verification limit (a 100,000-step GRU takes hours)."""
    from rnn_studio.engine import check, limits
    from rnn_studio.engine.design.resources import export_fit

    res = res or check(project)
    if res.resources is None:
        return  # an invalid snapshot: loading the run reports it
    level, line = export_fit(res.resources)
    if level == "error":
        raise UserError(line)
    shape, cap = res.input_shape(), limits.MAX_VERIFY_STEPS.int_value()
    if verify and shape is not None and len(shape) == 3 and shape[1] is not None and shape[1] > cap:
        raise UserError(
            f"Input '{res.input_id}': timesteps {shape[1]:,} is more than the {cap:,} steps export "
            f"verifies: set timesteps=null (verified at several lengths), export with --no-verify, or "
            f"{limits.MAX_VERIFY_STEPS.hint()}"
        )


def cmd_export(args) -> int:
    from rnn_studio.exports import DEFAULT_OPSET, ExportError, VerificationError, export_onnx, export_pytorch
    from rnn_studio.exports._files import check_writable

    out = Path(args.output)
    from rnn_studio.engine.design.settings import validate_training

    for line in validate_training({"seed": args.seed}, flags=True):
        raise UserError(line)
    if args.opset is not None and not 1 <= args.opset <= 99:
        raise UserError(f"--opset must be an ONNX opset such as 17 (9..20 here), received {excerpt(args.opset)}")
    try:
        check_writable(out)  # a folder, a device (/dev/full), a FIFO, a missing folder: before any work
    except ExportError as e:
        raise UserError(str(e)) from None
    fmt = args.format or ("pytorch" if out.suffix == ".py" else "onnx")
    if fmt == "pytorch":
        if args.include_normalization:
            raise UserError(
                "--include-normalization applies to --format onnx; the PyTorch export records the "
                "normalization statistics as constants in the generated file"
            )
        if args.opset is not None:
            raise UserError("--opset applies to --format onnx")
        if out.suffix != ".py":
            raise UserError(f"{out}: --format pytorch writes Python source; name the output *.py")
    _check_precision_flags(args, fmt)
    project, model, meta, what = load_source(args)
    metric = _run_metric(args, meta)
    print(f"exporting {what}")
    try:
        if fmt == "pytorch":
            rep = export_pytorch(model, project, out, meta=meta, verify=args.verify, log=print)
            return 0
        rep = export_onnx(
            model,
            project,
            out,
            opset=args.opset or DEFAULT_OPSET,
            verify=args.verify,
            meta=meta,
            include_normalization=args.include_normalization,
            seed=args.seed,
            log=print,
            precision=args.precision,
            metric=metric,
            max_delta=args.max_delta,
            intervals=_intervals(args),
        )
    except VerificationError as e:
        raise UserError(str(e), code=EXIT_VERIFY) from None
    except ExportError as e:
        raise UserError(str(e)) from None
    if rep.verified:
        print(
            f"verified: max abs diff {rep.max_abs_diff:.2e} <= {rep.tolerance:.0e} "
            f"({len(rep.cases)} cases; ONNX checker {rep.checker})"
        )
    else:
        print("warning: not verified (--no-verify); the model may differ from PyTorch", file=sys.stderr)
    print(
        f"wrote {out}  (input '{rep.input_name}' {rep.input_shape} -> output '{rep.output_name}' "
        f"{rep.output_shape}); report {rep.report_path}"
    )
    if Path(args.source).is_dir():
        _add_to_mlflow_run(Path(args.source), [out, rep.report_path])
    return 0


def _check_precision_flags(args, fmt: str) -> None:
    import math

    if fmt == "pytorch" and (args.precision or args.max_delta is not None):
        raise UserError("--precision and --max-delta apply to --format onnx")
    if args.max_delta is None:
        return
    if not math.isfinite(args.max_delta) or args.max_delta < 0:
        raise UserError(f"--max-delta must be a number >= 0 (an allowed metric loss), received {args.max_delta}")
    if not Path(args.source).is_dir():
        raise UserError(
            "--max-delta compares the validation metric of a trained run: export a run folder, or leave it out"
        )
    if args.precision in (None, "fp32"):
        raise UserError("--max-delta needs --precision fp16 or int8 (fp32 is the reference)")


def _run_metric(args, meta):
    """The run's validation metric as a function of ONNX bytes, for a precision export of a run; None for a
    design, a plain fp32 export, or (with a warning) a run whose data cannot be read again."""
    if args.precision in (None, "fp32") or not Path(args.source).is_dir():
        return None
    from rnn_studio.exports.precision import run_metric

    try:
        return run_metric(Path(args.source), meta, args.include_normalization)
    except ValueError as e:
        if args.max_delta is not None:
            raise UserError(f"--max-delta: {e}") from None
        print(f"warning: no validation metric: {e}", file=sys.stderr)
        return None


def _intervals(args):
    """A run folder's prediction intervals (intervals.json), for the ONNX metadata; None otherwise."""
    from rnn_studio.engine.data import DataError
    from rnn_studio.engine.training.intervals import load_intervals

    if not Path(args.source).is_dir():
        return None
    try:
        return load_intervals(args.source)
    except DataError as e:
        raise UserError(str(e)) from None


def _add_to_mlflow_run(run_dir: Path, files) -> None:
    """A run that was logged to MLflow (<run>/tracking.json) gets the exported files as artifacts. The
    export itself has succeeded: a tracking problem is a warning, not a failure."""
    from rnn_studio.engine.training.tracking import log_export

    try:
        run_id = log_export(run_dir, files)
    except Exception as e:  # noqa: BLE001 - package missing, server down: say so, keep exit 0
        line = (str(e).strip().splitlines() or [type(e).__name__])[0]
        print(f"warning: the export was not added to the run's MLflow run ({line})", file=sys.stderr)
        return
    if run_id:
        print(f"added {', '.join(Path(f).name for f in files)} to MLflow run {run_id}")
