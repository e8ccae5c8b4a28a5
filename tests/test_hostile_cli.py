"""Hostile configs, command lines, event directories and faults: one line, the right exit code, nothing lost.

Exit codes (ranker/errors.py): 2 usage error (checked before any work,
nothing written), 1 runtime failure (OS errors, a held lock), 130
interrupted. The process tests kill ``ranksim compare`` and check that no
worker, fork server or resource tracker outlives it; they are bounded in
time and kill whatever is left in a ``finally``.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ranker.learn import FEATURE_NAMES, read_event_log
from sim.cli import main
from sim.config import ConfigError, Config, load_config, parse_config
from sim.preflight import OutputLock, estimate_memory
from sim.runner import is_complete
from sim.world import WorldConfig
from tests.hostile import edit_value, train_model_text, write_model_dir

TINY = Config().replace(world=WorldConfig(n_users=300, n_creators=40, new_creators_per_day=3, friends_mean=5.0,
                                          follows_mean=3.0))


def tiny_toml(tmp_path, extra="") -> Path:
    p = tmp_path / "tiny.toml"
    p.write_text(TINY.with_overrides(days=1).to_toml() + extra)
    return p


# --------------------------------------------------------------------------- config

CONFIG_CASES = [
    ("bom", "\ufeff[run]\ndays = 3\n", None),
    ("bom-only", "\ufeff", r"is empty"),
    ("empty", "", r"is empty"),
    ("comments-only", "# nothing\n", r"is empty"),
    ("not-toml", "[run\ndays = 3\n", r"is not valid TOML"),
    ("unknown-section", "[wrld]\nn_users = 5\n", r"wrld"),
    ("unknown-key", "[run]\ndayz = 3\n", r"dayz"),
    ("users-zero", "[world]\nn_users = 0\n", r"'n_users' parameter of WorldConfig.*Got 0"),
    ("users-above-range", "[world]\nn_users = 50000001\n", r"'n_users' parameter of WorldConfig"),
    ("users-fractional", "[world]\nn_users = 1.5\n", r"'n_users' parameter of WorldConfig"),
    ("days-string", "[run]\ndays = \"7\"\n", r"'days' parameter of RunConfig"),
    ("seed-negative", "[run]\nseed = -1\n", r"'seed' parameter of RunConfig"),
    ("log-sample-nan", "[run]\nlog_sample = nan\n", r"'log_sample' parameter of RunConfig"),
    ("seen-bits-huge", "[feed]\nseen_bits_per_item = 100000\n", r"'seen_bits_per_item' parameter of FeedConfig"),
    # a config of an earlier version: the removed field is named, with what replaced it
    ("seen-memory-removed", "[feed]\nseen_memory = 64\n",
     r"The parameter\(s\) \['seen_memory'\] of \[feed\] were removed\..*no video is served twice.*"
     r"seen_bits_per_item"),
    ("policy-unknown", "[policy]\nname = \"magic\"\n", r"magic"),
    ("section-not-table", "run = 3\n", r"run"),
]


@pytest.mark.parametrize("name,text,err", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_hostile_config(tmp_path, name, text, err):
    p = tmp_path / "c.toml"
    p.write_bytes(text.encode("utf-8"))
    if err is None:
        assert load_config(p).run.days == 3
        return
    with pytest.raises((ValueError, TypeError), match=err):
        load_config(p)


def test_config_files_that_are_not_text_or_not_there(tmp_path):
    p = tmp_path / "c.toml"
    p.write_bytes(b"[run]\ndays = \xff\n")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_config(p)
    with pytest.raises(ConfigError, match="is a directory, not a file"):
        load_config(tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    assert parse_config("\ufeff[run]\ndays = 2\n").run.days == 2


# --------------------------------------------------------------------------- command line


@pytest.fixture(scope="module")
def bad_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad-model")
    return write_model_dir(d / "m", edit_value(train_model_text(), 0, "left_child", 1, 9))


def _run(argv, capsys):
    capsys.readouterr()
    rc = main(argv)
    cap = capsys.readouterr()
    return rc, cap.err


# (id, argv builder(tmp_path, cfg, bad_model) -> argv, exit code, stderr regex)
CLI_CASES = [
    ("days-zero", lambda t, c, m: ["simulate", "--config", c, "--days", "0", "--out", f"{t}/o"], 2,
     r"'days' parameter of RunConfig"),
    ("param-twice", lambda t, c, m: ["simulate", "--config", c, "--policy", "fixed_tilt", "--param", "strength=1",
                                     "--param", "strength=2", "--out", f"{t}/o"], 2, r"--param strength is given twice"),
    ("param-no-equals", lambda t, c, m: ["simulate", "--config", c, "--param", "strength", "--out", f"{t}/o"], 2,
     r"--param must look like NAME=VALUE"),
    ("out-is-a-file", lambda t, c, m: ["simulate", "--config", c, "--out", c], 2, r"exists and is not a directory"),
    ("out-under-a-file", lambda t, c, m: ["simulate", "--config", c, "--out", f"{c}/run"], 2, r"is a file, not a directory"),
    ("out-is-cwd", lambda t, c, m: ["simulate", "--config", c, "--out", "."], 2, r"is the current directory"),
    ("overwrite-non-run", lambda t, c, m: ["simulate", "--config", c, "--out", f"{t}/mine", "--overwrite"], 2,
     r"is not a ranksim run .*nothing was deleted"),
    ("users-beyond-memory", lambda t, c, m: ["simulate", "--config", c, "--users", "50000000", "--out", f"{t}/o"], 2,
     r"needs an estimated [\d.]+ GiB of memory .* but this machine has [\d.]+ GiB"),
    ("ranker-model-missing", lambda t, c, m: ["simulate", "--config", c, "--ranker", f"learned:{t}/nope",
                                              "--out", f"{t}/o"], 2, r"model directory .* does not exist"),
    ("ranker-model-damaged", lambda t, c, m: ["simulate", "--config", c, "--ranker", f"learned:{m}", "--out", f"{t}/o"],
     2, r"model.txt: tree 0: field 'left_child' value 1 is 9"),
    ("compare-scheduler-garbage", lambda t, c, m: ["compare", "--config", c, "--scheduler", "garbage", "--out",
                                                   f"{t}/r"], 2, r"--scheduler must be 'local' or a Dask scheduler address.*got 'garbage'"),
    ("compare-out-is-a-file", lambda t, c, m: ["compare", "--config", c, "--out", c], 2, r"exists and is not a directory"),
    ("compare-rankers-damaged", lambda t, c, m: ["compare", "--config", c, "--rankers", f"hand,learned:{m}",
                                                 "--out", f"{t}/r"], 2, r"tree 0: field 'left_child'"),
    ("compare-beyond-memory", lambda t, c, m: ["compare", "--config", c, "--users", "50000000", "--out", f"{t}/r"], 2,
     r"each run of this comparison needs an estimated"),
    ("signals-out-exists", lambda t, c, m: ["signals", "--counters", f"{t}/c.csv", "--out", c], 2,
     r"the file exists; pass --overwrite"),
    ("signals-counters-missing", lambda t, c, m: ["signals", "--counters", f"{t}/nope.csv", "--out", f"{t}/s.csv"], 2,
     r"nope.csv: no such file"),
    ("learn-header-only-log", lambda t, c, m: ["learn", "--kuairand", f"{t}/h.tsv", "--out", f"{t}/m", "--quiet"], 2,
     r"no usable rows"),
    ("learn-out-is-a-file", lambda t, c, m: ["learn", "--kuairand", f"{t}/h.tsv", "--out", c, "--quiet"], 2,
     r"exists and is not a directory"),
]


@pytest.mark.parametrize("name,build,code,err", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_hostile_command_line(tmp_path, capsys, bad_model, name, build, code, err):
    cfg = tiny_toml(tmp_path)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    (tmp_path / "h.tsv").write_text("user_id\tvideo_id\tdate\ttime_ms\tis_like\tis_follow\tis_comment\t"
                                    "is_forward\tplay_time_ms\tduration_ms\n")
    from tests.test_hostile_logs import counters_text

    (tmp_path / "c.csv").write_text(counters_text())
    before = sorted(p.name for p in tmp_path.iterdir())
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        rc, stderr = _run(build(str(tmp_path), str(cfg), str(bad_model)), capsys)
    finally:
        os.chdir(cwd)
    assert rc == code, stderr
    assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    assert __import__("re").search(err, stderr), stderr
    # failed before any work: nothing written, nothing deleted
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


@pytest.mark.parametrize("err,code", [(errno.ENOSPC, "No space left on device"), (errno.EROFS, "Read-only file system"),
                                      (errno.EACCES, "Permission denied"), (errno.EIO, "Input/output error")])
def test_os_errors_are_one_line_and_exit_1(tmp_path, capsys, monkeypatch, err, code):
    import ranker.io as rio
    from tests.test_hostile_logs import counters_text

    (tmp_path / "c.csv").write_text(counters_text())

    def fail(path, write):
        raise OSError(err, os.strerror(err), str(path))

    monkeypatch.setattr(rio, "atomic_write", fail)
    rc, stderr = _run(["signals", "--counters", str(tmp_path / "c.csv"), "--out", str(tmp_path / "s.csv")], capsys)
    assert rc == 1
    assert stderr == f"ranksim signals: error: {tmp_path / 's.csv'}: {code}\n"


def test_broken_pipe_still_writes_the_csv(tmp_path):
    from tests.test_hostile_logs import counters_text

    (tmp_path / "c.csv").write_text(counters_text())
    out = tmp_path / "s.csv"
    p = subprocess.Popen([sys.executable, "-m", "sim.cli", "signals", "--counters", str(tmp_path / "c.csv"),
                          "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # like `| head` that has gone away
    _, err = p.communicate(timeout=120)
    assert p.returncode == 1
    assert err.decode().strip().splitlines() == ["ranksim signals: error: the output was closed before the end "
                                                 "(broken pipe)"]
    assert out.read_text().count("\n") == 4  # header and 3 videos


def test_a_second_writer_is_refused_with_the_holders_pid(tmp_path, capsys):
    cfg = tiny_toml(tmp_path)
    lock = OutputLock(tmp_path / ".run.lock", "x").acquire()
    try:
        rc, err = _run(["simulate", "--config", str(cfg), "--out", str(tmp_path / "run"), "--quiet"], capsys)
    finally:
        lock.release()
    assert rc == 1 and f"another ranksim process (pid {os.getpid()}) is writing run directory" in err
    (tmp_path / "rep").mkdir()
    lock = OutputLock(tmp_path / "rep" / ".ranksim-compare.lock", "x").acquire()
    try:
        rc, err = _run(["compare", "--config", str(cfg), "--out", str(tmp_path / "rep"), "--quiet"], capsys)
    finally:
        lock.release()
    assert rc == 1 and "is writing comparison directory" in err and err.count("\n") == 1


def test_stranded_partials_are_removed_and_named(tmp_path, capsys):
    cfg = tiny_toml(tmp_path)
    for k in range(3):  # what dead runs left (32 piled up before)
        d = tmp_path / f".run.partial-99999{k}-abc"
        d.mkdir()
        (d / "INCOMPLETE").write_text("x")
    other = tmp_path / ".other.partial-1-x"
    other.mkdir()
    lock = OutputLock(tmp_path / ".other.lock", "other").acquire()  # a live writer's partial stays
    try:
        rc, err = _run(["simulate", "--config", str(cfg), "--out", str(tmp_path / "run"), "--quiet"], capsys)
    finally:
        lock.release()
    assert rc == 0, err
    assert err.count("removed stale partial output") == 3
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [".other.partial-1-x"]


def test_memory_estimate_names_the_parts():
    big = Config().with_overrides(users=20_000_000).replace(feed=Config().feed.replace(seen_bits_per_item=64.0))
    parts = estimate_memory(big)
    # a user of mean activity (6 requests a day, 14 days, slates of 8): 8 (84 + 3 sqrt(84) + 1) = 900
    # impressions at 64 bits each, in 113 blocks of 64 bytes
    assert parts["seen filters"] == 20_000_000 * 113 * 64  # 134.7 GiB
    from sim.preflight import MemoryEstimateError, check_memory

    # --users scales the creators too, so their posts count in the total
    with pytest.raises(MemoryEstimateError, match=r"needs an estimated 1\d\d\.\d GiB of memory \(seen filters 134\.7 GiB"
                                                  r".*feed\.seen_bits_per_item=64\.0\)"):
        check_memory(big)
    assert check_memory(TINY) < 2**30


def test_incomplete_metrics_never_count_as_a_run(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    cfg = TINY.with_overrides(days=1)
    (d / "config.toml").write_text(cfg.to_toml())
    for bad in ["{}", "[]", '{"impressions": {"value": 5}}', "{\"impressions\": ", "null"]:
        (d / "metrics.json").write_text(bad)
        assert not is_complete(d, cfg), bad


# --------------------------------------------------------------------------- event directories


def _events(tmp_path, **change):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ranker.learn.events import EVENT_REQUIRED

    n = 6
    cols = {c: np.zeros(n, np.int64) if c in ("day", "request_id", "user_id", "video_id", "creator_id")
            else np.zeros(n) for c in EVENT_REQUIRED}
    cols["request_id"] = np.arange(n)
    cols.update(change)
    d = tmp_path / "events"
    d.mkdir(exist_ok=True)
    pq.write_table(pa.table(cols), d / "part-00000.parquet")
    return d


EVENT_CASES = [
    ("missing-dir", lambda t: t / "nope", FileNotFoundError, r"no such directory"),
    ("a-file", lambda t: (t / "f.parquet").write_text("x") and t / "f.parquet", FileNotFoundError, r"no such directory"),
    ("not-parquet", lambda t: ((t / "events").mkdir(), (t / "events" / "p.parquet").write_text("junk"))
     and t / "events", ValueError, r"cannot read as a Parquet dataset"),
    ("missing-columns", lambda t: _events(t) and _drop(t, "liked"), ValueError, r"missing column\(s\) \['liked'\]"),
    ("zero-rows", lambda t: _events(t, **{}) and _empty(t), ValueError, r"the event log has no rows"),
    ("negative-id", lambda t: _events(t, video_id=np.array([0, 1, -2, 3, 4, 5])), ValueError,
     r"column 'video_id' has negative values"),
    ("nan-watch", lambda t: _events(t, watch_s=np.array([0, 1, np.nan, 3, 4, 5.0])), ValueError,
     r"column 'watch_s' has 1 non-finite value"),
    ("null-id", lambda t: _events(t, user_id=__import__("pyarrow").array([0, 1, None, 3, 4, 5])), ValueError,
     r"column 'user_id' has 1 non-finite value"),
]


def _drop(t, col):
    import pyarrow.parquet as pq

    p = t / "events" / "part-00000.parquet"
    pq.write_table(pq.read_table(p).drop([col]), p)
    return t / "events"


def _empty(t):
    import pyarrow.parquet as pq

    p = t / "events" / "part-00000.parquet"
    pq.write_table(pq.read_table(p).slice(0, 0), p)
    return t / "events"


@pytest.mark.parametrize("name,make,exc,err", EVENT_CASES, ids=[c[0] for c in EVENT_CASES])
def test_hostile_event_directory(tmp_path, name, make, exc, err):
    path = make(tmp_path)
    with pytest.raises(exc, match=err) as ei:
        read_event_log(path)
    assert "\n" not in str(ei.value)


# --------------------------------------------------------------------------- process hygiene


def _descendants(pid):
    psutil = pytest.importorskip("psutil")
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=["KILL", "TERM", "INT"])
def test_killing_compare_leaves_no_worker_behind(tmp_path, sig):
    psutil = pytest.importorskip("psutil")
    cfg = tmp_path / "long.toml"
    cfg.write_text(TINY.with_overrides(days=400).to_toml())
    proc = subprocess.Popen([sys.executable, "-m", "sim.cli", "compare", "--config", str(cfg), "--policies",
                             "none,fixed_tilt", "--seeds", "2", "--jobs", "2", "--quiet", "--out",
                             str(tmp_path / "rep")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    seen = {}
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            kids = _descendants(proc.pid)
            for k in kids:
                seen[k.pid] = k
            # the fork server and the workers it forked share its command line
            forked = [k for k in kids if "forkserver" in " ".join(k.cmdline())]
            if len(forked) >= 3:
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert len(seen) >= 3, "no workers started"
        time.sleep(1.0)  # the workers are inside their runs
        for k in _descendants(proc.pid):
            seen[k.pid] = k
        os.kill(proc.pid, sig)
        proc.wait(timeout=60)
        gone_by = time.monotonic() + 20
        alive = list(seen.values())
        while alive and time.monotonic() < gone_by:
            alive = [k for k in alive if k.is_running() and k.status() != psutil.STATUS_ZOMBIE]
            time.sleep(0.2)
        assert not alive, [(k.pid, k.cmdline()) for k in alive]
        if sig != signal.SIGKILL:
            assert proc.returncode == 130
            assert b"interrupted" in proc.stderr.read()
    finally:
        for k in list(seen.values()) + [psutil.Process(proc.pid)] if proc.poll() is None else list(seen.values()):
            try:
                k.kill()
            except psutil.NoSuchProcess:
                pass
        proc.wait(timeout=30)


def test_a_run_with_no_impressions_says_so_instead_of_crashing(tmp_path, capsys):
    # nobody opens the app: every rate is undefined; this used to end in an internal TypeError (exit 2)
    cfg = tmp_path / "nobody.toml"
    cfg.write_text(TINY.replace(world=TINY.world.replace(activity_mean=1e-9)).with_overrides(days=1).to_toml())
    rc, err = _run(["simulate", "--config", str(cfg), "--out", str(tmp_path / "run"), "--quiet"], capsys)
    assert rc == 0, err
    assert "no impressions were served" in err
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["impressions"]["value"] == 0 and m["value_per_impression"]["value"] is None
