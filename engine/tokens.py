"""CSV files of token ids, for designs whose Input takes integer token ids (an Embedding reads them).

One row per sequence: the token-id columns in time order, padded with 0 (the padding id an Embedding with
mask_zero skips; at the end or the start), and one label column. The label column is --target (default:
the last column); the id columns are --features in that order (default: every other column, in file
order). An empty id cell is padding (0), so files whose rows have different lengths read as they are; a
label column empty in every row is a file to predict (no targets).

    token_csv_dataset(path, spec, in_shape, out_shape, task, meta, split, vocabulary) -> Dataset

The rows become the same (N, T) ids + labels a .npz gives, and go through the .npz reader (engine/data.py),
so splits, labels, classes and the "never normalized" rule are the same for both. Every id is checked here
first, with its row and column named.
"""

from __future__ import annotations

import csv
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from .data import DataError

MAX_BYTES = 256 * 2**20  # read whole into memory: a token CSV is one row per sequence, not a long series


def _cell_id(text: str, path: Path, row: int, column: str, vocabulary: int) -> int:
    text = text.strip()
    if not text:
        return 0
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value.is_integer() or value < 0:
        raise DataError(
            f"{path}: row {row}, column '{column}' holds {text!r}, not a token id (a whole number >= 0; "
            f"0 is padding): the token columns hold integer ids only (--target names the label column)"
        )
    if value >= vocabulary:
        raise DataError(
            f"{path}: row {row}, column '{column}' is token id {int(value)}, outside the Embedding's vocabulary "
            f"0..{vocabulary - 1}: raise the Embedding's input_dim to at least {int(value) + 1}"
        )
    return int(value)


def _labels(values: list[str]) -> np.ndarray:
    """Labels as ints when they all are, then floats, else text (the .npz reader maps them to classes)."""
    for kind in (int, float):
        try:
            return np.asarray([kind(v) for v in values])
        except ValueError:
            continue
    return np.asarray(values, dtype=str)


def read_token_csv(path: Path, spec, vocabulary: int, timesteps: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    """(X (N, T) int64 ids, y (N,) labels, None when the label column is empty everywhere: a file to predict)
    of a token CSV; DataError naming the row / column otherwise."""
    if not path.is_file():
        raise DataError(f"{path}: no such file: check the path given to --data")
    if path.stat().st_size > MAX_BYTES:
        raise DataError(f"{path}: {path.stat().st_size / 2**20:.0f} MiB: token CSVs are read whole, up to 256 MiB")
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: cannot read it as a UTF-8 CSV ({e})") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise DataError(f"{path}: no data rows: a token CSV has a header, then one row per sequence")
    header = [h.strip() for h in rows[0]]
    target = spec.target if spec.target is not None else header[-1]
    if target not in header:
        raise DataError(f"{path}: no column '{target}' for the labels (columns: {', '.join(header)}): fix --target")
    columns = list(spec.features) if spec.features else [h for h in header if h != target]
    missing = [c for c in columns if c not in header]
    if missing or not columns:
        raise DataError(
            f"{path}: no token column '{missing[0]}' (columns: {', '.join(header)}): fix --features"
            if missing
            else f"{path}: only the label column '{target}': add one column per token position"
        )
    if timesteps is not None and len(columns) != timesteps:
        raise DataError(
            f"{path}: {len(columns)} token columns but the design's Input takes {timesteps} timesteps: set the "
            f"Input's timesteps to {len(columns)} (or null for variable length)"
        )
    where = [header.index(c) for c in columns]
    label_at = header.index(target)
    X = np.zeros((len(rows) - 1, len(columns)), np.int64)
    labels = []
    for i, row in enumerate(rows[1:]):
        line = i + 2  # 1-based file row, the header being row 1
        if len(row) != len(header):
            raise DataError(
                f"{path}: row {line} has {len(row)} cells but the header has {len(header)}: one cell per column "
                f"(leave padding cells empty or 0)"
            )
        X[i] = [_cell_id(row[j], path, line, header[j], vocabulary) for j in where]
        labels.append(row[label_at].strip())
    if not any(labels):  # a file for predict: the label column left empty
        return X, None
    empty = next((i + 2 for i, label in enumerate(labels) if not label), None)
    if empty is not None:
        raise DataError(f"{path}: row {empty} has no label in column '{target}': fill it in or drop the row")
    return X, _labels(labels)


def token_csv_dataset(path: Path, spec, in_shape, out_shape, task, meta, split, vocabulary: int):
    """A Dataset from a token CSV: read and checked here, then cut like a .npz of the same arrays."""
    from .data import _from_npz

    X, y = read_token_csv(path, spec, vocabulary, in_shape[1])
    classes = None
    if y is not None and y.dtype.kind == "U":  # word labels: the .npz reader takes numbers, so pass class indices
        if task != "classification":
            raise DataError(f"{path}: the labels are words ({y[0]!r}) but the design trains a regression")
        classes = list(meta.classes) if meta is not None and meta.classes else sorted(set(y.tolist()))
        lookup = {c: i for i, c in enumerate(classes)}
        unknown = next((i for i, v in enumerate(y.tolist()) if v not in lookup), None)
        if unknown is not None:
            raise DataError(
                f"{path}: row {unknown + 2}: label {y[unknown]!r} was not among the training classes "
                f"({', '.join(map(str, classes))})"
            )
        y = np.asarray([lookup[v] for v in y.tolist()], np.int64)
        if meta is not None:
            meta = replace(meta, classes=list(range(len(classes))))
    with tempfile.TemporaryDirectory(prefix="rnn-studio-tokens-") as tmp:
        npz = Path(tmp) / "tokens.npz"
        if y is None:
            np.savez(npz, X=X)
        else:
            np.savez(npz, X=X, y=y)
        try:
            dataset = _from_npz(npz, spec, in_shape, out_shape, task, meta, split, tokens=vocabulary)
        except DataError as e:  # name the CSV, not the temporary archive
            raise DataError(str(e).replace(str(npz), str(path))) from None
    if classes is not None:
        dataset.meta.classes = classes
    dataset.source = str(path)
    if dataset.plan is not None:
        dataset.plan.source, dataset.plan.format = str(path), "csv (token ids)"
        dataset.plan.target = spec.target
    return dataset
