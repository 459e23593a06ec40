"""The Train and Tune charts: readable log axes, legends beside the curves, empty charts that say why,
theme colours that repaint on a switch and meet WCAG AA contrast."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
from PySide6.QtGui import QColor

from rnn_studio.gui import theme as themes
from rnn_studio.gui.app import create_app
from rnn_studio.gui.monitor.plots import GradChart, LossChart, LrChart


def _luminance(color: str) -> float:
    c = QColor(color)

    def lin(v: float) -> float:
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    return 0.2126 * lin(c.redF()) + 0.7152 * lin(c.greenF()) + 0.0722 * lin(c.blueF())


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize("theme", [themes.LIGHT, themes.DARK], ids=["light", "dark"])
def test_text_contrast_meets_wcag_aa(theme):
    # text on every surface it is drawn on (charts use `base`; muted text says why a chart is empty)
    for fg in (theme.text, theme.muted, theme.label_text):
        for bg in (theme.window, theme.base, theme.alt_base):
            assert contrast(fg, bg) >= 4.5, (theme.name, fg, bg)
    assert contrast(theme.label_text, theme.label_bg) >= 4.5
    assert contrast(theme.accent_text, theme.accent) >= 4.5
    # an unticked check box: its outline (muted) against the field (non-text contrast >= 3:1)
    assert contrast(theme.muted, theme.base) >= 3.0


@pytest.fixture
def app():
    app = create_app()
    yield app
    themes.manager().set_mode("light")


@pytest.mark.slow
def test_theme_switch_repaints_the_charts(qtbot, app):
    themes.manager().set_mode("light")
    chart = LossChart()
    qtbot.addWidget(chart)
    assert chart.backgroundBrush().color().name() == themes.LIGHT.base
    themes.manager().set_mode("dark")
    assert chart.backgroundBrush().color().name() == themes.DARK.base
    assert chart.plotItem.getAxis("left").textPen().color().name() == themes.DARK.text
    assert QColor(chart.plotItem.titleLabel.opts["color"]).name() == themes.DARK.text
    themes.manager().set_mode("light")
    assert chart.plotItem.getAxis("bottom").textPen().color().name() == themes.LIGHT.text


@pytest.mark.slow
def test_log_axis_labels_decades_without_overlap(qtbot, app):
    chart = GradChart()
    qtbot.addWidget(chart)
    chart.resize(420, 260)
    chart.show()
    for step in range(0, 400, 25):
        chart.add(step, {"g": 0.02 + 0.0004 * step, "l": 3e-5 * (1 + step)})
    chart.refresh()
    qtbot.wait(50)
    axis = chart.plotItem.getAxis("left")
    lo, hi = chart.plotItem.vb.viewRange()[1]
    ticks = axis.tickValues(lo, hi, axis.height())
    values = [v for _spacing, vals in ticks for v in vals]
    assert len(values) >= 2
    assert all(abs(v - round(v)) < 1e-9 for v in values)  # decades only over several decades
    gaps = [b - a for a, b in itertools.pairwise(values)]
    assert min(gaps) / (hi - lo) * axis.height() >= axis.MIN_SPACING_PX - 1  # labels do not overlap
    assert axis.tickStrings(values, 1, 1)[0] in ("1e-5", "1e-4", "0.001", "1e-6")


@pytest.mark.slow
def test_a_short_log_axis_over_one_decade_has_several_labels(qtbot, app):
    """Norms between 0.02 and 0.5 on an 80 px axis (a 1024x700 window): more than a lone "0.1"."""
    chart = GradChart()
    qtbot.addWidget(chart)
    axis = chart.plotItem.getAxis("left")
    lo, hi = math.log10(0.02), math.log10(0.5)
    for size in (80, 300):
        values = [v for _spacing, vals in axis.tickValues(lo, hi, size) for v in vals]
        assert len(values) >= 3, (size, values)
        gaps = [b - a for a, b in itertools.pairwise(values)]
        assert min(gaps) / (hi - lo) * size >= axis.MIN_SPACING_PX - 1  # still no overlap
        assert "0.1" in axis.tickStrings(values, 1, 1)


@pytest.mark.slow
def test_legend_sits_beside_the_curves(qtbot, app):
    chart = LossChart()
    qtbot.addWidget(chart)
    chart.resize(520, 260)
    chart.show()
    chart.add_steps(range(50), [1 / (1 + i) for i in range(50)])
    chart.refresh()
    qtbot.wait(50)
    legend = chart.legend.sceneBoundingRect()
    plot_area = chart.plotItem.vb.sceneBoundingRect().adjusted(1, 1, -1, -1)
    assert legend.width() > 0 and not legend.intersects(plot_area)


@pytest.mark.slow
def test_empty_gradient_chart_says_why_and_a_new_run_clears_the_axes(qtbot, app):
    chart = GradChart()
    qtbot.addWidget(chart)
    chart.resize(420, 260)
    chart.show()
    qtbot.wait(20)
    assert not chart.legend.isVisible()  # a new chart, before anything refreshed it
    chart.set_interval(25)
    chart.refresh()
    assert chart.empty_text.isVisible() and "every 25 steps" in chart.empty_text.toPlainText()
    assert not chart.legend.isVisible()  # no blocks yet: no empty legend frame in the corner
    for step in (25, 50, 75):
        chart.add(step, {"g": 0.5})
    chart.refresh()
    qtbot.wait(50)
    assert not chart.empty_text.isVisible() and chart.legend.isVisible()
    assert chart.plotItem.vb.viewRange()[0][1] >= 75
    chart.reset()  # a new run (also after Stop)
    qtbot.wait(50)
    assert not chart.series and chart.empty_text.isVisible() and not chart.legend.isVisible()
    assert chart.plotItem.vb.viewRange()[0][1] < 75 or math.isclose(chart.plotItem.vb.viewRange()[0][1], 1, abs_tol=0.5)


def _in_view(chart, xs, ys) -> bool:
    (x0, x1), (y0, y1) = chart.plotItem.vb.viewRange()
    return x0 <= min(xs) and max(xs) <= x1 and y0 <= min(ys) and max(ys) <= y1


@pytest.mark.slow
def test_following_a_run_moves_the_axes_rarely(qtbot, app):
    # every axis move re-lays and repaints the axis: while a run streams in, the step axis grows in round
    # steps and the y axis re-fits only when the loss leaves it, yet every point stays in view
    chart = LossChart()
    qtbot.addWidget(chart)
    chart.resize(520, 300)
    chart.show()
    moves = []
    chart.plotItem.vb.sigRangeChanged.connect(lambda *_a: moves.append(1))
    losses = [2.0 * math.exp(-s / 400) + 0.05 * math.sin(s) + 0.1 for s in range(1, 3001)]
    for k in range(0, 3000, 20):  # 150 frames of 20 steps (about 300 steps/s at 15 Hz)
        chart.add_steps(range(k + 1, k + 21), losses[k : k + 20])
        chart.refresh()
        assert _in_view(chart, [1, k + 20], losses[: k + 20]), k
        (x0, x1), (y0, y1) = chart.plotItem.vb.viewRange()
        assert (k + 19) / (x1 - x0) >= 1 / 3  # the data never shrinks to a corner
    # 16 moves; pyqtgraph's auto-range moved them at every one of the 150 frames, 25 % growth steps ~25 times
    assert len(moves) <= 20, len(moves)
    assert chart.plotItem.vb.viewRange()[0] == [0.0, 3000.0]  # round ends: ... 1000, 1500, 2000, 3000


@pytest.mark.slow
def test_the_view_refits_when_the_chart_is_resized(qtbot, app):
    chart = GradChart()
    qtbot.addWidget(chart)
    chart.resize(900, 500)
    chart.show()
    xs = list(range(25, 1001, 25))
    for i, step in enumerate(xs):
        chart.add(step, {"g": 1e-3 * step, "l": 2.0 / step})
        if i in (9, 19, 29):
            chart.refresh()  # while following, the norms left the view downwards: it re-fitted with room below
    chart.refresh()
    qtbot.wait(20)
    ys = [math.log10(v) for s in xs for v in (1e-3 * s, 2.0 / s)]  # log axis: the view is in decades
    for w, h in ((260, 140), (1400, 800), (420, 220)):
        chart.resize(w, h)
        qtbot.wait(20)
        assert _in_view(chart, xs, ys), (w, h)
        (x0, x1), (y0, y1) = chart.plotItem.vb.viewRange()
        assert (xs[-1] - xs[0]) / (x1 - x0) >= 1 / 3
        assert (max(ys) - min(ys)) / (y1 - y0) >= 0.85  # re-fitted to the data, not the room kept while following
        axis = chart.plotItem.getAxis("left")  # the labels re-space for the new height
        values = [v for _s, vals in axis.tickValues(y0, y1, axis.height()) for v in vals]
        assert values and all(
            (b - a) / (y1 - y0) * axis.height() >= axis.MIN_SPACING_PX - 1 for a, b in itertools.pairwise(values)
        )
    chart.plotItem.vb.scaleBy((0.5, 0.5))  # the user zooms in: a resize keeps their view
    chart.plotItem.vb.sigRangeChangedManually.emit([True, True])
    zoomed = [v for r in chart.plotItem.vb.viewRange() for v in r]
    chart.resize(700, 400)
    qtbot.wait(20)
    assert [v for r in chart.plotItem.vb.viewRange() for v in r] == pytest.approx(zoomed)


@pytest.mark.slow
def test_a_run_shorter_than_the_norm_interval_shows_gradient_norms(qtbot, app, tmp_path):
    from rnn_studio.engine import Block, Project
    from rnn_studio.engine.data import DataSpec
    from rnn_studio.engine.training.train import TrainConfig, train
    from rnn_studio.gui.monitor.panel import TrainPanel

    project = Project(
        "tiny",
        [
            Block("x", "Input", {"timesteps": 8, "features": 1}),
            Block("g", "GRU", {"units": 4}),
            Block("y", "Dense", {"units": 1}),
        ],
        [("x", "g"), ("g", "y")],
    )
    assert TrainConfig().grad_every > 10
    summary = train(
        project,
        DataSpec(demo="sine", demo_rows=400),
        {"epochs": 100, "max_steps": 10, "batch_size": 16, "threads": 1},
        out_dir=tmp_path,
    )
    panel = TrainPanel(lambda: project, runs_root=tmp_path)
    qtbot.addWidget(panel)
    panel.resize(1200, 700)
    panel.show()
    panel.attach(Path(summary["run"]), live=False)  # what the chart shows after the run (also while it runs)
    qtbot.wait(20)
    chart = panel.grad_chart
    assert set(chart.series) == {"g", "y"} and not chart.empty_text.isVisible()
    for curve in chart.curves.values():
        x, y = curve.getData()
        assert list(x) == [10.0] and y[0] > -20  # one record, at the run's last step (log10 of a norm)
        assert curve.scatter.isVisible() and len(curve.scatter.data) == 1  # drawn as a dot, not an empty line
        assert _in_view(chart, list(x), list(y))


@pytest.mark.slow
def test_a_theme_switch_recolours_legends_and_keeps_values_unscaled(qtbot, app):
    themes.manager().set_mode("light")
    loss, lr = LossChart(), LrChart()
    for chart in (loss, lr):
        qtbot.addWidget(chart)
        chart.resize(420, 240)
        chart.show()
    loss.add_steps(range(1, 40), [1 / i for i in range(1, 40)])
    for step in range(1, 40):
        lr.add(step, 1e-3 * (1 - step / 80))
    loss.refresh()
    lr.refresh()
    themes.manager().set_mode("dark")
    for _sample, label in loss.legend.items:  # the drawn text, not just the stored option
        assert QColor(themes.DARK.text).name() in label.item.toHtml().lower(), label.text
    axis = lr.plotItem.getAxis("left")  # learning rates read 0.0008, not 0.8 with no "x0.001" anywhere
    assert axis.autoSIPrefixScale == 1.0 and "(x" not in axis.labelString()
    lo, hi = lr.plotItem.vb.viewRange()[1]
    assert hi < 0.01


@pytest.mark.slow
def test_charts_keep_their_share_of_a_small_window_across_theme_switches(qtbot, app, tmp_path):
    from rnn_studio.engine import Block, Project
    from rnn_studio.gui.monitor.panel import TrainPanel

    project = Project("t", [Block("x", "Input", {"timesteps": 8, "features": 1}), Block("y", "Dense", {"units": 1})])
    panel = TrainPanel(lambda: project, runs_root=tmp_path)
    qtbot.addWidget(panel)
    panel.resize(1024, 500)
    panel.show()
    panel.pred_chart.show_series([0.1 * i for i in range(50)], [0.1 * i + 0.05 for i in range(50)])
    for mode in ("dark", "light", "dark", "light"):
        themes.manager().set_mode(mode)
        qtbot.wait(20)
    widths = [c.width() for c in (panel.loss_chart, panel.grad_chart, panel.lr_chart, panel.pred_chart)]
    assert max(widths) < 1.25 * min(widths), widths  # each re-layout used to widen one column further
    view = panel.pred_chart.series_plot  # its long title and legend fit: the legend is not cut off
    assert view.plotItem.legend.sceneBoundingRect().right() <= view.viewport().width()


@pytest.mark.slow
def test_a_compared_run_is_fitted_into_view(qtbot, app):
    chart = LossChart()
    qtbot.addWidget(chart)
    chart.resize(520, 300)
    chart.show()
    chart.add_steps(range(1, 51), [1 / i for i in range(1, 51)])
    chart.refresh()
    steps = list(range(1, 501))
    chart.overlay(steps, [3 / i for i in steps], [100, 200], [0.5, 0.4], "older run")
    assert _in_view(chart, steps, [3 / i for i in steps] + [1.0])


@pytest.mark.slow
def test_a_range_step_repaints_the_chart_once(qtbot, app):
    # pyqtgraph applies a new range during the paint, and the moved items then asked for a second paint
    from PySide6 import QtCore

    chart = GradChart()
    qtbot.addWidget(chart)
    chart.resize(400, 300)
    chart.show()
    qtbot.waitExposed(chart)
    paints = []

    class Count(QtCore.QObject):
        def eventFilter(self, obj, event):
            if event.type() == QtCore.QEvent.Type.Paint:
                paints.append(1)
            return False

    counter = Count()
    chart.viewport().installEventFilter(counter)
    per_move = []
    for k in range(1, 12):
        chart.add(25 * k, {"a": 1.0 / k, "b": 0.5})
        before = chart.plotItem.vb.viewRange()
        chart.refresh()
        moved = chart.plotItem.vb.viewRange() != before
        qtbot.wait(30)
        if moved and k > 1:
            per_move.append(len(paints))
        paints.clear()
    assert per_move and max(per_move) == 1, per_move
