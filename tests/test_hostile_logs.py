"""Hostile logs and counters files: every row is used or counted as dropped with its reason.

Rules under test (ranker/io.py, class _Text and the readers):

- fields are never quoted: a stray double quote is an ordinary character and
  cannot swallow the lines after it (it made 41,817 of 41,828 rows vanish);
- a UTF-8 byte-order mark before the header is skipped; the delimiter is tab
  if the header has one, else comma; a header name given twice is an error;
- every non-empty line is a row, used or dropped under a named reason; the
  reasons add up to the rows dropped;
- ids at or above 9.2e18, non-numbers, negatives, NaN and a play time above
  one day drop the row (counted); a fractional or non-0/1 flag counts as 0
  (counted);
- rows repeating an earlier (user_id, video_id, time_ms) are kept and
  reported;
- zero usable rows is an error;
- a counters CSV is all or nothing: fractional or absurd counts, repeated
  video ids, rows of the wrong width and empty files are errors naming the
  column, row and value.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ranker.io import read_counters_csv, read_kuairand, read_kuairand_events
from ranker.signals import COUNTER_COLUMNS, Counters

HEADER = ["user_id", "video_id", "date", "time_ms", "is_like", "is_follow", "is_comment", "is_forward",
          "play_time_ms", "duration_ms", "note"]


def good_row(i):
    return [str(10 + i % 3), str(100 + i % 4), "20220410", str(1649581149287 + 1000 * i), str(i % 2), "0",
            str((i // 2) % 2), "0", str(1000 * (i % 9)), "8000", f"row {i}"]


def log_text(rows=None, header=HEADER, delim="\t", n=12, end="\n"):
    rows = [good_row(i) for i in range(n)] if rows is None else rows
    return end.join([delim.join(header)] + [delim.join(r) if isinstance(r, list) else r for r in rows]) + end


def with_cell(i, col, value, n=12):
    rows = [good_row(k) for k in range(n)]
    rows[i][HEADER.index(col)] = value
    return log_text(rows)


# (id, file text, expected (rows_read, rows_used, {reason: count}) or an error regex)
LOG_CASES = [
    ("clean", log_text(), (12, 12, {})),
    ("stray-quote-unread-column", with_cell(3, "note", '"unterminated'), (12, 12, {})),
    ("quote-in-read-column", with_cell(3, "video_id", '"103"'), (12, 11, {"video_id malformed": 1})),
    ("quoted-field-with-tab", log_text([good_row(0), '1\t2\t"a\tb"'] + [good_row(k) for k in range(2, 12)]),
     (12, 11, {"wrong number of fields": 1})),
    ("bom", "\ufeff" + log_text(), (12, 12, {})),
    ("crlf", log_text(end="\r\n"), (12, 12, {})),
    ("comma-delimited", log_text(delim=","), (12, 12, {})),
    ("empty-lines", log_text().replace("\n", "\n\n", 5), (12, 12, {})),
    ("no-final-newline", log_text()[:-1], (12, 12, {})),
    ("truncated-last-line", log_text()[:-9], (12, 11, {"wrong number of fields": 1})),
    ("extra-field", log_text([good_row(0) + ["x"]] + [good_row(k) for k in range(1, 12)]),
     (12, 11, {"wrong number of fields": 1})),
    ("id-above-int64", with_cell(2, "video_id", "99999999999999999999"), (12, 11, {"video_id malformed": 1})),
    ("id-fractional", with_cell(2, "video_id", "103.5"), (12, 11, {"video_id malformed": 1})),
    ("id-negative", with_cell(2, "video_id", "-3"), (12, 11, {"video_id malformed": 1})),
    ("id-missing", with_cell(2, "video_id", ""), (12, 11, {"video_id missing": 1})),
    ("play-absurd", with_cell(4, "play_time_ms", "1e300"), (12, 11, {"play_time_ms malformed": 1})),
    ("play-nan-is-missing", with_cell(4, "play_time_ms", "nan"), (12, 11, {"play_time_ms missing": 1})),
    ("play-text", with_cell(4, "play_time_ms", "fast"), (12, 11, {"play_time_ms malformed": 1})),
    ("play-above-one-day", with_cell(4, "play_time_ms", "86400001"), (12, 11, {"play_time_ms malformed": 1})),
    ("flag-fractional", with_cell(1, "is_like", "0.5"), (12, 12, {})),
    ("flag-absurd", with_cell(1, "is_comment", "7"), (12, 12, {})),
    ("duration-absurd", with_cell(1, "duration_ms", "1e200"), (12, 12, {})),
    ("two-reasons-counted-once", with_cell(5, "video_id", "x").replace("\t1000\t8000\trow 5", "\tx\t8000\trow 5"),
     (12, 11, {"video_id malformed": 1})),
    ("whitespace-line", log_text([good_row(0), "   "] + [good_row(k) for k in range(2, 12)]),
     (12, 11, {"wrong number of fields": 1})),
    ("duplicate-header", log_text(header=HEADER[:-1] + ["video_id"]),
     r"the header names 'video_id' \(columns 2, 11\) more than once"),
    ("missing-column", log_text(header=["user_id", "vid"] + HEADER[2:]), r"missing required column\(s\) \['video_id'\]"),
    ("header-only", log_text(rows=[]), r"no usable rows \(0 read, all dropped: the file has no data rows\)"),
    ("all-rows-bad", log_text([["x"] * len(HEADER)] * 3),
     r"no usable rows \(3 read, all dropped: 3 video_id malformed\)"),
    ("empty-file", "", r"empty file \(no header line\)"),
    ("binary-header", "\udcff", r"header line is not UTF-8"),
]


def _write(path, text):
    if "\udcff" in text:
        path.write_bytes(b"\xff\xfe\x00garbage\n1\n")
    else:
        path.write_bytes(text.encode("utf-8"))
    return path


@pytest.mark.parametrize("name,text,want", LOG_CASES, ids=[c[0] for c in LOG_CASES])
def test_hostile_kuairand_log(tmp_path, name, text, want):
    p = _write(tmp_path / "log.tsv", text)
    if isinstance(want, str):
        with pytest.raises(ValueError, match=want) as ei:
            read_kuairand(p)
        assert "\n" not in str(ei.value)
        return
    counters, report = read_kuairand(p)
    n_read, n_used, reasons = want
    assert (report.rows_read, report.rows_used) == (n_read, n_used)
    assert dict(report.drop_reasons) == reasons
    assert report.rows_used + report.rows_dropped == report.rows_read
    assert counters.impressions.sum() == n_used
    for reason, k in reasons.items():
        assert f"{k:,} {reason}" in report.summary()


def test_flags_and_durations_counted_not_dropped(tmp_path):
    p = _write(tmp_path / "log.tsv", with_cell(1, "is_like", "0.5"))
    c, r = read_kuairand(p)
    assert r.issue("is_like").malformed == 1 and c.likes.sum() == sum(k % 2 for k in range(12)) - 1
    p = _write(tmp_path / "log2.tsv", with_cell(1, "duration_ms", "1e200"))
    c, r = read_kuairand(p)
    assert r.issue("duration_ms").malformed == 1 and c.duration_s.max() == 8.0


def test_repeated_impressions_kept_and_reported(tmp_path):
    rows = [good_row(k) for k in range(12)]
    rows[5] = list(rows[4])
    rows[6] = list(rows[4])
    c, r = read_kuairand(_write(tmp_path / "log.tsv", log_text(rows)))
    assert r.rows_repeated == 2 and r.rows_used == 12 and c.impressions.sum() == 12
    assert "2 rows repeat an earlier row's (user_id, video_id, time_ms): kept" in r.summary()
    ev, rep = read_kuairand_events(tmp_path / "log.tsv", with_report=True)
    assert rep.rows_repeated == 2 and ev["video_id"].shape[0] == 12


def test_events_reader_drops_under_named_reasons(tmp_path):
    rows = [good_row(k) for k in range(12)]
    rows[0][HEADER.index("time_ms")] = "soon"
    rows[1][HEADER.index("user_id")] = ""
    ev, rep = read_kuairand_events(_write(tmp_path / "log.tsv", log_text(rows)), with_report=True)
    assert dict(rep.drop_reasons) == {"user_id missing": 1, "time_ms malformed": 1}
    assert ev["video_id"].shape[0] == 10 == rep.rows_used


def test_real_log_with_one_stray_quote_loses_nothing(kuairand_path, tmp_path):
    lines = kuairand_path.read_text().split("\n")
    f = lines[5].split("\t")
    f[-1] = '"' + f[-1]  # the timestamp column, which no reader uses
    lines[5] = "\t".join(f)
    p = tmp_path / "k.tsv"
    p.write_text("\n".join(lines))
    _, clean = read_kuairand(kuairand_path)
    _, r = read_kuairand(p)
    assert r.rows_read == r.rows_used == clean.rows_used == 41_828


# --------------------------------------------------------------------------- counters CSV


def counters_text(edit=None, header=None, extra_rows=(), delim=","):
    c = Counters.from_columns({
        "video_id": np.array([1, 2, 3]), "creator_id": np.array([7, 7, -1]),
        "impressions": np.array([10.0, 4.0, 0.0]), "plays_3s": np.array([6.0, 1.0, 0.0]),
        "completions": np.array([2.0, 0.0, 0.0]), "watch_s": np.array([55.5, 9.0, 0.0]),
        "duration_s": np.array([20.0, 0.0, 8.0]), "likes": np.array([1.0, 0.0, 0.0]),
        "comments": np.zeros(3), "shares": np.zeros(3), "share_recipients": np.zeros(3),
        "share_opens": np.zeros(3), "follows": np.zeros(3), "creator_followers": np.array([50.0, 50.0, 0.0]),
        "creator_regular_readers": np.zeros(3), "rr_impressions": np.zeros(3), "rr_plays_3s": np.zeros(3),
        "creator_age_days": np.array([np.nan, 3.5, 1.0])})
    cols = {k: ["" if (isinstance(x, float) and math.isnan(x)) else repr(x) for x in v.tolist()]
            for k, v in c.to_columns().items()}
    if edit:
        col, row, value = edit
        cols[col][row] = value
    header = list(COUNTER_COLUMNS) if header is None else header
    lines = [delim.join(header)] + [delim.join(cols[h][i] for h in COUNTER_COLUMNS) for i in range(3)]
    return "\n".join(lines + list(extra_rows)) + "\n"


COUNTER_CASES = [
    ("clean", counters_text(), None),
    ("bom", "\ufeff" + counters_text(), None),
    ("quoted-header", counters_text(header=[f'"{h}"' for h in COUNTER_COLUMNS]), None),
    ("tab", counters_text(delim="\t"), None),
    ("fractional-count", counters_text(("likes", 0, "0.5")),
     r"column 'likes' value 0.5 at row 0 is not a whole number \(a count\)"),
    ("absurd-count", counters_text(("impressions", 1, "1e15")), r"column 'impressions' value 1e\+15 at row 1 is above 1e\+12"),
    ("absurd-watch", counters_text(("watch_s", 0, "1e300")), r"column 'watch_s' value 1e\+300 at row 0 is above one day"),
    ("absurd-duration", counters_text(("duration_s", 2, "1e9")), r"column 'duration_s' value 1e\+09 at row 2 is above 86,400 s"),
    ("repeated-video-id", counters_text(("video_id", 2, "1")),
     r"video_id 1 appears at rows 0 and 2 \(1 id\(s\) repeated\)"),
    ("id-above-int64", counters_text(("video_id", 1, "99999999999999999999")),
     r"column 'video_id' has 1 malformed value\(s\) \(first at row 1"),
    ("quoted-number", counters_text(("likes", 1, '"0"')), r"column 'likes' has 1 malformed value\(s\)"),
    ("nan-count-is-missing", counters_text(("shares", 1, "nan")), r"column 'shares' has 1 missing value\(s\)"),
    ("duplicate-header", counters_text(header=list(COUNTER_COLUMNS[:-1]) + ["likes"]),
     r"the header names 'likes' \(columns \d+, 18\) more than once"),
    ("short-row", counters_text(extra_rows=["4,5"]), r"1 row\(s\) with the wrong number of fields"),
    ("header-only", ",".join(COUNTER_COLUMNS) + "\n", r"no rows after the header"),
    ("plays-above-impressions", counters_text(("plays_3s", 1, "9.0")), r"'plays_3s' must not exceed 'impressions'"),
]


@pytest.mark.parametrize("name,text,err", COUNTER_CASES, ids=[c[0] for c in COUNTER_CASES])
def test_hostile_counters_csv(tmp_path, name, text, err):
    p = tmp_path / "c.csv"
    p.write_bytes(text.encode("utf-8"))
    if err is None:
        c = read_counters_csv(p)
        assert c.n_videos == 3 and c.video_id.tolist() == [1, 2, 3] and c.impressions.sum() == 14
        return
    with pytest.raises(ValueError, match=err) as ei:
        read_counters_csv(p)
    assert "\n" not in str(ei.value) and str(p) in str(ei.value)


# --------------------------------------------------------------------------- fuzz

_TOKENS = ["0", "1", "7", "-3", "", " ", "0.5", "3000", "1e300", "nan", "inf", '"', '"5"', "abc", "\u00e9",
           "99999999999999999999", "86400001", "12.", ".5", "1e5", "\t", ","]


@st.composite
def hostile_logs(draw):
    delim = draw(st.sampled_from(["\t", ","]))
    n = draw(st.integers(0, 25))
    lines = []
    for i in range(n):
        if draw(st.integers(0, 9)) == 0:
            lines.append(draw(st.sampled_from(["", "   ", '"', "1", delim * 3])))
            continue
        row = good_row(i)
        for _ in range(draw(st.integers(0, 3))):
            row[draw(st.integers(0, len(row) - 1))] = draw(st.sampled_from(_TOKENS))
        width = draw(st.sampled_from([len(row)] * 6 + [len(row) - 1, len(row) + 1]))
        row = (row + ["x"])[:width] if width > len(row) - 1 else row[:width]
        lines.append(delim.join(row))
    bom = "\ufeff" if draw(st.booleans()) else ""
    end = draw(st.sampled_from(["\n", "\r\n"]))
    return bom + end.join([delim.join(HEADER)] + lines) + (end if draw(st.booleans()) else "")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=hostile_logs())
def test_fuzz_log_reader_accounts_for_every_row(tmp_path, text):
    p = tmp_path / "fuzz.tsv"
    p.write_bytes(text.encode("utf-8"))
    body = text.lstrip("\ufeff").replace("\r\n", "\n").split("\n")[1:]
    n_lines = sum(1 for ln in body if ln)
    try:
        counters, r = read_kuairand(p)
    except ValueError as e:
        msg = str(e)
        assert "\n" not in msg
        assert re.search(r"no usable rows|more than once", msg), msg
        return
    assert r.rows_read == n_lines
    assert r.rows_used + r.rows_dropped == r.rows_read
    assert sum(k for _, k in r.drop_reasons) == r.rows_dropped
    assert counters.impressions.sum() == r.rows_used
    assert np.isfinite(counters.watch_s).all() and (counters.watch_s <= 86_400 * counters.impressions).all()
