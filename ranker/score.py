r"""Scoring candidate sets on the platform's signals, and top-k per request.

A candidate is a (request, video) pair. Its score, in log-lift units (0 = an
average video for an average viewer), is

.. math::

    s_{uv} = \underbrace{\textstyle\sum_{i} w_i\, x_{vi}}_{\mathrm{base}_v}
             + \mathrm{boost}_v
             + w_{\mathrm{aff}}\, a_{u,\mathrm{topic}(v)}
             + w_{\mathrm{rr}}\, \mathbb{1}[u \text{ is a regular reader of } \mathrm{creator}(v)]

with :math:`x_v` the video's seven signals (:data:`ranker.signals.SIGNAL_NAMES`,
each a log-lift over the population prior), :math:`w` the
:class:`ScoreWeights`, :math:`\mathrm{boost}_v` a boosting policy's bonus and
:math:`a` the viewer's logged topic affinity (a log-lift). A video whose base
or boost is :math:`-\infty` is masked: never chosen.

The per-video part is computed once per tick by :func:`base_scores`; the
per-pair part and the top-k selection run in Numba, either from another
kernel (:func:`ranker._score_kernels.topk_into`, ``topk_quota_into``) or for a
whole batch of requests through :func:`score_requests`.

Top-k order: score descending, ties broken by the smaller video id; the
result is the same for any number of threads.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, fields

import numpy as np

from ranker._score_kernels import _candidate_stats, _score_requests
from ranker.params import Section, param
from ranker.signals import SIGNAL_NAMES

__all__ = ["ScoreWeights", "weight_vector", "base_scores", "score_requests", "SIGNAL_NAMES"]


@dataclass(frozen=True)
class ScoreWeights(Section):
    r"""Hand-set weights of the score (the ``[weights]`` section).

    Each signal is a log-lift over the population prior (0 = an average
    video, :math:`\ln 2 \approx 0.69` = twice the average rate), so a weight
    says how many log-units of score one log-unit of lift is worth, and
    weights are comparable across signals. A learned model replaces these
    later (:mod:`ranker.learn`). Why each default:

    play3 = 1.0
        The platform names the 3-second play rate among the signals with the
        highest weight; it is the reference unit.
    completion = 1.0
        Also among the highest-weighted signals, and the one least fooled by a
        strong hook: it is counted per 3-second play (``ranker.signals``), so
        a hook that doubles the plays leaves it where it is (clickbait lifts
        play3, not completion).
    avg_play = 0.5
        Highest tier too, but it largely re-measures completion (both come from
        watch time), so half a weight keeps watch time from being counted twice.
        It is counted per impression (watch fraction, replays clipped), so a
        hook that doubles the plays raises it almost as much as play3: with
        play3's weight, 1.5 log-units of score per log-unit of hook lift, the
        part of the score clickbait can still buy.
    like = 0.3
        Second tier ("next: share, like and comment rates"); likes are the
        cheapest interaction, so the lowest of the three.
    comment = 0.2
        Second tier; comment rates are low and noisy even after smoothing, so a
        smaller weight than likes.
    share_ft = 0.5
        Shares read for their value (item 2): the follow-through signal is
        zero for shares opened at the population's rate and negative for
        share-bait, so it may weigh more than likes without rewarding bait.
    rr_reach = 0.5
        Regular readers over follower counts (item 3): a creator-level signal,
        the same for all the creator's posts, so it tilts rather than decides.
    affinity = 1.0
        The viewer's topic affinity is a log-lift of their own 3-second play
        rate on the topic, the same unit as play3, hence the same weight.
    regular_reader = 0.5
        Bonus when the viewer is a regular reader of the creator (item 3:
        regular readers are reached with higher probability):
        :math:`e^{0.5} \approx 1.65` times the odds-like lift of an average post.
    """

    play3: float = param(1.0, "float", -100.0, 100.0, doc="weight of the 3-second play rate signal")
    completion: float = param(1.0, "float", -100.0, 100.0, doc="weight of the completion rate signal")
    avg_play: float = param(0.5, "float", -100.0, 100.0, doc="weight of the average play duration (relative to length) signal")
    like: float = param(0.3, "float", -100.0, 100.0, doc="weight of the like rate signal")
    comment: float = param(0.2, "float", -100.0, 100.0, doc="weight of the comment rate signal")
    share_ft: float = param(0.5, "float", -100.0, 100.0, doc="weight of the share follow-through signal")
    rr_reach: float = param(0.5, "float", -100.0, 100.0, doc="weight of the creator's regular-reader reach signal")
    affinity: float = param(1.0, "float", -100.0, 100.0, doc="weight of the viewer's logged topic affinity (log-lift)")
    regular_reader: float = param(0.5, "float", -100.0, 100.0, doc="bonus when the viewer is a regular reader of the creator")


# --- validation helpers ------------------------------------------------------

def _head(owner: str, name: str) -> str:
    return f"The {name!r} parameter of {owner}"


def _describe(x) -> str:
    if isinstance(x, np.ndarray):
        return f"an array of dtype {x.dtype} and shape {x.shape}"
    return repr(x) if x is None or np.isscalar(x) else type(x).__name__


def _check_weights(owner: str, weights) -> ScoreWeights:
    if not isinstance(weights, ScoreWeights):
        raise TypeError(f"{_head(owner, 'weights')} must be a ScoreWeights. Got {_describe(weights)} instead.")
    return weights


def _check_int(owner: str, name: str, value, lo: int) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{_head(owner, name)} must be an int in the range [{lo}, inf). Got {value!r} instead.")
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(
            f"{_head(owner, name)} must be an int in the range [{lo}, inf). Got {value!r} instead."
        ) from None
    if v < lo:
        raise ValueError(f"{_head(owner, name)} must be an int in the range [{lo}, inf). Got {v!r} instead.")
    return v


def _as_array(owner: str, name: str, x, what: str, kinds: str, ndim: int = 1) -> np.ndarray:
    """``x`` as an ndarray of one of the dtype kinds (``"b"``, ``"iu"``, ``"fiu"``) and ``ndim``."""
    shape = "1-D" if ndim == 1 else f"{ndim}-D"
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.dtype.kind not in kinds:
        got = _describe(x if arr is None or isinstance(x, np.ndarray) else arr)
        raise TypeError(f"{_head(owner, name)} must be a {shape} array of {what}. Got {got} instead.")
    if arr.ndim != ndim:
        raise ValueError(f"{_head(owner, name)} must be a {shape} array of {what}. Got an array of shape {arr.shape} instead.")
    return arr


def _check_len(owner: str, name: str, arr: np.ndarray, n: int, of: str) -> None:
    if arr.shape[0] != n:
        raise ValueError(
            f"{_head(owner, name)} must have one entry per {of} ({n}). Got an array of length {arr.shape[0]} instead."
        )


def _as_flags(owner: str, name: str, x, n: int, of: str) -> np.ndarray:
    """A bool (or 0/1 integer) array of length ``n`` as contiguous ``uint8``."""
    arr = _as_array(owner, name, x, "bools (or 0/1 integers)", "biu")
    _check_len(owner, name, arr, n, of)
    if arr.dtype.kind != "b":
        bad = np.flatnonzero((arr != 0) & (arr != 1))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"{_head(owner, name)} must hold only 0 and 1. Got {arr[i].item()!r} at index {i} instead.")
    return np.ascontiguousarray(arr, dtype=np.bool_).view(np.uint8)


def _as_table(owner: str, name: str, x, n: int | None) -> np.ndarray:
    """A per-video float64 table: NaN and +inf rejected, -inf allowed (masks)."""
    arr = _as_array(owner, name, x, "floats", "fiu")
    if n is not None:
        _check_len(owner, name, arr, n, "video (len(base))")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    bad = np.flatnonzero(np.isnan(arr) | (arr == np.inf))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{_head(owner, name)} must hold floats or -inf (masked). Got {arr[i].item()!r} at index {i} instead."
        )
    return arr


# --- public face -------------------------------------------------------------

def weight_vector(weights: ScoreWeights) -> np.ndarray:
    """The signal weights as a vector in :data:`ranker.signals.SIGNAL_NAMES` order.

    Parameters
    ----------
    weights : ScoreWeights
        The ``[weights]`` section.

    Returns
    -------
    w : ndarray of float64, shape (7,)
        ``w[i] = getattr(weights, SIGNAL_NAMES[i])``.
    """
    _check_weights("weight_vector", weights)
    return np.array([getattr(weights, name) for name in SIGNAL_NAMES], dtype=np.float64)


def base_scores(signals_matrix, weights: ScoreWeights) -> np.ndarray:
    r"""Per-video part of the score: the weighted signals.

    .. math::

        \mathrm{base}_v = \sum_{i=0}^{6} w_i\, x_{vi}

    summed left to right over the columns (no BLAS, so the result is the same
    bits on every machine and thread count).

    Parameters
    ----------
    signals_matrix : array_like of float, shape (n_videos, 7)
        Signals in :data:`ranker.signals.SIGNAL_NAMES` order (``Signals.matrix``),
        log-lifts over the population prior.
    weights : ScoreWeights
        The ``[weights]`` section.

    Returns
    -------
    base : ndarray of float64, shape (n_videos,)
        Base score per video, log-lift units.
    """
    owner = "base_scores"
    w = weight_vector(_check_weights(owner, weights))
    x = _as_array(owner, "signals_matrix", signals_matrix, "floats", "fiu", ndim=2)
    if x.shape[1] != len(SIGNAL_NAMES):
        raise ValueError(
            f"{_head(owner, 'signals_matrix')} must have {len(SIGNAL_NAMES)} columns {SIGNAL_NAMES}. "
            f"Got an array of shape {x.shape} instead."
        )
    x = np.asarray(x, dtype=np.float64)
    out = x[:, 0] * w[0]
    for i in range(1, len(SIGNAL_NAMES)):
        out += x[:, i] * w[i]
    return out


def score_requests(indptr, cand_video, cand_aff, cand_rr, base, boost, weights: ScoreWeights, k: int,
                   n_quota: int = 0, is_new=None) -> tuple[np.ndarray, np.ndarray]:
    r"""Score a batch of requests' candidate sets and keep the top ``k`` of each.

    Candidate :math:`j` of request :math:`r` (``indptr[r] <= j < indptr[r + 1]``)
    shows video :math:`v_j` = ``cand_video[j]`` and scores

    .. math::

        s_j = \mathrm{base}_{v_j} + \mathrm{boost}_{v_j}
              + w_{\mathrm{aff}}\,\mathrm{aff}_j + w_{\mathrm{rr}}\,\mathrm{rr}_j

    with :math:`w_{\mathrm{aff}}` = ``weights.affinity`` and :math:`w_{\mathrm{rr}}`
    = ``weights.regular_reader``. A candidate is masked (never chosen) when
    :math:`v_j = -1` or its base or boost is :math:`-\infty`. Each request's
    chosen candidates are ordered by score descending, ties broken by the
    smaller video id. With ``n_quota > 0`` at least
    :math:`\min(n_{quota}, k, E_r)` of them are new creators' posts
    (:math:`E_r` the request's unmasked new candidates): the best of those,
    then the best of all the rest.

    Runs in parallel over requests; the result does not depend on the number
    of threads. Candidates of one request should be distinct videos (a video
    offered twice may be chosen twice).

    Parameters
    ----------
    indptr : array_like of int, shape (n_req + 1,)
        CSR row pointers: ``indptr[0] == 0``, non-decreasing,
        ``indptr[-1] == n_cand``.
    cand_video : array_like of int, shape (n_cand,)
        Video row of each candidate in ``[0, n_videos)``, or ``-1`` (padding,
        masked). Stored as int32 (pass int32 to skip the copy).
    cand_aff : array_like of float, shape (n_cand,)
        The viewer's logged topic affinity for the candidate's topic
        (log-lift, finite). Stored as float32 (4 bytes per candidate; the
        dtype of :func:`ranker.signals.user_affinity`): other dtypes are
        rounded to it once, so pass float32 to skip the copy.
    cand_rr : array_like of bool, shape (n_cand,)
        Whether the viewer is a regular reader of the candidate's creator
        (bool, or integers 0/1). Read as one byte per candidate.
    base : array_like of float, shape (n_videos,)
        Base score per video (:func:`base_scores`), log-lift units; ``-inf``
        masks a video. NaN and ``+inf`` are errors.
    boost : array_like of float, shape (n_videos,)
        The boosting policy's bonus per video, log-lift units; ``-inf`` masks.
    weights : ScoreWeights
        Supplies ``affinity`` and ``regular_reader``.
    k : int
        Number to keep per request, ``>= 1``.
    n_quota : int, default 0
        Slots per request reserved for new creators' posts (``>= 0``; more
        than ``k`` acts as ``k``).
    is_new : array_like of bool, shape (n_videos,), optional
        Whether each video is a new creator's post. Required when
        ``n_quota > 0``.

    Returns
    -------
    top : ndarray of int32, shape (n_req, k)
        Chosen video rows per request, best first, padded with ``-1``.
    top_scores : ndarray of float64, shape (n_req, k)
        Their scores, padded with ``-inf``.

    Raises
    ------
    TypeError
        An argument of the wrong type or dtype.
    ValueError
        A wrong shape, a length mismatch, non-monotone ``indptr``, an id out
        of range, a non-finite affinity, NaN or ``+inf`` in ``base``/``boost``,
        ``k < 1``, ``n_quota < 0``, or ``n_quota > 0`` without ``is_new``.
    """
    owner = "score_requests"
    weights = _check_weights(owner, weights)
    k = _check_int(owner, "k", k, 1)
    n_quota = _check_int(owner, "n_quota", n_quota, 0)

    base = _as_table(owner, "base", base, None)
    n_videos = base.shape[0]
    if n_videos >= 2**31 - 1:
        raise ValueError(f"{_head(owner, 'base')} must have fewer than 2**31 - 1 entries. Got {n_videos} instead.")
    boost = _as_table(owner, "boost", boost, n_videos)

    indptr = _as_array(owner, "indptr", indptr, "integers", "iu")
    if indptr.shape[0] < 1:
        raise ValueError(f"{_head(owner, 'indptr')} must have at least one entry (n_req + 1). Got an empty array instead.")
    cand_video = _as_array(owner, "cand_video", cand_video, "integers", "iu")
    n_cand = cand_video.shape[0]
    indptr = np.ascontiguousarray(indptr, dtype=np.int64)
    if indptr[0] != 0:
        raise ValueError(f"{_head(owner, 'indptr')} must start at 0. Got indptr[0] = {indptr[0]} instead.")
    drop = np.flatnonzero(indptr[1:] < indptr[:-1])
    if drop.size:
        i = int(drop[0])
        raise ValueError(
            f"{_head(owner, 'indptr')} must be non-decreasing. "
            f"Got indptr[{i}] = {indptr[i]} > indptr[{i + 1}] = {indptr[i + 1]} instead."
        )
    if indptr[-1] != n_cand:
        raise ValueError(
            f"{_head(owner, 'indptr')} must end at the number of candidates (len(cand_video) = {n_cand}). "
            f"Got indptr[-1] = {indptr[-1]} instead."
        )

    cand_aff = _as_array(owner, "cand_aff", cand_aff, "floats", "fiu")
    _check_len(owner, "cand_aff", cand_aff, n_cand, "candidate (len(cand_video))")
    aff_given = cand_aff
    with np.errstate(over="ignore", invalid="ignore"):  # overflow to inf is reported below
        cand_aff = np.ascontiguousarray(cand_aff, dtype=np.float32)
    cand_rr = _as_flags(owner, "cand_rr", cand_rr, n_cand, "candidate (len(cand_video))")

    def bad_video(i):
        return ValueError(
            f"{_head(owner, 'cand_video')} must hold video rows in the range [0, {n_videos}) or -1 (padding). "
            f"Got {cand_video[i].item()!r} at index {i} instead."
        )

    if cand_video.dtype != np.int32 and n_cand:
        # other integer dtypes: range first (in NumPy), so the int32 cast below is exact
        outside = (cand_video < -1) | (cand_video >= n_videos)
        if outside.any():
            raise bad_video(int(np.flatnonzero(outside)[0]))
    cand_video = np.ascontiguousarray(cand_video, dtype=np.int32)
    # one fused pass over the candidate columns: id range and finiteness
    lo, hi, bad = _candidate_stats(cand_video, cand_aff)
    if n_cand and (lo < -1 or hi >= n_videos):
        raise bad_video(int(np.flatnonzero((cand_video < -1) | (cand_video >= n_videos))[0]))
    if bad >= 0:
        raise ValueError(
            f"{_head(owner, 'cand_aff')} must be finite (as float32). Got {aff_given[bad].item()!r} at index {bad} instead."
        )

    if n_quota > 0 and is_new is None:
        raise ValueError(
            f"{_head(owner, 'is_new')} must be a 1-D array of bools with one entry per video "
            f"when n_quota > 0 (here {n_quota}). Got None instead."
        )
    if is_new is None:
        is_new_arr = np.zeros(0, np.bool_)
    else:
        is_new_arr = _as_flags(owner, "is_new", is_new, n_videos, "video (len(base))").view(np.bool_)

    n_req = indptr.shape[0] - 1
    top = np.empty((n_req, k), np.int32)
    top_scores = np.empty((n_req, k), np.float64)
    _score_requests(indptr, cand_video, cand_aff, cand_rr, base, boost, float(weights.affinity),
                    float(weights.regular_reader), np.int64(k), np.int64(n_quota), is_new_arr, top, top_scores)
    return top, top_scores


# keep the documented field order in sync with the signal order
assert tuple(f.name for f in fields(ScoreWeights))[: len(SIGNAL_NAMES)] == SIGNAL_NAMES
