"""The comparison report: one self-contained ``report.html`` from the summary files.

:func:`write_report` reads ``DIR/summary.csv`` (one row per run, every
scalar metric) and ``DIR/summary.json`` (the arms, options and per-arm means
of the series metrics) written by :mod:`sim.compare`, draws the figures
(:mod:`sim.report_figures`, also kept as ``DIR/figures/*.png`` and ``.svg``)
and renders ``DIR/report.html`` from the Jinja2 template
``sim/templates/report.html.j2``. Figures are inlined as base64 PNG, so the
page alone (sent by email, say) shows everything: no scripts, no remote or
relative resources.

Verdicts read the *measured window*: every day after the run's warm-up
(``[run] warmup_days`` simulated under ``none`` first, left out of every
metric; day 0 is the first measured day). Every number in the report's tables is computed from
``summary.csv``'s values: means over seeds, and differences against the
baseline ``none`` paired by seed with 95 % t intervals
(:func:`sim.stats.paired_difference`). Each such number is an element
``<span class="num" data-arm data-metric data-stat data-value>`` carrying the
exact value it displays, so a reader (or a test) can trace it to the CSV.
User value is always shown in one unit: % of ``none``'s value per impression.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.arms import BASELINE
from sim.metrics import group_metric
from sim.report_format import (EXPOSURE, VALUE, VALUE_METRICS, Num, _arm_html, _diff_cell, _is_share, _label,  # noqa: F401
                               _render, _stat_num, ci_parts, format_num, interval_decimals, span)
from sim.report_loop import (GAP, LOOP_RANKERS, LOOP_SERIES, _exploration_text, _oracle_arm,  # noqa: F401
                             gap_closed, loop_arm, loop_arms, loop_rows, loop_sentence_parts)
from sim.stats import CI_LEVEL, LONG_RUN_DAYS, payback_day, summarize_rows, t_quantile
from sim.summary import atomic_write, read_summary_csv

#: Key scalars, in the order the "numbers" table shows them.
KEY_METRICS = (
    "new_creator_exposure_share_measured", "new_creator_exposure_share", "exposure_gini",
    "new_creator_quality_exposure_corr", "breakout_rate_new", "new_creator_survival",
    "new_creator_survival_high_quality", "completion_rate_measured", "retention_measured",
)
#: Scalars whose paired differences against the baseline the "numbers" section tabulates.
PAIRED_METRICS = ("new_creator_exposure_share_measured", "value_per_impression_measured", "exposure_gini",
                  "breakout_rate_new", "new_creator_survival", "completion_rate_measured", "retention_measured")
#: Rates and the counts shown beside them: rate -> (numerator, denominator, unit of the count).
COUNTS = {
    "new_creator_exposure_share_measured": ("new_creator_impressions_measured", "impressions_measured", "impressions"),
    "breakout_rate_new": ("breakouts_new", "posts_observed_new", "posts"),
    "breakout_rate_established": ("breakouts_established", "posts_observed_established", "posts"),
}
#: Plain names of metrics for table headers and figure labels.
PLAIN = {
    "new_creator_exposure_share": "new-creator exposure, whole run",
    "new_creator_exposure_share_measured": "new-creator exposure",
    "exposure_gini": "exposure Gini",
    "new_creator_quality_exposure_corr": "quality-exposure rank corr. (new creators)",
    "breakout_rate_new": "breakout rate, new creators' posts",
    "breakout_rate_established": "breakout rate, other posts",
    "new_creator_survival": "new creators still posting",
    "new_creator_survival_high_quality": "best third of new creators still posting",
    "value_per_impression": "user value per impression, whole run",
    "value_per_impression_measured": "user value per impression",
    "completion_rate": "completion rate, whole run",
    "completion_rate_measured": "completion rate",
    "retention": "daily retention, whole run",
    "retention_measured": "daily retention",
    "ai_label_exposure_ratio": "AI-label exposure ratio, matched quality",
    "ai_label_exposure_ratio_engagement": "AI-label exposure ratio, matched engagement",
    "active_new_creators_last_week": "new creators posting, last week",
    "active_graduated_creators_last_week": "graduated newcomers posting, last week",
    "active_creators_last_week": "creators posting, last week",
    "posts_last_week": "posts a day, last week",
    "catalogue_diversity_last_week": "catalogue diversity (effective creators), last week",
    "newcomers_established_share": "newcomers who became established",
    "total_value": "cumulative user value",
    "live_exposure_share": "live rooms' share of impressions",
    "new_creator_live_impressions": "new creators' live-room impressions",
    "new_creator_live_share": "new creators' share of live impressions",
    "live_minutes": "minutes in live rooms",
    "live_gift_value": "gifts in live rooms, yuan",
    "gmv_settlement": "settlement GMV, yuan",
    "new_seller_gmv": "new sellers' settlement GMV, yuan",
    "new_seller_gmv_share": "new sellers' share of GMV",
    "seller_score_mean_joined": "seller score of sellers who joined",
    "daily_active_users_last_week": "daily active users, last week",
}
#: Scalars of the long-run section's table (paired against none).
LONG_RUN_METRICS = ("active_new_creators_last_week", "active_graduated_creators_last_week",
                    "active_creators_last_week", "posts_last_week", "catalogue_diversity_last_week",
                    "newcomers_established_share", "new_creator_survival", "total_value", "daily_active_users_last_week")
#: Scalars of the live-and-commerce section (runs with [live] or [sellers] on), paired against none.
LIVE_COMMERCE_METRICS = ("live_exposure_share", "new_creator_live_impressions", "new_creator_live_share",
                         "live_minutes", "live_gift_value", "gmv_settlement", "new_seller_gmv", "new_seller_gmv_share",
                         "seller_score_mean_joined")
#: Groupings of the by-group tables, in order, with their plain names.
GROUPINGS = (("age", "age band"), ("gender", "gender"), ("city", "city tier"), ("activity", "activity level"))


# --- data ------------------------------------------------------------------------------


@dataclass
class ReportData:
    """What the report is drawn from: the summary files, with statistics recomputed from the CSV."""

    out_dir: Path
    summary: dict
    rows: list
    arms: list  # dicts: label, policy, params, sweep, ranker, grid
    labels: list
    seeds: list
    stats: dict
    paired: dict
    series: dict
    info: dict
    variant: "ReportData | None" = None
    _cost: dict = field(default_factory=dict)

    @property
    def options(self) -> dict:
        return self.summary.get("options", {})

    @property
    def headline(self) -> list[str]:
        """The baseline and one arm per policy (first ranker): the middle of its grid, else its defaults."""
        by_policy: dict = {}
        for a in self.arms:
            if a.get("ranker") is None:
                by_policy.setdefault(a["policy"], []).append(a)
        out = []
        for pol, members in by_policy.items():
            grid = [m for m in members if m.get("grid")]
            plain = [m for m in members if m.get("sweep") is None]
            pick = grid[len(grid) // 2] if grid else (plain[0] if plain else members[0])
            out.append(pick["label"])
        return sorted(out, key=lambda a: a != BASELINE)

    @property
    def policy_arms(self) -> list[str]:
        return self.headline

    def arm(self, label: str) -> dict:
        return next(a for a in self.arms if a["label"] == label)

    def metric(self, name: str) -> str:
        """``name``, or its whole-run twin when this summary has no measured-window scalar."""
        if any(name in self.stats.get(a, {}) for a in self.labels):
            return name
        return name.replace("_measured", "")

    def values(self, arm: str, metric: str) -> np.ndarray:
        by = {int(r["seed"]): r.get(metric) for r in self.rows if r["arm"] == arm}
        return np.array([np.nan if by.get(s) is None else by[s] for s in self.seeds], dtype=np.float64)

    def cost(self, arm: str) -> dict:
        """Cost per point of exposure: change in user value (% of none's) per percentage point of new-creator
        exposure gained, per seed, then a t interval over seeds (NaN unless the exposure change is detectable)."""
        if arm in self._cost:
            return self._cost[arm]
        e, v = self.metric(EXPOSURE), self.metric(VALUE)
        pe = self.paired.get(arm, {}).get(e, {})
        nan = float("nan")
        out = {"n": 0, "mean": nan, "lo": nan, "hi": nan}
        if pe.get("detectable"):
            de = self.values(arm, e) - self.values(BASELINE, e)
            bv = self.values(BASELINE, v)
            dv = (self.values(arm, v) - bv) / abs(np.nanmean(bv))
            c = -dv / de  # % of value lost per point gained (both in the same 100x scale)
            c = c[np.isfinite(c)]
            if c.size:
                out["n"], out["mean"] = int(c.size), float(c.mean())
                if c.size > 1:
                    half = t_quantile(CI_LEVEL, c.size - 1) * float(c.std(ddof=1)) / math.sqrt(c.size)
                    out["lo"], out["hi"] = out["mean"] - half, out["mean"] + half
        self._cost[arm] = out
        return out


def load_report_data(out_dir) -> ReportData:
    """Read ``summary.csv`` and ``summary.json`` from ``out_dir`` (and ``out_dir/variant`` when present)."""
    out = Path(out_dir)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    rows = read_summary_csv(out / "summary.csv")
    labels = [a["label"] for a in summary["arms"]]
    seeds = sorted({int(r["seed"]) for r in rows})
    metrics = [c for c in rows[0] if c not in ("run_id", "arm", "policy", "params", "seed")] if rows else []
    stats, paired = summarize_rows(rows, labels, metrics, seeds, summary.get("baseline", BASELINE),
                                   summary.get("ci_level", 0.95))
    d = ReportData(out_dir=out, summary=summary, rows=rows, arms=summary["arms"], labels=labels, seeds=seeds,
                   stats=stats, paired=paired, series=summary.get("series", {}), info=summary.get("metric_info", {}))
    if (out / "variant" / "summary.json").is_file():
        d.variant = load_report_data(out / "variant")
    return d


def _from_summary(s: dict) -> ReportData:
    rows = [dict(r["scalars"], run_id=r["run_id"], arm=r["arm"], policy=r["policy"], seed=int(r["seed"]))
            for r in s["runs"]]
    return ReportData(out_dir=Path("."), summary=s, rows=rows, arms=s["arms"], labels=[a["label"] for a in s["arms"]],
                      seeds=list(s["seeds"]), stats=s["stats"], paired=s["paired"], series=s.get("series", {}),
                      info=s.get("metric_info", {}))


# --- policies and verdicts -------------------------------------------------------------


def _policy_class(name: str):
    from ranker.policies import REGISTRY

    return REGISTRY.get(name)


def policy_scope(name: str) -> str | None:
    """Whom a policy acts on at its defaults (a key of ``ranker.policies.SCOPES``)."""
    cls = _policy_class(name)
    if cls is None:
        return None
    return getattr(cls, "fixed_scope", None) or getattr(cls.Params(), "scope", None)


def policy_sentence(name: str) -> str:
    """One plain sentence: what the policy does (its docstring's first line)."""
    cls = _policy_class(name)
    if cls is None:
        return ""
    if hasattr(cls, "summary"):
        return cls.summary()
    return (cls.__doc__ or "").strip().splitlines()[0].strip()


def design_note(d: ReportData, arm: str) -> str | None:
    """Why a policy may lower new creators' exposure by design (``None`` when it should not)."""
    pol = d.arm(arm)["policy"]
    scope = policy_scope(pol)
    if scope == "parity":
        return (f"By design: {pol} is a parity controller that steers exposure toward each creator's merit, "
                "not a boost for newcomers, so it may move traffic away from them.")
    if scope == "ugc":
        return (f"By design: {pol} tilts toward ordinary (UGC) creators of any age, so newcomers can lose "
                "share to established ordinary creators.")
    return None


def verdict_parts(d: ReportData, arm: str) -> list:
    """The one-sentence verdict of ``arm`` against the baseline, on the measured window, as text and :class:`Num` parts."""
    if arm == BASELINE:
        return ["The baseline: no boost, the ranker's score alone decides."]
    e, v = d.metric(EXPOSURE), d.metric(VALUE)
    pe = d.paired.get(arm, {}).get(e)
    pv = d.paired.get(arm, {}).get(v)
    if pe is None or pv is None or pe["n"] == 0:
        return ["No runs of this policy and the baseline on common seeds."]
    base = Num(pe["base"], "pct", arm, e, "paired.base")
    mine = Num(pe["arm"], "pct", arm, e, "paired.arm")
    if pe["n"] < 2:
        return ["New-creator exposure ", base, " under none, ", mine, " here; a single seed cannot tell "
                "a real difference from noise: run more seeds."]
    if pe["detectable"] and pe["diff"] > 0:
        parts, raised = ["Raises new-creator exposure from ", base, " to ", mine], True
    elif pe["detectable"]:
        parts, raised = ["Lowers new-creator exposure from ", base, " to ", mine], False
    else:
        parts, raised = ["No detectable change in new-creator exposure (", mine, " against ", base, ")"], False
    rel = Num(pv["rel"], "rel", arm, v, "paired.rel", absolute=True)
    if pv["detectable"] and pv["diff"] < 0:
        parts += [", at a cost of ", rel, " of user value per impression."]
    elif pv["detectable"]:
        parts += [", and raises user value per impression by ", rel, "."]
    elif raised:
        parts += [" at no detectable cost in user value."]
    else:
        parts += [", with no detectable change in user value."]
    if pe["detectable"] and pe["diff"] < 0:
        note = design_note(d, arm)
        parts += [" " + (note or "Not its design: read this as a defect of the policy.")]
    return parts


def verdict_lines(source) -> list[str]:
    """Plain-text verdicts, one line per arm, for the terminal.

    ``source``: a comparison directory, or the summary dict that
    :func:`sim.summary.write_summary` returned.
    """
    d = _from_summary(source) if isinstance(source, dict) else load_report_data(source)
    width = max((len(a) for a in d.labels), default=0)
    return [f"{a:<{width}}  {_render(verdict_parts(d, a), False)}" for a in d.labels]


def holds(d: ReportData, v: ReportData, arm: str) -> tuple[bool, str]:
    """Whether ``arm``'s headline verdict holds on the variant: same direction (or same "no detectable change")
    for new-creator exposure and for user value."""
    def sign(x, metric):
        p = x.paired.get(arm, {}).get(x.metric(metric))
        if p is None or p["n"] < 2:
            return None
        return 0 if not p["detectable"] else (1 if p["diff"] > 0 else -1)

    words = {1: "up", -1: "down", 0: "no detectable change", None: "not run"}
    a = (sign(d, EXPOSURE), sign(d, VALUE))
    b = (sign(v, EXPOSURE), sign(v, VALUE)) if arm in v.labels else (None, None)
    ok = a == b and None not in a
    txt = (f"exposure {words[a[0]]}, value {words[a[1]]} here; exposure {words[b[0]]}, value {words[b[1]]} "
           "on the variant")
    return ok, txt


# --- tables ----------------------------------------------------------------------------


def _count_cell(d: ReportData, arm: str, metric: str) -> str:
    """A rate's counts beside it, mean over seeds: ``k of n unit``."""
    num, den, unit = COUNTS[metric]
    if num not in d.stats[arm]:
        return ""
    return (span(_stat_num(d, arm, num)) + " of " + span(_stat_num(d, arm, den)) + f" {unit}")


def verdict_rows(d: ReportData) -> list[dict]:
    rows = []
    e, v = d.metric(EXPOSURE), d.metric(VALUE)
    for a in d.headline:
        arm = d.arm(a)
        strength = "" if arm.get("sweep") is None else f"{arm['sweep'][0]} = {arm['sweep'][1]}"
        exp = span(_stat_num(d, a, e))
        if e in COUNTS:
            exp += "<br><span class=\"ci\">" + _count_cell(d, a, e) + "</span>"
        rows.append({"arm": _arm_html(a), "strength": _label(strength), "base": a == BASELINE,
                     "exposure": exp, "d_exposure": "" if a == BASELINE else _diff_cell(d, a, e),
                     "d_value": "the baseline" if a == BASELINE else _diff_cell(d, a, v),
                     "verdict": _render(verdict_parts(d, a), True)})
    return rows


def policy_rows(d: ReportData) -> list[dict]:
    rows = []
    by_policy: dict = {}
    for a in d.arms:
        by_policy.setdefault(a["policy"], []).append(a)
    head = set(d.headline)
    for pol, members in by_policy.items():
        settings = []
        for m in members:
            p = m.get("params") or {}
            txt = ", ".join(f"{k} = {v}" for k, v in p.items()) or "its defaults"
            if m.get("ranker"):
                txt += f" (ranker {m['ranker']})"
            settings.append(("<b>" + html.escape(txt) + "</b> (headline)") if m["label"] in head else html.escape(txt))
        cls = _policy_class(pol)
        defaults = ""
        if cls is not None and hasattr(cls, "Params"):
            dd = cls.Params().to_dict()
            defaults = ", ".join(f"{k} = {v}" for k, v in dd.items())
        scope = policy_scope(pol)
        rows.append({"policy": _arm_html(pol), "does": html.escape(policy_sentence(pol)),
                     "scope": html.escape(scope or ""), "ran": "; ".join(settings),
                     "defaults": html.escape(defaults or "none")})
    return rows


def frontier_rows(d: ReportData) -> list[dict]:
    e, v = d.metric(EXPOSURE), d.metric(VALUE)
    rows = []
    for a in d.labels:
        arm = d.arm(a)
        if a == BASELINE or not (arm.get("grid") or arm.get("sweep")):
            continue
        c = d.cost(a)
        mid = Num(c["mean"], "snum", a, "cost_per_point", "cost.mean")
        cost = span(mid)
        if c["n"] > 1:
            cost += "<br><span class=\"ci\">" + _render(ci_parts(Num(c["lo"], "snum", a, "cost_per_point", "cost.lo"),
                                                               Num(c["hi"], "snum", a, "cost_per_point", "cost.hi"),
                                                               mid), True) + "</span>"
        elif not math.isfinite(c["mean"]):
            cost = "n/a: no detectable exposure change"
        rows.append({"arm": _arm_html(a), "strength": _label(f"{arm['sweep'][0]} = {arm['sweep'][1]}"),
                     "d_exposure": _diff_cell(d, a, e), "d_value": _diff_cell(d, a, v), "cost": cost})
    return rows


def group_table(d: ReportData, kind: str) -> dict:
    """The by-group table of ``kind`` (``value_per_impression`` or ``new_creator_exposure_share``)."""
    arms = [a for a in d.headline if a != BASELINE]
    rows = []
    for grouping, gname in GROUPINGS:
        prefix = f"group.users.{grouping}="
        names = [m[len(prefix):] for m in d.summary.get("scalars", []) if m.startswith(prefix)]
        for name in names:
            users = span(_stat_num(d, BASELINE, group_metric("users", grouping, name)))
            cells = [_diff_cell(d, a, group_metric(kind, grouping, name)) for a in arms]
            rows.append({"group": _label(f"{gname}: {name}"), "users": users, "cells": cells})
    return {"arms": [_arm_html(a) for a in arms], "rows": rows}


def parity_rows(d: ReportData) -> list[dict]:
    rows = []
    for a in d.headline:
        cells, noise = [], []
        for m in ("ai_label_exposure_ratio", "ai_label_exposure_ratio_engagement"):
            st = d.stats[a].get(m)
            if st is None:
                cells.append("")
                continue
            mid = _stat_num(d, a, m)
            txt = span(mid)
            if st["n"] > 1:
                txt += "<br><span class=\"ci\">" + _render(ci_parts(_stat_num(d, a, m, "lo"), _stat_num(d, a, m, "hi"),
                                                                   mid), True) + "</span>"
            cells.append(txt)
            if st["n"] > 1 and math.isfinite(st["lo"]):
                noise.append(st["lo"] <= 1 <= st["hi"])
        if not noise:
            says = "Too few seeds to tell."
        elif all(noise):
            says = "No detectable gap: both intervals include parity, so the difference is noise."
        elif any(noise):
            says = "Mixed: one interval includes parity, the other does not."
        else:
            lo = d.stats[a]["ai_label_exposure_ratio"]["mean"] < 1
            says = ("Labelled posts get detectably " + ("fewer" if lo else "more")
                    + " impressions than unlabelled ones at matched quality and engagement.")
        posts = span(_stat_num(d, a, "ai_posts")) if "ai_posts" in d.stats[a] else ""
        rows.append({"arm": _arm_html(a), "quality": cells[0], "engagement": cells[1], "posts": posts,
                     "says": html.escape(says)})
    return rows


def breakout_rows(d: ReportData) -> list[dict]:
    """Breakouts as counts pooled over seeds, with an exact (Clopper-Pearson) interval of the rate."""
    from scipy.stats import binomtest

    rows = []
    for a in d.headline:
        cells = []
        for metric in ("breakout_rate_new", "breakout_rate_established"):
            num, den, unit = COUNTS[metric]
            k = int(np.nansum(d.values(a, num)))
            n = int(np.nansum(d.values(a, den)))
            if num not in d.stats[a] or n == 0:
                cells.append(span(_stat_num(d, a, metric)))
                continue
            ci = binomtest(k, n).proportion_ci(CI_LEVEL, method="exact")
            lo, hi = Num(ci.low, "pct", a, metric, "pooled.lo"), Num(ci.high, "pct", a, metric, "pooled.hi")
            rate = Num(k / n, "pct", a, metric, "pooled.rate")
            cells.append(f"{span(Num(k, 'int', a, num, 'sum'))} of {span(Num(n, 'int', a, den, 'sum'))} {unit}"
                         f"<br><span class=\"ci\">{span(rate)} " + _render(ci_parts(lo, hi, rate), True) + "</span>")
        rows.append({"arm": _arm_html(a), "new": cells[0], "other": cells[1]})
    return rows


def means_table(d: ReportData, metrics, arms=None) -> dict:
    arms = d.labels if arms is None else arms
    metrics = [m for m in metrics if any(m in d.stats[a] for a in arms) and m not in VALUE_METRICS]
    head = [(html.escape(PLAIN.get(m, m)), html.escape(d.info.get(m, {}).get("description", ""))) for m in metrics]
    rows = []
    for a in arms:
        cells = []
        for m in metrics:
            c = span(_stat_num(d, a, m))
            if m in COUNTS and COUNTS[m][0] in d.stats[a]:
                c += "<br><span class=\"ci\">" + _count_cell(d, a, m) + "</span>"
            cells.append(c)
        rows.append({"arm": _arm_html(a), "cells": cells})
    return {"head": head, "rows": rows}


def paired_table(d: ReportData, metrics, arms=None) -> dict:
    arms = [a for a in d.labels if a != BASELINE] if arms is None else arms
    metrics = [d.metric(m) for m in metrics]
    metrics = list(dict.fromkeys(m for m in metrics if any(m in d.paired.get(a, {}) for a in arms)))
    head = [html.escape(PLAIN.get(m, m) + (" (% of none's)" if m in VALUE_METRICS else "")) for m in metrics]
    return {"head": head, "rows": [{"arm": _arm_html(a), "cells": [_diff_cell(d, a, m) for m in metrics]}
                                   for a in arms]}


def robustness_rows(d: ReportData) -> tuple[list[dict], str]:
    v = d.variant
    if v is None:
        return [], ""
    rows, held = [], []
    for a in v.headline:
        if a == BASELINE:
            continue
        ok, txt = holds(d, v, a)
        (held.append(a) if ok else None)
        rows.append({"arm": _arm_html(a), "verdict": _render(verdict_parts(v, a), True),
                     "holds": "holds" if ok else "does not hold", "why": html.escape(txt)})
    n = len(rows)
    line = (f"{len(held)} of {n} headline verdicts hold on the variant"
            + (f" ({', '.join(held)})" if held else "") + (
                "; the others change direction or detectability." if len(held) < n else "."))
    return rows, line


def loop_table(source):
    """The learning-in-the-loop table as a ``pandas.DataFrame``, one row per arm (index ``arm``).

    Columns: ``ranker``, ``exploration``, ``boost``; ``new_creator_share`` (mean over seeds) with its
    paired difference against the hand-set baseline ``d_share`` (``d_share_lo``, ``d_share_hi``);
    ``value_per_impression`` with its relative paired difference ``d_value_rel`` (``_lo``, ``_hi``);
    ``gap_closed`` (``_lo``, ``_hi``) when the comparison has an oracle arm. ``source``: a comparison
    directory or the summary dict :func:`sim.summary.write_summary` returned. The frame's attribute
    ``attrs["sentence"]`` is the section's sentence.
    """
    import pandas as pd

    d = _from_summary(source) if isinstance(source, dict) else load_report_data(source)
    e, v = d.metric(EXPOSURE), d.metric(VALUE)
    nan = float("nan")
    rows = []
    for x in loop_arms(d):
        a = x["label"]
        pe, pv = d.paired.get(a, {}).get(e, {}), d.paired.get(a, {}).get(v, {})
        row = {"arm": a, "ranker": LOOP_RANKERS[x["ranker"]], "exploration": _exploration_text(x),
               "boost": x["boost"] or "none", "new_creator_share": d.stats[a].get(e, {}).get("mean", nan),
               "d_share": pe.get("diff", nan), "d_share_lo": pe.get("lo", nan), "d_share_hi": pe.get("hi", nan),
               "value_per_impression": d.stats[a].get(v, {}).get("mean", nan),
               "d_value_rel": pv.get("rel", nan), "d_value_rel_lo": pv.get("rel_lo", nan),
               "d_value_rel_hi": pv.get("rel_hi", nan)}
        if _oracle_arm(d) is not None:
            g = gap_closed(d, a) if a not in (BASELINE, _oracle_arm(d)) else {"mean": nan, "lo": nan, "hi": nan}
            row.update(gap_closed=g["mean"], gap_closed_lo=g["lo"], gap_closed_hi=g["hi"])
        rows.append(row)
    df = pd.DataFrame(rows).set_index("arm") if rows else pd.DataFrame()
    df.attrs["sentence"] = _render(loop_sentence_parts(d), False)
    return df


# --- the page --------------------------------------------------------------------------


def proportions_text(p) -> str:
    """The world's proportions (``WorldConfig.proportions``) as a phrase."""
    if not p:
        return ""
    return (f"{p['creators_per_1k_users']:.3g} creators and {p['new_creators_per_1k_users_per_day']:.3g} new "
            f"creators a day per 1,000 users, {p['posts_per_user_per_day']:.3g} posts a day per user (before any "
            f"creator quits), {p['friends_per_user']:.3g} friends and {p['follows_per_user']:.3g} initial follows "
            "per user; --users keeps these")


def payback_lines(d: ReportData) -> list[str]:
    """Per headline policy: when its cumulative user value catches up with none's (mean over seeds)."""
    out = []
    ps = d.summary.get("paired_series", {})
    for a in d.headline:
        if a == BASELINE:
            continue
        s = ps.get(a, {}).get("cumulative_value_by_day")
        if not s:
            continue
        diff = s["diff"]
        n = len(diff)
        day = payback_day(diff)
        neg = any(v is not None and v < 0 for v in diff)
        if day is not None:
            out.append(f"{a}: cumulative user value falls below none's and catches up on day {day} of {n}.")
        elif not neg:
            out.append(f"{a}: cumulative user value never falls below none's over the {n} days.")
        else:
            out.append(f"{a}: cumulative user value is still below none's on the last of the {n} days "
                       "(it does not pay back within this run).")
    return out


def live_commerce_tables(d: ReportData) -> dict | None:
    """The live-and-commerce section's tables (means, paired against none), or None when no run had them."""
    if not any(m in d.stats[a] for a in d.labels for m in LIVE_COMMERCE_METRICS):
        return None
    paired = paired_table(d, LIVE_COMMERCE_METRICS) if d.paired else None
    return {"means": means_table(d, LIVE_COMMERCE_METRICS), "paired": paired if paired and paired["head"] else None}


def render_html(d: ReportData, figures) -> str:
    """The text of ``report.html`` (``figures``: (name, title, caption, png bytes) each)."""
    import base64

    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("sim", "templates"), autoescape=False,
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    opts = d.options
    start = None
    st = d.stats.get(BASELINE, {}).get("measured_window_start", {})
    if st.get("n"):
        start = int(st["mean"])
    days = opts.get("days")
    figs = [{"name": n, "title": html.escape(t), "caption": html.escape(c),
             "src": "data:image/png;base64," + base64.b64encode(png).decode("ascii")} for n, t, c, png in figures]
    rob_rows, rob_line = robustness_rows(d)
    long_run = days is not None and days >= LONG_RUN_DAYS
    others = [m for m in d.summary.get("scalars", []) if m not in KEY_METRICS and not m.startswith("group.")]
    ctx = {
        "version": html.escape(str(opts.get("version", ""))),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "seeds": ", ".join(str(s) for s in d.seeds), "n_seeds": len(d.seeds),
        "users": opts.get("users"), "creators": opts.get("creators"), "new_per_day": opts.get("new_creators_per_day"),
        "warmup": opts.get("warmup_days", 0), "proportions": html.escape(proportions_text(opts.get("proportions"))),
        "long_run": lr if (lr := paired_table(d, LONG_RUN_METRICS) if long_run and d.paired else None) and lr["head"]
        else None,
        "long_run_days": LONG_RUN_DAYS, "payback": [html.escape(t) for t in payback_lines(d)] if long_run else [],
        "days": days, "start": start, "new_days": opts.get("new_creator_days"),
        "command": html.escape(str(opts.get("command", "ranksim compare"))),
        "ai_reaction": opts.get("ai_label_play", 0.0),
        "verdicts": verdict_rows(d), "policies": policy_rows(d), "frontier": frontier_rows(d),
        "groups_value": group_table(d, "value_per_impression"),
        "groups_exposure": group_table(d, "new_creator_exposure_share"),
        "has_groups": any(m.startswith("group.") for m in d.summary.get("scalars", [])),
        "parity": parity_rows(d), "breakouts": breakout_rows(d),
        "means": means_table(d, KEY_METRICS), "paired": paired_table(d, PAIRED_METRICS) if d.paired else None,
        "others": means_table(d, others) if others else None,
        "live_commerce": live_commerce_tables(d),
        "loop": loop_rows(d), "loop_sentence": _render(loop_sentence_parts(d), True),
        "loop_gap": _oracle_arm(d) is not None,
        "figures": figs, "variant": html.escape(str(opts.get("variant", ""))), "robustness": rob_rows,
        "robustness_line": html.escape(rob_line),
        "metric_defs": [(html.escape(m), html.escape(d.info.get(m, {}).get("unit", "")),
                         html.escape(d.info.get(m, {}).get("description", ""))) for m in d.summary.get("scalars", [])],
    }
    return env.get_template("report.html.j2").render(**ctx)


def write_report(out_dir) -> Path:
    """Draw the figures and write ``out_dir/report.html`` from the summary files; return its path."""
    from sim.report_figures import write_figures

    d = load_report_data(out_dir)
    figures = write_figures(d)
    path = Path(out_dir) / "report.html"
    atomic_write(path, render_html(d, figures))
    return path
