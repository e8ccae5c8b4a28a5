"""Bad input to learning in the loop, through ``ranksim compare``: one clear error before any run.

(``ranksim simulate``'s are in tests/test_loop.py.) A window longer than the
run, a temperature of 0 or below, a starting model of another schema, a
loop grid without exploration or with a ranker that is not a learned model:
exit code 2, the message naming the field, and no output directory.
"""

from __future__ import annotations

import pytest

from sim.cli import main


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A model of every feature (per-user ones the loop does not compute) and one of the loop's features."""
    from ranker import learn
    from sim.config import Config
    from sim.engine import simulate

    d = tmp_path_factory.mktemp("models")
    cfg = Config().with_overrides(users=300, days=3, seed=2, log_sample=1.0)
    cfg = cfg.replace(world=cfg.world.replace(n_creators=30, new_creators_per_day=2))
    run = simulate(cfg, out_dir=d / "log", progress=False, threads=1)
    ts = learn.build_training_set(learn.read_event_log(run.out_dir), warmup_days=1, holdout_days=1)
    for name, feats in (("all", "all"), ("loop", "loop")):
        learn.save_model(learn.train(ts, learn.LearnConfig(n_trees=5, threads=1, holdout_days=1), features=feats),
                         d / name)
    return d


COMMON = ["compare", "--users", "200", "--days", "4", "--warmup-days", "0", "--seeds", "2", "--policies", "none",
          "--no-frontier", "--no-robustness", "--jobs", "1", "--quiet"]


@pytest.mark.parametrize("argv, message", [
    (["--retrain-every", "1", "--window-days", "9", "--rankers", "hand,learned:{m}/loop"],
     "'window_days' parameter of LoopConfig must be at most the run's simulated days (4: 0 warm-up + 4 measured)"),
    (["--explore-temperature", "0", "--rankers", "hand,learned:{m}/loop"],
     "'temperature' parameter of LoopConfig must be a finite float in the range (0.0, 100.0]"),
    (["--explore-temperature", "-0.5", "--loop-grid", "learned:{m}/loop"],
     "'temperature' parameter of LoopConfig must be a finite float in the range (0.0, 100.0]. Got -0.5"),
    (["--retrain-every", "1", "--rankers", "hand,learned:{m}/all"], "which the loop does not compute"),
    (["--loop-grid", "learned:{m}/loop"], "give the exploring arms' temperature (--explore-temperature T"),
    (["--loop-grid", "oracle", "--explore-temperature", "0.5"], "--loop-grid takes the learned-once model"),
    (["--loop-grid", "learned:{m}/nowhere", "--explore-temperature", "0.5"], "does not exist"),
    (["--loop-grid", "learned:{m}/loop", "--explore-temperature", "0.5", "--window-days", "5"],
     "'window_days' parameter of LoopConfig must be at most the run's simulated days (4: 0 warm-up + 4 measured)"),
])
def test_bad_loop_input_to_compare_is_one_clear_error_before_any_run(models, tmp_path, capsys, argv, message):
    out = tmp_path / "cmp"
    rc = main([*COMMON, "--out", str(out), *[a.replace("{m}", str(models)) for a in argv]])
    err = capsys.readouterr().err
    assert rc == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1, err  # one line, no traceback
    assert not out.exists()
