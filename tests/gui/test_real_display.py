"""The designer on a real X display (Xvfb + the xcb platform), driven by the X server's own mouse (xdotool):
a palette block dragged onto the canvas goes through Qt's real QDrag, a port dragged onto a block links it.
Offscreen there is no window system to drag with, so these tests skip there (CI runs them under Xvfb)."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox

from rnn_studio.gui.app import create_app
from rnn_studio.gui.main_window import MainWindow

pytestmark = pytest.mark.slow  # measured: see the Makefile's test-quick


@pytest.fixture(autouse=True)
def real_display(tmp_path, monkeypatch):
    create_app()
    if QGuiApplication.platformName() != "xcb":
        pytest.skip(
            f"needs a real X display (platform is {QGuiApplication.platformName()!r}, offscreen has no "
            "window system to drag with); CI runs this under Xvfb with QT_QPA_PLATFORM=xcb"
        )
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed (apt-get install xdotool)")
    monkeypatch.setenv("RNN_STUDIO_RECOVERY_DIR", str(tmp_path / "recovery"))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    monkeypatch.setattr(MainWindow, "ask_save_changes", lambda self: QMessageBox.StandardButton.Discard)


def window(qtbot) -> MainWindow:
    for other in QApplication.topLevelWidgets():  # windows left by earlier tests would catch the X mouse
        if other.isVisible():
            other.hide()
    w = MainWindow()
    w.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
    qtbot.addWidget(w)
    w.resize(1300, 820)
    w.move(0, 0)
    w.show()
    qtbot.waitExposed(w)
    w.raise_()
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=3000)
    return w


def x_mouse_drag(qtbot, start: QPoint, end: QPoint, done) -> None:
    """Press at `start`, move in steps, release at `end` (global coordinates) with the X server's mouse,
    while Qt keeps processing events (a QDrag runs its own event loop until the drop)."""
    steps = []
    for i in range(1, 9):
        x = start.x() + (end.x() - start.x()) * i // 8
        y = start.y() + (end.y() - start.y()) * i // 8
        steps += ["mousemove", str(x), str(y), "sleep", "0.05"]
    cmd = [
        "xdotool",
        "mousemove",
        str(start.x()),
        str(start.y()),
        "sleep",
        "0.2",
        "mousedown",
        "1",
        "sleep",
        "0.2",
        *steps,
        "sleep",
        "0.3",
        "mouseup",
        "1",
    ]
    proc = subprocess.Popen(cmd)
    deadline = time.monotonic() + 15
    while proc.poll() is None and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.01)
    proc.wait(timeout=5)
    try:
        qtbot.waitUntil(done, timeout=5000)
    except Exception:
        subprocess.run(["import", "-window", "root", "/tmp/gui/fail.png"], check=False)
        raise


def test_real_mouse_drags_a_block_from_the_palette_and_links_it(qtbot):
    w = window(qtbot)
    tree = w.palette.tree
    # Input onto the canvas's upper half, then GRU onto its lower half
    for type_name, fy in (("Input", 0.3), ("GRU", 0.7)):
        item = w.palette.items[type_name]
        tree.scrollToItem(item)
        qtbot.wait(50)
        start = tree.viewport().mapToGlobal(tree.visualItemRect(item).center())
        vp = w.view.viewport()
        end = vp.mapToGlobal(QPoint(vp.width() // 2, int(vp.height() * fy)))
        before = len(w.project.blocks)
        x_mouse_drag(qtbot, start, end, lambda n=before + 1: len(w.project.blocks) == n)
    types = [b.type for b in w.project.blocks]
    assert types == ["Input", "GRU"]
    src, dst = (b.id for b in w.project.blocks)
    assert w.scene.blocks[src].sceneBoundingRect().center().y() < w.scene.blocks[dst].sceneBoundingRect().center().y()
    # the Input's output port onto the GRU block (once the layout has settled: the new errors opened the
    # Problems list, which resizes the canvas)
    qtbot.wait(500)
    vp = w.view.viewport()
    port = vp.mapToGlobal(w.view.mapFromScene(w.scene.blocks[src].out_point()))
    target = vp.mapToGlobal(w.view.mapFromScene(w.scene.blocks[dst].sceneBoundingRect().center()))
    x_mouse_drag(qtbot, port, target, lambda: w.project.links == [(src, dst)])
    assert (src, dst) in w.scene.links
    assert w.scene.links[(src, dst)].label.startswith("(None")
    w.undo.undo()  # one undo step removes the link
    assert w.project.links == [] and not w.scene.links
