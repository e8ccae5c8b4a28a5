"""The report's learning-in-the-loop section: which arm is which, the gap closed, the table and the sentence.

Drawn when the compared runs carry the loop's per-day metrics (``sim.loop``):
an arm of the loop grid (``sim.arms.loop_grid_arms``) carries its ``[loop]``
section in ``summary.json``; another arm has the comparison's, which applies
to learned rankers only. :mod:`sim.report` puts the rows and the sentence on
the page; :mod:`sim.report_figures` draws the per-day figure.
"""

from __future__ import annotations

import html
import math

import numpy as np

from sim.arms import BASELINE
from sim.report_format import EXPOSURE, VALUE, Num, _arm_html, _diff_cell, _label, _render, _stat_num, ci_parts, span
from sim.stats import CI_LEVEL, t_quantile

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


def loop_arm(d, label: str) -> dict | None:
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


def loop_arms(d) -> list[dict]:
    """:func:`loop_arm` of every arm that carries the loop's metrics, in the comparison's order."""
    return [x for x in (loop_arm(d, a) for a in d.labels) if x is not None]


def _oracle_arm(d) -> str | None:
    return next((x["label"] for x in loop_arms(d) if x["ranker"] == "oracle" and x["boost"] is None), None)


def gap_closed(d, arm: str) -> dict:
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


def _gap_cell(d, arm: str) -> str:
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


def loop_rows(d) -> list[dict]:
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


def loop_sentence_parts(d) -> list:
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
