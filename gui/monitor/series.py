"""Growable numpy buffers for streaming plots (pyqtgraph's pattern: preallocate, double, slice)."""

from __future__ import annotations

import numpy as np


class Series:
    """x/y float64 buffers that grow by doubling; `view()` returns slices (no copies)."""

    __slots__ = ("x", "y", "n")

    def __init__(self, capacity: int = 1024):
        self.x = np.empty(capacity)
        self.y = np.empty(capacity)
        self.n = 0

    def append(self, x: float, y: float) -> None:
        if self.n == len(self.x):
            self._grow(self.n + 1)
        self.x[self.n] = x
        self.y[self.n] = y
        self.n += 1

    def extend(self, xs, ys) -> None:
        xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
        m = len(xs)
        if self.n + m > len(self.x):
            self._grow(self.n + m)
        self.x[self.n : self.n + m] = xs
        self.y[self.n : self.n + m] = ys
        self.n += m

    def _grow(self, need: int) -> None:
        cap = max(len(self.x) * 2, need)
        for name in ("x", "y"):
            old = getattr(self, name)
            new = np.empty(cap)
            new[: self.n] = old[: self.n]
            setattr(self, name, new)

    def view(self, finite_only: bool = True):
        x, y = self.x[: self.n], self.y[: self.n]
        if finite_only and self.n:
            ok = np.isfinite(y)
            if not ok.all():
                return x[ok], y[ok]
        return x, y

    def clear(self) -> None:
        self.n = 0

    def __len__(self) -> int:
        return self.n
