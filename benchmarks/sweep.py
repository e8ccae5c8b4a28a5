"""Wall time of a policy sweep on 1 against 2 local Dask workers, the process pool, and in-process.

Run::

    .venv/bin/python benchmarks/sweep.py [--users 12000] [--days 5] [--policies none,fixed_tilt,slot_quota,ucb]
                                         [--seeds 2] [--repeats 3]

One sweep is ``ranksim compare``'s work without the report: every policy on
every seed, the summary written. It runs on four executors, each started once
and kept for all repetitions:

- ``dask, 1 worker`` and ``dask, 2 workers``: embedded ``LocalCluster``\\ s as
  ``--scheduler local --jobs N`` starts them (spawned processes, 1 thread each);
- ``process pool, 2 workers``: the default path without ``--scheduler``
  (forkserver processes, 1 Numba thread each);
- ``in-process``: ``--jobs 1`` (this process, every Numba thread).

Printed: the start-up of each executor and the first run in each of its
workers (loading Numba's on-disk cache, or compiling) apart from the sweep;
then, over the repetitions (the executors interleaved within each repetition,
so background load hits them alike; repetition ``r`` uses seeds of its own,
so no worker reuses a world built earlier), the median and best sweep wall
time, the CPU seconds the sweep cost (this process and all its child
processes, so workers included) and the cores it got on average (CPU / wall),
and the ratios between executors, all from this one run. On a machine other
work keeps busy, wall-time ratios mostly measure that work; the CPU seconds
still show what an executor costs. Every executor must write the same
``summary.csv`` bytes in each repetition; the script says whether they did.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _tiny_specs(n: int):
    """``n`` one-run specs of a tiny world, distinct seeds: a worker's first run loads every kernel."""
    from sim.arms import build_arms, build_specs
    from sim.config import Config

    cfg = Config().with_overrides(users=300, days=2, seed=900_000)
    return build_specs(cfg, build_arms("none"), n)


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and its live descendants (the workers)."""
    import psutil

    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for p in me.children(recursive=True):
        try:
            total += sum(p.cpu_times()[:2])
        except psutil.Error:  # gone meanwhile
            pass
    return total


def _warm_dask(client, tmp: Path) -> float:
    from sim.runner import run_one

    addrs = sorted(client.nthreads())
    specs = _tiny_specs(len(addrs))
    t0 = time.perf_counter()
    futs = [client.submit(run_one, s, str(tmp / f"warm-{i}"), 1, workers=[a], pure=False)
            for i, (a, s) in enumerate(zip(addrs, specs))]
    client.gather(futs)
    return time.perf_counter() - t0


def _warm_pool(pool, jobs: int, tmp: Path) -> float:
    from sim.runner import run_one

    # A cold worker spends seconds in its first run, so each of the jobs tasks lands on its own worker.
    t0 = time.perf_counter()
    futs = [pool.submit(run_one, s, str(tmp / f"warm-{i}"), 1) for i, s in enumerate(_tiny_specs(jobs))]
    for f in futs:
        f.result()
    return time.perf_counter() - t0


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=12_000)
    ap.add_argument("--days", type=int, default=5)
    ap.add_argument("--policies", default="none,fixed_tilt,slot_quota,ucb")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args(argv)

    import distributed
    import numba

    from sim import cluster as K
    from sim import compare as C
    from sim import runner as R
    from sim.arms import build_arms
    from sim.config import Config

    print(f"distributed {distributed.__version__}, numba {numba.__version__}, load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs (other work skews the figures)")
    from _common import load_check

    load_check("before")
    base = Config().with_overrides(users=a.users, days=a.days)
    n_runs = len(build_arms(a.policies)) * a.seeds
    print(f"sweep: {n_runs} runs ({a.policies} x {a.seeds} seeds), {a.users:,} users, {a.days} days")

    tmp = Path(tempfile.mkdtemp(prefix="ranksim-sweep-bench-"))
    clusters, clients, pool = [], {}, None
    try:
        # this process's first run: Numba's cache loaded, or everything compiled
        spec = _tiny_specs(1)[0]
        t0 = time.perf_counter()
        R.run_one(spec, str(tmp / "first"), None)
        print(f"first run in this process: {time.perf_counter() - t0:.2f} s (compile or cache load, kept apart)")

        executors = {}
        for n in (1, 2):
            t0 = time.perf_counter()
            cl = K.start_local_cluster(n)
            clusters.append(cl)
            c = distributed.Client(cl, set_as_default=False)
            c.wait_for_workers(n)
            up = time.perf_counter() - t0
            warm = _warm_dask(c, tmp / f"dask{n}")
            clients[n] = c
            executors[f"dask, {n} worker{'s' if n > 1 else ''}"] = K.DaskExecutor(c)
            print(f"dask, {n} worker(s): cluster up in {up:.2f} s, first run on each worker {warm:.2f} s")
        t0 = time.perf_counter()
        pool = R.process_executor(2)
        warm = _warm_pool(pool, 2, tmp / "pool")
        executors["process pool, 2 workers"] = pool
        print(f"process pool, 2 workers: up and first run on each worker {time.perf_counter() - t0:.2f} s "
              f"(of which runs {warm:.2f} s)")
        executors["in-process"] = R.SerialExecutor()

        times = {name: [] for name in executors}
        cpu = {name: [] for name in executors}
        same = True
        for r in range(a.repeats):
            cfg = base.with_overrides(seed=1000 + r * a.seeds)
            ref = None
            for name, ex in executors.items():
                out = tmp / f"rep{r}" / name.replace(" ", "_").replace(",", "")
                c0, t0 = _cpu_seconds(), time.perf_counter()
                C.compare(cfg, policies=a.policies, seeds=a.seeds, out_dir=out, executor=ex, progress=False,
                          report=False)
                times[name].append(time.perf_counter() - t0)
                cpu[name].append(_cpu_seconds() - c0)
                data = (out / "summary.csv").read_bytes()
                ref = data if ref is None else ref
                same &= data == ref
            print(f"  repetition {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), flush=True)

        med = {k: statistics.median(v) for k, v in times.items()}
        best = {k: min(v) for k, v in times.items()}
        mcpu = {k: statistics.median(v) for k, v in cpu.items()}
        print(f"\nsweep of {n_runs} runs, over {a.repeats} repetitions:")
        print(f"  {'':26s} {'median wall':>11s} {'best wall':>10s} {'median CPU':>11s} {'cores used':>10s}")
        for k in executors:
            print(f"  {k:26s} {med[k]:9.2f} s {best[k]:8.2f} s {mcpu[k]:9.2f} s {mcpu[k] / med[k]:10.2f}")
        d1, d2, p2, s1 = "dask, 1 worker", "dask, 2 workers", "process pool, 2 workers", "in-process"
        print("  wall-time ratios (median; best in brackets):")
        for what, x, y in (("dask 1 worker / dask 2 workers (speed-up of 2)", d1, d2),
                           ("process pool 2 / dask 2", p2, d2), ("in-process / dask 2", s1, d2)):
            print(f"    {what:48s} {med[x] / med[y]:6.2f}x  ({best[x] / best[y]:.2f}x)")
        print("  CPU-seconds ratios (median):")
        for what, x, y in (("dask 2 workers / dask 1 worker", d2, d1), ("dask 2 / process pool 2", d2, p2)):
            print(f"    {what:48s} {mcpu[x] / mcpu[y]:6.2f}x")
        print(f"summary.csv identical on every executor in every repetition: {'yes' if same else 'NO'}")
        print(f"load average now {os.getloadavg()[0]:.2f}")
        load_check("after")
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
        for c in clients.values():
            c.close()
        for cl in reversed(clusters):  # each restores the log level it found: close in reverse
            cl.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
