r"""Learning in the loop: the run's own impressions kept for retraining, the retrainings, the loop's metrics.

The engine hands :class:`LoopLearner` every tick's served rows with the
features the ranker read for them (:meth:`LoopLearner.record`), and at the end
of each day asks it for a new model (:meth:`LoopLearner.end_day`).

What is kept
------------
A share ``[loop] train_sample`` of requests (drawn per request from the
counter-based ``STREAM_LOG``, uniform 1 of the request's key; the event log's
own sample reads uniform 0), every served row of them, with the features
*exactly as the ranker saw them when it served*: the tick's signals and
counters of the video (``ranker.learn.FEATURE_NAMES``: the seven signals,
``log_impressions``, ``log_duration``, ``creator_age_days``), the viewer's
logged affinity and regular-reader flag; the per-user features the loop does
not hold are NaN. The label is the impression's latent value, cut into
``ranker.learn.N_GRADES`` grades at quantiles of the training window.

The window
----------
A retraining at the end of day :math:`d` (every ``retrain_every`` days, when
:math:`d + 1` is a multiple of it and days remain) reads the kept rows of
days :math:`d - W + 1 \ldots d`, :math:`W` = ``window_days``: a fixed-length
recent window, so the model follows the feed it shapes rather than averaging
over the run's whole history, and a retraining's cost does not grow with the
run. Rows older than the window are dropped when the day ends.

The warm-up
-----------
With ``[run] warmup_days`` :math:`W > 0` the loop keeps, retrains and serves
through the warm-up as on any day (the warm-up runs the policy ``none``
under the configured ranker): simulated days :math:`0 \ldots W - 1` are the
warm-up, and retrainings, windows and draws are keyed by the simulated day,
so a warm run is, day for day, the tail of a cold run as long. The measured
days start with a model retrained :math:`W` times on the loop's own feed
(its steady state) instead of the hand-set weights of a cold day 0. The
per-day metrics below cover the measured days only; retrainings and models
are numbered by the reported day (negative in the warm-up, as the event log
numbers days).

Training
--------
LightGBM LambdaRank, one query per request (:func:`ranker.learn.train`'s
settings: ``ranker.learn.LearnConfig`` with ``n_trees`` and
``train_threads`` of ``[loop]``, seed the run's seed modulo :math:`2^{31}`,
``deterministic``), on the preset ``[loop] features``. The result replays
bit for bit for a seed and thread count. The model's per-candidate terms
(affinity, regular reader) come from its linear distillation, as for a model
written by ``ranksim learn`` (:class:`ranker.learn.LearnedModel`).

With ``ipw = true`` each row is weighted by its inverse propensity,
:math:`\min(1/\pi, M)` with :math:`M` = ``ipw_max_weight`` (clipped inverse
propensity scoring, as Open Bandit Pipeline's ``lambda_`` caps the weight),
scaled to mean 1 over the window; :math:`\pi` is the logged per-slot
propensity (``ranker._explore_kernels``), so rows the serving policy was
unlikely to show count more. LambdaRank multiplies each row's gradient by its
weight.

Metrics
-------
:meth:`LoopLearner.metrics` adds, per day (lists indexed by day):
``loop_ndcg10_next_day_by_day`` (the latest retrained model's NDCG@10 on the
kept rows of the first day it served; the hand-set weights' on the same rows
beside it, ``loop_hand_ndcg10_next_day_by_day``), ``loop_new_creator_share_by_day``,
``loop_value_per_impression_by_day``, ``loop_exposure_gini_by_day`` (across
the day's live posts), ``loop_coverage_by_day`` (share of the day's live posts
shown at least once), ``loop_top1pct_share_by_day`` (share of impressions on
the top 1 % of live posts), ``loop_feed_jaccard_by_day`` (mean Jaccard overlap
of the sets of posts shown to pairs of users, over a fixed sample of users, as
Chaney, Stewart and Engelhardt 2018 measure homogenisation); and the
retrainings' count and rows (their seconds are in the run's timings,
``RunResult.timings["retrain_s"]``, apart from the feed loop's).
"""

from __future__ import annotations

import time

import numpy as np

from ranker._numba import PJIT, njit, prange
from ranker.learn.features import FEATURE_NAMES, HAND_NAMES, TrainingSet, _grades, resolve_features
from ranker.rng import STREAM_LOG, key, uniform
from sim import _engine_kernels as K

#: Users whose feeds the Jaccard overlap compares (every user when fewer).
JACCARD_USERS = 400
_COL = {n: j for j, n in enumerate(FEATURE_NAMES)}


@njit(**PJIT)
def _train_mask(seed, day, tick, users, reqs, rate, out):
    """A request is kept for retraining when uniform 1 of its STREAM_LOG key is below ``rate``."""
    for i in prange(users.shape[0]):
        slot = tick * K.MAX_REQUESTS_PER_TICK + reqs[i]
        out[i] = uniform(key(seed, STREAM_LOG, users[i], day, slot), 1) < rate


def ipw_weights(propensity, max_weight):
    """Clipped inverse-propensity weights, ``min(1 / p, max_weight)``, scaled to mean 1."""
    p = np.asarray(propensity, dtype=np.float64)
    w = np.minimum(1.0 / np.maximum(p, 1.0 / max_weight), max_weight)
    return w / w.mean()


class LoopLearner:
    """Keeps the run's impressions, retrains on them, and measures the loop (see the module docstring).

    Parameters
    ----------
    cfg : sim.config.Config
    world : sim.world.World
    model : ranker.learn.LearnedModel or None
        The model serving at the start (None: the hand-set weights).
    out_dir : path, optional
        The run's directory: each retrained model is written to
        ``models/after_day=NNNN/`` (``model.txt`` and ``weights.json`` with its
        SHAP and distillation, as ``ranksim learn`` writes them, figures aside),
        loadable as ``--ranker learned:DIR``.
    """

    def __init__(self, cfg, world, model=None, out_dir=None):
        self.out = out_dir
        self.cfg = cfg
        self.lp = cfg.loop
        self.days = cfg.run.days  # measured days: the per-day metrics' length
        self.warm = cfg.run.warmup_days  # simulated days 0 .. warm - 1 are the warm-up
        self.sim_days = self.warm + self.days
        self.seed = cfg.run.seed
        self.names = resolve_features(self.lp.features)
        self.cols = np.array([_COL[n] for n in self.names])
        self.w = world
        self.model = model
        self._tick_rows = []
        self.kept = {}  # day -> dict of arrays
        self.train_s = 0.0
        self.retrains = []  # one dict per retraining
        self._eval_next = None  # (model, day it first serves)
        D = self.days
        self.ndcg_next = [None] * D
        self.hand_ndcg_next = [None] * D
        self.new_share = [None] * D
        self.vpi = [None] * D
        self.gini = [None] * D
        self.coverage = [None] * D
        self.top1 = [None] * D
        self.jaccard = [None] * D
        self._day_video_imps = np.zeros(world.n_videos, np.int64)
        self._live = np.zeros(world.n_videos, np.bool_)
        self._day_new = 0
        self._day_value = 0.0
        step = max(1, world.n_users // JACCARD_USERS)
        self._jusers = np.arange(0, world.n_users, step)[:JACCARD_USERS]
        self._jpos = np.full(world.n_users, -1, np.int64)
        self._jpos[self._jusers] = np.arange(self._jusers.size)
        self._jpairs = []

    @property
    def retraining(self) -> bool:
        return self.lp.retraining

    # --- per tick --------------------------------------------------------------------------------

    def record(self, day, tick, idx, sig, counters, is_new_video, out_i, out_f, out_u, req_base, slate):
        """One tick: the loop metrics' sums, and (when retraining) the kept rows with their features."""
        v_all = out_i[:, K.I_VIDEO]
        served = v_all >= 0
        v = v_all[served]
        self._live[idx] = True
        np.add.at(self._day_video_imps, v, 1)
        self._day_new += int(np.count_nonzero(is_new_video[v]))
        self._day_value += float(out_f[served, K.F_VALUE].astype(np.float64).sum())
        u = out_i[served, K.I_USER]
        jp = self._jpos[u]
        sel = jp >= 0
        if sel.any():
            self._jpairs.append((jp[sel], v[sel]))
        if not self.retraining:
            return
        rows = np.flatnonzero(served)
        if self.lp.train_sample < 1.0:
            mask = np.empty(rows.size, np.bool_)
            _train_mask(np.int64(self.seed), np.int64(day), np.int64(tick), out_i[rows, K.I_USER],
                        out_i[rows, K.I_REQ], float(self.lp.train_sample), mask)
            rows = rows[mask]
        if rows.size == 0:
            return
        v = v_all[rows]
        j = np.searchsorted(idx, v)
        X = np.full((rows.size, len(FEATURE_NAMES)), np.nan, np.float32)
        X[:, :sig.matrix.shape[1]] = sig.matrix[j]
        X[:, _COL["affinity"]] = out_f[rows, K.F_AFF]
        X[:, _COL["regular_reader"]] = out_u[rows, K.U_REGULAR]
        X[:, _COL["log_impressions"]] = np.log1p(counters.impressions[j])
        with np.errstate(divide="ignore"):
            X[:, _COL["log_duration"]] = np.where(counters.duration_s[j] > 0, np.log(counters.duration_s[j]), np.nan)
        X[:, _COL["creator_age_days"]] = counters.creator_age_days[j]
        self._tick_rows.append(dict(
            X=X, value=out_f[rows, K.F_VALUE].copy(), request=req_base + rows // slate,
            propensity=out_f[rows, K.F_PROP].copy(), impressions=counters.impressions[j].astype(np.float32)))

    # --- per day ---------------------------------------------------------------------------------

    def end_day(self, day):
        """Close the day: its metrics; the window; a retraining when one is due (returns the new model)."""
        from sim.metrics import gini

        n = int(self._day_video_imps.sum())
        m = day - self.warm  # the reported day: the warm-up's days (m < 0) are in no metric
        if n and m >= 0:
            self.new_share[m] = self._day_new / n
            self.vpi[m] = self._day_value / n
            live_imps = self._day_video_imps[self._live]
            self.gini[m] = float(gini(live_imps.astype(np.float64)))
            self.coverage[m] = float(np.count_nonzero(live_imps)) / max(live_imps.size, 1)
            top = max(1, int(np.ceil(0.01 * live_imps.size)))
            self.top1[m] = float(np.sort(live_imps)[::-1][:top].sum()) / n
            self.jaccard[m] = self._jaccard()
        self._day_video_imps[:] = 0
        self._live[:] = False
        self._day_new, self._day_value = 0, 0.0
        self._jpairs = []
        if not self.retraining:
            return None
        if self._tick_rows:
            self.kept[day] = {k: np.concatenate([r[k] for r in self._tick_rows]) for k in self._tick_rows[0]}
        self._tick_rows = []
        for d in [d for d in self.kept if d <= day - self.lp.window_days]:
            del self.kept[d]
        if self._eval_next is not None and self._eval_next[1] == day and day in self.kept:
            if m >= 0:
                self.ndcg_next[m], self.hand_ndcg_next[m] = self._ndcg(self._eval_next[0], self.kept[day])
            self._eval_next = None
        if (day + 1) % self.lp.retrain_every == 0 and day + 1 < self.sim_days and self.kept:
            t0 = time.perf_counter()
            model = self._train(day)
            self.train_s += time.perf_counter() - t0
            if model is not None:
                self.model = model
                self._eval_next = (model, day + 1)
                return model
        return None

    def _jaccard(self):
        """Mean Jaccard overlap of the sampled users' sets of posts shown today (pairs of users both served)."""
        from scipy import sparse

        if not self._jpairs:
            return None
        u = np.concatenate([p[0] for p in self._jpairs])
        v = np.concatenate([p[1] for p in self._jpairs])
        A = sparse.csr_matrix((np.ones(u.size, np.float64), (u, v)), shape=(self._jusers.size, self.w.n_videos))
        A.data[:] = 1.0  # duplicates summed: back to a set
        A.sum_duplicates()
        A.data[:] = 1.0
        size = np.asarray(A.sum(axis=1)).ravel()
        on = size > 0
        A, size = A[on], size[on]
        if size.size < 2:
            return None
        inter = (A @ A.T).toarray()
        union = size[:, None] + size[None, :] - inter
        iu = np.triu_indices(size.size, 1)
        return float(np.mean(inter[iu] / union[iu]))

    # --- training --------------------------------------------------------------------------------

    def _window(self):
        days = sorted(self.kept)
        cat = {k: np.concatenate([self.kept[d][k] for d in days]) for k in self.kept[days[0]]}
        cat["day"] = np.concatenate([np.full(self.kept[d]["value"].size, d, np.int64) for d in days])
        return cat

    def _training_set(self, cat, edges=None):
        X = cat["X"].astype(np.float64)
        grade, edges = _grades("latent_value", cat["value"].astype(np.float64), np.ones(X.shape[0], bool)) \
            if edges is None else (np.searchsorted(np.asarray(edges), cat["value"], side="right").astype(np.int32),
                                   edges)
        ts = TrainingSet(X=X, feature_names=FEATURE_NAMES, grade=grade, target=cat["value"].astype(np.float64),
                         label_name="latent_value", label_edges=edges, request=cat["request"], day=cat["day"],
                         popularity=cat["impressions"].astype(np.float64), hand_score=np.zeros(X.shape[0]),
                         source="loop", n_days=int(cat["day"].max()) + 1)
        wts = np.array([getattr(self.cfg.weights, c) for c in HAND_NAMES])
        object.__setattr__(ts, "hand_score", ts.hand_features() @ wts)
        return ts

    def _ndcg(self, model, rows):
        from ranker.learn.evaluation import ndcg

        cat = dict(rows, day=np.zeros(rows["value"].size, np.int64))
        ts = self._training_set(cat, model.report.get("label_edges") or [])
        cols = [_COL[n] for n in model.feature_names]
        s = model.predict(ts.X[:, cols])
        return (ndcg(s, ts.grade, ts.request, 10, tie_seed=0)[0], ndcg(ts.hand_score, ts.grade, ts.request, 10,
                                                                        tie_seed=0)[0])

    def _train(self, day):
        import lightgbm as lgb

        from ranker.learn.evaluation import evaluate
        from ranker.learn.model import LearnConfig, LearnedModel
        from ranker.learn.trees import TreeEnsemble

        lp = self.lp
        cat = self._window()
        ts = self._training_set(cat)
        if ts.grade.max() == 0:
            return None
        order = np.argsort(ts.request, kind="stable")  # (already in request order; kept for safety)
        _, sizes = np.unique(ts.request[order], return_counts=True)
        weight = ipw_weights(cat["propensity"], lp.ipw_max_weight) if lp.ipw else None
        lcfg = LearnConfig(n_trees=lp.n_trees, threads=lp.train_threads, seed=int(self.seed % 2**31),
                           holdout_days=1, warmup_days=0, shap_rows=500)
        ds = lgb.Dataset(ts.X[np.ix_(order, self.cols)], ts.grade[order], group=sizes,
                         weight=None if weight is None else weight[order], feature_name=list(self.names),
                         free_raw_data=True, params={"verbosity": -1, "max_bin": 255})
        booster = lgb.train(lcfg.lgb_params(), ds, num_boost_round=lp.n_trees)
        ens = TreeEnsemble.from_booster(booster)
        last = np.flatnonzero(ts.day == day)
        report = evaluate(booster, ens, ts, last if last.size else np.arange(ts.n), np.arange(ts.n), lcfg,
                          self.cols)
        rep = day - self.warm  # reported days (negative in the warm-up), as the event log numbers them
        report["loop"] = {"trained_after_day": rep, "window_days": sorted(int(d) - self.warm for d in self.kept),
                          "ipw": lp.ipw, "ipw_max_weight": lp.ipw_max_weight if lp.ipw else None,
                          "note": "report['ndcg'] is on the window's last day, which the model trained on"}
        self.retrains.append({"day": rep, "rows": int(ts.n), "requests": int(sizes.size),
                              "top_shap": sorted(report["mean_abs_shap"].items(), key=lambda kv: -kv[1])[:5],
                              "pair_weights": {k: report["distillation"]["weights"][k]
                                               for k in ("affinity", "regular_reader")}})
        if self.out is not None:
            import json

            from ranker.learn.model import MODEL_FILE, WEIGHTS_FILE
            from sim.events import DAY_DIGITS

            d = self.out / "models" / f"after_day={rep:0{DAY_DIGITS}d}"
            d.mkdir(parents=True, exist_ok=True)
            (d / MODEL_FILE).write_text(booster.model_to_string())
            (d / WEIGHTS_FILE).write_text(json.dumps(report, indent=2, allow_nan=True) + "\n")
        return LearnedModel(booster=booster, ensemble=ens, report=report)

    # --- output ----------------------------------------------------------------------------------

    def metrics(self) -> dict:
        from sim.metrics import _m

        out = {
            "loop_new_creator_share_by_day": _m(self.new_share, "share of impressions",
                                                "share of the day's impressions on new creators' posts"),
            "loop_value_per_impression_by_day": _m(self.vpi, "value", "mean latent value of the day's impressions"),
            "loop_exposure_gini_by_day": _m(self.gini, "Gini coefficient in [0, 1]",
                                            "inequality of the day's impressions across the day's live posts"),
            "loop_coverage_by_day": _m(self.coverage, "share of posts",
                                       "share of the day's live posts shown at least once that day"),
            "loop_top1pct_share_by_day": _m(self.top1, "share of impressions",
                                            "share of the day's impressions on the top 1 % of its live posts"),
            "loop_feed_jaccard_by_day": _m(self.jaccard, "Jaccard index in [0, 1]",
                                           f"mean Jaccard overlap of the day's feeds (sets of posts) of pairs of "
                                           f"up to {JACCARD_USERS} sampled users"),
        }
        if self.retraining:
            out.update({
                "loop_ndcg10_next_day_by_day": _m(self.ndcg_next, "NDCG@10",
                                                  "the latest retrained model's NDCG@10 (latent value grades) on "
                                                  "the kept requests of the first day it served"),
                "loop_hand_ndcg10_next_day_by_day": _m(self.hand_ndcg_next, "NDCG@10",
                                                       "the hand-set weights' NDCG@10 on the same requests"),
                "loop_retrainings": _m(len(self.retrains), "count", "retrainings in the run, the warm-up's included"),
                "loop_train_rows_by_retraining": _m([r["rows"] for r in self.retrains], "impressions",
                                                    "kept impressions each retraining read (the warm-up's "
                                                    "retrainings first)"),
            })
        return out


#: Features the loop holds for every impression it serves (the others are per-user counters it does not keep).
LOOP_COMPUTABLE = tuple(n for n in FEATURE_NAMES if n not in ("user_play_lift", "uc_log_impressions", "uc_play_lift"))


def check_start_model(model_dir, checked) -> None:
    """Refuse, before the run, a starting model of another schema than the loop's.

    A model retrained in the loop starts from ``model_dir``: it must have been
    learned from a simulator log (``weights.json`` ``source`` ``events`` or
    ``loop``; a KuaiRand model's features count another platform's
    impressions) and read only features the loop computes
    (:data:`LOOP_COMPUTABLE`). ``checked`` is its
    :class:`ranker.model_check.CheckedModel`.
    """
    source = checked.weights.get("source", "events")
    if source not in ("events", "loop"):
        raise ValueError(f"{model_dir}: weights.json says the model was learned from a {source!r} log; retraining "
                         "in the loop starts from a model learned from a simulator log (source 'events'), or from "
                         "the hand-set weights (--ranker hand).")
    other = [n for n in checked.feature_names if n not in LOOP_COMPUTABLE]
    if other:
        raise ValueError(f"{model_dir}: the model reads {other}, which the loop does not compute; retraining in "
                         f"the loop starts from a model of features among {', '.join(LOOP_COMPUTABLE)} "
                         "(ranksim learn --features video+pair or loop), or from the hand-set weights.")
