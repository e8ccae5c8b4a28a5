import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RANKSIM_SHARED_DATA", REPO.parent / "shared" / "data"))
KUAIRAND = SHARED_DATA / "kuairand27k_explicit_kcore15" / "processed_standard_kcore_15.tsv"


@pytest.fixture
def kuairand_path():
    if not KUAIRAND.is_file():
        pytest.skip(f"shared data not present at {KUAIRAND}")
    return KUAIRAND
