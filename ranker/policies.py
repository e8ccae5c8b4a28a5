r"""Boosting policies for new and ordinary creators: a registry, one small class each.

This module is the public face: the machinery lives in :mod:`ranker.policy_base`,
the policies in :mod:`ranker.policy_tilts`, :mod:`ranker.policy_explore` and
:mod:`ranker.policy_fairco`, the Thompson/UCB arithmetic and its Numba kernel in
:mod:`ranker._policy_kernels`; import everything from here.

A policy reads a :class:`PolicyContext` (what a real ranker can see about the
candidate posts this tick: counters, smoothed signals and their Beta
posteriors, creator and post ages, creator kind, the score's weights) and
returns a :class:`PolicyAction`: a score boost per post, a share of each slate
reserved for new-creator posts, and optionally a mask of posts not to show.
``act`` is a pure function of the context: no state is kept between ticks, so
a run can be replayed from any tick, and the only randomness (Thompson
sampling) comes from the counter-based generator of :mod:`ranker.rng`, keyed
by ``(seed, STREAM_THOMPSON, video_id, day, tick)``.

Boosts are added to the ranker's score, whose signals are log-lifts over the
population prior (0 = an average video), so a boost of 0.5 weighs as much as a
completion rate :math:`e^{0.5} \approx 1.65` times the average one under unit
weights.

Scope
-----
Every policy declares whom it acts on (:attr:`Policy.scope`, shown by
``ranksim policies``): ``"new"`` (posts of creators younger than the
new-creator threshold), ``"ugc"`` (posts of ordinary, non-professional
creators: ``PolicyContext.creator_kind == 0``), ``"new_or_ugc"`` (either),
``"all"`` (every post: exploration policies only), ``"parity"`` (``fairco``,
which boosts whichever group is under-exposed) or ``"none"``. The platform
says it tilts traffic toward new *and* ordinary creators; ``ugc_tilt`` is the
tilt that does both.

Strength
--------
Every policy but ``none`` has one *strength* parameter
(:attr:`Policy.strength_param`) and a registered grid of at least
:data:`MIN_REGISTERED_GRID` strengths (:attr:`Policy.strength_grid`), from
mild to strong, at which ``ranksim compare`` draws its frontier of
new-creator exposure against user value. At strength 0 every policy acts
exactly like ``none``: zero boost, quota 0 and no mask. Policies never see
latent quality.

A parameter whose value rounds to no effect in the configured feed (a slot
quota share that rounds to 0 slots of the slate) is an error raised when the
configuration is validated (:meth:`Policy.check_serving`), before any run.

Registered names are part of the command line (``ranksim policies`` lists
them with the first line of each class docstring, scope, strength grid and
parameters): ``none``, ``fixed_tilt``, ``ugc_tilt``, ``decaying_tilt``,
``slot_quota``, ``traffic_pools``, ``ucb``, ``thompson``, ``fairco``.
"""

from ranker._policy_kernels import score_log_sd, thompson_lift, thompson_log_draws
from ranker.policy_base import (BOOST_SCOPES, DEFAULT_SCORE_WEIGHTS, EXPLORE_SCOPES, MAIN_SIGNALS, MIN_REGISTERED_GRID,
                                MIN_SWEPT_GRID, POOL_SIGNALS, REGISTRY, SCOPES, SIGNAL_NAMES, NonFiniteBoost, Policy,
                                PolicyAction, PolicyContext, _cols, _posterior, check_sweep, describe_policies,
                                make_policy, quota_slots, register, scope_mask)  # noqa: F401 (_cols, _posterior: tests)
from ranker.policy_explore import UCB, Thompson, ThompsonParams, TrafficPools, TrafficPoolsParams, UCBParams
from ranker.policy_fairco import FairCo, FairCoParams
from ranker.policy_tilts import (DecayingTilt, DecayingTiltParams, FixedTilt, FixedTiltParams, NoBoost, NoParams,
                                 SlotQuota, SlotQuotaParams, UGCTilt, UGCTiltParams)

__all__ = [
    "REGISTRY", "SIGNAL_NAMES", "MAIN_SIGNALS", "POOL_SIGNALS", "SCOPES", "BOOST_SCOPES", "EXPLORE_SCOPES",
    "MIN_REGISTERED_GRID", "MIN_SWEPT_GRID", "DEFAULT_SCORE_WEIGHTS", "PolicyContext", "PolicyAction", "Policy",
    "NonFiniteBoost", "register", "make_policy", "check_sweep", "describe_policies", "scope_mask", "quota_slots",
    "thompson_lift", "thompson_log_draws", "score_log_sd",
] + [cls.__name__ for cls in REGISTRY.values()] + [
    "NoParams", "FixedTiltParams", "UGCTiltParams", "DecayingTiltParams", "SlotQuotaParams", "TrafficPoolsParams",
    "UCBParams", "ThompsonParams", "FairCoParams",
]
