"""Computing a transformer's missing cache rows on a Dask cluster, into a shared store.

The client reads and digests the items (the digest is the cache key), looks
the keys up in the store, keeps one item per missing content (so each unique
(backbone, view, content) is forwarded once per run, whichever worker gets
it) and sends partitions of those to the workers.  Each task runs the
ordinary engine with ``outputs=()``: it computes, writes the rows to the
shared store and returns counts, never rows or models.  The engine keeps one
model per worker process, built by the first task and
reused by the next ones; nothing heavy crosses the network but the photos'
paths.

Nothing here keeps a client or a connection: :func:`precompute` takes one for
the length of the call, and estimators stay a few hundred picklable bytes.
"""

from __future__ import annotations

import math
import os
import socket
import time
import warnings

from imblearn.utils import Substitution
from joblib import parallel_config

from . import _engine
from ._config import config_context, setting
from ._engine_params import PRECOMPUTE_PARAMS
from ._images import DECODER_ID, ImageLoadError, as_items, describe
from ._store import is_url
from ._store.shards import ShardStore, compact

try:  # a module-level base class so that Dask accepts the plugin; Dask itself stays optional
    from distributed import WorkerPlugin as _WorkerPlugin
except ImportError:  # pragma: no cover - exercised only without distributed
    _WorkerPlugin = object

__all__ = ["ShardStore", "WorkerSetup", "compact", "precompute", "reset_worker_stats", "worker_stats"]


class WorkerSetup(_WorkerPlugin):
    """A Dask worker plugin that prepares each worker process for skcatdog.

    Register it once (``client.register_plugin(WorkerSetup(...))``); Dask
    runs it on every worker, including those restarted after a crash.

    Parameters
    ----------
    tf_threads : int or None
        TensorFlow's intra-op threads per worker.  Several worker processes
        on one host each default to one thread per core; give each its share
        (cores / workers) so they do not oversubscribe the CPU.
    preload : sequence of str
        Modules to import on the worker, for example one that registers a
        custom backbone with :func:`skcatdog.backbones.register_backbone`.
    """

    name = "skcatdog-worker-setup"

    def __init__(self, tf_threads=None, preload=()):
        self.tf_threads = tf_threads
        self.preload = tuple(preload)

    def setup(self, worker=None):
        """Set the worker's threads and import the preload modules (Dask calls it).

        Parameters
        ----------
        worker : distributed.Worker, optional
            The worker being set up.
        """
        import importlib

        if self.tf_threads:
            _set_tf_threads(self.tf_threads)
        for module in self.preload:
            importlib.import_module(module)


def _set_tf_threads(n):
    # The environment covers TensorFlow's own pools even if something else
    # initialises it first; tf.config is what the LiteRT and OpenVINO forward
    # passes read for their thread count (skcatdog._runtimes.threads).
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(n)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    try:
        import tensorflow as tf
    except ImportError:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # TensorFlow already ran in this process: its pools are fixed now


def _worker_info():
    import keras

    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "gpu": _engine.gpu_available(),
        "gpu_decoder": _engine.gpu_decoder_id() if _engine.gpu_available() else None,
        "cpu_decoder": DECODER_ID,
        "backend": keras.backend.backend(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1,
        "images_forwarded": _engine.stats.images_forwarded,
    }


def _forwarded():
    return _engine.stats.images_forwarded


def _reset_stats():
    _engine.stats.reset()


def worker_stats(client):
    """Count the images each worker process has forwarded.

    Parameters
    ----------
    client : distributed.Client
        A client of the cluster.

    Returns
    -------
    dict
        ``{worker address: images forwarded by that worker process}``.
    """
    return client.run(_forwarded)


def reset_worker_stats(client):
    """Set every worker process's counts (see :func:`worker_stats`) back to zero.

    Parameters
    ----------
    client : distributed.Client
        A client of the cluster.
    """
    client.run(_reset_stats)


def _no_gpu_message(info):
    return (
        f"worker process {info['pid']} on {info['host']} has no GPU visible to Keras "
        f"({info['backend']} backend, CUDA_VISIBLE_DEVICES={info['cuda_visible_devices']!r}), but this "
        "precompute runs on a GPU cluster; its rows would be computed on the CPU in a different precision. "
        "Fix the worker's CUDA setup, or pass require_gpu=False to allow CPU workers"
    )


_STAGES = ("decode", "forward", "store")


def _embed_partition(items, backbone, views, cache, require_gpu, engine_kwargs, threads_by_host=None, decoder=None):
    """One task: compute and store the rows of ``items``; return counts, never rows.

    ``decoder``: the decoder setting every worker uses, so that all rows share one fingerprint."""
    if require_gpu and not _engine.gpu_available():
        raise RuntimeError(_no_gpu_message(_worker_info()))
    if engine_kwargs["n_jobs"] == -1 and threads_by_host:
        # "All cores" means this worker's share of its host's cores: several
        # worker processes on one host would otherwise each start a decode
        # thread per core and crowd out each other's forward passes.
        engine_kwargs = dict(engine_kwargs, n_jobs=threads_by_host.get(socket.gethostname(), -1))
    before = _engine.stats.snapshot()
    start = time.perf_counter()
    problems = []
    try:
        # joblib's default backend refuses to count cores inside a daemonic Dask
        # worker (and warns); the engine only needs the count for its decode threads.
        with parallel_config(backend="threading"), config_context(decoder=decoder or setting("decoder")):
            _engine.embed_many(items, backbone, views=views, cache=cache, outputs=(), **engine_kwargs)
    except ImageLoadError as exc:
        problems = exc.problems
    after = _engine.stats.snapshot()
    # Deltas of process-wide counters: exact with one task at a time per worker (threads_per_worker=1).
    seconds = {stage: after[f"seconds_{stage}"] - before[f"seconds_{stage}"] for stage in _STAGES}
    seconds["task"] = time.perf_counter() - start
    return {
        "forwarded": after["images_forwarded"] - before["images_forwarded"],
        "seconds": seconds,
        "problems": problems,
        "pid": os.getpid(),
        "host": socket.gethostname(),
    }


def _default_client():
    try:
        from distributed import get_client
    except ImportError:
        return None
    try:
        return get_client()
    except ValueError:  # no client in this process
        return None


def _find_misses(items, name, views, weights, precision, cache, n_jobs, decoder_id=None):
    """The engine's own identify and look-up phases on this host: what the store lacks."""
    return _engine.find_missing(
        items, name, weights, views=views, cache=cache, n_jobs=n_jobs, precision=precision, decoder_id=decoder_id
    )


def _cluster_decoder(infos, gpu_cluster):
    """``(decoder setting for the workers, the name of their pixels)``, one for the whole cluster.

    ``set_config(decoder="auto")`` decodes on the GPUs of a GPU cluster whose workers all can;
    otherwise every worker decodes on its CPU with Pillow (in threads: a Dask worker already
    is one process among many), whose rows any machine reproduces.
    """
    choice = setting("decoder")
    gpu_ids = {info["gpu_decoder"] for info in infos.values()}
    if choice == "gpu" or (choice == "auto" and gpu_cluster and None not in gpu_ids):
        if None in gpu_ids:
            lacking = next(i for i in infos.values() if i["gpu_decoder"] is None)
            raise RuntimeError(
                f"decoder='gpu', but the Dask worker on {lacking['host']} (pid {lacking['pid']}) cannot decode on "
                "a GPU: it needs a CUDA device, torch and NVIDIA nvImageCodec (pip install 'skcatdog[gpu]')"
            )
        if len(gpu_ids) > 1:
            raise RuntimeError(
                f"the Dask workers decode on their GPUs with different library versions ({sorted(gpu_ids)}): "
                "their rows would not share one fingerprint; install the same nvImageCodec and torch on every worker"
            )
        decoder, decoder_id = "gpu", gpu_ids.pop()
    else:
        cpu_ids = {info["cpu_decoder"] for info in infos.values()}
        if len(cpu_ids) > 1:
            raise RuntimeError(
                f"the Dask workers' Pillow versions resize differently ({sorted(cpu_ids)}): their rows would "
                "not share one fingerprint; install the same Pillow on every worker"
            )
        decoder, decoder_id = "threads", cpu_ids.pop()
    here = _engine.decoder_id()
    if here != decoder_id:
        warnings.warn(
            f"the cluster's workers decode photos as {decoder_id!r}, but this process decodes them as {here!r}, "
            f"so transform here will not find the cluster's rows; set_config(decoder={decoder!r}) here to use them",
            stacklevel=4,
        )
    return decoder, decoder_id


@Substitution(precompute_params=PRECOMPUTE_PARAMS.replace("\n        ", "\n    "))
def precompute(est, X, *, client=None, partition_size=None, require_gpu=None):
    """Fill ``est``'s cache with every row ``est.transform(X)`` needs, on a Dask cluster if there is one.

    What :meth:`skcatdog.KerasEmbeddingTransformer.precompute` does.

    Parameters
    ----------
    est : KerasEmbeddingTransformer
        Its backbone, views, precision and ``cache`` decide the rows.
    {precompute_params}
    """
    from ._engine_params import backbone_names, engine_kwargs, view_names

    est._validate_once()
    names = backbone_names(est.backbone)
    views = view_names(est.views)
    items = as_items(X)
    kwargs = engine_kwargs(est)
    cache = kwargs.pop("cache")
    kwargs.pop("verbose")
    if cache is None or cache is False:
        raise ValueError(
            "precompute fills the cache, but this transformer has cache=None; give it a cache "
            "(on a cluster, a store every worker reaches, such as 'file:///shared/dir' or 's3://bucket/prefix')"
        )
    if client is None:
        client = _default_client()
    if client is None:
        return _precompute_here(items, names, views, cache, kwargs, est.verbose)

    infos = client.run(_worker_info)
    if not infos:
        raise RuntimeError("the Dask cluster has no workers")
    if not is_url(cache):
        here = socket.gethostname()
        elsewhere = sorted({i["host"] for i in infos.values()} - {here})
        if elsewhere:
            raise ValueError(
                f"cache={cache!r} is a directory on this host, but Dask workers run on {elsewhere}: "
                "they would each fill their own cache. Use a store every host reaches, an fsspec URL such as "
                "'file:///shared/dir' (NFS) or 's3://bucket/prefix'"
            )
    gpu_cluster = (
        require_gpu
        if require_gpu is not None
        else any(i["gpu"] or i["cuda_visible_devices"] not in (None, "") for i in infos.values())
    )
    if gpu_cluster:
        missing_gpu = [i for i in infos.values() if not i["gpu"]]
        if missing_gpu:
            raise RuntimeError(_no_gpu_message(missing_gpu[0]))
    precision = kwargs.pop("precision")
    if precision == "auto":
        # Every worker must compute the same fingerprint; "auto" would let each decide.
        precision = "mixed" if gpu_cluster else "float32"
        here = {_engine.resolve_precision("auto", name) for name in names}
        if here != {precision}:
            warnings.warn(
                f"the cluster computes precision='auto' as {precision!r}, but this process resolves it to "
                f"{' or '.join(map(repr, sorted(here)))}, so transform here will not find the cluster's rows; "
                f"set precision={precision!r} on the transformer to use them everywhere",
                stacklevel=3,
            )

    decoder, decoder_id = _cluster_decoder(infos, gpu_cluster)

    started = time.perf_counter()
    problems = {}  # index -> reason
    digests = {}  # index -> content digest, for items with a missing row
    todo = {}  # backbone -> one index per missing content
    missing = 0
    for name in names:
        found = _find_misses(items, name, views, kwargs["weights"], precision, cache, kwargs["n_jobs"], decoder_id)
        problems.update(found.problems)
        todo[name] = [rows[0] for rows in found.rows.values()]
        digests.update((i, d) for d, rows in found.rows.items() for i in rows)
        missing += sum(len(views) for views in found.views.values())
    timings = {"probe": time.perf_counter() - started}

    n_workers = len(infos)
    per_host = {}
    for info in infos.values():
        per_host.setdefault(info["host"], []).append(info["cores"])
    threads_by_host = {host: max(1, min(cores) // len(cores)) for host, cores in per_host.items()}
    tasks = []
    for name in names:
        idx = todo[name]
        if not idx:
            continue
        if partition_size:
            size = partition_size
        else:
            # A whole number of rounds over the workers (no worker left finishing a task alone),
            # up to 4 (retries after a lost worker redo less), each task at least a full batch.
            rounds = max(1, min(4, len(idx) // (_engine.resolve_batch_size(kwargs["batch_size"]) * n_workers)))
            size = math.ceil(len(idx) / (rounds * n_workers))
        for s in range(0, len(idx), size):
            tasks.append((name, idx[s : s + size]))
    t = time.perf_counter()
    futures = [
        client.submit(
            _embed_partition,
            [items[i] for i in part],
            name,
            views,
            cache,
            gpu_cluster,
            dict(kwargs, precision=precision),
            threads_by_host,
            decoder,
            pure=False,
            key=f"skcatdog-embed-{name}-{n}-{os.urandom(4).hex()}",
        )
        for n, (name, part) in enumerate(tasks)
    ]
    results = client.gather(futures)
    timings["cluster"] = time.perf_counter() - t
    for (_, part), result in zip(tasks, results, strict=True):
        local = {describe(items[i], j): i for j, i in enumerate(part)}
        for item_name, reason in result["problems"]:
            i = local.get(item_name)
            if i is None:  # pragma: no cover - the engine names items as describe() does
                raise ImageLoadError([(item_name, reason)])
            problems.setdefault(i, reason)
    if problems:
        # Identical content is bad for every item that has it, not only the one sent.
        by_digest = {digests[i]: reason for i, reason in problems.items() if i in digests}
        for i, digest in digests.items():
            if digest in by_digest:
                problems.setdefault(i, by_digest[digest])
        raise ImageLoadError([(describe(items[i], i), problems[i]) for i in sorted(problems)])
    timings["total"] = time.perf_counter() - started
    per_worker = {}
    for r in results:
        per_worker[f"{r['host']}:{r['pid']}"] = per_worker.get(f"{r['host']}:{r['pid']}", 0) + r["forwarded"]
    for stage in _STAGES:
        # Summed over the workers' threads: compare with the cluster's wall time times its threads.
        timings[f"worker_{stage}"] = sum(r["seconds"][stage] for r in results)
    return {
        "items": len(items),
        "unique_missing": len(set(digests.values())),
        "missing": missing,
        "forwarded": sum(r["forwarded"] for r in results),
        "tasks": len(tasks),
        "forwarded_per_worker": per_worker,
        "precision": precision,
        "seconds": timings,
    }


def _precompute_here(items, names, views, cache, kwargs, verbose):
    """No cluster: the plain engine, in this process."""
    before = _engine.stats.images_forwarded
    start = time.perf_counter()
    for name in names:
        _engine.embed_many(items, name, views=views, cache=cache, verbose=verbose, outputs=(), **kwargs)
    forwarded = _engine.stats.images_forwarded - before
    return {
        "items": len(items),
        "forwarded": forwarded,
        "tasks": 0,
        "seconds": {"total": time.perf_counter() - start},
    }
