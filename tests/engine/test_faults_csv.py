"""CSV files from strangers (issue #22): encodings, compressed files, numbers and dates that pyarrow and
Python read differently. Each ends in exit 0 (the file is fine) or exit 2 with one line naming the file,
the column / row and what is wrong; never exit 1, a traceback or an aborted process."""

from __future__ import annotations

import gzip
import json

import pytest

from .faults import TINY_DESIGN, cli
from .hostile import assert_refused


def _rows(n=40, value=lambda i: f"{i % 7}"):
    return [f"2024-01-{1 + i // 24:02d} {i % 24:02d}:00,{value(i)},{i % 5}" for i in range(n)]


def _write(path, lines, header="time,a,b", encoding="utf-8"):
    path.write_bytes(("\n".join([header, *lines]) + "\n").encode(encoding))
    return path


def _data(path, *extra):
    return cli("data", str(path), *extra)


def _train(tmp_path, path):
    design = tmp_path / "tiny.rnn.json"
    design.write_text(json.dumps(TINY_DESIGN))
    return cli(
        "train",
        str(design),
        "--data",
        str(path),
        "--target",
        "b",
        "--features",
        "a",
        "--epochs",
        "1",
        "--out",
        str(tmp_path / "runs"),
    )


def test_non_utf8_header_is_named(tmp_path):
    path = tmp_path / "h.csv"
    path.write_bytes(b"ti\xffme,a,b\n" + "\n".join(_rows()).encode() + b"\n")
    assert_refused(_data(path), "h.csv", "header (line 1) is not UTF-8")


def test_non_utf8_cell_names_column_and_row(tmp_path):
    path = tmp_path / "c.csv"
    lines = [r.encode() for r in _rows()]
    lines[30] = b"2024-01-02 06:00,\xff\xfe,1"
    path.write_bytes(b"time,a,b\n" + b"\n".join(lines) + b"\n")
    assert_refused(_data(path), "column 'a'", "row 31", "not UTF-8")


def test_utf16_csv_says_utf16(tmp_path):
    path = _write(tmp_path / "w.csv", _rows(), encoding="utf-16")
    line = assert_refused(_data(path), "UTF-16")
    assert "fields" not in line


def test_truncated_gzip_is_refused(tmp_path):
    whole = gzip.compress(("time,a,b\n" + "\n".join(_rows(400)) + "\n").encode())
    path = tmp_path / "t.csv.gz"
    path.write_bytes(whole[: len(whole) // 2])
    assert_refused(_data(path), "t.csv.gz", "truncated")


@pytest.mark.slow
def test_gzip_bomb_is_refused_before_pyarrow_reads_it(tmp_path):
    """1 MB of a repeated line compresses to ~1 KB; 3,000 gzip members inflate to 3 GB from a 3 MB file.
    Under the child's 3 GB address-space cap pyarrow would abort the process; the stream check stops first."""
    member = gzip.compress(b"1,2,3\n" * 174_762)  # 1 MB
    path = tmp_path / "bomb.csv.gz"
    with open(path, "wb") as f:
        f.write(gzip.compress(b"time,a,b\n"))
        for _ in range(3000):
            f.write(member)
    outcome = _data(path)
    assert_refused(outcome, "bomb.csv.gz", "inflates to more than")
    assert outcome.seconds < 60


def test_gzip_limit_can_be_set(tmp_path):
    text = ("time,a,b\n" + "\n".join(_rows(600)) + "\n").encode()
    path = tmp_path / "ok.csv.gz"
    path.write_bytes(gzip.compress(text))
    assert _data(path).code == 0
    between = str((path.stat().st_size + len(text)) // 2)  # above the file's size, below what it inflates to
    assert_refused(cli("data", str(path), env={"RNN_STUDIO_MAX_DATA_BYTES": between}), "inflates to more than")


@pytest.mark.slow
def test_underscore_number_in_a_feature_names_column_and_row(tmp_path):
    path = _write(tmp_path / "u.csv", _rows(60, lambda i: "1_000" if i == 50 else str(i % 7)))
    assert _data(path).code == 0  # the summary shows the column as text with the bad cell
    assert_refused(_train(tmp_path, path), "'a'", "1_000")


def test_month_first_dates_are_read(tmp_path):
    """docs/data.md lists mm/dd/yyyy: 01/02 .. 01/12 also fit dd/mm/yyyy, 01/13 decides."""
    lines = [f"01/{d:02d}/2024,{d % 3},{d % 5}" for d in range(1, 29)]
    path = _write(tmp_path / "m.csv", lines, header="date,a,b")
    outcome = _data(path)
    assert outcome.code == 0, outcome.err
    assert "2024-01-28" in outcome.out


def test_day_first_dates_are_read(tmp_path):
    lines = [f"{d:02d}/01/2024,{d % 3},{d % 5}" for d in range(1, 29)]
    outcome = _data(_write(tmp_path / "d.csv", lines, header="date,a,b"))
    assert outcome.code == 0, outcome.err
    assert "2024-01-28" in outcome.out


def test_a_column_switching_from_dates_to_date_times_is_refused(tmp_path):
    lines = [f"2024-01-{d:02d},{d % 3},{d % 5}" for d in range(1, 20)] + ["2024-01-20 13:00:00,1,2"]
    assert_refused(
        _data(_write(tmp_path / "s.csv", lines, header="date,a,b")), "row 20", "write every row the same way"
    )


def test_hourly_date_times_with_midnights_are_fine(tmp_path):
    assert _data(_write(tmp_path / "h.csv", _rows(100))).code == 0


def test_a_megabyte_column_name_is_quoted_short(tmp_path):
    path = _write(tmp_path / "n.csv", _rows(), header="time,a," + "x" * 1_000_000)
    line = assert_refused(_data(path), "1,000,000 characters")
    assert len(line) < 400


@pytest.mark.slow
def test_a_long_but_allowed_column_name_is_cut_in_messages(tmp_path):
    name = "y" * 900
    path = _write(tmp_path / "n.csv", _rows(), header=f"time,a,{name}")
    design = tmp_path / "tiny.rnn.json"
    design.write_text(json.dumps(TINY_DESIGN))
    outcome = cli("train", str(design), "--data", str(path), "--target", "nope", "--out", str(tmp_path / "runs"))
    line = assert_refused(outcome, "nope", "yyy...")
    assert len(line) < 400


@pytest.mark.parametrize(
    "content", [b"\x00" * 100, b"a,b\n\xff\xff\xff\n", b'"unterminated\n1,2\n'], ids=["nul", "bytes", "quote"]
)
def test_odd_bytes_never_crash(tmp_path, content):
    path = tmp_path / "odd.csv"
    path.write_bytes(content)
    outcome = _data(path)
    assert outcome.code in (0, 2), outcome.err[-500:]
    if outcome.code == 2:
        assert_refused(outcome, "odd.csv")
