"""ranker.learn's edges, written from the mutation run's survivors (CONTRIBUTING.md, mutation testing).

Reading logs (every error names the column and the count; days, blocks, requests
and order of a small log worked by hand), KuaiRand logs (China Standard Time
days, one-hour requests, millisecond blocks, labels mapped), the report's
fields and text, LightGBM's parameters, the model directory's errors, and the
tree replay's refusals.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ranker.learn import (FEATURE_NAMES, LearnConfig, TreeEnsemble, build_training_set, kuairand_event_log,
                          read_event_log)
from ranker.learn.evaluation import _spearman, format_report, ndcg
from ranker.learn.events import _dense, _rows_as_keys
from ranker.learn.features import FEATURE_SETS, _grades, resolve_features
from ranker.learn.model import _by_request
from ranker.learn.trees import ModelFormatError

# --------------------------------------------------------------------------- the simulator's log, by hand


def _cols(**over):
    """Six impressions over days 5 and 6 (two ticks on day 5), written out of order."""
    c = dict(
        day=np.array([6, 5, 5, 5, 5, 6]), tick=np.array([0, 1, 0, 0, 1, 0]),
        request_id=np.array([9, 4, 3, 3, 4, 8]), position=np.array([0, 1, 1, 0, 0, 0]),
        user_id=np.array([2, 1, 0, 0, 1, 0]), video_id=np.array([7, 6, 5, 4, 3, 2]),
        creator_id=np.array([1, 1, 0, 0, 1, 0]), creator_age_days=np.array([3.0, np.nan, 1, 1, 2, 2]),
        regular_reader=np.array([1.0, 0, 0, 1, 0, 0]), play_3s=np.array([1.0, 0, 1, 1, 0, 1]),
        completed=np.array([0.0, 0, 1, 0, 0, 1]), watch_s=np.array([4.0, 1, 30, 5, 2, 20]),
        liked=np.array([0.0, 0, 1, 0, 0, 0]), commented=np.zeros(6), shared=np.array([0.0, 0, 1, 0, 0, 0]),
        share_recipients=np.array([0.0, 0, 2, 0, 0, 0]), share_opens=np.array([0.0, 0, 1, 0, 0, 0]),
        followed=np.zeros(6), latent_value=np.array([0.5, -1, 2, 1, 0, 3]),
    )
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def _write(path, cols):
    path.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(cols), path / "part-0.parquet")
    return path


def test_event_log_order_days_blocks_and_requests_by_hand(tmp_path):
    log = read_event_log(_write(tmp_path / "run" / "events", _cols()).parent)  # a run directory is accepted
    # sorted by (day, tick, request_id, position): rows 3, 2 (day 5 tick 0), 4, 1 (tick 1), 5, 0 (day 6)
    np.testing.assert_array_equal(log.video, [4, 5, 3, 6, 2, 7])
    np.testing.assert_array_equal(log.day, [0, 0, 0, 0, 1, 1])  # days count from the log's first
    assert log.n == 6 and log.n_days == 2
    np.testing.assert_array_equal(log.block, [0, 0, 1, 1, 2, 2])  # (day, tick), densely numbered
    np.testing.assert_array_equal(log.request, [0, 0, 1, 1, 2, 3])
    np.testing.assert_array_equal(log.user, [0, 0, 1, 1, 0, 2])
    np.testing.assert_array_equal(log.creator, [0, 0, 1, 1, 0, 1])
    np.testing.assert_array_equal(log.watch_s, [5, 30, 2, 1, 20, 4])
    np.testing.assert_array_equal(log.play3, [1, 1, 0, 0, 1, 1])
    np.testing.assert_array_equal(log.completed, [0, 1, 0, 0, 1, 0])
    np.testing.assert_array_equal(log.liked, [0, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(log.shared, [0, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(log.share_recipients, [0, 2, 0, 0, 0, 0])
    np.testing.assert_array_equal(log.share_opens, [0, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(log.regular_reader, [1, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(log.creator_age_days, [1, 1, 2, np.nan, 2, 3])
    # absent optional columns: follower, affinity unknown, duration 0
    assert np.isnan(log.follower).all() and np.isnan(log.affinity).all()
    assert (log.duration_s == 0).all() and log.duration_s.shape == (6,)
    assert log.source == "events" and log.ingest is None
    assert sorted(log.labels) == ["commented", "completed", "followed", "latent_value", "liked", "play_3s",
                                  "shared"]
    np.testing.assert_array_equal(log.labels["latent_value"], [1, 2, 0, -1, 3, 0.5])
    for name in ("day", "block", "request", "user", "video", "creator"):
        assert getattr(log, name).dtype == np.int64, name
    for name in ("play3", "watch_s", "follower", "affinity", "regular_reader"):
        assert getattr(log, name).dtype == np.float64, name


def test_event_log_optional_columns_and_blocks_without_ticks(tmp_path):
    c = _cols(tick=None, follower=np.array([1.0, 0, 1, 0, 0, 1]), affinity=np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]),
              duration_s=np.array([10.0, 11, 12, 13, 14, 15]))
    log = read_event_log(_write(tmp_path / "e", c))
    # without ticks: sorted by (day, request_id, position); a block is a request
    np.testing.assert_array_equal(log.video, [4, 5, 3, 6, 2, 7])
    np.testing.assert_array_equal(log.block, log.request)
    np.testing.assert_array_equal(log.request, [0, 0, 1, 1, 2, 3])
    np.testing.assert_array_equal(log.follower, [0, 1, 0, 0, 1, 1])
    np.testing.assert_array_equal(log.affinity, [0.4, 0.3, 0.5, 0.2, 0.6, 0.1])
    np.testing.assert_array_equal(log.duration_s, [13, 12, 14, 11, 15, 10])
    # without positions either: rows of a request keep the file's order
    log = read_event_log(_write(tmp_path / "f", _cols(tick=None, position=None)))
    np.testing.assert_array_equal(log.video, [5, 4, 6, 3, 2, 7])


def test_event_log_blocks_span_days_by_tick(tmp_path):
    # ticks 0..2 on two days: block = day * 3 + tick, densely numbered (day 1 tick 0 follows day 0 tick 2)
    c = _cols(day=np.array([0, 0, 1, 1, 0, 1]), tick=np.array([2, 0, 0, 2, 1, 1]),
              request_id=np.arange(6))
    log = read_event_log(_write(tmp_path / "e", c))
    np.testing.assert_array_equal(log.block, [0, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(log.video, [6, 3, 7, 5, 2, 4])


@pytest.mark.parametrize("col,value,match", [
    ("watch_s", np.nan, r"column 'watch_s' has 1 non-finite value\(s\)"),
    ("play_3s", np.inf, r"column 'play_3s' has 1 non-finite value\(s\)"),
    ("user_id", -1, r"column 'user_id' has negative values"),
    ("video_id", -2, r"column 'video_id' has negative values"),
    ("request_id", -1, r"column 'request_id' has negative values"),
    ("day", -1, r"column 'day' has negative values"),
])
def test_event_log_bad_values_name_the_column(tmp_path, col, value, match):
    c = _cols()
    c[col] = c[col].astype(float if np.isnan(value) or np.isinf(value) else c[col].dtype)
    c[col][2] = value
    with pytest.raises(ValueError, match=match):
        read_event_log(_write(tmp_path / "e", c))


def test_event_log_missing_values_unreadable_and_empty(tmp_path):
    c = _cols()
    c["liked"] = pa.array([0.0, None, 1, 0, 0, 0])
    with pytest.raises(ValueError, match=r"column 'liked' has 1 non-finite|column 'liked' has missing"):
        read_event_log(_write(tmp_path / "a", c))
    c = _cols()
    c["comment"] = np.array(["x"] * 6)  # an extra column is ignored
    c["shared"] = np.array(["a", None, "b", "c", "d", "e"], dtype=object)
    with pytest.raises(ValueError, match="column 'shared' has missing values"):
        read_event_log(_write(tmp_path / "b", c))
    # NaN is allowed where it means "unknown"
    ok = read_event_log(_write(tmp_path / "c", _cols(affinity=np.full(6, np.nan))))
    assert np.isnan(ok.affinity).all() and np.isnan(ok.creator_age_days).sum() == 1
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.parquet").write_bytes(b"not parquet")
    with pytest.raises(ValueError, match=r"d: cannot read as a Parquet dataset"):
        read_event_log(tmp_path / "d")
    empty = {k: v[:0] for k, v in _cols().items()}
    with pytest.raises(ValueError, match="the event log has no rows"):
        read_event_log(_write(tmp_path / "e", empty))
    with pytest.raises(FileNotFoundError, match="no such directory"):
        read_event_log(tmp_path / "e" / "part-0.parquet")  # a file, not a directory
    c = _cols()
    for k in ("share_opens", "followed"):
        del c[k]
    with pytest.raises(ValueError, match=r"missing column\(s\) \['share_opens', 'followed'\] in the event log; "
                                         r"needs day, request_id"):
        read_event_log(_write(tmp_path / "f", c))


def test_dense_codes_and_row_keys_by_hand():
    np.testing.assert_array_equal(_dense(np.array([30, 10, 30, 20])), [2, 0, 2, 1])
    assert _dense(np.array([5])).dtype == np.int64
    a = np.array([1, 0, 1, 0, 2])
    b = np.array([7, 9, 3, 9, 0])
    # lexicographic: (0,9) (0,9) (1,3) (1,7) (2,0)
    np.testing.assert_array_equal(_dense(_rows_as_keys(a, b)), [2, 0, 1, 0, 3])
    np.testing.assert_array_equal(_rows_as_keys(np.array([4, 2])), [4, 2])  # one column: itself
    # three columns, the first most significant, large values stay distinct
    k = _rows_as_keys(np.array([0, 0, 1, 1]), np.array([5, 5, 0, 0]), np.array([10**12, 3, 2, 1]))
    np.testing.assert_array_equal(_dense(k), [1, 0, 3, 2])
    assert k.max() < 4  # stays small
    assert _rows_as_keys(np.zeros(0, np.int64), np.zeros(0, np.int64)).shape == (0,)


# --------------------------------------------------------------------------- KuaiRand


KR_HEADER = ["user_id", "video_id", "date", "time_ms", "play_time_ms", "duration_ms", "is_like", "is_follow",
             "is_comment", "is_forward", "is_click", "long_view", "author_id"]
# 2021-04-08 23:30 CST = 15:30 UTC; 16:10 UTC is 00:10 CST on the 9th
T0 = 1617895800000  # 2021-04-08 15:30:00 UTC


def _kr(tmp_path, rows, header=KR_HEADER):
    p = tmp_path / "kr.tsv"
    p.write_text("\t".join(header) + "\n" + "".join("\t".join(str(v) for v in r) + "\n" for r in rows))
    return p


def test_kuairand_days_requests_blocks_and_labels(tmp_path):
    h = 3_600_000
    rows = [
        # user, video, date, time, play, dur, like, follow, comment, forward, click, long_view, author
        [1, 10, 20210408, T0 + 40 * 60_000, 9000, 9000, 1, 0, 0, 0, 1, 1, 100],      # 00:10 CST, day 1
        [1, 11, 20210408, T0, 2000, 8000, 0, 0, 0, 0, 1, 0, 100],                    # 23:30 CST, day 0
        [2, 12, 20210408, T0, 5000, 10000, 0, 1, 1, 1, 1, 1, 101],                   # same ms: same block
        [1, 12, 20210409, T0 + 40 * 60_000 + h, 10000, 10000, 0, 0, 0, 0, 1, 1, 101],  # 01:10 CST: next request
        [1, 13, 20210409, T0 + 40 * 60_000 + 5, 1000, 6000, 0, 0, 0, 0, 0, 0, 102],  # same hour, later ms
    ]
    log = kuairand_event_log(_kr(tmp_path, rows))
    assert log.source == "kuairand" and log.n == 5 and log.n_days == 2
    # sorted by (time, user, video)
    np.testing.assert_array_equal(log.video, [11, 12, 10, 13, 12])
    np.testing.assert_array_equal(log.user, [1, 2, 1, 1, 1])
    np.testing.assert_array_equal(log.day, [0, 0, 1, 1, 1])  # China Standard Time days of time_ms
    np.testing.assert_array_equal(log.block, [0, 0, 1, 2, 3])  # one block per millisecond timestamp
    # a request is (user, day, clock hour): user 1's 00:10 rows share one, 01:10 is another
    np.testing.assert_array_equal(log.request, [0, 3, 1, 1, 2])
    np.testing.assert_array_equal(log.creator, [100, 101, 100, 102, 101])
    np.testing.assert_array_equal(log.duration_s, [8, 10, 9, 6, 10])
    np.testing.assert_array_equal(log.watch_s, [2, 5, 9, 1, 10])
    np.testing.assert_array_equal(log.play3, [0, 1, 1, 0, 1])
    np.testing.assert_array_equal(log.liked, [0, 0, 1, 0, 0])
    np.testing.assert_array_equal(log.followed, [0, 1, 0, 0, 0])
    np.testing.assert_array_equal(log.commented, [0, 1, 0, 0, 0])
    np.testing.assert_array_equal(log.shared, [0, 1, 0, 0, 0])
    np.testing.assert_array_equal(log.labels["long_view"], [0, 1, 1, 0, 1])
    np.testing.assert_array_equal(log.labels["is_click"], [1, 1, 1, 0, 1])
    np.testing.assert_array_equal(log.labels["is_forward"], log.shared)
    np.testing.assert_array_equal(log.labels["is_like"], log.liked)
    assert "is_profile_enter" not in log.labels and log.labels["long_view"].dtype == np.float64
    for name in ("regular_reader", "follower", "affinity", "creator_age_days"):
        assert np.isnan(getattr(log, name)).all(), name
    assert (log.share_recipients == 0).all() and (log.share_opens == 0).all()
    assert log.ingest is not None and log.ingest.n_users == 2


def test_kuairand_without_authors_and_empty(tmp_path):
    header = KR_HEADER[:-1]
    rows = [[1, 10, 20210408, T0, 9000, 9000, 1, 0, 0, 0, 1, 1], [1, 11, 20210408, T0 + 1, 1000, 9000, 0, 0, 0, 0, 1, 0]]
    log = kuairand_event_log(_kr(tmp_path, rows, header))
    np.testing.assert_array_equal(log.creator, [-1, -1])
    assert log.creator.dtype == np.int64
    with pytest.raises(ValueError, match="no usable rows"):
        kuairand_event_log(_kr(tmp_path, [], header))


# --------------------------------------------------------------------------- features and grades


def test_grades_cut_continuous_labels_at_quantiles_of_the_fitting_rows():
    y = np.array([0.0, 1, 1, 0])
    g, edges = _grades("x", y, np.ones(4, bool))
    np.testing.assert_array_equal(g, [0, 1, 1, 0])
    assert edges == [] and g.dtype == np.int32
    y = np.arange(10.0)
    fit = np.arange(10) < 5  # quantiles of 0..4: 0.8, 1.6, 2.4, 3.2
    g, edges = _grades("x", y, fit)
    assert edges == pytest.approx([0.8, 1.6, 2.4, 3.2])
    np.testing.assert_array_equal(g, [0, 1, 2, 3, 4, 4, 4, 4, 4, 4])
    assert g.dtype == np.int32
    g, edges = _grades("x", np.array([0.5, 2.0]), np.zeros(2, bool))  # nothing to fit on
    assert edges == [] and (g == 0).all()
    g, edges = _grades("x", np.array([2.0, 2.0, 2.0, 3.0]), np.array([True, True, True, False]))
    assert edges == [2.0] and list(g) == [1, 1, 1, 1]  # repeated cut points collapse; equal goes up


def test_resolve_features():
    assert resolve_features(None) == FEATURE_NAMES
    assert resolve_features("video") == FEATURE_SETS["video"]
    assert resolve_features(" log_duration , play3 ,") == ("play3", "log_duration")  # FEATURE_NAMES order
    assert resolve_features(["uc_play_lift", "affinity"]) == ("affinity", "uc_play_lift")
    with pytest.raises(ValueError, match=r"Unknown feature\(s\) \['nope'\]. Use a preset among \['all', 'loop', "
                                         r"'video', 'video\+pair'\] or names among play3, "):
        resolve_features("play3,nope")
    with pytest.raises(ValueError, match=r"Unknown feature\(s\) \[\]"):
        resolve_features(" , ")


def test_by_request_sorts_stably_and_counts_groups():
    from types import SimpleNamespace

    ts = SimpleNamespace(request=np.array([5, 3, 5, 3, 9, 3]))
    rows, sizes = _by_request(ts, np.array([0, 1, 2, 3, 5]))
    np.testing.assert_array_equal(rows, [1, 3, 5, 0, 2])
    np.testing.assert_array_equal(sizes, [3, 2])


# --------------------------------------------------------------------------- evaluation


def test_ndcg_worked_by_hand():
    # one request, grades 2, 0, 1 ranked in that order by the scores: DCG = 3 + 0 + 1/log2(4) = 3.5
    # ideal: 3 + 1/log2(3) + 0
    got, n = ndcg(np.array([3.0, 2, 1]), np.array([2, 0, 1]), np.array([0, 0, 0]), 10)
    assert n == 1 and got == pytest.approx(3.5 / (3 + 1 / np.log2(3)), abs=1e-15)
    # the cut-off drops rank 3: DCG@2 = 3, IDCG@2 = 3 + 1/log2(3)
    got, _ = ndcg(np.array([3.0, 2, 1]), np.array([2, 0, 1]), np.array([0, 0, 0]), 2)
    assert got == pytest.approx(3 / (3 + 1 / np.log2(3)), abs=1e-15)
    # a grade 0 row first, the positive second: 1/log2(3)
    got, _ = ndcg(np.array([5.0, 1]), np.array([0, 1]), np.array([4, 4]), 5)
    assert got == pytest.approx(1 / np.log2(3), abs=1e-15)
    # two requests averaged; one unusable (one row) and one without a positive grade are not counted
    got, n = ndcg(np.array([5.0, 1, 1, 0, 1, 2]), np.array([0, 1, 1, 1, 0, 0]), np.array([4, 4, 6, 6, 7, 8]), 5)
    assert n == 2 and got == pytest.approx((1 / np.log2(3) + 1.0) / 2, abs=1e-15)
    assert ndcg(np.zeros(0), np.zeros(0, int), np.zeros(0, np.int64), 5) == (pytest.approx(np.nan, nan_ok=True), 0)


def test_spearman_edges():
    a = np.array([1.0, 2, 3, 4])
    assert _spearman(a, -a) == pytest.approx(-1.0)
    assert _spearman(a, np.array([1.0, 3, 2, 4])) == pytest.approx(0.8)
    assert np.isnan(_spearman(np.array([1.0]), np.array([2.0])))
    assert np.isnan(_spearman(np.ones(3), a[:3]))
    assert np.isnan(_spearman(a[:3], np.ones(3)))


def test_format_report_text():
    report = {
        "rows": {"holdout_requests_scored": 1234, "holdout": 56789, "train": 1000000},
        "ndcg": {"learned": {"ndcg@5": 0.51234, "ndcg@10": 0.6}, "hand": {"ndcg@5": 0.4, "ndcg@10": 0.45}},
        "distillation": {"weights": {"play3": 1.5, "affinity": -0.25, "rr_reach": 9.0}, "constant_in_log": ["rr_reach"],
                         "r2_holdout": 0.8765, "spearman_holdout": 0.9},
        "mean_abs_shap": {"a": 0.1, "b": 0.5, "c": 0.3, "d": 0.2, "e": 0.05, "f": 0.4},
    }
    assert format_report(report).split("\n") == [
        "held-out NDCG (1,234 requests, 56,789 impressions; trained on 1,000,000):",
        "  scorer       NDCG@5  NDCG@10",
        "  learned      0.5123   0.6000",
        "  hand         0.4000   0.4500",
        "linear distillation (R^2 0.876, Spearman 0.900): play3=+1.500, affinity=-0.250",
        "top mean |SHAP|: b 0.500, f 0.400, c 0.300, d 0.200, a 0.100",
    ]


def test_lgb_params_are_pinned():
    cfg = LearnConfig(num_leaves=7, learning_rate=0.2, min_data_in_leaf=3, lambda_l2=0.5, feature_fraction=0.8,
                      seed=11, threads=2)
    common = dict(num_leaves=7, learning_rate=0.2, min_data_in_leaf=3, lambda_l2=0.5, feature_fraction=0.8,
                  seed=11, deterministic=True, force_row_wise=True, num_threads=2, verbosity=-1)
    assert cfg.lgb_params() == dict(objective="lambdarank", metric="ndcg", ndcg_eval_at=[5, 10], **common)
    reg = LearnConfig(objective="regression", num_leaves=7, learning_rate=0.2, min_data_in_leaf=3, lambda_l2=0.5,
                      feature_fraction=0.8, seed=11, threads=2)
    assert reg.lgb_params() == dict(objective="regression", metric="l2", **common)


# --------------------------------------------------------------------------- the tree replay's refusals


def _stump(**leaf_or_split):
    node = dict(split_feature=0, threshold=0.5, decision_type="<=", missing_type="None", default_left=True,
                left_child=dict(leaf_value=-1.0), right_child=dict(leaf_value=2.0))
    node.update(leaf_or_split)
    return {"tree_info": [{"tree_structure": node}], "feature_names": ["a", "b"], "max_feature_idx": 1}


def test_from_dump_flattens_a_stump_and_predicts():
    ens = TreeEnsemble.from_dump(_stump())
    assert ens.n_trees == 1 and ens.n_internal == 1 and ens.n_features == 2 and ens.feature_names == ("a", "b")
    np.testing.assert_array_equal(ens.feature, [0, -1, -1])
    np.testing.assert_array_equal(ens.children, [[1, 2], [-1, -1], [-1, -1]])
    np.testing.assert_array_equal(ens.value, [0, -1, 2])
    np.testing.assert_array_equal(ens.roots, [0])
    assert ens.feature.dtype == np.int32 and ens.children.dtype == np.int32 and ens.flags.dtype == np.uint8
    assert ens.flags[0] == 1  # default left, missing None
    np.testing.assert_array_equal(ens.predict([[0.5, 9], [0.6, 9], [np.nan, 0], [-1, 0]]), [-1, 2, -1, -1])
    nan_right = TreeEnsemble.from_dump(_stump(missing_type="NaN", default_left=False))
    assert nan_right.flags[0] == (2 << 1)
    np.testing.assert_array_equal(nan_right.predict([[np.nan, 0], [0.0, 0]]), [2, -1])
    # no names: Column_j
    d = _stump()
    del d["feature_names"]
    assert TreeEnsemble.from_dump(d).feature_names == ("Column_0", "Column_1")
    with pytest.raises(ValueError, match=r"X must be a 2-d array with 2 columns \(a, b\). Got shape \(3,\)"):
        ens.predict(np.zeros(3))
    with pytest.raises(ValueError, match="Got shape"):
        ens.predict(np.zeros((2, 3)))
    assert ens.predict(np.zeros((0, 2))).shape == (0,)
    empty = TreeEnsemble.from_dump({"tree_info": [], "feature_names": ["a"]})
    np.testing.assert_array_equal(empty.predict(np.ones((3, 1))), np.zeros(3))


@pytest.mark.parametrize("dump,match", [
    ([], "no 'tree_info' key"),
    ({"x": 1}, "no 'tree_info' key"),
    (dict(_stump(), num_class=3), "num_class=3"),
    (dict(_stump(), num_tree_per_iteration=2), "single-output"),
    (dict(_stump(), average_output=True), "average_output"),
    (_stump(left_child=dict(leaf_value=1.0, leaf_coeff=[1.0])), "Linear trees"),
    (_stump(left_child=dict(leaf_value=1.0, leaf_const=1.0)), "Linear trees"),
    (_stump(decision_type="=="), "Categorical splits"),
    ({"tree_info": [{"num_cat": 1, "tree_structure": {"leaf_value": 0.0}}], "feature_names": ["a"]},
     "Categorical splits"),
    (_stump(threshold=float("inf")), "thresholds must be finite"),
])
def test_from_dump_refuses_what_it_cannot_replay(dump, match):
    with pytest.raises(ModelFormatError, match=match):
        TreeEnsemble.from_dump(dump)


def test_post_init_refuses_leaves_before_internal_nodes():
    e = TreeEnsemble.from_dump(_stump())
    with pytest.raises(ModelFormatError, match="Internal nodes must come before leaves"):
        TreeEnsemble(feature=e.feature[::-1].copy(), threshold=e.threshold[::-1].copy(), flags=e.flags,
                     children=e.children, value=e.value, roots=e.roots, feature_names=e.feature_names)


# --------------------------------------------------------------------------- the training set's other columns


def _prior_play_mean(log, d):
    """The population prior's 3-second play rate fitted on the videos' totals before day ``d``
    (plain sums over the rows, as tests/test_learn_wiring.py does for the signals)."""
    from ranker.signals import Counters, fit_prior
    from tests.test_learn_wiring import _sums

    before = np.flatnonzero(log.day < d)
    vids = sorted(set(log.video[before].tolist()))
    tot = [_sums(log, before[log.video[before] == v]) for v in vids]
    first = [before[log.video[before] == v][0] for v in vids]
    cre = lambda c: before[log.creator[before] == c]  # noqa: E731
    prior = fit_prior(Counters(
        video_id=np.array(vids), creator_id=log.creator[first], duration_s=log.duration_s[first],
        creator_followers=[log.follower[cre(log.creator[r])].sum() for r in first],
        creator_regular_readers=[log.regular_reader[cre(log.creator[r])].sum() for r in first],
        creator_age_days=np.full(len(vids), np.nan), **{k: np.array([t[k] for t in tot]) for k in tot[0]}))
    return prior.mean[0]


@pytest.mark.parametrize("seed", [0, 2])
def test_user_and_pair_columns_equal_an_independent_computation(seed):
    """user_play_lift, uc_log_impressions, uc_play_lift (USER_STRENGTH = 5 pseudo-impressions at the
    day's prior play rate), log_impressions and the logged columns, row by row from earlier blocks."""
    from tests.test_learn_wiring import make_log

    log = make_log(seed)
    ts = build_training_set(log)  # default warm-up: 1 day
    assert ts.label_name == "latent_value" and ts.n == np.count_nonzero(log.day >= 1)
    col = lambda name: ts.X[:, FEATURE_NAMES.index(name)]  # noqa: E731
    k = 5.0
    want = {n: [] for n in ("user_play_lift", "uc_log_impressions", "uc_play_lift", "log_impressions")}
    for d in range(1, log.n_days):
        m = _prior_play_mean(log, d)
        for r in np.flatnonzero(log.day == d):
            earlier = log.block < log.block[r]
            mine = earlier & (log.user == log.user[r])
            pair = mine & (log.creator == log.creator[r])
            p_u = (log.play3[mine].sum() + k * m) / (mine.sum() + k)
            p_uc = (log.play3[pair].sum() + k * p_u) / (pair.sum() + k)
            want["user_play_lift"].append(np.log(p_u / m))
            want["uc_play_lift"].append(np.log(p_uc / p_u))
            want["uc_log_impressions"].append(np.log1p(pair.sum()))
            want["log_impressions"].append(np.log1p(np.count_nonzero(earlier & (log.video == log.video[r]))))
    for name, w in want.items():
        np.testing.assert_allclose(col(name), w, rtol=1e-12, atol=1e-12, err_msg=name)
    assert np.abs(col("user_play_lift")).max() > 0.05 and np.abs(col("uc_play_lift")).max() > 0.05
    keep = log.day >= 1
    np.testing.assert_array_equal(col("log_duration"), np.log(log.duration_s[keep]))
    for name in ("affinity", "regular_reader", "creator_age_days"):
        np.testing.assert_array_equal(col(name), getattr(log, name)[keep], err_msg=name)


def test_unknown_creators_and_lengths(tmp_path):
    """Unknown creators (-1) get no pair columns; an unlogged length is the longest completed watch so
    far (NaN before any), and no NumPy warning leaks out (log of 0, 0/0)."""
    import warnings

    from tests.test_learn_wiring import make_log

    log = make_log(1)
    unknown = log.video % 3 == 0
    dur = np.where(log.video == 5, 0.0, log.duration_s)  # video 5's length is not logged
    log = type(log)(**{**log.__dict__, "creator": np.where(unknown, -1, log.creator), "duration_s": dur})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ts = build_training_set(log, warmup_days=1, holdout_days=1)
    keep = log.day >= 1
    col = lambda name: ts.X[:, FEATURE_NAMES.index(name)]  # noqa: E731
    assert np.isnan(col("uc_play_lift")[unknown[keep]]).all() and np.isnan(col("uc_log_impressions")[unknown[keep]]).all()
    assert np.isfinite(col("uc_play_lift")[~unknown[keep]]).all()
    rows = np.flatnonzero(keep & (log.video == 5))
    assert rows.size >= 3
    for r in rows:
        done = (log.block < log.block[r]) & (log.video == 5) & (log.completed > 0)
        got = col("log_duration")[np.searchsorted(np.flatnonzero(keep), r)]
        if done.any():
            assert got == pytest.approx(np.log(log.watch_s[done].max()), abs=1e-15)
        else:
            assert np.isnan(got)


def test_progress_lines_only_when_asked(capsys):
    from tests.test_learn_wiring import make_log

    log = make_log(0)
    ts = build_training_set(log, warmup_days=1, holdout_days=1)
    assert capsys.readouterr().err == ""  # quiet by default
    build_training_set(log, warmup_days=1, holdout_days=1, progress=True)
    err = capsys.readouterr().err
    assert "features: step 5/5" in err
    from ranker.learn import train

    train(ts, LearnConfig(holdout_days=1, n_trees=4, min_data_in_leaf=3, shap_rows=10), progress=True)
    assert "trees: step 4/4" in capsys.readouterr().err


# --------------------------------------------------------------------------- training and its report


@pytest.fixture(scope="module")
def small_model():
    from ranker.learn import train
    from tests.test_learn_wiring import make_log

    log = make_log(5, n_days=5, per_block=12, blocks_per_day=4)
    ts = build_training_set(log, warmup_days=1, holdout_days=1)
    cfg = LearnConfig(holdout_days=1, n_trees=8, min_data_in_leaf=3, shap_rows=7, seed=3)
    return ts, cfg, train(ts, cfg)


def test_report_fields(small_model):
    ts, cfg, res = small_model
    r = res.report
    hold = ts.day >= ts.n_days - 1
    assert r["rows"]["train"] == np.count_nonzero(~hold) and r["rows"]["holdout"] == np.count_nonzero(hold)
    assert r["days"] == {"in_log": 5, "warmup": 1, "holdout": 1}
    assert r["label"] == "latent_value" and r["source"] == "events" and r["label_edges"] == ts.label_edges
    assert len(r["label_edges"]) == 4 and r["format"] == 1
    assert r["shap_rows"] == 7  # sampled: fewer held-out rows than shap_rows are all read
    assert r["config"] == cfg.to_dict() and r["params"] == dict(cfg.lgb_params(), n_trees=8)
    assert r["feature_names"] == list(FEATURE_NAMES)
    assert sum(r["gain_share"].values()) == pytest.approx(1.0)
    assert r["gain_share"] == pytest.approx({k: v / sum(r["gain_importance"].values())
                                             for k, v in r["gain_importance"].items()})
    assert r["tree_replay_max_abs_diff"] < 1e-9
    assert set(r["ndcg"]) == {"learned", "hand", "distilled", "popularity", "random"}
    for row in r["ndcg"].values():
        assert set(row) == {"ndcg@5", "ndcg@10"} and 0 < row["ndcg@5"] <= 1
    d = r["distillation"]
    assert d["features"] == list(d["weights"]) and len(d["weights"]) == 9
    assert set(d["constant_in_log"]) <= set(d["weights"])
    # the held-out scores the report rates are the replay's
    Xh = ts.X[hold]
    score = res.ensemble.predict(Xh)
    req, g = ts.request[hold], ts.grade[hold]
    want, n = ndcg(score, g, req, 10, tie_seed=cfg.seed)
    assert r["ndcg"]["learned"]["ndcg@10"] == pytest.approx(want, abs=1e-15)
    assert r["rows"]["holdout_requests_scored"] == n
    pop, _ = ndcg(ts.popularity[hold], g, req, 5, tie_seed=cfg.seed)
    assert r["ndcg"]["popularity"]["ndcg@5"] == pytest.approx(pop, abs=1e-15)
    distilled = res.report["distillation"]
    H = ts.hand_features()[hold]
    w = np.array(list(distilled["weights"].values()))
    dist_score = H @ w + distilled["intercept"]
    assert d["spearman_holdout"] == pytest.approx(_spearman(score, dist_score), abs=1e-9)
    r2 = 1 - np.sum((score - dist_score) ** 2) / np.sum((score - score.mean()) ** 2)
    assert d["r2_holdout"] == pytest.approx(r2, abs=1e-9)


def test_train_refuses_what_it_cannot_learn(small_model):
    import dataclasses

    from ranker.learn import train

    ts, cfg, _ = small_model
    with pytest.raises(TypeError, match="train expects a TrainingSet. Got dict instead."):
        train({}, cfg)
    with pytest.raises(ValueError, match="No held-out rows: the last days of the log have no impressions"):
        train(dataclasses.replace(ts, n_days=ts.n_days + 3), cfg)
    with pytest.raises(ValueError, match="No training rows: the log has 5 day"):
        train(ts, LearnConfig(holdout_days=5))
    with pytest.raises(ValueError, match="'latent_value' is 0 on every training row"):
        train(dataclasses.replace(ts, grade=np.zeros_like(ts.grade)), cfg)


def test_distillation_samples_rows_without_replacement(monkeypatch):
    from types import SimpleNamespace

    from ranker.learn import distillation
    from ranker.learn.features import HAND_NAMES

    seen = []

    class Recorder:
        def predict(self, X):
            seen.append(X[:, 0].copy())
            return X @ np.arange(1.0, X.shape[1] + 1)

    n = 40
    H = np.random.default_rng(1).normal(size=(n, len(HAND_NAMES)))
    H[:, 0] = np.arange(n)  # the row's index
    monkeypatch.setattr(distillation, "DISTILL_MAX_ROWS", 30)
    ts = SimpleNamespace(X=H, hand_features=lambda: H)
    distillation.distill(Recorder(), ts, np.arange(n), np.arange(len(HAND_NAMES)), np.random.default_rng(0))
    rows = seen[0]
    assert rows.size == 30 and np.unique(rows).size == 30 and np.all(np.diff(rows) > 0)


def test_ndcg_default_tie_order_is_seed_0():
    s = np.zeros(12)
    g = np.zeros(12, int)
    g[[3, 8]] = [1, 2]
    req = np.zeros(12, np.int64)
    by_seed = {t: ndcg(s, g, req, 3, tie_seed=t)[0] for t in range(4)}
    assert ndcg(s, g, req, 3)[0] == by_seed[0]
    assert len(set(by_seed.values())) > 1  # the tie order matters here


# --------------------------------------------------------------------------- a learned model's per-video scores


def _stump_on(name, thr=0.5):
    j = FEATURE_NAMES.index(name)
    node = dict(split_feature=j, threshold=thr, decision_type="<=", missing_type="NaN", default_left=False,
                left_child=dict(leaf_value=-1.0), right_child=dict(leaf_value=2.0))
    return TreeEnsemble.from_dump({"tree_info": [{"tree_structure": node}], "feature_names": list(FEATURE_NAMES)})


@pytest.mark.parametrize("name,thr,want", [
    ("play3", 0.15, [-1, 2, 2]),            # signals' columns in SIGNAL_NAMES order
    ("rr_reach", -0.5, [2, -1, 2]),
    ("affinity", 0.0, [-1, -1, -1]),        # per-(user, video) columns take their neutral 0
    ("regular_reader", 0.0, [-1, -1, -1]),
    ("user_play_lift", 0.0, [-1, -1, -1]),
    ("uc_log_impressions", 0.0, [-1, -1, -1]),
    ("uc_play_lift", 0.0, [-1, -1, -1]),
    ("log_impressions", np.log1p(5), [-1, 2, -1]),   # impressions 0, 9, 5
    ("log_duration", np.log(20), [2, -1, 2]),        # length unknown (NaN goes right), 10, 30
    ("creator_age_days", 3.0, [-1, 2, 2]),
])
def test_video_scores_feed_each_column(name, thr, want):
    from types import SimpleNamespace

    from ranker.learn.model import LearnedModel

    signals = SimpleNamespace(matrix=np.array([[0.1, 0, 0, 0, 0, 0, 0.0], [0.2, 0, 0, 0, 0, 0, -1.0],
                                               [0.3, 0, 0, 0, 0, 0, 0.0]], np.float32))
    counters = SimpleNamespace(n_videos=3, impressions=np.array([0.0, 9, 5]), duration_s=np.array([0.0, 10, 30]),
                               creator_age_days=np.array([1.0, 4, np.nan]))
    m = LearnedModel(booster=None, ensemble=_stump_on(name, thr), report={})
    np.testing.assert_array_equal(m.video_scores(signals, counters), want)
    assert m.pair_weights == {"affinity": 0.0, "regular_reader": 0.0}
