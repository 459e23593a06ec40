"""Where the data comes from: the built-in demos, or a data file or folder (engine/data/tables.py reads
it into a Table, and an .npz archive of pre-windowed samples with read_npz); and which flavour of the
line a spec takes (`source_kind`: a table of rows, .npz samples, or a table of token ids, one sequence
per row).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .columns import DataError
from .spec import DEMOS, ONE_SOURCE, DataSpec
from .tables import Table, demo_columns, read_table

__all__ = [
    "TOKEN_SOURCES",
    "demo_table",
    "mackey_glass",
    "read_source",
    "source_kind",
]


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


def read_source(spec: DataSpec) -> Table:
    """The table a spec names: a demo, or a data file / folder of CSVs (engine.data.tables)."""
    if (spec.path is None) == (spec.demo is None):  # spec.check_source's rule (the line has checked it already)
        raise DataError(ONE_SOURCE)
    if spec.demo is not None:
        return demo_table(spec.demo, spec.demo_rows, spec.demo_seed)
    assert spec.path is not None  # exactly one of path and demo is given (checked above)
    return read_table(spec.path)


TOKEN_SOURCES = (
    "the design's Input takes integer token ids (dtype=int64): give them as a .npz with X "
    "(N, T) of ids padded with 0 and y, or a .csv with one row of ids per sequence and a label "
    "column (demo series hold no token ids)"
)


def source_kind(spec: DataSpec, vocabulary: int | None) -> str:
    """The flavour of the line for a spec: "npz" (pre-windowed samples), "tokens" (a CSV of token ids,
    one sequence per row, for a design whose Input takes ids below `vocabulary`) or "table" (rows of a
    time series, or a demo). DataError when the design takes token ids and the source cannot hold them."""
    suffix = Path(spec.path or "").suffix.lower()
    if suffix == ".npz":
        return "npz"
    if vocabulary is None:
        return "table"
    if suffix != ".csv":
        raise DataError(TOKEN_SOURCES)
    return "tokens"


def check_demo_task(spec: DataSpec, task: str) -> None:
    """The demos are regression series: a classifier cannot train on them."""
    if spec.demo is not None and task == "classification":
        raise DataError(
            f"demo:{spec.demo} is a regression series but the design trains a classifier: "
            f"use --data with a labelled file, or set training.task to regression"
        )
