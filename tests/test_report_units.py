"""The report's tables and sentences, unit by unit, on small hand-made comparisons.

Each test builds a :class:`sim.report.ReportData` from a few hand-written
per-seed values (statistics by :func:`sim.stats.summarize_rows`, which
``tests/test_stats_edges.py`` checks), calls one table or sentence builder and
checks its exact words and numbers against values worked out by hand here. No
engine, no figures, no files: each test takes milliseconds, so a mutation run
over ``sim/report*.py`` costs about a second a mutant (CONTRIBUTING.md).
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binomtest

from sim import report as R
from sim import report_loop as L
from sim.report import ReportData
from sim.report_format import Num, _diff_cell, _stat_num, ci_parts, format_num, interval_decimals, span
from sim.stats import summarize_rows

EXP, VAL = "new_creator_exposure_share_measured", "value_per_impression_measured"
INFO = {
    EXP: {"unit": "share of impressions", "description": "newcomers' share of impressions"},
    VAL: {"unit": "value", "description": "user value per impression"},
    "new_creator_impressions_measured": {"unit": "impressions", "description": "to newcomers"},
    "impressions_measured": {"unit": "impressions", "description": "all"},
    "breakout_rate_new": {"unit": "share of posts", "description": "breakouts"},
    "breakouts_new": {"unit": "posts", "description": "k"},
    "posts_observed_new": {"unit": "posts", "description": "n"},
    "breakout_rate_established": {"unit": "share of posts", "description": "breakouts, others"},
    "breakouts_established": {"unit": "posts", "description": "k"},
    "posts_observed_established": {"unit": "posts", "description": "n"},
    "ai_label_exposure_ratio": {"unit": "ratio", "description": "q"},
    "ai_label_exposure_ratio_engagement": {"unit": "ratio", "description": "e"},
    "ai_posts": {"unit": "posts", "description": "labelled posts"},
    "exposure_gini": {"unit": "Gini coefficient", "description": "inequality"},
    "group.users.age=18-24": {"unit": "users", "description": "g"},
    "group.value_per_impression.age=18-24": {"unit": "value", "description": "g"},
    "group.new_creator_exposure_share.age=18-24": {"unit": "share of impressions", "description": "g"},
}
BASE = {EXP: [0.05, 0.06, 0.07], VAL: [0.40, 0.42, 0.44]}


def shifted(de, dv, **more):
    """Per-seed values of an arm: none's plus the per-seed differences ``de`` (exposure) and ``dv`` (value)."""
    out = {m: [None if x is None else b + x for b, x in zip(BASE[m], dx)] for m, dx in ((EXP, de), (VAL, dv))}
    out.update(more)
    return out


def build(values: dict, arms=None, seeds=(1, 2, 3), info=INFO, series=None, **summary) -> ReportData:
    """A ReportData of ``values`` (arm -> metric -> per-seed list, None for missing)."""
    labels = list(values)
    if arms is None:
        arms = [{"label": a, "policy": a.split("__")[0], "params": {}, "sweep": None, "ranker": None, "grid": False}
                for a in labels]
    rows = [{"arm": a, "seed": s, **{m: v[i] for m, v in values[a].items()}} for a in labels
            for i, s in enumerate(seeds)]
    metrics = list(dict.fromkeys(m for a in labels for m in values[a]))
    stats, paired = summarize_rows(rows, labels, metrics, list(seeds))
    summ = {"arms": arms, "scalars": metrics, "options": summary.pop("options", {}), **summary}
    return ReportData(out_dir=Path("."), summary=summ, rows=rows, arms=arms, labels=labels, seeds=list(seeds),
                      stats=stats, paired=paired, series=series or {}, info=info)


def text(parts) -> str:
    return R._render(parts, False)


def nums(fragment: str) -> list[tuple[str, str, str, str]]:
    """(metric, stat, data-value, shown text) of each number span."""
    return re.findall(r'<span class="num" data-arm="[^"]*" data-metric="([^"]*)" data-stat="([^"]*)" '
                      r'data-value="([^"]*)" data-scale="[^"]*"(?: data-abs="1")?>([^<]*)</span>', fragment)


@pytest.fixture(scope="module")
def verdicts():
    return build({
        "none": BASE,
        "fixed_tilt": shifted([0.019, 0.021, 0.020], [-0.0083, -0.0085, -0.0084]),   # raises, costs 2 %
        "fairco": shifted([-0.011, -0.009, -0.010], [0.0125, 0.0127, 0.0126]),       # lowers (by design), gains 3 %
        "ucb": shifted([0.01, -0.01, 0.0], [0.004, -0.004, 0.0]),                    # nothing detectable
        "thompson": shifted([0.019, 0.021, 0.020], [0.004, -0.004, 0.0]),            # raises at no cost
        "slot_quota": shifted([-0.011, -0.009, -0.010], [0.004, -0.004, 0.0]),       # lowers: a defect
    })


# --- sentences --------------------------------------------------------------------------


def test_verdict_sentences_word_for_word(verdicts):
    d = verdicts
    got = {a: text(R.verdict_parts(d, a)) for a in d.labels}
    assert got == {
        "none": "The baseline: no boost, the ranker's score alone decides.",
        "fixed_tilt": "Raises new-creator exposure from 6.0 % to 8.0 %, at a cost of 2.0 % of user value per "
                      "impression.",
        "fairco": "Lowers new-creator exposure from 6.0 % to 5.0 %, and raises user value per impression by 3.0 %. "
                  "By design: fairco is a parity controller that steers exposure toward each creator's merit, not "
                  "a boost for newcomers, so it may move traffic away from them.",
        "ucb": "No detectable change in new-creator exposure (6.0 % against 6.0 %), with no detectable change in "
               "user value.",
        "thompson": "Raises new-creator exposure from 6.0 % to 8.0 % at no detectable cost in user value.",
        "slot_quota": "Lowers new-creator exposure from 6.0 % to 5.0 %, with no detectable change in user value. "
                      "Not its design: read this as a defect of the policy.",
    }
    # the numbers carry their source
    html_parts = R._render(R.verdict_parts(d, "fixed_tilt"), True)
    assert [(m, s) for m, s, _, _ in nums(html_parts)] == [(EXP, "paired.base"), (EXP, "paired.arm"),
                                                           (VAL, "paired.rel")]
    assert float(nums(html_parts)[2][2]) == pytest.approx(-0.02)


def test_verdict_with_one_seed_or_no_common_seed():
    one = build({"none": {EXP: [0.06], VAL: [0.4]}, "fixed_tilt": {EXP: [0.08], VAL: [0.39]}}, seeds=(1,))
    assert text(R.verdict_parts(one, "fixed_tilt")) == (
        "New-creator exposure 6.0 % under none, 8.0 % here; a single seed cannot tell a real difference from "
        "noise: run more seeds.")
    none = build({"none": {EXP: [0.06, None], VAL: [0.4, None]}, "ucb": {EXP: [None, 0.08], VAL: [None, 0.4]}},
                 seeds=(1, 2))
    assert text(R.verdict_parts(none, "ucb")) == "No runs of this policy and the baseline on common seeds."
    lines = R.verdict_lines(_summary_dict(one))
    back = R._from_summary(_summary_dict(one))
    assert back.info == INFO and back.stats == one.stats and back.paired == one.paired and back.seeds == [1]
    assert back.rows == [dict(r, run_id=f"{r['arm']}-1", policy=r["arm"]) for r in one.rows]
    assert lines[0] == "none        The baseline: no boost, the ranker's score alone decides."
    assert lines[1].startswith("fixed_tilt  New-creator exposure 6.0 % under none")


def _summary_dict(d: ReportData) -> dict:
    runs = [{"run_id": f"{r['arm']}-{r['seed']}", "arm": r["arm"], "policy": r["arm"].split("__")[0],
             "seed": r["seed"], "scalars": {k: v for k, v in r.items() if k not in ("arm", "seed")}} for r in d.rows]
    return {"arms": d.arms, "seeds": d.seeds, "stats": d.stats, "paired": d.paired, "runs": runs,
            "metric_info": d.info, "series": d.series, "scalars": d.summary["scalars"]}


def test_whole_run_metrics_stand_in_when_the_measured_window_is_missing():
    d = build({"none": {"new_creator_exposure_share": [0.05, 0.06, 0.07], "value_per_impression": BASE[VAL]},
               "fixed_tilt": {"new_creator_exposure_share": [0.07, 0.08, 0.09],
                              "value_per_impression": [0.392, 0.4116, 0.4312]}})
    assert d.metric(EXP) == "new_creator_exposure_share" and d.metric(VAL) == "value_per_impression"
    assert d.metric("exposure_gini") == "exposure_gini"
    assert text(R.verdict_parts(d, "fixed_tilt")).startswith("Raises new-creator exposure from 6.0 % to 8.0 %, "
                                                              "at a cost of 2.0 %")


def test_holds_compares_directions_on_the_variant(verdicts):
    d = verdicts
    same = build({"none": BASE, "fixed_tilt": shifted([0.03, 0.031, 0.029], [-0.01, -0.011, -0.012]),
                  "fairco": shifted([0.01, 0.011, 0.012], [0.01, 0.011, 0.012])})
    ok, why = R.holds(d, same, "fixed_tilt")
    assert ok and why == "exposure up, value down here; exposure up, value down on the variant"
    ok, why = R.holds(d, same, "fairco")
    assert not ok and why == "exposure down, value up here; exposure up, value up on the variant"
    ok, why = R.holds(d, same, "ucb")
    assert not ok and why == ("exposure no detectable change, value no detectable change here; exposure not run, "
                              "value not run on the variant")
    one = build({"none": {EXP: [0.06], VAL: [0.4]}, "fixed_tilt": {EXP: [0.08], VAL: [0.39]}}, seeds=(1,))
    assert R.holds(one, one, "fixed_tilt") == (False, "exposure not run, value not run here; exposure not run, "
                                                      "value not run on the variant")
    d.variant = same
    try:
        rows, line = R.robustness_rows(d)
    finally:
        d.variant = None
    assert [(re.sub("<[^>]+>", "", r["arm"]), r["holds"]) for r in rows] == [
        ("fixed_tilt", "holds"), ("fairco", "does not hold")]
    assert line == "1 of 2 headline verdicts hold on the variant (fixed_tilt); the others change direction or " \
                   "detectability."
    assert R.robustness_rows(d) == ([], "")
    same.variant = same
    rows, line = R.robustness_rows(same)
    assert line == "2 of 2 headline verdicts hold on the variant (fixed_tilt, fairco)."
    assert all(r["holds"] == "holds" and "&#x27;" not in r["why"] for r in rows)


# --- the data object --------------------------------------------------------------------


def test_headline_picks_the_middle_of_a_grid_and_the_plain_arm():
    arms = [{"label": "none", "policy": "none", "params": {}, "sweep": None, "ranker": None},
            {"label": "ucb__c=1", "policy": "ucb", "params": {"c": 1}, "sweep": ("c", 1), "ranker": None},
            {"label": "ucb", "policy": "ucb", "params": {}, "sweep": None, "ranker": None},
            {"label": "fixed_tilt__strength=0.25", "policy": "fixed_tilt", "sweep": ("strength", 0.25), "grid": True},
            {"label": "fixed_tilt__strength=0.5", "policy": "fixed_tilt", "sweep": ("strength", 0.5), "grid": True},
            {"label": "fixed_tilt__strength=1", "policy": "fixed_tilt", "sweep": ("strength", 1), "grid": True},
            {"label": "thompson__scale=2", "policy": "thompson", "sweep": ("scale", 2)},
            {"label": "thompson__scale=3", "policy": "thompson", "sweep": ("scale", 3)},
            {"label": "ucb@learned", "policy": "ucb", "sweep": None, "ranker": "learned:x"}]
    vals = {a["label"]: BASE for a in arms}
    d = build(vals, arms=arms)
    assert d.headline == ["none", "ucb", "fixed_tilt__strength=0.5", "thompson__scale=2"]
    assert d.policy_arms == d.headline
    assert d.arm("ucb")["params"] == {}
    np.testing.assert_array_equal(d.values("ucb", EXP), BASE[EXP])


def test_values_follow_the_seeds_and_leave_gaps_as_nan():
    d = build({"none": {EXP: [0.1, None, 0.3]}}, seeds=(7, 3, 5))
    np.testing.assert_array_equal(d.values("none", EXP), [0.1, np.nan, 0.3])
    d.seeds = [3, 5, 7]
    np.testing.assert_array_equal(d.values("none", EXP), [np.nan, 0.3, 0.1])
    assert np.isnan(d.values("none", "missing")).all() and d.values("none", EXP).dtype == np.float64


def test_cost_per_point_against_a_hand_computation(verdicts):
    d = verdicts
    c = d.cost("fixed_tilt")
    de = np.array([0.019, 0.021, 0.020])
    dv = np.array([-0.0083, -0.0085, -0.0084]) / 0.42
    per = -dv / de
    half = 4.302652729911275 * per.std(ddof=1) / math.sqrt(3)  # t(0.975, 2)
    assert c["n"] == 3 and c["mean"] == pytest.approx(per.mean())
    assert (c["lo"], c["hi"]) == pytest.approx((per.mean() - half, per.mean() + half))
    assert d.cost("fixed_tilt") is c  # cached
    nd = d.cost("ucb")  # exposure change not detectable: no cost
    assert nd["n"] == 0 and all(math.isnan(nd[k]) for k in ("mean", "lo", "hi"))
    two = build({"none": {EXP: [0.05, 0.06], VAL: [0.4, 0.4]}, "f": {EXP: [0.07, 0.0801], VAL: [0.396, 0.392]}},
                seeds=(1, 2))
    c2 = two.cost("f")
    assert c2["n"] == 2 and c2["mean"] == pytest.approx(np.mean([0.01 / 0.02, 0.02 / 0.0201]))
    one = build({"none": {EXP: [0.05, 0.06], VAL: [0.4, 0.4]}, "f": {EXP: [0.07, 0.08], VAL: [0.396, None]}},
                seeds=(1, 2))
    one.paired["f"][EXP]["detectable"] = True
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no interval is computed from one value (no ddof=1 warning)
        c1 = one.cost("f")
    assert c1["n"] == 1 and c1["mean"] == pytest.approx(0.5) and math.isnan(c1["lo"]) and math.isnan(c1["hi"])


# --- tables -----------------------------------------------------------------------------


def test_verdict_rows_cells(verdicts):
    d = build({"none": dict(BASE, new_creator_impressions_measured=[50, 60, 70],
                            impressions_measured=[1000, 1000, 1000]),
               "fixed_tilt": shifted([0.019, 0.021, 0.020], [-0.0083, -0.0085, -0.0084],
                                     new_creator_impressions_measured=[69, 81, 90],
                                     impressions_measured=[1000, 1000, 1000])},
              arms=[{"label": "none", "policy": "none", "sweep": None},
                    {"label": "fixed_tilt", "policy": "fixed_tilt", "sweep": ("strength", 0.5)}])
    base, tilt = R.verdict_rows(d)
    assert base["base"] and not tilt["base"]
    assert base["strength"] == "" and tilt["strength"] == '<span class="label">strength = 0.5</span>'
    assert base["d_exposure"] == "" and base["d_value"] == "the baseline"
    assert [(m, s, t) for m, s, _, t in nums(base["exposure"])] == [
        (EXP, "mean", "6.0 %"), ("new_creator_impressions_measured", "mean", "60"),
        ("impressions_measured", "mean", "1,000")]
    assert " of " in base["exposure"] and base["exposure"].endswith(" impressions</span>")
    assert [(s, t) for _, s, _, t in nums(tilt["d_exposure"])][0] == ("paired.diff", "+2.0 pts")
    assert [(s, t) for _, s, _, t in nums(tilt["d_value"])][0] == ("paired.rel", "\u22122.0 %")
    assert tilt["verdict"] == R._render(R.verdict_parts(d, "fixed_tilt"), True)
    assert '<code class="arm">fixed_tilt</code>' == tilt["arm"]
    assert R._count_cell(verdicts, "none", EXP) == ""


def test_frontier_rows_cost_cells(verdicts):
    arms = [{"label": "none", "policy": "none"}, {"label": "fixed_tilt", "policy": "fixed_tilt",
                                                   "sweep": ("strength", 1.0), "grid": True},
            {"label": "ucb", "policy": "ucb", "sweep": ("c", 2)}, {"label": "fairco", "policy": "fairco"}]
    d = build({a["label"]: verdicts.rows and {m: verdicts.values(a["label"], m).tolist() for m in (EXP, VAL)}
               for a in arms}, arms=arms)
    rows = R.frontier_rows(d)
    assert [re.sub("<[^>]+>", "", r["arm"]) for r in rows] == ["fixed_tilt", "ucb"]
    tilt, ucb = rows
    assert tilt["strength"] == '<span class="label">strength = 1.0</span>'
    c = d.cost("fixed_tilt")
    got = nums(tilt["cost"])
    assert [(m, s) for m, s, _, _ in got] == [("cost_per_point", "cost.mean"), ("cost_per_point", "cost.lo"),
                                              ("cost_per_point", "cost.hi")]
    assert [float(v) for _, _, v, _ in got] == pytest.approx([c["mean"], c["lo"], c["hi"]])
    assert ucb["cost"] == "n/a: no detectable exposure change"
    assert tilt["d_exposure"] == _diff_cell(d, "fixed_tilt", EXP) and tilt["d_value"] == _diff_cell(d, "fixed_tilt", VAL)
    two = build({"none": {EXP: [0.05, 0.06], VAL: [0.4, 0.4]}, "f": {EXP: [0.07, 0.08], VAL: [0.396, None]}},
                arms=[{"label": "none", "policy": "none"}, {"label": "f", "policy": "f", "sweep": ("s", 1)}],
                seeds=(1, 2))
    two.paired["f"][EXP]["detectable"] = True
    (row,) = R.frontier_rows(two)
    assert nums(row["cost"])[0][3] == "+0.5000" and "ci" not in row["cost"]


def test_group_table_rows_and_cells():
    g = {"group.users.age=18-24": [100, 100, 100], "group.value_per_impression.age=18-24": [0.4, 0.42, 0.44],
         "group.new_creator_exposure_share.age=18-24": [0.05, 0.06, 0.07]}
    d = build({"none": dict(BASE, **g), "fixed_tilt": shifted([0.02] * 3, [-0.0084] * 3, **{
        "group.users.age=18-24": [100, 100, 100], "group.value_per_impression.age=18-24": [0.392, 0.4116, 0.4312],
        "group.new_creator_exposure_share.age=18-24": [0.07, 0.081, 0.09]})})
    t = R.group_table(d, "value_per_impression")
    assert t["arms"] == ['<code class="arm">fixed_tilt</code>']
    (row,) = t["rows"]
    assert row["group"] == '<span class="label">age band: 18-24</span>'
    assert nums(row["users"])[0][3] == "100"
    assert nums(row["cells"][0])[0][1:] == ("paired.rel", nums(row["cells"][0])[0][2], "\u22122.0 %")
    e = R.group_table(d, "new_creator_exposure_share")
    assert nums(e["rows"][0]["cells"][0])[0][1] == "paired.diff"
    assert nums(e["rows"][0]["cells"][0])[0][3] == "+2.0 pts"


def _parity(q, e, posts=(10, 12, 14)):
    return {"ai_label_exposure_ratio": q, "ai_label_exposure_ratio_engagement": e, "ai_posts": list(posts)}


def test_parity_rows_say_what_the_intervals_say():
    d = build({"none": dict(BASE, **_parity([0.99, 1.0, 1.01], [0.98, 1.02, 1.0])),
               "fixed_tilt": dict(BASE, **_parity([0.79, 0.8, 0.81], [0.7, 0.71, 0.72])),
               "ucb": dict(BASE, **_parity([1.19, 1.2, 1.21], [1.3, 1.31, 1.32])),
               "fairco": dict(BASE, **_parity([0.99, 1.0, 1.01], [0.7, 0.71, 0.72]))})
    says = {re.sub("<[^>]+>", "", r["arm"]): r["says"] for r in R.parity_rows(d)}
    assert says == {
        "none": "No detectable gap: both intervals include parity, so the difference is noise.",
        "fixed_tilt": "Labelled posts get detectably fewer impressions than unlabelled ones at matched quality and "
                      "engagement.",
        "ucb": "Labelled posts get detectably more impressions than unlabelled ones at matched quality and "
               "engagement.",
        "fairco": "Mixed: one interval includes parity, the other does not.",
    }
    row = R.parity_rows(d)[1]
    got = nums(row["quality"])
    assert [(s, t) for _, s, _, t in got] == [("mean", "0.8000"), ("lo", got[1][3]), ("hi", got[2][3])]
    assert float(got[1][2]) < 0.8 < float(got[2][2])
    assert nums(row["posts"])[0][3] == "12"
    one = build({"none": dict(BASE, ai_label_exposure_ratio=[0.5])}, seeds=(1,))
    one = build({"none": {EXP: [0.06], VAL: [0.4], "ai_label_exposure_ratio": [0.5]}}, seeds=(1,))
    (r1,) = R.parity_rows(one)
    assert r1["says"] == "Too few seeds to tell." and r1["engagement"] == "" and r1["posts"] == ""
    assert "ci" not in r1["quality"] and nums(r1["quality"])[0][3] == "0.5000"


def test_breakout_rows_pool_counts_with_an_exact_interval():
    b = {"breakouts_new": [3, 4, 5], "posts_observed_new": [100, 100, 100], "breakout_rate_new": [0.03, 0.04, 0.05],
         "breakouts_established": [0, 0, 0], "posts_observed_established": [0, 0, 0],
         "breakout_rate_established": [None, None, None]}
    d = build({"none": dict(BASE, **b)})
    (row,) = R.breakout_rows(d)
    got = nums(row["new"])
    ci = binomtest(12, 300).proportion_ci(0.95, method="exact")
    assert row["new"].endswith(")</span>")
    assert [(m, s) for m, s, _, _ in got] == [("breakouts_new", "sum"), ("posts_observed_new", "sum"),
                                              ("breakout_rate_new", "pooled.rate"), ("breakout_rate_new", "pooled.lo"),
                                              ("breakout_rate_new", "pooled.hi")]
    assert [float(v) for _, _, v, _ in got] == pytest.approx([12, 300, 0.04, ci.low, ci.high])
    assert got[0][3] == "12" and got[1][3] == "300" and got[2][3] == "4.0 %"
    assert [float(t) for *_, t in got[3:]] == pytest.approx([100 * ci.low, 100 * ci.high], abs=0.051)
    assert " posts<br>" in row["new"]
    assert nums(row["other"]) == [("breakout_rate_established", "mean", "nan", "n/a")]


def test_means_and_paired_tables(verdicts):
    d = build({"none": dict(BASE, exposure_gini=[0.5, 0.6, 0.7], new_creator_impressions_measured=[5, 6, 7],
                            impressions_measured=[100, 100, 100]),
               "fixed_tilt": shifted([0.0101] * 3, [-0.0084] * 3, exposure_gini=[0.4, 0.5, 0.6],
                                     new_creator_impressions_measured=[6, 7, 8], impressions_measured=[100] * 3)})
    t = R.means_table(d, [EXP, "exposure_gini", VAL, "nothing"])
    assert t["head"] == [("new-creator exposure", "newcomers&#x27; share of impressions"),
                         ("exposure Gini", "inequality")]
    assert len(t["rows"]) == 2 and t["rows"][0]["arm"] == '<code class="arm">none</code>'
    c0, c1 = t["rows"][1]["cells"]
    assert [t for *_, t in nums(c0)] == ["7.0 %", "7", "100"] and [t for *_, t in nums(c1)] == ["0.5000"]
    assert R.means_table(d, [EXP], arms=["none"])["rows"][0]["cells"][0].count('class="num"') == 3
    p = R.paired_table(d, [EXP, VAL, "value_per_impression", "exposure_gini", "missing"])
    assert p["head"] == ["new-creator exposure", "user value per impression (% of none&#x27;s)", "exposure Gini"]
    (row,) = p["rows"]
    assert [nums(c)[0][3] for c in row["cells"]] == ["+1.0 pts", "\u22122.0 %", "\u22120.1000"]
    assert R.paired_table(d, [EXP], arms=[])["rows"] == []


def test_policy_rows_describe_each_policy_and_its_settings():
    arms = [{"label": "none", "policy": "none", "params": {}},
            {"label": "fixed_tilt__strength=1", "policy": "fixed_tilt", "params": {"strength": 1},
             "sweep": ("strength", 1), "grid": True},
            {"label": "fixed_tilt@l", "policy": "fixed_tilt", "params": {}, "ranker": "learned:m"},
            {"label": "mystery", "policy": "mystery", "params": {"a": "<b>"}}]
    d = build({a["label"]: BASE for a in arms}, arms=arms)
    rows = {re.sub("<[^>]+>", "", r["policy"]): r for r in R.policy_rows(d)}
    assert list(rows) == ["none", "fixed_tilt", "mystery"]
    assert rows["none"]["does"] == "No boost: the ranker&#x27;s score alone decides."
    assert rows["none"]["ran"] == "<b>its defaults</b> (headline)" and rows["none"]["defaults"] == "none"
    assert rows["none"]["scope"] == "none"
    ft = rows["fixed_tilt"]
    assert ft["ran"] == "<b>strength = 1</b> (headline); its defaults (ranker learned:m)"
    assert ft["defaults"] == "strength = 0.5, days = 0, scope = new" and ft["scope"] == "new"
    assert ft["does"].startswith("Fixed tilt: a constant score bonus")
    m = rows["mystery"]
    assert m["does"] == "" and m["scope"] == "" and m["defaults"] == "none" and m["ran"] == "<b>a = &lt;b&gt;</b> (headline)"
    assert R.policy_scope("mystery") is None and R.policy_scope("fairco") == "parity"
    assert R.design_note(d, "fixed_tilt@l") is None


def test_proportions_and_payback_lines():
    p = {"creators_per_1k_users": 50.0, "new_creators_per_1k_users_per_day": 3.3333333333,
         "posts_per_user_per_day": 0.035, "friends_per_user": 20.0, "follows_per_user": 8.0}
    assert R.proportions_text(p) == (
        "50 creators and 3.33 new creators a day per 1,000 users, 0.035 posts a day per user (before any creator "
        "quits), 20 friends and 8 initial follows per user; --users keeps these")
    assert R.proportions_text({}) == "" and R.proportions_text(None) == ""
    ps = {"a": {"cumulative_value_by_day": {"diff": [-1.0, -0.5, 0.2, 0.4]}},
          "b": {"cumulative_value_by_day": {"diff": [0.1, None, 0.3]}},
          "c": {"cumulative_value_by_day": {"diff": [0.1, -0.2, -0.3]}},
          "f": {}}
    d = build({k: BASE for k in ("none", "a", "b", "c", "e", "f", "g")}, paired_series=ps)
    assert R.payback_lines(d) == [
        "a: cumulative user value falls below none's and catches up on day 2 of 4.",
        "b: cumulative user value never falls below none's over the 3 days.",
        "c: cumulative user value is still below none's on the last of the 3 days (it does not pay back within "
        "this run)."]


# --- numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize("n, shown", [
    (Num(0.0612, "pct", "a", "m", "s"), "6.1 %"), (Num(0.00612, "pct", "a", "m", "s"), "0.61 %"),
    (Num(0.0, "pts", "a", "m", "s"), "0.0 pts"), (Num(0.02, "pts", "a", "m", "s"), "+2.0 pts"),
    (Num(-0.02, "rel", "a", "m", "s"), "\u22122.0 %"), (Num(-0.02, "rel", "a", "m", "s", absolute=True), "2.0 %"),
    (Num(0.02, "rel", "a", "m", "s", bare=True), "+2.0"), (Num(1234.5, "num", "a", "m", "s"), "1,234"),
    (Num(1234.5, "num", "a", "m", "s"), "1,234"), (Num(0.0123456, "snum", "a", "m", "s"), "+0.01235"),
    (Num(-3.0, "snum", "a", "m", "s"), "\u22123.000"), (Num(7.6, "int", "a", "m", "s"), "8"),
    (Num(7.25, "int", "a", "m", "s", dec=1), "7.2"), (Num(0.5, "num", "a", "m", "s", dec=1), "0.5"),
    (Num(-0.0001, "pts", "a", "m", "s", dec=1), "0.0 pts"), (Num(float("inf"), "num", "a", "m", "s"), "n/a"),
    (Num(None, "num", "a", "m", "s"), "n/a"), (Num(0.0, "num", "a", "m", "s"), "0"),
    (Num(2e-12, "num", "a", "m", "s"), "0.000000000002"),
    (Num(1e-15, "num", "a", "m", "s"), "0.000000000000"),
])
def test_format_num_by_kind(n, shown):
    assert format_num(n) == shown


def test_span_carries_the_exact_value_and_scale():
    assert span(Num(0.0612, "pct", "a<", "m&", "paired.arm")) == (
        '<span class="num" data-arm="a&lt;" data-metric="m&amp;" data-stat="paired.arm" data-value="0.0612" '
        'data-scale="100">6.1 %</span>')
    assert span(Num(float("nan"), "num", "a", "m", "s", absolute=True)) == (
        '<span class="num" data-arm="a" data-metric="m" data-stat="s" data-value="nan" data-scale="1" '
        'data-abs="1">n/a</span>')
    assert R._render(["a<", Num(3, "int", "x", "m", "s")], False) == "a<3"
    assert R._render(["a<"], True) == "a&lt;"


def test_interval_decimals_and_ci_parts():
    assert interval_decimals(0.0300, 0.0310, "pts") == 1
    assert interval_decimals(0.0300, 0.0301, "pts") == 2
    assert interval_decimals(0.003, 0.004, "pct") == 2
    assert interval_decimals(1.0, 2.0, "int") == 0
    assert interval_decimals(1.0, 1.4, "int") == 1
    assert interval_decimals(1.23456, 1.23457, "num") == 5
    assert interval_decimals(1.0, 1.0 + 1e-12, "num") == 8
    assert interval_decimals(1.0, float("nan"), "num") is None
    assert interval_decimals(0.0300, 0.0310, "pts", mid=0.03049) == 2
    parts = ci_parts(Num(0.0300, "pts", "a", "m", "lo"), Num(0.0301, "pts", "a", "m", "hi"))
    assert text(parts) == "(+3.00 to +3.01)"
    assert parts[1].bare and parts[3].bare and parts[1].dec == 2 and parts[3].stat == "hi"
    assert text(ci_parts(Num(-0.03, "rel", "a", "m", "lo", absolute=True), Num(0.01, "rel", "a", "m", "hi"))) == \
        "(3.0 to +1.0)"


def test_stat_num_kinds_and_diff_cells(verdicts):
    d = verdicts
    assert _stat_num(d, "none", EXP).kind == "pct"
    assert _stat_num(d, "none", VAL).kind == "num"
    d2 = build({"none": {"impressions_measured": [1, 2, 3], "ai_posts": [1, 2, 3], "group.users.age=18-24": [1, 2, 3]}})
    assert {_stat_num(d2, "none", m).kind for m in ("impressions_measured", "ai_posts", "group.users.age=18-24")} == {
        "int"}
    n = _stat_num(d, "none", EXP, "lo")
    assert (n.arm, n.metric, n.stat, n.value) == ("none", EXP, "lo", d.stats["none"][EXP]["lo"])
    assert math.isnan(_stat_num(d, "none", "missing").value)
    cell = _diff_cell(d, "fixed_tilt", VAL)
    p = d.paired["fixed_tilt"][VAL]
    assert [(s, float(v)) for _, s, v, _ in nums(cell)] == [("paired.rel", p["rel"]), ("paired.rel_lo", p["rel_lo"]),
                                                           ("paired.rel_hi", p["rel_hi"])]
    cell = _diff_cell(d, "fixed_tilt", EXP)
    p = d.paired["fixed_tilt"][EXP]
    assert [(s, float(v)) for _, s, v, _ in nums(cell)] == [("paired.diff", p["diff"]), ("paired.lo", p["lo"]),
                                                           ("paired.hi", p["hi"])]
    assert '<br><span class="ci">(' in cell and cell.endswith(")</span>")
    assert _diff_cell(d, "none", EXP) == "" and _diff_cell(d, "fixed_tilt", "missing") == ""
    one = build({"none": {EXP: [0.06], VAL: [0.4]}, "f": {EXP: [0.08], VAL: [0.39]}}, seeds=(1,))
    assert "ci" not in _diff_cell(one, "f", EXP)
    g = build({"none": {"group.value_per_impression.age=1": [0.4, 0.42, 0.44], "x": [1.0, 2.0, 3.0]},
               "f": {"group.value_per_impression.age=1": [0.392, 0.4116, 0.4312], "x": [2.0, 3.0, 4.5]}})
    assert nums(_diff_cell(g, "f", "group.value_per_impression.age=1"))[0][1] == "paired.rel"
    assert nums(_diff_cell(g, "f", "x"))[0][3] == "+1.167"


def test_render_html_puts_every_section_on_the_page(verdicts):
    d = build({"none": dict(BASE, measured_window_start=[21, 21, 21], total_value=[10.0, 11.0, 12.0]),
               "fixed_tilt": shifted([0.019, 0.021, 0.020], [-0.0083, -0.0085, -0.0084],
                                     measured_window_start=[21, 21, 21], total_value=[10.0, 11.0, 12.5])},
              options={"version": "9.9<", "days": 30, "users": 1234, "warmup_days": 21, "command": "ranksim x"},
              paired_series={"fixed_tilt": {"cumulative_value_by_day": {"diff": [-1.0, 1.0]}}})
    page = R.render_html(d, [("fig", "A <title>", "cap & more", b"\x89PNG")])
    assert "9.9&lt;" in page and "ranksim x" in page and "1234" in page
    assert 'src="data:image/png;base64,iVBORw=="' in page and "A &lt;title&gt;" in page and "cap &amp; more" in page
    assert "catches up on day 1 of 2" in page
    assert R._render(R.verdict_parts(d, "fixed_tilt"), True) in page
    assert "same 3 simulated worlds (seeds 1, 2, 3;\n1234 users," in page
    assert "<b>21 warm-up days</b>" in page
    # the long-run table (30 days >= 28) pairs total value against none, in % of none's
    assert "cumulative user value (% of none&#x27;s)" in page
    tv = d.paired["fixed_tilt"]["total_value"]["rel"]
    assert f'data-metric="total_value" data-stat="paired.rel" data-value="{tv!r}"' in page
    g = build({"none": dict(BASE, **{"group.users.age=18-24": [9, 9, 9],
                                     "group.new_creator_exposure_share.age=18-24": [0.05, 0.06, 0.07],
                                     "group.value_per_impression.age=18-24": [0.4, 0.42, 0.44]}),
               "fixed_tilt": shifted([0.0] * 3, [0.0] * 3, **{"group.users.age=18-24": [9, 9, 9],
                                     "group.new_creator_exposure_share.age=18-24": [0.07, 0.08, 0.09],
                                     "group.value_per_impression.age=18-24": [0.41, 0.43, 0.45]})},
              options={"variant": "other-world.toml", "days": 7})
    g.variant = g
    gpage = R.render_html(g, [])
    assert 'data-metric="group.new_creator_exposure_share.age=18-24" data-stat="paired.diff"' in gpage
    assert 'data-metric="group.value_per_impression.age=18-24" data-stat="paired.rel"' in gpage
    assert "second world variant: other-world.toml." in gpage
    short = R.render_html(build({"none": BASE, "fixed_tilt": BASE}, options={"days": 27}), [])
    assert "<li>fixed_tilt: cumulative" in page and "<li>fixed_tilt: cumulative" not in short
    assert 'data-metric="total_value"' not in short and 'id="paired"' in short
    alone = R.render_html(build({"fixed_tilt": BASE}, options={"days": 7}), [])
    assert 'id="paired"' not in alone and 'id="verdict"' in alone


# --- learning in the loop ---------------------------------------------------------------

LOOP_ARMS = [
    {"label": "none", "policy": "none", "ranker": None},
    {"label": "learned", "policy": "none", "ranker": "learned:m.txt", "loop": {"retrain_every": 0}},
    {"label": "retrained", "policy": "none", "ranker": "learned:m.txt",
     "loop": {"retrain_every": 1, "explore": "softmax", "temperature": 0.25, "ipw": True}},
    {"label": "retrained_tilt", "policy": "fixed_tilt", "ranker": "distilled:m.txt",
     "loop": {"retrain_every": 2, "explore": "none", "ipw": True}},
    {"label": "oracle", "policy": "none", "ranker": "oracle"},
    {"label": "plain", "policy": "ucb", "ranker": None},
]
LOOP_VALUES = {
    "none": BASE,
    "learned": shifted([-0.011, -0.009, -0.010], [0.02, 0.02, 0.02]),
    "retrained": shifted([0.002, -0.001, 0.002], [0.045, 0.05, 0.05]),
    "retrained_tilt": shifted([0.02, 0.021, 0.019], [0.03, 0.03, 0.03]),
    "oracle": shifted([0.0, 0.001, -0.001], [0.1, 0.1, 0.1]),
    "plain": BASE,
}


def loop_data(values=LOOP_VALUES, arms=LOOP_ARMS, **options):
    labels = [a["label"] for a in arms]
    series = {a: {"loop_value_per_impression_by_day": {"mean": [0.4, 0.41], "min": [0.4, 0.41], "max": [0.4, 0.41]}}
              for a in labels if a != "plain"}
    return build({a: values[a] for a in labels}, arms=arms, series=series, options=options)


def test_loop_arms_know_their_roles():
    d = loop_data()
    got = {x["label"]: (x["ranker"], x["explore"], x["temperature"], x["ipw"], x["boost"]) for x in R.loop_arms(d)}
    assert got == {"none": ("hand", False, None, False, None), "learned": ("learned_once", False, None, False, None),
                   "retrained": ("retrained", True, 0.25, True, None),
                   "retrained_tilt": ("retrained", False, None, True, "fixed_tilt"),
                   "oracle": ("oracle", False, None, False, None)}
    assert R.loop_arm(d, "plain") is None and R._oracle_arm(d) == "oracle"
    # an arm without its own [loop] takes the comparison's, for learned rankers only
    arms = [{"label": "none", "policy": "none", "ranker": None}, {"label": "l", "policy": "none", "ranker": "learned:x"},
            {"label": "o", "policy": "none", "ranker": "oracle"}]
    d2 = loop_data({"none": BASE, "l": BASE, "o": BASE}, arms, ranker="hand",
                   loop={"retrain_every": 1, "explore": "softmax", "temperature": 0.5})
    got = {x["label"]: (x["ranker"], x["explore"], x["temperature"]) for x in R.loop_arms(d2)}
    assert got == {"none": ("hand", False, None), "l": ("retrained", True, 0.5), "o": ("oracle", False, None)}
    d3 = loop_data({"none": BASE, "l": BASE, "o": BASE}, arms, ranker="learned:y", loop={"retrain_every": 1})
    assert R.loop_arm(d3, "none")["ranker"] == "retrained"
    assert R._exploration_text({"explore": True, "temperature": 0.25, "ipw": False}) == "T = 0.25"
    assert R._exploration_text({"explore": True, "temperature": 1.0, "ipw": True}) == "T = 1, IPW"
    assert R._exploration_text({"explore": False}) == "off"


def test_gap_closed_by_hand():
    d = loop_data()
    g = R.gap_closed(d, "retrained")
    per = np.array([0.45, 0.5, 0.5])
    half = 4.302652729911275 * per.std(ddof=1) / math.sqrt(3)
    assert g["n"] == 3 and g["mean"] == pytest.approx(per.mean())
    assert (g["lo"], g["hi"]) == pytest.approx((per.mean() - half, per.mean() + half))
    assert R.gap_closed(d, "learned")["mean"] == pytest.approx(0.2)
    no_oracle = loop_data({k: v for k, v in LOOP_VALUES.items() if k != "oracle"},
                          [a for a in LOOP_ARMS if a["label"] != "oracle"])
    assert R.gap_closed(no_oracle, "retrained")["n"] == 0
    cell = L._gap_cell(d, "retrained")
    assert [s for _, s, _, _ in nums(cell)] == ["loop.gap.mean", "loop.gap.lo", "loop.gap.hi"]
    assert [float(v) for _, _, v, _ in nums(cell)] == pytest.approx([per.mean(), per.mean() - half, per.mean() + half])
    assert nums(cell)[0][3] == "48.3 %"
    assert L._gap_cell(d, "none") == "" and L._gap_cell(d, "oracle") == ""
    gaps = dict(LOOP_VALUES, retrained=shifted([0.0] * 3, [0.045, None, None]))
    one = loop_data(gaps)
    assert R.gap_closed(one, "retrained")["n"] == 1
    assert "ci" not in L._gap_cell(one, "retrained") and len(nums(L._gap_cell(one, "retrained"))) == 1


def test_loop_rows_and_table():
    d = loop_data()
    rows = R.loop_rows(d)
    assert [re.sub("<[^>]+>", "", r["arm"]) for r in rows] == ["none", "learned", "retrained", "retrained_tilt", "oracle"]
    r = {re.sub("<[^>]+>", "", r["arm"]): r for r in rows}
    assert r["none"]["base"] and not r["learned"]["base"]
    assert (r["retrained"]["ranker"], r["retrained"]["explore"], r["retrained"]["boost"]) == (
        "retrained daily", '<span class="label">T = 0.25, IPW</span>', "none")
    assert r["retrained_tilt"]["boost"] == "fixed_tilt" and r["oracle"]["ranker"] == "oracle"
    assert r["learned"]["ranker"] == "learned once" and r["none"]["ranker"] == "hand-set"
    assert nums(r["retrained"]["exposure"])[0][1:] == ("mean", nums(r["retrained"]["exposure"])[0][2], "6.1 %")
    assert nums(r["retrained"]["value"])[0][3] == "0.4683"
    assert r["retrained"]["d_value"] == _diff_cell(d, "retrained", VAL)
    assert r["retrained"]["d_exposure"] == _diff_cell(d, "retrained", EXP)
    assert r["retrained"]["gap"] == L._gap_cell(d, "retrained") and r["oracle"]["gap"] == ""
    no_oracle = loop_data({k: v for k, v in LOOP_VALUES.items() if k != "oracle"},
                          [a for a in LOOP_ARMS if a["label"] != "oracle"])
    assert all(x["gap"] is None for x in R.loop_rows(no_oracle))
    t = R.loop_table(_summary_dict(d))
    assert list(t.index) == ["none", "learned", "retrained", "retrained_tilt", "oracle"]
    x = t.loc["retrained"]
    assert (x["ranker"], x["exploration"], x["boost"]) == ("retrained daily", "T = 0.25, IPW", "none")
    assert x["new_creator_share"] == pytest.approx(0.061) and x["value_per_impression"] == pytest.approx(0.468333333)
    p, pv = d.paired["retrained"][EXP], d.paired["retrained"][VAL]
    assert [x[k] for k in ("d_share", "d_share_lo", "d_share_hi")] == pytest.approx([p["diff"], p["lo"], p["hi"]])
    assert [x[k] for k in ("d_value_rel", "d_value_rel_lo", "d_value_rel_hi")] == pytest.approx(
        [pv["rel"], pv["rel_lo"], pv["rel_hi"]])
    g = R.gap_closed(d, "retrained")
    assert [x[k] for k in ("gap_closed", "gap_closed_lo", "gap_closed_hi")] == pytest.approx([g["mean"], g["lo"], g["hi"]])
    assert t.loc["retrained_tilt", "boost"] == "fixed_tilt"
    assert all(math.isnan(t.loc[a, "gap_closed"]) for a in ("none", "oracle"))
    assert math.isnan(t.loc["none", "d_share"])
    assert t.attrs["sentence"] == text(R.loop_sentence_parts(d))
    assert "gap_closed" not in R.loop_table(_summary_dict(no_oracle)).columns


def test_loop_sentences_word_for_word():
    d = loop_data()
    assert text(R.loop_sentence_parts(d)) == (
        "Of the combinations that keep new creators' share of impressions at least at the hand-set weights' (6.0 %), "
        "retrained daily, exploration T = 0.25, IPW, no boost (retrained) gives the most user value: newcomers get "
        "6.1 %, and user value per impression rises by 11.5 % over the hand-set weights'.")
    worse = dict(LOOP_VALUES, learned=shifted([-0.011, -0.009, -0.010], [-0.01, -0.01, -0.01]),
                 retrained=shifted([-0.021, -0.019, -0.020], [0.004, -0.004, 0.0]),
                 retrained_tilt=shifted([-0.031, -0.029, -0.030], [0.1, 0.1, 0.1]))
    assert text(R.loop_sentence_parts(loop_data(worse))) == (
        "No combination keeps new creators' share of impressions at the hand-set weights' (6.0 %); closest comes "
        "learned once, exploration off, no boost (learned): newcomers get 5.0 %, at a cost of 2.4 % of user value "
        "per impression against the hand-set weights.")
    flat = dict(worse, learned=shifted([0.0, 0.001, -0.001], [0.004, -0.004, 0.0]))
    s = text(R.loop_sentence_parts(loop_data(flat)))
    assert s.startswith("Of the combinations that keep") and "(learned) gives the most user value: newcomers get 6.0 %, " \
        "with no detectable change in user value per impression against the hand-set weights." in s
    unknown = dict(flat, retrained=shifted([0.0, 0.001, -0.001], [None, None, None]))
    assert "(learned) gives the most" in text(R.loop_sentence_parts(loop_data(unknown)))  # unknown value: never best
    tilt = dict(worse, retrained_tilt=shifted([0.02, 0.021, 0.019], [0.1, 0.1, 0.1]))
    assert "boost fixed_tilt (retrained_tilt) gives the most" in text(R.loop_sentence_parts(loop_data(tilt)))
    one = build({"none": {EXP: [0.06], VAL: [0.4]}, "learned": {EXP: [0.05], VAL: [0.41]}},
                arms=LOOP_ARMS[:2], seeds=(1,),
                series={a: {"loop_value_per_impression_by_day": {"mean": [0.4]}} for a in ("none", "learned")})
    assert text(R.loop_sentence_parts(one)) == (
        "No combination keeps new creators' share of impressions at the hand-set weights' (6.0 %); closest comes "
        "learned once, exploration off, no boost (learned): newcomers get 5.0 %, user value per impression +2.5 % "
        "against the hand-set weights (one seed: run more to tell it from noise).")
    assert R.loop_sentence_parts(build({"none": BASE})) == []
    nobase = [a for a in LOOP_ARMS if a["label"] != "none"]
    assert R.loop_sentence_parts(loop_data({k: v for k, v in LOOP_VALUES.items() if k != "none"}, nobase)) == []
