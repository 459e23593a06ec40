"""RNN Studio engine: the truth about a design. Pure Python + PyTorch, never Qt.

Public API (a contract; see docs/project-format.md and README):
    load_project(path) -> Project          raises ProjectFormatError for unreadable files
    check(project) -> CheckResult          shapes per block, errors and warnings
    build_model(project) -> DesignModel    torch.nn.Module; raises DesignError when invalid
"""

from rnn_studio import __version__  # one version, defined in rnn_studio/__init__.py

# 0.2's flat module names (train, runs, tables, ... right under this package) answer with the moved modules
from .compat import MOVED as _MOVED
from .compat import install as _install_old_paths
from .compat import moved_module as _moved_module
from .design.blocks import CATALOG, CATEGORIES, BlockDef, ShapeError, fmt_shape
from .design.params import Param
from .design.project import (
    EXTENSION,
    FORMAT_VERSION,
    Block,
    Project,
    ProjectFormatError,
    atomic_write_bytes,
    atomic_write_text,
    load_project,
)
from .design.shapes import CheckResult, Problem, check

_install_old_paths(__name__)


def build_model(project, result=None):
    """Compile a valid design into a torch.nn.Module (torch is imported on first use)."""
    from .design.compile import build_model as _build

    return _build(project, result)


def __getattr__(name):
    if name in _MOVED:  # an old module name as an attribute, never imported by name (0.2 scripts)
        return _moved_module(__name__, name)
    if name in ("DesignError", "DesignModel"):
        from .design import compile as _compile

        return getattr(_compile, name)
    raise AttributeError(name)


__all__ = [
    "CATALOG",
    "CATEGORIES",
    "BlockDef",
    "Param",
    "ShapeError",
    "fmt_shape",
    "EXTENSION",
    "FORMAT_VERSION",
    "Block",
    "Project",
    "ProjectFormatError",
    "load_project",
    "atomic_write_text",
    "atomic_write_bytes",
    "CheckResult",
    "Problem",
    "check",
    "build_model",
    "__version__",
]
