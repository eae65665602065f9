"""One near-copy search in a new process, so that its peak memory is its own.

The payload names the real embeddings the rows are derived from, the number of rows, the
method and the library; the rows (with planted copies) are built first, the process's peak
resident memory is then reset, and the search alone is timed and measured. The pairs found go
to ``pairs`` (an .npy file) for the parent to compare.
"""

import json
import os
import resource
import sys
import time

import numpy as np
from _common import child_result, copy_at_distance

from skcatdog.neighbours import near_pairs

BLOCK = 16384


def synthetic(base, n, seed):
    """``n`` rows, each a random mix of three real rows with multiplicative noise and dropped
    columns: as far from each other as different photos are (the nearest of 20,000 such rows is
    at a cosine distance above 0.25), so the near pairs are the planted ones."""
    x = np.empty((n, base.shape[1]), np.float32)
    for start in range(0, n, BLOCK):
        rng = np.random.default_rng([seed, start])
        m = min(BLOCK, n - start)
        w = rng.dirichlet(np.ones(3), m).astype(np.float32)
        block = np.einsum("nk,nkd->nd", w, base[rng.integers(0, len(base), (m, 3))])
        block *= np.exp(0.5 * rng.standard_normal(block.shape, dtype=np.float32))
        block *= rng.random(block.shape, dtype=np.float32) > 0.3
        x[start : start + m] = block
    return x


def plant(x, count, max_distance, seed):
    """Overwrite ``count`` rows with copies of others at known cosine distances (0.1 to 0.9 of
    ``max_distance``); returns the planted pairs as ``(low, high)`` rows."""
    rng = np.random.default_rng([seed, 1 << 40])
    rows = rng.choice(len(x), 2 * count, replace=False)
    sources, copies = rows[:count], rows[count:]
    for s, c in zip(sources, copies, strict=True):
        x[c] = copy_at_distance(x[s], max_distance, rng)
    return np.sort(np.stack([sources, copies], axis=1), axis=1)


def _cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def main(p):
    base = np.load(p["base"])
    x = synthetic(base, p["n"], p["seed"])
    planted = plant(x, p["planted"], p["max_distance"], p["seed"])
    with open("/proc/self/clear_refs", "w") as f:  # peak resident memory from here on
        f.write("5")
    t, cpu = time.perf_counter(), _cpu_seconds()
    found = near_pairs(x, max_distance=p["max_distance"], method=p["method"], backend=p["backend"])
    seconds, cpu = time.perf_counter() - t, _cpu_seconds() - cpu
    pairs = np.array([(i, j) for i, j, _ in found], dtype=np.int64).reshape(-1, 2)
    np.save(p["pairs"], pairs)
    got = {(int(i), int(j)) for i, j in pairs}
    recall = sum((int(i), int(j)) in got for i, j in planted) / len(planted)
    child_result(
        {
            "seconds": seconds,
            "cpu_seconds": cpu,
            "peak_bytes": peak_rss(),
            "matrix_bytes": x.nbytes,
            "pairs": len(found),
            "planted_found": recall,
            "threads": os.cpu_count(),
        }
    )


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
