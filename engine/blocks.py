"""The block catalog: one definition per block type.

A definition holds everything about a type: its params (type, range, default, help), how many inputs
it takes, its shape rule, its parameter count and its PyTorch construction. Adding a block type is
adding one `BlockDef` to `CATALOG` below; `check`, the compiler, the GUI palette and inspector, the
JSON Schema and the docs all read from here.

Shapes are tuples with None for unknown dims: (None, 10, 128) is (batch, time, features).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .params import Param

Shape = tuple  # (None, T, F) or (None, F); None = unknown


class ShapeError(Exception):
    """Raised by a shape rule; the message is complete and tells how to fix it."""


def fmt_shape(shape: Shape | None) -> str:
    if shape is None:
        return "?"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


@dataclass
class Ctx:
    """What a shape rule / builder sees: the block, its resolved params and its inputs."""

    id: str
    type: str
    params: dict[str, Any]
    in_shapes: list[Shape]
    sources: list[str]
    source_types: list[str] = field(default_factory=list)

    @property
    def who(self) -> str:
        return f"{self.type} '{self.id}'"

    def src(self, i: int = 0) -> str:
        return f"'{self.sources[i]}'"

    def need_sequence(self, i: int = 0, what: str = "needs a sequence (batch, time, features)") -> Shape:
        shape = self.in_shapes[i]
        if len(shape) != 3:
            if i < len(self.source_types) and self.source_types[i] in RECURRENT:
                hint = f"set return_sequences=true on '{self.sources[i]}'"
            else:
                hint = f"feed it from a block that keeps the time axis (not after '{self.sources[i]}')"
            raise ShapeError(f"{self.who} {what} but {self.src(i)} gives {fmt_shape(shape)}: {hint}")
        return shape

    def need_width(self, i: int = 0) -> int:
        width = self.in_shapes[i][-1]
        if width is None:
            raise ShapeError(
                f"{self.who} needs a fixed feature size but {self.src(i)} gives "
                f"{fmt_shape(self.in_shapes[i])}: give the Input a fixed timesteps or remove the Flatten"
            )
        return width


@dataclass(frozen=True)
class BlockDef:
    type: str
    category: str  # palette group
    help: str
    params: tuple[Param, ...]
    infer: Callable[[Ctx], Shape]
    build: Callable[[Ctx], Any]  # -> torch.nn.Module (torch imported lazily)
    count: Callable[[Ctx], int]  # number of trainable parameters
    min_inputs: int = 1
    max_inputs: int | None = 1  # None = any number
    extra_checks: Callable[[Ctx], list[str]] = field(default=lambda ctx: [])

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}


def _layers():
    from . import layers  # torch is imported only when a model is built

    return layers


# --------------------------------------------------------------------------- Input
def _input_infer(ctx: Ctx) -> Shape:
    return (None, ctx.params["timesteps"], ctx.params["features"])


INPUT = BlockDef(
    type="Input", category="Input",
    help="The sequence fed to the model: (batch, timesteps, features). timesteps null = variable length.",
    params=(
        Param("timesteps", "int", 10, "Time steps per sequence (window length); null for variable length.",
              min=1, max=100_000, nullable=True, null_means="variable length"),
        Param("features", "int", 1, "Features (channels) per time step.", min=1, max=100_000),
    ),
    infer=_input_infer,
    build=lambda ctx: _torch_nn().Identity(),
    count=lambda ctx: 0,
    min_inputs=0, max_inputs=0,
)


def _torch_nn():
    import torch.nn as nn

    return nn


# --------------------------------------------------------------------------- Recurrent
RECURRENT = ("GRU", "LSTM", "SimpleRNN")
_GATES = {"GRU": 3, "LSTM": 4, "SimpleRNN": 1}
_INITS = ("default", "glorot_uniform", "he_uniform", "orthogonal")


def _rnn_width(ctx: Ctx) -> int:
    p = ctx.params
    if p["bidirectional"] and p["merge_mode"] == "concat":
        return 2 * p["units"]
    return p["units"]


def _rnn_infer(ctx: Ctx) -> Shape:
    _, t, _ = ctx.need_sequence(0)
    ctx.need_width(0)
    width = _rnn_width(ctx)
    return (None, t, width) if ctx.params["return_sequences"] else (None, width)


def _rnn_count(ctx: Ctx) -> int:
    p = ctx.params
    h, dirs, gates = p["units"], 2 if p["bidirectional"] else 1, _GATES[ctx.type]
    total, size_in = 0, ctx.in_shapes[0][-1]
    for _ in range(p["num_layers"]):
        total += dirs * gates * (h * size_in + h * h + 2 * h)  # two biases, as torch (and Keras reset_after)
        size_in = h * dirs
    return total


def _rnn_checks(ctx: Ctx) -> list[str]:
    p, out = ctx.params, []
    if p["bidirectional"] and p["num_layers"] > 1 and p["merge_mode"] != "concat":
        out.append(f"{ctx.who}: a bidirectional stack (num_layers={p['num_layers']}) passes concatenated "
                   f"halves between its layers, so merge_mode must be concat (received {p['merge_mode']!r}): "
                   f"set merge_mode=concat or split it into {p['num_layers']} blocks")
    if p["bidirectional"] and p["go_backwards"]:
        out.append(f"{ctx.who}: go_backwards applies to one-direction layers; a bidirectional layer already "
                   f"reads both ways: set go_backwards=false")
    return out


def _rnn_build(ctx: Ctx):
    import torch.nn as nn

    p = ctx.params
    module = _layers().Recurrent(
        ctx.type, ctx.in_shapes[0][-1], p["units"], num_layers=p["num_layers"],
        bidirectional=p["bidirectional"], merge_mode=p["merge_mode"],
        return_sequences=p["return_sequences"], go_backwards=p["go_backwards"],
        dropout=p["dropout"], nonlinearity=p.get("activation", "tanh"),
    )
    init_k, init_r = p["kernel_initializer"], p["recurrent_initializer"]
    gates = _GATES[ctx.type]
    for name, w in module.rnn.named_parameters():
        if name.startswith("weight_ih") and init_k != "default":
            _init_weight(w, init_k, gates)
        elif name.startswith("weight_hh") and init_r != "default":
            _init_weight(w, init_r, gates)
        elif name.startswith("bias") and (init_k != "default" or init_r != "default"):
            nn.init.zeros_(w)  # Keras: bias_initializer="zeros"
    return module


def _init_weight(w, how: str, gates: int = 1) -> None:
    """Initialize a (gates*H, in) weight per gate block, as Keras initializes each gate's kernel."""
    import torch.nn as nn

    for chunk in w.data.chunk(gates, dim=0):
        if how == "glorot_uniform":
            nn.init.xavier_uniform_(chunk)
        elif how == "he_uniform":
            nn.init.kaiming_uniform_(chunk, nonlinearity="relu")
        elif how == "orthogonal":
            nn.init.orthogonal_(chunk)


def _recurrent(cell: str, help_text: str) -> BlockDef:
    params = [
        Param("units", "int", 64, "Hidden units per direction.", min=1, max=8192),
        Param("bidirectional", "bool", False, "Read the sequence both ways (one fused call)."),
        Param("merge_mode", "choice", "concat", "How the two directions are joined when bidirectional.",
              choices=("concat", "sum", "mul", "ave")),
        Param("return_sequences", "bool", False,
              "true: output every time step (B, T, H); false: the final state (B, H)."),
        Param("go_backwards", "bool", False,
              "Process the sequence reversed; sequence outputs stay in reversed order (Keras)."),
        Param("num_layers", "int", 1, "Layers stacked inside one fused call.", min=1, max=16),
        Param("dropout", "float", 0.0, "Dropout between the stacked layers (needs num_layers > 1).",
              min=0.0, max=1.0, max_exclusive=True),
    ]
    if cell == "SimpleRNN":
        params.append(Param("activation", "choice", "tanh", "Cell nonlinearity.", choices=("tanh", "relu")))
    params += [
        Param("kernel_initializer", "choice", "default",
              "Input weights: default = PyTorch's uniform(-1/sqrt(H), 1/sqrt(H)).", choices=_INITS),
        Param("recurrent_initializer", "choice", "default",
              "Recurrent weights: default = PyTorch's; orthogonal is Keras' default.", choices=_INITS),
    ]
    return BlockDef(type=cell, category="Recurrent", help=help_text, params=tuple(params),
                    infer=_rnn_infer, build=_rnn_build, count=_rnn_count, extra_checks=_rnn_checks)


# --------------------------------------------------------------------------- Dense & activations
_ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid", "gelu", "softmax")


def _dense_build(ctx: Ctx):
    p = ctx.params
    module = _layers().Dense(ctx.in_shapes[0][-1], p["units"], p["activation"], p["use_bias"])
    if p["kernel_initializer"] != "default":
        import torch.nn as nn

        _init_weight(module.linear.weight, p["kernel_initializer"])
        if module.linear.bias is not None:
            nn.init.zeros_(module.linear.bias)
    return module


def _dense_infer(ctx: Ctx) -> Shape:
    ctx.need_width(0)
    return ctx.in_shapes[0][:-1] + (ctx.params["units"],)


DENSE = BlockDef(
    type="Dense", category="Dense & activations",
    help="Fully connected layer on the last axis; on a sequence it acts on every time step (Keras 3).",
    params=(
        Param("units", "int", 1, "Output features.", min=1, max=65536),
        Param("activation", "choice", "linear", "Applied after the linear map.", choices=_ACTIVATIONS),
        Param("use_bias", "bool", True, "Add a learned bias."),
        Param("kernel_initializer", "choice", "default", "Weight initialization.", choices=_INITS),
    ),
    infer=_dense_infer, build=_dense_build,
    count=lambda ctx: ctx.in_shapes[0][-1] * ctx.params["units"] + (ctx.params["units"] if ctx.params["use_bias"] else 0),
)

ACTIVATION = BlockDef(
    type="Activation", category="Dense & activations", help="Elementwise activation (softmax on the last axis).",
    params=(Param("activation", "choice", "relu", "The function.", choices=_ACTIVATIONS),),
    infer=lambda ctx: ctx.in_shapes[0], build=lambda ctx: _layers().Activation(ctx.params["activation"]),
    count=lambda ctx: 0,
)


# --------------------------------------------------------------------------- Merge
def _concat_infer(ctx: Ctx) -> Shape:
    first = ctx.in_shapes[0]
    for i, s in enumerate(ctx.in_shapes[1:], start=1):
        if len(s) != len(first) or s[:-1] != first[:-1]:
            raise ShapeError(
                f"{ctx.who} joins on the last axis, so all other axes must match, but {ctx.src(0)} gives "
                f"{fmt_shape(first)} and {ctx.src(i)} gives {fmt_shape(s)}: make both sequences "
                f"(return_sequences=true) or both vectors")
    widths = [s[-1] for s in ctx.in_shapes]
    return first[:-1] + (None if None in widths else sum(widths),)


def _add_infer(ctx: Ctx) -> Shape:
    first = ctx.in_shapes[0]
    for i, s in enumerate(ctx.in_shapes[1:], start=1):
        if s != first:
            raise ShapeError(
                f"{ctx.who} adds elementwise, so shapes must be equal, but {ctx.src(0)} gives "
                f"{fmt_shape(first)} and {ctx.src(i)} gives {fmt_shape(s)}: give both the same units "
                f"(or use Concatenate)")
    return first


CONCATENATE = BlockDef(
    type="Concatenate", category="Merge", help="Join two or more inputs on the last (feature) axis; link order = input order.",
    params=(), infer=_concat_infer, build=lambda ctx: _layers().Concatenate(), count=lambda ctx: 0,
    min_inputs=2, max_inputs=None,
)
ADD = BlockDef(
    type="Add", category="Merge", help="Elementwise sum of two or more inputs of equal shape (residual connections).",
    params=(), infer=_add_infer, build=lambda ctx: _layers().Add(), count=lambda ctx: 0,
    min_inputs=2, max_inputs=None,
)


# --------------------------------------------------------------------------- Regularize
DROPOUT = BlockDef(
    type="Dropout", category="Regularize", help="Randomly zeroes a fraction of the values while training.",
    params=(Param("rate", "float", 0.2, "Fraction dropped while training.", min=0.0, max=1.0, max_exclusive=True),),
    infer=lambda ctx: ctx.in_shapes[0], build=lambda ctx: _torch_nn().Dropout(ctx.params["rate"]),
    count=lambda ctx: 0,
)


def _ln_infer(ctx: Ctx) -> Shape:
    ctx.need_width(0)
    return ctx.in_shapes[0]


LAYER_NORM = BlockDef(
    type="LayerNormalization", category="Regularize", help="Normalize each time step over its features (learned scale and shift).",
    params=(Param("epsilon", "float", 1e-3, "Added to the variance (Keras default 1e-3).", min=1e-12, max=1.0),),
    infer=_ln_infer, build=lambda ctx: _torch_nn().LayerNorm(ctx.in_shapes[0][-1], eps=ctx.params["epsilon"]),
    count=lambda ctx: 2 * ctx.in_shapes[0][-1],
)


# --------------------------------------------------------------------------- Pooling / attention
def _pool_infer(ctx: Ctx) -> Shape:
    shape = ctx.need_sequence(0, "pools over time, so it needs a sequence (batch, time, features)")
    return (None, shape[2])


def _pool(kind: str) -> BlockDef:
    mode = "max" if kind == "Max" else "mean"
    return BlockDef(
        type=f"Global{kind}Pooling1D", category="Pooling & attention",
        help=f"{'Maximum' if mode == 'max' else 'Mean'} over time: (B, T, F) -> (B, F).",
        params=(), infer=_pool_infer, build=lambda ctx: _layers().GlobalPool1D(mode), count=lambda ctx: 0,
    )


def _flatten_infer(ctx: Ctx) -> Shape:
    _, t, f = ctx.need_sequence(0, "flattens time and features, so it needs a sequence (batch, time, features)")
    return (None, None if t is None or f is None else t * f)


FLATTEN = BlockDef(
    type="Flatten", category="Pooling & attention",
    help="(B, T, F) -> (B, T*F): feed a whole window to Dense layers. Needs a fixed timesteps.",
    params=(), infer=_flatten_infer, build=lambda ctx: _layers().Flatten(), count=lambda ctx: 0,
)


def _mha_key_dim(ctx: Ctx) -> int:
    p = ctx.params
    return p["key_dim"] if p["key_dim"] is not None else ctx.in_shapes[0][-1] // p["num_heads"]


def _mha_infer(ctx: Ctx) -> Shape:
    shape = ctx.need_sequence(0, "attends over time, so it needs a sequence (batch, time, features)")
    width = ctx.need_width(0)
    p = ctx.params
    if p["key_dim"] is None and width % p["num_heads"]:
        raise ShapeError(
            f"{ctx.who}: num_heads={p['num_heads']} does not divide the input width {width} from {ctx.src()}: "
            f"choose num_heads dividing {width} or set key_dim explicitly")
    return shape


def _mha_count(ctx: Ctx) -> int:
    width, inner = ctx.in_shapes[0][-1], ctx.params["num_heads"] * _mha_key_dim(ctx)
    return 3 * (width * inner + inner) + inner * width + width


MHA = BlockDef(
    type="MultiHeadAttention", category="Pooling & attention",
    help="Self-attention over time (query = key = value = input); output keeps the input's shape.",
    params=(
        Param("num_heads", "int", 4, "Attention heads.", min=1, max=256),
        Param("key_dim", "int", None, "Size of each head; null = input width / num_heads.", min=1, max=4096,
              nullable=True, null_means="width / num_heads"),
        Param("dropout", "float", 0.0, "Dropout on the attention weights.", min=0.0, max=1.0, max_exclusive=True),
        Param("causal", "bool", False, "Each step attends only to itself and the past (forecasting)."),
    ),
    infer=_mha_infer, count=_mha_count,
    build=lambda ctx: _layers().SelfAttention(ctx.in_shapes[0][-1], ctx.params["num_heads"], _mha_key_dim(ctx),
                                              ctx.params["dropout"], ctx.params["causal"]),
)


CATALOG: dict[str, BlockDef] = {
    d.type: d
    for d in (
        INPUT,
        _recurrent("GRU", "Gated recurrent unit (PyTorch GRU = Keras reset_after=True)."),
        _recurrent("LSTM", "Long short-term memory."),
        _recurrent("SimpleRNN", "Plain (Elman) recurrent layer."),
        DENSE, ACTIVATION, CONCATENATE, ADD, DROPOUT, LAYER_NORM,
        _pool("Average"), _pool("Max"), FLATTEN, MHA,
    )
}

CATEGORIES = ("Input", "Recurrent", "Dense & activations", "Merge", "Regularize", "Pooling & attention")
