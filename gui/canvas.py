"""The canvas: a QGraphicsScene that follows the model and a QGraphicsView for zoom, pan and drops.

Orange's lesson: the scene keeps an id -> item map and follows the model's change events (through
gui.bridge); items only paint and report what the user did (scene signals), and the main window turns
those reports into undo commands. Nothing here decides whether a design is valid: link rules come from
`Project.can_link`, shapes and problems from `engine.check`.

Flow is top to bottom: a block's input port is on its top edge, its output port on the bottom edge.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QCursor,
    QFontMetricsF,
    QKeyEvent,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
    QPolygonF,
    QTransform,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsObject,
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsView,
    QStyle,
    QStyleOptionGraphicsItem,
)

from rnn_studio.engine import CATALOG, Project, fmt_shape
from rnn_studio.engine.blocks import RECURRENT

from . import theme as themes
from .bridge import BlockAdded, BlockMoved, BlockRemoved, LinkAdded, LinkRemoved, ParamChanged, ProjectEvent
from .icons import category_icon
from .layout import BLOCK_H, BLOCK_W

MIME_BLOCK = "application/x-rnn-studio-block"  # palette drag payload: the block type name
GRID = 16.0
PORT_R = 6.0
HEADER_H = 26.0
RADIUS = 8.0


def _snap(v: float) -> float:
    return round(v / GRID) * GRID


def block_summary(type_name: str, p: dict) -> str:
    """One line under the block id: the params a user scans for (the BlockDef's summary)."""
    d = CATALOG.get(type_name)
    return "unknown type" if d is None else d.subtitle(p)


def _fmt_count(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1e6:.2f}M params"
    if n >= 10_000:
        return f"{n / 1e3:.1f}k params"
    return f"{n:,} params"


# ============================================================================ items
class PortItem(QGraphicsItem):
    """An input (top) or output (bottom) port. Dragging from it draws a wire (see DesignScene)."""

    def __init__(self, block: BlockItem, kind: str):
        super().__init__(block)
        self.block, self.kind = block, kind
        self.hovered = False
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setZValue(2)
        self.setToolTip("Drag to another block to link" if kind == "out" else "Drag from a block's output here")

    def boundingRect(self) -> QRectF:
        r = PORT_R + 4
        return QRectF(-r, -r, 2 * r, 2 * r)

    def shape(self) -> QPainterPath:
        p = QPainterPath()
        p.addEllipse(self.boundingRect())
        return p

    def paint(self, painter: QPainter, option, widget=None) -> None:
        t = themes.current()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        color = t.category(self.block.category)
        r = PORT_R + (2 if self.hovered else 0)
        painter.setPen(QPen(color, 2))
        painter.setBrush(QBrush(color if (self.hovered or self.kind == "out") else t.color("block")))
        painter.drawEllipse(QPointF(0, 0), r, r)

    def hoverEnterEvent(self, event) -> None:
        self.hovered = True
        self.update()

    def hoverLeaveEvent(self, event) -> None:
        self.hovered = False
        self.update()

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.scene() is not None:
            self.scene().begin_wire(self, event.scenePos())
            event.accept()
        else:
            event.ignore()

    def mouseMoveEvent(self, event) -> None:
        self.scene().update_wire(event.scenePos())

    def mouseReleaseEvent(self, event) -> None:
        self.scene().end_wire(event.scenePos())


class BlockItem(QGraphicsObject):
    """One block: header in its category colour, id, a summary line, ports, and its check state."""

    def __init__(self, block_id: str, type_name: str):
        super().__init__()
        self.block_id = block_id
        self.type_name = type_name
        d = CATALOG.get(type_name)
        self.category = d.category if d else "?"
        self.help = d.help if d else f"Unknown block type '{type_name}'"
        self.params: dict = {}
        self.level: str | None = None  # "error" | "warning" | None
        self.messages: list[tuple[str, str]] = []
        self.out_shape = None
        self.param_count: int | None = None
        self.is_output = False
        self.link_target: str | None = None  # "ok" | "bad" while a wire hovers over it
        self.train_color: QColor | None = None  # its curve colour in the Train panel's gradient chart
        self.train_alert: str | None = None  # "exploding" | "vanishing" | "nonfinite" from training
        self.hovered = False
        self._syncing = False
        self.setFlags(
            QGraphicsItem.GraphicsItemFlag.ItemIsMovable
            | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
            | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges
            | QGraphicsItem.GraphicsItemFlag.ItemIsFocusable
        )
        self.setAcceptHoverEvents(True)
        self.setZValue(1)
        self.in_port = PortItem(self, "in") if (d is None or d.max_inputs != 0) else None
        self.out_port = PortItem(self, "out")
        if self.in_port:
            self.in_port.setPos(BLOCK_W / 2, 0)
        self.out_port.setPos(BLOCK_W / 2, BLOCK_H)

    # ------------------------------------------------------------------ state from the model
    def set_params(self, params: dict) -> None:
        self.params = dict(params)
        self.update()

    def set_check(self, level, messages, out_shape, param_count, is_output) -> None:
        state = (level, messages, out_shape, param_count, is_output)
        if state == getattr(self, "_state", None) and self.toolTip():
            return
        self._state = state
        if is_output != self.is_output:
            self.prepareGeometryChange()
        self.level, self.messages = level, messages
        self.out_shape, self.param_count, self.is_output = out_shape, param_count, is_output
        self._update_tooltip()
        self.update()

    def set_training(self, color: str | None, alert: str | None) -> None:
        """Training marks: a stripe in the block's gradient-curve colour and an alert from the run."""
        new = (QColor(color) if color else None, alert)
        if (self.train_color, self.train_alert) == new:
            return
        if (alert is None) != (self.train_alert is None):
            self.prepareGeometryChange()
        self.train_color, self.train_alert = new
        self.update()

    def set_model_pos(self, x: float, y: float) -> None:
        self._syncing = True
        try:
            self.setPos(x, y)
        finally:
            self._syncing = False

    def _update_tooltip(self) -> None:
        t = themes.current()
        lines = [f"<b>{self.type_name}</b> &nbsp;<code>{self.block_id}</code>", f"<span>{self.help}</span>"]
        if self.out_shape is not None:
            lines.append(
                f"Output: <code>{fmt_shape(self.out_shape)}</code>"
                + (f" &middot; {self.param_count:,} parameters" if self.param_count else "")
            )
        for level, msg in self.messages:
            color = t.error if level == "error" else t.warning
            lines.append(f"<span style='color:{color}'><b>{level.capitalize()}:</b> {_html(msg)}</span>")
        self.setToolTip("<p style='white-space:pre-wrap'>" + "<br>".join(lines) + "</p>")

    # ------------------------------------------------------------------ geometry
    @property
    def bidirectional(self) -> bool:
        return bool(self.params.get("bidirectional"))

    def rect(self) -> QRectF:
        return QRectF(0, 0, BLOCK_W, BLOCK_H)

    def boundingRect(self) -> QRectF:
        r = self.rect().adjusted(-6, -12 - (22 if self.train_alert else 0), 12, 8)
        if self.is_output:
            r.setBottom(BLOCK_H + 44)
        return r

    def shape(self) -> QPainterPath:
        p = QPainterPath()
        p.addRoundedRect(self.rect(), RADIUS, RADIUS)
        return p

    def in_point(self) -> QPointF:
        return self.mapToScene(QPointF(BLOCK_W / 2, 0))

    def out_point(self) -> QPointF:
        return self.mapToScene(QPointF(BLOCK_W / 2, BLOCK_H))

    def itemChange(self, change, value):
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionChange and not self._syncing:
            scene = self.scene()
            if scene is not None and getattr(scene, "snap", False):
                return QPointF(_snap(value.x()), _snap(value.y()))
        elif change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            scene = self.scene()
            if scene is not None:
                scene.block_moved(self)
        elif change == QGraphicsItem.GraphicsItemChange.ItemSelectedHasChanged:
            self.setZValue(1.5 if value else 1)
        return super().itemChange(change, value)

    def hoverEnterEvent(self, event) -> None:
        self.hovered = True
        self.update()

    def hoverLeaveEvent(self, event) -> None:
        self.hovered = False
        self.update()

    def mouseDoubleClickEvent(self, event) -> None:
        if self.scene() is not None:
            self.scene().blockDoubleClicked.emit(self.block_id)
        event.accept()

    # ------------------------------------------------------------------ painting
    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        t = themes.current()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        rect = self.rect()
        cat = t.category(self.category)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)

        # shadow
        painter.setPen(Qt.PenStyle.NoPen)
        shadow = QColor(0, 0, 0, 70 if t.dark else 28)
        painter.setBrush(shadow)
        painter.drawRoundedRect(rect.translated(0, 2.5), RADIUS, RADIUS)

        # body
        painter.setBrush(t.color("block"))
        painter.drawRoundedRect(rect, RADIUS, RADIUS)

        # header
        header = QPainterPath()
        header.addRoundedRect(QRectF(0, 0, BLOCK_W, HEADER_H + RADIUS), RADIUS, RADIUS)
        clip = QPainterPath()
        clip.addRect(QRectF(0, 0, BLOCK_W, HEADER_H))
        painter.setBrush(cat)
        painter.drawPath(header.intersected(clip))

        # header content: icon + type, and bidirectional badge on the right
        icon = category_icon(self.category)
        if not icon.isNull():
            painter.drawPixmap(QRectF(7, 5, 16, 16).toRect(), icon.pixmap(32, 32))
        font = themes.ui_font(9)
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(QColor("#ffffff"))
        badge_w = self._paint_badges(painter, t) if self.type_name in RECURRENT else 0
        fm = QFontMetricsF(font)
        title = fm.elidedText(self.type_name, Qt.TextElideMode.ElideRight, BLOCK_W - 36 - badge_w)
        painter.drawText(
            QRectF(28, 0, BLOCK_W - 34 - badge_w, HEADER_H),
            Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
            title,
        )

        # body: id (bold) and summary; param count on the right
        font = themes.ui_font(10)
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(t.color("text"))
        fm = QFontMetricsF(font)
        count = _fmt_count(self.param_count) if self.param_count else ""
        small = themes.ui_font(8.5)
        fms = QFontMetricsF(small)
        painter.drawText(
            QRectF(10, HEADER_H + 5, BLOCK_W - 20, 20),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            fm.elidedText(self.block_id, Qt.TextElideMode.ElideRight, BLOCK_W - 24 - fms.horizontalAdvance(count)),
        )
        painter.setFont(small)
        painter.setPen(t.color("muted"))
        if count:
            painter.drawText(
                QRectF(10, HEADER_H + 5, BLOCK_W - 20, 20),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                count,
            )
        summary = block_summary(self.type_name, self.params)
        painter.drawText(
            QRectF(10, HEADER_H + 25, BLOCK_W - 20, 18),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            fms.elidedText(summary, Qt.TextElideMode.ElideRight, BLOCK_W - 20),
        )

        # outline: problem state, link-target feedback, selection, hover
        painter.setBrush(Qt.BrushStyle.NoBrush)
        if self.link_target:
            pen = QPen(t.color("ok") if self.link_target == "ok" else t.color("error"), 2.5, Qt.PenStyle.DashLine)
        elif self.level == "error":
            pen = QPen(t.color("error"), 2.5)
        elif self.level == "warning":
            pen = QPen(t.color("warning"), 2.5)
        elif selected:
            pen = QPen(t.color("accent"), 2)
        else:
            pen = QPen(t.color("accent") if self.hovered else t.color("block_border"), 1.2)
        painter.setPen(pen)
        painter.drawRoundedRect(rect.adjusted(0.5, 0.5, -0.5, -0.5), RADIUS, RADIUS)
        if selected and (self.level or self.link_target):
            halo = QColor(t.accent)
            painter.setPen(QPen(halo, 2))
            painter.drawRoundedRect(rect.adjusted(-4, -4, 4, 4), RADIUS + 3, RADIUS + 3)

        # problem badge
        if self.level:
            color = t.color("error") if self.level == "error" else t.color("warning")
            c = QPointF(BLOCK_W - 2, -2)
            painter.setPen(QPen(t.color("block"), 2))
            painter.setBrush(color)
            painter.drawEllipse(c, 9, 9)
            f = themes.ui_font(9)
            f.setBold(True)
            painter.setFont(f)
            painter.setPen(QColor("#ffffff"))
            painter.drawText(QRectF(c.x() - 9, c.y() - 9, 18, 18), Qt.AlignmentFlag.AlignCenter, "!")

        # training marks: the block's curve colour, and a gradient alert above the block
        if self.train_color is not None:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(self.train_color)
            painter.drawRoundedRect(QRectF(1.5, HEADER_H + 4, 4, BLOCK_H - HEADER_H - 8), 2, 2)
        if self.train_alert:
            alert_color = t.color("error")
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(alert_color, 2.2, Qt.PenStyle.DashLine))
            painter.drawRoundedRect(rect.adjusted(-3.5, -3.5, 3.5, 3.5), RADIUS + 2, RADIUS + 2)
            label = {
                "exploding": "exploding gradient",
                "vanishing": "vanishing gradient",
                "nonfinite": "non-finite gradient",
            }.get(self.train_alert, self.train_alert)
            _paint_pill(painter, t, QPointF(BLOCK_W / 2, -17), "⚠ " + label, color=alert_color)

        # the design's output: its shape under the output port
        if self.is_output and self.out_shape is not None:
            _paint_pill(
                painter, t, QPointF(BLOCK_W / 2, BLOCK_H + 26), "output " + fmt_shape(self.out_shape), accent=True
            )

    def _paint_badges(self, painter: QPainter, t) -> float:
        """Right side of a recurrent block's header: direction arrows and the merge mode."""
        p = self.params
        font = themes.ui_font(8)
        font.setBold(True)
        painter.setFont(font)
        fm = QFontMetricsF(font)
        text = ""
        if p.get("bidirectional"):
            text = p.get("merge_mode", "concat")
        elif p.get("go_backwards"):
            text = "reversed"
        arrows_w = 18
        w = (fm.horizontalAdvance(text) + 8 if text else 0) + arrows_w
        x0 = BLOCK_W - 8 - w
        cy = HEADER_H / 2
        pen = QPen(QColor("#ffffff"), 1.6)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        painter.setPen(pen)
        ax = x0 + 2
        if p.get("bidirectional"):
            _arrow(painter, QPointF(ax, cy - 3.5), QPointF(ax + 14, cy - 3.5))
            _arrow(painter, QPointF(ax + 14, cy + 3.5), QPointF(ax, cy + 3.5))
        elif p.get("go_backwards"):
            _arrow(painter, QPointF(ax + 14, cy), QPointF(ax, cy))
        else:
            _arrow(painter, QPointF(ax, cy), QPointF(ax + 14, cy))
        if text:
            painter.setPen(QColor("#ffffff"))
            painter.drawText(
                QRectF(x0 + arrows_w + 2, 0, w - arrows_w, HEADER_H),
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                text,
            )
        return w + 4


def _arrow(painter: QPainter, a: QPointF, b: QPointF) -> None:
    painter.drawLine(QLineF(a, b))
    d = -3.0 if b.x() > a.x() else 3.0
    painter.drawLine(QLineF(b, QPointF(b.x() + d, b.y() - 2.5)))
    painter.drawLine(QLineF(b, QPointF(b.x() + d, b.y() + 2.5)))


def _paint_pill(painter: QPainter, t, center: QPointF, text: str, accent=False, color=None) -> QRectF:
    font = themes.mono_font(8.5)
    painter.setFont(font)
    fm = QFontMetricsF(font)
    w, h = fm.horizontalAdvance(text) + 14, fm.height() + 6
    r = QRectF(center.x() - w / 2, center.y() - h / 2, w, h)
    border = QColor(color) if color else (t.color("accent") if accent else t.color("block_border"))
    painter.setPen(QPen(border, 1))
    painter.setBrush(t.color("label_bg"))
    painter.drawRoundedRect(r, h / 2, h / 2)
    painter.setPen(QColor(color) if color else (t.color("accent") if accent else t.color("label_text")))
    painter.drawText(r, Qt.AlignmentFlag.AlignCenter, text)
    return r


def _pill_rect(center: QPointF, text: str) -> QRectF:
    fm = QFontMetricsF(themes.mono_font(8.5))
    w, h = fm.horizontalAdvance(text) + 14, fm.height() + 6
    return QRectF(center.x() - w / 2, center.y() - h / 2, w, h)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class LinkItem(QGraphicsPathItem):
    """A wire src -> dst with the shape flowing along it on a label at its middle."""

    def __init__(self, src: BlockItem, dst: BlockItem):
        super().__init__()
        self.src, self.dst = src, dst
        self.label = ""
        self.label_color = None
        self.hovered = False
        self.label_center = QPointF()
        self.detoured = False
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setAcceptHoverEvents(True)
        self.setZValue(0)
        self.update_path()

    @property
    def key(self) -> tuple[str, str]:
        return (self.src.block_id, self.dst.block_id)

    def set_label(self, text: str, color=None) -> None:
        if text != self.label or color != self.label_color:
            self.prepareGeometryChange()
            resize = len(text) != len(self.label)
            self.label, self.label_color = text, color
            if resize:
                self.update_path()
            self.setToolTip(f"'{self.src.block_id}' \u2192 '{self.dst.block_id}': {text}" if text else "")
            self.update()

    def update_path(self) -> None:
        a, b = self.src.out_point(), self.dst.in_point()
        path = _wire_path(a, b)
        scene = self.scene()
        if scene is not None:
            obstacles = [
                it.sceneBoundingRect()
                for it in scene.block_items()
                if it is not self.src
                and it is not self.dst
                and path.intersects(it.mapRectToScene(it.rect()).adjusted(-4, -4, 4, 4))
            ]
            if obstacles:
                half = _pill_rect(QPointF(), self.label).width() / 2 if self.label else 0.0
                path, mid = _detour_path(a, b, obstacles, margin=max(28.0, half + 14))
                self.prepareGeometryChange()
                self.setPath(path)
                self.label_center = self._free_label_point(path, mid)
                self.detoured = True
                return
        self.prepareGeometryChange()
        self.detoured = False
        self.setPath(path)
        self.label_center = self._free_label_point(path, path.pointAtPercent(0.5))

    def _free_label_point(self, path: QPainterPath, preferred: QPointF) -> QPointF:
        """Where the shape label goes: `preferred`, or the point along the wire nearest its middle where the
        label covers no block (a label under a block cannot be read)."""
        scene = self.scene()
        if not self.label or scene is None:
            return preferred
        blocks = [it.mapRectToScene(it.rect()).adjusted(-3, -3, 3, 3) for it in scene.block_items()]

        def free(p: QPointF) -> bool:
            r = _pill_rect(p, self.label)
            return not any(r.intersects(b) for b in blocks)

        if free(preferred):
            return preferred
        for k in range(1, 10):
            for t in (0.5 - k * 0.05, 0.5 + k * 0.05):
                p = path.pointAtPercent(t)
                if free(p):
                    return p
        # blocks close together: just below the output port, or just above the input port
        half = _pill_rect(QPointF(), self.label).height() / 2 + 8
        a, b = path.pointAtPercent(0.0), path.pointAtPercent(1.0)
        for p in (QPointF(a.x(), a.y() + half + PORT_R), QPointF(b.x(), b.y() - half - PORT_R - 4)):
            if free(p):
                return p
        return preferred

    def boundingRect(self) -> QRectF:
        r = super().boundingRect().adjusted(-6, -6, 6, 6)
        if self.label:
            r = r.united(_pill_rect(self.label_center, self.label).adjusted(-2, -2, 2, 2))
        return r

    def shape(self) -> QPainterPath:
        s = QPainterPathStroker()
        s.setWidth(12)
        p = s.createStroke(self.path())
        if self.label:
            p.addRect(_pill_rect(self.label_center, self.label))
        return p

    def hoverEnterEvent(self, event) -> None:
        self.hovered = True
        self.update()

    def hoverLeaveEvent(self, event) -> None:
        self.hovered = False
        self.update()

    def paint(self, painter: QPainter, option, widget=None) -> None:
        t = themes.current()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        selected = self.isSelected()
        color = t.color("accent") if (selected or self.hovered) else t.color("wire")
        pen = QPen(color, 2.6 if selected else (2.2 if self.hovered else 1.8))
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self.path())
        # arrow head into the input port
        end = self.path().pointAtPercent(1.0)
        painter.setBrush(color)
        painter.setPen(Qt.PenStyle.NoPen)
        tip = QPointF(end.x(), end.y() - PORT_R - 1)
        painter.drawPolygon(QPolygonF([tip, QPointF(tip.x() - 5, tip.y() - 8), QPointF(tip.x() + 5, tip.y() - 8)]))
        if self.label:
            _paint_pill(painter, t, self.label_center, self.label, accent=selected, color=self.label_color)


def _wire_path(a: QPointF, b: QPointF) -> QPainterPath:
    k = max(36.0, abs(b.y() - a.y()) * 0.5, abs(b.x() - a.x()) * 0.15 if b.y() < a.y() else 0)
    path = QPainterPath(a)
    path.cubicTo(QPointF(a.x(), a.y() + k), QPointF(b.x(), b.y() - k), b)
    return path


def _detour_path(a: QPointF, b: QPointF, obstacles: list[QRectF], margin: float = 28.0) -> tuple[QPainterPath, QPointF]:
    """Route a wire around blocks in the way: down from a, along a side lane (room for its label), into b."""
    left = min(r.left() for r in obstacles) - margin
    right = max(r.right() for r in obstacles) + margin
    mid_x = (a.x() + b.x()) / 2
    lane = right if abs(right - mid_x) <= abs(mid_x - left) else left
    top = min(min(r.top() for r in obstacles) - 8, (a.y() + b.y()) / 2)
    bottom = max(max(r.bottom() for r in obstacles) + 8, top + 1)
    top = max(top, a.y() + 24)
    bottom = min(bottom, b.y() - 24) if b.y() - 24 > top else bottom
    k1, k2 = max(20.0, (top - a.y()) * 0.6), max(20.0, (b.y() - bottom) * 0.6)
    path = QPainterPath(a)
    path.cubicTo(QPointF(a.x(), a.y() + k1), QPointF(lane, top - k1), QPointF(lane, top))
    path.lineTo(QPointF(lane, bottom))
    path.cubicTo(QPointF(lane, bottom + k2), QPointF(b.x(), b.y() - k2), b)
    return path, QPointF(lane, (top + bottom) / 2)


class WireDraft(QGraphicsPathItem):
    """The rubber-band wire while dragging from a port, with a hint (why not) next to the cursor."""

    def __init__(self):
        super().__init__()
        self.setZValue(10)
        self.hint = ""
        self.ok: bool | None = None
        self._end = QPointF()

    def set_ends(self, a: QPointF, b: QPointF, reverse: bool) -> None:
        self.prepareGeometryChange()
        self.setPath(_wire_path(b, a) if reverse else _wire_path(a, b))
        self._end = b

    def boundingRect(self) -> QRectF:
        return super().boundingRect().adjusted(-4, -4, 4, 4)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        t = themes.current()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        color = t.color("accent") if self.ok is None else (t.color("ok") if self.ok else t.color("error"))
        pen = QPen(color, 2, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self.path())


# ============================================================================ scene
class DesignScene(QGraphicsScene):
    """Follows a Project through a ProjectBridge; reports user gestures as signals."""

    linkRequested = Signal(str, str)  # src, dst: can_link said yes
    linkRejected = Signal(str)  # the reason, from can_link
    movesFinished = Signal(dict)  # id -> ((x0, y0), (x1, y1))
    blockDoubleClicked = Signal(str)
    wireHint = Signal(str, object, QPointF)  # hint text ('' = none), ok (True/False/None), cursor (scene)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.project: Project | None = None
        self.bridge = None
        self.blocks: dict[str, BlockItem] = {}
        self.links: dict[tuple[str, str], LinkItem] = {}
        self.snap = True
        self._wire: WireDraft | None = None
        self._wire_port: PortItem | None = None
        self._wire_target: BlockItem | None = None
        self._press_pos: dict[str, QPointF] = {}
        self.setSceneRect(-20000, -20000, 40000, 40000)
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)

    # ------------------------------------------------------------------ model binding
    def set_bridge(self, bridge) -> None:
        if self.bridge is not None:
            self.bridge.edited.disconnect(self._edited)
            self.bridge.checked.disconnect(self.apply_check)
        self.clear_items()
        self.bridge, self.project = bridge, bridge.project
        bridge.edited.connect(self._edited)
        bridge.checked.connect(self.apply_check)
        for b in self.project.blocks:
            self._add_item(b.id)
        self._sync_links()
        self.apply_check(bridge.result)

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
        self.cancel_wire()
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

    def _remove_item(self, block_id: str) -> None:
        item = self.blocks.pop(block_id, None)
        if item is not None:
            if self._wire_port is not None and self._wire_port.block is item:
                self.cancel_wire()
            self.removeItem(item)

    def _sync_links(self) -> None:
        want = [tuple(link) for link in self.project.links if link[0] in self.blocks and link[1] in self.blocks]
        for key in list(self.links):
            if key not in want:
                self.removeItem(self.links.pop(key))
        for key in want:
            if key not in self.links:
                item = LinkItem(self.blocks[key[0]], self.blocks[key[1]])
                self.addItem(item)
                item.update_path()
                self.links[key] = item

    def _param_changed(self, block_id: str, name: str) -> None:
        item = self.blocks.get(block_id)
        block = self.project.block(block_id)
        if item is not None and block is not None:
            item.set_params(block.resolved())

    def _moved(self, block_id: str) -> None:
        item, pos = self.blocks.get(block_id), self.project.position(block_id)
        if item is not None and pos is not None and (item.pos().x(), item.pos().y()) != pos:
            item.set_model_pos(*pos)

    def apply_check(self, result) -> None:
        """Show the engine's verdict: shapes on wires, problem outlines and tooltips on blocks."""
        if self.project is None:
            return
        t = themes.current()
        per_block: dict[str, list[tuple[str, str]]] = {}
        for p in result.problems:
            if p.block is not None:
                per_block.setdefault(p.block, []).append((p.level, p.message))
        for bid, item in self.blocks.items():
            msgs = per_block.get(bid, [])
            level = "error" if any(lv == "error" for lv, _ in msgs) else ("warning" if msgs else None)
            item.set_check(level, msgs, result.shapes.get(bid), result.param_counts.get(bid), bid == result.output_id)
        for (src, dst), link in self.links.items():
            shape = result.shapes.get(src)
            ins = self.project.inputs_of(dst)
            d = CATALOG.get(link.dst.type_name)
            prefix = f"#{ins.index(src) + 1}  " if (d is not None and d.max_inputs != 1 and len(ins) > 1) else ""
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

    def mousePressEvent(self, event) -> None:
        super().mousePressEvent(event)
        self._press_pos = {i.block_id: i.pos() for i in self.selectedItems() if isinstance(i, BlockItem)}

    def mouseReleaseEvent(self, event) -> None:
        super().mouseReleaseEvent(event)
        moves = {}
        for bid, old in self._press_pos.items():
            item = self.blocks.get(bid)
            if item is not None and item.pos() != old:
                moves[bid] = ((old.x(), old.y()), (item.pos().x(), item.pos().y()))
        self._press_pos = {}
        if moves:
            self.movesFinished.emit(moves)

    # ------------------------------------------------------------------ wire dragging (port-drag code path)
    def begin_wire(self, port: PortItem, pos: QPointF) -> None:
        self.cancel_wire()
        self._wire_port = port
        self._wire = WireDraft()
        self.addItem(self._wire)
        self.update_wire(pos)

    def _block_at(self, pos: QPointF) -> BlockItem | None:
        for it in self.items(pos):
            while it is not None and not isinstance(it, BlockItem):
                it = it.parentItem()
            if isinstance(it, BlockItem) and it is not self._wire_port.block:
                return it
        return None

    def _wire_ends(self, target: BlockItem | None) -> tuple[str, str] | None:
        if target is None:
            return None
        mine = self._wire_port.block.block_id
        return (mine, target.block_id) if self._wire_port.kind == "out" else (target.block_id, mine)

    def update_wire(self, pos: QPointF) -> None:
        if self._wire is None:
            return
        port = self._wire_port
        target = self._block_at(pos)
        if target is not self._wire_target:
            if self._wire_target is not None:
                self._wire_target.link_target = None
                self._wire_target.update()
            self._wire_target = target
        ends = self._wire_ends(target)
        if ends is None:
            self._wire.ok, self._wire.hint = None, ""
            end = pos
        else:
            ok, reason = self.project.can_link(*ends)
            self._wire.ok = ok
            self._wire.hint = f"Link '{ends[0]}' \u2192 '{ends[1]}'" if ok else reason
            target.link_target = "ok" if ok else "bad"
            target.update()
            end = target.in_point() if port.kind == "out" else target.out_point()
        start = port.block.out_point() if port.kind == "out" else port.block.in_point()
        self._wire.set_ends(start, end, reverse=port.kind == "in")
        self.wireHint.emit(self._wire.hint, self._wire.ok, pos)

    def end_wire(self, pos: QPointF) -> tuple[bool, str] | None:
        """Finish a wire drag at `pos`: request the link, or report why it is refused."""
        if self._wire is None:
            return None
        self.update_wire(pos)
        ends = self._wire_ends(self._block_at(pos))
        self.cancel_wire()
        if ends is None:
            return None
        ok, reason = self.project.can_link(*ends)
        if ok:
            self.linkRequested.emit(*ends)
        else:
            self.linkRejected.emit(reason)
        return ok, reason

    def cancel_wire(self) -> None:
        if self._wire_target is not None:
            self._wire_target.link_target = None
            self._wire_target.update()
            self._wire_target = None
        if self._wire is not None:
            self.removeItem(self._wire)
            self._wire = None
            self.wireHint.emit("", None, QPointF())
        self._wire_port = None

    @property
    def wiring(self) -> bool:
        return self._wire is not None


# ============================================================================ view
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
            painter.save()
            painter.resetTransform()
            painter.setFont(themes.ui_font(12))
            painter.setPen(t.color("muted"))
            painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter, self.empty_hint)
            painter.restore()
        text, ok, pos = self.wire_hint
        if text:  # why a link would be refused (or that it is fine), next to the cursor, kept inside the view
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
        if self.toast_text:
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
