"""The learning pipeline's wiring, against independent computations on small hand-made logs.

- the training set's signal columns equal signals recomputed here row by row
  from the events (a plain loop over earlier rows, no running-sum kernel);
- shares that nobody opens lower the share follow-through column;
- grade cut points come from the training days' labels only;
- distilled weights are in the features' raw units.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from ranker.learn import N_GRADES, EventLog, build_training_set, distill
from ranker.learn.features import HAND_NAMES
from ranker.signals import SIGNAL_NAMES, Counters, compute_signals, fit_prior


def make_log(seed=0, n_days=4, n_videos=12, n_creators=4, per_block=6, blocks_per_day=3, opens=True,
             value_shift=None):
    """A synthetic simulator log: rows grouped by block (tick), one request per block and user."""
    rng = np.random.default_rng(seed)
    n = n_days * blocks_per_day * per_block
    day = np.repeat(np.arange(n_days), blocks_per_day * per_block)
    block = np.repeat(np.arange(n_days * blocks_per_day), per_block)
    user = rng.integers(0, 7, n)
    request = block * 10 + user  # unique per (block, user)
    video = rng.integers(0, n_videos, n)
    creator = video % n_creators
    play3 = (rng.random(n) < 0.6).astype(float)
    completed = play3 * (rng.random(n) < 0.5)
    duration = 20.0 + 5.0 * video
    watch = np.where(completed > 0, duration, play3 * rng.uniform(3, 15, n))
    shared = play3 * (rng.random(n) < 0.4)
    recipients = shared * rng.integers(1, 4, n)
    share_opens = np.floor(recipients * rng.random(n) * 1.3).clip(0, recipients) if opens else np.zeros(n)
    follower = (rng.random(n) < 0.5).astype(float)
    rr = follower * (rng.random(n) < 0.5)
    value = rng.normal(size=n) + (value_shift(day) if value_shift else 0.0)
    lab = {"latent_value": value, "play_3s": play3, "completed": completed}
    order = np.lexsort((request, block))
    f = lambda a: np.asarray(a, dtype=np.float64)[order]  # noqa: E731
    i = lambda a: np.asarray(a, dtype=np.int64)[order]  # noqa: E731
    request_dense = np.unique(request[order], return_inverse=True)[1].astype(np.int64)
    return EventLog(
        day=i(day), block=i(block), request=request_dense, user=i(user), video=i(video), creator=i(creator),
        play3=f(play3), completed=f(completed), liked=f(rng.random(n) < 0.2), commented=f(rng.random(n) < 0.1),
        shared=f(shared), followed=f(rng.random(n) < 0.05), watch_s=f(watch), duration_s=f(duration),
        share_recipients=f(recipients), share_opens=f(share_opens), regular_reader=f(rr), follower=f(follower),
        affinity=f(rng.normal(size=n)), creator_age_days=f(rng.uniform(0, 30, n)),
        labels={k: f(v) for k, v in lab.items()}, source="events")


def _sums(log, rows):
    """Per-row event sums of ``rows`` (a list of row indices), in Counters' terms."""
    r = np.asarray(rows, dtype=np.int64)
    g = lambda a: float(a[r].sum()) if r.size else 0.0  # noqa: E731
    return dict(impressions=float(r.size), plays_3s=g(log.play3), completions=g(log.completed),
                watch_s=g(log.watch_s), likes=g(log.liked), comments=g(log.commented), shares=g(log.shared),
                share_recipients=g(log.share_recipients), share_opens=g(log.share_opens),
                follows=g(log.followed), rr_impressions=g(log.regular_reader),
                rr_plays_3s=g(log.regular_reader * log.play3))


def independent_signals(log, warmup_days=1):
    """Signals of every row after the warm-up, from plain loops over the rows before it."""
    n = log.n
    out = []
    for d in range(warmup_days, log.n_days):
        before = np.flatnonzero(log.day < d)
        vids = sorted(set(log.video[before].tolist()))
        tot = [_sums(log, before[log.video[before] == v]) for v in vids]
        first = [before[log.video[before] == v][0] for v in vids]
        cre_rows = lambda c, rows: rows[log.creator[rows] == c]  # noqa: E731
        prior = fit_prior(Counters(
            video_id=np.array(vids), creator_id=log.creator[first],
            duration_s=log.duration_s[first],
            creator_followers=[log.follower[cre_rows(log.creator[r], before)].sum() for r in first],
            creator_regular_readers=[log.regular_reader[cre_rows(log.creator[r], before)].sum() for r in first],
            creator_age_days=np.full(len(vids), np.nan),
            **{k: np.array([t[k] for t in tot]) for k in tot[0]}))
        rows = np.flatnonzero(log.day == d)
        per = []
        for r in rows:
            earlier = np.flatnonzero((log.block < log.block[r]))
            mine = earlier[log.video[earlier] == log.video[r]]
            cre = earlier[log.creator[earlier] == log.creator[r]]
            per.append(dict(_sums(log, mine), creator_followers=float(log.follower[cre].sum()),
                            creator_regular_readers=float(log.regular_reader[cre].sum())))
        c = Counters(video_id=log.video[rows], creator_id=log.creator[rows], duration_s=log.duration_s[rows],
                     creator_age_days=log.creator_age_days[rows],
                     **{k: np.array([p[k] for p in per]) for k in per[0]})
        out.append(compute_signals(c, prior).matrix)
    assert sum(len(o) for o in out) == np.count_nonzero(log.day >= warmup_days) <= n
    return np.concatenate(out)


@pytest.mark.parametrize("seed", [0, 1])
def test_training_set_signal_columns_equal_an_independent_computation(seed):
    log = make_log(seed)
    assert (log.share_opens < log.share_recipients).sum() > 10  # unopened shares are in the log
    ts = build_training_set(log, warmup_days=1, holdout_days=1)
    got = ts.X[:, [ts.feature_names.index(s) for s in SIGNAL_NAMES]]
    want = independent_signals(log, warmup_days=1)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, equal_nan=True)
    assert np.isfinite(want).mean() > 0.5  # the comparison is not between NaNs


def test_unopened_shares_lower_share_follow_through_in_the_training_set():
    """Half the videos' shares are never opened: their follow-through column sits well below the
    others' (the same share counts, so only the opens can make the difference)."""
    log = make_log(3, n_days=5, n_videos=10, per_block=10)
    never = log.video % 2 == 0
    log = EventLog(**{**log.__dict__, "share_opens": np.where(never, 0.0, log.share_recipients)})
    ts = build_training_set(log, warmup_days=1, holdout_days=1)
    sft = ts.X[:, ts.feature_names.index("share_ft")]
    keep = log.day >= 1
    rec_before = np.array([log.share_recipients[(log.video == v) & (log.block < b)].sum()
                           for v, b in zip(log.video[keep], log.block[keep])])
    a = sft[~never[keep] & (rec_before > 0)]
    b = sft[never[keep] & (rec_before > 0)]
    assert a.size > 20 and b.size > 20
    assert np.all(b < 0) and np.mean(a > 0) > 0.8
    assert a.mean() - b.mean() > 0.5


def test_grade_cut_points_fitted_on_training_days_only():
    # held-out days' values are far larger: cut points that saw them would move up
    log = make_log(4, n_days=5, value_shift=lambda d: np.where(d >= 3, 50.0, 0.0))
    ts = build_training_set(log, warmup_days=1, holdout_days=2)
    y = log.labels["latent_value"]
    fit = (log.day >= 1) & (log.day < 3)
    want = np.quantile(y[fit], np.arange(1, N_GRADES) / N_GRADES)
    np.testing.assert_allclose(ts.label_edges, want, rtol=1e-12)
    assert max(ts.label_edges) < 10  # none of the held-out values' scale
    np.testing.assert_array_equal(ts.grade, np.searchsorted(ts.label_edges, ts.target, side="right"))
    assert np.all(ts.grade[ts.day >= 3] == N_GRADES - 1)


class _LinearModel:
    """A stand-in for TreeEnsemble whose raw score is linear in the hand-set features."""

    def __init__(self, w, b):
        self.w, self.b = w, b

    def predict(self, X):
        return np.nan_to_num(X, nan=0.0) @ self.w + self.b


def test_distilled_weights_are_in_raw_units():
    rng = np.random.default_rng(0)
    n = 400
    H = rng.normal(size=(n, len(HAND_NAMES))) * np.linspace(0.1, 30.0, len(HAND_NAMES)) + 5.0  # unlike scales
    w_true = np.linspace(-1.0, 2.0, len(HAND_NAMES))
    ts = SimpleNamespace(X=H, hand_features=lambda: H)
    d = distill(_LinearModel(w_true, 0.7), ts, np.arange(n), np.arange(len(HAND_NAMES)), rng)
    np.testing.assert_allclose(d.weights, w_true, rtol=1e-8, atol=1e-10)
    assert d.intercept == pytest.approx(0.7, abs=1e-8)
    np.testing.assert_allclose(d.score(H), H @ w_true + 0.7, rtol=1e-9)
