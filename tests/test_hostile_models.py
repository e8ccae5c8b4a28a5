"""Hostile model directories: every damaged model is refused in one line before LightGBM reads it.

Each case below crashed the process (SIGABRT/SIGSEGV inside LightGBM's
parser), read stray memory, or was silently accepted before ranker.model_check.
Edits made "in place" recompute ``tree_sizes`` (tests/hostile.fix_sizes), so
the check that fires is the one for the field edited, not the size check.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from ranker.learn import FEATURE_NAMES, TreeEnsemble
from ranker.model_check import MAX_LEAVES, ModelCheckError, check_model_dir, parse_model_text
from tests.hostile import (FIXTURE_FEATURES, drop_field, edit_value, get_field, set_field, train_model_text,
                           weights_doc, write_model_dir)


@pytest.fixture(scope="module")
def model_text():
    return train_model_text()


def _leaf_twice(t):
    # two children name the same leaf: one leaf reached twice, another never
    left = get_field(t, 0, "left_child")
    right = get_field(t, 0, "right_child")
    leaf = next(v for v in left if v.startswith("-"))
    j = next(i for i, v in enumerate(right) if v.startswith("-") and v != leaf)
    right[j] = leaf
    return set_field(t, 0, "right_child", " ".join(right))


def _self_loop(t):
    left = get_field(t, 0, "left_child")
    i = next(k for k, v in enumerate(left) if not v.startswith("-") and k > 0) if any(
        not v.startswith("-") for v in left[1:]) else None
    if i is None:  # make node 1 point to itself
        i = 1
    left[i] = str(i)
    return set_field(t, 0, "left_child", " ".join(left))


# (id, damage(text) -> text, message the check must give)
MODEL_TEXT_CASES = [
    ("empty", lambda t: "", r"first line is '', not 'tree'"),
    ("not-lightgbm", lambda t: "booster[0]:\n0:[f0<1] yes=1\n", r"first line is 'booster\[0\]:', not 'tree'"),
    ("truncated-mid-tree", lambda t: t[: len(t) // 3], r"no 'end of trees' line: the file is truncated"),
    ("truncated-header", lambda t: t[:40], r"no 'end of trees' line"),
    ("tree-sizes-edited", lambda t: set_field(t, None, "tree_sizes", "100 100 100 100", resize=False),
     r"header field 'tree_sizes' entry 0 is 100 but tree 0 is \d+ bytes long"),
    ("tree-sizes-count", lambda t: set_field(t, None, "tree_sizes", "700 700", resize=False),
     r"'tree_sizes' lists 2 trees but the file has 4"),
    ("tree-sizes-text", lambda t: set_field(t, None, "tree_sizes", "a b c d", resize=False),
     r"field 'tree_sizes' value 0 is 'a', not an integer"),
    ("num-leaves-huge", lambda t: set_field(t, 0, "num_leaves", "2000000000"),
     rf"tree 0: field 'num_leaves' value 0 is 2000000000, outside \[1, {MAX_LEAVES}\]"),
    ("num-leaves-zero", lambda t: set_field(t, 1, "num_leaves", "0"), r"tree 1: field 'num_leaves' value 0 is 0"),
    ("num-leaves-too-many-for-arrays", lambda t: set_field(t, 0, "num_leaves", "8"),
     r"tree 0: field 'split_feature' has 6 values; num_leaves=8 needs 7"),
    ("split-feature-past-end", lambda t: edit_value(t, 0, "split_feature", 2, 99),
     r"tree 0: field 'split_feature' value 2 is 99; the model has features 0..4"),
    ("split-feature-negative", lambda t: edit_value(t, 2, "split_feature", 0, -1),
     r"tree 2: field 'split_feature' value 0 is -1"),
    ("split-feature-overflow", lambda t: edit_value(t, 0, "split_feature", 0, "99999999999"),
     r"field 'split_feature' value 0 is '99999999999', not an integer"),
    ("threshold-nan", lambda t: edit_value(t, 0, "threshold", 0, "nan"),
     r"tree 0: field 'threshold' value 0 is 'nan', not a finite decimal number"),
    ("threshold-inf", lambda t: edit_value(t, 1, "threshold", 3, "-inf"), r"tree 1: field 'threshold' value 3"),
    ("threshold-overflow", lambda t: edit_value(t, 0, "threshold", 1, "1e400"),
     r"field 'threshold' value 1 is '1e400', not finite"),
    ("threshold-underscore", lambda t: edit_value(t, 0, "threshold", 0, "1_0"), r"'1_0', not a finite decimal"),
    ("threshold-hex", lambda t: edit_value(t, 0, "threshold", 0, "0x1p3"), r"'0x1p3', not a finite decimal"),
    ("leaf-nan", lambda t: edit_value(t, 0, "leaf_value", 0, "nan"), r"tree 0: field 'leaf_value' value 0 is 'nan'"),
    ("leaf-absurd", lambda t: edit_value(t, 3, "leaf_value", 2, "1e300"),
     r"tree 3: field 'leaf_value' value 2 is 1e\+300; \|value\| must be <= 1e\+09"),
    ("leaf-text", lambda t: edit_value(t, 0, "leaf_value", 1, "abc"), r"field 'leaf_value' value 1 is 'abc'"),
    ("leaf-count-short", lambda t: set_field(t, 0, "leaf_value", " ".join(get_field(t, 0, "leaf_value")[:-1])),
     r"tree 0: field 'leaf_value' has 6 values; num_leaves=7 needs 7"),
    ("child-past-end", lambda t: edit_value(t, 0, "left_child", 1, 9),
     r"tree 0: field 'left_child' value 1 is 9; an internal child must be in 1..5"),
    ("child-is-root", lambda t: edit_value(t, 0, "right_child", 2, 0), r"an internal child must be in 1..5"),
    ("leaf-child-past-end", lambda t: edit_value(t, 0, "left_child", 3, -20),
     r"field 'left_child' value 3 is -20; a leaf child must be in -1..-7"),
    ("node-cycle", _self_loop, r"is reached twice \(not a tree\)"),
    ("leaf-shared", _leaf_twice, r"leaf \d+ is reached twice \(not a tree\)"),
    ("decision-categorical", lambda t: edit_value(t, 0, "decision_type", 0, 1),
     r"field 'decision_type' value 0 is 1: categorical splits cannot be replayed"),
    ("decision-bad-missing-type", lambda t: edit_value(t, 0, "decision_type", 0, 12),
     r"field 'decision_type' value 0 is 12; allowed: a numerical split"),
    ("num-cat", lambda t: set_field(t, 0, "num_cat", "1"), r"field 'num_cat' is 1: categorical splits"),
    ("linear", lambda t: set_field(t, 0, "is_linear", "1"), r"field 'is_linear' is set: linear trees"),
    ("shrinkage-zero", lambda t: set_field(t, 0, "shrinkage", "0"), r"field 'shrinkage' is 0.0; must be > 0"),
    ("unknown-tree-field", lambda t: set_field(t, 0, "num_cat", "0\ncat_threshold=1 2"),
     r"field 'cat_threshold' \(categorical splits\) cannot be replayed"),
    ("repeated-tree-field", lambda t: set_field(t, 0, "num_cat", "0\nnum_cat=0"), r"field 'num_cat' appears twice"),
    ("missing-leaf-value", lambda t: drop_field(t, 0, "leaf_value"), r"tree 0: field 'leaf_value' is missing"),
    ("missing-left-child", lambda t: drop_field(t, 2, "left_child"), r"tree 2: field 'left_child' is missing"),
    ("multiclass", lambda t: set_field(t, None, "num_class", "3"), r"'num_class' is '3'; only single-output"),
    ("max-feature-idx", lambda t: set_field(t, None, "max_feature_idx", "9"),
     r"'feature_names' has 5 names but max_feature_idx=9 needs 10"),
    ("unknown-feature", lambda t: t.replace("feature_names=play3", "feature_names=bogus", 1),
     r"'feature_names' name 0 is 'bogus', not a ranker feature"),
    ("repeated-feature", lambda t: t.replace("feature_names=play3 completion", "feature_names=play3 play3", 1),
     r"'feature_names' repeats play3"),
    ("feature-infos-short", lambda t: set_field(t, None, "feature_infos", "none"),
     r"'feature_infos' has 1 entries, not 5"),
    ("version", lambda t: set_field(t, None, "version", "v9"), r"'version' is 'v9'; only v3 and v4"),
    ("random-forest", lambda t: set_field(t, None, "version", "v4\naverage_output"),
     r"line \d+ of the header is 'average_output', not key=value"),
    ("trees-out-of-order", lambda t: t.replace("Tree=1\n", "Tree=5\n", 1), r"expected 'Tree=1'"),
    ("crlf", lambda t: t.replace("\n", "\r\n"), r"carriage returns"),
    ("blank-line-inside-tree", lambda t: set_field(t, 0, "split_gain", "1 2 3 4 5 6\n"),
     r"tree 0: line \d+ \('threshold=.*follows an empty line inside the tree"),
    ("two-equals", lambda t: set_field(t, 0, "shrinkage", "1=2"), r"tree 0: line \d+ of the tree \(shrinkage=...\) holds more"),
    ("objective", lambda t: set_field(t, None, "objective", "regession"), r"header field 'objective' is 'regession'"),
    ("feature-infos-damaged", lambda t: set_field(t, None, "feature_infos", "[1:2] [x:2] none none none"),
     r"'feature_infos' entry 1 is '\[x:2\]'; expected \[min:max\] or none"),
    ("damaged-parameters-never-reach-lightgbm", lambda t: t.replace("[linear_tree: 0]", "[linear_tre\n200: 0]"), None),
    ("nul-byte", lambda t: t.replace("num_cat=0", "num_cat=0\x00", 1), r"NUL byte"),
]


@pytest.mark.parametrize("name,damage,msg", MODEL_TEXT_CASES, ids=[c[0] for c in MODEL_TEXT_CASES])
def test_damaged_model_text_is_refused_in_one_line(model_text, tmp_path, name, damage, msg):
    d = write_model_dir(tmp_path / "m", damage(model_text))
    if msg is None:  # outside what is read: accepted, and what LightGBM is given stops at 'end of trees'
        import lightgbm as lgb

        m = check_model_dir(d, FEATURE_NAMES)
        assert m.text.endswith("end of trees\n") and "linear_tre" not in m.text
        assert lgb.Booster(model_str=m.text).num_trees() == 4
        return
    with pytest.raises(ModelCheckError, match=msg) as ei:
        check_model_dir(d, FEATURE_NAMES)
    text = str(ei.value)
    assert "\n" not in text and text.startswith(str(d / "model.txt"))


WEIGHTS_CASES = [
    ("list", [1, 2], r"must hold a JSON object; got a list"),
    ("string-weight", weights_doc(distillation={"weights": {"play3": "0.5"}}), r"has no 'completion'"),
    ("weight-is-string", weights_doc(distillation={"weights": {**{n: 0.0 for n in (
        "play3", "completion", "avg_play", "like", "comment", "share_ft", "rr_reach", "affinity")},
        "regular_reader": "x"}}), r"'distillation.weights.regular_reader' is 'x', not a number"),
    ("weight-bool", weights_doc(distillation={"weights": {**{n: 0.0 for n in (
        "play3", "completion", "avg_play", "like", "comment", "share_ft", "rr_reach", "regular_reader")},
        "affinity": True}}), r"'distillation.weights.affinity' is True, not a number"),
    ("weight-huge", "HUGE", r"'distillation.weights.play3' is 1e\+308; must be finite with \|w\| <= 1e\+06"),
    ("weight-nan", "NAN", r"'distillation.weights.play3' is nan; must be finite"),
    ("weight-unknown", "UNKNOWN", r"names 'bogus', not one of"),
    ("no-distillation", {"format": 1}, r"field 'distillation' is missing or not an object"),
    ("weights-not-object", {"distillation": {"weights": [1]}}, r"'distillation.weights' is missing or not an object"),
    ("intercept-text", "INTERCEPT", r"'distillation.intercept' is 'a', not a finite number"),
    ("feature-names-differ", weights_doc(feature_names=["play3"]), r"field 'feature_names' is \['play3'\]"),
    ("invalid-json", "{not json", r"weights.json: not valid JSON"),
    ("not-utf8", b"\xff\xfe{}", r"weights.json: is not UTF-8 text"),
]


def _weights(kind):
    base = weights_doc()
    w = base["distillation"]["weights"]
    if kind == "HUGE":
        w["play3"] = 1e308
    elif kind == "NAN":
        return json.dumps(base).replace('"play3": 0.1', '"play3": NaN')
    elif kind == "UNKNOWN":
        w["bogus"] = 1.0
    elif kind == "INTERCEPT":
        base["distillation"]["intercept"] = "a"
    return base


@pytest.mark.parametrize("name,weights,msg", WEIGHTS_CASES, ids=[c[0] for c in WEIGHTS_CASES])
def test_damaged_weights_json_is_refused(model_text, tmp_path, name, weights, msg):
    if isinstance(weights, str) and weights.isupper():
        weights = _weights(weights)
    d = write_model_dir(tmp_path / "m", model_text, weights=False)
    p = d / "weights.json"
    if isinstance(weights, bytes):
        p.write_bytes(weights)
    else:
        p.write_text(weights if isinstance(weights, str) else json.dumps(weights))
    with pytest.raises(ModelCheckError, match=msg) as ei:
        check_model_dir(d, FEATURE_NAMES)
    assert "\n" not in str(ei.value)


def test_missing_pieces_are_named(model_text, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_model_dir(tmp_path / "nope", FEATURE_NAMES)
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        check_model_dir(tmp_path / "file", FEATURE_NAMES)
    with pytest.raises(FileNotFoundError, match="no model.txt"):
        check_model_dir(tmp_path, FEATURE_NAMES)
    d = write_model_dir(tmp_path / "m", model_text, weights=False)
    # a missing weights.json used to zero the learned ranker's per-candidate terms silently
    with pytest.raises(FileNotFoundError, match="no weights.json; the learned ranker needs its distillation"):
        check_model_dir(d, FEATURE_NAMES)
    (d / "model.txt").unlink()
    (d / "model.txt").mkdir()
    with pytest.raises(ModelCheckError, match="not a regular file"):
        check_model_dir(d, FEATURE_NAMES)


def test_a_valid_model_replays_bit_for_bit_without_lightgbm_reading_it_first(model_text, tmp_path):
    import lightgbm as lgb

    d = write_model_dir(tmp_path / "m", model_text)
    m = check_model_dir(d, FEATURE_NAMES)
    assert m.feature_names == FIXTURE_FEATURES and len(m.trees) == 4
    ens = TreeEnsemble.from_dump(m.dump())
    X = np.random.default_rng(3).normal(size=(500, len(FIXTURE_FEATURES)))
    X[::5, 2] = np.nan
    X[::7, 0] = 0.0
    booster = lgb.Booster(model_str=model_text)
    np.testing.assert_array_equal(ens.predict(X), booster.predict(X, raw_score=True))
    # the dump of the check equals LightGBM's own dump, tree by tree
    ref = TreeEnsemble.from_dump(booster.dump_model())
    for f in ("feature", "threshold", "flags", "children", "value", "roots"):
        np.testing.assert_array_equal(getattr(ens, f), getattr(ref, f))


def test_an_edit_the_check_accepts_is_safe_for_lightgbm(model_text, tmp_path):
    # accepted edits (a new finite threshold, leaf or missing type, tree_sizes kept consistent or left out)
    # load in LightGBM and the replay still matches it
    import lightgbm as lgb

    t = edit_value(model_text, 0, "threshold", 0, "0.25")
    t = edit_value(t, 1, "leaf_value", 0, "-3.5")
    t = edit_value(t, 2, "decision_type", 0, 10)  # NaN missing type, default left
    t = "\n".join(ln for ln in t.split("\n") if not ln.startswith("tree_sizes="))
    names, trees = parse_model_text(t, FEATURE_NAMES)
    ens = TreeEnsemble.from_dump({"feature_names": list(names), "tree_info": [
        {"tree_structure": s} for s in [_structure(tr) for tr in trees]]})
    booster = lgb.Booster(model_str=t)
    X = np.random.default_rng(4).normal(size=(300, len(names)))
    X[::3, :] = np.nan
    np.testing.assert_array_equal(ens.predict(X), booster.predict(X, raw_score=True))


def _structure(tree):
    from ranker.model_check import _structure as s

    return s(tree)


# --------------------------------------------------------------------------- fuzz

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_PIECES = ["0", "1", "-1", "7", "99", " ", "\n", "=", "nan", "1e400", ".", "-", "Tree=", "leaf_value=",
           "num_leaves=", "end of trees", "\r", "\x00", "\u00e9", "2000000000", "-2147483649"]


@st.composite
def damaged_models(draw, text):
    t = text
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(t)))
        j = min(len(t), i + draw(st.integers(0, 12)))
        t = t[:i] + "".join(draw(st.lists(st.sampled_from(_PIECES), max_size=3))) + t[j:]
    if draw(st.booleans()):
        try:
            from tests.hostile import fix_sizes

            t = fix_sizes(t)  # so that damage gets past the size check to the fields
        except (ValueError, IndexError, AttributeError):
            pass
    return t


_FUZZ_TEXT = train_model_text(n_trees=3, num_leaves=5, seed=1)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(t=damaged_models(_FUZZ_TEXT))
def test_fuzz_model_reader_never_crashes(tmp_path, t):
    import lightgbm as lgb

    d = write_model_dir(tmp_path / "m", t)
    try:
        m = check_model_dir(d, FEATURE_NAMES)
    except ModelCheckError as e:
        assert "\n" not in str(e)
        return
    # accepted: LightGBM must read it without crashing, and the replay must agree with it
    ens = TreeEnsemble.from_dump(m.dump())
    X = np.random.default_rng(0).normal(size=(64, len(m.feature_names)))
    X[::4] = np.nan
    got = ens.predict(X)
    assert np.isfinite(got).all()
    booster = lgb.Booster(model_str=m.text)
    np.testing.assert_array_equal(got, booster.predict(X, raw_score=True))
