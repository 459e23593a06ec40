"""Canvas items: blocks, ports, links and the draft wire, and the painting helpers they share.

Items only paint and report what the user did (to their scene); they never edit the model. Colours come
from gui/theme.py. Flow is top to bottom: a block's input port is on its top edge, its output port on
the bottom edge.
"""

from __future__ import annotations

import functools

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFontMetricsF,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
    QPolygonF,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsObject,
    QGraphicsPathItem,
    QStyle,
    QStyleOptionGraphicsItem,
)

from rnn_studio.engine import CATALOG, fmt_shape
from rnn_studio.engine.design.blocks import RECURRENT

from .. import theme as themes
from ..icons import category_icon
from ..layout import BLOCK_H, BLOCK_W

GRID = 16.0
PORT_R = 6.0
HEADER_H = 26.0
RADIUS = 8.0


def snap_to_grid(v: float) -> float:
    """`v` rounded to the nearest grid line (GRID apart): where a dragged or placed block lands."""
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
    """An input (top) or output (bottom) port. The scene turns a drag from it into a NewLinkInteraction."""

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
        self.cost_text: str | None = None  # View > Show Cost: "1.2 M · 79%" (+ measured ms) beside the summary
        self.cost_share: float = 0.0  # the block's share of the design's MACs (or of the measured time)
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

    def set_cost(self, text: str | None, share: float = 0.0) -> None:
        """View > Show Cost: the cost beside the summary and a bar at the bottom as long as the share."""
        if (self.cost_text, self.cost_share) == (text, share):
            return
        self.cost_text, self.cost_share = text, share
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
                return QPointF(snap_to_grid(value.x()), snap_to_grid(value.y()))
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
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        self._paint_card(painter, t)
        self._paint_header(painter, t)
        self._paint_body(painter, t)
        self._paint_outline(painter, t, selected)
        if self.level:
            self._paint_problem_badge(painter, t)
        self._paint_training_marks(painter, t)
        if self.is_output and self.out_shape is not None:  # the design's output: its shape under the port
            _paint_pill(
                painter, t, QPointF(BLOCK_W / 2, BLOCK_H + 26), "output " + fmt_shape(self.out_shape), accent=True
            )

    def _paint_card(self, painter: QPainter, t) -> None:
        """Shadow, body, and the header band in the block's category colour."""
        rect = self.rect()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(t.color("shadow"))
        painter.drawRoundedRect(rect.translated(0, 2.5), RADIUS, RADIUS)
        painter.setBrush(t.color("block"))
        painter.drawRoundedRect(rect, RADIUS, RADIUS)
        header = QPainterPath()
        header.addRoundedRect(QRectF(0, 0, BLOCK_W, HEADER_H + RADIUS), RADIUS, RADIUS)
        clip = QPainterPath()
        clip.addRect(QRectF(0, 0, BLOCK_W, HEADER_H))
        painter.setBrush(t.category(self.category))
        painter.drawPath(header.intersected(clip))

    def _paint_header(self, painter: QPainter, t) -> None:
        """Category icon and type name; a recurrent block's direction and merge mode on the right."""
        icon = category_icon(self.category)
        if not icon.isNull():
            painter.drawPixmap(QRectF(7, 5, 16, 16).toRect(), icon.pixmap(32, 32))
        font = themes.ui_font(9)
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(t.color("header_text"))
        badge_w = self._paint_badges(painter, t) if self.type_name in RECURRENT else 0
        fm = QFontMetricsF(font)
        title = fm.elidedText(self.type_name, Qt.TextElideMode.ElideRight, BLOCK_W - 36 - badge_w)
        painter.drawText(
            QRectF(28, 0, BLOCK_W - 34 - badge_w, HEADER_H),
            Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
            title,
        )

    def _paint_body(self, painter: QPainter, t) -> None:
        """The id (bold) with the param count on the right, and the summary line under it."""
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
        room = BLOCK_W - 20
        if self.cost_text:
            room -= self._paint_cost(painter, t, fms) + 8
        summary = block_summary(self.type_name, self.params)
        painter.setFont(small)
        painter.setPen(t.color("muted"))
        painter.drawText(
            QRectF(10, HEADER_H + 25, max(room, 0), 18),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            fms.elidedText(summary, Qt.TextElideMode.ElideRight, max(room, 0)),
        )

    def _paint_cost(self, painter: QPainter, t, fms: QFontMetricsF) -> float:
        """The cost, right-aligned on the summary line, and a bar along the bottom as long as the block's
        share (amber from 40 % on); returns the text's width."""
        text = self.cost_text or ""
        font = themes.ui_font(8.5)
        font.setBold(True)
        painter.setFont(font)
        width = QFontMetricsF(font).horizontalAdvance(text)
        painter.setPen(t.color("warning") if self.cost_share >= 0.4 else t.color("text"))
        painter.drawText(
            QRectF(10, HEADER_H + 25, BLOCK_W - 20, 18),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            text,
        )
        if self.cost_share > 0:
            bar = max(3.0, (BLOCK_W - 16) * min(self.cost_share, 1.0))
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(t.color("warning") if self.cost_share >= 0.4 else t.color("accent"))
            painter.drawRoundedRect(QRectF(8, BLOCK_H - 6, bar, 3), 1.5, 1.5)
        return width

    def _paint_outline(self, painter: QPainter, t, selected: bool) -> None:
        """Link-target feedback, then problem state, selection, hover; a halo when selected and marked."""
        rect = self.rect()
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
            painter.setPen(QPen(t.color("accent"), 2))
            painter.drawRoundedRect(rect.adjusted(-4, -4, 4, 4), RADIUS + 3, RADIUS + 3)

    def _paint_problem_badge(self, painter: QPainter, t) -> None:
        """A "!" disc on the top-right corner in the error or warning colour."""
        color = t.color("error") if self.level == "error" else t.color("warning")
        c = QPointF(BLOCK_W - 2, -2)
        painter.setPen(QPen(t.color("block"), 2))
        painter.setBrush(color)
        painter.drawEllipse(c, 9, 9)
        f = themes.ui_font(9)
        f.setBold(True)
        painter.setFont(f)
        painter.setPen(t.color("badge_text"))
        painter.drawText(QRectF(c.x() - 9, c.y() - 9, 18, 18), Qt.AlignmentFlag.AlignCenter, "!")

    def _paint_training_marks(self, painter: QPainter, t) -> None:
        """The block's curve colour in the gradient chart (a stripe), and a gradient alert above the block."""
        if self.train_color is not None:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(self.train_color)
            painter.drawRoundedRect(QRectF(1.5, HEADER_H + 4, 4, BLOCK_H - HEADER_H - 8), 2, 2)
        if self.train_alert:
            alert_color = t.color("error")
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(alert_color, 2.2, Qt.PenStyle.DashLine))
            painter.drawRoundedRect(self.rect().adjusted(-3.5, -3.5, 3.5, 3.5), RADIUS + 2, RADIUS + 2)
            label = {
                "exploding": "exploding gradient",
                "vanishing": "vanishing gradient",
                "nonfinite": "non-finite gradient",
            }.get(self.train_alert, self.train_alert)
            _paint_pill(painter, t, QPointF(BLOCK_W / 2, -17), "⚠ " + label, color=alert_color)

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
        pen = QPen(t.color("header_text"), 1.6)
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
            painter.setPen(t.color("header_text"))
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


def pill_rect(center: QPointF, text: str) -> QRectF:
    w, h = _pill_size(text)
    return QRectF(center.x() - w / 2, center.y() - h / 2, w, h)


@functools.lru_cache(maxsize=1024)
def _pill_size(text: str) -> tuple[float, float]:
    """A shape label's size; measured once per text (a 400-block design asks ~1,600 times on opening)."""
    fm = QFontMetricsF(themes.mono_font(8.5))
    return fm.horizontalAdvance(text) + 14, fm.height() + 6


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
                for it in scene.blocks_near(path.boundingRect().adjusted(-4, -4, 4, 4))
                if it is not self.src
                and it is not self.dst
                and path.intersects(it.mapRectToScene(it.rect()).adjusted(-4, -4, 4, 4))
            ]
            if obstacles:
                half = pill_rect(QPointF(), self.label).width() / 2 if self.label else 0.0
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
        pill = pill_rect(QPointF(), self.label)  # a label lies on the wire or beside one of its ports
        dx, dy = pill.width() + 16, pill.height() + 16
        near = scene.blocks_near(path.boundingRect().adjusted(-dx, -dy, dx, dy))
        blocks = [it.mapRectToScene(it.rect()).adjusted(-3, -3, 3, 3) for it in near]

        def free(p: QPointF) -> bool:
            r = pill_rect(p, self.label)
            return not any(r.intersects(b) for b in blocks)

        if free(preferred):
            return preferred
        for k in range(1, 10):
            for t in (0.5 - k * 0.05, 0.5 + k * 0.05):
                p = path.pointAtPercent(t)
                if free(p):
                    return p
        # blocks close together: just below the output port, or just above the input port
        half = pill_rect(QPointF(), self.label).height() / 2 + 8
        a, b = path.pointAtPercent(0.0), path.pointAtPercent(1.0)
        for p in (QPointF(a.x(), a.y() + half + PORT_R), QPointF(b.x(), b.y() - half - PORT_R - 4)):
            if free(p):
                return p
        return preferred

    def boundingRect(self) -> QRectF:
        r = super().boundingRect().adjusted(-6, -6, 6, 6)
        if self.label:
            r = r.united(pill_rect(self.label_center, self.label).adjusted(-2, -2, 2, 2))
        return r

    def shape(self) -> QPainterPath:
        s = QPainterPathStroker()
        s.setWidth(12)
        p = s.createStroke(self.path())
        if self.label:
            p.addRect(pill_rect(self.label_center, self.label))
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
