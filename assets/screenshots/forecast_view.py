"""Render the README / docs/forecasting.md screenshots of the Forecast view (a designer window on a run).

    QT_QPA_PLATFORM=offscreen python forecast_view.py DESIGN RUN OUT.png [WIDTHxHEIGHT] [SERIES]
    QT_QPA_PLATFORM=offscreen python forecast_view.py DESIGN RUN OUT.png WIDTHxHEIGHT backtest:K:EPOCHS

Opens DESIGN in a designer window, the Train panel's Data tab on the file RUN trained on (its plan), shows
RUN in the Forecast tab (as a click in the Runs tab does), waits for the forecast (computed off the GUI
thread) and grabs the window. With "backtest:K:EPOCHS" it starts a K-fold backtest from the Backtest tab
instead (EPOCHS per fold, the Training tab's setting), waits for it to finish and grabs that tab.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def wait(app, busy, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while busy() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)


def main(design: str, run: str, out: str, size: str = "1600x1000", series: str = "") -> int:
    from PySide6.QtWidgets import QApplication

    from rnn_studio.gui.app import create_app, shutdown_qt
    from rnn_studio.gui.main_window import MainWindow
    from rnn_studio.gui.monitor.forecast_view import run_data_spec

    app = create_app(theme="light")
    window = MainWindow(autosave=False, restore_state=False)
    if not window.open_path(design):
        print(f"error: {window.statusBar().currentMessage()}", file=sys.stderr)
        return 2
    width, height = (int(v) for v in size.split("x"))
    window.resize(width, height)
    window.show()
    app.processEvents()
    training = window.training
    training.show()
    window.open_bottom(training.dock, int(height * 0.62))
    panel = training.panel
    panel.set_runs_root(Path(run).parent)  # as given: a relative RUN keeps the paths shown short
    spec = run_data_spec(Path(run)) or {}
    if spec.get("path"):  # the Data tab on the run's file: its plan says "forecasts steps 1..H" and the season
        panel.set_data_file(str(spec["path"]))
        wait(app, panel.reading)
        panel.series.setCurrentIndex(max(panel.series.findData(spec.get("series")), 0))
        panel.target.setCurrentText(str(spec.get("target") or panel.target.currentText()))
        panel.refresh_plan()
    panel.chart_tabs.setCurrentWidget(panel.forecast_view)
    panel.show_run(Path(run))
    view = panel.forecast_view
    wait(app, view.busy)
    if series.startswith("backtest:"):
        _, folds, epochs = series.split(":")
        panel.epochs.setValue(int(epochs))
        backtest = panel.backtest_view
        panel.chart_tabs.setCurrentWidget(backtest)
        backtest.folds.setValue(int(folds))
        panel.runs_root.mkdir(parents=True, exist_ok=True)
        backtest.start()
        wait(app, backtest.is_running, 600)
    elif series:
        view.series_box.setCurrentText(series)
    window.view.open_view()
    for _ in range(5):
        app.processEvents()
    QApplication.instance().processEvents()
    if not window.grab().save(out):
        print(f"error: cannot write {out}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    window.undo.setClean()
    window.close()
    shutdown_qt()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
