"""The Train and Tune charts: readable log axes, legends beside the curves, empty charts that say why,
theme colours that repaint on a switch and meet WCAG AA contrast."""

from __future__ import annotations

import itertools
import math

import pytest
from PySide6.QtGui import QColor

from rnn_studio.gui import theme as themes
from rnn_studio.gui.app import create_app
from rnn_studio.gui.monitor.plots import GradChart, LossChart


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


def test_empty_gradient_chart_says_why_and_a_new_run_clears_the_axes(qtbot, app):
    chart = GradChart()
    qtbot.addWidget(chart)
    chart.resize(420, 260)
    chart.show()
    chart.set_interval(25)
    chart.refresh()
    assert chart.empty_text.isVisible() and "every 25 steps" in chart.empty_text.toPlainText()
    for step in (25, 50, 75):
        chart.add(step, {"g": 0.5})
    chart.refresh()
    qtbot.wait(50)
    assert not chart.empty_text.isVisible()
    assert chart.plotItem.vb.viewRange()[0][1] >= 75
    chart.reset()  # a new run (also after Stop)
    qtbot.wait(50)
    assert not chart.series and chart.empty_text.isVisible()
    assert chart.plotItem.vb.viewRange()[0][1] < 75 or math.isclose(chart.plotItem.vb.viewRange()[0][1], 1, abs_tol=0.5)
