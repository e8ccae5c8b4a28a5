"""``ranksim compare --scheduler``: sweeps on a Dask cluster give the local summary, byte for byte.

One 2-worker ``LocalCluster`` (spawned processes, one thread each) serves the
module. The real engine runs a tiny sweep (300 users, 3 days, 2 policies x
2 seeds) through it, once plainly and once with a worker process killed in
the middle of a run; both summaries must equal the local-process run's bytes,
and every run must have finished exactly once. The rest (idempotent tasks,
retries, worker checks, errors) uses the fake engine of
``tests/test_compare.py``.
"""

from __future__ import annotations

import csv
import functools
import json
import os
import signal
import sys
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from sim import cluster as K  # noqa: E402
from sim import arms as A  # noqa: E402
from sim import compare as C  # noqa: E402
from sim import runner as R  # noqa: E402
from sim import summary as Y  # noqa: E402
from tests.test_compare import fake_run, tiny_cfg  # noqa: E402

POLICIES = "none,fixed_tilt"
SEEDS = 2
USERS, DAYS = 300, 3
RUN_IDS = sorted(f"{p}__seed{k}" for p in POLICIES.split(",") for k in range(SEEDS))


def real_cfg():
    return tiny_cfg().with_overrides(users=USERS, days=DAYS)


def _summary_bytes(out):
    return (Path(out) / "summary.csv").read_bytes(), (Path(out) / "summary.json").read_bytes()


def _summary_ids(out) -> list[str]:
    with open(Path(out) / "summary.csv", newline="") as f:
        return [r["run_id"] for r in csv.DictReader(f)]


@pytest.fixture(scope="module")
def client():
    """A 2-worker LocalCluster as ``--scheduler local`` starts it, and a client on it."""
    import distributed

    cluster = K.start_local_cluster(2)
    c = distributed.Client(cluster, set_as_default=False)
    try:
        c.wait_for_workers(2, timeout=60)
        yield c
    finally:
        c.close()
        cluster.close()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The tiny sweep on local worker processes (no Dask): the bytes every executor must give."""
    out = tmp_path_factory.mktemp("local") / "rep"
    C.compare(real_cfg(), policies=POLICIES, seeds=SEEDS, out_dir=out, jobs=2, progress=False, report=False)
    assert _summary_ids(out) == [f"{p}__seed{k}" for p in POLICIES.split(",") for k in range(SEEDS)]
    return _summary_bytes(out)


# --- run functions shipped to the workers -------------------------------------------------


def _log(log_dir, line: str) -> None:
    # one short O_APPEND write per line: lines from several processes never interleave
    fd = os.open(Path(log_dir) / "attempts.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def _first(log_dir, name: str, text: str) -> bool:
    """True for the one caller, across processes, that creates the marker ``name``."""
    try:
        fd = os.open(Path(log_dir) / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    os.write(fd, text.encode())
    os.close(fd)
    return True


def killing_run(log_dir, spec, run_dir, threads):
    """:func:`sim.compare.run_one`, but the first attempt anywhere SIGKILLs its own worker after day 0.

    The kill comes from inside the engine's day loop, so the run is cut short
    with its temporary directory half written (``INCOMPLETE``, no metrics).
    """
    pid = os.getpid()
    _log(log_dir, f"start {spec.run_id} {pid}")
    if _first(log_dir, "killed", f"{spec.run_id} {pid}"):
        import sim.engine as E

        class Dying(E.OnlineMetrics):
            def end_day(self, day, *args, **kwargs):
                super().end_day(day, *args, **kwargs)
                os.kill(os.getpid(), signal.SIGKILL)

        E.OnlineMetrics = Dying  # this process dies with its patch
    res = R.run_one(spec, run_dir, threads)
    _log(log_dir, f"done {spec.run_id} {pid}")
    return res


def flaky_run(log_dir, spec, run_dir, threads):
    """:func:`fake_run`, but the first attempt of ``fixed_tilt__seed0`` raises (a transient storage error)."""
    _log(log_dir, f"start {spec.run_id} {os.getpid()}")
    if spec.run_id == "fixed_tilt__seed0" and _first(log_dir, "raised", spec.run_id):
        raise OSError("transient: stale file handle")
    res = fake_run(spec, run_dir, threads)
    _log(log_dir, f"done {spec.run_id} {os.getpid()}")
    return res


def _attempts(log_dir) -> list[tuple[str, str, int]]:
    lines = (Path(log_dir) / "attempts.log").read_text().splitlines()
    return [(w[0], w[1], int(w[2])) for w in (ln.split() for ln in lines)]


# --- the real engine on the cluster ------------------------------------------------------------


@pytest.mark.slow
def test_cli_on_cluster_address_gives_the_local_process_summary(client, reference, tmp_path, capsys):
    from sim.cli import main

    from sim.config import write_config

    out = tmp_path / "rep"
    # the reference's world, not the command's own default world; one arm per policy, as the reference ran
    write_config(real_cfg(), tmp_path / "world.toml")
    argv = ["compare", "--config", str(tmp_path / "world.toml"), "--seeds", str(SEEDS), "--policies", POLICIES,
            "--no-frontier", "--no-robustness", "--quiet", "--scheduler", client.scheduler.address,
            "--out", str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    csv, js = _summary_bytes(out)
    assert csv == reference[0]
    # summary.json: identical but for the re-make command the command line records (the API call has none)
    got, want = json.loads(js), json.loads(reference[1])
    assert got["options"].pop("command").startswith("ranksim compare --config ")
    want["options"].pop("command", None)
    assert got == want
    assert (out / "report.html").is_file()
    assert sorted(p.name for p in (out / "runs").iterdir()) == RUN_IDS  # no partial or probe files left
    assert not list(out.glob(".ranksim-probe-*"))
    # a second call finds every run complete and needs no cluster at all
    argv[argv.index("--scheduler") + 1] = "tcp://127.0.0.1:9"
    assert main(argv) == 0
    assert "0 runs (4 reused)" in capsys.readouterr().out


@pytest.mark.slow
def test_worker_killed_mid_run_is_rerun_and_counted_once(client, reference, tmp_path):
    out, logs = tmp_path / "rep", tmp_path / "logs"
    logs.mkdir()
    pids_before = set(client.run(os.getpid).values())
    with K.dask_executor(client.scheduler.address, out_dir=tmp_path) as ex:
        C.compare(real_cfg(), policies=POLICIES, seeds=SEEDS, out_dir=out, executor=ex, progress=False,
                  report=False, run_fn=functools.partial(killing_run, str(logs)))
    assert _summary_bytes(out) == reference
    ids = _summary_ids(out)
    assert sorted(ids) == RUN_IDS and len(set(ids)) == len(ids)

    killed_id, killed_pid = (tmp_path / "logs" / "killed").read_text().split()
    killed_pid = int(killed_pid)
    att = _attempts(logs)
    assert killed_pid in pids_before  # a worker of the cluster died, not this process
    assert ("start", killed_id, killed_pid) in att and ("done", killed_id, killed_pid) not in att
    done = [rid for what, rid, _ in att if what == "done"]
    assert sorted(done) == RUN_IDS  # every run finished exactly once
    assert os.getpid() not in {pid for _, _, pid in att}
    # the killed attempt's half-written run (hidden, marked INCOMPLETE) counted for nothing, and the retry
    # removed it: its writer was gone (no process held the run's lock)
    partial = [p for p in (out / "runs").iterdir() if p.name.startswith(f".{killed_id}.partial-")]
    assert partial == []
    assert not list((out / "runs").glob(".*.lock"))
    assert all(R.is_complete(out / "runs" / s.run_id, s.config) for s in A.plan(real_cfg(), POLICIES, SEEDS)[1])
    # the nanny replaced the dead worker
    client.wait_for_workers(2, timeout=60)
    assert killed_pid not in set(client.run(os.getpid).values())


# --- the executor with the fake engine ---------------------------------------------------------


@pytest.mark.slow  # subprocesses or a cluster: tens of seconds
def test_scheduler_local_starts_and_stops_its_cluster(tmp_path):
    psutil = pytest.importorskip("psutil")
    kw = dict(policies="none,fixed_tilt,ucb", seeds=2, progress=False, report=False, run_fn=fake_run)
    C.compare(tiny_cfg(), out_dir=tmp_path / "a", jobs=1, **kw)
    # this process's own multiprocessing resource tracker (started once, lives as long as the process)
    # is not the cluster's: start it before counting
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    C.compare(tiny_cfg(), out_dir=tmp_path / "b", jobs=2, scheduler="local", **kw)
    assert _summary_bytes(tmp_path / "a") == _summary_bytes(tmp_path / "b")
    left = [p for p in psutil.Process().children(recursive=True) if p.pid not in before and p.is_running()
            and p.status() != psutil.STATUS_ZOMBIE]
    assert not left  # the embedded cluster's processes are gone


@pytest.mark.slow  # subprocesses or a cluster: tens of seconds
def test_run_that_raised_is_retried(client, tmp_path):
    specs = A.build_specs(tiny_cfg(), A.build_arms(POLICIES), SEEDS)
    for d in ("logs0", "logs1"):  # one per sweep: runs of the failed sweep may still finish later
        (tmp_path / d).mkdir()
    with pytest.raises(R.RunFailed, match=r"Run fixed_tilt__seed0 failed: OSError: transient"):
        R.run_specs(specs, tmp_path / "no-retry", K.DaskExecutor(client, retries=0), progress=False,
                    run_fn=functools.partial(flaky_run, str(tmp_path / "logs0")))
    R.run_specs(specs, tmp_path / "retry", K.DaskExecutor(client, retries=1), progress=False,
                run_fn=functools.partial(flaky_run, str(tmp_path / "logs1")))
    att = _attempts(tmp_path / "logs1")
    assert [rid for w, rid, _ in att if w == "start"].count("fixed_tilt__seed0") == 2
    assert sorted(rid for w, rid, _ in att if w == "done") == sorted(s.run_id for s in specs)


def test_run_task_skips_a_complete_run_and_redoes_a_partial_one(tmp_path):
    spec = A.build_specs(tiny_cfg(), A.build_arms("none"), 1)[0]
    d = tmp_path / spec.run_id
    calls = []

    def counting(s, run_dir, threads):
        calls.append(run_dir)
        return fake_run(s, run_dir, threads)

    assert K.run_task(counting, spec, str(d), 1)["run_id"] == spec.run_id and len(calls) == 1
    assert K.run_task(counting, spec, str(d), 1) == {"run_id": spec.run_id, "reused": True} and len(calls) == 1
    (d / "INCOMPLETE").write_text("")  # an attempt cut short
    K.run_task(counting, spec, str(d), 1)
    assert len(calls) == 2
    other = A.build_specs(tiny_cfg().with_overrides(seed=9), A.build_arms("none"), 1)[0]
    K.run_task(counting, A.RunSpec(spec.run_id, spec.arm, 9, other.config), str(d), 1)  # another config: re-run
    assert len(calls) == 3


def test_submit_sends_an_absolute_run_dir_and_a_readable_key(tmp_path, monkeypatch):
    seen = {}

    class FakeClient:
        def submit(self, fn, *args, **kw):
            seen.update(fn=fn, args=args, kw=kw)

    spec = A.build_specs(tiny_cfg(), A.build_arms("none"), 1)[0]
    monkeypatch.chdir(tmp_path)
    K.DaskExecutor(FakeClient(), retries=3).submit(fake_run, spec, "rep/runs/x", 1)
    assert seen["fn"] is K.run_task
    assert seen["args"] == (fake_run, spec, str(tmp_path / "rep" / "runs" / "x"), 1)
    assert seen["kw"]["retries"] == 3 and seen["kw"]["pure"] is False
    assert seen["kw"]["key"].startswith(f"ranksim-{spec.run_id}-")
    with pytest.raises(ValueError, match=r"'retries' parameter of DaskExecutor must be an int >= 0\. Got -1"):
        K.DaskExecutor(FakeClient(), retries=-1)


# --- checks before any work ---------------------------------------------------------------------


class _AnsweringClient:
    """Answers ``client.run(worker_probe, path)`` as the given workers would."""

    def __init__(self, make):
        self.make = make

    def run(self, fn, path, on_error="raise"):
        assert fn is K.worker_probe and on_error == "return"
        return self.make(path)


def test_check_workers_on_the_cluster(client, tmp_path):
    answers = K.check_workers(client, tmp_path)
    assert len(answers) == 2 and all(a["probe"] for a in answers.values())
    assert not list(tmp_path.iterdir())  # the probe file is removed


@pytest.mark.parametrize("answer, match", [
    (lambda p: ModuleNotFoundError("No module named 'sim'"),
     r"^1 Dask worker\(s\) cannot run ranksim: tcp://w:1 \(ModuleNotFoundError: .*install ranksim"),
    (lambda p: dict(K.worker_probe(p + ".elsewhere"), host="node7"),
     r"^1 Dask worker\(s\) cannot see the output directory '.*': tcp://w:1 on node7; --out must be on storage "
     r"every worker mounts at the same path\.$"),
    (lambda p: dict(K.worker_probe(p), ranksim_source="0123456789abcdef"),
     r"^1 Dask worker\(s\) run other ranksim code: tcp://w:1 \(source 0123456789abcdef, here [0-9a-f]{16}\)"),
])
def test_check_workers_refuses(tmp_path, answer, match):
    fake = _AnsweringClient(lambda p: {"tcp://w:1": answer(p), "tcp://w:2": K.worker_probe(p)})
    with pytest.raises(K.ClusterError, match=match):
        K.check_workers(fake, tmp_path)
    assert not list(tmp_path.iterdir())


def test_check_workers_warns_on_other_versions(tmp_path):
    fake = _AnsweringClient(lambda p: {"tcp://w:1": dict(K.worker_probe(p), numpy="1.0.0")})
    with pytest.warns(RuntimeWarning, match=r"tcp://w:1: numpy 1\.0\.0 \(here "):
        K.check_workers(fake, tmp_path)


def test_bad_scheduler_arguments_fail_before_any_work(tmp_path, capsys, monkeypatch):
    from sim.cli import main

    out = tmp_path / "rep"
    base = ["compare", "--users", "300", "--days", "2", "--policies", "none", "--seeds", "1", "--quiet",
            "--out", str(out)]
    assert main(base + ["--scheduler", "tcp://127.0.0.1:9", "--jobs", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "drop --jobs" in err[0]
    assert main(base + ["--scheduler", " "]) == 2
    assert "--scheduler must be 'local' or a Dask scheduler address" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(ValueError, match="an executor or a scheduler, not both"):
        C.compare(tiny_cfg(), out_dir=out, executor=R.SerialExecutor(), scheduler="local", run_fn=fake_run)
    with pytest.raises(ValueError, match=r"'jobs' parameter of compare must be an int >= 1\. Got 0"):
        K.start_local_cluster(0)
    monkeypatch.setitem(sys.modules, "distributed", None)  # Dask not installed
    with pytest.raises(K.ClusterError, match=r"needs Dask distributed, which is not installed: pip install"):
        K.connect("local", 1)


def test_scheduler_without_the_cluster_extra_names_it_before_any_run(tmp_path, capsys, monkeypatch):
    from sim.cli import main

    monkeypatch.setitem(sys.modules, "distributed", None)  # pip install ranksim without [cluster]
    out = tmp_path / "cmp"
    assert main(["compare", "--users", "200", "--days", "1", "--seeds", "1", "--quiet", "--scheduler", "local",
                 "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["ranksim compare: error: --scheduler needs Dask distributed, which is not installed: "
                   "pip install 'ranksim[cluster]' (Dask and distributed, the cluster extra)"]
    assert not out.exists()  # refused before planning, compiling or writing anything


def test_unreachable_scheduler_is_one_line_exit_1(tmp_path, capsys):
    import dask

    from sim.cli import main

    out = tmp_path / "rep"
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        rc = main(["compare", "--users", "300", "--days", "2", "--policies", "none", "--seeds", "1", "--quiet",
                   "--scheduler", "tcp://127.0.0.1:9", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1
    assert "cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'" in err[0]


def test_summary_refuses_a_run_twice(tmp_path):
    arms = A.build_arms("none")
    specs = A.build_specs(tiny_cfg(), arms, 2)
    R.run_specs(specs, tmp_path, R.SerialExecutor(), progress=False, run_fn=fake_run)
    m = json.loads((tmp_path / "runs" / specs[0].run_id / "metrics.json").read_text())
    with pytest.raises(ValueError, match=r"runs none__seed0 appear more than once"):
        Y.write_summary(tmp_path, arms, [specs[0], specs[0]], [m, m])
    assert not (tmp_path / "summary.csv").exists()


def test_worker_probe_reports_the_code_it_loaded_not_the_files_now(tmp_path, monkeypatch):
    """A worker started before an edit runs the old code: its probe must say so."""
    import ranker._numba as N

    loaded = K.worker_probe(str(tmp_path / "probe"))["ranksim_source"]
    assert loaded == N.SOURCE_HASH
    monkeypatch.setattr(N, "_source_hash", lambda: "ffffffffffffffff")  # the files changed on disk since
    assert K.worker_probe(str(tmp_path / "probe"))["ranksim_source"] == loaded
