"""An import as a run folder: the design snapshot, best.pt = last.pt holding the imported weights (a
checkpoint with the trainer's keys, never trained) and summary.json (stop_reason "imported"); then the
design file. The one importer module that imports training/ (checkpoints, runs), and only inside its
functions, so reading a model file never loads the trainer. `train --init-from` asks `fine_tune_note`
whether its run is an import.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ..design.project import atomic_write_text
from .common import ImportedModel, ImportRefused, build_checked


def imported_checkpoint(model, imported: ImportedModel) -> dict[str, Any]:
    """A checkpoint dict with today's trainer keys (engine/training/train.py state_dict): the run verbs read
    'format', 'model' and 'meta'; epoch/step 0 and no optimizer state mark it as never trained."""
    from ..training.checkpoints import CHECKPOINT_VERSION, design_fingerprint, tensor_shapes
    from ..training.runs import CHECKPOINT_FORMAT

    weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "fingerprint": design_fingerprint(imported.project),
        "shapes": tensor_shapes(weights),
        "model": weights,
        "optimizer": None,
        "scheduler": None,
        "scaler": None,
        "epoch": 0,
        "step": 0,
        "rng": None,
        "meta": run_meta(imported, model).to_dict(),
        "config": {},
        "train_state": {"epoch": 0, "step": 0},
        "imported_from": {"path": imported.source, "format": imported.source_format},
    }


def run_meta(imported: ImportedModel, model):
    """The run's RunMeta. An imported model takes the raw values its source was fed, so unless the file
    recorded statistics (our own ONNX exports) the normalization is the identity: evaluate / predict then
    feed values unchanged. Feature names default to f0, f1, ... (as for .npz data); `import --features`
    and `--target` name CSV columns."""
    from ..training.runs import RunMeta

    width, steps = model.input_shape[-1], model.input_shape[1]
    meta = {
        "project_name": imported.project.name,
        "task": str(imported.project.training.get("task", "regression")),
        "features": [f"f{i}" for i in range(width)],
        "lookback": steps,
        **imported.meta,
    }
    if meta.get("x_mean") is None or meta.get("x_std") is None:
        meta.update(x_mean=[0.0] * width, x_std=[1.0] * width)
    if meta["task"] == "regression" and (meta.get("y_mean") is None or meta.get("y_std") is None):
        meta.update(y_mean=0.0, y_std=1.0)
    if meta.get("lookback") is None:
        meta.pop("lookback")
    return RunMeta.from_dict(meta)


def write_checkpoint(path: Path, checkpoint: dict[str, Any]) -> None:
    """The trainer's one checkpoint writer: complete or absent, write errors named (RunError)."""
    from ..training.checkpoints import save_checkpoint

    save_checkpoint(Path(path), checkpoint)


def write_import(imported: ImportedModel, design_path: str | Path, runs_dir: str | Path = "runs") -> Path:
    """Write a run folder (design snapshot, best.pt = last.pt with the imported weights, summary.json)
    and then the design file; returns the run folder. Any failure (ImportRefused naming the path) leaves
    neither behind."""
    import shutil

    from ..training.runs import RunError, new_run_dir

    _, model = build_checked(imported)
    design_path = Path(design_path)
    try:
        run_dir = new_run_dir(runs_dir, imported.project.name)
    except RunError as e:
        raise ImportRefused(str(e)) from None
    try:
        _write_run(imported, model, run_dir)
        imported.project.save(design_path)
    except (OSError, RunError) as e:
        shutil.rmtree(run_dir, ignore_errors=True)
        if isinstance(e, RunError):
            raise ImportRefused(str(e)) from None
        reason = e.strerror or str(e) or type(e).__name__
        raise ImportRefused(
            f"{e.filename or design_path}: cannot write there ({reason}): choose another -o / --out"
        ) from None
    return run_dir


def _write_run(imported: ImportedModel, model, run_dir: Path) -> None:
    from ..training.runs import checkpoint_path

    atomic_write_text(run_dir / "project.rnn.json", imported.project.to_json())
    ckpt = imported_checkpoint(model, imported)
    write_checkpoint(checkpoint_path(run_dir, "best"), ckpt)
    write_checkpoint(checkpoint_path(run_dir, "last"), ckpt)
    summary = {
        "run": str(run_dir),
        "name": imported.project.name,
        "stop_reason": "imported",
        "imported_from": imported.source,
        "format": imported.source_format,
        "epochs_completed": 0,
        "steps": 0,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "notes": imported.notes,
        "checkpoints": {"best": True, "last": True},
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
    }
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")


def fine_tune_note(run: str | Path) -> str | None:
    """One line for `train --init-from RUN` when RUN is an import (summary stop_reason "imported") whose
    design reads float values: the new run fits its normalization on its own training split as every run
    does, so the imported weights first see inputs scaled differently from what their source fed them.
    None for trained runs and token-id designs (ids are never normalized)."""
    from ..design.blocks import is_token_input
    from ..design.project import load_project
    from ..training.checkpoints import load_checkpoint

    run = Path(run)
    try:
        summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
        project = load_project(run / "project.rnn.json")
    except (OSError, ValueError):
        return None
    if not isinstance(summary, dict) or summary.get("stop_reason") != "imported":
        return None
    if any(b.type == "Input" and is_token_input(b.resolved()) for b in project.blocks):
        return None
    try:
        meta = load_checkpoint(run / "checkpoints" / "best.pt").get("meta") or {}
    except Exception:  # noqa: BLE001 - an unreadable checkpoint is reported by the trainer itself
        meta = {}
    identity = all(v == 0 for v in meta.get("x_mean") or [0]) and all(v == 1 for v in meta.get("x_std") or [1])
    fed = "raw values (identity normalization)" if identity else "values normalized with its source's statistics"
    return (
        f"note: {run.name} is an imported model that was fed {fed}; this new run fits the normalization on "
        f"its own training split as every run does (x' = (x - mean) / std per feature, and the target for "
        f"regression), fine-tunes the imported weights on those values, and saves them in its checkpoint for "
        f"evaluate / predict / export (docs/import.md)"
    )
