"""Project format v1: round trip, defaults, tolerance for unknown keys, one-line errors for bad files."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnn_studio.engine import Block, Project, ProjectFormatError, check, load_project
from rnn_studio.engine.design.schema import project_schema

ROOT_EXAMPLE = {
    "format": "rnn-studio",
    "version": 1,
    "name": "seed-keras",
    "blocks": [
        {"id": "x", "type": "Input", "params": {"timesteps": 10, "features": 1}},
        {"id": "g", "type": "GRU", "params": {"units": 64, "bidirectional": True, "return_sequences": True}},
        {"id": "l", "type": "LSTM", "params": {"units": 64, "bidirectional": True}},
        {"id": "y", "type": "Dense", "params": {"units": 1}},
    ],
    "links": [["x", "g"], ["g", "l"], ["l", "y"]],
}


def write(tmp_path, data, name="d.rnn.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_issue_example_loads_and_checks(tmp_path):
    p = load_project(write(tmp_path, ROOT_EXAMPLE))
    res = check(p)
    assert res.ok and res.total_params == 125_185
    assert p.block("g").resolved()["merge_mode"] == "concat"  # left out -> documented default


def test_round_trip_keeps_unknown_keys_and_omitted_params(tmp_path):
    data = json.loads(json.dumps(ROOT_EXAMPLE))
    data["future_field"] = {"a": 1}
    data["blocks"][1]["comment"] = "kept"
    data["layout"] = {"blocks": {"x": [0, 0]}, "zoom": 1.5}
    data["training"] = {"epochs": 3}
    p = load_project(write(tmp_path, data))
    p.save(tmp_path / "out.rnn.json")
    again = json.loads((tmp_path / "out.rnn.json").read_text())
    assert again == data  # nothing invented, nothing lost
    assert "merge_mode" not in again["blocks"][1]["params"]


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path):
    p = load_project(write(tmp_path, ROOT_EXAMPLE))
    p.save()
    assert sorted(f.name for f in tmp_path.iterdir()) == ["d.rnn.json"]


@pytest.mark.parametrize(
    "content,fragment",
    [
        ("{not json", "invalid JSON at line 1, column 2"),
        ("[]", "must hold a JSON object, found a list"),
        ({"format": "keras", "version": 1, "blocks": []}, '"format" must be "rnn-studio", found "keras"'),
        ({"format": "rnn-studio", "version": 2, "blocks": []}, "newer RNN Studio (format version 2)"),
        ({"format": "rnn-studio", "version": "1", "blocks": []}, '"version" must be a whole number, found "1"'),
        ({"format": "rnn-studio", "version": 1, "blocks": {}}, '"blocks" must be a list of blocks, found an object'),
        ({"format": "rnn-studio", "version": 1, "blocks": [3]}, "blocks[0] must be an object"),
        (
            {"format": "rnn-studio", "version": 1, "blocks": [{"type": "GRU"}]},
            'blocks[0]: "id" must be a non-empty string',
        ),
        ({"format": "rnn-studio", "version": 1, "blocks": [{"id": "g", "type": 5}]}, "block 'g': \"type\" must be"),
        (
            {"format": "rnn-studio", "version": 1, "blocks": [{"id": "g", "type": "GRU", "params": []}]},
            "block 'g': \"params\" must be an object, found a list",
        ),
        ({"format": "rnn-studio", "version": 1, "blocks": [], "links": [["a"]]}, "links[0] must be a pair"),
        ({"format": "rnn-studio", "version": 1, "blocks": [], "training": 3}, '"training" must be an object'),
    ],
)
def test_bad_files_give_one_line(tmp_path, content, fragment):
    path = write(tmp_path, content)
    with pytest.raises(ProjectFormatError) as e:
        load_project(path)
    msg = str(e.value)
    assert fragment in msg and "\n" not in msg and str(path) in msg


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(ProjectFormatError, match="no such file"):
        load_project(tmp_path / "nope.rnn.json")
    (tmp_path / "bin.rnn.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ProjectFormatError, match="not UTF-8"):
        load_project(tmp_path / "bin.rnn.json")
    with pytest.raises(ProjectFormatError, match="is a folder"):
        load_project(tmp_path)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=4),
        lambda c: (
            st.lists(c, max_size=3)
            | st.dictionaries(
                st.sampled_from(["format", "version", "blocks", "links", "id", "type", "params"]), c, max_size=4
            )
        ),
        max_leaves=12,
    )
)
def test_any_json_loads_or_fails_cleanly(data):
    try:
        p = Project.from_dict(data)
    except ProjectFormatError as e:
        assert "\n" not in str(e)
        return
    check(p)


def test_examples_validate_against_the_shipped_schema(examples_dir):
    jsonschema = pytest.importorskip("jsonschema")
    from pathlib import Path

    shipped = json.loads((Path(__file__).parents[2] / "docs" / "project-format.schema.json").read_text())
    assert shipped == project_schema(), "docs/project-format.schema.json is stale: run `rnn-studio schema`"
    for path in examples_dir.glob("*.rnn.json"):
        jsonschema.validate(json.loads(path.read_text()), shipped)
    bad = json.loads(json.dumps(ROOT_EXAMPLE))
    bad["blocks"][1]["params"]["merge_mode"] = "avg"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, shipped)


def test_edit_methods_emit_and_undo_exactly():
    p = Project.from_dict(ROOT_EXAMPLE)
    seen = []
    p.changed.connect(lambda event: seen.append(type(event).__name__))
    before = p.to_dict()
    memo = p.remove_block("g")
    assert p.block("g") is None and ("x", "g") not in p.links and ("g", "l") not in p.links
    p.restore_block(memo)
    assert p.to_dict() == before
    assert seen == ["BlockRemoved", "BlockAdded"]
    ok, why = p.can_link("y", "x")
    assert not ok and "takes no input" in why
    ok, why = p.can_link("y", "g")
    assert not ok and "already has one" in why
    p.remove_link("x", "g")
    ok, why = p.can_link("l", "g")
    assert not ok and "cycle" in why
    assert p.can_link("x", "g") == (True, "")
    p.add_block(Block(p.new_id("GRU"), "GRU"))
    assert p.block("gru1") is not None


def test_format_doc_lists_the_whole_catalog():
    from pathlib import Path

    from rnn_studio.engine.design.docs import project_format_markdown

    docs = Path(__file__).parents[2] / "docs"
    assert (docs / "project-format.md").read_text(encoding="utf-8") == project_format_markdown(docs), (
        "docs/project-format.md is stale: regenerate it (see engine/design/docs.py)"
    )
