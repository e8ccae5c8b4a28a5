"""The main job, timed: ``ranksim compare`` as a user runs it, end to end.

Usage::

    python benchmarks/compare.py                 # the default command: `ranksim compare` (no options)
    python benchmarks/compare.py --quick         # ranksim compare --users 3000 --days 2 --seeds 2
    python benchmarks/compare.py --repeats 3 -- --seeds 5    # options after -- go to ranksim compare

Each repetition runs the ``ranksim`` command in a fresh process, writing a
new temporary ``--out`` (so no run is reused), with ``--quiet``: the
wall-clock time is the whole job as its user waits for it (world building,
every policy on every seed in parallel processes, statistics, the report).
The kernels are compiled before the first timing (an untimed tiny
``ranksim simulate``): compiling once after installing is measured apart, by
``engine.py``, from an empty cache. Reported: wall seconds (median, or
"single run"), runs, impressions summed over the runs, and the load
average before and after with a warning when the machine is busy.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, load_check, runs_label  # noqa: E402

QUICK = ["--users", "3000", "--days", "2", "--seeds", "2"]


def ranksim_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("ranksim")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "sim.cli"]


def one_run(extra: list[str]) -> dict:
    out = Path(tempfile.mkdtemp(prefix="ranksim-bench-compare-"))
    try:
        cmd = ranksim_cmd() + ["compare", "--quiet", "--out", str(out / "report"), *extra]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: " + " ".join(proc.stderr.strip().splitlines()[-3:]))
        metrics = list((out / "report" / "runs").glob("*/metrics.json"))
        imps = sum(json.loads(m.read_text())["impressions"]["value"] for m in metrics)
        return {"seconds": wall, "runs": len(metrics), "impressions": imps,
                "summary_line": proc.stdout.strip().splitlines()[0] if proc.stdout.strip() else ""}
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=f"ranksim compare {' '.join(QUICK)}")
    ap.add_argument("--repeats", type=int, default=1, help="default 1 (a single run, labelled so)")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    args = (QUICK if a.quick else []) + extra
    shown = "ranksim compare" + ("" if not args else " " + " ".join(args))
    print(f"the main job: `{shown}` ({os.cpu_count()} cores)")
    # compile (or load) the kernels first: the job is timed, not the first compilation
    warm = Path(tempfile.mkdtemp(prefix="ranksim-bench-warm-"))
    try:
        subprocess.run(ranksim_cmd() + ["simulate", "--users", "300", "--days", "1", "--quiet", "--log-sample", "0",
                                        "--out", str(warm / "run")], check=True, capture_output=True, cwd=ROOT)
    finally:
        shutil.rmtree(warm, ignore_errors=True)
    load0 = load_check("before")
    runs = [one_run(args) for _ in range(a.repeats)]
    wall = statistics.median(r["seconds"] for r in runs)
    r0 = runs[0]
    print(f"  {shown}: {wall:.1f} s wall ({runs_label(a.repeats)}), {r0['runs']} runs, "
          f"{r0['impressions']:,} impressions ({r0['impressions'] / wall:,.0f}/s)")
    print(f"  its own summary: {r0['summary_line']}")
    load1 = load_check("after")
    if a.json:
        a.json.write_text(json.dumps({"command": shown, "seconds": wall, "reps": a.repeats,
                                      "runs": r0["runs"], "impressions": r0["impressions"],
                                      "each": runs, "load": [load0, load1]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
