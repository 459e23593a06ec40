"""The runs list (the Train panel's Runs tab, RunsList): run folders under the runs root, newest first, each
with its stop reason and metric."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from rnn_studio.engine.training.follow import MetricsTail


def list_runs(root: Path) -> list[Path]:
    """Run folders under `root`, newest first."""
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if p.is_dir() and (p / "project.rnn.json").is_file()]
    return sorted(runs, key=lambda p: p.name, reverse=True)


def read_summary(run: Path) -> dict[str, Any]:
    try:
        return json.loads((run / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def run_label(run: Path, summary: dict[str, Any], running: bool = False) -> str:
    """A runs-list line: the folder name, then the stop reason and best metric (or "running…")."""
    bits = [run.name]
    if summary:
        metric = next(
            (
                f"{k}={summary[k]:.4g}"
                for k in ("val_rmse", "val_accuracy", "val_loss")
                if isinstance(summary.get(k), (int, float))
            ),
            "",
        )
        bits.append(f"{summary.get('stop_reason', '')} {metric}".strip())
    elif running:
        bits.append("running…")
    return " — ".join(bits)


def loss_history(run: Path) -> tuple[list, list, list, list]:
    """A run's (steps, train losses, validation steps, validation losses), for the overlay."""
    steps, losses, vsteps, vlosses = [], [], [], []
    for rec in MetricsTail(run / "metrics.jsonl").read_new(max_bytes=1 << 30):
        if rec.get("kind") == "step" and isinstance(rec.get("loss"), (int, float)):
            steps.append(rec["step"])
            losses.append(rec["loss"])
        elif rec.get("kind") == "epoch" and isinstance(rec.get("val_loss"), (int, float)):
            vsteps.append(rec["step"])
            vlosses.append(rec["val_loss"])
    return steps, losses, vsteps, vlosses


class RunsList(QtWidgets.QWidget):
    """The Train panel's Runs tab: the run folders under a root, newest first, and what to do with one.

    A part with its own state (the list, the overlay box, the buttons). It reads nothing of the panel: it is
    given `root()` (the runs folder now), `current()` (the run on the charts, None when none) and
    `running()` (a run is training), and asks for the rest with signals the panel connects.
    """

    show_requested = QtCore.Signal(object)  # Path: load this run's whole history into the charts
    overlay_requested = QtCore.Signal(object)  # Path: draw this run's loss dashed over the current one
    attach_requested = QtCore.Signal(object)  # Path: follow this folder live (Attach…)
    export_requested = QtCore.Signal()  # Export…: the selected run, else the run on the charts

    def __init__(
        self,
        root: Callable[[], Path],
        current: Callable[[], Path | None] = lambda: None,
        running: Callable[[], bool] = lambda: False,
        parent: QtWidgets.QWidget | None = None,
    ):
        super().__init__(parent)
        self.root, self.current, self.running = root, current, running
        lay = QtWidgets.QVBoxLayout(self)
        self.runs = QtWidgets.QListWidget()
        self.runs.setSelectionMode(QtWidgets.QAbstractItemView.SingleSelection)
        self.runs.itemSelectionChanged.connect(self._run_selected)
        lay.addWidget(self.runs, 1)
        row = QtWidgets.QHBoxLayout()
        self.compare_box = QtWidgets.QCheckBox("Overlay on current")
        self.compare_box.setToolTip("Show the selected run dashed over the current one to compare")
        self.refresh_button = QtWidgets.QToolButton(text="⟳")
        self.refresh_button.setToolTip("Reload the runs list")
        self.refresh_button.clicked.connect(self.refresh)
        self.open_button = QtWidgets.QPushButton("Open folder")
        self.open_button.clicked.connect(self._open_folder)
        self.attach_button = QtWidgets.QPushButton("Attach…")
        self.attach_button.setToolTip("Follow a run folder, e.g. one started with `rnn-studio train`")
        self.attach_button.clicked.connect(self._attach_dialog)
        self.export_button = QtWidgets.QPushButton("Export…")
        self.export_button.setToolTip("Export the selected run (or the design) to ONNX or PyTorch, verified")
        self.export_button.clicked.connect(self.export_requested)
        row.addWidget(self.compare_box)
        row.addStretch(1)
        row.addWidget(self.refresh_button)
        lay.addLayout(row)
        row2 = QtWidgets.QHBoxLayout()
        row2.addWidget(self.open_button)
        row2.addWidget(self.attach_button)
        row2.addWidget(self.export_button)
        lay.addLayout(row2)

    def refresh(self) -> None:
        selected = self.selected_run()
        self.runs.blockSignals(True)
        self.runs.clear()
        current = self.current()
        for run in list_runs(self.root()):
            label = run_label(run, read_summary(run), current == run)
            # two lines (the folder, then the result): one line was cut at "val_rmse=13" in a narrow column
            item = QtWidgets.QListWidgetItem(label.replace(" — ", "\n", 1))
            item.setData(QtCore.Qt.UserRole, str(run))
            item.setToolTip(f"{label}\n{run}")
            self.runs.addItem(item)
            if selected and run == selected:
                item.setSelected(True)
        self.runs.blockSignals(False)

    def selected_run(self) -> Path | None:
        items = self.runs.selectedItems()
        return Path(items[0].data(QtCore.Qt.UserRole)) if items else None

    def _run_selected(self) -> None:
        run = self.selected_run()
        if run is None or self.running():
            if run is not None and self.compare_box.isChecked():
                self.overlay_requested.emit(run)
            return
        if self.compare_box.isChecked() and self.current() is not None:
            self.overlay_requested.emit(run)
        else:
            self.show_requested.emit(run)

    def _open_folder(self) -> None:
        run = self.selected_run() or self.current() or self.root()
        QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(str(run)))

    def _attach_dialog(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Attach to run folder", str(self.root()))
        if path:
            self.attach_requested.emit(Path(path))
