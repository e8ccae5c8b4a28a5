r"""Policy sweeps on a Dask cluster: the executor behind ``ranksim compare --scheduler``.

:func:`sim.runner.run_specs` runs a comparison through any object with
``submit(fn, spec, run_dir, threads)``. This module gives it one backed by
Dask distributed: :class:`DaskExecutor` wraps a ``distributed.Client``, and
:func:`dask_executor` connects to an existing scheduler (``ADDRESS``, or a
scheduler file) or starts an embedded ``LocalCluster`` (``"local"``).

Why results do not depend on the executor: a run is a pure function of its
config (common random numbers keyed by the seed, Numba results independent
of the thread count), each worker writes its run into the output directory
the user gave, and the summary is always read back from those directories by
the client. For a remote cluster that directory must therefore be on storage
every worker mounts at the same path; :func:`check_workers` refuses to start
otherwise, and also when a worker runs other ranksim code.

Why a lost worker costs nothing but time: each run is one task, and tasks
are idempotent.

- :func:`sim.engine.simulate` writes a run into a hidden temporary sibling
  (``runs/.<id>.partial-*``, marked ``INCOMPLETE``) and renames it into place
  only when ``metrics.json`` is written, so a run cut short is never taken
  as complete.
- :func:`run_task` first checks whether the run directory already holds a
  complete run of the same config (a worker that died after its rename, or
  a concurrent duplicate) and then returns without running it again.
- The scheduler re-runs the task of a worker that died on another worker
  (up to ``distributed.scheduler.allowed-failures`` deaths per task; an
  embedded cluster allows :data:`ALLOWED_FAILURES`), and ``retries`` re-runs
  a task that raised (e.g. a rename that lost a race on shared storage).
- The client counts each run once (:func:`sim.runner.run_specs` keys
  results by run directory and asserts none is repeated).
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import re
import uuid
import warnings
from pathlib import Path
from typing import Callable, Iterator

from sim.runner import clear_world_cache, default_jobs, is_complete

#: Times a run that raised is re-submitted (``Client.submit(retries=...)``).
RETRIES = 2
#: Worker deaths one task may cause before the embedded cluster gives it up.
ALLOWED_FAILURES = 3
#: What ``--scheduler`` takes to start an embedded ``LocalCluster``.
LOCAL = "local"
_INSTALL = "pip install 'ranksim[cluster]' (Dask and distributed, the cluster extra)"


class ClusterError(RuntimeError):
    """The cluster cannot run this comparison: one line saying why and what to do."""


# --- the task ---------------------------------------------------------------------------


def run_task(fn: Callable, spec, run_dir: str, threads: int | None = 1) -> dict:
    """Run ``fn(spec, run_dir, threads)`` unless ``run_dir`` already holds it, complete.

    The task every :class:`DaskExecutor` submits. Makes a run idempotent: a
    retry of a run whose earlier attempt finished (the worker died after
    renaming the run into place, before the scheduler heard of it) returns at
    once, and a half-written attempt (a hidden ``.partial-`` directory, or a
    run directory without ``metrics.json``) is never taken as done.

    Parameters
    ----------
    fn : callable
        ``fn(spec, run_dir, threads)``, e.g. :func:`sim.runner.run_one`;
        must leave a complete run in ``run_dir``.
    spec : sim.arms.RunSpec
        The run.
    run_dir : str
        Absolute path of the run's directory, as the worker sees it.
    threads : int or None
        Numba threads for the run.

    Returns
    -------
    dict
        ``fn``'s status, or ``{"run_id", "reused": True}`` when the run was
        already complete.
    """
    if is_complete(run_dir, spec.config):
        return {"run_id": spec.run_id, "reused": True}
    return fn(spec, run_dir, threads)


# --- the executor -----------------------------------------------------------------------


class DaskExecutor:
    """The executor interface of :func:`sim.runner.run_specs` over a Dask ``Client``.

    Parameters
    ----------
    client : distributed.Client
        Connected client; its workers must see the comparison's directory at
        the same absolute path (see :func:`check_workers`).
    retries : int
        Times a run that raised is re-run (a worker that *died* is handled
        by the scheduler, see the module docstring).

    Notes
    -----
    Each call becomes one task, ``run_task(fn, spec, abspath(run_dir),
    threads)``, keyed ``ranksim-<run_id>-<random>`` so that it reads in the
    Dask dashboard and never collides with another client's task.
    """

    def __init__(self, client, retries: int = RETRIES):
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"The 'retries' parameter of DaskExecutor must be an int >= 0. Got {retries!r} instead.")
        self.client = client
        self.retries = retries

    def submit(self, fn: Callable, spec, run_dir, threads: int | None = 1):
        """Submit one run; returns a ``distributed.Future``."""
        key = f"ranksim-{spec.run_id}-{uuid.uuid4().hex[:12]}"
        # The worker's working directory is not ours: give it an absolute path.
        return self.client.submit(run_task, fn, spec, os.path.abspath(run_dir), threads, key=key,
                                  retries=self.retries, pure=False)

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        """Drop the worlds the workers cached for this comparison (the client stays open)."""
        with contextlib.suppress(Exception):
            self.client.run(clear_world_cache, on_error="ignore")


# --- connecting -------------------------------------------------------------------------


def _distributed():
    try:
        import distributed
    except ImportError:
        raise ClusterError(f"--scheduler needs Dask distributed, which is not installed: {_INSTALL}") from None
    return distributed


def start_local_cluster(n_workers: int):
    """An embedded ``LocalCluster`` of ``n_workers`` processes with one thread each.

    Workers are spawned (fresh interpreters), not forked: a fork after Numba's
    GNU OpenMP pool has started aborts the child. The dashboard (when bokeh
    is installed) takes a free port; logs below ERROR are silenced (a worker
    lost and restarted is routine here).
    """
    if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
        raise ValueError(f"The 'jobs' parameter of compare must be an int >= 1. Got {n_workers!r} instead.")
    distributed = _distributed()
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                          "distributed.worker.multiprocessing-method": "spawn"}):
        return distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                        dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR)


def parse_scheduler(scheduler) -> str:
    """``--scheduler`` checked and stripped: ``"local"``, an address or a scheduler file (no connection made).

    Raises :class:`ClusterError` when Dask distributed (the ``[cluster]`` extra) is not installed.
    """
    shape = "--scheduler must be 'local' or a Dask scheduler address (tcp://host:8786 or host:8786) or an " \
            "existing scheduler file"
    if not isinstance(scheduler, str) or not scheduler.strip():
        raise ValueError(f"{shape}; got {scheduler!r}.")
    s = scheduler.strip()
    if s != LOCAL and not os.path.isfile(s):
        m = _ADDRESS.fullmatch(s)
        if m is None or not 0 < int(m.group("port")) < 65536:
            raise ValueError(f"{shape}; got {scheduler!r} (no such file, and not an address with a port).")
    _distributed()  # the [cluster] extra: say so before any run starts
    return s


_ADDRESS = re.compile(r"(?:(?:tcp|tls|ucx|ws|wss)://)?(?P<host>[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]):(?P<port>\d{1,5})/?")


def connect(scheduler: str, jobs: int | None = None):
    """A ``(client, cluster)`` pair for ``--scheduler``; ``cluster`` is ``None`` unless embedded.

    Parameters
    ----------
    scheduler : str
        ``"local"``: start an embedded ``LocalCluster`` of ``jobs`` workers;
        the path of an existing file: a Dask scheduler file (``dask
        scheduler --scheduler-file``); anything else: a scheduler address
        (``tcp://host:8786`` or ``host:8786``).
    jobs : int, optional
        Workers of the embedded cluster (default: the usable cores). Not
        allowed with a remote scheduler, whose size is set where its workers
        start.
    """
    scheduler = parse_scheduler(scheduler)
    if scheduler == LOCAL:
        n = default_jobs(10**9) if jobs is None else jobs
        distributed = _distributed()
        cluster = start_local_cluster(n)
        try:
            client = distributed.Client(cluster, set_as_default=False)
        except BaseException:
            cluster.close()
            raise
        return client, cluster
    if jobs is not None:
        raise ValueError(f"--jobs sets the local worker processes; with --scheduler {scheduler} the cluster's "
                         "workers are the ones started for it (drop --jobs).")
    distributed = _distributed()
    try:
        if os.path.isfile(scheduler):
            client = distributed.Client(scheduler_file=scheduler, set_as_default=False)
        else:
            client = distributed.Client(scheduler, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise ClusterError(f"cannot reach the Dask scheduler at {scheduler!r} ({type(e).__name__}: {e}).") from None
    return client, None


def _environment() -> dict:
    """What must match between the client and every worker for identical results."""
    import numba
    import numpy

    from ranker._numba import SOURCE_HASH

    # the code this process loaded, not the files on disk now (a long-lived worker may predate an edit)
    return {"ranksim_source": SOURCE_HASH, "python": platform.python_version(),
            "numpy": numpy.__version__, "numba": numba.__version__}


def worker_probe(path: str) -> dict:
    """Run on each worker by :func:`check_workers`: the probe file's text (``None``: unseen) and the environment."""
    try:
        seen = Path(path).read_text(encoding="utf-8")
    except OSError:
        seen = None
    return {"probe": seen, "host": platform.node(), **_environment()}


def check_workers(client, out_dir) -> dict[str, dict]:
    """Check that every connected worker sees ``out_dir`` and runs the same ranksim code.

    Writes a probe file with a random token into ``out_dir`` and asks each
    worker to read it back (``client.run``). Workers that join later are not
    checked. With no worker connected yet (e.g. an adaptive cluster), nothing
    is checked.

    Parameters
    ----------
    client : distributed.Client
    out_dir : path
        The comparison directory (must exist).

    Returns
    -------
    dict
        ``worker address -> worker_probe answer``.

    Raises
    ------
    ClusterError
        A worker cannot import ranksim, cannot see ``out_dir`` at the same
        path, or runs ranksim sources that differ from the client's (its
        numbers would differ). Different NumPy, Numba or Python versions
        only warn.
    """
    out = Path(out_dir).resolve()
    token = uuid.uuid4().hex
    probe = out / f".ranksim-probe-{token}"
    probe.write_text(token, encoding="utf-8")
    try:
        answers = client.run(worker_probe, str(probe), on_error="return")
    finally:
        probe.unlink(missing_ok=True)
    here = _environment()
    broken, blind, other, versions = [], [], [], []
    for addr, a in sorted(answers.items()):
        if isinstance(a, BaseException):
            broken.append(f"{addr} ({type(a).__name__}: {a})")
        elif a.get("probe") != token:
            blind.append(f"{addr} on {a.get('host')}")
        elif a.get("ranksim_source") != here["ranksim_source"]:
            other.append(f"{addr} (source {a.get('ranksim_source')}, here {here['ranksim_source']})")
        elif any(a.get(k) != here[k] for k in ("python", "numpy", "numba")):
            versions.append(f"{addr}: " + ", ".join(f"{k} {a.get(k)} (here {here[k]})"
                                                     for k in ("python", "numpy", "numba") if a.get(k) != here[k]))

    def few(xs):
        return ", ".join(xs[:3]) + (f" and {len(xs) - 3} more" if len(xs) > 3 else "")

    if broken:
        raise ClusterError(f"{len(broken)} Dask worker(s) cannot run ranksim: {few(broken)}; install ranksim "
                           "(the same version) on every worker.")
    if blind:
        raise ClusterError(f"{len(blind)} Dask worker(s) cannot see the output directory {str(out)!r}: "
                           f"{few(blind)}; --out must be on storage every worker mounts at the same path.")
    if other:
        raise ClusterError(f"{len(other)} Dask worker(s) run other ranksim code: {few(other)}; their numbers "
                           "would differ, install the same ranksim on every worker.")
    if versions:
        warnings.warn(f"Dask workers run other library versions than this process ({few(versions)}); "
                      "results may differ in the last bits.", RuntimeWarning, stacklevel=2)
    return answers


@contextlib.contextmanager
def dask_executor(scheduler: str, *, jobs: int | None = None, out_dir=None,
                  retries: int = RETRIES) -> Iterator[DaskExecutor]:
    """A :class:`DaskExecutor` for ``--scheduler``, closed (and an embedded cluster stopped) on exit.

    Parameters
    ----------
    scheduler : str
        ``"local"``, a scheduler address or a scheduler file (see :func:`connect`).
    jobs : int, optional
        Workers of an embedded cluster.
    out_dir : path, optional
        The comparison directory, checked with :func:`check_workers` before
        anything is submitted.
    retries : int
        See :class:`DaskExecutor`.

    Examples
    --------
    >>> from sim.compare import plan, run_specs            # doctest: +SKIP
    >>> arms, specs = plan(policies="none,fixed_tilt")      # doctest: +SKIP
    >>> with dask_executor("tcp://10.0.0.5:8786", out_dir="/shared/rep") as ex:  # doctest: +SKIP
    ...     metrics = run_specs(specs, "/shared/rep", ex)
    """
    client, cluster = connect(scheduler, jobs)
    ex = None
    try:
        if out_dir is not None:
            check_workers(client, out_dir)
        ex = DaskExecutor(client, retries=retries)
        yield ex
    finally:
        if ex is not None and cluster is None:
            ex.shutdown()  # a shared cluster outlives us: free the worlds its workers cached
        with contextlib.suppress(Exception):
            client.close()
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()

