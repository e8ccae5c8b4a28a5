"""Slow, readable twins of ranker.policies (merged into tests/reference.py later).

``thompson_lift`` mirrors the Numba kernel ``ranker.policies._thompson_lift``
on plain Python floats and the pure-Python RNG of ``tests/reference.py``;
``pool_state`` and ``fairco_boost`` restate the vectorized traffic-pool and
FairCo rules one post at a time.
"""

import math

from tests import reference as base

STREAM_THOMPSON = 5
RATE_FLOOR = 1e-9
SIGNAL_NAMES = ("play3", "completion", "avg_play", "like", "comment", "share_ft", "rr_reach")


# --- ranker.rng twins needed here ---------------------------------------------

def normal(k0, k):
    """Box-Muller from uniforms 2k and 2k+1, as ranker.rng.normal."""
    u1 = 1.0 - base.uniform(k0, 2 * k)
    u2 = base.uniform(k0, 2 * k + 1)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def beta_approx(k0, k, a, b):
    """Normal approximation of Beta(a, b), clipped to [0, 1], as ranker.rng.beta_approx."""
    n = a + b
    m = a / n
    sd = math.sqrt(m * (1.0 - m) / (n + 1.0))
    return min(max(m + sd * normal(k0, k), 0.0), 1.0)


# --- ranker.policies ------------------------------------------------------------

def thompson_lift(alpha, beta, cols, seed, day, tick, ids=None):
    """Per row: sum over cols of log(max(draw, eps)) - log(max(mean, eps)), keyed by the row's id."""
    out = []
    for v in range(len(alpha)):
        k0 = base.key(seed, STREAM_THOMPSON, v if ids is None else int(ids[v]), day, tick)
        s = 0.0
        for c in cols:
            a, b = float(alpha[v][c]), float(beta[v][c])
            theta = max(beta_approx(k0, c, a, b), RATE_FLOOR)
            s += math.log(theta) - math.log(max(a / (a + b), RATE_FLOOR))
        out.append(s)
    return out


def _percentile(values, q):
    """Linear-interpolation percentile (NumPy's default method)."""
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def pool_state(impressions, alpha, beta, active, sizes, percentile, z, min_peers):
    """Per post (open_pool, failed) under the traffic-pool rule, one post at a time."""
    cols = [SIGNAL_NAMES.index("play3"), SIGNAL_NAMES.index("completion")]
    n_videos = len(impressions)

    def mean_sd(v, c):
        a, b = float(alpha[v][c]), float(beta[v][c])
        m = a / (a + b)
        return m, math.sqrt(m * (1 - m) / (a + b + 1))

    point = [sum(math.log(max(mean_sd(v, c)[0], RATE_FLOOR)) for c in cols) for v in range(n_videos)]
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
        peers = [point[u] for u in range(n_videos) if active[u] and sizes[gate] <= impressions[u] < top]
        if len(peers) < min_peers:
            peers = [point[u] for u in range(n_videos) if active[u]]
        threshold = _percentile(peers, percentile) if peers else math.inf
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
