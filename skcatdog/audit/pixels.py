"""What the audit reads from a photo's pixels, computed in the pass that decodes it for its embedding.

The engine decodes each photo it embeds once; the audit's :class:`PixelPass`
rides along that decode (an :class:`~skcatdog._engine.decode.Extras`) and
takes, from the ``full`` view (the whole photo as the model sees it), the
quality measures of :data:`MEASURES` and a small grey print that confirms
near copies. Measures are stored per content in the store's measures
namespace; prints are kept for the call and stored for the photos that needed
one, so a second audit reads no pixels. A photo whose rows were already
cached is not decoded by the engine; its measures are computed here, through
the same decoder, the one time they are missing.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .. import _images
from .._engine.decode import DecodeJob, Extras, ThreadDecoder
from .._images import BadImage, ImageLoadError
from .._store.keys import measure_key

__all__ = [
    "MEASURES",
    "PRINT_CROPS",
    "PRINT_SIDE",
    "PixelPass",
    "PixelValues",
    "measure_pixels",
    "print_similarity",
]

#: The quality measures, in the order of a stored row: mean brightness (0-255), the variance of
#: the Laplacian of the grey levels (low for a blurry photo), the entropy of the grey levels in
#: bits (low for a nearly uniform photo), how far the colour channels differ (0 for greyscale),
#: and the photo's stored width and height in pixels.
MEASURES = ("brightness", "sharpness", "entropy", "colourfulness", "width", "height")
#: Side of the copy the measures are taken on (never larger than the photo).
MEASURE_SIDE = 256
#: Side of the grey print near copies are compared on; the stored print is twice that, so
#: that central crops of it (:data:`PRINT_CROPS`) still have this side.
PRINT_SIDE = 32
#: Central crops tried when comparing two prints (share of each side kept): cropped copies match too.
PRINT_CROPS = (1.0, 0.925, 0.85, 0.75)
_STORED_PRINT = 2 * PRINT_SIDE
_VIEW = "full"


def _kinds(size):
    # Measures come from the view the model sees, so the view's side is part of their name.
    return f"quality{size}/2", f"print{_STORED_PRINT}-{size}/2"


def _stored_size(source):
    """``(width, height)`` of the item as stored (a crop's box of it), before any EXIF turn."""
    if source.array is not None:
        return source.array.shape[1], source.array.shape[0]
    header = source.header or _images.header(_images.source_bytes(source))
    width, height = header[2]
    if source.box is not None:
        left, top, right, bottom = source.box
        width, height = max(1, round((right - left) * width)), max(1, round((bottom - top) * height))
    return width, height


def measure_pixels(full, width, height):
    """The :data:`MEASURES` of a photo from its ``full`` view (``(s, s, 3)`` uint8, the whole
    photo squashed to a square) and its stored size, as float32.

    The view is first brought back to the photo's proportions, at most
    :data:`MEASURE_SIDE` and never larger than the photo, so that sharpness
    compares photos at one scale.
    """
    from PIL import Image

    side = min(MEASURE_SIDE, full.shape[0])
    scale = min(side / max(width, height), 1.0)
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    img = Image.fromarray(full, "RGB")
    if img.size != target:
        img = img.resize(target, Image.BILINEAR)
    rgb = np.asarray(img, dtype=np.float32)
    grey = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    lap = grey[1:-1, 1:-1] * 4 - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    hist = np.bincount(np.clip(grey, 0, 255).astype(np.uint8).ravel(), minlength=256).astype(np.float64)
    p = hist[hist > 0] / hist.sum()
    colour = np.abs(rgb - rgb.mean(axis=2, keepdims=True)).mean()
    sharpness = lap.var() if lap.size else 0.0
    return np.array([grey.mean(), sharpness, -(p * np.log2(p)).sum(), colour, width, height], np.float32)


def grey_print(full):
    """A :data:`PRINT_SIDE`-doubled square grey copy of a ``full`` view, uint8."""
    from PIL import Image

    img = Image.fromarray(full, "RGB").convert("L").resize((_STORED_PRINT, _STORED_PRINT), Image.BILINEAR)
    return np.asarray(img, np.uint8)


@dataclass(frozen=True)
class PixelValues:
    """The engine's side of :class:`PixelPass`: measures and print of one decoded photo
    (picklable, so worker processes run it)."""

    def __call__(self, source, pixels):
        full = pixels[_VIEW]
        return measure_pixels(full, *_stored_size(source)), grey_print(full)


def _crops(print_):
    from PIL import Image

    img = Image.fromarray(np.asarray(print_, np.float32).astype(np.uint8), "L")
    side = img.size[0]
    out = []
    for share in PRINT_CROPS:
        m = side * (1 - share) / 2
        crop = img.resize((PRINT_SIDE, PRINT_SIDE), Image.BILINEAR, box=(m, m, side - m, side - m))
        v = np.asarray(crop, np.float32).ravel()
        v = v - v.mean()
        out.append(v / max(float(np.linalg.norm(v)), 1e-6))
    return np.stack(out)


def print_similarity(a, b):
    """The best correlation of two grey prints over central crops of either (1: the same picture)."""
    ca, cb = _crops(a), _crops(b)
    return float(max((ca[:1] @ cb.T).max(), (cb[:1] @ ca.T).max()))


class PixelPass:
    """Pixel measures and grey prints of an audit's photos, computed in the engine's decode.

    One serves the photos and the test set: a content's values are computed once.

    Parameters
    ----------
    store : CachedStore
        Where measures and prints are kept by content.
    size : int
        The side of the model's views (the backbone's input size).
    n_jobs : int
        Threads that decode photos whose values are neither stored nor computed by the engine.
    keep_prints : bool
        Keep the grey prints of the photos decoded for the call (``False``: only their
        measures, for a caller that asks for no print).
    """

    def __init__(self, store, size, n_jobs=-1, keep_prints=True):
        self.size, self.n_jobs, self.keep_prints = size, n_jobs, keep_prints
        self.table = store.measures
        self.measure_kind, self.print_kind = _kinds(size)
        self.fresh = {}  # digest -> (measures, print), computed in this call

    def extras(self):
        """What to hand the engine: the computation, and where its values go."""
        return Extras(compute=PixelValues(), deliver=self._deliver, views=(_VIEW,))

    def _deliver(self, digest, value):
        self.fresh[digest] = value if self.keep_prints else (value[0], None)

    def _decode(self, items, indices, digests):
        """Compute the values of ``indices`` (by content) through the decoder; names bad photos."""
        from joblib import effective_n_jobs

        todo = {digests[i]: i for i in indices if digests[i] not in self.fresh}
        if not todo:
            return
        threads = max(1, effective_n_jobs(self.n_jobs))
        problems, jobs = [], []
        for digest, i in todo.items():
            try:
                source = _images.read_source(items[i])
                _images.check_header(source)
                source.data = None  # the decoder re-reads and re-checks the bytes
                jobs.append(DecodeJob(digest, source, (), PixelValues(), (_VIEW,)))
            except BadImage as exc:
                problems.append((i, str(exc)))
        with ThreadPoolExecutor(threads) as pool:
            for batch in ThreadDecoder(pool, 2 * threads).batches(jobs, self.size, 64):
                problems += [(todo[digest], reason) for digest, reason in batch.bad]
                for digest, value in batch.extras:
                    self.fresh[digest] = value
        if problems:
            raise ImageLoadError([(_images.describe(items[i], i), reason) for i, reason in sorted(problems)])

    def store_measured(self):
        """Store the measures of every photo decoded so far (a worker that embeds photos for a
        later audit keeps them for it; the prints are kept only for the call)."""
        self.table.put_many([(measure_key(self.measure_kind, d), value[0]) for d, value in self.fresh.items()])

    def measures(self, items, digests):
        """A :class:`pandas.DataFrame` of the :data:`MEASURES` of every photo, by position."""
        import pandas as pd

        unique = list(dict.fromkeys(digests))
        keys = [measure_key(self.measure_kind, d) for d in unique]
        stored = dict(zip(unique, self.table.get_many(keys, len(MEASURES)), strict=True))
        missing = [i for i, d in enumerate(digests) if stored[d] is None]
        self._decode(items, missing, digests)
        new = {}
        for d in unique:
            if stored[d] is None:
                stored[d] = new[d] = self.fresh[d][0]
        self.table.put_many([(measure_key(self.measure_kind, d), row) for d, row in new.items()])
        return pd.DataFrame(np.stack([stored[d] for d in digests]) if digests else None, columns=list(MEASURES))

    def prints(self, items, indices, digests):
        """``{index: grey print}`` of ``indices``; the prints are stored for a later audit."""
        wanted = list(dict.fromkeys(digests[i] for i in indices))
        width = _STORED_PRINT * _STORED_PRINT
        keys = [measure_key(self.print_kind, d) for d in wanted]
        found = {d: row for d, row in zip(wanted, self.table.get_many(keys, width), strict=True) if row is not None}
        self._decode(items, [i for i in indices if digests[i] not in found], digests)
        new = {d: self.fresh[d][1] for d in wanted if d not in found}
        self.table.put_many([(measure_key(self.print_kind, d), p.astype(np.float32).ravel()) for d, p in new.items()])
        found.update(new)
        side = _STORED_PRINT
        return {i: np.asarray(found[digests[i]], np.float32).reshape(side, side) for i in indices}
