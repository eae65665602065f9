"""Cross-validated log-loss of frozen ImageNet embeddings + LogisticRegression.

The whole transfer-learning recipe is one Pipeline, ``skcatdog.make_default_pipeline``
(what ``skcatdog train`` fits): image paths go in, a frozen EfficientNet-Lite2
turns each photo into a 1280-d vector, and a LogisticRegression (C picked by an
inner grid search) separates cats from dogs.  Embeddings are cached on disk,
so the five folds (and any later run) embed each photo only once.

Run from the repository root::

    python examples/cross_validate.py [IMAGE_FOLDER]

Without IMAGE_FOLDER it uses the project's 3,000 shared test photos when they
sit beside the checkout (``$SKCATDOG_SHARED`` names that folder), else
``skcatdog.fetch_dogs_vs_cats()``: Microsoft's 25,000 Asirra photos,
downloaded once into ``$SKCATDOG_DATA`` (default ``~/skcatdog_data``).
"""

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # hush TensorFlow's start-up chatter

from sklearn.model_selection import StratifiedKFold, cross_validate

from skcatdog import fetch_dogs_vs_cats, load_image_folder, make_default_pipeline

SHARED = Path(os.environ.get("SKCATDOG_SHARED") or Path(__file__).resolve().parents[1].parent / "shared")
DEFAULT_DATA = SHARED / "data" / "dogs-vs-cats" / "train"
KAGGLE_TOP10 = 0.06127  # Kaggle Dogs vs Cats Redux: top-10% line
REFERENCE = 0.04156  # the single-Xception reference solution


def fail(reason):
    # One line and a non-zero status, not a traceback: the fix is an argument, not a code change.
    print(
        f"cross_validate.py: {reason}; pass a folder of labelled photos instead: "
        "python examples/cross_validate.py DIR (DIR/cat/*.jpg, DIR/dog/*.jpg)",
        file=sys.stderr,
    )
    sys.exit(2)


if len(sys.argv) > 1:
    data = sys.argv[1]
elif DEFAULT_DATA.is_dir():
    data = DEFAULT_DATA
else:
    data = None
try:
    if data is not None:
        paths, labels = load_image_folder(data)
    else:
        print(f"no photos at {DEFAULT_DATA}: fetch_dogs_vs_cats() downloads Microsoft's Asirra photos once")
        data = "fetch_dogs_vs_cats()"
        paths, labels = fetch_dogs_vs_cats(return_X_y=True)
except OSError as exc:  # offline, a failed download, a missing folder
    fail(f"no photos to cross-validate ({exc})")
except ValueError as exc:  # an empty or one-class folder
    fail(str(exc))
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
