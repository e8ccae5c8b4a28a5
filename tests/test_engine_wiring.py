"""sim/engine.py's wiring, piece by piece, on worlds of 200 users for a day or two (a second or two a test).

Each test runs the real engine and checks what one connection carries against an
independent computation from the world, the config or the event log: the
settings and candidate pools each tick's kernel receives, the policy's context,
what the end of a day hands to the creators, the users and the metrics, the
warm-up's replay, the event log's derived columns; and the small pieces
(follow slots, row buffers, the dynamics watch, the AI label's hook, the run
result's frames) on hand-made inputs. Written to kill the mutants of
sim/engine.py (CONTRIBUTING.md, mutation testing), so each test runs its own
simulation: mutmut credits a module-scoped fixture to the first test only.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import sim.engine as E
from ranker.policies import REGISTRY, quota_slots
from ranker.score import base_scores, weight_vector
from sim import _engine_kernels as K
from sim import creators as CR
from sim import users as US
from sim.behavior import behavior_params
from sim.config import Config
from sim.engine import simulate
from sim.metrics import creator_age_days
from sim.seen import n_hashes
from sim.world import WorldConfig, build_world

SMALL = WorldConfig(n_users=200, n_creators=30, new_creators_per_day=2, friends_mean=6.0, follows_mean=4.0)


def small(days=2, seed=1, policy="none", params=None, log_sample=1.0, warmup_days=None, ranker=None, **sections):
    cfg = Config().replace(world=SMALL)
    for name, kw in sections.items():
        cfg = cfg.replace(**{name: getattr(cfg, name).replace(**kw)})
    return cfg.with_overrides(policy=policy, policy_params=params, days=days, seed=seed, log_sample=log_sample,
                              warmup_days=warmup_days, ranker=ranker)


def world_of(cfg):
    return build_world(cfg.world, cfg.run.simulated_days, cfg.run.seed, cfg.feed.ticks_per_day)


def events(d):
    from sim.events import read_events

    return read_events(Path(d) / "events")


class Recorder:
    """Wraps serve_tick, compute_signals, the policy's act and realise_posts: what each tick's kernel, signals
    and policy received, and the engine's array of realised posts."""

    def __init__(self, monkeypatch, policy="none"):
        self.ticks, self.ctxs, self.counters, self.realised = [], [], [], None
        serve, signals = E.K.serve_tick, E.compute_signals

        def signals_spy(counters):
            self.counters.append(counters)
            return signals(counters)

        monkeypatch.setattr(E, "compute_signals", signals_spy)

        def serve_spy(settings, world, state, pools, live_pools, users, row_off, *out):
            self.ticks.append(dict(
                settings=settings, interest=world.user_interest.copy(), hook=world.video_hook.copy(),
                base=state.base_score.copy(), boost=state.boost.copy(), is_new=state.is_new_creator.copy(),
                affinity=state.affinity.copy(), pools={k: np.array(v) for k, v in pools._asdict().items()},
                users=users.copy(), row_off=row_off.copy()))
            return serve(settings, world, state, pools, live_pools, users, row_off, *out)

        monkeypatch.setattr(E.K, "serve_tick", serve_spy)
        for name in {policy, "none"}:
            cls = REGISTRY[name]
            act = cls.act

            def act_spy(pol, ctx, act=act):
                a = act(pol, ctx)
                self.ctxs.append((ctx, a))
                return a

            monkeypatch.setattr(cls, "act", act_spy)
        realise = CR.realise_posts

        def realise_spy(*a):
            self.realised = a[-1]  # the engine's array of realised posts, updated in place
            return realise(*a)

        monkeypatch.setattr(CR, "realise_posts", realise_spy)


# --- each tick: the kernel's settings, state and pools ------------------------------------

def test_each_tick_hands_the_kernel_its_configured_settings(monkeypatch):
    cfg = small(days=2, policy="slot_quota", params={"share": 0.25},
                feed=dict(n_follow_candidates=5, n_interest_candidates=20, n_fresh_candidates=7, slate_size=6),
                behavior=dict(rr_rate=0.2, rr_on=0.65, rr_off=0.45))
    rec = Recorder(monkeypatch, "slot_quota")
    res = simulate(cfg, progress=False)
    T, f, b = cfg.feed.ticks_per_day, cfg.feed, cfg.behavior
    assert [(int(t["settings"].day), int(t["settings"].tick)) for t in rec.ticks] == \
        [(d, k) for d in range(2) for k in range(T)]
    first = 0
    for t in rec.ticks:
        s = t["settings"]
        assert int(s.seed) == 1 and int(s.slate_size) == 6
        assert (int(s.n_follow_candidates), int(s.n_interest_candidates), int(s.n_fresh_candidates)) == (5, 20, 7)
        assert int(s.interest_top_m) >= 20  # interest retrieval keeps at least the candidates it offers
        assert int(s.quota_slots) == quota_slots(0.25, 6) == 2 and s.quota_slots > 0
        assert (s.rr_rate, s.rr_on, s.rr_off) == (0.2, 0.65, 0.45)
        assert s.weight_affinity == cfg.weights.affinity and s.weight_regular_reader == cfg.weights.regular_reader
        assert s.affinity_strength == E.AFFINITY_STRENGTH and s.inv_temperature == 0.0
        assert int(s.seen_hashes) == n_hashes(f.seen_bits_per_item)
        np.testing.assert_array_equal(s.behavior_params, behavior_params(b))
        # request ids run on across ticks: this tick's first is the number of requests served before it
        assert int(s.first_request_id) == first
        first += int(t["row_off"][-1]) // 6
        assert np.all(np.diff(t["users"]) > 0) and t["row_off"][0] == 0
        assert np.all(np.diff(t["row_off"]) % 6 == 0) and np.all(np.diff(t["row_off"]) > 0)
    assert 0.7 * first * 6 < res.impressions <= first * 6  # a heavy user of a tiny world may get a short slate
    # the AI label's reaction reaches the kernel's hook (here 0: the world's hook as drawn)
    np.testing.assert_array_equal(rec.ticks[0]["hook"], world_of(cfg).video_hook)


def test_each_tick_serves_the_live_posts_in_their_pools(monkeypatch):
    """The candidate window, realised posts only, scores and boosts of live posts (-inf elsewhere),
    the topic pool by score, the fresh pool, the creators' pools newest first."""
    # a window of two days: posts reach its edge (exactly two days old) within the run
    cfg = small(days=2, policy="fixed_tilt", params={"strength": 1.5}, feed=dict(candidate_window_days=2))
    rec = Recorder(monkeypatch, "fixed_tilt")
    simulate(cfg, progress=False)
    w = world_of(cfg)
    T, f = cfg.feed.ticks_per_day, cfg.feed
    post_time = w.video_post_day.astype(np.int64) * T + w.video_post_tick
    measured = [(c, a) for c, a in rec.ctxs]
    assert len(measured) == len(rec.ticks) == 2 * T
    n_new = n_boosted = n_edge = 0
    for t, (ctx, act) in zip(rec.ticks, measured):
        s = t["settings"]
        now = int(s.day) * T + int(s.tick)
        window = (post_time > now - f.candidate_window_days * T) & (post_time <= now) & rec.realised
        idx = np.flatnonzero(window)
        np.testing.assert_array_equal(ctx.video_id, idx)
        n_edge += int(np.count_nonzero(rec.realised & (post_time == now - f.candidate_window_days * T)))
        # scores and boosts of the live posts; nothing else can be served
        assert np.all(np.isneginf(np.delete(t["base"], idx)))
        np.testing.assert_allclose(t["base"][idx], base_scores(ctx.signals.matrix, cfg.weights))
        np.testing.assert_array_equal(t["boost"][idx], act.boost)
        assert np.all(np.delete(t["boost"], idx) == 0)
        n_boosted += int(np.count_nonzero(act.boost > 0))
        age = creator_age_days(w.creator_join_day[w.video_creator[idx]], now / T)
        np.testing.assert_array_equal(t["is_new"][idx], age < f.new_creator_days)
        assert not np.delete(t["is_new"], idx).any()
        n_new += int(t["is_new"].sum())
        p = t["pools"]
        # topic pool: every live post once, grouped by topic (pointers from the counts), best total first
        topic = w.video_topic[idx]
        np.testing.assert_array_equal(p["topic_ptr"], np.r_[0, np.cumsum(np.bincount(topic, minlength=w.n_topics))])
        assert sorted(p["topic_videos"]) == list(idx)
        total = t["base"] + t["boost"]
        for k in range(w.n_topics):
            seg = p["topic_videos"][p["topic_ptr"][k]:p["topic_ptr"][k + 1]]
            assert np.all(w.video_topic[seg] == k)
            assert np.all(np.diff(total[seg]) <= 0)
        # fresh pool: live posts younger than the fresh window
        fresh = idx[post_time[idx] > now - f.fresh_window_days * T]
        np.testing.assert_array_equal(np.sort(p["fresh_videos"]), fresh)
        assert 0 < fresh.size < idx.size
        # creators' pools: grouped by creator, newest first
        cr = w.video_creator[idx]
        np.testing.assert_array_equal(p["creator_ptr"], np.r_[0, np.cumsum(np.bincount(cr, minlength=w.n_creators))])
        for c in range(w.n_creators):
            seg = p["creator_videos"][p["creator_ptr"][c]:p["creator_ptr"][c + 1]]
            assert np.all(w.video_creator[seg] == c) and np.all(np.diff(post_time[seg]) <= 0)
            assert sorted(seg) == list(idx[cr == c])
    assert n_new > 0 and n_boosted > 0 and n_edge > 0


def test_the_policy_sees_each_live_post_as_it_stands(monkeypatch, tmp_path):
    """The policy's context: the day and tick, each live post's creator, ages, newness, impressions so
    far (equal to the logged impressions before the tick), scores and weights."""
    cfg = small(days=2)
    rec = Recorder(monkeypatch)
    simulate(cfg, tmp_path / "r", progress=False)
    ev = events(tmp_path / "r")
    w = world_of(cfg)
    T = cfg.feed.ticks_per_day
    post_time = w.video_post_day.astype(np.int64) * T + w.video_post_tick
    assert len(rec.ctxs) == 2 * T
    for i, (ctx, _) in enumerate(rec.ctxs):
        day, tick = divmod(i, T)
        assert (ctx.seed, ctx.day, ctx.tick) == (1, day, tick)
        idx = ctx.video_id
        assert ctx.n_videos == idx.size > 0
        np.testing.assert_array_equal(ctx.creator_id, w.video_creator[idx])
        np.testing.assert_array_equal(ctx.creator_kind, w.creator_kind[w.video_creator[idx]])
        np.testing.assert_allclose(ctx.video_age_days, (day * T + tick - post_time[idx]) / T)
        age = creator_age_days(w.creator_join_day[w.video_creator[idx]], day + tick / T)
        np.testing.assert_allclose(ctx.creator_age_days, age)
        np.testing.assert_array_equal(ctx.is_new_creator, age < cfg.feed.new_creator_days)
        assert ctx.new_creator_days == cfg.feed.new_creator_days
        assert ctx.active.all() and ctx.active.shape == idx.shape
        want = np.bincount(ev.video_id[ev.day * T + ev.tick < i], minlength=w.n_videos)[idx]
        np.testing.assert_array_equal(ctx.impressions, want)
        np.testing.assert_allclose(ctx.base_score, base_scores(ctx.signals.matrix, cfg.weights))
        np.testing.assert_array_equal(ctx.score_weights, weight_vector(cfg.weights))
    assert rec.ctxs[-1][0].impressions.sum() > 1000


def test_eligible_mask_keeps_masked_posts_out_of_every_pool(monkeypatch, tmp_path):
    """A policy's ``eligible`` mask: masked posts get no score and no pool, and are never served."""
    from ranker.policies import PolicyAction

    cls = REGISTRY["none"]

    def act(self, ctx):
        return PolicyAction(boost=np.zeros(ctx.n_videos), eligible=ctx.video_id % 2 == 0)

    monkeypatch.setattr(cls, "act", act)
    rec = Recorder(monkeypatch)
    simulate(small(days=1), tmp_path / "r", progress=False)
    ev = events(tmp_path / "r")
    assert len(ev) > 1000 and (ev.video_id % 2 == 0).all()
    for t in rec.ticks:
        odd = np.arange(t["base"].size) % 2 == 1
        assert np.all(np.isneginf(t["base"][odd]))
        for pool in ("topic_videos", "fresh_videos", "creator_videos"):
            assert np.all(t["pools"][pool] % 2 == 0), pool
        assert t["pools"]["topic_videos"].size == t["pools"]["topic_ptr"][-1] > 0
        assert t["pools"]["creator_videos"].size == t["pools"]["creator_ptr"][-1]


def test_a_score_of_minus_inf_keeps_the_post_out_of_the_follow_scan(monkeypatch, tmp_path):
    """A ranker's -inf score (not a policy's mask): the post stays in its topic's pool but not in its creator's
    list, which the follow scan reads without a score; every other post keeps its place; none is served."""
    scores = E.base_scores
    monkeypatch.setattr(E, "base_scores", lambda m, w: np.where(np.arange(m.shape[0]) % 3 == 0, -np.inf, scores(m, w)))
    rec = Recorder(monkeypatch)
    cfg = small(days=1)
    simulate(cfg, tmp_path / "r", progress=False)
    ev = events(tmp_path / "r")
    assert len(ev) > 1000
    w, T = world_of(cfg), cfg.feed.ticks_per_day
    post_time = w.video_post_day.astype(np.int64) * T + w.video_post_tick
    n_out = 0
    for t, ctx in zip(rec.ticks, (c for c, _ in rec.ctxs)):
        idx = ctx.video_id
        out = idx[np.arange(idx.size) % 3 == 0]
        assert np.all(np.isneginf(t["base"][out]))
        assert sorted(t["pools"]["topic_videos"]) == list(idx)  # a score, not a mask: still pooled by topic
        kept = np.setdiff1d(idx, out)
        p = t["pools"]
        np.testing.assert_array_equal(p["creator_ptr"], np.r_[0, np.cumsum(np.bincount(w.video_creator[kept],
                                                                                        minlength=w.n_creators))])
        for c in range(w.n_creators):
            seg = p["creator_videos"][p["creator_ptr"][c]:p["creator_ptr"][c + 1]]
            assert sorted(seg) == list(kept[w.video_creator[kept] == c]) and np.all(np.diff(post_time[seg]) <= 0)
        n_out += out.size
        assert not np.isin(ev.video_id[(ev.tick == int(t["settings"].tick))], out).any()
    assert n_out > 0


def test_oracle_ranks_on_quality_and_todays_true_interest(monkeypatch):
    """The oracle's score is the post's latent quality; its affinity the log of the viewers' true interest
    (drifting: recomputed each day from the drifted interests), weighed as the value formula weighs them."""
    cfg = small(days=2, ranker="oracle", behavior=dict(drift_rate=0.2))
    rec = Recorder(monkeypatch)
    simulate(cfg, progress=False)
    w, b = world_of(cfg), cfg.behavior
    for t in rec.ticks:
        s = t["settings"]
        assert s.affinity_strength == 0.0 and s.weight_regular_reader == 0.0
        assert s.weight_affinity == pytest.approx(b.value_a / b.value_q)
        live = np.isfinite(t["base"])
        np.testing.assert_array_equal(t["base"][live], w.video_quality[live])
        want = np.log(np.maximum(b.affinity_base + (1 - b.affinity_base) * (w.n_topics * t["interest"].astype(np.float64)),
                                 b.affinity_floor))
        np.testing.assert_allclose(t["affinity"], want, rtol=1e-5, atol=1e-6)
        assert t["affinity"].dtype == np.float32  # ServeState's affinity (docs/CONTRACTS.md)
    assert not np.array_equal(rec.ticks[0]["interest"], rec.ticks[-1]["interest"])  # the interests drifted
    assert not np.array_equal(rec.ticks[0]["affinity"], rec.ticks[-1]["affinity"])


def test_hand_ranker_passes_no_affinity_matrix(monkeypatch):
    """The hand-set ranker reads the logged affinity (strength AFFINITY_STRENGTH), never the true one,
    on every day, with interests drifting."""
    cfg = small(days=2, behavior=dict(drift_rate=0.2))
    rec = Recorder(monkeypatch)
    simulate(cfg, progress=False)
    assert len(rec.ticks) == 2 * cfg.feed.ticks_per_day
    for t in rec.ticks:
        assert t["affinity"].shape == (0, SMALL.n_topics)
        assert t["settings"].affinity_strength == E.AFFINITY_STRENGTH


def test_exploring_passes_the_inverse_temperature_and_logs_propensities(monkeypatch, tmp_path):
    """Plackett-Luce slates at temperature 0.5: the kernel gets 1 / 0.5, every logged impression its
    propensity; the loop's metrics and timings join the run's when it measures."""
    cfg = small(days=1)
    cfg = cfg.replace(loop=cfg.loop.replace(explore="plackett_luce", temperature=0.5, metrics=True))
    rec = Recorder(monkeypatch)
    res = simulate(cfg, tmp_path / "r", progress=False)
    assert rec.ticks and all(t["settings"].inv_temperature == 2.0 for t in rec.ticks)
    ev = events(tmp_path / "r")
    assert ((ev.propensity > 0) & (ev.propensity <= 1)).all() and (ev.propensity < 1).any()
    assert set(res.timings) == {"world_s", "kernels_s", "total_s", "retrain_s", "feed_loop_s"}
    assert res.timings["retrain_s"] == 0.0
    assert res.timings["feed_loop_s"] == pytest.approx(res.timings["total_s"] - res.timings["world_s"])
    assert any(k.startswith("loop_") for k in res.metrics)


# --- the end of each day ------------------------------------------------------------------

def test_end_of_day_hands_creators_users_and_metrics_the_days_counts(monkeypatch, tmp_path):
    """Creators get each one's impressions of the day and live posts (today's weighted by the share of the
    day they were candidates), users their day's impressions and value, the metrics the day's served users."""
    cfg = small(days=2)
    rec = Recorder(monkeypatch)
    got_c, got_u = [], []
    real_c, real_u = CR.end_of_day, US.end_of_day

    def creators_spy(seed, day, imps, live_posts, active, ccfg, motivation, baseline, quit_day):
        got_c.append((seed, day, imps.copy(), live_posts.copy(), active.copy(), quit_day.copy(), rec.realised.copy()))
        return real_c(seed, day, imps, live_posts, active, ccfg, motivation, baseline, quit_day)

    def users_spy(day_imps, day_value, *a):
        got_u.append((day_imps.copy(), day_value.copy()))
        return real_u(day_imps, day_value, *a)

    monkeypatch.setattr(CR, "end_of_day", creators_spy)
    monkeypatch.setattr(US, "end_of_day", users_spy)
    res = simulate(cfg, tmp_path / "r", progress=False)
    ev = events(tmp_path / "r")
    w = world_of(cfg)
    T, U, C = cfg.feed.ticks_per_day, w.n_users, w.n_creators
    post_time = w.video_post_day.astype(np.int64) * T + w.video_post_tick
    assert [g[1] for g in got_c] == [0, 1] and all(g[0] == 1 for g in got_c) and len(got_u) == 2
    for day, (_, _, imps, live_posts, active, quit_day, realised) in enumerate(got_c):
        e = ev[ev.day == day]
        np.testing.assert_array_equal(imps, np.bincount(e.creator_id, minlength=C))
        last = day * T + T - 1
        cand = realised & (post_time > last - cfg.feed.candidate_window_days * T) & (post_time <= last)
        wt = np.where(w.video_post_day == day, (T - w.video_post_tick) / T, 1.0)
        np.testing.assert_allclose(live_posts, np.bincount(w.video_creator[cand], weights=wt[cand], minlength=C))
        assert np.any((live_posts % 1) != 0)  # some of today's posts count in part
        np.testing.assert_array_equal(active, (quit_day > day) & (w.creator_join_day <= day))
        u_imps, u_value = got_u[day]
        np.testing.assert_array_equal(u_imps, np.bincount(e.user_id, minlength=U))
        np.testing.assert_allclose(u_value, np.bincount(e.user_id, weights=e.latent_value, minlength=U), rtol=1e-5)
    m = res.metrics
    assert m["daily_active_users_by_day"]["value"] == [float(ev[ev.day == d].user_id.nunique()) for d in (0, 1)]
    assert m["creators_served_by_day"]["value"] == [float(ev[ev.day == d].creator_id.nunique()) for d in (0, 1)]
    assert m["impressions"]["value"] == len(ev) == res.impressions
    assert all(0 < x < 1 for x in m["novelty_share_by_day"]["value"])  # the day's novelty value reached the metrics
    vpi = [ev[ev.day == d].latent_value.mean() for d in (0, 1)]
    np.testing.assert_allclose(m["value_per_impression_by_day"]["value"], vpi, rtol=1e-5)


def test_posts_by_day_counts_the_realised_posts(monkeypatch):
    rec = Recorder(monkeypatch)
    cfg = small(days=2)
    res = simulate(cfg, progress=False)
    w = world_of(cfg)
    want = [float(np.count_nonzero(rec.realised & (w.video_post_day == d))) for d in (0, 1)]
    assert res.metrics["posts_by_day"]["value"] == want and min(want) > 0
    assert res.metrics["posts_per_day"]["value"] == pytest.approx(np.mean(want))
    # the backlog (posts before day 0) was realised too, at neutral motivation: some, not all
    back = w.video_post_day < 0
    assert 0 < np.count_nonzero(rec.realised & back) < np.count_nonzero(back)


def test_creators_who_quit_leave_the_active_counts(tmp_path):
    """A world where creators quit fast: active creators shrink day by day, in the dynamics' series and in
    the metrics' (which read who is still posting from the quit days)."""
    cfg = small(days=3, creators=dict(quit_b=1.29, quit_slope=0.0))
    res = simulate(cfg, progress=False)
    act = res.metrics["creators_active_by_day"]["value"]
    assert act[0] > act[1] > act[2]
    assert res.metrics["active_creators_by_day"]["value"] == act


# --- the warm-up --------------------------------------------------------------------------

def test_warm_up_replays_the_first_days_of_a_cold_run(tmp_path):
    """A run with one warm-up day then one measured day under none is, day for day, the last day of a
    cold two-day run: the same log rows (reported as day 0), the same day's metrics; the warm-up's
    value per impression is the cold run's first day's."""
    cold = simulate(small(days=2), tmp_path / "cold", progress=False)
    warm = simulate(small(days=1, warmup_days=1), tmp_path / "warm", progress=False)
    c, h = events(tmp_path / "cold"), events(tmp_path / "warm")
    c1 = c[c.day == 1].drop(columns="day").reset_index(drop=True)
    assert sorted(h.day.unique()) == [0]
    h0 = h.drop(columns="day").reset_index(drop=True)
    assert len(h0) > 1000
    import pandas as pd

    pd.testing.assert_frame_equal(h0, c1)
    cm, wm = cold.metrics, warm.metrics
    for k in ("value_per_impression_by_day", "retention_by_day", "daily_active_users_by_day", "posts_by_day",
              "creators_active_by_day", "satisfaction_mean_by_day", "completion_rate_by_day"):
        assert wm[k]["value"] == cm[k]["value"][1:], k
    assert wm["impressions"]["value"] == len(h) == len(c1)
    assert wm["warmup_days"]["value"] == 1
    assert wm["value_per_impression_by_warmup_day"]["value"] == pytest.approx(cm["value_per_impression_by_day"]["value"][:1])
    assert (tmp_path / "warm" / "events").is_dir()
    assert sorted(p.name for p in (tmp_path / "warm" / "events").iterdir()) == \
        sorted(p.name for p in (tmp_path / "cold" / "events").iterdir())[:1]
    assert warm.impressions == len(c) and cold.impressions == len(c)  # the run counts the warm-up's impressions too


def test_warm_up_days_run_the_baseline_policy(monkeypatch):
    """The warm-up is served by none whatever the policy; the measured days by the policy."""
    rec = Recorder(monkeypatch, "slot_quota")
    simulate(small(days=1, warmup_days=1, policy="slot_quota", params={"share": 0.25}), progress=False)
    T = Config().feed.ticks_per_day
    quotas = [int(t["settings"].quota_slots) for t in rec.ticks]
    assert quotas == [0] * T + [quota_slots(0.25, 8)] * T and quotas[-1] > 0


def test_progress_names_the_warm_up(capsys):
    simulate(small(days=1, warmup_days=1), progress=True)
    err = capsys.readouterr().err
    assert "simulate none seed=1 (warm-up 1 days): day 2/2" in err
    simulate(small(days=1), progress=True)
    err = capsys.readouterr().err
    assert "simulate none seed=1: day 1/1" in err and "warm-up" not in err


# --- the event log ------------------------------------------------------------------------

def test_logged_rows_carry_the_world_and_the_request(tmp_path):
    cfg = small(days=2)
    simulate(cfg, tmp_path / "r", progress=False)
    ev = events(tmp_path / "r")
    w = world_of(cfg)
    T, slate = cfg.feed.ticks_per_day, cfg.feed.slate_size
    v = ev.video_id.to_numpy()
    np.testing.assert_array_equal(ev.creator_id, w.video_creator[v])
    np.testing.assert_array_equal(ev.duration_s, w.video_duration_s[v])
    np.testing.assert_array_equal(ev.is_ai_labeled, w.video_is_ai[v])
    age = creator_age_days(w.creator_join_day[ev.creator_id.to_numpy()], ev.day.to_numpy() + ev.tick.to_numpy() / T)
    np.testing.assert_allclose(ev.creator_age_days, age.astype(np.float32))
    np.testing.assert_array_equal(ev.is_new_creator, age < cfg.feed.new_creator_days)
    assert ev.is_new_creator.any() and not ev.is_new_creator.all()
    assert set(ev.tick) == set(range(T)) and set(ev.day) == {0, 1}
    assert set(ev.source) <= set(E.SOURCE_NAMES) and len(set(ev.source)) >= 3
    # a request's rows: one user, one tick, positions from 0; ids run on across ticks and days
    g = ev.groupby("request_id")
    assert (g.user_id.nunique() == 1).all() and (g.tick.nunique() == 1).all() and (g.position.min() == 0).all()
    assert (g.size() <= slate).all() and g.size().max() == slate
    firsts = g.first().sort_index()
    assert (np.diff(firsts.day * T + firsts.tick) >= 0).all()
    ids = np.sort(ev.request_id.unique())
    assert ids[0] == 0 and ids.size > 0.8 * (ids[-1] + 1)  # most requests show (a few heavy users' slates are empty)
    assert "propensity" not in ev.columns


def test_log_tick_writes_the_kept_rows_under_the_reported_day():
    """_log_tick on hand-made rows: unserved rows dropped, request ids from the row and the tick's first id,
    the world's columns, the partition day minus the warm-up, the propensity when exploring."""
    n, slate = 6, 3
    out_i = np.zeros((n, K.N_I), np.int32)
    out_f = np.zeros((n, K.N_F), np.float32)
    out_u = np.zeros((n, K.N_U), np.uint8)
    out_i[:, K.I_VIDEO] = [2, 0, -1, 1, 3, -1]
    out_i[:, K.I_USER] = [5, 5, 5, 7, 7, 7]
    out_i[:, K.I_REQ] = [0, 0, 0, 1, 1, 1]
    out_u[:, K.U_POS] = [0, 1, 2, 0, 1, 2]
    out_u[:, K.U_SOURCE] = [K.SOURCE_FOLLOW, K.SOURCE_SHARE, 0, K.SOURCE_INTEREST, K.SOURCE_FRESH, 0]
    for col, val in ((K.U_PLAY, 1), (K.U_COMPLETE, 1), (K.U_LIKE, 1), (K.U_COMMENT, 1), (K.U_SHARE, 1),
                     (K.U_NREC, 3), (K.U_NOPEN, 2), (K.U_FOLLOWED, 1), (K.U_FOLLOWER, 1), (K.U_REGULAR, 1)):
        out_u[1, col] = val
    for col, val in ((K.F_SCORE, 1.5), (K.F_BOOST, 0.25), (K.F_AFF, -0.5), (K.F_WATCH, 12.0), (K.F_VALUE, 0.75),
                     (K.F_PROP, 0.125)):
        out_f[:, col] = val * (1 + np.arange(n))
    w = SimpleNamespace(video_creator=np.array([0, 1, 1, 2], np.int32),
                        creator_join_day=np.array([-5, 3, 0], np.int32),
                        video_duration_s=np.array([10, 20, 30, 40], np.float32),
                        video_is_ai=np.array([False, True, False, True]))

    class Writer:
        def write(self, day, cols):
            self.day, self.cols = day, cols

    wr = Writer()
    run = SimpleNamespace(log_sample=1.0, seed=1)
    E._log_tick(wr, run, 4, 2, 4, slate, out_i, out_f, out_u, w, 100, 2, True, 1)
    c = wr.cols
    assert wr.day == 3
    np.testing.assert_array_equal(c["video_id"], [2, 0, 1, 3])
    np.testing.assert_array_equal(c["request_id"], [100, 100, 101, 101])
    np.testing.assert_array_equal(c["user_id"], [5, 5, 7, 7])
    np.testing.assert_array_equal(c["tick"], [2] * 4)
    np.testing.assert_array_equal(c["creator_id"], [1, 0, 1, 2])
    np.testing.assert_array_equal(c["position"], [0, 1, 0, 1])
    np.testing.assert_array_equal(c["source"], [K.SOURCE_FOLLOW, K.SOURCE_SHARE, K.SOURCE_INTEREST, K.SOURCE_FRESH])
    np.testing.assert_array_equal(c["duration_s"], [30, 10, 20, 40])
    np.testing.assert_array_equal(c["is_ai_labeled"], [False, False, True, True])
    # ages at day 4.5: creator 1 joined on day 3 (1.5 days: new under 2), creator 0 established, 2 joined on day 0
    np.testing.assert_allclose(c["creator_age_days"], creator_age_days(np.array([3, -5, 3, 0]), 4.5).astype(np.float32))
    np.testing.assert_array_equal(c["is_new_creator"], [True, False, True, False])
    kept = np.array([0, 1, 3, 4])
    for name, col in (("score", K.F_SCORE), ("boost", K.F_BOOST), ("affinity", K.F_AFF), ("watch_s", K.F_WATCH),
                      ("latent_value", K.F_VALUE), ("propensity", K.F_PROP)):
        np.testing.assert_array_equal(c[name], out_f[kept, col], err_msg=name)
    for name in ("play_3s", "completed", "liked", "commented", "shared", "followed", "follower", "regular_reader"):
        np.testing.assert_array_equal(c[name], [False, True, False, False], err_msg=name)
        assert c[name].dtype == bool, name
    np.testing.assert_array_equal(c["share_recipients"], [0, 3, 0, 0])
    np.testing.assert_array_equal(c["share_opens"], [0, 2, 0, 0])
    from sim.events import EVENT_COLUMNS

    assert set(c) == set(EVENT_COLUMNS) - {"day"} | {"propensity"}
    # not exploring: no propensity; nothing kept: nothing written
    E._log_tick(wr, run, 4, 2, 4, slate, out_i, out_f, out_u, w, 100, 2)
    assert "propensity" not in wr.cols and wr.day == 4
    wr.day = None
    out_i[:, K.I_VIDEO] = -1
    E._log_tick(wr, run, 4, 2, 4, slate, out_i, out_f, out_u, w, 100, 2)
    assert wr.day is None


def test_log_tick_samples_whole_requests_by_the_log_key():
    n, slate = 4000, 2
    out_i = np.zeros((n, K.N_I), np.int32)
    out_i[:, K.I_VIDEO] = 0
    out_i[:, K.I_USER] = np.repeat(np.arange(n // slate), slate)
    out_i[:, K.I_REQ] = 1
    out_f = np.zeros((n, K.N_F), np.float32)
    out_u = np.zeros((n, K.N_U), np.uint8)
    w = SimpleNamespace(video_creator=np.zeros(1, np.int32), creator_join_day=np.zeros(1, np.int32),
                        video_duration_s=np.ones(1, np.float32), video_is_ai=np.zeros(1, bool))

    class Writer:
        def write(self, day, cols):
            self.cols = cols

    wr = Writer()
    kept = {}
    for day in (0, 1):
        E._log_tick(wr, SimpleNamespace(log_sample=0.3, seed=9), day, 1, 4, slate, out_i, out_f, out_u, w, 0, 2)
        mask = np.empty(n, np.bool_)
        E._log_mask(np.int64(9), np.int64(day), np.int64(1), out_i[:, K.I_USER], out_i[:, K.I_REQ], 0.3, mask)
        np.testing.assert_array_equal(wr.cols["user_id"], out_i[mask, K.I_USER])
        kept[day] = set(wr.cols["user_id"])
        assert 0.25 < len(kept[day]) / (n // slate) < 0.35
        assert np.all(np.bincount(wr.cols["request_id"]) % slate == 0)  # both rows of a request, or neither
    assert 0.05 < len(kept[0] & kept[1]) / len(kept[0]) < 0.6  # the day is in the key


# --- the small pieces ---------------------------------------------------------------------

def fake_world(indptr, indices, interest, creator_topic):
    interest = np.asarray(interest, np.float32)
    return SimpleNamespace(n_users=len(indptr) - 1, n_topics=interest.shape[1], user_interest=interest,
                           follow_indptr=np.asarray(indptr, np.int64), follow_indices=np.asarray(indices, np.int32),
                           creator_topic=np.asarray(creator_topic, np.int16))


def test_follow_state_places_follows_with_headroom_and_engagement():
    """Each user's follows sit first in slots of capacity min(degree + headroom, follow_capacity) (never
    below the degree's share of the capacity), with engagement min(1, a quarter of n_topics x interest)
    and regular readers from rr_on."""
    indptr = [0, 2, 2, 7]
    indices = [1, 3, 0, 1, 2, 3, 4]
    interest = [[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]]
    w = fake_world(indptr, indices, interest, [0, 1, 0, 1, 1])
    cfg = Config()
    cap_cfg = 5
    cfg = cfg.replace(world=cfg.world.replace(follow_capacity=cap_cfg), behavior=cfg.behavior.replace(rr_on=0.4, rr_off=0.3))
    fs = E._FollowState(w, cfg)
    cap = [min(2 + E.FOLLOW_HEADROOM, cap_cfg), min(0 + E.FOLLOW_HEADROOM, cap_cfg), cap_cfg]
    np.testing.assert_array_equal(fs.ptr, np.r_[0, np.cumsum(cap)])
    np.testing.assert_array_equal(fs.n, [2, 0, 5])
    assert fs.n.dtype == np.int32 and fs.cre.dtype == np.int32 and fs.eng.dtype == np.float32
    want_cre = np.full(sum(cap), -1)
    want_eng = np.zeros(sum(cap))
    for u, lo in enumerate(fs.ptr[:-1]):
        for r, c in enumerate(indices[indptr[u]:indptr[u + 1]][:cap[u]]):
            want_cre[lo + r] = c
            want_eng[lo + r] = min(1.0, 0.25 * 2 * interest[u][[0, 1, 0, 1, 1][c]])
    np.testing.assert_array_equal(fs.cre, want_cre)
    np.testing.assert_allclose(fs.eng, want_eng, rtol=1e-6)
    np.testing.assert_array_equal(fs.rr, want_eng >= 0.4)
    assert fs.rr.any() and not fs.rr[fs.cre >= 0].all()
    followers, readers = fs.counts(5)
    np.testing.assert_array_equal(followers, np.bincount(want_cre[want_cre >= 0], minlength=5))
    np.testing.assert_array_equal(readers, np.bincount(want_cre[(want_cre >= 0) & (want_eng >= 0.4)], minlength=5))


def test_place_follows_matches_twin():
    """_FollowState's kernel gives the reference's slots, engagements and regular flags, bit for bit, on a real
    world (rr_on set where some engagements sit below and some above it)."""
    from sim.world import build_world
    from tests.reference_engine import place_follows

    cfg = Config().with_overrides(users=400, days=1)
    cfg = cfg.replace(world=cfg.world.replace(follow_capacity=6), behavior=cfg.behavior.replace(rr_on=0.3, rr_off=0.2))
    w = build_world(cfg.world, 1, 3)
    fs = E._FollowState(w, cfg)
    assert (fs.n > 0).sum() > 100  # (truncation at the capacity: test_follow_state_truncates_beyond_the_capacity)
    cre, eng, rr = place_follows(w.follow_indptr, w.follow_indices, fs.ptr, fs.n, w.user_interest.tolist(),
                                 w.creator_topic, w.n_topics, 0.3, int(fs.ptr[-1]))
    np.testing.assert_array_equal(fs.cre, cre)
    assert fs.eng.tobytes() == eng.tobytes()
    np.testing.assert_array_equal(fs.rr, rr)
    assert rr.any() and not rr[cre >= 0].all()


def test_follow_state_truncates_beyond_the_capacity():
    indptr = [0, 4]
    w = fake_world(indptr, [0, 1, 2, 3], [[1.0, 0.0]], [0, 0, 1, 1])
    cfg = Config()
    cfg = cfg.replace(world=cfg.world.replace(follow_capacity=3))
    fs = E._FollowState(w, cfg)
    np.testing.assert_array_equal(fs.ptr, [0, 3])
    np.testing.assert_array_equal(fs.cre, [0, 1, 2])
    assert fs.n.tolist() == [3]
    np.testing.assert_allclose(fs.eng, [0.5, 0.5, 0.0])


def test_row_buffers_are_allocated_at_twice_the_need_and_reused():
    b = E._RowBuffers(4)
    i, f, u, rec = b.rows(10)
    assert i.shape == (10, K.N_I) and f.shape == (10, K.N_F) and u.shape == (10, K.N_U) and rec.shape == (10, 4)
    assert (i.dtype, f.dtype, u.dtype, rec.dtype) == (np.int32, np.float32, np.uint8, np.int32)
    assert b.cap == 20 and b.i.shape[0] == b.f.shape[0] == b.u.shape[0] == 20 and b.rec.shape == (20, 4)
    base = b.i
    i2, *_ = b.rows(7)
    assert b.i is base and i2.shape[0] == 7 and np.shares_memory(i2, base)
    i3, *_ = b.rows(20)  # a busier tick within the capacity: the same pages
    assert b.i is base and i3.shape[0] == 20 and np.shares_memory(i3, base)
    b.rows(21)
    assert b.cap == 42 and b.i is not base and b.rec.shape == (42, 4)


def test_hook_seen_shifts_labelled_posts_by_the_labels_play_logit():
    w = SimpleNamespace(video_hook=np.array([0.1, 0.2, 0.3], np.float32), video_is_ai=np.array([True, False, True]))
    b = Config().behavior.replace(ai_label_play=0.0)
    assert E._hook_seen(w, b) is w.video_hook
    b = b.replace(ai_label_play=-0.3)
    got = E._hook_seen(w, b)
    np.testing.assert_allclose(got * b.play_h, w.video_hook * b.play_h + np.array([-0.3, 0.0, -0.3]), rtol=1e-5)
    assert got.dtype == np.float32


def test_ai_label_reaction_reaches_the_kernel(monkeypatch):
    cfg = small(days=1, behavior=dict(ai_label_play=-0.4))
    rec = Recorder(monkeypatch)
    simulate(cfg, progress=False)
    w = world_of(cfg)
    assert w.video_is_ai.any()
    np.testing.assert_allclose(rec.ticks[0]["hook"], E._hook_seen(w, cfg.behavior))
    np.testing.assert_allclose((rec.ticks[0]["hook"] - w.video_hook)[w.video_is_ai], -0.4 / cfg.behavior.play_h,
                               rtol=1e-4)


def watch_world(join, interest=None, topic=None):
    join = np.asarray(join, np.int32)
    C = join.size
    return SimpleNamespace(creator_join_day=join,
                           user_interest=np.asarray(interest if interest is not None else np.ones((2, 1)), np.float32),
                           creator_topic=np.asarray(topic if topic is not None else np.zeros(C), np.int16))


def test_dynamics_watch_names_the_day_everyone_quit_and_the_collapse():
    w = watch_world([0] * 20 + [1, 2])
    wc = SimpleNamespace(post_potential=1.0)
    ccfg = Config().creators
    dyn = E._DynamicsWatch(w, wc, ccfg, 5, warm=2)
    assert dyn.n_day0 == 20
    quit_day = np.full(22, 100, np.int32)
    motivation = np.zeros(22)
    dyn.end_day(0, quit_day, motivation)
    assert dyn.active_by_day[0] == 20 and dyn.collapse_day is None
    quit_day[:18] = 1  # 18 quit on day 1: 2 of day 0's and the joiner of day 1 are left, not below a tenth
    dyn.end_day(1, quit_day, motivation)
    assert dyn.active_by_day[1] == 3 and dyn.collapse_day is None
    quit_day[:20] = 1  # all of day 0's quit on day 1: the joiner of day 1 is left
    dyn.end_day(1, quit_day, motivation)
    assert dyn.active_by_day[1] == 1 and dyn.collapse_day == 1 and dyn.all_quit_day is None
    quit_day[20] = 2
    dyn.end_day(2, quit_day, motivation)  # the joiner of day 1 quits, the joiner of day 2 arrives
    assert dyn.active_by_day[2] == 1
    quit_day[21] = 3
    dyn.end_day(3, quit_day, motivation)
    assert dyn.all_quit_day == 3 and dyn.collapse_day == 1
    dyn.end_day(4, quit_day, motivation)
    assert dyn.all_quit_day == 3
    assert dyn.messages() == [
        "every creator had quit by the end of day 1: nobody is left to post (see [creators] quit_b, quit_slope)",
        "active creators fell below a tenth of day 0's (20) on day -1: the supply is dying out "
        "(see [creators] quit_b, quit_slope)"]
    posts = np.array([9.0, 9.0, 4.0, 2.0, 0.0])
    m = dyn.metrics(posts, motivation, quit_day)
    assert m["posts_by_day"]["value"] == [4.0, 2.0, 0.0] and m["posts_per_day"]["value"] == 2.0
    assert m["creators_active_by_day"]["value"] == [1.0, 0.0, 0.0]
    assert m["warning_all_creators_quit_day"]["value"] == 1
    assert m["warning_creator_collapse_day"]["value"] == -1
    assert m["warning_effort_saturated_day"]["value"] is None
    assert m["creator_motivation_mean"]["value"] is None  # nobody active at the end
    # the units the report formats these by (counts per day, days, motivation)
    units = {k: v["unit"] for k, v in m.items()}
    assert units == {"posts_by_day": "posts, per day", "posts_per_day": "posts per day",
                     "creators_active_by_day": "creators, per day", "warning_all_creators_quit_day": "day",
                     "warning_creator_collapse_day": "day", "warning_effort_saturated_day": "day",
                     "creator_survival_by_audience": "share of creators [niche, middle, broad]",
                     "creator_survival_niche": "share of creators", "creator_survival_broad": "share of creators",
                     "creator_motivation_mean": "motivation (0: neutral)"}
    assert all(v["description"] for v in m.values())
    # a single creator on day 0 who quits: the supply collapsed
    one = E._DynamicsWatch(watch_world([0, 1]), wc, ccfg, 2)
    one.end_day(0, np.array([0, 100], np.int32), np.zeros(2))
    assert one.collapse_day == 0 and one.all_quit_day == 0  # the joiner of day 1 is not there yet


def test_dynamics_watch_sees_saturated_effort():
    w = watch_world([0, 0, 0, 0])
    ccfg = Config().creators
    dyn = E._DynamicsWatch(w, SimpleNamespace(post_potential=2.0), ccfg, 3)
    quit_day = np.full(4, 100, np.int32)
    low = np.full(4, -5.0)
    dyn.end_day(0, quit_day, low)
    assert dyn.saturated_day is None
    # effort probability >= 0.95 for three of four: more than half
    m = np.array([50.0, 50.0, 50.0, -50.0])
    assert np.count_nonzero(CR.effort_probabilities(2.0, float(ccfg.effort_slope), m) >= CR.SATURATED_EFFORT) == 3
    dyn.end_day(1, quit_day, m)
    assert dyn.saturated_day == 1
    dyn.end_day(2, quit_day, low)
    assert dyn.saturated_day == 1
    assert dyn.messages() == [
        "on day 1 more than half of the active creators posted at least 95% of their potential posts: posting is "
        "pinned at the pre-drawn potential (raise [world] post_potential or lower [creators] effort_slope)"]
    # two of four saturated: not more than half
    dyn2 = E._DynamicsWatch(w, SimpleNamespace(post_potential=2.0), ccfg, 3)
    dyn2.end_day(0, quit_day, np.array([50.0, 50.0, -50.0, -50.0]))
    assert dyn2.saturated_day is None
    # potential 1: every potential post is realised, nothing to saturate
    dyn3 = E._DynamicsWatch(w, SimpleNamespace(post_potential=1.0), ccfg, 3)
    dyn3.end_day(0, quit_day, m)
    assert dyn3.saturated_day is None


def test_dynamics_watch_survival_by_audience_and_motivation():
    # creators 0-5 on topics of interest mass rising 0.05 .. 0.28: two per tercile; creator 6 joins after the run
    interest = np.array([[0.05, 0.1, 0.15, 0.2, 0.22, 0.28]] * 2)
    w = watch_world([0, 0, 0, 0, 1, 3, 5, 4], interest, [0, 1, 2, 3, 4, 5, 5, 5])  # 6 and 7 join after the run
    dyn = E._DynamicsWatch(w, SimpleNamespace(post_potential=1.0), Config().creators, 4, warm=1)
    quit_day = np.array([2, 100, 100, 100, 3, 100, 100, 100], np.int32)
    motivation = np.array([9.0, 1.0, 2.0, 4.0, 9.0, 5.0, 100.0, 50.0])
    m = dyn.metrics(np.zeros(4), motivation, quit_day)
    # niche: creators 0 (quit) and 1; middle: 2 and 3; broad: 4 (quit) and 5
    assert m["creator_survival_by_audience"]["value"] == [0.5, 1.0, 0.5]
    assert m["creator_survival_niche"]["value"] == 0.5 and m["creator_survival_broad"]["value"] == 0.5
    assert m["creator_motivation_mean"]["value"] == pytest.approx((1.0 + 2.0 + 4.0 + 5.0) / 4)
    assert m["creator_survival_by_audience"]["unit"] == "share of creators [niche, middle, broad]"
    assert m["creator_survival_niche"]["unit"] == m["creator_survival_broad"]["unit"] == "share of creators"
    assert "each third of creators by their main topic's share of users' interest" in \
        m["creator_survival_by_audience"]["description"]
    assert "the niche third" in m["creator_survival_niche"]["description"]
    assert "the broad third" in m["creator_survival_broad"]["description"]
    assert m["posts_by_day"]["value"] == [0.0, 0.0, 0.0]
    quit_day[:] = 3  # everyone quit before the end: no motivation to average
    m = dyn.metrics(np.zeros(4), motivation, quit_day)
    assert m["creator_motivation_mean"]["value"] is None and m["creator_survival_by_audience"]["value"] == [0.0] * 3


def test_run_result_frames_and_rate():
    metrics = {"a": {"value": 2.0, "unit": "u", "description": "d"},
               "b": {"value": None, "unit": "v", "description": "e"},
               "x_by_day": {"value": [1.0, None, 3.0], "unit": "w", "description": "f"},
               "t_by_day": {"value": [[1, 2], [3, 4]], "unit": "w", "description": "g"}}
    r = E.RunResult(config=Config(), metrics=metrics, impressions=50, seconds=2.0)
    assert r.impressions_per_second == 25.0
    assert math.isnan(E.RunResult(config=Config(), metrics={}, impressions=5).impressions_per_second)
    assert r.scalars() == {"a": 2.0, "b": None}
    df = r.to_frame()
    assert df.index.name == "metric" and list(df.index) == ["a", "b"]
    assert df.loc["a"].tolist() == [2.0, "u", "d"] and math.isnan(df.at["b", "value"])
    bd = r.by_day_frame()
    assert bd.index.name == "day" and list(bd.columns) == ["x_by_day"]
    assert bd["x_by_day"].iloc[0] == 1.0 and math.isnan(bd["x_by_day"].iloc[1]) and bd["x_by_day"].iloc[2] == 3.0
    assert r.timings == {} and r.warnings == [] and r.out_dir is None and r.sellers is None


def test_run_reports_its_timings_and_warnings(capsys):
    cfg = small(days=2, creators=dict(quit_b=1.29, quit_slope=0.0))
    res = simulate(cfg, progress=True)
    assert any(m.startswith("active creators fell below a tenth") for m in res.warnings)
    assert set(res.timings) == {"world_s", "kernels_s", "total_s"}
    assert 0 < res.timings["world_s"] < res.timings["total_s"] and 0 < res.timings["kernels_s"] < res.timings["total_s"]
    assert res.seconds == res.timings["total_s"]
    err = capsys.readouterr().err
    for msg in res.warnings:
        assert f"ranksim: warning: {msg}" in err
    simulate(cfg, progress=False)
    assert "warning" not in capsys.readouterr().err


# --- live rooms and sellers ---------------------------------------------------------------

def test_live_rooms_and_sellers_reach_the_log_the_counts_and_sellers_csv(monkeypatch, tmp_path):
    """With live rooms and sellers on: each tick's rooms come from the live state, live rows are logged
    and counted, each day's video impressions (live rows apart) reach the live state, the sellers'
    assessment reads the regular readers, and sellers.csv is the run's assessment frame."""
    import pandas as pd

    from sim import live as LV
    from sim import sellers as SL
    from sim.live import LiveConfig
    from sim.sellers import SellerConfig

    cfg = small(days=2).replace(live=LiveConfig(enabled=True), sellers=SellerConfig(enabled=True, buy_b=-3.0,
                                                                                       assessment_boost=0.5))
    pools_at, video_days, rr_days = [], [], []
    real_pools, real_end, real_sell = LV.LiveState.pools, LV.LiveState.end_day, SL.SellerState.end_day

    def pools_spy(self, day, tick, *a):
        pools_at.append((day, tick))
        return real_pools(self, day, tick, *a)

    def end_spy(self, day, video_impressions):
        video_days.append((day, video_impressions))
        return real_end(self, day, video_impressions)

    def sell_spy(self, day, follows, regular_readers):
        want = np.bincount(follows.cre[(follows.cre >= 0) & follows.rr], minlength=self.w.n_creators)
        rr_days.append((day, np.array_equal(regular_readers, want), int(want.sum())))
        return real_sell(self, day, follows, regular_readers)

    monkeypatch.setattr(LV.LiveState, "pools", pools_spy)
    monkeypatch.setattr(LV.LiveState, "end_day", end_spy)
    monkeypatch.setattr(SL.SellerState, "end_day", sell_spy)
    res = simulate(cfg, tmp_path / "r", progress=False)
    T = cfg.feed.ticks_per_day
    assert pools_at == [(d, k) for d in range(2) for k in range(T)]
    ev = events(tmp_path / "r")
    live = ev.item_kind == 1
    assert live.any() and (~live).any() and res.impressions == len(ev)
    assert [d for d, _ in video_days] == [0, 1]
    assert [n for _, n in video_days] == [int(((ev.day == d) & ~live).sum()) for d in (0, 1)]
    assert [(d, ok) for d, ok, _ in rr_days] == [(0, True), (1, True)] and rr_days[-1][2] > 0
    # live rows: the room's creator and the session's length; orders logged
    assert (ev.loc[live, "video_id"] == -1).all() and (ev.loc[live, "creator_id"] >= 0).all()
    assert (ev.loc[live, "live_session_id"] >= 0).all() and (ev.loc[~live, "live_session_id"] == -1).all()
    assert (ev.order_value > 0).sum() == res.metrics["orders"]["value"] > 0
    w = world_of(cfg)
    age = creator_age_days(w.creator_join_day[ev.creator_id.to_numpy()], ev.day.to_numpy() + ev.tick.to_numpy() / T)
    np.testing.assert_allclose(ev.creator_age_days, age.astype(np.float32))
    csv = pd.read_csv(tmp_path / "r" / "sellers.csv")
    assert list(csv.columns) == list(res.sellers.columns) and len(csv) == len(res.sellers) > 0
    np.testing.assert_allclose(csv.to_numpy(float), res.sellers.to_numpy(float), rtol=1e-9)
    assert "live_exposure_share" in res.metrics and "gmv" in " ".join(res.metrics)


# --- the learned and distilled rankers ----------------------------------------------------

@pytest.mark.slow  # trains a small model (LightGBM) and runs it three ways: about 10 s
def test_learned_and_distilled_rankers_score_with_the_model(monkeypatch, tmp_path):
    """A learned ranker scores each post with the model and passes its per-candidate weights to the kernel;
    the distilled one scores with the distillation's weights; retraining in the loop serves the new
    model from the next day (scores and the policy's weights)."""
    from ranker import learn
    from ranker.learn import load_model
    from ranker.score import ScoreWeights
    from ranker.signals import SIGNAL_NAMES
    from sim.loop import LoopLearner

    run = simulate(small(days=3), tmp_path / "log", progress=False)
    ts = learn.build_training_set(learn.read_event_log(run.out_dir), warmup_days=1, holdout_days=1)
    learn.save_model(learn.train(ts, learn.LearnConfig(n_trees=5, threads=1, holdout_days=1), features="loop"),
                     tmp_path / "m")
    model = load_model(tmp_path / "m")
    pw = model.pair_weights

    def distilled_weights(m):
        d = m.report["distillation"]["weights"]
        return ScoreWeights(**{n: float(d.get(n, 0.0)) for n in SIGNAL_NAMES}, affinity=float(m.pair_weights["affinity"]),
                            regular_reader=float(m.pair_weights["regular_reader"]))

    rec = Recorder(monkeypatch)
    simulate(small(days=1, ranker=f"learned:{tmp_path / 'm'}"), progress=False)
    assert len(rec.ticks) == len(rec.counters) == Config().feed.ticks_per_day
    for t, (ctx, _), counters in zip(rec.ticks, rec.ctxs, rec.counters):
        s = t["settings"]
        assert (s.weight_affinity, s.weight_regular_reader) == (pw["affinity"], pw["regular_reader"])
        np.testing.assert_allclose(t["base"][ctx.video_id], model.video_scores(ctx.signals, counters))
    assert not np.allclose(t["base"][ctx.video_id], base_scores(ctx.signals.matrix, Config().weights))
    rec.ticks.clear(), rec.ctxs.clear()
    simulate(small(days=1, ranker=f"distilled:{tmp_path / 'm'}"), progress=False)
    wd = distilled_weights(model)
    for t, (ctx, _) in zip(rec.ticks, rec.ctxs):
        np.testing.assert_allclose(t["base"][ctx.video_id], base_scores(ctx.signals.matrix, wd))
        np.testing.assert_array_equal(ctx.score_weights, weight_vector(wd))
    assert not np.allclose(weight_vector(wd), weight_vector(Config().weights))
    # retraining after day 0: day 1 is scored by the new model's distillation
    new = []
    real_end = LoopLearner.end_day

    def end_spy(self, day):
        m = real_end(self, day)
        new.append(m)
        return m

    monkeypatch.setattr(LoopLearner, "end_day", end_spy)
    rec.ticks.clear(), rec.ctxs.clear()
    cfg = small(days=2, ranker=f"distilled:{tmp_path / 'm'}")
    cfg = cfg.replace(loop=cfg.loop.replace(retrain_every=1, window_days=1, n_trees=5))
    simulate(cfg, progress=False)
    assert new[0] is not None
    w1 = distilled_weights(new[0])
    T = cfg.feed.ticks_per_day
    for t, (ctx, _) in list(zip(rec.ticks, rec.ctxs))[T:]:
        np.testing.assert_allclose(t["base"][ctx.video_id], base_scores(ctx.signals.matrix, w1))
        np.testing.assert_array_equal(ctx.score_weights, weight_vector(w1))
        assert t["settings"].weight_affinity == new[0].pair_weights["affinity"]
        assert t["settings"].weight_regular_reader == new[0].pair_weights["regular_reader"]
    assert not np.allclose(weight_vector(w1), weight_vector(wd))


# --- the run directory --------------------------------------------------------------------

def test_a_run_holds_its_directory_lock_and_reports_stale_partials(monkeypatch, tmp_path, capsys):
    """While a run writes, a second writer of the same directory is refused; a partial left by a gone
    process is removed and reported; missing parents of the run directory are created."""
    from sim.preflight import OutputBusy, OutputLock, lock_path

    out = tmp_path / "a" / "b" / "run"
    stale = tmp_path / "a" / "b" / ".run.partial-999999999-x"
    stale.mkdir(parents=True)
    (stale / "INCOMPLETE").write_text("x")
    busy = []
    real = E._run

    def run_spy(cfg, tmp, progress, world):
        try:
            OutputLock(lock_path(out), "test").acquire()
            busy.append(False)
        except OutputBusy:
            busy.append(True)
        return real(cfg, tmp, progress, world)

    monkeypatch.setattr(E, "_run", run_spy)
    res = simulate(small(days=1), out, progress=False)
    assert busy == [True] and res.out_dir == out and (out / "metrics.json").is_file()
    assert not stale.exists()
    assert f"ranksim: removed stale partial output {stale} (the process that wrote it is gone)" in capsys.readouterr().err
    OutputLock(lock_path(out), "test").acquire().release()  # released after the run
    monkeypatch.setattr(E, "_run", real)
    res = simulate(small(days=1), tmp_path / "x" / "y" / "run", progress=False)  # parents made
    assert (tmp_path / "x" / "y" / "run" / "metrics.json").is_file()


def test_run_metrics_hold_the_by_group_and_matched_parity_figures():
    """The engine hands the metrics each row's user (by-group figures add up to the run) and the 3-second
    play counters (the AI-label parity at matched engagement)."""
    res = simulate(small(days=2), progress=False)
    m = res.metrics
    for dim in ("gender", "age", "activity"):
        keys = [k for k in m if k.startswith(f"group.impressions.{dim}=")]
        assert len(keys) >= 2 and sum(m[k]["value"] for k in keys) == res.impressions, dim
    assert "ai_label_exposure_ratio_engagement" in m and "ai_posts_engagement_matched" in m


def test_a_missing_model_is_refused_before_the_world_is_built(monkeypatch, tmp_path):
    def boom(*a, **k):
        raise AssertionError("the world was built before the model was checked")

    monkeypatch.setattr(E, "build_world", boom)
    for kind in ("learned", "distilled"):
        with pytest.raises(FileNotFoundError, match=r"write one with `ranksim learn --out DIR`"):
            simulate(small(days=1, ranker=f"{kind}:{tmp_path / 'nope'}"), progress=False)


def test_impressions_count_every_served_row_video_0_included(monkeypatch, tmp_path):
    """Only the catalogue's first post (video 0, realised in this world) is eligible: it is served once to each
    user who asks, and the run counts each of those impressions."""
    from ranker.policies import PolicyAction

    def act(self, ctx):
        return PolicyAction(boost=np.zeros(ctx.n_videos), eligible=ctx.video_id == 0)

    monkeypatch.setattr(REGISTRY["none"], "act", act)
    rec = Recorder(monkeypatch)
    res = simulate(small(days=1), tmp_path / "r", progress=False)
    assert rec.realised[0]
    ev = events(tmp_path / "r")
    assert (ev.video_id == 0).all() and not ev.user_id.duplicated().any()
    assert res.impressions == len(ev) == res.metrics["impressions"]["value"] > 20
