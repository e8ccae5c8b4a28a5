"""``ranksim compare``: arms, validation, paired statistics, executors, resumption.

Orchestration is tested with :func:`fake_run`, a stand-in for the engine that
writes a run directory shaped like :func:`sim.engine.simulate`'s in a few
milliseconds (metrics from the config's seed and policy, with a seed effect
shared by every policy, as common random numbers give). The real engine runs
in ``tests/test_report.py``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import zlib
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from ranker.policies import REGISTRY
from sim import cli
from sim import arms as A
from sim import compare as C
from sim import runner as R
from sim import stats as S
from sim.config import Config, load_config, write_config

TINY = dict(users=300, days=4)


# --- a fake engine ---------------------------------------------------------------------


def fake_metrics(cfg) -> dict:
    """Metrics shaped like ``OnlineMetrics.finalize``'s, from the seed and the policy.

    A seed effect shared by all policies (common random numbers) plus a small
    policy-and-seed noise, so paired differences are much tighter than
    unpaired ones.
    """
    seed, days = cfg.run.seed, cfg.run.days
    pol = json.dumps([cfg.policy.name, cfg.policy.params], sort_keys=True)
    s = np.random.default_rng([seed, 7]).normal(size=4)  # shared by every policy on this seed
    e = np.random.default_rng([seed, zlib.crc32(pol.encode())]).normal(size=4) * 0.1
    strength = 0.0 if cfg.policy.name == "none" else 1.0 + (zlib.crc32(pol.encode()) % 7) / 7
    strength *= float(cfg.policy.params.get("strength", 1.0)) if "strength" in cfg.policy.params else 1.0
    share = 0.04 + 0.02 * strength + 0.004 * (s[0] + e[0])
    value = 0.50 - 0.004 * strength + 0.02 * (s[1] + e[1])
    p = np.linspace(0, 1, 101)
    g = 0.6 - 0.05 * strength + 0.01 * s[2]
    curve = np.full((3, days), np.nan)
    curve[:, : days - 1] = np.linspace(1, 0.7 + 0.05 * strength, days - 1)
    m = {
        "impressions": (int(10_000 + 100 * seed), "impressions", "impressions served over the run"),
        "new_creator_exposure_share": (share, "share of impressions", "share of impressions going to creators younger than 14 days"),
        "new_creator_exposure_share_by_day": ((share + 0.001 * np.arange(days)).tolist(), "share of impressions, per day", "by day"),
        "exposure_gini": (g, "Gini coefficient in [0, 1]", "inequality"),
        "exposure_lorenz": (np.stack([p, p ** (1 + 2 * g)], 1).tolist(), "[population share, exposure share]", "Lorenz"),
        "breakout_rate_new": (0.01 + 0.003 * strength + 0.001 * s[3], "share of posts", "breakouts of new posts"),
        "breakout_rate_established": (0.01, "share of posts", "breakouts of other posts"),
        "breakout_threshold": (120.0, "impressions", "impressions within 3 days that make a breakout (percentile 99.0)"),
        "new_creator_survival": (0.8 + 0.02 * strength, "share of creators", "survival"),
        "new_creator_survival_high_quality": (0.9, "share of creators", "survival, high tier"),
        "new_creator_survival_curve": ([[None if not np.isfinite(x) else float(x) for x in r] for r in curve],
                                       "share alive [tier][day]", "survival curves"),
        "new_creator_quality_exposure_corr": (0.3 + 0.1 * s[2], "Spearman rho", "quality vs exposure"),
        "new_creator_exposure_by_quality_decile": (np.stack([np.linspace(-2, 2, 10), 50 + 10 * np.arange(10) * (1 + strength)], 1).tolist(),
                                                   "[mean latent quality, mean impressions per creator]", "deciles"),
        "days_to_target_median": (None, "days", "undefined in a tiny world"),
        "value_per_impression": (value, "latent value per impression", "mean latent user value per impression"),
        "value_per_impression_by_day": ([value] * days, "latent value per impression, per day", "by day"),
        "completion_rate": (0.3 - 0.002 * strength + 0.01 * s[1], "share of impressions", "completion rate"),
        "retention": (0.7 + 0.01 * s[3], "share of users", "retention"),
        "retention_by_day": ([0.7] * days, "share of users", "by day"),
        "ai_label_exposure_ratio": (1.0 + 0.05 * e[2], "ratio (1 = parity)", "AI parity"),
        "ai_label_exposure_ratio_engagement": (1.0 + 0.05 * e[3], "ratio (1 = parity)", "AI parity, engagement"),
        "ai_posts": (40 + seed % 3, "posts", "AI-labelled posts"),
        "measured_window_start": (days - days // 3, "day", "first measured day"),
        "impressions_measured": (4_000 + 10 * seed, "impressions", "impressions, measured window"),
        "new_creator_impressions_measured": (int(round((4_000 + 10 * seed) * (share + 0.01))), "impressions",
                                             "new creators' impressions, measured window"),
        "new_creator_exposure_share_measured": ((int(round((4_000 + 10 * seed) * (share + 0.01))))
                                                / (4_000 + 10 * seed), "share of impressions", "measured share"),
        "value_per_impression_measured": (value + 0.01, "latent value per impression", "measured value"),
        "completion_rate_measured": (0.3 - 0.002 * strength + 0.01 * s[1], "share of impressions", "completion"),
        "retention_measured": (0.7 + 0.01 * s[3], "share of users", "retention"),
        "completion_rate_by_day": ([0.3] * days, "share of impressions, per day", "by day"),
        "breakouts_new": (int(3 + strength + seed % 2), "posts", "new posts that broke out"),
        "posts_observed_new": (300, "posts", "new posts observed"),
        "breakouts_established": (10, "posts", "other posts that broke out"),
        "posts_observed_established": (1000, "posts", "other posts observed"),
    }
    for grouping, names in (("age", ("18-24", "25+")), ("activity", ("light", "heavy"))):
        for i, name in enumerate(names):
            m[f"group.users.{grouping}={name}"] = (150, "users", "users in the group")
            m[f"group.value_per_impression.{grouping}={name}"] = (value * (1 + 0.1 * i) - 0.003 * i * strength,
                                                                  "latent value per impression", "group value")
            m[f"group.new_creator_exposure_share.{grouping}={name}"] = (share + 0.01 * i, "share of impressions",
                                                                        "group share")
    return {k: {"value": v, "unit": u, "description": d} for k, (v, u, d) in m.items()}


def fake_run(spec, run_dir, threads=1):
    """Stand-in for :func:`sim.compare.run_one`: writes config.toml and metrics.json."""
    d = Path(run_dir)
    d.mkdir(parents=True, exist_ok=True)
    write_config(spec.config, d / "config.toml")
    (d / "metrics.json").write_text(json.dumps(fake_metrics(spec.config), indent=1, sort_keys=True) + "\n")
    return {"run_id": spec.run_id, "pid": os.getpid(), "threads": threads}


def failing_run(spec, run_dir, threads=1):
    if "fixed_tilt" in spec.run_id:
        raise ValueError("boom")
    return fake_run(spec, run_dir, threads)


def tiny_cfg():
    return Config().with_overrides(**TINY)


# --- arms and validation -----------------------------------------------------------------


def test_default_arms_every_policy_none_first():
    arms = A.build_arms()
    assert [a.label for a in arms][0] == "none"
    assert sorted(a.label for a in arms) == sorted(REGISTRY)
    assert all(a.params == {} and a.sweep is None for a in arms)


def test_none_always_added_and_duplicates_dropped():
    arms = A.build_arms("fixed_tilt,ucb,fixed_tilt")
    assert [a.label for a in arms] == ["none", "fixed_tilt", "ucb"]


def test_sweep_arms_labels_and_resolved_values():
    arms = A.build_arms("none", ["fixed_tilt.strength=0.25,1,1.0", "traffic_pools.pool_multiples=[0.1,1],[0.2,2]"])
    labels = [a.label for a in arms]
    assert labels == ["none", "fixed_tilt__strength=0.25", "fixed_tilt__strength=1.0",
                      "traffic_pools__pool_multiples=0.1-1.0", "traffic_pools__pool_multiples=0.2-2.0"]
    a = arms[1]
    assert a.policy == "fixed_tilt" and a.params == {"strength": 0.25} and a.sweep == ("strength", 0.25)
    assert arms[3].params == {"pool_multiples": [0.1, 1.0]}


@pytest.mark.parametrize("policies, sweeps, err, match", [
    ("none,bogus", (), ValueError, r"Unknown policy 'bogus' in --policies\. Registered policies: decaying_tilt, fairco, "),
    ("a,b", (), ValueError, r"Unknown policies 'a', 'b' in --policies"),
    (" , ", (), ValueError, r"--policies is empty; give one or more of: "),
    (None, ["fixed_tilt.strength"], ValueError, r"--sweep must look like POLICY\.PARAM=v1,v2,\.\.\..*got 'fixed_tilt\.strength'"),
    (None, ["strength=1,2"], ValueError, r"--sweep must look like"),
    (None, ["bogus.x=1"], ValueError, r"Unknown policy 'bogus' in --sweep 'bogus\.x=1'\. Registered policies: "),
    (None, ["fixed_tilt.strenght=1"], ValueError, r"Policy 'fixed_tilt' has no parameter 'strenght' .*Its parameters: strength, days, scope\.$"),
    (None, ["none.x=1"], ValueError, r"Policy 'none' has no parameters to sweep"),
    (None, ["fixed_tilt.strength=1,,2"], ValueError, r"has an empty value"),
    (None, ["fixed_tilt.strength="], ValueError, r"has an empty value"),
    (None, ["fixed_tilt.strength=0.5,-1"], ValueError,
     r"^--sweep fixed_tilt\.strength=-1: The 'strength' parameter of FixedTiltParams must be a finite float in the range \[0\.0, 100\.0\]\. Got -1\.0 instead\.$"),
    (None, ["fixed_tilt.strength=strong"], TypeError, r"^--sweep fixed_tilt\.strength=strong: The 'strength' parameter .* must be a float"),
    (None, ["traffic_pools.drop_failed=1"], TypeError, r"^--sweep traffic_pools\.drop_failed=1: .*must be a bool"),
    (None, ["ucb.scope=everyone"], ValueError, r"^--sweep ucb\.scope=everyone: .*must be a str among"),
    (None, ["fixed_tilt.strength=0.5"], ValueError,
     r"^--sweep 'fixed_tilt\.strength=0\.5' is a strength grid of 1 point; a grid needs at least 2 distinct values"),
    (None, ["ucb.c=0.5,0.5"], ValueError, r"^--sweep 'ucb\.c=0\.5,0\.5' is a strength grid of 1 point"),
])
def test_bad_arms_fail_naming_value_and_allowed(policies, sweeps, err, match):
    with pytest.raises(err, match=match):
        A.build_arms(policies, sweeps)


def test_bad_input_fails_before_any_work(tmp_path):
    out = tmp_path / "rep"
    with pytest.raises(ValueError, match="bogus"):
        C.compare(tiny_cfg(), policies="none,bogus", out_dir=out, run_fn=fake_run, progress=False)
    with pytest.raises(ValueError, match="seeds"):
        C.compare(tiny_cfg(), seeds=0, out_dir=out, run_fn=fake_run, progress=False)
    with pytest.raises(ValueError, match="jobs"):
        C.compare(tiny_cfg(), jobs=0, out_dir=out, run_fn=fake_run, progress=False)
    assert not out.exists()


def test_a_quota_share_below_one_slot_fails_before_any_run(tmp_path):
    out = tmp_path / "rep"
    with pytest.raises(ValueError, match=r"^Arm 'slot_quota__share=0\.05': The 'share' parameter of SlotQuotaParams must be "
                                         r"0 or a float in the range \(0\.0625, 1\.0\] with slate_size = 8 .*Got 0\.05"):
        C.compare(tiny_cfg(), policies="none", sweeps=["slot_quota.share=0.05,0.25"], out_dir=out, run_fn=fake_run,
                  progress=False)
    assert not out.exists()


def test_specs_common_seeds_and_resolved_configs():
    arms = A.build_arms("none,fixed_tilt", ["fixed_tilt.strength=1,2"])
    cfg = tiny_cfg().with_overrides(seed=5, log_sample=1.0)
    specs = A.build_specs(cfg, arms, 3)
    assert [s.run_id for s in specs[:3]] == ["none__seed5", "none__seed6", "none__seed7"]
    assert specs[-1].run_id == "fixed_tilt__strength=2.0__seed7"
    for s in specs:
        assert s.config.run.log_sample == 0.0
        assert s.config.world == cfg.world and s.config.run.days == cfg.run.days
        assert s.config.policy.name == s.arm.split("__")[0]
    assert specs[-1].config.policy.params["strength"] == 2.0
    # the same seed k gives every arm the same world and run settings but its own policy
    by_seed = {}
    for s in specs:
        by_seed.setdefault(s.seed, []).append(s.config.replace(policy=cfg.policy))
    assert all(all(c == v[0] for c in v) for v in by_seed.values())


# --- paired statistics --------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_paired_difference_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 12))
    b = rng.normal(size=n)
    a = b + 0.3 + 0.1 * rng.normal(size=n)
    p = S.paired_difference(a, b)
    d = a - b
    lo, hi = stats.t.interval(0.95, n - 1, loc=d.mean(), scale=stats.sem(d))
    assert p["n"] == n
    assert p["diff"] == pytest.approx(d.mean(), rel=1e-12)
    assert p["lo"] == pytest.approx(lo, rel=1e-9) and p["hi"] == pytest.approx(hi, rel=1e-9)
    assert p["base"] == pytest.approx(b.mean()) and p["arm"] == pytest.approx(a.mean())
    assert p["rel"] == pytest.approx(d.mean() / abs(b.mean()))
    assert p["rel_lo"] == pytest.approx(lo / abs(b.mean()))
    # scipy's paired t test agrees on detectability
    assert p["detectable"] == (stats.ttest_rel(a, b).pvalue < 0.05)


def test_paired_is_tighter_than_unpaired_under_common_noise():
    rng = np.random.default_rng(0)
    common = rng.normal(size=8)
    a, b = common + 0.1 + 0.01 * rng.normal(size=8), common + 0.01 * rng.normal(size=8)
    p = S.paired_difference(a, b)
    assert p["detectable"] and p["lo"] > 0
    ua, ub = S.mean_ci(a), S.mean_ci(b)
    assert ua["lo"] < ub["hi"]  # the unpaired intervals overlap: only pairing detects it


def test_paired_difference_edge_cases():
    p = S.paired_difference([1.0], [0.5])
    assert p["n"] == 1 and p["diff"] == 0.5 and math.isnan(p["lo"]) and not p["detectable"]
    p = S.paired_difference([None, 2.0, 3.0, float("nan")], [1.0, 1.0, 1.5, 2.0])
    assert p["n"] == 2 and p["diff"] == pytest.approx(1.25)
    p = S.paired_difference([1.0, 1.0], [1.0, 1.0])
    assert p["diff"] == 0 and p["lo"] == 0 and not p["detectable"]
    p = S.paired_difference([2.0, 2.0], [1.0, 1.0])  # identical differences: a zero-width interval off 0
    assert p["lo"] == p["hi"] == 1.0 and p["detectable"]
    p = S.paired_difference([1.0, 2.0], [0.0, 0.0])
    assert math.isnan(p["rel"]) and p["diff"] == 1.5
    p = S.paired_difference([], [])
    assert p["n"] == 0 and math.isnan(p["diff"])
    with pytest.raises(ValueError, match="aligned by seed"):
        S.paired_difference([1.0, 2.0], [1.0])


def test_mean_ci():
    x = [1.0, 2.0, 4.0, None]
    m = S.mean_ci(x)
    lo, hi = stats.t.interval(0.95, 2, loc=7 / 3, scale=stats.sem([1, 2, 4]))
    assert m["n"] == 3 and m["mean"] == pytest.approx(7 / 3) and m["min"] == 1 and m["max"] == 4
    assert (m["lo"], m["hi"]) == pytest.approx((lo, hi))
    assert math.isnan(S.mean_ci([3.0])["lo"]) and S.mean_ci([3.0])["mean"] == 3.0
    assert S.mean_ci([None])["n"] == 0


# --- running, summary, resumption -----------------------------------------------------------


def _summary_bytes(out):
    return (out / "summary.csv").read_bytes(), (out / "summary.json").read_bytes()


def test_compare_writes_summary_rows_and_paired_stats(tmp_path):
    out = tmp_path / "rep"
    res = C.compare(tiny_cfg(), policies="none,fixed_tilt,ucb", sweeps=["fixed_tilt.strength=0.25,2"], seeds=3,
                    out_dir=out, jobs=1, progress=False, report=False, run_fn=fake_run)
    assert res.n_runs == 15 and res.n_reused == 0
    with open(out / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 15
    assert list(rows[0])[:5] == ["run_id", "arm", "policy", "params", "seed"]
    for r in rows:
        run = out / "runs" / r["run_id"]
        m = json.loads((run / "metrics.json").read_text())
        cfg = load_config(run / "config.toml")
        assert cfg.policy.name == r["policy"] and cfg.run.seed == int(r["seed"])
        assert json.loads(r["params"]) == cfg.policy.params
        for k in ("new_creator_exposure_share", "value_per_impression", "impressions"):
            assert float(r[k]) == m[k]["value"]  # exact: floats are written with repr
        assert r["days_to_target_median"] == ""  # None stays empty, not 'None' or 'nan'
        assert "exposure_lorenz" not in r  # series are not columns
    s = json.loads((out / "summary.json").read_text())
    assert [a["label"] for a in s["arms"]] == ["none", "fixed_tilt", "ucb", "fixed_tilt__strength=0.25",
                                               "fixed_tilt__strength=2.0"]
    # paired differences recomputed by hand from the CSV
    val = {(r["arm"], int(r["seed"])): float(r["value_per_impression"]) for r in rows}
    d = np.array([val["ucb", k] - val["none", k] for k in (0, 1, 2)])
    p = s["paired"]["ucb"]["value_per_impression"]
    assert p["diff"] == pytest.approx(d.mean(), rel=1e-12)
    assert p["hi"] - p["diff"] == pytest.approx(stats.t.ppf(0.975, 2) * d.std(ddof=1) / math.sqrt(3), rel=1e-9)
    assert "none" not in s["paired"]
    # series: mean and range over seeds
    ser = s["series"]["ucb"]["new_creator_exposure_share_by_day"]
    per_seed = [json.loads((out / "runs" / f"ucb__seed{k}" / "metrics.json").read_text())
                ["new_creator_exposure_share_by_day"]["value"] for k in range(3)]
    assert ser["mean"] == pytest.approx(np.mean(per_seed, axis=0).tolist())
    assert ser["min"] == pytest.approx(np.min(per_seed, axis=0).tolist())
    curve = s["series"]["none"]["new_creator_survival_curve"]["mean"]
    assert curve[0][-1] is None and curve[0][0] == 1.0
    assert "seconds" not in (out / "summary.json").read_text()
    assert not list(out.glob(".*tmp"))  # atomic writes leave no temporary files


def test_result_frames_are_the_summary(tmp_path, capsys):
    res = C.compare(tiny_cfg(), policies="none,ucb", seeds=3, out_dir=tmp_path / "rep", jobs=1, progress=True,
                    report=False, run_fn=fake_run)
    # progress off a terminal: one plain line per run, no carriage-return frames
    err = capsys.readouterr().err
    assert "\r" not in err
    assert [ln.split(",")[0] for ln in err.splitlines() if ln.startswith("ranksim compare: run")] == \
        [f"ranksim compare: run {i}/6" for i in range(1, 7)]
    s = res.summary
    df = res.to_frame()
    assert df.index.names == ["arm", "metric"] and len(df) == 2 * len(s["scalars"])
    m = "value_per_impression"
    assert df.loc[("ucb", m), "mean"] == s["stats"]["ucb"][m]["mean"]
    assert df.loc[("ucb", m), "diff"] == s["paired"]["ucb"][m]["diff"]
    assert df.loc[("ucb", m), "diff_hi"] == s["paired"]["ucb"][m]["hi"]
    assert math.isnan(df.loc[("none", m), "diff"]) and not df.loc[("none", m), "detectable"]
    assert df.loc[("none", m), "unit"] == s["metric_info"][m]["unit"]
    runs = res.runs_frame()
    assert len(runs) == 6 and runs.loc["ucb__seed2", m] == s["runs"][5]["scalars"][m]
    assert list(runs.columns[:3]) == ["arm", "policy", "seed"]


def test_jobs_1_and_2_give_identical_summaries(tmp_path):
    kw = dict(policies="none,fixed_tilt,decaying_tilt", seeds=2, progress=False, report=False, run_fn=fake_run)
    C.compare(tiny_cfg(), out_dir=tmp_path / "a", jobs=1, **kw)
    C.compare(tiny_cfg(), out_dir=tmp_path / "b", jobs=2, **kw)
    assert _summary_bytes(tmp_path / "a") == _summary_bytes(tmp_path / "b")


def test_process_pool_runs_in_workers_with_one_thread(tmp_path):
    specs = A.build_specs(tiny_cfg(), A.build_arms("none,fixed_tilt"), 2)
    seen = []

    def spy(spec, run_dir, threads):
        seen.append(threads)
        return fake_run(spec, run_dir, threads)

    # in-process: the caller's threads (None: all of them)
    R.run_specs(specs[:1], tmp_path, jobs=1, progress=False, run_fn=spy)
    assert seen == [None]
    # through a process pool: one thread per worker, in other processes
    with R.process_executor(2) as ex:
        futs = [ex.submit(fake_run, s, str(tmp_path / "runs" / s.run_id), 1) for s in specs[1:]]
        pids = {f.result()["pid"] for f in futs}
    assert os.getpid() not in pids


class _CountingExecutor:
    """A minimal executor of the kind run_specs accepts (e.g. a Dask Client)."""

    def __init__(self):
        self.calls = []
        self.inner = R.SerialExecutor()

    def submit(self, fn, *args):
        self.calls.append(args[0].run_id)
        return self.inner.submit(fn, *args)


def test_any_executor_with_submit_and_resume_skips_complete_runs(tmp_path):
    out = tmp_path / "rep"
    arms = A.build_arms("none,fixed_tilt")
    specs = A.build_specs(tiny_cfg(), arms, 2)
    ex = _CountingExecutor()
    first = R.run_specs(specs, out, ex, progress=False, run_fn=fake_run)
    # submitted seed-major, so that a worker's consecutive runs share a world
    assert ex.calls == ["none__seed0", "fixed_tilt__seed0", "none__seed1", "fixed_tilt__seed1"]
    # a complete run with an identical config is reused; a broken or different one is re-run
    (out / "runs" / "none__seed1" / "metrics.json").unlink()
    write_config(specs[2].config.with_overrides(days=5), out / "runs" / specs[2].run_id / "config.toml")
    ex2 = _CountingExecutor()
    again = R.run_specs(specs, out, ex2, progress=False, run_fn=fake_run)
    assert ex2.calls == [specs[2].run_id, "none__seed1"]
    assert again == first
    # everything complete: nothing submitted
    ex3 = _CountingExecutor()
    R.run_specs(specs, out, ex3, progress=False, run_fn=fake_run)
    assert ex3.calls == []
    res = C.compare(tiny_cfg(), policies="none,fixed_tilt", seeds=2, out_dir=out, progress=False, report=False,
                    run_fn=failing_run)  # would fail if anything re-ran
    assert res.n_reused == 4


def test_failed_run_names_the_run_and_keeps_finished_ones(tmp_path):
    out = tmp_path / "rep"
    with pytest.raises(R.RunFailed, match=r"Run fixed_tilt__seed0 failed: ValueError: boom"):
        C.compare(tiny_cfg(), policies="none,fixed_tilt", seeds=2, out_dir=out, jobs=1, progress=False,
                  run_fn=failing_run)
    assert (out / "runs" / "none__seed0" / "metrics.json").is_file()
    assert not (out / "runs" / "none__seed1").exists()  # in-process runs stop at the first failure
    assert not (out / "summary.csv").exists()


def test_is_complete(tmp_path):
    cfg = tiny_cfg().with_overrides(log_sample=0.0)
    spec = A.RunSpec("x", "none", 0, cfg)
    d = tmp_path / "x"
    assert not R.is_complete(d, cfg)
    fake_run(spec, d)
    assert R.is_complete(d, cfg)
    assert not R.is_complete(d, cfg.with_overrides(seed=1))
    (d / "INCOMPLETE").write_text("")
    assert not R.is_complete(d, cfg)
    (d / "INCOMPLETE").unlink()
    (d / "metrics.json").write_text("{not json")
    assert not R.is_complete(d, cfg)


# --- command line ---------------------------------------------------------------------


def test_cli_errors_are_one_line_exit_2(tmp_path, capsys):
    from sim.cli import main

    out = tmp_path / "rep"
    assert main(["compare", "--policies", "none,nope", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'nope'" in err[0] and "fixed_tilt" in err[0]
    assert main(["compare", "--sweep", "fixed_tilt.strength=-2", "--out", str(out)]) == 2
    assert "--sweep fixed_tilt.strength=-2" in capsys.readouterr().err
    assert main(["compare", "--users", "0", "--out", str(out)]) == 2
    assert "n_users" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(SystemExit):
        main(["compare", "--seeds", "0"])
    assert "must be an int >= 1" in capsys.readouterr().err


def test_cli_defaults(monkeypatch, tmp_path):
    from sim.cli import build_parser

    args = build_parser().parse_args(["compare"])
    assert args.out == "ranksim-report" and args.seeds == 3 and args.sweep == [] and args.policies is None
    seen = {}

    def fake_compare(cfg, **kw):
        seen.update(kw, cfg=cfg)
        raise ValueError("stop here")

    monkeypatch.setattr(cli, "compare", fake_compare)
    from sim.cli import main

    assert main(["compare", "--days", "3", "--sweep", "ucb.c=1", "--sweep", "ucb.c=2"]) == 2
    assert seen["cfg"].run.days == 3 and seen["cfg"].run.log_sample == 0.0
    assert seen["sweeps"] == ["ucb.c=1", "ucb.c=2"] and seen["seeds"] == 3 and seen["out_dir"] == "ranksim-report"


@pytest.mark.slow  # subprocesses or a cluster: tens of seconds
def test_world_built_once_per_seed_and_process():
    specs = A.build_specs(tiny_cfg(), A.build_arms("none,fixed_tilt"), 3)
    R.clear_world_cache()
    try:
        w = {s.run_id: R._world_for(s.config) for s in sorted(specs, key=lambda s: s.seed)}
        assert w["none__seed0"] is w["fixed_tilt__seed0"]
        assert w["none__seed1"] is not w["none__seed0"]
        assert len(R._WORLDS) == R._WORLDS_KEPT
        # a different world config is another world
        other = specs[0].config.with_overrides(users=301)
        assert R._world_for(other).n_users == 301
    finally:
        R.clear_world_cache()
    assert not R._WORLDS


def test_cli_failed_run_is_one_line_exit_1(monkeypatch, tmp_path, capsys):
    from sim.cli import main

    monkeypatch.setattr(R, "run_one", failing_run)
    out = tmp_path / "rep"
    assert main(["compare", "--users", "300", "--days", "2", "--policies", "none,fixed_tilt", "--seeds", "1",
                 "--jobs", "1", "--quiet", "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(r"Run fixed_tilt__(strength=[0-9.]+__)?seed0 failed: ValueError: boom", err[0]) and "resume" in err[0]
    assert (out / "runs" / "none__seed0" / "metrics.json").is_file()


def test_rankers_cross_arms_first_ranker_is_baseline(tmp_path):
    from sim.arms import build_arms
    from sim.cli import _parse_rankers

    arms = build_arms("none,fixed_tilt", (), ["hand", "oracle"])
    assert [a.label for a in arms] == ["none", "fixed_tilt", "none__ranker=oracle", "fixed_tilt__ranker=oracle"]
    assert [a.ranker for a in arms] == ["hand", "hand", "oracle", "oracle"]
    assert _parse_rankers(None) is None
    assert _parse_rankers("hand, oracle") == ["hand", "oracle"]
    with pytest.raises(ValueError, match="A ranker must be one of"):
        _parse_rankers("hand,magic")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        _parse_rankers(f"learned:{tmp_path / 'nope'}")
