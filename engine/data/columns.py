"""One column of numbers, chunk by chunk: the checks every step of the data line applies to what users
give (NaN, inf, beyond float32, not numbers), and releasing a memory-mapped column's pages after a pass.

A helper of the line (engine/data/__init__.py): it imports nothing of ours, so any step may call it.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import numpy as np


class DataError(ValueError):
    """Unusable data: one line naming the file, column and row, and how to fix it (CLI exit code 2)."""


FLOAT32_MAX = float(np.finfo(np.float32).max)


def release_pages(arr: np.ndarray) -> None:
    """Tell the kernel the pages of a memory-mapped array read so far are not needed any more, so a
    pass over a file larger than memory does not stay resident (no-op for ordinary arrays)."""
    import mmap

    base: Any = arr  # walks down the .base chain: arrays, then the mmap (or None)
    while base is not None and not isinstance(base, mmap.mmap):
        base = getattr(base, "base", None) if not isinstance(base, np.memmap) else getattr(base, "_mmap", None)
    if base is not None and hasattr(base, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
        with contextlib.suppress(OSError, ValueError):
            base.madvise(mmap.MADV_DONTNEED)


def check_finite_range(arr: np.ndarray, where, chunk: int = 1 << 17) -> None:
    """Infinite values and values beyond float32 (the training precision) are errors at their row."""
    for lo in range(0, len(arr), chunk):
        part = np.abs(arr[lo : lo + chunk])
        release_pages(arr)
        with np.errstate(invalid="ignore"):
            big = part > FLOAT32_MAX
        if big.any():
            r = lo + int(np.argmax(big))
            what = "an infinite value" if np.isinf(part[r - lo]) else f"{arr[r]:.4g}, beyond float32's range (3.4e38)"
            raise DataError(f"{where(r)}: {what}: fix the value or delete the row")


def check_array(src, name: str, arr: np.ndarray) -> None:
    """Arrays from users: numbers (no complex / object / text), not empty; the index of the first bad value."""
    if arr.size == 0:
        raise DataError(f"{src}: array '{name}' is empty (shape {arr.shape}): save at least one sample")
    if np.iscomplexobj(arr):
        imag = np.nonzero(np.imag(arr))
        at = tuple(int(i[0]) for i in imag) if imag[0].size else (0,) * arr.ndim
        raise DataError(
            f"{src}: array '{name}' holds complex numbers (first at index {list(at)}): save the real "
            f"part (numpy.real) or split real and imaginary parts into two features"
        )
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise DataError(f"{src}: array '{name}' holds {arr.dtype} values, not numbers: save a float array")


def check_array_range(src, name: str, arr: np.ndarray) -> None:
    """NaN, inf and values beyond float32 in a numeric array: an error naming the index."""
    if not np.issubdtype(arr.dtype, np.floating) and not np.issubdtype(arr.dtype, np.integer):
        return
    flat = arr.reshape(-1)
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(flat.astype(np.float64)) <= FLOAT32_MAX)
    if bad.any():
        at = [int(i) for i in np.unravel_index(int(np.argmax(bad)), arr.shape)]
        v = float(flat[int(np.argmax(bad))])
        what = "NaN" if math.isnan(v) else "infinite" if np.isinf(v) else f"{v:.4g}, beyond float32's range (3.4e38)"
        raise DataError(f"{src}: {name}[{', '.join(map(str, at))}] is {what}: fill in, fix or drop that sample")
