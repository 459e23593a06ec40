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

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..training.runs import RunMeta
from .plan import (
    CONTROLS,
    NO_TIME,
    SPLIT_WORDS,
    DataPlan,
    DesignIO,
    Layout,
    WindowStarts,
    check_split,
    make_plan,
    make_token_plan,
    raise_for_errors,
    split_bounds,
)
from .tables import (
    DataError,
    Table,
    check_array,
    check_array_range,
    check_source_file,
    demo_columns,
    read_csv,
    read_table,
    release_pages,
)

__all__ = [
    "CONTROLS",
    "SPLIT_WORDS",
    "DataError",
    "DataPlan",
    "DataSpec",
    "Dataset",
    "Table",
    "WindowIndex",
    "demo_table",
    "design_io",
    "infer_task",
    "load_dataset",
    "lookahead_warnings",
    "plan_data",
    "read_csv",
    "read_table",
]

DEMOS = ("sine", "chaos")
SPLIT_NAMES = ("train", "val", "test")
_SPLIT_WORDS = SPLIT_WORDS


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
    series: str | None = None  # column holding the series id (many series in one file)
    missing: str = "error"  # error | interpolate | ffill | drop
    time: str | None = None  # time column: None detects it, "none" means there is none, or a column name
    season: int | None = None  # season length m (seasonal naive, MASE); None: the run's, or the time column's
    fold: list[int] | None = (
        None  # backtest fold [k, K] (engine/forecasting/backtest.py): trains before test block k of K
    )

    @property
    def label(self) -> str:
        return f"demo:{self.demo}" if self.demo else str(self.path)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "demo": self.demo,
            "target": self.target,
            "features": self.features,
            "lookback": self.lookback,
            "horizon": self.horizon,
            "split": list(self.split),
            "demo_rows": self.demo_rows,
            "demo_seed": self.demo_seed,
            "series": self.series,
            "missing": self.missing,
            "time": self.time,
            "season": self.season,
            "fold": self.fold,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataSpec:
        d = dict(d or {})
        if "split" in d and d["split"] is not None:
            d["split"] = tuple(d["split"])
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


# ---------------------------------------------------------------------------- demos
def mackey_glass(
    n: int,
    tau: int = 17,
    beta: float = 0.2,
    gamma: float = 0.1,
    power: int = 10,
    sample_every: int = 3,
    substeps: int = 10,
    seed: int = 0,
) -> np.ndarray:
    """Mackey-Glass delay differential equation (chaotic for tau = 17), Euler-integrated, sampled every
    `sample_every` time units after a transient."""
    rng = np.random.default_rng(seed)
    dt = 1.0 / substeps
    lag = tau * substeps
    warm = 500 * substeps
    total = warm + n * sample_every * substeps
    x = np.empty(total + lag)
    x[: lag + 1] = 1.2 + 0.05 * rng.standard_normal(lag + 1)
    for i in range(lag, total + lag - 1):
        xd = x[i - lag]
        x[i + 1] = x[i] + dt * (beta * xd / (1.0 + xd**power) - gamma * x[i])
    series = x[lag + warm :: sample_every * substeps][:n]
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
        v = (
            np.sin(2 * np.pi * t / 40.0)
            + 0.5 * np.sin(2 * np.pi * t / 13.7 + 1.0)
            + 0.25 * np.sin(2 * np.pi * t / 5.3 + 2.0)
            + 0.1 * rng.standard_normal(rows)
        )
    else:
        v = mackey_glass(rows, seed=seed)
    return demo_columns(f"demo:{name}", v.astype(np.float64))


# ============================================================================ prepared datasets
@dataclass
class Dataset:
    """Data ready for a design: normalized tensors, window index per split, and the metadata
    (columns, normalization) a run saves. `batch(split, idx)` gathers one batch."""

    source: str
    kind: str  # "series" | "windows"
    task: str  # "regression" | "classification"
    meta: RunMeta
    x: Any  # torch: series (rows, F) float32, or windows (N, T, F); MappedSeries for a mapped file
    y: Any  # series: (rows,) float32 normalized / int64 labels; windows: (N, ...) likewise; MappedTarget
    y_orig: np.ndarray | None  # regression targets in original units (same layout as y; a mapped column)
    index: dict[str, WindowIndex]  # split -> window starts (series) or sample indices, computed per batch
    lookback: int
    horizon: int
    seq_target: bool  # the design's output keeps the time axis
    out_units: int
    ignored_columns: list[str] = field(default_factory=list)
    has_targets: bool = True  # False: a file for `predict` without the target column
    plan: DataPlan | None = None  # what the data was cut into (recorded in the run folder)
    series_ids: np.ndarray | None = None  # many series: the series id of each training row
    file_rows: np.ndarray | None = None  # the file row of each training row (None: the same)
    steps: int = 1  # forecast steps of a direct multi-step design: window -> targets r+horizon .. +steps-1
    season: int = 1  # season length m of the seasonal-naive baseline and MASE
    segments: list[tuple[int, int]] | None = None  # [start, end) training rows of each series
    fit_ends: list[int] | None = None  # end (exclusive) of each series' training part (MASE scale)
    time_text: Any = None  # a saved run's data with a time column: file rows -> that column's cells as text

    def predicted_rows(self, idx: np.ndarray) -> np.ndarray:
        """1-based file row of the target each window predicts (its last step's; series: the sample index)."""
        idx = np.asarray(idx)
        if self.kind == "windows":
            return idx
        target = idx + self.lookback - 1 + self.horizon + self.steps - 1
        if self.file_rows is not None:
            target = self.file_rows[np.minimum(target, len(self.file_rows) - 1)]
        return target + 1

    def file_row(self, rows) -> np.ndarray:
        """0-based file rows of training rows (the same unless many series or dropped rows reorder them)."""
        rows = np.asarray(rows, dtype=np.int64)
        return rows if self.file_rows is None else self.file_rows[rows]

    def size(self, split: str) -> int:
        return len(self.index[split])

    def to(self, device) -> Dataset:
        """Move the (small) tensors to a device once; batches are then gathered on the device."""
        if not isinstance(self.x, MappedSeries):
            self.x = self.x.to(device)
        if not isinstance(self.y, MappedTarget):
            self.y = self.y.to(device)
        self.index = {k: v.to(device) for k, v in self.index.items()}
        self._ar = None
        return self

    def batch(self, idx):
        """idx: int64 tensor of window starts / sample indices (from `index[split][positions]`) on the
        data's device. Returns x (B, T, F) and y shaped like the design's output ((B, 1), (B, T, 1),
        (B,) labels ...)."""
        import torch

        if self.kind == "windows":
            xb = self.x[idx]
        elif isinstance(self.x, MappedSeries):  # rows read from the file, this batch only
            xb = torch.from_numpy(self.x.windows(idx.cpu().numpy(), self.lookback)).to(idx.device)
        else:
            xb = self.x[idx[:, None] + self._arange(idx.device)]  # (B, L, F): only this batch is materialized
        return xb, self.targets(idx)

    def _arange(self, device):
        import torch

        ar = getattr(self, "_ar", None)
        if ar is None or ar.device != device:
            ar = self._ar = torch.arange(self.lookback, device=device)
        return ar

    def targets(self, idx):
        """The targets of window starts / sample indices idx (tensor), shaped like the design's output:
        what `batch` returns as y, without reading the inputs."""
        if self.kind == "windows":
            yb = self.y[idx]
        elif isinstance(self.y, MappedTarget):  # read from the file, this batch only
            yb = self.y.gather(idx, self.lookback, self.horizon, self.seq_target, self.steps)
        elif self.seq_target:
            yb = self.y[idx[:, None] + self._arange(idx.device) + self.horizon]  # (B, L)
        elif self.steps > 1:  # a direct multi-step forecast: (B, H)
            yb = self.y[idx[:, None] + self._step_range(idx.device) + (self.lookback - 1 + self.horizon)]
        else:
            yb = self.y[idx + (self.lookback - 1 + self.horizon)]  # (B,)
        if self.task == "regression" and yb.dim() < (3 if self.seq_target else 2):
            yb = yb.unsqueeze(-1)  # (B, 1) or (B, T, 1)
        return yb

    def _step_range(self, device):
        import torch

        sr = getattr(self, "_sr", None)
        if sr is None or sr.device != device:
            sr = self._sr = torch.arange(self.steps, device=device)
        return sr

    def target_rows(self, idx) -> np.ndarray:
        """Training rows of the targets of window starts idx (host ints): (N, steps), or (N, lookback)
        for a per-step output."""
        idx = np.asarray(idx, dtype=np.int64)
        if self.seq_target:
            return idx[:, None] + np.arange(self.lookback) + self.horizon
        return idx[:, None] + np.arange(self.steps) + (self.lookback - 1 + self.horizon)

    def lead_times(self) -> np.ndarray:
        """Rows between the window's last row and each output column's target (horizon .. horizon +
        steps - 1; a per-step output: horizon for every step)."""
        if self.seq_target:
            return np.full(self.lookback, self.horizon, dtype=np.int64)
        return np.arange(self.steps, dtype=np.int64) + self.horizon

    def targets_orig(self, idx) -> np.ndarray:
        """Regression targets of positions idx (host int array) in original units, output layout."""
        idx = np.asarray(idx)
        assert self.y_orig is not None  # regression data with its target column keeps y_orig
        if self.kind == "windows":
            out = self.y_orig[idx]
        else:
            out = self._gather(self.target_rows(idx))
        return out.reshape(len(idx), -1)

    def _gather(self, rows: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
        """y_orig[rows] as float64; from a memory-mapped file in chunks whose pages are handed back."""
        assert self.y_orig is not None
        if not isinstance(self.y, MappedTarget):
            return self.y_orig[rows]
        out = np.empty(rows.shape, dtype=np.float64)
        for lo in range(0, len(rows), chunk):
            out[lo : lo + chunk] = self.y_orig[rows[lo : lo + chunk]]
            release_pages(self.y_orig)
        return out

    def persistence_orig(self, idx) -> np.ndarray | None:
        """The persistence forecast (the target's value `horizon` rows before each target row, i.e.
        the last observed value) for positions idx, in original units; None for .npz data."""
        if self.kind == "windows" or self.task != "regression":
            return None
        assert self.y_orig is not None  # regression series data keeps its targets in y_orig
        idx = np.asarray(idx)
        if self.seq_target:
            out = self._gather(idx[:, None] + np.arange(self.lookback))
        else:  # the last observed value, for every step
            out = np.repeat(self._gather(idx + self.lookback - 1)[:, None], self.steps, axis=1)
        return out.reshape(len(idx), -1)

    def seasonal_naive_orig(self, idx) -> np.ndarray | None:
        """The seasonal-naive forecast y[r - m·ceil(h/m)] (target row r, lead time h, m = season) for
        positions idx, output layout, original units; NaN where that row is before the series' first
        row. None for .npz data and classifiers."""
        if self.kind == "windows" or self.task != "regression" or self.y_orig is None:
            return None
        from ..metrics import seasonal_naive

        rows = self.target_rows(idx)
        firsts = self._segment_firsts()[self._segment_of(rows[:, :1])]
        gather = _Gatherer(self)
        return seasonal_naive(gather, rows, self.lead_times()[None, :], self.season, firsts).reshape(len(rows), -1)

    def _segment_firsts(self) -> np.ndarray:
        segs = self.segments or [(0, len(self.y_orig) if self.y_orig is not None else 0)]
        return np.asarray([s for s, _ in segs], dtype=np.int64)

    def _segment_of(self, rows: np.ndarray) -> np.ndarray:
        return np.searchsorted(self._segment_firsts(), rows, side="right") - 1

    def mase_scales(self) -> np.ndarray:
        """Per series (segment): mean over t = m..R of |y_t - y_{t-m}| over its training part (NaN when
        too short or constant: left out of MASE); read in chunks."""
        cached = getattr(self, "_scales", None)
        if cached is not None and cached[0] == self.season:
            return cached[1]
        assert self.y_orig is not None  # regression series data keeps its targets in y_orig
        segs = self.segments or [(0, len(self.y_orig))]
        ends = self.fit_ends or [e for _, e in segs]
        m, out = self.season, []
        for (s, _), end in zip(segs, ends, strict=True):
            total, n = 0.0, 0
            for lo in range(s + m, end, 1 << 17):
                hi = min(end, lo + (1 << 17))
                d = np.abs(np.asarray(self.y_orig[lo:hi], dtype=np.float64) - self.y_orig[lo - m : hi - m])
                release_pages(self.y_orig)
                total, n = total + float(d.sum()), n + d.size
            out.append(total / n if n and total > 0 else np.nan)
        scales = np.asarray(out)
        self._scales = (self.season, scales)
        return scales

    def window_scales(self, idx) -> np.ndarray | None:
        """The MASE scale of each window's series (N,); None for .npz data and classifiers."""
        if self.kind == "windows" or self.task != "regression" or self.y_orig is None:
            return None
        return self.mase_scales()[self._segment_of(np.asarray(idx, dtype=np.int64))]


class _Gatherer:
    """y_orig[rows] through Dataset._gather (chunked for a memory-mapped column)."""

    def __init__(self, data: Dataset):
        self.data = data

    def __getitem__(self, rows):
        return self.data._gather(np.asarray(rows))


class MappedSeries:
    """Feature columns of a memory-mapped file (.npy, Arrow IPC), normalized per batch: the file is
    never read whole, so resident memory stays far below its size. A C-ordered .npy is read window by
    window with pread (no mapped pages, which the kernel's fault-around would make resident 64 KB at a
    time); other files through the mapping, whose pages are handed back every few batches."""

    RELEASE_EVERY = 32  # batches between hints to the kernel that the pages read may go

    def __init__(
        self,
        columns: list[np.ndarray],
        mean,
        std,
        source: np.ndarray | None = None,
        column_index: list[int] | None = None,
    ):
        self.columns = columns
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        self.file: str | None = None
        if isinstance(source, np.memmap) and source.ndim == 2 and source.flags.c_contiguous and column_index:
            self.file, self.offset = source.filename, int(source.offset)
            self.row_bytes, self.dtype = source.shape[1] * source.dtype.itemsize, source.dtype
            self.width, self.column_index = source.shape[1], column_index
        self._fd: int | None = None
        self._taken = 0

    def windows(self, starts: np.ndarray, length: int) -> np.ndarray:
        """(B, length, F) float32, normalized: rows starts[i] .. starts[i] + length - 1."""
        if self.file is not None:
            out = self._pread(starts, length)
        else:
            rows = starts[:, None] + np.arange(length)
            out = np.stack([col[rows] for col in self.columns], axis=-1).astype(np.float32)
            self._taken += 1
            if self._taken % self.RELEASE_EVERY == 0:
                release_pages(self.columns[0])
        out -= self.mean
        out /= self.std
        return out

    def _pread(self, starts: np.ndarray, length: int) -> np.ndarray:
        assert self.file is not None  # windows() reads with pread only when __init__ found a .npy file
        if self._fd is None:
            self._fd = os.open(self.file, os.O_RDONLY)
        size = length * self.row_bytes
        raw = b"".join(os.pread(self._fd, size, self.offset + int(s) * self.row_bytes) for s in starts)
        block = np.frombuffer(raw, dtype=self.dtype).reshape(len(starts), length, self.width)
        return block[:, :, self.column_index].astype(np.float32)

    def __getstate__(self):  # a spawned process reopens the file
        state = dict(self.__dict__)
        state["_fd"] = None
        return state

    def __del__(self):
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)

    def element_size(self) -> int:
        return 4

    def nelement(self) -> int:
        return 0  # stays on the host: nothing to move to a device


class WindowIndex:
    """The window starts (or sample indices) of one split, for training: `index[positions]` and
    `index[a:b]` give the int64 starts of those positions as a tensor on the index's device, computed
    from per-series runs (dataplan.WindowStarts), never stored one per window. `len(index)` is the
    split's window count; `numpy()` materializes every start (predictions, tests)."""

    def __init__(self, starts: WindowStarts, device=None):
        import torch

        self.starts = starts
        self.device = torch.device("cpu") if device is None else torch.device(device)
        self._firsts = torch.from_numpy(starts.firsts).to(self.device)
        self._offsets = torch.from_numpy(starts.offsets).to(self.device)
        self.shape = (starts.size,)

    def __len__(self) -> int:
        return self.starts.size

    def __getitem__(self, key):
        import torch

        if isinstance(key, slice):
            lo, hi, step = key.indices(self.starts.size)
            positions = torch.arange(lo, hi, step, dtype=torch.int64, device=self.device)
        else:
            positions = torch.as_tensor(key, device=self.device).to(torch.int64)
        if len(self._firsts) == 1:
            return positions + self._firsts[0]
        if len(self._firsts) == 0:
            return positions
        run = torch.searchsorted(self._offsets, positions, right=True) - 1
        return self._firsts[run] + positions - self._offsets[run]

    def numpy(self) -> np.ndarray:
        return self.starts.numpy()

    def cpu(self) -> WindowIndex:
        return self if self.device.type == "cpu" else WindowIndex(self.starts)

    def to(self, device) -> WindowIndex:
        return WindowIndex(self.starts, device)

    def max(self) -> int:
        return self.starts.max()


class MappedTarget:
    """The regression target of a memory-mapped file, read (and normalized) per batch: no copy of the
    column is held. Reads go through a one-column MappedSeries (pread for a C-ordered .npy)."""

    def __init__(self, reader: MappedSeries):
        self.reader = reader

    def gather(self, idx, lookback: int, horizon: int, seq_target: bool, steps: int = 1):
        """Normalized float32 targets of window starts idx: (B,), per step (B, lookback), or for a
        multi-step forecast (B, steps)."""
        import torch

        starts = idx.cpu().numpy()
        if seq_target:
            out = self.reader.windows(starts + horizon, lookback)[..., 0]
        elif steps > 1:
            out = self.reader.windows(starts + (lookback - 1 + horizon), steps)[..., 0]
        else:
            out = self.reader.windows(starts + (lookback - 1 + horizon), 1)[:, 0, 0]
        return torch.from_numpy(np.ascontiguousarray(out)).to(idx.device)

    def element_size(self) -> int:
        return 4

    def nelement(self) -> int:
        return 0  # stays in the file


def lookahead_warnings(project, dataset: Dataset) -> list[str]:
    """A trap no shape check can see: a per-step output, the target also fed as an input feature, and a
    block that reads later time steps (bidirectional, go_backwards, non-causal attention). Step t's
    target is row t + horizon, which such a block sees inside the window: the model copies its answer,
    validation looks excellent, and deployment (where the future is unknown) cannot do that."""
    meta = dataset.meta
    if not dataset.seq_target or dataset.kind != "series" or meta.target is None or meta.target not in meta.features:
        return []
    from ..design.blocks import CATALOG

    peekers = []
    for b in project.blocks:
        why = CATALOG[b.type].reads_later_steps(b.resolved()) if b.type in CATALOG else None
        if why:
            peekers.append(f"'{b.id}' ({why})")
    if not peekers:
        return []
    return [
        f"look-ahead leak: the output is per time step and the target '{meta.target}' is also an input "
        f"feature, so {', '.join(peekers)} let{'s' if len(peekers) == 1 else ''} step t read its own answer "
        f"(row t+{dataset.horizon}) later in the window: validation will look better than deployment can be. "
        f"Use one-direction layers / causal attention, or leave '{meta.target}' out of the features"
    ]


def persistence_verdict(summary: dict[str, Any]) -> dict[str, Any]:
    """Honest baselines for summary.json: each split's model RMSE against the persistence RMSE of the
    same split; `beats_persistence` compares on the test split (validation when there is no test), and
    `beats_seasonal_naive` the same against the seasonal-naive RMSE (`seasonal_naive_split`)."""
    out: dict[str, Any] = {}
    for split in ("val", "test"):
        key = f"{split}_persistence_rmse"
        if isinstance(summary.get(key), (int, float)):
            out[key] = summary[key]
    for base_name, word in (("persistence", "persistence"), ("seasonal_naive", "seasonal_naive")):
        for split in ("test", "val"):
            model, base = summary.get(f"{split}_rmse"), summary.get(f"{split}_{base_name}_rmse")
            if isinstance(model, (int, float)) and isinstance(base, (int, float)):
                out[f"beats_{word}"] = bool(model < base)
                out[f"{word}_split"] = split
                break
    return out


def design_io(project) -> tuple[str, tuple, tuple]:
    """(input block id, input shape, output shape) of a valid design; DesignError otherwise."""
    from ..design.compile import DesignError
    from ..design.shapes import check

    res = check(project)
    if not res.ok:
        raise DesignError(res.errors)
    in_shape, out_shape = res.input_shape(), res.output_shape()
    # a design that checks ok has its one Input and the shapes of its input and output
    assert res.input_id is not None and in_shape is not None and out_shape is not None
    return res.input_id, tuple(in_shape), tuple(out_shape)


def infer_task(training: dict[str, Any]) -> str:
    task = training.get("task")
    if task in ("regression", "classification"):
        return task
    return "classification" if training.get("loss") == "cross_entropy" else "regression"


def _labels(values: Sequence[Any] | np.ndarray, table: Table, col: str, units: int, classes: list | None):
    """Class labels -> (int64 indices, class list). Labels are integers or strings; the class count must
    equal the output units."""
    vals: list[Any] = [v.strip() if isinstance(v, str) else v for v in values]
    for r, v in enumerate(vals):
        if v == "" or (isinstance(v, float) and not math.isfinite(v)):
            raise DataError(f"{table.where(col, r)}: empty or missing label: give every row a class label")
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
                    f"{table.where(col, r)}: class label {v!r} is not a whole number: labels must be integers or words"
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
                f"{table.source}: column '{col}' has {len(classes)} classes ({shown}) but the design's "
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
                    f"{table.where(col, r)}: label {v!r} was not among the training classes "
                    f"({', '.join(map(str, classes))})"
                )
            out.append(lookup[key])
        return np.asarray(out, dtype=np.int64), classes
    lookup = {c: i for i, c in enumerate(classes)}
    return np.asarray([lookup[v] for v in vals], dtype=np.int64), classes


def read_source(spec: DataSpec) -> Table:
    """The table a spec names: a demo, or a data file / folder of CSVs (engine.data.tables)."""
    if (spec.path is None) == (spec.demo is None):
        raise DataError("give exactly one data source: --data FILE or --demo sine|chaos")
    if spec.demo is not None:
        return demo_table(spec.demo, spec.demo_rows, spec.demo_seed)
    assert spec.path is not None  # exactly one of path and demo is given (checked above)
    return read_table(spec.path)


_TOKEN_SOURCES = (
    "the design's Input takes integer token ids (dtype=int64): give them as a .npz with X "
    "(N, T) of ids padded with 0 and y, or a .csv with one row of ids per sequence and a label "
    "column (demo series hold no token ids)"
)


def plan_data(
    spec: DataSpec, project, *, table: Table | None = None, ui: str = "cli", task: str | None = None
) -> DataPlan:
    """The data plan of a spec for a design, errors included (never raises DataError for the data).
    Pass `table` to reuse a table already read (the GUI re-plans on every settings change)."""
    if spec.path is not None and Path(spec.path).suffix.lower() == ".npz":
        try:
            ds = load_dataset(spec, project)
            assert ds.plan is not None  # load_dataset records the plan of what it loaded
            return ds.plan
        except DataError as e:
            return DataPlan(str(spec.path), "npz", 0, errors=[str(e)])
    from ..design.compile import token_vocabulary
    from ..design.shapes import check

    tokens = token_vocabulary(project, check(project))
    if tokens is not None and Path(spec.path or "").suffix.lower() != ".csv":
        return DataPlan(spec.label, "?", 0, errors=[_TOKEN_SOURCES])
    try:
        table = table if table is not None else read_source(spec)
    except DataError as e:
        return DataPlan(spec.label, "?", 0, errors=[str(e)])
    if tokens is not None:  # one sequence of ids per row: the plan the dataset is built from (engine/data/tokens.py)
        return make_token_plan(table, spec, DesignIO.of(project, task), tokens, ui=ui)[0]
    plan, _ = make_plan(table, spec, DesignIO.of(project, task), ui=ui)
    return plan


def load_dataset(spec: DataSpec, project, *, meta: RunMeta | None = None, split: bool = True) -> Dataset:
    """Load data for a design. With `meta` (from a saved run), reuse its columns, window and
    normalization instead of fitting them (evaluate / predict); `split=False` puts every window in
    one split named "all"."""
    if (spec.path is None) == (spec.demo is None):
        raise DataError("give exactly one data source: --data FILE or --demo sine|chaos")
    _, in_shape, out_shape = design_io(project)
    task = meta.task if meta is not None else infer_task(project.training)
    from ..design.compile import token_vocabulary
    from ..design.shapes import check

    tokens = token_vocabulary(project, check(project))
    if tokens is not None and Path(spec.path or "").suffix.lower() not in (".csv", ".npz"):
        raise DataError(_TOKEN_SOURCES)
    if tokens is not None and spec.path is not None and Path(spec.path).suffix.lower() == ".csv":
        from .tokens import token_csv_dataset  # one row of token ids per sequence (engine/data/tokens.py)

        return token_csv_dataset(Path(spec.path), spec, in_shape, out_shape, task, meta, split, tokens)
    if spec.demo is not None and task == "classification":
        raise DataError(
            f"demo:{spec.demo} is a regression series but the design trains a classifier: "
            f"use --data with a labelled file, or set training.task to regression"
        )
    if spec.path is not None and Path(spec.path).suffix.lower() == ".npz":
        return _from_npz(Path(spec.path), spec, in_shape, out_shape, task, meta, split, tokens=tokens)
    table = read_source(spec)
    design = DesignIO(int(in_shape[-1]), in_shape[1], len(out_shape) == 3, int(out_shape[-1]), task)
    plan, layout = make_plan(table, spec, design, split=split, meta=meta)
    raise_for_errors(plan)
    assert layout is not None  # make_plan leaves the layout None only with errors, raised just above
    return _from_table(table, plan, layout, project, design, meta)


def _std(a: np.ndarray, axis=0) -> np.ndarray:
    s = a.std(axis=axis)
    return np.where(s < 1e-12, 1.0, s)


def _fit_stats(
    columns: list[np.ndarray], fit_rows: list[tuple[int, int]], chunk: int = 1 << 17
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of each column over the training rows ([start, end) ranges, one per series), read
    in chunks (memory-mapped files are never read whole)."""
    means, stds = [], []
    for col in columns:
        total, total_sq, n = 0.0, 0.0, 0
        for a, b in fit_rows:
            for lo in range(a, b, chunk):
                piece = np.asarray(col[lo : min(b, lo + chunk)], dtype=np.float64)
                release_pages(col)
                total += float(piece.sum())
                total_sq += float(np.square(piece).sum())
                n += piece.size
        mean = total / max(n, 1)
        var = max(total_sq / max(n, 1) - mean * mean, 0.0)
        means.append(mean)
        stds.append(math.sqrt(var))
    std = np.asarray(stds)
    return np.asarray(means), np.where(std < 1e-12, 1.0, std)


def _normalized(col: np.ndarray, mean: float, std: float, chunk: int = 1 << 17) -> np.ndarray:
    """(col - mean) / std as float32, in chunks (no float64 copy of a long column)."""
    out = np.empty(len(col), dtype=np.float32)
    for lo in range(0, len(col), chunk):
        out[lo : lo + chunk] = (np.asarray(col[lo : lo + chunk], dtype=np.float64) - mean) / std
    return out


def _fit_meta(table: Table, plan: DataPlan, layout: Layout, project, task: str, cols, y_orig, classes) -> RunMeta:
    """A new run's columns, window and normalization, fitted on the training rows."""
    x_mean, x_std = _fit_stats(cols, layout.fit_rows)
    meta = RunMeta(
        project_name=project.name,
        task=task,
        features=list(plan.features),
        target=plan.target,
        classes=classes,
        x_mean=x_mean.tolist(),
        x_std=x_std.tolist(),
        lookback=plan.lookback,
        horizon=plan.horizon,
        series=plan.series_column if table.fmt != "folder" else None,
        time=plan.time_column or NO_TIME,
        steps=plan.steps,
        season=plan.season if plan.season_source != "default" else None,
    )
    if task == "regression":
        # training (no saved run meta) has its target column: only predict reads a file without it
        assert y_orig is not None
        y_mean, y_std = _fit_stats([y_orig], layout.fit_rows)
        meta.y_mean, meta.y_std = float(y_mean[0]), float(y_std[0])
    return meta


def _from_table(table: Table, plan: DataPlan, layout: Layout, project, design: DesignIO, meta) -> Dataset:
    import torch

    saved = meta is not None
    task, target, features = design.task, plan.target, plan.features
    target_known = target in table.names
    n = sum(e - s for s, e in layout.segments)
    mapped = table.mapped and layout.order is None and not layout.values
    cols = [layout.column(table, f) for f in features]
    y_orig, classes, y_lab = None, None, None
    if task == "regression" and target is not None and target_known:
        y_orig = layout.column(table, target)
    elif target is not None and target_known:
        y_lab, classes = _labels(
            layout.column(table, target), table, target, design.units, meta.classes if meta is not None else None
        )
    if meta is None:
        meta = _fit_meta(table, plan, layout, project, task, cols, y_orig, classes)
    x: MappedSeries | torch.Tensor
    if mapped:
        x = MappedSeries(cols, meta.x_mean, meta.x_std, table.mapped_source, [table.names.index(f) for f in features])
    else:
        X = np.stack(cols, axis=1)
        x = torch.from_numpy(((X - np.asarray(meta.x_mean)) / np.asarray(meta.x_std)).astype(np.float32))
    y: MappedTarget | torch.Tensor
    if task == "regression" and y_orig is not None and mapped:  # read from the file per batch: no copy
        assert target is not None and meta.y_mean is not None and meta.y_std is not None
        reader = MappedSeries([y_orig], [meta.y_mean], [meta.y_std], table.mapped_source, [table.names.index(target)])
        y = MappedTarget(reader)
    elif task == "regression":
        y = (
            torch.zeros(n, dtype=torch.float32)
            if y_orig is None
            else torch.from_numpy(_normalized(y_orig, meta.y_mean, meta.y_std))
        )
    else:
        y = torch.from_numpy(y_lab) if target_known else torch.zeros(n, dtype=torch.int64)
    series_ids = layout.column(table, plan.series_column) if plan.series_column else None
    assert plan.lookback is not None  # a plan with a layout has its window (dataplan sets it)
    time_text = None
    if saved and plan.time_column:  # predict names each target row by its time (the table is kept for it)
        name = plan.time_column
        time_text = lambda rows: [table.cell_text(name, int(r)) for r in rows]  # noqa: E731
    return Dataset(
        table.source,
        "series",
        task,
        meta,
        x,
        y,
        y_orig,
        {k: WindowIndex(v) for k, v in layout.index.items()},
        plan.lookback,
        plan.horizon,
        design.seq_target,
        design.units,
        plan.ignored,
        has_targets=target_known,
        plan=plan,
        series_ids=series_ids,
        file_rows=layout.order,
        steps=plan.steps,
        season=plan.season or 1,
        segments=list(layout.segments),
        fit_ends=(
            [e for _, e in layout.fit_rows]
            if len(layout.fit_rows) == len(layout.segments)
            else [e for _, e in layout.segments]
        ),
        time_text=time_text,
    )


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


def _from_npz(path: Path, spec, in_shape, out_shape, task, meta, split, tokens: int | None = None) -> Dataset:
    """`tokens`: the design's Input takes integer token ids below this (not normalized)."""
    import torch

    src = str(path)
    arrays = _read_npz(path, src)
    X = _npz_inputs(arrays["X"], src, in_shape, tokens)
    N, T, F = X.shape
    seq_target = len(out_shape) == 3
    units = out_shape[-1]
    y = arrays.get("y")
    has_y = y is not None
    if y is not None and len(y) != N:
        raise DataError(f"{src}: y has {len(y)} entries but X has {N} samples: one target per sample")
    steps = units if task == "regression" and not seq_target else 1  # y (N, H): a direct H-step forecast
    want = (N, T) if seq_target else (N, steps) if steps > 1 else (N,)
    y_orig, classes = None, None
    if task == "regression":
        if has_y:
            y_orig = _npz_regression_targets(y, src, out_shape, want, seq_target)
        if units != 1 and seq_target:
            raise DataError(
                f"{src}: regression with one target but the design's output has {units} units per step: "
                f"set the output Dense units to 1"
            )
    elif has_y:
        y_lab, classes = _npz_class_labels(y, src, want, units, meta, seq_target)
    index, fit = _npz_split(src, spec, N, split)
    if meta is None:
        meta = _npz_meta(X, fit, task, classes, tokens, y_orig)
    Xn = (X - np.asarray(meta.x_mean)) / np.asarray(meta.x_std)
    if task == "regression":
        yt = (
            torch.zeros(want, dtype=torch.float32)
            if y_orig is None
            else torch.from_numpy(((y_orig - meta.y_mean) / meta.y_std).astype(np.float32))
        )
    else:
        yt = torch.from_numpy(y_lab) if has_y else torch.zeros(want, dtype=torch.int64)
    plan = DataPlan(
        src,
        "npz",
        N,
        task=task,
        target=None,
        features=list(meta.features),
        lookback=T,
        horizon=0,
        split=list(spec.split),
        windows={k: int(v.size) for k, v in index.items()},
        split_rows={k: int(v.size) for k, v in index.items()},
        steps=steps,
    )
    if meta.steps is None:
        meta.steps = steps
    return Dataset(
        src,
        "windows",
        task,
        meta,
        torch.from_numpy(Xn.astype(np.float32)),
        yt,
        y_orig,
        {k: WindowIndex(WindowStarts([v[0] if v.size else 0], [v.size])) for k, v in index.items()},
        T,
        0,
        seq_target,
        units,
        has_targets=has_y,
        plan=plan,
        steps=steps,
    )


def _read_npz(path: Path, src: str) -> dict[str, np.ndarray]:
    """Every array of the archive, checked for size and kind; X must be there."""
    check_source_file(path, "npz")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise DataError(f"{src}: no such file: check the path given to --data") from None
    except Exception as e:
        raise DataError(
            f"{src}: not a readable .npz archive ({type(e).__name__}: {e}): save it with numpy.savez(path, X=X, y=y)"
        ) from None
    if "X" not in arrays:
        raise DataError(
            f"{src}: no array 'X' (found: {', '.join(arrays) or 'none'}): save sequences as X with "
            f"shape (N, T, F) and targets as y"
        )
    for name, arr in arrays.items():
        check_array(src, name, arr)
    return arrays


def _npz_inputs(X: np.ndarray, src: str, in_shape, tokens: int | None) -> np.ndarray:
    """X as float64 (N, T, F), matched against the design's Input and free of NaN/inf."""
    X = X if tokens is None else _token_ids(X, src, tokens)
    if tokens is None:  # token ids are checked against the vocabulary instead
        check_array_range(src, "X", X)
    if X.ndim != 3:
        raise DataError(f"{src}: X has shape {X.shape} but must be (N, T, F) = (samples, timesteps, features)")
    N, T, F = X.shape
    if not np.issubdtype(X.dtype, np.number):
        raise DataError(f"{src}: X holds {X.dtype} values, not numbers: save X as a float array")
    if in_shape[2] != F:
        raise DataError(
            f"{src}: X has {F} features per step (shape {X.shape}) but the design's Input takes "
            f"{in_shape[2]}: set the Input's features to {F}"
        )
    if in_shape[1] is not None and in_shape[1] != T:
        raise DataError(
            f"{src}: X has {T} timesteps (shape {X.shape}) but the design's Input takes {in_shape[1]}: "
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
    labels_table = Table(src, ["y"], {"y": values}, {"y": "text"}, fmt="npz")
    flat, classes = _labels(values, labels_table, "y", units, meta.classes if meta is not None else None)
    return flat.reshape(want), classes


def _npz_split(src: str, spec, N: int, split, control: str = "--split") -> tuple[dict[str, np.ndarray], slice]:
    """Sample indices per split (or all of them), and the samples the normalization is fitted on.
    `control` names the setting to change in the message (a flag on the CLI, a control in the GUI)."""
    if not split:
        return {"all": np.arange(N)}, slice(0, N)
    fractions = check_split(spec.split)
    n_tr, n_tv = split_bounds(N, fractions)
    index = {"train": np.arange(0, n_tr), "val": np.arange(n_tr, n_tv), "test": np.arange(n_tv, N)}
    for name in SPLIT_NAMES:
        if index[name].size == 0 and not (name == "test" and fractions[2] == 0):
            raise DataError(
                f"{src}: the {_SPLIT_WORDS[name]} split is empty: {N} samples split "
                f"{fractions[0]:g}/{fractions[1]:g}/{fractions[2]:g}: add samples or change {control}"
            )
    return index, slice(0, n_tr)


def _npz_meta(X: np.ndarray, fit: slice, task, classes, tokens: int | None, y_orig) -> RunMeta:
    """A new run's normalization and names, fitted on the `fit` samples."""
    _, T, F = X.shape
    flat = X[fit].reshape(-1, F)
    meta = RunMeta(
        task=task,
        features=[f"f{i}" for i in range(F)],
        target=None,
        classes=classes,
        x_mean=flat.mean(axis=0).tolist(),
        x_std=_std(flat).tolist(),
        lookback=T,
        horizon=None,
    )
    if tokens is not None:  # ids are names, not measurements: never normalized
        meta.x_mean, meta.x_std = [0.0] * F, [1.0] * F
    if task == "regression" and y_orig is not None:
        meta.y_mean = float(y_orig[fit].mean())
        meta.y_std = float(_std(y_orig[fit].reshape(-1)))
    return meta
