"""The Train panel: data source, training settings, Start/Stop, live charts, runs list, export.

Training runs in a separate *spawned* process (engine.train.start_training_process, the same code as
`rnn-studio train`), so a crash, CUDA OOM or hang in training can never freeze or kill the editor. The
panel follows the run folder's metrics.jsonl (engine.follow.MetricsTail) from a QTimer; records are
coalesced into the charts' buffers and the charts redraw at a bounded rate (15 Hz) however fast
metrics arrive. Any run folder can be followed the same way, including one started from the CLI.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from rnn_studio.engine.blocks import INPUT_TYPE
from rnn_studio.engine.diagnose import GradWatch
from rnn_studio.engine.follow import MetricsTail
from rnn_studio.engine.records import diverged_step, is_diverged, parse_record

from .. import theme as themes
from .plots import GradChart, LossChart, LrChart, PredictionChart

REDRAW_HZ = 15
DEMOS = [("Demo: chaotic series (Mackey-Glass)", "chaos"), ("Demo: noisy multi-frequency sine", "sine")]
MISSING_CHOICES = [
    ("Stop with an error", "error"),
    ("Interpolate", "interpolate"),
    ("Fill forward", "ffill"),
    ("Drop those rows", "drop"),
]
PREVIEW_ROWS = 10  # rows visible without scrolling
PREVIEW_MAX_ROWS = 200  # rows loaded into the preview


def theme_color(name: str) -> str:
    """A colour of the application's theme (the light theme's before the designer has applied one)."""
    from rnn_studio.gui import theme

    manager = getattr(theme, "_manager", None)
    return getattr(manager.theme if manager is not None else theme.LIGHT, name)


class _WheelToPage(QtCore.QObject):
    """The mouse wheel scrolls the Train form unless the widget under it has the keyboard focus (the
    preview, a list, a combo or a spin box the user clicked): no accidental value changes."""

    def __init__(self, panel: TrainPanel):
        super().__init__(panel)
        self.panel = panel

    def eventFilter(self, obj, event) -> bool:
        if event.type() != QtCore.QEvent.Wheel:
            return False
        widget = (
            obj.parentWidget()
            if isinstance(obj, QtWidgets.QWidget) and obj.objectName() == "qt_scrollarea_viewport"
            else obj
        )
        if isinstance(widget, QtWidgets.QWidget) and widget.hasFocus():
            return False
        page = self.panel.tabs.currentWidget() if hasattr(self.panel, "tabs") else None
        if isinstance(page, QtWidgets.QScrollArea):
            bar = page.verticalScrollBar()
            bar.setValue(bar.value() - event.angleDelta().y() // 120 * bar.singleStep() * 3)
        return True


def _fmt_time(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def list_runs(root: Path) -> list[Path]:
    """Run folders under `root`, newest first."""
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if p.is_dir() and (p / "project.rnn.json").is_file()]
    return sorted(runs, key=lambda p: p.name, reverse=True)


def read_summary(run: Path) -> dict[str, Any]:
    try:
        return json.loads((run / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


class RunFollower(QtCore.QObject):
    """Reads a run's metrics.jsonl and dispatches records to the charts; remembers the whole stream."""

    def __init__(self, panel: TrainPanel, run_dir: Path):
        super().__init__(panel)
        self.panel = panel
        self.run_dir = Path(run_dir)
        self.tail = MetricsTail(self.run_dir / "metrics.jsonl")
        self.start: dict[str, Any] | None = None
        self.end: dict[str, Any] | None = None
        self.last_step = 0
        self.t0 = time.monotonic()
        self.records = 0

    def poll(self) -> list[dict[str, Any]]:
        recs = self.tail.read_new()
        self.records += len(recs)
        return recs


class ExportDialog(QtWidgets.QDialog):
    """Export a run (or the current design) to ONNX or PyTorch source; shows the verification result."""

    def __init__(self, run_dir: Path | None, project_getter: Callable, parent=None, default_dir: Path | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export model")
        self.setMinimumWidth(520)
        self.run_dir = run_dir
        self.project_getter = project_getter
        self.result: dict[str, Any] | None = None
        form = QtWidgets.QFormLayout()
        self.source = QtWidgets.QLabel(f"run {run_dir.name}" if run_dir else "current design (untrained weights)")
        form.addRow("Source:", self.source)
        self.format = QtWidgets.QComboBox()
        self.format.addItems(["ONNX (.onnx)", "PyTorch source (.py + .pt)"])
        form.addRow("Format:", self.format)
        self.checkpoint = QtWidgets.QComboBox()
        self.checkpoint.addItems(["best", "last"])
        self.checkpoint.setEnabled(run_dir is not None)
        form.addRow("Checkpoint:", self.checkpoint)
        self.normalize = QtWidgets.QCheckBox("Fold input/target normalization into the graph")
        form.addRow("", self.normalize)
        row = QtWidgets.QHBoxLayout()
        base = default_dir or Path.cwd()
        name = run_dir.name if run_dir else "model"
        self.path = QtWidgets.QLineEdit(str(base / f"{name}.onnx"))
        browse = QtWidgets.QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        form.addRow("File:", row)
        self.format.currentIndexChanged.connect(self._format_changed)
        self.table = QtWidgets.QTableWidget(0, 2)  # the verification, one readable row per fact
        self.table.setObjectName("verificationTable")
        self.table.setHorizontalHeaderLabels(["Check", "Result"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setMinimumHeight(160)
        self.table.setWordWrap(True)
        self.report = QtWidgets.QPlainTextEdit(readOnly=True)  # the full text, for copying (collapsed)
        self.report.setVisible(False)
        self.details_button = QtWidgets.QPushButton("Show details")
        self.details_button.setCheckable(True)
        self.details_button.toggled.connect(self.report.setVisible)
        self.details_button.toggled.connect(
            lambda on: self.details_button.setText("Hide details" if on else "Show details")
        )
        self.verdict = QtWidgets.QLabel("")
        self.verdict.setObjectName("verdict")
        buttons = QtWidgets.QDialogButtonBox()
        self.export_button = buttons.addButton("Export", QtWidgets.QDialogButtonBox.AcceptRole)
        self.close_button = buttons.addButton(QtWidgets.QDialogButtonBox.Close)
        self.export_button.clicked.connect(self.run_export)
        self.close_button.clicked.connect(self.reject)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.verdict)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.report, 1)
        lay.addWidget(self.details_button, 0, QtCore.Qt.AlignLeft)
        lay.addWidget(buttons)

    def _format_changed(self) -> None:
        p = Path(self.path.text())
        self.path.setText(str(p.with_suffix(".py" if self.format.currentIndex() == 1 else ".onnx")))
        self.normalize.setEnabled(self.format.currentIndex() == 0)

    def _browse(self) -> None:
        filt = "PyTorch source (*.py)" if self.format.currentIndex() == 1 else "ONNX model (*.onnx)"
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export to", self.path.text(), filt)
        if path:
            self.path.setText(path)

    def run_export(self) -> dict[str, Any]:
        """Export (a few seconds) with a visible busy state, then the verdict and the verification table.
        Every export shows a fresh verdict stamped with its time, so a repeated export visibly happened."""
        self.export_button.setEnabled(False)
        self.table.setRowCount(0)
        self.report.clear()
        self.verdict.setText("Exporting and verifying…")
        self.verdict.setStyleSheet("font-weight: 600;")
        QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.WaitCursor)
        self.repaint()  # show the busy state before the export blocks the event loop
        QtWidgets.QApplication.processEvents(QtCore.QEventLoop.ExcludeUserInputEvents)
        try:
            self.result = export_model(
                self.run_dir,
                self.project_getter,
                Path(self.path.text()),
                fmt="pytorch" if self.format.currentIndex() == 1 else "onnx",
                checkpoint=self.checkpoint.currentText(),
                include_normalization=self.normalize.isChecked(),
            )
        finally:
            QtWidgets.QApplication.restoreOverrideCursor()
            self.export_button.setEnabled(True)
        r = self.result
        ok = r["ok"]
        t = themes.current()
        self.verdict.setText(("✔ Verified: " if ok else "✘ ") + r["headline"] + time.strftime("  (%H:%M:%S)"))
        self.verdict.setStyleSheet(f"font-weight: 600; color: {t.ok if ok else t.error};")
        self.show_rows(r.get("rows") or [("Result", r["details"])])
        self.report.setPlainText(r["details"])
        return r

    def show_rows(self, rows: list[tuple[str, str]]) -> None:
        self.table.setRowCount(len(rows))
        for i, (label, value) in enumerate(rows):
            for j, text in enumerate((label, value)):
                item = QtWidgets.QTableWidgetItem(str(text))
                item.setToolTip(str(text))
                self.table.setItem(i, j, item)
        self.table.resizeRowsToContents()

    def rows(self) -> list[tuple[str, str]]:
        """The verification table as shown (for tests)."""
        return [(self.table.item(i, 0).text(), self.table.item(i, 1).text()) for i in range(self.table.rowCount())]


def _fmt_diff(v: Any) -> str:
    return f"{v:.2e}" if isinstance(v, (int, float)) and not isinstance(v, bool) else "—"


def verification_rows(rep, path: Path) -> list[tuple[str, str]]:
    """The exporter's typed ExportResult as short (check, result) rows a person reads."""
    size = f"  ({rep.file_bytes / 1024:,.0f} KiB)" if rep.file_bytes else ""
    rows: list[tuple[str, str]] = [("File", f"{path}{size}")]
    if rep.weights_path:
        rows.append(("Weights", str(rep.weights_path)))
    rows.append(("Verification", "not run" if not rep.verified else "passed" if rep.passed else "FAILED"))
    if rep.verified:
        rows.append(("Largest difference vs PyTorch", f"{_fmt_diff(rep.max_abs_diff)}  (tolerance {rep.tolerance:g})"))
    for case in rep.cases:
        rows.append(
            (f"  batch {case.batch}, time {case.time}", f"{'✔' if case.passed else '✘'} {_fmt_diff(case.max_abs_diff)}")
        )
    if rep.format == "onnx":
        rows += [
            ("ONNX checker", rep.checker),
            ("Opset", str(rep.opset)),
            ("Input shape", " × ".join(map(str, rep.input_shape))),
            ("Output shape", " × ".join(map(str, rep.output_shape))),
            ("Normalization in graph", "yes" if rep.include_normalization else "no"),
        ]
    if rep.recurrent_nodes:
        rows.append(("Recurrent nodes", ", ".join(f"{k} ×{v}" for k, v in rep.recurrent_nodes.items())))
    rows += [("Problem", str(problem)) for problem in rep.structure_problems]
    if rep.seconds:
        rows.append(("Time", f"{rep.seconds:.1f} s"))
    if rep.message:
        rows.append(("Message", rep.message))
    return rows


def export_model(
    run_dir: Path | None,
    project_getter: Callable,
    path: Path,
    *,
    fmt: str = "onnx",
    checkpoint: str = "best",
    include_normalization: bool = False,
) -> dict[str, Any]:
    """Export a run's checkpoint (or the current design) and return what the dialog shows:
    {ok, headline, rows, details, max_abs_diff, result (the exporter's ExportResult, None on error)}."""
    from rnn_studio import engine, exports
    from rnn_studio.engine.runs import RunError, load_run

    try:
        if run_dir is not None:
            project, model, meta = load_run(run_dir, checkpoint)
        else:
            project = project_getter()
            res = engine.check(project)
            if not res.ok:
                return {
                    "ok": False,
                    "headline": "the design has errors",
                    "max_abs_diff": None,
                    "result": None,
                    "details": "\n".join(p.message for p in res.errors),
                }
            import torch

            torch.manual_seed(0)
            model, meta = engine.build_model(project, res).eval(), None
        if fmt == "pytorch":
            rep = exports.export_pytorch(model, project, path, meta=meta)
        else:
            rep = exports.export_onnx(model, project, path, meta=meta, include_normalization=include_normalization)
    except (exports.ExportError, RunError, ValueError, OSError) as e:
        return {
            "ok": False,
            "headline": str(e).splitlines()[0] if str(e) else type(e).__name__,
            "details": str(e),
            "max_abs_diff": None,
            "result": getattr(e, "report", None),
        }
    diff = rep.max_abs_diff
    headline = f"max abs diff {diff:.2e} (tolerance {rep.tolerance:g})" if diff is not None else "exported"
    if rep.format == "pytorch":
        headline = f"{path.name} reproduces the model ({headline})"
    rows = verification_rows(rep, path)
    return {
        "ok": bool(rep.passed) if rep.verified else True,
        "headline": headline,
        "rows": rows,
        "details": "\n".join(f"{k}: {v}" for k, v in rows),
        "max_abs_diff": diff,
        "result": rep,
    }


class TrainPanel(QtWidgets.QWidget):
    """Train dock content. `project_getter()` returns the current engine.Project; `colors_getter()`
    (optional) returns {block_id: '#rrggbb'} so gradient curves match the canvas."""

    devices_found = QtCore.Signal(list)  # [(label, value)], from a background probe
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
        self._table = None
        self._ticks_touched = False
        self.colors_getter = colors_getter or (lambda: {})
        self._runs_root = runs_root
        self.proc = None
        self.follower: RunFollower | None = None
        self.watch = GradWatch()
        self.alerts: list = []
        self._stop_requested_at: float | None = None
        self._devices: list[tuple[str, str]] | None = None
        self._build()
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(int(1000 / REDRAW_HZ))
        self.timer.timeout.connect(self._tick)
        self.devices_found.connect(self._add_devices)
        self.refresh_runs()
        self._probed = False

    def showEvent(self, event) -> None:
        if not self._probed:
            self._probed = True
            self._probe_devices()
        super().showEvent(event)
        QtCore.QTimer.singleShot(0, self._redraw)  # what arrived while the tab was hidden

    PROBE = (
        "import json, torch\n"
        "found = [(f'cuda:{i} \u2014 {torch.cuda.get_device_name(i)}', f'cuda:{i}')"
        " for i in range(torch.cuda.device_count())]\n"
        "mps = getattr(torch.backends, 'mps', None)\n"
        "if mps is not None and mps.is_available(): found.append(('mps \u2014 Apple GPU', 'mps'))\n"
        "print(json.dumps(found))\n"
    )

    def _probe_devices(self) -> None:
        """List CUDA / MPS devices by name without blocking the editor: a short child process imports
        torch and prints them. Not a Python thread: a garbage collection run from a worker thread can
        destroy Qt widgets off the GUI thread (seen here as a deadlock in ~QObject)."""
        import sys

        proc = self._probe_proc = QtCore.QProcess(self)

        def done(*_args):
            try:
                found = json.loads(bytes(proc.readAllStandardOutput()).decode() or "[]")
                self.devices_found.emit([tuple(f) for f in found])
            except ValueError:  # a broken CUDA install must not break the editor; auto falls back
                self.devices_found.emit([])
            except RuntimeError:  # the panel (and its QProcess) is being destroyed: nothing to show
                pass

        proc.finished.connect(done)
        proc.start(sys.executable, ["-c", self.PROBE])

    @QtCore.Slot(list)
    def _add_devices(self, found: list) -> None:
        for label, value in found:
            if self.device.findData(value) < 0:
                self.device.insertItem(self.device.count() - 1, label, value)
        if found:
            self.device.setItemText(0, f"auto ({found[0][0]})")
        else:
            self.device.setItemText(0, "auto (no GPU found: CPU)")

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        outer = QtWidgets.QHBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        split = QtWidgets.QSplitter(QtCore.Qt.Horizontal)
        outer.addWidget(split)

        left = QtWidgets.QWidget()
        left.setMinimumWidth(340)
        left_lay = QtWidgets.QVBoxLayout(left)
        left_lay.setContentsMargins(0, 0, 0, 0)
        # steps as tabs (issue 11): each page is one narrow column that wraps labels above fields when
        # space is short, so no widget is clipped at 1024 px; the wheel scrolls the page
        self.data_scroll = self._scroll_page(self._plan_box(), self._data_group())  # the plan first: always in view
        self.settings_scroll = self._scroll_page(self._settings_group())
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.addTab(self.data_scroll, "1 Data")
        self.tabs.addTab(self.settings_scroll, "2 Training")
        self.tabs.addTab(self._runs_group(), "Runs")
        left_lay.addWidget(self.tabs, 1)
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
        left_lay.addLayout(buttons)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("idle")
        self.progress.setValue(0)
        left_lay.addWidget(self.progress)
        self.status = QtWidgets.QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        self.status.setMinimumHeight(34)
        self.status.setAlignment(QtCore.Qt.AlignTop | QtCore.Qt.AlignLeft)
        left_lay.addWidget(self.status)
        split.addWidget(left)

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
        split.addWidget(charts)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setSizes([380, 900])

    def _scroll_page(self, *widgets: QtWidgets.QWidget) -> QtWidgets.QScrollArea:
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.NoFrame)
        scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarAlwaysOff)
        host = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(host)
        lay.setContentsMargins(2, 2, 8, 2)
        for w in widgets:
            lay.addWidget(w)
        lay.addStretch(1)
        scroll.setWidget(host)
        return scroll

    @staticmethod
    def _form(box: QtWidgets.QWidget) -> QtWidgets.QFormLayout:
        form = QtWidgets.QFormLayout(box)
        form.setRowWrapPolicy(QtWidgets.QFormLayout.WrapLongRows)  # labels above fields when narrow
        form.setFieldGrowthPolicy(QtWidgets.QFormLayout.AllNonFixedFieldsGrow)
        return form

    @staticmethod
    def _combo() -> QtWidgets.QComboBox:
        """A combo whose popup draws every item (a styled combo's default delegate drew the current
        item as a blank row) and whose width follows the form, not its longest item."""
        combo = QtWidgets.QComboBox()
        combo.setItemDelegate(QtWidgets.QStyledItemDelegate(combo))
        combo.setSizeAdjustPolicy(QtWidgets.QComboBox.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(8)
        return combo

    def _data_group(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Data")
        form = self._form(box)
        self.source = self._combo()
        for label, key in DEMOS:
            self.source.addItem(label, ("demo", key))
        self.source.addItem("CSV file…", ("csv", None))
        self.source.addItem("NumPy .npz file…", ("npz", None))
        self.source.addItem("Parquet / Feather / .npy file…", ("table", None))
        self.source.currentIndexChanged.connect(self._source_changed)
        self.source.activated.connect(self._source_activated)
        form.addRow("Source:", self.source)
        row = QtWidgets.QHBoxLayout()
        self.path_edit = QtWidgets.QLineEdit()
        self.path_edit.setPlaceholderText("path to a data file")
        self.path_edit.setMinimumWidth(80)
        self.path_edit.editingFinished.connect(self._load_preview)
        self.browse_button = QtWidgets.QPushButton("Browse…")
        self.browse_button.setSizePolicy(QtWidgets.QSizePolicy.Fixed, QtWidgets.QSizePolicy.Fixed)
        self.browse_button.clicked.connect(self._browse)
        row.addWidget(self.path_edit, 1)
        row.addWidget(self.browse_button)
        self.path_row = QtWidgets.QWidget()
        self.path_row.setLayout(row)
        row.setContentsMargins(0, 0, 0, 0)
        form.addRow("File:", self.path_row)
        self.target = self._combo()
        self.target.setToolTip("Column to predict (default: the last column)")
        self.target.currentIndexChanged.connect(self._target_changed)
        form.addRow("Target:", self.target)
        self.series = self._combo()
        self.series.setToolTip("Column holding the series id when the file holds many series (shops, sensors)")
        self.series.currentIndexChanged.connect(self._plan_later)
        form.addRow("Series column:", self.series)
        self.missing = self._combo()
        for label, key in MISSING_CHOICES:
            self.missing.addItem(label, key)
        self.missing.currentIndexChanged.connect(self._plan_later)
        form.addRow("Missing values:", self.missing)
        self.features = QtWidgets.QListWidget()
        self.features.setMaximumHeight(110)
        self.features.setToolTip("Feature columns: exactly the ticked columns train")
        self.features.itemChanged.connect(self._ticks_changed)
        form.addRow("Features:", self.features)
        self.lookback = QtWidgets.QSpinBox(minimum=0, maximum=100000, specialValueText="from Input")
        self.lookback.setToolTip("Window length; 'from Input' uses the Input block's timesteps")
        self.lookback.valueChanged.connect(self._plan_later)
        form.addRow("Lookback:", self.lookback)
        self.horizon = QtWidgets.QSpinBox(minimum=1, maximum=10000, value=1)
        self.horizon.valueChanged.connect(self._plan_later)
        form.addRow("Horizon:", self.horizon)
        self._preview_rows(form)
        self._source_changed()
        return box

    def _preview_rows(self, form: QtWidgets.QFormLayout) -> None:
        """The preview table (10 rows visible) and its error line; the wheel guard for the data form."""
        self.preview = QtWidgets.QTableWidget(0, 0)
        self.preview.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.preview.verticalHeader().setDefaultSectionSize(self.preview.fontMetrics().height() + 6)
        rows_h = self.preview.verticalHeader().defaultSectionSize() * (PREVIEW_ROWS + 1)
        self.preview.setMinimumHeight(rows_h + self.preview.horizontalScrollBar().sizeHint().height() + 4)
        self.preview.setFocusPolicy(QtCore.Qt.ClickFocus)
        form.addRow(self.preview)
        self.preview_error = QtWidgets.QLabel("")
        self.preview_error.setWordWrap(True)
        self.preview_error.setStyleSheet(f"color: {theme_color('error')};")
        form.addRow(self.preview_error)
        self._wheel_guard = _WheelToPage(self)
        for w in (
            self.source,
            self.target,
            self.series,
            self.missing,
            self.lookback,
            self.horizon,
            self.features,
            self.preview,
        ):
            w.installEventFilter(self._wheel_guard)
            if w is not self.preview and w is not self.features:
                w.setFocusPolicy(QtCore.Qt.StrongFocus)
        self.preview.viewport().installEventFilter(self._wheel_guard)
        self.features.viewport().installEventFilter(self._wheel_guard)

    def _plan_box(self) -> QtWidgets.QGroupBox:
        """The data plan, live: what will train (engine.dataplan, the same plan `rnn-studio data` prints)."""
        box = QtWidgets.QGroupBox("Plan: what will train")
        lay = QtWidgets.QVBoxLayout(box)
        self.plan_text = QtWidgets.QLabel("")
        self.plan_text.setWordWrap(True)
        self.plan_text.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        self.plan_warning = QtWidgets.QLabel("")
        self.plan_warning.setWordWrap(True)
        self.plan_warning.setStyleSheet(f"color: {theme_color('warning')};")
        self.plan_error = QtWidgets.QLabel("")
        self.plan_error.setWordWrap(True)
        self.plan_error.setStyleSheet(f"color: {theme_color('error')};")
        self.fix_button = QtWidgets.QPushButton("")
        self.fix_button.setVisible(False)
        self.fix_button.clicked.connect(self._apply_fix)
        for w in (self.plan_text, self.plan_warning, self.plan_error, self.fix_button):
            lay.addWidget(w)
        self.plan = None
        self._plan_timer = QtCore.QTimer(self)
        self._plan_timer.setSingleShot(True)
        self._plan_timer.setInterval(120)
        self._plan_timer.timeout.connect(self.refresh_plan)
        return box

    def _settings_group(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Training")
        form = self._form(box)
        self.epochs = QtWidgets.QSpinBox(minimum=1, maximum=100000, value=20)
        self.batch = QtWidgets.QSpinBox(minimum=1, maximum=65536, value=64)
        self.lr = QtWidgets.QDoubleSpinBox(decimals=6, minimum=1e-6, maximum=10.0, value=1e-3, singleStep=1e-4)
        self.optimizer = self._combo()
        self.optimizer.addItems(["adam", "adamw", "sgd"])
        self.weight_decay = QtWidgets.QDoubleSpinBox(decimals=6, minimum=0.0, maximum=1.0, value=0.0, singleStep=1e-4)
        self.schedule = self._combo()
        self.schedule.addItems(["constant", "cosine", "plateau"])
        self.patience = QtWidgets.QSpinBox(minimum=0, maximum=1000, value=0, specialValueText="off")
        self.clip = QtWidgets.QDoubleSpinBox(decimals=3, minimum=0.0, maximum=1e6, value=0.0, specialValueText="off")
        self.device = self._combo()
        self.device.addItem("auto (CUDA, then MPS, then CPU)", "auto")
        self.device.addItem("cpu", "cpu")
        self.precision = self._combo()
        self.precision.addItems(["fp32", "bf16", "fp16"])
        self.precision.setToolTip("bf16 / fp16 autocast are used on CUDA only")
        self.seed = QtWidgets.QSpinBox(minimum=0, maximum=2**31 - 1, value=0)
        self.log_to = QtWidgets.QComboBox()  # engine/tracking.py; docs/tracking.md
        for text, value in (("none", None), ("TensorBoard", "tensorboard"), ("MLflow", "mlflow")):
            self.log_to.addItem(text, value)
        self.log_to.setToolTip(
            "Also write TensorBoard event files into the run folder, or log the run to MLflow "
            "(MLFLOW_TRACKING_URI, default runs/mlflow.db). Needs: pip install 'rnn-studio[tracking]'"
        )
        for label, w in (
            ("Epochs:", self.epochs),
            ("Batch size:", self.batch),
            ("Learning rate:", self.lr),
            ("Optimizer:", self.optimizer),
            ("Weight decay:", self.weight_decay),
            ("LR schedule:", self.schedule),
            ("Early stop patience:", self.patience),
            ("Clip grad norm:", self.clip),
            ("Device:", self.device),
            ("Precision:", self.precision),
            ("Seed:", self.seed),
            ("Log to:", self.log_to),
        ):
            form.addRow(label, w)
            w.installEventFilter(self._wheel_guard)
            w.setFocusPolicy(QtCore.Qt.StrongFocus)
        note = QtWidgets.QLabel("Dropout is set on the blocks.")
        note.setStyleSheet("color: palette(mid);")
        form.addRow(note)
        return box

    def _runs_group(self) -> QtWidgets.QWidget:
        box = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(box)
        self.runs = QtWidgets.QListWidget()
        self.runs.setSelectionMode(QtWidgets.QAbstractItemView.SingleSelection)
        self.runs.itemSelectionChanged.connect(self._run_selected)
        lay.addWidget(self.runs, 1)
        row = QtWidgets.QHBoxLayout()
        self.compare_box = QtWidgets.QCheckBox("Overlay on current")
        self.compare_box.setToolTip("Show the selected run dashed over the current one to compare")
        self.refresh_button = QtWidgets.QToolButton(text="⟳")
        self.refresh_button.setToolTip("Reload the runs list")
        self.refresh_button.clicked.connect(self.refresh_runs)
        self.open_button = QtWidgets.QPushButton("Open folder")
        self.open_button.clicked.connect(self._open_folder)
        self.attach_button = QtWidgets.QPushButton("Attach…")
        self.attach_button.setToolTip("Follow a run folder, e.g. one started with `rnn-studio train`")
        self.attach_button.clicked.connect(self._attach_dialog)
        self.export_button = QtWidgets.QPushButton("Export…")
        self.export_button.setToolTip("Export the selected run (or the design) to ONNX or PyTorch, verified")
        self.export_button.clicked.connect(self.open_export_dialog)
        row.addWidget(self.compare_box)
        row.addStretch(1)
        row.addWidget(self.refresh_button)
        lay.addLayout(row)
        row2 = QtWidgets.QHBoxLayout()
        row2.addWidget(self.open_button)
        row2.addWidget(self.attach_button)
        row2.addWidget(self.export_button)
        lay.addLayout(row2)
        return box

    # ------------------------------------------------------------------ data source
    def _source_changed(self) -> None:
        kind, _ = self.source.currentData()
        is_file = kind != "demo"
        self.path_row.setEnabled(is_file)
        for w in (self.target, self.features, self.series, self.missing):
            w.setEnabled(kind in ("csv", "table"))
        self.preview.setVisible(kind in ("csv", "table"))
        if not is_file:
            self.preview_error.setText("")
        self._plan_later()

    def _source_activated(self, _index: int) -> None:
        """Choosing "CSV file…" (or another file kind) opens the file dialog at once."""
        kind, _ = self.source.currentData()
        if kind != "demo" and not self.path_edit.text():
            self._browse()

    def _start_folder(self) -> str:
        """Browse starts beside the current file, else in the design's folder."""
        if self.path_edit.text():
            return str(Path(self.path_edit.text()).expanduser().parent)
        project = self.project_getter()
        if project is not None and getattr(project, "path", None):
            return str(Path(project.path).resolve().parent)
        return str(Path.cwd())

    def _browse(self) -> None:
        kind, _ = self.source.currentData()
        filt = {
            "csv": "CSV files (*.csv *.csv.gz *.tsv *.txt)",
            "npz": "NumPy archives (*.npz)",
            "table": "Tables (*.parquet *.pq *.feather *.arrow *.ipc *.npy)",
        }.get(kind, "")
        dialog = QtWidgets.QFileDialog(self, "Choose data", self._start_folder(), filt + ";;All files (*)")
        dialog.setFileMode(QtWidgets.QFileDialog.ExistingFile)
        dialog.fileSelected.connect(self.set_data_file)
        self.file_dialog = dialog
        dialog.open()  # not modal-blocking: tests and the event loop keep running

    def set_data_file(self, path: str) -> None:
        from rnn_studio.engine.tables import data_format

        fmt = data_format(path)
        kind = "npz" if fmt == "npz" else "csv" if fmt in ("csv", "folder") else "table"
        idx = next(i for i in range(self.source.count()) if self.source.itemData(i)[0] == kind)
        self.source.blockSignals(True)
        self.source.setCurrentIndex(idx)
        self.source.blockSignals(False)
        self.path_edit.setText(path)
        self._source_changed()
        self._load_preview()

    def _busy(self, text: str | None) -> None:
        """The progress bar as a busy indicator while a file is read (painted before the read starts)."""
        if text is None:
            self.progress.setRange(0, 1)
            self.progress.setFormat("idle")
            return
        self.progress.setRange(0, 0)
        self.progress.setFormat(text)
        QtWidgets.QApplication.processEvents(QtCore.QEventLoop.ExcludeUserInputEvents)

    def _load_preview(self) -> None:
        kind, _ = self.source.currentData()
        self.preview_error.setText("")
        self._table = None
        if kind not in ("csv", "table") or not self.path_edit.text():
            self._plan_later()
            return
        from rnn_studio.engine.data import DataError, read_table

        path = self.path_edit.text()
        self._busy(f"reading {Path(path).name}…")
        try:
            table = read_table(path)
        except (DataError, OSError) as e:
            self.preview_error.setText(str(e))
            self.preview.setRowCount(0)
            self._set_columns([])
            self._plan_later()
            return
        finally:
            self._busy(None)
        self._table = table
        self._set_columns(table.names)
        self._fill_preview(table)
        self._ticks_touched = False
        self.refresh_plan()

    def _set_columns(self, cols: list[str]) -> None:
        for combo in (self.target, self.series):
            combo.blockSignals(True)
            combo.clear()
        self.target.addItems(cols)
        self.target.setCurrentIndex(len(cols) - 1)
        self.series.addItem("(none: one series)", None)
        for c in cols:
            self.series.addItem(c, c)
        if "series" in cols and self._table is not None and self._table.fmt == "folder":
            self.series.setCurrentIndex(self.series.findData("series"))
        for combo in (self.target, self.series):
            combo.blockSignals(False)
        self.features.blockSignals(True)
        self.features.clear()
        for c in cols:
            item = QtWidgets.QListWidgetItem(c)
            item.setFlags(item.flags() | QtCore.Qt.ItemIsUserCheckable)
            item.setCheckState(QtCore.Qt.Unchecked)
            self.features.addItem(item)
        self.features.blockSignals(False)

    def _fill_preview(self, table) -> None:
        cols = list(table.names)
        n = min(table.n_rows, PREVIEW_MAX_ROWS)
        self.preview.setColumnCount(len(cols))
        self.preview.setHorizontalHeaderLabels(cols)
        self.preview.setRowCount(n)
        for r in range(n):
            for c, name in enumerate(cols):
                self.preview.setItem(r, c, QtWidgets.QTableWidgetItem(table.cell_text(name, r)))

    def ticked_features(self) -> list[str]:
        return [
            self.features.item(i).text()
            for i in range(self.features.count())
            if self.features.item(i).checkState() == QtCore.Qt.Checked
        ]

    def _set_ticks(self, names: list[str]) -> None:
        self.features.blockSignals(True)
        for i in range(self.features.count()):
            item = self.features.item(i)
            item.setCheckState(QtCore.Qt.Checked if item.text() in names else QtCore.Qt.Unchecked)
        self.features.blockSignals(False)

    def _ticks_changed(self, _item=None) -> None:
        self._ticks_touched = True
        self._plan_later()

    def _target_changed(self, _index: int) -> None:
        self._plan_later()

    def data_spec(self) -> dict[str, Any]:
        """The data settings as engine.data.DataSpec fields. For a table the ticked columns are passed
        as they are: what is ticked is exactly what trains."""
        kind, demo = self.source.currentData()
        spec: dict[str, Any] = {"horizon": self.horizon.value(), "lookback": self.lookback.value() or None}
        if kind == "demo":
            spec["demo"] = demo
        else:
            spec["path"] = self.path_edit.text()
            if kind in ("csv", "table") and self.target.count():
                spec["target"] = self.target.currentText()
                spec["features"] = self.ticked_features()
                spec["series"] = self.series.currentData()
                spec["missing"] = self.missing.currentData()
        return spec

    # ------------------------------------------------------------------ the data plan
    def _plan_later(self, *_args) -> None:
        if hasattr(self, "_plan_timer"):
            self._plan_timer.start()

    def _table_for_plan(self):
        kind, demo = self.source.currentData()
        if kind == "demo":
            cache = self.__dict__.setdefault("_demo_tables", {})
            if demo not in cache:
                from rnn_studio.engine.data import demo_table

                cache[demo] = demo_table(demo)
            return cache[demo]
        return getattr(self, "_table", None)

    def refresh_plan(self) -> None:
        """Re-derive the plan from the file, the design and the settings, and show it. Until the user
        ticks columns, the ticks follow the plan's default features."""
        self._plan_timer.stop()
        from rnn_studio.engine.compile import DesignError
        from rnn_studio.engine.data import DataSpec, plan_data

        spec = self.data_spec()
        kind, _ = self.source.currentData()
        table = self._table_for_plan()
        self.plan = None
        if kind != "demo" and not spec.get("path"):
            return self._show_plan(None, "Choose a data file first (or a demo dataset).")
        if kind in ("csv", "table") and table is None:
            return self._show_plan(None, self.preview_error.text() or "The file could not be read.")
        if kind in ("csv", "table") and not getattr(self, "_ticks_touched", False):
            spec["features"] = None  # the plan's defaults, then tick exactly those
        try:
            plan = plan_data(DataSpec.from_dict(spec), self.project_getter(), table=table, ui="gui")
        except DesignError as e:
            return self._show_plan(None, f"Fix the design first: {str(e).splitlines()[0]}")
        if kind in ("csv", "table") and not getattr(self, "_ticks_touched", False):
            self._set_ticks(plan.features)
            if not plan.ok:  # the default could not be chosen: show the error for the ticks as they are
                spec["features"] = self.ticked_features()
        self.plan = plan
        self._show_plan(plan, None)

    def _show_plan(self, plan, error: str | None) -> None:
        lines = (
            [] if plan is None else [line for line in plan.describe() if not line.startswith(("warning:", "error:"))]
        )
        self.plan_text.setText("\n".join(lines))
        warnings = [] if plan is None else plan.warnings
        self.plan_warning.setText("\n".join(f"Warning: {w}" for w in warnings))
        self.plan_warning.setVisible(bool(warnings))
        error = error or (plan.errors[0] if plan is not None and plan.errors else None)
        self.plan_error.setText(error or "")
        self.plan_error.setVisible(bool(error))
        fix = plan.input_features_fix if plan is not None and plan.errors else None
        self.fix_button.setVisible(fix is not None and self.set_input_features is not None)
        if fix is not None:
            self.fix_button.setText(f"Set Input features to {fix}")
        self.start_button.setEnabled(error is None and not self.is_running())
        self.start_button.setToolTip(error or "Train the current design in a separate process (F5)")

    def _apply_fix(self) -> None:
        """One click: set the Input block's features to the ticked count (through the designer's undo stack)."""
        plan = self.plan
        if plan is None or plan.input_features_fix is None or self.set_input_features is None:
            return
        project = self.project_getter()
        inputs = [b.id for b in project.blocks if b.type == INPUT_TYPE]
        if inputs:
            self.set_input_features(inputs[0], plan.input_features_fix)
        self.refresh_plan()

    def overrides(self) -> dict[str, Any]:
        o = {
            "epochs": self.epochs.value(),
            "batch_size": self.batch.value(),
            "lr": self.lr.value(),
            "optimizer": self.optimizer.currentText(),
            "weight_decay": self.weight_decay.value(),
            "schedule": self.schedule.currentText(),
            "device": self.device.currentData(),
            "precision": self.precision.currentText(),
            "seed": self.seed.value(),
        }
        if self.patience.value():
            o["patience"] = self.patience.value()
        if self.clip.value():
            o["clip_norm"] = self.clip.value()
        if self.log_to.currentData():
            o["log"] = self.log_to.currentData()  # taken out by engine.train._process_main
        return o

    def load_settings(self, training: dict[str, Any]) -> None:
        """Fill the form from a project's `training` section."""

        def setv(w, key, cast=float):
            if key in training and training[key] is not None:
                with contextlib.suppress(TypeError, ValueError):
                    w.setValue(cast(training[key]))

        setv(self.epochs, "epochs", int)
        setv(self.batch, "batch_size", int)
        setv(self.lr, "lr")
        setv(self.weight_decay, "weight_decay")
        setv(self.patience, "patience", int)
        setv(self.clip, "clip_norm")
        setv(self.seed, "seed", int)
        for combo, key in ((self.optimizer, "optimizer"), (self.schedule, "schedule"), (self.precision, "precision")):
            if isinstance(training.get(key), str) and combo.findText(training[key]) >= 0:
                combo.setCurrentText(training[key])

    # ------------------------------------------------------------------ runs
    @property
    def runs_root(self) -> Path:
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
        selected = self.selected_run()
        self.runs.blockSignals(True)
        self.runs.clear()
        for run in list_runs(self.runs_root):
            s = read_summary(run)
            bits = [run.name]
            if s:
                metric = next(
                    (
                        f"{k}={s[k]:.4g}"
                        for k in ("val_rmse", "val_accuracy", "val_loss")
                        if isinstance(s.get(k), (int, float))
                    ),
                    "",
                )
                bits.append(f"{s.get('stop_reason', '')} {metric}".strip())
            elif self.follower and self.follower.run_dir == run:
                bits.append("running…")
            item = QtWidgets.QListWidgetItem(" — ".join(bits))
            item.setData(QtCore.Qt.UserRole, str(run))
            item.setToolTip(str(run))
            self.runs.addItem(item)
            if selected and run == selected:
                item.setSelected(True)
        self.runs.blockSignals(False)

    def selected_run(self) -> Path | None:
        items = self.runs.selectedItems()
        return Path(items[0].data(QtCore.Qt.UserRole)) if items else None

    def _run_selected(self) -> None:
        run = self.selected_run()
        if run is None or self.is_running():
            if run is not None and self.compare_box.isChecked():
                self._overlay(run)
            return
        if self.compare_box.isChecked() and self.follower is not None:
            self._overlay(run)
        else:
            self.show_run(run)

    def show_run(self, run: Path) -> None:
        """Load a finished (or running) run's whole history into the charts."""
        self.attach(run, live=False)

    def _overlay(self, run: Path) -> None:
        steps, losses, vsteps, vlosses = [], [], [], []
        for rec in MetricsTail(run / "metrics.jsonl").read_new(max_bytes=1 << 30):
            if rec.get("kind") == "step" and isinstance(rec.get("loss"), (int, float)):
                steps.append(rec["step"])
                losses.append(rec["loss"])
            elif rec.get("kind") == "epoch" and isinstance(rec.get("val_loss"), (int, float)):
                vsteps.append(rec["step"])
                vlosses.append(rec["val_loss"])
        self.loss_chart.clear_overlays()
        self.loss_chart.overlay(steps, losses, vsteps, vlosses, run.name)

    def _open_folder(self) -> None:
        run = self.selected_run() or (self.follower.run_dir if self.follower else self.runs_root)
        QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(str(run)))

    def _attach_dialog(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Attach to run folder", str(self.runs_root))
        if path:
            self.attach(Path(path), live=True)

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
        self.refresh_plan()
        if self.plan is None or not self.plan.ok:
            self._say(self.plan_error.text() or "The data plan has errors.", error=True)
            self.tabs.setCurrentWidget(self.data_scroll)
            return None
        from rnn_studio.engine.train import start_training_process

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

    def stop(self) -> None:
        """Ask the trainer to stop at the next step (it saves last.pt and the summary); if it does not
        end within 10 s, terminate it (SIGTERM, also handled cleanly), then kill it."""
        if self.follower is None:
            return
        from rnn_studio.engine.runs import request_stop

        request_stop(self.follower.run_dir)
        self._stop_requested_at = time.monotonic()
        self.stop_button.setEnabled(False)
        self._say("Stopping at the next step…")

    def attach(self, run_dir: Path, live: bool = True) -> None:
        """Follow a run folder: replay its history into the charts, then keep following if live."""
        self.follower = RunFollower(self, Path(run_dir))
        self.watch = GradWatch()
        self.alerts = []
        self.alerts_cleared.emit()
        for chart in (self.loss_chart, self.grad_chart, self.lr_chart, self.pred_chart):
            chart.reset()
        self.grad_chart.set_colors(self.colors_getter())
        self.progress.setValue(0)
        self.progress.setFormat("starting…" if live else "")
        self._tick()
        self.run_shown.emit(str(run_dir))
        if live:
            self.timer.start()
        else:
            self._redraw()

    def _tick(self) -> None:
        f = self.follower
        if f is None:
            return
        for rec in f.poll():
            self._handle(rec)
        self._redraw()
        proc_done = self.proc is not None and not self.proc.is_alive()
        if self._stop_requested_at is not None and self.proc is not None and self.proc.is_alive():
            waited = time.monotonic() - self._stop_requested_at
            if waited > 10:
                self.proc.terminate()
            if waited > 20:
                self.proc.kill()
        if f.end is not None or proc_done:
            if proc_done and f.end is None:
                for rec in f.poll():  # the last records may land just before exit
                    self._handle(rec)
                if f.end is None:
                    code = self.proc.exitcode
                    self._finish(
                        {
                            "stop_reason": "crashed",
                            "message": f"the training process exited with code "
                            f"{code} without a summary; see {f.run_dir}",
                        }
                    )
                    return
            if f.end is not None and (self.proc is None or proc_done):
                self._finish(f.end)

    def _handle(self, raw: dict[str, Any]) -> None:
        f = self.follower
        rec: Any = parse_record(raw)  # typed (engine/records.py); None: not a record this version reads
        if rec is None:
            return
        kind = rec["kind"]
        if kind == "start":
            f.start = rec
            total = int(rec.get("total_steps") or 0)
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(int(rec.get("resumed_from_step") or 0))
            dev = rec.get("device_name") or rec.get("device")
            self._say(
                f"Training '{rec.get('name')}' on {dev} · {rec.get('parameters', 0):,} parameters · "
                f"data {rec.get('data')}"
            )
            for w in rec.get("warnings") or []:
                self._say(f"Warning: {w}", error=True)
        elif kind == "step":
            step, loss = rec.get("step", 0), rec.get("loss")
            f.last_step = step
            self.loss_chart.add_steps([step], [loss if isinstance(loss, (int, float)) else float("nan")])
            if isinstance(rec.get("lr"), (int, float)):
                self.lr_chart.add(step, rec["lr"])
            self._progress(rec)
        elif kind == "grad":
            blocks = {
                k: (v if isinstance(v, (int, float)) else float("nan")) for k, v in (rec.get("blocks") or {}).items()
            }
            self.grad_chart.add(rec.get("step", 0), blocks, rec.get("total"))
            for a in self.watch.feed(rec.get("step", 0), blocks):
                self._alert(a.block, a.kind, a.message, a.step)
        elif kind == "epoch":
            if isinstance(rec.get("val_loss"), (int, float)):
                self.loss_chart.add_val(rec.get("step", 0), rec["val_loss"])
            self._progress(rec)
            self._load_predictions()
        elif kind == "end":
            f.end = rec

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
        chart = self.grad_chart if kind != "diverged" else self.loss_chart
        chart.mark(step, f"{kind}: {block}" if block else kind)
        self.alert.emit(block or "", kind, message)
        self._say(message, error=True)

    def _load_predictions(self) -> None:
        """The trainer writes predictions.json (validation split) whenever the best checkpoint improves."""
        f = self.follower
        path = f.run_dir / "predictions.json"
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            return
        if getattr(f, "_pred_mtime", None) == mtime:
            return
        f._pred_mtime = mtime
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if data.get("task") == "classification" and data.get("confusion") is not None:
            self.pred_chart.show_confusion(data["confusion"], data.get("labels") or [])
        elif data.get("actual") is not None:
            self.pred_chart.show_series(data["actual"], data["predicted"])

    def _redraw(self) -> None:
        if not self.isVisible():
            return  # a hidden Train tab paints nothing; the charts keep their data and draw when shown
        start = self.follower.start if self.follower is not None else None
        if isinstance(start, dict) and isinstance(start.get("grad_every"), int):
            self.grad_chart.set_interval(start["grad_every"])  # the empty chart says when norms come
        for chart in (self.loss_chart, self.grad_chart, self.lr_chart):
            chart.refresh()

    def _finish(self, end: dict[str, Any]) -> None:
        self.timer.stop()
        f = self.follower
        self._load_predictions()
        reason = str(end.get("stop_reason") or "")
        if is_diverged(reason):
            step = diverged_step(end)  # a field of the end record, never parsed from the text
            self._alert(None, "diverged", end.get("message") or reason, f.last_step if step is None else step)
        self._redraw()
        if self.proc is not None:
            self.proc.join(timeout=5)
        self.proc = None
        self.start_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.refresh_plan()
        metric = next(
            (
                f"{k} {end[k]:.4g}"
                for k in ("val_rmse", "val_accuracy", "val_loss")
                if isinstance(end.get(k), (int, float))
            ),
            "",
        )
        base = end.get("val_persistence_rmse")  # the same split as the metric beside it
        extra = f" (persistence {base:.4g})" if isinstance(base, (int, float)) and metric.startswith("val_rmse") else ""
        text = f"Run ended: {reason}" + (f" · best {metric}{extra}" if metric else "")
        if end.get("message"):
            text += f" — {end['message']}"
        self.progress.setFormat(reason or "ended")
        failed = reason in ("error", "crashed", "out of memory") or is_diverged(reason)
        if end.get("beats_persistence") is False and not failed:
            split = "validation" if end.get("persistence_split") == "val" else "test"
            text += (
                f" — Warning: the model does not beat persistence on the {split} split "
                f"({end.get(end.get('persistence_split', 'test') + '_rmse', float('nan')):.4g} vs "
                f"{end.get(end.get('persistence_split', 'test') + '_persistence_rmse', float('nan')):.4g})"
            )
            self._say(text, warning=True)
        else:
            self._say(text, error=failed)
        self.refresh_runs()
        self.run_finished.emit(str(f.run_dir), dict(end))

    def _say(self, text: str, error: bool = False, warning: bool = False) -> None:
        self.status.setText(text)
        color = theme_color("error") if error else theme_color("warning") if warning else None
        self.status.setStyleSheet(f"color: {color};" if color else "")

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
        if self.is_running():
            self.stop()
            self.proc.join(timeout=5)
            if self.proc.is_alive():
                self.proc.terminate()
