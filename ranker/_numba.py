"""The one set of Numba options used by every kernel in ranksim.

Numba's blanket fast-math flag is never used: it lets LLVM assume no NaN or inf, which
breaks ``isnan``/``isinf`` checks. The set below keeps those checks valid.
"""

import hashlib
import os
import sys
from pathlib import Path

import numba


def _source_hash() -> str:
    """Hash of every Python source of ``ranker`` and ``sim`` (subpackages included).

    Numba's ``cache=True`` checks only the timestamp of the file defining a
    kernel, not of the kernels it calls in other files, so an edited callee
    would be served stale from the cache. Keying the cache directory by the
    whole source makes any edit start a fresh cache.
    """
    h = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent
    for pkg in ("ranker", "sim"):
        for f in sorted((root / pkg).rglob("*.py")):
            h.update(f.relative_to(root).as_posix().encode())
            h.update(f.read_bytes())
    # the vector IR or its plain loops (ranker._vector_ir) compile to different kernels
    h.update(b"vector-ir=" + os.environ.get("RANKSIM_VECTOR_IR", "1").encode())
    return h.hexdigest()[:16]


#: :func:`_source_hash` as this process imported ranksim: the code it runs, even after
#: the files on disk change (what the cluster check compares between client and workers).
SOURCE_HASH = _source_hash()


def _set_cache_dir() -> None:
    if os.environ.get("NUMBA_CACHE_DIR"):
        # the user chose one; respect it, but keep the plain loops' kernels (ranker._vector_ir)
        # apart from the vector IR's: Numba's own cache key does not see which one was compiled in
        if os.environ.get("RANKSIM_VECTOR_IR", "1") == "0":
            numba.config.CACHE_DIR = str(Path(os.environ["NUMBA_CACHE_DIR"]) / "plain-loops")
        return
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ranksim" / "numba"
    d = base / SOURCE_HASH
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # read-only home: Numba falls back to its own locations
    numba.config.CACHE_DIR = str(d)


_set_cache_dir()

#: Seconds a first run spends compiling the kernels into an empty cache, rounded (benchmarks/run.py measures
#: it in a fresh process with an empty NUMBA_CACHE_DIR: its ``compile`` rows; 2026-12-03 on 2 idle cores:
#: 32 s for the engine's first tiny run, 26 s for a first ``ranksim simulate``; a busy machine takes longer).
COMPILE_SECONDS = 30


def _warm_stamp() -> Path | None:
    """The file that says this code's kernels are in the cache (``None``: Numba's own locations, unknown)."""
    d = numba.config.CACHE_DIR
    if not d:
        return None
    v = sys.version_info
    return Path(d) / f"ranksim-{SOURCE_HASH}-py{v[0]}{v[1]}-numba{numba.__version__}.warm"


def cache_is_cold() -> bool:
    """True when no run of this code (this Python, this Numba) has filled the kernel cache yet."""
    if numba.config.DISABLE_JIT:
        return False
    stamp = _warm_stamp()
    return stamp is not None and not stamp.exists()


def mark_cache_warm() -> None:
    """Record that a run finished, so its kernels are cached (best effort)."""
    stamp = _warm_stamp()
    if stamp is not None:
        try:
            stamp.touch()
        except OSError:
            pass

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
