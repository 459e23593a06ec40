"""Tab "2 Training" of the Train panel: the training settings, as `overrides()` for the trainer.

A part with its own state (its widgets and its wheel guard); it reads nothing of the panel. The panel asks
it for `overrides()` when a run starts, fills it from a design with `load_settings(training)` and hands it
the probed GPUs with `add_devices(found)` (DeviceProbe.found).
"""

from __future__ import annotations

import contextlib
from typing import Any

from PySide6 import QtCore, QtWidgets

from rnn_studio.engine.install_kind import install_command

from .forecast_settings import add_level_row, forecast_overrides, load_forecast_settings
from .train_form import WheelToPage, combo, form_layout, tint


class SettingsForm(QtWidgets.QGroupBox):
    """The "Training" box: epochs, batch, learning rate, ..., device, precision, seed, logging, interval level."""

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__("Training", parent)
        self.wheel_guard = WheelToPage(self)
        form = form_layout(self)
        for label, w in self._rows():
            form.addRow(label, w)
            w.installEventFilter(self.wheel_guard)
            w.setFocusPolicy(QtCore.Qt.StrongFocus)
        add_level_row(self, form)  # Interval level (forecast_settings.py)
        note = QtWidgets.QLabel("Dropout is set on the blocks.")
        tint(note, "muted")
        form.addRow(note)

    def _rows(self) -> list[tuple[str, QtWidgets.QWidget]]:
        self.epochs = QtWidgets.QSpinBox(minimum=1, maximum=100000, value=20)
        self.batch = QtWidgets.QSpinBox(minimum=1, maximum=65536, value=64)
        self.lr = QtWidgets.QDoubleSpinBox(decimals=6, minimum=1e-6, maximum=10.0, value=1e-3, singleStep=1e-4)
        self.optimizer = combo()
        self.optimizer.addItems(["adam", "adamw", "sgd"])
        self.weight_decay = QtWidgets.QDoubleSpinBox(decimals=6, minimum=0.0, maximum=1.0, value=0.0, singleStep=1e-4)
        self.schedule = combo()
        self.schedule.addItems(["constant", "cosine", "plateau"])
        self.patience = QtWidgets.QSpinBox(minimum=0, maximum=1000, value=0, specialValueText="off")
        self.clip = QtWidgets.QDoubleSpinBox(decimals=3, minimum=0.0, maximum=1e6, value=0.0, specialValueText="off")
        self.device = combo()
        self.device.addItem("auto (CUDA, then MPS, then CPU)", "auto")
        self.device.addItem("cpu", "cpu")
        self.precision = combo()
        self.precision.addItems(["fp32", "bf16", "fp16"])
        self.precision.setToolTip("bf16 / fp16 autocast are used on CUDA only")
        self.seed = QtWidgets.QSpinBox(minimum=0, maximum=2**31 - 1, value=0)
        self.log_to = combo()  # engine/training/tracking.py; docs/tracking.md. combo(): the popup draws "none" too
        for text, value in (("none", None), ("TensorBoard", "tensorboard"), ("MLflow", "mlflow")):
            self.log_to.addItem(text, value)
        self.log_to.setToolTip(
            "Also write TensorBoard event files into the run folder, or log the run to MLflow "
            "(MLFLOW_TRACKING_URI, default runs/mlflow.db). Needs tensorboard / mlflow: "
            + install_command(["tensorboard", "mlflow"], extra="tracking")
        )
        return [
            ("Epochs:", self.epochs),
            ("Batch size:", self.batch),
            ("Learning rate:", self.lr),
            ("Optimizer:", self.optimizer),
            ("Weight decay:", self.weight_decay),
            ("LR schedule:", self.schedule),
            ("Early stop patience:", self.patience),
            ("Clip grad norm:", self.clip),
            ("Device:", self.device),
            ("Precision:", self.precision),
            ("Seed:", self.seed),
            ("Log to:", self.log_to),
        ]

    def overrides(self) -> dict[str, Any]:
        o = {
            "epochs": self.epochs.value(),
            "batch_size": self.batch.value(),
            "lr": self.lr.value(),
            "optimizer": self.optimizer.currentText(),
            "weight_decay": self.weight_decay.value(),
            "schedule": self.schedule.currentText(),
            "device": self.device.currentData(),
            "precision": self.precision.currentText(),
            "seed": self.seed.value(),
        }
        if self.patience.value():
            o["patience"] = self.patience.value()
        if self.clip.value():
            o["clip_norm"] = self.clip.value()
        if self.log_to.currentData():
            o["log"] = self.log_to.currentData()  # taken out by engine.training.train._process_main
        o.update(forecast_overrides(self))
        return o

    def load_settings(self, training: dict[str, Any]) -> None:
        """Fill the form from a project's `training` section."""

        def setv(w, key, cast=float):
            if key in training and training[key] is not None:
                with contextlib.suppress(TypeError, ValueError):
                    w.setValue(cast(training[key]))

        setv(self.epochs, "epochs", int)
        setv(self.batch, "batch_size", int)
        setv(self.lr, "lr")
        setv(self.weight_decay, "weight_decay")
        setv(self.patience, "patience", int)
        setv(self.clip, "clip_norm")
        setv(self.seed, "seed", int)
        load_forecast_settings(self, training)
        for box, key in ((self.optimizer, "optimizer"), (self.schedule, "schedule"), (self.precision, "precision")):
            if isinstance(training.get(key), str) and box.findText(training[key]) >= 0:
                box.setCurrentText(training[key])

    def add_devices(self, found: list) -> None:
        """The probed GPUs [(label, value)] join the Device combo before "cpu"; "auto" names the first."""
        for label, value in found:
            if self.device.findData(value) < 0:
                self.device.insertItem(self.device.count() - 1, label, value)
        if found:
            self.device.setItemText(0, f"auto ({found[0][0]})")
        else:
            self.device.setItemText(0, "auto (no GPU found: CPU)")
