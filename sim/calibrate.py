r"""Fit the world to a log by the method of simulated moments (``ranksim calibrate``).

The method
----------
Targets are the moments of a log (:mod:`sim.moments`). For a parameter vector
:math:`\theta` (the fields of :data:`FITTED_PARAMS` whose moments the log
shows), a small world is simulated with the start config's other settings,
``users`` users for ``days`` days, and its events' moments :math:`m(\theta)`
are computed by the same function as the targets'. The fit minimizes

.. math::

    J(\theta) = \sum_i w_i \left(\frac{g(m_i(\theta)) - g(t_i)}{g'(t_i)\,\tau_i}\right)^2,
    \qquad \tau_i = \max(\mathrm{rel}_i\,|t_i|,\ \mathrm{abs}_i,\ 2\,\mathrm{se}(t_i))

over the moments with a target, a weight :math:`w_i > 0` (:data:`MOMENT_SPECS`)
and a fitted parameter that moves them; :math:`g` is the logit for rates and
the log for positive quantities, so that far from the target a residual stays
close to linear in the intercept that moves it, and near it equals
:math:`\sqrt{w_i}(m_i - t_i)/\tau_i`. A moment with a target that no fitted
parameter moves (say, replays in a model without them) is left out of
:math:`J`, so it cannot drag the others off, and is reported.

The search is :func:`scipy.optimize.least_squares` (trust region, bounds from
:data:`FITTED_PARAMS`) with forward differences of a fixed step per parameter.
Every evaluation uses the same seed: common random numbers, so two nearby
:math:`\theta` see the same draws and their difference in :math:`J` comes from
:math:`\theta`, not from fresh noise. Outcomes are thresholded draws and the
feed reacts to them, so :math:`J` is still piecewise constant at a fine scale
and slightly rough; the steps are therefore coarse (0.2 to 0.4 on the logit
scale), which the link :math:`g` keeps accurate. A moment is *within
tolerance* when :math:`|m_i - t_i| \le \tau_i`.

The log also gives the catalogue where it shows it: with
``--video-features`` (KuaiRand-Pure's ``video_features_basic_pure.csv``),
``world.duration_median_s`` and ``world.duration_sigma`` are the median and
log-sd of ``video_duration``, set in closed form, not searched.

Adding a parameter is one line of :data:`FITTED_PARAMS`: its config path,
bounds, step and the moments it chiefly moves (a parameter none of whose
moments has a target is left at its start value and reported as not fitted).
"""

from __future__ import annotations

import csv
import io
import math
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ranker._progress import Progress
from sim.moments import (COMPLETION_MOMENTS, MOMENT_GROUP, MOMENT_NAMES, WATCH_MOMENTS, Log, Moment,
                         compute_moments, log_from_events, log_from_kuairand)


@dataclass(frozen=True)
class FitParam:
    """One fitted parameter: a config field path, its search bounds, step and the moments it moves.

    ``scale="log"`` searches :math:`\\ln x` (for positive scale parameters).
    """

    path: str
    lo: float
    hi: float
    moments: tuple
    step: float = 0.4
    scale: str = "linear"


#: The parameters calibration may fit, in search order. One line each.
FITTED_PARAMS = (
    FitParam("behavior.play_b", -8.0, 8.0, ("play3_rate",)),
    FitParam("behavior.complete_b", -8.0, 8.0, COMPLETION_MOMENTS),
    FitParam("behavior.complete_d", 0.0, 5.0, COMPLETION_MOMENTS, step=0.2),
    FitParam("behavior.complete_d_short", -2.0, 4.0, COMPLETION_MOMENTS, step=0.2),
    FitParam("behavior.like_b", -12.0, 6.0, ("like_rate",)),
    FitParam("behavior.comment_b", -12.0, 6.0, ("comment_rate",)),
    FitParam("behavior.share_b", -12.0, 6.0, ("share_rate",)),
    FitParam("behavior.follow_b", -14.0, 6.0, ("follow_rate", "follows_per_user_day")),
    FitParam("behavior.open_b", -10.0, 10.0, ("share_open_rate",)),
    FitParam("world.activity_mean", 0.2, 200.0, ("imps_per_user_day_median", "imps_per_user_day_p90"),
             step=0.2, scale="log"),
    FitParam("world.activity_sigma", 0.05, 3.0, ("imps_per_user_day_p90",), step=0.2),
)


@dataclass(frozen=True)
class MomentSpec:
    """Weight and tolerance of one moment: ``tau = max(rel * |target|, abs, 2 se(target))``.

    A weight of 0 reports the moment beside its target without fitting it; ``note`` says why.
    """

    weight: float
    rel: float
    abs: float
    note: str = ""


_RATE_SMALL = MomentSpec(1.0, 0.25, 5e-4)
#: Weight and tolerance per moment (see the module docstring).
MOMENT_SPECS = {
    "play3_rate": MomentSpec(1.0, 0.05, 0.02),
    **{m: MomentSpec(1.0, 0.15, 0.03) for m in COMPLETION_MOMENTS},
    # The lower watch quantiles are set by where non-plays and early exits stop within a video, a
    # shape no parameter of the behaviour model controls: reported beside their targets, not fitted.
    **{m: MomentSpec(0.0, 0.20, 0.03, "reported only: no parameter shapes where early exits stop")
       for m in WATCH_MOMENTS[:3]},
    # The upper ones follow the log's mix of durations (seconds past the end are a larger fraction
    # of a short video): reported; the loop's seconds are set from loop_seconds_* instead.
    **{m: MomentSpec(0.0, 0.20, 0.03, "reported only: it follows the log's mix of durations")
       for m in WATCH_MOMENTS[3:]},
    # Replays per impression follow the log's mix of durations (the KuaiRand subset serves a median
    # of 17 s, its catalogue 81 s): reported; the loop is fitted on replays given completion.
    "replay_share": MomentSpec(0.0, 0.15, 0.02, "reported only: it follows the log's mix of durations; "
                                                "the loop is fitted on replay_given_completion"),
    "replay_given_completion": MomentSpec(1.0, 0.10, 0.02),
    "loop_seconds_median": MomentSpec(0.0, 0.20, 0.5, "set in closed form (behavior.loop_median_s)"),
    "loop_seconds_p90": MomentSpec(0.0, 0.20, 2.0, "set in closed form (behavior.loop_spread)"),
    "like_rate": _RATE_SMALL,
    "comment_rate": _RATE_SMALL,
    "share_rate": _RATE_SMALL,
    "follow_rate": _RATE_SMALL,
    "follows_per_user_day": MomentSpec(1.0, 0.25, 0.01),
    "imps_per_user_day_median": MomentSpec(1.0, 0.20, 1.0),
    "imps_per_user_day_p90": MomentSpec(1.0, 0.20, 2.0),
    # Logs hold deliberate re-watches (KuaiRand: 1.0 %); a model without them is within tolerance
    # of a 1 % target up to a repeat share of 2.9 %.
    "repeat_share": MomentSpec(1.0, 0.50, 0.019),
    "share_open_rate": MomentSpec(1.0, 0.10, 0.02),
}

#: Fewest usable rows in a log to calibrate on.
MIN_ROWS = 1000
#: Fewest rows a single moment must rest on to be a target (else: not fitted, with the count).
MIN_MOMENT_ROWS = 30


class PoorFit(RuntimeError):
    """The fit left weighted moments outside their tolerance (``ranksim calibrate`` exits 1)."""


@dataclass(frozen=True)
class Target:
    """A moment's target: value, standard error, rows, source; or why it is not fitted."""

    name: str
    value: float
    se: float
    n: int
    source: str
    reason: str = ""
    weight: float = 1.0

    @property
    def fitted(self) -> bool:
        return not self.reason and self.weight > 0 and math.isfinite(self.value)

    @property
    def tolerance(self) -> float:
        s = MOMENT_SPECS[self.name]
        se = self.se if math.isfinite(self.se) else 0.0
        return max(s.rel * abs(self.value), s.abs, 2.0 * se)


def targets_from_log(log: Log, *, min_rows: int = MIN_ROWS) -> dict[str, Target]:
    """The targets a log gives: its moments, with the unavailable or too thin ones marked.

    Raises ``ValueError`` naming the file and the count when the log has
    fewer than ``min_rows`` rows.
    """
    if log.n_rows < min_rows:
        raise ValueError(f"{log.source}: {log.n_rows:,} usable rows; calibration needs at least {min_rows:,} "
                         f"impressions to fit anything.")
    out = {}
    for name, m in compute_moments(log).items():
        reason = m.reason
        if not reason and m.n < MIN_MOMENT_ROWS:
            reason = f"only {m.n:,} rows in the log (fewer than {MIN_MOMENT_ROWS})"
        out[name] = Target(name, m.value, m.se, m.n, log.source, reason, MOMENT_SPECS[name].weight)
    return out


def override_target(targets: dict, name: str, value: float, se: float, n: int, source: str) -> dict:
    """A copy of ``targets`` with moment ``name`` taken from another source (e.g. the Douyin sample's like rate)."""
    out = dict(targets)
    out[name] = Target(name, float(value), float(se), int(n), source, "", MOMENT_SPECS[name].weight)
    return out


# --------------------------------------------------------------------------- config paths


def get_path(cfg, path: str):
    section, name = path.split(".")
    return getattr(getattr(cfg, section), name)


def set_paths(cfg, values: dict):
    """A copy of ``cfg`` with ``{"section.field": value}`` set (validated by the config)."""
    by_section = {}
    for path, v in values.items():
        section, name = path.split(".")
        by_section.setdefault(section, {})[name] = v
    return cfg.replace(**{s: getattr(cfg, s).replace(**kv) for s, kv in by_section.items()})


# --------------------------------------------------------------------------- the fit


@dataclass
class FitResult:
    """What :func:`fit` found.

    ``params``: the fitted parameters (``path -> (start, fitted)``);
    ``not_fitted``: parameters left at their start value, with the reason;
    ``before``/``after``: simulated moments at the start and fitted values;
    ``config``: the start config with the fitted values (full size, as given).
    """

    targets: dict
    params: dict
    not_fitted: dict
    before: dict
    after: dict
    config: object
    evaluations: int
    seconds: float
    closed_form: dict = field(default_factory=dict)
    reachable: tuple = ()

    def rows(self) -> list[dict]:
        """fit.csv's rows: one per moment, in :data:`MOMENT_NAMES` order."""
        out = []
        for name in MOMENT_NAMES:
            t = self.targets[name]
            b, a = self.before[name].value, self.after[name].value
            rel = (a - t.value) / abs(t.value) if (t.fitted and t.value != 0) else float("nan")
            within = t.fitted and abs(a - t.value) <= t.tolerance
            if not t.fitted:
                status = f"not fitted: {t.reason or MOMENT_SPECS[name].note}"
            elif within:
                status = "within tolerance"
            else:
                status = "OUT OF TOLERANCE" + ("" if name in self.reachable else " (no fitted parameter moves it)")
            out.append(dict(moment=name, group=MOMENT_GROUP[name], target=t.value,
                            simulated_before=b, simulated_after=a, relative_error=rel,
                            weight=t.weight if t.fitted else 0.0, tolerance=t.tolerance if t.fitted else float("nan"),
                            status=status, source=t.source if t.fitted else ""))
        return out

    def out_of_tolerance(self) -> list[str]:
        return [r["moment"] for r in self.rows() if r["status"].startswith("OUT OF TOLERANCE")]


#: Moments that are shares of rows (in [0, 1]); the others are positive quantities.
RATE_MOMENTS = frozenset(n for n in MOMENT_NAMES if n.endswith(("_rate", "_share")) or n.startswith("completion_"))
_EPS = 1e-6


def _link(name, v):
    """logit for rates, log for positive quantities (both clipped): the scale residuals are linear on."""
    if name in RATE_MOMENTS:
        v = min(max(v, _EPS), 1.0 - _EPS)
        return math.log(v / (1.0 - v))
    return math.log(max(v, _EPS))


def _link_slope(name, v):
    if name in RATE_MOMENTS:
        v = min(max(v, _EPS), 1.0 - _EPS)
        return 1.0 / (v * (1.0 - v))
    return 1.0 / max(v, _EPS)


def _residuals(targets, moments, names):
    r"""Weighted residuals on the link scale, divided by the tolerance carried to that scale.

    Near the target each equals :math:`\sqrt{w}(m - t)/\tau`; far from it, the logit
    or log keeps the residual close to linear in the intercepts that move it.
    """
    r = []
    for name in names:
        t = targets[name]
        m = moments[name].value
        if not math.isfinite(m):
            r.append(0.0)
            continue
        scale = t.tolerance * _link_slope(name, t.value)
        r.append(math.sqrt(t.weight) * (_link(name, m) - _link(name, t.value)) / scale)
    return np.array(r)


def simulate_moments(cfg, *, users: int, days: int, seed: int, threads=None) -> dict[str, Moment]:
    """Moments of a small simulated world: ``cfg`` at ``users`` users, ``days`` days, seed ``seed``, all logged."""
    from sim.engine import simulate

    small = cfg.with_overrides(users=users, days=days, seed=seed, log_sample=1.0)
    with tempfile.TemporaryDirectory(prefix="ranksim-calibrate-") as tmp:
        simulate(small, out_dir=Path(tmp) / "run", progress=False, threads=threads)
        return compute_moments(log_from_events(Path(tmp) / "run" / "events"))


def fit(targets: dict[str, Target], start, *, params=FITTED_PARAMS, users: int = 2000, days: int = 7, seed: int = 0,
        max_evals: int = 150, progress: bool = False, threads=None) -> FitResult:
    """Fit ``params`` of the config ``start`` to ``targets`` (method in the module docstring).

    Parameters
    ----------
    targets : dict of str to Target
        From :func:`targets_from_log` (every name of :data:`MOMENT_NAMES`).
    start : sim.config.Config
        Start values and every setting not fitted.
    params : sequence of FitParam
        Candidates; those none of whose moments has a target stay at their start value.
    users, days, seed : int
        Size and seed of the simulated world (the same seed every evaluation).
    max_evals : int
        Most simulations, finite differences included.
    progress : bool
        tqdm bar over evaluations.
    """
    from scipy.optimize import least_squares

    t0 = time.perf_counter()
    fitted = [p for p in params if any(targets[m].fitted for m in p.moments)]
    not_fitted = {p.path: "none of its moments (" + ", ".join(p.moments) + ") has a target in the log"
                  for p in params if p not in fitted}
    if not any(t.fitted for t in targets.values()):
        raise ValueError("no moment of the log can be fitted: " +
                         "; ".join(f"{n}: {t.reason}" for n, t in targets.items()))
    # The objective holds only moments a fitted parameter moves: a moment no parameter reaches
    # (say, replays in a model without them) is reported, and must not drag the others off.
    reachable = [n for n in MOMENT_NAMES if targets[n].fitted and any(n in p.moments for p in fitted)]

    def to_x(cfg):
        return np.array([math.log(get_path(cfg, p.path)) if p.scale == "log" else get_path(cfg, p.path)
                         for p in fitted], dtype=np.float64)

    def to_cfg(x):
        vals = {p.path: float(math.exp(v) if p.scale == "log" else v) for p, v in zip(fitted, x)}
        return set_paths(start, vals)

    lo = np.array([math.log(p.lo) if p.scale == "log" else p.lo for p in fitted])
    hi = np.array([math.log(p.hi) if p.scale == "log" else p.hi for p in fitted])
    x0 = np.clip(to_x(start), lo, hi)
    steps = np.array([p.step for p in fitted])

    # a bar on a terminal, a line per simulation in a pipe or log file (the budget is the most it can take)
    bar = Progress(max_evals, "ranksim calibrate", "sim", enabled=progress)
    cache = {}
    best = {"cost": np.inf, "x": x0}

    class _Budget(Exception):
        pass

    def moments_at(x):
        k = tuple(np.round(x, 12))
        if k not in cache:
            if len(cache) >= max_evals:
                raise _Budget
            m = simulate_moments(to_cfg(x), users=users, days=days, seed=seed, threads=threads)
            cache[k] = m
            r = _residuals(targets, m, reachable)
            cost = float(r @ r)
            if cost < best["cost"]:
                best.update(cost=cost, x=np.array(x))
            bar.update(1, cost=f"{best['cost']:.3g}")
        return cache[k]

    def f(x):
        return _residuals(targets, moments_at(x), reachable)

    def jac(x):
        r0 = f(x)
        J = np.empty((r0.shape[0], x.shape[0]))
        for j in range(x.shape[0]):
            xj = x.copy()
            h = steps[j] if x[j] + steps[j] <= hi[j] else -steps[j]
            xj[j] += h
            J[:, j] = (f(xj) - r0) / h
        return J

    before = moments_at(x0)
    if fitted:
        try:
            least_squares(f, x0, jac=jac, bounds=(lo, hi), x_scale=steps * 10, method="trf",
                          ftol=1e-3, xtol=1e-3, max_nfev=max_evals)
        except _Budget:
            pass
    bar.close()
    x = best["x"]
    after = moments_at(x)
    cfg = to_cfg(x)
    return FitResult(targets=targets, params={p.path: (get_path(start, p.path), get_path(cfg, p.path)) for p in fitted},
                     not_fitted=not_fitted, reachable=tuple(reachable), before=before, after=after, config=cfg, evaluations=len(cache),
                     seconds=time.perf_counter() - t0)


# --------------------------------------------------------------------------- catalogue


def catalogue_from_video_features(path) -> dict:
    """Median and log-sd of ``video_duration`` (ms) in a KuaiRand-Pure video features CSV.

    Returns ``{"world.duration_median_s": ..., "world.duration_sigma": ...}``;
    ``ValueError`` naming the file when the column is missing or has too few positive values.
    """
    import pyarrow.csv as pacsv

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such video features file.")
    t = pacsv.read_csv(p)
    if "video_duration" not in t.column_names:
        raise ValueError(f"{p}: missing required column 'video_duration' (ms); found: {', '.join(t.column_names)}.")
    d = t.column("video_duration").to_numpy(zero_copy_only=False).astype(np.float64) / 1000.0
    d = d[np.isfinite(d) & (d > 0)]
    if d.shape[0] < MIN_MOMENT_ROWS:
        raise ValueError(f"{p}: only {d.shape[0]:,} videos with a positive video_duration; need {MIN_MOMENT_ROWS}.")
    ld = np.log(d)
    return {"world.duration_median_s": float(round(np.exp(np.median(ld)), 2)),
            "world.duration_sigma": float(round(ld.std(), 3))}


def read_douyin_rates(path) -> dict[str, Target]:
    """The Douyin (ByteDance ICME 2019) sample's like rate, as a target.

    Tab-separated, no header, 12 columns (``uid, user_city, item_id,
    author_id, item_city, channel, finish, like, music_id, device, time,
    duration_time``); one row per impression.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such Douyin sample file.")
    rows = [line.rstrip("\n").split("\t") for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    bad = [i + 1 for i, r in enumerate(rows) if len(r) != 12]
    if bad:
        raise ValueError(f"{p}: {len(bad):,} lines without the 12 tab-separated fields of the Douyin sample "
                         f"(first: line {bad[0]}).")
    try:
        like = np.array([float(r[7]) for r in rows])
    except ValueError as e:
        raise ValueError(f"{p}: the like column (8th) is not numeric: {e}") from None
    n = like.shape[0]
    if n < MIN_MOMENT_ROWS:
        raise ValueError(f"{p}: {n:,} rows; need at least {MIN_MOMENT_ROWS}.")
    p_like = float(like.mean())
    return {"like_rate": Target("like_rate", p_like, math.sqrt(max(p_like * (1 - p_like), 0.25 / n) / n), n,
                                str(p), "", MOMENT_SPECS["like_rate"].weight)}


# --------------------------------------------------------------------------- outputs

CSV_COLUMNS = ("moment", "group", "target", "simulated_before", "simulated_after", "relative_error", "weight",
               "tolerance", "status", "source")


def fit_csv_text(result: FitResult) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in result.rows():
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()


def draw_fit(result: FitResult, path) -> None:
    """fit.png: per moment group, targets (with tolerance bars) against simulated values before and after."""
    from ranker import _figures
    from ranker.io import atomic_write

    rows = [r for r in result.rows() if r["weight"] > 0]
    groups = list(dict.fromkeys(r["group"] for r in rows))
    fig, axes = _figures.subplots(1, max(1, len(groups)), figsize=(3.2 * max(1, len(groups)) + 1, 4.2), squeeze=False)
    for ax, g in zip(axes[0], groups):
        rs = [r for r in rows if r["group"] == g]
        y = np.arange(len(rs))
        ax.errorbar([r["target"] for r in rs], y, xerr=[r["tolerance"] for r in rs], fmt="o", color="black",
                    capsize=3, label="target ± tolerance")
        ax.plot([r["simulated_before"] for r in rs], y, "x", color="tab:gray", label="before")
        ax.plot([r["simulated_after"] for r in rs], y, "D", color="tab:blue", mfc="none", label="fitted")
        ax.set_yticks(y)
        ax.set_yticklabels([r["moment"] + ("" if r["status"] == "within tolerance" else " (out)") for r in rs],
                           fontsize=7)
        ax.invert_yaxis()
        ax.set_title(g, fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
    axes[0][0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    _figures.close(fig)
    atomic_write(path, lambda f: f.write(buf.getvalue()))


def world_toml_text(result: FitResult, source: str) -> str:
    """The fitted config as TOML, with a header naming the source and any moment out of tolerance."""
    lines = [f"# ranksim calibrate: fitted to {source}", "# fitted parameters (start -> fitted):"]
    lines += [f"#   {k}: {a:.6g} -> {b:.6g}" for k, (a, b) in result.params.items()]
    lines += [f"#   {k}: set from the catalogue = {v}" for k, v in result.closed_form.items()]
    out = result.out_of_tolerance()
    if out:
        lines.append("# POOR FIT (written with --allow-poor-fit): out of tolerance: " + ", ".join(out))
    return "\n".join(lines) + "\n" + result.config.to_toml()


def calibrate(target_log: Log, start, *, video_features=None, douyin=None, params=FITTED_PARAMS, users=2000, days=7,
              seed=0, max_evals=150, progress=False, threads=None) -> FitResult:
    """Targets from ``target_log`` (and the optional catalogue / Douyin files), then :func:`fit`."""
    targets = targets_from_log(target_log)
    if douyin is not None:
        for name, t in read_douyin_rates(douyin).items():
            if not targets[name].fitted:
                targets[name] = t
    closed = {}
    if video_features is not None:
        closed = catalogue_from_video_features(video_features)
        start = set_paths(start, closed)
    res = fit(targets, start, params=params, users=users, days=days, seed=seed, max_evals=max_evals,
              progress=progress, threads=threads)
    res.closed_form = closed
    return res


def write_outputs(result: FitResult, out_dir, source: str, *, allow_poor_fit: bool) -> list[str]:
    """Write fit.csv and fit.png, and world.toml when every weighted moment is within tolerance
    (or ``allow_poor_fit``); returns the moments out of tolerance."""
    from ranker.io import atomic_write

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bad = result.out_of_tolerance()
    world = out / "world.toml"
    if bad and not allow_poor_fit:
        if world.exists():  # a stale good-looking config must not sit beside a poor fit's report
            world.unlink()
    else:
        text = world_toml_text(result, source).encode("utf-8")
        atomic_write(world, lambda f: f.write(text))
    csv_text = fit_csv_text(result).encode("utf-8")
    atomic_write(out / "fit.csv", lambda f: f.write(csv_text))
    draw_fit(result, out / "fit.png")
    return bad


# --------------------------------------------------------------------------- command line


def add_calibrate_parser(sub) -> None:
    """Register ``ranksim calibrate`` (sim.cli calls this; counts are checked by the command)."""
    p = sub.add_parser("calibrate", help="fit the behaviour and world parameters to a log (simulated moments)",
                       description="Fit the behaviour model's parameters (and the world's activity and catalogue "
                                   "where the log shows them) by the method of simulated moments; writes "
                                   "DIR/world.toml, DIR/fit.csv and DIR/fit.png.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--kuairand", metavar="LOG", help="KuaiRand impression log (tab- or comma-separated)")
    src.add_argument("--events", metavar="DIR", help="events/ directory of a `ranksim simulate` run")
    p.add_argument("--video-features", metavar="CSV",
                   help="KuaiRand-Pure video features: the catalogue's duration distribution")
    p.add_argument("--douyin", metavar="FILE",
                   help="Douyin ICME 2019 sample: its like rate, when the log cannot show one")
    p.add_argument("--config", metavar="FILE", help="start values and every setting not fitted (default: built-in)")
    p.add_argument("--users", type=int, default=2000, help="users of the simulated world per evaluation")
    p.add_argument("--days", type=int, default=7, help="days of the simulated world per evaluation")
    p.add_argument("--seed", type=int, default=0, help="the seed of every evaluation (common random numbers)")
    p.add_argument("--max-evals", type=int, default=150, help="most simulations")
    p.add_argument("--threads", type=int, help="Numba threads (results do not depend on it)")
    p.add_argument("--allow-poor-fit", action="store_true",
                   help="write world.toml and exit 0 even when weighted moments stay out of tolerance")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.set_defaults(func=_calibrate_command)


def _calibrate_command(args) -> int:
    from sim.config import load_config

    for name in ("users", "days", "max_evals"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1; got {getattr(args, name)}.")
    start = load_config(args.config)
    if args.kuairand:
        log = log_from_kuairand(args.kuairand)
        source = args.kuairand
    else:
        log = log_from_events(args.events)
        source = args.events
    t0 = time.perf_counter()
    res = calibrate(log, start, video_features=args.video_features, douyin=args.douyin, users=args.users,
                    days=args.days, seed=args.seed, max_evals=args.max_evals,
                    progress=not args.quiet, threads=args.threads)
    bad = write_outputs(res, args.out, source, allow_poor_fit=args.allow_poor_fit)
    print(f"ranksim calibrate: {res.evaluations} simulations of {args.users:,} users x {args.days} days in "
          f"{time.perf_counter() - t0:.0f} s -> {args.out}")
    for k, (a, b) in res.params.items():
        print(f"  {k}: {a:.4g} -> {b:.4g}")
    for k, v in res.closed_form.items():
        print(f"  {k}: {v} (from the catalogue)")
    for k, why in res.not_fitted.items():
        print(f"  {k}: not fitted ({why})")
    for r in res.rows():
        if r["weight"] == 0:
            print(f"  moment {r['moment']}: {r['status']}")
    if bad:
        msg = (f"ranksim calibrate: {len(bad)} weighted moment(s) out of tolerance after the fit: "
               + ", ".join(bad) + f" (see {Path(args.out) / 'fit.csv'})")
        if args.allow_poor_fit:
            print(msg + "; world.toml written anyway (--allow-poor-fit)", file=sys.stderr)
            return 0
        print(msg + "; world.toml not written (use --allow-poor-fit to write it anyway)", file=sys.stderr)
        return 1
    return 0
