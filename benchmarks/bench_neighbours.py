"""Near copies among many embeddings: the exact product against the approximate indexes.

    python benchmarks/bench_neighbours.py [--data FOLDER] [--sizes 10000 30000 100000 1000000]

Embeds ``--photos`` real photos once (kept in ``--base``, a .npy file outside the repository),
then, for each size, builds rows that mix three real rows with multiplicative noise and
dropped columns (the nearest of 20,000 such rows is further than different photos are) and
overwrites 1% of them (at most 1,000) with copies of others at known cosine distances up to
``--max-distance``. Each search runs in a new process, timed after the rows are built (wall and CPU seconds: on a
shared machine the CPU seconds are the steadier measure), with its peak resident memory
measured from there. Per size and method: seconds, peak memory
(and its ratio to the matrix), the pairs found, the share of planted copies found and, where
the exact search ran at that size, the share of its pairs the approximate one found. Writes
``neighbours.csv``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import _common as bench

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

HEADER = [
    "rows",
    "method",
    "library",
    "seconds",
    "CPU seconds",
    "peak memory (GB)",
    "peak / matrix",
    "pairs",
    "planted copies found",
    "exact pairs found",
]


def base_rows(args):
    """The real embeddings the rows are derived from, computed once and kept in ``--base``."""
    path = Path(args.base)
    if path.exists():
        return path
    from skcatdog import KerasEmbeddingTransformer

    paths, _ = bench.load_photos(bench.data_folder(args.data), limit=args.photos)
    np.save(path, np.asarray(KerasEmbeddingTransformer().transform(paths), dtype=np.float32))
    return path


def measure(base, n, method, library, args, pairs):
    payload = {
        "base": str(base),
        "n": n,
        "seed": 0,
        "planted": min(1000, n // 100),
        "max_distance": args.max_distance,
        "method": method,
        "backend": library if method == "approximate" else "faiss",  # the exact search uses no library
        "pairs": str(pairs),
    }
    return bench.run_child("neighbours_search", payload, pythonpath=[bench.ROOT], timeout=args.timeout)


def share(found, exact):
    """The share of ``exact``'s pairs (rows of an .npy file) that ``found`` holds."""
    want = {tuple(p) for p in np.load(exact).tolist()}
    got = {tuple(p) for p in np.load(found).tolist()}
    return len(want & got) / len(want) if want else 1.0


def runs(args):
    """``(rows, method, library)`` in the order measured."""
    for n in args.sizes:
        if n <= args.exact_up_to:
            yield n, "exact", "numpy"
        for library in args.libraries:
            if n <= args.others_up_to or library == args.libraries[0]:
                yield n, "approximate", library


def main():
    ap = bench.parser(__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000, 1_000_000])
    ap.add_argument("--libraries", nargs="+", default=["faiss", "usearch"], help="the first runs at every size")
    ap.add_argument("--exact-up-to", type=int, default=100_000, help="the exact search runs up to this size")
    ap.add_argument("--others-up-to", type=int, default=100_000, help="libraries after the first run up to this")
    ap.add_argument("--max-distance", type=float, default=0.2, help="the audit's default near-copy distance")
    ap.add_argument("--photos", type=int, default=400, help="real photos embedded for the rows to derive from")
    ap.add_argument("--base", default=str(Path(tempfile.gettempdir()) / "skcatdog-bench-neighbours-base.npy"))
    ap.add_argument("--timeout", type=float, default=900)
    args = ap.parse_args()
    base = base_rows(args)
    load = os.getloadavg()[0]
    table, work = [], Path(tempfile.mkdtemp(prefix="bench-neighbours-"))
    for n, method, library in runs(args):
        pairs = work / f"{n}-{method}-{library}.npy"
        r = measure(base, n, method, library, args, pairs)
        exact = work / f"{n}-exact-numpy.npy"
        row = [
            n,
            method,
            library,
            r["seconds"],
            r["cpu_seconds"],
            r["peak_bytes"] / 1e9,
            r["peak_bytes"] / r["matrix_bytes"],
        ]
        row += [r["pairs"], r["planted_found"], share(pairs, exact) if exact.exists() else None]
        table.append(row)
        print(*row, sep="\t", flush=True)
    libraries = bench.versions("faiss-cpu", "usearch")
    bench.write_result(
        "neighbours",
        HEADER,
        table,
        title="Near copies among many embeddings",
        what=(
            f"near_pairs(max_distance={args.max_distance}) on n x {np.load(base, mmap_mode='r').shape[1]} float32 "
            "rows derived from real embeddings, 1% of them (at most 1,000) planted copies; approximate: a "
            "128-column PCA projection, n_probe=8, n_candidates=20, every candidate re-checked exactly. "
            "Peak memory: the search's process, the matrix included."
        ),
        machine=bench.machine_line(f"{libraries}; load average {load:.1f} at the start"),
        out=args.out,
    )


if __name__ == "__main__":
    main()
