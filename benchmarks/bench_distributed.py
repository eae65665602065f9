"""The cold embedding job on the shared photos: local engine vs a Dask cluster.

Runs the same photos through

(a) the local engine in this process (``KerasEmbeddingTransformer.precompute``
    with no client: ``embed_many`` into an empty local store);
(b) ``LocalCluster``s of 1 and 2 worker processes (``threads_per_worker=1``,
    TensorFlow / LiteRT threads = cores / workers), each filling an empty
    ``file://`` ShardStore through ``precompute``;

and prints one Markdown table: wall time of the job, the ratio to (a), and
per-stage seconds (read+digest+lookup, decode, forward, store write, summed
over threads; on a cluster, the client's probe plus the workers' stages).
Every configuration starts cold (fresh store, fresh local read-through
cache) but with its models built: the model build (and for the cluster the
worker start) is shown apart, because it is paid once per process, not per job.

    python benchmarks/bench_distributed.py [--data FOLDER] [--limit N] [--views crop,full] [--workers 1,2] [--gpu]

``--gpu`` uses ``dask_cuda.LocalCUDACluster`` (one worker per GPU) instead.
"""

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import _common as bench

import skcatdog.distributed as skdist
from skcatdog import KerasEmbeddingTransformer, _engine, get_backbone


def install_probe_timer():
    """Time shard writes (the engine times put_many; a ShardStore publishes its shard in flush)."""
    from skcatdog import _engine
    from skcatdog.distributed import ShardStore

    if getattr(ShardStore, "_bench_timed", False):
        return
    ShardStore._bench_timed = True

    # The engine times put_many; a ShardStore only buffers there and writes its shard in flush.
    flush = ShardStore.flush

    def timed_flush(self):
        t = time.perf_counter()
        try:
            return flush(self)
        finally:
            _engine.stats.add(seconds_store=time.perf_counter() - t)

    ShardStore.flush = timed_flush


def stage_seconds():
    from skcatdog import _engine

    st = _engine.stats.snapshot()
    stages = {stage: st[f"seconds_{stage}"] for stage in ("probe", "decode", "forward", "store")}
    return {**stages, "forwarded": st["images_forwarded"]}


def reset_stages():
    from skcatdog import _engine

    _engine.stats.reset()
    _engine.stats.seconds_probe = 0.0


def warm_model(backbone, precision):
    """Build this process's model and run one batch, outside every timing."""
    import numpy as np

    from skcatdog import _engine

    t = time.perf_counter()
    runner = _engine.get_runner(backbone, "imagenet", precision)
    size = get_backbone(backbone).input_size
    runner.forward(np.zeros((64, size, size, 3), np.uint8))
    return {"seconds": time.perf_counter() - t, "runtime": runner.runtime}


def run_local(paths, args, root):
    install_probe_timer()
    info = warm_model(args.backbone, args.precision)
    reset_stages()
    est = KerasEmbeddingTransformer(
        backbone=args.backbone, views=args.views, cache=str(root / "local-cache"), precision=args.precision
    )
    t = time.perf_counter()
    report = est.precompute(paths)  # no Dask client exists yet in this process: the plain engine
    wall = time.perf_counter() - t
    st = stage_seconds()
    return {
        "name": "local engine (this process)",
        "wall": wall,
        "setup": info["seconds"],
        "runtime": info["runtime"],
        "forwarded": report["forwarded"],
        **{k: st[k] for k in ("probe", "decode", "forward", "store")},
    }


def run_cluster(paths, args, root, n_workers):
    from distributed import Client

    t0 = time.perf_counter()
    if args.gpu:
        from dask_cuda import LocalCUDACluster  # only needed with --gpu

        cluster = LocalCUDACluster(threads_per_worker=1, dashboard_address=None)
        name = f"LocalCUDACluster, {len(cluster.workers)} GPU worker(s)"
    else:
        cluster = _local_cluster(n_workers)
        name = f"LocalCluster, {n_workers} worker{'s' if n_workers > 1 else ''}"
    client = Client(cluster)
    try:
        tf_threads = max(1, bench.cores() // len(cluster.workers)) if not args.gpu else None
        client.register_plugin(skdist.WorkerSetup(tf_threads=tf_threads))
        client.run(install_probe_timer)
        infos = client.run(warm_model, args.backbone, args.precision)
        setup = time.perf_counter() - t0
        client.run(reset_stages)
        install_probe_timer()
        reset_stages()
        url = f"file://{root}/store-{n_workers}"
        est = KerasEmbeddingTransformer(backbone=args.backbone, views=args.views, cache=url, precision=args.precision)
        t = time.perf_counter()
        report = est.precompute(paths, client=client)
        wall = time.perf_counter() - t
        workers = client.run(stage_seconds)
        here = stage_seconds()
        total = {k: sum(w[k] for w in workers.values()) for k in ("probe", "decode", "forward", "store", "forwarded")}
        return {
            "name": name,
            "wall": wall,
            "setup": setup,
            "runtime": next(iter(infos.values()))["runtime"],
            "forwarded": total["forwarded"],
            "client_probe": here["probe"],
            "probe": here["probe"] + total["probe"],
            "decode": total["decode"],
            "forward": total["forward"],
            "store": total["store"],
            "tasks": report["tasks"],
        }
    finally:
        client.close()
        cluster.close()


def _local_cluster(n_workers):
    import dask
    from distributed import LocalCluster

    # Dask starts workers with MALLOC_TRIM_THRESHOLD_=65536, which pins glibc's
    # mmap threshold: every decoded photo (a few hundred KB) is then mmap-ed and
    # unmapped again, which makes decoding about 30% slower. Workers that decode
    # images do better with glibc's default.
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
        return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None)


def main():
    parser = bench.parser(__doc__)
    parser.add_argument("--backbone", default="efficientnet_lite2")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N photos")
    parser.add_argument("--views", default="crop,full", help="comma-separated views (the transformer's default)")
    parser.add_argument("--workers", default="1,2", help="cluster sizes to run, comma-separated")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--gpu", action="store_true", help="one dask_cuda.LocalCUDACluster instead of LocalClusters")
    args = parser.parse_args()
    args.views = tuple(v for v in args.views.split(",") if v)
    if args.precision == "auto":
        # One precision for every configuration, decided by this machine (a cluster would decide the same).
        args.precision = _engine.resolve_precision("auto", args.backbone)

    paths, _ = bench.load_photos(bench.data_folder(args.data))
    paths = paths[: args.limit]
    root = Path(tempfile.mkdtemp(prefix="skcatdog-bench-dist-"))
    # Every process's default cache (the ShardStore's local read-through copy) lives in the
    # scratch directory, so each configuration starts cold and ~/.cache is untouched.
    os.environ["SKCATDOG_CACHE_DIR"] = str(root / "default-cache")
    print(
        f"# {len(paths)} photos x {len(args.views)} view(s) {args.views}, {args.backbone}, precision {args.precision}",
        file=sys.stderr,
    )
    rows = []
    try:
        if not args.gpu:
            rows.append(run_local(paths, args, root))
            print(f"# {rows[-1]}", file=sys.stderr, flush=True)
        sizes = [1] if args.gpu else [int(n) for n in args.workers.split(",") if n]
        for n in sizes:
            os.environ["SKCATDOG_CACHE_DIR"] = str(root / f"default-cache-{n}")
            rows.append(run_cluster(paths, args, root, n))
            print(f"# {rows[-1]}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    n_rows = len(paths) * len(args.views)
    base = rows[0]["wall"]
    bench.write_result(
        "distributed_gpu" if args.gpu else "distributed",
        [
            "configuration",
            "job wall s",
            "rows/s",
            "vs local" if not args.gpu else "vs first",
            "read+digest+lookup s",
            "decode s",
            "forward s",
            "store write s",
            "forwarded",
            "model build (+ cluster start) s",
        ],
        [
            [
                r["name"],
                f"{r['wall']:.1f}",
                f"{n_rows / r['wall']:.1f}",
                f"{r['wall'] / base:.2f}x",
                f"{r['probe']:.1f}",
                f"{r['decode']:.1f}",
                f"{r['forward']:.1f}",
                f"{r['store']:.2f}",
                r["forwarded"],
                f"{r['setup']:.1f}",
            ]
            for r in rows
        ],
        title="Dask: cluster overhead on one machine",
        what=(
            f"precompute of {n_rows:,} rows ({len(paths):,} photos x {len(args.views)} view(s)) into an empty shared "
            f"store, {args.backbone} with {rows[0]['runtime']} {args.precision}, against the local engine. Stage "
            "seconds are summed over threads (on a cluster, the client's probe plus the workers' stages); the last "
            "column is the one-off model build and cluster start."
        ),
        out=args.out,
    )


if __name__ == "__main__":
    main()
