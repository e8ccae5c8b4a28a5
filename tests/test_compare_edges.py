"""The comparison's plumbing where its end-to-end tests do not reach: worker watch, warm-up, world cache.

Written from the survivors of a mutmut run over the comparison modules (see
CONTRIBUTING.md). Each test drives one piece through its real code with the
engine, the clock or the process table replaced by a recording stand-in, so
it runs in milliseconds and says which wire is cut: which runs the warm-up
compiles, what a worker does when the comparing process dies, which worlds
the runner keeps, what a result frame holds.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import signal
from types import SimpleNamespace

import numpy as np
import pytest

from sim import arms as A
from sim import compare as C
from sim import runner as R
from tests.test_compare import fake_run, tiny_cfg


# --- sweeps --------------------------------------------------------------------------------


def test_sweep_values_split_on_top_level_commas_only():
    assert A._split_values("[[1,2],3],[4]") == ["[[1,2],3]", "[4]"]
    assert A._split_values(" 1 ,(2,3)") == ["1", "(2,3)"]
    assert A._split_values("X,Y") == ["X", "Y"]


@pytest.mark.parametrize("text", ["fixed_tilt=0.5", "fixed_tilt=1.5,2", "fixed_tilt=1.5=2"])
def test_a_sweep_without_a_parameter_name_is_refused_by_its_shape(text):
    with pytest.raises(ValueError, match=r"^--sweep must look like POLICY\.PARAM=v1,v2,\.\.\. \(e\.g\. "
                                         r"fixed_tilt\.strength=0\.25,0\.5,1\); got '" + text.replace(".", r"\.")):
        A.parse_sweep(text)


def test_a_sweep_value_holding_an_equals_sign_is_named_as_the_bad_value():
    # everything after the first '=' is the values: '1=2' is one (bad) value, not a second assignment
    with pytest.raises(TypeError, match=r"^--sweep fixed_tilt\.strength=1=2: The 'strength' parameter"):
        A.parse_sweep("fixed_tilt.strength=0.5,1=2")


def test_a_dotted_parameter_name_is_named_whole():
    with pytest.raises(ValueError, match=r"Policy 'fixed_tilt' has no parameter 'strength\.x'"):
        A.parse_sweep("fixed_tilt.strength.x=1,2")


# --- result frames -------------------------------------------------------------------------


def _same(got, want) -> bool:
    """Equal, where undefined (NaN in the frame) matches undefined (None or NaN in the summary)."""
    undefined = want is None or (isinstance(want, float) and math.isnan(want))
    return math.isnan(got) if undefined else got == want


def test_result_frame_holds_every_statistic_of_the_summary(tmp_path):
    res = C.compare(tiny_cfg(), policies="none,fixed_tilt", seeds=3, out_dir=tmp_path / "r", jobs=1,
                    progress=False, report=False, run_fn=fake_run)
    s, df = res.summary, res.to_frame()
    assert list(df.columns) == ["n", "mean", "sd", "lo", "hi", "unit", "diff", "diff_lo", "diff_hi", "rel",
                                "detectable"]
    assert len(df) == 2 * len(s["scalars"])
    for (arm, metric), row in df.iterrows():
        st, pd_ = s["stats"][arm][metric], s["paired"].get(arm, {}).get(metric)
        for col in ("n", "mean", "sd", "lo", "hi"):
            assert _same(row[col], st[col]), (arm, metric, col)
        assert row["unit"] == s["metric_info"][metric]["unit"] != ""
        if arm == "none":
            assert pd_ is None and not row["detectable"]
            assert all(math.isnan(row[c]) for c in ("diff", "diff_lo", "diff_hi", "rel"))
        else:
            for col, key in (("diff", "diff"), ("diff_lo", "lo"), ("diff_hi", "hi"), ("rel", "rel")):
                assert _same(row[col], pd_[key]), (arm, metric, col)
            assert row["detectable"] is bool(pd_["detectable"]) or row["detectable"] == pd_["detectable"]
    # the fake engine's fixed_tilt raises exposure on every seed: a detectable difference, shown as such
    e = df.loc[("fixed_tilt", "new_creator_exposure_share")]
    assert e["detectable"] and e["diff"] > 0 and e["diff_lo"] > 0


# --- the runner's executors ----------------------------------------------------------------


def test_default_jobs_without_an_affinity_mask_uses_the_cpu_count(monkeypatch):
    assert R.default_jobs(1) == 1
    monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert [R.default_jobs(n) for n in (1, 2, 5)] == [1, 2, 3]
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # unknown: one worker
    assert R.default_jobs(5) == 1


@pytest.mark.skipif("forkserver" not in mp.get_all_start_methods(), reason="no fork server on this platform")
def test_process_pool_workers_come_from_a_fork_server():
    ex = R.process_executor(1)
    try:
        assert ex._mp_context.get_start_method() == "forkserver"
        assert ex._initializer is R.watch_parent and ex._initargs == (os.getpid(),)
        assert ex._max_workers == 1
    finally:
        ex.shutdown()


class _Proc:
    def __init__(self, log, name, fail=False):
        self.log, self.name, self.fail = log, name, fail

    def terminate(self):
        self.log.append(("terminate", self.name))
        if self.fail:
            raise OSError("gone")

    def join(self, timeout=None):
        self.log.append(("join", self.name, timeout))


def test_stopping_workers_terminates_then_joins_each():
    log = []
    ex = SimpleNamespace(_processes={1: _Proc(log, "a", fail=True), 2: _Proc(log, "b")})
    R._stop_workers(ex)
    assert log == [("terminate", "a"), ("terminate", "b"), ("join", "a", 5), ("join", "b", 5)]
    R._stop_workers(SimpleNamespace())  # an executor without processes: nothing to do


class _Exit(Exception):
    pass


def _watch(monkeypatch, *, alive, ppids, parent=777, taken=()):
    """Run watch_parent's watcher loop in this thread with the process table replaced; return what it did."""
    did = {"kill": [], "exit": None, "sleeps": [], "prctl": []}
    monkeypatch.setattr(os, "getppid", lambda: ppids.pop(0) if len(ppids) > 1 else ppids[0])

    def kill(pid, sig):
        if sig == 0:
            if pid in taken:
                raise PermissionError(pid)
            if pid not in alive:
                raise ProcessLookupError(pid)
            return
        did["kill"].append((pid, sig))

    def exit_(code):
        did["exit"] = code
        raise _Exit

    def sleep(s):
        did["sleeps"].append(s)
        if len(did["sleeps"]) > 3:
            raise _Exit  # the worker is still watching after three rounds

    class _Thread:
        def __init__(self, target, name, daemon):
            did["thread"] = (name, daemon)
            self.target = target

        def start(self):
            try:
                self.target()
            except _Exit:
                pass

    class _Lib:
        def prctl(self, *a):
            did["prctl"].append(a)

    monkeypatch.setattr(os, "kill", kill)
    monkeypatch.setattr(os, "_exit", exit_)
    monkeypatch.setattr(R.time, "sleep", sleep)
    monkeypatch.setattr(R.threading, "Thread", _Thread)
    import ctypes

    monkeypatch.setattr(ctypes, "CDLL", lambda name, **k: _Lib())  # None: this process's own symbols
    R.watch_parent(parent)
    return did


def test_a_worker_keeps_working_while_the_comparing_process_lives(monkeypatch):
    did = _watch(monkeypatch, alive={777, 4242}, ppids=[4242])
    assert did["exit"] is None and did["kill"] == []
    assert did["sleeps"] == [R.WATCH_INTERVAL] * 4
    assert did["thread"] == ("ranksim-watch-parent", True)
    assert did["prctl"] == [(1, int(signal.SIGKILL))]  # PR_SET_PDEATHSIG: die with the fork server


def test_a_worker_ends_itself_and_its_fork_server_when_the_comparing_process_is_gone(monkeypatch):
    did = _watch(monkeypatch, alive={4242}, ppids=[4242])
    assert did["exit"] == 1 and did["kill"] == [(4242, signal.SIGTERM)]
    assert did["sleeps"] == [R.WATCH_INTERVAL]


def test_a_worker_whose_fork_server_is_gone_ends_without_signalling_anyone(monkeypatch):
    # re-parented to init: the server died; nothing to signal
    did = _watch(monkeypatch, alive={777}, ppids=[4242, 1])
    assert did["exit"] == 1 and did["kill"] == []
    # started by init itself (pid 1, alive): init is never signalled
    did = _watch(monkeypatch, alive={777, 1}, ppids=[1, 99])
    assert did["exit"] == 1 and did["kill"] == []


def test_a_parent_pid_taken_by_another_users_process_counts_as_gone(monkeypatch):
    did = _watch(monkeypatch, alive={4242}, ppids=[4242], taken={777})
    assert did["exit"] == 1 and did["kill"] == [(4242, signal.SIGTERM)]


def test_a_worker_started_by_the_comparing_process_itself_never_signals_it(monkeypatch):
    did = _watch(monkeypatch, alive={777}, ppids=[777, 5], parent=777)
    assert did["exit"] == 1 and did["kill"] == []


# --- runs, worlds and the warm-up ------------------------------------------------------------


def test_arms_on_one_seed_share_one_world_and_at_most_two_are_kept(monkeypatch):
    built = []

    def build(wc, days, seed, ticks):
        assert wc == c.world
        built.append((days, seed, ticks))
        return object()

    c = tiny_cfg()
    monkeypatch.setattr(R, "build_world", build)
    R.clear_world_cache()
    a = R._world_for(c.with_overrides(policy="fixed_tilt"))
    assert R._world_for(c.with_overrides(policy="ucb")) is a  # another arm, same seed: same world
    assert built == [(c.run.days, c.run.seed, c.feed.ticks_per_day)]
    b = R._world_for(c.with_overrides(seed=c.run.seed + 1))
    assert b is not a
    assert R._world_for(c) is a  # still kept (two worlds)
    R._world_for(c.with_overrides(seed=c.run.seed + 2))  # a third: the least recently used (seed + 1) goes
    assert len(R._WORLDS) == 2
    assert R._world_for(c) is a and len(built) == 3
    R._world_for(c.with_overrides(seed=c.run.seed + 1))
    assert len(built) == 4
    R._world_for(c.with_overrides(days=c.run.days + 1))  # the days are part of the world's key
    assert built[-1] == (c.run.days + 1, c.run.seed, c.feed.ticks_per_day)
    R.clear_world_cache()
    assert R._WORLDS == {}


def test_run_one_runs_the_spec_into_its_directory_with_the_shared_world(monkeypatch, tmp_path):
    calls = []
    world = object()
    asked = []
    monkeypatch.setattr(R, "_world_for", lambda cfg: asked.append(cfg) or world)

    def simulate(cfg, **kw):
        calls.append((cfg, kw))
        return SimpleNamespace(seconds=np.float64(1.5), impressions=np.int64(42))

    monkeypatch.setattr(R, "simulate", simulate)
    _, specs = A.plan(tiny_cfg(), "none", seeds=1)
    out = R.run_one(specs[0], str(tmp_path / "r"), threads=3)
    assert out == {"run_id": specs[0].run_id, "seconds": 1.5, "impressions": 42}
    assert type(out["seconds"]) is float and type(out["impressions"]) is int
    assert calls == [(specs[0].config, dict(out_dir=str(tmp_path / "r"), progress=False, threads=3, overwrite=True,
                                            world=world))]
    assert asked == [specs[0].config]


def test_warm_up_runs_one_tiny_day_per_policy_and_ranker(monkeypatch, capsys):
    runs = []

    def simulate(cfg, **kw):
        runs.append((cfg, kw))
        print(f"RUN {cfg.policy.name}", file=__import__("sys").stderr)

    monkeypatch.setattr(R, "simulate", simulate)
    monkeypatch.setattr(R, "cache_is_cold", lambda: True)
    big = tiny_cfg()
    big = big.replace(world=big.world.replace(n_users=5000, n_creators=300, new_creators_per_day=7))
    _, specs = A.plan(big, "none,fixed_tilt", seeds=2, sweeps=["fixed_tilt.strength=0.5,2"])
    R.warm_up(specs, progress=True)
    assert [(c.policy.name, c.ranker.kind) for c, _ in runs] == [("none", "hand"), ("fixed_tilt", "hand")]
    for c, kw in runs:
        assert (c.world.n_users, c.world.n_creators, c.world.new_creators_per_day) == (200, 20, 2)
        assert c.run.days == 1 and c.run.log_sample == 0.0
        assert kw == {"progress": False, "threads": 1}
    err = capsys.readouterr().err
    assert err.count("compiling kernels (first run only, about") == 1
    assert err.index("compiling kernels") < err.index("RUN none")  # said before the first compile, once
    # a world smaller than the tiny one is run as it is; a warm cache or no progress: no notice
    runs.clear()
    monkeypatch.setattr(R, "cache_is_cold", lambda: False)
    small = tiny_cfg()
    small = small.replace(world=small.world.replace(n_users=100, n_creators=10, new_creators_per_day=1))
    R.warm_up(A.plan(small, "none", seeds=1)[1], progress=True)
    c = runs[0][0]
    assert (c.world.n_users, c.world.n_creators, c.world.new_creators_per_day) == (100, 10, 1)
    monkeypatch.setattr(R, "cache_is_cold", lambda: True)
    R.warm_up(A.plan(small, "none", seeds=1)[1], progress=False)
    assert "compiling" not in capsys.readouterr().err


# --- frontier arms, the default config, the command line the report quotes -------------------


def test_frontier_arms_are_each_registered_strength_of_each_policy():
    from ranker.policies import REGISTRY

    arms = A.build_arms("none,fixed_tilt,slot_quota", frontier=True, slate_size=8)
    assert arms[0].label == "none" and not arms[0].grid and arms[0].params == {}
    for pol in ("fixed_tilt", "slot_quota"):
        cls = REGISTRY[pol]
        pname, grid = cls.strength_param, cls.grid(8)
        got = [a for a in arms if a.policy == pol]
        assert len(got) == len(grid) >= 3
        for a, v in zip(got, grid):
            assert a.label == f"{pol}__{pname}={v!r}" and a.params == {pname: v} and a.sweep == (pname, v)
            assert a.grid is True
    # the slot quota's grid depends on the slate: another slate size, other arms
    assert A.strength_grid("slot_quota", 8) == ("share", (0.125, 0.25, 0.375))
    assert A.strength_grid("slot_quota", 4) == ("share", (0.25, 0.5, 0.75))
    small = [a.label for a in A.build_arms("slot_quota", frontier=True, slate_size=4)]
    assert small == ["none", "slot_quota__share=0.25", "slot_quota__share=0.5", "slot_quota__share=0.75"]
    assert A.strength_grid("fixed_tilt") == ("strength", tuple(REGISTRY["fixed_tilt"].strength_grid))
    assert A.strength_grid("none") == (None, ())
    assert A.grid_arms("none") == []


def test_a_frontier_needs_a_registered_grid_of_three_points(monkeypatch):
    from ranker.policies import REGISTRY

    monkeypatch.setattr(REGISTRY["fixed_tilt"], "strength_grid", (0.5, 1.0))
    with pytest.raises(ValueError, match=r"^Policy 'fixed_tilt' registers a strength grid of 2 point\(s\) for "
                                         r"'strength'; the frontier needs at least 3\. Got \[0\.5, 1\.0\] instead\.$"):
        A.grid_arms("fixed_tilt")


def test_arm_labels_spell_values_safely():
    assert [A.format_value(v) for v in (True, False, 0.5, 2, [1, 2.5], "a b/c")] == \
        ["true", "false", "0.5", "2", "1-2.5", "a_b_c"]


def test_compare_default_config_is_the_scaled_down_world():
    c = C.compare_default_config()
    assert (c.world.n_users, c.world.n_creators, c.world.new_creators_per_day) == (2_000, 200, 4)
    assert c.run.days == 21 and c.run.log_sample == 0.0
    assert c.feed == C.Config().feed and c.behavior == C.Config().behavior


def test_api_call_is_quoted_as_its_command_line():
    assert C._api_command(None, 3, (), True, True) == "ranksim compare --seeds 3"
    assert C._api_command("none,ucb", 2, ["ucb.c=1,2"], False, False) == \
        "ranksim compare --policies none,ucb --seeds 2 --sweep ucb.c=1,2 --no-frontier --no-robustness"
    assert C._api_command(["none", "ucb"], 1, ["a.b=1", "c.d=2"], True, False) == \
        "ranksim compare --policies none,ucb --seeds 1 --sweep a.b=1 --sweep c.d=2 --no-robustness"


def test_dask_futures_complete_through_their_own_clients_loop(monkeypatch):
    import distributed

    seen = []
    monkeypatch.setattr(distributed, "as_completed", lambda fs, loop=None: seen.append((fs, loop)) or iter(fs))
    loop = object()
    futs = [SimpleNamespace(client=SimpleNamespace(loop=loop)), SimpleNamespace(client=None)]
    assert list(R._as_completed(futs)) == futs
    assert seen == [(futs, loop)]


# --- summary files -------------------------------------------------------------------------


def test_summary_cells_and_rows_are_canonical(tmp_path):
    from sim import summary as S

    assert [S._cell(v) for v in (None, True, False, 0.1, float("inf"), float("nan"), 7, "x")] == \
        ["", "true", "false", "0.1", "", "", "7", "x"]
    _, specs = A.plan(tiny_cfg(), "none", seeds=2, sweeps=["fixed_tilt.strength=0.5,2"])
    specs = [s for s in specs if s.arm != "none"][:2]
    m0 = {"a": {"value": np.float64(0.25)}, "b": {"value": 3}, "s": {"value": [1, 2]}}
    m1 = {"b": {"value": None}, "c": {"value": 1.5}}  # no 'a'; 'c' only here
    rows, names = S.summary_rows(specs, [m0, m1])
    assert names == ["a", "b", "c"]
    # the resolved parameters, keys sorted (declared: strength, days, scope), no spaces: same bytes every time
    assert rows[0]["params"] == '{"days":0,"scope":"new","strength":0.5}'
    assert type(rows[0]["a"]) is float and rows[0]["b"] == 3 and type(rows[0]["b"]) is int
    assert rows[1]["a"] is None and rows[1]["b"] is None and rows[1]["c"] == 1.5 and rows[0]["c"] is None
    S.write_summary(tmp_path, A.build_arms("fixed_tilt", ["fixed_tilt.strength=0.5,2"])[1:2], specs[:1], [m0])
    lines = (tmp_path / "summary.csv").read_text().splitlines()
    assert lines[1].endswith(',"{""days"":0,""scope"":""new"",""strength"":0.5}",' + f"{specs[0].seed},0.25,3")
    back = S.read_summary_csv(tmp_path / "summary.csv")
    assert type(back[0]["seed"]) is int and back[0]["b"] == 3.0 and back[0]["params"] == rows[0]["params"]
    S.atomic_write(tmp_path / "raw.bin", b"\x00\xff")
    assert (tmp_path / "raw.bin").read_bytes() == b"\x00\xff"


def test_summaries_use_the_confidence_level_given():
    from sim import stats as St

    rows = [{"arm": a, "seed": k, "x": v} for a, vals in (("none", (1.0, 2.0, 4.0)), ("b", (2.0, 2.5, 6.0)))
            for k, v in enumerate(vals)]
    s95, p95 = St.summarize_rows(rows, ["none", "b"], ["x"], [0, 1, 2])
    s80, p80 = St.summarize_rows(rows, ["none", "b"], ["x"], [0, 1, 2], level=0.8)
    assert s80["b"]["x"] == St.mean_ci([2.0, 2.5, 6.0], 0.8) and s95["b"]["x"] == St.mean_ci([2.0, 2.5, 6.0], 0.95)
    assert s80["b"]["x"]["hi"] < s95["b"]["x"]["hi"]
    assert p80["b"]["x"] == St.paired_difference([2.0, 2.5, 6.0], [1.0, 2.0, 4.0], 0.8)
    assert p80["b"]["x"]["hi"] < p95["b"]["x"]["hi"]


def test_series_are_summarized_element_wise_over_seeds():
    from sim import stats as St

    ms = [{"s": {"value": [[1.0, None], [3.0, 4.0]]}, "t": {"value": [1.0, 2.0]}},
          {"s": {"value": [[3.0, None], [5.0, 0.0]]}, "u": {"value": [1.0]}},
          {"t": {"value": [1.0, 2.0, 3.0]}}]  # t's shapes differ: left out
    out = St.summarize_series({"a": ms}, ["r", "t", "s", "u"])
    assert out["a"]["s"] == {"mean": [[2.0, None], [4.0, 2.0]], "min": [[1.0, None], [3.0, 0.0]],
                             "max": [[3.0, None], [5.0, 4.0]]}
    assert out["a"]["u"] == {"mean": [1.0], "min": [1.0], "max": [1.0]}
    assert "t" not in out["a"] and "r" not in out["a"]


# --- compare(): the robustness variant, the scheduler, the checks before any run ---------------


def test_robustness_variant_reruns_the_headline_arms_with_regular_readers_lifted(tmp_path):
    cfg = tiny_cfg()
    res = C.compare(cfg, policies="none,fixed_tilt", sweeps=["fixed_tilt.strength=0.5,2"], seeds=2,
                    out_dir=tmp_path / "r", jobs=1, progress=False, report=False, run_fn=fake_run, robustness=True)
    v = (tmp_path / "r" / "variant")
    import json

    vs = json.loads((v / "summary.json").read_text())
    assert [a["label"] for a in vs["arms"]] == ["none", "fixed_tilt"]  # the headline arms only
    assert sorted(p.name for p in (v / "runs").iterdir()) == ["fixed_tilt__seed0", "fixed_tilt__seed1",
                                                               "none__seed0", "none__seed1"]
    from sim.config import load_config

    vc = load_config(v / "runs" / "none__seed1" / "config.toml")
    assert (vc.behavior.play_r, vc.behavior.complete_r) == (0.8, 0.4)
    assert (cfg.behavior.play_r, cfg.behavior.complete_r) == (0.0, 0.0)
    assert vc.replace(behavior=cfg.behavior, run=cfg.run) == cfg.replace(run=cfg.run)  # nothing else changed
    assert vc.run.seed == 1 and vc.run.log_sample == 0.0
    text = ("regular readers' views lifted in play and completion as a habit would "
            "(play_r 0.8 and complete_r 0.4 instead of 0 and 0)")
    assert vs["options"]["variant"] == text == res.summary["options"]["variant"]
    assert res.n_runs == 8 + 4 and not (tmp_path / "r" / "runs" / "..").samefile(v)
    assert len(list((tmp_path / "r" / "runs").iterdir())) == 8


def test_headline_arms_pick_the_middle_of_each_grid():
    arms = A.build_arms("none,fixed_tilt,ucb", sweeps=["ucb.c=0.5,2"], frontier=True, slate_size=8)
    arms += A.build_arms("none,fixed_tilt", rankers=["hand", "oracle"])[2:]  # other-ranker arms never head
    got = C.headline_arms(arms)
    assert [a.label for a in got] == ["none", "fixed_tilt__strength=0.5", "ucb__c=0.5"]
    four = [A.Arm(f"ucb__c={v}", "ucb", {"c": v}, ("c", v), grid=True) for v in (0.1, 0.2, 0.4, 0.8)]
    assert [a.label for a in C.headline_arms(four)] == ["ucb__c=0.4"]  # index 4 // 2
    plain = C.headline_arms(A.build_arms("fixed_tilt,none", sweeps=["ucb.c=0.5,2"]))
    assert [a.label for a in plain] == ["none", "fixed_tilt", "ucb__c=0.5"]  # defaults, else the first swept


def test_robustness_variant_of_a_world_with_a_lift_removes_it():
    c = tiny_cfg()
    c = c.replace(behavior=c.behavior.replace(play_r=0.3))
    v = C.robustness_variant(c)
    assert (v.behavior.play_r, v.behavior.complete_r) == (0.0, 0.0)
    assert C.variant_text(c, v).endswith("(play_r 0 and complete_r 0 instead of 0.3 and 0)")
    assert C.robustness_variant(tiny_cfg()).behavior == tiny_cfg().behavior.replace(play_r=0.8, complete_r=0.4)


class _DaskStandIn:
    def __init__(self, log):
        self.log = log

    def __call__(self, scheduler, jobs=None, out_dir=None):
        self.log.append({"scheduler": scheduler, "jobs": jobs, "out_dir": out_dir})
        import contextlib

        return contextlib.nullcontext(R.SerialExecutor())


def test_scheduler_runs_through_a_dask_executor_with_the_workers_asked(tmp_path, monkeypatch):
    log = []
    monkeypatch.setattr(C, "dask_executor", _DaskStandIn(log))
    monkeypatch.setattr(C, "default_jobs", lambda n: 100 + n)
    kw = dict(policies="none,ucb", seeds=2, progress=False, report=False, run_fn=fake_run)
    C.compare(tiny_cfg(), out_dir=tmp_path / "a", scheduler="local", **kw)
    assert log == [{"scheduler": "local", "jobs": 104, "out_dir": tmp_path / "a"}]  # one worker per run to do
    C.compare(tiny_cfg(), out_dir=tmp_path / "b", scheduler=" local ", jobs=3, **kw)
    assert log[-1]["jobs"] == 3 and log[-1]["scheduler"] == "local"
    sched = tmp_path / "scheduler.json"
    sched.write_text("{}")
    C.compare(tiny_cfg(), out_dir=tmp_path / "c", scheduler=str(sched), **kw)
    assert log[-1] == {"scheduler": str(sched), "jobs": None, "out_dir": tmp_path / "c"}  # its own workers
    n = len(log)
    res = C.compare(tiny_cfg(), out_dir=tmp_path / "c", scheduler=str(sched), **kw)
    assert len(log) == n and res.n_reused == 4  # everything done: no cluster is started


def test_scheduler_arguments_that_conflict_are_named(tmp_path):
    kw = dict(policies="none", seeds=1, progress=False, report=False, run_fn=fake_run, out_dir=tmp_path / "x")
    with pytest.raises(ValueError, match=r"^compare takes an executor or a scheduler, not both\.$"):
        C.compare(tiny_cfg(), scheduler="local", executor=R.SerialExecutor(), **kw)
    sched = tmp_path / "s.json"
    sched.write_text("{}")
    with pytest.raises(ValueError, match=r"^--jobs sets the local worker processes; with --scheduler .*s\.json the "
                                         r"cluster's workers are the ones started for it \(drop --jobs\)\.$"):
        C.compare(tiny_cfg(), scheduler=str(sched), jobs=2, **kw)
    for bad in (True, 0, 1.0):
        with pytest.raises(ValueError, match=r"^The 'jobs' parameter of compare must be an int >= 1\. Got "):
            C.compare(tiny_cfg(), jobs=bad, **kw)
    assert not (tmp_path / "x").exists()


def test_the_real_engine_path_warms_up_and_checks_memory_first(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(R, "run_one", fake_run)  # run_specs' default task, looked up when it runs
    monkeypatch.setattr(C, "warm_up", lambda specs, progress: calls.append(("warm_up", len(specs), progress)))
    monkeypatch.setattr(C, "check_memory", lambda cfg, copies, what: calls.append(("memory", copies, what)))
    monkeypatch.setattr(C, "default_jobs", lambda n: 5)
    out = tmp_path / "deep" / "er" / "r"
    C.compare(tiny_cfg(), policies="none,ucb", seeds=3, out_dir=out, jobs=1, progress=False, report=False)
    assert calls == [("memory", 1, "each run of this comparison"), ("warm_up", 6, False)]
    calls.clear()
    C.compare(tiny_cfg(), policies="none,ucb", seeds=3, out_dir=out, jobs=1, progress=True, report=False)
    assert calls == [("memory", 1, "each run of this comparison")]  # all reused: nothing to warm up
    calls.clear()
    C.compare(tiny_cfg(), policies="none", seeds=2, out_dir=tmp_path / "j", executor=R.SerialExecutor(),
              progress=True, report=False)
    assert calls == [("memory", 1, "each run of this comparison"), ("warm_up", 2, True)]
    calls.clear()
    with pytest.raises(Exception):  # jobs=None: as many at once as default_jobs says, at most one per run
        monkeypatch.setattr(C, "run_specs", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("stop")))
        C.compare(tiny_cfg(), policies="none,ucb", seeds=3, out_dir=tmp_path / "k", progress=False, report=False)
    assert calls[0] == ("memory", 5, "each run of this comparison")
    calls.clear()
    with pytest.raises(RuntimeError):
        C.compare(tiny_cfg(), policies="none", seeds=2, out_dir=tmp_path / "m", progress=False, report=False)
    assert calls[0] == ("memory", 2, "each run of this comparison")


def test_model_directories_are_checked_once_each_before_any_run(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(C, "check_model_dir", lambda d, names: seen.append((d, names)))
    m = tmp_path / "model"
    m.mkdir()
    C.compare(tiny_cfg(), policies="none,ucb", seeds=2, out_dir=tmp_path / "r", progress=False, report=False,
              run_fn=fake_run, rankers=["hand", f"learned:{m}", f"distilled:{m}"])
    from ranker.learn.features import FEATURE_NAMES

    assert seen == [(str(m), FEATURE_NAMES)]


def test_an_output_that_cannot_be_written_is_named_before_any_run(tmp_path, monkeypatch):
    kw = dict(policies="none", seeds=1, progress=False, report=False, run_fn=fake_run)
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ValueError, match=r"^--out '.*file' exists and is not a directory\.$"):
        C.compare(tiny_cfg(), out_dir=f, **kw)
    with pytest.raises(FileExistsError, match=r"^--out '.*file/a/b': .*file is a file, not a directory\.$"):
        C.compare(tiny_cfg(), out_dir=f / "a" / "b", **kw)
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(tmp_path) else real(p, mode))
    with pytest.raises(PermissionError) as e:
        C.compare(tiny_cfg(), out_dir=tmp_path / "new", **kw)
    assert e.value.errno == 13 and e.value.strerror == f"--out '{tmp_path / 'new'}': cannot write in {tmp_path} " \
                                                       "(permission denied)"
    monkeypatch.setattr(os, "access", lambda p, mode: real(p, mode) and mode == os.W_OK | os.X_OK)
    C.compare(tiny_cfg(), out_dir=tmp_path / "ok", **kw)  # asks for write and search together


def test_a_comparison_directory_in_use_is_named(tmp_path):
    from sim.preflight import COMPARE_LOCK, OutputBusy, OutputLock

    out = tmp_path / "r"
    out.mkdir()
    with OutputLock(out / COMPARE_LOCK, "x"):
        with pytest.raises(OutputBusy, match=rf"is writing comparison directory '{out}'; wait"):
            C.compare(tiny_cfg(), policies="none", seeds=1, out_dir=out, progress=False, report=False,
                      run_fn=fake_run)


def test_compare_by_default_shows_progress_and_writes_the_report(tmp_path, capsys):
    res = C.compare(tiny_cfg(), policies="none,ucb", seeds=1, out_dir=tmp_path / "r", jobs=1, run_fn=fake_run)
    assert res.report == tmp_path / "r" / "report.html" and res.report.is_file()
    assert "ranksim compare: run 2/2" in capsys.readouterr().err


# --- run_specs ------------------------------------------------------------------------------


class _Recording:
    """An executor (not the serial one) that runs each call at once and records how it was shut down."""

    def __init__(self, jobs=None):
        self.jobs, self.shutdowns = jobs, []

    def submit(self, fn, *args):
        return R.SerialExecutor().submit(fn, *args)

    def shutdown(self, **kw):
        self.shutdowns.append(kw)


def test_run_specs_threads_progress_and_its_own_pool(tmp_path, monkeypatch, capsys):
    _, specs = A.plan(tiny_cfg(), "none,ucb", seeds=2)
    got = []

    def spy(spec, run_dir, threads):
        got.append((spec.run_id, run_dir, threads))
        return fake_run(spec, run_dir, threads)

    R.run_specs(specs[:2], tmp_path / "a", jobs=1, progress=True, run_fn=spy)
    assert got == [(s.run_id, str(tmp_path / "a" / "runs" / s.run_id), None) for s in specs[:2]]  # in process: all threads
    err = capsys.readouterr().err
    assert "ranksim compare: run 1/2" in err and "ranksim compare: run 2/2" in err and f"{specs[1].run_id}" in err
    pools = []
    monkeypatch.setattr(R, "process_executor", lambda jobs: pools.append(_Recording(jobs)) or pools[-1])
    got.clear()
    R.run_specs(specs, tmp_path / "b", jobs=3, progress=True, run_fn=spy)
    assert [g[2] for g in got] == [1] * 4  # worker processes: one thread each
    assert pools[0].jobs == 3 and pools[0].shutdowns == [{"wait": True}]
    err = capsys.readouterr().err
    assert all(f"ranksim compare: run {i}/4" in err for i in range(1, 5))
    monkeypatch.setattr(R, "default_jobs", lambda n: 7 + n)
    R.run_specs(specs, tmp_path / "c", progress=False, run_fn=spy)
    assert pools[-1].jobs == 11


def test_run_specs_shuts_its_pool_down_at_once_on_a_failure(tmp_path, monkeypatch):
    _, specs = A.plan(tiny_cfg(), "none,fixed_tilt", seeds=1)
    pools = []
    monkeypatch.setattr(R, "process_executor", lambda jobs: pools.append(_Recording(jobs)) or pools[-1])
    from tests.test_compare import failing_run

    with pytest.raises(R.RunFailed, match=r"^Run fixed_tilt__seed0 failed: ValueError: boom$"):
        R.run_specs(specs, tmp_path, jobs=2, progress=False, run_fn=failing_run)
    assert pools[0].shutdowns == [{"wait": False, "cancel_futures": True}]


def test_a_run_that_leaves_nothing_is_named(tmp_path):
    _, specs = A.plan(tiny_cfg(), "none", seeds=1)
    with pytest.raises(R.RunFailed, match=rf"^Run none__seed0 did not leave a complete run in {tmp_path}/runs/none__seed0\.$"):
        R.run_specs(specs, tmp_path, jobs=1, progress=False, run_fn=lambda s, d, t: None)
    with pytest.raises(ValueError, match=r"^run_specs: run ids must be unique\.$"):
        R.run_specs(specs + specs, tmp_path, jobs=1, progress=False, run_fn=fake_run)


# --- arms, as written into the summary --------------------------------------------------------


def test_arm_dicts_and_plans():
    a = A.parse_sweep("traffic_pools.pool_multiples=[0.1,1],[0.2,2]")[0]
    assert a.to_dict() == {"label": "traffic_pools__pool_multiples=0.1-1.0", "policy": "traffic_pools",
                           "params": {"pool_multiples": [0.1, 1.0]}, "sweep": ["pool_multiples", [0.1, 1.0]],
                           "ranker": None, "grid": False}
    g = A.build_arms("fixed_tilt", frontier=True, rankers=["hand", "oracle"])[-1]
    assert g.to_dict() == {"label": "fixed_tilt__strength=1.0__ranker=oracle", "policy": "fixed_tilt",
                           "params": {"strength": 1.0}, "sweep": ["strength", 1.0], "ranker": "oracle", "grid": True}
    assert A.jsonable({1: np.float32(0.5), "b": (np.int64(2), np.bool_(True), float("nan"))}) == \
        {"1": 0.5, "b": [2, True, None]}
    arms, specs = A.plan(None, "none", seeds=2, sweeps=["ucb.c=1,2"], rankers=["hand", "oracle"], frontier=True)
    assert [a.label for a in arms][:3] == ["none", "ucb__c=1.0", "ucb__c=2.0"]
    assert "none__ranker=oracle" in [a.label for a in arms]
    assert specs[0].config.world == C.Config().world and [s.seed for s in specs[:2]] == [0, 1]
    big = A.plan(tiny_cfg(), "slot_quota", seeds=1, frontier=True)[0]
    assert [a.params["share"] for a in big if a.policy == "slot_quota"] == \
        list(A.strength_grid("slot_quota", tiny_cfg().feed.slate_size)[1])
