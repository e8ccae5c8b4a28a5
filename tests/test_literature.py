"""The literature the two-sided world should reproduce, on a small world over a long horizon (issue 15 point 6).

(a) Mladenov et al. (ICML 2020): under pure relevance ranking, creators with niche audiences lose
viability and leave; a policy that spreads traffic keeps more creators and catches up in value.
(b) Yao et al. (NeurIPS 2024): more exploration lowers short-term value and raises content production.

Exploration is the loop's Plackett-Luce sampling of each slate at a temperature. One seed of a
2,000-user world over 60 days, where (measured): relevance ranking keeps 65.6 % of the niche third of
creators against 71.3 % of the broad third and ends with 147 active creators; exploring at T = 0.3
ends with 150, keeps 67.2 % of the niche third, and its last week's value per impression is 1.045
against 1.034; at T = 1 the first week's value per impression is 0.629 against 0.678 (-7 %) and the
last week's posts per day 105.0 against 100.9 (+4 %), with 153 active creators at the end. On a
1,500-user world over 45 days the niche gap does not show on seed 0 (84.3 % against 82.8 %): a third
of the creators is about 50 of them, so the gap is within the noise of one seed there.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.config import Config, LoopConfig
from sim.engine import simulate

USERS, DAYS = 2_000, 60


def _run(temperature=None, seed=0):
    cfg = Config()
    f = USERS / cfg.world.n_users
    w = cfg.world.replace(n_users=USERS, n_creators=round(cfg.world.n_creators * f),
                          new_creators_per_day=max(1, round(cfg.world.new_creators_per_day * f)))
    cfg = cfg.replace(world=w).with_overrides(days=DAYS, seed=seed, log_sample=0.0)
    if temperature is not None:
        cfg = cfg.replace(loop=LoopConfig(explore="plackett_luce", temperature=temperature))
    return simulate(cfg, progress=False).metrics


@pytest.fixture(scope="module")
def relevance():
    return _run()


def _v(m, k):
    return m[k]["value"]


@pytest.mark.slow
def test_niche_creators_leave_under_relevance_and_spreading_traffic_keeps_more(relevance):
    niche, _, broad = _v(relevance, "creator_survival_by_audience")
    assert niche < broad - 0.03, (niche, broad)
    spread = _run(0.3)
    assert _v(spread, "creators_active_by_day")[-1] > _v(relevance, "creators_active_by_day")[-1]
    assert _v(spread, "creator_survival_niche") >= niche
    # the value per impression of the last week catches up with relevance ranking's
    last = lambda m: np.mean(_v(m, "value_per_impression_by_day")[-7:])  # noqa: E731
    assert last(spread) >= 0.99 * last(relevance)


@pytest.mark.slow
def test_more_exploration_costs_value_now_and_raises_production(relevance):
    hot = _run(1.0)
    first = lambda m: np.mean(_v(m, "value_per_impression_by_day")[:7])  # noqa: E731
    posts = lambda m: np.mean(_v(m, "posts_by_day")[-7:])  # noqa: E731
    assert first(hot) < 0.97 * first(relevance)
    assert posts(hot) > 1.02 * posts(relevance)
    assert _v(hot, "creators_active_by_day")[-1] > _v(relevance, "creators_active_by_day")[-1]
