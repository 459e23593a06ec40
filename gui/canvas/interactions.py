"""Gestures on the canvas as objects (Orange's canvas/document/interactions.py).

While a `UserInteraction` is the scene's `interaction`, the scene hands it each mouse event first; a
handler returns True when it used the event, and the scene's own handling (selection, moving blocks)
is skipped. An interaction ends itself (`end`) or is cancelled (Escape, the scene cleared, its block
removed); either way it removes what it drew and the scene forgets it.

An interaction does not import the scene (the scene imports it): it names what it needs from its host in
`InteractionHost`, which `DesignScene` satisfies as it is.
"""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import QPointF, Qt, SignalInstance
from PySide6.QtWidgets import QGraphicsItem

from rnn_studio.engine import Project

from .items import BlockItem, PortItem, WireDraft


class InteractionHost(Protocol):
    """What a gesture uses of the scene it runs on (gui/canvas/scene.py's DesignScene)."""

    project: Project | None  # the design shown (set whenever a gesture can start)
    wireHint: SignalInstance  # (hint text, ok True/False/None, cursor position)
    linkRequested: SignalInstance  # (src, dst)
    linkRejected: SignalInstance  # (reason)

    def addItem(self, item: QGraphicsItem) -> None: ...

    def removeItem(self, item: QGraphicsItem) -> None: ...

    def items(self, pos: QPointF) -> list[QGraphicsItem]: ...

    def interaction_ended(self, interaction: UserInteraction) -> None: ...


class UserInteraction:
    """One gesture in progress on a scene. Subclasses override the handlers they need."""

    def __init__(self, scene: InteractionHost):
        self.scene = scene

    def mouse_press(self, event) -> bool:
        return False

    def mouse_move(self, event) -> bool:
        return False

    def mouse_release(self, event) -> bool:
        return False

    def cancel(self) -> None:
        """Abandon the gesture: nothing reaches the model."""
        self.end()

    def end(self) -> None:
        self.scene.interaction_ended(self)


class NewLinkInteraction(UserInteraction):
    """Drag a wire from a port to another block (either direction: out -> block, or in <- block).

    While dragging, the draft wire and the hovered block show whether `Project.can_link` allows the link,
    with the reason next to the cursor (the scene's `wireHint`). On release over a block the scene emits
    `linkRequested(src, dst)` or `linkRejected(reason)`; released elsewhere, nothing happens."""

    def __init__(self, scene: InteractionHost, port: PortItem):
        super().__init__(scene)
        self.port = port
        self.draft = WireDraft()
        self.target: BlockItem | None = None
        scene.addItem(self.draft)

    # ------------------------------------------------------------------ event handlers
    def mouse_press(self, event) -> bool:
        return True  # another button during the drag: the wire keeps the mouse

    def mouse_move(self, event) -> bool:
        self.move(event.scenePos())
        return True

    def mouse_release(self, event) -> bool:
        if event.button() == Qt.MouseButton.LeftButton:
            self.release(event.scenePos())
        return True

    # ------------------------------------------------------------------ the gesture
    def start(self, pos: QPointF) -> None:
        self.move(pos)

    def move(self, pos: QPointF) -> None:
        target = self._block_at(pos)
        if target is not self.target:
            self._set_target(target)
        ends = self._ends(target)
        if ends is None:
            self.draft.ok, self.draft.hint = None, ""
            end = pos
        else:
            ok, reason = self.scene.project.can_link(*ends)
            self.draft.ok = ok
            self.draft.hint = f"Link '{ends[0]}' \u2192 '{ends[1]}'" if ok else reason
            target.link_target = "ok" if ok else "bad"
            target.update()
            end = target.in_point() if self.port.kind == "out" else target.out_point()
        start = self.port.block.out_point() if self.port.kind == "out" else self.port.block.in_point()
        self.draft.set_ends(start, end, reverse=self.port.kind == "in")
        self.scene.wireHint.emit(self.draft.hint, self.draft.ok, pos)

    def release(self, pos: QPointF) -> tuple[bool, str] | None:
        """Finish at `pos`: request the link, or report why it is refused (None: not over a block)."""
        self.move(pos)
        ends = self._ends(self._block_at(pos))
        self.end()
        if ends is None:
            return None
        ok, reason = self.scene.project.can_link(*ends)
        if ok:
            self.scene.linkRequested.emit(*ends)
        else:
            self.scene.linkRejected.emit(reason)
        return ok, reason

    def end(self) -> None:
        self._set_target(None)
        if self.draft.scene() is not None:
            self.scene.removeItem(self.draft)
        self.scene.wireHint.emit("", None, QPointF())
        super().end()

    # ------------------------------------------------------------------ helpers
    def _set_target(self, target: BlockItem | None) -> None:
        if self.target is not None:
            self.target.link_target = None
            self.target.update()
        self.target = target

    def _block_at(self, pos: QPointF) -> BlockItem | None:
        for item in self.scene.items(pos):
            while item is not None and not isinstance(item, BlockItem):
                item = item.parentItem()
            if isinstance(item, BlockItem) and item is not self.port.block:
                return item
        return None

    def _ends(self, target: BlockItem | None) -> tuple[str, str] | None:
        if target is None:
            return None
        mine = self.port.block.block_id
        return (mine, target.block_id) if self.port.kind == "out" else (target.block_id, mine)
