"""Limits checked before work, and the one way an error line quotes a value.

A design, a data file or a run folder often comes from someone else. Every reader checks these limits
*before* the expensive step (reading, parsing, allocating), so a hostile or mistaken input gets one clear
line and exit code 2 instead of a crash, a hang or gigabytes of memory. Each limit can be raised with an
environment variable (docs/limits.md):

    RNN_STUDIO_MAX_PROJECT_MB     20       size of a project file
    RNN_STUDIO_MAX_DEPTH          64       JSON nesting depth in a project file
    RNN_STUDIO_MAX_INT_DIGITS     50       digits of one integer literal in a project file
    RNN_STUDIO_MAX_BLOCKS         10000    blocks in one design (links: 4x that)
    RNN_STUDIO_MAX_NAME_CHARS     200      characters of a design's name
    RNN_STUDIO_MEMORY_FRACTION    0.9      share of the machine's memory training/export may plan to use
    RNN_STUDIO_MAX_VERIFY_STEPS   10000    time steps of a fixed-length Input that export verifies
"""

from __future__ import annotations

import os
import reprlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    env: str
    default: float
    what: str  # what is limited, for messages ("a project file's size in MB")

    def value(self) -> float:
        raw = os.environ.get(self.env)
        if raw is None or not raw.strip():
            return self.default
        try:
            v = float(raw)
        except ValueError:
            return self.default
        return v if v > 0 else self.default

    def int_value(self) -> int:
        return max(1, int(self.value()))

    def hint(self) -> str:
        return f"to raise the limit, set {self.env} (docs/limits.md)"


MAX_PROJECT_MB = Limit("RNN_STUDIO_MAX_PROJECT_MB", 20, "a project file's size in MB")
MAX_DEPTH = Limit("RNN_STUDIO_MAX_DEPTH", 64, "JSON nesting depth")
MAX_INT_DIGITS = Limit("RNN_STUDIO_MAX_INT_DIGITS", 50, "digits of a whole number")
MAX_BLOCKS = Limit("RNN_STUDIO_MAX_BLOCKS", 10_000, "blocks in a design")
MAX_NAME_CHARS = Limit("RNN_STUDIO_MAX_NAME_CHARS", 200, "characters of a design name")  # + a time stamp < 255
MEMORY_FRACTION = Limit("RNN_STUDIO_MEMORY_FRACTION", 0.9, "share of memory a run may plan to use")
MAX_VERIFY_STEPS = Limit("RNN_STUDIO_MAX_VERIFY_STEPS", 10_000, "time steps export verification runs")
ALL = (MAX_PROJECT_MB, MAX_DEPTH, MAX_INT_DIGITS, MAX_BLOCKS, MAX_NAME_CHARS, MEMORY_FRACTION, MAX_VERIFY_STEPS)

EXCERPT_CHARS = 60


class _ShortRepr(reprlib.Repr):
    def __init__(self, chars: int):
        super().__init__()
        self.maxstring = self.maxother = self.maxlong = chars
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = 6
        self.maxlevel = 3

    def repr_bool(self, x, level):  # JSON spelling: the files are JSON
        return "true" if x else "false"

    def repr_NoneType(self, x, level):
        return "null"

    def repr_int(self, x, level):
        if x.bit_length() > 3 * self.maxlong:  # repr() itself refuses beyond 4300 digits
            return f"a number of about {int(x.bit_length() * 0.30103):,} digits"
        return super().repr_int(x, level)


def excerpt(value: object, chars: int = EXCERPT_CHARS) -> str:
    """A short, printable quote of `value` for an error line: strings and containers are cut
    (`[1, 2, 3, 4, 5, 6, ...] (2000000 items)`), never the whole of a huge value. Every message that
    quotes a user's value goes through here."""
    text = _ShortRepr(chars).repr(value)
    if len(text) > 2 * chars:
        text = text[: 2 * chars] + "..."
    size = _size_note(value, text)
    return text + size


def quote(value: object, chars: int = EXCERPT_CHARS) -> str:
    """Like `excerpt`, but spelt as JSON (`"GRU"`, `[1, 2]`, `null`) when the whole value is short:
    for messages about project files, which are JSON."""
    import json

    short = excerpt(value, chars)
    if "..." in short or short.startswith("a number of"):
        return short
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return short


def _size_note(value: object, text: str) -> str:
    if isinstance(value, (list, tuple, dict, set)) and len(value) > 6:
        return f" ({len(value):,} items)"
    if isinstance(value, str) and "..." in text:
        return f" ({len(value):,} characters)"
    return ""


def printable(text: str) -> str:
    """`text` with lone surrogates and other unencodable characters escaped, so printing never raises."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
