"""The Train panel's result tabs: "Training" (the live charts), "Forecast" and "Backtest".

The Forecast view follows the run shown: a run that ended (or one picked in the Runs tab) is forecast
when its tab is shown; a live run clears it until it ends. The Backtest view starts `rnn-studio backtest`
on the current design with the Train tab's data and settings.
"""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtWidgets

from .backtest_view import BacktestView
from .follower import FAILED_REASONS
from .forecast_view import ForecastView


def _has_best(run: Path) -> bool:
    return (run / "checkpoints" / "best.pt").is_file()


def add_forecast_tabs(panel, training: QtWidgets.QWidget) -> QtWidgets.QTabWidget:
    """Tabs around the training charts; sets panel.chart_tabs, panel.forecast_view, panel.backtest_view."""
    tabs = panel.chart_tabs = QtWidgets.QTabWidget()
    tabs.setDocumentMode(True)
    panel.forecast_view = ForecastView()
    panel.backtest_view = BacktestView(panel)
    tabs.addTab(training, "Training")
    tabs.addTab(panel.forecast_view, "Forecast")
    tabs.addTab(panel.backtest_view, "Backtest")
    tabs.setTabToolTip(1, "The run's forecast past the end of its data, with intervals and metrics against baselines")
    tabs.setTabToolTip(2, "Rolling-origin backtest of the design: one training per fold")

    def shown(run_dir: str) -> None:
        run = Path(run_dir)
        live = panel.is_running() and panel.follower is not None and panel.follower.run_dir == run
        panel.forecast_view.set_run(None if live or not _has_best(run) else run)

    def finished(run_dir: str, end: dict) -> None:
        run = Path(run_dir)
        ok = str(end.get("stop_reason") or "") not in FAILED_REASONS and _has_best(run)
        panel.forecast_view.set_run(run if ok else None)

    panel.run_shown.connect(shown)
    panel.run_finished.connect(finished)
    return tabs
