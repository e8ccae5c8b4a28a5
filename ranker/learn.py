r"""LightGBM learns the signal weights; a Numba replay of its trees scores in the loop.

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

Evaluation
----------
.. math::

    \mathrm{DCG@}k = \sum_{r=1}^{\min(k, n)} \frac{2^{g_r} - 1}{\log_2(r + 1)}, \qquad
    \mathrm{NDCG@}k = \frac{\mathrm{DCG@}k}{\mathrm{IDCG@}k}

averaged over held-out requests with at least two impressions and at least
one positive grade. Ties in a score are broken by one fixed random order,
the same for every scorer (the popularity baseline ties often).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ranker import _tree_kernels as _tk
from ranker.params import Section, param
from ranker.signals import SIGNAL_NAMES


class ModelFormatError(ValueError):
    """A LightGBM model this evaluator cannot replay exactly."""


_MISSING = {"None": _tk.MISSING_NONE, "Zero": _tk.MISSING_ZERO, "NaN": _tk.MISSING_NAN}


@dataclass(frozen=True)
class TreeEnsemble:
    """A LightGBM model flattened into node arrays, scored by a Numba kernel.

    Build it with :meth:`from_booster` or :meth:`from_dump`; score with
    :meth:`predict`, which matches ``Booster.predict(X, raw_score=True)``
    (bit for bit in the tests: same decisions, same summation order).

    Nodes of all trees share one index space: internal nodes first, then
    leaves.

    Attributes
    ----------
    feature : int32 array, shape (n_nodes,)
        Split feature per node, -1 for a leaf.
    threshold : float64 array, shape (n_nodes,)
        Split threshold (left when ``x <= threshold``); NaN for a leaf.
    flags : uint8 array, shape (n_nodes,)
        Bit 0 missing goes left; bits 1-2 missing type (0 None, 1 Zero, 2 NaN).
    children : int32 array, shape (n_nodes, 2)
        Left and right child (-1 for a leaf).
    value : float64 array, shape (n_nodes,)
        Leaf value in score units (0 for internal nodes).
    roots : int32 array, shape (n_trees,)
        Root node of each tree in boosting order.
    feature_names : tuple of str
        Names of the model's input columns, in order.
    """

    feature: np.ndarray
    threshold: np.ndarray
    flags: np.ndarray
    children: np.ndarray
    value: np.ndarray
    roots: np.ndarray
    feature_names: tuple
    _theta: np.ndarray = field(repr=False, compare=False, default=None)
    _rec: np.ndarray = field(repr=False, compare=False, default=None)
    _plan: np.ndarray = field(repr=False, compare=False, default=None)
    _n_internal: int = field(repr=False, compare=False, default=0)

    def __post_init__(self):
        n_internal = int((self.feature >= 0).sum())
        if not (self.feature[:n_internal] >= 0).all():
            raise ModelFormatError("Internal nodes must come before leaves.")
        if self.feature.shape[0] > _tk.MAX_INDEX // 4 or 4 * len(self.feature_names) > _tk.MAX_INDEX:
            raise ModelFormatError(f"Too many nodes ({self.feature.shape[0]}) or features to replay.")
        thr = self.threshold[:n_internal]
        if not np.isfinite(thr).all():
            raise ModelFormatError("Split thresholds must be finite.")
        missing = self.flags >> 1
        default_left = (self.flags & 1).astype(bool)
        with np.errstate(invalid="ignore"):
            zero_goes_left = ~(0.0 > self.threshold)
        nan_left = np.where(missing == _tk.MISSING_NONE, zero_goes_left, default_left)
        theta, rec, plan = _tk.pack(self.feature, self.threshold, nan_left, missing == _tk.MISSING_ZERO,
                                    self.children, n_internal, len(self.feature_names))
        for name, v in (("_theta", theta), ("_rec", rec), ("_plan", plan), ("_n_internal", n_internal)):
            object.__setattr__(self, name, v)

    @property
    def n_trees(self) -> int:
        return int(self.roots.shape[0])

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def n_internal(self) -> int:
        return self._n_internal

    @classmethod
    def from_booster(cls, booster) -> "TreeEnsemble":
        """Flatten a ``lightgbm.Booster`` (through its ``dump_model()`` JSON)."""
        return cls.from_dump(booster.dump_model())

    @classmethod
    def from_dump(cls, dump: dict) -> "TreeEnsemble":
        """Flatten the dict of ``Booster.dump_model()``.

        Raises
        ------
        ModelFormatError
            For models this replay does not cover: several classes, random
            forest averaging, linear trees, categorical splits, or more than
            2**30 nodes.
        """
        if not isinstance(dump, dict) or "tree_info" not in dump:
            raise ModelFormatError("Not a LightGBM model dump: no 'tree_info' key.")
        if dump.get("num_tree_per_iteration", 1) != 1 or dump.get("num_class", 1) != 1:
            raise ModelFormatError(
                f"Only single-output models can be replayed; got num_class={dump.get('num_class')}.")
        if dump.get("average_output", False):
            raise ModelFormatError("Random-forest models (average_output) cannot be replayed.")
        feature_names = tuple(dump.get("feature_names") or
                              [f"Column_{j}" for j in range(dump["max_feature_idx"] + 1)])
        splits, leaves, roots = [], [], []  # nodes as dicts; children as ("s"|"l", index)

        def add(node):
            # iterative: leaf-wise trees can be deep
            stack = [(node, None, 0)]
            top = None
            while stack:
                nd, parent, side = stack.pop()
                if "split_feature" not in nd:
                    if "leaf_coeff" in nd or "leaf_const" in nd:
                        raise ModelFormatError("Linear trees (linear_tree=True) cannot be replayed.")
                    ref = ("l", len(leaves))
                    leaves.append(float(nd["leaf_value"]))
                else:
                    if nd["decision_type"] != "<=":
                        raise ModelFormatError(
                            "Categorical splits cannot be replayed; train on numerical features only.")
                    ref = ("s", len(splits))
                    missing = _MISSING[nd["missing_type"]]
                    splits.append([int(nd["split_feature"]), float(nd["threshold"]),
                                   (missing << 1) | int(bool(nd["default_left"])), None, None])
                    stack.append((nd["right_child"], ref[1], 4))
                    stack.append((nd["left_child"], ref[1], 3))
                if parent is None:
                    top = ref
                else:
                    splits[parent][side] = ref
            return top

        for tree in dump["tree_info"]:
            if tree.get("num_cat", 0):
                raise ModelFormatError(
                    "Categorical splits cannot be replayed; train on numerical features only.")
            roots.append(add(tree["tree_structure"]))
        n_int, n_leaf = len(splits), len(leaves)

        def index(ref):
            return ref[1] if ref[0] == "s" else n_int + ref[1]

        n = n_int + n_leaf
        feature = np.full(n, -1, dtype=np.int32)
        threshold = np.full(n, np.nan)
        flags = np.zeros(n, dtype=np.uint8)
        children = np.full((n, 2), -1, dtype=np.int32)
        value = np.zeros(n)
        for k, (f, thr, fl, left, right) in enumerate(splits):
            feature[k], threshold[k], flags[k] = f, thr, fl
            children[k] = index(left), index(right)
        value[n_int:] = leaves
        return cls(feature=feature, threshold=threshold, flags=flags, children=children, value=value,
                   roots=np.array([index(r) for r in roots], dtype=np.int32),
                   feature_names=feature_names)

    def kernel_args(self) -> tuple:
        """``(plan, theta, rec, value, roots, n_internal)`` for :func:`ranker._tree_kernels.predict_one`.

        For scoring one row at a time inside another Numba kernel:
        ``predict_one(x, *ensemble.kernel_args())`` with ``x`` a float64 row
        of :attr:`feature_names`.
        """
        return self._plan, self._theta, self._rec, self.value, self.roots, self._n_internal

    def predict(self, X) -> np.ndarray:
        """Raw scores, as ``Booster.predict(X, raw_score=True)``.

        Parameters
        ----------
        X : array-like of float, shape (n_rows, n_features)
            Feature rows in :attr:`feature_names` order; NaN is missing.

        Returns
        -------
        float64 array, shape (n_rows,)
        """
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(
                f"X must be a 2-d array with {self.n_features} columns "
                f"({', '.join(self.feature_names)}). Got shape {X.shape} instead.")
        if self.n_trees == 0 or X.shape[0] == 0:
            return np.zeros(X.shape[0])
        return _tk.predict_raw(_tk.prepare(X, self._plan), self._theta, self._rec, self.value, self.roots,
                               self._n_internal)


# =========================================================================== events

#: Columns the simulator's event log must have (see ``sim.engine.EVENT_COLUMNS``).
EVENT_REQUIRED = (
    "day", "request_id", "user_id", "video_id", "creator_id", "creator_age_days", "regular_reader",
    "play_3s", "completed", "watch_s", "liked", "commented", "shared", "share_recipients", "share_opens",
    "followed",
)
#: Columns used when present: time within the day, the logged affinity, follower flag, video length.
EVENT_OPTIONAL = ("tick", "position", "affinity", "follower", "duration_s", "latent_value")

#: Labels of simulator logs: name -> source column. ``latent_value`` is graded.
EVENT_LABELS = {
    "latent_value": "latent_value", "play_3s": "play_3s", "completed": "completed", "liked": "liked",
    "commented": "commented", "shared": "shared", "followed": "followed",
}
#: Labels of KuaiRand logs: name -> key of ``ranker.io.read_kuairand_events``.
KUAIRAND_LABELS = {
    "long_view": "long_view", "is_like": "like", "is_click": "is_click", "play3": "play3",
    "completed": "completed", "is_comment": "comment", "is_forward": "share", "is_follow": "follow",
    "is_profile_enter": "is_profile_enter",
}
#: Number of relevance grades a continuous label is cut into (0 .. N_GRADES - 1).
N_GRADES = 5
#: KuaiRand's clock: China Standard Time, UTC+8, ms.
KUAIRAND_UTC_OFFSET_MS = 8 * 3_600_000
#: Length of a KuaiRand request's time bucket, ms (one hour).
KUAIRAND_BUCKET_MS = 3_600_000


@dataclass(frozen=True)
class EventLog:
    """Impressions in time order, in the shape :func:`build_training_set` reads.

    All arrays have shape (n,) and are sorted by (``block``, ``request``).

    Attributes
    ----------
    day : int64
        Day index, 0 = first day of the log.
    block : int64
        Time block, non-decreasing: rows of one block happen at once (one
        simulator tick; one KuaiRand timestamp) and never see each other.
    request : int64
        Request (LambdaRank query) id, unique over the log.
    user, video : int64
        Ids, >= 0.
    creator : int64
        Creator id, -1 unknown.
    play3, completed, liked, commented, shared, followed : float64
        0/1 outcomes.
    watch_s : float64
        Watch time, seconds.
    duration_s : float64
        Video length, seconds; 0 unknown (then estimated from earlier
        completed plays, whose watch time is the length).
    share_recipients, share_opens : float64
        Friends the impression's share went to, and how many opened it.
    regular_reader, follower : float64
        0/1 viewer flags; NaN where the log cannot tell.
    affinity : float64
        Logged topic affinity the ranker saw (log-lift); NaN if not logged.
    creator_age_days : float64
        NaN unknown.
    labels : dict of str to float64 array
        Candidate labels, raw (0/1 or continuous).
    source : str
        ``"events"`` or ``"kuairand"``.
    """

    day: np.ndarray
    block: np.ndarray
    request: np.ndarray
    user: np.ndarray
    video: np.ndarray
    creator: np.ndarray
    play3: np.ndarray
    completed: np.ndarray
    liked: np.ndarray
    commented: np.ndarray
    shared: np.ndarray
    followed: np.ndarray
    watch_s: np.ndarray
    duration_s: np.ndarray
    share_recipients: np.ndarray
    share_opens: np.ndarray
    regular_reader: np.ndarray
    follower: np.ndarray
    affinity: np.ndarray
    creator_age_days: np.ndarray
    labels: dict
    source: str

    @property
    def n(self) -> int:
        return int(self.day.shape[0])

    @property
    def n_days(self) -> int:
        return int(self.day.max()) + 1 if self.n else 0


def _f64(x):
    return np.asarray(x, dtype=np.float64)


def read_event_log(path) -> EventLog:
    """Read the simulator's Parquet event log.

    Parameters
    ----------
    path : str or path-like
        A directory of Parquet files (``RUN/events``), or a run directory
        holding ``events/``. Columns :data:`EVENT_REQUIRED`, and
        :data:`EVENT_OPTIONAL` where present.

    Returns
    -------
    EventLog
        Sorted by (day, tick, request_id, position). Blocks are ticks when
        the log has ``tick``, else requests.

    Raises
    ------
    FileNotFoundError, ValueError
        One line naming the path, the missing columns or the bad values.
    """
    import pyarrow.dataset as pads

    p = Path(path)
    if p.is_dir() and (p / "events").is_dir():
        p = p / "events"
    if not p.is_dir():
        raise FileNotFoundError(f"{path}: no such directory (expected a directory of Parquet files)")
    try:
        ds = pads.dataset(str(p), format="parquet")
        names = set(ds.schema.names)
    except Exception as e:  # pyarrow raises several types for unreadable files
        raise ValueError(f"{path}: cannot read as a Parquet dataset: {e}") from None
    missing = [c for c in EVENT_REQUIRED if c not in names]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing} in the event log; needs {', '.join(EVENT_REQUIRED)}.")
    cols = list(EVENT_REQUIRED) + [c for c in EVENT_OPTIONAL if c in names]
    t = ds.to_table(columns=cols)
    if t.num_rows == 0:
        raise ValueError(f"{path}: the event log has no rows")
    a = {c: t.column(c).to_numpy(zero_copy_only=False) for c in cols}
    for c, arr in a.items():
        if arr.dtype.kind == "f" and c not in ("creator_age_days", "affinity") and not np.isfinite(arr).all():
            raise ValueError(f"{path}: column {c!r} has {int((~np.isfinite(arr)).sum())} non-finite value(s)")
        if arr.dtype.kind == "O":
            raise ValueError(f"{path}: column {c!r} has missing values")
    for c in ("day", "user_id", "video_id", "request_id"):
        if (a[c] < 0).any():
            raise ValueError(f"{path}: column {c!r} has negative values")
    n = t.num_rows
    tick = a["tick"].astype(np.int64) if "tick" in a else np.zeros(n, np.int64)
    pos = a["position"].astype(np.int64) if "position" in a else np.zeros(n, np.int64)
    order = np.lexsort((pos, a["request_id"], tick, a["day"]))
    a = {c: v[order] for c, v in a.items()}
    tick = tick[order]
    day0 = a["day"].astype(np.int64)
    day = day0 - day0.min()
    block_key = day * (int(tick.max()) + 1) + tick if "tick" in a else None
    req = _dense(_rows_as_keys(day, tick, a["request_id"].astype(np.int64)))
    block = _dense(block_key) if block_key is not None else req
    follower = _f64(a["follower"]) if "follower" in a else np.full(n, np.nan)
    labels = {name: _f64(a[col]) for name, col in EVENT_LABELS.items() if col in a}
    return EventLog(
        day=day, block=block, request=req, user=a["user_id"].astype(np.int64),
        video=a["video_id"].astype(np.int64), creator=a["creator_id"].astype(np.int64),
        play3=_f64(a["play_3s"]), completed=_f64(a["completed"]), liked=_f64(a["liked"]),
        commented=_f64(a["commented"]), shared=_f64(a["shared"]), followed=_f64(a["followed"]),
        watch_s=_f64(a["watch_s"]), duration_s=_f64(a["duration_s"]) if "duration_s" in a else np.zeros(n),
        share_recipients=_f64(a["share_recipients"]), share_opens=_f64(a["share_opens"]),
        regular_reader=_f64(a["regular_reader"]), follower=follower,
        affinity=_f64(a["affinity"]) if "affinity" in a else np.full(n, np.nan),
        creator_age_days=_f64(a["creator_age_days"]), labels=labels, source="events",
    )


def _dense(x):
    """Dense codes 0..k-1 of a key, in the key's order."""
    return np.unique(x, return_inverse=True)[1].astype(np.int64).reshape(-1)


def _rows_as_keys(*cols):
    """One sortable key per row from several int64 columns (lexicographic order)."""
    if len(cols) == 1:
        return np.asarray(cols[0], dtype=np.int64)
    codes = [_dense(c) for c in cols]
    key = np.zeros(len(codes[0]), dtype=np.int64)
    for c in codes:
        key = key * (int(c.max()) + 1 if c.size else 1) + c
        key = _dense(key)  # stays small: at most n distinct values
    return key


def kuairand_event_log(path) -> EventLog:
    """Read a KuaiRand log (via :func:`ranker.io.read_kuairand_events`).

    A request is a user's impressions within one clock hour:
    (``user_id``, ``time_ms // 3_600_000``), as KuaiRand does not log feed
    refreshes. Days are China Standard Time (UTC+8) days of ``time_ms``. Blocks are millisecond timestamps. Regular readers,
    followers, affinity, shares' recipients and creator age are not in the
    log (NaN or 0; see ``ranker.io``).

    Parameters
    ----------
    path : str or path-like
        Tab- or comma-separated KuaiRand log.

    Returns
    -------
    EventLog
    """
    import warnings

    from ranker.io import read_kuairand_events

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the report is checked below, not lost
        ev, report = read_kuairand_events(path, with_report=True)
    n = ev["video_id"].shape[0]
    if n == 0:
        raise ValueError(f"{path}: no usable rows")
    # Days are China Standard Time days of time_ms: the log's 'date' column follows its rounded
    # 'hourmin' and runs a day ahead for some rows just before midnight (59 in the kcore-15 subset).
    t = ev["time_ms"].astype(np.int64)
    order = np.lexsort((ev["video_id"], ev["user_id"], t))
    ev = {k: v[order] for k, v in ev.items()}
    t = t[order]
    local_day = (t + KUAIRAND_UTC_OFFSET_MS) // 86_400_000
    day = local_day - local_day.min()
    req = _dense(_rows_as_keys(ev["user_id"], day, t // KUAIRAND_BUCKET_MS))
    labels = {name: _f64(ev[key]) for name, key in KUAIRAND_LABELS.items() if key in ev}
    creator = ev["creator_id"].astype(np.int64) if "creator_id" in ev else np.full(n, -1, np.int64)
    z = np.zeros(n)
    return EventLog(
        day=day, block=_dense(t), request=req, user=ev["user_id"].astype(np.int64),
        video=ev["video_id"].astype(np.int64), creator=creator, play3=_f64(ev["play3"]),
        completed=_f64(ev["completed"]), liked=_f64(ev["like"]), commented=_f64(ev["comment"]),
        shared=_f64(ev["share"]), followed=_f64(ev["follow"]), watch_s=_f64(ev["watch_s"]),
        duration_s=_f64(ev["duration_ms"]) / 1000.0, share_recipients=z, share_opens=z,
        regular_reader=np.full(n, np.nan), follower=np.full(n, np.nan), affinity=np.full(n, np.nan),
        creator_age_days=np.full(n, np.nan), labels=labels, source="kuairand",
    )


# =========================================================================== training set

#: Extra features after the signals (see the module docstring).
EXTRA_NAMES = ("affinity", "regular_reader", "log_impressions", "log_duration", "creator_age_days",
               "user_play_lift", "uc_log_impressions", "uc_play_lift")
#: All feature names, in column order.
FEATURE_NAMES = tuple(SIGNAL_NAMES) + EXTRA_NAMES
#: Named feature sets. ``video`` needs only per-video state (score once per video per tick);
#: ``video+pair`` adds what the engine knows per (user, candidate): affinity and regular reader.
FEATURE_SETS = {
    "all": FEATURE_NAMES,
    "video": tuple(SIGNAL_NAMES) + ("log_impressions", "log_duration", "creator_age_days"),
    "video+pair": tuple(SIGNAL_NAMES) + ("affinity", "regular_reader", "log_impressions", "log_duration",
                                         "creator_age_days"),
}
#: Features of the hand-set formula, in :class:`ranker.score.ScoreWeights` field order.
HAND_NAMES = tuple(SIGNAL_NAMES) + ("affinity", "regular_reader")
#: Hand-set features whose standard deviation is below this get distillation weight 0.
DISTILL_MIN_STD = 1e-3
#: Pseudo-impressions smoothing the user and user-creator play rates.
USER_STRENGTH = 5.0


@dataclass(frozen=True)
class TrainingSet:
    """Features, grades and baselines of every impression after the warm-up.

    Attributes
    ----------
    X : float64 array, shape (n, n_features)
        Features in :attr:`feature_names` order; NaN missing.
    feature_names : tuple of str
    grade : int32 array, shape (n,)
        Relevance grade, 0 .. max.
    target : float64 array, shape (n,)
        The raw label (what ``objective="regression"`` fits).
    label_name : str
    label_edges : list of float
        Cut points of a continuous label into grades (empty for 0/1 labels).
    request, day : int64 arrays, shape (n,)
        Query id and day index.
    popularity : float64 array, shape (n,)
        The video's impressions before the row (the popularity baseline).
    hand_score : float64 array, shape (n,)
        :class:`ranker.score.ScoreWeights` applied to :data:`HAND_NAMES` (NaN as 0).
    source : str
    n_days : int
        Days in the log (warm-up included).
    """

    X: np.ndarray
    feature_names: tuple
    grade: np.ndarray
    target: np.ndarray
    label_name: str
    label_edges: list
    request: np.ndarray
    day: np.ndarray
    popularity: np.ndarray
    hand_score: np.ndarray
    source: str
    n_days: int

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    def hand_features(self) -> np.ndarray:
        """float64 (n, 9): the hand-set formula's features (NaN as 0)."""
        cols = [self.feature_names.index(c) for c in HAND_NAMES]
        return np.nan_to_num(self.X[:, cols], nan=0.0)


def _grades(name: str, y: np.ndarray, fit_rows: np.ndarray):
    """0/1 labels stay; a continuous label is cut at quantiles of the fitting rows."""
    vals = np.unique(y)
    if np.isin(vals, (0.0, 1.0)).all():
        return y.astype(np.int32), []
    q = np.quantile(y[fit_rows], np.linspace(0, 1, N_GRADES + 1)[1:-1]) if fit_rows.any() else []
    edges = [float(e) for e in np.unique(q)]
    return np.searchsorted(np.asarray(edges), y, side="right").astype(np.int32), edges


def _tqdm(progress: bool):
    """The tqdm class for a bar: ``tqdm.auto``'s only when one is shown.

    Importing ``tqdm.auto`` in a notebook without ipywidgets warns ("IProgress
    not found") even for a bar that is then disabled; the plain class does not.
    """
    if progress:
        from tqdm.auto import tqdm
    else:
        from tqdm import tqdm
    return tqdm


def build_training_set(log: EventLog, label: str | None = None, *, warmup_days: int = 1,
                       holdout_days: int = 2, weights=None, progress: bool = False) -> TrainingSet:
    """Features of every impression as they stood before it, plus its grade.

    Parameters
    ----------
    log : EventLog
        Impressions in time order.
    label : str, optional
        A key of ``log.labels``; default ``latent_value`` for simulator logs
        (cut into :data:`N_GRADES` grades at quantiles of the training days),
        ``long_view`` for KuaiRand.
    warmup_days : int
        First days that only fill the counters (not trained or evaluated on).
    holdout_days : int
        Last days held out; only used here to fit the grade cut points on
        the other days.
    weights : ranker.score.ScoreWeights, optional
        Hand-set weights of the baseline; default ``ScoreWeights()``.
    progress : bool
        Show a tqdm bar.

    Returns
    -------
    TrainingSet
        Rows of days ``>= warmup_days``, in the log's order.
    """
    from ranker.score import ScoreWeights
    from ranker.signals import Counters, compute_signals, fit_prior

    tqdm = _tqdm(progress)

    if not isinstance(log, EventLog):
        raise TypeError(f"build_training_set expects an EventLog. Got {type(log).__name__} instead.")
    weights = ScoreWeights() if weights is None else weights
    if label is None:
        label = "latent_value" if log.source == "events" else "long_view"
    if label not in log.labels:
        raise ValueError(f"Unknown label {label!r} for this {log.source} log. Available: {sorted(log.labels)}.")
    if isinstance(warmup_days, bool) or not isinstance(warmup_days, int) or warmup_days < 0:
        raise ValueError(f"The 'warmup_days' parameter must be an int >= 0. Got {warmup_days!r} instead.")
    n_days = log.n_days
    if log.n and (np.any(np.diff(log.day) < 0) or np.any(np.diff(log.block) < 0)):
        raise ValueError("EventLog rows must be in time order (day and block non-decreasing).")
    if warmup_days + 1 > n_days:
        raise ValueError(f"The log spans {n_days} day(s); with warmup_days={warmup_days} no day is left to learn from.")
    bar = tqdm(total=5, desc="features", disable=not progress, leave=False)
    n = log.n
    vid_codes = _dense(log.video)
    n_vid = int(vid_codes.max()) + 1
    # unknown creators: each video is its own creator (as ranker.io does for followers)
    ckey = np.where(log.creator >= 0, log.creator, -1 - log.video)
    cre_codes = _dense(ckey)
    n_cre = int(cre_codes.max()) + 1
    user_codes = _dense(log.user)
    known_creator = log.creator >= 0
    uc_codes = _rows_as_keys(user_codes, cre_codes)

    # per-video running counters (impressions, plays, ...), read before the row's block
    rr = np.nan_to_num(log.regular_reader, nan=0.0)
    vals = np.stack([np.ones(n), log.play3, log.completed, log.watch_s, log.liked, log.commented, log.shared,
                     log.share_recipients, log.share_opens, log.followed, rr, rr * log.play3], axis=1)
    V = _tk.running_sums(vid_codes, log.block, vals, n_vid)
    # the length: the row's own when logged, else the longest completed watch so far
    dur_seen = _tk.running_max(vid_codes, log.block, np.where(log.completed > 0, log.watch_s, 0.0), n_vid)
    dur = np.where(log.duration_s > 0, log.duration_s, dur_seen)
    bar.update()
    # creator columns: followers and regular readers. Simulator logs flag every impression with
    # follower / regular_reader: their counts stand for the creator's followers and regular
    # readers. KuaiRand: follows in the log, regular readers unknown (0), as in ranker.io.
    if np.isnan(log.follower).all():
        cvals = np.stack([log.followed, np.zeros(n)], axis=1)
    else:
        cvals = np.stack([np.nan_to_num(log.follower, nan=0.0), rr], axis=1)
    C = _tk.running_sums(cre_codes, log.block, cvals, n_cre)
    U = _tk.running_sums(user_codes, log.block, np.stack([np.ones(n), log.play3], axis=1),
                         int(user_codes.max()) + 1)
    UC = _tk.running_sums(uc_codes, log.block, np.stack([np.ones(n), log.play3], axis=1),
                          int(uc_codes.max()) + 1)
    bar.update()

    def counters(rows, Vr, Cr, dur_r):
        return Counters(
            video_id=log.video[rows], creator_id=log.creator[rows], impressions=Vr[:, 0], plays_3s=Vr[:, 1],
            completions=Vr[:, 2], watch_s=Vr[:, 3], duration_s=dur_r, likes=Vr[:, 4], comments=Vr[:, 5],
            shares=Vr[:, 6], share_recipients=Vr[:, 7], share_opens=Vr[:, 8], follows=Vr[:, 9],
            creator_followers=Cr[:, 0], creator_regular_readers=Cr[:, 1], rr_impressions=Vr[:, 10],
            rr_plays_3s=Vr[:, 11], creator_age_days=log.creator_age_days[rows])

    # signals per day against the prior of the counters at the end of the day before
    sig = np.full((n, len(SIGNAL_NAMES)), np.nan)
    m_play = np.full(n, np.nan)
    keep = log.day >= warmup_days
    tot = np.zeros((n_vid, vals.shape[1]))   # per-video totals of the days so far
    ctot = np.zeros((n_cre, cvals.shape[1]))
    first = np.full(n_vid, -1, np.int64)     # a row of each video, for its ids
    last_dur = np.zeros(n_vid)               # the latest known length of each video
    day_start = np.searchsorted(log.day, np.arange(n_days + 1))
    for d in range(n_days):
        rows = np.arange(day_start[d], day_start[d + 1])
        if d >= warmup_days and rows.size:
            seen = np.flatnonzero(tot[:, 0] > 0)
            r0 = first[seen]
            vc = cre_codes[r0]
            prior = fit_prior(Counters(
                video_id=log.video[r0], creator_id=log.creator[r0], impressions=tot[seen, 0],
                plays_3s=tot[seen, 1], completions=tot[seen, 2], watch_s=tot[seen, 3],
                duration_s=last_dur[seen], likes=tot[seen, 4], comments=tot[seen, 5], shares=tot[seen, 6],
                share_recipients=tot[seen, 7], share_opens=tot[seen, 8], follows=tot[seen, 9],
                creator_followers=ctot[vc, 0], creator_regular_readers=ctot[vc, 1],
                rr_impressions=tot[seen, 10], rr_plays_3s=tot[seen, 11],
                creator_age_days=np.full(seen.size, np.nan)))
            sig[rows] = compute_signals(counters(rows, V[rows], C[rows], dur[rows]), prior).matrix
            m_play[rows] = prior.mean[0]  # RATE_NAMES[0] is play3
        codes = vid_codes[rows]
        for j in range(vals.shape[1]):
            tot[:, j] += np.bincount(codes, weights=vals[rows, j], minlength=n_vid)
        for j in range(cvals.shape[1]):
            ctot[:, j] += np.bincount(cre_codes[rows], weights=cvals[rows, j], minlength=n_cre)
        new = first[codes] < 0
        first[codes[new][::-1]] = rows[new][::-1]
        known = dur[rows] > 0
        last_dur[codes[known]] = dur[rows][known]
    bar.update()

    # user features: smoothed play rates (ranker.signals.user_affinity's form)
    k = USER_STRENGTH
    with np.errstate(divide="ignore", invalid="ignore"):
        p_u = (U[:, 1] + k * m_play) / (U[:, 0] + k)
        user_lift = np.log(p_u / m_play)
        p_uc = (UC[:, 1] + k * p_u) / (UC[:, 0] + k)
        uc_lift = np.where(known_creator, np.log(p_uc / p_u), np.nan)
        uc_imps = np.where(known_creator, np.log1p(UC[:, 0]), np.nan)
        log_dur = np.where(dur > 0, np.log(dur), np.nan)
    extra = np.stack([log.affinity, log.regular_reader, np.log1p(V[:, 0]), log_dur, log.creator_age_days,
                      user_lift, uc_imps, uc_lift], axis=1)
    X = np.concatenate([sig, extra], axis=1)[keep]
    bar.update()

    y = log.labels[label][keep]
    day = log.day[keep]
    fit_rows = day < max(n_days - holdout_days, warmup_days + 1)
    grade, edges = _grades(label, y, fit_rows)
    ts = TrainingSet(
        X=np.ascontiguousarray(X), feature_names=FEATURE_NAMES, grade=grade, target=y.astype(np.float64), label_name=label,
        label_edges=edges, request=log.request[keep], day=day, popularity=V[keep, 0],
        hand_score=np.zeros(int(keep.sum())), source=log.source, n_days=n_days)
    w = np.array([getattr(weights, c) for c in HAND_NAMES])
    object.__setattr__(ts, "hand_score", ts.hand_features() @ w)
    bar.update()
    bar.close()
    return ts


# =========================================================================== training

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


def _spearman(a, b) -> float:
    from scipy.stats import spearmanr

    if a.size < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(spearmanr(a, b).statistic)


def resolve_features(features) -> tuple:
    """Feature names from a preset of :data:`FEATURE_SETS` or a list of names.

    Parameters
    ----------
    features : str or sequence of str or None
        A preset name, comma-separated names, or a sequence of names; None is
        ``"all"``. Names keep :data:`FEATURE_NAMES` order.

    Returns
    -------
    tuple of str
    """
    if features is None:
        return FEATURE_NAMES
    if isinstance(features, str):
        if features in FEATURE_SETS:
            return FEATURE_SETS[features]
        features = [f.strip() for f in features.split(",") if f.strip()]
    names = list(features)
    unknown = [f for f in names if f not in FEATURE_NAMES]
    if unknown or not names:
        raise ValueError(f"Unknown feature(s) {unknown or names}. Use a preset among {sorted(FEATURE_SETS)} "
                         f"or names among {', '.join(FEATURE_NAMES)}.")
    return tuple(f for f in FEATURE_NAMES if f in names)


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

    tqdm = _tqdm(progress)
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


def evaluate(booster, ens: TreeEnsemble, ts: TrainingSet, hold_rows, train_rows, cfg: LearnConfig,
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
    H = ts.hand_features()
    rng = np.random.default_rng(cfg.seed)
    fit = train_rows if train_rows.size <= 200_000 else rng.choice(train_rows, 200_000, replace=False)
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
    coef = np.array([beta[-1] - float(w[used] @ mu[used])])
    distilled = H[hold_rows] @ w + coef[-1]
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
            "intercept": float(coef[-1]),
            "constant_in_log": [HAND_NAMES[j] for j in range(len(HAND_NAMES)) if j not in used],
            "fitted_on": "training rows (model raw scores, least squares)",
            "r2_holdout": r2,
            "spearman_holdout": _spearman(score, distilled),
        },
        "tree_replay_max_abs_diff": float(np.max(np.abs(
            score[:2000] - booster.predict(Xh[:2000], raw_score=True, num_threads=cfg.threads)))) if Xh.size else 0.0,
    }


# =========================================================================== model directory

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
    """Load ``model.txt`` and ``weights.json`` from a model directory.

    Raises
    ------
    FileNotFoundError
        When the directory or ``model.txt`` is missing.
    ValueError
        When ``model.txt`` is not a LightGBM text model, or cannot be replayed.
    """
    import lightgbm as lgb

    d = Path(model_dir)
    if not (d / MODEL_FILE).is_file():
        raise FileNotFoundError(f"{d}: no {MODEL_FILE} (train one with `ranksim learn --out {d}`)")
    try:
        booster = lgb.Booster(model_file=str(d / MODEL_FILE))
    except lgb.basic.LightGBMError as e:
        raise ValueError(f"{d / MODEL_FILE}: not a LightGBM text model: {' '.join(str(e).split())}") from None
    ens = TreeEnsemble.from_booster(booster)
    report = {}
    if (d / WEIGHTS_FILE).is_file():
        try:
            report = json.loads((d / WEIGHTS_FILE).read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{d / WEIGHTS_FILE}: not valid JSON: {e}") from None
    ens.predict(np.zeros((1, ens.n_features)))  # compile (or load from the cache) now, not mid-run
    return LearnedModel(booster=booster, ensemble=ens, report=report)


# =========================================================================== command line

PROG = "ranksim"


def add_learn_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``learn (--events DIR | --kuairand FILE) [--label NAME] [--holdout-days N] --out MODEL_DIR``."""
    p = subparsers.add_parser(
        "learn",
        help="learn signal weights with LightGBM LambdaRank from an event log",
        description=(
            "Build features as they stood before each impression, train LightGBM LambdaRank grouped by "
            "request on all but the last days, and report NDCG@5/@10 on the held-out days against the "
            "hand-set weights and a popularity baseline. Writes MODEL_DIR/model.txt, weights.json, "
            "weights.png and weights.svg."
        ),
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--events", metavar="DIR", help="simulator event log: RUN/events (or RUN) of `ranksim simulate`")
    src.add_argument("--kuairand", metavar="FILE", help="impression log in the KuaiRand schema")
    p.add_argument("--label", metavar="NAME",
                   help=f"label: simulator logs {sorted(EVENT_LABELS)} (default latent_value, graded); "
                        f"KuaiRand {sorted(KUAIRAND_LABELS)} (default long_view)")
    p.add_argument("--features", default="all", metavar="SET",
                   help=f"model inputs: a preset among {sorted(FEATURE_SETS)} or comma-separated names "
                        f"(default all: {', '.join(FEATURE_NAMES)})")
    p.add_argument("--holdout-days", type=int, default=2, metavar="N", help="last days held out (default 2)")
    p.add_argument("--warmup-days", type=int, default=1, metavar="N",
                   help="first days that only fill the counters (default 1)")
    p.add_argument("--objective", default="lambdarank", choices=("lambdarank", "regression"),
                   help="lambdarank (default): grades ranked within requests; regression: the raw label")
    p.add_argument("--trees", type=int, default=200, metavar="N", help="boosting rounds (default 200)")
    p.add_argument("--threads", type=int, default=1, metavar="N", help="LightGBM threads (default 1)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="LightGBM seed (default 0)")
    p.add_argument("--out", required=True, metavar="MODEL_DIR", help="output directory")
    p.add_argument("--overwrite", action="store_true", help="replace a model already in MODEL_DIR")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run_learn)
    return p


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


def run_learn(args) -> int:
    """Handler of ``ranksim learn``; returns the exit code (0 ok, 1 bad input)."""
    try:
        cfg = LearnConfig(holdout_days=args.holdout_days, warmup_days=args.warmup_days, n_trees=args.trees,
                          threads=args.threads, seed=args.seed, objective=args.objective)
        features = resolve_features(args.features)
        out = Path(args.out)
        if (out / MODEL_FILE).exists() and not args.overwrite:
            raise FileExistsError(f"--out {out}: already holds a model; pass --overwrite to replace it")
        if args.events is not None:
            log = read_event_log(args.events)
        else:
            log = kuairand_event_log(args.kuairand)
        progress = not args.quiet
        if progress:
            print(f"read {log.n:,} impressions over {log.n_days} day(s) from "
                  f"{args.events if args.events is not None else args.kuairand}", file=sys.stderr)
        ts = build_training_set(log, args.label, warmup_days=cfg.warmup_days, holdout_days=cfg.holdout_days,
                                progress=progress)
        result = train(ts, cfg, features=features, progress=progress)
        save_model(result, out, overwrite=args.overwrite)
    except (OSError, ValueError, TypeError, ModelFormatError) as e:
        text = " ".join(str(e).split())
        print(f"{PROG} learn: error: {text}", file=sys.stderr)
        return 1
    print(format_report(result.report))
    print(f"wrote {out / MODEL_FILE}, {WEIGHTS_FILE}, weights.png, weights.svg")
    return 0


def learn_main(argv=None) -> int:
    """Run ``ranksim learn`` alone (tests, scripts)."""
    parser = argparse.ArgumentParser(prog=PROG)
    sub = parser.add_subparsers(dest="command", required=True)
    add_learn_parser(sub)
    args = parser.parse_args(["learn", *(argv or [])])
    return args.func(args)
