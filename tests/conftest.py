import os
from pathlib import Path

import numba
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RANKSIM_SHARED_DATA", REPO.parent / "shared" / "data"))
KUAIRAND = SHARED_DATA / "kuairand27k_explicit_kcore15" / "processed_standard_kcore_15.tsv"


@pytest.fixture
def kuairand_path():
    if not KUAIRAND.is_file():
        pytest.skip(f"shared data not present at {KUAIRAND}")
    return KUAIRAND


#: Marks a test comparing thread counts: skipped where fewer than two Numba threads exist (or the
#: JIT is off), where it would only compare one thread with one.
needs_two_threads = pytest.mark.skipif(
    numba.config.NUMBA_NUM_THREADS < 2 or numba.config.DISABLE_JIT,
    reason="needs 2 Numba threads and the JIT (one thread against one proves nothing)")
