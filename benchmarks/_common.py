"""What every benchmark script shares: the load check, compile time from an empty cache, run labels.

- :func:`load_check`: the load average against the usable cores, with a
  warning line when the machine is busy (timings then say more about the
  other work than about ranksim; ratios within one run hold up better).
- :func:`compile_from_empty_cache`: seconds a snippet's first call takes in a
  fresh interpreter whose ``NUMBA_CACHE_DIR`` is a new empty directory: a real
  compilation, never a load from Numba's on-disk cache.
- :func:`runs_label`: "median of N" or "single run", so a figure says which it is.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Before a run, the machine counts as busy when other work keeps this share of its cores runnable.
BUSY_BEFORE = 0.25
#: After a run (its own processes have just counted in the load), when the load exceeds the cores by this much.
BUSY_AFTER = 0.5


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def load_check(when: str, stream=None) -> dict:
    """The 1-minute load average ``when`` ("before" or "after" the timings), printing a warning if busy.

    Returns ``{"when", "load", "cores", "busy", "warning"}``.
    """
    stream = sys.stdout if stream is None else stream
    load = os.getloadavg()[0]
    cores = usable_cores()
    limit = BUSY_BEFORE * cores if when == "before" else cores * (1 + BUSY_AFTER)
    busy = load > limit
    warning = None
    if busy:
        warning = (f"WARNING: the machine is busy {when} the timings: load average {load:.2f} on {cores} cores "
                   f"(limit {limit:.2f}). Absolute figures and 2-thread speed-ups are unreliable; "
                   "ratios measured in the same run hold up better. Re-run on a quiet machine.")
        print(warning, file=stream, flush=True)
    return {"when": when, "load": load, "cores": cores, "busy": busy, "warning": warning}


def compile_from_empty_cache(setup: str, first_call: str, timeout: float = 1800.0) -> dict:
    """Time ``first_call`` after ``setup`` in a fresh process with an empty Numba cache.

    Parameters
    ----------
    setup : str
        Python run first, untimed (imports, inputs).
    first_call : str
        Python whose run is timed: its first calls compile the kernels.

    Returns
    -------
    dict
        ``{"import_s", "compile_s"}``: seconds of ``setup`` and of ``first_call``.
    """
    code = ("import time\nt0 = time.perf_counter()\n" + setup + "\nt1 = time.perf_counter()\n" + first_call
            + "\nt2 = time.perf_counter()\nprint('TIMES', t1 - t0, t2 - t1)\n")
    with tempfile.TemporaryDirectory(prefix="ranksim-empty-numba-cache-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        env.pop("NUMBA_DISABLE_JIT", None)
        res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT,
                             timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError("compile run failed: " + " ".join(res.stderr.strip().splitlines()[-3:]))
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("TIMES ")][-1]
    imp, comp = map(float, line.split()[1:])
    return {"import_s": imp, "compile_s": comp}


def runs_label(n: int) -> str:
    """``"median of n"`` for n >= 3, else ``"single run"`` / ``"median of 2"`` said as such."""
    return "single run" if n == 1 else f"median of {n}"
