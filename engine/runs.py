"""The run folder: a contract shared by the trainer (writer), the CLI, exports and the GUI (readers).

    runs/<YYYYmmdd-HHMMSS>-<name>/
        project.rnn.json          snapshot of the design + training settings used
        metrics.jsonl             one JSON object per line, flushed as written (tail it live)
        checkpoints/last.pt       latest complete state (atomic writes)
        checkpoints/best.pt       best validation loss so far
        summary.json              written at the end (atomic)

A checkpoint is a dict saved with torch.save:
    {"format": "rnn-studio-checkpoint", "version": 1,
     "model": state_dict, "optimizer": ..., "scheduler": ..., "epoch": int, "step": int, "rng": ...,
     "meta": RunMeta as a dict: what a deployment needs to reproduce preprocessing}
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .project import Project, ProjectFormatError, load_project

CHECKPOINT_FORMAT = "rnn-studio-checkpoint"


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "RunMeta":
        known = {k: v for k, v in (d or {}).items() if k in cls.__dataclass_fields__}
        return cls(**known)


class RunError(ValueError):
    """A run folder or checkpoint that cannot be used; one clear line."""


def checkpoint_path(run_dir: str | Path, which: str = "best") -> Path:
    if which not in ("best", "last"):
        raise RunError(f"checkpoint must be 'best' or 'last', received {which!r}")
    return Path(run_dir) / "checkpoints" / f"{which}.pt"


def is_run_dir(path: str | Path) -> bool:
    p = Path(path)
    return p.is_dir() and (p / "project.rnn.json").is_file()


def load_run(run_dir: str | Path, which: str = "best", map_location: str = "cpu"):
    """(project, model with the checkpoint's weights in eval mode, RunMeta) for a run folder."""
    import torch

    from .compile import build_model

    run_dir = Path(run_dir)
    if not is_run_dir(run_dir):
        raise RunError(f"{run_dir}: not a run folder (no project.rnn.json): pass a folder under runs/")
    try:
        project = load_project(run_dir / "project.rnn.json")
    except ProjectFormatError as e:
        raise RunError(str(e)) from None
    path = checkpoint_path(run_dir, which)
    if not path.is_file():
        raise RunError(f"{path}: missing checkpoint; the run may have stopped before its first epoch "
                       f"(try --checkpoint {'last' if which == 'best' else 'best'})")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # corrupt / truncated file
        raise RunError(f"{path}: cannot read checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise RunError(f"{path}: not an RNN Studio checkpoint")
    model = build_model(project)
    model.load_state_dict(ckpt["model"])
    model.eval()
    return project, model, RunMeta.from_dict(ckpt.get("meta"))


def project_of(path: str | Path) -> Project:
    """A design file, or the design snapshot of a run folder."""
    p = Path(path)
    return load_project(p / "project.rnn.json" if p.is_dir() else p)
