"""Rolling-origin backtest: K expanding-window folds, each a normal training run (docs/data.md, "Backtest").

The last K·b rows of every series (b = floor(rows · test fraction / K), at least the forecast steps)
are cut into K consecutive, non-overlapping test blocks. Fold k trains and validates only on the rows
before its block (split train:val in the --split ratio; normalization and MASE scales fitted on its
training part), then tests on windows whose targets all lie inside the block. Each fold is a run
folder `<out>/fold-<k>/`; `<out>/backtest.json` is rewritten after every fold, so a stop keeps the
folds that finished.

    backtest.json
    {"design": name, "data": label, "folds_requested": K, "folds_completed": n, "stopped": bool,
     "season": m, "forecast_steps": H, "horizon": h, "interval_level": 0.9,
     "folds": [{"fold": k, "run": path, "test_start": time-or-row, "test_end": ..., "test_windows": N,
                "rmse", "mae", "mase", "smape", "persistence_rmse" .. "seasonal_naive_smape", "coverage",
                "rmse_by_step", ...}],
     "overall": {"test_windows": N, "rmse", ..., "coverage"}}

Overall figures pool the folds' test windows: RMSE from the windows-weighted mean square, the others
as windows-weighted means. No Qt; `run_backtest` is the function the CLI and the GUI call.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..data.plan import DesignIO, make_plan, raise_for_errors
from ..data.sources import read_source
from ..data.spec import DataSpec
from ..data.tables import DataError
from ..design.project import Project, atomic_write_text
from ..metrics import BASELINES

__all__ = ["BACKTEST_FILE", "check_folds", "run_backtest"]

BACKTEST_FILE = "backtest.json"
_MEASURES = ("rmse", "mae", "mase", "smape")
_KEYS = tuple(f"{b}_{m}" if b else m for b in ("", *BASELINES) for m in _MEASURES) + ("coverage",)


def check_folds(folds: Any, flag: str = "--folds") -> int:
    """The fold count as an int 1 or more; DataError (one line) otherwise."""
    if isinstance(folds, bool) or not isinstance(folds, int) or not 1 <= folds <= 1000:
        raise DataError(f"{flag} must be a whole number from 1 to 1,000 (e.g. 5), received {folds!r}")
    return folds


def _fold_spec(spec: DataSpec, k: int, folds: int) -> DataSpec:
    d = spec.to_dict()
    d["fold"] = [k, folds]
    return DataSpec.from_dict(d)


def _check_plans(project: Project, spec: DataSpec, folds: int) -> dict[str, Any]:
    """Every fold's data plan, checked before anything trains (the first fold has the least data); the
    forecast settings of the backtest. DataError when a fold cannot be cut or there is no season."""
    if spec.path is not None and Path(spec.path).suffix.lower() == ".npz":
        raise DataError(f"{spec.path}: a backtest needs a time series (CSV, Parquet, ...), not pre-cut .npz windows")
    if not spec.split[2] > 0:
        raise DataError(
            "a backtest cuts its test blocks from the test fraction of --split (the third number), received 0: "
            "use e.g. --split 0.7,0.15,0.15"
        )
    table = read_source(spec)
    design = DesignIO.of(project)
    if design.task != "regression":
        raise DataError("a backtest forecasts a regression target: this design trains a classifier")
    info: dict[str, Any] = {}
    for k in range(1, folds + 1):
        plan, _ = make_plan(table, _fold_spec(spec, k, folds), design)
        raise_for_errors(plan)
        if plan.season_source == "default":
            raise DataError(
                f"{spec.label}: no time column to take the season from, and the backtest's MASE and seasonal "
                f"naive need one: give --season M (1 for data without seasons) or the time column with --time COL"
            )
        info = {"season": plan.season, "forecast_steps": plan.steps, "horizon": plan.horizon}
    return info


def _fold_result(k: int, summary: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"fold": k, "run": str(run_dir), "stop_reason": summary.get("stop_reason")}
    try:
        plan = json.loads((run_dir / "plan.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        plan = {}
    times = (plan.get("split_times") or {}).get("test")
    rows = (plan.get("split_ranges") or {}).get("test")
    if times:
        out["test_start"], out["test_end"] = times
    elif rows:
        out["test_start"], out["test_end"] = rows
    out["train_rows"] = (plan.get("split_rows") or {}).get("train")
    out["test_windows"] = summary.get("test_windows") or 0
    for key in _KEYS:
        out[key] = summary.get(f"test_{key}")
        if key != "coverage" or summary.get("test_coverage_by_step") is not None:
            out[f"{key}_by_step"] = summary.get(f"test_{key}_by_step")
    return out


def _overall(folds: list[dict[str, Any]]) -> dict[str, Any]:
    """The folds pooled: RMSE from the windows-weighted mean square, the rest windows-weighted means."""
    out: dict[str, Any] = {"test_windows": sum(f["test_windows"] for f in folds)}
    for key in _KEYS:
        pairs = [
            (f[key], f["test_windows"]) for f in folds if isinstance(f.get(key), (int, float)) and f["test_windows"]
        ]
        n = sum(w for _, w in pairs)
        if not n:
            out[key] = None
        elif key.endswith("rmse"):
            out[key] = math.sqrt(sum(v * v * w for v, w in pairs) / n)
        else:
            out[key] = sum(v * w for v, w in pairs) / n
    return out


def _write(out_dir: Path, result: dict[str, Any]) -> Path:
    path = out_dir / BACKTEST_FILE
    atomic_write_text(path, json.dumps(result, indent=2) + "\n")
    return path


def run_backtest(
    project: Project,
    spec: DataSpec,
    config: dict[str, Any] | None,
    folds: int,
    out_dir: str | Path,
    on_fold: Callable[[int, int, dict[str, Any]], None] | None = None,
    stop_event=None,
    on_metric: Callable[[dict], None] | None = None,
    install_signal_handlers: bool = True,
) -> dict[str, Any]:
    """Train `folds` expanding-window folds of `project` on `spec` with training settings `config`
    (overrides, as train takes them), each into `<out_dir>/fold-<k>/`; returns the backtest.json dict
    (also written, after every fold). `on_fold(k, K, fold_result)` after each finished fold;
    `stop_event.is_set()` (or a Ctrl-C, which stops the running fold) ends it early, keeping the folds
    that finished. DataError / ConfigError / DesignError (one line) before anything trains."""
    from ..training.train import TrainConfig

    folds = check_folds(folds)
    TrainConfig.from_project(project, config)  # a bad setting is refused before any fold
    info = _check_plans(project, spec, folds)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    since = time.time() - 1  # file times may be rounded to the second
    level = TrainConfig.from_project(project, config).level
    result: dict[str, Any] = {
        "design": project.name,
        "data": spec.label,
        "folds_requested": folds,
        "folds_completed": 0,
        "stopped": False,
        **info,
        "interval_level": level,
        "folds": [],
        "overall": {},
        "path": str(out / BACKTEST_FILE),
    }
    _write(out, result)
    stop = _Stop(stop_event)
    if install_signal_handlers:
        stop.install()
    try:
        _run_folds(project, spec, config, folds, out, result, on_fold, stop, on_metric)
    except KeyboardInterrupt:  # a second Ctrl-C: keep every fold that finished
        result["stopped"] = True
        _recover_finished(out, result, since)
    finally:
        stop.restore()
    _write(out, result)
    return result


class _Stop:
    """The backtest's stop request: the caller's stop_event, or a Ctrl-C / SIGTERM for the whole backtest
    (one handler over all folds, so a Ctrl-C while a fold ends or between folds is not lost: the running
    fold stops cleanly at its next step, and no further fold starts; a second Ctrl-C stops at once)."""

    def __init__(self, event=None):
        self.event = event
        self.requested = False
        self._old: dict[int, Any] = {}

    def is_set(self) -> bool:
        return self.requested or (self.event is not None and self.event.is_set())

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError, OSError):
                self._old[sig] = signal.signal(sig, self._handler)

    def _handler(self, signum, frame) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def restore(self) -> None:
        for sig, old in self._old.items():
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, old)
        self._old.clear()


def _recover_finished(out: Path, result: dict[str, Any], since: float) -> None:
    """The fold in flight when a Ctrl-C came: when its training had ended (its summary.json written since
    the backtest started, completed or early-stopped) it counts."""
    from ..training.records import EARLY_STOP_PREFIX, STOP_COMPLETED

    k = len(result["folds"]) + 1
    path = out / f"fold-{k}" / "summary.json"
    try:
        fresh = path.stat().st_mtime >= since
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    reason = str(summary.get("stop_reason", ""))
    if fresh and k <= result["folds_requested"] and (reason == STOP_COMPLETED or reason.startswith(EARLY_STOP_PREFIX)):
        result["folds"].append(_fold_result(k, summary, out / f"fold-{k}"))
        result["folds_completed"] = len(result["folds"])
        result["overall"] = _overall(result["folds"])


def _run_folds(project, spec, config, folds, out, result, on_fold, stop_event, on_metric) -> None:
    """Train the folds one by one, rewriting backtest.json after each."""
    from ..training.train import STOP_CANCELLED, train

    for k in range(1, folds + 1):
        if stop_event is not None and stop_event.is_set():
            result["stopped"] = True
            break
        run_dir = out / f"fold-{k}"
        summary = train(
            project,
            _fold_spec(spec, k, folds),
            config,
            run_dir=run_dir,
            stop_event=stop_event,
            on_metric=on_metric,
            install_signal_handlers=False,  # the backtest's own handler (_Stop) covers every fold
        )
        if summary.get("stop_reason") == STOP_CANCELLED:
            result["stopped"] = True  # the unfinished fold keeps its folder but is not counted
            break
        fold = _fold_result(k, summary, run_dir)
        result["folds"].append(fold)
        result["folds_completed"] = len(result["folds"])
        result["overall"] = _overall(result["folds"])
        _write(out, result)
        if on_fold is not None:
            on_fold(k, folds, fold)
