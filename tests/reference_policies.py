"""Slow, readable twins of ranker.policies and of the Beta draws of ranker.rng (merged into tests/reference.py later).

``log_gamma``, ``log_beta`` and ``thompson_lift`` mirror the Numba kernels
``ranker.rng.log_gamma``/``log_beta`` and ``ranker.policies._thompson_log_draws``
on plain Python floats and the pure-Python RNG of ``tests/reference.py``
(expectations from ``scipy.special.digamma``); ``pool_state`` and
``fairco_boost`` restate the vectorized traffic-pool and FairCo rules one post
at a time.
"""

import math

from scipy import special

from tests import reference as base

STREAM_THOMPSON = 5
RATE_FLOOR = 1e-9
SHAPE_FLOOR = 1e-9
SIGNAL_NAMES = ("play3", "completion", "avg_play", "like", "comment", "share_ft", "rr_reach")
MASK64 = (1 << 64) - 1
C5 = 0x9FB21C651E98DF25


# --- ranker.rng twins needed here ---------------------------------------------

def subkey(k0, k):
    """Key of the k-th sub-stream of k0, as ranker.rng.subkey."""
    return base.mix64(int(k0) ^ base.mix64((int(k) + C5) & MASK64))


def log_gamma(k1, a):
    """log of a Gamma(a, 1) draw by Marsaglia-Tsang from the uniforms of k1, as ranker.rng.log_gamma."""
    shift, j = 0.0, 0
    if a < 1.0:
        shift = math.log(1.0 - base.uniform(k1, 0)) / a
        a, j = a + 1.0, 1
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    for _ in range(1000):
        x = math.sqrt(-2.0 * math.log(1.0 - base.uniform(k1, j))) * math.cos(2.0 * math.pi * base.uniform(k1, j + 1))
        u = base.uniform(k1, j + 2)
        j += 3
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v ** 3
        if u < 1.0 - 0.0331 * x ** 4:  # the squeeze: no logarithm needed
            return math.log(d * v) + shift
        if u == 0.0 or math.log(u) < 0.5 * x * x + d * (1.0 - v + math.log(v)):
            return math.log(d * v) + shift
    return math.log(d) + shift


def log_beta(k0, k, a, b):
    """log(X / (X + Y)), X ~ Gamma(a) from subkey 2k, Y ~ Gamma(b) from subkey 2k+1, as ranker.rng.log_beta."""
    lx = log_gamma(subkey(k0, 2 * k), a)
    ly = log_gamma(subkey(k0, 2 * k + 1), b)
    m = max(lx, ly)  # log(X + Y) without overflow or underflow
    return lx - (m + math.log(math.exp(lx - m) + math.exp(ly - m)))


# --- ranker.policies ------------------------------------------------------------

def thompson_lift(alpha, beta, cols, seed, day, tick, ids=None, weights=None):
    """Per row: sum over cols of w_c * (log Beta draw - (digamma(a) - digamma(a + b))), keyed by the row's id."""
    out = []
    for v in range(len(alpha)):
        k0 = base.key(seed, STREAM_THOMPSON, v if ids is None else int(ids[v]), day, tick)
        s = 0.0
        for c in cols:
            a = max(float(alpha[v][c]), SHAPE_FLOOR)
            b = max(float(beta[v][c]), SHAPE_FLOOR)
            w = 1.0 if weights is None else float(weights[c])
            s += w * (log_beta(k0, c, a, b) - (float(special.digamma(a)) - float(special.digamma(a + b))))
        out.append(s)
    return out


def _percentile(values, q):
    """Linear-interpolation percentile (NumPy's default method)."""
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def pool_state(impressions, alpha, beta, active, in_scope, multiples, min_traffic, percentile, z, min_peers):
    """Per post (open_pool, failed) under the traffic-pool rule, one post at a time.

    Sizes are the multiples of the mean impressions of the active posts (floored at min_traffic); a post
    at gate k is tested by its lower bound against the lower bounds of the in-scope active posts in
    band k, or of every active post with at least s_k impressions when fewer than min_peers; no peer at
    all: open.
    """
    cols = [SIGNAL_NAMES.index("play3"), SIGNAL_NAMES.index("completion")]
    n_videos = len(impressions)
    act = [impressions[v] for v in range(n_videos) if active[v]]
    traffic = max(sum(act) / len(act) if act else 0.0, min_traffic)
    sizes = [m * traffic for m in multiples]

    def mean_sd(v, c):
        a, b = float(alpha[v][c]), float(beta[v][c])
        m = a / (a + b)
        return m, math.sqrt(m * (1 - m) / (a + b + 1))

    lcb = [sum(math.log(max(mean_sd(v, c)[0] - z * mean_sd(v, c)[1], RATE_FLOOR)) for c in cols)
           for v in range(n_videos)]
    result = []
    for v in range(n_videos):
        reached = sum(1 for s in sizes if impressions[v] >= s)
        if reached == 0:
            result.append((True, False))
            continue
        gate = reached - 1
        top = sizes[gate + 1] if gate + 1 < len(sizes) else math.inf
        peers = [lcb[u] for u in range(n_videos) if active[u] and in_scope[u] and sizes[gate] <= impressions[u] < top]
        if len(peers) < min_peers:
            peers = [lcb[u] for u in range(n_videos) if active[u] and impressions[u] >= sizes[gate]]
        threshold = _percentile(peers, percentile) if peers else -math.inf
        passed = lcb[v] > threshold
        result.append((passed and reached < len(sizes), not passed))
    return result


def fairco_boost(group, impressions, age_days, merit, active, strength, offset):
    """Per post FairCo boost: strength * (max rho - own rho) / max rho over groups with active posts."""
    expo, mer, cnt = {}, {}, {}
    for v in range(len(group)):
        if not active[v]:
            continue
        g = group[v]
        expo[g] = expo.get(g, 0.0) + impressions[v] / (max(age_days[v], 0.0) + offset)
        mer[g] = mer.get(g, 0.0) + merit[v]
        cnt[g] = cnt.get(g, 0) + 1
    if len(cnt) < 2 or strength == 0:
        return [0.0] * len(group)
    rho = {g: (expo[g] / cnt[g]) / (mer[g] / cnt[g]) for g in cnt}
    top = max(rho.values())
    return [strength * (top - rho[g]) / top if (g in rho and top > 0) else 0.0 for g in group]
