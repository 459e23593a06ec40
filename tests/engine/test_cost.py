"""Cost per block (engine/design/cost.py): each type's MAC rule against a hand computation, and what `check --json`
and `summary` show."""

import json

import pytest

from rnn_studio import engine
from rnn_studio.cli import main
from rnn_studio.engine import Block, Project, check

EXAMPLES = "assets/examples"


def design(*blocks, timesteps=10, features=3, training=None):
    """Input x -> blocks in a chain (each Block's id links to the next)."""
    items = [Block("x", "Input", {"timesteps": timesteps, "features": features}), *blocks]
    links = [(a.id, b.id) for a, b in zip(items, items[1:], strict=False)]
    return Project("cost", items, links, training=training or {})


def costs(project, length=None):
    res = check(project, length=length)
    assert res.ok, [str(p) for p in res.errors]
    return res


@pytest.mark.parametrize(("cell", "gates"), [("LSTM", 4), ("GRU", 3), ("SimpleRNN", 1)])
def test_recurrent_one_layer_one_direction(cell, gates):
    res = costs(design(Block("r", cell, {"units": 8}), Block("y", "Dense", {"units": 1})))
    # D * T * G * H * (I + H) = 1 * 10 * G * 8 * (3 + 8)
    assert res.costs["r"].macs == 10 * gates * 8 * 11
    state = 2 * 8 if cell == "LSTM" else 8  # h (and c) for one layer, one direction
    assert res.costs["r"].state_bytes == state * 4


def test_bidirectional_stack_uses_2h_input_after_the_first_layer():
    r = Block("r", "LSTM", {"units": 16, "bidirectional": True, "num_layers": 3, "return_sequences": True})
    res = costs(design(r, Block("y", "Dense", {"units": 2}), timesteps=5, features=4))
    first = 2 * 5 * 4 * 16 * (4 + 16)
    later = 2 * 5 * 4 * 16 * (32 + 16)
    assert res.costs["r"].macs == first + 2 * later == 74_240
    assert res.costs["r"].state_bytes == 2 * 16 * 3 * 2 * 4  # (h, c) x units x layers x directions x 4 bytes
    assert res.costs["r"].activation_bytes == 5 * 32 * 4
    # Dense keeps the time axis: T * F_in * units
    assert res.costs["y"].macs == 5 * 32 * 2


def test_dense_on_a_vector_counts_once():
    res = costs(design(Block("r", "GRU", {"units": 6}), Block("y", "Dense", {"units": 4})))
    assert res.costs["y"].macs == 6 * 4
    assert res.costs["y"].parameters == 6 * 4 + 4


def test_conv1d_counts_output_steps():
    conv = Block("c", "Conv1D", {"filters": 5, "kernel_size": 3, "padding": "valid", "strides": 2})
    res = costs(design(conv, Block("p", "GlobalAveragePooling1D"), Block("y", "Dense", {"units": 1})))
    t_out = (10 - 3) // 2 + 1  # 4
    assert res.shapes["c"] == (None, t_out, 5)
    assert res.costs["c"].macs == t_out * 5 * 3 * 3
    assert res.costs["p"].macs == 0  # element-wise / reductions are left out


def test_attention_counts_its_matmuls():
    attn = Block("a", "MultiHeadAttention", {"num_heads": 2, "key_dim": 4})
    res = costs(design(attn, Block("p", "GlobalMaxPooling1D"), Block("y", "Dense", {"units": 1}), features=6))
    inner, t, f = 8, 10, 6
    assert res.costs["a"].macs == 4 * t * f * inner + 2 * t * t * inner


def test_elementwise_blocks_cost_nothing_but_keep_their_bytes():
    res = costs(
        design(
            Block("n", "LayerNormalization"),
            Block("d", "Dropout"),
            Block("act", "Activation"),
            Block("r", "GRU", {"units": 2}),
        )
    )
    for bid in ("x", "n", "d", "act"):
        assert res.costs[bid].macs == 0
        assert res.costs[bid].activation_bytes == 10 * 3 * 4


def test_variable_length_counts_at_length_then_lookback_then_32():
    r = Block("r", "GRU", {"units": 4})
    per_step = 3 * 4 * (3 + 4)
    assert costs(design(r, timesteps=None), length=50).costs["r"].macs == 50 * per_step
    assert costs(design(r, timesteps=None, training={"lookback": 7})).costs["r"].macs == 7 * per_step
    assert costs(design(r, timesteps=None)).cost_length == 32
    assert costs(design(r, timesteps=12), length=50).cost_length == 12  # a fixed timesteps wins


def test_seed_keras_totals_by_hand():
    res = check(engine.load_project(f"{EXAMPLES}/seed-keras.rnn.json"))
    g = 2 * 10 * 3 * 64 * (1 + 64)
    lstm = 2 * 10 * 4 * 64 * (128 + 64)
    assert res.cost_totals()["macs"] == g + lstm + 128 * 1
    assert res.cost_totals()["parameters"] == 125_185


def test_check_json_lists_cost_per_block_and_totals(capsys):
    assert main(["check", f"{EXAMPLES}/seq2seq-demand.rnn.json", "--json", "--length", "20"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data["blocks"]["enc"]) == {"parameters", "macs", "activation_bytes", "state_bytes"}
    assert data["blocks"]["enc"]["macs"] == 2 * 20 * 4 * 32 * (3 + 32)
    assert data["totals"]["length"] == 20
    assert data["totals"]["macs"] == sum(b["macs"] for b in data["blocks"].values())


def test_summary_has_a_macs_column(capsys):
    assert main(["summary", f"{EXAMPLES}/seed-keras.rnn.json"]) == 0
    out = capsys.readouterr().out
    assert "MACs" in out.splitlines()[2]
    assert "983,040" in out  # the bi-LSTM: 2 * 10 * 4 * 64 * 192
    assert "MACs per sample: 1,232,768 at 10 time steps" in out


def test_bad_length_exits_2(capsys):
    assert main(["check", f"{EXAMPLES}/seed-keras.rnn.json", "--length", "0"]) == 2
    assert "--length" in capsys.readouterr().err
