"""Slow, readable references for every Numba kernel (stumpy's tests/naive.py).

Each function here computes, in plain Python, what a kernel computes; tests
compare the two over several seeds and shapes. Sections are merged from
``tests/reference_*.py`` while they are being written.
"""

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
C = (0xD1B54A32D192ED03, 0xAEF17502108EF2D9, 0xF58D8B2C6B6E8E35, 0x8CB92BA72F3D8DD7, 0xA0761D6478BD642F)


# --- ranker.rng -------------------------------------------------------------

def mix64(z):
    """SplitMix64 finaliser on Python ints."""
    z &= MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def key(seed, stream, a, b, c):
    z = mix64(seed + C[0])
    for field, const in zip((stream, a, b, c), C[1:]):
        z = mix64(z ^ ((field + const) & MASK64))
    return z


def uniform(k0, k):
    z = mix64(k0 + (k + 1) * GOLDEN)
    return (z >> 11) * 2.0 ** -53


# --- every other kernel ---------------------------------------------------------
# Each area's twins live in their own module (they were written beside their
# kernels and share helper names); they are gathered here so that this file is
# the one index of references. ``reference.<area>.<kernel>`` is the twin of the
# kernel of that name.
from tests import reference_behavior as behavior  # noqa: E402  sim.behavior: impression, recipient_opens, batch
from tests import reference_creators as creators  # noqa: E402  sim.creators: posting, motivation, quitting
from tests import reference_explore as explore  # noqa: E402  ranker._explore_kernels: Plackett-Luce slates
from tests import reference_engine as engine  # noqa: E402  sim._engine_kernels: serve_tick, apply_tick, follows; sim.metrics: tick sums
from tests import reference_live as live  # noqa: E402  sim.live, sim._live_kernels: schedules, rooms, live rows
from tests import reference_policies as policies  # noqa: E402  ranker.policies: Thompson, traffic pools, FairCo
from tests import reference_sellers as sellers  # noqa: E402  sim.sellers: sellers, purchases, the assessment
from tests import reference_score as score  # noqa: E402  ranker._score_kernels: top-k, quota, batch scoring
from tests import reference_signals as signals  # noqa: E402  ranker.signals: posteriors and log-lifts
from tests import reference_trees as trees  # noqa: E402  ranker._tree_kernels and learn's running counters
from tests import reference_users as users  # noqa: E402  sim.users: satisfaction, interest drift
from tests import reference_world as world  # noqa: E402  sim.world: friend graph, follows

SECTIONS = {"behavior": behavior, "creators": creators, "engine": engine, "explore": explore, "live": live, "policies": policies,
            "score": score, "sellers": sellers, "signals": signals, "trees": trees, "users": users, "world": world}
