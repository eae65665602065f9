"""How well ImageNetOutlierFilter finds known junk photos, and what it costs.

For each built-in offline backbone (and votes over several) and each top_k:
recall on the known junk photos (``outliers/`` beside the photo folder: 48
photos a reference solution removed by hand from Dogs vs Cats) and the share
of the training photos flagged. Then the 5-fold CV log-loss of the full
pipeline with and without the filter (validation folds always keep every
photo). Writes ``outliers_recall.csv`` and ``outliers_cv.csv``.

    python benchmarks/bench_outliers.py [--data FOLDER] [--limit N] [--top-k 16 50]

Embeddings and logits come from the cache, so a second run takes seconds.
"""

from __future__ import annotations

import time

import _common as bench
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_validate

from skcatdog import ImageNetOutlierFilter, KerasEmbeddingTransformer, load_image_folder, make_pipeline
from skcatdog.outlier_filter import DEFAULT_TOP_K

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
    parser = bench.parser(__doc__)
    parser.add_argument("--limit", type=int, default=None, help="use only N training photos, spread over the classes")
    parser.add_argument("--top-k", type=int, nargs="+", default=[1, 5, 10, DEFAULT_TOP_K, 20, 25, 50, 100])
    parser.add_argument("--C", type=float, default=1.0, help="LogisticRegression's C in the CV runs")
    parser.add_argument("--configs", type=int, default=None, help="only the first N backbone configurations")
    args = parser.parse_args()

    data = bench.data_folder(args.data)
    train, train_y = bench.load_photos(data, args.limit)
    junk, junk_y = load_image_folder(bench.outliers_folder(data))
    ks = sorted(set(args.top_k))
    recall = []
    for backbone, vote in CONFIGS[: args.configs]:
        # top_k=1000 flags nothing, so fit never refuses; rank_ answers every k at once.
        f = ImageNetOutlierFilter(backbone=backbone, vote=vote, top_k=1000, verbose=1)
        train_rank, junk_rank = f.fit(train, train_y).rank_, f.fit(junk, junk_y).rank_
        recall.append(
            [label(backbone, vote), *(f"{(junk_rank > k).mean():.1%} / {(train_rank > k).mean():.2%}" for k in ks)]
        )
    bench.write_result(
        "outliers_recall",
        ["backbone (vote)", *(f"top-{k}" for k in ks)],
        recall,
        title="Outlier filter: recall and share flagged",
        what=(
            f"ImageNetOutlierFilter on the {len(junk)} known junk photos (drawings, banners, no animal) and the "
            f"{len(train):,} training photos: recall on the junk / share of the training photos flagged, for each "
            f"top_k. The default is top_k={DEFAULT_TOP_K} with EfficientNet-Lite2."
        ),
        out=args.out,
    )

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
    runs = runs[: None if args.configs is None else args.configs + 1]
    rows = []
    for name, filt in runs:
        steps = [KerasEmbeddingTransformer(), LogisticRegression(C=args.C, max_iter=2000)]
        pipe = make_pipeline(*([filt] if filt is not None else []), *steps)
        start = time.perf_counter()
        res = cross_validate(
            pipe, train, train_y, cv=cv, scoring=["neg_log_loss", "accuracy"], return_estimator=filt is not None
        )
        wall = time.perf_counter() - start
        dropped = np.mean([e[0].n_outliers_ for e in res["estimator"]]) if filt is not None else 0
        rows.append(
            [
                name,
                f"{-res['test_neg_log_loss'].mean():.5f}",
                f"{res['test_accuracy'].mean():.4f}",
                f"{dropped:.1f}",
                f"{wall:.1f}",
            ]
        )
    bench.write_result(
        "outliers_cv",
        ["filter", "log-loss", "accuracy", "training photos dropped per fold", "wall s"],
        rows,
        title="Outlier filter inside a cross-validated pipeline",
        what=(
            f"5-fold CV of filter, EfficientNet-Lite2 embeddings (default views) and LogisticRegression(C={args.C:g}) "
            "on the same folds. The validation folds keep every photo, as a Kaggle test set would."
        ),
        out=args.out,
    )


if __name__ == "__main__":
    main()
