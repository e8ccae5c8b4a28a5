"""sim.moments: each moment against a hand computation, the readers, and what a log cannot show."""

import numpy as np
import pytest

from sim.moments import (COMPLETION_MOMENTS, MOMENT_NAMES, WATCH_MOMENTS, WATCH_QUANTILES, Log, compute_moments,
                         log_from_events, log_from_kuairand)


def _log(**kw):
    n = len(kw["watch_s"])
    base = dict(source="test", user_id=np.zeros(n, np.int64), video_id=np.arange(n, dtype=np.int64),
                day=np.zeros(n, np.int64), duration_s=np.full(n, 20.0), completed=np.zeros(n, bool),
                liked=np.zeros(n, bool), commented=np.zeros(n, bool), shared=np.zeros(n, bool),
                followed=np.zeros(n, bool))
    base.update({k: np.asarray(v) for k, v in kw.items()})
    return Log(**base)


def test_moments_match_a_hand_computation():
    rng = np.random.default_rng(3)
    n = 5000
    dur = np.exp(rng.normal(np.log(60), 1.2, n))
    dur[rng.random(n) < 0.05] = np.nan
    watch = dur * rng.gamma(1.0, 0.7, n)
    watch = np.where(np.isnan(watch), rng.random(n) * 20, watch)
    completed = watch >= np.nan_to_num(dur, nan=np.inf)
    user = rng.integers(0, 50, n)
    day = rng.integers(0, 5, n)
    video = rng.integers(0, 2000, n)
    flags = {k: rng.random(n) < p for k, p in (("liked", 0.03), ("commented", 0.01), ("shared", 0.02),
                                                ("followed", 0.004))}
    log = Log(source="t", user_id=user, video_id=video, day=day, duration_s=dur, watch_s=watch, completed=completed,
              **flags, share_recipients=np.where(flags["shared"], 2, 0), share_opens=np.where(flags["shared"], 1, 0))
    m = compute_moments(log)
    assert tuple(m) == MOMENT_NAMES
    assert m["play3_rate"].value == pytest.approx(np.mean(watch >= 3))
    edges = [0, 10, 30, 60, 120, 300, np.inf]
    for name, lo, hi in zip(COMPLETION_MOMENTS, edges[:-1], edges[1:]):
        sel = (watch >= 3) & (dur > lo) & (dur <= hi)
        assert m[name].value == pytest.approx(completed[sel].mean()), name
        assert m[name].n == sel.sum()
    frac = (watch / dur)[~np.isnan(dur)]
    for name, q in zip(WATCH_MOMENTS, WATCH_QUANTILES):
        assert m[name].value == pytest.approx(np.quantile(frac, q))
        assert 0 < m[name].se < 0.1
    assert m["replay_share"].value == pytest.approx(np.mean(frac > 1.0001))
    done = completed[~np.isnan(dur)]
    assert m["replay_given_completion"].value == pytest.approx(np.mean(frac[done] > 1.0001))
    assert m["replay_given_completion"].n == done.sum()
    for name, col in (("like_rate", "liked"), ("comment_rate", "commented"), ("share_rate", "shared"),
                      ("follow_rate", "followed")):
        p = flags[col].mean()
        assert m[name].value == pytest.approx(p)
        assert m[name].se == pytest.approx(np.sqrt(p * (1 - p) / n))
    per_ud = {}
    for u, d, f in zip(user, day, flags["followed"]):
        c, k = per_ud.get((u, d), (0, 0))
        per_ud[(u, d)] = (c + 1, k + f)
    imps = np.array([c for c, _ in per_ud.values()])
    assert m["follows_per_user_day"].value == pytest.approx(np.mean([k for _, k in per_ud.values()]))
    assert m["imps_per_user_day_median"].value == pytest.approx(np.median(imps))
    assert m["imps_per_user_day_p90"].value == pytest.approx(np.quantile(imps, 0.9))
    assert m["repeat_share"].value == pytest.approx(1 - len(set(zip(user, video))) / n)
    assert m["share_open_rate"].value == pytest.approx(0.5)


def test_repeat_share_counts_every_view_after_the_first():
    # user 0 sees video 7 three times, user 1 sees it once: 2 repeats of 5 impressions
    log = _log(watch_s=[5.0] * 5, user_id=[0, 0, 0, 1, 1], video_id=[7, 7, 7, 7, 8])
    assert compute_moments(log)["repeat_share"].value == pytest.approx(2 / 5)


def test_replay_is_watch_beyond_duration_not_float_rounding():
    d = np.float32(37.3)
    log = _log(watch_s=[float(d), float(d) * 1.5, 10.0, 2.0], duration_s=[float(d)] * 4,
               completed=[True, True, False, False])
    m = compute_moments(log)
    assert m["replay_share"].value == pytest.approx(1 / 4)
    assert m["replay_given_completion"].value == pytest.approx(1 / 2)
    assert m["completion_30_60"].value == pytest.approx(2 / 3)  # 3 plays, 2 complete
    assert m["play3_rate"].value == pytest.approx(3 / 4)


def test_missing_parts_of_a_log_are_nan_with_a_reason():
    log = _log(watch_s=[5.0, 6.0], duration_s=[np.nan, np.nan])
    m = compute_moments(log)
    assert np.isnan(m["completion_le10"].value) and "no rows" in m["completion_le10"].reason
    assert np.isnan(m["watch_frac_q50"].value) and m["watch_frac_q50"].reason
    assert np.isnan(m["share_open_rate"].value) and "opened" in m["share_open_rate"].reason
    assert not m["share_open_rate"].available


def test_kuairand_subset_moments_and_selection(kuairand_path):
    log = log_from_kuairand(kuairand_path)
    m = compute_moments(log)
    # figures of the bundled subset (41,828 rows), as docs/calibration.md states them
    assert log.n_rows == 41828
    assert m["play3_rate"].value == pytest.approx(0.7978, abs=1e-4)
    assert m["completion_60_120"].value == pytest.approx(0.2656, abs=1e-4)
    assert m["completion_gt300"].value == pytest.approx(0.0465, abs=1e-4)
    assert m["replay_share"].value == pytest.approx(0.3786, abs=1e-3)
    assert m["replay_given_completion"].value > 0.99  # every completion there runs past the end
    assert m["share_rate"].value == pytest.approx(0.00779, abs=1e-5)
    assert m["repeat_share"].value == pytest.approx(0.01035, abs=1e-4)
    # every row is a like or a hate: the like rate and per-user-day counts are not shown
    for name in ("like_rate", "follows_per_user_day", "imps_per_user_day_median", "imps_per_user_day_p90"):
        assert not m[name].available and "like or a hate" in m[name].reason
    assert not m["share_open_rate"].available


def test_events_reader_matches_the_simulated_counts(tmp_path):
    from sim.config import Config
    from sim.engine import simulate

    res = simulate(Config().with_overrides(users=300, days=2, seed=5), out_dir=tmp_path / "run", progress=False)
    log = log_from_events(tmp_path / "run")
    assert log.n_rows == res.impressions
    m = compute_moments(log)
    assert m["share_open_rate"].available
    assert m["play3_rate"].value == pytest.approx(np.mean(log.watch_s >= 3))
    with pytest.raises(FileNotFoundError, match="no such event directory"):
        log_from_events(tmp_path / "nowhere")
