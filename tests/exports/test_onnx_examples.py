"""Every example (both seed designs included) exports, verifies at 1e-5 and runs in onnxruntime with
dynamic batch (and length where dynamic); the graph holds native recurrent operators."""

import json

import numpy as np
import onnx
import pytest
import torch

from rnn_studio import engine
from rnn_studio.engine.design.compile import masked_recurrent_blocks, token_vocabulary
from rnn_studio.exports import INPUT_NAME, OUTPUT_NAME, export_onnx, read_metadata, report_path_for
from rnn_studio.exports.verify import make_session, padding_value, sample_input

from .conftest import EXAMPLE_FILES, SEEDS


def _export(design, tmp_path, **kw):
    project = engine.load_project(design)
    torch.manual_seed(0)
    model = engine.build_model(project).eval()
    path = tmp_path / "model.onnx"
    return project, model, path, export_onnx(model, project, path, **kw)


def test_seed_designs_are_examples():
    assert set(SEEDS) <= set(EXAMPLE_FILES) and len(EXAMPLE_FILES) >= 4


@pytest.mark.parametrize("design", EXAMPLE_FILES, ids=lambda p: p.name.split(".")[0])
def test_example_exports_and_verifies(design, tmp_path):
    project, model, path, rep = _export(design, tmp_path)
    assert rep.verified and rep.passed, rep.message
    assert rep.max_abs_diff <= 1e-5, rep.max_abs_diff
    assert {c.batch for c in rep.cases} >= {1, 7}
    assert path.is_file() and report_path_for(path).is_file()
    saved = json.loads(report_path_for(path).read_text())
    assert saved["passed"] is True and saved["max_abs_diff"] == pytest.approx(rep.max_abs_diff)

    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    ops = [n.op_type for n in proto.graph.node]
    assert not {"Loop", "Scan"} & set(ops), "recurrence must not be unrolled or looped"
    res = engine.check(project)
    want = {"GRU": 0, "LSTM": 0, "RNN": 0}
    masked = masked_recurrent_blocks(project, res)  # these export one forward node per direction
    for b in project.blocks:
        if b.type in ("GRU", "LSTM", "SimpleRNN"):
            p = b.resolved()
            nodes = 2 if b.id in masked and p["bidirectional"] else 1
            want[{"SimpleRNN": "RNN"}.get(b.type, b.type)] += p["num_layers"] * nodes
    assert {k: ops.count(k) for k in want} == want
    for n in proto.graph.node:
        if n.op_type == "GRU":  # PyTorch's GRU applies the reset gate after the recurrent matmul
            assert {a.name: a.i for a in n.attribute}["linear_before_reset"] == 1
    assert [i.name for i in proto.graph.input] == [INPUT_NAME]
    assert [o.name for o in proto.graph.output] == [OUTPUT_NAME]
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch"
    dynamic_time = res.input_shape()[1] is None
    assert (dims[1].dim_param == "time") if dynamic_time else (dims[1].dim_value == res.input_shape()[1])

    # a deployment: onnxruntime at batch sizes and lengths the verification did not use
    sess = make_session(path)
    lengths = [2, 50] if dynamic_time else [res.input_shape()[1]]
    tokens, padding = token_vocabulary(project, res), padding_value(project)  # token ids padded with 0
    for batch in (3, 64):
        for t in lengths:
            x = sample_input(batch, t, res.input_shape()[2], batch + t, tokens=tokens, padding=padding)
            with torch.no_grad():
                ref = model(x).numpy()
            out = sess.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0]
            assert out.shape == ref.shape
            assert np.abs(out - ref).max() <= 1e-5


def test_metadata_for_bare_design(tmp_path):
    project, _, path, rep = _export(SEEDS[0], tmp_path)
    md = read_metadata(path)
    assert md["project_name"] == "seed-keras" and md["task"] == "regression"
    assert md["normalization"] == "none" and json.loads(md["input_shape"]) == ["batch", 10, 1]
    assert json.loads(md["design"])["name"] == "seed-keras"
    assert rep.metadata == md


def test_export_leaves_callers_module_alone(tmp_path):
    project = engine.load_project(SEEDS[0])
    model = engine.build_model(project)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    export_onnx(model, project, tmp_path / "m.onnx")
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_exports_current_weights(tmp_path):
    """The file holds the module's weights as they are now (e.g. after training), not fresh ones."""
    project = engine.load_project(SEEDS[0])
    model = engine.build_model(project).eval()
    with torch.no_grad():
        model.blocks["y"].linear.bias.fill_(123.0)
    export_onnx(model, project, tmp_path / "m.onnx")
    out = make_session(tmp_path / "m.onnx").run(None, {INPUT_NAME: np.zeros((2, 10, 1), np.float32)})[0]
    with torch.no_grad():
        ref = model(torch.zeros(2, 10, 1)).numpy()
    assert np.allclose(out, ref, atol=1e-5) and out.mean() > 100


@pytest.mark.parametrize("opset", [10, 14, 20])
def test_other_opsets(opset, tmp_path):
    _, _, path, rep = _export(SEEDS[1], tmp_path, opset=opset)
    assert rep.passed and rep.max_abs_diff <= 1e-5
    assert any(o.version == opset for o in onnx.load(str(path)).opset_import if o.domain in ("", "ai.onnx"))


def test_no_verify_still_writes_report(tmp_path):
    _, _, path, rep = _export(SEEDS[0], tmp_path, verify=False)
    assert path.is_file() and rep.verified is False and rep.passed is None
    assert json.loads(report_path_for(path).read_text())["verified"] is False
