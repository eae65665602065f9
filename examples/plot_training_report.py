"""
Where the model fails: a training report
========================================

A log-loss says how good a model is, not where it goes wrong.
:func:`skcatdog.report.training_report` cross-validates a photo classifier
once and ranks the photos it gets wrong, the most confident mistake first, next
to their top ImageNet classes and what :func:`skcatdog.find_issues` says of
them: a wrong label (with the label it looks like), an off-topic photo, a poor
photo. ``skcatdog train photos/ --report report.html`` writes the same report
as a page.
"""

# %%
# The photos
# ----------
# 100 photos of each class from ``$SKCATDOG_EXAMPLE_PHOTOS`` (a folder of ``cat/``
# and ``dog/`` sub-folders), else from the copy :func:`skcatdog.fetch_dogs_vs_cats`
# downloaded: the sample the calibration example embeds, so its rows are cached.
# Six labels are flipped, as a hurried person filing photos would.
import os

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image
from sklearn.calibration import CalibrationDisplay
from sklearn.metrics import ConfusionMatrixDisplay

from skcatdog import fetch_dogs_vs_cats, load_image_folder, make_default_pipeline
from skcatdog.report import training_report


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
    flipped = np.random.default_rng(1).choice(len(paths), 6, replace=False)
    given = labels.copy()
    given[flipped] = np.where(labels[flipped] == "cat", "dog", "cat")

# %%
# One cross-validation
# --------------------
# The report's folds are those of ``skcatdog train``'s estimate; the same
# out-of-fold probabilities give the scores, the calibration curve, the
# confusion matrix and the mistakes. EfficientNet-Lite0 keeps the example fast;
# leave ``backbone`` out for the default EfficientNet-Lite2.
if sample is not None:
    report = training_report(make_default_pipeline(backbone="efficientnet_lite0"), paths, given, cv=5)
    print(report)
    print(report.fold_scores.to_string(index=False))

# %%
# Calibration and confusion
# -------------------------
# The page draws these with scikit-learn's display classes; so can you, from the
# report's out-of-fold probabilities.
if sample is not None:
    fig, (curve, matrix) = plt.subplots(1, 2, figsize=(9, 4))
    CalibrationDisplay.from_predictions(report.y_true == "dog", report.y_proba[:, 1], n_bins=8, ax=curve)
    curve.set(title="Calibration (out of fold)", xlabel="predicted P(dog)", ylabel="share labelled dog")
    predicted = report.classes[report.y_proba.argmax(axis=1)]
    ConfusionMatrixDisplay.from_predictions(report.y_true, predicted, ax=matrix, colorbar=False, cmap="Blues")
    matrix.set_title("Confusion matrix (out of fold)")
    fig.tight_layout()
    plt.show()

# %%
# The most confident mistakes
# ---------------------------
# ``report.mistakes`` is a table (a notebook shows it with thumbnails), worst
# first. The flipped labels lead it, and the audit calls them wrong labels with
# the right suggestion.
if sample is not None:
    worst = report.mistakes.head(8)
    print(worst[["given_label", "proba_given", "audit", "suggested_label"]].to_string())
    print(f"{worst['item'].isin(paths[flipped]).sum()} of the 6 flipped labels are among the first 8 mistakes")
    fig, axes = plt.subplots(2, 4, figsize=(10, 5.8))
    for ax, row in zip(axes.flat, worst.itertuples(), strict=False):
        with Image.open(row.item) as photo:
            photo = photo.convert("RGB")
            photo.thumbnail((240, 240))
            ax.imshow(photo)
        verdict = f"{row.audit} → {row.suggested_label}" if row.audit == "wrong label" else row.audit
        colour = "tab:red" if row.audit == "wrong label" else "black"
        ax.set_title(f"label {row.given_label}, P = {row.proba_given:.2f}\n{verdict}", fontsize=9, color=colour)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle("The most confident cross-validated mistakes (red: the audit says the label is wrong)")
    fig.tight_layout()
else:
    fig, ax = plt.subplots(figsize=(6, 2))
    ax.text(0.5, 0.5, "No photos found: see the message above", ha="center", va="center")
    ax.axis("off")
plt.show()

# %%
# The page
# --------
# ``report.write("report.html")`` writes all of it as one self-contained page:
# the scores per fold beside the Kaggle lines, the figures, a card per mistake
# with keep / drop / relabel choices and a button that exports them for
# ``skcatdog train --decisions``, and the settings and machine it ran on.
