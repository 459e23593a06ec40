"""The installed layout: one `rnn_studio` namespace mapped from the repository's top-level folders."""

import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
FOLDERS = {
    "rnn_studio": "rnn_studio",
    "engine": "rnn_studio.engine",
    "exports": "rnn_studio.exports",
    "gui": "rnn_studio.gui",
}


def test_every_package_folder_is_in_the_wheel():
    """A new subpackage (say engine/importers/) not listed in pyproject would silently miss the wheel."""
    listed = set(CONFIG["packages"])
    for folder, name in FOLDERS.items():
        assert CONFIG["package-dir"][name] == folder
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            pkg = ".".join((name, *rel))
            assert pkg in listed, f"{init.parent} holds a package that pyproject.toml does not list: add {pkg!r}"


def test_version_is_one_fact():
    from rnn_studio import __version__
    from rnn_studio.engine import __version__ as engine_version

    assert engine_version == __version__
    r = subprocess.run(
        [sys.executable, "-m", "rnn_studio", "--version"], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert r.returncode == 0 and r.stdout.strip() == f"rnn-studio {__version__}"


def test_assets_resolve_from_the_checkout():
    from rnn_studio import asset_path

    assert asset_path("examples", "seed-keras.rnn.json").is_file()
    assert asset_path("icons", "app.svg").is_file()
