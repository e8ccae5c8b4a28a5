"""sim.calibrate: parameter recovery, the fit report, bad input, and the command line."""

import csv
import dataclasses
import math

import numpy as np
import pytest

from sim.calibrate import (FITTED_PARAMS, MOMENT_SPECS, FitParam, Target, fit, get_path, set_paths,
                           targets_from_log)
from sim.cli import main
from sim.config import Config, load_config
from sim.engine import simulate
from sim.moments import MOMENT_NAMES, log_from_events

SMALL = dict(users=600, days=4)
#: The world these tests simulate: the default one with its 600 creators and 12 new a day set explicitly, so
#: the 600-user worlds keep them (``--users`` alone would scale them to 30 and 1 a day, the default world's
#: proportions: too few posts for these fits).
BASE = Config().replace(world=Config().world.replace(n_creators=600, new_creators_per_day=12))


def _base_toml(tmp_path):
    p = tmp_path / "base.toml"
    p.write_text(BASE.to_toml())
    return str(p)

#: Parameters the recovery test fits, their true values, and how close the fit must come (logit units).
TRUTH = {
    "behavior.play_b": 0.6,
    "behavior.complete_b": -1.4,
    "behavior.complete_d": 1.2,
    "behavior.like_b": -4.6,
    "behavior.share_b": -5.2,
    "behavior.follow_b": -6.3,
}
RECOVERY_TOL = {"behavior.complete_d": 0.15}
RECOVERY_TOL_DEFAULT = 0.3


def _run(cfg, path, seed):
    simulate(cfg.with_overrides(seed=seed, **SMALL), out_dir=path, progress=False)
    return path / "events"


@pytest.fixture(scope="module")
def true_log(tmp_path_factory):
    """A log simulated from known parameters (seed 11; the fit simulates with seed 0)."""
    truth = set_paths(BASE, TRUTH)
    return log_from_events(_run(truth, tmp_path_factory.mktemp("truth") / "run", seed=11))


def test_fitted_params_name_real_config_fields_within_their_ranges():
    cfg = Config()
    from dataclasses import fields

    for p in FITTED_PARAMS:
        section, name = p.path.split(".")
        f = {x.name: x for x in fields(type(getattr(cfg, section)))}[name]
        lo, hi = f.metadata["lo"], f.metadata["hi"]
        assert lo <= p.lo < p.hi <= hi, p.path
        assert all(m in MOMENT_NAMES for m in p.moments), p.path
        assert p.lo <= get_path(cfg, p.path) <= p.hi, p.path
    assert set(MOMENT_SPECS) == set(MOMENT_NAMES)


@pytest.mark.slow
def test_calibration_recovers_known_parameters(true_log):
    targets = targets_from_log(true_log)
    params = [p for p in FITTED_PARAMS if p.path in TRUTH]
    res = fit(targets, BASE, params=params, seed=0, max_evals=80, **SMALL)
    assert set(res.params) == set(TRUTH)
    for path, true in TRUTH.items():
        start, got = res.params[path]
        tol = RECOVERY_TOL.get(path, RECOVERY_TOL_DEFAULT)
        assert abs(got - true) <= tol, f"{path}: true {true}, fitted {got:.3f} (start {start})"
        if abs(start - true) > tol:  # a start already within tolerance (follow_b: the default is 0.1 off) may stay
            assert abs(got - true) < abs(start - true), path  # the fit moved toward the truth
    # the report's errors shrink: every moment a fitted parameter moves that started out of tolerance is
    # closer after than before (one that started within may trade a little for the others), and every one
    # is within tolerance after
    rows = {r["moment"]: r for r in res.rows()}
    for name in res.reachable:
        r = rows[name]
        if abs(r["simulated_before"] - r["target"]) > r["tolerance"]:
            assert abs(r["simulated_after"] - r["target"]) < abs(r["simulated_before"] - r["target"]), name
        assert r["status"] == "within tolerance", (name, r)
    before = sum(abs(rows[n]["simulated_before"] - rows[n]["target"]) / rows[n]["tolerance"] for n in res.reachable)
    after = sum(abs(rows[n]["simulated_after"] - rows[n]["target"]) / rows[n]["tolerance"] for n in res.reachable)
    # measured once users respond (issue 15 point 2: satiation, drift, about 70 % returning a day): 3.69 after
    # against 12.08 before (0.31; the bound was 0.25 before), every moment within tolerance and every
    # parameter recovered
    assert after < 0.35 * before


#: The duration kink (``complete_d_short``: the completion slope is complete_d - complete_d_short below 30 s),
#: recovered on a catalogue centred on the kink (median 30 s: half the posts on each side; at the default
#: 81 s only one in six is below 30 s and a 600-user log cannot place the kink).
KINK_TRUTH = {"behavior.complete_b": -1.4, "behavior.complete_d": 1.2, "behavior.complete_d_short": 0.8}
#: Measured (ce87ac5 + this test): fitted -1.515, 1.065, 0.513 (errors 0.115, 0.135, 0.287). Seed noise, not a
#: bias: with the seeds swapped (log 0, fit 11) the errors are 0.03, 0.025 and 0.134, and at seed 0 the truth
#: itself scores a higher cost than the fitted point; the short buckets of a 600-user world move the kink by
#: about 0.3 from seed to seed.
KINK_TOL = {"behavior.complete_b": 0.3, "behavior.complete_d": 0.15, "behavior.complete_d_short": 0.35}


@pytest.mark.slow
def test_calibration_recovers_the_duration_kink(tmp_path):
    base = BASE.replace(world=BASE.world.replace(duration_median_s=30.0))
    log = log_from_events(_run(set_paths(base, KINK_TRUTH), tmp_path / "run", seed=11))
    params = [p for p in FITTED_PARAMS if p.path in KINK_TRUTH]
    res = fit(targets_from_log(log), base, params=params, seed=0, max_evals=40, **SMALL)
    assert set(res.params) == set(KINK_TRUTH)
    for path, true in KINK_TRUTH.items():
        start, got = res.params[path]
        assert abs(got - true) <= KINK_TOL[path], f"{path}: true {true}, fitted {got:.3f} (start {start})"
    # one slope (the start, complete_d_short = 0) cannot hold the short buckets; the fit finds the kink
    rows = {r["moment"]: r for r in res.rows()}
    assert abs(rows["completion_le10"]["simulated_before"] - rows["completion_le10"]["target"]) \
        > rows["completion_le10"]["tolerance"]
    for name in res.reachable:
        assert rows[name]["status"] == "within tolerance", (name, rows[name])
    assert res.params["behavior.complete_d_short"][1] > 0.3


def test_unfittable_parameters_and_unshown_moments_are_reported(true_log):
    targets = targets_from_log(true_log)
    targets["like_rate"] = Target("like_rate", math.nan, math.nan, 0, "x", "not shown by this log: test")
    # a follow rate four times the log's: far from what the default world makes, and no fitted parameter moves it
    targets["follow_rate"] = dataclasses.replace(targets["follow_rate"], value=4 * targets["follow_rate"].value)
    params = [FitParam("behavior.like_b", -12.0, 6.0, ("like_rate",)),
              FitParam("behavior.play_b", -8.0, 8.0, ("play3_rate",))]
    res = fit(targets, BASE, params=params, seed=0, max_evals=1, **SMALL)
    assert "behavior.like_b" in res.not_fitted and "like_rate" in res.not_fitted["behavior.like_b"]
    assert set(res.params) == {"behavior.play_b"}
    rows = {r["moment"]: r for r in res.rows()}
    assert rows["like_rate"]["status"] == "not fitted: not shown by this log: test"
    assert rows["like_rate"]["weight"] == 0
    # with one evaluation nothing moves; the follow rate is far from its target and no fitted parameter moves it
    assert rows["follow_rate"]["status"] == "OUT OF TOLERANCE (no fitted parameter moves it)"
    assert "follow_rate" in res.out_of_tolerance()


def test_too_few_rows_names_the_file_and_the_count(tmp_path):
    p = tmp_path / "tiny.tsv"
    header = "user_id\tvideo_id\tdate\ttime_ms\tplay_time_ms\tduration_ms\tis_comment\tis_forward\tis_follow\tis_like"
    rows = [f"{i % 7}\t{i}\t20220410\t{1649581149287 + i}\t5000\t20000\t0\t0\t0\t0" for i in range(250)]
    p.write_text(header + "\n" + "\n".join(rows) + "\n")
    rc = main(["calibrate", "--kuairand", str(p), "--out", str(tmp_path / "cal"), "--quiet"])
    assert rc == 2
    assert not (tmp_path / "cal" / "world.toml").exists()


def test_too_few_rows_message(tmp_path, capsys):
    p = tmp_path / "tiny.tsv"
    header = "user_id\tvideo_id\tdate\ttime_ms\tplay_time_ms\tduration_ms\tis_comment\tis_forward\tis_follow\tis_like"
    rows = [f"{i % 7}\t{i}\t20220410\t{1649581149287 + i}\t5000\t20000\t0\t0\t0\t0" for i in range(250)]
    p.write_text(header + "\n" + "\n".join(rows) + "\n")
    main(["calibrate", "--kuairand", str(p), "--out", str(tmp_path / "cal"), "--quiet"])
    err = capsys.readouterr().err
    assert err.strip() == (f"ranksim calibrate: error: {p}: 250 usable rows; calibration needs at least 1,000 "
                           "impressions to fit anything.")


def test_missing_columns_name_the_file_and_the_columns(tmp_path, capsys):
    p = tmp_path / "nocols.tsv"
    p.write_text("user_id\tvideo_id\tplay_time_ms\n1\t2\t3000\n")
    rc = main(["calibrate", "--kuairand", str(p), "--out", str(tmp_path / "cal"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2
    assert str(p) in err and "missing required column(s)" in err and "duration_ms" in err
    assert not (tmp_path / "cal").exists()


def test_poor_fit_exits_nonzero_and_writes_no_world(tmp_path, true_log, capsys):
    events = true_log.source
    out = tmp_path / "cal"
    (out).mkdir()
    (out / "world.toml").write_text("[run]\ndays = 3\n")  # a stale config must not survive a poor fit
    rc = main(["calibrate", "--events", events, "--out", str(out), "--max-evals", "1", "--quiet",
               "--users", str(SMALL["users"]), "--days", str(SMALL["days"]), "--config", _base_toml(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 1
    assert "out of tolerance" in err and "world.toml not written" in err
    assert not (out / "world.toml").exists()
    with open(out / "fit.csv") as f:
        rows = {r["moment"]: r for r in csv.DictReader(f)}
    assert list(rows) == list(MOMENT_NAMES)
    assert rows["play3_rate"]["status"] == "OUT OF TOLERANCE"
    assert float(rows["play3_rate"]["simulated_before"]) == float(rows["play3_rate"]["simulated_after"])
    assert (out / "fit.png").stat().st_size > 1000
    # --allow-poor-fit writes a config that loads, and says it is a poor fit
    rc = main(["calibrate", "--events", events, "--out", str(out), "--max-evals", "1", "--quiet",
               "--users", str(SMALL["users"]), "--days", str(SMALL["days"]), "--config", _base_toml(tmp_path),
               "--allow-poor-fit"])
    assert rc == 0
    header = [line for line in (out / "world.toml").read_text().splitlines() if line.startswith("# POOR FIT")]
    assert len(header) == 1 and "play3_rate" in header[0]
    assert load_config(out / "world.toml") == Config()


@pytest.fixture(scope="module")
def default_log(tmp_path_factory):
    """A log of the default world (seed 11)."""
    return log_from_events(_run(BASE, tmp_path_factory.mktemp("default") / "run", seed=11))


@pytest.mark.slow
def test_cli_fits_a_simulated_log_and_writes_a_config_simulate_accepts(tmp_path, default_log, capsys):
    out = tmp_path / "cal"
    rc = main(["calibrate", "--events", default_log.source, "--out", str(out), "--max-evals", "40", "--quiet",
               "--users", str(SMALL["users"]), "--days", str(SMALL["days"]), "--config", _base_toml(tmp_path)])
    printed = capsys.readouterr()
    with open(out / "fit.csv") as f:
        rows = {r["moment"]: r for r in csv.DictReader(f)}
    assert rows["share_open_rate"]["weight"] != "0"  # a simulated log shows share opens
    assert rc == 0, printed.err
    cfg = load_config(out / "world.toml")
    assert cfg.world.n_users == Config().world.n_users  # the full-size world, not the small one fitted
    for p in FITTED_PARAMS:  # every parameter fitted, and close to the default world's that made the log
        assert f"  {p.path}: " in printed.out
        if p.scale == "linear":
            assert abs(get_path(cfg, p.path) - get_path(Config(), p.path)) < 0.3, p.path
    rc = main(["simulate", "--config", str(out / "world.toml"), "--users", "200", "--days", "1", "--quiet",
               "--out", str(tmp_path / "sim")])
    assert rc == 0


def test_progress_off_a_terminal_is_one_plain_line_per_simulation(true_log, capsys):
    """Piped (CI logs, nohup), the fit reports each simulation on its own line, with the best cost so far,
    instead of staying silent for the whole fit or writing carriage-return frames."""
    params = [FitParam("behavior.play_b", -8.0, 8.0, ("play3_rate",))]
    fit(targets_from_log(true_log), BASE, params=params, seed=0, max_evals=1, progress=True, **SMALL)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("ranksim calibrate:")]
    assert lines and lines[0].startswith("ranksim calibrate: sim 1/1, cost "), err
    assert "\r" not in err
