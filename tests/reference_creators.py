r"""Slow, readable twins of ``sim.creators`` (one creator and one post at a time, Python floats).

- :func:`effort_probability`: :math:`1 / (1 + (K - 1) e^{-k m})`.
- :func:`realise_posts`: which of a day's potential posts are realised.
- :func:`end_of_day`: the peer percentiles, each active creator's motivation and
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


def percentiles(impressions, live_posts, active):
    """Mid-rank percentile of reach per live post among ranked creators (None: not ranked)."""
    n = len(live_posts)
    ranked = [c for c in range(n) if active[c] and live_posts[c] > 0]
    reach = {c: float(impressions[c]) / float(live_posts[c]) for c in ranked}
    out = [None] * n
    for c in ranked:
        below = sum(1 for d in ranked if reach[d] < reach[c])
        ties = sum(1 for d in ranked if reach[d] == reach[c])
        out[c] = (below + 0.5 * ties) / len(ranked)
    return out


def end_of_day(seed, day, impressions, live_posts, active, cfg, motivation, baseline, quit_day):
    """``(percentiles, motivation, baseline, quit_day)`` after the day, as new lists."""
    n = len(motivation)
    pct = percentiles(impressions, live_posts, active)
    m = [float(x) for x in motivation]
    z = [float(x) for x in baseline]
    q = [int(x) for x in quit_day]
    eps = cfg.reach_smoothing
    for c in range(n):
        if not active[c]:
            continue
        if pct[c] is not None:
            x = math.log((pct[c] + eps) / (0.5 + eps))  # 0 at the median
            surprise = x - cfg.own_weight * z[c]
            m[c] = (1.0 - cfg.motivation_rate) * m[c] + cfg.motivation_rate * surprise
            z[c] = (1.0 - cfg.baseline_rate) * z[c] + cfg.baseline_rate * x
        hazard = 1.0 / (1.0 + math.exp(-(cfg.quit_b - cfg.quit_slope * m[c])))
        if uniform(key(int(seed), STREAM_CREATOR, c, int(day), 0), 0) < hazard:
            q[c] = int(day)
    return pct, m, z, q
