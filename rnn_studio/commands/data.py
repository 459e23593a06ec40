"""data: what is in a data file, and (with a design) the plan a run would train on (engine.data.plan)."""

from __future__ import annotations

import json

import numpy as np

from rnn_studio.engine.data.tables import release_pages

from ..cli import UserError, load_design


def add_time_args(p) -> None:
    """--time COL / --no-time: DataSpec.time (engine/data/plan.py)."""
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--time",
        metavar="COL",
        help="the time column (orders the rows, not a default feature); default: detected (docs/data.md); "
        "--time none = no time column",
    )
    g.add_argument("--no-time", action="store_true", help="no time column: do not detect one")


def time_choice(args) -> str | None:
    """DataSpec.time from --time / --no-time: None (detect), "none" or a column name."""
    if getattr(args, "no_time", False):
        return "none"
    value = getattr(args, "time", None)
    if value is not None and not value.strip():
        raise UserError("--time needs a column name (or none, or use --no-time)")
    return value.strip() if value is not None else None


def register(sub) -> None:
    p = sub.add_parser(
        "data",
        help="column summary of a data file; with --design, the data plan a run would use",
        description="Summarise a data file (name, type, rows, missing, min/max, monotonic) and, "
        "with --design, show the plan: target, features, time and series columns, "
        "window, split boundaries and window counts. Exit 2 when the plan is impossible.",
    )
    p.add_argument("file", help="CSV / .csv.gz / Parquet / Feather / .npy file, or a folder of CSVs")
    p.add_argument("--design", metavar="D", help="project file (.rnn.json): also show the data plan")
    p.add_argument("--target", metavar="COL", help="target column (default: the last column)")
    p.add_argument("--features", metavar="A,B", help="feature columns (default: see docs/data.md)")
    p.add_argument("--series", metavar="COL", help="column holding the series id")
    add_time_args(p)
    p.add_argument("--missing", choices=("error", "interpolate", "ffill", "drop"), help="missing-value policy")
    p.add_argument("--lookback", type=int, metavar="N", help="window length (default: the Input's timesteps)")
    p.add_argument(
        "--horizon", type=int, metavar="N", help="the (first) target is N rows after the window's last row (default 1)"
    )
    p.add_argument("--split", metavar="A,B,C", help="train,val,test fractions (default 0.7,0.15,0.15)")
    p.add_argument("--season", type=int, metavar="M", help="season length in rows (default: from the time column)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_data)


def column_summary(table) -> list[dict]:
    """One entry per column: name, type, rows, missing, min, max, monotonic (increasing)."""
    out = []
    for name in table.names:
        kind = table.kinds[name]
        entry = {
            "name": name,
            "type": kind,
            "rows": table.n_rows,
            "missing": 0,
            "min": None,
            "max": None,
            "monotonic": None,
        }
        if kind == "text":
            col = table.columns[name]
            entry["missing"] = int(sum(v is None or str(v).strip() == "" for v in col))
            if name in table.bad:
                entry["note"] = f"non-number {table.bad[name][1]!r} at row {table.bad[name][0] + 1}"
        else:
            entry.update(_numeric_summary(table, name))
        out.append(entry)
    return out


def _numeric_summary(table, name: str, chunk_rows: int = 1 << 20) -> dict:
    """Missing count, min, max and strict increase of a numeric column, one chunk at a time: the chunks
    are views of the file's buffers (CSV blocks, or pieces of a memory-mapped file), never joined."""
    missing, lo, hi, increasing, last = 0, np.inf, -np.inf, True, None
    for chunk in table.cols.chunks(name):
        for start in range(0, len(chunk), chunk_rows):
            piece = chunk[start : start + chunk_rows]
            if not piece.size:
                continue
            nan = np.isnan(piece)
            n_nan = int(np.count_nonzero(nan))
            if n_nan == piece.size:
                missing += n_nan
                continue
            if n_nan:
                missing += n_nan
                piece = piece[~nan]
            lo, hi = min(lo, float(piece.min())), max(hi, float(piece.max()))
            if increasing:
                increasing = (last is None or piece[0] > last) and bool(np.all(piece[1:] > piece[:-1]))
            last = piece[-1]
            if table.mapped:  # a file larger than memory: hand the pages read back
                release_pages(chunk)
    if last is None:
        return {"missing": missing}
    return {
        "missing": missing,
        "min": table.value_text(name, lo),
        "max": table.value_text(name, hi),
        "monotonic": bool(increasing and table.n_rows - missing > 1),
    }


def _print_summary(table, summary: list[dict]) -> None:
    print(
        f"{table.source}: {table.n_rows:,} rows x {len(table.names)} columns ({table.fmt}"
        f"{', memory-mapped' if table.mapped else ''})"
    )
    width = max(len(e["name"]) for e in summary)
    print(f"  {'column':<{width}}  {'type':<7}  {'missing':>7}  {'min':>19}  {'max':>19}  monotonic")
    for e in summary:
        mono = "-" if e["monotonic"] is None else "yes" if e["monotonic"] else "no"
        print(
            f"  {e['name']:<{width}}  {e['type']:<7}  {e['missing']:>7,}  {e['min'] or '-'!s:>19}  "
            f"{e['max'] or '-'!s:>19}  {mono}" + (f"  ({e['note']})" if e.get("note") else "")
        )


def _spec(args):
    from rnn_studio.engine.data import DataSpec

    spec = DataSpec(
        path=args.file,
        target=args.target,
        series=args.series,
        missing=args.missing or "error",
        time=time_choice(args),
    )
    if args.features:
        spec.features = [f.strip() for f in args.features.split(",") if f.strip()]
    if args.lookback is not None:
        spec.lookback = args.lookback
    if args.horizon is not None:
        spec.horizon = args.horizon
    if args.season is not None:
        spec.season = args.season
    if args.split:
        try:
            spec.split = tuple(float(v) for v in args.split.split(","))
        except ValueError:
            raise UserError(f"--split must be three fractions like 0.7,0.15,0.15, received {args.split!r}") from None
    return spec


def cmd_data(args) -> int:
    from rnn_studio.engine.data import DataError, plan_data, read_table

    spec = _spec(args)
    try:
        table = None if args.file.lower().endswith(".npz") else read_table(args.file)
    except DataError as e:
        raise UserError(str(e)) from None
    if table is not None and spec.time not in (None, "none"):
        try:
            table.col_index(spec.time, "time column")  # checked without a design too
        except DataError as e:
            raise UserError(str(e)) from None
    summary = column_summary(table) if table is not None else []
    plan = None
    if args.design:
        from rnn_studio.engine.design.compile import DesignError  # imports torch: only with a design

        project = load_design(args.design)
        try:
            plan = plan_data(spec, project, table=table)
        except DesignError as e:
            raise UserError(f"{args.design}: the design has errors: {str(e).splitlines()[0]}") from None
    elif table is None:
        raise UserError(f"{args.file}: an .npz archive holds windows, not a table: pass --design to check it")
    if args.json:
        print(json.dumps({"columns": summary, "plan": plan.to_dict() if plan else None}, indent=2, default=str))
    else:
        if table is not None:
            _print_summary(table, summary)
        if plan is not None:
            print("plan:")
            for line in plan.describe():
                if not line.startswith("error: "):
                    print(f"  {line}")
    if plan is not None and plan.errors:
        raise UserError(plan.errors[0])
    return 0
