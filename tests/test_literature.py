"""The literature the two-sided world should reproduce, on a small world over a long horizon (issue 15 point 6).

(a) Mladenov et al. (ICML 2020): under pure relevance ranking, creators with niche audiences lose
viability and leave; a policy that spreads traffic keeps more creators and catches up in value.
(b) Yao et al. (NeurIPS 2024): more exploration lowers short-term value and raises content production.

Exploration is the loop's Plackett-Luce sampling of each slate at a temperature. Before the
calibration, one seed of a 2,000-user world over 60 days (measured, with no video served twice):
relevance ranking keeps 72.1 % of the niche third of creators against 76.2 % of the broad third and
ends with 156 active creators; exploring at T = 0.3 ends with 157, the same niche survival, a higher
last-week value per impression (0.331 against 0.324) and slightly more total value (+0.2 %); at T =
1 the first week's value per impression is 0.297 against 0.315 (-5.6 %) while the last week's posts
per day rise only from 110.4 to 111.4 (+0.9 %) and the active creators at the end are equal (156):
the production side of (b) is weak in this model (before the no-repeat filter it was +4 % posts and
+6 creators).

On the calibrated default world (docs/calibration.md; seed 0): relevance ranking keeps 70.5 % of the
niche third against 76.3 % of the broad third; at T = 0.3 the niche survival is the same, the
last-week value per impression 0.702 against 0.705 (0.995 of it), and both end with 154 active
creators. Over seeds 0-4 (docs/behavior.md, sim.creators, gives every figure) the niche third keeps
*more* of its creators than the broad third on average (+3.6 points, 95 % CI -3.4 to +10.6; below it
by more than 3 points at seed 0 only), T = 0.3 ends with -0.6 creators (-2.0 to +0.8) and 0.9 % less
cumulative value, and T = 1 costs 6.7 % of the first week's value per impression for +0.8 % posts in
the last week (-0.2 to +1.7): neither half of (a) is reproduced, and (b) only in direction. The tests
below pin seed 0 (the niche gap there is one seed's, not the model's), and
test_topic_audiences_are_close pins the reason docs/behavior.md gives: topics have nearly equal
audiences, so there are no truly niche creators to lose.
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
def test_niche_creators_leave_under_relevance_and_spreading_traffic_keeps_as_many(relevance):
    niche, _, broad = _v(relevance, "creator_survival_by_audience")
    assert niche < broad - 0.03, (niche, broad)  # seed 0: 0.705 against 0.763 (seeds 0-4: niche above broad by 3.6 on average)
    spread = _run(0.3)
    # calibrated world: 154 against 154 at seed 0; -2..+1 over seeds 0-4 (no effect; before: 157 against 156)
    assert abs(_v(spread, "creators_active_by_day")[-1] - _v(relevance, "creators_active_by_day")[-1]) <= 2
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
    assert posts(hot) > posts(relevance)  # seed 0: +0.7 %; seeds 0-4: +0.8 % (-0.2 to +1.7), small (see above)
    assert _v(hot, "creators_active_by_day")[-1] >= _v(relevance, "creators_active_by_day")[-1]


def test_topic_audiences_are_close():
    """Why (a) is not reproduced (docs/behavior.md): no topic has a small audience in the default world.

    Seeds 0-4 of the 2,000-user world: each topic's share of all users' interest lies in 0.039-0.060
    (uniform 0.05); the niche third of the day-0 creators' topics hold 0.81-0.88 of the broad third's share.
    A world with a skewed topic popularity fails here: re-measure 6(a) and rewrite the note then.
    """
    from sim.world import build_world

    cfg = Config()
    f = USERS / cfg.world.n_users
    w = cfg.world.replace(n_users=USERS, n_creators=round(cfg.world.n_creators * f),
                          new_creators_per_day=max(1, round(cfg.world.new_creators_per_day * f)))
    world = build_world(w, 1, 0)  # the creators present on day 0: topics are drawn alike for newcomers
    mass = np.asarray(world.user_interest, np.float64).mean(axis=0)
    assert mass.size == w.n_topics and np.isclose(mass.sum(), 1.0)
    assert 0.7 / w.n_topics < mass.min() and mass.max() < 1.3 / w.n_topics, mass  # seed 0: 0.040-0.059
    cm = mass[world.creator_topic]
    lo, hi = np.quantile(cm, [1 / 3, 2 / 3])
    niche, broad = cm[cm < lo].mean(), cm[cm >= hi].mean()
    assert 0.7 < niche / broad < 0.95, (niche, broad)  # seed 0: 0.0439 / 0.0542 = 0.81
