"""Does the designer's event loop stall while training runs at full speed?

A 60 Hz QTimer records the gap between its ticks while the Train panel follows a real training run
(seed-keras on the chaos demo, spawned process, metrics redrawn at 15 Hz) for DURATION seconds,
offscreen. Target: the largest gap stays under 50 ms.

Part of a long gap is time the GUI process waited for a core (the trainer and anything else running
compete for it), so the line also gives the most CPU the process used within one gap ("busiest gap"):
the GUI's own share of its worst stall, much less sensitive to load than the gaps themselves. On a busy
machine compare before/after side by side in one session.

Other flows a person waits through (issue 23), each measured the same way from the moment it starts until
what it shows is on screen: `--flow csv` (choose a ~200 MB CSV in the Train panel: read, preview, plan),
`open400` (open a 400-block design), `import` (File > Import Model… of an ONNX GRU stack), `tabs`
(switch the bottom tabs and the Train panel's tabs every 150 ms while a run trains), `four` (four designer
windows, each following its own run). `--flow all` runs every flow, one line each.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/bench_gui_responsiveness.py [SECONDS] [--flow F]
(BENCH_ROOT=/other/checkout measures that checkout's code with this script.)
With BENCH_PROFILE=N the measured phase of a flow runs under cProfile and the N GUI-thread functions that took
the most time (timer handlers, pyqtgraph paint) are printed: profile the paint path before guessing. With
BENCH_TURNS=35 every gap over 35 ms lists the designer's calls that ran inside it (see TurnTracer).
"""

import itertools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(os.environ.get("BENCH_ROOT") or Path(__file__).resolve().parents[2])  # another checkout: before/after
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


class GapMeter:
    """A 60 Hz PreciseTimer recording the gaps between its ticks (and the CPU the process used in each)."""

    made: list["GapMeter"] = []

    def __init__(self):
        from PySide6 import QtCore

        self.gaps: list[float] = []
        self.busy: list[float] = []
        self.ends: list[float] = []  # perf_counter at each tick: where the long gaps were (BENCH_STALLS)
        GapMeter.made.append(self)
        self.last = [time.perf_counter(), time.process_time()]
        self.timer = QtCore.QTimer()
        self.timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self.timer.setInterval(16)
        self.timer.timeout.connect(self.tick)

    def tick(self) -> None:
        now, cpu_now = time.perf_counter(), time.process_time()
        self.gaps.append((now - self.last[0]) * 1000)
        self.busy.append((cpu_now - self.last[1]) * 1000)
        self.ends.append(now)
        self.last[:] = [now, cpu_now]

    def start(self) -> None:
        self.last[:] = [time.perf_counter(), time.process_time()]
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()
        # the gap still open when the flow ended counts too
        self.tick()

    def line(self) -> str:
        gaps = self.gaps[1:] or self.gaps
        q = statistics.quantiles(gaps, n=100) if len(gaps) > 2 else [max(gaps)] * 99
        return (
            f"{len(gaps)} ticks, median gap {statistics.median(gaps):.1f} ms, p99 {q[98]:.1f} ms, "
            f"max {max(gaps):.1f} ms (target < 50 ms), busiest gap {max(self.busy[1:] or self.busy):.1f} ms of CPU"
        )


class TurnTracer:
    """BENCH_TURNS=MS: every method of every class in rnn_studio.gui is wrapped to record its outermost calls
    (those made by the event loop: slots, timer handlers, paint overrides) and the canvas's C++ paint; after
    each flow, every gap longer than MS lists what ran inside it. A gap much longer than what it lists was
    spent in Qt's own layout/paint or waiting for a core. Calls on worker threads are listed too when the GUI
    thread is between calls (they take turns with it at the GIL). The wrappers slow the designer a little:
    compare gaps without BENCH_TURNS. (A stack-sampling thread was tried first: it needs the GIL and made the
    gaps it watched ~3x longer.)"""

    def __init__(self, threshold_ms: float):
        import functools
        import importlib
        import inspect
        import pkgutil

        self.threshold = threshold_ms
        self.calls: list[tuple[float, float, str]] = []  # (start, ms, name) of outermost calls
        self.depth = 0
        pkg = importlib.import_module("rnn_studio.gui")
        names = [m.name for m in pkgutil.walk_packages(pkg.__path__, "rnn_studio.gui.")]
        for mod in [pkg] + [importlib.import_module(n) for n in names]:
            for cname, cls in list(vars(mod).items()):
                if not (inspect.isclass(cls) and cls.__module__ == mod.__name__):
                    continue
                for fname, fn in list(vars(cls).items()):
                    if inspect.isfunction(fn) and not fname.startswith("__"):
                        setattr(cls, fname, functools.wraps(fn)(self.wrap(fn, f"{cname}.{fname}")))
        from rnn_studio.gui.canvas.view import DesignView

        def paintEvent(view, event, base=DesignView.__mro__[1].paintEvent):
            self.timed(base, "DesignView.paintEvent (C++, with drawBackground and items)", view, event)

        DesignView.paintEvent = paintEvent

    def wrap(self, fn, name):
        return lambda *a, **k: fn(*a, **k) if self.depth else self.timed(fn, name, *a, **k)

    def timed(self, fn, name, *args, **kwargs):
        self.depth += 1
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.depth -= 1
            self.calls.append((t0, (time.perf_counter() - t0) * 1000, name))

    def report(self) -> None:
        for meter in GapMeter.made:
            for gap, end in zip(meter.gaps, meter.ends, strict=False):
                if gap < self.threshold:
                    continue
                inside: dict[str, list[float]] = {}
                for t0, ms, name in self.calls:
                    if end - gap / 1000 - 0.001 <= t0 <= end:
                        inside.setdefault(name, []).append(ms)
                total = sum(sum(v) for v in inside.values())
                print(f"  gap {gap:.1f} ms, {total:.1f} ms in traced calls:")
                for name, ms in sorted(inside.items(), key=lambda kv: -sum(kv[1]))[:6]:
                    print(f"    {sum(ms):6.1f} ms  {len(ms):4d} x {name}")
        GapMeter.made.clear()
        self.calls.clear()


def run_until(app, done, timeout: float = 120.0) -> float:
    """Run the event loop until `done()`; returns the seconds it took."""
    from PySide6 import QtCore

    t0 = time.monotonic()
    loop = QtCore.QEventLoop()
    check = QtCore.QTimer()
    check.setInterval(5)
    check.timeout.connect(lambda: (done() or time.monotonic() - t0 > timeout) and loop.quit())
    check.start()
    loop.exec()
    check.stop()
    return time.monotonic() - t0


def measure(app, action, done, timeout: float = 120.0) -> tuple[GapMeter, float]:
    """Start the meter, let the loop run a few ticks, do `action` from the event loop, wait for `done()`."""
    from PySide6 import QtCore

    meter = GapMeter()
    meter.start()
    run_until(app, lambda: len(meter.gaps) >= 5, 5)
    profiler = None
    if os.environ.get("BENCH_PROFILE"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    QtCore.QTimer.singleShot(0, action)
    took = run_until(app, done, timeout)
    meter.stop()
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(int(os.environ["BENCH_PROFILE"]) or 18)
    return meter, took


def new_window(app, design: Path | None = None, runs: Path | None = None):
    from rnn_studio import engine
    from rnn_studio.gui.main_window import MainWindow

    project = engine.load_project(design or ROOT / "assets" / "examples" / "seed-keras.rnn.json")
    window = MainWindow(project, autosave=False)
    window.resize(1400, 900)
    window.show()
    if runs is not None:
        window.training.panel.set_runs_root(runs)
    return window


def start_training(app, window) -> None:
    panel = window.training.panel
    panel.epochs.setValue(10_000)
    window.training.show()
    panel.start()
    t0 = time.monotonic()  # wait for the first metrics: the measurement covers training at full speed
    while len(panel.loss_chart.train) < 5 and time.monotonic() - t0 < 60:
        app.processEvents()
        time.sleep(0.005)


def stop_training(app, windows) -> None:
    for w in windows:
        w.training.panel.stop()
    t0 = time.monotonic()
    while any(w.training.panel.is_running() for w in windows) and time.monotonic() - t0 < 30:
        app.processEvents()
        time.sleep(0.01)


def flow_follow(app, duration: float, tmp: Path) -> str:
    """The original flow: the Train panel follows a full-speed run for `duration` seconds."""
    window = new_window(app, runs=tmp / "runs")
    start_training(app, window)
    panel = window.training.panel
    steps0 = len(panel.loss_chart.train)
    cpu0 = time.process_time()
    meter, _ = measure(app, lambda: None, lambda: False, timeout=duration)
    cpu = time.process_time() - cpu0
    steps = len(panel.loss_chart.train) - steps0
    stop_training(app, [window])
    return (
        f"follow: {duration:.0f} s of training ({steps} steps plotted, {steps / duration:.1f} steps/s) with the GUI "
        f"following at 15 Hz; {meter.line()}; GUI process CPU {cpu / duration * 100:.0f} %"
    )


def big_csv(path: Path, mb: float = 200.0) -> Path:
    """A CSV of about `mb` MB: a date column, a shop column and seven numeric columns (written by numpy)."""
    import numpy as np

    rows = int(mb * 1e6 / 75.5)  # ~75 bytes a row
    rng = np.random.default_rng(0)
    with open(path, "w") as f:
        f.write("t,a,b,c,d,e,f,g,value\n")
        for start in range(0, rows, 200_000):
            n = min(200_000, rows - start)
            block = rng.normal(size=(n, 8)).round(5)
            t = np.arange(start, start + n)
            np.savetxt(f, np.column_stack([t, block]), fmt=["%d"] + ["%.5f"] * 8, delimiter=",")
    return path


def flow_csv(app, _duration: float, tmp: Path) -> str:
    data = big_csv(tmp / "big.csv", float(os.environ.get("BENCH_CSV_MB", "200")))
    size = data.stat().st_size / 1e6
    window = new_window(app, runs=tmp / "runs")
    window.training.show()
    panel = window.training.panel
    run_until(app, lambda: panel.plan is not None, 60)  # the demo's plan first

    def shown() -> bool:
        return not panel.reading() and panel.plan is not None and panel.plan.source == str(data)

    meter, took = measure(app, lambda: panel.set_data_file(str(data)), shown, timeout=300)
    return f"csv: {size:.0f} MB CSV chosen -> preview and plan shown in {took:.1f} s; {meter.line()}"


def design_of(n_blocks: int) -> dict:
    """A valid chain: Input, then GRU / Dense / Dropout blocks, a Dense(1) at the end."""
    blocks = [{"id": "x", "type": "Input", "params": {"timesteps": 16, "features": 4}}]
    kinds = [("GRU", {"units": 8, "return_sequences": True}), ("Dropout", {"rate": 0.1}), ("Dense", {"units": 8})]
    for i in range(n_blocks - 3):
        kind, params = kinds[i % len(kinds)]
        blocks.append({"id": f"b{i}", "type": kind, "params": params})
    blocks += [
        {"id": "last", "type": "GRU", "params": {"units": 8}},
        {"id": "y", "type": "Dense", "params": {"units": 1}},
    ]
    links = [[a["id"], b["id"]] for a, b in itertools.pairwise(blocks)]
    return {"format": "rnn-studio", "version": 1, "name": f"chain{n_blocks}", "blocks": blocks, "links": links}


def flow_open400(app, _duration: float, tmp: Path) -> str:
    import json

    path = tmp / "chain400.rnn.json"
    path.write_text(json.dumps(design_of(400)))
    window = new_window(app, runs=tmp / "runs")
    shown = lambda: len(window.scene.blocks) == 400 and not getattr(window.scene, "loading", False)  # noqa: E731
    meter, took = measure(app, lambda: window.open_path(str(path)), shown)
    return f"open400: a 400-block design opened in {took:.2f} s; {meter.line()}"


def onnx_model(path: Path) -> Path:
    import torch
    from torch import nn

    class Stack(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(4, 64, num_layers=2, batch_first=True, bidirectional=True)
            self.fc = nn.Linear(128, 1)

        def forward(self, x):
            h = self.gru(x)[1]  # h_n: the last layer's forward and backward final states
            return self.fc(torch.cat([h[-2], h[-1]], -1))

    torch.onnx.export(
        Stack().eval(),
        torch.randn(2, 16, 4),
        str(path),
        dynamo=False,
        input_names=["x"],
        output_names=["y"],
        dynamic_axes={"x": {0: "batch", 1: "time"}},
    )
    return path


def flow_import(app, _duration: float, tmp: Path) -> str:
    model = onnx_model(tmp / "stack.onnx")
    window = new_window(app, runs=tmp / "runs")
    imported = lambda: str(window.path or "").endswith("stack.rnn.json")  # noqa: E731
    meter, took = measure(app, lambda: window.import_later(str(model)), imported)  # what File > Import does
    return f"import: File > Import Model… of a 2-layer bi-GRU ONNX model done in {took:.2f} s; {meter.line()}"


def flow_tabs(app, duration: float, tmp: Path) -> str:
    from PySide6 import QtCore

    window = new_window(app, runs=tmp / "runs")
    start_training(app, window)
    panel = window.training.panel
    docks = [window.training.dock, window.problems_dock, window.training.tune_dock]
    turn = [0]

    def switch():
        i = turn[0] = turn[0] + 1
        docks[i % len(docks)].raise_()
        panel.tabs.setCurrentIndex(i % panel.tabs.count())

    switcher = QtCore.QTimer()
    switcher.setInterval(150)
    switcher.timeout.connect(switch)
    switcher.start()
    meter, _ = measure(app, lambda: None, lambda: False, timeout=duration)
    switcher.stop()
    stop_training(app, [window])
    return f"tabs: {turn[0]} tab switches in {duration:.0f} s while training; {meter.line()}"


def flow_four(app, duration: float, tmp: Path) -> str:
    windows = [new_window(app, runs=tmp / f"runs{i}") for i in range(4)]
    for w in windows:
        start_training(app, w)
    meter, _ = measure(app, lambda: None, lambda: False, timeout=duration)
    steps = [len(w.training.panel.loss_chart.train) for w in windows]
    stop_training(app, windows)
    return f"four: four windows following four runs for {duration:.0f} s (steps plotted {steps}); {meter.line()}"


FLOWS = {
    "follow": flow_follow,
    "csv": flow_csv,
    "open400": flow_open400,
    "import": flow_import,
    "tabs": flow_tabs,
    "four": flow_four,
}


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--flow")]
    flow = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--flow=")), None)
    if "--flow" in sys.argv:
        flow = sys.argv[sys.argv.index("--flow") + 1]
        args = [a for a in args if a != flow]
    duration = float(args[0]) if args else 30.0
    from rnn_studio.gui.app import create_app, shutdown_qt

    app = create_app([], theme="light")
    os.environ.setdefault("RNN_STUDIO_NO_RECOVERY_PROMPT", "1")
    turns = TurnTracer(float(os.environ["BENCH_TURNS"])) if os.environ.get("BENCH_TURNS") else None
    for name in list(FLOWS) if flow == "all" else [flow or "follow"]:
        with tempfile.TemporaryDirectory() as tmp:
            print(FLOWS[name](app, duration, Path(tmp)), flush=True)
            if turns is not None:
                turns.report()
            from rnn_studio.gui.main_window import MainWindow

            for window in list(MainWindow.windows):  # choices made by the flow (a data file): no "Save?" at exit
                window.undo.setClean()
                window.restored = False
                window.close()
    print(f"load average {os.getloadavg()[0]:.1f}")
    shutdown_qt()


if __name__ == "__main__":
    main()
