"""Reading users' tables: CSV (also .csv.gz), Parquet, Feather / Arrow IPC, .npy, a folder of CSVs.

pyarrow does the parsing (multithreaded C++ CSV reader, Parquet, Arrow IPC): a 1M-row x 9-column CSV
reads in about the time and memory `pandas.read_csv` needs (tests/benchmarks/bench_data.py). Numeric
columns become float64 numpy arrays without a copy where the file allows it; .npy and Arrow IPC files
are memory-mapped, so a file larger than memory can be trained on (rows are read per batch).

Only regular files are read: a FIFO or a device (`/dev/zero`) is refused by name before any read.
Formats read into memory (CSV, Parquet, .npz) have a size cap, MAX_IN_MEMORY_BYTES (default 4 GB,
environment variable RNN_STUDIO_MAX_DATA_BYTES); above it the message says to convert the file to a
memory-mapped format.

No Qt, no torch.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import gzip
import io
import math
import os
import re
import stat
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .columns import FLOAT32_MAX as FLOAT32_MAX
from .columns import DataError as DataError
from .columns import check_array as check_array
from .columns import check_array_range as check_array_range
from .columns import check_finite_range as check_finite_range
from .columns import release_pages as release_pages

MAX_IN_MEMORY_BYTES = int(os.environ.get("RNN_STUDIO_MAX_DATA_BYTES", str(4 << 30)))
FORMATS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".gz": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".feather": "arrow",
    ".arrow": "arrow",
    ".ipc": "arrow",
    ".npy": "npy",
    ".npz": "npz",
}
MAPPED_FORMATS = ("arrow", "npy")
TIME_NAMES = re.compile(
    r"^(time|date|datetime|timestamp|year|month|day|week|hour|minute|t|ts|step|"
    r"index|period|quarter)$|(^|[_ ])(time|date|timestamp)([_ ]|$)",
    re.IGNORECASE,
)
_MAPPED_HINT = "convert it to .npy or Arrow IPC (.arrow / .feather), which are memory-mapped instead of read"


def data_format(path: str | Path) -> str:
    """'csv' | 'parquet' | 'arrow' | 'npy' | 'npz' | 'folder' by the name; unknown suffixes read as CSV."""
    p = Path(path)
    if p.is_dir():
        return "folder"
    return FORMATS.get(p.suffix.lower(), "csv")


def check_source_file(path: str | Path, fmt: str | None = None) -> Path:
    """A readable regular file (or a folder of CSVs); FIFOs and devices are refused before any read."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise DataError(f"{p}: no such file: check the path of the data file") from None
    except OSError as e:
        raise DataError(f"{p}: cannot read ({e.strerror}): check the path and its permissions") from None
    if stat.S_ISDIR(st.st_mode):
        return p
    if not stat.S_ISREG(st.st_mode):
        kind = (
            "a FIFO (named pipe)"
            if stat.S_ISFIFO(st.st_mode)
            else "a device"
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
            else "not a regular file"
        )
        raise DataError(f"{p}: is {kind}, not a data file: save the data to a regular file and pass that")
    fmt = fmt or data_format(p)
    if fmt not in MAPPED_FORMATS and st.st_size > MAX_IN_MEMORY_BYTES:
        raise DataError(
            f"{p}: {st.st_size / 1e9:.1f} GB is above the {MAX_IN_MEMORY_BYTES / 1e9:.1f} GB limit for "
            f"reading into memory: {_MAPPED_HINT} (or raise RNN_STUDIO_MAX_DATA_BYTES)"
        )
    return p


# ============================================================================ the table
class Columns(MutableMapping):
    """name -> float64 / object numpy array, where a column read in chunks (pyarrow's CSV blocks) is
    joined into one array only when something asks for it: `rnn-studio data` summarises every column
    chunk by chunk and never joins them, and training joins only the columns the plan uses."""

    def __init__(self, arrays: dict[str, np.ndarray] | None = None):
        self._arrays: dict[str, np.ndarray] = dict(arrays or {})
        self._chunks: dict[str, list[np.ndarray]] = {}
        self._order: list[str] = list(self._arrays)

    def set_chunks(self, name: str, chunks: list[np.ndarray]) -> None:
        """A column as its chunks (zero-copy views of the Arrow buffers); joined on first access."""
        if len(chunks) == 1:
            self[name] = chunks[0]
            return
        if name not in self._arrays and name not in self._chunks:
            self._order.append(name)
        self._arrays.pop(name, None)
        self._chunks[name] = chunks

    def chunks(self, name: str) -> list[np.ndarray]:
        """The column's pieces in row order, without joining them."""
        if name in self._chunks:
            return self._chunks[name]
        return [self._arrays[name]]

    def length(self, name: str) -> int:
        return sum(len(c) for c in self._chunks[name]) if name in self._chunks else len(self._arrays[name])

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._arrays and name in self._chunks:
            chunks = self._chunks.pop(name)
            self._arrays[name] = np.concatenate(chunks) if chunks else np.zeros(0)
        return self._arrays[name]

    def __setitem__(self, name: str, value: np.ndarray) -> None:
        if name not in self._arrays and name not in self._chunks:
            self._order.append(name)
        self._chunks.pop(name, None)
        self._arrays[name] = value

    def __delitem__(self, name: str) -> None:
        if name not in self._arrays and name not in self._chunks:
            raise KeyError(name)
        self._arrays.pop(name, None)
        self._chunks.pop(name, None)
        self._order.remove(name)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, name: object) -> bool:
        return name in self._arrays or name in self._chunks


@dataclass
class Table:
    """Columns of a data file as numpy arrays.

    kinds[name]: "number" (float64, NaN = missing), "integer" (float64 holding whole numbers), "time"
    (float64 seconds since 1970, NaN = missing; `times` keeps the datetime64 values) or "text" (object
    array of str / None). `bad[name]` = (row, cell) of the first non-number in a column that is mostly
    numbers (a typo such as 'x7'): an error once the column is used.
    """

    source: str
    names: list[str]
    columns: MutableMapping[str, np.ndarray]  # a Columns (plain dicts are wrapped)
    kinds: dict[str, str]
    path: Path | None = None
    fmt: str = "csv"
    mapped: bool = False
    times: dict[str, np.ndarray] = field(default_factory=dict)
    bad: dict[str, tuple[int, str]] = field(default_factory=dict)
    line_numbers: list[int] | None = None  # file line of each data row; None: computed when needed
    mapped_source: np.ndarray | None = None  # .npy: the (rows, columns) memmap the columns are views of
    time_formats: dict[str, str] = field(default_factory=dict)  # text dates: the strftime format they were read with

    def __post_init__(self) -> None:
        if not isinstance(self.columns, Columns):
            self.columns = Columns(dict(self.columns))

    @property
    def cols(self) -> Columns:
        assert isinstance(self.columns, Columns)  # __post_init__ wraps whatever was given
        return self.columns

    @property
    def n_rows(self) -> int:
        return self.cols.length(self.names[0]) if self.names else 0

    @property
    def lines(self) -> list[int] | None:
        if self.line_numbers is None and self.fmt == "csv" and self.path is not None:
            self.line_numbers = csv_line_numbers(self.path)
        return self.line_numbers

    def where(self, col: str, row: int) -> str:
        lines = self.lines
        line = f" (line {lines[row]})" if lines is not None and row < len(lines) else ""
        return f"{self.source}: column {_short(col)}, row {row + 1}{line}"

    def col_index(self, name: str, what: str = "column") -> int:
        if name in self.names:
            return self.names.index(name)
        close = difflib.get_close_matches(name, self.names, n=1, cutoff=0.6)
        names = ", ".join(n if len(n) <= 40 else n[:40] + "..." for n in self.names[:20])
        more = f" and {len(self.names) - 20:,} more" if len(self.names) > 20 else ""
        hint = f"did you mean {_short(close[0])}?" if close else f"the columns are: {names}{more}"
        raise DataError(f"{self.source}: no {what} {_short(name)} in the header: {hint}")

    def is_text(self, name: str) -> bool:
        """A column that is not numbers (labels, ids; a column with a typo in one cell is numeric)."""
        self.col_index(name)
        return self.kinds[name] == "text" and name not in self.bad

    def cell_text(self, name: str, row: int) -> str:
        if name in self.times:
            v = self.times[name][row]
            text = "" if np.isnat(v) else str(v).replace("T", " ")
            return text.removesuffix(" 00:00:00")
        if self.kinds[name] == "text":
            v = self.columns[name][row]
            return "" if v is None else str(v)
        return self.value_text(name, self.cell(name, row))

    def cell(self, name: str, row: int):
        """One cell, read from its chunk (the column is not joined)."""
        for chunk in self.cols.chunks(name):
            if row < len(chunk):
                return chunk[row]
            row -= len(chunk)
        raise IndexError(row)

    def value_text(self, name: str, v) -> str:
        """A numeric cell's value as the file would show it ('' for missing)."""
        if name in self.times:
            t = np.datetime64(int(v), "s") if not (isinstance(v, float) and math.isnan(v)) else None
            return "" if t is None else str(t).replace("T", " ").removesuffix(" 00:00:00")
        v = float(v)
        if math.isnan(v):
            return ""
        return f"{v:.10g}" if self.kinds[name] != "integer" else str(int(v))

    def numeric(
        self, name: str, role: str = "feature", fix: str = "leave the column out of the features"
    ) -> np.ndarray:
        """The column as float64 (NaN = missing); a non-number cell, an infinite value or one beyond
        float32's range is a DataError at its row."""
        self.col_index(name)
        if name in self.bad:
            row, cell = self.bad[name]
            raise DataError(
                f"{self.where(name, row)}: non-numeric value {cell!r} in {role} column: fix the value, or {fix}"
            )
        if self.kinds[name] == "text":
            first = next((v for v in self.columns[name] if v not in (None, "")), "")
            raise DataError(f"{self.source}: column '{name}' is not numeric ({first!r}): {fix}")
        arr = self.columns[name]
        if not self.mapped:  # a mapped column is checked chunk by chunk where it is used
            check_finite_range(arr, lambda r: self.where(name, r))
        return arr


def csv_line_numbers(path: Path) -> list[int]:
    """The file line of each data row (blank lines skipped), for error messages only."""
    lines, header = [], False
    with _open_text(path) as f:
        reader = csv.reader(f)
        for row in reader:
            if not row or all(c.strip() == "" for c in row):
                continue
            if header:
                lines.append(reader.line_num)
            header = True
    return lines


def _open_text(path: Path):
    raw = gzip.open(path, "rb") if path.suffix.lower() == ".gz" else open(path, "rb")  # noqa: SIM115 (wrapped)
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")


# ============================================================================ readers
def read_table(path: str | Path) -> Table:
    """Read any supported data file (or a folder of CSVs: one series each, column 'series')."""
    fmt = data_format(path)
    p = check_source_file(path, fmt)
    if fmt == "folder":
        return read_folder(p)
    if fmt == "npz":
        raise DataError(f"{p}: an .npz archive holds pre-windowed sequences, not a table")
    if fmt == "npy":
        return read_npy(p)
    import pyarrow as pa

    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            arrow = pq.read_table(p)
        elif fmt == "arrow":
            arrow = _read_ipc(p)
        else:
            return read_csv(p)
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"{p}: not a readable {fmt} file ({str(e).splitlines()[0][:200]}): check the file") from None
    return from_arrow(arrow, str(p), p, fmt, mapped=fmt == "arrow")


def _read_ipc(p: Path):
    import pyarrow as pa

    source = pa.memory_map(str(p), "r")
    try:
        return pa.ipc.open_file(source).read_all()
    except pa.ArrowInvalid:
        source = pa.memory_map(str(p), "r")
        return pa.ipc.open_stream(source).read_all()


CSV_BLOCK_BYTES = 8 << 20  # pyarrow CSV block size (measured: tests/benchmarks/bench_data.py)


def read_csv(path: str | Path) -> Table:
    """A CSV (header row, one row per time step; .csv.gz too) through pyarrow's CSV reader."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    p = check_source_file(path, "csv")
    if p.is_dir():
        raise DataError(f"{p}: is a folder: pass a data file, or a folder holding .csv files (one series each)")
    if p.stat().st_size == 0:
        raise DataError(f"{p}: the file is empty: expected a header row, then one row per time step")
    if p.suffix.lower() == ".gz":
        check_gzip(p)
    _check_text_head(p)
    convert = pacsv.ConvertOptions(
        null_values=["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"],
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    # 8 MiB blocks instead of pyarrow's 1 MiB: a 92 MiB CSV parses in ~0.5 s instead of ~1.4 s here, and
    # 23 chunks per column instead of 169 make joining them into one array ~8x cheaper
    read = pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES)
    try:
        arrow = pacsv.read_csv(p, read_options=read, convert_options=convert)
    except UnicodeDecodeError:
        raise DataError(f"{p}: not UTF-8 text: save the file as UTF-8 CSV") from None
    except (pa.ArrowException, OSError) as e:
        _explain_csv(p, e)
    if arrow.num_rows == 0:
        raise DataError(f"{p}: the header has no data rows under it: add one row per time step")
    _check_binary_columns(p, arrow)
    table = from_arrow(arrow, str(p), p, "csv")
    _check_date_switch(p, arrow, table)
    return table


def inflate_limit() -> int:
    """Bytes a compressed CSV may inflate to: MAX_IN_MEMORY_BYTES, and no more than a quarter of this
    process's address-space limit or half the free memory (pyarrow stops the whole process when an
    allocation fails, so it must never get that far)."""
    import resource

    cap = MAX_IN_MEMORY_BYTES
    with contextlib.suppress(ValueError, OSError):
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            cap = min(cap, soft // 4)
    with contextlib.suppress(ValueError, OSError, AttributeError):
        cap = min(cap, os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2)
    return max(cap, 1)


def check_gzip(p: Path) -> None:
    """Inflate a .gz file once, in a stream, counting bytes: a truncated or damaged file, or one that
    inflates beyond `inflate_limit()` (a gzip bomb), is refused before pyarrow reads it."""
    import zlib

    cap, total = inflate_limit(), 0
    try:
        with gzip.open(p, "rb") as f:
            while chunk := f.read(1 << 20):
                total += len(chunk)
                if total > cap:
                    raise DataError(
                        f"{p}: inflates to more than {cap / 1e6:,.0f} MB, the limit for a compressed CSV read into "
                        f"memory: {_MAPPED_HINT}; or raise RNN_STUDIO_MAX_DATA_BYTES (docs/limits.md)"
                    )
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as e:
        raise DataError(f"{p}: a damaged or truncated gzip file ({str(e)[:120]}): compress it again") from None


def _check_text_head(p: Path) -> None:
    """UTF-16 / UTF-32 files (a byte-order mark, or NUL bytes between the characters) and a header that
    is not UTF-8 are named as such, not as rows with the wrong number of fields."""
    opener = gzip.open if p.suffix.lower() == ".gz" else open
    try:
        with opener(p, "rb") as f:
            head = f.read(64 << 10)
    except (EOFError, OSError):
        return  # read_csv reports it
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\0" in head[:4096]:
        raise DataError(f"{p}: UTF-16 (or UTF-32) text, not UTF-8: save the file as UTF-8 CSV")
    line = head.split(b"\n", 1)[0]
    try:
        line.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        if len(line) < len(head) or e.start < len(line) - 4:  # not merely cut inside a character
            raise DataError(
                f"{p}: the header (line 1) is not UTF-8 text (byte {e.start}: {line[e.start : e.start + 4]!r}): "
                f"save the file as UTF-8 CSV"
            ) from None


def _check_binary_columns(p: Path, arrow) -> None:
    """pyarrow reads a column holding bytes that are not UTF-8 as binary: name the first such cell."""
    import pyarrow as pa

    for index, (name, col) in enumerate(zip(arrow.column_names, arrow.columns, strict=True)):
        if not (pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type)):
            continue
        row = 0
        for chunk in col.chunks:
            for value in chunk.to_pylist():
                row += 1
                try:
                    value is None or value.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise DataError(
                        f"{p}: column {_short(str(name))} (column {index + 1}), row {row}: not UTF-8 text "
                        f"(bytes {value[e.start : e.start + 4]!r}): save the file as UTF-8 CSV"
                    ) from None


def _short(name: str, chars: int = 80) -> str:
    """A column name quoted for a message: at most `chars` characters of it."""
    return repr(name) if len(name) <= chars else repr(name[:chars]) + f"... ({len(name):,} characters)"


_DATE_ONLY = re.compile(r"\s*\d{4}-\d{1,2}-\d{1,2}\s*")


def _check_date_switch(p: Path, arrow, table: Table) -> None:
    """pyarrow reads a column of dates that later holds dates with times as one timestamp column: the
    dates silently become midnight. Refused, naming the first row written the other way."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    for name, col in zip(table.names, arrow.columns, strict=True):
        stamps = table.times.get(name)
        if stamps is None or not pa.types.is_timestamp(col.type):
            continue
        secs = stamps[~np.isnat(stamps)].astype("datetime64[s]").astype(np.int64)
        midnight = secs % 86400 == 0
        if midnight.all() or not midnight.any():
            continue  # only dates, or no date at midnight: nothing can have switched
        raw = pacsv.read_csv(
            p,
            read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
            convert_options=pacsv.ConvertOptions(
                include_columns=[col_name(arrow, name)], column_types={col_name(arrow, name): pa.string()}
            ),
        ).column(0)
        kinds = [None if v is None else bool(_DATE_ONLY.fullmatch(v)) for v in raw.to_pylist()]
        present = [k for k in kinds if k is not None]
        if present and any(present) and not all(present):
            first = present[0]
            row = next(i for i, k in enumerate(kinds) if k is not None and k != first)
            raise DataError(
                f"{table.where(name, row)}: {_short(str(raw[row].as_py()), 40)} is a "
                f"{'date' if not first else 'date with a time'} in a column of "
                f"{'dates with times' if not first else 'dates'}: write every row the same way "
                f"(e.g. 2024-01-31 00:00 for a date)"
            )


def col_name(arrow, name: str) -> str:
    """The column's name as the file spells it (from_arrow strips spaces around names)."""
    return next(n for n in arrow.column_names if str(n).strip() == name)


def _explain_csv(p: Path, error: Exception) -> None:
    """pyarrow refused the file: find the first problem with Python's csv module for a precise line."""
    text = str(error).splitlines()[0][:200]
    try:
        with _open_text(p) as f:
            reader = csv.reader(f)
            header, n = None, 0
            for row in reader:
                if not row or all(c.strip() == "" for c in row):
                    continue
                if header is None:
                    header = row
                    _check_header(p, [c.strip() for c in row])
                    continue
                n += 1
                if len(row) != len(header):
                    raise DataError(
                        f"{p}: row {n} (line {reader.line_num}) has {len(row)} fields but the header has "
                        f"{len(header)} columns: fix that row (a missing or extra comma?)"
                    )
    except csv.Error as e:
        raise DataError(f"{p}: malformed CSV ({e}): fix the quoting") from None
    if "UTF-8" in text or "utf8" in text.lower():
        raise DataError(f"{p}: not UTF-8 text: save the file as UTF-8 CSV")
    raise DataError(f"{p}: not a readable CSV file ({text}): check the file")


MAX_COLUMN_NAME_CHARS = 1000


def _check_header(p, header: list[str]) -> None:
    seen: set[str] = set()
    for i, name in enumerate(header):
        if name == "":
            raise DataError(f"{p}: column {i + 1} of the header has no name: name every column in the first row")
        if len(name) > MAX_COLUMN_NAME_CHARS:
            raise DataError(
                f"{p}: column {i + 1}'s name is {len(name):,} characters long ({_short(name, 40)}), more than "
                f"{MAX_COLUMN_NAME_CHARS:,}: is the first row a header?"
            )
        if name in seen:
            raise DataError(f"{p}: column name {_short(name)} appears twice in the header: make column names unique")
        seen.add(name)


def from_arrow(arrow, source: str, path: Path | None, fmt: str, mapped: bool = False) -> Table:
    """Arrow columns -> numpy: numbers (no copy where possible), times, text."""
    import pyarrow as pa

    names = [str(n).strip() for n in arrow.column_names]
    _check_header(source, names)
    table = Table(source, names, {}, {}, path, fmt, mapped=mapped)
    for name, col in zip(names, arrow.columns, strict=True):
        typ = col.type
        if pa.types.is_null(typ):  # every cell empty
            table.columns[name] = np.full(len(col), np.nan)
            table.kinds[name] = "number"
        elif (
            pa.types.is_integer(typ)
            or pa.types.is_floating(typ)
            or pa.types.is_boolean(typ)
            or pa.types.is_decimal(typ)
        ):
            if not pa.types.is_float64(typ):
                col = col.cast(pa.float64())
            table.cols.set_chunks(name, _numpy_chunks(col))
            table.kinds[name] = "integer" if pa.types.is_integer(typ) else "number"
        elif pa.types.is_timestamp(typ) or pa.types.is_date(typ):
            _set_times(table, name, _to_numpy(col.cast(pa.timestamp("s"))))
        else:
            _text_column(table, name, col)
    return table


def _numpy_chunks(col) -> list[np.ndarray]:
    """Chunk by chunk, never through pyarrow's pandas path (`to_numpy(zero_copy_only=False)` imports
    pandas: seconds); a float or timestamp chunk without nulls is no copy."""
    return [_chunk_numpy(c) for c in getattr(col, "chunks", [col]) if len(c)] or [np.zeros(0)]


def _to_numpy(col) -> np.ndarray:
    """The chunks joined into one array."""
    chunks = _numpy_chunks(col)
    if len(chunks) == 1:
        return chunks[0]
    if not chunks:
        return np.zeros(0)
    return np.concatenate(chunks)


def _values(chunk, dtype: np.dtype) -> np.ndarray:
    """The values buffer of a primitive chunk without nulls as a numpy view (no copy; Array.to_numpy
    would import pandas even for zero-copy)."""
    buf = chunk.buffers()[1]
    return np.frombuffer(buf, dtype=dtype, count=len(chunk), offset=chunk.offset * dtype.itemsize)


def _chunk_numpy(chunk) -> np.ndarray:
    import pyarrow as pa

    typ = chunk.type
    if pa.types.is_floating(typ):
        if chunk.null_count:
            import pyarrow.compute as pc  # only for gaps: importing it costs ~0.3 s

            chunk = pc.fill_null(chunk, pa.scalar(float("nan"), typ))
        return _values(chunk, np.dtype(f"f{typ.bit_width // 8}"))
    if pa.types.is_timestamp(typ):
        unit = typ.unit
        ints = chunk.cast(pa.int64())
        if chunk.null_count:
            import pyarrow.compute as pc

            ints = pc.fill_null(ints, np.iinfo(np.int64).min)  # NaT
        return _values(ints, np.dtype(np.int64)).view(f"datetime64[{unit}]")
    return np.array(chunk.to_pylist(), dtype=object)


def _set_times(table: Table, name: str, values: np.ndarray) -> None:
    values = values.astype("datetime64[s]")
    table.times[name] = values
    secs = values.astype(np.int64).astype(np.float64)
    secs[np.isnat(values)] = np.nan
    table.columns[name] = secs
    table.kinds[name] = "time"


DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y/%m/%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%Y-%m",
    "%Y/%m/%d %H:%M",
    "%d/%m/%Y %H:%M",
)


def _text_column(table: Table, name: str, col) -> None:
    """Strings: a mostly-numeric column with a typo (bad cell remembered), dates in a common format, or text."""
    values = _to_numpy(col)
    table.columns[name] = values
    table.kinds[name] = "text"
    present = [(r, v) for r, v in _first_present(values, 1000)]
    if not present:
        return
    parsed = sum(_is_number(v) for _, v in present)
    if parsed * 2 >= len(present):
        row = next(r for r, v in enumerate(values) if v is not None and not _is_number(v))
        table.bad[name] = (row, str(values[row]).strip())
        return
    times = _parse_dates(col)
    if times is not None:
        stamps, bad_row, fmt = times
        if bad_row is None:
            _set_times(table, name, stamps)
            table.time_formats[name] = fmt  # forecasts write continued times the same way (engine/data/timefreq.py)
        elif TIME_NAMES.search(name):
            raise DataError(
                f"{table.where(name, bad_row)}: {values[bad_row]!r} is not a date or time like the rows "
                f"above it: fix the value (e.g. 2024-01-31 or 2024-01-31 13:00)"
            )


def _first_present(values, n: int):
    count = 0
    for r, v in enumerate(values):
        if v is not None and str(v).strip() != "":
            yield r, v
            count += 1
            if count >= n:
                return


def _is_number(v) -> bool:
    """What pyarrow would read as a number: Python's float() also takes "1_000", which no CSV reader does."""
    if isinstance(v, str) and "_" in v:
        return False
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def _parse_dates(col):
    """(datetime64 values, None, format) when one format parses every cell; (None, first bad row, format)
    when one format parses the first cells but not all; None when the column is not dates."""
    import pyarrow as pa
    import pyarrow.compute as pc

    col = col.combine_chunks() if hasattr(col, "combine_chunks") else col
    head = col.slice(0, 5)
    first_failure = None  # a format that parses the first cells only: 01/02/2024 fits d/m/Y and m/d/Y
    for fmt in DATE_FORMATS:
        try:
            if pc.strptime(head, format=fmt, unit="s", error_is_null=True).null_count > head.null_count:
                continue
            out = pc.strptime(col, format=fmt, unit="s", error_is_null=True)
        except (pa.ArrowException, NotImplementedError):
            continue
        if out.null_count == col.null_count:
            return _to_numpy(out), None, fmt
        failed = pc.and_(pc.is_null(out), pc.is_valid(col))
        row = int(pc.index(failed, True).as_py())
        if first_failure is None or row > first_failure[0]:
            first_failure = (row, fmt)
    return None if first_failure is None else (None, *first_failure)


def read_npy(p: Path) -> Table:
    """A (rows,) or (rows, columns) numeric array, memory-mapped: columns 'value' or 'c0', 'c1', ..."""
    try:
        arr = np.load(p, mmap_mode="r", allow_pickle=False)
    except ValueError as e:
        if "allow_pickle" in str(e) or "Object arrays" in str(e):
            raise DataError(f"{p}: the array holds Python objects, not numbers: save a numeric array") from None
        raise DataError(f"{p}: not a readable .npy file ({e}): save it with numpy.save") from None
    except OSError as e:
        raise DataError(f"{p}: not a readable .npy file ({e}): save it with numpy.save") from None
    check_array(p, "array", arr)
    if arr.ndim == 1:
        arr = arr[:, None]
        names = ["value"]
    elif arr.ndim == 2:
        names = [f"c{j}" for j in range(arr.shape[1])]
    else:
        raise DataError(
            f"{p}: the array has shape {arr.shape}: a series is (rows,) or (rows, columns); save "
            f"pre-windowed sequences as .npz with X (N, T, F) and y"
        )
    table = Table(str(p), names, {}, {}, p, "npy", mapped=True, mapped_source=arr)
    for j, name in enumerate(names):
        table.columns[name] = arr[:, j]
        table.kinds[name] = "integer" if np.issubdtype(arr.dtype, np.integer) else "number"
    return table


@dataclass
class NpzArrays:
    """An .npz archive's samples as read (checked for size and kind only): X, and y when it has one."""

    src: str
    X: np.ndarray
    y: np.ndarray | None


def read_npz(path: str | Path) -> NpzArrays:
    """X and y of an .npz archive; every array in it checked for size and kind; X must be there."""
    p = Path(path)
    src = str(p)
    check_source_file(p, "npz")
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise DataError(f"{src}: no such file: check the path given to --data") from None
    except Exception as e:
        raise DataError(
            f"{src}: not a readable .npz archive ({type(e).__name__}: {e}): save it with numpy.savez(path, X=X, y=y)"
        ) from None
    if "X" not in arrays:
        raise DataError(
            f"{src}: no array 'X' (found: {', '.join(arrays) or 'none'}): save sequences as X with "
            f"shape (N, T, F) and targets as y"
        )
    for name, arr in arrays.items():
        check_array(src, name, arr)
    return NpzArrays(src, arrays["X"], arrays.get("y"))


def read_folder(p: Path) -> Table:
    """A folder of CSV files, one series each: one table with a 'series' column (the file name)."""
    files = sorted(f for f in p.iterdir() if f.is_file() and f.name.lower().endswith((".csv", ".csv.gz")))
    if not files:
        raise DataError(
            f"{p}: is a folder with no .csv files: pass a data file, or a folder of CSV files (one series each)"
        )
    parts = [read_csv(f) for f in files]
    names = parts[0].names
    for f, t in zip(files[1:], parts[1:], strict=True):
        if t.names != names:
            raise DataError(
                f"{f}: columns {', '.join(t.names)} differ from {files[0].name}'s ({', '.join(names)}): "
                f"give every file of the folder the same header"
            )
    if "series" in names:
        raise DataError(f"{p}: the files have a column named 'series', which the folder's file names fill: rename it")
    table = Table(str(p), names + ["series"], {}, {}, p, "folder")
    for name in names:
        kinds = {t.kinds[name] for t in parts}
        kind = kinds.pop() if len(kinds) == 1 else "text"
        table.kinds[name] = kind
        if kind == "text":
            table.columns[name] = np.concatenate(
                [np.asarray([t.cell_text(name, r) for r in range(t.n_rows)], object) for t in parts]
            )
        else:
            table.columns[name] = np.concatenate([t.columns[name] for t in parts])
            if kind == "time":
                table.times[name] = np.concatenate([t.times[name] for t in parts])
                if name in parts[0].time_formats:
                    table.time_formats[name] = parts[0].time_formats[name]
        for offset, t in zip(np.cumsum([0] + [t.n_rows for t in parts]), parts, strict=False):
            if name in t.bad and name not in table.bad:
                table.bad[name] = (int(offset) + t.bad[name][0], t.bad[name][1])
    table.columns["series"] = np.concatenate(
        [np.full(t.n_rows, f.name.split(".")[0], dtype=object) for f, t in zip(files, parts, strict=True)]
    )
    table.kinds["series"] = "text"
    return table


def demo_columns(source: str, values: np.ndarray) -> Table:
    return Table(source, ["value"], {"value": np.asarray(values, dtype=np.float64)}, {"value": "number"}, None, "demo")
