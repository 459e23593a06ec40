"""Cost in the designer: inspector rows, canvas labels (View > Show Cost), status bar totals, Profile Latency,
and the export dialog's precision choice and fp32 / fp16 / int8 table. Real widgets, offscreen, no modal."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMessageBox

from rnn_studio.engine import load_project
from rnn_studio.gui.app import create_app
from rnn_studio.gui.main_window import MainWindow
from rnn_studio.gui.monitor.export_dialog import ExportDialog

pytestmark = pytest.mark.slow  # measured: see the Makefile's test-quick

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "assets" / "examples" / "seed-keras.rnn.json"
S2S = ROOT / "assets" / "examples" / "seq2seq-demand.rnn.json"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("RNN_STUDIO_RECOVERY_DIR", str(tmp_path / "recovery"))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    monkeypatch.setattr(MainWindow, "ask_save_changes", lambda self: QMessageBox.StandardButton.Discard)


def open_window(qtbot, path=SEED) -> MainWindow:
    create_app()
    w = MainWindow(load_project(path), str(path), autosave=False)
    w.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
    qtbot.addWidget(w)
    w.resize(1300, 820)
    w.show()
    qtbot.waitExposed(w)
    return w


def test_inspector_shows_the_blocks_cost_and_share(qtbot):
    w = open_window(qtbot)
    w.scene.select_blocks(["l"])
    qtbot.waitUntil(lambda: w.inspector.block_id == "l")
    text = w.inspector.info.text()
    assert "983k MACs" not in text  # the inspector writes it as a count
    assert "983 k" in text and "80% of the design" in text  # 983,040 of 1,232,768
    assert "state" in text  # an LSTM carries h and c


def test_cost_labels_follow_every_edit_and_the_toggle(qtbot):
    w = open_window(qtbot)
    item = w.scene.blocks["l"]
    assert w.actions["show_cost"].isChecked()
    assert item.cost_text == "983 k MACs" and item.cost_share == pytest.approx(983_040 / 1_232_768)
    assert w.scene.blocks["x"].cost_text is None  # an Input costs nothing: no label
    w.set_param("l", "units", 32)  # the undoable edit the inspector makes
    assert item.cost_text == "410 k MACs"  # 2 * 10 * 4 * 32 * (128 + 32) = 409,600, recomputed live
    assert "MACs/sample at 10 steps" in w.cost_view.status.text()
    w.actions["show_cost"].trigger()  # off
    assert item.cost_text is None
    w.actions["show_cost"].trigger()
    assert item.cost_text is not None


def test_variable_length_design_counts_at_the_field(qtbot):
    w = open_window(qtbot, S2S)
    w.scene.select_blocks([])
    qtbot.waitUntil(lambda: w.inspector.cost_length.isVisibleTo(w.inspector))  # rebuilt, shown on the next pass
    assert w.inspector.cost_length.value() == 32
    w.inspector.cost_length.setValue(64)
    w.inspector.cost_length.editingFinished.emit()
    assert w.bridge.result.cost_length == 64
    assert w.bridge.result.costs["enc"].macs == 2 * 64 * 4 * 32 * (3 + 32)
    assert "at 64 steps" in w.cost_view.status.text()


def test_profile_latency_shows_measured_ms_on_the_blocks(qtbot):
    w = open_window(qtbot)
    assert w.cost_view.start_profile()
    assert not w.actions["profile"].isEnabled()  # one at a time; the editor keeps working meanwhile
    qtbot.waitUntil(lambda: w.cost_view.proc is None, timeout=120_000)
    assert w.cost_view.profile_info is not None, w.statusBar().currentMessage()
    assert set(w.cost_view.measured) == {"x", "g", "l", "y"}
    assert w.scene.blocks["l"].cost_text.endswith(" ms") and "983 k" in w.scene.blocks["l"].cost_text
    assert "measured p50" in w.cost_view.status.text()
    w.scene.select_blocks(["g"])
    qtbot.waitUntil(lambda: w.inspector.block_id == "g")
    assert "Measured" in w.inspector.info.text()
    w.set_param("g", "units", 16)  # the measurement no longer holds
    assert w.cost_view.measured == {} and not w.scene.blocks["l"].cost_text.endswith(" ms")


def test_export_dialog_compares_precisions_side_by_side(qtbot):
    create_app()
    project = load_project(SEED)
    dlg = ExportDialog(None, lambda: project)
    qtbot.addWidget(dlg)
    assert dlg.start_compare()
    assert not dlg.compare_button.isEnabled()
    qtbot.waitUntil(lambda: dlg.compare_table.rowCount() == 3, timeout=120_000)
    rows = dlg.comparison()
    assert [r[0] for r in rows] == ["fp32", "fp16", "int8"]
    sizes = [float(r[1].split()[0].replace(",", "")) for r in rows]
    assert sizes[2] < sizes[1] < sizes[0]
    assert rows[2][5] == "/g/rnn/GRU" and rows[0][5] == "—"
    assert "fresh weights" in dlg.compare_note.text()
    dlg.compare_table.cellClicked.emit(2, 0)  # picking a row picks its precision
    assert dlg.precision.currentText().startswith("int8")


def test_export_dialog_exports_int8_and_reports_it(qtbot, tmp_path):
    create_app()
    project = load_project(SEED)
    dlg = ExportDialog(None, lambda: project)
    qtbot.addWidget(dlg)
    dlg.precision.setCurrentIndex(2)
    dlg.path.setText(str(tmp_path / "m.onnx"))
    dlg.run_export()
    rows = dict(dlg.rows())
    assert rows["Precision"] == "int8" and rows["Kept in fp32"] == "/g/rnn/GRU"
    assert "vs" in rows["Size vs fp32"] and "ms vs" in rows["p50 latency vs fp32"]
    assert dlg.result["result"].precision == "int8"
