"""The designer, driven through its real widgets offscreen (pytest-qt). Asserts what the user would see:
items on the canvas, labels on links, outlines, problem rows, the inspector's widgets, the title."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, QRectF, QSettings, Qt
from PySide6.QtGui import QAction, QDragEnterEvent, QDragMoveEvent, QDropEvent, QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QCheckBox, QLabel, QMessageBox, QSpinBox, QTableWidget

from rnn_studio.engine import Block, Project, check, load_project
from rnn_studio.gui.app import create_app
from rnn_studio.gui.canvas import MIME_BLOCK
from rnn_studio.gui.commands import RemoveItems
from rnn_studio.gui.main_window import MainWindow

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "assets" / "examples" / "seed-keras.rnn.json"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("RNN_STUDIO_RECOVERY_DIR", str(tmp_path / "recovery"))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    monkeypatch.setattr(MainWindow, "ask_save_changes", lambda self: QMessageBox.StandardButton.Discard)


def make_window(qtbot, project=None, path=None) -> MainWindow:
    create_app()
    w = MainWindow(project, path)
    w.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
    qtbot.addWidget(w)
    w.resize(1300, 820)
    w.show()
    qtbot.waitExposed(w)
    if QGuiApplication.platformName() != "offscreen":  # a real display: shortcuts need the active window
        w.activateWindow()
        qtbot.waitUntil(w.isActiveWindow, timeout=3000)
    return w


@pytest.fixture
def window(qtbot):
    return make_window(qtbot)


def chain(*specs, links=None) -> Project:
    """chain(("x", "Input", {...}), ("g", "GRU", {...}), ...) linked in order unless links are given."""
    blocks = [Block(i, t, dict(p)) for i, t, p in specs]
    if links is None:
        links = [(a.id, b.id) for a, b in zip(blocks, blocks[1:], strict=False)]
    return Project("t", blocks, links)


def viewport_point(w: MainWindow, scene_pos: QPointF) -> QPoint:
    return w.view.mapFromScene(scene_pos)


def drag_wire(qtbot, w: MainWindow, src: str, dst: str) -> None:
    """Press on src's output port, move over dst, release: real mouse events on the viewport."""
    vp = w.view.viewport()
    a = viewport_point(w, w.scene.blocks[src].out_point())
    b = viewport_point(w, w.scene.blocks[dst].sceneBoundingRect().center())
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    mid = (a + b) / 2
    for p in (a + QPoint(0, 8), mid, b):
        QTest.mouseMove(vp, p)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)


def link_labels(w: MainWindow) -> dict[tuple[str, str], str]:
    return {k: item.label for k, item in w.scene.links.items()}


# ---------------------------------------------------------------------------------------- palette drops
@pytest.mark.slow
def test_drop_from_palette_creates_block_at_drop_point(window):
    w = window
    mime = w.palette.mime_data_for("LSTM")
    assert bytes(mime.data(MIME_BLOCK)) == b"LSTM"
    vp = w.view.viewport()
    drop_at = QPointF(vp.width() * 0.3, vp.height() * 0.4)
    actions = Qt.DropAction.CopyAction
    for ev in (
        QDragEnterEvent(drop_at.toPoint(), actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier),
        QDragMoveEvent(drop_at.toPoint(), actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier),
    ):
        QApplication.sendEvent(vp, ev)
        assert ev.isAccepted()
    drop = QDropEvent(drop_at, actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp, drop)
    assert drop.isAccepted() and drop.dropAction() == Qt.DropAction.CopyAction  # the palette keeps its entry
    assert [b.type for b in w.project.blocks] == ["LSTM"]
    item = w.scene.blocks["lstm1"]
    scene_pt = w.view.mapToScene(drop_at.toPoint())
    assert item.sceneBoundingRect().contains(scene_pt)
    assert abs(item.mapToScene(item.rect().center()).x() - scene_pt.x()) <= 16  # centred on the cursor (grid snap)
    assert w.scene.selected_block_ids() == ["lstm1"]
    assert w.inspector.block_id == "lstm1"  # the inspector shows the new block
    assert w.isWindowModified()
    # a drop of something that is not a block is refused
    junk = QMimeData()
    junk.setText("hello")
    ev = QDragEnterEvent(drop_at.toPoint(), actions, junk, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp, ev)
    assert not ev.isAccepted()


@pytest.mark.slow
def test_palette_double_click_adds_below_selection_and_links(window):
    w = window
    w.palette.addRequested.emit("Input")
    w.palette.addRequested.emit("GRU")  # Input is selected: GRU goes below it, linked
    assert w.project.links == [("input1", "gru1")]
    assert w.scene.blocks["gru1"].pos().y() > w.scene.blocks["input1"].pos().y()
    assert link_labels(w)[("input1", "gru1")] == "(None, 10, 1)"


# ---------------------------------------------------------------------------------------- linking
@pytest.mark.slow
def test_link_by_mouse_creates_link_and_shapes_appear(qtbot):
    w = make_window(
        qtbot,
        chain(
            ("x", "Input", {"timesteps": 10, "features": 3}),
            ("g", "GRU", {"units": 128, "return_sequences": True}),
            links=[],
        ),
    )
    w.view.fit()
    assert w.scene.links == {}
    drag_wire(qtbot, w, "x", "g")
    assert w.project.links == [("x", "g")]
    assert link_labels(w) == {("x", "g"): "(None, 10, 3)"}
    assert w.scene.blocks["g"].is_output and w.scene.blocks["g"].out_shape == (None, 10, 128)
    assert w.scene.blocks["g"].level is None
    assert "Valid" in w.status_valid.text()


@pytest.mark.slow
def test_shape_labels_on_every_link_of_seed(qtbot):
    w = make_window(qtbot)
    w.open_path(str(SEED))
    assert link_labels(w) == {("x", "g"): "(None, 10, 1)", ("g", "l"): "(None, 10, 128)", ("l", "y"): "(None, 128)"}
    assert w.windowTitle().startswith("seed-keras.rnn.json")
    assert not w.isWindowModified()
    assert "125,185 parameters" in w.status_params.text()
    # bidirectional blocks carry their direction and merge mode
    assert w.scene.blocks["g"].bidirectional and w.scene.blocks["g"].params["merge_mode"] == "concat"


@pytest.mark.slow
def test_invalid_link_shows_error_on_right_block_then_fix_in_inspector(qtbot):
    w = make_window(
        qtbot,
        chain(
            ("x", "Input", {"timesteps": 10, "features": 1}),
            ("g", "GRU", {"units": 16}),
            ("l", "LSTM", {"units": 8}),
            ("y", "Dense", {}),
            links=[("x", "g"), ("l", "y")],
        ),
    )
    w.view.fit()
    assert w.scene.blocks["l"].level == "error"  # no input yet
    drag_wire(qtbot, w, "g", "l")  # GRU gives (None, 16): 2-D into an LSTM
    assert ("g", "l") in w.project.links
    assert w.scene.blocks["l"].level == "error"
    assert w.scene.blocks["g"].level is None and w.scene.blocks["x"].level is None
    assert "return_sequences=true on 'g'" in w.scene.blocks["l"].toolTip()
    rows = w.problems.rows()
    assert [(lv, b) for lv, b, _ in rows] == [("error", "l")]
    assert w.problems.topLevelItem(0).text(1) == "l"
    assert "error" in w.status_valid.text()
    # clicking the problem row selects the block
    w.problems.itemClicked.emit(w.problems.topLevelItem(0), 2)
    assert w.scene.selected_block_ids() == ["l"]
    assert "needs a sequence" in w.inspector.problems_box.text()
    # fix: select the GRU and tick return_sequences in the inspector
    w.scene.select_blocks(["g"])
    box = w.inspector.findChild(QCheckBox, "param_return_sequences")
    assert box is not None and not box.isChecked()
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
    assert w.project.block("g").params["return_sequences"] is True
    assert w.scene.blocks["l"].level is None
    assert w.problems.rows() == []
    assert link_labels(w)[("g", "l")] == "(None, 10, 16)"
    assert "Valid" in w.status_valid.text()


@pytest.mark.slow
def test_cycle_is_rejected_with_reason(qtbot):
    w = make_window(qtbot, chain(("x", "Input", {}), ("a", "Concatenate", {}), ("b", "Dense", {"units": 4})))
    w.view.fit()
    before = list(w.project.links)
    drag_wire(qtbot, w, "b", "a")
    assert w.project.links == before
    assert "cycle" in w.statusBar().currentMessage()
    assert "cycle" in w.view.toast_text
    assert w.undo.count() == 0
    # linking into an Input is refused too, with the engine's reason
    drag_wire(qtbot, w, "b", "x")
    assert "takes no input" in w.statusBar().currentMessage()


@pytest.mark.slow
def test_port_drag_hint_says_why_while_hovering(qtbot):
    w = make_window(qtbot, chain(("x", "Input", {}), ("a", "Dense", {"units": 4})))
    port = w.scene.blocks["a"].out_port
    w.scene.begin_wire(port, port.scenePos())
    w.scene.update_wire(w.scene.blocks["x"].sceneBoundingRect().center())
    draft = w.scene.interaction.draft  # the NewLinkInteraction's wire
    assert draft.ok is False and "takes no input" in draft.hint
    assert w.scene.blocks["x"].link_target == "bad"
    w.scene.end_wire(QPointF(5000, 5000))  # released on empty canvas: nothing happens
    assert w.scene.blocks["x"].link_target is None and not w.scene.wiring


# ---------------------------------------------------------------------------------------- undo / redo
@pytest.mark.slow
def test_undo_redo_every_command_kind(qtbot):
    project = load_project(SEED)
    w = make_window(qtbot, project, str(SEED))
    original = w.project.to_dict()
    u = w.undo

    # add
    bid = w.add_block("Dropout", QPointF(600, 100))
    assert bid in w.scene.blocks
    u.undo()
    assert bid not in w.scene.blocks and w.project.to_dict() == original
    u.redo()
    assert bid in w.scene.blocks
    u.undo()

    # delete a block with links: everything comes back in place (list positions, layout)
    w.scene.select_blocks(["g"])
    w.actions["delete"].trigger()
    assert "g" not in w.scene.blocks and ("x", "g") not in w.scene.links and w.project.links == [("l", "y")]
    u.undo()
    assert w.project.to_dict() == original
    assert set(w.scene.links) == {("x", "g"), ("g", "l"), ("l", "y")}
    assert link_labels(w)[("g", "l")] == "(None, 10, 128)"
    u.redo()
    assert "g" not in w.scene.blocks
    u.undo()

    # unlink (select a link, Delete) and link
    w.scene.clearSelection()
    w.scene.links[("g", "l")].setSelected(True)
    w.delete_selection()
    assert ("g", "l") not in w.project.links and w.scene.blocks["l"].level == "error"
    u.undo()
    assert w.project.to_dict() == original and w.scene.blocks["l"].level is None
    u.redo()
    w.link("g", "l")
    assert w.project.links[-1] == ("g", "l")
    u.undo()
    u.undo()
    assert w.project.to_dict() == original

    # move (a mouse drag of a block) and nudges (merged)
    item = w.scene.blocks["y"]
    start = item.pos()
    w.view.fit()
    vp = w.view.viewport()
    a = viewport_point(w, item.mapToScene(QPointF(60, 40)))
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    for k in range(1, 6):
        QTest.mouseMove(vp, a + QPoint(30 * k, 10 * k))
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a + QPoint(150, 50))
    moved = item.pos()
    assert moved != start
    assert tuple(w.project.layout["blocks"]["y"]) == (moved.x(), moved.y())
    assert u.undoText().startswith("Move")
    u.undo()
    assert item.pos() == start and w.project.to_dict() == original
    u.redo()
    assert item.pos() == moved
    u.undo()
    w.scene.select_blocks(["y"])
    n = u.index()
    w.view.setFocus()
    for _ in range(3):
        QTest.keyClick(w.view, Qt.Key.Key_Right)
    assert u.index() == u.count() == n + 1, [u.text(i) for i in range(u.count())]  # three nudges, one step
    assert item.pos().x() == start.x() + 48
    u.undo()
    assert w.project.to_dict() == original

    # param change: typing 1, 12, 128 into a spin box is one undo step
    w.scene.select_blocks(["l"])
    spin = w.inspector.findChild(QSpinBox, "param_units")
    spin.selectAll()
    n = u.index()
    QTest.keyClicks(spin, "128")
    assert w.project.block("l").params["units"] == 128
    assert u.index() == u.count() == n + 1
    assert link_labels(w)[("l", "y")] == "(None, 256)"
    u.undo()
    assert w.project.to_dict() == original
    assert spin.value() == 64 and link_labels(w)[("l", "y")] == "(None, 128)"
    u.redo()
    assert spin.value() == 128
    u.undo()
    assert not w.isWindowModified()

    # the Edit menu shows the actions
    texts = [a.text() for a in w.menus["Edit"].actions()]
    assert any(t.startswith("&Undo") or t.startswith("Undo") for t in texts)


@pytest.mark.slow
def test_reset_param_to_default(qtbot):
    w = make_window(qtbot, chain(("x", "Input", {"timesteps": 5, "features": 2}), ("y", "Dense", {"units": 3})))
    w.scene.select_blocks(["y"])
    field = w.inspector.fields["units"]
    qtbot.waitUntil(lambda: field.reset.isVisibleTo(w.inspector), timeout=1000)
    field.reset.click()
    assert "units" not in w.project.block("y").params
    assert w.inspector.fields["units"].widget.value() == 1
    w.undo.undo()
    assert w.project.block("y").params["units"] == 3


@pytest.mark.slow
def test_nullable_int_in_inspector(qtbot):
    w = make_window(qtbot, chain(("x", "Input", {"timesteps": 4, "features": 2}), ("g", "GRU", {"units": 4})))
    w.scene.select_blocks(["x"])
    spin = w.inspector.findChild(QSpinBox, "param_timesteps")
    assert spin.specialValueText() == "variable length"
    spin.setValue(spin.minimum())
    assert w.project.block("x").params["timesteps"] is None
    assert link_labels(w)[("x", "g")] == "(None, None, 2)"


# ---------------------------------------------------------------------------------------- clipboard
@pytest.mark.slow
def test_copy_paste_between_two_windows(qtbot):
    a = make_window(qtbot, load_project(SEED), str(SEED))
    b = make_window(qtbot)
    a.scene.select_blocks(["g", "l"])
    assert a.copy()
    text = QGuiApplication.clipboard().text()
    assert json.loads(text)["links"] == [["g", "l"]]
    ids = b.paste()
    assert ids == ["g", "l"]
    assert b.project.links == [("g", "l")]
    assert b.project.block("l").params == a.project.block("l").params
    # pasting again into the first window gives fresh ids, shifted
    ids2 = a.paste()
    assert ids2 == ["gru1", "lstm1"] and ("gru1", "lstm1") in a.project.links
    assert a.project.position("gru1") != a.project.position("g")
    assert a.undo.undoText() == "Paste 2 blocks" and sorted(a.scene.selected_block_ids()) == ["gru1", "lstm1"]
    a.undo.undo()
    assert a.project.block("gru1") is None and "gru1" not in a.scene.blocks
    a.undo.redo()  # the same ids again, links and items with them
    assert ("gru1", "lstm1") in a.project.links and ("gru1", "lstm1") in a.scene.links
    a.undo.undo()
    assert a.project.links == load_project(SEED).links
    # duplicate keeps links among the copies
    b.scene.select_blocks(["g", "l"])
    dup = b.duplicate()
    assert len(dup) == 2 and (dup[0], dup[1]) in b.project.links
    # cut
    b.scene.select_blocks(dup)
    b.cut()
    assert all(b.project.block(i) is None for i in dup)


# ---------------------------------------------------------------------------------------- files
@pytest.mark.slow
def test_save_reopen_identical_and_check_unchanged(qtbot, tmp_path):
    w = make_window(qtbot)
    assert w.open_example(str(SEED))
    assert w.path is None  # examples open as new designs
    w.scene.select_blocks(["y"])
    w.nudge(16, 0)
    out = tmp_path / "mine.rnn.json"
    assert w.save_to(str(out))
    assert not w.isWindowModified() and w.windowTitle().startswith("mine.rnn.json")
    saved = load_project(out)
    assert saved.to_dict() == w.project.to_dict()
    assert saved.layout["blocks"]["y"] == list(w.project.position("y"))
    # `rnn-studio check` says exactly what it says about the example
    run = lambda p: subprocess.run(
        [sys.executable, "-m", "rnn_studio", "check", str(p)], capture_output=True, text=True, cwd=ROOT
    )
    r1, r2 = run(SEED), run(out)
    assert r1.returncode == r2.returncode == 0
    assert r1.stdout == r2.stdout and r1.stderr == r2.stderr
    # reopen in a new window: same project, same positions on the canvas
    w2 = make_window(qtbot)
    assert w2.open_path(str(out))
    assert w2.project.to_dict() == saved.to_dict()
    for bid, item in w2.scene.blocks.items():
        assert (item.pos().x(), item.pos().y()) == w2.project.position(bid)
    assert str(out.resolve()) in w2.recent_files()


@pytest.mark.slow
def test_ask_before_losing_changes(qtbot, monkeypatch):
    w = make_window(qtbot)
    w.add_block("Input")
    assert w.isWindowModified() and "[*]" in w.windowTitle()
    monkeypatch.setattr(MainWindow, "ask_save_changes", lambda self: QMessageBox.StandardButton.Cancel)
    w.file_new()
    assert len(w.project.blocks) == 1  # cancelled: nothing lost
    assert not w.open_path(str(SEED))
    monkeypatch.setattr(MainWindow, "ask_save_changes", lambda self: QMessageBox.StandardButton.Discard)
    w.file_new()
    assert w.project.blocks == [] and not w.isWindowModified()


@pytest.mark.slow
def test_open_broken_file_reports_one_line(qtbot, tmp_path):
    w = make_window(qtbot)
    bad = tmp_path / "bad.rnn.json"
    bad.write_text("{ not json")
    assert not w.open_path(str(bad))
    assert "invalid JSON at line 1" in w.statusBar().currentMessage()


@pytest.mark.slow
def test_autosave_and_recovery_after_crash(qtbot, tmp_path):
    from rnn_studio.gui import recovery

    w = make_window(qtbot, load_project(SEED), str(SEED))
    w.autosaver.timer.setInterval(50)
    w.scene.select_blocks(["l"])
    w.set_param("l", "units", 32)
    qtbot.waitUntil(lambda: w.autosaver.file.exists(), timeout=3000)
    assert w.autosaver.writes == 1
    assert recovery.find_orphans() == []  # this process is alive: not an orphan
    # simulate a crash: the file now belongs to a process that no longer runs
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = w.autosaver.file.with_name(f"recovery-{dead.pid}-1.json")
    os.replace(w.autosaver.file, orphan)
    found = recovery.find_orphans()
    assert [r.file for r in found] == [orphan]
    assert found[0].original_path == str(SEED)
    w2 = make_window(qtbot)
    w2.restore_from(found[0])
    assert w2.project.block("l").params["units"] == 32
    assert w2.path == str(SEED) and w2.isWindowModified()
    assert not orphan.exists()
    # saving a design removes its recovery file
    w2.autosaver.write_now()
    assert w2.autosaver.file.exists()
    w2.save_to(str(tmp_path / "restored.rnn.json"))
    assert not w2.autosaver.file.exists()


# ---------------------------------------------------------------------------------------- view
@pytest.mark.slow
def test_zoom_fit_arrange_snap(window):
    w = window
    w.open_example(str(ROOT / "assets" / "examples" / "classify-activity.rnn.json"))
    w.view.set_zoom(1.0)
    w.actions["zoom_in"].trigger()
    assert w.view.zoom() == pytest.approx(1.25)
    w.actions["fit"].trigger()
    vis = w.view.mapToScene(w.view.viewport().rect()).boundingRect()
    assert all(vis.contains(i.sceneBoundingRect()) for i in w.scene.blocks.values())
    w.actions["arrange"].trigger()
    ys = {bid: w.project.position(bid)[1] for bid in ("x", "gru", "norm", "res", "classes")}
    assert ys["x"] < ys["gru"] < ys["norm"] < ys["res"] < ys["classes"]
    assert all(v % 16 == 0 for p in w.project.layout["blocks"].values() for v in p)
    w.undo.undo()


@pytest.mark.slow
def test_select_all_delete_and_rubber_band(window):
    w = window
    w.open_example(str(SEED))
    w.view.fit()
    vp = w.view.viewport()
    # rubber band around everything from an empty corner
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(3, 3))
    QTest.mouseMove(vp, QPoint(vp.width() // 2, vp.height() // 2))
    QTest.mouseMove(vp, QPoint(vp.width() - 3, vp.height() - 3))
    QTest.mouseRelease(
        vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(vp.width() - 3, vp.height() - 3)
    )
    assert sorted(w.scene.selected_block_ids()) == ["g", "l", "x", "y"]
    w.view.setFocus()
    QTest.keyClick(vp, Qt.Key.Key_Delete)
    assert w.project.blocks == [] and w.scene.blocks == {}
    w.undo.undo()
    assert len(w.scene.blocks) == 4 and len(w.scene.links) == 3


@pytest.mark.slow
def test_theme_switch_repaints(window):
    w = window
    w.set_theme_mode("dark")
    from rnn_studio.gui import theme

    assert theme.current().dark
    assert QApplication.palette().color(QApplication.palette().ColorRole.Window).lightness() < 100
    w.set_theme_mode("light")
    assert not theme.current().dark


# ---------------------------------------------------------------------------------------- CLI
@pytest.mark.slow
def test_screenshot_command_writes_png(tmp_path):
    out = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", RNN_STUDIO_RECOVERY_DIR=str(tmp_path / "rec"))
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "rnn_studio",
            "gui",
            str(SEED),
            "--screenshot",
            str(out),
            "--size",
            "900x600",
            "--select",
            "g",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    from PySide6.QtGui import QImage

    img = QImage(str(out))
    assert img.width() >= 900 and img.height() >= 600
    # a bad file: exit 2, one line
    bad = tmp_path / "bad.rnn.json"
    bad.write_text("[]")
    r = subprocess.run(
        [sys.executable, "-m", "rnn_studio", "gui", str(bad), "--screenshot", str(tmp_path / "b.png")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert r.returncode == 2 and "must hold a JSON object" in r.stderr


def test_run_or_demo_without_display(monkeypatch, capsys):
    """No display: say so and hand over to `rnn-studio demo` (or check + summary when there is no demo verb)."""
    from rnn_studio.commands import gui as gui_cmd

    calls = []
    monkeypatch.setattr(gui_cmd, "has_display", lambda: False)
    monkeypatch.setattr(gui_cmd.subprocess, "call", lambda cmd: calls.append(cmd[3:]) or 0)
    assert gui_cmd.cmd_run_or_demo(None) == 0
    assert "No display" in capsys.readouterr().out
    has_demo = gui_cmd._has_verb("demo")
    assert calls == ([["demo"]] if has_demo else [["check", str(gui_cmd.SEED)], ["summary", str(gui_cmd.SEED)]])
    monkeypatch.setattr(gui_cmd, "_has_verb", lambda name: False)
    calls.clear()
    assert gui_cmd.cmd_run_or_demo(None) == 0
    assert calls == [["check", str(gui_cmd.SEED)], ["summary", str(gui_cmd.SEED)]]
    assert "no `demo` verb" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------- more detail
@pytest.mark.slow
def test_delete_restores_link_order_of_merge_inputs_exactly(qtbot):
    """Removing a block is a macro: undo brings back its links at their list positions (= input order)."""
    p = chain(
        ("x", "Input", {"timesteps": 5, "features": 2}),
        ("a", "Dense", {"units": 3}),
        ("b", "Dense", {"units": 4}),
        ("c", "Dense", {"units": 5}),
        ("cat", "Concatenate", {}),
        ("y", "Dense", {}),
        links=[("x", "a"), ("x", "b"), ("x", "c"), ("a", "cat"), ("b", "cat"), ("c", "cat"), ("cat", "y")],
    )
    w = make_window(qtbot, p)
    original = w.project.to_dict()
    assert link_labels(w)[("b", "cat")] == "#2  (None, 5, 4)"
    w.scene.select_blocks(["b"])
    w.scene.links[("cat", "y")].setSelected(True)
    w.delete_selection()
    assert w.project.links == [("x", "a"), ("x", "c"), ("a", "cat"), ("c", "cat")]
    w.undo.undo()
    assert w.project.to_dict() == original
    assert link_labels(w)[("b", "cat")] == "#2  (None, 5, 4)" and link_labels(w)[("cat", "y")] == "(None, 5, 12)"
    w.undo.redo()
    w.undo.undo()
    assert w.project.to_dict() == original


@pytest.mark.slow
def test_pan_and_wheel_zoom(window):
    w = window
    w.open_example(str(SEED))
    vp = w.view.viewport()
    w.view.set_zoom(1.0)
    before = w.view.mapToScene(vp.rect().center())
    c = vp.rect().center()
    QTest.mousePress(vp, Qt.MouseButton.MiddleButton, Qt.KeyboardModifier.NoModifier, c)
    QTest.mouseMove(vp, c + QPoint(80, 40))
    QTest.mouseRelease(vp, Qt.MouseButton.MiddleButton, Qt.KeyboardModifier.NoModifier, c + QPoint(80, 40))
    after = w.view.mapToScene(vp.rect().center())
    assert after.x() == pytest.approx(before.x() - 80, abs=2) and after.y() == pytest.approx(before.y() - 40, abs=2)
    from PySide6.QtGui import QWheelEvent

    ev = QWheelEvent(
        QPointF(c),
        QPointF(vp.mapToGlobal(c)),
        QPoint(0, 0),
        QPoint(0, 240),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(vp, ev)
    assert w.view.zoom() > 1.2 and w.status_zoom.text() == f"{w.view.zoom() * 100:.0f}%"
    w.actions["zoom_reset"].trigger()
    assert w.view.zoom() == 1.0


@pytest.mark.slow
def test_float_text_field_validates_with_param(qtbot):
    from PySide6.QtWidgets import QLineEdit

    w = make_window(qtbot, chain(("x", "Input", {"timesteps": 5, "features": 2}), ("n", "LayerNormalization", {})))
    w.scene.select_blocks(["n"])
    edit = w.inspector.findChild(QLineEdit, "param_epsilon")
    edit.setFocus()
    edit.selectAll()
    QTest.keyClicks(edit, "abc")
    err = w.inspector.fields["epsilon"].error
    assert "must be a number" in err.text() and "epsilon" not in w.project.block("n").params
    edit.selectAll()
    QTest.keyClicks(edit, "2")
    assert "must be <= 1" in err.text()
    edit.selectAll()
    QTest.keyClicks(edit, "1e-5")
    assert w.project.block("n").params["epsilon"] == pytest.approx(1e-5)
    assert err.text() == "" or err.isHidden()


@pytest.mark.slow
def test_palette_filter_and_enter_adds(window):
    w = window
    w.palette.filter.setFocus()
    QTest.keyClicks(w.palette.filter, "lstm")
    visible = [n for n, it in w.palette.items.items() if not it.isHidden()]
    assert visible == ["LSTM"]
    QTest.keyClick(w.palette.filter, Qt.Key.Key_Return)
    assert [b.type for b in w.project.blocks] == ["LSTM"]
    assert "Long short-term memory" in w.palette.items["LSTM"].toolTip(0)


@pytest.mark.slow
def test_recovery_prompt_suppressed_in_tests(window, tmp_path):
    from rnn_studio.gui.app import offer_recovery
    from rnn_studio.gui.recovery import find_orphans

    assert os.environ.get("RNN_STUDIO_NO_RECOVERY_PROMPT") == "1"
    assert offer_recovery(window) == []
    assert find_orphans() == []


@pytest.mark.slow
def test_examples_menu_and_unsaved_title(window):
    w = window
    names = [a.text() for a in w.examples_menu.actions()]
    assert "seed-keras" in names and "classify-activity" in names
    next(a for a in w.examples_menu.actions() if a.text() == "seed-keras").trigger()
    assert w.windowTitle().startswith("seed-keras (unsaved)") and w.path is None
    assert len(w.scene.blocks) == 4


@pytest.mark.slow
def test_double_click_block_focuses_inspector(window):
    w = window
    w.open_example(str(SEED))
    w.view.fit()
    item = w.scene.blocks["g"]
    QTest.mouseDClick(
        w.view.viewport(),
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
        viewport_point(w, item.mapToScene(QPointF(40, 50))),
    )
    assert w.inspector.block_id == "g"
    assert QApplication.focusWidget() is w.inspector.fields["units"].widget or w.inspector.fields[
        "units"
    ].widget.isAncestorOf(QApplication.focusWidget())


@pytest.mark.slow
def test_wire_hint_is_shown_in_the_view_while_dragging(qtbot):
    w = make_window(qtbot, chain(("x", "Input", {}), ("a", "Dense", {"units": 4})))
    port = w.scene.blocks["a"].out_port
    w.scene.begin_wire(port, port.scenePos())
    w.scene.update_wire(w.scene.blocks["x"].sceneBoundingRect().center())
    assert "takes no input" in w.view.wire_hint[0] and w.view.wire_hint[1] is False
    w.scene.cancel_wire()
    assert w.view.wire_hint[0] == ""


@pytest.mark.slow
def test_new_user_builds_seed_keras_from_empty_canvas(window, tmp_path):
    """The issue's 'done when': build the seed design with palette and inspector, see its shapes, save, check."""
    w = window

    def activate(type_name):  # double-click in the palette: below the selected block, linked to it
        item = w.palette.items[type_name]
        w.palette.tree.scrollToItem(item)
        at = w.palette.tree.visualItemRect(item).center()
        vp = w.palette.tree.viewport()
        QTest.mouseClick(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at)  # a real double
        QTest.mouseDClick(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at)  # click starts so

    def edit_int(name, value):
        spin = w.inspector.fields[name].widget
        spin.setFocus()
        spin.selectAll()
        QTest.keyClicks(spin, str(value))

    def tick(name):
        box = w.inspector.fields[name].widget
        qtbot_click(box)

    def qtbot_click(box):
        QTest.mouseClick(box, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(8, box.height() // 2))

    activate("Input")
    edit_int("timesteps", 10)
    activate("GRU")
    edit_int("units", 64)
    tick("bidirectional")
    tick("return_sequences")
    activate("LSTM")
    edit_int("units", 64)
    tick("bidirectional")
    activate("Dense")
    assert [b.type for b in w.project.blocks] == ["Input", "GRU", "LSTM", "Dense"]
    assert sorted(link_labels(w).values()) == ["(None, 10, 1)", "(None, 10, 128)", "(None, 128)"]
    assert "Valid" in w.status_valid.text() and "125,185 parameters" in w.status_params.text()
    out = tmp_path / "my-seed.rnn.json"
    assert w.save_to(str(out))
    res = check(load_project(out))
    assert res.ok and res.total_params == check(load_project(SEED)).total_params
    assert res.output_shape() == (None, 1)


# ---------------------------------------------------------------------------------------- memory figures
@pytest.mark.slow
def test_status_bar_and_inspector_show_training_memory(qtbot):
    w = make_window(qtbot)
    w.open_path(str(SEED))
    res = check(w.project).resources
    from rnn_studio.engine.design.resources import human_bytes

    assert f"~{human_bytes(res.training_bytes)} to train" in w.status_params.text()
    w.scene.clearSelection()
    assert "Training memory" in w.inspector.design_info.text()
    assert human_bytes(res.training_bytes) in w.inspector.design_info.text()


@pytest.mark.slow
def test_a_design_too_big_for_the_machine_is_flagged_in_the_status_bar(qtbot):
    w = make_window(
        qtbot,
        chain(
            ("x", "Input", {"timesteps": 100_000, "features": 100_000}),
            ("f", "Flatten", {}),
            ("big", "Dense", {"units": 65_536}),
        ),
    )
    assert "(too much for this machine)" in w.status_params.text()
    assert "Dense 'big'" in w.status_params.toolTip() and "this machine has" in w.status_params.toolTip()
    w.scene.clearSelection()
    assert "needs ~" in w.inspector.design_info.text()


@pytest.mark.slow
def test_design_name_field_stops_at_the_name_limit(window):
    from rnn_studio.engine.limits import MAX_NAME_CHARS

    window.scene.clearSelection()
    assert window.inspector.name_edit.maxLength() == MAX_NAME_CHARS.int_value() == 200


# ---------------------------------------------------------------------------------------- room for the design
@pytest.mark.slow
def test_small_screen_shows_the_whole_seed_design_with_the_bottom_area_collapsed(qtbot):
    create_app()
    w = MainWindow(load_project(SEED), str(SEED), autosave=False)
    w.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
    qtbot.addWidget(w)
    w.resize(1024, 700)
    w.show()
    qtbot.waitExposed(w)
    qtbot.waitUntil(w.bottom_is_collapsed, timeout=3000)  # the layout settles after the first show
    w.view.open_view()
    assert w.problems_dock.height() <= w.collapsed_bottom_height() + 8
    assert w.view.zoom() >= 0.6
    vis = w.view.mapToScene(w.view.viewport().rect()).boundingRect()
    assert all(vis.contains(i.sceneBoundingRect()) for i in w.scene.blocks.values())
    assert w.palette.tree.viewport().height() > 250 and w.inspector.height() > 300
    # a new error opens the problems list
    w.scene.select_blocks(["g"])
    w.push(RemoveItems(w.project, [], [("x", "g")], bridge=w.bridge))
    qtbot.waitUntil(lambda: w.problems_dock.height() > 120, timeout=3000)
    assert any(level == "error" and block == "g" for level, block, _m in w.problems.rows())
    # F5 opens the Train tab with room for the charts
    w.collapse_bottom()
    w.actions["train"].trigger()
    qtbot.waitUntil(lambda: w.training.dock.height() >= 300, timeout=3000)
    assert w.training.dock.isVisible() and not w.training.panel.is_running()


@pytest.mark.slow
def test_fit_design_fits_with_a_margin(window):
    w = window
    w.open_example(str(SEED))
    w.view.set_zoom(0.3)
    w.actions["fit"].trigger()
    assert w.view.zoom() > 0.5  # not the 15 % minimum
    vis = w.view.mapToScene(w.view.viewport().rect()).boundingRect()
    design = QRectF()
    for item in w.scene.blocks.values():
        design = design.united(item.sceneBoundingRect())
    assert vis.contains(design.adjusted(-20, -20, 20, 20))


@pytest.mark.slow
def test_window_geometry_and_docks_are_remembered(qtbot):
    create_app()
    w = MainWindow(autosave=False, restore_state=True)
    w.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
    qtbot.addWidget(w)
    w.resize(790, 590)  # within the offscreen platform's 800x600 screen
    w.show()
    qtbot.waitExposed(w)
    qtbot.waitUntil(w.bottom_is_collapsed, timeout=3000)
    w.open_bottom(w.training.dock, 300)
    qtbot.waitUntil(lambda: w.training.dock.height() >= 200, timeout=3000)
    height = w.training.dock.height()
    w.inspector_dock.hide()
    w.close()
    w2 = MainWindow(autosave=False, restore_state=True)
    w2.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
    qtbot.addWidget(w2)
    w2.show()
    qtbot.waitExposed(w2)
    assert (w2.width(), w2.height()) == (790, 590)
    assert not w2.inspector_dock.isVisible()
    assert abs(w2.training.dock.height() - height) <= 4


@pytest.mark.slow
def test_link_label_never_sits_under_a_block(window):
    from rnn_studio.gui.canvas import BLOCK_W, pill_rect

    w = window
    p = chain(("x", "Input", {"timesteps": 10, "features": 1}), ("g", "GRU", {"units": 8}))
    p.set_position("x", 0, 0)
    p.set_position("g", BLOCK_W + 16, 0)  # side by side: the wire's middle lies between the two blocks
    w.set_project(p)
    link = w.scene.links[("x", "g")]
    assert link.label.startswith("(None")
    label = pill_rect(link.label_center, link.label)
    for item in w.scene.blocks.values():
        assert not label.intersects(item.sceneBoundingRect().intersected(item.mapRectToScene(item.rect())))


@pytest.mark.slow
def test_retyping_the_current_value_adds_no_undo_step(qtbot):
    w = make_window(qtbot, load_project(SEED), str(SEED))
    w.scene.select_blocks(["g"])
    spin = w.inspector.findChild(QSpinBox, "param_units")
    assert spin is not None and spin.value() == 64
    count = w.undo.count()
    spin.setValue(64)
    w.set_param("g", "units", 64)
    w.set_param("g", "dropout", 0.0)  # the default, not written in the file: still the same value
    w.rename_design(w.project.name)
    assert w.undo.count() == count and not w.is_modified()
    spin.setValue(65)
    assert w.undo.count() == count + 1 and w.project.block("g").params["units"] == 65


@pytest.mark.slow
def test_menus_have_no_mnemonic_artefacts_and_shortcuts_come_from_the_actions(window):
    w = window
    menu = w._add_menu(QPointF(0, 0))
    cats = [a.menu().title() for a in menu.actions() if a.menu() is not None]
    assert "Dense && activations" in cats  # shown as "Dense & activations", not "Dense _activations"
    dlg = w.show_shortcuts()
    assert dlg.isVisible() and not dlg.isModal()
    table = dlg.findChild(QTableWidget, "shortcutTable")
    shown = {(table.item(r, 1).text(), table.item(r, 2).text()) for r in range(table.rowCount())}
    keys = {k for _c, k in shown}
    for key in ("F5", "Ctrl+E", "Ctrl+Q", "Ctrl+W", "Ctrl+0", "Shift+A", "F1"):
        assert any(key in k.split(", ") for k in keys), key
    assert ("Train", "F5") in shown and ("Export", "Ctrl+E") in shown
    dlg.close()


@pytest.mark.slow
def test_toolbar_does_not_shift_as_the_undo_text_grows(qtbot):
    w = make_window(qtbot, load_project(SEED), str(SEED))
    undo_button = w.toolbar.widgetForAction(w.findChild(QAction, "toolbar_undo"))
    fit_button = w.toolbar.widgetForAction(w.actions["fit"])
    x_before = fit_button.x()
    assert not undo_button.isEnabled()
    w.set_param("g", "units", 65)
    qtbot.wait(20)
    assert undo_button.isEnabled() and undo_button.text() == "Undo"
    assert "units" in undo_button.toolTip() and fit_button.x() == x_before
    qtbot.mouseClick(undo_button, Qt.MouseButton.LeftButton)
    assert w.project.block("g").params["units"] == 64


def test_first_save_names_an_untitled_design_after_its_file(window, tmp_path):
    w = window
    w.add_block("Input")
    assert w.project.name == "untitled"
    assert w.save_to(str(tmp_path / "seed.rnn.json"))
    assert w.project.name == "seed" and load_project(tmp_path / "seed.rnn.json").name == "seed"
    w.scene.clearSelection()
    assert w.inspector.name_edit.text() == "seed"
    w.rename_design("my-net")
    assert w.save_to(str(tmp_path / "other.rnn.json"))
    assert w.project.name == "my-net"  # a named design keeps its name


@pytest.mark.slow
def test_a_new_empty_design_is_a_start_not_an_error(window, qtbot):
    """A new design says what to do in neutral text; the first block brings the usual checks back."""
    w = window
    assert not w.project.blocks
    assert "Empty design" in w.status_valid.text() and "error" not in w.status_valid.text()
    assert w.problems_dock.windowTitle() == "Problems"
    labels = [label.text() for label in w.inspector.findChildren(QLabel)]
    assert any("start with an Input block" in text for text in labels), labels
    w.add_block("GRU")
    qtbot.waitUntil(lambda: "error" in w.status_valid.text())
    assert "error" in w.problems_dock.windowTitle()
