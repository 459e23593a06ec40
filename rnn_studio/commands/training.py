"""train, evaluate, predict: thin layers over engine.training.train (the same functions the GUI calls)."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path
from typing import Any

from rnn_studio.engine.limits import excerpt
from rnn_studio.engine.training.records import (
    KIND_EPOCH,
    KIND_START,
    KIND_STEP,
    STOP_CANCELLED,
    STOP_OUT_OF_MEMORY,
    is_diverged,
    parse_record,
)

from ..cli import EXIT_BAD_INPUT, UserError, load_design
from .data import add_time_args, time_choice

EXIT_CANCELLED = 130


def add_data_args(p, with_window: bool = True) -> None:
    """The data flags (--data / --demo, columns, window, split, season) of train, evaluate, predict, backtest."""
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--data",
        metavar="FILE",
        help="CSV / .csv.gz / Parquet / Feather / .npy table (one row per "
        "time step), a folder of CSVs (one series each), or .npz (X, y); see docs/data.md",
    )
    src.add_argument("--demo", choices=("sine", "chaos"), help="built-in demo series instead of --data")
    if with_window:
        p.add_argument("--target", metavar="COL", help="target column (default: the last column)")
        p.add_argument("--features", metavar="A,B", help="feature columns (default: see docs/data.md)")
        p.add_argument("--lookback", type=int, metavar="N", help="window length (default: the Input's timesteps)")
        p.add_argument(
            "--horizon",
            type=int,
            metavar="N",
            help="the (first) target is N rows after the window's last row (default 1)",
        )
        p.add_argument("--split", metavar="A,B,C", help="train,val,test fractions (default 0.7,0.15,0.15)")
    else:
        p.add_argument(
            "--features",
            metavar="A,B",
            help="this file's columns for the run's features, in order (an imported run's are named f0, f1, ...)",
        )
    p.add_argument("--series", metavar="COL", help="column holding the series id: many series in one file")
    p.add_argument(
        "--season",
        type=int,
        metavar="M",
        help="season length in rows for seasonal naive and MASE (default: from the time column's frequency: "
        "hourly 24, daily 7, weekly 52, monthly 12, quarterly 4, otherwise 1)",
    )
    add_time_args(p)
    p.add_argument(
        "--missing",
        choices=("error", "interpolate", "ffill", "drop"),
        help="missing values in used columns: error (default), interpolate, ffill or drop the rows",
    )


TRAIN_OVERRIDES = (
    "epochs",
    "batch_size",
    "lr",
    "optimizer",
    "weight_decay",
    "loss",
    "schedule",
    "patience",
    "clip_norm",
    "device",
    "precision",
    "seed",
    "deterministic",
    "threads",
    "grad_every",
    "max_steps",
    "level",
)


def add_train_settings(p) -> None:
    """The training-setting flags (train, backtest); their values are TRAIN_OVERRIDES."""
    p.add_argument("--epochs", type=int, metavar="N")
    p.add_argument("--batch-size", type=int, metavar="N")
    p.add_argument("--lr", type=float, metavar="X", help="learning rate")
    p.add_argument("--optimizer", choices=("adam", "adamw", "sgd"))
    p.add_argument("--weight-decay", type=float, metavar="X")
    p.add_argument("--loss", choices=("mse", "mae", "huber", "cross_entropy"))
    p.add_argument("--schedule", choices=("constant", "cosine", "plateau"), help="learning-rate schedule")
    p.add_argument("--patience", type=int, metavar="N", help="early stopping after N epochs without improvement")
    p.add_argument("--clip-norm", type=float, metavar="X", help="clip the total gradient norm to X")
    p.add_argument("--device", metavar="D", help="auto (cuda, then mps, then cpu) | cpu | cuda | cuda:N | mps")
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"), help="bf16 / fp16 autocast: CUDA only")
    p.add_argument("--seed", type=int, metavar="N")
    p.add_argument("--deterministic", action="store_true", default=None, help="deterministic algorithms")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: half the cores, at most 8)")
    p.add_argument("--grad-every", type=int, metavar="N", help="gradient norms every N steps (0 = never)")
    p.add_argument("--max-steps", type=int, metavar="N", help="stop after N optimizer steps")
    p.add_argument(
        "--level", type=float, metavar="X", help="coverage of the prediction intervals (split conformal, default 0.9)"
    )


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a design on a CSV / .npz file or a demo series; writes a run folder",
        description="Train a design. Writes runs/<time>-<name>/ with metrics.jsonl, checkpoints "
        "and summary.json (docs/run-folder.md). Ctrl-C stops cleanly.",
    )
    p.add_argument("design", nargs="?", help="project file (.rnn.json); not needed with --resume")
    add_data_args(p)
    add_train_settings(p)
    p.add_argument("--out", default="runs", metavar="DIR", help="parent folder of run folders (default runs/)")
    p.add_argument("--resume", metavar="RUN", help="continue a run folder from its checkpoints/last.pt")
    p.add_argument(
        "--init-from",
        metavar="RUN",
        dest="init_from",
        help="start from a run folder's best.pt weights (an imported model, or an earlier run) in a new "
        "run; the design defaults to that run's design",
    )
    p.add_argument("--quiet", action="store_true", help="print only the final summary")
    p.add_argument(
        "--log",
        action="append",
        choices=("tensorboard", "mlflow"),
        metavar="TRACKER",
        help="also log to tensorboard (<run>/tensorboard/) or mlflow (MLFLOW_TRACKING_URI, default "
        "runs/mlflow.db); repeat for both; needs the tensorboard / mlflow packages (docs/tracking.md)",
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="metrics of a run's best.pt on a data file")
    p.add_argument("run", help="run folder (runs/<time>-<name>)")
    add_data_args(p, with_window=False)
    p.add_argument("--checkpoint", choices=("best", "last"), default="best")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="predictions of a run's best.pt for every window of a file, as CSV")
    p.add_argument("run", help="run folder (runs/<time>-<name>)")
    add_data_args(p, with_window=False)
    p.add_argument("-o", "--output", required=True, metavar="OUT.csv")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best")
    p.set_defaults(func=cmd_predict)


def data_spec(args):
    """The DataSpec of the data flags (exit 2 with one line for a bad value)."""
    from rnn_studio.engine.data import DataSpec

    if not args.data and not args.demo:
        raise UserError("no data: give --data FILE (CSV or .npz) or --demo sine|chaos")
    spec = DataSpec(path=args.data, demo=args.demo)
    if getattr(args, "target", None):
        spec.target = args.target
    if getattr(args, "features", None):
        spec.features = [f.strip() for f in args.features.split(",") if f.strip()]
    if getattr(args, "lookback", None) is not None:
        spec.lookback = args.lookback
    if getattr(args, "horizon", None) is not None:
        spec.horizon = args.horizon
    if getattr(args, "series", None):
        spec.series = args.series
    if getattr(args, "missing", None):
        spec.missing = args.missing
    if getattr(args, "season", None) is not None:
        spec.season = args.season
    spec.time = time_choice(args)
    if getattr(args, "split", None):
        try:
            spec.split = tuple(float(v) for v in args.split.split(","))
        except ValueError:
            raise UserError(
                f"--split must be three fractions like 0.7,0.15,0.15, received {excerpt(args.split)}"
            ) from None
    refuse_bad_settings(
        {
            "lookback": spec.lookback,
            "horizon": spec.horizon,
            "split": list(spec.split) if getattr(args, "split", None) else None,
            "season": spec.season,
        },
        flags=True,
    )
    return spec


def refuse_bad_settings(values: dict, flags: bool = False) -> None:
    """Exit 2 with one line for the first bad training setting (engine/design/settings.py)."""
    from rnn_studio.engine.design.settings import validate_training

    errors = validate_training(values, flags=flags)
    if errors:
        raise UserError(errors[0] + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""))


def engine_errors():
    """The engine's one-line errors about bad input (a command turns them into exit 2)."""
    from rnn_studio.engine.data import DataError
    from rnn_studio.engine.design.compile import DesignError
    from rnn_studio.engine.design.project import ProjectFormatError
    from rnn_studio.engine.training.runs import RunError
    from rnn_studio.engine.training.train import ConfigError, TrainError

    # ProjectFormatError: the design snapshot of a run folder (--resume) is as foreign as any file
    return (DataError, DesignError, RunError, ConfigError, TrainError, ProjectFormatError)


class Progress:
    """Per-epoch progress: a tqdm bar with steps/s and ETA on stderr when it is a terminal, plain lines
    (one per epoch, on stdout) otherwise."""

    def __init__(self, stream=None, quiet: bool = False, bar_stream=None):
        self.out = stream or sys.stdout
        self.bar_stream = bar_stream or sys.stderr
        self.tty = self.bar_stream.isatty()
        self.quiet = quiet
        self.total = self.epochs = self.per_epoch = 0
        self.first_step = 0
        self.bar = None
        self.loss = None

    def __call__(self, raw: dict) -> None:
        rec: Any = parse_record(raw)  # a typed record (engine/training/records.py), or None: not one to show
        if rec is None:
            return
        kind = rec["kind"]
        if kind == KIND_START:
            self.total, self.epochs, self.per_epoch = rec["total_steps"], rec["epochs"], rec["steps_per_epoch"]
            self.first_step = rec.get("resumed_from_step") or 0
            if not self.quiet:
                self._start(rec)
        elif kind == KIND_STEP:
            self.loss = rec["loss"]
            if self.tty and not self.quiet:
                self._step(rec)
        elif kind == KIND_EPOCH and not self.quiet:
            self._close_bar()
            metric = _metric_text(rec, "val_")
            print(
                f"epoch {rec['epoch']}/{self.epochs}  train_loss {rec['train_loss']:.5g}  val_loss "
                f"{fmt_number(rec['val_loss'])}  {metric}  lr {rec['lr']:.3g}  {rec['samples_per_s']:,.0f} samples/s  "
                f"{fmt_duration(rec['elapsed_s'])}{'  *' if rec.get('best') else ''}",
                file=self.out,
            )
            self.out.flush()

    def _start(self, rec: dict) -> None:
        threads = f", {rec['threads']} thread(s)" if rec.get("threads") else ""
        print(f"device: {rec['device']} ({rec['device_name']}{threads}), precision {rec['precision']}", file=self.out)
        s = rec["samples"]
        cols = (
            f"features {','.join(map(str, rec['features']))} -> target {rec['target']}"
            if rec.get("target")
            else f"{len(rec['features'])} feature(s)"
        )
        print(
            f"data: {rec['data']}: {cols}, lookback {rec['lookback']}, horizon {rec['horizon']}; windows "
            f"train {s.get('train', 0)} / val {s.get('val', 0)} / test {s.get('test', 0)}",
            file=self.out,
        )
        plan = rec.get("plan") or {}
        if plan.get("time_column"):
            print(
                f"time column: {plan['time_column']}"
                + (
                    f"; series column: {plan['series_column']} ({plan['series']} series)"
                    if plan.get("series_column")
                    else ""
                ),
                file=self.out,
            )
        if plan.get("season") is not None and plan.get("task", "regression") == "regression":
            steps = plan.get("steps") or 1
            print(
                f"forecast: {f'steps 1..{steps}' if steps > 1 else '1 step'}, season {plan['season']} "
                f"({plan.get('season_source') or 'default'})",
                file=self.out,
            )
        if rec.get("ignored_columns"):
            print(f"note: columns not used: {', '.join(rec['ignored_columns'])}", file=self.out)
        for w in rec.get("warnings") or []:
            print(f"warning: {w}", file=self.out)
        for note in rec.get("notes") or []:
            print(f"note: {note}", file=self.out)
        what = f"resuming at step {self.first_step}" if rec.get("resumed_from_step") is not None else "training"
        print(
            f"{what}: {rec['name']}, {rec['parameters']:,} parameters, {rec['epochs']} epoch(s) x "
            f"{rec['steps_per_epoch']} steps, batch {rec['batch_size']}, loss {rec['loss']}",
            file=self.out,
        )
        print(f"run folder: {rec['run']}", file=self.out)
        self.out.flush()

    def _step(self, rec: dict) -> None:
        from tqdm import tqdm

        # no TMonitor thread: a Python thread in a process that also runs Qt can end up collecting Qt
        # objects off the GUI thread (a segfault seen in the test process); the bar refreshes on updates
        tqdm.monitor_interval = 0
        in_epoch = rec["step"] - (rec["epoch"] - 1) * self.per_epoch
        if self.bar is None:
            self.bar = tqdm(
                total=self.per_epoch,
                initial=in_epoch - 1,
                desc=f"epoch {rec['epoch']}/{self.epochs}",
                unit="step",
                file=self.bar_stream,
                leave=False,
                dynamic_ncols=True,
                mininterval=0.1,
            )
        self.bar.update(in_epoch - self.bar.n)
        self.bar.set_postfix_str(f"loss {rec['loss']:.4g}", refresh=False)

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def finish(self) -> None:
        self._close_bar()


def fmt_number(v) -> str:
    """A metric as the CLI prints it: 5 significant digits, 'nan' for None, true/false for a bool."""
    if isinstance(v, bool):
        return str(v).lower()
    return "nan" if v is None else f"{v:.5g}"


def fmt_duration(s: float) -> str:
    """Seconds as m:ss, or h:mm:ss from an hour up."""
    s = int(round(s))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def _metric_text(d: dict, prefix: str) -> str:
    if d.get(prefix + "rmse") is not None:
        text = f"{prefix}rmse {d[prefix + 'rmse']:.5g}"
        if d.get(prefix + "persistence_rmse") is not None:
            text += f" (persistence {d[prefix + 'persistence_rmse']:.5g})"
        return text
    if d.get(prefix + "accuracy") is not None:
        return f"{prefix}accuracy {d[prefix + 'accuracy']:.4f}"
    return ""


def forecast_lines(d: dict, prefix: str) -> list[str]:
    """The forecaster's view of one split's metrics (train's end lines, evaluate, backtest): MASE and
    sMAPE of the model against seasonal naive and persistence, and the interval coverage."""
    if d.get(prefix + "mase") is None and d.get(prefix + "smape") is None:
        return []
    name = prefix.rstrip("_") or "all"

    def trio(key: str, unit: str = "") -> str:
        parts = [f"{fmt_number(d.get(prefix + key))}{unit}"]
        for base, word in (("seasonal_naive", "seasonal naive"), ("persistence", "persistence")):
            if base == "seasonal_naive" and d.get("season") == 1:
                continue  # with m = 1 seasonal naive is persistence
            if d.get(f"{prefix}{base}_{key}") is not None:
                parts.append(f"{word} {fmt_number(d[f'{prefix}{base}_{key}'])}{unit}")
        return parts[0] + (f" ({', '.join(parts[1:])})" if len(parts) > 1 else "")

    season = f"season {d['season']}, " if d.get("season") is not None else ""
    steps = d.get("forecast_steps") or len(d.get(prefix + "rmse_by_step") or []) or 1
    out = [f"{name} forecast ({season}{steps} step(s)): MASE {trio('mase')}, sMAPE {trio('smape', '%')}"]
    if d.get(prefix + "coverage") is not None:
        level = d.get("interval_level")
        out.append(
            f"{name} intervals: {fmt_number(level) if level is not None else 'the'} intervals cover "
            f"{d[prefix + 'coverage']:.3f} of the targets"
        )
    return out


def _large(path: str, limit: int = 50 << 20) -> bool:
    try:
        return os.path.getsize(path) > limit
    except OSError:
        return False


def cmd_train(args) -> int:
    from rnn_studio.engine.training.distributed import in_torchrun, is_rank_zero
    from rnn_studio.engine.training.train import train

    if in_torchrun():  # under torchrun: DistributedDataParallel, rank 0 writes the run (engine/training/distributed.py)
        from rnn_studio.engine.training.distributed import train_distributed as train

        if not is_rank_zero():
            # one report, from rank 0; the null stream stays open for the rest of the process
            args.quiet, sys.stdout = True, open(os.devnull, "w")  # noqa: SIM115

    overrides = {k: getattr(args, k) for k in TRAIN_OVERRIDES}
    extra = _init_from_kwargs(args)
    if args.resume:
        if args.design or args.data or args.demo:
            raise UserError("--resume continues a run with its own design and data: drop the design and --data/--demo")
        project, spec = None, None
    else:
        if not args.design and not args.init_from:
            raise UserError("give a design file (rnn-studio train DESIGN --data FILE), or --resume RUN")
        project = load_design(args.design or str(Path(args.init_from) / "project.rnn.json"))
        spec = data_spec(args)
        refuse_bad_settings(project.training)
    refuse_bad_settings(overrides, flags=True)
    from rnn_studio.engine.training.tracking import TrackingUnavailable, chain, open_loggers

    try:
        loggers = open_loggers(args.log)
    except TrackingUnavailable as e:
        raise UserError(str(e)) from None
    progress = Progress(quiet=args.quiet)
    if spec is not None and spec.path and not args.quiet and _large(spec.path):
        print(f"reading {spec.path}…", file=sys.stderr, flush=True)
    try:
        summary = train(
            project, spec, overrides, out_dir=args.out, resume=args.resume, on_metric=chain(progress, loggers), **extra
        )
    except engine_errors() as e:
        raise UserError(str(e)) from None
    finally:
        progress.finish()
    _print_summary(summary)
    reason = summary["stop_reason"]
    if reason == STOP_CANCELLED:
        print(f"resume with: rnn-studio train --resume {summary['run']}", file=sys.stderr)
        return EXIT_CANCELLED
    if is_diverged(reason) or reason == STOP_OUT_OF_MEMORY:
        return EXIT_BAD_INPUT
    return 0


def _print_summary(summary: dict) -> None:
    """The end of `train`: how it stopped, the best epoch's and the test metrics, the run folder (stdout),
    then the warnings (model no better than persistence / seasonal naive, intervals) and an error (stderr)."""
    reason = summary["stop_reason"]
    print(f"stopped: {reason}" if reason != "completed" else "done", end="")
    print(
        f" after {summary['epochs_completed']} epoch(s), {summary['steps']} steps, "
        f"{fmt_duration(summary['wall_time_s'])}"
    )
    if summary.get("best_epoch") is not None:
        print(
            f"best epoch {summary['best_epoch']}: val_loss {fmt_number(summary.get('val_loss'))}"
            f"  {_metric_text(summary, 'val_')}"
        )
    if _metric_text(summary, "test_"):
        print(f"test (best.pt): {_metric_text(summary, 'test_')}")
    for line in forecast_lines(summary, "test_"):
        print(line)
    print(f"run folder: {summary['run']}")
    if summary.get("beats_persistence") is False:
        split = summary.get("persistence_split", "test")
        print(
            f"warning: the model does not beat persistence on the {'validation' if split == 'val' else split} split "
            f"(rmse {fmt_number(summary.get(split + '_rmse'))} "
            f"vs persistence {fmt_number(summary.get(split + '_persistence_rmse'))}): "
            f"it has not learned more than 'tomorrow = today'",
            file=sys.stderr,
        )
    if summary.get("beats_seasonal_naive") is False and summary.get("season", 1) != 1:  # m = 1: persistence
        split = summary.get("seasonal_naive_split", "test")
        print(
            f"warning: the model does not beat seasonal naive (season {summary.get('season')}) on the "
            f"{'validation' if split == 'val' else split} split (rmse {fmt_number(summary.get(split + '_rmse'))} vs "
            f"{fmt_number(summary.get(split + '_seasonal_naive_rmse'))}): "
            "it has not learned more than 'same as a season ago'",
            file=sys.stderr,
        )
    if summary.get("interval_warning"):
        print(f"warning: {summary['interval_warning']}", file=sys.stderr)
    if summary.get("message"):
        print(f"error: {summary['message']}", file=sys.stderr)


def _init_from_kwargs(args) -> dict:
    """{"init_from": RUN} for engine.training.train.train, checked here so that a wrong folder is one line."""
    if not args.init_from:
        return {}
    from rnn_studio.engine.training import runs

    if args.resume:
        raise UserError("--init-from starts a new run from a run's weights; --resume continues a run: use one")
    if not runs.is_run_dir(args.init_from):
        raise UserError(
            f"{args.init_from}: not a run folder (no project.rnn.json): pass a folder under runs/, e.g. "
            f"the one `rnn-studio import` printed"
        )
    from rnn_studio.engine.importers import fine_tune_note

    note = fine_tune_note(args.init_from)  # an imported run: its normalization is not carried over
    if note:
        print(note, file=sys.stderr)
    return {"init_from": args.init_from}


def cmd_evaluate(args) -> int:
    from rnn_studio.engine.training.train import evaluate_run

    try:
        res = evaluate_run(args.run, data_spec(args), args.checkpoint)
    except engine_errors() as e:
        raise UserError(str(e)) from None
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"{res['run']} ({res['checkpoint']}.pt) on {res['data']}: {res['samples']} windows")
    print(f"  loss {fmt_number(res['loss'])}")
    for k, v in res.items():
        if k in ("run", "checkpoint", "data", "samples", "loss", "interval_warning"):
            continue
        if isinstance(v, list):
            print(f"  {k} {' '.join(fmt_number(x) for x in v)}")
        elif isinstance(v, str):
            print(f"  {k} {v}")
        else:
            print(f"  {k} {fmt_number(v)}")
    for split in ("", "test_"):
        for line in forecast_lines(res, split):
            print(line)
    if res.get("interval_warning"):
        print(f"warning: {res['interval_warning']}", file=sys.stderr)
    return 0


def output_path(name: str) -> Path:
    """`-o NAME` of predict / forecast: its folder must exist; /dev/full, a FIFO and the like are refused
    (and left as they are)."""
    from rnn_studio.engine.design.project import NotRegularFileError, refuse_non_regular_target

    out = Path(name)
    if out.parent and not out.parent.exists():
        raise UserError(f"{out.parent}: no such folder for -o")
    try:
        refuse_non_regular_target(out)
    except NotRegularFileError as e:
        raise UserError(str(e)) from None
    return out


def cmd_predict(args) -> int:
    from rnn_studio.engine.design.project import atomic_write_text
    from rnn_studio.engine.training.train import predict_run

    out = output_path(args.output)
    try:
        cols, rows = predict_run(args.run, data_spec(args), args.checkpoint)
    except engine_errors() as e:
        raise UserError(str(e)) from None
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow([f"{v:.8g}" if isinstance(v, float) else v for v in r])
    try:
        atomic_write_text(out, buf.getvalue())
    except OSError as e:
        raise UserError(
            f"{out}: cannot write the predictions ({e.strerror or type(e).__name__}): choose a writable folder for -o"
        ) from None
    print(f"wrote {len(rows)} prediction(s) to {out}")
    return 0
