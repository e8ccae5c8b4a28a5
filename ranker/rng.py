r"""Replayable, counter-based randomness that Numba kernels can call.

Every draw in a simulation is a pure function of
``(seed, stream, a, b, c, k)``: typically ``a`` a user, ``b`` a day and ``c``
a slot, and ``k`` the index of the draw within that slot. Two policies run on
one seed therefore see the same uniforms for the same user and slot (common
random numbers), and the order in which threads visit rows cannot change a
single bit.

The generator hashes the key with the SplitMix64 finaliser (Steele, Lea and
Flood, 2014), a bijection on 64-bit words with full avalanche:

.. math::

   z \leftarrow (z \oplus (z \gg 30)) \cdot \mathtt{0xBF58476D1CE4E5B9},\;
   z \leftarrow (z \oplus (z \gg 27)) \cdot \mathtt{0x94D049BB133111EB},\;
   z \leftarrow z \oplus (z \gg 31)

``key`` chains the finaliser over the fields (each added to the running
state with a distinct odd constant), and ``uniform(key, k)`` returns
:math:`\lfloor \mathrm{mix}(key + (k+1)\,\gamma) / 2^{11} \rfloor \cdot 2^{-53}`
with :math:`\gamma` the golden-ratio increment, so it lies in :math:`[0, 1)`.
A slow pure-Python twin lives in ``tests/reference.py``.

From Python (outside kernels) wrap a key in ``np.uint64`` before passing it
back: Numba returns ``uint64`` as a Python ``int``, which it would retype as
``int64`` on the way in.
"""

import numpy as np

from ranker._numba import JIT, njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_C = (
    np.uint64(0xD1B54A32D192ED03),
    np.uint64(0xAEF17502108EF2D9),
    np.uint64(0xF58D8B2C6B6E8E35),
    np.uint64(0x8CB92BA72F3D8DD7),
    np.uint64(0xA0761D6478BD642F),
)
_C0, _C1, _C2, _C3, _C4 = _C
_INV53 = 1.0 / 9007199254740992.0  # 2**-53

# Named streams. Append only: renumbering one changes every result.
STREAM_ARRIVAL = 1
STREAM_RETRIEVAL = 2
STREAM_BEHAVIOR = 3
STREAM_SHARE = 4
STREAM_THOMPSON = 5
STREAM_RETENTION = 6
STREAM_POSTING = 7
STREAM_WORLD = 8
STREAM_LOG = 9
STREAM_FOLLOW = 10
STREAM_EXPLORE = 11
STREAM_CREATOR = 12  # creators' daily quit draws (sim.creators)
STREAM_SELLER = 13  # which creators sell, their product's price and quality (sim.sellers)
STREAM_COMMERCE = 14  # purchases, returns, complaints and ratings per impression (sim.sellers)
STREAM_LIVE = 15  # live schedules per creator and day, reservations per follower (sim.live)


@njit(**JIT)
def mix64(z):
    """SplitMix64 finaliser of a ``uint64``; a bijection."""
    z = np.uint64(z)
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(**JIT)
def key(seed, stream, a, b, c):
    """Hash ``(seed, stream, a, b, c)`` (non-negative ints) into a ``uint64`` key."""
    z = mix64(np.uint64(seed) + _C0)
    z = mix64(z ^ (np.uint64(stream) + _C1))
    z = mix64(z ^ (np.uint64(a) + _C2))
    z = mix64(z ^ (np.uint64(b) + _C3))
    return mix64(z ^ (np.uint64(c) + _C4))


@njit(**JIT)
def key_prefix(seed, stream, a, b):
    """The hash state of ``(seed, stream, a, b)``: ``key(seed, stream, a, b, c) == key_from(key_prefix(seed, stream, a, b), c)``.

    For kernels that draw many keys differing only in ``c`` (a user's slots in
    one day): four of the five mixing rounds are done once.
    """
    z = mix64(np.uint64(seed) + _C0)
    z = mix64(z ^ (np.uint64(stream) + _C1))
    z = mix64(z ^ (np.uint64(a) + _C2))
    return mix64(z ^ (np.uint64(b) + _C3))


@njit(**JIT)
def key_from(prefix, c):
    """:func:`key` from a :func:`key_prefix` and the last field ``c``."""
    return mix64(np.uint64(prefix) ^ (np.uint64(c) + _C4))


@njit(**JIT)
def uniform(k0, k):
    """The ``k``-th uniform draw in ``[0, 1)`` of key ``k0`` (``k >= 0``)."""
    z = mix64(np.uint64(k0) + np.uint64(k + 1) * _GOLDEN)
    return float(z >> _S11) * _INV53


@njit(**JIT)
def normal(k0, k):
    """A standard normal draw from uniforms ``2k`` and ``2k+1`` of ``k0`` (Box-Muller)."""
    u1 = 1.0 - uniform(k0, 2 * k)  # in (0, 1]
    u2 = uniform(k0, 2 * k + 1)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


@njit(**JIT)
def poisson(k0, k, lam):
    r"""A Poisson(``lam``) draw from uniform ``k`` of ``k0``.

    Exact inversion for ``lam <= 500`` (cost grows with ``lam``; per-tick request
    counts are small); above that, where ``exp(-lam)`` would underflow, the
    normal approximation :math:`\max(0, \mathrm{round}(\lambda + \sqrt{\lambda} z))`
    with ``z`` from uniforms ``2k`` and ``2k+1`` of key ``k0 + 1``.
    """
    if lam > 500.0:
        z = normal(np.uint64(k0) + np.uint64(1), k)
        return max(0, int(np.floor(lam + np.sqrt(lam) * z + 0.5)))
    u = uniform(k0, k)
    p = np.exp(-lam)
    cdf = p
    n = 0
    while u >= cdf and n < 100000:
        n += 1
        p *= lam / n
        if p == 0.0:
            break
        cdf += p
    return n


_C5 = np.uint64(0x9FB21C651E98DF25)


@njit(**JIT)
def subkey(k0, k):
    """The key of the ``k``-th sub-stream of key ``k0``: for draws that use an open-ended run of uniforms.

    A rejection sampler needs as many uniforms as it takes; drawing them from
    ``uniform(subkey(k0, k), j)``, ``j = 0, 1, ...``, keeps draw ``k`` of
    ``k0`` from ever reading the uniforms of another draw.
    """
    return mix64(np.uint64(k0) ^ mix64(np.uint64(k) + _C5))


@njit(**JIT)
def log_gamma(k1, a):
    r"""The log of a Gamma(``a``, 1) draw (``a > 0``) from the uniforms of key ``k1``.

    Marsaglia and Tsang (2000), "A simple method for generating gamma
    variables": with :math:`d = a - 1/3`, :math:`c = 1/\sqrt{9d}`, draw a
    standard normal :math:`x` (Box-Muller from uniforms ``j``, ``j + 1``)
    and :math:`u` (uniform ``j + 2``); with :math:`v = (1 + c x)^3 > 0`
    accept :math:`d v` when :math:`u < 1 - 0.0331 x^4` or
    :math:`\log u < x^2/2 + d(1 - v + \log v)`, else try again with
    ``j + 3``. For :math:`a < 1` the draw is :math:`G_{a+1} U^{1/a}`
    (uniform 0 is :math:`U`, the attempts start at ``j = 1``). The result
    is returned as a logarithm so that tiny shapes, whose draws underflow
    to 0 as doubles, stay finite: :math:`\log G_{a+1} + \log(U)/a`.
    After 1,000 rejected attempts (probability below :math:`10^{-1000}`)
    it returns :math:`\log d`.
    """
    shift = 0.0
    j = 0
    if a < 1.0:
        shift = np.log(1.0 - uniform(k1, 0)) / a  # 1 - u in (0, 1]: log finite
        a = a + 1.0
        j = 1
    d = a - 1.0 / 3.0
    c = 1.0 / np.sqrt(9.0 * d)
    for _ in range(1000):
        u1 = 1.0 - uniform(k1, j)
        u2 = uniform(k1, j + 1)
        x = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
        u = uniform(k1, j + 2)
        j += 3
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        if u < 1.0 - 0.0331 * (x * x) * (x * x):
            return np.log(d * v) + shift
        if np.log(u) < 0.5 * x * x + d * (1.0 - v + np.log(v)):
            return np.log(d * v) + shift
    return np.log(d) + shift


@njit(**JIT)
def log_beta(k0, k, a, b):
    r"""The log of the ``k``-th Beta(``a``, ``b``) draw of key ``k0`` (``a, b > 0``), exactly distributed.

    :math:`\theta = X / (X + Y)` with :math:`X \sim \mathrm{Gamma}(a)` from
    ``subkey(k0, 2k)`` and :math:`Y \sim \mathrm{Gamma}(b)` from
    ``subkey(k0, 2k + 1)`` (:func:`log_gamma`), computed as
    :math:`\log X - \log(X + Y)` in log space, so it is finite (and
    :math:`\le 0`) even where :math:`\theta` itself underflows.
    """
    lx = log_gamma(subkey(k0, 2 * k), a)
    ly = log_gamma(subkey(k0, 2 * k + 1), b)
    # log(X + Y) = max + log1p(exp(-|lx - ly|)): no overflow, no underflow to log(0)
    return lx - (max(lx, ly) + np.log1p(np.exp(-abs(lx - ly))))


@njit(**JIT)
def beta(k0, k, a, b):
    """The ``k``-th Beta(``a``, ``b``) draw of key ``k0``: ``exp(log_beta(k0, k, a, b))``, in [0, 1]."""
    return np.exp(log_beta(k0, k, a, b))


def uniforms(seed, stream, a, b, c, n):
    """``n`` uniforms of one key, as a float64 array (Python convenience)."""
    k0 = np.uint64(key(seed, stream, a, b, c))
    return np.array([uniform(k0, k) for k in range(n)])
