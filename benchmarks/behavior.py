"""Throughput of the behaviour model: the Numba batch kernel on 1 and 2 threads against vectorized NumPy.

Run::

    .venv/bin/python benchmarks/behavior.py [--sizes 100000 2000000] [--repeats 7]

For each size it prints impressions per second (median over the repeats, the
contenders interleaved so background load hits them alike) of:

- ``numba kernel``: ``simulate_impressions`` writing into reused buffers
  (``out=``), on 1 and on 2 Numba threads;
- ``numba face``: the same call allocating fresh output arrays each time (what
  a caller that drops ``out=`` pays: the operating system zeroes new pages);
- ``impression() one by one``: the scalar kernel called row by row from a
  serial Numba loop, as the engine calls it (branches, no vectorizing);
- ``numpy``: the same model as whole-array NumPy (``tests/reference_behavior.py``
  ``simulate_numpy``), its uniforms drawn by ``np.random.Generator``;

and the ratios between them, all measured in this one run. The headline
ratio compares like with like: the face and NumPy both allocate their
outputs, both on 1 thread (per core). The kernel writing into reused buffers
against NumPy allocating is shown too, labelled as the unequal comparison it
is, and 2-thread figures are stated against their own thread count. The
compile time is measured in a fresh process with an empty Numba cache, and
this process's first call (a load from the cache) apart. The load average is
checked before and after, with a warning when the machine is busy.
Targets (issue 2): >= 10 million impressions/s per thread, >= 5x NumPy.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numba  # noqa: E402

from ranker._numba import JIT, njit, set_threads  # noqa: E402
from ranker.rng import STREAM_BEHAVIOR, key  # noqa: E402
from sim import behavior  # noqa: E402
from sim import behavior_batch  # noqa: E402
from tests import reference_behavior as ref  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import load_check, runs_label  # noqa: E402


def make_inputs(n: int, seed: int = 0) -> dict:
    """Impressions with the default world's spread of traits (one user's day has 8 slots)."""
    rng = np.random.default_rng(seed)
    follower = rng.random(n) < 0.2
    return dict(
        quality=rng.normal(0.0, 1.1, n),
        hook=rng.normal(0.0, 0.7, n),
        shareability=rng.normal(0.0, 0.7, n),
        duration_s=rng.lognormal(np.log(30.0), 0.8, n),
        affinity=rng.gamma(1.0, 1.5, n),
        follower=follower,
        regular=follower & (rng.random(n) < 0.5),
        users=np.arange(n, dtype=np.int64) // 8,
        slots=np.arange(n, dtype=np.int64) % 8,
    )


@njit(**dict(JIT, cache=False))
def _one_by_one(bp, quality, hook, shareability, duration_s, affinity, follower, regular, seed, users, day, slots,
                play3, watch_s):
    # impression() row by row in a serial loop, as the engine calls it (no vectorizing).
    for i in range(quality.shape[0]):
        k0 = key(seed, STREAM_BEHAVIOR, users[i], day, slots[i])
        out = behavior.impression(bp, quality[i], hook[i], shareability[i], duration_s[i], affinity[i],
                                  follower[i], regular[i], k0)
        play3[i] = out[0]
        watch_s[i] = out[2]


def run_size(n: int, repeats: int, cfg: behavior.BehaviorConfig) -> dict:
    x = make_inputs(n)
    bp = behavior.behavior_params(cfg)
    p = cfg.to_dict()
    args = (bp, x["quality"], x["hook"], x["shareability"], x["duration_s"], x["affinity"], x["follower"],
            x["regular"], 7, x["users"], 3, x["slots"])
    out = behavior_batch.empty_outcomes(n)
    gen = np.random.default_rng(1)

    def numba_kernel():
        behavior_batch.simulate_impressions(*args, out=out)

    def numba_face():
        behavior_batch.simulate_impressions(*args)

    def one_by_one():
        _one_by_one(*args, out["play3"], out["watch_s"])

    def numpy_version():
        draws = gen.random((n, ref.N_DRAWS))
        ref.simulate_numpy(p, x["quality"], x["hook"], x["shareability"], x["duration_s"], x["affinity"],
                           x["follower"], x["regular"], draws)

    contenders = {
        "numba kernel, 1 thread": (numba_kernel, 1),
        "numba kernel, 2 threads": (numba_kernel, 2),
        "numba face, 1 thread": (numba_face, 1),
        "numba face, 2 threads": (numba_face, 2),
        "impression() one by one": (one_by_one, None),
        "numpy": (numpy_version, None),
    }
    times = {name: [] for name in contenders}
    for name, (fn, threads) in contenders.items():  # warm-up (compilation, pages, caches)
        set_threads(threads)
        fn()
    for _ in range(repeats):
        for name, (fn, threads) in contenders.items():
            set_threads(threads)
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: n / float(np.median(ts)) for name, ts in times.items()}


_COMPILE_SNIPPET = """
import time
t0 = time.perf_counter()
import numpy as np
from sim import behavior, behavior_batch
t1 = time.perf_counter()
x = np.ones(4)
behavior_batch.simulate_impressions(behavior.BehaviorConfig(), x, x, x, 30 * x, x, x > 2, x > 2, 0,
                              np.arange(4), 0, np.arange(4))
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def compile_seconds() -> tuple[float, float]:
    """(import, first call) seconds in a fresh process with an empty Numba cache: a real compilation."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        res = subprocess.run([sys.executable, "-c", _COMPILE_SNIPPET], env=env, capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parents[1], check=True)
    imp, first = map(float, res.stdout.split())
    return imp, first


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 2_000_000])
    ap.add_argument("--repeats", type=int, default=7)
    a = ap.parse_args(argv)
    cfg = behavior.BehaviorConfig()
    max_threads = numba.config.NUMBA_NUM_THREADS
    print(f"numba {numba.__version__}, numpy {np.__version__}, {max_threads} Numba threads available, "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs (other work skews the figures)")
    load_check("before")
    if max_threads < 2:
        sys.exit("This benchmark needs 2 Numba threads (NUMBA_NUM_THREADS >= 2).")

    # Compilation, kept out of the timings: once from scratch (fresh process, empty
    # cache), once as this process's first call (usually a load from Numba's cache).
    imp, first = compile_seconds()
    print(f"compile from scratch: first call {first:.2f} s (import {imp:.2f} s), in a fresh process")
    x = make_inputs(10)
    t0 = time.perf_counter()
    behavior_batch.simulate_impressions(cfg, x["quality"], x["hook"], x["shareability"], x["duration_s"],
                                  x["affinity"], x["follower"], x["regular"], 0, x["users"], 0, x["slots"])
    first = time.perf_counter() - t0
    how = "loaded from Numba's cache" if behavior_batch._simulate_into.stats.cache_hits else "compiled"
    print(f"first call here: {first:.2f} s ({how})")

    for n in a.sizes:
        rates = run_size(n, a.repeats, cfg)
        print(f"\n{n:,} impressions, {runs_label(a.repeats)}:")
        for name, rate in rates.items():
            print(f"  {name:26s} {rate / 1e6:8.2f} M impressions/s")
        k1, k2 = rates["numba kernel, 1 thread"], rates["numba kernel, 2 threads"]
        f1, f2 = rates["numba face, 1 thread"], rates["numba face, 2 threads"]
        npy = rates["numpy"]
        print(f"  ratio face / numpy, both allocating, both 1 thread       {f1 / npy:6.2f}x   (target >= 5)")
        print(f"  ratio face 2 threads / numpy 1 thread, both allocating   {f2 / npy:6.2f}x")
        print(f"  ratio kernel reused buffers / numpy allocating, 1 thread {k1 / npy:6.2f}x")
        print(f"  ratio one by one / numpy, both 1 thread                  {rates['impression() one by one'] / npy:6.2f}x")
        print(f"  ratio kernel 2 threads / kernel 1 thread                 {k2 / k1:6.2f}x")
        print(f"  kernel per thread (1 thread)      {k1 / 1e6:6.2f} M/s   (target >= 10)")
    print()
    load_check("after")


if __name__ == "__main__":
    main()
