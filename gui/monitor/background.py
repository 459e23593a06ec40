"""Calling an engine function off the GUI thread (forecast, evaluate): the window keeps painting.

`calls().start(fn, *args)` runs `fn(*args)` on a QThreadPool thread and returns a request id; the relay's
`done(id, result, error)` signal arrives on the GUI thread (a queued connection). `error` is the engine's
one-line message ('' when the call returned). The caller keeps the id of its newest request and drops
any other result (a stale call: the user changed the run or the settings meanwhile).

As in reader.py, Python's cyclic garbage collector is paused while a call is in flight and resumed on the
GUI thread when it lands: a collection run from the worker thread could destroy Qt wrappers there. The
caller imports the engine module on the GUI thread before starting (torch is already loaded by then: the
Train panel's data plan imports it), so the worker never runs a first import.
"""

from __future__ import annotations

import gc
import itertools
from collections.abc import Callable
from typing import Any

from PySide6 import QtCore


def engine_errors() -> tuple[type[BaseException], ...]:
    """The engine's one-line errors (bad data, design, settings, run folder), as the CLI catches them
    (rnn_studio/commands/training.py), plus OSError (a file that vanished): shown as they are."""
    from rnn_studio.engine.compile import DesignError
    from rnn_studio.engine.data import DataError
    from rnn_studio.engine.runs import RunError
    from rnn_studio.engine.train import ConfigError, TrainError

    return (DataError, DesignError, RunError, ConfigError, TrainError, OSError)


class CallRelay(QtCore.QObject):
    """One per application, living on the GUI thread."""

    done = QtCore.Signal(int, object, str)  # request id, the result (None on error), the one-line error

    def __init__(self) -> None:
        super().__init__()
        self.pool = QtCore.QThreadPool(self)
        self.pool.setMaxThreadCount(1)  # one engine call at a time: torch already uses its own threads
        self._ids = itertools.count(1)
        self._in_flight = 0
        self._gc_was_enabled = True
        self.done.connect(self._landed)  # connected first: runs before the callers' slots

    def start(self, fn: Callable[..., Any], *args: Any) -> int:
        request = next(self._ids)
        errors = engine_errors()  # imported here, on the GUI thread
        if self._in_flight == 0:
            self._gc_was_enabled = gc.isenabled()
            gc.disable()
        self._in_flight += 1
        self.pool.start(lambda: self._run(request, fn, args, errors))
        return request

    def _run(self, request: int, fn: Callable[..., Any], args: tuple, errors: tuple) -> None:
        """The worker thread: call, then hand the result to the GUI thread. Never raises."""
        result, error = None, ""
        try:
            result = fn(*args)
        except errors as e:
            error = str(e).splitlines()[0] if str(e) else type(e).__name__
        except Exception as e:  # a bug is still one line in the view, never a hung or crashed window
            error = f"{getattr(fn, '__name__', 'the call')} failed ({type(e).__name__}: {e})"
        self.done.emit(request, result, error)

    def _landed(self, _request: int, _result, _error: str) -> None:
        self._in_flight -= 1
        if self._in_flight == 0 and self._gc_was_enabled:
            gc.enable()

    def busy(self) -> bool:
        return self._in_flight > 0


_relay: CallRelay | None = None


def calls() -> CallRelay:
    """The application's relay (created on first use, on the GUI thread)."""
    global _relay
    if _relay is None:
        _relay = CallRelay()
    return _relay
