"""The canvas package (gui/canvas/): the wire drag as an interaction object, typed model events reaching
the scene, and colours taken from the theme. Real mouse and key events on the view, offscreen."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from rnn_studio.gui import theme as themes
from rnn_studio.gui.bridge import BlockAdded, BlockMoved, LinkAdded, ParamChanged, ProjectRenamed
from rnn_studio.gui.canvas import NewLinkInteraction, WireDraft
from rnn_studio.gui.commands import AddLink, MoveBlocks, RenameProject, SetParam

from .test_designer import chain, isolated, make_window, viewport_point  # noqa: F401 (isolated: autouse fixture)

CANVAS = Path(__file__).resolve().parents[2] / "gui" / "canvas"


def two_blocks(qtbot):
    return make_window(qtbot, chain(("x", "Input", {"timesteps": 5, "features": 2}), ("g", "GRU", {}), links=[]))


def drafts(w) -> list[WireDraft]:
    return [i for i in w.scene.items() if isinstance(i, WireDraft)]


def test_a_port_drag_is_a_new_link_interaction_from_press_to_release(qtbot):
    w = two_blocks(qtbot)
    vp = w.view.viewport()
    a = viewport_point(w, w.scene.blocks["x"].out_point())
    b = viewport_point(w, w.scene.blocks["g"].sceneBoundingRect().center())
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    assert isinstance(w.scene.interaction, NewLinkInteraction) and len(drafts(w)) == 1
    QTest.mouseMove(vp, a + QPoint(0, 8))
    QTest.mouseMove(vp, b)
    assert w.scene.blocks["g"].link_target == "ok" and w.view.wire_hint[0] == "Link 'x' \u2192 'g'"
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)
    assert w.project.links == [("x", "g")] and ("x", "g") in w.scene.links
    assert w.scene.interaction is None and drafts(w) == [] and w.scene.blocks["g"].link_target is None
    assert w.undo.undoText() == "Link 'x' \u2192 'g'" and w.view.wire_hint[0] == ""


def test_escape_cancels_the_wire_and_the_block_does_not_move(qtbot):
    w = two_blocks(qtbot)
    vp = w.view.viewport()
    before = w.project.position("x")
    a = viewport_point(w, w.scene.blocks["x"].out_point())
    b = viewport_point(w, w.scene.blocks["g"].sceneBoundingRect().center())
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    QTest.mouseMove(vp, b)
    w.view.setFocus()
    QTest.keyClick(w.view, Qt.Key.Key_Escape)
    assert w.scene.interaction is None and drafts(w) == [] and w.scene.blocks["g"].link_target is None
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)
    assert w.project.links == [] and w.project.position("x") == before and not w.undo.canUndo()


@pytest.mark.slow
def test_removing_the_wire_s_block_ends_the_drag(qtbot):
    w = two_blocks(qtbot)
    port = w.scene.blocks["x"].out_port
    w.scene.begin_wire(port, port.scenePos())
    assert w.scene.wiring
    w.project.remove_block("x")
    assert not w.scene.wiring and drafts(w) == []


@pytest.mark.slow
def test_the_scene_follows_typed_events(qtbot):
    w = two_blocks(qtbot)
    seen = []
    w.bridge.edited.connect(seen.append)
    w.push(AddLink(w.project, "x", "g", bridge=w.bridge))
    w.push(SetParam(w.project, "g", "units", 7, bridge=w.bridge))
    w.push(MoveBlocks(w.project, {"g": (w.project.position("g"), (320.0, 400.0))}, bridge=w.bridge))
    w.push(RenameProject(w.project, "renamed", bridge=w.bridge))
    assert seen == [LinkAdded("x", "g"), ParamChanged("g", "units"), BlockMoved("g"), ProjectRenamed("renamed")]
    assert ("x", "g") in w.scene.links and w.scene.blocks["g"].params["units"] == 7
    assert (w.scene.blocks["g"].pos().x(), w.scene.blocks["g"].pos().y()) == (320.0, 400.0)
    assert w.windowTitle().startswith("renamed")
    w.scene.select_blocks(["g"])
    assert w.inspector.fields["units"].widget.value() == 7
    w.undo.undo()  # rename
    w.undo.undo()  # move
    w.undo.undo()  # param: the inspector follows the event too
    assert w.inspector.fields["units"].widget.value() == w.project.block("g").resolved()["units"]
    w.undo.undo()
    w.undo.redo()
    assert isinstance(seen[-1], LinkAdded) and BlockAdded not in map(type, seen)


def test_canvas_colours_come_from_the_theme():
    literal = re.compile(r"[\"']#[0-9a-fA-F]{3,8}[\"']|QColor\(\s*\d")  # "#ffffff", QColor(0, 0, 0, 28)
    offenders = [
        f"{path.name}:{n}: {line.strip()}"
        for path in sorted(CANVAS.glob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if literal.search(line)
    ]
    assert offenders == []
    for t in (themes.LIGHT, themes.DARK):  # the roles the canvas paints with exist in both themes
        for role in ("header_text", "badge_text", "shadow", "block", "wire", "error", "ok", "accent"):
            assert t.color(role).isValid(), (t.name, role)
    assert themes.DARK.color("shadow").alpha() > themes.LIGHT.color("shadow").alpha() > 0


def big_chain(n: int):
    kinds = [("GRU", {"units": 4, "return_sequences": True}), ("Dropout", {"rate": 0.1}), ("Dense", {"units": 4})]
    specs = [("x", "Input", {"timesteps": 6, "features": 2})]
    specs += [(f"b{i}", *kinds[i % 3]) for i in range(n - 3)]
    return chain(*specs, ("last", "GRU", {"units": 4}), ("y", "Dense", {"units": 1}))


def test_a_big_design_is_built_over_several_turns_and_ends_whole_and_checked(qtbot):
    """Opening 200 blocks must not hold the event loop for the whole canvas build (issue 23): the items come a
    chunk per turn, and at the end every block, wire and wire label is there, as a synchronous build gives."""
    w = make_window(qtbot)
    project = big_chain(200)
    w.set_project(project)
    assert w.scene.loading and len(w.scene.blocks) < 200  # built on later turns
    w.push(SetParam(project, "last", "units", 5, bridge=w.bridge))  # an edit during the load is followed
    qtbot.waitUntil(lambda: not w.scene.loading, timeout=10000)
    assert len(w.scene.blocks) == 200 and len(w.scene.links) == 199
    labels = {k: link.label for k, link in w.scene.links.items()}
    assert labels[("last", "y")] == "(None, 5)" and labels[("b0", "b1")] == "(None, 6, 4)"
    w.scene.sync_load = True  # the same design built at once gives the same canvas
    again = big_chain(200)
    again.set_param("last", "units", 5)
    w.set_project(again)
    assert not w.scene.loading and {k: link.label for k, link in w.scene.links.items()} == labels


def test_a_big_design_saved_without_positions_is_placed_and_fitted_once_loaded(qtbot, tmp_path):
    """A big design saved without positions (written by a script) gets the layered layout while its canvas
    is built over several turns, not in the turn that opens it (issue 23: ~50 ms with the event loop held);
    at the end every block has a place of its own, its item is there, and the view shows the design."""
    w = make_window(qtbot)
    path = tmp_path / "big.rnn.json"
    big_chain(150).save(path)
    assert '"blocks": {' not in path.read_text()  # no positions in the file
    assert w.open_path(str(path)) and w.scene.loading
    qtbot.waitUntil(lambda: not w.scene.loading, timeout=10000)
    places = {b.id: w.project.position(b.id) for b in w.project.blocks}
    assert None not in places.values() and len(set(places.values())) == 150
    assert all((w.scene.blocks[i].pos().x(), w.scene.blocks[i].pos().y()) == p for i, p in places.items())
    first = w.view.mapFromScene(w.scene.blocks["x"].sceneBoundingRect().center())
    assert w.view.viewport().rect().contains(first)  # fitted once whole: the design's start is in view
    assert not w.is_modified()  # placing blocks that had no position is not an edit


def test_the_data_plan_of_a_big_design_waits_for_its_canvas(qtbot, monkeypatch):
    """Planning a big design on a worker thread while its canvas is still being built made both take turns
    at the interpreter (issue 23): the plan says "Planning…" until the canvas is whole, then lands."""
    from rnn_studio.gui.canvas.scene import DesignScene

    monkeypatch.setattr(DesignScene, "LOAD_PIECE", 1)  # a slow build: many turns
    monkeypatch.setattr(DesignScene, "LOAD_TURN_S", 0.0)
    w = make_window(qtbot)
    panel = w.training.panel
    w.set_project(big_chain(150))
    assert w.scene.loading
    panel.refresh_plan()
    assert panel.planning() and panel.plan is None and panel.plan_text.text().startswith("Planning")
    assert not panel.start_button.isEnabled()
    qtbot.waitUntil(lambda: not w.scene.loading, timeout=20000)
    qtbot.waitUntil(lambda: panel.plan is not None, timeout=30000)
    assert not panel.planning() and "Planning" not in panel.plan_text.text()
