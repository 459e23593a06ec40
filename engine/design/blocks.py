"""The block catalog: one definition per block type, holding every fact about the type.

How to add a block type
-----------------------
Add one `BlockDef` to `CATALOG` below (and, when plain torch modules don't do, one class to
engine/design/layers.py). Nothing else: `check`, the compiler, the GUI palette, inspector and canvas, the CLI,
the JSON Schema and docs, the look-ahead warning, the ONNX and PyTorch-source exporters and the property
tests all read the definition. tests/engine/test_catalog.py fails when a definition misses what a consumer
needs, and when a type's name shows up in code outside blocks.py and layers.py.

Fields and hooks of a `BlockDef` (params = the block's resolved params, a dict):
- type, category (palette group, one of CATEGORIES), help, params (`Param`s: validation, widgets, schema,
  docs), min_inputs / max_inputs (None = any number; inputs arrive in link order).
- infer(ctx) -> output shape, or raise ShapeError with a complete, fixable one-line message.
- build(ctx) -> torch module (import torch lazily, through `_layers()` / `_torch_nn()`).
- count(ctx) -> number of trainable parameters (must equal the module's; a property test checks it).
- extra_checks(ctx) -> error lines about param combinations (the block is then not shape-checked).
- lints(ctx) -> warning lines about a valid block (runs after infer; ctx.in_shapes are known).
- summary(params) -> the one-line subtitle under the block on the canvas (and in the inspector).
- call_text(params) -> the CLI `summary` column, Keras style: "LSTM(64, bi/concat, seq)".
- reads_later_steps(params) -> None, or why output step t reads input steps after t (bidirectional,
  non-causal attention, 'same' convolution ...): the forecasting look-ahead warning names it.
- reverses_time(params) -> True when the output's time axis runs backwards (go_backwards).
- min_opset(params) -> None, or (opset, why) when the ONNX export needs a later opset than 9.
- source(ctx, module) -> `Source`: how the PyTorch-source export writes the block (constructor,
  forward expression, where its weights live, which engine/design/layers.py classes it copies).
- test_values: {param: values} the property tests draw from (small sizes keep them fast); params not
  listed use all choices / both bools / the default.
- has_weights, noisy_in_training, normalizes, recurrent_layers(params), onnx_op / onnx_attrs: facts
  the GUI colours, design lints and the ONNX structure check read; onnx_keeps_fp32: fp16 / int8 exports
  leave that operator in fp32 (exports/precision.py).
- macs(ctx, out_shape) -> multiply-accumulates of one sample's forward pass, ctx.in_shapes and out_shape
  with the time axis set to the cost length (engine/design/cost.py states the convention); state_values(params)
  -> recurrent state values one sample carries between steps. Default 0 (element-wise work is left out).
- reads_tokens / token_vocabulary(params): the block takes an int64 Input's token ids (check allows int
  input into these blocks only; exports draw sample ids below the vocabulary). makes_mask(params) /
  uses_mask / passes_mask(params): padding masks, as Keras propagates them (engine/design/compile.py carries
  them; a module that makes one has mask_of(input), one that uses one takes forward(x, mask=...)).

Shapes are tuples with None for unknown dims: (None, 10, 128) is (batch, time, features).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import cost as _cost
from .params import Param

Shape = tuple  # (None, T, F) or (None, F); None = unknown
Params = dict[str, Any]


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
class Source:
    """How the PyTorch-source export writes one block.

    init: the constructor assigned to `self.<block>` ("nn.Linear(4, 8)"); None = no module (inline).
    forward: the expression computing the block's output; `{m}` is `self.<block>`, `{inputs[i]}` its
        i-th input's variable. weights: prefix of the block's weights inside its compiled module
        ("" = all of them, "linear." = the inner Linear's); None = no weights.
    needs: names from engine/design/layers.py copied verbatim into the generated file, in order.
    """

    forward: str
    init: str | None = None
    weights: str | None = None
    needs: tuple[str, ...] = ()


def _no_lines(ctx: Ctx) -> list[str]:
    return []


def _nothing(params: Params) -> None:
    return None


def _empty(params: Params) -> str:
    return ""


def _false(params: Params) -> bool:
    return False


def _zero(params: Params) -> int:
    return 0


def _no_saved(params: Params, length: int) -> int:
    return 0


def _no_macs(ctx: Ctx, out_shape: Shape) -> int:
    return 0


@dataclass(frozen=True)
class BlockDef:
    type: str
    category: str  # palette group
    help: str
    params: tuple[Param, ...]
    infer: Callable[[Ctx], Shape]
    build: Callable[[Ctx], Any]  # -> torch.nn.Module (torch imported lazily)
    count: Callable[[Ctx], int]  # number of trainable parameters
    source: Callable[[Ctx, Any], Source]  # (ctx, built module) -> how the PyTorch-source export writes it
    min_inputs: int = 1
    max_inputs: int | None = 1  # None = any number
    extra_checks: Callable[[Ctx], list[str]] = _no_lines  # errors about param combinations
    lints: Callable[[Ctx], list[str]] = _no_lines  # warnings about a valid block
    summary: Callable[[Params], str] = _empty  # canvas subtitle
    call_text: Callable[[Params], str] | None = None  # CLI summary; None = the type name
    reads_later_steps: Callable[[Params], str | None] = _nothing  # why step t sees steps after t
    reverses_time: Callable[[Params], bool] = _false
    min_opset: Callable[[Params], tuple[int, str] | None] = _nothing
    test_values: dict[str, tuple] = field(default_factory=dict)  # property-test draws per param
    has_weights: bool = False
    noisy_in_training: bool = False  # random while training (a bad output block)
    normalizes: bool = False  # resets the "deep recurrent stack without normalization" count
    recurrent_layers: Callable[[Params], int] = _zero  # recurrent layers this block stacks
    # values per sample kept for the backward pass besides the output, at sequence length `length`
    # (engine/design/resources.py's training-memory estimate): gate activations, attention maps
    saved_per_sample: Callable[[Params, int], int] = _no_saved
    # cost of one sample's forward pass (engine/design/cost.py): multiply-accumulates, recurrent state values
    macs: Callable[[Ctx, Shape], int] = _no_macs
    state_values: Callable[[Params], int] = _zero
    # token ids and padding masks (Embedding, Masking, recurrent layers)
    reads_tokens: bool = False  # takes the integer token ids of an int64 Input (and only this may)
    token_vocabulary: Callable[[Params], int | None] = _nothing  # ids must lie in [0, this)
    makes_mask: Callable[[Params], bool] = _false  # the module's mask_of(input) marks the real steps
    uses_mask: bool = False  # the module's forward takes mask= (True at real steps) and honours it
    passes_mask: Callable[[Params], bool] = _false  # its output keeps its input's mask (Keras supports_masking)
    onnx_op: str | None = None  # the native ONNX operator the export must contain (one per layer)
    onnx_attrs: tuple[tuple[str, int], ...] = ()  # integer attributes that operator must carry
    # its onnx_op stays fp32 in fp16 / int8 exports (exports/precision.py): onnxruntime's dynamic quantization
    # has no rule for it, and in fp16 it drifted in a trial
    onnx_keeps_fp32: bool = False
    # bias values per unit (per direction and layer) PyTorch keeps and Keras does not: LSTM / SimpleRNN hold a
    # second bias vector (b_hh) that Keras folds into one; a GRU has two in both (reset_after=True)
    torch_only_biases: int = 0

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def describe(self, params: Params) -> str:
        """The CLI summary's type column: call_text, or the bare type name."""
        return self.call_text(params) if self.call_text else self.type

    def subtitle(self, params: Params) -> str:
        """The canvas subtitle; never raises on half-edited params (the canvas paints them too)."""
        try:
            return self.summary(params)
        except (KeyError, TypeError, ValueError):
            return ""


def _layers():
    from . import layers  # torch is imported only when a model is built

    return layers


def _torch_nn():
    import torch.nn as nn

    return nn


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# --------------------------------------------------------------------------- Input
def _input_infer(ctx: Ctx) -> Shape:
    return (None, ctx.params["timesteps"], ctx.params["features"])


INPUT_DTYPES = ("float32", "int64")


def is_token_input(p: Params) -> bool:
    """Does an Input with params `p` carry integer token ids?"""
    return p.get("dtype") == "int64"


def _input_checks(ctx: Ctx) -> list[str]:
    if is_token_input(ctx.params) and ctx.params["features"] != 1:
        return [
            f"{ctx.who}: dtype=int64 carries one token id per step, but features={ctx.params['features']}: "
            f"set features=1 (an Embedding turns each id into a vector)"
        ]
    return []


def _input_summary(p: Params) -> str:
    steps = "variable" if p["timesteps"] is None else p["timesteps"]
    if is_token_input(p):
        return f"{steps} steps \u00b7 token ids"
    return f"{steps} steps \u00b7 {_plural(p['features'], 'feature')}"


INPUT = BlockDef(
    type="Input",
    category="Input",
    help="The sequence fed to the model: (batch, timesteps, features). timesteps null = variable length.",
    params=(
        Param(
            "timesteps",
            "int",
            10,
            "Time steps per sequence (window length); null for variable length.",
            min=1,
            max=100_000,
            nullable=True,
            null_means="variable length",
        ),
        Param("features", "int", 1, "Features (channels) per time step.", min=1, max=100_000),
        Param(
            "dtype",
            "choice",
            "float32",
            "float32: measured values; int64: integer token ids (one per step, "
            "features=1), read by an Embedding block.",
            choices=INPUT_DTYPES,
        ),
    ),
    infer=_input_infer,
    extra_checks=_input_checks,
    build=lambda ctx: _torch_nn().Identity(),
    count=lambda ctx: 0,
    source=lambda ctx, module: Source(forward="{inputs[0]}"),  # the generated forward's argument
    min_inputs=0,
    max_inputs=0,
    summary=_input_summary,
    test_values={"timesteps": (None, 1, 2, 3, 5), "features": (1, 2, 3, 4), "dtype": ("float32",)},
)
INPUT_TYPE = INPUT.type  # the graph's entry; `check` finds it by this name


# --------------------------------------------------------------------------- Recurrent
RECURRENT = ("GRU", "LSTM", "SimpleRNN")
_GATES = {"GRU": 3, "LSTM": 4, "SimpleRNN": 1}
_ONNX_OP = {"GRU": "GRU", "LSTM": "LSTM", "SimpleRNN": "RNN"}
_INITS = ("default", "glorot_uniform", "he_uniform", "orthogonal")
_RECURRENT_DEFAULTS = dict(
    num_layers=1,
    bidirectional=False,
    merge_mode="concat",
    return_sequences=False,
    go_backwards=False,
    dropout=0.0,
    nonlinearity="tanh",
)


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
        out.append(
            f"{ctx.who}: a bidirectional stack (num_layers={p['num_layers']}) passes concatenated "
            f"halves between its layers, so merge_mode must be concat (received {p['merge_mode']!r}): "
            f"set merge_mode=concat or split it into {p['num_layers']} blocks"
        )
    if p["bidirectional"] and p["go_backwards"]:
        out.append(
            f"{ctx.who}: go_backwards applies to one-direction layers; a bidirectional layer already "
            f"reads both ways: set go_backwards=false"
        )
    return out


def _rnn_lints(ctx: Ctx) -> list[str]:
    p = ctx.params
    if p["dropout"] > 0 and p["num_layers"] == 1:
        return [
            f"{ctx.who}: dropout={p['dropout']} acts only between stacked layers and has no effect "
            f"with num_layers=1: raise num_layers or add a Dropout block after it"
        ]
    return []


def _rnn_build(ctx: Ctx):
    import torch.nn as nn

    p = ctx.params
    module = _layers().Recurrent(
        ctx.type,
        ctx.in_shapes[0][-1],
        p["units"],
        num_layers=p["num_layers"],
        bidirectional=p["bidirectional"],
        merge_mode=p["merge_mode"],
        return_sequences=p["return_sequences"],
        go_backwards=p["go_backwards"],
        dropout=p["dropout"],
        nonlinearity=p.get("activation", "tanh"),
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


def _kwargs(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in values.items())


def _rnn_source(ctx: Ctx, module) -> Source:
    p = ctx.params
    kw = dict(
        num_layers=p["num_layers"],
        bidirectional=p["bidirectional"],
        merge_mode=p["merge_mode"],
        return_sequences=p["return_sequences"],
        go_backwards=p["go_backwards"],
        dropout=p["dropout"] if p["num_layers"] > 1 else 0.0,
        nonlinearity=p.get("activation", "tanh"),
    )
    kw = {k: v for k, v in kw.items() if v != _RECURRENT_DEFAULTS[k]}
    if not p["bidirectional"]:
        kw.pop("merge_mode", None)
    args = f"{ctx.type!r}, {ctx.in_shapes[0][-1]}, {p['units']}" + (", " + _kwargs(kw) if kw else "")
    return Source(init=f"Recurrent({args})", forward="{m}({inputs[0]})", weights="", needs=("merge_pair", "Recurrent"))


def _rnn_summary(p: Params) -> str:
    bits = [f"{p['units']} units"]
    if p.get("num_layers", 1) > 1:
        bits.append(f"\u00d7{p['num_layers']} layers")
    bits.append("sequence" if p["return_sequences"] else "last state")
    return " \u00b7 ".join(bits)


def _rnn_call_text(cell: str) -> Callable[[Params], str]:
    def call_text(p: Params) -> str:
        bits = [f"{p['units']}"]
        if p["bidirectional"]:
            bits.append(f"bi/{p['merge_mode']}")
        if p["num_layers"] > 1:
            bits.append(f"x{p['num_layers']}")
        if p["go_backwards"]:
            bits.append("backwards")
        bits.append("seq" if p["return_sequences"] else "last")
        return f"{cell}({', '.join(bits)})"

    return call_text


def _rnn_reads_later(p: Params) -> str | None:
    if p.get("bidirectional"):
        return "bidirectional"
    return "go_backwards" if p.get("go_backwards") else None


def _rnn_min_opset(p: Params) -> tuple[int, str] | None:
    return (10, "go_backwards reverses time with a negative-step Slice") if p.get("go_backwards") else None


_SAVED_GATES = {"GRU": 3, "LSTM": 5, "SimpleRNN": 1}  # per unit and step (LSTM: 4 gates + the cell)


def _rnn_saved(gates: int) -> Callable[[Params, int], int]:
    def saved(p: Params, length: int) -> int:
        directions = 2 if p.get("bidirectional") else 1
        return gates * int(p["units"]) * int(p["num_layers"]) * directions * length

    return saved


def _recurrent(cell: str, help_text: str) -> BlockDef:
    params = [
        Param("units", "int", 64, "Hidden units per direction.", min=1, max=8192),
        Param("bidirectional", "bool", False, "Read the sequence both ways (one fused call)."),
        Param(
            "merge_mode",
            "choice",
            "concat",
            "How the two directions are joined when bidirectional.",
            choices=("concat", "sum", "mul", "ave"),
        ),
        Param(
            "return_sequences", "bool", False, "true: output every time step (B, T, H); false: the final state (B, H)."
        ),
        Param(
            "go_backwards",
            "bool",
            False,
            "Process the sequence reversed; sequence outputs stay in reversed order (Keras).",
        ),
        Param("num_layers", "int", 1, "Layers stacked inside one fused call.", min=1, max=16),
        Param(
            "dropout",
            "float",
            0.0,
            "Dropout between the stacked layers (needs num_layers > 1).",
            min=0.0,
            max=1.0,
            max_exclusive=True,
        ),
    ]
    if cell == "SimpleRNN":
        params.append(Param("activation", "choice", "tanh", "Cell nonlinearity.", choices=("tanh", "relu")))
    params += [
        Param(
            "kernel_initializer",
            "choice",
            "default",
            "Input weights: default = PyTorch's uniform(-1/sqrt(H), 1/sqrt(H)).",
            choices=_INITS,
        ),
        Param(
            "recurrent_initializer",
            "choice",
            "default",
            "Recurrent weights: default = PyTorch's; orthogonal is Keras' default.",
            choices=_INITS,
        ),
    ]
    return BlockDef(
        type=cell,
        category="Recurrent",
        help=help_text,
        params=tuple(params),
        infer=_rnn_infer,
        build=_rnn_build,
        count=_rnn_count,
        source=_rnn_source,
        extra_checks=_rnn_checks,
        lints=_rnn_lints,
        summary=_rnn_summary,
        call_text=_rnn_call_text(cell),
        reads_later_steps=_rnn_reads_later,
        reverses_time=lambda p: bool(p.get("go_backwards")),
        min_opset=_rnn_min_opset,
        has_weights=True,
        recurrent_layers=lambda p: p["num_layers"],
        uses_mask=True,
        passes_mask=lambda p: bool(p.get("return_sequences")),
        saved_per_sample=_rnn_saved(_SAVED_GATES[cell]),
        macs=_cost.recurrent_macs(_GATES[cell]),
        state_values=_cost.recurrent_state(2 if cell == "LSTM" else 1),
        onnx_op=_ONNX_OP[cell],
        onnx_attrs=(("linear_before_reset", 1),) if cell == "GRU" else (),
        onnx_keeps_fp32=cell != "LSTM",  # LSTM has DynamicQuantizeLSTM; GRU / RNN have no int8 rule
        torch_only_biases=0 if cell == "GRU" else _GATES[cell],
        test_values={"units": (1, 2, 3, 4, 5, 6), "num_layers": (1, 2), "dropout": (0.0, 0.1)},
    )


# --------------------------------------------------------------------------- Tokens & masking (palette: Input)
def _embedding_infer(ctx: Ctx) -> Shape:
    _, steps, width = ctx.need_sequence(0, "embeds token ids, so it needs token sequences (batch, time, 1)")
    if width != 1:
        raise ShapeError(
            f"{ctx.who} reads one token id per step but {ctx.src()} gives {fmt_shape(ctx.in_shapes[0])}: "
            f"feed it from an Input with dtype=int64 and features=1"
        )
    return (None, steps, ctx.params["output_dim"])


def _embedding_source(ctx: Ctx, module) -> Source:
    p = ctx.params
    mask = ", mask_zero=True" if p["mask_zero"] else ""
    return Source(
        init=f"Embedding({p['input_dim']}, {p['output_dim']}{mask})",
        forward="{m}({inputs[0]})",
        weights="",
        needs=("Embedding",),
    )


EMBEDDING = BlockDef(
    type="Embedding",
    category="Input",
    help="Token ids -> learned vectors (Keras Embedding): (B, T, 1) int64 ids in [0, input_dim) -> (B, T, "
    "output_dim). mask_zero: id 0 is padding, and recurrent layers after it skip those steps.",
    params=(
        Param(
            "input_dim", "int", 1000, "Vocabulary size: token ids run from 0 to input_dim - 1.", min=1, max=10_000_000
        ),
        Param("output_dim", "int", 32, "Size of each token's vector.", min=1, max=65536),
        Param(
            "mask_zero",
            "bool",
            False,
            "Token 0 is padding: mask it for the recurrent layers downstream "
            "(then input_dim counts the padding id too).",
        ),
    ),
    infer=_embedding_infer,
    build=lambda ctx: _layers().Embedding(ctx.params["input_dim"], ctx.params["output_dim"], ctx.params["mask_zero"]),
    count=lambda ctx: ctx.params["input_dim"] * ctx.params["output_dim"],
    source=_embedding_source,
    summary=lambda p: f"{p['input_dim']} tokens \u2192 {p['output_dim']}" + (" \u00b7 mask 0" * p["mask_zero"]),
    call_text=lambda p: f"Embedding({p['input_dim']}, {p['output_dim']}{', mask_zero' if p['mask_zero'] else ''})",
    has_weights=True,
    reads_tokens=True,
    token_vocabulary=lambda p: p["input_dim"],
    makes_mask=lambda p: bool(p["mask_zero"]),
    test_values={"input_dim": (1, 3, 7), "output_dim": (1, 2, 3), "mask_zero": (False,)},
)


def _masking_source(ctx: Ctx, module) -> Source:
    return Source(init=f"Masking({ctx.params['mask_value']!r})", forward="{m}({inputs[0]})", needs=("Masking",))


MASKING = BlockDef(
    type="Masking",
    category="Input",
    help="Marks padded steps (every feature equal to mask_value) and zeroes them (Keras Masking): recurrent "
    "layers downstream skip those steps, so each sequence's last state is its last real step's.",
    params=(
        Param("mask_value", "float", 0.0, "A step whose features all equal this is padding.", min=-1e30, max=1e30),
    ),
    infer=lambda ctx: ctx.in_shapes[0],
    build=lambda ctx: _layers().Masking(ctx.params["mask_value"]),
    count=lambda ctx: 0,
    source=_masking_source,
    summary=lambda p: f"skip steps = {p['mask_value']:g}",
    makes_mask=lambda p: True,
    test_values={"mask_value": (0.0,)},
)


# --------------------------------------------------------------------------- Dense & activations
_ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid", "gelu", "softmax")
_ACTIVATION_SOURCE = {  # the activation written inline in generated PyTorch source; {} = its argument
    "linear": "{}",
    "relu": "torch.relu({})",
    "tanh": "torch.tanh({})",
    "sigmoid": "torch.sigmoid({})",
    "gelu": "F.gelu({})",
    "softmax": "torch.softmax({}, dim=-1)",
}


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


def _dense_source(ctx: Ctx, module) -> Source:
    p = ctx.params
    bias = "" if p["use_bias"] else ", bias=False"
    return Source(
        init=f"nn.Linear({ctx.in_shapes[0][-1]}, {p['units']}{bias})",
        weights="linear.",
        forward=_ACTIVATION_SOURCE[p["activation"]].format("{m}({inputs[0]})"),
    )


def _dense_lints(ctx: Ctx) -> list[str]:
    if ctx.params["activation"] == "softmax" and ctx.params["units"] == 1:
        return [f"{ctx.who}: softmax over 1 unit always outputs 1.0: use sigmoid for one unit, or more units"]
    return []


def _dense_summary(p: Params) -> str:
    units = _plural(p["units"], "unit")
    return units if p["activation"] == "linear" else f"{units} \u00b7 {p['activation']}"


def _dense_call_text(p: Params) -> str:
    return f"Dense({p['units']}{'' if p['activation'] == 'linear' else ', ' + p['activation']})"


DENSE = BlockDef(
    type="Dense",
    category="Dense & activations",
    help="Fully connected layer on the last axis; on a sequence it acts on every time step (Keras 3).",
    params=(
        Param("units", "int", 1, "Output features.", min=1, max=65536),
        Param("activation", "choice", "linear", "Applied after the linear map.", choices=_ACTIVATIONS),
        Param("use_bias", "bool", True, "Add a learned bias."),
        Param("kernel_initializer", "choice", "default", "Weight initialization.", choices=_INITS),
    ),
    infer=_dense_infer,
    build=_dense_build,
    source=_dense_source,
    count=lambda ctx: (
        ctx.in_shapes[0][-1] * ctx.params["units"] + (ctx.params["units"] if ctx.params["use_bias"] else 0)
    ),
    lints=_dense_lints,
    macs=_cost.dense_macs,
    summary=_dense_summary,
    call_text=_dense_call_text,
    has_weights=True,
    passes_mask=lambda p: True,
    test_values={"units": (1, 2, 3, 4, 5, 6)},
)

ACTIVATION = BlockDef(
    type="Activation",
    category="Dense & activations",
    help="Elementwise activation (softmax on the last axis).",
    params=(Param("activation", "choice", "relu", "The function.", choices=_ACTIVATIONS),),
    infer=lambda ctx: ctx.in_shapes[0],
    build=lambda ctx: _layers().Activation(ctx.params["activation"]),
    count=lambda ctx: 0,
    source=lambda ctx, module: Source(forward=_ACTIVATION_SOURCE[ctx.params["activation"]].format("{inputs[0]}")),
    summary=lambda p: p["activation"],
    passes_mask=lambda p: True,
)


# --------------------------------------------------------------------------- Convolution
_PADDINGS = ("valid", "same", "causal")


def _conv_span(p: Params) -> int:
    """Time steps one output step's kernel covers (Keras' effective kernel size)."""
    return (p["kernel_size"] - 1) * p["dilation_rate"] + 1


def conv1d_padding(p: Params, steps: int | None) -> tuple[int, int]:
    """(left, right) zeros Keras adds in time for `padding`; 'same' puts the odd one on the right (TF).
    With strides > 1, 'same' depends on the length, so it needs a fixed `steps`."""
    span = _conv_span(p)
    if p["padding"] == "causal":
        return (span - 1, 0)
    if p["padding"] == "valid":
        return (0, 0)
    stride = p["strides"]
    if stride == 1:
        total = span - 1
    else:
        assert steps is not None, "'same' with strides > 1 needs a fixed length (the shape rule says so)"
        total = max((math.ceil(steps / stride) - 1) * stride + span - steps, 0)
    return (total // 2, total - total // 2)


def _conv_checks(ctx: Ctx) -> list[str]:
    p = ctx.params
    if p["strides"] > 1 and p["dilation_rate"] > 1:
        return [
            f"{ctx.who}: strides={p['strides']} together with dilation_rate={p['dilation_rate']} is not "
            f"supported (Keras rejects it too): set strides=1 or dilation_rate=1"
        ]
    return []


def _conv_infer(ctx: Ctx) -> Shape:
    _, steps, _ = ctx.need_sequence(0, "convolves over time, so it needs a sequence (batch, time, features)")
    ctx.need_width(0)
    p = ctx.params
    span, stride = _conv_span(p), p["strides"]
    if steps is None:
        if p["padding"] == "same" and stride > 1:
            raise ShapeError(
                f"{ctx.who}: padding='same' with strides={stride} pads by an amount that depends on "
                f"the length, so it needs a fixed timesteps on the Input: set timesteps, or use "
                f"padding=causal or strides=1"
            )
        if p["padding"] == "valid" and span > 1:
            raise ShapeError(
                f"{ctx.who}: padding='valid' needs at least {span} time steps, so it needs a fixed "
                f"timesteps on the Input (a shorter sequence has no output): set timesteps, or use "
                f"padding=causal or same"
            )
        return (None, None, p["filters"])
    if p["padding"] == "valid":
        if steps < span:
            raise ShapeError(
                f"{ctx.who}: the kernel spans {span} time steps (kernel_size={p['kernel_size']}, "
                f"dilation_rate={p['dilation_rate']}) but {ctx.src()} gives only {steps}: use "
                f"padding=causal or same, a smaller kernel_size, or more timesteps"
            )
        return (None, (steps - span) // stride + 1, p["filters"])
    return (None, -(-steps // stride), p["filters"])


def _conv_build(ctx: Ctx):
    p = ctx.params
    return _layers().Conv1D(
        ctx.in_shapes[0][-1],
        p["filters"],
        p["kernel_size"],
        strides=p["strides"],
        dilation_rate=p["dilation_rate"],
        pad=conv1d_padding(p, ctx.in_shapes[0][1]),
        activation=p["activation"],
        use_bias=p["use_bias"],
    )


def _conv_source(ctx: Ctx, module) -> Source:
    p = ctx.params
    kw: dict[str, Any] = {
        "strides": p["strides"],
        "dilation_rate": p["dilation_rate"],
        "pad": module.pad,
        "activation": p["activation"],
        "use_bias": p["use_bias"],
    }
    defaults = {"strides": 1, "dilation_rate": 1, "pad": (0, 0), "activation": "linear", "use_bias": True}
    kw = {k: v for k, v in kw.items() if v != defaults[k]}
    args = f"{ctx.in_shapes[0][-1]}, {p['filters']}, {p['kernel_size']}" + (", " + _kwargs(kw) if kw else "")
    return Source(init=f"Conv1D({args})", forward="{m}({inputs[0]})", weights="", needs=("Activation", "Conv1D"))


def _conv_reads_later(p: Params) -> str | None:
    span = _conv_span(p)
    if p["padding"] == "same" and span > 1:
        return f"padding='same' reads {span - 1 - (span - 1) // 2} later step(s)"
    if p["padding"] == "valid" and span > 1:
        return f"padding='valid' gives step t the input steps t..t+{span - 1}"
    if p["strides"] > 1:
        return f"strides={p['strides']} gives step t the input step {p['strides']}t"
    return None


def _conv_summary(p: Params) -> str:
    bits = [_plural(p["filters"], "filter"), f"kernel {p['kernel_size']}"]
    if p["strides"] > 1:
        bits.append(f"stride {p['strides']}")
    if p["dilation_rate"] > 1:
        bits.append(f"dilation {p['dilation_rate']}")
    bits.append(p["padding"])
    if p["activation"] != "linear":
        bits.append(p["activation"])
    return " \u00b7 ".join(bits)


def _conv_call_text(p: Params) -> str:
    bits = [str(p["filters"]), str(p["kernel_size"])]
    bits += [f"strides={p['strides']}"] if p["strides"] > 1 else []
    bits += [f"dilation={p['dilation_rate']}"] if p["dilation_rate"] > 1 else []
    bits.append(p["padding"])
    bits += [p["activation"]] if p["activation"] != "linear" else []
    return f"Conv1D({', '.join(bits)})"


CONV1D = BlockDef(
    type="Conv1D",
    category="Convolution",
    help="1D convolution over time (Keras Conv1D): (B, T, F) -> (B, T', filters). padding=causal never reads "
    "later steps (forecasting); 'same' keeps the length; 'valid' shortens it by (kernel_size-1)*dilation_rate.",
    params=(
        Param("filters", "int", 32, "Output features (channels).", min=1, max=65536),
        Param("kernel_size", "int", 3, "Time steps one kernel covers (before dilation).", min=1, max=4096),
        Param("strides", "int", 1, "Step between kernel positions; >1 shortens the sequence.", min=1, max=4096),
        Param(
            "padding",
            "choice",
            "valid",
            "valid: no padding; same: output length ceil(T/strides), centered; "
            "causal: zeros on the left only, so step t sees steps <= t.",
            choices=_PADDINGS,
        ),
        Param("dilation_rate", "int", 1, "Spacing between the kernel's taps.", min=1, max=4096),
        Param("activation", "choice", "linear", "Applied after the convolution.", choices=_ACTIVATIONS),
        Param("use_bias", "bool", True, "Add a learned bias."),
    ),
    infer=_conv_infer,
    build=_conv_build,
    source=_conv_source,
    extra_checks=_conv_checks,
    count=lambda ctx: (
        ctx.params["kernel_size"] * ctx.in_shapes[0][-1] * ctx.params["filters"]
        + (ctx.params["filters"] if ctx.params["use_bias"] else 0)
    ),
    summary=_conv_summary,
    macs=_cost.conv1d_macs,
    call_text=_conv_call_text,
    reads_later_steps=_conv_reads_later,
    has_weights=True,
    test_values={"filters": (1, 2, 3, 4, 5), "kernel_size": (1, 2, 3), "strides": (1, 2), "dilation_rate": (1, 2)},
)


# --------------------------------------------------------------------------- Merge
def _concat_infer(ctx: Ctx) -> Shape:
    first = ctx.in_shapes[0]
    for i, s in enumerate(ctx.in_shapes[1:], start=1):
        if len(s) != len(first) or s[:-1] != first[:-1]:
            raise ShapeError(
                f"{ctx.who} joins on the last axis, so all other axes must match, but {ctx.src(0)} gives "
                f"{fmt_shape(first)} and {ctx.src(i)} gives {fmt_shape(s)}: make both sequences "
                f"(return_sequences=true) or both vectors"
            )
    widths = [s[-1] for s in ctx.in_shapes]
    return first[:-1] + (None if None in widths else sum(widths),)


def _add_infer(ctx: Ctx) -> Shape:
    first = ctx.in_shapes[0]
    for i, s in enumerate(ctx.in_shapes[1:], start=1):
        if s != first:
            raise ShapeError(
                f"{ctx.who} adds elementwise, so shapes must be equal, but {ctx.src(0)} gives "
                f"{fmt_shape(first)} and {ctx.src(i)} gives {fmt_shape(s)}: give both the same units "
                f"(or use Concatenate)"
            )
    return first


def _input_list(ctx: Ctx, joiner: str) -> str:
    return joiner.join(f"{{inputs[{i}]}}" for i in range(len(ctx.sources)))


CONCATENATE = BlockDef(
    type="Concatenate",
    category="Merge",
    help="Join two or more inputs on the last (feature) axis; link order = input order.",
    params=(),
    infer=_concat_infer,
    build=lambda ctx: _layers().Concatenate(),
    count=lambda ctx: 0,
    source=lambda ctx, module: Source(forward=f"torch.cat([{_input_list(ctx, ', ')}], dim=-1)"),
    min_inputs=2,
    max_inputs=None,
    summary=lambda p: "join on features",
)
ADD = BlockDef(
    type="Add",
    category="Merge",
    help="Elementwise sum of two or more inputs of equal shape (residual connections).",
    params=(),
    infer=_add_infer,
    build=lambda ctx: _layers().Add(),
    count=lambda ctx: 0,
    source=lambda ctx, module: Source(forward=_input_list(ctx, " + ")),
    min_inputs=2,
    max_inputs=None,
    summary=lambda p: "elementwise sum",
)


# --------------------------------------------------------------------------- Regularize
DROPOUT = BlockDef(
    type="Dropout",
    category="Regularize",
    help="Randomly zeroes a fraction of the values while training.",
    params=(Param("rate", "float", 0.2, "Fraction dropped while training.", min=0.0, max=1.0, max_exclusive=True),),
    infer=lambda ctx: ctx.in_shapes[0],
    build=lambda ctx: _torch_nn().Dropout(ctx.params["rate"]),
    count=lambda ctx: 0,
    source=lambda ctx, module: Source(init=f"nn.Dropout({ctx.params['rate']!r})", forward="{m}({inputs[0]})"),
    summary=lambda p: f"rate {p['rate']:g}",
    noisy_in_training=True,
    test_values={"rate": (0.0, 0.2, 0.5)},
    passes_mask=lambda p: True,
)


def _ln_infer(ctx: Ctx) -> Shape:
    ctx.need_width(0)
    return ctx.in_shapes[0]


LAYER_NORM = BlockDef(
    type="LayerNormalization",
    category="Regularize",
    help="Normalize each time step over its features (learned scale and shift).",
    params=(Param("epsilon", "float", 1e-3, "Added to the variance (Keras default 1e-3).", min=1e-12, max=1.0),),
    infer=_ln_infer,
    build=lambda ctx: _torch_nn().LayerNorm(ctx.in_shapes[0][-1], eps=ctx.params["epsilon"]),
    count=lambda ctx: 2 * ctx.in_shapes[0][-1],
    source=lambda ctx, module: Source(
        init=f"nn.LayerNorm({ctx.in_shapes[0][-1]}, eps={ctx.params['epsilon']!r})",
        forward="{m}({inputs[0]})",
        weights="",
    ),
    summary=lambda p: f"\u03b5 {p['epsilon']:g}",
    has_weights=True,
    normalizes=True,
    test_values={"epsilon": (1e-5, 1e-3, 0.5)},
    passes_mask=lambda p: True,
)


def _bn_build(ctx: Ctx):
    p = ctx.params
    return _layers().BatchNorm(
        ctx.in_shapes[0][-1], momentum=p["momentum"], epsilon=p["epsilon"], center=p["center"], scale=p["scale"]
    )


def _bn_source(ctx: Ctx, module) -> Source:
    p = ctx.params
    kw = {
        k: p[k]
        for k, default in (("momentum", 0.99), ("epsilon", 1e-3), ("center", True), ("scale", True))
        if p[k] != default
    }
    args = f"{ctx.in_shapes[0][-1]}" + (", " + _kwargs(kw) if kw else "")
    return Source(init=f"BatchNorm({args})", forward="{m}({inputs[0]})", weights="", needs=("BatchNorm",))


BATCH_NORM = BlockDef(
    type="BatchNormalization",
    category="Regularize",
    help="Normalize each feature over the batch (and time) while training, with running statistics in "
    "evaluation and export (Keras BatchNormalization, axis=-1).",
    params=(
        Param(
            "momentum",
            "float",
            0.99,
            "Keras convention: running = momentum * running + (1 - momentum) * batch (torch's momentum is 1 - this).",
            min=0.0,
            max=1.0,
        ),
        Param("epsilon", "float", 1e-3, "Added to the variance (Keras default 1e-3).", min=1e-12, max=1.0),
        Param("center", "bool", True, "Learn a shift (beta)."),
        Param("scale", "bool", True, "Learn a scale (gamma)."),
    ),
    infer=_ln_infer,
    build=_bn_build,
    source=_bn_source,
    count=lambda ctx: ctx.in_shapes[0][-1] * (int(ctx.params["center"]) + int(ctx.params["scale"])),
    summary=lambda p: f"momentum {p['momentum']:g} \u00b7 \u03b5 {p['epsilon']:g}",
    has_weights=True,
    normalizes=True,
    test_values={"momentum": (0.0, 0.9, 0.99), "epsilon": (1e-5, 1e-3, 0.5), "center": (True,), "scale": (True,)},
)


# --------------------------------------------------------------------------- Pooling / attention


def _pool_infer(ctx: Ctx) -> Shape:
    shape = ctx.need_sequence(0, "pools over time, so it needs a sequence (batch, time, features)")
    return (None, shape[2])


def _pool(kind: str) -> BlockDef:
    mode = "max" if kind == "Max" else "mean"
    reduce = "amax" if mode == "max" else "mean"
    return BlockDef(
        type=f"Global{kind}Pooling1D",
        category="Pooling & attention",
        help=f"{'Maximum' if mode == 'max' else 'Mean'} over time: (B, T, F) -> (B, F).",
        params=(),
        infer=_pool_infer,
        build=lambda ctx: _layers().GlobalPool1D(mode),
        count=lambda ctx: 0,
        source=lambda ctx, module: Source(forward=f"{{inputs[0]}}.{reduce}(dim=1)"),
        summary=lambda p: f"{mode} over time",
    )


def _repeat_infer(ctx: Ctx) -> Shape:
    shape = ctx.in_shapes[0]
    if len(shape) != 2:
        hint = (
            f"set return_sequences=false on {ctx.src()}"
            if ctx.source_types and ctx.source_types[0] in RECURRENT
            else "pool over time first (GlobalAveragePooling1D)"
        )
        raise ShapeError(
            f"{ctx.who} repeats a vector (batch, features) but {ctx.src()} gives {fmt_shape(shape)}: {hint}"
        )
    return (None, ctx.params["n"], shape[1])


REPEAT_VECTOR = BlockDef(
    type="RepeatVector",
    category="Pooling & attention",
    help="(B, F) -> (B, n, F): the same vector at each of n steps (Keras RepeatVector; encoder-decoder "
    "models feed an encoder's last state to a decoder this way).",
    params=(Param("n", "int", 1, "Time steps of the output.", min=1, max=100_000),),
    infer=_repeat_infer,
    build=lambda ctx: _layers().RepeatVector(ctx.params["n"]),
    count=lambda ctx: 0,
    source=lambda ctx, module: Source(forward=f"{{inputs[0]}}.unsqueeze(1).repeat(1, {ctx.params['n']}, 1)"),
    summary=lambda p: f"\u00d7 {p['n']} steps",
    call_text=lambda p: f"RepeatVector({p['n']})",
    reads_later_steps=lambda p: "every output step gets the same summary of the whole window",
    test_values={"n": (1, 2, 3)},
)


def _window_params(p: Params) -> Params:
    """A pooling block's params in Conv1D's terms (its window is a kernel without dilation)."""
    return {"kernel_size": p["pool_size"], "strides": _pool_stride(p), "dilation_rate": 1, "padding": p["padding"]}


def _pool_stride(p: Params) -> int:
    return p["pool_size"] if p["strides"] is None else p["strides"]


def _window_pool_infer(ctx: Ctx) -> Shape:
    _, steps, width = ctx.need_sequence(0, "pools over time, so it needs a sequence (batch, time, features)")
    p = ctx.params
    size, stride = p["pool_size"], _pool_stride(p)
    if steps is None:
        if p["padding"] == "same" and stride > 1:
            raise ShapeError(
                f"{ctx.who}: padding='same' with strides={stride} pads by an amount that depends on "
                f"the length, so it needs a fixed timesteps on the Input: set timesteps, or use "
                f"strides=1"
            )
        if p["padding"] == "valid" and size > 1:
            raise ShapeError(
                f"{ctx.who}: padding='valid' needs at least {size} time steps, so it needs a fixed "
                f"timesteps on the Input (a shorter sequence has no output): set timesteps, or use "
                f"padding=same with strides=1"
            )
        return (None, None, width)
    if p["padding"] == "valid":
        if steps < size:
            raise ShapeError(
                f"{ctx.who}: pool_size={size} is longer than the {steps} time steps {ctx.src()} "
                f"gives: use padding=same, a smaller pool_size, or more timesteps"
            )
        return (None, (steps - size) // stride + 1, width)
    return (None, -(-steps // stride), width)


def _window_pool_build(mode: str) -> Callable[[Ctx], Any]:
    def build(ctx: Ctx):
        p = ctx.params
        pad = conv1d_padding(_window_params(p), ctx.in_shapes[0][1])
        return _layers().Pool1D(mode, p["pool_size"], _pool_stride(p), pad)

    return build


def _window_pool_source(ctx: Ctx, module) -> Source:
    pad = f", {module.pad!r}" if module.pad != (0, 0) else ""
    return Source(
        init=f"Pool1D({module.mode!r}, {module.pool_size}, {module.strides}{pad})",
        forward="{m}({inputs[0]})",
        needs=("Pool1D",),
    )


def _window_pool_reads_later(p: Params) -> str | None:
    size, stride = p["pool_size"], _pool_stride(p)
    if size > 1:
        return f"pool_size={size} gives step t the input steps up to {stride}t+{size - 1}"
    return f"strides={stride} gives step t the input step {stride}t" if stride > 1 else None


def _window_pool_text(kind: str) -> Callable[[Params], str]:
    def call_text(p: Params) -> str:
        bits = [str(p["pool_size"])]
        if p["strides"] is not None and p["strides"] != p["pool_size"]:
            bits.append(f"strides={p['strides']}")
        return f"{kind}Pooling1D({', '.join(bits + [p['padding']])})"

    return call_text


def _window_pool_summary(p: Params) -> str:
    stride = _pool_stride(p)
    return f"pool {p['pool_size']} \u00b7 stride {stride} \u00b7 {p['padding']}"


def _window_pool(kind: str) -> BlockDef:
    mode = "max" if kind == "Max" else "average"
    return BlockDef(
        type=f"{kind}Pooling1D",
        category="Pooling & attention",
        help=f"{'Maximum' if mode == 'max' else 'Mean'} over windows of time steps (Keras {kind}Pooling1D): "
        f"(B, T, F) -> (B, T', F); T' = (T - pool_size) // strides + 1 (valid) or ceil(T / strides) (same).",
        params=(
            Param("pool_size", "int", 2, "Time steps per window.", min=1, max=4096),
            Param(
                "strides",
                "int",
                None,
                "Step between windows; null = pool_size (Keras' default).",
                min=1,
                max=4096,
                nullable=True,
                null_means="pool_size",
            ),
            Param(
                "padding",
                "choice",
                "valid",
                "valid: windows inside the sequence only; same: output length "
                "ceil(T/strides), padding left out of every window.",
                choices=("valid", "same"),
            ),
        ),
        infer=_window_pool_infer,
        build=_window_pool_build(mode),
        count=lambda ctx: 0,
        source=_window_pool_source,
        summary=_window_pool_summary,
        call_text=_window_pool_text(kind),
        reads_later_steps=_window_pool_reads_later,
        test_values={"pool_size": (1, 2, 3), "strides": (None, 1, 2)},
    )


def _flatten_infer(ctx: Ctx) -> Shape:
    _, t, f = ctx.need_sequence(0, "flattens time and features, so it needs a sequence (batch, time, features)")
    return (None, None if t is None or f is None else t * f)


def _flatten_lints(ctx: Ctx) -> list[str]:
    if ctx.in_shapes[0][1] is None:
        return [
            f"{ctx.who} needs a fixed sequence length but the Input has timesteps=null: set timesteps "
            f"on the Input or pool over time instead (GlobalAveragePooling1D)"
        ]
    return []


FLATTEN = BlockDef(
    type="Flatten",
    category="Pooling & attention",
    help="(B, T, F) -> (B, T*F): feed a whole window to Dense layers. Needs a fixed timesteps.",
    params=(),
    infer=_flatten_infer,
    build=lambda ctx: _layers().Flatten(),
    count=lambda ctx: 0,
    source=lambda ctx, module: Source(forward="torch.flatten({inputs[0]}, start_dim=1)"),
    lints=_flatten_lints,
    summary=lambda p: "time \u00d7 features",
    reads_later_steps=lambda p: "Flatten",
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
            f"choose num_heads dividing {width} or set key_dim explicitly"
        )
    return shape


def _mha_count(ctx: Ctx) -> int:
    width, inner = ctx.in_shapes[0][-1], ctx.params["num_heads"] * _mha_key_dim(ctx)
    return 3 * (width * inner + inner) + inner * width + width


def _mha_source(ctx: Ctx, module) -> Source:
    kw: dict[str, Any] = {}
    if module.dropout:
        kw["dropout"] = module.dropout
    if module.causal:
        kw["causal"] = True
    args = f"{ctx.in_shapes[0][-1]}, {module.num_heads}, {module.key_dim}" + (", " + _kwargs(kw) if kw else "")
    return Source(init=f"SelfAttention({args})", forward="{m}({inputs[0]})", weights="", needs=("SelfAttention",))


def _mha_summary(p: Params) -> str:
    text = f"{p['num_heads']} heads"
    if p.get("key_dim") is not None:
        text += f" \u00b7 key {p['key_dim']}"
    return text + (" \u00b7 causal" if p.get("causal") else "")


MHA = BlockDef(
    type="MultiHeadAttention",
    category="Pooling & attention",
    help="Self-attention over time (query = key = value = input); output keeps the input's shape.",
    params=(
        Param("num_heads", "int", 4, "Attention heads.", min=1, max=256),
        Param(
            "key_dim",
            "int",
            None,
            "Size of each head; null = input width / num_heads.",
            min=1,
            max=4096,
            nullable=True,
            null_means="width / num_heads",
        ),
        Param("dropout", "float", 0.0, "Dropout on the attention weights.", min=0.0, max=1.0, max_exclusive=True),
        Param("causal", "bool", False, "Each step attends only to itself and the past (forecasting)."),
    ),
    infer=_mha_infer,
    count=_mha_count,
    source=_mha_source,
    build=lambda ctx: _layers().SelfAttention(
        ctx.in_shapes[0][-1], ctx.params["num_heads"], _mha_key_dim(ctx), ctx.params["dropout"], ctx.params["causal"]
    ),
    summary=_mha_summary,
    has_weights=True,
    saved_per_sample=lambda p, length: int(p["num_heads"]) * length * length,  # the attention maps
    macs=_cost.attention_macs(lambda ctx: ctx.params["num_heads"] * _mha_key_dim(ctx)),
    reads_later_steps=lambda p: None if p.get("causal") else "non-causal attention",
    min_opset=lambda p: (14, "its causal mask needs the Trilu operator") if p.get("causal") else None,
    test_values={"num_heads": (1, 2, 3), "key_dim": (None, 1, 2, 4), "dropout": (0.0,)},
)


CATALOG: dict[str, BlockDef] = {
    d.type: d
    for d in (
        INPUT,
        EMBEDDING,
        MASKING,
        _recurrent("GRU", "Gated recurrent unit (PyTorch GRU = Keras reset_after=True)."),
        _recurrent("LSTM", "Long short-term memory."),
        _recurrent("SimpleRNN", "Plain (Elman) recurrent layer."),
        CONV1D,
        DENSE,
        ACTIVATION,
        CONCATENATE,
        ADD,
        DROPOUT,
        LAYER_NORM,
        BATCH_NORM,
        _pool("Average"),
        _pool("Max"),
        _window_pool("Max"),
        _window_pool("Average"),
        REPEAT_VECTOR,
        FLATTEN,
        MHA,
    )
}

CATEGORIES = ("Input", "Recurrent", "Convolution", "Dense & activations", "Merge", "Regularize", "Pooling & attention")
