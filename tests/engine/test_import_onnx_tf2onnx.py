"""Keras models converted by tf2onnx: recognised by their operator patterns, checked with onnxruntime at 1e-5.

tf2onnx needs TensorFlow, which RNN Studio does not install, so the graphs are built here with onnx.helper in
the shapes tf2onnx emits for Keras recurrent models (its LSTM / GRU rewriters and bi-rewriter, opset 13):

- the input (batch, time, features) goes time-major through Transpose(perm=[1, 0, 2]);
- the zero initial state is computed from the batch size: Shape -> Gather(1) -> Unsqueeze -> Concat ->
  ConstantOfShape, fed to the node's initial_h (and initial_c);
- one LSTM / GRU node (Keras' gate order already folded into W / R / B; GRU linear_before_reset=1 for
  Keras' reset_after=True); a Bidirectional layer is one node with direction=bidirectional whose
  outputs are sliced per direction for Keras' merge: Y_h -> Slice(axis 0) -> Squeeze(0), Y -> Slice(axis 1)
  -> Squeeze(1) -> Transpose(perm=[1, 0, 2]), joined by Concat(axis=-1) / Add / Mul;
- a one-way last state is Squeeze(Y_h, 0); a one-way sequence is Squeeze(Y, 1) -> Transpose;
- Dense is MatMul (kernel (in, units) stored as is) + Add (bias), then Softmax / Relu.
"""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from rnn_studio.engine.importers import ImportRefused, import_model, write_import
from rnn_studio.engine.training.runs import load_run

ATOL = 1e-5
GATES = {"LSTM": 4, "GRU": 3}


class _Graph:
    def __init__(self, seed):
        self.nodes, self.inits, self.rng, self.n = [], [], np.random.default_rng(seed), 0

    def name(self, base):
        self.n += 1
        return f"{base}_{self.n}"

    def const(self, value, base="const"):
        name = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def weight(self, *shape, scale=0.5):
        return self.const((self.rng.standard_normal(shape) * scale).astype(np.float32), "w")

    def op(self, op_type, inputs, n_out=1, **attrs):
        outs = [self.name(op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=self.name(op_type), **attrs))
        return outs if n_out > 1 else outs[0]

    def save(self, path, out, features, units_out, rank=2):
        inp = helper.make_tensor_value_info("input_1", TensorProto.FLOAT, ["unk__0", "unk__1", features])
        o = helper.make_tensor_value_info(
            out, TensorProto.FLOAT, ["unk__0", units_out] if rank == 2 else ["unk__0", "unk__1", units_out]
        )
        graph = helper.make_graph(self.nodes, "tf2onnx", [inp], [o], self.inits)
        model = helper.make_model(graph, producer_name="tf2onnx", opset_imports=[helper.make_opsetid("", 13)])
        onnx.checker.check_model(model, full_check=True)
        onnx.save(model, str(path))


def _zero_state(g, time_major, dirs, units):
    """tf2onnx's zero initial state sized from the batch: (dirs, batch, units)."""
    shape = g.op("Shape", [time_major])
    batch = g.op("Gather", [shape, g.const(np.int64(1))], axis=0)
    batch = g.op("Unsqueeze", [batch, g.const(np.array([0], np.int64))])
    full = g.op("Concat", [g.const(np.array([dirs], np.int64)), batch, g.const(np.array([units], np.int64))], axis=0)
    return g.op("ConstantOfShape", [full], value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0]))


def _recurrent(g, cell, x, features, units, bidirectional):
    dirs = 2 if bidirectional else 1
    gates = GATES[cell]
    time_major = g.op("Transpose", [x], perm=[1, 0, 2])
    h0 = _zero_state(g, time_major, dirs, units)
    ins = [time_major, g.weight(dirs, gates * units, features), g.weight(dirs, gates * units, units)]
    ins += [g.weight(dirs, 2 * gates * units, scale=0.1), "", h0]
    attrs = {"hidden_size": units, "direction": "bidirectional" if bidirectional else "forward"}
    if cell == "LSTM":
        ins.append(_zero_state(g, time_major, dirs, units))
        return g.op("LSTM", ins, 3, **attrs)[:2]
    return g.op("GRU", ins, 2, linear_before_reset=1, **attrs)


def _direction_slice(g, tensor, axis, d):
    return g.op("Slice", [tensor, *(g.const(np.array([v], np.int64)) for v in (d, d + 1, axis))])


def _squeeze(g, tensor, axis):
    return g.op("Squeeze", [tensor, g.const(np.array([axis], np.int64))])


def _dense(g, x, units_in, units, activation=None):
    y = g.op("Add", [g.op("MatMul", [x, g.weight(units_in, units)]), g.weight(units, scale=0.1)])
    return g.op(activation, [y], **({"axis": -1} if activation == "Softmax" else {})) if activation else y


def keras_model(path, cell, bidirectional, return_sequences, merge="concat", features=3, units=4, seed=0):
    """The graph tf2onnx writes for Input -> [Bidirectional(]cell(units)[)] -> Dense."""
    g = _Graph(seed)
    y, y_h = _recurrent(g, cell, "input_1", features, units, bidirectional)
    join = {"concat": "Concat", "sum": "Add", "mul": "Mul"}[merge]
    if not bidirectional:
        out = g.op("Transpose", [_squeeze(g, y, 1)], perm=[1, 0, 2]) if return_sequences else _squeeze(g, y_h, 0)
    elif return_sequences:
        halves = [g.op("Transpose", [_squeeze(g, _direction_slice(g, y, 1, d), 1)], perm=[1, 0, 2]) for d in (0, 1)]
        out = g.op(join, halves, **({"axis": -1} if join == "Concat" else {}))
    else:
        halves = [_squeeze(g, _direction_slice(g, y_h, 0, d), 0) for d in (0, 1)]
        out = g.op(join, halves, **({"axis": -1} if join == "Concat" else {}))
    width = 2 * units if bidirectional and merge == "concat" else units
    out = _dense(g, out, width, 2, "Softmax" if not return_sequences else "Relu")
    g.save(path, out, features, 2, 3 if return_sequences else 2)


def _check(tmp_path, path, features=3):
    imported = import_model(path)
    run = write_import(imported, tmp_path / "m.rnn.json", tmp_path / "runs")
    project, model, _ = load_run(run)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    for batch, steps in ((1, 3), (5, 9), (2, 20)):
        x = rng.standard_normal((batch, steps, features)).astype(np.float32)
        with torch.no_grad():
            got = model(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(got, sess.run(None, {"input_1": x})[0], atol=ATOL, rtol=0)
    return project


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
@pytest.mark.parametrize(
    "bidirectional, return_sequences, merge",
    [
        (False, False, "concat"),
        (False, True, "concat"),
        (True, False, "concat"),
        (True, True, "concat"),
        (True, False, "sum"),
        (True, True, "mul"),
    ],
)
def test_tf2onnx_keras_recurrent_models_import_equal(tmp_path, cell, bidirectional, return_sequences, merge):
    path = tmp_path / "keras.onnx"
    keras_model(path, cell, bidirectional, return_sequences, merge)
    project = _check(tmp_path, path)
    blocks = [(b.type, b.params) for b in project.blocks]
    assert [t for t, _ in blocks] == ["Input", cell, "Dense"]
    params = blocks[1][1]
    assert params["units"] == 4 and params.get("bidirectional", False) == bidirectional
    assert params.get("return_sequences", False) == return_sequences
    assert params.get("merge_mode", "concat") == merge
    assert blocks[2][1]["activation"] == ("relu" if return_sequences else "softmax")  # MatMul + Add + act


def test_tf2onnx_directions_in_the_wrong_order_are_refused_by_name(tmp_path):
    """Backward half first is not Keras' Bidirectional(concat): no block says that, so the import stops."""
    g = _Graph(0)
    y, _ = _recurrent(g, "GRU", "input_1", 3, 4, True)
    halves = [g.op("Transpose", [_squeeze(g, _direction_slice(g, y, 1, d), 1)], perm=[1, 0, 2]) for d in (1, 0)]
    out = g.op("Concat", halves, axis=-1)
    g.save(tmp_path / "swapped.onnx", out, 3, 8, 3)
    with pytest.raises(ImportRefused, match=r"^cannot import node 'Concat_\d+' \(Concat\); supported ONNX ops"):
        import_model(tmp_path / "swapped.onnx")
