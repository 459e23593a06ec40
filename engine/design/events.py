"""A tiny synchronous event (connect/emit), so the core can announce changes without Qt.

The GUI bridges these to Qt signals in one place (gui/bridge.py); the engine never imports Qt.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Event:
    """A list of callbacks. `connect` returns the callback so it can be used as a decorator."""

    __slots__ = ("_slots",)

    def __init__(self) -> None:
        self._slots: list[Callable[..., Any]] = []

    def connect(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        if fn not in self._slots:
            self._slots.append(fn)
        return fn

    def disconnect(self, fn: Callable[..., Any]) -> None:
        if fn in self._slots:
            self._slots.remove(fn)

    def emit(self, *args: Any, **kwargs: Any) -> None:
        for fn in list(self._slots):
            fn(*args, **kwargs)
