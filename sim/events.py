"""The impression log of a run: a Parquet dataset partitioned by day, that describes itself.

Layout: ``RUN/events/day=NNNN/part-0.parquet``, one file per simulated day
(one row group per tick), Hive-style, so pandas, pyarrow, polars, DuckDB and
Spark read the directory as one table with a ``day`` column taken from the
directory names. The day number is zero-padded to four digits (days are at
most 3650), so every reader lists the files, and hence the rows, in day order.

Every file says what it holds:

- each column's Arrow field metadata has ``unit`` and ``description``
  (:data:`EVENT_FIELDS`);
- the file's key-value metadata names the run: ``ranksim.version``,
  ``ranksim.policy``, ``ranksim.policy_params`` (JSON), ``ranksim.ranker``,
  ``ranksim.seed``, ``ranksim.day``, ``ranksim.config_sha256`` (of the
  ``config.toml`` text beside it) and ``ranksim.config`` (that text).

Read it with :func:`events_dataset` (``day`` as int32), or directly::

    pandas.read_parquet("RUN/events")             # day as a categorical
    pyarrow.dataset.dataset("RUN/events", partitioning="hive")
    polars.scan_parquet("RUN/events/**/*.parquet")
    duckdb.sql("SELECT * FROM read_parquet('RUN/events/**/*.parquet', hive_types = {'day': INTEGER})")

(DuckDB reads a zero-padded partition value as text unless told its type.)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

#: ``(name, Arrow type name, unit, description)`` of every column, in file order.
#: ``day`` is the partition column: in the directory names, not inside the files.
EVENT_FIELDS = (
    ("day", "int32", "day", "simulated day, counted from 0 (the partition: events/day=NNNN/)"),
    ("tick", "int16", "tick", "tick within the day, from 0 to feed.ticks_per_day - 1"),
    ("request_id", "int64", "id", "one feed refresh, unique within the run"),
    ("user_id", "int32", "id", "the viewer: row index into the world's user arrays"),
    ("video_id", "int32", "id", "the post: row index into the world's video arrays"),
    ("creator_id", "int32", "id", "the post's creator: row index into the world's creator arrays"),
    ("position", "int16", "slot", "slot in the slate, 0 = top"),
    ("source", "int8", "code",
     "candidate source: 0 followed creator, 1 opened share, 2 interest retrieval, 3 fresh pool"),
    ("score", "float", "score", "the ranker's score, the policy's boost included"),
    ("boost", "float", "score", "the policy's additive boost"),
    ("affinity", "float", "log-lift", "the logged topic affinity the ranker used"),
    ("duration_s", "float", "s", "video length"),
    ("creator_age_days", "float", "day",
     "days since the creator joined (established creators count as 365 at day 0)"),
    ("is_new_creator", "bool", "flag", "the creator is younger than feed.new_creator_days"),
    ("is_ai_labeled", "bool", "flag", "the post carries the AI-generated label"),
    ("regular_reader", "bool", "flag", "the viewer was a regular reader of the creator when served"),
    ("follower", "bool", "flag", "the viewer followed the creator when served"),
    ("play_3s", "bool", "flag", "the viewer stayed past 3 seconds"),
    ("completed", "bool", "flag", "the viewer watched to the end"),
    ("watch_s", "float", "s", "seconds watched"),
    ("liked", "bool", "flag", "the viewer liked the post"),
    ("commented", "bool", "flag", "the viewer commented"),
    ("shared", "bool", "flag", "the viewer shared the post to friends"),
    ("share_recipients", "int8", "count", "friends the share went to"),
    ("share_opens", "int8", "count", "recipients who opened the share"),
    ("followed", "bool", "flag", "the viewer followed the creator on this impression"),
    ("latent_value", "float", "value",
     "ground-truth user value of the impression (the ranker never sees it)"),
)

#: Column names, in order (``day`` first, as in a read of the whole dataset by :func:`events_dataset`).
EVENT_COLUMNS = tuple(f[0] for f in EVENT_FIELDS)

#: The column runs that explore add after ``boost`` (``[loop] explore``); absent otherwise, so a run
#: without exploration writes exactly the columns above.
PROPENSITY_FIELD = ("propensity", "float", "probability",
                    "probability that the serving policy gave this slot this video, given the slots above it "
                    "(1 when the top k is served; the running product over a request's positions is the "
                    "cascade propensity of slate off-policy estimators)")


#: The columns runs with live rooms or sellers (``[live]``/``[sellers]`` enabled) add at the end; absent
#: otherwise. A live row has ``video_id`` -1, ``play_3s`` = entered, ``watch_s`` = seconds stayed and
#: ``duration_s`` = the session's length (sim.live).
EXTRA_FIELDS = (
    ("item_kind", "int8", "code", "0 a video, 1 a live room"),
    ("live_session_id", "int32", "id", "the live session of a live row (-1 for a video)"),
    ("gift_value", "float", "yuan", "value of the gifts the viewer sent in the live room (0 for a video)"),
    ("order_value", "float", "yuan", "value of the order the impression brought (0: none)"),
    ("order_returned", "bool", "flag", "the order was returned and refunded (not in settlement GMV)"),
)


def event_fields(propensity: bool = False, extra: bool = False) -> tuple:
    """:data:`EVENT_FIELDS`, with :data:`PROPENSITY_FIELD` after ``boost`` when ``propensity``, and
    :data:`EXTRA_FIELDS` at the end when ``extra`` (live rooms or sellers on)."""
    out = EVENT_FIELDS
    if propensity:
        i = EVENT_COLUMNS.index("boost") + 1
        out = EVENT_FIELDS[:i] + (PROPENSITY_FIELD,) + EVENT_FIELDS[i:]
    return out + EXTRA_FIELDS if extra else out

#: Width of the zero-padded day in the partition directory names (``RunConfig.days`` <= 3650).
DAY_DIGITS = 4


def _arrow_type(name: str):
    import pyarrow as pa

    return {"int8": pa.int8(), "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64(),
            "float": pa.float32(), "bool": pa.bool_()}[name]


def _field(name, typ, unit, doc):
    import pyarrow as pa

    return pa.field(name, _arrow_type(typ), metadata={"unit": unit, "description": doc})


def day_partitioning():
    """The Hive partitioning of the log: ``day=NNNN`` directories, ``day`` read as int32."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    return ds.partitioning(pa.schema([_field(*EVENT_FIELDS[0])]), flavor="hive")


def file_schema(metadata: dict | None = None, propensity: bool = False, extra: bool = False):
    """The Arrow schema of one day's file (every column but ``day``), with field and run metadata;
    ``propensity``: with the exploring runs' column; ``extra``: with :data:`EXTRA_FIELDS`."""
    import pyarrow as pa

    return pa.schema([_field(*f) for f in event_fields(propensity, extra)[1:]], metadata=metadata)


def run_metadata(cfg) -> dict:
    """File metadata naming the run of ``cfg`` (a :class:`sim.config.Config`), as ``str -> str``."""
    from sim import __version__

    toml = cfg.to_toml()
    rk = cfg.ranker
    return {
        "ranksim.version": __version__,
        "ranksim.policy": cfg.policy.name,
        "ranksim.policy_params": json.dumps(dict(cfg.policy.params), sort_keys=True),
        "ranksim.ranker": rk.kind + (f":{rk.model_dir}" if rk.model_dir else ""),
        "ranksim.seed": str(cfg.run.seed),
        "ranksim.log_sample": repr(float(cfg.run.log_sample)),
        "ranksim.config_sha256": hashlib.sha256(toml.encode("utf-8")).hexdigest(),
        "ranksim.config": toml,
    }


def day_dir(events_dir, day: int) -> Path:
    """``events_dir/day=NNNN``."""
    return Path(events_dir) / f"day={int(day):0{DAY_DIGITS}d}"


class EventWriter:
    """Writes the log day by day: one Parquet file per day, one row group per tick.

    Parameters
    ----------
    path : path-like
        The ``events`` directory (created).
    cfg : Config
        The run's config, named in every file's metadata.
    """

    def __init__(self, path, cfg):
        import pyarrow  # noqa: F401  (fail early if missing)

        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.meta = run_metadata(cfg)
        self.propensity = cfg.loop.exploring
        self.extra = cfg.live.enabled or cfg.sellers.enabled
        self.day = None
        self._writer = None
        self.n_files = 0
        self.n_rows = 0

    def write(self, day: int, columns: dict) -> None:
        """Append one tick's rows of ``day``: ``columns`` maps every name of :data:`EVENT_COLUMNS` but ``day``
        (and ``propensity`` when the run explores) to a 1-d array of the field's type."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        n = len(next(iter(columns.values())))
        if n == 0:
            return
        if day != self.day:
            self.close()
            schema = file_schema({**self.meta, "ranksim.day": str(int(day))}, self.propensity, self.extra)
            d = day_dir(self.path, day)
            d.mkdir(exist_ok=True)
            self._writer = pq.ParquetWriter(d / "part-0.parquet", schema, compression="zstd")
            self._schema = schema
            self.day = day
            self.n_files += 1
        # from_arrays checks each array against the schema's type: no silent cast
        table = pa.Table.from_arrays([pa.array(columns[f.name]) for f in self._schema], schema=self._schema)
        self._writer.write_table(table)
        self.n_rows += n

    def close(self) -> None:
        """Finish the open day's file (idempotent)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def events_dataset(path):
    """The log as one ``pyarrow.dataset.Dataset`` (``day`` as int32, the first column).

    Parameters
    ----------
    path : path-like
        ``RUN/events`` or the run directory ``RUN``.
    """
    import pyarrow as pa
    import pyarrow.dataset as ds

    p = Path(path)
    if (p / "events").is_dir():
        p = p / "events"
    if not p.is_dir():
        raise FileNotFoundError(f"{path}: no such directory (expected RUN or RUN/events)")
    part = day_partitioning()
    found = ds.dataset(str(p), format="parquet", partitioning=part)
    day = part.schema.field("day")
    schema = pa.schema([day] + [f for f in found.schema if f.name != "day"], metadata=found.schema.metadata)
    return ds.dataset(str(p), format="parquet", partitioning=part, schema=schema)


def read_events(path, columns=None):
    """The log as a ``pandas.DataFrame`` in day, tick, request and position order.

    Parameters
    ----------
    path : path-like
        ``RUN/events`` or the run directory ``RUN``.
    columns : list of str, optional
        Columns to read (default: all of :data:`EVENT_COLUMNS`).
    """
    return events_dataset(path).to_table(columns=columns).to_pandas()


def extra_columns(cols, oi, of, w, lv, sellers, rows, t_days, new_days):
    """Complete a tick's event columns for a run with live rooms or sellers (:data:`EXTRA_FIELDS`):
    a live row's creator, length, age and flags from its session; the item kind, session, gifts and orders."""
    import numpy as np

    from sim import _engine_kernels as K
    from sim import sellers as SL
    from sim.metrics import creator_age_days

    n = oi.shape[0]
    s = oi[:, K.I_LIVE] if lv is not None else np.full(n, -1, np.int32)
    live = s >= 0
    if live.any():
        ss = s[live]
        c = lv.creator[ss]
        cols["creator_id"] = np.where(live, 0, cols["creator_id"]).astype(np.int32)
        cols["creator_id"][live] = c
        cols["duration_s"] = cols["duration_s"].copy()
        cols["duration_s"][live] = ((lv.end_h[ss] - lv.start_h[ss]) * 3600.0).astype(np.float32)
        age = creator_age_days(w.creator_join_day[c], t_days).astype(np.float32)
        cols["creator_age_days"] = cols["creator_age_days"].copy()
        cols["creator_age_days"][live] = age
        cols["is_new_creator"] = cols["is_new_creator"].copy()
        cols["is_new_creator"][live] = age < new_days
        cols["is_ai_labeled"] = np.where(live, False, cols["is_ai_labeled"])
    cols["item_kind"] = live.astype(np.int8)
    cols["live_session_id"] = s.astype(np.int32)
    cols["gift_value"] = of[:, K.F_GIFT].astype(np.float32)
    if sellers is not None:
        o = sellers.last_rows(rows)
        cols["order_value"] = o[:, SL.O_VALUE].astype(np.float32)
        cols["order_returned"] = o[:, SL.O_RETURNED] > 0
    else:
        cols["order_value"] = np.zeros(n, np.float32)
        cols["order_returned"] = np.zeros(n, np.bool_)
