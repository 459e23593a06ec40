"""The Train panel: data source, training settings, Start/Stop, live charts, runs list, export.

Training runs in a separate *spawned* process (engine.training.train.start_training_process, the same code as
`rnn-studio train`), so a crash, CUDA OOM or hang in training can never freeze or kill the editor. The
panel follows the run folder's metrics.jsonl (engine.training.follow.MetricsTail) from a QTimer; records are
coalesced into the charts' buffers and the charts redraw at a bounded rate (15 Hz) however fast
metrics arrive. Any run folder can be followed the same way, including one started from the CLI.

The panel is composed of: train_form.py (the Data and Training tabs, the plan, the device probe),
reader.py (reading a data file off the GUI thread), follower.py (records -> charts, progress, alerts),
runs.py (the Runs tab) and export_dialog.py. Every public name stays importable from here.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from rnn_studio.engine.training.diagnose import GradWatch

from .. import theme as themes
from .export_dialog import ExportDialog, export_model, verification_rows
from .follower import REDRAW_HZ, FollowMixin, RunFollower, end_message
from .forecast_tabs import add_forecast_tabs
from .plots import GradChart, LossChart, LrChart, PredictionChart
from .reader import relay
from .runs import RunsMixin, list_runs, read_summary, run_label
from .train_form import (
    DEMOS,
    MISSING_CHOICES,
    PREVIEW_MAX_ROWS,
    PREVIEW_ROWS,
    DataFormMixin,
    DeviceProbeMixin,
    SettingsFormMixin,
    retint,
    scroll_page,
    theme_color,
    tint,
)

__all__ = [
    "DEMOS",
    "MISSING_CHOICES",
    "PREVIEW_MAX_ROWS",
    "PREVIEW_ROWS",
    "REDRAW_HZ",
    "ExportDialog",
    "RunFollower",
    "TrainPanel",
    "end_message",
    "export_model",
    "list_runs",
    "read_summary",
    "run_label",
    "theme_color",
    "verification_rows",
]


class TrainPanel(DataFormMixin, SettingsFormMixin, DeviceProbeMixin, RunsMixin, FollowMixin, QtWidgets.QWidget):
    """Train dock content. `project_getter()` returns the current engine.Project; `colors_getter()`
    (optional) returns {block_id: '#rrggbb'} so gradient curves match the canvas."""

    devices_found = QtCore.Signal(list)  # [(label, value)], from a background probe
    data_loaded = QtCore.Signal(str, str)  # a data file was read: its path, the one-line error ('' if read)
    run_started = QtCore.Signal(str)
    run_shown = QtCore.Signal(str)  # a run's history is shown (live or from the runs list)
    run_finished = QtCore.Signal(str, dict)
    alert = QtCore.Signal(str, str, str)  # block id ('' for none), kind, message
    alerts_cleared = QtCore.Signal()

    def __init__(
        self,
        project_getter: Callable,
        parent=None,
        runs_root: Path | None = None,
        colors_getter: Callable[[], dict] | None = None,
        set_input_features: Callable[[str, int], None] | None = None,
    ):
        super().__init__(parent)
        self.project_getter = project_getter
        self.set_input_features = set_input_features  # (input block id, n): the plan's one-click fix
        self.colors_getter = colors_getter or (lambda: {})
        self._runs_root = runs_root
        self.proc = None
        self.follower: RunFollower | None = None
        self.watch = GradWatch()
        self.alerts: list = []
        self._stop_requested_at: float | None = None
        relay().done.connect(self._read_done)  # data files are read off the GUI thread (reader.py)
        relay().planned.connect(self._planned)  # and a large table's plan is derived there too
        self._build()
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(int(1000 / REDRAW_HZ))
        self.timer.timeout.connect(self._tick)
        self.devices_found.connect(self._add_devices)
        manager = themes.active_manager()  # the designer's theme; a bare panel keeps the light one
        if manager is not None:
            manager.changed.connect(self._theme_changed)  # a bound method: disconnected with the panel
        self.refresh_runs()
        self._probed = False

    def _theme_changed(self, _theme) -> None:
        with contextlib.suppress(RuntimeError):  # the panel is being destroyed: nothing to recolour
            retint(self)

    def resizeEvent(self, event) -> None:
        """The first real width splits the panel: the settings column takes 40 % (340-440 px: the plan's
        lines fit without wrapping on a wide window; the charts keep room on a 1024 px screen)."""
        super().resizeEvent(event)
        width = self.split.width()
        if not self._split_sized and width > 700:
            self._split_sized = True
            left = min(440, max(340, int(width * 0.4)))
            self.split.setSizes([left, width - left])

    def showEvent(self, event) -> None:
        if not self._probed:
            self._probed = True
            self._probe_devices()
        super().showEvent(event)
        QtCore.QTimer.singleShot(0, self._redraw)  # what arrived while the tab was hidden

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        outer = QtWidgets.QHBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        split = QtWidgets.QSplitter(QtCore.Qt.Horizontal)
        outer.addWidget(split)
        split.addWidget(self._left_column())
        split.addWidget(self._charts())
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setSizes([380, 900])
        self.split = split
        self._split_sized = False

    def _left_column(self) -> QtWidgets.QWidget:
        left = QtWidgets.QWidget()
        left.setMinimumWidth(340)
        left_lay = QtWidgets.QVBoxLayout(left)
        left_lay.setContentsMargins(0, 0, 0, 0)
        # steps as tabs (issue 11): each page is one narrow column that wraps labels above fields when
        # space is short, so no widget is clipped at 1024 px; the wheel scrolls the page
        self.data_scroll = scroll_page(self._plan_box(), self._data_group())  # the plan first: always in view
        self.settings_scroll = scroll_page(self._settings_group())
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.addTab(self.data_scroll, "1 Data")
        self.tabs.addTab(self.settings_scroll, "2 Training")
        self.tabs.addTab(self._runs_group(), "Runs")
        left_lay.addWidget(self.tabs, 1)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("idle")
        self.progress.setValue(0)
        buttons = self._start_stop()
        buttons.addWidget(self.progress, 1)  # one row with Start / Stop: the Data tab keeps the height
        left_lay.addLayout(buttons)
        self.status = QtWidgets.QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        self.status.setMinimumHeight(34)
        self.status.setAlignment(QtCore.Qt.AlignTop | QtCore.Qt.AlignLeft)
        left_lay.addWidget(self.status)
        return left

    def _start_stop(self) -> QtWidgets.QHBoxLayout:
        buttons = QtWidgets.QHBoxLayout()
        self.start_button = QtWidgets.QPushButton("▶ Start training")
        self.start_button.setObjectName("primary")
        self.start_button.setShortcut("F5")
        self.start_button.setToolTip("Train the current design in a separate process (F5)")
        self.stop_button = QtWidgets.QPushButton("■ Stop")
        self.stop_button.setShortcut("Shift+F5")
        self.stop_button.setToolTip("Stop at the next step; writes last.pt and the summary (Shift+F5)")
        self.stop_button.setEnabled(False)
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        buttons.addWidget(self.start_button, 1)
        buttons.addWidget(self.stop_button)
        return buttons

    def _charts(self) -> QtWidgets.QWidget:
        """The live training charts, and beside them (tabs) the Forecast and Backtest views (forecast_tabs.py)."""
        return add_forecast_tabs(self, self._training_charts())

    def _training_charts(self) -> QtWidgets.QWidget:
        charts = QtWidgets.QWidget()
        grid = QtWidgets.QGridLayout(charts)
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
        return charts

    # ------------------------------------------------------------------ training
    def is_running(self) -> bool:
        return self.proc is not None and self.proc.is_alive()

    def start(self) -> Path | None:
        """Start training the current design; returns the run folder (None when refused)."""
        if self.is_running():
            return None
        from rnn_studio import engine

        project = self.project_getter()
        res = engine.check(project)
        if not res.ok:
            self._say(f"Fix the design first: {res.errors[0].message}", error=True)
            return None
        spec = self.data_spec()
        if "path" in spec and not spec["path"]:
            self._say("Choose a data file first (or a demo dataset).", error=True)
            return None
        if self.reading():
            self._say(f"Still reading {Path(self._reading).name}: Start when the plan shows.", error=True)
            return None
        self.refresh_plan(wait=True)  # the plan this run will use, now
        if self.plan is None or not self.plan.ok:
            self._say(self.plan_error.text() or "The data plan has errors.", error=True)
            self.tabs.setCurrentWidget(self.data_scroll)
            return None
        from rnn_studio.engine.training.train import start_training_process

        snapshot = project.copy()
        self.proc, run_dir = start_training_process(snapshot, spec, self.overrides(), out_dir=self.runs_root)
        self._stop_requested_at = None
        self.attach(run_dir, live=True)
        self.start_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self._say(f"Training in {run_dir}")
        self.run_started.emit(str(run_dir))
        self.refresh_runs()
        return run_dir

    def forget_run(self) -> None:
        """Another design is shown: no run of the previous one stays on the charts, legend, predictions or
        status line (a run still training keeps being followed: Stop must keep working)."""
        if self.is_running():
            return
        self.timer.stop()
        self.follower = None
        self.watch = GradWatch()
        self.alerts = []
        self.alerts_cleared.emit()
        for chart in (self.loss_chart, self.grad_chart, self.lr_chart, self.pred_chart):
            chart.reset()
        self.grad_chart.set_colors(self.colors_getter())
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self._say("")

    def stop(self) -> None:
        """Ask the trainer to stop at the next step (it saves last.pt and the summary); if it does not
        end within 10 s, terminate it (SIGTERM, also handled cleanly), then kill it."""
        if self.follower is None:
            return
        from rnn_studio.engine.training.runs import request_stop

        request_stop(self.follower.run_dir)
        self._stop_requested_at = time.monotonic()
        self.stop_button.setEnabled(False)
        self._say("Stopping at the next step…")

    def _say(self, text: str, error: bool = False, warning: bool = False) -> None:
        self.status.setText(text)
        tint(self.status, "error" if error else "warning" if warning else None)

    # ------------------------------------------------------------------ export
    def open_export_dialog(self) -> ExportDialog:
        run = self.selected_run() or (self.follower.run_dir if self.follower and self.follower.end else None)
        dlg = self.export_dialog = ExportDialog(run, self.project_getter, self, default_dir=self.runs_root.parent)
        dlg.show()
        return dlg

    def shutdown(self) -> None:
        """Called when the window closes: ask a running trainer to stop; never block for long."""
        probe = getattr(self, "_probe_proc", None)
        if probe is not None and probe.state() != QtCore.QProcess.ProcessState.NotRunning:
            probe.kill()  # the GPU probe is not needed any more
            probe.waitForFinished(1000)
        self.backtest_view.shutdown()
        if self.is_running():
            self.stop()
            self.proc.join(timeout=5)
            if self.proc.is_alive():
                self.proc.terminate()
