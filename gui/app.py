"""Application setup and the `rnn-studio gui` entry point (open a window, or render a screenshot)."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt, qInstallMessageHandler
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox

from . import memory
from . import theme as themes
from .icons import app_icon

_previous_handler = None


def _quiet_offscreen(mode, context, message) -> None:
    """Drop the offscreen plugin's harmless 'propagateSizeHints' notice; pass everything else on."""
    if "propagateSizeHints" in message:
        return
    if _previous_handler is not None:
        _previous_handler(mode, context, message)
    else:
        print(message, file=sys.stderr)


def create_app(argv: list[str] | None = None, theme: str | None = None) -> QApplication:
    """The QApplication with name, font, icon and theme set (reused if one exists, e.g. under pytest-qt)."""
    global _previous_handler
    app = QApplication.instance()
    if app is None:
        if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
            _previous_handler = qInstallMessageHandler(_quiet_offscreen)
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(argv if argv is not None else [sys.argv[0]])
    QCoreApplication.setOrganizationName("RNN Studio")
    QCoreApplication.setApplicationName("RNN Studio")
    QGuiApplication.setApplicationDisplayName("RNN Studio")
    QGuiApplication.setDesktopFileName("rnn-studio")
    app.setWindowIcon(app_icon())
    app.setFont(themes.ui_font(10))
    mgr = themes.manager()
    if theme:
        mgr.mode = theme
    else:
        from .main_window import settings

        saved = settings().value("theme", "")
        if saved in ("system", "light", "dark") and not os.environ.get("RNN_STUDIO_THEME"):
            mgr.mode = saved
    mgr.apply()
    memory.install(app)  # no 100 ms full garbage collections over torch's and Qt's objects on the GUI thread
    return app


def screenshot(window, out: str, size=(1440, 900), select: str | None = None) -> str:
    """Render `window` (shown offscreen or on screen) to a PNG; returns the path."""
    app = QApplication.instance()
    window.resize(*size)
    window.show()
    app.processEvents()
    window.scene.finish_loading()  # a big design's canvas is built over several turns: all of it, now
    window.view.open_view()
    if select:
        window.reveal_block(select)
        window.scene.select_blocks([select])
    app.processEvents()
    image = window.grab()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    if not image.save(out):
        raise OSError(f"cannot write {out}")
    return out


def offer_recovery(parent=None) -> list:
    """After a crash: ask to restore autosaved designs; returns the MainWindows it opened."""
    from .main_window import MainWindow
    from .recovery import find_orphans, prompt_disabled

    orphans = find_orphans()
    if not orphans or prompt_disabled():
        return []
    text = "RNN Studio did not close cleanly. Restore the unsaved work it autosaved?\n\n" + "\n".join(
        "\u2022 " + r.describe() for r in orphans
    )
    box = QMessageBox(QMessageBox.Icon.Question, "Restore unsaved work", text, parent=parent)
    restore = box.addButton("Restore", QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
    box.exec()
    opened = []
    if box.clickedButton() is restore:
        for rec in orphans:
            w = MainWindow()
            w.restore_from(rec)
            w.show()
            opened.append(w)
    else:
        for rec in orphans:
            with contextlib.suppress(OSError):
                rec.file.unlink()
    return opened


def shutdown_qt() -> None:
    """Close every window and destroy the QApplication while the interpreter is still running.

    Found with gdb: after Copy, the system clipboard (a Qt global) owns a QMimeData created from Python;
    Qt destroys it in a C exit handler after Python has finalized and PySide6 6.11 segfaults there.
    So the clipboard is released here, while Python is alive (what we put there was ours)."""
    import gc

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        return
    for w in QApplication.topLevelWidgets():
        # e.g. a pyqtgraph widget already closed (its plotItem is None)
        with contextlib.suppress(AttributeError, RuntimeError):
            w.close()
    clipboard = QApplication.clipboard()
    # the offscreen platform keeps the data in-process but does not report owning it
    if clipboard is not None and (clipboard.ownsClipboard() or app.platformName() in ("offscreen", "minimal")):
        clipboard.clear()
    app.processEvents()
    gc.collect()
    app.shutdown()


def main(
    design: str | None = None,
    shot: str | None = None,
    theme: str | None = None,
    size=(1440, 900),
    select: str | None = None,
) -> int:
    from .main_window import MainWindow

    app = create_app(theme=theme)
    window = MainWindow(autosave=shot is None, restore_state=shot is None)
    if design and not window.open_path(design):
        print(f"error: {window.statusBar().currentMessage()}", file=sys.stderr)
        if shot:
            return 2
    if shot:
        if select and select not in window.scene.blocks:
            print(f"error: no block '{select}' in the design", file=sys.stderr)
            return 2
        screenshot(window, shot, size, select)
        window.undo.setClean()
        window.close()
        print(f"wrote {shot}")
        shutdown_qt()
        return 0
    restored = offer_recovery(window)
    window.show()
    if restored and not design and not window.is_modified():
        window.close()  # the restored windows replace the empty one
    code = app.exec()
    shutdown_qt()
    return code
