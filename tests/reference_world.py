"""Slow, readable twins of the Numba kernels in ``sim/world.py``.

Plain Python loops and sets; the tests compare each kernel with its twin over
several seeds and shapes.
"""

import numpy as np

from ranker.rng import STREAM_WORLD
from sim.world import FOLLOW_DRAWS_PER_WANT, FOLLOW_EXTRA_DRAWS, FOLLOW_INTEREST_FLOOR
from tests.reference import key, uniform


def friend_csr(a, b, n):
    """CSR (indptr, indices) of the simple undirected graph on pairs ``(a[i], b[i])``."""
    nbrs = [set() for _ in range(n)]
    for x, y in zip(a.tolist(), b.tolist()):
        if x != y:
            nbrs[x].add(y)
            nbrs[y].add(x)
    indptr = [0]
    indices = []
    for row in nbrs:
        indices.extend(sorted(row))
        indptr.append(len(indices))
    return np.array(indptr, dtype=np.int64), np.array(indices, dtype=np.int32)


def sort_unique_rows(indptr, idx):
    """Per row: its distinct values, sorted (a list of lists)."""
    return [sorted(set(idx[indptr[r]:indptr[r + 1]].tolist())) for r in range(len(indptr) - 1)]


def compact_rows(indptr, count, idx):
    """Keep the first ``count[r]`` entries of each row."""
    rows = [idx[indptr[r]:indptr[r] + count[r]].tolist() for r in range(len(count))]
    new_indptr = np.cumsum([0] + [len(r) for r in rows]).astype(np.int64)
    return new_indptr, np.array([x for r in rows for x in r], dtype=np.int32)


def follow_rows(kseed, interest, topic_pop, cum_pop, bounds, by_topic, indptr):
    """Each user's follows (a sorted list per user), as ``sim.world._follow_kernel`` draws them."""
    n_users, n_topics = interest.shape
    rows = []
    for u in range(n_users):
        want = int(indptr[u + 1] - indptr[u])
        chosen = []
        if want == 0:
            rows.append(chosen)
            continue
        k0 = key(int(kseed), STREAM_WORLD, u, 0, 0)
        weight = [(float(interest[u, s]) + FOLLOW_INTEREST_FLOOR) * float(topic_pop[s]) for s in range(n_topics)]
        total = 0.0
        for w in weight:
            total += w
        for j in range(FOLLOW_DRAWS_PER_WANT * want + FOLLOW_EXTRA_DRAWS):
            if len(chosen) == want:
                break
            r = uniform(k0, 2 * j) * total
            # The topic: first whose cumulative weight passes r.
            topic, acc = None, 0.0
            for s in range(n_topics):
                acc += weight[s]
                if acc > r:
                    topic = s
                    break
            if topic is None or bounds[topic] == bounds[topic + 1]:
                continue
            first, last = int(bounds[topic]), int(bounds[topic + 1]) - 1
            base = float(cum_pop[first - 1]) if first > 0 else 0.0
            target = base + uniform(k0, 2 * j + 1) * (float(cum_pop[last]) - base)
            # The creator: first in the topic whose cumulative popularity passes target.
            pos = next((p for p in range(first, last + 1) if cum_pop[p] > target), last)
            c = int(by_topic[pos])
            if c not in chosen:
                chosen.append(c)
        rows.append(sorted(chosen))
    return rows
