"""A test run never reads or writes the person's own settings (issue 23, item 1).

The session itself fails when the real settings files change (tests/conftest.py compares them at the
end); this test proves the isolation in a child pytest whose HOME is a fake one: a GUI flow that records
a recent file, a theme and a file dialog's folder must leave that HOME's config folder untouched."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REAL_SETTINGS, SANDBOX, SETTINGS_AT_START, settings_fingerprint

ROOT = Path(__file__).resolve().parents[2]


def test_session_points_settings_at_a_sandbox(tmp_path_factory):
    assert Path(os.environ["HOME"]) == SANDBOX
    assert Path(os.environ["XDG_CONFIG_HOME"]).is_relative_to(SANDBOX)
    from PySide6.QtCore import QStandardPaths

    assert QStandardPaths.isTestModeEnabled()
    from rnn_studio.gui.main_window import settings

    # the sandbox, or a test's own folder (GUI tests that look at their settings file point QSettings there)
    where = Path(settings().fileName())
    assert where.is_relative_to(SANDBOX) or where.is_relative_to(tmp_path_factory.getbasetemp()), where


@pytest.mark.slow
def test_gui_flow_leaves_the_real_home_alone(tmp_path):
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env.update(HOME=str(home), PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen")
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/gui/settings_probe.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    written = sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())
    assert written == [], f"the test run wrote into the user's HOME: {written}"


def test_real_settings_unchanged_so_far():
    assert settings_fingerprint(REAL_SETTINGS) == SETTINGS_AT_START
