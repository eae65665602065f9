"""One stage of ``bench_scale.py`` in a new process, so that its peak memory is its own.

``rows``, ``near`` and ``labels``: the rows are built from the real embeddings (timed as the
``rows`` stage, with the peak memory of building them), then the process's peak is reset and
the stage alone is timed: near copies (exact and near duplicates through the audit) or label
errors. ``precompute``: the photo files are embedded by a tiny registered backbone on a
``LocalCluster`` into an empty shared store, twice, the client measured from this process.

Importing this module registers the tiny backbone: the cluster's workers import it for that.
"""

import hashlib
import json
import os
import resource
import sys
import time

import numpy as np
from _common import child_result, copy_at_distance

from skcatdog.backbones import Backbone, register_backbone

BLOCK = 16384
TINY = "bench_scale_tiny"
#: Planted exact copies (identical rows) among the rows.
EXACT_COPIES = 100
#: The planted near copies' largest cosine distance, and the search's.
MAX_DISTANCE = 0.2
#: Photos precomputed before the measured runs, beyond the measured ones.
WARM_UP = 16


def _build_tiny(weights):
    import keras

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inputs)
    embedding = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, [embedding, keras.layers.Dense(8)(embedding)])


register_backbone(
    Backbone(name=TINY, input_size=32, embedding_dim=8, preprocessing="lite", build=_build_tiny, n_classes=8),
    replace=True,
)


# --------------------------------------------------------------------------------------------
# Measures


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def reset_peak():
    with open("/proc/self/clear_refs", "w") as f:  # peak resident memory from here on
        f.write("5")


class Timed:
    """Wall and CPU seconds of a block, and the process's peak resident memory at its end."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, cpu_seconds() - self.cpu
        self.peak = _status("VmHWM")

    def result(self, **more):
        return {"seconds": self.wall, "cpu_seconds": self.cpu, "peak_bytes": self.peak, **more}


# --------------------------------------------------------------------------------------------
# The rows


def rows_by_class(base, labels, n, seed):
    """``n`` rows, each a random mix of three real rows of one class with multiplicative noise
    and dropped columns, and that class as its label: as far apart as different photos are, and
    as separable by class as the real rows."""
    classes = np.unique(labels)
    members = [np.flatnonzero(labels == c) for c in classes]
    x, y = np.empty((n, base.shape[1]), np.float32), np.empty(n, np.int64)
    for start in range(0, n, BLOCK):
        rng = np.random.default_rng([seed, start])
        m = min(BLOCK, n - start)
        label = rng.integers(0, len(classes), m)
        picks = np.stack([members[c][rng.integers(0, len(members[c]), 3)] for c in label])
        w = rng.dirichlet(np.ones(3), m).astype(np.float32)
        block = np.einsum("nk,nkd->nd", w, base[picks])
        block *= np.exp(0.5 * rng.standard_normal(block.shape, dtype=np.float32))
        block *= rng.random(block.shape, dtype=np.float32) > 0.3
        x[start : start + m], y[start : start + m] = block, label
    return x, y


def plant_copies(x, y, count, max_distance, seed):
    """Near copies (known cosine distances, 0.1 to 0.9 of ``max_distance``) and exact copies;
    a copy takes its source's label. Returns both as ``(low, high)`` pair arrays."""
    rng = np.random.default_rng([seed, 1 << 40])
    rows = rng.choice(len(x), 2 * (count + EXACT_COPIES), replace=False)
    sources, copies = rows[: len(rows) // 2], rows[len(rows) // 2 :]
    for s, c in zip(sources[:count], copies[:count], strict=True):
        x[c] = copy_at_distance(x[s], max_distance, rng)
    x[copies[count:]] = x[sources[count:]]
    y[copies] = y[sources]
    pairs = np.sort(np.stack([sources, copies], axis=1), axis=1)
    return pairs[:count], pairs[count:], set(rows.tolist())


def flip_labels(y, count, taken, seed):
    """Flip ``count`` labels of rows that are no planted copy; returns their rows."""
    rng = np.random.default_rng([seed, 1 << 41])
    free = np.setdiff1d(np.arange(len(y)), np.fromiter(taken, np.int64))
    rows = np.sort(rng.choice(free, count, replace=False))
    y[rows] = 1 - y[rows]
    return rows


def build(p):
    data = np.load(p["base"])
    with Timed() as t:
        x, y = rows_by_class(data["embeddings"], data["labels"], p["rows"], p["seed"])
        near, exact, taken = plant_copies(x, y, p["near_copies"], MAX_DISTANCE, p["seed"])
        flipped = flip_labels(y, p["flips"], taken, p["seed"])
    return x, y, near, exact, flipped, t.result(matrix_bytes=x.nbytes)


# --------------------------------------------------------------------------------------------
# Audit stages


def audit(names, y, x, checks):
    """``find_issues`` on given embeddings; ``None`` where the audit does not take them."""
    import inspect

    from skcatdog import find_issues

    if "embeddings" not in inspect.signature(find_issues).parameters:
        return None
    # The planted copies lie up to 0.2 apart: the audit's distance on photos it reads (its default
    # on given embeddings is tighter, as no grey prints confirm the pairs there).
    return find_issues(names, y, embeddings=x, checks=checks, near_duplicate_distance=MAX_DISTANCE)


def _groups(issues, issue):
    rows = issues[issues["issue"] == issue]
    return dict(zip(rows["item"], rows["group"], strict=True))


def _pairs_found(group, names, pairs):
    return sum(group.get(names[a]) is not None and group.get(names[a]) == group.get(names[b]) for a, b in pairs)


def near_copies(x, names, y, near, exact):
    """Exact and near copies: through the audit, else the search itself (``near_pairs`` and
    identical rows by their bytes)."""
    issues = audit(names, y, x, ["exact_duplicate", "near_duplicate"])
    if issues is not None:
        exact_group, near_group = _groups(issues, "exact_duplicate"), _groups(issues, "near_duplicate")
        return {
            "path": "find_issues(embeddings=...)",
            "near_found": _pairs_found(near_group, names, near),
            "exact_found": _pairs_found(exact_group, names, exact),
            "flagged": len(issues),
        }
    from skcatdog.neighbours import near_pairs

    found = {(i, j) for i, j, _ in near_pairs(x, max_distance=MAX_DISTANCE)}
    digest = [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in x]
    return {
        "path": "near_pairs",
        "near_found": sum((int(a), int(b)) in found for a, b in near),
        "exact_found": sum(digest[a] == digest[b] for a, b in exact),
        "flagged": len(found),
    }


def label_errors(x, names, y, flipped):
    issues = audit(names, y, x, ["label_error"])
    if issues is None:
        return None
    flagged = set(issues.loc[issues["issue"] == "label_error", "item"])
    return {
        "path": "find_issues(embeddings=...)",
        "flips_found": sum(names[i] in flagged for i in flipped),
        "flagged": len(flagged),
    }


def run_audit_stage(p):
    x, y, near, exact, flipped, built = build(p)
    names = [f"photo-{i:07d}" for i in range(len(x))]
    out = {"rows": built, "planted": {"near": len(near), "exact": len(exact), "flips": len(flipped)}}
    child_result(out)
    reset_peak()
    with Timed() as t:
        found = near_copies(x, names, y, near, exact) if p["stage"] == "near" else label_errors(x, names, y, flipped)
    out["stage"] = None if found is None else t.result(matrix_bytes=x.nbytes, **found)
    child_result(out)


# --------------------------------------------------------------------------------------------
# Precompute on a cluster


def _workers_cpu(client):
    return sum(client.run(cpu_seconds).values())


def files_read():
    """Photo files this process has read to identify or look them up (run on each worker)."""
    from skcatdog import _engine

    return _engine.stats.files_read


def _workers_files_read(client):
    return sum(client.run(files_read).values())


def _one_run(client, est, paths):
    before_rss, cpu, workers = _status("VmRSS"), time.process_time(), _workers_cpu(client)
    read = _workers_files_read(client)
    reset_peak()
    t = time.perf_counter()
    counts = est.precompute(paths, client=client)
    wall = time.perf_counter() - t
    return {
        "seconds": wall,
        "cpu_seconds": time.process_time() - cpu,
        "workers_cpu_seconds": _workers_cpu(client) - workers,
        "files_read": _workers_files_read(client) - read,
        "peak_bytes": _status("VmHWM"),
        "rss_growth_bytes": max(0, _status("VmHWM") - before_rss),
        "forwarded": int(counts["forwarded"]),
        "missing": int(counts["missing"]),
    }


def run_precompute(p):
    from dask.distributed import Client, LocalCluster

    import skcatdog.distributed as skdist
    from skcatdog import KerasEmbeddingTransformer

    files = sorted(str(q) for q in _photo_files(p["folder"]))
    paths, warm = files[: p["photos"]], files[p["photos"] : p["photos"] + WARM_UP]
    url = "file://" + os.path.abspath(p["store"])
    children = os.path.dirname(os.path.abspath(__file__))
    os.environ["PYTHONPATH"] = os.pathsep.join([children, os.environ.get("PYTHONPATH", "")])
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            client.register_plugin(skdist.WorkerSetup(tf_threads=1, preload=["scale_stage"]))
            # Libraries imported and models built in every process, on other photos in another store:
            # what a run costs per photo, not per process.
            warm_store = KerasEmbeddingTransformer(backbone=TINY, weights=None, cache=url + "-warm-up")
            warm_store.precompute(warm, client=client)
            est = KerasEmbeddingTransformer(backbone=TINY, weights=None, cache=url)
            out = {"photos": len(paths), "views": len(est.views)}
            out["first"] = _one_run(client, est, paths)
            child_result(out)
            out["second"] = _one_run(client, est, paths)
    out["store_rows"] = len(skdist.ShardStore(url))
    child_result(out)


def _photo_files(folder):
    for root, _, files in os.walk(folder):
        for name in files:
            if name.endswith(".jpg"):
                yield os.path.join(root, name)


def main(p):
    if p["stage"] == "precompute":
        run_precompute(p)
    else:
        run_audit_stage(p)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
