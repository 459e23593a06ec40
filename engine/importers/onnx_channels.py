"""Foreign ONNX patterns of channels-first 1D layers (torch.onnx.export of nn.Conv1d, nn.MaxPool1d /
nn.AvgPool1d, nn.BatchNorm1d, F.pad, and activations between them) in front of recurrent stacks.

A (batch, time, features) sequence transposed to (batch, features, time) is a `ChannelsFirst` view of its
block; Conv / MaxPool / AveragePool / BatchNormalization / Pad / Relu / Tanh / Sigmoid on that view become
blocks (Conv1D, MaxPooling1D / AveragePooling1D, BatchNormalization), and the transpose back gives the
block's sequence again. Padding must be one of Keras' (valid, causal, same): anything else is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .common import DesignBuilder
from .onnx_graph import ChannelsFirst, Graph, HState, Seq, Vec, attrs


class ChannelsFirstPatterns:
    """Mixed into PatternReader (engine/importers/onnx_patterns.py): self.b, self.g, self._const."""

    b: DesignBuilder
    g: Graph
    _const: Callable[[str], Any]
    _state_vec: Callable[..., str]

    def _channels_transpose(self, v):
        if isinstance(v, Seq):
            return ChannelsFirst(v.block)
        if isinstance(v, ChannelsFirst) and v.pad == (0, 0):
            return Seq(v.block)
        return None

    def _steps_of(self, block_id: str):
        from ..design.shapes import check

        shape = check(self.b.project).shapes.get(block_id)
        return None if shape is None else shape[1]

    def _keras_padding(self, pad: tuple, span: int, stride: int, steps, causal_ok: bool) -> str | None:
        """The Keras padding that adds `pad` zeros (left, right) for a window of `span` steps; None if none."""
        from ..design.blocks import conv1d_padding

        if pad == (0, 0):
            return "valid" if span > 1 or stride > 1 else "same"
        if causal_ok and pad == (span - 1, 0):
            return "causal"
        if (stride == 1 or steps is not None) and pad == conv1d_padding(
            {"kernel_size": span, "dilation_rate": 1, "strides": stride, "padding": "same"}, steps
        ):
            return "same"
        return None

    def _folded_const(self, name: str):
        """A stored constant, also through the Cast / Reshape torch puts between a constant and Pad."""
        value = self._const(name)
        if value is not None:
            return value
        producer = next((n for n in self.g.nodes if name in n.output), None)
        if producer is not None and producer.op_type in ("Cast", "Reshape", "Identity"):
            return self._folded_const(producer.input[0])
        return None

    def _op_Pad(self, node, ins):
        v, a = ins[0], attrs(node)
        pads = self._folded_const(node.input[1]) if len(node.input) > 1 and node.input[1] else a.get("pads")
        value = self._const(node.input[2]) if len(node.input) > 2 and node.input[2] else a.get("value", 0.0)
        if (
            not isinstance(v, ChannelsFirst)
            or v.pad != (0, 0)
            or pads is None
            or a.get("mode", "constant") != "constant"
            or (value is not None and float(np.asarray(value).reshape(-1)[0]) != 0.0)
        ):
            return None
        pads = [int(p) for p in np.asarray(pads).reshape(-1)]
        if len(pads) != 6 or any(pads[i] for i in (0, 1, 3, 4)):
            return None
        return ChannelsFirst(v.block, (pads[2], pads[5]))

    def _op_Conv(self, node, ins):
        v, a = ins[0], attrs(node)
        weight = self._const(node.input[1])
        bias = self._const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if (
            not isinstance(v, ChannelsFirst)
            or weight is None
            or weight.ndim != 3
            or a.get("group", 1) != 1
            or (len(node.input) > 2 and node.input[2] and bias is None)
            or a.get("auto_pad", "NOTSET") != "NOTSET"
        ):
            return None
        kernel, stride = int(weight.shape[2]), int(a.get("strides", [1])[0])
        dilation = int(a.get("dilations", [1])[0])
        pads = a.get("pads", [0, 0])
        pad = (v.pad[0] + int(pads[0]), v.pad[1] + int(pads[1]))
        padding = self._keras_padding(pad, (kernel - 1) * dilation + 1, stride, self._steps_of(v.block), True)
        if padding is None or (stride > 1 and dilation > 1):
            return None
        params = {
            "filters": int(weight.shape[0]),
            "kernel_size": kernel,
            "strides": stride,
            "padding": padding,
            "dilation_rate": dilation,
            "use_bias": bias is not None,
        }
        bid = self.b.add("conv", "Conv1D", params, [v.block])
        self.b.set_weight(bid, "conv.weight", weight)
        if bias is not None:
            self.b.set_weight(bid, "conv.bias", bias)
        return ChannelsFirst(bid)

    def _channels_pool(self, node, ins, type_: str):
        v, a = ins[0], attrs(node)
        if (
            not isinstance(v, ChannelsFirst)
            or a.get("ceil_mode", 0)
            or a.get("auto_pad", "NOTSET") != "NOTSET"
            or a.get("dilations", [1]) != [1]
            or len(node.output) > 1
            and node.output[1]
        ):
            return None
        size, stride = int(a["kernel_shape"][0]), int(a.get("strides", [1])[0])
        pads = a.get("pads", [0, 0])
        pad = (v.pad[0] + int(pads[0]), v.pad[1] + int(pads[1]))
        if type_ == "AveragePooling1D" and pad != (0, 0) and (v.pad != (0, 0) or a.get("count_include_pad", 0) != 0):
            return None  # a padded average counts its padding: not Keras' 'same'
        padding = self._keras_padding(pad, size, stride, self._steps_of(v.block), False)
        if padding is None:
            return None
        params = {"pool_size": size, "strides": None if stride == size else stride, "padding": padding}
        return ChannelsFirst(self.b.add(type_.lower(), type_, params, [v.block]))

    def _op_MaxPool(self, node, ins):
        return self._channels_pool(node, ins, "MaxPooling1D")

    def _op_AveragePool(self, node, ins):
        return self._channels_pool(node, ins, "AveragePooling1D")

    def _op_BatchNormalization(self, node, ins):
        v, a = ins[0], attrs(node)
        if isinstance(v, HState):  # a recurrent layer's last state
            v = Vec(self._state_vec([v], "concat", node))
        stats = [self._const(name) for name in node.input[1:5]]
        if (
            not isinstance(v, (ChannelsFirst, Vec))
            or any(s is None for s in stats)
            or len(node.output) > 1
            or (isinstance(v, ChannelsFirst) and v.pad != (0, 0))
        ):
            return None
        params = {"momentum": float(f"{a.get('momentum', 0.9):.7g}"), "epsilon": float(f"{a.get('epsilon', 1e-5):.7g}")}
        bid = self.b.add("batchnorm", "BatchNormalization", params, [v.block])
        for key, value in zip(("weight", "bias", "running_mean", "running_var"), stats, strict=True):
            self.b.set_weight(bid, key, value)
        return ChannelsFirst(bid) if isinstance(v, ChannelsFirst) else Vec(bid)

    def _channels_activation(self, v, name: str):
        """An activation on a channels-first view: folded into the Conv1D it follows where it can be."""
        block = self.b.block(v.block)
        if block.type == "Conv1D" and block.params.get("activation", "linear") == "linear" and v.pad == (0, 0):
            block.params["activation"] = name
            return v
        return None
