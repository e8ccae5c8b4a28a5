"""The default ``ranksim compare`` from a cold Numba cache: wall time, and CPU time by part.

The machine may be shared, so wall time alone says little; this script also
sums the CPU seconds of the main process (compiling the kernels, the
summary, the figures and the report) and of every run (each worker reports
its own ``time.process_time``), and gives the wall time the same work takes on
2 otherwise idle cores: main-process CPU plus the runs' CPU over 2.

Run::

    .venv/bin/python benchmarks/compare_default.py [--out DIR] [--keep-cache]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import sys
import tempfile
import time
from pathlib import Path


def timed_run(spec, run_dir, threads=1):
    """sim.runner.run_one, plus the run's own CPU seconds in ``run_dir/cpu.json``."""
    from sim.runner import run_one

    t0 = time.process_time()
    res = run_one(spec, run_dir, threads)
    Path(run_dir, "cpu.json").write_text(json.dumps({"cpu_s": time.process_time() - t0}))
    return res


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=None)
    p.add_argument("--keep-cache", action="store_true", help="use the existing Numba cache (a warm start)")
    args = p.parse_args()
    if not args.keep_cache:
        os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="ranksim-numba-cold-")
    out = Path(args.out or tempfile.mkdtemp(prefix="ranksim-compare-"))
    t0, r0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    from sim.arms import plan
    from sim.compare import compare, compare_default_config, headline_arms, robustness_variant
    from sim.arms import build_specs
    from sim.runner import warm_up

    cfg = compare_default_config()
    # what compare() does before its runs when it runs them itself (a custom run_fn skips it)
    arms, specs = plan(cfg, None, 3, (), None, frontier=True)
    warm_up(specs + build_specs(robustness_variant(cfg), headline_arms(arms), 3), progress=False)
    t_warm = time.perf_counter() - t0
    res = compare(compare_default_config(), frontier=True, robustness=True, out_dir=out, progress=False,
                  run_fn=timed_run, command="ranksim compare")
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    main_cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    runs = [json.loads(f.read_text())["cpu_s"] for f in out.glob("**/runs/*/cpu.json")]
    print(f"runs: {len(runs)} ({res.n_runs} in the main comparison); cores: {os.cpu_count()}; "
          f"load average at the end: {os.getloadavg()[0]:.1f}")
    print(f"wall: {wall:.1f} s (compiling the kernels: {t_warm:.1f} s); main-process CPU (compile, summary, figures, report): {main_cpu:.1f} s; "
          f"runs' CPU: {sum(runs):.1f} s (mean {sum(runs) / max(len(runs), 1):.2f} s per run)")
    print(f"on 2 idle cores: about {main_cpu + sum(runs) / 2:.0f} s")
    print("command:", shlex.join([sys.executable] + sys.argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
