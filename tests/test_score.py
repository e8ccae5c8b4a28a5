import os
import re

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ranker import _score_kernels as K
from ranker import _vector_ir as VIR
from ranker._numba import set_threads
from ranker.score import ScoreWeights, base_scores, score_requests, weight_vector
from ranker.signals import SIGNAL_NAMES
from tests import reference_score as ref
from tests.conftest import needs_two_threads

W = ScoreWeights()


# --- weights and base scores ---------------------------------------------------

def test_weight_vector_follows_signal_order():
    vals = {name: float(i + 1) / 8 for i, name in enumerate(SIGNAL_NAMES)}
    w = weight_vector(ScoreWeights(**vals))
    assert w.dtype == np.float64 and w.shape == (7,)
    assert list(w) == [vals[n] for n in SIGNAL_NAMES]
    assert list(weight_vector(W)) == ref.weight_vector(W)
    assert ref.SIGNAL_NAMES == SIGNAL_NAMES


def test_score_weights_defaults_documented():
    doc = ScoreWeights.__doc__
    for name, _, default, _ in ScoreWeights.describe():
        assert f"{name} = {default}" in doc


@pytest.mark.parametrize("seed, n", [(0, 0), (1, 1), (2, 17), (3, 1000)])
def test_base_scores_match_reference(seed, n):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 7))
    w = ScoreWeights(**{name: float(rng.uniform(-2, 2)) for name in SIGNAL_NAMES})
    got = base_scores(x, w)
    assert got.dtype == np.float64 and got.shape == (n,)
    np.testing.assert_array_equal(got, ref.base_scores(x, w))


def test_base_scores_monotone_in_each_positive_weight():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((50, 7))
    b0 = base_scores(x, W)
    for i, name in enumerate(SIGNAL_NAMES):
        x2 = x.copy()
        x2[:, i] += 0.25
        assert np.all(base_scores(x2, W) > b0) == (getattr(W, name) > 0)


@pytest.mark.parametrize("args, err, msg", [
    ((np.zeros((3, 6)), W), ValueError,
     "The 'signals_matrix' parameter of base_scores must have 7 columns ('play3', 'completion', 'avg_play', "
     "'like', 'comment', 'share_ft', 'rr_reach'). Got an array of shape (3, 6) instead."),
    ((np.zeros(7), W), ValueError,
     "The 'signals_matrix' parameter of base_scores must be a 2-D array of floats. Got an array of shape (7,) instead."),
    ((np.zeros((3, 7), dtype=object), W), TypeError,
     "The 'signals_matrix' parameter of base_scores must be a 2-D array of floats. "
     "Got an array of dtype object and shape (3, 7) instead."),
    ((np.zeros((3, 7)), {"play3": 1.0}), TypeError,
     "The 'weights' parameter of base_scores must be a ScoreWeights. Got dict instead."),
])
def test_base_scores_invalid(args, err, msg):
    with pytest.raises(err, match=re.escape(msg)):
        base_scores(*args)


# --- helpers called from other kernels ------------------------------------------

def _scores(rng, n, kind):
    """Scores of a few kinds: continuous, heavy ties, all equal, and partly masked."""
    if kind == "normal":
        s = rng.standard_normal(n)
    elif kind == "ties":
        s = rng.integers(0, 3, n).astype(np.float64) / 2
    elif kind == "equal":
        s = np.full(n, 0.5)
    else:  # masked
        s = rng.standard_normal(n)
        s[rng.random(n) < 0.4] = -np.inf
        if n:
            s[rng.random(n) < 0.1] = np.nan
    return s


SHAPES = [(n, k) for n in (0, 1, 2, 7, 16, 70, 300) for k in (1, 3, 8, 12, 400)]


@pytest.mark.parametrize("kind", ["normal", "ties", "equal", "masked"])
@pytest.mark.parametrize("seed", [0, 1])
def test_topk_into_matches_reference(kind, seed):
    rng = np.random.default_rng(seed)
    for n, k in SHAPES:
        s = _scores(rng, n, kind)
        ids = rng.permutation(10 * n + 1)[:n].astype(np.int32)
        if seed == 1 and n > 2:
            ids[: n // 3] = ids[n // 3: 2 * (n // 3)]  # duplicated ids: same output either way
        out = np.full(k + 2, -7, np.int32)
        m = K.topk_into(s, ids, n, k, out)
        want = ref.topk(s, ids, k)
        assert m == len(want), (n, k)
        assert list(out[:m]) == want, (n, k)
        assert np.all(out[m:] == -7)  # untouched past m


@pytest.mark.parametrize("kind", ["normal", "ties", "equal", "masked"])
@pytest.mark.parametrize("seed", [0, 1])
def test_topk_quota_into_matches_reference(kind, seed):
    rng = np.random.default_rng(100 + seed)
    for n, k in SHAPES:
        for share_new in (0.0, 0.2, 1.0):
            for n_quota in (0, 1, 3, k, k + 5):
                s = _scores(rng, n, kind)
                ids = rng.permutation(10 * n + 1)[:n].astype(np.int32)
                is_new = rng.random(n) < share_new
                out = np.full(k + 2, -7, np.int32)
                m = K.topk_quota_into(s, ids, is_new, n, k, n_quota, out)
                want = ref.topk_quota(s, ids, is_new, k, n_quota)
                assert list(out[:m]) == want, (n, k, share_new, n_quota)
                assert np.all(out[m:] == -7)


def test_topk_quota_edge_cases():
    s = np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.0])
    ids = np.arange(6, dtype=np.int32)
    out = np.empty(8, np.int32)
    none_new = np.zeros(6, bool)
    all_new = np.ones(6, bool)
    last_new = np.array([0, 0, 0, 0, 1, 1], bool)
    # no new candidates: the quota cannot be met and changes nothing
    assert K.topk_quota_into(s, ids, none_new, 6, 3, 2, out) == 3 and list(out[:3]) == [0, 1, 2]
    # all new: same as no quota
    assert K.topk_quota_into(s, ids, all_new, 6, 3, 2, out) == 3 and list(out[:3]) == [0, 1, 2]
    # two slots for the two weakest (new) posts, ordered by score in the slate
    assert K.topk_quota_into(s, ids, last_new, 6, 3, 2, out) == 3 and list(out[:3]) == [0, 4, 5]
    # quota above k: the whole slate may go to new posts
    assert K.topk_quota_into(s, ids, last_new, 6, 2, 10, out) == 2 and list(out[:2]) == [4, 5]
    # quota 0 equals plain top-k
    assert K.topk_quota_into(s, ids, last_new, 6, 3, 0, out) == 3 and list(out[:3]) == [0, 1, 2]
    # masked new posts do not count
    s2 = s.copy()
    s2[4] = -np.inf
    assert K.topk_quota_into(s2, ids, last_new, 6, 3, 2, out) == 3 and list(out[:3]) == [0, 1, 5]


def test_sorting_network_and_bound():
    # 0-1 principle: a comparator network sorts every input iff it sorts every 0/1 input
    for bits in range(256):
        a = [float((bits >> i) & 1) for i in range(8)]
        assert list(K._sort8(*a)) == sorted(a, reverse=True)
    rng = np.random.default_rng(5)
    for n in (16, 17, 31, 64, 65, 200):
        for kind in ("normal", "ties", "masked"):
            x = _scores(rng, n, kind)  # NaN (masked) entries are ignored
            assert K._bound8(x, n) <= np.sort(np.where(np.isnan(x), -np.inf, x))[::-1][7]
    x = np.arange(64.0)  # sorted input: the bound is exact
    assert K._bound8(x, 64) == 56.0 and K._bound8(x[::-1].copy(), 64) == 56.0


# --- batch face ------------------------------------------------------------------

def _batch(rng, n_req, width, n_videos, *, ties=False, mask=True, aff_dtype=np.float32, distinct=False):
    """A random CSR batch; widths vary in [0, width]."""
    lens = rng.integers(0, width + 1, n_req)
    indptr = np.zeros(n_req + 1, np.int64)
    np.cumsum(lens, out=indptr[1:])
    n_cand = int(indptr[-1])
    if distinct:
        cand = np.concatenate([rng.permutation(n_videos)[:m] for m in lens]).astype(np.int32) if n_cand else \
            np.zeros(0, np.int32)
    else:
        cand = rng.integers(0, n_videos, n_cand).astype(np.int32) if n_videos else np.full(n_cand, -1, np.int32)
    if ties:
        base = rng.integers(-2, 3, n_videos) / 2.0
        boost = rng.integers(0, 2, n_videos) / 4.0
        aff = (rng.integers(0, 2, n_cand) / 2.0).astype(aff_dtype)
    else:
        base = rng.standard_normal(n_videos)
        boost = np.where(rng.random(n_videos) < 0.2, rng.uniform(0, 1, n_videos), 0.0)
        aff = rng.standard_normal(n_cand).astype(aff_dtype)
    rr = rng.random(n_cand) < 0.15
    if mask and n_videos:
        base[rng.random(n_videos) < 0.1] = -np.inf
        boost[rng.random(n_videos) < 0.05] = -np.inf
        if n_cand:
            cand[rng.random(n_cand) < 0.05] = -1
    is_new = rng.random(n_videos) < 0.3
    return indptr, cand, aff, rr, base, boost, is_new


def _check_against_reference(batch, k, n_quota=0, weights=W):
    indptr, cand, aff, rr, base, boost, is_new = batch
    top, sc = score_requests(indptr, cand, aff, rr, base, boost, weights, k, n_quota=n_quota,
                             is_new=is_new if n_quota else None)
    want, want_sc = ref.score_requests(indptr, cand, aff, rr, base, boost, weights.affinity,
                                       weights.regular_reader, k, n_quota, is_new)
    assert top.dtype == np.int32 and sc.dtype == np.float64
    assert top.shape == sc.shape == (len(indptr) - 1, k)
    np.testing.assert_array_equal(top, want)
    np.testing.assert_allclose(sc, want_sc, rtol=1e-14, atol=1e-14)
    return top, sc


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n_req, width, n_videos, k", [
    (0, 5, 10, 8),      # no requests
    (40, 0, 10, 8),     # every candidate set empty
    (60, 1, 10, 8),     # at most one candidate
    (200, 20, 50, 1),   # k = 1
    (300, 70, 400, 8),  # the engine's shape: bounded path
    (100, 70, 400, 10), # k > 8: no bound, rank counting
    (50, 200, 1000, 8), # wide rows
    (30, 150, 60, 12),  # k > 8 and more survivors than the rank path takes
    (40, 6, 30, 20),    # k > n
])
def test_score_requests_matches_reference(seed, n_req, width, n_videos, k):
    rng = np.random.default_rng(seed)
    _check_against_reference(_batch(rng, n_req, width, n_videos), k)
    _check_against_reference(_batch(rng, n_req, width, n_videos, ties=True, aff_dtype=np.float64), k)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("k, n_quota", [(8, 1), (8, 3), (8, 8), (5, 12), (1, 1)])
def test_score_requests_quota_matches_reference(seed, k, n_quota):
    rng = np.random.default_rng(10 + seed)
    for ties in (False, True):
        batch = _batch(rng, 150, 40, 120, ties=ties)
        top, _ = _check_against_reference(batch, k, n_quota)
        is_new = batch[-1]
        # the guarantee itself, per request
        indptr, cand, base, boost = batch[0], batch[1], batch[4], batch[5]
        for r in range(len(indptr) - 1):
            c = cand[indptr[r]:indptr[r + 1]]
            c = c[c >= 0]
            live = c[(base[c] > -np.inf) & (boost[c] > -np.inf)]
            row = top[r][top[r] >= 0]
            assert len(row) == min(k, len(live))
            assert is_new[row].sum() >= min(n_quota, k, is_new[live].sum())


def test_score_requests_edge_rows():
    base = np.array([1.0, 2.0, -np.inf, 0.5])
    boost = np.array([0.0, 0.0, 0.0, -np.inf])
    w = ScoreWeights(affinity=0.0, regular_reader=1.0)
    indptr = np.array([0, 0, 1, 4, 6, 9])
    cand = np.array([1, 2, 3, -1, 0, 1, -1, 1, 0])
    aff = np.zeros(9, np.float32)
    rr = np.array([0, 0, 0, 0, 1, 0, 0, 0, 1], bool)
    top, sc = score_requests(indptr, cand, aff, rr, base, boost, w, 2)
    # empty set; one candidate; all masked; a tie at 2.0 broken by the smaller id; a -1 pad
    np.testing.assert_array_equal(top, [[-1, -1], [1, -1], [-1, -1], [0, 1], [0, 1]])
    np.testing.assert_array_equal(sc, [[-np.inf, -np.inf], [2.0, -np.inf], [-np.inf, -np.inf],
                                       [2.0, 2.0], [2.0, 2.0]])
    # no videos at all: only padding
    top, _ = score_requests([0, 2], [-1, -1], [0.0, 0.0], [0, 0], np.zeros(0), np.zeros(0), w, 3)
    np.testing.assert_array_equal(top, [[-1, -1, -1]])


def test_score_requests_all_ties_wide_rows():
    # 100 equal scores per row: survivors exceed the rank path; ties go by id
    rng = np.random.default_rng(7)
    n_req, width, nv = 20, 100, 500
    indptr = np.arange(0, (n_req + 1) * width, width)
    cand = np.concatenate([rng.permutation(nv)[:width] for _ in range(n_req)]).astype(np.int32)
    zeros = np.zeros(n_req * width)
    top, sc = score_requests(indptr, cand, zeros, zeros.astype(bool), np.zeros(nv), np.zeros(nv), W, 8)
    for r in range(n_req):
        np.testing.assert_array_equal(top[r], np.sort(cand[r * width:(r + 1) * width])[:8])
    assert np.all(sc == 0.0)


def test_score_requests_input_dtypes_agree():
    rng = np.random.default_rng(8)
    indptr, cand, aff, rr, base, boost, _ = _batch(rng, 50, 30, 80)
    a = score_requests(indptr, cand, aff, rr, base, boost, W, 8)
    b = score_requests(indptr.astype(np.int32), cand.astype(np.int64), aff.astype(np.float64),
                       rr.astype(np.int64), list(base), boost, W, 8)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_weights_move_scores_the_right_way():
    rng = np.random.default_rng(9)
    indptr, cand, aff, rr, base, boost, _ = _batch(rng, 100, 1, 50, mask=False)
    _, lo = score_requests(indptr, cand, aff, rr, base, boost, ScoreWeights(regular_reader=0.0), 1)
    _, hi = score_requests(indptr, cand, aff, rr, base, boost, ScoreWeights(regular_reader=1.0), 1)
    rows = np.flatnonzero(np.diff(indptr) == 1)
    r_rr = rows[rr[indptr[rows]]]
    r_no = rows[~rr[indptr[rows]]]
    assert r_rr.size and r_no.size
    np.testing.assert_allclose(hi[r_rr, 0] - lo[r_rr, 0], 1.0)
    np.testing.assert_array_equal(hi[r_no, 0], lo[r_no, 0])


@needs_two_threads
def test_score_requests_same_for_one_and_two_threads():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 Numba threads")
    rng = np.random.default_rng(11)
    batch = _batch(rng, 3000, 70, 2000)
    old = numba.get_num_threads()
    try:
        res = []
        for th in (1, 2):
            set_threads(th)
            res.append(score_requests(*batch[:-1], W, 8))
            res.append(score_requests(*batch[:-1], W, 8, n_quota=2, is_new=batch[-1]))
    finally:
        set_threads(old)
    for x, y in zip(res[:2], res[2:]):
        np.testing.assert_array_equal(x[0], y[0])
        assert x[1].tobytes() == y[1].tobytes()


# --- properties (hypothesis) -----------------------------------------------------

DYADIC = st.integers(-8, 8).map(lambda i: i / 4)  # exact arithmetic: ties happen, rounding never matters


@st.composite
def requests(draw):
    n_videos = draw(st.integers(1, 40))
    n_req = draw(st.integers(0, 6))
    sets = [draw(st.lists(st.integers(0, n_videos - 1), max_size=min(n_videos, 40), unique=True))
            for _ in range(n_req)]
    indptr = np.zeros(n_req + 1, np.int64)
    np.cumsum([len(s) for s in sets], out=indptr[1:])
    n_cand = int(indptr[-1])
    cand = np.array([v for s in sets for v in s], np.int32)
    base = np.array(draw(st.lists(st.one_of(DYADIC, st.just(-np.inf)), min_size=n_videos, max_size=n_videos)))
    boost = np.array(draw(st.lists(DYADIC, min_size=n_videos, max_size=n_videos)))
    aff = np.array(draw(st.lists(DYADIC, min_size=n_cand, max_size=n_cand)), np.float32)
    rr = np.array(draw(st.lists(st.booleans(), min_size=n_cand, max_size=n_cand)), bool)
    is_new = np.array(draw(st.lists(st.booleans(), min_size=n_videos, max_size=n_videos)), bool)
    return indptr, cand, aff, rr, base, boost, is_new


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=requests(), k=st.integers(1, 12), n_quota=st.integers(0, 14))
def test_property_topk_is_distinct_candidates_of_the_request(batch, k, n_quota):
    indptr, cand, aff, rr, base, boost, is_new = batch
    top, sc = _check_against_reference(batch, k, n_quota)
    for r in range(len(indptr) - 1):
        c = cand[indptr[r]:indptr[r + 1]]
        live = c[base[c] > -np.inf]
        row = top[r][top[r] >= 0]
        assert len(set(row)) == len(row) == min(k, len(live))
        assert set(row) <= set(live)
        assert np.all(top[r][len(row):] == -1) and np.all(sc[r][len(row):] == -np.inf)
        s = sc[r][: len(row)]
        assert np.all(s[:-1] >= s[1:])  # best first, with or without a quota


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=requests(), k=st.integers(1, 10))
def test_property_thread_count_does_not_matter(batch, k):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 Numba threads")
    old = numba.get_num_threads()
    try:
        set_threads(1)
        a = score_requests(*batch[:-1], W, k)
        set_threads(2)
        b = score_requests(*batch[:-1], W, k)
    finally:
        set_threads(old)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1].tobytes() == b[1].tobytes()


# --- invalid inputs -----------------------------------------------------------------

def _good():
    return dict(indptr=np.array([0, 2, 3]), cand_video=np.array([0, 1, 2], np.int32),
                cand_aff=np.zeros(3, np.float32), cand_rr=np.zeros(3, bool), base=np.zeros(4),
                boost=np.zeros(4), weights=W, k=2)


P = "The '{}' parameter of score_requests must "
INVALID = [
    (dict(k=0), ValueError, P.format("k") + "be an int in the range [1, inf). Got 0 instead."),
    (dict(k=2.0), TypeError, P.format("k") + "be an int in the range [1, inf). Got 2.0 instead."),
    (dict(k=True), TypeError, P.format("k") + "be an int in the range [1, inf). Got True instead."),
    (dict(n_quota=-1), ValueError, P.format("n_quota") + "be an int in the range [0, inf). Got -1 instead."),
    (dict(n_quota=2), ValueError,
     P.format("is_new") + "be a 1-D array of bools with one entry per video when n_quota > 0 (here 2). "
                          "Got None instead."),
    (dict(weights={"affinity": 1.0}), TypeError, P.format("weights") + "be a ScoreWeights. Got dict instead."),
    (dict(indptr=np.array([0.0, 2.0, 3.0])), TypeError,
     P.format("indptr") + "be a 1-D array of integers. Got an array of dtype float64 and shape (3,) instead."),
    (dict(indptr=np.zeros(0, int)), ValueError,
     P.format("indptr") + "have at least one entry (n_req + 1). Got an empty array instead."),
    (dict(indptr=np.array([1, 2, 3])), ValueError, P.format("indptr") + "start at 0. Got indptr[0] = 1 instead."),
    (dict(indptr=np.array([0, 3, 2, 3])), ValueError,
     P.format("indptr") + "be non-decreasing. Got indptr[1] = 3 > indptr[2] = 2 instead."),
    (dict(indptr=np.array([0, 2, 4])), ValueError,
     P.format("indptr") + "end at the number of candidates (len(cand_video) = 3). Got indptr[-1] = 4 instead."),
    (dict(indptr=np.array([[0, 2, 3]])), ValueError,
     P.format("indptr") + "be a 1-D array of integers. Got an array of shape (1, 3) instead."),
    (dict(cand_video=np.array([0, 4, 2])), ValueError,
     P.format("cand_video") + "hold video rows in the range [0, 4) or -1 (padding). Got 4 at index 1 instead."),
    (dict(cand_video=np.array([0, -2, 2])), ValueError,
     P.format("cand_video") + "hold video rows in the range [0, 4) or -1 (padding). Got -2 at index 1 instead."),
    (dict(cand_video=np.array([0, 1, 2**40])), ValueError,
     P.format("cand_video") + "hold video rows in the range [0, 4) or -1 (padding). Got 1099511627776 at index 2 "
                              "instead."),
    (dict(cand_video=np.array([0, 1, 7], np.int32)), ValueError,
     P.format("cand_video") + "hold video rows in the range [0, 4) or -1 (padding). Got 7 at index 2 instead."),
    (dict(cand_video=["a", "b", "c"]), TypeError,
     P.format("cand_video") + "be a 1-D array of integers. Got an array of dtype <U1 and shape (3,) instead."),
    (dict(cand_aff=np.array([0.0, np.nan, 0.0])), ValueError,
     P.format("cand_aff") + "be finite (as float32). Got nan at index 1 instead."),
    (dict(cand_aff=np.array([0.0, 0.0, -np.inf], np.float32)), ValueError,
     P.format("cand_aff") + "be finite (as float32). Got -inf at index 2 instead."),
    (dict(cand_aff=np.array([0.0, 1e300, 0.0])), ValueError,
     P.format("cand_aff") + "be finite (as float32). Got 1e+300 at index 1 instead."),
    (dict(cand_aff=np.zeros(2)), ValueError,
     P.format("cand_aff") + "have one entry per candidate (len(cand_video)) (3). Got an array of length 2 instead."),
    (dict(cand_aff=np.zeros(3, complex)), TypeError,
     P.format("cand_aff") + "be a 1-D array of floats. Got an array of dtype complex128 and shape (3,) instead."),
    (dict(cand_rr=np.array([0, 2, 1])), ValueError, P.format("cand_rr") + "hold only 0 and 1. Got 2 at index 1 instead."),
    (dict(cand_rr=np.zeros(3)), TypeError,
     P.format("cand_rr") + "be a 1-D array of bools (or 0/1 integers). Got an array of dtype float64 and shape (3,) "
                           "instead."),
    (dict(base=np.array([0.0, np.nan, 0.0, 0.0])), ValueError,
     P.format("base") + "hold floats or -inf (masked). Got nan at index 1 instead."),
    (dict(boost=np.array([0.0, 0.0, 0.0, np.inf])), ValueError,
     P.format("boost") + "hold floats or -inf (masked). Got inf at index 3 instead."),
    (dict(boost=np.zeros(5)), ValueError,
     P.format("boost") + "have one entry per video (len(base)) (4). Got an array of length 5 instead."),
    (dict(base=np.zeros((4, 1))), ValueError,
     P.format("base") + "be a 1-D array of floats. Got an array of shape (4, 1) instead."),
    (dict(n_quota=1, is_new=np.zeros(3, bool)), ValueError,
     P.format("is_new") + "have one entry per video (len(base)) (4). Got an array of length 3 instead."),
    (dict(n_quota=1, is_new=np.array([0.5, 0, 0, 0])), TypeError,
     P.format("is_new") + "be a 1-D array of bools (or 0/1 integers). Got an array of dtype float64 and shape (4,) "
                          "instead."),
]


@pytest.mark.parametrize("change, err, msg", INVALID)
def test_score_requests_invalid(change, err, msg):
    kw = dict(_good(), **change)
    with pytest.raises(err, match=re.escape(msg)):
        score_requests(**kw)


def test_score_requests_good_inputs_pass():
    top, sc = score_requests(**_good())
    np.testing.assert_array_equal(top, [[0, 1], [2, -1]])


_IR = pytest.mark.skipif(numba.config.DISABLE_JIT, reason="vector IR needs the JIT (the loops stand in for it)")
VECTOR_IR_HELPERS = [pytest.param("ir", marks=_IR), "loop"]


@pytest.mark.parametrize("impl", VECTOR_IR_HELPERS)
def test_rank16_counts_larger_scores(impl):
    # the vector-IR helper of the rank path and its plain loop: rk[i] = #{j < c: cs[j] > cs[i]} for all 16 slots
    from numba import njit

    f = {"ir": VIR.rank16_ir, "loop": VIR.rank16_loop}[impl]

    @njit
    def run(cs, c, rk):
        f(cs, c, rk)

    rng = np.random.default_rng(3)
    for c in range(17):
        for kind in ("normal", "ties"):
            cs = np.full(20, -np.inf)
            cs[:c] = _scores(rng, c, kind)
            cs[16:] = rng.standard_normal(4)  # past the 16 slots: never read as a slot
            rk = np.full(19, -7, np.int64)
            run(cs, c, rk)
            want = [int((cs[:c] > cs[i]).sum()) for i in range(16)]
            assert list(rk[:16]) == want, (c, kind)
            assert np.all(rk[16:] == -7)  # nothing written past slot 15


@pytest.mark.parametrize("impl", VECTOR_IR_HELPERS)
def test_mask_ge8_sets_the_bits_of_full_blocks(impl):
    # the vector-IR helper of the compaction and its plain loop: bit j for x[j] >= thr, over the full blocks of 8
    from numba import njit

    f = {"ir": VIR.mask_ge8_ir, "loop": VIR.mask_ge8_loop}[impl]

    @njit
    def run(x, n, thr):
        return f(x, n, thr)

    rng = np.random.default_rng(4)
    for n in range(65):
        for kind in ("normal", "ties", "masked"):
            x = np.concatenate([_scores(rng, n, kind), [np.inf] * 8])  # past n: never read as a block
            thr = 0.5 if kind == "ties" else 0.0
            want = sum(1 << j for j in range(n // 8 * 8) if x[j] >= thr)  # NaN >= thr is False
            assert int(run(x, n, thr)) == want, (n, kind)


def test_vector_ir_selected_only_with_the_jit():
    # with the JIT off the kernels' names are the loops (IR cannot run in Python)
    assert VIR.ENABLED == (not numba.config.DISABLE_JIT and os.environ.get("RANKSIM_VECTOR_IR", "1") != "0")
    assert (VIR.rank16 is VIR.rank16_ir) == VIR.ENABLED and (VIR.mask_ge8 is VIR.mask_ge8_ir) == VIR.ENABLED
    assert K.rank16 is VIR.rank16 and K.mask_ge8 is VIR.mask_ge8


@pytest.mark.slow
def test_score_kernels_run_with_the_jit_disabled():
    # every kernel of the top-k path runs as pure Python: the loops stand in for the vector IR
    code = (
        "import numpy as np\n"
        "from ranker import _vector_ir as V\n"
        "from ranker.score import ScoreWeights, score_requests\n"
        "assert not V.ENABLED and V.rank16 is V.rank16_loop\n"
        "rng = np.random.default_rng(5)\n"
        "n_req, width, nv = 6, 40, 300\n"
        "indptr = np.arange(n_req + 1, dtype=np.int64) * width\n"
        "vid = rng.integers(0, nv, n_req * width).astype(np.int32)\n"
        "aff = rng.standard_normal(n_req * width).astype(np.float32)\n"
        "rr = rng.random(n_req * width) < 0.2\n"
        "base, boost = rng.standard_normal(nv), np.zeros(nv)\n"
        "w = ScoreWeights(affinity=0.3, regular_reader=0.2)\n"
        "top, sc = score_requests(indptr, vid, aff, rr, base, boost, w, 8)\n"
        "top2, _ = score_requests(indptr, vid, aff, rr, base, boost, w, 8, n_quota=3, is_new=rng.random(nv) < 0.1)\n"
        "print(top.tolist(), top2.tolist())\n"
        "print(sc.tolist())\n"
    )
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    slow = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert slow.returncode == 0, slow.stderr[-2000:]
    fast = subprocess.run([sys.executable, "-c", code.replace("assert not V.ENABLED and V.rank16 is V.rank16_loop",
                                                                     "assert V.ENABLED")],
                          capture_output=True, text=True, timeout=600)
    assert fast.returncode == 0, fast.stderr[-2000:]
    (slow_top, slow_sc), (fast_top, fast_sc) = (r.stdout.splitlines() for r in (slow, fast))
    assert slow_top == fast_top and slow_top.count(",") > 80  # the same top-k, plain and with the quota
    # scores: the same up to rounding (pure Python promotes float32 * float differently from Numba)
    np.testing.assert_allclose(eval(slow_sc), eval(fast_sc), rtol=1e-6)


def test_topk_into_takes_strided_and_float32_scores():
    # the vector mask needs a contiguous float64 array; other arrays take the plain loop
    rng = np.random.default_rng(9)
    for n in (5, 16, 40, 64):
        for kind in ("normal", "ties", "masked"):
            s2 = _scores(rng, 2 * n, kind)
            ids = rng.permutation(10 * n)[:n].astype(np.int32)
            for s in (s2[::2], s2[:n].astype(np.float32)):
                out = np.full(8, -7, np.int32)
                m = K.topk_into(s, ids, n, 8, out)
                assert list(out[:m]) == ref.topk(np.asarray(s, np.float64), ids, 8), (n, kind, s.dtype)
