"""The run folder: a contract shared by the trainer (writer), the CLI, exports and the GUI (readers).

    runs/<YYYYmmdd-HHMMSS>-<name>/
        project.rnn.json          snapshot of the design + training settings used
        metrics.jsonl             one JSON object per line, flushed as written (tail it live)
        checkpoints/last.pt       latest complete state (atomic writes)
        checkpoints/best.pt       best validation loss so far
        summary.json              written at the end (atomic)
        STOP                      created by anyone (GUI, script) to ask the trainer to stop cleanly

docs/run-folder.md documents every file and the metrics.jsonl record schema.

A checkpoint is a dict saved with torch.save:
    {"format": "rnn-studio-checkpoint", "version": 1,
     "model": state_dict, "optimizer": ..., "scheduler": ..., "epoch": int, "step": int, "rng": ...,
     "meta": RunMeta as a dict: what a deployment needs to reproduce preprocessing}
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..data.meta import RunMeta as RunMeta
from ..design.project import Project, ProjectFormatError, load_project

# checkpoints is the file format below the run folder: CHECKPOINT_FORMAT and RunError live there and are
# re-exported here (rnn_studio.engine.training.runs.RunError is the same class)
from .checkpoints import CHECKPOINT_FORMAT as CHECKPOINT_FORMAT
from .checkpoints import RunError as RunError
from .checkpoints import check_checkpoint, load_checkpoint, process_alive

STOP_FILE = "STOP"
LOCK_FILE = "LOCK"
MAX_NAME_CHARS = 60  # the design-name part of a run folder's name


class RunLockedError(RunError):
    """The run folder is being written by another live process (its LOCK names it)."""


def checkpoint_path(run_dir: str | Path, which: str = "best") -> Path:
    if which not in ("best", "last"):
        raise RunError(f"checkpoint must be 'best' or 'last', received {which!r}")
    return Path(run_dir) / "checkpoints" / f"{which}.pt"


def is_run_dir(path: str | Path) -> bool:
    p = Path(path)
    return p.is_dir() and (p / "project.rnn.json").is_file()


def load_run(run_dir: str | Path, which: str = "best", map_location: str = "cpu"):
    """(project, model with the checkpoint's weights in eval mode, RunMeta) for a run folder."""
    from ..design.compile import build_model

    run_dir = Path(run_dir)
    if not is_run_dir(run_dir):
        raise RunError(f"{run_dir}: not a run folder (no project.rnn.json): pass a folder under runs/")
    try:
        project = load_project(run_dir / "project.rnn.json")
    except ProjectFormatError as e:
        raise RunError(str(e)) from None
    path = checkpoint_path(run_dir, which)
    if path.exists() and not path.is_file():
        from ..design.project import regular_file_size

        regular_file_size(path, RunError, folder="not a checkpoint file")  # names what it is instead
    if not path.is_file():
        raise RunError(
            f"{path}: missing checkpoint; the run may have stopped before its first epoch "
            f"(try --checkpoint {'last' if which == 'best' else 'best'})"
        )
    ckpt = load_checkpoint(path, map_location)  # never unpickles code (engine/training/checkpoints.py)
    model = build_model(project)
    check_checkpoint(ckpt, path, model, project)  # format, design fingerprint, tensor names and shapes
    model.load_state_dict(ckpt["model"])
    model.eval()
    return project, model, RunMeta.from_dict(ckpt.get("meta"))


def project_of(path: str | Path) -> Project:
    """A design file, or the design snapshot of a run folder."""
    p = Path(path)
    return load_project(p / "project.rnn.json" if p.is_dir() else p)


# ---------------------------------------------------------------------------- write side (the trainer)
def safe_name(name: str, limit: int = MAX_NAME_CHARS) -> str:
    """`name` as a file-name part: letters, digits, `_ . -` only, at most `limit` characters. A longer
    name keeps its start and gets 8 hex digits of its hash, so two long names stay distinct."""
    safe = re.sub(r"[^A-Za-z0-9_.\-]+", "-", str(name)).strip("-.") or "run"
    if len(safe) > limit:
        digest = hashlib.sha1(str(name).encode("utf-8", "surrogatepass")).hexdigest()[:8]
        safe = f"{safe[: limit - 9].rstrip('-.')}-{digest}"
    return safe


def new_run_dir(out_dir: str | Path, name: str) -> Path:
    """Create and return `<out_dir>/<YYYYmmdd-HHMMSS>-<name>/` (with checkpoints/); a clash gets -2, -3...
    (mkdir is atomic: two runs started in the same second get distinct folders). The name is shortened
    and made safe (`safe_name`). An OSError (read-only, not a folder, no space) is a RunError naming the path."""
    base = Path(out_dir) / f"{time.strftime('%Y%m%d-%H%M%S')}-{safe_name(name)}"
    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise RunError(f"{out_dir}: the output folder is a file, not a folder: choose another --out")
    path, n = base, 1
    while True:
        try:
            path.mkdir(parents=True, exist_ok=False)
            break
        except FileExistsError:
            if not Path(out_dir).is_dir():
                raise RunError(f"{out_dir}: the output folder is a file, not a folder: choose another --out") from None
            n += 1
            path = base.with_name(f"{base.name}-{n}")
        except OSError as e:
            raise write_error(e, Path(out_dir), "cannot create a run folder there") from None
    try:
        (path / "checkpoints").mkdir(exist_ok=True)
    except OSError as e:
        raise write_error(e, path / "checkpoints", "cannot create") from None
    return path


def write_error(e: OSError, path: Path, what: str = "cannot write") -> RunError:
    """One line for a failed write: the path, the system's reason and what to do."""
    where = e.filename if getattr(e, "filename", None) else path
    return RunError(
        f"{where}: {what} ({e.strerror or type(e).__name__}): free some space or choose a writable output folder"
    )


# ---------------------------------------------------------------------------- the owner of a run folder
class RunLock:
    """<run>/LOCK: {"pid", "host", "since"} of the process writing the run folder. A second writer is
    refused (RunLockedError naming the owner); a lock left by a dead process on this host is taken over
    (`note` says so). Released (deleted) when training ends."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / LOCK_FILE
        self.note: str | None = None
        self.held = False

    def acquire(self) -> RunLock:
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": _utc_now()}
        for _ in range(3):
            if self._create(me):
                self.held = True
                return self
            owner = self.check_free()
            if owner is None:
                continue  # vanished meanwhile: try again
            self.note = (
                f"took over the lock of process {owner.get('pid')} on {owner.get('host')}, which is no "
                f"longer running (it stopped without cleaning up)"
            )
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        raise RunLockedError(f"{self.path}: cannot take the run folder's lock: another process keeps taking it")

    def check_free(self) -> dict[str, Any] | None:
        """Raise RunLockedError when a live process (or one on another host) holds the lock; else return the
        stale owner's record (None when there is no lock)."""
        owner = self._owner()
        if owner is None:
            return None
        host = socket.gethostname()
        if owner.get("host") != host or process_alive(owner.get("pid")):
            this = " (this process)" if owner.get("pid") == os.getpid() and owner.get("host") == host else ""
            raise RunLockedError(
                f"{self.path.parent}: the run is being written by process {owner.get('pid')}{this} "
                f"on {owner.get('host')} (since {owner.get('since')}): wait for it to end or stop "
                f"it; if that process is gone, delete {self.path}"
            )
        return owner

    def _create(self, me: dict[str, Any]) -> bool:
        """Write LOCK atomically, only if it does not exist (a temp file hard-linked into place)."""
        tmp = self.path.with_name(f".{LOCK_FILE}.{me['pid']}.tmp")
        try:
            tmp.write_text(json.dumps(me) + "\n", encoding="utf-8")
            try:
                os.link(tmp, self.path)
                return True
            except FileExistsError:
                return False
        except OSError as e:
            raise write_error(e, self.path) from None
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()

    def _owner(self) -> dict[str, Any] | None:
        """The owner record, read with care: LOCK may be anything a stranger put there (a FIFO, a link to
        /dev/zero, a huge or deeply nested file). Only a regular file is opened, without blocking, and at
        most 4 KB are read; what is not a record RNN Studio writes raises RunLockedError saying so."""
        import stat

        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        except OSError:
            st = None
        raw = b""
        if st is not None and stat.S_ISREG(st.st_mode):
            try:
                fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
                try:
                    raw = os.read(fd, 4096)
                finally:
                    os.close(fd)
            except FileNotFoundError:
                return None
            except OSError:
                raw = b""
        try:
            owner = json.loads(raw.decode("utf-8")) if 0 < len(raw) < 4096 else None
        except (ValueError, RecursionError):
            owner = None
        if not isinstance(owner, dict):
            owner = {}
        pid = owner.get("pid")
        if (
            not isinstance(pid, int)
            or isinstance(pid, bool)
            or not 0 < pid < 2**31
            or not isinstance(owner.get("host"), str)
        ):
            raise RunLockedError(
                f"{self.path}: not a lock file RNN Studio wrote (no process id and host in it): if no "
                f"training is writing {self.path.parent.name}, delete {self.path}"
            )
        return {k: str(v)[:80] if k != "pid" else v for k, v in owner.items() if k in ("pid", "host", "since")}

    def release(self) -> None:
        if self.held:
            self.held = False
            with contextlib.suppress(OSError):
                self.path.unlink()


def _utc_now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def request_stop(run_dir: str | Path) -> None:
    """Ask a running trainer to stop at its next step boundary (it writes last.pt and a summary with
    stop_reason "cancelled"). Works across processes and platforms: it creates <run_dir>/STOP."""
    p = Path(run_dir) / STOP_FILE
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("stop requested\n")


class MetricsWriter:
    """Appends one JSON object per line to metrics.jsonl and flushes each line, so a reader in another
    process sees complete records as they come (a reader must ignore a last line without its newline)."""

    def __init__(self, path: str | Path, append: bool = True):
        self.path = Path(path)
        try:
            if append:
                _drop_partial_line(self.path)
            # the writer keeps its file open for its whole life and closes it in close()
            self._f = open(self.path, "a" if append else "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        except OSError as e:
            raise write_error(e, self.path) from None

    def write(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(record, allow_nan=False, default=_json_default) + "\n"
        try:
            self._f.write(line)
            self._f.flush()
        except OSError as e:
            raise write_error(e, self.path) from None

    def close(self) -> None:
        if not self._f.closed:
            try:
                self._f.flush()
                os.fsync(self._f.fileno())
            except OSError:
                pass
            with contextlib.suppress(OSError):
                self._f.close()


def _drop_partial_line(path: Path) -> None:
    """Cut a last line without its newline (a writer killed mid-line), so appended records start on a
    line of their own and every line of the file parses."""
    try:
        with open(path, "rb+") as f:
            size = f.seek(0, os.SEEK_END)
            if size == 0:
                return
            f.seek(max(0, size - 1))
            if f.read(1) == b"\n":
                return
            back = min(size, 1 << 20)
            f.seek(size - back)
            tail = f.read(back)
            cut = tail.rfind(b"\n")
            f.truncate(size - back + cut + 1 if cut >= 0 else (0 if back == size else size))
    except FileNotFoundError:
        return


def _json_default(v):
    try:
        import numpy as np

        if isinstance(v, np.generic):
            return v.item()
    except ImportError:  # pragma: no cover
        pass
    return str(v)


# ---------------------------------------------------------------------------- read side (GUI, scripts)
def read_metrics(run_dir: str | Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Records appended to <run_dir>/metrics.jsonl since byte `offset`, and the offset to pass next
    time. Only complete lines are returned, so it is safe to call while the trainer writes (tail -f)."""
    path = Path(run_dir) / "metrics.jsonl"
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            chunk = f.read()
    except FileNotFoundError:
        return [], offset
    end = chunk.rfind(b"\n")
    if end < 0:
        return [], offset
    records = []
    for line in chunk[:end].split(b"\n"):
        if line.strip():
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):  # not JSON, not UTF-8, nested absurdly deep
                continue
            if isinstance(record, dict):
                records.append(record)
    return records, offset + end + 1


def iter_metrics(run_dir: str | Path) -> Iterator[dict[str, Any]]:
    """Every complete record of a run's metrics.jsonl, in order."""
    yield from read_metrics(run_dir)[0]


def load_summary(run_dir: str | Path) -> dict[str, Any] | None:
    """summary.json of a finished (or stopped) run, or None while it is still running."""
    try:
        return json.loads((Path(run_dir) / "summary.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
