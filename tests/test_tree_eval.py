"""The Numba tree evaluator against Booster.predict(raw_score=True) and a slow Python walk."""

import lightgbm as lgb
import numba
import numpy as np
import pytest

from ranker import _numba
from ranker.learn import ModelFormatError, TreeEnsemble
from tests import reference_trees as ref
from tests.conftest import needs_two_threads


def _data(seed, n, d, nan_share=0.1, zero_share=0.05):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X[rng.random(X.shape) < zero_share] = 0.0
    y = X[:, 0] + 0.5 * np.nan_to_num(X[:, 1]) ** 2 + 0.3 * rng.normal(size=n)
    X[rng.random(X.shape) < nan_share] = np.nan
    return X, y


def _train(seed, objective, n_trees, depth, X, y, **extra):
    params = dict(objective=objective, num_leaves=max(2, 2 ** depth - 1), max_depth=depth, seed=seed,
                  deterministic=True, force_row_wise=True, num_threads=1, verbose=-1,
                  min_data_in_leaf=5, learning_rate=0.2, **extra)
    if objective == "lambdarank":
        yq = np.digitize(y, np.quantile(y, [0.25, 0.5, 0.75])).astype(int)
        ds = lgb.Dataset(X, yq, group=np.full(len(y) // 20, 20))
    else:
        ds = lgb.Dataset(X, y)
    return lgb.train(params, ds, num_boost_round=n_trees)


def _probe(seed, n, d):
    """Fresh rows with NaN, exact zeros, tiny values (|x| <= 1e-35 counts as 0) and -0.0."""
    X, _ = _data(seed + 1000, n, d, nan_share=0.15, zero_share=0.1)
    rng = np.random.default_rng(seed + 2000)
    X[rng.random(X.shape) < 0.03] = 1e-36
    X[rng.random(X.shape) < 0.02] = -1.0000000180025095e-35  # exactly -kZeroThreshold (1e-35f)
    X[rng.random(X.shape) < 0.03] = -0.0
    X[rng.random(X.shape) < 0.03] = np.inf
    return X


CASES = [
    # seed, objective, trees, depth, extra params
    (0, "regression", 1, 1, {}),
    (1, "regression", 20, 3, {}),
    (2, "regression", 50, 6, {"zero_as_missing": True}),
    (3, "regression", 30, 4, {"use_missing": False}),
    (4, "lambdarank", 40, 5, {}),
    (5, "lambdarank", 100, 3, {}),
]


@pytest.mark.parametrize("seed,objective,n_trees,depth,extra", CASES)
def test_matches_booster_and_reference(seed, objective, n_trees, depth, extra):
    X, y = _data(seed, 600, 6)
    booster = _train(seed, objective, n_trees, depth, X, y, **extra)
    ens = TreeEnsemble.from_booster(booster)
    assert ens.n_trees == booster.num_trees()
    P = _probe(seed, 400, 6)
    want = booster.predict(P, raw_score=True)
    got = ens.predict(P)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    # the slow walk over the nested JSON agrees too (an independent reading of the model)
    slow = ref.predict_raw(booster.dump_model(), P[:120])
    np.testing.assert_allclose(got[:120], slow, rtol=0, atol=1e-12)
    # the training rows as well (values sit exactly on bin boundaries there)
    np.testing.assert_allclose(ens.predict(X), booster.predict(X, raw_score=True), rtol=0, atol=1e-9)


def test_missing_types_are_all_exercised():
    X, y = _data(7, 600, 6, nan_share=0.3)
    flags = set()
    for extra in ({}, {"zero_as_missing": True}, {"use_missing": False}):
        ens = TreeEnsemble.from_booster(_train(7, "regression", 20, 4, X, y, **extra))
        internal = ens.feature >= 0
        flags |= set((ens.flags[internal] >> 1).tolist())
        assert ens.flags[internal].size > 0
    assert flags == {0, 1, 2}


def test_float32_input_and_single_row_and_empty():
    X, y = _data(8, 500, 4)
    booster = _train(8, "regression", 15, 3, X, y)
    ens = TreeEnsemble.from_booster(booster)
    P = _probe(8, 50, 4).astype(np.float32)
    np.testing.assert_allclose(ens.predict(P), booster.predict(P, raw_score=True), rtol=0, atol=1e-9)
    np.testing.assert_allclose(ens.predict(P[:1]), booster.predict(P[:1], raw_score=True), rtol=0, atol=1e-9)
    assert ens.predict(np.empty((0, 4))).shape == (0,)


def test_constant_target_gives_single_leaf_trees():
    rng = np.random.default_rng(9)
    X = rng.normal(size=(200, 3))
    booster = lgb.train(dict(objective="regression", verbose=-1, num_threads=1, seed=0, deterministic=True,
                             force_row_wise=True), lgb.Dataset(X, np.full(200, 2.5)), num_boost_round=3)
    ens = TreeEnsemble.from_booster(booster)
    assert (ens.feature == -1).all()
    P = rng.normal(size=(10, 3))
    np.testing.assert_allclose(ens.predict(P), booster.predict(P, raw_score=True), rtol=0, atol=1e-9)


@needs_two_threads
def test_thread_count_does_not_change_bits():
    X, y = _data(10, 600, 6)
    ens = TreeEnsemble.from_booster(_train(10, "lambdarank", 30, 4, X, y))
    P = _probe(10, 3000, 6)
    before = numba.get_num_threads()
    try:
        _numba.set_threads(1)
        one = ens.predict(P)
        _numba.set_threads(numba.config.NUMBA_NUM_THREADS)
        many = ens.predict(P)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one, many)


def test_a_wrong_threshold_is_caught():
    # the comparison must be able to fail: nudge one split and the scores move
    X, y = _data(11, 600, 6)
    booster = _train(11, "regression", 10, 3, X, y)
    dump = booster.dump_model()
    root = dump["tree_info"][0]["tree_structure"]
    root["threshold"] += 0.5
    P = _probe(11, 400, 6)
    assert not np.allclose(TreeEnsemble.from_dump(dump).predict(P), booster.predict(P, raw_score=True))


@pytest.mark.parametrize("mutate,match", [
    (lambda d: d.update(num_class=3, num_tree_per_iteration=3), "single-output"),
    (lambda d: d.update(average_output=True), "Random-forest"),
    (lambda d: d["tree_info"][0]["tree_structure"].update(decision_type="=="), "Categorical"),
    (lambda d: d.pop("tree_info"), "no 'tree_info'"),
])
def test_unsupported_models_raise(mutate, match):
    X, y = _data(12, 300, 3)
    dump = _train(12, "regression", 2, 2, X, y).dump_model()
    mutate(dump)
    with pytest.raises(ModelFormatError, match=match):
        TreeEnsemble.from_dump(dump)


def test_wrong_width_raises():
    X, y = _data(13, 300, 3)
    ens = TreeEnsemble.from_booster(_train(13, "regression", 2, 2, X, y))
    with pytest.raises(ValueError, match="with 3 columns"):
        ens.predict(np.zeros((4, 5)))


def _thresholds(dump):
    out = []

    def walk(node):
        if "split_feature" in node:
            out.append((node["split_feature"], node["threshold"]))
            walk(node["left_child"])
            walk(node["right_child"])

    for tree in dump["tree_info"]:
        walk(tree["tree_structure"])
    return out


@pytest.mark.parametrize("seed,extra", [(20, {}), (21, {"zero_as_missing": True}), (22, {"use_missing": False})])
def test_values_exactly_on_thresholds_and_their_neighbours(seed, extra):
    # x == threshold goes left, the next double up goes right: the rewritten tests must keep both
    X, y = _data(seed, 600, 5)
    booster = _train(seed, "regression", 40, 5, X, y, **extra)
    ens = TreeEnsemble.from_booster(booster)
    rng = np.random.default_rng(seed)
    P = _probe(seed, 600, 5)
    for i, (f, thr) in enumerate(_thresholds(booster.dump_model())):
        row = i % P.shape[0]
        P[row, f] = [thr, np.nextafter(thr, np.inf), np.nextafter(thr, -np.inf)][rng.integers(3)]
    np.testing.assert_array_equal(ens.predict(P), booster.predict(P, raw_score=True))


@pytest.mark.parametrize("n", list(range(1, 18)))
def test_every_short_last_block(n):
    X, y = _data(23, 400, 4)
    booster = _train(23, "regression", 12, 4, X, y)
    ens = TreeEnsemble.from_booster(booster)
    P = _probe(23, n, 4)
    np.testing.assert_array_equal(ens.predict(P), booster.predict(P, raw_score=True))


def test_zero_and_nan_missing_nodes_on_one_feature_match_the_reference():
    # LightGBM gives one missing type per feature; the replay also handles a mix (Zero next to NaN/None)
    X, y = _data(24, 600, 4, nan_share=0.2, zero_share=0.2)
    dump = _train(24, "regression", 20, 4, X, y).dump_model()
    nodes = []

    def walk(node):
        if "split_feature" in node:
            nodes.append(node)
            walk(node["left_child"])
            walk(node["right_child"])

    for tree in dump["tree_info"]:
        walk(tree["tree_structure"])
    rng = np.random.default_rng(24)
    for node in nodes:
        node["missing_type"] = ["None", "Zero", "NaN"][rng.integers(3)]
        node["default_left"] = bool(rng.integers(2))
    ens = TreeEnsemble.from_dump(dump)
    assert set((ens.flags[ens.feature >= 0] >> 1).tolist()) == {0, 1, 2}
    P = _probe(24, 300, 4)
    np.testing.assert_array_equal(ens.predict(P), ref.predict_raw(dump, P))


@pytest.mark.parametrize("extra", [{}, {"zero_as_missing": True}])
def test_predict_one_matches_the_batch_kernel(extra):
    from ranker._tree_kernels import predict_one

    X, y = _data(25, 500, 5)
    booster = _train(25, "lambdarank", 30, 5, X, y, **extra)
    ens = TreeEnsemble.from_booster(booster)
    P = _probe(25, 60, 5)
    args = ens.kernel_args()
    one = np.array([predict_one(P[i], *args) for i in range(P.shape[0])])
    np.testing.assert_array_equal(one, ens.predict(P))
