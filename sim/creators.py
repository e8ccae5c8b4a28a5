r"""Creators who respond to what their posts get: motivation, posting effort and quitting.

Each creator carries a motivation :math:`m` and a baseline :math:`z` (its own
recent relative reach), as columns (float64, one entry per creator), updated
once a day by :func:`end_of_day`. Nothing in the rule is an absolute count:
a creator compares what its posts got with what a typical post on the
platform got the same day and with its own recent history, so a world with
four times the users and four times the creators gives the same
motivations.

The day's standing
------------------
With :math:`I_c` the impressions creator :math:`c`'s posts received today
and :math:`n_c` its live posts (posts still in the candidate window at the
day's end, a post made today counted by the share of the day it was a
candidate), the reach per post is :math:`r_c = I_c / n_c`. A creator reads
it against its peers, the active creators with at least one live post: with
:math:`\bar r` the mean of their :math:`r`, the standing

.. math::

    x_c = \ln \frac{r_c + \epsilon \bar r}{(1 + \epsilon)\, \bar r}

(:math:`\epsilon` = ``reach_smoothing``) is 0 for a creator at the mean,
:math:`\ln(\epsilon / (1 + \epsilon))` for one whose posts got nothing
(-0.69 with the default 1) and grows with the log of the reach above it.
The mean reach per post is the same in a world with four times the users
and four times the creators, so the standing does not depend on the
world's size (measured: new-creator survival over 28 days within 2.5 points
at 5,000 and 20,000 users). Against the mean, not a rank: a rank's
distribution is the same under any policy, so a policy that spreads traffic
could not change how many creators stay or how much they post; against the
mean, creators left with nothing are fewer when traffic is spread.

Expectation, surprise, motivation
---------------------------------
A creator expects a mix of its own baseline and the peers' mean (the
mean is 0 in these units); :math:`w` = ``own_weight``:

.. math::

    s_c &= x_c - w\,z_c \\
    m_c &\leftarrow (1 - \rho_m)\,m_c + \rho_m\,s_c \\
    z_c &\leftarrow (1 - \rho_z)\,z_c + \rho_z\,x_c

(:math:`\rho_m` = ``motivation_rate``, :math:`\rho_z` = ``baseline_rate``).
Both start at 0: a newcomer expects what a typical post gets. A creator
with no live post today learns nothing new (both stay). Why the whole
platform's creators and not the creator's cohort: a policy that lifts every
newcomer lifts the newcomers' median with them, so a cohort-relative rule
would cancel exactly the effect a boosting policy exists to have.

Effort (posting)
----------------
The world draws each creator's *potential* posts at ``post_potential``
(:math:`K`) times its base posting rate (:class:`sim.world.WorldConfig`).
A potential post on day :math:`d` is realised with probability

.. math::

    p(m) = \frac{1}{1 + (K - 1)\,e^{-k m}}

(:math:`k` = ``effort_slope``), decided by the uniform of the key
``(seed, STREAM_POSTING, creator, day, slot)`` (``slot``: the post's index
among the creator's potential posts that day) and the creator's motivation
at the start of the day (:func:`realise_posts`). At neutral motivation
:math:`p = 1/K`: the creator posts at its base rate; a motivated creator
posts up to :math:`K` times as often, a discouraged one less. Two policies
on one seed see the same potential posts and the same uniforms, so a
creator's realised posts differ only through the motivation the policy gave
it. Posting can never exceed the pre-drawn potential: :math:`p \le 1`.

Quitting
--------
An active creator quits at the end of day :math:`d` with probability

.. math::

    h(m) = \sigma(\mathrm{quit\_b} - \mathrm{quit\_slope}\,m)

from the uniform of ``(seed, STREAM_CREATOR, creator, day, 0)``; from its
join day on, so a newcomer can quit after its first day. A creator who quit
posts nothing more; its earlier posts stay candidates until they age out.

Where the shape comes from: EcoAgent (Zhan et al., WWW 2021) keeps a
provider's satisfaction as a decaying sum of exposure and engagement and
removes a provider whose satisfaction falls below a viability threshold;
Mladenov et al. (ICML 2020) make a provider leave when its engagement falls
below a threshold; Yao et al. (NeurIPS 2024) let creators choose how much to
produce from the traffic they expect. This model keeps the decaying state
and the exit, makes the exit a hazard (smooth, so survival differences have
tight intervals) and makes both relative, so they do not change with the
world's size.

What it reproduces of the literature
------------------------------------
Measured on the calibrated default world scaled to 2,000 users (100
creators at the start, 2 newcomers a day), 60 days from a cold start, seeds 0-4,
relevance ranking against Plackett-Luce exploration of each slate at a
temperature T (``notebooks/05_long_run``, ``tests/test_literature.py``;
means over the seeds, 95 % t intervals of the paired differences):

- *Mladenov et al. 2020 (niche creators leave; protecting them pays), not
  reproduced.* Under relevance ranking the niche third of creators (by their
  topic's share of users' interest) keeps 73.0 % of its creators and the
  broad third 69.5 %: niche minus broad +3.6 points (-3.4 to +10.6; per
  seed -5.8, +7.2, +3.3, +8.7, +4.5). Spreading traffic at T = 0.3 ends
  with as many active creators (-0.6, -2.0 to +0.8, of 153.6), niche
  survival -0.6 points (-1.7 to +0.4) and 0.9 % less cumulative user value
  (-1.8 to -0.1 %); at T = 1, +0.6 creators (-0.8 to +2.0) for 10.2 % less
  value. Why, as far as measured: topics have nearly equal audiences.
  Creators' topics are uniform and every user's interests are a symmetric
  Dirichlet draw (tilted by demographics), so a topic's share of all users'
  interest lies between 0.040 and 0.059 (uniform: 0.050); the niche third's
  topics hold 17 % less of it than the broad third's, and per creator of the
  topic 20 % less (9 to 37 % over seeds 0-4). That gap does not decide
  survival: at seed 1, where it is largest (37 %), the niche third keeps
  73.9 % against the broad third's 66.7 %, so something else (quality,
  followers, the fresh pool: not measured which) decides reach per post
  more than the topic's audience does. A third of the creators is about
  70 of them, so a third's survival carries about +-11 points of binomial
  noise. Reproducing the effect needs audiences of
  very different sizes (a skewed topic popularity, which the world does not
  have; ``tests/test_literature.py`` checks that the audiences are close)
  and a policy that reads creators' reach; the registered policies lift new
  creators, not creators at risk.
- *Yao et al. 2024 (exploration costs value now, raises production),
  the direction only.* At T = 1 the first week's value per impression
  falls 6.7 % (5.1 to 8.3 %) and the last week's posts a day rise 0.8 %
  (-0.2 to +1.7 %; up on 4 of 5 seeds); at T = 0.3, -0.9 % (-1.5 to
  -0.4 %) and -0.7 % (-2.3 to +0.9 %). Why production responds little (not
  tested): exploration moves traffic among posts that are already
  candidates, and a creator's motivation reads its reach against the mean,
  which exploration cannot raise for most creators.
"""

from __future__ import annotations

from dataclasses import dataclass

import math

import numpy as np

from ranker._numba import JIT, PJIT, njit, prange
from ranker.params import Section, param
from ranker.rng import STREAM_CREATOR, STREAM_POSTING, key, uniform

#: The posting key's day field of backlog day ``d < 0`` is ``BACKLOG_KEY_DAY - d`` (beyond any run's days).
BACKLOG_KEY_DAY = 1 << 32
#: A realised-post probability at or above this counts as posting at the potential's cap.
SATURATED_EFFORT = 0.95
#: Three-day survival at neutral motivation below which a config is refused (see CreatorConfig.check).
MIN_THREE_DAY_SURVIVAL = 0.01


@dataclass(frozen=True)
class CreatorConfig(Section):
    """How creators respond to what their posts get (the ``[creators]`` section; see :mod:`sim.creators`)."""

    motivation_rate: float = param(0.3, "float", 0.0, 1.0, lo_open=True, doc="weight of the latest day's surprise in a creator's motivation")
    baseline_rate: float = param(0.1, "float", 0.0, 1.0, lo_open=True, doc="weight of the latest day in a creator's own baseline of relative reach")
    own_weight: float = param(0.5, "float", 0.0, 1.0, doc="expectation: weight of the creator's own baseline against the platform's median post (0: peers only, 1: own history only)")
    reach_smoothing: float = param(1.0, "float", 0.0, 10.0, lo_open=True, doc="standing: reach per post is smoothed by this share of the peers' mean before the log, ln((r + e m) / ((1 + e) m)) (bounds the worst standing at ln(e / (1 + e)))")
    effort_slope: float = param(1.0, "float", 0.0, 20.0, doc="log-odds of realising a potential post per unit of motivation (0: posting does not respond)")
    quit_b: float = param(-5.0, "float", -20.0, 20.0, doc="logit of a creator's daily quit probability at neutral motivation")
    quit_slope: float = param(1.5, "float", 0.0, 20.0, doc="decrease of the quit logit per unit of motivation")

    def check(self):
        h0 = 1.0 / (1.0 + np.exp(-self.quit_b))
        if (1.0 - h0) ** 3 < MIN_THREE_DAY_SURVIVAL:
            hi = float(np.log((1.0 - MIN_THREE_DAY_SURVIVAL ** (1 / 3)) / MIN_THREE_DAY_SURVIVAL ** (1 / 3)))
            raise ValueError(
                f"The 'quit_b' parameter of CreatorConfig gives a daily quit probability of {h0:.3f} at neutral "
                f"motivation, so fewer than {MIN_THREE_DAY_SURVIVAL:.0%} of creators would be left after 3 days; "
                f"it must be at most {hi:.2f}. Got {self.quit_b!r} instead.")


@njit(**JIT)
def effort_probability(post_potential, effort_slope, motivation):
    r"""Probability that a potential post is realised: :math:`1 / (1 + (K - 1) e^{-k m})`, in (0, 1]."""
    return 1.0 / (1.0 + (post_potential - 1.0) * math.exp(-effort_slope * motivation))


def effort_probabilities(post_potential, effort_slope, motivation):
    """:func:`effort_probability` of an array of motivations (NumPy; for the run's pinned-effort warning)."""
    return 1.0 / (1.0 + (post_potential - 1.0) * np.exp(-effort_slope * np.asarray(motivation, np.float64)))


@njit(**PJIT)
def realise_posts(seed, day, post_potential, effort_slope, motivation, quit_day, video_creator, video_slot,
                  lo, hi, out):
    """Decide which of the day's potential posts (videos ``lo .. hi - 1``) are realised.

    ``out[v]`` becomes True when the creator has not quit before ``day``
    (``quit_day[c] >= day``) and ``uniform(key(seed, STREAM_POSTING, c, day, video_slot[v]), 0)``
    is below :func:`effort_probability` of the creator's motivation (a backlog day
    ``day < 0`` is keyed as ``BACKLOG_KEY_DAY - day``). Twin:
    ``tests/reference_creators.realise_posts``.
    """
    kday = day if day >= 0 else BACKLOG_KEY_DAY - day  # keys take non-negative fields
    for v in prange(lo, hi):
        c = video_creator[v]
        if quit_day[c] < day:
            out[v] = False
            continue
        p = effort_probability(post_potential, effort_slope, motivation[c])
        out[v] = uniform(key(seed, STREAM_POSTING, c, kday, video_slot[v]), 0) < p


@njit(**JIT)
def _creator_day(seed, day, reach, active, params, motivation, baseline, quit_day, standing):
    """One day's update of every active creator's state and its quit draw (see :func:`end_of_day`).

    ``reach``: float64 (n_creators,), reach per live post, NaN for a creator not compared (its state
    stays). The compared creators' mean is summed here in creator order and the log taken one creator
    at a time, so no bit depends on how NumPy vectorises a whole array (its SIMD log can differ in the
    last bit with the array's alignment). Writes each compared creator's standing into ``standing``.
    With no impression anywhere nobody is compared.
    """
    rho_m, rho_z, w_own, eps, quit_b, quit_k = params[0], params[1], params[2], params[3], params[4], params[5]
    total = 0.0
    n = 0
    for c in range(reach.shape[0]):
        if reach[c] == reach[c]:
            total += reach[c]
            n += 1
    mean = total / n if n > 0 else 0.0
    # serial (a few thousand creators: microseconds): run in parallel, the last bits of the motivation
    # differed now and then between a 2-thread process and 1-thread workers (test_real_results_identical_with_1_and_2_jobs)
    for c in range(motivation.shape[0]):
        if not active[c]:
            continue
        r = reach[c]
        if r == r and mean > 0.0:  # compared today
            x = math.log((r + eps * mean) / ((1.0 + eps) * mean))
            standing[c] = x
            s = x - w_own * baseline[c]
            motivation[c] = (1.0 - rho_m) * motivation[c] + rho_m * s
            baseline[c] = (1.0 - rho_z) * baseline[c] + rho_z * x
        h = 1.0 / (1.0 + math.exp(-(quit_b - quit_k * motivation[c])))
        if uniform(key(seed, STREAM_CREATOR, c, day, 0), 0) < h:
            quit_day[c] = day


def creator_params(cfg: CreatorConfig) -> np.ndarray:
    """The float64 vector the daily kernel reads: rates, own weight, smoothing, quit logit and slope."""
    return np.array([cfg.motivation_rate, cfg.baseline_rate, cfg.own_weight, cfg.reach_smoothing,
                     cfg.quit_b, cfg.quit_slope], np.float64)


def compared_reach(impressions, live_posts, active):
    """Reach per live post of the compared creators (active, with a live post), NaN for the others."""
    out = np.full(live_posts.shape[0], np.nan)
    sel = np.flatnonzero(active & (live_posts > 0))
    out[sel] = np.asarray(impressions, np.float64)[sel] / live_posts[sel]
    return out


def end_of_day(seed, day, impressions, live_posts, active, cfg: CreatorConfig, motivation, baseline, quit_day):
    """Update motivation and baseline of the active creators from the day's reach, then draw who quits.

    Parameters
    ----------
    seed, day : int
    impressions : ndarray of int64 or float64, shape (n_creators,)
        Impressions of each creator's posts today.
    live_posts : ndarray of float64, shape (n_creators,)
        Each creator's realised posts still in the candidate window at the day's end (a post of
        today weighted by the share of the day it was a candidate).
    active : ndarray of bool, shape (n_creators,)
        Joined and not quit (only these are updated and may quit).
    cfg : CreatorConfig
    motivation, baseline : ndarray of float64, shape (n_creators,)
        Updated in place.
    quit_day : ndarray of int32, shape (n_creators,)
        Set to ``day`` for creators who quit today.

    Returns
    -------
    ndarray of float64, shape (n_creators,)
        Each compared creator's standing :math:`x_c` (NaN for the others).
    """
    reach = compared_reach(impressions, np.asarray(live_posts, np.float64), active)
    x = np.full(reach.shape[0], np.nan)
    _creator_day(np.int64(seed), np.int64(day), reach, active, creator_params(cfg), motivation, baseline, quit_day, x)
    return x


def post_slots(video_creator, video_post_day) -> np.ndarray:
    """Each video's index among its creator's potential posts of the same day (int32), for the posting key."""
    n = video_creator.shape[0]
    if n == 0:
        return np.zeros(0, np.int32)
    order = np.lexsort((np.arange(n), video_post_day, video_creator))
    c, d = video_creator[order], video_post_day[order]
    start = np.ones(n, bool)
    start[1:] = (c[1:] != c[:-1]) | (d[1:] != d[:-1])
    first = np.maximum.accumulate(np.where(start, np.arange(n), 0))
    slot = np.empty(n, np.int32)
    slot[order] = (np.arange(n) - first).astype(np.int32)
    return slot
