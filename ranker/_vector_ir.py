"""Two hand-written vector LLVM IR helpers of the top-k selection, and their plain-loop twins.

:mod:`ranker._score_kernels` ranks up to 16 survivors at once (:func:`rank16`)
and builds its survivor mask 8 scores at a time (:func:`mask_ge8`). Numba's
own loop vectorizer does not find these forms (it has no SLP vectorizer, and
vectorizes :func:`rank16_loop` over the wrong loop, leaving 16 horizontal
sums), so they are written as vector IR with :func:`numba.extending.intrinsic`.

IR cannot run in Python, so when the JIT is off (``NUMBA_DISABLE_JIT=1``)
the same names are the plain loops, and every kernel still runs as pure
Python. ``RANKSIM_VECTOR_IR=0`` selects the plain loops with the JIT on: what
``benchmarks/scoring.py`` compares the IR against (the choice is part of
Numba's cache key, see :mod:`ranker._numba`). Results are the same bits
either way (tests hold each IR helper equal to its loop).
"""

import os

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ranker._numba import JIT, njit

#: True when :func:`rank16` and :func:`mask_ge8` are the vector IR, False when they are the loops.
ENABLED = not numba.config.DISABLE_JIT and os.environ.get("RANKSIM_VECTOR_IR", "1") != "0"


def _vec_ptr(builder, base, i, ty):
    """LLVM IR: ``&base[i]`` (``i`` an i64 value) as a pointer to the vector type ``ty``."""
    return builder.bitcast(builder.gep(base, [i]), ty.as_pointer())


def _splat(builder, value, ty):
    """LLVM IR: the scalar ``value`` in every lane of the vector type ``ty``."""
    i32 = ir.IntType(32)
    one = builder.insert_element(ir.Constant(ty, ir.Undefined), value, ir.Constant(i32, 0))
    return builder.shuffle_vector(one, one, ir.Constant(ir.VectorType(i32, ty.count), None))


@intrinsic
def rank16_ir(typingctx, cs, c, rk):
    """``rk[i]`` = the number of ``j < c`` with ``cs[j] > cs[i]``, for every ``i < 16``.

    ``cs`` (float64, length ``>= max(c, 16)``) and ``rk`` (int64, length ``>= 16``)
    are contiguous. Written as vector IR: ``cs[:16]`` sits in two 8-lane registers
    and each survivor ``j`` adds its comparison with all 16 at once (two vector
    compares and two adds; Numba runs no SLP vectorizer, and its loop vectorizer
    would vectorize over ``j`` instead, leaving 16 horizontal sums).
    """
    ok = (isinstance(cs, types.Array) and cs.dtype == types.float64 and cs.ndim == 1 and cs.layout == "C"
          and isinstance(rk, types.Array) and rk.dtype == types.int64 and rk.ndim == 1 and rk.layout == "C"
          and isinstance(c, types.Integer))
    if not ok:
        return None

    def codegen(context, builder, sig, args):
        cs_v, c_v, rk_v = args
        src = context.make_array(sig.args[0])(context, builder, cs_v).data
        dst = context.make_array(sig.args[2])(context, builder, rk_v).data
        i64 = ir.IntType(64)
        vf = ir.VectorType(ir.DoubleType(), 8)
        vi = ir.VectorType(i64, 8)
        x = [builder.load(_vec_ptr(builder, src, ir.Constant(i64, i), vf), align=8) for i in (0, 8)]
        acc = [cgutils.alloca_once_value(builder, ir.Constant(vi, None)) for _ in x]
        n = context.cast(builder, c_v, sig.args[1], types.int64)
        with cgutils.for_range(builder, n) as loop:
            sv = _splat(builder, builder.load(builder.gep(src, [loop.index])), vf)
            for xi, ai in zip(x, acc):
                gt = builder.zext(builder.fcmp_ordered(">", sv, xi), vi)
                builder.store(builder.add(builder.load(ai), gt), ai)
        for i, ai in zip((0, 8), acc):
            builder.store(builder.load(ai), _vec_ptr(builder, dst, ir.Constant(i64, i), vi), align=8)
        return context.get_dummy_value()

    return types.void(cs, c, rk), codegen


@njit(inline="always", **JIT)
def rank16_loop(cs, c, rk):
    """:func:`rank16_ir` as a plain loop (the same ranks)."""
    for i in range(16):
        gt = 0
        for j in range(c):
            gt += cs[j] > cs[i]
        rk[i] = gt


@intrinsic
def mask_ge8_ir(typingctx, x, n, thr):
    """Bit ``j`` set when ``x[j] >= thr``, for ``j < n // 8 * 8`` (``n <= 64``; a uint64).

    Written as vector IR: one 8-lane compare per block of 8, its 8-bit mask
    shifted into place (Numba's loop vectorizer widens each comparison to a
    64-bit lane, shifts it by a vector of shifts and reduces the lanes).
    """
    ok = (isinstance(x, types.Array) and x.dtype == types.float64 and x.ndim == 1 and x.layout == "C"
          and isinstance(n, types.Integer) and isinstance(thr, types.Float))
    if not ok:
        return None

    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        nn = context.cast(builder, args[1], sig.args[1], types.int64)
        t = context.cast(builder, args[2], sig.args[2], types.float64)
        i64 = ir.IntType(64)
        vf = ir.VectorType(ir.DoubleType(), 8)
        tv = _splat(builder, t, vf)
        acc = cgutils.alloca_once_value(builder, ir.Constant(i64, 0))
        with cgutils.for_range(builder, builder.ashr(nn, ir.Constant(i64, 3))) as loop:
            j = builder.shl(loop.index, ir.Constant(i64, 3))
            ge = builder.fcmp_ordered(">=", builder.load(_vec_ptr(builder, data, j, vf), align=8), tv)
            bits = builder.zext(builder.bitcast(ge, ir.IntType(8)), i64)
            builder.store(builder.or_(builder.load(acc), builder.shl(bits, j)), acc)
        return builder.load(acc)

    return types.uint64(x, n, thr), codegen


@njit(inline="always", **JIT)
def mask_ge8_loop(x, n, thr):
    """:func:`mask_ge8_ir` as a plain loop (the same bits)."""
    mask = np.uint64(0)
    for j in range(n // 8 * 8):
        mask |= np.uint64(x[j] >= thr) << np.uint64(j)
    return mask


rank16 = rank16_ir if ENABLED else rank16_loop
mask_ge8 = mask_ge8_ir if ENABLED else mask_ge8_loop


@intrinsic
def prefetch_ir(typingctx, a, i):
    """Ask the CPU to start loading the cache line of ``a[i]`` (``llvm.prefetch``: read, keep in every cache level).

    A hint only: it reads nothing into the program and cannot fault, so results never depend on it; it lets
    the loads of several independent random lookups (a user's seen-filter blocks, say) overlap instead of
    waiting for each other. ``a`` is a contiguous 1-D or 2-D array (``i`` its flat index; no bounds check,
    none needed for a hint).
    """
    if not (isinstance(a, types.Array) and a.layout == "C" and isinstance(i, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        idx = context.cast(builder, args[1], sig.args[1], types.int64)
        i8p = ir.IntType(8).as_pointer()
        ptr = builder.bitcast(builder.gep(data, [idx]), i8p)
        i32 = ir.IntType(32)
        fn = builder.module.declare_intrinsic("llvm.prefetch", [i8p], ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]))
        builder.call(fn, [ptr, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.void(a, i), codegen


@njit(inline="always", **JIT)
def prefetch_none(a, i):
    """:func:`prefetch_ir` without the JIT: nothing (a hint has no effect on results)."""
    return None


#: The prefetch hint with the JIT on, a no-op without it (results are the same either way).
prefetch = prefetch_ir if not numba.config.DISABLE_JIT else prefetch_none
