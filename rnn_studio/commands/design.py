"""check, summary, schema, blocks: design verbs that need no torch."""

from __future__ import annotations

import json
import sys

from rnn_studio.engine import CATALOG, CATEGORIES, check, fmt_shape
from rnn_studio.engine.design.resources import human_bytes
from rnn_studio.engine.design.schema import project_schema
from rnn_studio.engine.limits import printable

from ..cli import EXIT_BAD_INPUT, UserError, load_design


def register(sub) -> None:
    p = sub.add_parser("check", help="check a design: shapes per block, errors, warnings (exit 2 if invalid)")
    p.add_argument("design", help="project file (.rnn.json)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _length_flag(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("summary", help="Keras-like table: block, type, output shape, parameters, MACs")
    p.add_argument("design")
    _length_flag(p)
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("schema", help="print the JSON Schema of the project format")
    p.set_defaults(func=lambda args: print(json.dumps(project_schema(), indent=2)) or 0)

    p = sub.add_parser("blocks", help="list the block catalog with params and defaults")
    p.add_argument("--markdown", action="store_true", help="the reference table used in the docs")
    p.set_defaults(func=cmd_blocks)


def _length_flag(p) -> None:
    p.add_argument(
        "--length",
        type=int,
        default=None,
        metavar="T",
        help="time steps the per-block cost (MACs, bytes) is counted at for a variable-length Input "
        "(default: the training lookback, else 32); a fixed timesteps wins",
    )


def checked(args):
    """(project, check result) at `--length`; exit 2 on a bad --length."""
    if args.length is not None and not 1 <= args.length <= 1_000_000:
        raise UserError(f"--length must be a number of time steps, 1..1000000, received {args.length}")
    project = load_design(args.design)
    return project, check(project, length=args.length)


def cost_json(res) -> dict:
    """`blocks` and `totals` of `check --json` (engine/design/cost.py)."""
    return {
        "blocks": {bid: cost.to_dict() for bid, cost in res.costs.items()},
        "totals": res.cost_totals(),
    }


def cmd_check(args) -> int:
    project, res = checked(args)
    if args.json:
        print(
            json.dumps(
                {
                    "valid": res.ok,
                    "name": project.name,
                    "parameters": res.total_params,
                    "shapes": {k: (list(v) if v is not None else None) for k, v in res.shapes.items()},
                    "problems": [{"level": p.level, "block": p.block, "message": p.message} for p in res.problems],
                    "resources": res.resources.to_dict() if res.resources is not None else None,
                    **cost_json(res),
                },
                indent=2,
            )
        )
        return 0 if res.ok else EXIT_BAD_INPUT
    types = {b.id: b.type for b in project.blocks}
    if res.ok:
        width = max((len(i) for i in res.order), default=0)
        for bid in res.order:
            print(f"  {bid:<{width}}  {types[bid]:<22} {fmt_shape(res.shapes[bid])}")
    for prob in res.warnings:
        print(f"warning: {prob.message}")
    for prob in res.errors:
        print(f"error: {prob.message}", file=sys.stderr)
    if res.ok:
        macs = res.cost_totals()["macs"]
        print(
            f"{printable(project.name)}: valid, {res.resources.summary_line()}, {macs:,} MACs per sample at "
            f"{res.cost_length} steps, {len(res.warnings)} warning(s)"
        )
        return 0
    print(f"{printable(project.name)}: {len(res.errors)} error(s)", file=sys.stderr)
    return EXIT_BAD_INPUT


def _describe(block) -> str:
    return CATALOG[block.type].describe(block.resolved())


def torch_only_biases(project) -> dict[str, int]:
    """{block id: parameters PyTorch holds and Keras does not}: the second bias vector (b_hh) of LSTM and
    SimpleRNN blocks, which Keras folds into one bias (BlockDef.torch_only_biases per unit)."""
    out = {}
    for b in project.blocks:
        per_unit = CATALOG[b.type].torch_only_biases if b.type in CATALOG else 0
        if per_unit:
            p = b.resolved()
            dirs = 2 if p.get("bidirectional") else 1
            out[b.id] = per_unit * int(p["units"]) * dirs * int(p.get("num_layers", 1))
    return out


def cmd_summary(args) -> int:
    project, res = checked(args)
    if not res.ok:
        for prob in res.errors:
            print(f"error: {prob.message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    blocks = {b.id: b for b in project.blocks}
    rows = [
        (
            f"{bid} ({_describe(blocks[bid])})",
            fmt_shape(res.shapes[bid]),
            f"{res.param_counts[bid]:,}",
            f"{res.costs[bid].macs:,}",
            ", ".join(project.inputs_of(bid)),
        )
        for bid in res.order
    ]
    head = ("Block (type)", "Output shape", "Param #", "MACs", "Connected to")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(5)]
    line = "-" * (sum(widths) + 8)

    def fmt(r):
        return f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}  {r[4]}".rstrip()

    print(f'Model: "{printable(project.name)}"')
    print(line)
    print(fmt(head))
    print("=" * len(line))
    for r in rows:
        print(fmt(r))
    print(line)
    print(f"Total params: {res.total_params:,}")
    print(f"Trainable params: {res.total_params:,}")
    print(
        f"MACs per sample: {res.cost_totals()['macs']:,} at {res.cost_length} time steps "
        f"(multiply-accumulates of weights; biases and element-wise work left out: docs/export.md)"
    )
    extra = torch_only_biases(project)
    if extra:
        where = ", ".join(f"{bid} +{n:,}" for bid, n in extra.items())
        print(
            f"Keras counts {res.total_params - sum(extra.values()):,}: PyTorch's LSTM / SimpleRNN layers keep two "
            f"bias vectors (b_ih and b_hh) where Keras keeps one ({where}); the model computes the same"
        )
    print(f"Input: {fmt_shape(res.input_shape())}  ->  Output: {fmt_shape(res.output_shape())}")
    if res.resources is not None:
        r = res.resources
        print(
            f"Training memory: ~{human_bytes(r.training_bytes)} (weights {human_bytes(r.weights_bytes)}, gradients "
            f"{human_bytes(r.gradients_bytes)}, optimizer {human_bytes(r.optimizer_bytes)}, activations "
            f"{human_bytes(r.activation_bytes)} for batch {r.batch_size:,} x {r.length:,} steps)"
        )
    for prob in res.warnings:
        print(f"warning: {prob.message}")
    return 0


def cmd_blocks(args) -> int:
    if args.markdown:
        from rnn_studio.engine.design.schema import catalog_markdown

        print(catalog_markdown(), end="")
        return 0
    for cat in CATEGORIES:
        print(f"{cat}:")
        for d in CATALOG.values():
            if d.category != cat:
                continue
            n = "any" if d.max_inputs is None else d.max_inputs
            print(f"  {d.type}  (inputs: {d.min_inputs}..{n})  {d.help}")
            for p in d.params:
                default = json.dumps(p.default)
                print(f"      {p.name:<22} {p.kind:<6} default {default:<10} {p.range_text()}  {p.help}")
    return 0
