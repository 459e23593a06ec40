"""The inspector: edits the selected block's params with widgets generated from the engine's Param specs
(ranges, choices, nullable values, help text). It validates with Param.validate and reports edits as
`paramEdited(block_id, name, value)`; the main window turns them into undo commands.
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from rnn_studio.engine import CATALOG, Param, fmt_shape, limits
from rnn_studio.engine.design.cost import human_count
from rnn_studio.engine.design.resources import human_bytes, memory_status

from . import theme as themes
from .canvas import block_summary
from .commands import UNSET
from .icons import category_icon

INT_MAX = 2_147_483_647


class _Field:
    """One param row: the editor widget, its reset button and its error line."""

    def __init__(self, param: Param, widget: QWidget, get, set_, reset: QToolButton, error: QLabel):
        self.param, self.widget, self.get, self.set, self.reset, self.error = param, widget, get, set_, reset, error


class Inspector(QWidget):
    paramEdited = Signal(str, str, object)  # block id, param name, value (commands.UNSET = reset to default)
    renameRequested = Signal(str)
    costLengthChanged = Signal(int)  # the time steps a variable-length design's cost is counted at

    def __init__(self, parent=None):
        super().__init__(parent)
        self.project = None
        self.result = None
        self.block_id: str | None = None
        self.fields: dict[str, _Field] = {}
        self._updating = False
        self._mode = None  # "block" | "design" | "multi"
        self.measured: dict[str, float] = {}  # block id -> ms from Design > Profile Latency (gui/cost_view.py)
        self.measured_note = ""  # "fp32, batch 1, 1 thread: p50 0.07 ms"

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer.addWidget(self.scroll)
        self.body = QWidget()
        self.scroll.setWidget(self.body)
        self.lay = QVBoxLayout(self.body)
        self.lay.setContentsMargins(12, 12, 12, 12)
        self.lay.setSpacing(10)
        self.setMinimumWidth(280)

    # ------------------------------------------------------------------ binding
    def set_project(self, project, result) -> None:
        self.project, self.result = project, result
        self.block_id = None
        self._mode = None
        self.show_selection([])

    def show_selection(self, ids: list[str]) -> None:
        if len(ids) == 1 and self.project is not None and self.project.block(ids[0]) is not None:
            if self._mode != "block" or self.block_id != ids[0]:
                self._build_block(ids[0])
        elif len(ids) > 1:
            self._build_multi(ids)
        else:
            self._build_design()

    def on_check(self, result) -> None:
        self.result = result
        if self._mode == "block":
            if self.project.block(self.block_id) is None:
                self._build_design()
            else:
                self._refresh_block()
        elif self._mode == "design":
            self._refresh_design()

    def on_param_changed(self, block_id: str, name: str) -> None:
        if self._mode == "block" and block_id == self.block_id:
            self._refresh_values()

    def focus_first_field(self) -> None:
        for f in self.fields.values():
            f.widget.setFocus(Qt.FocusReason.OtherFocusReason)
            if hasattr(f.widget, "selectAll"):
                f.widget.selectAll()
            return

    # ------------------------------------------------------------------ building
    def _clear(self) -> None:
        while self.lay.count():
            item = self.lay.takeAt(0)
            w = item.widget()
            if w is not None:
                w.hide()
                w.setParent(None)  # out of the widget tree now (findChild, focus chain), freed later
                w.deleteLater()
        self.fields = {}

    def _title(self, text: str, icon=None) -> QWidget:
        row = QWidget()
        h = QHBoxLayout(row)
        h.setContentsMargins(0, 0, 0, 0)
        h.setSpacing(8)
        if icon is not None:
            ic = QLabel()
            ic.setPixmap(icon.pixmap(28, 28))
            h.addWidget(ic)
        label = QLabel(text, objectName="InspectorTitle")
        h.addWidget(label, 1)
        return row

    def _muted(self, text: str, wrap=True) -> QLabel:
        label = QLabel(text, objectName="Muted")
        label.setWordWrap(wrap)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return label

    def _build_design(self) -> None:
        self._clear()
        self._mode, self.block_id = "design", None
        if self.project is None:
            return
        self.lay.addWidget(self._title("Design"))
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        form.setHorizontalSpacing(12)
        form.setVerticalSpacing(8)
        self.name_edit = QLineEdit(self.project.name)
        self.name_edit.setToolTip("The design's name (saved in the file)")
        self.name_edit.setMaxLength(limits.MAX_NAME_CHARS.int_value())  # a longer name would not load again
        self.name_edit.editingFinished.connect(self._rename)
        form.addRow("Name", self.name_edit)
        self.cost_length = QSpinBox()
        self.cost_length.setRange(1, 100_000)
        self.cost_length.setSuffix(" steps")
        self.cost_length.setToolTip(
            "The Input has a variable length: MACs and bytes are counted at this many time steps "
            "(rnn-studio check --length T)"
        )
        self.cost_length.editingFinished.connect(lambda: self.costLengthChanged.emit(self.cost_length.value()))
        self.cost_length_label = QLabel("Cost at")
        form.addRow(self.cost_length_label, self.cost_length)
        wrap = QWidget()
        wrap.setLayout(form)
        self.lay.addWidget(wrap)
        self.design_info = QLabel()
        self.design_info.setWordWrap(True)
        self.design_info.setTextFormat(Qt.TextFormat.RichText)
        self.design_info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.lay.addWidget(self.design_info)
        self.lay.addWidget(
            self._muted(
                "Select a block to edit its parameters.\n\nDrag blocks from the palette; drag from a block's bottom "
                "port to another block to link them. Shapes appear on every link as you build."
            )
        )
        self.lay.addStretch(1)
        self._refresh_design()

    def _refresh_design(self) -> None:
        if self.project is None or self.result is None:
            return
        if not self.name_edit.hasFocus() and self.name_edit.text() != self.project.name:
            self.name_edit.setText(self.project.name)
        r, t = self.result, themes.current()
        n_err, n_warn = len(r.errors), len(r.warnings)
        status = (
            f"<span style='color:{t.muted}'>empty: start with an Input block</span>"
            if not self.project.blocks
            else f"<span style='color:{t.ok}'>\u2714 valid</span>"
            if r.ok
            else f"<span style='color:{t.error}'>\u2716 {n_err} error{'s' if n_err != 1 else ''}</span>"
        )
        if n_warn:
            status += f", <span style='color:{t.warning}'>{n_warn} warning{'s' if n_warn != 1 else ''}</span>"
        rows = [
            ("Status", status),
            ("Blocks", str(len(self.project.blocks))),
            ("Links", str(len(self.project.links))),
            ("Parameters", f"{r.total_params:,}"),
        ]
        if r.resources is not None:
            rows.append(("Training memory", _memory_cell(r.resources)))
        if r.costs:
            totals = r.cost_totals()
            rows.append(("MACs / sample", f"{human_count(totals['macs'])} at {r.cost_length:,} steps"))
        if self.measured_note:
            rows.append(("Measured", _html(self.measured_note)))
        variable = r.input_shape() is not None and r.input_shape()[1] is None
        self.cost_length.setVisible(variable)
        self.cost_length_label.setVisible(variable)
        if variable and not self.cost_length.hasFocus():
            self.cost_length.setValue(r.cost_length)
        if r.input_shape() is not None:
            rows.append(("Input", f"<code>{fmt_shape(r.input_shape())}</code>"))
        if r.output_shape() is not None:
            rows.append(("Output", f"<code>{fmt_shape(r.output_shape())}</code>"))
        self.design_info.setText(
            "<table cellspacing='0' cellpadding='3'>"
            + "".join(f"<tr><td style='color:{t.muted}; padding-right:14px'>{k}</td><td>{v}</td></tr>" for k, v in rows)
            + "</table>"
        )

    def _rename(self) -> None:
        name = self.name_edit.text().strip()
        if name and self.project is not None and name != self.project.name:
            self.renameRequested.emit(name)

    def _build_multi(self, ids) -> None:
        self._clear()
        self._mode, self.block_id = "multi", None
        self.lay.addWidget(self._title(f"{len(ids)} blocks selected"))
        total = sum(self.result.param_counts.get(i, 0) for i in ids) if self.result else 0
        self.lay.addWidget(self._muted(", ".join(ids)))
        self.lay.addWidget(
            self._muted(
                f"{total:,} parameters in the selection.\n\nCtrl+D duplicates them with "
                f"their links, Delete removes them, Ctrl+C copies them as JSON."
            )
        )
        self.lay.addStretch(1)

    def _build_block(self, block_id: str) -> None:
        self._clear()
        self._mode, self.block_id = "block", block_id
        block = self.project.block(block_id)
        d = CATALOG.get(block.type)
        self.lay.addWidget(self._title(block.type, category_icon(d.category) if d else None))
        self.id_label = QLabel()
        self.id_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.lay.addWidget(self.id_label)
        self.info = QLabel()
        self.info.setTextFormat(Qt.TextFormat.RichText)
        self.info.setWordWrap(True)
        self.lay.addWidget(self.info)
        if d is not None:
            self.lay.addWidget(self._muted(d.help))
        self.problems_box = QLabel()
        self.problems_box.setObjectName("Card")
        self.problems_box.setWordWrap(True)
        self.problems_box.setTextFormat(Qt.TextFormat.RichText)
        self.problems_box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problems_box.setMargin(8)
        self.lay.addWidget(self.problems_box)
        if d is None:
            self.lay.addWidget(
                self._muted(f"Unknown block type '{block.type}': no parameters to edit. Replace it with a known block.")
            )
        elif d.params:
            sep = QFrame(objectName="Separator")
            sep.setFixedHeight(1)
            self.lay.addWidget(sep)
            form = QFormLayout()
            form.setHorizontalSpacing(10)
            form.setVerticalSpacing(6)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
            for p in d.params:
                f = self._make_field(p)
                self.fields[p.name] = f
                label = QLabel(p.name.replace("_", " "))
                label.setToolTip(f"<b>{p.name}</b>: {p.help}<br>range: {p.range_text()}, default: {_show(p.default)}")
                row = QWidget()
                h = QHBoxLayout(row)
                h.setContentsMargins(0, 0, 0, 0)
                h.setSpacing(4)
                h.addWidget(f.widget, 1)
                h.addWidget(f.reset)
                col = QWidget()
                v = QVBoxLayout(col)
                v.setContentsMargins(0, 0, 0, 0)
                v.setSpacing(2)
                v.addWidget(row)
                v.addWidget(f.error)
                form.addRow(label, col)
            wrap = QWidget()
            wrap.setLayout(form)
            self.lay.addWidget(wrap)
        else:
            self.lay.addWidget(self._muted(f"{block.type} has no parameters."))
        self.lay.addStretch(1)
        self._refresh_block()

    def _make_field(self, p: Param) -> _Field:
        error = QLabel(objectName="ParamError")
        error.setWordWrap(True)
        error.hide()
        reset = QToolButton(text="\u21ba")
        reset.setToolTip(f"Reset {p.name} to its default ({_show(p.default)})")
        reset.setAutoRaise(True)
        reset.clicked.connect(lambda: self._emit(p.name, UNSET))
        tip = f"{p.help}\nrange: {p.range_text()} \u00b7 default: {_show(p.default)}"
        w, get, set_ = self._editor(p)
        w.setToolTip(tip)
        w.setObjectName(f"param_{p.name}")
        if not isinstance(w, QCheckBox):
            w.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        return _Field(p, w, get, set_, reset, error)

    # ------------------------------------------------------------------ one editor per kind: (widget, get, set_)
    def _editor(self, p: Param):
        """The widget that edits `p` (it reports edits through `_emit`), with its getter and setter."""
        if p.kind == "float" and (p.min is None or p.min == 0 or p.min >= 1e-3):
            return self._float_editor(p)
        make = {"bool": self._bool_editor, "choice": self._choice_editor, "int": self._int_editor}
        return make.get(p.kind, self._decades_editor)(p)

    def _bool_editor(self, p: Param):
        w = QCheckBox()
        w.toggled.connect(lambda v: self._emit(p.name, bool(v)))
        return w, w.isChecked, lambda v: w.setChecked(bool(v))

    def _choice_editor(self, p: Param):
        w = QComboBox()
        w.addItems(list(p.choices))
        w.currentTextChanged.connect(lambda v: self._emit(p.name, v))

        def set_(v):
            if isinstance(v, str) and w.findText(v) < 0:
                w.addItem(v)  # show an invalid value as it is; the error line says why
            w.setCurrentText(str(v))

        return w, w.currentText, set_

    def _int_editor(self, p: Param):
        w = QSpinBox()
        lo = int(p.min) if p.min is not None else -INT_MAX
        hi = int(p.max) if p.max is not None else INT_MAX
        if p.nullable:
            w.setSpecialValueText(p.null_means or "null")
            lo -= 1
        w.setRange(lo, hi)
        w.setAccelerated(True)
        null_value = lo if p.nullable else None

        def get():
            return None if (null_value is not None and w.value() == null_value) else w.value()

        def set_(v):
            w.setValue(
                null_value
                if v is None and null_value is not None
                else int(v)
                if isinstance(v, (int, float)) and not isinstance(v, bool)
                else w.value()
            )

        w.valueChanged.connect(lambda _v: self._emit(p.name, get()))
        return w, get, set_

    def _float_editor(self, p: Param):
        w = QDoubleSpinBox()
        w.setDecimals(3)
        lo = p.min if p.min is not None else -1e9
        hi = p.max if p.max is not None else 1e9
        if p.max is not None and p.max_exclusive:
            hi = p.max - 10 ** -w.decimals()
        w.setRange(lo, hi)
        w.setSingleStep(0.05 if hi - lo <= 1.0 else 0.1)

        def set_(v):
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                w.setValue(float(v))

        w.valueChanged.connect(lambda v: self._emit(p.name, round(float(v), 6)))
        return w, w.value, set_

    def _decades_editor(self, p: Param):
        """Floats spanning decades (epsilon): a text field validated by the Param."""
        w = QLineEdit()

        def get():
            try:
                return float(w.text())
            except ValueError:
                return w.text()

        def set_(v):
            if not w.hasFocus():
                w.setText(_show(v))

        def edited(text):
            try:
                value = float(text)
            except ValueError:
                self._show_error(p.name, f"must be a number, received {text!r}")
                return
            reason = p.validate(value)
            if reason:
                self._show_error(p.name, reason)
            else:
                self._emit(p.name, value)

        w.textEdited.connect(edited)
        return w, get, set_

    # ------------------------------------------------------------------ refreshing
    def _emit(self, name: str, value) -> None:
        if self._updating or self.block_id is None:
            return
        block = self.project.block(self.block_id)
        if block is None:
            return
        if value is not UNSET and name in block.params and _same(block.params[name], value):
            return
        if (
            value is not UNSET
            and name not in block.params
            and _same(block.resolved().get(name), value)
            and isinstance(self.fields[name].widget, (QComboBox, QCheckBox))
        ):
            return
        self.paramEdited.emit(self.block_id, name, value)

    def _show_error(self, name: str, reason: str | None) -> None:
        f = self.fields.get(name)
        if f is None:
            return
        f.error.setText(reason or "")
        f.error.setVisible(bool(reason))
        if isinstance(f.widget, QLineEdit):
            f.widget.setProperty("invalid", bool(reason))
            f.widget.style().unpolish(f.widget)
            f.widget.style().polish(f.widget)

    def _refresh_values(self) -> None:
        block = self.project.block(self.block_id)
        if block is None:
            return
        values = block.resolved()
        self._updating = True
        try:
            for name, f in self.fields.items():
                v = values.get(name, f.param.default)
                try:
                    current = f.get()
                except Exception:
                    current = object()
                if not _same(current, v):
                    f.set(v)
                # the mark shows a value that differs from the default (one toggled back needs no reset)
                explicit = name in block.params and not _same(block.params[name], f.param.default)
                f.reset.setVisible(explicit)
                f.reset.setEnabled(explicit)
                self._show_error(name, f.param.validate(v))
        finally:
            self._updating = False

    def _refresh_block(self) -> None:
        block = self.project.block(self.block_id)
        if block is None:
            return
        t = themes.current()
        self.id_label.setText(
            f"<b>{_html(block.id)}</b>"
            f" &nbsp;<span style='color:{t.muted}'>{block_summary(block.type, block.resolved())}</span>"
        )
        r = self.result
        shape = r.shapes.get(block.id) if r else None
        ins = [r.shapes.get(s) for s in self.project.inputs_of(block.id)] if r else []
        rows = []
        if ins:
            rows.append(("In", ", ".join(f"<code>{fmt_shape(s)}</code>" for s in ins)))
        rows.append(
            (
                "Out",
                f"<code>{fmt_shape(shape)}</code>"
                if shape is not None
                else f"<span style='color:{t.muted}'>unknown</span>",
            )
        )
        if r and block.id in r.param_counts:
            rows.append(("Params", f"{r.param_counts[block.id]:,}"))
        rows += _cost_rows(r, block.id, self.measured, t)
        self.info.setText(
            "<table cellspacing='0' cellpadding='2'>"
            + "".join(f"<tr><td style='color:{t.muted}; padding-right:12px'>{k}</td><td>{v}</td></tr>" for k, v in rows)
            + "</table>"
        )
        probs = r.for_block(block.id) if r else []
        if probs:
            heads = {"error": "\u2716 Error", "warning": "\u26a0 Warning"}
            html = "<br><br>".join(
                f"<span style='color:{t.error if p.level == 'error' else t.warning}'><b>"
                f"{heads.get(p.level, p.level)}</b></span> {_html(p.message)}"
                for p in probs
            )
            self.problems_box.setText(html)
            self.problems_box.show()
        else:
            self.problems_box.hide()
        self._refresh_values()


def _cost_rows(result, block_id: str, measured: dict[str, float], t) -> list[tuple[str, str]]:
    """The block's cost (engine/design/cost.py) and its share of the design; measured ms after a profile."""
    if result is None or block_id not in result.costs:
        return []
    cost, totals = result.costs[block_id], result.cost_totals()
    share = cost.macs / totals["macs"] if totals["macs"] else 0.0
    rows = [("MACs", f"{human_count(cost.macs)} <span style='color:{t.muted}'>\u00b7 {share:.0%} of the design</span>")]
    state = f" \u00b7 {human_bytes(cost.state_bytes)} state" if cost.state_bytes else ""
    rows.append(("Per sample", f"{human_bytes(cost.activation_bytes)} out{state}"))
    if block_id in measured:
        total = sum(measured.values())
        part = measured[block_id] / total if total else 0.0
        rows.append(("Measured", f"{measured[block_id]:.4f} ms <span style='color:{t.muted}'>({part:.0%})</span>"))
    return rows


def cost_text(result) -> str:
    """`1.23 M MACs/sample` for the status bar (engine/design/cost.py)."""
    if not result.costs:
        return ""
    return f"{human_count(result.cost_totals()['macs'])} MACs/sample at {result.cost_length:,} steps"


def memory_text(result) -> str:
    """` · ~12 MB to train` for the status bar: the same figures as `rnn-studio check` (engine/design/resources.py)."""
    res = result.resources
    if res is None:
        return ""
    level, _ = memory_status(res)
    note = {"error": " (too much for this machine)", "warning": " (over half the memory)"}.get(level, "")
    return f" \u00b7 ~{human_bytes(res.training_bytes)} to train{note}"


def _memory_cell(res) -> str:
    """The inspector's "Training memory" value; coloured, with the reason, from half the RAM on."""
    text = f"~{human_bytes(res.training_bytes)} (batch {res.batch_size:,}, {res.length:,} steps)"
    level, line = memory_status(res)
    if level == "ok":
        return text
    t = themes.current()
    return f"<span style='color:{t.error if level == 'error' else t.warning}'>{text}</span><br>{_html(line)}"


def _same(a, b) -> bool:
    if type(a) is bool or type(b) is bool:
        return a is b
    if isinstance(a, float) or isinstance(b, float):
        try:
            return a is not None and b is not None and math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
        except (TypeError, ValueError):
            return False
    return a == b


def _show(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
