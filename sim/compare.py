r"""``ranksim compare``: every policy on the same seeds, paired, then a report.

:func:`compare` plans the arms and runs (:mod:`sim.arms`: each arm is a
policy with its parameters, crossed with seeds that share a world and
random numbers), runs them through an executor (:mod:`sim.runner`, or a
Dask cluster with :mod:`sim.cluster`), writes ``DIR/summary.csv`` and
``DIR/summary.json`` (:mod:`sim.summary`, with the paired statistics of
:mod:`sim.stats`), then the figures and ``DIR/report.html``
(:mod:`sim.report`). Each run lives in ``DIR/runs/<arm>__seed<k>/`` (its
resolved ``config.toml`` and ``metrics.json``); complete runs of an identical
config are reused. The command line is in :mod:`sim.cli`.
"""

from __future__ import annotations

import errno
import os
import shlex
import time
from dataclasses import dataclass, replace
from dataclasses import replace as dataclass_replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

from ranker.learn.features import FEATURE_NAMES
from ranker.model_check import check_model_dir
from sim.arms import BASELINE, DEFAULT_SEEDS, Arm, build_specs, loop_grid_arms, plan
from sim.config import Config
from sim.cluster import dask_executor, parse_scheduler
from sim.preflight import COMPARE_LOCK, OutputLock, check_memory
from sim.report import write_report
from sim.runner import default_jobs, is_complete, run_specs, warm_up
from sim.summary import write_summary

DEFAULT_OUT = "ranksim-report"


@dataclass
class CompareResult:
    """What :func:`compare` did: where, how many runs, and the summary."""

    out_dir: Path
    summary: dict
    report: Path | None
    n_runs: int
    n_reused: int
    seconds: float

    def to_frame(self):
        """Every arm's statistics as a ``pandas.DataFrame``, one row per (arm, metric).

        Columns: ``n``, ``mean``, ``sd``, ``lo``, ``hi`` (the confidence interval of the mean at
        ``summary["ci_level"]``), ``unit``; and the difference against the baseline paired by
        seed, ``diff``, ``diff_lo``, ``diff_hi``, ``rel`` (diff / baseline mean), ``detectable``
        (the interval excludes 0; NaN and False for the baseline itself).
        """
        import pandas as pd

        s = self.summary
        rows = []
        for arm, per in s["stats"].items():
            for metric, st in per.items():
                pd_ = s["paired"].get(arm, {}).get(metric)
                rows.append({"arm": arm, "metric": metric, "n": st["n"], "mean": st["mean"], "sd": st["sd"],
                             "lo": st["lo"], "hi": st["hi"], "unit": s["metric_info"].get(metric, {}).get("unit", ""),
                             "diff": pd_["diff"] if pd_ else float("nan"),
                             "diff_lo": pd_["lo"] if pd_ else float("nan"),
                             "diff_hi": pd_["hi"] if pd_ else float("nan"),
                             "rel": pd_["rel"] if pd_ else float("nan"),
                             "detectable": bool(pd_["detectable"]) if pd_ else False})
        return pd.DataFrame(rows).set_index(["arm", "metric"])

    def runs_frame(self):
        """One row per run (index ``run_id``): ``arm``, ``policy``, ``seed`` and every single-number metric."""
        import pandas as pd

        rows = [{"run_id": r["run_id"], "arm": r["arm"], "policy": r["policy"], "seed": r["seed"], **r["scalars"]}
                for r in self.summary["runs"]]
        return pd.DataFrame(rows).set_index("run_id")


def _check_inputs(specs, out: Path, jobs, scheduler, executor, run_fn) -> None:
    """Everything a comparison needs, checked before any world is built.

    Model directories of every ranker (checked whole; a model retrained in
    the loop also against the loop's schema), the memory of the runs
    that will run at once on this machine, and that ``out`` can be written.
    """
    seen = set()
    for s in specs:
        rk = s.config.ranker
        key = (rk.model_dir, s.config.loop.retraining)
        if rk.model_dir and key not in seen:
            seen.add(key)
            checked = check_model_dir(rk.model_dir, FEATURE_NAMES)
            if s.config.loop.retraining:  # a starting model of another schema than the loop's, refused now
                from sim.loop import check_start_model

                check_start_model(rk.model_dir, checked)
    if run_fn is None and (scheduler is None or scheduler == "local"):
        at_once = 1 if executor is not None else (jobs if jobs is not None else default_jobs(len(specs)))
        check_memory(specs[0].config, copies=min(at_once, len(specs)), what="each run of this comparison")
    anc = out
    while not anc.exists():
        anc = anc.parent
    if not anc.is_dir():
        raise FileExistsError(f"--out {str(out)!r}: {anc} is a file, not a directory.")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, f"--out {str(out)!r}: cannot write in {anc} (permission denied)")
#: The world ``ranksim compare`` runs when no config is given: small enough that every policy at three
#: strengths, three seeds and the robustness variant run in under 3 minutes on 2 cores, warm-up included.
COMPARE_WORLD = {"n_users": 2_000, "n_creators": 200, "new_creators_per_day": 4}
COMPARE_DAYS = 21
#: Days ``ranksim compare``'s default runs simulate under none before their first measured day: value per
#: impression climbs steeply over a cold run's first week and slowly for two more, and no detectably after
#: (docs/report.md gives the figures).
COMPARE_WARMUP_DAYS = 21


def compare_default_config():
    """The built-in config of ``ranksim compare``: the default world scaled down (see :data:`COMPARE_WORLD`),
    :data:`COMPARE_WARMUP_DAYS` days of warm-up, then :data:`COMPARE_DAYS` measured days.

    ``--users N`` scales it keeping its proportions (1 creator per 10 users, 1 new creator a day per 500)."""
    c = Config()
    w = dataclass_replace(c.world, **COMPARE_WORLD)  # not explicit: --users scales these counts too
    return c.replace(world=w, run=c.run.replace(days=COMPARE_DAYS, warmup_days=COMPARE_WARMUP_DAYS, log_sample=0.0))


#: The regular-reader lift of the robustness variant (the defaults before issue 14 removed it).
VARIANT_PLAY_R, VARIANT_COMPLETE_R = 0.8, 0.4


def robustness_variant(cfg):
    """The second world the headline verdicts are re-run on: regular readers' views lifted (or no longer lifted).

    The stated assumption with the largest effect on new creators (docs/behavior.md,
    "Assumptions"): whether a regular reader plays and completes a followed creator's
    post more often than the post's quality and the reader's interest say, a habit
    effect no public log shows. The default world has no such lift; the variant adds
    the earlier one (``play_r`` 0.8, ``complete_r`` 0.4), which inflates incumbents'
    signals against newcomers' and halved the measured cost of tilting toward them.
    A config that already sets a lift is re-run without it.
    """
    b = cfg.behavior
    if b.play_r == 0.0 and b.complete_r == 0.0:
        lift = dict(play_r=VARIANT_PLAY_R, complete_r=VARIANT_COMPLETE_R)
    else:
        lift = dict(play_r=0.0, complete_r=0.0)
    return cfg.replace(behavior=b.replace(**lift))


#: What the robustness section says the variant is.
VARIANT_TEXT = ("regular readers' views lifted in play and completion as a habit would "
                "(play_r {a_p:g} and complete_r {a_c:g} instead of {b_p:g} and {b_c:g})")


def variant_text(cfg, v_cfg) -> str:
    """The robustness section's description of ``v_cfg`` against ``cfg``."""
    return VARIANT_TEXT.format(a_p=v_cfg.behavior.play_r, a_c=v_cfg.behavior.complete_r,
                               b_p=cfg.behavior.play_r, b_c=cfg.behavior.complete_r)


def compare(cfg=None, policies=None, seeds: int = DEFAULT_SEEDS, sweeps: Iterable[str] = (),
            out_dir=DEFAULT_OUT, jobs: int | None = None, executor=None, progress: bool = True,
            report: bool = True, run_fn: Callable | None = None, rankers: Sequence[str] | None = None,
            scheduler: str | None = None, frontier: bool = False, robustness: bool = False,
            command: str | None = None, loop_grid: str | None = None) -> CompareResult:
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
    frontier : bool
        Run every policy with a registered strength grid at each strength
        of it (the strength frontier); the command line's default.
    robustness : bool
        Also run ``none`` and each policy at the middle of its grid (or its
        defaults) on :func:`robustness_variant` of ``cfg``, into
        ``DIR/variant/``, for the report's robustness section.
    command : str, optional
        The command line that made the comparison, quoted in the report.
    loop_grid : str, optional
        ``learned:MODEL_DIR`` (or ``distilled:``): compare learning in the
        loop instead of policies alone, the arms of
        :func:`sim.arms.loop_grid_arms` (hand-set, this model learned once,
        retrained daily; each without and with the exploration of
        ``cfg.loop``; without a boost and with each of ``policies``; and the
        oracle). Not with ``sweeps``, ``rankers``, ``frontier`` or
        ``robustness``.

    Returns
    -------
    CompareResult
    """
    t0 = time.perf_counter()
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ValueError(f"The 'jobs' parameter of compare must be an int >= 1. Got {jobs!r} instead.")
    if scheduler is not None:
        scheduler = parse_scheduler(scheduler)
        if executor is not None:
            raise ValueError("compare takes an executor or a scheduler, not both.")
    if scheduler is not None and scheduler != "local" and jobs is not None:
        raise ValueError(f"--jobs sets the local worker processes; with --scheduler {scheduler} the cluster's "
                         "workers are the ones started for it (drop --jobs).")
    cfg = Config() if cfg is None else cfg
    if loop_grid is not None:
        extra = [n for n, v in (("sweeps", list(sweeps or ())), ("rankers", rankers), ("frontier", frontier),
                                ("robustness", robustness)) if v]
        if extra:
            raise ValueError(f"compare's loop_grid sets the arms itself (rankers, exploration, boosts); it does not "
                             f"take {', '.join(extra)}. Got loop_grid={loop_grid!r} with {', '.join(extra)} instead.")
        arms = loop_grid_arms(cfg, loop_grid, policies)
        specs = build_specs(cfg, arms, seeds)
    else:
        arms, specs = plan(cfg, policies, seeds, sweeps, rankers, frontier=frontier)
    v_arms, v_specs, v_cfg = [], [], None
    if robustness:
        v_cfg = robustness_variant(cfg)
        v_arms = headline_arms(arms)
        v_specs = build_specs(v_cfg, v_arms, seeds)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {str(out)!r} exists and is not a directory.")
    _check_inputs(specs, out, jobs, scheduler, executor, run_fn)
    out.mkdir(parents=True, exist_ok=True)
    with OutputLock(out / COMPARE_LOCK, f"comparison directory {str(out)!r}"):
        root = out / "runs"
        v_out = out / "variant"
        # the variant's runs live in DIR/variant/runs, run together with the main ones (one pool, one bar)
        v_specs = [replace(s, run_id=f"../variant/runs/{s.run_id}") for s in v_specs]
        all_specs = specs + v_specs
        n_reused = sum(is_complete(root / s.run_id, s.config) for s in all_specs)
        if run_fn is None and n_reused < len(all_specs) and (scheduler is None or scheduler == "local"):
            warm_up(all_specs, progress)
        if scheduler is not None and n_reused < len(all_specs):
            n_workers = default_jobs(len(all_specs) - n_reused) if jobs is None else jobs
            with dask_executor(scheduler, jobs=n_workers if scheduler == "local" else None, out_dir=out) as ex:
                metrics = run_specs(all_specs, out, ex, progress=progress, run_fn=run_fn)
        else:
            metrics = run_specs(all_specs, out, executor, jobs=jobs, progress=progress, run_fn=run_fn)
        from sim import __version__

        c0 = specs[0].config
        options = {"policies": [a.label for a in arms if a.sweep is None], "sweeps": list(sweeps or ()),
                   "seeds": seeds, "days": c0.run.days, "warmup_days": c0.run.warmup_days, "users": c0.world.n_users,
                   "proportions": c0.world.proportions(),
                   "creators": c0.world.n_creators, "new_creators_per_day": c0.world.new_creators_per_day,
                   "first_seed": c0.run.seed, "frontier": bool(frontier), "version": __version__,
                   "ai_label_play": c0.behavior.ai_label_play, "new_creator_days": c0.feed.new_creator_days,
                   "command": command or _api_command(policies, seeds, sweeps, frontier, robustness, loop_grid)}
        if v_specs:
            v_options = dict(options, variant=variant_text(cfg, v_cfg))
            v_metrics = metrics[len(specs):]
            v_specs = [replace(s, run_id=s.run_id.rsplit("/", 1)[-1]) for s in v_specs]
            v_out.mkdir(exist_ok=True)
            write_summary(v_out, v_arms, v_specs, v_metrics, v_options)
            options["variant"] = v_options["variant"]
        metrics = metrics[: len(specs)]
        summary = write_summary(out, arms, specs, metrics, options)
        path = None
        if report:
            path = write_report(out)
        return CompareResult(out_dir=out, summary=summary, report=path, n_runs=len(all_specs),
                             n_reused=n_reused, seconds=time.perf_counter() - t0)


def headline_arms(arms: Sequence[Arm]) -> list[Arm]:
    """The baseline and one arm per policy: the middle of its grid, else its defaults, else its first arm."""
    out, seen = [], set()
    by_policy: dict = {}
    for a in arms:
        if a.ranker is None:
            by_policy.setdefault(a.policy, []).append(a)
    for pol, members in by_policy.items():
        plain = [a for a in members if a.sweep is None]
        grid = [a for a in members if a.grid]
        pick = grid[len(grid) // 2] if grid else (plain[0] if plain else members[0])
        if pick.label not in seen:
            seen.add(pick.label)
            out.append(pick)
    out.sort(key=lambda a: a.policy != BASELINE)
    return out


def _api_command(policies, seeds, sweeps, frontier, robustness, loop_grid=None) -> str:
    """The ``ranksim compare`` command line equivalent to an API call (for the report)."""
    parts = ["ranksim", "compare"]
    if policies is not None:
        parts += ["--policies", policies if isinstance(policies, str) else ",".join(policies)]
    parts += ["--seeds", str(seeds)]
    for s in sweeps or ():
        parts += ["--sweep", s]
    if not frontier:
        parts.append("--no-frontier")
    if not robustness:
        parts.append("--no-robustness")
    if loop_grid is not None:
        parts += ["--loop-grid", loop_grid]
    return shlex.join(parts)
