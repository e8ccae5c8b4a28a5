r"""Slow, readable twins of ``sim.creators`` (one creator and one post at a time, Python floats).

- :func:`effort_probability`: :math:`1 / (1 + (K - 1) e^{-k m})`.
- :func:`realise_posts`: which of a day's potential posts are realised.
- :func:`end_of_day`: the standings against the peers' mean, each active creator's motivation and
  baseline update, and its quit draw.

Twins never write into their arguments: they return fresh lists.
"""

import math

from tests.reference import key, uniform

STREAM_POSTING = 7
STREAM_CREATOR = 12
BACKLOG_KEY_DAY = 1 << 32


def effort_probability(post_potential, effort_slope, motivation):
    return 1.0 / (1.0 + (post_potential - 1.0) * math.exp(-effort_slope * motivation))


def realise_posts(seed, day, post_potential, effort_slope, motivation, quit_day, video_creator, video_slot, lo, hi,
                  out):
    """``out`` with videos ``lo .. hi - 1`` decided (a copy; the rest as given)."""
    res = [bool(x) for x in out]
    kday = day if day >= 0 else BACKLOG_KEY_DAY - day
    for v in range(lo, hi):
        c = int(video_creator[v])
        if quit_day[c] < day:
            res[v] = False
            continue
        p = effort_probability(post_potential, effort_slope, float(motivation[c]))
        res[v] = uniform(key(int(seed), STREAM_POSTING, c, kday, int(video_slot[v])), 0) < p
    return res


def standings(impressions, live_posts, active, eps):
    """ln((r + eps * mean) / ((1 + eps) * mean)) of each compared creator (None: not compared)."""
    n = len(live_posts)
    compared = [c for c in range(n) if active[c] and live_posts[c] > 0]
    reach = {c: float(impressions[c]) / float(live_posts[c]) for c in compared}
    out = [None] * n
    if not compared:
        return out
    mean = sum(reach.values()) / len(compared)
    if mean <= 0:
        return out
    for c in compared:
        out[c] = math.log((reach[c] + eps * mean) / ((1.0 + eps) * mean))
    return out


def end_of_day(seed, day, impressions, live_posts, active, cfg, motivation, baseline, quit_day):
    """``(standings, motivation, baseline, quit_day)`` after the day, as new lists."""
    n = len(motivation)
    xs = standings(impressions, live_posts, active, cfg.reach_smoothing)
    m = [float(x) for x in motivation]
    z = [float(x) for x in baseline]
    q = [int(x) for x in quit_day]
    for c in range(n):
        if not active[c]:
            continue
        if xs[c] is not None:
            x = xs[c]  # 0 at the peers' mean
            surprise = x - cfg.own_weight * z[c]
            m[c] = (1.0 - cfg.motivation_rate) * m[c] + cfg.motivation_rate * surprise
            z[c] = (1.0 - cfg.baseline_rate) * z[c] + cfg.baseline_rate * x
        hazard = 1.0 / (1.0 + math.exp(-(cfg.quit_b - cfg.quit_slope * m[c])))
        if uniform(key(int(seed), STREAM_CREATOR, c, int(day), 0), 0) < hazard:
            q[c] = int(day)
    return xs, m, z, q
