"""Issue 15's measurement side: worlds that scale coherently, Kaplan-Meier survival, the warm-up, long-run metrics.

Scaling: a world built from one config at two sizes holds the same creators
and arrivals per user; a count the config file sets stays as set.
Kaplan-Meier: against a hand-worked case (estimate, Greenwood interval, at
risk). Warm-up: a run with W warm-up days replays the last days of a cold run
of W + days days under ``none``, and its metrics equal that cold run's
events after day W. Long-run series: pinned to exact counts in a world where
no creator quits, and to the run's own event log.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.compare import compare_default_config
from sim.config import Config, parse_config
from sim.engine import simulate
from sim.metrics import kaplan_meier
from sim.stats import payback_day
from sim.world import WorldConfig, build_world, scaled_count

WORLD = WorldConfig(n_users=400, n_creators=60, new_creators_per_day=4, friends_mean=6.0, follows_mean=4.0)


def _cfg(days=4, warmup=0, policy="none", log_sample=1.0, seed=3, feed=None, creators=None):
    c = Config().replace(world=WORLD)
    if feed:
        c = c.replace(feed=c.feed.replace(**feed))
    if creators:
        c = c.replace(creators=c.creators.replace(**creators))
    return c.with_overrides(policy=policy, days=days, seed=seed, log_sample=log_sample, warmup_days=warmup)


def _events(d):
    from sim.events import read_events

    return read_events(Path(d) / "events")


def _v(res, name):
    return res.metrics[name]["value"]


# --- worlds that scale coherently ------------------------------------------------------------


@pytest.mark.parametrize("count, users, new, want", [
    (600, 12_000, 5_000, 250), (600, 12_000, 20_000, 1_000), (12, 12_000, 5_000, 5), (12, 12_000, 20_000, 20),
    (12, 12_000, 500, 1),  # 0.5 rounds half up
    (12, 12_000, 400, 1),  # 0.4: at least one, as the original has some
    (0, 12_000, 20_000, 0), (600, 12_000, 12_000, 600), (3, 7, 10, 4),  # 4.29 -> 4
])
def test_scaled_count(count, users, new, want):
    assert scaled_count(count, users, new) == want


def test_users_override_keeps_creators_and_arrivals_per_user():
    small, big = (Config().with_overrides(users=n).world for n in (5_000, 20_000))
    assert (small.n_creators, small.new_creators_per_day) == (250, 5)
    assert (big.n_creators, big.new_creators_per_day) == (1_000, 20)
    assert small.proportions() == big.proportions() == Config().world.proportions()
    assert small.proportions()["creators_per_1k_users"] == 50.0
    assert small.proportions()["new_creators_per_1k_users_per_day"] == 1.0
    # per-user and per-creator parameters are left as they are
    assert small.friends_mean == big.friends_mean == 20.0 and small.posts_per_day_mean == 0.7


def test_a_config_file_world_scales_from_its_own_proportions_and_explicit_counts_win():
    only_users = parse_config("[world]\nn_users = 5000\n").world
    assert (only_users.n_creators, only_users.new_creators_per_day) == (250, 5)  # the default proportions
    f = parse_config("[world]\nn_users = 4000\nn_creators = 600\n")
    assert f.world.explicit == frozenset({"n_creators"})
    for n in (2_000, 16_000):
        w = f.with_overrides(users=n).world
        assert w.n_creators == 600  # set in the file: never rescaled
        assert w.new_creators_per_day == n // 1000  # not set: 1 per 1,000 users, as the default world
    # explicit new creators a day, scaled creators
    g = parse_config("[world]\nnew_creators_per_day = 0\n").with_overrides(users=24_000).world
    assert (g.n_creators, g.new_creators_per_day) == (1_200, 0)


def test_compare_default_world_scales_with_users_too():
    c = compare_default_config()
    assert (c.world.n_users, c.world.n_creators, c.world.new_creators_per_day) == (2_000, 200, 4)
    w = c.with_overrides(users=20_000).world
    assert (w.n_creators, w.new_creators_per_day) == (2_000, 40)


def test_built_worlds_at_5k_and_20k_hold_the_same_counts_per_user():
    cfg = parse_config("[world]\nn_users = 5000\n")
    sizes = {}
    for n in (5_000, 20_000):
        c = cfg.with_overrides(users=n)
        w = build_world(c.world, 10, 0, 4)
        sizes[n] = (w.n_established / n, (w.n_creators - w.n_established) / (9 * n))
    assert sizes[5_000] == sizes[20_000] == (0.05, 0.001)


def test_run_metrics_state_the_world_proportions():
    res = simulate(_cfg(days=2, log_sample=0.0), progress=False, threads=1)
    assert _v(res, "world_users") == 400
    assert _v(res, "world_creators_per_1k_users") == 150.0  # 60 per 400
    assert _v(res, "world_new_creators_per_1k_users_per_day") == 10.0  # 4 a day per 400


# --- Kaplan-Meier ----------------------------------------------------------------------------


def test_kaplan_meier_hand_worked():
    # quits at ages 2, 3, 3; still posting when last seen at ages 1, 3, 5
    s, lo, hi, at_risk = kaplan_meier([2, 3, 3], [1, 3, 5], np.arange(7))
    np.testing.assert_array_equal(at_risk, [6, 6, 5, 4, 1, 1, 0])  # seen at age 1: still at risk at 1
    # S(2) = 1 - 1/5; S(3) = 0.8 (1 - 2/4); flat to the last observation at 5, undefined beyond
    np.testing.assert_allclose(s[:6], [1, 1, 0.8, 0.4, 0.4, 0.4], rtol=1e-12)
    assert math.isnan(s[6]) and math.isnan(lo[6]) and math.isnan(hi[6])
    # Greenwood: var S(2) = 0.8^2 * 1/(5*4); var S(3) = 0.4^2 * (1/(5*4) + 2/(4*2)); linear interval clipped to [0, 1]
    z = 1.959963984540054
    se2, se3 = 0.8 * math.sqrt(1 / 20), 0.4 * math.sqrt(1 / 20 + 2 / 8)
    assert lo[2] == pytest.approx(0.8 - z * se2, rel=1e-9) and hi[2] == 1.0
    assert lo[3] == 0.0 and hi[3] == pytest.approx(0.4 + z * se3, rel=1e-9)
    assert lo[0] == hi[0] == 1.0  # no quit yet: no uncertainty


def test_kaplan_meier_differs_from_the_naive_share_when_late_ages_are_censored():
    # the naive share alive among those observed at least a days rises again at age 3 (0.5 -> 1.0);
    # Kaplan-Meier does not
    ev, ce = [2], [1, 3]
    s, *_ = kaplan_meier(ev, ce, np.arange(4))
    np.testing.assert_allclose(s, [1.0, 1.0, 0.5, 0.5])
    s, lo, hi, n = kaplan_meier([], [], np.arange(3))
    assert np.isnan(s).all() and (n == 0).all()
    s, lo, hi, n = kaplan_meier([], [2, 4], np.arange(6))
    np.testing.assert_array_equal(s[:5], 1.0)
    assert np.isnan(s[5])


@pytest.fixture(scope="module")
def quitting_run():
    # a neutral daily quit probability of 0.18 (logit -1.5), whatever creators experience
    cfg = _cfg(days=12, log_sample=0.0, feed=dict(new_creator_days=5), creators=dict(quit_b=-1.5, quit_slope=0.0))
    return simulate(cfg, progress=False, threads=1)


def test_survival_curves_never_rise_and_hold_their_intervals(quitting_run):
    res = quitting_run
    assert _v(res, "new_creators_quit") > 5 and _v(res, "new_creators") == 4 * 11
    curves = np.array(_v(res, "new_creator_survival_curve"), dtype=float)
    lo = np.array(_v(res, "new_creator_survival_curve_lo"), dtype=float)
    hi = np.array(_v(res, "new_creator_survival_curve_hi"), dtype=float)
    allc = np.array(_v(res, "new_creator_survival_curve_all"), dtype=float)
    assert curves.shape == lo.shape == (3, 12) and allc.shape == (3, 12)
    for c in list(curves) + [allc[0]]:
        c = c[np.isfinite(c)]
        assert c.size >= 6 and np.all(np.diff(c) <= 0) and c[0] == 1.0
    ok = np.isfinite(curves)
    assert np.all(lo[ok] <= curves[ok] + 1e-12) and np.all(curves[ok] <= hi[ok] + 1e-12)
    # the scalar is the curve of all new creators at age new_creator_days (5)
    assert _v(res, "new_creator_survival") == allc[0, 5]
    assert _v(res, "new_creator_survival_lo") == allc[1, 5] < allc[0, 5] < allc[2, 5] == _v(res, "new_creator_survival_hi")
    assert 0.0 < _v(res, "new_creator_survival") < 1.0


def test_survival_at_risk_counts(quitting_run):
    """Joiners on days 1..11 of 12: all 44 are seen at age 0; nobody is seen at age 11."""
    at_risk = np.array(_v(quitting_run, "new_creator_at_risk_by_age"), dtype=float)
    assert at_risk[3, 0] == 44 and at_risk[3, 11] == 0
    assert np.all(np.diff(at_risk[3]) <= 0)
    np.testing.assert_array_equal(at_risk[:3].sum(axis=0), at_risk[3])


# --- the warm-up -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def warm_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("warm")
    cold = simulate(_cfg(days=7), out_dir=root / "cold", progress=False, threads=1)
    warm = simulate(_cfg(days=4, warmup=3), out_dir=root / "warm", progress=False, threads=1)
    tilt = simulate(_cfg(days=4, warmup=3, policy="fixed_tilt", log_sample=0.0), progress=False, threads=1)
    return root, cold, warm, tilt


def test_a_warm_run_replays_the_tail_of_a_cold_run(warm_runs):
    root, cold, warm, _ = warm_runs
    for name in ("value_per_impression_by_day", "retention_by_day", "new_creator_exposure_share_by_day",
                 "completion_rate_by_day", "daily_active_users_by_day", "active_creators_by_day", "posts_by_day"):
        assert _v(warm, name) == _v(cold, name)[3:], name
    assert _v(warm, "value_per_impression_by_warmup_day") == _v(cold, "value_per_impression_by_day")[:3]
    # the log holds the measured days only, numbered from 0: the cold run's days 3..6, row for row
    ev_c, ev_w = _events(root / "cold"), _events(root / "warm")
    assert sorted(ev_w["day"].unique()) == [0, 1, 2, 3]
    tail = ev_c[ev_c["day"] >= 3].reset_index(drop=True)
    cols = ["tick", "user_id", "video_id", "position", "latent_value", "is_new_creator"]
    pd.testing.assert_frame_equal(ev_w[cols].reset_index(drop=True), tail[cols])
    np.testing.assert_array_equal(ev_w["day"].to_numpy(), tail["day"].to_numpy() - 3)


def test_warm_up_days_never_reach_the_metrics(warm_runs):
    root, cold, warm, _ = warm_runs
    ev = _events(root / "warm")
    m = {k: v["value"] for k, v in warm.metrics.items()}
    assert m["impressions"] == m["impressions_measured"] == len(ev)
    assert m["measured_window_start"] == 0 and m["warmup_days"] == 3
    assert m["new_creator_exposure_share_measured"] == pytest.approx(ev["is_new_creator"].mean(), rel=1e-12)
    assert m["value_per_impression"] == pytest.approx(ev["latent_value"].astype(np.float64).mean(), rel=1e-6)
    assert m["total_value"] == pytest.approx(ev["latent_value"].astype(np.float64).sum(), rel=1e-6)
    # the cold run's whole-run figures differ: the warm-up days are in them
    assert m["impressions"] < _v(cold, "impressions")
    # the new creators followed for survival join on measured days only: 4 a day on days 0..3
    assert m["new_creators"] == 16
    # long-run series against the log
    day_value = ev.groupby("day")["latent_value"].sum().to_numpy(np.float64)
    np.testing.assert_allclose(m["cumulative_value_by_day"], np.cumsum(day_value), rtol=1e-5)
    np.testing.assert_array_equal(m["daily_active_users_by_day"], ev.groupby("day")["user_id"].nunique().to_numpy())
    for d, g in ev.groupby("day"):
        p = g["creator_id"].value_counts(normalize=True).to_numpy()
        assert m["catalogue_diversity_by_day"][d] == pytest.approx(np.exp(-(p * np.log(p)).sum()), rel=1e-9)
        assert m["creators_served_by_day"][d] == g["creator_id"].nunique()


def test_every_arm_warms_up_under_none(warm_runs):
    _, _, warm, tilt = warm_runs
    assert _v(tilt, "value_per_impression_by_warmup_day") == _v(warm, "value_per_impression_by_warmup_day")
    # ... and the policy acts from day 0: fixed_tilt shows newcomers more than none on the measured days
    # 1.19x here while heavy users were served repeats; 1.075x once no video is served twice (issue 14
    # point 1: heavy users of this 60-creator world are served nearly every post, newcomers' included,
    # whatever the policy)
    assert _v(tilt, "new_creator_exposure_share") > 1.04 * _v(warm, "new_creator_exposure_share")


def test_warmup_bounds_are_clear():
    with pytest.raises(ValueError, match=r"'warmup_days' and 'days' parameters of RunConfig must sum to at most 3650"):
        parse_config("[run]\ndays = 3600\nwarmup_days = 51\n")
    with pytest.raises(ValueError, match=r"'warmup_days' parameter of RunConfig must be an int in the range \[0, 365\]"):
        parse_config("[run]\nwarmup_days = -1\n")


# --- long-run series in a world where nobody quits ---------------------------------------------


def test_long_run_series_count_creators_exactly():
    cfg = _cfg(days=5, warmup=2, log_sample=0.0, feed=dict(new_creator_days=3),
               creators=dict(quit_b=-20.0, quit_slope=0.0))  # nobody quits
    res = simulate(cfg, progress=False, threads=1)
    w = build_world(cfg.world, 7, cfg.run.seed, cfg.feed.ticks_per_day)
    sim_days = np.arange(2, 7)
    joined = np.array([4 * d for d in sim_days])  # 4 a day from simulated day 1
    young = np.array([4 * min(d, 3) for d in sim_days])  # joined within the last 3 days (ages 0, 1, 2)
    np.testing.assert_array_equal(_v(res, "active_creators_by_day"), 60 + joined)
    np.testing.assert_array_equal(_v(res, "active_new_creators_by_day"), young)
    np.testing.assert_array_equal(_v(res, "active_graduated_creators_by_day"), joined - young)
    np.testing.assert_array_equal(_v(res, "creators_active_by_day"), 60 + joined)
    # realised posts: at most the world's potential posts of each day
    potential = np.array([np.count_nonzero(w.video_post_day == d) for d in sim_days])
    posts = np.array(_v(res, "posts_by_day"))
    assert posts.shape == (5,) and np.all(posts <= potential) and posts.sum() > 0.3 * potential.sum()
    assert _v(res, "posts_last_week") == pytest.approx(posts.mean())
    assert _v(res, "active_new_creators_last_week") == pytest.approx(young.mean())


@pytest.mark.parametrize("diff, want", [
    ([-1, -2, 0.5, -0.1, 0.2, 0.3], 4),  # catches up for good on day 4
    ([0.1, 0.2, 0.0], None),             # never below: nothing to pay back
    ([-1, 1, -0.5], None),               # ends below
    ([-1, 0.0, 0.0], 1),                 # level counts as caught up
    ([], None),
])
def test_payback_day(diff, want):
    assert payback_day(diff) == want


def test_a_warm_up_with_the_loop_measuring_is_accepted_and_its_window_may_reach_into_it():
    cfg = parse_config("[run]\ndays = 2\nwarmup_days = 3\n[loop]\nretrain_every = 1\nwindow_days = 5\n")
    assert cfg.loop.window_days == 5 and cfg.run.simulated_days == 5
    with pytest.raises(ValueError, match=r"'window_days' parameter of LoopConfig must be at most the run's simulated "
                                         r"days \(5: 3 warm-up \+ 2 measured\)"):
        parse_config("[run]\ndays = 2\nwarmup_days = 3\n[loop]\nretrain_every = 1\nwindow_days = 6\n")


# --- the report's long-run section ---------------------------------------------------------------


@pytest.mark.slow
def test_long_run_report_section_traces_its_numbers(tmp_path):
    from sim.cli import main
    from tests.test_report import check_report, parse_report

    out = tmp_path / "rep"
    args = ["compare", "--users", "300", "--days", "28", "--warmup-days", "2", "--seeds", "2", "--policies",
            "none,fixed_tilt", "--no-frontier", "--no-robustness", "--quiet", "--out", str(out)]
    assert main(args) == 0
    rep = check_report(out, n_arms=2, n_seeds=2)  # every number in every table traced to summary.csv
    assert "long-run" in rep.tables
    cells = [n for n in rep.nums if n["table"] == "long-run"]
    assert {n["data-metric"] for n in cells} >= {"active_new_creators_last_week", "total_value",
                                                  "newcomers_established_share"}
    assert {p.stem for p in (out / "figures").glob("*.png")} >= {"long_run", "payback", "survival"}
    html = (out / "report.html").read_text()
    assert "fixed_tilt: cumulative user value" in html and "2 warm-up days" in html
    s = __import__("json").loads((out / "summary.json").read_text())
    ps = s["paired_series"]["fixed_tilt"]["cumulative_value_by_day"]
    assert len(ps["diff"]) == 28
    # the paired series is the mean over seeds of the per-seed differences of the runs' own series
    runs = {r["seed"]: r["dir"] for r in s["runs"] if r["arm"] == "fixed_tilt"}
    base = {r["seed"]: r["dir"] for r in s["runs"] if r["arm"] == "none"}
    load = lambda d: __import__("json").loads((out / d / "metrics.json").read_text())  # noqa: E731
    diffs = [np.array(load(runs[k])["cumulative_value_by_day"]["value"])
             - np.array(load(base[k])["cumulative_value_by_day"]["value"]) for k in runs]
    np.testing.assert_allclose(ps["diff"], np.mean(diffs, axis=0), rtol=1e-9)


def test_simulate_says_whether_the_run_warmed_up(tmp_path, capsys):
    from sim.cli import main

    assert main(["simulate", "--users", "60", "--days", "1", "--out", str(tmp_path / "cold"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "no warm-up (the run starts cold), measured days 0 to 0" in out and "days -0" not in out
    assert main(["simulate", "--users", "60", "--days", "2", "--warmup-days", "1", "--out", str(tmp_path / "warm"),
                 "--quiet"]) == 0
    assert "warm-up 1 days under none (days -1 to -1), measured days 0 to 1" in capsys.readouterr().out


def test_the_long_run_scenario_is_what_its_header_and_the_readme_say():
    """examples/long_run.toml is the scenario its header states, and the one command its header and the
    README give to show issue 15's criterion (more active new creators than none, an interval excluding
    zero, over 10 paired seeds) is a `ranksim compare` the CLI accepts."""
    import shlex

    from ranker.policies import REGISTRY
    from sim.cli import build_parser
    from sim.config import load_config
    from sim.stats import LONG_RUN_DAYS

    repo = Path(__file__).resolve().parents[1]
    path = repo / "examples" / "long_run.toml"
    cfg = load_config(path)
    assert (cfg.world.n_users, cfg.world.n_creators, cfg.world.new_creators_per_day) == (10_000, 1_000, 20)
    assert (cfg.run.days, cfg.run.warmup_days) == (90, 21) and cfg.run.days >= LONG_RUN_DAYS
    cmds = [line.lstrip("# ").strip() for line in path.read_text().splitlines() if "ranksim compare" in line]
    assert len(cmds) == 1, cmds
    assert cmds[0] in (repo / "README.md").read_text()
    args = build_parser().parse_args(shlex.split(cmds[0])[1:])
    assert args.config == "examples/long_run.toml" and args.seeds == 10
    assert not args.frontier and not args.robustness
    policies = args.policies.split(",")
    assert policies and all(p in REGISTRY and p != "none" for p in policies)
