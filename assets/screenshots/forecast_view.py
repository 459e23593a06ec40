"""Render the README / docs/forecasting.md screenshots of the Forecast view (a designer window on a run).

    QT_QPA_PLATFORM=offscreen python assets/screenshots/forecast_view.py DESIGN RUN OUT.png [WIDTHxHEIGHT] [SERIES]

Opens DESIGN in a designer window, opens the Train panel on RUN (as a click in its Runs tab does), shows
the Forecast tab, waits for the forecast (computed off the GUI thread) and grabs the window.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def main(design: str, run: str, out: str, size: str = "1600x1000", series: str = "") -> int:
    from PySide6.QtWidgets import QApplication

    from rnn_studio.gui.app import create_app, shutdown_qt
    from rnn_studio.gui.main_window import MainWindow

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
    panel.set_runs_root(Path(run).resolve().parent)
    panel.tabs.setCurrentWidget(panel.tabs.widget(2))  # the Runs tab, with the run selected
    for i in range(panel.runs.count()):
        if Path(panel.runs.item(i).data(0x0100)).name == Path(run).name:
            panel.runs.setCurrentRow(i)
    panel.chart_tabs.setCurrentWidget(panel.forecast_view)
    panel.show_run(Path(run))
    view = panel.forecast_view
    deadline = time.monotonic() + 60
    while view.busy() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    if series:
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
