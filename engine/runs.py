"""The run folder: a contract shared by the trainer (writer), the CLI, exports and the GUI (readers).

    runs/<YYYYmmdd-HHMMSS>-<name>/
        project.rnn.json          snapshot of the design + training settings used
        metrics.jsonl             one JSON object per line, flushed as written (tail it live)
        checkpoints/last.pt       latest complete state (atomic writes)
        checkpoints/best.pt       best validation loss so far
        summary.json              written at the end (atomic)
        STOP                      created by anyone (GUI, script) to ask the trainer to stop cleanly

docs/run-folder.md documents every file and the metrics.jsonl record schema.

A checkpoint is a dict saved with torch.save:
    {"format": "rnn-studio-checkpoint", "version": 1,
     "model": state_dict, "optimizer": ..., "scheduler": ..., "epoch": int, "step": int, "rng": ...,
     "meta": RunMeta as a dict: what a deployment needs to reproduce preprocessing}
"""
from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from .project import Project, ProjectFormatError, load_project

CHECKPOINT_FORMAT = "rnn-studio-checkpoint"
STOP_FILE = "STOP"


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


# ---------------------------------------------------------------------------- write side (the trainer)
def new_run_dir(out_dir: str | Path, name: str) -> Path:
    """Create and return `<out_dir>/<YYYYmmdd-HHMMSS>-<name>/` (with checkpoints/); a clash gets -2, -3..."""
    safe = re.sub(r"[^A-Za-z0-9_.\-]+", "-", name).strip("-.") or "run"
    base = Path(out_dir) / f"{time.strftime('%Y%m%d-%H%M%S')}-{safe}"
    path, n = base, 1
    while True:
        try:
            path.mkdir(parents=True, exist_ok=False)
            break
        except FileExistsError:
            n += 1
            path = base.with_name(f"{base.name}-{n}")
    (path / "checkpoints").mkdir(exist_ok=True)
    return path


def request_stop(run_dir: str | Path) -> None:
    """Ask a running trainer to stop at its next step boundary (it writes last.pt and a summary with
    stop_reason "cancelled"). Works across processes and platforms: it creates <run_dir>/STOP."""
    p = Path(run_dir) / STOP_FILE
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("stop requested\n")


class MetricsWriter:
    """Appends one JSON object per line to metrics.jsonl and flushes each line, so a reader in another
    process sees complete records as they come (a reader must ignore a last line without its newline)."""

    def __init__(self, path: str | Path, append: bool = True):
        self.path = Path(path)
        self._f = open(self.path, "a" if append else "w", encoding="utf-8", newline="\n")

    def write(self, record: dict[str, Any]) -> None:
        self._f.write(json.dumps(record, allow_nan=False, default=_json_default) + "\n")
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self._f.flush()
            try:
                os.fsync(self._f.fileno())
            except OSError:
                pass
            self._f.close()


def _json_default(v):
    try:
        import numpy as np

        if isinstance(v, np.generic):
            return v.item()
    except ImportError:  # pragma: no cover
        pass
    return str(v)


# ---------------------------------------------------------------------------- read side (GUI, scripts)
def read_metrics(run_dir: str | Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Records appended to <run_dir>/metrics.jsonl since byte `offset`, and the offset to pass next
    time. Only complete lines are returned, so it is safe to call while the trainer writes (tail -f)."""
    path = Path(run_dir) / "metrics.jsonl"
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            chunk = f.read()
    except FileNotFoundError:
        return [], offset
    end = chunk.rfind(b"\n")
    if end < 0:
        return [], offset
    records = []
    for line in chunk[:end].split(b"\n"):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records, offset + end + 1


def iter_metrics(run_dir: str | Path) -> Iterator[dict[str, Any]]:
    """Every complete record of a run's metrics.jsonl, in order."""
    yield from read_metrics(run_dir)[0]


def load_summary(run_dir: str | Path) -> dict[str, Any] | None:
    """summary.json of a finished (or stopped) run, or None while it is still running."""
    try:
        return json.loads((Path(run_dir) / "summary.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
