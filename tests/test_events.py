"""The event log's layout and self-description: day partitions, field and run metadata, every reader."""

import json
import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from sim import __version__
from sim.config import Config
from sim.engine import simulate
from sim.events import EVENT_COLUMNS, EVENT_FIELDS, events_dataset, read_events
from sim.world import WorldConfig

TINY_WORLD = WorldConfig(n_users=300, n_creators=40, new_creators_per_day=3, friends_mean=5.0, follows_mean=3.0)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    cfg = Config().replace(world=TINY_WORLD).with_overrides(
        policy="ucb", policy_params={"c": 2.5}, days=3, seed=7, log_sample=1.0)
    return simulate(cfg, tmp_path_factory.mktemp("ev") / "run", progress=False)


def test_one_file_per_day_in_padded_hive_directories(run):
    files = sorted(p.relative_to(run.out_dir).as_posix() for p in (run.out_dir / "events").rglob("*") if p.is_file())
    assert files == [f"events/day={d:04d}/part-0.parquet" for d in range(3)]
    # one row group per tick with rows
    f = pq.ParquetFile(run.out_dir / "events/day=0001/part-0.parquet")
    assert f.metadata.num_row_groups == run.config.feed.ticks_per_day
    assert "day" not in f.schema_arrow.names  # the partition column lives in the directory name


def test_every_field_has_unit_and_description(run):
    f = pq.ParquetFile(run.out_dir / "events/day=0000/part-0.parquet")
    want = {name: (typ, unit, doc) for name, typ, unit, doc in EVENT_FIELDS}
    assert f.schema_arrow.names == list(EVENT_COLUMNS[1:])
    for field in f.schema_arrow:
        _, unit, doc = want[field.name]
        assert field.metadata == {b"unit": unit.encode(), b"description": doc.encode()}
    assert len(set(d for *_, d in EVENT_FIELDS)) == len(EVENT_FIELDS)  # no copy-pasted description


def test_file_metadata_names_the_run(run):
    toml = (run.out_dir / "config.toml").read_text()
    for d in range(3):
        meta = pq.read_schema(run.out_dir / f"events/day={d:04d}/part-0.parquet").metadata
        meta = {k.decode(): v.decode() for k, v in meta.items() if not k.startswith(b"ARROW:")}
        assert meta == {
            "ranksim.version": __version__, "ranksim.policy": "ucb",
            "ranksim.policy_params": json.dumps(dict(run.config.policy.params), sort_keys=True),
            "ranksim.ranker": "hand", "ranksim.seed": "7", "ranksim.log_sample": "1.0",
            "ranksim.config_sha256": hashlib.sha256(toml.encode()).hexdigest(), "ranksim.config": toml,
            "ranksim.day": str(d)}
    assert json.loads(meta["ranksim.policy_params"])["c"] == 2.5


def test_events_dataset_is_ordered_and_typed(run):
    t = events_dataset(run.out_dir).to_table()
    assert t.schema.names == list(EVENT_COLUMNS) and t.schema.field("day").type == pa.int32()
    assert t.num_rows == run.impressions  # log_sample = 1: every impression
    key = np.lexsort([t[c].to_numpy() for c in ("position", "request_id", "tick", "day")])
    assert np.array_equal(key, np.arange(t.num_rows))  # already in (day, tick, request, position) order
    assert set(t["day"].to_numpy()) == {0, 1, 2}
    # the same through the events directory itself, and as pandas
    assert events_dataset(run.out_dir / "events").to_table().equals(t)
    df = read_events(run.out_dir)
    assert list(df.columns) == list(EVENT_COLUMNS) and df["day"].dtype == np.int32 and len(df) == t.num_rows


def test_plain_readers_see_one_dataset(run):
    ev = run.out_dir / "events"
    want = events_dataset(ev).to_table()
    got = ds.dataset(ev, format="parquet", partitioning="hive").to_table()
    assert got.select(EVENT_COLUMNS).cast(want.schema).equals(want)
    import pandas as pd

    df = pd.read_parquet(ev)
    assert len(df) == want.num_rows
    assert np.array_equal(df["day"].astype(int).to_numpy(), want["day"].to_numpy())
    assert np.array_equal(df["watch_s"].to_numpy(), want["watch_s"].to_numpy())


def test_duckdb_reads_the_dataset(run):
    duckdb = pytest.importorskip("duckdb")
    ev = run.out_dir / "events"
    want = events_dataset(ev).to_table()
    con = duckdb.connect()
    rows = con.execute(f"SELECT day, count(*), sum(watch_s::DOUBLE), sum(request_id) FROM "
                       f"read_parquet('{ev}/**/*.parquet', hive_types = {{'day': INTEGER}}) GROUP BY day ORDER BY day").fetchall()
    d = want["day"].to_numpy()
    for day, n, watch, req in rows:
        sel = d == day
        assert n == sel.sum() and req == want["request_id"].to_numpy()[sel].sum()
        assert watch == pytest.approx(want["watch_s"].to_numpy()[sel].astype(np.float64).sum())
    assert [r[0] for r in rows] == [0, 1, 2]
    kv = con.execute(f"SELECT value FROM parquet_kv_metadata('{ev}/day=0000/part-0.parquet') "
                     "WHERE key = 'ranksim.policy'").fetchall()
    assert kv == [(b"ucb",)]


def test_polars_reads_the_dataset(run):
    pl = pytest.importorskip("polars")
    ev = run.out_dir / "events"
    want = events_dataset(ev).to_table()
    df = pl.read_parquet(f"{ev}/**/*.parquet", hive_partitioning=True)
    assert df.height == want.num_rows
    assert df["day"].to_numpy().tolist() == want["day"].to_numpy().tolist()
    assert df["video_id"].to_numpy().tolist() == want["video_id"].to_numpy().tolist()


def test_missing_log_says_where(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such directory"):
        events_dataset(tmp_path / "nope")
