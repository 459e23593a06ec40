"""The export dialog shows what the exporter's ExportResult says (the tolerance used to be read from a
key the report never had, so the dialog always showed 1e-4)."""

from __future__ import annotations

from PySide6 import QtCore

from rnn_studio.exports import ExportResult
from rnn_studio.gui.monitor.panel import ExportDialog
from tests.exports.conftest import EXAMPLES, REGRESSION_META, make_run


def _export(qtbot, dlg, path) -> None:
    qtbot.addWidget(dlg)
    dlg.path.setText(str(path))
    qtbot.mouseClick(dlg.export_button, QtCore.Qt.MouseButton.LeftButton)


def test_dialog_shows_the_tolerance_the_export_used(qtbot, tmp_path):
    """Normalization folded into a regression graph: outputs are in raw units (y_std = 20), so the
    verification tolerance is 1e-4 x 20 = 0.002, and the dialog says so."""
    run = make_run(tmp_path / "runs" / "20260101-120000-demand", EXAMPLES / "seq2seq-demand.rnn.json", REGRESSION_META)
    dlg = ExportDialog(run, lambda: None)
    dlg.normalize.setChecked(True)
    _export(qtbot, dlg, tmp_path / "demand.onnx")
    assert dlg.verdict.text().startswith("✔ Verified: max abs diff ")
    assert "(tolerance 0.002)" in dlg.verdict.text(), dlg.verdict.text()  # the verdict ends with its time
    assert isinstance(dlg.result["result"], ExportResult) and dlg.result["result"].tolerance == 0.002
    assert "tolerance 0.002" in dlg.report.toPlainText()


def test_dialog_shows_the_pytorch_source_tolerance(qtbot, tmp_path):
    run = make_run(tmp_path / "runs" / "20260101-120000-demand", EXAMPLES / "seq2seq-demand.rnn.json", REGRESSION_META)
    dlg = ExportDialog(run, lambda: None)
    dlg.format.setCurrentIndex(1)  # PyTorch source
    _export(qtbot, dlg, tmp_path / "demand.py")
    assert dlg.verdict.text().startswith("✔ Verified: demand.py reproduces the model (max abs diff ")
    assert "(tolerance 1e-06))" in dlg.verdict.text(), dlg.verdict.text()
    assert (tmp_path / "demand.py").is_file() and (tmp_path / "demand.pt").is_file()
