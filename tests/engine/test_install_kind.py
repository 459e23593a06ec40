"""The install hint names a command that works for the way RNN Studio was installed (issue 23, item 7):
`pip install 'rnn-studio[tracking]'` cannot work (the package is on no index), and a bare `pip` may belong
to another environment than the one running RNN Studio."""

import shlex
import subprocess
import sys
from pathlib import Path

from rnn_studio.engine import install_kind as ik

ROOT = Path(__file__).resolve().parents[2]


def test_a_checkout_is_told_to_use_its_makefile():
    assert ik.checkout_root() == ROOT and ik.install_kind() == "checkout"
    cmd = ik.install_command(["tensorboard"], extra="tracking")
    assert cmd == f"make -C {shlex.quote(str(ROOT))} tracking"
    # ... and that target exists and installs the extra into the checkout's .venv
    dry = subprocess.run(["make", "-n", "-C", str(ROOT), "tracking"], capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0 and ".[tracking]" in dry.stdout


def test_pipx_and_other_environments(monkeypatch):
    monkeypatch.setattr(ik, "checkout_root", lambda: None)
    assert ik.install_kind("/home/ann/.local/share/pipx/venvs/rnn-studio") == "pipx"
    assert ik.install_kind("/home/ann/.local/pipx/venvs/rnn-studio") == "pipx"
    assert ik.install_kind("/home/ann/venvs/ml") == "environment"
    pipx = ik.install_command(["tensorboard", "mlflow"], extra="tracking", kind="pipx")
    assert pipx == "pipx inject rnn-studio tensorboard mlflow"
    venv = ik.install_command(["mlflow"], extra="tracking", kind="environment")
    assert venv == f"{shlex.quote(sys.executable)} -m pip install mlflow"  # this interpreter's pip
