"""How well ImageNetOutlierFilter finds the 48 known Kaggle outliers, and what it costs.

For each built-in offline backbone (and votes over several) and each top_k:
recall on the 48 outliers a reference solution removed by hand
(``../shared/data/dogs-vs-cats/outliers``) and the share of the 3,000 shared
training photos flagged. Then the 5-fold CV log-loss of the full pipeline with
and without the filter (validation folds always keep every photo).

    python benchmarks/bench_outliers.py            # tables for benchmarks/results/outliers_*.csv

Embeddings and logits come from the cache, so a second run takes seconds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_validate

from skcatdog import ImageNetOutlierFilter, KerasEmbeddingTransformer, load_image_folder, make_pipeline
from skcatdog.outlier_filter import DEFAULT_TOP_K

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "dogs-vs-cats"
LITES = ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
CONFIGS = [
    *[(name, "all") for name in LITES],
    (["efficientnet_lite0", "efficientnet_lite2"], "all"),
    (["efficientnet_lite0", "efficientnet_lite2"], "any"),
    (["efficientnet_lite1", "efficientnet_lite2"], "any"),
    (LITES, "all"),
]


def label(backbone, vote):
    if isinstance(backbone, str):
        return backbone.replace("efficientnet_", "")
    return f"{' + '.join(b.replace('efficientnet_', '') for b in backbone)} ({vote})"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--top-k", type=int, nargs="+", default=[1, 5, 10, DEFAULT_TOP_K, 20, 25, 50, 100])
    parser.add_argument("--C", type=float, default=1.0, help="LogisticRegression's C in the CV runs")
    args = parser.parse_args()

    train, train_y = load_image_folder(args.data / "train")
    junk, junk_y = load_image_folder(args.data / "outliers")
    print(f"{len(junk)} known outliers, {len(train)} training photos\n")

    ks = sorted(set(args.top_k))
    print("recall on the known outliers / share of the training photos flagged\n")
    print("| backbone (vote) | " + " | ".join(f"top-{k}" for k in ks) + " |")
    print("|---|" + "---:|" * len(ks))
    for backbone, vote in CONFIGS:
        # top_k=1000 flags nothing, so fit never refuses; rank_ answers every k at once.
        f = ImageNetOutlierFilter(backbone=backbone, vote=vote, top_k=1000, verbose=1)
        train_rank, junk_rank = f.fit(train, train_y).rank_, f.fit(junk, junk_y).rank_
        cells = [f"{(junk_rank > k).mean():.1%} / {(train_rank > k).mean():.2%}" for k in ks]
        print(f"| {label(backbone, vote)} | " + " | ".join(cells) + " |")

    print(f"\n5-fold CV of filter + Lite2 embeddings + LogisticRegression(C={args.C}), same folds\n")
    print("| filter | log-loss | accuracy | training photos dropped per fold | wall s |")
    print("|---|---:|---:|---:|---:|")
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    runs = [("none", None)] + [
        (f"{label(b, v)}, top-{k}", ImageNetOutlierFilter(backbone=b, vote=v, top_k=k))
        for b, v, k in [
            ("efficientnet_lite2", "all", 100),
            ("efficientnet_lite2", "all", 50),
            ("efficientnet_lite2", "all", 25),
            ("efficientnet_lite2", "all", DEFAULT_TOP_K),
            (["efficientnet_lite0", "efficientnet_lite2"], "all", DEFAULT_TOP_K),
            ("efficientnet_lite2", "all", 5),
        ]
    ]
    for name, filt in runs:
        steps = [KerasEmbeddingTransformer(), LogisticRegression(C=args.C, max_iter=2000)]
        pipe = make_pipeline(*([filt] if filt is not None else []), *steps)
        start = time.perf_counter()
        res = cross_validate(
            pipe, train, train_y, cv=cv, scoring=["neg_log_loss", "accuracy"], return_estimator=filt is not None
        )
        wall = time.perf_counter() - start
        dropped = np.mean([e[0].n_outliers_ for e in res["estimator"]]) if filt is not None else 0
        print(
            f"| {name} | {-res['test_neg_log_loss'].mean():.5f} | {res['test_accuracy'].mean():.4f} "
            f"| {dropped:.1f} | {wall:.1f} |"
        )


if __name__ == "__main__":
    main()
