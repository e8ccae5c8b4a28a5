"""Training a LightGBM model on a :class:`~ranker.learn.features.TrainingSet`, and its model directory.

:func:`train` fits LambdaRank (or pointwise regression) on all but the last
days and reports on them (:func:`ranker.learn.evaluation.evaluate`);
:func:`save_model` writes ``model.txt`` (LightGBM text, never pickle),
``weights.json`` and the importance figures; :func:`load_model` reads them
back into a :class:`LearnedModel` the engine can rank with.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ranker.learn.evaluation import evaluate
from ranker.learn.features import FEATURE_NAMES, TrainingSet, resolve_features, tqdm_class
from ranker.learn.trees import TreeEnsemble
from ranker.model_check import check_model_dir
from ranker.params import Section, param
from ranker.signals import SIGNAL_NAMES



@dataclass(frozen=True)
class LearnConfig(Section):
    """LightGBM settings and the day split (``ranksim learn``)."""

    objective: str = param("lambdarank", "str", choices=("lambdarank", "regression"),
                           doc="lambdarank: grades ranked within requests; regression: the raw label, pointwise")
    holdout_days: int = param(2, "int", 1, 3650, doc="last days of the log held out for evaluation")
    warmup_days: int = param(1, "int", 0, 3650, doc="first days that only fill the counters")
    n_trees: int = param(200, "int", 1, 100_000, doc="boosting rounds (trees)")
    num_leaves: int = param(31, "int", 2, 4096, doc="leaves per tree")
    learning_rate: float = param(0.05, "float", 0.0, 1.0, lo_open=True, doc="shrinkage per tree")
    min_data_in_leaf: int = param(50, "int", 1, 10**9, doc="impressions per leaf, at least")
    lambda_l2: float = param(1.0, "float", 0.0, 1e6, doc="L2 penalty on leaf values")
    feature_fraction: float = param(1.0, "float", 0.0, 1.0, lo_open=True, doc="share of features tried per tree")
    seed: int = param(0, "int", 0, 2**31 - 1, doc="LightGBM seed")
    threads: int = param(1, "int", 1, 1024, doc="LightGBM threads (results are deterministic per thread count)")
    shap_rows: int = param(2_000, "int", 1, 10**8,
                           doc="held-out rows sampled for the mean |SHAP| (TreeSHAP costs ~1 ms a row)")

    def lgb_params(self) -> dict:
        """The LightGBM parameter dict (one name per setting, no aliases)."""
        head = (dict(objective="lambdarank", metric="ndcg", ndcg_eval_at=[5, 10]) if self.objective == "lambdarank"
                else dict(objective="regression", metric="l2"))
        return dict(head, num_leaves=self.num_leaves,
                    learning_rate=self.learning_rate, min_data_in_leaf=self.min_data_in_leaf,
                    lambda_l2=self.lambda_l2, feature_fraction=self.feature_fraction, seed=self.seed,
                    deterministic=True, force_row_wise=True, num_threads=self.threads, verbosity=-1)


@dataclass
class LearnResult:
    """What :func:`train` made: the booster, its replay, and the report."""

    booster: object
    ensemble: TreeEnsemble
    report: dict


def _by_request(ts: TrainingSet, rows):
    """Rows sorted by request (stable), and LightGBM's group sizes."""
    rows = rows[np.argsort(ts.request[rows], kind="stable")]
    _, sizes = np.unique(ts.request[rows], return_counts=True)
    return rows, sizes


def train(ts: TrainingSet, cfg: LearnConfig | None = None, *, features=None, progress: bool = False) -> LearnResult:
    """Fit LambdaRank on the training days and report on the held-out days.

    Parameters
    ----------
    ts : TrainingSet
    cfg : LearnConfig, optional
    features : str or sequence of str, optional
        The model's inputs (see :func:`resolve_features`); default all of
        :data:`FEATURE_NAMES`. The baselines always use their own features.
    progress : bool
        tqdm bar over boosting rounds.

    Returns
    -------
    LearnResult
        ``report`` holds the NDCG table, gain importances, mean |SHAP| and the
        linear distillation (see :func:`save_model` for the layout).
    """
    import lightgbm as lgb

    tqdm = tqdm_class(progress)
    cfg = LearnConfig() if cfg is None else cfg
    if not isinstance(ts, TrainingSet):
        raise TypeError(f"train expects a TrainingSet. Got {type(ts).__name__} instead.")
    last_train = ts.n_days - cfg.holdout_days  # first held-out day
    train_rows = np.flatnonzero(ts.day < last_train)
    hold_rows = np.flatnonzero(ts.day >= last_train)
    if train_rows.size == 0:
        raise ValueError(f"No training rows: the log has {ts.n_days} day(s), warm-up and holdout_days="
                         f"{cfg.holdout_days} leave none; lower --holdout-days or use a longer log.")
    if hold_rows.size == 0:
        raise ValueError("No held-out rows: the last days of the log have no impressions after the warm-up.")
    if ts.grade[train_rows].max() == 0:
        raise ValueError(f"The label {ts.label_name!r} is 0 on every training row: nothing to learn.")
    names = resolve_features(features)
    cols = np.array([ts.feature_names.index(f) for f in names])
    train_rows, sizes = _by_request(ts, train_rows)
    ranking = cfg.objective == "lambdarank"
    ds = lgb.Dataset(ts.X[np.ix_(train_rows, cols)], ts.grade[train_rows] if ranking else ts.target[train_rows],
                     group=sizes if ranking else None,
                     feature_name=list(names), free_raw_data=True,
                     params={"verbosity": -1, "max_bin": 255})
    bar = tqdm(total=cfg.n_trees, desc="trees", disable=not progress, leave=False)

    def tick(env):
        bar.update()

    booster = lgb.train(cfg.lgb_params(), ds, num_boost_round=cfg.n_trees, callbacks=[tick])
    bar.close()
    ens = TreeEnsemble.from_booster(booster)
    report = evaluate(booster, ens, ts, hold_rows, train_rows, cfg, cols)
    report["params"] = dict(cfg.lgb_params(), n_trees=cfg.n_trees)
    report["config"] = cfg.to_dict()
    return LearnResult(booster=booster, ensemble=ens, report=report)


MODEL_FILE = "model.txt"
WEIGHTS_FILE = "weights.json"


def _plot(report: dict, out_dir: Path) -> None:
    from ranker import _figures as plt  # no pyplot: the caller's backend is left alone

    names = report["feature_names"]
    gain = np.array([report["gain_share"][n] for n in names])
    shap = np.array([report["mean_abs_shap"][n] for n in names])
    order = np.argsort(gain)
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.35 * len(names) + 1.6), sharey=True)
    y = np.arange(len(names))
    axes[0].barh(y, gain[order], color="#4C72B0")
    axes[0].set_yticks(y, [names[i] for i in order])
    axes[0].set_xlabel("share of total split gain")
    axes[0].set_title("gain importance")
    axes[1].barh(y, shap[order], color="#DD8452")
    axes[1].set_xlabel("mean |SHAP| (raw score units)")
    axes[1].set_title("mean |SHAP| on held-out rows")
    nd = report["ndcg"]
    fig.suptitle(f"{report['source']} log, label {report['label']}: NDCG@10 learned "
                 f"{nd['learned']['ndcg@10']:.3f}, hand {nd['hand']['ndcg@10']:.3f}, "
                 f"popularity {nd['popularity']['ndcg@10']:.3f}", fontsize=10)
    fig.tight_layout()
    fig.savefig(out_dir / "weights.png", dpi=120)
    fig.savefig(out_dir / "weights.svg")
    plt.close(fig)


def save_model(result: LearnResult, out_dir, *, overwrite: bool = False) -> Path:
    """Write ``model.txt``, ``weights.json``, ``weights.png`` and ``weights.svg``.

    Files are written into a temporary directory beside ``out_dir`` and moved
    in place, so a failed run leaves no half-written model.

    Parameters
    ----------
    result : LearnResult
    out_dir : str or path-like
        Created if missing; if it already holds a model, ``overwrite`` must
        be True.

    Returns
    -------
    Path
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out}: exists and is not a directory")
    if (out / MODEL_FILE).exists() and not overwrite:
        raise FileExistsError(f"{out}: already holds a model; pass --overwrite to replace it")
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".learn-", dir=out))
    try:
        (tmp / MODEL_FILE).write_text(result.booster.model_to_string())
        (tmp / WEIGHTS_FILE).write_text(json.dumps(result.report, indent=2, allow_nan=True) + "\n")
        _plot(result.report, tmp)
        for name in (MODEL_FILE, WEIGHTS_FILE, "weights.png", "weights.svg"):
            os.replace(tmp / name, out / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


@dataclass(frozen=True)
class LearnedModel:
    """A model directory, loaded: the booster, its Numba replay and the report.

    Attributes
    ----------
    booster : lightgbm.Booster
    ensemble : TreeEnsemble
        Compiled on load (one warm-up call), ready for :meth:`predict`.
    report : dict
        The content of ``weights.json``.
    """

    booster: object
    ensemble: TreeEnsemble
    report: dict

    @property
    def feature_names(self) -> tuple:
        return self.ensemble.feature_names

    @property
    def pair_weights(self) -> dict:
        """``{"affinity": w, "regular_reader": w}`` from the linear distillation, in the model's score units.

        For a ranker that scores per video with :meth:`video_scores` and adds
        the per-candidate terms linearly, as the hand-set formula does. 0 where
        the model does not read the feature or ``weights.json`` is missing.
        """
        d = self.report.get("distillation", {}).get("weights", {})
        return {k: (float(d.get(k, 0.0)) if k in self.feature_names else 0.0)
                for k in ("affinity", "regular_reader")}

    def video_scores(self, signals, counters) -> np.ndarray:
        """Per-video raw scores from the signals and counters the engine holds.

        Per-video features come from ``signals`` and ``counters``; per-user
        and per-(user, creator) features take their neutral value: affinity
        0 (the viewer's average topic), regular_reader 0, user_play_lift 0, and
        a creator the viewer has not met (uc_log_impressions 0,
        uc_play_lift 0). Add the per-candidate terms with :attr:`pair_weights`.

        Parameters
        ----------
        signals : ranker.signals.Signals
            ``matrix`` float64 (n_videos, 7).
        counters : ranker.signals.Counters
            The same videos' counters (impressions, duration_s, creator_age_days).

        Returns
        -------
        float64 array, shape (n_videos,)
        """
        n = counters.n_videos
        with np.errstate(divide="ignore", invalid="ignore"):
            cols = dict(zip(SIGNAL_NAMES, np.asarray(signals.matrix, dtype=np.float64).T))
            cols.update(affinity=np.zeros(n), regular_reader=np.zeros(n),
                        log_impressions=np.log1p(counters.impressions),
                        log_duration=np.where(counters.duration_s > 0, np.log(counters.duration_s), np.nan),
                        creator_age_days=counters.creator_age_days, user_play_lift=np.zeros(n),
                        uc_log_impressions=np.zeros(n), uc_play_lift=np.zeros(n))
        X = np.empty((n, len(self.feature_names)))
        for j, name in enumerate(self.feature_names):
            X[:, j] = cols[name]
        return self.ensemble.predict(X)

    def predict(self, X) -> np.ndarray:
        """Raw scores of rows of :attr:`feature_names` (the Numba replay).

        Parameters
        ----------
        X : float64 array, shape (n_rows, n_features)

        Returns
        -------
        float64 array, shape (n_rows,)
        """
        return self.ensemble.predict(X)


def load_model(model_dir) -> LearnedModel:
    """Load ``model.txt`` and ``weights.json`` from a model directory, checked first.

    Both files are untrusted input: :func:`ranker.model_check.check_model_dir`
    parses and checks them whole before LightGBM reads anything (a damaged
    model used to abort the process inside LightGBM), and the tree replay is
    built from that parse.

    Raises
    ------
    FileNotFoundError
        When the directory, ``model.txt`` or ``weights.json`` is missing.
    ValueError
        (:class:`ranker.model_check.ModelCheckError`) naming the file, the
        tree and the field of the first problem.
    """
    import lightgbm as lgb

    checked = check_model_dir(model_dir, FEATURE_NAMES)
    ens = TreeEnsemble.from_dump(checked.dump())
    booster = lgb.Booster(model_str=checked.text)
    ens.predict(np.zeros((1, ens.n_features)))  # compile (or load from the cache) now, not mid-run
    return LearnedModel(booster=booster, ensemble=ens, report=checked.weights)
