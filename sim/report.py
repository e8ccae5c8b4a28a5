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
from sim.stats import CI_LEVEL, LONG_RUN_DAYS, payback_day, summarize_rows, t_quantile
from sim.summary import atomic_write, read_summary_csv

#: The measured-window scalars the verdicts read (whole-run ones when a summary lacks them).
EXPOSURE = "new_creator_exposure_share_measured"
VALUE = "value_per_impression_measured"
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
    "daily_active_users_last_week": "daily active users, last week",
}
#: The user-value metrics: always shown as a change in % of none's level.
VALUE_METRICS = {"value_per_impression", "value_per_impression_measured", "total_value"}
#: Scalars of the long-run section's table (paired against none).
LONG_RUN_METRICS = ("active_new_creators_last_week", "active_graduated_creators_last_week",
                    "active_creators_last_week", "posts_last_week", "catalogue_diversity_last_week",
                    "newcomers_established_share", "new_creator_survival", "total_value", "daily_active_users_last_week")
#: Groupings of the by-group tables, in order, with their plain names.
GROUPINGS = (("age", "age band"), ("gender", "gender"), ("city", "city tier"), ("activity", "activity level"))
_MINUS = "\u2212"


# --- numbers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Num:
    """A number shown in the report, with where it comes from.

    ``kind``: ``"pct"`` (a share, shown in %), ``"pts"`` (a difference of
    shares, in percentage points, signed), ``"rel"`` (a relative change,
    in %, signed), ``"num"`` (4 significant digits), ``"snum"`` (the same,
    signed), ``"int"`` (a count). ``absolute``: the magnitude of ``value``
    is shown. ``dec``: decimals to show (default: by kind and size).
    """

    value: float
    kind: str
    arm: str
    metric: str
    stat: str
    absolute: bool = False
    bare: bool = False
    dec: int | None = None


def _decimals(x: float, sig: int = 4) -> int:
    if x == 0 or not math.isfinite(x):
        return 0
    return int(min(12, max(0, sig - 1 - math.floor(math.log10(abs(x))))))


def _scale(kind: str) -> float:
    return 100.0 if kind in ("pct", "pts", "rel") else 1.0


def format_num(n: Num) -> str:
    """The text a :class:`Num` is shown as (``n/a`` when undefined)."""
    v = n.value
    if v is None or not math.isfinite(v):
        return "n/a"
    if n.absolute:
        v = abs(v)
    signed = n.kind in ("pts", "rel", "snum") and not n.absolute
    x = _scale(n.kind) * v
    if n.kind == "int":
        dec = 0 if n.dec is None else n.dec
    elif n.dec is not None:
        dec = n.dec
    elif n.kind in ("pct", "pts", "rel"):
        dec = 1 if abs(x) >= 1 or x == 0 else 2
    else:
        dec = _decimals(x)
    body = f"{abs(x):,.{dec}f}"
    unit = "" if n.bare or n.kind not in ("pct", "pts", "rel") else (" pts" if n.kind == "pts" else " %")
    if float(body.replace(",", "")) == 0:
        sign = ""
    elif x < 0:
        sign = _MINUS
    else:
        sign = "+" if signed else ""
    return f"{sign}{body}{unit}"


def interval_decimals(lo: float, hi: float, kind: str, mid: float | None = None) -> int | None:
    """Decimals that show an interval's ends (and its middle) as different numbers.

    Starts from the kind's usual decimals and adds digits (up to 8) until
    distinct values print differently: an interval of positive width never
    prints as ``(+3.0 to +3.0)``. ``None`` for an undefined interval.
    """
    vals = [float(v) for v in (lo, hi, mid) if v is not None and math.isfinite(v)]
    if len(vals) < 2:
        return None
    k = _scale(kind)
    if kind == "int":
        start = 0
    elif kind in ("pct", "pts", "rel"):
        start = max(1 if abs(k * v) >= 1 or v == 0 else 2 for v in vals)
    else:
        start = max(_decimals(k * v) for v in vals)
    for dec in range(start, 9):
        if len({f"{k * v:.{dec}f}" for v in vals}) == len(set(vals)):
            return dec
    return 8


def span(n: Num) -> str:
    """The HTML of a :class:`Num`: its text in a span carrying the exact value."""
    v = n.value
    dv = repr(float(v)) if v is not None and math.isfinite(v) else "nan"
    extra = ' data-abs="1"' if n.absolute else ""
    return (f'<span class="num" data-arm="{html.escape(n.arm)}" data-metric="{html.escape(n.metric)}" '
            f'data-stat="{n.stat}" data-value="{dv}" data-scale="{_scale(n.kind):g}"{extra}>'
            f'{html.escape(format_num(n))}</span>')


def _render(parts, as_html: bool) -> str:
    out = []
    for p in parts:
        if isinstance(p, Num):
            out.append(span(p) if as_html else format_num(p))
        else:
            out.append(html.escape(p) if as_html else p)
    return "".join(out)


def ci_parts(lo: Num, hi: Num, mid: Num | None = None) -> list:
    """``(lo to hi)`` with enough decimals that the two ends differ."""
    dec = interval_decimals(lo.value, hi.value, lo.kind, None if mid is None else mid.value)
    lo2 = Num(lo.value, lo.kind, lo.arm, lo.metric, lo.stat, lo.absolute, True, dec)
    hi2 = Num(hi.value, hi.kind, hi.arm, hi.metric, hi.stat, hi.absolute, True, dec)
    return ["(", lo2, " to ", hi2, ")"]


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


def _arm_html(label: str) -> str:
    return f'<code class="arm">{html.escape(label)}</code>'


def _label(text: str) -> str:
    """A row's name (a strength, a user group): text, not a number traced to the CSV."""
    return f'<span class="label">{html.escape(text)}</span>' if text else ""


def _is_share(d: ReportData, metric: str) -> bool:
    return "share" in d.info.get(metric, {}).get("unit", "")


def _stat_num(d: ReportData, arm: str, metric: str, stat: str = "mean") -> Num:
    kind = "pct" if _is_share(d, metric) else ("int" if d.info.get(metric, {}).get("unit") in
                                                ("impressions", "posts", "users") else "num")
    return Num(d.stats[arm].get(metric, {}).get(stat, float("nan")), kind, arm, metric, stat)


def _diff_cell(d: ReportData, arm: str, metric: str) -> str:
    """A paired difference and its interval: value metrics in % of none's, shares in points."""
    p = d.paired.get(arm, {}).get(metric)
    if p is None:
        return ""
    if metric in VALUE_METRICS or metric.startswith("group.value_per_impression"):
        kind, s, lo, hi = "rel", "rel", "rel_lo", "rel_hi"
    else:
        kind = "pts" if _is_share(d, metric) else "snum"
        s, lo, hi = "diff", "lo", "hi"
    mid = Num(p[s], kind, arm, metric, f"paired.{s}")
    txt = span(mid)
    if p["n"] > 1:
        txt += "<br><span class=\"ci\">" + _render(ci_parts(Num(p[lo], kind, arm, metric, f"paired.{lo}"),
                                                           Num(p[hi], kind, arm, metric, f"paired.{hi}"), mid),
                                                  True) + "</span>"
    return txt


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


# --- learning in the loop --------------------------------------------------------------

#: The loop's per-day metrics (``sim.loop``) the learning-in-the-loop figure draws, with plain names;
#: ``True``: shown in % (shares).
LOOP_SERIES = (("loop_value_per_impression_by_day", "user value per impression", False),
               ("loop_new_creator_share_by_day", "new creators' share of impressions (%)", True),
               ("loop_exposure_gini_by_day", "exposure Gini across live posts", False),
               ("loop_coverage_by_day", "live posts shown at least once (%)", True),
               ("loop_top1pct_share_by_day", "top 1 % of posts' share of impressions (%)", True),
               ("loop_feed_jaccard_by_day", "feed overlap of users (Jaccard)", False),
               ("loop_ndcg10_next_day_by_day", "retrained model's NDCG@10, next day", False))
#: The rankers of the loop section, in the order the table lists them, with their plain names.
LOOP_RANKERS = {"hand": "hand-set", "learned_once": "learned once", "retrained": "retrained daily",
                "oracle": "oracle"}
#: The loop statistic of the table: share of the hand-set-to-oracle gap in user value closed.
GAP = "loop.gap"


def loop_arm(d: ReportData, label: str) -> dict | None:
    """What an arm of a comparison with the loop's metrics is, or ``None`` when its runs carry none.

    ``ranker`` (a key of :data:`LOOP_RANKERS`), ``explore`` (bool), ``temperature``, ``ipw``,
    ``boost`` (the policy, ``None`` for ``none``). An arm of the loop grid carries its ``[loop]``
    section (``sim.arms.loop_grid_arms``); another arm has the comparison's, applied to learned
    rankers only (hand and oracle arms are then fixed baselines, ``sim.arms.Arm.config``).
    """
    if "loop_value_per_impression_by_day" not in d.series.get(label, {}):
        return None
    a = d.arm(label)
    spec = a.get("ranker") or d.options.get("ranker") or "hand"
    kind = spec.split(":", 1)[0]
    loop = a.get("loop")
    if loop is None:
        loop = d.options.get("loop") or {} if kind in ("learned", "distilled") else {}
    if kind == "oracle":
        role = "oracle"
    elif (loop.get("retrain_every") or 0) > 0:
        role = "retrained"
    elif kind in ("learned", "distilled"):
        role = "learned_once"
    else:
        role = "hand"
    explore = loop.get("explore", "none") != "none"
    return {"label": label, "ranker": role, "explore": explore,
            "temperature": loop.get("temperature") if explore else None,
            "ipw": bool(loop.get("ipw")) and role == "retrained",
            "boost": None if a["policy"] == BASELINE else a["policy"]}


def loop_arms(d: ReportData) -> list[dict]:
    """:func:`loop_arm` of every arm that carries the loop's metrics, in the comparison's order."""
    return [x for x in (loop_arm(d, a) for a in d.labels) if x is not None]


def _oracle_arm(d: ReportData) -> str | None:
    return next((x["label"] for x in loop_arms(d) if x["ranker"] == "oracle" and x["boost"] is None), None)


def gap_closed(d: ReportData, arm: str) -> dict:
    """Share of the gap in user value per impression between the hand-set baseline and the oracle that
    ``arm`` closes, ``(v - v_hand) / (v_oracle - v_hand)`` per seed, mean and t interval over seeds."""
    nan = float("nan")
    out = {"n": 0, "mean": nan, "lo": nan, "hi": nan}
    orc = _oracle_arm(d)
    if orc is None:
        return out
    v = d.metric(VALUE)
    base = d.values(BASELINE, v)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = (d.values(arm, v) - base) / (d.values(orc, v) - base)
    g = g[np.isfinite(g)]
    if g.size:
        out["n"], out["mean"] = int(g.size), float(g.mean())
        if g.size > 1:
            sd = float(g.std(ddof=1))
            half = t_quantile(CI_LEVEL, g.size - 1) * sd / math.sqrt(g.size)
            out["lo"], out["hi"] = out["mean"] - half, out["mean"] + half
    return out


def _gap_cell(d: ReportData, arm: str) -> str:
    if arm == BASELINE or arm == _oracle_arm(d):
        return ""
    g = gap_closed(d, arm)
    v = d.metric(VALUE)
    mid = Num(g["mean"], "pct", arm, v, f"{GAP}.mean")
    txt = span(mid)
    if g["n"] > 1:
        txt += "<br><span class=\"ci\">" + _render(ci_parts(Num(g["lo"], "pct", arm, v, f"{GAP}.lo"),
                                                           Num(g["hi"], "pct", arm, v, f"{GAP}.hi"), mid),
                                                  True) + "</span>"
    return txt


def _exploration_text(x: dict) -> str:
    if not x["explore"]:
        return "off"
    return f"T = {x['temperature']:g}" + (", IPW" if x["ipw"] else "")


def loop_rows(d: ReportData) -> list[dict]:
    """The learning-in-the-loop table: per arm its ranker, exploration and boost, new-creator share and user
    value per impression with their paired differences against the hand-set baseline, and the gap closed."""
    e, v = d.metric(EXPOSURE), d.metric(VALUE)
    has_oracle = _oracle_arm(d) is not None
    rows = []
    for x in loop_arms(d):
        a = x["label"]
        rows.append({"arm": _arm_html(a), "base": a == BASELINE, "ranker": html.escape(LOOP_RANKERS[x["ranker"]]),
                     "explore": _label(_exploration_text(x)), "boost": html.escape(x["boost"] or "none"),
                     "exposure": span(_stat_num(d, a, e)), "d_exposure": _diff_cell(d, a, e),
                     "value": span(Num(d.stats[a].get(v, {}).get("mean", float("nan")), "num", a, v, "mean")),
                     "d_value": _diff_cell(d, a, v), "gap": _gap_cell(d, a) if has_oracle else None})
    return rows


def loop_sentence_parts(d: ReportData) -> list:
    """Which combination keeps newcomers visible, at what cost, as text and :class:`Num` parts.

    "Visible": new creators' share of impressions not detectably below the hand-set baseline's
    (with one seed: not below it). Among the arms that keep it (the oracle aside), the one with
    the most user value per impression is named, with its change in value against the baseline:
    a cost when the paired interval lies below 0, a gain when above, else no detectable change.
    When none keeps it, the arm that comes closest is named instead.
    """
    e, v = d.metric(EXPOSURE), d.metric(VALUE)
    cands = [x for x in loop_arms(d) if x["ranker"] != "oracle" and x["label"] != BASELINE
             and d.paired.get(x["label"], {}).get(e, {}).get("n")]
    if not cands or BASELINE not in d.labels:
        return []
    base = Num(d.paired[cands[0]["label"]][e]["base"], "pct", cands[0]["label"], e, "paired.base")

    def kept(a):
        p = d.paired[a][e]
        return not (p["diff"] < 0 and (p["detectable"] or p["n"] < 2))

    def value(a):
        m = d.stats[a].get(v, {}).get("mean", float("nan"))
        return m if math.isfinite(m) else -math.inf

    keep = [x for x in cands if kept(x["label"])]
    if keep:
        x = max(keep, key=lambda x: value(x["label"]))
        head = ["Of the combinations that keep new creators' share of impressions at least at the hand-set "
                "weights' (", base, "), "]
    else:
        x = max(cands, key=lambda x: d.paired[x["label"]][e]["diff"])
        head = ["No combination keeps new creators' share of impressions at the hand-set weights' (", base,
                "); closest comes "]
    a = x["label"]
    pe, pv = d.paired[a][e], d.paired[a][v]
    what = (f"{LOOP_RANKERS[x['ranker']]}, exploration {_exploration_text(x)}, "
            f"{'boost ' + x['boost'] if x['boost'] else 'no boost'} ({a})")
    parts = head + [what, (" gives the most user value: " if keep else ": "), "newcomers get ",
                    Num(pe["arm"], "pct", a, e, "paired.arm")]
    rel = Num(pv["rel"], "rel", a, v, "paired.rel", absolute=True)
    if pv["n"] < 2:
        parts += [", user value per impression ", Num(pv["rel"], "rel", a, v, "paired.rel"),
                  " against the hand-set weights (one seed: run more to tell it from noise)."]
    elif pv["detectable"] and pv["diff"] < 0:
        parts += [", at a cost of ", rel, " of user value per impression against the hand-set weights."]
    elif pv["detectable"]:
        parts += [", and user value per impression rises by ", rel, " over the hand-set weights'."]
    else:
        parts += [", with no detectable change in user value per impression against the hand-set weights."]
    return parts


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
