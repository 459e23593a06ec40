"""`rnn-studio demo`: the headless tour `make run` falls back to without a display.

Checks the seed design, trains it briefly on the built-in chaotic series, exports a verified ONNX
model, and prints where everything is -- the same functions the designer calls.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .. import asset_path
from ..cli import EXIT_VERIFY, UserError, load_design

SEED = asset_path("examples", "seed-keras.rnn.json")


def register(sub) -> None:
    p = sub.add_parser("demo", help="headless demo: check the seed design, train it on demo data, export ONNX")
    p.add_argument("design", nargs="?", default=str(SEED), help="design to use (default: the seed Keras design)")
    p.add_argument("--epochs", type=int, default=3, metavar="N", help="training epochs (default 3)")
    p.add_argument("--demo", choices=("chaos", "sine"), default="chaos", help="built-in dataset (default chaos)")
    p.add_argument("--out", default="runs", metavar="DIR", help="parent folder of the run (default runs/)")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args) -> int:
    from rnn_studio import engine

    project = load_design(args.design)
    result = engine.check(project)
    print(f"1/3  check {args.design}")
    for bid in result.order:
        print(f"       {bid:<8} {project.block(bid).type:<12} {engine.fmt_shape(result.shapes[bid])}")
    for p in result.problems:
        print(f"       {p.level}: {p.message}")
    if not result.ok:
        raise UserError(f"{args.design} has errors; fix them first (rnn-studio check {args.design})")
    print(f"       valid, {result.total_params:,} parameters")

    from rnn_studio.engine.training.train import train

    print(f"\n2/3  train on the built-in '{args.demo}' series for {args.epochs} epochs")

    def show(rec):
        if rec.get("kind") == "start":
            print(f"       device {rec.get('device_name') or rec.get('device')}, {rec.get('total_steps')} steps")
        elif rec.get("kind") == "epoch":
            metric = next((f"{k} {rec[k]:.4f}" for k in ("val_rmse", "val_accuracy") if k in rec), "")
            print(
                f"       epoch {rec['epoch']}: train loss {rec['train_loss']:.4f}, val loss "
                f"{rec['val_loss']:.4f}, {metric}, {rec['samples_per_s']:.0f} samples/s",
                flush=True,
            )

    try:
        summary = train(project, {"demo": args.demo}, {"epochs": args.epochs}, out_dir=args.out, on_metric=show)
    except ValueError as e:
        raise UserError(str(e)) from None
    run = Path(summary["run"])
    if "val_rmse" in summary and "persistence_rmse" in summary:
        verdict = "beats" if summary["val_rmse"] < summary["persistence_rmse"] else "does NOT beat yet"
        print(
            f"       best val RMSE {summary['val_rmse']:.4f} {verdict} the persistence baseline "
            f"(predict the last value) {summary['persistence_rmse']:.4f}"
        )

    from rnn_studio import exports
    from rnn_studio.engine.training.runs import load_run

    print("\n3/3  export to ONNX and verify against PyTorch")
    project_run, model, meta = load_run(run, "best")
    onnx_path = run / "model.onnx"
    try:
        report = exports.export_onnx(model, project_run, onnx_path, meta=meta)
    except exports.VerificationError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_VERIFY
    except exports.ExportError as e:
        raise UserError(str(e)) from None
    print(
        f"       max abs difference onnxruntime vs PyTorch: {report.max_abs_diff:.2e} "
        f"({len(report.cases)} cases) -> {'PASS' if report.passed else 'FAIL'}"
    )
    print(f"\nResults in {run}/")
    print("  metrics.jsonl, summary.json, checkpoints/best.pt, model.onnx (+ model.onnx.verify.json)")
    print(
        "Next: `rnn-studio` opens the designer where a display is available; `rnn-studio --help` lists every command."
    )
    return 0
