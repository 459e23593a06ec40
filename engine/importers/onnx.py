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

from pathlib import Path
from typing import Any

import numpy as np

from ..design.project import Project, ProjectFormatError, parse_json_text
from .common import DesignBuilder, ImportedModel, ImportRefused, build_checked, check_meta_fields
from .onnx_graph import RECURRENT_OPS, Graph, attrs, load_graph, rnn_spec, set_rnn_weights, where
from .onnx_patterns import PatternReader
from .onnx_run import run_onnx

VERIFY_ATOL = 1e-4


# ----------------------------------------------------------------------------- entry point
def import_onnx(path: str | Path) -> ImportedModel:
    path = Path(path)
    graph, metadata = load_graph(path)
    if metadata.get("producer", "").startswith("rnn-studio") and "design" in metadata:
        imported = _import_own(graph, metadata, path)
    else:
        builder = DesignBuilder(path.stem)
        PatternReader(graph, builder, path).run()
        imported = ImportedModel(builder.project, builder.weights, source=str(path), source_format="onnx")
    verify_against_onnx(imported, path, graph, metadata)
    return imported


# ----------------------------------------------------------------------------- our own exports
def _linear_ops(graph: Graph) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """(torch weight (out, in), bias or None) of every Gemm / MatMul with a stored weight, in flow order."""
    out = []
    for n in graph.nodes:
        if n.op_type == "Gemm" and n.input[1] in graph.consts:
            a = attrs(n)
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


def _import_own(graph: Graph, metadata: dict[str, str], path: Path) -> ImportedModel:
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
                    half = rnn_spec(node, graph.consts, where(node))
                    if one is None:
                        one = half
                    else:
                        one.layers[0] += half.layers[0]
                assert one is not None  # per_layer >= 1
                spec = one if spec is None else spec
                if spec is not one:
                    spec.layers += one.layers
            assert spec is not None  # num_layers >= 1 (a resolved block's parameter): the loop ran
            set_rnn_weights(builder, bid, spec)
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


def _is_table_lookup(node, graph: Graph) -> bool:
    table = graph.consts.get(node.input[0])
    return table is not None and table.ndim == 2 and table.dtype.kind == "f"


def _own_node_weights(
    builder: DesignBuilder, bid: str, type_: str, p: dict, nodes: list, graph: Graph, path: Path
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
            raise ImportRefused(f"{path}: {where(node)} computes its weights in the graph: re-export it")
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
    check_meta_fields(meta, imported.source)  # before the file is run
    imported.meta = meta
    imported.in_graph_normalization = metadata.get("normalization") == "in_graph"


# ----------------------------------------------------------------------------- verification
def verify_against_onnx(imported: ImportedModel, path: Path, graph: Graph, metadata: dict[str, str]) -> float:
    """Run the imported design and the file on the same random inputs; refuse beyond VERIFY_ATOL. The
    file runs in a child process of bounded memory and time (onnx_run.py)."""
    import torch

    from ..design.compile import token_vocabulary
    from ..design.shapes import check

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
