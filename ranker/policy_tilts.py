"""Score tilts and the slot quota: ``none``, ``fixed_tilt``, ``ugc_tilt``, ``decaying_tilt``, ``slot_quota``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranker.params import Section, param
from ranker.policy_base import (BOOST_SCOPES, EXPLORE_SCOPES, SCOPES, Policy, PolicyAction, PolicyContext,
                                 _scope_param, _zeros, quota_slots, register, scope_mask)

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
    fixed_scope = "none"

    def act(self, ctx: PolicyContext) -> PolicyAction:
        return _zeros(ctx)


@dataclass(frozen=True)
class FixedTiltParams(Section):
    """Parameters of ``fixed_tilt``."""

    strength: float = param(0.5, "float", 0.0, 100.0, doc="score bonus for posts in scope, log-lift units")
    days: int = param(0, "int", 0, 3650, doc="creators younger than this many days are new; 0: the config's new_creator_days")
    scope: str = _scope_param("new", BOOST_SCOPES)


@register
class FixedTilt(Policy):
    r"""Fixed tilt: a constant score bonus for posts of new creators (or of the declared scope).

    .. math::

       b_v = s \cdot \mathbf{1}[v \in S]

    with :math:`s` = ``strength`` and :math:`S` the scope: posts of creators
    younger than :math:`D` = ``days`` (``"new"``; ``days = 0`` uses the
    configuration's new-creator threshold, ``ctx.is_new_creator``), of
    ordinary creators (``"ugc"``) or of either (``"new_or_ugc"``).
    """

    name = "fixed_tilt"
    Params = FixedTiltParams
    strength_param = "strength"
    strength_grid = (0.25, 0.5, 1.0)

    def act(self, ctx: PolicyContext) -> PolicyAction:
        p = self.params
        if p.strength == 0.0:
            return _zeros(ctx)
        young = ctx.is_new_creator if p.days == 0 else ctx.creator_age_days < p.days
        return PolicyAction(boost=np.where(scope_mask(ctx, p.scope, young), p.strength, 0.0))


@dataclass(frozen=True)
class UGCTiltParams(Section):
    """Parameters of ``ugc_tilt``."""

    strength: float = param(0.25, "float", 0.0, 100.0, doc="score bonus for posts of ordinary (UGC) creators, log-lift units")
    new_ratio: float = param(1.0, "float", 0.0, 100.0,
                             doc="bonus for posts of new creators, as a multiple of strength (added to the UGC bonus); 0: UGC only")


@register
class UGCTilt(Policy):
    r"""UGC tilt: a score bonus for ordinary (non-professional) creators, and as much again for new creators.

    The platform says it tilts traffic toward new *and* ordinary creators.
    With :math:`s` = ``strength`` and :math:`\rho` =
    ``new_ratio``:

    .. math::

       b_v = s \cdot \bigl(\mathbf{1}[\mathrm{ugc}_v] + \rho\, \mathbf{1}[\mathrm{new}_v]\bigr)

    so a new ordinary creator gets :math:`s (1 + \rho)`, an established
    professional nothing. Scope ``new_or_ugc`` (``ugc`` when
    :math:`\rho = 0`). Ordinary creators are most creators (85 % in the
    default world), so the UGC part mostly lowers professionals relative to
    everyone else.
    """

    name = "ugc_tilt"
    Params = UGCTiltParams
    strength_param = "strength"
    strength_grid = (0.1, 0.25, 0.5)

    @property
    def scope(self) -> str:
        return "new_or_ugc" if self.params.new_ratio > 0 else "ugc"

    @classmethod
    def scope_text(cls) -> str:
        return f"new_or_ugc ({SCOPES['new_or_ugc']}); ugc when new_ratio = 0"

    def act(self, ctx: PolicyContext) -> PolicyAction:
        p = self.params
        if p.strength == 0.0:
            return _zeros(ctx)
        ugc = ctx.is_ugc("The ugc_tilt policy").astype(np.float64)
        return PolicyAction(boost=p.strength * (ugc + p.new_ratio * ctx.is_new_creator))


@dataclass(frozen=True)
class DecayingTiltParams(Section):
    """Parameters of ``decaying_tilt``."""

    strength: float = param(1.0, "float", 0.0, 100.0, doc="score bonus at creator age 0, log-lift units")
    half_life_days: float = param(5.0, "float", 0.0, 3650.0, lo_open=True, doc="creator age at which the bonus halves, days")
    scope: str = _scope_param("new", EXPLORE_SCOPES)


@register
class DecayingTilt(Policy):
    r"""Decaying tilt: a score bonus for new creators that halves every half-life of creator age.

    .. math::

       b_v = s \cdot 2^{-a_{c(v)} / h} \cdot \mathbf{1}[v \in S]

    with :math:`s` = ``strength``, :math:`h` = ``half_life_days``,
    :math:`a_{c(v)}` the creator's age in days and :math:`S` the scope. With
    scope ``"all"`` every creator keeps a small, ever-decaying bonus
    (established creators count as a year old, so theirs is tiny).
    """

    name = "decaying_tilt"
    Params = DecayingTiltParams
    strength_param = "strength"
    strength_grid = (0.5, 1.0, 2.0)

    def act(self, ctx: PolicyContext) -> PolicyAction:
        p = self.params
        if p.strength == 0.0:
            return _zeros(ctx)
        age = np.maximum(ctx.creator_age_days, 0.0)
        boost = p.strength * np.exp2(-age / p.half_life_days)
        return PolicyAction(boost=np.where(scope_mask(ctx, p.scope), boost, 0.0))


@dataclass(frozen=True)
class SlotQuotaParams(Section):
    """Parameters of ``slot_quota``."""

    share: float = param(0.125, "float", 0.0, 1.0, doc="share of each slate reserved for new-creator posts (rounded to slots)")


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

    A share that rounds to 0 slots of the configured slate (0.05 of 8) would
    silently act as ``none``: it is a configuration error. The registered
    grid reserves 1, 2 and 3 slots of the slate.
    """

    name = "slot_quota"
    Params = SlotQuotaParams
    strength_param = "share"
    strength_grid = (0.125, 0.25, 0.375)  # 1, 2 and 3 slots of the default slate of 8
    fixed_scope = "new"

    def act(self, ctx: PolicyContext) -> PolicyAction:
        return PolicyAction(boost=np.zeros(ctx.n_videos), quota=self.params.share)

    def check_serving(self, slate_size: int) -> None:
        share = self.params.share
        if share > 0 and quota_slots(share, slate_size) == 0:
            lo = 0.5 / slate_size
            raise ValueError(
                f"The 'share' parameter of SlotQuotaParams must be 0 or a float in the range ({lo!r}, 1.0] with "
                f"slate_size = {slate_size} (round(share x slate_size) slots are reserved). Got {share!r} instead, "
                f"which reserves 0 slots: the same as 'none'."
            )

    @classmethod
    def grid(cls, slate_size: int | None = None) -> tuple:
        """1, 2 and 3 slots of the slate (capped at the whole slate): ``j / slate_size``."""
        if slate_size is None:
            return tuple(cls.strength_grid)
        return tuple(sorted({min(j, slate_size) / slate_size for j in (1, 2, 3)}))


