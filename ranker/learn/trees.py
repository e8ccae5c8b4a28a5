"""The Numba replay of a LightGBM model: :class:`TreeEnsemble`, loaded from the booster's dump.

The trees are packed for :mod:`ranker._tree_kernels` (which evaluates them in
the engine's loop); a model this evaluator cannot replay exactly raises
:class:`ModelFormatError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ranker import _tree_kernels as _tk


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
