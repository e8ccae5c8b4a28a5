r"""The behaviour model: (user, video, draws) -> outcomes and latent user value.

One impression is one video shown to one user in one feed slot. The model
draws, in this order of dependence, a 3-second play, completion, watch
seconds, like, comment, share (to a number of friends), follow, and computes
the *latent user value* of the impression: the ground truth the platform
never sees and its signals are a proxy for. Each shared card's recipient then
opens it or not (:func:`recipient_opens`).

Two video traits exist to fool signals:

- *hook* enters only the 3-second play; completion given a play and value do
  not see it, so clickbait (strong hook, weak quality) wins plays and yields
  little or negative value;
- *shareability* enters only the share; recipients open cards on quality and
  their own affinity, so share-bait gets shares nobody opens.

Randomness is common across policies: each outcome of an impression reads its
own fixed draw ``uniform(k0, i)`` of the impression's key
``k0 = key(seed, STREAM_BEHAVIOR, user, day, slot)`` (table in
:func:`impression`), so the same (seed, user, day, slot) sees the same
uniforms whatever the policy served there, and the order in which threads
visit rows cannot change a bit.

Faces:

- :func:`behavior_params` packs a :class:`BehaviorConfig` into the float64
  vector ``bp`` that kernels read (indices ``P_*`` below);
- :func:`impression` and :func:`recipient_opens` are scalar Numba kernels the
  engine calls from inside its own kernel;
- :func:`simulate_impressions` is the validating batch face (parallel over
  rows) for the Python API and the benchmark;
- ``*_probability`` are scalar Numba helpers giving each formula's
  probability, for tests and notebooks.

Slow twins live in ``tests/reference_behavior.py``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, fields
from numbers import Integral

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from ranker._numba import JIT, PJIT, njit, prange
from ranker.params import Section, param
from ranker.rng import STREAM_BEHAVIOR, key, uniform


@dataclass(frozen=True)
class BehaviorConfig(Section):
    r"""Coefficients of the behaviour model (the ``[behavior]`` section).

    Logits: ``b*`` intercepts, ``*_q`` quality, ``*_a`` log-affinity,
    ``*_h`` hook, ``*_s`` shareability, ``*_r`` regular reader, ``*_c``
    completion. See :func:`sim.behavior.impression` for the formulas.

    Regular readers (``rr_*``, applied by the feed loop). Each follow of a
    user :math:`u` to a creator :math:`c` carries an engagement average
    :math:`E`. An impression of one of :math:`c`'s posts to :math:`u` engages
    :math:`e = \tfrac12\,\mathrm{play}_3 + \tfrac12\,\mathrm{completed}` (0,
    0.5 or 1) and moves the average:

    .. math::

        E \leftarrow (1 - \mathrm{rr\_rate})\,E + \mathrm{rr\_rate}\,e

    A follower becomes a regular reader when :math:`E \ge \mathrm{rr\_on}` and
    stops being one when :math:`E < \mathrm{rr\_off}` (``rr_off <= rr_on``: a
    band in which the status does not flicker). A follow made after an
    impression starts at that impression's :math:`e`; a day-0 follow starts at
    :math:`\min(1, n_\mathrm{topics}\,\mathrm{interest}_{u,\mathrm{topic}(c)} / 4)`;
    either is a regular reader from the start if it reaches ``rr_on``. When a
    user's follow slots are full, a new follow replaces the least engaged one.
    At the end of every day, every follow decays,

    .. math::

        E \leftarrow (1 - \mathrm{rr\_decay})\,E,

    and regular readers now below ``rr_off`` stop being regular readers: a
    follower who stopped watching drifts out, although the follow stays.

    Retention (``return_*``, ``satisfaction_rate``). User :math:`u` opens the
    app on day :math:`d` (and only then makes requests) with probability

    .. math::

        P(\mathrm{return}_{u,d}) = \sigma(\mathrm{return\_b} + \mathrm{return\_v}\,S_u),

    drawn from the user's own counter-based stream for that day, so it is the
    same draw under every policy. The satisfaction :math:`S_u` starts at 0 and,
    after each day on which the user saw :math:`n > 0` impressions of total
    latent value :math:`V`, becomes

    .. math::

        S_u \leftarrow (1 - \mathrm{satisfaction\_rate})\,S_u + \mathrm{satisfaction\_rate}\,V / n .
    """

    play_b: float = param(-0.2, "float", -20.0, 20.0, doc="3-second play: intercept (logit)")
    play_h: float = param(0.9, "float", -20.0, 20.0, doc="3-second play: hook coefficient")
    play_q: float = param(0.3, "float", -20.0, 20.0, doc="3-second play: quality coefficient")
    play_a: float = param(0.6, "float", -20.0, 20.0, doc="3-second play: log-affinity coefficient")
    play_r: float = param(0.8, "float", -20.0, 20.0, doc="3-second play: regular-reader coefficient")
    complete_b: float = param(-0.6, "float", -20.0, 20.0, doc="completion given a 3-second play: intercept")
    complete_q: float = param(1.0, "float", -20.0, 20.0, doc="completion: quality coefficient")
    complete_a: float = param(0.5, "float", -20.0, 20.0, doc="completion: log-affinity coefficient")
    complete_r: float = param(0.4, "float", -20.0, 20.0, doc="completion: regular-reader coefficient")
    complete_d: float = param(0.7, "float", 0.0, 20.0, doc="completion: penalty per unit of ln(duration / 30 s)")
    like_b: float = param(-3.0, "float", -20.0, 20.0, doc="like given a 3-second play: intercept")
    like_q: float = param(0.7, "float", -20.0, 20.0, doc="like: quality coefficient")
    like_a: float = param(0.4, "float", -20.0, 20.0, doc="like: log-affinity coefficient")
    like_c: float = param(1.0, "float", -20.0, 20.0, doc="like: completion coefficient")
    comment_b: float = param(-4.5, "float", -20.0, 20.0, doc="comment given a 3-second play: intercept")
    comment_q: float = param(0.5, "float", -20.0, 20.0, doc="comment: quality coefficient")
    comment_a: float = param(0.3, "float", -20.0, 20.0, doc="comment: log-affinity coefficient")
    share_b: float = param(-4.0, "float", -20.0, 20.0, doc="share given a 3-second play: intercept")
    share_s: float = param(1.2, "float", -20.0, 20.0, doc="share: shareability coefficient")
    share_q: float = param(0.4, "float", -20.0, 20.0, doc="share: quality coefficient")
    share_max_recipients: int = param(3, "int", 1, 64, doc="a share goes to 1..this many friends")
    open_b: float = param(-0.8, "float", -20.0, 20.0, doc="recipient opens a shared card: intercept")
    open_q: float = param(0.9, "float", -20.0, 20.0, doc="open: quality coefficient (shareability plays no part)")
    open_a: float = param(0.5, "float", -20.0, 20.0, doc="open: recipient's log-affinity coefficient")
    follow_b: float = param(-5.0, "float", -20.0, 20.0, doc="follow given a 3-second play (non-followers): intercept")
    follow_q: float = param(0.8, "float", -20.0, 20.0, doc="follow: quality coefficient")
    follow_a: float = param(0.4, "float", -20.0, 20.0, doc="follow: log-affinity coefficient")
    follow_c: float = param(1.0, "float", -20.0, 20.0, doc="follow: completion coefficient")
    value_q: float = param(1.0, "float", -20.0, 20.0, doc="latent value: quality coefficient, per unit of watched fraction")
    value_a: float = param(0.5, "float", -20.0, 20.0, doc="latent value: log-affinity coefficient, per unit of watched fraction")
    value_b: float = param(0.0, "float", -20.0, 20.0, doc="latent value: intercept, per unit of watched fraction")
    affinity_floor: float = param(0.05, "float", 0.0, 1.0, lo_open=True, doc="affinity n_topics*interest is floored here before the log")
    rr_rate: float = param(0.3, "float", 0.0, 1.0, lo_open=True, doc="regular readers: weight of the newest impression in a follower's engagement average")
    rr_on: float = param(0.7, "float", 0.0, 1.0, doc="regular readers: a follower whose engagement reaches this becomes a regular reader")
    rr_off: float = param(0.5, "float", 0.0, 1.0, doc="regular readers: a regular reader whose engagement falls below this stops being one")
    rr_decay: float = param(0.05, "float", 0.0, 1.0, doc="regular readers: daily decay of a follower's engagement average")
    return_b: float = param(1.8, "float", -20.0, 20.0, doc="retention: logit of returning on a day, intercept")
    return_v: float = param(2.0, "float", -20.0, 20.0, doc="retention: logit per unit of the user's satisfaction (mean recent value per impression)")
    satisfaction_rate: float = param(0.3, "float", 0.0, 1.0, lo_open=True, doc="retention: weight of the latest day in a user's satisfaction average")

    def check(self):
        if self.rr_off > self.rr_on:
            raise ValueError(
                f"The 'rr_off' parameter of BehaviorConfig must be at most rr_on ({self.rr_on}). "
                f"Got {self.rr_off} instead.")


# --- parameter vector ---------------------------------------------------------

#: Field names of :class:`BehaviorConfig`, in the order of the ``bp`` vector.
PARAM_NAMES = tuple(f.name for f in fields(BehaviorConfig))
_IDX = {name: i for i, name in enumerate(PARAM_NAMES)}
N_PARAMS = len(PARAM_NAMES)

P_PLAY_B = _IDX["play_b"]
P_PLAY_H = _IDX["play_h"]
P_PLAY_Q = _IDX["play_q"]
P_PLAY_A = _IDX["play_a"]
P_PLAY_R = _IDX["play_r"]
P_COMPLETE_B = _IDX["complete_b"]
P_COMPLETE_Q = _IDX["complete_q"]
P_COMPLETE_A = _IDX["complete_a"]
P_COMPLETE_R = _IDX["complete_r"]
P_COMPLETE_D = _IDX["complete_d"]
P_LIKE_B = _IDX["like_b"]
P_LIKE_Q = _IDX["like_q"]
P_LIKE_A = _IDX["like_a"]
P_LIKE_C = _IDX["like_c"]
P_COMMENT_B = _IDX["comment_b"]
P_COMMENT_Q = _IDX["comment_q"]
P_COMMENT_A = _IDX["comment_a"]
P_SHARE_B = _IDX["share_b"]
P_SHARE_S = _IDX["share_s"]
P_SHARE_Q = _IDX["share_q"]
P_SHARE_MAX_RECIPIENTS = _IDX["share_max_recipients"]
P_OPEN_B = _IDX["open_b"]
P_OPEN_Q = _IDX["open_q"]
P_OPEN_A = _IDX["open_a"]
P_FOLLOW_B = _IDX["follow_b"]
P_FOLLOW_Q = _IDX["follow_q"]
P_FOLLOW_A = _IDX["follow_a"]
P_FOLLOW_C = _IDX["follow_c"]
P_VALUE_Q = _IDX["value_q"]
P_VALUE_A = _IDX["value_a"]
P_VALUE_B = _IDX["value_b"]
P_AFFINITY_FLOOR = _IDX["affinity_floor"]
P_RR_RATE = _IDX["rr_rate"]
P_RR_ON = _IDX["rr_on"]
P_RR_OFF = _IDX["rr_off"]
P_RR_DECAY = _IDX["rr_decay"]
P_RETURN_B = _IDX["return_b"]
P_RETURN_V = _IDX["return_v"]
P_SATISFACTION_RATE = _IDX["satisfaction_rate"]

# Draw indices: outcome -> i in uniform(k0, i). Fixed forever (common random
# numbers); 8..15 are reserved, 16 + j is recipient j's open.
D_PLAY = 0
D_COMPLETE = 1
D_WATCH = 2
D_LIKE = 3
D_COMMENT = 4
D_SHARE = 5
D_RECIPIENTS = 6
D_FOLLOW = 7
D_OPEN0 = 16
#: First draw index this module never uses (opens take 16..79, as share_max_recipients <= 64):
#: callers sharing an impression's key (the engine choosing recipients) draw from here on.
D_FREE = D_OPEN0 + 64

#: Seconds that make a "3-second play".
PLAY_SECONDS = 3.0
#: Duration at which the completion logit has no length penalty, seconds.
REFERENCE_DURATION_S = 30.0
#: Floor of the completion probability in the watch-time exponent.
PC_FLOOR = 1e-3

#: Names of the arrays :func:`simulate_impressions` returns, in kernel order.
OUTCOME_NAMES = ("play3", "completed", "watch_s", "liked", "commented", "shared",
                 "n_recipients", "followed", "value")


def behavior_params(cfg: BehaviorConfig) -> np.ndarray:
    """Pack a :class:`BehaviorConfig` into the vector the kernels read.

    Parameters
    ----------
    cfg : BehaviorConfig
        The ``[behavior]`` section.

    Returns
    -------
    bp : ndarray of float64, shape (N_PARAMS,)
        ``bp[P_<FIELD>]`` is field ``<field>`` of ``cfg`` (ints as floats),
        in the order of :data:`PARAM_NAMES`.
    """
    if not isinstance(cfg, BehaviorConfig):
        raise TypeError(f"The 'cfg' parameter of behavior_params must be a BehaviorConfig. Got {cfg!r} instead.")
    return np.array([float(getattr(cfg, name)) for name in PARAM_NAMES], dtype=np.float64)


# --- fast elementary functions -------------------------------------------------
#
# The batch kernel spends most of its time in exp and log. libm calls keep
# LLVM from vectorizing the loop over rows; these versions (fdlibm's
# algorithms: reduction by powers of two, then a short polynomial) are
# straight-line arithmetic and bit casts, with special cases handled by
# selects, within a few ulp of libm (tests check 4e-15 relative). Where rows
# are visited one at a time (impression, in the engine) libm is faster: its
# exp has a shorter dependency chain than this degree-12 polynomial.

@intrinsic
def _f64_bits(typingctx, x):
    """The IEEE-754 bits of a float64, as an int64."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


@intrinsic
def _bits_f64(typingctx, i):
    """The float64 whose IEEE-754 bits are the int64 ``i``."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@intrinsic
def _fma(typingctx, a, b, c):
    """``a * b + c`` with one rounding, and opaque to fast-math reassociation."""
    def codegen(context, builder, signature, args):
        f64 = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.fma", [f64], ir.FunctionType(f64, [f64, f64, f64]))
        return builder.call(fn, args)
    return types.float64(types.float64, types.float64, types.float64), codegen


if numba.config.DISABLE_JIT:  # pure-Python paths (CI runs them once)
    def _fma(a, b, c):
        return a * b + c

    def _f64_bits(x):
        return struct.unpack("<q", struct.pack("<d", x))[0]

    def _bits_f64(i):
        return struct.unpack("<d", struct.pack("<q", i))[0]


_LN2_HI = 6.93147180369123816490e-01  # ln 2, high part (exact times small ints)
_LN2_LO = 1.90821492927058770002e-10  # ln 2 - _LN2_HI
_INV_LN2 = 1.44269504088896338700e+00
_SQRT2 = 1.4142135623730951
_MIN_NORMAL = 2.2250738585072014e-308
_TWO54 = 18014398509481984.0  # 2**54: scales subnormals to normal
_MANTISSA = 0x000FFFFFFFFFFFFF
_ONE_BITS = 0x3FF0000000000000
# fdlibm's e_log.c minimax coefficients of (log((1+s)/(1-s)) - 2s) / s, in s^2.
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01


@njit(**JIT)
def _exp(x):
    r"""e^x, for finite :math:`x \le 708` (saturates above; 0 below -708; NaN stays NaN).

    :math:`e^x = 2^k e^r` with :math:`|r| \le \ln 2 / 2` and :math:`e^r` by its
    Taylor series to degree 12 (truncation below 2.3e-16 relative), evaluated
    by Estrin's scheme.
    """
    xc = x if x > -708.0 else -708.0
    xc = xc if xc < 708.0 else 708.0
    k = np.floor(xc * _INV_LN2 + 0.5)
    # Cody-Waite: k * _LN2_HI is exact; fused, so fast-math cannot merge the two steps.
    r = _fma(-k, _LN2_LO, _fma(-k, _LN2_HI, xc))
    # Estrin's scheme: the same degree-12 polynomial as Horner's, but with a
    # dependency chain of 4 multiply-adds instead of 12, so rows overlap.
    r2 = r * r
    r4 = r2 * r2
    r8 = r4 * r4
    a0 = 1.0 + r
    a1 = 1.0 / 2 + r * (1.0 / 6)
    a2 = 1.0 / 24 + r * (1.0 / 120)
    a3 = 1.0 / 720 + r * (1.0 / 5040)
    a4 = 1.0 / 40320 + r * (1.0 / 362880)
    a5 = 1.0 / 3628800 + r * (1.0 / 39916800)
    b0 = a0 + r2 * a1
    b1 = a2 + r2 * a3
    b2 = a4 + r2 * (a5 + r2 * (1.0 / 479001600))
    p = (b0 + r4 * b1) + r8 * b2
    # Through int32: AVX2 converts int32 <-> float64 in vector registers, not int64.
    y = p * _bits_f64((np.int64(np.int32(k)) + 1023) << 52)
    # Selects, not branches: the loop over rows stays vectorizable.
    y = y if x >= -708.0 else 0.0
    return y if x == x else x


@njit(**JIT)
def _log(x):
    r"""ln x, for any float64 (0 gives -inf, negative or NaN gives NaN, inf gives inf).

    :math:`x = 2^k m` with :math:`m \in [\sqrt{2}/2, \sqrt{2})` and :math:`\ln m` by
    fdlibm's minimax polynomial in :math:`s = (m - 1)/(m + 1)`.
    """
    sub = x < _MIN_NORMAL
    xs = x * _TWO54 if sub else x
    bits = _f64_bits(xs)
    k = (bits >> 52) - (1023 + 54 if sub else 1023)
    m = _bits_f64((bits & _MANTISSA) | _ONE_BITS)
    big = m > _SQRT2
    m = m * 0.5 if big else m
    k = k + 1 if big else k
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    hfsq = 0.5 * f * f
    dk = float(np.int32(k))  # through int32: vectorizable, unlike int64
    y = dk * _LN2_HI - ((hfsq - (s * (hfsq + t1 + t2) + dk * _LN2_LO)) - f)
    # Selects, not branches: the loop over rows stays vectorizable.
    y = y if x < np.inf else x
    y = y if x != 0.0 else -np.inf
    return y if x >= 0.0 else np.nan


@njit(**JIT)
def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


@njit(**JIT)
def _bernoulli(u, x):
    """``u < sigmoid(x)`` for a uniform ``u``, without the division."""
    return u * (1.0 + np.exp(-x)) < 1.0


@njit(inline="always", **JIT)
def _bernoulli_lanes(u, x):
    """:func:`_bernoulli` with the vectorizable exp."""
    return u * (1.0 + _exp(-x)) < 1.0


# --- logits and probabilities ----------------------------------------------------

@njit(**JIT)
def _log_affinity(bp, affinity):
    return np.log(max(affinity, bp[P_AFFINITY_FLOOR]))


@njit(inline="always", **JIT)
def _log_affinity_lanes(bp, affinity):
    return _log(max(affinity, bp[P_AFFINITY_FLOOR]))


@njit(**JIT)
def _play_logit(bp, quality, hook, a, r):
    return bp[P_PLAY_B] + bp[P_PLAY_H] * hook + bp[P_PLAY_Q] * quality + bp[P_PLAY_A] * a + bp[P_PLAY_R] * r


@njit(**JIT)
def _complete_logit(bp, quality, a, r, log_d30):
    return (bp[P_COMPLETE_B] + bp[P_COMPLETE_Q] * quality + bp[P_COMPLETE_A] * a + bp[P_COMPLETE_R] * r
            - bp[P_COMPLETE_D] * log_d30)


@njit(**JIT)
def _like_logit(bp, quality, a, c):
    return bp[P_LIKE_B] + bp[P_LIKE_Q] * quality + bp[P_LIKE_A] * a + bp[P_LIKE_C] * c


@njit(**JIT)
def _comment_logit(bp, quality, a):
    return bp[P_COMMENT_B] + bp[P_COMMENT_Q] * quality + bp[P_COMMENT_A] * a


@njit(**JIT)
def _share_logit(bp, quality, shareability):
    return bp[P_SHARE_B] + bp[P_SHARE_S] * shareability + bp[P_SHARE_Q] * quality


@njit(**JIT)
def _follow_logit(bp, quality, a, c):
    return bp[P_FOLLOW_B] + bp[P_FOLLOW_Q] * quality + bp[P_FOLLOW_A] * a + bp[P_FOLLOW_C] * c


@njit(**JIT)
def _value_factor(bp, quality, a):
    return bp[P_VALUE_B] + bp[P_VALUE_Q] * quality + bp[P_VALUE_A] * a


@njit(**JIT)
def _watch_exponent(t):
    """``(1 - p_c) / max(p_c, 1e-3)`` from ``t = e^{-x_c} = (1 - p_c) / p_c``, with one division."""
    return t * min(1.0, (1.0 / PC_FLOOR) / (1.0 + t))


@njit(**JIT)
def _partial_watch(d, t, u):
    """Seconds watched by a play of a ``d``-second video that does not complete (``t`` as above)."""
    return PLAY_SECONDS + (d - PLAY_SECONDS) * u ** _watch_exponent(t)


@njit(inline="always", **JIT)
def _partial_watch_lanes(d, t, u):
    """:func:`_partial_watch` with the vectorizable exp and log."""
    # u == 0 would give 0 * -inf when p_c == 1; such a play completes anyway.
    u_e = _exp(_watch_exponent(t) * _log(u)) if u > 0.0 else 0.0
    return PLAY_SECONDS + (d - PLAY_SECONDS) * u_e


@njit(**JIT)
def _open_logit(bp, quality, a):
    return bp[P_OPEN_B] + bp[P_OPEN_Q] * quality + bp[P_OPEN_A] * a


@njit(**JIT)
def play_probability(bp, quality, hook, affinity, regular):
    r"""Probability of a 3-second play.

    .. math:: p_3 = \sigma(\mathrm{play\_b} + \mathrm{play\_h}\,\mathrm{hook}
              + \mathrm{play\_q}\,q + \mathrm{play\_a}\,a + \mathrm{play\_r}\,r),
              \quad a = \ln\max(\mathrm{affinity}, \mathrm{affinity\_floor})

    Scalars: ``bp`` from :func:`behavior_params`; ``quality``, ``hook``
    (latent units); ``affinity`` (``n_topics * interest``, mean 1);
    ``regular`` (bool: the viewer is a regular reader of the creator).
    """
    return _sigmoid(_play_logit(bp, quality, hook, _log_affinity(bp, affinity), 1.0 if regular else 0.0))


@njit(**JIT)
def completion_probability(bp, quality, affinity, regular, duration_s):
    r"""Probability of completion given a 3-second play (the hook plays no part).

    .. math:: p_c = \sigma\bigl(\mathrm{complete\_b} + \mathrm{complete\_q}\,q
              + \mathrm{complete\_a}\,a + \mathrm{complete\_r}\,r
              - \mathrm{complete\_d}\ln(d / 30)\bigr)

    ``duration_s`` (:math:`d`) is the video's length in seconds. For
    :math:`d \le 3` a play is a completion and the function returns 1.
    """
    if duration_s <= PLAY_SECONDS:
        return 1.0
    return _sigmoid(_complete_logit(bp, quality, _log_affinity(bp, affinity), 1.0 if regular else 0.0,
                                    np.log(duration_s / REFERENCE_DURATION_S)))


@njit(**JIT)
def like_probability(bp, quality, affinity, completed):
    r"""Probability of a like given a play.

    .. math:: p_l = \sigma(\mathrm{like\_b} + \mathrm{like\_q}\,q + \mathrm{like\_a}\,a
              + \mathrm{like\_c}\,\mathrm{completed})
    """
    return _sigmoid(_like_logit(bp, quality, _log_affinity(bp, affinity), 1.0 if completed else 0.0))


@njit(**JIT)
def comment_probability(bp, quality, affinity):
    r"""Probability of a comment given a play.

    .. math:: p_m = \sigma(\mathrm{comment\_b} + \mathrm{comment\_q}\,q + \mathrm{comment\_a}\,a)
    """
    return _sigmoid(_comment_logit(bp, quality, _log_affinity(bp, affinity)))


@njit(**JIT)
def share_probability(bp, quality, shareability):
    r"""Probability of a share given a play.

    .. math:: p_s = \sigma(\mathrm{share\_b} + \mathrm{share\_s}\,\mathrm{shareability}
              + \mathrm{share\_q}\,q)
    """
    return _sigmoid(_share_logit(bp, quality, shareability))


@njit(**JIT)
def follow_probability(bp, quality, affinity, completed):
    r"""Probability that a viewer who is not yet a follower follows, given a play.

    .. math:: p_f = \sigma(\mathrm{follow\_b} + \mathrm{follow\_q}\,q + \mathrm{follow\_a}\,a
              + \mathrm{follow\_c}\,\mathrm{completed})
    """
    return _sigmoid(_follow_logit(bp, quality, _log_affinity(bp, affinity), 1.0 if completed else 0.0))


@njit(**JIT)
def open_probability(bp, quality, recipient_affinity):
    r"""Probability that a recipient opens a shared card.

    .. math:: p_o = \sigma(\mathrm{open\_b} + \mathrm{open\_q}\,q + \mathrm{open\_a}\,a_r)

    with :math:`a_r` the log of the recipient's floored affinity for the
    video's topic. Shareability plays no part.
    """
    return _sigmoid(_open_logit(bp, quality, _log_affinity(bp, recipient_affinity)))


# --- the scalar kernels ---------------------------------------------------------------

@njit(inline="always", **JIT)
def impression(bp, quality, hook, shareability, duration_s, affinity, follower, regular, k0):
    r"""Outcomes and latent value of one impression.

    With :math:`\sigma` the logistic function, :math:`q` the video's latent
    quality, :math:`a = \ln\max(\mathrm{affinity}, \mathrm{affinity\_floor})`,
    :math:`r` = ``regular`` (0 or 1), :math:`d` the duration in seconds and
    :math:`u_i` = ``uniform(k0, i)``:

    .. math::

       p_3 &= \sigma(\mathrm{play\_b} + \mathrm{play\_h}\,\mathrm{hook}
              + \mathrm{play\_q}\,q + \mathrm{play\_a}\,a + \mathrm{play\_r}\,r),
       \qquad \mathrm{play3} = [u_0 < p_3] \\
       p_c &= \sigma\bigl(\mathrm{complete\_b} + \mathrm{complete\_q}\,q
              + \mathrm{complete\_a}\,a + \mathrm{complete\_r}\,r
              - \mathrm{complete\_d}\ln(d/30)\bigr),
       \qquad \mathrm{completed} = \mathrm{play3} \wedge ([d \le 3] \vee [u_1 < p_c]) \\
       w &= \begin{cases}
              \min(3, d)\,u_2 & \text{no play} \\
              d & \text{completed} \\
              3 + (d - 3)\,u_2^{(1 - p_c)/\max(p_c,\,10^{-3})} & \text{otherwise}
            \end{cases} \\
       p_l &= \sigma(\mathrm{like\_b} + \mathrm{like\_q}\,q + \mathrm{like\_a}\,a
              + \mathrm{like\_c}\,\mathrm{completed}),
       \qquad \mathrm{liked} = \mathrm{play3} \wedge [u_3 < p_l] \\
       p_m &= \sigma(\mathrm{comment\_b} + \mathrm{comment\_q}\,q + \mathrm{comment\_a}\,a),
       \qquad \mathrm{commented} = \mathrm{play3} \wedge [u_4 < p_m] \\
       p_s &= \sigma(\mathrm{share\_b} + \mathrm{share\_s}\,\mathrm{shareability}
              + \mathrm{share\_q}\,q),
       \qquad \mathrm{shared} = \mathrm{play3} \wedge [u_5 < p_s] \\
       n_{\mathrm{rec}} &= 1 + \lfloor u_6\,\mathrm{share\_max\_recipients} \rfloor
       \text{ if shared, else } 0 \\
       p_f &= \sigma(\mathrm{follow\_b} + \mathrm{follow\_q}\,q + \mathrm{follow\_a}\,a
              + \mathrm{follow\_c}\,\mathrm{completed}),
       \qquad \mathrm{followed} = \mathrm{play3} \wedge \neg\mathrm{follower} \wedge [u_7 < p_f] \\
       v &= \frac{w}{d}\,(\mathrm{value\_b} + \mathrm{value\_q}\,q + \mathrm{value\_a}\,a)

    A viewer who does not play leaves within the first three seconds (or
    the whole video, if shorter) at a uniform point. The watch time of a
    play that does not complete has mean :math:`3 + (d - 3)\,p_c` when
    :math:`p_c \ge 10^{-3}` (as :math:`E[u^e] = 1/(1+e)`) and, for a fixed
    draw, grows with :math:`p_c`. The hook enters :math:`p_3` only: given a play,
    completion, watch time and value do not depend on it, so clickbait (high
    hook, low quality) wins plays but earns little or negative value.
    Shareability enters :math:`p_s` only.

    Draw table (index ``i`` of ``uniform(k0, i)``; fixed, so the same key
    gives the same draws whatever was served):

    ====  ==============================
    i     outcome
    ====  ==============================
    0     3-second play
    1     completion
    2     watch position
    3     like
    4     comment
    5     share
    6     number of recipients
    7     follow
    8-15  reserved
    16+j  recipient j opens (:func:`recipient_opens`), j < 64
    80-   free for callers (:data:`D_FREE`)
    ====  ==============================

    Parameters
    ----------
    bp : ndarray of float64, shape (N_PARAMS,)
        From :func:`behavior_params`.
    quality, hook, shareability : float
        The video's latent traits (latent units).
    duration_s : float
        The video's length, seconds, > 0.
    affinity : float
        ``n_topics * interest[user, topic]`` (mean 1 over topics), >= 0.
    follower, regular : bool
        The user follows the creator; the user is a regular reader of the
        creator (implies ``follower``).
    k0 : uint64
        ``key(seed, STREAM_BEHAVIOR, user, day, slot)``.

    Returns
    -------
    play3, completed : bool
    watch_s : float
        Seconds watched, in ``[0, d]``.
    liked, commented, shared : bool
    n_recipients : int
        In ``1..share_max_recipients`` when shared, else 0 (the engine caps
        it by the friend count).
    followed : bool
        Always False when ``follower``.
    value : float
        Latent user value of the impression.

    Notes
    -----
    :math:`[u < \sigma(x)]` is evaluated as :math:`u\,(1 + e^{-x}) < 1` (no
    division). The batch kernel evaluates the same formulas without
    branches and with inlined polynomial exp and log (within 4e-15 relative
    of libm), so its watch time and value may differ from this function's in
    the last digits, and a decision only when a draw lies within rounding of
    its threshold (about 1e-15 per decision); tests find both identical to
    the slow twin in every decision.
    """
    # Branches skip what a row does not need (most impressions are not
    # played): the fastest form where rows are visited one by one, as in the
    # engine. _impression_lanes is the same model without branches, for loops
    # that LLVM vectorizes. Draws are pure functions of their index, so
    # skipping one changes nothing else.
    d = duration_s
    r = 1.0 if regular else 0.0
    a = _log_affinity(bp, affinity)
    vfac = _value_factor(bp, quality, a)
    if not _bernoulli(uniform(k0, D_PLAY), _play_logit(bp, quality, hook, a, r)):
        watch = min(PLAY_SECONDS, d) * uniform(k0, D_WATCH)
        return False, False, watch, False, False, False, 0, False, vfac * (watch / d)
    if d <= PLAY_SECONDS:
        completed = True
        watch = d
    else:
        t = np.exp(-_complete_logit(bp, quality, a, r, np.log(d * (1.0 / REFERENCE_DURATION_S))))
        completed = uniform(k0, D_COMPLETE) * (1.0 + t) < 1.0
        watch = d if completed else _partial_watch(d, t, uniform(k0, D_WATCH))
    c = 1.0 if completed else 0.0
    liked = _bernoulli(uniform(k0, D_LIKE), _like_logit(bp, quality, a, c))
    commented = _bernoulli(uniform(k0, D_COMMENT), _comment_logit(bp, quality, a))
    shared = _bernoulli(uniform(k0, D_SHARE), _share_logit(bp, quality, shareability))
    n_rec = 1 + int(uniform(k0, D_RECIPIENTS) * bp[P_SHARE_MAX_RECIPIENTS]) if shared else 0
    followed = False
    if not follower:
        followed = _bernoulli(uniform(k0, D_FOLLOW), _follow_logit(bp, quality, a, c))
    return True, completed, watch, liked, commented, shared, n_rec, followed, vfac * (watch / d)


@njit(inline="always", **JIT)
def _impression_lanes(bp, quality, hook, shareability, duration_s, affinity, follower, regular, k0):
    """:func:`impression` without data-dependent branches, for the vectorized batch kernel.

    Every formula is evaluated and outcomes are masked with selects, so LLVM
    vectorizes the loop over rows (4 rows per AVX2 instruction); same
    formulas and same draws as :func:`impression` (tests hold them equal).
    Vectorizing needs every call below inlined: a helper LLVM declines to
    inline (``_partial_watch`` was one) costs 2.5x; ``benchmarks/behavior.py``
    shows it.
    """
    d = duration_s
    r = 1.0 if regular else 0.0
    a = _log_affinity_lanes(bp, affinity)
    play3 = _bernoulli_lanes(uniform(k0, D_PLAY), _play_logit(bp, quality, hook, a, r))
    t = _exp(-_complete_logit(bp, quality, a, r, _log(d * (1.0 / REFERENCE_DURATION_S))))
    completed = play3 & ((d <= PLAY_SECONDS) | (uniform(k0, D_COMPLETE) * (1.0 + t) < 1.0))
    u = uniform(k0, D_WATCH)
    partial = _partial_watch_lanes(d, t, u)
    watch = (d if completed else partial) if play3 else min(PLAY_SECONDS, d) * u
    c = 1.0 if completed else 0.0
    liked = play3 & _bernoulli_lanes(uniform(k0, D_LIKE), _like_logit(bp, quality, a, c))
    commented = play3 & _bernoulli_lanes(uniform(k0, D_COMMENT), _comment_logit(bp, quality, a))
    shared = play3 & _bernoulli_lanes(uniform(k0, D_SHARE), _share_logit(bp, quality, shareability))
    n_rec = 1 + int(uniform(k0, D_RECIPIENTS) * bp[P_SHARE_MAX_RECIPIENTS]) if shared else 0
    followed = play3 & (not follower) & _bernoulli_lanes(uniform(k0, D_FOLLOW), _follow_logit(bp, quality, a, c))
    value = _value_factor(bp, quality, a) * (watch / d)
    return play3, completed, watch, liked, commented, shared, n_rec, followed, value


@njit(**JIT)
def recipient_opens(bp, quality, recipient_affinity, k0, j):
    r"""Whether the ``j``-th recipient of a shared card opens it.

    .. math:: \mathrm{opens} = [u_{16+j} < \sigma(\mathrm{open\_b} + \mathrm{open\_q}\,q
              + \mathrm{open\_a}\,a_r)]

    with :math:`a_r` the log of the recipient's floored affinity for the
    video's topic. Shareability plays no part: share-bait earns shares that
    nobody opens.

    Parameters
    ----------
    bp : ndarray of float64, shape (N_PARAMS,)
        From :func:`behavior_params`.
    quality : float
        The video's latent quality.
    recipient_affinity : float
        ``n_topics * interest[recipient, topic]``, >= 0.
    k0 : uint64
        The *sharer's* impression key (``key(seed, STREAM_BEHAVIOR, user, day, slot)``).
    j : int
        Recipient index, ``0 <= j < share_max_recipients``.

    Returns
    -------
    bool
    """
    return _bernoulli(uniform(k0, D_OPEN0 + j), _open_logit(bp, quality, _log_affinity(bp, recipient_affinity)))


# --- batch face -------------------------------------------------------------------

#: dtype of each array :func:`simulate_impressions` returns.
OUTCOME_DTYPES = {"play3": np.bool_, "completed": np.bool_, "watch_s": np.float64, "liked": np.bool_,
                  "commented": np.bool_, "shared": np.bool_, "n_recipients": np.int32,
                  "followed": np.bool_, "value": np.float64}


@njit(**PJIT)
def _simulate_into(bp, quality, hook, shareability, duration_s, affinity, follower, regular,
                   seed, users, day, slots,
                   play3, completed, watch_s, liked, commented, shared, n_recipients, followed, value):
    # Rows are independent and each writes only its own outputs: the result
    # cannot depend on the thread count or the order rows are visited.
    for i in prange(quality.shape[0]):
        k0 = key(seed, STREAM_BEHAVIOR, users[i], day, slots[i])
        p, c, w, lk, cm, sh, nr, fo, v = _impression_lanes(bp, quality[i], hook[i], shareability[i],
                                                           duration_s[i], affinity[i], follower[i], regular[i], k0)
        play3[i] = p
        completed[i] = c
        watch_s[i] = w
        liked[i] = lk
        commented[i] = cm
        shared[i] = sh
        n_recipients[i] = nr
        followed[i] = fo
        value[i] = v


def empty_outcomes(n: int) -> dict:
    """Uninitialised output arrays for ``n`` impressions, to pass as ``out=`` to :func:`simulate_impressions`.

    Returns
    -------
    dict of str to ndarray, each of shape (n,)
        Keys :data:`OUTCOME_NAMES`, dtypes :data:`OUTCOME_DTYPES`.
    """
    n = _check_int("n", n, where="empty_outcomes")
    return {name: np.empty(n, OUTCOME_DTYPES[name]) for name in OUTCOME_NAMES}


def _as_params(bp_or_cfg):
    if isinstance(bp_or_cfg, BehaviorConfig):
        return behavior_params(bp_or_cfg)
    if not isinstance(bp_or_cfg, np.ndarray):
        raise TypeError("The 'bp_or_cfg' parameter of simulate_impressions must be a BehaviorConfig or a "
                        f"float64 array from behavior_params. Got {type(bp_or_cfg).__name__} instead.")
    if bp_or_cfg.dtype != np.float64 or bp_or_cfg.shape != (N_PARAMS,):
        raise ValueError("The 'bp_or_cfg' parameter of simulate_impressions must have dtype float64 and "
                         f"shape ({N_PARAMS},) (use behavior_params). Got dtype {bp_or_cfg.dtype} and "
                         f"shape {bp_or_cfg.shape} instead.")
    return np.ascontiguousarray(bp_or_cfg)


def _check_int(name, value, lo=0, where="simulate_impressions"):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral):
        raise TypeError(f"The {name!r} parameter of {where} must be an int >= {lo}. Got {value!r} instead.")
    value = int(value)
    if not lo <= value <= 2**63 - 1:
        raise ValueError(f"The {name!r} parameter of {where} must be an int in the range "
                         f"[{lo}, {2**63 - 1}]. Got {value!r} instead.")
    return value


def _column(name, x, n, kind):
    """``x`` as a contiguous 1-D array of length ``n`` (``None``: any) for the kernel, or a clear error.

    Values are checked afterwards, all columns in one pass (:func:`_count_bad_rows`).
    """
    head = f"The {name!r} parameter of simulate_impressions"
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"{head} must be a 1-D array (one row per impression). Got shape {x.shape} instead.")
    if n is not None and x.shape[0] != n:
        raise ValueError(f"{head} must have length {n}, like 'quality'. Got length {x.shape[0]} instead.")
    if kind == "bool":
        if x.dtype != np.bool_:
            raise TypeError(f"{head} must be a bool array. Got dtype {x.dtype} instead.")
        return np.ascontiguousarray(x)
    if kind == "int":
        if not np.issubdtype(x.dtype, np.integer):
            raise TypeError(f"{head} must be an integer array. Got dtype {x.dtype} instead.")
        if x.dtype == np.uint64 and x.size and x.max() > 2**63 - 1:
            raise ValueError(f"{head} must be at most 2**63 - 1. Got a maximum of {x.max()} instead.")
        return np.ascontiguousarray(x, dtype=np.int64)
    if x.dtype == np.bool_ or not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise TypeError(f"{head} must be a real-valued array. Got dtype {x.dtype} instead.")
    return np.ascontiguousarray(x, dtype=np.float64)


@njit(**JIT)
def _count_bad_rows(quality, hook, shareability, duration_s, affinity, follower, regular, users, slots):
    # One fused, vectorizable pass (a count, not an early exit); the error
    # message is worked out by _raise_bad_rows only when this is non-zero.
    bad = 0
    for i in range(quality.shape[0]):
        ok = ((abs(quality[i]) < np.inf) & (abs(hook[i]) < np.inf) & (abs(shareability[i]) < np.inf)
              & (duration_s[i] > 0.0) & (duration_s[i] < np.inf) & (affinity[i] >= 0.0) & (affinity[i] < np.inf)
              & (users[i] >= 0) & (slots[i] >= 0) & (follower[i] | (not regular[i])))
        bad += 0 if ok else 1
    return bad


def _raise_bad_rows(quality, hook, shareability, duration_s, affinity, follower, regular, users, slots):
    for name, x in (("quality", quality), ("hook", hook), ("shareability", shareability),
                    ("duration_s", duration_s), ("affinity", affinity)):
        if not np.isfinite(x).all():
            raise ValueError(f"The {name!r} parameter of simulate_impressions must be finite. "
                             f"Got {int(np.count_nonzero(~np.isfinite(x)))} NaN or inf value(s) instead.")
    if duration_s.min() <= 0.0:
        raise ValueError("The 'duration_s' parameter of simulate_impressions must be > 0 seconds. "
                         f"Got a minimum of {float(duration_s.min())!r} instead.")
    if affinity.min() < 0.0:
        raise ValueError("The 'affinity' parameter of simulate_impressions must be >= 0. "
                         f"Got a minimum of {float(affinity.min())!r} instead.")
    for name, x in (("users", users), ("slots", slots)):
        if x.min() < 0:
            raise ValueError(f"The {name!r} parameter of simulate_impressions must be non-negative. "
                             f"Got a minimum of {x.min()} instead.")
    bad = regular & ~follower
    raise ValueError("The 'regular' parameter of simulate_impressions must imply 'follower'. "
                     f"Got {int(np.count_nonzero(bad))} row(s) regular but not follower instead.")


def _check_out(out, n):
    if not isinstance(out, dict) or set(out) != set(OUTCOME_NAMES):
        raise TypeError("The 'out' parameter of simulate_impressions must be a dict with keys "
                        f"{list(OUTCOME_NAMES)} (see empty_outcomes). Got {out!r:.80} instead.")
    for name in OUTCOME_NAMES:
        x = out[name]
        ok = (isinstance(x, np.ndarray) and x.dtype == OUTCOME_DTYPES[name] and x.shape == (n,)
              and x.flags.c_contiguous and x.flags.writeable)
        if not ok:
            raise ValueError(f"The 'out' parameter of simulate_impressions must hold, under {name!r}, a writeable "
                             f"contiguous {np.dtype(OUTCOME_DTYPES[name])} array of shape ({n},) "
                             "(see empty_outcomes). Got something else instead.")
    return out


def simulate_impressions(bp_or_cfg, quality, hook, shareability, duration_s, affinity, follower, regular,
                         seed, users, day, slots, out=None):
    """Outcomes and latent value of a batch of impressions (parallel over rows).

    Row ``i`` is user ``users[i]`` shown, in slot ``slots[i]`` of day
    ``day``, a video with traits ``quality[i]``, ``hook[i]``, ... Its draws
    come from ``key(seed, STREAM_BEHAVIOR, users[i], day, slots[i])``, so a
    row's outcome depends only on its own inputs and key: never on other
    rows, on the thread count or on the order rows are visited. See
    :func:`impression` for the formulas.

    Parameters
    ----------
    bp_or_cfg : BehaviorConfig or ndarray of float64, shape (N_PARAMS,)
        The model's coefficients (a config, or :func:`behavior_params` of one).
    quality, hook, shareability : array_like of float, shape (n,)
        The shown video's latent traits (latent units), finite; converted
        to float64.
    duration_s : array_like of float, shape (n,)
        The shown video's length, seconds, > 0.
    affinity : array_like of float, shape (n,)
        ``n_topics * interest[user, topic]`` (mean 1 over topics), >= 0;
        floored at ``affinity_floor`` before the log.
    follower, regular : ndarray of bool, shape (n,)
        The user follows / is a regular reader of the video's creator;
        ``regular`` implies ``follower``.
    seed : int
        Run seed, >= 0.
    users : array_like of int, shape (n,)
        User rows, >= 0 (key field ``a``).
    day : int
        Simulated day, >= 0 (key field ``b``).
    slots : array_like of int, shape (n,)
        Slot of the impression within the user's day, >= 0 (key field
        ``c``). Rows with the same ``(users[i], slots[i])`` share draws.
    out : dict of ndarray, optional
        Arrays to write into (from :func:`empty_outcomes` or an earlier
        call); saves allocating, and page-faulting, fresh memory per call.

    Returns
    -------
    dict of str to ndarray, each of shape (n,)
        ``play3``, ``completed``, ``liked``, ``commented``, ``shared``,
        ``followed`` (bool); ``watch_s`` (float64, seconds, in [0, d]);
        ``n_recipients`` (int32, 1..share_max_recipients if shared, else 0);
        ``value`` (float64, latent user value). ``out`` itself when given.

    Raises
    ------
    TypeError, ValueError
        Naming the parameter, when an input has the wrong type, shape or
        value (checked once, before any work).
    """
    bp = _as_params(bp_or_cfg)
    quality = _column("quality", quality, None, "float")
    n = quality.shape[0]
    hook = _column("hook", hook, n, "float")
    shareability = _column("shareability", shareability, n, "float")
    duration_s = _column("duration_s", duration_s, n, "float")
    affinity = _column("affinity", affinity, n, "float")
    follower = _column("follower", follower, n, "bool")
    regular = _column("regular", regular, n, "bool")
    users = _column("users", users, n, "int")
    slots = _column("slots", slots, n, "int")
    seed = _check_int("seed", seed)
    day = _check_int("day", day)
    cols = (quality, hook, shareability, duration_s, affinity, follower, regular, users, slots)
    if _count_bad_rows(*cols):
        _raise_bad_rows(*cols)
    out = empty_outcomes(n) if out is None else _check_out(out, n)
    _simulate_into(bp, quality, hook, shareability, duration_s, affinity, follower, regular, seed, users, day,
                   slots, *(out[name] for name in OUTCOME_NAMES))
    return out
