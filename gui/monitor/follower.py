"""Following a run folder: RunFollower tails metrics.jsonl; RunMonitor (a part of the Train panel)
turns each typed record (engine/training/records.py) into chart points, progress, alerts and the end message.

The records are read from a QTimer (REDRAW_HZ), coalesced into the charts' buffers, and the charts
redraw at that bounded rate however fast metrics arrive. Every value shown is a record field (e.g. the
diverged step), never parsed out of text.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

from rnn_studio.engine.training.diagnose import GradWatch
from rnn_studio.engine.training.follow import MetricsTail
from rnn_studio.engine.training.records import diverged_step, is_diverged, number, parse_record

from .charts import TrainingCharts

REDRAW_HZ = 15
FAILED_REASONS = ("error", "crashed", "out of memory")


class FrameClock(QtCore.QObject):
    """One clock for every run followed in this process: each turn of its 60 Hz timer ticks at most one
    monitor, the one waiting longest once its 1/REDRAW_HZ has passed. Four windows following four runs had
    four 15 Hz timers, and Qt fires coarse timers that fall due together in one pass: four polls and
    redraws back to back held the event loop (bench_gui_responsiveness --flow four). Each monitor still
    redraws at ~15 Hz up to four runs; with more, each one slows so that a turn never holds more than one."""

    TURN_MS = 16
    _shared: FrameClock | None = None

    def __init__(self) -> None:
        super().__init__(QtCore.QCoreApplication.instance())
        self.slots: list[FrameSlot] = []
        self.timer = QtCore.QTimer(self)
        self.timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self.timer.setInterval(self.TURN_MS)
        self.timer.timeout.connect(self.turn)

    @classmethod
    def shared(cls) -> FrameClock:
        import shiboken6

        if cls._shared is None or not shiboken6.isValid(cls._shared):  # none yet, or gone with its application
            cls._shared = cls()
        return cls._shared

    def add(self, slot: FrameSlot) -> None:
        if slot not in self.slots:
            self.slots.append(slot)
        self.timer.start()

    def remove(self, slot: FrameSlot) -> None:
        if slot in self.slots:
            self.slots.remove(slot)
        if not self.slots:
            self.timer.stop()

    def turn(self) -> None:
        now = time.monotonic()
        due = [s for s in self.slots if now - s.last >= s.period]
        if due:
            slot = min(due, key=lambda s: s.last)
            slot.last = now
            try:
                slot.callback()
            except RuntimeError:  # its monitor's window was destroyed while it followed a run
                self.remove(slot)


class FrameSlot:
    """A monitor's place on the FrameClock, with a timer's start / stop / isActive."""

    def __init__(self, callback: Callable[[], None], hz: float = REDRAW_HZ):
        self.callback = callback
        self.period = 1.0 / hz - FrameClock.TURN_MS / 2000  # due on the clock's turn nearest 1/hz
        self.last = 0.0
        self.active = False

    def start(self) -> None:
        self.active = True
        self.last = time.monotonic()
        FrameClock.shared().add(self)

    def stop(self) -> None:
        self.active = False
        if self in getattr(FrameClock._shared, "slots", ()):
            FrameClock.shared().remove(self)

    def isActive(self) -> bool:
        return self.active


def _fmt_time(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class RunFollower(QtCore.QObject):
    """Reads a run's metrics.jsonl and dispatches records to the charts; remembers the whole stream."""

    def __init__(self, panel: QtCore.QObject, run_dir: Path):
        super().__init__(panel)
        self.panel = panel
        self.run_dir = Path(run_dir)
        self.tail = MetricsTail(self.run_dir / "metrics.jsonl")
        self.start: dict[str, Any] | None = None
        self.end: dict[str, Any] | None = None
        self.last_step = 0
        self.t0 = time.monotonic()
        self.records = 0
        self.pred_mtime: int | None = None  # predictions.json as last shown

    def poll(self) -> list[dict[str, Any]]:
        recs = self.tail.read_new()
        self.records += len(recs)
        return recs


def end_message(end: dict[str, Any]) -> tuple[str, str]:
    """The status line for a run's end record or summary, and its level: "error", "warning" or ""."""
    reason = str(end.get("stop_reason") or "")
    metric = next(
        (f"{k} {end[k]:.4g}" for k in ("val_rmse", "val_accuracy", "val_loss") if number(end.get(k)) is not None),
        "",
    )
    base = number(end.get("val_persistence_rmse"))  # the same split as the metric beside it
    extra = f" (persistence {base:.4g})" if base is not None and metric.startswith("val_rmse") else ""
    text = f"Run ended: {reason}" + (f" · best {metric}{extra}" if metric else "")
    if end.get("message"):
        text += f" — {end['message']}"
    failed = reason in FAILED_REASONS or is_diverged(reason)
    if end.get("beats_persistence") is False and not failed:
        split = end.get("persistence_split") or "test"
        name = "validation" if split == "val" else "test"
        text += (
            f" — Warning: the model does not beat persistence on the {name} split "
            f"({end.get(split + '_rmse', float('nan')):.4g} vs "
            f"{end.get(split + '_persistence_rmse', float('nan')):.4g})"
        )
        return text, "warning"
    if end.get("beats_seasonal_naive") is False and not failed:  # issue 19: the forecaster's baseline
        split = end.get("seasonal_naive_split") or end.get("persistence_split") or "test"
        text += (
            f" — Warning: the model does not beat seasonal naive (season {end.get('season', '?')}) on the "
            f"{'validation' if split == 'val' else 'test'} split (MASE {end.get(split + '_mase', float('nan')):.4g} "
            f"vs {end.get(split + '_seasonal_naive_mase', float('nan')):.4g})"
        )
        return text, "warning"
    return text, "error" if failed else ""


class RunMonitor(QtCore.QObject):
    """Follows one run at a time into the charts and the progress bar: a part of the Train panel with its own
    state (the trainer process it watches, the follower, the gradient watch, the alerts, the redraw timer).

    It is given the charts, the progress bar, `colors()` ({block id: colour} for the gradient curves) and
    `visible()` (whether drawing is worth it); it never touches the panel's buttons or status line: it says
    what to show with `status(text, level)` and that a run ended with `finished(run folder, end record)`.
    """

    status = QtCore.Signal(str, str)  # a status line and its level: "error", "warning" or ""
    alert = QtCore.Signal(str, str, str)  # block id ('' for none), kind, message
    alerts_cleared = QtCore.Signal()
    run_shown = QtCore.Signal(str)  # a run's history is shown (live or from the runs list)
    finished = QtCore.Signal(str, dict)  # the followed run ended (its end record or summary)

    def __init__(
        self,
        charts: TrainingCharts,
        progress: QtWidgets.QProgressBar,
        colors: Callable[[], dict] = dict,
        visible: Callable[[], bool] = lambda: True,
        parent: QtCore.QObject | None = None,
    ):
        super().__init__(parent)
        self.charts, self.progress, self.colors, self.visible = charts, progress, colors, visible
        self.proc: Any = None  # the trainer process (multiprocessing), None when none is followed
        self.follower: RunFollower | None = None
        self.watch = GradWatch()
        self.alerts: list = []
        self._stop_requested_at: float | None = None
        self._pending_progress: dict[str, Any] | None = None  # the newest step record of this tick, shown once
        self.timer = FrameSlot(self._tick)  # on the process's one FrameClock
        self.destroyed.connect(self.timer.stop)  # the slot does not keep a destroyed monitor ticking

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.is_alive()

    def follow(self, proc: Any, run_dir: Path) -> None:
        """Follow a trainer just started (`proc`, writing into `run_dir`) live."""
        self.proc = proc
        self._stop_requested_at = None
        self.attach(run_dir, live=True)

    def attach(self, run_dir: Path, live: bool = True) -> None:
        """Follow a run folder: replay its history into the charts, then keep following if live."""
        self.follower = RunFollower(self, Path(run_dir))
        self._clear()
        self.progress.setFormat("starting…" if live else "")
        self._tick()
        self.run_shown.emit(str(run_dir))
        if live:
            self.timer.start()
        else:
            self.redraw()

    def _clear(self) -> None:
        self.watch = GradWatch()
        self.alerts = []
        self.alerts_cleared.emit()
        self.charts.reset(self.colors())
        self.progress.setValue(0)

    def forget(self) -> None:
        """Another design is shown: nothing of the previous run stays (a run still training is kept: Stop
        must keep working)."""
        if self.is_running():
            return
        self.timer.stop()
        self.follower = None
        self._clear()
        self.progress.setFormat("idle")
        self.status.emit("", "")

    def stop(self) -> bool:
        """Ask the trainer to stop at the next step (it saves last.pt and the summary); if it does not end
        within 10 s it is terminated (SIGTERM, also handled cleanly), then killed. False: no run followed."""
        if self.follower is None:
            return False
        from rnn_studio.engine.training.runs import request_stop

        request_stop(self.follower.run_dir)
        self._stop_requested_at = time.monotonic()
        return True

    def shutdown(self) -> None:
        """The window closes: ask a running trainer to stop; never block for long."""
        if self.is_running():
            self.stop()
            self.proc.join(timeout=5)
            if self.proc.is_alive():
                self.proc.terminate()

    def _say(self, text: str, level: str = "") -> None:
        self.status.emit(text, level)

    def _tick(self) -> None:
        f = self.follower
        if f is None:
            return
        self._pending_progress = None
        for rec in f.poll():
            self._handle(rec)
        if self._pending_progress is not None:  # one progress-bar update per tick, not one per step record
            self._progress(self._pending_progress)
        self.redraw()
        proc_done = self.proc is not None and not self.proc.is_alive()
        self._escalate_stop()
        if f.end is None and not proc_done:
            return
        if proc_done and f.end is None:
            for rec in f.poll():  # the last records may land just before exit
                self._handle(rec)
            if self._pending_progress is not None:
                self._progress(self._pending_progress)
            if f.end is None:
                code = self.proc.exitcode
                message = f"the training process exited with code {code} without a summary; see {f.run_dir}"
                self._finish({"stop_reason": "crashed", "message": message})
                return
        if f.end is not None and (self.proc is None or proc_done):
            self._finish(f.end)

    def _escalate_stop(self) -> None:
        """A trainer asked to stop that has not ended: SIGTERM after 10 s (also handled cleanly), kill after 20 s."""
        if self._stop_requested_at is None or self.proc is None or not self.proc.is_alive():
            return
        waited = time.monotonic() - self._stop_requested_at
        if waited > 10:
            self.proc.terminate()
        if waited > 20:
            self.proc.kill()

    def _handle(self, raw: dict[str, Any]) -> None:
        rec: Any = parse_record(raw)  # typed (engine/training/records.py); None: not a record this version reads
        if rec is None:
            return
        handler = {
            "start": self._on_start,
            "step": self._on_step,
            "grad": self._on_grad,
            "epoch": self._on_epoch,
            "end": self._on_end,
        }[rec["kind"]]
        handler(rec)

    def _on_start(self, rec: dict[str, Any]) -> None:
        self.follower.start = rec
        total = int(rec.get("total_steps") or 0)
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(int(rec.get("resumed_from_step") or 0))
        dev = rec.get("device_name") or rec.get("device")
        self._say(
            f"Training '{rec.get('name')}' on {dev} · {rec.get('parameters', 0):,} parameters · data {rec.get('data')}"
        )
        for w in rec.get("warnings") or []:
            self._say(f"Warning: {w}", "error")

    def _on_step(self, rec: dict[str, Any]) -> None:
        step, loss = rec.get("step", 0), number(rec.get("loss"))
        self.follower.last_step = step
        self.charts.loss_chart.add_steps([step], [float("nan") if loss is None else loss])
        if number(rec.get("lr")) is not None:
            self.charts.lr_chart.add(step, rec["lr"])
        self._pending_progress = rec

    def _on_grad(self, rec: dict[str, Any]) -> None:
        blocks = {k: (float("nan") if number(v) is None else v) for k, v in (rec.get("blocks") or {}).items()}
        self.charts.grad_chart.add(rec.get("step", 0), blocks, rec.get("total"))
        for a in self.watch.feed(rec.get("step", 0), blocks):
            self._alert(a.block, a.kind, a.message, a.step)

    def _on_epoch(self, rec: dict[str, Any]) -> None:
        if number(rec.get("val_loss")) is not None:
            self.charts.loss_chart.add_val(rec.get("step", 0), rec["val_loss"])
        self._progress(rec)
        self._load_predictions()

    def _on_end(self, rec: dict[str, Any]) -> None:
        self.follower.end = rec

    def _progress(self, rec: dict[str, Any]) -> None:
        f = self.follower
        if f.start is None:
            return
        step = int(rec.get("step") or 0)
        total = int(f.start.get("total_steps") or 0)
        self.progress.setValue(min(step, total))
        spe = max(int(f.start.get("steps_per_epoch") or 1), 1)
        epoch = min((step - 1) // spe + 1, int(f.start.get("epochs") or 1)) if step else 1
        elapsed = time.monotonic() - f.t0
        done = step - int(f.start.get("resumed_from_step") or 0)
        eta = elapsed / done * (total - step) if done > 0 else None
        self.progress.setFormat(f"epoch {epoch}/{f.start.get('epochs')} · step {step}/{total} · ETA {_fmt_time(eta)}")

    def _alert(self, block: str | None, kind: str, message: str, step: int) -> None:
        self.alerts.append((block, kind, message, step))
        chart = self.charts.grad_chart if kind != "diverged" else self.charts.loss_chart
        chart.mark(step, f"{kind}: {block}" if block else kind)
        self.alert.emit(block or "", kind, message)
        self._say(message, "error")

    def _load_predictions(self) -> None:
        """The trainer writes predictions.json (validation split) whenever the best checkpoint improves."""
        f = self.follower
        path = f.run_dir / "predictions.json"
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            return
        if f.pred_mtime == mtime:
            return
        f.pred_mtime = mtime
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if data.get("task") == "classification" and data.get("confusion") is not None:
            self.charts.pred_chart.show_confusion(data["confusion"], data.get("labels") or [])
        elif data.get("actual") is not None:
            self.charts.pred_chart.show_series(data["actual"], data["predicted"])

    def redraw(self) -> None:
        if not self.visible():
            return  # a hidden Train tab paints nothing; the charts keep their data and draw when shown
        start = self.follower.start if self.follower is not None else None
        self.charts.refresh(start.get("grad_every") if isinstance(start, dict) else None)

    def _finish(self, end: dict[str, Any]) -> None:
        self.timer.stop()
        f = self.follower
        self._load_predictions()
        reason = str(end.get("stop_reason") or "")
        if is_diverged(reason):
            step = diverged_step(end)  # a field of the end record, never parsed from the text
            self._alert(None, "diverged", end.get("message") or reason, f.last_step if step is None else step)
        self.redraw()
        if self.proc is not None:
            self.proc.join(timeout=5)
        self.proc = None
        self.progress.setFormat(reason or "ended")
        text, level = end_message(end)
        self._say(text, level)
        self.finished.emit(str(f.run_dir), dict(end))
