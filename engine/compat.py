"""Old module paths keep working: `rnn_studio.engine.train` *is* `rnn_studio.engine.training.train`.

0.3 grouped the engine into packages (design/, data/, training/, forecasting/). Scripts and docs written
for 0.2 import modules by their flat names (`from rnn_studio.engine.train import train`,
`rnn_studio.engine.runs.load_run`, `from rnn_studio.engine import tables`). A finder on sys.meta_path
answers those names with the moved module itself -- the same object, not a copy, so monkeypatching,
isinstance, pickling and `is` comparisons see one module -- and nothing is imported until an old name is
asked for. New code imports the new paths (tests/test_architecture.py keeps engine/ on them).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys

MOVED = {
    "project": "design.project",
    "events": "design.events",
    "params": "design.params",
    "blocks": "design.blocks",
    "cost": "design.cost",
    "layers": "design.layers",
    "shapes": "design.shapes",
    "resources": "design.resources",
    "settings": "design.settings",
    "schema": "design.schema",
    "docs": "design.docs",
    "compile": "design.compile",
    "tables": "data.tables",
    "timefreq": "data.timefreq",
    "dataplan": "data.plan",
    "tokens": "data.tokens",
    "train": "training.train",
    "distributed": "training.distributed",
    "tune": "training.tune",
    "runs": "training.runs",
    "checkpoints": "training.checkpoints",
    "records": "training.records",
    "follow": "training.follow",
    "diagnose": "training.diagnose",
    "tracking": "training.tracking",
    "intervals": "training.intervals",
    "forecast": "forecasting.forecast",
    "backtest": "forecasting.backtest",
}


class OldPaths(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds `<package>.<old name>` and loads it as `<package>.<new name>`."""

    def __init__(self, package: str):
        self.package = package  # "rnn_studio.engine" installed; "engine" when a checkout imports it top-level

    def find_spec(self, fullname, path=None, target=None):
        head, _, name = fullname.rpartition(".")
        if head != self.package or name not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec):
        return None  # a placeholder; exec_module puts the real module in its place

    def exec_module(self, module) -> None:
        name = module.__name__.rpartition(".")[2]
        # the import system returns whatever sys.modules holds under the old name after this call
        sys.modules[module.__name__] = importlib.import_module(f"{self.package}.{MOVED[name]}")


def install(package: str) -> None:
    if not any(isinstance(f, OldPaths) and f.package == package for f in sys.meta_path):
        sys.meta_path.append(OldPaths(package))


def moved_module(package: str, name: str):
    """`engine.runs` as an attribute (no import statement): the moved module, imported on first use."""
    return importlib.import_module(f"{package}.{MOVED[name]}")
