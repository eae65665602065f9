"""What one call asks for, decided once: the model, the views, the columns kept."""

from __future__ import annotations

from dataclasses import dataclass

from .. import _images
from .._store import row_key
from ..backbones import get_backbone
from .runner import fingerprint, resolve_precision

__all__ = ["Request"]


@dataclass(frozen=True)
class Request:
    """The immutable part of a call.

    Attributes
    ----------
    keep : slice or None
        The columns of a stored row the caller wants (``None``: none, the
        rows are only computed and stored).
    cols : (int, int)
        The floats read from the store: the kept ones, or one float to learn
        that a row exists.
    mean : bool
        Whether the output is the mean of two or more views.
    extras : Extras or None
        What else to compute from each photo decoded (see
        :class:`~skcatdog._engine.decode.Extras`); it does not change the rows.
    """

    backbone: object
    weights: object
    precision: str
    views: tuple
    keep: slice | None
    mean: bool
    fingerprint: str
    extras: object = None

    @classmethod
    def make(cls, backbone, weights, precision, views, outputs, mean_views, decoder_id=_images.DECODER_ID, extras=None):
        views = tuple(views)
        if not views or any(v not in _images.VIEWS for v in views) or len(set(views)) != len(views):
            raise ValueError(f"views must be distinct names from {_images.VIEWS}, got {views!r}")
        backbone = get_backbone(backbone)
        outputs = tuple(outputs)
        if set(outputs) - {"embeddings", "logits"}:
            raise ValueError(f"outputs must name 'embeddings' and/or 'logits', got {outputs!r}")
        dim = backbone.embedding_dim
        keep = slice(0 if "embeddings" in outputs else dim, None if "logits" in outputs else dim) if outputs else None
        precision = resolve_precision(precision, backbone)
        return cls(
            backbone=backbone,
            weights=weights,
            precision=precision,
            views=views,
            keep=keep,
            mean=bool(mean_views) and len(views) > 1,
            fingerprint=fingerprint(backbone, weights, precision, decoder_id),
            extras=extras,
        )

    @property
    def width(self):
        """Floats in a stored row: the embedding, then the logits."""
        return self.backbone.embedding_dim + self.backbone.n_classes

    @property
    def cols(self):
        return (0, 1) if self.keep is None else (self.keep.start, self.keep.stop or self.width)

    @property
    def n_kept(self):
        return 0 if self.keep is None else len(range(self.width)[self.keep])

    def row_name(self, view, digest):
        """The store key of a row of one view."""
        return row_key(self.fingerprint, view, digest)
