r"""Features as they stood before each impression: :func:`build_training_set` makes a :class:`TrainingSet`.

See :mod:`ranker.learn` for the feature table and the smoothing of user rates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranker import _tree_kernels as _tk
from ranker.learn.events import N_GRADES, EventLog, _dense, _rows_as_keys
from ranker.score import ScoreWeights
from ranker.signals import SIGNAL_NAMES, Counters, compute_signals, fit_prior



#: Extra features after the signals (see the module docstring).
EXTRA_NAMES = ("affinity", "regular_reader", "log_impressions", "log_duration", "creator_age_days",
               "user_play_lift", "uc_log_impressions", "uc_play_lift")
#: All feature names, in column order.
FEATURE_NAMES = tuple(SIGNAL_NAMES) + EXTRA_NAMES
#: Named feature sets. ``video`` needs only per-video state (score once per video per tick);
#: ``video+pair`` adds what the engine knows per (user, candidate): affinity and regular reader.
FEATURE_SETS = {
    "all": FEATURE_NAMES,
    "video": tuple(SIGNAL_NAMES) + ("log_impressions", "log_duration", "creator_age_days"),
    "video+pair": tuple(SIGNAL_NAMES) + ("affinity", "regular_reader", "log_impressions", "log_duration",
                                         "creator_age_days"),
    # learning in the loop: video+pair without the features that encode past exposure itself (a video's
    # impressions so far, its creator's age): a model trained on its own feed's log learns from them to
    # withhold exposure from whoever had none (sim.loop; docs/learning_loop.md has the comparison)
    "loop": tuple(SIGNAL_NAMES) + ("affinity", "regular_reader", "log_duration"),
}
#: Features of the hand-set formula, in :class:`ranker.score.ScoreWeights` field order.
HAND_NAMES = tuple(SIGNAL_NAMES) + ("affinity", "regular_reader")
#: Pseudo-impressions smoothing the user and user-creator play rates.
USER_STRENGTH = 5.0


@dataclass(frozen=True)
class TrainingSet:
    """Features, grades and baselines of every impression after the warm-up.

    Attributes
    ----------
    X : float64 array, shape (n, n_features)
        Features in :attr:`feature_names` order; NaN missing.
    feature_names : tuple of str
    grade : int32 array, shape (n,)
        Relevance grade, 0 .. max.
    target : float64 array, shape (n,)
        The raw label (what ``objective="regression"`` fits).
    label_name : str
    label_edges : list of float
        Cut points of a continuous label into grades (empty for 0/1 labels).
    request, day : int64 arrays, shape (n,)
        Query id and day index.
    popularity : float64 array, shape (n,)
        The video's impressions before the row (the popularity baseline).
    hand_score : float64 array, shape (n,)
        :class:`ranker.score.ScoreWeights` applied to :data:`HAND_NAMES` (NaN as 0).
    source : str
    n_days : int
        Days in the log (warm-up included).
    """

    X: np.ndarray
    feature_names: tuple
    grade: np.ndarray
    target: np.ndarray
    label_name: str
    label_edges: list
    request: np.ndarray
    day: np.ndarray
    popularity: np.ndarray
    hand_score: np.ndarray
    source: str
    n_days: int

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    def hand_features(self) -> np.ndarray:
        """float64 (n, 9): the hand-set formula's features (NaN as 0)."""
        cols = [self.feature_names.index(c) for c in HAND_NAMES]
        return np.nan_to_num(self.X[:, cols], nan=0.0)


def _grades(name: str, y: np.ndarray, fit_rows: np.ndarray):
    """0/1 labels stay; a continuous label is cut at quantiles of the fitting rows."""
    vals = np.unique(y)
    if np.isin(vals, (0.0, 1.0)).all():
        return y.astype(np.int32), []
    q = np.quantile(y[fit_rows], np.linspace(0, 1, N_GRADES + 1)[1:-1]) if fit_rows.any() else []
    edges = [float(e) for e in np.unique(q)]
    return np.searchsorted(np.asarray(edges), y, side="right").astype(np.int32), edges


def tqdm_class(progress: bool):
    """A tqdm-like factory (:func:`ranker._progress.tqdm_like`): a bar on a terminal, a few plain lines elsewhere.

    Never ``tqdm.auto``: in a notebook without ipywidgets its import warns
    ("IProgress not found"), and off a terminal no bar is drawn at all.
    """
    from ranker._progress import tqdm_like

    return tqdm_like


def build_training_set(log: EventLog, label: str | None = None, *, warmup_days: int = 1,
                       holdout_days: int = 2, weights=None, progress: bool = False) -> TrainingSet:
    """Features of every impression as they stood before it, plus its grade.

    Parameters
    ----------
    log : EventLog
        Impressions in time order.
    label : str, optional
        A key of ``log.labels``; default ``latent_value`` for simulator logs
        (cut into :data:`N_GRADES` grades at quantiles of the training days),
        ``long_view`` for KuaiRand.
    warmup_days : int
        First days that only fill the counters (not trained or evaluated on).
    holdout_days : int
        Last days held out; only used here to fit the grade cut points on
        the other days.
    weights : ranker.score.ScoreWeights, optional
        Hand-set weights of the baseline; default ``ScoreWeights()``.
    progress : bool
        Show a tqdm bar.

    Returns
    -------
    TrainingSet
        Rows of days ``>= warmup_days``, in the log's order.
    """
    tqdm = tqdm_class(progress)

    if not isinstance(log, EventLog):
        raise TypeError(f"build_training_set expects an EventLog. Got {type(log).__name__} instead.")
    weights = ScoreWeights() if weights is None else weights
    if label is None:
        label = "latent_value" if log.source == "events" else "long_view"
    if label not in log.labels:
        raise ValueError(f"Unknown label {label!r} for this {log.source} log. Available: {sorted(log.labels)}.")
    if isinstance(warmup_days, bool) or not isinstance(warmup_days, int) or warmup_days < 0:
        raise ValueError(f"The 'warmup_days' parameter must be an int >= 0. Got {warmup_days!r} instead.")
    n_days = log.n_days
    if log.n and (np.any(np.diff(log.day) < 0) or np.any(np.diff(log.block) < 0)):
        raise ValueError("EventLog rows must be in time order (day and block non-decreasing).")
    if warmup_days + 1 > n_days:
        raise ValueError(f"The log spans {n_days} day(s); with warmup_days={warmup_days} no day is left to learn from.")
    bar = tqdm(total=5, desc="features", disable=not progress, leave=False)
    n = log.n
    vid_codes = _dense(log.video)
    n_vid = int(vid_codes.max()) + 1
    # unknown creators: each video is its own creator (as ranker.io does for followers)
    ckey = np.where(log.creator >= 0, log.creator, -1 - log.video)
    cre_codes = _dense(ckey)
    n_cre = int(cre_codes.max()) + 1
    user_codes = _dense(log.user)
    known_creator = log.creator >= 0
    uc_codes = _rows_as_keys(user_codes, cre_codes)

    # per-video running counters (impressions, plays, ...), read before the row's block
    rr = np.nan_to_num(log.regular_reader, nan=0.0)
    vals = np.stack([np.ones(n), log.play3, log.completed, log.watch_s, log.liked, log.commented, log.shared,
                     log.share_recipients, log.share_opens, log.followed, rr, rr * log.play3], axis=1)
    V = _tk.running_sums(vid_codes, log.block, vals, n_vid)
    # the length: the row's own when logged, else the longest completed watch so far
    dur_seen = _tk.running_max(vid_codes, log.block, np.where(log.completed > 0, log.watch_s, 0.0), n_vid)
    dur = np.where(log.duration_s > 0, log.duration_s, dur_seen)
    bar.update()
    # creator columns: followers and regular readers. Simulator logs flag every impression with
    # follower / regular_reader: their counts stand for the creator's followers and regular
    # readers. KuaiRand: follows in the log, regular readers unknown (0), as in ranker.io.
    if np.isnan(log.follower).all():
        cvals = np.stack([log.followed, np.zeros(n)], axis=1)
    else:
        cvals = np.stack([np.nan_to_num(log.follower, nan=0.0), rr], axis=1)
    C = _tk.running_sums(cre_codes, log.block, cvals, n_cre)
    U = _tk.running_sums(user_codes, log.block, np.stack([np.ones(n), log.play3], axis=1),
                         int(user_codes.max()) + 1)
    UC = _tk.running_sums(uc_codes, log.block, np.stack([np.ones(n), log.play3], axis=1),
                          int(uc_codes.max()) + 1)
    bar.update()

    def counters(rows, Vr, Cr, dur_r):
        return Counters(
            video_id=log.video[rows], creator_id=log.creator[rows], impressions=Vr[:, 0], plays_3s=Vr[:, 1],
            completions=Vr[:, 2], watch_s=Vr[:, 3], duration_s=dur_r, likes=Vr[:, 4], comments=Vr[:, 5],
            shares=Vr[:, 6], share_recipients=Vr[:, 7], share_opens=Vr[:, 8], follows=Vr[:, 9],
            creator_followers=Cr[:, 0], creator_regular_readers=Cr[:, 1], rr_impressions=Vr[:, 10],
            rr_plays_3s=Vr[:, 11], creator_age_days=log.creator_age_days[rows])

    # signals per day against the prior of the counters at the end of the day before
    sig = np.full((n, len(SIGNAL_NAMES)), np.nan)
    m_play = np.full(n, np.nan)
    keep = log.day >= warmup_days
    tot = np.zeros((n_vid, vals.shape[1]))   # per-video totals of the days so far
    ctot = np.zeros((n_cre, cvals.shape[1]))
    first = np.full(n_vid, -1, np.int64)     # a row of each video, for its ids
    last_dur = np.zeros(n_vid)               # the latest known length of each video
    day_start = np.searchsorted(log.day, np.arange(n_days + 1))
    for d in range(n_days):
        rows = np.arange(day_start[d], day_start[d + 1])
        if d >= warmup_days and rows.size:
            seen = np.flatnonzero(tot[:, 0] > 0)
            r0 = first[seen]
            vc = cre_codes[r0]
            prior = fit_prior(Counters(
                video_id=log.video[r0], creator_id=log.creator[r0], impressions=tot[seen, 0],
                plays_3s=tot[seen, 1], completions=tot[seen, 2], watch_s=tot[seen, 3],
                duration_s=last_dur[seen], likes=tot[seen, 4], comments=tot[seen, 5], shares=tot[seen, 6],
                share_recipients=tot[seen, 7], share_opens=tot[seen, 8], follows=tot[seen, 9],
                creator_followers=ctot[vc, 0], creator_regular_readers=ctot[vc, 1],
                rr_impressions=tot[seen, 10], rr_plays_3s=tot[seen, 11],
                creator_age_days=np.full(seen.size, np.nan)))
            sig[rows] = compute_signals(counters(rows, V[rows], C[rows], dur[rows]), prior).matrix
            m_play[rows] = prior.mean[0]  # RATE_NAMES[0] is play3
        codes = vid_codes[rows]
        for j in range(vals.shape[1]):
            tot[:, j] += np.bincount(codes, weights=vals[rows, j], minlength=n_vid)
        for j in range(cvals.shape[1]):
            ctot[:, j] += np.bincount(cre_codes[rows], weights=cvals[rows, j], minlength=n_cre)
        new = first[codes] < 0
        first[codes[new][::-1]] = rows[new][::-1]
        known = dur[rows] > 0
        last_dur[codes[known]] = dur[rows][known]
    bar.update()

    # user features: smoothed play rates (ranker.signals.user_affinity's form)
    k = USER_STRENGTH
    with np.errstate(divide="ignore", invalid="ignore"):
        p_u = (U[:, 1] + k * m_play) / (U[:, 0] + k)
        user_lift = np.log(p_u / m_play)
        p_uc = (UC[:, 1] + k * p_u) / (UC[:, 0] + k)
        uc_lift = np.where(known_creator, np.log(p_uc / p_u), np.nan)
        uc_imps = np.where(known_creator, np.log1p(UC[:, 0]), np.nan)
        log_dur = np.where(dur > 0, np.log(dur), np.nan)
    extra = np.stack([log.affinity, log.regular_reader, np.log1p(V[:, 0]), log_dur, log.creator_age_days,
                      user_lift, uc_imps, uc_lift], axis=1)
    X = np.concatenate([sig, extra], axis=1)[keep]
    bar.update()

    y = log.labels[label][keep]
    day = log.day[keep]
    fit_rows = day < max(n_days - holdout_days, warmup_days + 1)
    grade, edges = _grades(label, y, fit_rows)
    ts = TrainingSet(
        X=np.ascontiguousarray(X), feature_names=FEATURE_NAMES, grade=grade, target=y.astype(np.float64), label_name=label,
        label_edges=edges, request=log.request[keep], day=day, popularity=V[keep, 0],
        hand_score=np.zeros(int(keep.sum())), source=log.source, n_days=n_days)
    w = np.array([getattr(weights, c) for c in HAND_NAMES])
    object.__setattr__(ts, "hand_score", ts.hand_features() @ w)
    bar.update()
    bar.close()
    return ts


def resolve_features(features) -> tuple:
    """Feature names from a preset of :data:`FEATURE_SETS` or a list of names.

    Parameters
    ----------
    features : str or sequence of str or None
        A preset name, comma-separated names, or a sequence of names; None is
        ``"all"``. Names keep :data:`FEATURE_NAMES` order.

    Returns
    -------
    tuple of str
    """
    if features is None:
        return FEATURE_NAMES
    if isinstance(features, str):
        if features in FEATURE_SETS:
            return FEATURE_SETS[features]
        features = [f.strip() for f in features.split(",") if f.strip()]
    names = list(features)
    unknown = [f for f in names if f not in FEATURE_NAMES]
    if unknown or not names:
        raise ValueError(f"Unknown feature(s) {unknown or names}. Use a preset among {sorted(FEATURE_SETS)} "
                         f"or names among {', '.join(FEATURE_NAMES)}.")
    return tuple(f for f in FEATURE_NAMES if f in names)
