"""Slow, readable twins of ``ranker._explore_kernels``: Plackett-Luce slates and their propensities.

Written from the definition (``ranker/_explore_kernels.py``'s docstring), in
plain Python floats: at each position, the allowed candidates (eligible, not
yet placed, and new creators only once the quota's owed slots fill the rest),
their weights ``exp((s - max) / tau)``, the draw by inverting the running sum,
and the chosen candidate's share of the total as its propensity.
"""

from __future__ import annotations

import math

STREAM_EXPLORE = 11


def plackett_luce(scores, is_new, k, n_quota, inv_temperature, k0):
    """``(chosen entries, propensities)``, top first (see ``plackett_luce_pos``)."""
    from tests.reference import uniform  # (here: tests.reference imports this module's users)

    eligible = [i for i, s in enumerate(scores) if s > -math.inf]
    m = min(k, len(eligible))
    q = min(n_quota, sum(1 for i in eligible if is_new[i]), m)
    top = max((scores[i] for i in eligible), default=0.0)
    weight = {i: math.exp((scores[i] - top) * inv_temperature) for i in eligible}
    left = list(eligible)
    chosen, probs = [], []
    for p in range(m):
        owed = q - sum(1 for i in chosen if is_new[i])
        allowed = [i for i in left if is_new[i]] if owed >= m - p else list(left)
        w = [weight[i] for i in allowed]
        total = 0.0
        for x in w:
            total += x
        if total < 1e-250:  # underflow: weights relative to the allowed set's own best score
            top_a = max(scores[i] for i in allowed)
            w = [math.exp((scores[i] - top_a) * inv_temperature) for i in allowed]
            total = 0.0
            for x in w:
                total += x
        target = uniform(k0, p) * total
        acc, pick, wp = 0.0, None, 0.0
        for i, wi in zip(allowed, w):
            if wi > 0.0:
                acc += wi
                pick, wp = i, wi
                if target < acc:
                    break
        chosen.append(pick)
        probs.append(wp / total)
        left.remove(pick)
    return chosen, probs


def slate_probability(scores, is_new, k, n_quota, inv_temperature, slate):
    """Probability that the sampler serves ``slate`` (entries, top first): the product of the positions'
    softmax shares over what was still allowed, computed afresh from the scores (no uniforms)."""
    eligible = [i for i, s in enumerate(scores) if s > -math.inf]
    m = min(k, len(eligible))
    q = min(n_quota, sum(1 for i in eligible if is_new[i]), m)
    left = list(eligible)
    prob = 1.0
    for p, v in enumerate(slate):
        owed = q - sum(1 for i in slate[:p] if is_new[i])
        allowed = [i for i in left if is_new[i]] if owed >= m - p else list(left)
        if v not in allowed:
            return 0.0
        top = max(scores[i] for i in allowed)
        prob *= math.exp((scores[v] - top) * inv_temperature) / math.fsum(
            math.exp((scores[i] - top) * inv_temperature) for i in allowed)
        left.remove(v)
    return prob


def propensities_from_log(scores, propensities, temperature):
    """A request's propensities recomputed from its logged rows alone (no quota), top position first.

    The log holds the served posts' scores but not the candidates left unserved.
    Their total weight ``R`` (relative to the slate's best score) follows from
    the last position: ``p_last = w_last / (R + w_last)``. Then every position
    is ``p_j = w_j / (R + sum of w over positions j and below)``: the softmax share
    among what was still left. Returns all positions (the last is its own input).
    """
    top = max(scores)
    w = [math.exp((s - top) / temperature) for s in scores]
    rest = w[-1] / propensities[-1] - w[-1]
    out = []
    for j in range(len(w)):
        out.append(w[j] / (rest + math.fsum(w[j:])))
    return out
