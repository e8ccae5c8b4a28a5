"""The verdict sentences read: their words agree in direction with the numbers they state.

A comparison is run with a stand-in engine whose arms raise, lower or leave
new-creator exposure and user value (seeds share a common effect, as common
random numbers give). Each verdict line is parsed: "Raises ... from A to B"
only where B > A, "Lowers" only where B < A, a cost only where value fell,
and A and B are the paired means of ``summary.csv``.
"""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from sim import compare as C
from sim.config import write_config
from sim.report import verdict_lines
from tests.test_compare import fake_metrics, tiny_cfg

#: policy -> (change of new-creator exposure share, change of value per impression)
EFFECTS = {"fixed_tilt": (+0.03, -0.02), "ucb": (-0.015, +0.03), "thompson": (0.0, 0.0), "fairco": (+0.02, 0.0)}


def run_fn(spec, run_dir, threads=1):
    cfg = spec.config
    m = fake_metrics(cfg)
    seed = cfg.run.seed
    common = np.random.default_rng([seed, 11]).normal(size=2)  # shared by every arm on this seed
    tiny = np.random.default_rng([seed, len(cfg.policy.name)]).normal(size=2) * 3e-3
    de, dv = EFFECTS.get(cfg.policy.name, (0.0, 0.0))
    m["new_creator_exposure_share"]["value"] = 0.05 + 0.01 * common[0] + de + tiny[0]
    m["value_per_impression"]["value"] = 0.4 + 0.02 * common[1] + dv + tiny[1]
    # verdicts read the measured window (the run's last third): the same effects there
    m["new_creator_exposure_share_measured"]["value"] = m["new_creator_exposure_share"]["value"]
    m["value_per_impression_measured"]["value"] = m["value_per_impression"]["value"]
    d = Path(run_dir)
    d.mkdir(parents=True, exist_ok=True)
    write_config(cfg, d / "config.toml")
    (d / "metrics.json").write_text(json.dumps(m, indent=1, sort_keys=True) + "\n")
    return {"run_id": spec.run_id, "pid": os.getpid(), "threads": threads}


PCT = r"([\d.,]+) %"


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory):
    out = tmp_path_factory.mktemp("verdict")
    C.compare(tiny_cfg(), policies="none," + ",".join(EFFECTS), seeds=4, out_dir=out, jobs=1, progress=False,
              report=False, run_fn=run_fn)
    with open(out / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    mean = lambda arm, k: float(np.mean([float(r[k]) for r in rows if r["arm"] == arm]))  # noqa: E731
    lines = {ln.split()[0]: ln.split(None, 1)[1] for ln in verdict_lines(out)}
    return lines, mean


def test_verdict_direction_agrees_with_the_numbers_it_states(verdicts):
    lines, mean = verdicts
    assert set(lines) == {"none", *EFFECTS}
    for arm, (de, dv) in EFFECTS.items():
        text = lines[arm]
        base = mean("none", "new_creator_exposure_share_measured")
        mine = mean(arm, "new_creator_exposure_share_measured")
        m = re.match(rf"(Raises|Lowers) new-creator exposure from {PCT} to {PCT}", text)
        if m is None:
            assert de == 0 and text.startswith("No detectable change"), text
        else:
            a, b = (float(x.replace(",", "")) / 100 for x in m.group(2, 3))
            assert a == pytest.approx(base, abs=5e-4) and b == pytest.approx(mine, abs=5e-4), text
            # the word follows the unrounded means (a noise-sized change may round to equal text)
            assert (m.group(1) == "Raises") == (mine > base), text
            if de != 0:
                assert (m.group(1) == "Raises") == (de > 0) and abs(b - a) > 0.01, text
        cost = re.search(rf"at a cost of {PCT} of user value", text)
        gain = re.search(rf"raises user value per impression by {PCT}", text)
        vb, va = mean("none", "value_per_impression_measured"), mean(arm, "value_per_impression_measured")
        if dv < 0:
            assert cost and not gain, text
            assert float(cost.group(1)) / 100 == pytest.approx((vb - va) / vb, abs=5e-4)
        elif dv > 0:
            assert gain and not cost, text
            assert float(gain.group(1)) / 100 == pytest.approx((va - vb) / vb, abs=5e-4)
        else:
            assert not cost and not gain and "no detectable" in text, text
