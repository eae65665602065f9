"""Computing a transformer's missing cache rows on a Dask cluster, into a shared store.

``precompute`` builds one ``PrecomputePlan`` from the transformer's
parameters, with a cluster or without: the precision and decoder of every
row (``"auto"`` resolved by the processes that compute them, so their rows
share one fingerprint), then the store's misses, one item per missing content
(so each unique (backbone, view, content) is forwarded once per run, whichever
worker gets it), split into tasks. On a cluster the misses are found in two
phases: the workers each read, digest and look up a slice of the items (the
digest memo of their host spares the reading of files it knows, and the
store's key index the reading of rows) and return one small record per
missing content; this process, which only lists the items, merges the records
by digest and hands out the tasks. Each task runs the ordinary engine with
``outputs=()``: it computes, writes the rows to the shared store and returns
counts, never rows or models. The engine keeps one model per worker process,
built by the first task and reused by the next ones; nothing heavy crosses the
network but the photos' paths. Without a cluster the same plan runs in this
process, and both return the same counts.

Nothing here keeps a client or a connection: :func:`precompute` takes one for
the length of the call, and estimators stay a few hundred picklable bytes.
"""

from __future__ import annotations

import math
import os
import socket
import time
import warnings
from dataclasses import dataclass, field

from imblearn.utils import Substitution
from joblib import parallel_config

from . import _engine
from ._config import config_context
from ._engine_params import PRECOMPUTE_PARAMS
from ._images import ImageLoadError, as_items, describe
from ._store import is_url, open_store
from ._store.shards import ShardStore, compact
from .backbones import get_backbone

try:  # a module-level base class so that Dask accepts the plugin; Dask itself stays optional
    from distributed import WorkerPlugin as _WorkerPlugin
except ImportError:  # pragma: no cover - exercised only without distributed
    _WorkerPlugin = object

__all__ = [
    "ShardStore",
    "WorkerSetup",
    "compact",
    "precompute",
    "precompute_audit",
    "reset_worker_stats",
    "worker_stats",
]


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


def _worker_info():
    import keras

    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "gpu": _engine.gpu_available(),
        "gpu_decoder": _engine.gpu_decoder_id(),
        "backend": keras.backend.backend(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1,
        "images_forwarded": _engine.stats.images_forwarded,
    }


def _no_gpu_message(info):
    return (
        f"worker process {info['pid']} on {info['host']} has no GPU visible to Keras "
        f"({info['backend']} backend, CUDA_VISIBLE_DEVICES={info['cuda_visible_devices']!r}), but this "
        "precompute runs on a GPU cluster; its rows would be computed on the CPU in a different precision. "
        "Fix the worker's CUDA setup, or pass require_gpu=False to allow CPU workers"
    )


_STAGES = ("decode", "forward", "store")


@dataclass
class PrecomputePlan:
    """What one :func:`precompute` computes, decided once, the same way with or without a cluster.

    The request (items, backbones, views, the engine's arguments) comes from
    the estimator; ``"auto"`` is resolved by the processes that compute (this
    one, or every worker); the probe of the store adds the partitions.

    Attributes
    ----------
    items : list
        The items, as the engine takes them.
    names : list of str
        The backbones.
    views : tuple of str
        The views.
    engine : dict
        The other engine arguments: ``weights``, ``batch_size``, ``cache``,
        ``n_jobs``, ``verbose``.
    precision : dict
        Backbone -> the precision its rows are computed in.
    decoder : str
        ``"pillow"`` or ``"gpu"``.
    fingerprints : dict
        Backbone -> the fingerprint of the rows computed (their store keys').
    partitions : list of (str, list of int)
        ``(backbone, item indices)`` per task, one item per missing content.
    digests : dict
        Item index -> content digest, for the items with a missing row.
    problems : dict
        Item index -> why it is unusable.
    missing : int
        Rows the store lacks.
    task : callable or None
        ``task(items, backbone, engine arguments)`` computes and stores one
        task's rows (and whatever else it keeps); ``None``: the engine alone.
    """

    items: list
    names: list
    views: tuple
    engine: dict
    precision: dict
    decoder: str
    fingerprints: dict
    partitions: list = field(default_factory=list)
    digests: dict = field(default_factory=dict)
    problems: dict = field(default_factory=dict)
    missing: int = 0
    task: object = None

    def request(self, name):
        """The engine's keyword arguments for ``name``'s tasks."""
        return dict(self.engine, views=self.views, precision=self.precision[name], decoder=self.decoder)


def _asked(est, X):
    """What ``est`` asks ``precompute`` for: the plan's fields, ``"auto"`` not yet resolved."""
    from ._engine_params import backbone_names, engine_kwargs, view_names

    engine = engine_kwargs(est)
    if engine["cache"] is None or engine["cache"] is False:
        raise ValueError(
            "precompute fills the cache, but this transformer has cache=None; give it a cache "
            "(on a cluster, a store every worker reaches, such as 'file:///shared/dir' or 's3://bucket/prefix')"
        )
    precision, decoder = engine.pop("precision"), engine.pop("decoder")
    request = dict(items=as_items(X), names=backbone_names(est.backbone), views=view_names(est.views), engine=engine)
    return request, precision, decoder


def _choose(names, weights, precision, decoder):
    """What this process computes for a request: precision per backbone, decoder, their fingerprints.

    ``precision`` is one value for every backbone, or a dict by backbone.
    """
    asked = precision if isinstance(precision, dict) else dict.fromkeys(names, precision)
    chosen = {n: _engine.resolve_precision(asked[n], n) for n in names}
    decoder = _engine.resolve_decoder(decoder)
    pixels = _engine.decoder_id(decoder)
    return {
        "precision": chosen,
        "decoder": decoder,
        "pixels": pixels,
        "fingerprints": {n: _engine.fingerprint(n, weights, chosen[n], pixels) for n in names},
    }


def _agreed(choices):
    """One choice for a cluster from each worker's: what every worker picks, else what every worker
    computes alike (float32 for a precision, Pillow for the decoder)."""
    first, rest = choices[0], choices[1:]
    precision = {
        n: p if all(c["precision"][n] == p for c in rest) else "float32" for n, p in first["precision"].items()
    }
    decoder = first["decoder"] if all(c["decoder"] == first["decoder"] for c in rest) else "pillow"
    return precision, decoder


def _choose_on_cluster(client, request, precision, decoder, infos):
    """The cluster's one choice, checked to give every worker's rows one fingerprint."""
    names, weights = request["names"], request["engine"]["weights"]
    precision, decoder = _agreed(list(client.run(_choose, names, weights, precision, decoder).values()))
    if decoder == "gpu":
        lacking = [i for i in infos.values() if i["gpu_decoder"] is None]
        if lacking:
            raise RuntimeError(
                f"decoder='gpu', but the Dask worker on {lacking[0]['host']} (pid {lacking[0]['pid']}) cannot decode "
                "on a GPU: it needs a CUDA device, torch and NVIDIA nvImageCodec (pip install 'skcatdog[gpu]')"
            )
    choices = client.run(_choose, names, weights, precision, decoder)
    chosen = next(iter(choices.values()))
    pixels = {c["pixels"] for c in choices.values()}
    if len(pixels) > 1:
        libraries = "nvImageCodec and torch" if decoder == "gpu" else "Pillow"
        raise RuntimeError(
            f"the Dask workers decode photos differently ({sorted(pixels)}): their rows would not share one "
            f"fingerprint; install the same {libraries} on every worker"
        )
    for name in names:
        if len({c["fingerprints"][name] for c in choices.values()}) > 1:
            raise RuntimeError(
                f"the Dask workers compute {name}'s rows in precision={chosen['precision'][name]!r} differently "
                "(another Keras backend or bfloat16 runtime): their rows would not share one fingerprint; "
                "install the same Keras backend and runtimes on every worker"
            )
    return chosen


def _warn_if_here_differs(plan, here, weights):
    """Warn where ``transform`` in this process (which resolved the request as ``here``) would not
    find the rows ``plan`` computes, and say what would make it find them, if anything can."""
    as_planned = _choose(plan.names, weights, plan.precision, plan.decoder)
    for name in plan.names:
        if here["fingerprints"][name] == plan.fingerprints[name]:
            continue
        if as_planned["fingerprints"][name] == plan.fingerprints[name]:
            asked = {"precision": plan.precision[name], "decoder": plan.decoder}
            mine = {"precision": here["precision"][name], "decoder": here["decoder"]}
            params = ", ".join(f"{p}={v!r}" for p, v in asked.items() if v != mine[p])
            fix = f"set {params} on the transformer to use them here too"
        else:
            fix = (
                "this process has other libraries than the workers (Pillow, nvImageCodec and torch, "
                "the Keras backend or the bfloat16 runtime), so it names such rows otherwise"
            )
        warnings.warn(
            f"the cluster computes {name}'s rows with precision={plan.precision[name]!r} and "
            f"decoder={plan.decoder!r}, which transform here will not find: {fix}",
            stacklevel=4,  # the caller of KerasEmbeddingTransformer.precompute
        )


def _cluster_infos(client, cache, require_gpu):
    """Each worker's :func:`_worker_info`, and whether this is a GPU cluster; refuses what cannot work."""
    infos = client.run(_worker_info)
    if not infos:
        raise RuntimeError("the Dask cluster has no workers")
    if not is_url(cache):
        elsewhere = sorted({i["host"] for i in infos.values()} - {socket.gethostname()})
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
    return infos, gpu_cluster


#: Items per planning task at most: each task's records stay small, and a lost worker's
#: retried task redoes little.
PROBE_ITEMS = 20_000


def _plan(request, choice, task=None):
    """The plan for ``request`` as ``choice`` resolves it, before the store is probed."""
    chosen = {key: choice[key] for key in ("precision", "decoder", "fingerprints")}
    return PrecomputePlan(**request, **chosen, task=task)


def _probe_requests(plan):
    """Backbone -> :func:`skcatdog._engine.find_missing`'s keyword arguments."""
    return {
        name: {
            "weights": plan.engine["weights"],
            "views": plan.views,
            "cache": plan.engine["cache"],
            "n_jobs": plan.engine["n_jobs"],
            "precision": plan.precision[name],
            "decoder": plan.decoder,
            "fingerprint": plan.fingerprints[name],
        }
        for name in plan.names
    }


def _probe(items, start, requests):
    """What the store lacks for ``items`` (item ``start`` onwards), as small records:
    ``{"problems": [(index, reason)], "missing": {backbone: [(digest, views it lacks,
    indices of the items holding it)]}}``. The photos are read and digested here (or their
    digests come from this host's memo), never by the caller."""
    problems, missing = {}, {}
    for name, request in requests.items():
        found = _engine.find_missing(items, name, **request)
        for i, reason in found.problems:
            problems.setdefault(start + i, reason)
        shared = {}  # one tuple per set of views: pickled once, however many records hold it
        missing[name] = records = []
        for digest, rows in found.rows.items():
            views = tuple(found.views[digest])
            records.append((digest, shared.setdefault(views, views), [start + i for i in rows]))
    return {"problems": sorted(problems.items()), "missing": missing}


def _probe_on_worker(items, start, requests, threads_by_host):
    """One planning task on a worker: :func:`_probe`, with the worker's share of its host's cores."""
    requests = {name: _worker_request(request, threads_by_host) for name, request in requests.items()}
    with parallel_config(backend="threading"), config_context(decoder="threads"):
        return _probe(items, start, requests)


def _slices(n, n_workers):
    """``(start, stop)`` of the slices of ``n`` items that per-photo tasks (probes, measures) take:
    about four per worker, at most :data:`PROBE_ITEMS` items each."""
    size = max(1, min(PROBE_ITEMS, math.ceil(n / (4 * n_workers))))
    return [(s, min(s + size, n)) for s in range(0, n, size)]


def _probe_on_cluster(client, plan, n_workers, threads_by_host):
    """The workers probe the store, each for a slice of the items; their records, in item order."""
    slices = _slices(len(plan.items), n_workers)
    requests = _probe_requests(plan)
    futures = [
        client.submit(
            _probe_on_worker,
            plan.items[start:stop],
            start,
            requests,
            threads_by_host,
            pure=False,
            key=f"skcatdog-probe-{start}-{os.urandom(4).hex()}",
        )
        for start, stop in slices
    ]
    sizes = [stop - start for start, stop in slices]
    return _gather(client, futures, sizes, "identifying on the workers", plan.engine["verbose"])


def _gather(client, futures, sizes, desc, verbose):
    """The futures' results in order; with ``verbose``, a progress bar of the photos whose task is done."""
    if verbose:
        from distributed import as_completed
        from tqdm.auto import tqdm

        weight = {future.key: size for future, size in zip(futures, sizes, strict=True)}
        with tqdm(total=sum(sizes), desc=desc, unit="photo", leave=False) as bar:
            for future in as_completed(futures):
                bar.update(weight[future.key])
    return client.gather(futures)


def _add_tasks(plan, probes, n_workers, partition_size):
    """Merge the probes' records into ``plan``: each missing content once (the first item
    that holds it, whichever probe saw it), split into tasks (``n_workers=None``: this
    process alone, one task per backbone)."""
    todo = {name: [] for name in plan.names}
    seen = {name: set() for name in plan.names}  # digests already given a task
    while probes:
        probe = probes.pop(0)  # each probe's records are dropped once merged
        for i, reason in probe["problems"]:
            plan.problems.setdefault(i, reason)
        for name, records in probe["missing"].items():
            for digest, views, rows in records:
                plan.digests.update(dict.fromkeys(rows, digest))
                if digest not in seen[name]:
                    seen[name].add(digest)
                    todo[name].append(rows[0])
                    plan.missing += len(views)
    for name in plan.names:
        if not todo[name]:
            continue
        if partition_size:
            size = partition_size
        elif n_workers is None:
            size = len(todo[name])
        else:
            # A whole number of rounds over the workers (no worker left finishing a task alone),
            # up to 4 (retries after a lost worker redo less), each task at least a full batch.
            batch = _engine.resolve_batch_size(plan.engine["batch_size"])
            rounds = max(1, min(4, len(todo[name]) // (batch * n_workers)))
            size = math.ceil(len(todo[name]) / (rounds * n_workers))
        plan.partitions += [(name, todo[name][s : s + size]) for s in range(0, len(todo[name]), size)]
    return plan


def _worker_request(request, threads_by_host):
    if request["n_jobs"] == -1 and threads_by_host:
        # "All cores" means this worker's share of its host's cores: several
        # worker processes on one host would otherwise each start a decode
        # thread per core and crowd out each other's forward passes.
        return dict(request, n_jobs=threads_by_host.get(socket.gethostname(), -1))
    return request


def _compute(items, name, request, task=None):
    """Compute and store the rows of ``items`` in this process (through ``task`` if given);
    return counts, never rows."""
    before = _engine.stats.snapshot()
    start = time.perf_counter()
    problems = []
    try:
        if task is None:
            _engine.embed_many(items, name, outputs=(), **request)
        else:
            task(items, name, request)
    except ImageLoadError as exc:
        problems = exc.problems
    after = _engine.stats.snapshot()
    # Deltas of process-wide counters: exact with one task at a time per process (threads_per_worker=1).
    seconds = {stage: after[f"seconds_{stage}"] - before[f"seconds_{stage}"] for stage in _STAGES}
    seconds["task"] = time.perf_counter() - start
    return {
        "forwarded": after["images_forwarded"] - before["images_forwarded"],
        "seconds": seconds,
        "problems": problems,
        "pid": os.getpid(),
        "host": socket.gethostname(),
    }


def _embed_partition(items, name, request, require_gpu, threads_by_host, task=None):
    """One task on a worker: :func:`_compute`, with the worker's share of its host's cores."""
    if require_gpu and not _engine.gpu_available():
        raise RuntimeError(_no_gpu_message(_worker_info()))
    request = _worker_request(request, threads_by_host)
    # joblib's default backend refuses to count cores inside a daemonic Dask worker (and
    # warns); a worker is already one process among several, so Pillow decodes in its threads.
    with parallel_config(backend="threading"), config_context(decoder="threads"):
        return _compute(items, name, request, task)


def _run_here(plan):
    return [
        _compute([plan.items[i] for i in part], name, plan.request(name), plan.task) for name, part in plan.partitions
    ]


def _threads_by_host(infos):
    """Host -> each worker's share of its cores."""
    per_host = {}
    for info in infos.values():
        per_host.setdefault(info["host"], []).append(info["cores"])
    return {host: max(1, min(cores) // len(cores)) for host, cores in per_host.items()}


def _run_on_cluster(client, plan, gpu_cluster, threads_by_host):
    requests = {name: dict(plan.request(name), verbose=0) for name in plan.names}
    futures = [
        client.submit(
            _embed_partition,
            [plan.items[i] for i in part],
            name,
            requests[name],
            gpu_cluster,
            threads_by_host,
            plan.task,
            pure=False,
            key=f"skcatdog-embed-{name}-{n}-{os.urandom(4).hex()}",
        )
        for n, (name, part) in enumerate(plan.partitions)
    ]
    sizes = [len(part) for _, part in plan.partitions]
    return _gather(client, futures, sizes, "computing on the workers", plan.engine["verbose"])


def _result(plan, outcomes, seconds):
    """The counts :func:`precompute` returns; raises for the bad items, after the good rows are stored."""
    problems = dict(plan.problems)
    for (_, part), outcome in zip(plan.partitions, outcomes, strict=True):
        local = {describe(plan.items[i], j): i for j, i in enumerate(part)}
        for item_name, reason in outcome["problems"]:
            i = local.get(item_name)
            if i is None:  # pragma: no cover - the engine names items as describe() does
                raise ImageLoadError([(item_name, reason)])
            problems.setdefault(i, reason)
    if problems:
        # Identical content is bad for every item that has it, not only the one sent.
        by_digest = {plan.digests[i]: reason for i, reason in problems.items() if i in plan.digests}
        for i, digest in plan.digests.items():
            if digest in by_digest:
                problems.setdefault(i, by_digest[digest])
        raise ImageLoadError([(describe(plan.items[i], i), problems[i]) for i in sorted(problems)])
    per_worker = {}
    for o in outcomes:
        per_worker[f"{o['host']}:{o['pid']}"] = per_worker.get(f"{o['host']}:{o['pid']}", 0) + o["forwarded"]
    for stage in _STAGES:
        # Summed over the tasks: on a cluster, compare with its wall time times its threads.
        seconds[stage] = sum(o["seconds"][stage] for o in outcomes)
    return {
        "items": len(plan.items),
        "unique_missing": len(set(plan.digests.values())),
        "missing": plan.missing,
        "forwarded": sum(o["forwarded"] for o in outcomes),
        "tasks": len(plan.partitions),
        "forwarded_per_worker": per_worker,
        "precision": dict(plan.precision),
        "decoder": plan.decoder,
        "seconds": seconds,
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


@Substitution(precompute_params=PRECOMPUTE_PARAMS.replace("\n        ", "\n    "))
def precompute(est, X, *, client=None, partition_size=None, require_gpu=None):
    """Fill ``est``'s cache with every row ``est.transform(X)`` needs, on a Dask cluster if there is one.

    What :meth:`skcatdog.KerasEmbeddingTransformer.precompute` does.

    Parameters
    ----------
    est : KerasEmbeddingTransformer
        Its backbone, views, weights, precision, decoder and ``cache`` decide the rows.
    {precompute_params}
    """
    est._validate_once()
    request, precision, decoder = _asked(est, X)
    return _precompute(request, precision, decoder, client, partition_size, require_gpu)


def _precompute(request, precision, decoder, client, partition_size, require_gpu, task=None):
    """:func:`precompute` of a request (see :func:`_asked`), each task run by ``task``."""
    if client is None:
        client = _default_client()
    started = time.perf_counter()
    here = _choose(request["names"], request["engine"]["weights"], precision, decoder)
    if client is None:
        plan = _plan(request, here, task)
        _add_tasks(plan, [_probe(plan.items, 0, _probe_requests(plan))], None, partition_size)
    else:
        # The workers read, digest and look up the photos; this process only lists them,
        # merges the workers' small records and hands out the contents to compute.
        infos, gpu_cluster = _cluster_infos(client, request["engine"]["cache"], require_gpu)
        threads_by_host = _threads_by_host(infos)
        plan = _plan(request, _choose_on_cluster(client, request, precision, decoder, infos), task)
        _warn_if_here_differs(plan, here, request["engine"]["weights"])
        _add_tasks(plan, _probe_on_cluster(client, plan, len(infos), threads_by_host), len(infos), partition_size)
    planned = time.perf_counter()
    outcomes = _run_here(plan) if client is None else _run_on_cluster(client, plan, gpu_cluster, threads_by_host)
    done = time.perf_counter()
    return _result(plan, outcomes, {"plan": planned - started, "compute": done - planned, "total": done - started})


@dataclass(frozen=True)
class _MeasuredRows:
    """A task that also takes the audit's pixel measures of each photo it decodes, in that
    decode, and publishes them in the store beside the rows."""

    def __call__(self, items, name, request):
        from .audit.pixels import PixelPass

        store = open_store(request["cache"])
        # Prints are not stored (a near-copy candidate's is made when the audit asks for it): none is kept.
        pixels = PixelPass(store, get_backbone(name).input_size, request["n_jobs"], keep_prints=False)
        try:
            _engine.embed_many(items, name, outputs=(), extras=pixels.extras(), **request)
        finally:
            pixels.store_measured()
            store.flush()


def _measure_rest(items, cache, size, n_jobs, threads_by_host):
    """On a worker: the measures of the photos among ``items`` whose measures the store lacks
    (their rows were stored earlier, so the engine did not decode them); none read otherwise."""
    from .audit.pixels import PixelPass

    n_jobs = _worker_request({"n_jobs": n_jobs}, threads_by_host)["n_jobs"]
    with parallel_config(backend="threading"), config_context(decoder="threads"):
        store = open_store(cache)
        digests, problems = _engine.content_digests(items, cache, n_jobs)
        if problems:
            raise ImageLoadError([(describe(items[i], i), reason) for i, reason in problems])
        PixelPass(store, size, n_jobs).measures(items, digests)
        store.flush()
    return len(items)


def precompute_audit(
    X,
    *,
    client,
    backbone,
    views=("crop", "full"),
    cache,
    n_jobs=-1,
    precision="auto",
    decoder="auto",
    measures=True,
    verbose=0,
):
    """Fill a shared store with what :func:`skcatdog.find_issues` reads, on a Dask cluster.

    The workers compute each missing content's rows (embeddings and logits of
    every view) and, with ``measures=True``, the audit's pixel measures in the
    decode that embeds it, and publish both in the store; a photo whose rows
    were already stored but not its measures is decoded for them alone. The
    client only lists the photos, as :func:`precompute` does. An audit of the
    same photos with the same store then reads everything from it:
    ``find_issues(..., client=client)`` calls this function first.

    Parameters
    ----------
    X : sequence of str, path-like or ndarray
        The photos; paths must be readable by the workers.
    client : distributed.Client
        The cluster to compute on.
    backbone : str
        The audit's backbone.
    views : tuple of str, default=("crop", "full")
        The audit's views.
    cache : str
        A shared store's fsspec URL, which every worker reaches.
    n_jobs : int, default=-1
        Read and decode threads per worker (-1: its share of its host's cores).
    precision : {"auto", "float32", "mixed", "bfloat16"}, default="auto"
        As for :func:`skcatdog.find_issues`.
    decoder : {"auto", "pillow", "gpu"}, default="auto"
        As for :func:`skcatdog.find_issues`.
    measures : bool, default=True
        Also compute and store the pixel measures of every photo.
    verbose : int, default=0
        ``1`` shows a progress bar of each stage's tasks.

    Returns
    -------
    dict
        The counts :func:`precompute` returns, for the rows.

    Raises
    ------
    skcatdog.ImageLoadError
        Naming every unreadable photo, after the good ones' rows and measures are stored.
    """
    if not (isinstance(cache, str) and is_url(cache)):
        raise ValueError(
            f"an audit on a Dask cluster needs a store every worker reaches, an fsspec URL such as "
            f"'file:///shared/dir' or 's3://bucket/prefix', as cache; got {cache!r}"
        )
    from ._engine_params import backbone_names, view_names

    engine = {"weights": "imagenet", "batch_size": "auto", "cache": cache, "n_jobs": n_jobs, "verbose": verbose}
    request = {"items": as_items(X), "names": backbone_names(backbone), "views": view_names(views), "engine": engine}
    report = _precompute(request, precision, decoder, client, None, None, _MeasuredRows() if measures else None)
    if measures:
        items, infos = request["items"], client.run(_worker_info)
        threads_by_host = _threads_by_host(infos)
        tasks = [(name, start, stop) for name in request["names"] for start, stop in _slices(len(items), len(infos))]
        futures = [
            client.submit(
                _measure_rest,
                items[start:stop],
                cache,
                get_backbone(name).input_size,
                n_jobs,
                threads_by_host,
                pure=False,
                key=f"skcatdog-measure-{start}-{os.urandom(4).hex()}",
            )
            for name, start, stop in tasks
        ]
        sizes = [stop - start for _, start, stop in tasks]
        _gather(client, futures, sizes, "measuring on the workers", verbose)
    return report
