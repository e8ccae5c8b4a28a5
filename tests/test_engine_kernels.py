"""Tests of sim._engine_kernels against their slow twins in tests/reference_engine.py.

Small random worlds (a few users, creators, topics and posts) are built with
the dtypes and layouts ``sim.engine`` uses; kernel and twin run on copies of
the same inputs and must agree exactly on ints and bools, and to 1e-6
relative on float32 outputs.
"""

import math
from dataclasses import dataclass, replace

import numba
import numpy as np
import pytest

from sim import _engine_kernels as K
from sim.behavior import BehaviorConfig, behavior_params
from sim.engine import _by_creator
from sim.seen import new_filter, seen_add, seen_has
from tests import reference_engine as ref
from tests.conftest import needs_two_threads

# Behaviour tuned so plays, shares, follows and regular-reader flips are all frequent.
BCFG = BehaviorConfig(play_b=0.8, share_b=0.5, share_s=0.5, follow_b=-0.3, open_b=0.3,
                      rr_rate=0.4, rr_on=0.55, rr_off=0.35)


@dataclass(frozen=True)
class Shape:
    """Sizes and switches of one random case."""

    n_users: int = 6
    n_videos: int = 40
    n_creators: int = 8
    n_topics: int = 4
    slate: int = 4
    n_quota: int = 0
    n_follow: int = 3
    n_interest: int = 4
    n_fresh: int = 3
    n_inbox: int = 3
    n_seen: int = 5  # videos served to each user before the tick (in their seen filter)
    seen_blocks: int = 2  # seen filter blocks per user are drawn in [1, seen_blocks]
    seen_k: int = 4  # bits per video in the seen filter
    seen_top: bool = False  # the videos served before are the best of their topic (interest re-picks go deeper)
    top_m: int = 5
    max_requests: int = 3
    max_cap: int = 3  # follow capacity per user is drawn in [1, max_cap]
    full_follows: bool = False  # every user but user 0 fills their follow capacity
    p_masked: float = 0.1  # share of posts with base -inf
    p_new: float = 0.3  # share of posts by new creators
    masked_in_pools: bool = False  # topic and fresh pools hold masked posts too (the creators' lists never do)
    empty_fresh: bool = False
    empty_topics: tuple = ()  # topics with no retrieval pool
    ties: bool = False  # quantized scores with many exact ties
    stale_stamps: bool = False  # stamps hold old request ids from earlier ticks (and their other stamps, negative)
    inbox_top: bool = False  # inbox shares are among the best posts of their topic (interest picks meet them)
    seen_inbox_fresh: float = 0.0  # share of each user's inbox and of the fresh pool served to them before the tick
    w_aff: float = 0.7
    w_rr: float = 0.4
    aff_strength: float = 0.0  # > 0: affinity logged from ut_imps / ut_plays (as the engine runs); 0: ``aff`` given
    temperature: float = 0.0  # > 0: slates drawn by Plackett-Luce at this temperature; 0: the top k
    day_counts: bool = True  # the users' day counters (satiation, completions, novelty) start non-zero
    satiation: float | None = None  # None: BehaviorConfig's default
    live_rooms: int = 0  # > 0: this many live sessions, some running (sim.live.LivePools); 0: sim.live.no_live
    n_follow_live: int = 2
    n_live_interest: int = 2
    reserve_rate: float = 0.5
    seed: int = 0


def friend_graph(r, n, isolated):
    """A symmetric CSR friend graph without self loops; users in ``isolated`` have no friends."""
    pairs = set()
    for _ in range(2 * n):
        a, b = (int(x) for x in r.integers(0, n, 2))
        if a != b and a not in isolated and b not in isolated:
            pairs.add((a, b))
            pairs.add((b, a))
    rows = [sorted(b for a, b in pairs if a == u) for u in range(n)]
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum([len(x) for x in rows], out=indptr[1:])
    return indptr, np.array([b for row in rows for b in row], np.int32)


def make_case(sh: Shape):
    """A random tick: returns a dict of everything serve_tick and apply_tick read."""
    r = np.random.default_rng(sh.seed)
    U, V, C, T = sh.n_users, sh.n_videos, sh.n_creators, sh.n_topics
    bp = behavior_params(BCFG if sh.satiation is None else replace(BCFG, satiation=sh.satiation))
    user_interest = r.dirichlet(np.ones(T), U).astype(np.float32)
    # user 0 has no follows; user 1 has no friends; user 2 has a full follow list
    friend_indptr, friend_indices = friend_graph(r, U, isolated={1})
    video_creator = r.integers(0, C, V).astype(np.int32)
    video_topic = r.integers(0, T, V).astype(np.int16)
    video_duration_s = r.choice([2.0, 3.0, 15.0, 30.0, 90.0], V).astype(np.float32)
    video_quality = r.normal(0, 1, V).astype(np.float32)
    video_hook = r.normal(0, 1, V).astype(np.float32)
    video_shareability = r.normal(0, 1, V).astype(np.float32)
    post_time = r.permutation(V).astype(np.int64)
    video_post_day = (post_time // 10 - 2).astype(np.int32)

    cap = r.integers(1, sh.max_cap + 1, U)
    f_ptr = np.zeros(U + 1, np.int64)
    np.cumsum(cap, out=f_ptr[1:])
    f_n = np.zeros(U, np.int32)
    f_cre = np.full(f_ptr[-1], -1, np.int32)
    f_eng = np.zeros(f_ptr[-1], np.float32)
    f_rr = np.zeros(f_ptr[-1], np.bool_)
    for u in range(U):
        n = 0 if u == 0 else int(cap[u]) if (u == 2 or sh.full_follows) else int(r.integers(0, cap[u] + 1))
        n = min(n, C)
        lo = f_ptr[u]
        f_cre[lo:lo + n] = np.sort(r.choice(C, n, replace=False))
        eng = r.uniform(0, 1, n).astype(np.float32)
        f_eng[lo:lo + n] = eng
        f_rr[lo:lo + n] = (eng >= BCFG.rr_on) | ((eng >= BCFG.rr_off) & (r.random(n) < 0.5))
        f_n[u] = n

    seen_ptr = np.zeros(U + 1, np.int64)
    np.cumsum(r.integers(1, sh.seen_blocks + 1, U), out=seen_ptr[1:])
    seen_bits = new_filter(seen_ptr)
    inbox = np.full((U, max(sh.n_inbox, 1)), -1, np.int32)
    inbox[:, :sh.n_inbox] = np.where(r.random((U, sh.n_inbox)) < 0.5, r.integers(0, V, (U, sh.n_inbox)), -1)
    inbox_pos = r.integers(0, 10, U).astype(np.int32)
    ut_imps = r.integers(0, 8, (U, T)).astype(np.float32)
    ut_plays = np.floor(ut_imps * r.random((U, T))).astype(np.float32)
    aff = r.normal(0, 0.5, (U, T)).astype(np.float32)
    base = r.normal(0, 1, V)
    boost = np.where(r.random(V) < 0.3, r.exponential(0.5, V), 0.0)
    if sh.ties:
        base = r.integers(-2, 3, V) * 0.5
        boost[:] = 0.0
        aff[:] = 0.0
    masked = r.random(V) < sh.p_masked
    base[masked] = -np.inf
    is_new = r.random(V) < sh.p_new

    # retrieval pools, built as sim.engine builds them (over live posts)
    live = np.arange(V, dtype=np.int32) if sh.masked_in_pools else np.flatnonzero(~masked).astype(np.int32)
    if sh.empty_topics:
        live = live[~np.isin(video_topic[live], sh.empty_topics)]
    total = base[live] + boost[live]
    order = np.lexsort((live, -total, video_topic[live]))
    tp_vid = live[order].astype(np.int32)
    tp_ptr = np.zeros(T + 1, np.int64)
    np.cumsum(np.bincount(video_topic[live], minlength=T), out=tp_ptr[1:])
    fresh_vid = np.zeros(0, np.int32) if sh.empty_fresh else live[post_time[live] >= V // 2].astype(np.int32)
    # the creators' lists hold no masked post, whatever the other pools hold (the follow scan reads no score)
    cr_ptr, cr_vid = _by_creator(live[total > -np.inf], post_time, video_creator, C)
    # videos served before this tick: random, or the best of each topic
    top = np.concatenate([tp_vid[tp_ptr[t]:tp_ptr[t] + 2 * sh.top_m] for t in range(T)]).astype(np.int64)
    if sh.inbox_top and top.size:
        inbox[:, :sh.n_inbox] = np.where(inbox[:, :sh.n_inbox] >= 0, r.choice(top, (U, sh.n_inbox)), -1)
    for u in range(U):
        pick = r.choice(top, min(sh.n_seen, top.size), replace=False) if sh.seen_top and top.size \
            else r.integers(0, V, r.binomial(sh.n_seen, 0.6))
        if sh.seen_inbox_fresh > 0:
            mine = np.concatenate([inbox[u, :sh.n_inbox][inbox[u, :sh.n_inbox] >= 0], fresh_vid])
            pick = np.concatenate([pick, mine[r.random(mine.size) < sh.seen_inbox_fresh]])
        for v in pick:
            seen_add(seen_bits, seen_ptr, u, int(v), sh.seen_k)

    req_counts = r.integers(0, sh.max_requests + 1, U).astype(np.int32)
    req_counts[:3] = np.maximum(req_counts[:3], 1)  # the edge-case users are always served
    users = np.flatnonzero(req_counts).astype(np.int32)
    row_off = np.zeros(users.size + 1, np.int64)
    np.cumsum(req_counts[users].astype(np.int64) * sh.slate, out=row_off[1:])
    stamp_base = 1000
    stamps = np.full((numba.config.NUMBA_NUM_THREADS,
                      2 * K.stamp_table_size(sh.n_follow, sh.n_inbox, sh.n_interest, sh.n_fresh)), -1, np.int32)
    cmarks = np.full((numba.config.NUMBA_NUM_THREADS, C), -1, np.int32)
    if sh.stale_stamps:  # scratch left over from earlier ticks must not matter
        # a request r of an earlier tick leaves r, -2 - 2r or -3 - 2r (K.stamp_unprobed, K.stamp_seen)
        stamps[:] = r.integers(-2 * stamp_base - 1, stamp_base, stamps.shape)
        cmarks[:] = r.integers(0, stamp_base, cmarks.shape)

    live_pools = live_case(r, sh, U, C, T, seen_bits, seen_ptr, V)
    settings = K.ServeSettings(
        seed=np.int64(sh.seed + 7), day=np.int64(3), tick=np.int64(1), slate_size=np.int64(sh.slate),
        quota_slots=np.int64(sh.n_quota), weight_affinity=float(sh.w_aff), weight_regular_reader=float(sh.w_rr),
        n_follow_candidates=np.int64(sh.n_follow), n_interest_candidates=np.int64(sh.n_interest),
        n_fresh_candidates=np.int64(sh.n_fresh), interest_top_m=np.int64(sh.top_m),
        first_request_id=np.int64(stamp_base), behavior_params=bp, rr_rate=float(BCFG.rr_rate),
        rr_on=float(BCFG.rr_on), rr_off=float(BCFG.rr_off), affinity_strength=float(sh.aff_strength),
        seen_hashes=np.int64(sh.seen_k),
        inv_temperature=1.0 / sh.temperature if sh.temperature > 0 else 0.0)
    world = K.WorldArrays(
        user_interest=user_interest, friend_indptr=friend_indptr, friend_indices=friend_indices,
        video_creator=video_creator, video_topic=video_topic, video_duration_s=video_duration_s,
        video_quality=video_quality, video_hook=video_hook, video_shareability=video_shareability)
    return dict(
        settings=settings, world=world, users=users, row_off=row_off, max_rec=BCFG.share_max_recipients,
        pools=K.RetrievalPools(topic_ptr=tp_ptr, topic_videos=tp_vid, fresh_videos=fresh_vid, creator_ptr=cr_ptr,
                               creator_videos=cr_vid),
        state=dict(follow_ptr=f_ptr, follow_count=f_n, follow_creator=f_cre, follow_engagement=f_eng,
                   follow_regular=f_rr, seen_ptr=seen_ptr, seen_bits=seen_bits, inbox=inbox, topic_impressions=ut_imps,
                   topic_plays=ut_plays, affinity=aff, base_score=base, boost=boost, is_new_creator=is_new,
                   request_stamps=stamps, request_counts=req_counts, regular_marks=cmarks,
                   day_topic=r.integers(0, 6, (U, T)).astype(np.float32) if sh.day_counts else np.zeros((U, T), np.float32),
                   day_done=r.integers(0, 3, (U, T)).astype(np.float32) if sh.day_counts else np.zeros((U, T), np.float32),
                   day_novelty=r.uniform(0, 2, U) if sh.day_counts else np.zeros(U)),
        inbox_pos=inbox_pos, video_post_day=video_post_day, n_inbox=sh.n_inbox, live=live_pools,
    )


def live_case(r, sh, U, C, T, seen_bits, seen_ptr, V):
    """Live rooms of a case (``sim.live.no_live`` when ``sh.live_rooms`` is 0): sessions of random creators,
    about two thirds running (the rest not: creator_session never names them, score -inf), some already in
    users' seen filters, with quotas' new-creator flags, and topic pools of the running ones, best first."""
    from sim.live import LiveConfig, LivePools, no_live

    if sh.live_rooms == 0:
        return no_live(T)
    S = sh.live_rooms
    creator = r.integers(0, C, S).astype(np.int32)
    running = r.random(S) < 0.67
    running[0] = True
    cs = np.full(C, -1, np.int32)
    for s_ in np.flatnonzero(running):
        cs[creator[s_]] = s_  # a later session of the same creator wins, as in sim.live.LiveState
    running = np.zeros(S, bool)
    running[cs[cs >= 0]] = True
    score = np.where(running, r.normal(0.5, 1.0, S), -np.inf)
    topic = r.integers(0, T, S).astype(np.int32)
    run = np.flatnonzero(running)
    order = np.lexsort((run, -score[run], topic[run]))
    ptr = np.zeros(T + 1, np.int64)
    np.cumsum(np.bincount(topic[run], minlength=T), out=ptr[1:])
    for u in range(U):  # some rooms were shown to some users before
        for s_ in run[r.random(run.size) < 0.15]:
            seen_add(seen_bits, seen_ptr, u, int(V + s_), sh.seen_k)
    cfg = LiveConfig(enabled=True, reserve_rate=sh.reserve_rate, enter_b=0.5, share_b=-0.5, follow_b=-1.0,
                     gift_b=-1.0)
    return LivePools(session_creator=creator, session_topic=topic,
                     session_quality=r.normal(0, 1, S).astype(np.float32),
                     minutes_left=np.where(running, r.uniform(1, 120, S), 0.0), score=score,
                     is_new=r.random(S) < 0.4, creator_session=cs, topic_ptr=ptr,
                     topic_sessions=run[order].astype(np.int32), params=cfg.live_params(),
                     n_follow=np.int64(sh.n_follow_live), n_interest=np.int64(sh.n_live_interest),
                     reservation_bonus=0.7)


def state_tuple(st, n_inbox):
    """The kernel's state tuple; the inbox is a column view, as in sim.engine."""
    return K.ServeState(**{k: st[k][:, :n_inbox] if k == "inbox" else st[k] for k in K.ServeState._fields})


def copy_state(st):
    return {k: v.copy() for k, v in st.items()}


def run_kernel(case, st):
    """serve_tick on ``st`` (mutated in place); returns the four output arrays."""
    n_rows = int(case["row_off"][-1])
    out_i = np.empty((n_rows, K.N_I), np.int32)
    out_f = np.empty((n_rows, K.N_F), np.float32)
    out_u = np.zeros((n_rows, K.N_U), np.uint8)
    out_rec = np.empty((n_rows, case["max_rec"]), np.int32)
    K.serve_tick(case["settings"], case["world"], state_tuple(st, case["n_inbox"]), case["pools"], case["live"],
                 case["users"], case["row_off"], out_i, out_f, out_u, out_rec)
    return out_i, out_f, out_u, out_rec


def run_twin(case, st):
    return ref.serve_tick(case["settings"], case["world"], state_tuple(st, case["n_inbox"]), case["pools"],
                          case["users"], case["row_off"], case["max_rec"], live=case["live"])


def assert_rows_equal(got, want, what=""):
    """Kernel rows ``got`` against twin rows ``want`` (fields undefined on padded rows are skipped)."""
    gi, gf, gu, grec = got
    wi, wf, wu, wrec = want
    for col, name in ((K.I_VIDEO, "video"), (K.I_USER, "user"), (K.I_REQ, "request"), (K.I_LIVE, "live session")):
        bad = np.flatnonzero(gi[:, col] != wi[:, col])
        assert bad.size == 0, (f"{what}: {name} differs in rows {bad[:8].tolist()}: kernel "
                               f"{gi[bad[:8], col].tolist()} vs twin {wi[bad[:8], col].tolist()}")
    np.testing.assert_array_equal(gu[:, K.U_POS], wu[:, K.U_POS], err_msg=f"{what}: position")
    s = (wi[:, K.I_VIDEO] >= 0) | (wi[:, K.I_LIVE] >= 0)
    np.testing.assert_array_equal(gi[s, K.I_EVICTED], wi[s, K.I_EVICTED], err_msg=f"{what}: evicted creator")
    names = ["pos", "play", "complete", "like", "comment", "share", "followed", "regular", "follower", "n_rec",
             "n_open", "rr_delta", "evicted_rr", "source"]
    for col, name in enumerate(names):
        np.testing.assert_array_equal(gu[s, col], wu[s, col], err_msg=f"{what}: out_u column {name!r}")
    for col, name in enumerate(["score", "boost", "watch_s", "value", "affinity", "propensity", "gift"]):
        # scores are O(1) sums that may cancel: absolute slack of a few float32 ulps of their terms
        atol = 1e-6 if col == K.F_SCORE else 1e-9
        np.testing.assert_allclose(gf[s, col], wf[s, col], rtol=1e-6, atol=atol, err_msg=f"{what}: {name}")
    np.testing.assert_array_equal(grec[s], wrec[s], err_msg=f"{what}: share recipients who opened")


def assert_state_equal(st, want, f_ptr, what=""):
    np.testing.assert_array_equal(st["follow_count"], want["follow_count"], err_msg=f"{what}: follow counts")
    for u in range(len(st["follow_count"])):
        sl = slice(int(f_ptr[u]), int(f_ptr[u]) + int(want["follow_count"][u]))
        np.testing.assert_array_equal(st["follow_creator"][sl], want["follow_creator"][sl], err_msg=f"{what}: follows of user {u}")
        np.testing.assert_array_equal(st["follow_regular"][sl], want["follow_regular"][sl], err_msg=f"{what}: regular flags of user {u}")
        np.testing.assert_allclose(st["follow_engagement"][sl], want["follow_engagement"][sl], rtol=1e-6,
                                   err_msg=f"{what}: engagement of user {u}")
    for name in ("seen_bits", "topic_impressions", "topic_plays", "day_topic", "day_done"):
        np.testing.assert_array_equal(st[name], want[name], err_msg=f"{what}: {name}")
    np.testing.assert_allclose(st["day_novelty"], want["day_novelty"], rtol=1e-12, err_msg=f"{what}: day_novelty")


SHAPES = {
    "default": Shape(),
    "seed1": Shape(seed=1),
    "seed2_more_users": Shape(seed=2, n_users=10, n_videos=60, max_requests=4),
    "quota": Shape(seed=3, n_quota=2, slate=3, p_new=0.15, n_interest=8, n_fresh=6, n_users=8, n_videos=60),
    "quota_exceeds_slate": Shape(seed=4, n_quota=9, slate=3),
    "slate_larger_than_candidates": Shape(seed=5, slate=12, n_follow=1, n_interest=1, n_fresh=1, n_inbox=1),
    "empty_fresh_pool": Shape(seed=6, empty_fresh=True),
    "empty_topic_pools": Shape(seed=7, empty_topics=(0, 2), n_topics=4),
    "all_masked": Shape(seed=8, p_masked=1.0, masked_in_pools=True),
    "masked_in_pools": Shape(seed=9, p_masked=0.4, masked_in_pools=True),
    "full_follows_eviction": Shape(seed=10, max_cap=1, n_creators=4),
    "ties": Shape(seed=11, ties=True, w_aff=0.0, w_rr=0.5),
    "no_sources": Shape(seed=12, n_follow=0, n_interest=0, n_fresh=0, n_inbox=0),
    "one_user_one_topic_n1": Shape(seed=13, n_users=3, n_topics=2, n_videos=3, n_creators=1, slate=1),
    "stale_stamps_small_seen": Shape(seed=14, stale_stamps=True, n_seen=1, seen_blocks=1, seen_k=1),
    # users have been served most of their topics' best posts: interest picks re-drawn deeper, and a
    # crowded one-block filter with false positives
    "deep_interest_crowded_filter": Shape(seed=19, n_videos=80, n_seen=30, seen_top=True, top_m=3, seen_blocks=1,
                                          seen_k=2, n_interest=8, max_requests=4),
    "follows_exceed_follow_slots": Shape(seed=16, n_users=8, max_cap=7, full_follows=True, n_creators=10,
                                         n_follow=2, n_videos=60, w_rr=2.0),
    "logged_affinity": Shape(seed=17, aff_strength=5.0),
    "logged_affinity_wide": Shape(seed=18, n_users=8, n_videos=80, n_creators=12, n_topics=6, slate=6,
                                  max_requests=6, n_follow=5, n_interest=8, n_fresh=6, max_cap=5, aff_strength=2.0),
    # exploration: Plackett-Luce slates (with a quota; at a temperature cold enough to underflow; on ties)
    "explore": Shape(seed=19, temperature=0.5, n_users=8, n_videos=60, max_requests=4),
    "explore_quota": Shape(seed=20, temperature=0.3, n_quota=2, slate=4, p_new=0.15, n_interest=8, n_fresh=6,
                           n_users=8, n_videos=60),
    "explore_cold_quota": Shape(seed=21, temperature=1e-4, n_quota=2, slate=3, p_new=0.2, n_users=8, n_videos=60),
    "explore_ties_masked": Shape(seed=22, temperature=1.0, ties=True, p_masked=0.4, masked_in_pools=True,
                                 slate=6),
    "strong_satiation": Shape(seed=23, satiation=0.8, n_users=8, n_videos=60, max_requests=4, n_topics=2),
    "no_satiation_fresh_day": Shape(seed=24, satiation=0.0, day_counts=False),
    # inbox shares and fresh posts are candidates probed only if they reach the slate; here many
    # were served before, and interest picks meet unprobed inbox shares (probed then)
    "unprobed_inbox_fresh": Shape(seed=23, n_videos=60, n_inbox=6, inbox_top=True, seen_inbox_fresh=0.5, top_m=3,
                                  n_interest=8, n_fresh=8, max_requests=4, n_users=10, stale_stamps=True),
    "unprobed_inbox_fresh_quota": Shape(seed=24, n_videos=60, n_inbox=6, inbox_top=True, seen_inbox_fresh=0.6,
                                        top_m=3, n_interest=8, n_fresh=8, max_requests=4, n_users=10, n_quota=2,
                                        p_new=0.2, slate=5),
    "unprobed_inbox_fresh_explore": Shape(seed=25, n_videos=60, n_inbox=6, inbox_top=True, seen_inbox_fresh=0.5,
                                          top_m=3, n_interest=8, n_fresh=8, max_requests=4, n_users=10,
                                          temperature=0.5, n_quota=1),
    # live rooms: followed creators' (reserved first) and interest picks, in one slate with the posts
    "live_rooms": Shape(seed=26, live_rooms=8, n_users=10, n_videos=60, n_creators=8, max_cap=5, max_requests=4),
    "live_rooms_quota": Shape(seed=27, live_rooms=10, n_users=10, n_videos=60, n_creators=6, max_cap=5, n_quota=2,
                              slate=4, p_new=0.1, n_follow_live=4, n_live_interest=4, reserve_rate=0.9),
    "live_rooms_explore": Shape(seed=28, live_rooms=8, n_users=10, n_videos=60, n_creators=8, max_cap=5,
                                temperature=0.5, n_quota=1, max_requests=4),
    "live_rooms_full_follows": Shape(seed=29, live_rooms=10, n_users=8, max_cap=2, full_follows=True, n_creators=10,
                                     n_videos=40, max_requests=5, n_follow_live=1, n_live_interest=4),
    "many_requests_wide": Shape(seed=15, n_users=8, n_videos=80, n_creators=12, n_topics=6, slate=6,
                                max_requests=6, n_follow=5, n_interest=8, n_fresh=6, max_cap=5),
}


@pytest.fixture(scope="module", autouse=True)
def _restore_thread_count():
    before = numba.get_num_threads()
    yield
    numba.set_num_threads(before)


def test_layout_constants_match_the_kernels():
    for name in ("I_VIDEO", "I_USER", "I_REQ", "I_EVICTED", "I_LIVE", "N_I", "F_SCORE", "F_BOOST", "F_WATCH",
                 "F_VALUE", "F_AFF", "F_PROP", "F_GIFT", "N_F", "U_POS", "U_PLAY", "U_COMPLETE", "U_LIKE", "U_COMMENT", "U_SHARE", "U_FOLLOWED",
                 "U_REGULAR", "U_FOLLOWER", "U_NREC", "U_NOPEN", "U_RR_CHANGE", "RR_LOST", "RR_UNCHANGED", "RR_GAINED", "U_EVICTED_RR", "U_SOURCE", "N_U",
                 "N_VC", "VC_IMPRESSIONS", "VC_EARLY_IMPRESSIONS", "VC_VALUE", "VC_RR_PLAYS_3S", "SOURCE_FOLLOW",
                 "SOURCE_SHARE", "SOURCE_INTEREST", "SOURCE_FRESH", "MAX_REQUESTS_PER_TICK"):
        assert getattr(ref, name) == getattr(K, name), name


@pytest.mark.parametrize("name", list(SHAPES))
def test_serve_tick_matches_twin(name):
    case = make_case(SHAPES[name])
    st_k, st_t = copy_state(case["state"]), copy_state(case["state"])
    got = run_kernel(case, st_k)
    *want, want_state = run_twin(case, st_t)
    assert_rows_equal(got, want, name)
    assert_state_equal(st_k, want_state, case["state"]["follow_ptr"], name)
    for k in ("inbox", "affinity", "base_score", "boost", "is_new_creator", "request_counts", "follow_ptr"):
        np.testing.assert_array_equal(st_k[k], case["state"][k], err_msg=f"serve_tick wrote into {k}")
    if name == "all_masked":
        assert (got[0][:, K.I_VIDEO] == -1).all()
    if name == "slate_larger_than_candidates":
        assert (got[0][:, K.I_VIDEO] == -1).any()


def test_serve_tick_quota_puts_new_posts_on_the_slate():
    """Each user's first request (same state with or without quota) shows at least as many new posts."""
    sh = SHAPES["quota"]
    counts = []
    for n_quota in (sh.n_quota, 0):
        case = make_case(replace(sh, n_quota=n_quota))
        out_i, _, _, _ = run_kernel(case, copy_state(case["state"]))
        first = out_i[case["row_off"][:-1, None] + np.arange(sh.slate), K.I_VIDEO]
        counts.append(((first >= 0) & case["state"]["is_new_creator"][np.maximum(first, 0)]).sum(axis=1))
    with_quota, without = counts
    assert (with_quota >= without).all() and (with_quota > without).any(), (with_quota, without)


def test_live_cases_exercise_every_live_path():
    """The live shapes reach every live path: each source, entering or not, gifts, shares opened, follows
    (with evictions), rooms next to posts in one slate, new rooms under a quota."""
    from sim.live import SOURCE_LIVE_FOLLOW, SOURCE_LIVE_INTEREST, SOURCE_LIVE_RESERVED

    seen = dict(rows=0, entered=0, not_entered=0, gifts=0, opened=0, followed=0, evicted=0, mixed_slates=0)
    sources = set()
    for name in [n for n in SHAPES if SHAPES[n].live_rooms]:
        case = make_case(SHAPES[name])
        out_i, out_f, out_u, _ = run_kernel(case, copy_state(case["state"]))
        lv = out_i[:, K.I_LIVE] >= 0
        assert not (lv & (out_i[:, K.I_VIDEO] >= 0)).any()
        seen["rows"] += int(lv.sum())
        seen["entered"] += int(out_u[lv, K.U_PLAY].sum())
        seen["not_entered"] += int((out_u[lv, K.U_PLAY] == 0).sum())
        seen["gifts"] += int((out_f[lv, K.F_GIFT] > 0).sum())
        seen["opened"] += int(out_u[lv, K.U_NOPEN].sum())
        seen["followed"] += int(out_u[lv, K.U_FOLLOWED].sum())
        seen["evicted"] += int((out_i[lv, K.I_EVICTED] >= 0).sum())
        sl = SHAPES[name].slate
        req = (lv.reshape(-1, sl).any(axis=1) & (out_i[:, K.I_VIDEO] >= 0).reshape(-1, sl).any(axis=1))
        seen["mixed_slates"] += int(req.sum())
        sources |= set(out_u[lv, K.U_SOURCE].tolist())
        assert (out_f[~lv, K.F_GIFT] == 0).all()
    assert all(n > 0 for n in seen.values()), [k for k, n in seen.items() if n == 0]
    assert sources == {SOURCE_LIVE_FOLLOW, SOURCE_LIVE_RESERVED, SOURCE_LIVE_INTEREST}


def test_random_cases_exercise_every_path():
    """The comparisons above are only as good as the paths the random cases reach."""
    seen = dict(followed=0, evicted=0, evicted_rr=0, opened=0, rr_gain=0, rr_loss=0, padded=0, regular=0)
    sources = set()
    for name in SHAPES:
        case = make_case(SHAPES[name])
        out_i, _, out_u, _ = run_kernel(case, copy_state(case["state"]))
        s = out_i[:, K.I_VIDEO] >= 0
        seen["followed"] += int(out_u[s, K.U_FOLLOWED].sum())
        seen["evicted"] += int((out_i[s, K.I_EVICTED] >= 0).sum())
        seen["evicted_rr"] += int(out_u[s, K.U_EVICTED_RR].sum())
        seen["opened"] += int(out_u[s, K.U_NOPEN].sum())
        seen["rr_gain"] += int((out_u[s, K.U_RR_CHANGE] == K.RR_GAINED).sum())
        seen["rr_loss"] += int((out_u[s, K.U_RR_CHANGE] == K.RR_LOST).sum())
        seen["regular"] += int(out_u[s, K.U_REGULAR].sum())
        seen["padded"] += int((~s).sum())
        sources |= set(out_u[s, K.U_SOURCE].tolist())
    assert all(n > 0 for n in seen.values()), seen
    assert sources == {K.SOURCE_FOLLOW, K.SOURCE_SHARE, K.SOURCE_INTEREST, K.SOURCE_FRESH}


def apply_inputs(case, seed):
    r = np.random.default_rng(seed)
    V, C, U = case["world"].video_creator.shape[0], int(case["pools"].creator_ptr.shape[0] - 1), case["state"]["follow_count"].shape[0]
    vc = np.floor(r.random((V, K.N_VC)) * 5)
    counts = r.integers(0, 5, (C, 3)).astype(np.int64)
    user_day = r.random((U, 2)) * 3
    return vc, counts, user_day


@pytest.mark.parametrize("name", ["default", "seed2_more_users", "quota", "full_follows_eviction",
                                  "many_requests_wide", "one_user_one_topic_n1"])
def test_apply_tick_matches_twin(name):
    case = make_case(SHAPES[name])
    st = copy_state(case["state"])
    out_i, out_f, out_u, out_rec = run_kernel(case, st)
    vc, counts, user_day = apply_inputs(case, 99)
    now_day, early = np.int64(3), np.int64(2)
    args = (case["world"].video_creator, case["video_post_day"], now_day, early)
    want = ref.apply_tick(out_i, out_f, out_u, out_rec, *args, vc, counts, st["inbox"], case["inbox_pos"],
                          user_day)
    inbox, inbox_pos = st["inbox"].copy(), case["inbox_pos"].copy()
    vc_k, counts_k, user_day_k = vc.copy(), counts.copy(), user_day.copy()
    K.apply_tick(out_i, out_f, out_u, out_rec, *args, vc_k, counts_k, (inbox, inbox_pos), user_day_k)
    np.testing.assert_allclose(vc_k, want[0], rtol=1e-12, err_msg="video counters")
    np.testing.assert_array_equal(counts_k, want[1], err_msg="creator counts")
    np.testing.assert_array_equal(inbox, want[2], err_msg="inboxes")
    np.testing.assert_array_equal(inbox_pos, want[3], err_msg="inbox positions")
    np.testing.assert_allclose(user_day_k, want[4], rtol=1e-12, err_msg="user day sums")
    assert (vc_k != vc).any()


@pytest.mark.parametrize("seed", [0, 1])
def test_three_ticks_in_a_row_match_twin(seed):
    """State carried over ticks (seen filter, inbox -> share candidates, follows) stays equal."""
    sh = Shape(seed=20 + seed, n_users=8, n_videos=50, max_requests=3)
    case = make_case(sh)
    st_k, st_t = copy_state(case["state"]), copy_state(case["state"])
    pos_k, pos_t = case["inbox_pos"].copy(), case["inbox_pos"].copy()
    C = case["pools"].creator_ptr.shape[0] - 1
    vc_k = np.zeros((sh.n_videos, K.N_VC))
    cc_k = np.zeros((C, 3), np.int64)
    ud_k = np.zeros((sh.n_users, 2))
    vc_t, cc_t, ud_t = vc_k.copy(), cc_k.copy(), ud_k.copy()
    stamp_base = 1000
    for tick in range(3):
        c = dict(case, settings=case["settings"]._replace(tick=np.int64(tick), first_request_id=np.int64(stamp_base)))
        got = run_kernel(c, st_k)
        *want, new_t = run_twin(c, st_t)
        assert_rows_equal(got, want, f"tick {tick}")
        assert_state_equal(st_k, new_t, st_k["follow_ptr"], f"tick {tick}")
        for k in ("follow_count", "follow_creator", "follow_engagement", "follow_regular", "seen_bits", "topic_impressions", "topic_plays",
                  "day_topic", "day_done", "day_novelty"):
            st_t[k] = new_t[k]
        args = (case["world"].video_creator, case["video_post_day"], np.int64(3), np.int64(2))
        K.apply_tick(*got, *args, vc_k, cc_k, (st_k["inbox"], pos_k), ud_k)
        vc_t, cc_t, st_t["inbox"], pos_t, ud_t = ref.apply_tick(*want, *args, vc_t, cc_t, st_t["inbox"], pos_t, ud_t)
        np.testing.assert_array_equal(st_k["inbox"], st_t["inbox"])
        np.testing.assert_array_equal(pos_k, pos_t)
        np.testing.assert_array_equal(cc_k, cc_t)
        np.testing.assert_allclose(vc_k, vc_t, rtol=1e-12)
        np.testing.assert_allclose(ud_k, ud_t, rtol=1e-12)  # users' day sums (apply_tick's part 1)
        stamp_base += int(c["row_off"][-1]) // sh.slate


@needs_two_threads
def test_serve_tick_same_with_one_and_two_threads():
    sh = Shape(seed=31, n_users=300, n_videos=1500, n_creators=80, n_topics=8, slate=6, n_quota=1,
               max_requests=4, n_follow=6, n_interest=12, n_fresh=6, n_inbox=4, n_seen=16, top_m=20, max_cap=12)
    case = make_case(sh)
    results = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        st = copy_state(case["state"])
        out = run_kernel(case, st)
        results.append((out, st))
    (o1, s1), (o2, s2) = results
    for a, b in zip(o1, o2):
        np.testing.assert_array_equal(a[o1[0][:, K.I_VIDEO] >= 0], b[o1[0][:, K.I_VIDEO] >= 0])
    np.testing.assert_array_equal(o1[0], o2[0])
    for k in ("follow_count", "follow_creator", "follow_engagement", "follow_regular", "seen_bits", "topic_impressions", "topic_plays",
              "day_topic", "day_done", "day_novelty"):
        np.testing.assert_array_equal(s1[k], s2[k], err_msg=k)
    assert (o1[0][:, K.I_VIDEO] >= 0).sum() > 1000


# --- follow lists -------------------------------------------------------------------------------

def random_follows(r, n_users, n_creators, max_cap):
    cap = r.integers(0, max_cap + 1, n_users)
    f_ptr = np.zeros(n_users + 1, np.int64)
    np.cumsum(cap, out=f_ptr[1:])
    f_n = np.zeros(n_users, np.int32)
    f_cre = np.full(f_ptr[-1], -1, np.int32)
    f_eng = np.zeros(f_ptr[-1], np.float32)
    f_rr = np.zeros(f_ptr[-1], np.bool_)
    for u in range(n_users):
        n = int(r.integers(0, cap[u] + 1))
        lo = f_ptr[u]
        f_cre[lo:lo + n] = np.sort(r.choice(n_creators, n, replace=False))
        f_eng[lo:lo + n] = np.round(r.random(n), 1)  # coarse: ties in engagement are common
        f_rr[lo:lo + n] = f_eng[lo:lo + n] >= 0.5
        f_n[u] = n
    return f_ptr, f_n, f_cre, f_eng, f_rr


@pytest.mark.parametrize("seed", range(3))
def test_follow_find_matches_twin(seed):
    r = np.random.default_rng(seed)
    f_ptr, f_n, f_cre, f_eng, f_rr = random_follows(r, 12, 30, 8)
    for u in range(12):
        for c in range(-1, 31):
            assert K.follow_find(f_ptr, f_n, f_cre, u, c) == ref.follow_find(f_ptr, f_n, f_cre, u, c), (u, c)


@pytest.mark.parametrize("seed", range(3))
def test_follow_insert_matches_twin_sorted_and_capped(seed):
    r = np.random.default_rng(seed)
    n_users, n_creators = 8, 20
    arrays = random_follows(r, n_users, n_creators, 5)
    f_ptr = arrays[0]
    evictions = 0
    for step in range(200):
        f_ptr, f_n, f_cre, f_eng, f_rr = arrays
        u = int(r.integers(0, n_users))
        lo, n = int(f_ptr[u]), int(f_n[u])
        followed = set(f_cre[lo:lo + n].tolist())
        free = [c for c in range(n_creators) if c not in followed]
        if not free:
            continue
        c = int(r.choice(free))
        eng = float(r.choice([0.0, 0.5, 1.0]))
        before_eng = f_eng[lo:lo + n].copy()
        before_cre = f_cre[lo:lo + n].copy()
        want, want_arrays = ref.follow_insert(*arrays, u, c, eng, 0.5)
        k_arrays = [a.copy() for a in arrays[1:]]
        got = K.follow_insert(f_ptr, *k_arrays, u, c, eng, 0.5)
        assert tuple(got) == want, (step, u, c, got, want)
        cap = int(f_ptr[u + 1] - f_ptr[u])
        m = int(k_arrays[0][u])
        row = k_arrays[1][lo:lo + m]
        assert m <= cap
        assert (np.diff(row) > 0).all(), f"row of user {u} not sorted: {row}"
        if cap > 0:
            assert c in row
        if got[0] >= 0:
            evictions += 1
            assert n == cap and m == cap
            weakest = before_eng.min()
            assert before_eng[before_cre == got[0]][0] == weakest
            assert before_cre[before_eng == weakest][0] == got[0]  # ties: smaller creator id goes
        np.testing.assert_array_equal(k_arrays[0], want_arrays[0])
        for uu in range(n_users):
            sl = slice(int(f_ptr[uu]), int(f_ptr[uu]) + int(want_arrays[0][uu]))
            for a, b in zip(k_arrays[1:], want_arrays[1:]):
                np.testing.assert_array_equal(a[sl], b[sl])
        arrays = (f_ptr, *k_arrays)
    assert evictions > 5


# --- arrivals and returns ---------------------------------------------------------------------------

@pytest.mark.parametrize("session_v", [0.0, 1.5])
@pytest.mark.parametrize("seed,day,tick,tpd", [(0, 0, 0, 4), (5, 3, 2, 4), (2**40, 17, 0, 1), (9, 1, 5, 24)])
def test_draw_arrivals_matches_twin(seed, day, tick, tpd, session_v):
    r = np.random.default_rng(seed % 1000)
    n = 200
    activity = (r.pareto(1.5, n) * 3).astype(np.float32)
    activity[0] = 0.0  # nobody
    activity[1] = 300.0 * tpd  # Poisson(300) per tick: far above the cap of 64
    returned = r.random(n) < 0.8
    returned[:2] = True
    sat = r.normal(1.0, 1.0, n)
    out = np.full(n, -7, np.int32)
    K.draw_arrivals(np.int64(seed), np.int64(day), np.int64(tick), np.int64(tpd), activity, returned, sat,
                    session_v, 1.0, out)
    np.testing.assert_array_equal(out, ref.draw_arrivals(seed, day, tick, tpd, activity, returned, sat, session_v, 1.0))
    assert out[0] == 0 and out[1] == K.MAX_REQUESTS_PER_TICK
    assert (out[~returned] == 0).all() and out[returned].sum() > 0


def test_sessions_follow_satisfaction():
    """Requests per active day scale by 2 sigmoid(session_v (S - ref)): 1 at the reference, 2 / (1 + e) one
    unit below it (session_v = 1), 2 / (1 + e^-1) one unit above; the same draws otherwise."""
    n, tpd = 20_000, 1
    activity = np.full(n, 6.0, np.float32)
    returned = np.ones(n, np.bool_)
    means = {}
    for s in (0.0, 1.0, 2.0):
        out = np.zeros(n, np.int32)
        K.draw_arrivals(np.int64(3), np.int64(0), np.int64(0), np.int64(tpd), activity, returned, np.full(n, s),
                        1.0, 1.0, out)
        means[s] = out.mean()
    assert means[1.0] == pytest.approx(6.0, rel=0.03)
    assert means[0.0] == pytest.approx(6.0 * 2 / (1 + math.e), rel=0.03)
    assert means[2.0] == pytest.approx(6.0 * 2 / (1 + math.exp(-1)), rel=0.03)


@pytest.mark.parametrize("rate", [700.0, 800.0, 5000.0])
def test_draw_arrivals_very_active_users_hit_the_cap(rate):
    """Regression: Poisson(lam) by inversion from exp(-lam) underflowed for lam >~ 745 (gave 1 request)."""
    activity = np.full(50, rate, np.float32)
    out = np.zeros(50, np.int32)
    K.draw_arrivals(np.int64(1), np.int64(0), np.int64(0), np.int64(1), activity, np.ones(50, np.bool_), np.zeros(50),
                    0.0, 0.0, out)
    want = ref.draw_arrivals(1, 0, 0, 1, activity, np.ones(50, np.bool_))
    assert (out == want).all(), (
        f"draw_arrivals with activity/ticks_per_day = {rate}: expected {K.MAX_REQUESTS_PER_TICK} requests "
        f"(Poisson({rate}) capped), got {sorted(set(out.tolist()))}. Inversion of ranker.rng.poisson from "
        "p = exp(-lam) underflows to 0.0 for lam > ~745 and stops at n = 1.")


@pytest.mark.parametrize("seed,day", [(0, 0), (3, 1), (2**33, 400)])
def test_draw_returns_matches_twin(seed, day):
    r = np.random.default_rng(seed % 1000)
    sat = r.normal(0, 1.5, 300)
    sat[:2] = (-50.0, 50.0)
    out = np.zeros(300, np.bool_)
    ref_s = BCFG.satisfaction_ref
    K.draw_returns(np.int64(seed), np.int64(day), sat, BCFG.return_b, BCFG.return_v, ref_s, out)
    np.testing.assert_array_equal(out, ref.draw_returns(seed, day, sat, BCFG.return_b, BCFG.return_v, ref_s))
    assert not out[0] and out[1] and 0 < out.mean() < 1


@needs_two_threads
def test_arrivals_and_returns_thread_count_independent():
    r = np.random.default_rng(0)
    activity = (r.pareto(1.5, 5000) * 3).astype(np.float32)
    returned = r.random(5000) < 0.8
    sat = r.normal(0, 1, 5000)
    outs = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        a = np.zeros(5000, np.int32)
        b = np.zeros(5000, np.bool_)
        K.draw_arrivals(np.int64(4), np.int64(2), np.int64(1), np.int64(4), activity, returned, sat, 1.0, 0.5, a)
        K.draw_returns(np.int64(4), np.int64(2), sat, 1.0, 2.0, 0.5, b)
        outs.append((a, b))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])


def test_topk_quota_twin_rule():
    """The twin's top-k rule on a hand-checked example (ties by id, -inf masked, quota)."""
    scores = [1.0, 2.0, 2.0, -math.inf, 0.5, 0.1]
    ids = [10, 12, 11, 13, 14, 15]
    new = [False, False, False, True, True, True]
    assert ref.topk_quota(scores, ids, new, 3, 0) == [11, 12, 10]
    assert ref.topk_quota(scores, ids, new, 3, 1) == [11, 12, 14]
    assert ref.topk_quota(scores, ids, new, 3, 5) == [11, 14, 15]
    assert ref.topk_quota(scores, ids, new, 10, 0) == [11, 12, 10, 14, 15]
    assert ref.topk_quota([-math.inf], [1], [True], 2, 1) == []


@pytest.mark.parametrize("seed, n_rows", [(0, 0), (1, 1), (2, 500), (3, 4000)])
def test_metrics_tick_kernel_matches_twin(seed, n_rows):
    from sim.metrics import _tick_kernel

    r = np.random.default_rng(seed)
    videos = np.where(r.random(n_rows) < 0.15, -1, r.integers(0, 50, n_rows)).astype(np.int32)
    out_u = (r.random((n_rows, K.N_U)) < 0.4).astype(np.uint8) * r.integers(1, 3, (n_rows, K.N_U)).astype(np.uint8)
    values = r.normal(1.0, 2.0, n_rows).astype(np.float32)
    cols = (K.U_PLAY, K.U_COMPLETE, K.U_FOLLOWER, K.U_REGULAR)
    got = _tick_kernel(videos, out_u, values, *cols)
    want = ref.tick_sums(videos, out_u, values, *cols)
    assert tuple(got[:5]) == want[:5]
    assert got[5] == pytest.approx(want[5], rel=1e-12, abs=1e-9)
    if n_rows > 100:
        assert 0 < want[1] < want[0] and 0 < want[4] < want[0]


@pytest.mark.parametrize("seed, n_rows", [(0, 0), (1, 1), (2, 500), (3, 40_000)])
def test_metrics_user_tick_kernel_matches_twin(seed, n_rows):
    """Per-user sums of a tick equal np.bincount's bit for bit (the run's by-group metrics add them)."""
    from sim.metrics import _user_tick_kernel

    r = np.random.default_rng(seed)
    n_users, n_videos, n_creators = 300, 50, 7
    videos = np.where(r.random(n_rows) < 0.15, -1, r.integers(0, n_videos, n_rows)).astype(np.int32)
    users = r.integers(0, n_users, n_rows).astype(np.int32)
    values = r.normal(1.0, 2.0, n_rows).astype(np.float32)
    video_creator = r.integers(0, n_creators, n_videos).astype(np.int32)
    is_new = np.arange(n_creators) % 3 == 0  # creators 0, 3 and 6 are new
    # totals the tick's sums are added to: a run's so far (each sum added once, as the bincounts were)
    before = [np.floor(r.random(n_users) * 50.0), np.floor(r.random(n_users) * 9.0), r.normal(40.0, 9.0, n_users)]
    got = [b.copy() for b in before]
    scratch = np.zeros((n_users, 3))
    _user_tick_kernel(videos, users, values, video_creator, is_new, *got, scratch)
    want = ref.user_tick_sums(videos, users, values, video_creator, is_new, n_users)
    for g, b, x in zip(got, before, want):
        np.testing.assert_array_equal(g, b + x)
    assert not scratch.any()  # left zeroed for the next tick
    if n_rows > 100:
        assert 0 < want[1].sum() < want[0].sum() == np.count_nonzero(videos >= 0)


@pytest.mark.parametrize("name", ["default", "full_follows_eviction", "follows_exceed_follow_slots"])
def test_follow_counts_match_twin_and_stay_consistent_across_a_tick(name):
    case = make_case(SHAPES[name])
    st = case["state"]
    C = int(case["pools"].creator_ptr.shape[0] - 1)
    args = (st["follow_ptr"], st["follow_count"], st["follow_creator"], st["follow_regular"], C)
    got, want = K.follow_counts(*args), ref.follow_counts(*args)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    assert got[0].sum() == st["follow_count"].sum() and (got[1] <= got[0]).all() and got[1].sum() > 0
    # after a tick, counts recomputed from the follow lists equal the counts apply_tick kept
    st2 = copy_state(st)
    rows = run_kernel(case, st2)
    counts = np.zeros((C, 3), np.int64)
    counts[:, 0], counts[:, 1] = got
    V, U = case["world"].video_creator.shape[0], st["follow_count"].shape[0]
    K.apply_tick(*rows, case["world"].video_creator, case["video_post_day"], np.int64(3), np.int64(2),
                 np.zeros((V, K.N_VC)), counts, (st2["inbox"], case["inbox_pos"].copy()), np.zeros((U, 2)))
    after = K.follow_counts(st2["follow_ptr"], st2["follow_count"], st2["follow_creator"], st2["follow_regular"], C)
    np.testing.assert_array_equal(counts[:, 0], after[0])
    np.testing.assert_array_equal(counts[:, 1], after[1])


# --- the packed per-video record: its limits against the config's bounds -----------------------


def _hi(section, name):
    import dataclasses

    return next(f.metadata["hi"] for f in dataclasses.fields(section) if f.name == name)


def _roundtrip(creator, topic, is_new):
    packed = np.int64(np.float64(K.pack_video(np.int32(creator) if creator < 2**31 else np.int64(creator),
                                              np.int16(topic), np.bool_(is_new))))
    return int(K.packed_creator(packed)), int(K.packed_topic(packed)), bool(K.packed_is_new(packed))


def test_packed_video_record_holds_every_config_bound():
    from sim.config import RunConfig
    from sim.world import WorldConfig

    # topics: unpacked with a mask, so MAX_TOPICS is a power of two and bounds n_topics
    assert K.MAX_TOPICS & (K.MAX_TOPICS - 1) == 0
    assert _hi(WorldConfig, "n_topics") <= K.MAX_TOPICS
    # creators: every creator a config may have (established + joining every day but the first)
    max_creators = (_hi(WorldConfig, "n_creators")
                    + _hi(WorldConfig, "new_creators_per_day") * (_hi(RunConfig, "days") - 1))
    assert max_creators <= K.MAX_PACKED_CREATORS
    assert ((K.MAX_PACKED_CREATORS - 1) * K.MAX_TOPICS + K.MAX_TOPICS - 1) * 2 + 1 < 2**53
    # the extremes survive the float64 record exactly
    top_topic = _hi(WorldConfig, "n_topics") - 1
    for creator in (0, 1, max_creators - 1, K.MAX_PACKED_CREATORS - 1):
        for topic in (0, 1, top_topic, K.MAX_TOPICS - 1):
            for is_new in (False, True):
                assert _roundtrip(creator, topic, is_new) == (creator, topic, is_new)


def test_packed_video_record_limit_is_tight():
    # one creator more than MAX_PACKED_CREATORS and the record is no longer exact: the limit is the real one
    c = K.MAX_PACKED_CREATORS
    assert _roundtrip(c, K.MAX_TOPICS - 1, True) != (c, K.MAX_TOPICS - 1, True)


def test_stamp_table_agrees_with_a_dict_per_request_and_forgets_earlier_requests():
    """serve_tick's per-request stamp table: what a request put is what it finds, videos it did not put are
    not met (whatever earlier requests left in the table), at the most entries a request can put."""
    size = K.stamp_table_size(16, 8, 32, 12)
    assert size & (size - 1) == 0 and size >= 2 * (16 + 8 + K.INTEREST_TRIES * 32 + 12)
    table = np.full(2 * size, -1, np.int32)
    mask = size - 1
    r = np.random.default_rng(5)
    most = 16 + 8 + K.INTEREST_TRIES * 32 + 12
    for req in range(200):
        model = {}
        videos = r.choice(5_000, size=most + 50, replace=False).astype(np.int32)
        for v in videos[:most]:
            s, e = K.stamp_find(table, mask, v, req)
            assert int(s) == -1  # not met in this request, though earlier requests may have put it
            st = [req, int(K.stamp_unprobed(req)), int(K.stamp_seen(req))][int(r.integers(3))]
            K.stamp_put(table, mask, e, v, st)
            model[int(v)] = st
            if r.random() < 0.2:  # a later stamp of the same video replaces the first
                s, e = K.stamp_find(table, mask, v, req)
                assert int(s) == st
                st = int(K.stamp_seen(req))
                K.stamp_put(table, mask, e, v, st)
                model[int(v)] = st
        for v in videos:
            s, _ = K.stamp_find(table, mask, v, req)
            assert int(s) == model.get(int(v), -1)


@pytest.mark.parametrize("n", [0, 1, 7, 1000, 35_001])
def test_aligned_rows_start_on_a_cache_line_and_hold_n_rows(n):
    # serve_tick's per-video record: one 64-byte line a video only if row 0 starts on a line
    a = K.aligned_rows(n, K.N_R)
    assert a.shape == (n, K.N_R) and a.dtype == np.float64 and a.flags.c_contiguous
    assert K.N_R * 8 == 64
    if n:  # (an empty array has no line to start on)
        assert a.ctypes.data % 64 == 0
    a[:] = 1.5  # writable over its whole extent
    assert a.sum() == 1.5 * n * K.N_R
    # the hot record (score and packed integer): four 16-byte rows a line, none straddling two lines
    h = K.aligned_rows(n, K.N_H)
    assert h.shape == (n, K.N_H) and K.N_H * 8 == 16 and 64 % (K.N_H * 8) == 0
    if n:
        assert h.ctypes.data % 64 == 0


@pytest.mark.parametrize("name", ["default", "deep_interest_crowded_filter", "many_requests_wide"])
def test_serve_tick_never_serves_a_video_twice(name):
    """No row shows a user a video their seen filter held before the tick, nor one served earlier in the tick;
    where the best posts of a topic were all served, interest retrieval reaches below its top_m."""
    sh = SHAPES[name]
    case = make_case(sh)
    before = case["state"]["seen_bits"].copy()
    st = copy_state(case["state"])
    out_i, _, out_u, _ = run_kernel(case, st)
    served = out_i[:, K.I_VIDEO] >= 0
    users, videos = out_i[served, K.I_USER], out_i[served, K.I_VIDEO]
    seen_ptr = case["state"]["seen_ptr"]
    assert not any(seen_has(before, seen_ptr, int(u), int(v), sh.seen_k) for u, v in zip(users, videos))
    pairs = set(zip(users.tolist(), videos.tolist()))
    assert len(pairs) == served.sum()  # no pair twice within the tick
    assert all(seen_has(st["seen_bits"], seen_ptr, u, v, sh.seen_k) for u, v in pairs)  # all recorded
    if name == "deep_interest_crowded_filter":
        tp_ptr, tp_vid = case["pools"].topic_ptr, case["pools"].topic_videos
        rank = {int(v): i - int(tp_ptr[t]) for t in range(len(tp_ptr) - 1) for i in range(tp_ptr[t], tp_ptr[t + 1])
                for v in [tp_vid[i]]}
        interest = out_u[served, K.U_SOURCE] == K.SOURCE_INTEREST
        assert max(rank[int(v)] for v in videos[interest]) >= sh.top_m


@pytest.mark.parametrize("name", [n for n in SHAPES if n.startswith("unprobed_")])
def test_unprobed_cases_reach_their_paths(name):
    """The cases of candidates probed late hold what they are for: inbox shares and fresh posts the
    user's filter holds, and inbox shares among their topic's best (where interest picks meet them)."""
    sh = SHAPES[name]
    case = make_case(sh)
    st, pools = case["state"], case["pools"]
    seen_inbox = seen_fresh = inbox_in_windows = 0
    for u in case["users"]:
        row = st["inbox"][u, :sh.n_inbox]
        row = row[row >= 0]
        seen_inbox += sum(seen_has(st["seen_bits"], st["seen_ptr"], int(u), int(v), sh.seen_k) for v in row)
        seen_fresh += sum(seen_has(st["seen_bits"], st["seen_ptr"], int(u), int(v), sh.seen_k)
                          for v in pools.fresh_videos)
        t = case["world"].video_topic[row]
        inbox_in_windows += sum(v in pools.topic_videos[pools.topic_ptr[x]:pools.topic_ptr[x] + 8 * sh.top_m]
                                for v, x in zip(row, t))
    assert seen_inbox >= 5 and seen_fresh >= 10 and inbox_in_windows >= 10, (seen_inbox, seen_fresh, inbox_in_windows)
