"""The Device combo's background probe: which CUDA / MPS devices this machine has, without blocking the editor.

A part of the Train panel with its own state (the probe process): `start()` runs it once, `found` carries
[(label, value)] (an empty list when torch finds none or its install is broken), `shutdown()` ends it when
the window closes. The panel passes `found` on to the Training tab (SettingsForm.add_devices).
"""

from __future__ import annotations

import json
import sys

from PySide6 import QtCore

PROBE = (
    "import json, torch\n"
    "found = [(f'cuda:{i} \u2014 {torch.cuda.get_device_name(i)}', f'cuda:{i}')"
    " for i in range(torch.cuda.device_count())]\n"
    "mps = getattr(torch.backends, 'mps', None)\n"
    "if mps is not None and mps.is_available(): found.append(('mps \u2014 Apple GPU', 'mps'))\n"
    "print(json.dumps(found))\n"
)


class DeviceProbe(QtCore.QObject):
    """Lists the GPUs in a short child process. Not a Python thread: a garbage collection run from a worker
    thread can destroy Qt widgets off the GUI thread (seen here as a deadlock in ~QObject); torch's import is
    not pure-Python work like reading a file."""

    found = QtCore.Signal(list)  # [(label, value)]

    def __init__(self, parent: QtCore.QObject | None = None, program: str = PROBE):
        super().__init__(parent)
        self.program = program
        self.proc: QtCore.QProcess | None = None

    def start(self) -> None:
        """Run the probe (once: later calls do nothing)."""
        if self.proc is not None:
            return
        proc = self.proc = QtCore.QProcess(self)
        proc.finished.connect(self._done)
        proc.start(sys.executable, ["-c", self.program])

    def _done(self, *_args) -> None:
        try:
            found = json.loads(bytes(self.proc.readAllStandardOutput()).decode() or "[]")
            self.found.emit([tuple(f) for f in found])
        except ValueError:  # a broken CUDA install must not break the editor; auto falls back
            self.found.emit([])
        except RuntimeError:  # the panel (and its QProcess) is being destroyed: nothing to show
            pass

    def shutdown(self) -> None:
        """The window closes: the probe is not needed any more; never block for long."""
        if self.proc is not None and self.proc.state() != QtCore.QProcess.ProcessState.NotRunning:
            self.proc.kill()
            self.proc.waitForFinished(1000)
