"""Numba kernels of the feed loop. Arrays in, arrays out; no validation, no I/O.

One tick runs in two phases:

1. ``serve_tick`` (parallel over the tick's active users): for each request,
   gather candidates from four sources, score them, take the top k (with the
   policy's quota), and play each impression through the behaviour model.
   It writes one output row per (request, position) and updates only state
   that belongs to the user being served (their seen filter, their follows and
   regular-reader engagement, their logged topic counters). No two iterations
   touch the same memory, so the result cannot depend on the thread count.
2. ``apply_tick`` (in row order): everything that crosses users: video
   counters, creator follower and regular-reader counts, shared cards landing
   in recipients' inboxes, per-user daily value sums. It runs as a fixed
   number of parts in parallel, each owning one kind of target (videos; creators,
   inboxes and users) and applying their updates in row order.

Every draw comes from ``ranker.rng`` keyed by (seed, stream, user, day, slot),
so two policies replay the same arrivals and the same behaviour draws.
"""

import math
from typing import NamedTuple

import numba
import numpy as np

from ranker._explore_kernels import plackett_luce_pos
from ranker._numba import JIT, PJIT, njit, prange
from ranker._score_kernels import topk_quota_pos
from ranker._vector_ir import prefetch
from ranker.rng import (STREAM_ARRIVAL, STREAM_BEHAVIOR, STREAM_EXPLORE, STREAM_RETENTION, STREAM_RETRIEVAL,
                        key, key_from, key_prefix, poisson, uniform)
from ranker.signals import affinity_row_into
from sim.behavior import P_SATIATION, impression_ld, log_d30, recipient_opens
from sim.live import SOURCE_LIVE_RESERVED, gather_live, live_impression
from sim.seen import PREFETCH_USER_BLOCKS, seen_add, seen_has, seen_prefetch, seen_prefetch_user
from sim._serve_record import (CAND_DROPPED, CAND_PROBED, CAND_UNPROBED, INTEREST_TRIES,  # noqa: F401 (re-exported)
                               MAX_PACKED_CREATORS, MAX_TOPICS, H_PACKED, H_TOTAL, N_H, N_R, R_BOOST, R_DURATION, R_HOOK, R_LOG_D30,
                               R_PACKED, R_QUALITY, R_SHAREABILITY, aligned_rows, draw_interest_topics, pack_video,
                               packed_creator, packed_is_new, packed_topic, AHEAD, prefetch_follow_scan, prefetch_users_ahead,
                               push_candidate,
                               stamp_find, stamp_put, stamp_seen,
                               stamp_table_size, stamp_unprobed)

# Per-video counter columns (float64 ``video_counters``, rows of two cache lines: sim.engine.counter_matrix)
VC_IMPRESSIONS, VC_PLAYS_3S, VC_COMPLETIONS, VC_WATCH_S, VC_VALUE, VC_EARLY_IMPRESSIONS, VC_RR_IMPRESSIONS = range(7)
VC_RR_PLAYS_3S, VC_LIKES, VC_COMMENTS, VC_SHARES, VC_SHARE_RECIPIENTS, VC_SHARE_OPENS, VC_FOLLOWS = range(7, 14)
N_VC = 16  # columns 14 and 15 are padding (always 0)

# Output row columns.
I_VIDEO, I_USER, I_REQ, I_EVICTED = 0, 1, 2, 3
I_LIVE = 4  # a live row's session (sim.live; -1 on a video's row or an empty slot; I_VIDEO is -1 on a live row)
N_I = 5
F_SCORE, F_BOOST, F_WATCH, F_VALUE, F_AFF, F_PROP, F_GIFT = 0, 1, 2, 3, 4, 5, 6
N_F = 7  # F_GIFT: gifts' value in a live row (0 on a video's); F_WATCH: seconds stayed in a live room
# F_PROP: the position's propensity given the positions above (1 when serving the top k)
(U_POS, U_PLAY, U_COMPLETE, U_LIKE, U_COMMENT, U_SHARE, U_FOLLOWED, U_REGULAR, U_FOLLOWER,
 U_NREC, U_NOPEN, U_RR_CHANGE, U_EVICTED_RR, U_SOURCE) = range(14)
N_U = 14
# U_RR_CHANGE: what the impression did to the creator's regular readers (uint8, so the
# change -1 / 0 / +1 is stored as one of these)
RR_LOST, RR_UNCHANGED, RR_GAINED = 0, 1, 2

SOURCE_FOLLOW, SOURCE_SHARE, SOURCE_INTEREST, SOURCE_FRESH = 0, 1, 2, 3
MAX_REQUESTS_PER_TICK = 64  # a user's requests in one tick are capped here (slot numbering)
# Draw indices. Retrieval key (per request): 0 follow rotation, 1+2i / 2+2i interest topic and
# pick (i < 1000), DRAW_FRESH0+i fresh pool, DRAW_DEEPER0 + INTEREST_TRIES*i + j the j-th deeper
# re-pick of interest pick i. Behaviour key (per slot): the behaviour model uses 0..15 and 16+j
# (j < 64) for recipient opens; DRAW_RECIPIENT_START picks the first recipient.
DRAW_FRESH0 = 4000
DRAW_DEEPER0 = 6000
DRAW_RECIPIENT_START = 100

# --- serve_tick's inputs, by name (Numba reads named tuples field by field, at no cost) ---


class ServeSettings(NamedTuple):
    """Scalars and the behaviour vector of one tick (serve_tick's ``settings``)."""

    seed: np.int64
    day: np.int64
    tick: np.int64
    slate_size: np.int64
    quota_slots: np.int64  # slate positions reserved for new-creator posts (the policy's quota)
    weight_affinity: float  # score weight of the viewer's affinity to the video's topic
    weight_regular_reader: float  # score bonus when the viewer is a regular reader of the creator
    n_follow_candidates: np.int64
    n_interest_candidates: np.int64
    n_fresh_candidates: np.int64
    interest_top_m: np.int64  # interest retrieval draws among a topic's best interest_top_m live posts
    first_request_id: np.int64  # id of the tick's first request in the scratch stamps (see ServeState)
    behavior_params: np.ndarray  # float64 (N_PARAMS,), sim.behavior.behavior_params
    rr_rate: float  # BehaviorConfig.rr_rate, rr_on, rr_off: the regular-reader engagement average
    rr_on: float
    rr_off: float
    affinity_strength: float  # > 0: the logged affinity, smoothed; 0: ServeState.affinity as given
    seen_hashes: np.int64  # bits per video in the seen filter (sim.seen.n_hashes)
    # > 0: each slate is drawn by Plackett-Luce at temperature 1 / inv_temperature
    # (ranker._explore_kernels); 0: the top k, deterministic
    inv_temperature: float = 0.0


class WorldArrays(NamedTuple):
    """What serve_tick reads of the world (``sim.world.World`` fields of the same names)."""

    user_interest: np.ndarray
    friend_indptr: np.ndarray
    friend_indices: np.ndarray
    video_creator: np.ndarray
    video_topic: np.ndarray
    video_duration_s: np.ndarray
    video_quality: np.ndarray
    video_hook: np.ndarray
    video_shareability: np.ndarray


class ServeState(NamedTuple):
    """What serve_tick reads and writes of the feed's state (see serve_tick)."""

    follow_ptr: np.ndarray  # int64 (n_users + 1,): each user's follow slots (slotted CSR)
    follow_count: np.ndarray  # int32 (n_users,): slots in use
    follow_creator: np.ndarray  # int32: followed creator, sorted within a user's slots
    follow_engagement: np.ndarray  # float32: the follow's engagement average
    follow_regular: np.ndarray  # bool: the follower is a regular reader of the creator
    seen_ptr: np.ndarray  # int64 (n_users + 1,): each user's blocks of the seen filter (sim.seen)
    seen_bits: np.ndarray  # uint64: every user's filter of the videos served to them in the run
    inbox: np.ndarray  # int32 (n_users, n_share_candidates): opened shared cards (-1 empty)
    topic_impressions: np.ndarray  # float32 (n_users, n_topics): the user's logged impressions per topic
    topic_plays: np.ndarray  # float32 (n_users, n_topics): ... and 3-second plays
    affinity: np.ndarray  # float32 (n_users, n_topics): used only when affinity_strength == 0
    base_score: np.ndarray  # float64 (n_videos,): the ranker's score; -inf masks a video
    boost: np.ndarray  # float64 (n_videos,): the policy's boost, finite
    is_new_creator: np.ndarray  # bool (n_videos,)
    request_stamps: np.ndarray  # int32 (threads, 2 * stamp_table_size(...)): per-thread scratch (stamp_find)
    request_counts: np.ndarray  # int32 (n_users,): the user's requests this tick
    regular_marks: np.ndarray  # int32 (threads, n_creators): per-thread scratch
    # the user's day (sim.users; zeroed overnight): impressions and completions per topic, and the
    # novelty value (positive value of each impression that was the user's first of its topic today)
    day_topic: np.ndarray  # float32 (n_users, n_topics): impressions per topic today (satiation)
    day_done: np.ndarray  # float32 (n_users, n_topics): completions per topic today (interest drift)
    day_novelty: np.ndarray  # float64 (n_users,)


class RetrievalPools(NamedTuple):
    """Candidate lists of the tick, over live posts."""

    topic_ptr: np.ndarray  # int64 (n_topics + 1,)
    topic_videos: np.ndarray  # int32: each topic's posts, best score first
    fresh_videos: np.ndarray  # int32: the fresh pool
    creator_ptr: np.ndarray  # int64 (n_creators + 1,)
    creator_videos: np.ndarray  # int32: each creator's posts, newest first (none masked: serve_tick's pools)


@njit(**JIT)
def _probe_all(cand, src, pending, n, seen_bits, seen_ptr, u, seen_k):
    """Probe every unprobed candidate; drop the dropped and the seen, keeping the order. Returns the new ``n``."""
    w = 0
    for i in range(n):
        st = pending[i]
        if st == CAND_UNPROBED:
            st = CAND_DROPPED if seen_has(seen_bits, seen_ptr, u, cand[i], seen_k) else CAND_PROBED
        if st == CAND_PROBED:
            cand[w] = cand[i]
            src[w] = src[i]
            pending[w] = CAND_PROBED
            w += 1
    return w


@njit(**JIT)
def follow_find(f_ptr, f_n, f_cre, u, c):
    """Slot of creator ``c`` in user ``u``'s sorted follow list, or -1."""
    n = f_n[u]
    if n <= 0:
        return -1
    base = f_ptr[u]  # the last slot holding a creator <= c is in [base, base + n): halve without branching
    while n > 1:
        half = n >> 1
        base += half * (f_cre[base + half] <= c)
        n -= half
    return base if f_cre[base] == c else -1


@njit(**JIT)
def follow_insert(f_ptr, f_n, f_cre, f_eng, f_rr, u, c, eng, rr_on):
    """Add creator ``c`` to ``u``'s follows; if full, drop the least engaged follow first.

    Returns ``(evicted_creator or -1, evicted_was_regular, new_is_regular)``.
    """
    lo = f_ptr[u]
    cap = f_ptr[u + 1] - lo
    n = f_n[u]
    evicted = -1
    evicted_rr = False
    if cap <= 0:
        return evicted, evicted_rr, False
    if n >= cap:
        j = lo
        for i in range(lo + 1, lo + n):
            if f_eng[i] < f_eng[j]:
                j = i
        evicted = f_cre[j]
        evicted_rr = f_rr[j]
        for i in range(j, lo + n - 1):
            f_cre[i] = f_cre[i + 1]
            f_eng[i] = f_eng[i + 1]
            f_rr[i] = f_rr[i + 1]
        n -= 1
    pos = lo + n
    while pos > lo and f_cre[pos - 1] > c:
        f_cre[pos] = f_cre[pos - 1]
        f_eng[pos] = f_eng[pos - 1]
        f_rr[pos] = f_rr[pos - 1]
        pos -= 1
    is_rr = eng >= rr_on
    f_cre[pos] = c
    f_eng[pos] = eng
    f_rr[pos] = is_rr
    f_n[u] = n + 1
    return evicted, evicted_rr, is_rr


@njit(**JIT)
def follow_counts(f_ptr, f_n, f_cre, f_rr, n_creators):
    """Followers and regular readers per creator, counted over every user's used follow slots."""
    followers = np.zeros(n_creators, np.int64)
    regular = np.zeros(n_creators, np.int64)
    for u in range(f_n.shape[0]):
        lo = f_ptr[u]
        for j in range(lo, lo + f_n[u]):
            c = f_cre[j]
            followers[c] += 1
            regular[c] += f_rr[j]
    return followers, regular


@njit(**PJIT)
def draw_arrivals(seed, day, tick, ticks_per_day, activity, returned, sat, session_v, sat_ref, out):
    """Requests of each user in this tick, if returned today: Poisson(activity m / ticks), capped.

    The session multiplier ``m = 2 / (1 + exp(-session_v (sat - sat_ref)))`` lies in (0, 2) and is
    exactly 1 when ``session_v`` is 0 or the satisfaction is the reference.
    """
    for u in prange(activity.shape[0]):
        if returned[u]:
            m = 2.0 / (1.0 + math.exp(-session_v * (sat[u] - sat_ref)))
            n = poisson(key(seed, STREAM_ARRIVAL, u, day, tick), 0, activity[u] * m / ticks_per_day)
            out[u] = min(n, MAX_REQUESTS_PER_TICK)
        else:
            out[u] = 0


@njit(**PJIT)
def draw_returns(seed, day, sat, return_b, return_v, sat_ref, out):
    """Whether each user opens the app today: Bernoulli(sigmoid(b + v (satisfaction - sat_ref)))."""
    for u in prange(sat.shape[0]):
        p = 1.0 / (1.0 + math.exp(-(return_b + return_v * (sat[u] - sat_ref))))
        out[u] = uniform(key(seed, STREAM_RETENTION, u, day, 0), 0) < p


@njit(**PJIT)
def serve_tick(settings, world, state, pools, live, users, row_off, out_i, out_f, out_u, out_rec):
    """Serve every request of the tick's active users (phase 1, parallel over users).

    Parameters
    ----------
    settings : ServeSettings
        With ``affinity_strength > 0`` each user's affinity row is the logged one,
        ``ranker.signals.user_affinity(topic_impressions, topic_plays, affinity_strength)[u]``
        as of the tick's start, computed when the user is served (only the user's own
        counters enter it) and ``state.affinity`` is not read; with ``0`` it is
        ``state.affinity[u]``.
    world : WorldArrays
    state : ServeState
        ``seen_ptr`` and ``seen_bits`` hold, per user, a filter of every video served
        to them in the run (:mod:`sim.seen`, no false negatives): a video it holds is
        never a candidate, so no video is served twice to a user. ``request_stamps``
        (threads, 2 * :func:`stamp_table_size`, each row a request's table of stamps, see
        :func:`stamp_find`) and ``regular_marks`` (threads, n_creators) are per-thread
        scratch (rows indexed by thread id) whose contents never affect results, as long
        as no entry equals a request id ``r`` of this tick, nor ``-2 - 2r`` or ``-3 - 2r``
        (:func:`stamp_unprobed`, :func:`stamp_seen`): ``settings.first_request_id`` + the
        tick's requests must stay below 2**30 (the engine starts over from 0 with cleared scratch
        before it would not). A video is masked (never a candidate) where ``base_score`` is
        ``-inf``; ``boost`` must be finite (PolicyAction refuses a boost that is not).
    pools : RetrievalPools
        Per-topic retrieval lists (best first), the fresh pool, and each creator's
        candidate posts (newest first). The creators' lists must hold no masked post: the
        follow scan reads no score (the engine leaves a post whose total is ``-inf`` out of them).
    live : sim.live.LivePools
        The running live rooms (``sim.live.no_live``: none). A room is candidate
        ``n_videos + session`` (:func:`sim.live.gather_live`, before every video source),
        scored ``live.score + weight_affinity * affinity + weight_regular_reader * rr``
        (+ ``live.reservation_bonus`` when reserved) and served through
        :func:`sim.live.live_impression`: its row has ``I_VIDEO`` -1 and ``I_LIVE`` the session.
    users : int32 (n_active,)
        Users with at least one request this tick, ascending.
    row_off : int64 (n_active + 1,)
        First output row of each active user (rows = requests x slate).
    out_i, out_f, out_u, out_rec : arrays (n_rows, N_I / N_F / N_U / share_max_recipients)
        One row per (request, position), columns ``I_*``, ``F_*``, ``U_*``; opened
        recipients of a share, then -1.
    """
    seed, day, tick = settings.seed, settings.day, settings.tick
    slate_size, quota_slots = settings.slate_size, settings.quota_slots
    weight_affinity, weight_regular_reader = settings.weight_affinity, settings.weight_regular_reader
    n_follow, n_interest, n_fresh = (settings.n_follow_candidates, settings.n_interest_candidates,
                                     settings.n_fresh_candidates)
    interest_top_m, first_request_id = settings.interest_top_m, settings.first_request_id
    bp, affinity_strength = settings.behavior_params, settings.affinity_strength
    rr_rate, rr_on, rr_off = settings.rr_rate, settings.rr_on, settings.rr_off
    inv_temperature = settings.inv_temperature
    user_interest, friend_indptr, friend_indices = world.user_interest, world.friend_indptr, world.friend_indices
    video_creator, video_topic, video_duration_s = world.video_creator, world.video_topic, world.video_duration_s
    video_quality, video_hook, video_shareability = world.video_quality, world.video_hook, world.video_shareability
    follow_ptr, follow_count, follow_creator = state.follow_ptr, state.follow_count, state.follow_creator
    follow_engagement, follow_regular = state.follow_engagement, state.follow_regular
    seen_ptr, seen_bits, seen_k, inbox = state.seen_ptr, state.seen_bits, settings.seen_hashes, state.inbox
    topic_impressions, topic_plays, affinity = state.topic_impressions, state.topic_plays, state.affinity
    base_score, boost, is_new_creator = state.base_score, state.boost, state.is_new_creator
    request_stamps, request_counts, regular_marks = state.request_stamps, state.request_counts, state.regular_marks
    day_topic, day_done, day_novelty = state.day_topic, state.day_done, state.day_novelty
    satiation = bp[P_SATIATION]
    topic_ptr, topic_videos, fresh_videos = pools.topic_ptr, pools.topic_videos, pools.fresh_videos
    creator_ptr, creator_videos = pools.creator_ptr, pools.creator_videos
    n_topics = user_interest.shape[1]
    n_inbox = inbox.shape[1]
    max_rec = out_rec.shape[1]
    n_cand_max = n_follow + n_inbox + n_interest + n_fresh + live.n_follow + live.n_interest
    session_creator, session_topic, session_quality = live.session_creator, live.session_topic, live.session_quality
    n_fresh_pool = fresh_videos.shape[0]
    n_videos = base_score.shape[0]
    # what gathering and scoring read of a video, in one 16-byte row (video_hot, H_* columns; four
    # videos a cache line): base_score + boost, and creator, topic and new-creator flag in one
    # integer held exactly in float64 (pack_video). What serving reads of a served video, in one
    # 64-byte record aligned to a cache line (one line instead of several arrays' lines for a random
    # video; R_* columns): the packed integer again, the traits the behaviour model reads (float32
    # held exactly), the boost, and ln(duration / 30 s) as sim.behavior.impression computes it
    video_record = aligned_rows(n_videos, N_R)
    video_hot = aligned_rows(n_videos, N_H)
    for v in prange(n_videos):
        video_hot[v, H_TOTAL] = base_score[v] + boost[v]
        video_hot[v, H_PACKED] = pack_video(video_creator[v], video_topic[v], is_new_creator[v])
        video_record[v, R_PACKED] = video_hot[v, H_PACKED]
        video_record[v, R_QUALITY] = video_quality[v]
        video_record[v, R_HOOK] = video_hook[v]
        video_record[v, R_SHAREABILITY] = video_shareability[v]
        video_record[v, R_DURATION] = video_duration_s[v]
        video_record[v, R_BOOST] = boost[v]
        video_record[v, R_LOG_D30] = log_d30(video_record[v, R_DURATION])  # of the float64 duration

    # per-thread scratch (row = thread id), allocated once a tick rather than once a user
    n_thr = request_stamps.shape[0]
    t_cand = np.empty((n_thr, n_cand_max), np.int32)
    t_src = np.empty((n_thr, n_cand_max), np.uint8)
    t_scores = np.empty((n_thr, n_cand_max), np.float64)
    t_newflag = np.empty((n_thr, n_cand_max), np.bool_)
    t_pending = np.empty((n_thr, n_cand_max), np.uint8)
    t_sel_f = np.empty((n_thr, 2 * n_cand_max + 32), np.float64)
    t_sel_u = np.empty((n_thr, n_cand_max + slate_size + 1), np.uint32)
    t_topic_cdf = np.empty((n_thr, n_topics), np.float64)
    t_aff = np.empty((n_thr, n_topics), np.float32)
    t_w_pl = np.empty((n_thr, n_cand_max), np.float64)
    t_prob = np.ones((n_thr, slate_size), np.float64)  # propensities: 1 when serving the top k (never written then)
    max_slots = 0
    for ui in range(users.shape[0]):
        max_slots = max(max_slots, follow_ptr[users[ui] + 1] - follow_ptr[users[ui]])
    t_follow_skip = np.empty((n_thr, max(max_slots, 1)), np.int32)
    t_pick_topic = np.empty((n_thr, max(n_interest, 1)), np.int64)
    t_pick_first = np.empty((n_thr, max(n_interest, 1)), np.int32)
    t_pick_xy = np.empty((n_thr, 2, max(n_interest, n_fresh, 1)), np.float64)
    t_fresh_pick = np.empty((n_thr, max(n_fresh, 1)), np.int32)

    for ui in prange(users.shape[0]):
        u = users[ui]
        tid = numba.get_thread_id()
        big_filter = seen_ptr[u + 1] - seen_ptr[u] > PREFETCH_USER_BLOCKS
        if ui % (users.shape[0] // n_thr + 1) < AHEAD:  # about the users of each thread's share no hint reached
            seen_prefetch_user(seen_bits, seen_ptr, u, PREFETCH_USER_BLOCKS)
        prefetch_users_ahead(users, ui, seen_bits, seen_ptr, follow_ptr, follow_count, follow_creator, follow_regular,
                             creator_ptr, creator_videos, user_interest, topic_plays, topic_impressions,
                             day_topic, day_done, inbox)
        # v's stamp (stamp_find), for the request r being gathered: r, v is a candidate (probed: not in the seen filter);
        # stamp_unprobed(r), v is a candidate not probed yet; stamp_seen(r), v was probed and is in the
        # filter (not a candidate); anything else, v was not met yet in this request
        stamp = request_stamps[tid]  # the request's table (stamp_find); in L1, unlike one stamp per video
        stamp_mask = stamp.shape[0] // 2 - 1
        regular_mark = regular_marks[tid]  # regular_mark[c] == ustamp: the user is a regular reader of creator c
        cand = t_cand[tid]
        src = t_src[tid]
        scores = t_scores[tid]
        newflag = t_newflag[tid]
        pending = t_pending[tid]  # CAND_PROBED, CAND_UNPROBED or CAND_DROPPED
        sel_f = t_sel_f[tid]  # top-k scratch
        sel_u = t_sel_u[tid]
        topic_cdf = t_topic_cdf[tid]
        aff_u = t_aff[tid]
        if affinity_strength > 0:
            affinity_row_into(topic_impressions[u], topic_plays[u], affinity_strength, aff_u)
        else:
            aff_u[:] = affinity[u]
        # the user's keys of the day: only the slot differs between draws
        rkey_u = key_prefix(seed, STREAM_RETRIEVAL, u, day)
        bkey_u = key_prefix(seed, STREAM_BEHAVIOR, u, day)
        xkey_u = key_prefix(seed, STREAM_EXPLORE, u, day)
        w_pl = t_w_pl[tid]  # Plackett-Luce scratch and propensities
        prob = t_prob[tid]
        # follow_skip[j - follow_ptr[u]]: how many of follow slot j's creator's posts (newest first) are
        # known to be in the seen filter, so the user's next request of the tick starts past
        # them: the tick's lists are fixed and the filter only grows, so this skips only
        # posts the scan would pass over (their stamps stay unset: a later source that meets one
        # probes it and drops it, the same candidates). Cleared when a follow moves the slots.
        follow_skip = t_follow_skip[tid]
        follow_skip[:follow_ptr[u + 1] - follow_ptr[u]] = 0
        pick_topic = t_pick_topic[tid]  # interest retrieval: each pick's topic and first try
        pick_first = t_pick_first[tid]
        pick_x, pick_y = t_pick_xy[tid, 0], t_pick_xy[tid, 1]
        fresh_pick = t_fresh_pick[tid]
        ustamp = first_request_id + row_off[ui] // slate_size  # the user's first request id marks its regular reads
        for j in range(follow_ptr[u], follow_ptr[u] + follow_count[u]):  # (kept up to date as they change below)
            if follow_regular[j]:
                regular_mark[follow_creator[j]] = ustamp
        for r in range(request_counts[u]):
            req_id = ustamp + r
            rkey = key_from(rkey_u, tick * MAX_REQUESTS_PER_TICK + r)
            unprobed_id = stamp_unprobed(req_id)
            seen_id = stamp_seen(req_id)
            n = 0
            nf = follow_count[u]
            lo = follow_ptr[u]
            if n_interest > 0:  # (3. below) drawn first, so that their lines load while the sources run
                tot = 0.0
                for t in range(n_topics):
                    tot += topic_plays[u, t] + 1.0
                    topic_cdf[t] = tot
                # every pick's topic and first try, its seen-filter block and hot row asked for (loads overlap)
                draw_interest_topics(rkey, tot, topic_cdf, n_topics, n_interest, pick_x, pick_y, pick_topic)
                for i in range(n_interest):
                    t = pick_topic[i]
                    size = topic_ptr[t + 1] - topic_ptr[t]
                    if size > 0:
                        v = topic_videos[topic_ptr[t] + int(pick_y[i] * min(size, interest_top_m))]
                        pick_first[i] = v
                        if big_filter:  # (a small filter was asked for whole, four users before)
                            seen_prefetch(seen_bits, seen_ptr, u, v)
                        prefetch(video_hot, np.int64(v) * N_H)  # read when the candidates are scored
            if n_fresh_pool > 0:  # the fresh picks, their hot rows asked for now (read when scored)
                for i in range(n_fresh):  # the draws first, in a loop that vectorizes
                    pick_x[i] = uniform(rkey, DRAW_FRESH0 + i)
                for i in range(n_fresh):
                    fresh_pick[i] = fresh_videos[int(pick_x[i] * n_fresh_pool)]
                    prefetch(video_hot, np.int64(fresh_pick[i]) * N_H)
            # 0. live rooms: followed creators' (reserved first), then interest picks (sim.live.gather_live)
            if live.n_follow + live.n_interest > 0:
                n = gather_live(live, seed, u, n_videos, lo, nf, follow_creator, follow_regular, seen_bits, seen_ptr,
                                seen_k, rkey, topic_plays[u], topic_cdf, cand, src, pending, n)
            n_live = n  # the follow source's n_follow counts posts only
            # 1. followed creators' newest unseen posts, regular readers first
            if nf > 0 and n_follow > 0:
                start = int(uniform(rkey, 0) * nf)
                if r == 0 and big_filter:  # (a later request's hints are given when the one before it ends)
                    prefetch_follow_scan(u, start, lo, nf, 2 * n_follow, follow_creator, follow_skip, creator_ptr,
                                         creator_videos, seen_bits, seen_ptr)
                for want_rr in (True, False):
                    j = lo + start - 1  # slots from start on, wrapping: lo + (start + jj) % nf without a division
                    for jj in range(nf):
                        if n - n_live >= n_follow:
                            break
                        j = lo if j == lo + nf - 1 else j + 1
                        if follow_regular[j] != want_rr:
                            continue
                        c = follow_creator[j]
                        # posts before q_known are in the filter (see follow_skip above)
                        q_known = creator_ptr[c] + follow_skip[j - lo]
                        # (a creator is followed once, so none of its posts is a candidate yet; a post
                        # found in the filter is not stamped: a later source that meets it probes it)
                        for q in range(q_known, creator_ptr[c + 1]):
                            v = creator_videos[q]
                            if seen_has(seen_bits, seen_ptr, u, v, seen_k):
                                q_known += 1
                                continue
                            prefetch(video_hot, np.int64(v) * N_H)  # read when the candidates are scored
                            _, e = stamp_find(stamp, stamp_mask, v, req_id)
                            n = push_candidate(stamp, stamp_mask, e, v, req_id, cand, src, pending, n, SOURCE_FOLLOW,
                                               CAND_PROBED)
                            break
                        follow_skip[j - lo] = q_known - creator_ptr[c]
            # 2. opened shares in the inbox (probed later, only if they reach the slate: a video the
            # filter holds is dropped then, which leaves the same candidates as dropping it now)
            for i in range(n_inbox):
                v = inbox[u, i]
                if v >= 0 and video_hot[v, H_TOTAL] > -np.inf:
                    s, e = stamp_find(stamp, stamp_mask, v, req_id)
                    if s != req_id and s != unprobed_id and s != seen_id:
                        n = push_candidate(stamp, stamp_mask, e, v, unprobed_id, cand, src, pending, n, SOURCE_SHARE,
                                           CAND_UNPROBED)
            # 3. interest retrieval: topics drawn from the logged topic plays (+1 smoothing)
            if n_interest > 0:
                for i in range(n_interest):
                    t = pick_topic[i]
                    size = topic_ptr[t + 1] - topic_ptr[t]
                    if size == 0:
                        continue
                    # a uniform pick among the topic's best interest_top_m; one already served
                    # is re-drawn among the best 2, 4, 8 x interest_top_m (a heavy user goes
                    # deeper); a pick that is already a candidate ends the tries
                    for j in range(INTEREST_TRIES):
                        m = min(size, interest_top_m << j)
                        if j == 0:
                            v = pick_first[i]
                        else:
                            x = uniform(rkey, DRAW_DEEPER0 + INTEREST_TRIES * i + j)
                            v = topic_videos[topic_ptr[t] + int(x * m)]
                        s, e = stamp_find(stamp, stamp_mask, v, req_id)
                        if s == req_id:
                            break
                        if s == unprobed_id:
                            # an inbox candidate not probed yet: whether the pick ends here depends
                            # on whether it is a candidate, so probe it now
                            i_c = 0
                            while i_c < n - 1 and (cand[i_c] != v or pending[i_c] != CAND_UNPROBED):
                                i_c += 1
                            if not seen_has(seen_bits, seen_ptr, u, v, seen_k):
                                stamp_put(stamp, stamp_mask, e, v, req_id)
                                pending[i_c] = CAND_PROBED
                                break
                            stamp_put(stamp, stamp_mask, e, v, seen_id)
                            pending[i_c] = CAND_DROPPED
                        elif s != seen_id:
                            if not seen_has(seen_bits, seen_ptr, u, v, seen_k):
                                n = push_candidate(stamp, stamp_mask, e, v, req_id, cand, src, pending, n,
                                                   SOURCE_INTEREST, CAND_PROBED)
                                break
                            stamp_put(stamp, stamp_mask, e, v, seen_id)
                        if m == size:
                            break
            # 4. the fresh pool
            if n_fresh_pool > 0:
                for i in range(n_fresh):
                    v = fresh_pick[i]
                    s, e = stamp_find(stamp, stamp_mask, v, req_id)
                    # not probed now either (as the inbox); one met before is no new candidate,
                    # whether it turns out to be one or to be seen
                    if s != req_id and s != unprobed_id and s != seen_id:
                        n = push_candidate(stamp, stamp_mask, e, v, unprobed_id, cand, src, pending, n, SOURCE_FRESH,
                                           CAND_UNPROBED)
            if inv_temperature > 0.0:
                # Plackett-Luce weighs every candidate: probe all, drop the seen (order kept)
                n = _probe_all(cand, src, pending, n, seen_bits, seen_ptr, u, seen_k)
            # score
            for i in range(n):
                v = cand[i]
                if v >= n_videos:  # a live room
                    sl = v - n_videos
                    rr = 1.0 if regular_mark[session_creator[sl]] == ustamp else 0.0
                    scores[i] = (live.score[sl] + weight_affinity * np.float64(aff_u[session_topic[sl]])
                                 + weight_regular_reader * rr
                                 + (live.reservation_bonus if src[i] == SOURCE_LIVE_RESERVED else 0.0))
                    newflag[i] = live.is_new[sl]
                    continue
                packed = np.int64(video_hot[v, H_PACKED])
                rr = 1.0 if regular_mark[packed_creator(packed)] == ustamp else 0.0
                scores[i] = (video_hot[v, H_TOTAL] + weight_affinity * np.float64(aff_u[packed_topic(packed)])
                             + weight_regular_reader * rr)
                if pending[i] == CAND_DROPPED:
                    scores[i] = -np.inf  # masked: as if never a candidate (the top k is a set, ties by id)
                newflag[i] = packed_is_new(packed)
            if inv_temperature > 0.0:
                m = plackett_luce_pos(scores, newflag, n, slate_size, quota_slots, inv_temperature,
                                      key_from(xkey_u, tick * MAX_REQUESTS_PER_TICK + r), w_pl, sel_u, prob)
                chosen = sel_u[:slate_size]
            else:
                # the top k, probing only what reaches it: a chosen candidate the filter holds is
                # masked and the top k taken again, until every chosen one has been probed
                while True:
                    chosen, m = topk_quota_pos(scores, cand, newflag, n, slate_size, quota_slots, sel_f, sel_u)
                    again = False
                    for p in range(m):
                        ci = chosen[p]
                        if pending[ci] == CAND_UNPROBED:
                            if seen_has(seen_bits, seen_ptr, u, cand[ci], seen_k):
                                pending[ci] = CAND_DROPPED
                                scores[ci] = -np.inf
                                again = True
                            else:
                                pending[ci] = CAND_PROBED
                    if not again:
                        break
            # serve (the chosen videos' full records first asked for together: a hint, so their loads overlap)
            for p in range(m):
                if cand[chosen[p]] < n_videos:
                    prefetch(video_record, np.int64(cand[chosen[p]]) * N_R)
            row0 = row_off[ui] + r * slate_size
            for p in range(slate_size):
                row = row0 + p
                out_i[row, I_USER] = u
                out_i[row, I_REQ] = r
                out_i[row, I_LIVE] = -1
                out_u[row, U_POS] = p
                if p >= m:
                    out_i[row, I_VIDEO] = -1
                    continue
                ci = chosen[p]
                v = cand[ci]
                is_live = v >= n_videos
                sl = v - n_videos
                if is_live:
                    c = session_creator[sl]
                    t = session_topic[sl]
                    q = np.float64(session_quality[sl])
                else:
                    packed = np.int64(video_record[v, R_PACKED])
                    c = packed_creator(packed)
                    t = packed_topic(packed)
                    q = video_record[v, R_QUALITY]
                j = follow_find(follow_ptr, follow_count, follow_creator, u, c)
                follower = j >= 0
                regular = follower and follow_regular[j]
                slot = (tick * MAX_REQUESTS_PER_TICK + r) * slate_size + p
                k0 = key_from(bkey_u, slot)
                n_before = np.float64(day_topic[u, t])
                gift = 0.0
                if is_live:  # entered (3 s), minutes stayed, ... (sim.live.live_impression)
                    (play3, minutes, liked, commented, gift, shared, n_rec, followed,
                     value) = live_impression(live.params, bp, q, n_topics * np.float64(user_interest[u, t]),
                                              follower, src[ci] == SOURCE_LIVE_RESERVED, live.minutes_left[sl], k0)
                    completed = False
                    watch_s = 60.0 * minutes
                else:
                    # satiation (sim.users): the n-th impression of topic t today sees the affinity / (1 + s (n - 1))
                    (play3, completed, watch_s, liked, commented, shared, n_rec, followed,
                     value) = impression_ld(bp, q, video_record[v, R_HOOK], video_record[v, R_SHAREABILITY],
                                            video_record[v, R_DURATION], video_record[v, R_LOG_D30],
                                            n_topics * np.float64(user_interest[u, t]) / (1.0 + satiation * n_before),
                                            follower, regular, k0)
                # shares: n_rec distinct friends, consecutive in the sorted friend row from a
                # random start (friend ids carry no order of their own); each may open the card
                deg = friend_indptr[u + 1] - friend_indptr[u]
                n_open = 0
                for i in range(max_rec):
                    out_rec[row, i] = -1
                if shared and deg == 0:
                    shared = False
                    n_rec = 0
                if shared:
                    n_rec = min(n_rec, deg, max_rec)
                    start = int(uniform(k0, DRAW_RECIPIENT_START) * deg)
                    for i in range(n_rec):
                        f = friend_indices[friend_indptr[u] + (start + i) % deg]
                        if recipient_opens(bp, q, n_topics * np.float64(user_interest[f, t]), k0, i):
                            out_rec[row, n_open] = f
                            n_open += 1
                # the user's own state (a live room enters the seen filter only: no topic counters, no
                # engagement with the creator; a follow from it counts)
                seen_add(seen_bits, seen_ptr, u, v, seen_k)
                if follower and not is_live:  # the post the follow scan starts at may now be in the filter
                    q_head = creator_ptr[c] + follow_skip[j - follow_ptr[u]]
                    if q_head < creator_ptr[c + 1] and creator_videos[q_head] == v:
                        follow_skip[j - follow_ptr[u]] += 1
                if not is_live:
                    topic_impressions[u, t] += 1.0
                    if play3:
                        topic_plays[u, t] += 1.0
                    day_topic[u, t] += 1.0
                    if completed:
                        day_done[u, t] += 1.0
                    if n_before == 0.0 and value > 0.0:
                        day_novelty[u] += value
                rr_change = RR_UNCHANGED
                evicted = -1
                evicted_rr = False
                e = 0.5 * play3 + 0.5 * completed
                if follower and is_live:
                    pass
                elif follower:
                    eng = (1.0 - rr_rate) * np.float64(follow_engagement[j]) + rr_rate * e
                    follow_engagement[j] = eng
                    if follow_regular[j] and eng < rr_off:
                        follow_regular[j] = False
                        regular_mark[c] = -1
                        rr_change = RR_LOST
                    elif (not follow_regular[j]) and eng >= rr_on:
                        follow_regular[j] = True
                        regular_mark[c] = ustamp
                        rr_change = RR_GAINED
                elif followed:
                    evicted, evicted_rr, now_rr = follow_insert(follow_ptr, follow_count, follow_creator, follow_engagement, follow_regular, u, c, e, rr_on)
                    follow_skip[:] = 0
                    regular_mark[c] = ustamp if now_rr else -1
                    if evicted_rr:
                        regular_mark[evicted] = -1
                    if now_rr:
                        rr_change = RR_GAINED
                out_i[row, I_VIDEO] = -1 if is_live else v
                out_i[row, I_LIVE] = sl if is_live else -1
                out_i[row, I_EVICTED] = evicted
                out_f[row, F_SCORE] = scores[ci]
                out_f[row, F_BOOST] = 0.0 if is_live else video_record[v, R_BOOST]
                out_f[row, F_GIFT] = gift
                out_f[row, F_WATCH] = watch_s
                out_f[row, F_VALUE] = value
                out_f[row, F_AFF] = aff_u[t]
                out_f[row, F_PROP] = prob[p]
                out_u[row, U_PLAY] = play3
                out_u[row, U_COMPLETE] = completed
                out_u[row, U_LIKE] = liked
                out_u[row, U_COMMENT] = commented
                out_u[row, U_SHARE] = shared
                out_u[row, U_FOLLOWED] = followed
                out_u[row, U_REGULAR] = regular
                out_u[row, U_FOLLOWER] = follower
                out_u[row, U_NREC] = n_rec
                out_u[row, U_NOPEN] = n_open
                out_u[row, U_RR_CHANGE] = rr_change
                out_u[row, U_EVICTED_RR] = evicted_rr
                out_u[row, U_SOURCE] = src[ci]
            if big_filter and r + 1 < request_counts[u] and follow_count[u] > 0 and n_follow > 0:  # the next request
                nf = follow_count[u]
                start = int(uniform(key_from(rkey_u, tick * MAX_REQUESTS_PER_TICK + r + 1), 0) * nf)
                prefetch_follow_scan(u, start, follow_ptr[u], nf, 2 * n_follow, follow_creator, follow_skip,
                                     creator_ptr, creator_videos, seen_bits, seen_ptr)


@njit(**PJIT)
def apply_tick(out_i, out_f, out_u, out_rec, video_creator, video_post_day, now_day, early_days,
               video_counters, creator_counts, inbox_state, user_day):
    """Apply a tick's cross-user effects in row order (phase 2).

    ``creator_counts`` is int64 (n_creators, 3): followers, regular readers,
    impressions today. ``inbox_state`` is ``(inbox, inbox_pos)``. ``user_day`` is
    float64 (n_users, 2): impressions and summed latent value today.

    Two parts run in parallel, each scanning all rows in order: part 0 applies every effect on videos'
    counters, part 1 every effect on creators, inboxes and users. So each target sees its updates in row
    order, as a serial pass would give them, and the result does not depend on the thread count (split by
    kind of target, not by id, neither part branches on ids it does not own). A video's likes to follows are
    not touched when all six would add 0 (they are sums of values >= 0, never -0.0, so ``x + 0.0`` is ``x``).
    """
    inbox, inbox_pos = inbox_state
    n_inbox = inbox.shape[1]
    for part in prange(2):  # 0: videos' counters, 1: the rest (fixed, so never dependent on the thread count)
        for row in range(out_i.shape[0]):
            v = out_i[row, I_VIDEO]
            if v < 0:
                continue
            if part == 0:
                play3 = out_u[row, U_PLAY]
                video_counters[v, VC_IMPRESSIONS] += 1.0
                video_counters[v, VC_PLAYS_3S] += play3
                video_counters[v, VC_COMPLETIONS] += out_u[row, U_COMPLETE]
                video_counters[v, VC_WATCH_S] += out_f[row, F_WATCH]
                video_counters[v, VC_VALUE] += out_f[row, F_VALUE]
                if out_u[row, U_LIKE] | out_u[row, U_COMMENT] | out_u[row, U_SHARE] | out_u[row, U_NREC] | out_u[row, U_FOLLOWED]:
                    video_counters[v, VC_LIKES] += out_u[row, U_LIKE]
                    video_counters[v, VC_COMMENTS] += out_u[row, U_COMMENT]
                    video_counters[v, VC_SHARES] += out_u[row, U_SHARE]
                    video_counters[v, VC_SHARE_RECIPIENTS] += out_u[row, U_NREC]
                    video_counters[v, VC_SHARE_OPENS] += out_u[row, U_NOPEN]
                    video_counters[v, VC_FOLLOWS] += out_u[row, U_FOLLOWED]
                if out_u[row, U_REGULAR]:
                    video_counters[v, VC_RR_IMPRESSIONS] += 1.0
                    video_counters[v, VC_RR_PLAYS_3S] += play3
                if now_day - video_post_day[v] < early_days:
                    video_counters[v, VC_EARLY_IMPRESSIONS] += 1.0
                continue
            c = video_creator[v]
            creator_counts[c, 0] += out_u[row, U_FOLLOWED]
            creator_counts[c, 1] += np.int64(out_u[row, U_RR_CHANGE]) - RR_UNCHANGED
            creator_counts[c, 2] += 1
            ev = out_i[row, I_EVICTED]
            if ev >= 0:
                creator_counts[ev, 0] -= 1
                if out_u[row, U_EVICTED_RR]:
                    creator_counts[ev, 1] -= 1
            for i in range(out_u[row, U_NOPEN]):
                f = out_rec[row, i]
                p = inbox_pos[f]
                inbox[f, p % n_inbox] = v
                inbox_pos[f] = p + 1
            u = out_i[row, I_USER]
            user_day[u, 0] += 1.0
            user_day[u, 1] += out_f[row, F_VALUE]
