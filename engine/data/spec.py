"""What goes into the data line (engine/data/__init__.py): where the data comes from and how to cut it
(DataSpec, filled in by the CLI flags and the GUI's data panel), the words of each interface's controls
(CONTROLS: messages name the flags on the CLI and the panel's controls in the GUI), and what the data
must fit in the design (DesignIO: its input and output shapes, task and token vocabulary).

Imports nothing of the line but the column helpers (DataError); the design is read inside functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .columns import DataError

MISSING_POLICIES = ("error", "interpolate", "ffill", "drop")


SPLIT_NAMES = ("train", "val", "test")


SPLIT_WORDS = {"train": "training", "val": "validation", "test": "test"}


NO_TIME = "none"  # DataSpec.time: no time column (None: detect one)


CONTROLS = {
    "cli": {
        "features": "--features",
        "target": "--target",
        "lookback": "--lookback",
        "horizon": "--horizon",
        "split": "--split",
        "series": "--series",
        "time": "--time COL (or --no-time)",
        "missing": "--missing",
        "season": "--season",
        "features_example": "--features A,B",
        "missing_values": "--missing interpolate|ffill|drop",
    },
    "gui": {
        "features": "the Features ticks",
        "target": "the Target list",
        "lookback": "Lookback",
        "horizon": "Horizon",
        "split": "the Split fractions",
        "series": "the Series column list",
        "time": "the Time column list",
        "missing": "the Missing values list",
        "season": "Season",
        "features_example": "the Features ticks",
        "missing_values": "the Missing values list (interpolate, fill forward or drop)",
    },
}


@dataclass
class DesignIO:
    """What the plan needs to know about a design."""

    n_features: int
    timesteps: int | None
    seq_target: bool
    units: int
    task: str
    vocabulary: int | None = None  # an Input of integer token ids: the ids every token reader accepts ([0, this))
    output: tuple = ()  # the output shape (None for the batch axis), as messages show it

    @classmethod
    def of(cls, project, task: str | None = None) -> DesignIO:
        """The design's data shapes, task (given, or the training settings') and token vocabulary;
        DesignError for a design that does not check."""
        from ..design.compile import token_vocabulary

        res = _checked(project)
        _, in_shape, out_shape = _io(res)
        return cls(
            int(in_shape[-1]),
            in_shape[1],
            len(out_shape) == 3,
            int(out_shape[-1]),
            task or infer_task(project.training),
            token_vocabulary(project, res),
            out_shape,
        )


DEMOS = ("sine", "chaos")


@dataclass
class DataSpec:
    """Where the data comes from and how to cut it. CLI flags and the GUI's data panel fill this in.

    Exactly one of `path` and `demo`. `features=None` picks the default feature columns (see
    `choose_columns`); `target=None` is the last column; `lookback=None` is the design Input's
    timesteps (32 for a variable-length Input).
    """

    path: str | None = None
    demo: str | None = None  # "sine" | "chaos"
    target: str | None = None
    features: list[str] | None = None
    lookback: int | None = None
    horizon: int = 1
    split: tuple[float, float, float] = (0.7, 0.15, 0.15)
    demo_rows: int = 4000
    demo_seed: int = 0
    series: str | None = None  # column holding the series id (many series in one file)
    missing: str = "error"  # error | interpolate | ffill | drop
    time: str | None = None  # time column: None detects it, "none" means there is none, or a column name
    season: int | None = None  # season length m (seasonal naive, MASE); None: the run's, or the time column's
    fold: list[int] | None = (
        None  # backtest fold [k, K] (engine/forecasting/backtest.py): trains before test block k of K
    )

    @property
    def label(self) -> str:
        return f"demo:{self.demo}" if self.demo else str(self.path)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "demo": self.demo,
            "target": self.target,
            "features": self.features,
            "lookback": self.lookback,
            "horizon": self.horizon,
            "split": list(self.split),
            "demo_rows": self.demo_rows,
            "demo_seed": self.demo_seed,
            "series": self.series,
            "missing": self.missing,
            "time": self.time,
            "season": self.season,
            "fold": self.fold,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataSpec:
        d = dict(d or {})
        if "split" in d and d["split"] is not None:
            d["split"] = tuple(d["split"])
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def design_io(project) -> tuple[str, tuple, tuple]:
    """(input block id, input shape, output shape) of a valid design; DesignError otherwise."""
    return _io(_checked(project))


def _checked(project):
    """The design's check result; DesignError for a design that does not check."""
    from ..design.compile import DesignError
    from ..design.shapes import check

    res = check(project)
    if not res.ok:
        raise DesignError(res.errors)
    return res


def _io(res) -> tuple[str, tuple, tuple]:
    in_shape, out_shape = res.input_shape(), res.output_shape()
    # a design that checks ok has its one Input and the shapes of its input and output
    assert res.input_id is not None and in_shape is not None and out_shape is not None
    return res.input_id, tuple(in_shape), tuple(out_shape)


def infer_task(training: dict[str, Any]) -> str:
    task = training.get("task")
    if task in ("regression", "classification"):
        return task
    return "classification" if training.get("loss") == "cross_entropy" else "regression"


ONE_SOURCE = "give exactly one data source: --data FILE or --demo sine|chaos"


def check_source(spec: DataSpec) -> None:
    """Exactly one of a data file and a demo: the first refusal of every load."""
    if (spec.path is None) == (spec.demo is None):
        raise DataError(ONE_SOURCE)


def token_input(project) -> int | None:
    """The token ids a design's Input takes ([0, this)), None for float input; never raises for a design
    that does not check (DesignIO.of does)."""
    from ..design.compile import token_vocabulary
    from ..design.shapes import check

    return token_vocabulary(project, check(project))
