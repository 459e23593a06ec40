"""What one forward pass costs, block by block: parameters, multiply-accumulates, activation and state bytes.

`check` fills `CheckResult.costs` on every edit (plain arithmetic over the shapes it has just inferred; no
torch), so the designer shows cost live. One sample (batch 1), float32, at the Input's timesteps, or, for a
variable-length Input, at `check(project, length=T)` / the training lookback / 32 steps.

The MAC convention (one multiply-accumulate = one multiply and one add; docs/export.md):
    recurrent   sum over layers of D * T * G * H * (I_l + H); G = 4 LSTM, 3 GRU, 1 SimpleRNN; D = 2 when
                bidirectional; I_1 = the input width, I_l = D * H after the first layer
    Dense       (T if it keeps the time axis, else 1) * F_in * units
    Conv1D      T_out * filters * kernel_size * F_in / groups (groups = 1 here)
    attention   its matmuls: q, k, v and output projections 4 * T * F * (heads * key_dim), scores and
                weighted sum 2 * T * T * (heads * key_dim)
    the rest    0: biases, gate and element-wise arithmetic (activations, normalization, Add, pooling,
                Dropout, Embedding lookups) are left out, as MATLAB, ptflops and torchinfo leave them out
Each type's rule is its BlockDef's `macs` hook; `state_values` gives the recurrent state one sample
carries between steps (h, and c for an LSTM, per layer and direction).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

FLOAT_BYTES = 4
DEFAULT_LENGTH = 32  # a variable-length Input without --length or a training lookback


@dataclass(frozen=True)
class BlockCost:
    """One block, one sample: what `check --json` lists under `blocks`."""

    parameters: int = 0
    macs: int = 0
    activation_bytes: int = 0  # its output, float32
    state_bytes: int = 0  # recurrent state carried between steps, float32

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def concrete(shape, length: int) -> tuple:
    """`shape` with an unknown time axis set to `length` (the batch axis stays None)."""
    if len(shape) == 3 and shape[1] is None:
        return (shape[0], length, shape[2])
    return tuple(shape)


def cost_length(input_params: dict | None, training: dict | None, length: int | None) -> int:
    """The time steps cost is counted at: the Input's fixed timesteps, else `length`, else the training
    lookback, else DEFAULT_LENGTH."""
    steps = (input_params or {}).get("timesteps")
    if isinstance(steps, int) and not isinstance(steps, bool) and steps > 0:
        return steps
    if isinstance(length, int) and length > 0:
        return length
    lookback = (training or {}).get("lookback") if isinstance(training, dict) else None
    if isinstance(lookback, int) and not isinstance(lookback, bool) and lookback > 0:
        return lookback
    return DEFAULT_LENGTH


def block_cost(definition, ctx, out_shape, parameters: int, length: int) -> BlockCost:
    """The cost of one checked block (`ctx` as the shape rule saw it) at `length` time steps."""
    out = concrete(out_shape, length)
    sized = ctx
    if any(len(s) == 3 and s[1] is None for s in ctx.in_shapes):  # a variable-length design: at `length` steps
        in_shapes = [concrete(s, length) for s in ctx.in_shapes]
        sized = type(ctx)(ctx.id, ctx.type, ctx.params, in_shapes, ctx.sources, ctx.source_types)
    elements = math.prod(d for d in out[1:] if d is not None)
    return BlockCost(
        parameters=parameters,
        macs=int(definition.macs(sized, out)),
        activation_bytes=elements * FLOAT_BYTES,
        state_bytes=int(definition.state_values(ctx.params)) * FLOAT_BYTES,
    )


def totals(costs: dict[str, BlockCost]) -> dict[str, int]:
    """Sums over the blocks (the `totals` of `check --json`)."""
    return {
        "parameters": sum(c.parameters for c in costs.values()),
        "macs": sum(c.macs for c in costs.values()),
        "activation_bytes": sum(c.activation_bytes for c in costs.values()),
        "state_bytes": sum(c.state_bytes for c in costs.values()),
    }


def human_count(n: float) -> str:
    """1234 -> '1.23 k', 2.5e6 -> '2.5 M': MACs on the canvas and in the status bar."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)}"


# ---------------------------------------------------------------- per-type rules (BlockDef.macs hooks)
def recurrent_macs(gates: int):
    """sum over layers of D * T * G * H * (I_l + H)."""

    def macs(ctx, out_shape) -> int:
        p = ctx.params
        directions = 2 if p["bidirectional"] else 1
        hidden, steps, width = int(p["units"]), ctx.in_shapes[0][1], ctx.in_shapes[0][-1]
        total = 0
        for _ in range(int(p["num_layers"])):
            total += directions * steps * gates * hidden * (width + hidden)
            width = directions * hidden
        return total

    return macs


def recurrent_state(cells: int):
    """h (and c for an LSTM) per layer and direction."""

    def state(p) -> int:
        directions = 2 if p.get("bidirectional") else 1
        return cells * int(p["units"]) * int(p["num_layers"]) * directions

    return state


def dense_macs(ctx, out_shape) -> int:
    shape = ctx.in_shapes[0]
    steps = shape[1] if len(shape) == 3 else 1
    return steps * shape[-1] * int(ctx.params["units"])


def conv1d_macs(ctx, out_shape) -> int:
    return out_shape[1] * int(ctx.params["filters"]) * int(ctx.params["kernel_size"]) * ctx.in_shapes[0][-1]


def attention_macs(inner_width):
    """4 projections T * F * inner, then scores and weighted sum 2 * T * T * inner."""

    def macs(ctx, out_shape) -> int:
        _, steps, width = ctx.in_shapes[0]
        inner = inner_width(ctx)
        return 4 * steps * width * inner + 2 * steps * steps * inner

    return macs
