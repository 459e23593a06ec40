"""Does the designer's event loop stall while the Forecast tab computes and draws forecasts?

Trains the 12-step example design (assets/examples/forecast-12.rnn.json) on the two-shop example
(assets/examples/shops-monthly.csv) for a few epochs, opens a designer window offscreen with the Train
panel's Forecast tab, then asks for ROUNDS forecasts (Steps 12, 24, 12, ... : forecast_run off the GUI
thread) and switches the series after each one lands, while a 60 Hz QTimer records the gap between its
ticks. Target: the largest gap stays under 50 ms. As in bench_gui_responsiveness.py, "busiest gap" is
the most CPU the GUI process used within one gap (the worker thread's forecast counts there too: it is
the same process), less sensitive to other load than the gaps themselves.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/bench_forecast_view.py [ROUNDS]
"""

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(os.environ.get("BENCH_ROOT") or Path(__file__).resolve().parents[2])
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def train_example(out: Path) -> Path:
    from rnn_studio import engine
    from rnn_studio.engine.data import DataSpec
    from rnn_studio.engine.training.train import train

    project = engine.load_project(ROOT / "assets" / "examples" / "forecast-12.rnn.json")
    spec = DataSpec(path=str(ROOT / "assets" / "examples" / "shops-monthly.csv"), target="sales", series="shop")
    return Path(train(project, spec, {"epochs": 3, "threads": 1}, out_dir=str(out))["run"])


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    from PySide6 import QtCore

    from rnn_studio import engine
    from rnn_studio.gui.app import create_app, shutdown_qt
    from rnn_studio.gui.main_window import MainWindow

    app = create_app([], theme="light")
    run = train_example(Path(tempfile.mkdtemp()) / "runs")
    window = MainWindow(engine.load_project(ROOT / "assets" / "examples" / "forecast-12.rnn.json"), autosave=False)
    window.resize(1400, 900)
    window.show()
    window.training.show()
    panel = window.training.panel
    panel.set_runs_root(run.parent)
    panel.chart_tabs.setCurrentWidget(panel.forecast_view)
    view = panel.forecast_view
    view.set_run(run)  # the first forecast imports what it needs: not measured
    while view.busy():
        app.processEvents()
        time.sleep(0.005)
    gaps, busy, last = [], [], [time.perf_counter(), time.process_time()]

    def tick():
        now, cpu_now = time.perf_counter(), time.process_time()
        gaps.append((now - last[0]) * 1000)
        busy.append((cpu_now - last[1]) * 1000)
        last[:] = [now, cpu_now]

    drawn: list[float] = []  # GUI-thread time to draw a series (a landed forecast, a series switch)
    show = view.show_series

    def timed_show(index: int) -> None:
        t = time.perf_counter()
        show(index)
        drawn.append((time.perf_counter() - t) * 1000)

    view.show_series = timed_show
    timer = QtCore.QTimer(interval=16, timeout=tick)
    timer.start()

    def idle(seconds: float) -> None:  # the event loop runs freely (a person looking at the chart)
        loop = QtCore.QEventLoop()
        QtCore.QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    for k in range(rounds):
        view.steps.setValue(12 if k % 2 else 24)  # 24: beyond the design's 12, recursive
        while view.busy():
            idle(0.01)
        idle(0.2)
        view.series_box.setCurrentIndex((k + 1) % view.series_box.count())
        idle(0.2)
    timer.stop()
    gaps, busy = gaps[1:], busy[1:]
    p99 = sorted(gaps)[int(0.99 * (len(gaps) - 1))]
    print(
        f"{rounds} forecasts and series switches: 60 Hz timer {len(gaps)} ticks, median gap "
        f"{statistics.median(gaps):.1f} ms, p99 {p99:.1f} ms, max {max(gaps):.1f} ms (target < 50 ms), busiest gap "
        f"{max(busy):.1f} ms of CPU; drawing a series on the GUI thread: median {statistics.median(drawn):.1f} ms, "
        f"max {max(drawn):.1f} ms; load average {os.getloadavg()[0]:.1f}"
    )
    window.undo.setClean()
    window.close()
    shutdown_qt()


if __name__ == "__main__":
    main()
