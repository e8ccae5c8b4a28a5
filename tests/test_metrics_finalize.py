"""finalize()'s other outputs against independent computations, written from the mutation run's survivors.

The measured-window scalars and the by-group metrics (recomputed here row by
row from the same ticks), the long-run series and their last-week means, the
world's proportions, creators' ages, the AI-label audit at matched
engagement, quality deciles, retention of warm and cold runs, and the edges
(no observed post, no new creator, a run shorter than a week).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from sim.metrics import (ESTABLISHED_AGE_DAYS, LAST_WEEK, PARITY_MIN_IMPRESSIONS, OnlineMetrics, _m, _matched_ratio,
                         _world_metrics, creator_age_days, group_metric, lorenz, user_groups)
from tests.test_metrics import COMP, DAYS, FOL, PLAY, RR, case, feed, small_world  # noqa: F401  (case: a fixture)


def _run(case, warm, users_seed=3):
    """finalize() of the case with users on every row; ``warm`` first days are the warm-up."""
    rng = np.random.default_rng(users_seed)
    users = [rng.integers(0, 100, size=r[0].size) for r in case.rows]
    m = OnlineMetrics(case.w, case.f, DAYS - warm, warmup_days=warm)
    for d in range(DAYS):
        videos, out_u, values = case.rows[d]
        m.add_tick(d, float(d), videos, out_u, values, PLAY, COMP, FOL, RR, case.imps[d], users=users[d])
        m.end_day(d, case.returned[d], case.returned[d] - 3, case.quit_day > d, posts=10 + d)
    out = m.finalize(case.vc, case.quit_day, 100, 0, 1, play_col=0)
    return out, users


@pytest.mark.parametrize("warm", [0, 1, 2])
def test_measured_window_and_groups_row_by_row(case, warm):
    out, users = _run(case, warm)
    v = {k: x["value"] for k, x in out.items()}
    w, f = case.w, case.f
    join = w.creator_join_day
    n = imps = new = value = comps = 0.0
    per_user = np.zeros((100, 3))  # impressions, new-creator impressions, value
    for d in range(warm, DAYS):
        videos, out_u, vals = case.rows[d]
        for r in np.flatnonzero(videos >= 0):
            c = w.video_creator[videos[r]]
            is_new = join[c] > 0 and d - join[c] < f.new_creator_days
            per_user[users[d][r]] += (1, is_new, float(vals[r]))
            n += 1
            value += float(vals[r])
            comps += out_u[r, COMP]
        new += case.imps[d][(join > 0) & (d - join < f.new_creator_days)].sum()
    imps = n
    assert v["impressions_measured"] == imps == v["impressions"]
    assert v["new_creator_impressions_measured"] == new
    assert v["new_creator_exposure_share_measured"] == pytest.approx(new / imps, rel=1e-12)
    assert v["value_per_impression_measured"] == pytest.approx(value / imps, rel=1e-6)
    assert v["completion_rate_measured"] == pytest.approx(comps / imps, rel=1e-12)
    ret = case.returned[max(warm, 1 if warm == 0 else 0):] / 100  # a cold run's first day has no return
    assert v["retention_measured"] == pytest.approx(ret.mean(), rel=1e-12)
    assert v["measured_window_start"] == 0
    for grouping, (names, idx) in user_groups(w).items():
        for k, name in enumerate(names):
            sel = idx == k
            got = lambda kind: v[group_metric(kind, grouping, name)]  # noqa: E731
            assert got("users") == sel.sum()
            u_imps = per_user[sel, 0].sum()
            assert got("impressions") == u_imps
            if u_imps:
                assert got("value_per_impression") == pytest.approx(per_user[sel, 2].sum() / u_imps, rel=1e-5)
                assert got("new_creator_exposure_share") == pytest.approx(per_user[sel, 1].sum() / u_imps, rel=1e-12)
            else:
                assert got("value_per_impression") is None and got("new_creator_exposure_share") is None
    assert group_metric("users", "age", "18-24") == "group.users.age=18-24"
    # the world's arrivals a day over every simulated day (warm-up included) but the first
    assert v["world_new_creators_per_1k_users_per_day"] == pytest.approx(1000 * 9 / (DAYS - 1) / 100)
    # breakouts read post days against the measured window
    post = w.video_post_day - warm
    observed = (post >= 0) & (post <= DAYS - warm - f.breakout_days)
    thr = np.percentile(case.vc[observed, 0], f.breakout_percentile)
    vj = join[w.video_creator]
    vnew = (vj > 0) & (w.video_post_day - vj < f.new_creator_days)
    broke = observed & (case.vc[:, 0] >= max(thr, 1))
    assert v["breakout_threshold"] == pytest.approx(thr)
    assert v["posts_observed_new"] == np.count_nonzero(observed & vnew)
    assert v["breakouts_new"] == np.count_nonzero(broke & vnew)
    assert v["breakouts_established"] == np.count_nonzero(broke & ~vnew)
    # at least one group has impressions and new-creator impressions, and one group is bigger than another
    assert per_user[:, 1].sum() > 0 and len({v[group_metric("users", "age", a)] for a in user_groups(w)["age"][0]}) > 1


@pytest.mark.parametrize("warm", [0, 1])
def test_long_run_series_and_last_week_means(case, warm):
    out, _ = _run(case, warm)
    v = {k: x["value"] for k, x in out.items()}
    days = DAYS - warm
    vals = [float(case.rows[d][2][case.rows[d][0] >= 0].astype(np.float64).sum()) for d in range(DAYS)]
    np.testing.assert_allclose(v["value_by_day"], vals[warm:], rtol=1e-6)
    np.testing.assert_allclose(v["cumulative_value_by_day"], np.cumsum(vals[warm:]), rtol=1e-6)
    np.testing.assert_array_equal(v["daily_active_users_by_day"], case.returned[warm:] - 3)
    assert v["posts_last_week"] == pytest.approx(np.mean(10 + np.arange(warm, DAYS)[-LAST_WEEK:]))
    assert v["daily_active_users_last_week"] == pytest.approx(np.mean((case.returned - 3)[warm:][-LAST_WEEK:]))
    for name in ("active_creators", "active_new_creators", "active_graduated_creators", "catalogue_diversity"):
        series = np.asarray(v[f"{name}_by_day"], dtype=float)
        assert series.shape == (days,)
        assert v[f"{name}_last_week"] == pytest.approx(series[-LAST_WEEK:].mean(), rel=1e-12), name
    # creators still posting each day, from the case's joins and quits (quit at the end of day q)
    join, quit_day = case.w.creator_join_day, case.quit_day
    alive = [np.count_nonzero((join <= d) & (quit_day > d)) for d in range(warm, DAYS)]
    np.testing.assert_array_equal(v["active_creators_by_day"], alive)
    new_alive = [np.count_nonzero((join > 0) & (join <= d) & (quit_day > d)) for d in range(warm, DAYS)]
    np.testing.assert_array_equal(v["new_creators_alive_by_day"], new_alive)
    served = [np.count_nonzero(case.imps[d]) for d in range(warm, DAYS)]
    np.testing.assert_array_equal(v["creators_served_by_day"], served)
    assert v["warmup_days"] == warm
    if warm:
        ok = case.rows[0][0] >= 0
        assert v["value_per_impression_by_warmup_day"] == pytest.approx(
            [float(case.rows[0][2][ok].astype(np.float64).sum()) / ok.sum()], rel=1e-6)
    else:
        assert v["value_per_impression_by_warmup_day"] == []


def test_long_run_means_over_the_last_seven_days_only():
    """A run longer than a week: the *_last_week scalars average the last 7 days, not all of them."""
    w = small_world()
    m = OnlineMetrics(w, feed(), 10)
    for d in range(10):
        m.end_day(d, 50, 40 + d, np.ones(w.n_creators, bool), posts=d * d)
    out = m.finalize(np.zeros((w.video_creator.size, 2)), np.full(w.n_creators, 99, np.int32), 100, 0, 1)
    assert LAST_WEEK == 7
    assert out["posts_last_week"]["value"] == pytest.approx(np.mean(np.arange(3, 10) ** 2))
    assert out["daily_active_users_last_week"]["value"] == pytest.approx(np.mean(40 + np.arange(3, 10)))
    assert out["retention"]["value"] == pytest.approx(0.5)
    assert "days after the first" in out["retention"]["description"]
    # nothing served: shares and rates are undefined (None in metrics.json), totals are 0
    for k in ("value_per_impression", "play3_rate", "completion_rate", "new_creator_exposure_share",
              "value_per_impression_measured", "rr_share_of_follower_impressions"):
        assert out[k]["value"] is None, k
    assert out["impressions"]["value"] == 0 and out["total_value"]["value"] == 0.0
    for k in ("new_creator_exposure_share_by_day", "value_per_impression_by_day", "completion_rate_by_day"):
        assert out[k]["value"] == [0.0] * 10, k  # a day with nothing served is 0, not NaN
    assert out["catalogue_diversity_by_day"]["value"] == [0.0] * 10


def test_retention_of_a_warm_run_counts_its_first_measured_day():
    w = small_world()
    for warm, want in ((0, np.mean([0.3, 0.4])), (1, np.mean([0.3, 0.4]))):
        m = OnlineMetrics(w, feed(), 3 - warm if warm else 3, warmup_days=warm)
        returned = [20, 30, 40] if not warm else [99, 30, 40]
        for d in range(3):
            m.end_day(d, returned[d], 1, np.ones(w.n_creators, bool))
        out = m.finalize(np.zeros((w.video_creator.size, 2)), np.full(w.n_creators, 99, np.int32), 100, 0, 1)
        assert out["retention"]["value"] == pytest.approx(want)
        assert out["retention_measured"]["value"] == pytest.approx(want)
        assert out["retention_last_day"]["value"] == pytest.approx(0.4)
        assert ("days after the first" in out["retention"]["description"]) == (warm == 0)
    one = OnlineMetrics(w, feed(), 1)  # a one-day cold run: its only day
    one.end_day(0, 25, 1, np.ones(w.n_creators, bool))
    out = one.finalize(np.zeros((w.video_creator.size, 2)), np.full(w.n_creators, 99, np.int32), 50, 0, 1)
    assert out["retention"]["value"] == pytest.approx(0.5)
    assert out["retention_measured"]["value"] is None  # no day after the first


def test_rates_by_day_and_quality_deciles(case):
    out, _ = _run(case, 0)
    v = {k: x["value"] for k, x in out.items()}
    for d in range(DAYS):
        videos, out_u, vals = case.rows[d]
        ok = videos >= 0
        assert v["completion_rate_by_day"][d] == pytest.approx(out_u[ok, COMP].mean(), rel=1e-12)
        assert v["value_per_impression_by_day"][d] == pytest.approx(float(vals[ok].astype(np.float64).mean()), rel=1e-6)
        join = case.w.creator_join_day
        new = case.imps[d][(join > 0) & (d - join < case.f.new_creator_days)].sum()
        assert v["new_creator_exposure_share_by_day"][d] == pytest.approx(new / ok.sum(), rel=1e-12)
    np.testing.assert_array_equal(v["impressions_by_cohort_day"],
                                  [[case.imps[d][np.clip(case.w.creator_join_day, 0, None) == c].sum()
                                    for c in range(DAYS)] for d in range(DAYS)])
    # new creators' exposure by latent-quality decile: 9 new creators, one per decile but one
    new = case.w.creator_join_day > 0
    q, e = case.w.creator_quality[new], case.imps.sum(axis=0)[new]
    dec = np.asarray(v["new_creator_exposure_by_quality_decile"], dtype=float)
    assert dec.shape == (10, 2)
    edges = np.quantile(q, np.linspace(0, 1, 11))
    for k in range(10):
        sel = (q >= edges[k]) & ((q < edges[k + 1]) if k < 9 else (q <= edges[k + 1]))
        if sel.any():
            assert dec[k, 0] == pytest.approx(q[sel].mean()) and dec[k, 1] == pytest.approx(e[sel].mean())
        else:
            assert tuple(dec[k]) == (0.0, 0.0)
    assert np.count_nonzero(dec[:, 1]) >= 5
    rho = stats.spearmanr(q, e).statistic
    assert v["new_creator_quality_exposure_corr"] == pytest.approx(rho)


def test_breakouts_with_no_observed_post_and_no_new_creator():
    w = small_world()
    w.video_post_day = np.full(w.video_creator.size, 9, np.int32)  # all posted after the run
    w.creator_join_day = np.zeros(w.n_creators, np.int32)
    m = OnlineMetrics(w, feed(), 3)
    vc = np.ones((w.video_creator.size, 2))
    out = {k: x["value"] for k, x in m.finalize(vc, np.full(w.n_creators, 99, np.int32), 100, 0, 1).items()}
    assert out["breakout_threshold"] is None and out["breakout_rate_new"] is None
    assert out["breakout_rate_established"] is None and out["new_creator_breakout_share"] is None
    assert out["posts_observed_new"] == out["posts_observed_established"] == out["breakouts_new"] == 0
    assert out["new_creators"] == 0 and out["new_creator_reached_target"] is None
    assert out["days_to_target_median"] is None and out["new_creator_quality_exposure_corr"] is None
    assert "new_creator_exposure_by_quality_decile" not in out
    assert out["new_creator_survival"] is None and out["newcomers_established_share"] is None
    assert out["ai_label_exposure_ratio"] is None and out["ai_posts"] == 0 and out["unlabelled_posts"] == 0


def test_breakout_threshold_is_at_least_one_impression():
    """Where most observed posts got no early impression the percentile is 0; a breakout still needs one."""
    w = small_world()
    m = OnlineMetrics(w, feed(), 5)
    vc = np.zeros((w.video_creator.size, 2))
    vc[5, 0] = 1  # post day 0 of an established creator, observed
    out = {k: x["value"] for k, x in m.finalize(vc, np.full(w.n_creators, 99, np.int32), 100, 0, 1).items()}
    assert out["breakout_threshold"] == 0.0
    assert out["breakouts_established"] == 1 and out["breakouts_new"] == 0
    assert out["new_creator_breakout_share"] == 0.0
    # posts that were not realised count nowhere
    # established posts observed (days 0 to 3): videos 3 and 5; video 4 (day -1) is not observed
    for unposted, broke, observed in ((5, 0, 1), (4, 1, 2)):
        out = {k: x["value"] for k, x in m.finalize(vc, np.full(w.n_creators, 99, np.int32), 100, 0, 1,
                                                      posted=np.arange(w.video_creator.size) != unposted).items()}
        assert out["breakouts_established"] == broke and out["posts_observed_established"] == observed


# --------------------------------------------------------------------------- parity, world, ages


def test_parity_at_matched_engagement_and_post_counts():
    """20 posts with play rates in pairs (one AI-labelled, one not, in each tenth of the rate); the
    AI post gets ``r`` times the impressions of its pair. Posts under PARITY_MIN_IMPRESSIONS and
    posts outside the run are left out."""
    V = 24
    ai = (np.arange(V) % 2).astype(bool)
    base = 40.0 + np.arange(V) // 2
    vi = np.where(ai, base * 1.5, base)
    vi[20:22] = PARITY_MIN_IMPRESSIONS - 1  # too few impressions to rate: left out of the engagement audit
    rate = np.repeat(np.linspace(0.1, 0.9, V // 2), 2)
    vc = np.stack([rate * vi, vi], axis=1)
    post = np.zeros(V, np.int32)
    post[22:] = [3, 7]  # after the run (day 3 is the first day after a 3-day run)
    w = SimpleNamespace(n_users=10, user_activity=np.ones(10), user_age_band=np.zeros(10, np.int8),
                        user_gender=np.zeros(10, np.int8), user_city_tier=np.zeros(10, np.int8),
                        friend_indices=np.zeros(0), follow_indices=np.zeros(0), n_creators=1,
                        creator_join_day=np.array([0], np.int32), creator_quality=np.zeros(1),
                        video_creator=np.zeros(V, np.int64), video_post_day=post, video_quality=-rate, video_is_ai=ai)
    m = OnlineMetrics(w, feed(), 3)
    out = {k: x["value"] for k, x in m.finalize(vc, np.full(1, 99, np.int32), 10, 0, 1, play_col=0).items()}
    assert out["ai_posts"] == 11 and out["unlabelled_posts"] == 11
    assert out["ai_posts_engagement_matched"] == 10
    assert out["ai_label_exposure_ratio_engagement"] == pytest.approx(1.5, rel=1e-12)
    assert out["ai_label_exposure_ratio"] == pytest.approx(
        _matched_ratio(vi[:22], -rate[:22], ai[:22]), rel=1e-12)
    no_play = m.finalize(vc, np.full(1, 99, np.int32), 10, 0, 1)
    assert "ai_label_exposure_ratio_engagement" not in no_play and "ai_posts_engagement_matched" not in no_play


def test_matched_ratio_weights_tenths_by_posts():
    # keys 0..9 in tenths; tenth 0 has three posts (two unlabelled), tenth 9 two; others one kind only
    key = np.arange(10.0)
    x = np.array([2.0, 4, 1, 1, 1, 1, 1, 1, 5, 10])
    ai = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 1], bool)
    # tenths: searchsorted(edges, key, right) - 1 clipped to 0..9: key 9 is in tenth 9 with key 8? edges at 0, .9, 1.8 ...
    edges = np.quantile(key, np.linspace(0, 1, 11))
    b = np.clip(np.searchsorted(edges, key, side="right") - 1, 0, 9)
    assert b.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]  # one post a tenth: no tenth holds both kinds
    assert np.isnan(_matched_ratio(x, key, ai))
    key = np.repeat(np.arange(5.0), 2)
    ai = np.tile([False, True], 5)
    x = np.array([2.0, 4, 1, 3, 5, 5, 0, 7, 2, 1])  # ratios 2, 3, 1, (unlabelled mean 0: skipped), 0.5
    assert _matched_ratio(x, key, ai) == pytest.approx((2 + 3 + 1 + 0.5) / 4)
    key = np.array([0.0, 0, 0, 1, 1])
    ai = np.array([False, False, True, False, True])
    x = np.array([1.0, 3, 6, 2, 2])  # tenth of key 0 (3 posts): 6 / 2 = 3; key 1 (2 posts): 1
    assert _matched_ratio(x, key, ai) == pytest.approx((3 * 3 + 2 * 1) / 5)
    assert np.isnan(_matched_ratio(np.zeros(0), np.zeros(0), np.zeros(0, bool)))


def test_world_metrics_per_user():
    w = SimpleNamespace(n_users=200, n_creators=7, creator_join_day=np.array([0, 0, 0, 0, 2, 3, 5]),
                        video_post_day=np.array([-1, 0, 1, 4, 5, -1, 2, 3]),
                        friend_indices=np.zeros(600), follow_indices=np.zeros(100))
    v = {k: x["value"] for k, x in _world_metrics(w, 6).items()}
    assert v == {"world_users": 200, "world_creators_per_1k_users": pytest.approx(20.0),
                 "world_new_creators_per_1k_users_per_day": pytest.approx(1000 * 3 / 5 / 200),
                 "world_posts_per_user_per_day": pytest.approx(6 / 6 / 200),
                 "world_friends_per_user": pytest.approx(3.0), "world_follows_per_user": pytest.approx(0.5)}
    assert isinstance(v["world_users"], int)
    one = {k: x["value"] for k, x in _world_metrics(SimpleNamespace(**{**w.__dict__, "n_users": 0}), 1).items()}
    assert one["world_new_creators_per_1k_users_per_day"] == pytest.approx(3000.0)  # one day: no division by 0
    assert one["world_posts_per_user_per_day"] == pytest.approx(6.0)


def test_creator_age_days():
    np.testing.assert_allclose(creator_age_days(np.array([0, 3, 5]), 5.25), [5.25 + ESTABLISHED_AGE_DAYS, 2.25, 0.25])
    assert ESTABLISHED_AGE_DAYS == 365.0
    assert creator_age_days([2], 2.0).dtype == np.float64


def test_m_converts_numpy_and_non_finite_values():
    assert _m(np.float32(0.5), "u", "d") == {"value": 0.5, "unit": "u", "description": "d"}
    assert type(_m(np.int64(3), "u", "d")["value"]) is int
    assert _m(float("inf"), "u", "d")["value"] is None and _m(np.float64("nan"), "u", "d")["value"] is None
    assert _m(np.array([[1.0, np.nan], [np.inf, 2]]), "u", "d")["value"] == [[1.0, None], [None, 2.0]]
    assert _m(np.array([1, 2]), "u", "d")["value"] == [1, 2]


def test_lorenz_points_by_hand():
    p, L = lorenz([3.0, 1.0], n_points=5)
    np.testing.assert_allclose(p, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(L, [0, 0.125, 0.25, 0.625, 1])
    p, L = lorenz([], n_points=3)
    np.testing.assert_allclose(L, [0, 0.5, 1])
    p, L = lorenz([0.0, 0.0])
    assert p.size == 101 and np.allclose(L, p)


# --------------------------------------------------------------------------- what the report reads besides values


#: Units the report prints as whole numbers (sim.report._stat_num) and the other count units.
COUNT_UNITS = {"impressions", "posts", "users", "creators", "days", "day"}
SHARE_WORDS = ("share", "rate", "retention", "survival", "reached")


@pytest.mark.parametrize("warm", [0, 1])
def test_units_tell_the_report_how_to_print_each_metric(case, warm):
    """The report prints a metric as a percentage when its unit says "share" and as a whole number
    when its unit is a count; every metric has a description for the report's definitions."""
    out, _ = _run(case, warm)
    assert len(out) > 100
    for k, m in out.items():
        unit, desc, value = m["unit"], m["description"], m["value"]
        assert set(m) == {"value", "unit", "description"}, k
        assert isinstance(desc, str) and len(desc) > 10 and desc != desc.upper(), k
        assert isinstance(unit, str) and unit and unit != unit.upper(), k
        is_share = "share" in unit
        name = k.split("=")[0].split(".")[-1]
        if any(w in name for w in SHARE_WORDS) and "ratio" not in name and "corr" not in name:
            assert is_share, (k, unit)
        if isinstance(value, int) and not isinstance(value, bool):
            assert unit in COUNT_UNITS, (k, unit)
    assert out["impressions"]["unit"] == "impressions"  # the report's whole-number units
    assert out["breakouts_new"]["unit"] == "posts" and out["world_users"]["unit"] == "users"


def test_survival_intervals_and_newcomers_established_with_a_warm_up():
    """With one warm-up day: creators joining on simulated days 1-4 are the cohort (measured days
    0-3). Their intervals are kaplan_meier's lo and hi (not swapped); one that reaches its first
    impressions target on measured day 0 counts as established."""
    from sim.metrics import kaplan_meier

    join = np.array([0, 1, 1, 1, 2, 2, 3, 4], np.int32)
    C = join.size
    w = SimpleNamespace(n_users=10, user_activity=np.ones(10), user_age_band=np.zeros(10, np.int8),
                        user_gender=np.zeros(10, np.int8), user_city_tier=np.zeros(10, np.int8),
                        friend_indices=np.zeros(0), follow_indices=np.zeros(0), n_creators=C, creator_join_day=join,
                        creator_quality=np.linspace(0, 1, C), video_creator=np.arange(C), video_post_day=join.copy(),
                        video_quality=np.zeros(C), video_is_ai=np.zeros(C, bool))
    f = feed().replace(new_creator_days=2, first_impressions_target=10)
    days, warm = 6, 1
    quit_day = np.full(C, np.iinfo(np.int32).max, np.int32)
    quit_day[[2, 4]] = [2, 5]  # creator 2 posts 2 days (ages 0, 1), creator 4 posts 4 days
    m = OnlineMetrics(w, f, days, warmup_days=warm)
    for d in range(warm + days):
        imps = np.zeros(C, np.int64)
        if d == 1:
            imps[[1, 2]] = 10  # creators 1 and 2 reach the target on their first day (measured day 0)
        if d == 4:
            imps[3] = 10  # creator 3 at age 3: too late to count as established (A = 2)
        m.add_tick(d, float(d), np.zeros(0, np.int32), np.zeros((0, 4), np.uint8), np.zeros(0, np.float32),
                   PLAY, COMP, FOL, RR, imps)
        m.end_day(d, 1, 1, quit_day > d)
    v = {k: x["value"] for k, x in m.finalize(np.zeros((C, 2)), quit_day, 10, 0, 1).items()}
    assert v["new_creators"] == 7 and v["new_creators_quit"] == 2
    # observed to age 2 (measured join day <= 3): all seven; still posting past age 2: 1, 3, 4, 5, 6
    assert v["newcomers_observed_to_graduation"] == 7
    assert v["newcomers_established"] == 1  # creator 1 only (2 quit, 3 reached the target too late)
    assert v["newcomers_established_share"] == pytest.approx(1 / 7)
    jm = join - warm
    cohort = (join > 0)
    quit = cohort & (quit_day - warm < days)
    t = np.where(quit, quit_day - warm + 1 - jm, days - 1 - jm)
    s, lo, hi, risk = kaplan_meier(t[cohort & quit], t[cohort & ~quit], np.arange(days))
    assert np.isfinite(lo[2]) and lo[2] < s[2] < hi[2]  # a real interval at the age read
    assert v["new_creator_survival"] == pytest.approx(s[2])
    assert v["new_creator_survival_lo"] == pytest.approx(lo[2]) and v["new_creator_survival_hi"] == pytest.approx(hi[2])
    np.testing.assert_allclose(np.asarray(v["new_creator_survival_curve_all"], dtype=float), [s, lo, hi])
    np.testing.assert_array_equal(np.asarray(v["new_creator_at_risk_by_age"], dtype=float)[3], risk)
    tiers = np.asarray(v["new_creator_survival_curve_lo"], dtype=float)
    his = np.asarray(v["new_creator_survival_curve_hi"], dtype=float)
    assert np.nansum(his - tiers) > 0.5  # lower ends below upper ends: not the same curve twice


def test_a_day_with_one_impression_has_one_creator_of_diversity():
    w = small_world()
    m = OnlineMetrics(w, feed(), 2)
    m.today_creator_imps[4] = 1
    m.end_day(0, 1, 1, np.ones(w.n_creators, bool))
    assert m.day_diversity[0] == 1.0 and m.day_creators_served[0] == 1
