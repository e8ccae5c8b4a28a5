"""LightGBM learns the signal weights; a Numba replay of its trees scores in the loop.

(Draft: tree ensemble first, pipeline follows.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranker import _tree_kernels as _tk


class ModelFormatError(ValueError):
    """A LightGBM model this evaluator cannot replay exactly."""


_MISSING = {"None": _tk.MISSING_NONE, "Zero": _tk.MISSING_ZERO, "NaN": _tk.MISSING_NAN}


@dataclass(frozen=True)
class TreeEnsemble:
    """A LightGBM model flattened into node arrays, scored by a Numba kernel.

    Build it with :meth:`from_booster` or :meth:`from_dump`; score with
    :meth:`predict`, which matches ``Booster.predict(X, raw_score=True)``.

    Attributes
    ----------
    feature : int32 array, shape (n_nodes,)
        Split feature per node, -1 for a leaf.
    threshold : float64 array, shape (n_nodes,)
        Split threshold (left when ``x <= threshold``).
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

    @property
    def n_trees(self) -> int:
        return int(self.roots.shape[0])

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

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
            forest averaging, linear trees, categorical splits.
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
        feature, threshold, flags, children, value, roots = [], [], [], [], [], []

        def add(node):
            k = len(feature)
            feature.append(-1)
            threshold.append(0.0)
            flags.append(0)
            children.append([-1, -1])
            value.append(0.0)
            if "split_feature" not in node:
                if "leaf_coeff" in node or "leaf_const" in node:
                    raise ModelFormatError("Linear trees (linear_tree=True) cannot be replayed.")
                value[k] = float(node["leaf_value"])
                return k
            if node["decision_type"] != "<=":
                raise ModelFormatError(
                    "Categorical splits cannot be replayed; train on numerical features only.")
            missing = _MISSING[node["missing_type"]]
            feature[k] = int(node["split_feature"])
            threshold[k] = float(node["threshold"])
            flags[k] = (missing << 1) | (_tk.DEFAULT_LEFT if node["default_left"] else 0)
            left = add(node["left_child"])
            right = add(node["right_child"])
            children[k] = [left, right]
            return k

        for tree in dump["tree_info"]:
            if tree.get("num_cat", 0):
                raise ModelFormatError(
                    "Categorical splits cannot be replayed; train on numerical features only.")
            roots.append(add(tree["tree_structure"]))
        return cls(
            feature=np.asarray(feature, dtype=np.int32),
            threshold=np.asarray(threshold, dtype=np.float64),
            flags=np.asarray(flags, dtype=np.uint8),
            children=np.asarray(children, dtype=np.int32).reshape(-1, 2),
            value=np.asarray(value, dtype=np.float64),
            roots=np.asarray(roots, dtype=np.int32),
            feature_names=feature_names,
        )

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
        if self.n_trees == 0:
            return np.zeros(X.shape[0])
        return _tk.predict_raw(X, self.feature, self.threshold, self.flags, self.children,
                               self.value, self.roots)
