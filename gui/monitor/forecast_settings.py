"""The Train form's forecasting settings: Season (`--season`, tab "1 Data") and Interval level
(`--level`, tab "2 Training").

Season is a data setting (DataSpec.season, as engine/data/plan.py reads it): the season length m of the
seasonal-naive baseline and MASE ("auto" = the run's, else from the time column's frequency: hourly 24,
daily 7, weekly 52, monthly 12, quarterly 4, else 1). Interval level is the training setting "level":
the coverage of the split-conformal prediction intervals fitted on the validation residuals. That a
design forecasts several steps is a property of the design (its output Dense's units), shown by the
data plan ("forecasts steps 1..H").
"""

from __future__ import annotations

import contextlib
from typing import Any

from PySide6 import QtCore, QtWidgets

DEFAULT_LEVEL = 0.9


def add_season_row(data, form: QtWidgets.QFormLayout) -> None:
    """The Data tab's Season row (DataForm.season): a data setting (DataSpec.season, `--season`), so the
    plan re-derives when it changes and says which season it uses and why."""
    data.season = QtWidgets.QSpinBox(minimum=0, maximum=100000, value=0, specialValueText="auto")
    data.season.setToolTip(
        "Season length m of the seasonal-naive baseline and of MASE (--season). auto: the run's, else from the "
        "time column's frequency (hourly 24, daily 7, weekly 52, monthly 12, quarterly 4, else 1)"
    )
    data.season.valueChanged.connect(data._plan_later)
    form.addRow("Season:", data.season)


def season_spec(data) -> dict[str, Any]:
    """{"season": m} when the user set one (auto leaves it to the plan)."""
    return {"season": data.season.value()} if data.season.value() else {}


def add_level_row(settings, form: QtWidgets.QFormLayout) -> None:
    """The Training tab's Interval level row (SettingsForm.interval_level): the training setting "level"."""
    settings.interval_level = QtWidgets.QDoubleSpinBox(
        decimals=2, minimum=0.5, maximum=0.99, value=DEFAULT_LEVEL, singleStep=0.05
    )
    settings.interval_level.setToolTip(
        "Coverage of the prediction intervals (--level): split-conformal, from the validation residuals of the "
        "best checkpoint"
    )
    form.addRow("Interval level:", settings.interval_level)
    settings.interval_level.installEventFilter(settings.wheel_guard)
    settings.interval_level.setFocusPolicy(QtCore.Qt.StrongFocus)


def forecast_overrides(settings) -> dict[str, Any]:
    """The level as a trainer override, only when it differs from the default (as the CLI passes flags)."""
    if abs(settings.interval_level.value() - DEFAULT_LEVEL) > 1e-9:
        return {"level": round(settings.interval_level.value(), 4)}
    return {}


def load_forecast_settings(settings, training: dict[str, Any]) -> None:
    """Fill Interval level from a project's `training` section."""
    settings.interval_level.setValue(DEFAULT_LEVEL)
    with contextlib.suppress(TypeError, ValueError):
        if training.get("level") is not None:
            settings.interval_level.setValue(float(training["level"]))
