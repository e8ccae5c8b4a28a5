"""ranksim beside its peer: RecSim's interest-evolution environment, timed in the same run.

Usage::

    python benchmarks/peers.py [--users 10000] [--seconds 3] [--repeats 3] [--json PATH]
    python benchmarks/peers.py --quick

RecSim (Ie et al., 2019) is the reference simulator of recommender feeds.
Its interest-evolution environment serves one user a slate per step, picks a
response with its choice model and moves the user's interests. This script
times it when ``recsim`` is importable, and otherwise says how to install it
(and writes ``{"skipped": ...}`` to ``--json``): no figure of it is ever
written by hand.

What is compared, both on one thread, in this process, medians of
``--repeats``:

- RecSim: slate items served per second (steps x slate size), stepping with a
  fixed slate (the agent's cost left out), resetting the environment when a
  session ends; two shapes: its example's (10 candidates, slate of 2) and
  ranksim's slate (80 candidates, slate of 8);
- ranksim: impressions per second of ``simulate`` on the default world scaled
  to ``--users`` (1 day, logging off, 1 Numba thread), kernels compiled
  before the timing.

The models differ (RecSim draws a new candidate set per step and simulates one
user at a time; ranksim serves every user of a tick at once, with retrieval,
ranking and a richer behaviour model), so the ratio says what a study of many
users and days costs in each, not that the same work runs faster.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import load_check, runs_label  # noqa: E402

INSTALL = ("RecSim is not installed, so it was not timed. To time it beside ranksim: "
           ".venv/bin/pip install recsim-no-tf six   (RecSim without its TensorFlow agents: the environments "
           "need only NumPy, SciPy, gym, gin-config and absl-py; `pip install recsim` brings TensorFlow too), "
           "then run this script again.")


def time_recsim(num_candidates: int, slate_size: int, seconds: float, repeats: int, seed: int = 0) -> dict:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from recsim.environments import interest_evolution

        env = interest_evolution.create_environment(
            {"num_candidates": num_candidates, "slate_size": slate_size, "resample_documents": True, "seed": seed})
    slate = list(range(slate_size))
    rates = []
    env.reset()
    for _ in range(3):  # warm-up
        env.step(slate)
    for _ in range(repeats):
        env.reset()
        steps, t0 = 0, time.perf_counter()
        while True:
            for _ in range(50):
                _, _, done, _ = env.step(slate)
                steps += 1
                if done:
                    env.reset()
            el = time.perf_counter() - t0
            if el >= seconds:
                break
        rates.append(steps * slate_size / el)
    return {"num_candidates": num_candidates, "slate_size": slate_size, "slate_items_per_s": statistics.median(rates),
            "repeats": repeats}


def time_ranksim(users: int, repeats: int) -> dict:
    from engine import world_for

    from ranker._numba import set_threads
    from sim.engine import simulate

    set_threads(1)
    simulate(world_for(500, 1, 0.0), progress=False)  # compile or load the kernels; not timed
    cfg = world_for(users, 1, 0.0)
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        res = simulate(cfg, progress=False, threads=1)
        runs.append((res.impressions, time.perf_counter() - t))
    wall = statistics.median(r[1] for r in runs)
    return {"users": users, "days": 1, "impressions": runs[0][0], "seconds": wall,
            "impressions_per_s": runs[0][0] / wall, "repeats": repeats, "threads": 1}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3,000 users, 1 s per RecSim repetition")
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=3.0, help="RecSim stepping time per repetition")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    if a.quick:
        a.users, a.seconds = 3_000, 1.0
    try:
        import recsim  # noqa: F401
    except ImportError:
        print(INSTALL)
        if a.json:
            a.json.write_text(json.dumps({"skipped": INSTALL}, indent=1))
        return 0
    load0 = load_check("before")
    out = {"recsim": [time_recsim(10, 2, a.seconds, a.repeats), time_recsim(80, 8, a.seconds, a.repeats)],
           "ranksim": time_ranksim(a.users, a.repeats)}
    rk = out["ranksim"]
    print(f"both on 1 thread, {runs_label(a.repeats)} each:")
    print(f"  ranksim simulate, {rk['users']:,} users x 1 day: {rk['impressions_per_s']:>12,.0f} impressions/s")
    out["ratios"] = {}
    for r in out["recsim"]:
        name = f"RecSim interest evolution, {r['num_candidates']} candidates, slate {r['slate_size']}"
        ratio = rk["impressions_per_s"] / r["slate_items_per_s"]
        out["ratios"][name] = ratio
        print(f"  {name}: {r['slate_items_per_s']:>12,.0f} slate items/s  (ranksim / RecSim {ratio:,.0f}x)")
    out["load"] = [load0, load_check("after")]
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
