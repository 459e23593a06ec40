"""The data plan: what a run will train on, derived from (data file, design, settings) before anything trains.

One plan serves `rnn-studio data FILE --design D`, `rnn-studio train` (recorded in the run folder as
plan.json and in the start record) and the GUI Train panel (shown live as settings change). It names
the target, the feature columns in order, the time column, the series column, lookback and horizon,
the split boundaries (rows, and timestamps when there is a time column), the window count per split,
the missing-value handling, warnings and errors.

Time-series defaults (docs/data.md):
* a time / index column (dates or timestamps, a column named like time/date/year/timestamp, or a
  strictly increasing evenly spaced integer column) is never a default feature; rows out of its order
  are an error naming the row; irregular spacing is a warning naming the first gap.
* a design whose Input takes one feature trains on the target itself (autoregressive).

Pre-windowed samples (.npz, and tables of token ids, one sequence per row) get their plan here too
(`make_npz_plan`, `make_token_plan`): X and y checked against the design, the samples split.

Messages name the controls of the interface that asked (`ui="cli"`: flags; `ui="gui"`: the Train
panel's controls), never the other's.

No Qt, no torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from .columns import DataError, check_array, check_array_range, check_finite_range, release_pages
from .spec import CONTROLS as CONTROLS
from .spec import MISSING_POLICIES as MISSING_POLICIES
from .spec import NO_TIME as NO_TIME
from .spec import SPLIT_NAMES as SPLIT_NAMES
from .spec import SPLIT_WORDS as SPLIT_WORDS
from .spec import DesignIO as DesignIO
from .tables import TIME_NAMES, NpzArrays, Table


@dataclass
class DataPlan:
    source: str
    format: str
    rows: int
    task: str = "regression"
    target: str | None = None
    features: list[str] = field(default_factory=list)
    time_column: str | None = None
    series_column: str | None = None
    series: int = 1
    lookback: int | None = None
    horizon: int = 1
    steps: int = 1  # forecast steps: a direct multi-step design predicts targets r+horizon .. r+horizon+steps-1
    season: int | None = None  # season length m (seasonal naive, MASE): --season, the run's, or the time column's
    season_source: str = ""  # where the season came from: "--season", "the run's", "'date' is daily", "default"
    fold: list[int] | None = None  # a backtest fold [k, K]: test block k of K at the end of each series
    split: list[float] = field(default_factory=lambda: [0.7, 0.15, 0.15])
    split_rows: dict[str, int] = field(default_factory=dict)  # rows per split (all series)
    split_ranges: dict[str, list[int]] = field(default_factory=dict)  # one series: [first, last] 1-based rows
    split_times: dict[str, list[str]] = field(default_factory=dict)  # with a time column: [first, last] time
    # many series with a time column: per series (at most SERIES_TIMES_SHOWN of them) its split -> [first, last]
    series_split_times: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    windows: dict[str, int] = field(default_factory=dict)
    missing: dict[str, Any] = field(
        default_factory=lambda: {"policy": "error", "cells": 0, "filled": 0, "rows_dropped": 0}
    )
    ignored: list[str] = field(default_factory=list)
    future_rows: int = 0  # rows after the last target of their series (empty target): the future, not trained on
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    input_features_fix: int | None = None  # the Input features count that would fit the chosen columns
    vocabulary: int | None = None  # token ids (one row per sequence): ids run 0..vocabulary-1, 0 = padding
    classes: list[str] = field(default_factory=list)  # token plans: the class labels, in class-index order

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> list[str]:
        """Human-readable lines (the CLI's `data` verb and the GUI's plan box)."""
        if self.vocabulary is not None:
            return self._describe_tokens()
        out = [
            f"target: {self.target}" + (f" ({self.task})" if self.task != "regression" else ""),
            f"features: {', '.join(self.features) if self.features else '-'}",
        ]
        if self.time_column:
            out.append(f"time column: {self.time_column} (orders the rows; not a feature)")
        if self.series_column:
            out.append(f"series column: {self.series_column} ({self.series} series)")
        if self.lookback is not None:
            out.append(f"window: lookback {self.lookback}, horizon {self.horizon}{self._steps_text()}")
        if self.season is not None and self.season_source == "default":
            if self.steps > 1:  # one step: seasonal naive at season 1 is persistence, nothing to add
                out.append("season: 1 (no time column to detect one from)")
        elif self.season is not None:
            out.append(f"season: {self.season} ({self.season_source}; seasonal naive and MASE use it)")
        for s in SPLIT_NAMES:
            if s in self.windows:
                rows = self.split_rows.get(s, 0)
                where = f" from {rows:,} rows"
                if s in self.split_ranges:
                    a, b = self.split_ranges[s]
                    # "rows 1-2800" says how many rows too: the line fits the Train panel's column
                    where = f", rows {a}-{b}" if b - a + 1 == rows else f"{where}, rows {a}-{b}"
                if s in self.split_times:
                    many = " over all series" if self.series > 1 else ""
                    where += f" ({self.split_times[s][0]} .. {self.split_times[s][1]}{many})"
                out.append(f"{SPLIT_WORDS[s]}: {self.windows[s]:,} windows{where}")
        out += self._series_times_text()
        m = self.missing
        if m["policy"] != "error" or m["cells"]:
            out.append(
                f"missing values: {m['cells']} cell(s), policy {m['policy']}: {m['filled']} filled, "
                f"{m['rows_dropped']} row(s) dropped"
            )
        if self.ignored:
            out.append(f"not used: {', '.join(self.ignored)}")
        if self.future_rows:
            out.append(
                f"future: {self.future_rows:,} row(s) after the last target of their series (empty target): "
                f"not trained on; a forecast starts there and reads their feature values"
            )
        out += [f"warning: {w}" for w in self.warnings]
        out += [f"error: {e}" for e in self.errors]
        return out

    def _steps_text(self) -> str:
        if self.steps <= 1:
            return ""
        first = self.horizon
        return (
            f"; forecasts steps 1..{self.steps} (rows r+{first} .. r+{first + self.steps - 1} after the "
            f"window's last row r)"
        )

    def _series_times_text(self, shown: int = 5) -> list[str]:
        out = []
        for sid, splits in list(self.series_split_times.items())[:shown]:
            parts = [f"{SPLIT_WORDS[k]} {v[0]} .. {v[1]}" for k, v in splits.items()]
            out.append(f"  series {sid}: {'; '.join(parts)}")
        more = self.series - min(shown, len(self.series_split_times))
        if out and more > 0:
            out.append(f"  ... and {more} more series (plan.json lists up to {SERIES_TIMES_SHOWN})")
        return out

    def _describe_tokens(self) -> list[str]:
        if not self.features:  # refused before the columns were chosen: only the error
            return [f"error: {e}" for e in self.errors]
        classes = f"; classes: {', '.join(self.classes)}" if self.classes else ""
        out = [
            f"target: {self.target} ({self.task}{classes})",
            f"token ids: {', '.join(self.features)} ({len(self.features)} steps, one sequence per row; ids "
            f"0..{self.vocabulary - 1 if self.vocabulary else 0}, 0 = padding)",
            "normalization: none (ids are never normalized); no time column",
        ]
        for s in (*SPLIT_NAMES, "all"):
            if s in self.windows:
                out.append(f"{SPLIT_WORDS.get(s, s)}: {self.windows[s]:,} sequences")
        if self.ignored:
            out.append(f"not used: {', '.join(self.ignored)}")
        out += [f"warning: {w}" for w in self.warnings]
        out += [f"error: {e}" for e in self.errors]
        return out


SERIES_TIMES_SHOWN = 100  # series whose split dates plan.json lists one by one


class WindowStarts:
    """The window starts of one split, held as runs of consecutive training rows: run k holds the starts
    firsts[k], firsts[k] + 1, ..., firsts[k] + counts[k] - 1 (one run per series), so a split of ten
    million windows costs a few bytes, not one int64 per window. Position p (0-based within the split)
    is the start `firsts[k] + p - offsets[k]` of the run k holding it."""

    def __init__(self, firsts, counts):
        self.firsts = np.asarray(firsts, dtype=np.int64).reshape(-1)
        self.counts = np.asarray(counts, dtype=np.int64).reshape(-1)
        keep = self.counts > 0
        self.firsts, self.counts = self.firsts[keep], self.counts[keep]
        self.offsets = np.cumsum(self.counts) - self.counts  # position of each run's first window
        self.size = int(self.counts.sum())

    def take(self, positions) -> np.ndarray:
        """Window starts (int64) of positions within the split."""
        positions = np.asarray(positions, dtype=np.int64)
        if len(self.counts) == 1:
            return positions + self.firsts[0]
        run = np.searchsorted(self.offsets, positions, side="right") - 1
        return self.firsts[run] + positions - self.offsets[run]

    def numpy(self) -> np.ndarray:
        """Every start (materialized: for small splits and tests)."""
        return self.take(np.arange(self.size))

    def max(self) -> int:
        return int((self.firsts + self.counts - 1).max()) if self.size else 0


@dataclass
class Layout:
    """How the plan maps file rows to training rows: `order` (file row of each training row; None = all
    rows in file order), `segments` [(start, end)] of each series in training rows, `values` (a column
    after missing-value handling, when it differs from the file's)."""

    order: np.ndarray | None
    segments: list[tuple[int, int]]
    values: dict[str, np.ndarray] = field(default_factory=dict)
    index: dict[str, WindowStarts] = field(default_factory=dict)  # split -> window starts (training rows)
    fit_rows: list[tuple[int, int]] = field(default_factory=list)  # [start, end) training rows of the fit
    # the future: per series (segment), the file rows after its last target (empty target at the end of
    # the series), oldest first; not training rows. `future_mask` marks them in file order (None: none).
    future: list[np.ndarray] = field(default_factory=list)
    future_mask: np.ndarray | None = None
    # a classifier's target column as class indices (training rows) and the classes they index
    labels: np.ndarray | None = None
    classes: list | None = None
    samples: Samples | None = None  # pre-windowed samples (.npz, token ids): their checked arrays

    def column(self, table: Table, name: str) -> np.ndarray:
        if name in self.values:
            return self.values[name]
        col = table.columns[name]
        return col if self.order is None else col[self.order]


def make_plan(
    table: Table, spec, design: DesignIO, *, ui: str = "cli", split: bool = True, meta=None, labels: bool = False
) -> tuple[DataPlan, Layout | None]:
    """The plan for `table` under `spec` (engine.data.DataSpec) and the design; with `meta` (a saved
    run's) its columns and window are used; `labels`: a classifier's target column is encoded as class
    indices in the layout (what the dataset is made of). Errors are collected in plan.errors (layout None)."""
    plan = DataPlan(
        table.source, table.fmt, table.n_rows, task=design.task, split=list(spec.split), horizon=int(spec.horizon)
    )
    try:
        layout = _derive(table, spec, design, plan, CONTROLS[ui], split, meta)
        if labels:
            _encode_labels(table, plan, layout, design, meta)
    except DataError as e:
        plan.errors.append(str(e))
        return plan, None
    return plan, layout


def _run_features(table, spec, meta) -> list[str]:
    """A run's feature columns in `table`: the run's names, or `spec.features` naming them in this file
    (an imported run's features are f0, f1, ... unless `import --features` named them)."""
    names = list(meta.features)
    if spec.features:
        chosen = [f.strip() for f in spec.features.split(",")] if isinstance(spec.features, str) else spec.features
        if len(chosen) != len(names):
            raise DataError(
                f"{table.source}: --features names {len(chosen)} column(s) but the run takes {len(names)} "
                f"({', '.join(names)}): name exactly {len(names)}"
            )
        names = list(chosen)
    placeholders = all(n == f"f{i}" for i, n in enumerate(names))
    for f in names:
        try:
            table.col_index(f, "feature column")
        except DataError as e:
            if not placeholders:
                raise
            raise DataError(
                f"{e}; the run's features have no names (the model was imported without --features): name "
                f"this file's {len(names)} feature column(s) with --features A,B on predict / evaluate "
                f"(or on import)"
            ) from None
    return names


def _derive(table, spec, design, plan, c, split, meta) -> Layout:
    src = table.source
    plan.series_column = _series_column(table, spec, meta)
    if meta is not None:
        plan.target, plan.features = meta.target, _run_features(table, spec, meta)
    else:
        plan.target = _choose_target(table, spec, plan.series_column)
    plan.time_column = _choose_time(table, spec, plan, c, meta)
    layout = _group_rows(table, plan)
    if plan.time_column:
        _check_time_order(table, plan, layout, c)
    _season(table, spec, plan, layout, c, meta)
    _check_target(table, plan, design)
    _future_rows(table, plan, layout)
    if meta is None:
        plan.features = _choose_features(table, spec, plan, design, c)
    elif len(plan.features) != design.n_features:
        raise DataError(f"{src}: the run used {len(plan.features)} feature(s) but its design takes {design.n_features}")
    plan.ignored = [
        n
        for n in table.names
        if n not in plan.features and n not in (plan.target, plan.time_column, plan.series_column)
    ]
    _handle_missing(table, plan, layout, spec.missing or "error", c)
    _window(table, spec, plan, layout, design, c, meta)
    if split:
        plan.fold = list(spec.fold) if getattr(spec, "fold", None) else None
        if plan.fold:
            _check_fold(table, plan, layout, c)
        _split(plan, layout, c)
        _split_labels(table, plan, layout)
    else:
        layout.index = {"all": _starts(layout, plan)}
        layout.fit_rows = [(0, sum(e - s for s, e in layout.segments))]
        plan.windows = {"all": layout.index["all"].size}
    return layout


def _encode_labels(table: Table, plan: DataPlan, layout: Layout, design: DesignIO, meta) -> None:
    """A classifier's target column as class indices: a saved run's classes, or the ones found."""
    target = plan.target
    if design.task == "regression" or target is None or target not in table.names:
        return
    layout.labels, layout.classes = class_labels(
        layout.column(table, target),
        lambda r: table.where(target, r),
        table.source,
        target,
        design.units,
        meta.classes if meta is not None else None,
    )


def _series_column(table: Table, spec, meta=None) -> str | None:
    """The spec's series column; else, for a saved run (evaluate / predict), the run's when the file has
    that column; else a folder's file-name column."""
    name = getattr(spec, "series", None)
    if name:
        table.col_index(name, "series column")
        return name
    saved = getattr(meta, "series", None)
    if saved and saved in table.names:
        return saved
    return "series" if table.fmt == "folder" else None


def _choose_time(table: Table, spec, plan: DataPlan, c, meta=None) -> str | None:
    """DataSpec.time: None detects the time column, "none" means there is none, a name chooses it. A
    saved run (evaluate / predict) defaults to the run's choice when the file has that column."""
    choice = getattr(spec, "time", None)
    if choice is None and meta is not None and getattr(meta, "time", None):
        choice = meta.time if meta.time == NO_TIME or meta.time in table.names else None
    if choice is None:
        return _time_column(table, {plan.target, plan.series_column})
    if choice == NO_TIME:
        return None
    table.col_index(choice, "time column")
    for role, other in (("target", plan.target), ("series column", plan.series_column)):
        if choice == other:
            raise DataError(
                f"{table.source}: column '{choice}' is the {role}, so it cannot also be the time column: "
                f"choose another time column with {c['time']}"
            )
    if table.kinds[choice] == "text":
        if choice in table.bad:
            row, cell = table.bad[choice]
            raise DataError(
                f"{table.where(choice, row)}: {cell!r} is not a number or a time in the time column: fix the "
                f"value, or choose another time column with {c['time']}"
            )
        first = next((v for v in table.columns[choice] if v not in (None, "")), "")
        raise DataError(
            f"{table.source}: column '{choice}' holds text ({first!r}), not dates, times or numbers: choose "
            f"another time column with {c['time']}"
        )
    return choice


def _choose_target(table: Table, spec, series: str | None) -> str:
    if spec.target is not None:
        table.col_index(spec.target, "target column")
        return spec.target
    for name in reversed(table.names):
        if name != series and table.kinds[name] != "time":
            return name
    return table.names[-1]


def _time_column(table: Table, exclude: set) -> str | None:
    """Dates / timestamps first, then a numeric column named like time, then a strictly increasing evenly
    spaced integer column."""
    names = [n for n in table.names if n not in exclude]
    for n in names:
        if table.kinds[n] == "time":
            return n
    for n in names:
        if table.kinds[n] in ("integer", "number") and TIME_NAMES.search(n) and n not in table.bad:
            return n
    for n in names:
        if table.kinds[n] == "integer" and not table.mapped and table.n_rows > 2:
            d = np.diff(table.columns[n])
            if d.size and d[0] > 0 and np.all(d == d[0]):
                return n
    return None


def _group_rows(table: Table, plan: DataPlan) -> Layout:
    """Rows per series, each in file order: one segment per series."""
    n = table.n_rows
    if plan.series_column is None:
        return Layout(None, [(0, n)])
    ids = table.columns[plan.series_column]
    if table.kinds[plan.series_column] == "text":
        missing = np.array([v is None or str(v).strip() == "" for v in ids])
    else:
        missing = np.isnan(ids)
    if missing.any():
        raise DataError(
            f"{table.where(plan.series_column, int(np.argmax(missing)))}: empty series id: give every "
            f"row the id of its series"
        )
    keys = ids.astype(str) if table.kinds[plan.series_column] == "text" else ids
    uniq, first, codes = np.unique(keys, return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first))  # series in order of first appearance
    order = np.argsort(rank[codes], kind="stable")
    counts = np.bincount(rank[codes], minlength=len(uniq))
    ends = np.cumsum(counts)
    plan.series = len(uniq)
    return Layout(order, [(int(e - k), int(e)) for e, k in zip(ends, counts, strict=True)])


def _check_time_order(table: Table, plan: DataPlan, layout: Layout, c) -> None:
    name = plan.time_column
    assert name is not None  # called only when the plan has a time column
    t = layout.column(table, name)
    rows = layout.order if layout.order is not None else None
    gap = None
    for s, e in layout.segments:
        seg = t[s:e]
        nan = np.isnan(seg)
        if nan.any():
            r = s + int(np.argmax(nan))
            raise DataError(
                f"{table.where(name, int(rows[r]) if rows is not None else r)}: empty time value: fill it "
                f"in or delete the row"
            )
        d = np.diff(seg)
        if d.size and (d <= 0).any():
            r = s + 1 + int(np.argmax(d <= 0))
            file_row = int(rows[r]) if rows is not None else r
            many = (
                ""
                if plan.series_column or not any(table.is_text(n) for n in table.names)
                else f" (or, when the file holds many series, choose the series column with {c['series']})"
            )
            raise DataError(
                f"{table.where(name, file_row)}: {table.cell_text(name, file_row)} is not after the row "
                f"above it: sort the rows by '{name}' (oldest first) and remove duplicates{many}"
            )
        if gap is None and d.size > 1:
            step = np.median(d)
            off = np.abs(d - step) > 1e-9 * max(abs(step), 1.0)
            if off.any() and not _calendar_steps(table, name, step):
                i = s + int(np.argmax(off))
                fa, fb = (int(rows[i]), int(rows[i + 1])) if rows is not None else (i, i + 1)
                gap = (
                    f"'{name}' is not evenly spaced: first gap between row {fa + 1} ({table.cell_text(name, fa)}) "
                    f"and row {fb + 1} ({table.cell_text(name, fb)}); windows run across gaps"
                )
    if gap:
        plan.warnings.append(gap)


def check_season(value, c=CONTROLS["cli"]) -> int:
    """A season length given by a person: a whole number 1 or more; DataError otherwise."""
    try:
        m = int(value)
        ok = m == float(value) and m >= 1
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise DataError(
            f"{c['season']} must be a whole number of rows, 1 or more (e.g. 7 for daily data), received {value!r}"
        )
    return m


def _season(table: Table, spec, plan: DataPlan, layout: Layout, c, meta) -> None:
    """plan.season: the spec's (--season), else the run's, else the time column's frequency (hourly 24,
    daily 7, weekly 52, monthly 12, quarterly 4, otherwise 1); without a time column 1 ("default")."""
    given = getattr(spec, "season", None)
    if given is not None:
        plan.season, plan.season_source = check_season(given, c), c["season"]
        return
    saved = getattr(meta, "season", None)
    if saved:
        plan.season, plan.season_source = int(saved), "the run's"
        return
    name = plan.time_column
    if name is None:
        plan.season, plan.season_source = 1, "default"
        return
    from .timefreq import infer_frequency  # the calendar rules live there (hourly 24, daily 7, ...)

    s, e = max(layout.segments, key=lambda se: se[1] - se[0])
    e = min(e, s + 10_000)  # the step of a long series is clear long before its end
    rows = layout.order[s:e] if layout.order is not None else np.arange(s, e)
    values = table.times[name][rows] if name in table.times else np.asarray(layout.column(table, name)[s:e])
    try:
        freq = infer_frequency(values, name, rows=rows, source=table.source)
    except DataError:  # irregular spacing (a warning of the plan): no season to read from it
        plan.season, plan.season_source = 1, f"'{name}' is not evenly spaced"
        return
    if freq.unit == "number":
        plan.season, plan.season_source = 1, f"'{name}' holds numbers, not dates: no calendar season"
    else:
        plan.season, plan.season_source = freq.season, f"'{name}' is {freq.name}"


def _calendar_steps(table: Table, name: str, step: float) -> bool:
    """Monthly / yearly dates are irregular in seconds but regular on the calendar."""
    return name in table.times and step >= 28 * 86400


def _choose_features(table: Table, spec, plan: DataPlan, design: DesignIO, c) -> list[str]:
    src, target, n_features = table.source, plan.target, design.n_features
    special = (plan.time_column, plan.series_column)
    if spec.features is not None:
        if not spec.features:
            raise DataError(f"{src}: no feature column chosen: choose {n_features} with {c['features']}")
        for f in spec.features:
            table.col_index(f, "feature column")
            if table.is_text(f):
                raise DataError(f"{src}: column '{f}' is not numeric: leave it out of {c['features']}")
        if len(set(spec.features)) != len(spec.features):
            raise DataError(f"{src}: {c['features']} lists a column twice: {','.join(spec.features)}")
        if len(spec.features) != n_features:
            plan.input_features_fix = len(spec.features)
            raise DataError(
                f"{src}: {len(spec.features)} feature column(s) chosen ({', '.join(spec.features)}) but "
                f"the design's Input takes {n_features} feature(s): set the Input's features to "
                f"{len(spec.features)} or choose {n_features} column(s) with {c['features']}"
            )
        return list(spec.features)
    numeric = [n for n in table.names if not table.is_text(n) and n not in special and table.kinds[n] != "time"]
    others = [n for n in numeric if n != target]
    if n_features == 1 and target in numeric and design.task == "regression":
        return [target]  # autoregressive: a one-feature Input reads the target's own history
    if len(others) == n_features and others:
        return others
    if target in numeric and len(others) + 1 == n_features and design.task == "regression":
        return others + [target]
    text = [n for n in table.names if table.is_text(n) and n not in special]
    more = f" (text columns left out: {', '.join(text)})" if text else ""
    plan.input_features_fix = len(others) or 1
    raise DataError(
        f"{src}: the design's Input takes {n_features} feature(s) but the file has {len(others)} numeric "
        f"column(s) besides the target '{target}'{more}: choose {n_features} with "
        f"{c['features_example']} or set the Input's features to {len(others) or 1}"
    )


def _check_target(table: Table, plan: DataPlan, design: DesignIO) -> None:
    target = plan.target
    if target not in table.names:
        return  # predict on a file without the target column
    if design.task == "regression":
        if table.is_text(target):
            first = next((v for v in table.columns[target] if v not in (None, "")), "")
            raise DataError(
                f"{table.source}: target column '{target}' is not numeric ({first!r} in row 1): for class "
                f"labels set training.task to classification"
            )
        if design.units != 1 and design.seq_target:
            raise DataError(
                f"{table.source}: one target column '{target}' but the design's output has {design.units} "
                f"units per step: set the output Dense units to 1 (or train a classifier with training.task)"
            )


def _future_rows(table: Table, plan: DataPlan, layout: Layout) -> None:
    """Rows at the end of a series whose (numeric) target is empty are its future, not missing values:
    they leave the training rows (layout.order / segments) and are kept in layout.future, so `forecast`
    starts after the last target and reads the feature values given there (known future covariates)."""
    target = plan.target
    if plan.task != "regression" or target not in table.names or table.kinds[target] == "text":
        return
    col = layout.column(table, target)
    tails = []
    for s, e in layout.segments:
        k = 0
        while k < e - s and np.isnan(col[e - 1 - k]):
            k += 1
        tails.append(k if k < e - s else 0)  # a series without any target is a missing column, not a future
    if not any(tails):
        return
    order = layout.order if layout.order is not None else np.arange(table.n_rows)
    keep, segments, future = [], [], []
    start = 0
    for (s, e), k in zip(layout.segments, tails, strict=True):
        keep.append(order[s : e - k])
        future.append(np.asarray(order[e - k : e], dtype=np.int64))
        segments.append((start, start + e - s - k))
        start += e - s - k
    layout.order = np.concatenate(keep) if keep else order[:0]
    layout.segments, layout.future = segments, future
    layout.future_mask = np.zeros(table.n_rows, dtype=bool)
    layout.future_mask[np.concatenate(future)] = True
    plan.future_rows = int(sum(tails))


def _used_columns(table: Table, plan: DataPlan) -> list[str]:
    used = list(plan.features)
    if plan.task == "regression" and plan.target in table.names and plan.target not in used:
        used.append(plan.target)
    return used


def _nan_count(arr: np.ndarray, chunk: int = 1 << 17) -> int:
    total = 0
    for lo in range(0, len(arr), chunk):
        total += int(np.count_nonzero(np.isnan(arr[lo : lo + chunk])))
        release_pages(arr)
    return total


def _handle_missing(table: Table, plan: DataPlan, layout: Layout, policy: str, c) -> None:
    if policy not in MISSING_POLICIES:
        raise DataError(f"missing-value policy must be one of {', '.join(MISSING_POLICIES)}, received {policy!r}")
    plan.missing = {"policy": policy, "cells": 0, "filled": 0, "rows_dropped": 0}
    used = _used_columns(table, plan)
    counts = {}
    for name in used:
        role = "target" if name == plan.target and name not in plan.features else "feature"
        arr = table.numeric(name, role, fix=f"leave the column out with {c['features']}")
        if table.mapped:
            check_finite_range(arr, lambda r, n=name: table.where(n, r))
        counts[name] = _nan_count(arr)
        if layout.future_mask is not None:  # the future's empty cells are not missing values
            counts[name] -= int(np.count_nonzero(np.isnan(arr[layout.future_mask])))
    plan.missing["cells"] = total = sum(counts.values())
    if total == 0:
        return
    if policy == "error":
        name = next(n for n in used if counts[n])
        gaps = np.isnan(table.columns[name])
        if layout.future_mask is not None:
            gaps &= ~layout.future_mask
        row = int(np.argmax(gaps))
        raise DataError(
            f"{table.where(name, row)}: missing value (empty cell or NaN): fill it in, or choose how to "
            f"handle gaps with {c['missing_values']}"
        )
    if policy == "drop":
        _drop_rows(table, plan, layout, used)
        return
    for name in used:
        if counts[name]:
            values = np.array(layout.column(table, name), dtype=np.float64)
            for s, e in layout.segments:
                _fill_segment(values[s:e], policy, table, name)
            layout.values[name] = values
    plan.missing["filled"] = total


def _fill_segment(seg: np.ndarray, policy: str, table: Table, name: str) -> None:
    """Fill NaNs in place: linear interpolation, or the last value before (the first value for leading gaps)."""
    nan = np.isnan(seg)
    if not nan.any():
        return
    if nan.all():
        raise DataError(
            f"{table.source}: column '{name}' has no value at all in a series: fill it in or leave the column out"
        )
    pos = np.arange(seg.size)
    if policy == "interpolate":
        seg[nan] = np.interp(pos[nan], pos[~nan], seg[~nan])
        return
    last = np.where(~nan, pos, 0)
    np.maximum.accumulate(last, out=last)
    first_valid = int(np.argmax(~nan))
    filled = seg[last]
    filled[:first_valid] = seg[first_valid]
    seg[:] = filled


def _drop_rows(table: Table, plan: DataPlan, layout: Layout, used: list[str]) -> None:
    n = sum(e - s for s, e in layout.segments)
    keep = np.ones(n, dtype=bool)
    for name in used:
        keep &= ~np.isnan(layout.column(table, name))
    dropped = int(n - keep.sum())
    if dropped == n:
        raise DataError(
            f"{table.source}: every row has a missing value in {', '.join(used)}, so dropping them leaves "
            f"no data: fill the gaps (interpolate or fill forward) or leave those columns out"
        )
    order = layout.order if layout.order is not None else np.arange(n)
    counts = [int(keep[s:e].sum()) for s, e in layout.segments]
    layout.order = order[keep]
    ends = np.cumsum(counts)
    layout.segments = [(int(e - k), int(e)) for e, k in zip(ends, counts, strict=True)]
    plan.missing["rows_dropped"] = dropped
    plan.warnings.append(f"{dropped} row(s) with missing values dropped: windows run across the dropped rows")


def _window(table: Table, spec, plan: DataPlan, layout: Layout, design: DesignIO, c, meta) -> None:
    horizon = int(spec.horizon if meta is None or meta.horizon is None else meta.horizon)
    if horizon < 0:
        raise DataError(f"{c['horizon']} must be 0 or more, received {horizon}")
    lookback = spec.lookback if meta is None or meta.lookback is None else meta.lookback
    if lookback is None:
        lookback = design.timesteps if design.timesteps is not None else 32
    lookback = int(lookback)
    if lookback < 1:
        raise DataError(f"{c['lookback']} must be 1 or more, received {lookback}")
    if design.timesteps is not None and lookback != design.timesteps:
        raise DataError(
            f"{c['lookback']} {lookback} does not match the design's Input timesteps {design.timesteps}: "
            f"leave {c['lookback']} at its default, or set the Input's timesteps to {lookback} (or to null)"
        )
    plan.lookback, plan.horizon = lookback, horizon
    if design.task == "regression" and not design.seq_target:
        plan.steps = max(1, design.units)  # also when predict reads a file without the target column
    need = lookback + horizon + plan.steps - 1
    what = f"horizon {horizon}" + (f" + {plan.steps - 1} more step(s)" if plan.steps > 1 else "")
    for i, (s, e) in enumerate(layout.segments):
        if e - s < need:
            if plan.series_column is None:
                raise DataError(
                    f"{table.source}: {e - s} data row(s) but one window needs lookback {lookback} + {what} "
                    f"= {need} rows: use more data or a smaller {c['lookback']} / {c['horizon']}"
                )
            file_rows = layout.order if layout.order is not None else np.arange(table.n_rows)
            first = int(file_rows[s]) if e > s else 0
            sid = table.cell_text(plan.series_column, first) if e > s else f"#{i + 1}"
            raise DataError(
                f"{table.source}: series '{sid}' ({plan.series_column}) has {e - s} row(s), shorter than one "
                f"window (lookback {lookback} + {what} = {need} rows): remove that series or "
                f"use a smaller {c['lookback']}"
            )


def _starts(layout: Layout, plan: DataPlan) -> WindowStarts:
    assert plan.lookback is not None  # the window is chosen first
    need = plan.lookback + plan.horizon + plan.steps - 1
    return WindowStarts([s for s, _ in layout.segments], [max(0, e - s - need + 1) for s, e in layout.segments])


def check_split(split, c=CONTROLS["cli"]) -> tuple[float, float, float]:
    try:
        a, b, d = (float(v) for v in split)
    except (TypeError, ValueError):
        raise DataError(
            f"{c['split']} must be three fractions train,val,test such as 0.7,0.15,0.15, received {split!r}"
        ) from None
    if not all(np.isfinite((a, b, d))) or min(a, b, d) < 0 or a <= 0 or abs(a + b + d - 1.0) > 1e-6:
        raise DataError(f"{c['split']}: fractions must be >= 0 (train > 0) and add up to 1, received {a},{b},{d}")
    return a, b, d


def split_bounds(n: int, fractions) -> tuple[int, int]:
    a, b, _ = fractions
    n_tr = round(n * a)
    n_va = round(n * b)
    return n_tr, min(n, n_tr + n_va)


def fold_bounds(n: int, fractions, fold, steps: int = 1) -> tuple[int, int, int]:
    """(n_tr, n_tv, end) of one series of n rows in backtest fold [k, K]: the last
    K·b rows (b = floor(n·test fraction / K), at least `steps`) are K consecutive test blocks; fold k
    tests on block k, rows [n_tv, end), and trains / validates on the rows before it, split in the
    train:val ratio. Rows after the block are not used."""
    k, K = (int(v) for v in fold)
    a, b, t = fractions
    block = max(int(steps), int(n * t / K))
    n_tv = n - (K - k + 1) * block
    n_tr = round(max(n_tv, 0) * a / (a + b)) if a + b > 0 else n_tv
    return n_tr, max(n_tv, 0), max(n_tv, 0) + block


def _bounds(plan: DataPlan, n: int, fractions) -> tuple[int, int, int]:
    if plan.fold:
        return fold_bounds(n, fractions, plan.fold, plan.steps)
    n_tr, n_tv = split_bounds(n, fractions)
    return n_tr, n_tv, n


def _check_fold(table: Table, plan: DataPlan, layout: Layout, c) -> None:
    """A backtest fold needs, in every series, at least one window's rows before its test block."""
    assert plan.fold is not None and plan.lookback is not None  # called for a fold, after the window
    k, K = plan.fold
    need = plan.lookback + plan.horizon + plan.steps - 1
    for s, e in layout.segments:
        _, before, end = _bounds(plan, e - s, check_split(plan.split, c))
        if before < need:
            first = int(layout.order[s]) if layout.order is not None else s
            who = f"series '{table.cell_text(plan.series_column, first)}'" if plan.series_column else "the data"
            raise DataError(
                f"{plan.source}: {who} has {e - s} rows: {K} test blocks of {end - before} rows leave {max(before, 0)} "
                f"before fold {k} of {K}'s block, fewer than one window ({need} rows): use fewer folds, a smaller "
                f"test fraction in {c['split']}, or leave that series out"
            )


def _split(plan: DataPlan, layout: Layout, c) -> None:
    """Chronological split within each series: a window belongs to the split holding its last target row
    (a backtest fold's test windows: all their targets in its test block)."""
    fractions = check_split(plan.split, c)
    assert plan.lookback is not None  # the window is chosen first
    L, h, H = plan.lookback, plan.horizon, plan.steps
    index: dict[str, list[tuple[int, int]]] = {s: [] for s in SPLIT_NAMES}
    rows = dict.fromkeys(SPLIT_NAMES, 0)
    fit = []
    for s, e in layout.segments:
        n = e - s
        n_tr, n_tv, n_end = _bounds(plan, n, fractions)
        reach = L - 1 + h + H - 1  # window i's last target row is i + reach (its last step's)
        n_windows = n - reach
        for name, (lo, hi) in zip(SPLIT_NAMES, ((0, n_tr), (n_tr, n_tv), (n_tv, n_end)), strict=True):
            # a fold's test window starts its forecast inside the block: its first target is row lo or later
            back = L - 1 + h if plan.fold and name == "test" else reach
            first, end = max(0, lo - back), max(0, min(n_windows, hi - reach))
            index[name].append((s + first, max(first, end) - first))
            rows[name] += hi - lo
        fit.append((s, s + max(n_tr, 1)))
    layout.index = {k: WindowStarts([a for a, _ in v], [n for _, n in v]) for k, v in index.items()}
    layout.fit_rows = fit
    plan.windows = {k: v.size for k, v in layout.index.items()}
    plan.split_rows = rows
    total = sum(e - s for s, e in layout.segments)
    for name in SPLIT_NAMES:
        if plan.windows[name] == 0 and plan.fold:
            k, K = plan.fold
            raise DataError(
                f"{plan.source}: backtest fold {k} of {K} has no {SPLIT_WORDS[name]} window: {total} rows "
                f"leave too few before or inside its test block (lookback {L} + horizon {h} + {H - 1} more "
                f"steps): use fewer folds, a larger test fraction in {c['split']}, or more rows"
            )
        if plan.windows[name] == 0 and not (name == "test" and fractions[2] == 0):
            raise DataError(
                f"{plan.source}: the {SPLIT_WORDS[name]} split is empty: {total} rows split "
                f"{fractions[0]:g}/{fractions[1]:g}/{fractions[2]:g} leave no window (lookback {L} + horizon "
                f"{h}{f' + {H - 1} more steps' if H > 1 else ''}) whose last target falls in it: use more rows or "
                f"change {c['split']}"
            )


def _split_labels(table: Table, plan: DataPlan, layout: Layout) -> None:
    """Split boundaries as file rows (one series) and as times (with a time column): one series its
    [first, last] time per split; many series the range over all of them, and each series' own (the
    first SERIES_TIMES_SHOWN series)."""
    name = plan.time_column
    times = layout.column(table, name) if name and len(layout.segments) > 1 else None
    lows: dict[str, tuple[float, int]] = {}
    highs: dict[str, tuple[float, int]] = {}
    for k, (s, e) in enumerate(layout.segments):
        n_tr, n_tv, n_end = _bounds(plan, e - s, plan.split)
        for split, (lo, hi) in zip(SPLIT_NAMES, ((0, n_tr), (n_tr, n_tv), (n_tv, n_end)), strict=True):
            if hi <= lo:
                continue
            first, last = s + lo, s + hi - 1
            ff, fl = (int(layout.order[first]), int(layout.order[last])) if layout.order is not None else (first, last)
            if len(layout.segments) == 1:
                plan.split_ranges[split] = [ff + 1, fl + 1]
                if name:
                    plan.split_times[split] = [table.cell_text(name, ff), table.cell_text(name, fl)]
                continue
            if times is None or name is None:
                continue
            if k < SERIES_TIMES_SHOWN:
                sid = table.cell_text(plan.series_column, ff) if plan.series_column else f"#{k + 1}"
                plan.series_split_times.setdefault(sid, {})[split] = [
                    table.cell_text(name, ff),
                    table.cell_text(name, fl),
                ]
            if split not in lows or times[first] < lows[split][0]:
                lows[split] = (float(times[first]), ff)
            if split not in highs or times[last] > highs[split][0]:
                highs[split] = (float(times[last]), fl)
    if name:
        for split in lows:
            plan.split_times[split] = [table.cell_text(name, lows[split][1]), table.cell_text(name, highs[split][1])]


# ============================================================================ pre-windowed samples
@dataclass
class Samples:
    """Pre-windowed samples (an .npz, or a table of token ids) checked against the design: sample i is
    X[i] -> y[i]. The dataset is made of these arrays (engine/data/dataset.py from_arrays)."""

    X: np.ndarray  # (N, T, F) float64 (token ids: whole numbers below the vocabulary)
    y_orig: np.ndarray | None  # regression targets in the file's units (None: a classifier, or no y)
    labels: np.ndarray | None  # class indices of shape `want` (a classifier with y)
    classes: list | None  # the class list `labels` index into
    has_y: bool
    want: tuple  # the shape of y
    words: list[str] | None = None  # token ids with word labels: the class words (classes are their indices)


def make_npz_plan(
    arrays: NpzArrays, spec, design: DesignIO, *, meta=None, split: bool = True, control: str = "--split"
) -> tuple[DataPlan, Layout | None]:
    """The plan of an .npz archive's samples (X (N, T, F) and y) for the design: the checks of X and y
    against its shapes and task, the split of the samples. Errors are collected in plan.errors (layout
    None). `control` names the split setting in messages (a flag on the CLI, a control in the GUI)."""
    try:
        return _sample_plan(arrays.src, arrays.X, arrays.y, spec, design, meta, split, control)
    except DataError as e:
        return DataPlan(arrays.src, "npz", 0, errors=[str(e)]), None


def _sample_plan(src: str, X, y, spec, design: DesignIO, meta, split, control) -> tuple[DataPlan, Layout]:
    task, seq_target, units = design.task, design.seq_target, design.units
    X = _npz_inputs(X, src, design, design.vocabulary)
    N, T, F = X.shape
    has_y = y is not None
    if y is not None and len(y) != N:
        raise DataError(f"{src}: y has {len(y)} entries but X has {N} samples: one target per sample")
    steps = units if task == "regression" and not seq_target else 1  # y (N, H): a direct H-step forecast
    want = (N, T) if seq_target else (N, steps) if steps > 1 else (N,)
    y_orig, labels, classes = None, None, None
    if task == "regression":
        if has_y:
            y_orig = _npz_regression_targets(y, src, design.output, want, seq_target)
        if units != 1 and seq_target:
            raise DataError(
                f"{src}: regression with one target but the design's output has {units} units per step: "
                f"set the output Dense units to 1"
            )
    elif has_y:
        labels, classes = _npz_class_labels(y, src, want, units, meta, seq_target)
    index, fit = sample_split(src, spec, N, split, control)
    plan = DataPlan(
        src,
        "npz",
        N,
        task=task,
        target=None,
        features=list(meta.features) if meta is not None else [f"f{i}" for i in range(F)],
        lookback=T,
        horizon=0,
        split=list(spec.split),
        windows={k: int(v.size) for k, v in index.items()},
        split_rows={k: int(v.size) for k, v in index.items()},
        steps=steps,
    )
    layout = Layout(
        None,
        [(0, N)],
        index={k: WindowStarts([v[0] if v.size else 0], [v.size]) for k, v in index.items()},
        fit_rows=[(int(fit.start), int(fit.stop))],
        samples=Samples(X, y_orig, labels, classes, has_y, want),
    )
    return plan, layout


def make_token_plan(
    table: Table, spec, design: DesignIO, arrays, *, ui: str = "cli", split: bool = True, meta=None
) -> tuple[DataPlan, Layout | None]:
    """The plan of a table of token ids (one sequence per row) from its arrays (engine/data/tokens.py
    token_arrays: a TokenArrays, or the DataError it raised): the columns, labels, classes and split
    counts it shows are the ones trained on; its samples are checked as an .npz's are. Errors are
    collected in plan.errors (layout None)."""
    plan = DataPlan(
        table.source, f"{table.fmt} (token ids)", table.n_rows, task=design.task, split=list(spec.split), horizon=0
    )
    plan.vocabulary = design.vocabulary
    try:
        if isinstance(arrays, DataError):
            raise arrays
        plan.target, plan.features, plan.lookback = arrays.target, arrays.columns, len(arrays.columns)
        plan.ignored = [n for n in table.names if n not in arrays.columns and n != arrays.target]
        known = _token_classes(table, arrays, design, meta)
        plan.classes = [str(k) for k in known] if known is not None else []
        index, _ = sample_split(table.source, spec, table.n_rows, split, CONTROLS[ui]["split"])  # training's rule
        plan.windows = {k: int(v.size) for k, v in index.items()}
        plan.split_rows = dict(plan.windows)
        layout = _token_samples(table, spec, design, arrays, plan, meta, split, CONTROLS[ui]["split"])
    except DataError as e:
        plan.errors.append(str(e))
        return plan, None
    return plan, layout


def _token_classes(table: Table, arrays, design: DesignIO, meta) -> list | None:
    """The class labels of a table of token ids (words checked against a saved run's), None for none."""
    y = arrays.y
    if y is not None and y.dtype.kind == "U":
        if design.task != "classification":
            raise DataError(f"{table.source}: the labels are words ({y[0]!r}) but the design trains a regression")
        known = list(meta.classes) if meta is not None and meta.classes else sorted(set(y.tolist()))
        unknown = next((i for i, v in enumerate(y.tolist()) if v not in set(known)), None)
        if unknown is not None:
            raise DataError(
                f"{table.where(arrays.target, unknown)}: label {y[unknown]!r} was not among the training "
                f"classes ({', '.join(map(str, known))})"
            )
        return known
    if y is not None and design.task == "classification":
        return sorted(set(y.tolist()))
    return None


def _token_samples(table: Table, spec, design: DesignIO, arrays, plan: DataPlan, meta, split, control) -> Layout:
    """The token ids and labels as samples, checked as an .npz's (word labels become class indices)."""
    X, y, words = arrays.X, arrays.y, None
    if y is not None and y.dtype.kind == "U":  # word labels: samples hold numbers, so class indices
        words = list(plan.classes)
        lookup = {c: i for i, c in enumerate(words)}
        y = np.asarray([lookup[v] for v in y.tolist()], np.int64)
        if meta is not None:
            meta = replace(meta, classes=list(range(len(words))))
    for name, arr in (("X", X), ("y", y)):
        if arr is not None:
            check_array(table.source, name, arr)
    samples_plan, layout = _sample_plan(table.source, X, y, spec, design, meta, split, control)
    assert samples_plan.windows == plan.windows  # one split rule
    assert layout.samples is not None  # _sample_plan always sets them
    layout.samples.words = words
    return layout


def class_labels(values: Sequence[Any] | np.ndarray, where, source: str, col: str, units: int, classes: list | None):
    """Class labels -> (int64 indices, class list). Labels are integers or strings; the class count must
    equal the output units. `where(row)` names a row in messages; with `classes` (a saved run's) every
    label must be one of them."""
    vals: list[Any] = [v.strip() if isinstance(v, str) else v for v in values]
    for r, v in enumerate(vals):
        if v == "" or (isinstance(v, float) and not math.isfinite(v)):
            raise DataError(f"{where(r)}: empty or missing label: give every row a class label")
    if classes is None:
        as_int: list[int] = []
        all_numbers = True
        for v in vals:
            try:
                f = float(v)
            except (TypeError, ValueError):
                all_numbers = False
                break
            if not math.isfinite(f) or f != int(f):
                r = vals.index(v)
                raise DataError(
                    f"{where(r)}: class label {v!r} is not a whole number: labels must be integers or words"
                )
            as_int.append(int(f))
        if all_numbers:
            vals = as_int
            classes = sorted(set(as_int))
        else:
            vals = [str(v) for v in vals]
            classes = sorted(set(vals))
        if len(classes) != units:
            shown = ", ".join(str(c) for c in classes[:8]) + (", ..." if len(classes) > 8 else "")
            raise DataError(
                f"{source}: column '{col}' has {len(classes)} classes ({shown}) but the design's "
                f"output has {units} unit(s): set the output Dense units to {len(classes)}"
            )
    else:
        kind = type(classes[0]) if classes else str
        lookup = {c: i for i, c in enumerate(classes)}
        out = []
        for r, v in enumerate(vals):
            try:
                key = kind(float(v)) if kind is int else str(v)
            except (TypeError, ValueError):
                key = v
            if key not in lookup:
                raise DataError(
                    f"{where(r)}: label {v!r} was not among the training classes ({', '.join(map(str, classes))})"
                )
            out.append(lookup[key])
        return np.asarray(out, dtype=np.int64), classes
    lookup = {c: i for i, c in enumerate(classes)}
    return np.asarray([lookup[v] for v in vals], dtype=np.int64), classes


def _token_ids(X: np.ndarray, src: str, vocabulary: int) -> np.ndarray:
    """Integer token ids X (N, T) padded with 0 (or (N, T, 1)) -> (N, T, 1), every id checked below the
    vocabulary of the design's Embedding."""
    if not np.issubdtype(X.dtype, np.integer):
        raise DataError(
            f"{src}: X holds {X.dtype} values but the design's Input takes integer token ids "
            f"(dtype=int64): save X as an integer array (N, T) padded with 0"
        )
    X = X[..., None] if X.ndim == 2 else X
    if X.ndim != 3 or X.shape[2] != 1:
        raise DataError(f"{src}: X has shape {X.shape}: token ids are saved as (N, T), one id per step")
    bad = (X < 0) | (vocabulary <= X)
    if bad.any():
        i, t, _ = (int(v[0]) for v in np.nonzero(bad))
        raise DataError(
            f"{src}: X[{i}, {t}] is token id {int(X[i, t, 0])}, outside the Embedding's vocabulary "
            f"0..{vocabulary - 1}: raise the Embedding's input_dim to at least {int(X.max()) + 1}"
        )
    return X


def _npz_inputs(X: np.ndarray, src: str, design: DesignIO, tokens: int | None) -> np.ndarray:
    """X as float64 (N, T, F), matched against the design's Input and free of NaN/inf."""
    X = X if tokens is None else _token_ids(X, src, tokens)
    if tokens is None:  # token ids are checked against the vocabulary instead
        check_array_range(src, "X", X)
    if X.ndim != 3:
        raise DataError(f"{src}: X has shape {X.shape} but must be (N, T, F) = (samples, timesteps, features)")
    N, T, F = X.shape
    if not np.issubdtype(X.dtype, np.number):
        raise DataError(f"{src}: X holds {X.dtype} values, not numbers: save X as a float array")
    if design.n_features != F:
        raise DataError(
            f"{src}: X has {F} features per step (shape {X.shape}) but the design's Input takes "
            f"{design.n_features}: set the Input's features to {F}"
        )
    if design.timesteps is not None and design.timesteps != T:
        raise DataError(
            f"{src}: X has {T} timesteps (shape {X.shape}) but the design's Input takes {design.timesteps}: "
            f"set the Input's timesteps to {T} (or null for variable length)"
        )
    X = X.astype(np.float64)
    bad = ~np.isfinite(X)
    if bad.any():
        i, t, f = (int(v[0]) for v in np.nonzero(bad))
        raise DataError(
            f"{src}: X[{i}, {t}, {f}] (sample {i}, step {t}, feature {f}) is "
            f"{'NaN' if np.isnan(X[i, t, f]) else 'infinite'}: fill in or drop that sample"
        )
    return X


def _npz_regression_targets(y, src: str, out_shape, want: tuple, seq_target: bool) -> np.ndarray:
    """Regression targets y as float64 of shape `want` (a trailing unit axis is dropped)."""
    units = out_shape[-1]
    y = np.asarray(y)
    if y.shape[-1:] == (units,) and units == 1 and y.ndim == len(want) + 1:
        y = y[..., 0]
    if y.shape != want:
        raise DataError(
            f"{src}: y has shape {y.shape} but the design's output {tuple(out_shape)} needs "
            f"{want}{' (+ 1)' if units == 1 else ''}: one value per "
            f"{'step' if len(want) == 2 else 'sample'}"
        )
    if not np.issubdtype(y.dtype, np.number):
        raise DataError(
            f"{src}: y holds {y.dtype} values: regression targets must be numbers "
            f"(for labels set training.task to classification)"
        )
    check_array_range(src, "y", y)
    y_orig = y.astype(np.float64)
    bad = ~np.isfinite(y_orig)
    if bad.any():
        i = int(np.nonzero(bad.reshape(want[0], -1).any(axis=1))[0][0])
        raise DataError(f"{src}: y[{i}] is NaN or infinite: fill in or drop that sample")
    return y_orig


def _npz_class_labels(y, src: str, want: tuple, units: int, meta, seq_target: bool):
    """Classification labels y as class indices of shape `want`, and the class names."""
    y = np.asarray(y)
    if y.shape != want:
        raise DataError(
            f"{src}: y has shape {y.shape} but classification with this design needs {want}: "
            f"one label per {'step' if seq_target else 'sample'}"
        )
    values = np.asarray(y.reshape(-1).tolist(), dtype=object)
    where = lambda r: f"{src}: column 'y', row {r + 1}"  # noqa: E731 (what a table of y would say)
    flat, classes = class_labels(values, where, src, "y", units, meta.classes if meta is not None else None)
    return flat.reshape(want), classes


def sample_split(src: str, spec, N: int, split, control: str = "--split") -> tuple[dict[str, np.ndarray], slice]:
    """Pre-windowed samples (.npz, token ids): the sample indices per split (or all of them), and the
    samples the normalization is fitted on.
    `control` names the setting to change in the message (a flag on the CLI, a control in the GUI)."""
    if not split:
        return {"all": np.arange(N)}, slice(0, N)
    fractions = check_split(spec.split)
    n_tr, n_tv = split_bounds(N, fractions)
    index = {"train": np.arange(0, n_tr), "val": np.arange(n_tr, n_tv), "test": np.arange(n_tv, N)}
    for name in SPLIT_NAMES:
        if index[name].size == 0 and not (name == "test" and fractions[2] == 0):
            raise DataError(
                f"{src}: the {SPLIT_WORDS[name]} split is empty: {N} samples split "
                f"{fractions[0]:g}/{fractions[1]:g}/{fractions[2]:g}: add samples or change {control}"
            )
    return index, slice(0, n_tr)


def raise_for_errors(plan: DataPlan) -> None:
    if plan.errors:
        raise DataError(plan.errors[0])
