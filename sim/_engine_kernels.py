"""Numba kernels of the feed loop. Arrays in, arrays out; no validation, no I/O.

One tick runs in two phases:

1. ``serve_tick`` (parallel over the tick's active users): for each request,
   gather candidates from four sources, score them, take the top k (with the
   policy's quota), and play each impression through the behaviour model.
   It writes one output row per (request, position) and updates only state
   that belongs to the user being served (their seen ring, their follows and
   regular-reader engagement, their logged topic counters). No two iterations
   touch the same memory, so the result cannot depend on the thread count.
2. ``apply_tick`` (in row order): everything that crosses users: video
   counters, creator follower and regular-reader counts, shared cards landing
   in recipients' inboxes, per-user daily value sums. It runs as a fixed
   number of parts in parallel, each owning a disjoint share of the targets
   and applying their updates in row order.

Every draw comes from ``ranker.rng`` keyed by (seed, stream, user, day, slot),
so two policies replay the same arrivals and the same behaviour draws.
"""

import numba
import numpy as np

from ranker._numba import JIT, PJIT, njit, prange
from ranker._score_kernels import topk_quota_pos
from ranker.rng import (STREAM_ARRIVAL, STREAM_BEHAVIOR, STREAM_RETENTION, STREAM_RETRIEVAL,
                        key, key_from, key_prefix, poisson, uniform)
from ranker.signals import affinity_row_into
from sim.behavior import impression, recipient_opens

# Per-video counter columns (float64 matrix ``vc``), named as the counters CSV.
VC_IMPRESSIONS, VC_PLAYS_3S, VC_COMPLETIONS, VC_WATCH_S, VC_LIKES, VC_COMMENTS = 0, 1, 2, 3, 4, 5
VC_SHARES, VC_SHARE_RECIPIENTS, VC_SHARE_OPENS, VC_FOLLOWS, VC_RR_IMPRESSIONS, VC_RR_PLAYS_3S = 6, 7, 8, 9, 10, 11
VC_EARLY_IMPRESSIONS, VC_VALUE = 12, 13
N_VC = 14

# Output row columns.
I_VIDEO, I_USER, I_REQ, I_EVICTED = 0, 1, 2, 3
N_I = 4
F_SCORE, F_BOOST, F_WATCH, F_VALUE, F_AFF = 0, 1, 2, 3, 4
N_F = 5
(U_POS, U_PLAY, U_COMPLETE, U_LIKE, U_COMMENT, U_SHARE, U_FOLLOWED, U_REGULAR, U_FOLLOWER,
 U_NREC, U_NOPEN, U_RR_DELTA, U_EVICTED_RR, U_SOURCE) = range(14)
N_U = 14

SOURCE_FOLLOW, SOURCE_SHARE, SOURCE_INTEREST, SOURCE_FRESH = 0, 1, 2, 3
MAX_REQUESTS_PER_TICK = 64  # a user's requests in one tick are capped here (slot numbering)
# Draw indices. Retrieval key (per request): 0 follow rotation, 1+2i / 2+2i interest topic and
# pick (i < 1000), DRAW_FRESH0+i fresh pool. Behaviour key (per slot): the behaviour model uses
# 0..15 and 16+j (j < 64) for recipient opens; DRAW_RECIPIENT_START picks the first recipient.
DRAW_FRESH0 = 4000
APPLY_PARTS = 2  # apply_tick's parallel parts (fixed, so results never depend on the thread count)
MAX_TOPICS = 512  # serve_tick packs a video's topic below its creator (WorldConfig.n_topics <= 512)
DRAW_RECIPIENT_START = 100


@njit(**JIT)
def follow_find(f_ptr, f_n, f_cre, u, c):
    """Slot of creator ``c`` in user ``u``'s sorted follow list, or -1."""
    lo = f_ptr[u]
    hi = lo + f_n[u]
    while lo < hi:
        mid = (lo + hi) >> 1
        x = f_cre[mid]
        if x < c:
            lo = mid + 1
        elif x > c:
            hi = mid
        else:
            return mid
    return -1


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
def draw_arrivals(seed, day, tick, ticks_per_day, activity, returned, out):
    """Requests of each user in this tick: Poisson(activity / ticks) if returned today, capped."""
    for u in prange(activity.shape[0]):
        if returned[u]:
            n = poisson(key(seed, STREAM_ARRIVAL, u, day, tick), 0, activity[u] / ticks_per_day)
            out[u] = min(n, MAX_REQUESTS_PER_TICK)
        else:
            out[u] = 0


@njit(**PJIT)
def draw_returns(seed, day, sat, return_b, return_v, out):
    """Whether each user opens the app today: Bernoulli(sigmoid(b + v * satisfaction))."""
    for u in prange(sat.shape[0]):
        p = 1.0 / (1.0 + np.exp(-(return_b + return_v * sat[u])))
        out[u] = uniform(key(seed, STREAM_RETENTION, u, day, 0), 0) < p


@njit(**PJIT)
def serve_tick(ctx, world, state, pools, users, row_off, out_i, out_f, out_u, out_rec):
    """Serve every request of the tick's active users (phase 1, parallel over users).

    Parameters
    ----------
    ctx : tuple
        ``(seed, day, tick, slate, n_quota, w_aff, w_rr, n_follow, n_interest, n_fresh,
        top_m, stamp_base, bp, rr_rate, rr_on, rr_off, aff_strength)``. With
        ``aff_strength > 0`` each user's affinity row is the logged one,
        ``ranker.signals.user_affinity(ut_imps, ut_plays, aff_strength)[u]`` as of
        the tick's start, computed when the user is served (only the user's own
        counters enter it) and ``aff`` is not read; with ``0`` it is ``aff[u]``.
    world : tuple
        ``(user_interest, friend_indptr, friend_indices, video_creator, video_topic,
        video_duration_s, video_quality, video_hook, video_shareability)``.
    state : tuple
        ``(f_ptr, f_n, f_cre, f_eng, f_rr, seen, seen_pos, inbox, ut_imps, ut_plays, aff,
        base, boost, is_new, stamps, req_counts, cmarks)``; ``stamps`` int32 (threads,
        n_videos) and ``cmarks`` int32 (threads, n_creators) are per-thread scratch (rows
        indexed by thread id) whose contents never affect results, as long as no entry
        equals a request id of this tick: ``stamp_base`` + the tick's requests must stay
        below 2**31 (the engine starts over from 0 with cleared scratch before it would not).
        A video is masked (never a candidate) where ``base`` is ``-inf``; ``boost`` must
        be finite (PolicyAction refuses a boost that is not).
    pools : tuple
        ``(tp_ptr, tp_vid, fresh_vid, cr_ptr, cr_vid)``: per-topic retrieval lists (best
        first), the fresh pool, and each creator's candidate posts (newest first).
    users : int32 (n_active,)
        Users with at least one request this tick, ascending.
    row_off : int64 (n_active + 1,)
        First output row of each active user (rows = requests x slate).
    """
    (seed, day, tick, slate, n_quota, w_aff, w_rr, n_follow, n_interest, n_fresh,
     top_m, stamp_base, bp, rr_rate, rr_on, rr_off, aff_strength) = ctx
    (user_interest, friend_indptr, friend_indices, video_creator, video_topic,
     video_duration_s, video_quality, video_hook, video_shareability) = world
    (f_ptr, f_n, f_cre, f_eng, f_rr, seen, seen_pos, inbox, ut_imps, ut_plays, aff,
     base, boost, is_new, stamps, req_counts, cmarks) = state
    tp_ptr, tp_vid, fresh_vid, cr_ptr, cr_vid = pools
    n_topics = user_interest.shape[1]
    n_seen = seen.shape[1]
    n_inbox = inbox.shape[1]
    max_rec = out_rec.shape[1]
    n_cand_max = n_follow + n_inbox + n_interest + n_fresh
    n_fresh_pool = fresh_vid.shape[0]
    n_videos = base.shape[0]
    # what gathering and scoring read of a video, packed in one 16-byte record (one cache
    # line instead of five arrays' lines for a random video): base + boost, and
    # (creator * 512 + topic) * 2 + new-creator flag, an integer held exactly in float64
    vrec = np.empty((n_videos, 2), np.float64)
    for v in prange(n_videos):
        vrec[v, 0] = base[v] + boost[v]
        vrec[v, 1] = (np.int64(video_creator[v]) * MAX_TOPICS + video_topic[v]) * 2 + is_new[v]

    for ui in prange(users.shape[0]):
        u = users[ui]
        tid = numba.get_thread_id()
        stamp = stamps[tid]  # stamp[v] == req_id: v is already a candidate (or recently seen)
        cmark = cmarks[tid]  # cmark[c] == req_id: the user is a regular reader of creator c
        cand = np.empty(n_cand_max, np.int32)
        src = np.empty(n_cand_max, np.uint8)
        scores = np.empty(n_cand_max, np.float64)
        newflag = np.empty(n_cand_max, np.bool_)
        sel_f = np.empty(2 * n_cand_max + 32, np.float64)  # top-k scratch
        sel_u = np.empty(n_cand_max + slate + 1, np.uint32)
        topic_cdf = np.empty(n_topics, np.float64)
        aff_u = np.empty(n_topics, np.float32)
        if aff_strength > 0:
            affinity_row_into(ut_imps[u], ut_plays[u], aff_strength, aff_u)
        else:
            aff_u[:] = aff[u]
        # the user's keys of the day: only the slot differs between draws
        rkey_u = key_prefix(seed, STREAM_RETRIEVAL, u, day)
        bkey_u = key_prefix(seed, STREAM_BEHAVIOR, u, day)
        for r in range(req_counts[u]):
            req_id = stamp_base + row_off[ui] // slate + r
            rkey = key_from(rkey_u, tick * MAX_REQUESTS_PER_TICK + r)
            for i in range(n_seen):
                v = seen[u, i]
                if v >= 0:
                    stamp[v] = req_id
            n = 0
            nf = f_n[u]
            lo = f_ptr[u]
            for j in range(lo, lo + nf):
                if f_rr[j]:
                    cmark[f_cre[j]] = req_id
            # 1. followed creators' newest unseen posts, regular readers first
            if nf > 0 and n_follow > 0:
                start = int(uniform(rkey, 0) * nf)
                for want_rr in (True, False):
                    for jj in range(nf):
                        if n >= n_follow:
                            break
                        j = lo + (start + jj) % nf
                        if f_rr[j] != want_rr:
                            continue
                        c = f_cre[j]
                        for q in range(cr_ptr[c], cr_ptr[c + 1]):
                            v = cr_vid[q]
                            if stamp[v] != req_id and vrec[v, 0] > -np.inf:
                                stamp[v] = req_id
                                cand[n] = v
                                src[n] = 0
                                n += 1
                                break
            # 2. opened shares in the inbox
            for i in range(n_inbox):
                v = inbox[u, i]
                if v >= 0 and stamp[v] != req_id and vrec[v, 0] > -np.inf:
                    stamp[v] = req_id
                    cand[n] = v
                    src[n] = 1
                    n += 1
            # 3. interest retrieval: topics drawn from the logged topic plays (+1 smoothing)
            if n_interest > 0:
                tot = 0.0
                for t in range(n_topics):
                    tot += ut_plays[u, t] + 1.0
                    topic_cdf[t] = tot
                for i in range(n_interest):
                    x = uniform(rkey, 1 + 2 * i) * tot
                    # the first topic whose cumulative weight exceeds x (the last if none):
                    # the cdf increases, so that is the count of those <= x, found without branches
                    t = 0
                    for j in range(n_topics - 1):
                        t += topic_cdf[j] <= x
                    size = tp_ptr[t + 1] - tp_ptr[t]
                    if size == 0:
                        continue
                    m = min(size, top_m)
                    v = tp_vid[tp_ptr[t] + int(uniform(rkey, 2 + 2 * i) * m)]
                    if stamp[v] != req_id:
                        stamp[v] = req_id
                        cand[n] = v
                        src[n] = 2
                        n += 1
            # 4. the fresh pool
            if n_fresh_pool > 0:
                for i in range(n_fresh):
                    v = fresh_vid[int(uniform(rkey, DRAW_FRESH0 + i) * n_fresh_pool)]
                    if stamp[v] != req_id:
                        stamp[v] = req_id
                        cand[n] = v
                        src[n] = 3
                        n += 1
            # score
            for i in range(n):
                v = cand[i]
                packed = np.int64(vrec[v, 1])
                rr = 1.0 if cmark[packed // (2 * MAX_TOPICS)] == req_id else 0.0
                scores[i] = vrec[v, 0] + w_aff * np.float64(aff_u[(packed >> 1) & (MAX_TOPICS - 1)]) + w_rr * rr
                newflag[i] = (packed & 1) != 0
            chosen, m = topk_quota_pos(scores, cand, newflag, n, slate, n_quota, sel_f, sel_u)
            # serve
            row0 = row_off[ui] + r * slate
            for p in range(slate):
                row = row0 + p
                out_i[row, I_USER] = u
                out_i[row, I_REQ] = r
                out_u[row, U_POS] = p
                if p >= m:
                    out_i[row, I_VIDEO] = -1
                    continue
                ci = chosen[p]
                v = cand[ci]
                c = video_creator[v]
                t = video_topic[v]
                j = follow_find(f_ptr, f_n, f_cre, u, c)
                follower = j >= 0
                regular = follower and f_rr[j]
                slot = (tick * MAX_REQUESTS_PER_TICK + r) * slate + p
                k0 = key_from(bkey_u, slot)
                q = video_quality[v]
                d = video_duration_s[v]
                (play3, completed, watch_s, liked, commented, shared, n_rec, followed,
                 value) = impression(bp, q, video_hook[v], video_shareability[v], d,
                                     n_topics * np.float64(user_interest[u, t]), follower, regular, k0)
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
                # the user's own state
                sp = seen_pos[u]
                seen[u, sp % n_seen] = v
                seen_pos[u] = sp + 1
                ut_imps[u, t] += 1.0
                if play3:
                    ut_plays[u, t] += 1.0
                rr_delta = 1
                evicted = -1
                evicted_rr = False
                e = 0.5 * play3 + 0.5 * completed
                if follower:
                    eng = (1.0 - rr_rate) * np.float64(f_eng[j]) + rr_rate * e
                    f_eng[j] = eng
                    if f_rr[j] and eng < rr_off:
                        f_rr[j] = False
                        rr_delta = 0
                    elif (not f_rr[j]) and eng >= rr_on:
                        f_rr[j] = True
                        rr_delta = 2
                elif followed:
                    evicted, evicted_rr, now_rr = follow_insert(f_ptr, f_n, f_cre, f_eng, f_rr, u, c, e, rr_on)
                    if now_rr:
                        rr_delta = 2
                out_i[row, I_VIDEO] = v
                out_i[row, I_EVICTED] = evicted
                out_f[row, F_SCORE] = scores[ci]
                out_f[row, F_BOOST] = boost[v]
                out_f[row, F_WATCH] = watch_s
                out_f[row, F_VALUE] = value
                out_f[row, F_AFF] = aff_u[t]
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
                out_u[row, U_RR_DELTA] = rr_delta
                out_u[row, U_EVICTED_RR] = evicted_rr
                out_u[row, U_SOURCE] = src[ci]


@njit(**PJIT)
def apply_tick(out_i, out_f, out_u, out_rec, video_creator, video_post_day, now_day, early_days,
               vc, creator_counts, inbox_state, user_day):
    """Apply a tick's cross-user effects in row order (phase 2).

    ``creator_counts`` is int64 (n_creators, 3): followers, regular readers,
    impressions today. ``inbox_state`` is ``(inbox, inbox_pos)``. ``user_day`` is
    float64 (n_users, 2): impressions and summed latent value today.

    Every target is owned by one of :data:`APPLY_PARTS` parts (a video, creator,
    recipient or user ``x`` by ``x % APPLY_PARTS``); the parts run in parallel,
    each scanning all rows in order and applying only the effects on what it
    owns. So each target sees its updates in row order, as a serial pass would
    give them, and the result does not depend on the thread count.
    """
    inbox, inbox_pos = inbox_state
    n_inbox = inbox.shape[1]
    for part in prange(APPLY_PARTS):
        for row in range(out_i.shape[0]):
            v = out_i[row, I_VIDEO]
            if v < 0:
                continue
            if v % APPLY_PARTS == part:
                play3 = out_u[row, U_PLAY]
                vc[v, VC_IMPRESSIONS] += 1.0
                vc[v, VC_PLAYS_3S] += play3
                vc[v, VC_COMPLETIONS] += out_u[row, U_COMPLETE]
                vc[v, VC_WATCH_S] += out_f[row, F_WATCH]
                vc[v, VC_LIKES] += out_u[row, U_LIKE]
                vc[v, VC_COMMENTS] += out_u[row, U_COMMENT]
                vc[v, VC_SHARES] += out_u[row, U_SHARE]
                vc[v, VC_SHARE_RECIPIENTS] += out_u[row, U_NREC]
                vc[v, VC_SHARE_OPENS] += out_u[row, U_NOPEN]
                vc[v, VC_FOLLOWS] += out_u[row, U_FOLLOWED]
                vc[v, VC_VALUE] += out_f[row, F_VALUE]
                if out_u[row, U_REGULAR]:
                    vc[v, VC_RR_IMPRESSIONS] += 1.0
                    vc[v, VC_RR_PLAYS_3S] += play3
                if now_day - video_post_day[v] < early_days:
                    vc[v, VC_EARLY_IMPRESSIONS] += 1.0
            c = video_creator[v]
            if c % APPLY_PARTS == part:
                creator_counts[c, 0] += out_u[row, U_FOLLOWED]
                creator_counts[c, 1] += np.int64(out_u[row, U_RR_DELTA]) - 1
                creator_counts[c, 2] += 1
            ev = out_i[row, I_EVICTED]
            if ev >= 0 and ev % APPLY_PARTS == part:
                creator_counts[ev, 0] -= 1
                if out_u[row, U_EVICTED_RR]:
                    creator_counts[ev, 1] -= 1
            for i in range(out_u[row, U_NOPEN]):
                f = out_rec[row, i]
                if f % APPLY_PARTS == part:
                    p = inbox_pos[f]
                    inbox[f, p % n_inbox] = v
                    inbox_pos[f] = p + 1
            u = out_i[row, I_USER]
            if u % APPLY_PARTS == part:
                user_day[u, 0] += 1.0
                user_day[u, 1] += out_f[row, F_VALUE]
