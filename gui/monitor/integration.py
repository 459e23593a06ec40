"""Docks the Train panel into a designer window and wires it to the canvas.

- The gradient chart gives each block with weights its own colour; while a run is shown, each block on
  the canvas carries a stripe in that colour, so curve and block are matched at a glance.
- A training alert (exploding / vanishing / non-finite gradient) outlines the block on the canvas;
  a divergence is reported in the status bar and on the loss chart.
- Design > Train (F5), Stop (Shift+F5) and Export (Ctrl+E) drive the panel from the menu and toolbar.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QProcess, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence

from .panel import TrainPanel
from .plots import PALETTE


def training_colors(project) -> dict[str, str]:
    """Distinct curve colours for the blocks that have weights, in design order (stable per design)."""
    from rnn_studio.engine import CATALOG

    weighted = [b.id for b in project.blocks if b.type in CATALOG and CATALOG[b.type].has_weights]
    return {bid: PALETTE[i % len(PALETTE)] for i, bid in enumerate(weighted)}


def _scrolling(panel):
    """`panel` in a scroll area: its dock can shrink below the panel's natural size (collapsed bottom area)."""
    from PySide6.QtWidgets import QFrame, QScrollArea

    holder = QScrollArea()
    holder.setWidgetResizable(True)
    holder.setFrameShape(QFrame.Shape.NoFrame)
    holder.setWidget(panel)
    return holder


class TrainingIntegration:
    def __init__(self, window):
        self.window = window
        self.panel = TrainPanel(
            lambda: window.project,
            parent=window,
            colors_getter=lambda: training_colors(window.project),
            set_input_features=lambda block_id, n: window.set_param(block_id, "features", n),
        )
        holder = self.holder = _scrolling(self.panel)
        self.dock = window.add_panel(holder, "Train")
        window.problems_dock.raise_()
        self.alerts: dict[str, str] = {}
        self.marks_on = False
        self._actions()
        p = self.panel
        p.run_started.connect(self._run_shown)
        p.run_shown.connect(self._run_shown)
        p.run_finished.connect(self._finished)
        p.alert.connect(self._alert)
        p.alerts_cleared.connect(self._clear_alerts)
        window.projectReplaced.connect(self._project_replaced)
        window.designChanged.connect(lambda _r: self._apply_marks())
        window.designChanged.connect(self.panel._plan_later)  # the data plan follows the design (Input features)
        self.panel.data_form.plan_wait = lambda: window.scene.loading  # ...once a big design is on the canvas
        self._tune_dock()
        from .form_state import FormKeeper

        self.keeper = FormKeeper(window, self.panel)  # the panel's choices live in the design's training section
        window.aboutToSave.connect(self.keeper.store_for)
        self._project_replaced(window.project)

    def _tune_dock(self) -> None:
        """The Tune tab: trials of the Optuna study stored beside the runs (`rnn-studio tune` writes
        runs/tune.db), listed live while the tab is visible; "Open best design" opens it in a window."""
        from rnn_studio.gui.tune.panel import TunePanel

        self.tune_panel = TunePanel(None, parent=self.window)
        self.tune_dock = self.window.add_panel(_scrolling(self.tune_panel), "Tune", tabify_with=self.dock)
        self.window.problems_dock.raise_()
        self.tune_dock.visibilityChanged.connect(lambda visible: visible and self._follow_study())
        self.tune_panel.openBestDesign.connect(self._open_design)
        self.tune_panel.runActivated.connect(self._show_run)
        self.tune_panel.tuneRequested.connect(self.tune_design)
        self.tune_panel.stopRequested.connect(self.stop_tuning)
        self.tune_proc = None
        self.tune_args: list[str] = []  # extra `rnn-studio tune` options (tests keep trials tiny)
        self._tune_timer = QTimer(self.window, interval=1000, timeout=self._follow_study)
        self.window.designChanged.connect(lambda _r: self._update_tune_button())

    def _update_tune_button(self) -> None:
        from rnn_studio.engine.training.tune import SearchSpaceError, parse_search

        project = self.window.project
        try:
            parse_search(project)
            ok, reason = True, ""
        except SearchSpaceError as e:
            ok, reason = False, str(e)
        if ok and not self.window.bridge.result.ok:
            ok, reason = False, "fix the design's errors first (see Problems)"
        self.tune_panel.set_tune_available(ok, reason)

    def tune_command(self, design: Path) -> list[str]:
        """The same as `rnn-studio tune DESIGN --out RUNS` with the Train tab's data: the arguments after python."""
        args = ["-m", "rnn_studio", "tune", str(design), "--out", str(self.panel.runs_root)]
        spec = self.panel.data_spec()
        if spec.get("demo"):
            args += ["--demo", str(spec["demo"])]
        elif spec.get("path"):
            args += ["--data", str(spec["path"])]
        for key, flag in (("target", "--target"), ("lookback", "--lookback"), ("horizon", "--horizon")):
            if spec.get(key) not in (None, ""):
                args += [flag, str(spec[key])]
        if spec.get("features"):
            args += ["--features", ",".join(spec["features"])]
        return args + self.tune_args

    def tune_design(self) -> Path | None:
        """Run a study of the current design in a child process (the GUI stays responsive); the Tune tab
        follows its storage (runs/tune.db) and lists the trials as they finish."""
        import sys

        from rnn_studio.engine.design.project import atomic_write_text

        if self.tune_proc is not None:
            return None
        runs = self.panel.runs_root
        runs.mkdir(parents=True, exist_ok=True)
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.window.project.name) or "design"
        design = runs / f"{stem}-tune.rnn.json"  # the design this study tunes, as it was when started
        atomic_write_text(design, self.window.project.to_json())
        proc = self.tune_proc = QProcess(self.window)
        proc.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        proc.finished.connect(self._tune_finished)
        proc.start(sys.executable, self.tune_command(design))
        self.tune_panel.set_tuning(True, f"Tuning '{self.window.project.name}' in the background…")
        self._tune_timer.start()
        return design

    def stop_tuning(self) -> None:
        if self.tune_proc is not None:
            self.tune_proc.terminate()  # the trial in progress is lost; finished trials stay in the study
            if not self.tune_proc.waitForFinished(3000):
                self.tune_proc.kill()

    def _tune_finished(self, code: int, _status=None) -> None:
        proc, self.tune_proc = self.tune_proc, None
        self._tune_timer.stop()
        out = bytes(proc.readAllStandardOutput()).decode("utf-8", "replace").strip().splitlines() if proc else []
        last = next((line for line in reversed(out) if line.strip()), "")
        text = "Tuning finished" if code == 0 else f"Tuning stopped: {last or f'exit code {code}'}"
        self.tune_panel.set_tuning(False, text)
        self._follow_study()
        self.tune_panel.refresh()
        self.window.statusBar().showMessage(text, 10000)
        self._update_tune_button()

    def tune_storage(self) -> str | None:
        db = self.panel.runs_root / "tune.db"
        return f"sqlite:///{db}" if db.is_file() else None

    def _follow_study(self) -> None:
        storage = self.tune_storage()
        if storage != self.tune_panel.storage():
            self.tune_panel.set_study(storage)
        elif storage is not None and self.tune_proc is not None:
            self.tune_panel.refresh()  # a running study: new trials as they finish

    def _open_design(self, path: str) -> None:
        w = self.window.new_window()
        w.open_path(path)

    def _show_run(self, run_dir: str) -> None:
        self.show()
        self.panel.show_run(Path(run_dir))

    def _actions(self) -> None:
        w = self.window
        specs = [
            ("train", "&Train", self.start, "F5", "Train the design (opens the Train panel)"),
            ("stop_training", "St&op Training", self.panel.stop, "Shift+F5", "Stop the running training"),
            ("export", "&Export…", self.export, "Ctrl+E", "Export to verified ONNX or PyTorch source"),
        ]
        menu = w.menus["Design"]
        menu.addSeparator()
        for key, text, slot, shortcut, tip in specs:
            a = QAction(text, w)
            a.setShortcut(QKeySequence(shortcut))
            a.setToolTip(f"{tip} ({shortcut})")
            a.setStatusTip(tip)
            a.triggered.connect(slot)
            w.addAction(a)
            w.actions[key] = a
            menu.addAction(a)
        w.toolbar.addSeparator()
        w.toolbar.addAction(w.actions["train"])
        w.toolbar.addAction(w.actions["export"])
        # the panel's own buttons carry the same shortcuts; keep one owner to avoid ambiguity
        self.panel.start_button.setShortcut(QKeySequence())
        self.panel.start_button.setAutoDefault(True)  # Enter on the focused Start button starts
        self.panel.stop_button.setShortcut(QKeySequence())

    def show(self) -> None:
        self.window.open_bottom(self.dock, max(380, self.window.height() // 2))  # room for the charts

    def start(self) -> None:
        """F5: open the Train tab on its settings with Start focused (Enter starts); nothing runs unasked."""
        self.show()
        if self.panel.is_running():
            return
        self.panel.tabs.setCurrentIndex(0)  # Setup: the data and settings the run will use
        self.holder.ensureWidgetVisible(self.panel.start_button)
        self.panel.start_button.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.window.statusBar().showMessage("Check the settings, then press Enter (or click Start) to train", 8000)

    def export(self) -> None:
        self.show()
        self.panel.open_export_dialog()

    def _project_replaced(self, project) -> None:
        self._clear_alerts()
        self.marks_on = False
        self._apply_marks()
        if project is not None:
            self.panel.forget_run()  # the previous design's curves, legend, predictions and "Run ended…"
            self.keeper.load()
        self.panel.refresh_runs()
        if getattr(self, "tune_dock", None) is not None:
            self._update_tune_button()
            if self.tune_dock.isVisible():
                self._follow_study()

    def _run_shown(self, _run_dir: str) -> None:
        self.marks_on = True
        self._apply_marks()

    def _finished(self, _run_dir: str, end: dict) -> None:
        reason = str(end.get("stop_reason") or "")
        self.window.statusBar().showMessage(f"Training ended: {reason}", 10000)

    def _alert(self, block: str, kind: str, message: str) -> None:
        if block:
            self.alerts[block] = kind
            self._apply_marks()
        self.window.statusBar().showMessage(message, 15000)

    def _clear_alerts(self) -> None:
        self.alerts = {}
        self._apply_marks()

    def _apply_marks(self) -> None:
        project = self.window.project
        colors = training_colors(project) if (self.marks_on and project is not None) else {}
        self.window.scene.set_training_marks(colors, self.alerts)

    def shutdown(self) -> None:
        self.panel.shutdown()
        if self.tune_proc is not None:
            self.tune_proc.finished.disconnect()
            self.stop_tuning()


def install_training(window) -> TrainingIntegration:
    window.training = TrainingIntegration(window)
    return window.training
