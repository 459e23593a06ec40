"""The problems panel: the engine's errors and warnings, one row each; clicking a row selects the block."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeWidget, QTreeWidgetItem

from . import theme as themes

BLOCK_ROLE = Qt.ItemDataRole.UserRole + 1


def _dot_icon(color: str, glyph: str) -> QIcon:
    pm = QPixmap(32, 32)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setBrush(QColor(color))
    p.setPen(Qt.PenStyle.NoPen)
    p.drawEllipse(2, 2, 28, 28)
    f = themes.ui_font(14)
    f.setBold(True)
    p.setFont(f)
    p.setPen(QColor("#ffffff"))
    p.drawText(pm.rect(), Qt.AlignmentFlag.AlignCenter, glyph)
    p.end()
    return QIcon(pm)


class ProblemsPanel(QTreeWidget):
    blockActivated = Signal(str)  # a row naming a block was clicked
    countsChanged = Signal(int, int)  # errors, warnings

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setColumnCount(3)
        self.setHeaderLabels(["", "Block", "Message"])
        self.setRootIsDecorated(False)
        self.setIndentation(0)
        self.setUniformRowHeights(False)
        self.setWordWrap(True)
        self.setIconSize(QSize(14, 14))
        self.setAlternatingRowColors(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        h = self.header()
        h.setStretchLastSection(True)
        h.setSectionResizeMode(0, QHeaderView.ResizeMode.Fixed)
        h.resizeSection(0, 28)
        h.resizeSection(1, 110)
        self.itemClicked.connect(self._clicked)
        self.itemActivated.connect(self._clicked)
        self.problems = []
        self._ok_row = False

    def show_result(self, result, empty_design: bool = False) -> None:
        """The check's problems, errors first. An empty design (a first start, File > New) is a start, not
        a mistake: one neutral hint instead of a red "the design has no Input block"."""
        t = themes.current()
        if empty_design:
            self.problems = []
            self.clear()
            item = QTreeWidgetItem(["", "", "Empty design: drag an Input block from the palette to start (Shift+A)."])
            item.setForeground(2, QColor(t.muted))
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.addTopLevelItem(item)
            self.countsChanged.emit(0, 0)
            return
        self.problems = list(result.problems)
        icons = {"error": _dot_icon(t.error, "!"), "warning": _dot_icon(t.warning, "!")}
        self.clear()
        ordered = [p for p in self.problems if p.level == "error"] + [p for p in self.problems if p.level != "error"]
        for p in ordered:
            item = QTreeWidgetItem(["", p.block or "design", p.message])
            item.setIcon(0, icons.get(p.level, icons["warning"]))
            item.setData(0, BLOCK_ROLE, p.block)
            item.setToolTip(2, p.message)
            item.setToolTip(0, p.level)
            if p.block is None:
                item.setForeground(1, QColor(t.muted))
            self.addTopLevelItem(item)
        if not ordered:
            item = QTreeWidgetItem(["", "", "No problems: every block has a shape."])
            item.setIcon(0, _dot_icon(t.ok, "\u2713"))
            item.setForeground(2, QColor(t.muted))
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.addTopLevelItem(item)
        self.countsChanged.emit(len(result.errors), len(result.warnings))

    def rows(self) -> list[tuple[str, str | None, str]]:
        """(level, block, message) of each row as shown, for tests and the status bar."""
        levels = {id(p): p.level for p in self.problems}
        out = []
        ordered = [p for p in self.problems if p.level == "error"] + [p for p in self.problems if p.level != "error"]
        for p in ordered:
            out.append((levels[id(p)], p.block, p.message))
        return out

    def _clicked(self, item, column=0) -> None:
        bid = item.data(0, BLOCK_ROLE)
        if bid:
            self.blockActivated.emit(bid)
