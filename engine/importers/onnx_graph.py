"""An ONNX file as the importer reads it, and what the ONNX importers (onnx, onnx_patterns,
onnx_channels) share. Imports only common, design/ and limits (onnx itself inside functions).

- `load_graph(path) -> (Graph, metadata)`: the file's size, operators, tensors and input shape checked
  before numpy converts a tensor or onnxruntime runs anything; refused by name otherwise.
- node helpers: `attrs`, `where`, `supported_line`; recurrent weights: `RnnSpec`, `rnn_spec`,
  `set_rnn_weights` (ONNX layouts and gate orders -> PyTorch's).
- the symbolic values the pattern reader gives tensors on the data path (onnx_patterns.py's docstring):
  `Aux` / `AUX`, `Seq`, `Vec`, `TimeMajor`, `Group`, `RnnY`, `RnnH`, `HState`, `RnnYDir`, `ChannelsFirst`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..limits import excerpt
from .common import (
    GATES,
    ONNX_GRU_TO_TORCH,
    ONNX_LSTM_TO_TORCH,
    DesignBuilder,
    ImportRefused,
    reorder_gates,
)

RECURRENT_OPS = {"GRU": "GRU", "LSTM": "LSTM", "RNN": "SimpleRNN"}
SUPPORTED_OPS = (
    "GRU",
    "LSTM",
    "RNN",
    "Gemm",
    "MatMul",
    "Add",
    "Mul",
    "Concat",
    "Transpose",
    "Reshape",
    "Squeeze",
    "Gather",
    "Slice",
    "Relu",
    "Tanh",
    "Sigmoid",
    "Softmax",
    "Gelu",
    "ReduceMean",
    "ReduceMax",
    "Flatten",
    "Identity",
    "Dropout",
    "LayerNormalization",
    "Conv",
    "Pad",
    "MaxPool",
    "AveragePool",
    "BatchNormalization",
)


# Operators that compute shapes, masks and constants beside the data path (our own exports and
# torch / tf2onnx glue use them). Anything else, control flow (Loop, If, Scan: subgraphs), functions and
# other domains are refused by name before the file is run.
AUX_OPS = (
    "Abs", "And", "ArgMax", "Cast", "CastLike", "Clip", "Constant", "ConstantOfShape", "Cos", "CumSum", "Div",
    "Equal", "Erf", "Exp", "Expand", "GatherElements", "GlobalAveragePool", "GlobalMaxPool", "Greater",
    "GreaterOrEqual", "Less", "LessOrEqual", "Log", "Max", "Min", "Neg", "Not", "Or", "Pow", "Range",
    "Reciprocal", "ReduceMin", "ReduceProd", "ReduceSum", "ScatterElements", "Shape", "Sin", "Size", "Softplus",
    "Split", "Sqrt", "Sub", "Tile", "Trilu", "Unsqueeze", "Where", "Xor", "Elu", "LeakyRelu", "Selu", "HardSigmoid",
)  # fmt: skip


def supported_line() -> str:
    return "supported ONNX ops on the data path: " + ", ".join(SUPPORTED_OPS)


@dataclass
class Graph:
    nodes: list
    consts: dict[str, np.ndarray]
    consumers: dict[str, list]
    input_name: str
    input_shape: tuple
    output_name: str


def load_graph(path: Path):
    import onnx
    from onnx import numpy_helper

    from .. import limits
    from ..design.project import regular_file_size

    cap = int(limits.MAX_MODEL_MB.value() * 1e6)
    size = regular_file_size(path, ImportRefused, folder="not a model file")
    if size > cap:
        raise ImportRefused(
            f"{path}: {size / 1e6:,.0f} MB is over the {cap / 1e6:,.0f} MB limit; {limits.MAX_MODEL_MB.hint()}"
        )
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # noqa: BLE001 - protobuf / IO errors of a bad file, all said in one line
        raise ImportRefused(f"{path}: not a readable ONNX file ({type(e).__name__}: {excerpt(str(e))})") from None
    _check_graph(model, path, cap)  # before any tensor is converted and before anything runs
    g = model.graph
    consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    for n in g.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    consts[n.output[0]] = numpy_helper.to_array(a.t)
    _check_sizes(g.node, consts, path, cap)
    inputs = [i for i in g.input if i.name not in consts]
    if len(inputs) != 1 or len(g.output) != 1:
        raise ImportRefused(
            f"{path}: the graph has {len(inputs)} inputs and {len(g.output)} outputs: RNN Studio "
            f"designs have exactly one input (batch, time, features) and one output"
        )
    dims = [d.dim_value if d.HasField("dim_value") else None for d in inputs[0].type.tensor_type.shape.dim]
    if len(dims) != 3 or dims[2] is None:
        raise ImportRefused(
            f"{path}: input '{excerpt(inputs[0].name)}' has shape {excerpt(dims)}: RNN Studio designs take "
            f"(batch, time, features) with a fixed feature size"
        )
    _check_input_dims(dims, path)
    consumers: dict[str, list] = {}
    for n in g.node:
        for name in n.input:
            consumers.setdefault(name, []).append(n)
    metadata = {p.key: p.value for p in model.metadata_props}
    return Graph(list(g.node), consts, consumers, inputs[0].name, tuple(dims), g.output[0].name), metadata


def _check_input_dims(dims: list, path: Path) -> None:
    from .. import limits

    batch, steps, features = dims
    for value, what, high in (
        (batch, "batch", 1024),
        (steps, "time steps", limits.MAX_VERIFY_STEPS.int_value()),
        (features, "features", 100_000),
    ):
        if value is not None and not 1 <= value <= high:
            raise ImportRefused(
                f"{path}: the input declares {value:,} {what} (1 to {high:,} are accepted): the import check "
                f"runs the file on that shape; export it with a dynamic batch / time axis"
            )


def _check_graph(model, path: Path, cap: int) -> None:
    """Refuse by name what import does not map, and every tensor whose declared size, type or storage is
    wrong, before numpy allocates anything or onnxruntime runs anything."""
    from onnx import AttributeProto

    allowed = set(SUPPORTED_OPS) | set(AUX_OPS)
    g = model.graph
    if len(model.functions) or len(g.sparse_initializer):
        raise ImportRefused(f"{path}: the file defines functions / sparse initializers, which import does not read")
    if len(g.node) > 100_000:
        raise ImportRefused(f"{path}: the graph has {len(g.node):,} nodes: more than any design exports to")
    for node in g.node:
        subgraph = any(a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS) for a in node.attribute)
        if node.domain not in ("", "ai.onnx") or node.op_type not in allowed or subgraph:
            raise ImportRefused(
                f"{path}: cannot import {where(node)}: import does not map this operator, so the file is not "
                f"run at all; {supported_line()}"
            )
        for a in node.attribute:
            if a.type == AttributeProto.SPARSE_TENSOR:
                raise ImportRefused(f"{path}: {where(node)} holds a sparse tensor, which import does not read")
            for t in [a.t] if a.type == AttributeProto.TENSOR else list(a.tensors):
                _check_tensor(t, f"{where(node)} attribute {excerpt(a.name)}", path, cap)
    total = 0
    for t in g.initializer:
        total += _check_tensor(t, f"initializer {excerpt(t.name)}", path, cap)
        if total > cap:
            raise ImportRefused(f"{path}: its initializers declare over {cap / 1e6:,.0f} MB; {_model_hint()}")


def _model_hint() -> str:
    from .. import limits

    return limits.MAX_MODEL_MB.hint()


def _check_tensor(t, what: str, path: Path, cap: int) -> int:
    """The bytes tensor `t` declares, once its type, dims and stored data agree; else ImportRefused."""
    from onnx import TensorProto, helper

    if t.data_location == TensorProto.EXTERNAL or len(t.external_data):
        raise ImportRefused(f"{path}: {what} stores its data in another file: refused, weights must be in the file")
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type))
        field_name = helper.tensor_dtype_to_field(t.data_type)
    except (KeyError, ValueError, TypeError):
        raise ImportRefused(f"{path}: {what} has an unknown data type ({t.data_type})") from None
    if dtype.kind not in "fiub" or t.data_type in (TensorProto.UNDEFINED, TensorProto.STRING):
        raise ImportRefused(f"{path}: {what} holds {dtype} values: weights are real numbers")
    if len(t.dims) > 8 or any(d < 0 for d in t.dims):
        raise ImportRefused(f"{path}: {what} declares dims {excerpt(list(t.dims))}")
    count = 1
    for d in t.dims:
        count *= int(d)
    declared = count * dtype.itemsize
    if declared > cap:
        raise ImportRefused(
            f"{path}: {what} declares dims {excerpt(list(t.dims))} ({declared / 1e6:,.0f} MB), over the "
            f"{cap / 1e6:,.0f} MB limit; {_model_hint()}"
        )
    stored = len(t.raw_data) if t.HasField("raw_data") else len(getattr(t, field_name))
    want = declared if t.HasField("raw_data") else count
    if stored != want:
        raise ImportRefused(
            f"{path}: {what} declares dims {excerpt(list(t.dims))} but stores {stored:,} "
            f"{'bytes' if t.HasField('raw_data') else 'values'} ({want:,} needed): the file is damaged"
        )
    return declared


def _check_sizes(nodes, consts: dict[str, np.ndarray], path: Path, cap: int) -> None:
    """Nodes whose output size is fixed by stored constants (ConstantOfShape, Expand, Tile, Range) must
    stay within the model limit: the import check would allocate their outputs."""
    for node in nodes:
        if node.op_type in ("ConstantOfShape", "Expand", "Tile") and len(node.input) > (
            node.op_type != "ConstantOfShape"
        ):
            arg = consts.get(node.input[0 if node.op_type == "ConstantOfShape" else 1])
            size = int(np.prod(np.abs(arg).astype(object))) if arg is not None and arg.size else 0
        elif node.op_type == "Range" and all(i in consts for i in node.input[:3]):
            start, limit, delta = (float(np.asarray(consts[i]).reshape(-1)[0]) for i in node.input[:3])
            size = int(abs((limit - start) / delta)) if delta and np.isfinite([start, limit, delta]).all() else 0
        else:
            continue
        if size * 4 > cap:
            raise ImportRefused(
                f"{path}: {where(node)} makes a tensor of {size:,} values, over the {cap / 1e6:,.0f} MB limit; "
                f"{_model_hint()}"
            )


def attrs(node) -> dict[str, Any]:
    from onnx import helper

    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        out[a.name] = (
            v.decode()
            if isinstance(v, bytes)
            else ([x.decode() if isinstance(x, bytes) else x for x in v] if isinstance(v, list) else v)
        )
    return out


def where(node) -> str:
    return f"node '{node.name or node.output[0]}' ({node.op_type})"


# ----------------------------------------------------------------------------- recurrent weights
@dataclass
class RnnSpec:
    cell: str  # GRU | LSTM | SimpleRNN
    units: int
    bidirectional: bool
    activation: str
    layers: list = field(default_factory=list)  # per layer: [(w_ih, w_hh, b_ih, b_hh) per direction]


def rnn_spec(node, consts, where: str) -> RnnSpec:
    op, a = node.op_type, attrs(node)
    cell = RECURRENT_OPS[op]
    direction = a.get("direction", "forward")
    if direction == "reverse":
        raise ImportRefused(f"{where}: direction=reverse is not supported (use forward or bidirectional)")
    if op == "GRU" and a.get("linear_before_reset", 0) != 1:
        raise ImportRefused(
            f"{where}: linear_before_reset=0 is not supported: PyTorch's GRU (= Keras "
            f"reset_after=True) is ONNX linear_before_reset=1"
        )
    if a.get("clip") is not None or a.get("input_forget") or a.get("layout"):
        raise ImportRefused(f"{where}: clip / input_forget / layout=1 are not supported")
    acts = a.get("activations")
    activation = "tanh"
    if op == "RNN" and acts and set(acts) == {"Relu"}:
        activation = "relu"
    elif acts and [x for x in acts] not in (
        ["Sigmoid", "Tanh"] * 2,
        ["Sigmoid", "Tanh", "Tanh"] * 2,
        ["Sigmoid", "Tanh"],
        ["Sigmoid", "Tanh", "Tanh"],
        ["Tanh"],
        ["Tanh"] * 2,
    ):
        raise ImportRefused(f"{where}: activations {acts} are not supported (PyTorch's fused cells)")
    ins = list(node.input) + [""] * 8
    if ins[4] or (op == "LSTM" and ins[7]):
        raise ImportRefused(f"{where}: sequence_lens / peepholes are not supported")
    for i in (1, 2) + ((3,) if ins[3] else ()):
        if ins[i] not in consts:
            raise ImportRefused(
                f"{where}: its weights are computed in the graph, not stored: re-export with do_constant_folding=True"
            )
    w, r = consts[ins[1]], consts[ins[2]]
    units, gates = a.get("hidden_size"), GATES[cell]
    if isinstance(units, bool) or not isinstance(units, int) or not 1 <= units <= 8192:
        raise ImportRefused(f"{where}: hidden_size = {excerpt(units)} (it must be given, a whole number 1 to 8192)")
    dirs_n = 2 if direction == "bidirectional" else 1
    b = consts[ins[3]] if ins[3] else np.zeros((dirs_n, 2 * gates * units), np.float32)
    if (
        w.ndim != 3
        or w.shape[:2] != (dirs_n, gates * units)
        or r.shape != (dirs_n, gates * units, units)
        or b.shape != (dirs_n, 2 * gates * units)
        or any(m.dtype.kind != "f" for m in (w, r, b))
    ):
        raise ImportRefused(
            f"{where}: weights W {w.shape}, R {r.shape}, B {b.shape} do not split into {gates} gate(s) of "
            f"hidden_size {units} for {dirs_n} direction(s): the file is damaged"
        )
    order = {"GRU": ONNX_GRU_TO_TORCH, "LSTM": ONNX_LSTM_TO_TORCH, "SimpleRNN": (0,)}[cell]
    dirs = [
        tuple(reorder_gates(m, order) for m in (w[d], r[d], b[d][: gates * units], b[d][gates * units :]))
        for d in range(w.shape[0])
    ]
    return RnnSpec(cell, units, direction == "bidirectional", activation, [dirs])


def set_rnn_weights(builder: DesignBuilder, bid: str, spec: RnnSpec) -> None:
    for layer, dirs in enumerate(spec.layers):
        for d, weights in enumerate(dirs):
            builder.set_recurrent(bid, layer, d == 1, *weights)


# ----------------------------------------------------------------------------- pattern values
class Aux:
    pass


AUX = Aux()


@dataclass
class Seq:
    block: str


@dataclass
class Vec:
    block: str


@dataclass
class TimeMajor:
    block: str


@dataclass
class Group:
    """Chained recurrent nodes of one torch module (num_layers), and the block made of them."""

    spec: RnnSpec
    source: str
    node_name: str
    block: str | None = None
    sequences: bool = False


@dataclass
class RnnY:
    group: Group
    layer: int
    stage: int


@dataclass
class RnnH:
    entries: list = field(default_factory=list)  # (group, layer, direction)


@dataclass
class HState:
    group: Group
    layer: int
    direction: int


@dataclass
class RnnYDir:
    """One direction of a bidirectional node's Y, sliced out as tf2onnx does (stage 0: (T, 1, B, H) from
    Slice on axis 1; 2: (T, B, H) after Squeeze; 3: (B, T, H) after the Transpose back to batch-first)."""

    group: Group
    direction: int
    stage: int


@dataclass
class ChannelsFirst:
    block: str
    pad: tuple = (0, 0)  # zeros a Pad node put before the time axis's next Conv / pool (left, right)
