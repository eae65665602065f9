"""ImageNetOutlierFilter: drop training photos whose ImageNet guesses miss their label."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import check_is_fitted

from . import _engine, _synsets
from ._images import as_items, describe
from ._validation import backbone_names, check_engine_params, check_views, engine_kwargs
from .backbones import DEFAULT_BACKBONE

__all__ = ["ImageNetOutlierFilter", "DEFAULT_TOP_K"]

#: Chosen by ``benchmarks/bench_outliers.py`` for the default backbone
#: (EfficientNet-Lite2): the smallest flagged share at which at least 95% of
#: the 48 known Kaggle outliers are caught.
DEFAULT_TOP_K = 16

VOTES = ("any", "all")


class ImageNetOutlierFilter(BaseEstimator):
    """Drop training images whose top ImageNet classes hold none of their label's kind.

    An image labelled ``L`` is an outlier when none of its ``top_k`` ImageNet
    classes (ranked by the backbone's logits) lies below one of ``L``'s
    WordNet synsets: a "dog" photo whose top-16 holds no dog breed is a
    drawing, a banner, a mislabelled cat or no animal at all.

    This is a *sampler* in the imbalanced-learn sense: it acts only while a
    pipeline is fitted (:meth:`fit_resample` returns the kept rows), and
    ``predict``, ``predict_proba`` and ``score`` of the pipeline see every
    row. Use it in :func:`skcatdog.make_pipeline` (imbalanced-learn's
    pipeline); scikit-learn's own ``Pipeline`` has no place for steps that
    drop rows.

    Parameters
    ----------
    backbone : str or list of str, default="efficientnet_lite2"
        The ImageNet classifier(s) whose logits decide. With several, each
        one ranks the classes and ``vote`` combines their verdicts.
    top_k : int, default=16
        How many of the best-ranked ImageNet classes may hold one of the
        label's kind. Smaller flags more images. The reference solution's 100
        was tuned for ResNet50; for EfficientNet-Lite, top-100 misses over
        40% of the known outliers (see ``benchmarks/bench_outliers.py``).
    class_synsets : dict or None, default=None
        ``{label: wnid or list of wnids}``; each WordNet synset stands for
        every ImageNet class below it (``"n02084071"`` = every dog breed).
        ``None`` uses the built-in ``cat`` (7 classes: the 5 domestic cats,
        cougar, lynx) and ``dog`` (ImageNet classes 151-268). A mapping
        replaces the built-ins. A label with no synsets is an error at fit time.
    vote : {"all", "any"}, default="all"
        With several backbones: flag an image only when ``"all"`` agree it is
        an outlier, or when ``"any"`` does. Ignored for one backbone.
    view : {"full", "crop", "mirror", "crop_mirror"}, default="full"
        How each image is shown to the network (see
        :class:`~skcatdog.KerasEmbeddingTransformer`). The whole photo
        (``"full"``) finds more junk than ImageNet's central crop, which cuts
        off the banners and borders that give a photo away (see
        ``benchmarks/bench_outliers.py``); it is also one of the embedder's
        default views, so the filter adds no forward pass.
    weights : "imagenet", path or None, default="imagenet"
        As for :class:`~skcatdog.KerasEmbeddingTransformer`.
    batch_size, cache, n_jobs, precision, verbose
        As for :class:`~skcatdog.KerasEmbeddingTransformer`. With the same
        backbone, weights, cache and precision as the embedder after it, each
        image goes through the network once: both read the same cached rows.

    Attributes
    ----------
    outlier_mask_ : ndarray of bool, shape (n_samples,)
        True for the training rows that were dropped.
    rank_ : ndarray of int, shape (n_samples,)
        1-based rank of the best-ranked class of each row's label kind (with
        several backbones, the rank that decided the vote). A row is an
        outlier when ``rank_ > top_k``.
    report_ : pandas.DataFrame
        One row per training image, worst first: ``item``, ``label``,
        ``outlier``, ``rank``, ``best_class`` (the best-ranked class of the
        label's kind) and its ``best_proba``, and ``top5`` (the five most
        probable ImageNet classes with probabilities; averaged over
        backbones). With several backbones, also ``rank_<backbone>``.
        It describes the training photos, not the model, so it is not
        pickled (a fitted pipeline stays a few KB to serve); save it with
        ``report_.to_csv(...)`` if you need it later.
    classes_ : ndarray
        The labels seen in ``fit``.

    See Also
    --------
    skcatdog.make_pipeline : A pipeline that accepts this step.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skcatdog import ImageNetOutlierFilter, KerasEmbeddingTransformer, make_pipeline
    >>> model = make_pipeline(ImageNetOutlierFilter(), KerasEmbeddingTransformer(), LogisticRegression())
    >>> model.fit(paths, labels)  # doctest: +SKIP
    >>> model[0].report_.head()  # doctest: +SKIP
    """

    _estimator_type = "sampler"  # how imbalanced-learn recognises a sampler

    def __init__(
        self,
        backbone=DEFAULT_BACKBONE,
        top_k=DEFAULT_TOP_K,
        class_synsets=None,
        vote="all",
        view="full",
        weights="imagenet",
        batch_size=64,
        cache="auto",
        n_jobs=-1,
        precision="auto",
        verbose=0,
    ):
        self.backbone = backbone
        self.top_k = top_k
        self.class_synsets = class_synsets
        self.vote = vote
        self.view = view
        self.weights = weights
        self.batch_size = batch_size
        self.cache = cache
        self.n_jobs = n_jobs
        self.precision = precision
        self.verbose = verbose

    def _check_params(self):
        names = backbone_names(self.backbone)
        if not isinstance(self.top_k, numbers.Integral) or isinstance(self.top_k, bool) or not 1 <= self.top_k <= 1000:
            raise ValueError(f"top_k must be an integer in [1, 1000], got {self.top_k!r}")
        if self.vote not in VOTES:
            raise ValueError(f"vote must be one of {VOTES}, got {self.vote!r}")
        if not isinstance(self.view, str):
            raise ValueError(f"view must be one view name, got {self.view!r}")
        check_views(self.view, "view")
        check_engine_params(self)
        return names

    def fit(self, X, y):
        """Decide which training rows are outliers.

        Parameters
        ----------
        X : sequence of str, path-like or ndarray
            Image paths, or ``HxWx3`` uint8 images.
        y : array-like of shape (n_samples,)
            Labels, each mapped to WordNet synsets by ``class_synsets``.

        Returns
        -------
        self : ImageNetOutlierFilter

        Raises
        ------
        ValueError
            For a label with no synsets, or when every row of a label would
            be dropped.
        skcatdog.ImageLoadError
            Naming every input that is not a readable image.
        """
        names = self._check_params()
        items = as_items(X)
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(items):
            raise ValueError(f"y must be 1-D with one label per image: {len(items)} images, y of shape {y.shape}")
        masks = _synsets.class_masks(y, self.class_synsets)  # label errors before any forward pass
        kind = np.stack([masks[label] for label in y]) if len(y) else np.zeros((0, 1000), bool)

        logits = [
            _engine.embed(items, name, view=self.view, outputs=("logits",), **engine_kwargs(self)).logits
            for name in names
        ]
        ranks = np.stack([_best_rank(lg, kind) for lg in logits], axis=1)  # (n, n_backbones)
        rank = ranks.max(axis=1) if self.vote == "any" else ranks.min(axis=1)
        decider = (ranks.argmax(axis=1) if self.vote == "any" else ranks.argmin(axis=1)) if len(y) else np.zeros(0, int)

        self.classes_ = np.unique(y)
        self.rank_ = rank
        self.outlier_mask_ = rank > self.top_k
        self.report_ = _report(items, y, self.outlier_mask_, ranks, rank, decider, logits, kind, names)
        for label in self.classes_:
            rows = y == label
            if self.outlier_mask_[rows].all():
                label = label.item() if isinstance(label, np.generic) else label  # 'dog', not np.str_('dog')
                raise ValueError(
                    f"top_k={self.top_k} flags all {rows.sum()} images labelled {label!r} as outliers; "
                    f"raise top_k or check class_synsets[{label!r}]"
                )
        return self

    def fit_resample(self, X, y):
        """Fit, then return the rows that are not outliers.

        Parameters
        ----------
        X : sequence of str, path-like or ndarray
            Image paths, or ``HxWx3`` uint8 images.
        y : array-like of shape (n_samples,)

        Returns
        -------
        X_resampled : same type as X
            The kept rows, in input order.
        y_resampled : same type as y
        """
        self.fit(X, y)
        keep = np.flatnonzero(~self.outlier_mask_)
        return _safe_indexing(X, keep), _safe_indexing(y, keep)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "sampler"
        tags.input_tags.one_d_array = True
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.target_tags.required = True
        return tags

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: the base class hands back __dict__ itself
        state.pop("report_", None)  # hundreds of bytes per training photo, of no use for predicting
        return state

    def __sklearn_is_fitted__(self):
        return hasattr(self, "outlier_mask_")

    @property
    def n_outliers_(self):
        """Number of training rows dropped."""
        check_is_fitted(self)
        return int(self.outlier_mask_.sum())


def _best_rank(logits, kind):
    """1-based rank of the best-scoring class inside each row's ``kind`` mask.

    The rank is one plus the number of classes scoring strictly higher, so it
    needs no full sort of the 1000 logits.
    """
    if len(logits) == 0:
        return np.zeros(0, dtype=np.int64)
    best = np.where(kind, logits, -np.inf).max(axis=1, keepdims=True)
    return 1 + (logits > best).sum(axis=1)


def _softmax(logits):
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _report(items, y, outlier, ranks, rank, decider, logits, kind, names):
    import pandas as pd

    from .imagenet import class_names

    labels_of = np.asarray(class_names(), dtype=object)
    proba = np.mean([_softmax(lg) for lg in logits], axis=0) if len(y) else np.zeros((0, 1000))
    deciding = np.stack(logits, axis=1)[np.arange(len(y)), decider] if len(y) else np.zeros((0, 1000))
    best = np.where(kind, deciding, -np.inf).argmax(axis=1)
    top5 = np.argsort(-proba, axis=1)[:, :5]
    frame = pd.DataFrame(
        {
            "item": [describe(item, i) for i, item in enumerate(items)],
            "label": y,
            "outlier": outlier,
            "rank": rank,
            "best_class": labels_of[best],
            "best_proba": proba[np.arange(len(y)), best],
            "top5": [", ".join(f"{labels_of[j]} {p[j]:.2f}" for j in row) for p, row in zip(proba, top5)],
        }
    )
    if len(names) > 1:
        for column, name in enumerate(names):
            frame[f"rank_{name}"] = ranks[:, column]
    return frame.sort_values(["rank", "item"], ascending=[False, True], kind="stable").reset_index(drop=True)
