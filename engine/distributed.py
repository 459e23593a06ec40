"""Data-parallel training of one design on several processes / GPUs / machines with PyTorch's own
DistributedDataParallel. No Qt.

    torchrun --nproc-per-node 2 -m rnn_studio train DESIGN --demo chaos          # one machine
    torchrun --nnodes 2 --node-rank R --master-addr HOST --nproc-per-node 4 -m rnn_studio train ...

`rnn-studio train` notices torchrun (WORLD_SIZE > 1 in the environment) and calls
`train_distributed`, which runs the ordinary `engine.train.train` loop in every process with four
seams (see `_ddp_seams`):

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

import contextlib
import inspect
import json
import os
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .project import Project, atomic_write_text

__all__ = ["world_info", "in_torchrun", "is_rank_zero", "train_distributed"]


def world_info() -> tuple[int, int, int]:
    """(rank, world size, local rank) from the torchrun environment; (0, 1, 0) outside torchrun."""
    return (int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")),
            int(os.environ.get("LOCAL_RANK", "0")))


def in_torchrun() -> bool:
    return world_info()[1] > 1


def is_rank_zero() -> bool:
    return world_info()[0] == 0


class _Ctx:
    def __init__(self, rank: int, world: int, device):
        self.rank, self.world, self.device = rank, world, device
        self.model = None  # the DDP wrapper (its .training says whether a batch is a training batch)
        self.counts: np.ndarray | None = None  # times each training window was seen on this rank
        self.n_train = 0


def _sharded_dataset_class(base):
    class ShardedDataset(base):
        """A Dataset whose training batches are this rank's strided part of the global batch."""

        def batch(self, idx):
            ctx: _Ctx = self._ddp_ctx
            if ctx.model is not None and ctx.model.training:
                n = int(idx.shape[0])
                if n >= ctx.world:
                    idx = idx[ctx.rank::ctx.world]
                else:  # a last global batch smaller than the world: a rank without a sample repeats one
                    k = ctx.rank % n
                    idx = idx[k:k + 1]
                host = idx.detach().cpu().numpy()
                if ctx.counts is None or ctx.counts.shape[0] <= host.max():
                    size = max(int(host.max()) + 1, int(self.index["train"].max()) + 1)
                    grown = np.zeros(size, dtype=np.int64)
                    if ctx.counts is not None:
                        grown[:ctx.counts.shape[0]] = ctx.counts
                    ctx.counts = grown
                np.add.at(ctx.counts, host, 1)
            return super().batch(idx)

    return ShardedDataset


def _ddp_class():
    from torch.nn.parallel import DistributedDataParallel

    class StudioDDP(DistributedDataParallel):
        """DDP whose state_dict / load_state_dict / block_parameters are the wrapped model's: checkpoints
        have no 'module.' prefix and load with engine.runs.load_run like a single-process run's."""

        def state_dict(self, *args, **kwargs):
            return self.module.state_dict(*args, **kwargs)

        def load_state_dict(self, *args, **kwargs):
            return self.module.load_state_dict(*args, **kwargs)

        def block_parameters(self):
            return self.module.block_parameters()

    return StudioDDP


@contextlib.contextmanager
def _ddp_seams(ctx: _Ctx):
    """Patch the four seams of engine.train.train for this process (restored on exit). Only the
    process running one distributed training is affected (under torchrun: the whole process)."""
    import torch
    import torch.distributed as dist

    from . import compile as compile_mod
    from . import train as train_mod

    saved = {"load_dataset": train_mod.load_dataset, "build_model": compile_mod.build_model,
             "_save_checkpoint": train_mod._save_checkpoint, "_StopFlag": train_mod._StopFlag}
    orig_load, orig_build, orig_flag = saved["load_dataset"], saved["build_model"], saved["_StopFlag"]
    ddp_cls = _ddp_class()

    def load_dataset(*args, **kwargs):
        ds = orig_load(*args, **kwargs)
        ds.__class__ = _sharded_dataset_class(type(ds))
        ds._ddp_ctx = ctx
        ctx.n_train = ds.size("train")
        return ds

    def build_model(*args, **kwargs):
        model = orig_build(*args, **kwargs).to(ctx.device)
        ids = [ctx.device.index if ctx.device.index is not None else 0] if ctx.device.type == "cuda" else None
        # no buffer sync in forward (the catalog's blocks have no running statistics; evaluation runs
        # the same forward on every rank); newer torch spells it forward_sync_buffers
        sync = ({"forward_sync_buffers": False} if "forward_sync_buffers" in inspect.signature(ddp_cls.__init__).parameters
                else {"broadcast_buffers": False})
        ctx.model = ddp_cls(model, device_ids=ids, **sync)
        return ctx.model

    class AgreedStopFlag(orig_flag):
        def __bool__(self) -> bool:
            local = super().__bool__()
            t = torch.tensor([1.0 if local else 0.0], device=ctx.device if ctx.device.type == "cuda" else "cpu")
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
            return bool(t.item() > 0)

    train_mod.load_dataset = load_dataset
    compile_mod.build_model = build_model
    train_mod._StopFlag = AgreedStopFlag
    if ctx.rank != 0:
        train_mod._save_checkpoint = lambda path, state: None
    try:
        yield
    finally:
        train_mod.load_dataset = saved["load_dataset"]
        compile_mod.build_model = saved["build_model"]
        train_mod._save_checkpoint = saved["_save_checkpoint"]
        train_mod._StopFlag = saved["_StopFlag"]


def train_distributed(project: Project | None, data=None, overrides: dict[str, Any] | None = None,
                      out_dir: str | Path = "runs", *, run_dir: str | Path | None = None,
                      resume: str | Path | None = None, stop_event=None,
                      on_metric: Callable[[dict], None] | None = None, install_signal_handlers: bool = True,
                      backend: str | None = None, timeout_s: float = 600.0) -> dict[str, Any]:
    """engine.train.train in one process of a torchrun job (same arguments, same summary). Rank 0
    writes the run folder and gets `on_metric` records; every rank returns a summary (rank 0's is the
    run's). Initializes the process group from the torchrun environment unless one exists."""
    import torch
    import torch.distributed as dist

    from .runs import new_run_dir
    from .train import ConfigError, TrainConfig, resolve_device, train

    if resume is not None:
        raise ConfigError("resuming is not supported under torchrun yet: resume the run in one process "
                          "(rnn-studio train --resume RUN)")
    rank, world, local_rank = world_info()
    overrides = dict(overrides or {})
    cfg = TrainConfig.from_project(project, overrides)
    if cfg.device == "auto":
        device = torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    else:
        device = resolve_device(cfg.device)
        if device.type == "cuda" and device.index is None:
            device = torch.device(f"cuda:{local_rank}")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    overrides["device"] = str(device)
    own_group = not dist.is_initialized()
    if own_group:
        dist.init_process_group(backend or ("nccl" if device.type == "cuda" else "gloo"),
                                timeout=timedelta(seconds=timeout_s))
        rank, world = dist.get_rank(), dist.get_world_size()
    used_backend = dist.get_backend()
    ctx = _Ctx(rank, world, device)

    # rank 0 creates the run folder and tells the others its path (for the record only)
    scratch = None
    if rank == 0:
        rd = Path(run_dir) if run_dir is not None else new_run_dir(out_dir, project.name)
        rd.mkdir(parents=True, exist_ok=True)
    else:
        scratch = Path(tempfile.mkdtemp(prefix=f"rnn-studio-rank{rank}-"))
        rd = scratch
    box = [str(rd)]
    dist.broadcast_object_list(box, src=0)
    run0 = box[0]
    try:
        with _ddp_seams(ctx):
            summary = train(project, data, overrides, out_dir, run_dir=rd, stop_event=stop_event,
                            on_metric=on_metric if rank == 0 else None,
                            install_signal_handlers=install_signal_handlers)
        # samples seen: sum over ranks; every training window once per completed epoch?
        on = device if used_backend == "nccl" else torch.device("cpu")
        n = torch.tensor([0 if ctx.counts is None else ctx.counts.shape[0]], dtype=torch.int64, device=on)
        dist.all_reduce(n, op=dist.ReduceOp.MAX)
        size = int(n.item())
        counts = np.zeros(size, dtype=np.int64)
        if ctx.counts is not None:
            counts[:ctx.counts.shape[0]] = ctx.counts
        t = torch.from_numpy(counts).to(on)
        dist.all_reduce(t)
        counts = t.cpu().numpy()
        seen = counts[counts > 0]
        epochs = summary.get("epochs_completed") or 0
        info = {"world_size": world, "backend": used_backend, "samples_seen": int(counts.sum()),
                "train_windows": ctx.n_train, "windows_seen": int(seen.shape[0]), "times_seen_min": int(seen.min()) if seen.size else 0,
                "times_seen_max": int(seen.max()) if seen.size else 0,
                "each_window_once_per_epoch": bool(seen.size == ctx.n_train and seen.size
                                                   and seen.min() == seen.max() == epochs),
                "global_batch_size": cfg.batch_size}
        summary["distributed"] = info
        if rank == 0:
            atomic_write_text(Path(run0) / "summary.json", json.dumps(summary, indent=2) + "\n")
        dist.barrier()
        return summary
    finally:
        if own_group and dist.is_initialized():
            dist.destroy_process_group()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
