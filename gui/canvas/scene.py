"""The scene: follows a Project through a ProjectBridge and reports user gestures as signals.

Orange's lesson: the scene keeps an id -> item map and follows the model's change events (typed events
from gui/bridge.py); items only paint, and the main window turns the scene's reports into undo commands.
A gesture in progress (the wire drag) is an interaction object (interactions.py) that gets the scene's
mouse events first. Nothing here decides whether a design is valid: link rules come from
`Project.can_link`, shapes and problems from `engine.check`.
"""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtWidgets import QGraphicsScene

from rnn_studio.engine import CATALOG, Project, fmt_shape

from .. import theme as themes
from ..bridge import BlockAdded, BlockMoved, BlockRemoved, LinkAdded, LinkRemoved, ParamChanged, ProjectEvent
from .interactions import NewLinkInteraction, UserInteraction
from .items import BlockItem, LinkItem, PortItem


class DesignScene(QGraphicsScene):
    """Follows a Project through a ProjectBridge; reports user gestures as signals."""

    linkRequested = Signal(str, str)  # src, dst: can_link said yes
    linkRejected = Signal(str)  # the reason, from can_link
    movesFinished = Signal(dict)  # id -> ((x0, y0), (x1, y1))
    blockDoubleClicked = Signal(str)
    wireHint = Signal(str, object, QPointF)  # hint text ('' = none), ok (True/False/None), cursor (scene)
    loaded = Signal()  # a design built over several event-loop turns is now fully on the canvas

    # A big design's items are built over several event-loop turns so the window keeps answering while it
    # opens (400 blocks at once held the GUI thread ~0.25 s): LOAD_PIECE blocks (then wires) at a time, as
    # many pieces per turn as fit in LOAD_TURN_S. A fixed 40 per turn was 9-16 ms, and Qt ran two or three of
    # those zero-interval turns back to back (gaps of ~48 ms in bench_gui_responsiveness --flow open400).
    # Designs up to LOAD_CHUNK blocks, and every design while `sync_load` is set, are built at once;
    # `finish_loading()` completes a load now.
    LOAD_CHUNK = 40
    LOAD_PIECE = 8
    LOAD_TURN_S = 0.006
    sync_load = False

    def __init__(self, parent=None):
        super().__init__(parent)
        self.project: Project | None = None
        self.bridge = None
        self.blocks: dict[str, BlockItem] = {}
        self.links: dict[tuple[str, str], LinkItem] = {}
        self.snap = True
        self.interaction: UserInteraction | None = None  # the gesture in progress, given mouse events first
        self._press_pos: dict[str, QPointF] = {}
        self.setSceneRect(-20000, -20000, 40000, 40000)
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
        self._rects = None  # (block items, (n, 4) array of their scene rects), built when a wire asks
        self._loading = None  # the steps left of a design being built over several turns
        self._load_timer = QTimer(self)
        self._load_timer.setInterval(1)  # not 0: an always-due timer ran turn after turn ahead of other timers
        self._load_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._load_timer.timeout.connect(self._load_step)

    def blocks_near(self, area: QRectF) -> list[BlockItem]:
        """The blocks whose rectangles meet `area`. A wire routes around and labels beside the blocks near
        it only: testing every wire against every block took seconds for a 400-block design."""
        if self._rects is None:
            items = list(self.blocks.values())
            rects = [it.mapRectToScene(it.rect()) for it in items]
            self._rects = (items, np.array([[r.left(), r.top(), r.right(), r.bottom()] for r in rects]).reshape(-1, 4))
        items, r = self._rects
        hit = (
            (r[:, 0] <= area.right()) & (r[:, 2] >= area.left()) & (r[:, 1] <= area.bottom()) & (r[:, 3] >= area.top())
        )
        return [items[i] for i in np.flatnonzero(hit)]

    # ------------------------------------------------------------------ model binding
    def set_bridge(self, bridge, prepare=None) -> None:
        """Show `bridge`'s design. `prepare()` runs before any item is built: at once for a small design,
        in the first loading turn of a big one (the main window places blocks saved without positions)."""
        if self.bridge is not None:
            self.bridge.edited.disconnect(self._edited)
            self.bridge.checked.disconnect(self.apply_check)
        self.clear_items()
        self.bridge, self.project = bridge, bridge.project
        bridge.edited.connect(self._edited)
        bridge.checked.connect(self.apply_check)
        steps = self._load_steps(prepare)
        if not self.builds_over_turns(self.project):
            for _ in steps:
                pass
        else:
            self._loading = steps
            self._load_timer.start()

    def builds_over_turns(self, project: Project) -> bool:
        """Whether `project`'s items would be built over several event-loop turns (see LOAD_CHUNK)."""
        return not self.sync_load and len(project.blocks) > self.LOAD_CHUNK

    @property
    def loading(self) -> bool:
        """True while a big design's items are still being built (see LOAD_CHUNK)."""
        return self._loading is not None

    def finish_loading(self) -> None:
        """Build what is left of a design being loaded, now."""
        while self._loading is not None:
            self._load_step()

    def _load_step(self) -> None:
        """One event-loop turn of loading: pieces until LOAD_TURN_S has passed (at least one)."""
        end = time.perf_counter() + self.LOAD_TURN_S
        while self._loading is not None:
            if next(self._loading, StopIteration) is StopIteration:
                self._stop_loading(done=True)
            elif time.perf_counter() >= end:
                return

    def _stop_loading(self, done: bool = False) -> None:
        was = self._loading is not None
        self._load_timer.stop()
        self._loading = None
        if was and done:
            self.loaded.emit()

    def _load_steps(self, prepare=None):
        """Build the design's items a piece per step: blocks, then wires, each showing the current check."""
        if prepare is not None:
            prepare()
            yield
        n = self.LOAD_PIECE
        ids = [b.id for b in self.project.blocks]
        for i in range(0, len(ids), n):
            present = {b.id for b in self.project.blocks}  # not removed by an edit since the last turn
            chunk = [bid for bid in ids[i : i + n] if bid in present]
            for bid in chunk:
                self._add_item(bid)
            self._check_items(self.bridge.result, chunk, ())
            yield
        keys = [tuple(link) for link in self.project.links]
        for i in range(0, len(keys), n):
            added = [k for k in keys[i : i + n] if self._add_link(k)]
            self._check_items(self.bridge.result, (), added)
            yield
        self._sync_links()  # edits made while loading

    def _edited(self, event: ProjectEvent) -> None:
        """Follow the model: one typed event per edit (gui/bridge.py)."""
        match event:
            case BlockAdded(block_id=block_id):
                self._add_item(block_id)
                self._sync_links()  # restore_block brings its links back too
            case BlockRemoved(block_id=block_id):
                self._remove_item(block_id)
                self._sync_links()
            case LinkAdded() | LinkRemoved():
                self._sync_links()
            case ParamChanged(block_id=block_id, name=name):
                self._param_changed(block_id, name)
            case BlockMoved(block_id=block_id):
                self._moved(block_id)

    def clear_items(self) -> None:
        self._stop_loading()
        self._rects = None
        self.set_interaction(None)
        for item in list(self.links.values()) + list(self.blocks.values()):
            self.removeItem(item)
        self.links.clear()
        self.blocks.clear()

    def block_items(self) -> list[BlockItem]:
        return list(self.blocks.values())

    def _add_item(self, block_id: str) -> None:
        if block_id in self.blocks:
            return
        block = self.project.block(block_id)
        item = BlockItem(block.id, block.type)
        item.set_params(block.resolved())
        pos = self.project.position(block_id) or (0.0, 0.0)
        item.set_model_pos(*pos)
        self.addItem(item)
        self.blocks[block_id] = item
        self._rects = None

    def _remove_item(self, block_id: str) -> None:
        item = self.blocks.pop(block_id, None)
        self._rects = None
        if item is not None:
            if isinstance(self.interaction, NewLinkInteraction) and self.interaction.port.block is item:
                self.interaction.cancel()
            self.removeItem(item)

    def _sync_links(self) -> None:
        want = [tuple(link) for link in self.project.links if link[0] in self.blocks and link[1] in self.blocks]
        for key in list(self.links):
            if key not in want:
                self.removeItem(self.links.pop(key))
        for key in want:
            self._add_link(key)

    def _add_link(self, key: tuple[str, str]) -> bool:
        """A wire for `key` if both its blocks are shown and it has none yet; True when one was added."""
        if key in self.links or key[0] not in self.blocks or key[1] not in self.blocks:
            return False
        item = LinkItem(self.blocks[key[0]], self.blocks[key[1]])
        self.addItem(item)
        item.update_path()
        self.links[key] = item
        return True

    def _param_changed(self, block_id: str, name: str) -> None:
        item = self.blocks.get(block_id)
        block = self.project.block(block_id)
        if item is not None and block is not None:
            item.set_params(block.resolved())
            self._rects = None  # a block's size may follow its params

    def _moved(self, block_id: str) -> None:
        item, pos = self.blocks.get(block_id), self.project.position(block_id)
        self._rects = None
        if item is not None and pos is not None and (item.pos().x(), item.pos().y()) != pos:
            item.set_model_pos(*pos)

    def apply_check(self, result) -> None:
        """Show the engine's verdict: shapes on wires, problem outlines and tooltips on blocks."""
        if self.project is None:
            return
        self._check_items(result, list(self.blocks), list(self.links))

    def _check_items(self, result, block_ids, link_keys) -> None:
        t = themes.current()
        per_block: dict[str, list[tuple[str, str]]] = {}
        for p in result.problems:
            if p.block is not None:
                per_block.setdefault(p.block, []).append((p.level, p.message))
        for bid in block_ids:
            item = self.blocks[bid]
            msgs = per_block.get(bid, [])
            level = "error" if any(lv == "error" for lv, _ in msgs) else ("warning" if msgs else None)
            item.set_check(level, msgs, result.shapes.get(bid), result.param_counts.get(bid), bid == result.output_id)
        for src, dst in link_keys:
            link = self.links[(src, dst)]
            shape = result.shapes.get(src)
            d = CATALOG.get(link.dst.type_name)
            prefix = ""
            if d is not None and d.max_inputs != 1:  # numbered inputs (Concat...); inputs_of scans every link
                ins = self.project.inputs_of(dst)
                prefix = f"#{ins.index(src) + 1}  " if len(ins) > 1 else ""
            if shape is None:
                link.set_label(prefix + "?" if prefix else "", None)
            else:
                dst_err = link.dst.level == "error" and any(src in m for _, m in per_block.get(dst, []))
                link.set_label(prefix + fmt_shape(shape), t.error if dst_err else None)

    def set_training_marks(self, colors: dict[str, str], alerts: dict[str, str]) -> None:
        """Show which curve belongs to which block, and training alerts, on the blocks (empty = clear)."""
        for bid, item in self.blocks.items():
            item.set_training(colors.get(bid), alerts.get(bid))

    def refresh_theme(self) -> None:
        for item in list(self.blocks.values()) + list(self.links.values()):
            if isinstance(item, BlockItem):
                item._state = None  # tooltips carry theme colours
            item.update()
        if self.bridge is not None:
            self.apply_check(self.bridge.result)

    # ------------------------------------------------------------------ gestures
    def block_moved(self, item: BlockItem) -> None:
        """Re-route the wires of a moved block, and wires it now blocks or no longer blocks."""
        self._rects = None
        area = item.sceneBoundingRect()
        for (s, d), link in self.links.items():
            if s == item.block_id or d == item.block_id or link.detoured or link.sceneBoundingRect().intersects(area):
                link.update_path()

    def selected_block_ids(self) -> list[str]:
        return [i.block_id for i in self.selectedItems() if isinstance(i, BlockItem)]

    def selected_links(self) -> list[tuple[str, str]]:
        return [i.key for i in self.selectedItems() if isinstance(i, LinkItem)]

    def select_blocks(self, ids) -> None:
        ids = set(ids)
        self.blockSignals(True)
        try:
            self.clearSelection()
            for bid in ids:
                if bid in self.blocks:
                    self.blocks[bid].setSelected(True)
        finally:
            self.blockSignals(False)
        self.selectionChanged.emit()

    def _port_at(self, pos: QPointF) -> PortItem | None:
        for item in self.items(pos):
            if isinstance(item, PortItem):
                return item
            if isinstance(item, BlockItem):
                return None  # a block above the port covers it
        return None

    def mousePressEvent(self, event) -> None:
        if self.interaction is not None and self.interaction.mouse_press(event):
            return
        port = self._port_at(event.scenePos()) if event.button() == Qt.MouseButton.LeftButton else None
        if port is not None:  # a drag from a port draws a wire (Orange: NewLinkAction)
            self.begin_wire(port, event.scenePos())
            event.accept()
            return
        super().mousePressEvent(event)
        self._press_pos = {i.block_id: i.pos() for i in self.selectedItems() if isinstance(i, BlockItem)}

    def mouseMoveEvent(self, event) -> None:
        if self.interaction is not None and self.interaction.mouse_move(event):
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if self.interaction is not None and self.interaction.mouse_release(event):
            return
        super().mouseReleaseEvent(event)
        moves = {}
        for bid, old in self._press_pos.items():
            item = self.blocks.get(bid)
            if item is not None and item.pos() != old:
                moves[bid] = ((old.x(), old.y()), (item.pos().x(), item.pos().y()))
        self._press_pos = {}
        if moves:
            self.movesFinished.emit(moves)

    # ------------------------------------------------------------------ interactions (the wire drag)
    def set_interaction(self, interaction: UserInteraction | None) -> None:
        """Make `interaction` the gesture in progress (cancelling the one before, if any)."""
        if self.interaction is not None and self.interaction is not interaction:
            self.interaction.cancel()
        self.interaction = interaction

    def interaction_ended(self, interaction: UserInteraction) -> None:
        if self.interaction is interaction:
            self.interaction = None

    def begin_wire(self, port: PortItem, pos: QPointF) -> None:
        wire = NewLinkInteraction(self, port)
        self.set_interaction(wire)
        wire.start(pos)

    def update_wire(self, pos: QPointF) -> None:
        if isinstance(self.interaction, NewLinkInteraction):
            self.interaction.move(pos)

    def end_wire(self, pos: QPointF) -> tuple[bool, str] | None:
        """Finish a wire drag at `pos`: request the link, or report why it is refused."""
        if isinstance(self.interaction, NewLinkInteraction):
            return self.interaction.release(pos)
        return None

    def cancel_wire(self) -> None:
        if isinstance(self.interaction, NewLinkInteraction):
            self.interaction.cancel()

    @property
    def wiring(self) -> bool:
        return isinstance(self.interaction, NewLinkInteraction)
