"""Live sessions: who goes live when, how a viewer behaves in a live room, and the rooms' score.

A share of creators stream (``[live] creator_share``). Each day such a creator
goes live with probability ``sessions_per_day``, starting around
``start_hour`` (normal, ``start_spread_hours``) for ``duration_hours`` times a
uniform factor in [0.5, 1.5] (:func:`draw_schedule`). While it runs, a session
is a candidate of its own kind in the feed loop: the creator's followers meet
it first (a follower may have reserved it: :func:`reserved`), then interest
retrieval offers running rooms of the viewer's topics. Per live impression
:func:`live_impression` draws entering (a 3-second stay), minutes stayed,
likes, comments, gifts (value), shares to friends (opened or not) and a
follow; purchases in a seller's room come from :mod:`sim.sellers`.

The ranker scores a room from its logged counters (:meth:`LiveState.pools`):
``score_offset + enter_weight * enter_rate + interaction_weight * interactions per entry``,
the rates smoothed with ``PRIOR_STRENGTH`` pseudo-impressions; ``interaction_weight``
is the platform's "live interaction weight".

Off by default (``enabled = false``): the feed loop then offers no live
candidate, draws nothing from here, and a run is byte for byte the run without it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ranker._numba import JIT, njit
from ranker.params import Section, param
from ranker.rng import STREAM_LIVE, key, normal, uniform
from sim.behavior import P_VALUE_A, P_VALUE_B, P_VALUE_Q, _bernoulli, _log_affinity
from sim.seen import seen_has

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
    n_follow_live: int = param(4, "int", 0, 64,
                               doc="live rooms per request from followed creators live now (reserved first)")
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


# --- kernels ------------------------------------------------------------------------------------

#: Draw indices of a live impression's behaviour key (the slot's key, as a video's): 0 enter, 1 stay,
#: 2 like, 3 comment, 4 gift, 5 gift value, 6 share, 7 recipients, 8 follow; 16 + j recipient j's open
#: (sim.behavior.recipient_opens), DRAW_RECIPIENT_START the first recipient (as a video's).
LD_ENTER, LD_STAY, LD_LIKE, LD_COMMENT, LD_GIFT, LD_GIFT_VALUE, LD_SHARE, LD_RECIPIENTS, LD_FOLLOW = range(9)
#: A shared live room goes to 1 to this many friends.
MAX_LIVE_RECIPIENTS = 3
#: The reservation key's day field: sessions are numbered from here (no clash with schedule keys' days).
RESERVATION_BASE = 1 << 40


@njit(**JIT)
def draw_schedule(seed, join_day, days, creator_share, sessions_per_day, start_hour, start_spread, duration_hours,
                  start_out, length_out):
    """Each creator's sessions, per simulated day: start hour (from the day's midnight) and length, hours.

    A creator streams when ``u0 < creator_share`` (key (seed, STREAM_LIVE, c, 0, 0)); on day d >= its join
    day it goes live when ``u0 < sessions_per_day`` (key (seed, STREAM_LIVE, c, d + 1, 0)), starting at
    ``(start_hour + start_spread * z) mod 24`` (z = normal(k, 1)) for ``duration_hours * (0.5 + u1)`` hours.
    ``start_out`` (n_creators, days) is NaN where there is no session; ``length_out`` alike.
    """
    for c in range(join_day.shape[0]):
        for d in range(days):
            start_out[c, d] = np.nan
            length_out[c, d] = np.nan
        if not uniform(key(seed, STREAM_LIVE, c, 0, 0), 0) < creator_share:
            continue
        for d in range(max(0, join_day[c]), days):
            kd = key(seed, STREAM_LIVE, c, d + 1, 0)
            if uniform(kd, 0) < sessions_per_day:
                h = (start_hour + start_spread * normal(kd, 1)) % HOURS_PER_DAY
                start_out[c, d] = h
                length_out[c, d] = duration_hours * (0.5 + uniform(kd, 1))


@njit(inline="always", **JIT)
def reserved(seed, user, session, regular, reserve_rate):
    """Whether ``user`` (a follower) reserved ``session``: ``u < reserve_rate`` for a regular reader,
    ``u < reserve_rate / 3`` otherwise (key (seed, STREAM_LIVE, user, RESERVATION_BASE + session, 1))."""
    p = reserve_rate if regular else reserve_rate / 3.0
    return uniform(key(seed, STREAM_LIVE, user, RESERVATION_BASE + np.int64(session), 1), 0) < p


@njit(**JIT)
def live_impression(lp, bp, quality, affinity, follower, is_reserved, minutes_left, k0):
    r"""Outcomes and latent value of one live impression (a room offered in a feed slot).

    With :math:`a` the log effective affinity (as a video's, ``sim.behavior``), :math:`q` the
    creator's latent quality and :math:`u_i` = ``uniform(k0, i)``:

    .. math::

       \mathrm{enter} &= [u_0 < \sigma(\mathrm{enter\_b} + \mathrm{enter\_q}\,q + \mathrm{enter\_a}\,a
                        + \mathrm{enter\_follow}\,[\mathrm{follower}] + \mathrm{enter\_reserved}\,[\mathrm{reserved}])] \\
       m &= \min(-\mathrm{stay\_minutes}\,e^{\mathrm{stay\_q}\,q} \ln(1 - u_1),\ \mathrm{minutes\_left}) \\
       x &= \mathrm{interact\_q}\,q + \mathrm{interact\_stay}\,\ln(1 + m) \\
       \mathrm{like} &= [u_2 < \sigma(\mathrm{like\_b} + x)],\ \mathrm{comment} = [u_3 < \sigma(\mathrm{comment\_b} + x)] \\
       \mathrm{gift} &= [u_4 < \sigma(\mathrm{gift\_b} + x)],\ \mathrm{gift\ value} = -\mathrm{gift\_value}\,\ln(1 - u_5) \\
       \mathrm{share} &= [u_6 < \sigma(\mathrm{share\_b} + x)],\ \mathrm{recipients} = 1 + \lfloor 3 u_7 \rfloor \\
       \mathrm{follow} &= [\neg\mathrm{follower}]\,[u_8 < \sigma(\mathrm{follow\_b} + x)] \\
       v &= (\mathrm{value\_b} + \mathrm{value\_q}\,q + \mathrm{value\_a}\,a)\,\mathrm{value\_per\_minute}\,m

    Everything but ``enter`` is 0 for a viewer who does not enter. Returns
    ``(entered, minutes, liked, commented, gift_value, shared, n_recipients, followed, value)``.
    """
    a = _log_affinity(bp, affinity)
    x_e = (lp[LP_ENTER_B] + lp[LP_ENTER_Q] * quality + lp[LP_ENTER_A] * a + lp[LP_ENTER_FOLLOW] * follower
           + lp[LP_ENTER_RESERVED] * is_reserved)
    if not _bernoulli(uniform(k0, LD_ENTER), x_e):
        return False, 0.0, False, False, 0.0, False, 0, False, 0.0
    mean = lp[LP_STAY_MINUTES] * math.exp(lp[LP_STAY_Q] * quality)
    minutes = min(-mean * math.log(1.0 - uniform(k0, LD_STAY)), minutes_left)
    x = lp[LP_INTERACT_Q] * quality + lp[LP_INTERACT_STAY] * math.log1p(minutes)
    liked = _bernoulli(uniform(k0, LD_LIKE), lp[LP_LIKE_B] + x)
    commented = _bernoulli(uniform(k0, LD_COMMENT), lp[LP_COMMENT_B] + x)
    gift = 0.0
    if _bernoulli(uniform(k0, LD_GIFT), lp[LP_GIFT_B] + x):
        gift = -lp[LP_GIFT_VALUE] * math.log(1.0 - uniform(k0, LD_GIFT_VALUE))
    shared = _bernoulli(uniform(k0, LD_SHARE), lp[LP_SHARE_B] + x)
    n_rec = 1 + int(uniform(k0, LD_RECIPIENTS) * MAX_LIVE_RECIPIENTS) if shared else 0
    followed = (not follower) and _bernoulli(uniform(k0, LD_FOLLOW), lp[LP_FOLLOW_B] + x)
    value = (bp[P_VALUE_B] + bp[P_VALUE_Q] * quality + bp[P_VALUE_A] * a) * lp[LP_VALUE_PER_MINUTE] * minutes
    return True, minutes, liked, commented, gift, shared, n_rec, followed, value


# Per-session counter columns (float64 matrix, LiveState.counters).
(LC_IMPRESSIONS, LC_ENTRIES, LC_MINUTES, LC_LIKES, LC_COMMENTS, LC_GIFTS, LC_GIFT_VALUE, LC_SHARES,
 LC_SHARE_RECIPIENTS, LC_SHARE_OPENS, LC_FOLLOWS, LC_VALUE) = range(12)
N_LC = 12




# --- serve_tick's live candidates ------------------------------------------------------------

#: Candidate sources of live rooms (the events' ``source`` codes after sim._engine_kernels' four).
SOURCE_LIVE_FOLLOW, SOURCE_LIVE_RESERVED, SOURCE_LIVE_INTEREST = 4, 5, 6
#: Retrieval-key draws of live interest picks: DRAW_LIVE0 + 2i the topic, DRAW_LIVE0 + 2i + 1 the room.
DRAW_LIVE0 = 9000
#: Interest retrieval of rooms picks uniformly among the topic's best this-many running rooms.
LIVE_TOP_M = 16


@njit(**JIT)
def gather_live(live, seed, u, n_videos, f_lo, f_n, follow_creator, follow_regular, seen_bits, seen_ptr, seen_k,
                rkey, plays_u, topic_cdf, cand, src, pending, n):
    """Append request's live candidates (ids ``n_videos + session``) to ``cand`` from ``n``; returns the new n.

    First the rooms of followed creators live now, those the user reserved (:func:`reserved`) before
    the others, each in follow-slot order, up to ``live.n_follow``; then ``live.n_interest`` interest
    picks: a topic drawn with weight (logged topic plays + 1), as video retrieval does, and a uniform
    pick among its best LIVE_TOP_M running rooms. A room in the user's seen filter (shown to them
    before) or already a candidate is skipped. Live candidates are probed here (``pending`` 0).
    """
    n0 = n
    if live.n_follow > 0:
        rate = live.params[LP_RESERVE_RATE]
        for want in (True, False):
            for j in range(f_lo, f_lo + f_n):
                if n - n0 >= live.n_follow:
                    break
                s = live.creator_session[follow_creator[j]]
                if s < 0:
                    continue
                res = reserved(seed, u, s, follow_regular[j], rate)
                if res != want or seen_has(seen_bits, seen_ptr, u, n_videos + s, seen_k):
                    continue
                cand[n] = n_videos + s
                src[n] = SOURCE_LIVE_RESERVED if res else SOURCE_LIVE_FOLLOW
                pending[n] = 0
                n += 1
    if live.n_interest > 0 and live.topic_sessions.shape[0] > 0:
        n_topics = plays_u.shape[0]
        tot = 0.0
        for t in range(n_topics):
            tot += plays_u[t] + 1.0
            topic_cdf[t] = tot
        for i in range(live.n_interest):
            x = uniform(rkey, DRAW_LIVE0 + 2 * i) * tot
            t = 0
            for j in range(n_topics - 1):
                t += topic_cdf[j] <= x
            size = live.topic_ptr[t + 1] - live.topic_ptr[t]
            if size == 0:
                continue
            pick = int(uniform(rkey, DRAW_LIVE0 + 2 * i + 1) * min(size, LIVE_TOP_M))
            v = n_videos + live.topic_sessions[live.topic_ptr[t] + pick]
            dup = False
            for q in range(n0, n):
                dup = dup or cand[q] == v
            if dup or seen_has(seen_bits, seen_ptr, u, v, seen_k):
                continue
            cand[n] = v
            src[n] = SOURCE_LIVE_INTEREST
            pending[n] = 0
            n += 1
    return n


class LivePools(NamedTuple):
    """What serve_tick reads of the live rooms this tick (all empty, ``n_follow = n_interest = 0``, when off)."""

    session_creator: np.ndarray  # int32 (n_sessions,)
    session_topic: np.ndarray  # int32 (n_sessions,): the creator's main topic
    session_quality: np.ndarray  # float32 (n_sessions,): the creator's latent quality
    minutes_left: np.ndarray  # float64 (n_sessions,): minutes of the room left this tick (viewers stay at most this)
    score: np.ndarray  # float64 (n_sessions,): the room's score this tick (boost and assessment included)
    is_new: np.ndarray  # bool (n_sessions,): the creator is a new creator (the policy's quota counts it)
    creator_session: np.ndarray  # int32 (n_creators,): the creator's running session, -1 none
    topic_ptr: np.ndarray  # int64 (n_topics + 1,): running rooms by topic ...
    topic_sessions: np.ndarray  # int32: ... best score first
    params: np.ndarray  # float64 (len(LP_NAMES),): LiveConfig.live_params()
    n_follow: np.int64  # rooms per request from followed creators (reserved first)
    n_interest: np.int64  # rooms per request from interest retrieval
    reservation_bonus: float


def no_live(n_topics: int) -> LivePools:
    """The pools of a run without live rooms: serve_tick gathers none."""
    z32 = np.zeros(0, np.int32)
    return LivePools(session_creator=z32, session_topic=z32, session_quality=np.zeros(0, np.float32),
                     minutes_left=np.zeros(0), score=np.zeros(0), is_new=np.zeros(0, np.bool_),
                     creator_session=z32, topic_ptr=np.zeros(n_topics + 1, np.int64), topic_sessions=z32,
                     params=np.zeros(len(LP_NAMES)), n_follow=np.int64(0), n_interest=np.int64(0),
                     reservation_bonus=0.0)


class LiveState:
    """The feed loop's side of live rooms (``sim.engine`` builds it only when ``[live] enabled``).

    Holds the run's schedule (structure of arrays, sessions ordered by start), each session's
    counters, the tick's pools (:meth:`pools`), and the measured days' live metrics.
    """

    def __init__(self, cfg: LiveConfig, world, seed: int, days: int, ticks_per_day: int, warm: int,
                 new_creator_days: int):
        self.cfg, self.w, self.T, self.warm, self.new_days = cfg, world, ticks_per_day, warm, new_creator_days
        C = world.n_creators
        start = np.empty((C, days))
        length = np.empty((C, days))
        draw_schedule(np.int64(seed), world.creator_join_day.astype(np.int64), np.int64(days),
                      float(cfg.creator_share), float(cfg.sessions_per_day), float(cfg.start_hour),
                      float(cfg.start_spread_hours), float(cfg.duration_hours), start, length)
        c, d = np.nonzero(~np.isnan(start))
        t0 = d * HOURS_PER_DAY + start[c, d]
        order = np.lexsort((c, t0))
        self.creator = c[order].astype(np.int32)
        self.start_h = t0[order]
        self.end_h = self.start_h + length[c, d][order]
        S = self.creator.size
        self.topic = world.creator_topic[self.creator].astype(np.int32)
        self.quality = world.creator_quality[self.creator].astype(np.float32)
        self.counters = np.zeros((S, N_LC), np.float64)
        self.params = cfg.live_params()
        self.creator_session = np.full(C, -1, np.int32)
        self._running = np.zeros(0, np.int64)
        self._day_start = self.counters.copy()
        self.by_day = {k: np.zeros(max(days - warm, 0)) for k in
                       ("impressions", "entries", "minutes", "gifts", "gift_value", "new_impressions",
                        "video_impressions")}

    def pools(self, day, tick, quit_day, creator_ptr, creator_videos, boost, creator_shift=None):
        """The tick's rooms: those running during it, of creators not quit, scored from their counters.

        A room takes the policy's boost of its creator's newest candidate post (``creator_ptr``,
        ``creator_videos``: the tick's posts by creator, newest first; ``boost`` per video), 0 without one;
        ``creator_shift(creators)``: the seller assessment's shift, or None.
        """
        cfg, w = self.cfg, self.w
        h0 = (day + tick / self.T) * HOURS_PER_DAY
        h1 = h0 + HOURS_PER_DAY / self.T
        lo = 0
        hi = np.searchsorted(self.start_h, h1, side="left")  # started before the tick ends
        cand = np.arange(lo, hi)
        run = cand[(self.end_h[cand] > h0) & (quit_day[self.creator[cand]] > day)]
        self.creator_session[self.creator[self._running]] = -1
        self.creator_session[self.creator[run]] = run.astype(np.int32)  # a later session wins (start order)
        self._running = run
        S = self.creator.size
        minutes = np.zeros(S)
        minutes[run] = (self.end_h[run] - np.maximum(self.start_h[run], h0)) * 60.0
        score = np.full(S, -np.inf)
        k = self.counters[run]
        enter = (k[:, LC_ENTRIES] + PRIOR_STRENGTH * PRIOR_ENTER_RATE) / (k[:, LC_IMPRESSIONS] + PRIOR_STRENGTH)
        inter = (k[:, LC_LIKES] + k[:, LC_COMMENTS] + k[:, LC_GIFTS] + k[:, LC_SHARES] + k[:, LC_FOLLOWS]
                 + PRIOR_STRENGTH * PRIOR_INTERACTIONS) / (k[:, LC_ENTRIES] + PRIOR_STRENGTH)
        rc = self.creator[run]
        has_post = creator_ptr[rc + 1] > creator_ptr[rc]
        newest = creator_videos[np.minimum(creator_ptr[rc], max(creator_videos.size - 1, 0))] if creator_videos.size \
            else np.zeros(rc.size, np.int64)
        room_boost = np.where(has_post, boost[newest], 0.0)
        s = cfg.score_offset + cfg.enter_weight * enter + cfg.interaction_weight * inter + room_boost
        shift = creator_shift(rc) if creator_shift is not None else None
        if shift is not None:
            s = s + shift
        score[run] = s
        from sim.metrics import creator_age_days

        is_new = np.zeros(S, np.bool_)
        is_new[run] = creator_age_days(w.creator_join_day[rc], day + tick / self.T) < self.new_days
        topic = self.topic[run]
        order = np.lexsort((run, -s, topic))
        ptr = np.zeros(w.n_topics + 1, np.int64)
        np.cumsum(np.bincount(topic, minlength=w.n_topics), out=ptr[1:])
        return LivePools(session_creator=self.creator, session_topic=self.topic, session_quality=self.quality,
                         minutes_left=minutes, score=score, is_new=is_new, creator_session=self.creator_session,
                         topic_ptr=ptr, topic_sessions=run[order].astype(np.int32), params=self.params,
                         n_follow=np.int64(cfg.n_follow_live), n_interest=np.int64(cfg.n_live_candidates),
                         reservation_bonus=float(cfg.reservation_bonus))

    def end_day(self, day, video_impressions):
        """Book the day's live counters (measured days only) against its ``video_impressions``."""
        d = day - self.warm
        delta = self.counters - self._day_start
        self._day_start = self.counters.copy()
        if d < 0:
            return
        from sim.metrics import creator_age_days

        b = self.by_day
        b["impressions"][d] = delta[:, LC_IMPRESSIONS].sum()
        b["entries"][d] = delta[:, LC_ENTRIES].sum()
        b["minutes"][d] = delta[:, LC_MINUTES].sum()
        b["gifts"][d] = delta[:, LC_GIFTS].sum()
        b["gift_value"][d] = delta[:, LC_GIFT_VALUE].sum()
        new = creator_age_days(self.w.creator_join_day[self.creator], day + 0.5) < self.new_days
        b["new_impressions"][d] = delta[new, LC_IMPRESSIONS].sum()
        b["video_impressions"][d] = video_impressions

    def metrics(self) -> dict:
        from sim.metrics import _m

        b = self.by_day
        imps, vid = b["impressions"].sum(), b["video_impressions"].sum()
        share = b["impressions"] / np.maximum(b["impressions"] + b["video_impressions"], 1)
        return {
            "live_sessions": _m(int(self.creator.size), "sessions", "live sessions scheduled in the run (warm-up included)"),
            "live_exposure_share": _m(imps / (imps + vid) if imps + vid else float("nan"), "share of impressions",
                                      "live rooms' share of impressions over the measured days"),
            "live_exposure_share_by_day": _m(share, "share of impressions, per day", "live rooms' share of each day's impressions"),
            "live_impressions": _m(int(imps), "impressions", "live-room impressions over the measured days"),
            "live_enter_rate": _m(b["entries"].sum() / imps if imps else float("nan"), "share of live impressions",
                                  "share of live impressions where the viewer entered (stayed 3 s)"),
            "live_minutes": _m(float(b["minutes"].sum()), "minutes", "minutes viewers stayed in live rooms"),
            "live_gifts": _m(int(b["gifts"].sum()), "gifts", "gifts sent in live rooms"),
            "live_gift_value": _m(float(b["gift_value"].sum()), "yuan", "value of the gifts sent in live rooms"),
            "new_creator_live_impressions": _m(int(b["new_impressions"].sum()), "impressions",
                                               "new creators' live-room impressions over the measured days"),
            "new_creator_live_share": _m(b["new_impressions"].sum() / imps if imps else float("nan"),
                                         "share of live impressions",
                                         "new creators' share of live-room impressions (their live reach)"),
        }
