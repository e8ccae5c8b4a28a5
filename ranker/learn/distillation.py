"""The linear distillation of a learned model: the hand-set formula's features fitted to its scores.

A ranker that scores per video and adds the per-candidate terms linearly
(``--ranker distilled:MODEL_DIR``) reads these weights; ``weights.json``
reports them with their fidelity on held-out rows (:mod:`ranker.learn.evaluation`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranker.learn.features import TrainingSet
from ranker.learn.trees import TreeEnsemble

#: Hand-set features whose standard deviation is below this get distillation weight 0.
DISTILL_MIN_STD = 1e-3
#: Training rows the least squares fit reads, at most (a random sample beyond).
DISTILL_MAX_ROWS = 200_000


@dataclass(frozen=True)
class Distillation:
    """Least-squares weights of :data:`ranker.learn.features.HAND_NAMES` reproducing a model's raw scores.

    Attributes
    ----------
    weights : float64 array, shape (len(HAND_NAMES),)
        In :data:`HAND_NAMES` order; 0 for a feature that barely varies in the log.
    intercept : float
    used : list of int
        Indices of the features that got a weight (the others are constant in the log).
    """

    weights: np.ndarray
    intercept: float
    used: list

    def score(self, hand_features: np.ndarray) -> np.ndarray:
        """Distilled scores of rows of :meth:`TrainingSet.hand_features`."""
        return hand_features @ self.weights + self.intercept


def distill(ens: TreeEnsemble, ts: TrainingSet, train_rows, cols, rng: np.random.Generator) -> Distillation:
    """Fit the hand-set features to the model's raw scores on (a sample of) the training rows.

    Parameters
    ----------
    ens : TreeEnsemble
        The model, reading columns ``cols`` of ``ts.X``.
    ts : TrainingSet
    train_rows : int array
        Rows fitted on; at most :data:`DISTILL_MAX_ROWS`, sampled with ``rng`` beyond.
    cols : int array
    rng : numpy.random.Generator
        Draws the sample (only when there are more rows than the cap).

    Returns
    -------
    Distillation
    """
    H = ts.hand_features()
    fit = train_rows if train_rows.size <= DISTILL_MAX_ROWS else rng.choice(train_rows, DISTILL_MAX_ROWS,
                                                                             replace=False)
    fit = np.sort(fit)
    y_fit = ens.predict(ts.X[np.ix_(fit, cols)])
    # columns that barely vary in this log (e.g. rr_reach without regular readers) get weight 0:
    # least squares would give them huge offsetting weights
    sd = H[fit].std(axis=0)
    used = [j for j in range(H.shape[1]) if sd[j] > DISTILL_MIN_STD]
    mu = H[fit].mean(axis=0)
    Z = (H[fit][:, used] - mu[used]) / sd[used]
    beta = np.linalg.lstsq(np.column_stack([Z, np.ones(fit.size)]), y_fit, rcond=None)[0]
    w = np.zeros(H.shape[1])
    w[used] = beta[:-1] / sd[used]
    return Distillation(weights=w, intercept=float(beta[-1] - float(w[used] @ mu[used])), used=used)
