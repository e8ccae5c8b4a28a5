"""The seen filter: no false negatives, the stated false-positive rate, its sizing, and its twin."""

import math

import numpy as np
import pytest

from sim import seen as S
from tests import reference_engine as ref


def filled(activity, days, slate, bits, load=1.0, seed=0):
    """A filter sized for ``activity`` with ``load`` x the items it was sized for, and the items."""
    ptr = S.filter_blocks(activity, days, slate, bits)
    words = S.new_filter(ptr)
    k = S.n_hashes(bits)
    r = np.random.default_rng(seed)
    items = []
    for u in range(len(activity)):
        n = int(load * (ptr[u + 1] - ptr[u]) * S.BLOCK_BITS / bits)
        vids = r.choice(2**31 - 1, n, replace=False)
        for v in vids:
            S.seen_add(words, ptr, u, int(v), k)
        items.append(set(int(v) for v in vids))
    return ptr, words, k, items


def test_no_false_negatives_even_overfull():
    ptr, words, k, items = filled(np.array([0.5, 3.0, 20.0]), 7, 8, 10.0, load=3.0)
    for u, vids in enumerate(items):
        assert all(S.seen_has(words, ptr, u, v, k) for v in vids)


@pytest.mark.parametrize("bits", [6.0, 10.0, 16.0])
def test_false_positive_rate_is_the_stated_one(bits):
    """Filters filled to what they were sized for: never-served videos are taken for seen at the formula's rate."""
    activity = np.full(40, 12.0)
    ptr, words, k, items = filled(activity, 10, 8, bits, seed=int(bits))
    r = np.random.default_rng(99)
    hits = trials = 0
    for u, vids in enumerate(items):
        for v in r.integers(0, 2**31 - 1, 4000):
            if int(v) in vids:
                continue
            trials += 1
            hits += S.seen_has(words, ptr, u, int(v), k)
    per_block = np.mean([len(v) for v in items]) / np.mean(np.diff(ptr))
    want = S.false_positive_rate(per_block, k)
    sd = math.sqrt(want * (1 - want) / trials)
    assert abs(hits / trials - want) < 4 * sd + 0.1 * want, (hits / trials, want)
    # and the formula itself: above the unblocked filter's (1 - e^{-k/b})^k, and small
    unblocked = (1 - math.exp(-k * per_block / S.BLOCK_BITS)) ** k
    assert unblocked < want < 2.0 * unblocked


def test_stated_default_rate():
    """The docs' figure: 10 bits per item, k = 7, 0.96 % when full."""
    assert S.n_hashes(10.0) == 7
    assert S.false_positive_rate(S.BLOCK_BITS / 10.0, 7) == pytest.approx(0.0096, abs=0.0001)
    assert [S.n_hashes(b) for b in (2.0, 8.0, 12.0, 64.0)] == [1, 6, 8, 32]


def test_filter_blocks_formula():
    act = np.array([0.0, 0.1, 6.0, 250.0])
    ptr = S.filter_blocks(act, 30, 8, 10.0)
    assert ptr.dtype == np.int64 and ptr[0] == 0
    for u, a in enumerate(act):
        lam = a * 30
        n = 8 * (lam + 3 * math.sqrt(lam) + 1)
        assert ptr[u + 1] - ptr[u] == max(1, math.ceil(n * 10.0 / 512))
    assert S.new_filter(ptr).shape == (ptr[-1] * 8,)


def test_twin_sets_the_same_bits():
    ptr = S.filter_blocks(np.array([1.0, 7.0, 40.0]), 5, 8, 10.0)
    words = S.new_filter(ptr)
    bits_set = set()
    r = np.random.default_rng(3)
    for _ in range(500):
        u, v = int(r.integers(0, 3)), int(r.integers(0, 2**31 - 1))
        S.seen_add(words, ptr, u, v, 5)
        bits_set.update(ref.seen_positions(ptr, u, v, 5))
        assert all(pos[0] in range(ptr[u], ptr[u + 1]) for pos in ref.seen_positions(ptr, u, v, 5))
    np.testing.assert_array_equal(words, ref.seen_array(bits_set, words.size))
    assert ref.seen_set(words) == bits_set
    # seen_has answers as the twin's set does, for never-added probes (stored videos: the test above)
    probes = [(int(r.integers(0, 3)), int(r.integers(0, 2**31 - 1))) for _ in range(3000)]
    want = [all(p in bits_set for p in ref.seen_positions(ptr, u, v, 5)) for u, v in probes]
    assert [bool(S.seen_has(words, ptr, u, v, 5)) for u, v in probes] == want
    # different users hash the same video to different places
    assert ref.seen_positions(ptr, 0, 12345, 5) != ref.seen_positions(ptr, 1, 12345, 5)
