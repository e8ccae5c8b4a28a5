r"""LightGBM learns the signal weights; a Numba replay of its trees scores in the loop.

One module per job: :mod:`~ranker.learn.events` (impression logs),
:mod:`~ranker.learn.features` (features before each impression),
:mod:`~ranker.learn.model` (training, the model directory),
:mod:`~ranker.learn.distillation` (the linear distillation),
:mod:`~ranker.learn.evaluation` (NDCG, importances) and
:mod:`~ranker.learn.trees` (the Numba replay of the trees); the names below
are re-exported here. ``ranksim learn`` is :func:`ranker.commands.add_learn_parser`.

Pipeline
--------
1. **Events** (:class:`EventLog`): one row per impression, from the
   simulator's Parquet log (:func:`read_event_log`) or a KuaiRand log
   (:func:`kuairand_event_log`), sorted by time.
2. **Training set** (:func:`build_training_set`): for every impression, the
   features *as they stood before it*. Per-video, per-creator, per-user and
   per-(user, creator) counters are accumulated in time order and read
   before the impression's own time block is added (a block is one tick of
   the simulator, one millisecond timestamp of KuaiRand; rows of one block
   never see each other). The population prior of the signals for day
   :math:`d` is fitted on the counters at the end of day :math:`d-1`, so no
   feature depends on anything that happens later; the first
   ``warmup_days`` only fill the counters and are not trained on.
3. **Training** (:func:`train`): LightGBM LambdaRank, one query per request
   (or pointwise regression on the raw label, ``objective="regression"``),
   deterministic (``seed``, ``deterministic=True``, ``force_row_wise=True``,
   explicit ``num_threads``); the last ``holdout_days`` days are held out.
   NDCG@5 and NDCG@10 on held-out days compare the learned model, the
   hand-set weights (:class:`ranker.score.ScoreWeights` on the same signal
   features), its linear distillation, a popularity baseline (the video's
   impressions so far) and random order.
4. **Model directory** (:func:`save_model`, :func:`load_model`):
   ``model.txt`` (LightGBM text, never pickle), ``weights.json`` (gain
   importances, mean absolute SHAP values from LightGBM's ``pred_contrib``,
   the linear distillation with its fidelity, the NDCG table) and
   ``weights.png`` / ``weights.svg``.

Features (:data:`FEATURE_NAMES`)
--------------------------------
========================= ======================================================
name                      meaning (as it stood before the impression)
========================= ======================================================
play3 ... rr_reach        the seven signals of :data:`ranker.signals.SIGNAL_NAMES`
                          from the video's running counters (log-lifts)
affinity                  the viewer's logged topic affinity (simulator logs:
                          the ``affinity`` column the ranker used; NaN if absent)
regular_reader            1 if the viewer is a regular reader of the creator
                          (NaN where the log cannot tell)
log_impressions           :math:`\ln(1 + i_v)`, the video's impressions so far
log_duration              :math:`\ln d_v` in seconds (NaN unknown)
creator_age_days          days since the creator joined (NaN unknown)
user_play_lift            log-lift of the viewer's smoothed 3-second play rate
                          over the population's
uc_log_impressions        :math:`\ln(1 + i_{uc})`, the viewer's impressions of
                          the creator so far (NaN for an unknown creator)
uc_play_lift              log-lift of the viewer's smoothed play rate on the
                          creator over the viewer's own (NaN unknown creator)
========================= ======================================================

Smoothed user rates follow :func:`ranker.signals.user_affinity` with
strength :data:`USER_STRENGTH`:

.. math::

    \hat p_u = \frac{p_u + k\,m}{i_u + k}, \quad
    \mathrm{user\_play\_lift} = \ln\frac{\hat p_u}{m}, \qquad
    \hat p_{uc} = \frac{p_{uc} + k\,\hat p_u}{i_{uc} + k}, \quad
    \mathrm{uc\_play\_lift} = \ln\frac{\hat p_{uc}}{\hat p_u}

with :math:`m` the prior mean of the 3-second play rate.

Evaluation: :mod:`ranker.learn.evaluation` (NDCG@k, ties broken by one fixed random order).
"""

from ranker.learn.distillation import DISTILL_MIN_STD, Distillation, distill
from ranker.learn.evaluation import evaluate, format_report, ndcg
from ranker.learn.events import (EVENT_LABELS, EVENT_OPTIONAL, EVENT_REQUIRED, KUAIRAND_LABELS, N_GRADES, EventLog,
                                 kuairand_event_log, read_event_log)
from ranker.learn.features import (EXTRA_NAMES, FEATURE_NAMES, FEATURE_SETS, HAND_NAMES, USER_STRENGTH, TrainingSet,
                                   build_training_set, resolve_features)
from ranker.learn.model import (MODEL_FILE, WEIGHTS_FILE, LearnConfig, LearnedModel, LearnResult, load_model,
                                save_model, train)
from ranker.learn.trees import ModelFormatError, TreeEnsemble

__all__ = [
    "DISTILL_MIN_STD", "Distillation", "distill", "evaluate", "format_report", "ndcg", "EVENT_LABELS",
    "EVENT_OPTIONAL", "EVENT_REQUIRED", "KUAIRAND_LABELS", "N_GRADES", "EventLog", "kuairand_event_log",
    "read_event_log", "EXTRA_NAMES", "FEATURE_NAMES", "FEATURE_SETS", "HAND_NAMES", "USER_STRENGTH",
    "TrainingSet", "build_training_set", "resolve_features", "MODEL_FILE", "WEIGHTS_FILE", "LearnConfig",
    "LearnedModel", "LearnResult", "load_model", "save_model", "train", "ModelFormatError", "TreeEnsemble",
]
