"""The Forecast view: what a run says happens *next*, one series at a time, on the data's own time axis.

It calls engine.forecasting.forecast.forecast_run (the function behind `rnn-studio forecast`) in a worker process
(background.py, forecast_worker.py) on the run's own data file, then shows for the series picked: the
recent history, the forecast line and the interval band (pyqtgraph FillBetweenItem between lower and
upper), on a date axis (DateAxisItem) when the time column holds dates and a plain axis for integer
times or row numbers. Each series is drawn alone: the history of one shop never joins the next shop's
with a jump.

Beside it, the run's metrics from summary.json: the model against seasonal naive and persistence, all
steps and per step, on the test split (the validation split when there is no test split).
"Save forecast…" writes Forecast.write_csv: the same CSV as `rnn-studio forecast -o`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from .. import theme as themes
from ..flow_layout import FlowLayout, labelled
from .background import calls
from .forecast_worker import compute_forecast
from .plots import follow_theme, side_legend
from .train_form import combo, tint

METRICS = (("MASE", "mase"), ("RMSE", "rmse"), ("MAE", "mae"), ("sMAPE %", "smape"))
MODELS = (("model", ""), ("seasonal naive", "seasonal_naive_"), ("persistence", "persistence_"))
TITLE = "Forecast"
RECENT = 4  # the initial view shows the forecast and about this many horizons of history before it


# ---------------------------------------------------------------------------- pure helpers
def series_axis(forecast, s) -> tuple[np.ndarray, np.ndarray, bool]:
    """(history x, forecast x, dates?) of one SeriesForecast: the engine's chart instants (`history_x`,
    `x`: seconds since 1970 for dates, the time column's value or the row number otherwise); dates go
    on a DateAxisItem, anything else on a plain axis."""
    dates = bool(getattr(forecast.frequency, "is_calendar", False))
    return np.asarray(s.history_x, dtype=float), np.asarray(s.x, dtype=float), dates


def metric_split(summary: dict[str, Any]) -> str:
    """The split whose metrics the table shows: test, else validation."""
    return "test" if any(k.startswith("test_") and k.endswith(("mase", "rmse")) for k in summary) else "val"


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def metric_rows(summary: dict[str, Any], metric: str) -> list[tuple[str, list[float | None]]]:
    """Rows of the metrics table for one metric (mase, rmse, mae, smape): ("all", [model, seasonal
    naive, persistence]) over all steps, then one row per step ("h=1", ...) from the
    `<split>_<model><metric>_by_step` lists."""
    split = metric_split(summary)
    rows = [("all", [_num(summary.get(f"{split}_{prefix}{metric}")) for _, prefix in MODELS])]
    per_step = [summary.get(f"{split}_{prefix}{metric}_by_step") for _, prefix in MODELS]
    steps = max((len(v) for v in per_step if isinstance(v, list)), default=0)
    if steps > 1:
        for h in range(steps):
            rows.append((f"h={h + 1}", [_num(v[h]) if isinstance(v, list) and h < len(v) else None for v in per_step]))
    return rows


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def run_data_spec(run: Path) -> dict[str, Any] | None:
    """The data settings a run trained on (its `start` record's data_spec), or None (an imported run)."""
    try:  # the first line is the first start record: no need to parse a long run's whole history
        with (run / "metrics.jsonl").open(encoding="utf-8") as f:
            first = json.loads(f.readline() or "{}")
    except (OSError, ValueError):
        return None
    if not (isinstance(first, dict) and first.get("kind") == "start" and isinstance(first.get("data_spec"), dict)):
        return None
    spec = dict(first["data_spec"])
    path = spec.get("path")
    if isinstance(path, str) and path and not Path(path).is_absolute() and not Path(path).exists():
        beside = run.parent.parent / path  # a relative path given where runs/ lives (the CLI's default)
        if beside.exists():
            spec["path"] = str(beside)
    return spec


def planned_steps(run: Path) -> int:
    """H, the steps a run's design forecasts (plan.json "steps"; 1 in runs before multi-step designs)."""
    steps = read_json(run / "plan.json").get("steps")
    return steps if isinstance(steps, int) and steps > 0 else 1


def save_forecast(forecast, path: str | Path) -> Path:
    """Write the forecast as `rnn-studio forecast -o` does (Forecast.write_csv: temp file + rename)."""
    forecast.write_csv(Path(path))
    return Path(path)


# ---------------------------------------------------------------------------- the widget
class ForecastView(QtWidgets.QWidget):
    """Set a run with `set_run(run_dir)`; the forecast is computed in the background (`forecast_ready`)."""

    forecast_ready = QtCore.Signal(str)  # '' when shown, else the one-line error

    def __init__(self, parent=None):
        super().__init__(parent)
        self.run: Path | None = None
        self.spec: dict[str, Any] | None = None
        self.summary: dict[str, Any] = {}
        self.forecast: Any = None
        self._request = 0
        self._pending = False
        self._build()
        calls().done.connect(self._forecast_done)
        self._later = QtCore.QTimer(self, singleShot=True, interval=300, timeout=self.refresh_forecast)
        self.say("Train a run (or pick one in the Runs tab) to see its forecast.")

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(self._controls())
        self.message = QtWidgets.QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        lay.addWidget(self.message)
        split = QtWidgets.QSplitter(QtCore.Qt.Horizontal)
        split.addWidget(self._plot())
        split.addWidget(self._metrics())
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setChildrenCollapsible(False)
        lay.addWidget(split, 1)

    def _controls(self) -> QtWidgets.QLayout:
        row = FlowLayout()  # wraps onto a second line in a narrow Train panel (1024 px screens)
        self.series_box = combo()
        self.series_box.setMinimumContentsLength(5)  # this row sets the chart column's least width
        self.series_box.setToolTip("The series shown (a file with a series column holds many)")
        self.series_box.currentIndexChanged.connect(self._series_changed)
        self.steps = QtWidgets.QSpinBox(minimum=0, maximum=9999, value=0, specialValueText="design")
        self.steps.setToolTip(
            "Steps to forecast; 'design' = the design's horizon (its output units). More steps than the design "
            "forecasts are predicted recursively when the target is the only feature"
        )
        self.steps.setKeyboardTracking(False)
        self.steps.valueChanged.connect(lambda _v: self._later.start())
        self.level = QtWidgets.QDoubleSpinBox(decimals=2, minimum=0.5, maximum=0.99, value=0.9, singleStep=0.05)
        self.level.setKeyboardTracking(False)
        self.level.setToolTip(
            "Coverage of the prediction interval (rnn-studio forecast --level): split-conformal, from the "
            "validation residuals the run kept when it trained (the run's own level by default)"
        )
        self.level.valueChanged.connect(lambda _v: self._later.start())
        self.save_button = QtWidgets.QPushButton("Save forecast…")
        self.save_button.setToolTip("Write the forecast as a CSV, the same as `rnn-studio forecast -o`")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self._save_dialog)
        for label, w in (("Series:", self.series_box), ("Steps:", self.steps), ("Level:", self.level)):
            row.addWidget(labelled(label, w))
        row.addWidget(self.save_button)
        return row

    def _plot(self) -> pg.PlotWidget:
        self.date_axis = pg.DateAxisItem(orientation="bottom", utcOffset=0)
        self.number_axis = pg.AxisItem(orientation="bottom")
        self.plot = pg.PlotWidget(axisItems={"bottom": self.number_axis})
        self.plot.setMinimumSize(150, 160)  # the Train panel fits a 1024 px screen without scrolling
        item = self.plot.plotItem
        item.showGrid(x=True, y=True, alpha=0.15)
        self.legend = side_legend(item)
        self.c_history = item.plot([], [], name="history")
        self.c_lower = pg.PlotDataItem([], [])
        self.c_upper = pg.PlotDataItem([], [])
        self.band = pg.FillBetweenItem(self.c_lower, self.c_upper)
        item.addItem(self.band)
        self.c_forecast = item.plot([], [], name="forecast", symbol="o", symbolSize=4)
        self.band_sample = pg.BarGraphItem(x=[0], height=[0], width=0)
        self.legend.addItem(self.band_sample, "interval")
        self.origin = pg.InfiniteLine(angle=90)
        self.origin.setToolTip("the last observation: the forecast starts after it")
        self.origin.setVisible(False)
        item.addItem(self.origin)
        self._recolor()
        themes.manager().changed.connect(self._recolor)
        follow_theme(self.plot, TITLE, lambda: self.legend)
        self.plot.installEventFilter(self)  # the legend steps aside on a narrow chart
        return self.plot

    def _recolor(self, _theme=None) -> None:
        """Curve colours from the theme (history in the text colour, forecast and band in the accent)."""
        colors = themes.current()
        band = QtGui.QColor(colors.accent)
        band.setAlpha(60)
        self.c_history.setPen(pg.mkPen(colors.text, width=1.5))
        self.c_forecast.setPen(pg.mkPen(colors.accent, width=2))
        self.c_forecast.setSymbolBrush(pg.mkBrush(colors.accent))
        self.c_forecast.setSymbolPen(pg.mkPen(colors.accent))
        for curve in (self.c_lower, self.c_upper):
            curve.setPen(pg.mkPen(band))
        self.band.setBrush(pg.mkBrush(band))
        self.band_sample.setOpts(brush=pg.mkBrush(band), pen=pg.mkPen(band))
        self.origin.setPen(pg.mkPen(colors.muted, style=QtCore.Qt.DashLine))

    def _metrics(self) -> QtWidgets.QWidget:
        box = self.metrics_box = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        head = QtWidgets.QHBoxLayout()
        self.metric_box = combo()
        for label, key in METRICS:
            self.metric_box.addItem(label, key)
        self.metric_box.currentIndexChanged.connect(self._fill_metrics)
        head.addWidget(QtWidgets.QLabel("Metric:"))
        head.addWidget(self.metric_box, 1)
        lay.addLayout(head)
        self.table = QtWidgets.QTableWidget(0, len(MODELS))
        self.table.setHorizontalHeaderLabels(["model", "s-naive", "persist."])
        for c, (name, _prefix) in enumerate(MODELS):
            self.table.horizontalHeaderItem(c).setToolTip(name)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeToContents)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 6)
        self.table.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarAlwaysOff)
        lay.addWidget(self.table, 1)
        self.verdict = QtWidgets.QLabel("")
        self.verdict.setWordWrap(True)
        lay.addWidget(self.verdict)
        return box

    # ------------------------------------------------------------------ state
    def say(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))
        tint(self.message, "error" if error else "muted")

    def set_run(self, run: Path | str | None, spec: dict[str, Any] | None = None) -> None:
        """Show `run`'s metrics and start its forecast on `spec` (default: the data the run trained on)."""
        self.run = Path(run) if run is not None else None
        self.forecast = None
        self.save_button.setEnabled(False)
        self._clear_plot()
        if self.run is None:
            self.spec, self.summary = None, {}
            self._fill_metrics()
            return self.say("Train a run (or pick one in the Runs tab) to see its forecast.")
        self.summary = read_json(self.run / "summary.json")
        self.steps.setSpecialValueText(f"design ({planned_steps(self.run)})")  # 0: the design's own steps
        self._pick_metric()
        self._fill_metrics()
        self.spec = spec if spec is not None else run_data_spec(self.run)
        level = _num(read_json(self.run / "intervals.json").get("level"))
        self.level.blockSignals(True)
        self.level.setValue(level if level is not None else 0.9)  # the run's level: its stored intervals
        self.level.blockSignals(False)
        self.level.setEnabled(level is not None)  # a run without intervals has point forecasts only
        self.refresh_forecast()

    def refresh_forecast(self) -> None:
        """Compute the forecast for the current run, steps and level in the worker process."""
        self._later.stop()
        self._pending = False
        if self.run is None:
            return
        if not self.isVisible():
            self._pending = True  # computed when the tab is shown: no forecast nobody looks at
            return self.say("")
        if self.summary.get("task") == "classification":
            self._request = 0
            return self.say("A classification run has no forecast.")
        if not self.spec or not (self.spec.get("path") or self.spec.get("demo")):
            self._request = 0
            return self.say(f"{self.run.name}: the run does not say which data it trained on", error=True)
        steps = self.steps.value() or None
        level = round(self.level.value(), 4) if self.level.isEnabled() else None
        self._request = calls().start(compute_forecast, self.run, dict(self.spec), steps, level)
        self.say(f"Forecasting {self.run.name} on {Path(str(self.spec.get('path') or self.spec.get('demo'))).name}…")

    LEGEND_MIN_WIDTH = 520  # px of chart: narrower, the legend leaves the curves the room (colours speak)

    def eventFilter(self, obj, event) -> bool:
        if obj is self.plot and event.type() == QtCore.QEvent.Type.Resize:
            self._place_legend()
        return False

    def _place_legend(self) -> None:
        layout = self.plot.plotItem.layout
        wide = self.plot.width() >= self.LEGEND_MIN_WIDTH
        shown = any(layout.itemAt(i) is self.legend for i in range(layout.count()))
        if wide and not shown:
            layout.addItem(self.legend, 2, 3)
            layout.setAlignment(self.legend, QtCore.Qt.AlignmentFlag.AlignTop)
        elif not wide and shown:
            layout.removeItem(self.legend)
        self.legend.setVisible(wide)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        calls().warm_up()  # the worker process imports torch while the person looks at the tab
        if self._pending:
            QtCore.QTimer.singleShot(0, self.refresh_forecast)

    def busy(self) -> bool:
        """A forecast is being computed (or waits for the tab to be shown)."""
        return self._request != 0 or self._pending

    def _forecast_done(self, request: int, forecast, error: str) -> None:
        if request != self._request:
            return  # stale: another run or setting was asked for meanwhile
        self._request = 0
        if forecast is None:
            self.say(error or "the forecast failed", error=True)
            self.forecast_ready.emit(error or "the forecast failed")
            return
        self.forecast = forecast
        self.save_button.setEnabled(True)
        names = [str(s.series) if s.series is not None else "(one series)" for s in forecast.series]
        current = self.series_box.currentText()
        self.series_box.blockSignals(True)
        self.series_box.clear()
        self.series_box.addItems(names)
        self.series_box.setCurrentIndex(max(names.index(current) if current in names else 0, 0))
        self.series_box.blockSignals(False)
        self.series_box.setEnabled(len(names) > 1)
        self.say("")
        self.show_series(self.series_box.currentIndex())
        self.forecast_ready.emit("")

    def _series_changed(self, index: int) -> None:
        if self.forecast is not None:
            self.show_series(index)

    # ------------------------------------------------------------------ drawing
    def _clear_plot(self) -> None:
        for curve in (self.c_history, self.c_forecast, self.c_lower, self.c_upper):
            curve.setData([], [])
        self.origin.setVisible(False)

    def _use_axis(self, dates: bool) -> None:
        axis = self.date_axis if dates else self.number_axis
        if self.plot.plotItem.getAxis("bottom") is not axis:
            self.plot.plotItem.setAxisItems({"bottom": axis})
            follow_theme(self.plot, TITLE, lambda: self.legend)

    def show_series(self, index: int) -> None:
        """Draw one series: its history, the forecast and the band; the view starts on the recent part."""
        if self.forecast is None or not 0 <= index < len(self.forecast.series):
            return
        s = self.forecast.series[index]
        hx, fx, dates = series_axis(self.forecast, s)
        hy = np.asarray(s.history_values, dtype=float)
        pred = np.asarray(s.prediction, dtype=float)
        self._use_axis(dates)
        self.c_history.setData(hx, hy)
        # the forecast line starts at the last observation, so the eye follows it on from the history
        lx = np.concatenate([hx[-1:], fx]) if len(hx) else fx
        self.c_forecast.setData(lx, np.concatenate([hy[-1:], pred]) if len(hy) else pred)
        has_band = (
            s.lower is not None
            and len(s.lower) == len(fx)
            and bool(np.isfinite(np.asarray(s.lower, dtype=float)).any())  # NaN: the run has no intervals
        )
        self.c_lower.setData(fx if has_band else [], np.asarray(s.lower, dtype=float) if has_band else [])
        self.c_upper.setData(fx if has_band else [], np.asarray(s.upper, dtype=float) if has_band else [])
        self.band.setVisible(has_band)
        if len(hx):
            self.origin.setValue(float(hx[-1]))
            self.origin.setVisible(True)
        self._fit(hx, fx, hy, pred, s)
        title = f"{TITLE}: {s.series}" if len(self.forecast.series) > 1 else TITLE
        level = getattr(self.forecast, "level", None)
        if has_band and _num(level) is not None:
            title += f" · {level:.0%} interval"
        notes = getattr(self.forecast, "notes", None) or []
        self.say(" ".join(notes))
        self.plot.plotItem.setTitle(title, size="10pt", color=themes.current().text)

    def _fit(self, hx, fx, hy, pred, s) -> None:
        """The forecast and about RECENT horizons of history before it; y fits what is in that range."""
        if not len(fx) and not len(hx):
            return
        span = len(fx) * RECENT if len(fx) else len(hx)
        recent = hx[-max(span, 12) :]
        x0 = float(recent[0]) if len(recent) else float(fx[0])
        x1 = float(fx[-1]) if len(fx) else float(hx[-1])
        ys = [hy[-len(recent) :], pred]
        if s.lower is not None and s.upper is not None:
            ys += [np.asarray(s.lower, dtype=float), np.asarray(s.upper, dtype=float)]
        y = np.concatenate([np.asarray(v, dtype=float).ravel() for v in ys])
        y = y[np.isfinite(y)]
        pad = (x1 - x0) * 0.03 or 1.0
        vb = self.plot.plotItem.vb
        vb.setXRange(x0 - pad, x1 + pad, padding=0)
        if len(y):
            lo, hi = float(y.min()), float(y.max())
            margin = (hi - lo) * 0.08 or abs(hi) * 0.1 or 1.0
            vb.setYRange(lo - margin, hi + margin, padding=0)

    def plotted_history(self) -> tuple[np.ndarray, np.ndarray]:
        """The history drawn now (x, y): what a test compares with one series' values."""
        x, y = self.c_history.getData()
        return (np.empty(0), np.empty(0)) if x is None else (np.asarray(x), np.asarray(y))

    # ------------------------------------------------------------------ metrics
    def _pick_metric(self) -> None:
        """Keep the metric shown if the run has it, else the first one it has (MASE, then RMSE...)."""
        have = [
            i for i, (_l, key) in enumerate(METRICS) if any(v is not None for v in metric_rows(self.summary, key)[0][1])
        ]
        if have and self.metric_box.currentIndex() not in have:
            self.metric_box.blockSignals(True)
            self.metric_box.setCurrentIndex(have[0])
            self.metric_box.blockSignals(False)

    def _fill_metrics(self) -> None:
        metric = self.metric_box.currentData()
        rows = metric_rows(self.summary, metric) if self.summary else []
        rows = [r for r in rows if any(v is not None for v in r[1])]
        self.table.setRowCount(len(rows))
        self.table.setVerticalHeaderLabels([label for label, _ in rows])
        good, muted = themes.current().ok, themes.current().muted
        for r, (_label, values) in enumerate(rows):
            known = [v for v in values if v is not None]
            best = min(known) if known else None
            for c, v in enumerate(values):
                item = QtWidgets.QTableWidgetItem("–" if v is None else f"{v:.4g}")
                item.setTextAlignment(QtCore.Qt.AlignRight | QtCore.Qt.AlignVCenter)
                if v is not None and v == best and len(known) > 1:
                    item.setForeground(QtGui.QColor(good))
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                elif v is None:
                    item.setForeground(QtGui.QColor(muted))
                self.table.setItem(r, c, item)
        self.verdict.setText(self._verdict())
        self._fit_table_width()

    def _fit_table_width(self) -> None:
        """As wide as its columns (never cut off: the plot gives way), a row label plus three numbers."""
        table = self.table
        table.resizeColumnsToContents()
        columns = sum(table.horizontalHeader().sectionSize(c) for c in range(table.columnCount()))
        bar = table.verticalScrollBar().sizeHint().width()
        width = table.verticalHeader().sizeHint().width() + columns + bar + 2 * table.frameWidth() + 2
        table.setMinimumWidth(width)
        self.metrics_box.setMaximumWidth(max(width, 240) + 8)  # the plot takes the rest

    def _verdict(self) -> str:
        s = self.summary
        if not s:
            return ""
        split = "test" if metric_split(s) == "test" else "validation"
        bits = [f"{split} split"]
        if isinstance(s.get("season"), int):
            bits.append(f"season {s['season']}")
        for key, name in (("beats_seasonal_naive", "seasonal naive"), ("beats_persistence", "persistence")):
            if isinstance(s.get(key), bool):
                bits.append(f"{'beats' if s[key] else 'does not beat'} {name}")
        coverage = _num(s.get(f"{metric_split(s)}_coverage"))
        if coverage is not None:
            bits.append(f"interval coverage {coverage:.0%}")
        return " · ".join(bits)

    # ------------------------------------------------------------------ saving
    def save_to(self, path: str | Path) -> Path | None:
        """Write the shown forecast to `path` (the CLI's CSV); the status line says where or why not."""
        if self.forecast is None:
            return None
        try:
            out = save_forecast(self.forecast, path)
        except (OSError, ValueError) as e:
            self.say(f"{path}: cannot write the forecast ({getattr(e, 'strerror', None) or e})", error=True)
            return None
        self.say(f"Saved the forecast to {out}")
        return out

    def _save_dialog(self) -> None:
        folder, name = (self.run.parent, self.run.name) if self.run else (Path.cwd(), "run")
        start = str(folder / f"{name}-forecast.csv")
        dialog = QtWidgets.QFileDialog(self, "Save forecast", start, "CSV files (*.csv);;All files (*)")
        dialog.setAcceptMode(QtWidgets.QFileDialog.AcceptSave)
        dialog.setDefaultSuffix("csv")
        dialog.fileSelected.connect(self.save_to)
        self.save_dialog = dialog
        dialog.open()  # not modal-blocking: the event loop keeps running
