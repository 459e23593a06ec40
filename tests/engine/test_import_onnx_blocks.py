"""ONNX import of RNN Studio's own exports holding the blocks issue #13 part 6 added (Conv1D, pooling,
BatchNormalization with moved running statistics, RepeatVector): same design, the very same weights."""
import pytest
import torch

from rnn_studio import engine
from rnn_studio.engine import Block, Project
from rnn_studio.engine.importers import import_model, write_import
from rnn_studio.engine.runs import load_run
from rnn_studio.exports import export_onnx
from tests.engine.test_import_onnx import _design, compare_run_with_file


def _cnn_design(timesteps):
    blocks = [Block("x", "Input", {"timesteps": timesteps, "features": 3}),
              Block("c", "Conv1D", {"filters": 5, "kernel_size": 3, "padding": "causal", "activation": "relu"}),
              Block("bn", "BatchNormalization", {"momentum": 0.5}),
              Block("p", "MaxPooling1D", {"pool_size": 3, "strides": 1, "padding": "same"}),
              Block("a", "AveragePooling1D", {"pool_size": 1}),
              Block("g", "GRU", {"units": 4}),
              Block("bn2", "BatchNormalization", {"center": False}),
              Block("r", "RepeatVector", {"n": 2}),
              Block("l", "LSTM", {"units": 3, "return_sequences": True}),
              Block("out", "Dense", {"units": 2})]
    return Project("cnn", blocks, [(a.id, b.id) for a, b in zip(blocks, blocks[1:])])


@pytest.mark.parametrize("timesteps", [None, 9])
def test_own_export_with_new_blocks_round_trips(tmp_path, timesteps):
    project = _cnn_design(timesteps)
    torch.manual_seed(2)
    model = engine.build_model(project).train()
    with torch.no_grad():
        model(torch.randn(6, 9, 3) * 2 + 1)  # running statistics away from (0, 1)
    model.eval()
    assert export_onnx(model, project, tmp_path / "m.onnx").passed
    imported = import_model(tmp_path / "m.onnx")
    assert _design(imported.project) == _design(project)
    run = write_import(imported, tmp_path / "m.rnn.json", tmp_path / "runs")
    compare_run_with_file(run, tmp_path / "m.onnx", 3, fixed_time=timesteps)
    _, again, _ = load_run(run)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(again.state_dict()[key], value, atol=0, rtol=0)
