"""Every error and warning `check` promises, each naming the block and how to fix it."""

import pytest

from rnn_studio.engine import Block, Project, check

X = ("x", "Input", {"timesteps": 10, "features": 1})


def design(blocks, links):
    return Project("t", [Block(i, t, dict(p)) for i, t, p in blocks], [tuple(link) for link in links])


def errors(p):
    return [(e.block, e.message) for e in check(p).errors]


def warnings(p):
    return [(w.block, w.message) for w in check(p).warnings]


def one_error(p, block, *fragments):
    errs = errors(p)
    assert len(errs) == 1, errs
    assert errs[0][0] == block, errs
    for f in fragments:
        assert f in errs[0][1], errs[0][1]
    return errs[0][1]


def test_issue_example_message_lstm_fed_2d():
    p = design(
        [
            X,
            ("g", "GRU", {"units": 64, "bidirectional": True}),
            ("l", "LSTM", {"units": 64}),
            ("y", "Dense", {"units": 1}),
        ],
        [("x", "g"), ("g", "l"), ("l", "y")],
    )
    msg = one_error(p, "l")
    assert msg == (
        "LSTM 'l' needs a sequence (batch, time, features) but 'g' gives (None, 128): set return_sequences=true on 'g'"
    )
    assert check(p).shapes["g"] == (None, 128)  # shapes up to the error are still shown
    assert check(p).shapes["y"] is None  # downstream is unknown, not a second error


def test_cycle():
    p = design(
        [X, ("a", "Dense", {"units": 2}), ("b", "Dense", {"units": 2}), ("c", "Add", {})],
        [("x", "c"), ("b", "c"), ("c", "a"), ("a", "b")],
    )
    msgs = [m for _, m in errors(p)]
    assert any(m.startswith("cycle: ") and "remove one of these links" in m for m in msgs), msgs


def test_missing_and_extra_inputs():
    p = design([X, ("d", "Dense", {}), ("e", "Dense", {})], [("x", "d"), ("x", "e"), ("d", "e")])
    one_error(p, "e", "takes 1 input but has 2", "'x', 'd'", "Concatenate or Add")
    p = design([X, ("c", "Concatenate", {}), ("y", "Dense", {})], [("x", "c"), ("c", "y")])
    one_error(p, "c", "needs at least 2 inputs but has 1")
    p = design([X, ("d", "Dense", {}), ("x2", "Input", {})], [("x", "d"), ("d", "x2")])
    assert any(b == "x2" and "takes no input" in m for b, m in errors(p))


def test_unknown_type_suggests():
    p = design([X, ("g", "GRUU", {})], [("x", "g")])
    one_error(p, "g", "unknown type 'GRUU'", "did you mean 'GRU'?")


@pytest.mark.parametrize(
    "params,fragment",
    [
        ({"unitz": 4}, "unknown param 'unitz': did you mean 'units'?"),
        ({"units": "64"}, "units must be a whole number, received '64'"),
        ({"units": 64.0}, "units must be a whole number, received 64.0 (write 64)"),
        ({"units": 0}, "units must be >= 1, received 0"),
        ({"units": True}, "units must be a whole number, received true"),
        ({"bidirectional": "yes"}, "bidirectional must be true or false, received 'yes'"),
        ({"merge_mode": "avg"}, "merge_mode must be one of concat, sum, mul, ave; received 'avg'"),
        ({"dropout": 1.0}, "dropout must be < 1, received 1.0"),
        ({"dropout": -0.1}, "dropout must be >= 0, received -0.1"),
        ({"units": None}, "units must not be null"),
    ],
)
def test_param_errors_name_block_and_quote_value(params, fragment):
    p = design([X, ("g", "GRU", params)], [("x", "g")])
    one_error(p, "g", "GRU 'g'", fragment)


def test_dropout_rate_range():
    p = design([X, ("d", "Dropout", {"rate": 1.5}), ("y", "Dense", {})], [("x", "d"), ("d", "y")])
    one_error(p, "d", "rate must be < 1, received 1.5")


def test_num_heads_must_divide_width():
    p = design(
        [("x", "Input", {"timesteps": 5, "features": 6}), ("a", "MultiHeadAttention", {"num_heads": 4})], [("x", "a")]
    )
    one_error(p, "a", "num_heads=4 does not divide the input width 6", "set key_dim")
    p.blocks[1].params["key_dim"] = 3
    assert check(p).ok and check(p).shapes["a"] == (None, 5, 6)


def test_bidirectional_stack_needs_concat():
    p = design([X, ("g", "GRU", {"bidirectional": True, "num_layers": 2, "merge_mode": "sum"})], [("x", "g")])
    one_error(p, "g", "merge_mode must be concat", "received 'sum'")


def test_concatenate_and_add_incompatible_shapes():
    p = design(
        [X, ("a", "GRU", {"units": 4, "return_sequences": True}), ("b", "GRU", {"units": 4}), ("c", "Concatenate", {})],
        [("x", "a"), ("x", "b"), ("a", "c"), ("b", "c")],
    )
    one_error(p, "c", "'a' gives (None, 10, 4) and 'b' gives (None, 4)")
    p = design(
        [X, ("a", "Dense", {"units": 4}), ("b", "Dense", {"units": 5}), ("c", "Add", {})],
        [("x", "a"), ("x", "b"), ("a", "c"), ("b", "c")],
    )
    one_error(p, "c", "shapes must be equal", "(None, 10, 4)", "(None, 10, 5)", "same units")


def test_concatenate_order_is_link_order():
    p = design(
        [X, ("a", "Dense", {"units": 4}), ("b", "Dense", {"units": 5}), ("c", "Concatenate", {})],
        [("x", "a"), ("x", "b"), ("b", "c"), ("a", "c")],
    )
    assert p.inputs_of("c") == ["b", "a"]
    assert check(p).shapes["c"] == (None, 10, 9)


def test_pooling_fed_2d():
    p = design([X, ("g", "GRU", {}), ("p", "GlobalMaxPooling1D", {})], [("x", "g"), ("g", "p")])
    one_error(p, "p", "pools over time", "set return_sequences=true on 'g'")


def test_no_input_and_several_inputs():
    p = design([("d", "Dense", {})], [])
    assert any(b is None and "no Input" in m for b, m in errors(p))
    p = design([X, ("x2", "Input", {}), ("c", "Concatenate", {})], [("x", "c"), ("x2", "c")])
    assert any(b == "x2" and "exactly one Input" in m for b, m in errors(p))


def test_several_outputs_and_disconnected():
    p = design([X, ("a", "Dense", {}), ("b", "Dense", {})], [("x", "a"), ("x", "b")])
    errs = errors(p)
    assert {b for b, _ in errs} == {"a", "b"} and all("exactly one output" in m for _, m in errs)
    p = design([X, ("a", "Dense", {}), ("lonely", "Dense", {})], [("x", "a")])
    one_error(p, "lonely", "is not connected")


def test_duplicate_id_and_unknown_link_and_bad_id():
    p = design([X, ("a", "Dense", {}), ("a", "Dense", {})], [("x", "a")])
    assert any(b == "a" and "duplicate block id 'a'" in m for b, m in errors(p))
    p = design([X, ("a", "Dense", {})], [("x", "a"), ("a", "zz")])
    one_error(p, "a", "names unknown block 'zz'")
    p = design([("x.1", "Input", {}), ("a", "Dense", {})], [("x.1", "a")])
    one_error(p, "x.1", "is not valid")


def test_valid_design_has_no_problems():
    p = design(
        [X, ("g", "GRU", {"units": 8, "return_sequences": True}), ("l", "LSTM", {"units": 8}), ("y", "Dense", {})],
        [("x", "g"), ("g", "l"), ("l", "y")],
    )
    res = check(p)
    assert res.ok and not res.problems
    assert res.input_id == "x" and res.output_id == "y" and res.order == ["x", "g", "l", "y"]


# ------------------------------------------------------------------ warnings
def test_warning_go_backwards_merged_with_forward_sequence():
    """The seed's Keras example, exactly: forward GRU + go_backwards GRU, concatenated."""
    p = design(
        [
            X,
            ("f", "GRU", {"units": 64, "return_sequences": True}),
            ("b", "GRU", {"units": 64, "return_sequences": True, "go_backwards": True}),
            ("c", "Concatenate", {}),
            ("y", "Dense", {}),
        ],
        [("x", "f"), ("x", "b"), ("f", "c"), ("b", "c"), ("c", "y")],
    )
    assert check(p).ok
    ws = warnings(p)
    assert len(ws) == 1 and ws[0][0] == "c"
    assert "reversed order" in ws[0][1] and "bidirectional" in ws[0][1]
    # two backwards sequences are consistently ordered: no warning
    p.blocks[1].params["go_backwards"] = True
    assert warnings(p) == []


def test_warning_dropout_before_output():
    p = design([X, ("g", "GRU", {}), ("d", "Dropout", {}), ("y", "Dense", {})], [("x", "g"), ("g", "d"), ("d", "y")])
    ws = warnings(p)
    assert len(ws) == 1 and ws[0][0] == "d" and "feeds the output 'y' directly" in ws[0][1]
    p = design([X, ("g", "GRU", {}), ("d", "Dropout", {})], [("x", "g"), ("g", "d")])
    assert any("is the output" in m for _, m in warnings(p))


def test_warning_deep_stack_without_normalization():
    blocks = [X] + [(f"r{i}", "LSTM", {"units": 4, "return_sequences": True}) for i in range(5)]
    links = [("x", "r0")] + [(f"r{i}", f"r{i + 1}") for i in range(4)]
    p = design(blocks, links)
    ws = warnings(p)
    assert len(ws) == 1 and ws[0][0] == "r4" and "5 layers deep" in ws[0][1]
    # a LayerNormalization in the middle resets the count
    p = design(
        blocks[:3] + [("n", "LayerNormalization", {})] + blocks[3:],
        [("x", "r0"), ("r0", "r1"), ("r1", "n"), ("n", "r2"), ("r2", "r3"), ("r3", "r4")],
    )
    assert warnings(p) == []


def test_warning_unknown_length_into_fixed_length_block():
    p = design([("x", "Input", {"timesteps": None, "features": 2}), ("f", "Flatten", {})], [("x", "f")])
    res = check(p)
    assert res.ok and res.shapes["f"] == (None, None)
    assert any(b == "f" and "needs a fixed sequence length" in m for b, m in warnings(p))
    p = design(
        [("x", "Input", {"timesteps": None, "features": 2}), ("f", "Flatten", {}), ("d", "Dense", {})],
        [("x", "f"), ("f", "d")],
    )
    one_error(p, "d", "needs a fixed feature size", "fixed timesteps")


def test_warning_dropout_without_stack():
    p = design([X, ("g", "GRU", {"dropout": 0.3})], [("x", "g")])
    assert any("has no effect with num_layers=1" in m for _, m in warnings(p))


def test_variable_length_propagates():
    p = design(
        [
            ("x", "Input", {"timesteps": None, "features": 2}),
            ("g", "GRU", {"units": 3, "return_sequences": True, "bidirectional": True}),
        ],
        [("x", "g")],
    )
    assert check(p).shapes["g"] == (None, None, 6)
