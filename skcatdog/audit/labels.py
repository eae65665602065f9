"""Photos whose label looks wrong, ranked as confident learning does.

Out-of-fold predicted probabilities come from a classifier on the cached
embeddings; each class's threshold is the mean probability its own photos
get. A photo labelled ``i`` is a candidate when the probability of another
class ``j`` reaches ``j``'s threshold and beats its own label's (Northcutt et
al., "Confident learning", 2021, the confident joint's off-diagonal); the
candidates are ranked by self-confidence, least first.
"""

from __future__ import annotations

import numpy as np

__all__ = ["label_candidates", "out_of_fold_proba"]


def out_of_fold_proba(embeddings, y, *, n_splits=5, random_state=0):
    """``(classes, (n, n_classes) probabilities)``, each row from a model that did not see it."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    classes, counts = np.unique(y, return_counts=True)
    folds = int(min(n_splits, counts.min()))
    if folds < 2:
        raise ValueError(
            f"checking labels needs at least 2 photos of each label; {classes[counts.argmin()]!r} has {counts.min()}"
        )
    model = LogisticRegression(C=1.0, max_iter=2000)
    cv = StratifiedKFold(folds, shuffle=True, random_state=random_state)
    return classes, cross_val_predict(model, embeddings, y, cv=cv, method="predict_proba")


def label_candidates(y, classes, proba):
    """Indices of likely label errors, least self-confident first, with the class each is confidently of.

    Each class ``j`` gets a threshold, the mean probability of ``j`` over the
    photos labelled ``j``; a photo counts as confidently ``j`` when its
    probability of ``j`` reaches that threshold (the most probable such class
    if several). The photos confidently of a class other than their label's
    (the confident joint's off-diagonal), and those whose most probable class
    is not their label's, are the candidates.

    Returns
    -------
    order : ndarray of int
    suggested : ndarray of int
        The index into ``classes`` of the class each candidate is confidently of.
    self_confidence : ndarray of float
        The probability of each candidate's given label.
    """
    n = len(y)
    given = np.searchsorted(classes, y)
    thresholds = np.array([proba[given == c, c].mean() for c in range(len(classes))])
    above = proba >= thresholds
    confident = np.where(above, proba, -1.0).argmax(axis=1)
    off_diagonal = above.any(axis=1) & (confident != given)
    # Also a photo whose most probable class is not its label's: a class's threshold (its own
    # photos' mean probability) can sit above a flipped photo's probability of its true class.
    top = proba.argmax(axis=1)
    best = np.where(off_diagonal, confident, top)
    own = proba[np.arange(n), given]
    order = np.flatnonzero(off_diagonal | (top != given))
    order = order[np.argsort(own[order], kind="stable")]
    return order, best[order], own[order]
