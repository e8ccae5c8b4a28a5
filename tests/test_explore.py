"""Exploration: Plackett-Luce slates, their logged propensities, and the run without it unchanged."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow.parquet as pq
import pytest

from ranker._explore_kernels import plackett_luce_pos
from ranker.rng import STREAM_EXPLORE, key
from sim.config import Config, LoopConfig, parse_config
from sim.engine import simulate
from sim.events import PROPENSITY_FIELD, read_events
from tests import reference_explore as ref


def run_kernel(scores, is_new, k, n_quota, temperature, k0):
    n = len(scores)
    w = np.empty(max(n, 1))
    pos = np.empty(k + 1, np.uint32)
    prob = np.full(k, np.nan)
    m = plackett_luce_pos(np.asarray(scores, np.float64), np.asarray(is_new, np.bool_), n, k, n_quota,
                          1.0 / temperature, np.uint64(k0), w, pos, prob)
    return [int(i) for i in pos[:m]], prob[:m].tolist()


CASES = {
    # name: (n, k, n_quota, temperature, share masked, share new, score scale)
    "plain": (30, 8, 0, 0.5, 0.0, 0.3, 1.0),
    "quota": (30, 8, 3, 0.3, 0.1, 0.15, 1.0),
    "quota_exceeds_new": (20, 6, 5, 1.0, 0.0, 0.1, 1.0),
    "fewer_than_k": (5, 8, 2, 0.7, 0.2, 0.4, 1.0),
    "all_masked": (6, 3, 1, 0.5, 1.0, 0.5, 1.0),
    "cold_underflow": (25, 5, 2, 1e-4, 0.0, 0.2, 1.0),  # owed new posts' weights underflow against the best
    "hot": (40, 8, 0, 50.0, 0.0, 0.2, 1.0),
    "ties": (30, 6, 1, 0.4, 0.0, 0.3, 0.0),
}


def case(name, seed):
    n, k, q, tau, p_mask, p_new, scale = CASES[name]
    r = np.random.default_rng(seed)
    scores = (r.normal(0, 1, n) * scale if scale else r.integers(0, 3, n).astype(float))
    scores[r.random(n) < p_mask] = -np.inf
    return scores.tolist(), (r.random(n) < p_new).tolist(), k, q, tau


@pytest.mark.parametrize("name", list(CASES))
def test_kernel_matches_reference_twin(name):
    for seed in range(40):
        scores, is_new, k, q, tau = case(name, seed)
        k0 = key(seed, STREAM_EXPLORE, 3, 1, seed)
        got = run_kernel(scores, is_new, k, q, tau, k0)
        want = ref.plackett_luce(scores, is_new, k, q, 1.0 / tau, int(k0))
        assert got[0] == want[0], (name, seed)
        assert got[1] == want[1], (name, seed)  # same operations in the same order: same bits
        eligible = [i for i, s in enumerate(scores) if s > -math.inf]
        m = min(k, len(eligible))
        assert len(got[0]) == m and len(set(got[0])) == m and all(scores[i] > -math.inf for i in got[0])
        n_new = sum(1 for i in got[0] if is_new[i])
        assert n_new >= min(q, sum(1 for i in eligible if is_new[i]), m)  # the quota holds
        assert all(0.0 < p <= 1.0 for p in got[1])
        # each propensity recomputed from the scores alone: the slate's probability is their product
        if name != "cold_underflow":  # (there the product underflows; the per-position shares are checked above)
            assert math.prod(got[1]) == pytest.approx(ref.slate_probability(scores, is_new, k, q, 1.0 / tau,
                                                                            got[0]), rel=1e-9)


def test_cold_temperature_serves_the_top_k_in_score_order():
    r = np.random.default_rng(5)
    scores = r.normal(0, 1, 40)
    chosen, probs = run_kernel(scores, [False] * 40, 8, 0, 1e-6, key(1, STREAM_EXPLORE, 0, 0, 0))
    assert chosen == np.argsort(-scores)[:8].tolist()
    assert probs == [1.0] * 8


def test_cold_underflow_case_reaches_the_local_weights():
    """The owed new-creator slot is drawn among posts whose weights all underflow against the best score."""
    scores = [5.0, 4.0, 3.0, 0.0, -0.5]
    is_new = [False, False, False, True, True]
    chosen, probs = run_kernel(scores, is_new, 2, 1, 1e-3, key(0, STREAM_EXPLORE, 0, 0, 0))
    assert chosen == [0, 3] and probs[0] == 1.0 and probs[1] == pytest.approx(1.0)
    # at a milder temperature the second new post gets its softmax share
    p = 1.0 / (1.0 + math.exp(-0.5 / 0.5))
    got = [run_kernel(scores, is_new, 2, 1, 0.5, key(s, STREAM_EXPLORE, 0, 0, 0)) for s in range(400)]
    second = [g for g in got if g[0][0] == 0]
    assert all(g[0][1] in (3, 4) for g in second)
    assert {g[0][1]: g[1][1] for g in second}[3] == pytest.approx(p)


def test_empirical_frequencies_over_replays_match_the_propensities():
    """One request replayed on 20,000 streams: how often each video tops the slate, and each pair fills the
    first two slots, against the logged propensities (4 standard errors)."""
    r = np.random.default_rng(11)
    n, k = 12, 4
    scores = r.normal(0, 0.6, n)
    is_new = r.random(n) < 0.3
    tau = 0.4
    reps = 20_000
    first, pair = {}, {}
    prop_first, prop_pair = {}, {}
    for s in range(reps):
        chosen, probs = run_kernel(scores, is_new, k, 1, tau, key(s, STREAM_EXPLORE, 7, 2, 9))
        first[chosen[0]] = first.get(chosen[0], 0) + 1
        pair[tuple(chosen[:2])] = pair.get(tuple(chosen[:2]), 0) + 1
        prop_first[chosen[0]] = probs[0]
        prop_pair[tuple(chosen[:2])] = probs[0] * probs[1]
    # the same propensity for a video whatever the replay (it depends only on the positions above)
    for v, p in prop_first.items():
        se = math.sqrt(p * (1 - p) / reps)
        assert abs(first[v] / reps - p) < 4 * se + 1e-12, (v, first[v] / reps, p)
    assert sum(prop_first.values()) == pytest.approx(1.0)
    checked = 0
    for pr, p in prop_pair.items():
        if p * reps < 30:
            continue
        se = math.sqrt(p * (1 - p) / reps)
        assert abs(pair[pr] / reps - p) < 4 * se, (pr, pair[pr] / reps, p)
        checked += 1
    assert checked >= 10


# --- config --------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["0", "-0.5", "0.0"])
def test_temperature_at_or_below_zero_is_refused_naming_field_and_range(bad):
    with pytest.raises(ValueError, match=r"^The 'temperature' parameter of LoopConfig must be a finite float in "
                                         r"the range \(0\.0, 100\.0\]\. Got "):
        parse_config(f"[loop]\nexplore = 'plackett_luce'\ntemperature = {bad}\n")


def test_loop_section_at_its_defaults_is_left_out_of_the_written_config():
    assert "[loop]" not in Config().to_toml()
    c = Config().replace(loop=LoopConfig(explore="plackett_luce", temperature=0.5))
    assert "[loop]" in c.to_toml() and parse_config(c.to_toml()) == c


def test_ipw_without_exploration_is_refused():
    with pytest.raises(ValueError, match="'ipw' parameter of LoopConfig needs explore"):
        LoopConfig(ipw=True)


# --- the engine ----------------------------------------------------------------------------------

def tiny(**loop):
    cfg = Config().with_overrides(users=300, days=2, seed=4, log_sample=1.0)
    cfg = cfg.replace(world=cfg.world.replace(n_creators=30, new_creators_per_day=2))
    return cfg.replace(loop=LoopConfig(**loop)) if loop else cfg


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("explore")
    out = {}
    for name, loop in (("off", {}), ("off_other_temperature", dict(temperature=3.0)),
                       ("on", dict(explore="plackett_luce", temperature=0.3))):
        out[name] = (simulate(tiny(**loop), out_dir=d / name, progress=False, threads=1), d / name)
    return out


def test_exploration_off_writes_the_same_events_and_metrics_whatever_the_temperature(runs):
    (a, da), (b, db) = runs["off"], runs["off_other_temperature"]
    ta = pq.read_table(next((da / "events").rglob("*.parquet")))
    assert "propensity" not in ta.schema.names
    for fa in sorted((da / "events").rglob("*.parquet")):
        fb = db / fa.relative_to(da)
        # rows and schema equal; the files' run metadata differ only by the config they name
        assert pq.read_table(fa).equals(pq.read_table(fb))
    assert (da / "metrics.json").read_bytes() == (db / "metrics.json").read_bytes()


def test_exploration_logs_propensities_that_the_logged_scores_reproduce(runs):
    res, d = runs["on"]
    f = next((d / "events").rglob("*.parquet"))
    field = pq.read_schema(f).field("propensity")
    assert field.metadata[b"unit"].decode() == PROPENSITY_FIELD[2]
    ev = read_events(d)
    p = ev["propensity"].to_numpy(np.float64)
    assert ((p > 0) & (p <= 1)).all()
    assert (p < 0.999).mean() > 0.5  # it explores: most positions were not a sure thing
    # recompute each request's propensities from its logged scores and the temperature (policy none: no quota)
    checked = 0
    for _, g in ev.groupby(["day", "request_id"], sort=False):
        g = g.sort_values("position")
        want = ref.propensities_from_log(g["score"].to_numpy(np.float64), g["propensity"].to_numpy(np.float64), 0.3)
        np.testing.assert_allclose(g["propensity"].to_numpy(np.float64)[:-1], want[:-1], rtol=2e-4)
        checked += 1
        if checked >= 2000:
            break
    assert checked >= 500
    off, d_off = runs["off"]
    # the top k puts each slate's best score first; exploring at 0.3 often does not (a third of requests
    # here), and pays for it in value per impression
    ev_off = read_events(d_off)
    for frame, lo, hi in ((ev_off, 0.0, 0.0), (ev, 0.2, 0.6)):
        top = frame.groupby(["day", "request_id"]).score.max()
        first = frame[frame.position == 0].set_index(["day", "request_id"]).score
        share = float((first < top.loc[first.index]).mean())
        assert lo <= share <= hi, share
    # and pays for it in value per impression: on this 300-user, 30-creator world the sign varies by seed
    # (lower on 2 of seeds 0-5 once issue 15 drew potential posts), so it is checked paired over seeds on
    # a 2,000-user world (measured -0.0110, -0.0002, +0.0002, -0.0168 on seeds 0-3; mean -0.0070)
    diffs = []
    for seed in range(4):
        v = []
        for loop in ({}, dict(explore="plackett_luce", temperature=0.3)):
            c = tiny(**loop)
            c = c.replace(run=c.run.replace(seed=seed, log_sample=0.0),
                          world=c.world.replace(n_users=2000, n_creators=200, new_creators_per_day=4))
            v.append(simulate(c, progress=False, threads=1).metrics["value_per_impression"]["value"])
        diffs.append(v[1] - v[0])
    assert np.mean(diffs) < 0, diffs
    assert json.loads((d / "metrics.json").read_text()).keys() == json.loads(
        (runs["off"][1] / "metrics.json").read_text()).keys()
