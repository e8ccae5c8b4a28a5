"""Benchmark ranker.learn: training time for 1 million impressions, and the Numba tree evaluator.

Usage::

    .venv/bin/python benchmarks/learn.py [--rows 1000000] [--trees 100] [--reps 5] [--quick]

Part 1, training: a synthetic event log of ``--rows`` impressions (a toy
world drawn with NumPy: videos with latent quality, slates of 8, outcomes
from logistic models; synthetic, not the simulator's) goes through
``build_training_set`` (features as they stood before each impression) and
``train`` (LightGBM LambdaRank, ``--trees`` trees, 31 leaves) on 1 and 2
threads; and, timed alternately with it on the same rows, a retraining in
the loop (``sim.loop.LoopLearner``'s, with those rows as its kept window:
what ``--retrain-every`` runs each day). Medians over ``--train-reps`` runs.

Part 2, inference: a 100-tree, 31-leaf LambdaRank model on the 15 features
of ``ranker.learn.FEATURE_NAMES`` (synthetic values, 5 % NaN) scores
``--eval-rows`` rows through ``TreeEnsemble.predict`` (Numba) and
``Booster.predict(raw_score=True)`` on 1 and 2 threads. Both are timed
alternately in one run, ``--reps`` times; the table gives medians and the
ratio. The Numba compile time is measured apart, in a fresh process with an
empty cache directory.

The machine is shared: read ratios, not absolute times.
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

import lightgbm as lgb  # noqa: E402
import numba  # noqa: E402
from _common import load_check  # noqa: E402

from ranker import learn  # noqa: E402
from ranker.learn import EventLog, LearnConfig, TreeEnsemble, build_training_set, train  # noqa: E402


def synthetic_log(n_rows: int, seed: int = 0, days: int = 8, ticks: int = 4, slate: int = 8) -> EventLog:
    """A toy impression log drawn with NumPy (not the simulator): quality drives plays and value."""
    rng = np.random.default_rng(seed)
    n_req = n_rows // slate
    n = n_req * slate
    n_videos = max(100, n // 50)
    n_users = max(50, n // 100)
    q = rng.normal(size=n_videos)
    hook = rng.normal(size=n_videos)
    dur = rng.uniform(5, 90, n_videos)
    creator = rng.integers(0, max(10, n_videos // 5), n_videos)
    block_of_req = np.sort(rng.integers(0, days * ticks, n_req))
    video = rng.integers(0, n_videos, n)
    user = np.repeat(rng.integers(0, n_users, n_req), slate)
    block = np.repeat(block_of_req, slate).astype(np.int64)
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    play = rng.random(n) < sig(0.3 * q[video] + hook[video])
    comp = play & (rng.random(n) < sig(q[video]))
    watch = np.where(comp, dur[video], np.where(play, rng.uniform(3, dur[video]), rng.uniform(0, 3, n)))
    shared = comp & (rng.random(n) < 0.1)
    nrec = np.where(shared, rng.integers(1, 4, n), 0).astype(float)
    opens = rng.binomial(nrec.astype(int), sig(q[video])).astype(float)
    follower = rng.random(n) < 0.3
    regular = follower & (rng.random(n) < 0.5)
    f = lambda b: b.astype(np.float64)  # noqa: E731
    return EventLog(
        day=block // ticks, block=block, request=np.repeat(np.arange(n_req), slate), user=user, video=video,
        creator=creator[video], play3=f(play), completed=f(comp), liked=f(comp & (rng.random(n) < 0.3)),
        commented=f(comp & (rng.random(n) < 0.05)), shared=f(shared),
        followed=f(~follower & comp & (rng.random(n) < 0.05)), watch_s=watch, duration_s=np.zeros(n),
        share_recipients=nrec, share_opens=opens, regular_reader=f(regular), follower=f(follower),
        affinity=rng.normal(0, 0.3, n), creator_age_days=np.full(n, 30.0),
        labels={"latent_value": watch / dur[video] * q[video]}, source="events")


def _median_time(fn, reps):
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def bench_training(rows, trees, reps):
    print(f"== training on {rows:,} synthetic impressions (toy world drawn with NumPy, slates of 8) ==")
    t0 = time.perf_counter()
    log = synthetic_log(rows)
    print(f"  synthetic log drawn in {time.perf_counter() - t0:.1f} s ({log.n:,} rows, {log.n_days} days)")
    learn.build_training_set(synthetic_log(5000), holdout_days=2)  # compile the running-counter kernels
    t_feat = _median_time(lambda: build_training_set(log, holdout_days=2), reps)
    ts = build_training_set(log, holdout_days=2)
    print(f"  build_training_set: {t_feat:.2f} s median of {reps} ({ts.n:,} rows after the warm-up day)")
    for threads in (1, 2):
        cfg = LearnConfig(n_trees=trees, threads=threads, holdout_days=2)
        loop = _loop_learner(ts, trees, threads)
        last = max(loop.kept)
        # alternately, so that both see the same load: ranksim learn's training, and a retraining in the loop
        # (sim.loop: LambdaRank on the kept window, its tree replay and SHAP report) on the same rows
        t_train, t_loop = [], []
        for _ in range(reps):
            t_train.append(_median_time(lambda: train(ts, cfg), 1))
            t_loop.append(_median_time(lambda: loop._train(last), 1))
        t_train, t_loop = float(np.median(t_train)), float(np.median(t_loop))
        print(f"  train ({trees} trees, 31 leaves, {threads} thread(s), incl. held-out report): "
              f"{t_train:.1f} s median of {reps}")
        print(f"  retraining in the loop on the same {ts.n:,} rows ({threads} thread(s)): {t_loop:.1f} s median "
              f"of {reps}, {t_loop / t_train:.2f} x ranksim learn's training")


def _loop_learner(ts, trees, threads):
    """A :class:`sim.loop.LoopLearner` whose kept window holds the training set's rows (a day per day)."""
    from types import SimpleNamespace

    from sim.config import Config
    from sim.loop import LoopLearner

    cfg = Config().with_overrides(days=30, loop=dict(retrain_every=1, window_days=30, n_trees=trees,
                                                     train_threads=threads, train_sample=1.0))
    world = SimpleNamespace(n_videos=int(ts.popularity.size), n_users=1000)
    lo = LoopLearner(cfg, world)
    for d in np.unique(ts.day):
        r = np.flatnonzero(ts.day == d)
        lo.kept[int(d)] = dict(X=ts.X[r].astype(np.float32), value=ts.target[r].astype(np.float32),
                               request=ts.request[r], propensity=np.ones(r.size, np.float32),
                               impressions=ts.popularity[r].astype(np.float32))
    return lo


def _eval_model(trees, seed=0):
    rng = np.random.default_rng(seed)
    n, d = 100_000, len(learn.FEATURE_NAMES)
    X = rng.normal(size=(n, d))
    y = X[:, 0] + 0.5 * X[:, 1] ** 2 + np.sin(2 * X[:, 2]) + X[:, 3] * X[:, 4] + rng.normal(size=n)
    X[rng.random(X.shape) < 0.05] = np.nan
    g = np.digitize(y, np.quantile(y, [0.5, 0.75, 0.9, 0.97]))
    ds = lgb.Dataset(X, g, group=np.full(n // 8, 8), feature_name=list(learn.FEATURE_NAMES))
    params = LearnConfig(threads=2).lgb_params()
    params.pop("ndcg_eval_at")
    params.pop("metric")
    return lgb.train(params, ds, num_boost_round=trees)


COMPILE_SNIPPET = """
import time, numpy as np
t0 = time.perf_counter()
from ranker.learn import TreeEnsemble
import lightgbm as lgb
b = lgb.Booster(model_file={path!r})
e = TreeEnsemble.from_booster(b)
t1 = time.perf_counter()
e.predict(np.zeros((1, e.n_features)))
t2 = time.perf_counter()
e.predict(np.zeros((1, e.n_features)))
t3 = time.perf_counter()
t4 = time.perf_counter()
e.predict(np.zeros((1000, e.n_features)))
t5 = time.perf_counter()
print(t2 - t1, t5 - t4, t1 - t0)
"""


def bench_eval(trees, rows, reps):
    print(f"== tree evaluator: {trees}-tree, 31-leaf LambdaRank model, {len(learn.FEATURE_NAMES)} features, "
          f"{rows:,} rows (5 % NaN) ==")
    booster = _eval_model(trees)
    ens = TreeEnsemble.from_booster(booster)
    depth = _depths(ens)
    print(f"  model: {ens.n_trees} trees, {ens.n_internal} splits, leaf depth mean {depth.mean():.1f}, "
          f"max {depth.max()}")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.txt")
        booster.save_model(path)
        env = dict(os.environ, NUMBA_CACHE_DIR=os.path.join(tmp, "cache"))
        root = str(Path(__file__).resolve().parents[1])
        out = subprocess.run([sys.executable, "-c", COMPILE_SNIPPET.format(path=path)], cwd=root, env=env,
                             capture_output=True, text=True, check=True).stdout.split()
        print(f"  compile (fresh process, empty cache): {float(out[0]):.2f} s; "
              f"imports + load + flatten {float(out[2]):.2f} s; then 1,000 rows in {float(out[1]) * 1e3:.2f} ms")
    rng = np.random.default_rng(1)
    P = rng.normal(size=(rows, len(learn.FEATURE_NAMES)))
    P[rng.random(P.shape) < 0.05] = np.nan
    assert np.array_equal(ens.predict(P[:5000]), booster.predict(P[:5000], raw_score=True))
    before = numba.get_num_threads()
    print(f"  wall-clock medians of {reps} (the speed) and CPU-time medians (steadier on a shared machine; for 2 threads")
    print("  CPU time adds both threads, so its ratio compares work, not speed)")
    print(f"  {'threads':>7} {'Numba rows/s':>13} {'Booster rows/s':>15} {'ratio':>6}   "
          f"{'Numba rows/CPU-s':>16} {'Booster rows/CPU-s':>18} {'ratio':>6}")
    for threads in (1, 2):
        if threads > numba.config.NUMBA_NUM_THREADS:
            continue
        numba.set_num_threads(threads)
        wn, wb, cn, cb = [], [], [], []
        for _ in range(reps):  # alternate, so both see the same machine load
            c0, t0 = time.process_time(), time.perf_counter()
            ens.predict(P)
            wn.append(time.perf_counter() - t0)
            cn.append(time.process_time() - c0)
            c0, t0 = time.process_time(), time.perf_counter()
            booster.predict(P, raw_score=True, num_threads=threads)
            wb.append(time.perf_counter() - t0)
            cb.append(time.process_time() - c0)
        wn, wb, cn, cb = (float(np.median(v)) for v in (wn, wb, cn, cb))
        print(f"  {threads:>7} {rows / wn:>13,.0f} {rows / wb:>15,.0f} {wb / wn:>5.2f}x   "
              f"{rows / cn:>16,.0f} {rows / cb:>18,.0f} {cb / cn:>5.2f}x")
    numba.set_num_threads(before)


def _depths(ens):
    depth = np.zeros(ens.feature.shape[0], np.int64)
    for k in range(ens.n_internal):  # parents come before children in the flattened order
        depth[ens.children[k]] = depth[k] + 1
    return depth[ens.n_internal:]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="impressions for the training benchmark")
    p.add_argument("--trees", type=int, default=100, help="trees (both parts)")
    p.add_argument("--train-reps", type=int, default=3)
    p.add_argument("--eval-rows", type=int, default=200_000)
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--quick", action="store_true", help="100k impressions, 1 training rep, 3 eval reps")
    p.add_argument("--skip-training", action="store_true")
    a = p.parse_args(argv)
    if a.quick:
        a.rows, a.train_reps, a.reps = 100_000, 1, 3
    print(f"machine: {os.cpu_count()} CPUs, numba {numba.__version__}, lightgbm {lgb.__version__}; "
          f"load average {os.getloadavg()[0]:.1f}")
    load_check("before")
    bench_eval(a.trees, a.eval_rows, a.reps)
    if not a.skip_training:
        bench_training(a.rows, a.trees, a.train_reps)
    load_check("after")


if __name__ == "__main__":
    main()
