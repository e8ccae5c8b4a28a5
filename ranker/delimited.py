"""The rules every reader of delimited text in ranksim follows (KuaiRand logs, counters CSVs).

One place, so that every command reading a log (``signals``, ``learn``,
``calibrate``) treats a hostile file the same way; see :class:`_Text`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

_INT_RE = r"^\s*[+-]?\d+\s*$"
_NUM_RE = r"^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,3})?\s*$"
_INT_MAX_F = 9.2e18  # ids at or above this are refused (int64 ends at 9.22e18)


class _Text:
    """A delimited text file, scanned once: delimiter, header names and the data lines it holds.

    Rules (the same for every reader of this module):

    - UTF-8; a byte-order mark before the header is skipped.
    - Delimiter: tab if the header line has one, else comma.
    - Header names are stripped of spaces and of one pair of surrounding
      double quotes; a name given twice is an error naming it.
    - Data fields are never quoted: a double quote is an ordinary character
      (so a stray quote cannot swallow the lines after it); a value that
      holds one is not a number, so it counts as malformed where the column
      is read.
    - Empty cells, and the cells pyarrow reads as null (``nan``, ``NA``,
      ``null``, ``N/A`` ...), are missing values.
    - Empty lines are skipped; every other line is one row. After reading,
      the rows parsed plus the rows of the wrong width must equal the lines
      counted here, or the file is an error.
    """

    def __init__(self, path):
        p = Path(path)
        if p.is_dir():
            raise IsADirectoryError(f"{path}: is a directory, not a file")
        if not p.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        self.path = path
        self.data = p.read_bytes()
        data = self.data
        bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
        nl = data.find(b"\n", bom)
        cr = data.find(b"\r", bom)
        ends = [i for i in (nl, cr) if i >= 0]
        end = min(ends) if ends else len(data)
        try:
            text = data[bom:end].decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"{path}: the header line is not UTF-8 text (byte {e.start + bom})") from None
        if not text.strip():
            raise ValueError(f"{path}: empty file (no header line)")
        self.delimiter = "\t" if "\t" in text else ","
        names = []
        for c in text.split(self.delimiter):
            c = c.strip()
            if len(c) >= 2 and c[0] == c[-1] == '"':
                c = c[1:-1]
            names.append(c)
        dup = sorted({c for c in names if names.count(c) > 1})
        if dup:
            where = ", ".join(f"{c!r} (columns {', '.join(str(i + 1) for i, n in enumerate(names) if n == c)})"
                              for c in dup)
            raise ValueError(f"{path}: the header names {where} more than once; each column needs its own name")
        self.names = names
        self.n_lines = _count_lines(data)

    def read(self, spec: dict[str, str], as_strings=False):
        """pyarrow table of the ``spec`` columns and the line numbers of rows with the wrong width."""
        bad_rows = []

        def on_invalid(row):
            bad_rows.append(row.number)
            return "skip"

        parse = pacsv.ParseOptions(delimiter=self.delimiter, quote_char=False, invalid_row_handler=on_invalid)
        read = pacsv.ReadOptions(block_size=1 << 24, column_names=self.names, skip_rows=1)
        types = {c: (pa.string() if as_strings else pa.int64() if k == "int" else pa.float64())
                 for c, k in spec.items()}
        if self.n_lines == 0:  # a header alone (pyarrow cannot skip a header without a line end)
            return pa.table({c: pa.array([], type=t) for c, t in types.items()}), 0
        conv = pacsv.ConvertOptions(column_types=types, include_columns=list(spec), strings_can_be_null=True)
        table = pacsv.read_csv(pa.BufferReader(self.data), read_options=read, parse_options=parse,
                               convert_options=conv)
        if table.num_rows + len(bad_rows) != self.n_lines:
            raise ValueError(f"{self.path}: {self.n_lines:,} data lines but {table.num_rows + len(bad_rows):,} rows "
                             "parsed; the rows cannot all be accounted for")
        return table, len(bad_rows)


def _count_lines(data: bytes) -> int:
    """Non-empty lines after the header line (line ends: \\n, \\r\\n or \\r)."""
    a = np.frombuffer(data, dtype=np.uint8)
    n = a.shape[0]
    is_nl = a == 10
    is_cr = a == 13
    cr_nl = np.zeros(n, bool)
    cr_nl[:-1] = is_cr[:-1] & is_nl[1:]
    term = np.flatnonzero(is_nl | (is_cr & ~cr_nl))  # one position per line end (the \n of a \r\n)
    # content end of each line: the \r of a \r\n, else the terminator itself
    content_end = term - np.r_[False, cr_nl[:-1]][term] if n else term
    starts = np.r_[0, term[:-1] + 1] if term.size else np.zeros(0, np.int64)
    lengths = content_end - starts
    nonempty = int((lengths > 0).sum())
    tail = n - (int(term[-1]) + 1 if term.size else 0)
    nonempty += int(tail > 0)
    # the first line is the header (never empty: checked before)
    return nonempty - 1 if nonempty else 0


def _header(path) -> tuple[str, list[str]]:
    """Delimiter (tab if the header has one, else comma) and column names (see :class:`_Text`)."""
    t = _Text(path)
    return t.delimiter, t.names


class _Column:
    """Parsed values of one column with its missing and malformed masks."""

    __slots__ = ("values", "missing", "malformed")

    def __init__(self, values, missing, malformed):
        self.values, self.missing, self.malformed = values, missing, malformed

    @property
    def ok(self):
        return ~(self.missing | self.malformed)


def _read(path, delim, spec: dict[str, str], text: "_Text | None" = None) -> tuple[dict[str, _Column], int]:
    """Read the columns of ``spec`` (name -> "int" | "float"); count bad-shape rows.

    Typed read first (fast); if a value does not parse, the file is read
    again as strings and every column is parsed with a mask of bad values
    (ints at or above 9.2e18 in magnitude are malformed, not a crash).
    """
    t = _Text(path) if text is None else text
    try:
        table, n_bad = t.read(spec)
        typed = True
    except pa.ArrowInvalid as e:
        if "conversion error" not in str(e).lower():
            raise ValueError(f"{path}: {' '.join(str(e).split())}") from None
        try:
            table, n_bad = t.read(spec, as_strings=True)
        except pa.ArrowInvalid as e2:
            raise ValueError(f"{path}: {' '.join(str(e2).split())}") from None
        typed = False
    out = {}
    for name, kind in spec.items():
        col = table.column(name)
        missing = col.is_null().to_numpy(zero_copy_only=False)
        if typed:
            malformed = np.zeros(missing.shape, bool)
            vals = col.fill_null(0).to_numpy()
        else:
            trimmed = pc.utf8_trim_whitespace(col)
            good = pc.fill_null(pc.match_substring_regex(trimmed, _INT_RE if kind == "int" else _NUM_RE), False)
            if kind == "int":
                approx = pc.cast(pc.if_else(good, trimmed, pa.scalar("0")), pa.float64())
                good = pc.and_(good, pc.less(pc.abs(approx), _INT_MAX_F))
            good_np = good.to_numpy(zero_copy_only=False)
            malformed = ~missing & ~good_np
            clean = pc.if_else(good, trimmed, pa.scalar("0"))
            vals = pc.cast(clean, types_of(kind)).to_numpy(zero_copy_only=False)
        if kind == "float":
            vals = np.asarray(vals, dtype=np.float64)
            nonfinite = ~missing & ~np.isfinite(vals)
            malformed |= nonfinite
            vals = np.where(missing | malformed, 0.0, vals)
        else:
            vals = np.asarray(vals, dtype=np.int64)
            vals = np.where(missing | malformed, 0, vals)
        out[name] = _Column(vals, missing, malformed)
    return out, n_bad


def types_of(kind):
    return pa.int64() if kind == "int" else pa.float64()


