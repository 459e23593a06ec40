"""BatchNormalization and RepeatVector, added the one-place way: Keras semantics (numbers against Keras 3 on
the torch backend, in a subprocess), train/eval behaviour, verified ONNX, PyTorch source."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rnn_studio import engine
from rnn_studio.engine import Block, Project, check
from rnn_studio.exports import export_onnx, generate_source
from rnn_studio.exports.pytorch_source import _class_name, _load_source

ROOT = Path(__file__).resolve().parents[2]


def _bn_design(timesteps=6, features=3, vector=False, **params) -> Project:
    p = Project("bn", [Block("x", "Input", {"timesteps": timesteps, "features": features})], [])
    src = "x"
    if vector:
        p.add_block(Block("g", "GRU", {"units": features}))
        p.add_link("x", "g")
        src = "g"
    p.add_block(Block("bn", "BatchNormalization", params))
    p.add_link(src, "bn")
    return p


@pytest.mark.parametrize("vector", [False, True])
def test_training_moves_running_stats_the_keras_way_and_eval_uses_them(vector):
    torch.manual_seed(0)
    project = _bn_design(vector=vector, momentum=0.9)
    assert check(project).shapes["bn"] == ((None, 3) if vector else (None, 6, 3))
    model = engine.build_model(project)
    bn = model.blocks["bn"]
    x = torch.randn(5, 6, 3) * 3 + 2
    model.train()
    with torch.no_grad():
        feats = model.blocks["g"](x) if vector else x
        y = model(x)
    flat = feats.reshape(-1, 3)
    mean, var = flat.mean(0), flat.var(0, unbiased=False)
    assert torch.allclose(bn.running_mean, 0.1 * mean, atol=1e-6)  # 0.9 * 0 + 0.1 * batch mean
    assert torch.allclose(bn.running_var, 0.9 + 0.1 * var, atol=1e-6)  # biased variance, as Keras
    assert torch.allclose(y, (feats - mean) / torch.sqrt(var + 1e-3), atol=1e-5)  # the batch's own stats
    model.eval()
    with torch.no_grad():
        y_eval = model(x)
    assert torch.allclose(bn.running_mean, 0.1 * mean, atol=1e-6)  # eval leaves the stats alone
    want = (feats - bn.running_mean) / torch.sqrt(bn.running_var + 1e-3)
    assert torch.allclose(y_eval, want, atol=1e-5) and not torch.allclose(y_eval, y, atol=1e-2)


KERAS_SCRIPT = r"""
import json, sys
import numpy as np
import keras
import torch
sys.path.insert(0, sys.argv[1])
from rnn_studio import engine
from rnn_studio.engine import Block, Project

out = []
for shape in ([4, 5, 3], [6, 3]):
    rng = np.random.RandomState(len(shape))
    x = (rng.randn(*shape) * 2 + 1).astype("float32")
    layer = keras.layers.BatchNormalization(momentum=0.8)
    layer.build(x.shape)
    layer.gamma.assign(rng.rand(3).astype("float32") + 0.5)
    layer.beta.assign(rng.randn(3).astype("float32"))
    blocks = [Block("x", "Input", {"timesteps": shape[1] if len(shape) == 3 else 1, "features": 3})]
    if len(shape) == 2:  # a vector (B, F): Flatten of one step
        blocks.append(Block("f", "Flatten", {}))
    blocks.append(Block("bn", "BatchNormalization", {"momentum": 0.8}))
    model = engine.build_model(Project("b", blocks, [(a.id, b.id) for a, b in zip(blocks, blocks[1:])]))
    bn = model.blocks["bn"]
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(keras.ops.convert_to_numpy(layer.gamma)))
        bn.bias.copy_(torch.from_numpy(keras.ops.convert_to_numpy(layer.beta)))
    feed = torch.from_numpy(x if len(shape) == 3 else x.reshape(6, 1, 3))
    diffs = []
    for training in (True, True, False):
        want = keras.ops.convert_to_numpy(layer(x, training=training))
        model.train(training)
        with torch.no_grad():
            ours = model(feed).numpy()
        diffs.append(float(np.abs(ours - want).max()))
    stats = [keras.ops.convert_to_numpy(v) for v in (layer.moving_mean, layer.moving_variance)]
    diffs.append(float(np.abs(bn.running_mean.numpy() - stats[0]).max()))
    diffs.append(float(np.abs(bn.running_var.numpy() - stats[1]).max()))
    out.append(diffs)
print(json.dumps(out))
"""


@pytest.mark.slow
def test_numbers_and_running_stats_equal_keras_batchnormalization(tmp_path):
    env = dict(os.environ, KERAS_BACKEND="torch")
    r = subprocess.run(
        [sys.executable, "-c", KERAS_SCRIPT, str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    results = json.loads(r.stdout.strip().splitlines()[-1])
    assert len(results) == 2
    for diffs in results:  # train, train, eval outputs; moving mean; moving variance
        assert len(diffs) == 5 and max(diffs) < 1e-5, diffs


@pytest.mark.parametrize("timesteps", [None, 6])
def test_batchnorm_exports_in_eval_mode_and_source_round_trips(timesteps, tmp_path):
    project = _bn_design(timesteps=timesteps, momentum=0.5)
    project.add_block(Block("l", "LSTM", {"units": 4}))
    project.add_link("bn", "l")
    torch.manual_seed(0)
    model = engine.build_model(project).train()
    with torch.no_grad():
        model(torch.randn(8, 6, 3) * 4 + 1)  # running stats away from (0, 1)
    rep = export_onnx(model, project, tmp_path / "bn.onnx")
    assert rep.passed and rep.ops.get("BatchNormalization") == 1, (rep.message, rep.ops)
    assert rep.max_abs_diff is not None and rep.max_abs_diff < 1e-5
    source, state = generate_source(model.eval(), project)
    assert "class BatchNorm(nn.Module)" in source and "self.bn = BatchNorm(3, momentum=0.5)" in source
    gen = getattr(_load_source(source, "generated.py"), _class_name(project.name))()
    gen.load_state_dict(state, strict=True)
    x = torch.randn(3, timesteps or 11, 3)
    with torch.no_grad():
        assert torch.allclose(gen.eval()(x), model(x), atol=1e-6)


def _repeat_design(timesteps=5) -> Project:
    return Project(
        "ed",
        [
            Block("x", "Input", {"timesteps": timesteps, "features": 2}),
            Block("enc", "LSTM", {"units": 4}),
            Block("r", "RepeatVector", {"n": 3}),
            Block("dec", "GRU", {"units": 4, "return_sequences": True}),
            Block("out", "Dense", {"units": 1}),
        ],
        [("x", "enc"), ("enc", "r"), ("r", "dec"), ("dec", "out")],
    )


def test_repeat_vector_repeats_the_vector_at_every_step(tmp_path):
    project = _repeat_design()
    res = check(project)
    assert res.shapes["r"] == (None, 3, 4) and res.shapes["out"] == (None, 3, 1)
    model = engine.build_model(project, res).eval()
    enc = torch.randn(2, 4)
    rep = model.blocks["r"](enc)
    assert rep.shape == (2, 3, 4) and all(torch.equal(rep[:, t], enc) for t in range(3))
    bad = Project(
        "b",
        [
            Block("x", "Input", {"timesteps": 5, "features": 2}),
            Block("enc", "LSTM", {"units": 4, "return_sequences": True}),
            Block("r", "RepeatVector", {"n": 3}),
        ],
        [("x", "enc"), ("enc", "r")],
    )
    assert check(bad).errors[0].message == (
        "RepeatVector 'r' repeats a vector (batch, features) but 'enc' gives "
        "(None, 5, 4): set return_sequences=false on 'enc'"
    )
    for timesteps in (None, 5):
        project = _repeat_design(timesteps)
        model = engine.build_model(project).eval()
        out = export_onnx(model, project, tmp_path / f"ed{timesteps}.onnx")
        assert out.passed and out.max_abs_diff < 1e-5, out.message
        source, state = generate_source(model, project)
        assert ".unsqueeze(1).repeat(1, 3, 1)" in source
        gen = getattr(_load_source(source, "generated.py"), _class_name(project.name))()
        gen.load_state_dict(state, strict=True)
        x = torch.randn(3, 5, 2)
        with torch.no_grad():
            assert torch.allclose(gen.eval()(x), model(x), atol=1e-6)
