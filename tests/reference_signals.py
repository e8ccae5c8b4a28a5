"""Slow, readable twins of the signal computations (``ranker.signals``).

Written from the module docstring's formulas, one video and one rate at a
time, in plain Python floats.
"""

import math

import numpy as np

RATES = ("play3", "completion", "avg_play", "like", "comment", "share", "open", "retention", "rr_play")


def rate_table(c, v):
    """{rate: (successes, trials)} of video row ``v`` of a Counters."""
    d = float(c.duration_s[v])
    i = float(c.impressions[v])
    known = d > 0
    return {
        "play3": (float(c.plays_3s[v]), i),
        # completion per 3-second play (completions without a play count at most as many as the plays)
        "completion": (min(float(c.completions[v]), float(c.plays_3s[v])) if known else 0.0,
                       float(c.plays_3s[v]) if known else 0.0),
        "avg_play": (min(float(c.watch_s[v]) / d, i) if known else 0.0, i if known else 0.0),
        "like": (float(c.likes[v]), i),
        "comment": (float(c.comments[v]), i),
        "share": (float(c.shares[v]), i),
        "open": (float(c.share_opens[v]), float(c.share_recipients[v])),
        "retention": (float(c.creator_regular_readers[v]), float(c.creator_followers[v])),
        "rr_play": (float(c.rr_plays_3s[v]), float(c.rr_impressions[v])),
    }


def signals(c, prior_alpha, prior_beta):
    """(matrix, alpha, beta), each a float64 (n_videos, 7) array, for Counters ``c`` and a prior."""
    a0 = dict(zip(RATES, map(float, prior_alpha)))
    b0 = dict(zip(RATES, map(float, prior_beta)))
    n_videos = int(c.video_id.shape[0])
    matrix = np.zeros((n_videos, 7))
    alpha = np.zeros((n_videos, 7))
    beta = np.zeros((n_videos, 7))
    for v in range(n_videos):
        post, lift, ab = {}, {}, {}
        for r, (s, n) in rate_table(c, v).items():
            a = a0[r] + s
            b = b0[r] + n - s
            ab[r] = (a, b)
            post[r] = a / (a + b)
            lift[r] = math.log(post[r] / (a0[r] / (a0[r] + b0[r])))
        m_share = a0["share"] / (a0["share"] + b0["share"])
        matrix[v] = [lift["play3"], lift["completion"], lift["avg_play"], lift["like"], lift["comment"],
                     post["share"] / m_share * lift["open"], lift["retention"] + lift["rr_play"]]
        for j, r in enumerate(("play3", "completion", "avg_play", "like", "comment", "open", "retention")):
            alpha[v, j], beta[v, j] = ab[r]
    return matrix, alpha, beta


def affinity_row(imp, plays, k):
    """One user's affinity row as float32-rounded Python floats, in the kernel's order of operations."""
    ti, tp = math.fsum(imp), math.fsum(plays)
    if tp <= 0:
        return [0.0] * len(imp)
    pbar = tp / ti
    return [0.0 if i == 0 else float(np.float32(math.log((p + k * pbar) / (pbar * (i + k)))))
            for i, p in zip(imp, plays)]


def affinity(imp, plays, k):
    """float64 (n_users, n_topics): the user topic affinity, one cell at a time."""
    out = np.zeros(np.shape(imp))
    for u in range(out.shape[0]):
        ti, tp = float(np.sum(imp[u])), float(np.sum(plays[u]))
        if tp <= 0:
            continue
        pbar = tp / ti
        for t in range(out.shape[1]):
            out[u, t] = math.log(((plays[u][t] + k * pbar) / (imp[u][t] + k)) / pbar)
    return out
