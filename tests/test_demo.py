"""`rnn-studio demo` (what `make run` does without a display): check, train, export, all for real."""

import pytest

from rnn_studio.cli import main

pytestmark = pytest.mark.slow  # measured: see the Makefile's test-quick


def test_demo_trains_beats_persistence_and_exports_verified_onnx(capsys, tmp_path):
    code = main(["demo", "--epochs", "2", "--out", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "valid, 125,185 parameters" in out
    assert "beats the persistence baseline" in out
    assert "-> PASS" in out
    assert "README" not in out and "rnn-studio --help" in out  # an installed user has no README.md
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1
    for name in ("metrics.jsonl", "summary.json", "checkpoints/best.pt", "model.onnx", "model.onnx.verify.json"):
        assert (runs[0] / name).is_file(), name
