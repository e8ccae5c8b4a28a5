"""serve_tick's per-video record and per-request stamp table (sim._engine_kernels).

The record: one 64-byte row per video (a cache line), so gathering, scoring and
serving a random video read one line instead of one per array. The stamp table:
what a request has met so far (candidate, candidate not probed yet, found in the
seen filter), in a small per-thread hash table that stays in L1 whatever the
catalogue's size.
"""

import numpy as np

from ranker._numba import JIT, njit
from ranker._vector_ir import prefetch
from ranker.rng import uniform
from sim.seen import PREFETCH_USER_BLOCKS, seen_prefetch, seen_prefetch_user

INTEREST_TRIES = 4  # an interest pick already served is re-drawn from a window twice as deep, up to 3 times

# --- the packed per-video record ---------------------------------------------------------
# serve_tick keeps, per video, (creator * MAX_TOPICS + topic) * 2 + new-creator flag in a
# float64. Limits (tests/test_engine_kernels.py pins them against the config's bounds):
# topic < MAX_TOPICS (a power of two, WorldConfig.n_topics <= MAX_TOPICS), and the largest
# packed value below 2**53, every integer up to which a float64 holds exactly.
MAX_TOPICS = 512
MAX_PACKED_CREATORS = 2**53 // (2 * MAX_TOPICS)
# serve_tick's per-video record columns, read for a served video (8 float64: one 64-byte cache
# line per video; the last column is spare)
R_PACKED, R_QUALITY, R_HOOK, R_SHAREABILITY, R_DURATION, R_BOOST, R_LOG_D30 = range(7)
N_R = 8
# the hot record: what gathering and scoring read of every candidate (the score, base + boost, and
# the packed integer), 16 bytes a video, four to a cache line: a quarter of the lines to hold in cache
H_TOTAL, H_PACKED = range(2)
N_H = 2


@njit(**JIT)
def aligned_rows(n, k):
    """An uninitialised float64 array (n, k) whose first row starts on a 64-byte boundary (a row of 8 is one cache line)."""
    buf = np.empty(n * k + 8, np.float64)
    off = ((64 - (buf.ctypes.data & 63)) & 63) // 8
    return buf[off:off + n * k].reshape((n, k))


@njit(inline="always", **JIT)
def pack_video(creator, topic, is_new):
    """A video's creator, topic and new-creator flag as one integer (exact in a float64, see above)."""
    return (np.int64(creator) * MAX_TOPICS + topic) * 2 + is_new


@njit(inline="always", **JIT)
def packed_creator(packed):
    return packed // (2 * MAX_TOPICS)


@njit(inline="always", **JIT)
def packed_topic(packed):
    return (packed >> 1) & (MAX_TOPICS - 1)


@njit(inline="always", **JIT)
def packed_is_new(packed):
    return (packed & 1) != 0



# serve_tick's candidates: probed (not in the seen filter), not probed yet, or dropped (in it)
CAND_PROBED, CAND_UNPROBED, CAND_DROPPED = 0, 1, 2


@njit(inline="always", **JIT)
def stamp_unprobed(req_id):
    """Scratch stamp of a candidate of request ``req_id`` not probed yet (negative, unlike any request id)."""
    return -2 - 2 * req_id


@njit(inline="always", **JIT)
def stamp_seen(req_id):
    """Scratch stamp of a video of request ``req_id`` probed and found in the seen filter."""
    return -3 - 2 * req_id


def stamp_table_size(n_follow, n_inbox, n_interest, n_fresh):
    """Entries of serve_tick's per-request stamp table (a power of two, at least twice what a request stamps).

    A request stamps at most its follow candidates, its inbox and fresh candidates and
    ``INTEREST_TRIES`` tries per interest pick; at most half full, a lookup probes about 1.5
    entries. ``ServeState.request_stamps`` has ``2 * stamp_table_size(...)`` int32 columns a thread.
    """
    need = 2 * (int(n_follow) + int(n_inbox) + INTEREST_TRIES * int(n_interest) + int(n_fresh))
    size = 64
    while size < need:
        size *= 2
    return size


@njit(inline="always", **JIT)
def stamp_find(table, mask, v, req_id):
    """``(stamp, i)``: video ``v``'s stamp in the request's table and its entry, or ``(-1, i)`` and the free entry
    where it goes. Entry ``i`` holds video ``table[i]`` with stamp ``table[mask + 1 + i]``; an entry whose
    stamp is not one of request ``req_id``'s (``req_id``, :func:`stamp_unprobed`, :func:`stamp_seen`) is free,
    so the table is never cleared between requests (linear probing, nothing deleted within a request)."""
    half = mask + 1
    unprobed_id = stamp_unprobed(req_id)
    seen_id = stamp_seen(req_id)
    i = np.int64((np.uint64(v) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)) & mask
    while True:
        s = table[half + i]
        if s != req_id and s != unprobed_id and s != seen_id:
            return np.int32(-1), i
        if table[i] == v:
            return s, i
        i = (i + 1) & mask


@njit(inline="always", **JIT)
def stamp_put(table, mask, i, v, stamp):
    """Give video ``v`` the stamp ``stamp`` at entry ``i`` (from :func:`stamp_find` of ``v``, nothing put since)."""
    table[i] = v
    table[mask + 1 + i] = stamp


# --- hints for the users served next ---------------------------------------------------------
#: serve_tick asks, at the start of each user, for what the users 1 to AHEAD places later will read
AHEAD = 4  # (at least 3: the hints come in three stages, AHEAD, AHEAD - 1 and AHEAD - 2 users on)
#: followed creators whose lists the hints follow (the default world.follow_capacity: every follow of a user)
AHEAD_FOLLOWS = 64


@njit(inline="always", **JIT)
def push_candidate(table, mask, i, v, stamp, cand, src, pending, n, source, state):
    """Stamp video ``v`` in entry ``i`` (:func:`stamp_put`) and append it as candidate ``n``, from ``source``,
    in probe state ``state``. Returns ``n + 1``."""
    stamp_put(table, mask, i, v, stamp)
    cand[n] = v
    src[n] = source
    pending[n] = state
    return n + 1


@njit(inline="always", **JIT)
def prefetch_row(a, r):
    """A hint: every cache line of row ``r`` of the 2-D C-contiguous array ``a``."""
    w = a.shape[1]
    base = np.int64(r) * w
    for k in range(0, w, max(64 // a.itemsize, 1)):
        prefetch(a, base + k)
    prefetch(a, base + w - 1)


@njit(**JIT)
def prefetch_users_ahead(users, ui, seen_bits, seen_ptr, follow_ptr, follow_count, follow_creator, follow_regular,
                         creator_ptr, creator_videos, interest, plays, imps, day_topic, day_done, inbox):
    """Hints (results never depend on them) for the users served after ``users[ui]``, in stages so that
    each stage's addresses come from lines an earlier stage asked for: for the user ``AHEAD`` places
    on, its seen filter (whole, if small), its follow slots, its per-topic rows and its inbox; three
    places on, the list offsets of the creators it follows; two places on, the first entry of each of
    those lists (the creator's newest candidate post, where the follow source starts). A user's first
    request reads all of these, and in ascending but sparse user order none is in cache. (The posts'
    hot rows are not asked for: the follow source reads none, and a post it takes asks for its own.)"""
    n = users.shape[0]
    if ui + AHEAD < n:
        u = users[ui + AHEAD]
        seen_prefetch_user(seen_bits, seen_ptr, u, PREFETCH_USER_BLOCKS)
        lo = follow_ptr[u]
        hi = lo + min(follow_count[u], AHEAD_FOLLOWS)
        for j in range(lo, hi, 16):
            prefetch(follow_creator, j)
        prefetch(follow_regular, lo)
        prefetch_row(interest, u)
        prefetch_row(plays, u)
        prefetch_row(imps, u)
        prefetch_row(day_topic, u)
        prefetch_row(day_done, u)
        prefetch_row(inbox, u)
    if ui + AHEAD - 1 < n:
        u = users[ui + AHEAD - 1]
        for j in range(follow_ptr[u], follow_ptr[u] + min(follow_count[u], AHEAD_FOLLOWS)):
            prefetch(creator_ptr, follow_creator[j])
    if ui + AHEAD - 2 < n:
        u = users[ui + AHEAD - 2]
        for j in range(follow_ptr[u], follow_ptr[u] + min(follow_count[u], AHEAD_FOLLOWS)):
            prefetch(creator_videos, creator_ptr[follow_creator[j]])


@njit(**JIT)
def prefetch_follow_scan(u, start, lo, nf, n_first, follow_creator, follow_skip, creator_ptr, creator_videos,
                         seen_bits, seen_ptr):
    """Hints for a request's follow source when user ``u``'s filter is too big to be asked for whole: for the
    first ``n_first`` of the user's ``nf`` follow slots from ``lo``, in the order the scan takes them (from
    slot ``start``), the seen-filter block of the post the scan starts at (``follow_skip`` places into the
    creator's list)."""
    j = lo + start - 1
    for jj in range(min(nf, n_first)):
        j = lo if j == lo + nf - 1 else j + 1  # lo + (start + jj) % nf
        c = follow_creator[j]
        q = creator_ptr[c] + follow_skip[j - lo]
        if q < creator_ptr[c + 1]:
            seen_prefetch(seen_bits, seen_ptr, u, creator_videos[q])


@njit(inline="always", **JIT)
def draw_interest_topics(rkey, tot, topic_cdf, n_topics, n_interest, x, y, pick_topic):
    """A request's interest picks' topics and first-try draws, in passes that vectorize.

    Pick ``i``'s topic is the first ``t`` whose ``topic_cdf[t]`` exceeds ``uniform(rkey, 1 + 2 i) * tot``
    (the last if none), counted as the ``topic_cdf[j] <= x`` over ``j < n_topics - 1``; ``y[i]`` is
    ``uniform(rkey, 2 + 2 i)``, the first try's position. The draws of all picks are taken in one loop and
    the counts in another, across picks: the same values as pick by pick, with a vector lane per pick.
    """
    for i in range(n_interest):
        x[i] = uniform(rkey, 1 + 2 * i) * tot
        y[i] = uniform(rkey, 2 + 2 * i)
        pick_topic[i] = 0
    for j in range(n_topics - 1):
        c = topic_cdf[j]
        for i in range(n_interest):
            pick_topic[i] += c <= x[i]
