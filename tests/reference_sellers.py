r"""Slow, readable twins of ``sim.sellers`` (one creator, one row, one order at a time, Python floats).

- :func:`draw_sellers`: who sells, at which price and product quality.
- :func:`commerce_tick`: a tick's purchases, returns, complaints and ratings.
- :func:`buyer_followers`: buyers who follow the seller without being regular readers.
- :func:`assess`: the daily seller assessment from a plain list of orders.

Twins never write into their arguments: they return fresh lists.
"""

import math

from tests.reference import key, uniform

STREAM_SELLER = 13
STREAM_COMMERCE = 14
MAX_REQUESTS_PER_TICK = 64
SLATE_STRIDE = 128
I_VIDEO, I_USER, I_REQ, I_LIVE = 0, 1, 2, 4
U_POS, U_PLAY, U_COMPLETE = 0, 1, 2
F_WATCH = 2


def normal(k0, k):
    u1 = 1.0 - uniform(k0, 2 * k)
    u2 = uniform(k0, 2 * k + 1)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def draw(u, x):
    return u * (1.0 + math.exp(-x)) < 1.0  # u < sigmoid(x)


def draw_sellers(seed, creator_quality, share, price_median, price_spread, quality_corr):
    """(is_seller, price, product_quality) lists."""
    is_seller, price, pq = [], [], []
    b = math.sqrt(max(0.0, 1.0 - quality_corr ** 2))
    for c, q in enumerate(creator_quality):
        k0 = key(int(seed), STREAM_SELLER, c, 0, 0)
        sells = uniform(k0, 0) < share
        is_seller.append(sells)
        price.append(price_median * math.exp(price_spread * normal(k0, 1)) if sells else 0.0)
        pq.append(quality_corr * float(q) + b * normal(k0, 2) if sells else 0.0)
    return is_seller, price, pq


def commerce_tick(seed, day, tick, out_i, out_u, out_f, video_creator, session_creator, is_seller, price,
                  product_quality, cp):
    """One [value, returned, complaint, rating] list per row."""
    buy_b, buy_q, buy_complete, buy_live, return_b, return_q, complaint_b, complaint_q, rating_q, rating_noise = \
        [float(x) for x in cp]
    rows = []
    for row in range(len(out_i)):
        v = int(out_i[row][I_VIDEO])
        s = int(out_i[row][I_LIVE]) if len(out_i[row]) > I_LIVE else -1
        if v >= 0:
            c = int(video_creator[v])
        elif s >= 0:
            c = int(session_creator[s])
        else:
            rows.append([0.0, 0.0, 0.0, 0.0])
            continue
        if not is_seller[c] or not out_u[row][U_PLAY]:
            rows.append([0.0, 0.0, 0.0, 0.0])
            continue
        q = float(product_quality[c])
        if v >= 0:
            x = buy_b + buy_q * q + buy_complete * int(out_u[row][U_COMPLETE])
        else:
            x = buy_b + 2.0 + buy_q * q + buy_live * math.log1p(float(out_f[row][F_WATCH]) / 60.0)
        slot = (int(tick) * MAX_REQUESTS_PER_TICK + int(out_i[row][I_REQ])) * SLATE_STRIDE + int(out_u[row][U_POS])
        k0 = key(int(seed), STREAM_COMMERCE, int(out_i[row][I_USER]), int(day), slot)
        if not draw(uniform(k0, 0), x):
            rows.append([0.0, 0.0, 0.0, 0.0])
            continue
        returned = draw(uniform(k0, 1), return_b - return_q * q)
        complaint = draw(uniform(k0, 2), complaint_b - complaint_q * q)
        rating = min(5.0, max(1.0, float(math.floor(4.0 + rating_q * q + rating_noise * normal(k0, 2) + 0.5))))
        rows.append([float(price[c]), float(returned), float(complaint), rating])
    return rows


def buyer_followers(follows, regular, pairs, n_creators):
    """``follows[u]``: set of followed creators, ``regular[u]``: set of those read regularly."""
    out = [0] * n_creators
    for u, c in pairs:
        if c in follows[u] and c not in regular[u]:
            out[c] += 1
    return out


def percentile(xs, p):
    """numpy's default (linear) percentile of a non-empty list."""
    xs = sorted(xs)
    pos = (len(xs) - 1) * p / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def log_scores(xs):
    pos = [x for x in xs if x > 0]
    if not pos:
        return [0.0] * len(xs)
    ref = percentile(pos, 90.0)
    return [100.0 * min(1.0, math.log1p(x) / math.log1p(ref)) for x in xs]


def assess(orders, day, window, sellers, regular_readers, follows, regular, prior, weights):
    """``orders``: dicts with day, user, seller, value, returned, complaint, rating. Returns per-seller dicts."""
    recent = [o for o in orders if day - window < o["day"] <= day]
    settled, eff, sell = [], [], []
    for c in sellers:
        mine = [o for o in recent if o["seller"] == c]
        settled.append(sum(o["value"] for o in mine if not o["returned"]))
        buyers = {o["user"] for o in mine}
        eff.append(regular_readers[c] + sum(1 for u in buyers if c in follows[u] and c not in regular[u]))
        n = len(mine) + prior
        if n > 0:
            rating = (sum(o["rating"] for o in mine) + prior * 4.0) / n
            ret = (sum(1 for o in mine if o["returned"]) + prior * 0.15) / n
            comp = (sum(1 for o in mine if o["complaint"]) + prior * 0.02) / n
        else:
            rating, ret, comp = 4.0, 0.15, 0.02
        sell.append(100.0 * (0.5 * (rating - 1.0) / 4.0 + 0.25 * (1.0 - ret) + 0.25 * (1.0 - comp)))
    gs, es = log_scores(settled), log_scores(eff)
    wg, ws, wf = weights
    return [dict(creator_id=c, settlement_gmv=settled[i], gmv_score=gs[i], selling_score=sell[i],
                 effective_followers_score=es[i], seller_score=wg * gs[i] + ws * sell[i] + wf * es[i])
            for i, c in enumerate(sellers)]
