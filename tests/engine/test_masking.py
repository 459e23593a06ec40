"""Embedding with integer token input, Masking and mask_zero: recurrent layers skip padded steps as Keras
does (the reverse direction of a bidirectional layer starts at each sequence's last real step; the last
state is the state at that step). Keras 3 models on the torch backend, imported, compared at 1e-5 on padded
batches of different lengths; masked designs export to ONNX and PyTorch source with the same results
(no packed sequences: gathers built from the lengths)."""

import numpy as np
import pytest
import torch

from rnn_studio import engine
from rnn_studio.engine import Block, Project, check
from rnn_studio.engine.importers import import_model, write_import
from rnn_studio.engine.training.runs import load_run
from rnn_studio.exports import export_onnx
from tests.engine.test_import_keras import keras  # sets KERAS_BACKEND=torch

layers = keras.layers
ATOL = 1e-5


def _padded_ids(rng, batch, steps, vocab, lengths, left=False):
    ids = np.zeros((batch, steps), np.int32)
    for i, n in enumerate(lengths):
        real = rng.integers(1, vocab, n)
        if left:
            ids[i, steps - n :] = real
        else:
            ids[i, :n] = real
    return ids


def _import_run(model, tmp_path, name):
    model.save(tmp_path / f"{name}.keras")
    run = write_import(import_model(tmp_path / f"{name}.keras"), tmp_path / f"{name}.rnn.json", tmp_path / "runs")
    project, ours, _ = load_run(run)
    return project, ours


@pytest.mark.parametrize("return_sequences", [False, True])
def test_embedding_mask_zero_bidirectional_lstm_equals_keras(tmp_path, return_sequences):
    inputs = keras.Input((9,), dtype="int32")
    x = layers.Embedding(12, 5, mask_zero=True)(inputs)
    x = layers.Bidirectional(layers.LSTM(4, return_sequences=return_sequences))(x)
    model = keras.Model(inputs, layers.Dense(3)(x))
    project, ours = _import_run(model, tmp_path, "tokens")
    assert project.block(check(project).input_id).params == {"timesteps": 9, "features": 1, "dtype": "int64"}
    rng = np.random.default_rng(0)
    for left in (False, True):  # padding after and before the real steps
        ids = _padded_ids(rng, 5, 9, 12, [9, 6, 3, 1, 4], left)
        want = keras.ops.convert_to_numpy(model(ids, training=False))
        with torch.no_grad():
            got = ours(torch.from_numpy(ids.astype(np.int64))[..., None]).numpy()
        if return_sequences:  # Keras' Bidirectional gives zeros at masked steps, as we do
            assert np.abs(got[ids == 0]).max() == pytest.approx(
                float(np.abs(keras.ops.convert_to_numpy(model.layers[-1].bias)).max()), abs=1e-6
            )  # Dense(0) = its bias
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=0)


def test_masking_bidirectional_gru_last_state_equals_keras(tmp_path):
    inputs = keras.Input((8, 3))
    x = layers.Masking(mask_value=0.0)(inputs)
    x = layers.Bidirectional(layers.GRU(4), merge_mode="sum")(x)
    model = keras.Model(inputs, x)
    project, ours = _import_run(model, tmp_path, "masked")
    assert [b.type for b in project.blocks] == ["Input", "Masking", "GRU"]
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 8, 3)).astype(np.float32)
    for i, n in enumerate([8, 5, 2, 7]):
        x[i, n:] = 0.0  # padded after each sequence's end
    want = keras.ops.convert_to_numpy(model(x, training=False))
    with torch.no_grad():
        got = ours(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=0)
    # and the padding matters: the same layer run without the mask (its backward half starting at the zeros)
    gru = next(b.id for b in project.blocks if b.type == "GRU")
    with torch.no_grad():
        unmasked = ours.blocks[gru](torch.from_numpy(x)).numpy()
    assert np.abs(unmasked - want)[1:3].max() > 1e-2


def test_the_reverse_direction_starts_at_the_last_real_step():
    torch.manual_seed(0)
    design = Project(
        "m",
        [
            Block("x", "Input", {"timesteps": None, "features": 2}),
            Block("m", "Masking", {}),
            Block("g", "GRU", {"units": 3, "bidirectional": True}),
        ],
        [("x", "m"), ("m", "g")],
    )
    model = engine.build_model(design).eval()
    real = torch.randn(1, 4, 2)
    padded = torch.cat([real, torch.zeros(1, 3, 2)], dim=1)
    with torch.no_grad():
        # the same 4 real steps give the same last state however much padding follows
        assert torch.allclose(model(padded), model(real), atol=1e-6)
        plain = model.blocks["g"](padded)  # the layer alone, no mask: the backward half reads the zeros first
    assert not torch.allclose(plain, model(real), atol=1e-3)


def _token_design(mask_zero=True):
    return Project(
        "tok",
        [
            Block("x", "Input", {"timesteps": None, "features": 1, "dtype": "int64"}),
            Block("e", "Embedding", {"input_dim": 10, "output_dim": 4, "mask_zero": mask_zero}),
            Block("l", "LSTM", {"units": 3, "bidirectional": True}),
            Block("out", "Dense", {"units": 2, "activation": "softmax"}),
        ],
        [("x", "e"), ("e", "l"), ("l", "out")],
    )


def test_token_input_rules_are_checked_by_name():
    ok = check(_token_design())
    assert ok.ok and ok.shapes["e"] == (None, None, 4) and ok.param_counts["e"] == 40
    bad = _token_design()
    bad.block("x").params["features"] = 3
    assert check(bad).errors[0].message == (
        "Input 'x': dtype=int64 carries one token id per step, but features=3: "
        "set features=1 (an Embedding turns each id into a vector)"
    )
    direct = Project(
        "d",
        [Block("x", "Input", {"timesteps": 5, "features": 1, "dtype": "int64"}), Block("g", "GRU", {"units": 2})],
        [("x", "g")],
    )
    assert (
        check(direct)
        .errors[0]
        .message.startswith("GRU 'g' is fed the token ids of Input 'x' (dtype=int64), which only Embedding reads")
    )
    floats = _token_design()
    floats.block("x").params["dtype"] = "float32"
    assert check(floats).errors[0].message == (
        "Embedding 'e' reads integer token ids, but 'x' gives float values: "
        "feed it from an Input with dtype=int64 and features=1"
    )


def _masked_design(cell, return_sequences, num_layers=1, merge_mode="concat"):
    return Project(
        "masked",
        [
            Block("x", "Input", {"timesteps": None, "features": 3}),
            Block("m", "Masking", {}),
            Block(
                "r",
                cell,
                {
                    "units": 4,
                    "bidirectional": True,
                    "num_layers": num_layers,
                    "return_sequences": return_sequences,
                    "merge_mode": merge_mode,
                },
            ),
        ],
        [("x", "m"), ("m", "r")],
    )


def _padded_floats(rng, lengths, steps, features=3, leading=()):
    x = rng.standard_normal((len(lengths), steps, features)).astype(np.float32)
    for i, n in enumerate(lengths):
        if i in leading:
            x[i, : steps - n] = 0.0
        else:
            x[i, n:] = 0.0
    return x


@pytest.mark.parametrize(
    "cell, return_sequences, num_layers, merge_mode",
    [("GRU", False, 1, "concat"), ("LSTM", True, 1, "ave"), ("GRU", True, 2, "concat"), ("LSTM", False, 1, "mul")],
)
def test_masked_bidirectional_designs_export_to_onnx_equal_to_eager(
    tmp_path, cell, return_sequences, num_layers, merge_mode
):
    import onnxruntime as ort
    from onnx.reference import ReferenceEvaluator

    design = _masked_design(cell, return_sequences, num_layers, merge_mode)
    torch.manual_seed(0)
    model = engine.build_model(design).eval()
    rep = export_onnx(model, design, tmp_path / "m.onnx")  # verified on padded batches of mixed lengths
    assert rep.passed and rep.max_abs_diff < ATOL, rep.message
    assert rep.ops.get(cell) == 2 * num_layers and "Loop" not in rep.ops  # one forward node per direction
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    reference = ReferenceEvaluator(str(tmp_path / "m.onnx"))
    rng = np.random.default_rng(5)
    # batch sizes and lengths other than the export's example (2 x 16): trailing, leading, no and all padding
    for lengths, steps, leading in (([11, 7, 1, 0, 4], 11, (4,)), ([2, 4, 3], 4, ()), ([23], 23, ())):
        x = _padded_floats(rng, lengths, steps, leading=leading)
        with torch.no_grad():
            want = model(torch.from_numpy(x)).numpy()
        for got in (session.run(None, {"sequence": x})[0], reference.run(None, {"sequence": x})[0]):
            np.testing.assert_allclose(got, want, atol=ATOL, rtol=0)
    # what a user sees: the padding after a sequence changes nothing in the exported model's last state
    if not return_sequences:
        x = _padded_floats(rng, [6], 6)
        padded = np.concatenate([x, np.zeros((1, 9, 3), np.float32)], axis=1)
        short, long = session.run(None, {"sequence": x})[0], session.run(None, {"sequence": padded})[0]
        np.testing.assert_allclose(long, short, atol=ATOL, rtol=0)


def test_a_masked_token_design_exports_to_onnx_and_pytorch_source_and_imports_back(tmp_path):
    import onnxruntime as ort

    from rnn_studio.exports import export_pytorch
    from rnn_studio.exports.pytorch_source import _load_source

    torch.manual_seed(1)
    model = engine.build_model(_token_design()).eval()
    rep = export_onnx(model, _token_design(), tmp_path / "tok.onnx")
    assert rep.passed and rep.max_abs_diff < ATOL and rep.ops.get("LSTM") == 2, rep.message
    src = export_pytorch(model, _token_design(), tmp_path / "tok.py")
    assert src.passed and src.max_abs_diff < 1e-6
    source = (tmp_path / "tok.py").read_text()
    assert "e_mask = self.e.mask_of(x)" in source and "self.l(e, mask=e_mask)" in source
    generated = _load_source(source, str(tmp_path / "tok.py")).load(tmp_path / "tok.pt")
    ids = _padded_ids(np.random.default_rng(2), 4, 13, 10, [13, 5, 1, 8]).astype(np.int64)[..., None]
    with torch.no_grad():
        want = model(torch.from_numpy(ids)).numpy()
        np.testing.assert_allclose(generated(torch.from_numpy(ids)).numpy(), want, atol=1e-6, rtol=0)
    session = ort.InferenceSession(str(tmp_path / "tok.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"sequence": ids})[0], want, atol=ATOL, rtol=0)
    # the export imports back: the same design, the same outputs
    run = write_import(import_model(tmp_path / "tok.onnx"), tmp_path / "back.rnn.json", tmp_path / "runs")
    project, back, _ = load_run(run)
    assert [b.type for b in project.blocks] == ["Input", "Embedding", "LSTM", "Dense"]
    with torch.no_grad():
        np.testing.assert_allclose(back(torch.from_numpy(ids)).numpy(), want, atol=ATOL, rtol=0)


def test_keras_masked_model_through_import_and_onnx_export_equals_keras(tmp_path):
    import onnxruntime as ort

    inputs = keras.Input((None,), dtype="int32")
    x = layers.Embedding(20, 6, mask_zero=True)(inputs)
    x = layers.Bidirectional(layers.GRU(5))(x)
    model = keras.Model(inputs, layers.Dense(3, activation="softmax")(x))
    model.save(tmp_path / "k.keras")
    run = write_import(import_model(tmp_path / "k.keras"), tmp_path / "k.rnn.json", tmp_path / "runs")
    assert main_export(run, tmp_path / "k.onnx") == 0
    session = ort.InferenceSession(str(tmp_path / "k.onnx"), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(6)
    for lengths, steps in (([12, 3, 7], 12), ([1, 5, 5, 2, 4, 5, 3], 5)):
        ids = _padded_ids(rng, len(lengths), steps, 20, lengths)
        want = keras.ops.convert_to_numpy(model(ids, training=False))
        got = session.run(None, {"sequence": ids.astype(np.int64)[..., None]})[0]
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=0)


def main_export(run, out):
    from rnn_studio.cli import main

    return main(["export", str(run), "-o", str(out)])


@pytest.mark.parametrize("go_backwards", [False, True])
def test_a_one_way_masked_sequence_repeats_its_last_output_at_padded_steps_as_keras(tmp_path, go_backwards):
    inputs = keras.Input((7, 2))
    x = layers.Masking()(inputs)
    x = layers.GRU(3, return_sequences=True, go_backwards=go_backwards)(x)
    model = keras.Model(inputs, x)
    project, ours = _import_run(model, tmp_path, f"oneway{go_backwards}")
    rng = np.random.default_rng(7)
    x = _padded_floats(rng, [7, 4, 2, 5], 7, features=2, leading=(3,))
    x[1, 2] = 0.0  # and a padded step inside a sequence
    want = keras.ops.convert_to_numpy(model(x, training=False))
    with torch.no_grad():
        got = ours(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=0)
    if not go_backwards:  # Keras' one-way layer carries the last output over the padding (not zeros)
        np.testing.assert_allclose(got[1, 4:], np.repeat(got[1, 3:4], 3, axis=0), atol=1e-7)
    rep = export_onnx(ours, project, tmp_path / "oneway.onnx")
    assert rep.passed and rep.max_abs_diff < ATOL, rep.message


def test_the_mask_flows_through_sequences_and_dropout_into_a_go_backwards_layer(tmp_path):
    inputs = keras.Input((10,), dtype="int32")
    x = layers.Embedding(15, 4, mask_zero=True)(inputs)
    x = layers.Bidirectional(layers.GRU(3, return_sequences=True))(x)
    x = layers.Dropout(0.3)(x)
    x = layers.LSTM(5, go_backwards=True)(x)
    model = keras.Model(inputs, layers.Dense(2)(x))
    project, ours = _import_run(model, tmp_path, "deep")
    res = check(project)
    from rnn_studio.engine.design.compile import masked_recurrent_blocks

    assert len(masked_recurrent_blocks(project, res)) == 2  # both recurrent blocks skip the padding
    rng = np.random.default_rng(4)
    ids = _padded_ids(rng, 6, 10, 15, [10, 7, 2, 5, 1, 9])
    want = keras.ops.convert_to_numpy(model(ids, training=False))
    with torch.no_grad():
        got = ours(torch.from_numpy(ids.astype(np.int64))[..., None]).numpy()
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=0)


def test_an_all_padding_sequence_keeps_the_zero_state_as_in_keras():
    torch.manual_seed(0)
    model = engine.build_model(_token_design()).eval()
    ids = torch.tensor([[[0], [0], [0]], [[3], [0], [0]]])
    with torch.no_grad():
        state = model.blocks["l"](model.blocks["e"](ids), mask=ids[..., 0] != 0)
    assert torch.equal(state[0], torch.zeros(6)) and state[1].abs().sum() > 0


def test_a_one_way_layer_with_zero_output_for_mask_is_refused_by_name(tmp_path):
    inputs = keras.Input((7, 2))
    x = layers.GRU(3, return_sequences=True, zero_output_for_mask=True, name="g")(layers.Masking()(inputs))
    keras.Model(inputs, x).save(tmp_path / "zeros.keras")
    from rnn_studio.engine.importers import ImportRefused

    with pytest.raises(ImportRefused, match=r"^layer 'g' \(GRU\): zero_output_for_mask=True is not supported: "):
        import_model(tmp_path / "zeros.keras")


def test_a_masked_design_below_opset_11_is_refused_by_name(tmp_path):
    from rnn_studio.exports import ExportError

    model = engine.build_model(_token_design()).eval()
    with pytest.raises(ExportError, match=r"^LSTM 'l' needs opset 11 or later \(skipping padded steps uses CumSum"):
        export_onnx(model, _token_design(), tmp_path / "m.onnx", opset=10)
    assert not (tmp_path / "m.onnx").exists()
    rep = export_onnx(model, _token_design(), tmp_path / "m.onnx", opset=11)
    assert rep.passed, rep.message


def test_export_verification_pads_with_the_masking_value(tmp_path):
    from rnn_studio.exports.verify import padding_value, sample_input

    design = _masked_design("GRU", False)
    design.block("m").params["mask_value"] = -1.0
    assert padding_value(design) == -1.0 and padding_value(_token_design()) == 0.0
    assert padding_value(_token_design(mask_zero=False)) is None  # nothing masked: plain random samples
    x = sample_input(7, 9, 3, 0, padding=-1.0)
    padded = (x == -1.0).all(dim=-1)
    assert padded.any() and not padded.all() and (x[0, 6:] == -1.0).all()  # trailing padding in sample 0
    torch.manual_seed(0)
    rep = export_onnx(engine.build_model(design).eval(), design, tmp_path / "m.onnx")
    assert rep.passed and rep.max_abs_diff < ATOL, rep.message
