r"""Numba replay of a LightGBM tree ensemble (numerical splits only).

The ensemble is flattened into node arrays shared by all trees (internal
nodes and leaves in one index space; a leaf has ``feature == -1``). A row's
raw score is the sum, in tree order, of the value of the leaf it reaches in
each tree:

.. math::

   f(x) = \sum_{t=0}^{T-1} v_t\bigl(\mathrm{leaf}_t(x)\bigr)

Each internal node reproduces LightGBM's ``Tree::NumericalDecision``
(``include/LightGBM/tree.h``):

* values with :math:`|x| \le 10^{-35}` are zero (LightGBM drops them when it
  reads a dense row, and ``kZeroThreshold`` is its zero test);
* NaN becomes 0 unless the node's missing type is ``NaN``;
* a missing value (NaN for missing type ``NaN``, zero for missing type
  ``Zero``) goes to the node's default side;
* otherwise the row goes left when :math:`x \le \theta` (the threshold).

Kernels: arrays in, arrays out; no validation (that is
:class:`ranker.learn.TreeEnsemble`'s job). The slow twin is
``tests/reference_trees.py``.
"""

import numpy as np

from ranker._numba import JIT, PJIT, njit, prange

#: LightGBM's ``kZeroThreshold``: ``|x|`` at or below it counts as zero.
ZERO_THRESHOLD = 1e-35

#: Missing-value types of a numerical split (bits 1-2 of ``flags``).
MISSING_NONE = 0
MISSING_ZERO = 1
MISSING_NAN = 2

#: Bit 0 of ``flags``: missing values go left.
DEFAULT_LEFT = 1


@njit(**JIT)
def _child(x, threshold, flag, left, right):
    """The child a value goes to at one numerical split (LightGBM's rule)."""
    missing = flag >> 1
    if np.isnan(x):
        if missing != MISSING_NAN:
            x = 0.0
    elif -ZERO_THRESHOLD <= x <= ZERO_THRESHOLD:
        x = 0.0
    if (missing == MISSING_NAN and np.isnan(x)) or (missing == MISSING_ZERO and x == 0.0):
        if flag & DEFAULT_LEFT:
            return left
        return right
    if x <= threshold:
        return left
    return right


@njit(**JIT)
def _predict_row(X, i, feature, threshold, flags, children, value, roots):
    acc = 0.0
    for t in range(roots.shape[0]):
        node = roots[t]
        while feature[node] >= 0:
            node = _child(X[i, feature[node]], threshold[node], flags[node],
                          children[node, 0], children[node, 1])
        acc += value[node]
    return acc


@njit(**PJIT)
def predict_raw(X, feature, threshold, flags, children, value, roots):
    """Raw scores of rows through a flattened ensemble, parallel over rows.

    Parameters
    ----------
    X : float64 array, shape (n_rows, n_features)
        Feature rows (C order); NaN is missing.
    feature : int32 array, shape (n_nodes,)
        Split feature of each node; -1 marks a leaf.
    threshold : float64 array, shape (n_nodes,)
        Split threshold (go left when ``x <= threshold``).
    flags : uint8 array, shape (n_nodes,)
        Bit 0: missing goes left; bits 1-2: missing type (0 None, 1 Zero, 2 NaN).
    children : int32 array, shape (n_nodes, 2)
        Left and right child node of each internal node.
    value : float64 array, shape (n_nodes,)
        Leaf value (score units; shrinkage already applied by LightGBM).
    roots : int32 array, shape (n_trees,)
        Root node of each tree, in boosting order.

    Returns
    -------
    float64 array, shape (n_rows,)
        Raw scores; each row is summed in tree order by one thread, so the
        result does not depend on the thread count.
    """
    n = X.shape[0]
    out = np.empty(n, dtype=np.float64)
    for i in prange(n):
        out[i] = _predict_row(X, i, feature, threshold, flags, children, value, roots)
    return out
