"""5-fold CV log-loss of every offline backbone, alone and concatenated, per view set, with and without clipping.

Feature sets: EfficientNet-Lite0, Lite1 and Lite2 alone and Lite0 + Lite2,
Lite1 + Lite2 and Lite0 + Lite1 + Lite2 concatenated
(``KerasEmbeddingTransformer(backbone=[...])``). View sets (embeddings
averaged): ``crop`` (ImageNet's central crop), ``crop + crop_mirror`` (flip
TTA), ``crop + full`` (the default: central crop and whole photo) and all
four. Classifiers: the tail of ``skcatdog.make_default_pipeline`` (what
``skcatdog train`` fits), that is LogisticRegression with C tuned by an inner
``GridSearchCV(scoring="neg_log_loss")`` over ``skcatdog.recipe.DEFAULT_C``,
alone and behind a ``StandardScaler`` (``standardize=True``, the CLI's
``--standardize``). Each is scored unclipped and wrapped in
``ClippedClassifier(eps=0.001)`` and ``(eps=0.005)``. Outer folds:
``StratifiedKFold(5, shuffle=True, random_state=0)`` (``--seed`` changes
it); inner folds: the same with ``random_state=0`` always. The score is
Kaggle's log-loss (``skcatdog.kaggle_log_loss``).

For speed every feature matrix is computed once (with a warm cache, a read of
the cached rows) and the cross-validation runs on the features. The
transformer is stateless, so with the cache this gives the numbers (to 1e-9) of
the image pipeline ``make_default_pipeline(...)``: the script checks that by
cross-validating the best configuration's image pipeline once (the "warm
run"), and ``--cold`` times the same run again with an empty temporary cache.
Clipping acts at predict time only, so one fit per fold serves every ``eps``
(``ClippedClassifier.set_params(eps=...)`` changes no fitted state).

    python benchmarks/bench_quality.py [--data FOLDER] [--cold] [--features 1] [--viewsets 1]

Writes ``quality.csv`` (the documentation's performance page shows it) and
prints it; rerun it after changing the recipe (``skcatdog/recipe.py``).
About 25 minutes on 2 busy cores with a warm cache.
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import _common as bench
import numpy as np  # noqa: E402
from sklearn.model_selection import StratifiedKFold, cross_validate  # noqa: E402

from skcatdog import (  # noqa: E402
    ClippedClassifier,
    kaggle_log_loss,
    kaggle_log_loss_scorer,
    make_default_pipeline,
)
from skcatdog.recipe import DEFAULT_C, DEFAULT_VIEWS  # noqa: E402

LITES = ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
FEATURES = [
    *[[name] for name in LITES],
    ["efficientnet_lite0", "efficientnet_lite2"],
    ["efficientnet_lite1", "efficientnet_lite2"],
    LITES,
]
VIEWSETS = [("crop",), ("crop", "crop_mirror"), ("crop", "full"), ("crop", "crop_mirror", "full", "mirror")]
EPS = [0.0, 0.001, 0.005]  # 0: no clipping

# LogisticRegression on float32 embeddings returns float32 probabilities,
# whose rows sum to one only to ~1e-7; sklearn's log_loss warns about that.
warnings.filterwarnings("ignore", message="The y_prob values do not sum to one")


CLASSIFIERS = {
    "lr": f"LogisticRegression, C in {list(DEFAULT_C)}",
    "std": "StandardScaler + the same",
}


def short(backbones):
    return " + ".join(b.replace("efficientnet_", "") for b in backbones)


def recipe(backbones, views, kind, n_jobs, eps=0.0, cache="auto"):
    """``make_default_pipeline`` for one configuration: ``kind`` is "lr" or "std" (standardized)."""
    backbone = backbones if len(backbones) > 1 else backbones[0]
    return make_default_pipeline(
        backbone=backbone, views=views, standardize=kind == "std", clip=eps, n_jobs=n_jobs, cache=cache
    )


def make_classifier(kind, n_jobs):
    """Everything after the embedder in the recipe: what is fitted on the features."""
    return recipe(["efficientnet_lite2"], DEFAULT_VIEWS, kind, n_jobs)[1:]


def evaluate(X, y, kind, n_jobs, seed):
    """Outer 5-fold CV on features: per-eps fold losses, fold accuracies, chosen C per fold."""

    def score(clf, X_test, y_test):
        # Clipping acts at predict time only: one fit per fold serves every eps.
        out = {
            eps: kaggle_log_loss(y_test, clf.set_params(eps=eps).predict_proba(X_test), labels=clf.classes_)
            for eps in EPS
        }
        return out, np.mean(clf.predict(X_test) == y_test), clf.estimator_[-1].best_params_["C"]

    folds = bench.cv_log_loss(
        X, y, lambda: ClippedClassifier(make_classifier(kind, n_jobs), eps=0.0), seed=seed, score=score
    )
    losses = {eps: np.array([f[0][eps] for f in folds]) for eps in EPS}
    return losses, np.array([f[1] for f in folds]), [f[2] for f in folds]


def timed_cv(pipe, paths, labels, cv):
    start = time.perf_counter()
    res = cross_validate(pipe, paths, labels, cv=cv, scoring={"log_loss": kaggle_log_loss_scorer, "acc": "accuracy"})
    return -res["test_log_loss"], res["test_acc"], time.perf_counter() - start


def main():
    parser = bench.parser(__doc__)
    parser.add_argument("--cold", action="store_true", help="also time the best configuration with an empty cache")
    parser.add_argument("--seed", type=int, default=0, help="random_state of the outer folds (default 0)")
    parser.add_argument("--n-jobs", type=int, default=None, help="GridSearchCV's n_jobs (default: 1)")
    parser.add_argument("--limit", type=int, default=None, help="use only N photos, spread over the classes")
    parser.add_argument("--features", type=int, default=None, help="only the first N feature sets")
    parser.add_argument("--viewsets", type=int, default=None, help="only the first N view sets (and the default)")
    args = parser.parse_args()

    paths, labels = bench.load_photos(bench.data_folder(args.data), args.limit)
    cv = StratifiedKFold(5, shuffle=True, random_state=args.seed)
    features = FEATURES[: args.features]
    viewsets = VIEWSETS[: args.viewsets]
    if DEFAULT_VIEWS not in viewsets:
        viewsets.append(DEFAULT_VIEWS)
    results, table = [], []
    start_all = time.perf_counter()
    for backbones in features:
        for views in viewsets:
            X = recipe(backbones, views, "lr", None)[0].transform(paths)  # cache read
            scored = {}
            for kind in CLASSIFIERS:
                losses, accs, chosen = evaluate(X, labels, kind, args.n_jobs, args.seed)
                scored[kind] = losses, accs
                for eps in EPS:
                    results.append((losses[eps].mean(), backbones, views, kind, eps, losses[eps], accs))
                print(f"{short(backbones)}, {' + '.join(views)}, {kind}: C per fold {chosen}", flush=True)
            default = backbones == ["efficientnet_lite2"] and views == DEFAULT_VIEWS
            bold = (lambda x: f"**{x}**") if default else str
            lr, std = scored["lr"][0], scored["std"][0]
            table.append(
                [
                    bold(short(backbones) + (" (default)" if default else "")),
                    bold(" + ".join(views)),
                    bold(f"{lr[0.0].mean():.5f}"),
                    f"{std[0.0].mean():.5f}",
                    *(f"{lr[eps].mean():.5f}" for eps in EPS[1:]),
                    f"{scored['lr'][1].mean():.4f}",
                ]
            )
    n_configs = len(results) // len(EPS)
    bench.write_result(
        "quality",
        ["features", "views", "LR", "StandardScaler + LR", *(f"LR, clip {eps:g}" for eps in EPS[1:]), "accuracy (LR)"],
        table,
        title="Log-loss by backbone and views",
        what=(
            f"Kaggle log-loss, 5-fold cross-validation (StratifiedKFold, shuffled, random_state={args.seed}) on "
            f"{len(paths):,} photos. C is tuned by an inner 5-fold grid search over {len(DEFAULT_C)} values from "
            f"{min(DEFAULT_C):g} to {max(DEFAULT_C):g}; clipping wraps the tuned model in ClippedClassifier. The "
            "default model is the bold row."
        ),
        out=args.out,
    )
    print(f"{n_configs} configurations in {time.perf_counter() - start_all:.0f} s")

    best_loss, backbones, views, kind, eps, best_folds, best_accs = min(results, key=lambda r: r[0])
    clip = f"ClippedClassifier(eps={eps:g})" if eps else "no clipping"
    print(
        f"\nbest: {short(backbones)}, views {' + '.join(views)}, {CLASSIFIERS[kind]}, {clip}: "
        f"log-loss {best_loss:.5f} (± {best_folds.std():.5f} over folds), accuracy {best_accs.mean():.4f}"
    )
    # The folds differ more from each other than the configurations do: compare fold by fold.
    base = next((r[5] for r in results if r[1:5] == (["efficientnet_lite2"], DEFAULT_VIEWS, "lr", 0.0)), None)
    if base is not None:
        gain = base - best_folds
        print(
            f"vs `skcatdog train`'s default (lite2, {' + '.join(DEFAULT_VIEWS)}, {CLASSIFIERS['lr']}): "
            f"{base.mean():.5f}; lower on {(gain > 0).sum()} of {len(gain)} folds, by {gain.mean():.5f} ± "
            f"{gain.std():.5f}"
        )

    # The same configuration as one image pipeline: paths in, cache reads inside each fold.
    warm_loss, warm_acc, warm_wall = timed_cv(recipe(backbones, views, kind, args.n_jobs, eps), paths, labels, cv)
    diff = max(np.abs(warm_loss - best_folds).max(), np.abs(warm_acc - best_accs).max())
    print(
        f"image pipeline, warm cache (default location): log-loss {warm_loss.mean():.5f}, "
        f"accuracy {warm_acc.mean():.4f}, largest per-fold difference from the feature run {diff:.1e}; "
        f"{warm_wall:.1f} s"
    )
    if args.cold:
        with tempfile.TemporaryDirectory(prefix="skcatdog-cold-") as cache:
            pipe = recipe(backbones, views, kind, args.n_jobs, eps, cache=cache)
            cold_loss, _, cold_wall = timed_cv(pipe, paths, labels, cv)
        n_views = len(backbones) * len(views)
        print(
            f"image pipeline, cold (empty temporary cache, {n_views * len(paths):,} forward passes): "
            f"log-loss {cold_loss.mean():.5f}; {cold_wall:.1f} s"
        )


if __name__ == "__main__":
    main()
