"""profile: measured latency of a design or run, end to end and per block (onnxruntime's profiler)."""

from __future__ import annotations

import argparse
import json

from ..cli import UserError


def register(sub) -> None:
    p = sub.add_parser(
        "profile",
        help="measure latency end to end and per block (ONNX in memory, onnxruntime profiler)",
        description="Export the design or run to ONNX in memory (optionally fp16 / int8), run it with "
        "onnxruntime's profiler on random inputs with pinned threads, and report p50 / p90 latency and the "
        "time of each block (its nodes), with the rest as overhead. Nothing is written.",
    )
    p.add_argument("source", metavar="DESIGN_OR_RUN", help="a design file (.rnn.json) or a run folder")
    p.add_argument("--batch", type=int, default=1, help="sequences per call (default 1)")
    p.add_argument(
        "--length", type=int, default=None, metavar="T", help="time steps for a variable-length Input (default 32)"
    )
    p.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="fp32", help="default fp32")
    p.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads (default 1; inter-op 1)")
    p.add_argument("--checkpoint", choices=("best", "last"), default=None, help="a run's checkpoint (default best)")
    p.add_argument("--seed", type=int, default=0, help="seed for a bare design's weights and the inputs")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_profile)


def _check_flags(args) -> None:
    if not 1 <= args.batch <= 65536:
        raise UserError(f"--batch must be 1..65536, received {args.batch}")
    if args.length is not None and not 1 <= args.length <= 100_000:
        raise UserError(f"--length must be 1..100000 time steps, received {args.length}")
    if not 1 <= args.threads <= 256:
        raise UserError(f"--threads must be 1..256, received {args.threads}")


def run_profile(project, model, meta, *, batch: int, length: int | None, precision: str, threads: int, seed: int):
    """(Profile, check result): the CLI and the designer's Profile action call this."""
    from rnn_studio.engine import check
    from rnn_studio.engine.design.compile import token_vocabulary
    from rnn_studio.exports import onnx_bytes
    from rnn_studio.exports.precision import convert
    from rnn_studio.exports.profile import profile_onnx
    from rnn_studio.exports.verify import sample_input

    res = check(project, length=length)
    shape = res.input_shape()
    fixed = shape[1]
    if fixed is not None and length is not None and length != fixed:
        raise UserError(f"--length {length}: Input '{res.input_id}' has a fixed timesteps of {fixed}; leave it out")
    steps = fixed if fixed is not None else res.cost_length
    data = onnx_bytes(model, project, meta=meta, seed=seed)
    converted = convert(data, precision)
    sample = sample_input(batch, steps, shape[2], seed + 1, tokens=token_vocabulary(project, res)).numpy()
    prof = profile_onnx(converted.data, res.order, sample, threads=threads, design=project.name, precision=precision)
    prof.kept_fp32 = converted.kept_fp32
    return prof, res


def cmd_profile(args) -> int:
    from rnn_studio.exports import ExportError

    from .export import load_source

    _check_flags(args)
    load_args = argparse.Namespace(source=args.source, checkpoint=args.checkpoint, verify=False, seed=args.seed)
    project, model, meta, what = load_source(load_args)
    try:
        prof, res = run_profile(
            project,
            model,
            meta,
            batch=args.batch,
            length=args.length,
            precision=args.precision,
            threads=args.threads,
            seed=args.seed,
        )
    except ExportError as e:
        raise UserError(str(e)) from None
    if args.json:
        print(json.dumps(prof.to_dict(), indent=2))
        return 0
    _print_table(prof, res, project, what)
    return 0


def _print_table(prof, res, project, what: str) -> None:
    types = {b.id: b.type for b in project.blocks}
    print(f"profiling {what}")
    print(
        f"{prof.precision}, batch {prof.batch}, {prof.length} steps, onnxruntime {prof.onnxruntime} CPU, "
        f"{prof.threads} intra-op thread(s), inter-op 1; {prof.runs} timed calls after 10 warm-up calls"
    )
    width = max([len(b) for b in prof.blocks] + [5])
    print(f"  {'block':<{width}}  {'type':<20} {'MACs':>13}  {'ms':>9}  share")
    for bid, t in prof.blocks.items():
        macs = res.costs[bid].macs if bid in res.costs else 0
        print(f"  {bid:<{width}}  {types.get(bid, ''):<20} {macs:>13,}  {t['ms']:>9.4f}  {t['share']:>5.1%}")
    print(
        f"  {'overhead':<{width}}  {'':<20} {'':>13}  {prof.overhead_ms:>9.4f}  {prof.overhead_ms / prof.p50_ms:>5.1%}"
    )
    print(f"p50 {prof.p50_ms:.4f} ms, p90 {prof.p90_ms:.4f} ms per call")
    if prof.kept_fp32:
        print(f"kept in fp32: {', '.join(prof.kept_fp32)}")
