"""import: a Keras 3 .keras file or an ONNX file -> a design file + a run folder holding the imported
weights, so export / evaluate / predict / train --init-from work on it unchanged."""

from __future__ import annotations

import sys
from pathlib import Path

from ..cli import UserError


def register(sub) -> None:
    p = sub.add_parser(
        "import",
        help="import a Keras 3 .keras or an ONNX model: writes a design and a run folder with its weights",
        description="Read a Keras 3 .keras file (config + weights, no TensorFlow needed) or an ONNX file (RNN "
        "Studio exports, torch.onnx.export of nn.GRU/LSTM/RNN stacks with nn.Linear heads), write the "
        "design (-o) and a run folder under --out whose checkpoint holds the imported weights, and "
        "print the run folder. Exit 2 names any layer or node that cannot be imported (nothing is "
        "written then). See docs/import.md.",
    )
    p.add_argument("model", metavar="MODEL", help="a .keras or .onnx file")
    p.add_argument("-o", "--output", required=True, metavar="DESIGN.rnn.json", help="the design file to write")
    p.add_argument("--out", default="runs", metavar="RUNS", help="parent folder of the run folder (default runs/)")
    p.add_argument(
        "--features",
        metavar="A,B",
        help="the CSV feature columns the model reads, in input order "
        "(default f0, f1, ...), so evaluate / predict find them",
    )
    p.add_argument("--target", metavar="COL", help="the CSV target column evaluate compares against")
    p.set_defaults(func=cmd_import)


def cmd_import(args) -> int:
    from rnn_studio.engine import check
    from rnn_studio.engine.importers import ImportRefused, import_model, write_import

    out = Path(args.output)
    if not out.name.endswith(".json"):
        raise UserError(f"{out}: the design file must end in .rnn.json")
    try:
        imported = import_model(args.model)
        _name_columns(imported, args)
        run_dir = write_import(imported, out, args.out)
    except ImportRefused as e:
        raise UserError(str(e)) from None
    except OSError as e:
        reason = e.strerror or str(e) or type(e).__name__
        raise UserError(f"{e.filename or out}: cannot write there ({reason}): choose another -o / --out") from None
    res = check(imported.project)
    for note in imported.notes:
        print(f"note: {note}", file=sys.stderr)
    for w in res.warnings:
        print(f"warning: {w.message}", file=sys.stderr)
    print(
        f"imported {args.model}: {len(imported.project.blocks)} blocks, "
        f"{sum(res.param_counts.values()):,} parameters; design {out}",
        file=sys.stderr,
    )
    print(run_dir)
    return 0


def _name_columns(imported, args) -> None:
    from rnn_studio.engine import check

    if args.features:
        names = [f.strip() for f in args.features.split(",") if f.strip()]
        width = check(imported.project).input_shape()[-1]
        if len(names) != width:
            raise UserError(
                f"--features names {len(names)} column(s) but the model reads {width} feature(s) per "
                f"time step: name {width}"
            )
        imported.meta["features"] = names
    if args.target:
        imported.meta["target"] = args.target
