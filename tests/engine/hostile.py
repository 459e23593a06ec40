"""Running the real CLI on hostile inputs: a child process with bounded memory and time.

Every case asserts what a user would see: exit code 2, exactly one line on stderr, no traceback, within
seconds, under a memory cap (RLIMIT_AS on the child: a reader that slurps /dev/zero fails fast instead
of taking the machine down, and the failure shows as a wrong exit code).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CPU_SECONDS = 20  # a refusal costs at most this much CPU time (a case is ~1-4 s on one core)
WALL_SECONDS = 120  # a child still running after this is a hang (generous: the test machine may be busy)
MEMORY_BYTES = 3 * 1024**3  # address space of the child: torch + onnxruntime fit in ~1 GB here
MAX_RSS_BYTES = 1536 * 1024**2


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    seconds: float  # wall clock
    cpu_seconds: float  # user + system time of the child: what the case costs, whatever the machine's load
    max_rss_bytes: int

    @property
    def err_lines(self) -> list[str]:
        return self.err.strip().splitlines()


def run_cli(*argv: str, env: dict | None = None, timeout: float = WALL_SECONDS) -> Outcome:
    """`python -m rnn_studio ARGV` from the repository root, under the memory cap; killed after `timeout`
    seconds of wall clock (a hang), with its own CPU time and peak memory measured by wait4()."""
    full_env = {**os.environ, "PYTHONIOENCODING": "utf-8", **(env or {})}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "rnn_studio", *argv],
            cwd=ROOT,
            env=full_env,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            preexec_fn=_limit_memory,
        )  # noqa: PLW1509 - only setrlimit, no locks
        watchdog = threading.Timer(timeout, proc.kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            watchdog.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        assert seconds < timeout, f"killed after {timeout} s: {' '.join(argv)[:200]}"
        return Outcome(
            proc.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            seconds,
            usage.ru_utime + usage.ru_stime,
            usage.ru_maxrss * 1024,
        )


def assert_refused(outcome: Outcome, *needles: str, max_chars: int = 600) -> str:
    """Exit 2, one line on stderr (short), no traceback, in bounded time. Returns the line."""
    assert "Traceback" not in outcome.err + outcome.out, outcome.err[-2000:]
    assert outcome.code == 2, (outcome.code, outcome.err[-2000:])
    lines = outcome.err_lines
    assert len(lines) == 1, lines[:5]
    line = lines[0]
    assert line.startswith("error: "), line[:300]
    assert len(line) <= max_chars, f"{len(line)} characters: {line[:300]}"
    for needle in needles:
        assert needle in line, (needle, line)
    assert outcome.cpu_seconds < CPU_SECONDS, outcome.cpu_seconds
    assert outcome.max_rss_bytes < MAX_RSS_BYTES, outcome.max_rss_bytes
    return line


def design(**changes) -> dict:
    """A small valid design (Input -> GRU -> Dense), with top-level keys replaced."""
    data = {
        "format": "rnn-studio",
        "version": 1,
        "name": "tiny",
        "blocks": [
            {"id": "x", "type": "Input", "params": {"timesteps": 8, "features": 2}},
            {"id": "g", "type": "GRU", "params": {"units": 8}},
            {"id": "fc", "type": "Dense", "params": {"units": 1}},
        ],
        "links": [["x", "g"], ["g", "fc"]],
    }
    data.update(changes)
    return data


def write(path: Path, data) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path
