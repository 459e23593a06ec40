"""Forecast accuracy measures, the same numbers for train (summary.json), evaluate, backtest and the GUI.

Definitions (docs/data.md, "Forecast metrics"); y is the target, ŷ a forecast, both in the target's
own units, one entry per (window, step); entries where y or ŷ is NaN are left out:

* RMSE = sqrt(mean((y - ŷ)²)), MAE = mean(|y - ŷ|)
* sMAPE = 100 · mean(2|y - ŷ| / (|y| + |ŷ|)), a term with y = ŷ = 0 counting 0
* MASE = mean(|y - ŷ| / scale(series)), scale(series) = mean over t = m..R of |y_t - y_{t-m}|, R the
  last row of the series' training part (Hyndman & Koehler 2006); a series whose scale is 0 or
  undefined (fewer than m + 1 training rows) is left out of MASE
* seasonal naive: ŷ(r, h) = y[r - m·ceil(h/m)] for target row r at lead time h (rows after the last
  input row); m = 1 is persistence. A value before the series' first row is NaN (left out).
* coverage = share of targets inside [lower, upper]

Pure numpy: no torch, no Qt.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = [
    "BASELINES",
    "coverage",
    "forecast_metrics",
    "mae",
    "mase",
    "mase_scale",
    "rmse",
    "seasonal_naive",
    "smape",
]

BASELINES = ("persistence", "seasonal_naive")


def _pair(y, yhat) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(y, dtype=np.float64)
    b = np.asarray(yhat, dtype=np.float64)
    a, b = np.broadcast_arrays(a, b)
    ok = np.isfinite(a) & np.isfinite(b)
    return a[ok], b[ok]


def rmse(y, yhat) -> float | None:
    """Root mean squared error (None when no finite pair)."""
    a, b = _pair(y, yhat)
    return float(np.sqrt(np.mean((a - b) ** 2))) if a.size else None


def mae(y, yhat) -> float | None:
    """Mean absolute error (None when no finite pair)."""
    a, b = _pair(y, yhat)
    return float(np.mean(np.abs(a - b))) if a.size else None


def smape(y, yhat) -> float | None:
    """100 · mean(2|y - ŷ| / (|y| + |ŷ|)), in percent (0..200); 0/0 counts 0."""
    a, b = _pair(y, yhat)
    if not a.size:
        return None
    den = np.abs(a) + np.abs(b)
    terms = np.divide(2.0 * np.abs(a - b), den, out=np.zeros_like(den), where=den > 0)
    return float(100.0 * np.mean(terms))


def mase(y, yhat, scale) -> float | None:
    """mean(|y - ŷ| / scale); `scale` broadcasts against y (one value per window: shape (N, 1)).
    Entries whose scale is 0 or NaN are left out."""
    a = np.asarray(y, dtype=np.float64)
    b = np.asarray(yhat, dtype=np.float64)
    s = np.asarray(scale, dtype=np.float64)
    a, b, s = np.broadcast_arrays(a, b, s)
    ok = np.isfinite(a) & np.isfinite(b) & np.isfinite(s) & (s > 0)
    if not ok.any():
        return None
    return float(np.mean(np.abs(a[ok] - b[ok]) / s[ok]))


def mase_scale(y_train, m: int) -> float:
    """mean over t = m..R of |y_t - y_{t-m}| over one series' training values y_train (y_0..y_R);
    NaN when the series has no more than m training values."""
    y = np.asarray(y_train, dtype=np.float64)
    m = int(m)
    if m < 1 or y.size <= m:
        return float("nan")
    d = np.abs(y[m:] - y[:-m])
    d = d[np.isfinite(d)]
    return float(d.mean()) if d.size else float("nan")


def seasonal_naive(y, target_rows, lead, m: int, first_rows=0) -> np.ndarray:
    """Seasonal-naive forecasts y[r - m·ceil(h/m)] for target rows `target_rows` (int array, any shape)
    at lead times `lead` (broadcast against it: one per step); NaN where that row lies before
    `first_rows` (the first row of each target's series, broadcast likewise). `y` is indexable by an
    int array (a numpy array, or a memory-mapped column)."""
    rows = np.asarray(target_rows, dtype=np.int64)
    h = np.asarray(lead, dtype=np.int64)
    back = int(m) * -(-h // int(m))  # m * ceil(h / m)
    src = rows - back
    ok = src >= np.asarray(first_rows, dtype=np.int64)
    out = np.full(src.shape, np.nan)
    if ok.any():
        out[ok] = np.asarray(y[src[ok]], dtype=np.float64)
    return out


def coverage(y, lower, upper) -> float | None:
    """Share of finite targets with lower <= y <= upper."""
    a = np.asarray(y, dtype=np.float64)
    lo, hi = np.broadcast_arrays(np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64))
    ok = np.isfinite(a) & np.isfinite(lo) & np.isfinite(hi)
    if not ok.any():
        return None
    inside = (lo[ok] <= a[ok]) & (a[ok] <= hi[ok])
    return float(np.mean(inside))


def _four(y, yhat, scale) -> dict[str, float | None]:
    return {
        "rmse": rmse(y, yhat),
        "mae": mae(y, yhat),
        "mase": mase(y, yhat, scale) if scale is not None else None,
        "smape": smape(y, yhat),
    }


def forecast_metrics(
    y,
    pred,
    *,
    baselines: Mapping[str, Any] | None = None,
    scale=None,
    lower=None,
    upper=None,
    prefix: str = "",
    by_step: bool = True,
) -> dict[str, Any]:
    """The metrics of one split: y and pred shaped (N, H) (one column per forecast step), baselines
    {"persistence": (N, H), "seasonal_naive": (N, H)} (None values left out), scale (N,) or (N, 1) the
    MASE scale of each window's series (None: no MASE), lower/upper (N, H) an interval (coverage).

    Keys (prefix "test_" shown): test_rmse, test_mae, test_mase, test_smape; for each baseline b
    test_{b}_rmse .. test_{b}_smape; test_coverage; with by_step the same names + "_by_step" holding a
    list with one value per step. A value that cannot be computed is None (MASE without a scale).
    """
    y = np.asarray(y, dtype=np.float64)
    y = y.reshape(len(y), -1)
    s = None if scale is None else np.asarray(scale, dtype=np.float64).reshape(len(y), 1)
    forecasts: dict[str, np.ndarray] = {"": np.asarray(pred, dtype=np.float64).reshape(y.shape)}
    for name, values in (baselines or {}).items():
        if values is not None:
            forecasts[f"{name}_"] = np.asarray(values, dtype=np.float64).reshape(y.shape)
    out: dict[str, Any] = {}
    for name, f in forecasts.items():
        for key, value in _four(y, f, s).items():
            out[f"{prefix}{name}{key}"] = value
        if by_step:
            steps = [_four(y[:, h], f[:, h], None if s is None else s[:, 0]) for h in range(y.shape[1])]
            for key in ("rmse", "mae", "mase", "smape"):
                out[f"{prefix}{name}{key}_by_step"] = [st[key] for st in steps]
    if lower is not None and upper is not None:
        lo = np.asarray(lower, dtype=np.float64).reshape(y.shape)
        hi = np.asarray(upper, dtype=np.float64).reshape(y.shape)
        out[f"{prefix}coverage"] = coverage(y, lo, hi)
        if by_step:
            out[f"{prefix}coverage_by_step"] = [coverage(y[:, h], lo[:, h], hi[:, h]) for h in range(y.shape[1])]
    return out


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
