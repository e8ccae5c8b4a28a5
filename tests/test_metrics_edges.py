"""sim.metrics where the hand-made-world tests did not reach: Kaplan-Meier by hand, activity terciles, a day's close.

Written from the survivors of a mutmut run over sim/metrics.py (see CONTRIBUTING.md). The
Kaplan-Meier estimates and their Greenwood intervals are worked by hand; the end of a day is
checked on five creators whose join days put one in each case (established, graduated,
young, not yet joined, quit).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from sim.config import FeedConfig
from sim.metrics import ACTIVITY_LEVELS, OnlineMetrics, kaplan_meier, user_groups
from tests.test_metrics import case  # noqa: F401  (the hand-made world of test_metrics, as a fixture)

NAN = float("nan")
Z = stats.norm.ppf(0.975)


def close(got, want):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape
    assert np.array_equal(np.isnan(got), np.isnan(want)), (got, want)
    np.testing.assert_allclose(got[~np.isnan(want)], want[~np.isnan(want)], rtol=1e-9, atol=1e-12)


def test_kaplan_meier_by_hand_with_greenwood_intervals():
    # quits at ages 2 and 3; still posting when last seen at ages 3 and 5
    s, lo, hi, n = kaplan_meier([2, 3], [3, 5], np.arange(7))
    assert n.dtype == np.int64 and n.tolist() == [4, 4, 4, 3, 1, 1, 0]
    # S(2) = 3/4 (1 of 4 at risk quits); S(3) = 3/4 * 2/3 (1 of 3; the one censored at 3 was at risk)
    close(s, [1, 1, 0.75, 0.5, 0.5, 0.5, NAN])  # nobody left to see past age 5
    se2 = math.sqrt(0.75 ** 2 * (1 / (4 * 3)))
    se3 = math.sqrt(0.5 ** 2 * (1 / (4 * 3) + 1 / (3 * 2)))
    close(lo, [1, 1, 0.75 - Z * se2, 0.5 - Z * se3, 0.5 - Z * se3, 0.5 - Z * se3, NAN])
    close(hi, [1, 1, 1.0, 0.5 + Z * se3, 0.5 + Z * se3, 0.5 + Z * se3, NAN])  # 0.75 + 0.42 clipped to 1
    # a narrower level, a narrower interval
    _, lo80, hi80, _ = kaplan_meier([2, 3], [3, 5], [3], level=0.8)
    close(lo80, [0.5 - stats.norm.ppf(0.9) * se3])


def test_kaplan_meier_when_everyone_or_nobody_quits():
    s, lo, hi, n = kaplan_meier([1, 2], [], np.arange(5))
    close(s, [1, 0.5, 0, 0, 0])  # once everyone has quit the estimate stays 0
    close(lo, [1, 0.0, 0, 0, 0])  # 0.5 - 0.69 clipped to 0
    close(hi, [1, 1.0, 0, 0, 0])  # 0.5 + 0.69 clipped to 1
    assert n.tolist() == [2, 2, 1, 0, 0]
    s, lo, hi, n = kaplan_meier([], [2, 4], np.arange(6))
    for a in (s, lo, hi):
        close(a, [1, 1, 1, 1, 1, NAN])
    assert n.tolist() == [2, 2, 2, 1, 1, 0]
    s, lo, hi, n = kaplan_meier([], [], np.arange(3))
    for a in (s, lo, hi):
        close(a, [NAN] * 3)
    assert n.dtype == np.int64 and n.tolist() == [0, 0, 0]


def _world(activity, n=None):
    n = len(activity) if n is None else n
    return SimpleNamespace(user_activity=np.asarray(activity, np.float64), user_age_band=np.arange(n) % 2,
                           user_gender=np.arange(n) % 2, user_city_tier=np.arange(n) % 3)


def test_activity_levels_are_terciles_with_ties_going_up():
    g = user_groups(_world(np.arange(1, 10)))
    assert list(g) == ["age", "gender", "city", "activity"]
    names, level = g["activity"]
    assert names == ACTIVITY_LEVELS and level.dtype == np.int8
    assert level.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    # cuts at the 1/3 and 2/3 quantiles of [0, 1, 2, 3] are 1 and 2: a user at a cut is in the tercile above
    assert user_groups(_world([0, 1, 2, 3]))["activity"][1].tolist() == [0, 1, 2, 2]
    w = _world(np.arange(1, 10))
    for k, attr in (("age", "user_age_band"), ("gender", "user_gender"), ("city", "user_city_tier")):
        assert np.array_equal(g[k][1], getattr(w, attr))
    empty = user_groups(_world([], 0))["activity"][1]
    assert empty.shape == (0,) and empty.dtype == np.int8


def _metrics(days=4, warm=1):
    # creators: established, joined day 1, day 2, day 3, day 5
    w = SimpleNamespace(creator_join_day=np.array([0, 1, 2, 3, 5]), n_creators=5, n_users=3)
    feed = FeedConfig().replace(new_creator_days=2, first_impressions_target=10)
    return OnlineMetrics(w, feed, days, warmup_days=warm)


def test_a_day_closes_with_its_creators_by_age_and_its_diversity():
    m = _metrics()
    m.today_creator_imps[:] = [5, 5, 0, 0, 0]
    m.end_day(0, 7, 6, np.ones(5, bool), posts=9)  # a warm-up day: nothing kept
    for a in (m.day_returned, m.day_active, m.day_alive, m.day_posts, m.day_diversity, m.day_creators_served):
        assert not a.any()
    m.today_creator_imps[:] = [3, 1, 0, 0, 0]
    m.creator_imps[:] = [10, 9, 12, 0, 0]
    alive = np.array([True, True, True, False, True])
    m.end_day(3, 7, 6, alive, posts=9)  # measured day 2
    d = 2
    assert (m.day_returned[d], m.day_active[d], m.day_posts[d]) == (7, 6, 9)
    assert m.day_alive[d] == 3  # the creator of day 5 has not joined; the one of day 3 has quit
    assert m.day_new_alive[d] == 2  # joined on days 1 and 2, still posting
    assert m.day_alive_new[d] == 1  # day 2's creator is 1 day old (< 2)
    assert m.day_alive_graduated[d] == 1  # day 1's is 2 days old
    p = np.array([0.75, 0.25])
    assert m.day_diversity[d] == pytest.approx(math.exp(-(p * np.log(p)).sum()), rel=1e-12)
    assert m.day_creators_served[d] == 2 and not m.today_creator_imps.any()  # the day's counts start over
    assert m.first_target_day.tolist() == [2, -1, 2, -1, -1]
    m.creator_imps[:] = [20, 10, 12, 0, 0]
    m.end_day(4, 0, 0, alive)  # measured day 3: only the newly reached creator gets the day
    assert m.first_target_day.tolist() == [2, 3, 2, -1, -1]
    assert m.day_diversity[3] == 0.0 and m.day_creators_served[3] == 0  # nobody served
    m.today_creator_imps[:] = [2, 2, 2, 2, 0]
    m2 = _metrics(warm=0)
    m2.creator_imps[:] = [10, 0, 0, 0, 0]
    m2.today_creator_imps[:] = [2, 2, 2, 2, 0]
    m2.end_day(0, 1, 1, np.ones(5, bool))
    m2.creator_imps[:] = [10, 10, 0, 0, 0]
    m2.end_day(1, 1, 1, np.ones(5, bool))
    assert m2.first_target_day.tolist() == [0, 1, -1, -1, -1]  # reached on measured day 0 stays day 0
    assert m2.day_diversity[0] == pytest.approx(4.0) and m2.day_creators_served[0] == 4


def _finalized(w, f, imps, rows, users, returned, quit_day, vc, split, warm=0):
    """finalize() of the case's days, each day served in one tick or split into two."""
    from tests.test_metrics import DAYS, PLAY, COMP, FOL, RR

    m = OnlineMetrics(w, f, DAYS - warm, warmup_days=warm)
    for d in range(DAYS):
        videos, out_u, values = rows[d]
        parts = [slice(0, 3), slice(3, None)] if split else [slice(None)]
        ci = [imps[d] // 2, imps[d] - imps[d] // 2] if split else [imps[d]]
        for k, s in enumerate(parts):
            m.add_tick(d, d + 0.5 * k, videos[s], out_u[s], values[s], PLAY, COMP, FOL, RR, ci[k], users=users[d][s])
        m.end_day(d, returned[d], returned[d] - 3, quit_day > d)
    out = m.finalize(vc, quit_day, 100, 0, 1)
    return {k: v["value"] for k, v in out.items()}, m


@pytest.mark.parametrize("warm", [0, 1])
def test_a_day_served_in_two_ticks_sums_to_the_day_served_in_one(case, warm):
    """Every per-day and per-user total accumulates over the day's ticks (a metric that kept only
    the last tick would differ), and a warm-up day adds to nothing but its own value."""
    rng = np.random.default_rng(3)
    users = [rng.integers(0, 100, size=r[0].size) for r in case.rows]
    args = (case.w, case.f, case.imps, case.rows, users, case.returned, case.quit_day, case.vc)
    one, m1 = _finalized(*args, split=False, warm=warm)
    two, m2 = _finalized(*args, split=True, warm=warm)
    assert one.keys() == two.keys()
    for k in one:
        a, b = np.asarray(one[k], dtype=float), np.asarray(two[k], dtype=float)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=k)  # values are float32: summed in two parts
    for a in ("day_imps", "day_new_imps", "day_plays", "day_completions", "day_value", "day_follower_imps",
              "day_rr_imps", "imps_by_cohort_day", "creator_imps", "user_imps", "user_new_imps", "user_value",
              "warm_imps", "warm_value"):
        np.testing.assert_allclose(getattr(m1, a), getattr(m2, a), rtol=1e-5, atol=1e-5, err_msg=a)
    served = sum(int((r[0] >= 0).sum()) for r in case.rows[warm:])
    assert m2.day_imps.sum() == served == m2.user_imps.sum()
    assert m2.creator_imps.sum() == case.imps[warm:].sum()
    if warm:
        v0, ok = case.rows[0][2], case.rows[0][0] >= 0
        assert m2.warm_imps.tolist() == [ok.sum()] and m2.warm_value[0] == pytest.approx(float(v0[ok].sum()), rel=1e-6)
