"""Find labelled images on disk, and fetch public pet datasets."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
from imblearn.utils import Substitution

from ._fetch import RemoteFileMetadata, fetch_archive, get_data_home, logger
from ._images import IMAGE_EXTENSIONS, ImageCrop

__all__ = ["fetch_dogs_vs_cats", "fetch_oxford_pets", "get_data_home", "load_image_csv", "load_image_folder"]

BOX_COLUMNS = ("xmin", "ymin", "xmax", "ymax")


def images_in(folder):
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
        The folder to list.

    Returns
    -------
    paths : ndarray of str, shape (n_samples,)
        Image paths, sorted.
    labels : ndarray of str, shape (n_samples,)
        The class of each path.

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
        found = images_in(sub)
        paths += found
        labels += [sub.name] * len(found)
    if not paths:  # flat layout
        for p in images_in(root):
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
        raise ValueError(
            f"{os.fspath(root)!r} holds images of one class only ({classes[0]!r}); at least two are needed"
        )
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
        The ``label`` column.

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
    for line, row in zip(range(2, len(table) + 2), table.itertuples(index=False), strict=True):
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
            raise ValueError(f"{where}: box has empty cells {dict(zip(BOX_COLUMNS, cells, strict=True))}")
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


# tensorflow-datasets' cats_vs_dogs builder (tensorflow_datasets/image_classification/cats_vs_dogs.py,
# version 4.0.1) downloads this URL, but its url_checksums file still pins the previous archive,
# kagglecatsanddogs_3367a.zip, which Microsoft no longer serves. Microsoft publishes no digest; this
# SHA-256 (824,887,076 bytes) is the one two independent loaders pin for the 5340 file:
# huggingface/datasets, datasets/cats_vs_dogs/dataset_infos.json ("download_checksums"), and
# gomlx, examples/dogsvscats/dogsvscats.go (DownloadChecksum, checked with sha256).
DOGS_VS_CATS = RemoteFileMetadata(
    filename="kagglecatsanddogs_5340.zip",
    url="https://download.microsoft.com/download/3/E/1/3E1C3F21-ECDB-4869-8368-6DEBA77B919F/kagglecatsanddogs_5340.zip",
    checksum="b7974bd00a84a99921f36ee4403f089853777b5ae8d151c76a86e64900334af9",
)
# tensorflow-datasets' oxford_iiit_pet builder, tensorflow_datasets/datasets/oxford_iiit_pet/checksums.tsv.
OXFORD_PETS = (
    RemoteFileMetadata(
        filename="images.tar.gz",
        url="https://thor.robots.ox.ac.uk/~vgg/data/pets/images.tar.gz",
        checksum="67195c5e1c01f1ab5f9b6a5d22b8c27a580d896ece458917e61d459337fa318d",
    ),
    RemoteFileMetadata(
        filename="annotations.tar.gz",
        url="https://thor.robots.ox.ac.uk/~vgg/data/pets/annotations.tar.gz",
        checksum="52425fb6de5c424942b7626b428656fcbd798db970a937df61750c0f1d358e91",
    ),
)
_CHECKED = ".skcatdog-checked.json"


def _image_problem(path):
    """Why ``path`` is not a usable image (the package's own checks), or None."""
    import warnings

    from . import _images

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Corrupt EXIF data" and the like: the decode decides
            source = _images.read_source(path)
            _images.check_header(source)
            _images.decode(source, 32)
    except Exception as exc:  # noqa: BLE001 - every reason an image is unusable is a reason to leave it out
        return str(exc) or type(exc).__name__
    return None


def _bad_images(root, paths, n_jobs=None):
    """``{path relative to root: reason}`` for the files that fail the image checks, cached in ``root``."""
    import json
    from concurrent.futures import ThreadPoolExecutor

    from ._atomic import atomic_write
    from ._images import DECODER_ID

    record = root / _CHECKED
    names = [os.path.relpath(p, root) for p in paths]
    if record.is_file():
        try:
            saved = json.loads(record.read_text())
            if saved.get("decoder") == DECODER_ID and saved.get("files") == len(names):
                return saved["bad"]
        except (ValueError, KeyError, TypeError):
            pass  # an unreadable record is recomputed
    workers = n_jobs if n_jobs and n_jobs > 0 else min(32, (os.cpu_count() or 1) + 4)
    from tqdm.auto import tqdm

    with ThreadPoolExecutor(workers) as pool:
        problems = list(
            tqdm(pool.map(_image_problem, paths, chunksize=64), total=len(paths), desc="checking images", disable=None)
        )
    bad = {name: reason for name, reason in zip(names, problems, strict=True) if reason is not None}
    with atomic_write(record) as f:
        json.dump({"decoder": DECODER_ID, "files": len(names), "bad": bad}, f, indent=0)
    return bad


def _object_array(items):
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


# The fetchers' shared parameters, documented once (imbalanced-learn's docstring substitution).
_substitute_fetch_docs = Substitution(
    data_home="""data_home : str or path-like, default=None
        Where datasets are kept; by default ``$SKCATDOG_DATA`` or
        ``~/skcatdog_data`` (see :func:`skcatdog._fetch.get_data_home`).""",
    download_if_missing="""download_if_missing : bool, default=True
        If False, raise :class:`OSError` instead of downloading.""",
    return_X_y="""return_X_y : bool, default=False
        Return ``(items, labels)`` (items and label strings), ready for a
        skcatdog pipeline.""",
    n_jobs="""n_jobs : int, default=None
        Threads for the one-off image check (default: a few per CPU).""",
)


@_substitute_fetch_docs
def fetch_dogs_vs_cats(*, data_home=None, download_if_missing=True, return_X_y=False, base_url=None, n_jobs=None):
    """Load Microsoft's Asirra cat and dog photos (the Kaggle Dogs vs Cats set), downloaded once.

    About 25,000 photos (12,500 per class before cleaning) in Microsoft's
    archive ``kagglecatsanddogs_5340.zip`` (786 MB), as tensorflow-datasets'
    ``cats_vs_dogs`` downloads it. The archive holds files that are not
    usable JPEGs (empty, truncated, or not images: tensorflow-datasets drops
    1,738 by a header test); every photo is checked once with skcatdog's own
    reading, header and decoding checks, the failures are left out of the
    result and listed in ``bad_files``, and the verdicts are cached beside
    the photos.

    Parameters
    ----------
    {data_home}
    {download_if_missing}
    {return_X_y}
    base_url : str, default=None
        Download from this mirror (``base_url/kagglecatsanddogs_5340.zip``)
        instead of Microsoft; by default ``$SKCATDOG_DATA_MIRROR`` if set.
    {n_jobs}

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` and ``filenames`` (ndarray of str paths, the ``X``), ``labels`` (``"cat"``/``"dog"``),
        ``target`` (0 cat, 1 dog), ``target_names``, ``bad_files`` (dict
        ``path -> reason`` of the files left out), ``DESCR``.
    (items, labels) : tuple, if ``return_X_y``
        Paths and labels alone.

    Raises
    ------
    OSError
        If the data is missing and ``download_if_missing`` is False, or the
        download fails (:class:`skcatdog._fetch.DownloadError`).
    """
    from sklearn.utils import Bunch

    folder = get_data_home(data_home) / "dogs_vs_cats"
    root = fetch_archive(
        DOGS_VS_CATS, folder, "kagglecatsanddogs_5340", download_if_missing=download_if_missing, base_url=base_url
    )
    paths, labels = [], []
    for label in ("Cat", "Dog"):
        sub = root / "PetImages" / label
        if not sub.is_dir():
            raise FileNotFoundError(
                f"{os.fspath(root)} has no PetImages/{label} folder: not Microsoft's archive layout"
            )
        # Only numbered photos: the archive also holds Thumbs.db files.
        found = sorted((p for p in sub.iterdir() if re.fullmatch(r"\d+\.jpg", p.name)), key=_natural_key)
        paths += [os.fspath(p) for p in found]
        labels += [label.lower()] * len(found)
    bad = _bad_images(root, paths, n_jobs)
    usable = [i for i, p in enumerate(paths) if os.path.relpath(p, root) not in bad]
    bad_files = {os.fspath(root / name): reason for name, reason in bad.items()}
    if bad_files:
        logger.warning("dogs_vs_cats: %d of %d files are not usable images and are left out", len(bad), len(paths))
    paths = np.array([paths[i] for i in usable], dtype=str)
    labels = np.array([labels[i] for i in usable], dtype=str)
    if return_X_y:
        return paths, labels
    target_names = np.array(["cat", "dog"])
    shown = "\n".join(
        f"  {name}: {reason}" for name, reason in sorted(bad.items(), key=lambda kv: _natural_key(Path(kv[0])))[:20]
    )
    more = f"\n  ... and {len(bad) - 20} more (see bad_files)" if len(bad) > 20 else ""
    descr = (
        "Dogs vs Cats (Microsoft's Asirra photos, the Kaggle Dogs vs Cats training set)\n"
        "--------------------------------------------------------------------------\n\n"
        f"{len(paths)} photos: {int((labels == 'cat').sum())} cats and {int((labels == 'dog').sum())} dogs, "
        f"from {DOGS_VS_CATS.url}.\n"
        f"{len(bad)} of the archive's {len(usable) + len(bad)} numbered files failed skcatdog's image checks "
        "and are left out (tensorflow-datasets drops 1,738 by a JFIF header test):\n"
        f"{shown}{more}\n\n"
        'Elson, Douceur, Howell and Saul, "Asirra: A CAPTCHA that Exploits Interest-Aligned Manual Image '
        "Categorization\", ACM CCS 2007. Terms: Microsoft's download page (id=54765).\n"
    )
    return Bunch(
        data=paths,
        filenames=paths,
        labels=labels,
        target=(labels == "dog").astype(int),
        target_names=target_names,
        bad_files=bad_files,
        DESCR=descr,
    )


def _read_split(path):
    """``[(image name, class id 1..37, species 1 cat / 2 dog)]`` from one of the annotation lists."""
    rows = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split()
        try:
            rows.append((cells[0], int(cells[1]), int(cells[2])))
        except (IndexError, ValueError):
            raise ValueError(
                f"{os.fspath(path)}, line {number}: expected 'NAME CLASS-ID SPECIES BREED-ID', got {line!r}"
            ) from None
    return rows


def _head_box(xml_path):
    """The head box of an Oxford-IIIT Pet annotation as fractions, or None if it is unusable."""
    import xml.etree.ElementTree as ET

    if not os.path.isfile(xml_path):
        return None  # the annotators drew no box for this photo
    try:
        root = ET.parse(xml_path).getroot()
        width, height = float(root.findtext("size/width")), float(root.findtext("size/height"))
        box = root.find("object/bndbox")
        xmin, ymin, xmax, ymax = (float(box.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
    except (ET.ParseError, TypeError, ValueError, AttributeError):
        return None
    if width <= 0 or height <= 0:
        return None
    # Pascal VOC pixel coordinates: 1-based, both ends inclusive.
    frac = ((xmin - 1) / width, (ymin - 1) / height, xmax / width, ymax / height)
    frac = tuple(min(max(v, 0.0), 1.0) for v in frac)
    if not (frac[0] < frac[2] and frac[1] < frac[3]):
        return None
    return frac


@_substitute_fetch_docs
def fetch_oxford_pets(
    *,
    subset="trainval",
    crop=None,
    data_home=None,
    download_if_missing=True,
    return_X_y=False,
    base_url=None,
    n_jobs=None,
):
    """The Oxford-IIIT Pet dataset: 37 cat and dog breeds, about 7,400 photos, downloaded once.

    12 cat and 25 dog breeds, about 200 photos each (Parkhi, Vedaldi,
    Zisserman and Jawahar, "Cats and Dogs", CVPR 2012; CC BY-SA 4.0), with
    the official split: ``trainval`` (3,680) and ``test`` (3,669). Photos
    that fail skcatdog's image checks are left out and listed in
    ``bad_files``.

    Parameters
    ----------
    subset : {{"trainval", "test", "all"}}, default="trainval"
    crop : {{None, "head"}}, default=None
        ``"head"`` returns an :class:`~skcatdog.ImageCrop` of the pet's head
        for each photo with a head box (the annotators drew them for the
        ``trainval`` photos), and the whole photo for the others;
        ``has_box`` says which.
    {data_home}
    {download_if_missing}
    {return_X_y}
    base_url : str, default=None
        Download from this mirror (``base_url/images.tar.gz`` and
        ``base_url/annotations.tar.gz``) instead of the University of Oxford;
        by default ``$SKCATDOG_DATA_MIRROR`` if set.
    {n_jobs}

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (the items for ``X``: paths, or ``ImageCrop`` with
        ``crop="head"``), ``filenames``, ``labels`` (breed names such as ``"Abyssinian"``,
        ``"american_bulldog"``), ``target`` (0..36), ``target_names``,
        ``species`` (``"cat"``/``"dog"``), ``subset`` (``"trainval"``/``"test"``
        per photo), ``has_box``, ``bad_files``, ``DESCR``.
    (items, labels) : tuple, if ``return_X_y``
        Paths and labels alone.
    """
    from sklearn.utils import Bunch

    if subset not in ("trainval", "test", "all"):
        raise ValueError(f"subset must be 'trainval', 'test' or 'all', got {subset!r}")
    if crop not in (None, "head"):
        raise ValueError(f"crop must be None or 'head', got {crop!r}")
    folder = get_data_home(data_home) / "oxford_iiit_pet"
    images_archive, annotations_archive = OXFORD_PETS
    kwargs = {"download_if_missing": download_if_missing, "base_url": base_url}
    images = fetch_archive(images_archive, folder, "images", **kwargs) / "images"
    annotations = fetch_archive(annotations_archive, folder, "annotations", **kwargs) / "annotations"
    splits = ("trainval", "test") if subset == "all" else (subset,)
    rows = [(name, cls, sp, split) for split in splits for name, cls, sp in _read_split(annotations / f"{split}.txt")]
    # Class ids number the breeds alphabetically (case-insensitively); the names come from the photos' names.
    names = {}
    for split in ("trainval", "test"):
        for name, cls, _ in _read_split(annotations / f"{split}.txt"):
            names.setdefault(cls, name.rsplit("_", 1)[0])
    target_names = np.array([names[k] for k in sorted(names)])
    paths = [os.fspath(images / f"{name}.jpg") for name, *_ in rows]
    absent = [p for p in paths if not os.path.isfile(p)]
    if absent:
        raise FileNotFoundError(
            f"{len(absent)} photos listed in {os.fspath(annotations)} are missing, e.g. {absent[0]}"
        )
    bad = _bad_images(images, [os.fspath(images / f"{name}.jpg") for name, *_ in _all_rows(annotations)], n_jobs)
    usable = [i for i, p in enumerate(paths) if os.path.relpath(p, images) not in bad]
    listed = set(paths)
    bad_files = {os.fspath(images / n): r for n, r in bad.items() if os.fspath(images / n) in listed}
    items, has_box = [], []
    for i in usable:
        box = _head_box(annotations / "xmls" / f"{rows[i][0]}.xml") if crop == "head" else None
        items.append(paths[i] if box is None else ImageCrop(paths[i], box))
        has_box.append(box is not None)
    rows = [rows[i] for i in usable]
    filenames = np.array([paths[i] for i in usable], dtype=str)
    target = np.array([cls - 1 for _, cls, _, _ in rows], dtype=int)
    labels = target_names[target] if len(target) else np.array([], dtype=str)
    items = _object_array(items)
    if return_X_y:
        return items, labels
    descr = (
        "Oxford-IIIT Pet\n---------------\n\n"
        f"{len(items)} photos of 37 breeds ({subset}), from https://www.robots.ox.ac.uk/~vgg/data/pets/ "
        "(CC BY-SA 4.0).\n"
        f"{len(bad_files)} listed photos failed skcatdog's image checks and are left out"
        + (": " + ", ".join(sorted(bad_files)) if bad_files else "")
        + ".\n"
        + (f"Cropped to the head box for {sum(has_box)} photos.\n" if crop == "head" else "")
        + '\nO. M. Parkhi, A. Vedaldi, A. Zisserman, C. V. Jawahar, "Cats and Dogs", CVPR 2012.\n'
    )
    return Bunch(
        data=items,
        filenames=filenames,
        labels=labels,
        target=target,
        target_names=target_names,
        species=np.array(["cat" if sp == 1 else "dog" for _, _, sp, _ in rows], dtype=str),
        subset=np.array([split for *_, split in rows], dtype=str),
        has_box=np.array(has_box, dtype=bool),
        bad_files=bad_files,
        DESCR=descr,
    )


def _all_rows(annotations):
    return [row for split in ("trainval", "test") for row in _read_split(annotations / f"{split}.txt")]
