"""examples/loop_gap.py: the share of the hand-to-oracle gap a ranker retrained in the loop closes."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

_SPEC = importlib.util.spec_from_file_location("loop_gap", Path(__file__).resolve().parents[1] / "examples" / "loop_gap.py")
gap = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(gap)


def test_gap_closed_is_the_share_of_the_hand_to_oracle_gap():
    assert gap.gap_closed(1.0, 1.5, 2.0) == pytest.approx(0.5)
    assert gap.gap_closed(1.0, 0.9, 2.0) == pytest.approx(-0.1)  # worse than the hand-set weights
    assert gap.gap_closed(1.0, 2.2, 2.0) == pytest.approx(1.2)  # beyond the oracle
    np.testing.assert_allclose(gap.gap_closed([1.0, 2.0], [1.25, 2.0], [2.0, 3.0]), [0.25, 0.0])


def test_t_interval_is_students_over_the_seeds():
    x = np.array([0.61, 0.55, 0.66])
    m, lo, hi = gap.t_interval(x)
    want = stats.t.interval(0.95, 2, loc=x.mean(), scale=stats.sem(x))
    assert m == pytest.approx(x.mean()) and (lo, hi) == pytest.approx(want)
    m, lo, hi = gap.t_interval([0.5])
    assert m == 0.5 and np.isnan(lo) and np.isnan(hi)


def test_each_arm_runs_the_ranker_it_names_through_the_warm_up():
    hand, ret, orc = (gap.arm_config(a, 4, users=500, days=3, warmup_days=5) for a in gap.ARMS)
    assert [c.ranker.kind for c in (hand, ret, orc)] == ["hand", "hand", "oracle"]
    assert ret.loop.retrain_every == 1 and ret.loop.window_days == 3 and ret.loop.explore == "none"
    assert ret.loop.features == "loop" and not ret.loop.ipw
    assert hand.loop.measuring and not hand.loop.retraining and orc.loop.measuring and not orc.loop.retraining
    for c in (hand, ret, orc):
        assert (c.run.warmup_days, c.run.days, c.run.seed, c.world.n_users) == (5, 3, 4, 500)
        assert c.policy.name == "none"


@pytest.mark.slow
def test_a_tiny_gap_run_writes_what_it_prints(tmp_path):
    rows = gap.run(tmp_path, seeds=2, users=400, days=2, warmup_days=2, progress=False)
    saved = json.loads((tmp_path / "gap.json").read_text())
    assert saved["warmup_days"] == 2 and len(saved["seeds"]) == 2
    for r in rows:
        v = {a: r[a]["value_per_impression"] for a in gap.ARMS}
        assert r["gap_closed"] == pytest.approx((v["retrained"] - v["hand"]) / (v["oracle"] - v["hand"]))
        assert len(r["gap_closed_by_day"]) == 2
        assert r["retrained"]["retrain_s"] > 0 and r["hand"]["retrain_s"] == r["oracle"]["retrain_s"] == 0
    text = gap.summary(rows)
    m, lo, hi = gap.t_interval([r["gap_closed"] for r in rows])
    assert f"gap closed: {m:.3f} (95 % t-interval over seeds {lo:.3f} to {hi:.3f})" in text
