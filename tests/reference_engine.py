r"""Slow, readable twins of ``sim._engine_kernels`` (merged into tests/reference.py later).

Each twin states, one user and one request at a time on Python lists, sets
and dicts, what the kernel of the same name must compute:

- :func:`follow_find` / :func:`follow_insert`: a user's follow list as a
  sorted list of ``[creator, engagement, regular]``; a full list first drops
  its least engaged follow (ties: the smaller creator id).
- :func:`draw_returns` / :func:`draw_arrivals`: the day's Bernoulli return
  and the tick's Poisson request count, per user, from ``tests.reference``'s
  pure-Python counter RNG.
- :func:`serve_tick`: per active user and request, the four candidate
  sources, the score, the top k under the quota, each impression through the
  behaviour model (``sim.behavior.impression`` and ``recipient_opens``, used
  as black boxes: they have their own twins) and the user's own updates.
- :func:`apply_tick`: the cross-user effects of a tick's rows, in row order.
- :func:`seen_positions` (with :func:`seen_set` / :func:`seen_array`): the
  bits that stand for a video in a user's seen filter (``sim.seen``'s
  ``seen_add`` / ``seen_has``), as a set of ``(block, bit)`` pairs.

Twins take the kernels' arguments (so a test can feed both the same inputs)
but never write into them: they return fresh arrays. Float32 storage is
imitated by rounding (:func:`f32`) where the kernel stores into a float32
array; everything else is Python float (IEEE double) arithmetic.
"""

import math

import numpy as np

from sim.behavior import P_SATIATION, impression, recipient_opens
from sim.live import live_impression
from tests.reference import GOLDEN, key, mix64, uniform
from tests.reference_explore import STREAM_EXPLORE, plackett_luce
from tests import reference_live as RL  # (its attributes are read at call time: the modules import each other)
from tests.reference_signals import affinity_row

STREAM_ARRIVAL = 1
STREAM_RETRIEVAL = 2
STREAM_BEHAVIOR = 3
STREAM_RETENTION = 6
MAX_REQUESTS_PER_TICK = 64

# Output layout (an interface shared with sim.engine; tests check it equals the kernel's).
I_VIDEO, I_USER, I_REQ, I_EVICTED, I_LIVE = 0, 1, 2, 3, 4
N_I = 5
F_SCORE, F_BOOST, F_WATCH, F_VALUE, F_AFF, F_PROP, F_GIFT = 0, 1, 2, 3, 4, 5, 6
N_F = 7
(U_POS, U_PLAY, U_COMPLETE, U_LIKE, U_COMMENT, U_SHARE, U_FOLLOWED, U_REGULAR, U_FOLLOWER,
 U_NREC, U_NOPEN, U_RR_CHANGE, U_EVICTED_RR, U_SOURCE) = range(14)
RR_LOST, RR_UNCHANGED, RR_GAINED = 0, 1, 2  # U_RR_CHANGE: the regular-reader change, + 1
N_U = 14
VC_IMPRESSIONS, VC_PLAYS_3S, VC_COMPLETIONS, VC_WATCH_S, VC_VALUE, VC_EARLY_IMPRESSIONS = 0, 1, 2, 3, 4, 5
VC_RR_IMPRESSIONS, VC_RR_PLAYS_3S = 6, 7
VC_LIKES, VC_COMMENTS, VC_SHARES, VC_SHARE_RECIPIENTS, VC_SHARE_OPENS, VC_FOLLOWS = 8, 9, 10, 11, 12, 13
N_VC = 16  # 14 and 15: padding
SOURCE_FOLLOW, SOURCE_SHARE, SOURCE_INTEREST, SOURCE_FRESH = 0, 1, 2, 3

# Draw indices of the retrieval key of one request.
D_FOLLOW_START = 0
D_FRESH0 = 4000
D_DEEPER0 = 6000
INTEREST_TRIES = 4
# The seen filter (sim.seen): 512-bit blocks, hash salt.
SEEN_BLOCK_BITS = 512
SEEN_SALT = 0x5BD1E9955BD1E995
# Draw index, in the sharer's behaviour key, of the first recipient's place among the friends.
D_RECIPIENT_START = 100


def f32(x):
    """``x`` as stored in a float32 array and read back."""
    return float(np.float32(x))


# --- follow lists ------------------------------------------------------------------

def follows_of(f_ptr, f_n, f_cre, f_eng, f_rr):
    """Slotted CSR follow arrays -> per user ``(capacity, [[creator, eng, regular], ...])``."""
    users = []
    for u in range(len(f_n)):
        lo = int(f_ptr[u])
        entries = [[int(f_cre[lo + i]), float(f_eng[lo + i]), bool(f_rr[lo + i])] for i in range(int(f_n[u]))]
        users.append((int(f_ptr[u + 1]) - lo, entries))
    return users


def follow_counts(f_ptr, f_n, f_cre, f_rr, n_creators):
    """Twin of ``follow_counts``: (followers, regular readers) per creator, as int64 arrays."""
    followers, regular = [0] * n_creators, [0] * n_creators
    for _, entries in follows_of(f_ptr, f_n, f_cre, np.zeros(len(f_cre)), f_rr):
        for c, _, rr in entries:
            followers[c] += 1
            regular[c] += rr
    return np.array(followers, np.int64), np.array(regular, np.int64)


def follows_to_arrays(users, f_ptr, f_cre, f_eng, f_rr):
    """Per-user follow lists -> fresh copies of ``(f_n, f_cre, f_eng, f_rr)``.

    Slots past a user's count keep the values of the arrays given (the
    kernel never reads them); compare only the first ``f_n[u]`` slots.
    """
    f_n = np.array([len(entries) for _, entries in users], np.int32)
    cre, eng, rr = f_cre.copy(), f_eng.copy(), f_rr.copy()
    for u, (_, entries) in enumerate(users):
        lo = int(f_ptr[u])
        for i, (c, e, r) in enumerate(entries):
            cre[lo + i], eng[lo + i], rr[lo + i] = c, e, r
    return f_n, cre, eng, rr


def find_entry(entries, c):
    """The ``[creator, eng, regular]`` entry of creator ``c``, or None."""
    for entry in entries:
        if entry[0] == c:
            return entry
    return None


def insert_entry(capacity, entries, c, eng, rr_on):
    """Follow creator ``c`` with engagement ``eng`` (in place).

    A user with no capacity follows nobody. A full list first drops its least
    engaged follow (ties: smaller creator id). The new follow is a regular
    reader when ``eng >= rr_on``. Returns ``(evicted or -1, evicted_was_regular,
    new_is_regular)``.
    """
    if capacity <= 0:
        return -1, False, False
    evicted, evicted_rr = -1, False
    if len(entries) >= capacity:
        weakest = min(entries, key=lambda e: (e[1], e[0]))
        entries.remove(weakest)
        evicted, evicted_rr = weakest[0], weakest[2]
    is_rr = eng >= rr_on
    entries.append([c, f32(eng), is_rr])
    entries.sort(key=lambda e: e[0])
    return evicted, evicted_rr, is_rr


def follow_find(f_ptr, f_n, f_cre, u, c):
    """Slot (global index) of creator ``c`` in user ``u``'s follows, or -1: a linear scan."""
    lo = int(f_ptr[u])
    for i in range(lo, lo + int(f_n[u])):
        if f_cre[i] == c:
            return i
    return -1


def follow_insert(f_ptr, f_n, f_cre, f_eng, f_rr, u, c, eng, rr_on):
    """Twin of the kernel on arrays: ``(result triple, (f_n, f_cre, f_eng, f_rr) copies)``."""
    users = follows_of(f_ptr, f_n, f_cre, f_eng, f_rr)
    capacity, entries = users[u]
    result = insert_entry(capacity, entries, int(c), float(eng), float(rr_on))
    new_n, cre, e, rr = follows_to_arrays(users, f_ptr, f_cre, f_eng, f_rr)
    f_n_out = np.array(f_n, copy=True)
    f_n_out[u] = new_n[u]
    return result, (f_n_out, cre, e, rr)


# --- the seen filter (sim.seen) ------------------------------------------------------------

def seen_positions(seen_ptr, u, v, k):
    r"""The ``(block, bit)`` pairs that stand for video ``v`` in user ``u``'s filter.

    :math:`h = \mathrm{mix64}(2^{32} u + v + \mathtt{SALT})`; block
    :math:`\mathrm{ptr}_u + \lfloor (h \gg 32) B_u / 2^{32} \rfloor`; bit
    :math:`i` is the :math:`(i \bmod 7)`-th 9-bit slice (from the low end) of
    the :math:`\lfloor i/7 \rfloor`-th hash of the chain
    :math:`g_0 = \mathrm{mix64}(h + \gamma)`, :math:`g_{j+1} = \mathrm{mix64}(g_j + \gamma)`.
    """
    h = mix64((u << 32) + v + SEEN_SALT)
    n_blocks = int(seen_ptr[u + 1]) - int(seen_ptr[u])
    block = int(seen_ptr[u]) + (((h >> 32) * n_blocks) >> 32)
    chain, g = [], h
    for _ in range((k + 6) // 7):
        g = mix64(g + GOLDEN)
        chain.append(g)
    return [(block, (chain[i // 7] >> (9 * (i % 7))) % SEEN_BLOCK_BITS) for i in range(k)]


def seen_set(seen_bits):
    """A filter's array of uint64 words -> the set of its ``(block, bit)`` pairs that are set."""
    out = set()
    for w, word in enumerate(int(x) for x in seen_bits):
        for b in range(64):
            if (word >> b) & 1:
                out.add((w // 8, (w % 8) * 64 + b))
    return out


def seen_array(bits_set, n_words):
    """The set of ``(block, bit)`` pairs -> a fresh uint64 array of ``n_words`` words."""
    out = [0] * n_words
    for block, bit in bits_set:
        out[block * 8 + bit // 64] |= 1 << (bit % 64)
    return np.array(out, np.uint64)


# --- arrivals and returns --------------------------------------------------------------

def poisson_capped(u, lam, cap):
    r"""``min(N, cap)`` for ``N ~ Poisson(lam)`` by inversion of the uniform ``u``.

    The smallest :math:`n < \mathrm{cap}` with
    :math:`u < \sum_{i \le n} e^{-\lambda} \lambda^i / i!`, else ``cap``. Each
    term is computed in log space, so a large ``lam`` (whose :math:`e^{-\lambda}`
    underflows) still gives ``cap``.
    """
    if lam <= 0.0:
        return 0
    cdf = 0.0
    for n in range(cap):
        cdf += math.exp(-lam + n * math.log(lam) - math.lgamma(n + 1))
        if u < cdf:
            return n
    return cap


def draw_returns(seed, day, sat, return_b, return_v, sat_ref=0.0):
    r"""Per user: returns today iff :math:`u < \sigma(b + v\,(\mathrm{sat}_u - \mathrm{ref}))`; a list of bools."""
    out = []
    for u in range(len(sat)):
        p = 1.0 / (1.0 + math.exp(-(return_b + return_v * (float(sat[u]) - sat_ref))))
        out.append(uniform(key(seed, STREAM_RETENTION, u, day, 0), 0) < p)
    return out


def draw_arrivals(seed, day, tick, ticks_per_day, activity, returned, sat=None, session_v=0.0, sat_ref=0.0):
    """Per user: ``min(Poisson(activity m / ticks_per_day), 64)`` requests if returned, else 0, with the
    session multiplier ``m = 2 sigmoid(session_v (sat - sat_ref))`` (1 without ``sat``)."""
    out = []
    for u in range(len(activity)):
        if not returned[u]:
            out.append(0)
            continue
        s = 0.0 if sat is None else float(sat[u])
        m = 2.0 / (1.0 + math.exp(-session_v * (s - sat_ref)))
        lam = float(activity[u]) * m / ticks_per_day
        u0 = uniform(key(seed, STREAM_ARRIVAL, u, day, tick), 0)
        out.append(poisson_capped(u0, lam, MAX_REQUESTS_PER_TICK))
    return out


# --- top k with a quota --------------------------------------------------------------------

def topk_quota(scores, ids, is_new, k, n_quota):
    """Ids of the chosen candidates, best first (score descending, ties by smaller id).

    Candidates scored ``-inf`` are never chosen. Of the ``m = min(k, #eligible)``
    chosen, at least ``q = min(n_quota, #eligible new, m)`` are new: the best
    ``q`` new candidates, then the best ``m - q`` of all the others.
    """
    ranked = sorted((-s, v, new) for s, v, new in zip(scores, ids, is_new) if s > -math.inf)
    m = min(k, len(ranked))
    q = min(n_quota, sum(1 for r in ranked if r[2]), m)
    guaranteed = [r for r in ranked if r[2]][:q]
    others = [r for r in ranked if r not in guaranteed][:m - q]
    return [v for _, v, _ in sorted(guaranteed + others)]


# --- serve_tick ----------------------------------------------------------------------------------

def gather_candidates(rkey, served, follow_entries, inbox_row, ut_plays_row, pools, base, sizes):
    """The request's candidates in source order: a list of ``(video, source)``.

    ``served(v)`` says whether the user's seen filter holds ``v`` (a video
    served to them before, or a false positive): such a video is never a
    candidate. No video appears twice.
    """
    taken = set()
    n_follow, n_interest, n_fresh, top_m = sizes
    topic_pools, fresh, creator_posts = pools
    cands = []

    def add(v, source):
        taken.add(v)
        cands.append((v, source))

    # 1. followed creators, in a rotated order starting at a random follow, regular readers first;
    #    each contributes its newest post neither taken nor masked
    nf = len(follow_entries)
    if nf > 0 and n_follow > 0:
        start = int(uniform(rkey, D_FOLLOW_START) * nf)
        rotated = [follow_entries[(start + j) % nf] for j in range(nf)]
        ordered = [e for e in rotated if e[2]] + [e for e in rotated if not e[2]]
        for c, _, _ in ordered:
            if len(cands) >= n_follow:
                break
            for v in creator_posts[c]:
                if v not in taken and base[v] > -math.inf and not served(v):
                    add(v, SOURCE_FOLLOW)
                    break
    # 2. opened shares in the inbox, in slot order (masked posts skipped)
    for v in inbox_row:
        if v >= 0 and v not in taken and base[v] > -math.inf and not served(v):
            add(v, SOURCE_SHARE)
    # 3. interest: topic drawn with weight (logged topic plays + 1), then a uniform pick among
    #    that topic's best top_m posts (pools hold only live posts, so no mask check); a pick
    #    already served is re-drawn among the best 2 top_m, then 4 top_m, 8 top_m (at most
    #    INTEREST_TRIES picks; none once the window is the whole pool); a pick that is already
    #    a candidate ends the tries
    if n_interest > 0:
        weights = [p + 1.0 for p in ut_plays_row]
        total = 0.0
        for w in weights:
            total += w
        for i in range(n_interest):
            x = uniform(rkey, 1 + 2 * i) * total
            topic, acc = len(weights) - 1, 0.0
            for t, w in enumerate(weights):
                acc += w
                if x < acc:
                    topic = t
                    break
            pool = topic_pools[topic]
            if not pool:
                continue
            for j in range(INTEREST_TRIES):
                window = min(len(pool), top_m * 2 ** j)
                x = uniform(rkey, 2 + 2 * i) if j == 0 else uniform(rkey, D_DEEPER0 + INTEREST_TRIES * i + j)
                v = pool[int(x * window)]
                if v in taken:
                    break
                if not served(v):
                    add(v, SOURCE_INTEREST)
                    break
                if window == len(pool):
                    break
    # 4. the fresh pool: uniform picks
    if fresh:
        for i in range(n_fresh):
            v = fresh[int(uniform(rkey, D_FRESH0 + i) * len(fresh))]
            if v not in taken and not served(v):
                add(v, SOURCE_FRESH)
    return cands


def serve_tick(settings, world, state, pools, users, row_off, max_rec, live=None):
    r"""Twin of ``serve_tick``: returns ``(out_i, out_f, out_u, out_rec, new_state)``.

    Parameters
    ----------
    settings, world, state, pools : named tuples
        The kernel's inputs, unchanged (see ``sim._engine_kernels.serve_tick``);
        nothing in them is written.
    users : ndarray of int32, shape (n_active,)
        Users with at least one request this tick, ascending.
    row_off : ndarray of int64, shape (n_active + 1,)
        First output row of each active user (rows = requests x slate).
    max_rec : int
        Columns of ``out_rec`` (``share_max_recipients``).
    live : sim.live.LivePools, optional
        Running live rooms: candidates ``n_videos + session`` before every video source
        (``tests.reference_live.live_candidates``), scored ``score + w_aff aff + w_rr rr``
        (+ ``reservation_bonus`` when reserved), served through ``sim.live.live_impression``
        (a black box with its own twin): row with video -1 and ``I_LIVE`` the session, the user's
        seen filter updated, no topic counters, no engagement update; a follow counts.

    Returns
    -------
    out_i : ndarray of int32, shape (n_rows, N_I)
    out_f : ndarray of float32, shape (n_rows, N_F)
    out_u : ndarray of uint8, shape (n_rows, N_U)
    out_rec : ndarray of int32, shape (n_rows, max_rec)
        Opened recipients first, then -1.
    new_state : dict of str to ndarray

    Notes
    -----
    Per request: videos the user's seen filter holds are excluded; candidates come from
    followed creators, the inbox, interest retrieval and the fresh pool
    (:func:`gather_candidates`); each is scored

    .. math:: s = \mathrm{base}_v + \mathrm{boost}_v + w_\mathrm{aff}\,\mathrm{aff}_{u,t(v)}
              + w_\mathrm{rr}\,[u \text{ is a regular reader of } c(v)]

    and :func:`topk_quota` picks the slate (with ``settings.inv_temperature > 0``,
    ``tests.reference_explore.plackett_luce`` draws it, and ``F_PROP`` holds each
    position's propensity; else 1), served in order, each impression
    updating the user's own state before the next is served.

    Rows past a request's ``m`` chosen videos carry only video -1, user,
    request and position (their other fields are zero / -1 here and undefined
    in the kernel). ``new_state`` is a dict of fresh arrays named as in the
    kernel's ``ServeState``: ``follow_count, follow_creator, follow_engagement,
    follow_regular, seen_bits, topic_impressions, topic_plays, day_topic, day_done,
    day_novelty``. The n-th impression of a topic to a user today (``state.day_topic``
    counts those before) sees the affinity divided by ``1 + satiation (n - 1)``.
    """
    s = settings
    seed, day, tick, slate, n_quota = int(s.seed), int(s.day), int(s.tick), int(s.slate_size), int(s.quota_slots)
    w_aff, w_rr, bp, aff_strength = s.weight_affinity, s.weight_regular_reader, s.behavior_params, s.affinity_strength
    n_follow, n_interest, n_fresh = s.n_follow_candidates, s.n_interest_candidates, s.n_fresh_candidates
    top_m, rr_rate, rr_on, rr_off = s.interest_top_m, s.rr_rate, s.rr_on, s.rr_off
    user_interest, friend_indptr, friend_indices = world.user_interest, world.friend_indptr, world.friend_indices
    video_creator, video_topic, video_duration_s = world.video_creator, world.video_topic, world.video_duration_s
    video_quality, video_hook, video_shareability = world.video_quality, world.video_hook, world.video_shareability
    # (the stamps and marks are the kernel's scratch: the twin does not need them)
    f_ptr, f_n, f_cre, f_eng, f_rr = (state.follow_ptr, state.follow_count, state.follow_creator,
                                      state.follow_engagement, state.follow_regular)
    seen_ptr, seen_bits, inbox, ut_imps, ut_plays = (state.seen_ptr, state.seen_bits, state.inbox,
                                                     state.topic_impressions, state.topic_plays)
    seen_k = int(settings.seen_hashes)
    aff, base, boost, is_new, req_counts = (state.affinity, state.base_score, state.boost, state.is_new_creator,
                                            state.request_counts)
    tp_ptr, tp_vid, fresh_vid, cr_ptr, cr_vid = (pools.topic_ptr, pools.topic_videos, pools.fresh_videos,
                                                 pools.creator_ptr, pools.creator_videos)
    n_topics = user_interest.shape[1]
    sizes = (int(n_follow), int(n_interest), int(n_fresh), int(top_m))

    # plain Python views of the inputs
    follows = follows_of(f_ptr, f_n, f_cre, f_eng, f_rr)
    seen_bits_set = seen_set(seen_bits)
    imps = [[float(x) for x in row] for row in ut_imps]
    # the user's day (sim.users): impressions and completions per topic today, novelty value today
    satiation = float(bp[P_SATIATION])
    day_topic = [[float(x) for x in row] for row in state.day_topic]
    day_done = [[float(x) for x in row] for row in state.day_done]
    day_novelty = [float(x) for x in state.day_novelty]
    plays = [[float(x) for x in row] for row in ut_plays]
    topic_pools = [[int(v) for v in tp_vid[tp_ptr[t]:tp_ptr[t + 1]]] for t in range(n_topics)]
    creator_posts = [[int(v) for v in cr_vid[cr_ptr[c]:cr_ptr[c + 1]]] for c in range(len(cr_ptr) - 1)]
    fresh = [int(v) for v in fresh_vid]
    base_l = [float(x) for x in base]
    friends = [[int(f) for f in friend_indices[friend_indptr[u]:friend_indptr[u + 1]]]
               for u in range(len(friend_indptr) - 1)]

    n_rows = int(row_off[-1])
    n_videos = len(base_l)
    out_i = np.zeros((n_rows, N_I), np.int32)
    out_i[:, I_EVICTED] = -1
    out_i[:, I_LIVE] = -1
    out_f = np.zeros((n_rows, N_F), np.float32)
    out_u = np.zeros((n_rows, N_U), np.uint8)
    out_rec = np.full((n_rows, max_rec), -1, np.int32)

    for ui, u in enumerate(int(x) for x in users):
        capacity, entries = follows[u]
        # the user's affinity row: logged (from their own counters, untouched before this point)
        # or given
        aff_u = (affinity_row(imps[u], plays[u], float(aff_strength)) if aff_strength > 0
                 else [float(x) for x in aff[u]])
        for r in range(int(req_counts[u])):
            rkey = key(seed, STREAM_RETRIEVAL, u, day, tick * MAX_REQUESTS_PER_TICK + r)
            def served(v, u=u):
                return all(pos in seen_bits_set for pos in seen_positions(seen_ptr, u, v, seen_k))

            cands = gather_candidates(rkey, served, entries, [int(v) for v in inbox[u]], plays[u],
                                      (topic_pools, fresh, creator_posts), base_l, sizes)
            if live is not None:
                cands = RL.live_candidates(live, seed, u, n_videos, entries, served, rkey, plays[u]) + cands
            score_of, source_of = {}, {}

            def new_of(v):
                return bool(live.is_new[v - n_videos]) if v >= n_videos else bool(is_new[v])
            for v, source in cands:
                if v >= n_videos:
                    sl = v - n_videos
                    e = find_entry(entries, int(live.session_creator[sl]))
                    rr = 1.0 if (e is not None and e[2]) else 0.0
                    score_of[v] = (float(live.score[sl]) + w_aff * aff_u[int(live.session_topic[sl])] + w_rr * rr
                                   + (float(live.reservation_bonus) if source == RL.SOURCE_LIVE_RESERVED else 0.0))
                    source_of[v] = source
                    continue
                c, t = int(video_creator[v]), int(video_topic[v])
                e = find_entry(entries, c)
                rr = 1.0 if (e is not None and e[2]) else 0.0
                score_of[v] = base_l[v] + float(boost[v]) + w_aff * aff_u[t] + w_rr * rr
                source_of[v] = source
            inv_temp = float(getattr(s, "inv_temperature", 0.0))
            if inv_temp > 0:  # exploration: a Plackett-Luce slate (tests/reference_explore.py)
                k0 = key(seed, STREAM_EXPLORE, u, day, tick * MAX_REQUESTS_PER_TICK + r)
                picks, probs = plackett_luce([score_of[v] for v, _ in cands], [new_of(v) for v, _ in cands],
                                             slate, n_quota, inv_temp, k0)
                chosen = [cands[i][0] for i in picks]
            else:
                chosen = topk_quota([score_of[v] for v, _ in cands], [v for v, _ in cands],
                                    [new_of(v) for v, _ in cands], slate, n_quota)
                probs = [1.0] * len(chosen)
            for p in range(slate):
                row = int(row_off[ui]) + r * slate + p
                out_i[row, I_USER], out_i[row, I_REQ], out_u[row, U_POS] = u, r, p
                if p >= len(chosen):
                    out_i[row, I_VIDEO] = -1
                    continue
                v = chosen[p]
                is_live = v >= n_videos
                sl = v - n_videos
                if is_live:
                    c, t, q = int(live.session_creator[sl]), int(live.session_topic[sl]), float(live.session_quality[sl])
                else:
                    c, t, q = int(video_creator[v]), int(video_topic[v]), float(video_quality[v])
                entry = find_entry(entries, c)
                follower = entry is not None
                regular = follower and entry[2]
                slot = (tick * MAX_REQUESTS_PER_TICK + r) * slate + p
                k0 = np.uint64(key(seed, STREAM_BEHAVIOR, u, day, slot))
                # satiation: the n-th impression of topic t today sees the affinity / (1 + satiation (n - 1))
                n_before = day_topic[u][t]
                gift = 0.0
                if is_live:
                    (play3, minutes, liked, commented, gift, shared, n_rec, followed,
                     value) = live_impression(live.params, bp, q, n_topics * float(user_interest[u, t]), follower,
                                              source_of[v] == RL.SOURCE_LIVE_RESERVED, float(live.minutes_left[sl]), k0)
                    completed, watch_s = False, 60.0 * minutes
                else:
                    (play3, completed, watch_s, liked, commented, shared, n_rec, followed,
                     value) = impression(bp, float(video_quality[v]), float(video_hook[v]), float(video_shareability[v]),
                                         float(video_duration_s[v]),  # float64, as the kernel's record holds them
                                         n_topics * float(user_interest[u, t]) / (1.0 + satiation * n_before),
                                         follower, regular, k0)
                # a share goes to n_rec distinct friends: consecutive in the sorted friend list,
                # wrapping around, from a random start; each may open it
                opened = []
                if shared and not friends[u]:
                    shared, n_rec = False, 0
                if shared:
                    deg = len(friends[u])
                    n_rec = min(n_rec, deg, max_rec)
                    start = int(uniform(int(k0), D_RECIPIENT_START) * deg)
                    for i in range(n_rec):
                        f = friends[u][(start + i) % deg]
                        if recipient_opens(bp, q, n_topics * float(user_interest[f, t]), k0, i):
                            opened.append(f)
                # the user's own state
                seen_bits_set.update(seen_positions(seen_ptr, u, v, seen_k))
                if not is_live:
                    imps[u][t] = f32(imps[u][t] + 1.0)
                    if play3:
                        plays[u][t] = f32(plays[u][t] + 1.0)
                    day_topic[u][t] = f32(day_topic[u][t] + 1.0)
                    if completed:
                        day_done[u][t] = f32(day_done[u][t] + 1.0)
                    if n_before == 0.0 and value > 0.0:  # the user's first impression of the topic today
                        day_novelty[u] += value
                engagement = 0.5 * play3 + 0.5 * completed
                rr_change, evicted, evicted_rr = RR_UNCHANGED, -1, False
                if follower and is_live:
                    pass  # a room leaves the follower's engagement as it was
                elif follower:
                    eng = (1.0 - rr_rate) * entry[1] + rr_rate * engagement
                    entry[1] = f32(eng)
                    if entry[2] and eng < rr_off:
                        entry[2], rr_change = False, RR_LOST
                    elif not entry[2] and eng >= rr_on:
                        entry[2], rr_change = True, RR_GAINED
                elif followed:
                    evicted, evicted_rr, now_rr = insert_entry(capacity, entries, c, engagement, rr_on)
                    if now_rr:
                        rr_change = RR_GAINED
                out_i[row, I_VIDEO], out_i[row, I_EVICTED] = (-1 if is_live else v), evicted
                out_i[row, I_LIVE] = sl if is_live else -1
                for col, x in ((F_SCORE, score_of[v]), (F_BOOST, 0.0 if is_live else boost[v]), (F_WATCH, watch_s),
                               (F_VALUE, value), (F_AFF, aff_u[t]), (F_PROP, probs[p]), (F_GIFT, gift)):
                    out_f[row, col] = x
                for col, x in ((U_PLAY, play3), (U_COMPLETE, completed), (U_LIKE, liked),
                               (U_COMMENT, commented), (U_SHARE, shared), (U_FOLLOWED, followed),
                               (U_REGULAR, regular), (U_FOLLOWER, follower), (U_NREC, n_rec),
                               (U_NOPEN, len(opened)), (U_RR_CHANGE, rr_change),
                               (U_EVICTED_RR, evicted_rr), (U_SOURCE, source_of[v])):
                    out_u[row, col] = x
                out_rec[row, :len(opened)] = opened

    new_f_n, new_cre, new_eng, new_rr = follows_to_arrays(follows, f_ptr, f_cre, f_eng, f_rr)
    new_state = dict(follow_count=new_f_n, follow_creator=new_cre, follow_engagement=new_eng,
                     follow_regular=new_rr, seen_bits=seen_array(seen_bits_set, len(seen_bits)),
                     topic_impressions=np.array(imps, np.float32).reshape(ut_imps.shape),
                     topic_plays=np.array(plays, np.float32).reshape(ut_plays.shape),
                     day_topic=np.array(day_topic, np.float32).reshape(state.day_topic.shape),
                     day_done=np.array(day_done, np.float32).reshape(state.day_done.shape),
                     day_novelty=np.array(day_novelty, np.float64))
    return out_i, out_f, out_u, out_rec, new_state


# --- apply_tick ----------------------------------------------------------------------------------

def apply_tick(out_i, out_f, out_u, out_rec, video_creator, video_post_day, now_day, early_days,
               vc, creator_counts, inbox, inbox_pos, user_day):
    """Twin of ``apply_tick``: returns fresh ``(vc, creator_counts, inbox, inbox_pos, user_day)``."""
    vc = [[float(x) for x in row] for row in vc]
    counts = [[int(x) for x in row] for row in creator_counts]
    boxes = [[int(x) for x in row] for row in inbox]
    box_at = [int(p) for p in inbox_pos]
    days = [[float(x) for x in row] for row in user_day]
    for row in range(out_i.shape[0]):
        v = int(out_i[row, I_VIDEO])
        if v < 0:
            continue
        u, c = int(out_i[row, I_USER]), int(video_creator[v])
        o = {name: int(out_u[row, col]) for name, col in (
            ("play", U_PLAY), ("complete", U_COMPLETE), ("like", U_LIKE), ("comment", U_COMMENT),
            ("share", U_SHARE), ("followed", U_FOLLOWED), ("regular", U_REGULAR), ("n_rec", U_NREC),
            ("n_open", U_NOPEN), ("rr_change", U_RR_CHANGE), ("evicted_rr", U_EVICTED_RR))}
        watch, value = float(out_f[row, F_WATCH]), float(out_f[row, F_VALUE])
        counters = vc[v]
        counters[VC_IMPRESSIONS] += 1.0
        counters[VC_PLAYS_3S] += o["play"]
        counters[VC_COMPLETIONS] += o["complete"]
        counters[VC_WATCH_S] += watch
        counters[VC_LIKES] += o["like"]
        counters[VC_COMMENTS] += o["comment"]
        counters[VC_SHARES] += o["share"]
        counters[VC_SHARE_RECIPIENTS] += o["n_rec"]
        counters[VC_SHARE_OPENS] += o["n_open"]
        counters[VC_FOLLOWS] += o["followed"]
        counters[VC_VALUE] += value
        if o["regular"]:
            counters[VC_RR_IMPRESSIONS] += 1.0
            counters[VC_RR_PLAYS_3S] += o["play"]
        if int(now_day) - int(video_post_day[v]) < int(early_days):
            counters[VC_EARLY_IMPRESSIONS] += 1.0
        # creator: followers gained, regular readers gained (+1) or lost (-1), impressions today
        counts[c][0] += o["followed"]
        counts[c][1] += o["rr_change"] - RR_UNCHANGED
        counts[c][2] += 1
        evicted = int(out_i[row, I_EVICTED])
        if evicted >= 0:
            counts[evicted][0] -= 1
            if o["evicted_rr"]:
                counts[evicted][1] -= 1
        # every recipient who opened the card finds the video in their inbox ring
        for f in (int(x) for x in out_rec[row, :o["n_open"]]):
            boxes[f][box_at[f] % len(boxes[f])] = v
            box_at[f] += 1
        days[u][0] += 1.0
        days[u][1] += value
    return (np.array(vc, np.float64).reshape(np.shape(vc)), np.array(counts, np.int64).reshape(creator_counts.shape),
            np.array(boxes, np.int32).reshape(inbox.shape), np.array(box_at, np.int32),
            np.array(days, np.float64).reshape(user_day.shape))


def tick_sums(videos, out_u, values, play_col, comp_col, fol_col, rr_col):
    """Twin of ``sim.metrics._tick_kernel``, one served row at a time."""
    n = plays = comps = fols = rrs = 0
    value = 0.0
    for i, v in enumerate(int(x) for x in videos):
        if v < 0:
            continue
        n += 1
        plays += int(out_u[i, play_col]) != 0
        comps += int(out_u[i, comp_col]) != 0
        fols += int(out_u[i, fol_col]) != 0
        rrs += int(out_u[i, rr_col]) != 0
        value += float(values[i])
    return n, plays, comps, fols, rrs, value


def user_tick_sums(videos, users, values, video_creator, creator_is_new, n_users):
    """Twin of ``sim.metrics._user_tick_kernel``: per user, as ``np.bincount`` over the served rows."""
    ok = np.asarray(videos) >= 0
    u = np.asarray(users)[ok]
    new = np.asarray(creator_is_new)[np.asarray(video_creator)[np.asarray(videos)[ok]]]
    return (np.bincount(u, minlength=n_users).astype(np.float64),
            np.bincount(u, weights=new.astype(np.float64), minlength=n_users),
            np.bincount(u, weights=np.asarray(values, np.float64)[ok], minlength=n_users))


def place_follows(indptr, indices, ptr, n, interest, creator_topic, n_topics, rr_on, total):
    """The engine's initial follow slots, one edge at a time: user ``u``'s first ``n[u]`` follows at
    slots ``ptr[u]..``, engagement ``min(1, 0.25 (n_topics interest[u, topic]))`` in float32 and regular
    when the stored engagement reaches ``rr_on`` (float32). Returns (creators, engagement, regular)."""
    cre = [-1] * total
    eng = [np.float32(0.0)] * total
    rr = [False] * total
    for u in range(len(n)):
        for r in range(int(n[u])):
            c = int(indices[int(indptr[u]) + r])
            d = int(ptr[u]) + r
            cre[d] = c
            aff = np.float32(n_topics) * np.float32(interest[u][int(creator_topic[c])])
            eng[d] = np.float32(min(np.float32(1.0), np.float32(0.25) * aff))
            rr[d] = bool(eng[d] >= np.float32(rr_on))
    return np.array(cre, np.int32), np.array(eng, np.float32), np.array(rr, np.bool_)
