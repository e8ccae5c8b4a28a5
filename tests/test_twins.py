"""Every ``@njit`` function of ``ranker/`` and ``sim/`` is covered by a named twin test, or allowed here.

The kernels are found by reading the sources (any function decorated with
``njit``), so the list is the same with ``NUMBA_DISABLE_JIT=1``. Each must be
a key of :data:`TWINS` (the test comparing it, or the kernel that inlines it,
with a slow twin; the test's source must name that twin) or of
:data:`ALLOWED` (with the reason it has no twin). Stale entries fail too.

``python -m tests.test_twins`` prints the twin tests' node ids: the pure-Python
lane of ``.ci/run`` runs them under ``NUMBA_DISABLE_JIT=1``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_TOPK = ("tests/test_score.py", "test_topk_into_matches_reference", "topk")
_QUOTA = ("tests/test_score.py", "test_topk_quota_into_matches_reference", "topk_quota")
_SCORE = ("tests/test_score.py", "test_score_requests_matches_reference", "score_requests")
_TREES = ("tests/test_tree_eval.py", "test_matches_booster_and_reference", "predict_raw")
_RUNNING = ("tests/test_learn.py", "test_running_sums_and_max_match_reference", "running_sums")
_KEY = ("tests/test_rng.py", "test_key_and_uniform_match_reference", "ref.key")
_BETA = ("tests/test_rng.py", "test_beta_draws_match_reference_and_use_their_own_substreams", "log_beta")
_IMPRESSION = ("tests/test_behavior.py", "test_scalar_kernel_matches_reference_anywhere", "impression_ref")
_BATCH = ("tests/test_behavior.py", "test_kernel_matches_reference", "run_ref")  # run_ref: the twin simulate_ref
_SERVE = ("tests/test_engine_kernels.py", "test_serve_tick_matches_twin", "serve_tick")

#: kernel (module.function) -> (test file, test function, twin the test's source names).
#: Private helpers inlined into a kernel point at that kernel's twin test.
TWINS = {
    "sim.loop._train_mask": ("tests/test_loop.py", "test_train_mask_matches_reference", "ref.uniform"),
    "ranker._explore_kernels.plackett_luce_pos": ("tests/test_explore.py", "test_kernel_matches_reference_twin",
                                                  "plackett_luce"),
    "ranker._policy_kernels._thompson_log_draws": ("tests/test_policies.py", "test_thompson_kernel_matches_reference",
                                                   "thompson_lift"),
    "ranker._score_kernels._before": _TOPK,
    "ranker._score_kernels._insert": _TOPK,
    "ranker._score_kernels._topk_pos": _SCORE,
    "ranker._score_kernels._quota_fixup": _QUOTA,
    "ranker._score_kernels._select_pos_in": _TOPK,
    "ranker._score_kernels._select_pos": _TOPK,
    "ranker._score_kernels.topk_into": _TOPK,
    "ranker._score_kernels.topk_quota_into": _QUOTA,
    "ranker._score_kernels.topk_quota_pos": _SERVE,  # serve_tick's per-request choice
    "ranker._score_kernels._sort8": _SCORE,
    "ranker._score_kernels._gmax": _SCORE,
    "ranker._score_kernels._group_value": _SCORE,
    "ranker._score_kernels._groups_bound8": _SCORE,
    "ranker._score_kernels._bound8": _TOPK,
    "ranker._score_kernels._rank_select": _SCORE,
    "ranker._score_kernels._score_requests": _SCORE,
    # the plain loops standing in for the vector IR: what _score_requests runs without the JIT
    # (the pure-Python lane); test_score also holds each equal to its IR and to a direct count
    "ranker._vector_ir.rank16_loop": _SCORE,
    "ranker._vector_ir.mask_ge8_loop": _SCORE,
    "ranker._tree_kernels.prepare": _TREES,
    "ranker._tree_kernels._step": _TREES,
    "ranker._tree_kernels.predict_raw": _TREES,
    # against the batch kernel, itself checked against the slow tree walk
    "ranker._tree_kernels.predict_one": ("tests/test_tree_eval.py", "test_predict_one_matches_the_batch_kernel",
                                         "ens.predict"),
    "ranker._tree_kernels.running_sums": _RUNNING,
    "ranker._tree_kernels.running_max": _RUNNING,
    "ranker.rng.mix64": _KEY,
    "ranker.rng.key": _KEY,
    "ranker.rng.uniform": _KEY,
    "ranker.rng.key_prefix": ("tests/test_rng.py", "test_key_from_prefix_equals_key", "ref.key"),
    "ranker.rng.key_from": ("tests/test_rng.py", "test_key_from_prefix_equals_key", "ref.key"),
    "ranker.rng.normal": _BETA,  # log_gamma's Marsaglia-Tsang draws
    "ranker.rng.subkey": _BETA,
    "ranker.rng.log_gamma": _BETA,
    "ranker.rng.log_beta": _BETA,
    "ranker.rng.beta": _BETA,
    "ranker.rng.poisson": ("tests/test_engine_kernels.py", "test_draw_arrivals_matches_twin", "draw_arrivals"),
    "ranker.signals._signals_kernel": ("tests/test_signals.py", "test_compute_signals_matches_slow_twin", "signals"),
    "ranker.signals.affinity_row_into": ("tests/test_signals.py", "test_user_affinity_matches_slow_twin", "affinity"),
    "ranker.signals._affinity_kernel": ("tests/test_signals.py", "test_user_affinity_matches_slow_twin", "affinity"),
    "sim._engine_kernels._probe_all": _SERVE,  # serve_tick's late probes (Plackett-Luce slates)
    "sim._serve_record.stamp_unprobed": _SERVE,
    "sim._serve_record.stamp_seen": _SERVE,
    "sim._engine_kernels.follow_find": ("tests/test_engine_kernels.py", "test_follow_find_matches_twin", "follow_find"),
    "sim._engine_kernels.follow_insert": ("tests/test_engine_kernels.py",
                                          "test_follow_insert_matches_twin_sorted_and_capped", "follow_insert"),
    "sim._engine_kernels.follow_counts": ("tests/test_engine_kernels.py",
                                          "test_follow_counts_match_twin_and_stay_consistent_across_a_tick",
                                          "follow_counts"),
    "sim._engine_kernels.draw_arrivals": ("tests/test_engine_kernels.py", "test_draw_arrivals_matches_twin",
                                          "draw_arrivals"),
    "sim._engine_kernels.draw_returns": ("tests/test_engine_kernels.py", "test_draw_returns_matches_twin",
                                         "draw_returns"),
    "sim._engine_kernels.serve_tick": _SERVE,
    "sim._serve_record.pack_video": _SERVE,  # the packed per-video record, inlined into serve_tick
    "sim.behavior.impression_ld": _IMPRESSION,  # impression's body (the feed passes ln(d / 30) kept per video)
    "sim.behavior.log_d30": _IMPRESSION,
    "sim._serve_record.stamp_find": _SERVE,  # serve_tick's per-request stamp table (also tested against a dict)
    "sim._serve_record.stamp_put": _SERVE,
    "sim._serve_record.aligned_rows": _SERVE,  # the per-video record's storage (also tested for alignment)
    "sim.seen.seen_prefetch": _SERVE,  # a hint serve_tick gives before its lookups
    "sim.seen.seen_prefetch_user": _SERVE,  # a hint: the whole filter of the user being served
    "sim._serve_record.prefetch_row": _SERVE,  # hints for the users served next (results never depend on them)
    "sim._serve_record.prefetch_users_ahead": _SERVE,
    "sim._serve_record.prefetch_follow_scan": _SERVE,  # hints for a request's follow source
    "sim._serve_record.push_candidate": _SERVE,  # a candidate stamped and appended (inlined into serve_tick)
    "sim._serve_record.draw_interest_topics": _SERVE,  # the interest picks' draws and topics, inlined into serve_tick
    "sim._serve_record.packed_creator": _SERVE,
    "sim._serve_record.packed_topic": _SERVE,
    "sim._serve_record.packed_is_new": _SERVE,
    "sim.live.draw_schedule": ("tests/test_live.py", "test_draw_schedule_matches_twin", "ref.draw_schedule"),
    "sim.live.reserved": ("tests/test_live.py", "test_reserved_matches_twin_and_its_rates", "ref.reserved"),
    "sim.live.live_impression": ("tests/test_live.py", "test_live_impression_matches_twin", "ref.live_impression"),
    "sim.live.gather_live": _SERVE,  # serve_tick's live candidates (the twin: reference_live.live_candidates)
    "sim._live_kernels.apply_live": ("tests/test_live.py", "test_apply_live_matches_twin", "ref.apply_live"),
    "sim.sellers.draw_sellers": ("tests/test_sellers.py", "test_draw_sellers_matches_twin", "ref.draw_sellers"),
    "sim.sellers.commerce_tick": ("tests/test_sellers.py", "test_commerce_tick_matches_twin", "ref.commerce_tick"),
    "sim.sellers._logit_draw": ("tests/test_sellers.py", "test_commerce_tick_matches_twin", "ref.commerce_tick"),
    "sim.sellers.buyer_followers": ("tests/test_sellers.py", "test_buyer_followers_matches_twin",
                                    "ref.buyer_followers"),
    "sim._engine_kernels.apply_tick": ("tests/test_engine_kernels.py", "test_apply_tick_matches_twin", "apply_tick"),
    # the seen filter: its bits against the twin's (block, bit) sets, and serve_tick against its twin
    "sim.seen.seen_add": ("tests/test_seen.py", "test_twin_sets_the_same_bits", "seen_positions"),
    "sim.seen.seen_has": ("tests/test_seen.py", "test_twin_sets_the_same_bits", "seen_positions"),
    "sim.seen._slot": ("tests/test_seen.py", "test_twin_sets_the_same_bits", "seen_positions"),
    "sim.seen._bit": ("tests/test_seen.py", "test_twin_sets_the_same_bits", "seen_positions"),
    "sim.behavior._sigmoid": _IMPRESSION,
    "sim.behavior._bernoulli": _IMPRESSION,
    "sim.behavior._log_affinity": _IMPRESSION,
    "sim.behavior._affinity": _IMPRESSION,
    "sim.behavior._loop_logit": _IMPRESSION,
    "sim.behavior._loop_seconds": _IMPRESSION,
    "sim.behavior._value_seconds": _IMPRESSION,
    "sim.behavior._play_logit": _IMPRESSION,
    "sim.behavior._complete_logit": _IMPRESSION,
    "sim.behavior._like_logit": _IMPRESSION,
    "sim.behavior._comment_logit": _IMPRESSION,
    "sim.behavior._share_logit": _IMPRESSION,
    "sim.behavior._follow_logit": _IMPRESSION,
    "sim.behavior._value_factor": _IMPRESSION,
    "sim.behavior._watch_exponent": _IMPRESSION,
    "sim.behavior._partial_watch": _IMPRESSION,
    "sim.behavior._open_logit": ("tests/test_behavior.py", "test_recipient_opens_matches_reference",
                                 "recipient_opens_ref"),
    "sim.behavior.impression": _IMPRESSION,
    "sim.behavior.recipient_opens": ("tests/test_behavior.py", "test_recipient_opens_matches_reference",
                                     "recipient_opens_ref"),
    "sim.behavior_batch._exp": ("tests/test_behavior.py", "test_fast_exp_and_log_match_libm", "math.exp"),
    "sim.behavior_batch._log": ("tests/test_behavior.py", "test_fast_exp_and_log_match_libm", "math.log"),
    "sim.behavior_batch._bernoulli_lanes": _BATCH,
    "sim.behavior_batch._log_affinity_lanes": _BATCH,
    "sim.behavior_batch._partial_watch_lanes": _BATCH,
    "sim.behavior_batch._impression_lanes": _BATCH,
    "sim.behavior_batch._simulate_into": _BATCH,
    "sim.creators.effort_probability": ("tests/test_creators.py", "test_realise_posts_matches_twin", "realise_posts"),
    "sim.creators.realise_posts": ("tests/test_creators.py", "test_realise_posts_matches_twin", "realise_posts"),
    "sim.creators._creator_day": ("tests/test_creators.py", "test_end_of_day_matches_twin", "end_of_day"),
    "sim.users.end_of_day": ("tests/test_users.py", "test_end_of_day_matches_twin", "end_of_day"),
    "sim.users._drifted": ("tests/test_users.py", "test_end_of_day_matches_twin", "end_of_day"),
    "sim.engine._place_follows": ("tests/test_engine_wiring.py", "test_place_follows_matches_twin", "place_follows"),
    "sim.engine._log_mask": ("tests/test_wiring.py", "test_log_sampling_draws_afresh_each_day", "ref.uniform"),
    "sim.metrics._tick_kernel": ("tests/test_engine_kernels.py", "test_metrics_tick_kernel_matches_twin",
                                 "tick_sums"),
    "sim.metrics._user_tick_kernel": ("tests/test_engine_kernels.py", "test_metrics_user_tick_kernel_matches_twin",
                                      "user_tick_sums"),
    "sim.world._scatter_pairs": ("tests/test_world.py", "test_friend_csr_matches_reference", "friend_csr"),
    "sim.world._sort_unique_rows": ("tests/test_world.py", "test_sort_unique_rows_and_compact_match_reference",
                                    "sort_unique_rows"),
    "sim.world._compact_rows": ("tests/test_world.py", "test_sort_unique_rows_and_compact_match_reference",
                                "compact_rows"),
    "sim.world._follow_kernel": ("tests/test_world.py", "test_follow_kernel_matches_reference", "follow_rows"),
}

#: kernel -> why it has no slow twin.
ALLOWED = {
    # Input checks: they only find the first bad value; their error messages are pinned by the
    # validation tests (tests/test_score.py, tests/test_behavior.py), which a wrong check fails.
    "ranker._score_kernels._candidate_stats": "input validation (range and finiteness of candidates)",
    "sim.behavior_batch._count_bad_rows": "input validation (rows with non-finite inputs)",
    # Public scalar probabilities for notebooks and docs: each is the sigmoid of a logit helper
    # that the impression kernel uses (twin-tested above); tests/test_behavior.py checks they are
    # probabilities and move the documented way.
    "sim.behavior.play_probability": "sigmoid of _play_logit",
    "sim.behavior.completion_probability": "sigmoid of _complete_logit",
    "sim.behavior.loop_probability": "sigmoid of _loop_logit",
    "sim.behavior.like_probability": "sigmoid of _like_logit",
    "sim.behavior.comment_probability": "sigmoid of _comment_logit",
    "sim.behavior.share_probability": "sigmoid of _share_logit",
    "sim.behavior.follow_probability": "sigmoid of _follow_logit",
    "sim.behavior.open_probability": "sigmoid of _open_logit",
    # a cache hint with no effect on any value (what NUMBA_DISABLE_JIT=1 runs in its place)
    "ranker._vector_ir.prefetch_none": "a no-op: the prefetch hint without the JIT",
}


def njit_functions() -> set[str]:
    """``module.function`` of every function decorated with ``njit`` (or ``x.njit``) in ranker/ and sim/."""
    found = set()
    for pkg in ("ranker", "sim"):
        for f in sorted((REPO / pkg).rglob("*.py")):
            mod = ".".join(f.relative_to(REPO).with_suffix("").parts)
            for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.FunctionDef):
                    continue
                for d in node.decorator_list:
                    fn = d.func if isinstance(d, ast.Call) else d
                    if (isinstance(fn, ast.Name) and fn.id == "njit") or (isinstance(fn, ast.Attribute)
                                                                          and fn.attr == "njit"):
                        found.add(f"{mod}.{node.name}")
    return found


def twin_node_ids() -> list[str]:
    """pytest node ids (file::function) of every twin test, sorted, without repeats."""
    return sorted({f"{file}::{test}" for file, test, _ in TWINS.values()})


def test_the_source_scan_finds_the_kernels():
    found = njit_functions()
    assert len(found) > 60
    assert {"sim._engine_kernels.serve_tick", "ranker.rng.key", "sim.metrics._tick_kernel"} <= found


def test_every_njit_function_has_a_named_twin_test_or_an_allowed_reason():
    found = njit_functions()
    missing = sorted(found - set(TWINS) - set(ALLOWED))
    assert not missing, f"@njit functions without a twin test in TWINS or a reason in ALLOWED: {missing}"
    stale = sorted((set(TWINS) | set(ALLOWED)) - found)
    assert not stale, f"entries for functions that are no longer @njit: {stale}"
    assert not set(TWINS) & set(ALLOWED)
    assert all(isinstance(v, str) and v for v in ALLOWED.values())


def test_each_named_twin_test_exists_and_names_its_twin():
    for kernel, (file, test, twin) in sorted(TWINS.items()):
        mod = importlib.import_module(file[:-3].replace("/", "."))
        fn = getattr(mod, test, None)
        assert callable(fn), f"{kernel}: {file}::{test} does not exist"
        src = inspect.getsource(fn)
        assert twin in src, f"{kernel}: {file}::{test} does not mention its twin {twin!r}"


def test_the_kernels_modules_import_and_hold_them():
    for name in sorted(njit_functions()):
        mod, _, fn = name.rpartition(".")
        assert hasattr(importlib.import_module(mod), fn), name


if __name__ == "__main__":
    print("\n".join(twin_node_ids()))
