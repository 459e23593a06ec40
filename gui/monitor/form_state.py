"""The Train panel's choices kept with the design (issue 23, item 4).

The data source, the column choices and the training settings live in the design's `training` section
(docs/project-format.md): engine keys where the engine has one (`target`, `features`, `lookback`,
`horizon`, `epochs`, `lr`, ...), and a `data` object for what only the panel chooses (the source, the
file's path relative to the design file, the time and series columns, the missing-value policy).
Reopening a design restores exactly what the panel showed; a change the user makes is one undoable step
(consecutive changes merge) that marks the design modified, so quitting asks.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from PySide6 import QtCore
from PySide6.QtGui import QUndoCommand

from .train_form import TIME_AUTO

ID_TRAINING = 7301  # QUndoCommand.id(): consecutive Train panel changes merge into one step
# the training keys the panel owns: written from the form, removed when they no longer apply
DATA_KEYS = ("data", "target", "features", "lookback", "horizon")
SETTING_KEYS = (
    "epochs",
    "batch_size",
    "lr",
    "optimizer",
    "weight_decay",
    "schedule",
    "patience",
    "clip_norm",
    "precision",
    "seed",
    "log",
    "level",
)
MANAGED = DATA_KEYS + SETTING_KEYS


def _design_folder(project) -> Path | None:
    path = getattr(project, "path", None)
    return Path(path).resolve().parent if path else None


def stored_path(path: str, folder: Path | None) -> str:
    """A data file's path as the design keeps it: relative to the design's folder when it has one."""
    if not path or folder is None:
        return path
    try:
        return Path(os.path.relpath(Path(path).expanduser().resolve(), folder)).as_posix()
    except ValueError:  # another drive (Windows): only an absolute path can name it
        return path


def resolved_path(path: str, folder: Path | None) -> str:
    """The stored path as a file name to read: a relative one is relative to the design's folder."""
    p = Path(path).expanduser()
    if not p.is_absolute() and folder is not None:
        p = folder / p
    return str(p)


def form_training(panel, folder: Path | None) -> dict[str, Any]:
    """The panel's choices as `training` keys (only those that apply to the chosen source)."""
    kind, demo = panel.source.currentData()
    out: dict[str, Any] = {"horizon": panel.horizon.value()}
    if panel.lookback.value():
        out["lookback"] = panel.lookback.value()
    if kind == "demo":
        data: dict[str, Any] = {"source": "demo", "demo": demo}
    else:
        data = {"source": kind, "path": stored_path(panel.path_edit.text(), folder)}
        if kind in ("csv", "table") and panel.target.count():
            data.update(
                time=panel.time_column.currentData(),
                series=panel.series.currentData(),
                missing=panel.missing.currentData(),
            )
            out["target"] = panel.target.currentText()
            out["features"] = panel.ticked_features()
    if panel.season.value():  # forecasting's season length (--season); auto is left out
        data["season"] = panel.season.value()
    out["data"] = data
    settings = panel.overrides()
    settings.pop("device", None)  # a machine's choice, not the design's: a GPU name means nothing elsewhere
    out.update(settings)
    return out


def merged_training(training: dict[str, Any], form: dict[str, Any]) -> dict[str, Any]:
    """`training` with the panel's keys replaced by `form`'s (other keys, a search space, notes, kept)."""
    out = {k: copy.deepcopy(v) for k, v in training.items() if k not in MANAGED}
    out.update(copy.deepcopy(form))
    return out


class SetTraining(QUndoCommand):
    """Replace the design's training section; undo puts the old one back and the form follows."""

    def __init__(self, project, old: dict, new: dict, reload):
        super().__init__("Change training settings")
        self.project, self.old, self.new, self.reload = project, old, new, reload
        self._first = True

    def id(self) -> int:
        return ID_TRAINING

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SetTraining) or other.project is not self.project:
            return False
        self.new = other.new
        if self.new == self.old:
            self.setObsolete(True)
        return True

    def _apply(self, training: dict) -> None:
        self.project.training = copy.deepcopy(training)

    def redo(self) -> None:
        self._apply(self.new)
        if not self._first:  # the first redo is the user's own edit: the form already shows it
            self.reload()
        self._first = False

    def undo(self) -> None:
        self._apply(self.old)
        self.reload()


class FormKeeper(QtCore.QObject):
    """Keeps a designer window's design and its Train panel in step (both ways)."""

    def __init__(self, window, panel):
        super().__init__(panel)
        self.window, self.panel = window, panel
        self.loading = False
        self.pending: dict[str, Any] | None = None  # column choices to apply once the file is read
        self.defaults = form_training(panel, None)  # a fresh form: what a design without choices gets
        for signal in self._user_signals():
            signal.connect(self.changed)
        panel.data_loaded.connect(self._data_loaded)

    def _user_signals(self):
        p = self.panel
        yield from (p.source.currentIndexChanged, p.target.currentIndexChanged, p.time_column.currentIndexChanged)
        yield from (p.series.currentIndexChanged, p.missing.currentIndexChanged, p.features.itemChanged)
        yield from (p.lookback.valueChanged, p.horizon.valueChanged, p.epochs.valueChanged, p.batch.valueChanged)
        yield from (p.lr.valueChanged, p.weight_decay.valueChanged, p.patience.valueChanged, p.clip.valueChanged)
        yield from (p.seed.valueChanged, p.optimizer.currentIndexChanged, p.schedule.currentIndexChanged)
        yield from (p.precision.currentIndexChanged, p.log_to.currentIndexChanged)
        yield from (p.season.valueChanged, p.interval_level.valueChanged)

    # ------------------------------------------------------------------ form -> design
    def changed(self, *_args) -> None:
        """The user changed a choice: one undoable step on the design (none when nothing differs)."""
        project = self.window.project
        if self.loading or project is None or self.panel.reading():
            return
        new = merged_training(project.training, form_training(self.panel, _design_folder(project)))
        if new != project.training:
            self.window.undo.push(SetTraining(project, copy.deepcopy(project.training), new, self.load))

    def store_for(self, design_path: str) -> None:
        """Before a save (perhaps to another folder): the data path relative to that file. Not an edit."""
        project = self.window.project
        if project is None or "data" not in project.training or self.panel.reading():
            return
        form = form_training(self.panel, Path(design_path).resolve().parent)
        if form.get("data") != project.training.get("data"):
            project.training["data"] = form["data"]

    # ------------------------------------------------------------------ design -> form
    def load(self) -> None:
        """Show the design's choices (a design without any gets a fresh form's)."""
        project = self.window.project
        if project is None:
            return
        training = merged_training(self.defaults, {})
        training.update(project.training or {})
        self.loading = True
        try:
            self._load_settings(training)
            self._load_source(training, _design_folder(project))
        finally:
            self.loading = False

    def _load_settings(self, training: dict[str, Any]) -> None:
        p = self.panel
        p.load_settings(training)
        for key, box in (("patience", p.patience), ("clip_norm", p.clip)):
            if training.get(key) is None:
                box.setValue(0)  # "off"
        p.lookback.setValue(int(training.get("lookback") or 0))
        horizon = training.get("horizon")
        p.horizon.setValue(int(horizon) if isinstance(horizon, int) and horizon >= 1 else 1)
        log = p.log_to.findData(training.get("log"))
        p.log_to.setCurrentIndex(max(log, 0))

    def _load_source(self, training: dict[str, Any], folder: Path | None) -> None:
        p = self.panel
        data = training.get("data") if isinstance(training.get("data"), dict) else {}
        kind = data.get("source", "demo")
        season = data.get("season")
        p.season.setValue(season if isinstance(season, int) and season >= 1 else 0)  # 0 = auto
        key = data.get("demo") if kind == "demo" else None
        idx = _find(p.source, (kind, key))
        if idx < 0:
            idx = next((i for i in range(p.source.count()) if p.source.itemData(i)[0] == kind), 0)
        kind = p.source.itemData(idx)[0]
        path = resolved_path(str(data.get("path") or ""), folder) if kind != "demo" else ""
        self.pending = None
        if kind in ("csv", "table"):
            self.pending = {
                "target": training.get("target"),
                "features": training.get("features"),
                "time": data.get("time", TIME_AUTO),
                "series": data.get("series"),
                "missing": data.get("missing"),
            }
        if path and p.has_table_for(path):  # undo / redo of a column choice: no second read of the file
            self._apply_columns(self.pending or {})
            self.pending = None
            p.refresh_plan()
        elif path:
            p.set_data_file(path)  # read in the background; _data_loaded applies the columns
        else:
            p.path_edit.setText("")
            p.source.setCurrentIndex(idx)
            p.refresh_plan()

    def _data_loaded(self, _path: str, error: str) -> None:
        """A file finished reading: put the design's column choices back, then record the user's file."""
        pending, self.pending = self.pending, None
        if pending is None:  # the user chose this file
            self.changed()
        elif not error:  # the design's file: its choices back; nothing changed unless the file did
            self.loading = True
            try:
                self._apply_columns(pending)
            finally:
                self.loading = False
            self.panel.refresh_plan()
            self.changed()
        # a design's file that cannot be read (moved, deleted): its choices stay in the design as they are

    def _apply_columns(self, pending: dict[str, Any]) -> None:
        p = self.panel
        if pending.get("target") and p.target.findText(pending["target"]) >= 0:
            p.target.setCurrentText(pending["target"])
        for box, key in ((p.time_column, "time"), (p.series, "series"), (p.missing, "missing")):
            idx = _find(box, pending.get(key))
            if idx >= 0:
                box.setCurrentIndex(idx)
        features = pending.get("features")
        if isinstance(features, list):
            p.set_features(features)


def _find(box, value) -> int:
    """The index of the item whose data is `value` (None included, which QComboBox.findData cannot find)."""
    return next((i for i in range(box.count()) if box.itemData(i) == value), -1)
