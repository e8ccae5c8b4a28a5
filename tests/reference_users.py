r"""Slow, readable twin of ``sim.users.end_of_day``: one user at a time, on Python floats.

Per user, with :math:`n` impressions of value :math:`V` and novelty value :math:`N` today,
:math:`c_t` completions of topic :math:`t` (:math:`D = \sum_t c_t`):

- satisfaction: if :math:`n > 0`, :math:`S \leftarrow (1 - r) S + r (V + w_N N) / n`;
- drift: if ``drift_rate`` :math:`\eta > 0` and :math:`D > 0`,
  :math:`x_t = (1 - \eta) I_t + \eta ((1 - \rho) c_t / D + \rho I^0_t)` and
  :math:`I_t \leftarrow x_t / \sum x`;
- the day's counters (per-topic impressions and completions, novelty) are zeroed.

Float32 storage of the interests is imitated by rounding (``f32``).
"""

import numpy as np


def f32(x):
    return float(np.float32(x))


def end_of_day(day_imps, day_value, day_topic, day_done, day_novelty, sat, interest, anchor, satisfaction_rate,
               novelty_weight, drift_rate, drift_anchor):
    """Returns fresh ``(sat, interest)`` (lists); the day's counters are zero afterwards by definition."""
    sat_out, interest_out = [], []
    for u in range(len(sat)):
        s = float(sat[u])
        n = float(day_imps[u])
        if n > 0:
            s = (1.0 - satisfaction_rate) * s + satisfaction_rate * ((float(day_value[u]) + novelty_weight
                                                                      * float(day_novelty[u])) / n)
        row = [float(x) for x in interest[u]]
        done_row = [float(x) for x in day_done[u]]
        done = sum(done_row)
        if drift_rate > 0 and done > 0:
            x = [(1.0 - drift_rate) * row[t] + drift_rate * ((1.0 - drift_anchor) * (done_row[t] / done)
                                                             + drift_anchor * float(anchor[u][t]))
                 for t in range(len(row))]
            tot = 0.0
            for xt in x:
                tot += xt
            row = [f32(xt / tot) for xt in x]
        sat_out.append(s)
        interest_out.append(row)
    return sat_out, interest_out
