"""Impression logs for learning: :class:`EventLog`, read from the simulator's Parquet log or a KuaiRand log.

One row per impression, sorted by time; see :mod:`ranker.learn` for the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


#: Columns the simulator's event log must have (see ``sim.engine.EVENT_COLUMNS``).
EVENT_REQUIRED = (
    "day", "request_id", "user_id", "video_id", "creator_id", "creator_age_days", "regular_reader",
    "play_3s", "completed", "watch_s", "liked", "commented", "shared", "share_recipients", "share_opens",
    "followed",
)
#: Columns used when present: time within the day, the logged affinity, follower flag, video length.
EVENT_OPTIONAL = ("tick", "position", "affinity", "follower", "duration_s", "latent_value")

#: Labels of simulator logs: name -> source column. ``latent_value`` is graded.
EVENT_LABELS = {
    "latent_value": "latent_value", "play_3s": "play_3s", "completed": "completed", "liked": "liked",
    "commented": "commented", "shared": "shared", "followed": "followed",
}
#: Labels of KuaiRand logs: name -> key of ``ranker.io.read_kuairand_events``.
KUAIRAND_LABELS = {
    "long_view": "long_view", "is_like": "like", "is_click": "is_click", "play3": "play3",
    "completed": "completed", "is_comment": "comment", "is_forward": "share", "is_follow": "follow",
    "is_profile_enter": "is_profile_enter",
}
#: Number of relevance grades a continuous label is cut into (0 .. N_GRADES - 1).
N_GRADES = 5
#: KuaiRand's clock: China Standard Time, UTC+8, ms.
KUAIRAND_UTC_OFFSET_MS = 8 * 3_600_000
#: Length of a KuaiRand request's time bucket, ms (one hour).
KUAIRAND_BUCKET_MS = 3_600_000


@dataclass(frozen=True)
class EventLog:
    """Impressions in time order, in the shape :func:`build_training_set` reads.

    All arrays have shape (n,) and are sorted by (``block``, ``request``).

    Attributes
    ----------
    day : int64
        Day index, 0 = first day of the log.
    block : int64
        Time block, non-decreasing: rows of one block happen at once (one
        simulator tick; one KuaiRand timestamp) and never see each other.
    request : int64
        Request (LambdaRank query) id, unique over the log.
    user, video : int64
        Ids, >= 0.
    creator : int64
        Creator id, -1 unknown.
    play3, completed, liked, commented, shared, followed : float64
        0/1 outcomes.
    watch_s : float64
        Watch time, seconds.
    duration_s : float64
        Video length, seconds; 0 unknown (then estimated from earlier
        completed plays, whose watch time is the length).
    share_recipients, share_opens : float64
        Friends the impression's share went to, and how many opened it.
    regular_reader, follower : float64
        0/1 viewer flags; NaN where the log cannot tell.
    affinity : float64
        Logged topic affinity the ranker saw (log-lift); NaN if not logged.
    creator_age_days : float64
        NaN unknown.
    labels : dict of str to float64 array
        Candidate labels, raw (0/1 or continuous).
    source : str
        ``"events"`` or ``"kuairand"``.
    """

    day: np.ndarray
    block: np.ndarray
    request: np.ndarray
    user: np.ndarray
    video: np.ndarray
    creator: np.ndarray
    play3: np.ndarray
    completed: np.ndarray
    liked: np.ndarray
    commented: np.ndarray
    shared: np.ndarray
    followed: np.ndarray
    watch_s: np.ndarray
    duration_s: np.ndarray
    share_recipients: np.ndarray
    share_opens: np.ndarray
    regular_reader: np.ndarray
    follower: np.ndarray
    affinity: np.ndarray
    creator_age_days: np.ndarray
    labels: dict
    source: str
    ingest: object = None

    @property
    def n(self) -> int:
        return int(self.day.shape[0])

    @property
    def n_days(self) -> int:
        return int(self.day.max()) + 1 if self.n else 0


def _f64(x):
    return np.asarray(x, dtype=np.float64)


def read_event_log(path) -> EventLog:
    """Read the simulator's Parquet event log.

    Parameters
    ----------
    path : str or path-like
        A directory of Parquet files (``RUN/events``: ``day=NNNN``
        directories, or flat files), or a run directory holding
        ``events/``. Columns :data:`EVENT_REQUIRED`, and
        :data:`EVENT_OPTIONAL` where present.

    Returns
    -------
    EventLog
        Sorted by (day, tick, request_id, position). Blocks are ticks when
        the log has ``tick``, else requests.

    Raises
    ------
    FileNotFoundError, ValueError
        One line naming the path, the missing columns or the bad values.
    """
    import pyarrow.dataset as pads

    p = Path(path)
    if p.is_dir() and (p / "events").is_dir():
        p = p / "events"
    if not p.is_dir():
        raise FileNotFoundError(f"{path}: no such directory (expected a directory of Parquet files)")
    try:
        # the simulator's layout: day=NNNN directories (Hive); older logs: flat files with a day column
        hive = any(c.is_dir() and c.name.startswith("day=") for c in p.iterdir())
        ds = pads.dataset(str(p), format="parquet", partitioning="hive" if hive else None)
        names = set(ds.schema.names)
    except Exception as e:  # pyarrow raises several types for unreadable files
        raise ValueError(f"{path}: cannot read as a Parquet dataset: {e}") from None
    missing = [c for c in EVENT_REQUIRED if c not in names]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing} in the event log; needs {', '.join(EVENT_REQUIRED)}.")
    cols = list(EVENT_REQUIRED) + [c for c in EVENT_OPTIONAL if c in names]
    t = ds.to_table(columns=cols)
    if t.num_rows == 0:
        raise ValueError(f"{path}: the event log has no rows")
    a = {c: t.column(c).to_numpy(zero_copy_only=False) for c in cols}
    for c, arr in a.items():
        if arr.dtype.kind == "f" and c not in ("creator_age_days", "affinity") and not np.isfinite(arr).all():
            raise ValueError(f"{path}: column {c!r} has {int((~np.isfinite(arr)).sum())} non-finite value(s)")
        if arr.dtype.kind == "O":
            raise ValueError(f"{path}: column {c!r} has missing values")
    for c in ("day", "user_id", "video_id", "request_id"):
        if (a[c] < 0).any():
            raise ValueError(f"{path}: column {c!r} has negative values")
    n = t.num_rows
    tick = a["tick"].astype(np.int64) if "tick" in a else np.zeros(n, np.int64)
    pos = a["position"].astype(np.int64) if "position" in a else np.zeros(n, np.int64)
    order = np.lexsort((pos, a["request_id"], tick, a["day"]))
    a = {c: v[order] for c, v in a.items()}
    tick = tick[order]
    day0 = a["day"].astype(np.int64)
    day = day0 - day0.min()
    block_key = day * (int(tick.max()) + 1) + tick if "tick" in a else None
    req = _dense(_rows_as_keys(day, tick, a["request_id"].astype(np.int64)))
    block = _dense(block_key) if block_key is not None else req
    follower = _f64(a["follower"]) if "follower" in a else np.full(n, np.nan)
    labels = {name: _f64(a[col]) for name, col in EVENT_LABELS.items() if col in a}
    return EventLog(
        day=day, block=block, request=req, user=a["user_id"].astype(np.int64),
        video=a["video_id"].astype(np.int64), creator=a["creator_id"].astype(np.int64),
        play3=_f64(a["play_3s"]), completed=_f64(a["completed"]), liked=_f64(a["liked"]),
        commented=_f64(a["commented"]), shared=_f64(a["shared"]), followed=_f64(a["followed"]),
        watch_s=_f64(a["watch_s"]), duration_s=_f64(a["duration_s"]) if "duration_s" in a else np.zeros(n),
        share_recipients=_f64(a["share_recipients"]), share_opens=_f64(a["share_opens"]),
        regular_reader=_f64(a["regular_reader"]), follower=follower,
        affinity=_f64(a["affinity"]) if "affinity" in a else np.full(n, np.nan),
        creator_age_days=_f64(a["creator_age_days"]), labels=labels, source="events",
    )


def _dense(x):
    """Dense codes 0..k-1 of a key, in the key's order."""
    return np.unique(x, return_inverse=True)[1].astype(np.int64).reshape(-1)


def _rows_as_keys(*cols):
    """One sortable key per row from several int64 columns (lexicographic order)."""
    if len(cols) == 1:
        return np.asarray(cols[0], dtype=np.int64)
    codes = [_dense(c) for c in cols]
    key = np.zeros(len(codes[0]), dtype=np.int64)
    for c in codes:
        key = key * (int(c.max()) + 1 if c.size else 1) + c
        key = _dense(key)  # stays small: at most n distinct values
    return key


def kuairand_event_log(path) -> EventLog:
    """Read a KuaiRand log (via :func:`ranker.io.read_kuairand_events`).

    A request is a user's impressions within one clock hour:
    (``user_id``, ``time_ms // 3_600_000``), as KuaiRand does not log feed
    refreshes. Days are China Standard Time (UTC+8) days of ``time_ms``. Blocks are millisecond timestamps. Regular readers,
    followers, affinity, shares' recipients and creator age are not in the
    log (NaN or 0; see ``ranker.io``).

    Parameters
    ----------
    path : str or path-like
        Tab- or comma-separated KuaiRand log.

    Returns
    -------
    EventLog
    """
    import warnings

    from ranker.io import read_kuairand_events

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the report is checked below, not lost
        ev, report = read_kuairand_events(path, with_report=True)
    n = ev["video_id"].shape[0]
    if n == 0:
        raise ValueError(f"{path}: no usable rows")
    # Days are China Standard Time days of time_ms: the log's 'date' column follows its rounded
    # 'hourmin' and runs a day ahead for some rows just before midnight (59 in the kcore-15 subset).
    t = ev["time_ms"].astype(np.int64)
    order = np.lexsort((ev["video_id"], ev["user_id"], t))
    ev = {k: v[order] for k, v in ev.items()}
    t = t[order]
    local_day = (t + KUAIRAND_UTC_OFFSET_MS) // 86_400_000
    day = local_day - local_day.min()
    req = _dense(_rows_as_keys(ev["user_id"], day, t // KUAIRAND_BUCKET_MS))
    labels = {name: _f64(ev[key]) for name, key in KUAIRAND_LABELS.items() if key in ev}
    creator = ev["creator_id"].astype(np.int64) if "creator_id" in ev else np.full(n, -1, np.int64)
    z = np.zeros(n)
    return EventLog(
        day=day, block=_dense(t), request=req, user=ev["user_id"].astype(np.int64),
        video=ev["video_id"].astype(np.int64), creator=creator, play3=_f64(ev["play3"]),
        completed=_f64(ev["completed"]), liked=_f64(ev["like"]), commented=_f64(ev["comment"]),
        shared=_f64(ev["share"]), followed=_f64(ev["follow"]), watch_s=_f64(ev["watch_s"]),
        duration_s=_f64(ev["duration_ms"]) / 1000.0, share_recipients=z, share_opens=z,
        regular_reader=np.full(n, np.nan), follower=np.full(n, np.nan), affinity=np.full(n, np.nan),
        creator_age_days=np.full(n, np.nan), labels=labels, source="kuairand", ingest=report,
    )
