"""The view: zoom (wheel, Ctrl +/-/0, fit), pan (middle drag, Space+drag), the grid, hints and toasts,
and drops from the palette.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QCursor, QFontMetricsF, QKeyEvent, QPainter, QPen, QTransform
from PySide6.QtWidgets import QGraphicsView

from rnn_studio.engine import CATALOG

from .. import theme as themes
from .items import GRID
from .scene import DesignScene

MIME_BLOCK = "application/x-rnn-studio-block"  # palette drag payload: the block type name


class DesignView(QGraphicsView):
    """Zoom (wheel, Ctrl +/-/0), pan (middle drag, Space+drag), rubber-band select, palette drops."""

    blockDropped = Signal(str, QPointF)  # type name, scene position of the cursor
    zoomChanged = Signal(float)
    nudgeRequested = Signal(float, float)  # arrow keys with blocks selected

    MIN_ZOOM, MAX_ZOOM = 0.15, 3.0

    def __init__(self, scene: DesignScene, parent=None):
        super().__init__(scene, parent)
        self._scene = scene  # a view does not own its scene: keep a reference
        self.setRenderHints(
            QPainter.RenderHint.Antialiasing
            | QPainter.RenderHint.TextAntialiasing
            | QPainter.RenderHint.SmoothPixmapTransform
        )
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.BoundingRectViewportUpdate)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.ItemSelectionMode.IntersectsItemShape)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._pan_from = None
        self._space = False
        self.toast_text = ""
        self.toast_level = "error"
        self._toast_timer = QTimer(self, singleShot=True, interval=4000, timeout=self.clear_toast)
        self.empty_hint = "Drag blocks here from the palette \u2014 or press Shift+A"
        self.wire_hint: tuple[str, object, QPointF] = ("", None, QPointF())
        scene.wireHint.connect(self._wire_hint)

    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, z: float, anchor_view_center: bool = False) -> None:
        z = max(self.MIN_ZOOM, min(self.MAX_ZOOM, z))
        if anchor_view_center:
            old = self.transformationAnchor()
            self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setTransform(QTransform.fromScale(z, z))
        if anchor_view_center:
            self.setTransformationAnchor(old)
        self.zoomChanged.emit(z)

    def zoom_by(self, factor: float) -> None:
        self.set_zoom(self.zoom() * factor, anchor_view_center=True)

    def fit(self, max_zoom: float = 1.0, min_zoom: float | None = None) -> None:
        """Zoom to show the whole design (never above `max_zoom`). With `min_zoom`, a design too tall to be
        readable at that zoom is shown from its top (the Input) at `min_zoom` instead."""
        items = self._scene.block_items()
        if not items:
            self.set_zoom(1.0)
            self.centerOn(0, 0)
            return
        rect = self._design_rect()
        vp = self.viewport().rect()
        z = min(vp.width() / max(rect.width(), 1), vp.height() / max(rect.height(), 1), max_zoom)
        if min_zoom is not None and z < min_zoom:
            self.set_zoom(min_zoom)
            half_h = vp.height() / 2 / min_zoom
            self.centerOn(rect.center().x(), rect.top() + half_h)
            return
        self.set_zoom(z)
        self.centerOn(rect.center())

    def open_view(self) -> None:
        """The view a freshly opened design gets: all of it, or its top part at a readable zoom."""
        self.fit(min_zoom=0.75)

    def _design_rect(self) -> QRectF:
        items = self._scene.block_items()
        rect = QRectF()
        for it in items:
            rect = rect.united(it.sceneBoundingRect())
        for link in self._scene.links.values():
            rect = rect.united(link.sceneBoundingRect())
        return rect.adjusted(-40, -40, 40, 40)

    def show_toast(self, text: str, level: str = "error") -> None:
        self.toast_text, self.toast_level = text, level
        self._toast_timer.start()
        self.viewport().update()

    def _wire_hint(self, text: str, ok, pos: QPointF) -> None:
        self.wire_hint = (text, ok, pos)
        self.viewport().update()

    def clear_toast(self) -> None:
        self.toast_text = ""
        self.viewport().update()

    # ------------------------------------------------------------------ painting
    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        t = themes.current()
        painter.fillRect(rect, t.color("canvas"))
        z = self.zoom()
        step = GRID if z >= 0.6 else GRID * 4
        left, top = math.floor(rect.left() / step) * step, math.floor(rect.top() / step) * step
        painter.setPen(QPen(t.color("grid"), 0))
        lines = []
        x = left
        while x < rect.right():
            if round(x / step) % 5:
                lines.append(QLineF(x, rect.top(), x, rect.bottom()))
            x += step
        y = top
        while y < rect.bottom():
            if round(y / step) % 5:
                lines.append(QLineF(rect.left(), y, rect.right(), y))
            y += step
        painter.drawLines(lines)
        painter.setPen(QPen(t.color("grid_major"), 0))
        major = step * 5
        lines = []
        x = math.floor(rect.left() / major) * major
        while x < rect.right():
            lines.append(QLineF(x, rect.top(), x, rect.bottom()))
            x += major
        y = math.floor(rect.top() / major) * major
        while y < rect.bottom():
            lines.append(QLineF(rect.left(), y, rect.right(), y))
            y += major
        painter.drawLines(lines)

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        t = themes.current()
        if not self._scene.blocks and self.empty_hint:
            self._draw_empty_hint(painter, t)
        if self.wire_hint[0]:
            self._draw_wire_hint(painter, t)
        if self.toast_text:
            self._draw_toast(painter, t)

    def _draw_empty_hint(self, painter: QPainter, t) -> None:
        """What to do on an empty canvas, in the middle of the view."""
        painter.save()
        painter.resetTransform()
        painter.setFont(themes.ui_font(12))
        painter.setPen(t.color("muted"))
        painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter, self.empty_hint)
        painter.restore()

    def _draw_wire_hint(self, painter: QPainter, t) -> None:
        """Why a link would be refused (or that it is fine), next to the cursor, kept inside the view."""
        text, ok, pos = self.wire_hint
        painter.save()
        painter.resetTransform()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        font = themes.ui_font(9)
        painter.setFont(font)
        fm = QFontMetricsF(font)
        vp = QRectF(self.viewport().rect())
        width = min(fm.horizontalAdvance(text) + 18, 380.0)
        lines = max(1, math.ceil((fm.horizontalAdvance(text) + 18) / 380.0))
        r = QRectF(0, 0, width, lines * fm.height() + 12)
        c = QPointF(self.mapFromScene(pos))
        r.moveTopLeft(c + QPointF(16, 18))
        if r.right() > vp.right() - 6:
            r.moveRight(c.x() - 12)
        if r.bottom() > vp.bottom() - 6:
            r.moveBottom(c.y() - 12)
        r.moveLeft(max(r.left(), 6))
        r.moveTop(max(r.top(), 6))
        color = t.color("accent") if ok is None else (t.color("ok") if ok else t.color("error"))
        painter.setPen(QPen(color, 1.2))
        painter.setBrush(t.color("base"))
        painter.drawRoundedRect(r, 5, 5)
        painter.setPen(t.color("text"))
        painter.drawText(r.adjusted(9, 6, -9, -6), Qt.TextFlag.TextWordWrap, text)
        painter.restore()

    def _draw_toast(self, painter: QPainter, t) -> None:
        """A message at the bottom of the view (a refused link, say) that goes away by itself."""
        painter.save()
        painter.resetTransform()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        font = themes.ui_font(9.5)
        painter.setFont(font)
        fm = QFontMetricsF(font)
        vp = self.viewport().rect()
        w = min(fm.horizontalAdvance(self.toast_text) + 32, vp.width() - 40)
        lines = max(1, math.ceil((fm.horizontalAdvance(self.toast_text) + 32) / max(w, 1)))
        h = lines * fm.height() + 16
        r = QRectF((vp.width() - w) / 2, vp.height() - h - 18, w, h)
        color = t.color("error") if self.toast_level == "error" else t.color("accent")
        painter.setPen(QPen(color, 1.2))
        painter.setBrush(t.color("base"))
        painter.drawRoundedRect(r, 6, 6)
        painter.setPen(t.color("text"))
        painter.drawText(
            r.adjusted(16, 8, -16, -8), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.toast_text
        )
        painter.restore()

    # ------------------------------------------------------------------ zoom and pan
    def wheelEvent(self, event) -> None:
        delta = event.angleDelta().y() or event.angleDelta().x()
        if not delta:
            return
        factor = 1.0015**delta
        z = max(self.MIN_ZOOM, min(self.MAX_ZOOM, self.zoom() * factor))
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.scale(z / self.zoom(), z / self.zoom())
        self.zoomChanged.emit(self.zoom())
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat() and not self._scene.wiring:
            self._space = True
            self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        if event.key() == Qt.Key.Key_Escape and self._scene.wiring:
            self._scene.cancel_wire()
            return
        steps = {Qt.Key.Key_Left: (-1, 0), Qt.Key.Key_Right: (1, 0), Qt.Key.Key_Up: (0, -1), Qt.Key.Key_Down: (0, 1)}
        if event.key() in steps and self._scene.selected_block_ids():
            dx, dy = steps[event.key()]
            step = GRID * (4 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1)
            self.nudgeRequested.emit(dx * step, dy * step)
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
            self.viewport().unsetCursor()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.MiddleButton:
            self._pan_from = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        if self._pan_from is not None:
            d = event.position() - self._pan_from
            self._pan_from = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(d.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(d.y()))
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.MiddleButton and self._pan_from is not None:
            self._pan_from = None
            self.viewport().unsetCursor()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    # ------------------------------------------------------------------ drops from the palette
    def _drop_type(self, event) -> str | None:
        mime = event.mimeData()
        if mime is None or not mime.hasFormat(MIME_BLOCK):
            return None
        name = bytes(mime.data(MIME_BLOCK)).decode("utf-8")
        return name if name in CATALOG else None

    def dragEnterEvent(self, event) -> None:
        if self._drop_type(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if self._drop_type(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragLeaveEvent(self, event) -> None:
        event.accept()

    def dropEvent(self, event) -> None:
        name = self._drop_type(event)
        if not name:
            event.ignore()
            return
        event.setDropAction(Qt.DropAction.CopyAction)  # never Move: the palette keeps its entry
        event.accept()
        self.blockDropped.emit(name, self.mapToScene(event.position().toPoint()))

    def cursor_scene_pos(self) -> QPointF:
        """The cursor in scene coordinates, or the view centre when the cursor is elsewhere."""
        p = self.viewport().mapFromGlobal(QCursor.pos())
        if self.viewport().rect().contains(p):
            return self.mapToScene(p)
        return self.mapToScene(self.viewport().rect().center())
