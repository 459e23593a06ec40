"""Reading a data file off the GUI thread, so the window keeps painting while a large file is read.

`read_later(path)` runs engine.data.read_table (pyarrow / numpy / pure Python: no Qt object is touched)
on a QThreadPool thread and returns a request id; the relay's `done(id, table, error)` signal arrives
on the GUI thread (a queued connection), where the panel applies the newest request's result and drops
any other (a stale read: the user picked another file meanwhile).

Python's cyclic garbage collector is paused while a read is in flight and resumed on the GUI thread when
it lands: a collection run from the worker thread could destroy Qt wrappers there (seen in this project
as a deadlock in ~QObject when a device probe ran in a thread). The read itself allocates few Python
objects, so pausing costs nothing measurable.
"""

from __future__ import annotations

import gc
import itertools
from pathlib import Path

from PySide6 import QtCore


class ReadRelay(QtCore.QObject):
    """One per application, living on the GUI thread; every Train panel listens to `done`."""

    done = QtCore.Signal(int, object, str)  # request id, the Table (None on error), the one-line error
    planned = QtCore.Signal(int, object, str)  # request id, the DataPlan (None on error), the one-line error
    called = QtCore.Signal(int, object, object)  # request id, what call_later's function returned, its exception

    def __init__(self) -> None:
        super().__init__()
        self.pool = QtCore.QThreadPool(self)
        self.pool.setMaxThreadCount(2)  # a newer read need not wait for a stale one to finish
        self._ids = itertools.count(1)
        self._in_flight = 0
        self._gc_was_enabled = True
        self.done.connect(self._landed)  # connected first: runs before the panels' slots
        self.planned.connect(self._landed)
        self.called.connect(self._landed)

    def read_later(self, path: str) -> int:
        from rnn_studio.engine.data import read_table  # imported here, on the GUI thread

        request = next(self._ids)
        if self._in_flight == 0:
            self._gc_was_enabled = gc.isenabled()
            gc.disable()
        self._in_flight += 1
        self.pool.start(lambda: self._run(request, path, read_table))
        return request

    def plan_later(self, plan_data, spec, project, table, design_error) -> int:
        """Derive a large table's data plan on a worker thread (`planned` says when): checking the time
        column and the splits of 2,000,000 rows held the GUI thread ~0.2 s. `project` is a snapshot."""
        request = next(self._ids)
        if self._in_flight == 0:
            self._gc_was_enabled = gc.isenabled()
            gc.disable()
        self._in_flight += 1

        def run() -> None:
            plan, error = None, ""
            try:
                plan = plan_data(spec, project, table=table, ui="gui")
            except design_error as e:
                error = f"Fix the design first: {str(e).splitlines()[0]}"
            except Exception as e:  # the plan's own problems are in plan.errors; anything else is one line
                error = f"The data plan could not be made ({type(e).__name__}: {e})"
            self.planned.emit(request, plan, error)

        self.pool.start(run)
        return request

    def call_later(self, fn) -> int:
        """Run `fn()` (plain Python, no Qt object) on a worker thread; `called(id, result, exception)` brings
        what it returned, or the exception it raised (then result is None), back to the GUI thread."""
        request = next(self._ids)
        if self._in_flight == 0:
            self._gc_was_enabled = gc.isenabled()
            gc.disable()
        self._in_flight += 1

        def run() -> None:
            result, error = None, None
            try:
                result = fn()
            except Exception as e:  # handed to the GUI thread, which words it
                error = e
            self.called.emit(request, result, error)

        self.pool.start(run)
        return request

    def _run(self, request: int, path: str, read_table) -> None:
        """The worker thread: read, then hand the result to the GUI thread. Never raises."""
        from rnn_studio.engine.data import DataError

        table, error = None, ""
        try:
            table = read_table(path)
        except (DataError, OSError) as e:
            error = str(e) or f"{Path(path).name} could not be read"
        except Exception as e:  # an unexpected reader failure is still one line, never a hung panel
            error = f"{Path(path).name} could not be read ({type(e).__name__}: {e}); check the file's format"
        self.done.emit(request, table, error)

    def _landed(self, _request: int, _table, _error) -> None:
        self._in_flight -= 1
        if self._in_flight == 0 and self._gc_was_enabled:
            gc.enable()

    def busy(self) -> bool:
        return self._in_flight > 0


_relay: ReadRelay | None = None


def relay() -> ReadRelay:
    """The application's relay (created on first use, on the GUI thread)."""
    global _relay
    if _relay is None:
        _relay = ReadRelay()
    return _relay


def read_later(path: str) -> int:
    return relay().read_later(path)
