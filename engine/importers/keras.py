"""Keras 3 `.keras` files -> a design + PyTorch-layout weights, reading the zip archive's config.json
and model.weights.h5 with h5py only (no keras, no TensorFlow).

Weight conversions (Keras kernel (in, G*H) -> torch weight (G*H, in), so every kernel is transposed):
    GRU (reset_after=True)  gates z,r,h -> torch r,z,n; bias (2, 3H) = input bias, recurrent bias
    LSTM                    gates i,f,c,o = torch i,f,g,o; one bias (4H) -> bias_ih, bias_hh = 0
    SimpleRNN               one bias (H) -> bias_ih, bias_hh = 0
    Dense                   kernel (in, units) -> weight (units, in)
    MultiHeadAttention      query/key/value kernel (F, heads, k) -> (heads*k, F); output (heads, k, F) -> (F, heads*k)
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .common import (
    KERAS_GRU_TO_TORCH,
    DesignBuilder,
    ImportedModel,
    ImportRefused,
    reorder_gates,
)

SUPPORTED = (
    "InputLayer",
    "GRU",
    "LSTM",
    "SimpleRNN",
    "Bidirectional",
    "Dense",
    "Activation",
    "Dropout",
    "Concatenate",
    "Add",
    "Multiply",
    "Average",
    "LayerNormalization",
    "GlobalAveragePooling1D",
    "GlobalMaxPooling1D",
    "Flatten",
    "MultiHeadAttention",
    "TimeDistributed(Dense|Dropout|Activation)",
)
# Layers issue #13 part 6 adds blocks for; refused by name until then.
AWAITING_BLOCKS = (
    "Embedding",
    "Masking",
    "RepeatVector",
    "BatchNormalization",
    "MaxPooling1D",
    "AveragePooling1D",
    "Conv1D",
)
_ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid", "gelu", "softmax")
_RECURRENT = ("GRU", "LSTM", "SimpleRNN")


def _supported_line() -> str:
    return "supported Keras layers: " + ", ".join(SUPPORTED)


class _Archive:
    """config.json and model.weights.h5 of a .keras zip."""

    def __init__(self, path: Path):
        import h5py

        self.path = path
        try:
            with zipfile.ZipFile(path) as z:
                self.config = json.loads(z.read("config.json"))
                weights = z.read("model.weights.h5")
        except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, OSError) as e:
            raise ImportRefused(
                f"{path}: not a Keras 3 .keras archive ({type(e).__name__}: {e}): save the model "
                f"with Keras 3 as model.save('model.keras')"
            ) from None
        self.h5 = h5py.File(io.BytesIO(weights), "r")

    def name_stored_layers(self, layers: list[dict]) -> None:
        """Keras stores a model's layers under the snake_case name of their class, numbered per class in
        layer order (dense, dense_1, ...), not under the layers' own names: map one to the other."""
        used: dict[str, int] = {}
        self.stored: dict[str, str] = {}
        for layer in layers:
            stem = _snake_case(layer.get("class_name", ""))
            used[stem] = used.get(stem, -1) + 1
            name = layer.get("config", {}).get("name") or layer.get("name")
            self.stored[name] = stem if used[stem] == 0 else f"{stem}_{used[stem]}"

    def vars(self, *parts: str) -> list[np.ndarray]:
        """The variables stored under layers/<parts...>/vars, in index order (parts[0]: the layer name)."""
        group = self.h5["layers"]
        stored = getattr(self, "stored", {}).get(parts[0], parts[0])
        if stored not in group and parts[0] in group:
            stored = parts[0]
        for part in (stored,) + parts[1:]:
            if part not in group:
                raise ImportRefused(
                    f"{self.path}: no weights stored for layer '{'/'.join(parts)}' "
                    f"(the model was saved before it was built: call it once, then save)"
                )
            group = group[part]
        stored = group.get("vars", {})
        return [np.asarray(stored[k]) for k in sorted(stored, key=int)]


def _snake_case(name: str) -> str:
    """keras.src.utils.naming.to_snake_case."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


# ----------------------------------------------------------------------------- graph
def _layer_list(config: dict, path: Path) -> tuple[list[dict], str]:
    kind = config.get("class_name")
    cfg = config.get("config", {})
    if kind not in ("Functional", "Sequential", "Model"):
        raise ImportRefused(
            f"{path}: a {kind} model is not supported: import reads Functional and Sequential "
            f"models (subclassed models have no config to read)"
        )
    return cfg.get("layers", []), kind


def _inbound(layer: dict) -> list[str]:
    """Names of the layers feeding `layer` (Functional config), in argument order."""
    nodes = layer.get("inbound_nodes", [])
    if len(nodes) > 1:
        raise ImportRefused(
            f"layer '{layer['name']}' ({layer['class_name']}) is called {len(nodes)} times (shared "
            f"weights): RNN Studio designs have one block per call; unshare the layer"
        )
    if not nodes:
        return []
    out: list[str] = []

    def walk(obj):
        if isinstance(obj, dict) and obj.get("class_name") == "__keras_tensor__":
            out.append(obj["config"]["keras_history"][0])
        elif isinstance(obj, (list, tuple)):
            for item in obj:
                walk(item)

    walk(nodes[0].get("args", []))
    return out


def _input_params(layer: dict, where: str) -> dict[str, Any]:
    cfg = layer.get("config", {})
    shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
    if shape is None and layer.get("build_config"):
        shape = layer["build_config"].get("input_shape")
    if not shape or len(shape) != 3:
        raise ImportRefused(
            f"{where}: the model input has shape {shape}: RNN Studio designs take sequences "
            f"(batch, time, features); integer token input needs the Embedding block (not yet)"
        )
    if cfg.get("dtype") not in (None, "float32", "float16", "float64"):
        raise ImportRefused(
            f"{where}: input dtype {cfg.get('dtype')} is not supported: inputs are float "
            f"sequences (integer tokens need the Embedding block, not yet in the catalog)"
        )
    if shape[2] is None:
        raise ImportRefused(f"{where}: the input's feature size is unknown: give Input a fixed last dimension")
    return {"timesteps": shape[1], "features": shape[2]}


def import_keras(path: str | Path) -> ImportedModel:
    path = Path(path)
    arc = _Archive(path)
    layers, kind = _layer_list(arc.config, path)
    arc.name_stored_layers(layers)
    name = arc.config.get("config", {}).get("name") or path.stem
    generic = re.fullmatch(r"(functional|sequential|model)(_\d+)?", str(name))  # Keras' automatic names
    builder = DesignBuilder(path.stem if generic else name)
    imported = ImportedModel(builder.project, builder.weights, source=str(path), source_format="keras")
    ids: dict[str, str] = {}  # keras layer name -> block id
    prev: str | None = None
    for index, layer in enumerate(layers):
        lname = layer.get("config", {}).get("name") or layer.get("name") or f"layer{index}"
        cls = layer.get("class_name")
        if kind == "Sequential":
            if cls == "InputLayer" or (prev is None and layer.get("build_config")):
                if prev is None:
                    prev = ids["__input__"] = builder.add(
                        "input",
                        "Input",
                        _input_params(
                            layer if cls == "InputLayer" else {"build_config": layer["build_config"]}, str(path)
                        ),
                    )
                if cls == "InputLayer":
                    continue
            if prev is None:
                raise ImportRefused(
                    f"{path}: the Sequential model has no input shape: build it with "
                    f"keras.Input((timesteps, features)) first"
                )
            sources = [prev]
        else:
            sources = [ids[s] if s in ids else _unknown_source(s, lname) for s in _inbound(layer)]
        bid = _map_layer(arc, builder, imported, layer, lname, cls, sources)
        ids[lname] = bid
        prev = bid
    _check_single_io(arc.config, kind, path)
    return imported


def _unknown_source(src: str, lname: str):
    raise ImportRefused(
        f"layer '{lname}' is fed by '{src}', which comes later in the file: the model graph is "
        f"not in flow order; please report this file"
    )


def _check_single_io(config: dict, kind: str, path: Path) -> None:
    if kind == "Sequential":
        return
    cfg = config.get("config", {})
    for key, what in (("input_layers", "inputs"), ("output_layers", "outputs")):
        items = cfg.get(key) or []
        if items and isinstance(items[0], list) and len(items) > 1:
            raise ImportRefused(
                f"{path}: the model has {len(items)} {what}: RNN Studio designs have exactly one input and one output"
            )


# ----------------------------------------------------------------------------- layers
def _map_layer(arc, builder, imported, layer, lname, cls, sources) -> str:
    cfg = layer.get("config", {})
    where = f"layer '{lname}' ({cls})"
    if cls == "InputLayer":
        return builder.add(lname, "Input", _input_params(layer, where))
    if cls in _RECURRENT:
        return _map_recurrent(arc, builder, imported, cfg, lname, cls, sources, (lname,))
    if cls == "Bidirectional":
        return _map_bidirectional(arc, builder, imported, cfg, lname, sources)
    if cls == "Dense":
        return _map_dense(arc, builder, cfg, lname, sources)
    if cls == "TimeDistributed":
        return _map_time_distributed(arc, builder, cfg, lname, sources)
    if cls == "Activation":
        return builder.add(lname, "Activation", {"activation": _activation(cfg.get("activation"), where)}, sources)
    if cls == "Dropout":
        return builder.add(lname, "Dropout", {"rate": float(cfg.get("rate", 0.0))}, sources)
    if cls in ("Concatenate", "Add"):
        if cls == "Concatenate" and cfg.get("axis", -1) not in (-1, 2 if _is_seq(builder, sources) else 1):
            raise ImportRefused(
                f"{where} joins on axis {cfg.get('axis')}: RNN Studio's Concatenate joins on the "
                f"last (feature) axis only"
            )
        return builder.add(lname, cls, {}, sources)
    if cls in ("Multiply", "Average"):
        return _map_pair_merge(builder, lname, cls, sources)
    if cls == "LayerNormalization":
        return _map_layer_norm(arc, builder, cfg, lname, sources)
    if cls in ("GlobalAveragePooling1D", "GlobalMaxPooling1D"):
        if cfg.get("data_format", "channels_last") != "channels_last" or cfg.get("keepdims"):
            raise ImportRefused(f"{where}: only data_format=channels_last and keepdims=False are supported")
        return builder.add(lname, cls, {}, sources)
    if cls == "Flatten":
        return builder.add(lname, "Flatten", {}, sources)
    if cls == "MultiHeadAttention":
        return _map_attention(arc, builder, layer, lname, sources)
    if cls in ("Functional", "Sequential", "Model"):
        raise ImportRefused(
            f"cannot import {where}: a model nested inside the model is not supported: build it "
            f"as one flat model (call the inner model's layers directly); {_supported_line()}"
        )
    why = (
        " (a block for it is coming with issue #13's new blocks)"
        if cls in AWAITING_BLOCKS
        else " (RNN Studio has no block for it)"
    )
    raise ImportRefused(f"cannot import {where}{why}; {_supported_line()}")


def _is_seq(builder: DesignBuilder, sources: list[str]) -> bool:
    from ..shapes import check

    res = check(builder.project)
    shape = res.shapes.get(sources[0]) if sources else None
    return shape is not None and len(shape) == 3


def _activation(value, where: str) -> str:
    name = value if isinstance(value, str) else (value or {}).get("config", {}).get("name", value)
    if name not in _ACTIVATIONS:
        raise ImportRefused(f"{where}: activation {name!r} is not supported: choose one of {', '.join(_ACTIVATIONS)}")
    return name


def _check_cell(cfg: dict, cls: str, where: str) -> None:
    if cfg.get("stateful"):
        raise ImportRefused(
            f"{where}: stateful=True is not supported: RNN Studio blocks start each sequence "
            f"from a zero state; re-save with stateful=False"
        )
    if cfg.get("return_state"):
        raise ImportRefused(
            f"{where}: return_state=True gives several outputs: RNN Studio blocks return the "
            f"sequence or the final state; set return_state=False"
        )
    if cls == "GRU" and not cfg.get("reset_after", True):
        raise ImportRefused(
            f"{where}: reset_after=False is not supported (PyTorch's GRU is Keras' "
            f"reset_after=True): retrain the model with reset_after=True"
        )
    act = cfg.get("activation", "tanh")
    if cls == "SimpleRNN":
        if act not in ("tanh", "relu"):
            raise ImportRefused(f"{where}: activation {act!r} is not supported: SimpleRNN takes tanh or relu")
    elif act != "tanh" or cfg.get("recurrent_activation", "sigmoid") != "sigmoid":
        raise ImportRefused(
            f"{where}: activation {act!r} / recurrent_activation "
            f"{cfg.get('recurrent_activation')!r} are not supported: PyTorch's fused {cls} uses "
            f"tanh and sigmoid"
        )


def _recurrent_params(cfg: dict, cls: str) -> dict[str, Any]:
    params: dict[str, Any] = {"units": int(cfg["units"])}
    if cfg.get("return_sequences"):
        params["return_sequences"] = True
    if cls == "SimpleRNN" and cfg.get("activation", "tanh") != "tanh":
        params["activation"] = cfg["activation"]
    return params


def _torch_weights(arc, cls: str, cfg: dict, parts: tuple[str, ...], units: int):
    """(w_ih, w_hh, b_ih, b_hh) in torch layout for one Keras recurrent layer."""
    values = arc.vars(*parts, "cell")
    kernel, recurrent = values[0], values[1]
    gates = {"GRU": 3, "LSTM": 4, "SimpleRNN": 1}[cls]
    if cfg.get("use_bias", True):
        bias = values[2]
    else:
        bias = np.zeros((2, gates * units) if cls == "GRU" else (gates * units,), np.float32)
    if cls == "GRU":
        b = np.asarray(bias).reshape(2, 3 * units)
        order = KERAS_GRU_TO_TORCH
        return (
            reorder_gates(kernel.T, order),
            reorder_gates(recurrent.T, order),
            reorder_gates(b[0], order),
            reorder_gates(b[1], order),
        )
    zero = np.zeros(gates * units, np.float32)
    return kernel.T, recurrent.T, bias, zero


def _note_dropout(imported: ImportedModel, cfg: dict, where: str) -> None:
    if cfg.get("dropout") or cfg.get("recurrent_dropout"):
        imported.notes.append(
            f"{where}: dropout={cfg.get('dropout')} / recurrent_dropout="
            f"{cfg.get('recurrent_dropout')} act only while training in Keras; RNN Studio has no "
            f"equivalent on a single layer, so fine-tuning runs without them (outputs are equal)"
        )


def _map_recurrent(arc, builder, imported, cfg, lname, cls, sources, parts) -> str:
    where = f"layer '{lname}' ({cls})"
    _check_cell(cfg, cls, where)
    _note_dropout(imported, cfg, where)
    params = _recurrent_params(cfg, cls)
    if cfg.get("go_backwards"):
        params["go_backwards"] = True
    bid = builder.add(lname, cls, params, sources)
    builder.set_recurrent(bid, 0, False, *_torch_weights(arc, cls, cfg, parts, params["units"]))
    return bid


def _map_bidirectional(arc, builder, imported, cfg, lname, sources) -> str:
    fwd, bwd = cfg["layer"], cfg.get("backward_layer") or cfg["layer"]
    cls = fwd.get("class_name")
    where = f"layer '{lname}' (Bidirectional({cls}))"
    if cls not in _RECURRENT or bwd.get("class_name") != cls:
        raise ImportRefused(
            f"cannot import {where}: Bidirectional wraps GRU, LSTM or SimpleRNN (the same type "
            f"both ways); {_supported_line()}"
        )
    fcfg, bcfg = fwd["config"], bwd["config"]
    for c in (fcfg, bcfg):
        _check_cell(c, cls, where)
    _note_dropout(imported, fcfg, where)
    mode = cfg.get("merge_mode", "concat")
    if mode not in ("concat", "sum", "mul", "ave"):
        raise ImportRefused(f"{where}: merge_mode {mode!r} is not supported: use concat, sum, mul or ave")
    if (_recurrent_params(fcfg, cls) != _recurrent_params(bcfg, cls)) or fcfg.get("go_backwards"):
        raise ImportRefused(
            f"{where}: its forward and backward layers differ (units, return_sequences or "
            f"activation): RNN Studio's bidirectional block uses one setting for both"
        )
    params = {**_recurrent_params(fcfg, cls), "bidirectional": True}
    if mode != "concat":
        params["merge_mode"] = mode
    bid = builder.add(lname, cls, params, sources)
    units = params["units"]
    builder.set_recurrent(bid, 0, False, *_torch_weights(arc, cls, fcfg, (lname, "forward_layer"), units))
    builder.set_recurrent(bid, 0, True, *_torch_weights(arc, cls, bcfg, (lname, "backward_layer"), units))
    return bid


def _map_dense(arc, builder, cfg, lname, sources, parts: tuple[str, ...] = ()) -> str:
    where = f"layer '{lname}' (Dense)"
    params: dict[str, Any] = {"units": int(cfg["units"])}
    act = _activation(cfg.get("activation", "linear"), where)
    if act != "linear":
        params["activation"] = act
    use_bias = cfg.get("use_bias", True)
    if not use_bias:
        params["use_bias"] = False
    bid = builder.add(lname, "Dense", params, sources)
    values = arc.vars(lname, *parts)
    builder.set_weight(bid, "linear.weight", values[0].T)
    if use_bias:
        builder.set_weight(bid, "linear.bias", values[1])
    return bid


def _map_time_distributed(arc, builder, cfg, lname, sources) -> str:
    """TimeDistributed(Dense) is Dense: RNN Studio's Dense already acts on every time step (Keras 3)."""
    inner = cfg.get("layer", {})
    kind = inner.get("class_name")
    if kind == "Dense":
        if not _is_seq(builder, sources):
            raise ImportRefused(f"layer '{lname}' (TimeDistributed(Dense)) needs a sequence input")
        return _map_dense(arc, builder, inner.get("config", {}), lname, sources, ("layer",))
    if kind in ("Dropout", "Activation"):
        inner_cfg = inner.get("config", {})
        if kind == "Dropout":
            return builder.add(lname, "Dropout", {"rate": float(inner_cfg.get("rate", 0.0))}, sources)
        where = f"layer '{lname}' (TimeDistributed(Activation))"
        return builder.add(
            lname, "Activation", {"activation": _activation(inner_cfg.get("activation"), where)}, sources
        )
    raise ImportRefused(
        f"cannot import layer '{lname}' (TimeDistributed({kind})): only Dense, Dropout and "
        f"Activation can be wrapped (they act per time step already); {_supported_line()}"
    )


def _map_layer_norm(arc, builder, cfg, lname, sources) -> str:
    where = f"layer '{lname}' (LayerNormalization)"
    axis = cfg.get("axis", -1)
    if axis not in (-1, [-1]) and not (isinstance(axis, list) and len(axis) == 1 and axis[0] in (1, 2)):
        raise ImportRefused(f"{where}: axis={axis} is not supported: RNN Studio normalizes over the last axis")
    if cfg.get("rms_scaling"):
        raise ImportRefused(f"{where}: rms_scaling=True is not supported")
    eps = float(cfg.get("epsilon", 1e-3))
    bid = builder.add(lname, "LayerNormalization", {"epsilon": eps} if eps != 1e-3 else {}, sources)
    values = arc.vars(lname)
    scale, center = cfg.get("scale", True), cfg.get("center", True)
    width = values[0].shape[0] if values else None
    gamma = values.pop(0) if scale else np.ones(width or 1, np.float32)
    beta = values.pop(0) if center else np.zeros(gamma.shape[0], np.float32)
    builder.set_weight(bid, "weight", gamma)
    builder.set_weight(bid, "bias", beta)
    return bid


def _map_pair_merge(builder: DesignBuilder, lname: str, cls: str, sources: list[str]) -> str:
    """Multiply / Average have no block of their own; the one construction they map onto is a forward
    recurrent layer and a go_backwards twin, both returning their last state, read from the same input:
    that is one bidirectional block with merge_mode mul / ave (time order does not matter for a state)."""
    where = f"layer '{lname}' ({cls})"
    blocks = [builder.block(s) for s in sources]
    mode = "mul" if cls == "Multiply" else "ave"
    fusable = (
        len(blocks) == 2
        and all(b.type in _RECURRENT for b in blocks)
        and blocks[0].type == blocks[1].type
        and not any(b.params.get("return_sequences") or b.params.get("bidirectional") for b in blocks)
        and [bool(b.params.get("go_backwards")) for b in blocks] == [False, True]
        and {k: v for k, v in blocks[0].params.items() if k != "go_backwards"}
        == {k: v for k, v in blocks[1].params.items() if k != "go_backwards"}
        and builder.project.inputs_of(blocks[0].id) == builder.project.inputs_of(blocks[1].id)
        and not builder.project.outputs_of(blocks[0].id)
        and not builder.project.outputs_of(blocks[1].id)
    )
    if not fusable:
        raise ImportRefused(
            f"cannot import {where}: RNN Studio has no {cls} block; it imports only as the merge "
            f"of a forward and a go_backwards recurrent layer (last states, same input); "
            f"{_supported_line()}"
        )
    fwd, bwd = blocks
    fwd.params.update({"bidirectional": True, "merge_mode": mode})
    prefix_f, prefix_b = f"blocks.{fwd.id}.rnn.", f"blocks.{bwd.id}.rnn."
    for key in [k for k in builder.weights if k.startswith(prefix_b)]:
        builder.weights[prefix_f + key[len(prefix_b) :] + "_reverse"] = builder.weights.pop(key)
    builder.project.links = [link for link in builder.project.links if bwd.id not in link]
    builder.project.blocks.remove(bwd)
    return fwd.id


def _map_attention(arc, builder, layer, lname, sources) -> str:
    cfg = layer["config"]
    where = f"layer '{lname}' (MultiHeadAttention)"
    heads, key_dim = int(cfg["num_heads"]), int(cfg["key_dim"])
    kwargs = (layer.get("inbound_nodes") or [{}])[0].get("kwargs", {})
    if len(set(sources)) != 1 or kwargs.get("key") is not None:
        raise ImportRefused(f"{where}: only self-attention (query = value = key, one input tensor) is supported")
    if (
        cfg.get("value_dim") not in (None, key_dim)
        or cfg.get("output_shape")
        or cfg.get("use_gate")
        or cfg.get("attention_axes") not in (None, [1], (1,))
        or cfg.get("sliding_window")
    ):
        raise ImportRefused(
            f"{where}: value_dim, output_shape, use_gate, sliding_window and attention_axes must "
            f"keep their defaults (value_dim = key_dim)"
        )
    if kwargs.get("attention_mask") is not None or kwargs.get("return_attention_scores"):
        raise ImportRefused(f"{where}: attention_mask / return_attention_scores are not supported")
    params = {"num_heads": heads, "key_dim": key_dim}
    if cfg.get("dropout"):
        params["dropout"] = float(cfg["dropout"])
    if kwargs.get("use_causal_mask"):
        params["causal"] = True
    bid = builder.add(lname, "MultiHeadAttention", params, sources[:1])
    use_bias = cfg.get("use_bias", True)
    if not use_bias:
        raise ImportRefused(f"{where}: use_bias=False is not supported (the block always has biases)")
    for part, key in (("query_dense", "query"), ("key_dense", "key"), ("value_dense", "value")):
        kernel, bias = arc.vars(lname, part)[:2]
        builder.set_weight(bid, f"{key}.weight", kernel.reshape(kernel.shape[0], -1).T)
        builder.set_weight(bid, f"{key}.bias", bias.reshape(-1))
    kernel, bias = arc.vars(lname, "output_dense")[:2]
    builder.set_weight(bid, "output.weight", kernel.reshape(-1, kernel.shape[-1]).T)
    builder.set_weight(bid, "output.bias", bias)
    return bid
