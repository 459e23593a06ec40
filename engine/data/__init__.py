"""Data for training: read (formats -> a table) -> plan (pure decisions) -> materialise (the plan and
the table -> a dataset of windows) -> the training loop. No Qt; torch only when tensors are made.

    tables     CSV / Parquet / Feather / .npy / folders -> Table (columns as numpy arrays), DataError
    timefreq   a time column's frequency and the times that continue it
    plan       DataPlan: target, features, time, series, windows, splits, missing values (no reading)
    tokens     tables of token ids (one sequence per row): their arrays and plan
    dataset    DataSpec, Dataset and its windows; load_dataset / plan_data: the line itself

Each step imports only the ones before it (docs/data.md is the user's description). Every name that
`engine.data` offered when it was one module is importable from here.
"""

from .dataset import (
    CONTROLS,
    DEMOS,
    NO_TIME,
    SPLIT_NAMES,
    SPLIT_WORDS,
    DataError,
    DataPlan,
    Dataset,
    DataSpec,
    DesignIO,
    Layout,
    MappedSeries,
    MappedTarget,
    RunMeta,
    Table,
    WindowIndex,
    WindowStarts,
    check_array,
    check_array_range,
    check_source_file,
    check_split,
    demo_columns,
    demo_table,
    design_io,
    infer_task,
    load_dataset,
    lookahead_warnings,
    mackey_glass,
    make_plan,
    make_token_plan,
    persistence_verdict,
    plan_data,
    raise_for_errors,
    read_csv,
    read_source,
    read_table,
    release_pages,
    split_bounds,
)

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
