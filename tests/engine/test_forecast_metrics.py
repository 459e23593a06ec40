"""Forecast metrics (engine/metrics.py) against hand computations, and the baselines a dataset gives."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnn_studio.engine.data import DataSpec, load_dataset
from rnn_studio.engine.design.project import Project
from rnn_studio.engine.metrics import forecast_metrics, mae, mase, mase_scale, rmse, seasonal_naive, smape


def design(units=1, timesteps=4):
    return Project.from_dict(
        {
            "format": "rnn-studio",
            "version": 1,
            "name": "tiny",
            "blocks": [
                {"id": "x", "type": "Input", "params": {"timesteps": timesteps, "features": 1}},
                {"id": "g", "type": "GRU", "params": {"units": 3}},
                {"id": "y", "type": "Dense", "params": {"units": units}},
            ],
            "links": [["x", "g"], ["g", "y"]],
            "training": {},
        }
    )


def test_rmse_mae_smape_by_hand():
    y = np.array([2.0, 4.0, 0.0, -1.0])
    f = np.array([1.0, 5.0, 0.0, 1.0])
    assert rmse(y, f) == pytest.approx(math.sqrt((1 + 1 + 0 + 4) / 4))
    assert mae(y, f) == pytest.approx((1 + 1 + 0 + 2) / 4)
    # 2|e|/(|y|+|f|): 2/3, 2/9, 0 (0/0 counts 0), 4/2
    assert smape(y, f) == pytest.approx(100 * (2 / 3 + 2 / 9 + 0 + 2) / 4)
    assert rmse([], []) is None and smape([np.nan], [1.0]) is None


def test_mase_scale_and_mase_by_hand():
    y_train = np.array([1.0, 3.0, 2.0, 6.0, 4.0])
    # m = 2: |2-1|, |6-3|, |4-2| -> mean 2
    assert mase_scale(y_train, 2) == pytest.approx(2.0)
    # m = 1: |3-1|, |2-3|, |6-2|, |4-6| -> 9 / 4
    assert mase_scale(y_train, 1) == pytest.approx(9 / 4)
    assert math.isnan(mase_scale(y_train[:2], 2))  # no t = m..R
    y = np.array([[10.0, 12.0], [5.0, 5.0]])
    f = np.array([[11.0, 10.0], [5.0, 8.0]])
    scale = np.array([2.0, 3.0])[:, None]  # one series each
    # |e|/scale: 1/2, 2/2, 0/3, 3/3 -> mean 0.625
    assert mase(y, f, scale) == pytest.approx(0.625)
    assert mase(y, f, np.array([0.0, 3.0])[:, None]) == pytest.approx((0 + 1) / 2)  # scale 0: left out


def test_seasonal_naive_by_hand():
    y = np.arange(20) * 10.0
    # target rows 10, 11, 12 at lead times 1, 2, 3 with m = 2: back 2, 2, 4 rows
    got = seasonal_naive(y, np.array([[10, 11, 12]]), np.array([1, 2, 3]), 2)
    assert got.tolist() == [[80.0, 90.0, 80.0]]
    # m = 1 is persistence: y[r - h], the last value before the forecast
    assert seasonal_naive(y, np.array([[10, 11]]), np.array([1, 2]), 1).tolist() == [[90.0, 90.0]]
    # a value before the series' first row is NaN
    out = seasonal_naive(y, np.array([[5]]), np.array([1]), 7, first_rows=0)
    assert np.isnan(out).all()


def test_forecast_metrics_keys_per_step():
    y = np.array([[1.0, 2.0], [3.0, 4.0]])
    f = y + np.array([[1.0, -1.0], [0.0, 2.0]])
    m = forecast_metrics(
        y,
        f,
        baselines={"persistence": y * 0, "seasonal_naive": y + 1},
        scale=[1.0, 1.0],
        lower=f - 1.5,
        upper=f + 1.5,
        prefix="test_",
    )
    assert m["test_mae"] == pytest.approx(1.0) and m["test_mae_by_step"] == pytest.approx([0.5, 1.5])
    assert m["test_seasonal_naive_mase"] == pytest.approx(1.0) and m["test_persistence_mae"] == pytest.approx(2.5)
    assert m["test_coverage"] == pytest.approx(0.75) and m["test_coverage_by_step"] == pytest.approx([1.0, 0.5])


def test_dataset_baselines_and_scale_per_series(tmp_path):
    """Two series of different lengths: seasonal naive reads each series' own past, MASE scales come from
    each series' training part only."""
    rows = ["shop,day,v"]
    a = [float((i % 3) * 10 + i) for i in range(40)]
    b = [float(100 + (i % 3) * 5 + i * (i % 2)) for i in range(30)]
    rows += [f"a,{i},{v}" for i, v in enumerate(a)] + [f"b,{i},{v}" for i, v in enumerate(b)]
    f = tmp_path / "two.csv"
    f.write_text("\n".join(rows) + "\n")
    ds = load_dataset(DataSpec(path=str(f), series="shop", season=3), design(units=2))
    assert ds.steps == 2 and ds.season == 3
    idx = ds.index["test"].numpy()
    sn = ds.seasonal_naive_orig(idx)
    targets = ds.targets_orig(idx)
    for w, start in enumerate(idx):
        seg = 0 if start < 40 else 1
        series = np.asarray(a if seg == 0 else b)
        r0 = start - (0 if seg == 0 else 40) + 4  # window rows 0..3, first target 4 rows later
        for h in (1, 2):  # lead time h: y[r - 3 * ceil(h / 3)] = y[r - 3]
            r = r0 + h - 1
            assert sn[w, h - 1] == series[r - 3] and targets[w, h - 1] == series[r]
    # scale: |y_t - y_{t-3}| over each series' training rows (round(0.7 n))
    want = [np.mean(np.abs(np.asarray(s)[3:n] - np.asarray(s)[: n - 3])) for s, n in ((a, 28), (b, 21))]
    assert ds.mase_scales() == pytest.approx(want)
    pers = ds.persistence_orig(idx)
    assert (pers[:, 0] == pers[:, 1]).all()  # the last observed value for every step
