"""`rnn-studio export`: run folders and design files, exit codes, and no partial file on failure."""

import json
import os

import numpy as np
import pytest
import torch

from rnn_studio import engine, exports
from rnn_studio.cli import main
from rnn_studio.exports import read_metadata, report_path_for
from rnn_studio.exports.verify import make_session

from .conftest import SEEDS, files_in


def run_cli(*args):
    return main(["export", *map(str, args)])


def test_design_file_exports_fresh_seeded_weights(tmp_path, capsys):
    assert run_cli(SEEDS[0], "-o", tmp_path / "a.onnx") == 0
    assert run_cli(SEEDS[0], "-o", tmp_path / "b.onnx") == 0
    out = capsys.readouterr().out
    assert "verified: max abs diff" in out and "batch  7" in out
    x = {"sequence": np.random.default_rng(0).normal(size=(3, 10, 1)).astype(np.float32)}
    a = make_session(tmp_path / "a.onnx").run(None, x)[0]
    b = make_session(tmp_path / "b.onnx").run(None, x)[0]
    assert np.array_equal(a, b)  # same seed, same weights


def test_run_folder_exports_trained_weights_and_metadata(regression_run, tmp_path):
    out = tmp_path / "demand.onnx"
    assert run_cli(regression_run, "-o", out) == 0
    md = read_metadata(out)
    assert md["project_name"] == "demand" and md["task"] == "regression"
    assert json.loads(md["features"]) == ["load", "temp", "hour"] and md["target"] == "load_next"
    assert json.loads(md["x_mean"]) == [100.0, 15.0, 11.5] and json.loads(md["y_std"]) == 20.0
    assert md["normalization"] == "external"
    project, model, _ = engine.training.runs.load_run(regression_run)
    x = torch.randn(2, 9, 3)
    with torch.no_grad():
        ref = model(x).numpy()
    assert np.abs(make_session(out).run(None, {"sequence": x.numpy()})[0] - ref).max() <= 1e-5


def test_classification_metadata_has_classes(classify_run, tmp_path):
    out = tmp_path / "act.onnx"
    assert run_cli(classify_run, "-o", out, "--checkpoint", "last") == 0
    md = read_metadata(out)
    assert json.loads(md["classes"]) == ["walk", "run", "sit", "stand"] and md["task"] == "classification"


def test_include_normalization_takes_and_returns_raw_units(regression_run, tmp_path):
    out = tmp_path / "raw.onnx"
    assert run_cli(regression_run, "-o", out, "--include-normalization") == 0
    assert read_metadata(out)["normalization"] == "in_graph"
    _, model, meta = engine.training.runs.load_run(regression_run)
    raw = torch.randn(4, 12, 3) * torch.tensor(meta.x_std) + torch.tensor(meta.x_mean)
    with torch.no_grad():
        expected = model((raw - torch.tensor(meta.x_mean)) / torch.tensor(meta.x_std)) * meta.y_std + meta.y_mean
    got = make_session(out).run(None, {"sequence": raw.numpy()})[0]
    assert np.abs(got - expected.numpy()).max() <= 1e-4


def test_include_normalization_classification_keeps_logits(classify_run, tmp_path):
    out = tmp_path / "raw.onnx"
    assert run_cli(classify_run, "-o", out, "--include-normalization", "--checkpoint", "last") == 0
    _, model, meta = engine.training.runs.load_run(classify_run, "last")
    raw = torch.randn(2, 64, 6) * torch.tensor(meta.x_std) + torch.tensor(meta.x_mean)
    with torch.no_grad():
        expected = model((raw - torch.tensor(meta.x_mean)) / torch.tensor(meta.x_std)).numpy()
    assert np.abs(make_session(out).run(None, {"sequence": raw.numpy()})[0] - expected).max() <= 1e-5


# ---------------------------------------------------------------- errors: exit 2, nothing left behind
def _assert_error(capsys, code, fragment, args, folder):
    before = files_in(folder)
    assert run_cli(*args) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and fragment in err[0], err
    assert files_in(folder) == before, "a failed export must leave no file behind"


def test_missing_checkpoint(classify_run, tmp_path, capsys):
    _assert_error(capsys, 2, "missing checkpoint", [classify_run, "-o", tmp_path / "m.onnx"], tmp_path)


def test_invalid_design(tmp_path, capsys):
    p = engine.load_project(SEEDS[0])
    p.set_param("g", "return_sequences", False)  # the LSTM then gets a vector
    bad = tmp_path / "bad.rnn.json"
    p.save(bad)
    _assert_error(capsys, 2, "invalid design: LSTM 'l' needs a sequence", [bad, "-o", tmp_path / "m.onnx"], tmp_path)


def test_malformed_file_and_missing_source(tmp_path, capsys):
    (tmp_path / "x.rnn.json").write_text("{nope")
    _assert_error(capsys, 2, "invalid JSON", [tmp_path / "x.rnn.json", "-o", tmp_path / "m.onnx"], tmp_path)
    _assert_error(
        capsys,
        2,
        "no such run folder or design file",
        [tmp_path / "gone.rnn.json", "-o", tmp_path / "m.onnx"],
        tmp_path,
    )
    (tmp_path / "notarun").mkdir()
    _assert_error(capsys, 2, "not a run folder", [tmp_path / "notarun", "-o", tmp_path / "m.onnx"], tmp_path)


def test_unwritable_paths(tmp_path, capsys):
    _assert_error(capsys, 2, "does not exist", [SEEDS[0], "-o", tmp_path / "nope" / "m.onnx"], tmp_path)
    (tmp_path / "dir.onnx").mkdir()
    _assert_error(capsys, 2, "is a folder", [SEEDS[0], "-o", tmp_path / "dir.onnx"], tmp_path)
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        try:
            _assert_error(capsys, 2, "permission denied", [SEEDS[0], "-o", ro / "m.onnx"], ro)
        finally:
            ro.chmod(0o700)


def _design_with(tmp_path, block):
    p = engine.Project("t", [engine.Block("x", "Input", {"timesteps": None, "features": 2}), block], [("x", block.id)])
    path = tmp_path / "t.rnn.json"
    p.save(path)
    return path


@pytest.mark.parametrize(
    "block, opset, fragment",
    [
        (
            engine.Block("a", "GRU", {"units": 3, "go_backwards": True, "return_sequences": True}),
            9,
            "GRU 'a' needs opset 10 or later",
        ),
        (
            engine.Block("a", "MultiHeadAttention", {"num_heads": 1, "causal": True}),
            13,
            "MultiHeadAttention 'a' needs opset 14 or later",
        ),
        (engine.Block("a", "GRU", {"units": 3}), 21, "opset 21 is not supported"),
        (engine.Block("a", "GRU", {"units": 3}), 7, "opset 7 is not supported"),
    ],
)
def test_unsupported_block_for_opset(block, opset, fragment, tmp_path, capsys):
    design = _design_with(tmp_path, block)
    _assert_error(capsys, 2, fragment, [design, "-o", tmp_path / "m.onnx", "--opset", opset], tmp_path)


def test_include_normalization_without_stats(tmp_path, capsys):
    _assert_error(
        capsys,
        2,
        "--include-normalization needs the normalization statistics",
        [SEEDS[0], "-o", tmp_path / "m.onnx", "--include-normalization"],
        tmp_path,
    )


# ---------------------------------------------------------------- verification failure: exit 3
class TraceSpecialized(torch.nn.Module):
    """Data-dependent Python control flow: tracing freezes the branch taken for the example batch (2),
    so the ONNX graph differs from eager at batch 7 -- exactly what verification is for."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        y = self.inner(x)
        return y * 2 if x.shape[0] > 3 else y


def test_verification_failure_raises_and_writes_nothing(tmp_path):
    project = engine.load_project(SEEDS[0])
    model = TraceSpecialized(engine.build_model(project))
    path = tmp_path / "m.onnx"
    with pytest.raises(exports.VerificationError) as e:
        exports.export_onnx(model, project, path)
    assert "verification failed" in str(e.value) and "was not written" in str(e.value)
    assert not path.exists()
    report = json.loads(report_path_for(path).read_text())
    assert report["passed"] is False and report["max_abs_diff"] > 1e-4
    assert files_in(tmp_path) == {"m.onnx.verify.json"}


def test_verification_failure_exit_3(tmp_path, capsys, monkeypatch):
    real = engine.build_model
    monkeypatch.setattr(engine, "build_model", lambda *a, **k: TraceSpecialized(real(*a, **k)))
    assert run_cli(SEEDS[0], "-o", tmp_path / "m.onnx") == 3
    err = capsys.readouterr().err
    assert "verification failed: onnxruntime differs from PyTorch" in err and "batch 7" in err
    assert not (tmp_path / "m.onnx").exists()


def test_existing_file_survives_failed_export(tmp_path, capsys):
    target = tmp_path / "m.onnx"
    target.write_bytes(b"old model")
    (tmp_path / "nope.rnn.json").write_text('{"format": "rnn-studio", "version": 1, "blocks": []}')
    assert run_cli(tmp_path / "nope.rnn.json", "-o", target) == 2
    assert target.read_bytes() == b"old model"


def test_export_a_run_the_trainer_wrote(tmp_path):
    """End to end with the real trainer (skipped where the training verbs are not installed)."""
    pytest.importorskip("rnn_studio.commands.training")
    assert (
        main(["train", str(SEEDS[0]), "--demo", "sine", "--epochs", "1", "--out", str(tmp_path / "runs"), "--quiet"])
        == 0
    )
    run = next((tmp_path / "runs").iterdir())
    out = tmp_path / "trained.onnx"
    assert run_cli(run, "-o", out, "--include-normalization") == 0
    md = read_metadata(out)
    assert md["normalization"] == "in_graph" and json.loads(md["features"])
    _, model, meta = engine.training.runs.load_run(run)
    raw = torch.randn(5, 10, 1) * torch.tensor(meta.x_std) + torch.tensor(meta.x_mean)
    with torch.no_grad():
        y = model((raw - torch.tensor(meta.x_mean)) / torch.tensor(meta.x_std))
        if meta.y_std is not None:
            y = y * meta.y_std + meta.y_mean
    assert np.abs(make_session(out).run(None, {"sequence": raw.numpy()})[0] - y.numpy()).max() <= 1e-5
