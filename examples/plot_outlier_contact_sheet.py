"""
Outlier contact sheet: the photos whose label ImageNet doubts
=============================================================

:class:`~skcatdog.ImageNetOutlierFilter` asks an ImageNet network for each
photo's most probable classes and flags a photo when none of its ``top_k``
classes is of the label's kind: a "dog" photo whose 16 best guesses hold no
dog breed. That finds drawings, banners, photos with no animal and mislabelled
photos, which are worth a look before training.

This example fits the filter on a sample of cat and dog photos (plus known junk
photos, when a folder of them is given) and draws the photos it doubts most,
worst first, as the ``skcatdog outliers --report`` contact sheet does.
"""

# %%
# The photos
# ----------
# 100 photos of each class from ``$SKCATDOG_EXAMPLE_PHOTOS`` (a folder of ``cat/``
# and ``dog/`` sub-folders), else from the copy :func:`skcatdog.fetch_dogs_vs_cats`
# downloaded. ``$SKCATDOG_EXAMPLE_OUTLIERS`` may name a folder of known junk
# photos in the same layout, which are added to the sample.
import os

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from skcatdog import ImageNetOutlierFilter, fetch_dogs_vs_cats, load_image_folder


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
    known_junk = np.zeros(len(paths), dtype=bool)
    if os.environ.get("SKCATDOG_EXAMPLE_OUTLIERS"):
        junk_paths, junk_labels = load_image_folder(os.environ["SKCATDOG_EXAMPLE_OUTLIERS"])
        paths, labels = np.concatenate([paths, junk_paths]), np.concatenate([labels, junk_labels])
        known_junk = np.concatenate([known_junk, np.ones(len(junk_paths), dtype=bool)])
    print(f"{len(paths)} photos, {known_junk.sum()} of them known junk")

# %%
# Fitting the filter
# ------------------
# ``fit_resample`` returns the photos it keeps; ``report_`` is a table of every
# photo, worst first: its label, whether it is flagged, the rank of the best
# class of the label's kind, and the network's best guess. EfficientNet-Lite0
# keeps the example fast; the default backbone is EfficientNet-Lite2.
if sample is not None:
    outlier_filter = ImageNetOutlierFilter(backbone="efficientnet_lite0", top_k=16)
    kept, kept_labels = outlier_filter.fit_resample(paths, labels)
    report = outlier_filter.report_
    print(f"flagged {outlier_filter.n_outliers_} of {len(paths)} photos")
    if known_junk.any():
        print(f"recall on the known junk: {outlier_filter.outlier_mask_[known_junk].mean():.0%}")
    print(report[["label", "outlier", "rank", "best_class", "best_proba"]].head(10).to_string())

# %%
# The contact sheet
# -----------------
# The 16 photos the filter doubts most. A red title means flagged: no class of
# the label's kind among its 16 best guesses.
if sample is not None:
    worst = report.head(16)
    fig, axes = plt.subplots(4, 4, figsize=(10, 10.5))
    for ax, row in zip(axes.flat, worst.itertuples(), strict=False):
        with Image.open(row.item) as photo:
            photo = photo.convert("RGB")
            photo.thumbnail((240, 240))
            ax.imshow(photo)
        colour = "tab:red" if row.outlier else "black"
        ax.set_title(f"{row.label}: {row.best_class}\n{row.label} rank {row.rank}", fontsize=9, color=colour)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle("Photos whose label ImageNet doubts most (red: flagged)")
    fig.tight_layout()
else:
    fig, ax = plt.subplots(figsize=(6, 2))
    ax.text(0.5, 0.5, "No photos found: see the message above", ha="center", va="center")
    ax.axis("off")
plt.show()
