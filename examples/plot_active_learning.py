"""
Active learning: how many labels a model needs
==============================================

Labelling photos costs time. Active learning lets the model pick which photos
to label next: those it is least sure about. :mod:`skcatdog.active` runs the
loop for any classifier with ``predict_proba``; here a LogisticRegression on
frozen ImageNet embeddings learns cats from dogs, and the curve shows its
held-out log-loss after each batch of labels, for uncertainty (entropy) sampling
against labelling photos at random.
"""

# %%
# The photos and their embeddings
# -------------------------------
# 100 photos of each class from ``$SKCATDOG_EXAMPLE_PHOTOS`` (a folder of ``cat/``
# and ``dog/`` sub-folders), else from the copy :func:`skcatdog.fetch_dogs_vs_cats`
# downloaded. Each photo is embedded once (and cached); every round of the loop
# then refits on the embeddings, with no forward pass.
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split

from skcatdog import KerasEmbeddingTransformer, fetch_dogs_vs_cats, load_image_folder
from skcatdog.active import active_learning_loop


def sample_photos(per_class=100, seed=0):
    """``per_class`` photo paths of each class and their labels, or None if there are no photos."""
    try:
        if os.environ.get("SKCATDOG_EXAMPLE_PHOTOS"):
            paths, labels = load_image_folder(os.environ["SKCATDOG_EXAMPLE_PHOTOS"])
        else:
            paths, labels = fetch_dogs_vs_cats(return_X_y=True, download_if_missing=False)
    except OSError as exc:
        print(
            f"This example needs photos and found none ({exc}). Set SKCATDOG_EXAMPLE_PHOTOS to a folder "
            "with cat/ and dog/ sub-folders, or run skcatdog.fetch_dogs_vs_cats() once."
        )
        return None
    rng = np.random.default_rng(seed)
    pick = np.concatenate([rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in ("cat", "dog")])
    return paths[pick], labels[pick]


sample = sample_photos()
if sample is not None:
    paths, labels = sample
    X = KerasEmbeddingTransformer(backbone="efficientnet_lite0").transform(paths)
    X_pool, X_test, y_pool, y_test = train_test_split(X, labels, test_size=0.3, stratify=labels, random_state=0)
    print(f"pool of {len(y_pool)} photos, {len(y_test)} held out")

# %%
# The loop
# --------
# The oracle stands for the person labelling: it is given pool indices and
# returns their labels (here, looked up). Each run starts from two labelled
# photos of each class and asks for 4 more per round. The held-out log-loss is
# recorded after every fit; the runs are repeated over 10 random starts.
if sample is not None:

    def learning_curve(strategy, seed):
        rng = np.random.default_rng(seed)
        start = np.concatenate([rng.choice(np.flatnonzero(y_pool == c), 2, replace=False) for c in ("cat", "dog")])
        curve = []

        def evaluate(record, estimator):
            proba = estimator.predict_proba(X_test)
            curve.append((record["n_labelled"], log_loss(y_test, proba, labels=estimator.classes_)))

        active_learning_loop(
            LogisticRegression(max_iter=1000),
            X_pool,
            oracle=lambda indices: y_pool[indices],
            initial=start,
            n_rounds=8,
            batch_size=4,
            strategy=strategy,
            random_state=seed,
            callback=evaluate,
        )
        return np.array(curve)

    curves = {s: np.mean([learning_curve(s, seed) for seed in range(10)], axis=0) for s in ("entropy", "random")}
    every_label = LogisticRegression(max_iter=1000).fit(X_pool, y_pool)
    full = log_loss(y_test, every_label.predict_proba(X_test), labels=every_label.classes_)
    for strategy, curve in curves.items():
        print(f"{strategy:8s} log-loss with {curve[-1, 0]:.0f} labels: {curve[-1, 1]:.4f}")
    print(f"every one of the {len(y_pool)} pool labels: {full:.4f}")

# %%
# The label curve
# ---------------
# Entropy sampling reaches a given log-loss with fewer labels than random
# sampling: its queries are the photos near the boundary, which teach the model
# most, while random picks are mostly photos it already gets right.
if sample is not None:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for strategy, curve in curves.items():
        ax.plot(curve[:, 0], curve[:, 1], marker="o", label=f"{strategy} sampling")
    ax.axhline(full, color="grey", linestyle="--", label=f"all {len(y_pool)} pool labels")
    ax.set_yscale("log")
    ax.set_xlabel("labelled photos")
    ax.set_ylabel("held-out log-loss (mean of 10 runs)")
    ax.set_title("Active learning on frozen ImageNet embeddings")
    ax.legend()
    fig.tight_layout()
else:
    fig, ax = plt.subplots(figsize=(6, 2))
    ax.text(0.5, 0.5, "No photos found: see the message above", ha="center", va="center")
    ax.axis("off")
plt.show()
