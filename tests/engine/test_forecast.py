"""`rnn-studio forecast` / engine.forecasting.forecast: dated steps past the data, direct and recursive steps, known
future covariates, intervals, and bad input (exit 2, one line)."""

from __future__ import annotations

import csv
import json
import math
import shutil

import numpy as np
import pytest
import torch

from rnn_studio.cli import main
from rnn_studio.engine import Project
from rnn_studio.engine.data import DataSpec
from rnn_studio.engine.forecasting.forecast import forecast_run
from rnn_studio.engine.training.intervals import Intervals, save_intervals
from rnn_studio.engine.training.runs import load_run
from rnn_studio.engine.training.train import train


def design(timesteps=4, features=1, units=1, name="tiny"):
    return Project.from_dict(
        {
            "format": "rnn-studio",
            "version": 1,
            "name": name,
            "blocks": [
                {"id": "x", "type": "Input", "params": {"timesteps": timesteps, "features": features}},
                {"id": "g", "type": "GRU", "params": {"units": 4}},
                {"id": "y", "type": "Dense", "params": {"units": units}},
            ],
            "links": [["x", "g"], ["g", "y"]],
            "training": {"epochs": 1, "batch_size": 16, "lr": 0.01, "seed": 0},
        }
    )


def write(path, header: str, rows) -> str:
    path.write_text(header + "\n" + "".join(",".join(str(c) for c in r) + "\n" for r in rows))
    return str(path)


def two_shops(path, times_a, times_b, with_date=True) -> str:
    rows = []
    for shop, times in (("a", times_a), ("b", times_b)):
        for i, t in enumerate(times):
            rows.append([shop, t, f"{10 + math.sin(i / 2) + 0.05 * i:.3f}"] if with_date else [shop, f"{i:.1f}"])
    return write(path, "shop,date,sales" if with_date else "shop,sales", rows)


def cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def read_csv_rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


@pytest.fixture(scope="module")
def ar_run(tmp_path_factory):
    """A one-step autoregressive run (lookback 4) on two shops without a time column."""
    tmp = tmp_path_factory.mktemp("ar")
    f = two_shops(tmp / "train.csv", range(40), range(30), with_date=False)
    s = train(design(), DataSpec(path=f, series="shop", time="none"), {"epochs": 1}, out_dir=tmp / "runs")
    return s["run"]


@pytest.fixture(scope="module")
def multi_run(tmp_path_factory):
    """A direct 3-step run (Dense 3 units), autoregressive, lookback 4."""
    tmp = tmp_path_factory.mktemp("multi")
    f = two_shops(tmp / "train.csv", range(40), range(30), with_date=False)
    s = train(design(units=3), DataSpec(path=f, series="shop", time="none"), {"epochs": 1}, out_dir=tmp / "runs")
    return s["run"]


@pytest.fixture
def bare_run(ar_run, tmp_path):
    """A copy of ar_run without intervals.json (a run trained before intervals)."""
    run = tmp_path / "bare-run"
    shutil.copytree(ar_run, run)
    (run / "intervals.json").unlink()
    return str(run)


# ------------------------------------------------------------------ dates continue each series' own time column
def _days(start: str, n: int, unit: str = "D", step: int = 1) -> list[str]:
    t = np.datetime64(start, unit) + np.arange(n) * step
    return [str(v).replace("T", " ") for v in t]


def _month_ends(start: str, n: int, step: int = 1) -> list[str]:
    m = np.datetime64(start, "M") + np.arange(n) * step
    return [str((v + 1).astype("datetime64[D]") - 1) for v in m]


def _month_starts(start: str, n: int, step: int = 1) -> list[str]:
    m = np.datetime64(start, "M") + np.arange(n) * step
    return [str(v.astype("datetime64[D]")) for v in m]


CASES = {
    "daily": (
        _days("2024-02-20", 12),
        _days("2024-01-01", 9),
        ["2024-03-03", "2024-03-04"],
        ["2024-01-10", "2024-01-11"],
    ),
    "weekly": (
        _days("2024-10-07", 12, step=7),
        _days("2023-01-02", 9, step=7),
        ["2024-12-30", "2025-01-06"],
        ["2023-03-06", "2023-03-13"],
    ),
    "month-start": (
        _month_starts("2023-06", 12),
        _month_starts("2020-01", 9),
        ["2024-06-01", "2024-07-01"],
        ["2020-10-01", "2020-11-01"],
    ),
    "month-end": (
        _month_ends("2023-05", 12),
        _month_ends("2021-06", 9),
        ["2024-05-31", "2024-06-30"],
        ["2022-03-31", "2022-04-30"],
    ),
    "quarterly": (
        _month_starts("2021-01", 12, 3),
        _month_ends("2020-03", 9, 3),
        ["2024-01-01", "2024-04-01"],
        ["2022-06-30", "2022-09-30"],
    ),
    "yearly": (
        _month_starts("2010-01", 12, 12),
        _month_ends("2000-12", 9, 12),
        ["2022-01-01", "2023-01-01"],
        ["2009-12-31", "2010-12-31"],
    ),
    "hourly": (
        _days("2024-03-31T14", 12, unit="h"),
        _days("2024-01-01T00", 9, unit="h"),
        ["2024-04-01 02:00:00", "2024-04-01 03:00:00"],
        ["2024-01-01 09:00:00", "2024-01-01 10:00:00"],
    ),
    "integer": (list(range(1990, 2014, 2)), list(range(7, 16)), ["2014", "2016"], ["16", "17"]),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_times_continue_each_series_at_its_frequency(ar_run, tmp_path, capsys, kind):
    times_a, times_b, next_a, next_b = CASES[kind]
    f = two_shops(tmp_path / f"{kind}.csv", times_a, times_b)
    out = tmp_path / "f.csv"
    rc, stdout, _ = cli(capsys, "forecast", ar_run, "--data", f, "--time", "date", "-o", out, "--steps", "2")
    assert rc == 0, stdout
    rows = read_csv_rows(out)
    assert rows[0] == ["shop", "date", "step", "prediction", "lower", "upper"]
    assert [r[:3] for r in rows[1:]] == [
        ["a", next_a[0], "1"],
        ["a", next_a[1], "2"],
        ["b", next_b[0], "1"],
        ["b", next_b[1], "2"],
    ]
    assert all(float(r[4]) < float(r[3]) < float(r[5]) for r in rows[1:])  # the run's conformal intervals


def test_dates_are_written_in_the_files_format(ar_run, tmp_path):
    times = [str(v) for v in _month_ends("2023-01", 12)]
    written = [f"{t[8:10]}/{t[5:7]}/{t[:4]}" for t in times]  # 31/01/2023
    f = two_shops(tmp_path / "dmy.csv", written, written[:9])
    fc = forecast_run(ar_run, DataSpec(path=f, time="date"), steps=2)
    assert [sf.times for sf in fc.series] == [["31/01/2024", "29/02/2024"], ["31/10/2023", "30/11/2023"]]
    assert fc.series[0].history_times[-1] == "31/12/2023" and fc.frequency.name == "month-end"


def test_without_a_time_column_the_row_number_continues(bare_run, tmp_path, capsys):
    f = write(tmp_path / "one.csv", "sales", [[f"{10 + math.sin(i):.3f}"] for i in range(20)])
    out = tmp_path / "f.csv"
    rc, _, err = cli(capsys, "forecast", bare_run, "--data", f, "-o", out, "--steps", "3")
    assert rc == 0
    rows = read_csv_rows(out)
    assert rows[0] == ["row", "step", "prediction", "lower", "upper"]
    assert [r[:2] for r in rows[1:]] == [["21", "1"], ["22", "2"], ["23", "3"]]
    assert all(r[2] != "" and r[3] == r[4] == "" for r in rows[1:])  # a run without intervals: empty bounds
    assert "no prediction intervals" in err


# ------------------------------------------------------------------ direct and recursive steps, by hand
def _model_step(run, window: np.ndarray) -> np.ndarray:
    """The run's model on one window of target values: its outputs in target units."""
    _, model, meta = load_run(run)
    x = (window - meta.x_mean[0]) / meta.x_std[0]
    with torch.no_grad():
        out = model(torch.tensor(x, dtype=torch.float32).reshape(1, -1, 1)).reshape(-1).double().numpy()
    return out * meta.y_std + meta.y_mean


def test_one_step_design_forecasts_recursively_feeding_back_its_predictions(ar_run, tmp_path):
    values = [10 + math.sin(i / 2) for i in range(20)]
    f = write(tmp_path / "one.csv", "sales", [[f"{v:.4f}"] for v in values])
    fc = forecast_run(ar_run, DataSpec(path=f), steps=3)
    assert fc.methods == ["direct", "recursive", "recursive"]
    hist = [float(f"{v:.4f}") for v in values]
    expected = []
    for _ in range(3):
        expected.append(_model_step(ar_run, np.asarray(hist[-4:]))[0])
        hist.append(expected[-1])
    np.testing.assert_allclose(fc.series[0].prediction, expected, rtol=1e-5)
    np.testing.assert_allclose(fc.series[0].history_values[-4:], [float(f"{v:.4f}") for v in values[-4:]])


def test_multi_step_design_gives_its_outputs_directly_then_blocks_recursively(multi_run, tmp_path):
    values = [10 + math.sin(i / 2) for i in range(20)]
    f = write(tmp_path / "one.csv", "sales", [[f"{v:.4f}"] for v in values])
    fc = forecast_run(multi_run, DataSpec(path=f))
    assert fc.steps == 3 and fc.methods == ["direct"] * 3  # --steps defaults to the design's steps
    hist = [float(f"{v:.4f}") for v in values]
    first = _model_step(multi_run, np.asarray(hist[-4:]))
    np.testing.assert_allclose(fc.series[0].prediction, first, rtol=1e-5)
    fc6 = forecast_run(multi_run, DataSpec(path=f), steps=6)
    assert fc6.methods == ["direct"] * 3 + ["recursive"] * 3
    second = _model_step(multi_run, np.asarray(hist[-1:] + list(first)))  # window ends at step 3
    np.testing.assert_allclose(fc6.series[0].prediction, list(first) + list(second), rtol=1e-5)


def test_intervals_are_the_runs_half_widths_widened_for_recursive_steps(multi_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(multi_run, run)
    save_intervals(run, Intervals("split-conformal", 0.9, 3, ("sales",), np.array([[1.0], [2.0], [3.0]]), 50))
    f = write(tmp_path / "one.csv", "sales", [[f"{10 + math.sin(i):.3f}"] for i in range(20)])
    fc = forecast_run(run, DataSpec(path=f), steps=6, level=0.9)
    sf = fc.series[0]
    width = np.array([1, 2, 3, 1 * math.sqrt(2), 2 * math.sqrt(2), 3 * math.sqrt(2)])
    np.testing.assert_allclose(sf.upper - sf.prediction, width)
    np.testing.assert_allclose(sf.prediction - sf.lower, width)
    assert fc.level == 0.9 and any("widened" in n for n in fc.notes)
    out = tmp_path / "f.csv"
    rc, _, err = cli(capsys, "forecast", run, "--data", f, "-o", out, "--level", "0.8")  # no residuals kept
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "fitted at 0.9 only" in err


def test_other_levels_come_from_the_residuals_the_run_kept(multi_run, tmp_path):
    f = write(tmp_path / "one.csv", "sales", [[f"{10 + math.sin(i):.3f}"] for i in range(20)])
    wide = forecast_run(multi_run, DataSpec(path=f))
    narrow = forecast_run(multi_run, DataSpec(path=f), level=0.5)
    assert wide.level == 0.9 and narrow.level == 0.5
    np.testing.assert_allclose(wide.series[0].prediction, narrow.series[0].prediction)
    w90 = wide.series[0].upper - wide.series[0].prediction
    w50 = narrow.series[0].upper - narrow.series[0].prediction
    assert np.all(w50 > 0) and np.all(w50 <= w90) and np.any(w50 < w90)


# ------------------------------------------------------------------ known future covariates
@pytest.fixture(scope="module")
def covariate_run(tmp_path_factory):
    """Features temp and load (the target), horizon 1: step 2 reads temp of the first future row."""
    tmp = tmp_path_factory.mktemp("cov")
    rng = np.random.default_rng(0)
    temp = rng.normal(0, 1, 80)
    load = np.r_[0, 2 * temp[:-1]] + rng.normal(0, 0.1, 80)
    f = write(
        tmp / "train.csv",
        "day,temp,load",
        [[i, f"{a:.3f}", f"{b:.3f}"] for i, (a, b) in enumerate(zip(temp, load, strict=True))],
    )
    s = train(
        design(features=2),
        DataSpec(path=f, features=["temp", "load"], target="load"),
        {"epochs": 2},
        out_dir=tmp / "runs",
    )
    return s["run"]


def test_future_rows_with_an_empty_target_give_known_covariates(covariate_run, tmp_path, capsys):
    rows = [[i, f"{math.sin(i):.3f}", f"{2 * math.sin(i - 1):.3f}"] for i in range(30)]
    preds = []
    for future_temp in (-3.0, 3.0):
        f = write(tmp_path / "cov.csv", "day,temp,load", rows + [[30, future_temp, ""], [31, 0.5, ""]])
        fc = forecast_run(covariate_run, DataSpec(path=f), steps=3)
        assert fc.methods == ["direct", "recursive", "recursive"]
        assert fc.series[0].times == [30, 31, 32]  # the forecast starts at the first empty target
        preds.append(fc.series[0].prediction)
    assert preds[0][0] == preds[1][0]  # step 1: from the last observed window only
    assert abs(preds[0][1] - preds[1][1]) > 1e-6  # step 2 reads the future row's temp
    rc, out, err = cli(capsys, "data", f, "--design", covariate_run + "/project.rnn.json", "--features", "temp,load")
    assert rc == 0 and "future: 2 row(s) after the last target" in out
    # a third step needs temp for a row nobody gave: refused in one line naming the column
    rc, _, err = cli(capsys, "forecast", covariate_run, "--data", f, "-o", tmp_path / "o.csv", "--steps", "4")
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "forecast step 4 needs 'temp' for rows after the last target" in err and "or use --steps 3 or fewer" in err


# ------------------------------------------------------------------ bad input: exit 2, one line
def test_bad_input_exits_2_with_one_line(ar_run, bare_run, tmp_path, capsys):
    good = two_shops(tmp_path / "ok.csv", _days("2024-01-01", 12), _days("2024-01-01", 9))
    gap = _days("2024-01-01", 12)
    del gap[6]
    irregular = two_shops(tmp_path / "gap.csv", gap, _days("2024-01-01", 9))
    out = tmp_path / "f.csv"
    cases = [
        (["--data", good, "--steps", "0"], "--steps must be 1 or more, received 0"),
        (
            ["--data", irregular, "--time", "date"],
            "column 'date' is not evenly spaced: row 7 (2024-01-08) follows row 6 (2024-01-06), but the daily "
            "step expects 2024-01-07",
        ),
        (["--data", good, "--time", "dat"], "no time column 'dat' in the header: did you mean 'date'?"),
        (["--data", good, "--series", "shp"], "no series column 'shp' in the header"),
        ([bare_run, "--data", good, "--level", "0.9"], "the run has no prediction intervals"),
        (["--data", good, "--level", "1.5"], "--level must be between 0 and 1"),
        (["--data", tmp_path / "nope.csv"], "no such file"),
    ]
    for args, expected in cases:
        run = [] if args[0] == bare_run else [ar_run]
        rc, _, err = cli(capsys, "forecast", *run, "-o", out, *args)
        assert rc == 2, (args, err)
        assert len(err.strip().splitlines()) == 1 and expected in err, (args, err)
    assert not out.exists()


def test_forecast_rows_and_json_friendly_fields(ar_run, tmp_path):
    f = two_shops(tmp_path / "d.csv", _days("2024-01-01", 12), _days("2024-01-01", 9))
    fc = forecast_run(ar_run, DataSpec(path=f, time="date"), steps=4)
    assert fc.columns() == ["shop", "date", "step", "prediction", "lower", "upper"]
    assert len(fc.rows()) == 8 and fc.rows()[0][:3] == ["a", "2024-01-13", 1]
    sf = fc.series[1]
    assert sf.series == "b" and list(sf.steps) == [1, 2, 3, 4] and len(sf.history_values) == len(sf.history_times) == 9
    assert sf.x[0] - sf.history_x[-1] == 86400  # chart axis: seconds since 1970
    json.dumps({"times": sf.times, "history": sf.history_times})


# ------------------------------------------------------------------ the plan: trailing empty targets are the future
def test_trailing_empty_targets_are_the_future_not_missing_values(tmp_path):
    from rnn_studio.engine.data import load_dataset, plan_data

    rows = [["a", i, f"{i * 0.1:.1f}"] for i in range(20)] + [["a", 20, ""], ["a", 21, ""]]
    rows += [["b", i, f"{i * 0.2:.1f}"] for i in range(15)] + [["b", 15, ""]]
    f = write(tmp_path / "f.csv", "shop,t,v", rows)
    spec = DataSpec(path=f, series="shop")
    plan = plan_data(spec, design())
    assert plan.ok and plan.future_rows == 3 and plan.missing["cells"] == 0
    assert any(line.startswith("future: 3 row(s) after the last target") for line in plan.describe())
    data = load_dataset(spec, design(), split=False)
    assert data.size("all") == (20 - 4) + (15 - 4)  # windows over the rows with a target only
    middle = [["a", i, "" if i == 5 else f"{i * 0.1:.1f}"] for i in range(20)] + [["a", 20, ""]]
    plan = plan_data(DataSpec(path=write(tmp_path / "m.csv", "shop,t,v", middle), series="shop"), design())
    assert plan.errors and "row 6" in plan.errors[0] and "missing value" in plan.errors[0]
    empty = [["a", i, f"{i:.1f}"] for i in range(10)] + [["b", i, ""] for i in range(10)]
    plan = plan_data(DataSpec(path=write(tmp_path / "e.csv", "shop,t,v", empty), series="shop"), design())
    assert plan.errors and "missing value" in plan.errors[0]  # a series without any target is not a future
