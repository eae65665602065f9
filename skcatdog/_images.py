"""One image loader for every estimator: sources, decoding, colour modes, views.

An *item* is what a user passes in one row of ``X``: a file path, an
:class:`ImageCrop` (a box inside an image file) or an ``HxWx3`` uint8 array.
Loading an item happens in two steps so that the cache can be consulted
before any pixel is decoded:

1. :func:`read_source` reads the file's bytes (or validates the array) and
   returns its content digest; the cache key is built from that digest.
2. :func:`decode` turns a source into the ``size x size`` RGB uint8 array a
   backbone sees, with EXIF orientation applied and the requested view.

Every failure is reported as :class:`ImageLoadError`, which names each bad
item and the reason, so one bad photo among thousands is easy to find.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from ._config import setting

__all__ = [
    "BadImage",
    "ImageCrop",
    "ImageLoadError",
    "Source",
    "read_source",
    "file_stat",
    "file_source",
    "check_header",
    "crop_digest",
    "describe",
    "source_bytes",
    "as_items",
    "decode",
    "decode_views",
    "VIEWS",
    "view_box",
    "header",
    "dct_scale",
    "DECODER_ID",
    "RESIZES_VERTICALLY_FIRST",
    "IMAGE_EXTENSIONS",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")

#: Views of an image that the engine can embed; each is cached separately.
#: "crop" is ImageNet's evaluation transform: the central square whose side
#: is 87.5% of the shorter side, resized. "full" squashes the whole image
#: into the square (nothing cut off, aspect ratio lost). "_mirror": flipped
#: left to right.
VIEWS = ("crop", "crop_mirror", "full", "mirror")
CROP_FRACTION = 0.875

# Pillow's own bomb limit is only a warning below 2x; treat the warning level as the limit.
MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485


def _resizes_vertically_first():
    """Whether this Pillow runs a resize's vertical pass first when the height shrinks by
    more than twice the width's reduction (Pillow 13 and later; earlier versions always
    start with the horizontal pass). The order moves the intermediate rounding, so the
    pixels of many portrait photos differ by a level between the two."""
    pixels = (np.arange(12 * 3 * 3, dtype=np.uint8).reshape(12, 3, 3) * 37) % 251
    img = Image.fromarray(pixels)
    both = np.asarray(img.resize((2, 3), Image.BILINEAR))
    # A resize that keeps one side runs the other pass alone: chained, they fix the order.
    vertical_then_horizontal = np.asarray(img.resize((3, 3), Image.BILINEAR).resize((2, 3), Image.BILINEAR))
    horizontal_then_vertical = np.asarray(img.resize((2, 12), Image.BILINEAR).resize((2, 3), Image.BILINEAR))
    return np.array_equal(both, vertical_then_horizontal) and not np.array_equal(both, horizontal_then_vertical)


#: See :func:`_resizes_vertically_first`; read once per process.
RESIZES_VERTICALLY_FIRST = _resizes_vertically_first()

# Part of every cache key: bump when decoding or resizing changes any pixel. Rows from a
# Pillow that always resizes horizontally first are kept apart from those of one that
# reorders: a store shared by both would otherwise mix two pixel variants of a photo.
DECODER_ID = "pil-draft-bilinear-squash-exif-white-alpha/1" + ("" if RESIZES_VERTICALLY_FIRST else "+hfirst")


class ImageLoadError(ValueError):
    """One or more inputs could not be read as images.

    Parameters
    ----------
    problems : iterable of (str, str)
        ``(item, reason)`` for every bad item, in input order.

    Attributes
    ----------
    problems : list of (str, str)
        ``(item, reason)`` for every bad item, in input order.
    """

    def __init__(self, problems):
        self.problems = list(problems)
        shown = self.problems[:20]
        lines = [f"  {name}: {reason}" for name, reason in shown]
        if len(self.problems) > len(shown):
            lines.append(f"  ... and {len(self.problems) - len(shown)} more")
        noun = "input" if len(self.problems) == 1 else "inputs"
        super().__init__(f"{len(self.problems)} bad image {noun}:\n" + "\n".join(lines))

    def __reduce__(self):
        return (type(self), (self.problems,))


class BadImage(Exception):
    """The reason one item is bad; the engine collects them into one :class:`ImageLoadError`."""


@dataclass(frozen=True)
class ImageCrop:
    """A rectangle of an image file, used as one item of ``X``.

    Parameters
    ----------
    path : str or path-like
        The image file.
    box : tuple of 4 floats
        ``(xmin, ymin, xmax, ymax)`` as fractions of the (EXIF-rotated)
        image's width and height, in ``[0, 1]``, as Open Images gives them.

    Notes
    -----
    The box is part of the cache key: two crops of one file are two rows,
    and neither is the row of the whole file.
    """

    path: str
    box: tuple

    def __post_init__(self):
        object.__setattr__(self, "path", os.fspath(self.path))
        try:
            box = tuple(float(v) for v in self.box)
        except (TypeError, ValueError):
            raise ValueError(f"{self.path}: box must be 4 numbers (xmin, ymin, xmax, ymax), got {self.box!r}") from None
        if len(box) != 4 or not all(np.isfinite(box)):
            raise ValueError(f"{self.path}: box must be 4 finite numbers (xmin, ymin, xmax, ymax), got {self.box!r}")
        xmin, ymin, xmax, ymax = box
        if not (0 <= xmin < xmax <= 1 and 0 <= ymin < ymax <= 1):
            raise ValueError(
                f"{self.path}: box {box} is not inside [0, 1] with xmin < xmax and ymin < ymax "
                "(coordinates are fractions of the width and height)"
            )
        object.__setattr__(self, "box", box)

    def __str__(self):
        return f"{self.path} [box {', '.join(f'{v:g}' for v in self.box)}]"


@dataclass
class Source:
    """An item after :func:`read_source`: its digest and how to get its pixels again."""

    digest: str
    path: str | None = None
    array: np.ndarray | None = None
    data: bytes | None = None
    box: tuple | None = None
    file_digest: str | None = None  # of the file's bytes alone (``digest`` also covers the box)
    header: tuple | None = None  # ``(format, mode, (width, height))`` once :func:`check_header` read it


def describe(item, index):
    """Name an item in an error message: the path, or its position for arrays."""
    if isinstance(item, (str, os.PathLike, ImageCrop)):
        return str(os.fspath(item) if not isinstance(item, ImageCrop) else item)
    return f"X[{index}] (array)"


def _digest_bytes(data):
    return hashlib.blake2b(data, digest_size=20).hexdigest()


def _digest_array(arr):
    h = hashlib.blake2b(digest_size=20)
    h.update(f"array:{arr.shape}:{arr.dtype.str}:".encode())
    h.update(np.ascontiguousarray(arr).data)
    return h.hexdigest()


_KINDS = (
    (stat.S_ISDIR, "is a directory, not an image file"),
    (stat.S_ISFIFO, "is a named pipe (FIFO), not a regular file"),
    (stat.S_ISSOCK, "is a socket, not a regular file"),
    (stat.S_ISCHR, "is a character device, not a regular file"),
    (stat.S_ISBLK, "is a block device, not a regular file"),
)


def _check_stat(st):
    """Refuse anything but a regular file of sane size, from its stat alone."""
    if not stat.S_ISREG(st.st_mode):
        for is_kind, reason in _KINDS:
            if is_kind(st.st_mode):
                raise BadImage(reason)
        raise BadImage("is not a regular file")
    cap = setting("max_file_bytes")
    if st.st_size > cap:
        raise BadImage(
            f"file is {st.st_size:,} bytes, over the limit of {cap:,} "
            "(skcatdog.set_config(max_file_bytes=...) raises it)"
        )
    if st.st_size == 0:
        raise BadImage("file is empty (0 bytes)")


def file_stat(path):
    """``os.stat`` of an item's file, checked to be a regular, non-empty file under the size cap.

    Raises
    ------
    BadImage
        Without opening the file, so a FIFO or a device never blocks.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise BadImage("no such file") from None
    except OSError as exc:
        raise BadImage(f"cannot read file ({exc.strerror or exc})") from None
    _check_stat(st)
    return st


def read_file(path):
    """The bytes of a regular file; anything else is refused without blocking.

    The file is opened non-blocking and checked again on the open descriptor,
    so a path swapped for a FIFO after a :func:`file_stat` cannot hang the
    read, and reading stops past the size cap even if the file grows.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise BadImage("no such file") from None
    except IsADirectoryError:
        raise BadImage("is a directory, not an image file") from None
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # opening a socket
            raise BadImage("is a socket, not a regular file") from None
        raise BadImage(f"cannot read file ({exc.strerror or exc})") from None
    try:
        _check_stat(os.fstat(fd))
        cap = setting("max_file_bytes")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(cap + 1)
    except OSError as exc:
        raise BadImage(f"cannot read file ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if len(data) > cap:
        raise BadImage(f"file grew past the limit of {cap:,} bytes while it was read")
    if not data:
        raise BadImage("file is empty (0 bytes)")
    return data


def crop_digest(box, file_digest):
    """The digest of a box of a file: the file's digest and the box."""
    text = ",".join(f"{v:.6f}" for v in box)
    return hashlib.blake2b(f"crop:{text}:{file_digest}".encode(), digest_size=20).hexdigest()


def file_source(item, file_digest, data=None):
    """The source of a path or :class:`ImageCrop` whose file digest is known."""
    if isinstance(item, ImageCrop):
        return Source(
            crop_digest(item.box, file_digest), path=item.path, data=data, box=item.box, file_digest=file_digest
        )
    return Source(file_digest, path=os.fspath(item), data=data, file_digest=file_digest)


def read_source(item):
    """Read an item's content and digest it.

    The returned source keeps a file's bytes; a caller that holds many
    sources may drop them (``source.data = None``), and :func:`decode` then
    re-reads the file and refuses it if its digest changed.

    Parameters
    ----------
    item : str, path-like, ImageCrop or ndarray

    Raises
    ------
    BadImage
        With the reason the item is unusable.
    """
    if isinstance(item, (str, os.PathLike, ImageCrop)):
        data = read_file(item.path if isinstance(item, ImageCrop) else os.fspath(item))
        return file_source(item, _digest_bytes(data), data)
    if isinstance(item, np.ndarray):
        if item.dtype != np.uint8:
            raise BadImage(f"array dtype is {item.dtype}, expected uint8 (values 0-255)")
        if item.ndim != 3 or item.shape[2] != 3:
            raise BadImage(f"array shape is {item.shape}, expected (height, width, 3)")
        if item.shape[0] < 1 or item.shape[1] < 1:
            raise BadImage(f"array shape is {item.shape}, which has no pixels")
        return Source(_digest_array(item), array=item)
    raise BadImage(f"expected a file path or an HxWx3 uint8 array, got {type(item).__name__}")


def _open(data):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise BadImage(f"decompression bomb ({exc})") from None
    except Image.UnidentifiedImageError:
        raise BadImage("not an image file Pillow can identify") from None
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types for corrupt headers
        raise BadImage(f"unreadable image header ({exc})") from None
    w, h = img.size
    if w * h > MAX_PIXELS:
        raise BadImage(f"decompression bomb: {w}x{h} = {w * h} pixels exceeds the limit of {MAX_PIXELS}")
    if w < 1 or h < 1:
        raise BadImage(f"image has no pixels ({w}x{h})")
    return img


def check_header(source):
    """Cheap check that a file source is an image of sane size, without decoding it.

    Keeps what the header says on the source (``source.header``, as :func:`header`
    gives it), for a decoder that plans by it without opening the file again.
    """
    if source.path is not None:
        source.header = header(source_bytes(source))


def source_bytes(source):
    if source.data is not None:
        return source.data
    data = read_file(source.path)
    # A file that changed since it was digested must not be cached under the old digest.
    if _digest_bytes(data) != source.file_digest:
        raise BadImage("file changed while it was being processed")
    return data


def _to_rgb(img):
    """Any Pillow mode to 8-bit RGB; transparency is composited onto white."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode.startswith("I;16") or mode in ("I", "F"):
        # 16-bit (and 32-bit integer) images carry 0-65535; float images are taken as 0-1.
        arr = np.asarray(img, dtype=np.float64) * (255.0 if mode == "F" else 1 / 257)
        arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def decode(source, size, view="full"):
    """Decode a source into the ``(size, size, 3)`` uint8 array a backbone sees.

    ``view`` picks the geometry (see :data:`VIEWS`): the whole image squashed
    (``"full"``) or ImageNet's central crop (``"crop"``), resized with
    Pillow's antialiased bilinear filter; JPEGs are first decoded at the
    smallest DCT scale that still leaves at least ``size`` pixels a side, which
    is exact for the resize and several times faster on large photos.

    Raises
    ------
    BadImage
        If the image is truncated, corrupt, too large, or the view is unknown.
    """
    return decode_views(source, size, (view,))[view]


def _draft_request(img_size, box, size, view):
    """The size to ask ``Image.draft`` for, so that ``view`` still gets ``size`` pixels a side."""
    w, h = (1.0, 1.0) if box is None else (box[2] - box[0], box[3] - box[1])
    if view.startswith("crop"):
        # The crop's side is 87.5% of the *shorter* side: scale the request by the aspect ratio.
        short = min(img_size[0] * w, img_size[1] * h)
        w, h = short * CROP_FRACTION / img_size[0], short * CROP_FRACTION / img_size[1]
    return int(np.ceil(size / w)), int(np.ceil(size / h))


def _draft_scale(img_size, request):
    # Pillow's JpegImageFile.draft picks the largest of 8, 4, 2, 1 not above this ratio.
    ratio = min(img_size[0] // request[0], img_size[1] // request[1])
    return next((s for s in (8, 4, 2) if ratio >= s), 1)


def header(data):
    """``(format, mode, (width, height))`` of encoded ``data``, checked as :func:`decode` checks it.

    Raises
    ------
    BadImage
        If Pillow cannot identify it, or it is a decompression bomb or has no pixels.
    """
    img = _open(data)
    return img.format, img.mode, img.size


def dct_scale(img_size, box, size, view):
    """The DCT scale (1, 2, 4 or 8) at which :func:`decode` decodes ``view`` of a JPEG
    whose stored size is ``img_size``: a decoder that reduces the image by the same
    factor sees about the pixels Pillow sees."""
    return _draft_scale(img_size, _draft_request(img_size, box, size, view))


def _load(data, box, request, img=None):
    """Decode (at the DCT scale ``request`` allows), orient and cut the box; mode as stored.

    ``img``: the not yet decoded image that :func:`_open` gave for ``data``.
    """
    img = _open(data) if img is None else img
    try:
        img.seek(0)  # first frame of an animated GIF / WebP
        if img.format == "JPEG" and request is not None:
            img.draft("RGB", request)
        img.load()
        ImageOps.exif_transpose(img, in_place=True)  # in place: no copy of an upright photo
        if box is not None:
            img = img.crop(_pixel_box(box, img.size))
    except Image.DecompressionBombError as exc:
        raise BadImage(f"decompression bomb ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - truncated or corrupt data surfaces here
        raise BadImage(f"corrupt or truncated image data ({exc})") from None
    return img


def view_box(width, height, view):
    """The pixel rectangle ``(left, top, right, bottom)`` a view cuts from a
    ``width`` x ``height`` image before resizing (the whole image but for crops)."""
    if not view.startswith("crop"):
        return 0, 0, width, height
    side = CROP_FRACTION * min(width, height)
    left, top = (width - side) / 2 / width, (height - side) / 2 / height
    return _pixel_box((left, top, 1 - left, 1 - top), (width, height))


def _view(img, size, view):
    if view.startswith("crop"):
        img = img.crop(view_box(*img.size, view))
    if img.size != (size, size):
        img = img.resize((size, size), Image.BILINEAR)
    arr = np.asarray(img, dtype=np.uint8)
    if view.endswith("mirror"):
        arr = arr[:, ::-1]
    return np.ascontiguousarray(arr)


def decode_views(source, size, views):
    """Decode a source once and cut every view in ``views`` from it.

    Gives the same pixels as :func:`decode` view by view: views whose JPEG
    DCT scale differs (rare: a large photo whose crop and whole need
    different reductions) are decoded once per scale.

    Returns
    -------
    dict
        ``view -> (size, size, 3)`` uint8 array.

    Raises
    ------
    BadImage
        If the image is truncated, corrupt, too large, or a view is unknown.
    """
    for view in views:
        if view not in VIEWS:
            raise BadImage(f"unknown view {view!r}")
    if source.array is not None:
        img = _to_rgb(Image.fromarray(source.array, "RGB"))
        return {view: _view(img, size, view) for view in views}
    data = source_bytes(source)
    head = _open(data)
    groups = {}  # DCT scale -> (draft request, views decoded at that scale)
    for view in views:
        request = _draft_request(head.size, source.box, size, view) if head.format == "JPEG" else None
        scale = _draft_scale(head.size, request) if request is not None else 1
        groups.setdefault(scale, (request, []))[1].append(view)
    out = {}
    for k, (request, group) in enumerate(groups.values()):
        img = _to_rgb(_load(data, source.box, request, head if k == 0 else None))
        for view in group:
            out[view] = _view(img, size, view)
    return out


def _pixel_box(box, size):
    """Relative box -> the pixel rectangle covering it, at least one pixel a side."""
    w, h = size
    left, top = min(int(np.floor(box[0] * w)), w - 1), min(int(np.floor(box[1] * h)), h - 1)
    right, bottom = max(int(np.ceil(box[2] * w)), left + 1), max(int(np.ceil(box[3] * h)), top + 1)
    return left, top, right, bottom


def as_items(X):
    """Validate ``X`` as a one-dimensional collection of images; return a list.

    Accepts a list/tuple/Series/1-D array of paths or ``HxWx3`` uint8 arrays,
    a single-column DataFrame or ``(n, 1)`` array of paths (as a
    ``ColumnTransformer`` passes them), or an ``(n, H, W, 3)`` uint8 array.

    Raises
    ------
    ValueError
        If ``X`` is not such a collection, or is empty.
    """
    if isinstance(X, (str, bytes, os.PathLike)):
        raise ValueError(f"X must be a sequence of images, got a single path {X!r}; wrap it in a list")
    if hasattr(X, "iloc") and hasattr(X, "columns"):  # DataFrame
        if X.shape[1] != 1:
            raise ValueError(f"X must be one column of image paths, got a DataFrame with {X.shape[1]} columns")
        X = X.iloc[:, 0]
    if hasattr(X, "iloc"):  # Series
        items = X.tolist()
    elif isinstance(X, np.ndarray):
        if X.dtype == np.uint8 and X.ndim == 4:
            items = list(X)
        elif X.dtype.kind in "OUS" and (X.ndim == 1 or (X.ndim == 2 and X.shape[1] == 1)):
            items = X.reshape(-1).tolist()
        else:
            raise ValueError(
                f"X must be a 1-D array of image paths or an (n, height, width, 3) uint8 array of images, "
                f"got an array of dtype {X.dtype} and shape {X.shape}"
            )
    elif isinstance(X, (list, tuple)):
        items = list(X)
    else:
        try:
            items = list(X)
        except TypeError:
            raise ValueError(f"X must be a sequence of image paths or arrays, got {type(X).__name__}") from None
    if not items:
        raise ValueError("X holds no images (0 samples)")
    if any(issubclass(t, bytes) for t in set(map(type, items))):  # by type: a warm call checks thousands
        items = [i.decode() if isinstance(i, bytes) else i for i in items]
    return items
