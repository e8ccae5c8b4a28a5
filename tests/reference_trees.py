"""Slow, readable twins of ``ranker._tree_kernels`` and of the running counters of ``ranker.learn``.

Merged into ``tests/reference.py`` later; import as ``from tests import reference_trees as ref``.
"""

import math

import numpy as np

ZERO_THRESHOLD = float(np.float32(1e-35))  # LightGBM's kZeroThreshold = 1e-35f, widened to double


# --- ranker._tree_kernels ----------------------------------------------------

def _goes_left(node, x):
    """LightGBM's Tree::NumericalDecision on a node of ``Booster.dump_model()``."""
    if not math.isnan(x) and abs(x) <= ZERO_THRESHOLD:
        x = 0.0  # LightGBM drops near-zero values when it reads a dense row
    missing = node["missing_type"]
    if math.isnan(x) and missing != "NaN":
        x = 0.0
    is_missing = (missing == "NaN" and math.isnan(x)) or (missing == "Zero" and x == 0.0)
    if is_missing:
        return bool(node["default_left"])
    return x <= node["threshold"]


def tree_value(tree, x):
    """Leaf value reached by one row in one tree (a nested dump_model dict)."""
    node = tree["tree_structure"]
    while "split_feature" in node:
        assert node["decision_type"] == "<="
        node = node["left_child"] if _goes_left(node, float(x[node["split_feature"]])) else node["right_child"]
    return node["leaf_value"]


def predict_raw(dump, X):
    """Raw scores by walking every tree of a dump_model dict, row by row."""
    out = []
    for x in X:
        s = 0.0
        for tree in dump["tree_info"]:
            s += tree_value(tree, x)
        out.append(s)
    return np.array(out, dtype=np.float64)


# --- ranker.learn: running counters --------------------------------------------

def running_sums(groups, blocks, values):
    """For each row, the sum of ``values`` over earlier rows of its group.

    Rows are in time order; ``blocks`` mark rows that happen at the same time
    (one request): they never see each other.
    """
    values = np.asarray(values, dtype=np.float64)
    out = np.zeros_like(values)
    for i in range(len(groups)):
        for j in range(len(groups)):
            if groups[j] == groups[i] and blocks[j] < blocks[i]:
                out[i] += values[j]
    return out


def running_max(groups, blocks, values):
    """For each row, the max of ``values`` over earlier blocks of its group (0 before any)."""
    out = np.zeros(len(groups))
    for i in range(len(groups)):
        for j in range(len(groups)):
            if groups[j] == groups[i] and blocks[j] < blocks[i]:
                out[i] = max(out[i], values[j])
    return out


# --- ranker.learn.ndcg ---------------------------------------------------------

def ndcg(scores, grades, request, k, tie):
    """Mean NDCG@k over requests with >= 2 rows and a positive grade; ties by ``tie`` ascending."""
    vals = []
    for r in np.unique(request):
        rows = [i for i in range(len(request)) if request[i] == r]
        ranked = sorted(rows, key=lambda i: (-scores[i], tie[i]))
        ideal = sorted((grades[i] for i in rows), reverse=True)
        dcg = sum((2.0 ** grades[i] - 1) / math.log2(p + 2) for p, i in enumerate(ranked[:k]))
        idcg = sum((2.0 ** g - 1) / math.log2(p + 2) for p, g in enumerate(ideal[:k]))
        if len(rows) >= 2 and idcg > 0:
            vals.append(dcg / idcg)
    return (float(np.mean(vals)) if vals else float("nan")), len(vals)
