"""End-to-end wiring of the feed loop: properties that fail when a connection breaks.

Each test runs the real engine on a tiny world (a few seconds) and checks a
property against an independent computation or a world tuned so the answer
is known: the counters the ranker's signals are computed from equal the sums
of the logged events; a world where nobody opens a share has no open in its
signals; a world where every creator must quit shows quits; a slot quota puts
its slots in the slates; log sampling draws afresh each day; the daily decay
of regular readers keeps its hysteresis.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sim.engine as E
from ranker.signals import SIGNAL_NAMES
from sim import _engine_kernels as K
from sim.config import Config
from sim.engine import simulate
from sim.world import WorldConfig
from tests import reference as ref

TINY_WORLD = WorldConfig(n_users=400, n_creators=60, new_creators_per_day=4, friends_mean=6.0, follows_mean=4.0)


def tiny(days=4, seed=1, policy="none", params=None, log_sample=1.0, behavior=None, feed=None, creators=None):
    cfg = Config().replace(world=TINY_WORLD)
    if creators:
        cfg = cfg.replace(creators=cfg.creators.replace(**creators))
    if behavior:
        cfg = cfg.replace(behavior=cfg.behavior.replace(**behavior))
    if feed:
        cfg = cfg.replace(feed=cfg.feed.replace(**feed))
    return cfg.with_overrides(policy=policy, policy_params=params, days=days, seed=seed, log_sample=log_sample)


def events(d):
    from sim.events import read_events

    return read_events(Path(d) / "events")


# --- counters -> signals ------------------------------------------------------------------

COUNTER_FROM_EVENTS = {  # Counters field -> (event column, how a row counts)
    "impressions": ("video_id", "count"), "plays_3s": ("play_3s", "sum"), "completions": ("completed", "sum"),
    "watch_s": ("watch_s", "sum"), "likes": ("liked", "sum"), "comments": ("commented", "sum"),
    "shares": ("shared", "sum"), "share_recipients": ("share_recipients", "sum"),
    "share_opens": ("share_opens", "sum"), "follows": ("followed", "sum"),
    "rr_impressions": ("regular_reader", "sum"),
}


@pytest.mark.parametrize("open_b", [-0.8, -20.0], ids=["shares-opened", "shares-never-opened"])
def test_signals_read_counters_equal_to_the_logged_events(tmp_path, monkeypatch, open_b):
    """The counters of the run's last tick, as compute_signals receives them, equal the sums of
    every logged impression before that tick; where nobody opens a share (open intercept -20),
    no open reaches the signals and the share follow-through posterior is ~0, while shares
    are still made."""
    seen = []
    real = E.compute_signals

    def spy(counters, *a, **k):
        s = real(counters, *a, **k)
        seen.append((counters, s))
        return s

    monkeypatch.setattr(E, "compute_signals", spy)
    cfg = tiny(behavior=dict(open_b=open_b))
    simulate(cfg, tmp_path / "r", progress=False)
    ev = events(tmp_path / "r")
    T = cfg.feed.ticks_per_day
    assert len(seen) == cfg.run.days * T
    counters, sig = seen[-1]
    before = ev[ev.day * T + ev.tick < cfg.run.days * T - 1]
    ev = before.assign(rr_play=before.regular_reader & before.play_3s)
    g = ev.groupby("video_id")
    for field, (col, how) in COUNTER_FROM_EVENTS.items():
        want = getattr(g[col], how)().reindex(counters.video_id).fillna(0).to_numpy(float)
        np.testing.assert_allclose(getattr(counters, field), want, rtol=1e-6, err_msg=field)
    want = g["rr_play"].sum().reindex(counters.video_id).fillna(0).to_numpy(float)
    np.testing.assert_array_equal(counters.rr_plays_3s, want)
    j = SIGNAL_NAMES.index("share_ft")
    post = sig.alpha[:, j] / (sig.alpha[:, j] + sig.beta[:, j])
    assert counters.shares.sum() > 50 and counters.share_recipients.sum() > 100
    if open_b < -10:
        assert counters.share_opens.sum() == 0 and post.max() < 1e-3
        assert not (events(tmp_path / "r").source == K.SOURCE_SHARE).any()  # no opened share in any inbox
    else:
        pooled = counters.share_opens.sum() / counters.share_recipients.sum()
        assert 0.2 < pooled < 0.8
        assert abs(np.mean(post) - pooled) < 0.1


# --- creators quit -------------------------------------------------------------------------

def test_a_world_where_creators_quit_fast_shows_quits():
    # the highest neutral hazard the config allows (0.786 a day) against none at all; survival is read at
    # age new_creator_days (Kaplan-Meier), here 2, which the 4-day run observes
    must = simulate(tiny(creators=dict(quit_b=1.29, quit_slope=0.0), feed=dict(new_creator_days=2)),
                    progress=False).metrics
    never = simulate(tiny(creators=dict(quit_b=-20.0, quit_slope=0.0), feed=dict(new_creator_days=2)),
                     progress=False).metrics
    v = lambda m, k: m[k]["value"]  # noqa: E731
    assert v(never, "new_creator_survival") == 1.0
    assert v(must, "new_creator_survival") < 0.25
    assert v(never, "new_creators_alive_by_day") == [0.0, 4.0, 8.0, 12.0]  # 4 join each day from day 1
    assert max(v(must, "new_creators_alive_by_day")) <= 4.0  # about a fifth of each day's 4 newcomers stay a day
    for tier in ("low", "mid", "high"):
        assert v(must, f"new_creator_survival_{tier}_quality") <= 0.5
        assert v(never, f"new_creator_survival_{tier}_quality") == 1.0


# --- the slot quota ------------------------------------------------------------------------

def test_slot_quota_reserves_its_slots(tmp_path):
    share, slate = 0.25, 8  # two slots of eight
    # a catalogue larger than TINY_WORLD's: there, no video being served twice leaves heavy users few
    # unseen new creators' posts, and the ranker alone serves them nearly all (quota 0.28 against 0.17
    # full-quota requests, 1.29x the new-creator share)
    world = EFFECT_WORLD
    simulate(tiny(policy="slot_quota", params={"share": share}).replace(world=world), tmp_path / "q", progress=False)
    simulate(tiny().replace(world=world), tmp_path / "n", progress=False)
    q, n = events(tmp_path / "q"), events(tmp_path / "n")
    full = lambda e: (e[e.day >= 2].groupby("request_id")["is_new_creator"].sum() >= share * slate).mean()  # noqa: E731
    # a tiny world has few new creators' posts to fill the slots with, so not every request
    # can be filled; the quota fills two slots several times as often as the ranker alone
    # measured: 0.36 against 0.088 before issue 14's defaults, 0.37 against 0.13 with them (the ranker
    # alone now shows new creators' posts more often); with no video served twice, on this world,
    # 0.22 against 0.066 (3.3x), the new-creator share 1.85x; once creators also respond to their
    # standing (issue 15), 0.216 against 0.094 (2.3x), the new-creator share 1.52x
    assert full(q) > 0.15 and full(q) > 2.0 * full(n)
    assert q.is_new_creator.mean() > 1.35 * n.is_new_creator.mean()


# --- log sampling --------------------------------------------------------------------------

def test_log_sampling_draws_afresh_each_day():
    users = np.arange(2000, dtype=np.int32)
    reqs = np.zeros(2000, np.int32)
    masks = []
    for day in (0, 1, 2):
        out = np.empty(users.size, np.bool_)
        E._log_mask(np.int64(7), np.int64(day), np.int64(3), users, reqs, 0.5, out)
        want = [ref.uniform(ref.key(7, ref_stream(), int(u), day, 3 * K.MAX_REQUESTS_PER_TICK), 0) < 0.5
                for u in users]
        np.testing.assert_array_equal(out, want)
        masks.append(out)
    assert 0.45 < masks[0].mean() < 0.55
    for a, b in ((0, 1), (1, 2), (0, 2)):
        agree = np.mean(masks[a] == masks[b])
        assert 0.45 < agree < 0.55, (a, b, agree)  # independent draws agree half the time


def ref_stream():
    from ranker.rng import STREAM_LOG

    return STREAM_LOG


def test_logged_requests_differ_across_days(tmp_path):
    """Sampling does not change the run, so a full log names every request; a user's k-th
    request of a tick is logged on one day independently of whether it was on another."""
    # nearly everyone returns every day (return_b 5: a 99 % return), so most requests recur on all three days
    simulate(tiny(days=3, behavior={"return_b": 5.0}), tmp_path / "all", progress=False)
    simulate(tiny(days=3, log_sample=0.5, behavior={"return_b": 5.0}), tmp_path / "half", progress=False)
    full, half = events(tmp_path / "all"), events(tmp_path / "half")
    req = full.drop_duplicates("request_id")[["day", "tick", "user_id", "request_id"]].copy()
    req["k"] = req.groupby(["day", "tick", "user_id"])["request_id"].rank().astype(int)
    req["kept"] = req.request_id.isin(set(half.request_id))
    assert 0.45 < req.kept.mean() < 0.55
    wide = req.pivot_table(index=["tick", "user_id", "k"], columns="day", values="kept", aggfunc="first").dropna()
    assert len(wide) > 300
    for a, b in ((0, 1), (1, 2)):
        agree = (wide[a] == wide[b]).mean()
        assert 0.4 < agree < 0.6, (a, b, agree)  # the day is in the sampling key: independent draws


# --- regular readers' daily decay ----------------------------------------------------------

def test_daily_decay_keeps_the_regular_reader_hysteresis():
    """After the decay, a regular reader stays one down to rr_off; a follower between rr_off
    and rr_on does not become one; below rr_off nobody is one."""
    fs = object.__new__(E._FollowState)
    eng0 = np.array([0.9, 0.72, 0.6, 0.6, 0.52, 0.4, 0.8], np.float32)
    rr0 = np.array([True, True, True, False, True, True, False])
    fs.eng, fs.rr = eng0.copy(), rr0.copy()
    fs.decay(0.05, 0.5)
    eng = eng0 * np.float32(0.95)
    np.testing.assert_allclose(fs.eng, eng, rtol=1e-7)
    # 0.855 stays; 0.684 stays (below rr_on 0.7, above rr_off); 0.57 stays; 0.57 not a reader
    # stays not one; 0.494 drops; 0.38 drops; 0.76 not a reader stays not one (only an
    # impression makes a regular reader)
    np.testing.assert_array_equal(fs.rr, [True, True, True, False, False, False, False])


# --- each boosting policy's effect, in size ----------------------------------------------

#: New-creator exposure share of each policy at its defaults over ``none``'s, on the tiny world
#: with 150 creators and 8 new a day (:data:`EFFECT_WORLD`), seed 1, 4 days. Bands are about +-12 %
#: around the measured ratio: a policy whose effect vanished, flipped or grew several-fold fails; a
#: deliberate change of a policy or of the behaviour model re-measures and edits this table.
#: History: measured 2026-12-03 on b68442a on the 60-creator tiny world (slot_quota 1.67, fixed_tilt
#: 1.23, decaying_tilt 1.26, traffic_pools 1.27, ucb 1.15, ugc_tilt 1.20, thompson 0.98, fairco 0.91;
#: slot_quota 1.45 after issue 14's behaviour defaults). Once no video is served twice (issue 14
#: point 1), heavy users of that world are served nearly every post, new creators' included, whatever
#: the policy (slot_quota 1.16, fixed_tilt 1.09 there), so the table moved to a catalogue 2.5 times as
#: large: slot_quota 1.555, fixed_tilt 1.331, decaying_tilt 1.294, traffic_pools 1.219, ucb 1.140,
#: ugc_tilt 1.162, thompson 1.007, fairco 0.873 (none's share 0.031). Once creators also respond to
#: their standing (issue 15, sim.creators; on the 60-creator world: slot_quota 1.69, thompson 0.86
#: with repeats), on this world: slot_quota 1.297, fixed_tilt 1.179, decaying_tilt 1.207,
#: traffic_pools 1.137, ucb 1.129, ugc_tilt 1.162, thompson 0.966, fairco 0.936 (none's share 0.035).
#: Once users respond too (issue 15 point 2, sim.users: about 70 % return a day instead of 93-98 %,
#: satiation, drift): slot_quota 1.448, fixed_tilt 1.341, decaying_tilt 1.385, traffic_pools 1.321,
#: ucb 1.256, ugc_tilt 1.229, thompson 1.045, fairco 0.993 (none's share 0.028).
#: On the calibrated default world (issue 14 point 4, docs/calibration.md): slot_quota 1.412,
#: fixed_tilt 1.285, decaying_tilt 1.316, traffic_pools 1.200, ucb 1.210, ugc_tilt 1.120, thompson
#: 0.973, fairco 0.935 (none's share 0.029); bands re-centred at +-12 % (ugc_tilt's floor at 1.0, not
#: 0.99: a tilt that no longer lifts newcomers fails).
EFFECT_WORLD = TINY_WORLD.replace(n_creators=150, new_creators_per_day=8)
EFFECT = {
    "slot_quota": (1.24, 1.58), "fixed_tilt": (1.13, 1.44), "decaying_tilt": (1.16, 1.47),
    "traffic_pools": (1.06, 1.34), "ucb": (1.06, 1.36), "ugc_tilt": (1.00, 1.25), "thompson": (0.86, 1.09),
    "fairco": (0.82, 1.05),
}


@pytest.mark.slow
def test_each_policy_moves_new_creator_exposure_by_its_measured_size():
    from ranker.policies import REGISTRY

    assert set(EFFECT) == set(REGISTRY) - {"none"}, "a new policy needs its measured effect in EFFECT"

    def share(policy):
        cfg = tiny(policy=policy).replace(world=EFFECT_WORLD)
        return simulate(cfg, progress=False).metrics["new_creator_exposure_share"]["value"]

    base = share("none")
    assert 0.02 < base < 0.05
    got = {p: share(p) / base for p in EFFECT}
    bad = {p: round(r, 3) for p, r in got.items() if not EFFECT[p][0] <= r <= EFFECT[p][1]}
    assert not bad, f"effects outside their bands: {bad} (bands {EFFECT})"


def test_end_of_day_decay_in_a_run_keeps_the_hysteresis(monkeypatch):
    """In a real run, after each day's decay: regular readers are exactly those who were before
    and whose engagement is still at least the configured rr_off (none made, none lost above it);
    some of them sit between rr_off and rr_on, so dropping at rr_on would show."""
    cfg = tiny(days=3)
    b = cfg.behavior
    real = E._FollowState.decay
    held = []

    def checked(self, rate, rr_off):
        before = self.rr.copy()
        real(self, rate, rr_off)
        np.testing.assert_array_equal(self.rr, before & (self.eng >= np.float32(b.rr_off)))
        held.append(int(np.count_nonzero(self.rr & (self.eng < np.float32(b.rr_on)))))

    monkeypatch.setattr(E._FollowState, "decay", checked)
    simulate(cfg, progress=False)
    assert len(held) == cfg.run.days
    assert sum(held) > 20  # regular readers kept below rr_on, by the hysteresis
