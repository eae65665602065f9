"""Photos whose label looks wrong, ranked as confident learning does, told apart from junk by ImageNet.

Out-of-fold predicted probabilities come from a classifier on the cached
embeddings; each class's threshold is the mean probability its own photos
get. A photo labelled ``i`` is a candidate when the probability of another
class ``j`` reaches ``j``'s threshold and beats its own label's (Northcutt et
al., "Confident learning", 2021, the confident joint's off-diagonal); the
candidates are ranked by self-confidence, least first, and as many are
reported as the calibrated confident joint estimates there are wrong labels.

A confident classifier wins for a photo that looks like the rest of the set
(its nearest neighbours in embedding space are as close as those of 95% of
the set's photos): it is reported as a wrong label whatever ImageNet's
ranks. On a photo unlike the set (a logo, a drawing) a classifier must still
pick a label, so there ImageNet decides: the candidate is a wrong label when
ImageNet sees the suggested label's kind among the photo's ``top_k``
classes, and is otherwise left to the off-topic check. Without logits
(embeddings given without them) nothing confirms a candidate: the least
self-confident ones are reported, as many as confident learning estimates.

Past :data:`LABEL_CROSSOVER` photos the check keeps to minutes and to the
memory of the embeddings: the classifier learns on principal components in
fewer folds, and neighbours are sought among photos drawn from the set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _synsets
from .checks import IssueCheck, issue_frame
from .duplicates import normalized

__all__ = [
    "LABEL_CROSSOVER",
    "LARGE_FOLDS",
    "NEIGHBOURS",
    "N_COMPONENTS",
    "REFERENCE",
    "TYPICAL_PERCENTILE",
    "LabelErrors",
    "LabelTriage",
    "estimated_error_count",
    "has_two_labels",
    "label_candidates",
    "label_triage",
    "neighbour_similarity",
    "out_of_fold_proba",
    "reduced",
]

#: Neighbours whose mean cosine similarity tells how typical of the set a photo is.
NEIGHBOURS = 10
#: A photo is typical of the set when its neighbour similarity is at least this percentile of
#: the set's (estimated on up to 1,000 photos drawn with the audit's ``random_state``).
TYPICAL_PERCENTILE = 5.0
#: Photos above which the label check works at scale: the classifier learns on a reduced space
#: (:data:`N_COMPONENTS` principal components fitted on a sample) with :data:`LARGE_FOLDS` folds,
#: and a photo's neighbours are sought among :data:`REFERENCE` photos drawn from the set, not
#: among all of them. Up to it every photo's full embedding is used, in 5 folds.
LABEL_CROSSOVER = 50_000
#: Principal components of the reduced space past :data:`LABEL_CROSSOVER`.
N_COMPONENTS = 256
#: Cross-validation folds past :data:`LABEL_CROSSOVER`.
LARGE_FOLDS = 3
#: Photos the neighbours are sought among past :data:`LABEL_CROSSOVER` (and that the reduced
#: space is fitted on).
REFERENCE = 20_000
_SAMPLE = 1000
_BLOCK = 4096


def reduced(embeddings, *, n_components=None, random_state=0):
    """The rows projected on the principal components of a sample of them, float32, a block at a time.

    ``n_components``: :data:`N_COMPONENTS` by default; the sample is :data:`REFERENCE` rows.
    """
    from sklearn.decomposition import PCA
    from sklearn.utils import check_random_state

    n, width = embeddings.shape
    picked = np.sort(check_random_state(random_state).choice(n, min(n, REFERENCE), replace=False))
    k = min(n_components or N_COMPONENTS, width, len(picked))
    pca = PCA(k, svd_solver="randomized", random_state=random_state).fit(np.asarray(embeddings[picked], np.float32))
    out = np.empty((n, k), np.float32)
    for start in range(0, n, _BLOCK):
        out[start : start + _BLOCK] = pca.transform(np.asarray(embeddings[start : start + _BLOCK], np.float32))
    return out


def out_of_fold_proba(embeddings, y, *, n_splits=5, random_state=0, verbose=0):
    """``(classes, (n, n_classes) probabilities)``, each row from a model that did not see it.

    Past :data:`LABEL_CROSSOVER` rows the model learns on :func:`reduced` rows in
    :data:`LARGE_FOLDS` folds; float32 rows stay float32 throughout. ``verbose``
    shows a progress bar of the folds.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from tqdm.auto import tqdm

    classes, counts = np.unique(y, return_counts=True)
    if len(y) > LABEL_CROSSOVER:
        embeddings, n_splits = reduced(embeddings, random_state=random_state), min(n_splits, LARGE_FOLDS)
    folds = int(min(n_splits, counts.min()))
    if folds < 2:
        raise ValueError(
            f"checking labels needs at least 2 photos of each label; {classes[counts.argmin()]!r} has {counts.min()}"
        )
    cv = StratifiedKFold(folds, shuffle=True, random_state=random_state)
    y = np.asarray(y)
    proba = None
    # cross_val_predict's loop, one fold at a time so that a long one shows its progress.
    for train, test in tqdm(cv.split(embeddings, y), total=folds, desc="label check", disable=not verbose, leave=False):
        fold = LogisticRegression(C=1.0, max_iter=2000).fit(embeddings[train], y[train]).predict_proba(embeddings[test])
        if proba is None:
            proba = np.empty((len(y), len(classes)), fold.dtype)
        proba[test] = fold
    return classes, proba


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


def estimated_error_count(y, classes, proba):
    """How many photos confident learning flags as wrong labels ("prune by noise rate").

    The confident joint, each given label's row calibrated to that label's
    count of photos, estimates how many photos of each label belong to each
    other class; that many of the label's least self-confident photos are
    flagged, less those whose most probable class is their own label.
    """
    given = np.searchsorted(classes, y)
    k = len(classes)
    thresholds = np.array([proba[given == c, c].mean() for c in range(k)])
    above = proba >= thresholds
    confident = np.where(above, proba, -1.0).argmax(axis=1)
    joint = np.zeros((k, k))
    np.add.at(joint, (given[above.any(axis=1)], confident[above.any(axis=1)]), 1.0)
    counts = np.bincount(given, minlength=k)
    calibrated = joint / np.maximum(joint.sum(axis=1, keepdims=True), 1.0) * counts[:, None]
    top = proba.argmax(axis=1)
    total = 0
    for c in range(k):
        mine = np.flatnonzero(given == c)
        n_off = int(np.round(np.delete(calibrated[c], c)).sum())
        least = mine[np.argsort(proba[mine, c], kind="stable")[:n_off]]
        total += int((top[least] != c).sum())
    return total


def neighbour_similarity(embeddings, rows, *, k=NEIGHBOURS, reference=None, chunk=1024):
    """The mean cosine similarity of each of ``rows`` to its ``k`` nearest other photos.

    ``reference``: sorted positions of the photos the neighbours are sought among (all by default).
    """
    reference = np.arange(len(embeddings)) if reference is None else np.asarray(reference, dtype=np.int64)
    a = normalized(embeddings if len(reference) == len(embeddings) else embeddings[reference])
    rows = np.asarray(rows, dtype=np.int64)
    k = max(1, min(k, len(a) - 1))
    out = np.zeros(len(rows), np.float32)
    for start in range(0, len(rows), chunk):
        block = rows[start : start + chunk]
        sim = normalized(embeddings[block]) @ a.T
        at = np.minimum(np.searchsorted(reference, block), len(reference) - 1)
        mine = np.flatnonzero(reference[at] == block)
        sim[mine, at[mine]] = -np.inf  # never a photo with itself
        out[start : start + len(block)] = np.partition(sim, -k, axis=1)[:, -k:].mean(axis=1)
    return out


@dataclass
class LabelTriage:
    """What the label and off-topic checks share: ``wrong`` is ``[(index, suggested class
    index, P(given label), reason)]``, least self-confident first; ``ranks[i, c]`` is where
    the best ImageNet class of class ``c``'s kind stands among photo ``i``'s logits
    (``None`` without logits)."""

    classes: np.ndarray
    given: np.ndarray
    ranks: np.ndarray
    wrong: list


class _Typical:
    """Whether photos are typical of the set (see :data:`TYPICAL_PERCENTILE`), the bound computed once.

    Past :data:`LABEL_CROSSOVER` photos the neighbours are sought among :data:`REFERENCE` photos drawn
    from the set, for the bound's sample and the photos asked about alike.
    """

    def __init__(self, embeddings, random_state):
        from sklearn.utils import check_random_state

        self.embeddings, n = embeddings, len(embeddings)
        rng = check_random_state(random_state)
        self.sample = rng.permutation(n)[:_SAMPLE]
        self.reference = None if n <= LABEL_CROSSOVER else np.sort(rng.choice(n, min(n, REFERENCE), replace=False))
        self.bound = None

    def __call__(self, rows):
        if self.bound is None:
            similarity = neighbour_similarity(self.embeddings, self.sample, reference=self.reference)
            self.bound = np.percentile(similarity, TYPICAL_PERCENTILE)
        return neighbour_similarity(self.embeddings, rows, reference=self.reference) >= self.bound


def label_triage(context):
    """The :class:`LabelTriage` of an audit, computed once and shared by its label checks.

    Without logits (embeddings given without them) no ImageNet class confirms a candidate:
    the least self-confident ones are reported, as many as confident learning estimates.
    """
    settings, y = context.settings, context.labels
    classes, proba = out_of_fold_proba(
        context.embeddings, y, random_state=settings["random_state"], verbose=settings.get("verbose", 0)
    )
    logits, ranks = context.logits, None
    if logits is not None:
        ranks = _ranks(logits, classes, settings["class_synsets"])
    given = np.searchsorted(classes, y)
    order, suggested, own = label_candidates(y, classes, proba)
    budget = max(1, int(np.ceil(settings["label_fraction"] * len(y))))
    count = min(budget, estimated_error_count(y, classes, proba))
    typical = _Typical(context.embeddings, settings["random_state"])
    wrong = []
    for start in range(0, len(order), _BLOCK):
        if len(wrong) >= count:
            break
        block = slice(start, start + _BLOCK)
        wrong += _confirmed(order[block], suggested[block], own[block], classes, ranks, typical, settings["top_k"])
    return LabelTriage(classes, given, ranks, wrong[:count])


def _ranks(logits, classes, class_synsets):
    """``ranks[i, c]``: where the best class of class ``c``'s kind stands among photo ``i``'s logits."""
    masks = _synsets.class_masks(classes, class_synsets)
    ranks = np.empty((len(logits), len(classes)), np.int64)
    for start in range(0, len(logits), _BLOCK):  # a block at a time: a masked copy of all logits is as big as them
        block = logits[start : start + _BLOCK]
        for k, c in enumerate(classes):
            ranks[start : start + len(block), k] = _synsets.best_rank(block, np.broadcast_to(masks[c], block.shape))
    return ranks


def _confirmed(rows, suggested, own, classes, ranks, typical, top_k):
    """The candidates ``rows`` that are wrong labels, as :attr:`LabelTriage.wrong` lists them."""
    if ranks is None:
        return [
            (i, s, p, "no ImageNet logits to confirm it")
            for i, s, p in zip(rows.tolist(), suggested.tolist(), own.tolist(), strict=True)
        ]
    theirs = ranks[rows, suggested]
    unsure = theirs > top_k  # only these need the neighbours: ImageNet decides the others
    like_set = np.zeros(len(rows), bool)
    if unsure.any():
        like_set[unsure] = typical(rows[unsure])
    wrong = []
    for i, s, p, rank, like in zip(
        rows.tolist(), suggested.tolist(), own.tolist(), theirs.tolist(), like_set.tolist(), strict=True
    ):
        if rank <= top_k:
            reason = f"a {_plain(classes[s])} class at ImageNet rank {rank}"
        elif like:
            reason = f"a photo like the others of the set (a {_plain(classes[s])} class at ImageNet rank {rank})"
        else:
            continue  # unlike the set, and not what ImageNet sees: junk, left to the off-topic check
        wrong.append((i, s, p, reason))
    return wrong


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def has_two_labels(context):
    """Whether the audit has labels and at least two distinct ones (else no label check runs)."""
    return context.labels is not None and len(np.unique(context.labels)) >= 2


class LabelErrors(IssueCheck):
    """Photos whose label looks wrong, with the label they look like."""

    name = "label_error"
    needs = frozenset({"embeddings", "labels"})
    optional = frozenset({"logits"})
    description = "out-of-fold probabilities ranked as confident learning does, confirmed by ImageNet"

    def find(self, context):
        if not has_two_labels(context):
            return issue_frame([], [])
        triage = context.shared("labels", lambda: label_triage(context))
        y, classes = context.labels, triage.classes
        wrong = triage.wrong
        return issue_frame(
            [i for i, _, _, _ in wrong],
            [1.0 - p for _, _, p, _ in wrong],
            given_label=[_plain(y[i]) for i, _, _, _ in wrong],
            suggested_label=[_plain(classes[s]) for _, s, _, _ in wrong],
            detail=[f"P({_plain(y[i])}) = {p:.3f} out of fold; {reason}" for i, _, p, reason in wrong],
        )
