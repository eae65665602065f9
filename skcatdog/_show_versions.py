"""What skcatdog sees in this process, for bug reports and for checking a GPU
or bfloat16 set-up: versions, the CPU and GPU, and what each ``"auto"`` picks."""

from __future__ import annotations

import platform
import sys
from importlib.metadata import PackageNotFoundError, version

from ._validation import validate_params

#: Distributions whose versions decide rows or speed, in the order printed.
DEPENDENCIES = (
    "keras",
    "tensorflow",
    "jax",
    "torch",
    "numpy",
    "scikit-learn",
    "imbalanced-learn",
    "pandas",
    "pillow",
    "ai-edge-litert",
    "openvino",
    "nvidia-nvimgcodec-cu13",
    "array-api-compat",
    "skops",
    "dask",
    "distributed",
    "faiss-cpu",
    "usearch",
)


def _versions():
    from ._version import __version__

    found = {"skcatdog": __version__}
    for name in DEPENDENCIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    import sqlite3

    found["sqlite"] = sqlite3.sqlite_version  # the local store's database engine
    return found


def _hardware():
    from . import _runtimes
    from ._cpu import cpu_bf16_flags, cpu_model
    from ._engine.processes import default_workers
    from ._runtimes.keras import load as load_keras

    load_keras()
    cores = default_workers()
    bf16 = ", ".join(cpu_bf16_flags()) or "none"
    return {
        "python": sys.version.replace("\n", " "),
        "executable": sys.executable,
        "machine": platform.platform(),
        "cpu": f"{cpu_model()}, {cores} cores; bfloat16 instructions: {bf16}",
        "keras backend": _runtimes.keras.backend(),
        "gpu": _runtimes.gpu_name() or "none that the Keras backend sees",
    }


def _choices(backbone):
    from . import _engine, _runtimes
    from ._config import get_config
    from ._store import default_cache_dir

    choice = _runtimes.select("auto", backbone)
    return {
        "backbone": backbone,
        "precision": choice.precision,
        "runtime": choice.runtime.ID,
        "batch size": _engine.resolve_batch_size("auto"),
        "decoder": _engine.decoder_described(),
        "decoder id": _engine.decoder_id(),
        "cache": default_cache_dir(),
        "settings": ", ".join(f"{k}={v!r}" for k, v in sorted(get_config().items())),
    }


@validate_params({"backbone": [str, None]}, prefer_skip_nested_validation=True)
def show_versions(*, backbone=None):
    """Print versions, the CPU and GPU, and what ``"auto"`` picks in this process.

    For a bug report, and to check a set-up: whether the GPU is seen, whether
    photos are decoded on it, and whether this CPU runs the forward pass in
    bfloat16. The choices follow :func:`skcatdog.set_config` and its
    environment variables as they are when it is called.

    Parameters
    ----------
    backbone : str, default=None
        The backbone whose ``precision="auto"`` and runtime to report; the
        default backbone if None. Nothing is built or downloaded.

    See Also
    --------
    skcatdog.set_config : Choose the decoder and the CPU runtime.

    Examples
    --------
    >>> from skcatdog import show_versions
    >>> show_versions()  # doctest: +ELLIPSIS
    <BLANKLINE>
    System:
    ...
    What "auto" picks here:
    ...
    """
    from .backbones import DEFAULT_BACKBONE, get_backbone

    backbone = get_backbone(backbone or DEFAULT_BACKBONE).name
    for title, rows in (
        ("System", _hardware()),
        ("Python dependencies", _versions()),
        ('What "auto" picks here', _choices(backbone)),
    ):
        print(f"\n{title}:")
        width = max(map(len, rows))
        for key, value in rows.items():
            print(f"{key:>{width}}: {value}")
