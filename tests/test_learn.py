"""ranker.learn: running counters, no leakage, NDCG, training, the model directory, the CLI."""

import json
import sys

import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ranker import _tree_kernels as tk
from ranker import learn
from ranker.commands import learn_main
from ranker.learn import (FEATURE_NAMES, LearnConfig, build_training_set, load_model, ndcg, read_event_log,
                          save_model, train)
from tests import reference_trees as ref

# --------------------------------------------------------------------------- running counters


@pytest.mark.parametrize("seed,n,n_keys,n_blocks,k", [(0, 1, 1, 1, 1), (1, 7, 3, 7, 2), (2, 60, 5, 12, 3),
                                                       (3, 200, 40, 200, 1), (4, 150, 2, 3, 4)])
def test_running_sums_and_max_match_reference(seed, n, n_keys, n_blocks, k):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, n_keys, n).astype(np.int64)
    block = np.sort(rng.integers(0, n_blocks, n)).astype(np.int64)
    values = rng.exponential(size=(n, k)).round(3)
    got = tk.running_sums(codes, block, values, n_keys)
    want = np.stack([ref.running_sums(codes, block, values[:, c]) for c in range(k)], axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(tk.running_max(codes, block, values[:, 0], n_keys),
                                  ref.running_max(codes, block, values[:, 0]))


def test_running_sums_empty_and_one_block():
    e = np.zeros(0, np.int64)
    assert tk.running_sums(e, e, np.zeros((0, 2)), 1).shape == (0, 2)
    # every row in one block: nobody sees anybody
    codes = np.zeros(5, np.int64)
    assert (tk.running_sums(codes, codes, np.ones((5, 1)), 1) == 0).all()


# --------------------------------------------------------------------------- a small simulated log


def fake_log_columns(seed=0, days=5, ticks=3, n_users=40, n_videos=60, slate=6, reqs_per_tick=12):
    """A log in the simulator's schema, from a toy world with known quality."""
    rng = np.random.default_rng(seed)
    q = rng.normal(size=n_videos)
    hook = rng.normal(size=n_videos)
    creator = rng.integers(0, 15, n_videos)
    dur = rng.uniform(5, 60, n_videos)
    rows = []
    req = 0
    for d in range(days):
        for t in range(ticks):
            for _ in range(reqs_per_tick):
                u = rng.integers(n_users)
                vids = rng.choice(n_videos, slate, replace=False)
                for p, v in enumerate(vids):
                    play = rng.random() < 1 / (1 + np.exp(-(0.3 * q[v] + hook[v])))
                    comp = play and rng.random() < 1 / (1 + np.exp(-q[v]))
                    watch = dur[v] if comp else (rng.uniform(3, dur[v]) if play else rng.uniform(0, 3))
                    shared = comp and rng.random() < 0.2
                    nrec = int(rng.integers(1, 4)) if shared else 0
                    opens = int(rng.binomial(nrec, 1 / (1 + np.exp(-q[v])))) if nrec else 0
                    follower = rng.random() < 0.3
                    regular = follower and rng.random() < 0.5
                    rows.append(dict(
                        day=d, tick=t, request_id=req, user_id=u, video_id=v, creator_id=creator[v], position=p,
                        score=0.0, boost=0.0, affinity=rng.normal(0, 0.3), creator_age_days=float(d + 30),
                        is_new_creator=False, is_ai_labeled=False, regular_reader=regular, follower=follower,
                        play_3s=play, completed=comp, watch_s=watch, liked=comp and rng.random() < 0.3,
                        commented=comp and rng.random() < 0.05, shared=shared, share_recipients=nrec,
                        share_opens=opens, followed=(not follower) and comp and rng.random() < 0.05,
                        latent_value=(watch / dur[v]) * q[v]))
                req += 1
    return {k: np.array([r[k] for r in rows]) for k in rows[0]}


def write_log(path, cols, n_files=3, flat=False):
    """The simulator's layout (``day=NNNN/part-0.parquet``, no day column in the files), or ``flat``:
    ``n_files`` files holding every column (the layout of logs written before 0.2)."""
    path.mkdir(parents=True, exist_ok=True)
    n = len(cols["day"])
    if flat:
        for i, part in enumerate(np.array_split(np.arange(n), n_files)):
            pq.write_table(pa.table({k: v[part] for k, v in cols.items()}), path / f"part-{i:05d}.parquet")
        return path
    for d in np.unique(cols["day"]):
        sel = cols["day"] == d
        (path / f"day={int(d):04d}").mkdir()
        pq.write_table(pa.table({k: v[sel] for k, v in cols.items() if k != "day"}),
                       path / f"day={int(d):04d}" / "part-0.parquet")
    return path


@pytest.fixture(scope="module")
def sim_log(tmp_path_factory):
    return write_log(tmp_path_factory.mktemp("run") / "events", fake_log_columns())


def _log_from(cols, tmp_path, name="events"):
    return read_event_log(write_log(tmp_path / name, cols))


# --------------------------------------------------------------------------- no leakage


OUTCOMES = ("play_3s", "completed", "watch_s", "liked", "commented", "shared", "share_recipients",
            "share_opens", "followed", "latent_value")
STATE = ("regular_reader", "follower", "affinity")  # known when the row is served: its own features


def _perturb(cols, rows, rng, state=True):
    c = {k: v.copy() for k, v in cols.items()}
    for k in OUTCOMES + (STATE if state else ()):
        if c[k].dtype == bool:
            c[k][rows] = ~c[k][rows]
        elif k == "share_opens":
            c[k][rows] = 0
        else:
            c[k][rows] = c[k][rows] * 3 + 1
    # keep the log consistent (regular readers are followers, opens <= recipients, follows only by non-followers)
    c["follower"] |= c["regular_reader"]
    c["followed"] &= ~c["follower"]
    c["play_3s"] |= c["completed"]
    return c


def test_no_feature_uses_later_rows(tmp_path):
    cols = fake_log_columns(seed=3)
    # from day 3, tick 1 on is "the future": flip every outcome there
    future = np.flatnonzero((cols["day"] > 3) | ((cols["day"] == 3) & (cols["tick"] >= 1)))
    log = _log_from(cols, tmp_path, "a")
    base = build_training_set(log, warmup_days=1, holdout_days=1)
    pert = build_training_set(_log_from(_perturb(cols, future, None), tmp_path, "b"), warmup_days=1,
                              holdout_days=1)
    # rows of build_training_set are the log's rows after the warm-up, in order
    blk = log.block[log.day >= 1]
    past = blk < log.block[np.searchsorted(log.day, 3)] + 1
    assert past.sum() > 100 and (~past).sum() > 100
    # every feature of every earlier row is bitwise unchanged ...
    np.testing.assert_array_equal(base.X[past], pert.X[past])
    # ... and the check can fail: rows after the cut do see the change
    assert not np.array_equal(np.nan_to_num(base.X[~past]), np.nan_to_num(pert.X[~past]))


def test_a_row_does_not_see_itself_nor_its_own_tick(tmp_path):
    cols = fake_log_columns(seed=4)
    log = _log_from(cols, tmp_path, "a")
    # perturb the whole of day 2, tick 0; that tick's own rows keep their features, day 2 tick 1 moves
    rows = np.flatnonzero((cols["day"] == 2) & (cols["tick"] == 0))
    base = build_training_set(log, warmup_days=1, holdout_days=1)
    pert = build_training_set(_log_from(_perturb(cols, rows, None, state=False), tmp_path, "b"), warmup_days=1,
                              holdout_days=1)
    keep = log.day >= 1
    blk = log.block[keep]
    b0 = log.block[np.searchsorted(log.day, 2)]
    same = blk <= b0
    np.testing.assert_array_equal(base.X[same], pert.X[same])
    nxt = blk == b0 + 1
    sig = slice(0, 7)
    assert not np.array_equal(base.X[nxt][:, sig], pert.X[nxt][:, sig])


def test_inclusive_counters_would_be_caught(tmp_path, monkeypatch):
    # a leaky variant (counting the row's own block) must fail the leakage check above
    cols = fake_log_columns(seed=5)
    real = tk.running_sums

    def leaky(codes, block, values, n_keys):
        return real(codes, block, values, n_keys) + values

    monkeypatch.setattr(tk, "running_sums", leaky)
    rows = np.flatnonzero(cols["day"] == 4)
    log_a = _log_from(cols, tmp_path, "a")
    a = build_training_set(log_a, warmup_days=1, holdout_days=1)
    b = build_training_set(_log_from(_perturb(cols, rows, None), tmp_path, "b"), warmup_days=1, holdout_days=1)
    d4 = a.day == 4
    assert not np.array_equal(a.X[d4], b.X[d4])


# --------------------------------------------------------------------------- features


def test_training_set_shapes_and_counts(sim_log):
    log = read_event_log(sim_log)
    ts = build_training_set(log, warmup_days=1, holdout_days=1)
    assert ts.feature_names == FEATURE_NAMES
    assert ts.X.shape == (int((log.day >= 1).sum()), len(FEATURE_NAMES))
    assert set(np.unique(ts.grade)) <= set(range(learn.N_GRADES)) and ts.grade.max() == learn.N_GRADES - 1
    # popularity is the video's impressions before the row's tick: check a few rows by brute force
    keep = np.flatnonzero(log.day >= 1)
    for i in keep[::97]:
        j = np.searchsorted(keep, i)
        assert ts.popularity[j] == np.sum((log.video == log.video[i]) & (log.block < log.block[i]))
        assert ts.X[j, FEATURE_NAMES.index("log_impressions")] == pytest.approx(np.log1p(ts.popularity[j]))
    # the hand score is ScoreWeights on the hand features
    from ranker.score import ScoreWeights

    w = ScoreWeights()
    H = ts.hand_features()
    np.testing.assert_allclose(ts.hand_score, H @ np.array([getattr(w, c) for c in learn.HAND_NAMES]))
    assert np.isfinite(ts.X[:, :7]).all()


def test_day_partitioned_and_flat_logs_read_the_same(tmp_path):
    """The simulator writes day=NNNN directories (day only in the names); logs of earlier versions are flat."""
    cols = fake_log_columns(seed=2, days=3)
    a = read_event_log(write_log(tmp_path / "part", cols))
    b = read_event_log(write_log(tmp_path / "flat", cols, flat=True))
    assert a.n == b.n == len(cols["day"]) and a.n_days == 3
    for name in ("day", "block", "request", "user", "video", "watch_s", "play3"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_log_needs_columns_and_order(tmp_path):
    cols = fake_log_columns(seed=1, days=2)
    del cols["watch_s"]
    with pytest.raises(ValueError, match=r"missing column\(s\) \['watch_s'\]"):
        _log_from(cols, tmp_path)
    with pytest.raises(FileNotFoundError, match="no such directory"):
        read_event_log(tmp_path / "nope")


@pytest.mark.parametrize("kw,err,match", [
    (dict(label="nope"), ValueError, "Unknown label 'nope'"),
    (dict(warmup_days=-1), ValueError, "warmup_days"),
    (dict(warmup_days=5), ValueError, "no day is left"),
])
def test_build_training_set_bad_arguments(sim_log, kw, err, match):
    with pytest.raises(err, match=match):
        build_training_set(read_event_log(sim_log), **kw)


# --------------------------------------------------------------------------- NDCG


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ndcg_matches_reference(seed):
    rng = np.random.default_rng(seed)
    req = np.sort(rng.integers(0, 30, 200))
    g = rng.integers(0, 4, 200)
    s = rng.normal(size=200).round(1)  # ties
    for k in (1, 5, 10):
        got, n = ndcg(s, g, req, k, tie_seed=seed)
        want, m = ref.ndcg(s, g, req, k, np.random.default_rng(seed).permutation(200))
        assert n == m and got == pytest.approx(want, abs=1e-12)


def test_ndcg_edges():
    req = np.array([0, 0, 0, 1, 2, 2])
    g = np.array([0, 2, 1, 1, 0, 0])
    perfect, n = ndcg(np.array([0.0, 2, 1, 9, 0, 0]), g, req, 10)
    assert perfect == 1.0 and n == 1  # request 1 has one row, request 2 no positive: both skipped
    worst, _ = ndcg(np.array([2.0, 0, 1, 0, 0, 0]), g, req, 10)
    assert worst < 1.0
    assert np.isnan(ndcg(np.zeros(2), np.zeros(2, int), np.array([0, 0]), 5)[0])


# --------------------------------------------------------------------------- training and the model directory


@pytest.fixture(scope="module")
def trained(sim_log, tmp_path_factory):
    ts = build_training_set(read_event_log(sim_log), warmup_days=1, holdout_days=1)
    cfg = LearnConfig(holdout_days=1, n_trees=30, min_data_in_leaf=10, shap_rows=500)
    res = train(ts, cfg)
    out = save_model(res, tmp_path_factory.mktemp("model") / "m")
    return ts, cfg, res, out


def test_save_model_leaves_the_callers_matplotlib_backend_alone(trained, tmp_path):
    import matplotlib
    import matplotlib.pyplot as plt

    _, _, res, _ = trained
    before = matplotlib.get_backend()
    plt.switch_backend("svg")  # as a notebook's own backend would be
    try:
        out = save_model(res, tmp_path / "m")
        assert (out / "weights.png").read_bytes().startswith(b"\x89PNG")
        assert matplotlib.get_backend().lower() == "svg"
        assert plt.get_fignums() == []
    finally:
        plt.switch_backend(before)


def test_without_a_bar_learning_never_imports_tqdm_auto(sim_log, monkeypatch):
    # in a notebook without ipywidgets, importing tqdm.auto warns even for a disabled bar
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # any import of it now raises ImportError
    ts = build_training_set(read_event_log(sim_log), warmup_days=1, holdout_days=1, progress=False)
    res = train(ts, LearnConfig(holdout_days=1, n_trees=3, min_data_in_leaf=10, shap_rows=50), progress=False)
    assert res.report["ndcg"]["learned"]["ndcg@10"] > 0


def test_model_dir_contents_and_reload(trained):
    ts, cfg, res, out = trained
    assert {p.name for p in out.iterdir()} == {"model.txt", "weights.json", "weights.png", "weights.svg"}
    assert (out / "model.txt").read_text().startswith("tree")
    w = json.loads((out / "weights.json").read_text())
    for key in ("gain_importance", "mean_abs_shap", "distillation", "ndcg", "feature_names", "params"):
        assert key in w
    assert set(w["ndcg"]) == {"learned", "hand", "distilled", "popularity", "random"}
    assert set(w["distillation"]["weights"]) == set(learn.HAND_NAMES)
    assert -1.0 <= w["distillation"]["spearman_holdout"] <= 1.0
    assert w["params"]["deterministic"] and w["params"]["force_row_wise"] and w["params"]["num_threads"] == 1
    m = load_model(out)
    assert m.feature_names == FEATURE_NAMES
    X = ts.X[:300]
    np.testing.assert_allclose(m.predict(X), res.booster.predict(X, raw_score=True), rtol=0, atol=1e-9)
    # SHAP sums to the raw score (LightGBM's own pred_contrib) and the means are what weights.json says
    contrib = res.booster.predict(X, pred_contrib=True)
    np.testing.assert_allclose(contrib.sum(axis=1), m.predict(X), atol=1e-9)


def test_video_scores_and_pair_weights(trained):
    from ranker.signals import Counters, compute_signals

    ts, cfg, res, out = trained
    m = load_model(out)
    rng = np.random.default_rng(0)
    n = 40
    imp = rng.integers(0, 50, n).astype(float)
    plays = np.floor(imp * rng.random(n))
    z = np.zeros(n)
    c = Counters(video_id=np.arange(n), creator_id=np.arange(n) % 7, impressions=imp, plays_3s=plays,
                 completions=np.floor(plays / 2), watch_s=plays * 10, duration_s=rng.uniform(0, 60, n).round(),
                 likes=z, comments=z, shares=z, share_recipients=z, share_opens=z, follows=z,
                 creator_followers=z + 10, creator_regular_readers=z + 3, rr_impressions=z, rr_plays_3s=z,
                 creator_age_days=np.full(n, 5.0))
    sig = compute_signals(c)
    got = m.video_scores(sig, c)
    X = np.zeros((n, len(FEATURE_NAMES)))
    X[:, :7] = sig.matrix
    X[:, FEATURE_NAMES.index("log_impressions")] = np.log1p(imp)
    with np.errstate(divide="ignore"):
        X[:, FEATURE_NAMES.index("log_duration")] = np.where(c.duration_s > 0, np.log(c.duration_s), np.nan)
    X[:, FEATURE_NAMES.index("creator_age_days")] = 5.0
    np.testing.assert_array_equal(got, res.booster.predict(X, raw_score=True))
    pw = m.pair_weights
    assert pw == {k: res.report["distillation"]["weights"][k] for k in ("affinity", "regular_reader")}


def test_learned_model_learns_the_toy_world(trained):
    ts, cfg, res, out = trained
    nd = res.report["ndcg"]
    assert nd["learned"]["ndcg@10"] > nd["random"]["ndcg@10"]
    assert res.report["gain_importance"]["completion"] > 0


def test_training_is_deterministic(trained):
    ts, cfg, res, out = trained
    again = train(ts, cfg)
    assert again.booster.model_to_string() == res.booster.model_to_string()
    other = train(ts, cfg.replace(seed=1, feature_fraction=0.7))
    assert other.booster.model_to_string() != res.booster.model_to_string()


def test_feature_subsets(trained):
    ts, cfg, res, out = trained
    sub = train(ts, cfg, features="video")
    assert sub.ensemble.feature_names == learn.FEATURE_SETS["video"]
    assert list(sub.report["mean_abs_shap"]) == list(learn.FEATURE_SETS["video"])
    assert learn.resolve_features("uc_play_lift, play3") == ("play3", "uc_play_lift")
    with pytest.raises(ValueError, match=r"Unknown feature\(s\) \['nope'\]"):
        learn.resolve_features("play3,nope")


def test_regression_objective_fits_the_raw_label(trained):
    ts, cfg, res, out = trained
    reg = train(ts, cfg.replace(objective="regression"))
    assert reg.report["params"]["objective"] == "regression" and "ndcg_eval_at" not in reg.report["params"]
    assert reg.booster.model_to_string() != res.booster.model_to_string()
    # pointwise: the scores track the raw label on training rows
    rows = ts.day < ts.n_days - cfg.holdout_days
    pred = reg.ensemble.predict(ts.X[rows])
    assert np.corrcoef(pred, ts.target[rows])[0, 1] > 0.3


def test_save_refuses_to_overwrite(trained):
    ts, cfg, res, out = trained
    with pytest.raises(FileExistsError, match="already holds a model"):
        save_model(res, out)
    save_model(res, out, overwrite=True)


def test_load_model_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model.txt"):
        load_model(tmp_path)
    (tmp_path / "model.txt").write_text("not a model\n")
    with pytest.raises(ValueError, match="not a LightGBM text model"):
        load_model(tmp_path)


# --------------------------------------------------------------------------- command line


def test_cli_end_to_end(sim_log, tmp_path, capsys):
    out = tmp_path / "model"
    rc = learn_main(["--events", str(sim_log.parent), "--holdout-days", "1", "--trees", "10", "--out", str(out),
                     "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "NDCG@10" in text and "popularity" in text and "linear distillation" in text
    assert (out / "model.txt").is_file()
    assert isinstance(lgb.Booster(model_file=str(out / "model.txt")), lgb.Booster)
    # a second run needs --overwrite
    assert learn_main(["--events", str(sim_log), "--holdout-days", "1", "--out", str(out), "--quiet"]) == 2  # usage error: the output exists
    assert "--overwrite" in capsys.readouterr().err


@pytest.mark.parametrize("argv,match", [
    (["--events", "/nonexistent/x"], "no such directory"),
    (["--kuairand", "/nonexistent/x.tsv"], "no such file"),
    (["--events", "{log}", "--label", "bogus"], "Unknown label 'bogus'"),
    (["--events", "{log}", "--holdout-days", "0"], "holdout_days"),
    (["--events", "{log}", "--holdout-days", "9"], "No training rows"),
    (["--events", "{log}", "--features", "play3,bogus"], "Unknown feature(s) ['bogus']"),
])
def test_cli_bad_input_is_one_line(sim_log, tmp_path, capsys, argv, match):
    argv = [a.replace("{log}", str(sim_log)) for a in argv]
    assert learn_main([*argv, "--out", str(tmp_path / "m"), "--quiet"]) == 2  # usage error (ranker.errors)
    err = capsys.readouterr().err.strip()
    assert err.startswith("ranksim learn: error:") and match in err and "\n" not in err


# --------------------------------------------------------------------------- real data


@pytest.mark.slow
def test_kuairand_beats_popularity(kuairand_path, tmp_path):
    log = learn.kuairand_event_log(kuairand_path)
    assert log.n_days >= 10
    cfg = LearnConfig(holdout_days=3)
    ts = build_training_set(log, "long_view", warmup_days=cfg.warmup_days, holdout_days=cfg.holdout_days)
    res = train(ts, cfg)
    nd = res.report["ndcg"]
    assert nd["learned"]["ndcg@10"] > nd["popularity"]["ndcg@10"]
    assert res.report["rows"]["holdout_requests_scored"] > 300
    save_model(res, tmp_path / "m")
    m = load_model(tmp_path / "m")
    np.testing.assert_allclose(m.predict(ts.X[:500]), res.booster.predict(ts.X[:500], raw_score=True), atol=1e-9)
