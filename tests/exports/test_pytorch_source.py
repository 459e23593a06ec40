"""--format pytorch: a standalone, readable module + weights that reproduce the design exactly."""

import ast
import importlib.util
import subprocess
import sys

import pytest
import torch

from rnn_studio import engine
from rnn_studio.cli import main
from rnn_studio.engine.design.compile import token_vocabulary
from rnn_studio.exports.verify import padding_value, sample_input

from .conftest import EXAMPLE_FILES, files_in

ALLOWED_IMPORTS = {"torch", "torch.nn", "torch.nn.functional", "math", "pathlib"}


def _import_fresh(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # a fresh namespace, never registered in sys.modules
    return mod


@pytest.mark.parametrize("design", EXAMPLE_FILES, ids=lambda p: p.name.split(".")[0])
def test_round_trip(design, tmp_path):
    out = tmp_path / "model.py"
    assert main(["export", str(design), "-o", str(out), "--seed", "5"]) == 0
    assert (tmp_path / "model.pt").is_file()
    source = out.read_text()
    tree = ast.parse(source)
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= ALLOWED_IMPORTS, imported

    mod = _import_fresh(out, f"generated_{design.name.split('.')[0].replace('-', '_')}")
    gen = mod.load()
    project = engine.load_project(design)
    torch.manual_seed(5)
    model = engine.build_model(project).eval()
    assert set(gen.state_dict()) == set(torch.load(tmp_path / "model.pt", weights_only=True))
    res = engine.check(project)
    t = res.input_shape()[1]
    tokens, padding = token_vocabulary(project, res), padding_value(project)  # token ids padded with 0
    for batch, length in [(1, t or 1), (7, t or 13)]:
        x = sample_input(batch, length, res.input_shape()[2], batch, tokens=tokens, padding=padding)
        with torch.no_grad():
            assert torch.equal(gen(x), model(x))


def test_readable_names_and_shape_comments(tmp_path):
    design = next(p for p in EXAMPLE_FILES if p.name == "seed-keras.rnn.json")
    out = tmp_path / "seed_keras.py"
    assert main(["export", str(design), "-o", str(out)]) == 0
    src = out.read_text()
    assert "class SeedKeras(nn.Module):" in src
    assert "self.g = Recurrent('GRU', 1, 64, bidirectional=True, return_sequences=True)" in src
    assert "self.y = nn.Linear(128, 1)" in src
    assert "g = self.g(x)  # (B, 10, 128)" in src and "y = self.y(l)  # (B, 1)" in src
    assert "from seed_keras import load" in src
    assert "rnn_studio" not in src and "engine" not in src.replace("engine/design/layers.py", "")


@pytest.mark.slow
@pytest.mark.parametrize("name, shape", [("classify-activity", "(2, 4)"), ("text-classify", "(2, 2)")])
def test_runs_as_a_script_without_the_app(tmp_path, name, shape):
    """The generated file runs in a bare interpreter whose path cannot see this repository (text-classify:
    token ids, and a masked bidirectional LSTM)."""
    design = next(p for p in EXAMPLE_FILES if p.name.startswith(name + "."))
    out = tmp_path / "act.py"
    assert main(["export", str(design), "-o", str(out)]) == 0
    r = subprocess.run([sys.executable, "-I", str(out)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"-> output {shape}" in r.stdout


def test_pytorch_errors_leave_nothing(tmp_path, capsys):
    design = EXAMPLE_FILES[0]
    before = files_in(tmp_path)
    assert main(["export", str(design), "-o", str(tmp_path / "m.txt"), "--format", "pytorch"]) == 2
    assert main(["export", str(design), "-o", str(tmp_path / "m.py"), "--opset", "13"]) == 2
    assert main(["export", str(design), "-o", str(tmp_path / "x" / "m.py")]) == 2
    assert files_in(tmp_path) == before
    assert capsys.readouterr().err.count("error: ") == 3


def test_run_folder_source_carries_metadata(regression_run, tmp_path):
    out = tmp_path / "demand.py"
    assert main(["export", str(regression_run), "-o", str(out)]) == 0
    mod = _import_fresh(out, "generated_demand")
    assert mod.FEATURES == ["load", "temp", "hour"] and mod.NORMALIZATION["y_std"] == 20.0
    _, model, _ = engine.training.runs.load_run(regression_run)
    x = torch.randn(2, 11, 3)
    with torch.no_grad():
        assert torch.equal(mod.load()(x), model(x))


def test_both_exporters_return_one_typed_result(tmp_path):
    """One record for both formats, read by attribute only (a misspelled key cannot fall back silently)."""
    from rnn_studio.exports import ExportResult, export_onnx, export_pytorch

    project = engine.load_project(EXAMPLE_FILES[0])
    model = engine.build_model(project).eval()
    onnx_result = export_onnx(model, project, tmp_path / "m.onnx")
    source_result = export_pytorch(model, project, tmp_path / "m.py")
    for result in (onnx_result, source_result):
        assert type(result) is ExportResult and result.verified and result.passed
        assert result.max_abs_diff <= result.tolerance and result.cases
        with pytest.raises(TypeError):
            result["tolerance"]  # noqa: B018 - the point: no dict-style access
    assert (onnx_result.format, source_result.format) == ("onnx", "pytorch")
    assert source_result.tolerance == 1e-6 and source_result.weights_path == str(tmp_path / "m.pt")
    assert source_result.class_name and source_result.opset is None
