"""Config bounds against a table written out by hand, not read from the declarations they check.

``tests/test_config.py`` generates its out-of-range probes from each field's
declaration, so a loosened declaration loosens its own test. Here every
numeric field's allowed range is spelled out; values just outside it must be
refused with a message naming that range. Changing a bound is a deliberate
edit of this table. A new numeric field fails until its range is added.
"""

from __future__ import annotations

import re
from dataclasses import fields

import pytest

from sim.config import parse_config
from tests.test_config import SECTIONS

#: (TOML table, field) -> "kind [lo, hi]" ("(" or ")" for an open end).
BOUNDS = {
    # [behavior]
    ("behavior", "play_b"): "float [-20.0, 20.0]",
    ("behavior", "play_h"): "float [-20.0, 20.0]",
    ("behavior", "play_q"): "float [-20.0, 20.0]",
    ("behavior", "play_a"): "float [-20.0, 20.0]",
    ("behavior", "play_r"): "float [-20.0, 20.0]",
    ("behavior", "ai_label_play"): "float [-20.0, 20.0]",
    ("behavior", "complete_b"): "float [-20.0, 20.0]",
    ("behavior", "complete_q"): "float [-20.0, 20.0]",
    ("behavior", "complete_a"): "float [-20.0, 20.0]",
    ("behavior", "complete_r"): "float [-20.0, 20.0]",
    ("behavior", "complete_d"): "float [0.0, 20.0]",
    ("behavior", "complete_d_short"): "float [-20.0, 20.0]",
    ("behavior", "loop_b"): "float [-20.0, 20.0]",
    ("behavior", "loop_d"): "float [-20.0, 20.0]",
    ("behavior", "loop_median_s"): "float [0.0, 3600.0]",
    ("behavior", "loop_spread"): "float [0.0, 5.0]",
    ("behavior", "loop_cap"): "float [0.0, 1000.0]",
    ("behavior", "like_b"): "float [-20.0, 20.0]",
    ("behavior", "like_q"): "float [-20.0, 20.0]",
    ("behavior", "like_a"): "float [-20.0, 20.0]",
    ("behavior", "like_c"): "float [-20.0, 20.0]",
    ("behavior", "comment_b"): "float [-20.0, 20.0]",
    ("behavior", "comment_q"): "float [-20.0, 20.0]",
    ("behavior", "comment_a"): "float [-20.0, 20.0]",
    ("behavior", "share_b"): "float [-20.0, 20.0]",
    ("behavior", "share_s"): "float [-20.0, 20.0]",
    ("behavior", "share_q"): "float [-20.0, 20.0]",
    ("behavior", "share_max_recipients"): "int [1, 64]",
    ("behavior", "open_b"): "float [-20.0, 20.0]",
    ("behavior", "open_q"): "float [-20.0, 20.0]",
    ("behavior", "open_a"): "float [-20.0, 20.0]",
    ("behavior", "follow_b"): "float [-20.0, 20.0]",
    ("behavior", "follow_q"): "float [-20.0, 20.0]",
    ("behavior", "follow_a"): "float [-20.0, 20.0]",
    ("behavior", "follow_c"): "float [-20.0, 20.0]",
    ("behavior", "value_q"): "float [-20.0, 20.0]",
    ("behavior", "value_a"): "float [-20.0, 20.0]",
    ("behavior", "value_b"): "float [-20.0, 20.0]",
    ("behavior", "value_d"): "float [0.0, 1.0]",
    ("behavior", "value_loop"): "float [0.0, 1.0]",
    ("behavior", "affinity_base"): "float [0.0, 1.0]",
    ("behavior", "affinity_floor"): "float (0.0, 1.0]",
    ("behavior", "rr_rate"): "float (0.0, 1.0]",
    ("behavior", "rr_on"): "float [0.0, 1.0]",
    ("behavior", "rr_off"): "float [0.0, 1.0]",
    ("behavior", "rr_decay"): "float [0.0, 1.0]",
    ("behavior", "return_b"): "float [-20.0, 20.0]",
    ("behavior", "return_v"): "float [0.0, 20.0]",
    ("behavior", "satisfaction_rate"): "float (0.0, 1.0]",
    ("behavior", "satisfaction_ref"): "float [-5.0, 5.0]",
    ("behavior", "novelty_weight"): "float [0.0, 5.0]",
    ("behavior", "session_v"): "float [0.0, 5.0]",
    ("behavior", "satiation"): "float [0.0, 1.0]",
    ("behavior", "drift_rate"): "float [0.0, 0.5]",
    ("behavior", "drift_anchor"): "float [0.0, 1.0]",
    # [feed]
    ("feed", "ticks_per_day"): "int [1, 96]",
    ("feed", "slate_size"): "int [1, 100]",
    ("feed", "n_follow_candidates"): "int [0, 1000]",
    ("feed", "n_interest_candidates"): "int [0, 1000]",
    ("feed", "n_share_candidates"): "int [0, 64]",
    ("feed", "n_fresh_candidates"): "int [0, 1000]",
    ("feed", "candidate_window_days"): "int [1, 365]",
    ("feed", "fresh_window_days"): "int [1, 30]",
    ("feed", "seen_bits_per_item"): "float [2.0, 64.0]",
    ("feed", "new_creator_days"): "int [1, 365]",
    ("feed", "breakout_days"): "int [1, 60]",
    ("feed", "breakout_percentile"): "float [50.0, 100.0)",
    ("feed", "first_impressions_target"): "int [1, 1000000000]",
    # [loop]
    ("loop", "temperature"): "float (0.0, 100.0]",
    ("loop", "retrain_every"): "int [0, 3650]",
    ("loop", "window_days"): "int [1, 3650]",
    ("loop", "train_sample"): "float (0.0, 1.0]",
    ("loop", "n_trees"): "int [1, 10000]",
    ("loop", "ipw_max_weight"): "float [1.0, 1000000.0]",
    ("loop", "train_threads"): "int [1, 1024]",
    # [creators]
    ("creators", "motivation_rate"): "float (0.0, 1.0]",
    ("creators", "baseline_rate"): "float (0.0, 1.0]",
    ("creators", "own_weight"): "float [0.0, 1.0]",
    ("creators", "reach_smoothing"): "float (0.0, 10.0]",
    ("creators", "effort_slope"): "float [0.0, 20.0]",
    ("creators", "quit_b"): "float [-20.0, 20.0]",
    ("creators", "quit_slope"): "float [0.0, 20.0]",
    # [run]
    ("run", "seed"): "int [0, 9223372036854775807]",
    ("run", "days"): "int [1, 3650]",
    ("run", "warmup_days"): "int [0, 365]",
    ("run", "log_sample"): "float [0.0, 1.0]",
    # [weights]
    ("weights", "play3"): "float [-100.0, 100.0]",
    ("weights", "completion"): "float [-100.0, 100.0]",
    ("weights", "avg_play"): "float [-100.0, 100.0]",
    ("weights", "like"): "float [-100.0, 100.0]",
    ("weights", "comment"): "float [-100.0, 100.0]",
    ("weights", "share_ft"): "float [-100.0, 100.0]",
    ("weights", "rr_reach"): "float [-100.0, 100.0]",
    ("weights", "affinity"): "float [-100.0, 100.0]",
    ("weights", "regular_reader"): "float [-100.0, 100.0]",
    # [world]
    ("world", "n_users"): "int [1, 50000000]",
    ("world", "n_topics"): "int [2, 512]",
    ("world", "interest_concentration"): "float (0.0, 100.0]",
    ("world", "activity_mean"): "float (0.0, 500.0]",
    ("world", "activity_sigma"): "float [0.0, 4.0]",
    ("world", "demographic_activity"): "float [0.0, 1.0]",
    ("world", "demographic_interest"): "float [0.0, 10.0]",
    ("world", "friends_mean"): "float [0.0, 2000.0]",
    ("world", "friends_sigma"): "float [0.0, 4.0]",
    ("world", "friends_max"): "int [1, 1000000]",
    ("world", "n_creators"): "int [1, 10000000]",
    ("world", "new_creators_per_day"): "int [0, 1000000]",
    ("world", "pro_share"): "float [0.0, 1.0]",
    ("world", "pro_quality_shift"): "float [-5.0, 5.0]",
    ("world", "ai_share"): "float [0.0, 1.0]",
    ("world", "posts_per_day_mean"): "float (0.0, 50.0]",
    ("world", "posts_per_day_sigma"): "float [0.0, 4.0]",
    ("world", "post_potential"): "float [1.0, 10.0]",
    ("world", "quality_sd"): "float [0.0, 10.0]",
    ("world", "video_quality_sd"): "float [0.0, 10.0]",
    ("world", "hook_sd"): "float [0.0, 10.0]",
    ("world", "shareability_sd"): "float [0.0, 10.0]",
    ("world", "clickbait_share"): "float [0.0, 1.0]",
    ("world", "sharebait_share"): "float [0.0, 1.0]",
    ("world", "bait_strength"): "float [0.0, 10.0]",
    ("world", "bait_quality_penalty"): "float [0.0, 10.0]",
    ("world", "topic_loyalty"): "float [0.0, 1.0]",
    ("world", "duration_median_s"): "float [3.0, 3600.0]",
    ("world", "duration_sigma"): "float [0.0, 4.0]",
    ("world", "follows_mean"): "float [0.0, 10000.0]",
    ("world", "follow_capacity"): "int [1, 100000]",
    ("world", "follow_quality_weight"): "float [0.0, 10.0]",
    ("world", "follow_pro_boost"): "float [0.0, 10.0]",
    ("world", "follow_luck_sigma"): "float [0.0, 4.0]",
    ("world", "backlog_days"): "int [0, 365]",
    # [live]
    ("live", "creator_share"): "float [0.0, 1.0]",
    ("live", "sessions_per_day"): "float [0.0, 1.0]",
    ("live", "start_hour"): "float [0.0, 24.0)",
    ("live", "start_spread_hours"): "float [0.0, 12.0]",
    ("live", "duration_hours"): "float (0.0, 24.0]",
    ("live", "reserve_rate"): "float [0.0, 1.0]",
    ("live", "n_follow_live"): "int [0, 64]",
    ("live", "n_live_candidates"): "int [0, 64]",
    ("live", "interaction_weight"): "float [0.0, 100.0]",
    ("live", "enter_weight"): "float [0.0, 100.0]",
    ("live", "score_offset"): "float [-100.0, 100.0]",
    ("live", "reservation_bonus"): "float [0.0, 100.0]",
    ("live", "enter_b"): "float [-30.0, 30.0]",
    ("live", "enter_q"): "float [-10.0, 10.0]",
    ("live", "enter_a"): "float [-10.0, 10.0]",
    ("live", "enter_follow"): "float [-10.0, 10.0]",
    ("live", "enter_reserved"): "float [-10.0, 10.0]",
    ("live", "stay_minutes"): "float (0.0, 600.0]",
    ("live", "stay_q"): "float [-5.0, 5.0]",
    ("live", "like_b"): "float [-30.0, 30.0]",
    ("live", "comment_b"): "float [-30.0, 30.0]",
    ("live", "gift_b"): "float [-30.0, 30.0]",
    ("live", "gift_value"): "float [0.0, 1000000.0]",
    ("live", "share_b"): "float [-30.0, 30.0]",
    ("live", "follow_b"): "float [-30.0, 30.0]",
    ("live", "interact_q"): "float [-10.0, 10.0]",
    ("live", "interact_stay"): "float [-10.0, 10.0]",
    ("live", "value_per_minute"): "float [0.0, 10.0]",
    # [sellers]
    ("sellers", "share"): "float [0.0, 1.0]",
    ("sellers", "price_median"): "float (0.0, 1000000.0]",
    ("sellers", "price_spread"): "float [0.0, 5.0]",
    ("sellers", "product_quality_creator"): "float [0.0, 1.0]",
    ("sellers", "buy_b"): "float [-30.0, 10.0]",
    ("sellers", "buy_q"): "float [-10.0, 10.0]",
    ("sellers", "buy_complete"): "float [-10.0, 10.0]",
    ("sellers", "buy_live"): "float [-10.0, 10.0]",
    ("sellers", "return_b"): "float [-30.0, 30.0]",
    ("sellers", "return_q"): "float [0.0, 10.0]",
    ("sellers", "complaint_b"): "float [-30.0, 30.0]",
    ("sellers", "complaint_q"): "float [0.0, 10.0]",
    ("sellers", "rating_q"): "float [0.0, 5.0]",
    ("sellers", "rating_noise"): "float [0.0, 5.0]",
    ("sellers", "window_days"): "int [1, 365]",
    ("sellers", "gmv_weight"): "float [0.0, 1.0]",
    ("sellers", "selling_weight"): "float [0.0, 1.0]",
    ("sellers", "followers_weight"): "float [0.0, 1.0]",
    ("sellers", "prior_orders"): "float [0.0, 1000000.0]",
    ("sellers", "assessment_boost"): "float [0.0, 10.0]",
}

_RANGE = re.compile(r"^(int|float) ([\[(])(\S+), (\S+)([\])])$")


def _parse(spec):
    kind, lb, lo, hi, rb = _RANGE.match(spec).groups()
    num = int if kind == "int" else float
    lo = None if lo == "-inf" else num(lo)
    hi = None if hi == "inf" else num(hi)
    return kind, lo, hi, lb == "(", rb == ")"


def _outside(kind, lo, hi, lo_open, hi_open):
    vals = []
    if kind == "int":
        vals += [lo - 1] if lo is not None else []
        vals += [hi + 1] if hi is not None else []
    else:
        if lo is not None:
            vals.append(lo if lo_open else lo - max(1e-6, abs(lo) * 1e-6))
        if hi is not None:
            vals.append(hi if hi_open else hi + max(1e-6, abs(hi) * 1e-6))
    return vals


def test_every_numeric_field_has_a_written_bound():
    declared = {(t, f.name) for t, cls in SECTIONS.items() for f in fields(cls)
                if f.metadata.get("kind") in ("int", "float")}
    assert declared - set(BOUNDS) == set(), "add these fields' ranges to BOUNDS"
    assert set(BOUNDS) - declared == set(), "these fields are gone: remove them from BOUNDS"


@pytest.mark.parametrize("table, name", sorted(BOUNDS))
def test_values_just_outside_the_written_bound_are_refused(table, name):
    kind, lo, hi, lo_open, hi_open = _parse(BOUNDS[table, name])
    shown = BOUNDS[table, name].split(" ", 1)[1]
    article = "an int" if kind == "int" else "a finite float"
    owner = SECTIONS[table].__name__
    probes = _outside(kind, lo, hi, lo_open, hi_open)
    assert probes or kind == "int", "a float field without any bound"
    for v in probes:
        with pytest.raises(ValueError) as info:
            parse_config(f"[{table}]\n{name} = {v!r}")
        assert str(info.value) == (f"The {name!r} parameter of {owner} must be {article} in the range {shown}. "
                                   f"Got {v!r} instead.")
