"""Hypothesis strategies for random designs, shared by engine and export property tests."""
from __future__ import annotations

from hypothesis import strategies as st

from rnn_studio.engine import Block, Project

RECURRENT = ("GRU", "LSTM", "SimpleRNN")


@st.composite
def recurrent_params(draw, seq: bool | None = None):
    bidir = draw(st.booleans())
    layers = draw(st.integers(1, 2))
    p = {
        "units": draw(st.integers(1, 6)),
        "bidirectional": bidir,
        "merge_mode": "concat" if (bidir and layers > 1) else draw(st.sampled_from(["concat", "sum", "mul", "ave"])),
        "return_sequences": draw(st.booleans()) if seq is None else seq,
        "go_backwards": False if bidir else draw(st.booleans()),
        "num_layers": layers,
        "kernel_initializer": draw(st.sampled_from(["default", "glorot_uniform", "he_uniform", "orthogonal"])),
        "recurrent_initializer": draw(st.sampled_from(["default", "orthogonal"])),
    }
    if layers > 1:
        p["dropout"] = draw(st.sampled_from([0.0, 0.1]))
    return p


@st.composite
def valid_designs(draw, max_blocks: int = 7, allow_null_time: bool = True):
    """Random designs that are valid by construction (rank and width rules followed)."""
    t = draw(st.one_of(st.none(), st.integers(1, 5)) if allow_null_time else st.integers(1, 5))
    f = draw(st.integers(1, 4))
    blocks = [Block("x", "Input", {"timesteps": t, "features": f})]
    links: list[tuple[str, str]] = []
    cur, rank, width = "x", 3, f
    n = draw(st.integers(1, max_blocks))
    counter = 0

    def new(type_, params, srcs):
        nonlocal counter
        counter += 1
        bid = f"{type_.lower()[:3]}{counter}"
        blocks.append(Block(bid, type_, params))
        links.extend((s, bid) for s in srcs)
        return bid

    for _ in range(n):
        options = ["Dense", "Activation", "Dropout", "LayerNormalization", "branch"]
        if rank == 3:
            options += ["GRU", "LSTM", "SimpleRNN", "GRU", "LSTM", "GlobalAveragePooling1D",
                        "GlobalMaxPooling1D", "MultiHeadAttention"]
            if t is not None:
                options.append("Flatten")
        kind = draw(st.sampled_from(options))
        if kind in RECURRENT:
            p = draw(recurrent_params())
            if kind == "SimpleRNN":
                p["activation"] = draw(st.sampled_from(["tanh", "relu"]))
            cur = new(kind, p, [cur])
            width = p["units"] * (2 if p["bidirectional"] and p["merge_mode"] == "concat" else 1)
            rank = 3 if p["return_sequences"] else 2
        elif kind == "Dense":
            width = draw(st.integers(1, 6))
            cur = new("Dense", {"units": width, "activation": draw(st.sampled_from(
                ["linear", "relu", "tanh", "sigmoid", "gelu", "softmax"])), "use_bias": draw(st.booleans())}, [cur])
        elif kind == "Activation":
            cur = new("Activation", {"activation": draw(st.sampled_from(["relu", "tanh", "gelu", "softmax"]))}, [cur])
        elif kind == "Dropout":
            cur = new("Dropout", {"rate": draw(st.sampled_from([0.0, 0.2, 0.5]))}, [cur])
        elif kind == "LayerNormalization":
            cur = new("LayerNormalization", {}, [cur])
        elif kind.startswith("Global"):
            cur, rank = new(kind, {}, [cur]), 2
        elif kind == "Flatten":
            cur, rank, width = new("Flatten", {}, [cur]), 2, t * width
        elif kind == "MultiHeadAttention":
            heads = draw(st.sampled_from([h for h in (1, 2, 3) if width % h == 0]))
            p = {"num_heads": heads, "causal": draw(st.booleans())}
            if draw(st.booleans()):
                p["key_dim"] = draw(st.integers(1, 4))
            cur = new("MultiHeadAttention", p, [cur])
        else:  # branch: a side path merged back with Add (same shape) or Concatenate
            side_width = draw(st.integers(1, 5))
            side = new("Dense", {"units": side_width}, [cur])
            if draw(st.booleans()):
                back = new("Dense", {"units": width}, [side])
                cur = new("Add", {}, [cur, back])
            else:
                if draw(st.booleans()):
                    cur = new("Concatenate", {}, [side, cur])  # link order = input order
                else:
                    cur = new("Concatenate", {}, [cur, side])
                width += side_width
    return Project("random", blocks, links)


@st.composite
def garbage_designs(draw):
    """Arbitrary, mostly broken designs: unknown types, wrong param types, random links."""
    from rnn_studio.engine import CATALOG

    types = list(CATALOG) + ["GRUU", "", "Conv1D"]
    ids = draw(st.lists(st.sampled_from(["x", "a", "b", "c", "d", "e", "a.b", "1x"]), min_size=0, max_size=7))
    values = st.one_of(st.none(), st.booleans(), st.integers(-3, 200), st.floats(allow_nan=True),
                       st.text(max_size=5), st.lists(st.integers(), max_size=2))
    names = st.sampled_from(["units", "timesteps", "features", "rate", "bidirectional", "merge_mode",
                             "num_heads", "key_dim", "return_sequences", "num_layers", "activation", "zzz"])
    blocks = [Block(i, draw(st.sampled_from(types)), draw(st.dictionaries(names, values, max_size=3)))
              for i in ids]
    pool = ids + ["ghost"]
    links = draw(st.lists(st.tuples(st.sampled_from(pool), st.sampled_from(pool)), max_size=8)) if ids else []
    return Project("garbage", blocks, links)
