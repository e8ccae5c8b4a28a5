r"""Moments of an impression log: one function for real logs and simulated events alike.

:func:`compute_moments` reads a log in one normalized form (:class:`Log`,
one row per impression) and returns every moment of :data:`MOMENTS` with the
count it rests on and its standard error. The two readers bring a real log
and a simulated one to that form, so a moment means the same thing on both
sides of a calibration:

- :func:`log_from_kuairand`: a KuaiRand impression log (through
  :func:`ranker.io.read_kuairand_events`);
- :func:`log_from_events`: the ``events/`` directory ``ranksim simulate``
  writes.

Moments (rates are over the rows named in "of")
-----------------------------------------------
========================== =========================================================== ===========
name                       definition                                                  of
========================== =========================================================== ===========
play3_rate                 share of rows with watch >= 3 s                             impressions
completion_le10 ...        share of 3-second plays with ``completed``, by the          plays with known
completion_gt300           video's duration: <= 10, (10, 30], (30, 60], (60, 120],     duration
                           (120, 300], > 300 s
watch_frac_q10 ... q90     10/25/50/75/90 % quantiles of watch / duration              rows with known duration
replay_share               share of rows with watch > duration (replays, loops)        rows with known duration
replay_given_completion    share of completed plays with watch > duration              completed plays with known
                                                                                       duration
loop_seconds_median,       median and 90th percentile of watch - duration, seconds     rows with watch > duration
loop_seconds_p90
like_rate, comment_rate,   likes, comments, shares, follows per impression             impressions
share_rate, follow_rate
follows_per_user_day       follows per (user, day) with at least one impression        active user-days
imps_per_user_day_median,  median and 90th percentile of impressions per active         active user-days
imps_per_user_day_p90      user-day
repeat_share               share of rows whose (user, video) pair appeared before       impressions
share_open_rate            opened shared cards per card sent                           shares
========================== =========================================================== ===========

A moment the log cannot show is NaN with the reason (:attr:`Moment.reason`):
a KuaiRand log has no share opens; the explicit-feedback subset (every row a
like or a hate: its likes come from ``label``) cannot show like rates nor
per-user-day counts, because the rows without a like or hate are missing.
Standard errors: binomial for rates, the delta method for quantiles
(:math:`\sqrt{q(1-q)/n}/f(x_q)` with the density from the spacing of
neighbouring order statistics), and the sample sd over :math:`\sqrt n` for
per-user-day counts (their quantiles through the same delta method).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Duration buckets of the completion moments, seconds (upper bounds; the last is open).
DURATION_BUCKETS = ((0.0, 10.0), (10.0, 30.0), (30.0, 60.0), (60.0, 120.0), (120.0, 300.0), (300.0, np.inf))
#: Names of the completion moments, in bucket order.
COMPLETION_MOMENTS = ("completion_le10", "completion_10_30", "completion_30_60", "completion_60_120",
                      "completion_120_300", "completion_gt300")
#: Quantiles of the watch fraction.
WATCH_QUANTILES = (0.10, 0.25, 0.50, 0.75, 0.90)
WATCH_MOMENTS = tuple(f"watch_frac_q{round(q * 100):02d}" for q in WATCH_QUANTILES)

#: Every moment, in report order, with its group (one panel of fit.png per group).
MOMENTS = (
    ("play3_rate", "play"),
    *((m, "completion") for m in COMPLETION_MOMENTS),
    *((m, "watch") for m in WATCH_MOMENTS),
    ("replay_share", "watch"),
    ("replay_given_completion", "watch"),
    ("loop_seconds_median", "watch"),
    ("loop_seconds_p90", "watch"),
    ("like_rate", "interaction"),
    ("comment_rate", "interaction"),
    ("share_rate", "interaction"),
    ("follow_rate", "interaction"),
    ("follows_per_user_day", "activity"),
    ("imps_per_user_day_median", "activity"),
    ("imps_per_user_day_p90", "activity"),
    ("repeat_share", "repeats"),
    ("share_open_rate", "not in logs"),
)
MOMENT_NAMES = tuple(m for m, _ in MOMENTS)
MOMENT_GROUP = dict(MOMENTS)

#: Seconds that make a 3-second play (as in the behaviour model and ranker.io).
PLAY_SECONDS = 3.0
#: Watch above duration by more than this relative margin is a replay (float32 rounding is not).
REPLAY_MARGIN = 1e-4

_SELECTION_REASON = ("not shown by this log: every row is a like or a hate (likes from 'label'), "
                     "so rows without either are missing")


@dataclass(frozen=True)
class Log:
    """An impression log in the one form :func:`compute_moments` reads.

    Every array has shape (n_rows,), one row per impression, in time order.

    Attributes
    ----------
    source : str
        File or directory read (for messages).
    user_id, video_id : ndarray of int64
    day : ndarray of int64
        Day of the impression (any integer labelling, e.g. YYYYMMDD).
    duration_s : ndarray of float64
        Video duration, seconds; NaN where unknown.
    watch_s : ndarray of float64
        Seconds watched (may exceed the duration: replays).
    completed, liked, commented, shared, followed : ndarray of bool
    share_recipients, share_opens : ndarray of int64 or None
        Shared cards sent and opened; None when the log does not say.
    unavailable : dict of str to str
        Moments this log cannot show, with the reason.
    notes : tuple of str
        What reading the log found (dropped rows, substitutions).
    """

    source: str
    user_id: np.ndarray
    video_id: np.ndarray
    day: np.ndarray
    duration_s: np.ndarray
    watch_s: np.ndarray
    completed: np.ndarray
    liked: np.ndarray
    commented: np.ndarray
    shared: np.ndarray
    followed: np.ndarray
    share_recipients: np.ndarray | None = None
    share_opens: np.ndarray | None = None
    unavailable: dict = field(default_factory=dict)
    notes: tuple = ()

    @property
    def n_rows(self) -> int:
        return int(self.user_id.shape[0])


@dataclass(frozen=True)
class Moment:
    """One moment of a log: value, the count it rests on, standard error, or why it is missing."""

    name: str
    value: float
    n: int
    se: float
    reason: str = ""

    @property
    def available(self) -> bool:
        return bool(np.isfinite(self.value))


def _rate(name, k, n):
    if n == 0:
        return Moment(name, np.nan, 0, np.nan, "no rows to compute it from")
    p = k / n
    return Moment(name, float(p), int(n), float(np.sqrt(max(p * (1 - p), 0.25 / n) / n)))


def _quantile(name, x, q):
    n = x.shape[0]
    if n < 2:
        return Moment(name, np.nan, int(n), np.nan, "fewer than 2 rows to compute it from")
    xs = np.sort(x)
    v = float(np.quantile(xs, q))
    # density at the quantile from the spread of the order statistics within +-sqrt(n) ranks
    h = max(1, int(np.sqrt(n)))
    i = int(q * (n - 1))
    lo, hi = xs[max(0, i - h)], xs[min(n - 1, i + h)]
    width = (min(n - 1, i + h) - max(0, i - h)) / n
    dens = width / (hi - lo) if hi > lo else np.inf
    se = float(np.sqrt(q * (1 - q) / n) / dens) if np.isfinite(dens) else 0.0
    return Moment(name, v, int(n), se)


def compute_moments(log: Log) -> dict[str, Moment]:
    """Every moment of :data:`MOMENTS` for ``log`` (definitions in the module docstring).

    Parameters
    ----------
    log : Log

    Returns
    -------
    moments : dict of str to Moment
        In :data:`MOMENT_NAMES` order; unavailable moments have value NaN and a reason.
    """
    n = log.n_rows
    out = {}
    play = log.watch_s >= PLAY_SECONDS
    out["play3_rate"] = _rate("play3_rate", int(play.sum()), n)
    known = np.isfinite(log.duration_s) & (log.duration_s > 0)
    d = log.duration_s
    for name, (lo, hi) in zip(COMPLETION_MOMENTS, DURATION_BUCKETS):
        m = play & known & (d > lo) & (d <= hi)
        out[name] = _rate(name, int(log.completed[m].sum()), int(m.sum()))
    frac = log.watch_s[known] / d[known]
    for name, q in zip(WATCH_MOMENTS, WATCH_QUANTILES):
        out[name] = _quantile(name, frac, q)
    replay = frac > 1.0 + REPLAY_MARGIN
    out["replay_share"] = _rate("replay_share", int(replay.sum()), int(frac.shape[0]))
    done = log.completed[known]
    out["replay_given_completion"] = _rate("replay_given_completion", int(replay[done].sum()), int(done.sum()))
    past = (log.watch_s[known] - d[known])[replay]
    out["loop_seconds_median"] = _quantile("loop_seconds_median", past, 0.5)
    out["loop_seconds_p90"] = _quantile("loop_seconds_p90", past, 0.9)
    for name, col in (("like_rate", log.liked), ("comment_rate", log.commented), ("share_rate", log.shared),
                      ("follow_rate", log.followed)):
        out[name] = _rate(name, int(col.sum()), n)
    if n:
        _, ud = np.unique(np.stack([log.user_id, log.day]), axis=1, return_inverse=True)
        ud = ud.ravel()
        imps = np.bincount(ud).astype(np.float64)
        follows = np.bincount(ud, weights=log.followed.astype(np.float64))
        nd = imps.shape[0]
        out["follows_per_user_day"] = Moment("follows_per_user_day", float(follows.mean()), nd,
                                             float(follows.std() / np.sqrt(nd)))
        out["imps_per_user_day_median"] = _quantile("imps_per_user_day_median", imps, 0.5)
        out["imps_per_user_day_p90"] = _quantile("imps_per_user_day_p90", imps, 0.9)
        pair = np.unique(np.stack([log.user_id, log.video_id]), axis=1).shape[1]
        out["repeat_share"] = _rate("repeat_share", n - pair, n)
    else:
        for name in ("follows_per_user_day", "imps_per_user_day_median", "imps_per_user_day_p90", "repeat_share"):
            out[name] = Moment(name, np.nan, 0, np.nan, "no rows to compute it from")
    if log.share_recipients is None or log.share_opens is None:
        out["share_open_rate"] = Moment("share_open_rate", np.nan, 0, np.nan,
                                        "not shown by this log: it does not say who opened a shared card")
    else:
        out["share_open_rate"] = _rate("share_open_rate", int(log.share_opens.sum()), int(log.share_recipients.sum()))
    for name, reason in log.unavailable.items():
        out[name] = Moment(name, np.nan, 0, np.nan, reason)
    return {name: out[name] for name in MOMENT_NAMES}


# --------------------------------------------------------------------------- readers


def log_from_kuairand(path) -> Log:
    """A KuaiRand impression log as a :class:`Log`.

    Read by :func:`ranker.io.read_kuairand_events` (columns and mapping
    there): watch = ``play_time_ms`` / 1000, duration = the row's
    ``duration_ms`` (or, where it is 0, the video's median known one) / 1000,
    day = ``date``. When the file takes its likes from ``label`` (the
    explicit-feedback subset, every row a like or a hate), the like rate and
    the per-user-day moments are marked unavailable. Share opens are never
    in the log.
    """
    from ranker.io import _video_durations, read_kuairand_events

    ev, report = read_kuairand_events(path, with_report=True)
    vid = ev["video_id"]
    dur = ev["duration_ms"].astype(np.float64)
    # the video's median known duration where the row's is 0 (as ranker.io does for completion)
    videos, codes = np.unique(vid, return_inverse=True)
    vdur = _video_durations(codes, dur, videos.shape[0])
    eff = np.where(dur > 0, dur, vdur[codes])
    unavailable = {}
    if "is_like" not in ev:  # likes from 'label': the explicit-feedback subset
        for name in ("like_rate", "follows_per_user_day", "imps_per_user_day_median", "imps_per_user_day_p90"):
            unavailable[name] = _SELECTION_REASON
    notes = [report.summary()]
    return Log(source=str(path), user_id=ev["user_id"].astype(np.int64), video_id=vid.astype(np.int64),
               day=ev["date"].astype(np.int64), duration_s=np.where(eff > 0, eff / 1000.0, np.nan),
               watch_s=ev["watch_s"].astype(np.float64), completed=ev["completed"], liked=ev["like"],
               commented=ev["comment"], shared=ev["share"], followed=ev["follow"],
               unavailable=unavailable, notes=tuple(notes))


#: Columns of a simulated event log that :func:`log_from_events` reads.
EVENT_COLUMNS = ("day", "user_id", "video_id", "duration_s", "watch_s", "completed", "liked", "commented",
                 "shared", "followed", "share_recipients", "share_opens")


def log_from_events(path) -> Log:
    """The ``events/`` directory of ``ranksim simulate`` (Parquet parts) as a :class:`Log`.

    ``path`` is the ``events`` directory or the run directory holding it.
    Rows are in the order written (day, tick, request, position).
    """
    import pyarrow.dataset as ds

    p = Path(path)
    if p.is_dir() and (p / "events").is_dir():
        p = p / "events"
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such event directory (expected the events/ of a `ranksim simulate` run).")
    if p.is_dir() and any(p.glob("day=*")):  # the simulator's layout: events/day=NNNN/part-0.parquet
        from sim.events import events_dataset

        dataset = events_dataset(p)
    else:  # a flat directory of parts (logs of earlier versions) or one file
        parts = sorted(p.glob("*.parquet")) if p.is_dir() else [p]
        if not parts:
            raise ValueError(f"{p}: no Parquet event files; was the run made with --log-sample 0?")
        dataset = ds.dataset([str(x) for x in parts], format="parquet")
    names = dataset.schema.names
    missing = [c for c in EVENT_COLUMNS if c not in names]
    if missing:
        raise ValueError(f"{p}: missing required column(s) {missing}; calibration needs "
                         f"{', '.join(EVENT_COLUMNS)}. Found: {', '.join(names)}.")
    t = dataset.to_table(columns=list(EVENT_COLUMNS))
    col = {c: t.column(c).to_numpy() for c in EVENT_COLUMNS}
    dur = col["duration_s"].astype(np.float64)
    return Log(source=str(p), user_id=col["user_id"].astype(np.int64), video_id=col["video_id"].astype(np.int64),
               day=col["day"].astype(np.int64), duration_s=np.where(dur > 0, dur, np.nan),
               watch_s=col["watch_s"].astype(np.float64), completed=col["completed"].astype(bool),
               liked=col["liked"].astype(bool), commented=col["commented"].astype(bool),
               shared=col["shared"].astype(bool), followed=col["followed"].astype(bool),
               share_recipients=col["share_recipients"].astype(np.int64),
               share_opens=col["share_opens"].astype(np.int64))
