"""`rnn-studio desktop-entry`: launcher, icon and *.rnn.json MIME type installed under $XDG_DATA_HOME,
valid per desktop-file-validate, removed by --uninstall; the launcher's command opens a design."""

import configparser
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from rnn_studio.cli import main
from rnn_studio.desktop import APP_ICON, launcher_command

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="freedesktop.org integration: Linux")


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    home = tmp_path / "share"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home


def read_entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str
    parser.read(path, encoding="utf-8")
    return dict(parser["Desktop Entry"])


def test_installs_launcher_icon_and_mime_type(data_home, capsys):
    assert main(["desktop-entry"]) == 0
    desktop = data_home / "applications" / "rnn-studio.desktop"
    icon = data_home / "icons" / "hicolor" / "scalable" / "apps" / "rnn-studio.svg"
    mime = data_home / "mime" / "packages" / "rnn-studio.xml"
    out = capsys.readouterr().out
    assert all(f"installed {p}" in out for p in (desktop, icon, mime))
    entry = read_entry(desktop)
    command = launcher_command()
    assert Path(command[0]).is_absolute() and os.access(command[0], os.X_OK)
    assert entry["Exec"].endswith(" %f") and entry["Exec"].split(" ")[0] == command[0]
    assert entry["Icon"] == "rnn-studio" and entry["Type"] == "Application" and entry["Name"] == "RNN Studio"
    assert entry["MimeType"] == "application/x-rnn-studio-design;"
    assert icon.read_bytes() == APP_ICON.read_bytes()
    ns = {"m": "http://www.freedesktop.org/standards/shared-mime-info"}
    mime_type = ET.parse(mime).getroot().find("m:mime-type", ns)
    assert mime_type.get("type") == "application/x-rnn-studio-design"
    assert [g.get("pattern") for g in mime_type.findall("m:glob", ns)] == ["*.rnn.json"]


def test_desktop_file_validates(data_home):
    validate = shutil.which("desktop-file-validate")
    if validate is None:
        pytest.skip("desktop-file-validate not installed (apt-get install desktop-file-utils)")
    assert main(["desktop-entry"]) == 0
    res = subprocess.run(
        [validate, str(data_home / "applications" / "rnn-studio.desktop")],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0 and not res.stdout.strip(), res.stdout + res.stderr


def test_mime_database_maps_design_files_to_the_type(data_home):
    if shutil.which("update-mime-database") is None:
        pytest.skip("update-mime-database not installed (apt-get install shared-mime-info)")
    assert main(["desktop-entry"]) == 0
    globs = (data_home / "mime" / "globs2").read_text()
    assert "application/x-rnn-studio-design:*.rnn.json" in globs


def test_uninstall_removes_what_was_installed(data_home, capsys):
    assert main(["desktop-entry"]) == 0
    assert main(["desktop-entry", "--uninstall"]) == 0
    assert not list(data_home.rglob("rnn-studio*"))
    assert main(["desktop-entry", "--uninstall"]) == 0
    assert "nothing to remove" in capsys.readouterr().out


def test_exec_line_quotes_a_path_with_spaces():
    from rnn_studio.desktop import desktop_entry_text

    text = desktop_entry_text(["/opt/my apps/bin/rnn-studio"])
    assert 'Exec="/opt/my apps/bin/rnn-studio" %f' in text


@pytest.mark.slow
def test_launcher_command_opens_a_design(tmp_path):
    """What a file manager runs: `<Exec> /path/to/design.rnn.json` opens the designer on that file."""
    design = tmp_path / "my design.rnn.json"
    shutil.copy(ROOT / "assets" / "examples" / "seed-keras.rnn.json", design)
    shot = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    # the installed script may run another checkout's code: run this one's entry point the same way
    # --select fails (exit 2) unless the design's block 'l' was loaded into the window
    res = subprocess.run(
        [sys.executable, "-m", "rnn_studio", str(design), "--screenshot", str(shot), "--select", "l"],
        cwd=tmp_path,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert shot.is_file() and shot.stat().st_size > 10_000


@pytest.mark.slow
def test_window_and_task_bar_use_the_app_icon_and_desktop_file(qtbot):
    """The task bar matches windows to the installed launcher by the desktop file name (Wayland app id)."""
    from PySide6.QtGui import QGuiApplication

    from rnn_studio.gui.app import create_app

    app = create_app()
    assert QGuiApplication.desktopFileName() == "rnn-studio"
    assert not app.windowIcon().isNull() and app.windowIcon().availableSizes() is not None
    assert not app.windowIcon().pixmap(64, 64).toImage().isNull()
