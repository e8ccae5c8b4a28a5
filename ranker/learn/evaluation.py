r"""How good a learned model is: NDCG on held-out days against baselines, importances, SHAP.

.. math::

    \mathrm{DCG@}k = \sum_{r=1}^{\min(k, n)} \frac{2^{g_r} - 1}{\log_2(r + 1)}, \qquad
    \mathrm{NDCG@}k = \frac{\mathrm{DCG@}k}{\mathrm{IDCG@}k}

averaged over held-out requests with at least two impressions and at least
one positive grade. Ties in a score are broken by one fixed random order,
the same for every scorer (the popularity baseline ties often).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

from ranker.learn.distillation import distill
from ranker.learn.features import HAND_NAMES, TrainingSet
from ranker.learn.trees import TreeEnsemble


def ndcg(scores, grades, request, k: int, *, tie_seed: int = 0) -> tuple[float, int]:
    r"""Mean NDCG@k over requests.

    Parameters
    ----------
    scores : float64 array, shape (n,)
        Higher ranks first; ties broken by a fixed random order (``tie_seed``).
    grades : int array, shape (n,)
        Relevance grades >= 0; gain :math:`2^g - 1`.
    request : int64 array, shape (n,)
        Request of each row.
    k : int
        Cut-off.

    Returns
    -------
    mean : float
        Mean NDCG@k over requests with >= 2 rows and a positive grade
        (NaN if there is none).
    n_requests : int
        Requests averaged.
    """
    scores = np.asarray(scores, dtype=np.float64)
    grades = np.asarray(grades)
    n = scores.shape[0]
    tie = np.random.default_rng(tie_seed).permutation(n)
    order = np.lexsort((tie, -scores, request))
    best = np.lexsort((-grades, request))
    req_s = request[order]
    starts = np.flatnonzero(np.r_[True, req_s[1:] != req_s[:-1]])
    sizes = np.diff(np.r_[starts, n])
    rank = np.arange(n) - np.repeat(starts, sizes)
    disc = np.where(rank < k, 1.0 / np.log2(rank + 2.0), 0.0)
    dcg = np.add.reduceat((2.0 ** grades[order] - 1.0) * disc, starts) if n else np.zeros(0)
    idcg = np.add.reduceat((2.0 ** grades[best] - 1.0) * disc, starts) if n else np.zeros(0)
    ok = (sizes >= 2) & (idcg > 0)
    if not ok.any():
        return float("nan"), 0
    return float(np.mean(dcg[ok] / idcg[ok])), int(ok.sum())


def _spearman(a, b) -> float:
    if a.size < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(spearmanr(a, b).statistic)


def evaluate(booster, ens: TreeEnsemble, ts: TrainingSet, hold_rows, train_rows, cfg,
             cols=None) -> dict:
    """NDCG table, importances, SHAP and the linear distillation (the ``weights.json`` content).

    ``cols`` are the columns of ``ts.X`` the model reads (default all).
    """
    cols = np.arange(len(ts.feature_names)) if cols is None else np.asarray(cols)
    names = [ts.feature_names[c] for c in cols]
    Xh = ts.X[np.ix_(hold_rows, cols)]
    score = ens.predict(Xh)
    req, g = ts.request[hold_rows], ts.grade[hold_rows]
    # linear distillation: hand-set features fitted to the model's scores on training rows
    rng = np.random.default_rng(cfg.seed)
    dist = distill(ens, ts, train_rows, cols, rng)
    w, used = dist.weights, dist.used
    distilled = dist.score(ts.hand_features()[hold_rows])
    ss_tot = float(np.sum((score - score.mean()) ** 2))
    r2 = 1.0 - float(np.sum((score - distilled) ** 2)) / ss_tot if ss_tot > 0 else float("nan")
    scorers = {"learned": score, "hand": ts.hand_score[hold_rows], "distilled": distilled,
               "popularity": ts.popularity[hold_rows], "random": np.zeros(hold_rows.size)}
    table = {}
    for name, s in scorers.items():
        row = {}
        for k in (5, 10):
            row[f"ndcg@{k}"], n_req = ndcg(s, g, req, k, tie_seed=cfg.seed)
        table[name] = row
    # importances: LightGBM's gain, and mean |SHAP| from its own pred_contrib
    gain = booster.feature_importance(importance_type="gain")
    sample = hold_rows if hold_rows.size <= cfg.shap_rows else np.sort(
        rng.choice(hold_rows, cfg.shap_rows, replace=False))
    contrib = booster.predict(ts.X[np.ix_(sample, cols)], pred_contrib=True, num_threads=cfg.threads)
    shap = np.abs(contrib[:, :-1]).mean(axis=0)
    total_gain = float(gain.sum()) or 1.0
    return {
        "format": 1,
        "source": ts.source,
        "label": ts.label_name,
        "label_edges": ts.label_edges,
        "feature_names": names,
        "days": {"in_log": ts.n_days, "warmup": cfg.warmup_days, "holdout": cfg.holdout_days},
        "rows": {"train": int(train_rows.size), "holdout": int(hold_rows.size),
                 "holdout_requests_scored": n_req},
        "ndcg": table,
        "gain_importance": {n: float(v) for n, v in zip(names, gain)},
        "gain_share": {n: float(v) / total_gain for n, v in zip(names, gain)},
        "mean_abs_shap": {n: float(v) for n, v in zip(names, shap)},
        "shap_rows": int(sample.size),
        "distillation": {
            "features": list(HAND_NAMES),
            "weights": {n: float(v) for n, v in zip(HAND_NAMES, w)},
            "intercept": dist.intercept,
            "constant_in_log": [HAND_NAMES[j] for j in range(len(HAND_NAMES)) if j not in used],
            "fitted_on": "training rows (model raw scores, least squares)",
            "r2_holdout": r2,
            "spearman_holdout": _spearman(score, distilled),
        },
        "tree_replay_max_abs_diff": float(np.max(np.abs(
            score[:2000] - booster.predict(Xh[:2000], raw_score=True, num_threads=cfg.threads)))) if Xh.size else 0.0,
    }


def format_report(report: dict) -> str:
    """The NDCG table and the distillation, as ``ranksim learn`` prints them."""
    lines = [f"held-out NDCG ({report['rows']['holdout_requests_scored']:,} requests, "
             f"{report['rows']['holdout']:,} impressions; trained on {report['rows']['train']:,}):",
             f"  {'scorer':<11} {'NDCG@5':>7} {'NDCG@10':>8}"]
    for name, row in report["ndcg"].items():
        lines.append(f"  {name:<11} {row['ndcg@5']:>7.4f} {row['ndcg@10']:>8.4f}")
    d = report["distillation"]
    w = ", ".join(f"{k}={v:+.3f}" for k, v in d["weights"].items() if k not in d["constant_in_log"])
    lines.append(f"linear distillation (R^2 {d['r2_holdout']:.3f}, Spearman {d['spearman_holdout']:.3f}): {w}")
    top = sorted(report["mean_abs_shap"].items(), key=lambda kv: -kv[1])[:5]
    lines.append("top mean |SHAP|: " + ", ".join(f"{k} {v:.3f}" for k, v in top))
    return "\n".join(lines)
