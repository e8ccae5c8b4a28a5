"""The report's numbers: how each is shown, and the HTML that carries its exact value.

A :class:`Num` is a number shown in ``report.html`` with where it comes from
(arm, metric, statistic); :func:`span` renders it as
``<span class="num" data-arm data-metric data-stat data-value>``, so a reader
(or a test) can trace every table number to ``summary.csv``. The table-cell
helpers here read a :class:`sim.report.ReportData` (or anything with its
``stats``, ``paired`` and ``info``).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

#: The measured-window scalars the verdicts read (whole-run ones when a summary lacks them).
EXPOSURE = "new_creator_exposure_share_measured"
VALUE = "value_per_impression_measured"
#: The user-value metrics: always shown as a change in % of none's level.
VALUE_METRICS = {"value_per_impression", "value_per_impression_measured", "total_value"}
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


# --- table cells ---------------------------------------------------------------------


def _arm_html(label: str) -> str:
    return f'<code class="arm">{html.escape(label)}</code>'


def _label(text: str) -> str:
    """A row's name (a strength, a user group): text, not a number traced to the CSV."""
    return f'<span class="label">{html.escape(text)}</span>' if text else ""


def _is_share(d, metric: str) -> bool:
    return "share" in d.info.get(metric, {}).get("unit", "")


def _stat_num(d, arm: str, metric: str, stat: str = "mean") -> Num:
    kind = "pct" if _is_share(d, metric) else ("int" if d.info.get(metric, {}).get("unit") in
                                                ("impressions", "posts", "users") else "num")
    return Num(d.stats[arm].get(metric, {}).get(stat, float("nan")), kind, arm, metric, stat)


def _diff_cell(d, arm: str, metric: str) -> str:
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
