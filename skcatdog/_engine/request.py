"""What one call asks for, decided once: the model, its precision, the decoder, the views, the columns kept."""

from __future__ import annotations

from dataclasses import dataclass

from .. import _images
from .._config import gpu_decoding_asked
from .._defaults import DECODERS
from .._store import row_key
from ..backbones import get_backbone
from .runner import fingerprint as model_fingerprint
from .runner import gpu_available, resolve_precision

__all__ = ["DECODERS", "Request", "pixels_id", "resolve_decoder"]


def resolve_decoder(decoder="auto"):
    """``"pillow"`` or ``"gpu"``: what decodes photos for a call that asks for ``decoder``.

    ``"auto"`` is the GPU where the forward pass runs on one and GPU decoding
    is installed (the photos then reach the model without a trip through host
    memory), else Pillow.

    Parameters
    ----------
    decoder : {"auto", "pillow", "gpu"}

    Returns
    -------
    str
    """
    if decoder not in DECODERS:
        raise ValueError(f"decoder must be one of {DECODERS}, got {decoder!r}")
    if decoder != "auto":
        return decoder
    if gpu_decoding_asked():  # the deprecated set_config(decoder="gpu"), while it lasts
        return "gpu"
    if not gpu_available():
        return "pillow"
    from . import gpu

    return "gpu" if gpu.available() else "pillow"


def pixels_id(decoder):
    """The name of the pixels ``decoder`` (``"pillow"``, ``"gpu"`` or a decoder object) makes here.

    It enters the rows' fingerprint: the GPU decoder's views differ from
    Pillow's on a few photos (JPEG decoders differ by a level here and there,
    and large JPEGs are reduced by averaging where Pillow decodes them at a
    reduced DCT scale), so a cache never mixes the two; a Pillow release that
    resizes differently, or another nvImageCodec, names its pixels apart too.
    """
    if not isinstance(decoder, str):
        return decoder.id
    if resolve_decoder(decoder) == "gpu":
        from . import gpu

        return gpu.default_id()
    return _images.DECODER_ID


@dataclass(frozen=True)
class Request:
    """The immutable part of a call.

    Attributes
    ----------
    columns : slice or None
        The columns of a stored row the caller wants (``None``: none, the
        rows are only computed and stored).
    cols : (int, int)
        The floats read from the store: the kept ones, or one float to learn
        that a row exists.
    mean : bool
        Whether the output is the mean of two or more views.
    decoder : str or Decoder
        What decodes the misses: ``"pillow"``, ``"gpu"``, or the decoder
        object the caller gave.
    extras : Extras or None
        What else to compute from each photo decoded (see
        :class:`~skcatdog._engine.decode.Extras`); it does not change the rows.
    """

    backbone: object
    weights: object
    precision: str
    decoder: object
    views: tuple
    columns: slice | None
    mean: bool
    fingerprint: str
    extras: object = None

    @classmethod
    def make(
        cls, backbone, weights, precision, views, outputs, mean_views, decoder="auto", fingerprint=None, extras=None
    ):
        """The request for these arguments, ``"auto"`` resolved here.

        ``fingerprint`` names rows computed elsewhere (by a cluster's
        workers, whose libraries decide it); by default, this process's.
        """
        views = tuple(views)
        if not views or any(v not in _images.VIEWS for v in views) or len(set(views)) != len(views):
            raise ValueError(f"views must be distinct names from {_images.VIEWS}, got {views!r}")
        backbone = get_backbone(backbone)
        outputs = tuple(outputs)
        if set(outputs) - {"embeddings", "logits"}:
            raise ValueError(f"outputs must name 'embeddings' and/or 'logits', got {outputs!r}")
        dim = backbone.embedding_dim
        columns = (
            slice(0 if "embeddings" in outputs else dim, None if "logits" in outputs else dim) if outputs else None
        )
        precision = resolve_precision(precision, backbone)
        decoder = resolve_decoder(decoder) if isinstance(decoder, str) else decoder
        return cls(
            backbone=backbone,
            weights=weights,
            precision=precision,
            decoder=decoder,
            views=views,
            columns=columns,
            mean=bool(mean_views) and len(views) > 1,
            fingerprint=fingerprint or model_fingerprint(backbone, weights, precision, pixels_id(decoder)),
            extras=extras,
        )

    @property
    def width(self):
        """Floats in a stored row: the embedding, then the logits."""
        return self.backbone.embedding_dim + self.backbone.n_classes

    @property
    def cols(self):
        return (0, 1) if self.columns is None else (self.columns.start, self.columns.stop or self.width)

    @property
    def n_kept(self):
        return 0 if self.columns is None else len(range(self.width)[self.columns])

    def row_name(self, view, digest):
        """The store key of a row of one view."""
        return row_key(self.fingerprint, view, digest)
