r"""The behaviour model: (user, video, draws) -> outcomes and latent user value.

One impression is one video shown to one user in one feed slot. The model
draws, in this order of dependence, a 3-second play, completion, watch
seconds, like, comment, share (to a number of friends), follow, and computes
the *latent user value* of the impression: the ground truth the platform
never sees and its signals are a proxy for. Each shared card's recipient then
opens it or not (:func:`recipient_opens`).

Two video traits exist to fool signals:

- *hook* enters only the 3-second play; completion given a play and value do
  not see it, so clickbait (strong hook, weak quality) wins plays and yields
  little or negative value;
- *shareability* enters only the share; recipients open cards on quality and
  their own affinity, so share-bait gets shares nobody opens.

Randomness is common across policies: each outcome of an impression reads its
own fixed draw ``uniform(k0, i)`` of the impression's key
``k0 = key(seed, STREAM_BEHAVIOR, user, day, slot)`` (table in
:func:`impression`), so the same (seed, user, day, slot) sees the same
uniforms whatever the policy served there, and the order in which threads
visit rows cannot change a bit.

Faces:

- :func:`behavior_params` packs a :class:`BehaviorConfig` into the float64
  vector ``bp`` that kernels read (indices ``P_*`` below);
- :func:`impression` and :func:`recipient_opens` are scalar Numba kernels the
  engine calls from inside its own kernel;
- :func:`sim.behavior_batch.simulate_impressions` is the validating batch
  face (parallel over rows, vectorized) for the Python API, the tests of the
  model's statistics and the benchmark; the engine never uses it;
- ``*_probability`` are scalar Numba helpers giving each formula's
  probability, for tests and notebooks.

Slow twins live in ``tests/reference_behavior.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from ranker._numba import JIT, njit
from ranker.params import Section, param
from ranker.rng import uniform


#: Default of ``return_b``: the logit of the target daily return rate at the reference satisfaction
#: (sigma(0.85) = 0.70; see the users' dynamics in BehaviorConfig).
RETURN_B = 0.85
#: Default of ``satisfaction_ref``: the default world's steady-state mean satisfaction (measured, see
#: BehaviorConfig).
SATISFACTION_REF = 1.2
#: Smallest ``drift_anchor`` accepted with a positive ``drift_rate`` (see BehaviorConfig.check).
MIN_DRIFT_ANCHOR = 0.1


@dataclass(frozen=True)
class BehaviorConfig(Section):
    r"""Coefficients of the behaviour model (the ``[behavior]`` section).

    Logits: ``b*`` intercepts, ``*_q`` quality, ``*_a`` log-affinity,
    ``*_h`` hook, ``*_s`` shareability, ``*_r`` regular reader, ``*_c``
    completion, ``*_d`` log-duration. See :func:`sim.behavior.impression`
    for the formulas.

    Which parameters a log can fit, and the moments that identify them
    (for ``ranksim calibrate``; the rest are assumptions, stated below):

    - ``play_b``: the 3-second play rate per impression.
    - ``complete_b``, ``complete_d``, ``complete_d_short``: completion given
      a 3-second play by duration bucket (``complete_b`` the level at 30 s,
      ``complete_d`` the slope on :math:`\ln d` from 30 s up,
      ``complete_d - complete_d_short`` the slope below 30 s; KuaiRand
      subset: 0.28 for 60-120 s, 0.05 above 300 s, slope -0.61 overall, but
      flat from 10 to 30 s (0.52, 0.51, 0.53 in 10-15, 15-20, 20-30 s) and
      -1.0 above 30 s: a per-row logistic fit with a kink at 30 s gives slopes
      -0.24 below and -1.03 above, and beats one slope and a quadratic in
      :math:`\ln(d / 30)` by 233 and 57 in AIC).
    - ``loop_b``, ``loop_d``: the replay share (``watch_s > duration``) among
      completions, by duration bucket (KuaiRand: 99.9 % of completions run
      past the end, in every bucket, so ``loop_d = 0``).
    - ``loop_median_s``, ``loop_spread``: the quantiles of the seconds
      watched past the end (KuaiRand: median 4.0 s, 10th percentile 0.66 s,
      90th 22 s, about the same in every duration bucket; a log-logistic of
      median 4 s and spread 0.78 gives 0.71, 4 and 22 s).
    - ``like_b``, ``comment_b``, ``share_b``, ``follow_b``: like, comment,
      share and follow per impression (and follows per active user-day).
    - ``complete_q``, ``complete_a`` and the other ``*_q``, ``*_a``, ``*_h``,
      ``*_s`` coefficients: the spread of the rates across videos and across
      a user's topics; per-video dispersion of completion at a fixed duration
      identifies ``complete_q`` given the world's ``quality_sd``. Aggregate
      rates alone do not identify them: leave them at their defaults unless
      the log gives per-video or per-topic rates.
    - Not in any public log: ``open_*`` (whether a shared card's recipient
      opens it), ``rr_*`` and ``play_r``, ``complete_r`` (need follow
      histories), ``value_*`` (latent by definition), ``affinity_base``,
      ``affinity_floor``; ``return_*`` and ``satisfaction_rate`` only through
      active days per user.

    Assumptions, each with its sensitivity: the default world (10,000 users,
    7 days, seed 1; measured with the no-repeat filter, before creators
    responded to their reach) run under the policies ``none`` and ``fixed_tilt``
    (strength 0.5) with the assumption changed; value per impression and
    new-creator exposure under ``none``, and the tilt's cost (value per
    impression lost against ``none``, one seed, common random numbers):

    =====================================  ===========  ====================  =========
    variant                                value/imp.   new-creator exposure  tilt cost
    =====================================  ===========  ====================  =========
    defaults                               0.766        3.03 %                0.60 %
    affinity_base = 0 (the old floor)      0.776        3.01 %                0.64 %
    play_r = 0.8, complete_r = 0.4 (old)   0.812        2.84 %                0.26 %
    value_d = 0 (value ignores time)       0.548        2.98 %                0.71 %
    value_d = 1 (value in proportion)      1.336        3.08 %                0.62 %
    value_loop = 1 (loops not satiating)   0.819        3.08 %                0.02 %
    =====================================  ===========  ====================  =========

    The old regular-reader lift takes exposure from new creators (2.84 %
    against 3.03 %) and halves the measured cost of tilting toward them; the
    value's time assumptions move the tilt's cost less than its level, except
    loops worth as much as first passes, which hide it (0.02 %).

    - *Regular readers are not lifted* (``play_r = complete_r = 0``). A
      regular reader's view used to be lifted in play and completion with no
      counterpart in value, which inflated incumbents' signals against
      newcomers; no public log shows follow histories to justify it. Set them
      to model a real habit effect; the value then does not follow.
    - *Value grows with time watched* (``value_d = 0.5``): a full watch of a
      300-s video is worth :math:`10^{0.5} = 3.2` times a full watch of a 30-s
      one; seconds past the end count half (``value_loop = 0.5``).
    - *A base interest in every topic* (``affinity_base = 0.2``): the
      effective affinity is :math:`0.2 + 0.8\,n_\mathrm{topics}\,\mathrm{interest}`
      (mean 1), at least 0.2, so no (user, topic) pair sits at
      ``affinity_floor`` (30 % did with a floor of 0.05 and no base), and an
      exploratory impression off a user's topics costs a bounded amount
      (log-affinity -1.6 instead of -3.0). The Dirichlet interests still put
      20 % of pairs within 0.01 of the base: a base, not a spread, is what
      this assumption changes.
    - *Share opens are decided when the card is sent*: an open stands for the
      recipient opening the card in the chat, a view outside the feed that is
      counted in ``share_opens`` (so in share follow-through) whether or not
      the feed later serves the video to the recipient; it is not an
      impression and carries no latent value. The opened video then waits in
      the recipient's inbox as a feed candidate (in the default world about
      half of the opened cards are later served from there).
    - *No re-watching across impressions*: deliberate re-watching (a user
      going back to a video seen before) is not modelled; watching again is
      modelled only as loops within an impression, at the rate and value
      above. The feed never serves a user a video it served them before in
      the run (a per-user seen filter, ``feed.seen_bits_per_item``, see
      :mod:`sim.seen`; it wrongly skips about 1 % of never-served candidates
      and never lets a repeat through), so the simulated repeat share is 0
      where real logs hold about 1 % of deliberate re-watches.

    Regular readers (``rr_*``, applied by the feed loop). Each follow of a
    user :math:`u` to a creator :math:`c` carries an engagement average
    :math:`E`. An impression of one of :math:`c`'s posts to :math:`u` engages
    :math:`e = \tfrac12\,\mathrm{play}_3 + \tfrac12\,\mathrm{completed}` (0,
    0.5 or 1) and moves the average:

    .. math::

        E \leftarrow (1 - \mathrm{rr\_rate})\,E + \mathrm{rr\_rate}\,e

    A follower becomes a regular reader when :math:`E \ge \mathrm{rr\_on}` and
    stops being one when :math:`E < \mathrm{rr\_off}` (``rr_off <= rr_on``: a
    band in which the status does not flicker). A follow made after an
    impression starts at that impression's :math:`e`; a day-0 follow starts at
    :math:`\min(1, n_\mathrm{topics}\,\mathrm{interest}_{u,\mathrm{topic}(c)} / 4)`;
    either is a regular reader from the start if it reaches ``rr_on``. When a
    user's follow slots are full, a new follow replaces the least engaged one.
    At the end of every day, every follow decays,

    .. math::

        E \leftarrow (1 - \mathrm{rr\_decay})\,E,

    and regular readers now below ``rr_off`` stop being regular readers: a
    follower who stopped watching drifts out, although the follow stays.

    Users respond (``satiation``, ``drift_*``, ``novelty_weight``,
    ``session_v``, ``return_*``, ``satisfaction_*``): satiation per topic
    within a day, interests that drift with what is completed, and sessions
    and next-day returns that follow a satisfaction counting novelty. The
    formulas, targets, sources and sensitivities are in :mod:`sim.users`.

    The defaults of ``play_b``, ``complete_b``, ``complete_d``, ``like_b``,
    ``comment_b``, ``share_b`` and ``follow_b`` (and the world's
    ``duration_median_s``, ``duration_sigma``) are a calibration, not hand-set:
    ``ranksim calibrate`` on the bundled KuaiRand subset, KuaiRand-Pure video
    features and Douyin sample, fitted on the world ``ranksim compare`` runs
    (2,000 users, 200 creators, 21 warm-up days, 7 measured days, seed 0), at
    commit f3db1e6. The command, every target, its source and caveat, the
    fitted moments and the one left out of tolerance (completion of videos up
    to 10 s) are in ``docs/calibration.md``.
    """

    play_b: float = param(1.315, "float", -20.0, 20.0, doc="3-second play: intercept (logit)")
    play_h: float = param(0.9, "float", -20.0, 20.0, doc="3-second play: hook coefficient")
    play_q: float = param(0.3, "float", -20.0, 20.0, doc="3-second play: quality coefficient")
    play_a: float = param(0.6, "float", -20.0, 20.0, doc="3-second play: log-affinity coefficient")
    play_r: float = param(0.0, "float", -20.0, 20.0, doc="3-second play: regular-reader coefficient (0: no lift the value does not share; see docs)")
    complete_b: float = param(-1.203, "float", -20.0, 20.0, doc="completion given a 3-second play: intercept (at 30 s)")
    complete_q: float = param(1.0, "float", -20.0, 20.0, doc="completion: quality coefficient")
    complete_a: float = param(0.5, "float", -20.0, 20.0, doc="completion: log-affinity coefficient")
    complete_r: float = param(0.0, "float", -20.0, 20.0, doc="completion: regular-reader coefficient (0: no lift the value does not share; see docs)")
    complete_d: float = param(1.17, "float", 0.0, 20.0, doc="completion: penalty per unit of ln(duration / 30 s), at and above 30 s (below: see complete_d_short)")
    complete_d_short: float = param(0.0, "float", -20.0, 20.0, doc="completion: below 30 s the penalty per unit of ln(duration / 30 s) is complete_d - complete_d_short (a kink at 30 s; 0: one slope)")
    loop_b: float = param(3.0, "float", -20.0, 20.0, doc="loop given completion (watching on past the end): intercept (at 30 s)")
    loop_d: float = param(0.0, "float", -20.0, 20.0, doc="loop given completion: penalty per unit of ln(duration / 30 s)")
    loop_median_s: float = param(4.0, "float", 0.0, 3600.0, doc="seconds watched past the end by a looping viewer: median (log-logistic)")
    loop_spread: float = param(0.78, "float", 0.0, 5.0, doc="seconds past the end: log-logistic spread, ln(q90 / median) / ln 9")
    loop_cap: float = param(10.0, "float", 0.0, 1000.0, doc="seconds past the end are at most this many durations")
    like_b: float = param(-5.478, "float", -20.0, 20.0, doc="like given a 3-second play: intercept")
    like_q: float = param(0.7, "float", -20.0, 20.0, doc="like: quality coefficient")
    like_a: float = param(0.4, "float", -20.0, 20.0, doc="like: log-affinity coefficient")
    like_c: float = param(1.0, "float", -20.0, 20.0, doc="like: completion coefficient")
    comment_b: float = param(-3.788, "float", -20.0, 20.0, doc="comment given a 3-second play: intercept")
    comment_q: float = param(0.5, "float", -20.0, 20.0, doc="comment: quality coefficient")
    comment_a: float = param(0.3, "float", -20.0, 20.0, doc="comment: log-affinity coefficient")
    share_b: float = param(-5.506, "float", -20.0, 20.0, doc="share given a 3-second play: intercept")
    share_s: float = param(1.2, "float", -20.0, 20.0, doc="share: shareability coefficient")
    share_q: float = param(0.4, "float", -20.0, 20.0, doc="share: quality coefficient")
    share_max_recipients: int = param(3, "int", 1, 64, doc="a share goes to 1..this many friends")
    open_b: float = param(-0.8, "float", -20.0, 20.0, doc="recipient opens a shared card: intercept")
    open_q: float = param(0.9, "float", -20.0, 20.0, doc="open: quality coefficient (shareability plays no part)")
    open_a: float = param(0.5, "float", -20.0, 20.0, doc="open: recipient's log-affinity coefficient")
    follow_b: float = param(-5.878, "float", -20.0, 20.0, doc="follow given a 3-second play (non-followers): intercept")
    follow_q: float = param(0.8, "float", -20.0, 20.0, doc="follow: quality coefficient")
    follow_a: float = param(0.4, "float", -20.0, 20.0, doc="follow: log-affinity coefficient")
    follow_c: float = param(1.0, "float", -20.0, 20.0, doc="follow: completion coefficient")
    value_q: float = param(1.0, "float", -20.0, 20.0, doc="latent value: quality coefficient, per unit of watched fraction")
    value_a: float = param(0.5, "float", -20.0, 20.0, doc="latent value: log-affinity coefficient, per unit of watched fraction")
    value_b: float = param(0.0, "float", -20.0, 20.0, doc="latent value: intercept, per unit of watched fraction")
    value_d: float = param(0.5, "float", 0.0, 1.0, doc="latent value: elasticity of a full watch's value with duration, (d / 30 s)^value_d")
    value_loop: float = param(0.5, "float", 0.0, 1.0, doc="latent value: worth of a second watched past the end, relative to a first-pass second (satiation)")
    affinity_base: float = param(0.2, "float", 0.0, 1.0, doc="share of affinity every viewer has in every topic: b + (1 - b) * n_topics * interest")
    affinity_floor: float = param(0.05, "float", 0.0, 1.0, lo_open=True, doc="affinity (after affinity_base) is floored here before the log")
    rr_rate: float = param(0.3, "float", 0.0, 1.0, lo_open=True, doc="regular readers: weight of the newest impression in a follower's engagement average")
    rr_on: float = param(0.7, "float", 0.0, 1.0, doc="regular readers: a follower whose engagement reaches this becomes a regular reader")
    rr_off: float = param(0.5, "float", 0.0, 1.0, doc="regular readers: a regular reader whose engagement falls below this stops being one")
    rr_decay: float = param(0.05, "float", 0.0, 1.0, doc="regular readers: daily decay of a follower's engagement average")
    return_b: float = param(RETURN_B, "float", -20.0, 20.0, doc="retention: logit of returning on a day for a user whose satisfaction is satisfaction_ref")
    return_v: float = param(2.0, "float", 0.0, 20.0, doc="retention: logit per unit of the user's satisfaction above satisfaction_ref (negative refused: a user served worse would return more)")
    satisfaction_rate: float = param(0.3, "float", 0.0, 1.0, lo_open=True, doc="retention: weight of the latest day in a user's satisfaction average")
    satisfaction_ref: float = param(SATISFACTION_REF, "float", -5.0, 5.0, doc="users: satisfaction every user starts with, and the level at which return_b and a session of the user's own activity apply (the default world's steady-state mean)")
    novelty_weight: float = param(0.5, "float", 0.0, 5.0, doc="users: extra weight, in a day's satisfaction, of the value of each impression that was the user's first of its topic that day")
    session_v: float = param(1.0, "float", 0.0, 5.0, doc="users: requests per active day are activity x 2 sigmoid(session_v (S - satisfaction_ref)), between 0 and twice the activity (0: sessions ignore satisfaction)")
    satiation: float = param(0.03, "float", 0.0, 1.0, doc="users: within a day, the n-th impression of a topic to a user sees the affinity times 1 / (1 + satiation (n - 1)); counts reset overnight (0: no satiation)")
    drift_rate: float = param(0.05, "float", 0.0, 0.5, doc="users: daily weight by which a user's topic interests move toward the day's drift target (0: interests never change)")
    drift_anchor: float = param(0.5, "float", 0.0, 1.0, doc="users: share of the user's initial interests in the drift target (the rest is the topic mix of the day's completions); above 0 keeps interests from collapsing onto what the feed serves")
    ai_label_play: float = param(0.0, "float", -20.0, 20.0, doc="users' reaction to the AI-generated label: shift of the 3-second play logit of labelled posts (0: none, as the platform says labelled content is ranked on quality alone; negative: users skip labelled posts)")

    def check(self):
        if self.ai_label_play != 0 and self.play_h == 0:
            raise ValueError(
                "The 'ai_label_play' parameter of BehaviorConfig needs play_h != 0 (the feed loop applies the "
                f"reaction as a hook shift of ai_label_play / play_h). Got ai_label_play={self.ai_label_play} "
                "with play_h=0 instead.")
        if self.drift_rate > 0 and self.drift_anchor < MIN_DRIFT_ANCHOR:
            raise ValueError(
                f"The 'drift_anchor' parameter of BehaviorConfig must be at least {MIN_DRIFT_ANCHOR} when drift_rate > 0 "
                f"(drift_rate={self.drift_rate}): with less of the initial interests in the drift target, interests "
                f"collapse onto whatever the feed serves and cannot come back. Got {self.drift_anchor} instead.")
        if self.rr_off > self.rr_on:
            raise ValueError(
                f"The 'rr_off' parameter of BehaviorConfig must be at most rr_on ({self.rr_on}). "
                f"Got {self.rr_off} instead.")


# --- parameter vector ---------------------------------------------------------

#: Field names of :class:`BehaviorConfig`, in the order of the ``bp`` vector.
PARAM_NAMES = tuple(f.name for f in fields(BehaviorConfig))
_IDX = {name: i for i, name in enumerate(PARAM_NAMES)}
N_PARAMS = len(PARAM_NAMES)

P_PLAY_B = _IDX["play_b"]
P_PLAY_H = _IDX["play_h"]
P_PLAY_Q = _IDX["play_q"]
P_PLAY_A = _IDX["play_a"]
P_PLAY_R = _IDX["play_r"]
P_COMPLETE_B = _IDX["complete_b"]
P_COMPLETE_Q = _IDX["complete_q"]
P_COMPLETE_A = _IDX["complete_a"]
P_COMPLETE_R = _IDX["complete_r"]
P_COMPLETE_D = _IDX["complete_d"]
P_COMPLETE_D_SHORT = _IDX["complete_d_short"]
P_LOOP_B = _IDX["loop_b"]
P_LOOP_D = _IDX["loop_d"]
P_LOOP_MEDIAN_S = _IDX["loop_median_s"]
P_LOOP_SPREAD = _IDX["loop_spread"]
P_LOOP_CAP = _IDX["loop_cap"]
P_LIKE_B = _IDX["like_b"]
P_LIKE_Q = _IDX["like_q"]
P_LIKE_A = _IDX["like_a"]
P_LIKE_C = _IDX["like_c"]
P_COMMENT_B = _IDX["comment_b"]
P_COMMENT_Q = _IDX["comment_q"]
P_COMMENT_A = _IDX["comment_a"]
P_SHARE_B = _IDX["share_b"]
P_SHARE_S = _IDX["share_s"]
P_SHARE_Q = _IDX["share_q"]
P_SHARE_MAX_RECIPIENTS = _IDX["share_max_recipients"]
P_OPEN_B = _IDX["open_b"]
P_OPEN_Q = _IDX["open_q"]
P_OPEN_A = _IDX["open_a"]
P_FOLLOW_B = _IDX["follow_b"]
P_FOLLOW_Q = _IDX["follow_q"]
P_FOLLOW_A = _IDX["follow_a"]
P_FOLLOW_C = _IDX["follow_c"]
P_VALUE_Q = _IDX["value_q"]
P_VALUE_A = _IDX["value_a"]
P_VALUE_B = _IDX["value_b"]
P_VALUE_D = _IDX["value_d"]
P_VALUE_LOOP = _IDX["value_loop"]
P_AFFINITY_BASE = _IDX["affinity_base"]
P_AFFINITY_FLOOR = _IDX["affinity_floor"]
P_RR_RATE = _IDX["rr_rate"]
P_RR_ON = _IDX["rr_on"]
P_RR_OFF = _IDX["rr_off"]
P_RR_DECAY = _IDX["rr_decay"]
P_RETURN_B = _IDX["return_b"]
P_RETURN_V = _IDX["return_v"]
P_SATISFACTION_RATE = _IDX["satisfaction_rate"]
P_SATISFACTION_REF = _IDX["satisfaction_ref"]
P_NOVELTY_WEIGHT = _IDX["novelty_weight"]
P_SESSION_V = _IDX["session_v"]
P_SATIATION = _IDX["satiation"]
P_DRIFT_RATE = _IDX["drift_rate"]
P_DRIFT_ANCHOR = _IDX["drift_anchor"]
P_AI_LABEL_PLAY = _IDX["ai_label_play"]  # applied by the feed loop (a hook shift), not by these kernels

# Draw indices: outcome -> i in uniform(k0, i). Fixed forever (common random
# numbers); 10..15 are reserved, 16 + j is recipient j's open.
D_PLAY = 0
D_COMPLETE = 1
D_WATCH = 2
D_LIKE = 3
D_COMMENT = 4
D_SHARE = 5
D_RECIPIENTS = 6
D_FOLLOW = 7
D_LOOP = 8
D_LOOP_LEN = 9
D_OPEN0 = 16
#: First draw index this module never uses (opens take 16..79, as share_max_recipients <= 64):
#: callers sharing an impression's key (the engine choosing recipients) draw from here on.
D_FREE = D_OPEN0 + 64

#: Seconds that make a "3-second play".
PLAY_SECONDS = 3.0
#: Reference duration of the completion and loop logits and of the value's duration factor, seconds.
REFERENCE_DURATION_S = 30.0
#: Floor of the completion probability in the watch-time exponent.
PC_FLOOR = 1e-3

#: Names of the arrays :func:`simulate_impressions` returns, in kernel order.
OUTCOME_NAMES = ("play3", "completed", "watch_s", "liked", "commented", "shared",
                 "n_recipients", "followed", "value")


def behavior_params(cfg: BehaviorConfig) -> np.ndarray:
    """Pack a :class:`BehaviorConfig` into the vector the kernels read.

    Parameters
    ----------
    cfg : BehaviorConfig
        The ``[behavior]`` section.

    Returns
    -------
    bp : ndarray of float64, shape (N_PARAMS,)
        ``bp[P_<FIELD>]`` is field ``<field>`` of ``cfg`` (ints as floats),
        in the order of :data:`PARAM_NAMES`.
    """
    if not isinstance(cfg, BehaviorConfig):
        raise TypeError(f"The 'cfg' parameter of behavior_params must be a BehaviorConfig. Got {cfg!r} instead.")
    return np.array([float(getattr(cfg, name)) for name in PARAM_NAMES], dtype=np.float64)


@njit(**JIT)
def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


@njit(**JIT)
def _bernoulli(u, x):
    """``u < sigmoid(x)`` for a uniform ``u``, without the division; with ``x < -3`` and ``u >= 0.0475``
    (likes, comments, shares, follows: about 19 times in 20) False without the exponential, as the full
    test gives whatever the rounding (``u (1 + exp(-x)) > 0.0475 * 21.08 > 1.001``)."""
    if x < -3.0 and u >= 0.0475:
        return False
    return u * (1.0 + np.exp(-x)) < 1.0


# --- logits and probabilities ----------------------------------------------------

@njit(**JIT)
def _affinity(bp, affinity):
    """The effective affinity: a base share ``affinity_base`` in every topic, floored at ``affinity_floor``."""
    b = bp[P_AFFINITY_BASE]
    return max(b + (1.0 - b) * affinity, bp[P_AFFINITY_FLOOR])


@njit(**JIT)
def _log_affinity(bp, affinity):
    return np.log(_affinity(bp, affinity))


@njit(**JIT)
def _play_logit(bp, quality, hook, a, r):
    return bp[P_PLAY_B] + bp[P_PLAY_H] * hook + bp[P_PLAY_Q] * quality + bp[P_PLAY_A] * a + bp[P_PLAY_R] * r


@njit(**JIT)
def _complete_logit(bp, quality, a, r, log_d30):
    # the slope on ln(d / 30) is complete_d at and above 30 s and complete_d - complete_d_short below; with
    # complete_d_short = 0 the slope is complete_d exactly (d - 0 * s), so the sum is the one-slope sum bit for bit
    slope = bp[P_COMPLETE_D] - bp[P_COMPLETE_D_SHORT] * (1.0 if log_d30 < 0.0 else 0.0)
    return (bp[P_COMPLETE_B] + bp[P_COMPLETE_Q] * quality + bp[P_COMPLETE_A] * a + bp[P_COMPLETE_R] * r
            - slope * log_d30)


@njit(**JIT)
def _like_logit(bp, quality, a, c):
    return bp[P_LIKE_B] + bp[P_LIKE_Q] * quality + bp[P_LIKE_A] * a + bp[P_LIKE_C] * c


@njit(**JIT)
def _comment_logit(bp, quality, a):
    return bp[P_COMMENT_B] + bp[P_COMMENT_Q] * quality + bp[P_COMMENT_A] * a


@njit(**JIT)
def _share_logit(bp, quality, shareability):
    return bp[P_SHARE_B] + bp[P_SHARE_S] * shareability + bp[P_SHARE_Q] * quality


@njit(**JIT)
def _follow_logit(bp, quality, a, c):
    return bp[P_FOLLOW_B] + bp[P_FOLLOW_Q] * quality + bp[P_FOLLOW_A] * a + bp[P_FOLLOW_C] * c


@njit(**JIT)
def _value_factor(bp, quality, a):
    return bp[P_VALUE_B] + bp[P_VALUE_Q] * quality + bp[P_VALUE_A] * a


@njit(**JIT)
def _loop_logit(bp, log_d30):
    return bp[P_LOOP_B] - bp[P_LOOP_D] * log_d30


@njit(**JIT)
def _value_seconds(bp, watch, d):
    """First-pass seconds plus ``value_loop`` times the seconds watched past the end."""
    return min(watch, d) + bp[P_VALUE_LOOP] * max(watch - d, 0.0)


@njit(**JIT)
def _loop_seconds(bp, d, odds_pow):
    """Seconds past the end of a looping viewer, from ``odds_pow = (u / (1 - u))^loop_spread``."""
    return min(bp[P_LOOP_MEDIAN_S] * odds_pow, bp[P_LOOP_CAP] * d)


@njit(**JIT)
def _watch_exponent(t):
    """``(1 - p_c) / max(p_c, 1e-3)`` from ``t = e^{-x_c} = (1 - p_c) / p_c``, with one division."""
    return t * min(1.0, (1.0 / PC_FLOOR) / (1.0 + t))


@njit(**JIT)
def _partial_watch(d, t, u):
    """Seconds watched by a play of a ``d``-second video that does not complete (``t`` as above)."""
    return PLAY_SECONDS + (d - PLAY_SECONDS) * u ** _watch_exponent(t)


@njit(**JIT)
def _open_logit(bp, quality, a):
    return bp[P_OPEN_B] + bp[P_OPEN_Q] * quality + bp[P_OPEN_A] * a


@njit(**JIT)
def play_probability(bp, quality, hook, affinity, regular):
    r"""Probability of a 3-second play.

    .. math:: p_3 = \sigma(\mathrm{play\_b} + \mathrm{play\_h}\,\mathrm{hook}
              + \mathrm{play\_q}\,q + \mathrm{play\_a}\,a + \mathrm{play\_r}\,r),
              \quad a = \ln\max(\mathrm{affinity}, \mathrm{affinity\_floor})

    Scalars: ``bp`` from :func:`behavior_params`; ``quality``, ``hook``
    (latent units); ``affinity`` (``n_topics * interest``, mean 1; :math:`a`
    is the log of :math:`\max(\beta + (1 - \beta)\,\mathrm{affinity},\ \mathrm{affinity\_floor})`,
    :math:`\beta` = ``affinity_base``);
    ``regular`` (bool: the viewer is a regular reader of the creator).
    """
    return _sigmoid(_play_logit(bp, quality, hook, _log_affinity(bp, affinity), 1.0 if regular else 0.0))


@njit(**JIT)
def completion_probability(bp, quality, affinity, regular, duration_s):
    r"""Probability of completion given a 3-second play (the hook plays no part).

    .. math:: p_c = \sigma\bigl(\mathrm{complete\_b} + \mathrm{complete\_q}\,q
              + \mathrm{complete\_a}\,a + \mathrm{complete\_r}\,r
              - \mathrm{complete\_d}\,\ell + \mathrm{complete\_d\_short}\,\min(\ell, 0)\bigr),
              \quad \ell = \ln(d / 30)

    ``duration_s`` (:math:`d`) is the video's length in seconds. For
    :math:`d \le 3` a play is a completion and the function returns 1.
    The logit falls with :math:`\ln d` at slope ``complete_d`` from 30 s up
    and at slope ``complete_d - complete_d_short`` below 30 s (a kink at the
    reference duration; ``complete_d_short = 0``: one slope).
    """
    if duration_s <= PLAY_SECONDS:
        return 1.0
    return _sigmoid(_complete_logit(bp, quality, _log_affinity(bp, affinity), 1.0 if regular else 0.0,
                                    log_d30(duration_s)))


@njit(**JIT)
def loop_probability(bp, duration_s):
    r"""Probability that a viewer who completed watches on past the end (a replay).

    .. math:: p_o = \sigma\bigl(\mathrm{loop\_b} - \mathrm{loop\_d}\ln(d / 30)\bigr)

    The seconds past the end are log-logistic,
    :math:`x = \min(\mathrm{loop\_median\_s}\,(u / (1 - u))^{\mathrm{loop\_spread}},\
    \mathrm{loop\_cap}\,d)` for a uniform :math:`u`: median ``loop_median_s``,
    90th percentile :math:`9^{\mathrm{loop\_spread}}` times the median.
    """
    return _sigmoid(_loop_logit(bp, log_d30(duration_s)))


@njit(**JIT)
def like_probability(bp, quality, affinity, completed):
    r"""Probability of a like given a play.

    .. math:: p_l = \sigma(\mathrm{like\_b} + \mathrm{like\_q}\,q + \mathrm{like\_a}\,a
              + \mathrm{like\_c}\,\mathrm{completed})
    """
    return _sigmoid(_like_logit(bp, quality, _log_affinity(bp, affinity), 1.0 if completed else 0.0))


@njit(**JIT)
def comment_probability(bp, quality, affinity):
    r"""Probability of a comment given a play.

    .. math:: p_m = \sigma(\mathrm{comment\_b} + \mathrm{comment\_q}\,q + \mathrm{comment\_a}\,a)
    """
    return _sigmoid(_comment_logit(bp, quality, _log_affinity(bp, affinity)))


@njit(**JIT)
def share_probability(bp, quality, shareability):
    r"""Probability of a share given a play.

    .. math:: p_s = \sigma(\mathrm{share\_b} + \mathrm{share\_s}\,\mathrm{shareability}
              + \mathrm{share\_q}\,q)
    """
    return _sigmoid(_share_logit(bp, quality, shareability))


@njit(**JIT)
def follow_probability(bp, quality, affinity, completed):
    r"""Probability that a viewer who is not yet a follower follows, given a play.

    .. math:: p_f = \sigma(\mathrm{follow\_b} + \mathrm{follow\_q}\,q + \mathrm{follow\_a}\,a
              + \mathrm{follow\_c}\,\mathrm{completed})
    """
    return _sigmoid(_follow_logit(bp, quality, _log_affinity(bp, affinity), 1.0 if completed else 0.0))


@njit(**JIT)
def open_probability(bp, quality, recipient_affinity):
    r"""Probability that a recipient opens a shared card.

    .. math:: p_o = \sigma(\mathrm{open\_b} + \mathrm{open\_q}\,q + \mathrm{open\_a}\,a_r)

    with :math:`a_r` the log of the recipient's floored affinity for the
    video's topic. Shareability plays no part.
    """
    return _sigmoid(_open_logit(bp, quality, _log_affinity(bp, recipient_affinity)))


# --- the scalar kernels ---------------------------------------------------------------

@njit(inline="always", **JIT)
def impression(bp, quality, hook, shareability, duration_s, affinity, follower, regular, k0):
    r"""Outcomes and latent value of one impression.

    With :math:`\sigma` the logistic function, :math:`q` the video's latent
    quality, :math:`a = \ln\max(\beta + (1 - \beta)\,\mathrm{affinity},\ \mathrm{affinity\_floor})`
    (:math:`\beta` = ``affinity_base``), :math:`r` = ``regular`` (0 or 1),
    :math:`d` the duration in seconds, :math:`\ell = \ln(d / 30)` and
    :math:`u_i` = ``uniform(k0, i)``:

    .. math::

       p_3 &= \sigma(\mathrm{play\_b} + \mathrm{play\_h}\,\mathrm{hook}
              + \mathrm{play\_q}\,q + \mathrm{play\_a}\,a + \mathrm{play\_r}\,r),
       \qquad \mathrm{play3} = [u_0 < p_3] \\
       p_c &= \sigma\bigl(\mathrm{complete\_b} + \mathrm{complete\_q}\,q
              + \mathrm{complete\_a}\,a + \mathrm{complete\_r}\,r
              - \mathrm{complete\_d}\,\ell + \mathrm{complete\_d\_short}\,\min(\ell, 0)\bigr),
       \qquad \mathrm{completed} = \mathrm{play3} \wedge ([d \le 3] \vee [u_1 < p_c]) \\
       p_o &= \sigma(\mathrm{loop\_b} - \mathrm{loop\_d}\,\ell),
       \qquad \mathrm{looped} = \mathrm{completed} \wedge [u_8 < p_o] \\
       x &= \min\bigl(\mathrm{loop\_median\_s}\,(u_9 / (1 - u_9))^{\mathrm{loop\_spread}},\
              \mathrm{loop\_cap}\,d\bigr) \\
       w &= \begin{cases}
              \min(3, d)\,u_2 & \text{no play} \\
              d + x & \text{looped} \\
              d & \text{completed, not looped} \\
              3 + (d - 3)\,u_2^{(1 - p_c)/\max(p_c,\,10^{-3})} & \text{otherwise}
            \end{cases} \\
       p_l &= \sigma(\mathrm{like\_b} + \mathrm{like\_q}\,q + \mathrm{like\_a}\,a
              + \mathrm{like\_c}\,\mathrm{completed}),
       \qquad \mathrm{liked} = \mathrm{play3} \wedge [u_3 < p_l] \\
       p_m &= \sigma(\mathrm{comment\_b} + \mathrm{comment\_q}\,q + \mathrm{comment\_a}\,a),
       \qquad \mathrm{commented} = \mathrm{play3} \wedge [u_4 < p_m] \\
       p_s &= \sigma(\mathrm{share\_b} + \mathrm{share\_s}\,\mathrm{shareability}
              + \mathrm{share\_q}\,q),
       \qquad \mathrm{shared} = \mathrm{play3} \wedge [u_5 < p_s] \\
       n_{\mathrm{rec}} &= 1 + \lfloor u_6\,\mathrm{share\_max\_recipients} \rfloor
       \text{ if shared, else } 0 \\
       p_f &= \sigma(\mathrm{follow\_b} + \mathrm{follow\_q}\,q + \mathrm{follow\_a}\,a
              + \mathrm{follow\_c}\,\mathrm{completed}),
       \qquad \mathrm{followed} = \mathrm{play3} \wedge \neg\mathrm{follower} \wedge [u_7 < p_f] \\
       v &= (\mathrm{value\_b} + \mathrm{value\_q}\,q + \mathrm{value\_a}\,a)
            \,\Bigl(\frac{d}{30}\Bigr)^{\mathrm{value\_d}}
            \,\frac{\min(w, d) + \mathrm{value\_loop}\,\max(w - d, 0)}{d}

    A viewer who does not play leaves within the first three seconds (or
    the whole video, if shorter) at a uniform point. A viewer who completes
    may watch on into the loop (``looped``, with probability :math:`p_o`) for
    :math:`x` seconds, a log-logistic length with median ``loop_median_s``
    whose 90th percentile is :math:`9^{\mathrm{loop\_spread}}` times the
    median; so ``watch_s`` exceeds the duration (a *replay*) with probability
    :math:`p_3\,p_c\,p_o`, which falls with the duration through
    :math:`p_c` (and through ``loop_d`` if set). The value of an impression
    is its value per full watch of a 30-second video, scaled by
    :math:`(d/30)^{\mathrm{value\_d}}` (a full watch of a longer video is
    worth more, less than in proportion when ``value_d < 1``) and by the
    share of the video watched, where a second past the end counts
    ``value_loop`` of a first-pass second (satiation). The watch time of a
    play that does not complete has mean :math:`3 + (d - 3)\,p_c` when
    :math:`p_c \ge 10^{-3}` (as :math:`E[u^e] = 1/(1+e)`) and, for a fixed
    draw, grows with :math:`p_c`. The hook enters :math:`p_3` only: given a play,
    completion, watch time and value do not depend on it, so clickbait (high
    hook, low quality) wins plays but earns little or negative value.
    Shareability enters :math:`p_s` only.

    Draw table (index ``i`` of ``uniform(k0, i)``; fixed, so the same key
    gives the same draws whatever was served):

    =====  ==============================
    i      outcome
    =====  ==============================
    0      3-second play
    1      completion
    2      watch position
    3      like
    4      comment
    5      share
    6      number of recipients
    7      follow
    8      loop (watch on past the end)
    9      seconds past the end
    10-15  reserved
    16+j   recipient j opens (:func:`recipient_opens`), j < 64
    80-    free for callers (:data:`D_FREE`)
    =====  ==============================

    Parameters
    ----------
    bp : ndarray of float64, shape (N_PARAMS,)
        From :func:`behavior_params`.
    quality, hook, shareability : float
        The video's latent traits (latent units).
    duration_s : float
        The video's length, seconds, > 0.
    affinity : float
        ``n_topics * interest[user, topic]`` (mean 1 over topics), >= 0.
    follower, regular : bool
        The user follows the creator; the user is a regular reader of the
        creator (implies ``follower``).
    k0 : uint64
        ``key(seed, STREAM_BEHAVIOR, user, day, slot)``.

    Returns
    -------
    play3, completed : bool
    watch_s : float
        Seconds watched, in ``[0, d (1 + loop_cap)]``; above ``d`` only
        after a completion (a replay).
    liked, commented, shared : bool
    n_recipients : int
        In ``1..share_max_recipients`` when shared, else 0 (the engine caps
        it by the friend count).
    followed : bool
        Always False when ``follower``.
    value : float
        Latent user value of the impression.

    Notes
    -----
    :math:`[u < \sigma(x)]` is evaluated as :math:`u\,(1 + e^{-x}) < 1` (no
    division). The batch kernel evaluates the same formulas without
    branches and with inlined polynomial exp and log (within 4e-15 relative
    of libm), so its watch time and value may differ from this function's in
    the last digits, and a decision only when a draw lies within rounding of
    its threshold (about 1e-15 per decision); tests find both identical to
    the slow twin in every decision.
    """
    # Branches skip what a row does not need (most impressions are not
    # played): the fastest form where rows are visited one by one, as in the
    # engine. sim.behavior_batch._impression_lanes is the same model without branches, for loops
    # that LLVM vectorizes. Draws are pure functions of their index, so
    # skipping one changes nothing else.
    return impression_ld(bp, quality, hook, shareability, duration_s, log_d30(duration_s), affinity, follower,
                         regular, k0)


@njit(inline="always", **JIT)
def log_d30(duration_s):
    """:math:`\\ell = \\ln(d / 30)`, as :func:`impression` computes it (callers that keep it per video pass it in)."""
    return np.log(duration_s * (1.0 / REFERENCE_DURATION_S))


@njit(inline="always", **JIT)
def impression_ld(bp, quality, hook, shareability, duration_s, ld, affinity, follower, regular, k0):
    """:func:`impression` with :math:`\\ell` = ``ld`` = :func:`log_d30` of ``duration_s`` given (the feed keeps it per video)."""
    d = duration_s
    r = 1.0 if regular else 0.0
    a = _log_affinity(bp, affinity)
    # value per second watched: (value factor) (d / 30)^value_d / d
    vps = _value_factor(bp, quality, a) * np.exp(bp[P_VALUE_D] * ld) / d
    if not _bernoulli(uniform(k0, D_PLAY), _play_logit(bp, quality, hook, a, r)):
        watch = min(PLAY_SECONDS, d) * uniform(k0, D_WATCH)
        return False, False, watch, False, False, False, 0, False, vps * watch
    if d <= PLAY_SECONDS:
        completed = True
        watch = d
    else:
        t = np.exp(-_complete_logit(bp, quality, a, r, ld))
        completed = uniform(k0, D_COMPLETE) * (1.0 + t) < 1.0
        watch = d if completed else _partial_watch(d, t, uniform(k0, D_WATCH))
    if completed and _bernoulli(uniform(k0, D_LOOP), _loop_logit(bp, ld)):
        ul = uniform(k0, D_LOOP_LEN)
        watch = d + _loop_seconds(bp, d, (ul / (1.0 - ul)) ** bp[P_LOOP_SPREAD])
    c = 1.0 if completed else 0.0
    liked = _bernoulli(uniform(k0, D_LIKE), _like_logit(bp, quality, a, c))
    commented = _bernoulli(uniform(k0, D_COMMENT), _comment_logit(bp, quality, a))
    shared = _bernoulli(uniform(k0, D_SHARE), _share_logit(bp, quality, shareability))
    n_rec = 1 + int(uniform(k0, D_RECIPIENTS) * bp[P_SHARE_MAX_RECIPIENTS]) if shared else 0
    followed = False
    if not follower:
        followed = _bernoulli(uniform(k0, D_FOLLOW), _follow_logit(bp, quality, a, c))
    return True, completed, watch, liked, commented, shared, n_rec, followed, vps * _value_seconds(bp, watch, d)


@njit(**JIT)
def recipient_opens(bp, quality, recipient_affinity, k0, j):
    r"""Whether the ``j``-th recipient of a shared card opens it.

    .. math:: \mathrm{opens} = [u_{16+j} < \sigma(\mathrm{open\_b} + \mathrm{open\_q}\,q
              + \mathrm{open\_a}\,a_r)]

    with :math:`a_r` the log of the recipient's effective affinity for the
    video's topic (``affinity_base`` added, then floored, as the viewer's).
    Shareability plays no part: share-bait earns shares that nobody opens.

    Parameters
    ----------
    bp : ndarray of float64, shape (N_PARAMS,)
        From :func:`behavior_params`.
    quality : float
        The video's latent quality.
    recipient_affinity : float
        ``n_topics * interest[recipient, topic]``, >= 0.
    k0 : uint64
        The *sharer's* impression key (``key(seed, STREAM_BEHAVIOR, user, day, slot)``).
    j : int
        Recipient index, ``0 <= j < share_max_recipients``.

    Returns
    -------
    bool
    """
    return _bernoulli(uniform(k0, D_OPEN0 + j), _open_logit(bp, quality, _log_affinity(bp, recipient_affinity)))


