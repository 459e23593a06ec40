"""Export a run (or the current design) to ONNX or PyTorch source, verified: the dialog and the
function behind it (the exporters return one typed ExportResult, shown as rows a person reads)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

from .. import theme as themes


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
        self.precision = QtWidgets.QComboBox()
        self.precision.addItems(list(PRECISION_LABELS))
        self.precision.setToolTip(
            "fp16: half the size, float32 inputs/outputs (GPU providers gain speed; the CPU does not). int8: "
            "onnxruntime dynamic quantization of LSTM and Dense/Conv weights; GRU/RNN stay fp32. Compare them "
            "side by side before picking one."
        )
        self.compare_button = QtWidgets.QPushButton("Compare fp32 / fp16 / int8")
        self.compare_button.setToolTip("Size, latency, validation metric and kept-fp32 nodes of each precision")
        self.compare_button.clicked.connect(self.start_compare)
        prow = QtWidgets.QHBoxLayout()
        prow.addWidget(self.precision, 1)
        prow.addWidget(self.compare_button)
        form.addRow("Precision:", prow)
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
        self._result_widgets()
        buttons = QtWidgets.QDialogButtonBox()
        self.export_button = buttons.addButton("Export", QtWidgets.QDialogButtonBox.AcceptRole)
        self.close_button = buttons.addButton(QtWidgets.QDialogButtonBox.Close)
        self.export_button.clicked.connect(self.run_export)
        self.close_button.clicked.connect(self.reject)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.compare_note)
        lay.addWidget(self.compare_table)
        lay.addWidget(self.verdict)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.report, 1)
        lay.addWidget(self.details_button, 0, QtCore.Qt.AlignLeft)
        lay.addWidget(buttons)

    def _result_widgets(self) -> None:
        """The verdict line, the verification table and the full text behind "Show details"."""
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
        self.compare_note = QtWidgets.QLabel("")
        self.compare_note.setWordWrap(True)
        self.compare_note.setVisible(False)
        self.compare_table = QtWidgets.QTableWidget(0, len(COMPARE_COLUMNS))  # fp32 / fp16 / int8 side by side
        self.compare_table.setObjectName("precisionTable")
        self.compare_table.setHorizontalHeaderLabels(list(COMPARE_COLUMNS))
        self.compare_table.verticalHeader().hide()
        self.compare_table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.compare_table.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeToContents)
        self.compare_table.horizontalHeader().setStretchLastSection(True)
        self.compare_table.setVisible(False)
        self.compare_table.cellClicked.connect(lambda row, _col: self.precision.setCurrentIndex(row))
        self._compare_job = None
        self._compare_timer = QtCore.QTimer(self, interval=100, timeout=self._poll_compare)

    def _format_changed(self) -> None:
        p = Path(self.path.text())
        self.path.setText(str(p.with_suffix(".py" if self.format.currentIndex() == 1 else ".onnx")))
        self.normalize.setEnabled(self.format.currentIndex() == 0)
        self.precision.setEnabled(self.format.currentIndex() == 0)
        self.compare_button.setEnabled(self.format.currentIndex() == 0 and self._compare_job is None)

    # ------------------------------------------------------------------ fp32 / fp16 / int8 side by side
    def start_compare(self) -> bool:
        """Measure the three precisions in a worker thread (the dialog stays responsive); the table fills in
        when they are done. Clicking a row picks that precision."""
        from concurrent.futures import ThreadPoolExecutor

        if self._compare_job is not None:
            return False
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rnn-studio-compare")
        self._compare_job = pool.submit(
            compare_models, self.run_dir, self.project_getter(), self.checkpoint.currentText()
        )
        pool.shutdown(wait=False)
        self.compare_button.setEnabled(False)
        self.compare_note.setText("Measuring fp32, fp16 and int8 (size, latency, validation metric)…")
        self.compare_note.setVisible(True)
        self._compare_timer.start()
        return True

    def _poll_compare(self) -> None:
        job = self._compare_job
        if job is None or not job.done():
            return
        self._compare_timer.stop()
        self._compare_job = None
        self.compare_button.setEnabled(self.format.currentIndex() == 0)
        try:
            rows, note = job.result()
        except Exception as e:  # noqa: BLE001 - shown, never raised into the event loop
            rows, note = [], f"Cannot compare: {(str(e).splitlines() or [type(e).__name__])[0]}"
        self.show_comparison(rows, note)

    def show_comparison(self, rows: list[dict], note: str) -> None:
        self.compare_note.setText(note)
        self.compare_table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            for j, text in enumerate(comparison_cells(row)):
                item = QtWidgets.QTableWidgetItem(text)
                item.setToolTip(text)
                self.compare_table.setItem(i, j, item)
        self.compare_table.setVisible(bool(rows))
        self.compare_table.resizeRowsToContents()

    def comparison(self) -> list[list[str]]:
        """The side-by-side table as shown (for tests)."""
        t = self.compare_table
        return [[t.item(i, j).text() for j in range(t.columnCount())] for i in range(t.rowCount())]

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
                precision=PRECISION_LABELS[self.precision.currentText()],
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


PRECISION_LABELS = {"fp32": "fp32", "fp16 (half size)": "fp16", "int8 (dynamic quantization)": "int8"}
COMPARE_COLUMNS = ("Precision", "Size", "p50 latency", "Metric", "Δ vs fp32", "Kept in fp32")


def comparison_cells(row: dict) -> list[str]:
    """One row of the side-by-side table."""
    metric = f"{row['metric_name']} {row['metric']:.5g}" if row.get("metric") is not None else "—"
    delta = f"{row['metric_delta']:+.3g}" if row.get("metric_delta") is not None else "—"
    if row["precision"] == "fp32" and row.get("metric") is not None:
        delta = "reference"
    kept = ", ".join(row["kept_fp32"]) or "—"
    return [
        row["precision"],
        f"{row['file_bytes'] / 1024:,.0f} KiB",
        f"{row['p50_ms']:.3f} ms",
        metric,
        delta,
        kept,
    ]


def compare_models(run_dir: Path | None, project, checkpoint: str = "best") -> tuple[list[dict], str]:
    """(rows, note) for the side-by-side table: a run's checkpoint with its validation metric, or the current
    design with fresh weights (no metric). Runs in a worker thread: no Qt here."""
    from rnn_studio import engine
    from rnn_studio.engine.training.runs import load_run
    from rnn_studio.exports.precision import run_metric
    from rnn_studio.exports.profile import compare_precisions

    metric, note = None, "batch 1, 1 thread, onnxruntime CPU; current design with fresh weights (no metric)"
    if run_dir is not None:
        project, model, meta = load_run(run_dir, checkpoint)
        note = f"batch 1, 1 thread, onnxruntime CPU; metric on run {run_dir.name}'s validation windows"
        try:
            metric = run_metric(run_dir, meta)
        except ValueError as e:
            note += f" (unavailable: {e})"
    else:
        res = engine.check(project)
        if not res.ok:
            raise ValueError(f"the design has errors: {res.errors[0].message}")
        import torch

        torch.manual_seed(0)
        model, meta = engine.build_model(project, res).eval(), None
    return compare_precisions(model, project, meta, metric), note


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
    rows += precision_rows(rep)
    rows += [("Problem", str(problem)) for problem in rep.structure_problems]
    if rep.seconds:
        rows.append(("Time", f"{rep.seconds:.1f} s"))
    if rep.message:
        rows.append(("Message", rep.message))
    return rows


def _metric_or_none(run_dir: Path | None, meta, include_normalization: bool):
    from rnn_studio.exports.precision import run_metric

    if run_dir is None:
        return None
    try:
        return run_metric(run_dir, meta, include_normalization)
    except ValueError:
        return None  # a run whose data moved: size, latency and difference are still measured


def precision_rows(rep) -> list[tuple[str, str]]:
    """What a precision export adds to the table: size, latency and difference beside fp32, the metric."""
    if rep.format != "onnx" or rep.fp32_file_bytes is None:
        return []
    rows = [
        ("Precision", rep.precision),
        ("Size vs fp32", f"{rep.file_bytes / 1024:,.0f} KiB vs {rep.fp32_file_bytes / 1024:,.0f} KiB"),
        ("p50 latency vs fp32", f"{rep.p50_ms:.3f} ms vs {rep.fp32_p50_ms:.3f} ms (batch 1, 1 thread)"),
        ("Difference from fp32", f"max {_fmt_diff(rep.fp32_max_abs_diff)}, mean {_fmt_diff(rep.fp32_mean_abs_diff)}"),
    ]
    if rep.metric is not None:
        rows.append(
            (rep.metric_name, f"{rep.metric:.6g} vs {rep.fp32_metric:.6g} (fp32), delta {rep.metric_delta:+.3g}")
        )
    if rep.kept_fp32_nodes:
        rows.append(("Kept in fp32", ", ".join(rep.kept_fp32_nodes)))
    return rows


def export_model(
    run_dir: Path | None,
    project_getter: Callable,
    path: Path,
    *,
    fmt: str = "onnx",
    checkpoint: str = "best",
    include_normalization: bool = False,
    precision: str = "fp32",
) -> dict[str, Any]:
    """Export a run's checkpoint (or the current design) and return what the dialog shows:
    {ok, headline, rows, details, max_abs_diff, result (the exporter's ExportResult, None on error)}."""
    from rnn_studio import engine, exports
    from rnn_studio.engine.training.runs import RunError, load_run

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
            rep = exports.export_onnx(
                model,
                project,
                path,
                meta=meta,
                include_normalization=include_normalization,
                precision=None if precision == "fp32" else precision,
                metric=_metric_or_none(run_dir, meta, include_normalization) if precision != "fp32" else None,
            )
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
