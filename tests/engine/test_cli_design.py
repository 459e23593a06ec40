"""`rnn-studio check` and `summary`: what a user sees, exit codes, never a traceback."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rnn_studio.cli import main

ROOT = Path(__file__).parents[2]


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_check_valid_prints_shapes(capsys, seed_keras_path):
    code, out, err = run(capsys, "check", str(seed_keras_path))
    assert code == 0 and err == ""
    assert "g  GRU" in out and "(None, 10, 128)" in out and "(None, 128)" in out
    assert "seed-keras: valid, 125,185 parameters" in out


def test_check_warnings_exit_zero(capsys, examples_dir):
    code, out, _ = run(capsys, "check", str(examples_dir / "seed-pytorch.rnn.json"))
    assert code == 0 and "warning: GRU 'gru' makes a recurrent stack 6 layers deep" in out


def test_check_invalid_one_line_per_problem(capsys, tmp_path):
    data = json.loads((ROOT / "assets/examples/seed-keras.rnn.json").read_text())
    data["blocks"][1]["params"]["return_sequences"] = False
    data["blocks"][3]["params"]["units"] = 0
    path = tmp_path / "bad.rnn.json"
    path.write_text(json.dumps(data))
    code, out, err = run(capsys, "check", str(path))
    assert code == 2
    lines = err.strip().splitlines()
    assert lines[0] == (
        "error: LSTM 'l' needs a sequence (batch, time, features) but 'g' gives (None, 128): "
        "set return_sequences=true on 'g'"
    )
    assert lines[1] == "error: Dense 'y': units must be >= 1, received 0"
    assert lines[-1] == "seed-keras: 2 error(s)"


def test_check_json(capsys, seed_keras_path):
    code, out, _ = run(capsys, "check", "--json", str(seed_keras_path))
    data = json.loads(out)
    assert code == 0 and data["valid"] and data["shapes"]["l"] == [None, 128] and data["parameters"] == 125185


@pytest.mark.parametrize(
    "content",
    [
        "{oops",
        '{"format": "rnn-studio", "version": 9, "blocks": []}',
        '{"format": "rnn-studio", "version": 1, "blocks": "GRU"}',
    ],
)
def test_malformed_files_exit_2_without_traceback(capsys, tmp_path, content):
    path = tmp_path / "m.rnn.json"
    path.write_text(content)
    for verb in ("check", "summary"):
        code, out, err = run(capsys, verb, str(path))
        assert code == 2 and err.startswith(f"error: {path}: ") and err.count("\n") == 1
        assert "Traceback" not in err + out


def test_missing_file(capsys, tmp_path):
    code, _, err = run(capsys, "check", str(tmp_path / "none.rnn.json"))
    assert code == 2 and "no such file" in err


def test_summary_table(capsys, examples_dir):
    code, out, _ = run(capsys, "summary", str(examples_dir / "seed-pytorch.rnn.json"))
    assert code == 0
    assert 'Model: "seed-pytorch"' in out and "Total params: 481,409" in out
    row = next(line for line in out.splitlines() if line.startswith("lstm2 "))
    assert "LSTM(64, bi/concat, x2, seq)" in row and "(None, 10, 128)" in row and "lstm1" in row


@pytest.mark.slow
def test_installed_console_script_and_no_qt_in_core(tmp_path):
    """The real entry point, in a fresh process; engine + compile load no Qt at all."""
    exe = Path(sys.executable).with_name("rnn-studio")
    if exe.exists():
        r = subprocess.run(
            [str(exe), "check", str(ROOT / "assets/examples/seed-keras.rnn.json")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0 and "valid" in r.stdout
    code = (
        "import sys, torch; from rnn_studio import engine\n"
        "p = engine.load_project(sys.argv[1]); engine.build_model(p)\n"
        "import importlib.util\n"
        "from rnn_studio import exports\n"
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph', 'shiboken'))]\n"
        "print('QT:', bad)"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "assets/examples/seed-keras.rnn.json")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    assert "QT: []" in r.stdout
