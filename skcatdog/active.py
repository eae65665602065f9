"""Active learning and rare-class retrieval for any classifier with ``predict_proba``.

The natural pool is a matrix of embeddings (``X_pool =
KerasEmbeddingTransformer().transform(paths)``) scored by a plain classifier,
but a whole pipeline fed image paths works too: everything here only calls
``fit`` and ``predict_proba``.  With a :class:`~skcatdog.KerasEmbeddingTransformer`
in the pipeline every row comes from its disk cache after the first pass, so
re-scoring the pool each round performs no forward pass.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np
from scipy.special import xlogy
from sklearn.base import clone
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils.validation import _num_samples, check_is_fitted

from ._validation import HasMethods, Interval, StrOptions, validate_params
from .metrics import precision_at_k, top_ranked

__all__ = [
    "STRATEGIES",
    "ActiveLearningResult",
    "active_learning_loop",
    "precision_at_k",
    "query",
    "top_k",
    "uncertainty",
]

#: Query strategies understood by :func:`query` and :func:`active_learning_loop`.
STRATEGIES = ("entropy", "margin", "least_confidence", "random")
_SCORED = STRATEGIES[:-1]

_PROBA_ESTIMATOR = HasMethods(["predict_proba"])
_POSITIVE = Interval(numbers.Integral, 1, None, closed="left")


@validate_params(
    {"proba": ["array-like"], "strategy": [StrOptions(set(_SCORED))]},
    prefer_skip_nested_validation=True,
)
def uncertainty(proba, strategy="entropy"):
    """Score how uncertain each prediction is (higher is more uncertain).

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes) or (n_samples,)
        Class probabilities, as ``predict_proba`` returns them.  A 1-D array
        is read as the probability of the positive class of a binary problem.
    strategy : {"entropy", "margin", "least_confidence"}, default="entropy"
        * ``"entropy"``: ``-sum_c p_c log p_c`` (natural log, ``0 log 0 = 0``);
          for two classes ``-(p log p + (1 - p) log(1 - p))``.
        * ``"margin"``: ``1 - (p_(1) - p_(2))``, one minus the gap between
          the two most probable classes.
        * ``"least_confidence"``: ``1 - max_c p_c``.

    Returns
    -------
    scores : ndarray of shape (n_samples,), dtype float64
        One uncertainty per row, 0 for a certain prediction.

    Raises
    ------
    ValueError
        For an unknown strategy, or probabilities that are not a finite 1-D
        or 2-D array.

    Notes
    -----
    For two classes all three strategies are decreasing functions of
    ``|p - 0.5|``, so they rank a pool in the same order; they differ from
    three classes on.

    Examples
    --------
    >>> from skcatdog.active import uncertainty
    >>> uncertainty([[0.5, 0.5], [0.9, 0.1], [1.0, 0.0]]).round(3)
    array([0.693, 0.325, 0.   ])
    """
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim == 1:
        p = np.column_stack([1.0 - p, p])
    if p.ndim != 2:
        raise ValueError(f"proba must be 1-D or 2-D (n_samples, n_classes), got shape {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError("proba contains NaN or infinity")
    if strategy == "entropy":
        return 0.0 - xlogy(p, p).sum(axis=1)  # not -(...): no -0.0 for certain rows
    if strategy == "least_confidence":
        return 1.0 - p.max(axis=1, initial=0.0)
    top = -np.sort(-np.pad(p, ((0, 0), (0, max(0, 2 - p.shape[1])))), axis=1)  # at least two columns
    return 1.0 - (top[:, 0] - top[:, 1])


def _check_indices(indices, n_pool, name):
    """Pool indices as a 1-D intp array (from int indices, a range or a boolean mask)."""
    if indices is None:
        return np.zeros(0, dtype=np.intp)
    idx = np.asarray(indices)
    if idx.dtype == bool:
        if idx.shape != (n_pool,):
            raise ValueError(f"{name} as a boolean mask must have shape ({n_pool},), got {idx.shape}")
        return np.flatnonzero(idx)
    if idx.size == 0 and idx.ndim == 1:
        return np.zeros(0, dtype=np.intp)
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"{name} must be a 1-D array of integer indices into the pool, got {indices!r}")
    bad = idx[(idx < 0) | (idx >= n_pool)]
    if bad.size:
        raise ValueError(f"{name} holds indices outside the pool of {n_pool}: {bad[:10].tolist()}")
    return idx.astype(np.intp)


def _query(estimator, X_pool, n_pool, n_queries, strategy, exclude, rng):
    """Indices queried and their uncertainty scores (NaN for ``"random"``)."""
    candidates = np.setdiff1d(np.arange(n_pool), exclude)
    n = min(n_queries, candidates.size)
    if strategy == "random":
        chosen = rng.choice(candidates, size=n, replace=False) if n else candidates[:0]
        return chosen.astype(np.intp), np.full(n, np.nan)
    if n == 0:
        return candidates[:0], np.zeros(0)
    scores = uncertainty(estimator.predict_proba(_safe_indexing(X_pool, candidates)), strategy)
    chosen = np.lexsort((candidates, -scores))[:n]
    return candidates[chosen], scores[chosen]


@validate_params(
    {
        "estimator": [_PROBA_ESTIMATOR, None],
        "X_pool": ["array-like"],
        "n_queries": [_POSITIVE],
        "strategy": [StrOptions(set(STRATEGIES))],
        "exclude": ["array-like", None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=False,  # predict_proba of the user's estimator validates its own
)
def query(estimator, X_pool, n_queries=10, *, strategy="entropy", exclude=None, random_state=None):
    """Choose the pool samples to label next.

    Parameters
    ----------
    estimator : fitted classifier or pipeline with ``predict_proba``
        Ignored (and may be ``None``) when ``strategy="random"``.
    X_pool : array-like of shape (n_pool, ...)
        The unlabelled pool, as ``estimator.predict_proba`` takes it: a
        matrix of embeddings for a plain classifier, or image paths for a
        pipeline that starts with a
        :class:`~skcatdog.KerasEmbeddingTransformer` (whose disk cache makes
        re-scoring the pool free of forward passes).  Only the rows not in
        ``exclude`` are scored, in one ``predict_proba`` call.
    n_queries : int, default=10
        How many indices to return.  When fewer than ``n_queries`` samples
        remain outside ``exclude``, all of them are returned.
    strategy : {"entropy", "margin", "least_confidence", "random"}, default="entropy"
        See :func:`uncertainty`; ``"random"`` samples uniformly without
        replacement.
    exclude : array-like of int or bool mask, default=None
        Pool indices never to return (usually those already labelled).
    random_state : int, RandomState instance or None, default=None
        Used by ``"random"`` only.

    Returns
    -------
    indices : ndarray of int, shape (min(n_queries, n_remaining),)
        Indices into ``X_pool``, most uncertain first; equal scores are
        ordered by index, so the result is deterministic.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.
    TypeError
        If ``estimator`` has no ``predict_proba``.
    ValueError
        For an unknown strategy or indices outside the pool.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skcatdog.active import query
    >>> X, y = make_classification(200, random_state=0)
    >>> clf = LogisticRegression().fit(X[:20], y[:20])
    >>> query(clf, X, 5, exclude=range(20)).shape
    (5,)
    """
    n_pool = _num_samples(X_pool)
    exclude = _check_indices(exclude, n_pool, "exclude")
    if strategy != "random":
        if estimator is None:
            raise ValueError(f"strategy={strategy!r} scores the pool with estimator.predict_proba: pass an estimator")
        check_is_fitted(estimator)
    return _query(estimator, X_pool, n_pool, n_queries, strategy, exclude, check_random_state(random_state))[0]


def _positive_column(estimator, pos_label):
    classes = list(getattr(estimator, "classes_", []))
    if pos_label not in classes:
        raise ValueError(f"pos_label {pos_label!r} is not one of the estimator's classes {classes}")
    return classes.index(pos_label)


@validate_params(
    {
        "estimator": [_PROBA_ESTIMATOR],
        "X_pool": ["array-like"],
        "k": [_POSITIVE],
        "pos_label": "no_validation",  # any label; checked against estimator.classes_
        "exclude": ["array-like", None],
    },
    prefer_skip_nested_validation=False,
)
def top_k(estimator, X_pool, k, pos_label, *, exclude=None):
    """Rank a pool by the predicted probability of one class; return the top ``k``.

    This is rare-class retrieval: with a classifier trained on a few labels,
    the top of the ranking is where the rare class is most likely to be.

    Parameters
    ----------
    estimator : fitted classifier or pipeline with ``predict_proba`` and ``classes_``
        Scores the pool.
    X_pool : array-like of shape (n_pool, ...)
        Embeddings, or image paths for a pipeline (see :func:`query`).
    k : int
        How many indices to return (all remaining ones if fewer).
    pos_label : label
        The class to retrieve; one of ``estimator.classes_``.
    exclude : array-like of int or bool mask, default=None
        Pool indices never to return.

    Returns
    -------
    indices : ndarray of int, shape (min(k, n_remaining),)
        Most probable first; equal probabilities are ordered by index.

    See Also
    --------
    precision_at_k : Score such a ranking when the labels are known.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skcatdog.active import top_k
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> clf = LogisticRegression().fit(X, ["cat", "cat", "dog", "dog"])
    >>> top_k(clf, X, 2, "dog")
    array([3, 2])
    """
    check_is_fitted(estimator)
    column = _positive_column(estimator, pos_label)
    n_pool = _num_samples(X_pool)
    candidates = np.setdiff1d(np.arange(n_pool), _check_indices(exclude, n_pool, "exclude"))
    if candidates.size == 0:
        return candidates.astype(np.intp)
    proba = np.asarray(estimator.predict_proba(_safe_indexing(X_pool, candidates)))[:, column]
    return top_ranked(proba, candidates, k).astype(np.intp)


@dataclass
class ActiveLearningResult:
    """What :func:`active_learning_loop` returns.

    Parameters
    ----------
    estimator : estimator
        A clone of the input estimator fitted on every label gathered.
    indices : ndarray of int
        Labelled pool indices, in the order they were labelled.
    labels : ndarray
        The oracle's labels for ``indices``.
    history : list of dict
        One entry per fit: ``round`` (0 is the initial set), ``n_labelled``
        (after the round), ``queried`` (pool indices labelled in the round),
        ``labels`` (their labels) and ``scores`` (their uncertainty when
        queried; NaN for random and initial picks).  ``pandas.DataFrame(history)``
        tabulates it.
    """

    estimator: object
    indices: np.ndarray
    labels: np.ndarray
    history: list = field(default_factory=list)


def _ask(oracle, indices):
    labels = oracle(indices.copy())
    if labels is None:
        raise ValueError(f"the oracle returned None for {indices.size} indices; it must return one label per index")
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != indices.size:
        raise ValueError(
            f"the oracle returned labels of shape {labels.shape} for {indices.size} indices; "
            f"it must return a 1-D sequence of {indices.size} labels, in the order of the indices"
        )
    return labels


@validate_params(
    {
        "estimator": [HasMethods(["fit", "predict_proba"])],
        "X_pool": ["array-like"],
        "oracle": [callable],
        "initial": [_POSITIVE, "array-like"],
        "n_rounds": [Interval(numbers.Integral, 0, None, closed="left")],
        "batch_size": [_POSITIVE],
        "strategy": [StrOptions(set(STRATEGIES))],
        "random_state": ["random_state"],
        "callback": [callable, None],
        "verbose": ["verbose"],
    },
    prefer_skip_nested_validation=False,  # the user's estimator validates its own parameters when fitted
)
def active_learning_loop(
    estimator,
    X_pool,
    oracle,
    *,
    initial=10,
    n_rounds=5,
    batch_size=10,
    strategy="entropy",
    random_state=None,
    callback=None,
    verbose=0,
):
    """Pool-based active learning: fit, query a batch, ask the oracle, repeat.

    Round 0 asks ``oracle`` for the ``initial`` labels and fits a clone of
    ``estimator`` on them.  Each of the ``n_rounds`` rounds then queries
    ``batch_size`` unlabelled pool samples with ``strategy``, asks ``oracle``
    for their labels and refits on every label so far.  The loop ends early
    when the pool is exhausted or ``callback`` returns True.

    Parameters
    ----------
    estimator : classifier or pipeline with ``predict_proba``
        Cloned, never modified; need not be fitted.
    X_pool : array-like of shape (n_pool, ...)
        The pool, as the estimator takes it: embeddings for a plain
        classifier, or image paths for a pipeline that starts with a
        :class:`~skcatdog.KerasEmbeddingTransformer`.  Each round re-scores
        the unlabelled part with ``predict_proba``; with the transformer's
        disk cache, no round after the first performs a forward pass.
    oracle : callable
        ``oracle(indices) -> labels``: given an int array of pool indices,
        returns a 1-D sequence of as many labels, in the same order.  It may
        look labels up (a simulation), ask a person (see Examples) or call a
        labelling service.
    initial : int or array-like of int, default=10
        Pool indices to label first, or how many to draw at random.  While
        the labels hold a single class no classifier can be fitted, so the
        loop keeps asking for random batches of ``batch_size`` (recorded in
        round 0) until a second class appears; a pool that has one class
        raises ValueError once exhausted.
    n_rounds : int, default=5
        Query rounds after the initial fit.
    batch_size : int, default=10
        Samples queried per round (fewer in the last round if the pool runs
        out).
    strategy : {"entropy", "margin", "least_confidence", "random"}, default="entropy"
        See :func:`query`.
    random_state : int, RandomState instance or None, default=None
        Draws the random initial set and the ``"random"`` queries.
    callback : callable, default=None
        ``callback(record, estimator)`` after each fit, with that round's
        ``history`` entry and the freshly fitted estimator (for evaluating on
        a held-out set, say).  Returning True stops the loop.
    verbose : int, default=0
        ``0`` is silent; ``1`` shows a progress bar over rounds.

    Returns
    -------
    ActiveLearningResult
        ``estimator`` (fitted on all labels), ``indices``, ``labels``,
        ``history``.

    Raises
    ------
    TypeError
        If ``estimator`` has no ``predict_proba``.
    ValueError
        For an unknown strategy, invalid counts or indices, or an oracle
        that returns the wrong number of labels.

    See Also
    --------
    query : One round by hand, e.g. from an asynchronous widget callback.

    Examples
    --------
    A simulation, where the oracle looks the labels up:

    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skcatdog.active import active_learning_loop
    >>> X, y = make_classification(500, random_state=0)
    >>> result = active_learning_loop(LogisticRegression(), X, lambda idx: y[idx],
    ...                               initial=20, n_rounds=3, batch_size=10, random_state=0)
    >>> [r["n_labelled"] for r in result.history]
    [20, 30, 40, 50]

    A person in a notebook, labelling photos one at a time (``input`` works
    in Jupyter):

    >>> from IPython.display import Image, display  # doctest: +SKIP
    >>> def ask(indices):  # doctest: +SKIP
    ...     labels = []
    ...     for i in indices:
    ...         display(Image(filename=paths[i], width=300))
    ...         labels.append(input("cat or dog? "))
    ...     return labels
    >>> result = active_learning_loop(model, paths, ask, batch_size=5)  # doctest: +SKIP

    An ipywidgets form answers through callbacks rather than a blocking call,
    so drive it with :func:`query` instead: show ``query(clf, X, 5,
    exclude=labelled)`` and, in the "submit" button's handler, append the
    answers, refit and show the next query.
    """
    rng = check_random_state(random_state)
    n_pool = _num_samples(X_pool)
    if isinstance(initial, numbers.Integral) and not isinstance(initial, bool):
        n_initial = int(initial)
        if n_initial > n_pool:
            raise ValueError(f"initial={n_initial} is larger than the pool of {n_pool}")
        first = rng.choice(n_pool, size=n_initial, replace=False).astype(np.intp)
    else:
        first = _check_indices(initial, n_pool, "initial")
        if first.size == 0:
            raise ValueError("initial must name at least one pool index")
        if np.unique(first).size != first.size:
            raise ValueError("initial holds repeated indices")

    indices = first
    labels = _ask(oracle, first)
    while np.unique(labels).size < 2:
        rest = np.setdiff1d(np.arange(n_pool), indices)
        if rest.size == 0:
            raise ValueError(
                f"every one of the {n_pool} pool samples is labelled {labels[:1].tolist()[0]!r}; "
                "a classifier needs at least two classes"
            )
        more = rng.choice(rest, size=min(batch_size, rest.size), replace=False).astype(np.intp)
        indices = np.concatenate([indices, more])
        labels = np.concatenate([labels, _ask(oracle, more)])

    def fit():
        return clone(estimator).fit(_safe_indexing(X_pool, indices), labels)

    history = [
        {
            "round": 0,
            "n_labelled": indices.size,
            "queried": indices.copy(),
            "labels": labels.copy(),
            "scores": np.full(indices.size, np.nan),
        }
    ]
    fitted = fit()
    from tqdm.auto import tqdm

    with tqdm(
        total=n_rounds, desc=f"active learning ({strategy})", unit="round", disable=not verbose, leave=False
    ) as bar:
        stop = callback is not None and bool(callback(history[-1], fitted))
        for r in range(1, n_rounds + 1):
            if stop or indices.size >= n_pool:
                break
            new, scores = _query(fitted, X_pool, n_pool, batch_size, strategy, indices, rng)
            answers = _ask(oracle, new)
            indices = np.concatenate([indices, new])
            labels = np.concatenate([labels, answers])
            history.append(
                {"round": r, "n_labelled": indices.size, "queried": new, "labels": answers, "scores": scores}
            )
            fitted = fit()
            bar.update()
            stop = callback is not None and bool(callback(history[-1], fitted))
    return ActiveLearningResult(estimator=fitted, indices=indices, labels=labels, history=history)
