r"""Numba replay of a LightGBM tree ensemble (numerical splits only).

A row's raw score is the sum, in tree order, of the value of the leaf it
reaches in each tree:

.. math::

   f(x) = \sum_{t=0}^{T-1} v_t\bigl(\mathrm{leaf}_t(x)\bigr)

Each internal node reproduces LightGBM's ``Tree::NumericalDecision``
(``include/LightGBM/tree.h``):

* values with :math:`|x| \le 10^{-35}` (the float ``1e-35f``) are zero (LightGBM drops them when it
  reads a dense row; ``kZeroThreshold`` is its zero test);
* NaN becomes 0 unless the node's missing type is ``NaN``;
* a missing value (NaN for missing type ``NaN``; NaN or zero for missing type
  ``Zero``) goes to the node's default side;
* otherwise the row goes left when :math:`x \le \theta` (the threshold).

One comparison per node
-----------------------
Every node is rewritten so that a single test, false for NaN,

.. math::

   p = [\,\theta' < x'\,], \qquad \text{next node} = \mathrm{child}_p,

decides it exactly. ``child_0`` is the side NaN goes to. If NaN goes left,
:math:`x' = x`, :math:`\theta' = \theta`, ``child_0`` the left child. If NaN
goes right, :math:`x' = -x` and :math:`\theta' = -\mathrm{nextafter}(\theta,
+\infty)`, so :math:`p \Leftrightarrow x \le \theta` and ``child_1`` is the
left child (no double lies strictly between :math:`\theta` and its
successor). Where NaN goes: the default side for missing types ``NaN`` and
``Zero``, the side of 0 for missing type ``None``. For a feature with
``Zero`` nodes, :func:`prepare` makes a column where zeros are NaN. The
columns :math:`x'` (a plan of source feature, sign, zero-as-NaN) are built
once per call by :func:`prepare`.

Layout and walk
---------------
Nodes of all trees share one index space, internal nodes first
(``[0, n_internal)``), leaves after. A node is ``theta`` (float64) and a
16-byte record ``rec[4k : 4k+4]`` (uint32): column, ``child_0``,
``child_1``, unused. A leaf points to itself with ``theta = +inf``, so a walk
that has arrived stays put; eight rows walk each tree in lockstep until all
eight sit on leaves. The eight walks are independent, so the CPU overlaps
their load latencies, and no branch depends on the data (a per-row walk
loses most of its time to mispredicted branches). Indices are unsigned so
that no negative-index fix-up enters the loop.

Kernels: arrays in, arrays out; no validation (that is
:class:`ranker.learn.TreeEnsemble`'s job). The slow twin is
``tests/reference_trees.py``.
"""

import numpy as np

from ranker._numba import JIT, PJIT, njit, prange

#: LightGBM's ``kZeroThreshold``: ``|x|`` at or below it counts as zero. It is the float
#: ``1e-35f`` widened to double (1.0000000180025095e-35), not the double ``1e-35``.
ZERO_THRESHOLD = float(np.float32(1e-35))

#: Missing-value types of a numerical split.
MISSING_NONE = 0
MISSING_ZERO = 1
MISSING_NAN = 2

#: Largest node or column count the uint32 records hold.
MAX_INDEX = 2**32 - 1

_U = np.uint64


def pack(feature, threshold, nan_left, zero_missing, children, n_internal, n_features):
    """Rewrite nodes for the one-comparison walk.

    Parameters
    ----------
    feature : int array, shape (n_nodes,)
        Split feature of internal nodes (ignored for leaves).
    threshold : float64 array, shape (n_nodes,)
        Split threshold of internal nodes, finite (ignored for leaves).
    nan_left : bool array, shape (n_nodes,)
        Whether NaN goes left at each internal node.
    zero_missing : bool array, shape (n_nodes,)
        Missing type ``Zero`` (zero is missing too).
    children : int array, shape (n_nodes, 2)
        Left and right child of internal nodes.
    n_internal : int
        Nodes ``[0, n_internal)`` are internal, the rest leaves.
    n_features : int
        Columns of the model's input.

    Returns
    -------
    theta : float64 array, shape (n_nodes,)
        Rewritten thresholds (``+inf`` for leaves).
    rec : uint32 array, shape (4 * n_nodes,)
        Column, child_0, child_1, 0 of each node.
    plan : int64 array, shape (n_columns, 3)
        Columns of the prepared input: source feature, negated (0/1), zero as
        NaN (0/1).
    """
    n = len(feature)
    idx = np.arange(n)
    internal = idx < n_internal
    theta = np.full(n, np.inf)
    rec = np.zeros((n, 4), dtype=np.uint32)
    rec[:, 1] = idx
    rec[:, 2] = idx
    # columns: [x, -x] per feature, then [x, -x] with zero as NaN for features with Zero nodes
    zero_feats = np.unique(np.asarray(feature)[internal & zero_missing])
    zpos = np.full(n_features, -1, dtype=np.int64)
    zpos[zero_feats] = np.arange(zero_feats.size)
    plan = [(f, 0, 0) for f in range(n_features)] + [(f, 1, 0) for f in range(n_features)]
    plan += [(int(f), 0, 1) for f in zero_feats] + [(int(f), 1, 1) for f in zero_feats]
    f = np.asarray(feature)[internal].astype(np.int64)
    thr = np.asarray(threshold, dtype=np.float64)[internal]
    left = np.asarray(nan_left)[internal]
    zero = np.asarray(zero_missing)[internal]
    ch = np.asarray(children)[internal]
    base = np.where(zero, 2 * n_features + zpos[f], f)
    step = np.where(zero, zero_feats.size, n_features)
    rec[internal, 0] = np.where(left, base, base + step)
    theta[internal] = np.where(left, thr, -np.nextafter(thr, np.inf))
    rec[internal, 1] = np.where(left, ch[:, 0], ch[:, 1])
    rec[internal, 2] = np.where(left, ch[:, 1], ch[:, 0])
    return theta, rec.reshape(-1), np.asarray(plan, dtype=np.int64).reshape(-1, 3)


@njit(**PJIT)
def prepare(X, plan):
    r"""The walk's input columns from feature rows, parallel over rows.

    Parameters
    ----------
    X : float64 array, shape (n_rows, n_features)
        Feature rows; NaN is missing.
    plan : int64 array, shape (n_columns, 3)
        From :func:`pack`: source feature, negated, zero as NaN.

    Returns
    -------
    float64 array, shape (n_rows, n_columns)
        :math:`|x| \le 10^{-35}` set to 0 (to NaN in zero-as-NaN columns),
        negated where the plan says.
    """
    n = X.shape[0]
    m = plan.shape[0]
    out = np.empty((n, m))
    for i in prange(n):
        for c in range(m):
            x = X[i, plan[c, 0]]
            if -ZERO_THRESHOLD <= x <= ZERO_THRESHOLD:
                x = np.nan if plan[c, 2] else 0.0
            out[i, c] = -x if plan[c, 1] else x
    return out


@njit(**JIT, inline="always")
def _step(xs, base, k, theta, rec):
    """One level of one walk: the node after ``k`` for the row at ``xs[base:]``."""
    x = xs[base + _U(rec[_U(4) * k])]
    return _U(rec[_U(4) * k + _U(1) + _U(theta[k] < x)])


@njit(**PJIT)
def predict_raw(Xp, theta, rec, value, roots, n_internal):
    """Raw scores of prepared rows through a packed ensemble, parallel over rows.

    Parameters
    ----------
    Xp : float64 array, shape (n_rows, n_columns)
        Rows from :func:`prepare` (C order).
    theta : float64 array, shape (n_nodes,)
        Rewritten thresholds from :func:`pack`.
    rec : uint32 array, shape (4 * n_nodes,)
        Node records from :func:`pack`.
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
    n, m = Xp.shape
    xs = Xp.ravel()
    out = np.empty(n, dtype=np.float64)
    last = n - 1
    cols = _U(m)
    ni = _U(n_internal)
    for b in prange((n + 7) // 8):
        i0 = 8 * b
        # a short last block repeats its last row; only real rows are written
        c0 = _U(i0) * cols
        c1 = _U(min(i0 + 1, last)) * cols
        c2 = _U(min(i0 + 2, last)) * cols
        c3 = _U(min(i0 + 3, last)) * cols
        c4 = _U(min(i0 + 4, last)) * cols
        c5 = _U(min(i0 + 5, last)) * cols
        c6 = _U(min(i0 + 6, last)) * cols
        c7 = _U(min(i0 + 7, last)) * cols
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
        for t in range(roots.shape[0]):
            r = _U(roots[t])
            k0 = k1 = k2 = k3 = k4 = k5 = k6 = k7 = r
            while min(min(min(k0, k1), min(k2, k3)), min(min(k4, k5), min(k6, k7))) < ni:
                k0 = _step(xs, c0, k0, theta, rec)
                k1 = _step(xs, c1, k1, theta, rec)
                k2 = _step(xs, c2, k2, theta, rec)
                k3 = _step(xs, c3, k3, theta, rec)
                k4 = _step(xs, c4, k4, theta, rec)
                k5 = _step(xs, c5, k5, theta, rec)
                k6 = _step(xs, c6, k6, theta, rec)
                k7 = _step(xs, c7, k7, theta, rec)
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


@njit(**JIT)
def predict_one(x, plan, theta, rec, value, roots, n_internal):
    """Raw score of one raw feature row: serial, for calling from other kernels.

    Prepares each tested value on the fly (as :func:`prepare` does) and walks
    tree by tree; same decisions and summation order as :func:`predict_raw`.

    Parameters
    ----------
    x : float64 array, shape (n_features,)
        One feature row; NaN is missing.
    plan, theta, rec, value, roots, n_internal
        As from :func:`pack` and for :func:`predict_raw`.

    Returns
    -------
    float
        The raw score.
    """
    acc = 0.0
    ni = _U(n_internal)
    for t in range(roots.shape[0]):
        k = _U(roots[t])
        while k < ni:
            c = rec[_U(4) * k]
            v = x[plan[c, 0]]
            if -ZERO_THRESHOLD <= v <= ZERO_THRESHOLD:
                v = np.nan if plan[c, 2] else 0.0
            if plan[c, 1]:
                v = -v
            k = _U(rec[_U(4) * k + _U(1) + _U(theta[k] < v)])
        acc += value[k]
    return acc


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
