import numpy as np
import pytest

from ranker import rng
from tests import reference as ref


@pytest.mark.parametrize("fields", [(0, 0, 0, 0, 0), (1, 3, 7, 2, 5), (2**63 - 1, 8, 999_999, 3649, 4095),
                                    (12345, 1, 0, 0, 1)])
def test_key_and_uniform_match_reference(fields):
    k_nb = np.uint64(rng.key(*fields))
    k_ref = ref.key(*fields)
    assert int(k_nb) == k_ref
    for k in range(20):
        assert rng.uniform(k_nb, k) == ref.uniform(k_ref, k)


def test_uniforms_are_uniform_and_distinct_by_field():
    u = np.array([rng.uniform(np.uint64(rng.key(7, 1, a, 0, 0)), 0) for a in range(20000)])
    assert 0.0 <= u.min() and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.01
    assert abs(u.var() - 1 / 12) < 0.003
    # every field matters
    base = rng.key(1, 2, 3, 4, 5)
    for alt in [(9, 2, 3, 4, 5), (1, 9, 3, 4, 5), (1, 2, 9, 4, 5), (1, 2, 3, 9, 4), (1, 2, 3, 4, 9)]:
        assert rng.key(*alt) != base


def test_poisson_mean_and_normal_moments():
    lam = 3.5
    x = np.array([rng.poisson(np.uint64(rng.key(3, 1, i, 0, 0)), 0, lam) for i in range(20000)])
    assert abs(x.mean() - lam) < 0.08
    assert abs(x.var() - lam) < 0.25
    z = np.array([rng.normal(np.uint64(rng.key(3, 2, i, 0, 0)), 0) for i in range(20000)])
    assert abs(z.mean()) < 0.03 and abs(z.std() - 1) < 0.03


@pytest.mark.parametrize("a, b", [(30.0, 70.0), (0.3, 0.7), (0.02, 5.0), (4.0, 0.5), (1.0, 1.0), (2000.0, 100.0)])
def test_beta_draws_follow_the_beta_law(a, b):
    from scipy import stats

    x = np.array([rng.beta(np.uint64(rng.key(5, 5, i, 0, 0)), 3, a, b) for i in range(4000)])
    assert x.min() >= 0 and x.max() <= 1
    assert stats.kstest(x, stats.beta(a, b).cdf).pvalue > 0.01
    # gamma draws too, through their logarithm (shapes below 1 take the boosted path)
    g = np.exp([rng.log_gamma(np.uint64(rng.subkey(np.uint64(rng.key(6, 5, i, 0, 0)), 0)), a) for i in range(4000)])
    assert stats.kstest(g, stats.gamma(a).cdf).pvalue > 0.01


def test_beta_draws_match_reference_and_use_their_own_substreams():
    from tests import reference_policies as refp

    for i, (a, b) in enumerate([(30.0, 70.0), (0.3, 0.7), (1e-6, 3.0), (5.0, 1e-9), (1e6, 1e6)]):
        k0 = rng.key(9, 5, i, 2, 1)
        for k in range(3):
            got = rng.log_beta(np.uint64(k0), k, a, b)
            assert np.isfinite(got) and got <= 0
            assert got == pytest.approx(refp.log_beta(k0, k, a, b), rel=1e-12, abs=1e-12)
            assert rng.beta(np.uint64(k0), k, a, b) == pytest.approx(np.exp(got), rel=1e-15)
    k0 = np.uint64(rng.key(1, 5, 0, 0, 0))
    assert len({rng.subkey(k0, k) for k in range(100)} | {int(k0)}) == 101
    assert rng.log_beta(k0, 0, 2.0, 3.0) != rng.log_beta(k0, 1, 2.0, 3.0)


def test_poisson_large_lambda_does_not_underflow():
    for lam in (600.0, 5000.0):
        x = np.array([rng.poisson(np.uint64(rng.key(4, 1, i, 0, 0)), 0, lam) for i in range(4000)])
        assert abs(x.mean() - lam) < 4 * np.sqrt(lam / 4000) + 0.5
        assert abs(x.std() - np.sqrt(lam)) < 0.1 * np.sqrt(lam)


@pytest.mark.parametrize("seed, stream, a, b", [(0, 0, 0, 0), (7, 3, 999_999, 29), (2**62 + 5, 10, 2**40, 2**31)])
def test_key_from_prefix_equals_key(seed, stream, a, b):
    prefix = np.uint64(rng.key_prefix(seed, stream, a, b))
    for c in (0, 1, 63, 64 * 7 + 5, 2**40 + 3):
        assert rng.key_from(prefix, c) == rng.key(seed, stream, a, b, c) == ref.key(seed, stream, a, b, c)
    # the prefix is not the key of any of its slots (the last round mixes c in)
    assert rng.key_from(prefix, 0) != rng.key_from(prefix, 1)
