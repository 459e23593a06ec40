"""The designer's main window: palette (left), canvas (centre), inspector (right), problems (bottom),
status bar, menus and shortcuts. It owns the Project, its ProjectBridge and the QUndoStack, and turns
what the user did (scene / inspector / palette signals) into undo commands.

Hooks for other panels (a Train dock, an Export action):
    window.project / window.bridge           the model, and its Qt signals: bridge.edited(event), one typed
                                             event per edit (gui/bridge.py), and bridge.checked(CheckResult)
    window.designChanged(CheckResult)        after every edit and check (also on open / new)
    window.add_panel(widget, title, area)    a dock with a View-menu toggle
    window.menus["File"|"Edit"|"View"|"Design"|"Help"], window.toolbar, window.actions[name]
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from PySide6.QtCore import (
    QByteArray,
    QIODevice,
    QMimeData,
    QPoint,
    QPointF,
    QRect,
    QSaveFile,
    QSettings,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QActionGroup, QGuiApplication, QKeySequence, QUndoStack
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QTabBar,
    QToolBar,
    QToolTip,
    QWidget,
)

from rnn_studio.engine import CATALOG, CATEGORIES, EXTENSION, Block, Project, ProjectFormatError, load_project
from rnn_studio.engine.design.resources import memory_status
from rnn_studio.engine.limits import printable

from . import memory
from . import theme as themes
from .bridge import ParamChanged, ProjectBridge, ProjectEvent, ProjectRenamed
from .canvas import BLOCK_H, BLOCK_W, GRID, BlockItem, DesignScene, DesignView, LinkItem, snap_to_grid
from .commands import UNSET, AddBlocks, AddLink, MoveBlocks, PasteBlocks, RemoveItems, RenameProject, SetParam
from .icons import EXAMPLES, app_icon, category_icon
from .inspector import Inspector, memory_text
from .layout import LAYER_GAP, layered_layout
from .palette import Palette
from .problems import ProblemsPanel
from .recovery import Autosaver
from .theme import WINDOW_FRAME, WINDOW_SIZE

CLIP_MIME = "application/x-rnn-studio-blocks"
CLIP_FORMAT = "rnn-studio-clip"
MAX_RECENT = 10
FILE_FILTER = f"RNN Studio designs (*{EXTENSION});;JSON files (*.json);;All files (*)"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def window_geometry(available: QRect, restored: QRect | None = None) -> QRect:
    """Where the window goes on a screen whose free area is `available`: the restored geometry shrunk
    and moved to fit it, or (first start) WINDOW_SIZE shrunk to fit and centred. Room is left for the
    frame and title bar the window manager adds around the window's own geometry (WINDOW_FRAME)."""
    side, title = WINDOW_FRAME[0] // 2, WINDOW_FRAME[1] - WINDOW_FRAME[0] // 2
    room = available.adjusted(side, title, -side, -side)
    if restored is None or not restored.isValid():
        rect = QRect(QPoint(0, 0), QSize(*WINDOW_SIZE).boundedTo(room.size()))
        rect.moveCenter(room.center())
        return rect
    # a restored geometry was the person's own choice on a screen like this one: kept whole when it fits
    # the screen's free area, else shrunk and moved onto it (a saved geometry from a bigger monitor)
    rect = QRect(restored.topLeft(), restored.size().boundedTo(available.size()))
    left = min(max(rect.left(), available.left()), available.right() + 1 - rect.width())
    top = min(max(rect.top(), available.top()), available.bottom() + 1 - rect.height())
    rect.moveTopLeft(QPoint(left, top))
    return rect


def settings() -> QSettings:
    """Preferences and recent files (an INI file in the user's config folder)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "RNN Studio", "RNN Studio")


def _import_target(src: Path) -> Path:
    """<name>.rnn.json beside the model, or <name>-2.rnn.json… when that exists."""
    design, n = src.with_name(src.stem + EXTENSION), 1
    while design.exists():
        n += 1
        design = src.with_name(f"{src.stem}-{n}{EXTENSION}")
    return design


def _import_model(src: Path, design: Path):
    """Read the model, lay its design out, write the design and its run folder: (imported, run folder).
    No Qt object is touched, so File > Import Model… runs this on a worker thread."""
    from rnn_studio.engine.importers import import_model, write_import

    imported = import_model(src)
    MainWindow._ensure_layout(imported.project)
    return imported, write_import(imported, design, src.parent / "runs")


class MainWindow(QMainWindow):
    designChanged = Signal(object)  # CheckResult
    projectReplaced = Signal(object)  # Project (new / open / restore)
    aboutToSave = Signal(str)  # the file the design is being saved to (the Train panel's paths follow it)

    windows: list[MainWindow] = []  # open windows (keeps Python references alive)

    def __init__(
        self,
        project: Project | None = None,
        path: str | None = None,
        autosave: bool = True,
        restore_state: bool = False,
    ):
        super().__init__()
        MainWindow.windows.append(self)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowIcon(app_icon())
        self.setDockNestingEnabled(True)
        self.undo = QUndoStack(self)
        self.project: Project | None = None
        self.bridge: ProjectBridge | None = None
        self.path: str | None = None
        self.restored = False  # a recovered design counts as unsaved until saved
        self._paste_serial = 0
        self._last_clip = None

        self.scene = DesignScene(self)  # keep a Python reference: a view does not own its scene
        self.view = DesignView(self.scene)
        self.setCentralWidget(self.view)
        self.palette = Palette()
        self.inspector = Inspector()
        self.problems = ProblemsPanel()
        self.palette_dock = self._dock(self.palette, "Blocks", Qt.DockWidgetArea.LeftDockWidgetArea, "PaletteDock")
        self.inspector_dock = self._dock(
            self.inspector, "Inspector", Qt.DockWidgetArea.RightDockWidgetArea, "InspectorDock"
        )
        self.problems_dock = self._dock(
            self.problems, "Problems", Qt.DockWidgetArea.BottomDockWidgetArea, "ProblemsDock"
        )
        self.resizeDocks([self.palette_dock, self.inspector_dock], [250, 330], Qt.Orientation.Horizontal)
        # the Inspector keeps the window's full height on the right: with the Train tab open on a 1024x700
        # screen it showed ~50 px; the bottom area (Problems, Train, Tune) spans palette and canvas
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self._bottom_ready = False  # the bottom area opens on demand only once the window is shown
        self._error_count = 0
        self._import_request: int | None = None  # File > Import Model… in flight on a worker thread
        self._unwritten_settings: list[QSettings] = []  # written to disk on the next turn (add_recent)

        self.status_valid = QLabel()
        self.status_params = QLabel()
        self.status_zoom = QLabel("100%")
        self.statusBar().addWidget(self.status_valid)
        self.statusBar().addWidget(self.status_params)
        self.statusBar().addPermanentWidget(self.status_zoom)

        self.autosaver = Autosaver(lambda: (self.project, self.path), parent=self) if autosave else None
        self._build_actions()
        self._build_menus()
        self._connect()
        self.scene.snap = self.actions["snap"].isChecked()
        self.set_project(project or Project("untitled"), path)
        from .monitor.integration import install_training

        install_training(self)  # the Train dock, Design > Train / Export, training marks on the canvas
        from .cost_view import install_cost_view

        install_cost_view(self)  # View > Show Cost, Design > Profile Latency, MACs in the status bar
        self.resize(*WINDOW_SIZE)
        self._state_restored = False
        restored = False
        if restore_state:  # window geometry and dock layout from the last session
            s = settings()
            geometry, state = s.value("window/geometry"), s.value("window/state")
            if geometry is not None:
                restored = bool(self.restoreGeometry(geometry))
            if state is not None:
                self._state_restored = bool(self.restoreState(state))
        self.fit_to_screen(restored)
        memory.settle()  # the panels imported torch and pyqtgraph: ~200,000 objects a full collection skips

    def fit_to_screen(self, restored: bool = True) -> None:
        """The window fits the screen it opens on: a first start is centred at most WINDOW_SIZE, a
        restored geometry (saved on a bigger screen, or maximised) is clamped to this one."""
        screen = (self.screen() if restored else None) or QGuiApplication.primaryScreen()
        if screen is None:
            return
        self.setGeometry(window_geometry(screen.availableGeometry(), self.geometry() if restored else None))

    # ================================================================== structure
    def _dock(self, widget: QWidget, title: str, area, name: str) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(area, dock)
        return dock

    # ------------------------------------------------------------------ the bottom area (Problems, Train, Tune)
    def bottom_docks(self) -> list[QDockWidget]:
        return [
            d
            for d in self.findChildren(QDockWidget)
            if self.dockWidgetArea(d) == Qt.DockWidgetArea.BottomDockWidgetArea and not d.isFloating()
        ]

    def collapsed_bottom_height(self) -> int:
        """The tab bar's worth plus one line of the problems list: the design keeps the room."""
        fm = self.fontMetrics()
        title = fm.height() + 12  # the dock's title bar
        row = max(self.problems.sizeHintForRow(0), fm.height() + 6)
        return title + row + self.problems.header().sizeHint().height() + 2 * self.problems.frameWidth()

    def collapse_bottom(self) -> None:
        self.resizeDocks([self.problems_dock], [self.collapsed_bottom_height()], Qt.Orientation.Vertical)

    def bottom_is_collapsed(self) -> bool:
        heights = [d.height() for d in self.bottom_docks() if d.isVisible()]
        return not heights or max(heights) <= self.collapsed_bottom_height() + 8

    def open_bottom(self, dock: QDockWidget, height: int | None = None) -> None:
        """Show `dock`'s tab and give the bottom area room (at least `height` px, default 45 % of the window)."""
        dock.show()
        dock.raise_()
        want = height if height is not None else max(260, int(self.height() * 0.45))
        want = min(want, self.height() - 200)  # the canvas keeps a usable strip
        if dock.height() < want:
            self.resizeDocks([dock], [want], Qt.Orientation.Vertical)

    def _watch_bottom_tabs(self) -> None:
        """A click on a bottom tab opens the area (also on the tab already shown)."""
        for bar in self.findChildren(QTabBar):
            if bar.parent() is self and not bar.property("rnnWatched"):
                bar.setProperty("rnnWatched", True)
                bar.tabBarClicked.connect(lambda _i: QTimer.singleShot(0, self._open_current_bottom))

    def _open_current_bottom(self) -> None:
        shown = [d for d in self.bottom_docks() if d.isVisible() and not d.visibleRegion().isEmpty()]
        if shown:
            self.open_bottom(shown[0], 200 if shown[0] is self.problems_dock else None)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._bottom_ready:
            self._bottom_ready = True
            if not self._state_restored:
                self.collapse_bottom()
            QTimer.singleShot(0, self._watch_bottom_tabs)

    def add_panel(
        self,
        widget: QWidget,
        title: str,
        area=Qt.DockWidgetArea.BottomDockWidgetArea,
        tabify_with: QDockWidget | None = None,
    ) -> QDockWidget:
        """Add a dock (e.g. Train) with a toggle in the View menu; tabbed with the problems panel by default."""
        dock = self._dock(widget, title, area, title.replace(" ", "") + "Dock")
        if tabify_with is None and area == Qt.DockWidgetArea.BottomDockWidgetArea:
            tabify_with = self.problems_dock
        if tabify_with is not None:
            self.tabifyDockWidget(tabify_with, dock)
        self.menus["Panels"].addAction(dock.toggleViewAction())
        return dock

    def _action(
        self,
        key: str,
        text: str,
        slot=None,
        shortcut=None,
        tip: str | None = None,
        checkable=False,
        context=Qt.ShortcutContext.WindowShortcut,
    ) -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            seqs = shortcut if isinstance(shortcut, list) else [shortcut]
            a.setShortcuts([QKeySequence(s) for s in seqs])
            a.setShortcutContext(context)
        if tip:
            a.setStatusTip(tip)
        a.setCheckable(checkable)
        if slot is not None:
            a.triggered.connect(slot)
        tooltip = text.replace("&", "").replace("\u2026", "")
        if a.shortcut().toString():
            tooltip += f"  ({a.shortcut().toString(QKeySequence.SequenceFormat.NativeText)})"
        a.setToolTip(tooltip)
        self.addAction(a)
        self.actions[key] = a
        return a

    def _build_actions(self) -> None:
        self.actions: dict[str, QAction] = {}
        K = QKeySequence.StandardKey
        A = self._action
        A("new", "&New", self.file_new, K.New, "Start an empty design")
        A("new_window", "New &Window", self.new_window, "Ctrl+Shift+N", "Open another designer window")
        A("open", "&Open\u2026", self.file_open, K.Open, "Open a design file")
        A(
            "import",
            "&Import Model\u2026",
            self.file_import,
            "Ctrl+Shift+I",
            "Import a Keras 3 .keras or an ONNX model as a design, with its weights in a run folder",
        )
        A("save", "&Save", self.file_save, K.Save, "Save the design")
        A("save_as", "Save &As\u2026", self.file_save_as, "Ctrl+Shift+S", "Save the design under a new name")
        A("close", "&Close Window", self.close, "Ctrl+W")  # explicit: some platform themes map no key to Close/Quit
        A("quit", "&Quit", self.quit_all, "Ctrl+Q")
        undo = self.undo.createUndoAction(self, "&Undo")
        undo.setShortcuts([QKeySequence(K.Undo)])
        redo = self.undo.createRedoAction(self, "&Redo")
        redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        for key, a in (("undo", undo), ("redo", redo)):
            self.addAction(a)
            self.actions[key] = a
        canvas = Qt.ShortcutContext.WindowShortcut
        A("cut", "Cu&t", self.cut, K.Cut, "Cut the selected blocks", context=canvas)
        A("copy", "&Copy", self.copy, K.Copy, "Copy the selected blocks (as JSON)", context=canvas)
        A("paste", "&Paste", self.paste, K.Paste, "Paste blocks", context=canvas)
        A("duplicate", "D&uplicate", self.duplicate, "Ctrl+D", "Duplicate the selected blocks with their links")
        A(
            "delete",
            "&Delete",
            self.delete_selection,
            [QKeySequence(K.Delete), QKeySequence("Backspace")],
            "Delete the selected blocks and links",
            context=canvas,
        )
        A("select_all", "Select &All", self.select_all, K.SelectAll, context=canvas)
        A("zoom_in", "Zoom &In", lambda: self.view.zoom_by(1.25), [QKeySequence(K.ZoomIn), QKeySequence("Ctrl+=")])
        A("zoom_out", "Zoom &Out", lambda: self.view.zoom_by(0.8), K.ZoomOut)
        A("zoom_reset", "&Actual Size", lambda: self.view.set_zoom(1.0, True), "Ctrl+1")
        # a lambda: triggered(bool) would arrive as max_zoom=False and clamp the fit to the minimum zoom
        A("fit", "&Fit Design", lambda: self.view.fit(), "Ctrl+0", "Zoom to show the whole design")
        A("snap", "&Snap to Grid", self._toggle_snap, "Ctrl+Shift+G", checkable=True)
        self.actions["snap"].setChecked(settings().value("snapToGrid", True, type=bool))
        A("arrange", "Auto-&Arrange", self.auto_arrange, "Ctrl+L", "Lay the design out top to bottom")
        A("quick_add", "&Add Block\u2026", self.quick_add_menu, "Shift+A", "Add a block at the cursor")
        A("find_block", "&Find Block", self.focus_palette, K.Find, "Filter the block palette")
        A("shortcuts", "&Keyboard Shortcuts", self.show_shortcuts, "F1")
        A("about", "&About RNN Studio", self.show_about)
        self.theme_group = QActionGroup(self)
        for mode, text in (("system", "Follow &System"), ("light", "&Light"), ("dark", "&Dark")):
            a = A(f"theme_{mode}", text, lambda checked=False, m=mode: self.set_theme_mode(m), checkable=True)
            self.theme_group.addAction(a)
        self.actions[f"theme_{themes.manager().mode}"].setChecked(True)

    def _build_menus(self) -> None:
        self.menus: dict[str, QMenu] = {}
        mb = self.menuBar()
        a = self.actions

        m = self.menus["File"] = mb.addMenu("&File")
        m.addActions([a["new"], a["new_window"], a["open"], a["import"]])
        self.recent_menu = m.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self.examples_menu = m.addMenu("&Examples")
        for f in sorted(EXAMPLES.glob(f"*{EXTENSION}")):
            act = self.examples_menu.addAction(f.name[: -len(EXTENSION)], lambda p=str(f): self.open_example(p))
            act.setData(str(f))
        m.addSeparator()
        m.addActions([a["save"], a["save_as"]])
        m.addSeparator()
        m.addActions([a["close"], a["quit"]])

        m = self.menus["Edit"] = mb.addMenu("&Edit")
        m.addActions([a["undo"], a["redo"]])
        m.addSeparator()
        m.addActions([a["cut"], a["copy"], a["paste"], a["duplicate"], a["delete"]])
        m.addSeparator()
        m.addAction(a["select_all"])

        m = self.menus["View"] = mb.addMenu("&View")
        m.addActions([a["zoom_in"], a["zoom_out"], a["zoom_reset"], a["fit"]])
        m.addSeparator()
        m.addAction(a["snap"])
        theme_menu = m.addMenu("&Theme")
        theme_menu.addActions([a["theme_system"], a["theme_light"], a["theme_dark"]])
        m.addSeparator()
        self.menus["Panels"] = m.addMenu("&Panels")
        for dock in (self.palette_dock, self.inspector_dock, self.problems_dock):
            self.menus["Panels"].addAction(dock.toggleViewAction())

        m = self.menus["Design"] = mb.addMenu("&Design")
        m.addActions([a["quick_add"], a["find_block"]])
        m.addSeparator()
        m.addAction(a["arrange"])

        m = self.menus["Help"] = mb.addMenu("&Help")
        m.addActions([a["shortcuts"], a["about"]])

        tb = self.toolbar = QToolBar("Main")
        tb.setObjectName("MainToolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        tb.setIconSize(QSize(18, 18))
        for key in ("new", "open", "save", None, "undo", "redo", None, "duplicate", "delete", None, "arrange", "fit"):
            if key is None:
                tb.addSeparator()
            elif key in ("undo", "redo"):
                tb.addAction(self._fixed_undo_action(key))
            else:
                tb.addAction(a[key])
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)

    def _fixed_undo_action(self, key: str) -> QAction:
        """Undo / Redo for the toolbar: a fixed label (the toolbar does not shift as the menu's "Undo Set
        g.units = 65" grows); what it would undo is in its tooltip."""
        undo = key == "undo"
        a = QAction("Undo" if undo else "Redo", self)
        a.setObjectName(f"toolbar_{key}")
        a.triggered.connect(self.undo.undo if undo else self.undo.redo)
        a.setEnabled(False)
        (self.undo.canUndoChanged if undo else self.undo.canRedoChanged).connect(a.setEnabled)
        keys = self.actions[key].shortcut().toString(QKeySequence.SequenceFormat.NativeText)

        def tip(text: str) -> None:
            a.setToolTip(f"{'Undo' if undo else 'Redo'} {text}  ({keys})" if text else f"Nothing to {key}")

        (self.undo.undoTextChanged if undo else self.undo.redoTextChanged).connect(tip)
        tip("")
        return a

    def _connect(self) -> None:
        self.scene.linkRequested.connect(self.link)
        self.scene.linkRejected.connect(self.link_rejected)
        self.scene.movesFinished.connect(self._moves_finished)
        self.scene.loaded.connect(self.view.open_view)  # a big design built over several turns: fit it once whole
        self.scene.selectionChanged.connect(self._selection_changed)
        self.view.blockDropped.connect(self._dropped)
        self.view.nudgeRequested.connect(self.nudge)
        self.scene.blockDoubleClicked.connect(self._block_double_clicked)
        self.view.zoomChanged.connect(self._zoom_changed)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.palette.addRequested.connect(self.add_block_smart)
        self.inspector.paramEdited.connect(self.set_param)
        self.inspector.renameRequested.connect(self.rename_design)
        self.problems.blockActivated.connect(self.reveal_block)
        self.undo.cleanChanged.connect(self._clean_changed)
        self.undo.indexChanged.connect(self._after_edit)
        themes.manager().changed.connect(self._theme_changed)

    # ================================================================== the model
    def set_project(self, project: Project, path: str | None = None, modified: bool = False) -> None:
        if self.bridge is not None:
            self.bridge.detach()
            self.bridge.deleteLater()
        self.undo.clear()
        big = self.scene.builds_over_turns(project)
        if not big:
            self._ensure_layout(project)
        self.project, self.path = project, path
        self.restored = modified
        self.bridge = ProjectBridge(project, self)
        self.bridge.run_check()
        # a big design is placed (if saved without positions: 7 ms at 400 blocks) in the canvas's first
        # loading turn, not in this one: opening it held the event loop ~50 ms
        self.scene.set_bridge(self.bridge, prepare=(lambda: self._ensure_layout(project)) if big else None)
        self.bridge.checked.connect(self._checked)
        self.bridge.edited.connect(self._edited)
        self.inspector.set_project(project, self.bridge.result)
        self._checked(self.bridge.result)
        self.undo.setClean()
        self._update_title()
        self.projectReplaced.emit(project)
        if not big:  # a big one is fitted once it is all on the canvas (scene.loaded)
            QTimer.singleShot(0, self.view.open_view)
            self.view.open_view()

    @staticmethod
    def _ensure_layout(project: Project) -> None:
        """Blocks without a saved position get one from the layered layout (before any view follows)."""
        missing = [b.id for b in project.blocks if project.position(b.id) is None]
        if not missing:
            return
        placed = layered_layout([b.id for b in project.blocks], project.links)
        if len(missing) < len(project.blocks):  # keep saved positions; put the rest to the right
            xs = [project.position(b.id)[0] for b in project.blocks if project.position(b.id) is not None]
            dx = max(xs) + BLOCK_W + 80 - min(placed[m][0] for m in missing)
            placed = {m: (placed[m][0] + dx, placed[m][1]) for m in missing}
        for bid in missing:
            project.set_position(bid, *placed[bid])

    def _checked(self, result) -> None:
        errors = len(result.errors) if self.project.blocks else 0  # an empty design is a start, not a mistake
        if errors > self._error_count and self._bottom_ready and self.bottom_is_collapsed():
            self.open_bottom(self.problems_dock, 160)  # a new error: show the list
        self._error_count = errors
        self.problems.show_result(result, empty_design=not self.project.blocks)
        self.inspector.on_check(result)
        self._update_status(result)
        self.designChanged.emit(result)

    def _edited(self, event: ProjectEvent) -> None:
        if isinstance(event, ParamChanged):
            self.inspector.on_param_changed(event.block_id, event.name)
        elif isinstance(event, ProjectRenamed):
            self._update_title()

    def _clean_changed(self, *_args) -> None:
        self._update_title()

    def _zoom_changed(self, z: float) -> None:
        self.status_zoom.setText(f"{z * 100:.0f}%")

    def _after_edit(self, _index=None) -> None:
        QToolTip.hideText()  # a shown tooltip would still name the problem the edit (or undo) just changed
        self._update_title()
        if self.autosaver is not None:
            if self.is_modified():
                self.autosaver.mark_dirty()
            else:
                self.autosaver.discard()  # undone back to the saved state: nothing to recover

    def is_modified(self) -> bool:
        return self.restored or not self.undo.isClean()

    def _update_title(self) -> None:
        name = Path(self.path).name if self.path else f"{self.project.name} (unsaved)" if self.project else "untitled"
        self.setWindowTitle(f"{name}[*] \u2014 RNN Studio")
        self.setWindowModified(self.is_modified())
        self.actions["save"].setEnabled(True)

    def _update_status(self, result) -> None:
        t = themes.current()
        if not self.project.blocks:  # a new design: a hint in neutral text, not a red error count
            self.status_valid.setText(f"<span style='color:{t.muted}'>\u25cf Empty design</span>")
            self.status_valid.setToolTip("Drag an Input block from the palette to start (or press Shift+A)")
            self.status_params.setText("0 blocks")
            self.problems_dock.setWindowTitle("Problems")
            return
        if result.ok:
            text = f"<span style='color:{t.ok}'>\u25cf</span> Valid"
            if result.warnings:
                text += f" \u00b7 <span style='color:{t.warning}'>{_plural(len(result.warnings), 'warning')}</span>"
        else:
            text = f"<span style='color:{t.error}'>\u25cf</span> {_plural(len(result.errors), 'error')}" + (
                f", {_plural(len(result.warnings), 'warning')}" if result.warnings else ""
            )
        self.status_valid.setText(text)
        self.status_valid.setToolTip(f"Checked in {self.bridge.last_check_ms:.2f} ms" if self.bridge else "")
        blocks = _plural(len(self.project.blocks), "block")
        self.status_params.setText(f"{result.total_params:,} parameters{memory_text(result)} \u00b7 {blocks}")
        self.status_params.setToolTip(memory_status(result.resources)[1] if result.resources else "")
        counts = [_plural(len(result.errors), "error")] if result.errors else []
        counts += [_plural(len(result.warnings), "warning")] if result.warnings else []
        self.problems_dock.setWindowTitle("Problems" + (f" ({', '.join(counts)})" if counts else ""))

    # ================================================================== edits (all through the undo stack)
    def push(self, command) -> None:
        self.undo.push(command)

    def _placement(self, center: QPointF) -> tuple[float, float]:
        x, y = center.x() - BLOCK_W / 2, center.y() - BLOCK_H / 2
        if self.scene.snap:
            x, y = snap_to_grid(x), snap_to_grid(y)
        return (x, y)

    def add_block(self, type_name: str, center: QPointF | None = None, link_from: str | None = None) -> str:
        """Add a block centred at `center` (scene coordinates); optionally link `link_from` into it."""
        if center is None:
            center = self.view.mapToScene(self.view.viewport().rect().center())
        bid = self.project.new_id(type_name)
        links = []
        block = Block(bid, type_name, {})
        if link_from is not None:
            probe = self.project.copy()
            probe.add_block(Block(bid, type_name, {}))
            if probe.can_link(link_from, bid)[0]:
                links = [(link_from, bid)]
        self.push(AddBlocks(self.project, [(block, self._placement(center))], links, bridge=self.bridge))
        self.scene.select_blocks([bid])
        self.view.setFocus()
        return bid

    def add_block_smart(self, type_name: str) -> str:
        """Palette double-click / Enter: below the selected block and linked to it, else at the view centre."""
        sel = self.scene.selected_block_ids()
        if len(sel) == 1 and sel[0] in self.scene.blocks:
            item = self.scene.blocks[sel[0]]
            center = item.pos() + QPointF(BLOCK_W / 2, BLOCK_H * 1.5 + LAYER_GAP)
            bid = self.add_block(type_name, center, link_from=sel[0])
            self.reveal_block(bid, select=False)
            return bid
        return self.add_block(type_name)

    def _dropped(self, type_name: str, scene_pos: QPointF) -> None:
        self.add_block(type_name, scene_pos)
        self.activateWindow()

    def link(self, src: str, dst: str) -> bool:
        ok, reason = self.project.can_link(src, dst)
        if not ok:
            self.link_rejected(reason)
            return False
        self.push(AddLink(self.project, src, dst, bridge=self.bridge))
        self.statusBar().showMessage(f"Linked '{src}' \u2192 '{dst}'", 3000)
        return True

    def link_rejected(self, reason: str) -> None:
        self.statusBar().showMessage(f"Cannot link: {reason}", 8000)
        self.view.show_toast(f"Cannot link: {reason}")

    def _moves_finished(self, moves: dict) -> None:
        self.push(MoveBlocks(self.project, moves, bridge=self.bridge))

    def nudge(self, dx: float, dy: float) -> None:
        ids = self.scene.selected_block_ids()
        if not ids:
            return
        moves = {}
        for bid in ids:
            p = self.scene.blocks[bid].pos()
            moves[bid] = ((p.x(), p.y()), (p.x() + dx, p.y() + dy))
        self.push(
            MoveBlocks(
                self.project, moves, text=f"Nudge {_plural(len(ids), 'block')}", mergeable=True, bridge=self.bridge
            )
        )

    def set_param(self, block_id: str, name: str, value) -> bool:
        """One undo step, unless `value` is what the block already has (retyping a value changes nothing)."""
        block = self.project.block(block_id)
        if block is not None:
            if value is UNSET:
                if name not in block.params:
                    return False
            else:
                current = block.resolved().get(name, UNSET)
                if type(current) is type(value) and current == value:
                    return False
        self.push(SetParam(self.project, block_id, name, value, bridge=self.bridge))
        return True

    def rename_design(self, name: str) -> None:
        if name != self.project.name:
            self.push(RenameProject(self.project, name, bridge=self.bridge))

    def delete_selection(self) -> None:
        ids, links = self.scene.selected_block_ids(), self.scene.selected_links()
        if ids or links:
            self.push(RemoveItems(self.project, ids, links, bridge=self.bridge))

    def select_all(self) -> None:
        self.scene.select_blocks(list(self.scene.blocks))

    def auto_arrange(self) -> None:
        if not self.project.blocks:
            return
        first = self.project.position(self.project.blocks[0].id) or (0.0, 0.0)
        placed = layered_layout([b.id for b in self.project.blocks], self.project.links)
        ox, oy = first[0] - placed[self.project.blocks[0].id][0], first[1] - placed[self.project.blocks[0].id][1]
        moves = {}
        for bid, (x, y) in placed.items():
            new = (snap_to_grid(x + ox), snap_to_grid(y + oy))
            old = self.project.position(bid)
            if old != new:
                moves[bid] = (old, new)
        if moves:
            self.push(MoveBlocks(self.project, moves, text="Auto-arrange", bridge=self.bridge))
        self.view.fit()

    # ------------------------------------------------------------------ clipboard
    def clip_payload(self, ids: list[str]) -> dict:
        ids = [b.id for b in self.project.blocks if b.id in set(ids)]
        idset = set(ids)
        return {
            "format": CLIP_FORMAT,
            "version": 1,
            "blocks": [self.project.block(i).to_dict() for i in ids],
            "links": [list(link) for link in self.project.links if link[0] in idset and link[1] in idset],
            "layout": {i: list(self.project.position(i) or (0.0, 0.0)) for i in ids},
        }

    def copy(self) -> bool:
        ids = self.scene.selected_block_ids()
        if not ids:
            return False
        payload = self.clip_payload(ids)
        text = json.dumps(payload, indent=1)
        mime = QMimeData()
        mime.setData(CLIP_MIME, QByteArray(text.encode("utf-8")))
        mime.setText(text)
        QGuiApplication.clipboard().setMimeData(mime)
        self.statusBar().showMessage(f"Copied {len(ids)} block(s)", 3000)
        return True

    def cut(self) -> None:
        if self.copy():
            ids = self.scene.selected_block_ids()
            self.push(RemoveItems(self.project, ids, text=f"Cut {len(ids)} block(s)", bridge=self.bridge))

    def paste(self) -> list[str]:
        mime = QGuiApplication.clipboard().mimeData()
        if mime is None:
            return []
        raw = bytes(mime.data(CLIP_MIME)).decode("utf-8") if mime.hasFormat(CLIP_MIME) else mime.text()
        try:
            payload = json.loads(raw)
        except (ValueError, TypeError):
            self.statusBar().showMessage("Nothing to paste: the clipboard holds no RNN Studio blocks", 5000)
            return []
        if isinstance(payload, dict) and payload.get("format") == "rnn-studio":  # a whole design file
            try:
                p = Project.from_dict(payload)
            except ProjectFormatError as e:
                self.statusBar().showMessage(f"Cannot paste: {e}", 8000)
                return []
            payload = {
                "blocks": [b.to_dict() for b in p.blocks],
                "links": [list(x) for x in p.links],
                "layout": p.layout.get("blocks", {}),
            }
        if not isinstance(payload, dict) or not isinstance(payload.get("blocks"), list):
            self.statusBar().showMessage("Nothing to paste: the clipboard holds no RNN Studio blocks", 5000)
            return []
        self._paste_serial = self._paste_serial + 1 if raw == self._last_clip else 1
        self._last_clip = raw
        return self.insert_payload(payload, offset=GRID * 2 * self._paste_serial, text="Paste")

    def duplicate(self) -> list[str]:
        ids = self.scene.selected_block_ids()
        if not ids:
            return []
        return self.insert_payload(self.clip_payload(ids), offset=GRID * 2, text="Duplicate")

    def insert_payload(self, payload: dict, offset: float = 0.0, text: str = "Paste") -> list[str]:
        """Add copied blocks with fresh ids (links among them kept), shifted by `offset`, and select them."""
        try:
            fragment = Project.from_dict(
                {"format": "rnn-studio", "version": 1, "blocks": payload["blocks"], "links": payload.get("links", [])}
            )
        except (ProjectFormatError, KeyError, TypeError) as e:
            self.statusBar().showMessage(f"Cannot paste: {e}", 8000)
            return []
        if not fragment.blocks:
            return []
        layout = payload.get("layout") or {}
        if isinstance(layout, dict):
            fragment.layout["blocks"] = {b.id: layout[b.id] for b in fragment.blocks if b.id in layout}
        center = self.view.mapToScene(self.view.viewport().rect().center())
        command = PasteBlocks(
            self.project, fragment, (offset, offset), (center.x(), center.y()), text=text, bridge=self.bridge
        )
        self.push(command)
        self.scene.select_blocks(command.ids)
        return list(command.ids)

    # ------------------------------------------------------------------ selection and navigation
    def _selection_changed(self) -> None:
        try:
            ids = self.scene.selected_block_ids()
        except RuntimeError:
            return
        self.inspector.show_selection(ids)

    def reveal_block(self, block_id: str, select: bool = True) -> None:
        item = self.scene.blocks.get(block_id)
        if item is None:
            return
        if select:
            self.scene.select_blocks([block_id])
        self.view.ensureVisible(item.sceneBoundingRect(), 60, 60)

    def _block_double_clicked(self, block_id: str) -> None:
        """Double-click a block: edit it (focus the inspector's first field)."""
        self.scene.select_blocks([block_id])
        self.inspector_dock.show()
        self.inspector.focus_first_field()

    def focus_palette(self) -> None:
        self.palette_dock.show()
        self.palette.filter.setFocus()
        self.palette.filter.selectAll()

    def quick_add_menu(self) -> None:
        pos = self.view.cursor_scene_pos()
        menu = self._add_menu(pos)
        menu.exec(self.view.mapToGlobal(self.view.mapFromScene(pos)))

    def _add_menu(self, pos: QPointF, parent=None) -> QMenu:
        menu = QMenu("Add Block", parent or self)
        menu.setIcon(category_icon("Recurrent"))
        for cat in CATEGORIES:
            sub = menu.addMenu(category_icon(cat), cat.replace("&", "&&"))  # "Dense & activations": no mnemonic
            for d in CATALOG.values():
                if d.category == cat:
                    act = sub.addAction(d.type.replace("&", "&&"), lambda t=d.type: self.add_block(t, pos))
                    act.setToolTip(d.help)
            sub.setToolTipsVisible(True)
        return menu

    def _context_menu(self, view_pos) -> None:
        scene_pos = self.view.mapToScene(view_pos)
        item = self.view.itemAt(view_pos)
        while item is not None and not isinstance(item, (BlockItem, LinkItem)):
            item = item.parentItem()
        menu = QMenu(self)
        a = self.actions
        if isinstance(item, BlockItem):
            if not item.isSelected():
                self.scene.select_blocks([item.block_id])
            menu.addActions([a["cut"], a["copy"], a["duplicate"], a["delete"]])
        elif isinstance(item, LinkItem):
            self.scene.clearSelection()
            item.setSelected(True)
            menu.addAction("Delete Link", self.delete_selection)
        else:
            menu.addMenu(self._add_menu(scene_pos, menu))
            menu.addAction(a["paste"])
            menu.addSeparator()
            menu.addActions([a["select_all"], a["arrange"], a["fit"]])
        menu.exec(self.view.viewport().mapToGlobal(view_pos))

    # ================================================================== files
    def ask_save_changes(self) -> QMessageBox.StandardButton:
        """Save / Discard / Cancel; tests monkeypatch this instead of clicking a modal box."""
        name = Path(self.path).name if self.path else self.project.name
        return QMessageBox.question(
            self,
            "Unsaved changes",
            f"Save changes to '{name}' before closing it?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )

    def confirm_discard(self) -> bool:
        if not self.is_modified():
            return True
        answer = self.ask_save_changes()
        if answer == QMessageBox.StandardButton.Save:
            return self.file_save()
        return answer == QMessageBox.StandardButton.Discard

    def file_new(self) -> None:
        if self.confirm_discard():
            self._forget_recovery()
            self.set_project(Project("untitled"))

    def new_window(self) -> MainWindow:
        w = MainWindow()
        w.show()
        return w

    def file_open(self) -> None:
        start = str(Path(self.path).parent) if self.path else settings().value("lastDir", str(Path.cwd()))
        path, _ = QFileDialog.getOpenFileName(self, "Open design", start, FILE_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str) -> bool:
        if not self.confirm_discard():
            return False
        try:
            project = load_project(path)
        except ProjectFormatError as e:
            self.show_error("Cannot open design", str(e))
            return False
        self._forget_recovery()
        self.set_project(project, str(Path(path).resolve()))
        self.add_recent(self.path, last_dir=str(Path(path).resolve().parent))
        return True

    def file_import(self) -> None:
        start = settings().value("lastDir", str(Path.cwd()))
        path, _ = QFileDialog.getOpenFileName(self, "Import model", start, "Models (*.keras *.onnx);;All files (*)")
        if path:
            self.import_later(path)

    def import_path(self, path: str) -> bool:
        """Import a .keras / .onnx file: write <name>.rnn.json beside it and a run folder holding its weights
        under runs/ there (where the Train panel looks), then open the design with its lints and shapes."""
        if not self.confirm_discard():
            return False
        src = Path(path)
        design = _import_target(src)
        try:
            imported, run_dir = _import_model(src, design)
        except Exception as e:
            return self._import_failed(src, e)
        return self._import_landed(src, design, imported, run_dir)

    def import_later(self, path: str) -> int | None:
        """File > Import Model…: as import_path, with the model read and written on a worker thread (an ONNX
        bi-GRU stack held the GUI thread ~0.2 s); the design opens when it lands. Returns the request id."""
        from .monitor import reader

        if not self.confirm_discard():
            return None
        src = Path(path)
        design = _import_target(src)
        relay = reader.relay()
        self.statusBar().showMessage(f"Importing {src.name}\u2026")

        def landed(request: int, result, error) -> None:
            if request != self._import_request:
                return
            relay.called.disconnect(landed)
            self._import_request = None
            if error is not None:
                self._import_failed(src, error)
            else:
                self._import_landed(src, design, *result)

        relay.called.connect(landed)
        self._import_request = relay.call_later(lambda: _import_model(src, design))
        return self._import_request

    def _import_failed(self, src: Path, e: Exception) -> bool:
        from rnn_studio.engine.importers import ImportRefused

        if isinstance(e, ImportRefused):
            self.show_error("Cannot import model", str(e))
        elif isinstance(e, OSError):
            self.show_error("Cannot import model", f"{src.parent}: cannot write the design there ({e.strerror})")
        else:
            raise e
        return False

    def _import_landed(self, src: Path, design: Path, imported, run_dir) -> bool:
        self._forget_recovery()
        self.set_project(imported.project, str(design.resolve()))
        self.add_recent(self.path, last_dir=str(src.resolve().parent))
        self.statusBar().showMessage(f"Imported {src.name}: design {design.name}, weights in run {run_dir}", 10000)
        return True

    def open_example(self, path: str) -> bool:
        """Open an example as a new unsaved design (Save asks where, so examples stay pristine)."""
        if not self.confirm_discard():
            return False
        try:
            project = load_project(path)
        except ProjectFormatError as e:
            self.show_error("Cannot open example", str(e))
            return False
        project.path = None
        self._forget_recovery()
        self.set_project(project, None)
        return True

    def file_save(self) -> bool:
        if not self.path:
            return self.file_save_as()
        return self.save_to(self.path)

    def file_save_as(self) -> bool:
        start = self.path or str(Path(settings().value("lastDir", str(Path.cwd()))) / f"{self.project.name}{EXTENSION}")
        path, _ = QFileDialog.getSaveFileName(self, "Save design", start, FILE_FILTER)
        if not path:
            return False
        if not path.endswith(".json"):
            path += EXTENSION
        return self.save_to(path)

    def save_to(self, path: str) -> bool:
        """Atomic save with QSaveFile: the old file stays intact unless the new one is complete.
        An "untitled" design takes the file's name (runs and ONNX metadata carry it)."""
        if self.project.name.strip() in ("", "untitled"):
            stem = Path(path).name
            stem = stem[: -len(EXTENSION)] if stem.endswith(EXTENSION) else Path(path).stem
            if stem:  # a file name's undecodable bytes arrive as lone surrogates: escape them for UTF-8
                self.project.set_name(printable(stem))
        self.aboutToSave.emit(path)
        data = self.project.to_json().encode("utf-8")
        f = QSaveFile(path)
        if not f.open(QIODevice.OpenModeFlag.WriteOnly) or f.write(data) != len(data) or not f.commit():
            err = f.errorString()
            f.cancelWriting()
            self.show_error("Cannot save design", f"{path}: {err}")
            return False
        self.path = str(Path(path).resolve())
        self.project.path = self.path
        self.restored = False
        self.undo.setClean()
        self._forget_recovery()
        self.add_recent(self.path, last_dir=str(Path(self.path).parent))
        self._update_title()
        self.statusBar().showMessage(f"Saved {self.path}", 4000)
        return True

    def block_colors(self) -> dict[str, str]:
        """{block id: '#rrggbb'} of each block's category colour (for charts that should match the canvas)."""
        t = themes.current()
        return {bid: t.category(item.category).name() for bid, item in self.scene.blocks.items()}

    def show_error(self, title: str, text: str) -> QMessageBox | None:
        """The message in the status bar and in a window-modal box opened with open(), not exec(): the caller
        goes on at once (nothing waits for a click, so tests under a real display never hang)."""
        self.statusBar().showMessage(text, 10000)
        if os.environ.get("QT_QPA_PLATFORM") == "offscreen" or not self.isVisible():
            return None  # no one to click the box (screenshots, hidden windows)
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.open()
        self.error_box = box
        return box

    def add_recent(self, path: str, last_dir: str | None = None) -> None:
        """Put `path` first in File > Recent (and remember `last_dir`). A QSettings writes its file when it
        goes (~10 ms): this one is kept until the next event-loop turn, so opening a file does not wait for
        the write (other QSettings of this process see the new values at once)."""
        s = settings()
        files = [f for f in (s.value("recentFiles", [], type=list) or []) if f != path]
        s.setValue("recentFiles", [path] + files[: MAX_RECENT - 1])
        if last_dir is not None:
            s.setValue("lastDir", last_dir)
        self._unwritten_settings.append(s)
        QTimer.singleShot(0, self._unwritten_settings.clear)

    def recent_files(self) -> list[str]:
        return [f for f in (settings().value("recentFiles", [], type=list) or []) if Path(f).exists()]

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        files = self.recent_files()
        for i, f in enumerate(files):
            label = f"&{i + 1} {Path(f).name}" if i < 9 else Path(f).name
            act = self.recent_menu.addAction(label, lambda p=f: self.open_path(p))
            act.setToolTip(f)
        if not files:
            self.recent_menu.addAction("No recent files").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear Menu", lambda: settings().setValue("recentFiles", []))

    def _forget_recovery(self) -> None:
        if self.autosaver is not None:
            self.autosaver.discard()

    def restore_from(self, rec) -> None:
        """Load a RecoveryFile into this window, marked unsaved; its file is removed once loaded."""
        self.set_project(rec.project, rec.original_path, modified=True)
        with contextlib.suppress(OSError):
            rec.file.unlink()
        if self.autosaver is not None:
            self.autosaver.mark_dirty()

    def closeEvent(self, event) -> None:
        if not self.confirm_discard():
            event.ignore()
            return
        self.training.shutdown()  # ask a running trainer to stop; it keeps its checkpoints
        self._forget_recovery()
        s = settings()
        s.setValue("snapToGrid", self.actions["snap"].isChecked())
        if self.isVisible():
            s.setValue("window/geometry", self.saveGeometry())
            s.setValue("window/state", self.saveState())
        if self in MainWindow.windows:
            MainWindow.windows.remove(self)
        event.accept()

    def quit_all(self) -> None:
        for w in list(MainWindow.windows):
            if not w.close():
                return
        QApplication.quit()

    # ================================================================== view options
    def _toggle_snap(self, on: bool) -> None:
        self.scene.snap = on
        settings().setValue("snapToGrid", on)

    def set_theme_mode(self, mode: str) -> None:
        themes.manager().set_mode(mode)
        settings().setValue("theme", mode)
        self.actions[f"theme_{mode}"].setChecked(True)

    def _theme_changed(self, theme) -> None:
        self.scene.refresh_theme()
        self.view.viewport().update()
        if self.bridge is not None:
            self._checked(self.bridge.result)
        self.inspector.show_selection(self.scene.selected_block_ids())

    GESTURES = [
        ("Zoom", "Mouse wheel"),
        ("Pan", "Middle drag, or Space + drag"),
        ("Select several", "Drag a box on empty canvas, or Ctrl+click"),
        ("Link", "Drag from a block's bottom port onto another block"),
        ("Move selection", "Arrow keys (Shift: 4 grid steps)"),
        ("Cancel a link drag", "Esc"),
    ]

    def shortcut_rows(self) -> list[tuple[str, str, str]]:
        """(menu, command, keys) of every menu action that has a shortcut, in menu order, then the mouse gestures:
        generated from the actions, so a new action with a shortcut is listed without editing a table."""
        rows, seen = [], set()

        def walk(menu_name: str, menu: QMenu) -> None:
            for a in menu.actions():
                if a.menu() is not None:
                    walk(menu_name, a.menu())
                    continue
                keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in a.shortcuts())
                if keys and id(a) not in seen:
                    seen.add(id(a))
                    rows.append(
                        (
                            menu_name,
                            a.text().replace("&&", "\0").replace("&", "").replace("\0", "&").replace("\u2026", ""),
                            keys,
                        )
                    )

        for name, menu in self.menus.items():
            if name != "Panels":
                walk(name, menu)
        return rows + [("Mouse", what, how) for what, how in self.GESTURES]

    def show_shortcuts(self) -> QWidget:
        """A non-modal table of the shortcuts (F1)."""
        from PySide6.QtWidgets import (
            QDialog,
            QDialogButtonBox,
            QHeaderView,
            QTableWidget,
            QTableWidgetItem,
            QVBoxLayout,
        )

        rows = self.shortcut_rows()
        dlg = QDialog(self)
        dlg.setWindowTitle("Keyboard shortcuts")
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        table = QTableWidget(len(rows), 3, dlg)
        table.setObjectName("shortcutTable")
        table.setHorizontalHeaderLabels(["Menu", "Command", "Keys / mouse"])
        table.verticalHeader().hide()
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                table.setItem(r, c, QTableWidgetItem(text))
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, dlg)
        buttons.rejected.connect(dlg.close)
        lay = QVBoxLayout(dlg)
        lay.addWidget(table)
        lay.addWidget(buttons)
        dlg.resize(560, min(640, 80 + 26 * len(rows)))
        dlg.show()
        self.shortcuts_dialog = dlg
        return dlg

    def show_about(self) -> None:
        from rnn_studio.engine import __version__

        QMessageBox.about(
            self,
            "About RNN Studio",
            f"<b>RNN Studio {__version__}</b><br>Design recurrent neural "
            f"networks by drag and drop, with live shape checking.",
        )
