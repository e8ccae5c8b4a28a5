"""The embedded default world stays within the outer bounds issue 14 set for it, at its own scale.

The default world (``Config()``: 12,000 users) is simulated for 7 days (seed 0, every impression
logged) and its moments, computed by the same function as the logs' (``sim.moments``), must sit
within: like 0.5-5 %, follow 0.1-1 %, share 0.1-1.2 % per impression, completion given a 3-second
play 0.12-0.42 for 60-120 s videos, and a repeat share of at most 3 % (no video is served twice,
so 0). docs/calibration.md states the finer targets and which of them the default world misses.

The defaults are the fit of ``ranksim calibrate`` on the world ``ranksim compare`` runs (2,000 users, 21
warm-up days, 7 measured days, seed 0): that world, re-simulated, must hold every weighted moment of the
fit within its calibration tolerance (targets of the bundled samples, docs/calibration.md), but for the
one its one-slope duration effect cannot reach (completion of videos up to 10 s: 0.680 against 0.587 +- 0.088),
which must stay within twice its tolerance. The model has a kink for it since (``complete_d_short``); the
default world keeps it at 0, its fit's value (docs/calibration.md says why).
"""

import pytest

from sim.calibrate import simulate_moments
from sim.config import Config

#: The outer bounds no default world may leave (issue 14). Measured on the calibrated defaults (12,000 users,
#: 7 days, seed 0, cold): like 0.0162, follow 0.0098, share 0.0079, completion 60-120 s 0.291, repeats 0
#: (hand-set defaults before: 0.0158, 0.0051, 0.0050, 0.314, 0).
OUTER = {
    "like_rate": (0.005, 0.05),
    "follow_rate": (0.001, 0.01),
    "share_rate": (0.001, 0.012),
    "completion_60_120": (0.12, 0.42),
    "repeat_share": (0.0, 0.03),
}


@pytest.fixture(scope="module")
def default_moments():
    cfg = Config()
    return simulate_moments(cfg, users=cfg.world.n_users, days=7, seed=0)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(OUTER))
def test_default_world_within_outer_bounds(default_moments, name):
    lo, hi = OUTER[name]
    got = default_moments[name].value
    assert lo <= got <= hi, f"{name}: default world {got:.4g}, outside [{lo}, {hi}]"


#: The calibration targets and tolerances (docs/calibration.md, "The default world's targets"): the
#: bundled samples' moments, tau = max(rel |target|, abs, 2 se) from sim.calibrate.MOMENT_SPECS.
FIT_TARGETS = {
    "play3_rate": (0.7978, 0.0399),
    "completion_10_30": (0.5210, 0.0781),
    "completion_30_60": (0.4325, 0.0649),
    "completion_60_120": (0.2656, 0.0398),
    "completion_120_300": (0.1400, 0.0300),
    "completion_gt300": (0.0465, 0.0300),
    "replay_given_completion": (0.9998, 0.1000),
    "like_rate": (0.0120, 0.0069),
    "comment_rate": (0.0301, 0.0075),
    "share_rate": (0.0078, 0.0019),
    "follow_rate": (0.0073, 0.0018),
    "repeat_share": (0.0104, 0.0190),
}
#: The known miss: one logistic duration slope (the default keeps complete_d_short = 0) cannot be as flat
#: below 30 s as the log's.
KNOWN_MISS = {"completion_le10": (0.5874, 0.0881)}


@pytest.fixture(scope="module")
def report_world_moments():
    from sim.compare import compare_default_config

    cfg = compare_default_config()
    return simulate_moments(cfg, users=cfg.world.n_users, days=7, seed=0)


@pytest.mark.slow
def test_report_world_holds_the_calibration_targets(report_world_moments):
    got = {k: report_world_moments[k].value for k in (*FIT_TARGETS, *KNOWN_MISS)}
    out = {k: round(got[k], 4) for k, (t, tau) in FIT_TARGETS.items() if abs(got[k] - t) > tau}
    assert not out, f"moments out of their calibration tolerance: {out}"
    for k, (t, tau) in KNOWN_MISS.items():
        assert abs(got[k] - t) <= 2 * tau, (k, got[k])
