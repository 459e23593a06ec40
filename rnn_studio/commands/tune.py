"""tune: hyperparameter search over a design's training.search section (a thin layer over engine.training.tune)."""

from __future__ import annotations

import sys
import threading

from rnn_studio.engine.limits import excerpt

from ..cli import UserError, load_design
from .training import add_data_args, data_spec, engine_errors, fmt_duration, fmt_number, refuse_bad_settings


def register(sub) -> None:
    p = sub.add_parser(
        "tune",
        help="hyperparameter search (Optuna) over the design's training.search section",
        description="Search the design's training.search space with Optuna. Every trial is a normal run folder "
        "under --out; bad trials are pruned from their per-epoch validation loss; the best design is "
        "written as <out>/<study>-best.rnn.json. Run the same command in several processes or machines "
        "with the same --study and --storage to share one study (docs/tuning.md).",
    )
    p.add_argument("design", help="project file (.rnn.json) with a training.search section")
    add_data_args(p)
    p.add_argument("--trials", type=int, default=10, metavar="N", help="trials run by this worker (default 10)")
    p.add_argument(
        "--storage",
        metavar="URL",
        help="Optuna storage: sqlite:///FILE (default <out>/tune.db), postgresql://user:pw@host/db to "
        "share a study across machines, or journal:FILE",
    )
    p.add_argument(
        "--study",
        metavar="NAME",
        help="study name (default: the design's name); workers with the same name and storage share the study",
    )
    p.add_argument(
        "--out", default="runs", metavar="DIR", help="parent folder of the trials' run folders (default runs/)"
    )
    p.add_argument(
        "--pruner",
        choices=("median", "asha", "none"),
        default="median",
        help="prune trials from per-epoch validation loss (default median)",
    )
    p.add_argument("--epochs", type=int, metavar="N", help="epochs per trial (default: the design's)")
    p.add_argument("--max-steps", type=int, metavar="N", help="stop each trial after N optimizer steps")
    p.add_argument("--batch-size", type=int, metavar="N")
    p.add_argument("--device", metavar="D", help="auto | cpu | cuda | cuda:N | mps")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads per trial")
    p.add_argument("--seed", type=int, metavar="N", help="sampler seed (default: random)")
    p.add_argument("--timeout", type=float, metavar="S", help="stop starting new trials after S seconds")
    p.add_argument(
        "--best", metavar="FILE", help="where to write the best design (default <out>/<study>-best.rnn.json)"
    )
    p.add_argument("--quiet", action="store_true", help="print only the final table")
    p.set_defaults(func=cmd_tune)


def _check_tune_flags(args) -> None:
    """--trials, --seed (Optuna's sampler: numpy takes 0 .. 2**32 - 1) and --timeout, one line each."""
    import math

    if not 1 <= args.trials <= 1_000_000:
        raise UserError(f"--trials must be a whole number from 1 to 1,000,000, received {excerpt(args.trials)}")
    if args.seed is not None and not 0 <= args.seed <= 2**32 - 1:
        raise UserError(f"--seed must be a whole number from 0 to 4,294,967,295, received {excerpt(args.seed)}")
    if args.timeout is not None and not (math.isfinite(args.timeout) and args.timeout > 0):
        raise UserError(f"--timeout must be a number of seconds > 0, received {excerpt(args.timeout)}")


def _fmt_params(params: dict) -> str:
    return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def print_table(rows: list[dict], out=None) -> None:
    out = out or sys.stdout
    print(f"{'#':>3}  {'state':<8}  {'value':>10}  {'epochs':>6}  params / error", file=out)
    for r in rows:
        value = fmt_number(r["value"]) if r["value"] is not None else "-"
        epochs = "-" if r.get("epochs") is None else str(r["epochs"])
        text = _fmt_params(r["params"])
        if r["state"] == "FAIL" and r.get("error"):
            text += f"  ({r['error']})"
        if r["state"] == "PRUNED" and r.get("pruned_at"):
            text += f"  (pruned at epoch {r['pruned_at']})"
        print(f"{r['number']:>3}  {r['state']:<8}  {value:>10}  {epochs:>6}  {text}", file=out)


def cmd_tune(args) -> int:
    from rnn_studio.engine.training.tune import SearchSpaceError, StorageError, tune

    project = load_design(args.design)
    spec = data_spec(args)
    _check_tune_flags(args)
    overrides = {
        "epochs": args.epochs,
        "max_steps": args.max_steps,
        "batch_size": args.batch_size,
        "device": args.device,
        "threads": args.threads,
    }
    refuse_bad_settings(overrides, flags=True)
    refuse_bad_settings(project.training)
    quiet = args.quiet
    lock = threading.Lock()

    def on_trial(row: dict) -> None:
        if quiet:
            return
        value = fmt_number(row["value"]) if row["value"] is not None else "-"
        extra = ""
        if row["state"] == "FAIL":
            extra = f"  {row.get('error') or ''}"
        elif row["state"] == "PRUNED":
            extra = f"  at epoch {row.get('pruned_at')}"
        with lock:
            print(
                f"trial {row['number']}: {row['state'].lower()}  value {value}  {_fmt_params(row['params'])}{extra}",
                flush=True,
            )

    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        result = tune(
            project,
            spec,
            args.trials,
            storage=args.storage,
            study_name=args.study,
            out_dir=args.out,
            pruner=args.pruner,
            overrides=overrides,
            seed=args.seed,
            timeout=args.timeout,
            best_path=args.best,
            on_trial=on_trial,
        )
    except (SearchSpaceError, StorageError) + engine_errors() as e:
        raise UserError(str(e)) from None
    print(
        f"study {result.study_name} ({result.storage}): {len(result.trials)} trial(s): "
        + ", ".join(f"{n} {s.lower()}" for s, n in sorted(result.counts().items()))
    )
    print_table(result.trials)
    print(f"this worker: {fmt_duration(result.wall_time_s)}")
    if result.best is not None:
        b = result.best
        extra = ""
        if b.get("val_rmse") is not None and b.get("val_persistence_rmse") is not None:
            extra = f" (val_rmse {fmt_number(b['val_rmse'])}, persistence {fmt_number(b['val_persistence_rmse'])})"
        print(f"best: trial {b['number']} val_loss {fmt_number(b['value'])}{extra}: {_fmt_params(b['params'])}")
        print(f"best run: {b['run']}")
        print(f"best design: {result.best_design_path}")
    else:
        print("no trial completed: no best design written", file=sys.stderr)
    if result.interrupted:
        print("interrupted: run the same command again to continue the study", file=sys.stderr)
        return 130
    return 0 if result.best is not None else 2
