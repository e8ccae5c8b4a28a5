import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ranker import _numba
from ranker.commands import base_scores
from ranker.score import ScoreWeights
from ranker.signals import (
    COUNTER_COLUMNS,
    MEAN_EPS,
    RATE_NAMES,
    SIGNAL_NAMES,
    Counters,
    Prior,
    compute_signals,
    fit_beta_prior,
    fit_prior,
    user_affinity,
)
from tests import reference_signals as ref
from tests.conftest import needs_two_threads

# --------------------------------------------------------------------------- helpers


def population(rng, n, creators=None):
    """A random, internally consistent population of per-video counters."""
    creators = creators or max(1, n // 3)
    imp = rng.integers(0, 400, n).astype(float)
    q = rng.beta(4, 4, n)
    plays = rng.binomial(imp.astype(int), q).astype(float)
    comp = rng.binomial(plays.astype(int), 0.5).astype(float)  # completions are plays that held
    dur = rng.uniform(5, 120, n)
    watch = imp * dur * rng.uniform(0.1, 1.2, n)
    likes = rng.binomial(imp.astype(int), rng.beta(2, 30, n)).astype(float)
    comments = rng.binomial(imp.astype(int), rng.beta(1, 80, n)).astype(float)
    shares = rng.binomial(imp.astype(int), rng.beta(1, 40, n)).astype(float)
    recip = shares * rng.integers(1, 4, n)
    opens = rng.binomial(recip.astype(int), rng.beta(3, 5, n)).astype(float)
    follows = rng.binomial(imp.astype(int), 0.01).astype(float)
    cid = rng.integers(0, creators, n)
    fol_c = rng.integers(0, 500, creators).astype(float)
    rr_c = rng.binomial(fol_c.astype(int), rng.beta(2, 5, creators)).astype(float)
    rr_imp = rng.integers(0, 100, n).astype(float)
    rr_plays = rng.binomial(rr_imp.astype(int), rng.beta(5, 3, n)).astype(float)
    return Counters(
        video_id=np.arange(n), creator_id=cid, impressions=imp, plays_3s=plays, completions=comp,
        watch_s=watch, duration_s=dur, likes=likes, comments=comments, shares=shares,
        share_recipients=recip, share_opens=opens, follows=follows, creator_followers=fol_c[cid],
        creator_regular_readers=rr_c[cid], rr_impressions=rr_imp, rr_plays_3s=rr_plays,
        creator_age_days=rng.uniform(0, 100, n),
    )


def with_row(c: Counters, i: int, **changes) -> Counters:
    cols = {k: np.array(v, copy=True) for k, v in c.to_columns().items()}
    for k, v in changes.items():
        cols[k][i] = v
    return Counters.from_columns(cols)


def one_video(**kw):
    base = {c: [0.0] for c in COUNTER_COLUMNS}
    base["video_id"] = [0]
    base["creator_id"] = [0]
    base.update({k: [v] for k, v in kw.items()})
    return Counters.from_columns(base)


def valid_columns(n=3):
    cols = {c: np.ones(n) for c in COUNTER_COLUMNS}
    cols["video_id"] = np.arange(n)
    cols["creator_id"] = np.zeros(n, int)
    return cols


# --------------------------------------------------------------------------- Counters validation


def _bad(col, value, row=1):
    def make():
        cols = valid_columns()
        arr = np.array(cols[col], dtype=float if not isinstance(value, int) else cols[col].dtype)
        arr[row] = value
        cols[col] = arr
        return cols
    return make


def _drop(col):
    def make():
        cols = valid_columns()
        del cols[col]
        return cols
    return make


def _set(col, arr):
    def make():
        cols = valid_columns()
        cols[col] = arr
        return cols
    return make


def _extra():
    cols = valid_columns()
    cols["views"] = np.ones(3)
    return cols


ALL = ", ".join(COUNTER_COLUMNS)

INVALID = [
    (_drop("likes"), ValueError, f"Counters is missing column(s) ['likes']. Required columns: {ALL}."),
    (_extra, ValueError, f"Unknown counters column(s) ['views']. Allowed columns: {ALL}."),
    (_set("likes", np.ones(2)), ValueError,
     "Counters columns must all have the length of 'video_id' (3). Got 2 for 'likes'."),
    (_set("shares", np.ones((3, 1))), ValueError, "Counters column 'shares' must be 1-D. Got shape (3, 1) instead."),
    (_set("likes", np.array(["a", "b", "c"])), TypeError, "Counters column 'likes' must be numeric. Got dtype <U1 instead."),
    (_set("likes", np.array([True, False, True])), TypeError, "Counters column 'likes' must be numeric. Got dtype bool instead."),
    (_bad("watch_s", np.nan), ValueError, "Counters column 'watch_s' must be finite. Got nan at row 1 (1 row(s))."),
    (_bad("impressions", np.inf), ValueError, "Counters column 'impressions' must be finite. Got inf at row 1 (1 row(s))."),
    (_bad("creator_age_days", np.inf), ValueError,
     "Counters column 'creator_age_days' must be finite. Got inf at row 1 (1 row(s))."),
    (_bad("duration_s", -2.0), ValueError, "Counters column 'duration_s' must be >= 0. Got -2.0 at row 1 (1 row(s))."),
    (_bad("video_id", 1.5), ValueError, "Counters column 'video_id' must hold integers. Got 1.5 at row 1 (1 row(s))."),
    (_bad("video_id", -1), ValueError, "Counters column 'video_id' must be >= 0. Got -1 at row 1 (1 row(s))."),
    (_bad("creator_id", -2), ValueError, "Counters column 'creator_id' must be >= -1. Got -2 at row 1 (1 row(s))."),
    (_bad("plays_3s", 2.0), ValueError,
     "Counters column 'plays_3s' must not exceed 'impressions'. Got 2.0 > 1.0 at row 1 (1 row(s))."),
    (_bad("share_opens", 3.0, row=2), ValueError,
     "Counters column 'share_opens' must not exceed 'share_recipients'. Got 3.0 > 1.0 at row 2 (1 row(s))."),
    (_bad("creator_regular_readers", 5.0, row=0), ValueError,
     "Counters column 'creator_regular_readers' must not exceed 'creator_followers'. Got 5.0 > 1.0 at row 0 (1 row(s))."),
    (_bad("rr_plays_3s", 9.0, row=0), ValueError,
     "Counters column 'rr_plays_3s' must not exceed 'rr_impressions'. Got 9.0 > 1.0 at row 0 (1 row(s))."),
]


@pytest.mark.parametrize("make, err, msg", INVALID)
def test_counters_invalid_inputs(make, err, msg):
    with pytest.raises(err, match=f"^{re.escape(msg)}$"):
        Counters.from_columns(make())


def test_counters_not_a_mapping():
    with pytest.raises(TypeError, match="expects a mapping"):
        Counters.from_columns([1, 2])


def test_counters_converts_and_allows_unknown_age_and_creator():
    cols = valid_columns()
    cols["creator_age_days"] = np.array([np.nan, 1.0, 2.0])
    cols["creator_id"] = np.array([-1, 0, 1])
    cols["impressions"] = np.array([1, 2, 3], dtype=np.int32)
    c = Counters.from_columns(cols)
    assert c.video_id.dtype == np.int64 and c.creator_id.dtype == np.int64
    assert c.impressions.dtype == np.float64
    assert np.isnan(c.creator_age_days[0]) and c.n_videos == 3
    assert list(c.to_columns()) == list(COUNTER_COLUMNS)


def test_empty_counters_give_empty_signals():
    c = Counters.from_columns({k: np.zeros(0) for k in COUNTER_COLUMNS})
    s = compute_signals(c)
    assert s.matrix.shape == (0, 7) and s.alpha.shape == (0, 7)


# --------------------------------------------------------------------------- prior fitting


@pytest.mark.parametrize("method", ["moments", "likelihood"])
@pytest.mark.parametrize("a, b, seed", [(4.0, 16.0, 0), (2.0, 30.0, 1), (30.0, 30.0, 2), (0.8, 3.0, 3)])
def test_fit_beta_prior_recovers_known_params(method, a, b, seed):
    rng = np.random.default_rng(seed)
    k = 4000
    n = rng.integers(10, 400, k)
    p = rng.beta(a, b, k)
    s = rng.binomial(n, p)
    fa, fb = fit_beta_prior(s, n, method=method)
    assert abs(fa / (fa + fb) - a / (a + b)) < 0.01
    assert abs(math.log((fa + fb) / (a + b))) < 0.2


def test_fit_beta_prior_likelihood_not_worse_than_moments():
    from scipy.special import betaln

    rng = np.random.default_rng(5)
    n = rng.integers(1, 30, 3000)
    s = rng.binomial(n, rng.beta(1.5, 6.0, 3000))

    def ll(ab):
        a, b = ab
        return np.sum(betaln(a + s, b + n - s) - betaln(a, b))

    assert ll(fit_beta_prior(s, n, method="likelihood")) >= ll(fit_beta_prior(s, n)) - 1e-6


def test_fit_beta_prior_degenerate_populations():
    # no trials at all: the default, weak prior
    assert fit_beta_prior([0, 0, 0], [0, 0, 0]) == (1.0, 1.0)
    assert fit_beta_prior([], []) == (1.0, 1.0)
    assert fit_beta_prior([0], [0], default_mean=0.2, min_strength=5.0) == pytest.approx((1.0, 4.0))
    # nobody ever succeeded: mean at the floor, fully pooled, finite
    for method in ("moments", "likelihood"):
        a, b = fit_beta_prior(np.zeros(50), np.full(50, 10.0), method=method, max_strength=500.0)
        assert a / (a + b) == pytest.approx(MEAN_EPS) and a + b == pytest.approx(500.0)
    # everybody always succeeded
    a, b = fit_beta_prior(np.full(50, 10.0), np.full(50, 10.0))
    assert a / (a + b) == pytest.approx(1 - MEAN_EPS)
    # one item, or one trial per item: spread is not identifiable -> weak prior
    assert sum(fit_beta_prior([3], [10], min_strength=3.0)) == pytest.approx(3.0)
    assert sum(fit_beta_prior([0, 1, 1, 0, 1], [1, 1, 1, 1, 1])) == pytest.approx(2.0)
    # identical rates everywhere: no spread beyond noise -> pooled
    assert sum(fit_beta_prior(np.full(100, 50.0), np.full(100, 100.0), max_strength=1e4)) == pytest.approx(1e4)
    assert sum(fit_beta_prior(np.full(100, 50.0), np.full(100, 100.0))) == pytest.approx(1e8)
    assert sum(fit_beta_prior(np.zeros(10), np.arange(1, 11.0), method="likelihood")) == pytest.approx(1e7)
    # items without trials are ignored
    assert fit_beta_prior([5, 0], [10, 0]) == fit_beta_prior([5], [10])


@pytest.mark.parametrize("kwargs, msg", [
    (dict(method="mle"), "The 'method' parameter of fit_beta_prior must be a str among ['likelihood', 'moments']. Got 'mle' instead."),
    (dict(min_strength=0.0), "The 'min_strength' parameter of fit_beta_prior must be a finite float in the range (0, inf). Got 0.0 instead."),
    (dict(max_strength=float("inf")), "The 'max_strength' parameter of fit_beta_prior must be a finite float in the range (0, inf). Got inf instead."),
    (dict(min_strength=10.0, max_strength=5.0), "The 'min_strength' parameter of fit_beta_prior must be <= max_strength (5.0). Got 10.0 instead."),
    (dict(default_mean=1.0), "The 'default_mean' parameter of fit_beta_prior must be a float in the range (0, 1). Got 1.0 instead."),
])
def test_fit_beta_prior_invalid_parameters(kwargs, msg):
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        fit_beta_prior([1], [2], **kwargs)


@pytest.mark.parametrize("s, n, msg", [
    ([1, 2], [3], "successes and trials must have the same shape. Got (2,) and (1,)."),
    ([3], [2], "successes and trials must satisfy 0 <= successes <= trials."),
    ([-1], [2], "successes and trials must satisfy 0 <= successes <= trials."),
    ([np.nan], [2], "successes and trials must be finite."),
])
def test_fit_beta_prior_invalid_data(s, n, msg):
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        fit_beta_prior(s, n)


def test_prior_validation():
    with pytest.raises(ValueError, match=re.escape("The 'alpha' parameter of Prior must have shape (9,). Got (2,) instead.")):
        Prior(np.ones(2), np.ones(9))
    with pytest.raises(ValueError, match="The 'beta' parameter of Prior must hold finite values > 0"):
        Prior(np.ones(9), np.zeros(9))
    p = Prior(np.full(9, 2.0), np.full(9, 6.0))
    assert np.allclose(p.mean, 0.25) and np.allclose(p.strength, 8.0)
    assert p.as_dict()["open"] == (2.0, 6.0)


def test_fit_prior_retention_counts_each_creator_once():
    rng = np.random.default_rng(0)
    c = population(rng, 60, creators=6)
    # duplicate every video of creator 0 many times: the retention prior must not move
    rows = np.concatenate([np.arange(60), np.repeat(np.flatnonzero(c.creator_id == 0), 20)])
    cols = {k: v[rows] for k, v in c.to_columns().items()}
    cols["video_id"] = np.arange(rows.size)
    c2 = Counters.from_columns(cols)
    j = RATE_NAMES.index("retention")
    p1, p2 = fit_prior(c), fit_prior(c2)
    assert p1.alpha[j] == pytest.approx(p2.alpha[j]) and p1.beta[j] == pytest.approx(p2.beta[j])


# --------------------------------------------------------------------------- signals


def test_rate_order_is_what_the_kernel_assumes():
    assert RATE_NAMES == ref.RATES
    assert SIGNAL_NAMES == ("play3", "completion", "avg_play", "like", "comment", "share_ft", "rr_reach")


@pytest.mark.parametrize("seed, n", [(0, 0), (0, 1), (1, 2), (2, 7), (3, 50), (4, 300)])
def test_compute_signals_matches_slow_twin(seed, n):
    rng = np.random.default_rng(seed)
    c = population(rng, n)
    cols = c.to_columns()
    # unknown durations, videos never shown, ties (duplicated rows)
    cols["duration_s"] = np.where(rng.random(n) < 0.2, 0.0, cols["duration_s"])
    cols["impressions"] = np.where(rng.random(n) < 0.1, 0.0, cols["impressions"])
    for k in ("plays_3s", "completions", "watch_s", "likes", "comments", "shares", "follows"):
        cols[k] = np.where(cols["impressions"] == 0, 0.0, cols[k])
    if n >= 2:
        for k in cols:
            if k != "video_id":
                cols[k][1] = cols[k][0]
    c = Counters.from_columns(cols)
    s = compute_signals(c)
    assert s.matrix.shape == (n, 7) and s.matrix.dtype == np.float64 and s.matrix.flags.c_contiguous
    assert np.all(np.isfinite(s.matrix))
    m, a, b = ref.signals(c, s.prior.alpha, s.prior.beta)
    np.testing.assert_allclose(s.matrix, m, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(s.alpha, a, rtol=1e-12)
    np.testing.assert_allclose(s.beta, b, rtol=1e-12)
    assert np.all(s.alpha > 0) and np.all(s.beta > 0)
    if n >= 2:
        np.testing.assert_array_equal(s.matrix[0], s.matrix[1])
    if n:
        np.testing.assert_array_equal(s.column("like"), s.matrix[:, 3])


@needs_two_threads
def test_compute_signals_same_bits_for_any_thread_count():
    c = population(np.random.default_rng(12), 5000)
    prior = fit_prior(c)
    old = _numba.set_threads(None)
    try:
        _numba.set_threads(1)
        one = compute_signals(c, prior)
        _numba.set_threads(min(2, _numba.numba.config.NUMBA_NUM_THREADS))
        two = compute_signals(c, prior)
    finally:
        _numba.set_threads(old)
    for f in ("matrix", "alpha", "beta"):
        assert np.array_equal(getattr(one, f), getattr(two, f))


def test_prior_argument_is_used_and_checked():
    c = population(np.random.default_rng(13), 50)
    p = Prior(np.full(9, 2.0), np.full(9, 8.0))
    s = compute_signals(c, p)
    assert s.prior is p
    np.testing.assert_allclose(s.matrix, ref.signals(c, p.alpha, p.beta)[0], rtol=1e-10, atol=1e-12)
    with pytest.raises(TypeError, match="The 'prior' parameter of compute_signals must be a Prior or None. Got dict instead."):
        compute_signals(c, {})
    with pytest.raises(TypeError, match="compute_signals expects a Counters. Got dict instead."):
        compute_signals({})


def test_no_data_is_zero_and_unknown_duration_is_neutral():
    rng = np.random.default_rng(0)
    prior = fit_prior(population(rng, 200))
    c = one_video()
    assert np.all(compute_signals(c, prior).matrix == 0.0)
    # unknown duration: completion and avg_play say nothing, even with completions logged
    c = one_video(impressions=50, plays_3s=40, completions=30, watch_s=900.0, duration_s=0.0)
    m = compute_signals(c, prior).matrix[0]
    assert m[1] == 0.0 and m[2] == 0.0 and m[0] != 0.0


def test_a_population_of_equal_videos_sits_at_zero():
    n = 40
    cols = {c: np.zeros(n) for c in COUNTER_COLUMNS}
    cols.update(video_id=np.arange(n), creator_id=np.arange(n), impressions=np.full(n, 100.0),
                plays_3s=np.full(n, 60.0), completions=np.full(n, 30.0), watch_s=np.full(n, 2000.0),
                duration_s=np.full(n, 40.0), likes=np.full(n, 5.0), shares=np.full(n, 2.0),
                share_recipients=np.full(n, 4.0), share_opens=np.full(n, 2.0))
    s = compute_signals(Counters.from_columns(cols))
    # comments, opens... : nobody ever commented, so nobody is below average either
    assert np.max(np.abs(s.matrix)) < 1e-5


def test_a_rate_nobody_reached_does_not_penalize_exposure():
    # no comments anywhere: a video shown 10^5 times is not 'worse' at comments than one shown once
    rng = np.random.default_rng(8)
    c = population(rng, 200)
    cols = c.to_columns()
    cols["comments"] = np.zeros(200)
    cols["impressions"][0] = 1e5
    c = Counters.from_columns(cols)
    comment = compute_signals(c).column("comment")
    assert np.max(np.abs(comment)) < 1e-5


def test_each_signal_reads_its_own_counter():
    rng = np.random.default_rng(4)
    c = population(rng, 100)
    prior = fit_prior(c)
    base = compute_signals(c, prior).matrix[7]
    i = 7
    imp = c.impressions[i]
    # plays_3s are also the completion rate's trials (completion per 3-second play)
    for col, j in [("plays_3s", [0, 1]), ("completions", [1]), ("likes", [3]), ("comments", [4])]:
        v = getattr(c, col)[i]
        new = min(imp, v + 5) if v + 5 <= imp else max(0.0, v - 5)
        if col == "completions":
            new = min(c.plays_3s[i], v + 5) if v + 5 <= c.plays_3s[i] else max(0.0, v - 5)
        m = compute_signals(with_row(c, i, **{col: new}), prior).matrix[i]
        changed = np.flatnonzero(m != base)
        assert changed.tolist() == j, col


def test_completion_is_per_3s_play_so_a_hook_lifts_play3_not_completion():
    """Two videos that hold their viewers alike, one with twice the 3-second plays (a strong hook):
    the hook lifts play3 (and avg_play, per impression) and leaves completion where it is."""
    rng = np.random.default_rng(5)
    prior = fit_prior(population(rng, 300))
    plain = one_video(impressions=1000, plays_3s=300, completions=120, watch_s=300 * 40.0 * 0.5, duration_s=60.0)
    hooked = one_video(impressions=1000, plays_3s=600, completions=240, watch_s=600 * 40.0 * 0.5, duration_s=60.0)
    a, b = compute_signals(plain, prior).matrix[0], compute_signals(hooked, prior).matrix[0]
    names = list(SIGNAL_NAMES)
    assert b[names.index("play3")] - a[names.index("play3")] > 0.5  # about ln 2 less shrinkage
    assert b[names.index("completion")] == pytest.approx(a[names.index("completion")], abs=0.01)
    # the posterior's trials are the plays
    s = compute_signals(hooked, prior)
    j = names.index("completion")
    assert s.alpha[0, j] + s.beta[0, j] == pytest.approx(prior.alpha[1] + prior.beta[1] + 600)
    # a log whose completions outnumber its plays (videos under 3 s) counts at most the plays
    short = one_video(impressions=100, plays_3s=10, completions=40, watch_s=200.0, duration_s=2.0)
    s = compute_signals(short, prior)
    assert s.alpha[0, j] == pytest.approx(prior.alpha[1] + 10) and s.beta[0, j] == pytest.approx(prior.beta[1])


def test_shrinkage_small_samples_sit_near_zero_large_near_raw():
    rng = np.random.default_rng(11)
    n = 3000
    imp = rng.integers(50, 500, n).astype(float)
    rates = rng.beta(12.0, 8.0, n)  # 3 s play rates around 0.6
    plays = rng.binomial(imp.astype(int), rates).astype(float)
    cols = {c: np.zeros(n) for c in COUNTER_COLUMNS}
    cols.update(video_id=np.arange(n), creator_id=np.arange(n), impressions=imp, plays_3s=plays)
    prior = fit_prior(Counters.from_columns(cols))
    m0 = prior.mean[0]
    small = compute_signals(one_video(impressions=3, plays_3s=3), prior).matrix[0, 0]
    raw_small = math.log(1.0 / m0)
    assert 0 < small < 0.25 * raw_small
    small0 = compute_signals(one_video(impressions=3, plays_3s=0), prior).matrix[0, 0]
    assert 0.25 * math.log(1e-3) < small0 < 0
    big = compute_signals(one_video(impressions=100_000, plays_3s=90_000), prior).matrix[0, 0]
    assert big == pytest.approx(math.log(0.9 / m0), abs=2e-3)


def test_share_follow_through_sign_and_scale():
    rng = np.random.default_rng(2)
    prior = fit_prior(population(rng, 400))
    o0 = prior.mean[RATE_NAMES.index("open")]
    kw = dict(impressions=1000, plays_3s=500, duration_s=30.0)
    opened = compute_signals(one_video(shares=100, share_recipients=300, share_opens=300, **kw), prior).matrix[0, 5]
    ignored = compute_signals(one_video(shares=100, share_recipients=300, share_opens=0, **kw), prior).matrix[0, 5]
    at_prior = compute_signals(one_video(shares=100, share_recipients=1e6, share_opens=round(o0 * 1e6), **kw), prior).matrix[0, 5]
    none = compute_signals(one_video(shares=0, **kw), prior).matrix[0, 5]
    assert opened > 0 > ignored
    assert abs(at_prior) < 1e-3 * abs(ignored)
    assert none == 0.0
    # more shares amplify in both directions (share-bait counts against)
    fewer = compute_signals(one_video(shares=10, share_recipients=300, share_opens=0, **kw), prior).matrix[0, 5]
    assert ignored < fewer < 0


def test_regular_reader_reach_small_loyal_beats_large_inactive():
    rng = np.random.default_rng(3)
    prior = fit_prior(population(rng, 400))
    small = compute_signals(one_video(creator_followers=200, creator_regular_readers=150,
                                      rr_impressions=100, rr_plays_3s=80), prior).matrix[0, 6]
    large = compute_signals(one_video(creator_followers=100_000, creator_regular_readers=2_000,
                                      rr_impressions=100, rr_plays_3s=80), prior).matrix[0, 6]
    assert small > 0 > large


# --------------------------------------------------------------------------- properties (fixed prior)

_PRIOR_POP = population(np.random.default_rng(99), 300)
_PRIOR = fit_prior(_PRIOR_POP)
_W = ScoreWeights()


def _score(c, i):
    m = compute_signals(c, _PRIOR).matrix
    return m[i], base_scores(m, _W)[i]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shares=st.integers(0, 300), per=st.integers(1, 5),
       o1=st.floats(0, 1), o2=st.floats(0, 1))
def test_property_more_share_opens_never_lowers_share_ft_nor_score(seed, shares, per, o1, o2):
    c = population(np.random.default_rng(seed), 5)
    imp = max(shares, c.impressions[0])
    recip = shares * per
    lo, hi = sorted([math.floor(o1 * recip), math.floor(o2 * recip)])
    c = with_row(c, 0, impressions=imp, shares=shares, share_recipients=recip, share_opens=lo)
    m_lo, s_lo = _score(c, 0)
    m_hi, s_hi = _score(with_row(c, 0, share_opens=hi), 0)
    assert m_hi[5] >= m_lo[5]
    assert s_hi >= s_lo
    np.testing.assert_array_equal(np.delete(m_hi, 5), np.delete(m_lo, 5))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), followers=st.integers(0, 100_000), r1=st.floats(0, 1), r2=st.floats(0, 1))
def test_property_more_regular_readers_never_lowers_rr_reach_nor_score(seed, followers, r1, r2):
    c = population(np.random.default_rng(seed), 5)
    lo, hi = sorted([math.floor(r1 * followers), math.floor(r2 * followers)])
    c = with_row(c, 0, creator_followers=followers, creator_regular_readers=lo)
    m_lo, s_lo = _score(c, 0)
    m_hi, s_hi = _score(with_row(c, 0, creator_regular_readers=hi), 0)
    assert m_hi[6] >= m_lo[6]
    assert s_hi >= s_lo


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), readers=st.integers(0, 10_000), f1=st.integers(0, 100_000),
       f2=st.integers(0, 100_000))
def test_property_more_followers_alone_never_raise_rr_reach(seed, readers, f1, f2):
    c = population(np.random.default_rng(seed), 5)
    lo, hi = sorted([readers + f1, readers + f2])
    c = with_row(c, 0, creator_followers=lo, creator_regular_readers=readers)
    m_lo, s_lo = _score(c, 0)
    m_hi, s_hi = _score(with_row(c, 0, creator_followers=hi), 0)
    assert m_hi[6] <= m_lo[6]
    assert s_hi <= s_lo
    if hi > lo:
        assert m_hi[6] < m_lo[6]


def test_default_weights_make_higher_share_follow_through_score_higher():
    # guards the properties above: they are vacuous if a weight is 0
    assert _W.share_ft > 0 and _W.rr_reach > 0


# --------------------------------------------------------------------------- user affinity


@pytest.mark.parametrize("seed, users, topics", [(0, 1, 1), (1, 5, 3), (2, 40, 12)])
def test_user_affinity_matches_slow_twin(seed, users, topics):
    rng = np.random.default_rng(seed)
    imp = rng.integers(0, 30, (users, topics)) * (rng.random((users, topics)) < 0.7)
    plays = rng.binomial(imp, rng.random((users, topics)))
    imp[0] = 0  # a user with no data
    plays[0] = 0
    a = user_affinity(imp, plays, 5.0)
    assert a.dtype == np.float32 and a.shape == (users, topics)
    np.testing.assert_allclose(a, ref.affinity(imp, plays, 5.0), rtol=1e-5, atol=1e-6)
    assert np.all(a[0] == 0)
    assert np.all(a[imp == 0] == 0)


def test_user_affinity_direction_and_shrinkage():
    imp = np.array([[100, 100, 2, 0]])
    plays = np.array([[90, 10, 2, 0]])
    a = user_affinity(imp, plays, 10.0)[0]
    assert a[0] > 0 > a[1] and a[3] == 0
    assert 0 < a[2] < a[0]  # two plays out of two: shrunk below the well-measured favourite
    weak = user_affinity(imp, plays, 1000.0)[0]
    assert np.all(np.abs(weak) <= np.abs(a) + 1e-7)
    # a user who never plays anything: nothing is known
    assert np.all(user_affinity([[5, 5]], [[0, 0]], 1.0) == 0)


@pytest.mark.parametrize("imp, plays, k, msg", [
    (np.ones((2, 2)), np.ones((2, 2)), 0.0, "The 'strength' parameter of user_affinity must be a float in the range (0, inf). Got 0.0 instead."),
    (np.ones((2, 2)), np.ones((2, 2)), True, "The 'strength' parameter of user_affinity must be a float in the range (0, inf). Got True instead."),
    (np.ones(2), np.ones(2), 1.0, "user_topic_impressions must be 2-D (n_users, n_topics). Got shape (2,) instead."),
    (np.ones((2, 2)), np.ones((2, 3)), 1.0, "user_topic_plays must have the shape of user_topic_impressions (2, 2). Got (2, 3) instead."),
    (np.ones((2, 2)), np.full((2, 2), 2.0), 1.0, "user_topic_plays must not exceed user_topic_impressions."),
    (-np.ones((2, 2)), np.zeros((2, 2)), 1.0, "user_topic_impressions and user_topic_plays must be >= 0."),
    (np.full((2, 2), np.nan), np.zeros((2, 2)), 1.0, "user_topic_impressions and user_topic_plays must be finite."),
])
def test_user_affinity_invalid_inputs(imp, plays, k, msg):
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        user_affinity(imp, plays, k)


def test_fit_prior_checks_its_parameters():
    c = population(np.random.default_rng(21), 400)
    with pytest.raises(ValueError, match=re.escape("The 'method' parameter of fit_prior must be a str among ['likelihood', 'moments']. Got 'x' instead.")):
        fit_prior(c, method="x")
    with pytest.raises(ValueError, match=re.escape("The 'min_strength' parameter of fit_prior must be <= max_strength (1.0). Got 2.0 instead.")):
        fit_prior(c, max_strength=1.0)
    pl = fit_prior(c, method="likelihood", max_strength=1e6)
    assert np.all(pl.strength >= 2.0 - 1e-9) and np.all(pl.strength <= 1e6 * (1 + 1e-9))
