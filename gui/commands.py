"""Undo commands. Each redo/undo calls Project edit methods only (Orange's lesson): the scene follows the
model's change events, so model and view cannot drift.

Removing blocks is a macro that first removes the selected links, then the blocks (each removal also
takes the block's links); undo replays the memos in reverse so blocks, links and their list positions
(= input order of Concatenate/Add) come back exactly.
"""

from __future__ import annotations

import copy
from contextlib import nullcontext
from typing import Any

from PySide6.QtGui import QUndoCommand

from rnn_studio.engine import Block, Project


class _Unset:
    """A param absent from the block (it takes its default). A singleton that survives deepcopy."""

    def __repr__(self) -> str:
        return "UNSET"

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


UNSET = _Unset()

ID_MOVE, ID_PARAM, ID_RENAME = 1001, 1002, 1003


class _Command(QUndoCommand):
    def __init__(self, project: Project, text: str, bridge=None):
        super().__init__(text)
        self.project = project
        self.bridge = bridge

    def _batch(self):
        return self.bridge.batch() if self.bridge is not None else nullcontext()


class AddBlocks(_Command):
    """Add blocks (with positions) and links among/into them (the palette; paste and duplicate use PasteBlocks)."""

    def __init__(
        self,
        project: Project,
        blocks: list[tuple[Block, tuple[float, float] | None]],
        links: list[tuple[str, str]] = (),
        text: str | None = None,
        bridge=None,
    ):
        if text is None:
            text = f"Add {blocks[0][0].type}" if len(blocks) == 1 else f"Add {len(blocks)} blocks"
        super().__init__(project, text, bridge)
        self.blocks = [(copy.deepcopy(b), pos) for b, pos in blocks]
        self.links = list(links)

    @property
    def ids(self) -> list[str]:
        return [b.id for b, _ in self.blocks]

    def redo(self) -> None:
        with self._batch():
            for block, pos in self.blocks:
                self.project.add_block(copy.deepcopy(block), pos=pos)
            for src, dst in self.links:
                self.project.add_link(src, dst)

    def undo(self) -> None:
        with self._batch():
            for src, dst in reversed(self.links):
                self.project.remove_link(src, dst)
            for block, _ in reversed(self.blocks):
                self.project.remove_block(block.id)


class PasteBlocks(_Command):
    """Paste or duplicate a fragment through `Project.paste` (fresh ids, links inside the fragment only).

    Redo after undo meets the same design again, so it gives the same ids; undo removes the new blocks
    last first, which takes their links too and leaves the design exactly as before."""

    def __init__(
        self,
        project: Project,
        fragment: Project,
        offset: tuple[float, float] = (0.0, 0.0),
        at: tuple[float, float] | None = None,
        text: str = "Paste",
        bridge=None,
    ):
        super().__init__(
            project, f"{text} {len(fragment.blocks)} block{'' if len(fragment.blocks) == 1 else 's'}", bridge
        )
        self.fragment, self.offset, self.at = fragment, offset, at
        self.ids: list[str] = []

    def redo(self) -> None:
        with self._batch():
            self.ids = list(self.project.paste(self.fragment, self.offset, self.at).values())

    def undo(self) -> None:
        with self._batch():
            for block_id in reversed(self.ids):
                self.project.remove_block(block_id)


class RemoveItems(_Command):
    """Delete blocks (with their links) and selected links; undo restores everything in place."""

    def __init__(
        self,
        project: Project,
        block_ids: list[str],
        links: list[tuple[str, str]] = (),
        text: str | None = None,
        bridge=None,
    ):
        ids = [b.id for b in project.blocks if b.id in set(block_ids)]  # file order
        links = [tuple(link) for link in links if link[0] not in ids and link[1] not in ids]
        if text is None:
            parts = []
            if ids:
                parts.append(f"{len(ids)} block{'s' if len(ids) > 1 else ''}" if len(ids) > 1 else f"'{ids[0]}'")
            if links:
                parts.append(f"{len(links)} link{'s' if len(links) > 1 else ''}")
            text = "Delete " + " and ".join(parts)
        super().__init__(project, text, bridge)
        self.block_ids = ids
        self.links = links
        self._link_memos: list[tuple[int, tuple[str, str]]] = []
        self._block_memos: list[dict[str, Any]] = []

    def redo(self) -> None:
        with self._batch():
            self._link_memos = [(self.project.remove_link(*link), link) for link in self.links]
            self._block_memos = [self.project.remove_block(bid) for bid in self.block_ids]

    def undo(self) -> None:
        with self._batch():
            for memo in reversed(self._block_memos):
                self.project.restore_block(memo)
            for index, link in reversed(self._link_memos):
                self.project.add_link(*link, index=index)


class AddLink(_Command):
    def __init__(self, project: Project, src: str, dst: str, bridge=None):
        super().__init__(project, f"Link '{src}' \u2192 '{dst}'", bridge)
        self.link = (src, dst)

    def redo(self) -> None:
        self.project.add_link(*self.link)

    def undo(self) -> None:
        self.project.remove_link(*self.link)


class MoveBlocks(_Command):
    """Move blocks to new positions. Consecutive nudges (arrow keys) of the same blocks merge."""

    def __init__(
        self,
        project: Project,
        moves: dict[str, tuple[tuple[float, float], tuple[float, float]]],
        text: str | None = None,
        mergeable: bool = False,
        bridge=None,
    ):
        if text is None:
            text = f"Move '{next(iter(moves))}'" if len(moves) == 1 else f"Move {len(moves)} blocks"
        super().__init__(project, text, bridge)
        self.moves = dict(moves)  # id -> (old, new)
        self.mergeable = mergeable

    def id(self) -> int:
        return ID_MOVE

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not (
            isinstance(other, MoveBlocks) and self.mergeable and other.mergeable and set(other.moves) == set(self.moves)
        ):
            return False
        for bid, (_, new) in other.moves.items():
            self.moves[bid] = (self.moves[bid][0], new)
        return True

    def redo(self) -> None:
        with self._batch():
            for bid, (_, new) in self.moves.items():
                self.project.set_position(bid, *new)

    def undo(self) -> None:
        with self._batch():
            for bid, (old, _) in self.moves.items():
                if old is not None:
                    self.project.set_position(bid, *old)


class SetParam(_Command):
    """Set (or with value=UNSET reset to default) one param. Typing into one field merges into one step."""

    def __init__(self, project: Project, block_id: str, name: str, value: Any, bridge=None):
        block = project.block(block_id)
        old = copy.deepcopy(block.params[name]) if name in block.params else UNSET
        shown = "default" if value is UNSET else _show(value)
        super().__init__(project, f"Set {block_id}.{name} = {shown}", bridge)
        self.block_id, self.name = block_id, name
        self.old, self.new = old, copy.deepcopy(value)

    def id(self) -> int:
        return ID_PARAM

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not (isinstance(other, SetParam) and other.block_id == self.block_id and other.name == self.name):
            return False
        self.new = other.new
        self.setText(other.text())
        if self.new is not UNSET and self.old is not UNSET and self.new == self.old:
            self.setObsolete(True)  # typed back to where it started: nothing to undo
        return True

    def _apply(self, value: Any) -> None:
        if value is UNSET:
            self.project.unset_param(self.block_id, self.name)
        else:
            self.project.set_param(self.block_id, self.name, copy.deepcopy(value))

    def redo(self) -> None:
        self._apply(self.new)

    def undo(self) -> None:
        self._apply(self.old)


class RenameProject(_Command):
    def __init__(self, project: Project, name: str, bridge=None):
        super().__init__(project, f"Rename design to '{name}'", bridge)
        self.old, self.new = project.name, name

    def id(self) -> int:
        return ID_RENAME

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, RenameProject):
            return False
        self.new = other.new
        self.setText(other.text())
        return True

    def redo(self) -> None:
        self.project.set_name(self.new)

    def undo(self) -> None:
        self.project.set_name(self.old)


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
