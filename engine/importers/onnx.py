"""ONNX files -> a design + PyTorch-layout weights.

Two kinds of files:
- RNN Studio's own exports carry the design in their metadata ("design"); the weights are read from
  the graph's weight-carrying operators in flow order (GRU/LSTM/RNN nodes, Gemm / MatMul(+Add),
  LayerNormalization), one block after the other.
- Foreign files (torch.onnx.export of nn.GRU / nn.LSTM / nn.RNN stacks with nn.Linear heads) are read by
  recognising patterns of operators and graph structure (never node names): Transpose to time-major,
  chained recurrent nodes (num_layers), Y re-shaped back to (batch, time, features), Y_h gathered for
  the last state (h_n[-1], or cat(h_n[-2], h_n[-1]) for a bidirectional layer), Gemm / MatMul+Add
  heads, elementwise activations, Concat / Add, ReduceMean / ReduceMax over time, Flatten.

Either way the imported design is then run against the file with onnxruntime on random inputs; a
difference beyond tolerance refuses the import (never a silent wrong model).

Weight layouts: ONNX W (D, G*H, in), R (D, G*H, H), B (D, 2*G*H) = [Wb, Rb]; gate orders ONNX LSTM
i,o,f,c -> torch i,f,g,o; ONNX GRU z,r,h -> torch r,z,n, with linear_before_reset=1 only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..design.project import Project, ProjectFormatError, parse_json_text
from ..limits import excerpt
from .common import (
    GATES,
    ONNX_GRU_TO_TORCH,
    ONNX_LSTM_TO_TORCH,
    DesignBuilder,
    ImportedModel,
    ImportRefused,
    reorder_gates,
)

VERIFY_ATOL = 1e-4
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


def _supported_line() -> str:
    return "supported ONNX ops on the data path: " + ", ".join(SUPPORTED_OPS)


@dataclass
class _Graph:
    nodes: list
    consts: dict[str, np.ndarray]
    consumers: dict[str, list]
    input_name: str
    input_shape: tuple
    output_name: str


def _load(path: Path):
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
    return _Graph(list(g.node), consts, consumers, inputs[0].name, tuple(dims), g.output[0].name), metadata


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
                f"{path}: cannot import {_where(node)}: import does not map this operator, so the file is not "
                f"run at all; {_supported_line()}"
            )
        for a in node.attribute:
            if a.type == AttributeProto.SPARSE_TENSOR:
                raise ImportRefused(f"{path}: {_where(node)} holds a sparse tensor, which import does not read")
            for t in [a.t] if a.type == AttributeProto.TENSOR else list(a.tensors):
                _check_tensor(t, f"{_where(node)} attribute {excerpt(a.name)}", path, cap)
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
                f"{path}: {_where(node)} makes a tensor of {size:,} values, over the {cap / 1e6:,.0f} MB limit; "
                f"{_model_hint()}"
            )


def _attrs(node) -> dict[str, Any]:
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


def _where(node) -> str:
    return f"node '{node.name or node.output[0]}' ({node.op_type})"


# ----------------------------------------------------------------------------- recurrent weights
@dataclass
class _RnnSpec:
    cell: str  # GRU | LSTM | SimpleRNN
    units: int
    bidirectional: bool
    activation: str
    layers: list = field(default_factory=list)  # per layer: [(w_ih, w_hh, b_ih, b_hh) per direction]


def _rnn_spec(node, consts, where: str) -> _RnnSpec:
    op, a = node.op_type, _attrs(node)
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
    return _RnnSpec(cell, units, direction == "bidirectional", activation, [dirs])


def _set_rnn_weights(builder: DesignBuilder, bid: str, spec: _RnnSpec) -> None:
    for layer, dirs in enumerate(spec.layers):
        for d, weights in enumerate(dirs):
            builder.set_recurrent(bid, layer, d == 1, *weights)


# ----------------------------------------------------------------------------- entry point
def import_onnx(path: str | Path) -> ImportedModel:
    path = Path(path)
    graph, metadata = _load(path)
    if metadata.get("producer", "").startswith("rnn-studio") and "design" in metadata:
        imported = _import_own(graph, metadata, path)
    else:
        from .onnx_patterns import PatternReader

        builder = DesignBuilder(path.stem)
        PatternReader(graph, builder, path).run()
        imported = ImportedModel(builder.project, builder.weights, source=str(path), source_format="onnx")
    verify_against_onnx(imported, path, graph, metadata)
    return imported


# ----------------------------------------------------------------------------- our own exports
def _linear_ops(graph: _Graph) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """(torch weight (out, in), bias or None) of every Gemm / MatMul with a stored weight, in flow order."""
    out = []
    for n in graph.nodes:
        if n.op_type == "Gemm" and n.input[1] in graph.consts:
            a = _attrs(n)
            w = graph.consts[n.input[1]]
            w = w if a.get("transB", 0) else w.T
            bias = graph.consts.get(n.input[2]) if len(n.input) > 2 else None
            out.append((w, bias))
        elif n.op_type == "MatMul" and n.input[1] in graph.consts and graph.consts[n.input[1]].ndim == 2:
            bias = None
            for c in graph.consumers.get(n.output[0], []):
                if c.op_type == "Add":
                    other = [i for i in c.input if i != n.output[0]]
                    if other and other[0] in graph.consts:
                        bias = graph.consts[other[0]]
            out.append((graph.consts[n.input[1]].T, bias))
    return out


def _import_own(graph: _Graph, metadata: dict[str, str], path: Path) -> ImportedModel:
    from ..design.shapes import check

    try:
        project = Project.from_dict(parse_json_text(metadata["design"], f"{path} (its metadata 'design')"), str(path))
    except ProjectFormatError as e:
        raise ImportRefused(f"its embedded design cannot be read: {e}") from None
    from .. import limits

    cap = limits.MAX_BLOCKS.int_value()
    if len(project.blocks) > cap or len(project.links) > 4 * cap:
        raise ImportRefused(
            f"{path}: its embedded design has {len(project.blocks):,} blocks, over the limit of {cap:,}; "
            f"{limits.MAX_BLOCKS.hint()}"
        )
    res = check(project)
    if not res.ok:
        raise ImportRefused(f"{path}: its embedded design does not check: {res.errors[0].message}")
    builder = DesignBuilder(project.name)
    builder.project = project
    from ..design.compile import masked_recurrent_blocks

    masked = masked_recurrent_blocks(project, res)
    recurrent = [n for n in graph.nodes if n.op_type in RECURRENT_OPS]
    linear = _linear_ops(graph)
    norms = [n for n in graph.nodes if n.op_type == "LayerNormalization"]
    by_op = {
        op: [n for n in graph.nodes if n.op_type == op and (op != "Gather" or _is_table_lookup(n, graph))]
        for op in _OWN_WEIGHT_NODES.values()
    }
    for bid in res.order:
        block = project.block(bid)
        assert block is not None  # res.order holds the design's own ids
        p = block.resolved()
        if block.type in ("GRU", "LSTM", "SimpleRNN"):
            spec = None
            # a masked block exports one forward node per direction and layer (forward, then backward)
            per_layer = 2 if bid in masked and p["bidirectional"] else 1
            for _ in range(p["num_layers"]):
                one = None
                for _ in range(per_layer):
                    if not recurrent:
                        raise ImportRefused(f"{path}: fewer recurrent nodes than the embedded design needs")
                    node = recurrent.pop(0)
                    half = _rnn_spec(node, graph.consts, _where(node))
                    if one is None:
                        one = half
                    else:
                        one.layers[0] += half.layers[0]
                assert one is not None  # per_layer >= 1
                spec = one if spec is None else spec
                if spec is not one:
                    spec.layers += one.layers
            assert spec is not None  # num_layers >= 1 (a resolved block's parameter): the loop ran
            _set_rnn_weights(builder, bid, spec)
        elif block.type in ("Dense", "MultiHeadAttention"):
            keys = ["linear"] if block.type == "Dense" else ["query", "key", "value", "output"]
            for key in keys:
                if not linear:
                    raise ImportRefused(f"{path}: fewer linear operators than the embedded design needs")
                w, bias = linear.pop(0)
                builder.set_weight(bid, f"{key}.weight", w)
                if bias is not None and (block.type != "Dense" or p["use_bias"]):
                    builder.set_weight(bid, f"{key}.bias", bias)
        elif block.type in _OWN_WEIGHT_NODES:
            _own_node_weights(builder, bid, block.type, p, by_op[_OWN_WEIGHT_NODES[block.type]], graph, path)
        elif block.type == "LayerNormalization":
            if not norms:
                raise ImportRefused(
                    f"{path}: LayerNormalization '{bid}' was exported below opset 17 (decomposed): "
                    f"re-export with --opset 17 or later"
                )
            node = norms.pop(0)
            builder.set_weight(bid, "weight", graph.consts[node.input[1]])
            builder.set_weight(bid, "bias", graph.consts[node.input[2]])
    imported = ImportedModel(project, builder.weights, source=str(path), source_format="onnx")
    imported.notes.append(f"RNN Studio export of '{project.name}': design read from its metadata")
    _meta_from_metadata(imported, metadata)
    return imported


# block -> its ONNX node (Embedding: a Gather from a stored (input_dim, output_dim) table)
_OWN_WEIGHT_NODES = {"Conv1D": "Conv", "BatchNormalization": "BatchNormalization", "Embedding": "Gather"}


def _is_table_lookup(node, graph: _Graph) -> bool:
    table = graph.consts.get(node.input[0])
    return table is not None and table.ndim == 2 and table.dtype.kind == "f"


def _own_node_weights(
    builder: DesignBuilder, bid: str, type_: str, p: dict, nodes: list, graph: _Graph, path: Path
) -> None:
    """Weights of a block that exports to one weight-carrying node (Conv; BatchNormalization in eval)."""
    if not nodes:
        raise ImportRefused(f"{path}: fewer {_OWN_WEIGHT_NODES[type_]} nodes than the embedded design needs")
    node = nodes.pop(0)
    stored = [graph.consts.get(name) if name else None for name in node.input[1:]]
    keys: list[str | None]
    if type_ == "Embedding":
        keys = ["embedding.weight"]
        stored = [graph.consts[node.input[0]]]
    elif type_ == "Conv1D":
        keys = ["conv.weight", "conv.bias"] if p["use_bias"] else ["conv.weight"]
    else:  # scale, B, mean, var; a design without scale / center exported ones / zeros in their place
        keys = ["weight" if p["scale"] else None, "bias" if p["center"] else None, "running_mean", "running_var"]
    for key, value in zip(keys, stored[: len(keys)], strict=True):
        if key is None:
            continue
        if value is None:
            raise ImportRefused(f"{path}: {_where(node)} computes its weights in the graph: re-export it")
        builder.set_weight(bid, key, value)


def _meta_from_metadata(imported: ImportedModel, metadata: dict[str, str]) -> None:
    """Carry what the export recorded about preprocessing into the run's meta (docs/export.md)."""
    meta: dict[str, Any] = {"task": metadata.get("task", "regression")}
    for key in ("features", "classes", "x_mean", "x_std", "y_mean", "y_std", "lookback", "horizon"):
        if key in metadata:
            try:
                meta[key] = parse_json_text(metadata[key], f"{imported.source} (its metadata '{key}')")
            except ProjectFormatError as e:
                raise ImportRefused(str(e)) from None
    if "target" in metadata:
        meta["target"] = metadata["target"]
    from .common import check_meta_fields

    check_meta_fields(meta, imported.source)  # before the file is run
    imported.meta = meta
    imported.in_graph_normalization = metadata.get("normalization") == "in_graph"


# ----------------------------------------------------------------------------- verification
def verify_against_onnx(imported: ImportedModel, path: Path, graph: _Graph, metadata: dict[str, str]) -> float:
    """Run the imported design and the file on the same random inputs; refuse beyond VERIFY_ATOL. The
    file runs in a child process of bounded memory and time (onnx_run.py)."""
    import torch

    from ..design.compile import token_vocabulary
    from ..design.shapes import check
    from .common import build_checked
    from .onnx_run import run_onnx

    _, model = build_checked(imported)
    batch_fixed, time_fixed, feats = graph.input_shape
    tokens = token_vocabulary(imported.project, check(imported.project))  # None: float input
    rng = np.random.default_rng(0)
    inputs = []
    for batch, steps in ((2, 7), (3, 11)):
        shape = (batch_fixed or batch, time_fixed or steps, feats)
        inputs.append(
            rng.standard_normal(shape).astype(np.float32) if tokens is None else rng.integers(0, tokens, shape)
        )
    worst = 0.0
    for x, want in zip(inputs, run_onnx(path, inputs, ImportRefused), strict=True):
        with torch.no_grad():
            got = _run_ours(model, imported, x)
        if got.shape != want.shape:
            raise ImportRefused(
                f"{path}: the imported design gives shape {got.shape} where the file gives "
                f"{want.shape}; please report this file"
            )
        worst = max(worst, float(np.max(np.abs(got - want))) if want.size else 0.0)
    if not worst <= VERIFY_ATOL:
        raise ImportRefused(
            f"{path}: the imported design differs from the file by {worst:.2e} (> {VERIFY_ATOL:.0e}) "
            f"on random inputs: this graph is not one import recognises; please report it"
        )
    imported.notes.append(f"verified against onnxruntime: max abs diff {worst:.1e}")
    return worst


def _run_ours(model, imported: ImportedModel, x: np.ndarray) -> np.ndarray:
    import torch

    meta = imported.meta
    if imported.in_graph_normalization and meta.get("x_mean") is not None:
        x = (x - np.asarray(meta["x_mean"], np.float32)) / np.asarray(meta["x_std"], np.float32)
    y = model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()
    if imported.in_graph_normalization and meta.get("task") == "regression" and meta.get("y_mean") is not None:
        y = y * np.float32(meta["y_std"]) + np.float32(meta["y_mean"])
    return y
