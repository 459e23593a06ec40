"""The monitor's pyqtgraph charts. Each chart keeps numpy buffers, is fed records as they arrive,
and redraws only from `refresh()`, which the panel calls from a QTimer at a bounded rate (15 Hz), so
plotting cost never depends on how fast metrics arrive. Curves use peak downsampling and clip to view
(smooth with 100k+ points); non-finite values are filtered before plotting and marked instead."""

from __future__ import annotations

import contextlib
import itertools
import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from .. import theme as themes
from .series import Series

pg.setConfigOptions(antialias=False, foreground="#444", background=None)  # antialiased streaming curves cost paint time

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]


class LogAxis(pg.AxisItem):
    """A log-scale axis that labels decades (0.001, 0.01, 0.1, 1 ...) and, over less than two decades, 1-2-5
    steps, never more labels than fit: no "0.02 0.03 0.04" piled on top of each other."""

    MIN_SPACING_PX = 22

    def tickValues(self, minVal, maxVal, size):
        if not self.logMode or not (math.isfinite(minVal) and math.isfinite(maxVal)) or maxVal <= minVal:
            return super().tickValues(minVal, maxVal, size)
        px_per_unit = size / (maxVal - minVal)
        lo, hi = math.floor(minVal), math.ceil(maxVal)
        best: list[float] | None = None
        for mantissas in ([1], [1, 2, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9]):
            vals = [d + math.log10(m) for d in range(lo, hi + 1) for m in mantissas]
            vals = [v for v in vals if minVal - 1e-9 <= v <= maxVal + 1e-9]
            gaps = [b - a for a, b in itertools.pairwise(vals)]
            if gaps and min(gaps) * px_per_unit < self.MIN_SPACING_PX:
                break  # labels would touch: keep the coarser set
            best = vals
            if len(vals) >= 3:
                break
        if best is None:  # even decades are too dense: every k-th decade
            decades = [float(d) for d in range(lo, hi + 1) if minVal - 1e-9 <= d <= maxVal + 1e-9]
            step = max(1, math.ceil(self.MIN_SPACING_PX / max(px_per_unit, 1e-9)))
            best = decades[::step]
        return [(1.0, best)]

    def tickStrings(self, values, scale, spacing):
        if not self.logMode:
            return super().tickStrings(values, scale, spacing)
        out = []
        for v in values:
            x = 10**v
            out.append(f"{x:.0e}".replace("e-0", "e-").replace("e+0", "e") if (x < 1e-3 or x >= 1e4) else f"{x:g}")
        return out


def apply_plot_theme(widget: pg.PlotWidget, title: str | None = None, legend=None) -> None:
    """Colours from gui/theme.py on one chart: background, axes, tick labels, axis labels, title, legend."""
    t = themes.current()
    widget.setBackground(t.base)
    item = widget.getPlotItem()
    for name in ("left", "bottom", "right", "top"):
        axis = item.getAxis(name)
        axis.enableAutoSIPrefix(False)  # "loss (x0.001)" over "500" reads as a loss of 500
        axis.setPen(pg.mkPen(t.muted))
        axis.setTextPen(pg.mkPen(t.text))
    if title is not None:
        item.setTitle(title, size="10pt", color=t.text)
    if legend is not None:
        legend.setLabelTextColor(t.text)
        legend.setBrush(pg.mkBrush(t.base))
        legend.setPen(pg.mkPen(t.border))


def follow_theme(widget: pg.PlotWidget, title: str | None = None, legend_getter=lambda: None) -> None:
    """Theme the chart now and on every theme switch (Train and Tune charts alike)."""

    def apply(_theme=None) -> None:
        try:
            apply_plot_theme(widget, title, legend_getter())
            widget.update()
        except (RuntimeError, AttributeError):  # the chart was closed or destroyed: stop following
            with contextlib.suppress(RuntimeError, TypeError):
                themes.manager().changed.disconnect(apply)

    apply()
    themes.manager().changed.connect(apply)


def side_legend(plot: pg.PlotItem) -> pg.LegendItem:
    """A legend in the plot's layout to the right of the curves (never over them); named curves join it."""
    legend = pg.LegendItem(
        verSpacing=-6,
        labelTextSize="8pt",
        labelTextColor=themes.current().text,
        brush=pg.mkBrush(themes.current().base),
    )
    plot.layout.addItem(legend, 2, 3)
    plot.layout.setColumnStretchFactor(3, 0)
    plot.legend = legend  # PlotItem.plot(name=...) adds to plot.legend
    return legend


def _curve(
    plot: pg.PlotItem,
    color: str,
    width: float = 1.5,
    name: str | None = None,
    alpha: int = 255,
    symbol: str | None = None,
) -> pg.PlotDataItem:
    c = QtGui.QColor(color)
    c.setAlpha(alpha)
    item = plot.plot(
        [],
        [],
        pen=pg.mkPen(c, width=width),
        name=name,
        symbol=symbol,
        symbolBrush=c if symbol else None,
        symbolPen=None if symbol else None,
        symbolSize=6,
    )
    item.setDownsampling(auto=True, method="peak")
    item.setClipToView(True)
    return item


class _Chart(pg.PlotWidget):
    def __init__(self, title: str, y_label: str, parent=None):
        super().__init__(parent=parent, axisItems={"left": LogAxis("left")})
        self.setMinimumHeight(60)
        self.title = title
        self.legend: pg.LegendItem | None = None
        self.plotItem.showGrid(x=True, y=True, alpha=0.15)
        self.plotItem.setLabel("bottom", "step")
        self.plotItem.setLabel("left", y_label)
        self._dirty = False
        self._markers: list[pg.InfiniteLine] = []
        for name in ("left", "bottom"):  # replay the axis (labels, grid) from a pixmap until its range changes:
            # QPicture.play of the axes was most of the paint time while following a run (cProfile)
            self.plotItem.getAxis(name).setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.empty_text = pg.TextItem("", anchor=(0.5, 0.5))
        self.empty_text.setParentItem(self.plotItem.vb)  # in view pixels: stays centred whatever the range
        follow_theme(self, title, lambda: self.legend)
        self.say_empty(self.EMPTY)

    EMPTY = "no run yet — Start training fills this chart"

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if getattr(self, "empty_text", None) is not None and self.plotItem is not None:  # also while built / closed
            self.empty_text.setPos(self.plotItem.vb.boundingRect().center())

    def say_empty(self, text: str) -> None:
        """A line in the middle of an empty chart that says why it is empty ('' hides it); an empty chart
        shows no tick values (a meaningless 0..1 range would only crowd a narrow chart)."""
        self.empty_text.setColor(themes.current().muted)
        self.empty_text.setText(text)
        self.empty_text.setVisible(bool(text))
        self.empty_text.setPos(self.plotItem.vb.boundingRect().center())
        for name in ("left", "bottom"):
            self.plotItem.getAxis(name).setStyle(showValues=not text)

    def has_data(self) -> bool:
        return any(item.xData is not None and len(item.xData) for item in self.plotItem.listDataItems())

    def reset_view(self) -> None:
        """Forget the previous run's axes: the next data sets them afresh."""
        self.plotItem.vb.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
        self.plotItem.enableAutoRange()
        self.following = True

    def settle_ranges(self) -> None:
        """Follow the data with few axis changes: grow x in 25 % chunks and re-fit y only when the data leaves
        the range or fills less than half of it. Every axis change re-lays its labels and repaints it, which
        was most of the GUI's paint time at 15 Hz with pyqtgraph's auto-range (cProfile)."""
        vb = self.plotItem.vb
        if not getattr(self, "following", True):
            return
        if not hasattr(self, "following"):
            self.following = True
            vb.sigRangeChangedManually.connect(lambda *_a: setattr(self, "following", False))
        xs, ys = [], []
        for item in self.plotItem.listDataItems():
            for ax, out in ((0, xs), (1, ys)):
                lo, hi = item.dataBounds(ax)
                if lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi):
                    out += [lo, hi]
        if not xs or not ys:
            return
        vb.disableAutoRange()
        (x0, x1), (y0, y1) = vb.viewRange()
        bx0, bx1, by0, by1 = min(xs), max(xs), min(ys), max(ys)
        if bx0 < x0 or bx1 > x1 or (bx1 - bx0) < 0.5 * (x1 - x0):
            span = max(bx1 - bx0, 1.0)
            vb.setXRange(bx0, bx0 + span * 1.25, padding=0)
        span = max(by1 - by0, 1e-12 if by1 == by0 == 0 else abs(by1) * 1e-3 + 1e-12)
        if by0 < y0 or by1 > y1 or span < 0.5 * (y1 - y0):
            vb.setYRange(by0 - 0.08 * span, by1 + 0.08 * span, padding=0)

    def mark(self, step: float, text: str, color: str = "#d62728") -> None:
        """A labelled vertical line: a divergence stop, an exploding gradient."""
        line = pg.InfiniteLine(
            pos=step,
            angle=90,
            pen=pg.mkPen(color, width=1.5, style=QtCore.Qt.DashLine),
            label=text,
            labelOpts={"position": 0.9, "color": color, "fill": (255, 255, 255, 200)},
        )
        self.plotItem.addItem(line)
        self._markers.append(line)

    def marker_texts(self) -> list[str]:
        return [m.label.format for m in self._markers if m.label is not None]

    def clear_markers(self) -> None:
        for m in self._markers:
            self.plotItem.removeItem(m)
        self._markers.clear()


class LossChart(_Chart):
    """Training loss per step (thin), its smoothed line (bold), validation loss per epoch (markers)."""

    def __init__(self, parent=None, smoothing: float = 0.1):
        super().__init__("Loss", "loss", parent)
        self.legend = side_legend(self.plotItem)
        self.alpha = smoothing
        self.train = Series()
        self.smooth = Series()
        self.val = Series(64)
        self._ema = 0.0
        self._ema_n = 0
        # short names: the legend sits beside the curves and must leave them the width on a small screen
        self.c_train = _curve(self.plotItem, "#1f77b4", 1.0, "train", alpha=90)
        self.c_smooth = _curve(self.plotItem, "#1f77b4", 2.2, "smoothed")
        self.c_val = _curve(self.plotItem, "#ff7f0e", 2.0, "val", symbol="o")
        self.c_train.setToolTip("training loss per step")
        self.overlays: list[pg.PlotDataItem] = []

    def add_steps(self, steps, losses) -> None:
        for s, v in zip(steps, losses, strict=True):
            self.train.append(s, v)
            if math.isfinite(v):
                # debiased EMA (as TensorBoard): no lag towards 0 at the start of a run
                self._ema_n += 1
                self._ema += self.alpha * (v - self._ema)
                self.smooth.append(s, self._ema / (1 - (1 - self.alpha) ** self._ema_n))
        self._dirty = True

    def add_val(self, step: float, loss: float) -> None:
        self.val.append(step, loss)
        self._dirty = True

    def set_log(self, on: bool) -> None:
        self.plotItem.setLogMode(y=on)
        self.following = True
        self.plotItem.vb.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)  # re-fit in the new scale
        self._dirty = True
        self.refresh()

    def overlay(self, steps, losses, val_steps, val_losses, name: str) -> None:
        """Another run's curves, dashed, for comparison."""
        pen = pg.mkPen("#7f7f7f", width=1.5, style=QtCore.Qt.DashLine)
        a = self.plotItem.plot(steps, losses, pen=pen, name=f"{name} (train)")
        b = self.plotItem.plot(
            val_steps,
            val_losses,
            pen=pg.mkPen("#555", width=1.5, style=QtCore.Qt.DotLine),
            symbol="t",
            symbolSize=6,
            symbolBrush="#555",
            name=f"{name} (val)",
        )
        for item in (a, b):
            item.setDownsampling(auto=True, method="peak")
            item.setClipToView(True)
        self.overlays += [a, b]

    def clear_overlays(self) -> None:
        for item in self.overlays:
            self.plotItem.removeItem(item)
        self.overlays.clear()

    def refresh(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        self.c_train.setData(*self.train.view())
        self.c_smooth.setData(*self.smooth.view())
        self.c_val.setData(*self.val.view())
        self.say_empty("" if self.has_data() else self.EMPTY)
        self.settle_ranges()

    def reset(self) -> None:
        for s in (self.train, self.smooth, self.val):
            s.clear()
        self._ema, self._ema_n = 0.0, 0
        self.clear_markers()
        self.clear_overlays()
        self._dirty = True
        self.refresh()
        self.reset_view()


class GradChart(_Chart):
    """Gradient norm per design block, one curve per block in the block's canvas colour, log scale."""

    def __init__(self, parent=None):
        super().__init__("Gradient norm per block", "‖grad‖", parent)
        self.legend = side_legend(self.plotItem)
        self.plotItem.setLogMode(y=True)
        self.interval: int | None = None  # steps between gradient-norm records (from the run's start record)
        apply_plot_theme(self, self.title, self.legend)
        self.series: dict[str, Series] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.colors: dict[str, str] = {}
        self.total = Series()
        self.c_total = None
        self._hover = pg.TextItem(anchor=(0, 1), color="#1f2937", fill=pg.mkBrush(255, 255, 255, 230))
        self._hover.setZValue(100)
        self._hover.hide()
        self.plotItem.addItem(self._hover, ignoreBounds=True)
        self._proxy = pg.SignalProxy(self.plotItem.scene().sigMouseMoved, rateLimit=30, slot=self._on_mouse)

    def set_colors(self, colors: dict[str, str]) -> None:
        self.colors.update(colors)
        for bid, curve in self.curves.items():
            if bid in colors:
                curve.setPen(pg.mkPen(colors[bid], width=1.8))

    def add(self, step: float, per_block: dict[str, float], total: float | None = None) -> None:
        for bid, v in per_block.items():
            if bid not in self.series:
                color = self.colors.get(bid, PALETTE[len(self.series) % len(PALETTE)])
                self.colors[bid] = color
                self.series[bid] = Series()
                self.curves[bid] = _curve(self.plotItem, color, 1.8, bid)
            self.series[bid].append(step, v if v is None or v > 0 else float("nan"))
        if total is not None:
            if self.c_total is None:
                self.c_total = _curve(self.plotItem, "#7f7f7f", 1.0, "total", alpha=160)
            self.total.append(step, total if total > 0 else float("nan"))
        self._dirty = True

    def set_interval(self, every: int | None) -> None:
        if every != self.interval:
            self.interval = every
            self._dirty = True

    def empty_reason(self) -> str:
        """Why the chart is empty: what the user waits for (or that this run records none)."""
        if self.series:
            return ""
        if self.interval == 0:
            return "gradient norms are not recorded for this run"
        every = f"every {self.interval} steps" if self.interval else "every few steps"
        return f"gradient norms {every} — none yet"

    def refresh(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        self.say_empty(self.empty_reason())
        for bid, s in self.series.items():
            self.curves[bid].setData(*s.view())
        if self.c_total is not None:
            self.c_total.setData(*self.total.view())
        self.settle_ranges()

    def last_values(self) -> dict[str, float]:
        return {bid: float(s.y[s.n - 1]) for bid, s in self.series.items() if s.n}

    def value_text_at(self, step: float) -> str:
        """'step N: block=value, ...' at the recorded step nearest to `step` (what hover shows)."""
        parts, at = [], None
        for bid, s in self.series.items():
            if not s.n:
                continue
            i = int(np.clip(np.searchsorted(s.x[: s.n], step), 0, s.n - 1))
            if i > 0 and abs(s.x[i - 1] - step) < abs(s.x[i] - step):
                i -= 1
            at = int(s.x[i])
            parts.append(f"{bid} = {s.y[i]:.3g}")
        return f"step {at}\n" + "\n".join(parts) if parts else ""

    def _on_mouse(self, evt) -> None:
        pos = evt[0]
        vb = self.plotItem.vb
        if not self.plotItem.sceneBoundingRect().contains(pos) or not self.series:
            self._hover.hide()
            return
        p = vb.mapSceneToView(pos)
        self._hover.setText(self.value_text_at(p.x()))
        self._hover.setPos(p.x(), p.y())
        self._hover.show()

    def reset(self) -> None:
        for curve in self.curves.values():
            self.plotItem.removeItem(curve)
            self.legend.removeItem(curve)
        if self.c_total is not None:
            self.plotItem.removeItem(self.c_total)
            self.legend.removeItem(self.c_total)
            self.c_total = None
        self.series.clear()
        self.curves.clear()
        self.total.clear()
        self.clear_markers()
        self.interval = None
        self._dirty = True
        self.refresh()
        self.reset_view()


class LrChart(_Chart):
    def __init__(self, parent=None):
        super().__init__("Learning rate", "lr", parent)
        self.lr = Series(256)
        self.curve = _curve(self.plotItem, "#2ca02c", 2.0)

    def add(self, step: float, lr: float) -> None:
        self.lr.append(step, lr)
        self._dirty = True

    def refresh(self) -> None:
        if self._dirty:
            self._dirty = False
            x, y = self.lr.view()
            self.curve.setData(x, y)
            self.say_empty("" if len(x) else self.EMPTY)
            if len(y):  # a constant lr would otherwise get a meaningless +-400 axis
                lo, hi = float(y.min()), float(y.max())
                self.plotItem.setYRange(0, hi * 1.15 if hi > 0 else 1, padding=0) if hi - lo < 1e-12 * max(
                    hi, 1
                ) else self.plotItem.enableAutoRange(axis="y")

    def reset(self) -> None:
        self.lr.clear()
        self._dirty = True
        self.refresh()
        self.reset_view()


class PredictionChart(QtWidgets.QStackedWidget):
    """Regression: the validation series with the model's predictions overlaid.
    Classification: a confusion matrix (rows = true class, columns = predicted)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.series_plot = pg.PlotWidget()
        legend = side_legend(self.series_plot.plotItem)
        follow_theme(self.series_plot, "Validation: actual vs predicted", lambda: legend)
        self.series_plot.plotItem.showGrid(x=True, y=True, alpha=0.15)
        self.c_true = _curve(self.series_plot.plotItem, "#7f7f7f", 1.5, "actual")
        self.c_pred = _curve(self.series_plot.plotItem, "#d62728", 1.5, "predicted")
        self.matrix_plot = pg.PlotWidget()
        follow_theme(self.matrix_plot, "Validation confusion matrix")
        self.matrix_plot.plotItem.invertY(True)
        self.matrix_plot.plotItem.setLabel("left", "true class")
        self.matrix_plot.plotItem.setLabel("bottom", "predicted class")
        self.image = pg.ImageItem()
        self.image.setColorMap(pg.colormap.get("viridis"))
        self.matrix_plot.plotItem.addItem(self.image)
        self._texts: list[pg.TextItem] = []
        self.addWidget(self.series_plot)
        self.addWidget(self.matrix_plot)
        self.placeholder = QtWidgets.QLabel("Predictions appear after the first epoch.")
        self.placeholder.setAlignment(QtCore.Qt.AlignCenter)
        self.addWidget(self.placeholder)
        self.setCurrentWidget(self.placeholder)
        self.matrix: np.ndarray | None = None

    def show_series(self, actual, predicted, x=None) -> None:
        actual = np.asarray(actual, dtype=float).reshape(-1)
        predicted = np.asarray(predicted, dtype=float).reshape(-1)
        x = np.arange(len(actual)) if x is None else np.asarray(x, dtype=float)
        self.c_true.setData(x, actual)
        self.c_pred.setData(x[: len(predicted)], predicted)
        self.setCurrentWidget(self.series_plot)

    def show_confusion(self, matrix, labels) -> None:
        m = np.asarray(matrix, dtype=float)
        self.matrix = m
        self.image.setImage(m.T, autoLevels=True)  # ImageItem is (x, y) = (predicted, true)
        for t in self._texts:
            self.matrix_plot.plotItem.removeItem(t)
        self._texts = []
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                t = pg.TextItem(f"{int(m[i, j])}", color="w", anchor=(0.5, 0.5))
                t.setPos(j + 0.5, i + 0.5)
                self.matrix_plot.plotItem.addItem(t)
                self._texts.append(t)
        ticks = [(k + 0.5, str(lab)) for k, lab in enumerate(labels)]
        self.matrix_plot.plotItem.getAxis("bottom").setTicks([ticks])
        self.matrix_plot.plotItem.getAxis("left").setTicks([ticks])
        self.setCurrentWidget(self.matrix_plot)

    def reset(self) -> None:
        self.c_true.setData([], [])
        self.c_pred.setData([], [])
        self.series_plot.plotItem.enableAutoRange()
        self.setCurrentWidget(self.placeholder)
