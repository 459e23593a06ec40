"""Data for training, one way: each step takes what the one before gave and hands it on.

    meta      RunMeta: what a run's data was (columns, window, normalization, classes, steps, season)
    spec      what goes in: DataSpec, the interface's CONTROLS, DesignIO (the design's shapes, task, vocabulary)
    sources   where it comes from: a demo, a data file or folder, an .npz; which flavour of the line it takes
    tables    CSV / Parquet / Feather / .npy / folders -> Table (columns as numpy arrays)
    tokens    a table of token ids (one sequence per row) -> its checked arrays
    plan      DataPlan (pure decisions): target, features, time, series, windows, splits, missing values;
              for .npz / token ids the samples checked against the design
    dataset   the plan materialised: Dataset and its windows, normalization fitted on the training split

and two helpers any step may call (they import nothing of the line): columns (DataError, a column's
checks chunk by chunk, releasing mapped pages) and timefreq (calendar rules). Each module imports only
the ones above it; this module is the conductor: `load_dataset` and `plan_data` call one step after
another, in that order (docs/data.md is the user's description). Every name that `engine.data` offered
when it was one module is importable from here.
"""

from __future__ import annotations

from ..metrics import persistence_verdict
from .columns import DataError, check_array, check_array_range, release_pages
from .dataset import (
    Dataset,
    MappedSeries,
    MappedTarget,
    WindowIndex,
    from_arrays,
    from_table,
    lookahead_warnings,
)
from .meta import RunMeta
from .plan import (
    DataPlan,
    Layout,
    WindowStarts,
    check_split,
    make_npz_plan,
    make_plan,
    make_token_plan,
    raise_for_errors,
    split_bounds,
)
from .sources import check_demo_task, demo_table, mackey_glass, read_source, source_kind
from .spec import (
    CONTROLS,
    DEMOS,
    NO_TIME,
    SPLIT_NAMES,
    SPLIT_WORDS,
    DataSpec,
    DesignIO,
    check_source,
    design_io,
    infer_task,
    token_input,
)
from .tables import Table, check_source_file, demo_columns, read_csv, read_npz, read_table
from .tokens import TokenArrays, token_arrays

__all__ = [
    "CONTROLS",
    "DEMOS",
    "DataError",
    "DataPlan",
    "DataSpec",
    "Dataset",
    "DesignIO",
    "Layout",
    "MappedSeries",
    "MappedTarget",
    "NO_TIME",
    "RunMeta",
    "SPLIT_NAMES",
    "SPLIT_WORDS",
    "Table",
    "WindowIndex",
    "WindowStarts",
    "check_array",
    "check_array_range",
    "check_source_file",
    "check_split",
    "demo_columns",
    "demo_table",
    "design_io",
    "infer_task",
    "load_dataset",
    "lookahead_warnings",
    "mackey_glass",
    "make_plan",
    "make_token_plan",
    "persistence_verdict",
    "plan_data",
    "raise_for_errors",
    "read_csv",
    "read_source",
    "read_table",
    "release_pages",
    "split_bounds",
]


def load_dataset(spec: DataSpec, project, *, meta: RunMeta | None = None, split: bool = True) -> Dataset:
    """Load data for a design. With `meta` (from a saved run), reuse its columns, window and
    normalization instead of fitting them (evaluate / predict); `split=False` puts every window in
    one split named "all". Refusals in this order: the data source, the design (DesignError), a token
    design's source, a demo for a classifier, then the data's own."""
    check_source(spec)
    design = DesignIO.of(project, meta.task if meta is not None else None)
    kind = source_kind(spec, design.vocabulary)
    if kind == "npz":
        assert spec.path is not None  # source_kind says "npz" for a path only
        plan, layout = make_npz_plan(read_npz(spec.path), spec, design, meta=meta, split=split)
        raise_for_errors(plan)
        assert layout is not None  # the layout is None only with errors, raised just above
        return from_arrays(plan, layout, design, meta)
    check_demo_task(spec, design.task)
    table = read_source(spec)
    if kind == "tokens":
        arrays = _token_arrays(table, spec, design, "cli")
        plan, layout = make_token_plan(table, spec, design, arrays, split=split, meta=meta)
        raise_for_errors(plan)
        assert layout is not None
        return from_arrays(plan, layout, design, meta)
    plan, layout = make_plan(table, spec, design, split=split, meta=meta, labels=True)
    raise_for_errors(plan)
    assert layout is not None
    return from_table(table, plan, layout, project, design, meta)


def plan_data(
    spec: DataSpec, project, *, table: Table | None = None, ui: str = "cli", task: str | None = None
) -> DataPlan:
    """The data plan of a spec for a design, errors included (never raises DataError for the data).
    Pass `table` to reuse a table already read (the GUI re-plans on every settings change)."""
    try:
        kind = source_kind(spec, token_input(project))
    except DataError as e:
        return DataPlan(spec.label, "?", 0, errors=[str(e)])
    if kind == "npz":
        return _npz_plan(spec, project)
    try:
        table = table if table is not None else read_source(spec)
    except DataError as e:
        return DataPlan(spec.label, "?", 0, errors=[str(e)])
    design = DesignIO.of(project, task)
    if kind == "tokens":  # one sequence of ids per row: the plan the dataset is built from
        return make_token_plan(table, spec, design, _token_arrays(table, spec, design, ui), ui=ui)[0]
    return make_plan(table, spec, design, ui=ui)[0]


def _npz_plan(spec: DataSpec, project) -> DataPlan:
    """An .npz's plan: its samples checked as training checks them (the CLI's words, as training's)."""
    assert spec.path is not None  # source_kind says "npz" for a path only
    design = DesignIO.of(project)
    try:
        arrays = read_npz(spec.path)
    except DataError as e:
        return DataPlan(str(spec.path), "npz", 0, errors=[str(e)])
    plan, _ = make_npz_plan(arrays, spec, design)
    if plan.errors:
        plan.source = str(spec.path)
    return plan


def _token_arrays(table: Table, spec: DataSpec, design: DesignIO, ui: str) -> TokenArrays | DataError:
    """The token reader's arrays, or its refusal (make_token_plan records it among the plan's errors)."""
    try:
        assert design.vocabulary is not None  # source_kind says "tokens" for a token Input only
        return token_arrays(table, spec, design.vocabulary, design.timesteps, CONTROLS[ui])
    except DataError as e:
        return e
