"""Prediction intervals: split-conformal half-widths per forecast step, stored with a run.

Training fits them on the validation residuals (target - prediction, in the target's own units) of the
best checkpoint; `predict`, `forecast` and the ONNX export read them back. The run-folder file:

    <run>/intervals.json
    {"method": "split-conformal", "level": 0.9, "steps": H, "targets": ["load"],
     "half_width": [[w_target for each target] for each step 1..H],   # target units (de-normalised)
     "calibration_windows": N,
     "abs_residuals": [[[sorted |residual| ...] for each target] for each step]}   # optional

`abs_residuals` (optional; at most MAX_KEPT order statistics per step and target, evenly spaced when
there were more) lets `Intervals.at_level` give the intervals at another level without the run.

Split conformal (Vovk et al.; Lei et al. 2018): with n calibration residuals r_i of one step and one
target, the half-width is the ceil((n + 1) * level)-th smallest |r_i| (the ceil((n+1)·level)/n
empirical quantile); [prediction - w, prediction + w] then covers a new value with probability at least
`level` when the residuals are exchangeable. When ceil((n + 1) * level) > n the quantile is the largest
residual (too few calibration windows for the level asked; `fit_intervals` still returns a width and
`few_windows_warning` says so).

Pure numpy; no torch, no Qt.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.tables import DataError
from ..design.project import atomic_write_text

__all__ = [
    "INTERVALS_FILE",
    "METHOD",
    "Intervals",
    "check_level",
    "coverage_warning",
    "fit_intervals",
    "few_windows_warning",
    "load_intervals",
    "save_intervals",
]

INTERVALS_FILE = "intervals.json"
METHOD = "split-conformal"
MAX_KEPT = 1000  # sorted |residuals| kept per step and target for at_level


def check_level(level: Any, flag: str = "--level") -> float:
    """The coverage level as a float strictly between 0 and 1; DataError (one line) otherwise."""
    try:
        value = float(level)
    except (TypeError, ValueError):
        raise DataError(f"{flag} must be a number between 0 and 1 such as 0.9, received {level!r}") from None
    if not math.isfinite(value) or not 0.0 < value < 1.0:
        raise DataError(f"{flag} must be between 0 and 1 (exclusive) such as 0.9, received {level!r}")
    return value


@dataclass(frozen=True)
class Intervals:
    """Half-widths of the `level` prediction interval per forecast step and target (target units)."""

    method: str
    level: float
    steps: int
    targets: tuple[str, ...]
    half_width: np.ndarray  # (steps, n_targets)
    calibration_windows: int
    abs_residuals: np.ndarray | None = None  # (steps, n_targets, kept) sorted; None: only `level` is known

    def at_level(self, level: float, flag: str = "--level") -> Intervals:
        """The same calibration at another level (split conformal on the kept residuals); DataError when
        the run kept no residuals and the level differs from the one fitted."""
        level = check_level(level, flag)
        if abs(level - self.level) < 1e-12:
            return self
        if self.abs_residuals is None:
            raise DataError(
                f"the run's intervals were fitted at {self.level:g} only (no residuals kept): use {flag} "
                f"{self.level:g}, or train again with --level {level:g}"
            )
        kept = self.abs_residuals.shape[2]
        n = max(self.calibration_windows, kept)
        rank = min(math.ceil((n + 1) * level), n)  # 1-based rank among the n residuals
        pos = min(kept - 1, max(0, math.ceil(rank * kept / n) - 1))
        width = self.abs_residuals[:, :, pos]
        return Intervals(
            self.method, level, self.steps, self.targets, width, self.calibration_windows, self.abs_residuals
        )

    def bounds(self, pred) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) for predictions shaped (N, H) (one target) or (N, H, n_targets), in target
        units; H must equal `steps` (a one-step run also takes (N,) or (N, 1))."""
        p = np.asarray(pred, dtype=np.float64)
        w = self.half_width
        k = w.shape[1]
        if p.ndim == 1 and self.steps == 1 and k == 1:
            width = w[0, 0]
        elif p.ndim == 2 and p.shape[1] == self.steps and k == 1:
            width = w[:, 0][None, :]
        elif p.ndim == 2 and self.steps == 1 and p.shape[1] == k:
            width = w[0][None, :]
        elif p.ndim == 3 and p.shape[1:] == w.shape:
            width = w[None]
        else:
            raise DataError(
                f"predictions shaped {p.shape} do not match intervals for {self.steps} step(s) and {k} "
                f"target(s): the run's intervals.json belongs to another design"
            )
        return p - width, p + width

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "level": self.level,
            "steps": self.steps,
            "targets": list(self.targets),
            "half_width": [[float(v) for v in row] for row in self.half_width],
            "calibration_windows": self.calibration_windows,
            **({"abs_residuals": np.round(self.abs_residuals, 9).tolist()} if self.abs_residuals is not None else {}),
        }

    @classmethod
    def from_dict(cls, d: Any, where: str = INTERVALS_FILE) -> Intervals:
        """From the JSON form; DataError naming `where` and the bad key when it is malformed."""
        if not isinstance(d, dict):
            raise DataError(f"{where}: not a JSON object: delete it and train again to refit the intervals")
        try:
            level = check_level(d["level"], "level")
            steps = int(d["steps"])
            targets = tuple(str(t) for t in d["targets"])
            width = np.asarray(d["half_width"], dtype=np.float64)
            n = int(d.get("calibration_windows", 0))
        except (KeyError, TypeError, ValueError, DataError) as e:
            key = e.args[0] if isinstance(e, KeyError) else str(e)
            raise DataError(f"{where}: malformed intervals ({key}): delete it and train again to refit them") from None
        if steps < 1 or width.shape != (steps, max(len(targets), 1)) or not np.all(np.isfinite(width)):
            raise DataError(
                f"{where}: half_width must be {steps} step(s) x {len(targets)} target(s) of finite numbers: "
                f"delete it and train again to refit the intervals"
            )
        kept = None
        if d.get("abs_residuals") is not None:
            try:
                kept = np.asarray(d["abs_residuals"], dtype=np.float64)
            except (TypeError, ValueError):
                kept = None
            if kept is None or kept.ndim != 3 or kept.shape[:2] != width.shape or not kept.shape[2]:
                raise DataError(
                    f"{where}: abs_residuals must be steps x targets x residuals: delete it and train again"
                )
        return cls(str(d.get("method", METHOD)), level, steps, targets, width, n, kept)


def fit_intervals(residuals, level: float, targets: list[str] | tuple[str, ...] | None = None) -> Intervals:
    """Split-conformal half-widths from calibration residuals shaped (N, H) (one target) or (N, H, k):
    per step and target, the ceil((N + 1) * level)-th smallest |residual| (the largest when that rank
    exceeds N). NaN residuals (a step without a target) are left out of their step's count."""
    level = check_level(level)
    r = np.abs(np.asarray(residuals, dtype=np.float64))
    if r.ndim == 1:
        r = r[:, None]
    if r.ndim == 2:
        r = r[:, :, None]
    if r.ndim != 3 or r.shape[0] == 0:
        raise DataError(f"no calibration residuals to fit {level:g} intervals on: the validation split is empty")
    _, steps, k = r.shape
    width = np.empty((steps, k))
    counts = []
    kept = np.full((steps, k, min(MAX_KEPT, r.shape[0])), np.nan)
    for h in range(steps):
        for j in range(k):
            col = np.sort(r[:, h, j][np.isfinite(r[:, h, j])])
            n = col.size
            counts.append(n)
            if n == 0:
                width[h, j] = np.nan
                continue
            rank = math.ceil((n + 1) * level)  # 1-based
            width[h, j] = col[min(rank, n) - 1]
            # evenly spaced order statistics (all of them when few), padded with the largest
            picks = col[np.minimum(np.ceil(np.arange(1, kept.shape[2] + 1) * n / kept.shape[2]).astype(int), n) - 1]
            kept[h, j] = picks
    if not np.all(np.isfinite(width)):
        raise DataError("a forecast step has no calibration residual: the validation split is too short")
    names = tuple(targets) if targets is not None else tuple(f"target{j}" for j in range(k)) if k > 1 else ("y",)
    return Intervals(METHOD, level, steps, names, width, int(min(counts)), kept)


def few_windows_warning(iv: Intervals) -> str | None:
    """A line when there are too few calibration windows for the level (the width is then the largest
    residual, and the promised coverage cannot be guaranteed)."""
    n = iv.calibration_windows
    if math.ceil((n + 1) * iv.level) <= n:
        return None
    need = math.ceil(iv.level / (1 - iv.level))
    return (
        f"{iv.level:g} intervals from only {n} validation window(s) (at least {need} are needed): the "
        f"half-width is the largest residual; give the validation split more rows"
    )


def save_intervals(run_dir: str | Path, iv: Intervals) -> Path:
    path = Path(run_dir) / INTERVALS_FILE
    atomic_write_text(path, json.dumps(iv.to_dict(), indent=2) + "\n")
    return path


def load_intervals(run_dir: str | Path) -> Intervals | None:
    """The run's intervals, or None when it has none (a run trained before intervals, a classifier);
    DataError (one line) when the file is there but malformed."""
    path = Path(run_dir) / INTERVALS_FILE
    if not path.is_file():
        return None
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(
            f"{path}: unreadable ({type(e).__name__}): delete it and train again to refit the intervals"
        ) from None
    return Intervals.from_dict(d, str(path))


def coverage_warning(metrics: dict[str, Any], prefix: str = "test_") -> str | None:
    """A line when the empirical coverage (`{prefix}coverage`) is far from the level asked
    (`interval_level`): outside level ± max(0.05, 3 binomial standard errors of the windows counted)."""
    cov, level = metrics.get(f"{prefix}coverage"), metrics.get("interval_level")
    if not isinstance(cov, (int, float)) or not isinstance(level, (int, float)):
        return None
    n = metrics.get(f"{prefix}windows") or metrics.get("samples") or 0
    n = n if isinstance(n, int) else 0
    tol = max(0.05, 3 * math.sqrt(level * (1 - level) / n)) if n else 0.05
    if abs(cov - level) <= tol:
        return None
    how = "less" if cov < level else "more"
    why = (
        "the test period behaves differently from the validation period (drift), or the validation split is short"
        if cov < level
        else "the validation period was harder than the test period"
    )
    return (
        f"the {level:g} prediction intervals cover {cov:.3f} of the {prefix.rstrip('_') or 'evaluated'} "
        f"targets, far {how} than asked: {why}"
    )
