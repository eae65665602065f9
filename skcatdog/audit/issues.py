"""Every problem of an image dataset in one call: copies, leaks, wrong labels, junk, poor photos.

:func:`find_issues` builds the audit's context once, computing only what the
selected checks need, and runs each registered :class:`~skcatdog.audit.IssueCheck`.
"""

from __future__ import annotations

import numbers
import os

import numpy as np

from .. import _engine
from .._html import PhotoTable
from .._images import as_items, describe
from .._store import is_url
from .._validation import Interval, StrOptions, validate_params
from ..backbones import DEFAULT_BACKBONE
from .checks import FIND_COLUMNS, NEEDS, available_checks, get_check, register_check
from .context import build_context
from .duplicates import NEAR_DISTANCE, UNCONFIRMED_NEAR_DISTANCE, ExactDuplicates, Leaks, NearDuplicates
from .given import as_names, given_context
from .labels import LabelErrors
from .off_topic import OffTopic
from .quality import QUALITY_CHECKS, QualityCheck

__all__ = ["COLUMNS", "ISSUES", "QUALITY_CHECKS", "find_issues"]

#: The columns of :func:`find_issues`'s result.
COLUMNS = ("item", "issue", "score", "group", "given_label", "suggested_label", "detail")

for _check in (ExactDuplicates(), NearDuplicates(), Leaks(), LabelErrors(), OffTopic()):
    register_check(_check)
for _name, (_measure, _direction, _bound, _budgeted) in QUALITY_CHECKS.items():
    register_check(QualityCheck(_name, _measure, _direction, _bound, _budgeted))

#: The built-in issues, in the order :func:`find_issues` reports them (checks registered
#: with :func:`~skcatdog.audit.register_check` come after).
ISSUES = tuple(available_checks())


def _selected(checks):
    """The registered checks ``checks`` names, in reporting order."""
    if checks == "all":
        return [get_check(name) for name in available_checks()]
    wanted = set(checks)
    unknown = wanted - set(available_checks())
    if unknown:
        raise ValueError(f"unknown checks {sorted(unknown)}; choose among {available_checks()}")
    return [get_check(name) for name in available_checks() if name in wanted]


#: Why a check that needs something the audit lacks is skipped.
_LACKING = {
    "labels": "no labels (y) given",
    "test_set": "no test set (X_test) given",
    "pixel_measures": "it reads the photos' pixels, and embeddings were given instead of photos",
    "grey_prints": "it reads the photos' pixels, and embeddings were given instead of photos",
    "logits": "it reads ImageNet logits, and embeddings were given without logits",
}


def _plan(selected, available, explicit):
    """The checks that can run, and ``{check: why not}`` for the others.

    A check named in ``checks=[...]`` that lacks pixels or logits is an error: nothing can
    stand in for them. One lacking labels or a test set, or selected by ``"all"``, is skipped.
    """
    run, skipped = [], {}
    for check in selected:
        missing = [need for need in NEEDS if need in check.needs and need not in available]
        if not missing:
            run.append(check)
            continue
        skipped[check.name] = _LACKING[missing[0]]
        if explicit and {"pixel_measures", "grey_prints", "logits"} & set(missing):
            raise ValueError(f"check {check.name!r} cannot run: {skipped[check.name]}")
    return run, skipped


def _labels(y, n):
    if y is None:
        return None
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"y must be 1-D with one label per photo: {n} photos, y of shape {y.shape}")
    return y


def _as_rows(check, found, names):
    """A check's table as rows of the result, checked: a clear error names the check at fault."""
    import pandas as pd

    if not isinstance(found, pd.DataFrame):
        raise TypeError(f"check {check.name!r} returned {type(found).__name__}; find() must return a DataFrame")
    extra = set(found.columns) - set(FIND_COLUMNS)
    if extra or not {"index", "score"} <= set(found.columns):
        raise ValueError(
            f"check {check.name!r} returned the columns {list(found.columns)}: "
            f"'index' and 'score' are required, and only {list(FIND_COLUMNS)} are allowed"
        )
    index = found["index"].to_numpy()
    if len(index) and (not np.issubdtype(index.dtype, np.integer) or index.min() < 0 or index.max() >= len(names)):
        raise ValueError(f"check {check.name!r} returned an index that is not a position in X (0 to {len(names) - 1})")
    frame = found.reindex(columns=list(FIND_COLUMNS))
    frame.insert(0, "item", [names[i] for i in index])
    frame.insert(1, "issue", check.name)
    frame["score"] = frame["score"].astype(float)
    return frame.drop(columns="index")


@validate_params(
    {
        "X": ["array-like"],
        "y": ["array-like", None],
        "X_test": ["array-like", None],
        "embeddings": ["array-like", None],
        "logits": ["array-like", None],
        "test_embeddings": ["array-like", None],
        "backbone": [str],
        "views": [tuple, list],
        "cache": [str, os.PathLike, None],
        "flag_fraction": [Interval(numbers.Real, 0, 1, closed="right")],
        "near_duplicate_distance": [Interval(numbers.Real, 0, 1, closed="left"), StrOptions({"auto"})],
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
        "client": "no_validation",
    },
    prefer_skip_nested_validation=True,
)
def find_issues(
    X,
    y=None,
    *,
    X_test=None,
    embeddings=None,
    logits=None,
    test_embeddings=None,
    backbone=DEFAULT_BACKBONE,
    views=("crop", "full"),
    cache="auto",
    flag_fraction=0.01,
    near_duplicate_distance="auto",
    label_fraction=0.02,
    top_k=16,
    class_synsets=None,
    thresholds=None,
    checks="all",
    n_jobs=-1,
    precision="auto",
    decoder="auto",
    verbose=0,
    random_state=0,
    client=None,
):
    """Find copies, leaks, wrong labels, junk and poor photos in an image dataset.

    Each check is an :class:`~skcatdog.audit.IssueCheck` in a registry (see
    :func:`~skcatdog.audit.register_check`). Everything comes from one pass
    over the photos: each photo is decoded once, for its embedding and the
    pixel measures together, and all of it is cached, so a second call on the
    same photos performs no forward pass and reads no photo's pixels.

    With ``embeddings`` given, no photo is read and no model is loaded: ``X``
    only names the rows, and every check that needs no pixels runs on them.

    Parameters
    ----------
    X : sequence of str, path-like or ndarray
        The photos (paths, or ``HxWx3`` uint8 arrays); with ``embeddings``,
        the rows' names (paths, ids: one per row, as the result names them).
    y : array-like, optional
        Their labels. Without labels, no label or off-topic check runs.
    X_test : sequence, optional
        A test set: training photos with an exact or near copy in it are leaks.
        With ``embeddings``, the names of ``test_embeddings``' rows.
    embeddings : array of shape (n, d), optional
        Embeddings the caller already has (float32 or float64, an
        ``np.memmap`` included; used in place, never copied whole), one row
        per item of ``X``. Then exact copies are identical rows, near copies
        are not confirmed by grey prints (there are no pixels), and the checks
        that read pixels are skipped (see Returns).
    logits : array of shape (n, 1000), optional
        ImageNet logits of the same rows, with ``embeddings``: the off-topic
        check needs them, and the label check uses them to tell wrong labels
        from junk.
    test_embeddings : array of shape (m, d), optional
        The embeddings of ``X_test``'s rows, with ``embeddings``.
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
    near_duplicate_distance : float or "auto", default="auto"
        Two photos whose embeddings are at most this cosine distance apart
        are candidate near copies; a candidate counts when small grey copies
        of the two photos correlate at 0.9 or more (over a few central crops:
        cropped copies count), so different photos of look-alike subjects do not.
        ``"auto"`` is 0.2 (:data:`~skcatdog.audit.duplicates.NEAR_DISTANCE`)
        for photos and 0.08
        (:data:`~skcatdog.audit.duplicates.UNCONFIRMED_NEAR_DISTANCE`) with
        ``embeddings``, where no grey copy confirms a candidate.
    label_fraction : float, default=0.02
        The most photos reported as wrong labels, as a fraction of all. Within
        it, as many as confident learning estimates there are, the least
        self-confident first.
    top_k : int, default=16
        A photo is off-topic when none of its ``top_k`` best ImageNet classes
        is of its label's kind (as :class:`~skcatdog.ImageNetOutlierFilter`
        decides) and it is not a wrong label. A label-error candidate that is
        unlike the rest of the set is a wrong label only if a class of the
        suggested label's kind is there; otherwise it is left to this check.
    class_synsets : dict, optional
        Labels to WordNet synsets, as :class:`~skcatdog.ImageNetOutlierFilter` takes them.
    thresholds : dict, optional
        ``{check: bound}`` for quality checks (see :data:`QUALITY_CHECKS`): a
        bound given replaces the default one and the budget.
    checks : "all" or collection of str, default="all"
        The issues to look for: of :data:`ISSUES`, and any check added with
        :func:`~skcatdog.audit.register_check`. Only what the selected checks
        need is computed (pixel measures, for one, only for the quality and
        near-copy checks).
    n_jobs : int, default=-1
        Threads that read and decode photos.
    precision : {"auto", "float32", "mixed", "bfloat16"}, default="auto"
        The forward pass's precision (see :class:`~skcatdog.KerasEmbeddingTransformer`).
    decoder : {"auto", "pillow", "gpu"}, default="auto"
        What decodes the photos (see :class:`~skcatdog.KerasEmbeddingTransformer`).
    verbose : int, default=0
        ``1`` shows progress bars: while embedding (on a cluster, of the
        workers' tasks), searching for near copies and fitting the label
        check's out-of-fold models.
    random_state : int, RandomState instance or None, default=0
        The cross-validation folds of the label check.
    client : distributed.Client, optional
        A Dask cluster that computes the embeddings, logits and pixel measures
        on its workers, in one decode per photo, into ``cache``, which must
        then be a shared store's URL (``"file:///shared/dir"``,
        ``"s3://bucket/prefix"``); the checks then run here on what the store
        holds (see :func:`skcatdog.distributed.precompute_audit`). The result
        is the one without a cluster.

    Returns
    -------
    skcatdog.report.PhotoTable
        A :class:`pandas.DataFrame` that a notebook shows with each photo's
        thumbnail; one row per (photo, issue), with columns :data:`COLUMNS`: ``score``
        (higher is worse), ``group`` (the set of copies a duplicate or leak
        belongs to), ``given_label`` and ``suggested_label`` (label errors),
        and ``detail`` (which photo to keep in a set of copies, the measure
        that flagged a poor photo...). Its ``attrs["skipped"]`` is
        ``{check: reason}`` for each selected check that did not run: without
        labels, without a test set, or, with ``embeddings``, needing pixels
        (or logits not given).

    Raises
    ------
    skcatdog.ImageLoadError
        Naming every unreadable photo.
    ValueError
        For embeddings or logits that are not 2-D, hold NaN or infinite values
        (the first such row named), have more or fewer rows than ``X`` names,
        or the wrong width; ``test_embeddings`` without ``X_test`` or the
        reverse; ``logits`` or ``test_embeddings`` without ``embeddings``; a
        check named in ``checks`` that needs pixels or logits the call lacks.
    TypeError
        For embeddings or logits that do not hold floats.

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

    Embeddings already computed, named by any ids:

    >>> rows = rng.standard_normal((4, 8)).astype(np.float32)
    >>> rows[3] = rows[1]
    >>> issues = find_issues(["a", "b", "c", "d"], embeddings=rows)
    >>> issues[["item", "issue", "detail"]]
      item            issue               detail
    0    b  exact_duplicate                 keep
    1    d  exact_duplicate  the same bytes as b
    >>> issues.attrs["skipped"]["blurry"]
    "it reads the photos' pixels, and embeddings were given instead of photos"
    """
    selected = _selected(checks)
    settings = {
        "flag_fraction": flag_fraction,
        "near_duplicate_distance": _near_distance(near_duplicate_distance, embeddings is not None),
        "label_fraction": label_fraction,
        "top_k": top_k,
        "class_synsets": class_synsets,
        "thresholds": dict(thresholds or {}),
        "random_state": random_state,
        "verbose": verbose,
    }
    explicit = checks != "all"
    if embeddings is not None:
        names = as_names(X)
        y = _labels(y, len(names))
        test_names = None if X_test is None else as_names(X_test, "X_test")
        given = {"labels": y is not None, "test_set": X_test is not None, "logits": logits is not None}
        run, skipped = _plan(selected, {"embeddings"} | {need for need, has in given.items() if has}, explicit)
        context = given_context(
            names,
            y,
            embeddings,
            logits=logits,
            test_names=test_names,
            test_embeddings=test_embeddings,
            settings=settings,
        )
        return _table([_as_rows(check, check.find(context), names) for check in run], skipped, None)
    if logits is not None or test_embeddings is not None:
        raise ValueError(
            f"{'logits' if logits is not None else 'test_embeddings'} given without embeddings: "
            "pass the photos' embeddings too, or leave both out to compute them from the photos"
        )
    if client is not None and not (isinstance(cache, str) and is_url(cache)):
        raise ValueError(
            "find_issues(client=...) computes on the Dask workers, which must all reach the cache: give cache a "
            f"shared store's fsspec URL such as 'file:///shared/dir' or 's3://bucket/prefix', not {cache!r}"
        )
    items = as_items(X)
    y = _labels(y, len(items))
    test_items = as_items(X_test) if X_test is not None else None
    lacking = {need for need, has in (("labels", y is not None), ("test_set", test_items is not None)) if not has}
    run, skipped = _plan(selected, set(NEEDS) - lacking, explicit)
    needs = frozenset().union(*(c.needs | c.optional for c in run))
    options = {
        "backbone": backbone,
        "views": tuple(views),
        "cache": cache,
        "n_jobs": n_jobs,
        "verbose": verbose,
        "precision": precision,
        "decoder": decoder,
        "client": client,
    }
    context = build_context(items, y, test_items, needs, options, settings)
    return _table([_as_rows(check, check.find(context), context.names) for check in run], skipped, items)


def _near_distance(asked, given):
    """The near-copy distance in force: ``"auto"`` is tighter where no grey copy confirms a pair."""
    if asked != "auto":
        return asked
    return UNCONFIRMED_NEAR_DISTANCE if given else NEAR_DISTANCE


def _table(frames, skipped, items):
    """The result: the checks' rows in reporting order, the skipped checks in ``attrs["skipped"]``."""
    import pandas as pd

    frames = [f for f in frames if len(f)]
    if not frames:
        table = PhotoTable({c: pd.Series(dtype=float if c == "score" else object) for c in COLUMNS})
    else:
        order = {issue: k for k, issue in enumerate(available_checks())}
        frame = pd.concat(frames, ignore_index=True)
        frame = frame.sort_values(["issue", "score"], key=lambda s: s.map(order) if s.name == "issue" else -s)
        frame = frame.reset_index(drop=True)
        # Arrays are named "X[i] (array)": the table keeps each row's photo so that a notebook can show it.
        photos = None if items is None else {describe(item, i): item for i, item in enumerate(items)}
        table = PhotoTable(frame, images=None if photos is None else [photos[name] for name in frame["item"]])
    table.attrs["skipped"] = dict(skipped)
    return table
