"""Hypothesis strategies for random designs, shared by engine and export property tests.

Generic over the catalog: every block type takes part, with params drawn from its BlockDef's
`test_values` (choices and bools from all their values). A block is kept only where `check` accepts it,
so designs are valid without this file knowing any type's shape rule.
"""

from __future__ import annotations

from hypothesis import strategies as st

from rnn_studio.engine import CATALOG, Block, BlockDef, Project, check
from rnn_studio.engine.design.blocks import INPUT_TYPE

LAYER_TYPES = [t for t, d in CATALOG.items() if d.min_inputs == 1 and d.max_inputs == 1]
# recurrent types listed twice: most random designs hold one or more
WEIGHTED_LAYER_TYPES = LAYER_TYPES + [t for t in LAYER_TYPES if CATALOG[t].onnx_op]
MERGE_TYPES = [t for t, d in CATALOG.items() if d.min_inputs >= 2]
TRIES = 6  # random blocks tried per step before giving the step up


def draw_params(draw, d: BlockDef) -> dict:
    """Params for a block of type `d`: test_values where given, every choice / bool, else the default."""
    out = {}
    for prm in d.params:
        if prm.name in d.test_values:
            out[prm.name] = draw(st.sampled_from(d.test_values[prm.name]))
        elif prm.kind == "bool":
            out[prm.name] = draw(st.booleans())
        elif prm.kind == "choice":
            out[prm.name] = draw(st.sampled_from(prm.choices))
    return out


def _try_add(project: Project, bid: str, btype: str, params: dict, sources: list[str]) -> bool:
    """Add the block fed by `sources`; keep it when the design stays valid."""
    project.add_block(Block(bid, btype, params))
    for s in sources:
        project.add_link(s, bid)
    if check(project).ok:
        return True
    project.remove_block(bid)
    return False


def _add_layer(draw, project: Project, bid: str, source: str) -> bool:
    for _ in range(TRIES):
        btype = draw(st.sampled_from(WEIGHTED_LAYER_TYPES))
        if _try_add(project, bid, btype, draw_params(draw, CATALOG[btype]), [source]):
            return True
    return False


def _add_branch(draw, project: Project, bid: str, source: str) -> bool:
    """A side path from `source` merged back with it (link order drawn too)."""
    side = bid + "s"
    if not _add_layer(draw, project, side, source):
        return False
    btype = draw(st.sampled_from(MERGE_TYPES))
    sources = [source, side] if draw(st.booleans()) else [side, source]
    project.add_block(Block(bid, btype, draw_params(draw, CATALOG[btype])))
    for s in sources:
        project.add_link(s, bid)
    if check(project).ok:
        return True
    project.remove_block(bid)
    project.remove_block(side)
    return False


@st.composite
def valid_designs(draw, max_blocks: int = 7, allow_null_time: bool = True):
    """Random designs that `check` accepts, built block by block from the whole catalog."""
    params = draw_params(draw, CATALOG[INPUT_TYPE])
    if not allow_null_time and params.get("timesteps", 1) is None:
        params["timesteps"] = 3
    project = Project("random", [Block("x", INPUT_TYPE, params)], [])
    cur = "x"
    for step in range(draw(st.integers(1, max_blocks))):
        bid = f"b{step}"
        branch = MERGE_TYPES and draw(st.integers(0, 4)) == 0
        if (_add_branch if branch else _add_layer)(draw, project, bid, cur):
            cur = bid
    return project


@st.composite
def garbage_designs(draw):
    """Arbitrary, mostly broken designs: unknown types, wrong param types, random links."""
    types = list(CATALOG) + ["GRUU", "", "Conv2D"]
    ids = draw(st.lists(st.sampled_from(["x", "a", "b", "c", "d", "e", "a.b", "1x"]), min_size=0, max_size=7))
    values = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-3, 200),
        st.floats(allow_nan=True),
        st.text(max_size=5),
        st.lists(st.integers(), max_size=2),
    )
    names = st.sampled_from(
        [
            "units",
            "timesteps",
            "features",
            "rate",
            "bidirectional",
            "merge_mode",
            "num_heads",
            "key_dim",
            "return_sequences",
            "num_layers",
            "activation",
            "zzz",
            "filters",
            "kernel_size",
            "padding",
            "strides",
            "dilation_rate",
        ]
    )
    blocks = [Block(i, draw(st.sampled_from(types)), draw(st.dictionaries(names, values, max_size=3))) for i in ids]
    pool = ids + ["ghost"]
    links = draw(st.lists(st.tuples(st.sampled_from(pool), st.sampled_from(pool)), max_size=8)) if ids else []
    return Project("garbage", blocks, links)
