"""Hostile files built by hand for the fault-injection suites (issue #22): .keras archives (a zip of
config.json + model.weights.h5, written with zipfile and h5py, no Keras needed), and the secrets every
suite's CLI output is checked against."""

from __future__ import annotations

import copy
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

PASSWORD = "S3cretPW-22"  # noqa: S105 - the fake credential the tracking cases put in URIs
TOKEN = "tok-22-abcdef"  # noqa: S105

SEEN: list[str] = []  # every stdout / stderr text the fault suites' CLI runs printed


def _layer(cls: str, config: dict, input_shape=None) -> dict:
    out = {"module": "keras.layers", "class_name": cls, "config": config, "registered_name": None}
    if input_shape is not None:
        out["build_config"] = {"input_shape": input_shape}
    return out


def keras_config(units=3, steps=5, features=2, name="sequential") -> dict:
    """A Sequential Input(steps, features) -> GRU(units) -> Dense(1), as Keras 3 writes it."""
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": name,
            "layers": [
                _layer(
                    "InputLayer", {"batch_shape": [None, steps, features], "dtype": "float32", "name": "input_layer"}
                ),
                _layer(
                    "GRU",
                    {
                        "name": "gru",
                        "units": units,
                        "activation": "tanh",
                        "recurrent_activation": "sigmoid",
                        "use_bias": True,
                        "reset_after": True,
                    },
                    [None, steps, features],
                ),
                _layer("Dense", {"name": "dense", "units": 1, "activation": "linear", "use_bias": True}, [None, units]),
            ],
        },
    }


def keras_weights(h5, units=3, features=2, dtype="float32") -> None:
    """The weights keras_config's layers need, at the paths Keras 3 stores them."""
    rng = np.random.default_rng(0)
    cell = h5.create_group("layers/gru/cell/vars")
    cell["0"] = rng.standard_normal((features, 3 * units)).astype(dtype)
    cell["1"] = rng.standard_normal((units, 3 * units)).astype(dtype)
    cell["2"] = rng.standard_normal((2, 3 * units)).astype(dtype)
    dense = h5.create_group("layers/dense/vars")
    dense["0"] = rng.standard_normal((units, 1)).astype(dtype)
    dense["1"] = np.zeros(1, dtype)


def h5_bytes(fill: Callable | None = None) -> bytes:
    """An HDF5 file in memory, filled by `fill(h5)` (default: keras_weights)."""
    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w") as h5:
        (fill or keras_weights)(h5)
    return buf.getvalue()


def keras_file(path: Path, config=None, weights: bytes | None = None, extra: dict | None = None) -> Path:
    """A .keras zip: config.json (a dict is dumped as JSON; bytes / str are written as they are) and
    model.weights.h5 (default: matching weights)."""
    config = keras_config() if config is None else config
    raw = json.dumps(config) if isinstance(config, (dict, list)) else config
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.10.0"}))
        z.writestr("config.json", raw)
        z.writestr("model.weights.h5", h5_bytes() if weights is None else weights)
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return path


def with_layer_config(changes: dict, index: int = 1) -> dict:
    """keras_config() with layer `index`'s config updated."""
    config = copy.deepcopy(keras_config())
    config["config"]["layers"][index]["config"].update(changes)
    return config


def cli(*argv: str, env: dict | None = None, timeout: float = 120):
    """run_cli (a bounded child process) whose output is kept for the secrets check and checked at once."""
    from .hostile import run_cli

    outcome = run_cli(*argv, env=env, timeout=timeout)
    SEEN.append(outcome.out + outcome.err)
    for secret in (PASSWORD, TOKEN):
        assert secret not in outcome.out + outcome.err, (outcome.out + outcome.err)[-2000:]
    return outcome


def ok_or_refused(outcome, *needles: str) -> str:
    """Exit 0, or exit 2 with one short line: never exit 1, a traceback or a long line."""
    from .hostile import assert_refused

    if outcome.code == 0:
        assert "Traceback" not in outcome.err
        return ""
    return assert_refused(outcome, *needles)


TINY_DESIGN = {
    "format": "rnn-studio",
    "version": 1,
    "name": "tiny",
    "blocks": [
        {"id": "x", "type": "Input", "params": {"timesteps": 8, "features": 1}},
        {"id": "g", "type": "GRU", "params": {"units": 4}},
        {"id": "fc", "type": "Dense", "params": {"units": 1}},
    ],
    "links": [["x", "g"], ["g", "fc"]],
}


def trained_run(folder: Path) -> Path:
    """A real run folder: the tiny design trained one epoch on the sine demo (about 5 s)."""
    design = folder / "tiny.rnn.json"
    design.write_text(json.dumps(TINY_DESIGN), encoding="utf-8")
    outcome = cli("train", str(design), "--demo", "sine", "--epochs", "1", "--out", str(folder / "runs"))
    assert outcome.code == 0, outcome.err[-2000:]
    (run,) = (folder / "runs").iterdir()
    return run


def onnx_dense(path: Path, batch="N", mutate: Callable | None = None, extra_nodes=(), metadata=None) -> Path:
    """A foreign ONNX graph: X (batch, 5, 2) -> MatMul(W) -> Add(B) -> Y; `mutate(graph)` edits it first."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((2, 1), np.float32), "W")
    b = numpy_helper.from_array(np.zeros(1, np.float32), "B")
    nodes = [
        helper.make_node("MatMul", ["X", "W"], ["H"], name="mm"),
        helper.make_node("Add", ["H", "B"], ["Y"], name="add"),
    ]
    graph = helper.make_graph(
        nodes + list(extra_nodes),
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [batch, 5, 2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [batch, 5, 1])],
        [w, b],
    )
    if mutate is not None:
        mutate(graph)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return path


def onnx_gru(path: Path, w_shape=(1, 9, 2), hidden_size: int | None = 3) -> Path:
    """X (N, 5, 2) -> Transpose -> GRU -> Y_h squeezed -> Gemm -> (N, 1), torch.onnx.export's spelling."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal(w_shape).astype(np.float32), "W"),
        numpy_helper.from_array(rng.standard_normal((1, 9, 3)).astype(np.float32), "R"),
        numpy_helper.from_array(np.zeros((1, 18), np.float32), "Bg"),
        numpy_helper.from_array(rng.standard_normal((1, 3)).astype(np.float32), "Wd"),
        numpy_helper.from_array(np.zeros(1, np.float32), "Bd"),
        numpy_helper.from_array(np.array([0], np.int64), "axes"),
    ]
    attrs = {"linear_before_reset": 1}
    if hidden_size is not None:
        attrs["hidden_size"] = hidden_size
    nodes = [
        helper.make_node("Transpose", ["X"], ["Xt"], perm=[1, 0, 2], name="t"),
        helper.make_node("GRU", ["Xt", "W", "R", "Bg"], ["Yall", "Yh"], name="gru", **attrs),
        helper.make_node("Squeeze", ["Yh", "axes"], ["H"], name="sq"),
        helper.make_node("Gemm", ["H", "Wd", "Bd"], ["Y"], transB=1, name="fc"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 5, 2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 1])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path
