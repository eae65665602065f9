"""TensorFlow's native start-up lines kept off the terminal, unless the user asks for them."""

from __future__ import annotations

import contextlib
import os
import sys

__all__ = ["native_start_up_hushed"]

_LEVEL = "TF_CPP_MIN_LOG_LEVEL"


@contextlib.contextmanager
def native_start_up_hushed():
    """Run the block with file descriptor 2 closed, where TensorFlow's C++ lines would go.

    TensorFlow writes its start-up lines (oneDNN, CUDA stubs, CPU features,
    ``failed call to cuInit``) from C++ before its logging reads
    ``TF_CPP_MIN_LOG_LEVEL``, so the variable alone cannot hold them back.
    A user who set the variable below 1 asked to see them, and sees them; left
    unset, it becomes 3 for the rest of the process, so later native lines
    stay off the terminal as well. Python errors still surface: they are
    raised after stderr is back.
    """
    asked = os.environ.get(_LEVEL)
    if asked is None:
        os.environ[_LEVEL] = "3"
    elif not asked.strip().isdigit() or int(asked) < 1:
        yield
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
