"""The design as data: blocks, links, stable string ids, JSON in and out (format v1).

Loading is lenient about meaning and strict about structure: a file whose JSON or structure is wrong
raises `ProjectFormatError` with one precise line; a structurally fine design with semantic mistakes
(unknown type, bad param, cycle, ...) loads, so the designer can open it and show what to fix, and
`engine.check` reports those mistakes.

`Project` is also the editable model the GUI works on: each edit method emits `changed` with one typed
event (`BlockAdded`, `BlockRemoved`, `LinkAdded`, `LinkRemoved`, `ParamChanged`, `BlockMoved`,
`ProjectRenamed`) so views can follow; undo commands in the GUI call only these methods.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import limits
from ..limits import quote
from .blocks import CATALOG
from .events import Event

FORMAT_NAME = "rnn-studio"
FORMAT_VERSION = 1
EXTENSION = ".rnn.json"
# \Z, not $: "$" also matches before a final newline, and "x\n" is not an id
ID_RE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_\-]{0,63}\Z")
KNOWN_TOP = ("format", "version", "name", "blocks", "links", "layout", "training")


class ProjectFormatError(ValueError):
    """The file is not a readable v1 project. The message is one line, naming where and how to fix."""


@dataclass
class Block:
    id: str
    type: str
    params: dict[str, Any] = field(default_factory=dict)  # only the params given; others take defaults
    extra: dict[str, Any] = field(default_factory=dict)  # unknown keys, kept on save

    def resolved(self) -> dict[str, Any]:
        """Params with defaults filled in (unknown types: just what was given)."""
        d = CATALOG.get(self.type)
        return {**(d.defaults() if d else {}), **self.params}

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "params": dict(self.params), **self.extra}


# ---------------------------------------------------------------------------- change events
@dataclass(frozen=True)
class BlockAdded:
    """A block was added, or restored by undo (with the links it had)."""

    block_id: str


@dataclass(frozen=True)
class BlockRemoved:
    """A block was removed, and its links with it."""

    block_id: str


@dataclass(frozen=True)
class LinkAdded:
    src: str
    dst: str


@dataclass(frozen=True)
class LinkRemoved:
    src: str
    dst: str


@dataclass(frozen=True)
class ParamChanged:
    """A param was set, or unset (it takes its default again)."""

    block_id: str
    name: str


@dataclass(frozen=True)
class BlockMoved:
    block_id: str


@dataclass(frozen=True)
class ProjectRenamed:
    name: str


ProjectEvent = BlockAdded | BlockRemoved | LinkAdded | LinkRemoved | ParamChanged | BlockMoved | ProjectRenamed


class Project:
    def __init__(
        self,
        name: str = "untitled",
        blocks: list[Block] | None = None,
        links: list[tuple[str, str]] | None = None,
        layout: dict | None = None,
        training: dict | None = None,
        extra: dict | None = None,
        path: str | None = None,
    ):
        self.name = name
        self.blocks: list[Block] = list(blocks or [])
        # each link is a (source, destination) pair (load_project checks that); tuple() is not typed as a pair
        self.links: list[tuple[str, str]] = [tuple(link) for link in (links or [])]  # type: ignore[misc]
        self.layout: dict[str, Any] = dict(layout or {})
        self.training: dict[str, Any] = dict(training or {})
        self.extra: dict[str, Any] = dict(extra or {})
        self.path = path
        self.changed = Event()  # emit(event: ProjectEvent), one typed event per edit

    # ------------------------------------------------------------------ queries
    def block(self, block_id: str) -> Block | None:
        for b in self.blocks:
            if b.id == block_id:
                return b
        return None

    def index_of(self, block_id: str) -> int:
        for i, b in enumerate(self.blocks):
            if b.id == block_id:
                return i
        raise KeyError(block_id)

    def inputs_of(self, block_id: str) -> list[str]:
        """Sources linked into a block, in link order (= input order)."""
        return [s for s, d in self.links if d == block_id]

    def outputs_of(self, block_id: str) -> list[str]:
        return [d for s, d in self.links if s == block_id]

    def new_id(self, type_name: str, taken: set[str] | None = None) -> str:
        """`lstm1`, `lstm2`, ...: the first free id for a type (free of `taken` too, when given)."""
        stem = re.sub(r"[^a-z0-9_]", "", type_name.lower()) or "block"
        taken = {b.id for b in self.blocks} | (taken or set())
        n = 1
        while f"{stem}{n}" in taken:
            n += 1
        return f"{stem}{n}"

    def position(self, block_id: str) -> tuple[float, float] | None:
        pos = self.layout.get("blocks", {}).get(block_id)
        if isinstance(pos, (list, tuple)) and len(pos) == 2 and all(isinstance(v, (int, float)) for v in pos):
            return float(pos[0]), float(pos[1])
        return None

    def can_link(self, src: str, dst: str) -> tuple[bool, str]:
        """Whether a link src -> dst may be made, and why not. The GUI shows the reason."""
        a, b = self.block(src), self.block(dst)
        if a is None or b is None:
            return False, f"unknown block '{src if a is None else dst}'"
        if src == dst:
            return False, "a block cannot feed itself"
        if (src, dst) in self.links:
            return False, f"'{src}' already feeds '{dst}'"
        d = CATALOG.get(b.type)
        if d is not None and d.max_inputs == 0:
            return False, f"{b.type} '{dst}' takes no input"
        if d is not None and d.max_inputs is not None and len(self.inputs_of(dst)) >= d.max_inputs:
            return False, f"{b.type} '{dst}' takes {d.max_inputs} input and already has one: remove that link first"
        if src in self._reachable_from(dst):
            return False, f"linking '{src}' -> '{dst}' would make a cycle ('{dst}' already feeds '{src}')"
        return True, ""

    def _reachable_from(self, start: str) -> set[str]:
        seen, stack = set(), [start]
        while stack:
            n = stack.pop()
            for s, d in self.links:
                if s == n and d not in seen:
                    seen.add(d)
                    stack.append(d)
        return seen

    # ------------------------------------------------------------------ edits (emit `changed`)
    def add_block(self, block: Block, index: int | None = None, pos: tuple[float, float] | None = None) -> None:
        if self.block(block.id) is not None:
            raise ValueError(f"block id '{block.id}' is taken")
        self.blocks.insert(len(self.blocks) if index is None else index, block)
        if pos is not None:
            self.layout.setdefault("blocks", {})[block.id] = [float(pos[0]), float(pos[1])]
        self.changed.emit(BlockAdded(block.id))

    def remove_block(self, block_id: str) -> dict[str, Any]:
        """Remove a block and its links; returns what `restore_block` needs to undo it exactly."""
        index = self.index_of(block_id)
        removed_links = [(i, link) for i, link in enumerate(self.links) if block_id in link]
        for i, _ in reversed(removed_links):
            del self.links[i]
        block = self.blocks.pop(index)
        pos = self.layout.get("blocks", {}).pop(block_id, None)
        self.changed.emit(BlockRemoved(block_id))
        return {"block": block, "index": index, "links": removed_links, "pos": pos}

    def restore_block(self, memo: dict[str, Any]) -> None:
        self.blocks.insert(memo["index"], memo["block"])
        if memo["pos"] is not None:
            self.layout.setdefault("blocks", {})[memo["block"].id] = memo["pos"]
        for i, link in memo["links"]:
            self.links.insert(i, link)
        self.changed.emit(BlockAdded(memo["block"].id))

    def add_link(self, src: str, dst: str, index: int | None = None) -> None:
        self.links.insert(len(self.links) if index is None else index, (src, dst))
        self.changed.emit(LinkAdded(src, dst))

    def remove_link(self, src: str, dst: str) -> int:
        index = self.links.index((src, dst))
        del self.links[index]
        self.changed.emit(LinkRemoved(src, dst))
        return index

    def _existing_block(self, block_id: str) -> Block:
        return self.blocks[self.index_of(block_id)]  # KeyError for an unknown id

    def set_param(self, block_id: str, name: str, value: Any) -> None:
        self._existing_block(block_id).params[name] = value
        self.changed.emit(ParamChanged(block_id, name))

    def unset_param(self, block_id: str, name: str) -> None:
        self._existing_block(block_id).params.pop(name, None)
        self.changed.emit(ParamChanged(block_id, name))

    def set_position(self, block_id: str, x: float, y: float) -> None:
        self.layout.setdefault("blocks", {})[block_id] = [float(x), float(y)]
        self.changed.emit(BlockMoved(block_id))

    def set_name(self, name: str) -> None:
        self.name = name
        self.changed.emit(ProjectRenamed(name))

    def paste_ids(self, fragment: Project) -> dict[str, str]:
        """{fragment id: id in this design}: a block keeps its id while it is free, else gets the next free one."""
        taken = {b.id for b in self.blocks}
        mapping: dict[str, str] = {}
        for b in fragment.blocks:
            new = b.id if b.id not in taken else self.new_id(b.type, taken)
            taken.add(new)
            mapping[b.id] = new
        return mapping

    def paste(
        self,
        fragment: Project,
        offset: tuple[float, float] = (0.0, 0.0),
        at: tuple[float, float] | None = None,
    ) -> dict[str, str]:
        """Add a copy of `fragment`'s blocks (copy, duplicate, paste) and return {fragment id: new id}.

        Ids that are taken here are renamed (`paste_ids`) and the fragment's links follow them; a link to
        a block outside the fragment is dropped. Each block lands at its fragment position, or at `at`
        when it has none, shifted by `offset`. The blocks and links are appended in fragment order, so
        removing the new blocks (last first) undoes a paste exactly."""
        mapping = self.paste_ids(fragment)
        dx, dy = offset
        for b in fragment.blocks:
            pos = fragment.position(b.id) or at
            block = Block(mapping[b.id], b.type, copy.deepcopy(b.params), copy.deepcopy(b.extra))
            self.add_block(block, pos=None if pos is None else (pos[0] + dx, pos[1] + dy))
        for src, dst in fragment.links:
            if src in mapping and dst in mapping:
                self.add_link(mapping[src], mapping[dst])
        return mapping

    # ------------------------------------------------------------------ serialization
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "name": self.name,
            "blocks": [b.to_dict() for b in self.blocks],
            "links": [list(link) for link in self.links],
        }
        if self.layout:
            out["layout"] = copy.deepcopy(self.layout)
        if self.training:
            out["training"] = copy.deepcopy(self.training)
        out.update(copy.deepcopy(self.extra))
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def copy(self) -> Project:
        p = Project.from_dict(self.to_dict())
        p.path = self.path
        return p

    def save(self, path: str | os.PathLike | None = None) -> None:
        where = path or self.path
        if where is None:
            raise TypeError("save() needs a path: this project has none yet")
        target = Path(where)
        atomic_write_text(target, self.to_json())
        self.path = str(target)

    @classmethod
    def from_dict(cls, data: Any, source: str = "project") -> Project:
        return _parse(data, source)


def atomic_write_text(path: Path | str, text: str) -> None:
    """Write temp + fsync + os.replace: a crash leaves the old file or the new one, never half."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Raises NotRegularFileError (an OSError) when `path` exists and is a device, FIFO or socket: the
    rename would replace, say, /dev/full with a regular file."""
    path = Path(path)
    refuse_non_regular_target(path)
    # the writer's pid in the name: a temp left by a killed writer is recognised and removed later
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, plain_file_mode())  # mkstemp's 0600 would make every saved file private
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def current_umask() -> int:
    """The process umask, read without changing it where the OS says it (Linux /proc), else by the
    classic set-and-restore."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def plain_file_mode() -> int:
    """The mode a plain open() would give a new file under the user's umask (0644 under umask 022):
    files written temp + rename get it too, instead of the temp file's private 0600."""
    return 0o666 & ~current_umask()


class NotRegularFileError(OSError):
    """An output path that exists and is not a regular file (nor a folder)."""


def refuse_non_regular_target(path: Path) -> None:
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # missing (fine), or unreadable: the write itself will say so
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        raise NotRegularFileError(f"{path}: is {_file_kind(mode)}; only regular files are written: give a file name")


def read_user_text(
    p: Path,
    error: type[Exception],
    *,
    missing_fix: str = "",
    folder: str,
    utf8_fix: str,
    max_bytes: int | None = None,
    too_big_fix: str = "",
) -> str:
    """A user's text file as str (UTF-8, BOM allowed); any failure raises `error` with one line naming
    the file: missing, a folder, not a regular file (a device or FIFO is refused by name before anything
    is read), larger than `max_bytes`, unreadable, not UTF-8. Shared by project files and CSV data."""
    size = regular_file_size(p, error, missing_fix=missing_fix, folder=folder)
    if max_bytes is not None and size > max_bytes:
        raise error(f"{p}: {size / 1e6:,.1f} MB is larger than the {max_bytes / 1e6:,.0f} MB limit{too_big_fix}")
    try:
        with open(p, "rb") as f:  # read at most the limit (+1 byte): the file may grow after the stat
            raw = f.read() if max_bytes is None else f.read(max_bytes + 1)
    except OSError as e:
        raise error(f"{p}: cannot read ({e.strerror})") from None
    if max_bytes is not None and len(raw) > max_bytes:
        raise error(f"{p}: larger than the {max_bytes / 1e6:,.0f} MB limit{too_big_fix}")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise error(f"{p}: not UTF-8 text (byte {e.start}){utf8_fix}") from None


def regular_file_size(p: Path, error: type[Exception], *, missing_fix: str = "", folder: str = "not a file") -> int:
    """The size of `p` if it is a regular file (symlinks followed); else `error` naming what it is.

    Checked with stat() before any open(): opening a FIFO with no writer blocks forever, and /dev/zero
    or /dev/urandom never end."""
    import stat

    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise error(f"{p}: no such file{missing_fix}") from None
    except OSError as e:
        raise error(f"{p}: cannot read ({e.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{p}: is a folder, {folder}")
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{p}: is {_file_kind(st.st_mode)}, not a regular file: only regular files are read")
    return st.st_size


def _file_kind(mode: int) -> str:
    import stat

    for test, name in (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "a special file"


def load_project(path: str | os.PathLike) -> Project:
    """Read a .rnn.json file. Raises ProjectFormatError (one clear line) for unreadable files.

    Limits are checked before work (engine/limits.py, docs/limits.md): file size, JSON nesting depth,
    digits of a whole number, lone surrogates, number of blocks."""
    p = Path(path)
    max_bytes = int(limits.MAX_PROJECT_MB.value() * 1e6)
    text = read_user_text(
        p,
        ProjectFormatError,
        folder="not a project file",
        utf8_fix="; save the file as UTF-8",
        max_bytes=max_bytes,
        too_big_fix=f" for a project file; {limits.MAX_PROJECT_MB.hint()}",
    )
    data = parse_json_text(text, str(p))
    project = _parse(data, str(p), capped=True)
    project.path = str(p)
    return project


def parse_json_text(text: str, src: str) -> Any:
    """json.loads with the limits checked first: nesting depth (counted without recursion, before the
    parser recurses), digits of whole numbers, lone surrogate escapes."""
    max_depth = limits.MAX_DEPTH.int_value()
    depth, line = _json_depth(text, max_depth)
    if depth > max_depth:
        raise ProjectFormatError(
            f"{src}: nested more than {max_depth} levels deep (line {line}): a project is a "
            f"few levels deep; {limits.MAX_DEPTH.hint()}"
        )
    max_digits = limits.MAX_INT_DIGITS.int_value()

    def parse_int(literal: str) -> int:
        if len(literal.lstrip("-")) > max_digits:
            raise _TooManyDigits(literal)
        return int(literal)

    try:
        data = json.loads(text, parse_int=parse_int)
    except json.JSONDecodeError as e:
        raise ProjectFormatError(f"{src}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    except _TooManyDigits as e:
        at = text.find(e.args[0])
        raise ProjectFormatError(
            f"{src}: a whole number of {len(e.args[0]):,} digits at line "
            f"{text.count(chr(10), 0, max(at, 0)) + 1}: numbers in a project have at most "
            f"{max_digits} digits; {limits.MAX_INT_DIGITS.hint()}"
        ) from None
    except RecursionError:  # the depth scan above should make this unreachable; belt and braces
        raise ProjectFormatError(f"{src}: nested too deeply for this Python: a project is a few levels deep") from None
    _refuse_lone_surrogates(text, data, src)
    return data


class _TooManyDigits(ValueError):
    pass


_STRING_RE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_SURROGATE_RE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _json_depth(text: str, cap: int) -> tuple[int, int]:
    """(deepest nesting of [ and {, the line where it passes `cap`), without recursion: strings are
    blanked first so brackets inside them don't count."""
    bare = _STRING_RE.sub('""', text)
    brackets = re.sub(r"[^\[\]{}\n]", "", bare).encode("ascii", "ignore")
    if len(brackets) < 100_000:  # a normal project: a plain loop is quicker than importing numpy
        depth = deepest = 0
        line = 1
        for code in brackets:
            line += code == 10
            depth += 1 if code in (91, 123) else -1 if code in (93, 125) else 0
            if depth > deepest:
                deepest = depth
                if deepest == cap + 1:
                    return deepest, line
        return deepest, 1
    import numpy as np

    codes = np.frombuffer(brackets, dtype=np.uint8)
    step = np.where(
        (codes == ord("[")) | (codes == ord("{")), 1, np.where((codes == ord("]")) | (codes == ord("}")), -1, 0)
    ).astype(np.int64)
    depth_at = np.cumsum(step)
    deepest = int(depth_at.max())
    if deepest <= cap:
        return deepest, 1
    first = int(np.argmax(depth_at > cap))
    return deepest, int(np.count_nonzero(codes[:first] == ord("\n"))) + 1


def _refuse_lone_surrogates(text: str, data: Any, src: str) -> None:
    """JSON may spell a lone UTF-16 surrogate ("\\ud800"); it is not a character, cannot be saved as
    UTF-8 and breaks printing. Only checked when the text has such an escape at all."""
    hit = _SURROGATE_RE.search(text)
    if hit is None:
        return
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        line = text.count("\n", 0, hit.start()) + 1
        raise ProjectFormatError(
            f"{src}: line {line} has {hit.group(0)}, a lone surrogate escape that is not a "
            f"character: remove it or write the character itself"
        ) from None


def _type_name(v: Any) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "true/false",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(v), type(v).__name__)


MAX_WORD_CHARS = 256  # block ids, types, param names and link ends: no legitimate one comes near this


class _Fail:
    """Raises ProjectFormatError with `src: msg`."""

    def __init__(self, src: str):
        self.src = src

    def __call__(self, msg: str) -> None:
        raise ProjectFormatError(f"{self.src}: {msg}")


def _parse(data: Any, src: str, capped: bool = False) -> Project:
    """`capped`: apply the name and block-count limits (files read from disk; an in-memory copy of a
    design being edited is not refused for growing)."""
    fail = _Fail(src)
    if not isinstance(data, dict):
        fail(f"the file must hold a JSON object, found {_type_name(data)}")
    fmt = data.get("format")
    if fmt != FORMAT_NAME:
        fail(f'"format" must be "{FORMAT_NAME}", found {quote(fmt)}: this is not an RNN Studio project')
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        fail(f'"version" must be a whole number, found {quote(version)}')
    if version > FORMAT_VERSION:
        fail(
            f"written by a newer RNN Studio (format version {version}); this version reads up to "
            f"{FORMAT_VERSION}: update RNN Studio"
        )
    if version < 1:
        fail(f'"version" {version} is not a known format version (expected {FORMAT_VERSION})')
    name = data.get("name", "untitled")
    if not isinstance(name, str):
        fail(f'"name" must be a string, found {_type_name(name)}')
    max_name = limits.MAX_NAME_CHARS.int_value()
    if capped and len(name) > max_name:
        fail(
            f'"name" has {len(name):,} characters, more than {max_name}: shorten it ({quote(name, 30)}); '
            f"{limits.MAX_NAME_CHARS.hint()}"
        )
    blocks = _parse_blocks(data.get("blocks"), fail, capped)
    links = _parse_links(data.get("links", []), fail, capped)
    layout = data.get("layout", {})
    if not isinstance(layout, dict):
        fail(f'"layout" must be an object, found {_type_name(layout)}')
    training = data.get("training", {})
    if not isinstance(training, dict):
        fail(f'"training" must be an object, found {_type_name(training)}')
    extra = {k: v for k, v in data.items() if k not in KNOWN_TOP}
    return Project(name, blocks, links, layout, training, extra)


def _too_long(word: str, what: str, fail) -> None:
    if len(word) > MAX_WORD_CHARS:
        fail(f"{what} {quote(word, 30)} is {len(word):,} characters long, more than {MAX_WORD_CHARS}: shorten it")


def _parse_blocks(blocks_raw: Any, fail, capped: bool) -> list[Block]:
    if not isinstance(blocks_raw, list):
        fail(f'"blocks" must be a list of blocks, found {_type_name(blocks_raw)}')
    max_blocks = limits.MAX_BLOCKS.int_value()
    if capped and len(blocks_raw) > max_blocks:
        fail(
            f"the design has {len(blocks_raw):,} blocks, more than the limit of {max_blocks:,}: "
            f"{limits.MAX_BLOCKS.hint()}"
        )
    blocks = []
    for i, b in enumerate(blocks_raw):
        where = f"blocks[{i}]"
        if not isinstance(b, dict):
            fail(f"{where} must be an object with id, type and params, found {_type_name(b)}")
        bid, btype, params = b.get("id"), b.get("type"), b.get("params", {})
        if not isinstance(bid, str) or not bid:
            fail(f'{where}: "id" must be a non-empty string, found {quote(bid)}')
        _too_long(bid, f"{where}: the id", fail)
        where = f"block '{bid}'" if len(bid) <= 64 and bid.isprintable() else f"block {quote(bid, 40)}"
        if not isinstance(btype, str) or not btype:
            fail(f'{where}: "type" must be a block type name such as "GRU", found {quote(btype)}')
        _too_long(btype, f"{where}: the type", fail)
        if params is None:
            params = {}
        if not isinstance(params, dict):
            fail(f'{where}: "params" must be an object, found {_type_name(params)}')
        for key in params:
            _too_long(key, f"{where}: the param name", fail)
        extra = {k: v for k, v in b.items() if k not in ("id", "type", "params")}
        blocks.append(Block(bid, btype, dict(params), extra))
    return blocks


def _parse_links(links_raw: Any, fail, capped: bool) -> list[tuple[str, str]]:
    if not isinstance(links_raw, list):
        fail(f'"links" must be a list of [from, to] pairs, found {_type_name(links_raw)}')
    max_links = 4 * limits.MAX_BLOCKS.int_value()
    if capped and len(links_raw) > max_links:
        fail(
            f"the design has {len(links_raw):,} links, more than the limit of {max_links:,} (4 per block): "
            f"{limits.MAX_BLOCKS.hint()}"
        )
    links = []
    for i, link in enumerate(links_raw):
        if not (isinstance(link, list) and len(link) == 2 and all(isinstance(x, str) for x in link)):
            fail(f'links[{i}] must be a pair of block ids like ["x", "g"], found {quote(link)}')
        for end in link:
            _too_long(end, f"links[{i}]: the block id", fail)
        links.append((link[0], link[1]))
    return links
