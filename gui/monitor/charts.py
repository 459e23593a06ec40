"""The Train panel's live training charts: loss (with a log-scale box), gradient norms per block, learning
rate and validation predictions, in one grid. A part with its own state; RunMonitor (follower.py) feeds it."""

from __future__ import annotations

from PySide6 import QtWidgets

from .plots import GradChart, LossChart, LrChart, PredictionChart


class TrainingCharts(QtWidgets.QWidget):
    """loss_chart, grad_chart, lr_chart, pred_chart and log_box, laid out 2 x 2 with the box below."""

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        grid = QtWidgets.QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        self.loss_chart = LossChart()
        self.grad_chart = GradChart()
        self.lr_chart = LrChart()
        self.pred_chart = PredictionChart()
        self.log_box = QtWidgets.QCheckBox("log scale")
        self.log_box.toggled.connect(self.loss_chart.set_log)
        grid.addWidget(self.loss_chart, 0, 0)
        grid.addWidget(self.grad_chart, 0, 1)
        grid.addWidget(self.pred_chart, 1, 0)
        grid.addWidget(self.lr_chart, 1, 1)
        grid.addWidget(self.log_box, 2, 0)
        grid.setRowStretch(0, 3)
        grid.setRowStretch(1, 2)

    def reset(self, colors: dict) -> None:
        """Empty every chart (a new run, or another design); gradient curves take the blocks' `colors`."""
        for chart in (self.loss_chart, self.grad_chart, self.lr_chart, self.pred_chart):
            chart.reset()
        self.grad_chart.set_colors(colors)

    def refresh(self, grad_every: int | None = None) -> None:
        """Redraw what arrived; `grad_every` lets the empty gradient chart say when norms come."""
        if isinstance(grad_every, int):
            self.grad_chart.set_interval(grad_every)
        for chart in (self.loss_chart, self.grad_chart, self.lr_chart):
            chart.refresh()
