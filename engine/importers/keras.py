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

from .. import limits
from ..limits import excerpt
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
    "Conv1D",
    "MaxPooling1D",
    "AveragePooling1D",
    "BatchNormalization",
    "RepeatVector",
    "Embedding",
    "Masking",
)
AWAITING_BLOCKS: tuple[str, ...] = ()  # layers a coming block will cover (refused by name until then)
_ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid", "gelu", "softmax")
_RECURRENT = ("GRU", "LSTM", "SimpleRNN")


def _supported_line() -> str:
    return "supported Keras layers: " + ", ".join(SUPPORTED)


class _Archive:
    """config.json and model.weights.h5 of a .keras zip, read with every size checked first: zip members
    are inflated through a bounded reader (RNN_STUDIO_MAX_MODEL_MB), config.json must be a UTF-8 JSON
    object nested at most RNN_STUDIO_MAX_DEPTH deep, and the HDF5 file is scanned before any data is read:
    external links, external raw storage and virtual datasets (which read other local files) are refused
    by name, and every dataset's declared size is checked against the limit and the bytes stored."""

    def __init__(self, path: Path):
        import h5py

        self.path = path
        self.cap = int(limits.MAX_MODEL_MB.value() * 1e6)
        if path.stat().st_size > self.cap:
            raise ImportRefused(
                f"{path}: {path.stat().st_size / 1e6:,.0f} MB is over the {self.cap / 1e6:,.0f} MB limit for a "
                f"model file; {limits.MAX_MODEL_MB.hint()}"
            )
        try:
            with zipfile.ZipFile(path) as z:
                if len(z.infolist()) > 10_000:
                    raise ImportRefused(
                        f"{path}: the archive holds {len(z.infolist()):,} files: not a Keras 3 .keras file"
                    )
                raw_config = self._member(z, "config.json")
                weights = self._member(z, "model.weights.h5")
        except (zipfile.BadZipFile, KeyError, OSError, EOFError, NotImplementedError, RuntimeError) as e:
            raise ImportRefused(
                f"{path}: not a Keras 3 .keras archive ({type(e).__name__}: {excerpt(str(e))}): save the "
                f"model with Keras 3 as model.save('model.keras')"
            ) from None
        self.config = self._parse_config(raw_config)
        try:
            self.h5 = h5py.File(io.BytesIO(weights), "r")
        except OSError as e:
            raise ImportRefused(f"{path}: model.weights.h5 is not an HDF5 file ({excerpt(str(e))})") from None
        self.size = len(weights)
        self.declared = 0
        self._scan(self.h5)

    def _member(self, z: zipfile.ZipFile, name: str) -> bytes:
        info = z.getinfo(name)
        if info.flag_bits & 0x1:
            raise ImportRefused(f"{self.path}: {name} is encrypted: save the model without a password")
        if info.file_size > self.cap:
            raise ImportRefused(
                f"{self.path}: {name} inflates to {info.file_size / 1e6:,.0f} MB, over the "
                f"{self.cap / 1e6:,.0f} MB limit; {limits.MAX_MODEL_MB.hint()}"
            )
        with z.open(info) as f:  # the declared size may lie: never read more than the limit
            data = f.read(self.cap + 1)
        if len(data) > self.cap:
            raise ImportRefused(
                f"{self.path}: {name} inflates beyond the {self.cap / 1e6:,.0f} MB limit; {limits.MAX_MODEL_MB.hint()}"
            )
        return data

    def _parse_config(self, raw: bytes) -> dict:
        try:
            config = json.loads(raw.decode("utf-8-sig"))
        except UnicodeDecodeError as e:
            raise ImportRefused(f"{self.path}: config.json is not UTF-8 (byte {e.start})") from None
        except json.JSONDecodeError as e:
            raise ImportRefused(f"{self.path}: config.json is not JSON (line {e.lineno}: {e.msg})") from None
        except RecursionError:
            config = None
        cap = limits.MAX_DEPTH.int_value()
        if config is None or limits.nesting_depth(config, cap) > cap:
            raise ImportRefused(
                f"{self.path}: config.json is nested more than {cap} levels deep; {limits.MAX_DEPTH.hint()}"
            )
        if not isinstance(config, dict):
            raise ImportRefused(f"{self.path}: config.json holds {type(config).__name__}, not a JSON object")
        return config

    def _scan(self, root) -> None:
        """Every link and dataset of the weights file, looked at without following a link or reading data."""
        import h5py

        stack = [("", root)]
        seen = {hash(root.id)}  # a group hard-linked inside itself would loop forever
        while stack:
            where, group = stack.pop()
            if len(seen) > 100_000:
                raise ImportRefused(
                    f"{self.path}: model.weights.h5 holds over 100,000 objects: not a Keras weights file"
                )
            for name in group:  # link names only: iterating follows nothing
                link = group.get(name, getlink=True)
                at = f"{where}/{name}"
                if isinstance(link, h5py.ExternalLink):
                    raise ImportRefused(
                        f"{self.path}: model.weights.h5 links {excerpt(at)} to another file "
                        f"({excerpt(link.filename)}): external links are refused, weights must be stored in the archive"
                    )
                if isinstance(link, h5py.SoftLink):
                    continue  # points inside this file: the target is scanned where it is stored
                item = group[name]
                if hash(item.id) in seen:
                    continue
                seen.add(hash(item.id))
                if isinstance(item, h5py.Group):
                    stack.append((at, item))
                elif isinstance(item, h5py.Dataset):
                    self._check_dataset(item, at)

    def _check_dataset(self, ds, at: str) -> None:
        if ds.is_virtual or ds.id.get_create_plist().get_external_count() > 0:
            raise ImportRefused(
                f"{self.path}: weight {excerpt(at)} is stored in another file (external / virtual "
                f"storage): refused, weights must be stored in the archive"
            )
        if ds.dtype.kind != "f":
            raise ImportRefused(
                f"{self.path}: weight {excerpt(at)} holds {ds.dtype} values: weights are real floating-point numbers"
            )
        declared = int(np.prod(ds.shape, dtype=object)) * ds.dtype.itemsize if ds.shape else ds.dtype.itemsize
        self.declared += declared
        stored = ds.id.get_storage_size()
        if self.declared > self.cap or declared > 1000 * stored + 1_000_000:
            raise ImportRefused(
                f"{self.path}: weight {excerpt(at)} declares shape {excerpt(ds.shape)} "
                f"({declared / 1e6:,.0f} MB) but the file stores {stored:,} bytes for it"
                + (
                    f" (limit {self.cap / 1e6:,.0f} MB; {limits.MAX_MODEL_MB.hint()})"
                    if self.declared > self.cap
                    else ""
                )
            )

    def name_stored_layers(self, layers: list[dict]) -> None:
        """Keras stores a model's layers under the snake_case name of their class, numbered per class in
        layer order (dense, dense_1, ...), not under the layers' own names: map one to the other."""
        used: dict[str, int] = {}
        self.stored: dict[str, str] = {}
        for layer in layers:
            stem = _snake_case(str(layer.get("class_name", "")))
            used[stem] = used.get(stem, -1) + 1
            name = layer.get("config", {}).get("name") or layer.get("name")
            if name is not None:  # a nameless layer is never looked up by name; it still counts above
                self.stored[name] = stem if used[stem] == 0 else f"{stem}_{used[stem]}"

    def vars(self, *parts: str) -> list[np.ndarray]:
        """The variables stored under layers/<parts...>/vars, in index order (parts[0]: the layer name)."""
        if "layers" not in self.h5:
            raise ImportRefused(f"{self.path}: model.weights.h5 has no 'layers' group: save the model with Keras 3")
        group = self.h5["layers"]
        stored = getattr(self, "stored", {}).get(parts[0], parts[0])
        if stored not in group and parts[0] in group:
            stored = parts[0]
        for part in (stored,) + parts[1:]:
            if part not in group or not hasattr(group[part], "keys"):
                raise ImportRefused(
                    f"{self.path}: no weights stored for layer '{excerpt('/'.join(parts))}' "
                    f"(the model was saved before it was built: call it once, then save)"
                )
            group = group[part]
        stored = group.get("vars", {})
        keys = list(stored)
        if not all(k.isdigit() and len(k) < 6 for k in keys):
            raise ImportRefused(
                f"{self.path}: layer '{excerpt('/'.join(parts))}' stores variables named {excerpt(keys)}: "
                f"Keras numbers them 0, 1, ..."
            )
        return [np.asarray(stored[k]) for k in sorted(keys, key=int)]


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
            f"{path}: a {excerpt(kind)} model is not supported: import reads Functional and Sequential "
            f"models (subclassed models have no config to read)"
        )
    layers = cfg.get("layers", []) if isinstance(cfg, dict) else None
    if not isinstance(layers, list) or not all(
        isinstance(x, dict) and isinstance(x.get("config", {}), dict) for x in layers
    ):
        raise ImportRefused(
            f"{path}: config.json's 'layers' is not a list of layer objects: save the model with Keras 3"
        )
    cap = limits.MAX_BLOCKS.int_value()
    if len(layers) > cap:  # before any work on them: one block per layer
        raise ImportRefused(
            f"{path}: the model has {len(layers):,} layers, over the limit of {cap:,} blocks in a design; "
            f"{limits.MAX_BLOCKS.hint()}"
        )
    return layers, kind


def _whole(cfg: dict, key: str, where: str, default: Any = None, high: int = 10_000_000) -> int:
    """A positive whole-number setting of a layer (units, filters, ...): refused unless an int in 1..high."""
    value = cfg.get(key, default)
    if (
        isinstance(value, (list, tuple))
        and len(value) == 1
        and key in ("kernel_size", "strides", "pool_size", "dilation_rate")
    ):
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise ImportRefused(f"{where}: {key} = {excerpt(value)} is not a whole number from 1 to {high:,}")
    return value


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
    dtype = cfg.get("dtype")
    dtype = dtype.get("config", {}).get("name") if isinstance(dtype, dict) else dtype
    if dtype in ("int32", "int64", "uint8", "int16", "uint16", "uint32") and shape and len(shape) == 2:
        return {"timesteps": shape[1], "features": 1, "dtype": "int64"}  # token ids: one per step
    if not shape or len(shape) != 3:
        raise ImportRefused(
            f"{where}: the model input has shape {shape}: RNN Studio designs take sequences "
            f"(batch, time, features), or integer token ids (batch, time)"
        )
    if dtype not in (None, "float32", "float16", "float64"):
        raise ImportRefused(
            f"{where}: input dtype {dtype} is not supported: inputs are float sequences "
            f"(batch, time, features) or integer token ids (batch, time)"
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
    mask_only = _mask_only_layers(layers) if kind != "Sequential" else set()
    for index, layer in enumerate(layers):
        lname = layer.get("config", {}).get("name") or layer.get("name") or f"layer{index}"
        cls = layer.get("class_name")
        if lname in mask_only:
            continue  # computes a padding mask: the design's Embedding / Masking block makes it
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
    _check_masks(layers, ids, builder, kind)
    return imported


def _tensor_names(obj) -> list[str]:
    """Layer names of the Keras tensors inside a (nested) config value."""
    if isinstance(obj, dict) and obj.get("class_name") == "__keras_tensor__":
        return [obj["config"]["keras_history"][0]]
    if isinstance(obj, dict):
        return [n for v in obj.values() for n in _tensor_names(v)]
    if isinstance(obj, (list, tuple)):
        return [n for v in obj for n in _tensor_names(v)]
    return []


def _mask_only_layers(layers: list[dict]) -> set[str]:
    """Layers (NotEqual, Any ... op layers) whose outputs only compute the padding masks passed to other
    layers' `mask` argument: a design recomputes those from its Embedding(mask_zero) / Masking blocks."""
    data_users: dict[str, set[str]] = {}
    mask_users: dict[str, set[str]] = {}
    for layer in layers:
        name = str(layer.get("config", {}).get("name") or layer.get("name"))
        for node in layer.get("inbound_nodes", [])[:1]:
            for src in _tensor_names(node.get("args", [])):
                data_users.setdefault(src, set()).add(name)
            for src in _tensor_names(node.get("kwargs", {}).get("mask")):
                mask_users.setdefault(src, set()).add(name)
    only: set[str] = set()
    for layer in reversed(layers):
        name = str(layer.get("config", {}).get("name") or layer.get("name"))
        users = data_users.get(name, set())
        if (users or mask_users.get(name)) and users <= only:
            only.add(name)
    return only


def _check_masks(layers: list[dict], ids: dict[str, str], builder: DesignBuilder, kind: str) -> None:
    """Every recurrent layer Keras calls with a padding mask honours the same mask in the design, and no other."""
    from ..design.blocks import CATALOG
    from ..design.compile import masked_recurrent_blocks
    from ..design.shapes import check

    res = check(builder.project)
    if not res.ok:
        return  # build_checked reports it
    masked = masked_recurrent_blocks(builder.project, res)
    present = {b.id for b in builder.project.blocks}  # a go_backwards twin fused into its partner is gone
    for layer in layers:
        name = str(layer.get("config", {}).get("name") or layer.get("name"))
        bid = ids.get(name)
        if bid not in present or not CATALOG[builder.block(bid).type].uses_mask:
            continue
        keras_masked = bool(_tensor_names((layer.get("inbound_nodes") or [{}])[0].get("kwargs", {}).get("mask")))
        if kind != "Sequential" and keras_masked != (bid in masked):
            raise ImportRefused(
                f"layer '{name}' ({layer.get('class_name')}) is called "
                f"{'with' if keras_masked else 'without'} a padding mask, which the design cannot "
                f"reproduce from its Embedding(mask_zero) / Masking blocks: please report this file"
            )
        cfg = layer.get("config", {})
        if bid in masked and cfg.get("zero_output_for_mask") and cfg.get("return_sequences"):
            raise ImportRefused(  # a one-way block repeats the last output at padded steps (Keras' default)
                f"layer '{name}' ({layer.get('class_name')}): zero_output_for_mask=True is not supported: a "
                f"one-way recurrent block repeats its last output at padded steps, as Keras does by default; "
                f"re-save with zero_output_for_mask=False (or wrap it in Bidirectional, which gives zeros)"
            )


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
    if cls in _WINDOW_MAPPERS:
        return _WINDOW_MAPPERS[cls](arc, builder, cfg, lname, cls, sources)
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
    from ..design.shapes import check

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
    params: dict[str, Any] = {"units": _whole(cfg, "units", f"a {cls} layer", high=8192)}
    if cfg.get("return_sequences"):
        params["return_sequences"] = True
    if cls == "SimpleRNN" and cfg.get("activation", "tanh") != "tanh":
        params["activation"] = cfg["activation"]
    return params


def _torch_weights(arc, cls: str, cfg: dict, parts: tuple[str, ...], units: int):
    """(w_ih, w_hh, b_ih, b_hh) in torch layout for one Keras recurrent layer."""
    values = arc.vars(*parts, "cell")
    gates = {"GRU": 3, "LSTM": 4, "SimpleRNN": 1}[cls]
    want = 3 if cfg.get("use_bias", True) else 2
    if len(values) < want:
        raise ImportRefused(
            f"{arc.path}: layer '{excerpt(parts[0])}' ({cls}) stores {len(values)} variables, needs {want}"
        )
    kernel, recurrent = values[0], values[1]
    bias_size = (2 if cls == "GRU" else 1) * gates * units
    if (
        kernel.ndim != 2
        or kernel.shape[1] != gates * units
        or recurrent.shape != (units, gates * units)
        or (want == 3 and values[2].size != bias_size)
    ):
        raise ImportRefused(
            f"{arc.path}: layer '{excerpt(parts[0])}' ({cls}, units={units}) stores weights of shapes "
            f"{excerpt([v.shape for v in values])}, which disagree with its config: the file is damaged"
        )
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
    params: dict[str, Any] = {"units": _whole(cfg, "units", where, high=1_000_000)}
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
    heads, key_dim = _whole(cfg, "num_heads", where, high=4096), _whole(cfg, "key_dim", where, high=65536)
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
    params: dict[str, Any] = {"num_heads": heads, "key_dim": key_dim}
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


# ----------------------------------------------------------------------------- convolution, pooling, BN
def _one(value, name: str, where: str) -> int | None:
    """A Keras 1D size: an int or a one-element list (None stays None)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise ImportRefused(f"{where}: {name}={value} is not a 1D size")
        value = value[0]
    return _whole({name: value}, name, where)


def _channels_last(cfg: dict, where: str) -> None:
    if cfg.get("data_format", "channels_last") != "channels_last":
        raise ImportRefused(
            f"{where}: data_format={cfg.get('data_format')!r} is not supported: RNN Studio "
            f"sequences are (batch, time, features), Keras' channels_last"
        )


def _map_conv1d(arc, builder, cfg, lname, cls, sources) -> str:
    where = f"layer '{lname}' (Conv1D)"
    _channels_last(cfg, where)
    if int(cfg.get("groups", 1)) != 1:
        raise ImportRefused(f"{where}: groups={cfg.get('groups')} is not supported (grouped convolution)")
    params = {
        "filters": _whole(cfg, "filters", where, high=100_000),
        "kernel_size": _one(cfg["kernel_size"], "kernel_size", where),
        "strides": _one(cfg.get("strides", 1), "strides", where),
        "padding": cfg.get("padding", "valid"),
        "dilation_rate": _one(cfg.get("dilation_rate", 1), "dilation_rate", where),
        "activation": _activation(cfg.get("activation", "linear"), where),
        "use_bias": bool(cfg.get("use_bias", True)),
    }
    bid = builder.add(lname, "Conv1D", params, sources)
    values = arc.vars(lname)
    builder.set_weight(bid, "conv.weight", np.transpose(values[0], (2, 1, 0)))  # (k, in, out) -> (out, in, k)
    if params["use_bias"]:
        builder.set_weight(bid, "conv.bias", values[1])
    return bid


def _map_window_pool(arc, builder, cfg, lname, cls, sources) -> str:
    where = f"layer '{lname}' ({cls})"
    _channels_last(cfg, where)
    size = _one(cfg.get("pool_size", 2), "pool_size", where)
    strides = _one(cfg.get("strides"), "strides", where)
    params = {
        "pool_size": size,
        "strides": None if strides == size else strides,
        "padding": cfg.get("padding", "valid"),
    }
    return builder.add(lname, cls, params, sources)


def _map_batch_norm(arc, builder, cfg, lname, cls, sources) -> str:
    where = f"layer '{lname}' (BatchNormalization)"
    axis = cfg.get("axis", -1)
    if (
        axis not in (-1, [-1])
        and not (_is_seq(builder, sources) and axis in (2, [2]))
        and not (not _is_seq(builder, sources) and axis in (1, [1]))
    ):
        raise ImportRefused(f"{where}: axis={axis} is not supported: RNN Studio normalizes the last (feature) axis")
    if cfg.get("renorm"):
        raise ImportRefused(f"{where}: renorm=True is not supported")
    center, scale = bool(cfg.get("center", True)), bool(cfg.get("scale", True))
    params = {
        "momentum": float(cfg.get("momentum", 0.99)),
        "epsilon": float(cfg.get("epsilon", 1e-3)),
        "center": center,
        "scale": scale,
    }
    bid = builder.add(lname, "BatchNormalization", params, sources)
    values = arc.vars(lname)
    for key, present in (("weight", scale), ("bias", center), ("running_mean", True), ("running_var", True)):
        if present:
            builder.set_weight(bid, key, values.pop(0))
    return bid


def _map_repeat(arc, builder, cfg, lname, cls, sources) -> str:
    return builder.add(
        lname, "RepeatVector", {"n": _whole(cfg, "n", f"layer '{lname}' (RepeatVector)", high=1_000_000)}, sources
    )


def _map_embedding(arc, builder, cfg, lname, cls, sources) -> str:
    where = f"layer '{lname}' (Embedding)"
    if cfg.get("embeddings_constraint") or cfg.get("lora_rank") or cfg.get("sparse"):
        raise ImportRefused(f"{where}: lora_rank / sparse embeddings are not supported")
    params = {
        "input_dim": _whole(cfg, "input_dim", where),
        "output_dim": _whole(cfg, "output_dim", where, high=65536),
        "mask_zero": bool(cfg.get("mask_zero", False)),
    }
    bid = builder.add(lname, "Embedding", params, sources)
    builder.set_weight(bid, "embedding.weight", arc.vars(lname)[0])
    return bid


def _map_masking(arc, builder, cfg, lname, cls, sources) -> str:
    return builder.add(lname, "Masking", {"mask_value": float(cfg.get("mask_value", 0.0))}, sources)


_WINDOW_MAPPERS = {
    "Embedding": _map_embedding,
    "Masking": _map_masking,
    "Conv1D": _map_conv1d,
    "MaxPooling1D": _map_window_pool,
    "AveragePooling1D": _map_window_pool,
    "BatchNormalization": _map_batch_norm,
    "RepeatVector": _map_repeat,
}
