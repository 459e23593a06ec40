"""Training data: CSV / .npz loading, windows, chronological splits, normalization fitted on train only.

No Qt, and no torch at import time (torch is imported when tensors are made).

Two kinds of data (docs/data.md is the user-facing description):

* a **time series** (CSV with a header row, or a built-in demo): one row per time step. A window of
  `lookback` rows predicts the target `horizon` rows after the window's last row; a design whose output
  keeps the time axis gets the per-step targets (row r + horizon for every row r of the window).
  Windows are never materialized: batches are gathered from one (rows, features) tensor by index
  arithmetic, so an epoch never copies the dataset.
* **pre-windowed sequences** (.npz with `X (N, T, F)` and `y`): sample i is X[i] -> y[i].

The split is chronological (default 70/15/15 of the rows, or of the samples for .npz) with no
shuffling across it: a window belongs to the split that holds its (last) target row, so training
windows never see a validation or test target. Mean / std are fitted on the training rows only and
saved in `RunMeta`.

Every problem with the data raises `DataError` with one line that names the file, the column and the
row, and says how to fix it.
"""
from __future__ import annotations

import csv
import difflib
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .runs import RunMeta
from .project import read_user_text

DEMOS = ("sine", "chaos")
SPLIT_NAMES = ("train", "val", "test")
_SPLIT_WORDS = {"train": "training", "val": "validation", "test": "test"}


class DataError(ValueError):
    """Unusable data: one line naming the file, column and row, and how to fix it (CLI exit code 2)."""


@dataclass
class DataSpec:
    """Where the data comes from and how to cut it. CLI flags and the GUI's data panel fill this in.

    Exactly one of `path` and `demo`. `features=None` picks the default feature columns (see
    `choose_columns`); `target=None` is the last column; `lookback=None` is the design Input's
    timesteps (32 for a variable-length Input).
    """

    path: str | None = None
    demo: str | None = None  # "sine" | "chaos"
    target: str | None = None
    features: list[str] | None = None
    lookback: int | None = None
    horizon: int = 1
    split: tuple[float, float, float] = (0.7, 0.15, 0.15)
    demo_rows: int = 4000
    demo_seed: int = 0

    @property
    def label(self) -> str:
        return f"demo:{self.demo}" if self.demo else str(self.path)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "demo": self.demo, "target": self.target, "features": self.features,
                "lookback": self.lookback, "horizon": self.horizon, "split": list(self.split),
                "demo_rows": self.demo_rows, "demo_seed": self.demo_seed}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DataSpec":
        d = dict(d or {})
        if "split" in d and d["split"] is not None:
            d["split"] = tuple(d["split"])
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


# ============================================================================ tables (CSV / demo)
@dataclass
class Table:
    """A parsed CSV: column names and raw string cells (or numbers for demos), plus where rows came from."""

    source: str
    names: list[str]
    cells: list[list[Any]]  # per column
    lines: list[int] | None = None  # file line number of each data row (None: row i is line i + 2)
    _numeric: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return len(self.cells[0]) if self.cells else 0

    def where(self, col: str, row: int) -> str:
        line = self.lines[row] if self.lines else row + 2
        return f"{self.source}: column '{col}', row {row + 1} (line {line})"

    def col_index(self, name: str, what: str = "column") -> int:
        if name in self.names:
            return self.names.index(name)
        close = difflib.get_close_matches(name, self.names, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else f"the columns are: {', '.join(self.names)}"
        raise DataError(f"{self.source}: no {what} '{name}' in the header: {hint}")

    def is_text(self, name: str) -> bool:
        """A column none of whose cells reads as a number (dates, labels): not a default feature."""
        cells = self.cells[self.col_index(name)]
        if cells and isinstance(cells[0], (float, int, np.floating)):
            return False
        for c in cells:
            if c.strip() == "":
                continue
            try:
                float(c)
                return False
            except ValueError:
                continue
        return True

    def numeric(self, name: str, role: str = "feature") -> np.ndarray:
        """The column as float64; a non-number, empty cell, NaN or inf is a DataError at its row."""
        if name in self._numeric:
            return self._numeric[name]
        cells = self.cells[self.col_index(name)]
        try:
            arr = np.asarray(cells, dtype=np.float64)
        except (ValueError, TypeError):
            arr = None
            for r, c in enumerate(cells):
                try:
                    float(c)
                except (ValueError, TypeError):
                    if str(c).strip() == "":
                        raise DataError(f"{self.where(name, r)}: empty value: fill it in or delete the row") from None
                    raise DataError(f"{self.where(name, r)}: non-numeric value {str(c).strip()!r} in {role} "
                                    f"column: fix the value, or leave the column out with --features") from None
        bad = ~np.isfinite(arr)
        if bad.any():
            r = int(np.argmax(bad))
            what = "NaN (missing value)" if np.isnan(arr[r]) else "an infinite value"
            raise DataError(f"{self.where(name, r)}: {what}: fill it in (e.g. interpolate) or delete the row")
        self._numeric[name] = arr
        return arr


def read_csv(path: str | Path) -> Table:
    p = Path(path)
    text = read_user_text(p, DataError, missing_fix=": check the path given to --data",
                          folder="not a data file: pass a .csv or .npz file", utf8_fix=": save the file as UTF-8 CSV")
    reader = csv.reader(io.StringIO(text, newline=""))
    header, lines, rows = None, [], []
    try:
        for row in reader:
            if not row or all(c.strip() == "" for c in row):
                continue  # blank line
            if header is None:
                header = [c.strip() for c in row]
                continue
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as e:
        raise DataError(f"{p}: line {reader.line_num}: malformed CSV ({e}): fix the quoting on that line") from None
    if header is None:
        raise DataError(f"{p}: the file is empty: expected a header row, then one row per time step")
    for i, name in enumerate(header):
        if name == "":
            raise DataError(f"{p}: column {i + 1} of the header has no name: name every column in the first row")
        if name in header[:i]:
            raise DataError(f"{p}: column name '{name}' appears twice in the header: make column names unique")
    if not rows:
        raise DataError(f"{p}: the header has no data rows under it: add one row per time step")
    width = len(header)
    for r, row in enumerate(rows):
        if len(row) != width:
            raise DataError(f"{p}: row {r + 1} (line {lines[r]}) has {len(row)} fields but the header has {width} "
                            f"columns: fix that row (a missing or extra comma?)")
    cells = [list(col) for col in zip(*rows)]
    return Table(str(p), header, cells, lines)


# ---------------------------------------------------------------------------- demos
def mackey_glass(n: int, tau: int = 17, beta: float = 0.2, gamma: float = 0.1, power: int = 10,
                 sample_every: int = 3, substeps: int = 10, seed: int = 0) -> np.ndarray:
    """Mackey-Glass delay differential equation (chaotic for tau = 17), Euler-integrated, sampled every
    `sample_every` time units after a transient."""
    rng = np.random.default_rng(seed)
    dt = 1.0 / substeps
    lag = tau * substeps
    warm = 500 * substeps
    total = warm + n * sample_every * substeps
    x = np.empty(total + lag)
    x[:lag + 1] = 1.2 + 0.05 * rng.standard_normal(lag + 1)
    for i in range(lag, total + lag - 1):
        xd = x[i - lag]
        x[i + 1] = x[i] + dt * (beta * xd / (1.0 + xd ** power) - gamma * x[i])
    series = x[lag + warm::sample_every * substeps][:n]
    return series


def demo_table(name: str, rows: int = 4000, seed: int = 0) -> Table:
    """Built-in data so the app works without user data. One column, `value`.

    sine:  noisy sum of three sines (periods 40, 13.7 and 5.3 rows) - learnable, persistence is poor.
    chaos: the Mackey-Glass series (tau 17, sampled every 3 time units) - chaotic but deterministic.
    """
    if name not in DEMOS:
        raise DataError(f"unknown demo {name!r}: choose one of {', '.join(DEMOS)}")
    if name == "sine":
        t = np.arange(rows, dtype=np.float64)
        rng = np.random.default_rng(seed)
        v = (np.sin(2 * np.pi * t / 40.0) + 0.5 * np.sin(2 * np.pi * t / 13.7 + 1.0)
             + 0.25 * np.sin(2 * np.pi * t / 5.3 + 2.0) + 0.1 * rng.standard_normal(rows))
    else:
        v = mackey_glass(rows, seed=seed)
    return Table(f"demo:{name}", ["value"], [list(v.astype(np.float64))])


# ============================================================================ prepared datasets
@dataclass
class Dataset:
    """Data ready for a design: normalized tensors, window index per split, and the metadata
    (columns, normalization) a run saves. `batch(split, idx)` gathers one batch."""

    source: str
    kind: str  # "series" | "windows"
    task: str  # "regression" | "classification"
    meta: RunMeta
    x: Any  # torch: series (rows, F) float32, or windows (N, T, F)
    y: Any  # series: (rows,) float32 normalized / int64 labels; windows: (N, ...) likewise
    y_orig: np.ndarray | None  # regression targets in original units (same layout as y)
    index: dict[str, Any]  # split -> int64 tensor of window starts (series) or sample indices
    lookback: int
    horizon: int
    seq_target: bool  # the design's output keeps the time axis
    out_units: int
    ignored_columns: list[str] = field(default_factory=list)
    has_targets: bool = True  # False: a file for `predict` without the target column

    def size(self, split: str) -> int:
        return int(self.index[split].shape[0])

    def to(self, device) -> "Dataset":
        """Move the (small) tensors to a device once; batches are then gathered on the device."""
        self.x = self.x.to(device)
        self.y = self.y.to(device)
        self.index = {k: v.to(device) for k, v in self.index.items()}
        self._ar = None
        return self

    def batch(self, idx):
        """idx: int64 tensor of positions (window starts / sample indices) on the data's device.
        Returns x (B, T, F) and y shaped like the design's output ((B, 1), (B, T, 1), (B,) labels ...)."""
        import torch

        if self.kind == "windows":
            xb, yb = self.x[idx], self.y[idx]
        else:
            ar = getattr(self, "_ar", None)
            if ar is None or ar.device != idx.device:
                ar = self._ar = torch.arange(self.lookback, device=idx.device)
            rows = idx[:, None] + ar  # (B, L)
            xb = self.x[rows]  # (B, L, F): a gather, only this batch is materialized
            if self.seq_target:
                yb = self.y[rows + self.horizon]  # (B, L)
            else:
                yb = self.y[idx + (self.lookback - 1 + self.horizon)]  # (B,)
        if self.task == "regression" and yb.dim() < (3 if self.seq_target else 2):
            yb = yb.unsqueeze(-1)  # (B, 1) or (B, T, 1)
        return xb, yb

    def targets_orig(self, idx) -> np.ndarray:
        """Regression targets of positions idx (host int array) in original units, output layout."""
        idx = np.asarray(idx)
        if self.kind == "windows":
            out = self.y_orig[idx]
        elif self.seq_target:
            out = self.y_orig[idx[:, None] + np.arange(self.lookback) + self.horizon]
        else:
            out = self.y_orig[idx + self.lookback - 1 + self.horizon]
        return out.reshape(len(idx), -1)

    def persistence_orig(self, idx) -> np.ndarray | None:
        """The persistence forecast (the target's value `horizon` rows before each target row, i.e.
        the last observed value) for positions idx, in original units; None for .npz data."""
        if self.kind == "windows" or self.task != "regression":
            return None
        idx = np.asarray(idx)
        if self.seq_target:
            out = self.y_orig[idx[:, None] + np.arange(self.lookback)]
        else:
            out = self.y_orig[idx + self.lookback - 1]
        return out.reshape(len(idx), -1)


def lookahead_warnings(project, dataset: Dataset) -> list[str]:
    """A trap no shape check can see: a per-step output, the target also fed as an input feature, and a
    block that reads later time steps (bidirectional, go_backwards, non-causal attention). Step t's
    target is row t + horizon, which such a block sees inside the window: the model copies its answer,
    validation looks excellent, and deployment (where the future is unknown) cannot do that."""
    meta = dataset.meta
    if not dataset.seq_target or dataset.kind != "series" or meta.target is None or meta.target not in meta.features:
        return []
    from .blocks import CATALOG

    peekers = []
    for b in project.blocks:
        why = CATALOG[b.type].reads_later_steps(b.resolved()) if b.type in CATALOG else None
        if why:
            peekers.append(f"'{b.id}' ({why})")
    if not peekers:
        return []
    return [f"look-ahead leak: the output is per time step and the target '{meta.target}' is also an input "
            f"feature, so {', '.join(peekers)} let{'s' if len(peekers) == 1 else ''} step t read its own answer "
            f"(row t+{dataset.horizon}) later in the window: validation will look better than deployment can be. "
            f"Use one-direction layers / causal attention, or leave '{meta.target}' out of the features"]


def design_io(project) -> tuple[str, tuple, tuple]:
    """(input block id, input shape, output shape) of a valid design; DesignError otherwise."""
    from .compile import DesignError
    from .shapes import check

    res = check(project)
    if not res.ok:
        raise DesignError(res.errors)
    return res.input_id, tuple(res.input_shape()), tuple(res.output_shape())


def infer_task(training: dict[str, Any]) -> str:
    task = training.get("task")
    if task in ("regression", "classification"):
        return task
    return "classification" if training.get("loss") == "cross_entropy" else "regression"


def _check_split(split: Sequence[float]) -> tuple[float, float, float]:
    try:
        a, b, c = (float(v) for v in split)
    except (TypeError, ValueError):
        raise DataError(f"split must be three fractions train,val,test such as 0.7,0.15,0.15, received {split!r}") from None
    if min(a, b, c) < 0 or a <= 0 or abs(a + b + c - 1.0) > 1e-6:
        raise DataError(f"split fractions must be >= 0 (train > 0) and add up to 1, received {a},{b},{c}")
    return a, b, c


def choose_columns(table: Table, target: str | None, features: list[str] | None, n_features: int,
                   task: str) -> tuple[str, list[str], list[str]]:
    """(target, features, ignored columns). Defaults: target = the last column; features = every
    numeric column except the target, or - when the design's Input wants one more feature, or there is
    no other numeric column - every numeric column including the target (autoregressive)."""
    src = table.source
    target = target if target is not None else table.names[-1]
    table.col_index(target, "target column")
    if features is not None:
        if not features:
            raise DataError(f"{src}: --features is empty: list columns such as --features {table.names[0]}")
        for f in features:
            table.col_index(f, "feature column")
            if table.is_text(f):
                raise DataError(f"{src}: column '{f}' is not numeric ({table.cells[table.col_index(f)][0]!r} in "
                                f"row 1): leave it out of --features")
        if len(set(features)) != len(features):
            raise DataError(f"{src}: --features lists a column twice: {','.join(features)}")
        if len(features) != n_features:
            raise DataError(f"{src}: {len(features)} feature column(s) chosen ({', '.join(features)}) but the "
                            f"design's Input takes {n_features} feature(s): set the Input's features to "
                            f"{len(features)} or choose {n_features} columns with --features")
        chosen = list(features)
    else:
        numeric = [n for n in table.names if not table.is_text(n)]
        others = [n for n in numeric if n != target]
        with_target = numeric if target in numeric else None
        if len(others) == n_features and others:
            chosen = others
        elif with_target is not None and len(with_target) == n_features:
            chosen = with_target
        else:
            text = [n for n in table.names if n not in numeric]
            more = f" (text columns left out: {', '.join(text)})" if text else ""
            raise DataError(f"{src}: the design's Input takes {n_features} feature(s) but the file has "
                            f"{len(others)} numeric column(s) besides the target '{target}'{more}: choose "
                            f"{n_features} with --features A,B or set the Input's features to {len(others) or 1}")
    ignored = [n for n in table.names if n not in chosen and n != target]
    return target, chosen, ignored


def _labels(values: Sequence[Any], table: Table, col: str, units: int, classes: list | None):
    """Class labels -> (int64 indices, class list). Labels are integers or strings; the class count must
    equal the output units."""
    vals = [v.strip() if isinstance(v, str) else v for v in values]
    for r, v in enumerate(vals):
        if v == "" or (isinstance(v, float) and not math.isfinite(v)):
            raise DataError(f"{table.where(col, r)}: empty or missing label: give every row a class label")
    if classes is None:
        as_int = []
        for v in vals:
            try:
                f = float(v)
            except (TypeError, ValueError):
                as_int = None
                break
            if not math.isfinite(f) or f != int(f):
                r = vals.index(v)
                raise DataError(f"{table.where(col, r)}: class label {v!r} is not a whole number: labels must "
                                f"be integers or words")
            as_int.append(int(f))
        if as_int is not None:
            vals = as_int
            classes = sorted(set(as_int))
        else:
            vals = [str(v) for v in vals]
            classes = sorted(set(vals))
        if len(classes) != units:
            shown = ", ".join(str(c) for c in classes[:8]) + (", ..." if len(classes) > 8 else "")
            raise DataError(f"{table.source}: column '{col}' has {len(classes)} classes ({shown}) but the design's "
                            f"output has {units} unit(s): set the output Dense units to {len(classes)}")
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
                raise DataError(f"{table.where(col, r)}: label {v!r} was not among the training classes "
                                f"({', '.join(map(str, classes))})")
            out.append(lookup[key])
        return np.asarray(out, dtype=np.int64), classes
    lookup = {c: i for i, c in enumerate(classes)}
    return np.asarray([lookup[v] for v in vals], dtype=np.int64), classes


def load_dataset(spec: DataSpec, project, *, meta: RunMeta | None = None, split: bool = True) -> Dataset:
    """Load data for a design. With `meta` (from a saved run), reuse its columns, window and
    normalization instead of fitting them (evaluate / predict); `split=False` puts every window in
    one split named "all"."""
    if (spec.path is None) == (spec.demo is None):
        raise DataError("give exactly one data source: --data FILE or --demo sine|chaos")
    _, in_shape, out_shape = design_io(project)
    task = meta.task if meta is not None else infer_task(project.training)
    from .compile import token_vocabulary
    from .shapes import check

    tokens = token_vocabulary(project, check(project))
    if tokens is not None and (spec.demo is not None or Path(spec.path or "").suffix.lower() != ".npz"):
        raise DataError("the design's Input takes integer token ids (dtype=int64): give them as a .npz with X "
                        "(N, T) of ids padded with 0 and y (demo series and CSV files hold no token ids)")
    if spec.demo is not None:
        table = demo_table(spec.demo, spec.demo_rows, spec.demo_seed)
        if task == "classification":
            raise DataError(f"demo:{spec.demo} is a regression series but the design trains a classifier: "
                            f"use --data with a labelled file, or set training.task to regression")
        return _from_table(table, spec, project, in_shape, out_shape, task, meta, split)
    path = Path(spec.path)
    if path.suffix.lower() == ".npz":
        return _from_npz(path, spec, in_shape, out_shape, task, meta, split, tokens=tokens)
    return _from_table(read_csv(path), spec, project, in_shape, out_shape, task, meta, split)


def _split_bounds(n: int, fractions) -> tuple[int, int]:
    a, b, _ = fractions
    n_tr = int(round(n * a))
    n_va = int(round(n * b))
    return n_tr, min(n, n_tr + n_va)


def _std(a: np.ndarray, axis=0) -> np.ndarray:
    s = a.std(axis=axis)
    return np.where(s < 1e-12, 1.0, s)


def _from_table(table, spec, project, in_shape, out_shape, task, meta, split) -> Dataset:
    import torch

    src = table.source
    n_features = in_shape[-1]
    seq_target = len(out_shape) == 3
    units = out_shape[-1]
    horizon = int(spec.horizon if meta is None or meta.horizon is None else meta.horizon)
    if horizon < 0:
        raise DataError(f"--horizon must be 0 or more, received {horizon}")
    timesteps = in_shape[1]
    lookback = spec.lookback if meta is None or meta.lookback is None else meta.lookback
    if lookback is None:
        lookback = timesteps if timesteps is not None else 32
    lookback = int(lookback)
    if lookback < 1:
        raise DataError(f"--lookback must be 1 or more, received {lookback}")
    if timesteps is not None and lookback != timesteps:
        raise DataError(f"--lookback {lookback} does not match the design's Input timesteps {timesteps}: "
                        f"drop --lookback, or set the Input's timesteps to {lookback} (or to null)")
    if seq_target and horizon == 0 and task == "regression":
        pass  # per-step reconstruction is allowed
    if meta is not None:
        target, features = meta.target, list(meta.features)
        for f in features:
            table.col_index(f, "feature column")
        ignored = []
        if len(features) != n_features:
            raise DataError(f"{src}: the run used {len(features)} feature(s) but its design takes {n_features}")
    else:
        target, features, ignored = choose_columns(table, spec.target, spec.features, n_features, task)
    if task == "regression" and units != 1:
        raise DataError(f"{src}: one target column '{target}' but the design's output has {units} units per "
                        f"step: set the output Dense units to 1 (or train a classifier with training.task)")
    n = table.n_rows
    need = lookback + horizon
    if n < need:
        raise DataError(f"{src}: {n} data row(s) but one window needs lookback {lookback} + horizon {horizon} "
                        f"= {need} rows: use more data or a smaller --lookback / --horizon")
    X = np.stack([table.numeric(f, "feature") for f in features], axis=1)  # (rows, F) float64
    y_orig, classes = None, None
    target_known = target in table.names
    if task == "regression":
        if target_known:
            if table.is_text(target):
                raise DataError(f"{src}: target column '{target}' is not numeric ({table.cells[table.col_index(target)][0]!r} "
                                f"in row 1): for class labels set training.task to classification")
            y_orig = table.numeric(target, "target")
    else:
        if target_known:
            y_lab, classes = _labels(table.cells[table.col_index(target)], table, target, units,
                                     meta.classes if meta is not None else None)
    n_windows = n - lookback - horizon + 1  # window i: rows i..i+L-1, last target row i+L-1+h
    last_target = np.arange(n_windows) + lookback - 1 + horizon
    if split:
        fractions = _check_split(spec.split)
        n_tr, n_tv = _split_bounds(n, fractions)
        bounds = {"train": (0, n_tr), "val": (n_tr, n_tv), "test": (n_tv, n)}
        index = {}
        for name, (lo, hi) in bounds.items():
            sel = np.nonzero((last_target >= lo) & (last_target < hi))[0]
            if sel.size == 0 and not (name == "test" and fractions[2] == 0):
                raise DataError(f"{src}: the {_SPLIT_WORDS[name]} split is empty: {n} rows split "
                                f"{fractions[0]:g}/{fractions[1]:g}/{fractions[2]:g} leave no window (lookback "
                                f"{lookback} + horizon {horizon}) whose target falls in it: use more rows or change --split")
            index[name] = sel
        fit_rows = slice(0, max(n_tr, 1))
    else:
        index = {"all": np.arange(n_windows)}
        fit_rows = slice(0, n)
    if meta is None:
        x_mean, x_std = X[fit_rows].mean(axis=0), _std(X[fit_rows])
        meta = RunMeta(project_name=project.name, task=task, features=list(features), target=target,
                       classes=classes, x_mean=x_mean.tolist(), x_std=x_std.tolist(),
                       lookback=lookback, horizon=horizon)
        if task == "regression":
            meta.y_mean = float(y_orig[fit_rows].mean())
            meta.y_std = float(_std(y_orig[fit_rows]))
    Xn = (X - np.asarray(meta.x_mean)) / np.asarray(meta.x_std)
    if task == "regression":
        if y_orig is None:
            y = torch.zeros(n, dtype=torch.float32)
        else:
            y = torch.from_numpy(((y_orig - meta.y_mean) / meta.y_std).astype(np.float32))
    else:
        y = torch.from_numpy(y_lab) if target_known else torch.zeros(n, dtype=torch.int64)
    return Dataset(src, "series", task, meta, torch.from_numpy(Xn.astype(np.float32)), y, y_orig,
                   {k: torch.from_numpy(v.astype(np.int64)) for k, v in index.items()},
                   lookback, horizon, seq_target, units, ignored, has_targets=target_known)


def _token_ids(X: np.ndarray, src: str, vocabulary: int) -> np.ndarray:
    """Integer token ids X (N, T) padded with 0 (or (N, T, 1)) -> (N, T, 1), every id checked below the
    vocabulary of the design's Embedding."""
    if not np.issubdtype(X.dtype, np.integer):
        raise DataError(f"{src}: X holds {X.dtype} values but the design's Input takes integer token ids "
                        f"(dtype=int64): save X as an integer array (N, T) padded with 0")
    X = X[..., None] if X.ndim == 2 else X
    if X.ndim != 3 or X.shape[2] != 1:
        raise DataError(f"{src}: X has shape {X.shape}: token ids are saved as (N, T), one id per step")
    bad = (X < 0) | (X >= vocabulary)
    if bad.any():
        i, t, _ = (int(v[0]) for v in np.nonzero(bad))
        raise DataError(f"{src}: X[{i}, {t}] is token id {int(X[i, t, 0])}, outside the Embedding's vocabulary "
                        f"0..{vocabulary - 1}: raise the Embedding's input_dim to at least {int(X.max()) + 1}")
    return X


def _from_npz(path: Path, spec, in_shape, out_shape, task, meta, split, tokens: int | None = None) -> Dataset:
    """`tokens`: the design's Input takes integer token ids below this (not normalized)."""
    import torch

    src = str(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise DataError(f"{src}: no such file: check the path given to --data") from None
    except Exception as e:
        raise DataError(f"{src}: not a readable .npz archive ({type(e).__name__}: {e}): save it with "
                        f"numpy.savez(path, X=X, y=y)") from None
    if "X" not in arrays:
        raise DataError(f"{src}: no array 'X' (found: {', '.join(arrays) or 'none'}): save sequences as X with "
                        f"shape (N, T, F) and targets as y")
    X = arrays["X"] if tokens is None else _token_ids(arrays["X"], src, tokens)
    if X.ndim != 3:
        raise DataError(f"{src}: X has shape {X.shape} but must be (N, T, F) = (samples, timesteps, features)")
    N, T, F = X.shape
    if not np.issubdtype(X.dtype, np.number):
        raise DataError(f"{src}: X holds {X.dtype} values, not numbers: save X as a float array")
    if F != in_shape[2]:
        raise DataError(f"{src}: X has {F} features per step (shape {X.shape}) but the design's Input takes "
                        f"{in_shape[2]}: set the Input's features to {F}")
    if in_shape[1] is not None and T != in_shape[1]:
        raise DataError(f"{src}: X has {T} timesteps (shape {X.shape}) but the design's Input takes {in_shape[1]}: "
                        f"set the Input's timesteps to {T} (or null for variable length)")
    X = X.astype(np.float64)
    bad = ~np.isfinite(X)
    if bad.any():
        i, t, f = (int(v[0]) for v in np.nonzero(bad))
        raise DataError(f"{src}: X[{i}, {t}, {f}] (sample {i}, step {t}, feature {f}) is "
                        f"{'NaN' if np.isnan(X[i, t, f]) else 'infinite'}: fill in or drop that sample")
    seq_target = len(out_shape) == 3
    units = out_shape[-1]
    y = arrays.get("y")
    has_y = y is not None
    if has_y and len(y) != N:
        raise DataError(f"{src}: y has {len(y)} entries but X has {N} samples: one target per sample")
    want = (N, T) if seq_target else (N,)
    y_orig, classes = None, None
    if task == "regression":
        if has_y:
            y = np.asarray(y)
            if y.shape[-1:] == (units,) and units == 1 and y.ndim == len(want) + 1:
                y = y[..., 0]
            if y.shape != want:
                raise DataError(f"{src}: y has shape {y.shape} but the design's output {tuple(out_shape)} needs "
                                f"{want}{' (+ 1)' if units == 1 else ''}: one value per "
                                f"{'step' if seq_target else 'sample'}")
            if not np.issubdtype(y.dtype, np.number):
                raise DataError(f"{src}: y holds {y.dtype} values: regression targets must be numbers "
                                f"(for labels set training.task to classification)")
            y_orig = y.astype(np.float64)
            bad = ~np.isfinite(y_orig)
            if bad.any():
                i = int(np.nonzero(bad.reshape(N, -1).any(axis=1))[0][0])
                raise DataError(f"{src}: y[{i}] is NaN or infinite: fill in or drop that sample")
        if units != 1:
            raise DataError(f"{src}: regression with one target but the design's output has {units} units: "
                            f"set the output Dense units to 1")
    elif has_y:
        y = np.asarray(y)
        if y.shape != want:
            raise DataError(f"{src}: y has shape {y.shape} but classification with this design needs {want}: "
                            f"one label per {'step' if seq_target else 'sample'}")
        labels_table = Table(src, ["y"], [list(y.reshape(-1).tolist())], lines=list(range(len(y.reshape(-1)))))
        flat, classes = _labels(labels_table.cells[0], labels_table, "y", units,
                                meta.classes if meta is not None else None)
        y_lab = flat.reshape(want)
    if split:
        fractions = _check_split(spec.split)
        n_tr, n_tv = _split_bounds(N, fractions)
        index = {"train": np.arange(0, n_tr), "val": np.arange(n_tr, n_tv), "test": np.arange(n_tv, N)}
        for name in SPLIT_NAMES:
            if index[name].size == 0 and not (name == "test" and fractions[2] == 0):
                raise DataError(f"{src}: the {_SPLIT_WORDS[name]} split is empty: {N} samples split "
                                f"{fractions[0]:g}/{fractions[1]:g}/{fractions[2]:g}: add samples or change --split")
        fit = slice(0, n_tr)
    else:
        index = {"all": np.arange(N)}
        fit = slice(0, N)
    if meta is None:
        flat = X[fit].reshape(-1, F)
        meta = RunMeta(task=task, features=[f"f{i}" for i in range(F)], target=None, classes=classes,
                       x_mean=flat.mean(axis=0).tolist(), x_std=_std(flat).tolist(), lookback=T, horizon=None)
        if tokens is not None:  # ids are names, not measurements: never normalized
            meta.x_mean, meta.x_std = [0.0] * F, [1.0] * F
        if task == "regression" and y_orig is not None:
            meta.y_mean = float(y_orig[fit].mean())
            meta.y_std = float(_std(y_orig[fit].reshape(-1)))
    Xn = (X - np.asarray(meta.x_mean)) / np.asarray(meta.x_std)
    if task == "regression":
        yt = torch.zeros(want, dtype=torch.float32) if y_orig is None else \
            torch.from_numpy(((y_orig - meta.y_mean) / meta.y_std).astype(np.float32))
    else:
        yt = torch.from_numpy(y_lab) if has_y else torch.zeros(want, dtype=torch.int64)
    return Dataset(src, "windows", task, meta, torch.from_numpy(Xn.astype(np.float32)), yt, y_orig,
                   {k: torch.from_numpy(v.astype(np.int64)) for k, v in index.items()},
                   T, 0, seq_target, units, has_targets=has_y)
