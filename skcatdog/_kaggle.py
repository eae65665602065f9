"""Prediction CSVs: Kaggle's submission format for numbered cat/dog photos, one row per photo otherwise."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

KAGGLE_TOP10 = 0.06127  # Kaggle Dogs vs Cats Redux: the top-10% line
REFERENCE = 0.04156  # a single-Xception reference solution


def write_predictions(f, paths, proba, classes):
    """Write ``proba`` (one row per path) to the open text file ``f``.

    For a cat/dog model and numbered photos (``1.jpg``, ``2.jpg``, ...) the rows
    are Kaggle's ``id,label`` with label = P(dog), sorted by id; otherwise
    ``path,label,proba_<class>...``.
    """
    classes = [str(c) for c in classes]
    stems = [Path(p).stem for p in paths]
    writer = csv.writer(f)
    if classes == ["cat", "dog"] and all(s.isdigit() for s in stems):
        writer.writerow(["id", "label"])
        order = np.argsort([int(s) for s in stems], kind="stable")
        writer.writerows((stems[i], f"{proba[i, 1]:.6f}") for i in order)
    else:
        writer.writerow(["path", "label", *(f"proba_{c}" for c in classes)])
        labels = np.asarray(classes)[proba.argmax(axis=1)]
        rows = zip(paths, labels, proba, strict=True)
        writer.writerows((p, lab, *(f"{q:.6f}" for q in row)) for p, lab, row in rows)
