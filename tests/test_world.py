"""The simulated world (sim/world.py): contract, marginals, graphs, determinism, kernels vs twins."""

import json
import re

import numba
import numpy as np
import pytest

from ranker._numba import set_threads
from sim import world as W
from sim.world import (AGE_BANDS, AGE_SHARES, CITY_SHARES, CITY_TIERS, GENDER_SHARES, STREAMS, World,
                       WorldConfig, build_world)
from tests import reference_world as ref
from tests.conftest import needs_two_threads

# field -> (dtype, shape as a function of the world)
CONTRACT = {
    "user_interest": (np.float32, lambda w: (w.n_users, w.n_topics)),
    "user_age_band": (np.int8, lambda w: (w.n_users,)),
    "user_gender": (np.int8, lambda w: (w.n_users,)),
    "user_city_tier": (np.int8, lambda w: (w.n_users,)),
    "user_activity": (np.float32, lambda w: (w.n_users,)),
    "friend_indptr": (np.int64, lambda w: (w.n_users + 1,)),
    "friend_indices": (np.int32, lambda w: (int(w.friend_indptr[-1]),)),
    "follow_indptr": (np.int64, lambda w: (w.n_users + 1,)),
    "follow_indices": (np.int32, lambda w: (int(w.follow_indptr[-1]),)),
    "creator_quality": (np.float32, lambda w: (w.n_creators,)),
    "creator_topic": (np.int16, lambda w: (w.n_creators,)),
    "creator_kind": (np.int8, lambda w: (w.n_creators,)),
    "creator_is_ai": (np.bool_, lambda w: (w.n_creators,)),
    "creator_post_rate": (np.float32, lambda w: (w.n_creators,)),
    "creator_join_day": (np.int32, lambda w: (w.n_creators,)),
    "creator_bait": (np.int8, lambda w: (w.n_creators,)),
    "video_creator": (np.int32, lambda w: (w.n_videos,)),
    "video_topic": (np.int16, lambda w: (w.n_videos,)),
    "video_duration_s": (np.float32, lambda w: (w.n_videos,)),
    "video_quality": (np.float32, lambda w: (w.n_videos,)),
    "video_hook": (np.float32, lambda w: (w.n_videos,)),
    "video_shareability": (np.float32, lambda w: (w.n_videos,)),
    "video_post_day": (np.int32, lambda w: (w.n_videos,)),
    "video_post_tick": (np.int16, lambda w: (w.n_videos,)),
    "video_is_ai": (np.bool_, lambda w: (w.n_videos,)),
}

MID = WorldConfig(n_users=20_000, n_creators=5_000, new_creators_per_day=50)
MID_DAYS = 10


@pytest.fixture(scope="module")
def big():
    """200,000 users for the demographic marginals (graphs off: not what is measured)."""
    return build_world(WorldConfig(n_users=200_000, friends_mean=0.0, follows_mean=0.0), 2, 11)


@pytest.fixture(scope="module")
def mid():
    return build_world(MID, MID_DAYS, 7)


def small_cfg(**kw):
    base = dict(n_users=2_000, n_creators=300, new_creators_per_day=10)
    base.update(kw)
    return WorldConfig(**base)


def check_csr(indptr, indices, n_rows, n_cols):
    """CSR invariants: pointers, range, strictly increasing rows (sorted, no duplicates)."""
    assert indptr.shape == (n_rows + 1,) and indptr[0] == 0 and indptr[-1] == indices.size
    assert np.all(np.diff(indptr) >= 0)
    if indices.size:
        assert indices.min() >= 0 and indices.max() < n_cols
    rows = np.repeat(np.arange(n_rows), np.diff(indptr))
    same_row = rows[1:] == rows[:-1]
    assert np.all(indices[1:][same_row] > indices[:-1][same_row])
    return rows


def check_friends(w):
    rows = check_csr(w.friend_indptr, w.friend_indices, w.n_users, w.n_users)
    assert not np.any(rows == w.friend_indices), "self loop"
    fwd = np.sort(rows.astype(np.int64) * w.n_users + w.friend_indices)
    back = np.sort(w.friend_indices.astype(np.int64) * w.n_users + rows)
    np.testing.assert_array_equal(fwd, back)  # symmetric


def check_follows(w, cfg):
    check_csr(w.follow_indptr, w.follow_indices, w.n_users, w.n_creators)
    assert np.all(w.creator_join_day[w.follow_indices] == 0), "follow of a creator not yet joined"
    assert np.diff(w.follow_indptr).max(initial=0) <= cfg.follow_capacity


# --- constants and demographics -----------------------------------------------------------------

def test_constants_follow_domain_item_8():
    for shares, names in ((AGE_SHARES, AGE_BANDS), (GENDER_SHARES, W.GENDERS), (CITY_SHARES, CITY_TIERS)):
        assert len(shares) == len(names)
        assert sum(shares) == pytest.approx(1.0, abs=1e-12)
    assert AGE_BANDS[0] == "18-24" and AGE_SHARES[0] == pytest.approx(1 - 0.977)
    assert GENDER_SHARES == (0.40, 0.60)
    assert CITY_SHARES == (0.32, 0.40, 0.28)


@pytest.mark.parametrize("field, shares", [("user_age_band", AGE_SHARES), ("user_gender", GENDER_SHARES),
                                           ("user_city_tier", CITY_SHARES)])
def test_demographic_marginals_within_one_point(big, field, shares):
    got = np.bincount(getattr(big, field), minlength=len(shares)) / big.n_users
    assert got.size == len(shares)
    np.testing.assert_allclose(got, shares, atol=0.01)


def test_age_25_plus_share(big):
    assert np.mean(big.user_age_band >= 1) == pytest.approx(0.977, abs=0.01)


def test_demographics_independent_of_each_other(big):
    # The women's share is the same in every city tier (drawn independently).
    for tier in range(len(CITY_TIERS)):
        assert np.mean(big.user_gender[big.user_city_tier == tier]) == pytest.approx(0.60, abs=0.01)


# --- contract -----------------------------------------------------------------------------------

def test_contract_fields_dtypes_shapes(mid):
    arrays = mid.arrays()
    assert set(arrays) == set(CONTRACT)
    for name, (dtype, shape) in CONTRACT.items():
        a = getattr(mid, name)
        assert a.dtype == dtype, name
        assert a.shape == shape(mid), name
    for name in ("n_users", "n_topics", "n_creators", "n_videos", "days", "ticks_per_day"):
        assert type(getattr(mid, name)) is int, name
    assert mid.n_users == MID.n_users and mid.n_topics == MID.n_topics and mid.days == MID_DAYS
    assert mid.n_creators == MID.n_creators + MID.new_creators_per_day * (MID_DAYS - 1)
    assert mid.n_established == MID.n_creators


def test_world_is_frozen(mid):
    with pytest.raises(AttributeError):
        mid.n_users = 3


def test_nbytes_and_summary(mid):
    assert mid.nbytes == sum(a.nbytes for a in mid.arrays().values())
    s = mid.summary()
    json.dumps(s)  # plain numbers only
    assert s["n_videos"] == mid.n_videos and s["nbytes"] == mid.nbytes
    assert s["friend_edges"] * 2 == mid.friend_indices.size
    assert s["friends_mean"] == pytest.approx(mid.friend_indices.size / mid.n_users)
    assert s["follows_mean"] == pytest.approx(mid.follow_indices.size / mid.n_users)
    assert s["backlog_videos"] == np.count_nonzero(mid.video_post_day < 0)


# --- users --------------------------------------------------------------------------------------

def test_interest_rows_are_distributions(mid):
    x = mid.user_interest
    assert np.all(x >= 0)
    np.testing.assert_allclose(x.sum(axis=1, dtype=np.float64), 1.0, atol=1e-5)


@pytest.mark.parametrize("alpha", [0.05, 0.3, 20.0])
def test_interest_is_dirichlet(alpha):
    # the Dirichlet draw itself, before demographics tilt it (their effect is tested below)
    w = build_world(small_cfg(n_users=20_000, interest_concentration=alpha, friends_mean=0.0,
                              follows_mean=0.0, demographic_interest=0.0), 2, 3)
    x = w.user_interest.astype(np.float64)
    t = w.n_topics
    a0 = t * alpha
    var = alpha * (a0 - alpha) / (a0 * a0 * (a0 + 1))  # Dirichlet marginal variance
    np.testing.assert_allclose(x.mean(axis=0), 1 / t, atol=5 * np.sqrt(var / w.n_users))
    assert x.var(axis=0).mean() == pytest.approx(var, rel=0.05)
    # Small concentration: a few topics take most of the mass.
    top = x.max(axis=1).mean()
    assert (top > 0.55) if alpha < 0.1 else (top < 0.35)


def test_tiny_concentration_has_no_nan():
    w = build_world(small_cfg(interest_concentration=1e-4, friends_mean=0.0), 2, 3)
    assert np.all(np.isfinite(w.user_interest))
    np.testing.assert_allclose(w.user_interest.sum(axis=1, dtype=np.float64), 1.0, atol=1e-5)


def test_activity_mean_and_heavy_tail(big):
    a = big.user_activity.astype(np.float64)
    assert a.min() > 0
    assert a.mean() == pytest.approx(WorldConfig().activity_mean, rel=0.03)
    assert a.max() / np.median(a) > 40  # log-normal sigma 1 at 200k users: about 80


def test_activity_without_spread_is_constant():
    w = build_world(small_cfg(activity_sigma=0.0, friends_mean=0.0, demographic_activity=0.0), 2, 3)
    np.testing.assert_allclose(w.user_activity, WorldConfig().activity_mean, rtol=1e-6)


def test_demographics_scale_activity_as_stated():
    """Without spread, a user's activity is activity_mean times the stated factors over their population mean."""
    from sim.world import (ACTIVITY_BY_AGE, ACTIVITY_BY_GENDER, ACTIVITY_BY_TIER, AGE_SHARES, CITY_SHARES,
                           GENDER_SHARES)

    w = build_world(small_cfg(n_users=20_000, activity_sigma=0.0, friends_mean=0.0, follows_mean=0.0), 2, 3)
    mean = (np.dot(ACTIVITY_BY_AGE, AGE_SHARES) * np.dot(ACTIVITY_BY_GENDER, GENDER_SHARES)
            * np.dot(ACTIVITY_BY_TIER, CITY_SHARES))
    want = (WorldConfig().activity_mean * np.asarray(ACTIVITY_BY_AGE)[w.user_age_band]
            * np.asarray(ACTIVITY_BY_GENDER)[w.user_gender] * np.asarray(ACTIVITY_BY_TIER)[w.user_city_tier] / mean)
    np.testing.assert_allclose(w.user_activity, want, rtol=1e-5)
    # the 55+ band is 1.3 / 0.8 as active as 18-24; the population mean stays activity_mean
    a = w.user_activity.astype(np.float64)
    assert a[w.user_age_band == 4].mean() / a[w.user_age_band == 0].mean() == pytest.approx(1.3 / 0.8, rel=0.03)
    assert a.mean() == pytest.approx(WorldConfig().activity_mean, rel=0.01)


def test_demographics_tilt_interests_toward_their_topics():
    """Users of an age band put more interest in the band's own topics than other users do; off: no difference."""
    on = build_world(small_cfg(n_users=20_000, friends_mean=0.0, follows_mean=0.0), 2, 3)
    off = build_world(small_cfg(n_users=20_000, friends_mean=0.0, follows_mean=0.0, demographic_interest=0.0), 2, 3)
    fav = (np.arange(on.n_topics) * 7) % 5 == 1  # the 25-34 band's topics (age is grouping 0, prime 7, level 1)
    for w, lift in ((on, 1.3), (off, None)):
        band = w.user_age_band == 1
        inside = w.user_interest[band][:, fav].sum(axis=1).mean()
        outside = w.user_interest[~band][:, fav].sum(axis=1).mean()
        if lift is None:
            assert inside == pytest.approx(outside, rel=0.05)
        else:
            assert inside / outside > lift
    np.testing.assert_allclose(on.user_interest.sum(axis=1, dtype=np.float64), 1.0, atol=1e-5)


# --- friends ------------------------------------------------------------------------------------

def test_friend_graph_invariants(mid):
    check_friends(mid)


def test_friend_degree_mean_and_heavy_tail(mid):
    deg = np.diff(mid.friend_indptr)
    assert deg.mean() == pytest.approx(MID.friends_mean, rel=0.1)
    assert deg.max() / max(np.median(deg), 1) > 20
    assert 0.0 < np.mean(deg == 0) < 0.2  # friendless users exist, but few


def test_friend_degree_without_spread_is_light_tailed():
    w = build_world(small_cfg(n_users=20_000, friends_sigma=0.0, follows_mean=0.0), 2, 5)
    deg = np.diff(w.friend_indptr)
    assert deg.mean() == pytest.approx(20.0, rel=0.05)
    assert deg.max() / np.median(deg) < 3  # Poisson(20)


def test_friend_cap():
    w = build_world(small_cfg(friends_mean=30.0, friends_max=10, follows_mean=0.0), 2, 5)
    assert np.diff(w.friend_indptr).max() <= 10
    check_friends(w)


# --- creators -----------------------------------------------------------------------------------

def test_creator_cohorts(mid):
    join = mid.creator_join_day
    assert np.all(join[:MID.n_creators] == 0)
    assert np.all(np.diff(join) >= 0)
    np.testing.assert_array_equal(np.bincount(join[MID.n_creators:], minlength=MID_DAYS)[1:],
                                  MID.new_creators_per_day)


def test_creator_shares(mid):
    assert np.mean(mid.creator_kind == 1) == pytest.approx(MID.pro_share, abs=0.02)
    assert np.mean(mid.creator_is_ai) == pytest.approx(MID.ai_share, abs=0.02)
    assert np.mean(mid.creator_bait == 1) == pytest.approx(MID.clickbait_share, abs=0.02)
    assert np.mean(mid.creator_bait == 2) == pytest.approx(MID.sharebait_share, abs=0.02)
    assert mid.creator_topic.min() >= 0 and mid.creator_topic.max() < MID.n_topics
    rate = mid.creator_post_rate.astype(np.float64)
    assert rate.min() > 0 and rate.mean() == pytest.approx(MID.posts_per_day_mean, rel=0.05)


def test_pro_creators_have_higher_quality(mid):
    q = mid.creator_quality
    clean = mid.creator_bait == 0
    gap = q[clean & (mid.creator_kind == 1)].mean() - q[clean & (mid.creator_kind == 0)].mean()
    assert gap == pytest.approx(MID.pro_quality_shift * MID.quality_sd, abs=0.12)


def test_bait_creators_lower_quality_higher_hook_or_shareability(mid):
    q, bait = mid.creator_quality, mid.creator_bait
    for b in (1, 2):
        gap = q[bait == 0].mean() - q[bait == b].mean()
        assert gap == pytest.approx(MID.bait_quality_penalty * MID.quality_sd, abs=0.12)
    vb = bait[mid.video_creator]
    hook, share = mid.video_hook, mid.video_shareability
    lift = MID.bait_strength
    assert hook[vb == 1].mean() - hook[vb == 0].mean() == pytest.approx(lift * MID.hook_sd, abs=0.1)
    assert share[vb == 2].mean() - share[vb == 0].mean() == pytest.approx(lift * MID.shareability_sd, abs=0.1)
    # Each bait lifts only its own lever.
    assert abs(hook[vb == 2].mean() - hook[vb == 0].mean()) < 0.1
    assert abs(share[vb == 1].mean() - share[vb == 0].mean()) < 0.1
    assert hook[vb == 0].std() == pytest.approx(MID.hook_sd, rel=0.05)


def test_ai_label_independent_of_quality(mid):
    q, ai = mid.creator_quality, mid.creator_is_ai
    assert ai.sum() > 300
    assert abs(q[ai].mean() - q[~ai].mean()) < 0.12
    assert q[ai].std() == pytest.approx(q[~ai].std(), rel=0.1)
    vq, vai = mid.video_quality, mid.video_is_ai
    assert abs(vq[vai].mean() - vq[~vai].mean()) < 0.12


# --- videos -------------------------------------------------------------------------------------

def test_videos_sorted_and_in_range(mid):
    day, tick, cr = mid.video_post_day, mid.video_post_tick, mid.video_creator
    key = (day.astype(np.int64) * 4 + tick) * mid.n_creators + cr
    assert np.all(np.diff(key) >= 0)
    assert tick.min() >= 0 and tick.max() < mid.ticks_per_day
    join = mid.creator_join_day[cr]
    assert np.all(day <= MID_DAYS - 1)
    assert np.all(day[join > 0] >= join[join > 0])
    assert day.min() == -MID.backlog_days
    np.testing.assert_array_equal(mid.video_is_ai, mid.creator_is_ai[cr])


def test_video_counts_follow_posting_rates(mid):
    start = np.where(mid.creator_join_day == 0, -MID.backlog_days, mid.creator_join_day)
    # potential posts: post_potential times the posting rate (the feed loop realises a share; sim.creators)
    expected = MID.post_potential * np.sum(mid.creator_post_rate.astype(np.float64) * (MID_DAYS - start))
    assert MID.post_potential == 2.0 and mid.n_videos == pytest.approx(expected, rel=0.03)
    per_creator = np.bincount(mid.video_creator, minlength=mid.n_creators)
    rate = mid.creator_post_rate
    assert np.corrcoef(per_creator / (MID_DAYS - start), rate)[0, 1] > 0.5


def test_video_attributes(mid):
    cr = mid.video_creator
    loyal = np.mean(mid.video_topic == mid.creator_topic[cr])
    assert loyal == pytest.approx(MID.topic_loyalty + (1 - MID.topic_loyalty) / MID.n_topics, abs=0.02)
    d = mid.video_duration_s
    assert d.min() >= W.DURATION_MIN_S
    assert np.median(d) == pytest.approx(MID.duration_median_s, rel=0.05)
    noise = mid.video_quality - mid.creator_quality[cr]
    assert abs(noise.mean()) < 0.02 and noise.std() == pytest.approx(MID.video_quality_sd, rel=0.05)


@pytest.mark.parametrize("tpd", [1, 3, 24])
def test_ticks_per_day(tpd):
    w = build_world(small_cfg(friends_mean=0.0, follows_mean=0.0), 4, 2, ticks_per_day=tpd)
    assert w.ticks_per_day == tpd
    assert set(np.unique(w.video_post_tick).tolist()) == set(range(tpd))


# --- follows ------------------------------------------------------------------------------------

def test_follow_graph_invariants(mid):
    check_follows(mid, MID)
    assert np.diff(mid.follow_indptr).mean() == pytest.approx(MID.follows_mean, rel=0.1)


def test_follows_track_interest_quality_and_kind(mid):
    users = np.repeat(np.arange(mid.n_users), np.diff(mid.follow_indptr))
    c = mid.follow_indices
    lift = mid.n_topics * mid.user_interest[users, mid.creator_topic[c]]
    assert lift.mean() > 3  # 1 if follows ignored interest
    ne = mid.n_established
    followers = np.bincount(c, minlength=ne)[:ne]
    q = mid.creator_quality[:ne]
    rank = np.argsort(np.argsort(q))
    assert np.corrcoef(rank, np.argsort(np.argsort(followers)))[0, 1] > 0.2
    kind = mid.creator_kind[:ne]
    assert followers[kind == 1].mean() > 1.5 * followers[kind == 0].mean()
    assert followers.max() > 10 * np.median(followers)  # popularity skew
    # More active users follow more.
    act = mid.user_activity
    n_f = np.diff(mid.follow_indptr)
    assert n_f[act > np.quantile(act, 0.9)].mean() > 3 * n_f[act < np.quantile(act, 0.5)].mean()


def test_follow_capacity_binds():
    cfg = small_cfg(follows_mean=60.0, follow_capacity=3, friends_mean=0.0)
    w = build_world(cfg, 2, 4)
    check_follows(w, cfg)
    assert np.mean(np.diff(w.follow_indptr) == 3) > 0.8


def test_follows_match_reference():
    cfg = small_cfg(n_users=150, n_creators=60, n_topics=5, follows_mean=12.0)
    seed = 9
    w = build_world(cfg, 3, seed)
    # Replay the follows stream to get the kernel's inputs, then run the twin.
    ss = np.random.SeedSequence(seed).spawn(len(STREAMS))[STREAMS.index("follows")]
    cr = {k: getattr(w, k) for k in ("creator_join_day", "creator_quality", "creator_kind", "creator_topic")}
    kseed, topic_pop, cum_pop, bounds, by_topic, wide = W._follow_inputs(
        np.random.Generator(np.random.PCG64(ss)), cfg, w.user_activity, cr)
    rows = ref.follow_rows(kseed, w.user_interest, topic_pop, cum_pop, bounds, by_topic, wide)
    got = [w.follow_indices[w.follow_indptr[u]:w.follow_indptr[u + 1]].tolist() for u in range(w.n_users)]
    assert got == rows


# --- kernels vs twins ---------------------------------------------------------------------------

def follow_case(seed, n_users, n_topics, n_est, max_want, empty_topics=0):
    """Random inputs for the follow kernel; the first ``empty_topics`` topics have no creators."""
    rng = np.random.default_rng(seed)
    interest = rng.dirichlet(np.full(n_topics, 0.5), n_users).astype(np.float32)
    topic = rng.integers(empty_topics, n_topics, n_est)
    pop = rng.lognormal(0, 1.5, n_est)
    by_topic = np.argsort(topic, kind="stable").astype(np.int64)
    cum_pop = np.cumsum(pop[by_topic])
    bounds = np.zeros(n_topics + 1, dtype=np.int64)
    np.cumsum(np.bincount(topic, minlength=n_topics), out=bounds[1:])
    topic_pop = np.bincount(topic, weights=pop, minlength=n_topics)
    want = np.minimum(rng.integers(0, max_want + 1, n_users), n_est)
    indptr = np.concatenate(([0], np.cumsum(want))).astype(np.int64)
    kseed = np.uint64(rng.integers(0, 2**63))
    return kseed, interest, topic_pop, cum_pop, bounds, by_topic, indptr


@pytest.mark.parametrize("seed, n_users, n_topics, n_est, max_want, empty", [
    (0, 1, 2, 1, 1, 0),          # n = 1, one creator
    (1, 40, 4, 30, 10, 0),
    (2, 40, 6, 8, 8, 2),         # topics without creators; users that want all creators
    (3, 25, 3, 5, 5, 1),         # few reachable creators: some users settle for fewer
    (4, 30, 8, 200, 20, 0),
    (5, 10, 5, 50, 0, 0),        # nobody wants any follow
])
def test_follow_kernel_matches_reference(seed, n_users, n_topics, n_est, max_want, empty):
    args = follow_case(seed, n_users, n_topics, n_est, max_want, empty)
    indptr = args[-1]
    out = np.full(int(indptr[-1]), -1, dtype=np.int32)
    count = W._follow_kernel(*args, out)
    rows = ref.follow_rows(*args)
    assert count.tolist() == [len(r) for r in rows]
    for u, r in enumerate(rows):
        assert out[indptr[u]:indptr[u] + count[u]].tolist() == r


@pytest.mark.parametrize("seed, n, m", [(0, 1, 3), (1, 2, 0), (2, 5, 40), (3, 50, 300), (4, 300, 200), (5, 7, 7)])
def test_friend_csr_matches_reference(seed, n, m):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n, m).astype(np.int32)
    b = rng.integers(0, n, m).astype(np.int32)
    if seed == 5:
        b = a.copy()  # all self loops
    got = W._friend_csr(a, b, n)
    want = ref.friend_csr(a, b, n)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("seed, n", [(0, 1), (1, 6), (2, 40)])
def test_sort_unique_rows_and_compact_match_reference(seed, n):
    rng = np.random.default_rng(seed)
    lens = rng.integers(0, 9, n)
    indptr = np.concatenate(([0], np.cumsum(lens))).astype(np.int64)
    idx = rng.integers(0, 5, int(indptr[-1])).astype(np.int32)  # many ties
    rows = ref.sort_unique_rows(indptr, idx)
    count = W._sort_unique_rows(indptr, idx)  # in place
    assert count.tolist() == [len(r) for r in rows]
    for r in range(n):
        assert idx[indptr[r]:indptr[r] + count[r]].tolist() == rows[r]
    cut = np.minimum(count, rng.integers(0, 4, n))
    got = W._compact_rows(indptr, cut, idx)
    want = ref.compact_rows(indptr, cut, idx)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


# --- determinism --------------------------------------------------------------------------------

def same_world(a: World, b: World) -> bool:
    scalars = ("n_users", "n_topics", "n_creators", "n_videos", "days", "ticks_per_day")
    return (all(getattr(a, s) == getattr(b, s) for s in scalars)
            and all(np.array_equal(x, getattr(b, k)) for k, x in a.arrays().items()))


def test_same_seed_same_world_other_seed_other_world():
    cfg = small_cfg()
    a, b, c = build_world(cfg, 5, 1), build_world(cfg, 5, 1), build_world(cfg, 5, 2)
    assert same_world(a, b)
    for name in ("user_interest", "user_age_band", "user_activity", "friend_indices", "follow_indices",
                 "creator_quality", "creator_is_ai", "video_duration_s"):
        x, y = getattr(a, name), getattr(c, name)
        assert x.shape != y.shape or not np.array_equal(x, y), name


@needs_two_threads
def test_same_world_with_one_or_two_threads():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 Numba threads")
    cfg = small_cfg(n_users=5_000)
    before = numba.get_num_threads()
    try:
        set_threads(1)
        one = build_world(cfg, 3, 8)
        set_threads(2)
        two = build_world(cfg, 3, 8)
    finally:
        set_threads(before)
    assert same_world(one, two)


def test_streams_are_separate():
    # Creators and videos do not depend on the number of users; users' interests do not depend on creators.
    a = build_world(small_cfg(n_users=500), 4, 3)
    b = build_world(small_cfg(n_users=900, n_creators=400), 4, 3)
    c = build_world(small_cfg(n_users=900), 4, 3)
    for name in ("creator_quality", "video_creator", "video_hook", "video_post_day"):
        assert np.array_equal(getattr(a, name), getattr(c, name)), name
    np.testing.assert_array_equal(b.user_interest, c.user_interest)


# --- edge cases and errors ----------------------------------------------------------------------

@pytest.mark.parametrize("kw, days", [
    (dict(n_users=1), 3),
    (dict(n_users=2, n_creators=1, n_topics=2), 1),
    (dict(friends_mean=0.0, follows_mean=0.0), 2),
    (dict(new_creators_per_day=0, backlog_days=0), 4),
    (dict(clickbait_share=1.0, sharebait_share=0.0, pro_share=1.0, ai_share=1.0), 2),
    (dict(quality_sd=0.0, video_quality_sd=0.0, hook_sd=0.0, shareability_sd=0.0, duration_sigma=0.0), 2),
    (dict(posts_per_day_mean=0.01, follow_capacity=1), 2),
])
def test_edge_worlds_keep_invariants(kw, days):
    cfg = small_cfg(**kw)
    w = build_world(cfg, days, 0)
    check_friends(w)
    check_follows(w, cfg)
    assert w.n_creators == cfg.n_creators + cfg.new_creators_per_day * (days - 1)
    for name, (dtype, shape) in CONTRACT.items():
        assert getattr(w, name).dtype == dtype and getattr(w, name).shape == shape(w), name
    json.dumps(w.summary())


def msg(name, rng, got):
    return "^" + re.escape(f"The {name!r} parameter of build_world must be an int in the range {rng}. "
                           f"Got {got} instead.") + "$"


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(days=0), ValueError, msg("days", "[1, 3650]", "0")),
    (dict(days=3651), ValueError, msg("days", "[1, 3650]", "3651")),
    (dict(days=2.0), TypeError, msg("days", "[1, 3650]", "2.0")),
    (dict(days=True), TypeError, msg("days", "[1, 3650]", "True")),
    (dict(seed=-1), ValueError, msg("seed", f"[0, {2**63 - 1}]", "-1")),
    (dict(seed="1"), TypeError, msg("seed", f"[0, {2**63 - 1}]", "'1'")),
    (dict(ticks_per_day=0), ValueError, msg("ticks_per_day", "[1, 32767]", "0")),
    (dict(ticks_per_day=None), TypeError, msg("ticks_per_day", "[1, 32767]", "None")),
    (dict(cfg={"n_users": 5}), TypeError,
     "^" + re.escape("The 'cfg' parameter of build_world must be a WorldConfig. Got {'n_users': 5} instead.") + "$"),
])
def test_bad_arguments(kwargs, err, match):
    args = dict(cfg=small_cfg(), days=2, seed=0)
    args.update(kwargs)
    with pytest.raises(err, match=match):
        build_world(**args)


def test_bait_shares_must_fit():
    with pytest.raises(ValueError, match=r"must sum to at most 1\. Got 0\.6 \+ 0\.5 = 1\.1 instead\.$"):
        WorldConfig(clickbait_share=0.6, sharebait_share=0.5)
