"""The report's learning-in-the-loop section: the grid's arms, the table's numbers, the sentence's direction.

Fake runs (no engine) whose new-creator share and user value are set per
(ranker, exploration, boost), so the section's choice is known from
``summary.csv`` and can be recomputed here independently.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from sim import compare as C
from sim.arms import loop_grid_arms
from sim.config import Config
from tests.test_compare import fake_run
from tests.test_report import check_report, csv_values

LEARNED = "learned:/models/once"  # arms only: never read


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    """A valid model directory (compare checks it whole before any run; the fake runs never read it)."""
    from tests.hostile import train_model_text, write_model_dir

    return "learned:" + str(write_model_dir(tmp_path_factory.mktemp("m") / "once", train_model_text()))


def grid_cfg():
    return Config().with_overrides(users=300, days=4, log_sample=0.0,
                                   loop=dict(explore="plackett_luce", temperature=0.5, ipw=True, window_days=2))


def _role(label):
    if label.startswith("none__oracle"):
        return "oracle"
    for r in ("learned_once", "retrained"):
        if f"__{r}" in label:
            return r
    return "hand"


def scenario(levels, explore=(0.005, -0.01), boost=(0.04, -0.02)):
    """A run_fn: share and value by ranker (``levels[role] = (share, value)``), shifted by exploration and
    boost, plus a seed effect shared by every arm and a small per-arm noise."""
    def run(spec, run_dir, threads=1):
        res = fake_run(spec, run_dir, threads)
        arm, seed = spec.arm, spec.seed
        share, value = levels[_role(arm)]
        if "+explore" in arm:
            share, value = share + explore[0], value + explore[1]
        if arm.startswith("fixed_tilt"):
            share, value = share + boost[0], value + boost[1]
        rng = np.random.default_rng([seed, sum(map(ord, arm))])
        s = np.random.default_rng([seed, 11]).normal(size=2)
        share = share + 0.002 * s[0] + 0.0005 * rng.normal()
        value = value + 0.02 * s[1] + 0.002 * rng.normal()
        p = Path(run_dir) / "metrics.json"
        m = json.loads(p.read_text())
        n = m["impressions_measured"]["value"]
        k = int(round(share * n))
        m["new_creator_impressions_measured"]["value"] = k
        for name in ("new_creator_exposure_share_measured", "new_creator_exposure_share"):
            m[name]["value"] = k / n
        for name in ("value_per_impression_measured", "value_per_impression"):
            m[name]["value"] = value
        days = spec.config.run.days
        loop = {"loop_value_per_impression_by_day": [value] * days,
                "loop_new_creator_share_by_day": [k / n] * days,
                "loop_exposure_gini_by_day": [0.5] * days, "loop_coverage_by_day": [0.6] * days,
                "loop_top1pct_share_by_day": [0.1] * days, "loop_feed_jaccard_by_day": [0.03] * days}
        if "retrained" in arm:
            loop["loop_ndcg10_next_day_by_day"] = [None] + [0.88] * (days - 1)
        for name, v in loop.items():
            m[name] = {"value": v, "unit": "", "description": name}
        p.write_text(json.dumps(m))
        return res
    return run


#: Learned rankers that show newcomers less and users more; a boost that costs value.
COSTLY = {"hand": (0.10, 0.80), "learned_once": (0.05, 0.85), "retrained": (0.09, 0.90), "oracle": (0.08, 1.0)}


def _loop_section(page: str) -> tuple[str, str]:
    sec = page[page.index('<h2 id="loop">'):page.index("<h2>Figures</h2>")]
    sentence = re.search(r'<p class="verdict">(.*?)</p>', sec, re.S).group(1)
    return sec, sentence


def _nums(fragment: str) -> list[dict]:
    return [dict(arm=m[0], metric=m[1], stat=m[2], value=float(m[3])) for m in re.findall(
        r'data-arm="([^"]*)" data-metric="([^"]*)" data-stat="([^"]*)" data-value="([^"]*)"', fragment)]


def _paired(vals, arm, metric):
    a, b = vals[(arm, metric)], vals[("none", metric)]
    d = np.array([a[s] - b[s] for s in sorted(a)])
    lo, hi = stats.t.interval(0.95, d.size - 1, loc=d.mean(), scale=stats.sem(d))
    return d.mean(), lo, hi


def _run(tmp_path, learned, name, run_fn, policies=("fixed_tilt",)):
    out = tmp_path / name
    C.compare(grid_cfg(), policies=list(policies), seeds=3, out_dir=out, jobs=1, progress=False, run_fn=run_fn,
              loop_grid=learned)
    return out


def check_sentence(out: Path) -> str:
    """The sentence names the arm an independent recomputation picks, and its words point the way its numbers do."""
    page = (out / "report.html").read_text()
    _, sentence = _loop_section(page)
    text = re.sub(r"<[^>]+>", "", sentence)
    vals = csv_values(out)
    e, v = "new_creator_exposure_share_measured", "value_per_impression_measured"
    arms = [a for a in dict.fromkeys(a for a, _ in vals) if a != "none" and not a.startswith("none__oracle")]
    keep = [a for a in arms if not _paired(vals, a, e)[2] < 0]  # share not detectably below the hand-set's
    if keep:
        want = max(keep, key=lambda a: np.mean(list(vals[(a, v)].values())))
        assert text.startswith("Of the combinations that keep new creators"), text
    else:
        want = max(arms, key=lambda a: _paired(vals, a, e)[0])
        assert text.startswith("No combination keeps new creators"), text
    named = {n["arm"] for n in _nums(sentence) if n["stat"] != "paired.base"}
    assert named == {want} and f"({want})" in text, (named, want, text)
    d, lo, hi = _paired(vals, want, v)
    if hi < 0:
        assert "at a cost of" in text and "rises" not in text, text
    elif lo > 0:
        assert "rises by" in text and "cost" not in text, text
    else:
        assert "no detectable change in user value" in text, text
    return text


def test_loop_grid_arms_cross_ranker_exploration_and_boost():
    arms = loop_grid_arms(grid_cfg(), LEARNED, ["fixed_tilt"])
    labels = [a.label for a in arms]
    assert labels == ["none", "none__hand+explore", "none__learned_once", "none__learned_once+explore",
                      "none__retrained", "none__retrained+explore", "none__oracle",
                      "fixed_tilt", "fixed_tilt__hand+explore", "fixed_tilt__learned_once",
                      "fixed_tilt__learned_once+explore", "fixed_tilt__retrained", "fixed_tilt__retrained+explore"]
    cfgs = {a.label: a.config(grid_cfg()) for a in arms}
    for label, c in cfgs.items():
        assert c.loop.measuring
        assert c.loop.exploring == ("+explore" in label)
        assert c.loop.retraining == ("retrained" in label)
        assert c.loop.ipw == ("retrained+explore" in label)  # IPW only where a model learns from explored slates
        assert c.policy.name == ("fixed_tilt" if label.startswith("fixed_tilt") else "none")
        assert c.ranker.kind == {"hand": "hand", "learned_once": "learned", "retrained": "hand",
                                 "oracle": "oracle"}[_role(label)]
        if c.loop.exploring:
            assert c.loop.temperature == 0.5
        if c.loop.retraining:
            assert c.loop.retrain_every == 1 and c.loop.window_days == 2


@pytest.mark.parametrize("bad, match", [
    (dict(explore="none", ipw=False), "explore-temperature"),
])
def test_loop_grid_needs_exploration(bad, match):
    cfg = grid_cfg().with_overrides(loop=bad)
    with pytest.raises(ValueError, match=match):
        loop_grid_arms(cfg, LEARNED)


def test_loop_grid_refuses_other_rankers_and_options(tmp_path):
    with pytest.raises(ValueError, match="learned:MODEL_DIR or distilled:MODEL_DIR. Got 'oracle'"):
        loop_grid_arms(grid_cfg(), "oracle")
    with pytest.raises(ValueError, match="must be 'hand'. Got 'oracle'"):
        loop_grid_arms(grid_cfg().with_overrides(ranker="oracle", loop=dict(retrain_every=0)), LEARNED)
    with pytest.raises(ValueError, match="does not take sweeps, robustness"):
        C.compare(grid_cfg(), sweeps=["fixed_tilt.strength=0.5,1"], robustness=True, out_dir=tmp_path / "x",
                  loop_grid=LEARNED, run_fn=fake_run, progress=False)
    assert not (tmp_path / "x").exists()


def test_loop_section_numbers_trace_to_the_csv_and_the_sentence_points_the_right_way(tmp_path, learned):
    out = _run(tmp_path, learned, "costly", scenario(COSTLY, boost=(0.04, -0.15)))
    rep = check_report(out, 13, 3)
    loop_nums = [n for n in rep.nums if n["table"] == "loop"]
    # every arm has a row; the gap closed is shown for every arm but the baseline and the oracle
    assert {n["data-arm"] for n in loop_nums} == {a for a, _ in csv_values(out)}
    gaps = {n["data-arm"] for n in loop_nums if n["data-stat"] == "loop.gap.mean"}
    assert "none" not in gaps and "none__oracle" not in gaps and len(gaps) == 11
    text = check_sentence(out)
    assert "at a cost of" in text  # the boost keeps newcomers visible, and costs value
    page = (out / "report.html").read_text()
    assert 'id="fig-loop"' in page and (out / "figures" / "loop.svg").is_file()


def test_loop_gap_closed_is_the_share_of_the_hand_to_oracle_gap(tmp_path, learned):
    out = _run(tmp_path, learned, "gap", scenario(COSTLY), policies=())
    vals = csv_values(out)
    v = "value_per_impression_measured"
    seeds = sorted(vals[("none", v)])
    g = np.array([(vals[("none__retrained", v)][s] - vals[("none", v)][s])
                  / (vals[("none__oracle", v)][s] - vals[("none", v)][s]) for s in seeds])
    page = (out / "report.html").read_text()
    sec, _ = _loop_section(page)
    got = {n["stat"]: n["value"] for n in _nums(sec) if n["arm"] == "none__retrained" and n["stat"].startswith("loop.gap")}
    assert got["loop.gap.mean"] == pytest.approx(g.mean(), rel=1e-12)
    lo, hi = stats.t.interval(0.95, g.size - 1, loc=g.mean(), scale=stats.sem(g))
    assert (got["loop.gap.lo"], got["loop.gap.hi"]) == pytest.approx((lo, hi), rel=1e-9)
    assert 0.4 < g.mean() < 0.6  # (0.90 - 0.80) / (1.0 - 0.80), give or take the per-arm noise
    # the same numbers as a frame, for notebooks
    from sim.report import loop_table

    t = loop_table(out)
    assert list(t.index) == ["none", "none__hand+explore", "none__learned_once", "none__learned_once+explore",
                             "none__retrained", "none__retrained+explore", "none__oracle"]
    assert t.loc["none__retrained", "gap_closed"] == pytest.approx(g.mean(), rel=1e-12)
    assert (t.loc["none__retrained", "gap_closed_lo"], t.loc["none__retrained", "gap_closed_hi"]) == \
        pytest.approx((lo, hi), rel=1e-9)
    assert t.loc["none__retrained+explore", "exploration"] == "T = 0.5, IPW"
    assert t.loc["none__learned_once+explore", "exploration"] == "T = 0.5"
    assert t.loc["none__retrained", "value_per_impression"] == pytest.approx(
        np.mean(list(vals[("none__retrained", v)].values())), rel=1e-12)
    _, sentence = _loop_section(page)
    assert t.attrs["sentence"] == re.sub(r"<[^>]+>", "", sentence).replace("&#x27;", "'")


def test_loop_sentence_when_a_learned_ranker_gains_value_without_losing_newcomers(tmp_path, learned):
    out = _run(tmp_path, learned, "gain", scenario({"hand": (0.10, 0.80), "learned_once": (0.05, 0.85),
                                           "retrained": (0.10, 0.90), "oracle": (0.08, 1.0)}, boost=(0.04, -0.01)))
    text = check_sentence(out)
    assert "rises by" in text and "retrained daily" in text


def test_loop_sentence_when_no_combination_keeps_newcomers(tmp_path, learned):
    # (a "boost" that lowers the share: what matters here is that every arm shows newcomers less)
    out = _run(tmp_path, learned, "none", scenario({"hand": (0.10, 0.80), "learned_once": (0.02, 0.85),
                                                    "retrained": (0.095, 0.90), "oracle": (0.08, 1.0)},
                                                   explore=(-0.02, 0.0), boost=(-0.01, -0.02)))
    text = check_sentence(out)
    assert text.startswith("No combination") and "(none__retrained)" in text


def test_a_comparison_without_loop_metrics_has_no_loop_section(tmp_path):
    out = tmp_path / "plain"
    C.compare(grid_cfg().with_overrides(loop=dict(explore="none", ipw=False)), policies="none,fixed_tilt", seeds=2,
              out_dir=out, jobs=1, progress=False, run_fn=fake_run, frontier=False)
    page = (out / "report.html").read_text()
    assert 'id="loop"' not in page and not (out / "figures" / "loop.png").exists()
