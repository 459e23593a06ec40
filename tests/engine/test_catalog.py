"""Every block type is defined in one place: its BlockDef (engine/design/blocks.py) and its module
(engine/design/layers.py).

1. Each catalog type provides what every consumer needs (checked by using it the way they do: check,
   compile, canvas subtitle, CLI summary, look-ahead, opset, ONNX export, PyTorch source, property ranges).
2. No type's name shows up in code elsewhere in engine/, exports/, gui/, rnn_studio/, so adding a type
   stays "add one BlockDef" (the count is over code: identifiers and whole string literals, not prose).
"""

from __future__ import annotations

import io
import tokenize
from pathlib import Path

import pytest
import torch

from rnn_studio import engine
from rnn_studio.engine import CATALOG, CATEGORIES, Block, Project, check
from rnn_studio.engine.design.blocks import INPUT_TYPE
from rnn_studio.exports import MAX_OPSET, MIN_OPSET, export_onnx, generate_source
from rnn_studio.exports.pytorch_source import _class_name, _load_source

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("engine", "exports", "gui", "rnn_studio")
HOME = {"engine/design/blocks.py", "engine/design/layers.py"}
# the one justified mapping: foreign model formats (Keras layer classes, ONNX op patterns) onto our types;
# the importer package counts as one place
MAPPING = "engine/importers/"
# a type name that is also something else, where that other thing is meant
OTHER_MEANINGS = {
    INPUT_TYPE: {
        "gui/icons.py": "the 'Input' category's icon",
        "gui/theme.py": "the 'Input' category's colour",
        "gui/inspector.py": "the label of the design's input shape row",
    },
}


def _example_design(btype: str) -> Project:
    """The smallest valid design holding `btype` with its default params (merges join two Dense)."""
    d = CATALOG[btype]
    p = Project(f"one {btype}", [Block("x", INPUT_TYPE, {"timesteps": 8, "features": 4})], [])
    if btype == INPUT_TYPE:
        p.add_block(Block("out", "Dense", {"units": 2}))
        p.add_link("x", "out")
        return p
    sources = ["x"]
    if d.min_inputs >= 2:
        sources = [f"in{i}" for i in range(d.min_inputs)]
        for s in sources:
            p.add_block(Block(s, "Dense", {"units": 4}))
            p.add_link("x", s)
    p.add_block(Block("b", btype, {}))
    for s in sources:
        p.add_link(s, "b")
    if not check(p).ok and CATALOG[btype].reads_tokens:  # it reads token ids: an int64 Input of one id per step
        p.block("x").params.update({"features": 1, "dtype": "int64"})
    if not check(p).ok and sources == ["x"]:  # a block that takes a vector (RepeatVector): pool time away first
        p.remove_block("b")
        p.add_block(Block("pool", "GlobalAveragePooling1D", {}))
        p.add_block(Block("b", btype, {}))
        p.add_link("x", "pool")
        p.add_link("pool", "b")
    return p


@pytest.mark.parametrize("btype", list(CATALOG))
def test_every_type_serves_every_consumer(btype, tmp_path):
    d = CATALOG[btype]
    assert d.category in CATEGORIES and d.help.strip()
    project = _example_design(btype)
    res = check(project)
    assert res.ok, [str(p) for p in res.errors]
    params = d.defaults()
    assert isinstance(d.subtitle(params), str) and isinstance(d.describe(params), str)  # canvas, CLI summary
    assert d.describe(params).startswith(btype)
    why = d.reads_later_steps(params)  # the look-ahead warning names the reason
    assert why is None or (isinstance(why, str) and why)
    need = d.min_opset(params)
    assert need is None or (MIN_OPSET <= need[0] <= MAX_OPSET and need[1])
    assert isinstance(d.reverses_time(params), bool) and d.recurrent_layers(params) >= 0
    for name, values in d.test_values.items():  # property-test ranges are valid values
        prm = d.param(name)
        assert values and all(prm.validate(v) is None for v in values), (name, values)
    torch.manual_seed(0)
    model = engine.build_model(project, res).eval()
    has_weights = any(True for _ in model.blocks["out" if btype == INPUT_TYPE else "b"].parameters())
    assert d.has_weights == has_weights or btype == INPUT_TYPE
    rep = export_onnx(model, project, tmp_path / "m.onnx")  # verified against onnxruntime
    assert rep.passed, rep.message
    source, state = generate_source(model, project)
    gen = getattr(_load_source(source, "generated.py"), _class_name(project.name))()
    gen.load_state_dict(state, strict=True)
    x = torch.randn(3, 8, 4) if not d.reads_tokens else torch.randint(0, 2, (3, 8, 1))
    with torch.no_grad():
        assert torch.allclose(gen.eval()(x), model(x), atol=1e-6)


def _code_names(path: Path) -> set[str]:
    """Identifiers and whole string literals in a Python file (comments and prose left out)."""
    names = set()
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline):
        if tok.type == tokenize.NAME:
            names.add(tok.string)
        elif tok.type == tokenize.STRING:
            body = tok.string.lstrip("rbuRBU")
            quote = body[:3] if body[:3] in ('"""', "'''") else body[:1]
            names.add(body[len(quote) : -len(quote)])
    return names


def test_a_type_name_lives_in_blocks_and_layers_only():
    files: dict[str, set] = {}
    for d in SOURCE_DIRS:
        for p in sorted((ROOT / d).rglob("*.py")):
            rel = str(p.relative_to(ROOT))
            files.setdefault(MAPPING if rel.startswith(MAPPING) else rel, set()).update(_code_names(p))
    for btype in CATALOG:
        found = {f for f, names in files.items() if btype in names} - HOME - {MAPPING}
        found -= set(OTHER_MEANINGS.get(btype, ()))
        assert not found, (
            f"block type {btype!r} is named in code in {sorted(found)}: put what that code needs "
            f"in the type's BlockDef (engine/design/blocks.py) and read it from there"
        )
        named = {f for f, names in files.items() if btype in names} - set(OTHER_MEANINGS.get(btype, ()))
        assert len(named) <= 3, sorted(named)


def test_the_count_sees_a_type_name_in_code(tmp_path):
    """The counter is not blind: a type-specific branch is found, the same word in prose is not."""
    code = tmp_path / "x.py"
    code.write_text('# a GRU comment\nMSG = "the GRU block"\nif t == "GRU":\n    pass\n', encoding="utf-8")
    assert "GRU" in _code_names(code)
    code.write_text('# a GRU comment\nMSG = "the GRU block"\n', encoding="utf-8")
    assert "GRU" not in _code_names(code)
