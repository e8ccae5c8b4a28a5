"""How much of the gap between the hand-set weights and the oracle a ranker retrained in the loop closes.

Three arms on the default world, paired by seed (common random numbers): the
hand-set weights, a LightGBM ranker retrained daily on the run's own log
(started from the hand-set weights; no exploration, a 3-day window of 25 % of
requests, 100 trees, the ``loop`` features: the settled settings of
docs/learning_loop.md), and the oracle (latent quality and true affinity).
No arm is boosted. Every run first warms up for ``--warmup-days`` days under
its own ranker (the loop retrains through the warm-up), so the measured days
start from the loop's steady state, as every other verdict of ranksim is
measured. For each seed, the gap closed is

    (value/impression retrained - hand-set) / (oracle - hand-set)

over the measured days; the script prints it per seed, its mean with a
t-interval over seeds, the paired difference in value per impression, and
the per-day gap closed. ``--warmup-days 0`` gives the cold-start figure.

    python examples/loop_gap.py --seeds 3 --out /tmp/gap                 # about 15 min on 2 cores
    python examples/loop_gap.py --seeds 3 --warmup-days 0 --out /tmp/gap0
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

RETRAIN = dict(retrain_every=1, window_days=3, train_sample=0.25, n_trees=100, features="loop")
ARMS = ("hand", "retrained", "oracle")


def arm_config(arm, seed, users=None, days=None, warmup_days=21):
    """The default world at ``users`` (scaled), ``days`` measured days after ``warmup_days``, for one arm."""
    from sim.config import Config

    loop = RETRAIN if arm == "retrained" else dict(metrics=True)
    return Config().with_overrides(seed=seed, users=users, days=days, log_sample=0.0, warmup_days=warmup_days,
                                   ranker="oracle" if arm == "oracle" else "hand", loop=loop)


def gap_closed(hand, retrained, oracle):
    """Share of the hand-to-oracle gap in value per impression that ``retrained`` closes (arrays work too)."""
    hand, retrained, oracle = (np.asarray(x, np.float64) for x in (hand, retrained, oracle))
    return (retrained - hand) / (oracle - hand)


def t_interval(x, level=0.95):
    """Mean of ``x`` and its Student-t interval over the values (NaN ends for fewer than 2)."""
    from scipy import stats

    x = np.asarray(x, np.float64)
    m = float(x.mean())
    if x.size < 2:
        return m, float("nan"), float("nan")
    h = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return m, m - h, m + h


def run(out, seeds=3, users=None, days=None, warmup_days=21, progress=True):
    """Run the three arms on seeds 1..``seeds`` into ``out``; returns the per-seed figures (also ``gap.json``)."""
    from sim.engine import simulate

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in range(1, seeds + 1):
        r = {"seed": seed}
        for arm in ARMS:
            res = simulate(arm_config(arm, seed, users, days, warmup_days), progress=progress)
            m = res.metrics
            r[arm] = {"value_per_impression": m["value_per_impression"]["value"],
                      "by_day": m["loop_value_per_impression_by_day"]["value"],
                      "new_creator_share": m["new_creator_exposure_share_measured"]["value"],
                      "seconds": res.timings["total_s"], "retrain_s": res.timings.get("retrain_s", 0.0)}
        r["gap_closed"] = float(gap_closed(r["hand"]["value_per_impression"], r["retrained"]["value_per_impression"],
                                           r["oracle"]["value_per_impression"]))
        r["gap_closed_by_day"] = [float(g) for g in gap_closed(r["hand"]["by_day"], r["retrained"]["by_day"],
                                                                r["oracle"]["by_day"])]
        rows.append(r)
        (out / "gap.json").write_text(json.dumps(dict(warmup_days=warmup_days, users=users, days=days, seeds=rows),
                                                 indent=1))
    return rows


def summary(rows) -> str:
    gaps = [r["gap_closed"] for r in rows]
    diffs = [r["retrained"]["value_per_impression"] - r["hand"]["value_per_impression"] for r in rows]
    g, glo, ghi = t_interval(gaps)
    d, dlo, dhi = t_interval(diffs)
    lines = [f"seed {r['seed']}: value/impression hand {r['hand']['value_per_impression']:.4f}, retrained "
             f"{r['retrained']['value_per_impression']:.4f}, oracle {r['oracle']['value_per_impression']:.4f}; "
             f"gap closed {r['gap_closed']:.3f}; newcomers {100 * r['hand']['new_creator_share']:.1f} / "
             f"{100 * r['retrained']['new_creator_share']:.1f} / {100 * r['oracle']['new_creator_share']:.1f} %; "
             f"per day " + " ".join(f"{x:.2f}" for x in r["gap_closed_by_day"]) for r in rows]
    lines.append(f"gap closed: {g:.3f} (95 % t-interval over seeds {glo:.3f} to {ghi:.3f}); value per impression "
                 f"{d:+.4f} over the hand-set weights (paired interval {dlo:+.4f} to {dhi:+.4f})")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="loop-gap")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--users", type=int, help="scale the default world to this many users")
    ap.add_argument("--days", type=int, help="measured days (default: the default world's 14)")
    ap.add_argument("--warmup-days", type=int, default=21, help="days simulated first, under each arm's own ranker")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    rows = run(a.out, a.seeds, a.users, a.days, a.warmup_days, progress=not a.quiet)
    print(summary(rows))


if __name__ == "__main__":
    main()
