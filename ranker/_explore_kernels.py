r"""Stochastic serving: a slate drawn by Plackett-Luce over the final scores, with each position's propensity.

With temperature :math:`\tau`, position :math:`p` of the slate is drawn among
the candidates still allowed there with probability

.. math::

    \pi_p(v) = \frac{\exp(s_v / \tau)}{\sum_{j \in A_p} \exp(s_j / \tau)}

where :math:`A_p` is the set of eligible candidates (score above
:math:`-\infty`) not placed above :math:`p`. That probability, *given the
positions above*, is the logged ``propensity`` (what Open Bandit Pipeline's
slate estimators build ``pscore_cascade`` from, as the running product over a
request's positions; the product over the whole slate is its ``pscore``).

A policy's quota of new-creator slots, :math:`q = \min(\text{quota},
\#\text{eligible new}, m)` of the :math:`m = \min(k, \#\text{eligible})`
positions, is kept by restricting :math:`A_p` to new creators' posts once the
slots owed to them fill the rest of the slate (:math:`q - \text{new placed}
\ge m - p`). Without a quota this is plain Plackett-Luce, which as
:math:`\tau \to 0` serves the deterministic top :math:`k` in score order.

The draw at position :math:`p` is uniform ``p`` of the request's key
(``ranker.rng``, stream ``STREAM_EXPLORE``), inverted through the cumulative
weights in candidate order, so a request replays bit for bit. Weights are
taken relative to the largest eligible score; if those of the allowed set
all underflow (a very low temperature), that position's weights are taken
relative to the allowed set's own largest score instead. A slow twin is
``tests/reference_explore.py``.
"""

import math

import numpy as np

from ranker._numba import JIT, njit
from ranker.rng import uniform


@njit(**JIT)
def plackett_luce_pos(scores, is_new, n, k, n_quota, inv_temperature, k0, w, pos, prob):
    """Draw a slate from ``scores[:n]``: returns ``m``, with ``pos[:m]`` the chosen entries, top first.

    Parameters
    ----------
    scores : float64 array
        Final scores; ``-inf`` is never chosen.
    is_new : bool array
        New-creator flags (the quota's eligible posts).
    n, k, n_quota : int
        Candidates, slate size, new-creator slots owed (see the module docstring).
    inv_temperature : float
        :math:`1/\\tau > 0`.
    k0 : uint64
        The request's key; position ``p`` reads ``uniform(k0, p)``.
    w : float64 array, length >= n
        Scratch.
    pos : uint32 array, length >= k
        Out: chosen entries.
    prob : float64 array, length >= k
        Out: each position's propensity given the positions above.
    """
    smax = -np.inf
    n_el = 0
    n_new = 0
    for i in range(n):
        s = scores[i]
        if s > -np.inf:
            n_el += 1
            if is_new[i]:
                n_new += 1
            if s > smax:
                smax = s
    m = min(k, n_el)
    q = min(n_quota, n_new, m)
    for i in range(n):
        # -1 marks a candidate that is not eligible, or already placed
        w[i] = math.exp((scores[i] - smax) * inv_temperature) if scores[i] > -np.inf else -1.0
    got_new = 0
    for p in range(m):
        only_new = q - got_new >= m - p
        tot = 0.0
        for i in range(n):
            if w[i] >= 0.0 and (is_new[i] or not only_new):
                tot += w[i]
        local = tot < 1e-250  # the allowed set's weights underflowed: relative to its own maximum
        amax = -np.inf
        if local:
            for i in range(n):
                if w[i] >= 0.0 and (is_new[i] or not only_new) and scores[i] > amax:
                    amax = scores[i]
            tot = 0.0
            for i in range(n):
                if w[i] >= 0.0 and (is_new[i] or not only_new):
                    tot += math.exp((scores[i] - amax) * inv_temperature)
        x = uniform(k0, p) * tot
        acc = 0.0
        pick = -1
        wp = 0.0
        for i in range(n):
            if w[i] >= 0.0 and (is_new[i] or not only_new):
                wi = math.exp((scores[i] - amax) * inv_temperature) if local else w[i]
                if wi > 0.0:
                    acc += wi
                    pick = i
                    wp = wi
                    if x < acc:
                        break
        # (rounding can leave x >= acc at the end: then the last allowed entry of positive weight)
        pos[p] = pick
        prob[p] = wp / tot
        if is_new[pick]:
            got_new += 1
        w[pick] = -1.0
    return m
