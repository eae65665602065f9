"""Every problem of an image dataset in one call: copies, leaks, wrong labels, junk, poor photos."""

from __future__ import annotations

import numbers
import os

import numpy as np

from .. import _engine, _synsets
from .._images import ImageLoadError, as_items, describe
from .._store import open_store
from .._validation import Interval, StrOptions, validate_params
from ..backbones import DEFAULT_BACKBONE
from . import duplicates, labels, quality

__all__ = ["COLUMNS", "ISSUES", "QUALITY_CHECKS", "find_issues"]

#: The columns of :func:`find_issues`'s result.
COLUMNS = ("item", "issue", "score", "group", "given_label", "suggested_label", "detail")

#: Quality checks: ``name -> (measure, direction, default bound, budgeted)``. A photo is flagged
#: when its measure is beyond the bound and, for budgeted checks, among the ``flag_fraction``
#: most extreme photos; a threshold given for a check replaces its bound and its budget.
QUALITY_CHECKS = {
    "dark": ("brightness", "low", 45.0, True),
    "light": ("brightness", "high", 220.0, True),
    "blurry": ("sharpness", "low", 25.0, True),
    "low_information": ("entropy", "low", 4.0, True),
    "grayscale": ("colourfulness", "low", 1.0, False),
    "tiny": ("min_side", "low", 64.0, False),
    "odd_aspect": ("aspect", "high", 3.0, False),
}

#: Every issue :func:`find_issues` reports.
ISSUES = ("exact_duplicate", "near_duplicate", "leak", "label_error", "off_topic", *QUALITY_CHECKS)


def _names(items):
    return [describe(item, i) for i, item in enumerate(items)]


def _digests(items, cache, n_jobs):
    digests, problems = _engine.content_digests(items, cache, n_jobs)
    if problems:
        raise ImageLoadError([(describe(items[i], i), reason) for i, reason in problems])
    return digests


def _embed(items, backbone, views, cache, n_jobs, verbose, precision="auto", decoder="auto"):
    """Mean embedding over ``views`` and the ``full`` view's (or the last view's) ImageNet logits."""
    rows = _engine.embed_many(
        items, backbone, views=views, cache=cache, n_jobs=n_jobs, verbose=verbose, precision=precision, decoder=decoder
    )
    embeddings = rows[0].embeddings.copy()
    for r in rows[1:]:
        embeddings += r.embeddings
    embeddings /= np.float32(len(rows))
    logits = rows[views.index("full") if "full" in views else -1].logits
    return embeddings, logits


def _row(item, issue, score, group=None, given=None, suggested=None, detail=""):
    return (item, issue, float(score), group, given, suggested, detail)


#: Candidate near copies are confirmed when their grey prints correlate at least this well:
#: embeddings alone put half-size copies further apart than different photos of similar cats.
MIN_PRINT_SIMILARITY = 0.9


def _confirmed(pairs, prints_a, prints_b):
    return [
        (i, j, d) for i, j, d in pairs if quality.print_similarity(prints_a[i], prints_b[j]) >= MIN_PRINT_SIMILARITY
    ]


def _duplicate_rows(names, items, digests, emb, sizes, max_distance, store):
    """Exact and near copies, as sets with one photo to keep (the largest; the first among equals)."""
    out = []
    exact = duplicates.exact_sets(digests)
    in_exact = {i: g for g, rows in enumerate(exact) for i in rows}
    for g, rows in enumerate(exact):
        keep = rows[0]
        for i in rows:
            detail = "keep" if i == keep else f"the same bytes as {names[keep]}"
            out.append(_row(names[i], "exact_duplicate", 1.0, f"exact-{g}", detail=detail))
    pairs = [
        (i, j, d)
        for i, j, d in duplicates.near_pairs(emb, max_distance=max_distance)
        if not (i in in_exact and in_exact.get(j) == in_exact[i])
    ]
    grey = quality.prints(items, digests, [k for i, j, _ in pairs for k in (i, j)], store)
    pairs = _confirmed(pairs, grey, grey)
    closest = {}
    for i, j, d in pairs:
        closest[i] = min(closest.get(i, 1.0), d)
        closest[j] = min(closest.get(j, 1.0), d)
    for g, rows in enumerate(duplicates.near_sets(len(names), pairs)):
        keep = max(rows, key=lambda i: (sizes[i], -i))
        for i in rows:
            detail = "keep" if i == keep else f"a near copy of {names[keep]}"
            out.append(_row(names[i], "near_duplicate", 1.0 - closest[i], f"near-{g}", detail=detail))
    return out


def _leak_rows(names, test_names, items, test_items, digests, test_digests, emb, test_emb, max_distance, store):
    """Training photos with an exact or near copy in the test set."""
    found = {}
    test_of = {}
    for k, d in enumerate(test_digests):
        test_of.setdefault(d, k)
    for i, d in enumerate(digests):
        if d in test_of:
            found[i] = (1.0, f"the same bytes as {test_names[test_of[d]]} in the test set")
    pairs = duplicates.near_pairs(emb, test_emb, max_distance=max_distance)
    mine = quality.prints(items, digests, [i for i, _, _ in pairs], store)
    theirs = quality.prints(test_items, test_digests, [k for _, k, _ in pairs], store)
    for i, k, d in _confirmed(pairs, mine, theirs):
        if i not in found or found[i][0] < 1.0 - d:
            found[i] = (1.0 - d, f"a near copy of {test_names[k]} in the test set")
    return [_row(names[i], "leak", score, f"leak-{i}", detail=detail) for i, (score, detail) in sorted(found.items())]


def _label_rows(names, y, emb, logits, top_k, class_synsets, budget, random_state):
    """Wrong labels (confidently another class, which ImageNet sees too) and off-topic photos
    (no class of their label's kind among their ``top_k`` ImageNet classes, and not a wrong label)."""
    classes, proba = labels.out_of_fold_proba(emb, y, random_state=random_state)
    masks = _synsets.class_masks(classes, class_synsets)
    # rank[i, c]: where the best ImageNet class of class c's kind stands among photo i's logits
    ranks = np.stack([_synsets.best_rank(logits, np.broadcast_to(masks[c], logits.shape)) for c in classes], axis=1)
    given = np.searchsorted(classes, y)
    out, wrong = [], set()
    order, suggested, own = labels.label_candidates(y, classes, proba)
    for i, s, p in zip(order, suggested, own, strict=True):
        if len(wrong) >= budget:
            break
        if ranks[i, s] > top_k:
            continue  # what the classifier suggests is not what ImageNet sees either: junk, below
        wrong.add(int(i))
        out.append(
            _row(
                names[i],
                "label_error",
                1.0 - p,
                given=_plain(y[i]),
                suggested=_plain(classes[s]),
                detail=f"P({_plain(y[i])}) = {p:.3f} out of fold; a {_plain(classes[s])} class at ImageNet rank "
                f"{int(ranks[i, s])}",
            )
        )
    own_rank = ranks[np.arange(len(y)), given]
    for i in np.flatnonzero(own_rank > top_k):
        if int(i) in wrong:
            continue
        out.append(
            _row(
                names[i],
                "off_topic",
                min(1.0, own_rank[i] / 1000),
                given=_plain(y[i]),
                detail=f"no {_plain(y[i])} class in its top {top_k} ImageNet classes (best at rank {int(own_rank[i])})",
            )
        )
    return out


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _quality_rows(names, measures, flag_fraction, thresholds):
    short, long_ = np.minimum(measures[:, 4], measures[:, 5]), np.maximum(measures[:, 4], measures[:, 5])
    values = {
        "brightness": measures[:, 0],
        "sharpness": measures[:, 1],
        "entropy": measures[:, 2],
        "colourfulness": measures[:, 3],
        "min_side": short,
        "aspect": long_ / np.maximum(short, 1),
    }
    budget = max(1, int(np.floor(flag_fraction * len(names))))
    out = []
    for check, (measure, direction, bound, budgeted) in QUALITY_CHECKS.items():
        if check in thresholds:
            bound, budgeted = float(thresholds[check]), False
        v = values[measure]
        beyond = v < bound if direction == "low" else v > bound
        rows = np.flatnonzero(beyond & ~np.isnan(v))
        rows = rows[np.argsort(v[rows] if direction == "low" else -v[rows], kind="stable")]
        if budgeted:
            rows = rows[:budget]
        for i in rows:
            out.append(_row(names[i], check, abs(v[i] - bound) / max(abs(bound), 1.0), detail=f"{measure} {v[i]:.4g}"))
    return out


@validate_params(
    {
        "X": ["array-like"],
        "y": ["array-like", None],
        "X_test": ["array-like", None],
        "backbone": [str],
        "views": [tuple, list],
        "cache": [str, os.PathLike, None],
        "flag_fraction": [Interval(numbers.Real, 0, 1, closed="right")],
        "near_duplicate_distance": [Interval(numbers.Real, 0, 1, closed="left")],
        "label_fraction": [Interval(numbers.Real, 0, 1, closed="right")],
        "top_k": [Interval(numbers.Integral, 1, 1000, closed="both")],
        "class_synsets": [dict, None],
        "thresholds": [dict, None],
        "checks": [StrOptions({"all"}), list, tuple, set],
        "n_jobs": [numbers.Integral, None],
        "precision": [StrOptions(set(_engine.PRECISIONS))],
        "decoder": [StrOptions(set(_engine.DECODERS))],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def find_issues(
    X,
    y=None,
    *,
    X_test=None,
    backbone=DEFAULT_BACKBONE,
    views=("crop", "full"),
    cache="auto",
    flag_fraction=0.01,
    near_duplicate_distance=0.2,
    label_fraction=0.01,
    top_k=16,
    class_synsets=None,
    thresholds=None,
    checks="all",
    n_jobs=-1,
    precision="auto",
    decoder="auto",
    verbose=0,
    random_state=0,
):
    """Find copies, leaks, wrong labels, junk and poor photos in an image dataset.

    Everything comes from the embedding cache: a second call on the same
    photos performs no forward pass and reads no photo's pixels.

    Parameters
    ----------
    X : sequence of str, path-like or ndarray
        The photos (paths, or ``HxWx3`` uint8 arrays).
    y : array-like, optional
        Their labels. Without labels, no label or off-topic check runs.
    X_test : sequence, optional
        A test set: training photos with an exact or near copy in it are leaks.
    backbone : str, default="efficientnet_lite2"
        The network whose embeddings and ImageNet logits are used.
    views : tuple of str, default=("crop", "full")
        The views whose embeddings are averaged (as :class:`~skcatdog.KerasEmbeddingTransformer`).
    cache : "auto", str, path-like or None, default="auto"
        The embedding cache (see :class:`~skcatdog.KerasEmbeddingTransformer`);
        the quality measures are cached there too.
    flag_fraction : float, default=0.01
        The budget of each quality check: at most this fraction of the photos,
        the most extreme ones beyond the check's bound.
    near_duplicate_distance : float, default=0.2
        Two photos whose embeddings are at most this cosine distance apart
        are candidate near copies; a candidate counts when small grey copies
        of the two photos correlate at 0.9 or more (over a few central crops:
        cropped copies count), so different photos of look-alike subjects do not.
    label_fraction : float, default=0.01
        The most photos reported as wrong labels, as a fraction of all, the
        least self-confident first.
    top_k : int, default=16
        A photo is off-topic when none of its ``top_k`` best ImageNet classes
        is of its label's kind (as :class:`~skcatdog.ImageNetOutlierFilter`
        decides) and it is not a wrong label; a wrong label must have a class of
        the suggested label's kind there.
    class_synsets : dict, optional
        Labels to WordNet synsets, as :class:`~skcatdog.ImageNetOutlierFilter` takes them.
    thresholds : dict, optional
        ``{check: bound}`` for quality checks (see :data:`QUALITY_CHECKS`): a
        bound given replaces the default one and the budget.
    checks : "all" or collection of str, default="all"
        The issues to look for, of :data:`ISSUES`.
    n_jobs : int, default=-1
        Threads that read and decode photos.
    precision : {"auto", "float32", "mixed", "bfloat16"}, default="auto"
        The forward pass's precision (see :class:`~skcatdog.KerasEmbeddingTransformer`).
    decoder : {"auto", "pillow", "gpu"}, default="auto"
        What decodes the photos (see :class:`~skcatdog.KerasEmbeddingTransformer`).
    verbose : int, default=0
        ``1`` shows progress bars while embedding.
    random_state : int, RandomState instance or None, default=0
        The cross-validation folds of the label check.

    Returns
    -------
    pandas.DataFrame
        One row per (photo, issue), with columns :data:`COLUMNS`: ``score``
        (higher is worse), ``group`` (the set of copies a duplicate or leak
        belongs to), ``given_label`` and ``suggested_label`` (label errors),
        and ``detail`` (which photo to keep in a set of copies, the measure
        that flagged a poor photo...).

    Raises
    ------
    skcatdog.ImageLoadError
        Naming every unreadable photo.

    Examples
    --------
    >>> import numpy as np
    >>> from skcatdog import find_issues
    >>> rng = np.random.default_rng(0)
    >>> photos = [rng.integers(0, 256, (40, 30, 3), dtype=np.uint8) for _ in range(3)]
    >>> photos.append(photos[0].copy())  # an exact copy
    >>> photos.append(np.zeros((40, 30, 3), np.uint8))  # a black photo
    >>> issues = find_issues(photos, backbone="efficientnet_lite0", cache=None)  # doctest: +SKIP
    >>> issues[["item", "issue", "detail"]]  # doctest: +SKIP
    """
    import pandas as pd

    items = as_items(X)
    wanted = set(ISSUES) if checks == "all" else set(checks)
    unknown = wanted - set(ISSUES)
    if unknown:
        raise ValueError(f"unknown checks {sorted(unknown)}; choose among {list(ISSUES)}")
    y_arr = None
    if y is not None:
        y_arr = np.asarray(y)
        if y_arr.ndim != 1 or len(y_arr) != len(items):
            raise ValueError(f"y must be 1-D with one label per photo: {len(items)} photos, y of shape {y_arr.shape}")
    views = tuple(views)
    names = _names(items)
    # Embedding first: it names every unreadable photo in one error (the digests come from its memo).
    emb, logits = _embed(items, backbone, views, cache, n_jobs, verbose, precision, decoder)
    digests = _digests(items, cache, n_jobs)
    store = open_store(cache)
    measures, problems = quality.measure_many(items, digests, store, n_jobs)
    if problems:
        raise ImageLoadError([(names[i], reason) for i, reason in problems])
    sizes = np.nan_to_num(measures[:, 4] * measures[:, 5])
    rows = []
    if wanted & {"exact_duplicate", "near_duplicate"}:
        found = _duplicate_rows(names, items, digests, emb, sizes, near_duplicate_distance, store)
        rows += [r for r in found if r[1] in wanted]
    if X_test is not None and "leak" in wanted:
        test_items = as_items(X_test)
        test_emb, _ = _embed(test_items, backbone, views, cache, n_jobs, verbose, precision, decoder)
        test_digests = _digests(test_items, cache, n_jobs)
        rows += _leak_rows(
            names,
            _names(test_items),
            items,
            test_items,
            digests,
            test_digests,
            emb,
            test_emb,
            near_duplicate_distance,
            store,
        )
    if y_arr is not None and wanted & {"label_error", "off_topic"} and len(np.unique(y_arr)) >= 2:
        budget = max(1, int(np.ceil(label_fraction * len(items))))
        found = _label_rows(names, y_arr, emb, logits, top_k, class_synsets, budget, random_state)
        rows += [r for r in found if r[1] in wanted]
    rows += [r for r in _quality_rows(names, measures, flag_fraction, dict(thresholds or {})) if r[1] in wanted]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    order = {issue: k for k, issue in enumerate(ISSUES)}
    frame = frame.sort_values(["issue", "score"], key=lambda s: s.map(order) if s.name == "issue" else -s)
    return frame.reset_index(drop=True)
