"""Thompson sampling and UCB arithmetic: exact Beta draws per post (the one Numba kernel) and score posteriors.

:mod:`ranker.policies` re-exports the public functions; twins in
``tests/reference_policies.py``.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from ranker._numba import PJIT, njit, prange
from ranker.rng import STREAM_THOMPSON, key, log_beta

#: Smallest Beta shape used by the Thompson draws and their expectation.
_SHAPE_FLOOR = 1e-9


def score_log_sd(alpha, beta, cols, weights) -> np.ndarray:
    r"""Posterior sd of the score's log rates over ``cols``, per video.

    .. math::

       S_v = \Bigl(\sum_{r \in C} w_r^2\,
             \bigl(\psi_1(\alpha_{v,r}) - \psi_1(\alpha_{v,r} + \beta_{v,r})\bigr)\Bigr)^{1/2}

    :math:`\psi_1` the trigamma function: :math:`\psi_1(\alpha) -
    \psi_1(\alpha+\beta)` is the exact variance of :math:`\log \theta` for
    :math:`\theta \sim \mathrm{Beta}(\alpha, \beta)`, the rates are taken as
    independent, and each is weighed as the score weighs its signal.

    Parameters
    ----------
    alpha, beta : ndarray of float64, shape (n_videos, 7)
        Beta posterior parameters (> 0; floored at 1e-9).
    cols : ndarray of int64
        Signal columns.
    weights : ndarray of float64, shape (7,)
        Score weights in :data:`SIGNAL_NAMES` order.

    Returns
    -------
    ndarray of float64, shape (n_videos,)
        :math:`S_v`, log-lift units.
    """
    a = np.maximum(np.asarray(alpha, dtype=np.float64)[:, cols], _SHAPE_FLOOR)
    b = np.maximum(np.asarray(beta, dtype=np.float64)[:, cols], _SHAPE_FLOOR)
    var = special.polygamma(1, a) - special.polygamma(1, a + b)
    return np.sqrt(np.maximum(var, 0.0) @ (np.asarray(weights, dtype=np.float64)[cols] ** 2))


@njit(**PJIT)
def _thompson_log_draws(alpha, beta, cols, ids, seed, day, tick, out):
    """Log Beta draws per row and column: ``out[v, j] = log_beta(key(seed, STREAM_THOMPSON, ids[v], day, tick), cols[j], ...)``.

    ``alpha, beta`` float64 (n, 7), floored at ``_SHAPE_FLOOR``; ``cols``
    int64 signal columns (the draw index); ``ids`` int64 (n,) post ids.
    Writes ``out`` float64 (n, len(cols)).
    """
    for v in prange(alpha.shape[0]):
        k0 = key(seed, STREAM_THOMPSON, ids[v], day, tick)
        for j in range(cols.shape[0]):
            c = cols[j]
            a = max(alpha[v, c], _SHAPE_FLOOR)
            b = max(beta[v, c], _SHAPE_FLOOR)
            out[v, j] = log_beta(k0, c, a, b)


def thompson_log_draws(alpha, beta, cols, seed, day, tick, ids=None) -> np.ndarray:
    r"""Exact Beta posterior draws of the rates in ``cols``, as logarithms: float64 (n_videos, len(cols)).

    Entry :math:`(v, j)` is :math:`\log \theta_{v,c}`, :math:`\theta_{v,c}
    \sim \mathrm{Beta}(\alpha_{v,c}, \beta_{v,c})` with :math:`c` =
    ``cols[j]``, drawn by :func:`ranker.rng.log_beta` from key
    ``rng.key(seed, STREAM_THOMPSON, ids[v], day, tick)``, draw index
    :math:`c`: a pure function of (seed, post, day, tick, column), the
    same for any thread count, any subset of rows and any policy
    (common random numbers). Shapes are floored at :math:`10^{-9}`.

    Parameters
    ----------
    alpha, beta : ndarray of float64, shape (n_videos, 7)
        Beta posterior parameters in :data:`SIGNAL_NAMES` order.
    cols : sequence of int
        Signal columns.
    seed, day, tick : int
        Non-negative key fields.
    ids : ndarray of int64, shape (n_videos,), optional
        Non-negative post id of each row (default: the row index).
    """
    alpha = np.ascontiguousarray(alpha, dtype=np.float64)
    beta = np.ascontiguousarray(beta, dtype=np.float64)
    cols = np.asarray(cols, dtype=np.int64)
    n = alpha.shape[0]
    ids = np.arange(n, dtype=np.int64) if ids is None else np.ascontiguousarray(ids, dtype=np.int64)
    out = np.empty((n, cols.size), dtype=np.float64)
    _thompson_log_draws(alpha, beta, cols, ids, np.int64(seed), np.int64(day), np.int64(tick), out)
    return out


def thompson_lift(alpha, beta, cols, seed, day, tick, ids=None, weights=None) -> np.ndarray:
    r"""Sampled minus expected log rate, weighted and summed over signal columns, per video.

    .. math::

       \Delta_v = \sum_{c \in C} w_c \bigl(\log \theta_{v,c}
       - \mathbb{E}[\log \theta_{v,c}]\bigr),\qquad
       \mathbb{E}[\log \theta_{v,c}] = \psi(\alpha_{v,c}) - \psi(\alpha_{v,c} + \beta_{v,c})

    with :math:`\theta` from :func:`thompson_log_draws` and :math:`\psi` the
    digamma function: each term has mean exactly 0, whatever the counts
    (an unseen post's perturbation is centred, not pulled down by the
    concavity of the logarithm).

    Parameters
    ----------
    alpha, beta : ndarray of float64, shape (n_videos, 7)
        Beta posterior parameters (> 0; floored at 1e-9).
    cols : sequence of int
        Signal columns to sum over; column ``c`` uses draw index ``c``.
    seed, day, tick : int
        Non-negative key fields.
    ids : ndarray of int64, shape (n_videos,), optional
        Non-negative post id of each row (default: the row index).
    weights : ndarray of float64, shape (7,), optional
        Weight of each signal column (default: 1 each).

    Returns
    -------
    ndarray of float64, shape (n_videos,)
        :math:`\Delta_v`, log-lift units.
    """
    cols = np.asarray(cols, dtype=np.int64)
    logs = thompson_log_draws(alpha, beta, cols, seed, day, tick, ids)
    a = np.maximum(np.asarray(alpha, dtype=np.float64)[:, cols], _SHAPE_FLOOR)
    b = np.maximum(np.asarray(beta, dtype=np.float64)[:, cols], _SHAPE_FLOOR)
    expected = special.digamma(a) - special.digamma(a + b)
    w = np.ones(cols.size) if weights is None else np.asarray(weights, dtype=np.float64)[cols]
    return (logs - expected) @ w


