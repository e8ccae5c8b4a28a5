r"""Real logs in, counters and signals out.

- :func:`read_kuairand` turns an impression log in the KuaiRand schema into
  per-video :class:`~ranker.signals.Counters` and an :class:`IngestReport`.
- :func:`read_kuairand_events` returns the same log one row per impression,
  sorted by time, with the derived labels (for learning).
- :func:`read_counters_csv` reads the counters CSV (columns
  :data:`~ranker.signals.COUNTER_COLUMNS`); :func:`write_signals_csv`
  writes counters, signals and scores, atomically.

KuaiRand mapping (one row = one impression)
-------------------------------------------
=================== ===========================================================
counter             from the log
=================== ===========================================================
impressions         rows of the video
plays_3s            rows with :math:`\text{play\_time\_ms} \ge 3000`
completions         rows with :math:`\text{play\_time\_ms} \ge d` where the
                    duration :math:`d` is known: the row's ``duration_ms`` if
                    > 0, else the video's median known duration
watch_s             :math:`\sum \text{play\_time\_ms} / 1000`
duration_s          median of the video's ``duration_ms`` > 0, / 1000; 0 if
                    unknown
likes               :math:`\sum` ``is_like`` (or ``label`` where the file has
                    no ``is_like``: the explicit-feedback subset, 1 = like)
comments            :math:`\sum` ``is_comment``
shares              :math:`\sum` ``is_forward``
follows             :math:`\sum` ``is_follow``
creator_id          ``author_id`` (or ``creator_id``) if the log has it, else -1
creator_followers   follows in the log, summed over the creator's videos
                    (over the video itself when the creator is unknown)
share_recipients,   0: a log does not say who received a forwarded video, nor
share_opens         whether they opened it
creator_regular_    0: regular readers need follow history and later
readers,            engagement per follower, which an impression log of a
rr_impressions,     few weeks without creator ids cannot tell
rr_plays_3s
creator_age_days    NaN (unknown)
=================== ===========================================================

Missing and malformed values are counted per column and reported, never
dropped silently: a row without a usable ``video_id`` or ``play_time_ms`` is
dropped (and counted); a missing or malformed flag counts as 0, a missing
duration as unknown, a missing author as unknown, each counted. A file
missing a required column fails with a message naming it.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from ranker.delimited import _Column, _read, _Text  # noqa: F401  (the text rules; re-exported)
from ranker.signals import COUNTER_COLUMNS, SIGNAL_NAMES, Counters, Signals

#: Columns a KuaiRand log must have to make counters (plus a like column).
KUAIRAND_REQUIRED = ("video_id", "play_time_ms", "duration_ms", "is_comment", "is_forward", "is_follow")
#: Columns :func:`read_kuairand_events` needs in addition.
KUAIRAND_EVENT_REQUIRED = ("user_id", "date", "time_ms")
#: Like columns, in order of preference.
KUAIRAND_LIKE = ("is_like", "label")
#: Creator columns, in order of preference.
KUAIRAND_CREATOR = ("author_id", "creator_id")
#: Optional 0/1 columns passed through by :func:`read_kuairand_events`.
KUAIRAND_EXTRA_FLAGS = ("is_click", "long_view", "is_profile_enter", "is_hate", "is_like", "label")

#: Play time at which an impression counts as a 3-second play, ms.
PLAY3_MS = 3000.0



@dataclass(frozen=True)
class ColumnIssue:
    """Missing and malformed values of one column, and what was done with them."""

    column: str
    missing: int
    malformed: int
    action: str


@dataclass(frozen=True)
class IngestReport:
    """What reading a log found and did.

    Attributes
    ----------
    path : str
    delimiter : str
        ``"\\t"`` or ``","``.
    rows_read : int
        Data rows in the file (header excluded, empty lines skipped).
    rows_bad_shape : int
        Rows with the wrong number of fields (dropped).
    rows_dropped : int
        All dropped rows (bad shape, or no usable video id / play time).
    rows_used : int
        ``rows_read - rows_dropped``.
    n_videos, n_users : int
        Distinct videos and users among the rows used (users -1 without a
        ``user_id`` column).
    issues : tuple of ColumnIssue
        Columns with missing or malformed values.
    notes : tuple of str
        What the log cannot tell, and substitutions made.
    drop_reasons : tuple of (str, int)
        Why rows were dropped, each dropped row counted once under its first
        reason (``"wrong number of fields"``, ``"video_id malformed"``, ...);
        the counts add up to ``rows_dropped``.
    rows_repeated : int
        Rows used that repeat an earlier row's (``user_id``, ``video_id``,
        ``time_ms``) (when the log has those columns): kept, and reported.
    """

    path: str
    delimiter: str
    rows_read: int
    rows_bad_shape: int
    rows_dropped: int
    rows_used: int
    n_videos: int
    n_users: int
    issues: tuple = field(default_factory=tuple)
    notes: tuple = field(default_factory=tuple)
    drop_reasons: tuple = field(default_factory=tuple)
    rows_repeated: int = 0

    def issue(self, column: str) -> ColumnIssue | None:
        """The issue recorded for ``column``, or None when it had none."""
        for i in self.issues:
            if i.column == column:
                return i
        return None

    def summary(self) -> str:
        """A few lines for people."""
        sep = "tab" if self.delimiter == "\t" else "comma"
        users = f", {self.n_users:,} users" if self.n_users >= 0 else ""
        lines = [
            f"read {self.rows_read:,} rows from {self.path} ({sep}-separated): {self.rows_used:,} used, "
            f"{self.rows_dropped:,} dropped; {self.n_videos:,} videos{users}"
        ]
        if self.rows_bad_shape:
            lines.append(f"  {self.rows_bad_shape:,} rows with the wrong number of fields (dropped)")
        if self.drop_reasons:
            lines.append("  dropped: " + ", ".join(f"{k:,} {r}" for r, k in self.drop_reasons))
        if not self.issues:
            lines.append("  no missing or malformed values")
        for i in self.issues:
            lines.append(f"  {i.column}: {i.missing:,} missing, {i.malformed:,} malformed -> {i.action}")
        for n in self.notes:
            lines.append(f"  note: {n}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- low-level reading

#: Play or video length above this (one day, ms) is absurd for a short video: dropped or unknown, counted.
MAX_PLAY_MS = 86_400_000.0
#: Largest count a counters CSV may hold in one cell.
MAX_COUNT = 1e12
#: Largest video length in a counters CSV, seconds (one day).
MAX_DURATION_S = 86_400.0
#: Counters CSV columns that count events: whole numbers.
COUNT_COLUMNS = ("impressions", "plays_3s", "completions", "likes", "comments", "shares", "share_recipients",
                 "share_opens", "follows", "creator_followers", "creator_regular_readers", "rr_impressions",
                 "rr_plays_3s")
def _check_columns(path, names, required, what) -> None:
    missing = [c for c in required if c not in names]
    if missing:
        raise ValueError(
            f"{path}: missing required column(s) {missing}; {what} needs {', '.join(required)}. "
            f"Found: {', '.join(names)}."
        )


# --------------------------------------------------------------------------- KuaiRand


def _kuairand_columns(path, names, events: bool):
    req = list(KUAIRAND_REQUIRED) + (list(KUAIRAND_EVENT_REQUIRED) if events else [])
    missing = [c for c in req if c not in names]
    like = next((c for c in KUAIRAND_LIKE if c in names), None)
    if like is None:
        missing.append("is_like (or label)")
    if missing:
        raise ValueError(
            f"{path}: missing required column(s) {missing}; a KuaiRand log needs "
            f"{', '.join(req)} and is_like (or label). Found: {', '.join(names)}."
        )
    creator = next((c for c in KUAIRAND_CREATOR if c in names), None)
    spec = {"video_id": "int", "play_time_ms": "float", "duration_ms": "float",
            like: "float", "is_comment": "float", "is_forward": "float", "is_follow": "float"}
    if "user_id" in names:
        spec["user_id"] = "int"
    if not events and "time_ms" in names:
        spec["time_ms"] = "int"  # only to report repeated rows
    if creator:
        spec[creator] = "int"
    if events:
        spec.update(date="int", time_ms="int")
        for c in KUAIRAND_EXTRA_FLAGS:
            if c in names:
                spec.setdefault(c, "float")
    return spec, like, creator


class _Issues:
    def __init__(self):
        self.items = []

    def add(self, column, col: _Column, extra_bad, action):
        malformed = col.malformed | (extra_bad & ~col.missing)
        n_miss, n_bad = int(col.missing.sum()), int(malformed.sum())
        if n_miss or n_bad:
            self.items.append(ColumnIssue(column, n_miss, n_bad, action))
        return col.missing | malformed


def _parse_kuairand(path, events: bool):
    text = _Text(path)
    spec, like, creator = _kuairand_columns(path, text.names, events)
    cols, n_bad_shape = _read(path, text.delimiter, spec, text)
    n = cols["video_id"].values.shape[0]
    issues = _Issues()
    drop = np.zeros(n, bool)
    reasons = {"wrong number of fields": n_bad_shape} if n_bad_shape else {}

    def dropped(column, col, extra_bad, what):
        nonlocal drop
        bad = issues.add(column, col, extra_bad, f"row dropped{what}")
        for reason, mask in ((f"{column} missing", col.missing), (f"{column} malformed", bad & ~col.missing)):
            k = int((mask & ~drop).sum())
            if k:
                reasons[reason] = reasons.get(reason, 0) + k
        drop |= bad

    dropped("video_id", cols["video_id"], cols["video_id"].values < 0, "")
    play = cols["play_time_ms"]
    dropped("play_time_ms", play, (play.values < 0) | (play.values > MAX_PLAY_MS),
            f" (malformed: not a number, negative or above {MAX_PLAY_MS:,.0f} ms)")
    if events:
        for c in ("user_id", "time_ms", "date"):
            dropped(c, cols[c], cols[c].values < 0, "")
    elif "user_id" in cols:
        issues.add("user_id", cols["user_id"], cols["user_id"].values < 0, "kept (user not needed for counters)")
    dur = cols["duration_ms"]
    bad = issues.add("duration_ms", dur, (dur.values < 0) | (dur.values > MAX_PLAY_MS),
                     "duration unknown for the row")
    duration = np.where(bad, 0.0, dur.values)
    flags = {}
    flag_cols = [like, "is_comment", "is_forward", "is_follow"]
    if events:
        flag_cols += [c for c in KUAIRAND_EXTRA_FLAGS if c in cols and c not in flag_cols]
    for c in flag_cols:
        v = cols[c].values
        bad = issues.add(c, cols[c], (v != 0) & (v != 1), "counted as 0")
        flags[c] = np.where(bad, 0.0, v)
    creator_ids = None
    if creator:
        cc = cols[creator]
        bad = issues.add(creator, cc, cc.values < 0, "creator unknown (-1)")
        creator_ids = np.where(bad, -1, cc.values)
    keep = ~drop
    n_used = int(keep.sum())
    n_read = n + n_bad_shape
    if n_used == 0:
        why = "; ".join(f"{k:,} {r}" for r, k in reasons.items()) or "the file has no data rows"
        raise ValueError(f"{path}: no usable rows ({n_read:,} read, all dropped: {why})")
    rows = dict(video_id=cols["video_id"].values[keep], play_time_ms=play.values[keep],
                duration_ms=duration[keep], like=flags[like][keep], comment=flags["is_comment"][keep],
                share=flags["is_forward"][keep], follow=flags["is_follow"][keep])
    if creator_ids is not None:
        rows["creator_id"] = creator_ids[keep]
    if "user_id" in cols:
        uid = cols["user_id"]
        rows["user_id"] = np.where(uid.ok, uid.values, -1)[keep]
    if events:
        rows["time_ms"] = cols["time_ms"].values[keep]
        rows["date"] = cols["date"].values[keep]
        for c in flag_cols[4:]:
            rows[c] = flags[c][keep]
    notes = []
    if like == "label":
        notes.append("no is_like column: likes taken from 'label' (1 = like, 0 = hate), as in the explicit-"
                     "feedback subset, where every row is a like or a hate: not a representative impression log")
    repeated = 0
    if "user_id" in rows and "time_ms" in cols:
        t_ms = cols["time_ms"].values[keep]
        key = np.stack([rows["user_id"], rows["video_id"], t_ms], axis=1)
        repeated = n_used - int(np.unique(key, axis=0).shape[0])
        if repeated:
            notes.append(f"{repeated:,} rows repeat an earlier row's (user_id, video_id, time_ms): kept, each "
                         "counts as an impression")
    meta = dict(path=str(path), delimiter=text.delimiter, rows_read=n_read, rows_bad_shape=n_bad_shape,
                rows_dropped=int(drop.sum()) + n_bad_shape, rows_used=n_used,
                drop_reasons=tuple(reasons.items()), rows_repeated=repeated)
    assert meta["rows_used"] + meta["rows_dropped"] == n_read == text.n_lines
    return rows, issues.items, notes, creator, meta


def _video_durations(codes, duration_ms, n_videos):
    """Median known (> 0) duration per video, ms; 0 where none is known."""
    known = duration_ms > 0
    c, d = codes[known], duration_ms[known]
    order = np.lexsort((d, c))
    c, d = c[order], d[order]
    counts = np.bincount(c, minlength=n_videos)
    starts = np.cumsum(counts) - counts
    out = np.zeros(n_videos)
    has = counts > 0
    lo = starts[has] + (counts[has] - 1) // 2
    hi = starts[has] + counts[has] // 2
    out[has] = 0.5 * (d[lo] + d[hi])
    return out


def _completed(codes, play_ms, duration_ms, video_dur_ms):
    eff = np.where(duration_ms > 0, duration_ms, video_dur_ms[codes])
    return (eff > 0) & (play_ms >= eff)


def read_kuairand(path) -> tuple[Counters, IngestReport]:
    """Read a KuaiRand impression log into per-video counters.

    Parameters
    ----------
    path : str or path-like
        Tab- or comma-separated log with a header (the delimiter is sniffed
        from the header line). Needs the columns :data:`KUAIRAND_REQUIRED`
        and ``is_like`` (or ``label``); uses ``user_id`` and ``author_id``
        when present. The mapping is in the module docstring.

    Returns
    -------
    counters : Counters
        One row per video, sorted by ``video_id``.
    report : IngestReport
        Rows read, used and dropped; missing and malformed values per
        column; what the log cannot tell.

    Raises
    ------
    FileNotFoundError
        When ``path`` is not a file.
    ValueError
        When required columns are missing (naming them) or the file cannot
        be parsed.
    """
    rows, issues, notes, creator, meta = _parse_kuairand(path, events=False)
    vid = rows["video_id"]
    videos, codes = np.unique(vid, return_inverse=True)
    nv = videos.shape[0]

    def total(x):
        return np.bincount(codes, weights=x, minlength=nv).astype(np.float64)

    play = rows["play_time_ms"]
    vdur = _video_durations(codes, rows["duration_ms"], nv)
    impressions = np.bincount(codes, minlength=nv).astype(np.float64)
    follows = total(rows["follow"])
    if creator:
        cid = _first_known_creator(codes, rows["creator_id"], nv)
        conflicts = _creator_conflicts(codes, rows["creator_id"], cid)
        if conflicts:
            notes.append(f"{conflicts:,} videos have rows naming different creators: the first named is used")
        known = cid >= 0
        followers = follows.copy()
        if known.any():
            cu, cinv = np.unique(cid[known], return_inverse=True)
            followers[known] = np.bincount(cinv, weights=follows[known], minlength=cu.shape[0])[cinv]
        notes.append(f"creator_followers: follows gained within the log, summed over the creator's videos "
                     f"(from '{creator}'), not the creator's follower count")
    else:
        cid = np.full(nv, -1, np.int64)
        followers = follows.copy()
        notes.append("no author_id column: creator_id is -1 and each video stands for its own creator; "
                     "creator_followers = the video's follows within the log")
    unknown_dur = int((vdur <= 0).sum())
    if unknown_dur:
        notes.append(f"duration unknown (duration_ms <= 0 on every row) for {unknown_dur:,} videos: their "
                     f"completion and avg_play signals are 0 (no information)")
    notes.append("share_recipients, share_opens: not in the log (0): share_ft is 0 for every video")
    notes.append("creator_regular_readers, rr_impressions, rr_plays_3s: not in the log (0): regular readers need "
                 "follow history and later engagement per follower")
    notes.append("creator_age_days: not in the log (NaN)")
    zeros = np.zeros(nv)
    counters = Counters(
        video_id=videos.astype(np.int64), creator_id=cid, impressions=impressions,
        plays_3s=total((play >= PLAY3_MS).astype(np.float64)),
        completions=total(_completed(codes, play, rows["duration_ms"], vdur).astype(np.float64)),
        watch_s=total(play) / 1000.0, duration_s=vdur / 1000.0,
        likes=total(rows["like"]), comments=total(rows["comment"]), shares=total(rows["share"]),
        share_recipients=zeros, share_opens=zeros, follows=follows,
        creator_followers=followers, creator_regular_readers=zeros, rr_impressions=zeros, rr_plays_3s=zeros,
        creator_age_days=np.full(nv, np.nan),
    )
    n_users = int(np.unique(rows["user_id"][rows["user_id"] >= 0]).shape[0]) if "user_id" in rows else -1
    report = IngestReport(**meta, n_videos=nv, n_users=n_users, issues=tuple(issues), notes=tuple(notes))
    return counters, report


def _first_known_creator(codes, creator, nv):
    """Creator of each video: the first known one in file order; -1 if none."""
    out = np.full(nv, -1, np.int64)
    idx = np.flatnonzero(creator >= 0)
    vids, first = np.unique(codes[idx], return_index=True)
    out[vids] = creator[idx[first]]
    return out


def _creator_conflicts(codes, creator, chosen):
    known = creator >= 0
    return int(np.unique(codes[known & (creator != chosen[codes])]).shape[0])


def read_kuairand_events(path, *, with_report=False):
    """Read a KuaiRand log one row per impression, sorted by time.

    Parameters
    ----------
    path : str or path-like
        As for :func:`read_kuairand`; also needs ``user_id``, ``date`` and
        ``time_ms``.
    with_report : bool
        Also return the :class:`IngestReport`.

    Returns
    -------
    events : dict of str to ndarray, each of shape (n_rows,)
        Sorted by (``time_ms``, ``user_id``, ``video_id``), stable:

        - ``user_id``, ``video_id``: int64 ids;
        - ``date``: int64 ``YYYYMMDD``; ``time_ms``: int64 Unix time, ms;
        - ``play_time_ms``, ``duration_ms``: float64, ms (duration 0 = unknown
          for the row);
        - ``watch_s``: float64, seconds;
        - ``play3``, ``completed``, ``like``, ``comment``, ``share``,
          ``follow``: bool labels, mapped as in :func:`read_kuairand`;
        - any of ``is_click``, ``long_view``, ``is_profile_enter``,
          ``is_hate``, ``is_like``, ``label`` the file has: bool.
    report : IngestReport
        Only with ``with_report=True``. Without it, dropped rows or bad
        values raise a :class:`UserWarning` with the summary, so nothing is
        dropped silently.
    """
    rows, issues, notes, creator, meta = _parse_kuairand(path, events=True)
    vid = rows["video_id"]
    videos, codes = np.unique(vid, return_inverse=True)
    vdur = _video_durations(codes, rows["duration_ms"], videos.shape[0])
    order = np.lexsort((vid, rows["user_id"], rows["time_ms"]))
    play = rows["play_time_ms"]
    ev = {
        "user_id": rows["user_id"], "video_id": vid, "date": rows["date"], "time_ms": rows["time_ms"],
        "play_time_ms": play, "duration_ms": rows["duration_ms"], "watch_s": play / 1000.0,
        "play3": play >= PLAY3_MS, "completed": _completed(codes, play, rows["duration_ms"], vdur),
        "like": rows["like"] > 0, "comment": rows["comment"] > 0, "share": rows["share"] > 0,
        "follow": rows["follow"] > 0,
    }
    if creator:
        ev["creator_id"] = rows["creator_id"]
    for c in KUAIRAND_EXTRA_FLAGS:
        if c in rows:
            ev[c] = rows[c] > 0
    ev = {k: np.ascontiguousarray(v[order]) for k, v in ev.items()}
    report = IngestReport(**meta, n_videos=int(videos.shape[0]),
                          n_users=int(np.unique(rows["user_id"]).shape[0]), issues=tuple(issues), notes=tuple(notes))
    if with_report:
        return ev, report
    if report.rows_dropped or report.issues:
        warnings.warn(report.summary(), UserWarning, stacklevel=2)
    return ev


# --------------------------------------------------------------------------- counters CSV


def read_counters_csv(path) -> Counters:
    """Read a counters CSV (comma- or tab-separated, header required).

    Parameters
    ----------
    path : str or path-like
        Needs every column of :data:`~ranker.signals.COUNTER_COLUMNS`;
        other columns are ignored (so a file written by
        :func:`write_signals_csv` reads back). An empty ``creator_age_days``
        cell means unknown (NaN); every other cell must hold a number.
        Text rules (delimiter, quotes, BOM, header) as for every reader of
        this module; see :class:`_Text`.

    Returns
    -------
    Counters

    Raises
    ------
    FileNotFoundError
    ValueError
        Naming the missing or repeated columns, or the column, row and value
        of the first bad cell (rows count from 0 after the header): a row of
        the wrong width, a missing or malformed cell, a fractional count in
        :data:`COUNT_COLUMNS`, a count above :data:`MAX_COUNT`, a watch time
        above one day per impression or a length above one day, a video id
        given twice, or no rows at all. A counters file is never partly
        read.
    """
    text = _Text(path)
    _check_columns(path, text.names, COUNTER_COLUMNS, "a counters CSV")
    spec = {c: ("int" if c in ("video_id", "creator_id") else "float") for c in COUNTER_COLUMNS}
    cols, n_bad_shape = _read(path, text.delimiter, spec, text)
    if n_bad_shape:
        raise ValueError(f"{path}: {n_bad_shape} row(s) with the wrong number of fields.")
    n = cols["video_id"].values.shape[0]
    if n == 0:
        raise ValueError(f"{path}: no rows after the header; a counters CSV needs one row per video.")
    out = {}
    for name in COUNTER_COLUMNS:
        col = cols[name]
        if col.malformed.any():
            i = int(np.flatnonzero(col.malformed)[0])
            raise ValueError(
                f"{path}: column {name!r} has {int(col.malformed.sum())} malformed value(s) "
                f"(first at row {i}; rows count from 0 after the header)."
            )
        if col.missing.any() and name != "creator_age_days":
            i = int(np.flatnonzero(col.missing)[0])
            raise ValueError(
                f"{path}: column {name!r} has {int(col.missing.sum())} missing value(s) "
                f"(first at row {i}; rows count from 0 after the header)."
            )
        v = col.values
        checks = []
        if name in COUNT_COLUMNS:
            checks = [(v != np.floor(v), "is not a whole number (a count)"),
                      (v > MAX_COUNT, f"is above {MAX_COUNT:g} (not a plausible count)")]
        elif name == "duration_s":
            checks = [(v > MAX_DURATION_S, f"is above {MAX_DURATION_S:,.0f} s (one day)")]
        elif name == "watch_s":
            checks = [(v > MAX_DURATION_S * np.maximum(cols["impressions"].values, 1.0),
                       "is above one day of watching per impression")]
        for bad, what in checks:
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(f"{path}: column {name!r} value {float(v[i]):g} at row {i} {what} "
                                 f"({int(bad.sum())} row(s); rows count from 0 after the header).")
        out[name] = np.where(col.missing, np.nan, v) if name == "creator_age_days" else v
    vid = out["video_id"]
    uniq, first, counts = np.unique(vid, return_index=True, return_counts=True)
    if uniq.shape[0] != n:
        j = int(np.flatnonzero(counts > 1)[0])
        rows = np.flatnonzero(vid == uniq[j])[:2]
        raise ValueError(f"{path}: video_id {int(uniq[j])} appears at rows {int(rows[0])} and {int(rows[1])} "
                         f"({int((counts > 1).sum())} id(s) repeated); each video needs exactly one row "
                         "(rows count from 0 after the header).")
    try:
        return Counters.from_columns(out)
    except ValueError as e:
        raise ValueError(f"{path}: {e} Rows count from 0 after the header.") from None


# --------------------------------------------------------------------------- output


def write_signals_csv(path, counters: Counters, signals, scores) -> None:
    """Write one row per video: counters, every signal and the score, atomically.

    Parameters
    ----------
    path : str or path-like
        Output file; written to a temporary file beside it, then renamed.
    counters : Counters
        n_videos rows.
    signals : Signals or float64 array (n_videos, 7)
        Columns in :data:`~ranker.signals.SIGNAL_NAMES` order.
    scores : float64 array (n_videos,)
        Score of each video.

    Notes
    -----
    Columns: :data:`~ranker.signals.COUNTER_COLUMNS`, then
    :data:`~ranker.signals.SIGNAL_NAMES`, then ``score``. Unknown
    ``creator_age_days`` is written as an empty cell.
    """
    matrix = signals.matrix if isinstance(signals, Signals) else np.asarray(signals, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    n = counters.n_videos
    if matrix.shape != (n, len(SIGNAL_NAMES)):
        raise ValueError(f"signals must have shape ({n}, {len(SIGNAL_NAMES)}). Got {matrix.shape} instead.")
    if scores.shape != (n,):
        raise ValueError(f"scores must have shape ({n},). Got {scores.shape} instead.")
    cols = {}
    for name in COUNTER_COLUMNS:
        v = getattr(counters, name)
        cols[name] = pa.array(v, from_pandas=(name == "creator_age_days"))
    for j, name in enumerate(SIGNAL_NAMES):
        cols[name] = pa.array(matrix[:, j])
    cols["score"] = pa.array(scores)
    table = pa.table(cols)
    header = (",".join(table.column_names) + "\n").encode()

    def write(f):
        f.write(header)
        pacsv.write_csv(table, f, pacsv.WriteOptions(include_header=False))

    atomic_write(path, write)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temp_dir(parent, prefix: str) -> Path:
    """A new uniquely named directory in ``parent`` with the mode the umask gives (not 0700).

    ``tempfile.mkdtemp`` makes private directories; a run or model directory
    renamed into place from one should be as readable as any other directory
    its user creates.
    """
    d = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    os.chmod(d, 0o777 & ~_umask())
    return d


def atomic_write(path, write) -> None:
    """Call ``write(binary_file)`` on a temporary file beside ``path``, then rename it to ``path``.

    A reader never sees a half-written file; on error the temporary file is
    removed and ``path`` is left as it was.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(f"{path}: directory {parent} does not exist")
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
