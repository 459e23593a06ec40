"""The Tune panel: the trials of an Optuna study, live, from its storage (the SQLite file beside the
runs, or a shared PostgreSQL server), a scatter of value vs. one param, and "Open best design".

The study is read in the GUI thread every `poll_ms` while the panel is visible (a small SQLite read
takes milliseconds; a slow remote database would stall the editor for that long: a known limit, since
a worker thread here risked destroying Qt objects off the GUI thread); the table / scatter are
rebuilt only when the trials changed. Nothing here writes to the study. The panel follows a study that `rnn-studio tune`
(or engine.training.tune.tune in any process) is running; it does not start trials itself.

    panel = TunePanel(storage="sqlite:///runs/tune.db", study="seed-keras-search")
    panel.openBestDesign.connect(main_window.open_design)   # str: path of <study>-best.rnn.json
    panel.runActivated.connect(train_panel.follow_run)       # str: a trial's run folder
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from ..monitor.plots import follow_theme

STATE_COLORS = {
    "COMPLETE": (52, 120, 246),
    "PRUNED": (160, 160, 160),
    "FAIL": (220, 60, 60),
    "RUNNING": (40, 170, 90),
    "WAITING": (200, 160, 40),
}


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.5g}"
    return str(v)


def fetch_study(storage: str, study: str | None) -> dict[str, Any]:
    """{"studies": [names], "study": name or None, "rows": trial_rows, "space": {key: text},
    "design": dict or None, "error": str or None}. Plain data, safe to build in any thread."""
    import optuna

    from rnn_studio.engine.training.tune import open_storage, trial_rows

    out: dict[str, Any] = {"studies": [], "study": study, "rows": [], "space": {}, "design": None, "error": None}
    if storage.startswith("sqlite:///") and not Path(storage[len("sqlite:///") :]).is_file():
        out["error"] = f"no {storage[len('sqlite:///') :]} yet: start a study with rnn-studio tune"
        return out  # a viewer never creates a database
    try:
        store = open_storage(storage)
        names = [s.study_name for s in optuna.get_all_study_summaries(store, include_best_trial=False)]
        out["studies"] = names
        if study is None and names:
            study = out["study"] = names[-1]
        if study is None:
            out["error"] = "no study in this storage yet: start one with rnn-studio tune"
            return out
        if study not in names:
            out["error"] = f"no study '{study}' in this storage yet"
            return out
        s = optuna.load_study(study_name=study, storage=store)
        out["rows"] = trial_rows(s)
        out["space"] = s.user_attrs.get("space") or {}
        out["design"] = s.user_attrs.get("design")
    except Exception as e:  # noqa: BLE001 - a panel shows the problem, never raises into the event loop
        out["error"] = str(e).splitlines()[0] if str(e) else type(e).__name__
    return out


class TunePanel(QtWidgets.QWidget):
    """Trials of one study (table: number, state, value, params, run), value-vs-param scatter, best design.

    storage   Optuna storage URL (sqlite:///runs/tune.db, postgresql://..., journal:FILE); None: set later
              with set_study()
    study     study name; None: the newest study in the storage
    best_dir  where "Open best design" writes <study>-best.rnn.json; None: beside the SQLite / journal
              file, or the current folder for a server
    poll_ms   how often the storage is read (0: only on refresh())
    """

    openBestDesign = QtCore.Signal(str)  # path of the best design file, just written
    tuneRequested = QtCore.Signal()  # "Tune this design…" (the window runs the study in a child process)
    stopRequested = QtCore.Signal()
    runActivated = QtCore.Signal(str)  # a trial's run folder (double-click on its row)
    _fetched = QtCore.Signal(object)

    def __init__(
        self,
        storage: str | None = None,
        study: str | None = None,
        parent: QtWidgets.QWidget | None = None,
        *,
        best_dir: str | Path | None = None,
        poll_ms: int = 1000,
    ):
        super().__init__(parent)
        self._storage = storage
        self._study = study
        self._best_dir = Path(best_dir) if best_dir is not None else None
        self._data: dict[str, Any] = {"rows": [], "space": {}, "design": None, "studies": []}
        self._signature = None
        self._busy = False
        self._build()
        self._fetched.connect(self._apply, QtCore.Qt.ConnectionType.QueuedConnection)
        self._timer = QtCore.QTimer(self)
        self._timer.timeout.connect(self._poll)
        if poll_ms > 0:
            self._timer.start(poll_ms)
        if storage:
            QtCore.QTimer.singleShot(0, self._poll)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        top = QtWidgets.QHBoxLayout()
        self.study_combo = QtWidgets.QComboBox()
        self.study_combo.setMinimumWidth(180)
        self.study_combo.setToolTip("Studies in this storage")
        self.study_combo.activated.connect(lambda i: self.set_study(self._storage, self.study_combo.itemText(i)))
        self.status = QtWidgets.QLabel("no study")
        self.status.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.best_button = QtWidgets.QPushButton("Open best design")
        self.best_button.setEnabled(False)
        self.best_button.setToolTip("Write the best trial's design as <study>-best.rnn.json and open it")
        self.best_button.clicked.connect(self._open_best)
        top.addWidget(QtWidgets.QLabel("Study"))
        top.addWidget(self.study_combo)
        top.addWidget(self.status, 1)
        top.addWidget(self.best_button)

        self.table = QtWidgets.QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["#", "state", "value", "run / error"])
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.setSortingEnabled(False)
        self.table.cellDoubleClicked.connect(self._row_activated)

        self.param_combo = QtWidgets.QComboBox()
        self.param_combo.setToolTip("Param on the x axis")
        self.param_combo.currentTextChanged.connect(lambda _t: self._plot())
        self.plot = pg.PlotWidget()
        follow_theme(self.plot)  # background, axes and labels from the theme, repainted on a theme switch
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setLabel("left", "value (val_loss)")
        self.scatter = pg.ScatterPlotItem(size=9, pen=pg.mkPen(None))
        self.plot.addItem(self.scatter)
        plot_box = QtWidgets.QWidget()
        pl = QtWidgets.QVBoxLayout(plot_box)
        pl.setContentsMargins(0, 0, 0, 0)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("Value vs"))
        row.addWidget(self.param_combo, 1)
        pl.addLayout(row)
        pl.addWidget(self.plot, 1)

        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        split.addWidget(self.table)
        split.addWidget(plot_box)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        self.pages = QtWidgets.QStackedWidget()
        self.pages.addWidget(self._empty_page())
        self.pages.addWidget(split)
        top.insertWidget(top.count() - 1, self.tune_button)  # beside "Open best design", on every page
        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.pages, 1)
        self._set_best_reason("no study yet: tune the design first")

    EMPTY_TEXT = (
        "<b>No study yet.</b> A study trains many variations of this design — the values listed in "
        "its search space (<i>training › search</i> in the design file, e.g. GRU units or the "
        "learning rate) — and keeps the best. Each trial is a short training run on the data chosen "
        "in the Train tab; trials appear here as they finish, and <b>Open best design</b> opens the "
        "winner as a new design."
    )

    def _empty_page(self) -> QtWidgets.QWidget:
        page = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(page)
        self.empty_label = QtWidgets.QLabel(self.EMPTY_TEXT)
        self.empty_label.setWordWrap(True)
        self.empty_label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.tune_button = QtWidgets.QPushButton("Tune this design…")
        self.tune_button.setObjectName("primary")
        self.tune_button.clicked.connect(self._tune_clicked)
        self.tune_reason = QtWidgets.QLabel("")
        self.tune_reason.setWordWrap(True)
        self.tune_reason.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.empty_label)
        lay.addWidget(self.tune_reason)
        lay.addStretch(1)
        self.tuning = False
        return page

    def _tune_clicked(self) -> None:
        (self.stopRequested if self.tuning else self.tuneRequested).emit()

    def set_tune_available(self, ok: bool, reason: str = "") -> None:
        """Enable "Tune this design…", or disable it and say why (e.g. the design has no search space)."""
        self.tune_button.setEnabled(ok or self.tuning)
        self.tune_button.setToolTip(reason)
        if not self.tuning:
            self.tune_reason.setText(reason)

    def set_tuning(self, running: bool, text: str = "") -> None:
        """While a study runs in the background: the button stops it, and a line says what is going on."""
        self.tuning = running
        self.tune_button.setText("Stop tuning" if running else "Tune this design…")
        self.tune_button.setEnabled(True)
        self.tune_reason.setText(text)
        if running:
            self.status.setText(text)

    def _set_best_reason(self, reason: str) -> None:
        self.best_button.setEnabled(not reason)
        self.best_button.setToolTip(
            "Write the best trial's design as <study>-best.rnn.json and open it"
            if not reason
            else f"Open best design: {reason}"
        )

    # ------------------------------------------------------------------ API
    def set_study(self, storage: str | None, study: str | None = None) -> None:
        """Follow another storage / study (None study: the newest in the storage)."""
        changed = storage != self._storage or study != self._study
        self._storage, self._study = storage, study
        if changed:
            self._signature = None
            self._data = {"rows": [], "space": {}, "design": None, "studies": self._data.get("studies", [])}
            self._apply_table()
        self._poll()

    def storage(self) -> str | None:
        return self._storage

    def study_name(self) -> str | None:
        return self._study

    def trials(self) -> list[dict[str, Any]]:
        """The rows shown (engine.training.tune.trial_rows of the study)."""
        return list(self._data.get("rows", []))

    def refresh(self) -> None:
        """Read the storage now, in this thread, and update (tests, a Refresh action)."""
        if self._storage:
            self._apply(fetch_study(self._storage, self._study))

    def best_trial(self) -> dict[str, Any] | None:
        done = [r for r in self._data.get("rows", []) if r["state"] == "COMPLETE" and r["value"] is not None]
        return min(done, key=lambda r: r["value"]) if done else None

    def best_design_path(self) -> str | None:
        """Write the best trial's design (the study's design with its params, no search section) and
        return the path; None when no trial has completed or the study has no design recorded."""
        from rnn_studio.engine.design.project import Project
        from rnn_studio.engine.training.tune import best_design_filename, write_best_design

        best, design = self.best_trial(), self._data.get("design")
        if best is None or not design:
            return None
        study = self._data.get("study")
        path = self._default_best_dir() / best_design_filename(study)
        return str(write_best_design(Project.from_dict(design), best, study, path))

    def _default_best_dir(self) -> Path:
        if self._best_dir is not None:
            return self._best_dir
        url = self._storage or ""
        if url.startswith("sqlite:///"):
            return Path(url[len("sqlite:///") :]).parent
        if url.startswith("journal:"):
            p = url.split(":", 1)[1]
            return Path(p[2:] if p.startswith("//") else p).parent
        return Path.cwd()

    # ------------------------------------------------------------------ polling (background thread)
    def _poll(self) -> None:
        """Read the study in the GUI thread (a small SQLite read takes milliseconds), only while the
        panel is visible. Not a worker thread: a garbage collection run from a worker thread can
        destroy Qt widgets off the GUI thread (seen here as a deadlock in ~QObject)."""
        if not self._storage or self._busy or not self.isVisible():
            return
        self._busy = True
        data = fetch_study(self._storage, self._study)
        data["_key"] = (self._storage, self._study)
        self._apply(data)

    @QtCore.Slot(object)
    def _apply(self, data: dict[str, Any]) -> None:
        self._busy = False
        if data.get("_key", (self._storage, self._study)) != (self._storage, self._study):
            return  # an answer for a study no longer shown
        if data.get("study") and self._study is None:
            self._study = data["study"]
        names = data.get("studies", [])
        if names != [self.study_combo.itemText(i) for i in range(self.study_combo.count())]:
            self.study_combo.blockSignals(True)
            self.study_combo.clear()
            self.study_combo.addItems(names)
            self.study_combo.blockSignals(False)
        if self._study in names:
            self.study_combo.setCurrentIndex(names.index(self._study))
        if data.get("error"):
            self.status.setText(data["error"])
            self._set_best_reason(data["error"])
            return
        sig = json.dumps([(r["number"], r["state"], r["value"]) for r in data["rows"]], default=str)
        self._data = data
        if sig == self._signature:
            return
        self._signature = sig
        self._apply_table()

    def _apply_table(self) -> None:
        rows = self._data.get("rows", [])
        keys: list[str] = list(self._data.get("space", {}))
        for r in rows:
            for k in r["params"]:
                if k not in keys:
                    keys.append(k)
        headers = ["#", "state", "value"] + keys + ["run / error"]
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(rows))
        best = self.best_trial()
        bold = QtGui.QFont()
        bold.setBold(True)
        for i, r in enumerate(rows):
            note = r.get("error") if r["state"] == "FAIL" else (r.get("run") or "")
            if r["state"] == "PRUNED" and r.get("pruned_at"):
                note = f"pruned at epoch {r['pruned_at']}: {note}"
            cells = (
                [str(r["number"]), r["state"].lower(), _fmt(r["value"])]
                + [_fmt(r["params"].get(k)) for k in keys]
                + [note or ""]
            )
            for j, text in enumerate(cells):
                item = QtWidgets.QTableWidgetItem(text)
                if j == 1:
                    item.setForeground(QtGui.QColor(*STATE_COLORS.get(r["state"], (0, 0, 0))))
                if best is not None and r["number"] == best["number"]:
                    item.setFont(bold)
                if j == len(cells) - 1 and text:
                    item.setToolTip(text)
                self.table.setItem(i, j, item)
        self.table.resizeColumnsToContents()
        counts: dict[str, int] = {}
        for r in rows:
            counts[r["state"].lower()] = counts.get(r["state"].lower(), 0) + 1
        text = f"{len(rows)} trial(s)" + (
            ": " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) if rows else ""
        )
        if best is not None:
            text += f"  ·  best #{best['number']}: {_fmt(best['value'])}"
        self.status.setText(text)
        self._set_best_reason(
            ""
            if best is not None and self._data.get("design")
            else "no trial has completed yet"
            if best is None
            else "the study recorded no design"
        )
        self.pages.setCurrentIndex(1 if rows else 0)
        current = self.param_combo.currentText()
        if [self.param_combo.itemText(i) for i in range(self.param_combo.count())] != keys:
            self.param_combo.blockSignals(True)
            self.param_combo.clear()
            self.param_combo.addItems(keys)
            if current in keys:
                self.param_combo.setCurrentText(current)
            self.param_combo.blockSignals(False)
        self._plot()

    def scatter_data(self, key: str | None = None) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
        """(x, y, category labels or None) plotted for a param: finished trials with a finite value;
        categorical / text params are placed at 0, 1, 2... in the order of their choices."""
        key = key or self.param_combo.currentText()
        rows = [
            r
            for r in self._data.get("rows", [])
            if r["value"] is not None and math.isfinite(r["value"]) and key in r["params"]
        ]
        vals = [r["params"][key] for r in rows]
        labels = None
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals)
        space = str(self._data.get("space", {}).get(key, ""))
        if not numeric or space.startswith("{"):
            labels = []
            for v in vals:
                if json.dumps(v) not in labels:
                    labels.append(json.dumps(v))
            x = np.array([labels.index(json.dumps(v)) for v in vals], dtype=float)
        else:
            x = np.array(vals, dtype=float)
        y = np.array([r["value"] for r in rows], dtype=float)
        self._scatter_states = [r["state"] for r in rows]
        return x, y, labels

    def _plot(self) -> None:
        key = self.param_combo.currentText()
        if not key:
            self.scatter.setData([], [])
            return
        x, y, labels = self.scatter_data(key)
        space = str(self._data.get("space", {}).get(key, ""))
        log = space.endswith(" log") and labels is None and (x > 0).all()
        # values spanning decades (pruned trials stop early, at high losses): log y axis
        ylog = bool(len(y) and (y > 0).all() and y.max() / y.min() > 50)
        self.plot.setLogMode(x=bool(log), y=ylog)
        brushes = [pg.mkBrush(*STATE_COLORS.get(s, (0, 0, 0)), 200) for s in self._scatter_states]
        self.scatter.setData(x=np.log10(x) if log else x, y=np.log10(y) if ylog else y, brush=brushes)
        axis = self.plot.getAxis("bottom")
        if labels is not None:
            axis.setTicks([[(i, t.strip('"')) for i, t in enumerate(labels)]])
        else:
            axis.setTicks(None)
        self.plot.setLabel("bottom", key)

    # ------------------------------------------------------------------ actions
    def _open_best(self) -> None:
        try:
            path = self.best_design_path()
        except (OSError, ValueError) as e:
            QtWidgets.QMessageBox.warning(self, "Open best design", f"Could not write the best design: {e}")
            return
        if path:
            self.openBestDesign.emit(path)

    def _row_activated(self, row: int, _col: int) -> None:
        rows = self._data.get("rows", [])
        if 0 <= row < len(rows) and rows[row].get("run"):
            self.runActivated.emit(rows[row]["run"])

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt
        self._timer.stop()
        super().closeEvent(event)
