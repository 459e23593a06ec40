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
    RNN_STUDIO_MAX_MODEL_MB       2000     weights of an imported model (declared sizes, inflated zip members)
    RNN_STUDIO_IMPORT_CHECK_S     120      seconds the ONNX import check may run (its own process)
"""

from __future__ import annotations

import os
import re
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
MAX_MODEL_MB = Limit("RNN_STUDIO_MAX_MODEL_MB", 2000, "an imported model's weights in MB")
IMPORT_CHECK_S = Limit("RNN_STUDIO_IMPORT_CHECK_S", 120, "seconds the ONNX import check may run")
ALL = (
    MAX_PROJECT_MB,
    MAX_DEPTH,
    MAX_INT_DIGITS,
    MAX_BLOCKS,
    MAX_NAME_CHARS,
    MEMORY_FRACTION,
    MAX_VERIFY_STEPS,
    MAX_MODEL_MB,
    IMPORT_CHECK_S,
)

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


def nesting_depth(data: object, cap: int) -> int:
    """How deeply lists / dicts nest in parsed JSON, counted without recursion; stops counting past `cap`
    (returns cap + 1), so a hostile file costs no more than a normal one."""
    deepest = 0
    stack: list[tuple[object, int]] = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, (list, dict)):
            continue
        deepest = max(deepest, depth)
        if deepest > cap:
            return cap + 1
        stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^\s@/?#]*)((?:[^\s@]*@)*)(?=[^\s@]*)")
_SECRET_QUERY = re.compile(
    r"(?i)([?&;](?:[a-z0-9_.\-]*(?:token|secret|passw(?:or)?d|passwd|pwd|api[_-]?key|access[_-]?key|auth|"
    r"signature|sig|credential)[a-z0-9_.\-]*)=)([^&;#\s'\"]*)"
)
_SECRET_ENV = ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_URI")


def _userinfo(m: re.Match) -> str:
    scheme, first, rest = m.group(1), m.group(2), m.group(3)
    if not rest:
        return m.group(0)  # no `@`: no credentials
    user = first.split(":", 1)[0] if ":" in first else ""
    return f"{scheme}{user}:***@" if user else f"{scheme}***@"


def _known_secrets() -> list[str]:
    """Passwords and tokens this process was given (environment): scrubbed wherever they appear, also
    percent-decoded or cut out of their URI by a library's own error text."""
    from urllib.parse import unquote

    found: list[str] = []
    for name in _SECRET_ENV:
        value = os.environ.get(name) or ""
        if "://" in value:
            authority, _, query = value.split("://", 1)[1].partition("?")
            creds = authority.split("/", 1)[0].rpartition("@")[0] if "@" in authority else ""
            found += [creds.split(":", 1)[1]] if ":" in creds else ([creds] if creds else [])
            found += [m.group(2) for m in _SECRET_QUERY.finditer("?" + query)]
        elif name in ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
            found.append(value)
    found += [unquote(x) for x in found]
    return sorted({x for x in found if len(x) >= 3}, key=len, reverse=True)


def redact(text: str) -> str:
    """`text` with credentials blanked: the password of every `scheme://user:password@host` (everything up
    to the last `@` of the authority, so a password holding `@` goes whole), the value of every token /
    secret / password / key query parameter, and the passwords and tokens of this process's tracking
    environment wherever they appear. Every line the CLI prints goes through it."""
    text = _USERINFO.sub(_userinfo, text)
    text = _SECRET_QUERY.sub(lambda m: m.group(1) + "***", text)
    for secret in _known_secrets():
        text = text.replace(secret, "***")
    return text
