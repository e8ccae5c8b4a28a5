"""The live rows' cross-user kernel (phase 2 of a tick for live rooms; see sim._engine_kernels.apply_tick).

Kept apart from ``sim._engine_kernels`` (which imports ``sim.live``) so that ``sim.live`` never imports the
engine's kernels.
"""

import numpy as np

from ranker._numba import JIT, njit
from sim._engine_kernels import (F_GIFT, F_VALUE, F_WATCH, I_EVICTED, I_LIVE, I_USER, RR_UNCHANGED, U_COMMENT,
                                 U_EVICTED_RR, U_FOLLOWED, U_LIKE, U_NOPEN, U_NREC, U_PLAY, U_RR_CHANGE, U_SHARE)
from sim.live import (LC_COMMENTS, LC_ENTRIES, LC_FOLLOWS, LC_GIFT_VALUE, LC_GIFTS, LC_IMPRESSIONS, LC_LIKES,
                      LC_MINUTES, LC_SHARE_OPENS, LC_SHARE_RECIPIENTS, LC_SHARES, LC_VALUE)


@njit(**JIT)
def apply_live(out_i, out_f, out_u, session_creator, counters, creator_counts, user_day):
    """The live rows' cross-user effects, in row order: the sessions' counters, creators' followers and
    regular readers (a follow from a room, an eviction), and each viewer's impressions and value today.
    Live impressions are not counted in ``creator_counts[:, 2]`` (impressions today, which drives
    the creators' posting motivation: that stays about posts). Returns the number of live rows."""
    n = 0
    for row in range(out_i.shape[0]):
        s = out_i[row, I_LIVE]
        if s < 0:
            continue
        n += 1
        counters[s, LC_IMPRESSIONS] += 1.0
        counters[s, LC_ENTRIES] += out_u[row, U_PLAY]
        counters[s, LC_MINUTES] += np.float64(out_f[row, F_WATCH]) / 60.0
        counters[s, LC_LIKES] += out_u[row, U_LIKE]
        counters[s, LC_COMMENTS] += out_u[row, U_COMMENT]
        g = out_f[row, F_GIFT]
        counters[s, LC_GIFTS] += g > 0.0
        counters[s, LC_GIFT_VALUE] += g
        counters[s, LC_SHARES] += out_u[row, U_SHARE]
        counters[s, LC_SHARE_RECIPIENTS] += out_u[row, U_NREC]
        counters[s, LC_SHARE_OPENS] += out_u[row, U_NOPEN]
        counters[s, LC_FOLLOWS] += out_u[row, U_FOLLOWED]
        counters[s, LC_VALUE] += out_f[row, F_VALUE]
        c = session_creator[s]
        creator_counts[c, 0] += out_u[row, U_FOLLOWED]
        creator_counts[c, 1] += np.int64(out_u[row, U_RR_CHANGE]) - RR_UNCHANGED
        ev = out_i[row, I_EVICTED]
        if ev >= 0:
            creator_counts[ev, 0] -= 1
            if out_u[row, U_EVICTED_RR]:
                creator_counts[ev, 1] -= 1
        u = out_i[row, I_USER]
        user_day[u, 0] += 1.0
        user_day[u, 1] += out_f[row, F_VALUE]
    return n
