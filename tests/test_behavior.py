"""The behaviour model: kernel against its slow twin, the model's promises, replayability, validation."""

import math

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ranker import rng
from ranker._numba import set_threads
from sim import behavior as bh
from sim import behavior_batch as bb
from sim.behavior import BehaviorConfig
from tests import reference as ref_rng
from tests import reference_behavior as ref

CFG = BehaviorConfig()
BP = bh.behavior_params(CFG)
P = CFG.to_dict()
FLAGS = ("play3", "completed", "liked", "commented", "shared", "followed")
NO_JIT = numba.config.DISABLE_JIT
#: Rows in statistical tests (fewer in the pure-Python CI pass, where each row costs ~50 us).
N_STAT = 3000 if NO_JIT else 20000


def random_rows(n, seed, *, edge=True):
    """Impressions with wide traits; with ``edge``, short videos (d <= 3, d == 3), zero affinity, extremes."""
    r = np.random.default_rng(seed)
    follower = r.random(n) < 0.3
    x = dict(
        quality=r.normal(0.0, 1.5, n),
        hook=r.normal(0.0, 1.5, n),
        shareability=r.normal(0.0, 1.5, n),
        duration_s=r.lognormal(np.log(30.0), 1.0, n),
        affinity=r.gamma(0.5, 2.0, n),
        follower=follower,
        regular=follower & (r.random(n) < 0.5),
        users=r.integers(0, 10**6, n),
        slots=r.integers(0, 10**4, n),
    )
    if edge and n:
        m = r.random(n)
        x["duration_s"][m < 0.08] = r.uniform(0.05, 3.0, n)[m < 0.08]
        x["duration_s"][(m >= 0.08) & (m < 0.10)] = 3.0
        x["affinity"][(m >= 0.10) & (m < 0.15)] = 0.0
        x["quality"][(m >= 0.15) & (m < 0.17)] = 8.0
        x["hook"][(m >= 0.17) & (m < 0.19)] = -8.0
        x["duration_s"][(m >= 0.19) & (m < 0.20)] = 3600.0
    return x


def run(x, seed=11, day=4, cfg=BP, **kw):
    return bb.simulate_impressions(cfg, x["quality"], x["hook"], x["shareability"], x["duration_s"], x["affinity"],
                                   x["follower"], x["regular"], seed, x["users"], day, x["slots"], **kw)


def run_ref(x, seed=11, day=4, p=P):
    return ref.simulate_ref(p, x["quality"], x["hook"], x["shareability"], x["duration_s"], x["affinity"],
                            x["follower"], x["regular"], seed, x["users"], day, x["slots"])


def assert_same_outcomes(a, b):
    for name in FLAGS + ("n_recipients",):
        mism = np.flatnonzero(a[name] != b[name])
        assert mism.size == 0, f"{name} differs at rows {mism[:10]}"
    for name in ("watch_s", "value"):
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=1e-9, err_msg=name)


def same_row_inputs(n, **traits):
    """``n`` impressions of one (user-video) situation, each in its own slot: draws differ, inputs do not."""
    base = dict(quality=0.0, hook=0.0, shareability=0.0, duration_s=30.0, affinity=1.0, follower=False,
                regular=False)
    base.update(traits)
    x = {k: np.full(n, v, dtype=bool if isinstance(v, bool) else np.float64) for k, v in base.items()}
    x["users"] = np.arange(n) // 16
    x["slots"] = np.arange(n) % 16
    return x


# --- parameters ------------------------------------------------------------------

def test_behavior_params_layout():
    cfg = CFG.replace(play_b=0.123, share_max_recipients=7, open_a=-1.5)
    bp = bh.behavior_params(cfg)
    assert bp.dtype == np.float64 and bp.shape == (bh.N_PARAMS,)
    assert bh.PARAM_NAMES == tuple(cfg.to_dict())
    for name in bh.PARAM_NAMES:
        assert bp[getattr(bh, "P_" + name.upper())] == float(getattr(cfg, name))
    with pytest.raises(TypeError, match="must be a BehaviorConfig"):
        bh.behavior_params({"play_b": 0.0})


# --- kernel against the slow reference ---------------------------------------------

@pytest.mark.parametrize("n", [0, 1, 7, 400])
@pytest.mark.parametrize("seed", [0, 1, 2**40 + 3])
def test_kernel_matches_reference(n, seed):
    x = random_rows(n, seed)
    got, want = run(x, seed=seed, day=seed % 5), run_ref(x, seed=seed, day=seed % 5)
    assert all(got[k].shape == (n,) for k in bh.OUTCOME_NAMES)
    assert {k: v.dtype for k, v in got.items()} == {k: np.dtype(t) for k, t in bb.OUTCOME_DTYPES.items()}
    assert_same_outcomes(got, want)


def test_kernel_matches_reference_other_coefficients():
    cfg = CFG.replace(play_b=1.0, like_b=-0.5, comment_b=-1.0, share_b=-0.5, follow_b=-0.5, value_b=0.3,
                      share_max_recipients=5, complete_d=0.0, affinity_floor=0.5)
    x = random_rows(500, 9)
    assert_same_outcomes(run(x, cfg=cfg), run_ref(x, p=cfg.to_dict()))


@pytest.mark.parametrize("short", [0.9, -0.6])
def test_kernel_matches_reference_with_a_duration_kink(short):
    """The completion slope below 30 s (complete_d - complete_d_short) in the batch kernel and its twin."""
    cfg = CFG.replace(complete_d=1.3, complete_d_short=short)
    x = random_rows(600, 21)
    got, want = run(x, cfg=bh.behavior_params(cfg)), run_ref(x, p=cfg.to_dict())
    assert_same_outcomes(got, want)
    one_slope = run(x, cfg=bh.behavior_params(cfg.replace(complete_d_short=0.0)))
    assert not np.array_equal(got["completed"], one_slope["completed"])  # the kink is exercised


def test_numpy_version_is_the_same_model():
    """The benchmark's NumPy version, fed the counter generator's draws, gives the kernel's outcomes."""
    x = random_rows(600, 5)
    draws = ref.draws_ref(11, x["users"], 4, x["slots"])
    got = ref.simulate_numpy(P, x["quality"], x["hook"], x["shareability"], x["duration_s"], x["affinity"],
                             x["follower"], x["regular"], draws)
    assert_same_outcomes(run(x), got)


def test_scalar_kernel_is_the_batch_row():
    """``impression`` (branches, for the engine) and the batch kernel's branch-free twin agree."""
    x = random_rows(300, 3)
    batch = run(x, seed=8, day=2)
    for i in range(300):
        k0 = np.uint64(rng.key(8, rng.STREAM_BEHAVIOR, int(x["users"][i]), 2, int(x["slots"][i])))
        row = bh.impression(BP, x["quality"][i], x["hook"][i], x["shareability"][i], x["duration_s"][i],
                            x["affinity"][i], bool(x["follower"][i]), bool(x["regular"][i]), k0)
        for name, v in zip(bh.OUTCOME_NAMES, row):
            assert v == pytest.approx(batch[name][i], rel=1e-13, abs=1e-13), (i, name)


#: The default parameters and the default with a kink in the completion slope at 30 s (complete_d_short).
_KINKED = CFG.replace(complete_d_short=0.8)
_TWIN_PARAMS = ((BP, P), (bh.behavior_params(_KINKED), _KINKED.to_dict()))


@settings(max_examples=60, deadline=None)
@given(q=st.floats(-6, 6), h=st.floats(-6, 6), s=st.floats(-6, 6), d=st.floats(0.01, 7200),
       aff=st.floats(0, 20), follower=st.booleans(), regular=st.booleans(),
       seed=st.integers(0, 2**63 - 1), user=st.integers(0, 2**31), slot=st.integers(0, 10**6),
       kinked=st.booleans())
def test_scalar_kernel_matches_reference_anywhere(q, h, s, d, aff, follower, regular, seed, user, slot, kinked):
    regular = regular and follower
    bp, p = _TWIN_PARAMS[kinked]
    k = rng.key(seed, rng.STREAM_BEHAVIOR, user, 1, slot)
    got = bh.impression(bp, q, h, s, d, aff, follower, regular, np.uint64(k))
    want = ref.impression_ref(p, q, h, s, d, aff, follower, regular, ref_rng.key(seed, 3, user, 1, slot))
    for name, v in zip(bh.OUTCOME_NAMES, got):
        if name in ("watch_s", "value"):
            assert v == pytest.approx(want[name], rel=1e-12, abs=1e-9), name
        else:
            assert v == want[name], name


def test_recipient_opens_matches_reference():
    r = np.random.default_rng(4)
    hits = 0
    for i in range(400):
        q, aff, j = r.normal(0, 1.5), r.gamma(0.5, 2.0), int(r.integers(0, 64))
        k = rng.key(3, rng.STREAM_BEHAVIOR, i, 0, 1)
        got = bh.recipient_opens(BP, q, aff, np.uint64(k), j)
        assert got == ref.recipient_opens_ref(P, q, aff, ref_rng.key(3, 3, i, 0, 1), j)
        hits += got
    assert 0 < hits < 400


# --- the fast elementary functions ---------------------------------------------------

def test_fast_exp_and_log_match_libm():
    r = np.random.default_rng(0)
    xs = np.concatenate([r.uniform(-708, 708, 3000), r.normal(0, 5, 3000),
                         [0.0, -0.0, 1e-300, -1e-300, 0.5 * math.log(2)]])
    for x in xs:
        assert bb._exp(x) == pytest.approx(math.exp(x), rel=4e-15, abs=0.0), x
    ys = np.concatenate([np.exp(r.uniform(-700, 700, 3000)), r.uniform(0.5, 2.0, 3000), r.random(1000),
                         [1.0, 2.0, 0.5, 2**-53, 1 - 2**-53, 5e-324, 2.2250738585072014e-308, 1e308, 1e-310]])
    for y in ys:
        assert bb._log(y) == pytest.approx(math.log(y), rel=4e-15, abs=1e-300), y
    assert bb._exp(-800.0) == 0.0 and math.isnan(bb._exp(math.nan))
    assert bb._exp(800.0) == pytest.approx(math.exp(708.0))  # saturates; the kernel never gets there
    assert bb._log(0.0) == -math.inf and bb._log(math.inf) == math.inf
    assert math.isnan(bb._log(-1.0)) and math.isnan(bb._log(math.nan))


# --- what the model promises ----------------------------------------------------------

@pytest.mark.parametrize("d", [4.0, 10.0, 29.9, 30.0, 30.1, 90.0, 600.0])
def test_completion_slope_kinks_at_30_seconds(d):
    """logit p_c = ... - complete_d l + complete_d_short min(l, 0), l = ln(d / 30): the kink moves only d < 30 s."""
    def logit(bp):
        pc = bh.completion_probability(bp, 0.4, 1.3, False, d)
        return math.log(pc / (1.0 - pc))

    for short in (0.7, -0.5):
        bp = bh.behavior_params(CFG.replace(complete_d_short=short))
        assert logit(bp) - logit(BP) == pytest.approx(short * min(math.log(d / 30.0), 0.0), abs=1e-9)
    # at 0 the kinked formula is the one-slope one bit for bit
    assert bh.completion_probability(bh.behavior_params(CFG.replace(complete_d_short=0.0)), 0.4, 1.3, False, d) \
        == bh.completion_probability(BP, 0.4, 1.3, False, d)


@settings(max_examples=80, deadline=None)
@given(q=st.floats(-5, 5), h=st.floats(-5, 5), s=st.floats(-5, 5), d=st.floats(0.1, 3600), aff=st.floats(0, 10),
       reg=st.booleans(), c=st.booleans(), dx=st.floats(0.01, 2))
def test_probabilities_are_probabilities_and_move_the_right_way(q, h, s, d, aff, reg, c, dx):
    probs = [bh.play_probability(BP, q, h, aff, reg), bh.completion_probability(BP, q, aff, reg, d),
             bh.like_probability(BP, q, aff, c), bh.comment_probability(BP, q, aff),
             bh.share_probability(BP, q, s), bh.follow_probability(BP, q, aff, c), bh.open_probability(BP, q, aff)]
    assert all(0.0 <= p <= 1.0 for p in probs)
    # hook lifts the play only; shareability the share only; quality lifts everything
    assert bh.play_probability(BP, q, h + dx, aff, reg) > bh.play_probability(BP, q, h, aff, reg)
    assert bh.share_probability(BP, q, s + dx) > bh.share_probability(BP, q, s)
    assert bh.play_probability(BP, q + dx, h, aff, reg) > bh.play_probability(BP, q, h, aff, reg)
    assert bh.open_probability(BP, q + dx, aff) > bh.open_probability(BP, q, aff)
    assert bh.follow_probability(BP, q + dx, aff, c) > bh.follow_probability(BP, q, aff, c)
    assert bh.like_probability(BP, q + dx, aff, c) > bh.like_probability(BP, q, aff, c)
    if d > 3.0:
        assert bh.completion_probability(BP, q + dx, aff, reg, d) > bh.completion_probability(BP, q, aff, reg, d)
        assert bh.completion_probability(BP, q, aff, reg, d * 2) < bh.completion_probability(BP, q, aff, reg, d)
    else:
        assert bh.completion_probability(BP, q, aff, reg, d) == 1.0
    # by default a regular reader's view is lifted by nothing the value does not see (play_r = complete_r = 0);
    # with play_r set, regular readers play more; affinity above the floor helps
    assert bh.play_probability(BP, q, h, aff, True) == bh.play_probability(BP, q, h, aff, False)
    bp_rr = bh.behavior_params(CFG.replace(play_r=0.8))
    assert bh.play_probability(bp_rr, q, h, aff, True) > bh.play_probability(bp_rr, q, h, aff, False)
    assert bh.open_probability(BP, q, max(aff, 0.05) * 2) > bh.open_probability(BP, q, aff)


def test_outcomes_are_consistent():
    x = random_rows(5000, 21)
    o = run(x)
    play, d = o["play3"], x["duration_s"]
    for name in ("completed", "liked", "commented", "shared", "followed"):
        assert not np.any(o[name] & ~play), name
    w = o["watch_s"]
    assert np.all((w >= 0) & (w <= d * (1.0 + CFG.loop_cap) * (1.0 + 1e-12)))
    assert np.all(w[o["completed"]] >= d[o["completed"]])
    assert not np.any((w > d) & ~o["completed"])  # a replay follows a completion
    replay = w[o["completed"]] > d[o["completed"]]
    assert 0.8 < replay.mean() < 1.0  # loop_b = 3: sigma(3) = 0.95 of completions loop
    assert np.all(o["watch_s"][~play] <= np.minimum(3.0, d[~play]))
    assert np.all(o["watch_s"][play & ~o["completed"]] >= 3.0)
    np.testing.assert_array_equal(o["completed"][d <= 3.0], play[d <= 3.0])  # short videos: a play completes
    assert np.all((o["n_recipients"] >= 1) & (o["n_recipients"] <= CFG.share_max_recipients) | ~o["shared"])
    assert np.all(o["n_recipients"][~o["shared"]] == 0)
    assert not np.any(o["followed"] & x["follower"])  # followers never "follow"
    assert o["followed"][~x["follower"]].any()


def test_hook_lifts_plays_but_not_completion_watch_or_value():
    """Common random numbers: the same rows with a stronger hook."""
    x = random_rows(N_STAT, 1, edge=False)
    lo = run(x)
    x_hi = dict(x, hook=x["hook"] + 1.5)
    hi = run(x_hi)
    assert not np.any(lo["play3"] & ~hi["play3"])  # every play stays a play
    assert hi["play3"].mean() > lo["play3"].mean() + 0.05
    both = lo["play3"] & hi["play3"]
    for name in ("completed", "watch_s", "value", "liked", "commented", "shared", "n_recipients", "followed"):
        np.testing.assert_array_equal(lo[name][both], hi[name][both], err_msg=name)


def test_clickbait_wins_plays_but_loses_value():
    n = N_STAT
    bait = run(same_row_inputs(n, hook=2.0, quality=-1.0))
    good = run(same_row_inputs(n, hook=-0.5, quality=1.0))
    assert bait["play3"].mean() > good["play3"].mean()
    assert bait["value"].mean() < 0.0 < good["value"].mean()
    completion = lambda o: o["completed"][o["play3"]].mean()  # noqa: E731
    assert completion(bait) < completion(good)


def test_shareability_lifts_shares_but_not_opens():
    x = random_rows(N_STAT, 2, edge=False)
    lo = run(x)
    hi = run(dict(x, shareability=x["shareability"] + 2.0))
    assert not np.any(lo["shared"] & ~hi["shared"])
    assert hi["shared"].mean() > 2 * lo["shared"].mean()
    both = lo["shared"] & hi["shared"]
    np.testing.assert_array_equal(lo["n_recipients"][both], hi["n_recipients"][both])
    # opens see quality and the recipient's affinity only: share-bait's cards go unopened
    k = [np.uint64(rng.key(1, rng.STREAM_BEHAVIOR, u, 0, 0)) for u in range(N_STAT // 5)]
    bait = np.mean([bh.recipient_opens(BP, -1.0, 1.0, ki, 0) for ki in k])
    good = np.mean([bh.recipient_opens(BP, 1.0, 1.0, ki, 0) for ki in k])
    assert bait < good - 0.2


def test_quality_raises_completion_opens_follows_and_value():
    n = N_STAT
    runs = [run(same_row_inputs(n, quality=q)) for q in (-1.0, 0.0, 1.0)]
    completion = [o["completed"][o["play3"]].mean() for o in runs]
    follows = [o["followed"].mean() for o in runs]
    value = [o["value"].mean() for o in runs]
    assert completion[0] < completion[1] < completion[2]
    assert follows[0] < follows[2]
    assert value[0] < value[1] < value[2]
    keys = [np.uint64(rng.key(2, rng.STREAM_BEHAVIOR, u, 0, 0)) for u in range(N_STAT // 5)]
    opens = [np.mean([bh.recipient_opens(BP, q, 1.0, ki, 1) for ki in keys]) for q in (-1.0, 1.0)]
    assert opens[0] < opens[1]


@pytest.mark.parametrize("traits", [dict(), dict(quality=1.2, hook=0.8, affinity=3.0, regular=True, follower=True),
                                    dict(quality=-1.0, duration_s=90.0, affinity=0.01)])
def test_empirical_rates_match_the_formulas(traits):
    n = 2 * N_STAT
    x = same_row_inputs(n, **traits)
    o = run(x)
    t = dict(quality=0.0, hook=0.0, shareability=0.0, duration_s=30.0, affinity=1.0, follower=False, regular=False)
    t.update(traits)
    q, aff, reg, d = t["quality"], t["affinity"], t["regular"], t["duration_s"]

    def close(hits, p):
        m = hits.size
        assert abs(hits.mean() - p) <= 5 * math.sqrt(p * (1 - p) / m) + 1e-3, (hits.mean(), p, m)

    play = o["play3"]
    close(play, bh.play_probability(BP, q, t["hook"], aff, reg))
    pc = bh.completion_probability(BP, q, aff, reg, d)
    close(o["completed"][play], pc)
    for c in (False, True):
        rows = play & (o["completed"] == c)
        close(o["liked"][rows], bh.like_probability(BP, q, aff, c))
    close(o["commented"][play], bh.comment_probability(BP, q, aff))
    close(o["shared"][play], bh.share_probability(BP, q, t["shareability"]))
    if not t["follower"]:
        close(o["followed"][play], pc * bh.follow_probability(BP, q, aff, True)
              + (1 - pc) * bh.follow_probability(BP, q, aff, False))
    # a play that does not complete watches 3 + (d - 3) * u^e, of mean 3 + (d - 3) * pc
    partial = o["watch_s"][play & ~o["completed"]]
    assert abs(partial.mean() - (3 + (d - 3) * pc)) < 5 * partial.std() / math.sqrt(partial.size)
    # recipients uniform over 1..share_max_recipients
    counts = np.bincount(o["n_recipients"][o["shared"]], minlength=CFG.share_max_recipients + 1)
    assert counts[0] == 0 and counts.size == CFG.share_max_recipients + 1


# --- replayability ----------------------------------------------------------------------

@pytest.mark.skipif(NO_JIT or numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads (and the JIT)")
def test_bit_identical_with_1_and_2_threads_and_across_calls():
    x = random_rows(50001, 13)
    before = numba.get_num_threads()
    try:
        set_threads(1)
        one = run(x)
        set_threads(2)
        two = run(x)
        again = run(x)
    finally:
        set_threads(before)
    for name in bh.OUTCOME_NAMES:
        assert one[name].tobytes() == two[name].tobytes() == again[name].tobytes(), name


def test_rows_are_independent_and_seeds_matter():
    x = random_rows(1000, 17)
    o = run(x)
    perm = np.random.default_rng(0).permutation(1000)
    shuffled = run({k: v[perm] for k, v in x.items()})
    head = run({k: v[:100] for k, v in x.items()})
    for name in bh.OUTCOME_NAMES:
        assert o[name][perm].tobytes() == shuffled[name].tobytes(), name
        assert o[name][:100].tobytes() == head[name].tobytes(), name
    for other in (dict(seed=12), dict(day=5)):
        assert not np.array_equal(run(x, **other)["play3"], o["play3"])


def test_out_buffers_are_written_and_returned():
    x = random_rows(500, 23)
    out = bb.empty_outcomes(500)
    got = run(x, out=out)
    assert got is out
    fresh = run(x)
    for name in bh.OUTCOME_NAMES:
        assert out[name].tobytes() == fresh[name].tobytes()


# --- validation ---------------------------------------------------------------------------

def _bad(**changes):
    x = random_rows(10, 0, edge=False)
    kw = dict(bp_or_cfg=CFG, seed=1, day=0)
    for k, v in changes.items():
        (x if k in x else kw)[k] = v
    return x, kw


@pytest.mark.parametrize("changes, err, match", [
    (dict(quality=np.zeros((10, 1))), ValueError, r"'quality' parameter .* must be a 1-D array"),
    (dict(hook=np.zeros(9)), ValueError, r"'hook' parameter .* must have length 10, like 'quality'. Got length 9"),
    (dict(shareability=np.array(["a"] * 10)), TypeError, r"'shareability' parameter .* real-valued array"),
    (dict(follower=np.zeros(10, np.int8)), TypeError, r"'follower' parameter .* must be a bool array"),
    (dict(users=np.zeros(10)), TypeError, r"'users' parameter .* must be an integer array. Got dtype float64"),
    (dict(slots=-np.ones(10, np.int64)), ValueError, r"'slots' parameter .* non-negative. Got a minimum of -1"),
    (dict(users=np.full(10, 2**64 - 1, np.uint64)), ValueError, r"'users' parameter .* at most 2\*\*63 - 1"),
    (dict(quality=np.full(10, np.nan)), ValueError, r"'quality' parameter .* must be finite. Got 10 NaN or inf"),
    (dict(affinity=np.full(10, np.inf)), ValueError, r"'affinity' parameter .* must be finite"),
    (dict(duration_s=np.zeros(10)), ValueError, r"'duration_s' parameter .* must be > 0 seconds. Got a minimum of 0.0"),
    (dict(affinity=-np.ones(10)), ValueError, r"'affinity' parameter .* must be >= 0"),
    (dict(regular=np.ones(10, bool), follower=np.zeros(10, bool)), ValueError,
     r"'regular' parameter .* must imply 'follower'. Got 10 row\(s\)"),
    (dict(seed=-1), ValueError, r"'seed' parameter .* in the range \[0, 9223372036854775807\]. Got -1"),
    (dict(day=1.5), TypeError, r"'day' parameter .* must be an int >= 0. Got 1.5"),
    (dict(seed=True), TypeError, r"'seed' parameter .* must be an int"),
    (dict(bp_or_cfg={"play_b": 1.0}), TypeError, r"'bp_or_cfg' parameter .* BehaviorConfig or a float64 array"),
    (dict(bp_or_cfg=np.zeros(3)), ValueError, r"'bp_or_cfg' parameter .* shape \(\d+,\)"),
])
def test_invalid_inputs_are_named(changes, err, match):
    x, kw = _bad(**changes)
    with pytest.raises(err, match=match):
        bb.simulate_impressions(kw["bp_or_cfg"], x["quality"], x["hook"], x["shareability"], x["duration_s"],
                                x["affinity"], x["follower"], x["regular"], kw["seed"], x["users"], kw["day"],
                                x["slots"])


def test_invalid_out_is_named():
    x = random_rows(10, 0)
    with pytest.raises(TypeError, match="'out' parameter .* dict with keys"):
        run(x, out={"play3": np.zeros(10, bool)})
    out = bb.empty_outcomes(10)
    out["watch_s"] = np.zeros(10, np.float32)
    with pytest.raises(ValueError, match="under 'watch_s', a writeable contiguous float64 array of shape \\(10,\\)"):
        run(x, out=out)
    with pytest.raises(ValueError, match="'n' parameter of empty_outcomes"):
        bb.empty_outcomes(-1)


def test_inputs_of_other_dtypes_give_the_same_outcomes():
    x = random_rows(300, 31, edge=False)
    x32 = dict(x, users=x["users"].astype(np.int32), slots=x["slots"].astype(np.uint16),
               affinity=list(x["affinity"]))
    a, b = run(x), run(x32)
    for name in bh.OUTCOME_NAMES:
        assert a[name].tobytes() == b[name].tobytes()


def test_bernoulli_shortcut_decides_as_the_full_test():
    """_bernoulli skips the exponential for x < -3 and u >= 0.0475: it must answer what u (1 + e^-x) < 1 answers."""
    r = np.random.default_rng(3)
    xs = np.concatenate([r.uniform(-40.0, 5.0, 4000), [-3.0, np.nextafter(-3.0, -4.0), -np.inf, 3.0]])
    us = np.concatenate([r.uniform(0.0, 1.0, 4000), [0.0475, np.nextafter(0.0475, 0.0), 0.0, 0.999]])
    for x in xs:
        for u in us[r.integers(0, us.size, 40)]:
            assert bool(bh._bernoulli(u, x)) == bool(u * (1.0 + np.exp(-x)) < 1.0), (u, x)
    # the shortcut's bound: sigmoid(-3) is below 0.0475, so no u it answers False for lies under the probability
    assert 1.0 / (1.0 + np.exp(3.0)) < 0.0475
