"""The Train panel: data source, training settings, Start/Stop, live charts, runs list, export.

Training runs in a separate *spawned* process (engine.train.start_training_process, the same code as
`rnn-studio train`), so a crash, CUDA OOM or hang in training can never freeze or kill the editor. The
panel follows the run folder's metrics.jsonl (engine.follow.MetricsTail) from a QTimer; records are
coalesced into the charts' buffers and the charts redraw at a bounded rate (15 Hz) however fast
metrics arrive. Any run folder can be followed the same way, including one started from the CLI.
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Callable

from PySide6 import QtCore, QtGui, QtWidgets

from engine.diagnose import GradWatch
from engine.follow import MetricsTail

from .. import theme as themes
from .plots import GradChart, LossChart, LrChart, PredictionChart

REDRAW_HZ = 15
DEMOS = [("Demo: chaotic series (Mackey-Glass)", "chaos"), ("Demo: noisy multi-frequency sine", "sine")]


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

    def __init__(self, panel: "TrainPanel", run_dir: Path):
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
        base = (default_dir or Path.cwd())
        name = (run_dir.name if run_dir else "model")
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
        self.details_button.toggled.connect(lambda on: self.details_button.setText("Hide details" if on
                                                                                   else "Show details"))
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
            self.result = export_model(self.run_dir, self.project_getter, Path(self.path.text()),
                                       fmt="pytorch" if self.format.currentIndex() == 1 else "onnx",
                                       checkpoint=self.checkpoint.currentText(),
                                       include_normalization=self.normalize.isChecked())
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


def verification_rows(report: dict[str, Any], path: Path) -> list[tuple[str, str]]:
    """The exporter's report (whatever fields it has) as short (check, result) rows a person reads."""
    rows: list[tuple[str, str]] = [("File", str(path))]
    size = report.get("file_bytes")
    if isinstance(size, int) and size:
        rows[0] = ("File", f"{path}  ({size / 1024:,.0f} KiB)")
    passed = report.get("passed", report.get("ok"))
    verified = report.get("verified", passed is not None)
    rows.append(("Verification", "not run" if not verified else "passed" if passed else "FAILED"))
    if "max_abs_diff" in report:
        tol = report.get("tolerance", report.get("atol"))
        rows.append(("Largest difference vs PyTorch", _fmt_diff(report.get("max_abs_diff"))
                     + (f"  (tolerance {tol:g})" if isinstance(tol, (int, float)) else "")))
    for case in report.get("cases") or []:
        if isinstance(case, dict):
            what = ", ".join(f"{k} {case[k]}" for k in ("batch", "time") if k in case) or "case"
            mark = "✔" if case.get("passed", True) else "✘"
            rows.append((f"  {what}", f"{mark} {_fmt_diff(case.get('max_abs_diff'))}"))
    for key, label in (("checker", "ONNX checker"), ("opset", "Opset"), ("input_shape", "Input shape"),
                       ("output_shape", "Output shape"), ("include_normalization", "Normalization in graph")):
        if report.get(key) not in (None, "", []):
            value = report[key]
            rows.append((label, " × ".join(map(str, value)) if isinstance(value, list) else str(value)))
    if report.get("recurrent_nodes"):
        rows.append(("Recurrent nodes", ", ".join(f"{k} ×{v}" for k, v in report["recurrent_nodes"].items())))
    for problem in report.get("structure_problems") or []:
        rows.append(("Problem", str(problem)))
    if isinstance(report.get("seconds"), (int, float)) and report["seconds"]:
        rows.append(("Time", f"{report['seconds']:.1f} s"))
    if report.get("message"):
        rows.append(("Message", str(report["message"])))
    return rows


def export_model(run_dir: Path | None, project_getter: Callable, path: Path, *, fmt: str = "onnx",
                 checkpoint: str = "best", include_normalization: bool = False) -> dict[str, Any]:
    """Export a run's checkpoint (or the current design) and return {ok, headline, details, max_abs_diff}."""
    import engine
    import exports
    from engine.runs import RunError, load_run

    try:
        if run_dir is not None:
            project, model, meta = load_run(run_dir, checkpoint)
        else:
            project = project_getter()
            res = engine.check(project)
            if not res.ok:
                return {"ok": False, "headline": "the design has errors", "max_abs_diff": None,
                        "details": "\n".join(p.message for p in res.errors)}
            import torch

            torch.manual_seed(0)
            model, meta = engine.build_model(project, res).eval(), None
        if fmt == "pytorch":
            rep = exports.export_pytorch(model, project, path, meta=meta)
            rep = rep.to_dict() if hasattr(rep, "to_dict") else rep
            diff = rep.get("max_abs_diff") if isinstance(rep, dict) else None
            rows = verification_rows(rep if isinstance(rep, dict) else {}, path)
            return {"ok": True, "headline": f"{path.name} reproduces the model"
                    + (f" (max abs diff {diff:.2e})" if isinstance(diff, float) else ""),
                    "details": "\n".join(f"{k}: {v}" for k, v in rows), "rows": rows, "max_abs_diff": diff}
        rep = exports.export_onnx(model, project, path, meta=meta, include_normalization=include_normalization)
        d = rep.to_dict() if hasattr(rep, "to_dict") else dict(rep)
        diff = d.get("max_abs_diff")
        ok = bool(d.get("passed", d.get("ok", True)))
        rows = verification_rows(d, path)
        tol = d.get("tolerance", d.get("atol", 1e-4))
        return {"ok": ok, "headline": f"max abs diff {diff:.2e} (tolerance {tol:g})"
                if isinstance(diff, float) else "exported", "rows": rows, "max_abs_diff": diff,
                "details": "\n".join(f"{k}: {v}" for k, v in rows)}
    except (exports.ExportError, RunError, ValueError, OSError) as e:
        return {"ok": False, "headline": str(e).splitlines()[0] if str(e) else type(e).__name__,
                "details": str(e), "max_abs_diff": None}


class TrainPanel(QtWidgets.QWidget):
    """Train dock content. `project_getter()` returns the current engine.Project; `colors_getter()`
    (optional) returns {block_id: '#rrggbb'} so gradient curves match the canvas."""

    devices_found = QtCore.Signal(list)  # [(label, value)], from a background probe
    run_started = QtCore.Signal(str)
    run_shown = QtCore.Signal(str)  # a run's history is shown (live or from the runs list)
    run_finished = QtCore.Signal(str, dict)
    alert = QtCore.Signal(str, str, str)  # block id ('' for none), kind, message
    alerts_cleared = QtCore.Signal()

    def __init__(self, project_getter: Callable, parent=None, runs_root: Path | None = None,
                 colors_getter: Callable[[], dict] | None = None):
        super().__init__(parent)
        self.project_getter = project_getter
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

    PROBE = ("import json, torch\n"
             "found = [(f'cuda:{i} \u2014 {torch.cuda.get_device_name(i)}', f'cuda:{i}')"
             " for i in range(torch.cuda.device_count())]\n"
             "mps = getattr(torch.backends, 'mps', None)\n"
             "if mps is not None and mps.is_available(): found.append(('mps \u2014 Apple GPU', 'mps'))\n"
             "print(json.dumps(found))\n")

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
        left.setMinimumWidth(400)
        left_lay = QtWidgets.QVBoxLayout(left)
        left_lay.setContentsMargins(0, 0, 0, 0)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.NoFrame)
        scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarAlwaysOff)
        form_host = QtWidgets.QWidget()
        form_lay = QtWidgets.QVBoxLayout(form_host)
        form_lay.setContentsMargins(2, 2, 8, 2)
        form_lay.addWidget(self._data_group())
        form_lay.addWidget(self._settings_group())
        form_lay.addStretch(1)
        scroll.setWidget(form_host)
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.addTab(scroll, "Setup")
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

    def _data_group(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Data")
        form = QtWidgets.QFormLayout(box)
        self.source = QtWidgets.QComboBox()
        for label, key in DEMOS:
            self.source.addItem(label, ("demo", key))
        self.source.addItem("CSV file…", ("csv", None))
        self.source.addItem("NumPy .npz file…", ("npz", None))
        self.source.currentIndexChanged.connect(self._source_changed)
        form.addRow("Source:", self.source)
        row = QtWidgets.QHBoxLayout()
        self.path_edit = QtWidgets.QLineEdit()
        self.path_edit.setPlaceholderText("path to .csv or .npz")
        self.path_edit.editingFinished.connect(self._load_preview)
        self.browse_button = QtWidgets.QPushButton("Browse…")
        self.browse_button.clicked.connect(self._browse)
        row.addWidget(self.path_edit, 1)
        row.addWidget(self.browse_button)
        self.path_row = QtWidgets.QWidget()
        self.path_row.setLayout(row)
        row.setContentsMargins(0, 0, 0, 0)
        form.addRow("File:", self.path_row)
        self.target = QtWidgets.QComboBox()
        self.target.setToolTip("Column to predict (default: the last column)")
        form.addRow("Target:", self.target)
        self.features = QtWidgets.QListWidget()
        self.features.setMaximumHeight(90)
        self.features.setToolTip("Feature columns (default: every numeric column)")
        form.addRow("Features:", self.features)
        self.lookback = QtWidgets.QSpinBox(minimum=0, maximum=100000, specialValueText="from Input")
        self.lookback.setToolTip("Window length; 'from Input' uses the Input block's timesteps")
        form.addRow("Lookback:", self.lookback)
        self.horizon = QtWidgets.QSpinBox(minimum=1, maximum=10000, value=1)
        form.addRow("Horizon:", self.horizon)
        self.preview = QtWidgets.QTableWidget(0, 0)
        self.preview.setMaximumHeight(130)
        self.preview.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        form.addRow(self.preview)
        self.preview_error = QtWidgets.QLabel("")
        self.preview_error.setWordWrap(True)
        self.preview_error.setStyleSheet("color: #c62828;")
        form.addRow(self.preview_error)
        self._source_changed()
        return box

    def _settings_group(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Training")
        form = QtWidgets.QFormLayout(box)
        self.epochs = QtWidgets.QSpinBox(minimum=1, maximum=100000, value=20)
        self.batch = QtWidgets.QSpinBox(minimum=1, maximum=65536, value=64)
        self.lr = QtWidgets.QDoubleSpinBox(decimals=6, minimum=1e-6, maximum=10.0, value=1e-3, singleStep=1e-4)
        self.optimizer = QtWidgets.QComboBox()
        self.optimizer.addItems(["adam", "adamw", "sgd"])
        self.weight_decay = QtWidgets.QDoubleSpinBox(decimals=6, minimum=0.0, maximum=1.0, value=0.0, singleStep=1e-4)
        self.schedule = QtWidgets.QComboBox()
        self.schedule.addItems(["constant", "cosine", "plateau"])
        self.patience = QtWidgets.QSpinBox(minimum=0, maximum=1000, value=0, specialValueText="off")
        self.clip = QtWidgets.QDoubleSpinBox(decimals=3, minimum=0.0, maximum=1e6, value=0.0, specialValueText="off")
        self.device = QtWidgets.QComboBox()
        self.device.addItem("auto (CUDA, then MPS, then CPU)", "auto")
        self.device.addItem("cpu", "cpu")
        self.precision = QtWidgets.QComboBox()
        self.precision.addItems(["fp32", "bf16", "fp16"])
        self.precision.setToolTip("bf16 / fp16 autocast are used on CUDA only")
        self.seed = QtWidgets.QSpinBox(minimum=0, maximum=2**31 - 1, value=0)
        for label, w in (("Epochs:", self.epochs), ("Batch size:", self.batch), ("Learning rate:", self.lr),
                         ("Optimizer:", self.optimizer), ("Weight decay:", self.weight_decay),
                         ("LR schedule:", self.schedule), ("Early stop patience:", self.patience),
                         ("Clip grad norm:", self.clip), ("Device:", self.device), ("Precision:", self.precision),
                         ("Seed:", self.seed)):
            form.addRow(label, w)
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
        is_file = kind in ("csv", "npz")
        self.path_row.setEnabled(is_file)
        self.target.setEnabled(kind == "csv")
        self.features.setEnabled(kind == "csv")
        self.preview.setVisible(kind == "csv")
        if not is_file:
            self.preview_error.setText("")

    def _browse(self) -> None:
        kind, _ = self.source.currentData()
        filt = "CSV files (*.csv)" if kind == "csv" else "NumPy archives (*.npz)"
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Choose data", "", filt)
        if path:
            self.set_data_file(path)

    def set_data_file(self, path: str) -> None:
        kind = "npz" if path.lower().endswith(".npz") else "csv"
        idx = next(i for i in range(self.source.count()) if self.source.itemData(i)[0] == kind)
        self.source.setCurrentIndex(idx)
        self.path_edit.setText(path)
        self._load_preview()

    def _load_preview(self) -> None:
        kind, _ = self.source.currentData()
        self.preview_error.setText("")
        if kind != "csv" or not self.path_edit.text():
            return
        from engine.data import DataError, read_csv

        try:
            table = read_csv(self.path_edit.text())
        except (DataError, OSError) as e:
            self.preview_error.setText(str(e))
            self.preview.setRowCount(0)
            return
        cols = list(table.names)
        n = min(table.n_rows, 20)
        rows = [[table.cells[c][r] for c in range(len(cols))] for r in range(n)]
        self.target.clear()
        self.target.addItems(cols)
        self.target.setCurrentIndex(len(cols) - 1)
        self.features.clear()
        for c in cols:
            item = QtWidgets.QListWidgetItem(c)
            item.setFlags(item.flags() | QtCore.Qt.ItemIsUserCheckable)
            # default features: every numeric column (the target too: autoregressive forecasting)
            item.setCheckState(QtCore.Qt.Unchecked if table.is_text(c) else QtCore.Qt.Checked)
            self.features.addItem(item)
        self.preview.setColumnCount(len(cols))
        self.preview.setHorizontalHeaderLabels(cols)
        self.preview.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, v in enumerate(row):
                self.preview.setItem(r, c, QtWidgets.QTableWidgetItem(str(v)))

    def data_spec(self) -> dict[str, Any]:
        kind, demo = self.source.currentData()
        spec: dict[str, Any] = {"horizon": self.horizon.value(),
                                "lookback": self.lookback.value() or None}
        if kind == "demo":
            spec["demo"] = demo
        else:
            spec["path"] = self.path_edit.text()
            if kind == "csv" and self.target.count():
                spec["target"] = self.target.currentText()
                checked = [self.features.item(i).text() for i in range(self.features.count())
                           if self.features.item(i).checkState() == QtCore.Qt.Checked]
                if len(checked) < self.features.count():
                    spec["features"] = checked
        return spec

    def overrides(self) -> dict[str, Any]:
        o = {"epochs": self.epochs.value(), "batch_size": self.batch.value(), "lr": self.lr.value(),
             "optimizer": self.optimizer.currentText(), "weight_decay": self.weight_decay.value(),
             "schedule": self.schedule.currentText(), "device": self.device.currentData(),
             "precision": self.precision.currentText(), "seed": self.seed.value()}
        if self.patience.value():
            o["patience"] = self.patience.value()
        if self.clip.value():
            o["clip_norm"] = self.clip.value()
        return o

    def load_settings(self, training: dict[str, Any]) -> None:
        """Fill the form from a project's `training` section."""
        def setv(w, key, cast=float):
            if key in training and training[key] is not None:
                try:
                    w.setValue(cast(training[key]))
                except (TypeError, ValueError):
                    pass
        setv(self.epochs, "epochs", int)
        setv(self.batch, "batch_size", int)
        setv(self.lr, "lr")
        setv(self.weight_decay, "weight_decay")
        setv(self.patience, "patience", int)
        setv(self.clip, "clip_norm")
        setv(self.seed, "seed", int)
        for combo, key in ((self.optimizer, "optimizer"), (self.schedule, "schedule"),
                           (self.precision, "precision")):
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
                metric = next((f"{k}={s[k]:.4g}" for k in ("val_rmse", "val_accuracy", "val_loss")
                               if isinstance(s.get(k), (int, float))), "")
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
        import engine

        project = self.project_getter()
        res = engine.check(project)
        if not res.ok:
            self._say(f"Fix the design first: {res.errors[0].message}", error=True)
            return None
        spec = self.data_spec()
        if "path" in spec and not spec["path"]:
            self._say("Choose a data file first (or a demo dataset).", error=True)
            return None
        from engine.train import start_training_process

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
        from engine.runs import request_stop

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
                    self._finish({"stop_reason": "crashed", "message": f"the training process exited with code "
                                  f"{code} without a summary; see {f.run_dir}"})
                    return
            if f.end is not None and (self.proc is None or proc_done):
                self._finish(f.end)

    def _handle(self, rec: dict[str, Any]) -> None:
        f = self.follower
        kind = rec.get("kind")
        if kind == "start":
            f.start = rec
            total = int(rec.get("total_steps") or 0)
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(int(rec.get("resumed_from_step") or 0))
            dev = rec.get("device_name") or rec.get("device")
            self._say(f"Training '{rec.get('name')}' on {dev} · {rec.get('parameters', 0):,} parameters · "
                      f"data {rec.get('data')}")
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
            blocks = {k: (v if isinstance(v, (int, float)) else float("nan")) for k, v in (rec.get("blocks") or {}).items()}
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
        if reason.startswith("diverged"):
            step = f.last_step
            try:
                step = int(reason.rsplit(" ", 1)[-1])
            except ValueError:
                pass
            self._alert(None, "diverged", end.get("message") or reason, step)
        self._redraw()
        if self.proc is not None:
            self.proc.join(timeout=5)
        self.proc = None
        self.start_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        metric = next((f"{k} {end[k]:.4g}" for k in ("val_rmse", "val_accuracy", "val_loss")
                       if isinstance(end.get(k), (int, float))), "")
        base = end.get("persistence_rmse") or end.get("val_persistence_rmse")
        extra = f" (persistence {base:.4g})" if isinstance(base, (int, float)) else ""
        text = f"Run ended: {reason}" + (f" · best {metric}{extra}" if metric else "")
        if end.get("message"):
            text += f" — {end['message']}"
        self.progress.setFormat(reason or "ended")
        self._say(text, error=reason in ("error", "crashed", "out of memory") or reason.startswith("diverged"))
        self.refresh_runs()
        self.run_finished.emit(str(f.run_dir), dict(end))

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #c62828;" if error else "")

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
