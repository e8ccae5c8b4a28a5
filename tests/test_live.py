"""Live rooms: the kernels against their twins, the schedule's rules, and live rooms in the feed loop."""

from __future__ import annotations

import numpy as np
import pytest

from sim import _engine_kernels as K
from sim import live as LV
from sim._live_kernels import apply_live
from sim.behavior import BehaviorConfig, behavior_params
from sim.engine import simulate
from sim.live import LiveConfig
from sim.sellers import SellerConfig
from tests import reference_live as ref
from tests.offpath import small_config
from tests.reference import key


def live_config(days=3, warm=1, seed=3, policy="none", sellers=None, **kw):
    cfg = small_config(policy, days, warm, seed).replace(live=LiveConfig(enabled=True, **kw))
    return cfg.replace(sellers=sellers) if sellers is not None else cfg


@pytest.mark.parametrize("seed", [0, 5])
def test_draw_schedule_matches_twin(seed):
    r = np.random.default_rng(seed)
    join = np.where(r.random(200) < 0.7, 0, r.integers(1, 9, 200)).astype(np.int64)
    start, length = np.empty((200, 10)), np.empty((200, 10))
    LV.draw_schedule(np.int64(seed), join, np.int64(10), 0.3, 0.4, 20.0, 3.0, 2.0, start, length)
    want = ref.draw_schedule(seed, join.tolist(), 10, 0.3, 0.4, 20.0, 3.0, 2.0)
    got = {(int(c), int(d)): (start[c, d], length[c, d]) for c, d in zip(*np.nonzero(~np.isnan(start)))}
    assert got.keys() == want.keys() and len(got) > 100
    for k in got:
        assert got[k] == pytest.approx(want[k], rel=1e-12), k
    assert all(d >= join[c] for c, d in got)  # no session before its creator joins
    hours = np.array([v[0] for v in got.values()])
    lengths = np.array([v[1] for v in got.values()])
    assert ((hours >= 0) & (hours < 24)).all() and ((lengths >= 1.0) & (lengths <= 3.0)).all()
    assert abs(len({c for c, _ in got}) / 200 - 0.3) < 0.1


@pytest.mark.parametrize("seed", range(3))
def test_live_impression_matches_twin(seed):
    r = np.random.default_rng(seed)
    lp = LiveConfig(enter_b=0.0, gift_b=-1.0, share_b=-1.0, follow_b=-1.0).live_params()
    bp = behavior_params(BehaviorConfig())
    outs = []
    for i in range(3000):
        args = (float(r.normal()), float(r.exponential(1.0)), bool(r.random() < 0.4), bool(r.random() < 0.3),
                float(r.uniform(0.5, 90)))
        k0 = np.uint64(key(seed, 3, i, 2, 7))
        got = LV.live_impression(lp, bp, *args, k0)
        want = ref.live_impression(lp, bp, *args, k0)
        assert got == pytest.approx(want, rel=1e-12, abs=1e-12), (args, got, want)
        outs.append(got)
    o = np.array(outs, dtype=float)
    # the paths: entered or not, stays capped at the time left, every interaction, follows of non-followers only
    assert 0.2 < o[:, 0].mean() < 0.8 and (o[o[:, 0] == 0, 1:] == 0).all()
    for col in (2, 3, 5, 7):
        assert o[:, col].sum() > 10, col
    assert (o[:, 4] > 0).sum() > 10 and set(o[o[:, 5] == 1, 6]) == {1.0, 2.0, 3.0}


def test_reserved_matches_twin_and_its_rates():
    got = [[LV.reserved(np.int64(3), u, s, rr, 0.6) for s in range(40)] for u in range(50) for rr in (True, False)]
    want = [[ref.reserved(3, u, s, rr, 0.6) for s in range(40)] for u in range(50) for rr in (True, False)]
    assert got == want
    g = np.array(got, float)
    assert abs(g[0::2].mean() - 0.6) < 0.05 and abs(g[1::2].mean() - 0.2) < 0.05


@pytest.mark.parametrize("seed", [0, 1])
def test_apply_live_matches_twin(seed):
    r = np.random.default_rng(seed)
    n, S, C, U = 500, 7, 9, 30
    out_i = np.full((n, K.N_I), -1, np.int32)
    kind = r.integers(0, 3, n)
    out_i[:, K.I_VIDEO] = np.where(kind == 0, r.integers(0, 40, n), -1)
    out_i[:, K.I_LIVE] = np.where(kind == 1, r.integers(0, S, n), -1)
    out_i[:, K.I_USER] = r.integers(0, U, n)
    out_i[:, K.I_EVICTED] = np.where(r.random(n) < 0.1, r.integers(0, C, n), -1)
    out_u = np.zeros((n, K.N_U), np.uint8)
    for col in (K.U_PLAY, K.U_LIKE, K.U_COMMENT, K.U_SHARE, K.U_FOLLOWED, K.U_EVICTED_RR):
        out_u[:, col] = r.random(n) < 0.4
    out_u[:, K.U_NREC] = r.integers(0, 4, n)
    out_u[:, K.U_NOPEN] = np.minimum(out_u[:, K.U_NREC], r.integers(0, 3, n))
    out_u[:, K.U_RR_CHANGE] = r.integers(0, 3, n)
    out_f = np.zeros((n, K.N_F), np.float32)
    out_f[:, K.F_WATCH] = r.random(n) * 600
    out_f[:, K.F_GIFT] = np.where(r.random(n) < 0.2, r.random(n) * 30, 0)
    out_f[:, K.F_VALUE] = r.normal(size=n)
    session_creator = r.integers(0, C, S).astype(np.int32)
    counters = r.random((S, LV.N_LC))
    cc = r.integers(5, 20, (C, 3)).astype(np.int64)
    ud = r.random((U, 2))
    rows = [dict(session=int(out_i[i, K.I_LIVE]), entered=out_u[i, K.U_PLAY], minutes=float(out_f[i, K.F_WATCH]) / 60.0,
                 liked=out_u[i, K.U_LIKE], commented=out_u[i, K.U_COMMENT], gift=float(out_f[i, K.F_GIFT]),
                 shared=out_u[i, K.U_SHARE], n_rec=out_u[i, K.U_NREC], n_open=out_u[i, K.U_NOPEN],
                 followed=out_u[i, K.U_FOLLOWED], value=float(out_f[i, K.F_VALUE]),
                 rr_change=int(out_u[i, K.U_RR_CHANGE]) - 1, evicted=int(out_i[i, K.I_EVICTED]),
                 evicted_rr=out_u[i, K.U_EVICTED_RR], user=int(out_i[i, K.I_USER]))
            for i in range(n) if out_i[i, K.I_LIVE] >= 0]
    want = ref.apply_live(rows, session_creator, counters, cc, ud)
    c2, cc2, ud2 = counters.copy(), cc.copy(), ud.copy()
    n_live = apply_live(out_i, out_f, out_u, session_creator, c2, cc2, ud2)
    assert n_live == len(rows) > 100
    np.testing.assert_allclose(c2, want[0], rtol=1e-12)
    np.testing.assert_array_equal(cc2, want[1])
    np.testing.assert_allclose(ud2, want[2], rtol=1e-12)
    assert (cc2[:, 2] == cc[:, 2]).all()  # live impressions stay out of the creators' posting motivation


def test_live_rooms_in_the_feed_and_the_log(tmp_path):
    res = simulate(live_config(sellers=SellerConfig(enabled=True, buy_b=-3.0)), tmp_path / "run", progress=False)
    from sim.events import read_events

    ev = read_events(tmp_path / "run")
    live = ev[ev["item_kind"] == 1]
    m = res.scalars()
    assert len(live) == m["live_impressions"] > 0
    assert m["live_exposure_share"] == pytest.approx(len(live) / len(ev))
    assert (live["video_id"] == -1).all() and (live["live_session_id"] >= 0).all()
    assert (ev.loc[ev["item_kind"] == 0, "live_session_id"] == -1).all()
    assert set(live["source"]) <= {LV.SOURCE_LIVE_FOLLOW, LV.SOURCE_LIVE_RESERVED, LV.SOURCE_LIVE_INTEREST}
    assert len(set(live["source"])) >= 2
    assert live["play_3s"].mean() == pytest.approx(m["live_enter_rate"])
    assert (live.loc[~live["play_3s"], "watch_s"] == 0).all() and live["watch_s"].max() > 60
    assert live["watch_s"].sum() / 60 == pytest.approx(m["live_minutes"], rel=1e-4)
    assert live["gift_value"].sum() == pytest.approx(m["live_gift_value"], rel=1e-4)
    assert (live["watch_s"] <= live["duration_s"] + 1e-3).all()
    # no room shown twice to one user; rooms of followed creators reach followers
    assert not live.duplicated(["user_id", "live_session_id"]).any()
    assert live.loc[live["source"] != LV.SOURCE_LIVE_INTEREST, "follower"].all()
    # orders from rooms and from posts, both in GMV
    assert (ev["order_value"] > 0).sum() == m["orders"]
    assert (live["order_value"] > 0).any() and m["live_gmv_share"] > 0
    assert ev.loc[ev["order_value"] > 0, "play_3s"].all()


def test_live_off_never_builds_live_state(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("live state built with [live] off")

    monkeypatch.setattr(LV, "LiveState", boom)
    res = simulate(small_config("none", 2, 0, 1), tmp_path / "run", progress=False)
    assert "live_exposure_share" not in res.metrics


def test_raising_the_live_interaction_weight_raises_live_share():
    """The platform raised live rooms' interaction weight: in ranksim that is [live] interaction_weight.

    Rooms compete with posts for slots (a 3-slot slate, 6 interest-picked rooms a request): a higher
    weight wins them more slots. Measured (seed 3): 0.110, 0.145, 0.158 at weights 0, 2, 6.
    """
    shares = []
    for w in (0.0, 2.0, 6.0):
        c = live_config(days=2, warm=1, interaction_weight=w, n_live_candidates=6, sessions_per_day=0.6)
        shares.append(simulate(c.replace(feed=c.feed.replace(slate_size=3)), progress=False)
                      .scalars()["live_exposure_share"])
    assert shares[0] < shares[1] < shares[2], shares
    assert shares[2] > 1.3 * shares[0], shares
