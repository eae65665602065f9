"""A warm ``transform`` as a new process's first call, for ``bench_embed.py``.

Keras is imported before the timing (any pipeline imports it); the call is then timed, and after
it one ``os.stat`` per photo, the floor under a warm call (it makes the same stats).
"""

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: F401  (imported by any pipeline: not part of the timing)
import numpy as np
from _common import child_result

from skcatdog import KerasEmbeddingTransformer


def main(args):
    paths = open(args["paths"]).read().splitlines()
    est = KerasEmbeddingTransformer(backbone=args["backbone"], cache=args["cache"])
    t = time.perf_counter()
    rows = est.transform(paths)
    first = time.perf_counter() - t
    t = time.perf_counter()
    for p in paths:
        os.stat(p)
    stat = time.perf_counter() - t
    np.save(args["out"], rows)
    child_result({"seconds": first, "stat": stat})


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
