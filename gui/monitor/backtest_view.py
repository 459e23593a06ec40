"""The Backtest view: a rolling-origin backtest of the current design, started from the designer.

"Start backtest" runs `rnn-studio backtest DESIGN --data FILE --folds K --out DIR --json` with the Train
tab's data and settings in a child process (QProcess, as the Tune tab runs `rnn-studio tune`): it trains
one run per fold, so it must never share the editor's process. The view follows DIR/backtest.json (the
backtest rewrites it after every fold) and shows one row per finished fold, with the model's and both
baselines' RMSE and MASE and the interval coverage, and a chart of the per-fold MASE of the model against
seasonal naive and persistence. Stop ends the child; the folds already finished stay in backtest.json.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Protocol

import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from .. import theme as themes
from .plots import PALETTE, follow_theme, side_legend
from .train_form import tint

BACKTEST_FILE = "backtest.json"
# (header, model prefix, metric): the fold table's metric columns
COLUMNS = (
    ("RMSE\nmodel", "", "rmse"),
    ("RMSE\ns-naive", "seasonal_naive_", "rmse"),
    ("RMSE\npersist.", "persistence_", "rmse"),
    ("MASE\nmodel", "", "mase"),
    ("MASE\ns-naive", "seasonal_naive_", "mase"),
    ("MASE\npersist.", "persistence_", "mase"),
)
HEADERS = ["fold", "train\nrows", "test\nwindows", *[c[0] for c in COLUMNS], "cover-\nage"]
WIDE = 1100  # px: table and chart side by side from this width, else the chart under the table
CHART_MODELS = (
    ("model", "", PALETTE[0]),
    ("seasonal naive", "seasonal_naive_", PALETTE[1]),
    ("persistence", "persistence_", PALETTE[9]),
)
# train settings passed on as `rnn-studio backtest` flags (the same flags as `rnn-studio train`)
FLAGS = {
    "epochs": "--epochs",
    "batch_size": "--batch-size",
    "lr": "--lr",
    "optimizer": "--optimizer",
    "weight_decay": "--weight-decay",
    "schedule": "--schedule",
    "patience": "--patience",
    "clip_norm": "--clip-norm",
    "device": "--device",
    "precision": "--precision",
    "seed": "--seed",
    "level": "--level",
}


SPEC_FLAGS = {"target": "--target", "lookback": "--lookback", "horizon": "--horizon", "season": "--season"}


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def fold_value(fold: dict[str, Any], prefix: str, metric: str) -> float | None:
    """A fold's metric: `test_<prefix><metric>` (the summary.json / evaluate key), or without "test_"."""
    for key in (f"test_{prefix}{metric}", f"{prefix}{metric}"):
        if _num(fold.get(key)) is not None:
            return _num(fold[key])
    metrics = fold.get("metrics")
    return fold_value(metrics, prefix, metric) if isinstance(metrics, dict) else None


def fold_rows(result: dict[str, Any]) -> list[list[str]]:
    """The table's text: one row per finished fold, then "all" (the folds' test windows pooled)."""

    def fmt(v: float | None, pct: bool = False) -> str:
        return "–" if v is None else (f"{v:.0%}" if pct else f"{v:.4g}")

    def row(name: str, f: dict[str, Any], train_rows: Any) -> list[str]:
        return [
            name,
            str(train_rows),
            str(f.get("test_windows", "–")),
            *[fmt(fold_value(f, p, m)) for _, p, m in COLUMNS],
            fmt(fold_value(f, "", "coverage"), pct=True),
        ]

    folds = [f for f in result.get("folds") or [] if isinstance(f, dict)]
    rows = [row(str(f.get("fold", i)), f, f.get("train_rows", "–")) for i, f in enumerate(folds, 1)]
    overall = result.get("overall")
    if isinstance(overall, dict) and overall and folds:
        rows.append(row("all", overall, ""))
    return rows


def block_text(fold: dict[str, Any]) -> str:
    """The fold's test block as "test block 2023-07-01 .. 2024-03-01" (times or rows)."""
    start, end = fold.get("test_start"), fold.get("test_end")
    return "" if start is None else f"test block {start} .. {end}"


def read_backtest(out_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((Path(out_dir) / BACKTEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def backtest_args(
    design: Path, spec: dict[str, Any], overrides: dict[str, Any], folds: int, out_dir: Path
) -> list[str]:
    """`rnn-studio backtest` arguments (after the python executable) for the Train tab's data and settings."""
    args = ["-m", "rnn_studio", "backtest", str(design), "--folds", str(folds), "--out", str(out_dir), "--json"]
    if spec.get("demo"):
        args += ["--demo", str(spec["demo"])]
    elif spec.get("path"):
        args += ["--data", str(spec["path"])]
    for key, flag in SPEC_FLAGS.items():
        if spec.get(key) not in (None, ""):
            args += [flag, str(spec[key])]
    if spec.get("features"):
        args += ["--features", ",".join(spec["features"])]
    if spec.get("series"):
        args += ["--series", str(spec["series"])]
    if spec.get("time") == "none":
        args += ["--no-time"]
    elif spec.get("time"):
        args += ["--time", str(spec["time"])]
    if spec.get("missing") not in (None, "error"):
        args += ["--missing", str(spec["missing"])]
    for key, flag in FLAGS.items():
        if overrides.get(key) not in (None, ""):
            args += [flag, str(overrides[key])]
    return args


class BacktestSource(Protocol):
    """What a backtest starts from (the Train panel answers it): the design, the Data tab's spec, the
    Training tab's settings and the runs folder the backtest folder goes in."""

    runs_root: Path

    def project_getter(self) -> Any: ...

    def data_spec(self) -> dict[str, Any]: ...

    def overrides(self) -> dict[str, Any]: ...


class BacktestView(QtWidgets.QWidget):
    """Runs `rnn-studio backtest` on what `source` (a BacktestSource) gives and shows each fold as it lands."""

    finished = QtCore.Signal(int, str)  # exit code, the last line of the child's output

    def __init__(self, source: BacktestSource, parent=None):
        super().__init__(parent)
        self.source = source
        self.proc: QtCore.QProcess | None = None
        self.out_dir: Path | None = None
        self.result: dict[str, Any] | None = None
        self._sized = False
        self.extra_args: list[str] = []  # more `rnn-studio backtest` options (tests keep folds tiny)
        self._build()
        self.timer = QtCore.QTimer(self, interval=1000, timeout=self.poll)

    def _build(self) -> None:
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QtWidgets.QHBoxLayout()
        self.folds = QtWidgets.QSpinBox(minimum=2, maximum=50, value=3)
        self.folds.setToolTip("Expanding-window folds; each tests on the next block of rows at the end of each series")
        self.start_button = QtWidgets.QPushButton("▶ Start backtest")
        self.start_button.setToolTip(
            "Train the design once per fold with the Train tab's data and settings (rnn-studio backtest), in a "
            "separate process"
        )
        self.start_button.clicked.connect(self.start)
        self.stop_button = QtWidgets.QPushButton("■ Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.setToolTip("Stop the backtest; the folds already finished are kept")
        self.stop_button.clicked.connect(self.stop)
        row.addWidget(QtWidgets.QLabel("Folds:"))
        row.addWidget(self.folds)
        row.addWidget(self.start_button)
        row.addWidget(self.stop_button)
        row.addStretch(1)
        lay.addLayout(row)
        self.status = QtWidgets.QLabel(
            "A backtest trains the design on K expanding windows and tests each on the rows after it."
        )
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        tint(self.status, "muted")
        lay.addWidget(self.status)
        split = self.split = QtWidgets.QSplitter(QtCore.Qt.Vertical)
        split.setChildrenCollapsible(False)
        self.table = QtWidgets.QTableWidget(0, len(HEADERS))
        self.table.setHorizontalHeaderLabels(HEADERS)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 6)
        self.table.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeToContents)
        self.table.setMinimumSize(200, 80)
        split.addWidget(self.table)
        split.addWidget(self._chart())
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        lay.addWidget(split, 1)

    def _chart(self) -> pg.PlotWidget:
        self.chart = pg.PlotWidget()
        self.chart.setMinimumSize(200, 140)
        item = self.chart.plotItem
        item.showGrid(y=True, alpha=0.15)
        item.setLabel("bottom", "fold")
        item.setLabel("left", "MASE")
        self.legend = side_legend(item)
        self.bars: list[pg.BarGraphItem] = []
        for name, _prefix, color in CHART_MODELS:
            bar = pg.BarGraphItem(x=[], height=[], width=0.25, brush=pg.mkBrush(color), pen=pg.mkPen(None))
            item.addItem(bar)
            self.legend.addItem(bar, name)
            self.bars.append(bar)
        pen = pg.mkPen(themes.current().muted, style=QtCore.Qt.DashLine)
        self.one_line = pg.InfiniteLine(pos=1.0, angle=0, pen=pen)
        self.one_line.setToolTip("MASE 1: as good as the in-sample naive forecast")
        item.addItem(self.one_line)
        follow_theme(self.chart, "MASE per fold", lambda: self.legend)
        return self.chart

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        wide = QtCore.Qt.Horizontal if self.width() >= WIDE else QtCore.Qt.Vertical
        if self.split.orientation() != wide or not self._sized:
            self._sized = self.split.height() > 0
            self.split.setOrientation(wide)
            along = self.split.width() if wide == QtCore.Qt.Horizontal else self.split.height()
            self.split.setSizes([int(along * 0.58), along - int(along * 0.58)])

    # ------------------------------------------------------------------ running
    def is_running(self) -> bool:
        return self.proc is not None

    def say(self, text: str, role: str | None = None) -> None:
        self.status.setText(text)
        tint(self.status, role)

    def start(self) -> Path | None:
        """Start `rnn-studio backtest` on the current design; returns the backtest folder (None if refused)."""
        from rnn_studio import engine
        from rnn_studio.engine.design.project import atomic_write_text

        source = self.source
        if self.is_running():
            return None
        project = source.project_getter()
        if project is None or not engine.check(project).ok:
            self.say("Fix the design first (see Problems).", "error")
            return None
        spec = source.data_spec()
        if "path" in spec and not spec["path"]:
            self.say("Choose a data file in the Data tab first (or a demo dataset).", "error")
            return None
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in project.name) or "design"
        out = source.runs_root / f"{time.strftime('%Y%m%d-%H%M%S')}-{stem}-backtest"
        out.mkdir(parents=True, exist_ok=True)
        design = out / f"{stem}.rnn.json"  # the design as it was when the backtest started
        atomic_write_text(design, project.to_json())
        self.out_dir, self.result = out, None
        self.show_result({})
        proc = self.proc = QtCore.QProcess(self)
        proc.setProcessChannelMode(QtCore.QProcess.ProcessChannelMode.SeparateChannels)
        proc.finished.connect(self._finished)
        args = backtest_args(design, spec, source.overrides(), self.folds.value(), out) + self.extra_args
        proc.start(sys.executable, args)
        self.start_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.say(f"Backtesting '{project.name}' with {self.folds.value()} folds in {out}…")
        self.timer.start()
        return out

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()  # handled like Ctrl-C: the finished folds stay in backtest.json
            self.say("Stopping the backtest…")

    def poll(self) -> None:
        """Show the folds finished so far (backtest.json is rewritten after each fold)."""
        if self.out_dir is None:
            return
        result = read_backtest(self.out_dir)
        if result is not None and result != self.result:
            self.show_result(result)
        if self.is_running():
            done = len((result or {}).get("folds") or [])
            self.say(f"Backtest in {self.out_dir}: {done} of {self.folds.value()} folds finished…")

    def _finished(self, code: int, _status=None) -> None:
        proc, self.proc = self.proc, None
        self.timer.stop()
        err = bytes(proc.readAllStandardError()).decode("utf-8", "replace") if proc else ""
        last = next((line for line in reversed(err.splitlines()) if line.strip()), "")
        self.poll()
        self.start_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        n = len((self.result or {}).get("folds") or [])
        if code == 0:
            self.say(f"Backtest finished: {n} folds · {self.out_dir / BACKTEST_FILE}")
        else:
            reason = last or f"exit code {code}"
            self.say(f"Backtest stopped after {n} fold(s): {reason}", "error" if n == 0 else "warning")
        self.finished.emit(code, last)  # the Train panel refreshes its runs list

    def shutdown(self) -> None:
        if self.proc is not None:
            self.proc.finished.disconnect()
            self.proc.terminate()
            if not self.proc.waitForFinished(3000):
                self.proc.kill()
            self.proc = None

    # ------------------------------------------------------------------ showing
    def show_result(self, result: dict[str, Any]) -> None:
        """Fill the table and chart from a backtest.json dict (also one loaded from disk)."""
        self.result = result
        rows = fold_rows(result)
        self.table.setRowCount(len(rows))
        for r, values in enumerate(rows):
            for c, text in enumerate(values):
                item = QtWidgets.QTableWidgetItem(text)
                item.setTextAlignment(QtCore.Qt.AlignRight | QtCore.Qt.AlignVCenter)
                if values[0] == "all":
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                elif c == 0 and r < len(result.get("folds") or []):
                    item.setToolTip(block_text(result["folds"][r]))
                self.table.setItem(r, c, item)
        folds = [f for f in result.get("folds") or [] if isinstance(f, dict)]
        xs = [int(f.get("fold", i)) for i, f in enumerate(folds, 1)]
        for k, (bar, (_name, prefix, _color)) in enumerate(zip(self.bars, CHART_MODELS, strict=True)):
            heights = [fold_value(f, prefix, "mase") for f in folds]
            pairs = [(x + (k - 1) * 0.27, h) for x, h in zip(xs, heights, strict=True) if h is not None]
            bar.setOpts(x=[p[0] for p in pairs], height=[p[1] for p in pairs], width=0.25)
        if xs:
            self.chart.plotItem.getAxis("bottom").setTicks([[(x, str(x)) for x in xs]])
            self.chart.plotItem.enableAutoRange()

    def chart_heights(self) -> dict[str, list[float]]:
        """The bar heights drawn now, per model (what a test compares with backtest.json)."""
        out = {}
        for bar, (name, _p, _c) in zip(self.bars, CHART_MODELS, strict=True):
            h = bar.opts.get("height")
            out[name] = [] if h is None else [float(v) for v in h]
        return out
