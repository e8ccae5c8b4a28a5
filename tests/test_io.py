import csv
import math
import os
import re
from collections import defaultdict

import numpy as np
import pytest

from ranker.io import (
    read_counters_csv,
    read_kuairand,
    read_kuairand_events,
    write_signals_csv,
)
from ranker.signals import COUNTER_COLUMNS, SIGNAL_NAMES, Counters, compute_signals

HEADER = ["user_id", "video_id", "date", "hourmin", "time_ms", "is_click", "is_like", "is_follow", "is_comment",
          "is_forward", "long_view", "play_time_ms", "duration_ms"]


def random_log(rng, n_rows=300, n_videos=12, n_users=9):
    rows = []
    vdur = rng.choice([0, 2500, 8000, 15000, 60000], n_videos)
    vids = rng.choice(np.arange(1000, 100000), n_videos, replace=False)
    for _ in range(n_rows):
        v = rng.integers(n_videos)
        t = int(1649000000000 + rng.integers(0, 10**9))
        rows.append({
            "user_id": int(rng.integers(n_users)), "video_id": int(vids[v]), "date": 20220408 + int(rng.integers(0, 10)),
            "hourmin": 1200, "time_ms": t, "is_click": int(rng.random() < 0.5), "is_like": int(rng.random() < 0.2),
            "is_follow": int(rng.random() < 0.05), "is_comment": int(rng.random() < 0.1),
            "is_forward": int(rng.random() < 0.05), "long_view": int(rng.random() < 0.4),
            "play_time_ms": int(rng.choice([0, 1000, 2999, 3000, 7999, 8000, 20000, 90000])),
            "duration_ms": int(vdur[v]),
        })
    return rows


def write_log(path, rows, header=HEADER, delimiter="\t"):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, delimiter=delimiter, lineterminator="\n")
        w.writerow(header)
        for r in rows:
            w.writerow([r.get(h, "") for h in header])


def hand_counters(rows, like="is_like"):
    """Per-video counters computed row by row, the slow obvious way."""
    by = defaultdict(list)
    for r in rows:
        by[int(r["video_id"])].append(r)
    out = {}
    for v, rs in by.items():
        durs = sorted(float(r["duration_ms"]) for r in rs if float(r["duration_ms"]) > 0)
        med = 0.0
        if durs:
            k = len(durs)
            med = (durs[(k - 1) // 2] + durs[k // 2]) / 2
        comp = 0
        for r in rs:
            d = float(r["duration_ms"]) if float(r["duration_ms"]) > 0 else med
            comp += d > 0 and float(r["play_time_ms"]) >= d
        out[v] = dict(
            impressions=len(rs), plays_3s=sum(float(r["play_time_ms"]) >= 3000 for r in rs), completions=comp,
            watch_s=sum(float(r["play_time_ms"]) for r in rs) / 1000, duration_s=med / 1000,
            likes=sum(int(r[like]) for r in rs), comments=sum(int(r["is_comment"]) for r in rs),
            shares=sum(int(r["is_forward"]) for r in rs), follows=sum(int(r["is_follow"]) for r in rs),
        )
    return out


def assert_counters_match(c: Counters, hand):
    assert sorted(hand) == c.video_id.tolist()
    for i, v in enumerate(c.video_id.tolist()):
        for k, x in hand[v].items():
            assert getattr(c, k)[i] == pytest.approx(x), (v, k)


# --------------------------------------------------------------------------- KuaiRand counters


@pytest.mark.parametrize("seed, delimiter", [(0, "\t"), (1, ","), (2, "\t")])
def test_read_kuairand_matches_hand_computation(tmp_path, seed, delimiter):
    rows = random_log(np.random.default_rng(seed))
    p = tmp_path / "log.tsv"
    write_log(p, rows, delimiter=delimiter)
    c, report = read_kuairand(p)
    assert_counters_match(c, hand_counters(rows))
    assert report.delimiter == delimiter
    assert report.rows_read == report.rows_used == len(rows) and report.rows_dropped == 0
    assert report.issues == ()
    assert report.n_videos == c.n_videos
    assert report.n_users == len({r["user_id"] for r in rows})
    # unknowns are zeros, and the report says so
    for col in ("share_recipients", "share_opens", "creator_regular_readers", "rr_impressions", "rr_plays_3s"):
        assert np.all(getattr(c, col) == 0)
    assert np.all(c.creator_id == -1)
    np.testing.assert_array_equal(c.creator_followers, c.follows)
    assert np.all(np.isnan(c.creator_age_days))
    text = report.summary()
    assert "share_opens" in text and "regular readers" in text and "no author_id column" in text
    assert "no missing or malformed values" in text


def test_read_kuairand_creator_column_sums_followers_per_creator(tmp_path):
    rows = random_log(np.random.default_rng(3))
    vids = sorted({r["video_id"] for r in rows})
    author = {v: 7 + (i % 3) for i, v in enumerate(vids)}
    for r in rows:
        r["author_id"] = author[r["video_id"]]
        r["is_follow"] = 1
    p = tmp_path / "log.csv"
    write_log(p, rows, header=HEADER + ["author_id"], delimiter=",")
    c, report = read_kuairand(p)
    assert c.creator_id.tolist() == [author[v] for v in c.video_id.tolist()]
    for a in set(author.values()):
        expected = sum(1 for r in rows if r["author_id"] == a)
        assert np.all(c.creator_followers[c.creator_id == a] == expected)
    assert "no author_id column" not in report.summary()


def test_read_kuairand_label_stands_in_for_is_like(tmp_path):
    rows = random_log(np.random.default_rng(4))
    for r in rows:
        r["label"] = r.pop("is_like")
    header = [h if h != "is_like" else "label" for h in HEADER]
    p = tmp_path / "log.tsv"
    write_log(p, rows, header=header)
    c, report = read_kuairand(p)
    assert_counters_match(c, hand_counters(rows, like="label"))
    assert any("from 'label'" in n for n in report.notes)


def test_read_kuairand_counts_missing_and_malformed_values(tmp_path):
    rows = random_log(np.random.default_rng(5), n_rows=60)
    rows[0]["play_time_ms"] = "abc"     # row dropped
    rows[1]["video_id"] = ""            # row dropped
    rows[2]["video_id"] = "-4"          # row dropped
    rows[3]["is_like"] = "2"            # counted as 0
    rows[4]["is_comment"] = ""          # counted as 0
    rows[5]["duration_ms"] = "n/a"      # missing -> unknown for the row
    rows[6]["play_time_ms"] = "-10"     # row dropped
    p = tmp_path / "log.tsv"
    write_log(p, rows)
    with open(p, "a") as f:
        f.write("1\t2\t3\n")            # wrong number of fields: dropped
    c, report = read_kuairand(p)
    assert report.rows_read == 61 and report.rows_bad_shape == 1
    assert report.rows_dropped == 5 and report.rows_used == 56
    assert (report.issue("play_time_ms").missing, report.issue("play_time_ms").malformed) == (0, 2)
    assert (report.issue("video_id").missing, report.issue("video_id").malformed) == (1, 1)
    assert (report.issue("is_like").missing, report.issue("is_like").malformed) == (0, 1)
    assert (report.issue("is_comment").missing, report.issue("is_comment").malformed) == (1, 0)
    assert (report.issue("duration_ms").missing, report.issue("duration_ms").malformed) == (1, 0)
    assert report.issue("is_forward") is None
    kept = [r for i, r in enumerate(rows) if i not in (0, 1, 2, 6)]
    for r in kept:
        if r["is_like"] == "2":
            r["is_like"] = 0
        if r["is_comment"] == "":
            r["is_comment"] = 0
        if r["duration_ms"] == "n/a":
            r["duration_ms"] = 0
    assert_counters_match(c, hand_counters(kept))
    text = report.summary()
    assert "play_time_ms: 0 missing, 2 malformed -> row dropped" in text
    assert "is_like: 0 missing, 1 malformed -> counted as 0" in text
    assert "1 rows with the wrong number of fields (dropped)" in text


@pytest.mark.parametrize("drop, missing", [
    (["play_time_ms"], "['play_time_ms']"),
    (["video_id", "is_forward"], "['video_id', 'is_forward']"),
    (["is_like"], "['is_like (or label)']"),
])
def test_read_kuairand_missing_columns(tmp_path, drop, missing):
    header = [h for h in HEADER if h not in drop]
    p = tmp_path / "log.tsv"
    write_log(p, random_log(np.random.default_rng(0), n_rows=3), header=header)
    msg = (f"{p}: missing required column(s) {missing}; a KuaiRand log needs video_id, play_time_ms, duration_ms, "
           f"is_comment, is_forward, is_follow and is_like (or label). Found: {', '.join(header)}.")
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        read_kuairand(p)


def test_read_kuairand_missing_file_and_empty_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(f"{tmp_path / 'nope.tsv'}: no such file")):
        read_kuairand(tmp_path / "nope.tsv")
    (tmp_path / "empty.tsv").write_text("")
    with pytest.raises(ValueError, match="empty file"):
        read_kuairand(tmp_path / "empty.tsv")


def test_read_kuairand_header_only_is_an_error(tmp_path):
    # zero usable rows is an error for every reader (issue 18), never an empty result
    p = tmp_path / "log.tsv"
    write_log(p, [])
    with pytest.raises(ValueError, match="no usable rows .0 read, all dropped: the file has no data rows"):
        read_kuairand(p)


# --------------------------------------------------------------------------- events


def test_read_kuairand_events_sorted_with_labels(tmp_path):
    rows = random_log(np.random.default_rng(6))
    p = tmp_path / "log.tsv"
    write_log(p, rows)
    ev = read_kuairand_events(p)
    n = len(rows)
    assert all(v.shape == (n,) for v in ev.values())
    key = list(zip(ev["time_ms"].tolist(), ev["user_id"].tolist(), ev["video_id"].tolist()))
    assert key == sorted(key)
    expected = sorted(rows, key=lambda r: (r["time_ms"], r["user_id"], r["video_id"]))
    np.testing.assert_array_equal(ev["play3"], [r["play_time_ms"] >= 3000 for r in expected])
    np.testing.assert_array_equal(ev["like"], [bool(r["is_like"]) for r in expected])
    np.testing.assert_array_equal(ev["share"], [bool(r["is_forward"]) for r in expected])
    np.testing.assert_array_equal(ev["is_click"], [bool(r["is_click"]) for r in expected])
    np.testing.assert_allclose(ev["watch_s"], [r["play_time_ms"] / 1000 for r in expected])
    # completions agree with the counters
    c, _ = read_kuairand(p)
    for i, v in enumerate(c.video_id.tolist()):
        assert ev["completed"][ev["video_id"] == v].sum() == c.completions[i]
    assert ev["user_id"].dtype == np.int64 and ev["play3"].dtype == bool


def test_read_kuairand_events_never_drops_silently(tmp_path):
    rows = random_log(np.random.default_rng(7), n_rows=20)
    rows[3]["time_ms"] = "x"
    p = tmp_path / "log.tsv"
    write_log(p, rows)
    with pytest.warns(UserWarning, match="time_ms: 0 missing, 1 malformed -> row dropped"):
        ev = read_kuairand_events(p)
    assert ev["video_id"].shape == (19,)
    ev, report = read_kuairand_events(p, with_report=True)
    assert report.rows_dropped == 1


def test_read_kuairand_events_needs_time_columns(tmp_path):
    header = [h for h in HEADER if h not in ("time_ms", "date")]
    p = tmp_path / "log.tsv"
    write_log(p, random_log(np.random.default_rng(0), n_rows=3), header=header)
    with pytest.raises(ValueError, match=re.escape("missing required column(s) ['date', 'time_ms']")):
        read_kuairand_events(p)
    read_kuairand(p)  # counters do not need them


# --------------------------------------------------------------------------- counters CSV


def small_counters(n=4):
    rng = np.random.default_rng(n)
    imp = rng.integers(1, 50, n).astype(float)
    cols = {c: np.zeros(n) for c in COUNTER_COLUMNS}
    cols.update(video_id=np.arange(10, 10 + n), creator_id=np.array([-1] + [3] * (n - 1)), impressions=imp,
                plays_3s=np.floor(imp / 2), watch_s=imp * 3.3, duration_s=np.full(n, 12.5),
                creator_followers=np.full(n, 9.0), creator_regular_readers=np.full(n, 4.0),
                creator_age_days=np.array([np.nan] + [2.5] * (n - 1)))
    return Counters.from_columns(cols)


def test_signals_csv_round_trip(tmp_path):
    c = small_counters()
    s = compute_signals(c)
    scores = np.arange(c.n_videos) * 0.1
    out = tmp_path / "out.csv"
    write_signals_csv(out, c, s, scores)
    with open(out) as f:
        r = list(csv.DictReader(f))
    assert list(r[0]) == list(COUNTER_COLUMNS) + list(SIGNAL_NAMES) + ["score"]
    assert r[0]["creator_age_days"] == ""  # unknown written as an empty cell
    assert [float(x["score"]) for x in r] == pytest.approx(scores.tolist())
    assert [float(x["share_ft"]) for x in r] == pytest.approx(s.column("share_ft").tolist())
    back = read_counters_csv(out)  # extra columns are ignored
    for col in COUNTER_COLUMNS:
        np.testing.assert_array_equal(getattr(back, col), getattr(c, col))
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_write_signals_csv_is_atomic(tmp_path):
    out = tmp_path / "out.csv"
    out.write_text("old\n")
    c = small_counters()
    with pytest.raises(ValueError, match=re.escape("scores must have shape (4,). Got (3,) instead.")):
        write_signals_csv(out, c, compute_signals(c), np.zeros(3))
    with pytest.raises(ValueError, match=re.escape("signals must have shape (4, 7). Got (4, 6) instead.")):
        write_signals_csv(out, c, np.zeros((4, 6)), np.zeros(4))
    assert out.read_text() == "old\n"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_signals_csv(tmp_path / "no" / "out.csv", c, compute_signals(c), np.zeros(4))
    assert sorted(os.listdir(tmp_path)) == ["out.csv"]


def _counters_file(tmp_path, edit=None, drop=None, delimiter=","):
    c = small_counters()
    cols = {k: [("" if (isinstance(x, float) and math.isnan(x)) else repr(x)) for x in v.tolist()]
            for k, v in c.to_columns().items()}
    if edit:
        col, row, value = edit
        cols[col][row] = value
    header = [h for h in COUNTER_COLUMNS if h != drop]
    p = tmp_path / "c.csv"
    with open(p, "w") as f:
        f.write(delimiter.join(header) + "\n")
        for i in range(c.n_videos):
            f.write(delimiter.join(cols[h][i] for h in header) + "\n")
    return p


def test_read_counters_csv_tab_separated(tmp_path):
    c = read_counters_csv(_counters_file(tmp_path, delimiter="\t"))
    assert c.n_videos == 4 and np.isnan(c.creator_age_days[0]) and c.creator_age_days[1] == 2.5


@pytest.mark.parametrize("edit, drop, msg", [
    (None, "likes", "{p}: missing required column(s) ['likes']; a counters CSV needs " + ", ".join(COUNTER_COLUMNS)
     + ". Found: " + ", ".join(c for c in COUNTER_COLUMNS if c != "likes") + "."),
    (("likes", 2, "many"), None, "{p}: column 'likes' has 1 malformed value(s) (first at row 2; rows count from 0 after the header)."),
    (("video_id", 1, "1.5"), None, "{p}: column 'video_id' has 1 malformed value(s) (first at row 1; rows count from 0 after the header)."),
    (("shares", 3, ""), None, "{p}: column 'shares' has 1 missing value(s) (first at row 3; rows count from 0 after the header)."),
    (("duration_s", 1, "-1"), None, "{p}: Counters column 'duration_s' must be >= 0. Got -1.0 at row 1 (1 row(s)). Rows count from 0 after the header."),
    (("plays_3s", 0, "1e9"), None, "{p}: Counters column 'plays_3s' must not exceed 'impressions'."),
])
def test_read_counters_csv_invalid(tmp_path, edit, drop, msg):
    p = _counters_file(tmp_path, edit=edit, drop=drop)
    with pytest.raises(ValueError, match="^" + re.escape(msg.format(p=p))):
        read_counters_csv(p)


# --------------------------------------------------------------------------- the real KuaiRand file


def test_real_kuairand_counters_match_hand_computation(kuairand_path):
    with open(kuairand_path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    counts = defaultdict(int)
    has_duration = defaultdict(bool)
    for r in rows:
        counts[r["video_id"]] += 1
        has_duration[r["video_id"]] |= float(r["duration_ms"]) > 0
    busiest = sorted(counts, key=lambda v: (-counts[v], v))[:4]
    no_duration = sorted(v for v in counts if not has_duration[v])[:2]
    assert no_duration
    picked = {int(v) for v in busiest + no_duration}
    hand = hand_counters([r for r in rows if int(r["video_id"]) in picked], like="label")
    c, report = read_kuairand(kuairand_path)
    assert report.rows_read == len(rows) == report.rows_used
    assert report.n_videos == len(counts) == c.n_videos
    idx = {v: i for i, v in enumerate(c.video_id.tolist())}
    for v, h in hand.items():
        for k, x in h.items():
            assert getattr(c, k)[idx[v]] == pytest.approx(x), (v, k)
    for v in no_duration:
        assert c.duration_s[idx[int(v)]] == 0 and c.completions[idx[int(v)]] == 0
    s = compute_signals(c)
    assert np.all(np.isfinite(s.matrix))
    assert np.all(s.column("share_ft") == 0)
    assert np.all(s.column("completion")[c.duration_s == 0] == 0)


def test_real_kuairand_events(kuairand_path):
    ev, report = read_kuairand_events(kuairand_path, with_report=True)
    assert ev["time_ms"].shape == (report.rows_used,)
    assert np.all(np.diff(ev["time_ms"]) >= 0)
    assert report.n_users == np.unique(ev["user_id"]).shape[0]


def test_read_kuairand_typed_path_counts_bad_values_too(tmp_path):
    # only numeric-looking problems: the fast typed read handles them without the string fallback
    rows = random_log(np.random.default_rng(9), n_rows=30)
    rows[0]["is_like"] = "2"
    rows[1]["duration_ms"] = ""
    rows[2]["play_time_ms"] = "-5"
    rows[3]["is_follow"] = "0.5"
    p = tmp_path / "log.tsv"
    write_log(p, rows)
    c, report = read_kuairand(p)
    assert report.rows_dropped == 1
    assert report.issue("is_like").malformed == 1 and report.issue("is_follow").malformed == 1
    assert report.issue("duration_ms").missing == 1
    assert c.impressions.sum() == 29


def test_read_kuairand_conflicting_creators_use_the_first_and_say_so(tmp_path):
    rows = random_log(np.random.default_rng(10), n_rows=40, n_videos=3)
    for k, r in enumerate(rows):
        r["author_id"] = k  # every row names another creator
    rows[0]["author_id"] = ""  # unknown on the first row: the next known one counts
    first = {}
    for k, r in enumerate(rows):
        if r["author_id"] != "":
            first.setdefault(r["video_id"], r["author_id"])
    p = tmp_path / "log.tsv"
    write_log(p, rows, header=HEADER + ["author_id"])
    c, report = read_kuairand(p)
    assert c.creator_id.tolist() == [first[v] for v in c.video_id.tolist()]
    assert report.issue("author_id").missing == 1
    assert any("3 videos have rows naming different creators" in n for n in report.notes)
