"""What every importer shares: the refusal error, a design builder that collects blocks, links and
their weights (in PyTorch layout), gate reordering, and writing the design + a run folder whose
checkpoint holds the imported weights. No Qt, no TensorFlow, no keras.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..design.project import Block, Project, atomic_write_text

# Gate blocks, as index lists into the source order, giving PyTorch's order.
# Keras GRU z,r,h -> torch r,z,n ; ONNX GRU z,r,h -> torch r,z,n ; ONNX LSTM i,o,f,c -> torch i,f,g,o.
# Keras LSTM i,f,c,o is already torch's i,f,g,o.
KERAS_GRU_TO_TORCH = (1, 0, 2)
ONNX_GRU_TO_TORCH = (1, 0, 2)
ONNX_LSTM_TO_TORCH = (0, 2, 3, 1)
GATES = {"GRU": 3, "LSTM": 4, "SimpleRNN": 1}


class ImportRefused(ValueError):
    """The file cannot be imported faithfully: one line naming the layer / node, its type and the fix.
    The CLI turns it into exit 2; nothing is written."""


@dataclass
class ImportedModel:
    """A design plus its weights as a PyTorch state dict (numpy arrays keyed like DesignModel's)."""

    project: Project
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # things the user should know (not errors)
    source: str = ""  # the file imported
    source_format: str = ""  # "keras" | "onnx"
    meta: dict[str, Any] = field(default_factory=dict)  # RunMeta fields known from the file (ONNX metadata)
    in_graph_normalization: bool = False  # the file scales inputs / outputs itself (exported that way)


def reorder_gates(array: np.ndarray, order: tuple[int, ...], axis: int = 0) -> np.ndarray:
    """Split `array` into len(order) equal gate blocks along `axis` and put them in `order`."""
    blocks = np.split(np.asarray(array), len(order), axis=axis)
    return np.concatenate([blocks[i] for i in order], axis=axis)


def safe_id(name: str, taken: set[str]) -> str:
    """A valid, unused block id made from a layer / node name."""
    stem = re.sub(r"[^A-Za-z0-9_\-]+", "_", str(name)).strip("_-") or "block"
    if not re.match(r"[A-Za-z_]", stem):
        stem = "b_" + stem
    stem = stem[:60]
    out, n = stem, 1
    while out in taken:
        n += 1
        out = f"{stem}_{n}"
    taken.add(out)
    return out


class DesignBuilder:
    """Collects blocks and links in flow order, and the weights of each block (state-dict keys)."""

    def __init__(self, name: str):
        self.project = Project(name=name)
        self.weights: dict[str, np.ndarray] = {}
        self._taken: set[str] = set()

    def add(self, name: str, type_: str, params: dict[str, Any], inputs: Sequence[str] = ()) -> str:
        bid = safe_id(name, self._taken)
        self.project.blocks.append(Block(bid, type_, dict(params)))
        for src in inputs:
            self.project.links.append((src, bid))
        return bid

    def set_weight(self, block_id: str, key: str, value) -> None:
        self.weights[f"blocks.{block_id}.{key}"] = np.ascontiguousarray(np.asarray(value, dtype=np.float32))

    def set_recurrent(self, block_id: str, layer: int, reverse: bool, w_ih, w_hh, b_ih, b_hh) -> None:
        """One layer / direction of a fused torch RNN, already in torch gate order and layout."""
        suffix = f"l{layer}" + ("_reverse" if reverse else "")
        for key, value in (("weight_ih", w_ih), ("weight_hh", w_hh), ("bias_ih", b_ih), ("bias_hh", b_hh)):
            self.set_weight(block_id, f"rnn.{key}_{suffix}", value)

    def block(self, block_id: str) -> Block:
        block = self.project.block(block_id)
        assert block is not None, block_id  # importers pass only ids that add() handed out
        return block


# ----------------------------------------------------------------------------- checks and writing
def build_checked(imported: ImportedModel):
    """(CheckResult, DesignModel in eval mode with the imported weights). Raises ImportRefused when the
    design does not check or the weights do not fit it (an importer bug, said plainly)."""
    import torch

    from ..design.compile import build_model
    from ..design.shapes import check

    res = check(imported.project)
    if not res.ok:
        raise ImportRefused(f"{imported.source}: the imported design does not check: {res.errors[0].message}")
    model = build_model(imported.project, res)
    state = model.state_dict()
    missing = sorted(set(state) - set(imported.weights))
    extra = sorted(set(imported.weights) - set(state))
    if missing or extra:
        raise ImportRefused(
            f"{imported.source}: imported weights do not fit the design (missing {missing[:3]}, "
            f"unexpected {extra[:3]}); please report this file"
        )
    for key, value in imported.weights.items():
        if tuple(state[key].shape) != value.shape:
            raise ImportRefused(
                f"{imported.source}: weight {key} has shape {value.shape}, the design needs "
                f"{tuple(state[key].shape)}; please report this file"
            )
        state[key] = torch.from_numpy(value.copy())
    model.load_state_dict(state)
    return res, model.eval()


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


def import_model(path: str | Path) -> ImportedModel:
    """Read a .keras or .onnx file into a design + weights; raises ImportRefused."""
    p = Path(path)
    from ..design.project import regular_file_size

    regular_file_size(
        p, ImportRefused, missing_fix=": pass a Keras 3 .keras file or an .onnx file", folder="not a model file"
    )
    suffix = p.suffix.lower()
    try:
        if suffix == ".keras":
            from .keras import import_keras

            return _within_limits(import_keras(p))
        if suffix == ".onnx":
            from .onnx import import_onnx

            return _within_limits(import_onnx(p))
    except ImportRefused:
        raise
    except (
        ValueError,
        IndexError,
        KeyError,
        TypeError,
        AttributeError,
        OverflowError,
        MemoryError,
        RecursionError,
        OSError,  # h5py: a dataset it cannot read (a filter that is not available, damaged chunks)
        RuntimeError,
    ) as e:
        # the mappers index the file's config and weights as the format defines them: a file that
        # breaks those rules is damaged or crafted; one line, never a traceback
        from ..limits import excerpt

        raise ImportRefused(
            f"{p}: malformed model file ({type(e).__name__}: {excerpt(str(e))}): it does not follow the "
            f"{'Keras 3' if suffix == '.keras' else 'ONNX'} format's rules"
        ) from None
    if suffix in (".h5", ".hdf5"):
        raise ImportRefused(
            f"{p}: legacy Keras 2 HDF5 models are not supported: re-save it with Keras 3 as model.save('model.keras')"
        )
    raise ImportRefused(
        f"{p}: unknown model file type {suffix or '(none)'!r}: import reads .keras (Keras 3) and .onnx files"
    )


def _within_limits(imported: ImportedModel) -> ImportedModel:
    """An import must give a design that every other verb opens: the project file's own limits (block
    count, name length) and a run meta that loads (features a list of names, lookback >= 1)."""
    from .. import limits

    source = imported.source
    imported.project.name = limits.printable(imported.project.name)  # a lone surrogate cannot be saved as UTF-8
    cap = limits.MAX_NAME_CHARS.int_value()
    if len(imported.project.name) > cap:
        imported.project.name = imported.project.name[:cap]
        imported.notes.append(f"the model's name was cut to {cap} characters (the design name limit)")
    blocks = limits.MAX_BLOCKS.int_value()
    if len(imported.project.blocks) > blocks or len(imported.project.links) > 4 * blocks:
        raise ImportRefused(
            f"{source}: the imported design has {len(imported.project.blocks):,} blocks, over the limit of "
            f"{blocks:,}; {limits.MAX_BLOCKS.hint()}"
        )
    check_meta_fields(imported.meta, source)
    return imported


def check_meta_fields(meta: dict[str, Any], source: str) -> None:
    """Run-meta values a file recorded (ONNX metadata) must be what a run's meta holds: `features` a list
    of names, `lookback` a whole number >= 1, statistics numbers; else ImportRefused naming the key."""
    from ..limits import excerpt

    features = meta.get("features")
    if features is not None and (not isinstance(features, list) or not all(isinstance(f, str) for f in features)):
        raise ImportRefused(f"{source}: its metadata 'features' is {excerpt(features)}, not a list of column names")
    lookback = meta.get("lookback")
    if lookback is not None and (isinstance(lookback, bool) or not isinstance(lookback, int) or lookback < 1):
        raise ImportRefused(f"{source}: its metadata 'lookback' is {excerpt(lookback)}, not a whole number >= 1")
    for key in ("x_mean", "x_std"):
        value = meta.get(key)
        if value is not None and (
            not isinstance(value, list)
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        ):
            raise ImportRefused(f"{source}: its metadata '{key}' is {excerpt(value)}, not a list of numbers")
    for key in ("y_mean", "y_std", "horizon"):
        value = meta.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ImportRefused(f"{source}: its metadata '{key}' is {excerpt(value)}, not a number")


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
