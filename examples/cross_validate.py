"""Cross-validated log-loss of frozen ImageNet embeddings + LogisticRegression.

The whole transfer-learning recipe is one Pipeline, ``skcatdog.make_default_pipeline``
(what ``skcatdog train`` fits): image paths go in, a frozen EfficientNet-Lite2
turns each photo into a 1280-d vector, and a LogisticRegression (C picked by an
inner grid search) separates cats from dogs.  Embeddings are cached on disk,
so the five folds (and any later run) embed each photo only once.

Run from the repository root::

    python examples/cross_validate.py [IMAGE_FOLDER]
"""

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # hush TensorFlow's start-up chatter

from sklearn.model_selection import StratifiedKFold, cross_validate

from skcatdog import load_image_folder, make_default_pipeline

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dogs-vs-cats" / "train"
KAGGLE_TOP10 = 0.06127  # Kaggle Dogs vs Cats Redux: top-10% line
REFERENCE = 0.04156  # the single-Xception reference solution

data = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_DATA
paths, labels = load_image_folder(data)
print(f"{len(paths)} photos from {data}")

model = make_default_pipeline(verbose=1)
start = time.perf_counter()
cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
scores = cross_validate(model, paths, labels, cv=cv, scoring=["neg_log_loss", "accuracy"])
elapsed = time.perf_counter() - start

log_loss = -scores["test_neg_log_loss"]
print(f"\n5-fold CV log-loss  {log_loss.mean():.5f} (+/- {log_loss.std():.5f})")
print(f"5-fold CV accuracy  {scores['test_accuracy'].mean():.4f}")
print(f"Kaggle top-10% line {KAGGLE_TOP10:.5f}")
print(f"reference solution  {REFERENCE:.5f}  (single Xception)")
print(f"wall time           {elapsed:.0f} s")
