r"""Slow, readable twins of ``sim.live`` and ``sim._live_kernels`` (one creator, session, row at a time).

- :func:`draw_schedule`: who streams, on which days, when and how long.
- :func:`reserved`: whether a follower reserved a session.
- :func:`live_impression`: one live impression's outcomes and value.
- :func:`live_candidates`: a request's live candidates (serve_tick's first source).
- :func:`apply_live`: the live rows' cross-user effects.

Twins never write into their arguments: they return fresh values.
"""

import math

from tests.reference import key, uniform

STREAM_LIVE = 15
RESERVATION_BASE = 1 << 40
SOURCE_LIVE_FOLLOW, SOURCE_LIVE_RESERVED, SOURCE_LIVE_INTEREST = 4, 5, 6
DRAW_LIVE0 = 9000
LIVE_TOP_M = 16
(LP_ENTER_B, LP_ENTER_Q, LP_ENTER_A, LP_ENTER_FOLLOW, LP_ENTER_RESERVED, LP_STAY_MINUTES, LP_STAY_Q, LP_LIKE_B,
 LP_COMMENT_B, LP_GIFT_B, LP_GIFT_VALUE, LP_SHARE_B, LP_FOLLOW_B, LP_INTERACT_Q, LP_INTERACT_STAY,
 LP_VALUE_PER_MINUTE, LP_RESERVE_RATE) = range(17)


def normal(k0, k):
    u1 = 1.0 - uniform(k0, 2 * k)
    u2 = uniform(k0, 2 * k + 1)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def draw(u, x):
    return u * (1.0 + math.exp(-x)) < 1.0  # u < sigmoid(x)


def draw_schedule(seed, join_day, days, creator_share, sessions_per_day, start_hour, start_spread, duration_hours):
    """``{(creator, day): (start hour, length hours)}``."""
    out = {}
    for c, j in enumerate(join_day):
        if not uniform(key(seed, STREAM_LIVE, c, 0, 0), 0) < creator_share:
            continue
        for d in range(max(0, int(j)), days):
            kd = key(seed, STREAM_LIVE, c, d + 1, 0)
            if uniform(kd, 0) < sessions_per_day:
                out[c, d] = ((start_hour + start_spread * normal(kd, 1)) % 24.0,
                             duration_hours * (0.5 + uniform(kd, 1)))
    return out


def reserved(seed, user, session, regular, reserve_rate):
    p = reserve_rate if regular else reserve_rate / 3.0
    return uniform(key(seed, STREAM_LIVE, user, RESERVATION_BASE + session, 1), 0) < p


def live_impression(lp, bp, quality, affinity, follower, is_reserved, minutes_left, k0):
    """``(entered, minutes, liked, commented, gift_value, shared, n_recipients, followed, value)``."""
    from sim.behavior import P_AFFINITY_BASE, P_AFFINITY_FLOOR, P_VALUE_A, P_VALUE_B, P_VALUE_Q

    k0 = int(k0)
    b = bp[P_AFFINITY_BASE]
    a = math.log(max(b + (1.0 - b) * affinity, bp[P_AFFINITY_FLOOR]))
    x_e = (lp[LP_ENTER_B] + lp[LP_ENTER_Q] * quality + lp[LP_ENTER_A] * a + lp[LP_ENTER_FOLLOW] * follower
           + lp[LP_ENTER_RESERVED] * is_reserved)
    if not draw(uniform(k0, 0), x_e):
        return False, 0.0, False, False, 0.0, False, 0, False, 0.0
    mean = lp[LP_STAY_MINUTES] * math.exp(lp[LP_STAY_Q] * quality)
    minutes = min(-mean * math.log(1.0 - uniform(k0, 1)), minutes_left)
    x = lp[LP_INTERACT_Q] * quality + lp[LP_INTERACT_STAY] * math.log1p(minutes)
    liked = draw(uniform(k0, 2), lp[LP_LIKE_B] + x)
    commented = draw(uniform(k0, 3), lp[LP_COMMENT_B] + x)
    gift = -lp[LP_GIFT_VALUE] * math.log(1.0 - uniform(k0, 5)) if draw(uniform(k0, 4), lp[LP_GIFT_B] + x) else 0.0
    shared = draw(uniform(k0, 6), lp[LP_SHARE_B] + x)
    n_rec = 1 + int(uniform(k0, 7) * 3) if shared else 0
    followed = (not follower) and draw(uniform(k0, 8), lp[LP_FOLLOW_B] + x)
    value = (bp[P_VALUE_B] + bp[P_VALUE_Q] * quality + bp[P_VALUE_A] * a) * lp[LP_VALUE_PER_MINUTE] * minutes
    return True, minutes, liked, commented, gift, shared, n_rec, followed, value


def live_candidates(live, seed, u, n_videos, follow_entries, served, rkey, plays_u):
    """The request's live candidates in order: a list of ``(n_videos + session, source)``.

    ``follow_entries``: the user's follows ``[creator, engagement, regular]`` in slot order;
    ``served(id)``: the seen filter holds ``id``.
    """
    out = []
    if live.n_follow > 0:
        for want in (True, False):
            for c, _, regular in follow_entries:
                if len(out) >= live.n_follow:
                    break
                s = int(live.creator_session[c])
                if s < 0:
                    continue
                res = reserved(seed, u, s, regular, float(live.params[LP_RESERVE_RATE]))
                if res == want and not served(n_videos + s):
                    out.append((n_videos + s, SOURCE_LIVE_RESERVED if res else SOURCE_LIVE_FOLLOW))
    if live.n_interest > 0 and len(live.topic_sessions) > 0:
        weights = [float(p) + 1.0 for p in plays_u]
        total = 0.0
        for w in weights:
            total += w
        for i in range(int(live.n_interest)):
            x = uniform(rkey, DRAW_LIVE0 + 2 * i) * total
            topic, acc = len(weights) - 1, 0.0
            for t, w in enumerate(weights):
                acc += w
                if x < acc:
                    topic = t
                    break
            rooms = [int(s) for s in live.topic_sessions[live.topic_ptr[topic]:live.topic_ptr[topic + 1]]]
            if not rooms:
                continue
            v = n_videos + rooms[int(uniform(rkey, DRAW_LIVE0 + 2 * i + 1) * min(len(rooms), LIVE_TOP_M))]
            if any(v == x for x, _ in out) or served(v):
                continue
            out.append((v, SOURCE_LIVE_INTEREST))
    return out


def apply_live(rows, session_creator, counters, creator_counts, user_day):
    """``rows``: dicts per live row (session, entered, minutes, liked, commented, gift, shared, n_rec, n_open,
    followed, value, rr_change (-1/0/1), evicted, evicted_rr, user). Returns fresh copies, updated."""
    counters = [list(map(float, r)) for r in counters]
    creator_counts = [list(map(int, r)) for r in creator_counts]
    user_day = [list(map(float, r)) for r in user_day]
    for r in rows:
        s = r["session"]
        k = counters[s]
        for i, x in enumerate((1.0, r["entered"], r["minutes"], r["liked"], r["commented"], r["gift"] > 0, r["gift"],
                               r["shared"], r["n_rec"], r["n_open"], r["followed"], r["value"])):
            k[i] += float(x)
        c = int(session_creator[s])
        creator_counts[c][0] += int(r["followed"])
        creator_counts[c][1] += r["rr_change"]
        if r["evicted"] >= 0:
            creator_counts[r["evicted"]][0] -= 1
            creator_counts[r["evicted"]][1] -= int(r["evicted_rr"])
        user_day[r["user"]][0] += 1.0
        user_day[r["user"]][1] += r["value"]
    return counters, creator_counts, user_day
