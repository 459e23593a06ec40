"""The block palette: the engine's catalog grouped by category, with a filter field.

Drag a block onto the canvas (mime type canvas.MIME_BLOCK carrying the type name), or double-click /
press Enter to add it at the centre of the view.
"""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QSize, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from rnn_studio.engine import CATALOG, CATEGORIES

from .canvas import MIME_BLOCK
from .icons import category_icon

TYPE_ROLE = Qt.ItemDataRole.UserRole + 1


class PaletteTree(QTreeWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.setIconSize(QSize(20, 20))
        self.setIndentation(12)
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setAnimated(True)
        self.setExpandsOnDoubleClick(False)

    def supportedDropActions(self):
        return Qt.DropAction.CopyAction

    def mimeTypes(self) -> list[str]:
        return [MIME_BLOCK]

    def mimeData(self, items) -> QMimeData:
        mime = QMimeData()
        names = [it.data(0, TYPE_ROLE) for it in items if it.data(0, TYPE_ROLE)]
        if names:
            mime.setData(MIME_BLOCK, names[0].encode("utf-8"))
            mime.setText(names[0])
        return mime


class Palette(QWidget):
    """Left dock: every block type of engine.CATALOG, grouped by engine.CATEGORIES."""

    addRequested = Signal(str)  # type name: add at the view centre

    def __init__(self, parent=None):
        super().__init__(parent)
        self.filter = QLineEdit(placeholderText="Filter blocks\u2026  (Ctrl+F)")
        self.filter.setClearButtonEnabled(True)
        self.tree = PaletteTree()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        lay.setSpacing(8)
        lay.addWidget(self.filter)
        lay.addWidget(self.tree)
        self.items: dict[str, QTreeWidgetItem] = {}
        self.groups: dict[str, QTreeWidgetItem] = {}
        for cat in CATEGORIES:
            group = QTreeWidgetItem([cat])
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            f = group.font(0)
            f.setBold(True)
            group.setFont(0, f)
            group.setIcon(0, category_icon(cat))
            self.tree.addTopLevelItem(group)
            self.groups[cat] = group
            for d in CATALOG.values():
                if d.category != cat:
                    continue
                item = QTreeWidgetItem([d.type])
                item.setData(0, TYPE_ROLE, d.type)
                item.setIcon(0, category_icon(cat))
                n_in = (
                    "no input"
                    if d.max_inputs == 0
                    else (f"{d.min_inputs}+ inputs" if d.max_inputs is None else "1 input")
                )
                item.setToolTip(
                    0,
                    f"<b>{d.type}</b> <i>({cat}, {n_in})</i><br>{d.help}<br>"
                    f"<span style='color:gray'>Drag onto the canvas, or double-click to add.</span>",
                )
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled)
                group.addChild(item)
                self.items[d.type] = item
            group.setExpanded(True)
        self.filter.textChanged.connect(self.apply_filter)
        self.filter.returnPressed.connect(self._add_first_visible)
        self.tree.itemActivated.connect(self._activated)

    def mime_data_for(self, type_name: str) -> QMimeData:
        """Exactly what a drag of this palette entry carries (for tests and keyboard adds)."""
        return self.tree.mimeData([self.items[type_name]])

    def apply_filter(self, text: str) -> None:
        text = text.strip().lower()
        for cat, group in self.groups.items():
            visible = 0
            for i in range(group.childCount()):
                item = group.child(i)
                name = item.data(0, TYPE_ROLE)
                hit = not text or text in name.lower() or text in CATALOG[name].help.lower() or text in cat.lower()
                item.setHidden(not hit)
                visible += hit
            group.setHidden(visible == 0)
        first = self._first_visible()
        if text and first is not None:
            self.tree.setCurrentItem(first)

    def _first_visible(self):
        for group in self.groups.values():
            if group.isHidden():
                continue
            for i in range(group.childCount()):
                if not group.child(i).isHidden():
                    return group.child(i)
        return None

    def _add_first_visible(self) -> None:
        item = self.tree.currentItem() if self.tree.currentItem() and not self.tree.currentItem().isHidden() else None
        item = item if item is not None and item.data(0, TYPE_ROLE) else self._first_visible()
        if item is not None:
            self.addRequested.emit(item.data(0, TYPE_ROLE))

    def _activated(self, item, column) -> None:
        name = item.data(0, TYPE_ROLE)
        if name:
            self.addRequested.emit(name)
        else:
            item.setExpanded(not item.isExpanded())
