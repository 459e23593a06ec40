"""How RNN Studio was installed, and so how to add an optional package to *this* installation.

`pip install 'rnn-studio[tracking]'` cannot work for most people (the package is not on an index), and
a bare `pip install tensorboard` names whichever pip is first on PATH, not the environment running
RNN Studio. Three kinds are told apart:

- checkout: the code runs from a clone with its Makefile (`make run`): `make -C REPO tracking`;
- pipx: the interpreter lives in a pipx venv (its prefix has a `pipx` folder): `pipx inject rnn-studio PKG`;
- any other environment (a venv, conda, the system): `<this python> -m pip install PKG`.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

EXTRA_TARGETS = {"tracking": "tracking"}  # the Makefile target that installs an extra into the checkout's .venv


def checkout_root() -> Path | None:
    """The repository folder when running from a checkout (engine/ beside a Makefile and pyproject.toml)."""
    root = Path(__file__).resolve().parent.parent
    if (root / "Makefile").is_file() and (root / "pyproject.toml").is_file() and (root / "engine").is_dir():
        return root
    return None


def install_kind(prefix: str | None = None) -> str:
    """'checkout' | 'pipx' | 'environment'."""
    if checkout_root() is not None:
        return "checkout"
    parts = Path(prefix or sys.prefix).parts
    return "pipx" if any(p in ("pipx", ".pipx") for p in parts) else "environment"


def install_command(packages: list[str], extra: str | None = None, kind: str | None = None) -> str:
    """The one command that adds `packages` (the `extra` of rnn-studio) to the running installation."""
    kind = kind or install_kind()
    root = checkout_root()
    if kind == "checkout" and root is not None and extra in EXTRA_TARGETS:
        return f"make -C {shlex.quote(str(root))} {EXTRA_TARGETS[extra]}"
    if kind == "pipx":
        return "pipx inject rnn-studio " + " ".join(packages)
    return f"{shlex.quote(sys.executable)} -m pip install " + " ".join(packages)
