"""The learning-in-the-loop grid on the default world, and its report.

Hand-set weights, a model learned once from the hand-set ranker's log, and a
ranker retrained daily on the run's own log, each without and with
Plackett-Luce exploration, without a boost and with ``fixed_tilt``; plus the
oracle (latent quality, true affinity), on seeds 1, 2, 3 (paired). Writes
``DIR/report.html`` with its learning-in-the-loop section
(docs/learning_loop.md has the figures it gave).

    python examples/loop_grid.py --out loop-grid            # the default world: about an hour on 2 cores
    python examples/loop_grid.py --users 1000 --days 4 --seeds 2 --out /tmp/g   # a quick look

The learned-once model is learned first (unless ``DIR/model_once`` holds one)
from 7 days of the hand-set ranker on seed 100 (20 % of requests logged), all
features (``ranksim learn --trees 100``, the last 2 days held out). The same
grid from the command line, once that model exists::

    ranksim compare --config CONFIG --loop-grid learned:DIR/model_once --policies fixed_tilt \\
        --explore-temperature 0.25 --ipw --retrain-every 1 --window-days 3 --seeds 3 --jobs 1
"""

from __future__ import annotations

import argparse
from pathlib import Path

#: The settings the grid runs (docs/learning_loop.md, "The settings").
TEMPERATURE = 0.25
RETRAIN = dict(retrain_every=1, window_days=3, train_sample=0.25, n_trees=100, features="loop", ipw=True)
BOOST = "fixed_tilt"
LEARN_SEED, LEARN_DAYS, LEARN_SAMPLE, LEARN_TREES = 100, 7, 0.2, 100


def base_config(users=None, days=None, seed=1, warmup_days=0):
    """The default world (``users`` scales it), ``days`` measured days after ``warmup_days`` (each arm warms up
    under its own ranker, the loop retraining through it), the grid's exploration and retraining."""
    from sim.config import Config

    return Config().with_overrides(seed=seed, users=users, days=days, log_sample=0.0, warmup_days=warmup_days,
                                   loop=dict(RETRAIN, explore="plackett_luce", temperature=TEMPERATURE))


def learn_once(out: Path, users=None) -> str:
    """The learned-once model: 7 logged days of the hand-set ranker on seed 100, learned on every feature."""
    from ranker import learn
    from sim.config import Config
    from sim.engine import simulate

    model = out / "model_once"
    if (model / "model.txt").is_file():
        return f"learned:{model}"
    cfg = Config().with_overrides(seed=LEARN_SEED, users=users, days=LEARN_DAYS, log_sample=LEARN_SAMPLE)
    simulate(cfg, out_dir=out / "train_log", progress=False, overwrite=True)
    log = learn.read_event_log(out / "train_log" / "events")
    lc = learn.LearnConfig(n_trees=LEARN_TREES, threads=1, warmup_days=1, holdout_days=2, seed=0)
    ts = learn.build_training_set(log, label="latent_value", warmup_days=1, holdout_days=2)
    learn.save_model(learn.train(ts, lc), model, overwrite=True)
    return f"learned:{model}"


def run_grid(out, users=None, days=None, seeds=3, jobs=1, progress=True, warmup_days=0):
    """Learn the model once (if needed) and run the grid into ``out``; returns the :class:`CompareResult`."""
    from sim.compare import compare

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    learned = learn_once(out, users)
    return compare(base_config(users, days, warmup_days=warmup_days), policies=[BOOST], seeds=seeds, out_dir=out, jobs=jobs,
                   progress=progress, loop_grid=learned)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="loop-grid")
    ap.add_argument("--users", type=int, help="scale the default world to this many users")
    ap.add_argument("--days", type=int, help="measured days (default: the default world's 14)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--warmup-days", type=int, default=0,
                    help="days each arm first simulates under its own ranker, unmeasured (0: cold, as the "
                         "table in docs/learning_loop.md; examples/loop_gap.py measures the gap after 21)")
    a = ap.parse_args(argv)
    res = run_grid(a.out, a.users, a.days, a.seeds, a.jobs, warmup_days=a.warmup_days)
    print(f"{res.n_runs} runs ({res.n_reused} reused) in {res.seconds:.0f} s -> {res.report}")


if __name__ == "__main__":
    main()
