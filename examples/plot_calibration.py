"""
Calibration of the default model
================================

Kaggle scores Dogs vs Cats by log-loss, which punishes confident mistakes, so
the predicted probabilities have to mean what they say: of the photos given
P(dog) = 0.8, about 80% should be dogs. This example cross-validates the
default model, :func:`skcatdog.make_default_pipeline` (frozen ImageNet
embeddings of two views of each photo, then a LogisticRegression whose C an
inner grid search picks), and draws its calibration curve.
"""

# %%
# The photos
# ----------
# 100 photos of each class from ``$SKCATDOG_EXAMPLE_PHOTOS`` (a folder of ``cat/``
# and ``dog/`` sub-folders), else from the copy :func:`skcatdog.fetch_dogs_vs_cats`
# downloaded.
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.calibration import CalibrationDisplay
from sklearn.metrics import brier_score_loss, log_loss
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from skcatdog import fetch_dogs_vs_cats, load_image_folder, make_default_pipeline


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

# %%
# Out-of-fold probabilities
# -------------------------
# Each photo's P(dog) comes from a model that did not see it, through 5-fold
# cross-validation. The embeddings are cached, so the folds embed each photo
# once. EfficientNet-Lite0 keeps the example fast; leave ``backbone`` out for
# the default EfficientNet-Lite2.
if sample is not None:
    paths, labels = sample
    model = make_default_pipeline(backbone="efficientnet_lite0")
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    proba = cross_val_predict(model, paths, labels, cv=cv, method="predict_proba")[:, 1]  # classes: cat, dog
    is_dog = labels == "dog"
    print(f"log-loss {log_loss(is_dog, proba):.4f}, Brier score {brier_score_loss(is_dog, proba):.4f}")
    print(f"accuracy {np.mean((proba > 0.5) == is_dog):.3f} on {len(paths)} photos")

# %%
# The calibration curve
# ---------------------
# Photos are binned by predicted P(dog); each point is a bin's mean prediction
# against the share of dogs in it. A calibrated model follows the diagonal. Most
# photos sit near 0 or 1 (the histogram below): the model is rarely unsure.
if sample is not None:
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 7), height_ratios=(3, 1), sharex=True)
    CalibrationDisplay.from_predictions(
        is_dog, proba, n_bins=8, strategy="quantile", name="default model", ax=top, pos_label=True
    )
    top.set_title("Calibration, 5-fold cross-validation")
    top.set_xlabel("")
    top.set_ylabel("share of dogs among the photos")
    bottom.hist(proba, bins=20, range=(0, 1), color="tab:blue")
    bottom.set_yscale("log")
    bottom.set_xlabel("predicted P(dog)")
    bottom.set_ylabel("photos")
    fig.tight_layout()
else:
    fig, ax = plt.subplots(figsize=(6, 2))
    ax.text(0.5, 0.5, "No photos found: see the message above", ha="center", va="center")
    ax.axis("off")
plt.show()
