"""Data-parallel training of one design on several processes / GPUs / machines with PyTorch's own
DistributedDataParallel. No Qt.

    torchrun --nproc-per-node 2 -m rnn_studio train DESIGN --demo chaos          # one machine
    torchrun --nnodes 2 --node-rank R --master-addr HOST --nproc-per-node 4 -m rnn_studio train ...

`rnn-studio train` notices torchrun (WORLD_SIZE > 1 in the environment) and calls
`train_distributed`, which runs the ordinary `engine.training.train.train` loop in every process with an
explicit strategy object, `DDPStrategy` (engine.training.train.TrainingStrategy's seam: wrap the model, shard
batches, save checkpoints, agree on stop):

* the model is wrapped in DistributedDataParallel (gradients all-reduced, averaged); its state_dict
  is the plain model's, so checkpoints load like any other run's;
* data: `batch_size` stays the *global* batch. Every rank draws the same per-epoch shuffle (it depends
  only on seed and epoch) and takes its strided part `idx[rank::world]` of each global batch, like
  DistributedSampler without padding: per epoch every training window is seen exactly once across
  the ranks, the number of steps per epoch equals a single-process run's, and each step's averaged
  gradient is the gradient of the whole global batch (exactly so when the batch divides evenly).
  Validation and test use every window on every rank (identical weights -> identical val_loss, so
  early stopping and plateau decisions agree);
* rank 0 alone writes the run folder (metrics.jsonl, checkpoints, summary.json); other ranks write
  their (checkpoint-free) bookkeeping to a temporary folder that is removed at the end;
* stopping: each step the ranks all-reduce their stop flags (STOP file in rank 0's run folder,
  SIGTERM / Ctrl-C, stop_event), so all stop at the same step and none waits forever in an all-reduce.

Backend: nccl on CUDA (device cuda:LOCAL_RANK), gloo on CPU. summary.json gains a "distributed" entry:
world size, backend, samples seen per epoch across ranks and whether every window was seen exactly
once per epoch.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from ..design.project import Project, atomic_write_text
from .checkpoints import save_checkpoint
from .train import TrainingStrategy

__all__ = ["world_info", "in_torchrun", "is_rank_zero", "train_distributed"]


def world_info() -> tuple[int, int, int]:
    """(rank, world size, local rank) from the torchrun environment; (0, 1, 0) outside torchrun."""
    return (
        int(os.environ.get("RANK", "0")),
        int(os.environ.get("WORLD_SIZE", "1")),
        int(os.environ.get("LOCAL_RANK", "0")),
    )


def in_torchrun() -> bool:
    return world_info()[1] > 1


def is_rank_zero() -> bool:
    return world_info()[0] == 0


class DDPStrategy(TrainingStrategy):
    """engine.training.train.TrainingStrategy for one process of a torchrun job (see the module docstring): wraps the
    model in DistributedDataParallel, trains on this rank's strided part of each global batch (counting
    the windows seen), lets rank 0 alone write checkpoints and makes every rank agree on stopping."""

    def __init__(self, rank: int, world: int, device):
        self.rank, self.world, self.device = rank, world, device
        self.counts: np.ndarray | None = None  # times each training window was seen on this rank
        self.n_train = 0
        self._max_train_index = 0

    def prepare_dataset(self, dataset) -> None:
        self.n_train = dataset.size("train")
        self._max_train_index = int(dataset.index["train"].max()) if self.n_train else 0

    def wrap_model(self, model, device):
        ddp_cls = _ddp_class()
        model = model.to(device)
        ids = [device.index if device.index is not None else 0] if device.type == "cuda" else None
        # no buffer sync in forward (the catalog's blocks have no running statistics; evaluation runs
        # the same forward on every rank); newer torch spells it forward_sync_buffers
        sync = (
            {"forward_sync_buffers": False}
            if "forward_sync_buffers" in inspect.signature(ddp_cls.__init__).parameters
            else {"broadcast_buffers": False}
        )
        return ddp_cls(model, device_ids=ids, **sync)

    def shard_batch(self, idx):
        n = int(idx.shape[0])
        if n >= self.world:
            idx = idx[self.rank :: self.world]
        else:  # a last global batch smaller than the world: a rank without a sample repeats one
            k = self.rank % n
            idx = idx[k : k + 1]
        self._count(idx.detach().cpu().numpy())
        return idx

    def _count(self, host: np.ndarray) -> None:
        if self.counts is None or self.counts.shape[0] <= host.max():
            size = max(int(host.max()) + 1, self._max_train_index + 1)
            grown = np.zeros(size, dtype=np.int64)
            if self.counts is not None:
                grown[: self.counts.shape[0]] = self.counts
            self.counts = grown
        np.add.at(self.counts, host, 1)

    def save_checkpoint(self, path: Path, state: dict[str, Any]) -> None:
        if self.rank == 0:
            save_checkpoint(path, state)

    def agree_stop(self, local: bool) -> bool:
        import torch
        import torch.distributed as dist

        t = torch.tensor([1.0 if local else 0.0], device=self.device if self.device.type == "cuda" else "cpu")
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)


def _ddp_class():
    from torch.nn.parallel import DistributedDataParallel

    class StudioDDP(DistributedDataParallel):
        """DDP whose state_dict / load_state_dict / block_parameters are the wrapped model's: checkpoints
        have no 'module.' prefix and load with engine.training.runs.load_run like a single-process run's."""

        def state_dict(self, *args, **kwargs):
            return self.module.state_dict(*args, **kwargs)

        def load_state_dict(self, *args, **kwargs):
            return self.module.load_state_dict(*args, **kwargs)

        def block_parameters(self):
            return self.module.block_parameters()

    return StudioDDP


def train_distributed(
    project: Project | None,
    data=None,
    overrides: dict[str, Any] | None = None,
    out_dir: str | Path = "runs",
    *,
    run_dir: str | Path | None = None,
    resume: str | Path | None = None,
    stop_event=None,
    on_metric: Callable[[dict], None] | None = None,
    install_signal_handlers: bool = True,
    backend: str | None = None,
    timeout_s: float = 600.0,
    init_from: str | Path | None = None,
) -> dict[str, Any]:
    """engine.training.train.train in one process of a torchrun job (same arguments, same summary). Rank 0
    writes the run folder and gets `on_metric` records; every rank returns a summary (rank 0's is the
    run's). Initializes the process group from the torchrun environment unless one exists."""
    import torch.distributed as dist

    from .train import ConfigError, TrainConfig, train

    if resume is not None:
        raise ConfigError(
            "resuming is not supported under torchrun yet: resume the run in one process "
            "(rnn-studio train --resume RUN)"
        )
    overrides = dict(overrides or {})
    cfg = TrainConfig.from_project(project, overrides)
    device = _rank_device(cfg.device)
    overrides["device"] = str(device)
    own_group = not dist.is_initialized()
    if own_group:
        dist.init_process_group(
            backend or ("nccl" if device.type == "cuda" else "gloo"), timeout=timedelta(seconds=timeout_s)
        )
    rank, world = dist.get_rank(), dist.get_world_size()
    strategy = DDPStrategy(rank, world, device)
    rd, scratch = _rank_run_dir(rank, out_dir, run_dir, project)
    try:
        summary = train(
            project,
            data,
            overrides,
            out_dir,
            run_dir=rd,
            stop_event=stop_event,
            on_metric=on_metric if rank == 0 else None,
            install_signal_handlers=install_signal_handlers,
            init_from=init_from,
            strategy=strategy,
        )
        summary["distributed"] = _windows_seen(strategy, summary, cfg.batch_size)
        if rank == 0:
            atomic_write_text(Path(rd) / "summary.json", json.dumps(summary, indent=2) + "\n")
        dist.barrier()
        return summary
    finally:
        if own_group and dist.is_initialized():
            dist.destroy_process_group()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _rank_device(name: str):
    """This rank's device: cuda:LOCAL_RANK for auto / cuda on a GPU machine, else as configured."""
    import torch

    from .train import resolve_device

    local_rank = world_info()[2]
    if name == "auto":
        device = torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    else:
        device = resolve_device(name)
        if device.type == "cuda" and device.index is None:
            device = torch.device(f"cuda:{local_rank}")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def _rank_run_dir(rank: int, out_dir, run_dir, project) -> tuple[Path, Path | None]:
    """(run folder, scratch folder to remove or None): rank 0 creates the run folder; the other ranks
    write their checkpoint-free bookkeeping to a temporary folder."""
    import torch.distributed as dist

    from .runs import new_run_dir

    if rank == 0:
        rd = Path(run_dir) if run_dir is not None else new_run_dir(out_dir, project.name)
        rd.mkdir(parents=True, exist_ok=True)
        scratch = None
    else:
        scratch = rd = Path(tempfile.mkdtemp(prefix=f"rnn-studio-rank{rank}-"))
    box = [str(rd)]
    dist.broadcast_object_list(box, src=0)  # every rank learns the run's path (for the record only)
    return rd, scratch


def _windows_seen(strategy: DDPStrategy, summary: dict[str, Any], global_batch: int) -> dict[str, Any]:
    """summary["distributed"]: samples seen summed over ranks; was every training window seen once per
    completed epoch?"""
    import torch
    import torch.distributed as dist

    used_backend = dist.get_backend()
    on = strategy.device if used_backend == "nccl" else torch.device("cpu")
    counts = strategy.counts
    n = torch.tensor([0 if counts is None else counts.shape[0]], dtype=torch.int64, device=on)
    dist.all_reduce(n, op=dist.ReduceOp.MAX)
    total = np.zeros(int(n.item()), dtype=np.int64)
    if counts is not None:
        total[: counts.shape[0]] = counts
    t = torch.from_numpy(total).to(on)
    dist.all_reduce(t)
    total = t.cpu().numpy()
    seen = total[total > 0]
    epochs = summary.get("epochs_completed") or 0
    return {
        "world_size": strategy.world,
        "backend": used_backend,
        "samples_seen": int(total.sum()),
        "train_windows": strategy.n_train,
        "windows_seen": int(seen.shape[0]),
        "times_seen_min": int(seen.min()) if seen.size else 0,
        "times_seen_max": int(seen.max()) if seen.size else 0,
        "each_window_once_per_epoch": bool(
            seen.size == strategy.n_train and seen.size and seen.min() == seen.max() == epochs
        ),
        "global_batch_size": global_batch,
    }
