r"""What each user has been served: a per-user blocked Bloom filter, so no video is served twice.

The feed loop asks, for every candidate of a request, whether the user was
already served that video at any time in the run, and excludes it if so
(``sim._engine_kernels.serve_tick`` asks it of a followed creator's post and an
interest pick as it gathers them, since the answer decides which post or pick
comes next, and of an inbox share or a fresh post only when it reaches the slate:
the same candidates, fewer questions).
Keeping every (user, video) pair exactly would take 4 bytes per impression
and a lookup structure per user; a Bloom filter answers the same question in
about ``bits_per_item / 8`` bytes per impression with **no false negatives**
(a video served before is always recognised, so it is never served again)
and a small, stated rate of **false positives** (a video never served is
taken for seen now and then, and is then simply not a candidate for that
user; nobody sees a repeat because of it).

Layout
------
User :math:`u` owns blocks ``ptr[u] .. ptr[u + 1] - 1`` of ``bits``, each
block 512 bits (8 ``uint64`` words, one cache line). The number of blocks
is fixed before the run from the user's expected impressions
(:func:`filter_blocks`): with activity :math:`a_u` (requests per day) over
:math:`D` days, :math:`\lambda_u = a_u D` requests are expected, and the
filter is sized for :math:`n_u = s\,(\lambda_u + 3\sqrt{\lambda_u} + 1)`
impressions (slate size :math:`s`; requests are Poisson, so at most about
one user in 700 exceeds it), at ``bits_per_item`` bits each:

.. math::

    B_u = \max\bigl(1,\ \lceil n_u\,\mathrm{bits\_per\_item} / 512 \rceil\bigr).

Hashing
-------
Video :math:`v` of user :math:`u` hashes to
:math:`h = \mathrm{mix64}(2^{32} u + v + \mathtt{SALT})` (SplitMix64's
finaliser, :mod:`ranker.rng`). Its block is
:math:`\mathrm{ptr}_u + \lfloor (h \gg 32)\,B_u / 2^{32} \rfloor` and its
:math:`k` bits within the block are 9-bit slices of a chain of hashes,

.. math::

    g_0 = \mathrm{mix64}(h + \gamma),\ g_{j+1} = \mathrm{mix64}(g_j + \gamma),\qquad
    p_i = \lfloor g_{\lfloor i / 7 \rfloor} / 2^{9 (i \bmod 7)} \rfloor \bmod 512,
    \quad i = 0 .. k - 1

(:math:`\gamma` the golden-ratio increment): independent uniform positions,
as the false-positive formula below assumes (double hashing within a
512-bit block was tried first; its positions overlap between videos and
took 2.7 times the stated rate at 16 bits per item). ``add`` sets them,
``has`` tests them all. :math:`k = \mathrm{round}(\mathrm{bits\_per\_item}\ln 2)`
(:func:`n_hashes`), the number that minimises the false-positive rate.

False-positive rate
-------------------
With :math:`n` items in :math:`B` blocks, a block holds
:math:`X \sim \mathrm{Poisson}(n / B)` of them and a never-served video is
taken for seen with probability

.. math::

    \mathrm{FPR} = \mathbb{E}_X\bigl[(1 - (1 - 1/512)^{kX})^k\bigr]

(:func:`false_positive_rate`): 0.96 % at the default 10 bits per item and a
full filter (:math:`k = 7`), against 0.82 % for an unblocked filter; a user
who has had fewer impressions than the filter was sized for sees less.
``tests/test_seen.py`` measures it against this formula.
"""

from __future__ import annotations

import math

import numpy as np

from ranker._numba import JIT, njit
from ranker._vector_ir import prefetch
from ranker.rng import _GOLDEN, mix64

#: Bits per block (one 64-byte cache line).
BLOCK_BITS = 512
#: Words per block.
BLOCK_WORDS = BLOCK_BITS // 64
#: Added to the (user, video) word before hashing (any odd constant; fixed forever).
SALT = np.uint64(0x5BD1E9955BD1E995)


def n_hashes(bits_per_item: float) -> int:
    """Bits set per item: :math:`\\mathrm{round}(\\mathrm{bits\\_per\\_item}\\,\\ln 2)`, at least 1, at most 32."""
    return int(min(32, max(1, round(bits_per_item * math.log(2.0)))))


def filter_blocks(activity, days: int, slate: int, bits_per_item: float) -> np.ndarray:
    r"""Blocks of each user's filter (see the module docstring for the formula).

    Parameters
    ----------
    activity : ndarray of float, shape (n_users,)
        Mean requests per active day.
    days : int
        Simulated days.
    slate : int
        Impressions per request.
    bits_per_item : float
        Bits of filter per expected impression.

    Returns
    -------
    ptr : ndarray of int64, shape (n_users + 1,)
        User ``u`` owns blocks ``ptr[u] .. ptr[u + 1] - 1``.
    """
    lam = np.asarray(activity, np.float64) * days
    n = slate * (lam + 3.0 * np.sqrt(lam) + 1.0)
    blocks = np.maximum(1, np.ceil(n * bits_per_item / BLOCK_BITS)).astype(np.int64)
    ptr = np.zeros(blocks.size + 1, np.int64)
    np.cumsum(blocks, out=ptr[1:])
    return ptr


def new_filter(ptr: np.ndarray) -> np.ndarray:
    """An empty filter for the blocks ``ptr`` describes: uint64, shape (ptr[-1] * 8,), zeros."""
    return np.zeros(int(ptr[-1]) * BLOCK_WORDS, np.uint64)


def false_positive_rate(items_per_block: float, k: int) -> float:
    r"""Expected false-positive rate of a blocked filter holding ``items_per_block`` items per block on average.

    .. math:: \mathrm{FPR} = \sum_{x \ge 0} \frac{e^{-m} m^x}{x!}\,
              \bigl(1 - (1 - 1/512)^{kx}\bigr)^k,\quad m = \text{items\_per\_block}
    """
    m = float(items_per_block)
    if m <= 0.0:
        return 0.0
    top = int(m + 12.0 * math.sqrt(m) + 30.0)
    total = 0.0
    for x in range(top + 1):
        p = math.exp(-m + x * math.log(m) - math.lgamma(x + 1.0))
        total += p * (1.0 - (1.0 - 1.0 / BLOCK_BITS) ** (k * x)) ** k
    return total


@njit(**JIT)
def _slot(ptr, u, v):
    """``(first word of v's block, h)`` for video ``v`` of user ``u``."""
    h = mix64((np.uint64(u) << np.uint64(32)) + np.uint64(v) + SALT)
    nb = np.uint64(ptr[u + 1] - ptr[u])
    block = np.int64(ptr[u]) + np.int64(((h >> np.uint64(32)) * nb) >> np.uint64(32))
    return block * BLOCK_WORDS, h


@njit(**JIT)
def _bit(g, i):
    """``(g, p)``: the ``i``-th of a video's bits, ``p`` in 0..511 of its block; ``g`` is remixed every 7th
    bit (seven 9-bit positions per 64-bit hash). ``seen_has`` and ``seen_add`` walk the same bits."""
    j = i % 7
    if j == 0:
        g = mix64(g + _GOLDEN)
    return g, np.int64((g >> np.uint64(9 * j)) & np.uint64(511))


@njit(**JIT)
def seen_has(bits, ptr, u, v, k):
    """Whether video ``v`` may have been served to user ``u`` (never False for one that was)."""
    w0, g = _slot(ptr, u, v)
    for i in range(k):
        g, p = _bit(g, i)
        if (bits[w0 + (p >> 6)] >> np.uint64(p & 63)) & np.uint64(1) == np.uint64(0):
            return False
    return True


@njit(**JIT)
def seen_add(bits, ptr, u, v, k):
    """Record that video ``v`` was served to user ``u``."""
    w0, g = _slot(ptr, u, v)
    for i in range(k):
        g, p = _bit(g, i)
        bits[w0 + (p >> 6)] |= np.uint64(1) << np.uint64(p & 63)


@njit(**JIT)
def seen_prefetch(bits, ptr, u, v):
    """Start loading video ``v``'s block of user ``u``'s filter (a hint: see ``ranker._vector_ir.prefetch``)."""
    w0, _ = _slot(ptr, u, v)
    prefetch(bits, w0)


#: serve_tick prefetches a user's whole filter when it has at most this many blocks (4 KiB: L1 holds it).
PREFETCH_USER_BLOCKS = 64


@njit(**JIT)
def seen_prefetch_user(bits, ptr, u, max_blocks):
    """Start loading every block of user ``u``'s filter if it has at most ``max_blocks`` (a hint, as
    :func:`seen_prefetch`): serving a user asks the filter dozens of times a request, so loading its few
    lines once, in order, beats waiting for each lookup's random line."""
    lo = ptr[u]
    hi = ptr[u + 1]
    if hi - lo <= max_blocks:
        for b in range(lo, hi):
            prefetch(bits, b * BLOCK_WORDS)
