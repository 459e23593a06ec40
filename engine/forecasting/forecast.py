"""Forecasts past the data: the H steps after the last target of each series, dated, with intervals.

`forecast_run(run_dir, spec, steps, level)` is what `rnn-studio forecast` and the designer's Forecast
view call. For every series (all rows with a series id; one series without a series column):

* the **history** is its rows up to the last row with a target; rows after it whose target is empty
  are the **future** (engine/data/plan.py keeps them out of training): the forecast starts there, and
  feature columns given in those rows are read as known future covariates;
* the **window** is the last `lookback` rows of the history, normalised with the run's saved mean and
  std; predictions come back in the target's units;
* a step is **direct** when the design's own output reaches it (a direct multi-step design with H
  output units and first offset `horizon` h0 reaches steps 1..h0+H-1; windows ending before the last
  row give the steps below h0), or when the features it needs past the last row are given future
  covariates; beyond that a model that reads its target as a feature forecasts **recursively**, its
  predictions fed back (normalised as inputs) in blocks of h0+H-1 steps; a model that needs other
  features for rows nobody gave is refused naming them;
* **times** continue the series' own time column at its frequency (engine/data/timefreq.py), written as
  the file writes them; without a time column the row number continues;
* **intervals** come from the run's split-conformal half-widths (engine/training/intervals.py), per output
  step; a recursive step reuses the half-width of the output step it came from, widened by
  sqrt(1 + number of fed-back blocks before it): an assumption (independent errors per block), not a
  calibration.

Every series' windows of one step go through the model in one batch (one forward pass per block of
steps that need no prediction of the same block), so 1,000 series x 24 recursive steps is 24 passes.

No Qt; torch is imported by load_run.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data.plan import DataPlan, DesignIO, Layout, make_plan, raise_for_errors
from ..data.sources import read_source
from ..data.spec import DataSpec, design_io
from ..data.tables import DataError, Table
from ..data.timefreq import ROWS, Frequency, continue_times, format_time, format_times, infer_frequency
from ..design.project import atomic_write_text
from ..training.intervals import Intervals, load_intervals
from ..training.runs import RunMeta

__all__ = ["Forecast", "SeriesForecast", "forecast_run"]

DIRECT, RECURSIVE = "direct", "recursive"


@dataclass
class SeriesForecast:
    """One series' forecast. Times are written as the file writes them (str for dates, int / float for
    numeric time columns and row numbers); `history_x` / `x` are the same instants as numbers for a
    chart axis (seconds since 1970 for dates, the value of a numeric time column, the row number)."""

    series: str | None  # the series id as the file writes it (None: one series, no series column)
    history_times: list[Any]  # the last max(3·steps, lookback) history rows
    history_values: np.ndarray  # their target values (target units)
    times: list[Any]  # the forecast times, one per step
    steps: np.ndarray  # 1..H
    prediction: np.ndarray  # (H,) target units
    lower: np.ndarray  # (H,) NaN when the run has no intervals
    upper: np.ndarray
    history_x: np.ndarray = field(default_factory=lambda: np.zeros(0))
    x: np.ndarray = field(default_factory=lambda: np.zeros(0))


@dataclass
class Forecast:
    """What `forecast_run` returns: one SeriesForecast per series, in the file's order of series."""

    run: str
    checkpoint: str
    target: str
    series_column: str | None
    time_column: str | None
    level: float | None  # the intervals' level; None without intervals (lower / upper empty)
    steps: int
    frequency: Frequency
    methods: list[str]  # per step: "direct" or "recursive"
    series: list[SeriesForecast]
    notes: list[str] = field(default_factory=list)  # what a person should know (no intervals, widened intervals)

    @property
    def time_label(self) -> str:
        """The CSV's time column: the file's time column under its own name, else `row`."""
        return self.time_column or "row"

    def columns(self) -> list[str]:
        series = [self.series_column or "series"] if self._many() else []
        return [*series, self.time_label, "step", "prediction", "lower", "upper"]

    def _many(self) -> bool:
        return self.series_column is not None or len(self.series) > 1

    def rows(self) -> list[list[Any]]:
        """The CSV's rows (values as written: numbers rounded to 8 significant digits, '' for no bound)."""
        out = []
        many = self._many()
        for sf in self.series:
            for k in range(len(sf.steps)):
                row: list[Any] = [sf.series] if many else []
                row += [sf.times[k], int(sf.steps[k]), _num(sf.prediction[k]), _num(sf.lower[k]), _num(sf.upper[k])]
                out.append(row)
        return out

    def to_csv_text(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.columns())
        w.writerows(self.rows())
        return buf.getvalue()

    def write_csv(self, path: str | Path) -> None:
        """The CLI's CSV (temp + rename: a crash leaves the old file or the new one)."""
        atomic_write_text(path, self.to_csv_text())


def _num(v: float) -> str:
    return "" if not np.isfinite(v) else f"{float(v):.8g}"


# ============================================================================ the run and its data
@dataclass
class _Model:
    """What the schedule needs to know about the run's design."""

    lookback: int
    horizon: int  # h0: the first output's offset after the window's last row
    outputs: int  # H: direct output steps
    seq_target: bool
    target_feature: int | None  # index of the target among the features (fed back), or None
    covariates: list[int]  # indices of the other features

    @property
    def reach(self) -> int:
        """Steps the design gives directly from the last window: h0 + H - 1 (at least 1)."""
        return max(1, self.horizon + self.outputs - 1)


def forecast_run(
    run_dir: str | Path,
    spec: DataSpec,
    steps: int | None = None,
    level: float | None = None,
    checkpoint: str = "best",
    device: str = "cpu",
) -> Forecast:
    """Forecast the `steps` (default: the design's reach, h0 + H - 1) rows after the last target of
    every series of `spec`'s file with a run's checkpoint. `level`: the interval level asked for (from the
    validation residuals the run kept; a run that kept none gives only its own level); None uses the
    run's intervals at their own level when it has them.
    DataError / RunError (one line) for anything a person must fix."""
    from ..training.runs import load_run

    if steps is not None and (isinstance(steps, bool) or int(steps) != steps or steps < 1):
        raise DataError(f"forecast steps must be a whole number, 1 or more, received {steps!r}")
    project, model, meta = load_run(run_dir, checkpoint)
    if meta.task != "regression":
        raise DataError(f"{run_dir}: the run is a classifier: forecasts need a regression run")
    intervals, notes = _intervals(run_dir, level)
    table = read_source(spec)
    _, in_shape, out_shape = design_io(project)
    design = DesignIO(int(in_shape[-1]), in_shape[1], len(out_shape) == 3, int(out_shape[-1]), meta.task)
    plan, layout = make_plan(table, spec, design, split=False, meta=meta)
    raise_for_errors(plan)
    assert layout is not None and plan.lookback is not None  # make_plan raised on errors
    if plan.target not in table.names:
        raise DataError(f"{table.source}: no target column '{plan.target}': a forecast continues its history")
    m = _model_of(plan, meta, design)
    steps = int(steps) if steps is not None else m.reach
    if intervals is not None and intervals.steps != m.outputs:
        raise DataError(
            f"{run_dir}: intervals.json holds {intervals.steps} step(s) but the design outputs {m.outputs}: "
            f"it belongs to another design; delete it and train again"
        )
    data = _series_data(table, plan, layout, m, meta)
    given = max((len(item.future) for item in data.items), default=0)
    if given > steps:
        notes.append(
            f"the file gives {given} future row(s) after the last target: ask for {given} steps to forecast them all"
        )
    model.to(device)
    pred, schedules = _predict(model, device, m, data, steps, plan, meta, table)
    return _assemble(run_dir, checkpoint, table, plan, data, pred, schedules, intervals, notes, m)


def _intervals(run_dir, level: float | None) -> tuple[Intervals | None, list[str]]:
    from ..training.intervals import check_level

    intervals = load_intervals(run_dir)
    if level is not None:
        level = check_level(level)
        if intervals is None:
            raise DataError(
                f"{run_dir}: the run has no prediction intervals (no intervals.json; runs trained before "
                f"intervals, or without a validation split): leave the level out for point forecasts, or "
                f"train again"
            )
        try:
            intervals = intervals.at_level(level)  # other levels from the residuals kept at training
        except DataError as e:
            raise DataError(f"{run_dir}: {e}") from None
    if intervals is None:
        return None, ["the run has no prediction intervals (no intervals.json): lower and upper are empty"]
    return intervals, []


def _model_of(plan: DataPlan, meta: RunMeta, design: DesignIO) -> _Model:
    features = list(plan.features)
    target_feature = features.index(plan.target) if plan.target in features else None
    covariates = [j for j, f in enumerate(features) if f != plan.target]
    outputs = 1 if design.seq_target else max(1, design.units)
    assert plan.lookback is not None
    return _Model(plan.lookback, int(plan.horizon), outputs, design.seq_target, target_feature, covariates)


@dataclass
class _Series:
    """The rows of one series a forecast reads: its id, history (training rows), future file rows."""

    key: str | None
    history: np.ndarray  # training rows (indices into layout columns), oldest first
    file_rows: np.ndarray  # the file row of each history row
    future: np.ndarray  # file rows after the last target (may be empty)


@dataclass
class _SeriesData:
    items: list[_Series]
    X: list[np.ndarray]  # per series: (rows, F) normalised features of the history
    future_X: list[np.ndarray]  # per series: (future rows, F) normalised features given (NaN: not given)
    y: list[np.ndarray]  # per series: the history's target values


def _series_data(table: Table, plan: DataPlan, layout: Layout, m: _Model, meta: RunMeta) -> _SeriesData:
    order = layout.order if layout.order is not None else np.arange(table.n_rows)
    cols = [np.asarray(layout.column(table, f), dtype=np.float64) for f in plan.features]
    assert plan.target is not None  # a regression plan has its target
    target = np.asarray(layout.column(table, plan.target), dtype=np.float64)
    mean, std = np.asarray(meta.x_mean, dtype=np.float64), np.asarray(meta.x_std, dtype=np.float64)
    X_all = (np.stack(cols, axis=1) - mean) / std
    raw = [np.asarray(table.columns[f], dtype=np.float64) for f in plan.features]
    items, X, future_X, y = [], [], [], []
    for k, (s, e) in enumerate(layout.segments):
        future = layout.future[k] if layout.future else np.zeros(0, dtype=np.int64)
        rows = np.asarray(order[s:e])
        key = table.cell_text(plan.series_column, int(rows[0])) if plan.series_column and e > s else None
        items.append(_Series(key, np.arange(s, e), rows, future))
        X.append(X_all[s:e])
        fx = (np.stack([c[future] for c in raw], axis=1) - mean) / std if future.size else np.zeros((0, len(raw)))
        future_X.append(fx)
        y.append(target[s:e])
    return _SeriesData(items, X, future_X, y)


# ============================================================================ which window gives which step
@dataclass(frozen=True)
class _Step:
    end: int  # the window's last row, counted from the last history row (0 = that row, 2 = two rows after)
    output: int  # the design's output step that predicts it (0-based)
    method: str  # DIRECT | RECURSIVE
    blocks: int  # fed-back blocks before it (0 for a direct step): widens its interval


def _schedule(m: _Model, steps: int, given: int) -> list[_Step | int]:
    """Per step 1..steps the window and output that predict it, or the step number where none can
    (`given`: leading future rows whose covariates are all given)."""
    out: list[_Step | int] = []
    for k in range(1, steps + 1):
        step = _direct(m, k, given) or _recursive(m, k, given)
        out.append(step if step is not None else k)
    return out


def _direct(m: _Model, k: int, given: int) -> _Step | None:
    """The latest window that needs no prediction: it ends at or before the last row, or (a model that
    does not read its target) within the given future covariates."""
    for i in range(m.outputs):
        end = k - m.horizon - i
        if end <= 0 or (m.target_feature is None and end <= given):
            return _Step(end, i, DIRECT, 0)
    return None


def _recursive(m: _Model, k: int, given: int) -> _Step | None:
    """Blocks of `reach` steps, each predicted from a window that ends at the previous block's end, its
    target rows filled with the model's own predictions."""
    if m.target_feature is None:
        return None
    reach = m.reach
    base = reach * ((k - 1) // reach)
    j = k - base
    for i in range(max(0, j - m.horizon), m.outputs):
        end = k - m.horizon - i
        if end <= k - 1 and (not m.covariates or end <= given):
            return _Step(end, i, RECURSIVE, base // reach)
    return None


def _refusal(m: _Model, plan: DataPlan, table: Table, key: str | None, k: int) -> DataError:
    names = [plan.features[j] for j in m.covariates]
    which = f" of series '{key}'" if key is not None else ""
    if m.target_feature is not None and not names:
        return DataError(
            f"{table.source}: the run predicts '{plan.target}' from the same row (horizon 0), so it cannot "
            f"feed its own forecasts back: forecast with a run trained at horizon 1 or more"
        )
    fewer = f", or ask for at most {k - 1} step(s)" if k > 1 else ""
    return DataError(
        f"{table.source}: forecast step {k} needs {', '.join(repr(n) for n in names)} for rows after the last "
        f"target{which}: give them in rows with an empty target at the end of the series (known future "
        f"values){fewer}"
    )


# ============================================================================ running the model
def _given_rows(m: _Model, future_X: np.ndarray, steps: int) -> int:
    """Leading future rows whose covariates are all given (at most `steps`)."""
    if not m.covariates or not len(future_X):
        return 0
    ok = ~np.isnan(future_X[:steps, m.covariates]).any(axis=1)
    return int(len(ok) if ok.all() else np.argmax(~ok))


def _predict(model, device: str, m: _Model, data: _SeriesData, steps: int, plan: DataPlan, meta: RunMeta, table):
    """(predictions (N, steps) in target units, the _Step of each series' steps). Series with the same
    count of given future rows share one schedule and one batch per wave."""
    n = len(data.items)
    pred = np.full((n, steps), np.nan)
    schedules: list[list[_Step]] = [[] for _ in range(n)]
    given = [_given_rows(m, fx, steps) for fx in data.future_X]
    for g in sorted(set(given)):
        members = [s for s in range(n) if given[s] == g]
        plan_g = _schedule(m, steps, g)
        bad = next((x for x in plan_g if isinstance(x, int)), None)
        if bad is not None:
            raise _refusal(m, plan, table, data.items[members[0]].key, bad)
        sched = [x for x in plan_g if isinstance(x, _Step)]
        pred[members] = _run_group(model, device, m, data, members, sched, meta, table)
        for s in members:
            schedules[s] = sched
    return pred, schedules


def _run_group(model, device, m: _Model, data: _SeriesData, members, sched: list[_Step], meta, table) -> np.ndarray:
    steps = len(sched)
    first = min(0, min(st.end for st in sched)) - m.lookback + 1  # the oldest row any window reads
    buf = _buffer(m, data, members, -first + 1, steps, table)  # (G, rows first..steps, F)
    pos0 = -first  # buffer position of the last history row
    out = np.full((len(members), steps), np.nan)
    y_std, y_mean = float(meta.y_std), float(meta.y_mean)
    tf = m.target_feature
    k = 0
    while k < steps:
        wave = [k]  # steps whose windows need no prediction of this wave
        while wave[-1] + 1 < steps and (sched[wave[-1] + 1].method == DIRECT or sched[wave[-1] + 1].end <= k):
            wave.append(wave[-1] + 1)
        ends = sorted({sched[j].end for j in wave})
        windows = np.concatenate([buf[:, pos0 + e - m.lookback + 1 : pos0 + e + 1] for e in ends])
        res = _forward(model, device, windows, m).reshape(len(ends), len(members), -1)
        for j in wave:
            out[:, j] = res[ends.index(sched[j].end), :, sched[j].output] * y_std + y_mean
            if tf is not None:
                buf[:, pos0 + j + 1, tf] = (out[:, j] - meta.x_mean[tf]) / meta.x_std[tf]
        k = wave[-1] + 1
    return out


def _buffer(m: _Model, data: _SeriesData, members, history: int, steps: int, table) -> np.ndarray:
    """(G, history + steps, F) normalised inputs: each series' last `history` rows, then its future rows'
    given values (NaN where not given; target slots are filled with predictions)."""
    F = data.X[members[0]].shape[1]
    buf = np.full((len(members), history + steps, F), np.nan, dtype=np.float32)
    for g, s in enumerate(members):
        X = data.X[s]
        if len(X) < history:
            key = data.items[s].key
            which = f"series '{key}' has" if key is not None else "the series has"
            raise DataError(
                f"{table.source}: {which} {len(X)} row(s) with a target but the forecast reads the last "
                f"{history}: give it more history"
            )
        buf[g, :history] = X[len(X) - history :]
        fx = data.future_X[s][:steps]
        if len(fx):
            buf[g, history : history + len(fx)] = fx
    if m.target_feature is not None:
        buf[:, history:, m.target_feature] = np.nan
    return buf


FORWARD_BATCH = 8192  # windows per forward pass (memory stays bounded for many series)


def _forward(model, device: str, windows: np.ndarray, m: _Model) -> np.ndarray:
    """The model's outputs (B, H) for windows (B, L, F) (a per-step output: its last step)."""
    import torch

    outs = []
    with torch.no_grad():
        for lo in range(0, len(windows), FORWARD_BATCH):
            xb = torch.from_numpy(np.ascontiguousarray(windows[lo : lo + FORWARD_BATCH])).to(device)
            out = model(xb).float()
            if m.seq_target:
                out = out[:, -1]
            outs.append(out.reshape(out.shape[0], -1).double().cpu().numpy())
    return np.concatenate(outs) if outs else np.zeros((0, m.outputs))


# ============================================================================ times, history, intervals
@dataclass
class _Times:
    frequency: Frequency
    history: list[Any]  # as written
    history_x: np.ndarray
    future: list[Any]
    future_x: np.ndarray


def _series_times(table: Table, plan: DataPlan, item: _Series, steps: int, shown: int) -> _Times:
    """The series' last `shown` history times and its `steps` next times, as the file writes them."""
    from ..data.timefreq import iso_format, next_values

    name = plan.time_column
    hist_rows = item.file_rows[len(item.file_rows) - shown :]
    if name is None:  # the row number: the file's for one series, the series' own for many
        last = int(item.file_rows[-1]) + 1 if plan.series_column is None else len(item.file_rows)
        hx = np.arange(last - len(hist_rows) + 1, last + 1, dtype=np.float64)
        fx = next_values(last, ROWS, steps)
        return _Times(ROWS, [int(v) for v in hx], hx, [int(v) for v in fx], fx)
    rows = np.concatenate([item.file_rows, item.future]).astype(np.int64)
    fmt = table.time_formats.get(name)
    if name in table.times:
        values = table.times[name][rows]
    else:
        values = np.asarray(table.columns[name], dtype=np.float64)[rows]
    freq = infer_frequency(values, name, rows=rows, source=table.source, fmt=fmt)
    last = values[len(item.file_rows) - 1]
    hist_values = values[len(item.file_rows) - len(hist_rows) : len(item.file_rows)]
    future = next_values(last, freq, steps)
    if name in table.times:
        like = fmt or iso_format(last, freq)
        written: list[Any] = list(format_times(hist_values, like))
        return _Times(
            freq, written, _seconds(hist_values), continue_times(last, freq, steps, like=fmt), _seconds(future)
        )
    hist_text = [format_time(v) for v in hist_values]
    hist = [int(v) if v.lstrip("-").isdigit() else float(v) for v in hist_text]
    return _Times(freq, hist, hist_values.astype(np.float64), continue_times(last, freq, steps), future)


def _seconds(t: np.ndarray) -> np.ndarray:
    return np.asarray(t, dtype="datetime64[s]").astype(np.int64).astype(np.float64)


def _bounds(intervals: Intervals | None, pred: np.ndarray, sched: list[_Step]) -> tuple[np.ndarray, np.ndarray]:
    """Conformal bounds per step: the half-width of the output step that predicted it, widened by
    sqrt(1 + fed-back blocks) for a recursive step (independent errors per block: an assumption)."""
    if intervals is None:
        nan = np.full(pred.shape, np.nan)
        return nan, nan.copy()
    width = intervals.half_width[:, 0]
    w = np.asarray([width[st.output] * math.sqrt(1 + st.blocks) for st in sched])
    return pred - w, pred + w


def _assemble(run_dir, checkpoint, table, plan, data, pred, schedules, intervals, notes, m) -> Forecast:
    steps = pred.shape[1]
    shown = max(3 * steps, m.lookback)
    out: list[SeriesForecast] = []
    freq = ROWS
    for s, item in enumerate(data.items):
        times = _series_times(table, plan, item, steps, min(shown, len(item.file_rows)))
        freq = times.frequency if s == 0 else freq
        lower, upper = _bounds(intervals, pred[s], schedules[s])
        history = data.y[s][len(data.y[s]) - len(times.history) :]
        out.append(
            SeriesForecast(
                item.key,
                times.history,
                np.asarray(history, dtype=np.float64),
                times.future,
                np.arange(1, steps + 1),
                pred[s],
                lower,
                upper,
                times.history_x,
                times.future_x,
            )
        )
    methods = [st.method for st in schedules[0]] if schedules else []
    if intervals is not None and RECURSIVE in methods:
        first = methods.index(RECURSIVE) + 1
        notes = [
            *notes,
            f"steps {first}..{steps} are recursive (the model's own forecasts fed back): their intervals are "
            f"widened by sqrt(1 + blocks fed back), an assumption, not a calibration",
        ]
    return Forecast(
        str(run_dir),
        checkpoint,
        str(plan.target),
        plan.series_column,
        plan.time_column,
        intervals.level if intervals is not None else None,
        steps,
        freq,
        methods,
        out,
        notes,
    )
