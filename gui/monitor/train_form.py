"""The Train panel's data form: the data source, its preview and the live data plan (tab "1 Data"), and
the helpers the panel's forms share (wheel guard, scroll page, form layout, combo, theme tints). `DataForm`
is a widget of its own (the panel owns one: `panel.data_form`). The training settings are settings_form.py,
the device probe device_probe.py.

A data file is read off the GUI thread (reader.py): while it reads, a busy bar says "Reading FILE…"
and Start waits; the newest file's result is applied on the GUI thread, a stale one is dropped, and a
file that cannot be read shows the reader's one-line sentence under the preview.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

from rnn_studio.engine.design.blocks import INPUT_TYPE

from . import reader
from .forecast_settings import add_season_row, season_spec

DEMOS = [("Demo: chaotic series (Mackey-Glass)", "chaos"), ("Demo: noisy multi-frequency sine", "sine")]
MISSING_CHOICES = [
    ("Stop with an error", "error"),
    ("Interpolate", "interpolate"),
    ("Fill forward", "ffill"),
    ("Drop those rows", "drop"),
]
TIME_AUTO, TIME_NONE = None, "none"  # data_spec()["time"]: detect, no time column, or a column name
PREVIEW_ROWS = 10  # rows visible without scrolling
PREVIEW_MAX_ROWS = 200  # rows loaded into the preview
PLAN_OFF_THREAD_ROWS = 200_000  # a table this long is planned on a worker thread (~0.2 s for 2,000,000 rows)
PLAN_OFF_THREAD_BLOCKS = 100  # so is a design this big (its checks: ~30 ms for 400 blocks)
TINT_PROPERTY = "themeRole"  # a label's colour is this theme role; re-applied when the theme changes


def theme_color(name: str) -> str:
    """A colour of the application's theme (the light theme's before the designer has applied one)."""
    from rnn_studio.gui import theme

    manager = theme.active_manager()
    return getattr(manager.theme if manager is not None else theme.LIGHT, name)


def tint(widget: QtWidgets.QWidget, role: str | None) -> None:
    """Colour a label's text with a theme role ("error", "warning", "muted"...; None: the default)."""
    widget.setProperty(TINT_PROPERTY, role or "")
    widget.setStyleSheet(f"color: {theme_color(role)};" if role else "")


def retint(root: QtWidgets.QWidget) -> None:
    """Re-apply every tinted label's role under `root` (after the theme changed)."""
    for w in root.findChildren(QtWidgets.QWidget):
        role = w.property(TINT_PROPERTY)
        if role:
            tint(w, role)


class WheelToPage(QtCore.QObject):
    """The mouse wheel scrolls the form's page (the scroll area holding it) unless the widget under it has
    the keyboard focus (the preview, a list, a combo or a spin box the user clicked): no accidental value
    changes. Each form owns one; it reads nothing of the panel."""

    def eventFilter(self, obj, event) -> bool:
        if event.type() != QtCore.QEvent.Wheel:
            return False
        widget = (
            obj.parentWidget()
            if isinstance(obj, QtWidgets.QWidget) and obj.objectName() == "qt_scrollarea_viewport"
            else obj
        )
        if isinstance(widget, QtWidgets.QWidget) and widget.hasFocus():
            return False
        page = widget.parentWidget() if isinstance(widget, QtWidgets.QWidget) else None
        while page is not None and not isinstance(page, QtWidgets.QScrollArea):
            page = page.parentWidget()
        if page is not None:
            bar = page.verticalScrollBar()
            bar.setValue(bar.value() - event.angleDelta().y() // 120 * bar.singleStep() * 3)
        return True


def scroll_page(*widgets: QtWidgets.QWidget) -> QtWidgets.QScrollArea:
    """A tab page: the widgets in one column, scrolled vertically, never horizontally."""
    scroll = QtWidgets.QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QtWidgets.QFrame.NoFrame)
    scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarAlwaysOff)
    host = QtWidgets.QWidget()
    lay = QtWidgets.QVBoxLayout(host)
    lay.setContentsMargins(2, 2, 8, 2)
    for w in widgets:
        lay.addWidget(w)
    lay.addStretch(1)
    scroll.setWidget(host)
    return scroll


def form_layout(box: QtWidgets.QWidget) -> QtWidgets.QFormLayout:
    form = QtWidgets.QFormLayout(box)
    form.setRowWrapPolicy(QtWidgets.QFormLayout.WrapLongRows)  # labels above fields when narrow
    form.setFieldGrowthPolicy(QtWidgets.QFormLayout.AllNonFixedFieldsGrow)
    return form


def combo() -> QtWidgets.QComboBox:
    """A combo whose popup draws every item (a styled combo's default delegate drew the current
    item as a blank row) and whose width follows the form, not its longest item."""
    box = QtWidgets.QComboBox()
    box.setItemDelegate(QtWidgets.QStyledItemDelegate(box))
    box.setSizeAdjustPolicy(QtWidgets.QComboBox.AdjustToMinimumContentsLengthWithIcon)
    box.setMinimumContentsLength(8)
    return box


class DataForm(QtWidgets.QWidget):
    """Tab "1 Data", a widget of its own: the live plan above the source, file, columns and preview.
    `project_getter()` returns the current design (the plan checks against it); `set_input_features(block
    id, n)` (optional) is the plan's one-click fix. It says what changed through its signals; the panel
    enables Start from `plan_changed`."""

    plan_changed = QtCore.Signal(str, bool)  # the plan shown: its error ('' if none), still reading or planning
    data_loaded = QtCore.Signal(str, str)  # a data file was read: its path, the one-line error ('' if read)
    reading_changed = QtCore.Signal(str)  # the file being read off the GUI thread ('' when none)

    _table: Any = None
    _ticks_touched = False
    _reading: str | None = None  # the file being read off the GUI thread
    _read_request = 0  # the newest read's id: any other result is stale
    _planning = 0  # the newest off-thread plan's id (0: none under way)
    _plan_untouched = False  # the plan in the making sets the ticks (the user has not ticked any)
    plan: Any = None

    def __init__(
        self,
        project_getter: Callable,
        set_input_features: Callable[[str, int], None] | None = None,
        parent: QtWidgets.QWidget | None = None,
    ):
        super().__init__(parent)
        self.project_getter = project_getter
        self.set_input_features = set_input_features
        reader.relay().done.connect(self._read_done)  # data files are read off the GUI thread (reader.py)
        reader.relay().planned.connect(self._planned)  # and a large table's plan is derived there too
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self._plan_box())  # the plan first: always in view
        lay.addWidget(self._data_group())

    def _data_group(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Data")
        form = self._data_form = form_layout(box)
        self.source = combo()
        for label, key in DEMOS:
            self.source.addItem(label, ("demo", key))
        self.source.addItem("CSV file…", ("csv", None))
        self.source.addItem("NumPy .npz file…", ("npz", None))
        self.source.addItem("Parquet / Feather / .npy file…", ("table", None))
        self.source.currentIndexChanged.connect(self._source_changed)
        self.source.activated.connect(self._source_activated)
        form.addRow("Source:", self.source)
        form.addRow("File:", self._file_row())
        self.read_busy = QtWidgets.QProgressBar()  # "Reading FILE…", an indefinite bar, while a file reads
        self.read_busy.setRange(0, 0)
        self.read_busy.setTextVisible(True)
        self.read_busy.setVisible(False)
        form.addRow(self.read_busy)
        self._column_rows(form)
        self.lookback = QtWidgets.QSpinBox(minimum=0, maximum=100000, specialValueText="from Input")
        self.lookback.setToolTip("Window length; 'from Input' uses the Input block's timesteps")
        self.lookback.valueChanged.connect(self._plan_later)
        form.addRow("Lookback:", self.lookback)
        self.horizon = QtWidgets.QSpinBox(minimum=1, maximum=10000, value=1)
        self.horizon.valueChanged.connect(self._plan_later)
        form.addRow("Horizon:", self.horizon)
        add_season_row(self, form)  # Season (forecast_settings.py)
        self._preview_rows(form)
        self._source_changed()
        return box

    def _file_row(self) -> QtWidgets.QWidget:
        row = QtWidgets.QHBoxLayout()
        self.path_edit = QtWidgets.QLineEdit()
        self.path_edit.setPlaceholderText("path to a data file")
        self.path_edit.setMinimumWidth(80)
        self.path_edit.editingFinished.connect(self._path_edited)
        self.browse_button = QtWidgets.QPushButton("Browse…")
        self.browse_button.setSizePolicy(QtWidgets.QSizePolicy.Fixed, QtWidgets.QSizePolicy.Fixed)
        self.browse_button.clicked.connect(self._browse)
        row.addWidget(self.path_edit, 1)
        row.addWidget(self.browse_button)
        row.setContentsMargins(0, 0, 0, 0)
        self.path_row = QtWidgets.QWidget()
        self.path_row.setLayout(row)
        return self.path_row

    def _column_rows(self, form: QtWidgets.QFormLayout) -> None:
        """Target, time column, series column, missing values and the feature ticks."""
        self.target = combo()
        self.target.setToolTip("Column to predict (default: the last column)")
        self.target.currentIndexChanged.connect(self._target_changed)
        form.addRow("Target:", self.target)
        self.time_column = combo()
        self.time_column.setToolTip(
            "Column that orders the rows (dates, timestamps or an evenly spaced index); it is never a feature. "
            "(auto) detects it, (none) treats the rows as already in order"
        )
        self.time_column.currentIndexChanged.connect(self._plan_later)
        form.addRow("Time column:", self.time_column)
        self.series = combo()
        self.series.setToolTip("Column holding the series id when the file holds many series (shops, sensors)")
        self.series.currentIndexChanged.connect(self._plan_later)
        form.addRow("Series column:", self.series)
        self.missing = combo()
        for label, key in MISSING_CHOICES:
            self.missing.addItem(label, key)
        self.missing.currentIndexChanged.connect(self._plan_later)
        form.addRow("Missing values:", self.missing)
        self.features = QtWidgets.QListWidget()
        self.features.setMaximumHeight(110)
        self.features.setToolTip("Feature columns: exactly the ticked columns train")
        self.features.itemChanged.connect(self._ticks_changed)
        form.addRow("Features:", self.features)

    def _preview_rows(self, form: QtWidgets.QFormLayout) -> None:
        """The preview table (10 rows visible) and its error line; the wheel guard for the data form."""
        self.preview = QtWidgets.QTableWidget(0, 0)
        self.preview.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.preview.verticalHeader().setDefaultSectionSize(self.preview.fontMetrics().height() + 6)
        rows_h = self.preview.verticalHeader().defaultSectionSize() * (PREVIEW_ROWS + 1)
        self.preview.setMinimumHeight(rows_h + self.preview.horizontalScrollBar().sizeHint().height() + 4)
        self.preview.setFocusPolicy(QtCore.Qt.ClickFocus)
        form.addRow(self.preview)
        self.preview_error = QtWidgets.QLabel("")
        self.preview_error.setWordWrap(True)
        tint(self.preview_error, "error")
        form.addRow(self.preview_error)
        self.wheel_guard = WheelToPage(self)
        controls = (self.source, self.target, self.time_column, self.series, self.missing, self.lookback, self.horizon)
        controls += (self.season,)
        for w in (*controls, self.features, self.preview):
            w.installEventFilter(self.wheel_guard)
        for w in controls:
            w.setFocusPolicy(QtCore.Qt.StrongFocus)
        self.preview.viewport().installEventFilter(self.wheel_guard)
        self.features.viewport().installEventFilter(self.wheel_guard)

    def _plan_box(self) -> QtWidgets.QGroupBox:
        """The data plan, live: what will train (engine.data.plan, the same plan `rnn-studio data` prints)."""
        box = QtWidgets.QGroupBox("Plan: what will train")
        lay = QtWidgets.QVBoxLayout(box)
        self.plan_text = QtWidgets.QLabel("")
        self.plan_text.setWordWrap(True)
        self.plan_text.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        self.plan_warning = QtWidgets.QLabel("")
        self.plan_warning.setWordWrap(True)
        tint(self.plan_warning, "warning")
        self.plan_error = QtWidgets.QLabel("")
        self.plan_error.setWordWrap(True)
        tint(self.plan_error, "error")
        self.fix_button = QtWidgets.QPushButton("")
        self.fix_button.setVisible(False)
        self.fix_button.clicked.connect(self._apply_fix)
        for w in (self.plan_text, self.plan_warning, self.plan_error, self.fix_button):
            lay.addWidget(w)
        self.plan = None
        self.plan_wait: Callable[[], bool] | None = None  # True while the plan should wait (integration.py)
        self._plan_timer = QtCore.QTimer(self)
        self._plan_timer.setSingleShot(True)
        self._plan_timer.setInterval(120)
        self._plan_timer.timeout.connect(self.refresh_plan)
        return box

    # ------------------------------------------------------------------ data source
    def _source_changed(self) -> None:
        kind, _ = self.source.currentData()
        is_file = kind != "demo"
        self.path_row.setEnabled(is_file)
        for w in (self.target, self.time_column, self.features, self.series, self.missing):
            w.setEnabled(kind in ("csv", "table"))
            # a demo or an .npz archive has no columns to choose: no blank, greyed-out lists (the plan
            # above names the target and features)
            self._data_form.setRowVisible(w, kind in ("csv", "table"))
        self.preview.setVisible(kind in ("csv", "table"))
        if not is_file:
            self.preview_error.setText("")
            self._show_reading(None)  # a read still under way is stale now
        self._plan_later()

    def _source_activated(self, _index: int) -> None:
        """Choosing "CSV file…" (or another file kind) opens the file dialog at once."""
        kind, _ = self.source.currentData()
        if kind != "demo" and not self.path_edit.text():
            self._browse()

    def _start_folder(self) -> str:
        """Browse starts beside the current file, else in the design's folder."""
        if self.path_edit.text():
            return str(Path(self.path_edit.text()).expanduser().parent)
        project = self.project_getter()
        if project is not None and getattr(project, "path", None):
            return str(Path(project.path).resolve().parent)
        return str(Path.cwd())

    def _browse(self) -> None:
        kind, _ = self.source.currentData()
        filt = {
            "csv": "CSV files (*.csv *.csv.gz *.tsv *.txt)",
            "npz": "NumPy archives (*.npz)",
            "table": "Tables (*.parquet *.pq *.feather *.arrow *.ipc *.npy)",
        }.get(kind, "")
        dialog = QtWidgets.QFileDialog(self, "Choose data", self._start_folder(), filt + ";;All files (*)")
        dialog.setFileMode(QtWidgets.QFileDialog.ExistingFile)
        dialog.fileSelected.connect(self.set_data_file)
        self.file_dialog = dialog
        dialog.open()  # not modal-blocking: tests and the event loop keep running

    def set_data_file(self, path: str) -> None:
        """Use `path` as the data source and read it in the background (`data_loaded` says when)."""
        from rnn_studio.engine.data.tables import data_format

        fmt = data_format(path)
        kind = "npz" if fmt == "npz" else "csv" if fmt in ("csv", "folder") else "table"
        idx = next(i for i in range(self.source.count()) if self.source.itemData(i)[0] == kind)
        self.source.blockSignals(True)
        self.source.setCurrentIndex(idx)
        self.source.blockSignals(False)
        self.path_edit.setText(path)
        self._source_changed()
        self._load_preview()

    def _path_edited(self) -> None:
        if self.path_edit.text() != getattr(self, "_read_path", None):  # focus-out alone re-reads nothing
            self._load_preview()

    def reading(self) -> bool:
        """A data file is being read (the plan and Start wait for it)."""
        return self._reading is not None

    def _show_reading(self, path: str | None) -> None:
        self._reading = path
        if path is None:
            self._read_request = 0
        self.read_busy.setFormat(f"Reading {Path(path).name}…" if path else "")
        self.read_busy.setVisible(path is not None)
        self.reading_changed.emit(path or "")

    def _load_preview(self) -> None:
        """Start reading the chosen file off the GUI thread; `_read_done` applies the result."""
        kind, _ = self.source.currentData()
        self.preview_error.setText("")
        self._table = None
        path = self.path_edit.text()
        self._read_path = path
        if kind not in ("csv", "table") or not path:
            self._show_reading(None)
            self._plan_later()
            return
        self._show_reading(path)
        self._clear_columns()  # nothing of the previous file stays on show while this one reads
        self._read_request = reader.read_later(path)
        self.refresh_plan()  # "Reading FILE…" in the plan box; Start waits

    def _read_done(self, request: int, table, error: str) -> None:
        """A read landed (on the GUI thread): apply the newest one, drop a stale one."""
        if request != self._read_request:
            return
        path = self._reading or ""
        self._show_reading(None)
        self._table = table
        if table is None:
            self.preview_error.setText(error)
            self._clear_columns()
        else:
            self._set_columns(table.names)
            self._fill_preview(table)
        self._ticks_touched = False
        self.refresh_plan()
        self.data_loaded.emit(path, error)

    def _clear_columns(self) -> None:
        self.preview.setRowCount(0)
        self.preview.setColumnCount(0)
        self._set_columns([])

    def _set_columns(self, cols: list[str]) -> None:
        for box in (self.target, self.series, self.time_column):
            box.blockSignals(True)
            box.clear()
        self.target.addItems(cols)
        self.target.setCurrentIndex(len(cols) - 1)
        self.time_column.addItem("(auto: detect)", TIME_AUTO)
        self.time_column.addItem("(none: rows are in order)", TIME_NONE)
        self.series.addItem("(none: one series)", None)
        for c in cols:
            self.series.addItem(c, c)
            self.time_column.addItem(c, c)
        if "series" in cols and self._table is not None and self._table.fmt == "folder":
            self.series.setCurrentIndex(self.series.findData("series"))
        for box in (self.target, self.series, self.time_column):
            box.blockSignals(False)
        self.features.blockSignals(True)
        self.features.clear()
        for c in cols:
            item = QtWidgets.QListWidgetItem(c)
            item.setFlags(item.flags() | QtCore.Qt.ItemIsUserCheckable)
            item.setCheckState(QtCore.Qt.Unchecked)
            self.features.addItem(item)
        self.features.blockSignals(False)

    def _fill_preview(self, table) -> None:
        cols = list(table.names)
        n = min(table.n_rows, PREVIEW_MAX_ROWS)
        self.preview.setColumnCount(len(cols))
        self.preview.setHorizontalHeaderLabels(cols)
        self.preview.setRowCount(n)
        for r in range(n):
            for c, name in enumerate(cols):
                self.preview.setItem(r, c, QtWidgets.QTableWidgetItem(table.cell_text(name, r)))

    def ticked_features(self) -> list[str]:
        return [
            self.features.item(i).text()
            for i in range(self.features.count())
            if self.features.item(i).checkState() == QtCore.Qt.Checked
        ]

    def _set_ticks(self, names: list[str]) -> None:
        self.features.blockSignals(True)
        for i in range(self.features.count()):
            item = self.features.item(i)
            item.setCheckState(QtCore.Qt.Checked if item.text() in names else QtCore.Qt.Unchecked)
        self.features.blockSignals(False)

    def set_features(self, names: list[str]) -> None:
        """Tick exactly `names` (a design's saved choice): the ticks no longer follow the plan's defaults."""
        self._set_ticks(names)
        self._ticks_touched = True
        self._plan_later()

    def has_table_for(self, path: str) -> bool:
        """`path` is the file already read and shown (no need to read it again)."""
        return self._table is not None and not self.reading() and getattr(self, "_read_path", None) == path

    def _ticks_changed(self, _item=None) -> None:
        self._ticks_touched = True
        self._plan_later()

    def _target_changed(self, _index: int) -> None:
        self._plan_later()

    def data_spec(self) -> dict[str, Any]:
        """The data settings as engine.data.DataSpec fields. For a table the ticked columns are passed
        as they are: what is ticked is exactly what trains. `time`: None detects the time column,
        "none" has none, else the column's name."""
        kind, demo = self.source.currentData()
        spec: dict[str, Any] = {"horizon": self.horizon.value(), "lookback": self.lookback.value() or None}
        if kind == "demo":
            spec["demo"] = demo
        else:
            spec["path"] = self.path_edit.text()
            if kind in ("csv", "table") and self.target.count():
                spec["target"] = self.target.currentText()
                spec["features"] = self.ticked_features()
                spec["time"] = self.time_column.currentData()
                spec["series"] = self.series.currentData()
                spec["missing"] = self.missing.currentData()
        spec.update(season_spec(self))
        return spec

    # ------------------------------------------------------------------ the data plan
    def _plan_later(self, *_args) -> None:
        if hasattr(self, "_plan_timer"):
            self._plan_timer.start()

    def _table_for_plan(self):
        kind, demo = self.source.currentData()
        if kind == "demo":
            cache = self.__dict__.setdefault("_demo_tables", {})
            if demo not in cache:
                from rnn_studio.engine.data import demo_table

                cache[demo] = demo_table(demo)
            return cache[demo]
        return self._table

    def refresh_plan(self, wait: bool = False) -> None:
        """Re-derive the plan from the file, the design and the settings, and show it. Until the user
        ticks columns, the ticks follow the plan's default features. A table of PLAN_OFF_THREAD_ROWS
        rows or more is planned on a worker thread (Start waits for it) unless `wait` asks for it now."""
        self._plan_timer.stop()
        spec = self.data_spec()
        kind, _ = self.source.currentData()
        self.plan = None
        self._planning = 0
        if kind != "demo" and not spec.get("path"):
            return self._show_plan(None, "Choose a data file first (or a demo dataset).")
        if kind in ("csv", "table") and self.reading():
            return self._show_plan(None, None)
        table = self._table_for_plan()
        if kind in ("csv", "table") and table is None:
            return self._show_plan(None, self.preview_error.text() or "The file could not be read.")
        from rnn_studio.engine.data import DataSpec, plan_data
        from rnn_studio.engine.design.compile import DesignError  # imports torch: not while a file is being read

        untouched = kind in ("csv", "table") and not self._ticks_touched
        if untouched:
            spec["features"] = None  # the plan's defaults, then tick exactly those
        self._plan_untouched = untouched
        big = len(getattr(self.project_getter(), "blocks", ())) >= PLAN_OFF_THREAD_BLOCKS
        if not wait and (big or getattr(table, "n_rows", 0) >= PLAN_OFF_THREAD_ROWS):
            if self.plan_wait is not None and self.plan_wait():
                # the designer is still building the design's canvas: a worker checking the design now
                # would take turns at the interpreter with it (a 400-block design: ~30 ms more per stall)
                self._planning = -1  # "Planning…", and Start plans at once (wait=True)
                self._plan_timer.start()
                return self._show_plan(None, None)
            project = self.project_getter()
            snapshot = project.copy() if project is not None else None
            self._planning = reader.relay().plan_later(
                plan_data, DataSpec.from_dict(spec), snapshot, table, DesignError
            )
            return self._show_plan(None, None)
        try:
            plan = plan_data(DataSpec.from_dict(spec), self.project_getter(), table=table, ui="gui")
        except DesignError as e:
            return self._show_plan(None, f"Fix the design first: {str(e).splitlines()[0]}")
        self._plan_ready(plan)

    def planning(self) -> bool:
        """A large table's plan is being derived off the GUI thread (Start waits for it)."""
        return bool(self._planning)

    def _planned(self, request: int, plan, error: str) -> None:
        """A plan landed from the worker (on the GUI thread): show the newest one, drop a stale one."""
        if request != self._planning:
            return
        self._planning = 0
        if plan is None:
            return self._show_plan(None, error)
        self._plan_ready(plan)

    def _plan_ready(self, plan) -> None:
        if self._plan_untouched:
            self._set_ticks(plan.features)
        self.plan = plan
        self._show_plan(plan, None)

    def _show_plan(self, plan, error: str | None) -> None:
        lines = (
            [] if plan is None else [line for line in plan.describe() if not line.startswith(("warning:", "error:"))]
        )
        if self.reading():
            lines = [f"Reading {Path(self._reading).name}…"]
        elif self.planning():
            lines = ["Planning: checking the time column, the series and the splits…"]
        self.plan_text.setText("\n".join(lines))
        warnings = [] if plan is None else plan.warnings
        self.plan_warning.setText("\n".join(f"Warning: {w}" for w in warnings))
        self.plan_warning.setVisible(bool(warnings))
        error = error or (plan.errors[0] if plan is not None and plan.errors else None)
        self.plan_error.setText(error or "")
        self.plan_error.setVisible(bool(error))
        fix = plan.input_features_fix if plan is not None and plan.errors else None
        self.fix_button.setVisible(fix is not None and self.set_input_features is not None)
        if fix is not None:
            self.fix_button.setText(f"Set Input features to {fix}")
        self.plan_changed.emit(error or "", self.reading() or self.planning())

    def _apply_fix(self) -> None:
        """One click: set the Input block's features to the ticked count (through the designer's undo stack)."""
        plan = self.plan
        if plan is None or plan.input_features_fix is None or self.set_input_features is None:
            return
        project = self.project_getter()
        inputs = [b.id for b in project.blocks if b.type == INPUT_TYPE]
        if inputs:
            self.set_input_features(inputs[0], plan.input_features_fix)
        self.refresh_plan()
