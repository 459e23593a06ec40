"""The records of a run folder's metrics.jsonl and summary.json, typed. No Qt, no torch.

docs/run-folder.md is the contract; this module is its one definition in code. The trainer builds
every record with these types (engine/training/train.py); the readers (the CLI progress in
rnn_studio/commands/training.py, the GUI follower in gui/monitor/follower.py, engine/training/tune.py,
engine/training/follow.py) read them with `parse_record`, which drops a line that is not a well-formed record
instead of failing (another writer, an older version, a torn line). On disk the records stay plain JSON
objects: fields are only ever added, never renamed.

Every value a reader needs is a field: e.g. a divergence's step is `diverged_step` in the end record
and the summary, not a number to parse out of `stop_reason` ("diverged at step N", kept as it was).
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

KIND_START: Literal["start"] = "start"
KIND_STEP: Literal["step"] = "step"
KIND_GRAD: Literal["grad"] = "grad"
KIND_EPOCH: Literal["epoch"] = "epoch"
KIND_END: Literal["end"] = "end"

# stop_reason values; "diverged at step N" and "early stopping: ..." carry a detail after the prefix
STOP_COMPLETED = "completed"
STOP_CANCELLED = "cancelled"
STOP_MAX_STEPS = "max steps reached"
STOP_OUT_OF_MEMORY = "out of memory"
STOP_ERROR = "error"
DIVERGED_PREFIX = "diverged at step "
EARLY_STOP_PREFIX = "early stopping: "


class StartRecord(TypedDict, total=False):
    kind: Literal["start"]
    time: str
    run: str
    name: str
    device: str
    device_name: str
    precision: str
    threads: int | None
    task: str
    loss: str
    epochs: int
    steps_per_epoch: int
    total_steps: int
    batch_size: int
    grad_every: int
    blocks: list[str]
    samples: dict[str, int]
    data: str
    data_spec: dict[str, Any]
    features: list[Any]
    target: str | None
    lookback: int | None
    horizon: int | None
    ignored_columns: list[str]
    plan: dict[str, Any] | None  # the data plan (plan.json; engine/data/plan.py DataPlan.to_dict())
    warnings: list[str]
    notes: list[str]  # e.g. a stale lock taken over
    parameters: int
    resumed_from_step: int | None
    init_from: str | None  # the run whose best.pt gave the starting weights
    fingerprint: str  # the design's fingerprint (engine/training/checkpoints.py)
    config: dict[str, Any]


class StepRecord(TypedDict):
    kind: Literal["step"]
    step: int
    epoch: int
    loss: float | None
    lr: float


class GradRecord(TypedDict):
    kind: Literal["grad"]
    step: int
    epoch: int
    total: float | None
    blocks: dict[str, float | None]


class EpochRecord(TypedDict, total=False):
    """Besides these: the validation metrics, `val_rmse`, `val_mae`, `val_persistence_rmse`, ...
    (regression) or `val_accuracy`, `val_majority_accuracy` (classification)."""

    kind: Literal["epoch"]
    epoch: int
    step: int
    train_loss: float | None
    val_loss: float | None
    lr: float
    samples_per_s: float
    train_time_s: float
    elapsed_s: float
    best: bool


class Summary(TypedDict, total=False):
    """summary.json, and the end record (`kind: "end"` added). Besides these: the best epoch's `val_*`
    metrics and the `test_*` metrics; `tune` (engine/training/tune.py) and
    `distributed` (engine/training/distributed.py)
    where they apply."""

    name: str
    run: str
    stop_reason: str
    message: str | None
    diverged_step: int | None  # the step whose loss was not finite ("diverged at step N")
    epochs_completed: int
    steps: int
    wall_time_s: float
    device: str
    device_name: str
    precision: str
    threads: int | None
    task: str | None
    loss: str | None
    best_epoch: int | None
    best_step: int | None
    val_loss: float | None
    persistence_rmse: float | None
    val_persistence_rmse: float | None
    test_persistence_rmse: float | None
    beats_persistence: bool | None  # the model's RMSE below persistence's on the same split
    persistence_split: str | None  # "test", or "val" when there is no test split
    # forecasting (regression; docs/data.md "Forecast metrics" and "Prediction intervals")
    forecast_steps: int  # H of a direct multi-step design (the optimizer step count is `steps`)
    horizon: int
    season: int
    interval_level: float
    interval_warning: str  # too few calibration windows, or a test coverage far from the level
    test_windows: int
    beats_seasonal_naive: bool | None
    seasonal_naive_split: str | None
    checkpoints: dict[str, bool]
    finished: str


class EndRecord(Summary, total=False):
    kind: Literal["end"]


Record = StartRecord | StepRecord | GradRecord | EpochRecord | EndRecord

# the fields a record must have for a reader to use it (others are optional or added later)
_REQUIRED: dict[str, tuple[str, ...]] = {
    KIND_START: (),
    KIND_STEP: ("step", "epoch"),
    KIND_GRAD: ("step", "blocks"),
    KIND_EPOCH: ("epoch", "step"),
    KIND_END: ("stop_reason",),
}


def parse_record(obj: Any) -> Record | None:
    """`obj` (a decoded metrics.jsonl line) as a typed record, or None when it is not a record this
    version understands (unknown kind, a required field missing or of the wrong type)."""
    if not isinstance(obj, dict):
        return None
    kind = obj.get("kind")
    required = _REQUIRED.get(kind) if isinstance(kind, str) else None
    if required is None:
        return None
    for key in required:
        value = obj.get(key)
        if key == "blocks" and not isinstance(value, dict):
            return None
        if key == "stop_reason" and not isinstance(value, str):
            return None
        if key in ("step", "epoch") and (not isinstance(value, int) or isinstance(value, bool)):
            return None
    return obj  # type: ignore[return-value]


def diverged_step(summary: dict[str, Any]) -> int | None:
    """The step a run diverged at: the `diverged_step` field (None when it did not diverge)."""
    step = summary.get("diverged_step")
    return step if isinstance(step, int) and not isinstance(step, bool) else None


def is_diverged(stop_reason: str | None) -> bool:
    return bool(stop_reason) and str(stop_reason).startswith(DIVERGED_PREFIX)


def number(value: Any) -> float | None:
    """A record's numeric field as float, None for null / missing / non-numbers (JSON null = non-finite)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)
