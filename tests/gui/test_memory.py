"""The designer's garbage collector (gui/memory.py, issue 23): a full collection no longer walks the
~200,000 objects torch, pyqtgraph and PySide6 create at import (117-143 ms on the GUI thread each time)."""

import gc
import importlib
import sys

from rnn_studio.gui import memory
from rnn_studio.gui.app import create_app


def test_after_the_first_window_the_imported_objects_are_frozen(qtbot):
    from rnn_studio.gui.main_window import MainWindow

    create_app()
    window = MainWindow(autosave=False)
    qtbot.addWidget(window)
    assert "torch" in sys.modules and "pyqtgraph" in sys.modules
    assert gc.get_freeze_count() > 100_000  # torch, pyqtgraph and Qt's wrappers are out of every collection


def test_settle_freezes_again_only_after_new_imports(tmp_path, monkeypatch):
    memory.settle()
    assert memory.settle() is False  # nothing imported since
    (tmp_path / "imported_later.py").write_text("TABLE = {i: str(i) for i in range(1000)}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("imported_later")  # as onnx on the first export, pyarrow on the first CSV
    before = gc.get_freeze_count()
    assert memory.settle() is True and gc.get_freeze_count() >= before
    assert memory.settle() is False


def test_the_app_settles_on_a_timer():
    app = create_app()
    timers = [t for t in app.children() if t.objectName() == "rnn_studio_settle_gc"]
    assert len(timers) == 1 and timers[0].isActive()
    create_app()  # a second call reuses the application: still one timer
    assert len([t for t in app.children() if t.objectName() == "rnn_studio_settle_gc"]) == 1
