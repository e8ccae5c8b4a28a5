"""Running the runs of a comparison: any executor, resumable, each run read back from its directory.

Runs go through a small executor interface, :func:`run_specs`: anything with
``submit(fn, *args)`` returning a future with ``result()`` works, so a
:class:`concurrent.futures.ProcessPoolExecutor` (the default) or a Dask
cluster (:mod:`sim.cluster`, ``--scheduler ADDRESS|local``) can run them. A
run whose directory already holds a complete run (``metrics.json``) of an
identical config is reused, not re-run, so an interrupted comparison resumes
where it stopped. Results are read back from each run's ``metrics.json``,
whichever executor wrote it.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing as mp
import os
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Sequence

from ranker._numba import COMPILE_SECONDS, cache_is_cold
from ranker._progress import Progress
from sim.arms import RunSpec
from sim.config import load_config
from sim.engine import simulate
from sim.world import build_world



#: Worlds built in this process, newest last: arms on one seed share their world.
_WORLDS: dict = {}
_WORLDS_KEPT = 2
# A Dask worker may run several runs at once in threads: one builds a world, the others wait for it.
_WORLDS_LOCK = threading.Lock()


def _world_for(cfg):
    """The world of ``cfg`` (built once per process for each world config, days, seed and ticks)."""
    key = (cfg.world, cfg.run.simulated_days, cfg.run.seed, cfg.feed.ticks_per_day)
    with _WORLDS_LOCK:
        w = _WORLDS.pop(key, None)
        if w is None:
            w = build_world(cfg.world, cfg.run.simulated_days, cfg.run.seed, cfg.feed.ticks_per_day)
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
    res = simulate(spec.config, out_dir=run_dir, progress=False, threads=threads, overwrite=True,
                   world=_world_for(spec.config))
    return {"run_id": spec.run_id, "seconds": float(res.seconds), "impressions": int(res.impressions)}


#: Metrics every finished run's ``metrics.json`` holds (each ``{"value": ...}``); without them a run is not complete.
REQUIRED_METRICS = ("impressions", "new_creator_exposure_share", "value_per_impression", "completion_rate",
                    "retention", "exposure_gini")


def is_complete(run_dir, cfg) -> bool:
    """Whether ``run_dir`` holds a finished run of exactly ``cfg``.

    Finished: ``metrics.json`` is a JSON object holding every metric of
    :data:`REQUIRED_METRICS` with a value (a ``{}`` or a truncated file is
    not a run), no ``INCOMPLETE`` marker, and ``config.toml`` equal to ``cfg``.
    """
    d = Path(run_dir)
    try:
        if not (d / "metrics.json").is_file() or (d / "INCOMPLETE").exists():
            return False
        m = json.loads((d / "metrics.json").read_text(encoding="utf-8"))
        if not isinstance(m, dict) or not all(isinstance(m.get(k), dict) and "value" in m[k]
                                              for k in REQUIRED_METRICS):
            return False
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
    return cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=watch_parent,
                                  initargs=(os.getpid(),))


#: Seconds between a worker's checks that the process that started it is alive.
WATCH_INTERVAL = 0.5


def watch_parent(parent_pid: int) -> None:
    """Worker initializer: exit at once when ``parent_pid`` (the comparing process) is gone.

    A comparison killed with SIGKILL cannot stop its workers; each worker
    therefore watches it from a daemon thread and ends itself (and the fork
    server it came from, whose only client was that process) within
    :data:`WATCH_INTERVAL` seconds, instead of running the queued runs for no
    one. On Linux the kernel also sends the worker SIGKILL when the fork
    server dies (``PR_SET_PDEATHSIG``).
    """
    import signal

    server = os.getppid()
    try:  # Linux: die with the fork server
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass

    def alive(pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # pragma: no cover - pid reused by another user's process
            return False
        return True

    def watch():
        while True:
            time.sleep(WATCH_INTERVAL)
            if not alive(parent_pid) or os.getppid() != server:
                if server not in (1, parent_pid) and alive(server):
                    try:
                        os.kill(server, signal.SIGTERM)
                    except OSError:
                        pass
                os._exit(1)

    threading.Thread(target=watch, name="ranksim-watch-parent", daemon=True).start()


def _stop_workers(executor) -> None:
    """Terminate a process pool's workers now (an interrupted comparison leaves none running)."""
    procs = getattr(executor, "_processes", None) or {}
    for p in list(procs.values()):
        try:
            p.terminate()
        except (OSError, AttributeError):
            pass
    for p in list(procs.values()):
        try:
            p.join(timeout=5)
        except (OSError, AttributeError, AssertionError):
            pass


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
        One bar over runs on a terminal, one line per finished run elsewhere.
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
    bar = Progress(len(specs), "ranksim compare", "run", enabled=progress, initial=len(specs) - len(todo))
    futures = {}
    done: set[str] = set()
    try:
        if isinstance(executor, SerialExecutor):
            # runs happen inside submit: stop at the first failure, update the bar after each run
            for s in todo:
                f = executor.submit(run_fn, s, str(root / s.run_id), threads)
                futures[f] = s
                _check(f, s)
                done.add(s.run_id)
                bar.update(1, run=s.run_id)
        else:
            for s in todo:
                futures[executor.submit(run_fn, s, str(root / s.run_id), threads)] = s
            for f in _as_completed(list(futures)):
                s = futures[f]
                if s.run_id in done:  # reported twice: the run directory counts once
                    continue
                _check(f, s)
                done.add(s.run_id)
                bar.update(1, run=s.run_id)
    except BaseException:
        for f in futures:
            f.cancel()
        if own is not None:
            if isinstance(own, cf.ProcessPoolExecutor):
                _stop_workers(own)  # their runs would go on after we are gone
            own.shutdown(wait=False, cancel_futures=True)
            own = None
        raise
    finally:
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


def warm_up(specs, progress: bool) -> None:
    """Compile the kernels once, here, before any worker starts.

    Numba writes what it compiles to its on-disk cache; local workers then load
    it instead of each compiling the same kernels at once (tens of seconds of
    CPU each on a fresh install). One tiny run per distinct (policy, ranker).
    """
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
        if progress and not seen - {k} and cache_is_cold():
            print(f"ranksim compare: compiling kernels (first run only, about {COMPILE_SECONDS} s)...",
                  file=sys.stderr, flush=True)
        if c.loop.retraining:  # one day retrains nothing (and a window longer than the day is refused)
            import dataclasses

            tiny = dataclasses.replace(tiny, loop=c.loop.replace(retrain_every=0, window_days=1))
        simulate(tiny.with_overrides(days=1, log_sample=0.0), progress=False, threads=1)
