"""Import Keras without TensorFlow's C++ start-up lines on stderr (for the command line)."""

from __future__ import annotations

import os
import sys


def import_keras_quietly():
    """Import Keras (and TensorFlow) with file descriptor 2 closed.

    TensorFlow's C++ start-up lines (oneDNN, CUDA stubs) ignore a
    TF_CPP_MIN_LOG_LEVEL set after the process started, and are not for users
    of a command line tool. Python errors still surface: they are raised
    after stderr is back.
    """
    if "keras" in sys.modules:
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        from ._engine import gpu_available

        gpu_available()  # the first device query logs CUDA stub errors on machines without a GPU
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
