"""Slow, readable twins of ranker.score and ranker._score_kernels (merged into reference.py later).

Scores every candidate in plain Python, sorts by (-score, id, position) and
takes the first k: no thresholds, no partial selection, nothing clever.
"""

import math

import numpy as np

SIGNAL_NAMES = ("play3", "completion", "avg_play", "like", "comment", "share_ft", "rr_reach")


# --- ranker.score -------------------------------------------------------------

def weight_vector(weights):
    return [float(getattr(weights, name)) for name in SIGNAL_NAMES]


def base_scores(matrix, weights):
    """Row by row: w0*x0 + w1*x1 + ... summed left to right."""
    w = weight_vector(weights)
    out = []
    for row in np.asarray(matrix, dtype=np.float64):
        s = float(row[0]) * w[0]
        for i in range(1, len(w)):
            s += float(row[i]) * w[i]
        out.append(s)
    return np.array(out, dtype=np.float64)


def candidate_score(v, aff, rr, base, boost, w_aff, w_rr):
    """(w_aff * aff + w_rr * rr) + (base + boost); -inf for the padding id -1."""
    if v < 0:
        return -math.inf
    return (w_aff * float(aff) + w_rr * float(rr)) + (float(base[v]) + float(boost[v]))


def is_masked(s):
    return math.isnan(s) or s == -math.inf


def ranked_positions(scores, ids):
    """Unmasked positions sorted by score descending, id ascending, position ascending."""
    live = [j for j in range(len(scores)) if not is_masked(float(scores[j]))]
    return sorted(live, key=lambda j: (-float(scores[j]), int(ids[j]), j))


# --- ranker._score_kernels ----------------------------------------------------

def topk_positions(scores, ids, k):
    return ranked_positions(scores, ids)[:max(k, 0)]


def topk_quota_positions(scores, ids, is_new, k, n_quota):
    """The best q = min(n_quota, k, #new) new entries, then the best of all the rest."""
    order = ranked_positions(scores, ids)
    new = [j for j in order if is_new[j]]
    q = min(max(n_quota, 0), k, len(new))
    chosen = set(new[:q])
    rest = [j for j in order if j not in chosen][:max(k - q, 0)]
    chosen |= set(rest)
    return [j for j in order if j in chosen]


def topk(scores, ids, k):
    """Ids of the best k entries (twin of topk_into)."""
    return [int(ids[j]) for j in topk_positions(scores, ids, k)]


def topk_quota(scores, ids, is_new, k, n_quota):
    """Ids chosen under a slot quota (twin of topk_quota_into)."""
    return [int(ids[j]) for j in topk_quota_positions(scores, ids, is_new, k, n_quota)]


def score_requests(indptr, cand_video, cand_aff, cand_rr, base, boost, w_aff, w_rr, k, n_quota=0, is_new=None):
    """Twin of score_requests / _score_requests: (top int32 padded -1, scores padded -inf)."""
    n_req = len(indptr) - 1
    top = np.full((n_req, k), -1, np.int32)
    top_scores = np.full((n_req, k), -np.inf)
    for r in range(n_req):
        lo, hi = int(indptr[r]), int(indptr[r + 1])
        ids = [int(v) for v in cand_video[lo:hi]]
        scores = [candidate_score(ids[j], cand_aff[lo + j], cand_rr[lo + j], base, boost, w_aff, w_rr)
                  for j in range(hi - lo)]
        if n_quota > 0:
            flags = [v >= 0 and bool(is_new[v]) for v in ids]
            chosen = topk_quota_positions(scores, ids, flags, k, n_quota)
        else:
            chosen = topk_positions(scores, ids, k)
        for i, j in enumerate(chosen):
            top[r, i] = ids[j]
            top_scores[r, i] = scores[j]
    return top, top_scores
