"""The Train dock inside the designer window: from the GUI alone, train, watch, export."""

from pathlib import Path

import pytest
from PySide6 import QtCore, QtTest, QtWidgets

from rnn_studio.engine import load_project
from rnn_studio.gui.main_window import MainWindow

ROOT = Path(__file__).parents[2]


@pytest.fixture
def window(qtbot, tmp_path):
    src = ROOT / "assets" / "examples" / "seed-keras.rnn.json"
    path = tmp_path / "seed.rnn.json"
    path.write_text(src.read_text())
    w = MainWindow(load_project(path), str(path), autosave=False)
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    qtbot.waitExposed(w)
    w.activateWindow()
    yield w
    if w.training.panel.is_running():
        w.training.panel.proc.kill()


@pytest.mark.slow
def test_train_action_runs_beside_the_project_and_marks_blocks(qtbot, window, tmp_path):
    panel = window.training.panel
    assert panel.runs_root == tmp_path / "runs"  # runs live beside the project file
    assert panel.epochs.value() == 20 and panel.batch.value() == 64  # from the project's training section
    panel.epochs.setValue(1)
    panel.batch.setValue(32)  # ~88 steps: several gradient-norm records
    assert "Train" in [a.text().replace("&", "") for a in window.menus["Design"].actions()]
    window.actions["train"].trigger()  # F5 shows the settings and focuses Start; it starts nothing
    assert window.training.dock.isVisible() and not panel.is_running()
    assert panel.tabs.currentIndex() == 0 and panel.start_button.isVisible()
    qtbot.waitUntil(panel.start_button.hasFocus, timeout=3000)
    with qtbot.waitSignal(panel.run_finished, timeout=120_000) as done:
        QtTest.QTest.keyClick(panel.start_button, QtCore.Qt.Key.Key_Return)  # Enter starts
        assert panel.is_running()
    assert done.args[1]["stop_reason"] == "completed"
    # each block with weights carries its gradient-curve colour on the canvas
    items = window.scene.blocks
    assert items["x"].train_color is None
    colors = {bid: items[bid].train_color.name() for bid in ("g", "l", "y")}
    assert len(set(colors.values())) == 3
    for bid, color in colors.items():
        assert panel.grad_chart.curves[bid].opts["pen"].color().name() == color
    assert "Training ended: completed" in window.statusBar().currentMessage()


def test_gradient_alert_outlines_the_block(qtbot, window):
    panel = window.training.panel
    panel.attach(Path("/nonexistent-run"), live=False)
    panel._handle({"kind": "start", "total_steps": 100, "steps_per_epoch": 10, "epochs": 10})
    for step in range(25, 200, 25):
        panel._handle({"kind": "grad", "step": step, "blocks": {"g": 1.0, "l": 0.5, "y": 0.2}})
    panel._handle({"kind": "grad", "step": 200, "blocks": {"g": 1.0, "l": 800.0, "y": 0.2}})
    assert window.scene.blocks["l"].train_alert == "exploding"
    assert window.scene.blocks["g"].train_alert is None
    assert "jumped" in window.statusBar().currentMessage()
    assert any("exploding: l" in t for t in panel.grad_chart.marker_texts())
    # a new design clears the marks
    window.set_project(load_project(ROOT / "assets" / "examples" / "seed-keras.rnn.json"))
    assert all(item.train_alert is None and item.train_color is None for item in window.scene.blocks.values())


@pytest.mark.slow
def test_export_action_on_an_untrained_design_reports_verification(qtbot, window, tmp_path):
    window.actions["export"].trigger()
    dlg = window.training.panel.export_dialog
    assert dlg.isVisible() and dlg.source.text().startswith("current design")
    dlg.path.setText(str(tmp_path / "design.onnx"))
    from rnn_studio.gui.monitor import export_dialog as panel_module

    seen = {}
    real_export = panel_module.export_model

    def export_and_look(*args, **kwargs):  # the real export; records what the dialog showed meanwhile
        seen["verdict"] = dlg.verdict.text()
        seen["button"] = dlg.export_button.isEnabled()
        seen["cursor"] = QtWidgets.QApplication.overrideCursor() is not None
        return real_export(*args, **kwargs)

    panel_module.export_model = export_and_look
    try:
        qtbot.mouseClick(dlg.export_button, QtCore.Qt.LeftButton)
    finally:
        panel_module.export_model = real_export
    assert seen == {"verdict": "Exporting and verifying…", "button": False, "cursor": True}
    assert dlg.result["ok"] and dlg.verdict.text().startswith("✔ Verified")
    assert (tmp_path / "design.onnx").is_file()
    rows = dict(dlg.rows())
    assert rows["Verification"] == "passed" and "tolerance" in rows["Largest difference vs PyTorch"]
    assert not any(text.lstrip().startswith("{") for text in rows.values())  # a table, not a JSON dump
    first = dlg.verdict.text()
    qtbot.wait(1100)
    qtbot.mouseClick(dlg.export_button, QtCore.Qt.LeftButton)  # a second export shows a fresh verdict
    assert dlg.verdict.text() != first and dlg.verdict.text().startswith("✔ Verified")


@pytest.mark.slow
def test_tune_tab_lists_the_study_beside_the_runs(qtbot, window, tmp_path):
    from rnn_studio.engine import load_project as load
    from rnn_studio.engine.training.tune import tune

    project = load(ROOT / "assets" / "examples" / "seed-keras-search.rnn.json")
    for b in project.blocks:  # keep the trials tiny
        if b.type in ("GRU", "LSTM"):
            b.params["units"] = 4
    project.training["search"] = {"lr": {"low": 1e-3, "high": 1e-2, "log": True}}
    runs = tmp_path / "runs"
    tune(
        project,
        {"demo": "sine", "demo_rows": 400},
        2,
        storage=f"sqlite:///{runs / 'tune.db'}",
        study_name="s",
        out_dir=runs,
        overrides={"epochs": 1, "batch_size": 64},
    )
    integ = window.training
    integ.tune_dock.show()
    integ.tune_dock.raise_()
    qtbot.waitUntil(lambda: len(integ.tune_panel.trials()) == 2, timeout=20_000)
    assert integ.tune_panel.storage().endswith("runs/tune.db")
    assert integ.tune_panel.best_trial() is not None


@pytest.mark.slow
def test_tune_tab_explains_studies_and_tunes_the_design_in_the_background(qtbot, window, tmp_path):
    integ = window.training
    panel = integ.tune_panel
    window.open_bottom(integ.tune_dock)
    headers = [panel.table.horizontalHeaderItem(i).text() for i in range(panel.table.columnCount())]
    assert headers == ["#", "state", "value", "run / error"]
    assert panel.pages.currentIndex() == 0 and "No study yet" in panel.empty_label.text()
    # the seed design has no search space: the button says why it cannot tune
    assert not panel.tune_button.isEnabled() and "search" in panel.tune_reason.text()
    assert not panel.best_button.isEnabled() and "no study" in panel.best_button.toolTip()
    # a design with a search space: tune it (tiny trials) in a child process
    from rnn_studio.engine import load_project as load

    project = load(ROOT / "assets" / "examples" / "seed-keras-search.rnn.json")
    for b in project.blocks:
        if b.type in ("GRU", "LSTM"):
            b.params["units"] = 4
    project.training["search"] = {"lr": {"low": 1e-3, "high": 1e-2, "log": True}}
    path = tmp_path / "search.rnn.json"
    path.write_text(project.to_json())
    assert window.open_path(str(path))
    assert panel.tune_button.isEnabled() and panel.tune_reason.text() == ""
    integ.tune_args = ["--trials", "1", "--epochs", "1", "--batch-size", "256"]
    command = integ.tune_command(tmp_path / "x.rnn.json")
    assert command[:4] == ["-m", "rnn_studio", "tune", str(tmp_path / "x.rnn.json")] and "--demo" in command
    qtbot.mouseClick(panel.tune_button, QtCore.Qt.LeftButton)
    assert integ.tune_proc is not None and panel.tune_button.text() == "Stop tuning"
    qtbot.waitUntil(lambda: integ.tune_proc is None, timeout=180_000)
    assert "Tuning finished" in window.statusBar().currentMessage(), panel.tune_reason.text()
    qtbot.waitUntil(lambda: len(panel.trials()) == 1, timeout=10_000)
    assert panel.pages.currentIndex() == 1 and panel.best_button.isEnabled()
    with qtbot.waitSignal(panel.openBestDesign, timeout=5000) as opened:
        qtbot.mouseClick(panel.best_button, QtCore.Qt.LeftButton)
    assert Path(opened.args[0]).is_file()
