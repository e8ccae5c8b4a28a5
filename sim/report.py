"""The comparison report: matplotlib figures and ``report.html``, from the summary files.

:func:`write_report` reads ``DIR/summary.csv`` (one row per run, every
scalar metric) and ``DIR/summary.json`` (the arms, and per-arm means of the
series metrics) written by :mod:`sim.compare`, and writes
``DIR/figures/*.png`` (with ``.svg`` copies) and ``DIR/report.html``, which
opens offline: no scripts, no remote resources.

Every number in the report's tables is computed from ``summary.csv``'s
values: means over seeds, and differences against the baseline ``none``
paired by seed with 95 % t intervals (:func:`sim.stats.paired_difference`).
Each such number is an element ``<span class="num" data-arm data-metric
data-stat data-value>`` carrying the exact value it displays, so a reader
(or a test) can trace it to the CSV.
"""

from __future__ import annotations

import html
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.arms import BASELINE
from sim.stats import summarize_rows
from sim.summary import atomic_write, read_summary_csv

#: Key scalars, in the order the "numbers" table shows them.
KEY_METRICS = (
    "new_creator_exposure_share", "exposure_gini", "new_creator_quality_exposure_corr", "breakout_rate_new",
    "new_creator_survival", "new_creator_survival_high_quality", "value_per_impression", "completion_rate",
    "retention", "ai_label_exposure_ratio",
)
#: Scalars whose paired differences against the baseline the "numbers" section tabulates.
PAIRED_METRICS = ("new_creator_exposure_share", "exposure_gini", "breakout_rate_new", "new_creator_survival",
                  "value_per_impression", "completion_rate", "retention")
#: User-side metrics shown against the baseline with paired intervals.
USER_METRICS = ("value_per_impression", "completion_rate", "retention")
#: Plain names of metrics for table headers and figure labels.
PLAIN = {
    "new_creator_exposure_share": "new-creator exposure",
    "exposure_gini": "exposure Gini",
    "new_creator_quality_exposure_corr": "quality-exposure rank corr. (new creators)",
    "breakout_rate_new": "breakout rate, new creators' posts",
    "breakout_rate_established": "breakout rate, other posts",
    "new_creator_survival": "new creators still posting",
    "new_creator_survival_high_quality": "best third of new creators still posting",
    "value_per_impression": "user value per impression",
    "completion_rate": "completion rate",
    "retention": "daily retention",
    "ai_label_exposure_ratio": "AI-label exposure ratio",
}
_TAB = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
        "#7f7f7f")
_MINUS = "\u2212"


# --- numbers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Num:
    """A number shown in the report, with where it comes from.

    ``kind``: ``"pct"`` (a share, shown in %), ``"pts"`` (a difference of
    shares, in percentage points, signed), ``"rel"`` (a relative change,
    in %, signed), ``"num"`` (4 significant digits), ``"snum"`` (the same,
    signed). ``absolute``: the magnitude of ``value`` is shown.
    """

    value: float
    kind: str
    arm: str
    metric: str
    stat: str
    absolute: bool = False
    bare: bool = False


def _decimals(x: float, sig: int = 4) -> int:
    if x == 0 or not math.isfinite(x):
        return 0
    return int(min(12, max(0, sig - 1 - math.floor(math.log10(abs(x))))))


def format_num(n: Num) -> str:
    """The text a :class:`Num` is shown as (``n/a`` when undefined)."""
    v = n.value
    if v is None or not math.isfinite(v):
        return "n/a"
    if n.absolute:
        v = abs(v)
    signed = n.kind in ("pts", "rel", "snum") and not n.absolute
    if n.kind in ("pct", "pts", "rel"):
        x = 100.0 * v
        dec = 1 if abs(x) >= 1 or x == 0 else 2
        body = f"{abs(x):,.{dec}f}"
        unit = "" if n.bare else (" pts" if n.kind == "pts" else " %")
    else:
        x = v
        dec = _decimals(x)
        body = f"{abs(x):,.{dec}f}"
        unit = ""
    if float(body.replace(",", "")) == 0:
        sign = ""
    elif x < 0:
        sign = _MINUS
    else:
        sign = "+" if signed else ""
    return f"{sign}{body}{unit}"


def _span(n: Num) -> str:
    v = n.value
    dv = repr(float(v)) if v is not None and math.isfinite(v) else "nan"
    scale = 100 if n.kind in ("pct", "pts", "rel") else 1
    extra = ' data-abs="1"' if n.absolute else ""
    return (f'<span class="num" data-arm="{html.escape(n.arm)}" data-metric="{html.escape(n.metric)}" '
            f'data-stat="{n.stat}" data-value="{dv}" data-scale="{scale}"{extra}>{html.escape(format_num(n))}</span>')


def _render(parts, as_html: bool) -> str:
    out = []
    for p in parts:
        if isinstance(p, Num):
            out.append(_span(p) if as_html else format_num(p))
        else:
            out.append(html.escape(p) if as_html else p)
    return "".join(out)


def _is_share(info: dict, metric: str) -> bool:
    return "share" in info.get(metric, {}).get("unit", "")


# --- data ------------------------------------------------------------------------------


@dataclass
class ReportData:
    """What the report is drawn from: the summary files, with statistics recomputed from the CSV."""

    out_dir: Path
    summary: dict
    rows: list
    arms: list  # dicts: label, policy, params, sweep, ranker
    labels: list
    seeds: list
    stats: dict
    paired: dict
    series: dict
    info: dict

    @property
    def policy_arms(self) -> list[str]:
        """Arms that are a policy at its defaults (no sweep value)."""
        return [a["label"] for a in self.arms if a.get("sweep") is None]

    def arm(self, label: str) -> dict:
        return next(a for a in self.arms if a["label"] == label)


def load_report_data(out_dir) -> ReportData:
    """Read ``summary.csv`` and ``summary.json`` from ``out_dir``."""
    out = Path(out_dir)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    rows = read_summary_csv(out / "summary.csv")
    labels = [a["label"] for a in summary["arms"]]
    seeds = sorted({int(r["seed"]) for r in rows})
    metrics = [c for c in rows[0] if c not in ("run_id", "arm", "policy", "params", "seed")] if rows else []
    stats, paired = summarize_rows(rows, labels, metrics, seeds, summary.get("baseline", BASELINE),
                                   summary.get("ci_level", 0.95))
    return ReportData(out_dir=out, summary=summary, rows=rows, arms=summary["arms"], labels=labels, seeds=seeds,
                      stats=stats, paired=paired, series=summary.get("series", {}), info=summary.get("metric_info", {}))


# --- verdicts -------------------------------------------------------------------------


def verdict_parts(d: ReportData, arm: str) -> list:
    """The one-sentence verdict of ``arm`` against the baseline, as text and :class:`Num` parts."""
    if arm == BASELINE:
        return ["The baseline: no boost, the ranker's score alone decides."]
    pe = d.paired.get(arm, {}).get("new_creator_exposure_share")
    pv = d.paired.get(arm, {}).get("value_per_impression")
    if pe is None or pv is None or pe["n"] == 0:
        return ["No runs of this policy and the baseline on common seeds."]
    base = Num(pe["base"], "pct", arm, "new_creator_exposure_share", "paired.base")
    mine = Num(pe["arm"], "pct", arm, "new_creator_exposure_share", "paired.arm")
    if pe["n"] < 2:
        return ["New-creator exposure ", base, " under none, ", mine, " here; a single seed cannot tell "
                "a real difference from noise: run more seeds."]
    if pe["detectable"] and pe["diff"] > 0:
        parts, raised = ["Raises new-creator exposure from ", base, " to ", mine], True
    elif pe["detectable"]:
        parts, raised = ["Lowers new-creator exposure from ", base, " to ", mine], False
    else:
        parts, raised = ["No detectable change in new-creator exposure (", mine, " against ", base, ")"], False
    rel = Num(pv["rel"], "rel", arm, "value_per_impression", "paired.rel", absolute=True)
    if pv["detectable"] and pv["diff"] < 0:
        parts += [", at a cost of ", rel, " in user value per impression."]
    elif pv["detectable"]:
        parts += [", and raises user value per impression by ", rel, "."]
    elif raised:
        parts += [" at no detectable cost in user value."]
    else:
        parts += [", with no detectable change in user value."]
    return parts


def verdict_lines(source) -> list[str]:
    """Plain-text verdicts, one line per arm, for the terminal.

    ``source``: a comparison directory, or the summary dict that
    :func:`sim.summary.write_summary` returned.
    """
    if isinstance(source, dict):
        s = source
        rows = [dict(r["scalars"], run_id=r["run_id"], arm=r["arm"], policy=r["policy"], seed=int(r["seed"]))
                for r in s["runs"]]
        d = ReportData(out_dir=Path("."), summary=s, rows=rows, arms=s["arms"], labels=[a["label"] for a in s["arms"]],
                       seeds=list(s["seeds"]), stats=s["stats"], paired=s["paired"], series=s.get("series", {}),
                       info=s.get("metric_info", {}))
    else:
        d = load_report_data(source)
    width = max((len(a) for a in d.labels), default=0)
    return [f"{a:<{width}}  {_render(verdict_parts(d, a), False)}" for a in d.labels]


# --- figures ---------------------------------------------------------------------------


def _colors(d: ReportData) -> dict:
    """One color per policy (``none`` black); a policy's swept arms share its color."""
    pols = list(dict.fromkeys(a["policy"] for a in d.arms))
    cmap, k = {}, 0
    for p in pols:
        if p == BASELINE:
            cmap[p] = "#000000"
        else:
            cmap[p] = _TAB[k % len(_TAB)]
            k += 1
    return {a["label"]: cmap[a["policy"]] for a in d.arms}


def _arr(x):
    return np.array([np.nan if v is None else v for v in x], dtype=np.float64) if x and not isinstance(x[0], list) \
        else np.array([[np.nan if v is None else v for v in row] for row in x], dtype=np.float64)


def _series(d: ReportData, arm: str, name: str, which: str = "mean"):
    s = d.series.get(arm, {}).get(name)
    return None if s is None else _arr(s[which])


class _Figures:
    def __init__(self, d: ReportData):
        from ranker import _figures

        self.plt = _figures  # pyplot's subplots and close, without touching the caller's backend
        self.d = d
        self.dir = d.out_dir / "figures"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.colors = _colors(d)
        self.items = []  # (name, title, caption)

    @staticmethod
    def _int_ticks():
        from matplotlib.ticker import MaxNLocator

        return MaxNLocator(integer=True)

    def save(self, fig, name, title, caption):
        fig.tight_layout()
        for ext in ("png", "svg"):
            tmp = self.dir / f".{name}.tmp.{ext}"
            fig.savefig(tmp, dpi=100, format=ext, metadata={"Date": None} if ext == "svg" else {"Software": None})
            os.replace(tmp, self.dir / f"{name}.{ext}")
        self.plt.close(fig)
        self.items.append((name, title, caption))

    # each figure: title and a plain caption

    def exposure_over_time(self):
        d, plt = self.d, self.plt
        fig, ax = plt.subplots(figsize=(8, 4.2))
        for a in d.policy_arms:
            m = _series(d, a, "new_creator_exposure_share_by_day")
            if m is None:
                continue
            x = np.arange(m.size)
            c = self.colors[a]
            ax.plot(x, 100 * m, color=c, lw=2 if a == BASELINE else 1.5, label=a)
            lo, hi = _series(d, a, "new_creator_exposure_share_by_day", "min"), _series(d, a, "new_creator_exposure_share_by_day", "max")
            if len(d.seeds) > 1:
                ax.fill_between(x, 100 * lo, 100 * hi, color=c, alpha=0.15, lw=0)
        ax.set_xlabel("day")
        ax.xaxis.set_major_locator(self._int_ticks())
        ax.set_ylabel("new-creator share of impressions (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, ncol=2, frameon=False)
        desc = d.info.get("new_creator_exposure_share", {}).get("description", "share of impressions going to new creators")
        self.save(fig, "exposure_over_time", "New-creator exposure over time",
                  f"Each day, the {desc}. Lines: mean over the seeds; shaded: the range across seeds. "
                  "Higher means the feed gives newcomers more of its traffic.")

    def lorenz(self):
        d, plt = self.d, self.plt
        fig, ax = plt.subplots(figsize=(5.6, 5))
        ax.plot([0, 1], [0, 1], color="#999999", lw=1, ls=":", label="perfect equality")
        for a in d.policy_arms:
            m = _series(d, a, "exposure_lorenz")
            if m is None or m.ndim != 2:
                continue
            g = d.stats[a].get("exposure_gini", {}).get("mean", float("nan"))
            ax.plot(m[:, 0], m[:, 1], color=self.colors[a], lw=1.5, label=f"{a} (Gini {g:.3f})")
        ax.set_xlabel("share of creators, least exposed first")
        ax.set_ylabel("share of impressions")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, frameon=False, loc="upper left")
        self.save(fig, "lorenz", "Inequality of creator exposure (Lorenz curves)",
                  "How unequally impressions are spread across creators: a point (x, y) says the least-exposed "
                  "x of creators got y of all impressions. The closer a curve is to the diagonal, the more equal. "
                  "The Gini coefficient in the legend (mean over seeds) is 0 for perfect equality and 1 when one "
                  "creator gets everything.")

    def quality_exposure(self):
        d, plt = self.d, self.plt
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for a in d.policy_arms:
            m = _series(d, a, "new_creator_exposure_by_quality_decile")
            if m is None or m.ndim != 2:
                continue
            rho = d.stats[a].get("new_creator_quality_exposure_corr", {}).get("mean", float("nan"))
            ax.plot(np.arange(1, m.shape[0] + 1), m[:, 1], marker="o", ms=3, color=self.colors[a], lw=1.5,
                    label=f"{a} (rank corr. {rho:.2f})")
        ax.set_xlabel("new creators' latent-quality tenth (1 = worst, 10 = best)")
        ax.set_ylabel("mean impressions per new creator")
        ax.set_yscale("symlog", linthresh=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, frameon=False, ncol=2)
        self.save(fig, "quality_exposure", "Are good newcomers found?",
                  "New creators sorted into ten equal groups by their latent quality (which the ranker never sees); "
                  "the line gives the mean impressions per creator in each group, averaged over seeds. A line "
                  "rising to the right means better newcomers get more exposure. The legend gives the Spearman "
                  "rank correlation of quality and impressions (1: exposure follows quality exactly).")

    def survival(self):
        d, plt = self.d, self.plt
        fig, axes = plt.subplots(1, 3, figsize=(10, 3.6), sharey=True)
        drawn = False
        for a in d.policy_arms:
            m = _series(d, a, "new_creator_survival_curve")
            if m is None or m.ndim != 2:
                continue
            for ti, ax in enumerate(axes[: m.shape[0]]):
                y = m[ti]
                ok = np.isfinite(y)
                ax.plot(np.arange(y.size)[ok], 100 * y[ok], color=self.colors[a], lw=1.5, label=a)
                drawn = True
        for ax, name in zip(axes, ("lowest", "middle", "highest")):
            ax.set_title(f"{name} third of quality", fontsize=10)
            ax.set_xlabel("days since joining")
            ax.xaxis.set_major_locator(self._int_ticks())
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("still posting (%)")
        axes[0].set_ylim(0, 102)
        if drawn:
            axes[-1].legend(fontsize=7, frameon=False)
        self.save(fig, "survival", "Do new creators stay?",
                  "Share of new creators still posting, by days since they joined, for the lowest, middle and "
                  "highest third of latent quality (mean over seeds). Creators quit when their posts find too "
                  "few viewers; a good policy keeps the best newcomers posting.")

    def _hbar(self, ax, arms, vals, lo, hi, fmt_pct=True, offset=0.0, height=0.8, color=None, label=None):
        y = np.arange(len(arms)) + offset
        k = 100 if fmt_pct else 1
        cols = [self.colors[a] for a in arms] if color is None else color
        ax.barh(y, k * np.asarray(vals), height=height, color=cols, alpha=0.85, label=label)
        err = np.array([k * (np.asarray(vals) - np.asarray(lo)), k * (np.asarray(hi) - np.asarray(vals))])
        err = np.where(np.isfinite(err), err, 0)
        ax.errorbar(k * np.asarray(vals), y, xerr=np.maximum(err, 0), fmt="none", ecolor="#333333", lw=1, capsize=2)

    def breakouts(self):
        d, plt = self.d, self.plt
        arms = d.labels
        fig, ax = plt.subplots(figsize=(8, 0.9 + 0.45 * len(arms)))
        for metric, off, color, lab in (("breakout_rate_new", -0.2, "#2ca02c", "new creators' posts"),
                                        ("breakout_rate_established", 0.2, "#7f7f7f", "other posts")):
            st = [d.stats[a].get(metric, {}) for a in arms]
            self._hbar(ax, arms, [s.get("mean", np.nan) for s in st], [s.get("min", np.nan) for s in st],
                       [s.get("max", np.nan) for s in st], offset=off, height=0.38, color=color, label=lab)
        ax.set_yticks(np.arange(len(arms)), arms, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("share of posts that broke out (%)")
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
        desc = d.info.get("breakout_threshold", {}).get("description", "")
        self.save(fig, "breakouts", "Breakouts",
                  "Share of posts that broke out, for new creators' posts and for all others "
                  f"(a breakout: {desc or 'a post in the top of early impressions'}). "
                  "Bars: mean over seeds; whiskers: the range across seeds.")

    def user_value(self):
        d, plt = self.d, self.plt
        arms = [a for a in d.labels if a != BASELINE]
        if not arms or not d.paired:
            return
        fig, axes = plt.subplots(1, len(USER_METRICS), figsize=(11, 0.9 + 0.42 * len(arms)), sharey=True)
        for ax, metric in zip(axes, USER_METRICS):
            ps = [d.paired[a].get(metric, {}) for a in arms]
            rel = np.array([p.get("rel", np.nan) for p in ps], dtype=float)
            lo = np.array([p.get("rel_lo", np.nan) for p in ps], dtype=float)
            hi = np.array([p.get("rel_hi", np.nan) for p in ps], dtype=float)
            y = np.arange(len(arms))
            ax.axvline(0, color="#000000", lw=1)
            err = np.array([rel - lo, hi - rel])
            err = np.where(np.isfinite(err), err, 0)
            ax.errorbar(100 * rel, y, xerr=100 * err, fmt="none", ecolor="#555555", lw=1.2, capsize=3)
            ax.scatter(100 * rel, y, c=[self.colors[a] for a in arms], s=30, zorder=3)
            ax.set_title(PLAIN.get(metric, metric), fontsize=10)
            ax.set_xlabel("change against none (%)")
            ax.grid(axis="x", alpha=0.3)
        axes[0].set_yticks(np.arange(len(arms)), arms, fontsize=8)
        axes[0].invert_yaxis()
        self.save(fig, "user_value", "What boosting costs or earns users",
                  "Change against none, paired by seed, in % of none's level: user value per impression (the "
                  "latent value viewers get, which the platform cannot see), completion rate, and the daily share "
                  "of users who open the app. Dots: mean; whiskers: 95 % confidence interval. A whisker crossing "
                  "zero means no detectable change.")

    def ai_parity(self):
        d, plt = self.d, self.plt
        arms = d.labels
        fig, ax = plt.subplots(figsize=(7, 0.9 + 0.4 * len(arms)))
        st = [d.stats[a].get("ai_label_exposure_ratio", {}) for a in arms]
        m = np.array([s.get("mean", np.nan) for s in st], dtype=float)
        lo = np.array([s.get("lo", np.nan) for s in st], dtype=float)
        hi = np.array([s.get("hi", np.nan) for s in st], dtype=float)
        y = np.arange(len(arms))
        ax.axvline(1, color="#000000", lw=1, ls="--")
        err = np.where(np.isfinite([m - lo, hi - m]), [m - lo, hi - m], 0)
        ax.errorbar(m, y, xerr=err, fmt="none", ecolor="#555555", lw=1.2, capsize=3)
        ax.scatter(m, y, c=[self.colors[a] for a in arms], s=30, zorder=3)
        ax.set_yticks(y, arms, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("impressions per AI-labelled post / per unlabelled post")
        ax.grid(axis="x", alpha=0.3)
        self.save(fig, "ai_parity", "AI-label parity",
                  "Impressions per AI-labelled post divided by impressions per unlabelled post of the same latent "
                  "quality (compared within quality tenths). 1 (dashed) is parity: the label alone does not change "
                  "how a post is ranked. Dots: mean over seeds; whiskers: 95 % confidence interval.")

    def frontier(self):
        d, plt = self.d, self.plt
        if BASELINE not in d.labels:
            return
        fig, ax = plt.subplots(figsize=(8, 5.2))
        xs, ys = {}, {}
        base = d.stats[BASELINE].get("new_creator_exposure_share", {}).get("mean", np.nan)
        if np.isfinite(base):
            xs[BASELINE], ys[BASELINE] = base, 0.0
            ax.plot(100 * base, 0.0, "o", color=self.colors[BASELINE], ms=6)
            ax.annotate(BASELINE, (100 * base, 0.0), fontsize=7, xytext=(4, 3), textcoords="offset points")
        for a in d.labels:
            if a == BASELINE:
                continue
            pe = d.paired[a].get("new_creator_exposure_share", {})
            pv = d.paired[a].get("value_per_impression", {})
            x, y = pe.get("arm", np.nan), pv.get("rel", np.nan)
            if not (np.isfinite(x) and np.isfinite(y)):
                continue
            xs[a], ys[a] = x, y
            xe = [[pe["diff"] - pe["lo"]], [pe["hi"] - pe["diff"]]] if np.isfinite(pe.get("lo", np.nan)) else None
            ye = [[y - pv["rel_lo"]], [pv["rel_hi"] - y]] if np.isfinite(pv.get("rel_lo", np.nan)) else None
            ax.errorbar(100 * x, 100 * y, xerr=None if xe is None else 100 * np.array(xe),
                        yerr=None if ye is None else 100 * np.array(ye), fmt="o", color=self.colors[a], ms=5,
                        lw=0.8, capsize=2)
            ax.annotate(a, (100 * x, 100 * y), fontsize=7, xytext=(4, 3), textcoords="offset points")
        ax.axhline(0, color="#000000", lw=0.8)
        # join each policy's swept arms in the order of the swept value
        groups = {}
        for arm in d.arms:
            if arm.get("sweep") is not None and arm["label"] in xs:
                groups.setdefault((arm["policy"], arm["sweep"][0], arm.get("ranker")), []).append(arm)
        for members in groups.values():
            try:
                members = sorted(members, key=lambda m: m["sweep"][1])
            except TypeError:
                pass
            ax.plot([100 * xs[m["label"]] for m in members], [100 * ys[m["label"]] for m in members],
                    color=self.colors[members[0]["label"]], lw=1, alpha=0.7)
        # the frontier: settings no other setting beats on both axes
        pts = sorted(xs, key=lambda a: xs[a])
        front = [a for a in pts if not any(xs[b] >= xs[a] and ys[b] >= ys[a] and (xs[b] > xs[a] or ys[b] > ys[a])
                                           for b in pts)]
        if len(front) > 1:
            ax.plot([100 * xs[a] for a in front], [100 * ys[a] for a in front], color="#000000", lw=1, ls="--",
                    alpha=0.6, label="frontier")
            ax.legend(fontsize=8, frameon=False)
        ax.set_xlabel("new-creator share of impressions (%)")
        ax.set_ylabel("change in user value per impression against none (%)")
        ax.grid(alpha=0.3)
        swept = " Lines join the swept values of one policy in order." if groups else ""
        self.save(fig, "frontier", "The trade-off: user value against new-creator exposure",
                  "Each point is one policy setting: its new-creator share of impressions (across) against its change "
                  "in user value per impression relative to none (up), both with 95 % confidence intervals of the "
                  "difference from none, paired by seed." + swept + " Up and to the right is better on both; the "
                  "dashed line joins the settings that no other setting beats on both at once.")


def write_figures(d: ReportData) -> list[tuple[str, str, str]]:
    """Draw every figure into ``DIR/figures`` (PNG and SVG); return (name, title, caption) each."""
    f = _Figures(d)
    for draw in (f.exposure_over_time, f.lorenz, f.quality_exposure, f.survival, f.breakouts, f.user_value,
                 f.ai_parity, f.frontier):
        draw()
    return f.items


# --- HTML ----------------------------------------------------------------------------

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:24px auto;padding:0 16px;
color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border:1px solid #ddd;padding:4px 8px;
vertical-align:top}th{background:#f4f4f4;text-align:left}td.n{text-align:right;white-space:nowrap}
code.arm{font-size:.95em;white-space:nowrap}figure{margin:1.2em 0}figure img{max-width:100%;height:auto;
border:1px solid #eee}figcaption{font-size:.9em;color:#444;max-width:900px}.lede{color:#444}
tr.base td{background:#fafafa}.small{font-size:.85em;color:#555}div.scroll{overflow-x:auto}span.ci{font-size:.85em;color:#555}
"""


def _arm_html(label: str) -> str:
    return f'<code class="arm">{html.escape(label)}</code>'


def _stat_num(d: ReportData, arm: str, metric: str, stat: str = "mean") -> Num:
    kind = "pct" if _is_share(d.info, metric) else "num"
    return Num(d.stats[arm].get(metric, {}).get(stat, float("nan")), kind, arm, metric, stat)


def _verdict_table(d: ReportData) -> str:
    rows = []
    for a in d.labels:
        if a == BASELINE:
            exp = _span(_stat_num(d, a, "new_creator_exposure_share"))
            val = "the baseline"
        else:
            pe = d.paired[a]["new_creator_exposure_share"]
            pv = d.paired[a]["value_per_impression"]
            exp = (_span(Num(pe["arm"], "pct", a, "new_creator_exposure_share", "paired.arm")) + " ("
                   + _span(Num(pe["diff"], "pts", a, "new_creator_exposure_share", "paired.diff")) + ")")
            val = _span(Num(pv["rel"], "rel", a, "value_per_impression", "paired.rel"))
            if pv["n"] > 1:
                val += (" (" + _span(Num(pv["rel_lo"], "rel", a, "value_per_impression", "paired.rel_lo", bare=True))
                        + " to " + _span(Num(pv["rel_hi"], "rel", a, "value_per_impression", "paired.rel_hi", bare=True))
                        + ")")
        cls = ' class="base"' if a == BASELINE else ""
        rows.append(f"<tr{cls}><td>{_arm_html(a)}</td><td class=\"n\">{exp}</td><td class=\"n\">{val}</td>"
                    f"<td>{_render(verdict_parts(d, a), True)}</td></tr>")
    return ("<div class=\"scroll\"><table id=\"verdict\"><thead><tr><th>policy</th><th>new-creator share of impressions "
            "(change against none, in points)</th><th>change in user value per impression against none "
            "(95 % CI)</th><th>verdict</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>")


def _means_table(d: ReportData, metrics, table_id: str) -> str:
    metrics = [m for m in metrics if any(m in d.stats[a] for a in d.labels)]
    head = "".join(f"<th title=\"{html.escape(d.info.get(m, {}).get('description', ''))}\">"
                   f"{html.escape(PLAIN.get(m, m))}</th>" for m in metrics)
    body = []
    for a in d.labels:
        cells = "".join(f"<td class=\"n\">{_span(_stat_num(d, a, m))}</td>" for m in metrics)
        body.append(f"<tr><td>{_arm_html(a)}</td>{cells}</tr>")
    return (f"<div class=\"scroll\"><table id=\"{table_id}\"><thead><tr><th>policy</th>{head}</tr></thead><tbody>"
            + "".join(body) + "</tbody></table></div>")


def _paired_table(d: ReportData, metrics, arms=None, table_id="paired") -> str:
    arms = [a for a in d.labels if a != BASELINE] if arms is None else arms
    head = "".join(f"<th>{html.escape(PLAIN.get(m, m))}</th>" for m in metrics)
    body = []
    for a in arms:
        cells = []
        for m in metrics:
            p = d.paired[a].get(m)
            if p is None:
                cells.append("<td></td>")
                continue
            kind = "pts" if _is_share(d.info, m) else "snum"
            txt = _span(Num(p["diff"], kind, a, m, "paired.diff"))
            if p["n"] > 1:
                txt += ("<br><span class=\"ci\">(" + _span(Num(p["lo"], kind, a, m, "paired.lo", bare=True)) + " to "
                        + _span(Num(p["hi"], kind, a, m, "paired.hi", bare=True)) + ")</span>")
            cells.append(f"<td class=\"n\">{txt}</td>")
        body.append(f"<tr><td>{_arm_html(a)}</td>{''.join(cells)}</tr>")
    return (f"<div class=\"scroll\"><table id=\"{table_id}\"><thead><tr><th>policy</th>" + head + "</tr></thead><tbody>"
            + "".join(body) + "</tbody></table></div>")


def render_html(d: ReportData, figures) -> str:
    """The text of ``report.html``."""
    opts = d.summary.get("options", {})
    n_seeds = len(d.seeds)
    seeds_txt = ", ".join(str(s) for s in d.seeds)
    days, users = opts.get("days"), opts.get("users")
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        "<title>ranksim: new-creator boosting policies compared</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>New-creator boosting policies, compared</h1>",
        f"<p class=\"lede\">Each policy ran on the same {n_seeds} simulated world{'s' if n_seeds != 1 else ''} "
        f"(seeds {seeds_txt}; {html.escape(str(users))} users, {html.escape(str(days))} days each), facing the same "
        "users and the same random draws, so the difference between two policies on one seed is the policy, not "
        "noise. Differences against <code>none</code> (no boost) are taken seed by seed and then averaged, with a "
        "95 % confidence interval (t interval over seeds). A difference is called detectable when its interval "
        "excludes zero. User value is the simulator's ground truth of what a viewer got from an impression, "
        "which no real platform can see.</p>",
        "<h2>Verdict</h2>",
        _verdict_table(d),
    ]
    if n_seeds < 2:
        parts.append("<p class=\"small\">With one seed there are no confidence intervals: run more seeds.</p>")
    parts.append("<h2>Figures</h2>")
    for name, title, caption in figures:
        parts.append(f"<figure id=\"fig-{name}\"><h3>{html.escape(title)}</h3>"
                     f"<img src=\"figures/{name}.png\" alt=\"{html.escape(title)}\">"
                     f"<figcaption>{html.escape(caption)} <a href=\"figures/{name}.svg\">SVG</a></figcaption></figure>")
    parts += [
        "<h2>Numbers</h2>",
        "<p>Means over seeds (hover a column name for its definition).</p>",
        _means_table(d, KEY_METRICS, "means"),
    ]
    if d.paired:
        parts += ["<p>Differences against <code>none</code>, paired by seed: mean (95 % confidence interval). "
                  "Shares in percentage points.</p>",
                  _paired_table(d, PAIRED_METRICS)]
    ranker_arms = [a["label"] for a in d.arms if "__ranker=" in a["label"] and a["label"] in d.paired]
    if ranker_arms:
        parts += ["<h2>Rankers</h2>",
                  "<p>The same policies ranked by other rankers, against <code>none</code> under the first ranker "
                  "(paired by seed; mean and 95 % confidence interval). <code>learned</code> ranks with the LightGBM "
                  "model's trees, <code>distilled</code> with the hand-set formula refitted to that model, "
                  "<code>oracle</code> on latent quality and true interests: an upper bound no ranker on logs "
                  "can reach.</p>",
                  _paired_table(d, PAIRED_METRICS, ranker_arms, "rankers")]
    others = [m for m in d.summary.get("scalars", []) if m not in KEY_METRICS]
    if others:
        parts += ["<details><summary>Every other scalar metric, mean over seeds</summary>",
                  _means_table(d, others, "all-means"), "</details>"]
    parts += [
        "<h2>Where the numbers come from</h2>",
        "<p><a href=\"summary.csv\">summary.csv</a> has one row per run (policy, parameters, seed, every scalar "
        "metric); every number above is computed from it. <a href=\"summary.json\">summary.json</a> adds the "
        "paired differences and the per-day series the figures draw. Each run's resolved configuration and metrics "
        "are in <code>runs/&lt;policy&gt;__seed&lt;k&gt;/</code>; re-make one with "
        "<code>ranksim simulate --config runs/&lt;run&gt;/config.toml --out DIR</code>.</p>",
        "<table id=\"metric-defs\"><thead><tr><th>metric</th><th>unit</th><th>meaning</th></tr></thead><tbody>",
    ]
    for m in d.summary.get("scalars", []):
        i = d.info.get(m, {})
        parts.append(f"<tr><td><code>{html.escape(m)}</code></td><td>{html.escape(i.get('unit', ''))}</td>"
                     f"<td>{html.escape(i.get('description', ''))}</td></tr>")
    parts.append("</tbody></table></body></html>\n")
    return "\n".join(parts)


def write_report(out_dir) -> Path:
    """Draw the figures and write ``out_dir/report.html`` from the summary files; return its path."""
    d = load_report_data(out_dir)
    figures = write_figures(d)
    path = Path(out_dir) / "report.html"
    atomic_write(path, render_html(d, figures))
    return path
