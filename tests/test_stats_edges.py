"""sim.stats at its edges, as whole dicts: no seed, one seed, a few seeds (values worked by hand).

Written from the survivors of a mutmut run over sim/stats.py (see CONTRIBUTING.md):
a renamed key, ``n > 1`` loosened to ``n >= 1``, a relative bound multiplied instead of divided.
"""

from __future__ import annotations

import math

import pytest
from scipy import stats

from sim.stats import mean_ci, paired_difference

NAN = float("nan")


def same(got: dict, want: dict):
    assert list(got) == list(want)
    for k, v in want.items():
        g = got[k]
        if isinstance(v, float) and math.isnan(v):
            assert isinstance(g, float) and math.isnan(g), (k, g)
        elif isinstance(v, bool):
            assert g is v, (k, g)
        else:
            assert not isinstance(g, bool) and g == pytest.approx(v, rel=1e-12), (k, g, v)


def test_mean_ci_with_no_one_and_three_seeds():
    empty = {"n": 0, "mean": NAN, "sd": NAN, "min": NAN, "max": NAN, "lo": NAN, "hi": NAN}
    same(mean_ci([]), empty)
    same(mean_ci([None, NAN]), empty)
    same(mean_ci([None, 3.0]), {"n": 1, "mean": 3.0, "sd": NAN, "min": 3.0, "max": 3.0, "lo": NAN, "hi": NAN})
    half = stats.t.ppf(0.975, 2) * 1.0 / math.sqrt(3)  # values 1, 2, 3: sd 1
    same(mean_ci([3.0, None, 1.0, 2.0]), {"n": 3, "mean": 2.0, "sd": 1.0, "min": 1.0, "max": 3.0,
                                          "lo": 2.0 - half, "hi": 2.0 + half})


def test_paired_difference_with_no_one_and_three_seeds():
    none = {"n": 0, "diff": NAN, "lo": NAN, "hi": NAN, "base": NAN, "arm": NAN, "rel": NAN, "rel_lo": NAN,
            "rel_hi": NAN, "detectable": False}
    same(paired_difference([None, 1.0], [2.0, None]), none)
    # one seed: a difference, no interval, never detectable
    same(paired_difference([5.0, None], [4.0, 1.0]),
         {"n": 1, "diff": 1.0, "lo": NAN, "hi": NAN, "base": 4.0, "arm": 5.0, "rel": 0.25, "rel_lo": NAN,
          "rel_hi": NAN, "detectable": False})
    # three seeds, differences 1.9, 2, 2.1 (sd 0.1) against a baseline of mean -2 (|base| = 2)
    half = stats.t.ppf(0.975, 2) * 0.1 / math.sqrt(3)
    same(paired_difference([0.0, 0.0, 0.0], [-1.9, -2.0, -2.1]),
         {"n": 3, "diff": 2.0, "lo": 2.0 - half, "hi": 2.0 + half, "base": -2.0, "arm": 0.0, "rel": 1.0,
          "rel_lo": (2.0 - half) / 2, "rel_hi": (2.0 + half) / 2, "detectable": True})
    # differences 1, 2, 3: the interval (t = 4.30) spans 0
    assert paired_difference([0.0, 0.0, 0.0], [-1.0, -2.0, -3.0])["detectable"] is False
    # a zero baseline leaves the relative values undefined
    got = paired_difference([1.0, 2.0], [0.0, 0.0])
    assert got["diff"] == 1.5 and math.isnan(got["rel"]) and math.isnan(got["rel_hi"])
