r"""Numba kernels of :mod:`ranker.score`: top-k of candidate sets, batched scoring.

Arrays and scalars in, arrays out; no validation (the public face,
:func:`ranker.score.score_requests`, checks its inputs once).

Order
-----
Every selection here uses one strict total order on the entries of a
candidate set: *entry a precedes entry b* when

.. math::

    s_a > s_b \;\lor\; (s_a = s_b \land \mathrm{id}_a < \mathrm{id}_b)
    \;\lor\; (s_a = s_b \land \mathrm{id}_a = \mathrm{id}_b \land a < b),

score descending, ties broken by the smaller id, then (only for a duplicated
id, whose copies are indistinguishable in the output) by position. An entry
whose score is :math:`-\infty` or NaN is *masked*: never chosen.

Helpers for other kernels
-------------------------
:func:`topk_into` and :func:`topk_quota_into` are what the simulator's serving
kernel calls per request (``n`` ~ 70 candidates, ``k`` ~ 8);
:func:`_score_requests` is the batch kernel behind
:func:`ranker.score.score_requests` (parallel over blocks of requests; every
request is computed alone, so results do not depend on the thread count).
Both select the top k without a sort (:func:`_rank_select`):

1. (batch kernel) scores go into a per-thread buffer: first the
   per-candidate terms (a vectorized pass), then the gathered ``base + boost``;
   a :math:`-\infty` sentinel in front of the summed ``base + boost`` table
   turns the padding id ``-1`` into a masked score without a branch;
2. for ``k <= 8`` and ``n >= 16``, a lower bound :math:`t` of the k-th best
   score: the 8th largest of the maxima of 16 strided groups of the scores
   (8 groups each hold an element :math:`\ge t`, so at least 8 elements do),
   found with two 19-comparator sorting networks and one bitonic half-clean
   (in the batch kernel, in the same pass as the gather);
3. compaction of the positions with score :math:`\ge t` (about 10 of 64 for
   unordered scores): for ``n <= 64`` a 64-bit mask built without branches
   (for a contiguous float64 array, one 8-lane vector compare per block of 8:
   :func:`ranker._vector_ir.mask_ge8`), then its set bits one ``tzcnt`` each; for longer sets
   a branch-free store-and-advance loop;
4. each survivor's rank is the number of survivors with a larger score. Up
   to 16 survivors (nearly every request) are ranked all at once in vector
   registers (:func:`ranker._vector_ir.rank16`: each survivor is compared with 16 slots, the
   slots past the survivors holding :math:`-\infty`), and exact score ties are
   detected from the ranks' total; more survivors take a short branch-free
   loop per survivor, ties detected with a bitmask. Only when there are ties
   are the survivors re-ranked with the full order above (more than
   :data:`RANK_MAX` survivors, e.g. all scores equal, take the bounded
   insertion of :func:`_topk_pos`: an entry is compared with the current k-th
   best first and only a better one is shifted into place);
5. survivors are written at their rank (those past ``k`` into a spare slot).

The rare paths (bounded insertion, the quota's fix-up) are always inlined: a
call would need the request's slice of ids as a counted reference, and Numba
then pays an atomic increment and decrement of the array's reference count
for every request, not only the rare ones.

With a slot quota (``n_quota > 0``), both :func:`topk_quota_into` and the
batch kernel take the plain top-k first and then, only when it holds too few
new entries, swap its worst non-new entries for the best new ones ranked after
it (:func:`_quota_fixup`).
"""

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from ranker._numba import JIT, PJIT, njit, prange
from ranker._vector_ir import mask_ge8, rank16

#: The lowest finite float64: ``s >= LOWEST`` is False exactly for -inf and NaN.
LOWEST = float(np.finfo(np.float64).min)

#: Requests per parallel work item of the batch kernel (buffers are per item).
CHUNK = 256

#: Survivor counts above this use the insertion path instead of rank counting
#: (rank counting is quadratic; ranks must also fit a 64-bit mask).
RANK_MAX = 63


def _lowest_bit(x):
    """Index of the lowest set bit of a nonzero 64-bit word (count trailing zeros)."""
    x = int(x)
    return (x & -x).bit_length() - 1


@intrinsic
def _cttz64(typingctx, x):
    """LLVM's ``cttz`` on a uint64 (one instruction: ``tzcnt``)."""
    if x != types.uint64:
        return None

    def codegen(context, builder, sig, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 1))

    return types.int64(types.uint64), codegen


@overload(_lowest_bit)
def _lowest_bit_jit(x):
    if isinstance(x, types.Integer):
        return lambda x: _cttz64(np.uint64(x))
    return None


@njit(inline="always", **JIT)
def _before(scores, ids, a, b):
    """Whether entry ``a`` precedes entry ``b`` (score desc, id asc, position asc)."""
    sa = scores[a]
    sb = scores[b]
    if sa != sb:
        return sa > sb
    ia = ids[a]
    ib = ids[b]
    if ia != ib:
        return ia < ib
    return a < b


@njit(inline="always", **JIT)
def _insert(scores, ids, j, pos, lo, cnt, cap):
    """Insert entry ``j`` into the sorted run ``pos[lo:lo + cnt]`` holding at most ``cap``.

    Returns the new length of the run. When the run is full, ``j`` enters only
    if it precedes the run's last entry, which then drops out.
    """
    if cnt == cap:
        if cap <= 0 or not _before(scores, ids, j, pos[lo + cap - 1]):
            return cnt
        i = lo + cap - 1
    else:
        i = lo + cnt
        cnt += 1
    while i > lo and _before(scores, ids, j, pos[i - 1]):
        pos[i] = pos[i - 1]
        i -= 1
    pos[i] = j
    return cnt


@njit(inline="always", **JIT)
def _topk_pos(scores, ids, n, k, pos):
    """Positions of the best ``min(k, #unmasked)`` of the first ``n`` entries, in order.

    Writes ``pos[:m]`` and returns ``m``. Once ``k`` are held, the score and id
    of the k-th best are kept at hand, so most entries cost one comparison.
    """
    m = 0
    ls = np.inf  # score and id of the k-th best held (valid once m == k)
    li = 0
    for j in range(n):
        s = scores[j]
        if not s >= LOWEST:
            continue
        if m == k:
            # entries come in position order, so a tie in (score, id) stays out
            if not (s > ls or (s == ls and ids[j] < li)):
                continue
        m = _insert(scores, ids, j, pos, 0, m, k)
        if m == k:
            ls = scores[pos[k - 1]]
            li = ids[pos[k - 1]]
    return m


@njit(inline="always", **JIT)
def _quota_fixup(scores, ids, is_new, n, k, n_quota, pos, m):
    r"""Turn the plain top-k in ``pos[:m]`` into the quota's choice, in place; returns ``m``.

    With :math:`c` new entries among the top :math:`k` and
    :math:`q_k = \min(n_{quota}, k)`: when :math:`c < q_k`, the :math:`d` worst
    non-new entries of the top k give way to the best :math:`d` new entries
    ranked after it, :math:`d = \min(q_k - c, \#\text{such entries})`. Those
    all rank after every kept entry, so the result stays in order: the kept
    entries, then the newcomers. This equals "the best :math:`q` new entries,
    then the best :math:`k - q` of all the rest" (:func:`topk_quota_into`):
    the top k's new entries are the best new ones, and the best of the rest
    are the top k's best non-new ones.
    """
    if n_quota <= 0 or m < k:
        return m  # fewer than k unmasked: every new entry is already in
    qk = min(n_quota, k)
    c = 0
    for i in range(k):
        c += is_new[pos[i]]
    if c >= qk:
        return m
    last = pos[k - 1]
    avail = 0
    for j in range(n):
        if is_new[j] and scores[j] >= LOWEST and _before(scores, ids, last, j):
            avail += 1
    d = min(qk - c, avail)
    if d == 0:
        return m
    # drop the d worst non-new entries, keeping the order of the others
    cut = k
    dropped = 0
    while dropped < d:
        cut -= 1
        dropped += not is_new[pos[cut]]
    w = cut
    for i in range(cut, k):
        if is_new[pos[i]]:
            pos[w] = pos[i]
            w += 1
    # the best d new entries after the old k-th best fill pos[k - d:k]
    cnt = 0
    for j in range(n):
        if is_new[j] and scores[j] >= LOWEST and _before(scores, ids, last, j):
            cnt = _insert(scores, ids, j, pos, k - d, cnt, d)
    return m


@njit(inline="always", **JIT)
def _select_pos_in(scores, ids, n, k, f, u):
    """Run :func:`_rank_select` on scratch ``f`` (float64, ``>= 2n + 32``) and ``u``
    (uint32, ``>= n + k + 1``); returns ``(pos, m)``, ``pos`` a view of ``u``."""
    pos = u[n:n + k + 1]
    bound = -np.inf
    if k <= 8 and n >= 16:
        bound = _bound8(scores, n)
    m = _rank_select(scores, ids, n, k, u[:n], f[:n + 16], f[n + 16:2 * n + 32].view(np.int64), pos, bound)
    return pos, m


@njit(**JIT)
def _select_pos(scores, ids, n, k):
    """:func:`_select_pos_in` with fresh scratch.

    Two allocations per call (about 20 ns each): the rank path is about five
    times faster than bounded insertion at ``n`` ~ 70, ``k`` = 8.
    """
    return _select_pos_in(scores, ids, n, k, np.empty(2 * n + 32, np.float64), np.empty(n + k + 1, np.uint32))


@njit(**JIT)
def topk_into(scores, ids, n, k, out):
    """Write the ids of the best ``min(k, #unmasked)`` of the first ``n`` entries.

    Parameters
    ----------
    scores : ndarray of float64, shape (>= n,)
        Scores (log-lift units); ``-inf`` (or NaN) masks an entry.
    ids : ndarray of int, shape (>= n,)
        Ids of the entries (video rows); ties in score go to the smaller id.
    n : int
        Number of entries to consider, ``n < 2**31``.
    k : int
        Number to choose, ``>= 1``.
    out : ndarray of int32, shape (>= k,)
        Receives the chosen ids in ``out[:m]``, by score descending, ties by
        id ascending; ``out[m:]`` is left as it was.

    Returns
    -------
    m : int
        Number chosen, ``min(k, #unmasked)``.
    """
    pos, m = _select_pos(scores, ids, n, k)
    for i in range(m):
        out[i] = ids[pos[i]]
    return m


@njit(**JIT)
def topk_quota_into(scores, ids, is_new, n, k, n_quota, out):
    r"""Like :func:`topk_into`, with at least ``min(n_quota, #eligible new)`` new entries.

    The chosen set is the best :math:`q = \min(n_{quota}, k, E)` new entries
    (:math:`E` the number of unmasked new entries) together with the best
    :math:`k - q` of all remaining unmasked entries, new or not. With
    ``n_quota <= 0`` it equals :func:`topk_into`.

    Parameters
    ----------
    scores : ndarray of float64, shape (>= n,)
        Scores; ``-inf`` (or NaN) masks an entry.
    ids : ndarray of int, shape (>= n,)
        Ids of the entries; ties in score go to the smaller id.
    is_new : ndarray of bool, shape (>= n,)
        Whether each entry is a new creator's post.
    n, k : int
        Number of entries to consider (``n < 2**31``) and number to choose (``>= 1``).
    n_quota : int
        Slots reserved for new entries (clipped to ``[0, k]``).
    out : ndarray of int32, shape (>= k,)
        Receives the chosen ids in ``out[:m]``, by score descending, ties by id.

    Returns
    -------
    m : int
        Number chosen, ``min(k, #unmasked)``.
    """
    pos, m = _select_pos(scores, ids, n, k)
    m = _quota_fixup(scores, ids, is_new, n, k, n_quota, pos, m)
    for i in range(m):
        out[i] = ids[pos[i]]
    return m


@njit(**JIT)
def topk_quota_pos(scores, ids, is_new, n, k, n_quota, f, u):
    """:func:`topk_quota_into`'s choice as positions, on caller-owned scratch.

    For kernels that call it once per request: ``f`` float64 of length
    ``>= 2n + 32`` and ``u`` uint32 of length ``>= n + k + 1`` are reused, and
    the positions save a lookup from id back to entry. Returns ``(pos, m)``:
    the chosen entries are ``pos[:m]`` (a view of ``u``), best first.
    """
    pos, m = _select_pos_in(scores, ids, n, k, f, u)
    m = _quota_fixup(scores, ids, is_new, n, k, n_quota, pos, m)
    return pos, m


@njit(inline="always", **JIT)
def _sort8(a0, a1, a2, a3, a4, a5, a6, a7):
    """Sort eight floats descending (optimal 19-comparator network)."""
    a0, a2 = max(a0, a2), min(a0, a2)
    a1, a3 = max(a1, a3), min(a1, a3)
    a4, a6 = max(a4, a6), min(a4, a6)
    a5, a7 = max(a5, a7), min(a5, a7)
    a0, a4 = max(a0, a4), min(a0, a4)
    a1, a5 = max(a1, a5), min(a1, a5)
    a2, a6 = max(a2, a6), min(a2, a6)
    a3, a7 = max(a3, a7), min(a3, a7)
    a0, a1 = max(a0, a1), min(a0, a1)
    a2, a3 = max(a2, a3), min(a2, a3)
    a4, a5 = max(a4, a5), min(a4, a5)
    a6, a7 = max(a6, a7), min(a6, a7)
    a2, a4 = max(a2, a4), min(a2, a4)
    a3, a5 = max(a3, a5), min(a3, a5)
    a1, a4 = max(a1, a4), min(a1, a4)
    a3, a6 = max(a3, a6), min(a3, a6)
    a1, a2 = max(a1, a2), min(a1, a2)
    a3, a4 = max(a3, a4), min(a3, a4)
    a5, a6 = max(a5, a6), min(a5, a6)
    return a0, a1, a2, a3, a4, a5, a6, a7


@njit(inline="always", **JIT)
def _gmax(g, x):
    """``max(g, x)`` that ignores a NaN ``x`` (one ``maxpd``); ``g`` is never NaN."""
    return x if x > g else g


@njit(inline="always", **JIT)
def _group_value(x, total, ids, j, add):
    """``x[j]``; with ``add``, first ``x[j] += total[ids[j] + 1]`` (the batch kernel's gather)."""
    v = x[j]
    if add:
        v += total[np.uint64(np.int64(ids[j]) + 1)]
        x[j] = v
    return v


@njit(inline="always", **JIT)
def _groups_bound8(x, total, ids, n, add):
    """A lower bound of the 8th largest unmasked value of ``x[:n]`` (``n >= 16``).

    The 8th largest of the maxima of 16 strided groups (group ``g`` holds
    ``x[g], x[g + 16], ...``; the tail past the last full block joins group 0).
    NaN entries are ignored, so the networks only ever see numbers. With
    ``add`` (a constant at every call site, so the branch folds away) each
    value first gets its ``total[ids[j] + 1]`` added in place, in the same pass:
    the batch kernel's scoring and its bound read the buffer once.
    """
    ninf = -np.inf
    g0 = g1 = g2 = g3 = g4 = g5 = g6 = g7 = ninf
    h0 = h1 = h2 = h3 = h4 = h5 = h6 = h7 = ninf
    j = 0
    while j + 16 <= n:
        g0 = _gmax(g0, _group_value(x, total, ids, j, add))
        g1 = _gmax(g1, _group_value(x, total, ids, j + 1, add))
        g2 = _gmax(g2, _group_value(x, total, ids, j + 2, add))
        g3 = _gmax(g3, _group_value(x, total, ids, j + 3, add))
        g4 = _gmax(g4, _group_value(x, total, ids, j + 4, add))
        g5 = _gmax(g5, _group_value(x, total, ids, j + 5, add))
        g6 = _gmax(g6, _group_value(x, total, ids, j + 6, add))
        g7 = _gmax(g7, _group_value(x, total, ids, j + 7, add))
        h0 = _gmax(h0, _group_value(x, total, ids, j + 8, add))
        h1 = _gmax(h1, _group_value(x, total, ids, j + 9, add))
        h2 = _gmax(h2, _group_value(x, total, ids, j + 10, add))
        h3 = _gmax(h3, _group_value(x, total, ids, j + 11, add))
        h4 = _gmax(h4, _group_value(x, total, ids, j + 12, add))
        h5 = _gmax(h5, _group_value(x, total, ids, j + 13, add))
        h6 = _gmax(h6, _group_value(x, total, ids, j + 14, add))
        h7 = _gmax(h7, _group_value(x, total, ids, j + 15, add))
        j += 16
    while j < n:
        g0 = _gmax(g0, _group_value(x, total, ids, j, add))
        j += 1
    g0, g1, g2, g3, g4, g5, g6, g7 = _sort8(g0, g1, g2, g3, g4, g5, g6, g7)
    h0, h1, h2, h3, h4, h5, h6, h7 = _sort8(h0, h1, h2, h3, h4, h5, h6, h7)
    # the 8 largest of two sorted runs are max(g[i], h[7 - i]); their minimum is the 8th
    return min(
        min(min(max(g0, h7), max(g1, h6)), min(max(g2, h5), max(g3, h4))),
        min(min(max(g4, h3), max(g5, h2)), min(max(g6, h1), max(g7, h0))),
    )


@njit(inline="always", **JIT)
def _bound8(x, n):
    """:func:`_groups_bound8` of ``x[:n]`` as it is (``n >= 16``)."""
    return _groups_bound8(x, x, np.empty(0, np.int32), n, False)


def _survivor_mask(x, n, thr):
    """Bit ``j`` set when ``x[j] >= thr``, for ``j < n <= 64`` (a uint64; NaN never sets one)."""
    mask = 0
    for j in range(n):
        mask |= int(x[j] >= thr) << j
    return np.uint64(mask)


@overload(_survivor_mask)
def _survivor_mask_jit(x, n, thr):
    if isinstance(x, types.Array) and x.ndim == 1 and x.layout == "C" and x.dtype == types.float64:
        def impl(x, n, thr):  # full blocks of 8 as vector compares, then the tail
            mask = mask_ge8(x, n, thr)
            for j in range(n // 8 * 8, n):
                mask |= np.uint64(x[j] >= thr) << np.uint64(j)
            return mask
    else:
        def impl(x, n, thr):  # any other array (strided, float32): one compare each
            mask = np.uint64(0)
            for j in range(n):
                mask |= np.uint64(x[j] >= thr) << np.uint64(j)
            return mask
    return impl


@njit(inline="always", **JIT)
def _rank_select(sb, ids, n, k, cp, cs, rk, pos, bound):
    """Positions of the top ``min(k, #unmasked)`` of ``sb[:n]``, in order, into ``pos``.

    The threshold / compaction / rank-counting path (see the module notes).
    ``bound`` is a lower bound of the k-th best score (``-inf`` when none is
    known). ``cs`` and ``rk`` are scratch of length ``>= n + 16``, ``cp`` of ``>= n``, ``pos``
    of length ``k + 1`` (slot ``k`` takes the survivors past the top k).
    Returns ``m``.
    """
    thr = max(LOWEST, bound)
    # -inf in the 16 slots the rank counting reads past the survivors (a fixed-length fill)
    for i in range(16):
        cs[i] = -np.inf
    # compaction of the survivors' positions into cp
    c = 0
    if n <= 64:
        # a survivor mask built without branches, then its set bits
        mask = _survivor_mask(sb, n, thr)
        while mask != 0:
            p = _lowest_bit(mask)
            cp[c] = p
            cs[c] = sb[p]
            c += 1
            mask &= mask - np.uint64(1)
    else:
        for j in range(n):
            cp[c] = j
            c += sb[j] >= thr
        if c <= RANK_MAX:
            for i in range(c):
                cs[i] = sb[cp[i]]
    if c > RANK_MAX:
        return _topk_pos(sb, ids, n, k, pos)
    if c <= 16:
        # all 16 ranks at once: survivor j adds 1 to the rank of every slot it beats
        # (one vector compare per survivor, no horizontal sums); padding is -inf
        rank16(cs, c, rk)
        # each pair of distinct survivor scores is counted once and each padding
        # slot c times: this total is reached exactly when no two survivors tie
        tot = 0
        for i in range(16):
            tot += rk[i]
        tie = tot != c * (c - 1) // 2 + (16 - c) * c
    else:
        # pad to a multiple of 16 (one pass of the vectorized loop) with -inf: never larger
        c16 = (c + 15) & ~15
        for i in range(c, c16):
            cs[i] = -np.inf
        seen = np.uint64(0)
        dup = np.uint64(0)
        for i in range(c):
            si = cs[i]
            gt = 0
            for j in range(c16):
                gt += cs[j] > si
            rk[i] = gt
            bit = np.uint64(1) << np.uint64(gt)
            dup |= seen & bit
            seen |= bit
        tie = dup != 0
    if tie:
        # exact score ties: rank again with the full order
        for i in range(c):
            gt = 0
            for j in range(c):
                gt += _before(sb, ids, cp[j], cp[i])
            rk[i] = gt
    for i in range(c):
        pos[min(rk[i], k)] = cp[i]
    return min(c, k)


@njit(**PJIT)
def _score_requests(indptr, cand_video, cand_aff, cand_rr, base, boost, w_aff, w_rr, k, n_quota, is_new,
                    out_ids, out_scores):
    r"""Score every candidate of every request and keep each request's top ``k``.

    .. math::

        s_j = (w_{aff}\,\mathrm{aff}_j + w_{rr}\,\mathrm{rr}_j)
              + (\mathrm{base}_{v_j} + \mathrm{boost}_{v_j})

    (summed in that order: the per-candidate terms in one vectorized pass, the
    gathered per-video sum added in the pass that bounds the k-th best score).

    Parameters
    ----------
    indptr : ndarray of int64, shape (n_req + 1,)
        CSR row pointers of the candidate arrays (validated: monotone, ends at n_cand).
    cand_video : ndarray of int32, shape (n_cand,)
        Video row of each candidate, ``-1`` for padding (masked).
    cand_aff : ndarray of float32, shape (n_cand,)
        Viewer's topic affinity for the candidate (log-lift).
    cand_rr : ndarray of uint8, shape (n_cand,)
        1 when the viewer is a regular reader of the candidate's creator, else 0
        (any other value reads out of bounds).
    base, boost : ndarray of float64, shape (n_videos,)
        Base score and policy boost per video (log-lift); ``-inf`` masks.
    w_aff, w_rr : float
        Weights of the affinity and regular-reader terms.
    k : int
        Slate size, ``>= 1``.
    n_quota : int
        Slots reserved for new creators' posts; ``<= 0`` for none.
    is_new : ndarray of bool, shape (n_videos,)
        New-creator flag per video (read only when ``n_quota > 0``).
    out_ids : ndarray of int32, shape (n_req, k)
        Receives chosen video rows, padded with ``-1``.
    out_scores : ndarray of float64, shape (n_req, k)
        Receives their scores, padded with ``-inf``.
    """
    n_req = indptr.shape[0] - 1
    n_videos = base.shape[0]
    # total[v + 1] = base[v] + boost[v]; total[0] = -inf masks the padding id -1
    total = np.empty(n_videos + 1, np.float64)
    total[0] = -np.inf
    for v in prange(n_videos):
        total[v + 1] = base[v] + boost[v]
    n_chunks = (n_req + CHUNK - 1) // CHUNK
    for ch in prange(n_chunks):
        r0 = ch * CHUNK
        r1 = min(n_req, r0 + CHUNK)
        width = 0
        for r in range(r0, r1):
            width = max(width, indptr[r + 1] - indptr[r])
        sb = np.empty(width, np.float64)
        cs = np.empty(width + 16, np.float64)
        cp = np.empty(width, np.uint32)
        rk = np.empty(width + 16, np.int64)
        nb = np.empty(width, np.bool_)
        pos = np.empty(k + 1, np.uint32)
        for r in range(r0, r1):
            a = indptr[r]
            n = indptr[r + 1] - a
            # slices: indices from range() are known non-negative, so no wraparound code
            ids = cand_video[a:a + n]
            aff = cand_aff[a:a + n]
            rr = cand_rr[a:a + n]
            # the per-candidate terms in one vectorized pass, then the gathered
            # base + boost added in the pass that also bounds the k-th best score
            for j in range(n):
                sb[j] = w_aff * aff[j] + w_rr * rr[j]
            if k <= 8 and n >= 16:
                bound = _groups_bound8(sb, total, ids, n, True)
            else:
                for j in range(n):
                    sb[j] += total[np.uint64(np.int64(ids[j]) + 1)]
                bound = -np.inf
            m = _rank_select(sb, ids, n, k, cp, cs, rk, pos, bound)
            if n_quota > 0 and m == k:
                for j in range(n):
                    v = ids[j]
                    nb[j] = v >= 0 and is_new[v]
                m = _quota_fixup(sb, ids, nb, n, k, n_quota, pos, m)
            for i in range(m):
                out_ids[r, i] = ids[pos[i]]
                out_scores[r, i] = sb[pos[i]]
            for i in range(m, k):
                out_ids[r, i] = -1
                out_scores[r, i] = -np.inf


@njit(**JIT)
def _candidate_stats(cand_video, cand_aff):
    """One pass for validation: (min id, max id, index of the first non-finite affinity or -1)."""
    n = cand_video.shape[0]
    lo = np.int64(0)
    hi = np.int64(-1)
    if n > 0:
        lo = np.int64(cand_video[0])
        hi = lo
    bad = np.int64(-1)
    for j in range(n):
        v = np.int64(cand_video[j])
        lo = min(lo, v)
        hi = max(hi, v)
    for j in range(n):
        if not np.isfinite(cand_aff[j]):
            bad = j
            break
    return lo, hi, bad
