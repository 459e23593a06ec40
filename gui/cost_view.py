"""Cost on the canvas: View > Show Cost labels each block with its MACs and share, the status bar shows the
design's totals, and Design > Profile Latency measures ms per block (`rnn-studio profile --json` in a child
process, so the editor never waits) and shows them next to the MACs.

The figures come from the check that runs on every edit (engine/design/cost.py), so they follow each edit.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QProcess
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel

from rnn_studio.engine.design.cost import human_count

from .inspector import cost_text


class CostView:
    """Installed into a designer window by `install_cost_view(window)`."""

    def __init__(self, window):
        self.window = window
        self.measured: dict[str, float] = {}  # block id -> ms of the last profile (cleared by an edit)
        self.profile_info: dict | None = None
        self.proc: QProcess | None = None
        self._folder = tempfile.TemporaryDirectory(prefix="rnn-studio-profile-")
        self.status = QLabel()
        self.status.setToolTip(
            "Multiply-accumulates of one sample's forward pass (biases and element-wise work left out); "
            "View > Show Cost labels the blocks"
        )
        window.statusBar().addWidget(self.status)
        self.show_action = _action(
            window,
            "show_cost",
            "Show &Cost (MACs)",
            self.refresh,
            "Label every block with its MACs and share of the design (and measured ms after Profile Latency)",
            checkable=True,
        )
        self.show_action.setChecked(True)  # on by default: cost is part of designing
        view = window.menus["View"]
        view.insertAction(window.actions["snap"], self.show_action)
        self.profile_action = _action(
            window,
            "profile",
            "Profile &Latency",
            self.start_profile,
            "Measure latency per block with onnxruntime (batch 1, 1 thread), in the background",
        )
        window.menus["Design"].addAction(self.profile_action)
        window.designChanged.connect(self._design_changed)
        window.inspector.costLengthChanged.connect(self._set_length)
        self.refresh()

    # ------------------------------------------------------------------ live cost
    def _design_changed(self, _result) -> None:
        if self.measured and self.proc is None:
            self.measured, self.profile_info = {}, None  # the design changed: the measurement no longer holds
            self._to_inspector()
        self.refresh()

    def _set_length(self, steps: int) -> None:
        bridge = self.window.bridge
        if bridge is not None and bridge.cost_length != steps:
            bridge.cost_length = steps
            bridge.run_check()

    def refresh(self) -> None:
        """Status bar totals always; block labels while View > Show Cost is on."""
        bridge = self.window.bridge
        if bridge is None:
            return
        result = bridge.result
        text = cost_text(result)
        if self.profile_info:
            text += f" \u00b7 measured p50 {self.profile_info['p50_ms']:.3f} ms"
        self.status.setText(text)
        on = self.show_action.isChecked()
        total = result.cost_totals()["macs"] if result.costs else 0
        for bid, item in self.window.scene.blocks.items():
            cost = result.costs.get(bid)
            if not on or cost is None or (cost.macs == 0 and bid not in self.measured):
                item.set_cost(None)
                continue
            share = cost.macs / total if total else 0.0
            label = f"{human_count(cost.macs)} MACs"
            if bid in self.measured:
                label = f"{human_count(cost.macs)} \u00b7 {self.measured[bid]:.3f} ms"
            item.set_cost(label, share)

    # ------------------------------------------------------------------ measured
    def start_profile(self) -> bool:
        """Run `rnn-studio profile DESIGN --json` on the current design in a child process."""
        window = self.window
        if self.proc is not None:
            return False
        if not window.bridge.result.ok:
            window.statusBar().showMessage("Profile Latency: fix the design's errors first (see Problems)", 6000)
            return False
        design = Path(self._folder.name) / "design.rnn.json"
        design.write_text(window.project.to_json(), encoding="utf-8")
        args = ["-m", "rnn_studio", "profile", str(design), "--json"]
        shape = window.bridge.result.input_shape()
        if shape is not None and shape[1] is None:
            args += ["--length", str(window.bridge.result.cost_length)]
        proc = self.proc = QProcess(window)
        proc.finished.connect(self._profiled)
        proc.start(sys.executable, args)
        self.profile_action.setEnabled(False)
        window.statusBar().showMessage("Profiling latency in the background (onnxruntime, batch 1, 1 thread)…")
        return True

    def _profiled(self, code: int, _status=None) -> None:
        proc, self.proc = self.proc, None
        self.profile_action.setEnabled(True)
        if proc is None:
            return
        out = bytes(proc.readAllStandardOutput().data()).decode("utf-8", "replace")
        err = bytes(proc.readAllStandardError().data()).decode("utf-8", "replace").strip()
        proc.deleteLater()
        try:
            info = json.loads(out) if code == 0 else None
        except json.JSONDecodeError:
            info = None
        if info is None:
            line = (err.splitlines() or ["no output"])[-1]
            self.window.statusBar().showMessage(f"Profile Latency failed: {line}", 10000)
            return
        self.profile_info = info
        self.measured = {bid: float(v["ms"]) for bid, v in info["blocks"].items()}
        self._to_inspector()
        self.show_action.setChecked(True)
        self.refresh()
        self.window.statusBar().showMessage(
            f"Measured: p50 {info['p50_ms']:.3f} ms, p90 {info['p90_ms']:.3f} ms per call "
            f"({info['precision']}, batch {info['batch']}, {info['threads']} thread); "
            f"overhead {info['overhead_ms']:.3f} ms",
            15000,
        )

    def _to_inspector(self) -> None:
        inspector = self.window.inspector
        inspector.measured = dict(self.measured)
        info = self.profile_info
        inspector.measured_note = (
            f"p50 {info['p50_ms']:.3f} ms, p90 {info['p90_ms']:.3f} ms ({info['precision']}, batch "
            f"{info['batch']}, {info['threads']} thread)"
            if info
            else ""
        )
        if self.window.bridge is not None:
            inspector.on_check(self.window.bridge.result)


def _action(window, key: str, text: str, slot, tip: str, checkable: bool = False) -> QAction:
    a = QAction(text, window)
    a.setCheckable(checkable)
    a.setToolTip(tip)
    a.setStatusTip(tip)
    a.triggered.connect(lambda _checked=False: slot())
    window.addAction(a)
    window.actions[key] = a
    return a


def install_cost_view(window) -> CostView:
    window.cost_view = CostView(window)
    return window.cost_view
