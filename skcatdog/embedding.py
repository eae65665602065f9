"""KerasEmbeddingTransformer: images in, frozen ImageNet CNN embeddings out."""

from __future__ import annotations

import numbers
import os

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from . import _engine
from ._cache import resolve_cache_dir
from ._images import as_items
from .backbones import DEFAULT_BACKBONE, get_backbone

__all__ = ["KerasEmbeddingTransformer"]


class KerasEmbeddingTransformer(TransformerMixin, BaseEstimator):
    """Embed images with a frozen ImageNet-pretrained Keras 3 CNN.

    Each image becomes the globally average-pooled activations of the
    network's last convolutional block.  Rows are cached on disk, keyed by the
    image's content (not its path) and the model's fingerprint, so a second
    ``transform`` of the same images, another CV fold or a grid search over
    the classifier after it performs no forward pass.

    Parameters
    ----------
    backbone : str, default="efficientnet_lite2"
        A name from :func:`skcatdog.backbones.available_backbones`.
    weights : "imagenet", path or None, default="imagenet"
        ``"imagenet"`` loads ImageNet weights (offline for
        ``efficientnet_lite*``, downloaded by Keras for the
        ``keras.applications`` networks); a path loads that local file;
        ``None`` builds deterministic random weights (for tests).
    batch_size : int, default=64
        Images per forward pass.
    cache : "auto", path or None, default="auto"
        Where embeddings are cached. ``"auto"`` uses ``$SKCATDOG_CACHE_DIR``,
        else ``$XDG_CACHE_HOME/skcatdog``, else ``~/.cache/skcatdog``;
        ``None`` disables caching.
    n_jobs : int or None, default=-1
        Threads that read and decode images while the network runs
        (joblib convention: -1 means one per core, None means 1 unless
        inside a ``joblib.parallel_config`` context).
    precision : {"auto", "float32", "mixed"}, default="auto"
        ``"auto"`` runs in mixed float16 on a GPU and float32 elsewhere.
        Outputs are float32 either way; each precision has its own cache rows.
    verbose : int, default=0
        ``0`` is silent; ``1`` shows a progress bar while computing.

    Attributes
    ----------
    n_features_out_ : int
        Length of the embedding (set by ``fit``).

    See Also
    --------
    skcatdog.load_image_folder : Find labelled images on disk.

    Notes
    -----
    The Keras model is built on first use and shared by every transformer in
    the process with the same backbone, weights and precision; it is never
    pickled, so a pickled transformer is a few hundred bytes and works in a
    fresh process.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from skcatdog import KerasEmbeddingTransformer, load_image_folder
    >>> paths, labels = load_image_folder("../shared/data/dogs-vs-cats/train")  # doctest: +SKIP
    >>> model = make_pipeline(KerasEmbeddingTransformer(), LogisticRegression())
    >>> model.fit(paths, labels).predict_proba(paths[:2])  # doctest: +SKIP
    """

    def __init__(
        self,
        backbone=DEFAULT_BACKBONE,
        weights="imagenet",
        batch_size=64,
        cache="auto",
        n_jobs=-1,
        precision="auto",
        verbose=0,
    ):
        self.backbone = backbone
        self.weights = weights
        self.batch_size = batch_size
        self.cache = cache
        self.n_jobs = n_jobs
        self.precision = precision
        self.verbose = verbose

    def _check_params(self):
        spec = get_backbone(self.backbone)
        if not (self.weights is None or isinstance(self.weights, (str, os.PathLike))):
            raise ValueError(f"weights must be 'imagenet', a file path or None, got {self.weights!r}")
        if isinstance(self.weights, (str, os.PathLike)) and self.weights != "imagenet":
            if not os.path.isfile(os.fspath(self.weights)):
                raise ValueError(f"weights file {os.fspath(self.weights)!r} does not exist")
        if not isinstance(self.batch_size, numbers.Integral) or isinstance(self.batch_size, bool) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if self.n_jobs is not None and (not isinstance(self.n_jobs, numbers.Integral) or self.n_jobs == 0):
            raise ValueError(f"n_jobs must be a non-zero integer, got {self.n_jobs!r}")
        if self.precision not in _engine.PRECISIONS:
            raise ValueError(f"precision must be one of {_engine.PRECISIONS}, got {self.precision!r}")
        if not isinstance(self.verbose, numbers.Integral):
            raise ValueError(f"verbose must be an integer, got {self.verbose!r}")
        resolve_cache_dir(self.cache)
        return spec

    def fit(self, X, y=None):
        """Validate parameters and input; nothing is learned.

        Parameters
        ----------
        X : sequence of str, path-like or ndarray
            Image paths, or ``HxWx3`` uint8 images.
        y : ignored

        Returns
        -------
        self : KerasEmbeddingTransformer
        """
        spec = self._check_params()
        as_items(X)
        self.n_features_out_ = spec.embedding_dim
        return self

    def _rows(self, X):
        self._check_params()
        return _engine.embed(
            as_items(X),
            self.backbone,
            self.weights,
            batch_size=self.batch_size,
            cache=self.cache,
            n_jobs=self.n_jobs,
            precision=self.precision,
            verbose=self.verbose,
            outputs=("embeddings",),
        )

    def transform(self, X):
        """Embed images (from the cache where possible).

        Parameters
        ----------
        X : sequence of str, path-like or ndarray
            Image paths (str, ``os.PathLike``, or a pandas Series of them), or
            ``HxWx3`` uint8 images.

        Returns
        -------
        ndarray of shape (n_samples, n_features_out_), dtype float32

        Raises
        ------
        skcatdog.ImageLoadError
            Naming every input that is not a readable image, and why.
        """
        return self._rows(X).embeddings

    def get_feature_names_out(self, input_features=None):
        """Output feature names: ``"<backbone>_<i>"``.

        Returns
        -------
        ndarray of str, shape (n_features_out_,)
        """
        dim = get_backbone(self.backbone).embedding_dim
        return np.asarray([f"{self.backbone}_{i}" for i in range(dim)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.one_d_array = True
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.requires_fit = False  # stateless: fit only validates
        tags.transformer_tags.preserves_dtype = []
        return tags
