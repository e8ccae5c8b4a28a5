"""The report's figures: matplotlib, drawn on pyplot-free figures, saved as PNG and SVG, returned as PNG bytes.

:func:`write_figures` draws each figure into ``DIR/figures/`` and returns
``(name, title, caption, png bytes)`` for :mod:`sim.report` to inline.
:func:`place_labels` puts text labels beside points so that no two labels'
boxes overlap (the frontier's labels; a test checks the boxes).
"""

from __future__ import annotations

import io
import os

import numpy as np

from sim.arms import BASELINE
from sim.stats import LONG_RUN_DAYS, payback_day

_TAB = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
        "#7f7f7f")
_STYLES = ("-", "--", "-.", ":")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _colors(d) -> dict:
    """One color per policy (``none`` black); a policy's arms share its color."""
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
    if not x:
        return np.zeros(0)
    if isinstance(x[0], list):
        return np.array([[np.nan if v is None else v for v in row] for row in x], dtype=np.float64)
    return np.array([np.nan if v is None else v for v in x], dtype=np.float64)


def _series(d, arm: str, name: str, which: str = "mean"):
    s = d.series.get(arm, {}).get(name)
    return None if s is None else _arr(s[which])


def text_box(a, renderer):
    """The box of an annotation's text alone (its leader line left out)."""
    from matplotlib.text import Text

    if hasattr(a, "update_positions"):
        a.update_positions(renderer)  # an annotation places its text only when drawn or asked
    return Text.get_window_extent(a, renderer)


def _overlaps(a, b, pad=1.0) -> bool:
    return not (a.x1 + pad <= b.x0 or b.x1 + pad <= a.x0 or a.y1 + pad <= b.y0 or b.y1 + pad <= a.y0)


def place_labels(ax, points, texts, colors=None, fontsize=7):
    """Annotate ``points`` (data coordinates) with ``texts`` so that no two labels overlap.

    Each label tries offsets around its point (near first); the first whose
    box overlaps neither a placed label nor another point's marker and stays
    inside the axes wins. A label that finds no place goes to a column right
    of the axes, one line apart, joined to its point by a thin line, so
    labels never overlap. Returns the annotation artists.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = ax.figure
    if not hasattr(fig.canvas, "get_renderer"):
        FigureCanvasAgg(fig)  # a canvas to measure text on, without pyplot
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    axbox = ax.get_window_extent(renderer)
    disp = ax.transData.transform(np.asarray(points, dtype=np.float64).reshape(-1, 2)) if len(points) else np.zeros((0, 2))
    from matplotlib.transforms import Bbox

    markers = [Bbox.from_extents(x - 3, y - 3, x + 3, y + 3) for x, y in disp]
    placed, arts, leftover = [], [], []
    offsets = [(dx, dy) for r in (4, 10, 18, 28) for dx, dy in
               ((r, r * 0.6), (r, -r), (-r, r * 0.6), (-r, -r), (0, r + 2), (0, -r - 6), (r, 0), (-r, 0))]
    for i, (pt, txt) in enumerate(zip(points, texts)):
        color = None if colors is None else colors[i]
        ok = False
        for dx, dy in offsets:
            ha = "left" if dx > 0 else ("right" if dx < 0 else "center")
            a = ax.annotate(txt, pt, xytext=(dx, dy), textcoords="offset points", fontsize=fontsize, ha=ha,
                            va="bottom" if dy >= 0 else "top", color=color)
            bb = text_box(a, renderer)
            inside = bb.x0 >= axbox.x0 and bb.x1 <= axbox.x1 and bb.y0 >= axbox.y0 and bb.y1 <= axbox.y1
            hit = any(_overlaps(bb, p) for p in placed) or any(
                _overlaps(bb, m, 0.0) for j, m in enumerate(markers) if j != i)
            if inside and not hit:
                placed.append(bb)
                arts.append(a)
                ok = True
                break
            a.remove()
        if not ok:
            leftover.append((pt, txt, color))
    if leftover:
        # a column right of the axes, top to bottom in the order of the points' heights
        leftover.sort(key=lambda t: -ax.transData.transform(t[0])[1])
        y = 1.0
        for pt, txt, color in leftover:
            for _ in range(2000):
                a = ax.annotate(txt, pt, xytext=(1.02, y), textcoords="axes fraction", fontsize=fontsize,
                                ha="left", va="top", color=color,
                                arrowprops=dict(arrowstyle="-", lw=0.4, color=color or "#666666", alpha=0.6))
                bb = text_box(a, renderer)
                if not any(_overlaps(bb, p) for p in placed):
                    break
                a.remove()
                y -= 0.02
            placed.append(bb)
            arts.append(a)
            y -= (bb.height + 2) / axbox.height
    return arts


class _Figures:
    def __init__(self, d):
        from ranker import _figures

        self.plt = _figures  # pyplot's subplots and close, without touching the caller's backend
        self.d = d
        self.dir = d.out_dir / "figures"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.colors = _colors(d)
        self.items = []  # (name, title, caption, png bytes)
        head = d.headline
        pols = [d.arm(a)["policy"] for a in head]
        self.style = {a: (_STYLES[i % len(_STYLES)], _MARKERS[i % len(_MARKERS)]) for i, a in enumerate(head)}
        self.head, self.pols = head, pols

    @staticmethod
    def _int_ticks():
        from matplotlib.ticker import MaxNLocator

        return MaxNLocator(integer=True)

    def save(self, fig, name, title, caption, tight=True):
        if tight:
            fig.tight_layout()
        for ext in ("png", "svg"):
            tmp = self.dir / f".{name}.tmp.{ext}"
            fig.savefig(tmp, dpi=100, format=ext, bbox_inches="tight",
                        metadata={"Date": None} if ext == "svg" else {"Software": None})
            os.replace(tmp, self.dir / f"{name}.{ext}")
        buf = io.BytesIO()
        buf.write((self.dir / f"{name}.png").read_bytes())
        self.plt.close(fig)
        self.items.append((name, title, caption, buf.getvalue()))

    def _shade(self, ax):
        """Nothing to shade: every measured day is in the window the verdicts read."""

    def frontier(self):
        d, plt = self.d, self.plt
        if BASELINE not in d.labels:
            return
        e, v = d.metric("new_creator_exposure_share_measured"), d.metric("value_per_impression_measured")
        fig, ax = plt.subplots(figsize=(8, 5.4))
        base = d.stats[BASELINE].get(e, {}).get("mean", np.nan)
        pts, txts, cols = [], [], []
        if np.isfinite(base):
            ax.plot(100 * base, 0.0, "o", color="#000000", ms=7, zorder=4)
            pts.append((100 * base, 0.0))
            txts.append(BASELINE)
            cols.append("#000000")
        groups = {}
        for arm in d.arms:
            if arm["label"] != BASELINE and arm["label"] in d.paired:
                key = (arm["policy"], arm["sweep"][0] if arm.get("sweep") else None, arm.get("ranker"))
                groups.setdefault(key, []).append(arm)
        for (pol, pname, ranker), members in groups.items():
            try:
                members = sorted(members, key=lambda m: m["sweep"][1] if m.get("sweep") else 0)
            except TypeError:
                pass
            xs, ys, xe, ye = [], [], [], []
            for m in members:
                pe, pv = d.paired[m["label"]].get(e, {}), d.paired[m["label"]].get(v, {})
                x, y = pe.get("arm", np.nan), pv.get("rel", np.nan)
                if not (np.isfinite(x) and np.isfinite(y)):
                    continue
                xs.append(100 * x)
                ys.append(100 * y)
                xe.append([100 * (pe["diff"] - pe["lo"]), 100 * (pe["hi"] - pe["diff"])]
                          if np.isfinite(pe.get("lo", np.nan)) else [0, 0])
                ye.append([100 * (y - pv["rel_lo"]), 100 * (pv["rel_hi"] - y)]
                          if np.isfinite(pv.get("rel_lo", np.nan)) else [0, 0])
            if not xs:
                continue
            c = self.colors[members[0]["label"]]
            ax.errorbar(xs, ys, xerr=np.array(xe).T, yerr=np.array(ye).T, fmt="-o", color=c, ms=4, lw=1.2,
                        elinewidth=0.7, capsize=2, alpha=0.9)
            # the strongest setting carries the label
            lab = pol if ranker is None else f"{pol} ({ranker})"
            if pname is not None and len(xs) > 1:
                lab += f" ({pname} {members[0]['sweep'][1]}\u2192{members[-1]['sweep'][1]})"
            pts.append((xs[-1], ys[-1]))
            txts.append(lab)
            cols.append(c)
        ax.axhline(0, color="#000000", lw=0.8)
        ax.set_xlabel("new-creator share of impressions, measured window (%)")
        ax.set_ylabel("user value per impression, change against none (% of none's)")
        ax.grid(alpha=0.3)
        self.label_artists = place_labels(ax, pts, txts, cols)
        self.save(fig, "frontier", "Strength frontiers: user value against new-creator exposure",
                  "Each curve is one policy at the strengths of its registered grid, mild to strong (the label sits "
                  "at the strongest); each point gives its new-creator share of impressions in the measured window "
                  "(across) and its change in user value per impression against none, in % of none's (up). "
                  "Whiskers: 95 % confidence intervals of the differences from none, paired by seed. The black "
                  "dot is none. A curve that runs right and flat buys exposure cheaply; one that drops steeply "
                  "costs users much per point.", tight=False)

    def over_time(self):
        d, plt = self.d, self.plt
        panels = (("new_creator_exposure_share_by_day", "new-creator share of impressions (%)", 100.0, False),
                  ("value_per_impression_by_day", "user value per impression, % of none's", 100.0, True),
                  ("completion_rate_by_day", "completion rate (%)", 100.0, False),
                  ("retention_by_day", "users opening the app (%)", 100.0, False))
        fig, axes = plt.subplots(2, 2, figsize=(10, 6.4), sharex=True)
        base_v = _series(d, BASELINE, "value_per_impression_by_day")
        for ax, (name, ylabel, k, rel) in zip(axes.ravel(), panels):
            for a in self.head:
                m = _series(d, a, name)
                if m is None:
                    continue
                y = k * m
                if rel:
                    if base_v is None or base_v.shape != m.shape:
                        continue
                    with np.errstate(invalid="ignore", divide="ignore"):
                        y = 100.0 * (m / base_v - 1.0)
                ls, mk = self.style[a]
                ax.plot(np.arange(m.size), y, color=self.colors[a], ls=ls, lw=2 if a == BASELINE else 1.3,
                        marker=mk, ms=3, markevery=max(1, m.size // 6), label=a)
            self._shade(ax)
            ax.set_ylabel(ylabel, fontsize=9)
            ax.grid(alpha=0.3)
            ax.xaxis.set_major_locator(self._int_ticks())
        wv = _series(d, BASELINE, "value_per_impression_by_warmup_day")
        if wv is not None and wv.size and base_v is not None and base_v.size:
            # the warm-up (under none for every policy), in % of none's level on the first measured day
            ax = axes[0, 1]
            x = np.arange(-wv.size, 0)
            ax.plot(x, 100.0 * (wv / base_v[0] - 1.0), color="#888888", lw=1.5, marker=".", ms=3, label="warm-up (none)")
            ax.axvline(-0.5, color="#888888", lw=0.8, ls="--")
        for ax in axes[-1]:
            ax.set_xlabel("day (0: first measured day; negative: warm-up)")
        h, lab = axes[0, 0].get_legend_handles_labels()
        h2, lab2 = axes[0, 1].get_legend_handles_labels()
        for hh, ll in zip(h2, lab2):
            if ll not in lab:
                h.append(hh)
                lab.append(ll)
        fig.legend(h, lab, fontsize=7, ncol=4, frameon=False, loc="upper center", bbox_to_anchor=(0.5, 1.0))
        fig.tight_layout(rect=(0, 0, 1, 0.9))
        self.save(fig, "over_time", "Each metric over time",
                  "Per day, mean over seeds, for each policy's headline setting: new creators' share of impressions, "
                  "user value per impression (in % of none's on the same day), completion rate and the share of "
                  "users who open the app. Day 0 is the first measured day; the verdicts read every measured day. "
                  "Grey, at negative days: value per impression during the warm-up (every policy runs none then), "
                  "in % of none's on day 0; the warm-up reaches no other number.", tight=False)

    def lorenz(self):
        d, plt = self.d, self.plt
        fig, ax = plt.subplots(figsize=(5.6, 5))
        ax.plot([0, 1], [0, 1], color="#999999", lw=1, ls=":", label="perfect equality")
        for a in self.head:
            m = _series(d, a, "exposure_lorenz")
            if m is None or m.ndim != 2:
                continue
            g = d.stats[a].get("exposure_gini", {}).get("mean", float("nan"))
            ls, _ = self.style[a]
            ax.plot(m[:, 0], m[:, 1], color=self.colors[a], ls=ls, lw=1.5, label=f"{a} (Gini {g:.3f})")
        ax.set_xlabel("share of creators, least exposed first")
        ax.set_ylabel("share of impressions")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, frameon=False, loc="upper left")
        self.save(fig, "lorenz", "Inequality of creator exposure (Lorenz curves)",
                  "How unequally impressions are spread across creators: a point (x, y) says the least-exposed "
                  "x of creators got y of all impressions. The closer a curve is to the diagonal, the more equal. "
                  "The Gini coefficient in the legend (mean over seeds) is 0 for perfect equality and 1 when one "
                  "creator gets everything.")

    def quality_exposure(self):
        d, plt = self.d, self.plt
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for a in self.head:
            m = _series(d, a, "new_creator_exposure_by_quality_decile")
            if m is None or m.ndim != 2:
                continue
            rho = d.stats[a].get("new_creator_quality_exposure_corr", {}).get("mean", float("nan"))
            ls, mk = self.style[a]
            ax.plot(np.arange(1, m.shape[0] + 1), m[:, 1], marker=mk, ms=3, ls=ls, color=self.colors[a], lw=1.3,
                    label=f"{a} (rank corr. {rho:.2f})")
        ax.set_xlabel("new creators' latent-quality tenth (1 = worst, 10 = best)")
        ax.set_ylabel("mean impressions per new creator")
        ax.set_yscale("symlog", linthresh=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, frameon=False, ncol=2)
        self.save(fig, "quality_exposure", "Are good newcomers found?",
                  "New creators sorted into ten equal groups by their latent quality (which the ranker never sees); "
                  "the line gives the mean impressions per creator in each group, averaged over seeds. A line "
                  "rising to the right means better newcomers get more exposure. The legend gives the Spearman "
                  "rank correlation of quality and impressions (1: exposure follows quality exactly).")

    def survival(self):
        d, plt = self.d, self.plt
        fig, axes = plt.subplots(1, 4, figsize=(12.5, 3.8), sharey=True)
        n = max(1, len(self.head))
        for i, a in enumerate(self.head):
            m = _series(d, a, "new_creator_survival_curve")
            if m is None or m.ndim != 2:
                continue
            lo, hi = _series(d, a, "new_creator_survival_curve_lo"), _series(d, a, "new_creator_survival_curve_hi")
            al = _series(d, a, "new_creator_survival_curve_all")
            rows = [(m[ti], None if lo is None else lo[ti], None if hi is None else hi[ti]) for ti in range(m.shape[0])]
            if al is not None and al.ndim == 2 and al.shape[0] == 3:
                rows.append((al[0], al[1], al[2]))
            ls, _ = self.style[a]
            for ax, (y, ylo, yhi) in zip(axes, rows):
                ok = np.isfinite(y)
                # a small sideways offset per policy, so steps that coincide stay visible
                x = np.arange(y.size)[ok] + 0.2 * (i / n - 0.5)
                ax.step(x, 100 * y[ok], where="post", color=self.colors[a], ls=ls, lw=1.3, label=a)
                if ylo is not None and yhi is not None and np.isfinite(ylo[ok]).all() and np.isfinite(yhi[ok]).all():
                    ax.fill_between(x, 100 * ylo[ok], 100 * yhi[ok], step="post", color=self.colors[a], alpha=0.12,
                                    lw=0)
        for ax, name in zip(axes, ("lowest third of quality", "middle third", "highest third", "all new creators")):
            ax.set_title(name, fontsize=10)
            ax.set_xlabel("days since joining")
            ax.xaxis.set_major_locator(self._int_ticks())
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("still posting (%)")
        axes[0].set_ylim(0, 102)
        h, lab = axes[0].get_legend_handles_labels()
        if h:
            fig.legend(h, lab, fontsize=7, ncol=4, frameon=False, loc="upper center", bbox_to_anchor=(0.5, 1.0))
        fig.tight_layout(rect=(0, 0, 1, 0.82))
        self.save(fig, "survival", "Do new creators stay?",
                  "Kaplan-Meier survival of the new creators who joined during the measured days: the share "
                  "still posting at each age (days since joining), by latent-quality third and for all of them, "
                  "mean over seeds, with each policy's pointwise 95 % interval shaded (the interval of one seed's "
                  "estimate, averaged over seeds). A creator still posting on the last day counts as censored at "
                  "its age then, so late ages, seen only for the earliest joiners, do not bend the curve back up: "
                  "the steps never rise. Each policy has its own line style and a small sideways offset.", tight=False)

    def long_run(self):
        """Supply and users over time (long runs only)."""
        d, plt = self.d, self.plt
        days = d.options.get("days") or 0
        if days < LONG_RUN_DAYS:
            return
        panels = (("active_creators_by_day", "creators posting"), ("active_new_creators_by_day", "new creators posting"),
                  ("active_graduated_creators_by_day", "graduated newcomers posting"),
                  ("posts_by_day", "posts a day"), ("catalogue_diversity_by_day", "effective creators in the feed"),
                  ("daily_active_users_by_day", "daily active users"))
        fig, axes = plt.subplots(2, 3, figsize=(12, 6.4), sharex=True)
        drawn = False
        for ax, (name, ylabel) in zip(axes.ravel(), panels):
            for a in self.head:
                m = _series(d, a, name)
                if m is None:
                    continue
                drawn = True
                ls, mk = self.style[a]
                ax.plot(np.arange(m.size), m, color=self.colors[a], ls=ls, lw=2 if a == BASELINE else 1.3, label=a)
            ax.set_title(ylabel, fontsize=10)
            ax.grid(alpha=0.3)
            ax.xaxis.set_major_locator(self._int_ticks())
        if not drawn:
            self.plt.close(fig)
            return
        for ax in axes[-1]:
            ax.set_xlabel("day (0: first measured day)")
        h, lab = axes[0, 0].get_legend_handles_labels()
        fig.legend(h, lab, fontsize=7, ncol=4, frameon=False, loc="upper center", bbox_to_anchor=(0.5, 1.0))
        fig.tight_layout(rect=(0, 0, 1, 0.92))
        self.save(fig, "long_run", "Creators and users over the long run",
                  "Per measured day, mean over seeds, for each policy's headline setting: creators still posting "
                  "(all; younger than the new-creator period; newcomers past it), posts published, the effective "
                  "number of creators in the day's impressions (exp of the entropy of their shares), and users "
                  "served.", tight=False)

    def payback(self):
        """Cumulative user value and new creators posting against none, with paired intervals (long runs only)."""
        d, plt = self.d, self.plt
        ps = d.summary.get("paired_series", {})
        if (d.options.get("days") or 0) < LONG_RUN_DAYS or not ps:
            return
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        drawn = False
        for a in self.head:
            if a == BASELINE or a not in ps:
                continue
            for ax, name, rel in ((axes[0], "cumulative_value_by_day", True), (axes[1], "active_new_creators_by_day", False)):
                s = ps[a].get(name)
                if not s:
                    continue
                drawn = True
                diff, lo, hi, base = (_arr(s[k]) for k in ("diff", "lo", "hi", "base"))
                k = 100.0 / np.abs(base) if rel else np.ones_like(diff)
                x = np.arange(diff.size)
                ls, _ = self.style[a]
                ax.plot(x, k * diff, color=self.colors[a], ls=ls, lw=1.4, label=a)
                if np.isfinite(lo).any():
                    ax.fill_between(x, k * lo, k * hi, color=self.colors[a], alpha=0.15, lw=0)
                if rel:
                    day = payback_day(s["diff"])
                    if day is not None:
                        ax.axvline(day, color=self.colors[a], lw=0.8, ls=":")
        if not drawn:
            self.plt.close(fig)
            return
        for ax, title in zip(axes, ("cumulative user value, change against none (% of none's)",
                                    "new creators posting, change against none")):
            ax.axhline(0, color="#000000", lw=0.8)
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("day (0: first measured day)")
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=7, frameon=False)
        self.save(fig, "payback", "Does boosting pay back?",
                  "Left: user value summed from day 0 to each day, change against none in % of none's sum, paired by "
                  "seed; a dotted line marks the day a policy's mean catches up for good (its payback day). Right: "
                  "new creators still posting each day, change against none. Bands: 95 % confidence intervals of "
                  "the paired differences.")

    def user_value(self):
        d, plt = self.d, self.plt
        arms = [a for a in self.head if a != BASELINE]
        if not arms or not d.paired:
            return
        metrics = [d.metric("value_per_impression_measured"), d.metric("completion_rate_measured"),
                   d.metric("retention_measured")]
        titles = ("user value per impression", "completion rate", "daily retention")
        fig, axes = plt.subplots(1, 3, figsize=(11, 1.1 + 0.42 * len(arms)), sharey=True)
        for ax, metric, title in zip(axes, metrics, titles):
            ps = [d.paired[a].get(metric, {}) for a in arms]
            rel = np.array([p.get("rel", np.nan) for p in ps], dtype=float)
            lo = np.array([p.get("rel_lo", np.nan) for p in ps], dtype=float)
            hi = np.array([p.get("rel_hi", np.nan) for p in ps], dtype=float)
            y = np.arange(len(arms))
            ax.axvline(0, color="#000000", lw=1)
            err = np.where(np.isfinite([rel - lo, hi - rel]), [rel - lo, hi - rel], 0)
            ax.errorbar(100 * rel, y, xerr=100 * err, fmt="none", ecolor="#555555", lw=1.2, capsize=3)
            ax.scatter(100 * rel, y, c=[self.colors[a] for a in arms], s=30, zorder=3)
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("change against none (% of none's)")
            ax.grid(axis="x", alpha=0.3)
        axes[0].set_yticks(np.arange(len(arms)), arms, fontsize=8)
        axes[0].invert_yaxis()
        self.save(fig, "user_value", "What boosting costs or earns users",
                  "Change against none over the measured window, paired by seed, in % of none's level: user value "
                  "per impression, completion rate, and the daily share of users who open the app. Dots: mean; "
                  "whiskers: 95 % confidence interval. A whisker crossing zero means no detectable change.")

    def ai_parity(self):
        d, plt = self.d, self.plt
        arms = self.head
        fig, ax = plt.subplots(figsize=(7, 1.1 + 0.45 * len(arms)))
        y = np.arange(len(arms))
        for metric, off, color, lab in (("ai_label_exposure_ratio", -0.15, "#1f77b4", "matched quality"),
                                        ("ai_label_exposure_ratio_engagement", 0.15, "#ff7f0e", "matched engagement")):
            st = [d.stats[a].get(metric, {}) for a in arms]
            m = np.array([s.get("mean", np.nan) for s in st], dtype=float)
            if not np.isfinite(m).any():
                continue
            lo = np.array([s.get("lo", np.nan) for s in st], dtype=float)
            hi = np.array([s.get("hi", np.nan) for s in st], dtype=float)
            err = np.where(np.isfinite([m - lo, hi - m]), [m - lo, hi - m], 0)
            ax.errorbar(m, y + off, xerr=err, fmt="o", color=color, ms=5, lw=1.2, capsize=3, label=lab)
        ax.axvline(1, color="#000000", lw=1, ls="--")
        ax.set_yticks(y, arms, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("impressions per AI-labelled post / per unlabelled post")
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=8, frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)
        self.save(fig, "ai_parity", "AI-label parity",
                  "Impressions per AI-labelled post over impressions per unlabelled post, compared within tenths of "
                  "latent quality and, separately, within tenths of the 3-second play rate. 1 (dashed) is parity. "
                  "Dots: mean over seeds; whiskers: 95 % confidence interval; a whisker crossing 1 means the gap "
                  "is noise.")


    def loop(self):
        """Learning in the loop: the loop's per-day metrics, one line per arm (comparisons with the loop's metrics)."""
        from sim.report_loop import LOOP_RANKERS, LOOP_SERIES, loop_arms

        d, plt = self.d, self.plt
        arms = loop_arms(d)
        if not arms:
            return
        colors = {"hand": "#000000", "learned_once": "#d95f02", "retrained": "#1b9e77", "oracle": "#7570b3"}
        panels = [p for p in LOOP_SERIES if any(_series(d, x["label"], p[0]) is not None for x in arms)]
        ncol = 4
        nrow = -(-(len(panels) + 1) // ncol)
        fig, axes = plt.subplots(nrow, ncol, figsize=(15, 3.3 * nrow), squeeze=False)
        flat = axes.ravel()
        for ax, (name, ylabel, share) in zip(flat, panels):
            for x in arms:
                m = _series(d, x["label"], name)
                if m is None or not np.isfinite(m).any():
                    continue
                k = 100.0 if share else 1.0
                ax.plot(np.arange(m.size), k * m, color=colors[x["ranker"]], ls="--" if x["explore"] else "-",
                        lw=1.0 if x["boost"] else 2.0, marker="o" if x["boost"] else None, ms=3,
                        label=f"{LOOP_RANKERS[x['ranker']]}{', explore' if x['explore'] else ''}"
                              f"{', ' + x['boost'] if x['boost'] else ''}")
            ax.set_title(ylabel, fontsize=10)
            ax.set_xlabel("day")
            ax.grid(alpha=0.3)
            ax.xaxis.set_major_locator(self._int_ticks())
        h, lab = [], []
        for ax in flat[:len(panels)]:
            for hh, ll in zip(*ax.get_legend_handles_labels()):
                if ll not in lab:
                    h.append(hh)
                    lab.append(ll)
        for ax in flat[len(panels):]:
            ax.axis("off")
        flat[len(panels)].legend(h, lab, fontsize=7, frameon=False, loc="center")
        self.save(fig, "loop", "Learning in the loop, day by day",
                  "Per day, mean over seeds: the day's user value per impression, new creators' share of "
                  "impressions, the Gini coefficient of impressions across the day's live posts, the share of "
                  "live posts shown at least once, the top 1 % of posts' share of impressions, the mean Jaccard "
                  "overlap of sampled users' feeds, and each retrained model's NDCG@10 on the first day it served. "
                  "Colour: the ranker (black hand-set, orange learned once, green retrained daily, purple oracle); "
                  "dashed: with exploration; thin with dots: with a boost.")


def write_figures(d) -> list[tuple[str, str, str, bytes]]:
    """Draw every figure into ``DIR/figures`` (PNG and SVG); return (name, title, caption, png bytes) each."""
    f = _Figures(d)
    for draw in (f.frontier, f.over_time, f.user_value, f.lorenz, f.quality_exposure, f.survival, f.ai_parity,
                 f.long_run, f.payback, f.loop):
        draw()
    return f.items
