"""The Train form's forecasting settings: Season (`--season`) and Interval level (`--level`).

They are training settings like the others (config keys "season" and "level", as the CLI's flags):
the season length m of the seasonal-naive baseline and MASE ("auto" = from the time column's frequency:
hourly 24, daily 7, weekly 52, monthly 12, quarterly 4, else 1), and the coverage of the split-conformal
prediction intervals fitted on the validation residuals. That a design forecasts several steps is a
property of the design (its output Dense's units), shown by the data plan ("forecasts steps 1..H").
"""

from __future__ import annotations

import contextlib
from typing import Any

from PySide6 import QtCore, QtWidgets

DEFAULT_LEVEL = 0.9


def add_forecast_settings(panel, form: QtWidgets.QFormLayout) -> None:
    """Add the Season and Interval level rows to the settings form (panel.season, panel.interval_level)."""
    panel.season = QtWidgets.QSpinBox(minimum=0, maximum=100000, value=0, specialValueText="auto")
    panel.season.setToolTip(
        "Season length m of the seasonal-naive baseline and of MASE (rnn-studio train --season). "
        "auto: from the time column's frequency (hourly 24, daily 7, weekly 52, monthly 12, quarterly 4, else 1)"
    )
    panel.interval_level = QtWidgets.QDoubleSpinBox(decimals=2, minimum=0.5, maximum=0.99, value=DEFAULT_LEVEL, singleStep=0.05)
    panel.interval_level.setToolTip(
        "Coverage of the prediction intervals (rnn-studio train --level): split-conformal, from the "
        "validation residuals of the best checkpoint"
    )
    for label, w in (("Season:", panel.season), ("Interval level:", panel.interval_level)):
        form.addRow(label, w)
        w.installEventFilter(panel._wheel_guard)
        w.setFocusPolicy(QtCore.Qt.StrongFocus)


def forecast_overrides(panel) -> dict[str, Any]:
    """The settings as trainer overrides (only what differs from the defaults, as the CLI passes flags)."""
    out: dict[str, Any] = {}
    if panel.season.value():
        out["season"] = panel.season.value()
    if abs(panel.interval_level.value() - DEFAULT_LEVEL) > 1e-9:
        out["level"] = round(panel.interval_level.value(), 4)
    return out


def load_forecast_settings(panel, training: dict[str, Any]) -> None:
    """Fill Season and Interval level from a project's `training` section."""
    season, level = training.get("season"), training.get("level")
    panel.season.setValue(0)
    panel.interval_level.setValue(DEFAULT_LEVEL)
    with contextlib.suppress(TypeError, ValueError):
        if season not in (None, "auto"):
            panel.season.setValue(int(season))
    with contextlib.suppress(TypeError, ValueError):
        if level is not None:
            panel.interval_level.setValue(float(level))
