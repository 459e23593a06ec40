"""What a run's data was: its columns, window, normalization, classes, forecast steps and season
(saved as meta.json beside a run's checkpoints; evaluate, predict and forecast read it back instead of
being told again). The first record of the data line (engine/data/__init__.py): it imports nothing of ours.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class RunMeta:
    project_name: str = ""
    task: str = "regression"  # "regression" | "classification"
    features: list[str] = field(default_factory=list)  # input column names, in order
    target: str | None = None  # target column name (CSV) or None
    classes: list[Any] | None = None  # class labels in index order (classification)
    # Normalization fitted on the training split: x' = (x - x_mean) / x_std per feature;
    # y' = (y - y_mean) / y_std for regression targets. None where not normalized.
    x_mean: list[float] | None = None
    x_std: list[float] | None = None
    y_mean: float | None = None
    y_std: float | None = None
    lookback: int | None = None
    horizon: int | None = None
    # The columns the run's data plan used, so evaluate / predict need not be told again: `series` the
    # series column (None: one series, or a folder's file names), `time` the time column or "none"
    # (None: a run saved before these fields, whose time column is detected again).
    series: str | None = None
    time: str | None = None
    # Forecasting (None in runs saved before them): `steps` the forecast steps of a direct multi-step
    # design (1: one step), `season` the season length m given or detected at training (None: none
    # was, so m = 1 unless evaluate is told --season).
    steps: int | None = None
    season: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> RunMeta:
        known = {k: v for k, v in (d or {}).items() if k in cls.__dataclass_fields__}
        return cls(**known)
