"""The seven parameters every backbone-running estimator passes to the engine, defined once.

``KerasEmbeddingTransformer`` and ``ImageNetOutlierFilter`` both take
``weights``, ``batch_size``, ``cache``, ``n_jobs``, ``precision``,
``decoder`` and ``verbose``: everything that decides a row's values is among
them (or the backbone and views), never a process-wide setting. Their
constraints (scikit-learn's ``_parameter_constraints`` language) and their
docstring text live here; the estimators merge the constraints into their own
dict and fill their docstrings with imbalanced-learn's ``Substitution``
decorator, so the two cannot drift apart.
"""

from __future__ import annotations

import copy
import numbers
import os

from imblearn.utils import Substitution

from ._engine import DECODERS, PRECISIONS
from ._images import VIEWS
from ._validation import HasMethods, Interval, InvalidParameterError, StrOptions
from .backbones import get_backbone

__all__ = [
    "ENGINE_PARAMETER_CONSTRAINTS",
    "PRECOMPUTE_PARAMS",
    "EngineParamsMixin",
    "backbone_names",
    "engine_kwargs",
    "substitute_engine_docs",
    "view_names",
]

# Constraints must be disjoint (scikit-learn's check_param_validation): "imagenet" and "auto" are
# among the strings that `str` accepts, so they are not listed again as StrOptions.
ENGINE_PARAMETER_CONSTRAINTS = {
    "weights": [str, os.PathLike, None],  # "imagenet" or a weights file (checked to exist)
    "batch_size": [Interval(numbers.Integral, 1, None, closed="left"), StrOptions({"auto"})],
    # Any str: "auto", directory paths, and fsspec URLs ("s3://...", "file://...") of a shared store;
    # or a store object (anything with the store interface).
    "cache": [str, os.PathLike, None, HasMethods(["get_many", "put_many", "flush"])],
    # joblib reads 0 as nothing to run with; every other integer is meaningful (-1: all cores).
    "n_jobs": [
        Interval(numbers.Integral, None, -1, closed="right"),
        Interval(numbers.Integral, 1, None, closed="left"),
        None,
    ],
    "precision": [StrOptions(set(PRECISIONS))],
    "decoder": [StrOptions(set(DECODERS))],
    "verbose": ["verbose"],
}

#: The parameters, returns and raises of :func:`precompute` and the transformer's method, written once.
PRECOMPUTE_PARAMS = """X : sequence of str, path-like or ndarray
            As for ``transform``; paths must be readable by the workers.
        client : distributed.Client, optional
            The cluster to compute on; by default the client this process
            is connected to, if any, else this process alone.
        partition_size : int, optional
            Items per task; by default up to four rounds of equal tasks over
            the workers, each at least ``batch_size`` items.
        require_gpu : bool, optional
            ``True``: every worker must see a GPU, else ``RuntimeError``.
            Default: required when any worker has one or has
            ``CUDA_VISIBLE_DEVICES`` set (as ``dask_cuda`` workers do).

        Returns
        -------
        dict
            The same keys with a cluster or without: ``items`` (given),
            ``unique_missing`` (contents that lacked a row), ``missing``
            (rows that were missing), ``forwarded`` (images forwarded, equal
            to ``missing``), ``tasks`` (tasks run), ``forwarded_per_worker``
            (``{"host:pid": images}``), ``precision`` (``{backbone:
            precision}``, ``"auto"`` resolved), ``decoder`` (``"pillow"`` or
            ``"gpu"``) and ``seconds`` (``plan``, ``compute`` and ``total``
            wall time; ``decode``, ``forward`` and ``store`` summed over the
            tasks).

        Raises
        ------
        skcatdog.ImageLoadError
            Naming every bad item, after the good ones are stored.
        RuntimeError
            When the workers cannot compute rows under one fingerprint (a
            worker without a GPU on a GPU cluster, ``decoder="gpu"`` where a
            worker cannot decode on its GPU, workers whose Pillow,
            nvImageCodec, Keras backend or bfloat16 runtime differ).

        Warns
        -----
        UserWarning
            When ``transform`` in this process would not find the rows the
            cluster computes (it resolves ``"auto"`` otherwise, or has other
            libraries), naming the parameter to set.

        Notes
        -----
        Every row's fingerprint names its precision and decoder, so the
        cluster makes one choice for all its workers: each worker resolves
        ``precision`` and ``decoder`` as ``transform`` would there; a value
        every worker picks is used (bfloat16 where every worker computes in
        it, mixed float16 on a GPU cluster, GPU decoding where every worker
        can), else the one every worker computes alike (float32, Pillow).
        Without a cluster, they are resolved as ``transform`` resolves them
        here."""


#: A backbone name, or several (a list or tuple of distinct registered names).
BACKBONE_CONSTRAINT = [str, list, tuple]
#: One view name, or several (a tuple or list of distinct names).
VIEWS_CONSTRAINT = [StrOptions(set(VIEWS)), tuple, list]

_ENGINE_DOCS = dict(
    weights="""weights : "imagenet", path or None, default="imagenet"
        ``"imagenet"`` loads ImageNet weights (offline for
        ``efficientnet_lite*``, downloaded by Keras for the
        ``keras.applications`` networks); a path loads that local file;
        ``None`` builds deterministic random weights (for tests).""",
    batch_size="""batch_size : int or "auto", default="auto"
        Images per forward pass: ``"auto"`` is 256 where the forward pass
        runs on a GPU (which larger batches keep busy) and 64 elsewhere.
        Batches have one shape per call, so nothing is compiled twice.""",
    cache="""cache : "auto", str, path-like, store or None, default="auto"
        Where embeddings are cached: a directory path, or an fsspec URL
        (``s3://``, ``gs://``, ``file://``) for a store shared by several
        machines, or a store object such as
        :class:`skcatdog.distributed.ShardStore` (it must pickle, as the
        estimator does). ``"auto"`` uses ``$SKCATDOG_CACHE_DIR``, else
        ``$XDG_CACHE_HOME/skcatdog``, else ``~/.cache/skcatdog``; ``None``
        disables caching.""",
    n_jobs="""n_jobs : int or None, default=-1
        Threads that read and decode images while the network runs
        (joblib convention: -1 means one per core, None means 1 unless
        inside a ``joblib.parallel_config`` context; 0 is refused).""",
    precision="""precision : {"auto", "float32", "mixed", "bfloat16"}, default="auto"
        ``"auto"`` runs in mixed float16 on a GPU; on a CPU with bfloat16
        instructions (AMX or AVX-512 BF16) and the TensorFlow backend it runs
        in bfloat16 for backbones whose bfloat16 rows were measured to
        classify as well as float32's (``efficientnet_lite2``), and in
        float32 everywhere else. ``"bfloat16"`` runs on OpenVINO where it is
        installed (``pip install "skcatdog[cpu-bf16]"``), else on Keras's
        ``mixed_bfloat16``; on a CPU without bfloat16 instructions it is
        slow. Outputs are float32 either way; each precision (and each
        bfloat16 runtime) has its own cache rows.""",
    decoder="""decoder : {"auto", "pillow", "gpu"}, default="auto"
        What decodes the photos that miss the cache: ``"pillow"`` on the
        CPU (in threads or worker processes, as :func:`skcatdog.set_config`
        says), or ``"gpu"``: NVIDIA nvImageCodec, with each view cut and
        resized on the GPU (``pip install "skcatdog[gpu]"``), handing what
        it cannot decode to Pillow. ``"auto"`` is ``"gpu"`` where the
        forward pass runs on a GPU and GPU decoding is installed, else
        ``"pillow"``. The GPU's views differ from Pillow's on a few photos,
        so each decoder has its own cache rows.""",
    verbose="""verbose : int, default=0
        ``0`` is silent; ``1`` shows a progress bar while computing.""",
)
_ENGINE_DOCS["engine_params"] = "\n    ".join(_ENGINE_DOCS[name] for name in ENGINE_PARAMETER_CONSTRAINTS)

#: Class decorator filling ``{weights}``, ..., ``{verbose}`` (each one parameter's
#: numpydoc entry) and ``{engine_params}`` (all seven) in a docstring.
substitute_engine_docs = Substitution(**_ENGINE_DOCS)


def _invalid(param, owner, expected, value):
    # The wording of scikit-learn's own InvalidParameterError, so one pattern matches both.
    return InvalidParameterError(f"The {param!r} parameter of {owner} must be {expected}. Got {value!r} instead.")


def backbone_names(backbone, param="backbone", owner="the estimator"):
    """A backbone name or a non-empty list of distinct registered names -> list of names.

    Parameters
    ----------
    backbone : str, list of str or tuple of str
        The parameter's value.
    param, owner : str
        Named in the error message.

    Returns
    -------
    names : list of str
    """
    names = [backbone] if isinstance(backbone, str) else list(backbone)
    if not names or not all(isinstance(n, str) for n in names):
        raise _invalid(param, owner, "a backbone name or a non-empty list of names", backbone)
    if len(set(names)) != len(names):
        raise _invalid(param, owner, "a list of distinct backbone names", backbone)
    for name in names:
        get_backbone(name)  # raises, listing the registered names
    return names


def view_names(views, param="views", owner="the estimator"):
    """A view name or a non-empty sequence of distinct view names -> tuple of names.

    Parameters
    ----------
    views : str, tuple of str or list of str
        The parameter's value.
    param, owner : str
        Named in the error message.

    Returns
    -------
    names : tuple of str
    """
    names = (views,) if isinstance(views, str) else tuple(views)
    if not names or any(v not in VIEWS for v in names) or len(set(names)) != len(names):
        raise _invalid(param, owner, f"one of {VIEWS} or a tuple of distinct ones", views)
    return names


def engine_kwargs(est):
    """The engine arguments an estimator's parameters stand for.

    Parameters
    ----------
    est : estimator
        An estimator with the seven engine parameters.

    Returns
    -------
    kwargs : dict
    """
    return {name: getattr(est, name) for name in ENGINE_PARAMETER_CONSTRAINTS}


class EngineParamsMixin:
    """Validation for estimators that run a backbone: once per ``fit``, once per parameter set otherwise.

    ``fit`` is wrapped in scikit-learn's ``_fit_context``, which calls
    ``_validate_params``; stateless methods (``transform`` of the embedder)
    call :meth:`_validate_once`, which validates only if the parameters changed
    since the last validation (``set_params``, or a fresh clone), so a
    transform per CV fold or per batch pays nothing.
    """

    def _validate_params(self):
        super()._validate_params()  # types and ranges, from _parameter_constraints
        owner = type(self).__name__
        if "backbone" in self._parameter_constraints:
            backbone_names(self.backbone, owner=owner)
        for param in ("views", "view"):
            if param in self._parameter_constraints:
                view_names(getattr(self, param), param, owner)
        weights = self.weights
        if isinstance(weights, (str, os.PathLike)) and weights != "imagenet" and not os.path.isfile(weights):
            raise InvalidParameterError(
                f"The 'weights' parameter of {owner} names a weights file that does not exist: {os.fspath(weights)!r}"
            )
        self._validated_params = copy.deepcopy(self.get_params(deep=False))

    def _validate_once(self):
        if getattr(self, "_validated_params", None) != self.get_params(deep=False):
            self._validate_params()
