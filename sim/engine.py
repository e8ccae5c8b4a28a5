"""The feed loop: arrivals -> candidates -> ranker -> serve -> behaviour -> counters.

Per tick, Python does the per-video work (signals, the policy, retrieval
pools: a few vectorized passes over the live posts) and two Numba kernels do
the per-impression work (:mod:`sim._engine_kernels`). No Python loop runs per
impression. See :func:`simulate`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np

from ranker._numba import JIT, PJIT, njit, prange
from ranker._progress import Progress
from ranker.io import temp_dir
from ranker.policies import NonFiniteBoost, PolicyContext, quota_slots
from ranker.rng import STREAM_LOG, key, uniform
from ranker.score import ScoreWeights, base_scores, weight_vector
from ranker.signals import SIGNAL_NAMES, Counters, compute_signals
from sim import _engine_kernels as K
from sim import creators as CR
from sim import live as LV
from sim._live_kernels import apply_live
from sim import users as US
from sim.behavior import behavior_params
from sim.config import Config, PolicyConfig, write_config
from sim.events import EVENT_COLUMNS, EventWriter, extra_columns  # noqa: F401  (EVENT_COLUMNS: its old home)
from sim.metrics import OnlineMetrics, creator_age_days
from sim.seen import filter_blocks, n_hashes, new_filter
from sim.world import build_world

FOLLOW_HEADROOM = 16  # extra follow slots per user beyond the initial follows
STAMP_LIMIT = 2**30 - 1  # request ids r in serve_tick's int32 scratch stamps stay below this (-3 - 2r fits too)
AFFINITY_STRENGTH = 5.0  # pseudo-impressions smoothing the logged topic affinity


@dataclass
class RunResult:
    """What a run returns: its metrics, config, and where it wrote (if anywhere)."""

    config: Config
    metrics: dict
    out_dir: Path | None = None
    impressions: int = 0
    seconds: float = 0.0
    timings: dict = field(default_factory=dict)
    #: What went wrong with the run's dynamics, each with the day it happened (see :func:`dynamics_warnings`).
    warnings: list = field(default_factory=list)
    #: With ``[sellers]`` on: the last day's seller assessment (``sellers.csv``, :mod:`sim.sellers`).
    sellers: object = None

    @property
    def impressions_per_second(self) -> float:
        return self.impressions / self.seconds if self.seconds > 0 else float("nan")

    def scalars(self) -> dict:
        """The metrics that are single numbers, as ``name -> value``."""
        return {k: v["value"] for k, v in self.metrics.items() if not isinstance(v["value"], list)}

    def to_frame(self):
        """The single-number metrics as a ``pandas.DataFrame``: index ``metric``, columns ``value``, ``unit``,
        ``description`` (``value`` NaN where the metric is undefined, e.g. no breakout yet)."""
        import pandas as pd

        rows = {k: v for k, v in self.metrics.items() if not isinstance(v["value"], list)}
        df = pd.DataFrame({"value": [np.nan if v["value"] is None else float(v["value"]) for v in rows.values()],
                           "unit": [v["unit"] for v in rows.values()],
                           "description": [v["description"] for v in rows.values()]},
                          index=pd.Index(list(rows), name="metric"))
        return df

    def by_day_frame(self):
        """The per-day metrics (names ending ``_by_day`` with one number a day) as a ``pandas.DataFrame``
        indexed by ``day``, one column per metric."""
        import pandas as pd

        cols = {k: v["value"] for k, v in self.metrics.items()
                if k.endswith("_by_day") and isinstance(v["value"], list)
                and all(not isinstance(x, list) for x in v["value"])}
        df = pd.DataFrame({k: [np.nan if x is None else x for x in v] for k, v in cols.items()})
        df.index.name = "day"
        return df


@njit(**PJIT)
def _log_mask(seed, day, tick, users, reqs, rate, out):
    for i in prange(users.shape[0]):
        slot = tick * K.MAX_REQUESTS_PER_TICK + reqs[i]
        out[i] = uniform(key(seed, STREAM_LOG, users[i], day, slot), 0) < rate


@njit(**JIT)
def _place_follows(indptr, indices, ptr, n, interest, creator_topic, n_topics, rr_on, cre, eng, rr):
    """Each user's first ``n[u]`` initial follows at the start of their slots (``ptr``), with the initial
    engagement a quarter of the follower's affinity to the creator's topic, capped at 1, in float32
    (``min(1, 0.25 (n_topics interest))``), and regular when it reaches ``rr_on`` (float32)."""
    for u in range(n.shape[0]):
        for r in range(n[u]):
            c = indices[indptr[u] + r]
            d = ptr[u] + r
            cre[d] = c
            e = min(np.float32(1.0), np.float32(0.25) * (n_topics * interest[u, creator_topic[c]]))
            eng[d] = e
            rr[d] = eng[d] >= rr_on  # the stored value (float32), as the reference compares it


class _FollowState:
    """Follow edges in slotted CSR: each user has a fixed capacity of sorted slots."""

    def __init__(self, world, cfg: Config):
        w = world
        deg = np.diff(w.follow_indptr).astype(np.int64)
        cap = np.minimum(deg + FOLLOW_HEADROOM, cfg.world.follow_capacity)
        cap = np.maximum(cap, np.minimum(deg, cfg.world.follow_capacity))
        self.ptr = np.zeros(w.n_users + 1, np.int64)
        np.cumsum(cap, out=self.ptr[1:])
        total = int(self.ptr[-1])
        self.n = np.minimum(deg, cap).astype(np.int32)
        self.cre = np.full(total, -1, np.int32)
        self.eng = np.zeros(total, np.float32)
        self.rr = np.zeros(total, np.bool_)
        _place_follows(w.follow_indptr, w.follow_indices, self.ptr, self.n, w.user_interest, w.creator_topic,
                       np.float32(w.n_topics), np.float32(cfg.behavior.rr_on), self.cre, self.eng, self.rr)

    def counts(self, n_creators):
        """(followers, regular readers) per creator."""
        return K.follow_counts(self.ptr, self.n, self.cre, self.rr, n_creators)

    def decay(self, rate, rr_off):
        self.eng *= np.float32(1.0 - rate)
        self.rr &= self.eng >= rr_off


def counter_matrix(n_videos: int) -> np.ndarray:
    """Zeroed per-video counters (n_videos, ``K.N_VC``) float64 whose first row starts on a 64-byte boundary.

    A row is 16 float64, two cache lines: ``apply_tick`` reads the first (the counters every impression
    moves) for each impression of a random video and the second only for a like, comment, share or follow.
    """
    vc = K.aligned_rows(n_videos, K.N_VC)
    vc[:] = 0.0
    return vc


def _by_creator(posts, post_time, video_creator, n_creators):
    """Each creator's posts among ``posts``, newest first (ties by id): ``(ptr (n_creators + 1,), int32 posts)``."""
    lc = video_creator[posts]
    ptr = np.zeros(n_creators + 1, np.int64)
    np.cumsum(np.bincount(lc, minlength=n_creators), out=ptr[1:])
    return ptr, posts[np.lexsort((posts, -post_time[posts], lc))].astype(np.int32)


class _RowBuffers:
    """The tick's output rows, reused across ticks; too short, they are allocated anew at twice the need.

    A tick at a million users fills about 10 million rows (about 70 bytes each): fresh arrays every tick, or
    each time a busier tick comes (a second day can have a third more rows than the first), would fault in
    that many bytes again, while rows never written take address space only. serve_tick writes every field
    of a served row, and nothing reads a padded row's fields but its video (-1), user, request and position.
    """

    def __init__(self, max_rec):
        self.max_rec = max_rec
        self.cap = -1

    def rows(self, n):
        if n > self.cap:
            self.cap = 2 * n
            self.i = np.empty((self.cap, K.N_I), np.int32)
            self.f = np.empty((self.cap, K.N_F), np.float32)
            self.u = np.empty((self.cap, K.N_U), np.uint8)
            self.rec = np.empty((self.cap, self.max_rec), np.int32)
        return self.i[:n], self.f[:n], self.u[:n], self.rec[:n]


#: The events' ``source`` column, code -> the candidate source the impression came from.
SOURCE_NAMES = {K.SOURCE_FOLLOW: "follow", K.SOURCE_SHARE: "share", K.SOURCE_INTEREST: "interest",
                K.SOURCE_FRESH: "fresh"}


def simulate(cfg: Config, out_dir=None, progress=True, threads=None, world=None, overwrite=False) -> RunResult:
    """Run one simulation of ``cfg``.

    Parameters
    ----------
    cfg : Config
        The validated configuration (``Config()`` is the default world).
    out_dir : path, optional
        Where to write ``config.toml``, ``metrics.json`` and ``events/``. Written
        into a temporary sibling and renamed at the end, so an interrupted run
        leaves nothing that looks complete.
    progress : bool
        Report progress: a bar per day on a terminal, one line per day
        elsewhere (a pipe, a log, a notebook); and, when the kernel cache is
        empty, one line saying the first run compiles them.
    threads : int, optional
        Numba threads; results are identical for any count.
    world : World, optional
        A prebuilt world for ``(cfg.world, cfg.run.simulated_days, cfg.run.seed)``.
    overwrite : bool
        Replace an existing ranksim run at ``out_dir``; a non-empty directory
        that is not a run is never replaced (:func:`sim.preflight.prepare_run_dir`).

    Before the world is built: ``out_dir`` is checked (not the current
    directory, not a file, writable), the memory estimate is checked
    against the machine's memory and a model directory is checked whole.
    A run holds a lock on ``out_dir`` while it writes, and removes partial
    output that earlier runs left beside it when their process is gone.

    Days: the run first simulates ``cfg.run.warmup_days`` days under the
    baseline policy ``none`` (whatever ``cfg.policy`` says; every arm of a
    comparison thus reaches its first measured day from the same state, with
    the same random numbers), then ``cfg.run.days`` measured days under
    ``cfg.policy``. Day 0 is the first measured day; warm-up days are -W to
    -1. Metrics and the event log hold the measured days only. Random draws
    are keyed by the simulated day (the warm-up's first day is 0), so a run
    with a warm-up of W days replays, day for day, the last ``days`` days of
    a cold run of ``W + days`` days under ``none``.
    """
    from ranker._numba import COMPILE_SECONDS, cache_is_cold, mark_cache_warm, set_threads

    set_threads(threads)
    _preflight(cfg, world)
    cold = cache_is_cold()
    if progress and cold:
        print(f"ranksim: compiling kernels (first run only, about {COMPILE_SECONDS} s)...", file=sys.stderr,
              flush=True)
    res = _simulate(cfg, out_dir, progress, world, overwrite)
    if cold:
        mark_cache_warm()
    return res


def _simulate(cfg, out_dir, progress, world, overwrite) -> RunResult:
    if out_dir is None:
        return _run(cfg, None, progress, world)
    from sim.preflight import OutputBusy, OutputLock, clean_stale_partials, lock_path, prepare_run_dir

    out = prepare_run_dir(out_dir, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_partials(out.parent, report=lambda m: print(m, file=sys.stderr, flush=True))
    lock = OutputLock(lock_path(out), f"run directory {str(out)!r}")
    deadline = time.monotonic() + 2.0
    while True:  # another run's cleaner may hold our name's lock for a moment
        try:
            lock.acquire()
            break
        except OutputBusy:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    try:
        return _simulate_into(cfg, out, progress, world)
    finally:
        lock.release()


def _preflight(cfg: Config, world) -> None:
    """Inputs checked before the world is built: the memory estimate and the model directory."""
    if world is None:
        from sim.preflight import check_memory

        check_memory(cfg)
    if cfg.ranker.kind in ("learned", "distilled"):
        from ranker.learn import FEATURE_NAMES
        from ranker.model_check import check_model_dir

        checked = check_model_dir(cfg.ranker.model_dir, FEATURE_NAMES)
        if cfg.loop.retraining:
            from sim.loop import check_start_model

            check_start_model(cfg.ranker.model_dir, checked)


def _simulate_into(cfg: Config, out: Path, progress: bool, world) -> RunResult:
    tmp = temp_dir(out.parent, prefix=f".{out.name}.partial-{os.getpid()}-")
    try:
        (tmp / "INCOMPLETE").write_text(f"This run did not finish; its files are partial (pid {os.getpid()}).\n")
        write_config(cfg, tmp / "config.toml")
        res = _run(cfg, tmp, progress, world)
        data = json.dumps(res.metrics, indent=1, sort_keys=True, allow_nan=False)
        (tmp / "metrics.json").write_text(data + "\n")
        if res.sellers is not None:
            res.sellers.to_csv(tmp / "sellers.csv", index=False)
        (tmp / "INCOMPLETE").unlink()
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            print(f"ranksim: run interrupted; partial output left in {tmp} (marked INCOMPLETE, not a complete "
                  "run; the next run in this directory removes it)", file=sys.stderr, flush=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)
    res.out_dir = out
    return res


def _run(cfg: Config, out: Path | None, progress: bool, world) -> RunResult:
    t_start = time.perf_counter()
    wc, feed, run, bcfg = cfg.world, cfg.feed, cfg.run, cfg.behavior
    T, days, seed, slate = feed.ticks_per_day, run.simulated_days, run.seed, feed.slate_size
    warm = run.warmup_days  # simulated days 0 .. warm - 1 are the warm-up (reported as days -warm .. -1)
    w = world if world is not None else build_world(wc, days, seed, T)
    t_world = time.perf_counter() - t_start
    U, V, C = w.n_users, w.n_videos, w.n_creators
    policy = cfg.policy.policy()
    warm_policy = PolicyConfig().policy()  # the baseline none, for the warm-up days
    wts = cfg.weights
    bp = behavior_params(bcfg)
    ranker_cfg = cfg.ranker
    w_aff, w_rr = float(wts.affinity), float(wts.regular_reader)
    learned = None
    # the viewer's topic affinity: the logged one (ranker.signals.user_affinity of the user's
    # topic counters, computed inside serve_tick for the users it serves), or for the oracle
    # the true interest, passed in whole
    aff_strength = AFFINITY_STRENGTH
    aff = np.zeros((0, w.n_topics), np.float32)
    if ranker_cfg.kind in ("learned", "distilled"):
        from ranker.learn import load_model

        learned = load_model(ranker_cfg.model_dir)
        # per-candidate terms in the model's score units, from its linear distillation
        w_aff = float(learned.pair_weights["affinity"])
        w_rr = float(learned.pair_weights["regular_reader"])
        if ranker_cfg.kind == "distilled":
            dist = learned.report["distillation"]["weights"]
            wts = ScoreWeights(**{n: float(dist.get(n, 0.0)) for n in SIGNAL_NAMES},
                               affinity=w_aff, regular_reader=w_rr)
    elif ranker_cfg.kind == "oracle":
        # The upper bound: rank on what the latent value rewards, latent quality and true
        # affinity, in the ratio the behaviour model's value formula weighs them.
        b = bcfg.affinity_base
        aff = np.log(np.maximum(b + (1.0 - b) * (w.n_topics * w.user_interest), bcfg.affinity_floor)).astype(np.float32)
        aff_strength = 0.0
        w_aff = bcfg.value_a / bcfg.value_q if bcfg.value_q != 0 else 1.0
        w_rr = 0.0
    # exploration: slates drawn by Plackett-Luce at the temperature (0: the top k)
    inv_temperature = 1.0 / cfg.loop.temperature if cfg.loop.exploring else 0.0
    # learning in the loop: the kept impressions, retrainings and the loop's metrics (sim.loop)
    kind = ranker_cfg.kind
    looper = None
    if cfg.loop.measuring:
        from sim.loop import LoopLearner

        looper = LoopLearner(cfg, w, learned, out)
    # ucb and thompson weigh each signal's uncertainty as the score weighs the signal
    w_policy = weight_vector(wts)
    # sellers (sim.sellers): None when off, and then nothing below draws or changes for them
    sellers = None
    if cfg.sellers.enabled:
        from sim.sellers import SellerState

        sellers = SellerState(cfg.sellers, w, seed, warm, feed.new_creator_days)
    # live rooms (sim.live): None when off, and serve_tick then gathers none
    lv, live_pools = None, LV.no_live(w.n_topics)
    if cfg.live.enabled:
        lv = LV.LiveState(cfg.live, w, seed, days, T, warm, feed.new_creator_days)
    session_creator = lv.creator if lv is not None else None
    day_video_imps = 0

    # state
    fs = _FollowState(w, cfg)
    video_counters = counter_matrix(V)
    ccounts = np.zeros((C, 3), np.int64)
    ccounts[:, 0], ccounts[:, 1] = fs.counts(C)
    # every video served to each user in the run, in a Bloom filter sized from their expected impressions
    seen_ptr = filter_blocks(w.user_activity, days, slate, feed.seen_bits_per_item)
    seen_bits = new_filter(seen_ptr)
    seen_k = np.int64(n_hashes(feed.seen_bits_per_item))
    inbox = np.full((U, max(feed.n_share_candidates, 1)), -1, np.int32)
    inbox_pos = np.zeros(U, np.int32)
    inbox_view = inbox[:, : feed.n_share_candidates]
    ut_imps = np.zeros((U, w.n_topics), np.float32)
    ut_plays = np.zeros((U, w.n_topics), np.float32)
    # users' state (sim.users): satisfaction, interests that drift (the world's stay the anchor), the day's
    # per-topic counters (satiation, completions) and novelty value
    sat = np.full(U, bcfg.satisfaction_ref, np.float64)
    interest = w.user_interest.copy()
    day_topic = np.zeros((U, w.n_topics), np.float32)
    day_done = np.zeros((U, w.n_topics), np.float32)
    day_novelty = np.zeros(U, np.float64)
    returned = np.zeros(U, np.bool_)
    counts = np.zeros(U, np.int32)
    user_day = np.zeros((U, 2), np.float64)
    n_thr = numba.config.NUMBA_NUM_THREADS
    stamps = np.full((n_thr, 2 * K.stamp_table_size(feed.n_follow_candidates, feed.n_share_candidates,
                                                   feed.n_interest_candidates, feed.n_fresh_candidates)), -1, np.int32)
    cmarks = np.full((n_thr, C), -1, np.int32)
    quit_day = np.full(C, np.iinfo(np.int32).max, np.int32)
    # creators' state (sim.creators): motivation, own baseline, which potential posts are realised
    ccfg = cfg.creators
    motivation = np.zeros(C, np.float64)
    baseline = np.zeros(C, np.float64)
    video_slot = CR.post_slots(w.video_creator, w.video_post_day)
    realised = np.zeros(V, np.bool_)
    d_first = min(0, int(w.video_post_day.min(initial=0)))
    day_ptr = np.searchsorted(w.video_post_day, np.arange(d_first, days + 1))  # videos are sorted by day
    for d in range(d_first, 0):  # the established creators' backlog, at neutral motivation
        CR.realise_posts(np.int64(seed), np.int64(d), float(wc.post_potential), float(ccfg.effort_slope), motivation,
                         quit_day, w.video_creator, video_slot, day_ptr[d - d_first], day_ptr[d - d_first + 1],
                         realised)
    posts_by_day = np.zeros(days, np.int64)
    dyn = _DynamicsWatch(w, wc, ccfg, days, warm)
    post_time = w.video_post_day.astype(np.int64) * T + w.video_post_tick
    vid_all = np.arange(V, dtype=np.int32)
    world_arrays = K.WorldArrays(
        user_interest=interest, friend_indptr=w.friend_indptr, friend_indices=w.friend_indices,
        video_creator=w.video_creator, video_topic=w.video_topic, video_duration_s=w.video_duration_s,
        video_quality=w.video_quality, video_hook=_hook_seen(w, bcfg), video_shareability=w.video_shareability)
    metrics = OnlineMetrics(w, feed, run.days, warmup_days=warm)
    writer = EventWriter(out / "events", cfg) if (out is not None and run.log_sample > 0) else None
    top_m = max(4 * feed.n_interest_candidates, 64)
    bufs = _RowBuffers(bcfg.share_max_recipients)
    stamp_base = 0  # first request id of the tick in the int32 scratch stamps (restarts, see below)
    req_base = 0  # first request id of the tick in the event log (never restarts)
    total_imps = 0
    t_kernels = 0.0

    bar = Progress(days, f"simulate {cfg.policy.name} seed={seed}" + (f" (warm-up {warm} days)" if warm else ""),
                   "day", enabled=progress)
    for day in range(days):  # the simulated day: the reported day is day - warm
        day_policy = policy if day >= warm else warm_policy
        K.draw_returns(seed, day, sat, bcfg.return_b, bcfg.return_v, bcfg.satisfaction_ref, returned)
        lo_v, hi_v = day_ptr[day - d_first], day_ptr[day - d_first + 1]
        CR.realise_posts(np.int64(seed), np.int64(day), float(wc.post_potential), float(ccfg.effort_slope), motivation,
                         quit_day, w.video_creator, video_slot, lo_v, hi_v, realised)
        posts_by_day[day] = np.count_nonzero(realised[lo_v:hi_v])
        user_day[:] = 0.0
        for tick in range(T):
            now = day * T + tick
            t_days = day + tick / T
            lo = np.searchsorted(post_time, now - feed.candidate_window_days * T, side="right")
            hi = np.searchsorted(post_time, now, side="right")
            idx = vid_all[lo:hi]
            idx = idx[realised[idx]]  # realised posts only (none after the creator quit; see sim.creators)
            cr = w.video_creator[idx]
            age_c = creator_age_days(w.creator_join_day[cr], t_days)
            counters = Counters(
                video_id=idx.astype(np.int64), creator_id=cr.astype(np.int64),
                impressions=video_counters[idx, K.VC_IMPRESSIONS], plays_3s=video_counters[idx, K.VC_PLAYS_3S],
                completions=video_counters[idx, K.VC_COMPLETIONS], watch_s=video_counters[idx, K.VC_WATCH_S],
                duration_s=w.video_duration_s[idx].astype(np.float64), likes=video_counters[idx, K.VC_LIKES],
                comments=video_counters[idx, K.VC_COMMENTS], shares=video_counters[idx, K.VC_SHARES],
                share_recipients=video_counters[idx, K.VC_SHARE_RECIPIENTS], share_opens=video_counters[idx, K.VC_SHARE_OPENS],
                follows=video_counters[idx, K.VC_FOLLOWS], creator_followers=ccounts[cr, 0].astype(np.float64),
                creator_regular_readers=ccounts[cr, 1].astype(np.float64),
                rr_impressions=video_counters[idx, K.VC_RR_IMPRESSIONS], rr_plays_3s=video_counters[idx, K.VC_RR_PLAYS_3S],
                creator_age_days=age_c)
            sig = compute_signals(counters)
            if kind in ("hand", "distilled"):
                b_sub = base_scores(sig.matrix, wts)
            elif kind == "learned":
                b_sub = learned.video_scores(sig, counters)
            else:
                b_sub = w.video_quality[idx].astype(np.float64)
            if sellers is not None and (shift := sellers.score_shift(cr)) is not None:
                b_sub = b_sub + shift  # the seller assessment feeds commerce content's traffic (a policy input)
            is_new_sub = age_c < feed.new_creator_days
            pctx = PolicyContext(
                seed=seed, day=day, tick=tick, n_videos=idx.size, creator_age_days=age_c,
                video_age_days=(now - post_time[idx]) / T, is_new_creator=is_new_sub,
                impressions=video_counters[idx, K.VC_IMPRESSIONS].copy(), creator_id=cr.astype(np.int32),
                active=np.ones(idx.size, np.bool_), base_score=b_sub, signals=sig,
                new_creator_days=feed.new_creator_days, video_id=idx.astype(np.int64),
                creator_kind=w.creator_kind[cr], score_weights=w_policy)
            try:
                act = day_policy.act(pctx)
            except NonFiniteBoost as e:  # PolicyAction checks; here the video, day and tick are known
                raise ValueError(f"Policy {cfg.policy.name!r} returned a boost of {e.value!r} for video "
                                 f"{int(idx[e.position])} on day {day - warm}, tick {tick}; boosts must be finite "
                                 "(mask a post with PolicyAction.eligible instead).") from None
            base = np.full(V, -np.inf)
            boost = np.zeros(V)
            is_new = np.zeros(V, np.bool_)
            base[idx] = b_sub
            boost[idx] = act.boost
            is_new[idx] = is_new_sub
            live = idx
            if act.eligible is not None:
                ok = np.asarray(act.eligible, bool)
                live = idx[ok]
                base[idx[~ok]] = -np.inf
            n_quota = quota_slots(act.quota, slate)
            # retrieval pools over the live posts
            total = base[live] + boost[live]
            topic = w.video_topic[live]
            order = np.lexsort((live, -total, topic))
            tp_vid = live[order].astype(np.int32)
            tp_ptr = np.zeros(w.n_topics + 1, np.int64)
            np.cumsum(np.bincount(topic, minlength=w.n_topics), out=tp_ptr[1:])
            fresh_vid = live[post_time[live] > now - feed.fresh_window_days * T].astype(np.int32)
            cr_ptr, cr_vid = _by_creator(live, post_time, w.video_creator, C)
            # the follow scan reads no scores: a post of -inf total (a ranker's or seller's score) is in live rooms' lists only
            servable = total > -np.inf
            scan_ptr, scan_vid = ((cr_ptr, cr_vid) if servable.all()
                                  else _by_creator(live[servable], post_time, w.video_creator, C))
            # arrivals
            K.draw_arrivals(seed, day, tick, T, w.user_activity, returned, sat, bcfg.session_v, bcfg.satisfaction_ref,
                            counts)
            users = np.flatnonzero(counts).astype(np.int32)
            row_off = np.zeros(users.size + 1, np.int64)
            np.cumsum(counts[users].astype(np.int64) * slate, out=row_off[1:])
            n_rows = int(row_off[-1])
            out_i, out_f, out_u, out_rec = bufs.rows(n_rows)
            if lv is not None:
                live_pools = lv.pools(day, tick, quit_day, cr_ptr, cr_vid, boost,
                                      sellers.score_shift if sellers is not None else None)
            if stamp_base + n_rows // slate >= STAMP_LIMIT:
                # request ids must stay int32 and unlike any stale stamp: start over, cleared
                stamps.fill(-1)
                cmarks.fill(-1)
                stamp_base = 0
            settings = K.ServeSettings(
                seed=np.int64(seed), day=np.int64(day), tick=np.int64(tick), slate_size=np.int64(slate),
                quota_slots=np.int64(n_quota), weight_affinity=w_aff, weight_regular_reader=w_rr,
                n_follow_candidates=np.int64(feed.n_follow_candidates),
                n_interest_candidates=np.int64(feed.n_interest_candidates),
                n_fresh_candidates=np.int64(feed.n_fresh_candidates), interest_top_m=np.int64(top_m),
                first_request_id=np.int64(stamp_base), behavior_params=bp, rr_rate=float(bcfg.rr_rate),
                rr_on=float(bcfg.rr_on), rr_off=float(bcfg.rr_off), affinity_strength=aff_strength,
                seen_hashes=seen_k, inv_temperature=inv_temperature)
            state = K.ServeState(
                follow_ptr=fs.ptr, follow_count=fs.n, follow_creator=fs.cre, follow_engagement=fs.eng,
                follow_regular=fs.rr, seen_ptr=seen_ptr, seen_bits=seen_bits, inbox=inbox_view, topic_impressions=ut_imps,
                topic_plays=ut_plays, affinity=aff, base_score=base, boost=boost, is_new_creator=is_new,
                request_stamps=stamps, request_counts=counts, regular_marks=cmarks, day_topic=day_topic,
                day_done=day_done, day_novelty=day_novelty)
            pools = K.RetrievalPools(topic_ptr=tp_ptr, topic_videos=tp_vid, fresh_videos=fresh_vid,
                                     creator_ptr=scan_ptr, creator_videos=scan_vid)
            imps_before = ccounts[:, 2].copy()
            t0 = time.perf_counter()
            K.serve_tick(settings, world_arrays, state, pools, live_pools, users, row_off, out_i, out_f, out_u, out_rec)
            K.apply_tick(out_i, out_f, out_u, out_rec, w.video_creator, w.video_post_day, np.int64(day),
                         np.int64(feed.breakout_days), video_counters, ccounts, (inbox, inbox_pos), user_day)
            if lv is not None:
                total_imps += int(apply_live(out_i, out_f, out_u, lv.creator, lv.counters, ccounts, user_day))
            if sellers is not None:
                sellers.tick(day, tick, t_days, out_i, out_u, out_f, session_creator)
            t_kernels += time.perf_counter() - t0
            stamp_base += n_rows // slate
            req_base += n_rows // slate
            videos = out_i[:, K.I_VIDEO]
            served = int(np.count_nonzero(videos >= 0))
            total_imps += served
            day_video_imps += served
            metrics.add_tick(day, t_days, videos, out_u, out_f[:, K.F_VALUE], K.U_PLAY, K.U_COMPLETE,
                             K.U_FOLLOWER, K.U_REGULAR, ccounts[:, 2] - imps_before, users=out_i[:, K.I_USER])
            if looper is not None:
                looper.record(day, tick, idx, sig, counters, is_new, out_i, out_f, out_u, req_base - n_rows // slate,
                              slate)
            if writer is not None and n_rows and day >= warm:
                _log_tick(writer, run, day, tick, T, slate, out_i, out_f, out_u, w, req_base - n_rows // slate,
                          feed.new_creator_days, cfg.loop.exploring, warm, lv, sellers)
        # end of day: engagement decay, authoritative follower counts, satisfaction, creators' response
        fs.decay(bcfg.rr_decay, bcfg.rr_off)
        ccounts[:, 0], ccounts[:, 1] = fs.counts(C)
        if sellers is not None:
            sellers.end_day(day, fs, ccounts[:, 1])
        if lv is not None:
            lv.end_day(day, day_video_imps)
        day_video_imps = 0
        had = user_day[:, 0] > 0
        # users' day (sim.users): satisfaction with novelty, interest drift, satiation reset
        novelty = float(day_novelty.sum())
        US.end_of_day(user_day[:, 0], user_day[:, 1], day_topic, day_done, day_novelty, sat, interest,
                      w.user_interest, float(bcfg.satisfaction_rate), float(bcfg.novelty_weight),
                      float(bcfg.drift_rate), float(bcfg.drift_anchor))
        if kind == "oracle" and bcfg.drift_rate > 0:  # the oracle ranks on today's true interests
            aff = np.log(np.maximum(bcfg.affinity_base + (1.0 - bcfg.affinity_base) * (w.n_topics * interest),
                                    bcfg.affinity_floor)).astype(np.float32)
        metrics.end_day_users(day, sat, novelty, float(user_day[:, 1].sum()), interest, w.user_interest)
        # live posts: the realised posts still candidates at the day's last tick, each weighted by the share
        # of the day it was a candidate (a post of the last tick had one tick to find viewers)
        live_w = np.where(w.video_post_day[idx] == day, (T - w.video_post_tick[idx]) / T, 1.0)
        live_posts = np.bincount(w.video_creator[idx], weights=live_w, minlength=C)
        active = (quit_day > day) & (w.creator_join_day <= day)
        CR.end_of_day(seed, day, ccounts[:, 2], live_posts, active, ccfg, motivation, baseline, quit_day)
        ccounts[:, 2] = 0
        dyn.end_day(day, quit_day, motivation)
        metrics.end_day(day, int(np.count_nonzero(returned)), int(np.count_nonzero(had)), quit_day > day,
                        posts=int(posts_by_day[day]))
        if looper is not None:
            new_model = looper.end_day(day)
            if new_model is not None:  # serves from tomorrow: per video through its trees, or its distillation
                learned = new_model
                w_aff = float(learned.pair_weights["affinity"])
                w_rr = float(learned.pair_weights["regular_reader"])
                if kind == "distilled":
                    dist = learned.report["distillation"]["weights"]
                    wts = ScoreWeights(**{n: float(dist.get(n, 0.0)) for n in SIGNAL_NAMES},
                                       affinity=w_aff, regular_reader=w_rr)
                else:
                    kind = "learned"
                w_policy = weight_vector(wts)
        bar.update(1, impressions=f"{total_imps:,}")
    bar.close()
    if writer is not None:
        writer.close()
    m = metrics.finalize(video_counters, quit_day, U, K.VC_EARLY_IMPRESSIONS, K.VC_IMPRESSIONS, K.VC_PLAYS_3S,
                         posted=realised)
    m.update(dyn.metrics(posts_by_day, motivation, quit_day))
    if sellers is not None:
        m.update(sellers.metrics(run.days))
    if lv is not None:
        m.update(lv.metrics())
    warns = dyn.messages()
    if progress:
        for msg in warns:
            print(f"ranksim: warning: {msg}", file=sys.stderr, flush=True)
    timings = {"world_s": t_world, "kernels_s": t_kernels}
    if looper is not None:
        m.update(looper.metrics())
        timings["retrain_s"] = looper.train_s
    seconds = time.perf_counter() - t_start
    timings["total_s"] = seconds
    if looper is not None:
        timings["feed_loop_s"] = seconds - t_world - looper.train_s
    return RunResult(config=cfg, metrics=m, impressions=total_imps, seconds=seconds, timings=timings, warnings=warns,
                     sellers=sellers.frame() if sellers is not None else None)


class _DynamicsWatch:
    """Days on which the creators' dynamics died out or saturated, for the run's warnings.

    - every creator has quit (nobody is left to post);
    - active creators fell below a tenth of those active on day 0 (supply collapsing);
    - more than half of the active creators realise at least ``SATURATED_EFFORT`` of their
      potential posts (posting pinned at the pre-drawn potential: raise ``world.post_potential``).
    """

    def __init__(self, w, wc, ccfg, days, warm=0):
        # days: simulated days; the series and days it reports are the measured ones (day - warm; a
        # warning day during the warm-up is negative)
        self.w, self.wc, self.ccfg, self.days, self.warm = w, wc, ccfg, days, warm
        self.n_day0 = int(np.count_nonzero(w.creator_join_day == 0))
        self.all_quit_day = self.collapse_day = self.saturated_day = None
        self.active_by_day = np.zeros(days, np.int64)

    def end_day(self, day, quit_day, motivation):
        w = self.w
        alive = (quit_day > day) & (w.creator_join_day <= day)
        n = int(np.count_nonzero(alive))
        self.active_by_day[day] = n
        if n == 0 and self.all_quit_day is None:
            self.all_quit_day = day
        if self.n_day0 > 0 and n < 0.1 * self.n_day0 and self.collapse_day is None:
            self.collapse_day = day
        if self.wc.post_potential > 1.0 and n > 0 and self.saturated_day is None:
            p = CR.effort_probabilities(float(self.wc.post_potential), float(self.ccfg.effort_slope), motivation[alive])
            if np.count_nonzero(p >= CR.SATURATED_EFFORT) > 0.5 * n:
                self.saturated_day = day

    def _day(self, d):
        return None if d is None else d - self.warm

    def messages(self) -> list:
        out = []
        if self.all_quit_day is not None:
            out.append(f"every creator had quit by the end of day {self._day(self.all_quit_day)}: nobody is left to post "
                       "(see [creators] quit_b, quit_slope)")
        if self.collapse_day is not None:
            out.append(f"active creators fell below a tenth of day 0's ({self.n_day0}) on day {self._day(self.collapse_day)}: "
                       "the supply is dying out (see [creators] quit_b, quit_slope)")
        if self.saturated_day is not None:
            out.append(f"on day {self._day(self.saturated_day)} more than half of the active creators posted at least "
                       f"{CR.SATURATED_EFFORT:.0%} of their potential posts: posting is pinned at the pre-drawn "
                       "potential (raise [world] post_potential or lower [creators] effort_slope)")
        return out

    def _audience(self, quit_day) -> dict:
        """Survival by the size of the creator's audience: terciles of its main topic's interest mass."""
        from sim.metrics import _m

        w, d = self.w, self.days
        joined = w.creator_join_day < d
        # the mean in float64 without a float64 copy of the matrix (same row-by-row adds, same bits)
        mass = np.mean(w.user_interest, axis=0, dtype=np.float64)[w.creator_topic]
        out = [float("nan")] * 3
        if joined.any():
            cuts = np.quantile(mass[joined], [1 / 3, 2 / 3])
            tier = np.searchsorted(cuts, mass, side="right")
            for k in range(3):
                sel = joined & (tier == k)
                if sel.any():
                    out[k] = float(np.count_nonzero(sel & (quit_day >= d)) / np.count_nonzero(sel))
        desc = ("share of creators (present or joined during the run) still active at the end, {} third of creators "
                "by their main topic's share of users' interest")
        return {"creator_survival_by_audience": _m(np.array(out), "share of creators [niche, middle, broad]",
                                                   desc.format("each")),
                "creator_survival_niche": _m(out[0], "share of creators", desc.format("the niche")),
                "creator_survival_broad": _m(out[2], "share of creators", desc.format("the broad"))}

    def metrics(self, posts_by_day, motivation, quit_day) -> dict:
        from sim.metrics import _m

        d, W = self.days, self.warm
        posts_by_day = posts_by_day[W:]
        return {
            "posts_by_day": _m(posts_by_day.astype(np.float64), "posts, per day", "posts realised each day (potential posts the creators' motivation realised)"),
            "posts_per_day": _m(float(posts_by_day.mean()), "posts per day", "mean posts realised per day"),
            "creators_active_by_day": _m(self.active_by_day[W:].astype(np.float64), "creators, per day",
                                         "creators joined and not quit at each day's end"),
            "warning_all_creators_quit_day": _m(self._day(self.all_quit_day), "day", "day by whose end every creator had quit (none: never)"),
            "warning_creator_collapse_day": _m(self._day(self.collapse_day), "day",
                                               "first day active creators fell below a tenth of day 0's (none: never)"),
            "warning_effort_saturated_day": _m(self._day(self.saturated_day), "day",
                                               f"first day more than half of the active creators posted at {CR.SATURATED_EFFORT:.0%}+ of their potential (none: never)"),
            **self._audience(quit_day),
            # math.fsum: exact, so the same bits whatever the copy's alignment (NumPy's SIMD mean of a fresh
            # boolean-indexed copy differed in the last bit between runs, as between 1 and 2 compare jobs)
            "creator_motivation_mean": _m(math.fsum(motivation[(quit_day >= d) & (self.w.creator_join_day < d)])
                                          / np.count_nonzero((quit_day >= d) & (self.w.creator_join_day < d))
                                          if np.any((quit_day >= d) & (self.w.creator_join_day < d)) else float("nan"),
                                          "motivation (0: neutral)", "mean motivation of the creators active at the end"),
        }


def _hook_seen(w, bcfg):
    """Videos' hook as viewers meet it: the AI label's reaction (``ai_label_play``) added to labelled posts.

    The hook enters only the 3-second play logit (``play_h * hook``), so
    adding ``ai_label_play / play_h`` to a labelled post's hook shifts that
    logit by exactly ``ai_label_play`` and touches nothing else.
    """
    if bcfg.ai_label_play == 0:
        return w.video_hook
    shift = np.float32(bcfg.ai_label_play / bcfg.play_h)
    return (w.video_hook + shift * w.video_is_ai.astype(np.float32)).astype(w.video_hook.dtype)


def _log_tick(writer, run, day, tick, T, slate, out_i, out_f, out_u, w, req_base, new_days, propensity=False,
              warm=0, lv=None, sellers=None):
    """Append the tick's sampled requests to the event log; ``day`` is the simulated day, and the
    file's partition the reported day ``day - warm``. With live rooms (``lv``) their rows too, and
    with ``lv`` or ``sellers`` the columns of :data:`sim.events.EXTRA_FIELDS` (:func:`sim.events.extra_columns`)."""
    rows = np.arange(out_i.shape[0], dtype=np.int64)
    keep = out_i[:, K.I_VIDEO] >= 0
    if lv is not None:
        keep |= out_i[:, K.I_LIVE] >= 0
    if run.log_sample < 1.0:
        mask = np.empty(out_i.shape[0], np.bool_)
        _log_mask(np.int64(run.seed), np.int64(day), np.int64(tick), out_i[:, K.I_USER], out_i[:, K.I_REQ],
                  float(run.log_sample), mask)
        keep &= mask
    if not keep.any():
        return
    oi, of, ou = out_i[keep], out_f[keep], out_u[keep]
    v = oi[:, K.I_VIDEO]
    c = w.video_creator[v]
    age = creator_age_days(w.creator_join_day[c], day + tick / T)
    cols = {
        "tick": np.full(v.size, tick, np.int16),
        # rows are grouped by request, so row // slate is the tick's running request index
        "request_id": req_base + rows[keep] // slate,
        "user_id": oi[:, K.I_USER],
        "video_id": v,
        "creator_id": c,
        "position": ou[:, K.U_POS].astype(np.int16),
        "source": ou[:, K.U_SOURCE].astype(np.int8),
        "score": of[:, K.F_SCORE],
        "boost": of[:, K.F_BOOST],
        "affinity": of[:, K.F_AFF],
        "duration_s": w.video_duration_s[v],
        "creator_age_days": age.astype(np.float32),
        "is_new_creator": age < new_days,
        "is_ai_labeled": w.video_is_ai[v],
        "regular_reader": ou[:, K.U_REGULAR].astype(bool),
        "follower": ou[:, K.U_FOLLOWER].astype(bool),
        "play_3s": ou[:, K.U_PLAY].astype(bool),
        "completed": ou[:, K.U_COMPLETE].astype(bool),
        "watch_s": of[:, K.F_WATCH],
        "liked": ou[:, K.U_LIKE].astype(bool),
        "commented": ou[:, K.U_COMMENT].astype(bool),
        "shared": ou[:, K.U_SHARE].astype(bool),
        "share_recipients": ou[:, K.U_NREC].astype(np.int8),
        "share_opens": ou[:, K.U_NOPEN].astype(np.int8),
        "followed": ou[:, K.U_FOLLOWED].astype(bool),
        "latent_value": of[:, K.F_VALUE],
    }
    if propensity:
        cols["propensity"] = of[:, K.F_PROP]
    if lv is not None or sellers is not None:
        extra_columns(cols, oi, of, w, lv, sellers, rows[keep], day + tick / T, new_days)
    writer.write(day - warm, cols)
