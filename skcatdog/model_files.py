"""Saving fitted models (skops or joblib) with their provenance, and loading them safely."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from ._atomic import atomic_write

__all__ = ["MODEL_FORMAT", "ModelFileError", "load_model", "model_format", "save_model", "untrusted_types"]

MODEL_FORMAT = "skcatdog-model/1"


# Model files: skops (a zip of JSON and arrays that loads only the types it is told to trust) by
# default; joblib (pickle, which can run any code on load) only by name and with explicit consent.
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
# Modules whose classes a skcatdog model file may hold without --trust: the default pipeline needs
# skcatdog's estimators, scikit-learn's (GridSearchCV, LogisticRegression, StratifiedKFold, the
# log-loss scorer), imbalanced-learn's Pipeline and numpy's scalars and dtypes.
TRUSTED_MODULES = ("skcatdog.", "sklearn.", "imblearn.", "numpy.")


def model_format(path):
    """Tell the format a model file name asks for.

    Parameters
    ----------
    path : str or path-like
        The file name.

    Returns
    -------
    str
        ``"joblib"`` for a pickle suffix (``.joblib``, ``.pkl``, ``.pickle``), else ``"skops"``.

    Examples
    --------
    >>> from skcatdog.model_files import model_format
    >>> model_format("model.skops"), model_format("model.joblib")
    ('skops', 'joblib')
    """
    return "joblib" if Path(path).suffix.lower() in PICKLE_SUFFIXES else "skops"


def save_model(model, path, **info):
    """Save a fitted estimator with the versions that made it, written atomically.

    The format follows the name: ``.joblib``/``.pkl``/``.pickle`` write a
    joblib pickle, anything else (``.skops`` by convention) a skops file.

    Parameters
    ----------
    model : estimator
        The fitted estimator or pipeline.
    path : str or path-like
        Where to write it; an earlier file is replaced only once the new one is whole.
    **info
        More entries for the saved payload (``classes``, for example).

    Examples
    --------
    >>> import tempfile, os
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skcatdog.model_files import load_model, save_model
    >>> model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    >>> path = os.path.join(tempfile.mkdtemp(), "model.skops")
    >>> save_model(model, path, classes=["cat", "dog"])
    >>> load_model(path)["classes"]
    ['cat', 'dog']
    """
    import sklearn

    from ._version import __version__

    payload = {"format": MODEL_FORMAT, "skcatdog": __version__, "sklearn": sklearn.__version__, "model": model, **info}
    if model_format(path) == "joblib":
        import joblib

        with atomic_write(path, "wb") as f:
            joblib.dump(payload, f)
        return
    import skops.io

    data = skops.io.dumps(payload)  # fails before the file is touched if a part cannot be represented
    with atomic_write(path, "wb") as f:
        f.write(data)


class ModelFileError(ValueError):
    """A model file that is missing, not ours, from another version, or not trusted."""


def _resolve(name):
    """The object a fully qualified name names, or None (only for names in trusted modules)."""
    import importlib

    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _is_trusted(name):
    """Classes of skcatdog, scikit-learn, imbalanced-learn and numpy; scikit-learn's functions (metrics
    in scorers); numpy's ufuncs. Any other callable could be called with attacker-chosen arguments."""
    if not name.startswith(TRUSTED_MODULES) or any(part.startswith("__") for part in name.split(".")):
        return False  # no dunders: resolving "skcatdog.__main__.x" would import, and so run, the CLI
    import numpy as np

    obj = _resolve(name)
    if isinstance(obj, type):
        return True
    if isinstance(obj, np.ufunc):
        return True
    return callable(obj) and name.startswith("sklearn.")


def untrusted_types(path):
    """List the types in a skops file that skops does not trust by itself.

    Parameters
    ----------
    path : str or path-like
        A skops file.

    Returns
    -------
    trusted : list of str
        Types :func:`load_model` loads without ``trust=True`` (classes of
        skcatdog, scikit-learn, imbalanced-learn and numpy; scikit-learn's
        functions; numpy's ufuncs).
    refused : list of str
        The others.
    """
    import skops.io

    names = skops.io.get_untrusted_types(file=path)
    trusted = [n for n in names if _is_trusted(n)]
    return trusted, [n for n in names if n not in trusted]


def _looks_like_pickle(path):
    with open(path, "rb") as f:
        head = f.read(4)
    # Pickle protocol 2+ opens with PROTO (0x80); joblib compresses with zlib (0x78), gzip, bz2, xz or lz4.
    return head[:1] in (b"\x80", b"\x78") or head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zX", b"\x04\x22\x4d\x18"))


def load_model(path, *, trust=False, allow_pickle=False):
    """Load what :func:`save_model` wrote.

    A skops file loads if every type in it belongs to skcatdog,
    scikit-learn, imbalanced-learn or numpy (classes; functions only
    scikit-learn's), or with ``trust=True``. A joblib/pickle file loads only
    with ``allow_pickle=True``: unpickling a file can run arbitrary code. The
    format is told by the file's content, not its name.

    Parameters
    ----------
    path : str or path-like
        The model file.
    trust : bool, default=False
        Load a skops file whatever types it holds.
    allow_pickle : bool, default=False
        Load a joblib/pickle file (which can run arbitrary code).

    Returns
    -------
    dict
        The payload: ``model``, ``format``, the ``skcatdog`` and ``sklearn``
        versions that wrote it, and whatever else :func:`save_model` was given.

    Raises
    ------
    ModelFileError
        With a one-line reason: missing file, not a skcatdog model, types
        that are not trusted (named), a pickle without ``allow_pickle``, or
        saved by another skcatdog or scikit-learn version (loading across
        versions can silently change predictions, so it is refused).
    """
    import sklearn

    from ._version import __version__

    path = Path(path)
    name = os.fspath(path)
    if not path.is_file():
        raise ModelFileError(f"model file {name!r} does not exist")
    if zipfile.is_zipfile(path):
        payload = _load_skops(path, trust)
    else:
        if not allow_pickle:
            if _looks_like_pickle(path):
                raise ModelFileError(
                    f"{name!r} is a pickle (joblib) model file, and loading one can run arbitrary code: "
                    "pass --allow-pickle only if you trust where it came from, or retrain to a .skops file"
                )
            raise ModelFileError(f"{name!r} is not a skcatdog model file (neither skops nor joblib)")
        import joblib

        try:
            payload = joblib.load(path)
        except Exception as exc:  # noqa: BLE001 - arbitrary bytes make unpickling fail in arbitrary ways
            raise ModelFileError(f"{name!r} is not a skcatdog model file ({type(exc).__name__})") from exc
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise ModelFileError(f"{name!r} is not a skcatdog model file (saved by `skcatdog train`)")
    for lib, running in (("skcatdog", __version__), ("sklearn", sklearn.__version__)):
        if payload.get(lib) != running:
            raise ModelFileError(
                f"{name!r} was trained with {lib} {payload.get(lib)}, this is {lib} {running}: "
                "retrain it with `skcatdog train`"
            )
    return payload


def _load_skops(path, trust):
    import skops.io

    name = os.fspath(path)
    try:
        trusted, refused = untrusted_types(path)
    except Exception as exc:  # noqa: BLE001 - a zip that is not a skops file fails in many ways
        raise ModelFileError(f"{name!r} is not a skcatdog model file ({type(exc).__name__}: {exc})") from exc
    if refused and not trust:
        raise ModelFileError(
            f"{name!r} holds types that are not skcatdog's, scikit-learn's, imbalanced-learn's or numpy's: "
            f"{', '.join(refused)}; refusing to load it (pass --trust only if you trust where it came from)"
        )
    try:
        return skops.io.load(path, trusted=trusted + refused)
    except Exception as exc:  # noqa: BLE001 - a corrupt skops file fails in many ways
        raise ModelFileError(f"{name!r} is not a skcatdog model file ({type(exc).__name__}: {exc})") from exc
