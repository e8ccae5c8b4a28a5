r"""The behaviour model's batch face: many impressions at once, parallel over rows and vectorized.

:func:`simulate_impressions` validates its columns and evaluates the model of
:mod:`sim.behavior` on every row. The engine never calls it (it serves one
impression at a time with :func:`sim.behavior.impression`); it is the Python
API for a batch, what the tests of the model's statistics run on, and what
``benchmarks/behavior.py`` times. :func:`_impression_lanes` is the same model
as :func:`sim.behavior.impression` without data-dependent branches, and
:func:`_exp` / :func:`_log` are exp and log LLVM can vectorize, so the loop
over rows runs several rows per instruction; tests hold both paths equal in
every decision.
"""

from __future__ import annotations

import struct
from numbers import Integral

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from ranker._numba import JIT, PJIT, njit, prange
from ranker.rng import STREAM_BEHAVIOR, key, uniform
from sim.behavior import (D_COMMENT, D_COMPLETE, D_FOLLOW, D_LIKE, D_LOOP, D_LOOP_LEN, D_PLAY, D_RECIPIENTS,
                          D_SHARE, D_WATCH, N_PARAMS, OUTCOME_NAMES, P_LOOP_SPREAD, P_SHARE_MAX_RECIPIENTS,
                          P_VALUE_D, P_VALUE_LOOP, PLAY_SECONDS, REFERENCE_DURATION_S, BehaviorConfig, _affinity,
                          _comment_logit, _complete_logit, _follow_logit, _like_logit, _loop_logit, _loop_seconds,
                          _play_logit, _share_logit, _value_factor, _watch_exponent, behavior_params)


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


@intrinsic
def _fence(typingctx, x):
    """``x`` unchanged, behind ``llvm.arithmetic.fence``: fast-math may not reassociate across it."""
    def codegen(context, builder, signature, args):
        f64 = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.arithmetic.fence", [f64], ir.FunctionType(f64, [f64]))
        return builder.call(fn, args)
    return types.float64(types.float64), codegen


if numba.config.DISABLE_JIT:  # pure-Python paths (CI runs them once)
    def _fma(a, b, c):
        return a * b + c

    def _fence(x):
        return x

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



@njit(inline="always", **JIT)
def _bernoulli_lanes(u, x):
    """:func:`_bernoulli` with the vectorizable exp."""
    return u * (1.0 + _exp(-x)) < 1.0



@njit(inline="always", **JIT)
def _log_affinity_lanes(bp, affinity):
    return _log(_affinity(bp, affinity))



@njit(inline="always", **JIT)
def _partial_watch_lanes(d, t, u):
    """:func:`_partial_watch` with the vectorizable exp and log."""
    # u == 0 would give 0 * -inf when p_c == 1; such a play completes anyway.
    u_e = _exp(_watch_exponent(t) * _log(u)) if u > 0.0 else 0.0
    return PLAY_SECONDS + (d - PLAY_SECONDS) * u_e



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
    ld = _log(d * (1.0 / REFERENCE_DURATION_S))
    play3 = _bernoulli_lanes(uniform(k0, D_PLAY), _play_logit(bp, quality, hook, a, r))
    t = _exp(-_complete_logit(bp, quality, a, r, ld))
    completed = play3 & ((d <= PLAY_SECONDS) | (uniform(k0, D_COMPLETE) * (1.0 + t) < 1.0))
    u = uniform(k0, D_WATCH)
    partial = _partial_watch_lanes(d, t, u)
    watch = (d if completed else partial) if play3 else min(PLAY_SECONDS, d) * u
    looped = completed & _bernoulli_lanes(uniform(k0, D_LOOP), _loop_logit(bp, ld))
    ul = uniform(k0, D_LOOP_LEN)
    spread = bp[P_LOOP_SPREAD]
    # (ul / (1 - ul))^spread, with pow's 0^0 = 1 and 0^s = 0 for s > 0
    odds_pow = _exp(spread * (_log(ul) - _log(1.0 - ul))) if ul > 0.0 else (1.0 if spread == 0.0 else 0.0)
    watch = d + _loop_seconds(bp, d, odds_pow) if looped else watch
    c = 1.0 if completed else 0.0
    liked = play3 & _bernoulli_lanes(uniform(k0, D_LIKE), _like_logit(bp, quality, a, c))
    commented = play3 & _bernoulli_lanes(uniform(k0, D_COMMENT), _comment_logit(bp, quality, a))
    shared = play3 & _bernoulli_lanes(uniform(k0, D_SHARE), _share_logit(bp, quality, shareability))
    n_rec = 1 + int(uniform(k0, D_RECIPIENTS) * bp[P_SHARE_MAX_RECIPIENTS]) if shared else 0
    followed = play3 & (not follower) & _bernoulli_lanes(uniform(k0, D_FOLLOW), _follow_logit(bp, quality, a, c))
    # Fenced factors and an explicit fused multiply-add: fast-math may not reassociate or
    # contract them differently in the vectorized body and the scalar remainder of the loop,
    # so a row's bits do not depend on where a thread's chunk of rows starts.
    seconds = _fma(bp[P_VALUE_LOOP], max(watch - d, 0.0), min(watch, d))
    vps = _fence(_fence(_value_factor(bp, quality, a) * _exp(bp[P_VALUE_D] * ld)) / d)
    value = vps * _fence(seconds)
    return play3, completed, watch, liked, commented, shared, n_rec, followed, value



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
