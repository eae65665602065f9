"""One measure of ``bench_commits.py`` in a new process, on the package found first on the path.

The parent puts one commit's exported package first on ``PYTHONPATH``; this program imports only
what both commits have (the public estimators, the engine's counters and runner, the decoder).
"""

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from _common import child_result, images_per_second, load_photos

from skcatdog import KerasEmbeddingTransformer, _engine


def main(args):
    paths, y = load_photos(args["data"], args["limit"])  # spread over the classes
    out = {}
    est = KerasEmbeddingTransformer(backbone=args["backbone"], cache=args["cache"])
    if args["what"] == "fill":
        est.transform(paths)
        out["forwarded"] = _engine.stats.images_forwarded
    elif args["what"] == "warm":
        t = time.perf_counter()
        est.transform(paths)
        out["new_process"] = len(paths) / (time.perf_counter() - t)
        est.transform(paths)
        t = time.perf_counter()
        est.transform(paths)
        out["repeated"] = len(paths) / (time.perf_counter() - t)
        out["forwarded"] = _engine.stats.images_forwarded
    elif args["what"] == "grid":
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import GridSearchCV
        from sklearn.pipeline import make_pipeline

        grid = {"logisticregression__C": [0.3, 1.0]}
        features = est.transform(paths)
        est.transform(paths)
        t = time.perf_counter()
        GridSearchCV(make_pipeline(LogisticRegression(max_iter=500)), grid, cv=5).fit(features, y)
        f = time.perf_counter() - t
        t = time.perf_counter()
        GridSearchCV(make_pipeline(est, LogisticRegression(max_iter=500)), grid, cv=5).fit(np.asarray(paths), y)
        out["grid_ratio"] = (time.perf_counter() - t) / f
    elif args["what"] == "cold":
        from skcatdog._images import decode, read_source
        from skcatdog.backbones import get_backbone

        start = args["offset"]
        cold = paths[start : start + args["n_cold"]]
        size = get_backbone(args["backbone"]).input_size
        runner = _engine.get_runner(args["backbone"], "imagenet", "float32")
        arrays = np.stack([decode(read_source(p), size, "crop") for p in cold[:64]])
        one = KerasEmbeddingTransformer(backbone=args["backbone"], cache=args["cold_cache"], views="crop")
        # The bare forward on either side of the cold call: the ratio is against their mean.
        before = images_per_second(runner.forward, arrays, 64)
        t = time.perf_counter()
        one.transform(cold)
        rate = len(cold) / (time.perf_counter() - t)
        after = images_per_second(runner.forward, arrays, 64)
        out["cold_ratio"] = rate / ((before + after) / 2)
    child_result(out)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
