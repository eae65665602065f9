"""What the audit's checks read, computed once per :func:`~skcatdog.audit.find_issues` call."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import _engine
from .._images import ImageLoadError, describe
from .._store import open_store
from ..backbones import get_backbone
from .pixels import PixelPass

__all__ = ["AuditContext", "PhotoSet", "build_context"]


@dataclass
class PhotoSet:
    """One set of photos as the checks see it.

    Parameters
    ----------
    items : list
        The photos as given (their names, when embeddings were given).
    names : list of str
        How the result names each photo (its path, or ``X[i] (array)``).
    digests : list
        Content digests: equal exactly when the contents are (with given
        embeddings, hashes of the rows).
    embeddings : ndarray of shape (n, dim)
        The mean over the audit's views of each photo's embedding.
    logits : ndarray of shape (n, 1000) or None
        ImageNet logits of the ``full`` view (else of the last view); ``None``
        when embeddings were given without logits.
    measures : pandas.DataFrame or None
        The :data:`~skcatdog.audit.pixels.MEASURES` of each photo, by
        position; ``None`` unless a selected check needs ``pixel_measures``.
    pixels : PixelPass or None
        Where grey prints come from; ``None`` unless a selected check needs
        ``pixel_measures`` or ``grey_prints``.
    """

    items: list
    names: list
    digests: list
    embeddings: np.ndarray
    logits: np.ndarray
    measures: object = None
    pixels: PixelPass | None = field(default=None, repr=False)

    def __len__(self):
        return len(self.items)

    def grey_prints(self, indices):
        """The grey prints of some photos (see :func:`~skcatdog.audit.pixels.print_similarity`).

        Parameters
        ----------
        indices : iterable of int
            Positions in the set.

        Returns
        -------
        dict
            ``{index: (64, 64) float32 array}``.
        """
        if self.pixels is None:
            raise ValueError("grey prints were not computed: a check that reads them must need 'grey_prints'")
        return self.pixels.prints(self.items, list(indices), self.digests)


@dataclass
class AuditContext:
    """Everything a :class:`~skcatdog.audit.IssueCheck` reads, built once per audit.

    Parameters
    ----------
    photos : PhotoSet
        The photos audited (``X``).
    labels : ndarray or None
        Their labels (``y``).
    test : PhotoSet or None
        The test set (``X_test``).
    settings : dict
        The parameters of :func:`~skcatdog.audit.find_issues` that tune the
        checks: ``flag_fraction``, ``near_duplicate_distance``,
        ``label_fraction``, ``top_k``, ``class_synsets``, ``thresholds``,
        ``random_state``, and ``verbose`` (whether to show progress bars).
    """

    photos: PhotoSet
    labels: np.ndarray | None
    test: PhotoSet | None
    settings: dict
    _shared: dict = field(default_factory=dict, init=False, repr=False)

    @property
    def names(self):
        """The photos' names: ``photos.names``."""
        return self.photos.names

    @property
    def embeddings(self):
        """The photos' embeddings: ``photos.embeddings``."""
        return self.photos.embeddings

    @property
    def logits(self):
        """The photos' ImageNet logits: ``photos.logits``."""
        return self.photos.logits

    @property
    def measures(self):
        """The photos' pixel measures: ``photos.measures``."""
        return self.photos.measures

    @property
    def digests(self):
        """The photos' content digests: ``photos.digests``."""
        return self.photos.digests

    def shared(self, key, compute):
        """A result several checks read (the label triage), computed once per context.

        Parameters
        ----------
        key : str
            Names the result.
        compute : callable
            Computes it, without arguments, the first time ``key`` is asked for.

        Returns
        -------
        object
            What ``compute()`` returned.
        """
        if key not in self._shared:
            self._shared[key] = compute()
        return self._shared[key]


def _embed(items, options, extras):
    """Mean embedding over the views and the ``full`` view's (or the last view's) logits."""
    views = options["views"]
    rows = _engine.embed_many(
        items,
        options["backbone"],
        views=views,
        cache=options["cache"],
        n_jobs=options["n_jobs"],
        verbose=options["verbose"],
        precision=options["precision"],
        decoder=options["decoder"],
        extras=extras,
    )
    embeddings = rows[0].embeddings.copy()
    for r in rows[1:]:
        embeddings += r.embeddings
    embeddings /= np.float32(len(rows))
    return embeddings, rows[views.index("full") if "full" in views else -1].logits


def _photo_set(items, options, needs, pixels):
    """A :class:`PhotoSet`, its pixel values computed in the decode that embeds it where needed."""
    # Embedding first: it names every unreadable photo in one error (the digests come from its memo).
    embeddings, logits = _embed(items, options, pixels.extras() if pixels is not None else None)
    digests, problems = _engine.content_digests(items, options["cache"], options["n_jobs"])
    if problems:
        raise ImageLoadError([(describe(items[i], i), reason) for i, reason in problems])
    names = [describe(item, i) for i, item in enumerate(items)]
    photos = PhotoSet(items, names, digests, embeddings, logits, pixels=pixels)
    if "pixel_measures" in needs:
        photos.measures = pixels.measures(items, digests)
    return photos


def _fill_on_cluster(items, test_items, needs, options):
    """Have the cluster in ``options["client"]`` compute what this audit reads into its store."""
    from ..distributed import precompute_audit

    engine = {k: options[k] for k in ("backbone", "views", "cache", "n_jobs", "precision", "decoder", "verbose")}
    precompute_audit(items, client=options["client"], measures="pixel_measures" in needs, **engine)
    if test_items is not None and "test_set" in needs:
        precompute_audit(test_items, client=options["client"], measures=False, **engine)


def build_context(items, labels, test_items, needs, options, settings):
    """The :class:`AuditContext` of one audit, computing only what ``needs`` names (on a
    cluster first, with ``options["client"]``: what follows then finds it all stored)."""
    if options.get("client") is not None:
        _fill_on_cluster(items, test_items, needs, options)
    pixels = None
    if needs & {"pixel_measures", "grey_prints"}:
        size = get_backbone(options["backbone"]).input_size
        pixels = PixelPass(open_store(options["cache"]), size, options["n_jobs"])
    photos = _photo_set(items, options, needs, pixels)
    test = None
    if test_items is not None and "test_set" in needs:
        test = _photo_set(test_items, options, needs - {"pixel_measures"}, pixels)
    return AuditContext(photos=photos, labels=labels, test=test, settings=dict(settings))
