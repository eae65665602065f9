"""Find labelled images on disk."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ._images import IMAGE_EXTENSIONS, ImageCrop

__all__ = ["load_image_folder", "load_image_csv"]

BOX_COLUMNS = ("xmin", "ymin", "xmax", "ymax")


def _images_in(folder):
    return sorted(
        (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS),
        key=_natural_key,
    )


def _natural_key(path):
    # cat.2.jpg before cat.10.jpg, as people number Kaggle files.
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def load_image_folder(root):
    """List the labelled images below ``root``.

    Two layouts are understood:

    * one sub-folder per class (``root/cat/*.jpg``, ``root/dog/*.jpg``); the
      label is the sub-folder's name;
    * Kaggle's flat layout (``root/cat.0.jpg``, ``root/dog.0.jpg``); the label
      is the file name up to its first dot.

    Parameters
    ----------
    root : str or path-like

    Returns
    -------
    paths : ndarray of str, shape (n_samples,)
    labels : ndarray of str, shape (n_samples,)

    Raises
    ------
    FileNotFoundError
        If ``root`` does not exist or is not a directory.
    ValueError
        If it holds no images, or images of a single class only.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {os.fspath(root)!r} does not exist or is not a directory")
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    paths, labels = [], []
    for sub in subdirs:
        found = _images_in(sub)
        paths += found
        labels += [sub.name] * len(found)
    if not paths:  # flat layout
        for p in _images_in(root):
            if "." in p.stem:
                paths.append(p)
                labels.append(p.name.split(".", 1)[0])
    if not paths:
        raise ValueError(
            f"no images found in {os.fspath(root)!r}: expected one sub-folder per class, "
            f"or files named LABEL.ID.jpg (extensions: {', '.join(IMAGE_EXTENSIONS)})"
        )
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise ValueError(f"{os.fspath(root)!r} holds images of one class only ({classes[0]!r}); at least two are needed")
    return np.array([os.fspath(p) for p in paths]), np.array(labels)


def load_image_csv(path, root=None):
    """Read labelled images, optionally cropped to boxes, from a CSV manifest.

    The CSV has a header with the columns ``path`` and ``label`` and,
    optionally, ``xmin, ymin, xmax, ymax`` (Open Images style: fractions of the
    image's width and height in ``[0, 1]``; column names are case-insensitive).
    A row with a box becomes an :class:`~skcatdog.ImageCrop`, so one photo can
    yield several labelled crops (a sandwich and a hamburger on one table); a
    row whose box cells are empty is the whole image.

    Parameters
    ----------
    path : str or path-like
        The CSV file.
    root : str or path-like, default=None
        Folder that relative image paths start from; by default the CSV's own
        folder.

    Returns
    -------
    items : ndarray of object, shape (n_samples,)
        Image paths (str) and :class:`~skcatdog.ImageCrop` objects, in file
        order; every estimator in skcatdog accepts both.
    labels : ndarray of str, shape (n_samples,)

    Raises
    ------
    FileNotFoundError
        If the CSV does not exist.
    ValueError
        Naming the line: a missing column, an empty path or label, a partial
        or invalid box, image files that do not exist, fewer than two classes.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image manifest {os.fspath(path)!r} does not exist")
    root = path.parent if root is None else Path(root)
    table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    table.columns = [c.strip().lower() for c in table.columns]
    missing = [c for c in ("path", "label") if c not in table.columns]
    if missing:
        raise ValueError(f"{os.fspath(path)}: no {' or '.join(missing)} column (found {list(table.columns)})")
    boxed = [c for c in BOX_COLUMNS if c in table.columns]
    if boxed and len(boxed) < 4:
        raise ValueError(f"{os.fspath(path)}: box columns must be all of {BOX_COLUMNS}, found only {boxed}")
    if table.empty:
        raise ValueError(f"{os.fspath(path)} lists no images")
    items, absent = [], []
    for line, row in zip(range(2, len(table) + 2), table.itertuples(index=False)):
        where = f"{os.fspath(path)}, line {line}"
        if not row.path.strip() or not row.label.strip():
            raise ValueError(f"{where}: empty path or label")
        image = Path(row.path.strip())
        image = image if image.is_absolute() else root / image
        if not image.is_file():
            absent.append(f"{where}: {os.fspath(image)}")
        cells = [getattr(row, c).strip() for c in BOX_COLUMNS] if boxed else []
        if not any(cells):
            items.append(os.fspath(image))
            continue
        if not all(cells):
            raise ValueError(f"{where}: box has empty cells {dict(zip(BOX_COLUMNS, cells))}")
        try:
            items.append(ImageCrop(os.fspath(image), tuple(float(c) for c in cells)))
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    if absent:
        shown = "\n  ".join(absent[:20]) + (f"\n  ... and {len(absent) - 20} more" if len(absent) > 20 else "")
        raise ValueError(f"{len(absent)} image file(s) in the manifest do not exist:\n  {shown}")
    labels = table["label"].str.strip().to_numpy(dtype=str)
    if len(set(labels)) < 2:
        raise ValueError(f"{os.fspath(path)} lists images of one class only ({labels[0]!r}); at least two are needed")
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out, labels
