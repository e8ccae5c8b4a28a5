r"""Statistics of a comparison: per-arm means over seeds and differences against the baseline, paired by seed.

For a metric :math:`m`, an arm :math:`A` and the baseline :math:`B` (policy
``none``), over the :math:`n` seeds where both are defined,

.. math::

   d_k = m_A(k) - m_B(k), \qquad
   \bar d \pm t_{0.975,\, n-1} \, \frac{s_d}{\sqrt n},

with :math:`s_d` the sample standard deviation of the :math:`d_k`. A
difference is *detectable* when the interval excludes 0.
"""

from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np
from scipy.stats import t as _student_t

from sim.arms import BASELINE

CI_LEVEL = 0.95


def _finite(x) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in x], dtype=np.float64)


def t_quantile(level: float, dof: int) -> float:
    """Two-sided Student t critical value: :math:`t_{(1+level)/2,\\, dof}`."""
    return float(_student_t.ppf(0.5 + level / 2.0, dof))


def mean_ci(x, level: float = CI_LEVEL) -> dict:
    r"""Mean over seeds with a t confidence interval, ignoring undefined values.

    Parameters
    ----------
    x : array_like of float or None, shape (n_seeds,)
        One value per seed (``None``/NaN: undefined on that seed).

    Returns
    -------
    dict
        ``n``, ``mean``, ``sd`` (ddof 1), ``min``, ``max``, ``lo``, ``hi``:
        :math:`\bar x \pm t_{(1+level)/2,\, n-1}\, s / \sqrt n`; NaN where
        undefined (``lo``/``hi`` need ``n >= 2``).
    """
    v = _finite(x)
    v = v[np.isfinite(v)]
    n = int(v.size)
    nan = float("nan")
    if n == 0:
        return {"n": 0, "mean": nan, "sd": nan, "min": nan, "max": nan, "lo": nan, "hi": nan}
    m = float(v.mean())
    sd = float(v.std(ddof=1)) if n > 1 else nan
    half = t_quantile(level, n - 1) * sd / math.sqrt(n) if n > 1 else nan
    return {"n": n, "mean": m, "sd": sd, "min": float(v.min()), "max": float(v.max()), "lo": m - half, "hi": m + half}


def paired_difference(a, b, level: float = CI_LEVEL) -> dict:
    r"""Difference of an arm against the baseline, paired by seed.

    .. math::

       d_k = a_k - b_k, \qquad \bar d \pm t_{(1+level)/2,\, n-1} \frac{s_d}{\sqrt n}

    over the seeds where both are defined.

    Parameters
    ----------
    a, b : array_like of float or None, shape (n_seeds,)
        The arm's and the baseline's values, aligned by seed.

    Returns
    -------
    dict
        ``n``; ``diff``, ``lo``, ``hi`` (mean difference and its interval);
        ``base`` (the baseline's mean and ``arm`` the arm's, over the same
        seeds); ``rel``, ``rel_lo``, ``rel_hi`` (the same divided by
        ``|base|``, NaN when ``base`` is 0); ``detectable`` (the interval
        excludes 0; ``False`` with fewer than 2 seeds).
    """
    a, b = _finite(a), _finite(b)
    if a.shape != b.shape:
        raise ValueError(f"paired_difference needs values aligned by seed; got shapes {a.shape} and {b.shape}.")
    ok = np.isfinite(a) & np.isfinite(b)
    d = a[ok] - b[ok]
    n = int(d.size)
    nan = float("nan")
    out = {"n": n, "diff": nan, "lo": nan, "hi": nan, "base": nan, "arm": nan,
           "rel": nan, "rel_lo": nan, "rel_hi": nan, "detectable": False}
    if n == 0:
        return out
    diff = float(d.mean())
    base = float(b[ok].mean())
    out.update(diff=diff, base=base, arm=float(a[ok].mean()))
    if n > 1:
        half = t_quantile(level, n - 1) * float(d.std(ddof=1)) / math.sqrt(n)
        out.update(lo=diff - half, hi=diff + half)
        out["detectable"] = bool(out["lo"] > 0 or out["hi"] < 0)
    if base != 0:
        s = abs(base)
        out.update(rel=diff / s, rel_lo=out["lo"] / s, rel_hi=out["hi"] / s)
    return out


def scalar_names(metrics: dict) -> list[str]:
    """Names of the single-number metrics of one run's ``metrics.json``, sorted."""
    return sorted(k for k, v in metrics.items() if not isinstance(v.get("value"), list))


def series_names(metrics: dict) -> list[str]:
    """Names of the list-valued metrics (per day, curves, tables), sorted."""
    return sorted(k for k, v in metrics.items() if isinstance(v.get("value"), list))


def arm_values(rows: Sequence[dict], arm: str, metric: str, seeds: Sequence[int]) -> list:
    """One arm's values of ``metric`` in ``seeds`` order (``None`` where missing)."""
    by_seed = {int(r["seed"]): r.get(metric) for r in rows if r["arm"] == arm}
    return [by_seed.get(int(s)) for s in seeds]


def summarize_rows(rows: Sequence[dict], arms: Sequence[str], metrics: Sequence[str], seeds: Sequence[int],
                   baseline: str = BASELINE, level: float = CI_LEVEL) -> tuple[dict, dict]:
    """Per-arm statistics and paired differences against ``baseline``.

    Parameters
    ----------
    rows : sequence of dict
        Rows of ``summary.csv``: ``arm``, ``seed`` and metric values
        (float or None).

    Returns
    -------
    stats : dict
        ``stats[arm][metric]`` = :func:`mean_ci` of the arm's values.
    paired : dict
        ``paired[arm][metric]`` = :func:`paired_difference` against the
        baseline (every arm but the baseline; empty when it is absent).
    """
    stats = {a: {m: mean_ci(arm_values(rows, a, m, seeds), level) for m in metrics} for a in arms}
    paired = {}
    if baseline in arms:
        for a in arms:
            if a == baseline:
                continue
            paired[a] = {m: paired_difference(arm_values(rows, a, m, seeds), arm_values(rows, baseline, m, seeds), level)
                         for m in metrics}
    return stats, paired


def summarize_series(per_arm: dict[str, list[dict]], names: Sequence[str]) -> dict:
    """Mean and range across seeds of each series metric, per arm.

    Parameters
    ----------
    per_arm : dict
        ``arm -> [metrics.json of each seed]``.

    Returns
    -------
    dict
        ``series[arm][name] = {"mean", "min", "max"}``: nested lists of the
        element-wise mean, minimum and maximum over seeds (``None`` where no
        seed defines the element); series whose shapes differ across seeds
        are left out.
    """
    out = {}
    for arm, ms in per_arm.items():
        out[arm] = {}
        for name in names:
            vals = [m[name]["value"] for m in ms if name in m and isinstance(m[name]["value"], list)]
            if not vals:
                continue
            try:
                arr = np.array([np.array(v, dtype=np.float64) for v in vals])  # None -> nan
            except ValueError:
                continue
            if arr.dtype == object:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                out[arm][name] = {"mean": _nested(np.nanmean(arr, axis=0)),
                                  "min": _nested(np.nanmin(arr, axis=0)),
                                  "max": _nested(np.nanmax(arr, axis=0))}
    return out


def _nested(a: np.ndarray):
    return [_nested(x) for x in a] if a.ndim > 1 else [None if not np.isfinite(x) else float(x) for x in a]


#: Runs at least this many measured days long get the report's long-run section.
LONG_RUN_DAYS = 28
#: Per-day series whose differences against the baseline, paired by seed, the long-run section reads.
PAIRED_SERIES = ("cumulative_value_by_day", "active_new_creators_by_day", "active_creators_by_day",
                 "daily_active_users_by_day")


def summarize_paired_series(by_seed: dict[str, dict[int, dict]], names: Sequence[str] = PAIRED_SERIES,
                            baseline: str = BASELINE, level: float = CI_LEVEL) -> dict:
    """Day-by-day differences of per-day series against ``baseline``, paired by seed.

    Parameters
    ----------
    by_seed : dict
        ``arm -> {seed: metrics.json of that run}``.

    Returns
    -------
    dict
        ``out[arm][name] = {"diff", "lo", "hi", "base"}``: per day, the mean difference over the
        seeds both ran, its t interval (:func:`paired_difference`) and the baseline's mean; series
        of unequal lengths are left out.
    """
    out = {}
    base = by_seed.get(baseline)
    if not base:
        return out
    for arm, runs in by_seed.items():
        if arm == baseline:
            continue
        seeds = sorted(set(runs) & set(base))
        for name in names:
            a = [runs[s].get(name, {}).get("value") for s in seeds]
            b = [base[s].get(name, {}).get("value") for s in seeds]
            if not seeds or any(not isinstance(x, list) for x in a + b) or len({len(x) for x in a + b}) != 1:
                continue
            cols = [paired_difference([x[i] for x in a], [y[i] for y in b], level) for i in range(len(a[0]))]
            out.setdefault(arm, {})[name] = {k: [None if not math.isfinite(c[k]) else c[k] for c in cols]
                                             for k in ("diff", "lo", "hi", "base")}
    return out


def payback_day(diff) -> int | None:
    """The first day from which a cumulative difference stays at or above 0 through the last day, after
    having been below 0 (``None``: it never fell below 0, or it ends below 0)."""
    d = np.array([np.nan if v is None else v for v in diff], dtype=np.float64)
    if d.size == 0 or not np.all(np.isfinite(d)) or not (d < 0).any() or d[-1] < 0:
        return None
    last_neg = int(np.flatnonzero(d < 0)[-1])
    return last_neg + 1
