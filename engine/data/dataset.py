"""The last step of the data line (engine/data/__init__.py): a plan and what it was made from -> a Dataset
of windows (`from_table`) or of pre-windowed samples (`from_arrays`), normalization fitted on train only.
Nothing here reads a file or decides anything the plan (engine/data/plan.py) has not decided.

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
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .columns import release_pages
from .meta import RunMeta
from .plan import DataPlan, Layout, WindowStarts
from .spec import NO_TIME, DesignIO
from .tables import Table

__all__ = [
    "Dataset",
    "MappedSeries",
    "MappedTarget",
    "WindowIndex",
    "from_arrays",
    "from_table",
    "lookahead_warnings",
]


# ---------------------------------------------------------------------------- demos
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


def from_table(table: Table, plan: DataPlan, layout: Layout, project, design: DesignIO, meta) -> Dataset:
    """The dataset of a table under its plan: windows indexed, never copied; with `meta` (a saved run's)
    its normalization, otherwise one fitted on the training rows."""
    import torch

    saved = meta is not None
    task, target, features = design.task, plan.target, plan.features
    target_known = target in table.names
    n = sum(e - s for s, e in layout.segments)
    mapped = table.mapped and layout.order is None and not layout.values
    cols = [layout.column(table, f) for f in features]
    y_orig, classes, y_lab = None, layout.classes, layout.labels
    if task == "regression" and target is not None and target_known:
        y_orig = layout.column(table, target)
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


def from_arrays(plan: DataPlan, layout: Layout, design: DesignIO, meta) -> Dataset:
    """The dataset of pre-windowed samples (.npz, token ids) under their plan (engine/data/plan.py
    make_npz_plan / make_token_plan): sample i is X[i] -> y[i]; with `meta` (a saved run's) its
    normalization, otherwise one fitted on the training samples (token ids are never normalized)."""
    import torch

    samples, task = layout.samples, design.task
    assert samples is not None and plan.lookback is not None  # a samples plan without errors has both
    steps = design.units if task == "regression" and not design.seq_target else 1  # y (N, H): H steps
    X, y_orig, want, fit = samples.X, samples.y_orig, samples.want, slice(*layout.fit_rows[0])
    if meta is None:
        meta = _npz_meta(X, fit, task, samples.classes, design.vocabulary, y_orig)
    elif samples.words is not None:
        meta = replace(meta)  # the saved run's record is not changed
    if samples.words is not None:  # token ids with word labels: the labels are class indices of these words
        meta.classes = list(samples.words)
    Xn = (X - np.asarray(meta.x_mean)) / np.asarray(meta.x_std)
    if task == "regression":
        yt = (
            torch.zeros(want, dtype=torch.float32)
            if y_orig is None
            else torch.from_numpy(((y_orig - meta.y_mean) / meta.y_std).astype(np.float32))
        )
    else:
        yt = torch.from_numpy(samples.labels) if samples.has_y else torch.zeros(want, dtype=torch.int64)
    if meta.steps is None:
        meta.steps = steps
    return Dataset(
        plan.source,
        "windows",
        task,
        meta,
        torch.from_numpy(Xn.astype(np.float32)),
        yt,
        y_orig,
        {k: WindowIndex(v) for k, v in layout.index.items()},
        plan.lookback,
        0,
        design.seq_target,
        design.units,
        has_targets=samples.has_y,
        plan=plan,
        steps=steps,
    )


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
