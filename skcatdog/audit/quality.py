"""Image-quality measures of each photo, cheap to compute and cached by content.

From a small copy of the photo (JPEGs decoded at a reduced DCT scale): mean
brightness, the variance of its Laplacian (low for a blurry photo), the
entropy of its grey levels (low for a nearly uniform one), how far its
colour channels differ (none for greyscale), its size and aspect ratio.
"""

from __future__ import annotations

import numpy as np

from .. import _images
from .._images import BadImage, ImageLoadError
from .._store import measure_key

__all__ = ["MEASURES", "measure", "measure_many"]

#: The measures, in the order of a cached row.
MEASURES = ("brightness", "sharpness", "entropy", "colourfulness", "width", "height")
#: Part of the cache key: bump when a measure changes.
QUALITY_ID = "quality/1"
_SIDE = 256


def measure(source):
    """The :data:`MEASURES` of one source, as float32 (width and height as the photo is shown)."""
    import io

    from PIL import Image, ImageOps

    if source.array is not None:
        img = Image.fromarray(source.array, "RGB")
        width, height = img.size
    else:
        data = _images.source_bytes(source)  # re-read and checked against the digest
        try:
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            if img.format == "JPEG":
                img.draft("RGB", (_SIDE, _SIDE))
            img.load()
            shown = ImageOps.exif_transpose(img)
        except Exception as exc:  # noqa: BLE001 - Pillow raises many types for corrupt data
            raise BadImage(f"corrupt or truncated image data ({exc})") from None
        if shown.size != img.size:  # rotated a quarter turn by its EXIF orientation
            width, height = height, width
        img = shown
    img = img.convert("RGB")
    img.thumbnail((_SIDE, _SIDE))
    rgb = np.asarray(img, dtype=np.float32)
    grey = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    lap = grey[1:-1, 1:-1] * 4 - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    hist = np.bincount(np.clip(grey, 0, 255).astype(np.uint8).ravel(), minlength=256).astype(np.float64)
    p = hist[hist > 0] / hist.sum()
    colour = np.abs(rgb - rgb.mean(axis=2, keepdims=True)).mean()
    sharpness = lap.var() if lap.size else 0.0
    return np.array([grey.mean(), sharpness, -(p * np.log2(p)).sum(), colour, width, height], np.float32)


def _by_content(items, digests, indices, store, name, width, compute, n_jobs=-1):
    """``({index: row}, problems)``: ``compute(source)`` of each item in ``indices``, read from
    ``store`` under ``name/digest`` where it is there, else computed (in threads) and stored."""
    from concurrent.futures import ThreadPoolExecutor

    from joblib import effective_n_jobs

    indices = [i for i in dict.fromkeys(indices) if digests[i] is not None]
    keys = {i: measure_key(name, digests[i]) for i in indices}
    rows = store.measures.get_many([keys[i] for i in indices], width)
    found = {i: row for i, row in zip(indices, rows, strict=True) if row is not None}

    def one(i):
        try:
            return i, np.asarray(compute(_images.read_source(items[i])), np.float32).ravel(), None
        except BadImage as exc:
            return i, None, str(exc)

    problems, new = [], []
    with ThreadPoolExecutor(max(1, effective_n_jobs(n_jobs))) as pool:
        for i, row, reason in pool.map(one, [i for i in indices if i not in found]):
            if reason is not None:
                problems.append((i, reason))
            else:
                found[i] = row
                new.append((keys[i], row))
    store.measures.put_many(new)
    return found, problems


def measure_many(items, digests, store, n_jobs=-1):
    """``(n, len(MEASURES))`` measures of ``items`` (rows of unusable items are NaN), from ``store``
    where it has them; ``problems`` as ``(index, reason)``."""
    width = len(MEASURES)
    out = np.full((len(items), width), np.nan, np.float32)
    found, problems = _by_content(items, digests, range(len(items)), store, QUALITY_ID, width, measure, n_jobs)
    for i, row in found.items():
        out[i] = row
    return out, sorted(problems)


#: Side of the grey print near copies are confirmed on; part of its cache key.
PRINT_SIDE = 32
PRINT_ID = f"print{PRINT_SIDE}/1"
#: Central crops tried when comparing two prints (share of each side kept): cropped copies match too.
PRINT_CROPS = (1.0, 0.925, 0.85, 0.75)


def grey_print(source):
    """A ``PRINT_SIDE`` x ``PRINT_SIDE`` grey copy of the photo (as shown), float32 0-255."""
    import io

    from PIL import Image, ImageOps

    if source.array is not None:
        img = Image.fromarray(source.array, "RGB")
    else:
        data = _images.source_bytes(source)
        try:
            img = Image.open(io.BytesIO(data))
            if img.format == "JPEG":
                img.draft("L", (4 * PRINT_SIDE, 4 * PRINT_SIDE))
            img.load()
            img = ImageOps.exif_transpose(img)
        except Exception as exc:  # noqa: BLE001 - Pillow raises many types for corrupt data
            raise BadImage(f"corrupt or truncated image data ({exc})") from None
    img = img.convert("L").resize((4 * PRINT_SIDE, 4 * PRINT_SIDE), Image.BILINEAR)
    return np.asarray(img, np.float32)


def _crops(print_):
    from PIL import Image

    img = Image.fromarray(print_.astype(np.uint8), "L")
    side = print_.shape[0]
    out = []
    for keep in PRINT_CROPS:
        m = side * (1 - keep) / 2
        crop = img.resize((PRINT_SIDE, PRINT_SIDE), Image.BILINEAR, box=(m, m, side - m, side - m))
        v = np.asarray(crop, np.float32).ravel()
        v = v - v.mean()
        out.append(v / max(float(np.linalg.norm(v)), 1e-6))
    return np.stack(out)


def print_similarity(a, b):
    """The best correlation of two grey prints over central crops of either (1: the same picture)."""
    ca, cb = _crops(a), _crops(b)
    return float(max((ca[:1] @ cb.T).max(), (cb[:1] @ ca.T).max()))


def prints(items, digests, indices, store):
    """``{index: grey print}`` for ``indices``, from ``store`` where it has them (then kept there)."""
    side = 4 * PRINT_SIDE
    found, problems = _by_content(items, digests, indices, store, PRINT_ID, side * side, grey_print)
    if problems:
        raise ImageLoadError([(_images.describe(items[i], i), reason) for i, reason in sorted(problems)])
    return {i: row.reshape(side, side) for i, row in found.items()}
