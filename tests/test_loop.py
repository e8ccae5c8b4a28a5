"""Retraining in the loop (sim.loop): kept rows, deterministic retrainings, errors before the run, the loop's metrics."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ranker.rng import STREAM_LOG
from sim.cli import main
from sim.config import Config, LoopConfig
from sim.engine import simulate
from sim.events import read_events
from sim.loop import JACCARD_USERS, _train_mask, ipw_weights
from tests import reference as ref


def tiny(days=4, **loop):
    cfg = Config().with_overrides(users=600, days=days, seed=2, log_sample=1.0)
    cfg = cfg.replace(world=cfg.world.replace(n_creators=40, new_creators_per_day=2))
    return cfg.replace(loop=LoopConfig(**loop)) if loop else cfg


def test_train_mask_matches_reference():
    users = np.array([0, 5, 5, 17, 900], np.int32)
    reqs = np.array([0, 0, 3, 1, 63], np.int32)
    out = np.empty(5, np.bool_)
    _train_mask(np.int64(9), np.int64(4), np.int64(2), users, reqs, 0.5, out)
    want = [ref.uniform(ref.key(9, STREAM_LOG, int(u), 4, 2 * 64 + int(r)), 1) < 0.5 for u, r in zip(users, reqs)]
    assert out.tolist() == want
    # draw 1, not the event log's draw 0: which requests are kept does not follow which are logged
    users = np.arange(400, dtype=np.int32)
    reqs = np.zeros(400, np.int32)
    kept = np.empty(400, np.bool_)
    _train_mask(np.int64(9), np.int64(4), np.int64(2), users, reqs, 0.5, kept)
    logged = np.array([ref.uniform(ref.key(9, STREAM_LOG, int(u), 4, 128), 0) < 0.5 for u in users])
    assert 0.35 < (kept != logged).mean() < 0.65


def test_ipw_weights_are_clipped_and_mean_one():
    w = ipw_weights(np.array([1.0, 0.5, 0.1, 0.001, 1e-9]), 20.0)
    raw = np.array([1.0, 2.0, 10.0, 20.0, 20.0])
    np.testing.assert_allclose(w, raw / raw.mean())
    assert w.mean() == pytest.approx(1.0)


@pytest.fixture(scope="module")
def retrained(tmp_path_factory):
    d = tmp_path_factory.mktemp("loop")
    cfg = tiny(retrain_every=1, window_days=2, n_trees=15, train_sample=0.5)
    a = simulate(cfg, out_dir=d / "a", progress=False, threads=1)
    b = simulate(cfg, out_dir=d / "b", progress=False, threads=2)
    base = simulate(tiny(metrics=True), out_dir=d / "hand", progress=False, threads=1)
    return a, b, base, d


def test_retraining_replays_bit_for_bit_and_reports_its_time_apart(retrained):
    a, b, _, d = retrained
    assert (d / "a" / "metrics.json").read_bytes() == (d / "b" / "metrics.json").read_bytes()
    assert a.metrics["loop_retrainings"]["value"] == 3  # after days 0, 1 and 2 of 4
    assert a.timings["retrain_s"] > 0 and a.timings["feed_loop_s"] > 0
    assert "retrain_s" not in json.dumps(a.metrics)
    rows = a.metrics["loop_train_rows_by_retraining"]["value"]
    assert rows[1] > rows[0] > 0  # the window grows to 2 days, then slides
    assert rows[2] < 1.5 * rows[1]


def test_retraining_starts_from_the_hand_set_weights_and_then_changes_the_feed(retrained):
    a, _, base, d = retrained
    ev_a, ev_h = read_events(d / "a"), read_events(d / "hand")
    day0 = ["request_id", "user_id", "video_id", "position"]
    pd_a, pd_h = ev_a[ev_a.day == 0][day0], ev_h[ev_h.day == 0][day0]
    assert pd_a.reset_index(drop=True).equals(pd_h.reset_index(drop=True))  # day 0: the hand-set weights
    later_a, later_h = ev_a[ev_a.day == 2], ev_h[ev_h.day == 2]
    same = (later_a.video_id.to_numpy()[:2000] == later_h.video_id.to_numpy()[:2000]).mean()
    assert same < 0.7  # after retraining, other slates
    nd = a.metrics["loop_ndcg10_next_day_by_day"]["value"]
    assert nd[0] is None and all(0.5 < x <= 1.0 for x in nd[1:])
    # each retrained model is written beside the run, with its SHAP, and loads as a learned ranker
    from ranker.learn import load_model

    dirs = sorted((d / "a" / "models").iterdir())
    assert [p.name for p in dirs] == ["after_day=0000", "after_day=0001", "after_day=0002"]
    m = load_model(dirs[-1])
    assert m.feature_names == ("play3", "completion", "avg_play", "like", "comment", "share_ft", "rr_reach",
                               "affinity", "regular_reader", "log_duration")
    assert set(m.report["mean_abs_shap"]) == set(m.feature_names) and m.report["loop"]["trained_after_day"] == 2


@pytest.mark.slow
def test_the_loop_learns_through_the_warm_up_and_a_warm_run_replays_a_cold_runs_tail(tmp_path):
    """With a warm-up the loop retrains from its first simulated day, so the measured days start in its steady
    state: the warm run is, day for day, the last days of a cold run as long as both (policy none)."""
    loop = dict(retrain_every=1, window_days=2, n_trees=5, train_sample=0.5)
    cold_cfg = tiny(days=5, **loop)
    warm_cfg = tiny(days=3, **loop)
    warm_cfg = warm_cfg.replace(run=warm_cfg.run.replace(warmup_days=2))
    cold = simulate(cold_cfg, out_dir=tmp_path / "cold", progress=False, threads=1)
    warm = simulate(warm_cfg, out_dir=tmp_path / "warm", progress=False, threads=1)
    m_c, m_w = cold.metrics, warm.metrics
    for name in ("loop_value_per_impression_by_day", "loop_new_creator_share_by_day", "loop_exposure_gini_by_day",
                 "loop_coverage_by_day", "loop_top1pct_share_by_day", "loop_feed_jaccard_by_day",
                 "loop_ndcg10_next_day_by_day", "loop_hand_ndcg10_next_day_by_day"):
        assert len(m_w[name]["value"]) == 3, name
        assert m_w[name]["value"] == m_c[name]["value"][2:], name
    # measured day 0 is served by a model retrained twice in the warm-up (cold: never yet on its day 0)
    assert m_w["loop_ndcg10_next_day_by_day"]["value"][0] is not None
    assert m_c["loop_ndcg10_next_day_by_day"]["value"][0] is None
    # retrainings after simulated days 0..3 in both, named by the reported day (the warm-up's are negative)
    assert m_w["loop_retrainings"]["value"] == m_c["loop_retrainings"]["value"] == 4
    assert m_w["loop_train_rows_by_retraining"]["value"] == m_c["loop_train_rows_by_retraining"]["value"]
    assert [p.name for p in sorted((tmp_path / "warm" / "models").iterdir(), key=lambda p: int(p.name[10:]))] == [
        "after_day=-002", "after_day=-001", "after_day=0000", "after_day=0001"]
    assert (tmp_path / "warm" / "models" / "after_day=0001" / "model.txt").read_bytes() == (
        tmp_path / "cold" / "models" / "after_day=0003" / "model.txt").read_bytes()
    # the event log holds the measured days only: the cold run's days 2..4, row for row
    ev_c, ev_w = read_events(tmp_path / "cold"), read_events(tmp_path / "warm")
    cols = ["user_id", "video_id", "position", "latent_value"]
    tail = ev_c[ev_c.day >= 2].reset_index(drop=True)
    assert ev_w[cols].reset_index(drop=True).equals(tail[cols])
    assert m_w["value_per_impression"]["value"] == pytest.approx(
        ev_w.latent_value.astype(np.float64).mean(), rel=1e-6)


def test_loop_metrics_match_a_direct_count_from_the_event_log(retrained):
    _, _, base, d = retrained
    ev = read_events(d / "hand")
    m = base.metrics
    n_users = base.config.world.n_users
    step = max(1, n_users // JACCARD_USERS)
    sample = set(range(0, n_users, step)[:JACCARD_USERS])
    for day in range(base.config.run.days):
        e = ev[ev.day == day]
        assert m["loop_new_creator_share_by_day"]["value"][day] == pytest.approx(e.is_new_creator.mean())
        assert m["loop_value_per_impression_by_day"]["value"][day] == pytest.approx(
            e.latent_value.astype(np.float64).mean(), rel=1e-6)
        feeds = [set(g.video_id) for u, g in e.groupby("user_id") if u in sample]
        jac = [len(x & y) / len(x | y) for i, x in enumerate(feeds) for y in feeds[i + 1:]]
        assert m["loop_feed_jaccard_by_day"]["value"][day] == pytest.approx(np.mean(jac))
        counts = np.sort(e.video_id.value_counts().to_numpy())[::-1]
        # the top 1 % of live posts (at least one post): at least the single most shown post's share
        assert m["loop_top1pct_share_by_day"]["value"][day] >= counts[0] / counts.sum() - 1e-12
        assert 0 < m["loop_coverage_by_day"]["value"][day] <= 1
    assert "loop_ndcg10_next_day_by_day" not in m  # measured, not retrained


@pytest.mark.parametrize("argv, message", [
    (["--retrain-every", "1", "--window-days", "9"], "'window_days' parameter of LoopConfig must be at most the run's simulated days (4: 0 warm-up + 4 measured)"),
    (["--retrain-every", "4"], "'retrain_every' parameter of LoopConfig must be below the run's simulated days (4: 0 warm-up + 4 measured)"),
    (["--retrain-every", "1", "--ranker", "oracle"], "the oracle ranker learns nothing"),
    (["--explore-temperature", "0"], "'temperature' parameter of LoopConfig must be a finite float in the range (0.0, 100.0]"),
    (["--ipw", "--retrain-every", "1"], "'ipw' parameter of LoopConfig needs explore"),
])
def test_bad_loop_input_is_one_clear_error_before_the_run(tmp_path, capsys, argv, message):
    rc = main(["simulate", "--days", "4", "--users", "50", "--out", str(tmp_path / "run"), "--quiet", *argv])
    err = capsys.readouterr().err
    assert rc == 2 and message in err, err
    assert not (tmp_path / "run").exists()


def test_a_model_of_another_schema_is_refused_before_the_run(tmp_path, capsys):
    import shutil

    from ranker import learn

    run = simulate(tiny(days=3), out_dir=tmp_path / "log", progress=False, threads=1)
    ts = learn.build_training_set(learn.read_event_log(run.out_dir), warmup_days=1, holdout_days=1)
    res = learn.train(ts, learn.LearnConfig(n_trees=5, threads=1, holdout_days=1), features="all")
    learn.save_model(res, tmp_path / "m_all")
    rc = main(["simulate", "--days", "4", "--users", "50", "--out", str(tmp_path / "r1"), "--quiet",
               "--ranker", f"learned:{tmp_path / 'm_all'}", "--retrain-every", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and "which the loop does not compute" in err and "user_play_lift" in err, err
    # a KuaiRand model (another platform's counts) is refused too
    shutil.copytree(tmp_path / "m_all", tmp_path / "m_kr")
    res = learn.train(ts, learn.LearnConfig(n_trees=5, threads=1, holdout_days=1), features="loop")
    learn.save_model(res, tmp_path / "m_kr", overwrite=True)
    w = json.loads((tmp_path / "m_kr" / "weights.json").read_text())
    w["source"] = "kuairand"
    (tmp_path / "m_kr" / "weights.json").write_text(json.dumps(w))
    rc = main(["simulate", "--days", "4", "--users", "50", "--out", str(tmp_path / "r2"), "--quiet",
               "--ranker", f"learned:{tmp_path / 'm_kr'}", "--retrain-every", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and "'kuairand' log" in err, err
    # the same model learned from a simulator log starts a retraining run
    w["source"] = "events"
    (tmp_path / "m_kr" / "weights.json").write_text(json.dumps(w))
    rc = main(["simulate", "--days", "3", "--users", "80", "--out", str(tmp_path / "r3"), "--quiet",
               "--ranker", f"learned:{tmp_path / 'm_kr'}", "--retrain-every", "1", "--window-days", "1"])
    out = capsys.readouterr().out
    assert rc == 0 and "retraining: 2 model(s)" in out, out
    assert not math.isnan(json.loads((tmp_path / "r3" / "metrics.json").read_text())["loop_retrainings"]["value"])


def test_compare_retrains_the_learned_arms_and_keeps_hand_and_oracle_as_baselines(tmp_path):
    from ranker import learn

    run = simulate(tiny(days=3), out_dir=tmp_path / "log", progress=False, threads=1)
    ts = learn.build_training_set(learn.read_event_log(run.out_dir), warmup_days=1, holdout_days=1)
    learn.save_model(learn.train(ts, learn.LearnConfig(n_trees=5, threads=1, holdout_days=1), features="loop"),
                     tmp_path / "m")
    (tmp_path / "c.toml").write_text("[world]\nn_users = 300\nn_creators = 30\nnew_creators_per_day = 2\n"
                                     "[run]\ndays = 3\n")
    rc = main(["compare", "--config", str(tmp_path / "c.toml"), "--policies", "none", "--seeds", "1",
               "--rankers", f"hand,oracle,learned:{tmp_path / 'm'}", "--retrain-every", "1", "--window-days", "2",
               "--no-frontier", "--no-robustness", "--jobs", "1", "--quiet", "--out", str(tmp_path / "cmp")])
    assert rc == 0
    got = {}
    for d in (tmp_path / "cmp" / "runs").iterdir():
        m = json.loads((d / "metrics.json").read_text())
        got[d.name] = m.get("loop_retrainings", {}).get("value")
        assert "loop_feed_jaccard_by_day" in m  # every arm measured with the loop's metrics
    learned = [k for k in got if "learned" in k]
    assert len(got) == 3 and len(learned) == 1
    assert got[learned[0]] == 2 and all(v is None for k, v in got.items() if k not in learned)


def test_inverse_propensity_weights_change_what_the_retrained_model_learns():
    kw = dict(retrain_every=1, window_days=1, n_trees=10, explore="plackett_luce", temperature=0.5)
    a = simulate(tiny(days=3, **kw), progress=False, threads=1)
    b = simulate(tiny(days=3, ipw=True, **kw), progress=False, threads=1)
    va, vb = (r.metrics["loop_value_per_impression_by_day"]["value"] for r in (a, b))
    assert va[0] == vb[0]  # day 0: the hand-set weights, the same draws
    assert va[1:] != vb[1:]  # from day 1: models trained with and without the weights
    assert a.metrics["loop_retrainings"]["value"] == b.metrics["loop_retrainings"]["value"] == 2
