"""ONNX import of RNN Studio's own exports holding the blocks issue #13 part 6 added (Conv1D, pooling,
BatchNormalization with moved running statistics, RepeatVector): same design, the very same weights."""

import pytest
import torch

from rnn_studio import engine
from rnn_studio.engine import Block, Project
from rnn_studio.engine.importers import import_model, write_import
from rnn_studio.engine.training.runs import load_run
from rnn_studio.exports import export_onnx
from tests.engine.test_import_onnx import _design, compare_run_with_file


def _cnn_design(timesteps):
    blocks = [
        Block("x", "Input", {"timesteps": timesteps, "features": 3}),
        Block("c", "Conv1D", {"filters": 5, "kernel_size": 3, "padding": "causal", "activation": "relu"}),
        Block("bn", "BatchNormalization", {"momentum": 0.5}),
        Block("p", "MaxPooling1D", {"pool_size": 3, "strides": 1, "padding": "same"}),
        Block("a", "AveragePooling1D", {"pool_size": 1}),
        Block("g", "GRU", {"units": 4}),
        Block("bn2", "BatchNormalization", {"center": False}),
        Block("r", "RepeatVector", {"n": 2}),
        Block("l", "LSTM", {"units": 3, "return_sequences": True}),
        Block("out", "Dense", {"units": 2}),
    ]
    return Project("cnn", blocks, [(a.id, b.id) for a, b in zip(blocks, blocks[1:], strict=False)])


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


# ----------------------------------------------------------------------------- foreign torch.onnx.export files
import torch.nn as nn  # noqa: E402


class ConvGru(nn.Module):
    """A CNN-GRU as a PyTorch user writes it: channels-first convolutions, pooling and batch norm."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 8, 3, padding=1)  # Keras padding='same'
        self.norm = nn.BatchNorm1d(8)
        self.pool = nn.MaxPool1d(3, stride=1, padding=1)  # 'same'
        self.dilated = nn.Conv1d(8, 6, 3, padding=2, dilation=2)  # 'same' over a span of 5 steps
        self.gru = nn.GRU(6, 5, batch_first=True)
        self.head = nn.Linear(5, 2)

    def forward(self, x):  # (B, T, 3)
        y = self.norm(torch.relu(self.conv(x.transpose(1, 2))))
        y = torch.tanh(self.dilated(self.pool(y)))
        return self.head(self.gru(y.transpose(1, 2))[1][-1])


class StridedPools(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 4, 2, stride=2, bias=False)  # 12 -> 6 ('valid')
        self.maxpool = nn.MaxPool1d(2)  # 6 -> 3
        self.avgpool = nn.AvgPool1d(2, stride=1)  # 3 -> 2
        self.lstm = nn.LSTM(4, 3, batch_first=True)
        self.norm = nn.BatchNorm1d(3)

    def forward(self, x):
        y = self.avgpool(self.maxpool(self.conv(x.transpose(1, 2)))).transpose(1, 2)
        return self.norm(self.lstm(y)[1][0][-1])


def _foreign(module, path, steps, dynamic_time):
    torch.manual_seed(0)
    for m in module.modules():  # running statistics away from (0, 1)
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    module.eval()
    axes = {"x": {0: "batch", 1: "time"}} if dynamic_time else {"x": {0: "batch"}}
    torch.onnx.export(
        module,
        torch.randn(2, steps, 3),
        str(path),
        dynamo=False,
        input_names=["x"],
        output_names=["y"],
        dynamic_axes=axes,
    )
    return path


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("module,steps,dynamic", [(ConvGru, 9, True), (StridedPools, 12, False)])
def test_foreign_conv_pool_batchnorm_import_at_1e_5(tmp_path, module, steps, dynamic):
    source = module()
    path = _foreign(source, tmp_path / "f.onnx", steps, dynamic)
    imported = import_model(path)  # verified against onnxruntime on random inputs before it returns
    run = write_import(imported, tmp_path / "f.rnn.json", tmp_path / "runs")
    compare_run_with_file(run, path, 3, fixed_time=None if dynamic else steps)
    x = torch.randn(4, steps, 3)
    _, ours, _ = load_run(run)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), source(x), atol=1e-5, rtol=0)
    types = [b.type for b in imported.project.blocks]
    if module is ConvGru:
        assert {"Conv1D", "MaxPooling1D", "GRU", "Dense"} <= set(types)
        assert [b.params["padding"] for b in imported.project.blocks if b.type == "Conv1D"] == ["same", "same"]
    else:
        assert types == ["Input", "Conv1D", "MaxPooling1D", "AveragePooling1D", "LSTM", "BatchNormalization"]


def test_own_export_of_a_token_design_round_trips_with_int64_ids(tmp_path):
    project = Project(
        "tok",
        [
            Block("x", "Input", {"timesteps": None, "features": 1, "dtype": "int64"}),
            Block("e", "Embedding", {"input_dim": 11, "output_dim": 4}),
            Block("g", "GRU", {"units": 3, "bidirectional": True}),
            Block("out", "Dense", {"units": 2}),
        ],
        [("x", "e"), ("e", "g"), ("g", "out")],
    )
    torch.manual_seed(1)
    model = engine.build_model(project).eval()
    assert export_onnx(model, project, tmp_path / "t.onnx").passed
    imported = import_model(tmp_path / "t.onnx")  # verified on int64 ids below the vocabulary
    assert _design(imported.project) == _design(project)
    run = write_import(imported, tmp_path / "t.rnn.json", tmp_path / "runs")
    _, again, _ = load_run(run)
    ids = torch.randint(0, 11, (3, 7, 1))
    with torch.no_grad():
        torch.testing.assert_close(again(ids), model(ids), atol=0, rtol=0)
