"""RNN Studio: design recurrent neural networks, check shapes live, train, export verified ONNX.

Installed, everything lives under this one namespace: `rnn_studio.engine` (designs, shapes, compiler,
data, training; no Qt), `rnn_studio.exports` (ONNX, PyTorch source), `rnn_studio.gui` (the designer),
`rnn_studio.cli` (the `rnn-studio` command) and `rnn_studio.assets` (examples, icons).

In the source repository those subpackages are the top-level folders `engine/`, `exports/`, `gui/`
and `assets/` (pyproject.toml maps them with `package-dir`); when this package is imported from a
checkout, its search path is extended to the checkout's root so the same names resolve there.
"""

from __future__ import annotations

from pathlib import Path

__version__ = "0.2.0"

_HERE = Path(__file__).resolve().parent
if not (_HERE / "engine").is_dir() and (_HERE.parent / "engine" / "__init__.py").is_file():
    # Running from a source checkout (or an editable install of one): rnn_studio.engine -> <root>/engine.
    __path__.append(str(_HERE.parent))  # noqa: F821


def asset_path(*parts: str) -> Path:
    """A file or folder under the assets (examples, icons): package data when installed from a wheel,
    `<checkout>/assets` when running from the source tree."""
    for base in (_HERE / "assets", _HERE.parent / "assets"):
        if base.is_dir():
            return base.joinpath(*parts)
    raise FileNotFoundError(f"RNN Studio's assets are missing (looked in {_HERE / 'assets'}); reinstall the package")
