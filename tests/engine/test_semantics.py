"""The semantics users get wrong by hand (see shared/seed): pinned against independent references."""

import pytest
import torch
import torch.nn as nn

from rnn_studio.engine import Block, Project, build_model, check
from rnn_studio.engine.design.layers import Recurrent

torch.manual_seed(0)


def one_way_copies(rec: Recurrent, cell):
    """Two one-direction torch RNNs holding the forward and the backward weights of `rec` (1 layer)."""
    rnn = rec.rnn
    fwd = cell(rnn.input_size, rnn.hidden_size, batch_first=True)
    bwd = cell(rnn.input_size, rnn.hidden_size, batch_first=True)
    with torch.no_grad():
        for name, p in fwd.named_parameters():
            p.copy_(getattr(rnn, name))
        for name, p in bwd.named_parameters():
            p.copy_(getattr(rnn, name + "_reverse"))
    return fwd, bwd


@pytest.mark.parametrize("cell_name,cell", [("GRU", nn.GRU), ("LSTM", nn.LSTM), ("SimpleRNN", nn.RNN)])
def test_bidirectional_sequences_are_realigned_in_time(cell_name, cell):
    rec = Recurrent(cell_name, 3, 5, bidirectional=True, return_sequences=True)
    fwd, bwd = one_way_copies(rec, cell)
    x = torch.randn(4, 7, 3)
    out = rec(x)
    f_out, _ = fwd(x)
    b_rev, _ = bwd(torch.flip(x, [1]))  # backward pass, in reversed time order
    expected = torch.cat([f_out, torch.flip(b_rev, [1])], dim=-1)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-5)
    # the seed's Keras trap: gluing the reversed array as is puts step T-1-t next to step t
    trap = torch.cat([f_out, b_rev], dim=-1)
    assert (out - trap).abs().max() > 1e-3


@pytest.mark.parametrize("cell_name,cell", [("GRU", nn.GRU), ("LSTM", nn.LSTM)])
def test_bidirectional_last_state_is_h_n_not_last_index(cell_name, cell):
    rec = Recurrent(cell_name, 2, 6, bidirectional=True, return_sequences=False)
    fwd, bwd = one_way_copies(rec, cell)
    x = torch.randn(3, 9, 2)
    out = rec(x)
    f_out, _ = fwd(x)
    b_rev, _ = bwd(torch.flip(x, [1]))
    # forward state after the whole sequence (t=T-1), backward state after the whole sequence (t=0)
    expected = torch.cat([f_out[:, -1], b_rev[:, -1]], dim=-1)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-5)
    # the seed's PyTorch trap: out[:, -1] -- its backward half has seen one step only
    seq_out, _ = rec.rnn(x)
    assert (out - seq_out[:, -1]).abs().max() > 1e-3
    torch.testing.assert_close(out[:, :6], seq_out[:, -1, :6])  # the forward half does agree


def test_go_backwards_returns_outputs_in_reversed_order():
    rec = Recurrent("GRU", 2, 4, go_backwards=True, return_sequences=True)
    x = torch.randn(2, 6, 2)
    ref, h = rec.rnn(torch.flip(x, [1]))
    torch.testing.assert_close(rec(x), ref)  # Keras: not flipped back
    last = Recurrent("GRU", 2, 4, go_backwards=True)
    last.load_state_dict(rec.state_dict())
    torch.testing.assert_close(last(x), ref[:, -1])  # final state has seen x[:, 0] last


@pytest.mark.parametrize(
    "mode,fn", [("sum", lambda f, b: f + b), ("mul", lambda f, b: f * b), ("ave", lambda f, b: (f + b) / 2)]
)
def test_merge_modes(mode, fn):
    concat = Recurrent("LSTM", 3, 4, bidirectional=True, return_sequences=True)
    merged = Recurrent("LSTM", 3, 4, bidirectional=True, return_sequences=True, merge_mode=mode)
    merged.load_state_dict(concat.state_dict())
    x = torch.randn(2, 5, 3)
    c = concat(x)
    torch.testing.assert_close(merged(x), fn(c[..., :4], c[..., 4:]))
    last_c = Recurrent("LSTM", 3, 4, bidirectional=True)
    last_m = Recurrent("LSTM", 3, 4, bidirectional=True, merge_mode=mode)
    last_c.load_state_dict(concat.state_dict())
    last_m.load_state_dict(concat.state_dict())
    lc = last_c(x)
    torch.testing.assert_close(last_m(x), fn(lc[..., :4], lc[..., 4:]))


def test_stacked_bidirectional_uses_top_layer_state():
    rec = Recurrent("GRU", 3, 4, num_layers=3, bidirectional=True)
    x = torch.randn(2, 5, 3)
    out, h = rec.rnn(x)
    torch.testing.assert_close(rec(x), torch.cat([h[-2], h[-1]], -1))
    torch.testing.assert_close(rec(x)[:, :4], out[:, -1, :4])  # top layer, forward, t = T-1
    torch.testing.assert_close(rec(x)[:, 4:], out[:, 0, 4:])  # top layer, backward, t = 0


def _design(blocks, links):
    return Project("t", [Block(*b) for b in blocks], links)


def test_compiler_uses_fused_torch_rnns_not_python_loops():
    p = _design(
        [
            ("x", "Input", {"timesteps": 8, "features": 2}),
            ("g", "GRU", {"units": 4, "bidirectional": True, "num_layers": 2}),
            ("y", "Dense", {"units": 1}),
        ],
        [("x", "g"), ("g", "y")],
    )
    m = build_model(p)
    rnns = [mod for mod in m.modules() if isinstance(mod, nn.GRU)]
    assert len(rnns) == 1 and rnns[0].bidirectional and rnns[0].num_layers == 2


def test_dense_on_a_sequence_acts_per_time_step():
    p = _design([("x", "Input", {"timesteps": 5, "features": 3}), ("d", "Dense", {"units": 2})], [("x", "d")])
    m = build_model(p)
    x = torch.randn(4, 5, 3)
    y = m(x)
    assert y.shape == (4, 5, 2)
    torch.testing.assert_close(y[:, 2], m.blocks["d"](x[:, 2]))  # step 2 sees only step 2
    torch.testing.assert_close(m(x[:, 2:3]), y[:, 2:3])


def test_initializers_are_applied():
    p = _design(
        [
            ("x", "Input", {"timesteps": 4, "features": 3}),
            ("l", "LSTM", {"units": 8, "recurrent_initializer": "orthogonal", "kernel_initializer": "glorot_uniform"}),
        ],
        [("x", "l")],
    )
    m = build_model(p)
    w_hh = m.blocks["l"].rnn.weight_hh_l0.detach()
    for gate in w_hh.chunk(4, 0):  # each gate's recurrent kernel is orthogonal, as in Keras
        torch.testing.assert_close(gate @ gate.T, torch.eye(8), atol=1e-5, rtol=0)
    assert torch.all(m.blocks["l"].rnn.bias_ih_l0 == 0)
    limit = (6 / (8 + 3)) ** 0.5  # glorot bound per gate (fan_in 3, fan_out 8)
    assert m.blocks["l"].rnn.weight_ih_l0.abs().max() <= limit + 1e-6


def test_seed_designs_parameter_counts_match_hand_written(examples_dir):
    from rnn_studio.engine import load_project

    class SeedPyTorch(nn.Module):  # the seed article's model, hand-written
        def __init__(self):
            super().__init__()
            self.lstm1 = nn.LSTM(1, 64, num_layers=2, bidirectional=True, batch_first=True)
            self.lstm2 = nn.LSTM(128, 64, num_layers=2, bidirectional=True, batch_first=True)
            self.gru = nn.GRU(128, 64, num_layers=2, bidirectional=True, batch_first=True)
            self.fc = nn.Linear(128, 1)

    def n(m):
        return sum(p.numel() for p in m.parameters())

    keras = load_project(examples_dir / "seed-keras.rnn.json")
    assert check(keras).total_params == n(build_model(keras)) == 125_185
    torch_seed = load_project(examples_dir / "seed-pytorch.rnn.json")
    assert check(torch_seed).total_params == n(build_model(torch_seed)) == n(SeedPyTorch()) == 481_409


def test_per_block_parameters_follow_design_ids(examples_dir):
    from rnn_studio.engine import load_project

    m = build_model(load_project(examples_dir / "seed-keras.rnn.json"))
    groups = m.block_parameters()
    assert list(groups) == ["g", "l", "y"]
    assert sum(p.numel() for ps in groups.values() for p in ps) == 125_185
