"""Typed block parameters: kind, default, range, choices and help text.

A `Param` is declared once in a block definition (engine/design/blocks.py) and drives validation in
`check`, the widgets of the GUI inspector, the JSON Schema and the documentation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "int" | "float" | "bool" | "choice"
    default: Any
    help: str = ""
    min: float | None = None  # inclusive lower bound
    max: float | None = None  # inclusive upper bound
    max_exclusive: bool = False  # upper bound is exclusive (e.g. dropout rate < 1)
    choices: tuple[str, ...] = field(default_factory=tuple)
    nullable: bool = False  # None is allowed (e.g. timesteps = null: variable length)
    null_means: str = ""  # what None means, for docs and the inspector

    def range_text(self) -> str:
        if self.kind == "choice":
            return " | ".join(self.choices)
        if self.kind == "bool":
            return "true | false"
        lo = "-inf" if self.min is None else _num(self.min)
        hi = "inf" if self.max is None else _num(self.max)
        text = f"[{lo}, {hi}{')' if self.max_exclusive else ']'}"
        if self.nullable:
            text += " or null"
        return text

    def validate(self, value: Any) -> str | None:
        """Return None when `value` is acceptable, else a short reason quoting the received value."""
        if value is None:
            return None if self.nullable else f"must not be null (expected {self._expected()})"
        if self.kind == "bool":
            if not isinstance(value, bool):
                return f"must be true or false, received {_show(value)}"
            return None
        if self.kind == "choice":
            if not isinstance(value, str) or value not in self.choices:
                return f"must be one of {', '.join(self.choices)}; received {_show(value)}"
            return None
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    return f"must be a whole number, received {_show(value)} (write {int(value)})"
                return f"must be a whole number, received {_show(value)}"
        elif self.kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"must be a number, received {_show(value)}"
            if not math.isfinite(value):
                return f"must be a finite number, received {_show(value)}"
        if self.min is not None and value < self.min:
            return f"must be >= {_num(self.min)}, received {_show(value)}"
        if self.max is not None:
            if self.max_exclusive and value >= self.max:
                return f"must be < {_num(self.max)}, received {_show(value)}"
            if not self.max_exclusive and value > self.max:
                return f"must be <= {_num(self.max)}, received {_show(value)}"
        return None

    def _expected(self) -> str:
        return {"int": "a whole number", "float": "a number", "bool": "true or false"}.get(
            self.kind, "one of " + ", ".join(self.choices)
        )

    def json_schema(self) -> dict[str, Any]:
        if self.kind == "bool":
            s: dict[str, Any] = {"type": "boolean"}
        elif self.kind == "choice":
            s = {"type": "string", "enum": list(self.choices)}
        else:
            s = {"type": "integer" if self.kind == "int" else "number"}
            if self.min is not None:
                s["minimum"] = self.min
            if self.max is not None:
                s["exclusiveMaximum" if self.max_exclusive else "maximum"] = self.max
        if self.nullable:
            s = {"anyOf": [s, {"type": "null"}]}
        s["default"] = self.default
        s["description"] = self.help
        return s


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def _show(value: Any) -> str:
    from ..limits import excerpt  # a short quote however large the value (engine/limits.py)

    return excerpt(value)
