"""Slow, readable references for every Numba kernel (stumpy's tests/naive.py).

Each function here computes, in plain Python, what a kernel computes; tests
compare the two over several seeds and shapes. Sections are merged from
``tests/reference_*.py`` while they are being written.
"""

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
C = (0xD1B54A32D192ED03, 0xAEF17502108EF2D9, 0xF58D8B2C6B6E8E35, 0x8CB92BA72F3D8DD7, 0xA0761D6478BD642F)


# --- ranker.rng -------------------------------------------------------------

def mix64(z):
    """SplitMix64 finaliser on Python ints."""
    z &= MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def key(seed, stream, a, b, c):
    z = mix64(seed + C[0])
    for field, const in zip((stream, a, b, c), C[1:]):
        z = mix64(z ^ ((field + const) & MASK64))
    return z


def uniform(k0, k):
    z = mix64(k0 + (k + 1) * GOLDEN)
    return (z >> 11) * 2.0 ** -53
