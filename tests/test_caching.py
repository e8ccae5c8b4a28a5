"""Every compiled kernel can be cached on disk.

Numba will not cache a function that reads a dynamic global (a ctypes pointer: for
instance ``numba.get_num_threads()`` called inside a jitted function); it then
compiles the function again in every process. For ``serve_tick`` that is about
30 s added to every ``ranksim`` command and to every test that starts a process.
Numba only warns, so this test fails instead.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from numba.core.registry import CPUDispatcher

import ranker
import sim
from sim.config import Config
from sim.engine import simulate


def _dispatchers():
    for pkg in (ranker, sim):
        for info in pkgutil.iter_modules(pkg.__path__):
            mod = importlib.import_module(f"{pkg.__name__}.{info.name}")
            for name, obj in vars(mod).items():
                if isinstance(obj, CPUDispatcher) and obj.py_func.__module__ == mod.__name__:
                    yield f"{mod.__name__}.{name}", obj


def test_the_feed_loops_kernels_can_be_cached():
    import numba

    if numba.config.DISABLE_JIT:
        pytest.skip("nothing is compiled with NUMBA_DISABLE_JIT=1")
    simulate(Config().with_overrides(users=500, days=1), progress=False)  # compiles or loads the loop's kernels
    checked, uncacheable = [], []
    for name, disp in _dispatchers():
        for cres in disp.overloads.values():
            checked.append(name)
            if cres.library.has_dynamic_globals:
                uncacheable.append(name)
    assert "sim._engine_kernels.serve_tick" in checked and "sim._engine_kernels.apply_tick" in checked
    assert not uncacheable, f"compiled again in every process (reads a dynamic global): {sorted(set(uncacheable))}"
