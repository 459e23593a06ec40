"""Atomic file writes for exports: a temp file in the target's folder, fsync, then os.replace.

A failed export (unwritable folder, exporter error, failed verification) never leaves a partial or
misleading file at the requested path.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path

from rnn_studio.engine.design.project import plain_file_mode

from .errors import ExportError


def check_writable(path: Path) -> None:
    """Fail early, with one line, when `path` cannot be written (before any slow work)."""
    if path.exists() and path.is_dir():
        raise ExportError(f"{path}: is a folder; give a file name such as {path / 'model.onnx'}")
    refuse_special(path)
    parent = path.parent
    if not parent.exists():
        raise ExportError(f"{path}: folder {parent} does not exist; create it first")
    if not parent.is_dir():
        raise ExportError(f"{path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError(f"{path}: cannot write into {parent} (permission denied)")
    if path.exists() and not os.access(path, os.W_OK):
        raise ExportError(f"{path}: the existing file is read-only")


def refuse_special(path: Path) -> None:
    """An existing output that is not a regular file (a device such as /dev/full or /dev/null, a FIFO, a
    socket) is refused: the atomic rename would replace the device itself with a regular file."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as e:
        raise ExportError(f"{path}: cannot write ({e.strerror or e})") from None
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        kind = (
            "a FIFO (named pipe)"
            if stat.S_ISFIFO(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "not a regular file"
        )
        raise ExportError(
            f"{path}: is {kind}; exports are written to regular files only: give a file name such as model.onnx"
        )


def temp_path(path: Path) -> Path:
    """A fresh temp file beside `path` (same folder, so os.replace is an atomic rename)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise ExportError(f"{path}: cannot write ({e.strerror or e})") from None
    os.close(fd)
    return Path(tmp)


def write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def publish(tmp: Path, path: Path) -> None:
    """Move a complete temp file into place (atomic on one filesystem); never over a device or FIFO."""
    try:
        refuse_special(path)
    except ExportError:
        remove_quietly(tmp)
        raise
    try:
        os.chmod(tmp, plain_file_mode())  # mkstemp's 0600 would make every export private
        os.replace(tmp, path)
    except OSError as e:
        remove_quietly(tmp)
        raise ExportError(f"{path}: cannot write ({e.strerror or e})") from None


def remove_quietly(path: Path | None) -> None:
    if path is None:
        return
    with contextlib.suppress(OSError):
        os.unlink(path)


def os_error_line(path: Path, e: OSError) -> str:
    if e.errno == errno.ENOSPC:
        return f"{path}: no space left on the device"
    return f"{path}: cannot write ({e.strerror or e})"


@contextlib.contextmanager
def quiet_stdout():
    """Silence fd 1 (the TorchScript exporter dumps its IR graph there from C++ when it fails).

    Only used around the exporter call; what was printed is dropped.
    """
    import sys

    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):  # no real fd 1 (embedded, some GUIs)
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            try:
                yield
            finally:
                os.dup2(saved, 1)
    finally:
        os.close(saved)
