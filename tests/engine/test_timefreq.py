"""engine/data/timefreq.py: a time column's frequency, and the times that continue it, on the calendar."""

from __future__ import annotations

import numpy as np
import pytest

from rnn_studio.engine.data.tables import DataError, read_csv
from rnn_studio.engine.data.timefreq import ROWS, continue_times, infer_frequency


def dates(*values: str) -> np.ndarray:
    return np.array(values, dtype="datetime64[s]")


@pytest.mark.parametrize(
    ("values", "name", "season", "expected"),
    [
        (("2024-02-27", "2024-02-28", "2024-02-29"), "daily", 7, ["2024-03-01", "2024-03-02"]),
        (("2024-12-17", "2024-12-24"), "weekly", 52, ["2024-12-31", "2025-01-07"]),
        (("2024-01-01", "2024-02-01", "2024-03-01"), "month-start", 12, ["2024-04-01", "2024-05-01"]),
        (("2023-12-31", "2024-01-31", "2024-02-29"), "month-end", 12, ["2024-03-31", "2024-04-30"]),
        (("2024-01-15", "2024-02-15"), "monthly", 12, ["2024-03-15", "2024-04-15"]),
        (("2024-01-01", "2024-04-01", "2024-07-01"), "quarter-start", 4, ["2024-10-01", "2025-01-01"]),
        (("2024-03-31", "2024-06-30", "2024-09-30"), "quarter-end", 4, ["2024-12-31", "2025-03-31"]),
        (("2022-01-01", "2023-01-01"), "yearly", 1, ["2024-01-01", "2025-01-01"]),
        (("2022-12-31", "2023-12-31"), "year-end", 1, ["2024-12-31", "2025-12-31"]),
        (
            ("2024-03-31T22:00", "2024-03-31T23:00"),
            "hourly",
            24,
            ["2024-04-01 00:00:00", "2024-04-01 01:00:00"],
        ),
        (("2024-01-01T23:30", "2024-01-01T23:45"), "15min", 96, ["2024-01-02 00:00:00", "2024-01-02 00:15:00"]),
        (("2024-01-04", "2024-01-05", "2024-01-08"), "business-daily", 5, ["2024-01-09", "2024-01-10"]),
    ],
)
def test_calendar_frequencies_continue_on_the_calendar(values, name, season, expected):
    freq = infer_frequency(dates(*values), "date")
    assert (freq.name, freq.season) == (name, season)
    assert continue_times(dates(values[-1])[0], freq, 2) == expected


def test_times_are_written_in_the_files_own_format(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("month,y\n31/01/2024,1\n29/02/2024,2\n31/03/2024,3\n")
    table = read_csv(path)
    assert table.time_formats["month"] == "%d/%m/%Y"
    freq = infer_frequency(table.times["month"], "month")
    assert continue_times(table.times["month"][-1], freq, 3, like=table.time_formats["month"]) == [
        "30/04/2024",
        "31/05/2024",
        "30/06/2024",
    ]
    path.write_text("month,y\n2023-11,1\n2023-12,2\n")
    table = read_csv(path)
    freq = infer_frequency(table.times["month"], "month")
    assert continue_times(table.times["month"][-1], freq, 2, like=table.time_formats["month"]) == [
        "2024-01",
        "2024-02",
    ]


def test_numeric_time_columns_continue_by_their_step():
    freq = infer_frequency(np.array([1990.0, 1995.0, 2000.0]), "year")
    assert freq.name == "integer" and freq.step == 5
    assert continue_times(2000.0, freq, 3) == [2005, 2010, 2015]
    freq = infer_frequency(np.array([0.0, 0.25, 0.5]), "t")
    assert freq.name == "numeric"
    assert continue_times(0.5, freq, 2) == [0.75, 1.0]
    assert continue_times(120, ROWS, 2) == [121, 122]


def test_irregular_dates_name_the_gap_and_the_expected_time():
    with pytest.raises(DataError) as e:
        infer_frequency(
            dates("2024-01-01", "2024-01-02", "2024-01-03", "2024-01-05", "2024-01-06"),
            "date",
            rows=[10, 11, 12, 13, 14],
            source="sales.csv",
        )
    assert str(e.value) == (
        "sales.csv: column 'date' is not evenly spaced: row 14 (2024-01-05) follows row 13 (2024-01-03), "
        "but the daily step expects 2024-01-04: add the missing rows or fix the time"
    )
    with pytest.raises(DataError, match=r"row 3 \(2024-04-01\) follows row 2 \(2024-02-01\).*expects 2024-03-01"):
        infer_frequency(dates("2024-01-01", "2024-02-01", "2024-04-01", "2024-05-01"), "date")
    with pytest.raises(DataError, match="column 't' is not evenly spaced: row 4 .*expects 3"):
        infer_frequency(np.array([0.0, 1.0, 2.0, 4.0, 5.0]), "t")
    with pytest.raises(DataError, match="at least two are needed"):
        infer_frequency(dates("2024-01-01"), "date")
