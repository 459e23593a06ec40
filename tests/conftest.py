"""Shared test setup. Qt must be headless before any Qt module loads."""

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("RNN_STUDIO_NO_RECOVERY_PROMPT", "1")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402

EXAMPLES = ROOT / "assets" / "examples"


@pytest.fixture
def examples_dir() -> Path:
    return EXAMPLES


@pytest.fixture
def seed_keras_path() -> Path:
    return EXAMPLES / "seed-keras.rnn.json"


def pytest_sessionfinish(session, exitstatus):
    """Tear Qt down while Python is still alive: PySide6 can otherwise crash in a C exit handler after
    the interpreter is finalized (PYSIDE-2254-like), turning a green run into exit code 139."""
    if "PySide6.QtWidgets" not in sys.modules:
        return
    from rnn_studio.gui.app import shutdown_qt

    shutdown_qt()
