"""Every training setting, validated where it enters (the project's "training" object, CLI flags, GUI).

`validate_training(values)` returns one line per bad setting, naming the key, the allowed values and
(a short excerpt of) what was received; nothing is coerced there. `resolve_training` checks the same way
and then gives the values training uses (int/float, the loss for the task); `TrainConfig.validate` is only
that call, so `train`, `tune` and the GUI refuse a bad setting before any work, with one rule and one
message per setting, and the CLI maps the error to exit 2. Keys that are not listed here are left alone
(the training object may hold notes of other tools).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..limits import excerpt

# The same tuples as engine/training/train.py's (tests/engine/test_settings.py keeps them equal); repeated here so
# that `check` can validate settings without importing the training module (numpy, data loading).
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "plateau")
LOSSES = {"regression": ("mse", "mae", "huber"), "classification": ("cross_entropy",)}
PRECISIONS = ("fp32", "bf16", "fp16")

MAX_WHOLE = 2**31 - 1  # counts and sizes: beyond this a value is a typo, and torch overflows
MAX_SEED = 2**63 - 1  # torch.manual_seed takes a signed 64-bit seed
MAX_LOOKBACK = 1_000_000
DEVICE_RE = re.compile(r"(auto|cpu|mps|cuda(:[0-9]{1,3})?)\Z")


@dataclass(frozen=True)
class Setting:
    key: str
    allowed: str  # for the message: "a whole number >= 1", "adam | adamw | sgd"
    ok: Callable[[Any], bool]
    nullable: bool = False
    cast: Callable[[Any], Any] | None = None  # int / float: the type TrainConfig holds once `ok` passed


def _whole(lo: int, hi: int = MAX_WHOLE) -> Callable[[Any], bool]:
    def ok(v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        if isinstance(v, float) and not (math.isfinite(v) and v.is_integer()):
            return False
        return lo <= v <= hi

    return ok


def _number(lo: float, lo_open: bool = False, hi: float = math.inf) -> Callable[[Any], bool]:
    def ok(v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        if isinstance(v, int) and abs(v) > 2**1023:  # float(v) would overflow
            return False
        if not math.isfinite(v) or v > hi:
            return False
        return v > lo if lo_open else v >= lo

    return ok


def _choice(options) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, str) and v in options


def _split_ok(v: Any) -> bool:
    if not isinstance(v, (list, tuple)) or len(v) != 3:
        return False
    if not all(_number(0)(x) for x in v):
        return False
    return v[0] > 0 and abs(sum(float(x) for x in v) - 1.0) <= 1e-6


def _features_ok(v: Any) -> bool:
    if isinstance(v, str):
        return bool(v.strip())
    return isinstance(v, list) and 0 < len(v) <= 100_000 and all(isinstance(x, str) and x for x in v)


def _ranged(lo: int, hi: int = MAX_WHOLE) -> str:
    return f"a whole number from {lo:,} to {hi:,}"


_ALL_LOSSES = tuple(dict.fromkeys(loss for group in LOSSES.values() for loss in group))
SETTINGS: tuple[Setting, ...] = (
    Setting("optimizer", " | ".join(OPTIMIZERS), _choice(OPTIMIZERS)),
    Setting("lr", "a number > 0", _number(0, lo_open=True), cast=float),
    Setting("weight_decay", "a number >= 0", _number(0), cast=float),
    Setting("momentum", "a number >= 0", _number(0), cast=float),
    Setting("batch_size", _ranged(1), _whole(1), cast=int),
    Setting("epochs", _ranged(1), _whole(1), cast=int),
    Setting("loss", " | ".join(_ALL_LOSSES) + " or null", _choice(_ALL_LOSSES), nullable=True),
    Setting("task", " | ".join(LOSSES) + " or null", _choice(tuple(LOSSES)), nullable=True),
    Setting(
        "schedule",
        " | ".join(SCHEDULES) + " (or reduce_on_plateau)",
        _choice(SCHEDULES + ("reduce_on_plateau", "reduce-on-plateau")),
    ),
    Setting("plateau_patience", _ranged(0), _whole(0), cast=int),
    Setting("patience", _ranged(0) + " or null (off)", _whole(0), nullable=True, cast=int),
    Setting("min_delta", "a number >= 0", _number(0), cast=float),
    Setting("clip_norm", "a number > 0 or null (no clipping)", _number(0, lo_open=True), nullable=True, cast=float),
    Setting("seed", _ranged(0, MAX_SEED), _whole(0, MAX_SEED), cast=int),
    Setting("deterministic", "true | false", lambda v: isinstance(v, bool)),
    Setting("device", "auto | cpu | cuda | cuda:N | mps", lambda v: isinstance(v, str) and bool(DEVICE_RE.match(v))),
    Setting("precision", " | ".join(PRECISIONS), _choice(PRECISIONS)),
    Setting("grad_every", _ranged(0), _whole(0), cast=int),
    Setting("sync_every", _ranged(1) + " or null", _whole(1), nullable=True, cast=int),
    Setting("threads", _ranged(1, 1024) + " or null", _whole(1, 1024), nullable=True, cast=int),
    Setting("max_steps", _ranged(1) + " or null", _whole(1), nullable=True, cast=int),
    Setting("eval_batch_size", _ranged(1), _whole(1), cast=int),
    # data keys a project's training object may hold (CLI flags override them)
    Setting("target", "a column name (text) or null", lambda v: isinstance(v, str) and bool(v), nullable=True),
    Setting("features", "a list of column names or null", _features_ok, nullable=True),
    Setting("lookback", _ranged(1, MAX_LOOKBACK) + " or null", _whole(1, MAX_LOOKBACK), nullable=True, cast=int),
    Setting("horizon", _ranged(0, MAX_LOOKBACK), _whole(0, MAX_LOOKBACK), cast=int),
    Setting(
        "season",
        _ranged(1, MAX_LOOKBACK) + " or null (from the time column)",
        _whole(1, MAX_LOOKBACK),
        nullable=True,
        cast=int,
    ),
    Setting(
        "level",
        "a number between 0 and 1 (exclusive) such as 0.9",
        lambda v: _number(0, lo_open=True, hi=1)(v) and v < 1,
        cast=float,
    ),
    Setting(
        "split", "three fractions train,val,test >= 0 adding up to 1, train > 0, such as [0.7, 0.15, 0.15]", _split_ok
    ),
)
BY_KEY = {s.key: s for s in SETTINGS}


def validate_training(values: dict[str, Any], prefix: str = "training.", flags: bool = False) -> list[str]:
    """One line per bad setting among `values` (unknown keys are not this function's business).

    `flags=True` names the settings as command-line flags (`--batch-size`) and skips unset (None) ones."""
    if not isinstance(values, dict):
        return [f"{prefix.rstrip('.')} must be an object of settings, received {excerpt(values)}"]
    errors = []
    for key, value in values.items():
        setting = BY_KEY.get(key)
        if setting is None or (value is None and (setting.nullable or flags)):
            continue
        if not setting.ok(value):
            name = "--" + key.replace("_", "-") if flags else prefix + key
            errors.append(f"{name} must be {setting.allowed}, received {excerpt(value)}")
    early = values.get("early_stopping")
    if early is not None and not isinstance(early, dict):
        errors.append(f'{prefix}early_stopping must be an object like {{"patience": 5}}, received {excerpt(early)}')
    elif isinstance(early, dict):
        errors += validate_training(
            {k: v for k, v in early.items() if k in ("patience", "min_delta")}, prefix=f"{prefix}early_stopping."
        )
    return errors


def check_training(values: dict[str, Any], error: type[Exception]) -> None:
    """Raise `error` with the first bad setting's line (and how many more there are)."""
    errors = validate_training(values)
    if errors:
        more = f" (and {len(errors) - 1} more bad setting(s))" if len(errors) > 1 else ""
        raise error(errors[0] + more)


def resolve_training(values: dict[str, Any], error: type[Exception]) -> dict[str, Any]:
    """The settings as training uses them, or `error` with one line (`check_training` first).

    Whole numbers become int and numbers float (a project may hold 64.0), the plateau alias becomes
    "plateau", the task is inferred (cross_entropy means classification) and the loss defaults to the
    task's first; a loss that does not fit the task is refused here, as only both together can tell."""
    check_training(values, error)
    out = dict(values)
    for key, value in values.items():
        setting = BY_KEY.get(key)
        if setting is not None and setting.cast is not None and value is not None:
            out[key] = setting.cast(value)
    if out.get("schedule") in ("reduce_on_plateau", "reduce-on-plateau"):
        out["schedule"] = "plateau"
    loss = out.get("loss")
    task = out.get("task") or ("classification" if loss == "cross_entropy" else "regression")
    out["task"] = task
    if loss is None:
        out["loss"] = loss = LOSSES[task][0]
    if loss not in LOSSES[task]:
        raise error(f"training.loss must be one of {', '.join(LOSSES[task])} for {task}, received {loss!r}")
    return out
