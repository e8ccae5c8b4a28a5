"""Tests of ranker.policies: registry, parameters, each policy's rule, replayable Thompson draws."""

import ast
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ranker import policies as P
from ranker._numba import set_threads
from tests import reference_policies as ref

PRIOR_MEAN = np.array([0.6, 0.3, 0.4, 0.05, 0.01, 0.3, 0.5])
PRIOR_STRENGTH = 20.0
WEIGHTS = np.array([1.0, 1.0, 0.5, 0.3, 0.2, 0.5, 0.5])


@dataclass(frozen=True)
class StandInSignals:
    """Same attributes as ranker.signals.Signals (matrix, alpha, beta, prior)."""

    matrix: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    prior: object = None


def signals_from(impressions, successes):
    """Beta posteriors and log-lifts from per-video trials (n,) and successes (n, 7)."""
    impressions = np.asarray(impressions, dtype=np.float64)
    alpha = PRIOR_MEAN * PRIOR_STRENGTH + successes
    beta = (1 - PRIOR_MEAN) * PRIOR_STRENGTH + impressions[:, None] - successes
    matrix = np.log(alpha / (alpha + beta) / PRIOR_MEAN)
    return StandInSignals(matrix=matrix, alpha=alpha, beta=beta, prior=(PRIOR_MEAN, PRIOR_STRENGTH))


def make_ctx(n=40, seed=0, day=3, tick=1, run_seed=11, new_days=14, kind=False, **over):
    """A random but plausible context of n posts; keyword overrides replace fields."""
    r = np.random.default_rng(seed)
    creator_age = r.uniform(0, 60, n)
    impressions = np.floor(r.pareto(1.2, n) * 100)
    quality = np.exp(r.normal(0, 0.3, (n, 7)))
    p = np.clip(PRIOR_MEAN * quality, 0, 1)
    successes = r.binomial(impressions.astype(np.int64)[:, None], p).astype(np.float64)
    signals = signals_from(impressions, successes)
    kw = dict(
        seed=run_seed, day=day, tick=tick, n_videos=n,
        creator_age_days=creator_age, video_age_days=r.uniform(0, 7, n),
        is_new_creator=creator_age < new_days, impressions=impressions,
        creator_id=r.integers(0, max(n // 2, 1), n), active=r.random(n) < 0.9,
        base_score=signals.matrix @ WEIGHTS, signals=signals, new_creator_days=new_days,
        creator_kind=r.integers(0, 2, n).astype(np.int8) if kind else None,
    )
    kw.update(over)
    return P.PolicyContext(**kw)


def readonly(ctx):
    """The same context with every array frozen, so a policy writing into one fails."""
    for f in dataclasses.fields(ctx):
        v = getattr(ctx, f.name)
        if isinstance(v, np.ndarray):
            v.flags.writeable = False
    for name in ("matrix", "alpha", "beta"):
        getattr(ctx.signals, name).flags.writeable = False
    return ctx


# Strength-like parameter of each policy, and strategies for its other parameters.
STRENGTH = {
    "fixed_tilt": "strength", "decaying_tilt": "strength", "slot_quota": "share", "traffic_pools": "strength",
    "ucb": "c", "thompson": "scale", "fairco": "strength",
}
OTHERS = {
    "fixed_tilt": dict(days=st.integers(0, 60)),
    "decaying_tilt": dict(half_life_days=st.floats(0.01, 100), only_new=st.booleans()),
    "slot_quota": dict(),
    "traffic_pools": dict(percentile=st.floats(0, 100), z=st.floats(0, 10), min_peers=st.integers(1, 50),
                          only_new=st.booleans(), drop_failed=st.booleans(), window_days=st.floats(0.1, 30),
                          pool_sizes=st.sampled_from([[1.0], [50.0, 500.0], [200.0, 2000.0, 20000.0]])),
    "ucb": dict(only_new=st.booleans()),
    "thompson": dict(only_new=st.booleans()),
    "fairco": dict(merit=st.sampled_from(["score", "completion", "play3"]), groups=st.sampled_from(["new", "new_kind"]),
                   age_offset_days=st.floats(0.01, 10)),
}


# --- registry and construction -----------------------------------------------------

def test_registry_holds_the_cli_names():
    assert set(P.REGISTRY) == {"none", "fixed_tilt", "decaying_tilt", "slot_quota", "traffic_pools", "ucb",
                               "thompson", "fairco"}
    assert set(STRENGTH) == set(P.REGISTRY) - {"none"}


@pytest.mark.parametrize("name", sorted(P.REGISTRY))
def test_make_policy_round_trips(name):
    pol = P.make_policy(name)
    assert isinstance(pol, P.REGISTRY[name]) and pol.name == name
    again = P.make_policy(name, pol.params.to_dict())
    assert again.params == pol.params
    assert P.make_policy(name, pol.params).params is pol.params
    if name in STRENGTH:
        changed = P.make_policy(name, {STRENGTH[name]: 0.25})
        assert getattr(changed.params, STRENGTH[name]) == 0.25
        assert P.make_policy(name, changed.params.to_dict()).params == changed.params


def test_make_policy_rejects_bad_names_and_foreign_sections():
    with pytest.raises(ValueError) as e:
        P.make_policy("boost_all")
    assert str(e.value) == f"Unknown policy 'boost_all'. Registered policies: {sorted(P.REGISTRY)}."
    with pytest.raises(TypeError, match=r"^The 'name' parameter of PolicyConfig must be a str. Got 3 instead.$"):
        P.make_policy(3)
    with pytest.raises(TypeError, match=r"^The 'params' parameter of FixedTilt must be a FixedTiltParams"):
        P.make_policy("fixed_tilt", P.UCBParams())
    with pytest.raises(ValueError, match=r"Unknown key\(s\) \['strenght'\].*\['days', 'strength'\]"):
        P.make_policy("fixed_tilt", {"strenght": 1.0})


@pytest.mark.parametrize("name", sorted(P.REGISTRY))
def test_docs_and_describe_rows_for_the_cli(name):
    cls = P.REGISTRY[name]
    first = cls.__doc__.strip().splitlines()[0]
    assert cls.summary() == first and len(first) > 10
    assert ".. math::" in cls.__doc__
    rows = cls.Params.describe()
    assert [r[0] for r in rows] == [f.name for f in dataclasses.fields(cls.Params)]
    defaults = cls.Params().to_dict()
    for fname, allowed, default, doc in rows:
        assert allowed and doc
        assert (list(default) if isinstance(default, tuple) else default) == defaults[fname]
    assert (name, first, rows) in P.describe_policies()


BAD_PARAMS = [
    ("fixed_tilt", {"strength": -1.0}, ValueError,
     "The 'strength' parameter of FixedTiltParams must be a finite float in the range [0.0, 100.0]. Got -1.0 instead."),
    ("fixed_tilt", {"days": 1.5}, TypeError,
     "The 'days' parameter of FixedTiltParams must be an int in the range [0, 3650]. Got 1.5 instead."),
    ("decaying_tilt", {"half_life_days": 0.0}, ValueError,
     "The 'half_life_days' parameter of DecayingTiltParams must be a finite float in the range (0.0, 3650.0]. "
     "Got 0.0 instead."),
    ("decaying_tilt", {"only_new": 1}, TypeError,
     "The 'only_new' parameter of DecayingTiltParams must be a bool (true or false). Got 1 instead."),
    ("slot_quota", {"share": 1.5}, ValueError,
     "The 'share' parameter of SlotQuotaParams must be a finite float in the range [0.0, 1.0]. Got 1.5 instead."),
    ("traffic_pools", {"pool_sizes": [200.0, 100.0]}, ValueError,
     "The 'pool_sizes' parameter of TrafficPoolsParams must be a strictly increasing list of 1 to 16 floats. "
     "Got [200.0, 100.0] instead."),
    ("traffic_pools", {"pool_sizes": []}, ValueError,
     "The 'pool_sizes' parameter of TrafficPoolsParams must be a strictly increasing list of 1 to 16 floats. "
     "Got [] instead."),
    ("traffic_pools", {"pool_sizes": [0.0, 10.0]}, ValueError,
     "The 'pool_sizes[0]' parameter of TrafficPoolsParams must be a finite float in the range [1.0, 1000000000000.0]. "
     "Got 0.0 instead."),
    ("traffic_pools", {"percentile": 101.0}, ValueError,
     "The 'percentile' parameter of TrafficPoolsParams must be a finite float in the range [0.0, 100.0]. "
     "Got 101.0 instead."),
    ("traffic_pools", {"min_peers": 0}, ValueError,
     "The 'min_peers' parameter of TrafficPoolsParams must be an int in the range [1, 1000000000]. Got 0 instead."),
    ("ucb", {"c": float("nan")}, ValueError,
     "The 'c' parameter of UCBParams must be a finite float in the range [0.0, 100.0]. Got nan instead."),
    ("thompson", {"scale": "1"}, TypeError,
     "The 'scale' parameter of ThompsonParams must be a float in the range [0.0, 100.0]. Got '1' instead."),
    ("fairco", {"merit": "quality"}, ValueError,
     "The 'merit' parameter of FairCoParams must be a str among ['completion', 'play3', 'score']. "
     "Got 'quality' instead."),
    ("fairco", {"groups": "kind"}, ValueError,
     "The 'groups' parameter of FairCoParams must be a str among ['new', 'new_kind']. Got 'kind' instead."),
    ("fairco", {"age_offset_days": 0.0}, ValueError,
     "The 'age_offset_days' parameter of FairCoParams must be a finite float in the range (0.0, 365.0]. "
     "Got 0.0 instead."),
]


@pytest.mark.parametrize("name, params, exc, message", BAD_PARAMS)
def test_bad_params_fail_with_exact_messages(name, params, exc, message):
    with pytest.raises(exc) as e:
        P.make_policy(name, params)
    assert str(e.value) == message


# --- context ---------------------------------------------------------------------

def test_context_converts_dtypes_and_checks_shapes():
    ctx = make_ctx(5, impressions=[1, 2, 3, 4, 5], creator_id=np.arange(5, dtype=np.int64))
    assert ctx.impressions.dtype == np.float64 and ctx.creator_id.dtype == np.int32
    with pytest.raises(ValueError) as e:
        make_ctx(5, impressions=np.zeros(4))
    assert str(e.value) == ("The 'impressions' field of PolicyContext must have shape (n_videos,) = (5,). "
                            "Got (4,) instead.")
    with pytest.raises(ValueError) as e:
        make_ctx(5, signals=signals_from(np.zeros(6), np.zeros((6, 7))))
    assert str(e.value) == ("The 'signals.matrix' field of PolicyContext must have shape (n_videos, 7) = (5, 7). "
                            "Got (6, 7) instead.")
    with pytest.raises(ValueError) as e:
        make_ctx(5, day=-1)
    assert str(e.value) == "The 'day' field of PolicyContext must be a non-negative int. Got -1 instead."


def test_policies_never_see_latent_quality_nor_import_sim():
    names = [f.name for f in dataclasses.fields(P.PolicyContext)]
    assert not any("quality" in n or "hook" in n or "shareab" in n for n in names)
    tree = ast.parse(Path(P.__file__).read_text())
    mods = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    mods |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not any(m == "sim" or m.startswith("sim.") for m in mods)


def test_signal_names_match_signals_module():
    signals = pytest.importorskip("ranker.signals")
    assert tuple(signals.SIGNAL_NAMES) == P.SIGNAL_NAMES


# --- properties shared by all policies ------------------------------------------

def edge_contexts():
    yield make_ctx(0)
    yield make_ctx(1)
    yield make_ctx(60, seed=4)
    yield make_ctx(30, seed=5, active=np.zeros(30, bool))
    yield make_ctx(30, seed=6, impressions=np.zeros(30), signals=signals_from(np.zeros(30), np.zeros((30, 7))))
    # near-degenerate posteriors: a rate of almost 0 and almost 1
    n = 12
    tiny = StandInSignals(matrix=np.zeros((n, 7)), alpha=np.full((n, 7), 1e-3), beta=np.full((n, 7), 50.0))
    yield make_ctx(n, seed=7, signals=tiny)
    yield make_ctx(n, seed=8, signals=dataclasses.replace(tiny, alpha=tiny.beta, beta=tiny.alpha))
    yield make_ctx(20, seed=9, is_new_creator=np.ones(20, bool), kind=True)


@pytest.mark.parametrize("name", sorted(P.REGISTRY))
def test_every_policy_is_finite_pure_and_deterministic(name):
    params = {"groups": "new_kind"} if name == "fairco" else {}
    pol = P.make_policy(name, params)
    for ctx in edge_contexts():
        if name == "fairco" and ctx.creator_kind is None:
            ctx = dataclasses.replace(ctx, creator_kind=np.zeros(ctx.n_videos, np.int8))
        ctx = readonly(ctx)
        a = pol.act(ctx)
        b = pol.act(ctx)
        assert a.boost.shape == (ctx.n_videos,) and a.boost.dtype == np.float64
        assert np.isfinite(a.boost).all()
        assert 0.0 <= a.quota <= 1.0
        assert a.eligible is None or (a.eligible.shape == (ctx.n_videos,) and a.eligible.dtype == bool)
        np.testing.assert_array_equal(a.boost, b.boost)


@pytest.mark.parametrize("name", sorted(STRENGTH))
@settings(max_examples=25, deadline=None)
@given(data=st.data(), n=st.integers(0, 40), seed=st.integers(0, 2**16))
def test_zero_strength_equals_none(name, data, n, seed):
    params = {k: data.draw(s, label=k) for k, s in OTHERS[name].items()}
    params[STRENGTH[name]] = 0.0
    pol = P.make_policy(name, params)
    ctx = make_ctx(n, seed=seed, kind=True, day=data.draw(st.integers(0, 100)), tick=data.draw(st.integers(0, 23)))
    act, none = pol.act(ctx), P.make_policy("none").act(ctx)
    np.testing.assert_array_equal(act.boost, none.boost)
    assert act.quota == none.quota == 0.0
    assert act.eligible is None or act.eligible.all()


# --- tilts and quota ---------------------------------------------------------------

def test_fixed_tilt_boosts_young_creators_only():
    ctx = make_ctx(200, seed=1)
    boost = P.make_policy("fixed_tilt", {"strength": 0.7}).act(ctx).boost
    np.testing.assert_array_equal(boost, np.where(ctx.is_new_creator, 0.7, 0.0))
    assert ctx.is_new_creator.any() and not ctx.is_new_creator.all()
    boost = P.make_policy("fixed_tilt", {"strength": 0.7, "days": 30}).act(ctx).boost
    np.testing.assert_array_equal(boost > 0, ctx.creator_age_days < 30)


def test_decaying_tilt_halves_per_half_life_and_spares_established():
    age = np.array([0.0, 2.0, 4.0, 8.0, 13.9, 14.0, 40.0])
    ctx = make_ctx(7, creator_age_days=age, is_new_creator=age < 14)
    boost = P.make_policy("decaying_tilt", {"strength": 2.0, "half_life_days": 4.0}).act(ctx).boost
    np.testing.assert_allclose(boost[:4], [2.0, 2.0 / np.sqrt(2), 1.0, 0.5])
    assert np.all(np.diff(boost[:5]) < 0) and boost[4] > 0
    assert boost[5] == boost[6] == 0.0
    everyone = P.make_policy("decaying_tilt", {"strength": 2.0, "half_life_days": 4.0, "only_new": False}).act(ctx)
    assert np.all(everyone.boost > 0) and np.all(np.diff(everyone.boost) < 0)


def test_slot_quota_reserves_share_without_score_change():
    ctx = make_ctx(10)
    act = P.make_policy("slot_quota", {"share": 0.25}).act(ctx)
    assert act.quota == 0.25 and act.eligible is None
    assert not act.boost.any()


# --- traffic pools ---------------------------------------------------------------

def pool_ctx(n_peers=50, peer_impr=250.0, extra=(), seed=0):
    """Peers at peer_impr impressions with average rates, then extra (impressions, completion rate) posts."""
    r = np.random.default_rng(seed)
    impr = np.concatenate([np.full(n_peers, peer_impr), [e[0] for e in extra]])
    rates = np.tile(PRIOR_MEAN, (len(impr), 1)) * np.exp(r.normal(0, 0.05, (len(impr), 7)))
    for i, (_, completion) in enumerate(extra):
        rates[n_peers + i, 0] = min(2 * completion, 0.95)
        rates[n_peers + i, 1] = completion
    succ = np.round(rates * impr[:, None])
    n = len(impr)
    return make_ctx(n, seed=seed, impressions=impr, signals=signals_from(impr, succ),
                    video_age_days=np.full(n, 0.5), is_new_creator=np.ones(n, bool), active=np.ones(n, bool))


def test_traffic_pools_graduate_strong_post_and_stop_weak_one():
    ctx = pool_ctx(extra=[(250.0, 0.8), (250.0, 0.05), (50.0, 0.05), (250.0, 0.3)])
    pol = P.make_policy("traffic_pools", {"strength": 1.5})
    level, passed, open_pool, failed, _ = pol.state(ctx)
    strong, weak, fresh, average = 50, 51, 52, 53
    assert level[strong] == level[weak] == 1 and level[fresh] == 0
    assert passed[strong] and open_pool[strong] and not failed[strong]
    assert not passed[weak] and failed[weak] and not open_pool[weak]
    assert open_pool[fresh]
    assert failed[average]  # its lower bound is below the peers' median point estimate
    act = pol.act(ctx)
    assert act.boost[strong] == act.boost[fresh] == 1.5
    assert act.boost[weak] == act.boost[average] == 0.0
    assert act.eligible is None
    dropped = P.make_policy("traffic_pools", {"drop_failed": True}).act(ctx).eligible
    assert dropped[strong] and dropped[fresh] and not dropped[weak]
    # z = 0 and percentile 0: every measured post beats the weakest peer but itself
    lenient = P.make_policy("traffic_pools", {"z": 0.0, "percentile": 0.0}).state(ctx)
    assert lenient[1][strong] and lenient[1][average]


def test_traffic_pools_scope_and_last_pool():
    ctx = pool_ctx(extra=[(250.0, 0.8), (25000.0, 0.8), (10.0, 0.3)])
    strong, top, fresh = 50, 51, 52
    boost = P.make_policy("traffic_pools").act(ctx).boost
    assert boost[strong] > 0 and boost[fresh] > 0
    assert boost[top] == 0.0  # past the last size: graduated, organic ranking
    established = dataclasses.replace(ctx, is_new_creator=np.zeros(ctx.n_videos, bool))
    assert not P.make_policy("traffic_pools").act(established).boost.any()
    assert P.make_policy("traffic_pools", {"only_new": False}).act(established).boost[fresh] > 0
    old = dataclasses.replace(ctx, video_age_days=np.full(ctx.n_videos, 9.0))
    assert not P.make_policy("traffic_pools").act(old).boost.any()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("params", [{}, {"pool_sizes": [20.0, 100.0], "percentile": 30.0, "z": 0.5, "min_peers": 3},
                                    {"pool_sizes": [5.0], "percentile": 90.0, "z": 2.0, "min_peers": 1}])
def test_traffic_pools_match_reference(seed, params):
    ctx = make_ctx(80, seed=seed)
    pol = P.make_policy("traffic_pools", params)
    _, _, open_pool, failed, _ = pol.state(ctx)
    p = pol.params
    want = ref.pool_state(ctx.impressions.tolist(), ctx.signals.alpha.tolist(), ctx.signals.beta.tolist(),
                          ctx.active.tolist(), list(p.pool_sizes), p.percentile, p.z, p.min_peers)
    assert open_pool.tolist() == [w[0] for w in want]
    assert failed.tolist() == [w[1] for w in want]
    assert failed.any() or open_pool.all()


# --- uncertainty bonuses ---------------------------------------------------------

def test_ucb_shrinks_with_impressions_and_respects_only_new():
    impr = np.array([0.0, 10.0, 100.0, 1000.0, 10000.0])
    succ = np.round(PRIOR_MEAN * impr[:, None])
    ctx = make_ctx(5, impressions=impr, signals=signals_from(impr, succ),
                   is_new_creator=np.array([True, True, True, False, False]))
    boost = P.make_policy("ucb", {"c": 2.0}).act(ctx).boost
    assert np.all(boost > 0) and np.all(np.diff(boost) < 0)
    mean, sd = P._posterior(ctx.signals, P._cols(P.MAIN_SIGNALS))
    np.testing.assert_allclose(boost, 2.0 * (sd / mean).sum(axis=1))
    only_new = P.make_policy("ucb", {"c": 2.0, "only_new": True}).act(ctx).boost
    np.testing.assert_array_equal(only_new, np.where(ctx.is_new_creator, boost, 0.0))


@pytest.mark.parametrize("seed, n, day, tick", [(0, 1, 0, 0), (7, 25, 3, 2), (2**40, 60, 100, 23)])
def test_thompson_kernel_matches_reference(seed, n, day, tick):
    ctx = make_ctx(n, seed=seed % 1000)
    cols = P._cols(P.MAIN_SIGNALS)
    got = P.thompson_lift(ctx.signals.alpha, ctx.signals.beta, cols, seed, day, tick)
    want = ref.thompson_lift(ctx.signals.alpha.tolist(), ctx.signals.beta.tolist(), cols.tolist(), seed, day, tick)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    ids = np.random.default_rng(seed % 1000).permutation(10 * n)[:n] + 3
    got = P.thompson_lift(ctx.signals.alpha, ctx.signals.beta, cols, seed, day, tick, ids)
    want = ref.thompson_lift(ctx.signals.alpha.tolist(), ctx.signals.beta.tolist(), cols.tolist(), seed, day, tick,
                             ids.tolist())
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert P.thompson_lift(np.empty((0, 7)), np.empty((0, 7)), cols, seed, day, tick).shape == (0,)


def test_thompson_draws_follow_the_post_not_the_row():
    ctx = make_ctx(50, seed=4, video_id=np.arange(50) + 1000)
    pol = P.make_policy("thompson")
    full = pol.act(ctx).boost
    keep = np.flatnonzero(np.arange(50) % 3 != 1)
    sub = make_ctx(len(keep), seed=4, video_id=ctx.video_id[keep], impressions=ctx.impressions[keep],
                   signals=signals_from_rows(ctx.signals, keep))
    np.testing.assert_array_equal(pol.act(sub).boost, full[keep])
    by_row = pol.act(dataclasses.replace(sub, video_id=None)).boost
    assert (by_row != full[keep]).mean() > 0.9
    with pytest.raises(ValueError) as e:
        make_ctx(3, video_id=[0, -2, 5])
    assert str(e.value) == "The 'video_id' field of PolicyContext must hold non-negative ids. Got -2 instead."


def signals_from_rows(sig, rows):
    return StandInSignals(matrix=sig.matrix[rows], alpha=sig.alpha[rows], beta=sig.beta[rows], prior=sig.prior)


def test_thompson_replays_bit_identically_and_varies_by_key():
    ctx = make_ctx(200, seed=3)
    pol = P.make_policy("thompson", {"scale": 0.5})
    a = pol.act(ctx).boost
    np.testing.assert_array_equal(a, pol.act(make_ctx(200, seed=3)).boost)
    for other in (dict(run_seed=12), dict(day=4), dict(tick=2)):
        b = pol.act(make_ctx(200, seed=3, **other)).boost
        assert np.isfinite(b).all() and (a != b).mean() > 0.99
    before = set_threads(None)
    try:
        set_threads(1)
        one = pol.act(ctx).boost
        set_threads(min(2, __import__("numba").config.NUMBA_NUM_THREADS))
        two = pol.act(ctx).boost
    finally:
        set_threads(before)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(one, a)


def test_thompson_spreads_uncertain_posts_more():
    n = 2000
    impr = np.where(np.arange(n) < n // 2, 20.0, 20000.0)
    succ = np.round(PRIOR_MEAN * impr[:, None])
    ctx = make_ctx(n, impressions=impr, signals=signals_from(impr, succ), is_new_creator=np.arange(n) < n // 2)
    boost = P.make_policy("thompson").act(ctx).boost
    few, many = boost[: n // 2], boost[n // 2:]
    assert few.std() > 5 * many.std()
    assert abs(few.mean()) < 0.1 * few.std() + 0.05
    only_new = P.make_policy("thompson", {"only_new": True}).act(ctx).boost
    np.testing.assert_array_equal(only_new, np.where(ctx.is_new_creator, boost, 0.0))


# --- FairCo ----------------------------------------------------------------------

def test_fairco_boosts_the_under_exposed_group():
    n = 40
    new = np.arange(n) < n // 2
    impr = np.where(new, 50.0, 500.0)
    succ = np.round(PRIOR_MEAN * impr[:, None])
    ctx = make_ctx(n, impressions=impr, signals=signals_from(impr, succ), is_new_creator=new,
                   video_age_days=np.full(n, 2.0), active=np.ones(n, bool), base_score=np.zeros(n))
    pol = P.make_policy("fairco", {"strength": 2.0})
    boost = pol.act(ctx).boost
    # equal merit, ten times less exposure: gap = (10 - 1) / 10
    np.testing.assert_allclose(boost[new], 2.0 * 0.9)
    assert not boost[~new].any()
    # the established group is boosted once it is the one under-exposed per unit of merit
    flipped = dataclasses.replace(ctx, impressions=np.where(new, 500.0, 50.0))
    b2 = pol.act(flipped).boost
    assert not b2[new].any() and np.all(b2[~new] > 0)
    # higher merit of the new group at equal exposure: new is under-exposed per merit
    merit_ctx = dataclasses.replace(ctx, impressions=np.full(n, 100.0), base_score=np.where(new, 2.0, 0.0))
    b3 = pol.act(merit_ctx).boost
    assert np.all(b3[new] > 0) and not b3[~new].any()
    # one group only: nothing to correct
    alone = dataclasses.replace(ctx, active=new)
    assert not pol.act(alone).boost.any()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("params", [{}, {"merit": "completion", "groups": "new_kind", "age_offset_days": 0.25},
                                    {"merit": "play3", "strength": 0.3}])
def test_fairco_matches_reference(seed, params):
    ctx = make_ctx(50, seed=seed, kind=True)
    pol = P.make_policy("fairco", params)
    group, _ = pol.groups(ctx)
    want = ref.fairco_boost(group.tolist(), ctx.impressions.tolist(), ctx.video_age_days.tolist(),
                            pol.merit(ctx).tolist(), ctx.active.tolist(), pol.params.strength,
                            pol.params.age_offset_days)
    got = pol.act(ctx).boost
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    assert got.max() > 0 and got.min() == 0.0


def test_fairco_merit_and_kind_groups():
    ctx = make_ctx(10, seed=2)
    merit = P.make_policy("fairco").merit(ctx)
    np.testing.assert_allclose(merit, np.log1p(np.exp(ctx.base_score)))
    with pytest.raises(ValueError) as e:
        P.make_policy("fairco", {"groups": "new_kind"}).act(ctx)
    assert str(e.value) == "The fairco policy with groups='new_kind' needs PolicyContext.creator_kind. Got None instead."
    kctx = make_ctx(10, seed=2, kind=True)
    g, k = P.make_policy("fairco", {"groups": "new_kind"}).groups(kctx)
    assert k == 4
    np.testing.assert_array_equal(g, kctx.is_new_creator + 2 * kctx.creator_kind)


def test_every_policy_runs_on_real_signals():
    signals = pytest.importorskip("ranker.signals")
    r = np.random.default_rng(5)
    n = 300
    impr = np.floor(r.pareto(1.1, n) * 50)
    p3 = np.floor(impr * r.uniform(0.3, 0.9, n))
    comp = np.floor(p3 * r.uniform(0.1, 0.8, n))
    dur = r.uniform(5, 120, n)
    shares = np.floor(impr * r.uniform(0, 0.05, n))
    rec = shares * 3
    followers = np.floor(r.pareto(1.0, n) * 100)
    rr_imp = np.floor(impr * r.uniform(0, 0.3, n))
    age = r.uniform(0, 60, n)
    counters = signals.Counters.from_columns(dict(
        video_id=np.arange(n), creator_id=r.integers(0, 80, n), impressions=impr, plays_3s=p3, completions=comp,
        watch_s=comp * dur + (p3 - comp) * 3, duration_s=dur, likes=np.floor(p3 * 0.1), comments=np.floor(p3 * 0.02),
        shares=shares, share_recipients=rec, share_opens=np.floor(rec * r.uniform(0, 1, n)), follows=np.floor(p3 * 0.01),
        creator_followers=followers, creator_regular_readers=np.floor(followers * r.uniform(0, 1, n)),
        rr_impressions=rr_imp, rr_plays_3s=np.floor(rr_imp * r.uniform(0, 1, n)), creator_age_days=age))
    sig = signals.compute_signals(counters)
    ctx = make_ctx(n, seed=5, impressions=impr, creator_age_days=age, is_new_creator=age < 14, signals=sig,
                   base_score=sig.matrix @ WEIGHTS)
    for name in P.REGISTRY:
        act = P.make_policy(name).act(ctx)
        assert np.isfinite(act.boost).all()
    # UCB's bonus falls with impressions at the real posteriors too
    ucb = P.make_policy("ucb").act(ctx).boost
    assert np.corrcoef(np.log1p(impr), ucb)[0, 1] < -0.5


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_policy_action_refuses_a_non_finite_boost_naming_where(bad):
    from ranker.policies import NonFiniteBoost, PolicyAction

    boost = np.zeros(5)
    boost[2] = bad
    with pytest.raises(NonFiniteBoost, match=r"The 'boost' field of PolicyAction must hold finite numbers\. "
                                             rf"Got {bad!r} at position 2 instead") as info:
        PolicyAction(boost=boost)
    assert (info.value.position, repr(info.value.value)) == (2, repr(bad))
    assert PolicyAction(boost=np.full(5, 1e300)).boost[0] == 1e300  # large but finite is fine
