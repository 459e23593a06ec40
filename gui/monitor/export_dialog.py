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
