"""The training loop, metrics stream, checkpoints and the run folder. No Qt.

One entry point, called by the CLI, by the GUI (in a spawned process) and by scripts:

    summary = train(project, data_spec, overrides, out_dir="runs", stop_event=None, on_metric=None)

It writes a run folder (see engine/runs.py and docs/run-folder.md): a design snapshot, metrics.jsonl
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

import io
import json
import math
import os
import random
import signal
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .data import DataError, DataSpec, Dataset, infer_task, load_dataset, lookahead_warnings, persistence_verdict
from .project import Project, atomic_write_bytes, atomic_write_text
from .runs import (CHECKPOINT_FORMAT, STOP_FILE, MetricsWriter, RunError, checkpoint_path, new_run_dir,
                   request_stop)

__all__ = ["TrainConfig", "ConfigError", "TrainError", "train", "evaluate_run", "predict_run", "request_stop",
           "start_training_process", "resolve_device", "default_threads", "DataSpec", "DataError"]

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "plateau")
LOSSES = {"regression": ("mse", "mae", "huber"), "classification": ("cross_entropy",)}
PRECISIONS = ("fp32", "bf16", "fp16")
CHECKPOINT_VERSION = 1


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

    @classmethod
    def from_project(cls, project: Project | dict | None, overrides: dict[str, Any] | None = None) -> "TrainConfig":
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
        def bad(name, expect):
            raise ConfigError(f"training.{name} must be {expect}, received {getattr(self, name)!r}")

        def num(name, lo=None, lo_open=False, allow_none=False, integer=False):
            v = getattr(self, name)
            if v is None and allow_none:
                return
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            if integer:
                ok = ok and float(v) == int(v)
            if ok and lo is not None:
                ok = v > lo if lo_open else v >= lo
            if not ok:
                kind = "a whole number" if integer else "a number"
                bad(name, f"{kind}{'' if lo is None else (' > ' if lo_open else ' >= ') + str(lo)}"
                          f"{' or null' if allow_none else ''}")
            if integer:
                setattr(self, name, int(v))
            else:
                setattr(self, name, float(v))

        if self.optimizer not in OPTIMIZERS:
            bad("optimizer", " | ".join(OPTIMIZERS))
        if self.schedule in ("reduce_on_plateau", "reduce-on-plateau"):
            self.schedule = "plateau"
        if self.schedule not in SCHEDULES:
            bad("schedule", " | ".join(SCHEDULES) + " (plateau = reduce-on-plateau)")
        if self.precision not in PRECISIONS:
            bad("precision", " | ".join(PRECISIONS))
        num("lr", 0, lo_open=True)
        num("weight_decay", 0)
        num("momentum", 0)
        num("batch_size", 1, integer=True)
        num("epochs", 1, integer=True)
        num("plateau_patience", 0, integer=True)
        num("patience", 0, allow_none=True, integer=True)  # 0 or null: off
        num("min_delta", 0)
        num("clip_norm", 0, lo_open=True, allow_none=True)
        num("seed", 0, integer=True)
        num("grad_every", 0, integer=True)
        num("sync_every", 1, allow_none=True, integer=True)
        num("threads", 1, allow_none=True, integer=True)
        num("max_steps", 1, allow_none=True, integer=True)
        num("eval_batch_size", 1, integer=True)
        if not isinstance(self.deterministic, bool):
            bad("deterministic", "true or false")
        if not isinstance(self.device, str) or not self.device:
            bad("device", "auto | cpu | cuda | cuda:N | mps")
        task = self.task or infer_task({"loss": self.loss})
        if task not in LOSSES:
            bad("task", "regression | classification")
        self.task = task
        if self.loss is None:
            self.loss = LOSSES[task][0]
        if self.loss not in LOSSES[task]:
            bad("loss", f"one of {', '.join(LOSSES[task])} for {task}")

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
    except RuntimeError:
        raise TrainError(f"unknown device {name!r}: use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise TrainError("device cuda requested but no CUDA GPU is available to this PyTorch build: use --device auto or cpu")
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
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def _rng_state() -> dict[str, Any]:
    import torch

    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _epoch_permutation(n: int, seed: int, epoch: int, device):
    """The shuffle of one epoch depends only on (seed, epoch): a resumed run reproduces it exactly."""
    import torch

    g = torch.Generator().manual_seed((seed * 1_000_003 + epoch) % (2 ** 63))
    return torch.randperm(n, generator=g).to(device)


# ============================================================================ losses, metrics
def _loss_fn(name: str):
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
        return values[0], dict(zip(self.block_ids, values[1:]))


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


@dataclass
class EvalResult:
    loss: float
    metrics: dict[str, float]
    predictions: np.ndarray | None = None  # original units (regression) / class indices, (N, steps)
    targets: np.ndarray | None = None


def evaluate_split(model, data: Dataset, split: str, cfg: TrainConfig, device, autocast=None,
                   keep_predictions: bool = False, prefix: str = "") -> EvalResult:
    """Loss (normalized units, as optimized) and metrics in the target's original units: rmse, mae and
    the persistence baseline's rmse / mae for regression; accuracy (and the majority-class baseline)
    for classification."""
    import torch

    loss_fn = _loss_fn(cfg.loss)
    idx_all = data.index[split]
    n = int(idx_all.shape[0])
    was_training = model.training
    model.eval()
    total, preds = 0.0, []
    with torch.no_grad():
        for start in range(0, n, cfg.eval_batch_size):
            idx = idx_all[start:start + cfg.eval_batch_size]
            xb, yb = data.batch(idx)
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
    host_idx = idx_all.cpu().numpy()
    metrics: dict[str, float] = {}
    targets = None
    if data.task == "regression":
        pred = pred * data.meta.y_std + data.meta.y_mean
        if data.has_targets:
            targets = data.targets_orig(host_idx)
            err = pred - targets
            metrics[prefix + "rmse"] = float(np.sqrt(np.mean(err ** 2)))
            metrics[prefix + "mae"] = float(np.mean(np.abs(err)))
            pers = data.persistence_orig(host_idx)
            if pers is not None:
                perr = pers - targets
                metrics[prefix + "persistence_rmse"] = float(np.sqrt(np.mean(perr ** 2)))
                metrics[prefix + "persistence_mae"] = float(np.mean(np.abs(perr)))
    elif data.has_targets:
        ys = data.y[idx_all].reshape(n, -1).cpu().numpy()
        targets = ys
        metrics[prefix + "accuracy"] = float(np.mean(pred == ys)) if n else 0.0
        train_y = data.y[data.index["train"]].reshape(-1).cpu().numpy() if "train" in data.index else ys.reshape(-1)
        majority = np.bincount(train_y, minlength=data.out_units).argmax()
        metrics[prefix + "majority_accuracy"] = float(np.mean(ys == majority)) if n else 0.0
    loss = total / max(n, 1) if data.has_targets else float("nan")
    return EvalResult(loss, metrics, pred if keep_predictions else None, targets if keep_predictions else None)


class _null:
    def __enter__(self):
        return None

    def __exit__(self, *a):
        return False


# ============================================================================ stop requests
class _StopFlag:
    """Set by stop_event, a STOP file in the run folder, SIGTERM or Ctrl-C; checked at step boundaries."""

    def __init__(self, run_dir: Path, stop_event=None):
        self.stop_file = run_dir / STOP_FILE
        self.event = stop_event
        self.signalled = False
        self._old: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handler)
            except (ValueError, OSError):
                pass

    def _handler(self, signum, frame):
        if self.signalled and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        self.signalled = True

    def restore(self) -> None:
        for sig, old in self._old.items():
            try:
                signal.signal(sig, old)
            except (ValueError, OSError):
                pass
        self._old.clear()

    def __bool__(self) -> bool:
        return bool(self.signalled or (self.event is not None and self.event.is_set()) or self.stop_file.exists())


# ============================================================================ checkpoints
def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())  # the old file stays until the new one is complete


def _load_checkpoint(path: Path) -> dict[str, Any]:
    import torch

    if not path.is_file():
        raise RunError(f"{path}: missing checkpoint: nothing to resume (the run stopped before its first checkpoint)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise RunError(f"{path}: cannot read checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise RunError(f"{path}: not an RNN Studio checkpoint")
    return ckpt


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ============================================================================ the loop
def train(project: Project, data: DataSpec | dict | None = None, overrides: dict[str, Any] | None = None,
          out_dir: str | Path = "runs", *, run_dir: str | Path | None = None, resume: str | Path | None = None,
          stop_event=None, on_metric: Callable[[dict], None] | None = None,
          install_signal_handlers: bool = True) -> dict[str, Any]:
    """Train a design; returns the summary dict (also written to <run>/summary.json).

    project    the design (engine.Project); its `training` section gives the defaults
    data       DataSpec (or its dict); ignored with `resume` (the run's saved spec is used)
    overrides  training settings on top of project.training (CLI flags, GUI form), e.g. {"epochs": 5}
    out_dir    parent folder for a new run folder `<out_dir>/<YYYYmmdd-HHMMSS>-<name>/`
    run_dir    use this (new or empty) folder instead, e.g. one the GUI created to watch
    resume     an existing run folder: continue from its checkpoints/last.pt, appending to its metrics
    stop_event anything with is_set() (threading.Event / multiprocessing.Event) checked at every step
    on_metric  called with every metrics record (the same dicts written to metrics.jsonl)

    Raises DataError / ConfigError / DesignError / RunError / TrainError (all one line) before training
    starts; once it has started, every ending (done, early stop, cancel, divergence, OOM) returns a
    summary with its `stop_reason`.
    """
    import torch

    from .compile import build_model

    resume_ckpt = None
    if resume is not None:
        from .runs import is_run_dir, load_project

        run_path = Path(resume)
        if not is_run_dir(run_path):
            raise RunError(f"{run_path}: not a run folder (no project.rnn.json): pass a folder under runs/")
        project = load_project(run_path / "project.rnn.json")
        resume_ckpt = _load_checkpoint(checkpoint_path(run_path, "last"))
        saved = resume_ckpt.get("train_state", {})
        data = DataSpec.from_dict(saved.get("data_spec") or {})
        cfg = TrainConfig(**{k: v for k, v in (resume_ckpt.get("config") or {}).items()
                             if k in TrainConfig.__dataclass_fields__})
        cfg.max_steps = None  # a step limit applies to one invocation
        for k in ("device", "threads", "max_steps", "epochs", "sync_every"):  # may change on resume
            if overrides and overrides.get(k) is not None:
                setattr(cfg, k, overrides[k])
        cfg.validate()
    else:
        if data is None:
            raise DataError("no data: give --data FILE or --demo sine|chaos")
        data = data if isinstance(data, DataSpec) else DataSpec.from_dict(data)
        training = dict(project.training)
        for key in ("target", "features", "lookback", "horizon", "split"):  # data keys in project.training
            if key in training and getattr(data, key) in (None, DataSpec.__dataclass_fields__[key].default):
                val = training[key]
                setattr(data, key, tuple(val) if key == "split" else val)
        cfg = TrainConfig.from_project(project, overrides)

    device = resolve_device(cfg.device)
    threads = cfg.threads or default_threads()
    torch.set_num_threads(threads)
    if cfg.precision != "fp32" and device.type != "cuda":
        raise ConfigError(f"precision {cfg.precision} needs a CUDA GPU (device here: {device.type}): use --precision fp32")
    if cfg.precision == "bf16" and not torch.cuda.is_bf16_supported():
        raise ConfigError("precision bf16 is not supported by this GPU: use --precision fp16 or fp32")

    project_task = cfg.task
    if project.training.get("task") != project_task and resume is None:
        project = project.copy()
        project.training["task"] = project_task
    from .runs import RunMeta

    saved_meta = RunMeta.from_dict(resume_ckpt["meta"]) if resume_ckpt is not None and resume_ckpt.get("meta") else None
    dataset = load_dataset(data, project, meta=saved_meta)  # a resumed run keeps its normalization
    _seed_everything(cfg.seed, cfg.deterministic)
    model = build_model(project)

    # ---------------------------------------------------------------- run folder
    if resume is not None:
        rd = Path(resume)
    elif run_dir is not None:
        rd = Path(run_dir)
        rd.mkdir(parents=True, exist_ok=True)
        (rd / "checkpoints").mkdir(exist_ok=True)
    else:
        rd = new_run_dir(out_dir, project.name)
    if resume is None:
        snap = project.copy()
        snap.training = {**project.training, **{k: v for k, v in cfg.to_dict().items()
                                                if k not in ("max_steps", "eval_batch_size") and v is not None}}
        atomic_write_text(rd / "project.rnn.json", snap.to_json())
        for stale in (rd / "summary.json", rd / "predictions.json", rd / "metrics.jsonl",
                      checkpoint_path(rd, "best"), checkpoint_path(rd, "last")):
            try:
                stale.unlink()
            except FileNotFoundError:
                pass
    try:
        (rd / STOP_FILE).unlink()  # a stale request from a previous attempt
    except FileNotFoundError:
        pass

    # ---------------------------------------------------------------- model, optimizer, schedule
    model.to(device)
    dataset.to(device) if _fits_on_device(dataset, device) else None
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    elif cfg.optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    n_train = dataset.size("train")
    steps_per_epoch = math.ceil(n_train / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)
    if cfg.schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps_per_epoch * cfg.epochs))
    elif cfg.schedule == "plateau":
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=cfg.plateau_patience)
    else:
        sched = None
    use_amp = cfg.precision != "fp32"
    amp_dtype = torch.bfloat16 if cfg.precision == "bf16" else torch.float16

    def autocast():
        return torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=use_amp)

    scaler = torch.amp.GradScaler("cuda", enabled=(cfg.precision == "fp16"))
    loss_fn = _loss_fn(cfg.loss)
    norms = _GradNorms(model)
    sync_every = cfg.sync_every or (1 if device.type == "cpu" else 10)

    # ---------------------------------------------------------------- state (restored on resume)
    st = {"epoch": 0, "step": 0, "batch": 0, "epoch_loss_sum": 0.0, "epoch_samples": 0, "epoch_time": 0.0,
          "best_val_loss": None, "bad_epochs": 0, "best": {}, "elapsed": 0.0, "last_val": {},
          "data_spec": data.to_dict()}
    if resume_ckpt is not None:
        model.load_state_dict(resume_ckpt["model"])
        opt.load_state_dict(resume_ckpt["optimizer"])
        if sched is not None and resume_ckpt.get("scheduler") is not None:
            sched.load_state_dict(resume_ckpt["scheduler"])
        if resume_ckpt.get("scaler"):
            scaler.load_state_dict(resume_ckpt["scaler"])
        st.update(resume_ckpt.get("train_state", {}))
        _set_rng_state(resume_ckpt["rng"])

    def state_dict(which_state: dict) -> dict[str, Any]:
        return {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
                "model": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
                "optimizer": opt.state_dict(), "scheduler": sched.state_dict() if sched is not None else None,
                "scaler": scaler.state_dict() if scaler.is_enabled() else None,
                "epoch": which_state["epoch"], "step": which_state["step"], "rng": _rng_state(),
                "meta": dataset.meta.to_dict(), "config": cfg.to_dict(), "train_state": dict(which_state)}

    metrics = MetricsWriter(rd / "metrics.jsonl", append=True)
    if dataset.plan is not None and resume_ckpt is None:  # what the run trains on (docs/run-folder.md)
        atomic_write_text(rd / "plan.json", json.dumps(dataset.plan.to_dict(), indent=2, default=str) + "\n")
    stop = _StopFlag(rd, stop_event)
    if install_signal_handlers:
        stop.install()
    t_start = time.perf_counter() - st["elapsed"]

    def emit(rec: dict[str, Any]) -> None:
        metrics.write(rec)
        if on_metric is not None:
            on_metric(rec)

    emit({"kind": "start", "time": _now(), "run": str(rd), "name": project.name, "device": str(device),
          "device_name": device_name(device), "precision": cfg.precision,
          "threads": threads if device.type == "cpu" else None, "task": cfg.task, "loss": cfg.loss,
          "epochs": cfg.epochs, "steps_per_epoch": steps_per_epoch, "total_steps": total_steps,
          "batch_size": cfg.batch_size, "grad_every": cfg.grad_every, "blocks": norms.block_ids,
          "samples": {s: dataset.size(s) for s in dataset.index}, "data": data.label, "data_spec": data.to_dict(),
          "features": dataset.meta.features, "target": dataset.meta.target, "lookback": dataset.lookback,
          "horizon": dataset.horizon, "ignored_columns": dataset.ignored_columns,
          "warnings": (dataset.plan.warnings if dataset.plan else []) + lookahead_warnings(project, dataset),
          "plan": dataset.plan.to_dict() if dataset.plan else None,
          "parameters": sum(p.numel() for p in params), "resumed_from_step": st["step"] if resume_ckpt else None,
          "config": cfg.to_dict()})

    stop_reason = None
    message = None
    pending: list[tuple[int, int, Any, float, int]] = []  # (step, epoch, loss tensor, lr, batch) not yet read

    def flush_losses() -> int | None:
        """Read buffered losses to the host (one sync), write step records, add them to the epoch's
        loss sum; return the first non-finite step (None when all are finite)."""
        if not pending:
            return None
        values = torch.stack([p[2] for p in pending]).float().tolist()
        bad = None
        for (step, epoch, _, lr, bs), v in zip(pending, values):
            if not math.isfinite(v):
                bad = step
                break
            st["epoch_loss_sum"] += v * bs
            emit({"kind": "step", "step": step, "epoch": epoch, "loss": v, "lr": lr})
        pending.clear()
        return bad

    model.train()
    try:
        while st["epoch"] < cfg.epochs and stop_reason is None:
            epoch = st["epoch"] + 1
            perm = _epoch_permutation(n_train, cfg.seed, epoch, dataset.index["train"].device)
            train_idx = dataset.index["train"][perm]
            t_epoch = time.perf_counter()
            while st["batch"] < steps_per_epoch:
                if stop:
                    stop_reason = "cancelled"
                    break
                if cfg.max_steps is not None and st["step"] >= cfg.max_steps:
                    stop_reason = "max steps reached"
                    break
                b = st["batch"]
                idx = train_idx[b * cfg.batch_size:(b + 1) * cfg.batch_size]
                xb, yb = dataset.batch(idx)
                if xb.device != device:
                    xb = xb.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else xb.to(device)
                    yb = yb.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else yb.to(device)
                step = st["step"] + 1
                with autocast():
                    out = model(xb)
                loss = loss_fn(out.float(), yb)
                if sync_every == 1 and not math.isfinite(loss.item()):
                    stop_reason = f"diverged at step {step}"
                    message = (f"the loss became {loss.item()} at step {step} (epoch {epoch}): lower the learning "
                               f"rate (now {opt.param_groups[0]['lr']:g}) or set gradient clipping (clip_norm)")
                    break
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                want_norms = cfg.grad_every and step % cfg.grad_every == 0
                if want_norms or cfg.clip_norm:
                    scaler.unscale_(opt)
                grad_vals = None
                if want_norms:
                    grad_vals = norms.compute()
                    if cfg.clip_norm:
                        _clip_with_norm(params, cfg.clip_norm, grad_vals[0])
                elif cfg.clip_norm:
                    torch.nn.utils.clip_grad_norm_(params, cfg.clip_norm, foreach=True)
                scaler.step(opt)
                scaler.update()
                if cfg.schedule == "cosine":
                    sched.step()
                st["step"] = step
                st["batch"] = b + 1
                bs = int(idx.shape[0])
                st["epoch_samples"] += bs
                pending.append((step, epoch, loss.detach(), opt.param_groups[0]["lr"], bs))
                if len(pending) >= sync_every or st["batch"] == steps_per_epoch:
                    bad = flush_losses()
                    if bad is not None:
                        stop_reason = f"diverged at step {bad}"
                        message = (f"the loss became non-finite at step {bad} (epoch {epoch}): lower the learning "
                                   f"rate or set gradient clipping (clip_norm)")
                        break
                if grad_vals is not None:
                    total, per_block = norms.to_record(grad_vals.tolist())
                    emit({"kind": "grad", "step": step, "epoch": epoch, "total": _finite(total),
                          "blocks": {k: _finite(v) for k, v in per_block.items()}})
            st["epoch_time"] += time.perf_counter() - t_epoch
            if stop_reason is not None:
                break
            # ------------------------------------------------ end of epoch: validate, checkpoint
            st["elapsed"] = time.perf_counter() - t_start
            val = evaluate_split(model, dataset, "val", cfg, device, autocast, keep_predictions=True, prefix="val_")
            train_loss = st["epoch_loss_sum"] / max(st["epoch_samples"], 1)
            lr_now = opt.param_groups[0]["lr"]
            improved = st["best_val_loss"] is None or val.loss < st["best_val_loss"] - cfg.min_delta
            rec = {"kind": "epoch", "epoch": epoch, "step": st["step"], "train_loss": train_loss,
                   "val_loss": _finite(val.loss), **{k: _finite(v) for k, v in val.metrics.items()}, "lr": lr_now,
                   "samples_per_s": st["epoch_samples"] / max(st["epoch_time"], 1e-9),
                   "train_time_s": st["epoch_time"], "elapsed_s": st["elapsed"], "best": bool(improved)}
            if sched is not None and cfg.schedule == "plateau":
                sched.step(val.loss)
            st.update(epoch=epoch, batch=0, epoch_loss_sum=0.0, epoch_samples=0, epoch_time=0.0,
                      last_val={"val_loss": val.loss, **val.metrics})
            if not math.isfinite(val.loss):
                stop_reason = f"diverged at step {st['step']}"
                message = f"the validation loss became {val.loss} after epoch {epoch}: lower the learning rate"
                emit(rec)
                break
            if improved:
                st["best_val_loss"] = val.loss
                st["bad_epochs"] = 0
                st["best"] = {"epoch": epoch, "step": st["step"], "val_loss": val.loss, **val.metrics}
                _save_checkpoint(checkpoint_path(rd, "best"), state_dict(st))
                _write_predictions(rd, dataset, val, epoch)
            else:
                st["bad_epochs"] += 1
            _save_checkpoint(checkpoint_path(rd, "last"), state_dict(st))
            emit(rec)
            if cfg.patience and st["bad_epochs"] >= cfg.patience:
                stop_reason = (f"early stopping: no validation loss improvement for {cfg.patience} epoch(s)")
        if stop_reason is None:
            stop_reason = "completed"
        if stop_reason == "cancelled":
            flush_losses()
            st["elapsed"] = time.perf_counter() - t_start
            _save_checkpoint(checkpoint_path(rd, "last"), state_dict(st))
        elif stop_reason == "max steps reached":
            flush_losses()
            st["elapsed"] = time.perf_counter() - t_start
            _save_checkpoint(checkpoint_path(rd, "last"), state_dict(st))
    except Exception as e:
        if _is_oom(e):
            stop_reason = "out of memory"
            message = (f"{device.type.upper()} ran out of memory with batch size {cfg.batch_size} "
                       f"({device_name(device)}): try --batch-size {max(1, cfg.batch_size // 2)}, a shorter "
                       f"lookback or fewer units")
            pending.clear()
            if device.type == "cuda":
                torch.cuda.empty_cache()
        else:
            raise
    finally:
        stop.restore()

    # ---------------------------------------------------------------- test on best.pt, summary
    summary = _finish(rd, project, model, dataset, cfg, device, autocast, st, stop_reason, message,
                      t_start, threads, emit)
    metrics.close()
    return summary


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


def _fits_on_device(dataset: Dataset, device) -> bool:
    """Keep the data on the training device when it is small (the usual case for sequence data)."""
    if device.type == "cpu":
        return True
    nbytes = dataset.x.element_size() * dataset.x.nelement() + dataset.y.element_size() * dataset.y.nelement()
    return nbytes < 2 * 1024 ** 3


def _finish(rd, project, model, dataset, cfg, device, autocast, st, stop_reason, message, t_start, threads, emit):
    best_path = checkpoint_path(rd, "best")
    test_metrics: dict[str, Any] = {}
    if "test" in dataset.index and dataset.size("test") > 0 and best_path.is_file() and stop_reason != "out of memory":
        ckpt = _load_checkpoint(best_path)
        model.load_state_dict(ckpt["model"])
        res = evaluate_split(model, dataset, "test", cfg, device, autocast, prefix="test_")
        test_metrics = {"test_loss": _finite(res.loss), **{k: _finite(v) for k, v in res.metrics.items()}}
    best = st.get("best") or {}
    summary = {
        "name": project.name, "run": str(rd), "stop_reason": stop_reason, "message": message,
        "epochs_completed": st["epoch"], "steps": st["step"], "wall_time_s": time.perf_counter() - t_start,
        "device": str(device), "device_name": device_name(device), "precision": cfg.precision,
        "threads": threads if device.type == "cpu" else None, "task": cfg.task, "loss": cfg.loss,
        "best_epoch": best.get("epoch"), "best_step": best.get("step"),
        **{k: _finite(v) if isinstance(v, float) else v for k, v in best.items() if k not in ("epoch", "step")},
        **test_metrics,
        # the persistence baseline on the test split, next to test_rmse (the headline comparison)
        **({"persistence_rmse": test_metrics["test_persistence_rmse"]} if "test_persistence_rmse" in test_metrics else {}),
        "checkpoints": {"best": best_path.is_file(), "last": checkpoint_path(rd, "last").is_file()},
        "finished": _now(),
    }
    summary.update(persistence_verdict(summary))  # same-split baselines and beats_persistence (engine/data.py)
    atomic_write_text(rd / "summary.json", json.dumps(summary, indent=2) + "\n")
    try:
        (rd / STOP_FILE).unlink()  # the request has been served
    except FileNotFoundError:
        pass
    emit({"kind": "end", **summary})
    return summary


# ============================================================================ evaluate / predict a run
def _run_dataset(run_dir: str | Path, spec: DataSpec, which: str):
    from .runs import load_run

    project, model, meta = load_run(run_dir, which)
    data = load_dataset(spec, project, meta=meta, split=False)
    return project, model, data


def evaluate_run(run_dir: str | Path, spec: DataSpec, which: str = "best", device: str = "cpu") -> dict[str, Any]:
    """Metrics of a run's checkpoint on every window of a file, with the run's saved normalization."""
    project, model, data = _run_dataset(run_dir, spec, which)
    cfg = TrainConfig.from_project(project, {"device": device})
    dev = resolve_device(device)
    model.to(dev)
    data.to(dev)
    if not data.has_targets:
        raise DataError(f"{data.source}: no target column '{data.meta.target}' to evaluate against")
    res = evaluate_split(model, data, "all", cfg, dev)
    return {"run": str(run_dir), "checkpoint": which, "data": spec.label, "samples": data.size("all"),
            "loss": res.loss, **res.metrics}


def predict_run(run_dir: str | Path, spec: DataSpec, which: str = "best", device: str = "cpu"):
    """(column names, rows) of predictions for every window of a file, in original units / class labels.

    Time series: one row per window: `row` (the 1-based data row predicted, i.e. the window's last row
    + horizon; may lie past the end of the file for a true forecast), `prediction`, and `target` when
    known. A design with a per-step output gives the prediction of the window's last step.
    """
    project, model, data = _run_dataset(run_dir, spec, which)
    cfg = TrainConfig.from_project(project, {"device": device})
    dev = resolve_device(device)
    model.to(dev)
    data.to(dev)
    res = evaluate_split(model, data, "all", cfg, dev, keep_predictions=True)
    pred = res.predictions[:, -1]
    idx = data.index["all"].cpu().numpy()
    rows = data.predicted_rows(idx)  # file rows, also for many series (engine/data.py)
    cols = ["row", "prediction"] if data.kind == "series" else ["sample", "prediction"]
    classes = data.meta.classes
    if data.task == "classification" and classes:
        pred = [classes[int(p)] for p in pred]
    else:
        pred = list(pred)
    out = [[int(r), p] for r, p in zip(rows, pred)]
    if data.has_targets and res.targets is not None:
        cols.append("target")
        tg = res.targets[:, -1]
        for row, t in zip(out, tg):
            row.append(classes[int(t)] if data.task == "classification" and classes else float(t))
    if data.series_ids is not None:  # many series: each prediction names its series (docs/data.md)
        cols.insert(0, "series")
        out = [[str(data.series_ids[i])] + row for i, row in zip(idx, out)]
    return cols, out


# ============================================================================ a training process (GUI)
def _process_main(project_json: str, data_spec: dict | None, overrides: dict | None, run_dir: str,
                  resume: bool, stop_event) -> None:
    """Entry point of a spawned training process; errors before training are written as an "end"
    record with stop_reason "error" so the watching GUI can show them."""
    rd = Path(run_dir)
    try:
        project = Project.from_dict(json.loads(project_json))
        train(project, data_spec, overrides, run_dir=None if resume else rd, resume=rd if resume else None,
              stop_event=stop_event)
    except (ValueError, RunError, TrainError) as e:  # DataError, ConfigError, DesignError are ValueErrors
        rd.mkdir(parents=True, exist_ok=True)
        writer = MetricsWriter(rd / "metrics.jsonl", append=True)
        writer.write({"kind": "end", "stop_reason": "error", "message": str(e), "finished": _now()})
        writer.close()
        raise SystemExit(2)


def start_training_process(project: Project, data: DataSpec | dict | None, overrides: dict | None = None,
                           out_dir: str | Path = "runs", *, run_dir: str | Path | None = None,
                           resume: str | Path | None = None):
    """Start training in a new *spawned* process (never forked: CUDA may be in use). Returns
    (process, run_dir): watch <run_dir>/metrics.jsonl; stop with `request_stop(run_dir)` (or
    process.terminate(), which sends SIGTERM: also a clean stop on POSIX)."""
    import multiprocessing as mp

    if resume is not None:
        rd = Path(resume)
    else:
        rd = Path(run_dir) if run_dir is not None else new_run_dir(out_dir, project.name)
        rd.mkdir(parents=True, exist_ok=True)
    spec = data.to_dict() if isinstance(data, DataSpec) else data
    ctx = mp.get_context("spawn")
    proc = ctx.Process(target=_process_main, args=(project.to_json(), spec, overrides, str(rd), resume is not None,
                                                   None), daemon=False)
    proc.start()
    return proc, rd
