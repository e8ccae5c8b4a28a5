r"""New-creator boosting policies: a registry, one small class each.

A policy reads a :class:`PolicyContext` (what a real ranker can see about the
candidate posts this tick: counters, smoothed signals and their Beta
posteriors, creator and post ages) and returns a :class:`PolicyAction`: a
score boost per post, a share of each slate reserved for new-creator posts,
and optionally a mask of posts not to show. ``act`` is a pure function of the
context: no state is kept between ticks, so a run can be replayed from any
tick, and the only randomness (Thompson sampling) comes from the
counter-based generator of :mod:`ranker.rng`, keyed by
``(seed, STREAM_THOMPSON, video_id, day, tick)``.

Boosts are added to the ranker's score, whose signals are log-lifts over the
population prior (0 = an average video), so a boost of 0.5 weighs as much as a
completion rate :math:`e^{0.5} \approx 1.65` times the average one under unit
weights.

Every policy at zero strength acts exactly like ``none``: zero boost, quota 0
and no mask. Policies never see latent quality.

Registered names are part of the command line (``ranksim policies`` lists
them with the first line of each class docstring and their parameters):
``none``, ``fixed_tilt``, ``decaying_tilt``, ``slot_quota``,
``traffic_pools``, ``ucb``, ``thompson``, ``fairco``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ranker._numba import PJIT, njit, prange
from ranker.params import Section, param
from ranker.rng import STREAM_THOMPSON, beta_approx, key

if TYPE_CHECKING:  # pragma: no cover
    from ranker.signals import Signals

#: Column order of ``Signals.matrix``, ``.alpha`` and ``.beta`` (docs/CONTRACTS.md).
SIGNAL_NAMES = ("play3", "completion", "avg_play", "like", "comment", "share_ft", "rr_reach")
#: The signals the platform weighs most (DOMAIN.md item 1): uncertainty bonuses act on these.
MAIN_SIGNALS = ("play3", "completion", "avg_play")
#: The key rates a post's traffic-pool graduation test reads.
POOL_SIGNALS = ("play3", "completion")

# Smallest rate used inside a logarithm: a Beta draw or a lower bound can reach 0.
_RATE_FLOOR = 1e-9

REGISTRY: dict[str, type] = {}


def register(cls):
    """Class decorator: add a policy class to :data:`REGISTRY` under its ``name``."""
    if cls.name in REGISTRY:
        raise ValueError(f"A policy named {cls.name!r} is already registered.")
    REGISTRY[cls.name] = cls
    return cls


def _cols(names) -> np.ndarray:
    return np.array([SIGNAL_NAMES.index(n) for n in names], dtype=np.int64)


# --- context and action -------------------------------------------------------

_CTX_ARRAYS = (
    ("creator_age_days", np.float64),
    ("video_age_days", np.float64),
    ("is_new_creator", np.bool_),
    ("impressions", np.float64),
    ("creator_id", np.int32),
    ("active", np.bool_),
    ("base_score", np.float64),
)


@dataclass(frozen=True)
class PolicyContext:
    """What a policy may see at one tick, per post (row = video id).

    Arrays are converted once to the dtypes below (no copy when they already
    have them) and must all have shape ``(n_videos,)``. Policies only read
    them.

    Parameters
    ----------
    seed : int
        The run's seed (``>= 0``); keys Thompson draws.
    day, tick : int
        Simulated day and tick within the day (``>= 0``); key Thompson draws.
    n_videos : int
        Number of posts (rows) the arrays cover, active or not.
    creator_age_days : ndarray of float64, shape (n_videos,)
        Age of each post's creator, days.
    video_age_days : ndarray of float64, shape (n_videos,)
        Age of each post, days since posting.
    is_new_creator : ndarray of bool, shape (n_videos,)
        The post's creator is younger than ``new_creator_days``.
    impressions : ndarray of float64, shape (n_videos,)
        Impressions the post has had so far (count).
    creator_id : ndarray of int32, shape (n_videos,)
        Creator row of each post.
    active : ndarray of bool, shape (n_videos,)
        The post is a candidate now (within the candidate window, creator
        still active).
    base_score : ndarray of float64, shape (n_videos,)
        The ranker's score before any boost (log-lift units).
    signals : ranker.signals.Signals
        Smoothed signals: ``.matrix`` float64 (n_videos, 7) log-lifts in
        :data:`SIGNAL_NAMES` order, ``.alpha`` and ``.beta`` float64
        (n_videos, 7) Beta posterior parameters of each rate, ``.prior``.
    new_creator_days : int
        The configuration's new-creator threshold, days.
    creator_kind : ndarray of int8, shape (n_videos,), optional
        Creator kind of each post (0 UGC, 1 professional); only the
        ``fairco`` policy with ``groups="new_kind"`` needs it.
    video_id : ndarray of int64, shape (n_videos,), optional
        Stable id (>= 0) of each row's post, keying its Thompson draws so a
        post keeps its draws whichever subset of posts the rows cover (common
        random numbers across policies). Default: the row index.
    """

    seed: int
    day: int
    tick: int
    n_videos: int
    creator_age_days: np.ndarray
    video_age_days: np.ndarray
    is_new_creator: np.ndarray
    impressions: np.ndarray
    creator_id: np.ndarray
    active: np.ndarray
    base_score: np.ndarray
    signals: Signals
    new_creator_days: int
    creator_kind: np.ndarray | None = None
    video_id: np.ndarray | None = None

    def __post_init__(self):
        for name in ("seed", "day", "tick", "n_videos", "new_creator_days"):
            v = getattr(self, name)
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError(f"The {name!r} field of PolicyContext must be a non-negative int. Got {v!r} instead.")
            object.__setattr__(self, name, int(v))
        n = self.n_videos
        arrays = list(_CTX_ARRAYS)
        if self.creator_kind is not None:
            arrays.append(("creator_kind", np.int8))
        if self.video_id is not None:
            arrays.append(("video_id", np.int64))
        for name, dtype in arrays:
            a = np.asarray(getattr(self, name), dtype=dtype)
            if a.shape != (n,):
                raise ValueError(
                    f"The {name!r} field of PolicyContext must have shape (n_videos,) = ({n},). Got {a.shape} instead."
                )
            object.__setattr__(self, name, a)
        if self.video_id is not None and n and self.video_id.min() < 0:
            raise ValueError(
                f"The 'video_id' field of PolicyContext must hold non-negative ids. Got {self.video_id.min()} instead."
            )
        for name in ("matrix", "alpha", "beta"):
            shape = np.shape(getattr(self.signals, name))
            if shape != (n, len(SIGNAL_NAMES)):
                raise ValueError(
                    f"The 'signals.{name}' field of PolicyContext must have shape (n_videos, {len(SIGNAL_NAMES)}) "
                    f"= ({n}, {len(SIGNAL_NAMES)}). Got {shape} instead."
                )


class NonFiniteBoost(ValueError):
    """A :class:`PolicyAction` was given a boost that is not finite.

    ``position`` is the first such entry (in the order of the context's
    videos) and ``value`` its boost, so a caller can name the video.
    """

    def __init__(self, position: int, value: float):
        self.position = position
        self.value = value
        super().__init__(f"The 'boost' field of PolicyAction must hold finite numbers. Got {value!r} at position "
                         f"{position} instead (mask a post with the 'eligible' field).")


@dataclass(frozen=True)
class PolicyAction:
    """What a policy asks of the ranker for one tick.

    Parameters
    ----------
    boost : ndarray of float64, shape (n_videos,)
        Added to each post's score (log-lift units); finite.
    quota : float
        Share of each slate, in [0, 1], reserved for new-creator posts (the
        engine rounds it to slots and fills them only where new-creator
        candidates exist).
    eligible : ndarray of bool, shape (n_videos,), or None
        ``False``: the post is not to be shown this tick. ``None``: all are.
    """

    boost: np.ndarray
    quota: float = 0.0
    eligible: np.ndarray | None = None

    def __post_init__(self):
        if not 0.0 <= self.quota <= 1.0:
            raise ValueError(f"The 'quota' field of PolicyAction must be a float in the range [0, 1]. Got {self.quota!r} instead.")
        finite = np.isfinite(self.boost)
        if not finite.all():
            bad = int(np.flatnonzero(~finite)[0])
            raise NonFiniteBoost(bad, float(np.asarray(self.boost)[bad]))


# --- base class -----------------------------------------------------------------


class Policy:
    """Base of the registered policies: ``name``, ``Params`` and ``act``.

    Parameters
    ----------
    params : Params section, optional
        Validated parameters (default: the section's defaults).
    """

    name: ClassVar[str] = ""
    Params: ClassVar[type] = Section

    def __init__(self, params=None):
        if params is None:
            params = self.Params()
        if not isinstance(params, self.Params):
            raise TypeError(
                f"The 'params' parameter of {type(self).__name__} must be a {self.Params.__name__}. "
                f"Got {params!r} instead."
            )
        self.params = params

    def __repr__(self):
        kw = ", ".join(f"{k}={v!r}" for k, v in self.params.to_dict().items())
        return f"{type(self).__name__}({kw})"

    def act(self, ctx: PolicyContext) -> PolicyAction:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def summary(cls) -> str:
        """The one-line description: the first line of the class docstring."""
        return (cls.__doc__ or "").strip().splitlines()[0].strip()


def _zeros(ctx: PolicyContext) -> PolicyAction:
    return PolicyAction(boost=np.zeros(ctx.n_videos))


# --- policies -------------------------------------------------------------------


@dataclass(frozen=True)
class NoParams(Section):
    """No parameters."""


@register
class NoBoost(Policy):
    """No boost: the ranker's score alone decides.

    .. math::

       b_v = 0
    """

    name = "none"
    Params = NoParams

    def act(self, ctx: PolicyContext) -> PolicyAction:
        return _zeros(ctx)


@dataclass(frozen=True)
class FixedTiltParams(Section):
    """Parameters of ``fixed_tilt``."""

    strength: float = param(0.5, "float", 0.0, 100.0, doc="score bonus for posts of young creators, log-lift units")
    days: int = param(0, "int", 0, 3650, doc="creators younger than this many days get the bonus; 0: the config's new_creator_days")


@register
class FixedTilt(Policy):
    r"""Fixed tilt: a constant score bonus for posts of creators younger than D days.

    .. math::

       b_v = s \cdot \mathbf{1}[a_{c(v)} < D]

    with :math:`s` = ``strength``, :math:`a_{c(v)}` the age in days of the
    post's creator and :math:`D` = ``days``; ``days = 0`` uses the
    configuration's new-creator threshold (``ctx.is_new_creator``).
    """

    name = "fixed_tilt"
    Params = FixedTiltParams

    def act(self, ctx: PolicyContext) -> PolicyAction:
        p = self.params
        young = ctx.is_new_creator if p.days == 0 else ctx.creator_age_days < p.days
        return PolicyAction(boost=np.where(young, p.strength, 0.0))


@dataclass(frozen=True)
class DecayingTiltParams(Section):
    """Parameters of ``decaying_tilt``."""

    strength: float = param(1.0, "float", 0.0, 100.0, doc="score bonus at creator age 0, log-lift units")
    half_life_days: float = param(5.0, "float", 0.0, 3650.0, lo_open=True, doc="creator age at which the bonus halves, days")
    only_new: bool = param(True, "bool", doc="bonus only for new creators (0 from new_creator_days on)")


@register
class DecayingTilt(Policy):
    r"""Decaying tilt: a score bonus that halves every half-life of creator age.

    .. math::

       b_v = s \cdot 2^{-a_{c(v)} / h} \cdot \mathbf{1}[\mathrm{new}_v]

    with :math:`s` = ``strength``, :math:`h` = ``half_life_days`` and
    :math:`a_{c(v)}` the creator's age in days. The new-creator indicator is
    dropped when ``only_new`` is false (every creator then keeps a small,
    ever-decaying bonus).
    """

    name = "decaying_tilt"
    Params = DecayingTiltParams

    def act(self, ctx: PolicyContext) -> PolicyAction:
        p = self.params
        age = np.maximum(ctx.creator_age_days, 0.0)
        boost = p.strength * np.exp2(-age / p.half_life_days)
        if p.only_new:
            boost = np.where(ctx.is_new_creator, boost, 0.0)
        return PolicyAction(boost=boost)


@dataclass(frozen=True)
class SlotQuotaParams(Section):
    """Parameters of ``slot_quota``."""

    share: float = param(0.125, "float", 0.0, 1.0, doc="share of each slate reserved for new-creator posts")


@register
class SlotQuota(Policy):
    r"""Slot quota: a share of every slate is reserved for new-creator posts.

    Scores are unchanged; the ranker fills at least
    :math:`\min(\mathrm{round}(q k), n_{\mathrm{new}})` of a slate's
    :math:`k` slots with the best new-creator candidates, where :math:`q` =
    ``share`` and :math:`n_{\mathrm{new}}` is the number of new-creator
    candidates of the request.

    .. math::

       b_v = 0, \qquad \mathrm{quota} = q
    """

    name = "slot_quota"
    Params = SlotQuotaParams

    def act(self, ctx: PolicyContext) -> PolicyAction:
        return PolicyAction(boost=np.zeros(ctx.n_videos), quota=self.params.share)


def _posterior(signals, cols):
    """Posterior mean and sd of the Beta rates in ``cols``: two float64 (n, len(cols)) arrays."""
    a = np.asarray(signals.alpha, dtype=np.float64)[:, cols]
    b = np.asarray(signals.beta, dtype=np.float64)[:, cols]
    n = a + b
    mean = a / n
    sd = np.sqrt(mean * (1.0 - mean) / (n + 1.0))
    return mean, sd


@dataclass(frozen=True)
class TrafficPoolsParams(Section):
    """Parameters of ``traffic_pools``."""

    strength: float = param(1.0, "float", 0.0, 100.0, doc="score bonus of a post inside an open pool, log-lift units")
    pool_sizes: tuple = param((200.0, 2000.0, 20000.0), "floats", 1.0, 1e12,
                              doc="impressions at which each pool is used up (strictly increasing)")
    percentile: float = param(50.0, "float", 0.0, 100.0, doc="percentile of peers a post's lower bound must beat to graduate")
    z: float = param(1.0, "float", 0.0, 10.0, doc="lower bound = posterior mean - z * posterior sd")
    window_days: float = param(7.0, "float", 0.0, 3650.0, lo_open=True, doc="posts older than this many days are out of the pools")
    min_peers: int = param(10, "int", 1, 10**9, doc="fewer peers than this in a pool level: compare with all active posts")
    only_new: bool = param(True, "bool", doc="pools for new creators' posts only (false: for every post)")
    drop_failed: bool = param(False, "bool", doc="a post that fails a graduation test is not shown at all (false: ranked organically)")

    def check(self):
        s = self.pool_sizes
        if len(s) == 0 or len(s) > 16 or any(b <= a for a, b in zip(s, s[1:])):
            raise ValueError(
                f"The 'pool_sizes' parameter of {type(self).__name__} must be a strictly increasing list of 1 to 16 "
                f"floats. Got {list(s)!r} instead."
            )


@register
class TrafficPools(Policy):
    r"""Traffic pools: a post graduates to a larger pool only if a lower bound of its signals beats its peers.

    A post in scope (younger than ``window_days``; of a new creator when
    ``only_new``) starts in pool 0. Pool :math:`k` is used up at
    :math:`s_k` impressions (``pool_sizes``, :math:`K` of them). The policy
    keeps no memory: a post's level is read from its impressions :math:`n_v`
    and its current signals. With :math:`m_v = \#\{k : n_v \ge s_k\}` the
    number of sizes it has reached, the post is tested at gate
    :math:`m_v - 1`:

    .. math::

       L_v = \sum_{r \in R} \log \max(\mu_{v,r} - z\,\sigma_{v,r},\ \epsilon),
       \qquad
       H_u = \sum_{r \in R} \log \mu_{u,r}

    .. math::

       \mathrm{pass}_v = L_v > P_p\bigl(\{H_u : u \in \mathrm{peers}_{m_v - 1}\}\bigr)

    .. math::

       b_v = s \cdot \mathbf{1}\bigl[m_v = 0 \ \lor\ (m_v < K \land \mathrm{pass}_v)\bigr]

    where :math:`R` = (3-second play, completion), :math:`\mu, \sigma` the
    Beta posterior mean and sd (:math:`\sigma^2 = \mu(1-\mu)/(\alpha+\beta+1)`),
    :math:`\epsilon = 10^{-9}`, :math:`P_p` the ``percentile``, :math:`z` =
    ``z`` and :math:`s` = ``strength``. The peers of gate :math:`k` are the
    active posts (of any creator) with :math:`s_k \le n_u < s_{k+1}`
    (:math:`s_K = \infty`): posts measured at the same exposure level; when
    fewer than ``min_peers`` are there, all active posts serve. A post that
    fails its gate gets no pool bonus and is ranked organically, or is not
    shown at all when ``drop_failed``. It is tested again every tick with
    its current signals, so organic traffic that lifts its lower bound can
    still open the next pool; and a post that reaches a size organically is
    tested there as if pushed. A post past the last size has graduated: no
    bonus, organic ranking. At ``strength = 0`` the policy is off (no bonus,
    no post dropped).
    """

    name = "traffic_pools"
    Params = TrafficPoolsParams

    def state(self, ctx: PolicyContext):
        """Each post's pool state, derived from ctx alone.

        Returns
        -------
        level : ndarray of int64, shape (n_videos,)
            :math:`m_v`, the number of pool sizes reached.
        passed : ndarray of bool, shape (n_videos,)
            The post passed its gate :math:`m_v - 1` (False where
            :math:`m_v = 0`).
        open_pool : ndarray of bool, shape (n_videos,)
            The post is inside an open pool (would get the bonus if in scope).
        failed : ndarray of bool, shape (n_videos,)
            The post failed its gate.
        in_scope : ndarray of bool, shape (n_videos,)
            The post is subject to the pools.
        """
        p = self.params
        sizes = np.asarray(p.pool_sizes, dtype=np.float64)
        k_pools = len(sizes)
        n = ctx.impressions
        level = np.searchsorted(sizes, n, side="right").astype(np.int64)
        mean, sd = _posterior(ctx.signals, _cols(POOL_SIGNALS))
        lcb = np.log(np.maximum(mean - p.z * sd, _RATE_FLOOR)).sum(axis=1)
        point = np.log(np.maximum(mean, _RATE_FLOOR)).sum(axis=1)
        # One threshold per gate; a loop over the K (<= 16) gates, never over posts.
        upper = np.append(sizes[1:], np.inf)
        thresholds = np.full(k_pools, np.inf)
        act_point = point[ctx.active]
        act_n = n[ctx.active]
        for k in range(k_pools):
            peers = act_point[(act_n >= sizes[k]) & (act_n < upper[k])]
            if peers.size < p.min_peers:
                peers = act_point
            if peers.size:
                thresholds[k] = np.percentile(peers, p.percentile)
        gate = np.maximum(level - 1, 0)
        passed = (level > 0) & (lcb > thresholds[gate])
        open_pool = (level == 0) | ((level < k_pools) & passed)
        failed = (level > 0) & ~passed
        in_scope = ctx.video_age_days < p.window_days
        if p.only_new:
            in_scope = in_scope & ctx.is_new_creator
        return level, passed, open_pool, failed, in_scope

    def act(self, ctx: PolicyContext) -> PolicyAction:
        p = self.params
        if p.strength == 0.0:
            return _zeros(ctx)
        _, _, open_pool, failed, in_scope = self.state(ctx)
        boost = np.where(open_pool & in_scope, p.strength, 0.0)
        eligible = ~(failed & in_scope) if p.drop_failed else None
        return PolicyAction(boost=boost, eligible=eligible)


@dataclass(frozen=True)
class UCBParams(Section):
    """Parameters of ``ucb``."""

    c: float = param(1.0, "float", 0.0, 100.0, doc="bonus per unit of posterior sd of the main signals' log-lifts")
    only_new: bool = param(False, "bool", doc="bonus only for posts of new creators")


@register
class UCB(Policy):
    r"""UCB: a bonus proportional to the uncertainty of a post's main smoothed rates.

    .. math::

       b_v = c \sum_{r \in R} \frac{\sigma_{v,r}}{\mu_{v,r}},
       \qquad
       \mu = \frac{\alpha}{\alpha + \beta},\quad
       \sigma = \sqrt{\frac{\mu (1 - \mu)}{\alpha + \beta + 1}}

    over :math:`R` = (3-second play, completion, average play), the
    signals the platform weighs most; :math:`\sigma / \mu` is the posterior
    sd of the log-lift :math:`\log(\mu / \mu_0)` by the delta method, so the
    bonus is on the score's scale. It shrinks as
    :math:`1/\sqrt{\alpha + \beta}` with impressions; with ``only_new`` it is
    0 for established creators.
    """

    name = "ucb"
    Params = UCBParams

    def act(self, ctx: PolicyContext) -> PolicyAction:
        p = self.params
        mean, sd = _posterior(ctx.signals, _cols(MAIN_SIGNALS))
        boost = p.c * (sd / np.maximum(mean, _RATE_FLOOR)).sum(axis=1)
        if p.only_new:
            boost = np.where(ctx.is_new_creator, boost, 0.0)
        return PolicyAction(boost=boost)


@njit(**PJIT)
def _thompson_lift(alpha, beta, cols, ids, seed, day, tick, out):
    """Sum over ``cols`` of log(Beta draw) - log(posterior mean), per row.

    ``alpha, beta`` float64 (n, 7); ``cols`` int64 signal columns; ``ids``
    int64 (n,) post ids; the draw for column ``c`` of row ``v`` is
    ``beta_approx(key(seed, STREAM_THOMPSON, ids[v], day, tick), c, ...)``.
    Writes ``out`` float64 (n,).
    """
    for v in prange(alpha.shape[0]):
        k0 = key(seed, STREAM_THOMPSON, ids[v], day, tick)
        s = 0.0
        for j in range(cols.shape[0]):
            c = cols[j]
            a = alpha[v, c]
            b = beta[v, c]
            theta = max(beta_approx(k0, c, a, b), _RATE_FLOOR)
            mean = max(a / (a + b), _RATE_FLOOR)
            s += np.log(theta) - np.log(mean)
        out[v] = s


def thompson_lift(alpha, beta, cols, seed, day, tick, ids=None):
    r"""Sampled minus posterior-mean log rate, summed over signal columns, per video.

    .. math::

       \Delta_v = \sum_{c \in C} \bigl(\log \max(\theta_{v,c}, \epsilon)
       - \log \max(\mu_{v,c}, \epsilon)\bigr),\qquad
       \theta_{v,c} \sim \mathrm{Beta}(\alpha_{v,c}, \beta_{v,c})

    with the draw ``rng.beta_approx(rng.key(seed, STREAM_THOMPSON, ids[v], day,
    tick), c, alpha, beta)`` (normal approximation clipped to [0, 1]) and
    :math:`\epsilon = 10^{-9}`: the same (seed, day, tick) gives the same bits
    for any thread count.

    Parameters
    ----------
    alpha, beta : ndarray of float64, shape (n_videos, 7)
        Beta posterior parameters (> 0) in :data:`SIGNAL_NAMES` order.
    cols : sequence of int
        Signal columns to sum over; column ``c`` uses draw index ``c``.
    seed, day, tick : int
        Non-negative key fields.
    ids : ndarray of int64, shape (n_videos,), optional
        Non-negative post id of each row (default: the row index).

    Returns
    -------
    ndarray of float64, shape (n_videos,)
        :math:`\Delta_v`, log-lift units.
    """
    alpha = np.ascontiguousarray(alpha, dtype=np.float64)
    beta = np.ascontiguousarray(beta, dtype=np.float64)
    n = alpha.shape[0]
    ids = np.arange(n, dtype=np.int64) if ids is None else np.ascontiguousarray(ids, dtype=np.int64)
    out = np.empty(n, dtype=np.float64)
    _thompson_lift(alpha, beta, np.asarray(cols, dtype=np.int64), ids, np.int64(seed), np.int64(day), np.int64(tick), out)
    return out


@dataclass(frozen=True)
class ThompsonParams(Section):
    """Parameters of ``thompson``."""

    scale: float = param(1.0, "float", 0.0, 100.0, doc="weight of the sampled log-lift minus its posterior mean")
    only_new: bool = param(False, "bool", doc="sample only for posts of new creators")


@register
class Thompson(Policy):
    r"""Thompson sampling: a score perturbation drawn from the Beta posteriors of the main rates.

    .. math::

       b_v = \lambda \sum_{r \in R} \bigl(\log \theta_{v,r} - \log \mu_{v,r}\bigr),
       \qquad \theta_{v,r} \sim \mathrm{Beta}(\alpha_{v,r}, \beta_{v,r})

    over :math:`R` = (3-second play, completion, average play), with
    :math:`\lambda` = ``scale`` and :math:`\mu` the posterior mean: the score
    then ranks on a sampled rather than the expected log-lift. The draws come
    from :func:`ranker.rng.beta_approx` keyed by
    ``(seed, STREAM_THOMPSON, video_id, day, tick)`` (``ctx.video_id``, or
    the row index when it is None), so a tick replays bit-identically and
    two runs on one seed share them. Posts with few
    impressions have wide posteriors, so their scores spread more and they
    reach the top more often than their mean alone would allow. With
    ``only_new`` established creators get 0.
    """

    name = "thompson"
    Params = ThompsonParams

    def act(self, ctx: PolicyContext) -> PolicyAction:
        p = self.params
        if p.scale == 0.0:
            return _zeros(ctx)
        lift = thompson_lift(ctx.signals.alpha, ctx.signals.beta, _cols(MAIN_SIGNALS), ctx.seed, ctx.day, ctx.tick,
                             ctx.video_id)
        boost = p.scale * lift
        if p.only_new:
            boost = np.where(ctx.is_new_creator, boost, 0.0)
        return PolicyAction(boost=boost)


@dataclass(frozen=True)
class FairCoParams(Section):
    """Parameters of ``fairco``."""

    strength: float = param(1.0, "float", 0.0, 100.0, doc="bonus for a group with no exposure per merit at all, log-lift units")
    merit: str = param("score", "str", choices=("score", "completion", "play3"),
                       doc="estimated merit: softplus of the base score, or a posterior mean rate")
    groups: str = param("new", "str", choices=("new", "new_kind"),
                        doc="groups: new vs established creators, or also split by creator kind (UGC / professional)")
    age_offset_days: float = param(1.0, "float", 0.0, 365.0, lo_open=True,
                                   doc="exposure rate = impressions / (post age + this), days")


@register
class FairCo(Policy):
    r"""FairCo: a boost proportional to a group's shortfall in exposure per unit of merit.

    After Morik, Singh, Hong and Joachims (2020), "Controlling Fairness and
    Bias in Dynamic Learning-to-Rank". Groups :math:`G` are new vs
    established creators (``groups="new"``), or those split by creator kind
    (``"new_kind"``, four groups). Over the active posts :math:`A_G` of each
    group:

    .. math::

       E_G = \frac{1}{|A_G|} \sum_{v \in A_G} \frac{n_v}{t_v + t_0},
       \qquad
       M_G = \frac{1}{|A_G|} \sum_{v \in A_G} m_v,
       \qquad
       \rho_G = E_G / M_G

    .. math::

       b_v = s \cdot \frac{\max_H \rho_H - \rho_{G(v)}}{\max_H \rho_H}

    with :math:`n_v` impressions, :math:`t_v` the post's age in days,
    :math:`t_0` = ``age_offset_days`` (exposure is a rate, so older posts do
    not count as more exposed merely for being older), :math:`s` =
    ``strength`` and merit :math:`m_v` = :math:`\log(1 + e^{x_v})` of the
    base score :math:`x_v` (``merit="score"``) or the Beta posterior mean of
    the completion or 3-second play rate. The best-served group gets 0, a
    group with no exposure gets :math:`s`; dividing by the maximum makes
    the bonus free of the units of exposure and merit (FairCo's growing
    factor :math:`\tau - 1` is replaced by this normalisation and the
    controller's feedback over ticks). Groups with no active post, and all
    posts when only one group is active, get 0.
    """

    name = "fairco"
    Params = FairCoParams

    def groups(self, ctx: PolicyContext):
        """Group index per post (int64, shape (n_videos,)) and the number of groups."""
        g = ctx.is_new_creator.astype(np.int64)
        if self.params.groups == "new":
            return g, 2
        if ctx.creator_kind is None:
            raise ValueError("The fairco policy with groups='new_kind' needs PolicyContext.creator_kind. Got None instead.")
        return g + 2 * (ctx.creator_kind.astype(np.int64) != 0), 4

    def merit(self, ctx: PolicyContext) -> np.ndarray:
        """Estimated merit per post, float64 (n_videos,), positive."""
        if self.params.merit == "score":
            return np.logaddexp(0.0, ctx.base_score)
        mean, _ = _posterior(ctx.signals, _cols((self.params.merit,)))
        return mean[:, 0]

    def ratios(self, ctx: PolicyContext):
        """Exposure per merit of each group, float64 (n_groups,); NaN for a group with no active post."""
        g, n_groups = self.groups(ctx)
        act = ctx.active
        rate = ctx.impressions[act] / (np.maximum(ctx.video_age_days[act], 0.0) + self.params.age_offset_days)
        count = np.bincount(g[act], minlength=n_groups).astype(np.float64)
        expo = np.bincount(g[act], weights=rate, minlength=n_groups)
        merit = np.bincount(g[act], weights=self.merit(ctx)[act], minlength=n_groups)
        with np.errstate(invalid="ignore", divide="ignore"):
            # counts cancel: mean exposure / mean merit = summed exposure / summed merit
            rho = expo / np.maximum(merit, _RATE_FLOOR * count)
        return np.where(count > 0, rho, np.nan)

    def act(self, ctx: PolicyContext) -> PolicyAction:
        p = self.params
        if p.strength == 0.0:
            return _zeros(ctx)
        g, _ = self.groups(ctx)
        rho = self.ratios(ctx)
        present = ~np.isnan(rho)
        if present.sum() < 2:
            return _zeros(ctx)
        top = rho[present].max()
        gap = np.zeros_like(rho)
        if top > 0.0:
            gap[present] = (top - rho[present]) / top
        return PolicyAction(boost=p.strength * gap[g])


# --- construction ---------------------------------------------------------------


def make_policy(name: str, params: Any = None) -> Policy:
    """Build a registered policy from its name and parameters.

    Parameters
    ----------
    name : str
        A key of :data:`REGISTRY`.
    params : dict, Section or None
        A mapping of the policy's parameters (validated through
        ``Params.from_dict``; unknown keys are errors), an already built
        ``Params`` section, or ``None`` for the defaults.

    Raises
    ------
    TypeError
        ``name`` is not a str, or ``params`` is a section of another policy.
    ValueError
        Unknown name (the message lists the registered ones) or a bad
        parameter value.
    """
    if not isinstance(name, str):
        raise TypeError(f"The 'name' parameter of PolicyConfig must be a str. Got {name!r} instead.")
    if name not in REGISTRY:
        raise ValueError(f"Unknown policy {name!r}. Registered policies: {sorted(REGISTRY)}.")
    cls = REGISTRY[name]
    p = params if isinstance(params, Section) else cls.Params.from_dict(dict(params or {}), f"policy.params ({name})")
    return cls(p)


def describe_policies() -> list[tuple[str, str, list]]:
    """Rows for ``ranksim policies``: (name, one-line description, ``Params.describe()`` rows), by name."""
    return [(name, cls.summary(), cls.Params.describe()) for name, cls in sorted(REGISTRY.items())]


__all__ = [
    "REGISTRY", "SIGNAL_NAMES", "MAIN_SIGNALS", "POOL_SIGNALS", "PolicyContext", "PolicyAction", "Policy",
    "register", "make_policy", "describe_policies", "thompson_lift",
] + [cls.__name__ for cls in REGISTRY.values()] + [
    "NoParams", "FixedTiltParams", "DecayingTiltParams", "SlotQuotaParams", "TrafficPoolsParams", "UCBParams",
    "ThompsonParams", "FairCoParams",
]
