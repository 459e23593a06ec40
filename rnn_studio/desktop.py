"""Desktop integration on Linux (freedesktop.org): a launcher, the app icon and a MIME type for
`*.rnn.json` design files, installed for the current user under $XDG_DATA_HOME (~/.local/share):

    applications/rnn-studio.desktop                  Exec=<absolute rnn-studio> %f, opens design files
    icons/hicolor/scalable/apps/rnn-studio.svg       the app icon (assets/icons/app.svg)
    mime/packages/rnn-studio.xml                     application/x-rnn-studio-design for *.rnn.json

then refreshes the caches with update-mime-database / update-desktop-database when they exist.
No Qt here: `rnn-studio desktop-entry` works without a display.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from rnn_studio import asset_path

APP_ID = "rnn-studio"  # matches QGuiApplication.setDesktopFileName in gui/app.py
MIME_TYPE = "application/x-rnn-studio-design"
APP_ICON = asset_path("icons", "app.svg")  # package data when installed

MIME_XML = f"""<?xml version="1.0" encoding="UTF-8"?>
<mime-info xmlns="http://www.freedesktop.org/standards/shared-mime-info">
  <mime-type type="{MIME_TYPE}">
    <comment>RNN Studio design</comment>
    <sub-class-of type="application/json"/>
    <icon name="{APP_ID}"/>
    <glob pattern="*.rnn.json" weight="60"/>
  </mime-type>
</mime-info>
"""


class DesktopError(Exception):
    """Desktop integration cannot be installed here: one line for the user."""


def data_home() -> Path:
    """$XDG_DATA_HOME when set to an absolute path (the spec ignores relative ones), else ~/.local/share."""
    value = os.environ.get("XDG_DATA_HOME", "")
    return Path(value) if value and os.path.isabs(value) else Path.home() / ".local" / "share"


def installed_paths(home: Path) -> dict[str, Path]:
    return {
        "desktop": home / "applications" / f"{APP_ID}.desktop",
        "icon": home / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg",
        "mime": home / "mime" / "packages" / f"{APP_ID}.xml",
    }


def launcher_command() -> list[str]:
    """The absolute command that starts this installation: the `rnn-studio` script beside the running
    interpreter (a virtual environment's or pipx's bin/), else the one on PATH, else python -m."""
    beside = Path(sys.executable).parent / APP_ID
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside.absolute())]
    found = shutil.which(APP_ID)
    if found:
        return [str(Path(found).absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "rnn_studio"]


def _exec_arg(arg: str) -> str:
    """Quote one Exec argument per the Desktop Entry spec (then escape backslashes for the string type)."""
    if not any(c in arg for c in " \t\n\"'\\><~|&;$*?#()`"):
        return arg
    quoted = '"' + "".join("\\" + c if c in '"`$\\' else c for c in arg) + '"'
    return quoted.replace("\\", "\\\\")


def desktop_entry_text(command: list[str]) -> str:
    exec_line = " ".join(_exec_arg(a) for a in command) + " %f"
    return "\n".join(
        [
            "[Desktop Entry]",
            "Type=Application",
            "Name=RNN Studio",
            "GenericName=Neural Network Designer",
            "Comment=Design recurrent neural networks, check shapes, train with live plots, export verified ONNX",
            f"Exec={exec_line}",
            f"TryExec={command[0]}",
            f"Icon={APP_ID}",
            "Terminal=false",
            "Categories=Science;ArtificialIntelligence;",
            f"MimeType={MIME_TYPE};",
            "Keywords=RNN;LSTM;GRU;neural network;ONNX;PyTorch;",
            "StartupNotify=true",
            "",
        ]
    )


def _check_platform() -> None:
    if sys.platform in ("win32", "darwin"):
        raise DesktopError(
            "desktop-entry installs a freedesktop.org launcher for Linux desktops; on "
            f"{'Windows' if sys.platform == 'win32' else 'macOS'} start RNN Studio with `rnn-studio`"
        )


def _refresh_caches(home: Path) -> list[str]:
    """Run the cache tools that exist; returns the ones that ran."""
    ran = []
    for tool, folder in (("update-mime-database", home / "mime"), ("update-desktop-database", home / "applications")):
        exe = shutil.which(tool)
        if exe and folder.is_dir():
            subprocess.run(
                [exe, str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=False
            )
            ran.append(tool)
    return ran


def install(home: Path | None = None) -> tuple[dict[str, Path], list[str]]:
    """Install launcher, icon and MIME type for the current user; returns (paths, cache tools run)."""
    _check_platform()
    home = home or data_home()
    paths = installed_paths(home)
    if not APP_ICON.is_file():
        raise DesktopError(f"{APP_ICON}: the app icon is missing from this installation; reinstall rnn-studio")
    for p in paths.values():
        p.parent.mkdir(parents=True, exist_ok=True)
    _write(paths["desktop"], desktop_entry_text(launcher_command()))
    _write(paths["mime"], MIME_XML)
    _write(paths["icon"], APP_ICON.read_text(encoding="utf-8"))
    return paths, _refresh_caches(home)


def uninstall(home: Path | None = None) -> tuple[list[Path], list[str]]:
    """Remove what `install` wrote; returns (paths removed, cache tools run)."""
    _check_platform()
    home = home or data_home()
    removed = []
    for p in installed_paths(home).values():
        if p.is_file():
            p.unlink()
            removed.append(p)
    return removed, _refresh_caches(home)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
