"""Crash recovery: autosave unsaved work to a recovery file a few seconds after each change, delete it on
save or clean close, and after a crash offer to restore what the dead process left behind.

Recovery files live in $RNN_STUDIO_RECOVERY_DIR or <app data>/recovery, one per window:
recovery-<pid>-<n>.json = {"format": "rnn-studio-recovery", "pid", "saved_at", "path", "project"}.
A file whose pid is no longer running is an orphan: that window died with unsaved changes.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QStandardPaths, QTimer

from rnn_studio.engine import Project, ProjectFormatError, atomic_write_text

FORMAT = "rnn-studio-recovery"
DEFAULT_INTERVAL_MS = 3000
_serial = itertools.count(1)


def recovery_dir() -> Path:
    env = os.environ.get("RNN_STUDIO_RECOVERY_DIR")
    if env:
        d = Path(env)
    else:
        base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation) or str(
            Path.home() / ".rnn-studio"
        )
        d = Path(base) / "recovery"
    d.mkdir(parents=True, exist_ok=True)
    return d


def prompt_disabled() -> bool:
    return os.environ.get("RNN_STUDIO_NO_RECOVERY_PROMPT", "") not in ("", "0")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


@dataclass
class RecoveryFile:
    file: Path
    project: Project
    original_path: str | None
    saved_at: float

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.saved_at))
        where = self.original_path or "an unsaved design"
        return f"'{self.project.name}' ({where}), autosaved {when}"


def read_recovery(file: Path) -> RecoveryFile:
    data = json.loads(Path(file).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ProjectFormatError(f"{file}: not a recovery file")
    project = Project.from_dict(data["project"], source=str(file))
    return RecoveryFile(Path(file), project, data.get("path"), float(data.get("saved_at", 0)))


def find_orphans(directory: Path | None = None) -> list[RecoveryFile]:
    """Recovery files left by processes that are no longer running, newest first."""
    directory = Path(directory) if directory else recovery_dir()
    out = []
    for f in sorted(directory.glob("recovery-*.json")):
        try:
            pid = int(f.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if _alive(pid):
            continue
        try:
            out.append(read_recovery(f))
        except (OSError, ValueError, KeyError, ProjectFormatError):
            continue  # unreadable leftovers are ignored, never fatal
    return sorted(out, key=lambda r: -r.saved_at)


class Autosaver(QObject):
    """Writes `snapshot()` to this window's recovery file `interval_ms` after the first unsaved change."""

    def __init__(self, snapshot, directory: Path | None = None, interval_ms: int = DEFAULT_INTERVAL_MS, parent=None):
        super().__init__(parent)
        self.snapshot = snapshot  # () -> (Project, original path or None)
        self.directory = Path(directory) if directory else recovery_dir()
        self.file = self.directory / f"recovery-{os.getpid()}-{next(_serial)}.json"
        self.timer = QTimer(self, singleShot=True, interval=interval_ms, timeout=self.write_now)
        self.writes = 0

    def mark_dirty(self) -> None:
        if not self.timer.isActive():
            self.timer.start()

    def write_now(self) -> Path:
        self.timer.stop()
        project, path = self.snapshot()
        data = {
            "format": FORMAT,
            "version": 1,
            "pid": os.getpid(),
            "saved_at": time.time(),
            "path": path,
            "project": project.to_dict(),
        }
        atomic_write_text(self.file, json.dumps(data, indent=1, ensure_ascii=False))
        self.writes += 1
        return self.file

    def discard(self) -> None:
        self.timer.stop()
        try:
            self.file.unlink()
        except FileNotFoundError:
            pass
        except OSError:
            pass
