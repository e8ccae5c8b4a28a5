"""The run metrics of :mod:`sim.metrics` against independent computations.

Gini and Lorenz are checked against the mean-absolute-difference definition
and hand-worked cases (on unsorted input); every other metric is computed by
:class:`sim.metrics.OnlineMetrics` on a small hand-made world (creators,
posts, ticks) and recomputed here from the same raw inputs in a different
way: SciPy's percentile, explicit loops, hand-worked fractions.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from scipy import integrate, stats

from sim.config import FeedConfig
from sim.metrics import OnlineMetrics, gini, lorenz


def gini_mad(x):
    """Gini as the mean absolute difference over twice the mean (all ordered pairs)."""
    x = np.asarray(x, dtype=np.float64)
    return float(np.abs(x[:, None] - x[None, :]).sum() / (2 * x.size ** 2 * x.mean()))


# --- Gini and Lorenz -------------------------------------------------------------------------


@pytest.mark.parametrize("x, g", [
    ([1, 1, 1, 1], 0.0),
    ([0, 0, 0, 1], 0.75),          # one of four takes all: (n - 1) / n
    ([3, 1, 2], 2 / 9),            # pairs |1-2|+|1-3|+|2-3| = 4, twice over 2 * 9 * 2
    ([5, 0, 0, 0, 0, 5], 2 / 3),   # two of six share everything
    ([0, 0], 0.0),                 # nothing to share: defined as equal
])
def test_gini_hand_worked(x, g):
    assert gini(x) == pytest.approx(g, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gini_on_unsorted_values_equals_mean_absolute_difference(seed):
    rng = np.random.default_rng(seed)
    x = rng.pareto(1.5, size=57) * 10  # unsorted, heavy-tailed
    assert not np.all(np.diff(x) >= 0)
    assert gini(x) == pytest.approx(gini_mad(x), rel=1e-12)
    assert gini(rng.permutation(x)) == pytest.approx(gini(x), rel=1e-12)
    assert gini(x[::-1]) == pytest.approx(gini(x), rel=1e-12)


def test_lorenz_of_unsorted_values_and_its_area_is_the_gini():
    x = np.array([7.0, 0.0, 3.0, 1.0, 9.0])  # sorted: 0 1 3 7 9, total 20
    p, L = lorenz(x, n_points=6)  # population shares 0, 1/5, ..., 1: exactly the cumulative shares
    np.testing.assert_allclose(p, np.linspace(0, 1, 6))
    np.testing.assert_allclose(L, [0, 0, 1 / 20, 4 / 20, 11 / 20, 1], atol=1e-15)
    # Gini = 1 - 2 * area under the Lorenz curve (trapezoids over the n + 1 points)
    assert gini(x) == pytest.approx(1 - 2 * integrate.trapezoid(L, p), abs=1e-12)
    # between the points: linear interpolation, below the diagonal, convex
    p2, L2 = lorenz(x, n_points=101)
    assert L2[30] == pytest.approx(0.5 * (0 + 1 / 20))  # p = 0.3: halfway between (1/5, 0) and (2/5, 1/20)
    assert np.all(L2 <= p2 + 1e-15) and np.all(np.diff(L2, 2) >= -1e-12)


def test_lorenz_equal_values_is_the_diagonal():
    p, L = lorenz([4, 4, 4, 4])
    np.testing.assert_allclose(L, p, atol=1e-15)


# --- OnlineMetrics on a hand-made world ------------------------------------------------------

DAYS = 5
PLAY, COMP, FOL, RR = 0, 1, 2, 3


def _users(U):
    """The user columns OnlineMetrics reads for its by-group metrics (their values do not matter here)."""
    i = np.arange(U, dtype=np.int8)
    return dict(n_users=U, user_activity=np.linspace(1.0, 3.0, U), user_age_band=i % 3, user_gender=i % 2,
                user_city_tier=i % 3, friend_indices=np.zeros(2 * U, np.int32), follow_indices=np.zeros(U, np.int32))


def small_world():
    """3 established creators (join day 0) and 9 new ones (3 a day on days 1-3); 2 posts each."""
    join = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3], np.int32)
    # new creators' latent quality: terciles low = {3, 6, 9}, mid = {4, 7, 10}, high = {5, 8, 11}
    quality = np.array([0.0, 0.5, 1.0, -3, 0, 3, -2.5, 0.5, 2.5, -2, 1, 2])
    C = join.size
    vcre = np.repeat(np.arange(C), 2)
    post_day = np.repeat(join, 2).astype(np.int32) + np.tile([0, 1], C)
    post_day[:6] = np.array([-2, -1, -2, 0, -1, 0])  # established creators' backlog
    vq = np.arange(vcre.size, dtype=np.float64)[::-1] * 0.1  # distinct video qualities
    ai = np.zeros(vcre.size, bool)
    return SimpleNamespace(**_users(100), n_creators=C, creator_join_day=join, creator_quality=quality, video_creator=vcre,
                           video_post_day=post_day, video_quality=vq, video_is_ai=ai)


def feed():
    return FeedConfig(new_creator_days=3, breakout_days=2, breakout_percentile=75.0, first_impressions_target=10)


def run_metrics(w, f, creator_imps_by_day, rows_by_day, returned, active, quit_day, vc):
    m = OnlineMetrics(w, f, DAYS)
    alive = lambda d: quit_day > d  # noqa: E731
    for d in range(DAYS):
        videos, out_u, values = rows_by_day[d]
        m.add_tick(d, float(d), videos, out_u, values, PLAY, COMP, FOL, RR, creator_imps_by_day[d])
        m.end_day(d, returned[d], active[d], alive(d))
    return m.finalize(vc, quit_day, 100, 0, 1)


@pytest.fixture
def case():
    rng = np.random.default_rng(5)
    w = small_world()
    f = feed()
    C, V = w.n_creators, w.video_creator.size
    imps = rng.integers(0, 6, size=(DAYS, C)).astype(np.int64)
    imps[w.creator_join_day[None, :] > np.arange(DAYS)[:, None]] = 0  # nobody is served before joining
    rows_by_day = []
    for d in range(DAYS):
        n = 6 + d
        videos = rng.integers(0, V, size=n).astype(np.int32)
        videos[0] = -1  # a padded row: counted nowhere, its value neither
        out_u = (rng.random((n, 4)) < 0.5).astype(np.uint8)
        values = rng.normal(size=n).astype(np.float32)
        values[0] = 1e6
        rows_by_day.append((videos, out_u, values))
    returned = np.array([50, 40, 30, 45, 35])
    active = returned - 3
    quit_day = np.full(C, np.iinfo(np.int32).max, np.int32)
    # low tier: all three quit; mid: one quits; high: none
    quit_day[[3, 6, 9]] = [2, 3, 4]
    quit_day[7] = 3
    vc = np.zeros((V, 2))
    vc[:, 0] = rng.integers(0, 40, size=V)  # early impressions
    vc[:, 1] = rng.integers(1, 60, size=V)  # all impressions
    out = run_metrics(w, f, imps, rows_by_day, returned, active, quit_day, vc)
    return SimpleNamespace(w=w, f=f, imps=imps, rows=rows_by_day, returned=returned, quit_day=quit_day, vc=vc,
                           m={k: v["value"] for k, v in out.items()})


def test_survival_by_tier_is_not_swapped(case):
    """Kaplan-Meier at age new_creator_days (3), worked by hand.

    Event ages (quit at the end of day q: q + 1 - join days posted) and censoring ages (still posting
    on the last day, 4: 4 - join): low {3, 6, 9} quit at ages 2, 2, 2; mid: 7 quits at 2, 4 and 10
    are censored at 3 and 1; high: censored at 3, 2, 1.
    """
    m = case.m
    assert m["new_creator_survival_low_quality"] == 0.0  # everyone quit: stays 0
    assert m["new_creator_survival_mid_quality"] == pytest.approx(0.5)  # 1 of the 2 at risk at age 2 quits
    assert m["new_creator_survival_high_quality"] == 1.0
    # all nine: at age 2, 7 at risk and 4 quit; nobody quits at 3
    assert m["new_creator_survival"] == pytest.approx(3 / 7)
    assert m["new_creators"] == 9 and m["new_creators_quit"] == 4


def test_survival_curve_by_tier_and_age(case):
    curve = np.array(case.m["new_creator_survival_curve"], dtype=float)
    nan = np.nan
    np.testing.assert_allclose(curve, [[1, 1, 0, 0, 0], [1, 1, 0.5, 0.5, nan], [1, 1, 1, 1, nan]])
    allc = np.array(case.m["new_creator_survival_curve_all"], dtype=float)
    np.testing.assert_allclose(allc[0], [1, 1, 3 / 7, 3 / 7, nan])
    at_risk = np.array(case.m["new_creator_at_risk_by_age"], dtype=float)
    np.testing.assert_array_equal(at_risk, [[3, 3, 3, 0, 0], [3, 3, 2, 1, 0], [3, 3, 2, 1, 0], [9, 9, 7, 2, 0]])
    # Kaplan-Meier never rises with age
    for row in list(curve) + [allc[0]]:
        r = row[np.isfinite(row)]
        assert np.all(np.diff(r) <= 0)


def test_breakouts_against_scipy_percentile(case):
    w, f, vc, m = case.w, case.f, case.vc, case.m
    observed = (w.video_post_day >= 0) & (w.video_post_day <= DAYS - f.breakout_days)
    thr = stats.scoreatpercentile(vc[observed, 0], f.breakout_percentile)
    assert m["breakout_threshold"] == pytest.approx(thr)
    broke = observed & (vc[:, 0] >= max(thr, 1))
    join = w.creator_join_day[w.video_creator]
    new = (join > 0) & (w.video_post_day - join < f.new_creator_days)
    assert broke.sum() >= 2 and (broke & new).sum() >= 1  # the case exercises both groups
    assert m["breakout_rate_new"] == pytest.approx((broke & new).sum() / (observed & new).sum())
    assert m["breakout_rate_established"] == pytest.approx((broke & ~new).sum() / (observed & ~new).sum())
    assert m["new_creator_breakout_share"] == pytest.approx((broke & new).sum() / broke.sum())


def test_days_to_target_and_reached(case):
    w, f = case.w, case.f
    cum = np.cumsum(case.imps, axis=0)
    waits = []
    new = np.flatnonzero(w.creator_join_day > 0)
    for c in new:
        days = [d for d in range(DAYS) if cum[d, c] >= f.first_impressions_target]
        if days:
            waits.append(days[0] - w.creator_join_day[c])
    assert 0 < len(waits) < new.size
    assert case.m["new_creator_reached_target"] == pytest.approx(len(waits) / new.size)
    assert case.m["days_to_target_median"] == pytest.approx(float(np.median(waits)))


def test_row_sums_retention_value_and_regular_reader_share(case):
    m = case.m
    served = [(v >= 0) for v, _, _ in case.rows]
    n = sum(int(s.sum()) for s in served)
    value = sum(float(vals[s].astype(np.float64).sum()) for (_, _, vals), s in zip(case.rows, served))
    col = lambda c: sum(int(u[s, c].sum()) for (_, u, _), s in zip(case.rows, served))  # noqa: E731
    assert m["impressions"] == n
    assert m["value_per_impression"] == pytest.approx(value / n, rel=1e-12)  # the padded row's 1e6 left out
    assert m["total_value"] == pytest.approx(value, rel=1e-12)
    assert m["play3_rate"] == pytest.approx(col(PLAY) / n)
    assert m["completion_rate"] == pytest.approx(col(COMP) / n)
    assert m["rr_share_of_follower_impressions"] == pytest.approx(col(RR) / col(FOL))
    ret = case.returned / 100
    np.testing.assert_allclose(m["retention_by_day"], ret)
    assert m["retention"] == pytest.approx(np.mean(ret[1:]))  # days after the first
    assert m["retention_last_day"] == pytest.approx(ret[-1])


def test_new_creator_exposure_and_creator_gini(case):
    w, f, imps = case.w, case.f, case.imps
    join = w.creator_join_day
    new_on = lambda d: (join > 0) & (d - join < f.new_creator_days)  # noqa: E731
    new_imps = sum(imps[d, new_on(d)].sum() for d in range(DAYS))
    assert case.m["new_creator_exposure_share"] == pytest.approx(new_imps / case.m["impressions"])
    joined = join < DAYS
    assert case.m["exposure_gini"] == pytest.approx(gini_mad(imps.sum(axis=0)[joined]), rel=1e-12)


def _ai_world(ratios):
    """20 posted videos, quality deciles of two, one AI-labelled and one not in each decile."""
    V = 20
    q = np.arange(V, dtype=np.float64)
    ai = (np.arange(V) % 2).astype(bool)
    plain = 10.0 + np.arange(V) // 2
    vi = np.where(ai, plain * np.repeat(ratios, 2), plain)
    w = SimpleNamespace(**_users(10), n_creators=1, creator_join_day=np.array([0], np.int32), creator_quality=np.zeros(1),
                        video_creator=np.zeros(V, np.int64), video_post_day=np.zeros(V, np.int32),
                        video_quality=q, video_is_ai=ai)
    vc = np.stack([np.zeros(V), vi], axis=1)
    m = OnlineMetrics(w, feed(), 2)
    return m.finalize(vc, np.full(1, 99, np.int32), 10, 0, 1)["ai_label_exposure_ratio"]["value"]


def test_ai_label_ratio_is_ai_over_unlabelled_not_inverted():
    assert _ai_world(np.full(10, 2.0)) == pytest.approx(2.0)  # AI posts get twice the impressions
    assert _ai_world(np.full(10, 0.5)) == pytest.approx(0.5)
    r = np.linspace(0.5, 1.4, 10)
    assert _ai_world(r) == pytest.approx(r.mean())  # deciles weigh equally (two posts each)
