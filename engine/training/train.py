"""The training loop, metrics stream, checkpoints and the run folder. No Qt.

One entry point, called by the CLI, by the GUI (in a spawned process) and by scripts:

    summary = train(project, data_spec, overrides, out_dir="runs", stop_event=None, on_metric=None)

It writes a run folder (see engine/training/runs.py and docs/run-folder.md): a design snapshot, metrics.jsonl
(one JSON record per line, flushed as written: tail it live), checkpoints/last.pt + best.pt and
summary.json, every file written atomically. It returns the summary dict.

Stopping: `stop_event.set()`, a file named STOP in the run folder (`request_stop(run_dir)`), SIGTERM or
Ctrl-C (when called from the main thread) all stop at the next step boundary, write last.pt and a
summary with stop_reason "cancelled". A NaN / inf loss stops with "diverged at step N" and leaves the
last good checkpoint in place. CUDA out-of-memory stops with a message suggesting a smaller batch.

Speed habits (nanoGPT-like): the series lives on the training device once and batches are gathered by
index arithmetic (no per-epoch copy, no host->device copy per step on a GPU); the loss is read to the
host every `sync_every` steps (1 on CPU where reading is free), gradient norms per design block every
`grad_every` steps in one batched `torch._foreach_norm`, read to the host once.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..data import (
    DataError,
    Dataset,
    DataSpec,
    WindowIndex,
    WindowStarts,
    load_dataset,
    lookahead_warnings,
)
from ..design.project import Project, atomic_write_text
from ..metrics import persistence_verdict
from .checkpoints import (
    CHECKPOINT_VERSION,
    check_checkpoint,
    check_resumable,
    design_fingerprint,
    load_checkpoint,
    save_checkpoint,
    tensor_shapes,
)
from .records import (
    DIVERGED_PREFIX,
    EARLY_STOP_PREFIX,
    KIND_END,
    KIND_EPOCH,
    KIND_GRAD,
    KIND_START,
    KIND_STEP,
    STOP_CANCELLED,
    STOP_COMPLETED,
    STOP_ERROR,
    STOP_MAX_STEPS,
    STOP_OUT_OF_MEMORY,
    EpochRecord,
    GradRecord,
    Record,
    StartRecord,
    StepRecord,
    Summary,
)
from .runs import (
    CHECKPOINT_FORMAT,
    STOP_FILE,
    MetricsWriter,
    RunError,
    RunLock,
    RunLockedError,
    checkpoint_path,
    new_run_dir,
    request_stop,
    write_error,
)

__all__ = [
    "TrainConfig",
    "TrainState",
    "TrainingStrategy",
    "ConfigError",
    "TrainError",
    "train",
    "evaluate_run",
    "predict_run",
    "request_stop",
    "start_training_process",
    "resolve_device",
    "default_threads",
    "DataSpec",
    "DataError",
]

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "plateau")
LOSSES = {"regression": ("mse", "mae", "huber"), "classification": ("cross_entropy",)}
PRECISIONS = ("fp32", "bf16", "fp16")
MAX_SEED = 2**63 - 1  # torch.manual_seed's limit


class ConfigError(ValueError):
    """A training setting that cannot be used: one line naming the setting and the accepted values."""


class TrainError(RuntimeError):
    """Training could not start (e.g. no such device): one line."""


def default_threads() -> int:
    """CPU threads for training. Half the cores, at most 8, at least 1.

    Measured on a 2-core machine (seed-keras, batch 64): 2 threads run 167 steps/s when the machine
    is idle but fall to 22 as soon as one other process (the GUI, a compiler, a second run) wants a
    core, because every op's thread team waits for its slowest member; 1 thread runs 104 idle and
    holds 52 under the same load. Leaving half the cores free keeps the designer responsive and the
    run predictable. Override with the `threads` setting or `--threads`.
    """
    return max(1, min(8, (os.cpu_count() or 2) // 2))


@dataclass
class TrainConfig:
    """Training settings: project.training, then CLI / GUI overrides on top. All keys optional."""

    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9  # sgd only
    batch_size: int = 64
    epochs: int = 20
    loss: str | None = None  # None: mse (regression) / cross_entropy (classification)
    task: str | None = None  # None: classification when loss is cross_entropy, else regression
    schedule: str = "constant"  # constant | cosine (per step, to 0) | plateau (x0.5 on val loss)
    plateau_patience: int = 2
    patience: int | None = None  # early stopping: epochs without val_loss improvement; None = off
    min_delta: float = 0.0
    clip_norm: float | None = None  # max total gradient norm; None = no clipping
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    precision: str = "fp32"  # fp32 | bf16 | fp16 (autocast, CUDA only)
    grad_every: int = 25  # steps between gradient-norm records; 0 = never
    sync_every: int | None = None  # steps between loss reads on GPU (None: 1 on CPU, 10 on GPU)
    threads: int | None = None  # CPU threads (None: default_threads())
    max_steps: int | None = None  # stop after this many optimizer steps in total (tests, quick looks)
    eval_batch_size: int = 1024
    level: float = 0.9  # coverage of the split-conformal prediction intervals (engine/training/intervals.py)

    @classmethod
    def from_project(cls, project: Project | dict | None, overrides: dict[str, Any] | None = None) -> TrainConfig:
        training = dict(project.training if isinstance(project, Project) else (project or {}))
        early = training.pop("early_stopping", None)
        if isinstance(early, dict):
            training.setdefault("patience", early.get("patience"))
            training.setdefault("min_delta", early.get("min_delta", 0.0))
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in training.items() if k in names}
        for k, v in (overrides or {}).items():
            if v is None:
                continue
            if k not in names:
                raise ConfigError(f"unknown training setting {k!r}: known settings are {', '.join(sorted(names))}")
            values[k] = v
        cfg = cls(**values)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Check and normalize in place; engine/design/settings.py holds every rule and message (one line each)."""
        from ..design.settings import resolve_training

        for key, value in resolve_training(asdict(self), ConfigError).items():
            setattr(self, key, value)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ============================================================================ device, seeding
def resolve_device(name: str = "auto"):
    """auto = cuda, then mps, then cpu. An unavailable explicit device is a TrainError."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda", "mps"):
        raise TrainError(f"unknown device {str(name)[:40]!r}: use auto, cpu, cuda, cuda:N or mps")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise TrainError(
            "device cuda requested but no CUDA GPU is available to this PyTorch build: use --device auto or cpu"
        )
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise TrainError(f"device {name} requested but only {torch.cuda.device_count()} CUDA GPU(s) are visible")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise TrainError("device mps requested but Apple MPS is not available: use --device auto or cpu")
    return dev


def device_name(dev) -> str:
    import torch

    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    if dev.type == "mps":
        return "Apple MPS"
    return f"CPU ({os.cpu_count()} cores)"


def _seed_everything(seed: int, deterministic: bool) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def _rng_state() -> dict[str, Any]:
    import torch

    from .checkpoints import numpy_state_to_plain

    state = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": numpy_state_to_plain(np.random.get_state()),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    from .checkpoints import numpy_state_from_plain

    np.random.set_state(numpy_state_from_plain(state["numpy"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _epoch_permutation(n: int, seed: int, epoch: int, device):
    """The shuffle of one epoch depends only on (seed, epoch): a resumed run reproduces it exactly."""
    import torch

    g = torch.Generator().manual_seed((seed * 1_000_003 + epoch) % (2**63))
    # int32 positions (the same order as int64's, half the memory): window starts are computed per batch
    dtype = torch.int32 if n < 2**31 else torch.int64
    return torch.randperm(n, generator=g, dtype=dtype).to(device)


# ============================================================================ losses, metrics
def _loss_fn(name: str | None):
    import torch.nn.functional as F

    if name == "mse":
        return F.mse_loss
    if name == "mae":
        return F.l1_loss
    if name == "huber":
        return F.huber_loss

    def cross_entropy(out, y):  # out (B, K) or (B, T, K); y (B,) or (B, T)
        return F.cross_entropy(out.reshape(-1, out.shape[-1]).float(), y.reshape(-1))

    return cross_entropy


class _GradNorms:
    """Per-design-block gradient norms in one batched pass on the device, read once."""

    def __init__(self, model):
        import torch

        groups = model.block_parameters() if hasattr(model, "block_parameters") else {"model": list(model.parameters())}
        self.block_ids = list(groups)
        self.params = [p for ps in groups.values() for p in ps]
        owner = [i for i, ps in enumerate(groups.values()) for _ in ps]
        self.owner = torch.tensor(owner, dtype=torch.long)
        self._owner_dev = None

    def compute(self):
        """-> (total, per-block) as one device tensor [total, b0, b1, ...] (not yet read)."""
        import torch

        grads = [p.grad for p in self.params]
        if any(g is None for g in grads):
            grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        norms = torch.stack(torch._foreach_norm(grads)).float()  # (P,)
        if self._owner_dev is None or self._owner_dev.device != norms.device:
            self._owner_dev = self.owner.to(norms.device)
        sq = torch.zeros(len(self.block_ids), device=norms.device).index_add_(0, self._owner_dev, norms * norms)
        return torch.cat([sq.sum().sqrt().view(1), sq.sqrt()])

    def to_record(self, values: list[float]) -> tuple[float, dict[str, float]]:
        return values[0], dict(zip(self.block_ids, values[1:], strict=True))


def _finite(v: Any) -> Any:
    """JSON-safe metric values: NaN / inf -> None, also inside per-step lists."""
    if v is None:
        return None
    if isinstance(v, list):
        return [_finite(x) for x in v]
    return v if math.isfinite(v) else None


@dataclass
class EvalResult:
    loss: float
    metrics: dict[str, Any]
    predictions: np.ndarray | None = None  # original units (regression) / class indices, (N, steps)
    targets: np.ndarray | None = None


def evaluate_split(
    model,
    data: Dataset,
    split: str,
    cfg: TrainConfig,
    device,
    autocast=None,
    keep_predictions: bool = False,
    prefix: str = "",
    full: bool = False,
    intervals=None,
) -> EvalResult:
    """Loss (normalized units, as optimized) and metrics in the target's original units. Regression:
    rmse, mae, mase, smape and the persistence baseline's (engine/metrics.py); `full` adds the
    seasonal-naive baseline and the per-step lists (`*_by_step`), and `intervals` (engine/training/intervals.py)
    the coverage. Classification: accuracy and the majority-class baseline."""
    import torch

    loss_fn = _loss_fn(cfg.loss)
    idx_all = data.index[split]
    n = int(idx_all.shape[0])
    was_training = model.training
    model.eval()
    total, preds, labels = 0.0, [], []
    with torch.no_grad():
        for start in range(0, n, cfg.eval_batch_size):
            idx = idx_all[start : start + cfg.eval_batch_size]
            xb, yb = data.batch(idx)
            if data.task != "regression" and data.has_targets:
                labels.append(yb.reshape(yb.shape[0], -1).cpu().numpy())
            if xb.device != device:
                xb, yb = xb.to(device), yb.to(device)
            with autocast() if autocast else _null():
                out = model(xb)
            out = out.float()
            if data.has_targets:
                total += float(loss_fn(out, yb)) * int(idx.shape[0])
            if data.task == "regression":
                preds.append(out.reshape(out.shape[0], -1).double().cpu().numpy())
            else:
                preds.append(out.argmax(dim=-1).reshape(out.shape[0], -1).cpu().numpy())
    if was_training:
        model.train()
    pred = np.concatenate(preds) if preds else np.zeros((0, 1))
    metrics: dict[str, float] = {}
    targets = None
    if data.task == "regression":
        y_std, y_mean = data.meta.y_std, data.meta.y_mean
        assert y_std is not None and y_mean is not None  # a regression dataset keeps its target's scale
        pred = pred * y_std + y_mean
        if data.has_targets:
            host_idx = idx_all.cpu().numpy()  # a tensor index may live on the GPU with the data
            targets = data.targets_orig(host_idx)
            metrics.update(regression_metrics(data, host_idx, pred, targets, prefix, full, intervals))
    elif data.has_targets:
        # each window's labels as trained on (its target row; per step for a per-step output)
        ys = np.concatenate(labels) if labels else np.zeros((0, 1), dtype=np.int64)
        targets = ys
        metrics[prefix + "accuracy"] = float(np.mean(pred == ys)) if n else 0.0
        train_y = (
            data.targets(data.index["train"][:]).reshape(-1).cpu().numpy() if "train" in data.index else ys.reshape(-1)
        )
        majority = np.bincount(train_y, minlength=data.out_units).argmax()
        metrics[prefix + "majority_accuracy"] = float(np.mean(ys == majority)) if n else 0.0
    loss = total / max(n, 1) if data.has_targets else float("nan")
    return EvalResult(loss, metrics, pred if keep_predictions else None, targets if keep_predictions else None)


def regression_metrics(
    data: Dataset, idx: np.ndarray, pred: np.ndarray, targets: np.ndarray, prefix: str, full: bool, intervals=None
) -> dict[str, Any]:
    """The forecast metrics (engine/metrics.py) of windows idx: the model's and the baselines', in the
    target's units; with `full` the seasonal naive, per-step lists and (given intervals) the coverage."""
    from ..metrics import forecast_metrics

    baselines = {"persistence": data.persistence_orig(idx)}
    if full:
        baselines["seasonal_naive"] = data.seasonal_naive_orig(idx)
    lower = upper = None
    if intervals is not None and len(pred):
        lower, upper = interval_bounds(intervals, pred)
    return forecast_metrics(
        targets,
        pred,
        baselines=baselines,
        scale=data.window_scales(idx),
        lower=lower,
        upper=upper,
        prefix=prefix,
        by_step=full,
    )


def interval_bounds(intervals, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) of predictions (N, columns): one column per step, or a per-step output's columns
    (all at the run's one lead time) sharing the one-step width."""
    if intervals.steps == 1 and intervals.half_width.shape[1] == 1:
        w = float(intervals.half_width[0, 0])
        return pred - w, pred + w
    return intervals.bounds(pred)


class _null:
    def __enter__(self):
        return None

    def __exit__(self, *a):
        return False


# ============================================================================ stop requests
class _StopFlag:
    """Set by stop_event, a STOP file in the run folder, SIGTERM or Ctrl-C; checked at step boundaries.

    A second Ctrl-C while training stops at once (KeyboardInterrupt, caught by the trainer, which still
    writes the summary); during the shutdown (last.pt, test metrics, summary) it only asks to hurry:
    the test evaluation is skipped and summary.json is still written."""

    def __init__(self, run_dir: Path, stop_event=None):
        self.stop_file = run_dir / STOP_FILE
        self.event = stop_event
        self.signalled = False
        self.shutting_down = False
        self.hurry = False
        self._old: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError, OSError):
                self._old[sig] = signal.signal(sig, self._handler)

    def _handler(self, signum, frame):
        if self.shutting_down:
            self.hurry = True
            return
        if self.signalled and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        self.signalled = True

    def restore(self) -> None:
        for sig, old in self._old.items():
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, old)
        self._old.clear()

    def __bool__(self) -> bool:
        return bool(self.signalled or (self.event is not None and self.event.is_set()) or self.stop_file.exists())


# ============================================================================ the distribution seam
class TrainingStrategy:
    """How one training process takes part in a run: the single-process defaults. Distributed training
    (engine/training/distributed.py) passes a subclass to `train(..., strategy=...)`; these five methods are the
    whole seam."""

    def prepare_dataset(self, dataset: Dataset) -> None:
        """Called once with the loaded dataset (before it moves to the device)."""

    def wrap_model(self, model, device):
        """The module to train (moved to `device`); its state_dict must be the plain model's."""
        return model.to(device)

    def shard_batch(self, idx):
        """The part of a global training batch (window indices) this process trains on."""
        return idx

    def save_checkpoint(self, path: Path, state: dict[str, Any]) -> None:
        save_checkpoint(path, state)

    def agree_stop(self, local: bool) -> bool:
        """Whether to stop now, given this process's own stop request (all processes must agree)."""
        return local


# ============================================================================ checkpoints
def _load_checkpoint(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise RunError(f"{path}: missing checkpoint: nothing to resume (the run stopped before its first checkpoint)")
    return load_checkpoint(path)


def _init_checkpoint(init_from: str | Path) -> tuple[Path, dict[str, Any]]:
    """(path, checkpoint) of `init_from`: a run folder (its best.pt) or a checkpoint file."""
    src = Path(init_from)
    path = checkpoint_path(src, "best") if src.is_dir() else src
    if not path.is_file():
        raise RunError(
            f"{path}: no checkpoint to start from (init_from): pass a run folder that has "
            f"checkpoints/best.pt, or a checkpoint file"
        )
    return path, load_checkpoint(path)


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as Python numbers and lists (a checkpoint holds only plain types)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    return value


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _write_text(path: Path, text: str) -> None:
    try:
        atomic_write_text(path, text)
    except OSError as e:
        raise write_error(e, path) from None


# ============================================================================ the state of a run
@dataclass
class TrainState:
    """What a checkpoint's `train_state` holds: the position in the run and the early-stopping state."""

    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps taken, over the whole run
    batch: int = 0  # batches taken in the current epoch
    epoch_loss_sum: float = 0.0
    epoch_samples: int = 0
    epoch_time: float = 0.0
    best_val_loss: float | None = None
    bad_epochs: int = 0
    best: dict[str, Any] = field(default_factory=dict)  # epoch, step, val_loss and metrics of best.pt
    elapsed: float = 0.0  # seconds, across resumes
    last_val: dict[str, Any] = field(default_factory=dict)
    data_spec: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> TrainState:
        return cls(**{k: v for k, v in (d or {}).items() if k in cls.__dataclass_fields__})

    def start_epoch_totals(self) -> None:
        self.batch, self.epoch_loss_sum, self.epoch_samples, self.epoch_time = 0, 0.0, 0, 0.0


@dataclass
class _Ending:
    """How the run ended (None while it runs)."""

    reason: str | None = None
    message: str | None = None
    diverged_step: int | None = None
    save_last: bool = True  # False after a second Ctrl-C mid-step: the model may be half updated

    def diverged(self, step: int, message: str) -> None:
        self.reason, self.message, self.diverged_step = f"{DIVERGED_PREFIX}{step}", message, step


@dataclass
class _Setup:
    """Everything decided before the run folder is touched."""

    project: Project
    data: DataSpec
    cfg: TrainConfig
    resume_dir: Path | None = None
    resume_ckpt: dict[str, Any] | None = None
    init_path: Path | None = None
    init_ckpt: dict[str, Any] | None = None


# ============================================================================ the loop
def train(
    project: Project | None,
    data: DataSpec | dict | None = None,
    overrides: dict[str, Any] | None = None,
    out_dir: str | Path = "runs",
    *,
    run_dir: str | Path | None = None,
    resume: str | Path | None = None,
    stop_event=None,
    on_metric: Callable[[dict], None] | None = None,
    install_signal_handlers: bool = True,
    init_from: str | Path | None = None,
    strategy: TrainingStrategy | None = None,
) -> dict[str, Any]:
    """Train a design; returns the summary dict (also written to <run>/summary.json).

    project    the design (engine.Project); its `training` section gives the defaults
    data       DataSpec (or its dict); ignored with `resume` (the run's saved spec is used)
    overrides  training settings on top of project.training (CLI flags, GUI form), e.g. {"epochs": 5}
    out_dir    parent folder for a new run folder `<out_dir>/<YYYYmmdd-HHMMSS>-<name>/`
    run_dir    use this (new or empty) folder instead, e.g. one the GUI created to watch
    resume     an existing run folder: continue from its checkpoints/last.pt, appending to its metrics
    stop_event anything with is_set() (threading.Event / multiprocessing.Event) checked at every step
    on_metric  called with every metrics record (the same dicts written to metrics.jsonl)
    init_from  a run folder (its best.pt) or checkpoint file whose weights start this new run (tensor
               names and shapes must match the design; optimizer and step count start fresh)
    strategy   how this process takes part (TrainingStrategy; engine/training/distributed.py passes its own)

    Raises DataError / ConfigError / DesignError / RunError / TrainError (all one line) before training
    starts, and RunError when the run folder cannot be written (full disk, read-only) or is locked by
    another live process; otherwise every ending (done, early stop, cancel, divergence, OOM) returns a
    summary with its `stop_reason`.
    """
    setup = _setup(project, data, overrides, resume, init_from)
    trainer = _Trainer(setup, strategy or TrainingStrategy(), stop_event, on_metric)
    trainer.open_run_folder(out_dir, run_dir)
    try:
        trainer.build()
        return trainer.run(install_signal_handlers)
    finally:
        trainer.close()


def _setup(project, data, overrides, resume, init_from) -> _Setup:
    if resume is not None and init_from is not None:
        raise ConfigError("init_from starts a new run: it cannot be combined with resume")
    if resume is not None:
        setup = _resume_setup(Path(resume), overrides)
    else:
        if project is None:
            raise ConfigError("no design to train: pass a project (or resume=RUN to continue a run)")
        if data is None:
            raise DataError("no data: give --data FILE or --demo sine|chaos")
        data = data if isinstance(data, DataSpec) else DataSpec.from_dict(data)
        training = dict(project.training)
        for key in ("target", "features", "lookback", "horizon", "split", "season"):  # data keys in project.training
            if key in training and getattr(data, key) in (None, DataSpec.__dataclass_fields__[key].default):
                val = training[key]
                setattr(data, key, tuple(val) if key == "split" else val)
        setup = _Setup(project, data, TrainConfig.from_project(project, overrides))
        if project.training.get("task") != setup.cfg.task:
            setup.project = project.copy()
            setup.project.training["task"] = setup.cfg.task
    if init_from is not None:
        setup.init_path, setup.init_ckpt = _init_checkpoint(init_from)
    return setup


def _resume_setup(run_path: Path, overrides: dict[str, Any] | None) -> _Setup:
    from .runs import is_run_dir, load_project

    if not is_run_dir(run_path):
        raise RunError(f"{run_path}: not a run folder (no project.rnn.json): pass a folder under runs/")
    project = load_project(run_path / "project.rnn.json")
    ckpt = _load_checkpoint(checkpoint_path(run_path, "last"))
    check_resumable(ckpt, checkpoint_path(run_path, "last"))
    saved = TrainState.from_dict(ckpt.get("train_state"))
    cfg = TrainConfig(**{k: v for k, v in (ckpt.get("config") or {}).items() if k in TrainConfig.__dataclass_fields__})
    cfg.max_steps = None  # a step limit applies to one invocation
    for k in ("device", "threads", "max_steps", "epochs", "sync_every"):  # may change on resume
        if overrides and overrides.get(k) is not None:
            setattr(cfg, k, overrides[k])
    cfg.validate()
    return _Setup(project, DataSpec.from_dict(saved.data_spec or {}), cfg, resume_dir=run_path, resume_ckpt=ckpt)


class _Trainer:
    """One training run, as named steps: open_run_folder -> build -> run (epochs of steps) -> finish."""

    def __init__(self, setup: _Setup, strategy: TrainingStrategy, stop_event, on_metric):
        import torch

        self.setup, self.cfg, self.project, self.strategy = setup, setup.cfg, setup.project, strategy
        self.stop_event, self.on_metric = stop_event, on_metric
        self.state = TrainState(data_spec=setup.data.to_dict())
        self.ending = _Ending()
        self.pending: list[tuple[int, int, Any, float, int]] = []  # (step, epoch, loss, lr, batch) not yet read
        self.notes: list[str] = []
        self.lock: RunLock | None = None
        self.metrics: MetricsWriter | None = None
        self.stop: _StopFlag | None = None
        self.device = resolve_device(self.cfg.device)
        self.threads = self.cfg.threads or default_threads()
        torch.set_num_threads(self.threads)
        cfg = self.cfg
        if cfg.precision != "fp32" and self.device.type != "cuda":
            raise ConfigError(
                f"precision {cfg.precision} needs a CUDA GPU (device here: {self.device.type}): use --precision fp32"
            )
        if cfg.precision == "bf16" and not torch.cuda.is_bf16_supported():
            raise ConfigError("precision bf16 is not supported by this GPU: use --precision fp16 or fp32")
        _refuse_too_big(self.project, cfg, self.device)  # before the data and the model are allocated
        from .runs import RunMeta

        ckpt = setup.resume_ckpt
        saved_meta = RunMeta.from_dict(ckpt["meta"]) if ckpt is not None and ckpt.get("meta") else None
        self.dataset = load_dataset(setup.data, self.project, meta=saved_meta)  # a resume keeps its normalization
        strategy.prepare_dataset(self.dataset)
        _seed_everything(cfg.seed, cfg.deterministic)
        self.model = _build_model(self.project)
        if setup.init_ckpt is not None and setup.init_path is not None:  # checked before a run folder is made
            check_checkpoint(setup.init_ckpt, setup.init_path, self.model)
            self.model.load_state_dict(setup.init_ckpt["model"])

    # ---------------------------------------------------------------- run folder
    def open_run_folder(self, out_dir: str | Path, run_dir: str | Path | None) -> None:
        """Choose (or create) the run folder, take its lock, and on a new run clear old files and write
        the design snapshot."""
        if self.setup.resume_dir is not None:
            rd = self.setup.resume_dir
        elif run_dir is not None:
            rd = Path(run_dir)
            try:
                (rd / "checkpoints").mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise write_error(e, rd, "cannot create the run folder") from None
        else:
            rd = new_run_dir(out_dir, self.project.name)
        self.rd = rd
        self.lock = RunLock(rd).acquire()
        if self.lock.note:
            self.notes.append(self.lock.note)
        if self.setup.resume_dir is None:
            self._write_snapshot()
        with contextlib.suppress(FileNotFoundError):
            (rd / STOP_FILE).unlink()  # a stale request from a previous attempt

    def _write_snapshot(self) -> None:
        rd, cfg = self.rd, self.cfg
        snap = self.project.copy()
        snap.training = {
            **self.project.training,
            **{k: v for k, v in cfg.to_dict().items() if k not in ("max_steps", "eval_batch_size") and v is not None},
        }
        _write_text(rd / "project.rnn.json", snap.to_json())
        for stale in (
            rd / "summary.json",
            rd / "predictions.json",
            rd / "metrics.jsonl",
            checkpoint_path(rd, "best"),
            checkpoint_path(rd, "last"),
        ):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()

    # ---------------------------------------------------------------- model, optimizer, schedule
    def build(self) -> None:
        import torch

        cfg, device, setup = self.cfg, self.device, self.setup
        self.model = self.strategy.wrap_model(self.model, device)
        if _fits_on_device(self.dataset, device):
            self.dataset.to(device)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.opt = _optimizer(cfg, self.params)
        self.n_train = self.dataset.size("train")
        self.steps_per_epoch = math.ceil(self.n_train / cfg.batch_size)
        self.total_steps = self.steps_per_epoch * cfg.epochs
        if cfg.max_steps is not None:
            self.total_steps = min(self.total_steps, cfg.max_steps)
        self.sched = _scheduler(cfg, self.opt, self.steps_per_epoch)
        amp_dtype = torch.bfloat16 if cfg.precision == "bf16" else torch.float16
        use_amp = cfg.precision != "fp32"
        self.autocast = lambda: torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=use_amp)
        self.scaler = torch.amp.GradScaler("cuda", enabled=(cfg.precision == "fp16"))
        self.loss_fn = _loss_fn(cfg.loss)
        self.norms = _GradNorms(self.model)
        self.sync_every = cfg.sync_every or (1 if device.type == "cpu" else 10)
        if setup.resume_ckpt is not None:
            self._restore(setup.resume_ckpt)

    def _restore(self, ckpt: dict[str, Any]) -> None:
        """Model, optimizer, scheduler, scaler, RNG and position from last.pt (checked against the design)."""
        path = checkpoint_path(self.rd, "last")
        check_checkpoint(ckpt, path, self.model, self.project)
        self.model.load_state_dict(ckpt["model"])
        try:
            self.opt.load_state_dict(ckpt["optimizer"])
            if self.sched is not None and ckpt.get("scheduler") is not None:
                self.sched.load_state_dict(ckpt["scheduler"])
            if ckpt.get("scaler"):
                self.scaler.load_state_dict(ckpt["scaler"])
            self.state = TrainState.from_dict({**asdict(self.state), **ckpt["train_state"]})
            _set_rng_state(ckpt["rng"])
        except (ValueError, KeyError, TypeError, RuntimeError, IndexError) as e:
            raise RunError(
                f"{path}: cannot restore the training state ({type(e).__name__}: "
                f"{str(e).splitlines()[0][:160] if str(e) else ''}): start a new run, e.g. with "
                f"--init-from to keep the weights"
            ) from None

    def checkpoint_state(self) -> dict[str, Any]:
        model_state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "fingerprint": design_fingerprint(self.project),
            "shapes": tensor_shapes(model_state),
            "model": model_state,
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict() if self.sched is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "epoch": self.state.epoch,
            "step": self.state.step,
            "rng": _rng_state(),
            "meta": _plain(self.dataset.meta.to_dict()),
            "config": self.cfg.to_dict(),
            "train_state": _plain(asdict(self.state)),
        }

    def save(self, which: str) -> None:
        self.strategy.save_checkpoint(checkpoint_path(self.rd, which), self.checkpoint_state())

    # ---------------------------------------------------------------- records
    def emit(self, rec: Record) -> None:
        assert self.metrics is not None
        self.metrics.write(rec)
        if self.on_metric is not None:
            self.on_metric(rec)

    def start_record(self) -> StartRecord:
        cfg, dataset, data, device = self.cfg, self.dataset, self.setup.data, self.device
        return {
            "kind": KIND_START,
            "time": _now(),
            "run": str(self.rd),
            "name": self.project.name,
            "device": str(device),
            "device_name": device_name(device),
            "precision": cfg.precision,
            "threads": self.threads if device.type == "cpu" else None,
            "task": str(cfg.task),
            "loss": str(cfg.loss),
            "epochs": cfg.epochs,
            "steps_per_epoch": self.steps_per_epoch,
            "total_steps": self.total_steps,
            "batch_size": cfg.batch_size,
            "grad_every": cfg.grad_every,
            "blocks": self.norms.block_ids,
            "samples": {s: dataset.size(s) for s in dataset.index},
            "data": data.label,
            "data_spec": data.to_dict(),
            "features": dataset.meta.features,
            "target": dataset.meta.target,
            "lookback": dataset.lookback,
            "horizon": dataset.horizon,
            "ignored_columns": dataset.ignored_columns,
            "warnings": (dataset.plan.warnings if dataset.plan else []) + lookahead_warnings(self.project, dataset),
            "plan": dataset.plan.to_dict() if dataset.plan else None,
            "notes": list(self.notes),
            "parameters": sum(p.numel() for p in self.params),
            "resumed_from_step": self.state.step if self.setup.resume_ckpt is not None else None,
            "init_from": str(self.setup.init_path) if self.setup.init_path is not None else None,
            "fingerprint": design_fingerprint(self.project),
            "config": cfg.to_dict(),
        }

    # ---------------------------------------------------------------- the run
    def run(self, install_signal_handlers: bool) -> dict[str, Any]:
        self.metrics = MetricsWriter(self.rd / "metrics.jsonl", append=True)
        plan = self.dataset.plan
        if plan is not None and self.setup.resume_ckpt is None:  # what the run trains on (docs/run-folder.md)
            atomic_write_text(self.rd / "plan.json", json.dumps(plan.to_dict(), indent=2, default=str) + "\n")
        self.stop = _StopFlag(self.rd, self.stop_event)
        if install_signal_handlers:
            self.stop.install()
        self.t_start = time.perf_counter() - self.state.elapsed
        self.emit(self.start_record())
        self.model.train()
        try:
            self._run_epochs()
        except KeyboardInterrupt:  # a second Ctrl-C mid-step: stop now, keep the last complete checkpoint
            self.pending.clear()
            self.ending = _Ending(
                STOP_CANCELLED,
                "stopped at once by a second Ctrl-C: last.pt is the last complete checkpoint",
                save_last=False,
            )
        except Exception as e:
            if not _is_oom(e):
                raise
            self._out_of_memory()
        self.stop.shutting_down = True  # from here a Ctrl-C only hurries the shutdown
        self._save_on_stop()
        return self.finish()

    def _run_epochs(self) -> None:
        while self.state.epoch < self.cfg.epochs and self.ending.reason is None:
            self._run_epoch(self.state.epoch + 1)
        if self.ending.reason is None:
            self.ending.reason = STOP_COMPLETED

    def _run_epoch(self, epoch: int) -> None:
        dataset, state = self.dataset, self.state
        train_index = dataset.index["train"]
        perm = _epoch_permutation(self.n_train, self.cfg.seed, epoch, train_index.device)
        t_epoch = time.perf_counter()
        while state.batch < self.steps_per_epoch:
            if self._stop_requested():
                break
            b = state.batch
            # the window starts of this batch's positions (engine/data/dataset.py WindowIndex), not of the epoch's
            if not self._train_step(train_index[perm[b * self.cfg.batch_size : (b + 1) * self.cfg.batch_size]], epoch):
                break
        state.epoch_time += time.perf_counter() - t_epoch
        if self.ending.reason is None:
            self._end_epoch(epoch)

    def _stop_requested(self) -> bool:
        if self.strategy.agree_stop(bool(self.stop)):
            self.ending.reason = STOP_CANCELLED
        elif self.cfg.max_steps is not None and self.state.step >= self.cfg.max_steps:
            self.ending.reason = STOP_MAX_STEPS
        return self.ending.reason is not None

    def _train_step(self, idx, epoch: int) -> bool:
        """One optimizer step on the batch `idx`; False when the run must stop (divergence)."""
        cfg, device, opt, state = self.cfg, self.device, self.opt, self.state
        xb, yb = self.dataset.batch(self.strategy.shard_batch(idx))
        if xb.device != device:
            pin = device.type == "cuda"
            xb = xb.pin_memory().to(device, non_blocking=True) if pin else xb.to(device)
            yb = yb.pin_memory().to(device, non_blocking=True) if pin else yb.to(device)
        step = state.step + 1
        with self.autocast():
            out = self.model(xb)
        loss = self.loss_fn(out.float(), yb)
        if self.sync_every == 1 and not math.isfinite(loss.item()):
            self.ending.diverged(
                step,
                f"the loss became {loss.item()} at step {step} (epoch {epoch}): lower the "
                f"learning rate (now {opt.param_groups[0]['lr']:g}) or set gradient clipping "
                f"(clip_norm)",
            )
            return False
        opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        grad_vals = self._clip_and_measure(step)
        self.scaler.step(opt)
        self.scaler.update()
        if cfg.schedule == "cosine":
            self.sched.step()
        state.step, state.batch = step, state.batch + 1
        state.epoch_samples += int(idx.shape[0])
        self.pending.append((step, epoch, loss.detach(), opt.param_groups[0]["lr"], int(idx.shape[0])))
        if len(self.pending) >= self.sync_every or state.batch == self.steps_per_epoch:
            bad = self.flush_losses()
            if bad is not None:
                self.ending.diverged(
                    bad,
                    f"the loss became non-finite at step {bad} (epoch {epoch}): lower the "
                    f"learning rate or set gradient clipping (clip_norm)",
                )
                return False
        if grad_vals is not None:
            total, per_block = self.norms.to_record(grad_vals.tolist())
            self.emit(
                GradRecord(
                    kind=KIND_GRAD,
                    step=step,
                    epoch=epoch,
                    total=_finite(total),
                    blocks={k: _finite(v) for k, v in per_block.items()},
                )
            )
        return True

    def _clip_and_measure(self, step: int):
        """Unscale, measure per-block gradient norms every grad_every steps, clip; -> norms or None."""
        from torch.nn.utils import clip_grad_norm_

        cfg, state = self.cfg, self.state
        # every grad_every steps, and at the last step of an epoch (or of a max_steps run) that has had none:
        # a run or epoch shorter than the interval still shows its gradient norms (a function of the step
        # alone, so a resumed run writes the same records as an uninterrupted one)
        last = state.batch + 1 >= self.steps_per_epoch or (cfg.max_steps is not None and step >= cfg.max_steps)
        none_yet = cfg.grad_every and (step - 1) // cfg.grad_every * cfg.grad_every < step - state.batch
        want_norms = cfg.grad_every and (step % cfg.grad_every == 0 or (last and none_yet))
        if want_norms or cfg.clip_norm:
            self.scaler.unscale_(self.opt)
        if want_norms:
            grad_vals = self.norms.compute()
            if cfg.clip_norm:
                _clip_with_norm(self.params, cfg.clip_norm, grad_vals[0])
            return grad_vals
        if cfg.clip_norm:
            clip_grad_norm_(self.params, cfg.clip_norm, foreach=True)
        return None

    def flush_losses(self) -> int | None:
        """Read buffered losses to the host (one sync), write step records, add them to the epoch's
        loss sum; return the first non-finite step (None when all are finite)."""
        import torch

        if not self.pending:
            return None
        values = torch.stack([p[2] for p in self.pending]).float().tolist()
        bad = None
        for (step, epoch, _, lr, bs), v in zip(self.pending, values, strict=True):
            if not math.isfinite(v):
                bad = step
                break
            self.state.epoch_loss_sum += v * bs
            self.emit(StepRecord(kind=KIND_STEP, step=step, epoch=epoch, loss=v, lr=lr))
        self.pending.clear()
        return bad

    def _end_epoch(self, epoch: int) -> None:
        """Validate, write best.pt / last.pt and the epoch record, decide on early stopping."""
        cfg, state = self.cfg, self.state
        state.elapsed = time.perf_counter() - self.t_start
        val = evaluate_split(
            self.model, self.dataset, "val", cfg, self.device, self.autocast, keep_predictions=True, prefix="val_"
        )
        improved = state.best_val_loss is None or val.loss < state.best_val_loss - cfg.min_delta
        rec: EpochRecord = {
            "kind": KIND_EPOCH,
            "epoch": epoch,
            "step": state.step,
            "train_loss": state.epoch_loss_sum / max(state.epoch_samples, 1),
            "val_loss": _finite(val.loss),
            **{k: _finite(v) for k, v in val.metrics.items()},  # type: ignore[typeddict-item]
            "lr": self.opt.param_groups[0]["lr"],
            "samples_per_s": state.epoch_samples / max(state.epoch_time, 1e-9),
            "train_time_s": state.epoch_time,
            "elapsed_s": state.elapsed,
            "best": bool(improved),
        }
        if self.sched is not None and cfg.schedule == "plateau":
            self.sched.step(val.loss)
        state.epoch = epoch
        state.start_epoch_totals()
        state.last_val = {"val_loss": val.loss, **val.metrics}
        if not math.isfinite(val.loss):
            self.ending.diverged(
                state.step, f"the validation loss became {val.loss} after epoch {epoch}: lower the learning rate"
            )
            self.emit(rec)
            return
        if improved:
            state.best_val_loss, state.bad_epochs = val.loss, 0
            state.best = {"epoch": epoch, "step": state.step, "val_loss": val.loss, **val.metrics}
            self.save("best")
            _write_predictions(self.rd, self.dataset, val, epoch)
        else:
            state.bad_epochs += 1
        self.save("last")
        self.emit(rec)
        if cfg.patience and state.bad_epochs >= cfg.patience:
            self.ending.reason = f"{EARLY_STOP_PREFIX}no validation loss improvement for {cfg.patience} epoch(s)"

    def _out_of_memory(self) -> None:
        import torch

        cfg, device = self.cfg, self.device
        self.ending.reason = STOP_OUT_OF_MEMORY
        self.ending.message = (
            f"{device.type.upper()} ran out of memory with batch size {cfg.batch_size} "
            f"({device_name(device)}): try --batch-size {max(1, cfg.batch_size // 2)}, a shorter "
            f"lookback or fewer units"
        )
        self.pending.clear()
        if device.type == "cuda":
            torch.cuda.empty_cache()

    def _save_on_stop(self) -> None:
        """A cancel or a step limit keeps the exact position in last.pt (resume continues from there)."""
        if self.ending.reason in (STOP_CANCELLED, STOP_MAX_STEPS) and self.ending.save_last:
            self.flush_losses()
            self.state.elapsed = time.perf_counter() - self.t_start
            self.save("last")

    # ---------------------------------------------------------------- test on best.pt, summary
    def finish(self) -> dict[str, Any]:
        rd, state, ending = self.rd, self.state, self.ending
        forecast = self._fit_intervals()
        test_metrics = self._test_metrics()
        best = state.best or {}
        summary: Summary = {
            "name": self.project.name,
            "run": str(rd),
            "stop_reason": ending.reason or STOP_COMPLETED,
            "message": ending.message,
            "diverged_step": ending.diverged_step,
            "epochs_completed": state.epoch,
            "steps": state.step,
            "wall_time_s": time.perf_counter() - self.t_start,
            "device": str(self.device),
            "device_name": device_name(self.device),
            "precision": self.cfg.precision,
            "threads": self.threads if self.device.type == "cpu" else None,
            "task": self.cfg.task,
            "loss": self.cfg.loss,
            "best_epoch": best.get("epoch"),
            "best_step": best.get("step"),
            **{
                k: _finite(v) if isinstance(v, float) else v  # type: ignore[typeddict-item]
                for k, v in best.items()
                if k not in ("epoch", "step")
            },
            **forecast,
            **test_metrics,
            # the persistence baseline on the test split, next to test_rmse (the headline comparison)
            **(
                {"persistence_rmse": test_metrics["test_persistence_rmse"]}
                if "test_persistence_rmse" in test_metrics
                else {}
            ),
            "checkpoints": {
                "best": checkpoint_path(rd, "best").is_file(),
                "last": checkpoint_path(rd, "last").is_file(),
            },
            "finished": _now(),
        }
        # same-split baselines; a TypedDict is no dict[str, Any], which persistence_verdict
        # (engine/data/dataset.py) takes
        summary.update(persistence_verdict(summary))  # type: ignore[arg-type,typeddict-item]
        from .intervals import coverage_warning

        warning = coverage_warning(summary)  # type: ignore[arg-type]
        if warning:
            earlier = summary.get("interval_warning")
            summary["interval_warning"] = f"{earlier}; {warning}" if earlier else warning
        _write_text(rd / "summary.json", json.dumps(summary, indent=2) + "\n")
        with contextlib.suppress(FileNotFoundError):
            (rd / STOP_FILE).unlink()  # the request has been served
        self.emit({"kind": KIND_END, **summary})
        return dict(summary)

    def _can_evaluate(self, split: str) -> bool:
        """best.pt can be evaluated on `split` (not after an out-of-memory stop or a hurried shutdown)."""
        dataset = self.dataset
        return not (
            split not in dataset.index
            or dataset.size(split) == 0
            or not checkpoint_path(self.rd, "best").is_file()
            or self.ending.reason == STOP_OUT_OF_MEMORY
            or (self.stop is not None and self.stop.hurry)
        )

    def _load_best(self) -> None:
        if not getattr(self, "_best_loaded", False):
            self.model.load_state_dict(load_checkpoint(checkpoint_path(self.rd, "best"))["model"])
            self._best_loaded = True

    def _fit_intervals(self) -> dict[str, Any]:
        """Forecast settings of the run, and (regression) the split-conformal intervals of best.pt fitted
        on the validation residuals, saved as intervals.json; the validation metrics per step."""
        from .intervals import few_windows_warning, fit_intervals, save_intervals

        data = self.dataset
        if data.task != "regression" or not data.has_targets:
            return {}
        out: dict[str, Any] = {"forecast_steps": data.steps, "horizon": data.horizon}
        if data.kind == "series":
            out["season"] = data.season
        self.intervals = None
        if not self._can_evaluate("val"):
            return out
        self._load_best()
        res = evaluate_split(self.model, data, "val", self.cfg, self.device, self.autocast, True, "val_", full=True)
        out.update({k: _finite(v) for k, v in res.metrics.items() if k.endswith("_by_step") or "seasonal" in k})
        assert res.predictions is not None and res.targets is not None  # keep_predictions=True
        residuals = res.targets - res.predictions
        if data.seq_target:
            residuals = residuals[:, -1:]  # predict reports a per-step output's last step
        try:
            self.intervals = fit_intervals(residuals, self.cfg.level, [str(data.meta.target or "y")])
        except DataError as e:
            self.notes.append(str(e))
            return out
        save_intervals(self.rd, self.intervals)
        out["interval_level"] = self.cfg.level
        few = few_windows_warning(self.intervals)
        if few:
            out["interval_warning"] = few
        return out

    def _test_metrics(self) -> dict[str, Any]:
        """Test-split metrics of best.pt (skipped after an out-of-memory stop or a hurried shutdown)."""
        if not self._can_evaluate("test"):
            return {}
        self._load_best()
        full = self.dataset.task == "regression"
        iv = getattr(self, "intervals", None)
        res = evaluate_split(
            self.model,
            self.dataset,
            "test",
            self.cfg,
            self.device,
            self.autocast,
            prefix="test_",
            full=full,
            intervals=iv,
        )
        return {
            "test_loss": _finite(res.loss),
            "test_windows": self.dataset.size("test"),
            **{k: _finite(v) for k, v in res.metrics.items()},
        }

    def close(self) -> None:
        if self.stop is not None:
            self.stop.restore()
        if self.metrics is not None:
            self.metrics.close()
        if self.lock is not None:
            self.lock.release()


def _build_model(project: Project):
    from ..design.compile import build_model

    return build_model(project)


def _optimizer(cfg: TrainConfig, params):
    import torch

    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def _scheduler(cfg: TrainConfig, opt, steps_per_epoch: int):
    import torch

    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps_per_epoch * cfg.epochs))
    if cfg.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=cfg.plateau_patience)
    return None


def _write_predictions(rd: Path, dataset: Dataset, val: EvalResult, epoch: int, limit: int = 5000) -> None:
    """predictions.json: the validation split's targets and the best model's predictions (the GUI's
    prediction chart). Regression: the last step of each window, in time order, original units, at most
    `limit` points (the most recent); classification: the confusion matrix."""
    if val.predictions is None or val.targets is None:
        return
    out: dict[str, Any] = {"task": dataset.task, "split": "val", "epoch": epoch}
    if dataset.task == "regression":
        actual, pred = val.targets[:, -1][-limit:], val.predictions[:, -1][-limit:]
        out.update(actual=[_finite(float(v)) for v in actual], predicted=[_finite(float(v)) for v in pred])
    else:
        k = dataset.out_units
        conf = np.zeros((k, k), dtype=np.int64)
        np.add.at(conf, (val.targets.reshape(-1).astype(np.int64), val.predictions.reshape(-1).astype(np.int64)), 1)
        labels = [str(c) for c in (dataset.meta.classes or range(k))]
        out.update(labels=labels, confusion=conf.tolist())
    atomic_write_text(rd / "predictions.json", json.dumps(out) + "\n")


def _clip_with_norm(params, max_norm: float, total_norm) -> None:
    import torch

    fn = getattr(torch.nn.utils, "clip_grads_with_norm_", None)
    if fn is not None:
        fn(params, max_norm, total_norm, foreach=True)
    else:
        torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=True)


def _is_oom(e: BaseException) -> bool:
    import torch

    oom = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom is not None and isinstance(e, oom):
        return True
    return isinstance(e, RuntimeError) and "out of memory" in str(e).lower()


def _refuse_too_big(project: Project, cfg: TrainConfig, device) -> None:
    """Refuse (ConfigError naming the largest block and the figures) a design whose training needs more
    memory than the training device has: the same check for every caller (CLI, designer, tune, API)."""
    from ..design.resources import estimate, training_fit
    from ..design.shapes import check

    result = check(project)
    if result.resources is None:
        return  # an invalid design: building the model reports it
    res = estimate(project, result, batch_size=cfg.batch_size, optimizer=cfg.optimizer)
    level, line = training_fit(res, str(device))
    if level == "error":
        raise ConfigError(line)


def _fits_on_device(dataset: Dataset, device) -> bool:
    """Keep the data on the training device when it is small (the usual case for sequence data)."""
    if device.type == "cpu":
        return True
    nbytes = dataset.x.element_size() * dataset.x.nelement() + dataset.y.element_size() * dataset.y.nelement()
    return nbytes < 2 * 1024**3


# ============================================================================ evaluate / predict a run
def _run_dataset(run_dir: str | Path, spec: DataSpec, which: str):
    """(project, model, dataset) of a run on a file. A regression run's file is split as training split
    its data (the run's plan.json fractions unless spec.split differs from the default), so every window
    is named train / val / test and MASE scales come from the training part; a file too short for that
    split gives one split "all" (MASE scales over each whole series)."""
    from .runs import load_run

    project, model, meta = load_run(run_dir, which)
    if meta.task != "regression" or (spec.path is not None and Path(spec.path).suffix.lower() == ".npz"):
        return project, model, load_dataset(spec, project, meta=meta, split=False)
    spec = DataSpec.from_dict(spec.to_dict())
    if tuple(spec.split) == DataSpec().split:
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            saved = json.loads((Path(run_dir) / "plan.json").read_text(encoding="utf-8"))
            a, b, c = (float(v) for v in saved["split"])
            spec.split = (a, b, c)
            spec.fold = saved.get("fold") or spec.fold  # a backtest fold's run: its own cut
    try:
        return project, model, load_dataset(spec, project, meta=meta, split=True)
    except DataError:  # too short to split like training: every window in "all"
        return project, model, load_dataset(spec, project, meta=meta, split=False)


def _evaluate_splits(model, data: Dataset, cfg: TrainConfig, dev, intervals) -> tuple[dict[str, Any], dict]:
    """Per split (or "all") EvalResults with predictions, and the metrics over all windows."""
    results, out = {}, {}
    names: list[str] = [s for s in ("train", "val", "test") if s in data.index] or ["all"]
    for name in names:
        if data.size(name):
            results[name] = evaluate_split(
                model, data, name, cfg, dev, keep_predictions=True, prefix=f"{name}_", full=True, intervals=intervals
            )
    if data.task == "regression" and results:
        idx = np.concatenate([data.index[n].numpy() for n in results])
        pred = np.concatenate([r.predictions for r in results.values()])
        targets = np.concatenate([r.targets for r in results.values()])
        out = regression_metrics(data, idx, pred, targets, "", True, intervals)
    n = sum(data.size(k) for k in results)
    out["loss"] = sum(r.loss * data.size(k) for k, r in results.items()) / max(n, 1)
    return out, results


def evaluate_run(run_dir: str | Path, spec: DataSpec, which: str = "best", device: str = "cpu") -> dict[str, Any]:
    """Metrics of a run's checkpoint on every window of a file, with the run's saved normalization:
    over all windows (unprefixed keys, as before) and per split (train_ / val_ / test_ keys, the run's
    split applied to this file), with both baselines, per-step lists and the interval coverage."""
    from .intervals import coverage_warning, load_intervals

    project, model, data = _run_dataset(run_dir, spec, which)
    cfg = TrainConfig.from_project(project, {"device": device})
    dev = resolve_device(device)
    model.to(dev)
    data.to(dev)
    if not data.has_targets:
        raise DataError(f"{data.source}: no target column '{data.meta.target}' to evaluate against")
    if data.task != "regression":
        res = evaluate_split(model, data, "all", cfg, dev)
        return {"run": str(run_dir), "checkpoint": which, "data": spec.label, "samples": data.size("all"),
                "loss": res.loss, **res.metrics}  # fmt: skip
    intervals = load_intervals(run_dir)
    overall, results = _evaluate_splits(model, data, cfg, dev, intervals)
    out: dict[str, Any] = {"run": str(run_dir), "checkpoint": which, "data": spec.label}
    out["samples"] = sum(data.size(k) for k in results)
    out.update({k: _finite(v) for k, v in overall.items()})
    out.update({"forecast_steps": data.steps, "horizon": data.horizon})
    if data.kind == "series":
        out["season"] = data.season
    if intervals is not None:
        out["interval_level"] = intervals.level
    for name, res in results.items():
        if name != "all":
            out[f"{name}_loss"] = _finite(res.loss)
            out[f"{name}_windows"] = data.size(name)
            out.update({k: _finite(v) for k, v in res.metrics.items()})
    out.update(persistence_verdict(out))
    warning = coverage_warning(out, "test_" if "test_coverage" in out else "")
    if warning:
        out["interval_warning"] = warning
    return out


def _window_splits(data: Dataset) -> tuple[np.ndarray, list[str]]:
    """Every window start of the data in time order within each series, and its split name."""
    names: list[str] = [s for s in ("train", "val", "test") if s in data.index] or ["all"]
    idx = np.concatenate([data.index[n].numpy() for n in names])
    labels = np.concatenate([np.full(data.size(n), "" if n == "all" else n, dtype=object) for n in names])
    order = np.argsort(idx, kind="stable")
    return idx[order], list(labels[order])


def predict_run(run_dir: str | Path, spec: DataSpec, which: str = "best", device: str = "cpu"):
    """(column names, rows) of predictions for every window of a file, in original units / class labels.

    Time series, one row per window and forecast step: `series` (many series), the time column's value
    of the target row (under that column's name), `row` (1-based file row of the target), `split`
    (train / val / test under the run's split; empty when the file is too short to split), `step`
    (multi-step designs: 1..H), `prediction`, `target` (when the file has it), `lower` / `upper` (the
    run's prediction interval, when it has intervals.json). A per-step output gives its last step.
    .npz data: `sample` (and `step`), `prediction`, `target`, `lower` / `upper`.
    """
    from .intervals import load_intervals

    project, model, data = _run_dataset(run_dir, spec, which)
    cfg = TrainConfig.from_project(project, {"device": device})
    dev = resolve_device(device)
    model.to(dev)
    data.to(dev)
    idx, splits = _window_splits(data) if data.kind == "series" else (data.index["all"].numpy(), None)
    data.index["predict"] = WindowIndex(WindowStarts(idx, np.ones(len(idx), dtype=np.int64)), dev)
    res = evaluate_split(model, data, "predict", cfg, dev, keep_predictions=True)
    assert res.predictions is not None  # keep_predictions=True
    pred = res.predictions if data.steps > 1 else res.predictions[:, -1:]
    target = None if res.targets is None else (res.targets if data.steps > 1 else res.targets[:, -1:])
    intervals = load_intervals(run_dir) if data.task == "regression" else None
    bounds = interval_bounds(intervals, pred) if intervals is not None and len(pred) else None
    return _prediction_table(data, idx, splits, pred, target, bounds)


def _prediction_table(data: Dataset, idx, splits, pred, target, bounds):
    classes = data.meta.classes if data.task == "classification" else None

    def shown(v):
        return classes[int(v)] if classes else float(v)

    cols = (["sample", "step"] if data.steps > 1 else ["sample"]) if data.kind == "windows" else ["row"]
    rows_file = None
    if data.kind == "series":
        t_rows = data.target_rows(idx)[:, -pred.shape[1] :] if data.steps > 1 else data.target_rows(idx)[:, -1:]
        rows_file = data.file_row(t_rows)
        times = data.time_text(rows_file.reshape(-1)) if data.time_text is not None else None
        time_col = data.plan.time_column if data.plan is not None else None
        cols = (["series"] if data.series_ids is not None else []) + (
            [time_col] if times is not None and time_col else []
        )
        cols += ["row", "split"] + (["step"] if data.steps > 1 else [])
    cols += ["prediction"] + (["target"] if target is not None else []) + (["lower", "upper"] if bounds else [])
    out = []
    for i in range(len(idx)):
        for k in range(pred.shape[1]):
            row: list[Any] = []
            if rows_file is not None:
                if data.series_ids is not None:
                    row.append(str(data.series_ids[idx[i]]))
                if times is not None:
                    row.append(times[i * pred.shape[1] + k])
                row += [int(rows_file[i, k]) + 1, splits[i] if splits else ""]
                if data.steps > 1:
                    row.append(k + 1)
            else:
                row += [int(idx[i]), k + 1] if data.steps > 1 else [int(idx[i])]
            row.append(shown(pred[i, k]))
            if target is not None:
                row.append(shown(target[i, k]))
            if bounds:
                row += [float(bounds[0][i, k]), float(bounds[1][i, k])]
            out.append(row)
    return cols, out


# ============================================================================ a training process (GUI)
GUI_TRAINER_NICE = 5  # a trainer started from the designer yields the CPU to it (the editor never waits on it)


def yield_cpu_to_editor() -> None:
    """Lower this (spawned) trainer's CPU priority a little: with four runs on two cores the designer's
    event loop waited up to ~300 ms for a core; training only slows where the editor needs the CPU."""
    with contextlib.suppress(AttributeError, OSError):  # no os.nice on Windows
        os.nice(GUI_TRAINER_NICE)


def _process_main(
    project_json: str, data_spec: dict | None, overrides: dict | None, run_dir: str, resume: bool, stop_event
) -> None:
    """Entry point of a spawned training process; errors before training are written as an "end"
    record with stop_reason "error" so the watching GUI can show them."""
    rd = Path(run_dir)
    overrides = dict(overrides or {})
    log = overrides.pop(
        "log", None
    )  # "tensorboard" / "mlflow" / None: engine/training/tracking.py, not a TrainConfig key
    yield_cpu_to_editor()
    try:
        from .tracking import open_loggers

        project = Project.from_dict(json.loads(project_json))
        train(
            project,
            data_spec,
            overrides,
            run_dir=None if resume else rd,
            resume=rd if resume else None,
            stop_event=stop_event,
            on_metric=open_loggers(log),
        )
    except RunLockedError as e:  # another process owns the folder: leave its metrics.jsonl alone
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except (ValueError, RunError, TrainError) as e:  # DataError, ConfigError, DesignError are ValueErrors
        try:
            rd.mkdir(parents=True, exist_ok=True)
            writer = MetricsWriter(rd / "metrics.jsonl", append=True)
            writer.write({"kind": KIND_END, "stop_reason": STOP_ERROR, "message": str(e), "finished": _now()})
            writer.close()
        except (OSError, RunError):  # the folder cannot be written (full disk, read-only): stderr only
            print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def start_training_process(
    project: Project,
    data: DataSpec | dict | None,
    overrides: dict | None = None,
    out_dir: str | Path = "runs",
    *,
    run_dir: str | Path | None = None,
    resume: str | Path | None = None,
):
    """Start training in a new *spawned* process (never forked: CUDA may be in use). Returns
    (process, run_dir): watch <run_dir>/metrics.jsonl; stop with `request_stop(run_dir)` (or
    process.terminate(), which sends SIGTERM: also a clean stop on POSIX)."""
    import multiprocessing as mp

    if resume is not None:
        rd = Path(resume)
        RunLock(rd).check_free()  # refused here, before a process starts, while another one writes it
    else:
        rd = Path(run_dir) if run_dir is not None else new_run_dir(out_dir, project.name)
        rd.mkdir(parents=True, exist_ok=True)
    spec = data.to_dict() if isinstance(data, DataSpec) else data
    ctx = mp.get_context("spawn")
    proc = ctx.Process(
        target=_process_main, args=(project.to_json(), spec, overrides, str(rd), resume is not None, None), daemon=False
    )
    proc.start()
    return proc, rd
