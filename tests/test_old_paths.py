"""0.2's module paths keep working after the engine was grouped (issue 21): each old name is the moved module
itself, so scripts, pickles and monkeypatches written against `rnn_studio.engine.train` & co. still work."""

import importlib
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from rnn_studio import engine
from rnn_studio.engine.compat import MOVED

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_path_is_the_moved_module(old):
    moved = importlib.import_module(f"rnn_studio.engine.{MOVED[old]}")
    assert importlib.import_module(f"rnn_studio.engine.{old}") is moved
    assert getattr(engine, old) is moved
    assert moved.__name__ == f"rnn_studio.engine.{MOVED[old]}"  # the module keeps its own name and spec
    assert moved.__spec__.name == moved.__name__


def test_documented_imports_still_work():
    from rnn_studio.engine.data import DataSpec, load_dataset, plan_data  # noqa: F401
    from rnn_studio.engine.runs import RunMeta, load_run  # noqa: F401
    from rnn_studio.engine.train import start_training_process, train
    from rnn_studio.engine.training.train import train as moved_train

    assert train is moved_train
    assert pickle.loads(pickle.dumps(start_training_process)) is start_training_process


def test_old_paths_import_lazily():
    """Importing the engine imports no moved module it does not need (no torch, no training)."""
    code = (
        "import sys, rnn_studio.engine\n"
        "heavy = ('torch', 'rnn_studio.engine.training.train', 'rnn_studio.engine.train')\n"
        "bad = [m for m in heavy if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
