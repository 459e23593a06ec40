"""The Train panel's Forecast and Backtest views on a tiny real run (issue 19, parts 6-7).

A two-series monthly CSV (two shops, different lengths and levels) trains a 3-step design for two
epochs in-process; the panel shows that run as a user would pick it in the Runs tab."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest

pytest.importorskip("pytestqt")

from rnn_studio.engine.design.project import Project  # noqa: E402

STEPS = 3
DESIGN = {
    "format": "rnn-studio",
    "version": 1,
    "name": "shops-3",
    "blocks": [
        {"id": "x", "type": "Input", "params": {"timesteps": 12, "features": 1}},
        {"id": "g", "type": "GRU", "params": {"units": 8}},
        {"id": "y", "type": "Dense", "params": {"units": STEPS}},
    ],
    "links": [["x", "g"], ["g", "y"]],
    "training": {"epochs": 2, "batch_size": 32, "lr": 0.01},
}
SHOPS = {"north": (72, 100.0), "south": (60, 500.0)}  # months of history, level: the two never overlap


def write_shops(path: Path) -> dict[str, list[float]]:
    """Monthly sales of two shops (month starts, YYYY-MM-DD); returns each shop's values in order."""
    rng = np.random.default_rng(0)
    values: dict[str, list[float]] = {}
    with path.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["month", "shop", "sales"])
        for shop, (n, level) in SHOPS.items():
            values[shop] = []
            for i in range(n):
                v = round(level + 10 * math.sin(2 * math.pi * i / 12) + rng.normal(0, 1), 1)
                values[shop].append(v)
                w.writerow([f"{2016 + i // 12}-{i % 12 + 1:02d}-01", shop, v])
    return values


@pytest.fixture(scope="module")
def shops_run(tmp_path_factory):
    from rnn_studio.engine.data import DataSpec
    from rnn_studio.engine.training.train import train

    root = tmp_path_factory.mktemp("forecast-view")
    data = root / "shops.csv"
    values = write_shops(data)
    project = Project.from_dict(DESIGN)
    spec = DataSpec(path=str(data), target="sales", series="shop", time="month")
    summary = train(project, spec, {"epochs": 2, "threads": 1}, out_dir=str(root / "runs"))
    return Path(summary["run"]), data, values, spec, project


def shown_panel(qtbot, project, run: Path):
    from rnn_studio.gui.monitor.panel import TrainPanel

    panel = TrainPanel(lambda: project, runs_root=run.parent)
    qtbot.addWidget(panel)
    panel.resize(1400, 700)
    panel.show()
    panel.chart_tabs.setCurrentWidget(panel.forecast_view)
    view = panel.forecast_view
    with qtbot.waitSignal(view.forecast_ready, timeout=60000) as blocker:
        panel.show_run(run)  # as a click in the Runs tab does
    assert blocker.args == [""], blocker.args
    return panel, view


@pytest.mark.slow
def test_forecast_view_dates_series_band_metrics(qtbot, shops_run):
    run, _data, values, _spec, project = shops_run
    _panel, view = shown_panel(qtbot, project, run)
    axis = view.plot.plotItem.getAxis("bottom")
    assert isinstance(axis, pg.DateAxisItem)  # dates, not window numbers
    x0, x1 = view.plot.plotItem.vb.viewRange()[0]
    years = {dt.datetime.fromtimestamp(x, dt.UTC).year for x in (x0, x1)}
    assert years <= set(range(2016, 2024)), years
    view.plot.grab()  # paint once: the axis picks its date zoom level from its font while drawing
    labels = [  # what the axis labels, every tick level
        text
        for spacing, ticks in axis.tickValues(x0, x1, max(axis.width(), 100))
        for text in axis.tickStrings(ticks, 1.0, spacing)
    ]
    assert labels and all(text.startswith("20") or text[:3].isalpha() for text in labels), labels  # years / months

    assert [view.series_box.itemText(i) for i in range(view.series_box.count())] == ["north", "south"]
    for index, shop in enumerate(("north", "south")):
        view.series_box.setCurrentIndex(index)
        x, y = view.plotted_history()
        assert len(y) > 0
        assert set(np.round(y, 1)) <= set(values[shop])  # this shop's values only: no jump into the other
        assert y[-1] == pytest.approx(values[shop][-1])
        assert np.all(np.diff(x) > 0)
        fx, fy = view.c_forecast.getData()
        assert len(fx) == STEPS + 1 and fx[0] == x[-1]  # the line starts at the last observation
        lx, lower = view.c_lower.getData()
        ux, upper = view.c_upper.getData()
        assert view.band.isVisible() and len(lower) == len(upper) == STEPS
        assert np.all(lower <= fy[1:] + 1e-9) and np.all(fy[1:] <= upper + 1e-9)
        months = [dt.datetime.fromtimestamp(v, dt.UTC) for v in lx]
        assert [(m.day, m.hour) for m in months] == [(1, 0)] * STEPS  # month starts, continuing the series
    summary = json.loads((run / "summary.json").read_text())
    view.metric_box.setCurrentIndex(view.metric_box.findData("rmse"))
    assert view.table.rowCount() >= 1
    assert view.table.verticalHeaderItem(0).text() == "all"
    assert float(view.table.item(0, 0).text()) == pytest.approx(summary["test_rmse"], rel=1e-3)
    assert float(view.table.item(0, 2).text()) == pytest.approx(summary["test_persistence_rmse"], rel=1e-3)


def test_save_forecast_writes_the_cli_csv(qtbot, shops_run, tmp_path):
    from rnn_studio.engine.forecasting.forecast import forecast_run

    run, _data, _values, spec, project = shops_run
    _panel, view = shown_panel(qtbot, project, run)
    out = view.save_to(tmp_path / "gui.csv")
    assert out is not None and "Saved" in view.message.text()
    forecast_run(run, spec).write_csv(tmp_path / "cli.csv")
    gui_rows = list(csv.reader((tmp_path / "gui.csv").open()))
    cli_rows = list(csv.reader((tmp_path / "cli.csv").open()))
    assert gui_rows == cli_rows
    assert gui_rows[0][:3] == ["shop", "month", "step"]
    assert len(gui_rows) == 1 + 2 * STEPS


def test_steps_and_level_recompute(qtbot, shops_run, tmp_path):
    from rnn_studio.engine.forecasting.forecast import forecast_run

    run, _data, _values, spec, project = shops_run
    _panel, view = shown_panel(qtbot, project, run)
    assert view.level.value() == pytest.approx(json.loads((run / "intervals.json").read_text())["level"])
    _, lower90 = view.c_lower.getData()
    with qtbot.waitSignal(view.forecast_ready, timeout=60000):
        view.steps.setValue(2)
    fx, _ = view.c_forecast.getData()
    assert len(fx) == 2 + 1
    with qtbot.waitSignal(view.forecast_ready, timeout=60000) as blocker:
        view.level.setValue(0.5)
    assert blocker.args == [""], blocker.args
    _, lower50 = view.c_lower.getData()
    assert np.all(lower50 >= lower90[:2] - 1e-9)  # a lower level: a narrower band
    view.save_to(tmp_path / "gui.csv")
    forecast_run(run, spec, steps=2, level=0.5).write_csv(tmp_path / "cli.csv")  # rnn-studio forecast --level 0.5
    assert (tmp_path / "gui.csv").read_text() == (tmp_path / "cli.csv").read_text()


@pytest.mark.slow
def test_forecast_follows_a_training_started_in_the_panel(qtbot, shops_run, tmp_path):
    """While a run trains the Forecast tab is empty; when it ends, the tab shows that run's forecast."""
    from rnn_studio.gui.monitor.panel import TrainPanel

    _run, data, values, _spec, project = shops_run
    panel = TrainPanel(lambda: project, runs_root=tmp_path / "runs")
    qtbot.addWidget(panel)
    panel.resize(1400, 700)
    panel.show()
    with qtbot.waitSignal(panel.data_loaded, timeout=10000):
        panel.set_data_file(str(data))
    panel.series.setCurrentIndex(panel.series.findData("shop"))
    panel.refresh_plan()  # what the plan box shows a moment later: the ticks follow the plan's features
    panel.epochs.setValue(2)
    panel.chart_tabs.setCurrentWidget(panel.forecast_view)
    view = panel.forecast_view
    view.set_run(shops_run[0])  # an older run on show: a new run replaces it
    with qtbot.waitSignal(view.forecast_ready, timeout=60000):
        pass
    run = panel.start()
    assert run is not None
    assert view.run is None and view.forecast is None and not view.save_button.isEnabled()
    with qtbot.waitSignal(panel.run_finished, timeout=120000) as finished:
        pass
    assert finished.args[1].get("stop_reason") == "completed", finished.args
    assert view.run == run
    qtbot.waitUntil(lambda: not view.busy(), timeout=60000)
    assert view.forecast is not None, view.message.text()
    assert view.save_button.isEnabled()
    _x, y = view.plotted_history()
    assert y[-1] == pytest.approx(values[view.series_box.currentText()][-1])


def test_train_form_season_and_level(qtbot, shops_run):
    from rnn_studio.gui.monitor.panel import TrainPanel

    _run, data, _values, _spec, project = shops_run
    panel = TrainPanel(lambda: project, runs_root=data.parent / "runs")
    qtbot.addWidget(panel)
    assert "season" not in panel.data_spec() and "level" not in panel.overrides()  # auto / default
    panel.season.setValue(6)
    panel.interval_level.setValue(0.8)
    assert panel.data_spec()["season"] == 6
    assert panel.overrides()["level"] == pytest.approx(0.8)
    with qtbot.waitSignal(panel.data_loaded, timeout=10000):
        panel.set_data_file(str(data))
    panel.series.setCurrentIndex(panel.series.findData("shop"))
    panel.refresh_plan()
    text = panel.plan_text.text()
    assert f"forecasts steps 1..{STEPS}" in text
    assert "season: 6" in text
    panel.load_settings({"level": 0.95})
    assert panel.interval_level.value() == pytest.approx(0.95)


@pytest.mark.slow
def test_backtest_from_the_panel(qtbot, shops_run, tmp_path):
    """Start backtest runs `rnn-studio backtest` in a child process; the table and chart show its folds."""
    from rnn_studio.gui.monitor.panel import TrainPanel

    _run, data, _values, _spec, project = shops_run
    panel = TrainPanel(lambda: project, runs_root=tmp_path / "runs")
    qtbot.addWidget(panel)
    panel.resize(1400, 700)
    panel.show()
    with qtbot.waitSignal(panel.data_loaded, timeout=10000):
        panel.set_data_file(str(data))
    panel.series.setCurrentIndex(panel.series.findData("shop"))
    panel.refresh_plan()  # what the plan box shows a moment later: the ticks follow the plan's features
    panel.epochs.setValue(1)
    view = panel.backtest_view
    panel.chart_tabs.setCurrentWidget(view)
    view.folds.setValue(2)
    with qtbot.waitSignal(view.finished, timeout=120000) as blocker:
        out = view.start()
        assert out is not None and not view.start_button.isEnabled()
    assert blocker.args[0] == 0, blocker.args
    result = json.loads((out / "backtest.json").read_text())
    assert [f["fold"] for f in result["folds"]] == [1, 2]
    assert view.table.rowCount() == 3  # two folds and "all"
    assert [view.table.item(r, 0).text() for r in range(3)] == ["1", "2", "all"]
    assert view.table.item(0, 1).text() == str(result["folds"][0]["train_rows"])
    assert int(view.table.item(0, 1).text()) < int(view.table.item(1, 1).text())  # expanding window
    mase_col = next(
        c for c in range(view.table.columnCount()) if view.table.horizontalHeaderItem(c).text() == "MASE\nmodel"
    )
    assert float(view.table.item(1, mase_col).text()) == pytest.approx(result["folds"][1]["mase"], rel=1e-3)
    heights = view.chart_heights()
    assert heights["model"] == pytest.approx([f["mase"] for f in result["folds"]])
    assert heights["seasonal naive"] == pytest.approx([f["seasonal_naive_mase"] for f in result["folds"]])
    assert view.start_button.isEnabled() and "finished" in view.status.text()
    assert (out / "fold-1" / "summary.json").is_file() and (out / "fold-2" / "summary.json").is_file()


def test_end_line_warns_when_seasonal_naive_wins():
    from rnn_studio.gui.monitor.follower import end_message

    end = {
        "stop_reason": "completed",
        "val_rmse": 6.0,
        "beats_persistence": True,
        "beats_seasonal_naive": False,
        "seasonal_naive_split": "test",
        "season": 12,
        "test_mase": 1.2,
        "test_seasonal_naive_mase": 0.8,
    }
    text, level = end_message(end)
    assert level == "warning"
    assert "does not beat seasonal naive (season 12) on the test split (MASE 1.2 vs 0.8)" in text
    text, level = end_message({**end, "beats_seasonal_naive": True})
    assert level == "" and "seasonal naive" not in text


def test_integer_time_column_gets_a_plain_axis(qtbot, tmp_path):
    """An integer time column (every 5 units) is drawn on a number axis; the forecast continues its step."""
    from rnn_studio.engine.data import DataSpec
    from rnn_studio.engine.training.train import train
    from rnn_studio.gui.monitor.forecast_view import ForecastView

    data = tmp_path / "ticks.csv"
    data.write_text(
        "t,load\n" + "".join(f"{100 + 5 * i},{round(50 + 10 * math.sin(i / 3), 3)}\n" for i in range(90)),
        encoding="utf-8",
    )
    spec = DataSpec(path=str(data), target="load", time="t")
    summary = train(Project.from_dict(DESIGN), spec, {"epochs": 1, "threads": 1}, out_dir=str(tmp_path / "runs"))
    view = ForecastView()
    qtbot.addWidget(view)
    view.resize(900, 400)
    view.show()
    with qtbot.waitSignal(view.forecast_ready, timeout=60000) as blocker:
        view.set_run(summary["run"])
    assert blocker.args == [""], blocker.args
    axis = view.plot.plotItem.getAxis("bottom")
    assert not isinstance(axis, pg.DateAxisItem)
    assert [view.series_box.itemText(0)] == ["(one series)"] and not view.series_box.isEnabled()
    hx, _ = view.plotted_history()
    fx, _ = view.c_forecast.getData()
    assert hx[-1] == 100 + 5 * 89
    assert list(fx[1:]) == [100 + 5 * (89 + h) for h in range(1, STEPS + 1)]


def test_a_missing_data_file_is_one_line_in_the_view(qtbot, shops_run, tmp_path):
    from rnn_studio.gui.monitor.forecast_view import ForecastView

    run, _data, _values, spec, _project = shops_run
    view = ForecastView()
    qtbot.addWidget(view)
    view.show()
    gone = tmp_path / "moved-away.csv"
    with qtbot.waitSignal(view.forecast_ready, timeout=60000) as blocker:
        view.set_run(run, {**spec.to_dict(), "path": str(gone)})
    error = blocker.args[0]
    assert "moved-away.csv" in error and "\n" not in error and "Traceback" not in error
    assert view.message.text() == error and view.message.isVisible()
    assert view.forecast is None and not view.save_button.isEnabled()
