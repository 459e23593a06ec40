"""The frequency of a time column, and the times that continue it (forecasts past the data).

A time column (engine/data/tables.py) is held either as datetime64[s] values (dates and timestamps; the
`Table.times` array) or as numbers (an integer / numeric time column, float64). `infer_frequency`
names its step:

| frequency                         | step                                       | season |
|-----------------------------------|--------------------------------------------|--------|
| `hourly`                          | 3600 s                                     | 24     |
| `daily`                           | 1 day                                      | 7      |
| `business-daily`                  | Monday..Friday, Friday -> Monday           | 5      |
| `weekly`                          | 7 days                                     | 52     |
| `15min`, `30min`, `2h`, `10s` ... | any other fixed number of seconds          | steps/day * |
| `month-start`, `month-end`        | one calendar month, on the 1st / last day  | 12     |
| `monthly`                         | one month, on the same day of the month    | 12     |
| `quarter-start`, `quarter-end`, `quarterly` | three calendar months            | 4      |
| `yearly`, `year-end`              | twelve calendar months                     | 1      |
| `2-monthly`, `6-monthly` ...      | other whole numbers of months              | 12/months * |
| `integer`                         | a whole-number step of an integer column   | 1      |
| `numeric`                         | a fractional step of a numeric column      | 1      |
| `rows`                            | no time column: the row number             | 1      |

(*) the steps in a day when the step divides a day (15min: 96; the daily cycle), 12 / months when that
is whole; else 1.

Calendar steps are read on the calendar, not in seconds (January has 31 days, February 28 or 29), so
month ends stay month ends (2024-01-31, 2024-02-29, 2024-03-31). Anything else that is not evenly
spaced is a DataError naming the column, the two rows of the first gap and the time the step expected
there. `continue_times` writes the next times the way the file writes them (the strftime format the
column was read with, `Table.time_formats`; ISO dates otherwise).

numpy and the standard library only: no pandas, no torch, no Qt.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .tables import DataError

__all__ = [
    "ROWS",
    "Frequency",
    "continue_times",
    "format_time",
    "format_times",
    "infer_frequency",
    "iso_format",
    "next_values",
    "season_of",
]

DAY = 86400
_NAMED_SECONDS = {3600: ("hourly", 24), DAY: ("daily", 7), 7 * DAY: ("weekly", 52)}
_MONTH_NAMES = {
    (1, "start"): "month-start",
    (1, "end"): "month-end",
    (1, "day"): "monthly",
    (3, "start"): "quarter-start",
    (3, "end"): "quarter-end",
    (3, "day"): "quarterly",
    (12, "start"): "yearly",
    (12, "end"): "year-end",
    (12, "day"): "yearly",
}


@dataclass(frozen=True)
class Frequency:
    """The step of a time column.

    unit: "seconds" (a fixed step of `step` seconds), "months" (`step` calendar months, on `anchor`
    "start" = the 1st, "end" = the last day, "day" = the same day of the month, at the same time of
    day), "business-days" (one weekday), "number" (`step` added to a numeric time column) or "rows"
    (no time column: the row number, step 1).
    """

    name: str
    season: int = 1
    unit: str = "rows"
    step: float = 1
    anchor: str = ""

    @property
    def is_calendar(self) -> bool:
        return self.unit in ("seconds", "months", "business-days")

    def describe(self) -> str:
        """A few words for messages and the data plan: 'daily (season 7)'."""
        return f"{self.name} (season {self.season})"


ROWS = Frequency("rows", 1, "rows", 1)


def season_of(freq: Frequency) -> int:
    return freq.season


# ============================================================================ inference
def infer_frequency(
    values,
    column: str,
    *,
    rows: Sequence[int] | np.ndarray | None = None,
    source: str | None = None,
    fmt: str | None = None,
) -> Frequency:
    """The frequency of one series' time values (datetime64 or numbers, oldest first).

    rows: the 0-based file row of each value (for the message; default 0, 1, ...); source: the file
    (message prefix); fmt: how the file writes the times (for the message). Fewer than two values, or
    values that are not evenly spaced on the calendar or by a fixed step, are a DataError naming the
    column and, for a gap, its two rows, their times and the time the step expected.
    """
    arr = np.asarray(values)
    where = f"{source}: " if source else ""
    if arr.size < 2:
        raise DataError(
            f"{where}column '{column}' has {arr.size} time value(s) in a series: at least two are needed "
            f"to tell its frequency"
        )
    if np.issubdtype(arr.dtype, np.datetime64):
        t = arr.astype("datetime64[s]")
        if np.isnat(t).any():
            i = int(np.argmax(np.isnat(t)))
            raise DataError(f"{where}column '{column}', row {_row(rows, i) + 1}: empty time value: fill it in")
        freq, bad = _datetime_frequency(t)
    else:
        x = np.asarray(arr, dtype=np.float64)
        if np.isnan(x).any():
            i = int(np.argmax(np.isnan(x)))
            raise DataError(f"{where}column '{column}', row {_row(rows, i) + 1}: empty time value: fill it in")
        freq, bad = _number_frequency(x)
    if bad is not None:
        raise DataError(_gap_message(where, column, arr, rows, bad, freq, fmt))
    return freq


def _row(rows, i: int) -> int:
    return int(rows[i]) if rows is not None else i


def _gap_message(where: str, column: str, arr: np.ndarray, rows, i: int, freq: Frequency, fmt) -> str:
    """The first gap: value i+1 does not follow value i by the step."""
    a, b = arr[i], arr[i + 1]
    expected = continue_times(a, freq, 1, like=fmt)[0]
    ra, rb = _row(rows, i) + 1, _row(rows, i + 1) + 1
    what = "time goes backwards" if _before(b, a) else "not evenly spaced"
    return (
        f"{where}column '{column}' is {what}: row {rb} ({format_time(b, fmt)}) follows row {ra} "
        f"({format_time(a, fmt)}), but the {freq.name} step expects {expected}: add the missing rows or fix "
        f"the time"
    )


def _before(b, a) -> bool:
    try:
        return bool(b <= a)
    except TypeError:
        return False


def _mode(d: np.ndarray):
    vals, counts = np.unique(d, return_counts=True)
    return vals[int(np.argmax(counts))]


def _datetime_frequency(t: np.ndarray) -> tuple[Frequency, int | None]:
    """(frequency, index of the first value whose successor is off the step, or None)."""
    months = _month_frequency(t)
    if months is not None:
        return months
    secs = np.diff(t.astype(np.int64))
    step = int(_mode(secs))
    if step <= 0:
        return Frequency("seconds", 1, "seconds", 1), int(np.argmax(secs <= 0))
    freq = _seconds_frequency(step)
    off = secs != step
    if not off.any():
        return freq, None
    if step == DAY and _business_days(t):
        return Frequency("business-daily", 5, "business-days", 1), None
    return freq, int(np.argmax(off))


def _seconds_frequency(step: int) -> Frequency:
    if step in _NAMED_SECONDS:
        name, season = _NAMED_SECONDS[step]
        return Frequency(name, season, "seconds", step)
    if step % DAY == 0:
        name = f"{step // DAY}-daily"
    elif step % 3600 == 0:
        name = f"{step // 3600}h"
    elif step % 60 == 0:
        name = f"{step // 60}min"
    else:
        name = f"{step}s"
    season = DAY // step if step < DAY and DAY % step == 0 else 1  # the daily cycle (15min: 96)
    return Frequency(name, season, "seconds", step)


def _time_of_day(t: np.ndarray) -> np.ndarray:
    return (t - t.astype("datetime64[D]")).astype(np.int64)


def _month_frequency(t: np.ndarray) -> tuple[Frequency, int | None] | None:
    """Dates on one anchor (1st, last day, or the same day) at one time of day, a whole number of months
    apart at least once: the months frequency and its first gap; None when the dates are not that."""
    tod = _time_of_day(t)
    if not (tod == tod[0]).all():
        return None
    days = t.astype("datetime64[D]")
    month = days.astype("datetime64[M]")
    day_of_month = (days - month.astype("datetime64[D]")).astype(np.int64) + 1
    last_day = ((month + 1).astype("datetime64[D]") - 1 == days).all()
    if (day_of_month == 1).all():
        anchor = "start"
    elif last_day:
        anchor = "end"
    elif (day_of_month == day_of_month[0]).all() and day_of_month[0] <= 28:
        anchor = "day"
    else:
        return None
    dm = np.diff(month.astype(np.int64))
    step = int(_mode(dm))
    if step < 1:
        return None
    name = _MONTH_NAMES.get((step, anchor), f"{step}-monthly")
    season = 12 // step if step < 12 and 12 % step == 0 else 1
    off = dm != step
    return Frequency(name, season, "months", step, anchor), (int(np.argmax(off)) if off.any() else None)


def _business_days(t: np.ndarray) -> bool:
    """Weekdays only, each the next weekday after the one before (Friday -> Monday), at one time of day."""
    tod = _time_of_day(t)
    days = t.astype("datetime64[D]")
    if not (tod == tod[0]).all() or not np.is_busday(days).all():
        return False
    return bool((np.busday_offset(days[:-1], 1) == days[1:]).all())


def _number_frequency(x: np.ndarray) -> tuple[Frequency, int | None]:
    d = np.diff(x)
    whole = bool(np.all(x == np.round(x)))
    step = float(_mode(np.round(d, 9))) if not whole else float(_mode(d))
    freq = Frequency("integer" if whole else "numeric", 1, "number", step)
    if step <= 0:
        return freq, int(np.argmax(d <= 0))
    off = np.abs(d - step) > 1e-9 * max(abs(step), 1.0)
    return freq, (int(np.argmax(off)) if off.any() else None)


# ============================================================================ continuation
def continue_times(last_value, freq: Frequency, steps: int, like: str | None = None) -> list[Any]:
    """The `steps` times after `last_value` at `freq`.

    Dates and times (`freq.is_calendar`; last_value a datetime64 or anything numpy.datetime64 reads):
    strings written with `like` (the strftime format the column was read with, Table.time_formats),
    else ISO: '2024-01-31', or '2024-01-31 13:00:00' when the step or the last time has a time of day.
    Numbers: last + k * step (ints for a whole step from a whole value). Rows: last + k (ints).
    """
    values = next_values(last_value, freq, steps)
    if freq.unit == "rows":
        return [int(v) for v in values]
    if freq.unit == "number":
        if float(freq.step).is_integer() and float(last_value).is_integer():
            return [int(round(v)) for v in values]
        return [float(f"{v:.12g}") for v in values]
    return format_times(values, like or iso_format(last_value, freq))


def next_values(last_value, freq: Frequency, steps: int) -> np.ndarray:
    """The `steps` values after `last_value` as data: datetime64[s] for calendar frequencies, float64
    for numbers and rows (a chart's axis; `continue_times` writes them as text)."""
    if steps < 0:
        raise ValueError(f"steps must be 0 or more, received {steps}")
    k = np.arange(1, steps + 1)
    if freq.unit in ("rows", "number"):
        return float(last_value) + k * float(freq.step)
    return _calendar_next(np.datetime64(last_value, "s"), freq, k)


def iso_format(last_value, freq: Frequency) -> str:
    """ISO dates, with the time of day whenever the step or the last time has one (never '2024-04-01'
    for an hourly series at midnight)."""
    last = np.datetime64(last_value, "s")
    daily = not (freq.unit == "seconds" and int(freq.step) % DAY) and last == last.astype("datetime64[D]")
    return "%Y-%m-%d" if daily else "%Y-%m-%d %H:%M:%S"


def _calendar_next(last: np.datetime64, freq: Frequency, k: np.ndarray) -> np.ndarray:
    day = last.astype("datetime64[D]")
    tod = last - day.astype("datetime64[s]")
    if freq.unit == "seconds":
        return last + (k * int(freq.step)).astype("timedelta64[s]")
    if freq.unit == "business-days":
        return np.busday_offset(day, k, roll="forward").astype("datetime64[s]") + tod
    if freq.unit != "months":
        raise ValueError(f"not a calendar frequency: {freq.name}")
    month = day.astype("datetime64[M]") + k * int(freq.step)
    if freq.anchor == "start":
        days = month.astype("datetime64[D]")
    elif freq.anchor == "end":
        days = (month + 1).astype("datetime64[D]") - 1
    else:
        dom = int((day - day.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64))
        days = month.astype("datetime64[D]") + dom
    return days.astype("datetime64[s]") + tod


def format_time(value, like: str | None = None) -> str:
    """A time as the file writes it: with the strftime format `like`, else ISO (date only at midnight)."""
    if not np.issubdtype(np.asarray(value).dtype, np.datetime64):
        v = float(value)
        return str(int(v)) if v.is_integer() else f"{v:.12g}"
    t = np.datetime64(value, "s")
    if like:
        stamp = t.astype(_dt.datetime)
        if isinstance(stamp, _dt.datetime):
            return stamp.strftime(like)
    return str(t).replace("T", " ").removesuffix(" 00:00:00")


_ISO_UNITS = {  # strftime formats numpy writes itself (np.datetime_as_string: no Python object per value)
    "%Y-%m-%d": ("D", False),
    "%Y-%m": ("M", False),
    "%Y-%m-%d %H:%M:%S": ("s", True),
    "%Y-%m-%dT%H:%M:%S": ("s", False),
    "%Y-%m-%d %H:%M": ("m", True),
    "%Y-%m-%dT%H:%M": ("m", False),
}


def format_times(values, like: str) -> list[str]:
    """Many times with one strftime format (ISO forms through numpy, others through datetime)."""
    t = np.asarray(values, dtype="datetime64[s]")
    if like in _ISO_UNITS:
        unit, space = _ISO_UNITS[like]
        text = np.datetime_as_string(t, unit=unit)  # type: ignore[call-overload]  # unit: one of numpy's literals
        return [v.replace("T", " ") for v in text.tolist()] if space else text.tolist()
    return [format_time(v, like) for v in t]
