"""backtest: rolling-origin evaluation of a design, K expanding-window folds (engine/forecasting/backtest.py)."""

from __future__ import annotations

import json
import sys

from ..cli import UserError, load_design
from .training import TRAIN_OVERRIDES, add_data_args, add_train_settings, data_spec, engine_errors, refuse_bad_settings


def register(sub) -> None:
    p = sub.add_parser(
        "backtest",
        help="rolling-origin backtest: train K folds, each before its own test block at the end of the data",
        description="Train a design K times (expanding window): fold k trains only on the rows before its "
        "test block; the K test blocks are consecutive at the end of each series. Writes DIR/fold-<k>/ run "
        "folders and DIR/backtest.json (docs/data.md). Ctrl-C keeps the finished folds.",
    )
    p.add_argument("design", help="project file (.rnn.json)")
    add_data_args(p)
    p.add_argument("--folds", type=int, required=True, metavar="K", help="number of folds (test blocks), 1 or more")
    add_train_settings(p)
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the fold run folders and backtest.json")
    p.add_argument("--json", action="store_true", help="print backtest.json on stdout")
    p.set_defaults(func=cmd_backtest)


class _Bar:
    """A tqdm bar over the folds (on stderr), with the last fold's test MASE."""

    def __init__(self, total: int):
        from tqdm import tqdm

        tqdm.monitor_interval = 0  # no monitor thread (see training.Progress)
        self.bar = tqdm(
            total=total,
            desc="backtest",
            unit="fold",
            file=sys.stderr,
            leave=False,
            dynamic_ncols=True,
            disable=not sys.stderr.isatty(),
        )

    def __call__(self, k: int, total: int, fold: dict) -> None:
        mase = fold.get("mase")
        self.bar.set_postfix_str(f"fold {k} MASE {mase:.4g}" if isinstance(mase, (int, float)) else f"fold {k}")
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def _g(v) -> str:
    return "-" if v is None else f"{v:.4g}"


def _print_table(res: dict) -> None:
    print(
        f"backtest of {res['design']} on {res['data']}: {res['folds_completed']} of {res['folds_requested']} "
        f"fold(s), season {res.get('season')}, {res.get('forecast_steps')} step(s)"
    )
    print(
        f"{'fold':>5}  {'test block':<27} {'windows':>7}  {'MASE':>7} {'s-naive':>7} {'persist':>7}  "
        f"{'sMAPE':>7}  {'cover':>5}"
    )
    rows = [*res["folds"], {"fold": "all", **res["overall"]}] if res["folds"] else []
    for f in rows:
        block = f"{f.get('test_start', '')} .. {f.get('test_end', '')}" if f.get("test_start") is not None else ""
        print(
            f"{f['fold']!s:>5}  {block:<27} {f.get('test_windows', 0):>7}  {_g(f.get('mase')):>7} "
            f"{_g(f.get('seasonal_naive_mase')):>7} {_g(f.get('persistence_mase')):>7}  {_g(f.get('smape')):>7}  "
            f"{_g(f.get('coverage')):>5}"
        )


def cmd_backtest(args) -> int:
    from rnn_studio.engine.forecasting.backtest import check_folds, run_backtest

    project = load_design(args.design)
    spec = data_spec(args)
    refuse_bad_settings(project.training)
    overrides = {k: getattr(args, k) for k in TRAIN_OVERRIDES}
    refuse_bad_settings(overrides, flags=True)
    try:
        check_folds(args.folds)
    except engine_errors() as e:
        raise UserError(str(e)) from None
    bar = _Bar(args.folds)
    try:
        res = run_backtest(project, spec, overrides, args.folds, args.out, on_fold=bar)
    except engine_errors() as e:
        raise UserError(str(e)) from None
    finally:
        bar.close()
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        _print_table(res)
    if res["stopped"]:
        print(f"stopped: {res['folds_completed']} fold(s) finished and kept", file=sys.stderr)
    print(res["path"])
    return 130 if res["stopped"] else 0
