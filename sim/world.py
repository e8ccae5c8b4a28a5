r"""The simulated world: users, creators, videos and graphs, as columns.

:func:`build_world` draws, once per run, everything the feed loop takes as
given: users (topic interests, demographics, activity), a symmetric friend
graph, creators (quality, topic, kind, AI label, posting rate, bait type,
join day), every potential video any creator may post within the horizon, and the
follow graph at day 0. The result is a frozen :class:`World` of NumPy arrays
(structure of arrays, graphs in CSR); see the "World" section of
``docs/CONTRACTS.md``.

Randomness comes from named sub-streams of one seed,
``np.random.SeedSequence(seed).spawn(len(STREAMS))``, one
``np.random.Generator(np.random.PCG64(...))`` each, in the append-only order
of :data:`STREAMS`. Parts drawn from different streams do not disturb each
other: the creators and their videos do not change when only the number of
users changes.

Where the defaults come from
----------------------------
- Demographics: the platform's published audience (users 25+ are 97.7 %,
  men : women = 4 : 6, city tiers 32 / 40 / 28 %). How the 97.7 % splits across the bands above
  25 is not published; :data:`AGE_SHARES` is our plausible split.
- Friend counts: KuaiRand-Pure's ``friend_user_num`` (27,285 users of a
  short-video app; its user-features file) has median 16,
  mean 119, quartiles 3 and 83, 90th percentile 295, 12 % zeros and a cap at
  5,000; the log-sd of the positive counts is 1.9. The shape is a wide
  log-normal. We keep a smaller mean (20: a world of 10^6 users still has a
  compact graph) with log-sd 1.5 and the cap of 5,000; at 10^6 users that
  gives median 6, 10 % without friends and a largest degree near 4,900.
- Follows: the same file has ``follow_user_num`` median 155, mean 410; those
  count follows of any account over years on a platform with millions of
  creators. Our worlds hold about a thousand creators, so the default is 8
  initial follows per user.
- Bait: ``bait_strength`` and the quality shifts are in units of the sd
  they shift (``hook_sd``, ``shareability_sd``, ``quality_sd``), so a zero
  sd switches the corresponding lever off.
- Durations: KuaiRand-Pure's ``video_duration`` (7,583 videos) has median
  81 s, 1 % below 7.4 s, 99 % below 510 s, log-sd 1.0 (lower half 1.3,
  upper half 0.85). Default: log-normal, median 80 s, log-sd 1.0, floored at
  :data:`DURATION_MIN_S`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields

import numpy as np

from ranker._numba import JIT, PJIT, njit, prange
from ranker.params import Section, param
from ranker.rng import STREAM_WORLD, key, uniform
from sim.demographics import (ACTIVITY_BY_AGE, ACTIVITY_BY_GENDER, ACTIVITY_BY_TIER, AGE_BANDS,  # noqa: F401
                              AGE_SHARES, CITY_SHARES, CITY_TIERS, GENDER_SHARES, GENDERS, INTEREST_TILT,
                              demographic_effects)
from sim.scaling import SCALED_WITH_USERS, scaled_count  # noqa: F401  (public here too)

#: ``creator_kind`` values.
CREATOR_KINDS = ("ugc", "professional")
#: ``creator_bait`` values.
BAIT_TYPES = ("none", "clickbait", "sharebait")
#: Shortest video, seconds (a 3-second play must be possible to miss).
DURATION_MIN_S = 3.0
#: Named random sub-streams, in spawn order. Append only: reordering changes
#: every world.
STREAMS = ("interest", "demographics", "activity", "friends", "creators", "videos", "follows")

# Users per block when drawing interests (bounds temporary memory; fixed, so
# the draws never depend on it).
_INTEREST_BLOCK = 1 << 16
# Weight of a uniform interest floor when choosing follow topics, so a user
# whose interest mass sits on topics without creators still finds some.
FOLLOW_INTEREST_FLOOR = 1e-9
# Follow draws per wanted follow (plus FOLLOW_EXTRA_DRAWS) before a user
# whose draws keep colliding settles for fewer follows.
FOLLOW_DRAWS_PER_WANT = 4
FOLLOW_EXTRA_DRAWS = 16
@dataclass(frozen=True)
class WorldConfig(Section):
    """Size and shape of the simulated world (the ``[world]`` section)."""

    n_users: int = param(12_000, "int", 1, 50_000_000, doc="users")
    n_topics: int = param(20, "int", 2, 512, doc="content topics")
    interest_concentration: float = param(0.3, "float", 0.0, 100.0, lo_open=True, doc="Dirichlet concentration of a user's topic interests (small: few topics)")
    activity_mean: float = param(6.0, "float", 0.0, 500.0, lo_open=True, doc="mean requests per user per active day")
    activity_sigma: float = param(1.0, "float", 0.0, 4.0, doc="log-normal sigma of user activity (heavy tail)")
    friends_mean: float = param(20.0, "float", 0.0, 2000.0, doc="mean target friends per user (KuaiRand-Pure: median 16, mean 119)")
    friends_sigma: float = param(1.5, "float", 0.0, 4.0, doc="log-normal sigma of target friend counts (KuaiRand-Pure: 1.9)")
    friends_max: int = param(5_000, "int", 1, 1_000_000, doc="most friends a user can have (KuaiRand-Pure caps at 5,000)")
    n_creators: int = param(600, "int", 1, 10_000_000, doc="established creators present at day 0")
    new_creators_per_day: int = param(12, "int", 0, 1_000_000, doc="new creators joining each day")
    pro_share: float = param(0.15, "float", 0.0, 1.0, doc="share of professional (non-UGC) creators")
    pro_quality_shift: float = param(0.5, "float", -5.0, 5.0, doc="mean latent-quality advantage of professional creators, in quality sd")
    ai_share: float = param(0.10, "float", 0.0, 1.0, doc="share of creators whose posts carry the AI-generated label")
    posts_per_day_mean: float = param(0.7, "float", 0.0, 50.0, lo_open=True, doc="mean posts per creator per day")
    posts_per_day_sigma: float = param(0.5, "float", 0.0, 4.0, doc="log-normal sigma of creators' posting rates")
    post_potential: float = param(2.0, "float", 1.0, 10.0, doc="potential posts are drawn at this multiple of a creator's posting rate; its motivation realises a share of them (1 over this at neutral motivation, all of them at most; see sim.creators)")
    quality_sd: float = param(1.0, "float", 0.0, 10.0, doc="sd of creators' latent quality")
    video_quality_sd: float = param(0.5, "float", 0.0, 10.0, doc="sd of a video's quality around its creator's")
    hook_sd: float = param(0.7, "float", 0.0, 10.0, doc="sd of videos' hook (first-3-seconds pull, unrelated to substance)")
    shareability_sd: float = param(0.7, "float", 0.0, 10.0, doc="sd of videos' shareability (pulls shares, not opens)")
    clickbait_share: float = param(0.15, "float", 0.0, 1.0, doc="share of creators who make clickbait: strong hook, weak quality")
    sharebait_share: float = param(0.15, "float", 0.0, 1.0, doc="share of creators who make share-bait: high shareability, weak quality")
    bait_strength: float = param(1.5, "float", 0.0, 10.0, doc="hook or shareability lift of bait creators, in sd")
    bait_quality_penalty: float = param(0.7, "float", 0.0, 10.0, doc="quality deficit of bait creators, in quality sd")
    topic_loyalty: float = param(0.8, "float", 0.0, 1.0, doc="probability a post is on its creator's main topic")
    duration_median_s: float = param(81.17, "float", 3.0, 3600.0, doc="median video duration, seconds (KuaiRand-Pure: 81)")
    duration_sigma: float = param(1.034, "float", 0.0, 4.0, doc="log-normal sigma of video durations (KuaiRand-Pure: 1.0)")
    follows_mean: float = param(8.0, "float", 0.0, 10_000.0, doc="mean creators a user follows at day 0")
    follow_capacity: int = param(64, "int", 1, 100_000, doc="most creators a user can follow (least engaged follow is dropped beyond it)")
    follow_quality_weight: float = param(0.5, "float", 0.0, 10.0, doc="initial follows: log-popularity gained per unit of creator quality")
    follow_pro_boost: float = param(1.0, "float", 0.0, 10.0, doc="initial follows: log-popularity bonus of professional creators")
    follow_luck_sigma: float = param(1.0, "float", 0.0, 4.0, doc="initial follows: sd of creators' log-popularity not explained by quality or kind")
    backlog_days: int = param(3, "int", 0, 365, doc="days of posts established creators have before day 0")
    demographic_activity: float = param(1.0, "float", 0.0, 1.0, doc="how much age band, gender and city tier scale a user's activity (0: not at all; 1: ACTIVITY_BY_* as stated in docs/behavior.md)")
    demographic_interest: float = param(1.0, "float", 0.0, 10.0, doc="strength of the topic tilt of each age band, gender and city tier (0: interests independent of demographics)")

    @classmethod
    def from_dict(cls, d, where=None):
        """Build from a ``[world]`` table; a count of :data:`SCALED_WITH_USERS` it leaves out gets the default
        world's count per user times its ``n_users``; those it sets are :attr:`explicit`, never rescaled."""
        given = frozenset(d) if isinstance(d, dict) else frozenset()
        if isinstance(d, dict) and "n_users" in d:
            base, n = cls(), d["n_users"]
            if isinstance(n, int) and not isinstance(n, bool) and n >= 1:
                d = {**{k: scaled_count(getattr(base, k), base.n_users, n) for k in SCALED_WITH_USERS}, **d}
        out = super().from_dict(d, where)
        object.__setattr__(out, "_explicit", frozenset(k for k in SCALED_WITH_USERS if k in given))
        return out

    @property
    def explicit(self) -> frozenset:
        """The counts of :data:`SCALED_WITH_USERS` set explicitly (by a config file's ``[world]`` table)."""
        return getattr(self, "_explicit", frozenset())

    def replace(self, **changes):
        """A copy with some fields changed; explicit counts stay explicit, and so do counts set here."""
        out = super().replace(**changes)
        object.__setattr__(out, "_explicit", self.explicit | frozenset(k for k in changes if k in SCALED_WITH_USERS))
        return out

    def with_users(self, n_users: int) -> "WorldConfig":
        """The same world at ``n_users`` users: counts not :attr:`explicit` keep their number per user."""
        changes = {k: scaled_count(getattr(self, k), self.n_users, n_users)
                   for k in SCALED_WITH_USERS if k not in self.explicit}
        out = dataclasses.replace(self, n_users=n_users, **changes)
        object.__setattr__(out, "_explicit", self.explicit)
        return out

    def proportions(self) -> dict:
        """What this world holds per user (the numbers a run's summary states)."""
        n = self.n_users
        return {"creators_per_1k_users": 1000.0 * self.n_creators / n,
                "new_creators_per_1k_users_per_day": 1000.0 * self.new_creators_per_day / n,
                "posts_per_user_per_day": self.n_creators * self.posts_per_day_mean / n,
                "friends_per_user": float(self.friends_mean),
                "follows_per_user": float(self.follows_mean)}

    def check(self):
        total = self.clickbait_share + self.sharebait_share
        if total > 1.0:
            raise ValueError(
                "The 'clickbait_share' and 'sharebait_share' parameters of WorldConfig must sum to at most 1. "
                f"Got {self.clickbait_share!r} + {self.sharebait_share!r} = {total!r} instead."
            )


@dataclass(frozen=True, eq=False)
class World:
    """Users, creators, videos and graphs of one simulated world, as columns.

    Built by :func:`build_world`; treat every array as read-only. IDs are row
    indices. Creators are in rows ordered by join day (the ``n_established``
    established ones first); videos are sorted by
    ``(video_post_day, video_post_tick, video_creator)``.

    Attributes
    ----------
    n_users, n_topics, n_creators, n_videos, days, ticks_per_day : int
        Sizes. ``n_creators`` and ``n_videos`` count every creator and potential video
        that will exist within ``days``.
    user_interest : ndarray of float32, shape (n_users, n_topics)
        Topic interests; rows sum to 1.
    user_age_band : ndarray of int8, shape (n_users,)
        Index into :data:`AGE_BANDS`.
    user_gender : ndarray of int8, shape (n_users,)
        0 male, 1 female.
    user_city_tier : ndarray of int8, shape (n_users,)
        Index into :data:`CITY_TIERS`.
    user_activity : ndarray of float32, shape (n_users,)
        Mean requests per active day (log-normal).
    friend_indptr, friend_indices : ndarray of int64, shape (n_users + 1,); ndarray of int32
        Symmetric friend graph in CSR: sorted rows, no self loops, no
        duplicates.
    follow_indptr, follow_indices : ndarray of int64, shape (n_users + 1,); ndarray of int32
        Follows at day 0, user -> established creator, CSR, sorted rows, no
        duplicates, at most ``follow_capacity`` per row.
    creator_quality : ndarray of float32, shape (n_creators,)
        Latent quality.
    creator_topic : ndarray of int16, shape (n_creators,)
        Main topic.
    creator_kind : ndarray of int8, shape (n_creators,)
        0 UGC, 1 professional.
    creator_is_ai : ndarray of bool, shape (n_creators,)
        Posts carry the AI-generated label.
    creator_post_rate : ndarray of float32, shape (n_creators,)
        Mean posts per day at neutral motivation (the world holds ``post_potential``
        times as many potential posts; see :mod:`sim.creators`).
    creator_join_day : ndarray of int32, shape (n_creators,)
        0 for established creators, ``d >= 1`` for those joining on day ``d``.
    creator_bait : ndarray of int8, shape (n_creators,)
        Index into :data:`BAIT_TYPES` (0 none, 1 clickbait, 2 share-bait).
    video_creator : ndarray of int32, shape (n_videos,)
        Creator row.
    video_topic : ndarray of int16, shape (n_videos,)
        Topic.
    video_duration_s : ndarray of float32, shape (n_videos,)
        Duration, seconds, at least :data:`DURATION_MIN_S`.
    video_quality, video_hook, video_shareability : ndarray of float32, shape (n_videos,)
        Latent quality, pull of the first 3 s, pull of shares.
    video_post_day : ndarray of int32, shape (n_videos,)
        Day posted, negative for established creators' backlog.
    video_post_tick : ndarray of int16, shape (n_videos,)
        Tick within the day, in ``[0, ticks_per_day)``.
    video_is_ai : ndarray of bool, shape (n_videos,)
        AI label (the creator's).
    """

    n_users: int
    n_topics: int
    n_creators: int
    n_videos: int
    days: int
    ticks_per_day: int
    user_interest: np.ndarray
    user_age_band: np.ndarray
    user_gender: np.ndarray
    user_city_tier: np.ndarray
    user_activity: np.ndarray
    friend_indptr: np.ndarray
    friend_indices: np.ndarray
    follow_indptr: np.ndarray
    follow_indices: np.ndarray
    creator_quality: np.ndarray
    creator_topic: np.ndarray
    creator_kind: np.ndarray
    creator_is_ai: np.ndarray
    creator_post_rate: np.ndarray
    creator_join_day: np.ndarray
    creator_bait: np.ndarray
    video_creator: np.ndarray
    video_topic: np.ndarray
    video_duration_s: np.ndarray
    video_quality: np.ndarray
    video_hook: np.ndarray
    video_shareability: np.ndarray
    video_post_day: np.ndarray
    video_post_tick: np.ndarray
    video_is_ai: np.ndarray

    @property
    def n_established(self) -> int:
        """Creators present at day 0 (rows ``0 .. n_established - 1``)."""
        return int(np.count_nonzero(self.creator_join_day == 0))

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays."""
        return int(sum(v.nbytes for v in self.arrays().values()))

    def arrays(self) -> dict:
        """The array fields, by name, in declaration order."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if isinstance(getattr(self, f.name), np.ndarray)}

    def summary(self) -> dict:
        """Headline statistics (plain Python numbers, JSON-ready)."""
        friends = np.diff(self.friend_indptr)
        follows = np.diff(self.follow_indptr)
        ne = self.n_established
        followers = np.bincount(self.follow_indices, minlength=self.n_creators)[:ne]
        act = self.user_activity.astype(np.float64)
        has_videos = self.n_videos > 0
        d0 = self.video_post_day >= 0
        return {
            "n_users": self.n_users,
            "n_topics": self.n_topics,
            "n_creators": self.n_creators,
            "n_established": ne,
            "n_videos": self.n_videos,
            "days": self.days,
            "ticks_per_day": self.ticks_per_day,
            "activity_mean": float(act.mean()),
            "activity_median": float(np.median(act)),
            "activity_max": float(act.max()),
            "friend_edges": int(self.friend_indices.size // 2),
            "friends_mean": float(friends.mean()),
            "friends_median": float(np.median(friends)),
            "friends_max": int(friends.max()),
            "friends_zero_share": float(np.mean(friends == 0)),
            "follows_mean": float(follows.mean()),
            "followers_median": float(np.median(followers)) if ne else 0.0,
            "followers_max": int(followers.max()) if ne else 0,
            "pro_share": float(np.mean(self.creator_kind == 1)),
            "ai_share": float(np.mean(self.creator_is_ai)),
            "clickbait_share": float(np.mean(self.creator_bait == 1)),
            "sharebait_share": float(np.mean(self.creator_bait == 2)),
            "videos_per_day": float(np.count_nonzero(d0) / self.days),
            "backlog_videos": int(self.n_videos - np.count_nonzero(d0)),
            "duration_median_s": float(np.median(self.video_duration_s)) if has_videos else 0.0,
            "nbytes": self.nbytes,
        }


def _check_int(name, value, lo, hi):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"The {name!r} parameter of build_world must be an int in the range [{lo}, {hi}]. "
                        f"Got {value!r} instead.")
    if not lo <= value <= hi:
        raise ValueError(f"The {name!r} parameter of build_world must be an int in the range [{lo}, {hi}]. "
                         f"Got {value!r} instead.")
    return int(value)


def _lognormal(rng, mean, sigma, size):
    r"""Log-normal draws with the given arithmetic mean.

    .. math:: X = \exp(\mu + \sigma Z),\quad \mu = \ln m - \sigma^2 / 2,
              \quad \mathbb{E}X = m
    """
    if mean <= 0.0:
        return np.zeros(size)
    return rng.lognormal(np.log(mean) - 0.5 * sigma * sigma, sigma, size)


def _categorical(rng, shares, n):
    """``n`` draws of an index with probabilities ``shares`` (int8)."""
    cum = np.cumsum(shares)
    cum /= cum[-1]
    out = np.searchsorted(cum, rng.random(n), side="right")
    np.minimum(out, len(shares) - 1, out=out)
    return out.astype(np.int8)


def _interest(rng, n, n_topics, alpha):
    r"""Dirichlet(alpha) rows, computed in log space so tiny ``alpha`` cannot underflow.

    .. math:: \ln G_t = \ln \Gamma_t + \ln U_t / \alpha,\quad
              \Gamma_t \sim \mathrm{Gamma}(\alpha + 1),\quad
              p_t = e^{\ln G_t} / \textstyle\sum_s e^{\ln G_s}

    (:math:`\Gamma U^{1/\alpha} \sim \mathrm{Gamma}(\alpha)`.)
    """
    out = np.empty((n, n_topics), dtype=np.float32)
    for s in range(0, n, _INTEREST_BLOCK):
        e = min(n, s + _INTEREST_BLOCK)
        lg = np.log(rng.standard_gamma(alpha + 1.0, (e - s, n_topics)))
        lg += np.log1p(-rng.random((e - s, n_topics))) / alpha  # log U, U in (0, 1]
        lg -= lg.max(axis=1, keepdims=True)
        np.exp(lg, out=lg)
        lg /= lg.sum(axis=1, keepdims=True)
        out[s:e] = lg
    return out


def _friend_graph(rng, n, mean, sigma, cap):
    r"""Symmetric CSR friend graph from a configuration model on Poisson stubs.

    Each user gets a target :math:`w_i \sim \mathrm{LogNormal}` with mean
    ``mean``, capped at ``min(cap, n - 1)``, and :math:`d_i \sim
    \mathrm{Poisson}(w_i)` stubs (capped likewise); the stubs are shuffled and
    paired, and self loops and repeated pairs are dropped
    (:func:`_friend_csr`). Degrees are then close to
    :math:`\mathrm{Poisson}(w_i)` (Chung-Lu), with a few edges lost at hubs.
    """
    cap = min(cap, n - 1)
    if cap < 1 or mean <= 0.0:
        return np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.int32)
    w = _lognormal(rng, mean, sigma, n)
    np.minimum(w, cap, out=w)
    deg = rng.poisson(w)
    np.minimum(deg, cap, out=deg)
    stubs = np.repeat(np.arange(n, dtype=np.int32), deg)
    rng.shuffle(stubs)
    m = stubs.size // 2
    return _friend_csr(stubs[0:2 * m:2], stubs[1:2 * m:2], n)


def _friend_csr(a, b, n):
    """CSR of the undirected simple graph on edges ``(a[i], b[i])``.

    Parameters
    ----------
    a, b : ndarray of int32, shape (m,)
        Endpoints, in ``[0, n)``; self loops and repeats allowed.
    n : int
        Vertices.

    Returns
    -------
    indptr : ndarray of int64, shape (n + 1,)
    indices : ndarray of int32, shape (indptr[n],)
        Both directions of every distinct pair with ``a != b``, rows sorted.
        Twin: ``tests/reference_world.friend_csr``.
    """
    indptr, idx = _scatter_pairs(a, b, n)
    count = _sort_unique_rows(indptr, idx)
    return _compact_rows(indptr, count, idx)


@njit(**JIT)
def _scatter_pairs(a, b, n):  # pragma: no cover - compiled
    """Both directions of each pair with ``a[i] != b[i]``, grouped by row (unsorted, repeats kept).

    Returns ``indptr`` int64 (n + 1,) and ``idx`` int32 (indptr[n],).
    """
    m = a.size
    indptr = np.zeros(n + 1, dtype=np.int64)
    for i in range(m):
        if a[i] != b[i]:
            indptr[a[i] + 1] += 1
            indptr[b[i] + 1] += 1
    for r in range(n):
        indptr[r + 1] += indptr[r]
    fill = indptr[:-1].copy()
    idx = np.empty(indptr[n], dtype=np.int32)
    for i in range(m):
        x, y = a[i], b[i]
        if x != y:
            idx[fill[x]] = y
            fill[x] += 1
            idx[fill[y]] = x
            fill[y] += 1
    return indptr, idx


@njit(**PJIT)
def _sort_unique_rows(indptr, idx):  # pragma: no cover - compiled
    """Sort each CSR row in place and move its distinct values to the row's front.

    Parameters
    ----------
    indptr : ndarray of int64, shape (n + 1,)
    idx : ndarray of int32, shape (indptr[n],)
        Modified in place.

    Returns
    -------
    count : ndarray of int64, shape (n,)
        Distinct values per row (the row's first ``count[r]`` entries).
    """
    n = indptr.size - 1
    count = np.zeros(n, dtype=np.int64)
    for r in prange(n):
        s = indptr[r]
        e = indptr[r + 1]
        if e - s > 1:
            idx[s:e].sort()
        c = 0
        for j in range(s, e):
            if j == s or idx[j] != idx[j - 1]:
                idx[s + c] = idx[j]
                c += 1
        count[r] = c
    return count


@njit(**PJIT)
def _compact_rows(indptr, count, idx):  # pragma: no cover - compiled
    """Keep the first ``count[r]`` entries of each CSR row.

    Parameters
    ----------
    indptr : ndarray of int64, shape (n + 1,)
    count : ndarray of int64, shape (n,)
        At most the row lengths.
    idx : ndarray of int32, shape (indptr[n],)

    Returns
    -------
    new_indptr : ndarray of int64, shape (n + 1,)
    new_idx : ndarray of int32, shape (new_indptr[n],)
    """
    n = count.size
    new_indptr = np.zeros(n + 1, dtype=np.int64)
    for r in range(n):
        new_indptr[r + 1] = new_indptr[r] + count[r]
    new_idx = np.empty(new_indptr[n], dtype=np.int32)
    for r in prange(n):
        s = indptr[r]
        d = new_indptr[r]
        for j in range(count[r]):
            new_idx[d + j] = idx[s + j]
    return new_indptr, new_idx


def _creators(rng, cfg, days):
    """Creator columns; established first, then new creators by join day."""
    n = cfg.n_creators + cfg.new_creators_per_day * (days - 1)
    join = np.zeros(n, dtype=np.int32)
    join[cfg.n_creators:] = np.repeat(np.arange(1, days, dtype=np.int32), cfg.new_creators_per_day)
    kind = (rng.random(n) < cfg.pro_share).astype(np.int8)
    u = rng.random(n)
    bait = np.zeros(n, dtype=np.int8)
    bait[u < cfg.clickbait_share + cfg.sharebait_share] = 2
    bait[u < cfg.clickbait_share] = 1
    is_ai = rng.random(n) < cfg.ai_share
    topic = rng.integers(0, cfg.n_topics, n).astype(np.int16)
    sd = cfg.quality_sd
    quality = rng.normal(0.0, 1.0, n) * sd
    quality += sd * cfg.pro_quality_shift * kind
    quality -= sd * cfg.bait_quality_penalty * (bait > 0)
    rate = _lognormal(rng, cfg.posts_per_day_mean, cfg.posts_per_day_sigma, n)
    return dict(
        creator_quality=quality.astype(np.float32),
        creator_topic=topic,
        creator_kind=kind,
        creator_is_ai=is_ai,
        creator_post_rate=rate.astype(np.float32),
        creator_join_day=join,
        creator_bait=bait,
    )


def _videos(rng, cfg, days, ticks_per_day, cr):
    r"""Every video posted from day ``-backlog_days`` (established) or the join day to ``days - 1``.

    Per creator and active day, :math:`\mathrm{Poisson}(K \cdot \text{post rate})`
    *potential* videos (:math:`K` = ``post_potential``; the feed loop realises
    a share of them from the creator's motivation, :mod:`sim.creators`), each
    at a uniform tick. Then, per video:

    .. math::

       q_v &= q_c + \sigma_{vq} Z_1 \\
       h_v &= \sigma_h (\beta\,[\text{clickbait}] + Z_2) \\
       s_v &= \sigma_s (\beta\,[\text{share-bait}] + Z_3) \\
       \text{duration}_v &= \max(d_{\min},\ m_d\, e^{\sigma_d Z_4})

    with :math:`\beta` = ``bait_strength``; the topic is the creator's main
    topic with probability ``topic_loyalty``, else uniform.
    """
    join = cr["creator_join_day"].astype(np.int64)
    n_creators = join.size
    start = np.where(join == 0, -cfg.backlog_days, join)
    span = days - start  # >= 1: creators join by day days - 1
    n_cells = int(span.sum())
    cell_creator = np.repeat(np.arange(n_creators, dtype=np.int32), span)
    first = np.cumsum(span) - span
    cell_day = (np.arange(n_cells, dtype=np.int64) - np.repeat(first - start, span)).astype(np.int32)
    counts = rng.poisson(cfg.post_potential * cr["creator_post_rate"].astype(np.float64)[cell_creator])
    creator = np.repeat(cell_creator, counts)
    day = np.repeat(cell_day, counts)
    del cell_creator, cell_day, counts
    tick = rng.integers(0, ticks_per_day, creator.size).astype(np.int16)
    order = np.lexsort((creator, tick, day))
    creator, day, tick = creator[order], day[order], tick[order]
    nv = creator.size

    loyal = rng.random(nv) < cfg.topic_loyalty
    topic = np.where(loyal, cr["creator_topic"][creator],
                     rng.integers(0, cfg.n_topics, nv).astype(np.int16)).astype(np.int16)
    duration = cfg.duration_median_s * np.exp(cfg.duration_sigma * rng.standard_normal(nv))
    np.maximum(duration, DURATION_MIN_S, out=duration)
    quality = cr["creator_quality"][creator] + cfg.video_quality_sd * rng.standard_normal(nv)
    bait = cr["creator_bait"][creator]
    hook = cfg.hook_sd * (rng.standard_normal(nv) + cfg.bait_strength * (bait == 1))
    share = cfg.shareability_sd * (rng.standard_normal(nv) + cfg.bait_strength * (bait == 2))
    return dict(
        video_creator=creator,
        video_topic=topic,
        video_duration_s=duration.astype(np.float32),
        video_quality=quality.astype(np.float32),
        video_hook=hook.astype(np.float32),
        video_shareability=share.astype(np.float32),
        video_post_day=day,
        video_post_tick=tick,
        video_is_ai=cr["creator_is_ai"][creator],
    )


@njit(**PJIT)
def _follow_kernel(kseed, interest, topic_pop, cum_pop, bounds, by_topic, indptr, out):  # pragma: no cover
    r"""Weighted sampling without replacement of each user's day-0 follows.

    For user ``u`` (in parallel; draws keyed by ``u`` only, so the thread
    count changes nothing) and attempt ``j``, with
    :math:`k_0 = \mathrm{key}(\text{kseed}, \text{STREAM\_WORLD}, u, 0, 0)`:
    topic :math:`t` is the first with cumulative weight above
    :math:`U(k_0, 2j) \sum_s (i_{u,s} + \epsilon)\,\Pi_s`, creator the first
    in topic :math:`t` with cumulative popularity above
    :math:`\text{base}_t + U(k_0, 2j+1)\,\Pi_t`. A creator already taken is
    skipped. Stops at ``indptr[u+1] - indptr[u]`` follows or after
    ``FOLLOW_DRAWS_PER_WANT * want + FOLLOW_EXTRA_DRAWS`` attempts; the row is
    sorted. Twin: ``tests/reference_world.follow_rows``.

    Parameters
    ----------
    kseed : uint64
        Seed of the counter-based draws.
    interest : ndarray of float32, shape (n_users, n_topics)
        Topic interests.
    topic_pop : ndarray of float64, shape (n_topics,)
        Total popularity :math:`\Pi_t` of each topic's established creators.
    cum_pop : ndarray of float64, shape (n_established,)
        Cumulative popularity of established creators sorted by topic.
    bounds : ndarray of int64, shape (n_topics + 1,)
        Topic ``t`` owns positions ``[bounds[t], bounds[t+1])`` of ``cum_pop``.
    by_topic : ndarray of int64, shape (n_established,)
        Creator id at each position.
    indptr : ndarray of int64, shape (n_users + 1,)
        Row ``u`` of ``out`` is ``[indptr[u], indptr[u+1])``; its length is
        the number of follows wanted.
    out : ndarray of int32, shape (indptr[-1],)
        Filled with creator ids, each row's first ``count[u]`` entries.

    Returns
    -------
    count : ndarray of int64, shape (n_users,)
        Follows found per user.
    """
    n_users, n_topics = interest.shape
    count = np.zeros(n_users, dtype=np.int64)
    for u in prange(n_users):
        start = indptr[u]
        want = indptr[u + 1] - start
        if want == 0:
            continue
        k0 = key(kseed, STREAM_WORLD, u, 0, 0)
        total = 0.0
        for s in range(n_topics):
            total += (np.float64(interest[u, s]) + FOLLOW_INTEREST_FLOOR) * topic_pop[s]
        got = 0
        for j in range(FOLLOW_DRAWS_PER_WANT * want + FOLLOW_EXTRA_DRAWS):
            if got == want:
                break
            r = uniform(k0, 2 * j) * total
            t = -1
            acc = 0.0
            for s in range(n_topics):
                acc += (np.float64(interest[u, s]) + FOLLOW_INTEREST_FLOOR) * topic_pop[s]
                if acc > r:
                    t = s
                    break
            if t < 0 or bounds[t] == bounds[t + 1]:
                continue
            lo = bounds[t]
            hi = bounds[t + 1] - 1
            base = cum_pop[lo - 1] if lo > 0 else 0.0
            target = base + uniform(k0, 2 * j + 1) * (cum_pop[hi] - base)
            while lo < hi:
                mid = (lo + hi) // 2
                if cum_pop[mid] > target:
                    hi = mid
                else:
                    lo = mid + 1
            c = by_topic[lo]
            seen = False
            for i in range(start, start + got):
                if out[i] == c:
                    seen = True
                    break
            if not seen:
                out[start + got] = c
                got += 1
        # Insertion sort: rows are short.
        for i in range(start + 1, start + got):
            x = out[i]
            p = i - 1
            while p >= start and out[p] > x:
                out[p + 1] = out[p]
                p -= 1
            out[p + 1] = x
        count[u] = got
    return count


def _follows(rng, cfg, interest, activity, cr):
    r"""Day-0 follows: weighted sampling of established creators without replacement.

    User :math:`u` wants :math:`K_u \sim \mathrm{Poisson}(\bar f\, a_u / \bar a)`
    follows (``follows_mean`` scaled by relative activity, so engaged users
    follow more), capped at ``follow_capacity`` and the number of established
    creators. Each draw picks creator :math:`c` with probability

    .. math:: P(c \mid u) \propto (i_{u,t_c} + \epsilon)\, \pi_c,\quad
              \ln \pi_c = w_q q_c + w_p [\text{pro}_c] + \sigma_\ell Z_c

    (``follow_quality_weight``, ``follow_pro_boost``, ``follow_luck_sigma``),
    as a topic by interest times the topic's total popularity, then a creator
    within it by popularity; repeats are redrawn (:func:`_follow_kernel`). A
    user whose few reachable creators are all taken may end with fewer.
    """
    args = _follow_inputs(rng, cfg, activity, cr)
    kseed, topic_pop, cum_pop, bounds, by_topic, wide = args
    out = np.empty(int(wide[-1]), dtype=np.int32)
    count = _follow_kernel(kseed, interest, topic_pop, cum_pop, bounds, by_topic, wide, out)
    return _compact_rows(wide, count, out)


def _follow_inputs(rng, cfg, activity, cr):
    """Arrays :func:`_follow_kernel` takes (all draws from ``rng`` happen here).

    Returns ``(kseed, topic_pop, cum_pop, bounds, by_topic, wide)``, ``wide``
    the row pointer of the wanted follow counts.
    """
    n_users = activity.size
    ne = int(np.count_nonzero(cr["creator_join_day"] == 0))
    want = rng.poisson(cfg.follows_mean * activity.astype(np.float64) / cfg.activity_mean)
    np.minimum(want, min(cfg.follow_capacity, ne), out=want)
    log_pop = (cfg.follow_quality_weight * cr["creator_quality"][:ne].astype(np.float64)
               + cfg.follow_pro_boost * cr["creator_kind"][:ne]
               + cfg.follow_luck_sigma * rng.standard_normal(ne))
    pop = np.exp(log_pop - log_pop.max())
    topic = cr["creator_topic"][:ne]
    by_topic = np.argsort(topic, kind="stable").astype(np.int64)
    cum_pop = np.cumsum(pop[by_topic])
    bounds = np.zeros(cfg.n_topics + 1, dtype=np.int64)
    np.cumsum(np.bincount(topic, minlength=cfg.n_topics), out=bounds[1:])
    topic_pop = np.bincount(topic, weights=pop, minlength=cfg.n_topics)
    kseed = np.uint64(rng.integers(0, 2**63))
    wide = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(want, out=wide[1:])
    return kseed, topic_pop, cum_pop, bounds, by_topic, wide


def build_world(cfg: WorldConfig, days: int, seed: int, ticks_per_day: int = 4) -> World:
    """Draw a world: users, friends, creators, every video within ``days``, day-0 follows.

    Parameters
    ----------
    cfg : WorldConfig
        The ``[world]`` section.
    days : int
        Simulated days; new creators join on days ``1 .. days - 1`` and
        videos are drawn up to day ``days - 1``.
    seed : int
        Non-negative seed of the named sub-streams (:data:`STREAMS`).
    ticks_per_day : int, default 4
        Feed ticks per day; each video gets a uniform tick in
        ``[0, ticks_per_day)``.

    Returns
    -------
    World
        Deterministic in ``(cfg, days, seed, ticks_per_day)``.

    Raises
    ------
    TypeError, ValueError
        For a ``cfg`` that is not a :class:`WorldConfig`, or an out-of-range
        ``days``, ``seed`` or ``ticks_per_day``.
    """
    if not isinstance(cfg, WorldConfig):
        raise TypeError(f"The 'cfg' parameter of build_world must be a WorldConfig. Got {cfg!r} instead.")
    days = _check_int("days", days, 1, 3650)
    seed = _check_int("seed", seed, 0, 2**63 - 1)
    ticks_per_day = _check_int("ticks_per_day", ticks_per_day, 1, 32767)
    rngs = {name: np.random.Generator(np.random.PCG64(s))
            for name, s in zip(STREAMS, np.random.SeedSequence(seed).spawn(len(STREAMS)))}
    n = cfg.n_users

    interest = _interest(rngs["interest"], n, cfg.n_topics, cfg.interest_concentration)
    r = rngs["demographics"]
    age = _categorical(r, AGE_SHARES, n)
    gender = _categorical(r, GENDER_SHARES, n)
    city = _categorical(r, CITY_SHARES, n)
    activity = _lognormal(rngs["activity"], cfg.activity_mean, cfg.activity_sigma, n).astype(np.float32)
    activity, interest = demographic_effects(cfg, age, gender, city, activity, interest)
    friend_indptr, friend_indices = _friend_graph(rngs["friends"], n, cfg.friends_mean,
                                                  cfg.friends_sigma, cfg.friends_max)
    cr = _creators(rngs["creators"], cfg, days)
    vids = _videos(rngs["videos"], cfg, days, ticks_per_day, cr)
    follow_indptr, follow_indices = _follows(rngs["follows"], cfg, interest, activity, cr)
    return World(
        n_users=n,
        n_topics=cfg.n_topics,
        n_creators=int(cr["creator_quality"].size),
        n_videos=int(vids["video_creator"].size),
        days=days,
        ticks_per_day=ticks_per_day,
        user_interest=interest,
        user_age_band=age,
        user_gender=gender,
        user_city_tier=city,
        user_activity=activity,
        friend_indptr=friend_indptr,
        friend_indices=friend_indices,
        follow_indptr=follow_indptr,
        follow_indices=follow_indices,
        **cr,
        **vids,
    )
