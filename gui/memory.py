"""The GUI process's cyclic garbage collector, kept off the event loop's critical path.

Now and then Python's cyclic collector runs a full collection over every object the process tracks.
Once the designer has imported torch, pyqtgraph and PySide6 that is ~220,000 objects, and one full
collection took 117-143 ms on the GUI thread (measured on the 2-core VM): a stall in whichever flow
allocated at that moment (opening a 400-block design, reading a CSV, following runs), which
`tests/benchmarks/bench_gui_responsiveness.py` saw as gaps over 50 ms. Nearly all of those objects are
modules, classes and functions that live as long as the process, so once they are imported they move to
the permanent generation (`gc.freeze()`, constant time) and a full collection walks only what designs,
runs and charts created since.

`settle()` freezes again whenever modules were imported since the last freeze (onnx on the first export,
pyarrow on the first CSV): after the first window is built and from an app-wide timer every few seconds.
What is frozen is still freed by reference counting as always; only reference cycles among objects alive
at a freeze are never collected, a bounded amount (what existed at that moment, mostly imports).
"""

from __future__ import annotations

import gc
import sys

from PySide6.QtCore import QObject, QTimer

_modules_at_freeze = 0
SETTLE_EVERY_MS = 3000


def settle() -> bool:
    """Freeze what is alive now if modules were imported since the last freeze; True when it froze."""
    global _modules_at_freeze
    if len(sys.modules) <= _modules_at_freeze:
        return False
    gc.freeze()
    _modules_at_freeze = len(sys.modules)
    return True


def install(app: QObject) -> None:
    """Settle now and every SETTLE_EVERY_MS on `app`'s thread (once per application)."""
    if app.findChild(QTimer, "rnn_studio_settle_gc") is not None:
        return
    settle()
    timer = QTimer(app)
    timer.setObjectName("rnn_studio_settle_gc")
    timer.setInterval(SETTLE_EVERY_MS)
    timer.timeout.connect(settle)
    timer.start()
