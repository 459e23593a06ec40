"""The Train panel's result tabs: "Training" (the live charts), "Forecast" and "Backtest".

The Forecast view follows the run shown: a run that ended (or one picked in the Runs tab) is forecast
when its tab is shown; a live run clears it until it ends. The Backtest view starts `rnn-studio backtest`
on the current design with the Train tab's data and settings.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6 import QtWidgets

from .backtest_view import BacktestSource, BacktestView
from .follower import FAILED_REASONS
from .forecast_view import ForecastView


def _has_best(run: Path) -> bool:
    return (run / "checkpoints" / "best.pt").is_file()


class ForecastTabs(QtWidgets.QTabWidget):
    """Tabs around the training charts: "Training", "Forecast" (forecast_view) and "Backtest" (backtest_view).

    A part of the Train panel: it is given the charts widget, the backtest's source and `live(run)` (whether
    that run is training now); the panel calls `run_shown(run)` and `run_finished(run, end)`."""

    def __init__(
        self,
        training: QtWidgets.QWidget,
        source: BacktestSource,
        live: Callable[[Path], bool] = lambda _run: False,
        parent: QtWidgets.QWidget | None = None,
    ):
        super().__init__(parent)
        self.live = live
        self.setDocumentMode(True)
        self.forecast_view = ForecastView()
        self.backtest_view = BacktestView(source)
        self.addTab(training, "Training")
        self.addTab(self.forecast_view, "Forecast")
        self.addTab(self.backtest_view, "Backtest")
        self.setTabToolTip(
            1, "The run's forecast past the end of its data, with intervals and metrics against baselines"
        )
        self.setTabToolTip(2, "Rolling-origin backtest of the design: one training per fold")

    def run_shown(self, run_dir: str) -> None:
        """A run's history is on the charts: forecast it, unless it is still training (until it ends)."""
        run = Path(run_dir)
        self.forecast_view.set_run(None if self.live(run) or not _has_best(run) else run)

    def run_finished(self, run_dir: str, end: dict) -> None:
        run = Path(run_dir)
        ok = str(end.get("stop_reason") or "") not in FAILED_REASONS and _has_best(run)
        self.forecast_view.set_run(run if ok else None)
