"""Keras 3 import: models built here with Keras on the torch backend, saved as .keras, imported (without
keras), and compared with Keras' own outputs within 1e-5, directly and through `export RUN` to ONNX."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rnn_studio.cli import main
from rnn_studio.engine import check
from rnn_studio.engine.importers import ImportRefused, import_model, write_import
from rnn_studio.engine.training.runs import load_run

os.environ["KERAS_BACKEND"] = "torch"  # Keras 3 on PyTorch: no TensorFlow needed
keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":  # pragma: no cover
    pytest.skip("these tests build Keras models on the torch backend", allow_module_level=True)
# only once KERAS_BACKEND is set and keras is known to be installed
from keras import layers  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ATOL = 1e-5


def _keras_out(model, x):
    y = model(x, training=False)
    return y.detach().cpu().numpy() if hasattr(y, "detach") else np.asarray(y)


def import_and_compare(model, tmp_path, shapes=((3, 10),), name="m", via_onnx=False):
    """Save, import into a run folder, and compare on random inputs of each (batch, time); with
    `via_onnx` also the run's verified ONNX export (onnxruntime) against Keras."""
    path = tmp_path / f"{name}.keras"
    model.save(path)
    imported = import_model(path)
    run = write_import(imported, tmp_path / f"{name}.rnn.json", tmp_path / "runs")
    project, ours, _ = load_run(run)
    rng = np.random.default_rng(0)
    feats = model.inputs[0].shape[-1]
    for batch, steps in shapes:
        x = rng.standard_normal((batch, steps, feats)).astype(np.float32)
        want = _keras_out(model, x)
        with torch.no_grad():
            got = ours(torch.from_numpy(x)).numpy()
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=0)
        if via_onnx:
            np.testing.assert_allclose(_onnx_of(run, ours, project, tmp_path)(x), want, atol=ATOL, rtol=0)
    return run, project


def _onnx_of(run, model, project, tmp_path):
    import onnxruntime as ort

    from rnn_studio.exports import export_onnx

    path = tmp_path / f"{run.name}.onnx"
    if not path.exists():
        assert export_onnx(model, project, path).passed
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: sess.run(None, {sess.get_inputs()[0].name: x})[0]


def seed_literal(units=8, steps=10):
    """The seed article's construction, verbatim in structure: a forward layer concatenated with a
    go_backwards layer (time-misaligned for the GRU sequences)."""
    inputs = keras.Input((steps, 1))
    gru_forward = layers.GRU(units, return_sequences=True)(inputs)
    gru_backward = layers.GRU(units, return_sequences=True, go_backwards=True)(inputs)
    gru_bi = layers.concatenate([gru_forward, gru_backward])
    lstm_forward = layers.LSTM(units, return_sequences=False)(gru_bi)
    lstm_backward = layers.LSTM(units, return_sequences=False, go_backwards=True)(gru_bi)
    lstm_bi = layers.concatenate([lstm_forward, lstm_backward])
    outputs = layers.Dense(1)(lstm_bi)
    return keras.Model(inputs=inputs, outputs=outputs)


def seed_bidirectional(units=8, steps=10):
    """The article's intent done right: Keras' Bidirectional wrapper (the seed-keras example design)."""
    inputs = keras.Input((steps, 1))
    x = layers.Bidirectional(layers.GRU(units, return_sequences=True))(inputs)
    x = layers.Bidirectional(layers.LSTM(units))(x)
    return keras.Model(inputs, layers.Dense(1)(x))


def test_seed_literal_imports_with_time_misalignment_warning(tmp_path, capsys):
    _, project = import_and_compare(seed_literal(), tmp_path, name="seed-literal", via_onnx=True)
    assert main(["check", str(tmp_path / "seed-literal.rnn.json")]) == 0  # a warning, not an error
    shown = capsys.readouterr()
    assert "step t meets step T-1-t" in shown.out + shown.err
    warnings = [w.message for w in check(project).warnings]
    assert any("reversed order (go_backwards)" in w and "step t meets step T-1-t" in w for w in warnings), warnings
    # one warning: the LSTM pair returns final states, where time order does not matter
    assert sum("T-1-t" in w for w in warnings) == 1


def test_seed_bidirectional_matches_and_counts_parameters(tmp_path):
    model = seed_bidirectional()
    _, project = import_and_compare(model, tmp_path, name="seed-bi")
    res = check(project)
    assert res.ok and not res.warnings
    assert [b.type for b in project.blocks] == ["Input", "GRU", "LSTM", "Dense"]
    # PyTorch's LSTM has two biases per gate where Keras has one (docs/project-format.md): 2 dirs x 4 gates x 8
    assert sum(res.param_counts.values()) == model.count_params() + 2 * 4 * 8


def test_seed_article_model_imports_as_the_seed_keras_example(tmp_path):
    """At the article's size (64 units) the Bidirectional construction is exactly the seed-keras example:
    same blocks and params, 125,185 parameters."""
    from rnn_studio import engine

    _, project = import_and_compare(seed_bidirectional(units=64), tmp_path, shapes=((2, 10),), name="seed64")
    example = engine.load_project(ROOT / "assets" / "examples" / "seed-keras.rnn.json")
    assert [(b.type, b.resolved()) for b in project.blocks] == [(b.type, b.resolved()) for b in example.blocks]
    assert sum(check(project).param_counts.values()) == 125_185


@pytest.mark.parametrize("cell", ["GRU", "LSTM", "SimpleRNN"])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_bidirectional_merge_modes(tmp_path, cell, merge_mode, return_sequences):
    inputs = keras.Input((None, 3))
    rnn = getattr(layers, cell)(5, return_sequences=return_sequences)
    x = layers.Bidirectional(rnn, merge_mode=merge_mode)(inputs)
    import_and_compare(keras.Model(inputs, x), tmp_path, shapes=((2, 7), (1, 3), (4, 12)), via_onnx=merge_mode == "ave")


@pytest.mark.parametrize("cell", ["GRU", "LSTM", "SimpleRNN"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_one_way_recurrent(tmp_path, cell, go_backwards, return_sequences):
    inputs = keras.Input((None, 2))
    x = getattr(layers, cell)(6, return_sequences=return_sequences, go_backwards=go_backwards)(inputs)
    import_and_compare(keras.Model(inputs, x), tmp_path, shapes=((3, 9), (1, 4)), via_onnx=go_backwards)


def test_simple_rnn_relu_no_bias_and_stacks(tmp_path):
    inputs = keras.Input((None, 2))
    x = layers.SimpleRNN(4, activation="relu", return_sequences=True)(inputs)
    x = layers.GRU(5, use_bias=False, return_sequences=True)(x)
    x = layers.LSTM(3, use_bias=False)(x)
    _, project = import_and_compare(keras.Model(inputs, x), tmp_path, shapes=((2, 6), (5, 11)))
    assert project.blocks[1].params["activation"] == "relu"


def test_dense_activations_dropout_norm_pooling_merges(tmp_path):
    inputs = keras.Input((8, 4))
    seq = layers.Bidirectional(layers.GRU(4, return_sequences=True))(inputs)  # (B, 8, 8)
    seq = layers.LayerNormalization(epsilon=1e-5)(seq)
    dense_seq = layers.Dense(8, activation="tanh")(seq)  # per time step
    added = layers.Add()([seq, dense_seq])
    pooled_avg = layers.GlobalAveragePooling1D()(added)
    pooled_max = layers.GlobalMaxPooling1D()(added)
    flat = layers.Flatten()(layers.Dense(2, use_bias=False)(added))
    joined = layers.Concatenate()([pooled_avg, pooled_max, flat])
    x = layers.Dropout(0.3)(joined)
    x = layers.Dense(6, activation="gelu")(x)
    x = layers.Activation("sigmoid")(x)
    x = layers.Dense(3, activation="softmax")(x)
    _, project = import_and_compare(keras.Model(inputs, x), tmp_path, shapes=((4, 8),), via_onnx=True)
    types = {b.type for b in project.blocks}
    assert {
        "LayerNormalization",
        "Add",
        "GlobalAveragePooling1D",
        "GlobalMaxPooling1D",
        "Flatten",
        "Concatenate",
        "Dropout",
        "Activation",
        "Dense",
    } <= types


def test_time_distributed_dense_is_dense(tmp_path):
    inputs = keras.Input((None, 3))
    x = layers.LSTM(5, return_sequences=True)(inputs)
    x = layers.TimeDistributed(layers.Dense(4, activation="relu"))(x)
    x = layers.TimeDistributed(layers.Dropout(0.1))(x)
    x = layers.TimeDistributed(layers.Dense(1))(x)
    _, project = import_and_compare(keras.Model(inputs, x), tmp_path, shapes=((2, 6), (3, 1)))
    assert [b.type for b in project.blocks] == ["Input", "LSTM", "Dense", "Dropout", "Dense"]


@pytest.mark.parametrize("causal", [False, True])
def test_self_attention(tmp_path, causal):
    inputs = keras.Input((None, 6))
    seq = layers.LSTM(8, return_sequences=True)(inputs)
    att = layers.MultiHeadAttention(num_heads=2, key_dim=3)(seq, seq, use_causal_mask=causal)
    x = layers.GlobalAveragePooling1D()(layers.Add()([seq, att]))
    _, project = import_and_compare(keras.Model(inputs, x), tmp_path, shapes=((2, 5), (3, 9)), via_onnx=True)
    mha = next(b for b in project.blocks if b.type == "MultiHeadAttention")
    assert mha.params.get("causal", False) == causal


@pytest.mark.parametrize("merge", ["Multiply", "Average", "Add", "Concatenate"])
def test_forward_plus_go_backwards_last_states(tmp_path, merge):
    """A forward and a go_backwards layer returning last states and merged is a bidirectional layer;
    Multiply / Average (no blocks of their own) import as one bidirectional block."""
    inputs = keras.Input((None, 3))
    f = layers.GRU(5)(inputs)
    b = layers.GRU(5, go_backwards=True)(inputs)
    x = getattr(layers, merge)()([f, b])
    _, project = import_and_compare(keras.Model(inputs, layers.Dense(2)(x)), tmp_path, shapes=((2, 6), (3, 2)))
    if merge in ("Multiply", "Average"):
        gru = [b for b in project.blocks if b.type == "GRU"]
        assert len(gru) == 1 and gru[0].params["bidirectional"] and gru[0].params["merge_mode"] in ("mul", "ave")
    assert not check(project).warnings


def test_sequential_model(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((None, 3)),
            layers.Bidirectional(layers.LSTM(4, return_sequences=True)),
            layers.GRU(5, go_backwards=True),
            layers.Dense(2, activation="relu"),
        ]
    )
    _, project = import_and_compare(model, tmp_path, shapes=((2, 6), (1, 13)), via_onnx=True)
    assert project.blocks[0].params == {"timesteps": None, "features": 3}
    assert project.name == "m"  # Keras' automatic model name gives way to the file name


def test_sequential_built_without_input_layer(tmp_path):
    model = keras.Sequential([layers.GRU(4, return_sequences=True), layers.SimpleRNN(3), layers.Dense(1)])
    model.build((None, 8, 2))
    _, project = import_and_compare(model, tmp_path, shapes=((2, 8),))
    assert project.blocks[0].params == {"timesteps": 8, "features": 2}


def test_import_cli_then_export_run_to_onnx(tmp_path, capsys):
    """The CLI writes the design and a run folder, prints it, and `export RUN` verifies against ORT;
    the ONNX file matches Keras too."""
    import onnxruntime as ort

    model = seed_bidirectional(units=6)
    model.save(tmp_path / "seed.keras")
    assert (
        main(
            [
                "import",
                str(tmp_path / "seed.keras"),
                "-o",
                str(tmp_path / "seed.rnn.json"),
                "--out",
                str(tmp_path / "runs"),
            ]
        )
        == 0
    )
    run = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert run.parent == tmp_path / "runs" and (run / "checkpoints" / "best.pt").is_file()
    assert (tmp_path / "seed.rnn.json").is_file()
    assert main(["export", str(run), "-o", str(tmp_path / "seed.onnx")]) == 0
    sess = ort.InferenceSession(str(tmp_path / "seed.onnx"), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((5, 10, 1)).astype(np.float32)
    (got,) = sess.run(None, {sess.get_inputs()[0].name: x})
    np.testing.assert_allclose(got, _keras_out(model, x), atol=ATOL, rtol=0)


def _refusal(tmp_path, model, capsys):
    model.save(tmp_path / "bad.keras")
    code = main(
        ["import", str(tmp_path / "bad.keras"), "-o", str(tmp_path / "bad.rnn.json"), "--out", str(tmp_path / "runs")]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "bad.rnn.json").exists() and not (tmp_path / "runs").exists()
    return err


def test_unsupported_layer_refused_by_name(tmp_path, capsys):
    inputs = keras.Input((10, 2))
    x = layers.UpSampling1D(2, name="upsample_front")(inputs)
    x = layers.GRU(3)(x)
    err = _refusal(tmp_path, keras.Model(inputs, x), capsys)
    assert "'upsample_front'" in err and "(UpSampling1D)" in err and "supported Keras layers: InputLayer, GRU" in err


def test_gru_reset_after_false_refused_by_name(tmp_path, capsys):
    inputs = keras.Input((10, 2))
    x = layers.GRU(3, reset_after=False, name="old_gru")(inputs)
    err = _refusal(tmp_path, keras.Model(inputs, x), capsys)
    assert "'old_gru'" in err and "reset_after=False" in err


def test_token_models_import_with_an_int_input_and_embedding(tmp_path):
    inputs = keras.Input((12,), dtype="int32")
    x = layers.Embedding(50, 4)(inputs)
    x = layers.Bidirectional(layers.LSTM(3))(x)
    keras.Model(inputs, x).save(tmp_path / "tokens.keras")
    project = import_model(tmp_path / "tokens.keras").project
    assert [(b.type, b.params) for b in project.blocks[:2]] == [
        ("Input", {"timesteps": 12, "features": 1, "dtype": "int64"}),
        ("Embedding", {"input_dim": 50, "output_dim": 4, "mask_zero": False}),
    ]


@pytest.mark.slow
def test_importer_needs_neither_keras_nor_tensorflow(tmp_path):
    seed_literal(units=3).save(tmp_path / "s.keras")
    code = (
        "import sys; from engine.importers import import_model; import_model(sys.argv[1]); "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow', 'PySide6', 'shiboken6')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "s.keras")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_not_a_keras_archive(tmp_path):
    path = tmp_path / "broken.keras"
    path.write_bytes(b"not a zip")
    with pytest.raises(ImportRefused, match="not a Keras 3 .keras archive"):
        import_model(path)
