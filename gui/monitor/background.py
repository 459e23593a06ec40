"""Calling an engine function away from the GUI (the Forecast view's forecasts): the window keeps painting.

`calls().start(fn, *args)` runs `fn(*args)` in a worker *process* (one, spawned on first use and kept:
the first call pays for importing torch there, later ones do not) and returns a request id; the relay's
`done(id, result, error)` signal arrives on the GUI thread (a queued connection). `fn` must be a
module-level function of a Qt-free module (forecast_worker.py), its arguments and result picklable;
`error` is the engine's one-line message ('' when the call returned). The caller keeps the id of its
newest request and drops any other result (a stale call: the user changed the run or the settings).

Why a process and not a thread: the forecast is mostly Python (plan, reader, recursive steps) and holds
the GIL, so a thread stalled the event loop for as long as it ran. The result is unpickled on the
executor's helper thread; as in reader.py, Python's cyclic garbage collector is paused while a call is in
flight and resumed on the GUI thread when it lands, so no collection runs Qt destructors off the GUI thread.
"""

from __future__ import annotations

import gc
import itertools
import multiprocessing
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from PySide6 import QtCore

from . import forecast_worker


class CallRelay(QtCore.QObject):
    """One per application, living on the GUI thread."""

    done = QtCore.Signal(int, object, str)  # request id, the result (None on error), the one-line error

    def __init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1)
        self._in_flight = 0
        self._gc_was_enabled = True
        self._executor: ProcessPoolExecutor | None = None
        self.done.connect(self._landed)  # connected first: runs before the callers' slots

    def executor(self) -> ProcessPoolExecutor:
        if self._executor is None:  # spawned, never forked: the editor holds Qt (and maybe CUDA) state
            context = multiprocessing.get_context("spawn")
            self._executor = ProcessPoolExecutor(max_workers=1, mp_context=context)
        return self._executor

    def warm_up(self) -> None:
        """Start the worker and import the engine there now (a run is on show: a forecast will follow)."""
        self.executor().submit(forecast_worker.warm_up)

    def start(self, fn: Callable[..., Any], *args: Any) -> int:
        request = next(self._ids)
        if self._in_flight == 0:
            self._gc_was_enabled = gc.isenabled()
            gc.disable()
        self._in_flight += 1
        try:
            future = self.executor().submit(forecast_worker.call, fn, args)
        except RuntimeError as e:  # the pool broke (a killed worker): a fresh one next time
            self._executor = None
            error = f"the forecast worker stopped ({e}); try again"
            QtCore.QTimer.singleShot(0, lambda: self.done.emit(request, None, error))
            return request
        future.add_done_callback(lambda f: self._finished(request, f))
        return request

    def _finished(self, request: int, future: Future) -> None:
        """The executor's helper thread: hand the result to the GUI thread. Never raises."""
        try:
            result, error = future.result()
        except Exception as e:  # the worker process died (killed, out of memory): one line, a fresh pool
            result, error = None, f"the forecast worker stopped ({type(e).__name__}: {e}); try again"
            self._executor = None
        self.done.emit(request, result, error)

    def _landed(self, _request: int, _result, _error: str) -> None:
        self._in_flight -= 1
        if self._in_flight == 0 and self._gc_was_enabled:
            gc.enable()

    def busy(self) -> bool:
        return self._in_flight > 0

    def shutdown(self) -> None:
        """The window closes: no new calls; a running one is not waited for."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


_relay: CallRelay | None = None


def calls() -> CallRelay:
    """The application's relay (created on first use, on the GUI thread)."""
    global _relay
    if _relay is None:
        _relay = CallRelay()
    return _relay
