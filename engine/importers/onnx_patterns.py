"""Recognise a foreign ONNX graph (torch.onnx.export of recurrent stacks with linear heads) as blocks.

Every tensor on the data path gets a symbolic value saying what it is in design terms; tensors that
only compute shapes or constants are `Aux`. A node whose inputs carry data but whose pattern is not
recognised is refused by name and type.

    Seq(b)       (batch, time, F) output of block b          Vec(b)  (batch, F) output of block b
    TimeMajor(b) (time, batch, F) view of b's sequence
    RnnY         Y of a recurrent node (stage 0: (T, D, B, H); 1: (T, B, D, H); 2: (T, B, D*H))
    RnnH         stacked final states (L*D, B, H): entries (group, layer, direction)
    HState       one final state (B, H)
    RnnYDir      one direction of a bidirectional Y (tf2onnx: Slice on the direction axis, Squeeze, Transpose)

Keras models converted by tf2onnx use the same ONNX recurrent operators (their rewriters fold Keras' gate
order into W / R / B) with other glue: Y_h / Y sliced per direction (Slice on axis 0 / 1, then Squeeze)
and joined by Concat / Add / Mul as Keras' Bidirectional merges them, Dense as MatMul + Add; the patterns
below take both spellings.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .common import DesignBuilder, ImportRefused
from .onnx_channels import ChannelsFirstPatterns
from .onnx_graph import (
    AUX,
    ChannelsFirst,
    Graph,
    Group,
    HState,
    RnnH,
    RnnSpec,
    RnnY,
    RnnYDir,
    Seq,
    TimeMajor,
    Vec,
    attrs,
    rnn_spec,
    set_rnn_weights,
    supported_line,
    where,
)

_DATA = (Seq, Vec, TimeMajor, RnnY, RnnH, HState, RnnYDir, ChannelsFirst)


class PatternReader(ChannelsFirstPatterns):
    def __init__(self, graph: Graph, builder: DesignBuilder, path):
        self.g, self.b, self.path = graph, builder, path
        self.values: dict[str, object] = {}

    # ------------------------------------------------------------------ driver
    def run(self) -> None:
        _, steps, feats = self.g.input_shape
        self.values[self.g.input_name] = Seq(self.b.add("input", "Input", {"timesteps": steps, "features": feats}))
        for node in self.g.nodes:
            ins = [self.values.get(i, AUX) if i else None for i in node.input]
            if not any(isinstance(v, _DATA) for v in ins) or self._feeds_only_shapes(node):
                for out in node.output:
                    self.values[out] = AUX
                continue
            handler = getattr(self, f"_op_{node.op_type}", None)
            result = handler(node, ins) if handler else None
            if result is None:
                self._refuse(node)
            # lengths may differ: a node may omit trailing optional outputs its handler gives values for
            # (Dropout's mask, an RNN's Y_h / Y_c), and a handler gives one value for a node whose other
            # outputs go unused (MaxPool's Indices)
            for out, value in zip(node.output, result if isinstance(result, list) else [result], strict=False):
                self.values[out] = value
        out = self.values.get(self.g.output_name)
        if isinstance(out, HState):
            out = self._state_vec([out], "concat")
        if not isinstance(out, (Seq, Vec)):
            raise ImportRefused(
                f"{self.path}: the graph output '{self.g.output_name}' is not recognised as a "
                f"block output; {supported_line()}"
            )

    def _feeds_only_shapes(self, node) -> bool:
        """A tensor computed only to read its size (initial states sized from the batch) carries no data."""
        users = [c for out in node.output for c in self.g.consumers.get(out, [])]
        return bool(users) and all(c.op_type == "Shape" for c in users) and self.g.output_name not in node.output

    def _refuse(self, node, why: str = ""):
        raise ImportRefused(f"cannot import {where(node)}{': ' + why if why else ''}; {supported_line()}")

    def _const(self, name: str):
        return self.g.consts.get(name)

    def _only_consumer(self, tensor: str, node) -> bool:
        return [list(c.output) for c in self.g.consumers.get(tensor, [])] == [list(node.output)]

    # ------------------------------------------------------------------ layout ops
    def _op_Transpose(self, node, ins):
        perm, v = list(attrs(node).get("perm", [])), ins[0]
        if perm == [0, 2, 1]:  # to or from a channels-first (batch, features, time) view (onnx_channels.py)
            return self._channels_transpose(v)
        if perm == [2, 0, 1] and isinstance(v, ChannelsFirst) and v.pad == (0, 0):  # two transposes fused
            return TimeMajor(v.block)
        if perm == [1, 2, 0] and isinstance(v, TimeMajor):
            return ChannelsFirst(v.block)
        if perm == [1, 0, 2]:
            if isinstance(v, Seq):
                return TimeMajor(v.block)
            if isinstance(v, TimeMajor):
                return Seq(v.block)
            if isinstance(v, RnnY) and v.stage == 2 and v.layer == len(v.group.spec.layers) - 1:
                return Seq(self._materialize(v.group, sequences=True, node=node))
        if perm == [1, 0, 2] and isinstance(v, RnnYDir) and v.stage == 2:
            return RnnYDir(v.group, v.direction, 3)
        if perm == [0, 2, 1, 3] and isinstance(v, RnnY) and v.stage == 0:
            return RnnY(v.group, v.layer, 1)
        return None

    def _op_Reshape(self, node, ins):
        v, shape = ins[0], self._const(node.input[1])
        if isinstance(v, RnnY) and v.stage == 1 and shape is not None and list(shape[:2]) == [0, 0]:
            return RnnY(v.group, v.layer, 2)
        return None

    def _op_Squeeze(self, node, ins):
        v = ins[0]
        axes = self._axes(node)
        if isinstance(v, RnnY) and v.stage == 0 and axes == [1] and not v.group.spec.bidirectional:
            return RnnY(v.group, v.layer, 2)
        if isinstance(v, RnnH) and len(v.entries) == 1 and axes == [0]:
            return HState(*v.entries[0])
        if isinstance(v, RnnYDir) and v.stage == 0 and axes == [1]:
            return RnnYDir(v.group, v.direction, 2)
        return None

    def _axes(self, node) -> list[int] | None:
        if len(node.input) > 1 and node.input[1]:
            axes = self._const(node.input[1])
            return None if axes is None else [int(a) for a in np.atleast_1d(axes)]
        axes = attrs(node).get("axes")
        return None if axes is None else [int(a) for a in axes]

    def _op_Shape(self, node, ins):
        return AUX  # shape arithmetic (initial states sized from the batch) carries no data

    def _op_Identity(self, node, ins):
        return ins[0]

    def _op_Dropout(self, node, ins):
        return [ins[0], AUX]

    # ------------------------------------------------------------------ recurrent nodes and their states
    def _op_GRU(self, node, ins):
        v = ins[0]
        spec = rnn_spec(node, self.g.consts, where(node))
        if isinstance(v, TimeMajor):
            group, layer = Group(spec, v.block, node.name or node.op_type), 0
        elif (
            isinstance(v, RnnY)
            and v.stage == 2
            and v.group.block is None
            and v.layer == len(v.group.spec.layers) - 1
            and self._stackable(v.group.spec, spec)
        ):
            group, layer = v.group, len(v.group.spec.layers)  # one more layer of a stack (num_layers)
            group.spec.layers += spec.layers
        elif isinstance(v, RnnY) and v.stage == 2 and v.layer == len(v.group.spec.layers) - 1:
            # another kind of recurrent module reading the previous one's time-major output directly
            source = self._materialize(v.group, sequences=True, node=node)
            group, layer = Group(spec, source, node.name or node.op_type), 0
        elif isinstance(v, Seq):
            self._refuse(
                node,
                "it reads a (batch, time, features) tensor as time-major: the module was built with "
                "batch_first=False; RNN Studio designs take (batch, time, features): re-export with "
                "batch_first=True",
            )
        else:
            return None
        outs = [RnnY(group, layer, 0), RnnH([(group, layer, d) for d in range(2 if spec.bidirectional else 1)])]
        return outs + ([AUX] if node.op_type == "LSTM" else [])

    _op_LSTM = _op_GRU
    _op_RNN = _op_GRU

    @staticmethod
    def _stackable(a: RnnSpec, b: RnnSpec) -> bool:
        return (a.cell, a.units, a.bidirectional, a.activation) == (b.cell, b.units, b.bidirectional, b.activation)

    def _op_Concat(self, node, ins):
        axis = int(attrs(node).get("axis", 0))
        if all(isinstance(v, RnnH) for v in ins) and axis == 0:
            return RnnH([e for v in ins for e in v.entries])
        if all(isinstance(v, HState) for v in ins) and axis in (-1, 1):
            return Vec(self._state_vec(ins, "concat", node))
        if all(isinstance(v, RnnYDir) for v in ins) and axis in (-1, 2):
            return self._halves(ins, node, "concat")
        if all(isinstance(v, (Seq, Vec)) for v in ins) and len({type(v) for v in ins}) == 1:
            rank = 3 if isinstance(ins[0], Seq) else 2
            if axis in (-1, rank - 1):
                return self._block_like(ins[0], node, "Concatenate", {}, [v.block for v in ins])
        return None

    def _op_Gather(self, node, ins):
        v, index = ins[0], self._const(node.input[1])
        axis = int(attrs(node).get("axis", 0))
        if index is None or np.ndim(index) != 0:
            return None
        i = int(index)
        if isinstance(v, RnnH) and axis == 0 and -len(v.entries) <= i < len(v.entries):
            return HState(*v.entries[i])
        if isinstance(v, Seq) and axis == 1 and i == -1:
            return self._last_step(v, node)
        return None

    def _op_Slice(self, node, ins):
        v = ins[0]
        a = attrs(node)
        if "starts" in a:  # opset < 10: starts / ends / axes are attributes
            consts = [np.asarray(a["starts"]), np.asarray(a["ends"]), np.asarray(a.get("axes", [0]))]
        else:
            consts = [self._const(n) if n else None for n in node.input[1:]]
        if len(consts) < 3 or any(c is None or np.size(c) != 1 for c in consts[:3]):
            return None
        starts, ends, axes = (int(np.atleast_1d(c)[0]) for c in consts[:3])
        steps = int(np.atleast_1d(consts[3])[0]) if len(consts) > 3 and consts[3] is not None else 1
        if steps != 1:
            return None
        if isinstance(v, RnnH) and axes == 0:
            return RnnH(v.entries[slice(starts, ends)])
        last = isinstance(v, RnnY) and v.layer == len(v.group.spec.layers) - 1
        if last and v.stage == 0 and axes == 1 and v.group.spec.bidirectional and (starts, ends) in ((0, 1), (1, 2)):
            return RnnYDir(v.group, starts, 0)  # tf2onnx: one direction's Y, (T, 1, B, H)
        return None

    def _halves(self, ins, node, mode: str):
        """A bidirectional layer's sequence from its two directions (forward, then backward) joined as Keras'
        Bidirectional merges them (tf2onnx keeps that join): concat / sum / mul."""
        if len(ins) != 2 or not all(isinstance(v, RnnYDir) and v.stage == 3 for v in ins):
            return None
        group = ins[0].group
        if ins[1].group is not group or [v.direction for v in ins] != [0, 1]:
            return None
        return Seq(self._materialize(group, sequences=True, node=node, merge_mode=mode))

    def _last_step(self, v: Seq, node):
        """out[:, -1] of a one-way recurrent sequence is its last state; of a bidirectional one it is not."""
        group = next((g for g in self._groups() if g.block == v.block), None)
        if group is None:
            return None
        if group.spec.bidirectional:
            self._refuse(
                node,
                "out[:, -1] of a bidirectional layer joins the backward pass's state after ONE step "
                "(the seed article's mistake); RNN Studio's blocks give h_n (forward at T-1, backward "
                "at 0): re-export with torch.cat([h_n[-2], h_n[-1]], -1)",
            )
        block = self.b.block(v.block)
        if self.b.project.outputs_of(v.block):
            return None
        block.params.pop("return_sequences", None)
        return Vec(v.block)

    def _groups(self):
        return getattr(self, "_all_groups", [])

    def _state_vec(self, states, mode: str, node=None) -> str:
        """Final states joined by concat / sum / mul: the last layer of one group -> its block as a vector."""
        group = states[0].group
        last = len(group.spec.layers) - 1
        want = [(group, last, d) for d in range(2 if group.spec.bidirectional else 1)]
        got = [(s.group, s.layer, s.direction) for s in states]
        if len(states) == 1 and not group.spec.bidirectional and got == want:
            return self._materialize(group, sequences=False, node=node)
        if group.spec.bidirectional and got == want:
            return self._materialize(group, sequences=False, node=node, merge_mode=mode)
        raise ImportRefused(
            f"cannot import {where(node) if node is not None else 'the output'}: it uses final states "
            f"other than the last layer's h_n (forward, then backward); {supported_line()}"
        )

    def _materialize(self, group: Group, sequences: bool, node, merge_mode: str = "concat") -> str:
        if group.block is not None and sequences and group.sequences:
            return group.block  # the same sequence read twice (e.g. once only for its shape)
        if group.block is not None:
            raise ImportRefused(
                f"cannot import {where(node)}: the recurrent node '{group.node_name}' has both its "
                f"sequence and its states used: an RNN Studio block gives one of them"
            )
        spec = group.spec
        params: dict[str, Any] = {"units": spec.units}
        if spec.bidirectional:
            params["bidirectional"] = True
            if merge_mode != "concat":
                params["merge_mode"] = merge_mode
        if sequences:
            params["return_sequences"] = True
        if len(spec.layers) > 1:
            params["num_layers"] = len(spec.layers)
        if spec.activation != "tanh":
            params["activation"] = spec.activation
        group.block = self.b.add(spec.cell.lower(), spec.cell, params, [group.source])
        group.sequences = sequences
        set_rnn_weights(self.b, group.block, spec)
        self._all_groups = self._groups() + [group]
        return group.block

    # ------------------------------------------------------------------ heads and merges
    def _op_Gemm(self, node, ins):
        a = attrs(node)
        w = self._const(node.input[1])
        bias = self._const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        v = ins[0]
        if isinstance(v, HState):
            v = Vec(self._state_vec([v], "concat", node))
        if (
            not isinstance(v, Vec)
            or w is None
            or a.get("transA", 0)
            or a.get("alpha", 1.0) != 1.0
            or a.get("beta", 1.0) != 1.0
            or (len(node.input) > 2 and node.input[2] and bias is None)
        ):
            return None
        weight = w if a.get("transB", 0) else w.T
        return self._dense(v, node, weight, bias)

    def _op_MatMul(self, node, ins):
        v, w = ins[0], self._const(node.input[1])
        if isinstance(v, HState):
            v = Vec(self._state_vec([v], "concat", node))
        if not isinstance(v, (Seq, Vec)) or w is None or w.ndim != 2:
            return None
        return self._dense(v, node, w.T, None)

    def _dense(self, v, node, weight, bias):
        params = {"units": int(weight.shape[0])}
        if bias is None:
            params["use_bias"] = False
        out = self._block_like(v, node, "Dense", params, [v.block])
        self.b.set_weight(out.block, "linear.weight", weight)
        if bias is not None:
            self.b.set_weight(out.block, "linear.bias", np.broadcast_to(bias, (weight.shape[0],)))
        return out

    def _block_like(self, v, node, type_: str, params: dict, sources: list[str]):
        bid = self.b.add(type_.lower(), type_, params, sources)
        return Seq(bid) if isinstance(v, Seq) else Vec(bid)

    def _op_Add(self, node, ins):
        data = [v for v in ins if isinstance(v, _DATA)]
        if all(isinstance(v, HState) for v in data) and len(data) == 2:
            return Vec(self._state_vec(data, "sum", node))
        if all(isinstance(v, RnnYDir) for v in data) and len(data) == 2:
            return self._halves(data, node, "sum")
        if len(data) == 1:  # the bias of a MatMul head
            v = data[0]
            bias = self._const(node.input[1 - ins.index(v)])
            block = self.b.block(v.block) if isinstance(v, (Seq, Vec)) else None
            src = next(i for i in node.input if self.values.get(i) is v)
            if (
                block is None
                or block.type != "Dense"
                or block.params.get("use_bias", True)
                or bias is None
                or bias.size != block.params["units"]
                or not self._only_consumer(src, node)
            ):
                return None
            block.params.pop("use_bias")
            self.b.set_weight(block.id, "linear.bias", bias.reshape(-1))
            return v
        if all(isinstance(v, (Seq, Vec)) for v in data) and len({type(v) for v in data}) == 1:
            return self._block_like(data[0], node, "Add", {}, [v.block for v in data])
        return None

    def _op_Mul(self, node, ins):
        data = [v for v in ins if isinstance(v, _DATA)]
        if len(data) == 2 and all(isinstance(v, HState) for v in data):
            return Vec(self._state_vec(data, "mul", node))
        if len(data) == 2 and all(isinstance(v, RnnYDir) for v in data):
            return self._halves(data, node, "mul")
        return None

    def _activation(self, node, ins, name: str):
        v = ins[0]
        if isinstance(v, ChannelsFirst):
            return self._channels_activation(v, name) if self._only_consumer(node.input[0], node) else None
        if isinstance(v, HState):
            v = Vec(self._state_vec([v], "concat", node))
        if not isinstance(v, (Seq, Vec)):
            return None
        if name == "softmax":
            axis = int(attrs(node).get("axis", -1))
            if axis not in (-1, 2 if isinstance(v, Seq) else 1):
                return None
        if name == "gelu" and attrs(node).get("approximate", "none") != "none":
            return None
        block = self.b.block(v.block)
        src = next(i for i in node.input if self.values.get(i) is v or self.values.get(i) == v)
        if (
            block.type == "Dense"
            and block.params.get("activation", "linear") == "linear"
            and self._only_consumer(src, node)
        ):
            block.params["activation"] = name
            return v
        return self._block_like(v, node, "Activation", {"activation": name}, [v.block])

    def _op_Relu(self, node, ins):
        return self._activation(node, ins, "relu")

    def _op_Tanh(self, node, ins):
        return self._activation(node, ins, "tanh")

    def _op_Sigmoid(self, node, ins):
        return self._activation(node, ins, "sigmoid")

    def _op_Softmax(self, node, ins):
        return self._activation(node, ins, "softmax")

    def _op_Gelu(self, node, ins):
        return self._activation(node, ins, "gelu")

    def _pool(self, node, ins, type_: str):
        v = ins[0]
        a = attrs(node)
        if isinstance(v, Seq) and self._axes(node) == [1] and a.get("keepdims", 1) == 0:
            return Vec(self.b.add(type_.lower(), type_, {}, [v.block]))
        return None

    def _op_ReduceMean(self, node, ins):
        return self._pool(node, ins, "GlobalAveragePooling1D")

    def _op_ReduceMax(self, node, ins):
        return self._pool(node, ins, "GlobalMaxPooling1D")

    def _op_Flatten(self, node, ins):
        if isinstance(ins[0], Seq) and int(attrs(node).get("axis", 1)) == 1:
            return Vec(self.b.add("flatten", "Flatten", {}, [ins[0].block]))
        return None

    def _op_LayerNormalization(self, node, ins):
        v, a = ins[0], attrs(node)
        scale, bias = self._const(node.input[1]), self._const(node.input[2]) if len(node.input) > 2 else None
        if (
            not isinstance(v, (Seq, Vec))
            or a.get("axis", -1) not in (-1, 2 if isinstance(v, Seq) else 1)
            or scale is None
        ):
            return None
        out = self._block_like(
            v, node, "LayerNormalization", {"epsilon": float(f"{a.get('epsilon', 1e-5):.7g}")}, [v.block]
        )
        self.b.set_weight(out.block, "weight", scale)
        self.b.set_weight(out.block, "bias", bias if bias is not None else np.zeros_like(scale))
        return out
