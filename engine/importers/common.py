"""What every importer shares: the refusal error, the imported model record, a design builder that
collects blocks, links and their weights (in PyTorch layout), gate reordering, and the checks an import
passes (the design builds with its weights; metadata values are what a run's meta holds). Imports only
design/ and limits: the format modules (keras, onnx_*) build on it, saving.py writes its result.
No Qt, no TensorFlow, no keras.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..design.project import Block, Project

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


# ----------------------------------------------------------------------------- checks
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
