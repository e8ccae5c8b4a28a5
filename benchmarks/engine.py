"""End-to-end throughput of the feed loop: impressions per second, logging off and on.

Usage::

    python benchmarks/engine.py                 # 10k, 100k, 1M users, 2 days each, logging off and on
    python benchmarks/engine.py --quick         # 10k and 100k users only
    python benchmarks/engine.py --memory-run    # + a 30-day run of 1,000,000 users, peak memory reported
    python benchmarks/engine.py --memory-only   # only that 30-day run (its peak is then its own)
    python benchmarks/engine.py --live-ratio 1000000   # only: live rooms and sellers on against off
    python benchmarks/engine.py --users 1000000 --no-log   # only these scales, logging off only

``--live-ratio USERS`` runs the default world at USERS users with ``[live]`` and ``[sellers]``
off and on, alternating (off, on, off, on, ...) ``--reps`` times each, and reports the feed
loop's impressions per second (the world's build left out: impressions / (total - world
seconds); live-room impressions count) of each and their ratio, on / off, the median of the
pairs' ratios, with the load average before and after.

Each row gives impressions per second of the whole run (world build included) and of
the feed loop alone (``loop imps/s``: impressions / (run seconds - the world's build
seconds), the figure the speed target is about). Compile time is kept out of the figures and reported apart, twice: from an
empty cache (a fresh process whose ``NUMBA_CACHE_DIR`` is a new empty
directory: what a first run after installing pays) and as a load from the
cache (this process's first tiny run). Creators scale with users as
``--users`` scales them (``WorldConfig.with_users``: the default world's 1 per
20 users and 1 new per 1,000 users per day) so that each scale is the same
kind of world. Figures are medians over ``--reps`` repetitions; the 1,000,000-user
rows are single runs and say so. The load average is checked before and
after, with a warning when the machine is busy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numba  # noqa: E402

from sim.config import Config  # noqa: E402
from sim.engine import simulate  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import compile_from_empty_cache, load_check, runs_label  # noqa: E402

_SETUP = "import sys; sys.path.insert(0, 'benchmarks')\nfrom engine import world_for\nfrom sim.engine import simulate"
_FIRST = "simulate(world_for(500, 1, 0.0), progress=False)"


def world_for(users: int, days: int, log_sample: float, seed: int = 0) -> Config:
    """The default world at ``users`` users, scaled as ``--users`` scales it (its proportions kept)."""
    return Config().with_overrides(users=users, days=days, log_sample=log_sample, seed=seed)


def run_once(cfg, log: bool):
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "run" if log else None
        t = time.perf_counter()
        res = simulate(cfg, out_dir=out, progress=False)
        wall = time.perf_counter() - t
    return res.impressions, wall, res.timings


def live_ratio(users: int, days: int, reps: int, json_path=None) -> dict:
    """Feed-loop impressions per second with live rooms and sellers on against off (see the module doc)."""
    from sim.live import LiveConfig
    from sim.sellers import SellerConfig

    load0 = load_check("before")
    simulate(world_for(500, 1, 0.0), progress=False)  # kernels compiled or loaded, out of the figures
    off = world_for(users, days, 0.0)
    on = off.replace(live=LiveConfig(enabled=True), sellers=SellerConfig(enabled=True))
    simulate(on.with_overrides(users=500, days=1), progress=False)
    print(f"{'users':>10} {'live+sellers':>12} {'impressions':>13} {'loop s':>8} {'imps/s':>12}")
    pairs = []
    for _ in range(reps):
        pair = {}
        for name, cfg in (("off", off), ("on", on)):
            res = simulate(cfg, progress=False)
            loop_s = res.timings["total_s"] - res.timings["world_s"]
            pair[name] = dict(impressions=res.impressions, loop_s=loop_s, imps_per_s=res.impressions / loop_s,
                              live_share=res.scalars().get("live_exposure_share"))
            print(f"{users:>10,} {name:>12} {res.impressions:>13,} {loop_s:>8.1f} {res.impressions / loop_s:>12,.0f}")
        pair["ratio"] = pair["on"]["imps_per_s"] / pair["off"]["imps_per_s"]
        pairs.append(pair)
    ratio = statistics.median(p["ratio"] for p in pairs)
    each = ", ".join("%.3f" % p["ratio"] for p in pairs)
    print(f"feed loop impressions/s, live and sellers on / off: {ratio:.3f} (median of {len(pairs)} "
          f"pair(s): {each}); live rooms' share of impressions {pairs[0]['on']['live_share']:.3f}")
    out = dict(users=users, days=days, pairs=pairs, ratio=ratio, load=[load0, load_check("after")])
    if json_path:
        Path(json_path).write_text(json.dumps(out, indent=1))
    return out


def memory_run(users: int = 1_000_000, days: int = 30) -> dict:
    """One run of ``users`` x ``days`` (logging off) and the process's peak resident memory after it
    (the budget at 1,000,000 x 30 is 8 GiB; the peak includes whatever this process ran before)."""
    t = time.perf_counter()
    res = simulate(world_for(users, days, 0.0), progress=True)
    wall = time.perf_counter() - t
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"{days} days x {users:,} users: {res.impressions:,} impressions in {wall:.0f} s "
          f"({res.impressions / wall:,.0f}/s), peak RSS {peak_gib:.2f} GiB (budget at 1,000,000 x 30 days: 8 GiB)")
    return dict(users=users, days=days, impressions=res.impressions, seconds=wall, peak_rss_gib=peak_gib, reps=1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--memory-run", action="store_true", help="also run 30 days of 1,000,000 users (about 15-25 min)")
    ap.add_argument("--memory-only", action="store_true",
                    help="only that 30-day run (no compile timing, no table), so its peak is the run's own")
    ap.add_argument("--json", metavar="PATH")
    ap.add_argument("--users", metavar="N[,N...]", help="run only these scales (comma-separated user counts)")
    ap.add_argument("--no-log", action="store_true", help="only the logging-off rows")
    ap.add_argument("--live-ratio", type=int, metavar="USERS",
                    help="only compare the feed loop with [live] and [sellers] on against off, at USERS users")
    a = ap.parse_args(argv)
    if a.live_ratio:
        return live_ratio(a.live_ratio, a.days, a.reps, a.json)
    if a.memory_only:
        out = dict(memory_run=memory_run(), threads=numba.get_num_threads())
        if a.json:
            Path(a.json).write_text(json.dumps(out, indent=1))
        return out
    scales = [10_000, 100_000] if a.quick else [10_000, 100_000, 1_000_000]
    if a.users:
        scales = [int(x.replace("_", "")) for x in a.users.split(",")]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"numba {numba.__version__}, threads {numba.get_num_threads()}")
    load0 = load_check("before")
    empty = compile_from_empty_cache(_SETUP, _FIRST)
    print(f"compile from an empty cache (fresh process, empty NUMBA_CACHE_DIR), first tiny run: "
          f"{empty['compile_s']:.1f} s (imports {empty['import_s']:.1f} s)")
    from ranker._numba import cache_is_cold

    how = "compiled: the cache was empty" if cache_is_cold() else "kernels loaded from the cache"
    t = time.perf_counter()
    simulate(world_for(500, 1, 0.0), progress=False)
    cached_s = time.perf_counter() - t
    print(f"first tiny run here ({how}): {cached_s:.2f} s (kept out of the figures below)")
    print(f"{'users':>10} {'log':>4} {'impressions':>13} {'seconds':>9} {'imps/s':>12} {'loop imps/s':>12} "
          f"{'kernel share':>12}  runs")
    rows = []
    for users in scales:
        for log in ((False,) if a.no_log else (False, True)):
            cfg = world_for(users, a.days, 1.0 if log else 0.0)
            reps = a.reps if users < 1_000_000 else 1
            res = [run_once(cfg, log) for _ in range(reps)]
            wall = statistics.median(r[1] for r in res)
            imps = res[0][0]
            ker = statistics.median(r[2]["kernels_s"] / r[1] for r in res)
            loop = statistics.median(imps / (r[1] - r[2]["world_s"]) for r in res)
            rows.append(dict(users=users, log=log, days=a.days, impressions=imps, seconds=wall,
                             imps_per_s=imps / wall, loop_imps_per_s=loop, kernel_share=ker, reps=reps))
            print(f"{users:>10,} {('on' if log else 'off'):>4} {imps:>13,} {wall:>9.2f} {imps / wall:>12,.0f} "
                  f"{loop:>12,.0f} {ker:>12.0%}  {runs_label(reps)}")
    out = dict(compile_empty_cache_s=empty["compile_s"], import_s=empty["import_s"], first_run_cached_s=cached_s,
               first_run_how=how, rows=rows, threads=numba.get_num_threads())
    if a.memory_run:
        out["memory_run"] = memory_run()
    out["load"] = [load0, load_check("after")]
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
