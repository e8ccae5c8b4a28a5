"""Exploration policies: ``traffic_pools``, ``ucb`` and ``thompson``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranker._policy_kernels import score_log_sd, thompson_lift
from ranker.params import Section, param
from ranker.policy_base import (_RATE_FLOOR, EXPLORE_SCOPES, MAIN_SIGNALS, POOL_SIGNALS, Policy, PolicyAction,
                                 PolicyContext, _cols, _posterior, _scope_param, _zeros, register, scope_mask)

@dataclass(frozen=True)
class TrafficPoolsParams(Section):
    """Parameters of ``traffic_pools``."""

    strength: float = param(1.0, "float", 0.0, 100.0, doc="score bonus of a post inside an open pool, log-lift units")
    pool_multiples: tuple = param((0.25, 1.0, 4.0), "floats", 0.0, 1e6, lo_open=True,
                                  doc="size of each pool, in mean impressions of a live post (the world's traffic per "
                                      "live post); strictly increasing")
    min_traffic: float = param(10.0, "float", 0.0, 1e12, lo_open=True,
                               doc="floor of the traffic per live post the pools scale with, impressions (a run's first ticks)")
    percentile: float = param(50.0, "float", 0.0, 100.0,
                              doc="percentile of the peers' lower bounds a post's lower bound must beat to graduate")
    z: float = param(1.0, "float", 0.0, 10.0, doc="lower bound = posterior mean - z * posterior sd")
    window_days: float = param(7.0, "float", 0.0, 3650.0, lo_open=True, doc="posts older than this many days are out of the pools")
    min_peers: int = param(10, "int", 1, 10**9,
                           doc="fewer in-scope peers than this at a post's pool level: compare with every post measured at least as much")
    scope: str = _scope_param("new", EXPLORE_SCOPES)
    drop_failed: bool = param(False, "bool", doc="a post that fails a graduation test is not shown at all (false: ranked organically)")

    def check(self):
        s = self.pool_multiples
        if len(s) == 0 or len(s) > 16 or any(b <= a for a, b in zip(s, s[1:])):
            raise ValueError(
                f"The 'pool_multiples' parameter of {type(self).__name__} must be a strictly increasing list of 1 to "
                f"16 floats. Got {list(s)!r} instead."
            )


@register
class TrafficPools(Policy):
    r"""Traffic pools: a new post gets a small pool of traffic, and a larger one only if its lower bound beats its peers'.

    Pool sizes scale with the world's traffic: with :math:`T` the mean
    impressions of the active posts (the traffic per live post, whatever
    the policy: the same impressions are spread over the same posts),
    floored at :math:`T_0` = ``min_traffic``, pool :math:`k` is used up at

    .. math::

       s_k = m_k \max(T, T_0)

    impressions, :math:`m_k` = ``pool_multiples`` (:math:`K` of them; the
    default 0.25, 1, 4: a quarter of an average live post's traffic, an
    average post's, four times it). A post in scope (younger than
    ``window_days``, in ``scope``) starts in pool 0. The policy keeps no
    memory: a post's level is read from its impressions :math:`n_v` and its
    current signals. With :math:`m_v = \#\{k : n_v \ge s_k\}` the number of
    sizes it has reached, the post is tested at gate :math:`m_v - 1`, like
    against like: its lower bound against the lower bounds of posts measured
    as much as it,

    .. math::

       L_v = \sum_{r \in R} \log \max(\mu_{v,r} - z\,\sigma_{v,r},\ \epsilon),
       \qquad
       \mathrm{pass}_v = L_v > P_p\bigl(\{L_u : u \in \mathrm{peers}_{m_v - 1}\}\bigr)

    .. math::

       b_v = s \cdot \mathbf{1}\bigl[m_v = 0 \ \lor\ (m_v < K \land \mathrm{pass}_v)\bigr]

    where :math:`R` = (3-second play, completion), :math:`\mu, \sigma` the
    Beta posterior mean and sd (:math:`\sigma^2 = \mu(1-\mu)/(\alpha+\beta+1)`),
    :math:`\epsilon = 10^{-9}`, :math:`P_p` the ``percentile``, :math:`z` =
    ``z`` and :math:`s` = ``strength``. The peers of gate :math:`k` are the
    active posts in scope with :math:`s_k \le n_u < s_{k+1}`
    (:math:`s_K = \infty`): posts pushed through the same pools and measured
    at the same exposure level, whose bounds are as wide as the post's own
    (posts that got there organically were selected by the ranker, and would
    set a bar no pushed post is meant to clear). When fewer than
    ``min_peers`` are there, the active posts of any creator with
    :math:`n_u \ge s_k` serve (measured at least as much); when there are
    none at all, the gate is open. A post
    that fails its gate gets no pool bonus and is ranked organically, or is
    not shown at all when ``drop_failed``. It is tested again every tick
    with its current signals, so organic traffic that lifts its lower bound
    can still open the next pool; and a post that reaches a size organically
    is tested there as if pushed. A post past the last size has graduated:
    no bonus, organic ranking. At ``strength = 0`` the policy is off (no
    bonus, no post dropped).
    """

    name = "traffic_pools"
    Params = TrafficPoolsParams
    strength_param = "strength"
    strength_grid = (0.5, 1.0, 2.0)

    def traffic(self, ctx: PolicyContext) -> float:
        """:math:`\\max(T, T_0)`: the mean impressions of the active posts, floored at ``min_traffic``."""
        n = ctx.impressions[ctx.active]
        t = float(n.mean()) if n.size else 0.0
        return max(t, self.params.min_traffic)

    def sizes(self, ctx: PolicyContext) -> np.ndarray:
        """Pool sizes :math:`s_k` in impressions, float64 (K,)."""
        return np.asarray(self.params.pool_multiples, dtype=np.float64) * self.traffic(ctx)

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
        sizes = self.sizes(ctx)
        k_pools = len(sizes)
        n = ctx.impressions
        level = np.searchsorted(sizes, n, side="right").astype(np.int64)
        mean, sd = _posterior(ctx.signals, _cols(POOL_SIGNALS))
        lcb = np.log(np.maximum(mean - p.z * sd, _RATE_FLOOR)).sum(axis=1)
        # One threshold per gate; a loop over the K (<= 16) gates, never over posts.
        upper = np.append(sizes[1:], np.inf)
        in_scope = (ctx.video_age_days < p.window_days) & scope_mask(ctx, p.scope)
        thresholds = np.full(k_pools, -np.inf)
        act_lcb, act_n, act_in = lcb[ctx.active], n[ctx.active], in_scope[ctx.active]
        for k in range(k_pools):
            band = (act_n >= sizes[k]) & (act_n < upper[k])
            peers = act_lcb[band & act_in]
            if peers.size < p.min_peers:
                peers = act_lcb[act_n >= sizes[k]]
            if peers.size:
                thresholds[k] = np.percentile(peers, p.percentile)
        gate = np.maximum(level - 1, 0)
        passed = (level > 0) & (lcb > thresholds[gate])
        open_pool = (level == 0) | ((level < k_pools) & passed)
        failed = (level > 0) & ~passed
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

    c: float = param(0.5, "float", 0.0, 100.0, doc="bonus per unit of posterior sd of the score (at post age 0)")
    half_life_days: float = param(1.0, "float", 0.0, 3650.0, lo_open=True,
                                  doc="schedule: c halves every this many days of post age")
    scope: str = _scope_param("new", EXPLORE_SCOPES)


@register
class UCB(Policy):
    r"""UCB: a bonus of c posterior sds of the post's score on its main signals, for new creators' fresh posts.

    .. math::

       b_v = c_v \, S_v \, \mathbf{1}[v \in S],
       \qquad
       c_v = c \cdot 2^{-t_v / h},
       \qquad
       S_v = \Bigl(\sum_{r \in R} w_r^2 \bigl(\psi_1(\alpha_{v,r}) - \psi_1(\alpha_{v,r} + \beta_{v,r})\bigr)\Bigr)^{1/2}

    over :math:`R` = (3-second play, completion, average play), the
    signals the platform weighs most, each weighed by the score's own weight
    :math:`w_r` (``ctx.score_weights``): :math:`S_v` is the posterior sd of
    the score's part on those signals (:func:`score_log_sd`: exact variances
    of the log rates, taken as independent), so :math:`\mathrm{score} +
    b_v` is an upper confidence bound of the score at :math:`c_v` sds. The
    like and comment rates are left out: their rates are small, so their
    log posteriors stay wide for thousands of impressions and would turn the
    bonus into a lottery on comments. :math:`S_v` shrinks as
    :math:`1/\sqrt{\alpha + \beta}` with impressions.

    Schedule: :math:`c_v` halves every :math:`h` = ``half_life_days`` of the
    post's age :math:`t_v`. Exploration is spent while a post is fresh,
    when its first impressions decide whether it is ever seen; a post still
    uncertain after days is one the feed had every chance to show, and a
    bonus then mostly buys impressions users did not want.

    Defaults: :math:`c = 0.5` and scope ``"new"``. Over every post and at
    :math:`c = 1` (the earlier default), established creators' low-traffic
    posts took most of the bonus and an unseen post's bonus outranked the
    top decile of base scores; at :math:`c = 0.5` an unseen post's bonus is
    about 0.4 log-lift units (prior strength about 7), below the gap
    between the median and the top decile of base scores.
    """

    name = "ucb"
    Params = UCBParams
    strength_param = "c"
    strength_grid = (0.25, 0.5, 1.0)

    def act(self, ctx: PolicyContext) -> PolicyAction:
        p = self.params
        if p.c == 0.0:
            return _zeros(ctx)
        sd = score_log_sd(ctx.signals.alpha, ctx.signals.beta, _cols(MAIN_SIGNALS), ctx.score_weights)
        c = p.c * np.exp2(-np.maximum(ctx.video_age_days, 0.0) / p.half_life_days)
        return PolicyAction(boost=np.where(scope_mask(ctx, p.scope), c * sd, 0.0))


@dataclass(frozen=True)
class ThompsonParams(Section):
    """Parameters of ``thompson``."""

    scale: float = param(1.0, "float", 0.0, 100.0, doc="weight of the sampled minus expected log score")
    scope: str = _scope_param("new", EXPLORE_SCOPES)


@register
class Thompson(Policy):
    r"""Thompson sampling: new creators' posts are ranked on a score drawn from its posterior, not its mean.

    .. math::

       b_v = \lambda \, \mathbf{1}[v \in S] \sum_{r \in R} w_r \bigl(\log \theta_{v,r}
             - \mathbb{E}[\log \theta_{v,r}]\bigr),
       \qquad \theta_{v,r} \sim \mathrm{Beta}(\alpha_{v,r}, \beta_{v,r})

    over :math:`R` = (3-second play, completion, average play), each weighed
    by the score's own weight :math:`w_r` (``ctx.score_weights``), with
    :math:`\lambda` = ``scale``, :math:`S` the scope and
    :math:`\mathbb{E}[\log \theta] = \psi(\alpha) - \psi(\alpha + \beta)`
    (:func:`thompson_lift`). Each term has mean exactly 0: a post's
    perturbation is centred whatever its counts, with the sd of its score's
    posterior (:func:`score_log_sd`, the quantity ``ucb`` adds :math:`c`
    times), so uncertain posts spread more and reach the top more often than
    their mean alone would allow, without being pulled down on average. The
    Beta draws are exact (:func:`ranker.rng.log_beta`, Marsaglia-Tsang gamma
    variates from the counter-based generator) and keyed by
    ``(seed, STREAM_THOMPSON, video_id, day, tick)`` (``ctx.video_id``, or
    the row index when it is None): a tick replays bit-identically for any
    thread count, and every Thompson arm of a comparison shares them
    (common random numbers; the scope and scale only mask and scale them).
    """

    name = "thompson"
    Params = ThompsonParams
    strength_param = "scale"
    strength_grid = (0.5, 1.0, 2.0)

    def act(self, ctx: PolicyContext) -> PolicyAction:
        p = self.params
        if p.scale == 0.0:
            return _zeros(ctx)
        inside = scope_mask(ctx, p.scope)
        lift = thompson_lift(ctx.signals.alpha, ctx.signals.beta, _cols(MAIN_SIGNALS), ctx.seed, ctx.day, ctx.tick,
                             ctx.video_id, ctx.score_weights)
        return PolicyAction(boost=np.where(inside, p.scale * lift, 0.0))


