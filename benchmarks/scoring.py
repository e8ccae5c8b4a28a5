"""Throughput of batched scoring + top-k: the Numba kernel against vectorized NumPy and a memory-read floor.

Run::

    .venv/bin/python benchmarks/scoring.py [--requests 200000] [--width 64] [--k 8]
                                           [--videos 20000 1000000] [--repeats 7] [--json PATH]

One batch of ``requests`` requests with ``width`` candidates each (float32
affinities, bool regular-reader flags, int32 video rows, float64 base and
boost per video) is scored and cut to its top ``k``, once per catalogue size in
``--videos`` (20,000 is the default world's scale: the summed base + boost
table, 160 kB, stays in a core's L2 cache; 1,000,000 makes every gather miss
it). For each it prints scored candidates per second (median over the
repeats; contenders interleaved so background load hits them alike) of:

- ``kernel``: ``ranker._score_kernels._score_requests`` on ready arrays and
  reused outputs, on 1 and on 2 Numba threads;
- ``kernel, quota 2``: the same with two of the eight slots reserved for new
  creators (the insertion path);
- ``face``: ``ranker.score.score_requests``, which also validates every input
  (one fused pass over the candidate columns) and allocates the outputs;
- ``numpy``: the same scoring and top-k as whole-array NumPy on the padded
  ``(requests, width)`` matrix, tuned as one would for production: the
  summed ``base + boost`` table built once (as the kernel does), one gather,
  in-place arithmetic in float64, ``argpartition`` for the top k without a
  negated copy, ``lexsort`` of those k by (score desc, id). NumPy runs these
  on one thread. It agrees with the kernel here (continuous scores; NumPy
  leaves ties at the k-th place unresolved by id, which only favours it);
- ``numpy, naive``: the straightforward version (two gathers, temporaries,
  ``argpartition`` of a negated copy), for reference;
- ``floor``: ``np.sum`` over the same bytes the kernel must read, each array
  viewed as int64 words (summing int32 or uint8 elements widens each one and
  runs far below memory speed; int64 words read the same bytes at memory
  speed), on 1 thread and on 2 (each of two threads sums half of every
  array; NumPy releases the GIL while summing). Every byte read is real data
  written before the timings (no untouched ``np.zeros`` pages, which all map
  to one shared zero page and read from cache). Two floors:

  * *streamed*: ``indptr`` (8 B per request) and per candidate ``cand_video``
    (4 B), ``cand_aff`` (4 B), ``cand_rr`` (1 B): 9 B per candidate;
  * *all reads*: the streamed bytes, ``base`` and ``boost`` (16 B per video,
    read once to build the summed table) and one float64 (8 B) per candidate
    for the gathered ``base + boost`` (the real gathered values, stored in
    candidate order and read as a stream): 17 B per candidate.

Ratios are stated with their thread counts, all measured in this one run:

- *per core* (same thread count on both sides): kernel on 1 thread against
  NumPy on 1 thread and against the 1-thread floor; kernel on 2 threads
  against the 2-thread floor;
- *per thread count* (each side at its own count, said so): kernel on 2
  threads against NumPy on its 1 thread;
- the 2-thread kernel's speed-up over its 1-thread run.

The load average is checked before and after (a warning when the machine is
busy: the 2-thread figures are only as good as the second core is free).
Each contender's median CPU time (``time.process_time``, all threads
summed) is shown too, and the 1-thread ratios are given in it as well. The
compile time is measured apart, in a fresh process with an empty Numba
cache, and so is this process's first call (a load from the cache). Targets
(issue 3): kernel >= 3x NumPy; kernel within 2x of the memory-read floor.

Last, ``vector IR against plain loops``: the kernel on 1 thread as shipped
(``ranker._vector_ir``: survivor ranks and mask in hand-written vector IR)
against the same kernel compiled with the plain loops (``RANKSIM_VECTOR_IR=0``,
in a child process: a kernel's helpers are fixed when it compiles), on the
same batch, calls alternating between the two processes; the outputs are
checked identical. ``--no-ir-row`` skips it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numba  # noqa: E402

from ranker import _score_kernels as K  # noqa: E402
from ranker._numba import set_threads  # noqa: E402
from ranker.score import ScoreWeights, score_requests  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import compile_from_empty_cache, load_check, runs_label  # noqa: E402


def make_batch(n_req: int, width: int, n_videos: int, seed: int = 0) -> dict:
    """A realistic batch: log-lift scores of a tick, 10 % new creators with a tilt, some masked videos."""
    rng = np.random.default_rng(seed)
    n_cand = n_req * width
    base = rng.normal(0.0, 0.5, n_videos)
    base[rng.random(n_videos) < 0.02] = -np.inf  # ineligible this tick
    is_new = rng.random(n_videos) < 0.1
    boost = np.where(is_new, 0.3, 0.0)
    return dict(
        indptr=np.arange(0, n_cand + 1, width, dtype=np.int64),
        cand_video=rng.integers(0, n_videos, n_cand).astype(np.int32),
        cand_aff=rng.normal(0.0, 0.3, n_cand).astype(np.float32),
        cand_rr=rng.random(n_cand) < 0.1,
        base=base,
        boost=boost,
        is_new=is_new,
    )


def numpy_topk_tuned(b: dict, w_aff: float, w_rr: float, k: int, width: int, total=None):
    """Scoring + top-k as tuned whole-array NumPy: one summed table, one gather, in-place arithmetic."""
    total = b["base"] + b["boost"] if total is None else total  # per video, once (the kernel builds it too)
    v = b["cand_video"].reshape(-1, width)
    s = total[v]  # float64 (n_req, width)
    s += w_aff * b["cand_aff"].reshape(-1, width)
    s += w_rr * b["cand_rr"].reshape(-1, width)
    part = np.argpartition(s, width - k, axis=1)[:, width - k:]  # the k largest, no negated copy
    ps = np.take_along_axis(s, part, 1)
    pv = np.take_along_axis(v, part, 1)
    order = np.lexsort((pv, -ps), axis=1)
    top = np.take_along_axis(pv, order, 1)
    top_s = np.take_along_axis(ps, order, 1)
    top[top_s == -np.inf] = -1
    return top, top_s


def numpy_topk(b: dict, w_aff: float, w_rr: float, k: int, width: int):
    """Scoring + top-k as straightforward whole-array NumPy on the padded (n_req, width) matrix."""
    v = b["cand_video"].reshape(-1, width)
    s = (w_aff * b["cand_aff"].reshape(-1, width) + w_rr * b["cand_rr"].reshape(-1, width)) + (b["base"][v] + b["boost"][v])
    part = np.argpartition(-s, k - 1, axis=1)[:, :k]
    ps = np.take_along_axis(s, part, 1)
    pv = np.take_along_axis(v, part, 1)
    order = np.lexsort((pv, -ps), axis=1)
    top = np.take_along_axis(pv, order, 1)
    top_s = np.take_along_axis(ps, order, 1)
    masked = top_s == -np.inf
    top[masked] = -1
    return top, top_s


def _words(a: np.ndarray) -> list[np.ndarray]:
    """The bytes of ``a`` as an int64 view (plus a uint8 tail): what a reader of ``a`` must load."""
    raw = np.ascontiguousarray(a).reshape(-1).view(np.uint8)
    n8 = raw.size // 8 * 8
    return [raw[:n8].view(np.int64), raw[n8:]]


def run_config(n_req: int, width: int, n_videos: int, k: int, repeats: int) -> dict:
    b = make_batch(n_req, width, n_videos)
    w = ScoreWeights()
    w_aff, w_rr = float(w.affinity), float(w.regular_reader)
    n_cand = n_req * width
    rr8 = b["cand_rr"].view(np.uint8)
    no_new = np.zeros(0, np.bool_)
    out_ids = np.empty((n_req, k), np.int32)
    out_s = np.empty((n_req, k), np.float64)
    q_ids = np.empty((n_req, k), np.int32)
    q_s = np.empty((n_req, k), np.float64)
    # the gathered base + boost values, real data written here (np.zeros would be one shared zero page)
    gathered = (b["base"] + b["boost"])[b["cand_video"]]
    streamed = [x for a in (b["indptr"], b["cand_video"], b["cand_aff"], rr8) for x in _words(a)]
    all_reads = streamed + [x for a in (b["base"], b["boost"], gathered) for x in _words(a)]
    bytes_streamed = sum(x.nbytes for x in streamed)
    bytes_all = sum(x.nbytes for x in all_reads)
    pool = ThreadPoolExecutor(2)

    def halves(words):
        return [[x[: x.size // 2] for x in words], [x[x.size // 2:] for x in words]]

    streamed2, all_reads2 = halves(streamed), halves(all_reads)

    def sum_all(words):
        for x in words:
            x.sum()

    def floor2(parts):
        for f in [pool.submit(sum_all, p) for p in parts]:
            f.result()

    def kernel():
        K._score_requests(b["indptr"], b["cand_video"], b["cand_aff"], rr8, b["base"], b["boost"], w_aff, w_rr,
                          k, 0, no_new, out_ids, out_s)

    def kernel_quota():
        K._score_requests(b["indptr"], b["cand_video"], b["cand_aff"], rr8, b["base"], b["boost"], w_aff, w_rr,
                          k, 2, b["is_new"], q_ids, q_s)

    def face():
        score_requests(b["indptr"], b["cand_video"], b["cand_aff"], b["cand_rr"], b["base"], b["boost"], w, k)

    def numpy_version():
        numpy_topk_tuned(b, w_aff, w_rr, k, width)

    def numpy_naive():
        numpy_topk(b, w_aff, w_rr, k, width)

    def floor_streamed():
        sum_all(streamed)

    def floor_all():
        sum_all(all_reads)

    def floor_streamed2():
        floor2(streamed2)

    def floor_all2():
        floor2(all_reads2)

    contenders = {
        "kernel, 1 thread": (kernel, 1),
        "kernel, 2 threads": (kernel, 2),
        "kernel, quota 2, 1 thread": (kernel_quota, 1),
        "kernel, quota 2, 2 threads": (kernel_quota, 2),
        "face, 1 thread": (face, 1),
        "face, 2 threads": (face, 2),
        "numpy, 1 thread": (numpy_version, None),
        "numpy naive, 1 thread": (numpy_naive, None),
        "floor, streamed, 1 thread": (floor_streamed, None),
        "floor, streamed, 2 threads": (floor_streamed2, None),
        "floor, all reads, 1 thread": (floor_all, None),
        "floor, all reads, 2 threads": (floor_all2, None),
    }
    times = {name: [] for name in contenders}
    cpu = {name: [] for name in contenders}
    for name, (fn, threads) in contenders.items():  # warm-up (pages, caches)
        set_threads(threads)
        fn()
    # the contenders compute the same thing
    agree = True
    for ref in (numpy_topk_tuned, numpy_topk):
        top_np, s_np = ref(b, w_aff, w_rr, k, width)
        agree &= bool(np.array_equal(top_np, out_ids) and np.allclose(s_np, out_s, rtol=1e-12, atol=0))
    for _ in range(repeats):
        for name, (fn, threads) in contenders.items():
            set_threads(threads)
            c0 = time.process_time()
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    pool.shutdown()
    med = {name: float(np.median(ts)) for name, ts in times.items()}
    med_cpu = {name: float(np.median(ts)) for name, ts in cpu.items()}
    return dict(n_req=n_req, width=width, n_videos=n_videos, k=k, n_cand=n_cand, repeats=repeats,
                bytes_streamed=bytes_streamed, bytes_all_reads=bytes_all, numpy_agrees=agree,
                seconds=med, cpu_seconds=med_cpu, rate=dict((name, n_cand / t) for name, t in med.items()))


def report(r: dict) -> dict:
    sec, rate, cpu = r["seconds"], r["rate"], r["cpu_seconds"]
    k1, k2 = sec["kernel, 1 thread"], sec["kernel, 2 threads"]
    npy = sec["numpy, 1 thread"]
    ratios = {
        # per core: the same thread count on both sides
        "per core: kernel / numpy, both 1 thread": npy / k1,
        "per core: kernel / numpy naive, both 1 thread": sec["numpy naive, 1 thread"] / k1,
        "per core: kernel time / floor (all reads), both 1 thread": k1 / sec["floor, all reads, 1 thread"],
        "per core: kernel time / floor (all reads), both 2 threads": k2 / sec["floor, all reads, 2 threads"],
        "per core: kernel time / floor (streamed), both 1 thread": k1 / sec["floor, streamed, 1 thread"],
        "per core: kernel time / floor (streamed), both 2 threads": k2 / sec["floor, streamed, 2 threads"],
        # per thread count: each side at its own count
        "kernel 2 threads / numpy 1 thread": npy / k2,
        "face 2 threads / numpy 1 thread": npy / sec["face, 2 threads"],
        "kernel 2 threads / kernel 1 thread": k1 / k2,
        "cpu: kernel / numpy, both 1 thread": cpu["numpy, 1 thread"] / cpu["kernel, 1 thread"],
        "cpu: kernel time / floor (all reads), both 1 thread":
            cpu["kernel, 1 thread"] / cpu["floor, all reads, 1 thread"],
    }
    print(f"\n{r['n_req']:,} requests x {r['width']} candidates, k = {r['k']}, {r['n_videos']:,} videos; "
          f"{runs_label(r['repeats'])}:")
    print(f"  {'contender':30s} {'M cand/s':>9s} {'ms':>9s} {'ns/request':>11s} {'CPU ms':>9s}")
    for name in sec:
        print(f"  {name:30s} {rate[name] / 1e6:9.1f} {sec[name] * 1e3:9.2f} {sec[name] * 1e9 / r['n_req']:11.1f}"
              f" {cpu[name] * 1e3:9.2f}")
    gbs_s = r["bytes_streamed"] / sec["floor, streamed, 1 thread"] / 1e9
    gbs_a = r["bytes_all_reads"] / sec["floor, all reads, 1 thread"] / 1e9
    print(f"  floor bytes: streamed {r['bytes_streamed'] / 1e6:.0f} MB ({gbs_s:.1f} GB/s on 1 thread), "
          f"all reads {r['bytes_all_reads'] / 1e6:.0f} MB ({gbs_a:.1f} GB/s on 1 thread)")
    print(f"  numpy results (tuned and naive) equal the kernel's: {r['numpy_agrees']}")
    print("  per core (the same thread count on both sides):")
    for name, v in ratios.items():
        if name.startswith("per core: "):
            target = ("   (target >= 3)" if "numpy, both" in name else
                      "   (target <= 2)" if "all reads" in name else "")
            print(f"    {name[len('per core: '):]:56s} {v:6.2f}x{target}")
    print("  per thread count (each side at its own count):")
    for name in ("kernel 2 threads / numpy 1 thread", "face 2 threads / numpy 1 thread",
                 "kernel 2 threads / kernel 1 thread"):
        print(f"    {name:56s} {ratios[name]:6.2f}x")
    print("  in CPU time (what the work costs when it has a core to itself):")
    for name in ("cpu: kernel / numpy, both 1 thread", "cpu: kernel time / floor (all reads), both 1 thread"):
        print(f"    {name[len('cpu: '):]:56s} {ratios[name]:6.2f}x")
    return ratios


def _digest(*arrays) -> str:
    import hashlib

    return hashlib.sha256(b"".join(x.tobytes() for x in arrays)).hexdigest()


def _ir_worker() -> None:
    """Child of :func:`vector_ir_row`: ``go`` on stdin runs the kernel once and prints its seconds."""
    from ranker import _vector_ir

    n_req, width, n_videos, k = (int(x) for x in sys.stdin.readline().split())
    b = make_batch(n_req, width, n_videos)
    w = ScoreWeights()
    out_ids, out_s = np.empty((n_req, k), np.int32), np.empty((n_req, k), np.float64)
    set_threads(1)
    args = (b["indptr"], b["cand_video"], b["cand_aff"], b["cand_rr"].view(np.uint8), b["base"], b["boost"],
            float(w.affinity), float(w.regular_reader), k, 0, np.zeros(0, np.bool_), out_ids, out_s)
    K._score_requests(*args)  # compile (or load) and warm up
    print(f"ready {int(_vector_ir.ENABLED)} {_digest(out_ids, out_s)}", flush=True)
    for line in sys.stdin:
        if line.strip() != "go":
            break
        c0, t0 = time.process_time(), time.perf_counter()
        K._score_requests(*args)
        print(time.perf_counter() - t0, time.process_time() - c0, flush=True)


def vector_ir_row(n_req: int, width: int, n_videos: int, k: int, repeats: int) -> dict:
    """The kernel with the vector IR (this process) against the plain loops (a child), 1 thread, alternating."""
    import subprocess

    from ranker import _vector_ir

    env = dict(os.environ, RANKSIM_VECTOR_IR="0")
    child = subprocess.Popen([sys.executable, __file__, "--_ir-worker"], env=env, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        child.stdin.write(f"{n_req} {width} {n_videos} {k}\n")
        child.stdin.flush()
        tag, plain_enabled, plain_hash = child.stdout.readline().split()
        b = make_batch(n_req, width, n_videos)
        w = ScoreWeights()
        out_ids, out_s = np.empty((n_req, k), np.int32), np.empty((n_req, k), np.float64)
        set_threads(1)
        args = (b["indptr"], b["cand_video"], b["cand_aff"], b["cand_rr"].view(np.uint8), b["base"], b["boost"],
                float(w.affinity), float(w.regular_reader), k, 0, np.zeros(0, np.bool_), out_ids, out_s)
        K._score_requests(*args)
        same = _digest(out_ids, out_s) == plain_hash
        ir_t, plain_t, ir_c, plain_c = [], [], [], []
        for _ in range(repeats):
            c0, t0 = time.process_time(), time.perf_counter()
            K._score_requests(*args)
            ir_t.append(time.perf_counter() - t0)
            ir_c.append(time.process_time() - c0)
            child.stdin.write("go\n")
            child.stdin.flush()
            wall, cpu = (float(x) for x in child.stdout.readline().split())
            plain_t.append(wall)
            plain_c.append(cpu)
        child.stdin.write("stop\n")
        child.stdin.flush()
    finally:
        child.stdin.close()
        child.wait(timeout=60)
    r = dict(n_req=n_req, width=width, n_videos=n_videos, k=k, repeats=repeats, ir_enabled=_vector_ir.ENABLED,
             plain_enabled=bool(int(plain_enabled)), outputs_identical=same,
             ir_s=float(np.median(ir_t)), plain_s=float(np.median(plain_t)),
             ir_cpu_s=float(np.median(ir_c)), plain_cpu_s=float(np.median(plain_c)))
    r["plain_over_ir"] = r["plain_s"] / r["ir_s"]
    r["cpu_plain_over_ir"] = r["plain_cpu_s"] / r["ir_cpu_s"]
    n_cand = n_req * width
    print(f"\nvector IR against plain loops: {n_req:,} requests x {width}, k = {k}, {n_videos:,} videos, 1 thread, "
          f"median of {repeats} alternating calls:")
    print(f"  {'kernel, vector IR':28s} {n_cand / r['ir_s'] / 1e6:9.1f} M cand/s {r['ir_s'] * 1e3:9.2f} ms"
          f" {r['ir_cpu_s'] * 1e3:9.2f} CPU ms")
    print(f"  {'kernel, plain loops':28s} {n_cand / r['plain_s'] / 1e6:9.1f} M cand/s {r['plain_s'] * 1e3:9.2f} ms"
          f" {r['plain_cpu_s'] * 1e3:9.2f} CPU ms")
    print(f"  plain / IR: {r['plain_over_ir']:.3f}x wall, {r['cpu_plain_over_ir']:.3f}x CPU; outputs identical: {same}"
          f" (IR on here: {r['ir_enabled']}, in the child: {r['plain_enabled']})")
    return r


_SETUP = """
import numpy as np
from ranker.score import ScoreWeights, score_requests
ind = np.arange(0, 4 * 64 + 1, 64, dtype=np.int64)
rng = np.random.default_rng(0)
v = rng.integers(0, 100, 4 * 64).astype(np.int32)
"""
_FIRST = ("score_requests(ind, v, np.zeros(v.size, np.float32), np.zeros(v.size, bool), np.zeros(100), np.zeros(100), "
          "ScoreWeights(), 8, n_quota=2, is_new=np.zeros(100, bool))")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200_000)
    ap.add_argument("--width", type=int, default=64, help="candidates per request")
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--videos", type=int, nargs="+", default=[20_000, 1_000_000])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    ap.add_argument("--no-ir-row", action="store_true", help="skip the vector IR against plain loops row")
    ap.add_argument("--_ir-worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a._ir_worker:
        return _ir_worker()
    max_threads = numba.config.NUMBA_NUM_THREADS
    print(f"numba {numba.__version__}, numpy {np.__version__}, {max_threads} Numba threads available")
    if max_threads < 2:
        sys.exit("This benchmark needs 2 Numba threads (NUMBA_NUM_THREADS >= 2).")
    load0 = load_check("before")
    print(f"load average before: {load0['load']:.2f} on {load0['cores']} cores")
    empty = compile_from_empty_cache(_SETUP, _FIRST)
    print(f"compile from an empty cache (fresh process, empty NUMBA_CACHE_DIR): {empty['compile_s']:.2f} s")

    # This process's first call: usually a load from Numba's on-disk cache; kept out of the timings.
    small = make_batch(4, a.width, 100)
    t0 = time.perf_counter()
    score_requests(small["indptr"], small["cand_video"], small["cand_aff"], small["cand_rr"], small["base"],
                   small["boost"], ScoreWeights(), a.k, n_quota=2, is_new=small["is_new"])
    first = time.perf_counter() - t0
    how = "loaded from cache" if K._score_requests.stats.cache_hits else "compiled"
    print(f"first call: {first:.2f} s ({how}; Numba cache: {K._score_requests.stats.cache_path})")

    results = []
    for nv in a.videos:
        r = run_config(a.requests, a.width, nv, a.k, a.repeats)
        r["ratios"] = report(r)
        results.append(r)
    ir_rows = [] if a.no_ir_row else [vector_ir_row(a.requests, a.width, nv, a.k, a.repeats) for nv in a.videos]
    print()
    load1 = load_check("after")
    print(f"load average after: {load1['load']:.2f} on {load1['cores']} cores")
    if a.json is not None:
        a.json.write_text(json.dumps(dict(numba=numba.__version__, numpy=np.__version__, first_call_s=first,
                                          first_call=how, compile_empty_cache_s=empty["compile_s"],
                                          load=[load0, load1], configs=results, vector_ir=ir_rows), indent=2))
        print(f"wrote {a.json}")


if __name__ == "__main__":
    main()
