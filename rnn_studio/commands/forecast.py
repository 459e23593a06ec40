"""forecast: the steps after the last target of each series, dated, with intervals (engine/forecasting/forecast.py)."""

from __future__ import annotations

import re
import sys

from ..cli import UserError
from .training import add_data_args, data_spec, engine_errors, output_path


def register(sub) -> None:
    p = sub.add_parser(
        "forecast",
        help="forecast the steps after the last target of each series with a run, as a dated CSV",
        description="Forecast the H steps after the last row with a target of each series (rows at the end "
        "with an empty target are the future: their feature values are used). Writes the series column, the "
        "time column (continued at its frequency, in the file's format; `row` without one), step, "
        "prediction, lower, upper (docs/data.md).",
    )
    p.add_argument("run", help="run folder (runs/<time>-<name>)")
    add_data_args(p, with_window=False)
    p.add_argument("-o", "--output", required=True, metavar="OUT.csv")
    p.add_argument(
        "--steps",
        type=int,
        metavar="H",
        help="steps to forecast (default: the design's horizon steps; beyond them a model that reads only "
        "its target forecasts recursively)",
    )
    p.add_argument(
        "--level",
        type=float,
        metavar="X",
        help="interval level (default: the run's own, fitted at training; another level is computed from the "
        "validation residuals the run kept)",
    )
    p.add_argument("--checkpoint", choices=("best", "last"), default="best")
    p.set_defaults(func=cmd_forecast)


def cmd_forecast(args) -> int:
    from rnn_studio.engine.forecasting.forecast import forecast_run

    if args.steps is not None and args.steps < 1:
        raise UserError(f"--steps must be 1 or more, received {args.steps}")
    out = output_path(args.output)
    spec = data_spec(args)
    try:
        result = forecast_run(args.run, spec, steps=args.steps, level=args.level, checkpoint=args.checkpoint)
    except engine_errors() as e:
        raise UserError(_flags(str(e))) from None
    try:
        result.write_csv(out)
    except OSError as e:
        raise UserError(
            f"{out}: cannot write the forecast ({e.strerror or type(e).__name__}): choose a writable folder for -o"
        ) from None
    for note in result.notes:
        print(f"note: {_flags(note)}", file=sys.stderr)
    many = f" x {len(result.series)} series" if len(result.series) > 1 else ""
    print(f"wrote {result.steps} step(s){many} ({result.frequency.name}) to {out}")
    return 0


def _flags(message: str) -> str:
    """The engine's words for the forecast's settings, as this command's flags."""
    message = re.sub(r"ask for at most (\d+) step\(s\)", r"use --steps \1 or fewer", message)
    message = message.replace("leave the level out", "leave --level out")
    return re.sub(r"ask for (\d+) steps", r"use --steps \1", message)
