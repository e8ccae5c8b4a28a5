"""The ``fairco`` parity controller."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranker.params import Section, param
from ranker.policy_base import _RATE_FLOOR, Policy, PolicyAction, PolicyContext, _cols, _posterior, _zeros, register

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
    r"""FairCo parity controller: boosts whichever creator group gets less exposure per unit of estimated merit.

    Not a newcomer boost: it equalises exposure *per unit of merit* between
    groups, so it boosts new creators only when they get less exposure per
    merit than established ones, boosts established creators when the
    reverse holds, and does nothing where the ratio is already equal (a
    world in which the ranker already serves each group in proportion to
    its estimated merit). The merit it uses is the ranker's own estimate
    (``merit``): by default :math:`\log(1 + e^{x_v})` of the base score
    :math:`x_v`, so it can only correct exposure toward what the score
    already believes, never toward latent quality.

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
    ``strength`` and merit :math:`m_v` = softplus of the base score
    (``merit="score"``) or the Beta posterior mean of the completion or
    3-second play rate. The best-served group gets 0, a group with no
    exposure gets :math:`s`; dividing by the maximum makes the bonus free of
    the units of exposure and merit (FairCo's growing factor
    :math:`\tau - 1` is replaced by this normalisation and the controller's
    feedback over ticks). Groups with no active post, and all posts when
    only one group is active, get 0.
    """

    name = "fairco"
    Params = FairCoParams
    strength_param = "strength"
    strength_grid = (0.5, 1.0, 2.0)
    fixed_scope = "parity"

    @classmethod
    def scope_text(cls) -> str:
        return ("parity: whichever group (new vs established creators; with groups = new_kind also UGC vs "
                "professional) gets less exposure per unit of merit; merit = softplus(base score) by default")

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


