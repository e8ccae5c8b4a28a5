"""Live sessions: who goes live when, how a viewer behaves in a live room, and the rooms' score.

A share of creators stream (``[live] creator_share``). Each day such a creator
goes live with probability ``sessions_per_day``, starting around
``start_hour`` (normal, ``start_spread_hours``) for ``duration_hours`` times a
uniform factor in [0.5, 1.5] (:func:`draw_sessions`). While it runs, a session
is a candidate of its own kind in the feed loop: the creator's followers meet
it first (a follower may have reserved it: :func:`reserved`), then interest
retrieval offers running rooms of the viewer's topics. Per live impression
:func:`live_impression` draws entering (a 3-second stay), minutes stayed,
likes, comments, gifts (value), shares to friends (opened or not) and a
follow; purchases in a seller's room come from :mod:`sim.sellers`.

The ranker scores a room from its logged counters (:func:`session_scores`):
``score_offset + enter_weight * enter_rate + interaction_weight * interactions per entry``,
the rates smoothed with ``PRIOR_STRENGTH`` pseudo-impressions; ``interaction_weight``
is the platform's "live interaction weight".

Off by default (``enabled = false``): the feed loop then offers no live
candidate, draws nothing from here, and a run is byte for byte the run without it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ranker._numba import JIT, njit
from ranker.params import Section, param
from ranker.rng import STREAM_LIVE, key, normal, uniform

HOURS_PER_DAY = 24.0
#: Pseudo-impressions (and pseudo-entries) smoothing a room's logged rates toward the priors below.
PRIOR_STRENGTH = 5.0
PRIOR_ENTER_RATE = 0.3
PRIOR_INTERACTIONS = 0.3
#: The longest session is this times duration_hours (the uniform factor's top).
MAX_DURATION_FACTOR = 1.5


@dataclass(frozen=True)
class LiveConfig(Section):
    """Live sessions (the ``[live]`` section; off by default)."""

    enabled: bool = param(False, "bool", doc="some creators go live; live rooms are candidates in the feed")
    creator_share: float = param(0.2, "float", 0.0, 1.0, doc="share of creators who stream")
    sessions_per_day: float = param(0.3, "float", 0.0, 1.0, doc="chance a streaming creator goes live on a given day")
    start_hour: float = param(20.0, "float", 0.0, 24.0, hi_open=True, doc="mean start time of a session, hour of the day")
    start_spread_hours: float = param(2.0, "float", 0.0, 12.0, doc="standard deviation of the start time, hours")
    duration_hours: float = param(1.5, "float", 0.0, 24.0, lo_open=True,
                                  doc="mean session length, hours (each lasts 0.5-1.5 times this; at most a day)")
    reserve_rate: float = param(0.3, "float", 0.0, 1.0,
                                doc="chance a regular-reader follower reserved a session (other followers: a third of it)")
    n_live_candidates: int = param(2, "int", 0, 64, doc="live rooms per request from interest retrieval")
    interaction_weight: float = param(1.0, "float", 0.0, 100.0,
                                      doc="score weight of a room's interactions per entry (the live interaction weight)")
    enter_weight: float = param(1.0, "float", 0.0, 100.0, doc="score weight of a room's enter rate")
    score_offset: float = param(0.0, "float", -100.0, 100.0, doc="added to every room's score")
    reservation_bonus: float = param(0.5, "float", 0.0, 100.0, doc="score bonus of a room the viewer reserved")
    enter_b: float = param(-1.0, "float", -30.0, 30.0, doc="enter logit (a 3-second stay): intercept")
    enter_q: float = param(0.5, "float", -10.0, 10.0, doc="enter logit: per unit of the creator's latent quality")
    enter_a: float = param(0.8, "float", -10.0, 10.0, doc="enter logit: per unit of log affinity to the room's topic")
    enter_follow: float = param(1.0, "float", -10.0, 10.0, doc="enter logit: added for a follower")
    enter_reserved: float = param(1.0, "float", -10.0, 10.0, doc="enter logit: added when the viewer reserved")
    stay_minutes: float = param(3.0, "float", 0.0, 600.0, lo_open=True,
                                doc="mean minutes stayed by a viewer who enters (exponential; capped by the room's length)")
    stay_q: float = param(0.3, "float", -5.0, 5.0, doc="log of the mean stay: per unit of latent quality")
    like_b: float = param(-1.5, "float", -30.0, 30.0, doc="like logit of an entered viewer: intercept")
    comment_b: float = param(-2.5, "float", -30.0, 30.0, doc="comment logit: intercept")
    gift_b: float = param(-4.5, "float", -30.0, 30.0, doc="gift logit: intercept")
    gift_value: float = param(10.0, "float", 0.0, 1e6, doc="mean value of a gift, yuan (exponential)")
    share_b: float = param(-4.0, "float", -30.0, 30.0, doc="share logit: intercept")
    follow_b: float = param(-4.0, "float", -30.0, 30.0, doc="follow logit of a non-follower who entered: intercept")
    interact_q: float = param(0.5, "float", -10.0, 10.0, doc="every interaction logit: per unit of latent quality")
    interact_stay: float = param(0.6, "float", -10.0, 10.0, doc="every interaction logit: per log(1 + minutes stayed)")
    value_per_minute: float = param(0.05, "float", 0.0, 10.0, doc="latent user value per minute stayed, times (quality + 1)")

    def check(self):
        longest = MAX_DURATION_FACTOR * self.duration_hours
        if longest > HOURS_PER_DAY:
            raise ValueError(f"The 'duration_hours' parameter of LiveConfig makes a live schedule longer than a day: "
                             f"sessions last up to {MAX_DURATION_FACTOR} x duration_hours = {longest!r} h, and must "
                             f"fit in {HOURS_PER_DAY:g} h, so duration_hours must be at most "
                             f"{HOURS_PER_DAY / MAX_DURATION_FACTOR:g}. Got {self.duration_hours!r} instead.")

    def live_params(self) -> np.ndarray:
        """The vector :func:`live_impression` reads (see :data:`LP_NAMES`)."""
        return np.array([float(getattr(self, n)) for n in LP_NAMES], np.float64)


LP_NAMES = ("enter_b", "enter_q", "enter_a", "enter_follow", "enter_reserved", "stay_minutes", "stay_q", "like_b",
            "comment_b", "gift_b", "gift_value", "share_b", "follow_b", "interact_q", "interact_stay",
            "value_per_minute", "reserve_rate")
(LP_ENTER_B, LP_ENTER_Q, LP_ENTER_A, LP_ENTER_FOLLOW, LP_ENTER_RESERVED, LP_STAY_MINUTES, LP_STAY_Q, LP_LIKE_B,
 LP_COMMENT_B, LP_GIFT_B, LP_GIFT_VALUE, LP_SHARE_B, LP_FOLLOW_B, LP_INTERACT_Q, LP_INTERACT_STAY,
 LP_VALUE_PER_MINUTE, LP_RESERVE_RATE) = range(17)
