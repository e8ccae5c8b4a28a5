r"""Numba replay of a LightGBM tree ensemble (numerical splits only).

A row's raw score is the sum, in tree order, of the value of the leaf it
reaches in each tree:

.. math::

   f(x) = \sum_{t=0}^{T-1} v_t\bigl(\mathrm{leaf}_t(x)\bigr)

Each internal node reproduces LightGBM's ``Tree::NumericalDecision``
(``include/LightGBM/tree.h``):

* values with :math:`|x| \le 10^{-35}` are zero (LightGBM drops them when it
  reads a dense row; :func:`ranker.learn.TreeEnsemble.predict` zeroes them
  before calling the kernel);
* NaN becomes 0 unless the node's missing type is ``NaN``;
* a missing value (NaN for missing type ``NaN``; NaN or zero for missing type
  ``Zero``) goes to the node's default side;
* otherwise the row goes right when :math:`x > \theta` (the threshold).

Per node this folds into two precomputed bits, ``nan_right`` (where NaN goes)
and ``zero_missing`` (missing type ``Zero``), and one branch-free step:

.. math::

   z = \mathrm{zero\_missing} \wedge (x = 0), \quad
   \mathrm{right} = \bigl((x > \theta) \wedge \neg z\bigr) \vee
                    \bigl(\mathrm{nan\_right} \wedge (\mathrm{isnan}(x) \vee z)\bigr)

Layout: nodes of all trees share one index space, internal nodes first
(``[0, n_internal)``), leaves after. A leaf points to itself with threshold
``+inf``, so a walk that has arrived stays put; eight rows walk each tree in
lockstep until all eight sit on leaves. The eight walks are independent, so
the CPU overlaps their load latencies, and no branch depends on the data
(a per-row walk loses most of its time to mispredicted branches). Each node
is one 16-byte record: the threshold (float64) and a uint64 packing the
split feature (bits 0-19), ``nan_right`` (bit 20), ``zero_missing`` (bit 21),
the left child (bits 22-42) and the right child (bits 43-63).

Kernels: arrays in, arrays out; no validation (that is
:class:`ranker.learn.TreeEnsemble`'s job). The slow twin is
``tests/reference_trees.py``.
"""

import numpy as np

from ranker._numba import JIT, PJIT, njit, prange

#: LightGBM's ``kZeroThreshold``: ``|x|`` at or below it counts as zero.
ZERO_THRESHOLD = 1e-35

#: Missing-value types of a numerical split.
MISSING_NONE = 0
MISSING_ZERO = 1
MISSING_NAN = 2

#: Capacity of the packed record.
MAX_FEATURES = 1 << 20
MAX_NODES = 1 << 21

_FEATURE_MASK = np.uint64(MAX_FEATURES - 1)
_CHILD_MASK = np.uint64(MAX_NODES - 1)
_BITS_SHIFT = np.uint64(20)
_THREE = np.uint64(3)
_LEFT_SHIFT = 22
_RIGHT_SHIFT = 43


def pack(feature, threshold, nan_right, zero_missing, children, n_internal):
    """Pack node arrays into the kernel's 16-byte records.

    Parameters
    ----------
    feature : int array, shape (n_nodes,)
        Split feature of internal nodes (ignored for leaves).
    threshold : float64 array, shape (n_nodes,)
        Split threshold of internal nodes (ignored for leaves).
    nan_right, zero_missing : bool arrays, shape (n_nodes,)
        Where NaN goes; whether zero counts as missing.
    children : int array, shape (n_nodes, 2)
        Left and right child of internal nodes (ignored for leaves).
    n_internal : int
        Nodes ``[0, n_internal)`` are internal, the rest leaves.

    Returns
    -------
    float64 array, shape (n_nodes, 2)
        Column 0 the threshold, column 1 the packed uint64 (read it through
        ``.view(np.uint64)``).
    """
    n = len(feature)
    idx = np.arange(n)
    leaf = idx >= n_internal
    thr = np.where(leaf, np.inf, threshold).astype(np.float64)
    feat = np.where(leaf, 0, feature).astype(np.uint64)
    left = np.where(leaf, idx, children[:, 0]).astype(np.uint64)
    right = np.where(leaf, idx, children[:, 1]).astype(np.uint64)
    bits = (np.where(leaf, False, nan_right).astype(np.uint64)
            | (np.where(leaf, False, zero_missing).astype(np.uint64) << np.uint64(1)))
    nodes = np.empty((n, 2), dtype=np.float64)
    nodes[:, 0] = thr
    nodes.view(np.uint64)[:, 1] = (feat | (bits << _BITS_SHIFT) | (left << np.uint64(_LEFT_SHIFT))
                                   | (right << np.uint64(_RIGHT_SHIFT)))
    return nodes


@njit(**JIT, inline="always")
def _step(X, i, k, nodes, meta):
    """One level of one walk: the child node ``k`` sends row ``i`` to."""
    m = meta[k, 1]
    x = X[i, np.int64(m & _FEATURE_MASK)]
    bits = np.int64((m >> _BITS_SHIFT) & _THREE)
    z = (bits >> 1) & np.int64(x == 0.0)
    right = (np.int64(nodes[k, 0] < x) & (1 - z)) | ((bits & 1) & (np.int64(x != x) | z))
    return np.int64((m >> np.uint64(_LEFT_SHIFT + (_RIGHT_SHIFT - _LEFT_SHIFT) * right)) & _CHILD_MASK)


@njit(**PJIT)
def predict_raw(X, nodes, meta, value, roots, n_internal):
    """Raw scores of rows through a packed ensemble, parallel over rows.

    Parameters
    ----------
    X : float64 array, shape (n_rows, n_features)
        Feature rows (C order); NaN is missing; no value with
        ``0 < |x| <= 1e-35``.
    nodes : float64 array, shape (n_nodes, 2)
        Packed node records from :func:`pack` (column 0: threshold).
    meta : uint64 array, shape (n_nodes, 2)
        The same buffer viewed as uint64 (column 1: packed feature, bits, children).
    value : float64 array, shape (n_nodes,)
        Leaf value of nodes ``>= n_internal``, score units (shrinkage applied).
    roots : int32 array, shape (n_trees,)
        Root node of each tree, in boosting order.
    n_internal : int
        Number of internal nodes.

    Returns
    -------
    float64 array, shape (n_rows,)
        Raw scores. Each row is summed in tree order by one thread, so the
        result does not depend on the thread count.
    """
    n = X.shape[0]
    out = np.empty(n, dtype=np.float64)
    last = n - 1
    for b in prange((n + 7) // 8):
        i0 = 8 * b
        # a short last block repeats its last row; only real rows are written
        i1 = min(i0 + 1, last)
        i2 = min(i0 + 2, last)
        i3 = min(i0 + 3, last)
        i4 = min(i0 + 4, last)
        i5 = min(i0 + 5, last)
        i6 = min(i0 + 6, last)
        i7 = min(i0 + 7, last)
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
        for t in range(roots.shape[0]):
            r = np.int64(roots[t])
            k0 = k1 = k2 = k3 = k4 = k5 = k6 = k7 = r
            while min(min(min(k0, k1), min(k2, k3)), min(min(k4, k5), min(k6, k7))) < n_internal:
                k0 = _step(X, i0, k0, nodes, meta)
                k1 = _step(X, i1, k1, nodes, meta)
                k2 = _step(X, i2, k2, nodes, meta)
                k3 = _step(X, i3, k3, nodes, meta)
                k4 = _step(X, i4, k4, nodes, meta)
                k5 = _step(X, i5, k5, nodes, meta)
                k6 = _step(X, i6, k6, nodes, meta)
                k7 = _step(X, i7, k7, nodes, meta)
            a0 += value[k0]
            a1 += value[k1]
            a2 += value[k2]
            a3 += value[k3]
            a4 += value[k4]
            a5 += value[k5]
            a6 += value[k6]
            a7 += value[k7]
        out[i0] = a0
        if i0 + 1 <= last:
            out[i0 + 1] = a1
        if i0 + 2 <= last:
            out[i0 + 2] = a2
        if i0 + 3 <= last:
            out[i0 + 3] = a3
        if i0 + 4 <= last:
            out[i0 + 4] = a4
        if i0 + 5 <= last:
            out[i0 + 5] = a5
        if i0 + 6 <= last:
            out[i0 + 6] = a6
        if i0 + 7 <= last:
            out[i0 + 7] = a7
    return out


# --- running counters for ranker.learn ----------------------------------------


@njit(**JIT)
def running_sums(codes, block, values, n_keys):
    r"""Per-key sums of ``values`` over strictly earlier blocks, rows in time order.

    .. math::

        \mathrm{out}_i = \sum_{j:\ \mathrm{codes}_j = \mathrm{codes}_i,\
                         \mathrm{block}_j < \mathrm{block}_i} \mathrm{values}_j

    Rows of one block (one tick, one timestamp) happen at once and never see
    each other. Sums are accumulated in time order per key, so a row's value
    depends on no later row, not even through rounding.

    Parameters
    ----------
    codes : int64 array, shape (n,)
        Key of each row (a video, a creator, a user), in ``[0, n_keys)``.
    block : int64 array, shape (n,)
        Time block of each row, non-decreasing.
    values : float64 array, shape (n, k)
        Per-row amounts (counts, seconds).
    n_keys : int
        Number of keys.

    Returns
    -------
    float64 array, shape (n, k)
    """
    n, k = values.shape
    acc = np.zeros((n_keys, k))
    out = np.empty((n, k))
    i = 0
    while i < n:
        j = i
        while j < n and block[j] == block[i]:
            j += 1
        for r in range(i, j):
            for c in range(k):
                out[r, c] = acc[codes[r], c]
        for r in range(i, j):
            for c in range(k):
                acc[codes[r], c] += values[r, c]
        i = j
    return out


@njit(**JIT)
def running_max(codes, block, values, n_keys):
    """Per-key maximum of ``values`` over strictly earlier blocks (0 before any).

    Parameters
    ----------
    codes, block : int64 arrays, shape (n,)
        As in :func:`running_sums`.
    values : float64 array, shape (n,)
        Non-negative per-row amounts.
    n_keys : int

    Returns
    -------
    float64 array, shape (n,)
    """
    n = values.shape[0]
    acc = np.zeros(n_keys)
    out = np.empty(n)
    i = 0
    while i < n:
        j = i
        while j < n and block[j] == block[i]:
            j += 1
        for r in range(i, j):
            out[r] = acc[codes[r]]
        for r in range(i, j):
            if values[r] > acc[codes[r]]:
                acc[codes[r]] = values[r]
        i = j
    return out
