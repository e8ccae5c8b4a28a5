r"""Logged counters -> smoothed signals: the rates the platform says it weighs.

The ranker never sees latent quality; it sees per-video counters
(:class:`Counters`, the columns of the counters CSV). From them
:func:`compute_signals` makes seven signals, in :data:`SIGNAL_NAMES` order:
the 3-second play rate, the completion rate, the average play fraction, the
like and comment rates (the signals the platform names first), share
follow-through and regular-reader reach.

Every rate is smoothed toward a population prior fitted by empirical Bayes
(:func:`fit_beta_prior`), so a video with three impressions sits near the
population average and one with 100,000 near its own raw rate. Every signal
is a *log-lift* over that prior: 0 is an average video, +0.69 is twice the
average rate, -0.69 half of it. Weights of a linear score are therefore
comparable across signals.

Rates
-----
Each rate :math:`r` of video :math:`v` has successes :math:`s_{vr}` and
trials :math:`n_{vr}` (:data:`RATE_NAMES`):

========== ================================================= ==========================================
rate       successes :math:`s`                               trials :math:`n`
========== ================================================= ==========================================
play3      plays_3s                                          impressions
completion :math:`\min(c, p)\cdot\mathbb{1}[d>0]`              plays_3s :math:`\cdot\,\mathbb{1}[d>0]`
avg_play   :math:`\min(w/d,\ i)\cdot\mathbb{1}[d>0]`         impressions :math:`\cdot\,\mathbb{1}[d>0]`
like       likes                                             impressions
comment    comments                                          impressions
share      shares                                            impressions
open       share_opens                                       share_recipients
retention  creator_regular_readers                           creator_followers
rr_play    rr_plays_3s                                       rr_impressions
========== ================================================= ==========================================

with :math:`w` = watch_s, :math:`d` = duration_s, :math:`i` = impressions,
:math:`c` = completions, :math:`p` = plays_3s. Completion is counted per
3-second play, not per impression, so a strong hook (more plays, the same
completion per play) lifts the play3 signal and not the completion signal:
the completion rate measures whether the video holds the viewers it caught.
Completions without a 3-second play (a video shorter than 3 s in a real
log) count at most as many as the plays.

A duration of 0 means *unknown*: completion and average play then carry no
information (trials 0, signal 0). The average play fraction is a continuous
outcome in :math:`[0, 1]` per impression (replays are clipped at one full
play in total), treated as a rate with a Beta prior on its expected value.

Posterior and lift
------------------
With the prior :math:`\mathrm{Beta}(a_r, b_r)` of rate :math:`r`, mean
:math:`m_r = a_r / (a_r + b_r)`:

.. math::

    \alpha_{vr} = a_r + s_{vr}, \qquad
    \beta_{vr} = b_r + n_{vr} - s_{vr}, \qquad
    \hat m_{vr} = \frac{\alpha_{vr}}{\alpha_{vr} + \beta_{vr}}, \qquad
    \ell_{vr} = \ln \frac{\hat m_{vr}}{m_r}.

Signals
-------
.. math::

    \mathrm{play3}_v = \ell_{v,\mathrm{play3}},\quad
    \mathrm{completion}_v = \ell_{v,\mathrm{completion}},\quad
    \mathrm{avg\_play}_v = \ell_{v,\mathrm{avg\_play}},\quad
    \mathrm{like}_v = \ell_{v,\mathrm{like}},\quad
    \mathrm{comment}_v = \ell_{v,\mathrm{comment}},

.. math::

    \mathrm{share\_ft}_v = \frac{\hat m_{v,\mathrm{share}}}{m_\mathrm{share}}
        \;\ell_{v,\mathrm{open}},

.. math::

    \mathrm{rr\_reach}_v = \ell_{v,\mathrm{retention}} + \ell_{v,\mathrm{rr\_play}}
        = \ln \frac{\hat m_{v,\mathrm{retention}}\,\hat m_{v,\mathrm{rr\_play}}}
                   {m_\mathrm{retention}\, m_\mathrm{rr\_play}}.

Share follow-through is the log-lift of the open rate of shared cards, scaled
by how much the video is shared relative to the average: shares opened at
the population's rate add nothing, shares opened more often add in proportion
to the sharing, and shares opened less often count against the video, the
more so the more it is shared (share-bait). At a fixed prior it is
non-decreasing in share_opens (fixed shares and recipients).

Regular-reader reach is the log-lift of the expected 3-second plays per
follower through regular readers: the share of followers who are regular
readers times the regular readers' 3-second play rate. At a fixed prior it is
non-decreasing in creator_regular_readers at equal followers and strictly
decreasing in creator_followers at equal regular readers: follower counts
alone never raise it.

``Signals.alpha`` and ``Signals.beta`` hold the posterior parameters of the
rate behind each signal: the five plain rates for the first five columns, the
open rate for ``share_ft`` and the retention rate for ``rr_reach``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Mapping

import numpy as np

from ranker._numba import PJIT, njit, prange

#: Signal columns of :attr:`Signals.matrix`, in order.
SIGNAL_NAMES = ("play3", "completion", "avg_play", "like", "comment", "share_ft", "rr_reach")

#: Smoothed rates behind the signals: columns of :attr:`Prior.alpha`.
RATE_NAMES = ("play3", "completion", "avg_play", "like", "comment", "share", "open", "retention", "rr_play")

#: The rate whose posterior ``Signals.alpha/beta`` carry for each signal.
SIGNAL_RATE = ("play3", "completion", "avg_play", "like", "comment", "open", "retention")

#: Columns of the counters CSV (= :class:`Counters` fields), in order.
COUNTER_COLUMNS = (
    "video_id", "creator_id", "impressions", "plays_3s", "completions", "watch_s", "duration_s",
    "likes", "comments", "shares", "share_recipients", "share_opens", "follows",
    "creator_followers", "creator_regular_readers", "rr_impressions", "rr_plays_3s", "creator_age_days",
)

_ID_COLUMNS = ("video_id", "creator_id")

#: (numerator, denominator): a count of events that are a subset of another.
_SUBSETS = (
    ("plays_3s", "impressions"), ("completions", "impressions"), ("likes", "impressions"),
    ("comments", "impressions"), ("shares", "impressions"), ("follows", "impressions"),
    ("share_opens", "share_recipients"), ("creator_regular_readers", "creator_followers"),
    ("rr_plays_3s", "rr_impressions"),
)

#: Prior means are kept in [MEAN_EPS, 1 - MEAN_EPS] so every log-lift is finite.
MEAN_EPS = 1e-6

#: A pooled prior's strength, in units of the largest item's trials.
POOLED_FACTOR = 1e6


@dataclass(frozen=True)
class Counters:
    """Per-video logged counters: the columns of the counters CSV.

    Every field is a 1-D array of shape (n_videos,). Creator columns hold the
    creator's value repeated on each of its videos. Arrays are converted once
    (ids to int64, the rest to float64) and validated on construction;
    counts are counts of impressions (or people), times are in seconds.

    Attributes
    ----------
    video_id : int64 (n_videos,)
        Video id, >= 0.
    creator_id : int64 (n_videos,)
        Creator id, >= 0, or -1 when unknown.
    impressions : float64 (n_videos,)
        Times the video was shown.
    plays_3s : float64 (n_videos,)
        Impressions watched past the first 3 seconds (<= impressions).
    completions : float64 (n_videos,)
        Impressions watched to the end (<= impressions).
    watch_s : float64 (n_videos,)
        Total watch time over all impressions, seconds.
    duration_s : float64 (n_videos,)
        Video length, seconds; 0 means unknown.
    likes, comments, shares, follows : float64 (n_videos,)
        Impressions with a like, a comment, a share, a follow of the creator
        (each <= impressions).
    share_recipients : float64 (n_videos,)
        Friends the video's shares were sent to.
    share_opens : float64 (n_videos,)
        Shared cards opened by their recipient (<= share_recipients).
    creator_followers : float64 (n_videos,)
        The creator's followers.
    creator_regular_readers : float64 (n_videos,)
        Followers who keep watching the creator's new posts
        (<= creator_followers).
    rr_impressions : float64 (n_videos,)
        Impressions served to the creator's regular readers.
    rr_plays_3s : float64 (n_videos,)
        3-second plays among those (<= rr_impressions).
    creator_age_days : float64 (n_videos,)
        Days since the creator joined, >= 0; NaN when unknown (the only
        column where NaN is allowed).
    """

    video_id: np.ndarray
    creator_id: np.ndarray
    impressions: np.ndarray
    plays_3s: np.ndarray
    completions: np.ndarray
    watch_s: np.ndarray
    duration_s: np.ndarray
    likes: np.ndarray
    comments: np.ndarray
    shares: np.ndarray
    share_recipients: np.ndarray
    share_opens: np.ndarray
    follows: np.ndarray
    creator_followers: np.ndarray
    creator_regular_readers: np.ndarray
    rr_impressions: np.ndarray
    rr_plays_3s: np.ndarray
    creator_age_days: np.ndarray

    def __post_init__(self):
        n = None
        for name in COUNTER_COLUMNS:
            arr = _as_column(name, getattr(self, name))
            if n is None:
                n = arr.shape[0]
            elif arr.shape[0] != n:
                raise ValueError(
                    f"Counters columns must all have the length of 'video_id' ({n}). "
                    f"Got {arr.shape[0]} for {name!r}."
                )
            object.__setattr__(self, name, arr)
        for num, den in _SUBSETS:
            a, b = getattr(self, num), getattr(self, den)
            bad = np.flatnonzero(a > b)
            if bad.size:
                i = int(bad[0])
                raise ValueError(
                    f"Counters column {num!r} must not exceed {den!r}. "
                    f"Got {float(a[i])!r} > {float(b[i])!r} at row {i} ({bad.size} row(s))."
                )

    @classmethod
    def from_columns(cls, columns: Mapping[str, object]) -> "Counters":
        """Build from a mapping of column name to 1-D array.

        Parameters
        ----------
        columns : mapping of str to array_like
            Exactly the :data:`COUNTER_COLUMNS`, each of shape (n_videos,).

        Raises
        ------
        ValueError
            Naming missing or unknown columns, or the first bad value
            (wrong length, NaN, negative, non-integer id, a count above the
            count it is a subset of).
        TypeError
            For a non-numeric column.
        """
        if not isinstance(columns, Mapping):
            raise TypeError(f"Counters.from_columns expects a mapping of column name to array. Got {type(columns).__name__} instead.")
        missing = [c for c in COUNTER_COLUMNS if c not in columns]
        if missing:
            raise ValueError(f"Counters is missing column(s) {missing}. Required columns: {', '.join(COUNTER_COLUMNS)}.")
        unknown = sorted(str(c) for c in columns if c not in COUNTER_COLUMNS)
        if unknown:
            raise ValueError(f"Unknown counters column(s) {unknown}. Allowed columns: {', '.join(COUNTER_COLUMNS)}.")
        return cls(**{c: columns[c] for c in COUNTER_COLUMNS})

    @property
    def n_videos(self) -> int:
        return int(self.video_id.shape[0])

    def to_columns(self) -> dict:
        """The columns as a dict of arrays, in :data:`COUNTER_COLUMNS` order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _as_column(name: str, value) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise ValueError(f"Counters column {name!r} must be 1-D. Got shape {arr.shape} instead.")
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        if arr.size or arr.dtype == bool:
            raise TypeError(f"Counters column {name!r} must be numeric. Got dtype {arr.dtype} instead.")
    if name in _ID_COLUMNS:
        return _as_id(name, arr)
    arr = np.asarray(arr, dtype=np.float64)
    finite = np.isfinite(arr)
    allowed_nan = np.isnan(arr) if name == "creator_age_days" else np.zeros(arr.shape, bool)
    bad = np.flatnonzero(~finite & ~allowed_nan)
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"Counters column {name!r} must be finite. Got {float(arr[i])!r} at row {i} ({bad.size} row(s))."
        )
    neg = np.flatnonzero(arr < 0)
    if neg.size:
        i = int(neg[0])
        raise ValueError(f"Counters column {name!r} must be >= 0. Got {float(arr[i])!r} at row {i} ({neg.size} row(s)).")
    return arr


def _as_id(name: str, arr: np.ndarray) -> np.ndarray:
    lo = 0 if name == "video_id" else -1
    if np.issubdtype(arr.dtype, np.floating):
        bad = np.flatnonzero(~np.isfinite(arr) | (arr != np.round(arr)))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"Counters column {name!r} must hold integers. Got {float(arr[i])!r} at row {i} ({bad.size} row(s))."
            )
    out = np.asarray(arr, dtype=np.int64)
    low = np.flatnonzero(out < lo)
    if low.size:
        i = int(low[0])
        raise ValueError(f"Counters column {name!r} must be >= {lo}. Got {int(out[i])} at row {i} ({low.size} row(s)).")
    return out


# --------------------------------------------------------------------------- prior


@dataclass(frozen=True)
class Prior:
    """The population's Beta prior of every rate in :data:`RATE_NAMES`.

    Attributes
    ----------
    alpha, beta : float64 (9,)
        Beta parameters, > 0, in :data:`RATE_NAMES` order.
    """

    alpha: np.ndarray
    beta: np.ndarray

    def __post_init__(self):
        k = len(RATE_NAMES)
        for name in ("alpha", "beta"):
            a = np.asarray(getattr(self, name), dtype=np.float64)
            if a.shape != (k,):
                raise ValueError(f"The {name!r} parameter of Prior must have shape ({k},). Got {a.shape} instead.")
            if not np.all(np.isfinite(a) & (a > 0)):
                raise ValueError(f"The {name!r} parameter of Prior must hold finite values > 0. Got {a.tolist()} instead.")
            object.__setattr__(self, name, a)

    @property
    def mean(self) -> np.ndarray:
        """float64 (9,): prior mean :math:`a / (a + b)` of each rate."""
        return self.alpha / (self.alpha + self.beta)

    @property
    def strength(self) -> np.ndarray:
        """float64 (9,): prior strength :math:`a + b` (pseudo-trials)."""
        return self.alpha + self.beta

    def as_dict(self) -> dict:
        """``{rate: (alpha, beta)}``."""
        return {r: (float(a), float(b)) for r, a, b in zip(RATE_NAMES, self.alpha, self.beta)}


def fit_beta_prior(successes, trials, *, method="moments", min_strength=2.0, max_strength=None, default_mean=0.5):
    r"""Fit a Beta prior to a population of rates by empirical Bayes.

    Items with no trials carry no information and are left out. The prior is
    returned as :math:`(a, b) = (m M, (1 - m) M)` with mean :math:`m` and
    strength :math:`M` (pseudo-trials).

    ``method="moments"`` (default, one vectorized pass) uses the pooled mean
    and the ANOVA estimator of the intra-class correlation
    :math:`\rho = 1 / (M + 1)` of a Beta-binomial population over :math:`k`
    items with :math:`N = \sum_i n_i` trials:

    .. math::

        m = \frac{\sum_i s_i}{N}, \qquad p_i = \frac{s_i}{n_i},

        \mathrm{MSB} = \frac{\sum_i n_i (p_i - m)^2}{k - 1}, \qquad
        \mathrm{MSW} = \frac{\sum_i n_i\, p_i (1 - p_i)}{N - k}, \qquad
        n_0 = \frac{N - \sum_i n_i^2 / N}{k - 1},

        \hat\rho = \frac{\mathrm{MSB} - \mathrm{MSW}}{\mathrm{MSB} + (n_0 - 1)\,\mathrm{MSW}}, \qquad
        M = \operatorname{clip}\!\left(\frac{1}{\hat\rho} - 1,\ M_{\min},\ M_{\max}\right).

    Where no spread beyond binomial noise is detectable
    (:math:`\hat\rho \le 0`), and where no item ever succeeded (or every
    trial did), the population is pooled: :math:`M = M_{\max}`, by default
    :math:`10^6 \max_i n_i`, so that no item moves its own rate by more
    than a millionth and every lift stays at 0 (a rate nobody ever reached
    says nothing about anyone). Where spread cannot be told from noise at
    all (fewer than two items, or one trial per item) the prior is weak:
    :math:`M = M_{\min}`.

    ``method="likelihood"`` maximizes the Beta-binomial marginal likelihood
    over :math:`(m, M)`, starting from the moment estimate (pooled cases are
    kept as they are):

    .. math::

        \max_{a, b} \sum_i \left[ \ln B(a + s_i,\ b + n_i - s_i) - \ln B(a, b) \right],
        \qquad M_{\min} \le a + b \le M_{\max}.

    Parameters
    ----------
    successes : array_like of float, shape (n_items,)
        Successes per item, in ``[0, trials]`` (fractions allowed).
    trials : array_like of float, shape (n_items,)
        Trials per item, >= 0.
    method : {"moments", "likelihood"}
    min_strength : float
        Least strength :math:`M_{\min}`, pseudo-trials, > 0.
    max_strength : float, optional
        Greatest strength :math:`M_{\max}`, pseudo-trials; default
        :math:`10^6 \max_i n_i` (at least ``min_strength``).
    default_mean : float
        Prior mean when no item has a trial, in (0, 1).

    Returns
    -------
    alpha, beta : float
        Beta parameters, > 0. The mean is kept in
        ``[MEAN_EPS, 1 - MEAN_EPS]`` so log-lifts stay finite even when no
        item ever succeeded. With no trials at all:
        ``(default_mean * min_strength, (1 - default_mean) * min_strength)``.
    """
    _check_fit_args("fit_beta_prior", method, min_strength, max_strength, default_mean)
    s = np.asarray(successes, dtype=np.float64).ravel()
    n = np.asarray(trials, dtype=np.float64).ravel()
    if s.shape != n.shape:
        raise ValueError(f"successes and trials must have the same shape. Got {s.shape} and {n.shape}.")
    if not (np.all(np.isfinite(s)) and np.all(np.isfinite(n))):
        raise ValueError("successes and trials must be finite.")
    if np.any(n < 0) or np.any(s < 0) or np.any(s > n):
        raise ValueError("successes and trials must satisfy 0 <= successes <= trials.")
    return _fit_checked(s, n, method, float(min_strength), max_strength, float(default_mean))


def _check_fit_args(owner, method, min_strength, max_strength, default_mean=0.5):
    if method not in ("moments", "likelihood"):
        raise ValueError(f"The 'method' parameter of {owner} must be a str among ['likelihood', 'moments']. Got {method!r} instead.")
    for name, v in (("min_strength", min_strength), ("max_strength", max_strength)):
        if v is None and name == "max_strength":
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
            raise ValueError(f"The {name!r} parameter of {owner} must be a finite float in the range (0, inf). Got {v!r} instead.")
    if max_strength is not None and min_strength > max_strength:
        raise ValueError(f"The 'min_strength' parameter of {owner} must be <= max_strength ({max_strength!r}). Got {min_strength!r} instead.")
    if isinstance(default_mean, bool) or not isinstance(default_mean, (int, float)) or not (0.0 < default_mean < 1.0):
        raise ValueError(f"The 'default_mean' parameter of {owner} must be a float in the range (0, 1). Got {default_mean!r} instead.")


def _fit_checked(s, n, method, lo, max_strength, default_mean=0.5):
    """:func:`fit_beta_prior` on validated float64 arrays."""
    keep = n > 0
    if not keep.all():
        s, n = s[keep], n[keep]
    if s.size == 0:
        return default_mean * lo, (1.0 - default_mean) * lo
    hi = max(lo, POOLED_FACTOR * float(n.max())) if max_strength is None else float(max_strength)
    m, strength, pooled = _fit_moments(s, n, lo, hi)
    if method == "likelihood" and not pooled:
        m, strength = _fit_likelihood(s, n, m, strength, lo, hi)
    return m * strength, (1.0 - m) * strength


def _fit_moments(s, n, lo, hi):
    """(mean, strength, pooled) by moments; see :func:`fit_beta_prior`."""
    k = s.size
    total = n.sum()
    succ = s.sum()
    m = float(np.clip(succ / total, MEAN_EPS, 1.0 - MEAN_EPS))
    if succ <= 0.0 or succ >= total:
        return m, hi, True
    if k < 2 or total <= k * (1.0 + 1e-12):
        return m, lo, False
    p = s / n
    mu = succ / total
    msb = float(np.sum(n * (p - mu) ** 2) / (k - 1))
    msw = float(np.sum(n * p * (1.0 - p)) / (total - k))
    n0 = (total - float(np.sum(n * n)) / total) / (k - 1)
    den = msb + (n0 - 1.0) * msw
    if not den > 0.0:
        return m, hi, True
    rho = (msb - msw) / den
    if rho <= 0.0:
        return m, hi, True
    return m, float(np.clip(1.0 / rho - 1.0, lo, hi)), False


def _fit_likelihood(s, n, m0, strength0, lo, hi):
    from scipy.optimize import minimize
    from scipy.special import betaln, digamma

    f = n - s
    lim = math.log(MEAN_EPS / (1.0 - MEAN_EPS))

    def nll(x):
        m = 1.0 / (1.0 + math.exp(-x[0]))
        strength = math.exp(x[1])
        a, b = m * strength, (1.0 - m) * strength
        val = -(np.sum(betaln(a + s, b + f)) - s.size * betaln(a, b))
        dab = digamma(a + b)
        dA = -(np.sum(digamma(a + s) - digamma(a + b + n)) + s.size * (dab - digamma(a)))
        dB = -(np.sum(digamma(b + f) - digamma(a + b + n)) + s.size * (dab - digamma(b)))
        g0 = (dA - dB) * strength * m * (1.0 - m)
        g1 = dA * a + dB * b
        return float(val), np.array([g0, g1])

    x0 = np.array([math.log(m0 / (1.0 - m0)), math.log(strength0)])
    res = minimize(nll, x0, jac=True, method="L-BFGS-B",
                   bounds=[(lim, -lim), (math.log(lo), math.log(hi))])
    x = res.x if np.all(np.isfinite(res.x)) and res.fun <= nll(x0)[0] else x0
    m = float(np.clip(1.0 / (1.0 + math.exp(-x[0])), MEAN_EPS, 1.0 - MEAN_EPS))
    return m, float(np.clip(math.exp(x[1]), lo, hi))


def rate_counts(counters: Counters) -> tuple[np.ndarray, np.ndarray]:
    """Successes and trials of every rate (the table in the module docstring).

    Parameters
    ----------
    counters : Counters

    Returns
    -------
    successes, trials : float64 (9, n_videos)
        One row per rate, in :data:`RATE_NAMES` order (rate-major, so each
        rate is contiguous).
    """
    c = counters
    known = c.duration_s > 0
    imp_known = np.where(known, c.impressions, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        plays = np.where(known, np.minimum(c.watch_s / np.where(known, c.duration_s, 1.0), c.impressions), 0.0)
    comp = np.where(known, np.minimum(c.completions, c.plays_3s), 0.0)
    s = np.stack([c.plays_3s, comp, plays, c.likes, c.comments, c.shares,
                  c.share_opens, c.creator_regular_readers, c.rr_plays_3s])
    n = np.stack([c.impressions, np.where(known, c.plays_3s, 0.0), imp_known, c.impressions, c.impressions, c.impressions,
                  c.share_recipients, c.creator_followers, c.rr_impressions])
    return s, n


def _one_row_per_creator(creator_id: np.ndarray) -> np.ndarray:
    """Row indices holding each known creator once, plus every row of an unknown creator (-1)."""
    rows = np.arange(creator_id.shape[0])
    known = creator_id >= 0
    cid = creator_id[known]
    if cid.size == 0:
        return rows
    top = int(cid.max())
    if top <= 4 * creator_id.shape[0] + 1024:
        # Dense ids (the simulator's): any one row per creator will do, its creator columns are the creator's.
        pick = np.full(top + 1, -1, np.int64)
        pick[cid] = rows[known]
        one = pick[pick >= 0]
    else:
        _, first = np.unique(cid, return_index=True)
        one = rows[known][first]
    return np.sort(np.concatenate([one, rows[~known]]))


def _fit_counts(s, n, creator_id, method, min_strength, max_strength) -> Prior:
    alpha = np.empty(len(RATE_NAMES))
    beta = np.empty(len(RATE_NAMES))
    ret = RATE_NAMES.index("retention")
    for j in range(len(RATE_NAMES)):
        sj, nj = s[j], n[j]
        if j == ret:
            rows = _one_row_per_creator(creator_id)
            sj, nj = sj[rows], nj[rows]
        alpha[j], beta[j] = _fit_checked(sj, nj, method, float(min_strength), max_strength)
    return Prior(alpha, beta)


def fit_prior(counters: Counters, *, method="moments", min_strength=2.0, max_strength=None) -> Prior:
    """Fit the population prior of every rate from counters.

    Each rate is fitted with :func:`fit_beta_prior` over the videos; the
    creator-level retention rate over distinct creators (videos with an
    unknown creator, id -1, each count as their own creator).

    Parameters
    ----------
    counters : Counters
    method, min_strength, max_strength
        As in :func:`fit_beta_prior`.

    Returns
    -------
    Prior
    """
    _check_fit_args("fit_prior", method, min_strength, max_strength)
    s, n = rate_counts(counters)
    return _fit_counts(s, n, counters.creator_id, method, min_strength, max_strength)


# --------------------------------------------------------------------------- signals


@dataclass(frozen=True)
class Signals:
    """Smoothed signals of every video.

    Attributes
    ----------
    matrix : float64 (n_videos, 7)
        Signals in :data:`SIGNAL_NAMES` order; log-lifts, 0 = average video.
    alpha, beta : float64 (n_videos, 7)
        Beta posterior parameters of the rate behind each signal
        (:data:`SIGNAL_RATE`): the open rate for ``share_ft``, the retention
        rate for ``rr_reach``.
    prior : Prior
        The population prior the signals were computed against.
    """

    matrix: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    prior: Prior

    @property
    def n_videos(self) -> int:
        return int(self.matrix.shape[0])

    def column(self, name: str) -> np.ndarray:
        """float64 (n_videos,): one signal by name."""
        return self.matrix[:, SIGNAL_NAMES.index(name)]


def compute_signals(counters: Counters, prior: Prior | None = None) -> Signals:
    r"""Smoothed log-lift signals of every video.

    The formulas are in the module docstring; in short, with posterior mean
    :math:`\hat m_{vr}` and prior mean :math:`m_r` of rate :math:`r`, and
    :math:`\ell_{vr} = \ln(\hat m_{vr} / m_r)`:

    .. math::

        \mathrm{play3}, \mathrm{completion}, \mathrm{avg\_play}, \mathrm{like},
        \mathrm{comment} = \ell_{v,r} \text{ of their own rate},

        \mathrm{share\_ft}_v = \frac{\hat m_{v,\mathrm{share}}}{m_\mathrm{share}}\,\ell_{v,\mathrm{open}},
        \qquad
        \mathrm{rr\_reach}_v = \ell_{v,\mathrm{retention}} + \ell_{v,\mathrm{rr\_play}}.

    Parameters
    ----------
    counters : Counters
        Per-video counters, n_videos rows.
    prior : Prior, optional
        Population prior; fitted from ``counters`` with :func:`fit_prior`
        when omitted. Pass a fixed prior to compare videos across ticks or
        worlds on one scale (monotonicity properties hold at a fixed prior).

    Returns
    -------
    Signals
    """
    if not isinstance(counters, Counters):
        raise TypeError(f"compute_signals expects a Counters. Got {type(counters).__name__} instead.")
    if prior is not None and not isinstance(prior, Prior):
        raise TypeError(f"The 'prior' parameter of compute_signals must be a Prior or None. Got {type(prior).__name__} instead.")
    s, n = rate_counts(counters)
    if prior is None:
        prior = _fit_counts(s, n, counters.creator_id, "moments", 2.0, None)
    nv = counters.n_videos
    k = len(SIGNAL_NAMES)
    matrix, alpha, beta = np.empty((nv, k)), np.empty((nv, k)), np.empty((nv, k))
    m0 = prior.mean
    _signals_kernel(s, n, prior.alpha, prior.beta, m0, np.log(m0), matrix, alpha, beta)
    return Signals(matrix=matrix, alpha=alpha, beta=beta, prior=prior)


@njit(**PJIT)
def _signals_kernel(s, n, pa, pb, m0, log_m0, matrix, alpha, beta):
    """Posterior, lifts and the seven signals of every video, row by row.

    ``s, n`` float64 (9, n_videos) rate successes and trials; ``pa, pb, m0,
    log_m0`` float64 (9,) prior; writes ``matrix, alpha, beta`` float64
    (n_videos, 7). Rows are independent: any thread count gives the same bits.
    """
    for v in prange(s.shape[1]):
        # the five plain rates: signal j is the lift of rate j
        for j in range(5):
            a = pa[j] + s[j, v]
            # the floor guards rounding only: s <= n is validated in Counters
            b = max(pb[j] + (n[j, v] - s[j, v]), pb[j] * 1e-12)
            alpha[v, j] = a
            beta[v, j] = b
            matrix[v, j] = math.log(a / (a + b)) - log_m0[j]
        # share follow-through: share-rate ratio times the open-rate lift
        a = pa[5] + s[5, v]
        b = max(pb[5] + (n[5, v] - s[5, v]), pb[5] * 1e-12)
        share_ratio = (a / (a + b)) / m0[5]
        a = pa[6] + s[6, v]
        b = max(pb[6] + (n[6, v] - s[6, v]), pb[6] * 1e-12)
        matrix[v, 5] = share_ratio * (math.log(a / (a + b)) - log_m0[6])
        alpha[v, 5] = a
        beta[v, 5] = b
        # regular-reader reach: retention lift plus regular readers' play lift
        a2 = pa[8] + s[8, v]
        b2 = max(pb[8] + (n[8, v] - s[8, v]), pb[8] * 1e-12)
        a = pa[7] + s[7, v]
        b = max(pb[7] + (n[7, v] - s[7, v]), pb[7] * 1e-12)
        matrix[v, 6] = (math.log(a / (a + b)) - log_m0[7]) + (math.log(a2 / (a2 + b2)) - log_m0[8])
        alpha[v, 6] = a
        beta[v, 6] = b


# --------------------------------------------------------------------------- user affinity


def user_affinity(user_topic_impressions, user_topic_plays, strength) -> np.ndarray:
    r"""Logged per-user topic affinity: log-lift of a smoothed topic play rate.

    For user :math:`u` and topic :math:`t` with impressions :math:`i_{ut}`
    and 3-second plays :math:`p_{ut}`, the user's overall play rate
    :math:`\bar p_u = \sum_t p_{ut} / \sum_t i_{ut}` is the prior of each
    topic rate, with strength :math:`k`:

    .. math::

        \hat p_{ut} = \frac{p_{ut} + k\,\bar p_u}{i_{ut} + k}, \qquad
        A_{ut} = \ln \frac{\hat p_{ut}}{\bar p_u},

    and :math:`A_{ut} = 0` where nothing is known: a user with no
    impressions or no plays at all (:math:`\bar p_u` undefined or 0); a topic
    with no impressions gives :math:`\hat p_{ut} = \bar p_u`, hence 0.

    Parameters
    ----------
    user_topic_impressions : array_like, shape (n_users, n_topics)
        Impressions per user and topic, >= 0.
    user_topic_plays : array_like, shape (n_users, n_topics)
        3-second plays per user and topic, in ``[0, impressions]``.
    strength : float
        Prior strength :math:`k` in impressions, > 0.

    Returns
    -------
    float32 (n_users, n_topics)
        Affinity, log-lift; 0 = the user's average topic.
    """
    if isinstance(strength, bool) or not isinstance(strength, (int, float, np.floating, np.integer)) \
            or not (math.isfinite(float(strength)) and strength > 0):
        raise ValueError(f"The 'strength' parameter of user_affinity must be a float in the range (0, inf). Got {strength!r} instead.")
    imp = np.asarray(user_topic_impressions, dtype=np.float64)
    plays = np.asarray(user_topic_plays, dtype=np.float64)
    if imp.ndim != 2:
        raise ValueError(f"user_topic_impressions must be 2-D (n_users, n_topics). Got shape {imp.shape} instead.")
    if plays.shape != imp.shape:
        raise ValueError(f"user_topic_plays must have the shape of user_topic_impressions {imp.shape}. Got {plays.shape} instead.")
    if not (np.all(np.isfinite(imp)) and np.all(np.isfinite(plays))):
        raise ValueError("user_topic_impressions and user_topic_plays must be finite.")
    if np.any(imp < 0) or np.any(plays < 0):
        raise ValueError("user_topic_impressions and user_topic_plays must be >= 0.")
    if np.any(plays > imp):
        raise ValueError("user_topic_plays must not exceed user_topic_impressions.")
    out = np.empty(imp.shape, np.float32)
    _affinity_kernel(imp, plays, float(strength), out)
    return out


#: Options of :func:`affinity_row_into`: plain IEEE arithmetic, no fast-math
#: rewrites, so a row comes out with the same bits wherever it is computed
#: (in :func:`user_affinity` or inline in a caller's kernel).
_EXACT = dict(nogil=True, cache=True, error_model="numpy")


@njit(**_EXACT)
def affinity_row_into(imp, plays, strength, out):
    """One user's row of :func:`user_affinity`, written into ``out``; for other kernels.

    ``imp``, ``plays``: the user's counts per topic (1-D, any float dtype, read
    as float64); ``out``: float32 of the same length. Sums of counts are exact
    in float64, so the result does not depend on the order of the topics.
    """
    n = imp.shape[0]
    tot_i = 0.0
    tot_p = 0.0
    for t in range(n):
        tot_i += np.float64(imp[t])
        tot_p += np.float64(plays[t])
    if not tot_p > 0.0:
        for t in range(n):
            out[t] = 0.0
        return
    pbar = tot_p / tot_i
    for t in range(n):
        i = np.float64(imp[t])
        if i == 0.0:
            out[t] = 0.0  # exactly the prior: log(1)
        else:
            out[t] = np.float32(math.log((np.float64(plays[t]) + strength * pbar) / (pbar * (i + strength))))


@njit(**PJIT)
def _affinity_kernel(imp, plays, strength, out):
    """:func:`affinity_row_into` for every row (rows are independent: any thread count, same bits)."""
    for u in prange(imp.shape[0]):
        affinity_row_into(imp[u], plays[u], strength, out[u])
