r"""Users' end of day: satisfaction with novelty, interest drift, and the overnight reset of satiation.

During a day, :func:`sim._engine_kernels.serve_tick` keeps three per-user
counters of the day (structure of arrays, each row touched only by its own
user): impressions per topic (``day_topic``, the satiation count),
completions per topic (``day_done``) and the *novelty value* (``day_novelty``,
the positive latent value of each impression that was the user's first of
its topic that day). The satiated affinity, the session length and the
return draw are applied by the serving kernels; the formulas are stated
below. :func:`end_of_day` closes each user's
day, in parallel over users (each user's row is its own, so the thread count
cannot change a bit). Its slow twin is ``tests/reference_users.py``.

The parameters are fields of :class:`sim.behavior.BehaviorConfig` (the
``[behavior]`` section).

*Satiation.* Within a day, the :math:`n`-th impression of topic
:math:`t` to user :math:`u` is played through the behaviour model
(:func:`sim.behavior.impression`) with the
affinity

.. math::

    \mathrm{affinity}_{u,t,n} = n_\mathrm{topics}\,I_{u,t} \,/\, \bigl(1 + \mathrm{satiation}\,(n - 1)\bigr),

so its play, completion, like, comment, follow and value all fall with
each impression of the same topic that day (through the log-affinity
:math:`a`, which ``affinity_base`` still bounds below). The counts reset
overnight: the next day's first impression of the topic is unsatiated.
Shared cards' recipients are not satiated (an open is outside the feed).

*Interest drift.* :math:`I_u` (the interests above, rows summing to 1)
starts at the world's :math:`I^0_u`. After each day with :math:`D > 0`
completions, :math:`c_{u,t}` of them of topic :math:`t`,

.. math::

    I_{u,t} \leftarrow (1 - \eta)\,I_{u,t} + \eta\,\bigl((1 - \rho)\,c_{u,t}/D + \rho\,I^0_{u,t}\bigr)

(renormalised; :math:`\eta` = ``drift_rate``, :math:`\rho` =
``drift_anchor``). A convex mix of distributions, so interests stay
one; served one mix :math:`c` for ever, a user settles at
:math:`(1 - \rho)\,c + \rho\,I^0`, so the interests' spread across users
cannot collapse onto what the feed serves (``drift_anchor`` below 0.1
is refused with drift on).

*Satisfaction with novelty.* :math:`S_u` starts at ``satisfaction_ref``
and, after each day on which the user saw :math:`n > 0` impressions of
total latent value :math:`V`, of which the user's first impression of
each topic that day had positive values summing to :math:`N` (the
*novelty value*: what was new to the user that day), becomes

.. math::

    S_u \leftarrow (1 - \mathrm{satisfaction\_rate})\,S_u
        + \mathrm{satisfaction\_rate}\,(V + \mathrm{novelty\_weight}\,N) / n .

*Return and sessions.* User :math:`u` opens the app on day :math:`d`
with probability

.. math::

    P(\mathrm{return}_{u,d}) = \sigma\bigl(\mathrm{return\_b}
        + \mathrm{return\_v}\,(S_u - \mathrm{satisfaction\_ref})\bigr),

and, on a day they open it, makes Poisson requests at the rate of their
activity :math:`A_u` times

.. math::

    m_u = 2\,\sigma\bigl(\mathrm{session\_v}\,(S_u - \mathrm{satisfaction\_ref})\bigr) \in (0, 2),

(1 at the reference), both drawn from the user's own counter-based
streams for that day and tick, so the same draws under every policy.

Targets and where the defaults come from:

- *Retention* (share of users opening the app each day, the model's
  DAU/MAU when every user is a monthly user): target band 0.6 to 0.85.
  Public figures: Kuaishou's reported average DAU over MAU is about
  0.55 (2023 annual figures, about 383 million DAU of about 700
  million MAU); Douyin's is reported higher; an app whose users are
  all active members sits above a platform average. KuaiRand-Pure's
  user table (27,285 sampled active users) puts 65.8 % in its
  ``full_active`` degree, 22.6 % ``high_active``, 7.8 %
  ``middle_active`` and 1.4 % lower: most sampled users come almost
  every day. ``return_b = 0.85`` is the logit of 0.70 at the reference
  satisfaction, ``satisfaction_ref = 1.2`` the default world's mean
  satisfaction about ten days in. Measured on a cold 21-day run of the
  default world (12,000 users, seed 0, these defaults): mean satisfaction
  1.06 on day 3, 1.23 on day 9, 1.43 on day 20 (it climbs with the cold
  start's value per impression, 0.59 on day 0 and 1.07-1.18 in the last
  week); retention 0.70 on day 0, 0.64 at its lowest (days 3-5), 0.76 on
  day 20: inside the target band throughout. Over 60 days (same world)
  satisfaction settles near 1.6-1.7 and retention at 0.80-0.83 from day
  40 on (value per impression 1.2-1.3; interests 0.17 from where they
  started on day 59, still drifting by about 0.0015 a day), the upper
  part of the band. Value per impression grows
  with the catalogue a world offers, so a larger world's users are more
  satisfied and return more, as its engagement rates are higher; the
  reference is a level of value per impression, not a count.
- ``return_v = 2`` (kept): one unit of satisfaction is worth a factor
  :math:`e^2` in the odds of returning. Not in a public log.
- ``satiation = 0.03`` (assumption): the 11th impression of a topic in a
  day sees 0.77 of the affinity, the 34th half. SARDINE and KuaiSim model
  boredom and patience of the same kind without a published rate.
- ``drift_rate = 0.05``, ``drift_anchor = 0.5`` (assumptions, after
  RecSim's interest-evolution environment, which moves interests a
  little toward what is consumed): after 21 days users' interests are
  0.105 (total variation) from where they started.
- ``novelty_weight = 0.5`` (assumption): the day's first impression of
  each topic is worth 1.5 times its value to satisfaction; the novelty
  value is about 28 % of all value in the default world.
- ``session_v = 1`` (assumption): one unit of satisfaction above the
  reference lengthens sessions by :math:`2\sigma(1) - 1 = 46\,\%`.

The figures of this docstring were measured with the hand-set behaviour
intercepts before the default world was calibrated (commit f3db1e6; see
docs/calibration.md). With the calibrated intercepts the default world
(12,000 users, 7 days, seed 0, cold) gives like 1.62 %, follow 0.98 %,
share 0.79 %, completion of 60-120 s videos 0.291, retention 0.678 (days
1-6; 0.665-0.700 every day) and 48.9 impressions per served user-day.

With the hand-set intercepts, the default world (12,000 users, 7 days, seed 0,
cold) moves its behaviour rates little against the world before users
responded (in brackets): like 1.67 % (1.58), follow 0.53 % (0.51), share
0.53 % (0.50), completion of 60-120 s videos 0.327 (0.314); retention
0.663 (0.932; days 1-6), value per impression 0.823 (0.778), 48.5
impressions per served user-day. ``fixed_tilt`` moves the 7-day retention
by -0.10 points (before: -0.01) and the last day's by -0.27 points
(before: -0.04). Warm-started (same world, seed 0: 21 days under
``none``, then 14 measured days, as ``ranksim compare`` runs), ``fixed_tilt`` costs 1.9 % of value
per impression (1.204 against 1.227) and retention falls from 0.811 to
0.805 (-0.62 points; -0.92 points on the last day, 0.819 against 0.828).

Sensitivity of every new constant (measured: 4,000 users, 7 days, seed 0,
cold; each constant at half and twice its default, the rest at their
defaults; "all off" is satiation, drift, novelty and session response at 0).
Value per impression, retention (mean over days 1-6, and the last day),
impressions per served user-day, the novelty share of value and the
interest drift after the last day are under ``none``; the last two columns
are what ``fixed_tilt`` changes against ``none`` on the same seed
(retention in points, value per impression in per cent):

===================  ==========  =========  ========  =============  =======  =====  ===============  ===========
variant              value/imp.  retention  last day  imps/user-day  novelty  drift  tilt: retention  tilt: value
===================  ==========  =========  ========  =============  =======  =====  ===============  ===========
defaults             0.669       0.656      0.635     45.4           0.361    0.044  -0.11            +0.27
satiation x0.5       0.681       0.658      0.634     45.6           0.356    0.044  +0.10            +0.24
satiation x2.0       0.660       0.657      0.630     45.2           0.371    0.044  +0.08            +0.35
drift_rate x0.5      0.664       0.655      0.632     45.5           0.362    0.023  -0.26            -0.09
drift_rate x2.0      0.680       0.657      0.638     45.5           0.361    0.082  +0.05            +0.14
drift_anchor x0.5    0.674       0.656      0.637     45.5           0.361    0.067  +0.03            +0.14
drift_anchor x2.0    0.662       0.654      0.632     45.5           0.361    0.000  -0.06            +0.02
novelty_weight x0.5  0.672       0.638      0.607     45.4           0.360    0.043  +0.07            +0.06
novelty_weight x2.0  0.668       0.690      0.686     45.7           0.364    0.046  +0.14            +0.06
session_v x0.5       0.652       0.655      0.632     46.9           0.359    0.044  +0.09            +0.86
session_v x2.0       0.702       0.658      0.642     42.7           0.367    0.044  -0.07            -0.60
return_v x0.5        0.654       0.685      0.677     46.3           0.363    0.045  -0.04            -0.08
return_v x2.0        0.695       0.603      0.561     44.1           0.362    0.041  -0.11            +0.06
all off              0.652       0.618      0.574     49.4           0.337    0.000  +0.04            -0.00
===================  ==========  =========  ========  =============  =======  =====  ===============  ===========

Retention moves most with ``novelty_weight`` (+3.4 points at twice) and
``return_v`` (-5.3 points at twice, +2.9 at half: a steeper response to the
cold start's low satisfaction), and by 3.8 points with every response off.
``session_v`` trades session length against value per impression (longer
sessions go deeper into each user's satiated topics). Satiation moves value
per impression by -1.3 % (twice) to +1.8 % (half). The tilt's effect on
7-day retention stays within 0.3 points in every variant, of the order of
one seed's noise: on these worlds the tilt changes value per impression by
less than 1 %, and retention follows value.
"""

from __future__ import annotations

import numpy as np

from ranker._numba import JIT, PJIT, njit, prange


@njit(inline="always", **JIT)
def _drifted(i, i0, c, done, drift_rate, drift_anchor):
    """One topic's interest after the day's drift, before normalising (float64 arithmetic)."""
    target = (1.0 - drift_anchor) * (np.float64(c) / done) + drift_anchor * np.float64(i0)
    return (1.0 - drift_rate) * np.float64(i) + drift_rate * target


@njit(**PJIT)
def end_of_day(day_imps, day_value, day_topic, day_done, day_novelty, sat, interest, anchor, satisfaction_rate,
               novelty_weight, drift_rate, drift_anchor):
    r"""Close every user's day: update satisfaction and interests, then zero the day's counters.

    For user :math:`u` with :math:`n > 0` impressions today of total value
    :math:`V` and novelty value :math:`N`:

    .. math::

        S_u \leftarrow (1 - r)\,S_u + r\,(V + w_N\,N) / n

    (:math:`r` = ``satisfaction_rate``, :math:`w_N` = ``novelty_weight``);
    a user with no impression keeps :math:`S_u`. For a user with
    :math:`D = \sum_t c_{u,t} > 0` completions today, each topic's interest
    moves toward a target mixing the day's completed topic mix with the
    user's initial interests :math:`I^0` (``anchor``):

    .. math::

        T_{u,t} = (1 - \rho)\,c_{u,t} / D + \rho\,I^0_{u,t}, \qquad
        I_{u,t} \leftarrow \frac{(1 - \eta)\,I_{u,t} + \eta\,T_{u,t}}
                                {\sum_{t'} \bigl((1 - \eta)\,I_{u,t'} + \eta\,T_{u,t'}\bigr)}

    (:math:`\eta` = ``drift_rate``, :math:`\rho` = ``drift_anchor``; the
    denominator is 1 up to rounding, it only keeps the row a distribution).
    Interests are a convex mix of distributions, so they stay one; a user
    served one topic mix :math:`c` for ever ends at
    :math:`(1 - \rho)\,c + \rho\,I^0`, never further from where they started.

    Parameters
    ----------
    day_imps, day_value : float64 (n_users,)
        Impressions and summed latent value of each user today.
    day_topic, day_done : float32 (n_users, n_topics)
        Impressions and completions per topic today; zeroed here.
    day_novelty : float64 (n_users,)
        Novelty value today; zeroed here.
    sat : float64 (n_users,)
        Satisfaction, updated in place.
    interest : float32 (n_users, n_topics)
        Current interests (rows sum to 1), updated in place.
    anchor : float32 (n_users, n_topics)
        The initial interests (the world's).
    """
    n_topics = interest.shape[1]
    for u in prange(sat.shape[0]):
        n = day_imps[u]
        if n > 0:
            sat[u] = (1.0 - satisfaction_rate) * sat[u] + satisfaction_rate * (
                (day_value[u] + novelty_weight * day_novelty[u]) / n)
        done = 0.0
        for t in range(n_topics):
            done += np.float64(day_done[u, t])
        if drift_rate > 0.0 and done > 0.0:
            tot = 0.0
            for t in range(n_topics):
                tot += _drifted(interest[u, t], anchor[u, t], day_done[u, t], done, drift_rate, drift_anchor)
            for t in range(n_topics):
                interest[u, t] = _drifted(interest[u, t], anchor[u, t], day_done[u, t], done, drift_rate,
                                          drift_anchor) / tot
        for t in range(n_topics):
            day_topic[u, t] = 0.0
            day_done[u, t] = 0.0
        day_novelty[u] = 0.0
