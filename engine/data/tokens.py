"""CSV (or any table) of token ids, for designs whose Input takes integer token ids (an Embedding reads them).

One row per sequence: the token-id columns in time order, padded with 0 (the padding id an Embedding with
mask_zero skips; at the end or the start), and one label column. The label column is --target (default:
the last column); the id columns are --features in that order (default: every other column, in file
order). An empty id cell is padding (0), so files whose rows have different lengths read as they are; a
label column empty in every row is a file to predict (no targets).

    token_arrays(table, spec, vocabulary, timesteps) -> TokenArrays     (the columns, checked)

The reader flavour of the data line (engine/data/__init__.py) for such files: the file is read once by
engine/data/tables.py read_table (pyarrow, columnar) and checked here column by column, each problem named
by row and column. The data plan (engine/data/plan.py make_token_plan) is derived from these arrays and
checks them as an .npz's samples, and the dataset is made of them as of an .npz's (engine/data/dataset.py
from_arrays), so splits, labels, classes and the "never normalized" rule are the same for both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .columns import DataError
from .spec import CONTROLS
from .tables import Table


@dataclass
class TokenArrays:
    X: np.ndarray  # (N, T) int64 ids, 0 = padding
    y: np.ndarray | None  # (N,) labels (int, float or str); None: the label column is empty (a file to predict)
    columns: list[str]  # the id columns, in time order
    target: str


def _first_problem(table: Table, name: str, vocabulary: int, c: dict) -> tuple[int, str] | None:
    """(row, message) of the first cell of id column `name` that is not a token id in the vocabulary."""
    where = table.where
    fix = f"the token columns hold integer ids only ({c['target']} names the label column)"
    if name in table.bad or table.kinds[name] in ("text", "time"):
        if name in table.bad:
            row, cell = table.bad[name]
        else:
            values = table.columns[name]
            row = next((i for i, v in enumerate(values) if v not in (None, "")), 0)
            cell = table.cell_text(name, row)
        return row, f"{where(name, row)}: {cell!r} is not a token id (a whole number >= 0; 0 is padding): {fix}"
    arr = np.asarray(table.columns[name], dtype=np.float64)
    present = ~np.isnan(arr)
    wrong = present & ((arr < 0) | (arr != np.floor(arr)) | ~np.isfinite(arr))
    if wrong.any():
        row = int(np.argmax(wrong))
        cell = table.cell_text(name, row)
        return row, f"{where(name, row)}: {cell!r} is not a token id (a whole number >= 0; 0 is padding): {fix}"
    outside = present & (arr >= vocabulary)
    if outside.any():
        row = int(np.argmax(outside))
        value = int(arr[row])
        return row, (
            f"{where(name, row)}: token id {value} is outside the Embedding's vocabulary 0..{vocabulary - 1}: "
            f"raise the Embedding's input_dim to at least {int(arr[present].max()) + 1}"
        )
    return None


def _pick_columns(table: Table, spec, timesteps: int | None, c: dict) -> tuple[list[str], str]:
    src, header = table.source, table.names
    target = spec.target if spec.target is not None else header[-1]
    if target not in header:
        raise DataError(f"{src}: no column '{target}' for the labels (columns: {', '.join(header)}): fix {c['target']}")
    columns = list(spec.features) if spec.features else [h for h in header if h != target]
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataError(f"{src}: no token column '{missing[0]}' (columns: {', '.join(header)}): fix {c['features']}")
    if not columns:
        raise DataError(f"{src}: only the label column '{target}': add one column per token position")
    if target in columns:
        raise DataError(
            f"{src}: column '{target}' is the label column, so it cannot also hold token ids: fix {c['features']}"
        )
    if timesteps is not None and len(columns) != timesteps:
        raise DataError(
            f"{src}: {len(columns)} token columns but the design's Input takes {timesteps} timesteps: set the "
            f"Input's timesteps to {len(columns)} (or null for variable length)"
        )
    return columns, target


def _labels(table: Table, target: str) -> np.ndarray | None:
    """Labels as ints when they all are, then floats, else text; None when the column is empty everywhere."""
    values = table.columns[target]
    if table.kinds[target] in ("integer", "number") and target not in table.bad:
        arr = np.asarray(values, dtype=np.float64)
        empty = np.isnan(arr)
        if empty.all():
            return None
        if empty.any():
            row = int(np.argmax(empty))
            raise DataError(f"{table.where(target, row)}: no label: fill it in or drop the row")
        return arr.astype(np.int64) if np.all(arr == np.floor(arr)) else arr
    text = [("" if v is None else str(v).strip()) for v in values]
    if not any(text):
        return None
    empty_row = next((i for i, v in enumerate(text) if not v), None)
    if empty_row is not None:
        raise DataError(f"{table.where(target, empty_row)}: no label: fill it in or drop the row")
    for kind in (int, float):
        try:
            return np.asarray([kind(v) for v in text])
        except ValueError:
            continue
    return np.asarray(text, dtype=str)


def token_arrays(table: Table, spec, vocabulary: int, timesteps: int | None, c: dict | None = None) -> TokenArrays:
    """The ids (N, T) and labels of a table of token ids; DataError naming the row and column otherwise."""
    c = c or CONTROLS["cli"]
    columns, target = _pick_columns(table, spec, timesteps, c)
    problems = [p for p in (_first_problem(table, n, vocabulary, c) for n in columns) if p is not None]
    if problems:
        raise DataError(min(problems, key=lambda p: p[0])[1])  # the first row with a problem
    X = np.zeros((table.n_rows, len(columns)), np.int64)
    for t, name in enumerate(columns):
        arr = np.asarray(table.columns[name], dtype=np.float64)
        X[:, t] = np.where(np.isnan(arr), 0.0, arr)  # an empty cell is padding
    return TokenArrays(X, _labels(table, target), columns, target)
