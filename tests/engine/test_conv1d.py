"""Conv1D, added by touching only engine/design/blocks.py and engine/design/layers.py: Keras names, Keras output
shapes and Keras numbers, verified ONNX, PyTorch source, and the look-ahead warning for padding that
reads later steps."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rnn_studio import engine
from rnn_studio.engine import Block, Project, check
from rnn_studio.engine.data import DataSpec, load_dataset, lookahead_warnings
from rnn_studio.exports import export_onnx, generate_source
from rnn_studio.exports.pytorch_source import _class_name, _load_source

ROOT = Path(__file__).resolve().parents[2]
# (kernel_size, strides, dilation_rate); Keras rejects strides > 1 with dilation_rate > 1
GEOMETRIES = [(1, 1, 1), (2, 1, 1), (3, 1, 1), (4, 1, 1), (3, 2, 1), (4, 3, 1), (2, 2, 1), (3, 1, 2), (2, 1, 3)]
PADDINGS = ("valid", "same", "causal")


def _design(
    padding, kernel_size=3, strides=1, dilation_rate=1, timesteps=8, features=3, filters=5, activation="tanh", then=None
) -> Project:
    p = Project(
        "conv",
        [
            Block("x", "Input", {"timesteps": timesteps, "features": features}),
            Block(
                "c",
                "Conv1D",
                {
                    "filters": filters,
                    "kernel_size": kernel_size,
                    "strides": strides,
                    "dilation_rate": dilation_rate,
                    "padding": padding,
                    "activation": activation,
                },
            ),
        ],
        [("x", "c")],
    )
    if then:
        p.add_block(Block("out", *then))
        p.add_link("c", "out")
    return p


def _keras_length(padding, steps, kernel_size, strides, dilation_rate):
    """Keras' documented output length (keras.src.ops.operation_utils.compute_conv_output_shape)."""
    span = (kernel_size - 1) * dilation_rate + 1
    if padding == "valid":
        return (steps - span) // strides + 1
    return math.ceil(steps / strides)


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_shapes_follow_keras_formula(padding, geometry):
    k, s, d = geometry
    for steps in (7, 8, 9, 16):
        project = _design(padding, k, s, d, timesteps=steps)
        res = check(project)
        want = (None, _keras_length(padding, steps, k, s, d), 5)
        assert res.ok and res.shapes["c"] == want, (steps, res.shapes, [str(p) for p in res.problems])
        model = engine.build_model(project, res)
        assert tuple(model(torch.randn(2, steps, 3)).shape) == (2,) + want[1:]
        assert res.param_counts["c"] == sum(p.numel() for p in model.parameters()) == k * 3 * 5 + 5


def test_keras_checks_are_one_line_and_name_the_fix():
    res = check(_design("valid", kernel_size=5, dilation_rate=2, timesteps=8))
    assert not res.ok and res.errors[0].message == (
        "Conv1D 'c': the kernel spans 9 time steps (kernel_size=5, dilation_rate=2) but 'x' gives only 8: "
        "use padding=causal or same, a smaller kernel_size, or more timesteps"
    )
    res = check(_design("same", strides=2, dilation_rate=2))
    assert res.errors[0].message.startswith("Conv1D 'c': strides=2 together with dilation_rate=2 is not supported")
    res = check(_design("same", strides=2, timesteps=None))
    assert "needs a fixed timesteps on the Input" in res.errors[0].message
    res = check(_design("valid", timesteps=None))
    assert "padding='valid' needs at least 3 time steps, so it needs a fixed timesteps" in res.errors[0].message
    assert check(_design("causal", strides=2, timesteps=None)).shapes["c"] == (None, None, 5)
    assert check(_design("valid", kernel_size=1, timesteps=None)).shapes["c"] == (None, None, 5)


KERAS_SCRIPT = r"""
import json, os, sys
import numpy as np
import keras
import torch
sys.path.insert(0, sys.argv[1])
from rnn_studio import engine
from rnn_studio.engine import Block, Project, check

out = []
for padding, k, s, d, steps in json.loads(sys.argv[2]):
    layer = keras.layers.Conv1D(5, k, strides=s, padding=padding, dilation_rate=d, activation="tanh")
    x = np.random.RandomState(steps).randn(2, steps, 3).astype("float32")
    want = keras.ops.convert_to_numpy(layer(x))
    p = Project("c", [Block("x", "Input", {"timesteps": steps, "features": 3}),
                      Block("c", "Conv1D", {"filters": 5, "kernel_size": k, "strides": s, "dilation_rate": d,
                                            "padding": padding, "activation": "tanh"})], [("x", "c")])
    model = engine.build_model(p).eval()
    kernel, bias = [keras.ops.convert_to_numpy(w) for w in layer.weights]
    with torch.no_grad():
        model.blocks["c"].conv.weight.copy_(torch.from_numpy(kernel).permute(2, 1, 0))  # (k, in, out) -> (out, in, k)
        model.blocks["c"].conv.bias.copy_(torch.from_numpy(bias))
        ours = model(torch.from_numpy(x)).numpy()
    diff = float(np.abs(ours - want).max()) if ours.shape == want.shape else None
    out.append([padding, k, s, d, steps, list(want.shape), list(ours.shape), diff])
print(json.dumps(out))
"""


@pytest.mark.slow
def test_numbers_equal_keras_conv1d_on_the_torch_backend(tmp_path):
    cases = [[pad, k, s, d, steps] for pad in PADDINGS for (k, s, d) in GEOMETRIES for steps in (7, 8)]
    env = dict(os.environ, KERAS_BACKEND="torch")
    r = subprocess.run(
        [sys.executable, "-c", KERAS_SCRIPT, str(ROOT), json.dumps(cases)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    results = json.loads(r.stdout.strip().splitlines()[-1])
    assert len(results) == len(cases)
    for padding, k, s, d, steps, keras_shape, our_shape, diff in results:
        assert our_shape == keras_shape and diff is not None and diff < 1e-5, (padding, k, s, d, steps, diff)


@pytest.mark.parametrize(
    "padding,strides,timesteps",
    [("causal", 1, None), ("same", 1, None), ("valid", 2, 9), ("same", 2, 9), ("causal", 2, 12)],
)
def test_onnx_export_verifies_and_source_round_trips(padding, strides, timesteps, tmp_path):
    project = _design(
        padding, kernel_size=3, strides=strides, timesteps=timesteps, activation="relu", then=("LSTM", {"units": 4})
    )
    torch.manual_seed(0)
    model = engine.build_model(project).eval()
    rep = export_onnx(model, project, tmp_path / "cnn.onnx")  # onnxruntime vs torch, batches 1 and 7
    assert rep.passed and rep.ops.get("Conv") == 1 and rep.ops.get("LSTM") == 1, rep.message
    if timesteps is None:
        assert {c.time for c in rep.cases} == {1, 3, 8, 37}  # other lengths than traced
    source, state = generate_source(model, project)
    assert "class Conv1D(nn.Module)" in source and "self.c = Conv1D(3, 5, 3" in source
    gen = getattr(_load_source(source, "generated.py"), _class_name(project.name))()
    gen.load_state_dict(state, strict=True)
    x = torch.randn(3, timesteps or 11, 3)
    with torch.no_grad():
        assert torch.allclose(gen.eval()(x), model(x), atol=1e-6)


def _forecast_warnings(padding, tmp_path, kernel_size=3):
    csv = tmp_path / "demand.csv"
    csv.write_text("a,b,demand\n" + "".join(f"{i % 5},{i % 3},{(i * 7) % 11}\n" for i in range(200)))
    project = _design(padding, kernel_size=kernel_size, timesteps=8, then=("Dense", {"units": 1}))
    dataset = load_dataset(DataSpec(path=str(csv), target="demand", features=["a", "b", "demand"]), project)
    return lookahead_warnings(project, dataset)


def test_padding_that_reads_later_steps_warns_in_forecasting(tmp_path):
    assert _forecast_warnings("causal", tmp_path) == []
    same = _forecast_warnings("same", tmp_path)
    assert len(same) == 1 and "'c' (padding='same' reads 1 later step(s))" in same[0] and "'demand'" in same[0]
    assert _forecast_warnings("same", tmp_path, kernel_size=1) == []  # a 1-step kernel reads step t only


def test_reads_later_steps_by_padding():
    conv = engine.CATALOG["Conv1D"]
    base = {"kernel_size": 3, "strides": 1, "dilation_rate": 1}
    assert conv.reads_later_steps({**base, "padding": "causal"}) is None
    assert (
        conv.reads_later_steps({**base, "padding": "same", "dilation_rate": 2})
        == "padding='same' reads 2 later step(s)"
    )
    assert conv.reads_later_steps({**base, "padding": "valid"}) == "padding='valid' gives step t the input steps t..t+2"
    assert (
        conv.reads_later_steps({**base, "padding": "causal", "strides": 2})
        == "strides=2 gives step t the input step 2t"
    )
