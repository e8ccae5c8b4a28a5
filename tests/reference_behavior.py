"""Slow, readable twins of ``sim.behavior``'s kernels (merged into tests/reference.py later).

``impression_ref`` and ``recipient_opens_ref`` follow the formulas of
:func:`sim.behavior.impression` line by line in plain Python, drawing their
uniforms with the pure-Python twins of ``ranker.rng``. ``simulate_numpy`` is
the same model written as vectorized NumPy over whole arrays, given a matrix
of uniforms: the speed reference of ``benchmarks/behavior.py``.
"""

import math

import numpy as np

from tests.reference import key, uniform

STREAM_BEHAVIOR = 3
D_PLAY, D_COMPLETE, D_WATCH, D_LIKE, D_COMMENT, D_SHARE, D_RECIPIENTS, D_FOLLOW = range(8)
D_LOOP, D_LOOP_LEN = 8, 9
D_OPEN0 = 16
N_DRAWS = 10


def sigmoid(x):
    if x < -700.0:
        return 0.0
    return 1.0 / (1.0 + math.exp(-x))


def log_affinity(p, affinity):
    b = p["affinity_base"]
    return math.log(max(b + (1.0 - b) * affinity, p["affinity_floor"]))


def loop_seconds(p, d, u):
    """Seconds past the end of a looping viewer: log-logistic, capped at ``loop_cap`` durations."""
    return min(p["loop_median_s"] * (u / (1.0 - u)) ** p["loop_spread"], p["loop_cap"] * d)


def value_of(p, value_factor, watch, d):
    """Latent value: factor x (d / 30)^value_d x (first-pass seconds + value_loop x seconds past the end) / d."""
    seconds = min(watch, d) + p["value_loop"] * max(watch - d, 0.0)
    return value_factor * (d / 30.0) ** p["value_d"] * seconds / d


def impression_ref(p, quality, hook, shareability, duration_s, affinity, follower, regular, k0):
    """One impression; ``p`` is a dict of the BehaviorConfig fields, ``k0`` a Python int key."""
    q, d, r = quality, duration_s, 1.0 if regular else 0.0
    a = log_affinity(p, affinity)
    value_factor = p["value_b"] + p["value_q"] * q + p["value_a"] * a

    p3 = sigmoid(p["play_b"] + p["play_h"] * hook + p["play_q"] * q + p["play_a"] * a + p["play_r"] * r)
    play3 = uniform(k0, D_PLAY) < p3
    if not play3:
        watch = min(3.0, d) * uniform(k0, D_WATCH)
        return dict(play3=False, completed=False, watch_s=watch, liked=False, commented=False, shared=False,
                    n_recipients=0, followed=False, value=value_of(p, value_factor, watch, d))

    if d <= 3.0:
        completed = True
        watch = d
    else:
        pc = sigmoid(p["complete_b"] + p["complete_q"] * q + p["complete_a"] * a + p["complete_r"] * r
                     - p["complete_d"] * math.log(d / 30.0) + p["complete_d_short"] * min(math.log(d / 30.0), 0.0))
        completed = uniform(k0, D_COMPLETE) < pc
        if completed:
            watch = d
        else:
            e = (1.0 - pc) / max(pc, 1e-3)
            watch = 3.0 + (d - 3.0) * uniform(k0, D_WATCH) ** e
    if completed and uniform(k0, D_LOOP) < sigmoid(p["loop_b"] - p["loop_d"] * math.log(d / 30.0)):
        watch = d + loop_seconds(p, d, uniform(k0, D_LOOP_LEN))
    c = 1.0 if completed else 0.0

    liked = uniform(k0, D_LIKE) < sigmoid(p["like_b"] + p["like_q"] * q + p["like_a"] * a + p["like_c"] * c)
    commented = uniform(k0, D_COMMENT) < sigmoid(p["comment_b"] + p["comment_q"] * q + p["comment_a"] * a)
    shared = uniform(k0, D_SHARE) < sigmoid(p["share_b"] + p["share_s"] * shareability + p["share_q"] * q)
    n_recipients = 1 + int(uniform(k0, D_RECIPIENTS) * p["share_max_recipients"]) if shared else 0
    followed = (not follower) and uniform(k0, D_FOLLOW) < sigmoid(
        p["follow_b"] + p["follow_q"] * q + p["follow_a"] * a + p["follow_c"] * c)
    return dict(play3=True, completed=completed, watch_s=watch, liked=liked, commented=commented, shared=shared,
                n_recipients=n_recipients, followed=followed, value=value_of(p, value_factor, watch, d))


def recipient_opens_ref(p, quality, recipient_affinity, k0, j):
    prob = sigmoid(p["open_b"] + p["open_q"] * quality + p["open_a"] * log_affinity(p, recipient_affinity))
    return uniform(k0, D_OPEN0 + j) < prob


def simulate_ref(p, quality, hook, shareability, duration_s, affinity, follower, regular, seed, users, day, slots):
    """Row by row, in plain Python: a dict of arrays like ``simulate_impressions``."""
    rows = []
    for i in range(len(quality)):
        k0 = key(seed, STREAM_BEHAVIOR, int(users[i]), day, int(slots[i]))
        rows.append(impression_ref(p, float(quality[i]), float(hook[i]), float(shareability[i]),
                                   float(duration_s[i]), float(affinity[i]), bool(follower[i]),
                                   bool(regular[i]), k0))
    return _stack(rows)


def draws_ref(seed, users, day, slots, n_draws=N_DRAWS):
    """The uniforms the kernel reads.

    ``out[i, j] = uniform(key(seed, STREAM_BEHAVIOR, users[i], day, slots[i]), j)``.
    """
    out = np.empty((len(users), n_draws))
    for i in range(len(users)):
        k0 = key(seed, STREAM_BEHAVIOR, int(users[i]), day, int(slots[i]))
        for j in range(n_draws):
            out[i, j] = uniform(k0, j)
    return out


def _stack(rows):
    names = ("play3", "completed", "watch_s", "liked", "commented", "shared", "n_recipients", "followed", "value")
    dtypes = (bool, bool, np.float64, bool, bool, bool, np.int32, bool, np.float64)
    return {k: np.array([row[k] for row in rows], dtype=t) for k, t in zip(names, dtypes)}


def _sigmoid_np(x):
    return 1.0 / (1.0 + np.exp(-x))


def simulate_numpy(p, quality, hook, shareability, duration_s, affinity, follower, regular, draws):
    """The model in vectorized NumPy: every formula evaluated on whole arrays, outcomes masked.

    ``draws`` is a float64 array of shape (n, 10) of uniforms in [0, 1),
    column ``i`` playing the part of ``uniform(k0, i)``; given the counter
    generator's draws (:func:`draws_ref`) the result equals the kernel's.
    """
    q, d = quality, duration_s
    r = regular.astype(np.float64)
    b = p["affinity_base"]
    a = np.log(np.maximum(b + (1.0 - b) * affinity, p["affinity_floor"]))
    value_factor = p["value_b"] + p["value_q"] * q + p["value_a"] * a

    play3 = draws[:, D_PLAY] < _sigmoid_np(p["play_b"] + p["play_h"] * hook + p["play_q"] * q
                                             + p["play_a"] * a + p["play_r"] * r)
    pc = _sigmoid_np(p["complete_b"] + p["complete_q"] * q + p["complete_a"] * a + p["complete_r"] * r
                     - p["complete_d"] * np.log(d / 30.0) + p["complete_d_short"] * np.minimum(np.log(d / 30.0), 0.0))
    short = d <= 3.0
    completed = play3 & (short | (draws[:, D_COMPLETE] < pc))
    u = draws[:, D_WATCH]
    partial = 3.0 + (d - 3.0) * u ** ((1.0 - pc) / np.maximum(pc, 1e-3))
    watch = np.where(play3, np.where(completed, d, partial), np.minimum(3.0, d) * u)
    looped = completed & (draws[:, D_LOOP] < _sigmoid_np(p["loop_b"] - p["loop_d"] * np.log(d / 30.0)))
    ul = draws[:, D_LOOP_LEN]
    extra = np.minimum(p["loop_median_s"] * (ul / (1.0 - ul)) ** p["loop_spread"], p["loop_cap"] * d)
    watch = np.where(looped, d + extra, watch)
    c = completed.astype(np.float64)

    liked = play3 & (draws[:, D_LIKE] < _sigmoid_np(p["like_b"] + p["like_q"] * q + p["like_a"] * a + p["like_c"] * c))
    commented = play3 & (draws[:, D_COMMENT] < _sigmoid_np(p["comment_b"] + p["comment_q"] * q + p["comment_a"] * a))
    shared = play3 & (draws[:, D_SHARE] < _sigmoid_np(p["share_b"] + p["share_s"] * shareability + p["share_q"] * q))
    n_recipients = np.where(shared, 1 + (draws[:, D_RECIPIENTS] * p["share_max_recipients"]).astype(np.int32),
                            0).astype(np.int32)
    followed = play3 & ~follower & (draws[:, D_FOLLOW] < _sigmoid_np(
        p["follow_b"] + p["follow_q"] * q + p["follow_a"] * a + p["follow_c"] * c))
    return dict(play3=play3, completed=completed, watch_s=watch, liked=liked, commented=commented, shared=shared,
                n_recipients=n_recipients, followed=followed,
                value=value_factor * (d / 30.0) ** p["value_d"]
                * (np.minimum(watch, d) + p["value_loop"] * np.maximum(watch - d, 0.0)) / d)
