"""The embedded default world stays within the outer bounds issue 14 set for it, at its own scale.

The default world (``Config()``: 12,000 users) is simulated for 7 days (seed 0, every impression
logged) and its moments, computed by the same function as the logs' (``sim.moments``), must sit
within: like 0.5-5 %, follow 0.1-1 %, share 0.1-1.2 % per impression, completion given a 3-second
play 0.12-0.42 for 60-120 s videos, and a repeat share of at most 3 % (no video is served twice,
so 0). docs/calibration.md states the finer targets and which of them the default world misses.
"""

import pytest

from sim.calibrate import simulate_moments
from sim.config import Config

#: The outer bounds no default world may leave (issue 14), and the values measured when this test was
#: written (hand-set defaults, 12,000 users, 7 days, seed 0).
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
