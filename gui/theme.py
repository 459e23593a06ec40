"""Light and dark themes: one palette of named colours for widgets (QPalette + a small stylesheet) and
for the canvas painting. The system colour scheme decides unless the user (View > Theme) or
RNN_STUDIO_THEME=light|dark says otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontDatabase, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

CATEGORY_COLORS = {
    "Input": "#475569",
    "Recurrent": "#7c3aed",
    "Convolution": "#b45309",
    "Dense & activations": "#2563eb",
    "Merge": "#db2777",
    "Regularize": "#15803d",
    "Pooling & attention": "#0e7490",
}
FALLBACK_CATEGORY_COLOR = "#6b7280"


@dataclass(frozen=True)
class Theme:
    name: str
    window: str
    base: str  # inputs, lists
    alt_base: str
    text: str
    muted: str  # secondary text
    border: str
    accent: str
    accent_text: str
    canvas: str
    grid: str
    grid_major: str
    block: str  # block body fill
    block_border: str
    wire: str
    label_bg: str
    label_text: str
    error: str = "#dc2626"
    warning: str = "#d97706"
    ok: str = "#16a34a"
    header_text: str = "#ffffff"  # type name and arrows on a block's category-coloured header
    badge_text: str = "#ffffff"  # the "!" on a block's error/warning disc
    shadow: str = "#1c000000"  # under a block: #AARRGGBB, black at 11 %
    categories: dict = field(default_factory=lambda: dict(CATEGORY_COLORS))

    @property
    def dark(self) -> bool:
        return self.name == "dark"

    def color(self, name: str) -> QColor:
        return QColor(getattr(self, name))

    def category(self, category: str) -> QColor:
        return QColor(self.categories.get(category, FALLBACK_CATEGORY_COLOR))


LIGHT = Theme(
    name="light",
    window="#f3f4f6",
    base="#ffffff",
    alt_base="#f9fafb",
    text="#1f2937",
    muted="#5b6270",
    border="#d1d5db",
    accent="#2563eb",
    accent_text="#ffffff",
    canvas="#f7f8fa",
    grid="#eceff3",
    grid_major="#dfe3e9",
    block="#ffffff",
    block_border="#cbd5e1",
    wire="#64748b",
    label_bg="#ffffff",
    label_text="#334155",
)
DARK = Theme(
    name="dark",
    window="#1e1f22",
    base="#26282c",
    alt_base="#2b2d31",
    text="#e5e7eb",
    muted="#9ca3af",
    border="#3a3d43",
    accent="#4c8dff",
    accent_text="#0b1220",
    canvas="#18191c",
    grid="#1f2024",
    grid_major="#27292e",
    block="#2b2d31",
    block_border="#43464d",
    wire="#8b95a5",
    label_bg="#24262a",
    label_text="#d1d5db",
    error="#f87171",
    warning="#fbbf24",
    ok="#4ade80",
    shadow="#46000000",  # black at 27 %: a dark canvas needs a deeper shadow to show one
)

WINDOW_SIZE = (1400, 880)  # the first start's window, where the screen has room for it
WINDOW_FRAME = (16, 48)  # room left on the screen for the window manager's frame and title bar

UI_FONTS = ("Inter", "Segoe UI", "SF Pro Text", "Cantarell", "Noto Sans", "Ubuntu", "DejaVu Sans")
MONO_FONTS = ("JetBrains Mono", "Cascadia Mono", "SF Mono", "Consolas", "Noto Sans Mono", "DejaVu Sans Mono")


def _first_family(candidates, fallback: str) -> str:
    families = set(QFontDatabase.families())
    for name in candidates:
        if name in families:
            return name
    return fallback


def ui_font(point_size: float = 10) -> QFont:
    f = QFont(_first_family(UI_FONTS, QApplication.font().family()))
    f.setPointSizeF(point_size)
    return f


def mono_font(point_size: float = 9) -> QFont:
    f = QFont(_first_family(MONO_FONTS, "Monospace"))
    f.setStyleHint(QFont.StyleHint.Monospace)
    f.setPointSizeF(point_size)
    return f


def system_prefers_dark(fallback: bool | None = None) -> bool:
    hints = QGuiApplication.styleHints()
    scheme = getattr(hints, "colorScheme", None)
    if scheme is not None:
        value = scheme()
        if value == Qt.ColorScheme.Dark:
            return True
        if value == Qt.ColorScheme.Light:
            return False
    if fallback is not None:
        return fallback
    # unknown scheme: judge from the platform palette
    return QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


def _palette(t: Theme) -> QPalette:
    p = QPalette()
    R = QPalette.ColorRole
    p.setColor(R.Window, QColor(t.window))
    p.setColor(R.WindowText, QColor(t.text))
    p.setColor(R.Base, QColor(t.base))
    p.setColor(R.AlternateBase, QColor(t.alt_base))
    p.setColor(R.Text, QColor(t.text))
    p.setColor(R.Button, QColor(t.base if t.dark else t.window))
    p.setColor(R.ButtonText, QColor(t.text))
    p.setColor(R.Highlight, QColor(t.accent))
    p.setColor(R.HighlightedText, QColor(t.accent_text))
    p.setColor(R.ToolTipBase, QColor(t.base))
    p.setColor(R.ToolTipText, QColor(t.text))
    p.setColor(R.PlaceholderText, QColor(t.muted))
    p.setColor(R.Link, QColor(t.accent))
    p.setColor(R.Mid, QColor(t.border))
    p.setColor(R.Midlight, QColor(t.border))
    p.setColor(R.Dark, QColor(t.border))
    p.setColor(R.Light, QColor(t.base))
    for role in (R.Text, R.WindowText, R.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(t.muted))
    return p


def stylesheet(t: Theme) -> str:
    from .icons import ICONS

    up, down, check = (str(ICONS / f"{n}.svg").replace("\\", "/") for n in ("chevron-up", "chevron-down", "check"))
    return f"""
QMainWindow::separator {{ background: {t.border}; width: 1px; height: 1px; }}
QDockWidget {{ titlebar-close-icon: none; font-weight: 600; }}
QDockWidget::title {{ padding: 6px 10px; background: {t.window}; border-bottom: 1px solid {t.border}; }}
QToolBar {{ background: {t.window}; border: none; border-bottom: 1px solid {t.border};
    padding: 3px 6px; spacing: 2px; }}
QToolButton {{ border: 1px solid transparent; border-radius: 5px; padding: 3px 6px; }}
QToolButton:hover {{ background: {t.alt_base}; border-color: {t.border}; }}
QToolButton:checked {{ background: {t.alt_base}; border-color: {t.accent}; }}
QStatusBar {{ background: {t.window}; border-top: 1px solid {t.border}; }}
QStatusBar QLabel {{ padding: 0 6px; }}
QLineEdit, QSpinBox, QDoubleSpinBox, QComboBox {{ padding: 3px 6px; border: 1px solid {t.border};
    border-radius: 4px; background: {t.base}; min-height: 20px; }}
QLineEdit:focus, QSpinBox:focus, QDoubleSpinBox:focus, QComboBox:focus {{ border-color: {t.accent}; }}
QSpinBox, QDoubleSpinBox {{ padding-right: 18px; }}
QSpinBox::up-button, QDoubleSpinBox::up-button {{ subcontrol-origin: border; subcontrol-position: top right;
    width: 18px; border: none; border-left: 1px solid {t.border}; border-top-right-radius: 4px; }}
QSpinBox::down-button, QDoubleSpinBox::down-button {{ subcontrol-origin: border; subcontrol-position: bottom right;
    width: 18px; border: none; border-left: 1px solid {t.border}; border-bottom-right-radius: 4px; }}
QSpinBox::up-button:hover, QDoubleSpinBox::up-button:hover,
QSpinBox::down-button:hover, QDoubleSpinBox::down-button:hover {{ background: {t.alt_base}; }}
QSpinBox::up-arrow, QDoubleSpinBox::up-arrow {{ image: url({up}); width: 12px; height: 12px; }}
QSpinBox::down-arrow, QDoubleSpinBox::down-arrow {{ image: url({down}); width: 12px; height: 12px; }}
QComboBox {{ padding-right: 22px; }}
QComboBox::drop-down {{ subcontrol-origin: padding; subcontrol-position: top right; width: 22px; border: none; }}
QComboBox::down-arrow {{ image: url({down}); width: 14px; height: 14px; }}
QComboBox QAbstractItemView {{ border: 1px solid {t.border}; background: {t.base};
    selection-background-color: {t.accent}; selection-color: {t.accent_text}; outline: 0; }}
QCheckBox::indicator {{ width: 16px; height: 16px; border: 1px solid {t.muted}; border-radius: 4px;
    background: {t.base}; }}
QCheckBox::indicator:hover {{ border-color: {t.accent}; }}
QCheckBox::indicator:checked {{ background: {t.accent}; border-color: {t.accent}; image: url({check}); }}
QLineEdit[invalid="true"] {{ border-color: {t.error}; }}
QTreeView, QTreeWidget, QListWidget {{ border: none; background: {t.base}; outline: 0; }}
QTreeView::item {{ padding: 3px 2px; }}
QTreeView::item:selected {{ background: {t.accent}; color: {t.accent_text}; border-radius: 3px; }}
QHeaderView::section {{ background: {t.window}; border: none; border-bottom: 1px solid {t.border};
    padding: 4px 6px; color: {t.muted}; }}
QScrollArea {{ border: none; background: {t.base}; }}
QLabel#InspectorTitle {{ font-size: 13pt; font-weight: 600; }}
QLabel#Muted {{ color: {t.muted}; }}
QLabel#ParamError {{ color: {t.error}; }}
QFrame#Separator {{ background: {t.border}; border: none; }}
QFrame#Card {{ background: {t.alt_base}; border: 1px solid {t.border}; border-radius: 6px; }}
QGraphicsView {{ border: none; }}
QMenu {{ padding: 4px; }}
QMenu::item {{ padding: 4px 24px 4px 12px; border-radius: 4px; }}
QMenu::item:selected {{ background: {t.accent}; color: {t.accent_text}; }}
QMenu::separator {{ height: 1px; background: {t.border}; margin: 4px 6px; }}
QScrollBar:vertical {{ background: transparent; width: 10px; margin: 0; }}
QScrollBar:horizontal {{ background: transparent; height: 10px; margin: 0; }}
QScrollBar::handle:vertical {{ background: {t.border}; border-radius: 4px; min-height: 24px; margin: 2px; }}
QScrollBar::handle:horizontal {{ background: {t.border}; border-radius: 4px; min-width: 24px; margin: 2px; }}
QScrollBar::handle:hover {{ background: {t.muted}; }}
QScrollBar::add-line, QScrollBar::sub-line {{ width: 0; height: 0; }}
QScrollBar::add-page, QScrollBar::sub-page {{ background: transparent; }}
QToolTip {{ background: {t.base}; color: {t.text}; border: 1px solid {t.border}; padding: 4px; }}
"""


class ThemeManager(QObject):
    """Holds the current theme; `mode` is "system", "light" or "dark". Emits `changed(Theme)`."""

    changed = Signal(object)

    def __init__(self, mode: str | None = None):
        super().__init__()
        env = os.environ.get("RNN_STUDIO_THEME", "").lower()
        self.mode = mode or (env if env in ("light", "dark") else "system")
        self.theme = LIGHT
        self._platform_dark = system_prefers_dark()  # before we replace the application palette
        hints = QGuiApplication.styleHints()
        if hasattr(hints, "colorSchemeChanged"):
            hints.colorSchemeChanged.connect(lambda *_: self.mode == "system" and self.apply())

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self.apply()

    def resolve(self) -> Theme:
        if self.mode == "dark":
            return DARK
        if self.mode == "light":
            return LIGHT
        return DARK if system_prefers_dark(self._platform_dark) else LIGHT

    def apply(self) -> Theme:
        app = QApplication.instance()
        self.theme = self.resolve()
        app.setStyle("Fusion")
        app.setPalette(_palette(self.theme))
        app.setStyleSheet(stylesheet(self.theme))
        self.changed.emit(self.theme)
        return self.theme


_manager: ThemeManager | None = None


def manager() -> ThemeManager:
    """The application's theme manager (created on first use)."""
    global _manager
    if _manager is None:
        _manager = ThemeManager()
        _manager.apply()
    return _manager


def active_manager() -> ThemeManager | None:
    """The designer's theme manager if one has been created (None in a bare panel: no theme applied yet,
    so a part shown alone keeps the light theme and creates none)."""
    return _manager


def current() -> Theme:
    return manager().theme
