r"""``ranksim compare``: every policy on the same seeds, paired, then a report.

A comparison is a set of *arms* (a policy with its parameters: every
registered policy at its defaults, plus one arm per value of each
``--sweep POLICY.PARAM=v1,v2``) crossed with seeds. Seed :math:`k` builds the
same world and draws the same random numbers for every arm (common random
numbers, see ``DESIGN.md``), so the difference between two arms on one seed
is the policy, not noise. Each (arm, seed) is one :class:`RunSpec`, run by
:func:`sim.engine.simulate` into ``DIR/runs/<arm>__seed<k>/`` (its resolved
``config.toml`` and ``metrics.json``).

Runs go through a small executor interface, :func:`run_specs`: anything with
``submit(fn, *args)`` returning a future with ``result()`` works, so a
:class:`concurrent.futures.ProcessPoolExecutor` (the default) or a Dask
cluster (:mod:`sim.cluster`, ``--scheduler ADDRESS|local``) can run them. A
run whose directory already holds a complete run (``metrics.json``) of an
identical config is reused, not re-run, so an interrupted comparison resumes
where it stopped.

Results are read back from each run's ``metrics.json``, whichever executor
wrote it, and summarized into ``DIR/summary.csv`` (one row per run: arm,
policy, params, seed, every scalar metric) and ``DIR/summary.json`` (the same
rows, per-arm statistics, differences against the baseline paired by seed
with t confidence intervals, and per-arm means of the series metrics).
:mod:`sim.report` then draws the figures and ``DIR/report.html`` from those
two files.

Paired differences: for a metric :math:`m`, an arm :math:`A` and the
baseline :math:`B` (policy ``none``), over the :math:`n` seeds where both are
defined,

.. math::

   d_k = m_A(k) - m_B(k), \qquad
   \bar d \pm t_{0.975,\, n-1} \, \frac{s_d}{\sqrt n},

with :math:`s_d` the sample standard deviation of the :math:`d_k`. A
difference is *detectable* when the interval excludes 0.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import csv
import io
import json
import math
import multiprocessing as mp
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

BASELINE = "none"
DEFAULT_SEEDS = 3
DEFAULT_OUT = "ranksim-report"
CI_LEVEL = 0.95
SUMMARY_FORMAT = 1
#: Leading columns of ``summary.csv``; every scalar metric follows, by name.
ID_COLUMNS = ("run_id", "arm", "policy", "params", "seed")

_SAFE = re.compile(r"[^A-Za-z0-9._=+-]+")


# --- what is compared -------------------------------------------------------------


@dataclass(frozen=True)
class Arm:
    """One thing compared across seeds: a policy with parameter overrides.

    Attributes
    ----------
    label : str
        Unique, directory-safe name: ``policy`` or ``policy__param=value``
        (``__ranker=<spec>`` appended when the arm sets a ranker).
    policy : str
        Registered policy name.
    params : dict
        Parameter overrides (empty: the policy's defaults).
    sweep : tuple or None
        ``(param, value)`` when the arm comes from ``--sweep``.
    ranker : str or None
        ``None``: the base config's ``[ranker]``; else a ranker in the
        command line's form (``hand``, ``oracle``, ``learned:MODEL_DIR``),
        see :meth:`sim.config.RankerConfig.parse`.
    """

    label: str
    policy: str
    params: dict = field(default_factory=dict)
    sweep: tuple | None = None
    ranker: str | None = None

    def config(self, base):
        """``base`` (a :class:`sim.config.Config`) with this arm's policy and ranker."""
        return base.with_overrides(policy=self.policy, policy_params=dict(self.params), ranker=self.ranker)

    def to_dict(self) -> dict:
        return {"label": self.label, "policy": self.policy, "params": _jsonable(self.params),
                "sweep": None if self.sweep is None else [self.sweep[0], _jsonable(self.sweep[1])],
                "ranker": self.ranker}


@dataclass(frozen=True)
class RunSpec:
    """One run: an arm on one seed, with its fully resolved config.

    ``run_id`` is ``<arm label>__seed<seed>``, also the run's directory name
    under ``DIR/runs/``. Specs are small and picklable, for any executor.
    """

    run_id: str
    arm: str
    seed: int
    config: Any  # sim.config.Config


def format_value(v) -> str:
    """A parameter value as it appears in an arm label (directory-safe)."""
    if isinstance(v, bool):
        s = "true" if v else "false"
    elif isinstance(v, float):
        s = repr(v)
    elif isinstance(v, (list, tuple)):
        s = "-".join(format_value(x) for x in v)
    else:
        s = str(v)
    return _SAFE.sub("_", s)


def _split_values(text: str) -> list[str]:
    """Split ``v1,v2,...`` on commas outside brackets (so ``[1,2],[3,4]`` is two lists)."""
    out, depth, cur = [], 0, []
    for ch in text:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [s.strip() for s in out]


def _parse_scalar(s: str):
    from sim.config import tomllib

    try:
        return tomllib.loads(f"x = {s}")["x"]
    except tomllib.TOMLDecodeError:
        return s


def parse_policies(text: str | Sequence[str] | None) -> list[str]:
    """Policy names from ``a,b,...`` (``None``: every registered one, ``none`` first).

    Raises ``ValueError`` naming an unknown policy and the registered ones.
    """
    from ranker.policies import REGISTRY

    allowed = sorted(REGISTRY)
    if text is None:
        return [BASELINE] + [p for p in allowed if p != BASELINE]
    names = [s.strip() for s in text.split(",")] if isinstance(text, str) else [str(s).strip() for s in text]
    names = [n for n in names if n]
    if not names:
        raise ValueError(f"--policies is empty; give one or more of: {', '.join(allowed)}.")
    bad = [n for n in names if n not in REGISTRY]
    if bad:
        raise ValueError(f"Unknown polic{'y' if len(bad) == 1 else 'ies'} {', '.join(map(repr, bad))} in --policies. "
                         f"Registered policies: {', '.join(allowed)}.")
    return list(dict.fromkeys(names))


def parse_sweep(text: str) -> list[Arm]:
    """Arms from one ``POLICY.PARAM=v1,v2,...`` (values as TOML scalars or lists).

    Each value is validated against the policy's parameter declaration before
    any run starts; errors name the bad part and what is allowed.
    """
    from ranker.policies import REGISTRY, make_policy

    shape = "--sweep must look like POLICY.PARAM=v1,v2,... (e.g. fixed_tilt.strength=0.25,0.5,1)"
    if not isinstance(text, str) or "=" not in text or "." not in text.split("=", 1)[0]:
        raise ValueError(f"{shape}; got {text!r}.")
    lhs, rhs = text.split("=", 1)
    policy, pname = (s.strip() for s in lhs.split(".", 1))
    if policy not in REGISTRY:
        raise ValueError(f"Unknown policy {policy!r} in --sweep {text!r}. Registered policies: {', '.join(sorted(REGISTRY))}.")
    cls = REGISTRY[policy]
    pnames = [row[0] for row in cls.Params.describe()]
    if not pnames:
        raise ValueError(f"Policy {policy!r} has no parameters to sweep (--sweep {text!r}).")
    if pname not in pnames:
        raise ValueError(f"Policy {policy!r} has no parameter {pname!r} (--sweep {text!r}). "
                         f"Its parameters: {', '.join(pnames)}.")
    raw = _split_values(rhs)
    if not rhs.strip() or any(not r for r in raw):
        raise ValueError(f"--sweep {text!r} has an empty value; {shape}.")
    arms = []
    for r in raw:
        v = _parse_scalar(r)
        try:
            resolved = make_policy(policy, {pname: v}).params.to_dict()[pname]
        except (TypeError, ValueError) as e:
            raise type(e)(f"--sweep {policy}.{pname}={r}: {e}") from None
        label = f"{policy}__{pname}={format_value(resolved)}"
        arms.append(Arm(label=label, policy=policy, params={pname: resolved}, sweep=(pname, resolved)))
    return arms


def build_arms(policies: Sequence[str] | str | None = None, sweeps: Iterable[str] = (),
               rankers: Sequence[str] | None = None) -> list[Arm]:
    """The arms of a comparison: the baseline first, then policies, then sweep values.

    Parameters
    ----------
    policies : str or sequence of str, optional
        ``a,b,...`` or a list; ``None``: every registered policy. The
        baseline ``none`` is always included (first), since every difference
        is taken against it.
    sweeps : iterable of str
        ``POLICY.PARAM=v1,v2,...`` each; one arm per value, after the
        policies, in the order given; repeated labels are kept once.
    rankers : sequence of str, optional
        Rankers each arm is crossed with, in the command line's form
        (``hand``, ``oracle``, ``learned:MODEL_DIR``, ``distilled:MODEL_DIR``);
        ``None``: the base config's ranker. The first ranker's arms keep plain
        labels (so its ``none`` is the baseline every difference is taken
        against); the others' labels end in ``__ranker=<spec>``.
    """
    names = parse_policies(policies)
    base = [Arm(label=n, policy=n) for n in [BASELINE] + [n for n in names if n != BASELINE]]
    for s in sweeps or ():
        base.extend(parse_sweep(s))
    arms, seen = [], set()
    rankers = [None] if not rankers else list(dict.fromkeys(rankers))
    for i, r in enumerate(rankers):
        for a in base:
            label = a.label if i == 0 else f"{a.label}__ranker={format_value(r)}"
            if label not in seen:
                seen.add(label)
                arms.append(Arm(label=label, policy=a.policy, params=dict(a.params), sweep=a.sweep, ranker=r))
    return arms


def build_specs(base_cfg, arms: Sequence[Arm], n_seeds: int) -> list[RunSpec]:
    """One :class:`RunSpec` per (arm, seed), seeds ``base_cfg.run.seed + k``.

    Event logging is switched off (``log_sample = 0``): a comparison needs
    only each run's online metrics.
    """
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, int):
        raise TypeError(f"The 'seeds' parameter of compare must be an int in the range [1, 1000]. Got {n_seeds!r} instead.")
    if not 1 <= n_seeds <= 1000:
        raise ValueError(f"The 'seeds' parameter of compare must be an int in the range [1, 1000]. Got {n_seeds!r} instead.")
    seed0 = base_cfg.run.seed
    specs = []
    for arm in arms:
        acfg = arm.config(base_cfg)
        for k in range(n_seeds):
            seed = seed0 + k
            cfg = acfg.with_overrides(seed=seed, log_sample=0.0)
            specs.append(RunSpec(run_id=f"{arm.label}__seed{seed}", arm=arm.label, seed=seed, config=cfg))
    return specs


# --- running --------------------------------------------------------------------------


#: Worlds built in this process, newest last: arms on one seed share their world.
_WORLDS: dict = {}
_WORLDS_KEPT = 2
# A Dask worker may run several runs at once in threads: one builds a world, the others wait for it.
_WORLDS_LOCK = threading.Lock()


def _world_for(cfg):
    """The world of ``cfg`` (built once per process for each world config, days, seed and ticks)."""
    from sim.world import build_world

    key = (cfg.world, cfg.run.days, cfg.run.seed, cfg.feed.ticks_per_day)
    with _WORLDS_LOCK:
        w = _WORLDS.pop(key, None)
        if w is None:
            w = build_world(cfg.world, cfg.run.days, cfg.run.seed, cfg.feed.ticks_per_day)
        _WORLDS[key] = w
        while len(_WORLDS) > _WORLDS_KEPT:
            _WORLDS.pop(next(iter(_WORLDS)))
    return w


def clear_world_cache() -> None:
    """Forget the worlds :func:`run_one` kept (frees their memory)."""
    with _WORLDS_LOCK:
        _WORLDS.clear()


def run_one(spec: RunSpec, run_dir: str, threads: int | None = 1) -> dict:
    """Run one spec into ``run_dir`` (replacing an incomplete or different run).

    The default task of :func:`run_specs`; module-level so any executor can
    pickle it. The world is built once per seed in each process and shared by
    the arms that follow on that seed (the engine only reads it). Returns a
    small status; the metrics are read back from ``run_dir/metrics.json`` by
    the caller.
    """
    from sim.engine import simulate

    res = simulate(spec.config, out_dir=run_dir, progress=False, threads=threads, overwrite=True,
                   world=_world_for(spec.config))
    return {"run_id": spec.run_id, "seconds": float(res.seconds), "impressions": int(res.impressions)}


def is_complete(run_dir, cfg) -> bool:
    """Whether ``run_dir`` holds a finished run (``metrics.json``) of exactly ``cfg``."""
    from sim.config import load_config

    d = Path(run_dir)
    try:
        if not (d / "metrics.json").is_file() or (d / "INCOMPLETE").exists():
            return False
        json.loads((d / "metrics.json").read_text(encoding="utf-8"))
        return load_config(d / "config.toml") == cfg
    except (OSError, ValueError, TypeError):
        return False


class SerialExecutor:
    """Runs each submitted call at once, in this process (``--jobs 1``)."""

    def submit(self, fn, *args, **kwargs):
        f = cf.Future()
        try:
            f.set_result(fn(*args, **kwargs))
        except BaseException as e:  # noqa: BLE001 - handed to the caller through the future
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            f.set_exception(e)
        return f

    def shutdown(self, wait=True, cancel_futures=False):
        pass


def process_executor(jobs: int) -> cf.ProcessPoolExecutor:
    """A pool of ``jobs`` worker processes that is safe whatever this process ran before.

    Workers come from a fork server (a fresh interpreter that has imported
    the engine once, then forks each worker): plain ``fork`` after this
    process has used Numba's GNU OpenMP thread pool (any earlier parallel
    kernel) would abort the child.
    """
    methods = mp.get_all_start_methods()
    if "forkserver" in methods:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["sim.engine"])
    else:  # pragma: no cover - Windows
        ctx = mp.get_context("spawn")
    return cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx)


def _as_completed(futures):
    """Futures in completion order, for concurrent.futures or Dask futures."""
    if all(isinstance(f, cf.Future) for f in futures):
        return cf.as_completed(futures)
    try:  # pragma: no cover - exercised by the Dask executor
        from distributed import as_completed
    except ImportError:  # pragma: no cover
        return iter(futures)
    client = getattr(futures[0], "client", None) if futures else None
    # the loop of the futures' own client: it need not be the default client
    return as_completed(futures, loop=getattr(client, "loop", None))


def default_jobs(n_runs: int) -> int:
    """Worker processes by default: the usable cores, at most one per run."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, n_runs))


def run_specs(specs: Sequence[RunSpec], out_dir, executor=None, *, jobs: int | None = None,
              progress: bool = True, run_fn: Callable | None = None) -> list[dict]:
    """Run every spec not already complete; return their metrics in spec order.

    Parameters
    ----------
    specs : sequence of RunSpec
        Unique ``run_id`` each.
    out_dir : path
        The comparison directory; run ``s`` writes ``out_dir/runs/<s.run_id>/``.
    executor : object with ``submit(fn, *args)``, optional
        Where runs execute: e.g. a ``ProcessPoolExecutor`` or a
        :class:`sim.cluster.DaskExecutor` (its workers must see
        ``out_dir``). Default: :class:`SerialExecutor` when ``jobs == 1``, else
        :func:`process_executor` with ``jobs`` workers (shut down on return).
    jobs : int, optional
        Worker processes for the default executor (default:
        :func:`default_jobs`).
    progress : bool
        One tqdm bar over runs.
    run_fn : callable, optional
        ``run_fn(spec, run_dir, threads)``, default :func:`run_one`; it must
        leave a complete run (``metrics.json``) in ``run_dir``.

    Returns
    -------
    list of dict
        ``metrics.json`` of each spec, read from disk whichever executor ran
        it (so results do not depend on the executor or on resumption).
        Each run counts once, keyed by its directory, however often an
        executor reports it (a retried task, a restarted worker).
    """
    run_fn = run_one if run_fn is None else run_fn
    root = Path(out_dir) / "runs"
    root.mkdir(parents=True, exist_ok=True)
    ids = [s.run_id for s in specs]
    if len(set(ids)) != len(ids):
        raise ValueError("run_specs: run ids must be unique.")
    # seed-major order: a worker that runs several arms on one seed builds that world once
    order = {seed: i for i, seed in enumerate(dict.fromkeys(s.seed for s in specs))}
    todo = sorted((s for s in specs if not is_complete(root / s.run_id, s.config)), key=lambda s: order[s.seed])
    own = None
    if executor is None and todo:
        jobs = default_jobs(len(todo)) if jobs is None else jobs
        own = executor = SerialExecutor() if jobs == 1 else process_executor(jobs)
    # In-process runs may use every Numba thread (results do not depend on the count);
    # worker processes use one each, since the workers already fill the cores.
    threads = None if isinstance(executor, SerialExecutor) else 1
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(specs), initial=len(specs) - len(todo), desc="ranksim compare", unit="run",
                   dynamic_ncols=True)
    futures = {}
    done: set[str] = set()
    try:
        if isinstance(executor, SerialExecutor):
            # runs happen inside submit: stop at the first failure, update the bar after each run
            for s in todo:
                if bar is not None:
                    bar.set_postfix_str(s.run_id)
                f = executor.submit(run_fn, s, str(root / s.run_id), threads)
                futures[f] = s
                _check(f, s)
                done.add(s.run_id)
                if bar is not None:
                    bar.update(1)
        else:
            for s in todo:
                futures[executor.submit(run_fn, s, str(root / s.run_id), threads)] = s
            for f in _as_completed(list(futures)):
                s = futures[f]
                if s.run_id in done:  # reported twice: the run directory counts once
                    continue
                _check(f, s)
                done.add(s.run_id)
                if bar is not None:
                    bar.set_postfix_str(s.run_id)
                    bar.update(1)
    except BaseException:
        for f in futures:
            f.cancel()
        if own is not None:
            own.shutdown(wait=False, cancel_futures=True)
            own = None
        raise
    finally:
        if bar is not None:
            bar.close()
        if own is not None:
            own.shutdown(wait=True)
        clear_world_cache()
    if done != {s.run_id for s in todo}:
        raise RunFailed(f"run_specs: {len({s.run_id for s in todo} - done)} submitted runs were never reported.")
    out = []
    for s in specs:
        d = root / s.run_id
        if not is_complete(d, s.config):
            raise RunFailed(f"Run {s.run_id} did not leave a complete run in {d}.")
        out.append(json.loads((d / "metrics.json").read_text(encoding="utf-8")))
    return out


class RunFailed(RuntimeError):
    """A run raised: names the run and the error; finished runs stay on disk."""


def _check(future, spec):
    try:
        future.result()
    except Exception as e:
        raise RunFailed(f"Run {spec.run_id} failed: {type(e).__name__}: {e}") from e


# --- statistics ------------------------------------------------------------------------


def _finite(x) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in x], dtype=np.float64)


def t_quantile(level: float, dof: int) -> float:
    """Two-sided Student t critical value: :math:`t_{(1+level)/2,\\, dof}`."""
    from scipy import stats

    return float(stats.t.ppf(0.5 + level / 2.0, dof))


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
    import warnings

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


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


# --- summary files ---------------------------------------------------------------------


def atomic_write(path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary sibling and one rename."""
    from ranker.io import atomic_write as _atomic

    raw = data.encode("utf-8") if isinstance(data, str) else data
    _atomic(path, lambda f: f.write(raw))


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ""
    return str(v)


def summary_rows(specs: Sequence[RunSpec], metrics: Sequence[dict]) -> tuple[list[dict], list[str]]:
    """Rows of ``summary.csv`` (one per run) and the scalar metric names."""
    names: list[str] = []
    for m in metrics:
        for k in scalar_names(m):
            if k not in names:
                names.append(k)
    names.sort()
    rows = []
    for s, m in zip(specs, metrics):
        row = {"run_id": s.run_id, "arm": s.arm, "policy": s.config.policy.name,
               "params": json.dumps(_jsonable(s.config.policy.params), sort_keys=True, separators=(",", ":")),
               "seed": s.seed}
        for k in names:
            v = m.get(k, {}).get("value")
            row[k] = None if v is None else (float(v) if isinstance(v, float) else v)
        rows.append(row)
    return rows, names


def write_summary(out_dir, arms: Sequence[Arm], specs: Sequence[RunSpec], metrics: Sequence[dict],
                  options: dict | None = None) -> dict:
    """Write ``summary.csv`` and ``summary.json`` into ``out_dir`` (atomically); return the summary.

    Nothing in them depends on wall-clock time or on the executor, so the
    same comparison writes the same bytes.
    """
    out = Path(out_dir)
    ids = [s.run_id for s in specs]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"write_summary: runs {', '.join(dup)} appear more than once; each run directory "
                         "must be summarized exactly once.")
    if len(metrics) != len(specs):
        raise ValueError(f"write_summary: {len(specs)} runs but {len(metrics)} metrics.")
    rows, names = summary_rows(specs, metrics)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    cols = list(ID_COLUMNS) + names
    w.writerow(cols)
    for r in rows:
        w.writerow([_cell(r[c]) for c in cols])
    seeds = sorted({s.seed for s in specs})
    labels = [a.label for a in arms]
    # statistics from the rows as read back from the CSV text, so they equal what the CSV shows
    stats, paired = summarize_rows(read_summary_csv_text(buf.getvalue()), labels, names, seeds)
    per_arm = {a: [m for s, m in zip(specs, metrics) if s.arm == a] for a in labels}
    snames = sorted({n for m in metrics for n in series_names(m)})
    info = {}
    for m in metrics:
        for k, v in m.items():
            info.setdefault(k, {"unit": v.get("unit", ""), "description": v.get("description", "")})
    summary = {
        "format": SUMMARY_FORMAT,
        "baseline": BASELINE,
        "ci_level": CI_LEVEL,
        "options": _jsonable(options or {}),
        "arms": [a.to_dict() for a in arms],
        "seeds": seeds,
        "scalars": names,
        "metric_info": {k: info[k] for k in sorted(info)},
        "runs": [{"run_id": r["run_id"], "arm": r["arm"], "policy": r["policy"], "params": json.loads(r["params"]),
                  "seed": r["seed"], "dir": f"runs/{r['run_id']}", "scalars": {k: r[k] for k in names}}
                 for r in rows],
        "stats": stats,
        "paired": paired,
        "series": summarize_series(per_arm, snames),
    }
    atomic_write(out / "summary.csv", buf.getvalue())
    atomic_write(out / "summary.json", json.dumps(_jsonable(summary), indent=1, allow_nan=False) + "\n")
    return summary


def read_summary_csv_text(text: str) -> list[dict]:
    """Parse ``summary.csv`` text: metric cells to float (empty: ``None``), seed to int."""
    reader = csv.DictReader(io.StringIO(text))
    rows = []
    for r in reader:
        row = {}
        for k, v in r.items():
            if k in ("run_id", "arm", "policy", "params"):
                row[k] = v
            elif k == "seed":
                row[k] = int(v)
            else:
                row[k] = None if v == "" else float(v)
        rows.append(row)
    return rows


def read_summary_csv(path) -> list[dict]:
    """Rows of a ``summary.csv`` file (see :func:`read_summary_csv_text`)."""
    return read_summary_csv_text(Path(path).read_text(encoding="utf-8"))


# --- the whole comparison ------------------------------------------------------------------


@dataclass
class CompareResult:
    """What :func:`compare` did: where, how many runs, and the summary."""

    out_dir: Path
    summary: dict
    report: Path | None
    n_runs: int
    n_reused: int
    seconds: float


def plan(cfg=None, policies=None, seeds: int = DEFAULT_SEEDS, sweeps: Iterable[str] = (),
         rankers: Sequence[str] | None = None) -> tuple[list[Arm], list[RunSpec]]:
    """Arms and run specs of a comparison, validated (no work is done)."""
    from sim.config import Config

    cfg = Config() if cfg is None else cfg
    arms = build_arms(policies, sweeps, rankers)
    return arms, build_specs(cfg, arms, seeds)


def compare(cfg=None, policies=None, seeds: int = DEFAULT_SEEDS, sweeps: Iterable[str] = (),
            out_dir=DEFAULT_OUT, jobs: int | None = None, executor=None, progress: bool = True,
            report: bool = True, run_fn: Callable | None = None, rankers: Sequence[str] | None = None,
            scheduler: str | None = None) -> CompareResult:
    """Run a paired comparison and write its summary and report.

    Parameters
    ----------
    cfg : Config, optional
        The base world and run settings (default ``Config()``); the policy
        section is replaced per arm, the seed per run.
    policies : str or sequence of str, optional
        Policies compared at their defaults (default: every registered one).
    seeds : int
        Seeds per arm: ``cfg.run.seed``, ``+1``, ...
    sweeps : iterable of str
        ``POLICY.PARAM=v1,v2,...``: one more arm per value.
    out_dir : path
        Where ``runs/``, ``summary.csv``, ``summary.json``, ``figures/`` and
        ``report.html`` go. Complete runs already there with an identical
        config are reused.
    jobs, executor, progress, run_fn
        See :func:`run_specs`.
    report : bool
        Also write the figures and ``report.html`` (:func:`sim.report.write_report`).
    rankers : sequence of str, optional
        Cross every arm with these rankers (see :func:`build_arms`).
    scheduler : str, optional
        Run on Dask instead of local processes: ``"local"`` starts an
        embedded ``LocalCluster`` of ``jobs`` single-threaded worker
        processes (default: the cores, at most one per run); otherwise the
        address (or scheduler file) of an existing Dask scheduler, whose
        workers must see ``out_dir`` at the same path (see
        :mod:`sim.cluster`). The summary is the same, byte for byte.

    Returns
    -------
    CompareResult
    """
    t0 = time.perf_counter()
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ValueError(f"The 'jobs' parameter of compare must be an int >= 1. Got {jobs!r} instead.")
    if scheduler is not None:
        from sim.cluster import parse_scheduler

        scheduler = parse_scheduler(scheduler)
        if executor is not None:
            raise ValueError("compare takes an executor or a scheduler, not both.")
    if scheduler is not None and scheduler != "local" and jobs is not None:
        raise ValueError(f"--jobs sets the local worker processes; with --scheduler {scheduler} the cluster's "
                         "workers are the ones started for it (drop --jobs).")
    arms, specs = plan(cfg, policies, seeds, sweeps, rankers)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {str(out)!r} exists and is not a directory.")
    out.mkdir(parents=True, exist_ok=True)
    root = out / "runs"
    n_reused = sum(is_complete(root / s.run_id, s.config) for s in specs)
    if run_fn is None and n_reused < len(specs) and (scheduler is None or scheduler == "local"):
        _warm_up(specs, progress)
    if scheduler is not None and n_reused < len(specs):
        from sim.cluster import dask_executor

        n_workers = default_jobs(len(specs) - n_reused) if jobs is None else jobs
        with dask_executor(scheduler, jobs=n_workers if scheduler == "local" else None, out_dir=out) as ex:
            metrics = run_specs(specs, out, ex, progress=progress, run_fn=run_fn)
    else:
        metrics = run_specs(specs, out, executor, jobs=jobs, progress=progress, run_fn=run_fn)
    options = {"policies": [a.label for a in arms if a.sweep is None], "sweeps": list(sweeps or ()),
               "seeds": seeds, "days": specs[0].config.run.days, "users": specs[0].config.world.n_users,
               "first_seed": specs[0].config.run.seed}
    summary = write_summary(out, arms, specs, metrics, options)
    path = None
    if report:
        from sim.report import write_report

        path = write_report(out)
    return CompareResult(out_dir=out, summary=summary, report=path, n_runs=len(specs), n_reused=n_reused,
                         seconds=time.perf_counter() - t0)


# --- command line ------------------------------------------------------------------------


def _int_arg(lo=None):
    """argparse type: an int (``>= lo`` when given; config fields are checked by the config)."""

    def conv(s):
        what = "an int" if lo is None else f"an int >= {lo}"
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}; got {s!r}") from None
        if lo is not None and v < lo:
            raise argparse.ArgumentTypeError(f"must be {what}; got {s!r}")
        return v

    conv.__name__ = "int"
    return conv


def add_compare_parser(subparsers) -> None:
    """Add ``ranksim compare`` to the CLI's subparsers."""
    p = subparsers.add_parser(
        "compare", help="run policies on the same seeds (paired) and write an HTML report",
        description="Run every policy on the same seeds (common random numbers), in parallel processes, and "
                    "write DIR/report.html, DIR/summary.csv, DIR/summary.json and DIR/runs/. Complete runs "
                    "already in DIR with an identical config are reused.")
    p.add_argument("--config", metavar="FILE", help="TOML config (default: the built-in default world)")
    p.add_argument("--policies", metavar="A,B,...", help="policies to compare (default: every registered one; "
                                                         "'none' is always included as the baseline)")
    p.add_argument("--seeds", type=_int_arg(1), default=DEFAULT_SEEDS, metavar="N",
                   help=f"seeds per policy, from the config's [run] seed on (default {DEFAULT_SEEDS})")
    p.add_argument("--days", type=_int_arg(), metavar="N", help="override [run] days")
    p.add_argument("--users", type=_int_arg(), metavar="N", help="override [world] n_users")
    p.add_argument("--sweep", action="append", default=[], metavar="POLICY.PARAM=V1,V2,...",
                   help="one more arm per value (repeatable), e.g. fixed_tilt.strength=0.25,0.5,1")
    p.add_argument("--jobs", type=_int_arg(1), metavar="N",
                   help="worker processes, local or of --scheduler local (default: the cores)")
    p.add_argument("--scheduler", metavar="ADDRESS|local",
                   help="run on Dask: the address (tcp://host:8786) or scheduler file of an existing cluster, "
                        "whose workers must see --out at the same path; or 'local' for an embedded "
                        "LocalCluster of --jobs workers (default: local processes, no Dask)")
    p.add_argument("--rankers", metavar="A,B,...",
                   help="rankers to cross every policy with: hand, oracle, learned:MODEL_DIR, distilled:MODEL_DIR "
                        "(the first is the baseline's ranker; default: the config's)")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help=f"output directory (default ./{DEFAULT_OUT})")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_compare_cmd)


def _warm_up(specs, progress: bool) -> None:
    """Compile the kernels once, here, before any worker starts.

    Numba writes what it compiles to its on-disk cache; local workers then load
    it instead of each compiling the same kernels at once (tens of seconds of
    CPU each on a fresh install). One tiny run per distinct (policy, ranker).
    """
    from sim.engine import simulate

    seen = set()
    for s in specs:
        c = s.config
        k = (c.policy.name, c.ranker)
        if k in seen:
            continue
        seen.add(k)
        tiny = c.replace(world=c.world.replace(n_users=min(c.world.n_users, 200),
                                               n_creators=min(c.world.n_creators, 20),
                                               new_creators_per_day=min(c.world.new_creators_per_day, 2)))
        if progress and not seen - {k}:
            print("ranksim compare: compiling kernels (once per installation and version)...", file=sys.stderr,
                  flush=True)
        simulate(tiny.with_overrides(days=1, log_sample=0.0), progress=False, threads=1)


def _parse_rankers(text):
    """``hand,learned:DIR,oracle`` -> validated list (``None`` when not given)."""
    if text is None:
        return None
    from sim.config import RankerConfig

    specs = [t.strip() for t in text.split(",") if t.strip()]
    if not specs:
        raise ValueError("--rankers needs at least one ranker: hand, oracle, learned:MODEL_DIR, distilled:MODEL_DIR.")
    for spec in specs:
        rk = RankerConfig.parse(spec)
        if rk.model_dir and not Path(rk.model_dir).is_dir():
            raise ValueError(f"--rankers: model directory {rk.model_dir!r} does not exist (write one with "
                             "`ranksim learn --out DIR`).")
    return specs


def _compare_cmd(args) -> int:
    from sim.cluster import ClusterError
    from sim.config import load_config

    cfg = load_config(args.config).with_overrides(days=args.days, users=args.users, log_sample=0.0)
    try:
        res = compare(cfg, policies=args.policies, seeds=args.seeds, sweeps=args.sweep, out_dir=args.out,
                      jobs=args.jobs, progress=not args.quiet, scheduler=args.scheduler,
                      rankers=_parse_rankers(args.rankers))
    except RunFailed as e:
        print(f"ranksim compare: error: {e} (finished runs are kept; run the same command again to resume)",
              file=sys.stderr)
        return 1
    except ClusterError as e:
        print(f"ranksim compare: error: {e}", file=sys.stderr)
        return 1
    ran = res.n_runs - res.n_reused
    reused = f" ({res.n_reused} reused)" if res.n_reused else ""
    print(f"ranksim compare: {ran} runs{reused} in {res.seconds:.1f} s -> {res.report or res.out_dir}")
    from sim.report import verdict_lines

    for line in verdict_lines(res.summary):
        print(f"  {line}")
    return 0

