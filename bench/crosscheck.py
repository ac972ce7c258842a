#!/usr/bin/env python3
"""Compare a Parquet file written by parquetry with DuckDB's own reading of the CSV.

    .venv-bench/bin/python bench/crosscheck.py IN.csv OUT.parquet \
        [--delim ';'] [--decimal-separator ','] [--header true|false] \
        [--quote '"'] [--escape '\\'] [--nullstr NA --nullstr NULL] \
        [--dateformat '%d/%m/%Y'] [--timestampformat FMT] [--encoding latin-1] \
        [--duckdb-opt "types={'zip': 'VARCHAR'}"] [--limit N] [--rtol 1e-9]

DuckDB's `read_csv` (with the given options, session time zone UTC) is the
reference. Every column is compared value by value, in row order:

* nulls must be nulls on both sides (an empty string is not a null, unless
  --empty-string-is-null);
* integers exactly (any width); floats, and numbers of mixed kinds, with a
  relative tolerance (--rtol, default 1e-9; NaN equals NaN); decimals exactly;
* dates and timestamps as values: both cast to the finer unit and compared as
  integers (a timestamp with a time zone is an instant in UTC, so
  `13:45+02:00` equals `11:45Z`); a date equals a timestamp at midnight;
* strings and binaries exactly (dictionary encoding is ignored);
* a column whose kinds do not go together (e.g. string vs timestamp) fails.

Columns are paired by name; when the names differ but the counts agree they
are paired by position (and the name difference is reported as a failure).

Prints PASS/FAIL per column and exits 0 when everything matches, 1 on any
mismatch (values, nulls, row count, columns), 2 when a file cannot be read.

Also importable: compare.py uses `crosscheck()` on a sample of rows.
"""
from __future__ import annotations

import argparse
import itertools
import sys
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

CHUNK_ROWS = 262_144
MAX_EXAMPLES_DEFAULT = 5


# --------------------------------------------------------------------------- #
# reading
# --------------------------------------------------------------------------- #
def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def duckdb_read_csv_sql(csv_path: str, opts: dict[str, str] | None = None,
                        raw_opts: list[str] | None = None) -> str:
    """`read_csv('path', key='value', ..., raw...)`: opts are quoted as strings,
    raw_opts are `key=SQL` pairs passed through verbatim."""
    args = [sql_literal(str(csv_path))]
    for k, v in (opts or {}).items():
        if v is None:
            continue
        if isinstance(v, bool):
            args.append(f"{k}={'true' if v else 'false'}")
        elif isinstance(v, (list, tuple)):
            args.append(f"{k}=[{', '.join(sql_literal(x) for x in v)}]")
        else:
            args.append(f"{k}={sql_literal(str(v))}")
    args.extend(raw_opts or [])
    return f"read_csv({', '.join(args)})"


def duckdb_reader(csv_path, opts=None, raw_opts=None, limit=None,
                  batch_rows=CHUNK_ROWS):
    import duckdb  # imported here so `--help` works without it

    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    # keep the file's row order (the default, made explicit)
    con.execute("SET preserve_insertion_order=true")
    sql = f"SELECT * FROM {duckdb_read_csv_sql(csv_path, opts, raw_opts)}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return con, con.sql(sql).to_arrow_reader(batch_rows)


def parquet_batches(path, limit=None, batch_rows=CHUNK_ROWS):
    pf = pq.ParquetFile(path)
    return pf.schema_arrow, _limit_batches(pf.iter_batches(batch_size=batch_rows), limit)


def _limit_batches(batches, limit):
    if limit is None:
        yield from batches
        return
    left = limit
    for b in batches:
        if left <= 0:
            return
        if b.num_rows > left:
            b = b.slice(0, left)
        left -= b.num_rows
        yield b


def rechunk(batches, schema, size):
    """Tables of exactly `size` rows (the last one may be shorter)."""
    buf: list[pa.RecordBatch] = []
    n = 0
    for b in batches:
        if b.num_rows == 0:
            continue
        buf.append(b)
        n += b.num_rows
        while n >= size:
            t = pa.Table.from_batches(buf, schema=schema)
            yield t.slice(0, size)
            rest = t.slice(size)
            buf = rest.to_batches()
            n = rest.num_rows
    if n:
        yield pa.Table.from_batches(buf, schema=schema)


# --------------------------------------------------------------------------- #
# comparing
# --------------------------------------------------------------------------- #
def kind(t: pa.DataType) -> str:
    if pa.types.is_dictionary(t):
        return kind(t.value_type)
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_decimal(t):
        return "decimal"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_time(t):
        return "time"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or \
            (hasattr(pa.types, "is_string_view") and pa.types.is_string_view(t)):
        return "string"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or \
            pa.types.is_fixed_size_binary(t) or \
            (hasattr(pa.types, "is_binary_view") and pa.types.is_binary_view(t)):
        return "binary"
    if pa.types.is_null(t):
        return "null"
    return "other"


def _plain(arr: pa.ChunkedArray | pa.Array) -> pa.Array:
    """One contiguous array, dictionary decoded."""
    if isinstance(arr, pa.ChunkedArray):
        chunks = [c.dictionary_decode() if pa.types.is_dictionary(c.type) else c
                  for c in arr.chunks]
        if not chunks:
            return pa.array([], type=arr.type.value_type
                            if pa.types.is_dictionary(arr.type) else arr.type)
        arr = pa.concat_arrays(chunks) if len(chunks) > 1 else chunks[0]
    elif pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    return arr


_UNIT_RANK = {"s": 0, "ms": 1, "us": 2, "ns": 3}


def _finer(u1: str, u2: str) -> str:
    return u1 if _UNIT_RANK[u1] >= _UNIT_RANK[u2] else u2


def _as_int64_time(arr: pa.Array, unit: str) -> np.ndarray:
    t = arr.type
    if pa.types.is_date(t):
        arr = arr.cast(pa.date32()).cast(pa.timestamp("s")).cast(pa.timestamp(unit))
    elif pa.types.is_timestamp(t):
        arr = arr.cast(pa.timestamp(unit, tz=t.tz))
    elif pa.types.is_time(t):
        arr = arr.cast(pa.time64("ns") if unit == "ns" else pa.time64("us")
                       if unit == "us" else pa.time32(unit))
    return arr.cast(pa.int64()).to_numpy(zero_copy_only=False)


def _unit_of(t: pa.DataType) -> str:
    if pa.types.is_date(t):
        return "s"
    return t.unit


def compare_values(ours: pa.Array, ref: pa.Array, rtol: float,
                   empty_is_null: bool = False) -> tuple[np.ndarray, list[str]]:
    """Boolean mask of mismatching rows, plus notes about how it was compared."""
    notes: list[str] = []
    ko, kr = kind(ours.type), kind(ref.type)
    if empty_is_null:
        if ko == "string":
            ours = pc.if_else(pc.equal(ours, ""), pa.scalar(None, ours.type), ours)
        if kr == "string":
            ref = pc.if_else(pc.equal(ref, ""), pa.scalar(None, ref.type), ref)

    null_o = ours.is_null().to_numpy(zero_copy_only=False)
    null_r = ref.is_null().to_numpy(zero_copy_only=False)
    mismatch = null_o != null_r
    both = ~null_o & ~null_r
    if not both.any():
        return mismatch, notes

    if ko == "null" or kr == "null":
        # one side is all-null: the null masks already tell.
        return mismatch, notes

    nums = {"int", "float", "decimal"}
    times = {"date", "timestamp"}
    if ko == kr == "int":
        a = ours.cast(pa.int64()).to_numpy(zero_copy_only=False)
        b = ref.cast(pa.int64()).to_numpy(zero_copy_only=False)
        diff = a != b
    elif ko in nums and kr in nums and "float" not in (ko, kr):
        # decimal vs decimal or int: exact, as Python Decimals / ints
        a, b = ours.to_pylist(), ref.to_pylist()
        diff = np.fromiter((x != y for x, y in zip(a, b)), dtype=bool, count=len(a))
    elif ko in nums and kr in nums:
        if ko != kr:
            notes.append(f"compared as float64 ({ko} vs {kr})")
        a = ours.cast(pa.float64()).to_numpy(zero_copy_only=False)
        b = ref.cast(pa.float64()).to_numpy(zero_copy_only=False)
        with np.errstate(invalid="ignore", over="ignore"):
            close = (a == b) | (np.abs(a - b) <= rtol * np.maximum(np.abs(a), np.abs(b)))
        close |= np.isnan(a) & np.isnan(b)
        diff = ~close
    elif ko == kr == "bool":
        a = ours.to_numpy(zero_copy_only=False)
        b = ref.to_numpy(zero_copy_only=False)
        diff = a != b
    elif ko in times and kr in times or ko == kr == "time":
        tz_o = getattr(ours.type, "tz", None)
        tz_r = getattr(ref.type, "tz", None)
        if (tz_o is None) != (tz_r is None):
            notes.append(f"time zones differ (ours {tz_o}, duckdb {tz_r}): "
                         "compared the stored values")
        if ko != kr:
            notes.append(f"{ko} vs {kr}: a date is midnight")
        unit = _finer(_unit_of(ours.type), _unit_of(ref.type))
        a = _as_int64_time(ours, unit)
        b = _as_int64_time(ref, unit)
        diff = a != b
    elif ko == kr and ko in ("string", "binary"):
        big = pa.large_string() if ko == "string" else pa.large_binary()
        eq = pc.equal(ours.cast(big), ref.cast(big)).fill_null(True)
        diff = ~eq.to_numpy(zero_copy_only=False)
    else:
        if ko != kr:
            notes.append(f"kinds differ: ours {ours.type} vs duckdb {ref.type}")
            return mismatch | both, notes
        a, b = ours.to_pylist(), ref.to_pylist()
        diff = np.fromiter((x != y for x, y in zip(a, b)), dtype=bool, count=len(a))

    return mismatch | (both & diff), notes


@dataclass
class ColumnResult:
    name: str
    ours_type: str
    ref_type: str
    rows: int = 0
    mismatches: int = 0
    examples: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.mismatches == 0


@dataclass
class Result:
    columns: list[ColumnResult]
    rows_ours: int
    rows_ref: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems and self.rows_ours == self.rows_ref and \
            all(c.ok for c in self.columns)


def _fmt(v) -> str:
    s = repr(v)
    return s if len(s) <= 80 else s[:77] + "..."


def crosscheck(csv_path, parquet_path, opts=None, raw_opts=None, limit=None,
               rtol=1e-9, max_examples=MAX_EXAMPLES_DEFAULT,
               empty_is_null=False, chunk_rows=CHUNK_ROWS) -> Result:
    problems: list[str] = []
    schema_o, batches_o = parquet_batches(parquet_path, limit, chunk_rows)
    con, reader = duckdb_reader(csv_path, opts, raw_opts, limit, chunk_rows)
    schema_r = reader.schema

    names_o, names_r = schema_o.names, schema_r.names
    if names_o == names_r:
        pairs = [(i, i) for i in range(len(names_o))]
    elif sorted(names_o) == sorted(names_r):
        problems.append(f"column order differs: ours {names_o} vs duckdb {names_r}")
        pairs = [(names_o.index(n), i) for i, n in enumerate(names_r)]
    elif len(names_o) == len(names_r):
        problems.append(f"column names differ, compared by position: "
                        f"ours {names_o} vs duckdb {names_r}")
        pairs = [(i, i) for i in range(len(names_o))]
    else:
        common = [n for n in names_r if n in names_o]
        problems.append(f"columns differ: only in ours {[n for n in names_o if n not in names_r]}, "
                        f"only in duckdb {[n for n in names_r if n not in names_o]}")
        pairs = [(names_o.index(n), names_r.index(n)) for n in common]

    cols = [ColumnResult(name=names_r[j] if names_o[i] == names_r[j]
                         else f"{names_o[i]}|{names_r[j]}",
                         ours_type=str(schema_o.field(i).type),
                         ref_type=str(schema_r.field(j).type)) for i, j in pairs]

    rows_o = rows_r = 0
    offset = 0
    for to, tr in itertools.zip_longest(rechunk(batches_o, schema_o, chunk_rows),
                                        rechunk(reader, schema_r, chunk_rows)):
        if to is None or tr is None:
            # one side ran out: count the rest of the other side
            rows_o += to.num_rows if to is not None else 0
            rows_r += tr.num_rows if tr is not None else 0
            continue
        rows_o += to.num_rows
        rows_r += tr.num_rows
        n = min(to.num_rows, tr.num_rows)
        for cr, (i, j) in zip(cols, pairs):
            if cr.error:
                continue
            a = _plain(to.column(i).slice(0, n))
            b = _plain(tr.column(j).slice(0, n))
            try:
                mask, notes = compare_values(a, b, rtol, empty_is_null)
            except (pa.ArrowException, ValueError, TypeError) as e:
                cr.error = f"cannot compare {a.type} with {b.type}: {e}"
                continue
            for note in notes:
                if note not in cr.notes:
                    cr.notes.append(note)
            cr.rows += n
            bad = np.flatnonzero(mask)
            cr.mismatches += len(bad)
            for k in bad[: max(0, max_examples - len(cr.examples))]:
                cr.examples.append((offset + int(k), a[int(k)].as_py(), b[int(k)].as_py()))
        offset += n
    con.close()
    if rows_o != rows_r:
        what = f"first {limit} " if limit is not None else ""
        problems.append(f"row count differs ({what}rows): ours {rows_o}, duckdb {rows_r}")
    return Result(cols, rows_o, rows_r, problems)


def print_result(res: Result, out=sys.stdout, title: str | None = None,
                 label: str = "ours") -> None:
    if title:
        print(title, file=out)
    for c in res.columns:
        status = "PASS" if c.ok else "FAIL"
        types = c.ours_type if c.ours_type == c.ref_type else f"{label} {c.ours_type} vs duckdb {c.ref_type}"
        line = f"  {status}  {c.name:<20} {types}"
        if c.error:
            line += f"  ERROR {c.error}"
        elif c.mismatches:
            line += f"  {c.mismatches}/{c.rows} rows differ"
        print(line, file=out)
        for note in c.notes:
            print(f"          note: {note}", file=out)
        for row, a, b in c.examples:
            print(f"          row {row}: {label} {_fmt(a)}  duckdb {_fmt(b)}", file=out)
    status = "PASS" if res.rows_ours == res.rows_ref else "FAIL"
    print(f"  {status}  (row count)          {label} {res.rows_ours}, duckdb {res.rows_ref}", file=out)
    for p in res.problems:
        print(f"  FAIL  {p}", file=out)
    print(f"  => {'PASS' if res.ok else 'FAIL'}", file=out)


# --------------------------------------------------------------------------- #
# command line
# --------------------------------------------------------------------------- #
def _char(s: str | None) -> str | None:
    if s is None:
        return None
    return {"tab": "\t", "\\t": "\t"}.get(s, s)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv")
    ap.add_argument("parquet")
    ap.add_argument("--delim", "--delimiter", help="field delimiter (`tab` for a tab)")
    ap.add_argument("--quote")
    ap.add_argument("--escape")
    ap.add_argument("--header", choices=["true", "false"])
    ap.add_argument("--decimal-separator")
    ap.add_argument("--nullstr", action="append",
                    help="a string read as NULL; may be repeated")
    ap.add_argument("--dateformat")
    ap.add_argument("--timestampformat")
    ap.add_argument("--encoding", help="DuckDB encoding: utf-8, utf-16, latin-1")
    ap.add_argument("--duckdb-opt", action="append", default=[], metavar="KEY=SQL",
                    help="any other read_csv option, passed verbatim, "
                         "e.g. \"types={'zip': 'VARCHAR'}\" or all_varchar=true")
    ap.add_argument("--limit", type=int, help="compare only the first N rows")
    ap.add_argument("--rtol", type=float, default=1e-9,
                    help="relative tolerance for floats (default 1e-9)")
    ap.add_argument("--max-examples", type=int, default=MAX_EXAMPLES_DEFAULT)
    ap.add_argument("--empty-string-is-null", action="store_true",
                    help="treat '' and NULL as equal in string columns")
    a = ap.parse_args(argv)

    opts = {
        "delim": _char(a.delim),
        "quote": a.quote,
        "escape": a.escape,
        "header": None if a.header is None else a.header == "true",
        "decimal_separator": a.decimal_separator,
        "nullstr": a.nullstr if a.nullstr and len(a.nullstr) > 1
        else (a.nullstr[0] if a.nullstr else None),
        "dateformat": a.dateformat,
        "timestampformat": a.timestampformat,
        "encoding": a.encoding,
    }
    try:
        res = crosscheck(a.csv, a.parquet, opts, a.duckdb_opt, a.limit, a.rtol,
                         a.max_examples, a.empty_string_is_null)
    except Exception as e:  # unreadable file, bad DuckDB option, ...
        print(f"crosscheck: cannot compare {a.csv} and {a.parquet}: "
              f"{type(e).__name__}: {e}", file=sys.stderr)
        return 2
    print_result(res, title=f"crosscheck {a.parquet} against DuckDB read_csv({a.csv})"
                 + (f", first {a.limit} rows" if a.limit is not None else ""))
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())
