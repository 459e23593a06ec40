"""The one place where engine events become Qt signals (ryvencore's lesson), plus the live check.

`ProjectBridge` listens to `Project.changed` and re-emits each edit as a Qt signal, then runs
`engine.check` and emits `checked(CheckResult)`. Checks are synchronous (engine target < 5 ms), so what
the user sees is never behind the model; `batch()` defers the check to the end of a multi-edit command.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

from PySide6.QtCore import QObject, Signal

from rnn_studio.engine import CheckResult, Project, check


class ProjectBridge(QObject):
    changed = Signal(str, dict)  # (kind, detail) exactly as the engine emitted it
    blockAdded = Signal(str)
    blockRemoved = Signal(str)
    linksChanged = Signal()
    paramChanged = Signal(str, str)
    moved = Signal(str)
    renamed = Signal(str)
    checked = Signal(object)  # CheckResult

    def __init__(self, project: Project, parent: QObject | None = None):
        super().__init__(parent)
        self.project = project
        self.result: CheckResult = CheckResult()
        self.last_check_ms = 0.0
        self._depth = 0
        self._dirty = False
        project.changed.connect(self._on_changed)

    def detach(self) -> None:
        self.project.changed.disconnect(self._on_changed)

    def _on_changed(self, kind: str, detail: dict) -> None:
        self.changed.emit(kind, detail)
        if kind == "block_added":
            self.blockAdded.emit(detail["id"])
            self.linksChanged.emit()  # restore_block brings its links back too
        elif kind == "block_removed":
            self.blockRemoved.emit(detail["id"])
            self.linksChanged.emit()
        elif kind in ("link_added", "link_removed"):
            self.linksChanged.emit()
        elif kind == "param_changed":
            self.paramChanged.emit(detail["id"], detail["name"])
        elif kind == "moved":
            self.moved.emit(detail["id"])
            return  # positions do not change shapes
        elif kind == "renamed":
            self.renamed.emit(detail["name"])
            return
        self.request_check()

    def request_check(self) -> None:
        if self._depth:
            self._dirty = True
        else:
            self.run_check()

    def run_check(self) -> CheckResult:
        t0 = time.perf_counter()
        self.result = check(self.project)
        self.last_check_ms = (time.perf_counter() - t0) * 1000
        self._dirty = False
        self.checked.emit(self.result)
        return self.result

    @contextmanager
    def batch(self):
        """Defer the check until the outermost batch ends (one check per undo command)."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if not self._depth and self._dirty:
                self.run_check()
