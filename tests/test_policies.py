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
from ranker.params import Section, param
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


def make_ctx(n=40, seed=0, day=3, tick=1, run_seed=11, new_days=14, kind=True, **over):
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
    "fixed_tilt": "strength", "ugc_tilt": "strength", "decaying_tilt": "strength", "slot_quota": "share",
    "traffic_pools": "strength", "ucb": "c", "thompson": "scale", "fairco": "strength",
}
BOOST = st.sampled_from(P.BOOST_SCOPES)
EXPLORE = st.sampled_from(P.EXPLORE_SCOPES)
OTHERS = {
    "fixed_tilt": dict(days=st.integers(0, 60), scope=BOOST),
    "ugc_tilt": dict(new_ratio=st.floats(0, 5)),
    "decaying_tilt": dict(half_life_days=st.floats(0.01, 100), scope=EXPLORE),
    "slot_quota": dict(),
    "traffic_pools": dict(percentile=st.floats(0, 100), z=st.floats(0, 10), min_peers=st.integers(1, 50),
                          scope=EXPLORE, drop_failed=st.booleans(), window_days=st.floats(0.1, 30),
                          pool_multiples=st.sampled_from([[1.0], [0.1, 1.0], [0.25, 1.0, 4.0]]),
                          min_traffic=st.floats(0.5, 100)),
    "ucb": dict(scope=EXPLORE, half_life_days=st.floats(0.1, 100)),
    "thompson": dict(scope=EXPLORE),
    "fairco": dict(merit=st.sampled_from(["score", "completion", "play3"]), groups=st.sampled_from(["new", "new_kind"]),
                   age_offset_days=st.floats(0.01, 10)),
}


# --- registry and construction -----------------------------------------------------

def test_registry_holds_the_cli_names():
    assert set(P.REGISTRY) == {"none", "fixed_tilt", "ugc_tilt", "decaying_tilt", "slot_quota", "traffic_pools", "ucb",
                               "thompson", "fairco"}
    assert set(STRENGTH) == set(P.REGISTRY) - {"none"}
    assert {n: c.strength_param for n, c in P.REGISTRY.items() if n != "none"} == STRENGTH


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
    with pytest.raises(ValueError, match=r"Unknown key\(s\) \['strenght'\].*\['days', 'scope', 'strength'\]"):
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
    ("traffic_pools", {"drop_failed": 1}, TypeError,
     "The 'drop_failed' parameter of TrafficPoolsParams must be a bool (true or false). Got 1 instead."),
    ("slot_quota", {"share": 1.5}, ValueError,
     "The 'share' parameter of SlotQuotaParams must be a finite float in the range [0.0, 1.0]. Got 1.5 instead."),
    ("traffic_pools", {"pool_multiples": [2.0, 1.0]}, ValueError,
     "The 'pool_multiples' parameter of TrafficPoolsParams must be a strictly increasing list of 1 to 16 floats. "
     "Got [2.0, 1.0] instead."),
    ("traffic_pools", {"pool_multiples": []}, ValueError,
     "The 'pool_multiples' parameter of TrafficPoolsParams must be a strictly increasing list of 1 to 16 floats. "
     "Got [] instead."),
    ("traffic_pools", {"pool_multiples": [0.0, 10.0]}, ValueError,
     "The 'pool_multiples[0]' parameter of TrafficPoolsParams must be a finite float in the range (0.0, 1000000.0]. "
     "Got 0.0 instead."),
    ("traffic_pools", {"pool_sizes": [200.0, 2000.0]}, ValueError,
     "Unknown key(s) ['pool_sizes'] in [policy.params (traffic_pools)]. Allowed keys: ['drop_failed', 'min_peers', "
     "'min_traffic', 'percentile', 'pool_multiples', 'scope', 'strength', 'window_days', 'z']. "
     "Did you mean: 'pool_sizes' -> 'pool_multiples'?"),
    ("traffic_pools", {"scope": "old"}, ValueError,
     "The 'scope' parameter of TrafficPoolsParams must be a str among ['all', 'new', 'new_or_ugc', 'ugc']. "
     "Got 'old' instead."),
    ("fixed_tilt", {"scope": "all"}, ValueError,
     "The 'scope' parameter of FixedTiltParams must be a str among ['new', 'new_or_ugc', 'ugc']. Got 'all' instead."),
    ("ucb", {"half_life_days": 0.0}, ValueError,
     "The 'half_life_days' parameter of UCBParams must be a finite float in the range (0.0, 3650.0]. Got 0.0 instead."),
    ("ugc_tilt", {"new_ratio": -1.0}, ValueError,
     "The 'new_ratio' parameter of UGCTiltParams must be a finite float in the range [0.0, 100.0]. Got -1.0 instead."),
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


# --- declarations: scope, strength grid, serving checks ---------------------------------

@pytest.mark.parametrize("name", sorted(STRENGTH))
def test_every_policy_declares_scope_and_a_grid_that_acts(name):
    cls = P.REGISTRY[name]
    grid = cls.grid()
    assert len(grid) >= P.MIN_REGISTERED_GRID and all(b > a > 0 for a, b in zip(grid, grid[1:]))
    assert P.make_policy(name).scope in P.SCOPES
    ctx = make_ctx(80, seed=1)
    none = P.make_policy("none").act(ctx)
    effects = []
    for v in grid:
        pol = P.make_policy(name, {cls.strength_param: v})
        pol.check_serving(8)
        act = pol.act(ctx)
        effects.append((act.boost.tolist(), act.quota))
        assert act.boost.any() or act.quota > 0, (name, v)  # every grid point acts
        assert not np.array_equal(act.boost, none.boost) or act.quota != none.quota
    assert len({repr(e) for e in effects}) == len(grid)  # and each differently
    assert P.make_policy("none").scope == "none" and P.REGISTRY["none"].grid() == ()


def test_register_refuses_a_grid_of_fewer_than_three_strengths():
    @dataclass(frozen=True)
    class TwoParams(Section):
        strength: float = param(1.0, "float", 0.0, 10.0, doc="x")

    class Two(P.Policy):
        name = "two_points"
        Params = TwoParams
        strength_param = "strength"
        strength_grid = (0.5, 1.0)

    with pytest.raises(ValueError) as e:
        P.register(Two)
    assert str(e.value) == ("Policy 'two_points' must register a strength grid of at least 3 strictly increasing "
                            "positive values. Got [0.5, 1.0] instead.")
    Two.strength_grid = (0.5, 1.0, 20.0)  # 20 is out of the parameter's range
    with pytest.raises(ValueError, match=r"The 'strength' parameter of TwoParams must be a finite float in the range "
                                         r"\[0\.0, 10\.0\]\. Got 20\.0 instead\."):
        P.register(Two)
    assert "two_points" not in P.REGISTRY


def test_scopes_select_new_ugc_or_both_and_need_the_kind():
    ctx = make_ctx(200, seed=1)
    new, ugc = ctx.is_new_creator, ctx.creator_kind == 0
    assert new.any() and ugc.any() and (new & ~ugc).any() and (ugc & ~new).any()
    for scope, want in (("new", new), ("ugc", ugc), ("new_or_ugc", new | ugc)):
        boost = P.make_policy("fixed_tilt", {"strength": 0.7, "scope": scope}).act(ctx).boost
        np.testing.assert_array_equal(boost, np.where(want, 0.7, 0.0))
    np.testing.assert_array_equal(P.scope_mask(ctx, "all"), np.ones(200, bool))
    kindless = make_ctx(20, kind=False)
    with pytest.raises(ValueError) as e:
        P.make_policy("ucb", {"scope": "ugc"}).act(kindless)
    assert str(e.value) == ("The scope 'ugc' needs PolicyContext.creator_kind (0 UGC, 1 professional). "
                            "Got None instead.")
    with pytest.raises(ValueError, match=r"^The ugc_tilt policy needs PolicyContext.creator_kind"):
        P.make_policy("ugc_tilt").act(kindless)
    P.make_policy("ucb").act(kindless)  # scope new needs no kind


def test_slot_quota_share_that_rounds_to_no_slot_is_an_error_naming_it():
    with pytest.raises(ValueError) as e:
        P.make_policy("slot_quota", {"share": 0.05}).check_serving(8)
    assert str(e.value) == (
        "The 'share' parameter of SlotQuotaParams must be 0 or a float in the range (0.0625, 1.0] with slate_size = 8 "
        "(round(share x slate_size) slots are reserved). Got 0.05 instead, which reserves 0 slots: the same as 'none'.")
    with pytest.raises(ValueError, match=r"Got 0\.0625 instead"):  # 0.5 slot rounds half to even: 0
        P.make_policy("slot_quota", {"share": 0.0625}).check_serving(8)
    P.make_policy("slot_quota", {"share": 0.07}).check_serving(8)  # 0.56 slot: 1
    P.make_policy("slot_quota", {"share": 0.0}).check_serving(8)  # explicitly off
    assert [P.quota_slots(s, 8) for s in P.SlotQuota.grid(8)] == [1, 2, 3]
    assert P.SlotQuota.grid(4) == (0.25, 0.5, 0.75)
    assert P.SlotQuota.grid(2) == (0.5, 1.0)
    assert P.SlotQuota.grid() == (0.125, 0.25, 0.375)


def test_config_refuses_a_rounded_away_quota_before_any_run():
    from sim.config import Config, parse_config

    with pytest.raises(ValueError, match=r"^The 'share' parameter of SlotQuotaParams must be 0 or a float in the range "
                                         r"\(0\.0625, 1\.0\] with slate_size = 8 .*Got 0\.05 instead"):
        Config().with_overrides(policy="slot_quota", policy_params={"share": 0.05})
    with pytest.raises(ValueError, match=r"range \(0\.25, 1\.0\] with slate_size = 2 .*Got 0\.2 instead"):
        parse_config('[feed]\nslate_size = 2\n[policy]\nname = "slot_quota"\nparams = {share = 0.2}\n')
    cfg = parse_config('[feed]\nslate_size = 20\n[policy]\nname = "slot_quota"\nparams = {share = 0.05}\n')
    assert cfg.policy.params["share"] == 0.05  # one slot of 20


SWEEP_ERRORS = [
    ("fixed_tilt", "strength", [0.5], ValueError,
     "--sweep 'fixed_tilt.strength' is a strength grid of 1 point; a grid needs at least 2 distinct values of "
     "'strength' to draw a curve. The registered grid of 'fixed_tilt' is 0.25, 0.5, 1.0."),
    ("ucb", "c", [0.5, 0.5], ValueError, r"--sweep 'ucb.c' is a strength grid of 1 point"),
    ("bogus", "x", [1], ValueError, "Unknown policy 'bogus' in --sweep 'bogus.x'. Registered policies: "),
    ("ucb", "only_new", [True], ValueError, "Policy 'ucb' has no parameter 'only_new' (--sweep 'ucb.only_new'). "
                                            "Its parameters: c, half_life_days, scope."),
    ("none", "x", [1, 2], ValueError, "Policy 'none' has no parameters to sweep (--sweep 'none.x')."),
    ("ucb", "c", [0.5, -1.0], ValueError, "--sweep ucb.c=-1.0: The 'c' parameter of UCBParams must be a finite "
                                          "float in the range [0.0, 100.0]. Got -1.0 instead."),
]


@pytest.mark.parametrize("name, pname, values, exc, message", SWEEP_ERRORS)
def test_check_sweep_errors(name, pname, values, exc, message):
    with pytest.raises(exc) as e:
        P.check_sweep(name, pname, values)
    assert str(e.value).startswith(message.replace("\\", "")) or __import__("re").match(message, str(e.value))


def test_check_sweep_resolves_and_knows_the_slate():
    assert P.check_sweep("fixed_tilt", "strength", [1, 0.25, 1.0]) == [1.0, 0.25]
    assert P.check_sweep("ucb", "scope", ["all"]) == ["all"]  # one value of another parameter is an arm, not a grid
    with pytest.raises(ValueError, match=r"^--sweep slot_quota\.share=0\.05: The 'share' parameter .* slate_size = 8"):
        P.check_sweep("slot_quota", "share", [0.05, 0.25], slate_size=8)


# --- tilts and quota ---------------------------------------------------------------

def test_fixed_tilt_boosts_young_creators_only():
    ctx = make_ctx(200, seed=1)
    boost = P.make_policy("fixed_tilt", {"strength": 0.7}).act(ctx).boost
    np.testing.assert_array_equal(boost, np.where(ctx.is_new_creator, 0.7, 0.0))
    assert ctx.is_new_creator.any() and not ctx.is_new_creator.all()
    boost = P.make_policy("fixed_tilt", {"strength": 0.7, "days": 30}).act(ctx).boost
    np.testing.assert_array_equal(boost > 0, ctx.creator_age_days < 30)


def test_ugc_tilt_adds_the_ugc_and_the_new_creator_bonus():
    ctx = make_ctx(300, seed=2)
    ugc, new = ctx.creator_kind == 0, ctx.is_new_creator
    assert (ugc & new).any() and (~ugc & ~new).any() and (ugc & ~new).any() and (~ugc & new).any()
    pol = P.make_policy("ugc_tilt", {"strength": 0.4})
    assert pol.scope == "new_or_ugc"
    np.testing.assert_allclose(pol.act(ctx).boost, 0.4 * ugc + 0.4 * new)
    b = pol.act(ctx).boost
    assert set(np.round(b, 12)) == {0.0, 0.4, 0.8}
    only = P.make_policy("ugc_tilt", {"strength": 0.4, "new_ratio": 0.0})
    assert only.scope == "ugc"
    np.testing.assert_array_equal(only.act(ctx).boost, np.where(ugc, 0.4, 0.0))


def test_decaying_tilt_halves_per_half_life_and_spares_established():
    age = np.array([0.0, 2.0, 4.0, 8.0, 13.9, 14.0, 40.0])
    ctx = make_ctx(7, creator_age_days=age, is_new_creator=age < 14)
    boost = P.make_policy("decaying_tilt", {"strength": 2.0, "half_life_days": 4.0}).act(ctx).boost
    np.testing.assert_allclose(boost[:4], [2.0, 2.0 / np.sqrt(2), 1.0, 0.5])
    assert np.all(np.diff(boost[:5]) < 0) and boost[4] > 0
    assert boost[5] == boost[6] == 0.0
    everyone = P.make_policy("decaying_tilt", {"strength": 2.0, "half_life_days": 4.0, "scope": "all"}).act(ctx)
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


# sizes: multiples of the mean impressions of the active posts (about 250 here): 0.5x, 2x, 8x
POOLS = {"pool_multiples": [0.5, 2.0, 8.0]}


def test_traffic_pools_graduate_strong_post_and_stop_weak_one():
    ctx = pool_ctx(extra=[(250.0, 0.8), (250.0, 0.05), (50.0, 0.05), (250.0, 0.3)])
    pol = P.make_policy("traffic_pools", dict(POOLS, strength=1.5))
    np.testing.assert_allclose(pol.sizes(ctx), np.array([0.5, 2.0, 8.0]) * ctx.impressions.mean())
    level, passed, open_pool, failed, _ = pol.state(ctx)
    strong, weak, fresh, average = 50, 51, 52, 53
    assert level[strong] == level[weak] == 1 and level[fresh] == 0
    assert passed[strong] and open_pool[strong] and not failed[strong]
    assert not passed[weak] and failed[weak] and not open_pool[weak]
    assert open_pool[fresh]
    # like with like: an average post's lower bound sits at its peers' median lower bound, so about half pass
    peers = passed[:50]
    assert 0.3 < peers.mean() < 0.7
    act = pol.act(ctx)
    assert act.boost[strong] == act.boost[fresh] == 1.5
    assert act.boost[weak] == 0.0
    assert act.eligible is None
    dropped = P.make_policy("traffic_pools", dict(POOLS, drop_failed=True)).act(ctx).eligible
    assert dropped[strong] and dropped[fresh] and not dropped[weak]
    # percentile 0: every measured post beats the weakest peer but that one itself
    lenient = P.make_policy("traffic_pools", dict(POOLS, percentile=0.0)).state(ctx)
    assert lenient[1][strong] and lenient[1][average] and lenient[1][:50].sum() >= 48


def test_traffic_pools_old_gate_passed_few_new_gate_passes_the_percentile():
    # the earlier gate compared a post's lower bound with peers' point estimates: an average post failed
    ctx = pool_ctx(n_peers=400, peer_impr=300.0, seed=3)
    pol = P.make_policy("traffic_pools", dict(POOLS, z=1.0))
    level, passed, *_ = pol.state(ctx)
    assert (level == 1).all()
    assert abs(passed.mean() - 0.5) < 0.02
    mean, sd = P._posterior(ctx.signals, P._cols(P.POOL_SIGNALS))
    lcb = np.log(mean - sd).sum(axis=1)
    point_bar = np.percentile(np.log(mean).sum(axis=1), 50)
    assert (lcb > point_bar).mean() < 0.1
    for q in (20.0, 80.0):
        share = P.make_policy("traffic_pools", dict(POOLS, percentile=q)).state(ctx)[1].mean()
        assert abs(share - (1 - q / 100)) < 0.02


def test_traffic_pool_sizes_scale_with_the_worlds_traffic():
    ctx = pool_ctx(extra=[(250.0, 0.8), (900.0, 0.3)])
    pol = P.make_policy("traffic_pools")
    base = pol.sizes(ctx)
    np.testing.assert_allclose(base, np.array([0.25, 1.0, 4.0]) * ctx.impressions[ctx.active].mean())
    for factor in (0.5, 3.0, 40.0):
        scaled = dataclasses.replace(ctx, impressions=ctx.impressions * factor,
                                     signals=signals_from(ctx.impressions * factor,
                                                          np.round((ctx.signals.alpha - PRIOR_MEAN * PRIOR_STRENGTH)
                                                                   * factor)))
        np.testing.assert_allclose(pol.sizes(scaled), base * factor)
        # the same posts sit at the same levels
        np.testing.assert_array_equal(pol.state(scaled)[0], pol.state(ctx)[0])
    # inactive posts do not count; the floor holds at the first tick of a run
    half = dataclasses.replace(ctx, active=np.arange(ctx.n_videos) < 50)
    np.testing.assert_allclose(pol.sizes(half), np.array([0.25, 1.0, 4.0]) * 250.0)
    cold = dataclasses.replace(ctx, impressions=np.zeros(ctx.n_videos))
    np.testing.assert_allclose(pol.sizes(cold), np.array([0.25, 1.0, 4.0]) * 10.0)


def test_traffic_pools_scope_and_last_pool():
    ctx = pool_ctx(extra=[(250.0, 0.8), (25000.0, 0.8), (10.0, 0.3)])
    strong, top, fresh = 50, 51, 52
    params = {"pool_multiples": [0.2, 1.0, 10.0]}  # mean ~ 730: sizes ~ 146, 730, 7300
    boost = P.make_policy("traffic_pools", params).act(ctx).boost
    assert boost[fresh] > 0
    assert boost[top] == 0.0  # past the last size: graduated, organic ranking
    established = dataclasses.replace(ctx, is_new_creator=np.zeros(ctx.n_videos, bool))
    assert not P.make_policy("traffic_pools", params).act(established).boost.any()
    assert P.make_policy("traffic_pools", dict(params, scope="all")).act(established).boost[fresh] > 0
    old = dataclasses.replace(ctx, video_age_days=np.full(ctx.n_videos, 9.0))
    assert not P.make_policy("traffic_pools", params).act(old).boost.any()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("params", [{}, {"pool_multiples": [0.1, 0.5], "percentile": 30.0, "z": 0.5, "min_peers": 3},
                                    {"pool_multiples": [0.05], "percentile": 90.0, "z": 2.0, "min_peers": 1},
                                    {"scope": "ugc", "min_peers": 2, "min_traffic": 500.0}])
def test_traffic_pools_match_reference(seed, params):
    ctx = make_ctx(80, seed=seed)
    pol = P.make_policy("traffic_pools", params)
    _, _, open_pool, failed, in_scope = pol.state(ctx)
    p = pol.params
    want = ref.pool_state(ctx.impressions.tolist(), ctx.signals.alpha.tolist(), ctx.signals.beta.tolist(),
                          ctx.active.tolist(), in_scope.tolist(), list(p.pool_multiples), p.min_traffic,
                          p.percentile, p.z, p.min_peers)
    assert open_pool.tolist() == [w[0] for w in want]
    assert failed.tolist() == [w[1] for w in want]
    assert failed.any() and open_pool.any()


# --- uncertainty bonuses ---------------------------------------------------------

def test_score_log_sd_is_the_weighted_sd_of_the_log_rates():
    from scipy import special, stats

    ctx = make_ctx(30, seed=4)
    cols = P._cols(P.MAIN_SIGNALS)
    a, b = ctx.signals.alpha[:, cols], ctx.signals.beta[:, cols]
    var = special.polygamma(1, a) - special.polygamma(1, a + b)
    w = np.array(P.DEFAULT_SCORE_WEIGHTS)[cols]
    np.testing.assert_allclose(P.score_log_sd(ctx.signals.alpha, ctx.signals.beta, cols, ctx.score_weights),
                               np.sqrt(var @ w ** 2), rtol=1e-12)
    # trigamma differences are the variance of log theta: check one against a Monte Carlo of scipy's Beta
    x = np.log(stats.beta(3.0, 5.0).rvs(200_000, random_state=1))
    assert abs(x.var() - (special.polygamma(1, 3.0) - special.polygamma(1, 8.0))) < 0.01


def test_ucb_uses_the_score_weights_a_schedule_and_the_scope():
    impr = np.array([0.0, 10.0, 100.0, 1000.0, 10000.0, 0.0])
    succ = np.round(PRIOR_MEAN * impr[:, None])
    ctx = make_ctx(6, impressions=impr, signals=signals_from(impr, succ), video_age_days=np.zeros(6),
                   is_new_creator=np.array([True, True, True, True, True, False]))
    cols = P._cols(P.MAIN_SIGNALS)
    sd = P.score_log_sd(ctx.signals.alpha, ctx.signals.beta, cols, ctx.score_weights)
    boost = P.make_policy("ucb", {"c": 2.0}).act(ctx).boost
    np.testing.assert_allclose(boost[:5], 2.0 * sd[:5])
    assert np.all(np.diff(boost[:5]) < 0)
    assert boost[5] == 0.0  # established creator: out of the default scope
    everyone = P.make_policy("ucb", {"c": 2.0, "scope": "all"}).act(ctx).boost
    assert everyone[5] == everyone[0] > 0
    # the score's weights: doubling the completion weight moves the bonus as the formula says
    w2 = np.array(P.DEFAULT_SCORE_WEIGHTS)
    w2[1] = 2.0
    heavier = P.make_policy("ucb", {"c": 2.0}).act(dataclasses.replace(ctx, score_weights=w2)).boost
    np.testing.assert_allclose(heavier[:5], 2.0 * P.score_log_sd(ctx.signals.alpha, ctx.signals.beta, cols, w2)[:5])
    assert np.all(heavier[:5] > boost[:5])
    # the schedule: c halves every half-life of post age
    for age, factor in ((1.0, 0.5), (2.0, 0.25), (0.5, 2 ** -0.5)):
        aged = dataclasses.replace(ctx, video_age_days=np.full(6, age))
        np.testing.assert_allclose(P.make_policy("ucb", {"c": 2.0}).act(aged).boost, boost * factor)
    slow = dataclasses.replace(ctx, video_age_days=np.full(6, 3.0))
    np.testing.assert_allclose(P.make_policy("ucb", {"c": 2.0, "half_life_days": 3.0}).act(slow).boost, boost / 2)


def test_ucb_default_bonus_of_an_unseen_post_is_modest():
    # prior strength 7 (what runs fit): the default bonus of an unseen new post, against the old default's
    strength = 7.0
    alpha = np.tile(PRIOR_MEAN * strength, (1, 1))
    beta = np.tile((1 - PRIOR_MEAN) * strength, (1, 1))
    sig = StandInSignals(matrix=np.zeros((1, 7)), alpha=alpha, beta=beta)
    ctx = make_ctx(1, impressions=[0.0], signals=sig, video_age_days=[0.0], is_new_creator=[True])
    b = P.make_policy("ucb").act(ctx).boost[0]
    mean, sd = P._posterior(sig, P._cols(P.MAIN_SIGNALS))
    old = (sd / mean).sum()  # c = 1 times the unweighted sum of the three coefficients of variation
    assert 0.3 < b < 0.45
    assert b < 0.35 * old


@pytest.mark.parametrize("seed, n, day, tick", [(0, 1, 0, 0), (7, 25, 3, 2), (2**40, 60, 100, 23)])
def test_thompson_kernel_matches_reference(seed, n, day, tick):
    ctx = make_ctx(n, seed=seed % 1000)
    cols = P._cols(P.MAIN_SIGNALS)
    w = ctx.score_weights
    got = P.thompson_lift(ctx.signals.alpha, ctx.signals.beta, cols, seed, day, tick, weights=w)
    want = ref.thompson_lift(ctx.signals.alpha.tolist(), ctx.signals.beta.tolist(), cols.tolist(), seed, day, tick,
                             weights=w.tolist())
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    ids = np.random.default_rng(seed % 1000).permutation(10 * n)[:n] + 3
    got = P.thompson_lift(ctx.signals.alpha, ctx.signals.beta, cols, seed, day, tick, ids)
    want = ref.thompson_lift(ctx.signals.alpha.tolist(), ctx.signals.beta.tolist(), cols.tolist(), seed, day, tick,
                             ids.tolist())
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    assert P.thompson_lift(np.empty((0, 7)), np.empty((0, 7)), cols, seed, day, tick).shape == (0,)


def test_thompson_tiny_shapes_stay_finite_and_match_reference():
    alpha = np.array([[1e-3, 0.02, 0.7, 5.0, 1e-12, 1.0, 1.0], [1e5, 3.0, 1e-6, 1.0, 1.0, 1.0, 1.0]])
    beta = np.array([[50.0, 1e-4, 0.3, 1e-3, 2.0, 1.0, 1.0], [1e5, 1e-9, 1e6, 1.0, 1.0, 1.0, 1.0]])
    cols = np.arange(5)
    logs = P.thompson_log_draws(alpha, beta, cols, 3, 1, 2)
    assert np.isfinite(logs).all() and (logs <= 0).all()
    want = [[ref.log_beta(ref.base.key(3, ref.STREAM_THOMPSON, v, 1, 2), c, max(alpha[v, c], 1e-9),
                          max(beta[v, c], 1e-9)) for c in cols] for v in range(2)]
    np.testing.assert_allclose(logs, want, rtol=1e-10, atol=1e-10)
    assert np.isfinite(P.thompson_lift(alpha, beta, cols, 3, 1, 2)).all()


def test_thompson_draws_are_exact_beta_draws():
    from scipy import stats

    # one post per key, many keys: the draws of each column follow its Beta posterior (KS test)
    n = 4000
    shapes = [(0.3, 0.7), (4.2, 2.8), (2.1, 4.9), (60.0, 400.0)]
    alpha = np.zeros((n, 7))
    beta = np.ones((n, 7))
    for c, (a, b) in enumerate(shapes):
        alpha[:, c], beta[:, c] = a, b
    logs = P.thompson_log_draws(alpha, beta, np.arange(4), 5, 2, 1, ids=np.arange(n) * 7 + 11)
    for c, (a, b) in enumerate(shapes):
        x = np.exp(logs[:, c])
        assert stats.kstest(x, stats.beta(a, b).cdf).pvalue > 0.01, (a, b)
        assert abs(logs[:, c].mean() - (stats.beta(a, b).expect(np.log))) < 4 * logs[:, c].std() / np.sqrt(n)
    # columns and posts draw independently
    assert abs(np.corrcoef(logs[:, 1], logs[:, 2])[0, 1]) < 0.05


def test_thompson_mean_bonus_of_low_count_posts_is_zero():
    # the earlier normal approximation clipped at 0 (log 1e-9) and centred on log(mean): -0.55 on average
    n = 20000
    r = np.random.default_rng(8)
    impr = r.integers(0, 100, n).astype(np.float64)
    succ = r.binomial(impr.astype(np.int64)[:, None], PRIOR_MEAN).astype(np.float64)
    sig = signals_from(impr, succ)
    sig = dataclasses.replace(sig, alpha=sig.alpha * 7 / PRIOR_STRENGTH, beta=sig.beta * 7 / PRIOR_STRENGTH)
    ctx = make_ctx(n, seed=8, impressions=impr, signals=sig, is_new_creator=np.ones(n, bool))
    boost = P.make_policy("thompson").act(ctx).boost
    assert abs(boost.mean()) < 3 * boost.std() / np.sqrt(n)
    assert abs(boost.mean()) < 0.01 and boost.std() > 0.2
    unseen = make_ctx(n, seed=8, impressions=np.zeros(n), signals=signals_from(np.zeros(n), np.zeros((n, 7))),
                      is_new_creator=np.ones(n, bool))
    b0 = P.make_policy("thompson").act(unseen).boost
    assert abs(b0.mean()) < 3 * b0.std() / np.sqrt(n)


def test_thompson_draws_follow_the_post_not_the_row():
    ctx = make_ctx(50, seed=4, video_id=np.arange(50) + 1000, is_new_creator=np.ones(50, bool))
    pol = P.make_policy("thompson")
    full = pol.act(ctx).boost
    keep = np.flatnonzero(np.arange(50) % 3 != 1)
    sub = make_ctx(len(keep), seed=4, video_id=ctx.video_id[keep], impressions=ctx.impressions[keep],
                   signals=signals_from_rows(ctx.signals, keep), is_new_creator=np.ones(len(keep), bool))
    np.testing.assert_array_equal(pol.act(sub).boost, full[keep])
    by_row = pol.act(dataclasses.replace(sub, video_id=None)).boost
    assert (by_row != full[keep]).mean() > 0.9
    # common random numbers: another scale or scope only scales or masks the same draws
    np.testing.assert_allclose(P.make_policy("thompson", {"scale": 2.0, "scope": "all"}).act(ctx).boost, 2 * full)
    with pytest.raises(ValueError) as e:
        make_ctx(3, video_id=[0, -2, 5])
    assert str(e.value) == "The 'video_id' field of PolicyContext must hold non-negative ids. Got -2 instead."


def signals_from_rows(sig, rows):
    return StandInSignals(matrix=sig.matrix[rows], alpha=sig.alpha[rows], beta=sig.beta[rows], prior=sig.prior)


def test_thompson_replays_bit_identically_and_varies_by_key():
    ctx = make_ctx(200, seed=3)
    pol = P.make_policy("thompson", {"scale": 0.5, "scope": "all"})
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


def test_thompson_spreads_uncertain_posts_more_with_the_score_sd():
    n = 4000
    impr = np.where(np.arange(n) < n // 2, 20.0, 20000.0)
    succ = np.round(PRIOR_MEAN * impr[:, None])
    ctx = make_ctx(n, impressions=impr, signals=signals_from(impr, succ), is_new_creator=np.ones(n, bool))
    boost = P.make_policy("thompson").act(ctx).boost
    few, many = boost[: n // 2], boost[n // 2:]
    assert few.std() > 5 * many.std()
    # its spread is the score's posterior sd, the quantity ucb adds c times
    sd = P.score_log_sd(ctx.signals.alpha, ctx.signals.beta, P._cols(P.MAIN_SIGNALS), ctx.score_weights)
    assert abs(few.std() / sd[0] - 1) < 0.05 and abs(many.std() / sd[-1] - 1) < 0.05
    assert abs(few.mean()) < 3 * few.std() / np.sqrt(n / 2)
    scoped = dataclasses.replace(ctx, is_new_creator=np.arange(n) < n // 2)
    np.testing.assert_array_equal(P.make_policy("thompson").act(scoped).boost,
                                  np.where(scoped.is_new_creator, boost, 0.0))


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
    ctx = make_ctx(10, seed=2, kind=False)
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
    # UCB's bonus falls with impressions at the real posteriors too (without the age schedule)
    ucb = P.make_policy("ucb", {"scope": "all", "half_life_days": 3650.0}).act(ctx).boost
    assert np.corrcoef(np.log1p(impr), ucb)[0, 1] < -0.5
    assert not P.make_policy("ucb").act(ctx).boost[~ctx.is_new_creator].any()


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


# --- effects in a small world (fixed seeds; the figures in the comments were measured when written) ----------

def _world_run(policy, params=None, seed=0, days=8, world=None, record=None, monkeypatch=None):
    """Run a small world; ``record(ctx, action)`` sees every tick's policy call."""
    from sim.config import Config
    from sim.engine import simulate
    from sim.world import WorldConfig

    wc = world or WorldConfig(n_users=3000, n_creators=150, new_creators_per_day=6)
    if record is not None:
        cls = P.REGISTRY[policy]
        orig = cls.act

        def act(self, ctx):
            a = orig(self, ctx)
            record(self, ctx, a)
            return a

        monkeypatch.setattr(cls, "act", act)
    cfg = Config(world=wc).with_overrides(policy=policy, policy_params=params or {}, seed=seed, days=days, log_sample=0.0)
    m = simulate(cfg, None, progress=False).metrics
    if record is not None:
        monkeypatch.undo()
    return {k: m[k]["value"] for k in ("new_creator_exposure_share", "value_per_impression",
                                       "new_creator_quality_exposure_corr")}


@pytest.fixture(scope="module")
def small_none():
    return _world_run("none")


@pytest.mark.slow
def test_thompson_no_longer_lowers_new_creator_exposure(small_none, monkeypatch):
    low = []
    res = _world_run("thompson", {"scope": "all"}, record=lambda pol, ctx, a: low.append(
        (a.boost[ctx.impressions < 100].sum(), (ctx.impressions < 100).sum())), monkeypatch=monkeypatch)
    # before: the clipped normal draw centred on log(mean) took 0.0388 to 0.0365 (-6 %) here, and posts under
    # 100 impressions got a mean bonus of -0.92; now 0.0403 (+4 %) and a mean bonus of about 0
    # (after the demographic world and issue 14's behaviour defaults: 0.96 at this seed). Centred draws over
    # every post have no systematic direction, so the share stays within a few % either way; the bug itself
    # (a negative mean bonus on little-seen posts) is pinned by the mean below, over at least 2,000 bonuses
    # (3,000 before no video was served twice, which spreads impressions over more posts: 2,266 now).
    # With no video served twice the share is 0.945-0.965 of none's over seeds 0-3; once creators also
    # respond (issue 15; 0.934 with repeats), 0.937-0.976 (0.962 at this seed).
    ratio = res["new_creator_exposure_share"] / small_none["new_creator_exposure_share"]
    assert 0.9 < ratio < 1.1
    s, n = np.sum(low, axis=0)
    assert n > 2000 and abs(s / n) < 0.03, s / n
    # the default scope, new creators only: 0.0412, +6 %, while heavy users were served repeats; with no
    # video served twice 0.951-0.974 of none's over seeds 0-3, and 0.947-1.027 once creators also respond
    # (0.986 here): scoped draws no longer raise newcomers' share in this world, and do not lower it by
    # more than a few %
    scoped = _world_run("thompson")
    assert 0.9 < scoped["new_creator_exposure_share"] / small_none["new_creator_exposure_share"] < 1.05
    # and it costs little user value, unlike thompson over every post (0.7398 and 0.7021 against 0.7447)
    assert scoped["value_per_impression"] > 0.98 * small_none["value_per_impression"]
    assert res["value_per_impression"] < scoped["value_per_impression"]


@pytest.mark.slow
def test_ucb_boosts_newcomers_only_and_modestly(small_none, monkeypatch):
    stats = np.zeros(4)

    def rec(pol, ctx, a):
        boosted = a.boost > 0
        gap = np.percentile(ctx.base_score, 90) - np.median(ctx.base_score)
        unseen = (ctx.impressions == 0) & ctx.is_new_creator
        stats[:] += [boosted.sum(), (boosted & ctx.is_new_creator).sum(), (a.boost[unseen] > gap).sum(), unseen.sum()]

    res = _world_run("ucb", record=rec, monkeypatch=monkeypatch)
    # before (c = 1 over every post): 5 % of the boosted posts were new creators', 29 % of unseen posts got a
    # bonus above the gap between the median and the top decile of base scores, user value -12 %
    assert stats[0] > 1000 and stats[1] == stats[0]
    assert stats[3] > 100 and stats[2] == 0
    assert res["value_per_impression"] > 0.98 * small_none["value_per_impression"]
    assert 1.0 < res["new_creator_exposure_share"] / small_none["new_creator_exposure_share"] < 1.2


def _old_gate_state(self, ctx):
    """The earlier gate: a post's lower bound against peers' point estimates (any creator; else every post)."""
    p = self.params
    sizes = self.sizes(ctx)
    n = ctx.impressions
    level = np.searchsorted(sizes, n, side="right").astype(np.int64)
    mean, sd = P._posterior(ctx.signals, P._cols(P.POOL_SIGNALS))
    lcb = np.log(np.maximum(mean - p.z * sd, 1e-9)).sum(axis=1)
    point = np.log(np.maximum(mean, 1e-9)).sum(axis=1)
    upper = np.append(sizes[1:], np.inf)
    thresholds = np.full(len(sizes), np.inf)
    ap, an = point[ctx.active], n[ctx.active]
    for k in range(len(sizes)):
        peers = ap[(an >= sizes[k]) & (an < upper[k])]
        peers = ap if peers.size < p.min_peers else peers
        if peers.size:
            thresholds[k] = np.percentile(peers, p.percentile)
    passed = (level > 0) & (lcb > thresholds[np.maximum(level - 1, 0)])
    open_pool = (level == 0) | ((level < len(sizes)) & passed)
    in_scope = (ctx.video_age_days < p.window_days) & ctx.is_new_creator
    return level, passed, open_pool, (level > 0) & ~passed, in_scope


@pytest.mark.slow
def test_traffic_pools_scale_with_traffic_and_the_gate_finds_good_newcomers(monkeypatch):
    from sim.world import WorldConfig

    def recorder(out):
        def rec(pol, ctx, a):
            level, passed, *_, in_scope = pol.state(ctx)
            tested = in_scope & (level > 0)
            out["tested"] = out.get("tested", 0) + int(tested.sum())
            out["passed"] = out.get("passed", 0) + int((tested & passed).sum())
            out["sizes"] = pol.sizes(ctx)
        return rec

    # pool sizes follow the traffic per live post: twice the users, twice the sizes (measured 1.99x)
    small, big = {}, {}
    for users, out in ((1500, small), (3000, big)):
        _world_run("traffic_pools", world=WorldConfig(n_users=users, n_creators=150, new_creators_per_day=6),
                   record=recorder(out), monkeypatch=monkeypatch)
    np.testing.assert_allclose(big["sizes"] / small["sizes"], 2.0, rtol=0.15)
    np.testing.assert_allclose(big["sizes"] / big["sizes"][1], [0.25, 1.0, 4.0])
    # the like-with-like gate passes about its percentile (measured 49 %; the earlier gate 13-18 %, 23-35 % once
    # no video is served twice). It raised newcomers' quality-exposure correlation against the earlier gate
    # (0.270 vs 0.258, 0.307 vs 0.290) while heavy users were served repeats; with no video served twice the
    # difference is within noise (six seeds: -0.0044 to +0.0045, mean -0.0004; once creators also respond,
    # issue 15, four seeds: +0.0082, -0.0028, +0.0019, -0.0146), so what is pinned is that the new gate
    # costs it nothing beyond that noise on seeds 0 and 1.
    world = WorldConfig(n_users=4000, n_creators=200, new_creators_per_day=15)
    gain = []
    for seed in (0, 1):
        new, old = {}, {}
        a = _world_run("traffic_pools", seed=seed, days=10, world=world, record=recorder(new), monkeypatch=monkeypatch)
        monkeypatch.setattr(P.TrafficPools, "state", _old_gate_state)
        b = _world_run("traffic_pools", seed=seed, days=10, world=world, record=recorder(old), monkeypatch=monkeypatch)
        monkeypatch.undo()
        assert 0.4 < new["passed"] / new["tested"] < 0.6
        assert old["passed"] / old["tested"] < 0.35  # 0.28, 0.30 now (0.13-0.18 before issue 14's defaults)
        gain.append(a["new_creator_quality_exposure_corr"] - b["new_creator_quality_exposure_corr"])
    assert np.mean(gain) > -0.006 and min(gain) > -0.01, gain
