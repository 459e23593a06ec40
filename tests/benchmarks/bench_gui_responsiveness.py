"""Does the designer's event loop stall while training runs at full speed?

A 60 Hz QTimer records the gap between its ticks while the Train panel follows a real training run
(seed-keras on the chaos demo, spawned process, metrics redrawn at 15 Hz) for DURATION seconds,
offscreen. Target: the largest gap stays under 50 ms.

Part of a long gap is time the GUI process waited for a core (the trainer and anything else running
compete for it), so the line also gives the most CPU the process used within one gap ("busiest gap"):
the GUI's own share of its worst stall, much less sensitive to load than the gaps themselves. On a busy
machine compare before/after side by side in one session.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/bench_gui_responsiveness.py [SECONDS]
(BENCH_ROOT=/other/checkout measures that checkout's code with this script.)
With BENCH_PROFILE=1 the measured phase runs under cProfile and the GUI-thread functions that took the most
time (timer handlers, pyqtgraph paint) are printed: profile the paint path before guessing.
"""

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(os.environ.get("BENCH_ROOT") or Path(__file__).resolve().parents[2])  # another checkout: before/after
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> None:
    duration = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    from PySide6 import QtCore

    from rnn_studio import engine
    from rnn_studio.gui.app import create_app, shutdown_qt
    from rnn_studio.gui.main_window import MainWindow

    app = create_app([], theme="light")
    project = engine.load_project(ROOT / "assets" / "examples" / "seed-keras.rnn.json")
    window = MainWindow(project, autosave=False)
    window.resize(1400, 900)
    window.show()
    panel = window.training.panel
    panel.set_runs_root(Path(tempfile.mkdtemp()) / "runs")
    panel.epochs.setValue(10_000)
    window.training.show()
    panel.start()
    # wait for the first metrics so the measurement covers training at full speed
    t0 = time.monotonic()
    while len(panel.loss_chart.train) < 5 and time.monotonic() - t0 < 60:
        app.processEvents()
        time.sleep(0.005)
    gaps, busy, last = [], [], [time.perf_counter(), time.process_time()]

    def tick():
        now, cpu_now = time.perf_counter(), time.process_time()
        gaps.append((now - last[0]) * 1000)
        busy.append((cpu_now - last[1]) * 1000)  # CPU the GUI process used within this gap
        last[:] = [now, cpu_now]

    timer = QtCore.QTimer()
    timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
    timer.setInterval(16)
    timer.timeout.connect(tick)
    steps0 = len(panel.loss_chart.train)
    profiler = None
    if os.environ.get("BENCH_PROFILE"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    cpu0 = time.process_time()
    timer.start()
    loop = QtCore.QEventLoop()
    QtCore.QTimer.singleShot(int(duration * 1000), loop.quit)
    loop.exec()
    timer.stop()
    cpu = time.process_time() - cpu0
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(18)
    steps = len(panel.loss_chart.train) - steps0
    panel.stop()
    t0 = time.monotonic()
    while panel.is_running() and time.monotonic() - t0 < 30:
        app.processEvents()
        time.sleep(0.01)
    gaps, busy = gaps[1:], busy[1:]
    q = statistics.quantiles(gaps, n=100)
    print(
        f"{duration:.0f} s of training ({steps} steps plotted, {steps / duration:.1f} steps/s) with the GUI "
        f"following at 15 Hz; 60 Hz timer: {len(gaps)} ticks, median gap {statistics.median(gaps):.1f} ms, "
        f"p99 {q[98]:.1f} ms, max {max(gaps):.1f} ms (target < 50 ms), busiest gap {max(busy):.1f} ms of CPU; "
        f"GUI process CPU {cpu / duration * 100:.0f} %, load average {os.getloadavg()[0]:.1f}"
    )
    shutdown_qt()


if __name__ == "__main__":
    main()
