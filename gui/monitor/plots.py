"""The monitor's pyqtgraph charts. Each chart keeps numpy buffers, is fed records as they arrive,
and redraws only from `refresh()`, which the panel calls from a QTimer at a bounded rate (15 Hz), so
plotting cost never depends on how fast metrics arrive. Curves use peak downsampling and clip to view
(smooth with 100k+ points); non-finite values are filtered before plotting and marked instead.

Paint cost (cProfile of tests/benchmarks/bench_gui_responsiveness.py): a chart's axes are replayed from a
cached pixmap until the axis range or style changes, then re-laid (tick values, strings, text boxes) and
re-recorded, which cost ~4 ms an axis. So the view ranges move in few, large steps: the step axis grows
to the next round value (1, 1.5, 2, 3, 4, 6, 8 x 10^k), the y axis re-fits only when the data leaves it
or fills less than a third of it, and nothing restyles an axis unless its state changes.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from .. import theme as themes
from .series import Series

pg.setConfigOptions(antialias=False, foreground="#444", background=None)  # antialiased streaming curves cost paint time

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]


class LogAxis(pg.AxisItem):
    """A log-scale axis that labels decades (0.001, 0.01, 0.1, 1 ...) and, over less than two decades, 1-3 or
    1-2-5 steps, never more labels than fit: no "0.02 0.03 0.04" piled on top of each other, and not a
    lone "0.1" on a short chart whose norms span one decade."""

    MIN_SPACING_PX = 22

    def tickValues(self, minVal, maxVal, size):
        if not self.logMode or not (math.isfinite(minVal) and math.isfinite(maxVal)) or maxVal <= minVal:
            return super().tickValues(minVal, maxVal, size)
        px_per_unit = size / (maxVal - minVal)
        lo, hi = math.floor(minVal), math.ceil(maxVal)
        best: list[float] | None = None
        for mantissas in ([1], [1, 3], [1, 2, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9]):  # 1-3: a short axis
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
        # no SI scaling: "loss (x0.001)" over "500" reads as a loss of 500. pyqtgraph 0.14's enableAutoSIPrefix(False)
        # still recomputes the scale from the current range (an lr axis then read 0.2 .. 0.8 after a theme
        # switch, with no unit shown): no range enables a prefix
        axis.setSIPrefixEnableRanges(())
        axis.enableAutoSIPrefix(False)
        axis.setPen(pg.mkPen(t.muted))
        axis.setTextPen(pg.mkPen(t.text))
    if title is not None:
        item.setTitle(title, size="10pt", color=t.text)
    if legend is not None:
        legend.setLabelTextColor(t.text)  # pyqtgraph stores it but redraws only labels set afterwards:
        for _sample, label in legend.items:
            label.setText(label.text, color=t.text)
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
    # as tall as its rows, at the top: stretched over the plot's height the entries stood 60 px apart
    legend.setSizePolicy(QtWidgets.QSizePolicy.Policy.Preferred, QtWidgets.QSizePolicy.Policy.Maximum)
    plot.layout.setAlignment(legend, QtCore.Qt.AlignmentFlag.AlignTop)
    # the title spans the legend's column too: over the curves' column alone a long title ("Validation:
    # actual vs predicted") plus the legend made the plot wider than a narrow chart, cutting the legend off
    plot.layout.removeItem(plot.titleLabel)
    plot.layout.addItem(plot.titleLabel, 0, 1, 1, 3)
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


NICE = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0)  # round axis ends, at most 1.5x apart


def nice_ceil(v: float) -> float:
    """The smallest 1, 1.5, 2, 3, 4, 6 or 8 x 10^k that is >= v (v > 0): step-axis ends that change rarely
    (7 times a decade) and leave the data about 2/3 of the axis or more (1-2-5 steps left a finished run in
    the left 40 %)."""
    if not (v > 0 and math.isfinite(v)):
        return 1.0
    k = 10.0 ** math.floor(math.log10(v))
    for m in NICE:
        if m * k >= v * (1 - 1e-12):
            return m * k
    return 10.0 * k


def follow_x(lo: float, hi: float, view: tuple[float, float] | None) -> tuple[float, float] | None:
    """The step range to show data spanning lo..hi, or None to keep `view`: it grows to the next round
    width (nice_ceil) with room ahead, so a run at full speed moves the axis 7 times per decade of steps."""
    if view is not None:
        v0, v1 = view
        if v0 <= lo and hi <= v1 and (hi - lo) >= (v1 - v0) / 3:
            return None
    # a fresh run starts at the origin (so does a lone first point); a resumed one at its step
    start = 0.0 if lo >= 0 and (lo <= 0.25 * hi or hi - lo < 1) else lo
    return start, start + nice_ceil(max(hi - start, 1.0) * 1.05)


def follow_y(
    lo: float, hi: float, view: tuple[float, float] | None, floor: float | None = None
) -> tuple[float, float] | None:
    """The value range to show data spanning lo..hi (view coordinates, log10 on a log axis), or None to
    keep `view` (hysteresis): re-fit only when the data leaves the view or fills less than a third of it.
    A re-fit leaves 5 % margin, and 30 % more on the side the data left from (a falling loss keeps falling);
    `floor` (0 for a non-negative linear axis) bounds the margin below."""
    span = hi - lo
    if span <= 1e-9 * max(abs(hi), abs(lo), 1e-300):  # one value (a constant learning rate)
        if floor is not None and lo > floor:  # from the floor up: 0.001 reads as 0.001, not "+-400"
            lo, hi = floor, hi + 0.15 * (hi - floor)
        else:
            half = abs(hi) * 0.15 if hi != 0 else 1.0
            lo, hi = lo - half, hi + half
        span = hi - lo
    if view is not None:
        v0, v1 = view
        if v0 <= lo and hi <= v1 and span >= (v1 - v0) / 3:
            return None
    below = 0.35 if view is not None and lo < view[0] else 0.05
    above = 0.35 if view is not None and hi > view[1] else 0.05
    y0, y1 = lo - below * span, hi + above * span
    if floor is not None and lo >= floor:
        y0 = max(y0, floor)
    return y0, y1


class _Chart(pg.PlotWidget):
    EMPTY = "no run yet — Start training fills this chart"

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
        self.following = True  # the view follows the data until the user pans or zooms
        self._fitted = False  # False: the next data sets both ranges afresh (a new run, a new scale)
        self.plotItem.vb.disableAutoRange()  # settle_ranges() sets the ranges, in few steps
        self.plotItem.vb.sigRangeChangedManually.connect(self._user_moved)
        for name in ("left", "bottom"):  # replay the axis (labels, grid) from a pixmap until its range changes:
            # QPicture.play of the axes was most of the paint time while following a run (cProfile)
            self.plotItem.getAxis(name).setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.empty_text = pg.TextItem("", anchor=(0.5, 0.5))
        self.empty_text.textItem.document().setDefaultTextOption(QtGui.QTextOption(QtCore.Qt.AlignmentFlag.AlignCenter))
        self.empty_text.setParentItem(self.plotItem.vb)  # in view pixels: stays centred whatever the range
        self._said: str | None = None
        self._last_refresh = -math.inf
        self._later = QtCore.QTimer(self)
        self._later.setSingleShot(True)
        self._later.timeout.connect(self.refresh)
        follow_theme(self, title, lambda: self.legend)
        self.say_empty(self.EMPTY)

    def sizeHint(self) -> QtCore.QSize:
        # QGraphicsView's hint is its scene rect, which pyqtgraph sets to the current size: each re-layout
        # (a theme switch) let the wider chart column grow at its neighbours' expense until they were slivers
        return QtCore.QSize(320, 200)

    def _user_moved(self, *_args) -> None:
        self.following = False

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if getattr(self, "empty_text", None) is None or self.plotItem is None:  # while built / closed
            return
        self._place_empty_text()
        self.settle_ranges(refit=True)  # a new size: fit the data afresh (unless the user zoomed)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refresh()  # what arrived while hidden

    def say_empty(self, text: str) -> None:
        """A line in the middle of an empty chart that says why it is empty ('' hides it); an empty chart
        shows no tick values (a meaningless 0..1 range would only crowd a narrow chart). Only a change
        touches the axes: restyling one throws away its cached picture (a full re-layout and repaint)."""
        if text == self._said:
            return
        self._said = text
        self.empty_text.setColor(themes.current().muted)
        self.empty_text.setText(text)
        self.empty_text.setVisible(bool(text))
        self._place_empty_text()
        for name in ("left", "bottom"):
            self.plotItem.getAxis(name).setStyle(showValues=not text)

    def _place_empty_text(self) -> None:
        """Centred in the plot area, wrapped to its width (a narrow chart showed half of the sentence)."""
        area = self.plotItem.vb.boundingRect()
        self.empty_text.setTextWidth(max(60.0, area.width() - 16))
        self.empty_text.setPos(area.center())

    def has_data(self) -> bool:
        return any(item.xData is not None and len(item.xData) for item in self.plotItem.listDataItems())

    def reset_view(self) -> None:
        """Forget the previous run's axes: the next data sets them afresh (and draws at once)."""
        self.plotItem.vb.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
        self.following = True
        self._fitted = False
        self._last_refresh = -math.inf

    MIN_INTERVAL_S = 0.0  # at most one redraw per this many seconds (the panel's timer sets the pace)

    def refresh(self) -> None:
        """Draw what arrived since the last refresh: one setData per curve, then settle the ranges. Nothing
        while hidden (showEvent draws), and not more often than MIN_INTERVAL_S (a deferred refresh follows,
        so the last records are always drawn)."""
        if not self._dirty or not self.isVisible():
            return
        wait = self._last_refresh + self.MIN_INTERVAL_S - time.monotonic()
        if wait > 0:
            if not self._later.isActive():
                self._later.start(int(wait * 1000) + 1)
            return
        self._last_refresh = time.monotonic()
        self._dirty = False
        self.redraw()
        self.settle_ranges()

    def redraw(self) -> None:
        """Hand the buffers to the curves (subclasses)."""

    def data_bounds(self) -> tuple[float, float, float, float] | None:
        """(x0, x1, y0, y1) of the plotted curves in view coordinates (log10 on a log axis), None if empty."""
        xs: list[float] = []
        ys: list[float] = []
        log_y = bool(self.plotItem.getAxis("left").logMode)
        for item in self.plotItem.listDataItems():
            x, y = item.xData, item.yData  # all the data (dataBounds() only knows the part clipped to the view)
            if not item.isVisible() or x is None or y is None or not len(x):
                continue
            if log_y:
                with np.errstate(divide="ignore", invalid="ignore"):
                    y = np.log10(y)
            ok = np.isfinite(y)
            if not ok.all():
                x, y = x[ok], y[ok]
                if not len(x):
                    continue
            xs += [float(x.min()), float(x.max())]
            ys += [float(y.min()), float(y.max())]
        if not xs:
            return None
        return min(xs), max(xs), min(ys), max(ys)

    def settle_ranges(self, refit: bool = False) -> None:
        """Follow the data with few axis changes (follow_x, follow_y); `refit` fits both afresh. Every axis
        change re-lays its labels and repaints it, which was most of the GUI's paint time with pyqtgraph's
        auto-range re-fitting at every frame (cProfile)."""
        if not self.following:
            return
        bounds = self.data_bounds()
        if bounds is None:
            return
        bx0, bx1, by0, by1 = bounds
        vb = self.plotItem.vb
        old = None if (refit or not self._fitted) else vb.viewRange()
        log_y = bool(self.plotItem.getAxis("left").logMode)
        xr = follow_x(bx0, bx1, None if old is None else tuple(old[0]))
        yr = follow_y(by0, by1, None if old is None else tuple(old[1]), None if log_y else 0.0)
        self._fitted = True
        if xr is not None and yr is not None:
            vb.setRange(xRange=xr, yRange=yr, padding=0)
        elif xr is not None:
            vb.setXRange(*xr, padding=0)
        elif yr is not None:
            vb.setYRange(*yr, padding=0)
        if xr is not None or yr is not None:
            # apply the new transform now: pyqtgraph defers it to the paint, whose re-placed items then
            # ask for a second paint of the chart in the same frame
            vb.updateMatrix()

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
        self._fitted = False  # re-fit in the new scale
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
        self._fitted, self._dirty = False, True  # fit both runs
        self.refresh()

    def clear_overlays(self) -> None:
        for item in self.overlays:
            self.plotItem.removeItem(item)
        self.overlays.clear()

    def redraw(self) -> None:
        self.c_train.setData(*self.train.view())
        self.c_smooth.setData(*self.smooth.view())
        self.c_val.setData(*self.val.view())
        self.say_empty("" if self.has_data() else self.EMPTY)

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
        self.legend.setVisible(False)  # shown by redraw once blocks have norms: no empty frame before
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

    FEW = 40  # up to this many records a curve also marks each point: one record is a dot, not nothing

    def redraw(self) -> None:
        self.say_empty(self.empty_reason())
        if self.legend is not None and self.legend.isVisible() != bool(self.legend.items):
            self.legend.setVisible(bool(self.legend.items))  # no blocks yet: no empty legend frame
        curves = [(self.curves[bid], s) for bid, s in self.series.items()]
        if self.c_total is not None:
            curves.append((self.c_total, self.total))
        for curve, series in curves:
            x, y = series.view()
            few = len(x) <= self.FEW
            if few != (curve.opts["symbol"] is not None):
                curve.setSymbol("o" if few else None)
                curve.setSymbolSize(5)
                curve.setSymbolPen(None)
                curve.setSymbolBrush(curve.opts["pen"].color())
            curve.setData(x, y)

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

    MIN_INTERVAL_S = 0.25  # the learning rate changes slowly: 4 redraws a second are plenty

    def redraw(self) -> None:
        x, y = self.lr.view()
        self.curve.setData(x, y)
        self.say_empty("" if len(x) else self.EMPTY)

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
        self.placeholder.setWordWrap(True)  # a narrow column wraps it instead of widening the column
        self.addWidget(self.placeholder)
        self.setCurrentWidget(self.placeholder)
        self.matrix: np.ndarray | None = None

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(320, 200)  # as _Chart.sizeHint: the pages' hints would widen the column

    def show_series(self, actual, predicted, x=None) -> None:
        actual = np.asarray(actual, dtype=float).reshape(-1)
        predicted = np.asarray(predicted, dtype=float).reshape(-1)
        x = np.arange(len(actual)) if x is None else np.asarray(x, dtype=float)
        self.c_true.setData(x, actual)
        self.c_pred.setData(x[: len(predicted)], predicted)
        self.series_plot.plotItem.vb.prepareForPaint()  # auto-range now: deferred to the paint it costs two
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
