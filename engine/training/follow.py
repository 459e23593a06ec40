"""Follow a run's metrics.jsonl while another process appends to it (the GUI monitor, `attach`).

Reads only complete lines (a writer may be mid-line), remembers its byte offset, never re-reads, and
skips a line that is not valid JSON instead of failing (a crash of the writer must not break readers).
A writer killed mid-line leaves a torn last line; the next writer (a resume) cuts it before appending
(engine/training/runs.py MetricsWriter), and the tail notices the cut and reads on from there.
`read_records` gives the typed records of engine/training/records.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .records import Record, parse_record


class MetricsTail:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.offset = 0
        self._partial = b""
        self.bad_lines = 0

    def read_new(self, max_bytes: int = 8 << 20) -> list[dict[str, Any]]:
        """Records appended since the last call (at most `max_bytes` read per call)."""
        try:
            with open(self.path, "rb") as f:
                self._rewind_if_cut(f)
                f.seek(self.offset)
                chunk = f.read(max_bytes)
        except FileNotFoundError:
            return []
        if not chunk:
            return []
        self.offset += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()  # incomplete tail (empty when chunk ended with a newline)
        out = []
        for line in lines:
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                self.bad_lines += 1
                continue
            if isinstance(rec, dict):
                out.append(rec)
        return out

    def read_records(self, max_bytes: int = 8 << 20) -> list[Record]:
        """Like read_new, as typed records; a line that is not a well-formed record is skipped."""
        out = []
        for raw in self.read_new(max_bytes):
            rec = parse_record(raw)
            if rec is None:
                self.bad_lines += 1
            else:
                out.append(rec)
        return out

    def _rewind_if_cut(self, f) -> None:
        """The torn line we hold was cut by a new writer: read on from where it started."""
        if not self._partial:
            return
        start = self.offset - len(self._partial)
        f.seek(start)
        if f.read(len(self._partial)) != self._partial:
            self.offset, self._partial = start, b""
