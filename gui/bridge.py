"""The one place where engine events become Qt signals (ryvencore's lesson), plus the live check.

`Project.changed` announces each edit with one typed event (engine/design/project.py: `BlockAdded`,
`BlockRemoved`, `LinkAdded`, `LinkRemoved`, `ParamChanged`, `BlockMoved`, `ProjectRenamed`).
`ProjectBridge` re-emits that object as `edited(event)`, so listeners match on the event's type and read
its fields, then runs `engine.check` and emits `checked(CheckResult)`. Checks are synchronous (engine
target < 5 ms), so what the user sees is never behind the model; `batch()` defers the check to the end
of a multi-edit command.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

from PySide6.QtCore import QObject, Signal

from rnn_studio.engine import CheckResult, Project, check
from rnn_studio.engine.design.project import (
    BlockAdded,
    BlockMoved,
    BlockRemoved,
    LinkAdded,
    LinkRemoved,
    ParamChanged,
    ProjectEvent,
    ProjectRenamed,
)

__all__ = [
    "BlockAdded",
    "BlockMoved",
    "BlockRemoved",
    "LinkAdded",
    "LinkRemoved",
    "ParamChanged",
    "ProjectBridge",
    "ProjectEvent",
    "ProjectRenamed",
]


class ProjectBridge(QObject):
    edited = Signal(object)  # one ProjectEvent per edit, exactly as the engine emitted it
    checked = Signal(object)  # CheckResult

    def __init__(self, project: Project, parent: QObject | None = None):
        super().__init__(parent)
        self.project = project
        self.result: CheckResult = CheckResult()
        self.last_check_ms = 0.0
        self.cost_length: int | None = None  # time steps a variable-length design's cost is counted at
        self._depth = 0
        self._dirty = False
        project.changed.connect(self._on_changed)

    def detach(self) -> None:
        self.project.changed.disconnect(self._on_changed)

    def _on_changed(self, event: ProjectEvent) -> None:
        self.edited.emit(event)
        if not isinstance(event, (BlockMoved, ProjectRenamed)):  # positions and the name change no shape
            self.request_check()

    def request_check(self) -> None:
        if self._depth:
            self._dirty = True
        else:
            self.run_check()

    def run_check(self) -> CheckResult:
        t0 = time.perf_counter()
        self.result = check(self.project, length=self.cost_length)
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
