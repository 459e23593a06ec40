"""ONNX import: RNN Studio's own exports round-trip to an equivalent design, and torch.onnx.export
files of nn.GRU / nn.LSTM / nn.RNN stacks with nn.Linear heads are recognised by their patterns; the
imported run gives the file's outputs within 1e-5 (onnxruntime), also after `export RUN` again."""

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from rnn_studio import engine
from rnn_studio.cli import main
from rnn_studio.engine.design.compile import token_vocabulary
from rnn_studio.engine.importers import ImportRefused, import_model, write_import
from rnn_studio.engine.training.runs import load_run
from rnn_studio.exports import export_onnx

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "assets" / "examples").glob("*.rnn.json"))  # masked text-classify included
ATOL = 1e-5

RICH_DESIGN = {
    "format": "rnn-studio",
    "version": 1,
    "name": "rich",
    "blocks": [
        {"id": "x", "type": "Input", "params": {"timesteps": None, "features": 3}},
        {
            "id": "g",
            "type": "GRU",
            "params": {"units": 4, "bidirectional": True, "merge_mode": "sum", "return_sequences": True},
        },
        {"id": "l", "type": "LSTM", "params": {"units": 4, "go_backwards": True, "return_sequences": True}},
        {"id": "n", "type": "LayerNormalization", "params": {}},
        {"id": "a", "type": "MultiHeadAttention", "params": {"num_heads": 2, "causal": True}},
        {"id": "s", "type": "Add", "params": {}},
        {
            "id": "r",
            "type": "SimpleRNN",
            "params": {"units": 3, "num_layers": 2, "bidirectional": True, "activation": "relu"},
        },
        {"id": "d", "type": "Dense", "params": {"units": 2, "activation": "tanh", "use_bias": False}},
        {"id": "o", "type": "Dense", "params": {"units": 1}},
    ],
    "links": [
        ["x", "g"],
        ["g", "l"],
        ["l", "n"],
        ["n", "a"],
        ["n", "s"],
        ["a", "s"],
        ["s", "r"],
        ["r", "d"],
        ["d", "o"],
    ],
}


def _ort(path):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: sess.run(None, {sess.get_inputs()[0].name: x})[0]


def compare_run_with_file(run, onnx_path, features, shapes=((2, 7), (1, 3), (4, 12)), fixed_time=None, tokens=None):
    """`tokens`: the design reads token ids below this; they come padded with 0 to mixed lengths."""
    _, model, _ = load_run(run)
    reference = _ort(onnx_path)
    rng = np.random.default_rng(3)
    for batch, steps in shapes:
        if tokens:
            steps = fixed_time or steps
            x = rng.integers(1, tokens, (batch, steps, features))
            for i, n in enumerate(rng.integers(0, steps + 1, batch)):
                x[i, n:] = 0
        else:
            x = rng.standard_normal((batch, fixed_time or steps, features)).astype(np.float32)
        with torch.no_grad():
            got = model(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(got, reference(x), atol=ATOL, rtol=0)


def _design(project):
    return [(b.id, b.type, b.resolved()) for b in project.blocks], project.links


# ----------------------------------------------------------------------------- our own exports
@pytest.mark.parametrize(
    "design", [pytest.param(RICH_DESIGN, id="rich")] + [pytest.param(p, id=p.stem) for p in EXAMPLES]
)
def test_own_export_round_trips(tmp_path, design):
    project = engine.Project.from_dict(design) if isinstance(design, dict) else engine.load_project(design)
    torch.manual_seed(5)
    model = engine.build_model(project).eval()
    export_onnx(model, project, tmp_path / "m.onnx")
    imported = import_model(tmp_path / "m.onnx")
    assert _design(imported.project) == _design(project)
    run = write_import(imported, tmp_path / "m.rnn.json", tmp_path / "runs")
    t = project.block(engine.check(project).input_id).resolved()["timesteps"]
    res = engine.check(project)
    tokens = token_vocabulary(project, res)
    compare_run_with_file(run, tmp_path / "m.onnx", res.input_shape()[-1], fixed_time=t, tokens=tokens)
    # and the weights are the original ones, not merely equivalent
    _, again, _ = load_run(run)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(again.state_dict()[key], value, atol=0, rtol=0)


def test_own_export_with_normalization_keeps_meta(tmp_path):
    from rnn_studio.engine.training.runs import RunMeta

    project = engine.Project.from_dict(RICH_DESIGN)
    model = engine.build_model(project).eval()
    meta = RunMeta(
        project_name="rich",
        task="regression",
        features=["a", "b", "c"],
        target="a",
        x_mean=[1.0, 2.0, 3.0],
        x_std=[2.0, 0.5, 1.5],
        y_mean=10.0,
        y_std=3.0,
    )
    export_onnx(model, project, tmp_path / "n.onnx", meta=meta, include_normalization=True)
    imported = import_model(tmp_path / "n.onnx")
    run = write_import(imported, tmp_path / "n.rnn.json", tmp_path / "runs")
    _, _, got = load_run(run)
    assert got.x_mean == meta.x_mean and got.y_std == meta.y_std and got.features == meta.features


# ----------------------------------------------------------------------------- foreign torch exports
class Stack(nn.Module):
    def __init__(self, cell, layers, bidirectional, head):
        super().__init__()
        self.rnn = getattr(nn, cell)(3, 5, num_layers=layers, bidirectional=bidirectional, batch_first=True)
        self.fc = nn.Linear(10 if bidirectional else 5, 2)
        self.bidirectional, self.head = bidirectional, head

    def forward(self, x):
        out, h = self.rnn(x)
        h = h[0] if isinstance(h, tuple) else h
        if self.head == "seq":
            return self.fc(out)
        if self.head == "last":
            return self.fc(out[:, -1])
        last = torch.cat([h[-2], h[-1]], dim=-1) if self.bidirectional else h[-1]
        return torch.sigmoid(self.fc(last))


class Mixed(nn.Module):
    """Separate modules: bidirectional GRU -> LSTM -> mean over time -> Linear/ReLU/Linear/Softmax."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(3, 4, batch_first=True, bidirectional=True)
        self.lstm = nn.LSTM(8, 6, batch_first=True, num_layers=2)
        self.head = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3), nn.Softmax(dim=-1))

    def forward(self, x):
        y, _ = self.gru(x)
        y, _ = self.lstm(y)
        return self.head(y.mean(dim=1))


def torch_export(module, path, steps=6):
    torch.manual_seed(0)
    module.eval()
    torch.onnx.export(
        module,
        torch.randn(2, steps, 3),
        str(path),
        dynamo=False,
        input_names=["x"],
        output_names=["y"],
        dynamic_axes={"x": {0: "batch", 1: "time"}},
    )
    return path


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("cell", ["GRU", "LSTM", "RNN"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("head", ["h_n", "seq"])
def test_foreign_recurrent_stacks(tmp_path, cell, layers, bidirectional, head):
    torch.manual_seed(1)
    path = torch_export(Stack(cell, layers, bidirectional, head), tmp_path / "f.onnx")
    imported = import_model(path)
    rec = imported.project.blocks[1]
    assert rec.type == {"RNN": "SimpleRNN"}.get(cell, cell)
    assert rec.resolved()["num_layers"] == layers and rec.resolved()["bidirectional"] == bidirectional
    assert rec.resolved()["return_sequences"] == (head == "seq")
    run = write_import(imported, tmp_path / "f.rnn.json", tmp_path / "runs")
    compare_run_with_file(run, path, 3)


@pytest.mark.filterwarnings("ignore")
def test_foreign_last_step_of_one_way_layer_is_its_state(tmp_path):
    path = torch_export(Stack("GRU", 2, False, "last"), tmp_path / "f.onnx")
    imported = import_model(path)
    assert not imported.project.blocks[1].resolved()["return_sequences"]
    compare_run_with_file(write_import(imported, tmp_path / "f.rnn.json", tmp_path / "runs"), path, 3)


@pytest.mark.filterwarnings("ignore")
def test_foreign_mixed_modules_and_heads(tmp_path):
    path = torch_export(Mixed(), tmp_path / "mixed.onnx")
    imported = import_model(path)
    types = [b.type for b in imported.project.blocks]
    assert types == ["Input", "GRU", "LSTM", "GlobalAveragePooling1D", "Dense", "Dense"]
    assert [b.params.get("activation") for b in imported.project.blocks[-2:]] == ["relu", "softmax"]
    compare_run_with_file(write_import(imported, tmp_path / "m.rnn.json", tmp_path / "runs"), path, 3)


@pytest.mark.filterwarnings("ignore")
def test_foreign_import_cli_then_export_run_again(tmp_path, capsys):
    path = torch_export(Stack("LSTM", 2, True, "h_n"), tmp_path / "f.onnx")
    assert main(["import", str(path), "-o", str(tmp_path / "f.rnn.json"), "--out", str(tmp_path / "runs")]) == 0
    run = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(["export", str(run), "-o", str(tmp_path / "again.onnx")]) == 0
    x = np.random.default_rng(0).standard_normal((5, 9, 3)).astype(np.float32)
    np.testing.assert_allclose(_ort(tmp_path / "again.onnx")(x), _ort(path)(x), atol=ATOL, rtol=0)
    assert main(["check", str(tmp_path / "f.rnn.json")]) == 0


# ----------------------------------------------------------------------------- refusals
def _cli_refusal(tmp_path, path, capsys):
    code = main(["import", str(path), "-o", str(tmp_path / "bad.rnn.json"), "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "bad.rnn.json").exists() and not (tmp_path / "runs").exists()
    return err


@pytest.mark.filterwarnings("ignore")
def test_bidirectional_last_time_step_refused_with_the_reason(tmp_path, capsys):
    path = torch_export(Stack("GRU", 1, True, "last"), tmp_path / "f.onnx")
    err = _cli_refusal(tmp_path, path, capsys)
    assert "(Gather)" in err and "out[:, -1] of a bidirectional layer" in err and "h_n" in err


class ConvFront(nn.Module):
    """A grouped convolution: Conv1D blocks convolve all features together, so this Conv has no block."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 6, 3, groups=3)
        self.gru = nn.GRU(6, 5, batch_first=True)

    def forward(self, x):
        y = self.conv(x.transpose(1, 2)).transpose(1, 2)
        return self.gru(y)[1][-1]


@pytest.mark.filterwarnings("ignore")
def test_unsupported_op_refused_by_name_and_type(tmp_path, capsys):
    path = torch_export(ConvFront(), tmp_path / "conv.onnx")
    err = _cli_refusal(tmp_path, path, capsys)
    assert "(Conv)" in err
    assert "supported ONNX ops on the data path: GRU, LSTM, RNN" in err


@pytest.mark.filterwarnings("ignore")
def test_gru_linear_before_reset_0_refused(tmp_path, capsys):
    path = torch_export(Stack("GRU", 1, False, "h_n"), tmp_path / "f.onnx")
    model = onnx.load(str(path))
    gru = next(n for n in model.graph.node if n.op_type == "GRU")
    next(a for a in gru.attribute if a.name == "linear_before_reset").i = 0
    onnx.save(model, str(path))
    err = _cli_refusal(tmp_path, path, capsys)
    assert "(GRU)" in err and "linear_before_reset=0" in err


def test_not_an_onnx_file(tmp_path):
    (tmp_path / "x.onnx").write_bytes(b"garbage")
    with pytest.raises(ImportRefused, match="not a readable ONNX file"):
        import_model(tmp_path / "x.onnx")


def test_own_export_metadata_is_what_we_read(tmp_path):
    """Round trip relies on the design RNN Studio embeds in every export (docs/export.md)."""
    project = engine.Project.from_dict(RICH_DESIGN)
    export_onnx(engine.build_model(project).eval(), project, tmp_path / "m.onnx")
    md = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert json.loads(md["design"])["blocks"] == RICH_DESIGN["blocks"]


class TimeMajor(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(3, 4)

    def forward(self, x):
        return self.gru(x)[1][-1]


@pytest.mark.filterwarnings("ignore")
def test_time_major_module_refused_with_the_fix(tmp_path, capsys):
    path = torch_export(TimeMajor(), tmp_path / "tm.onnx")
    err = _cli_refusal(tmp_path, path, capsys)
    assert "(GRU)" in err and "batch_first=True" in err


@pytest.mark.filterwarnings("ignore")
def test_unwritable_design_folder_is_one_line(tmp_path, capsys):
    path = torch_export(Stack("GRU", 1, False, "h_n"), tmp_path / "f.onnx")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = main(["import", str(path), "-o", str(blocker / "sub" / "f.rnn.json"), "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("error:") and "cannot write there" in err[-1]
