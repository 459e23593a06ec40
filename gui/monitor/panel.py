"""The Train panel: data source, training settings, Start/Stop, live charts, runs list, export.

Training runs in a separate *spawned* process (engine.training.train.start_training_process, the same code as
`rnn-studio train`), so a crash, CUDA OOM or hang in training can never freeze or kill the editor. The
panel follows the run folder's metrics.jsonl (engine.training.follow.MetricsTail) from a QTimer; records are
coalesced into the charts' buffers and the charts redraw at a bounded rate (15 Hz) however fast
metrics arrive. Any run folder can be followed the same way, including one started from the CLI.

The panel is composed of: train_form.py (the Data tab and the plan, a widget of its own: `panel.data_form`),
settings_form.py (the Training tab: `panel.settings_form`), device_probe.py (the GPU probe: `panel.probe`),
runs.py (the Runs tab: `panel.runs_list`), reader.py (reading a data file off the GUI thread), follower.py
(records -> charts, progress, alerts) and export_dialog.py. Every public name stays importable from here.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from .. import theme as themes
from .charts import TrainingCharts
from .device_probe import DeviceProbe
from .export_dialog import ExportDialog, export_model, verification_rows
from .follower import REDRAW_HZ, RunFollower, RunMonitor, end_message
from .forecast_tabs import ForecastTabs
from .runs import RunsList, list_runs, loss_history, read_summary, run_label
from .settings_form import SettingsForm
from .train_form import (
    DEMOS,
    MISSING_CHOICES,
    PREVIEW_MAX_ROWS,
    PREVIEW_ROWS,
    DataForm,
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


class TrainPanel(QtWidgets.QWidget):
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
        self.data_form = DataForm(project_getter, set_input_features)  # tab "1 Data" and the plan
        self.data_form.data_loaded.connect(self.data_loaded)
        self.settings_form = SettingsForm()  # tab "2 Training"
        self.probe = DeviceProbe(self)  # the GPUs, probed once the panel shows
        self.probe.found.connect(self.devices_found)
        self.runs_list = self._runs_list()  # the Runs tab
        self.charts = TrainingCharts()  # loss, gradient norms, learning rate, predictions
        self.progress = QtWidgets.QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("idle")
        self.progress.setValue(0)
        self.monitor = self._run_monitor()  # follows a run into the charts and the progress bar
        self._build()
        self.data_form.plan_changed.connect(self._plan_shown)
        self.devices_found.connect(self.settings_form.add_devices)
        manager = themes.active_manager()  # the designer's theme; a bare panel keeps the light one
        if manager is not None:
            manager.changed.connect(self._theme_changed)  # a bound method: disconnected with the panel
        self.refresh_runs()

    def _theme_changed(self, _theme) -> None:
        with contextlib.suppress(RuntimeError):  # the panel is being destroyed: nothing to recolour
            retint(self)

    def resizeEvent(self, event) -> None:
        """Until the person drags the handle, the settings column takes 42 % of the panel (300-460 px: the
        plan's lines fit without wrapping at the default window; on a 1024 px screen the panel fits without
        scrolling sideways, the plan's lines wrapping instead).
        Sizing it once, at the first width over 700 px, caught an intermediate layout (809 px) and left it at
        360 px on every screen once the chart column's minimum no longer forced the panel wider."""
        super().resizeEvent(event)
        width = self.split.width()
        if not self._split_dragged and width > 0:
            left = min(460, max(300, int(width * 0.42)))
            self.split.setSizes([left, max(width - left, 0)])

    def showEvent(self, event) -> None:
        self.probe.start()  # once
        super().showEvent(event)
        QtCore.QTimer.singleShot(0, self.monitor.redraw)  # what arrived while the tab was hidden

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
        self._split_dragged = False  # the person moved the handle: their width is kept from then on
        split.splitterMoved.connect(lambda *_a: setattr(self, "_split_dragged", True))

    def _left_column(self) -> QtWidgets.QWidget:
        left = QtWidgets.QWidget()
        left.setMinimumWidth(300)
        left_lay = QtWidgets.QVBoxLayout(left)
        left_lay.setContentsMargins(0, 0, 0, 0)
        # steps as tabs (issue 11): each page is one narrow column that wraps labels above fields when
        # space is short, so no widget is clipped at 1024 px; the wheel scrolls the page
        self.data_scroll = scroll_page(self.data_form)  # the plan first: always in view
        self.settings_scroll = scroll_page(self.settings_form)
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.addTab(self.data_scroll, "1 Data")
        self.tabs.addTab(self.settings_scroll, "2 Training")
        self.tabs.addTab(self.runs_list, "Runs")
        left_lay.addWidget(self.tabs, 1)
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
        tabs = self.chart_tabs = ForecastTabs(self.charts, self, live=self._is_live)
        self.forecast_view, self.backtest_view = tabs.forecast_view, tabs.backtest_view
        self.run_shown.connect(tabs.run_shown)
        self.run_finished.connect(tabs.run_finished)
        self.backtest_view.finished.connect(lambda _code, _last: self.refresh_runs())  # its folds are runs
        return tabs

    def _is_live(self, run: Path) -> bool:
        return self.is_running() and self._current_run() == run

    # ------------------------------------------------------------------ runs
    def _runs_list(self) -> RunsList:
        runs = RunsList(lambda: self.runs_root, current=self._current_run, running=self.is_running)
        runs.show_requested.connect(self.show_run)
        runs.overlay_requested.connect(self._overlay)
        runs.attach_requested.connect(lambda run: self.attach(run, live=True))
        runs.export_requested.connect(self.open_export_dialog)
        return runs

    def _current_run(self) -> Path | None:
        follower = self.monitor.follower
        return follower.run_dir if follower is not None else None

    @property
    def runs_root(self) -> Path:
        """Where runs go: the root set with `set_runs_root`, else `runs/` beside the saved design, else
        $RNN_STUDIO_RUNS or ~/RNN Studio/runs."""
        if self._runs_root is not None:
            return Path(self._runs_root)
        project = self.project_getter()
        if project is not None and getattr(project, "path", None):
            return Path(project.path).resolve().parent / "runs"
        return Path(os.environ.get("RNN_STUDIO_RUNS", Path.home() / "RNN Studio" / "runs"))

    def set_runs_root(self, root: Path | None) -> None:
        self._runs_root = root
        self.refresh_runs()

    def refresh_runs(self) -> None:
        self.runs_list.refresh()

    def selected_run(self) -> Path | None:
        return self.runs_list.selected_run()

    def show_run(self, run: Path) -> None:
        """Load a finished (or running) run's whole history into the charts."""
        self.attach(run, live=False)

    def _overlay(self, run: Path) -> None:
        self.charts.loss_chart.clear_overlays()
        self.charts.loss_chart.overlay(*loss_history(run), run.name)

    # ------------------------------------------------------------------ training
    def _run_monitor(self) -> RunMonitor:
        monitor = RunMonitor(self.charts, self.progress, self.colors_getter, self.isVisible, parent=self)
        monitor.status.connect(self._show_status)
        monitor.alert.connect(self.alert)
        monitor.alerts_cleared.connect(self.alerts_cleared)
        monitor.run_shown.connect(self.run_shown)
        monitor.finished.connect(self._run_ended)
        return monitor

    def is_running(self) -> bool:
        return self.monitor.is_running()

    def attach(self, run_dir: Path, live: bool = True) -> None:
        """Follow a run folder: replay its history into the charts, then keep following if live."""
        self.monitor.attach(run_dir, live)

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
        overrides = self.settings_form.overrides()
        proc, run_dir = start_training_process(snapshot, spec, overrides, out_dir=self.runs_root)
        self.monitor.follow(proc, run_dir)
        self.start_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self._say(f"Training in {run_dir}")
        self.run_started.emit(str(run_dir))
        self.refresh_runs()
        return run_dir

    def _plan_shown(self, error: str, waiting: bool) -> None:
        """The Data tab shows a plan: Start is enabled when it has no error and nothing is still read or planned."""
        self.start_button.setEnabled(not error and not waiting and not self.is_running())
        self.start_button.setToolTip(error or "Train the current design in a separate process (F5)")

    def _run_ended(self, run_dir: str, end: dict) -> None:
        self.start_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.refresh_plan()
        self.refresh_runs()
        self.run_finished.emit(run_dir, end)

    def forget_run(self) -> None:
        """Another design is shown: no run of the previous one stays on the charts, legend, predictions or
        status line (a run still training keeps being followed: Stop must keep working)."""
        self.monitor.forget()

    def stop(self) -> None:
        """Ask the trainer to stop at the next step (it saves last.pt and the summary); if it does not
        end within 10 s, terminate it (SIGTERM, also handled cleanly), then kill it."""
        if self.monitor.stop():
            self.stop_button.setEnabled(False)
            self._say("Stopping at the next step…")

    def _show_status(self, text: str, level: str) -> None:
        self._say(text, error=level == "error", warning=level == "warning")

    def _say(self, text: str, error: bool = False, warning: bool = False) -> None:
        self.status.setText(text)
        tint(self.status, "error" if error else "warning" if warning else None)

    # ------------------------------------------------------------------ export
    def open_export_dialog(self) -> ExportDialog:
        follower = self.monitor.follower
        run = self.selected_run() or (follower.run_dir if follower is not None and follower.end else None)
        dlg = self.export_dialog = ExportDialog(run, self.project_getter, self, default_dir=self.runs_root.parent)
        dlg.show()
        return dlg

    def shutdown(self) -> None:
        """Called when the window closes: ask a running trainer to stop; never block for long."""
        self.probe.shutdown()  # the GPU probe is not needed any more
        self.backtest_view.shutdown()
        self.monitor.shutdown()

    # ------------------------------------------------------------------ the Training tab, as before
    def overrides(self) -> dict:
        """The Training tab's settings as trainer overrides (SettingsForm.overrides)."""
        return self.settings_form.overrides()

    def load_settings(self, training: dict) -> None:
        """Fill the Training tab from a project's `training` section (SettingsForm.load_settings)."""
        self.settings_form.load_settings(training)


def _part_attr(part: str, name: str) -> property:
    """`panel.<name>` reads `panel.<part>.<name>`: the names main_window, integration.py and the tests of 0.2
    used on the panel keep working now that the parts own them."""
    return property(lambda panel: getattr(getattr(panel, part), name), doc=f"{part}.{name}")


DATA_FORM_ATTRS = (
    ("source", "path_edit", "browse_button", "path_row", "read_busy", "target", "time_column", "series", "missing")
    + ("features", "lookback", "horizon", "season", "preview", "preview_error", "wheel_guard", "file_dialog")
    + ("plan_text", "plan_warning", "plan_error", "fix_button", "plan", "_data_form", "_plan_timer", "_table")
    + ("_reading", "_read_path", "_read_request", "_planning", "_plan_untouched", "_ticks_touched", "_demo_tables")
    + ("set_data_file", "reading", "planning", "data_spec", "refresh_plan", "ticked_features", "set_features")
    + ("has_table_for", "_plan_later", "_load_preview", "_read_done", "_planned", "_browse", "_source_changed")
    + ("_source_activated", "_start_folder", "_path_edited", "_show_reading", "_clear_columns", "_set_columns")
    + ("_fill_preview", "_set_ticks", "_ticks_changed", "_target_changed", "_table_for_plan", "_plan_ready")
    + ("_show_plan", "_apply_fix")
)
PART_ATTRS = {
    "data_form": DATA_FORM_ATTRS,
    "settings_form": ("epochs", "batch", "lr", "optimizer", "weight_decay", "schedule", "patience", "clip")
    + ("device", "precision", "seed", "log_to", "interval_level"),
    "runs_list": ("runs", "compare_box", "refresh_button", "open_button", "attach_button", "export_button"),
    "monitor": ("proc", "follower", "watch", "alerts", "timer", "_handle"),
    "charts": ("loss_chart", "grad_chart", "lr_chart", "pred_chart", "log_box"),
}
for _part, _names in PART_ATTRS.items():
    for _name in _names:
        setattr(TrainPanel, _name, _part_attr(_part, _name))
