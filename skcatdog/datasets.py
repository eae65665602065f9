"""Find labelled images on disk."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ._images import IMAGE_EXTENSIONS

__all__ = ["load_image_folder"]


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
