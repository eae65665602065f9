"""KerasEmbeddingTransformer: images in, frozen ImageNet CNN embeddings out."""

from __future__ import annotations

import numpy as np
from imblearn.utils import Substitution
from sklearn.base import BaseEstimator, TransformerMixin

from . import _engine
from ._engine_params import (
    BACKBONE_CONSTRAINT,
    ENGINE_PARAMETER_CONSTRAINTS,
    PRECOMPUTE_PARAMS,
    VIEWS_CONSTRAINT,
    EngineParamsMixin,
    backbone_names,
    engine_kwargs,
    substitute_engine_docs,
    view_names,
)
from ._images import as_items
from ._validation import fit_context
from .backbones import DEFAULT_BACKBONE, get_backbone

__all__ = ["KerasEmbeddingTransformer"]


@substitute_engine_docs
class KerasEmbeddingTransformer(EngineParamsMixin, TransformerMixin, BaseEstimator):
    """Embed images with a frozen ImageNet-pretrained Keras 3 CNN.

    Each image becomes the globally average-pooled activations of the
    network's last convolutional block.  Rows are cached on disk, keyed by the
    image's content (not its path) and the model's fingerprint, so a second
    ``transform`` of the same images, another CV fold or a grid search over
    the classifier after it performs no forward pass.

    Parameters
    ----------
    backbone : str or list of str, default="efficientnet_lite2"
        A name from :func:`skcatdog.available_backbones`, or several: their
        embeddings are concatenated in the order given (an ensemble of
        backbones in one feature matrix), each backbone with its own cache rows.
    {engine_params}
    views : str or tuple of str, default=("crop", "full")
        How each image is shown to the network; with several views the
        embeddings are averaged (test-time augmentation, for training and
        prediction alike), each view with its own cache rows.
        ``"crop"``: ImageNet's evaluation transform, the central square whose
        side is 87.5% of the shorter side; ``"full"``: the whole image
        squashed into the square; ``"crop_mirror"`` / ``"mirror"``: the same,
        flipped left to right. The default sees each photo twice, as ImageNet
        classifiers are evaluated and whole, which scored better than either
        view alone (see the documentation's performance page);
        ``views="crop"`` halves the work.

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
    Arrays are images too: here a photo of a cat from scikit-image and its
    mirror image, through the smallest offline backbone, with no disk cache.

    >>> from skimage.data import chelsea
    >>> from skcatdog import KerasEmbeddingTransformer
    >>> cat = chelsea()  # 300x451x3 uint8
    >>> embed = KerasEmbeddingTransformer(backbone="efficientnet_lite0", views="crop", cache=None)
    >>> X = embed.fit_transform([cat, cat[:, ::-1]])
    >>> X.shape, X.dtype
    ((2, 1280), dtype('float32'))

    On labelled photos on disk it is the first step of a classifier:

    >>> from sklearn.linear_model import LogisticRegression
    >>> from skcatdog import load_image_folder, make_pipeline
    >>> paths, labels = load_image_folder("photos/")  # doctest: +SKIP
    >>> model = make_pipeline(KerasEmbeddingTransformer(), LogisticRegression())
    >>> model.fit(paths, labels).predict_proba(paths[:2])  # doctest: +SKIP
    """

    _parameter_constraints: dict = {
        "backbone": BACKBONE_CONSTRAINT,
        **ENGINE_PARAMETER_CONSTRAINTS,
        "views": VIEWS_CONSTRAINT,
    }

    def __init__(
        self,
        *,
        backbone=DEFAULT_BACKBONE,
        weights="imagenet",
        batch_size="auto",
        cache="auto",
        n_jobs=-1,
        precision="auto",
        decoder="auto",
        verbose=0,
        views=("crop", "full"),
    ):
        self.backbone = backbone
        self.weights = weights
        self.batch_size = batch_size
        self.cache = cache
        self.n_jobs = n_jobs
        self.precision = precision
        self.decoder = decoder
        self.verbose = verbose
        self.views = views

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Validate parameters and input; nothing is learned.

        Parameters
        ----------
        X : sequence of str, path-like or ndarray
            Image paths, or ``HxWx3`` uint8 images.
        y : None
            Ignored; accepted for pipelines.

        Returns
        -------
        self : KerasEmbeddingTransformer
            With ``n_features_out_`` set.
        """
        names = backbone_names(self.backbone)
        as_items(X)
        self.n_features_out_ = sum(get_backbone(name).embedding_dim for name in names)
        return self

    def _embed(self, items, name):
        views = view_names(self.views)
        (rows,) = _engine.embed_many(
            items, name, views=views, outputs=("embeddings",), mean_views=True, **engine_kwargs(self)
        )
        return rows.embeddings

    def transform(self, X):
        """Embed images (from the cache where possible).

        Parameters
        ----------
        X : sequence of str, path-like or ndarray
            Image paths (str, ``os.PathLike``, or a pandas Series of them), or
            ``HxWx3`` uint8 images.

        Returns
        -------
        X_embedded : ndarray of shape (n_samples, n_features_out), dtype float32
            One row per image; with several backbones, their embeddings side by side.

        Raises
        ------
        skcatdog.ImageLoadError
            Naming every input that is not a readable image, and why.
        """
        self._validate_once()
        names = backbone_names(self.backbone)
        items = as_items(X)
        parts = [self._embed(items, name) for name in names]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)

    def get_feature_names_out(self, input_features=None):
        """Get the output feature names: ``"<backbone>_<i>"``.

        Parameters
        ----------
        input_features : None
            Ignored: the input is images, which have no feature names.

        Returns
        -------
        feature_names_out : ndarray of str, shape (n_features_out,)
            ``"efficientnet_lite2_0"``, ... in column order.
        """
        names = backbone_names(self.backbone)
        return np.asarray(
            [f"{name}_{i}" for name in names for i in range(get_backbone(name).embedding_dim)], dtype=object
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.one_d_array = True
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.requires_fit = False  # stateless: fit only validates
        tags.transformer_tags.preserves_dtype = []
        return tags

    @Substitution(precompute_params=PRECOMPUTE_PARAMS)
    def precompute(self, X, *, client=None, partition_size=None, require_gpu=None):
        """Fill the cache with every row ``transform(X)`` needs, on a Dask cluster if there is one.

        With a Dask client (``client``, else the one this process is connected
        to), the missing rows are computed on the workers: each unique
        (backbone, view, content) is forwarded once, by one worker, and written
        to the store named by ``cache``, which the workers must share (an
        fsspec URL such as ``"s3://bucket/prefix"`` or ``"file:///nfs/dir"``,
        or a directory when every worker runs on this host).  Without a client
        the rows are computed here, as ``transform`` would.  Nothing of the
        client is kept: the transformer pickles as before.

        Parameters
        ----------
        {precompute_params}
        """
        from .distributed import precompute

        return precompute(self, X, client=client, partition_size=partition_size, require_gpu=require_gpu)
