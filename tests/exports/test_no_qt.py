"""exports never imports Qt (checked in a fresh interpreter: other tests may have loaded Qt)."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # measured: see the Makefile's test-quick

ROOT = Path(__file__).resolve().parents[2]


def test_exports_import_no_qt(tmp_path):
    code = (
        "import sys, torch\nfrom rnn_studio import engine, exports\n"
        "p = engine.load_project('assets/examples/seq2seq-demand.rnn.json')\n"
        f"exports.export_onnx(engine.build_model(p), p, {str(tmp_path / 'm.onnx')!r})\n"
        "import rnn_studio.commands.export\n"
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'PyQt', 'shiboken'))]\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
