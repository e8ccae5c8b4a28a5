r"""Checks made before any work, and the rules for what a run may replace.

A run is refused before its world is built when it could not finish or would
destroy something that is not ours:

- **Output directory** (:func:`prepare_run_dir`). ``--out`` must not be the
  current directory or one of its parents, nor an existing file. An existing
  non-empty directory is replaced only with ``--overwrite`` and only if it is
  a ranksim run (:func:`is_run_dir`: a ``config.toml`` that loads as a
  ranksim config, beside ``metrics.json`` or an ``INCOMPLETE`` marker). Its
  parent must be writable.
- **One writer per output** (:class:`OutputLock`). A run takes an exclusive
  ``flock`` on ``.<name>.lock`` beside its directory (``compare`` on
  ``DIR/.ranksim-compare.lock``) for its whole length; a second run into
  the same place fails at once, naming the process that holds it.
- **Stranded partial output** (:func:`clean_stale_partials`). A run writes
  into a hidden ``.<name>.partial-<pid>-*`` sibling and renames it into place
  at the end. A partial whose name's lock nobody holds belongs to a process
  that is gone; it is removed at the next run in that directory, and the run
  says what it removed.
- **Memory** (:func:`check_memory`). The big arrays of a run are counted from
  the config (:func:`estimate_memory`); a config whose estimate exceeds the
  machine's memory (physical memory, or the cgroup's limit when lower) is
  refused, naming the estimate and its largest parts.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
from pathlib import Path

#: Entries that make a directory a ranksim run (with a loadable ``config.toml``).
RUN_MARKERS = ("metrics.json", "INCOMPLETE")
COMPARE_LOCK = ".ranksim-compare.lock"


class OutputBusy(RuntimeError):
    """Another live process writes the same output: a runtime failure (exit 1)."""


class MemoryEstimateError(ValueError):
    """The config asks for more memory than the machine has (a usage error, exit 2)."""


# --- output directories ----------------------------------------------------------------------


def is_run_dir(path) -> bool:
    """Whether ``path`` holds a ranksim run: ``config.toml`` that loads, plus ``metrics.json`` or ``INCOMPLETE``."""
    from sim.config import load_config

    d = Path(path)
    if not (d / "config.toml").is_file() or not any((d / m).is_file() for m in RUN_MARKERS):
        return False
    try:
        load_config(d / "config.toml")
    except (OSError, ValueError, TypeError):
        return False
    return True


def _contains_cwd(out: Path) -> bool:
    try:
        cwd = Path.cwd().resolve()
    except OSError:
        return False
    o = out.resolve()
    return cwd == o or o in cwd.parents


def prepare_run_dir(out_dir, overwrite: bool) -> Path:
    """Check ``--out`` of one run before any work; return it as an absolute path.

    Raises
    ------
    ValueError
        ``out_dir`` is the current directory or one of its parents.
    FileExistsError
        It is a file; or a non-empty directory without ``overwrite``; or,
        with ``overwrite``, a non-empty directory that is not a ranksim run.
    PermissionError
        Its parent cannot be written.
    """
    out = Path(os.path.abspath(os.fspath(out_dir)))
    if _contains_cwd(out):
        raise ValueError(f"--out {os.fspath(out_dir)!r} is the current directory or one of its parents; a run "
                         "replaces its output directory, so name a new one (e.g. --out run1).")
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise FileExistsError(f"--out {os.fspath(out_dir)!r} exists and is not a directory; "
                                  "name a directory (new, empty, or a run to replace with --overwrite).")
        if any(out.iterdir()):
            if not overwrite:
                raise FileExistsError(f"Output directory {os.fspath(out_dir)!r} exists and is not empty; "
                                      "choose another --out or pass --overwrite.")
            if not is_run_dir(out):
                raise FileExistsError(
                    f"Output directory {os.fspath(out_dir)!r} is not a ranksim run (no config.toml with "
                    "metrics.json); --overwrite only replaces a run directory or an empty one, so nothing "
                    "was deleted. Choose another --out.")
    parent = out.parent
    anc = parent
    while not anc.exists():
        anc = anc.parent
    if not anc.is_dir():
        raise FileExistsError(f"--out {os.fspath(out_dir)!r}: {anc} is a file, not a directory.")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, f"--out {os.fspath(out_dir)!r}: cannot write in {anc} "
                                            "(permission denied)")
    return out


class OutputLock:
    """An exclusive, non-blocking ``flock`` on a lock file, held while a run writes.

    Parameters
    ----------
    path : path
        The lock file (created; removed on release).
    what : str
        The output it protects, for the message.
    """

    def __init__(self, path, what: str):
        self.path = Path(path)
        self.what = what
        self.fd = None

    def acquire(self, blocking: bool = False) -> "OutputLock":
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                try:
                    holder = os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
                finally:
                    os.close(fd)
                raise OutputBusy(f"another ranksim process (pid {holder}) is writing {self.what}; "
                                 "wait for it to finish or choose another --out") from None
            # the file may have been unlinked by its last holder between our open and our lock
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.write(fd, str(os.getpid()).encode())
                self.fd = fd
                return self
            os.close(fd)

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        os.close(self.fd)
        self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def lock_path(out: Path) -> Path:
    return out.parent / f".{out.name}.lock"


def clean_stale_partials(parent, *, report=print) -> list[Path]:
    """Remove ``.<name>.partial-*`` and ``.<name>.old-*`` in ``parent`` whose writer is gone.

    A writer holds ``.<name>.lock`` while it runs; a partial whose lock can be
    taken has no live writer. Returns the paths removed (each reported).
    """
    parent = Path(parent)
    removed = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    for p in entries:
        name = p.name
        if not name.startswith(".") or not p.is_dir() or p.is_symlink():
            continue
        for tag in (".partial-", ".old-"):
            i = name.rfind(tag)
            if i > 1:
                target = name[1:i]
                break
        else:
            continue
        lock = OutputLock(parent / f".{target}.lock", str(parent / target))
        try:
            lock.acquire()
        except (OutputBusy, OSError):
            continue  # a live run (or we cannot tell): leave it
        try:
            shutil.rmtree(p)
            removed.append(p)
            if report is not None:
                report(f"ranksim: removed stale partial output {p} (the process that wrote it is gone)")
        except OSError:
            pass
        finally:
            lock.release()
    return removed


# --- memory ---------------------------------------------------------------------------------------


def machine_memory() -> int:
    """Bytes of memory this process may use: physical memory, or the cgroup limit when lower."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 1 << 62
    for f in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            v = Path(f).read_text().strip()
        except OSError:
            continue
        if v.isdigit() and 0 < int(v) < total:
            total = int(v)
    return total


def estimate_memory(cfg) -> dict:
    """Bytes of the largest arrays a run of ``cfg`` holds at once, by part (a lower bound).

    Users: topic interests (the world's and the run's drifting copy) and the
    four topic counters (two logged, two of the day, :mod:`sim.users`; 4 bytes
    per topic each), the seen filters (a user of mean activity's filter, sized by
    :func:`sim.seen.filter_blocks`: ``feed.seen_bits_per_item`` bits per
    expected impression plus a margin for Poisson requests), the share inbox, friend
    lists (both directions, 4 bytes per edge) and follow slots (9 bytes per
    slot). Videos: the per-video counters (``N_VC`` float64), the feed's
    per-tick records (64 + 16 bytes a video) and the world's per-video columns (every potential post:
    ``post_potential`` times the posting rate). Creators: their state.
    """
    from sim._engine_kernels import N_VC
    from sim.seen import filter_blocks

    w, f, r = cfg.world, cfg.feed, cfg.run
    U = w.n_users
    C = w.n_creators + w.new_creators_per_day * r.simulated_days
    V = C * w.posts_per_day_mean * w.post_potential * (r.simulated_days + w.backlog_days)
    friends = min(w.friends_mean, w.friends_max)
    follows = min(w.follows_mean, w.follow_capacity) + 16
    return {
        "user topic interests and counters": U * w.n_topics * 4 * 6,
        "seen filters": U * int(filter_blocks([w.activity_mean], r.days, f.slate_size, f.seen_bits_per_item)[1]) * 64,
        "share inboxes": U * max(f.n_share_candidates, 1) * 4,
        "friend lists": U * friends * 8,
        "follow slots": U * follows * 9,
        "per-user state": U * 64,
        "per-video counters and columns": V * (N_VC * 8 + 52 + 64 + 16),
        "per-creator state": C * 96,
    }


def check_memory(cfg, copies: int = 1, what: str = "this run") -> int:
    """Refuse ``cfg`` when ``copies`` runs of it at once cannot fit in memory; return the estimate.

    Raises
    ------
    MemoryEstimateError
        Naming the estimate, its largest parts and the machine's memory.
    """
    parts = estimate_memory(cfg)
    total = int(sum(parts.values())) * max(int(copies), 1)
    have = machine_memory()
    if total > have:
        top = sorted(parts.items(), key=lambda kv: -kv[1])[:3]
        detail = ", ".join(f"{k} {_gib(v)}" for k, v in top)
        times = f" x {copies} processes" if copies > 1 else ""
        raise MemoryEstimateError(
            f"{what} needs an estimated {_gib(total)} of memory{times} ({detail}; world.n_users={cfg.world.n_users:,}, "
            f"feed.seen_bits_per_item={cfg.feed.seen_bits_per_item}) but this machine has {_gib(have)}; use fewer "
            "users or days, or fewer seen-filter bits" + (", or fewer --jobs." if copies > 1 else "."))
    return total


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"
