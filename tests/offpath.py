"""Digest of a small run's outputs, for the live-and-sellers-off test (tests/test_live_off.py).

The digest covers what a run writes that the engine decides: ``metrics.json``,
``config.toml`` and every event file's columns (names, Arrow types and values)
and key-value metadata, without ``ranksim.version`` (a release bump is not a
change of the engine). ``python -m tests.offpath`` prints the digests of the
pinned runs; run it on the commit before a change to pin them.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from sim.config import Config
from sim.world import WorldConfig

SMALL_WORLD = WorldConfig(n_users=600, n_creators=80, new_creators_per_day=4, friends_mean=6.0, follows_mean=4.0)
#: (policy, days, warm-up days, seed) of the pinned runs
RUNS = (("none", 3, 1, 3), ("fixed_tilt", 3, 0, 4))


def small_config(policy, days, warm, seed) -> Config:
    return Config().replace(world=SMALL_WORLD).with_overrides(policy=policy, days=days, warmup_days=warm, seed=seed)


def run_digest(out_dir) -> str:
    import pyarrow.parquet as pq

    out = Path(out_dir)
    h = hashlib.sha256()
    for name in ("config.toml", "metrics.json"):
        h.update(name.encode())
        h.update((out / name).read_bytes())
    for p in sorted((out / "events").rglob("*.parquet")):
        t = pq.read_table(p, partitioning=None)
        h.update(str(p.relative_to(out)).encode())
        meta = dict(t.schema.metadata or {})
        meta.pop(b"ranksim.version", None)
        for k in sorted(meta):
            h.update(k + b"=" + meta[k])
        for f, col in zip(t.schema, t.columns):
            h.update(f"{f.name}:{f.type}".encode())
            for chunk in col.chunks:
                for buf in chunk.buffers():
                    if buf is not None:
                        h.update(buf.to_pybytes())
    return h.hexdigest()


def digests(tmp) -> dict:
    from sim.engine import simulate

    out = {}
    for policy, days, warm, seed in RUNS:
        d = Path(tmp) / f"{policy}-{seed}"
        simulate(small_config(policy, days, warm, seed), d, progress=False)
        out[policy] = run_digest(d)
    return out


if __name__ == "__main__":  # pragma: no cover
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for k, v in digests(tmp).items():
            print(k, v)
    sys.exit(0)
