"""Kaggle Dogs vs Cats from start to finish: labelled photos in, submission.csv out.

    python examples/kaggle_dogs_vs_cats.py TRAIN_DIR [TEST_DIR] [--out submission.csv]

TRAIN_DIR holds cat/*.jpg and dog/*.jpg (or Kaggle's cat.0.jpg, dog.0.jpg, ...), TEST_DIR the
unlabelled 1.jpg, 2.jpg, ...; without it, 20% of TRAIN_DIR is held out as a pretend test set.
The model is skcatdog.make_default_pipeline, what `skcatdog train` fits (EfficientNet-Lite2
embeddings into a LogisticRegression whose C an inner grid search picks), behind an outlier
filter that an outer 5-fold grid search may switch off. The documentation's performance page has the figures.
"""

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # hush TensorFlow's start-up chatter

import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV, train_test_split

from skcatdog import kaggle_log_loss, load_image_folder, make_default_pipeline

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("train_dir")
parser.add_argument("test_dir", nargs="?")
parser.add_argument("--out", default="submission.csv")
args = parser.parse_args()

paths, labels = load_image_folder(args.train_dir)
if args.test_dir:
    test = sorted(os.fspath(p) for p in Path(args.test_dir).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
else:  # no test folder: hold out 20% of the labelled photos (their paths; nothing is copied)
    paths, test, labels, test_labels = train_test_split(paths, labels, test_size=0.2, stratify=labels, random_state=0)

# The outlier filter drops training photos with no cat (dog) among their top-16 ImageNet classes:
# drawings, banners, mislabels. top_k=1000 drops nothing; the outer grid search decides between
# them, while the recipe's inner search picks C on each outer training part.
model = GridSearchCV(
    make_default_pipeline(drop_outliers=16, verbose=1),
    {"imagenetoutlierfilter__top_k": [16, 1000]},
    cv=5,
    scoring="neg_log_loss",
)
model.fit(paths, labels)
p_dog = model.predict_proba(test)[:, list(model.classes_).index("dog")]
ids = [int("".join(filter(str.isdigit, Path(p).stem))) for p in test]  # test/123.jpg -> 123
if len(set(ids)) < len(ids):  # held-out cat.7.jpg and dog.7.jpg would share id 7: number rows 1..n
    ids = list(range(1, len(test) + 1))
pd.DataFrame({"id": ids, "label": p_dog}).sort_values("id").to_csv(args.out, index=False)
print(f"chose {model.best_params_}; wrote {len(test)} predictions (id, P(dog)) to {args.out}")
if not args.test_dir:
    accuracy = np.mean((p_dog > 0.5) == (test_labels == "dog"))
    print(f"held-out log-loss {kaggle_log_loss(test_labels, p_dog):.5f}, accuracy {accuracy:.4f}")
