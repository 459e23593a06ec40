"""Shared test setup. Qt must be headless before any Qt module loads, and a test run must never read or
write the person's own settings: HOME and the XDG folders point at a session sandbox before any Qt
module (or Keras, or a subprocess) can look at them, and Qt's standard paths run in test mode."""

import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("RNN_STUDIO_NO_RECOVERY_PROMPT", "1")


def _real_config_dir() -> Path:
    value = os.environ.get("XDG_CONFIG_HOME", "")
    return Path(value) if os.path.isabs(value) else Path.home() / ".config"


# The person's settings as they were before the run: compared again when the session ends.
REAL_SETTINGS = [
    _real_config_dir() / "RNN Studio" / "RNN Studio.ini",
    _real_config_dir() / "QtProject.conf",
]


def settings_fingerprint(paths=None) -> dict:
    """{path: sha256 of its bytes, or None when absent} for the settings files a GUI run could touch."""
    out = {}
    for path in paths or REAL_SETTINGS:
        try:
            out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            out[str(path)] = None
    return out


SETTINGS_AT_START = settings_fingerprint()
SANDBOX = Path(tempfile.mkdtemp(prefix="rnn-studio-tests-home-"))
os.environ["HOME"] = str(SANDBOX)  # QtProject.conf, ~/.keras, the default runs folder, recovery files
for _var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
    os.environ[_var] = str(SANDBOX / _var.lower())
os.environ.pop("RNN_STUDIO_RUNS", None)

try:  # before any QApplication: QSettings and QStandardPaths resolve to ~/.qttest inside the sandbox
    from PySide6.QtCore import QStandardPaths

    QStandardPaths.setTestModeEnabled(True)
except ImportError:  # an engine-only environment
    pass

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402

EXAMPLES = ROOT / "assets" / "examples"


@pytest.fixture(autouse=True)
def _no_waiting_save_question(monkeypatch):
    """A designer window whose design was changed asks "Save changes?" when it closes (a Train panel
    setting counts as a change). In a test that modal question would wait forever: it is answered
    Discard unless the test patches `ask_save_changes` itself to look at it."""
    module = sys.modules.get("rnn_studio.gui.main_window")
    if module is not None:
        from PySide6.QtWidgets import QMessageBox

        monkeypatch.setattr(module.MainWindow, "ask_save_changes", lambda self: QMessageBox.StandardButton.Discard)


@pytest.fixture
def examples_dir() -> Path:
    return EXAMPLES


@pytest.fixture
def seed_keras_path() -> Path:
    return EXAMPLES / "seed-keras.rnn.json"


def pytest_sessionfinish(session, exitstatus):
    """Fail the run when the person's own settings files changed; then tear Qt down."""
    changed = [p for p, digest in settings_fingerprint().items() if digest != SETTINGS_AT_START[p]]
    if changed:
        sys.stderr.write(f"\nthe test run changed the user's own settings: {', '.join(changed)}\n")
        session.exitstatus = 1
    _shutdown_qt()
    shutil.rmtree(SANDBOX, ignore_errors=True)


def _shutdown_qt():
    """Tear Qt down while Python is still alive: PySide6 can otherwise crash in a C exit handler after
    the interpreter is finalized (PYSIDE-2254-like), turning a green run into exit code 139."""
    if "PySide6.QtWidgets" not in sys.modules:
        return
    module = sys.modules.get("rnn_studio.gui.main_window")
    for window in list(module.MainWindow.windows) if module is not None else []:
        window.restored = False  # closing below must not ask "Save changes?" (nobody would answer)
        window.undo.setClean()
    from rnn_studio.gui.app import shutdown_qt

    shutdown_qt()
