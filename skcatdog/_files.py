"""Writing files whole or not at all, and saving fitted models with their provenance."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

MODEL_FORMAT = "skcatdog-model/1"


@contextlib.contextmanager
def atomic_write(path, mode="w", **kwargs):
    """Open a temporary file beside ``path``; it replaces ``path`` only if the block succeeds.

    A crash, an exception or Ctrl-C leaves any earlier ``path`` untouched
    and no partial file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; the result should look like any new file
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def save_model(model, path, **info):
    """Save a fitted estimator with the versions that made it (joblib, written atomically)."""
    import joblib
    import sklearn

    from ._version import __version__

    payload = {"format": MODEL_FORMAT, "skcatdog": __version__, "sklearn": sklearn.__version__, "model": model, **info}
    with atomic_write(path, "wb") as f:
        joblib.dump(payload, f)


class ModelFileError(ValueError):
    """A model file that is missing, not ours, or from another version."""


def load_model(path):
    """Load what :func:`save_model` wrote; returns the payload dict.

    Raises
    ------
    ModelFileError
        With a one-line reason: missing file, not a skcatdog model, or saved
        by another skcatdog or scikit-learn version (unpickling across
        versions can silently change predictions, so it is refused).
    """
    import joblib
    import sklearn

    from ._version import __version__

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {os.fspath(path)!r} does not exist")
    try:
        payload = joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - arbitrary bytes make unpickling fail in arbitrary ways
        raise ModelFileError(f"{os.fspath(path)!r} is not a skcatdog model file ({type(exc).__name__})") from exc
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise ModelFileError(f"{os.fspath(path)!r} is not a skcatdog model file (saved by `skcatdog train`)")
    for name, running in (("skcatdog", __version__), ("sklearn", sklearn.__version__)):
        if payload.get(name) != running:
            raise ModelFileError(
                f"{os.fspath(path)!r} was trained with {name} {payload.get(name)}, this is {name} {running}: "
                "retrain it with `skcatdog train`"
            )
    return payload
