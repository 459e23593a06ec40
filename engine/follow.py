"""Follow a run's metrics.jsonl while another process appends to it (the GUI monitor, `attach`).

Reads only complete lines (a writer may be mid-line), remembers its byte offset, never re-reads, and
skips a line that is not valid JSON instead of failing (a crash of the writer must not break readers).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


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
