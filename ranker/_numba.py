"""The one set of Numba options used by every kernel in ranksim.

``fastmath=True`` is never used: it lets LLVM assume no NaN or inf, which
breaks ``isnan``/``isinf`` checks. The set below keeps those checks valid.
"""

import numba

FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

#: Options for serial kernels.
JIT = dict(nogil=True, cache=True, fastmath=FASTMATH, error_model="numpy")

#: Options for kernels parallel over independent rows (no reductions across
#: threads, so results never depend on the thread count).
PJIT = dict(JIT, parallel=True)

njit = numba.njit
prange = numba.prange


def set_threads(n: int | None) -> int:
    """Set the number of Numba threads (``None`` keeps the current count).

    Returns the count in force afterwards.
    """
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"The 'threads' parameter must be an int. Got {n!r} instead.")
        top = numba.config.NUMBA_NUM_THREADS
        if not 1 <= n <= top:
            raise ValueError(
                f"The 'threads' parameter must be an int in the range [1, {top}]. Got {n} instead."
            )
        numba.set_num_threads(n)
    return numba.get_num_threads()
