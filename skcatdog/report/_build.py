"""The numbers behind a report: one cross-validation, the audit's verdicts, the ImageNet classes."""

from __future__ import annotations

import contextlib
import io
import numbers
import time
from datetime import datetime, timezone

import numpy as np

from .. import _engine
from .._html import PhotoTable
from .._images import as_items, describe
from .._validation import HasMethods, Interval, validate_params
from ..audit import QUALITY_CHECKS, find_issues
from ..audit.report import default_decisions
from ..embedding import KerasEmbeddingTransformer
from ._objects import PredictionReport, TrainingReport

__all__ = ["prediction_report", "training_report"]

#: What the audit's issues mean for a photo the model got wrong, most telling first.
VERDICTS = {"label_error": "wrong label", "off_topic": "off-topic", **dict.fromkeys(QUALITY_CHECKS, "poor photo")}
#: Top ImageNet classes shown per photo.
TOP_CLASSES = 5


def _embedder(model):
    """The model's (first) embedding step: the photos' backbone, views and cache come from it."""
    if isinstance(model, KerasEmbeddingTransformer):
        return model
    for value in model.get_params(deep=True).values():
        if isinstance(value, KerasEmbeddingTransformer):
            return value
    raise ValueError(
        f"the model {type(model).__name__} does not take photos: it has no KerasEmbeddingTransformer step "
        "(build it with skcatdog.make_default_pipeline or skcatdog.make_pipeline)"
    )


def _engine_args(embedder):
    from .._engine_params import backbone_names, view_names

    views = view_names(embedder.views)
    return {
        "backbone": backbone_names(embedder.backbone)[0],
        "views": views,
        "cache": embedder.cache,
        "precision": embedder.precision,
        "n_jobs": embedder.n_jobs,
        # find_issues takes its ImageNet logits from this view: the top classes shown come from the same rows
        "logits_view": "full" if "full" in views else views[-1],
        "imagenet": isinstance(embedder.weights, str) and embedder.weights == "imagenet",
    }


def _top_classes(items, args):
    """``"tabby 0.81, tiger cat 0.10, ..."`` per item, from the cached logits (no forward pass on a warm cache)."""
    from ..imagenet import decode_predictions

    if not args["imagenet"] or not items:
        return [""] * len(items)
    (rows,) = _engine.embed_many(
        items,
        args["backbone"],
        views=(args["logits_view"],),
        cache=args["cache"],
        precision=args["precision"],
        n_jobs=args["n_jobs"],
        outputs=("logits",),
    )
    return [", ".join(f"{name} {p:.2f}" for _, name, p in top) for top in decode_predictions(rows.logits, TOP_CLASSES)]


def _verdicts(names, issues):
    """Per name: (verdict, suggested label, detail), the most telling issue first."""
    rank = {v: k for k, v in enumerate(dict.fromkeys(VERDICTS.values()))}
    found = {}
    for row in issues.itertuples(index=False):
        verdict = VERDICTS.get(row.issue)
        if verdict is None:
            continue
        detail = f"{row.issue}: {row.detail}" if verdict == "poor photo" else row.detail
        found.setdefault(row.item, []).append((rank[verdict], verdict, row.suggested_label, detail))
    out = []
    for name in names:
        hits = sorted(found.get(name, []), key=lambda hit: hit[0])
        if not hits:
            out.append(("none", None, ""))
        else:
            suggested = hits[0][2] if hits[0][1] == "wrong label" else None
            out.append((hits[0][1], suggested, "; ".join(hit[3] for hit in hits)))
    return out


def _now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _machine(backbone):
    from .._show_versions import show_versions

    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        show_versions(backbone=backbone)
    return text.getvalue().strip("\n")


def _labels(items, y, cv):
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(items):
        raise ValueError(f"y must be 1-D with one label per photo: {len(items)} photos, y of shape {y.shape}")
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ValueError(f"every photo is labelled {classes[0].item()!r}: a report needs photos of at least two labels")
    if isinstance(cv, numbers.Integral) and counts.min() < cv:  # what StratifiedKFold refuses, said plainly
        raise ValueError(
            f"the label {classes[counts.argmin()].item()!r} has {counts.min()} photos, fewer than the {cv} folds"
        )
    return y, classes


def _cross_validate(model, X, y, classes, cv, n_jobs):
    """Out-of-fold probabilities and each fold's scores, from the one cross-validation."""
    from sklearn.metrics import accuracy_score, log_loss
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    if isinstance(cv, numbers.Integral):
        cv = StratifiedKFold(cv, shuffle=True, random_state=0)  # the folds `skcatdog train` prints its estimate on
    splits = list(cv.split(np.zeros(len(y)), y))
    proba = cross_val_predict(model, X, y, cv=splits, method="predict_proba", n_jobs=n_jobs)
    fold = np.full(len(y), -1)
    scores = []
    for k, (_, test) in enumerate(splits):
        fold[test] = k
        predicted = classes[proba[test].argmax(axis=1)]
        loss = log_loss(y[test], proba[test], labels=classes)
        scores.append((k, len(test), loss, accuracy_score(y[test], predicted)))
    return proba, fold, scores, cv


def _mistakes(names, items, y, classes, proba, fold, issues, args):
    import pandas as pd

    given = np.searchsorted(classes, y)
    own = proba[np.arange(len(y)), given]
    wrong = np.flatnonzero(proba.argmax(axis=1) != given)
    wrong = wrong[np.argsort(own[wrong], kind="stable")]  # the most confident mistakes first
    names_w = [names[i] for i in wrong]
    verdicts = _verdicts(names_w, issues)
    table = pd.DataFrame(
        {
            "item": names_w,
            "given_label": y[wrong],
            "predicted_label": classes[proba[wrong].argmax(axis=1)],
            "proba_given": own[wrong],
            "fold": fold[wrong],
            "top_imagenet": _top_classes([items[i] for i in wrong], args),
            "audit": [v[0] for v in verdicts],
            "suggested_label": [v[1] for v in verdicts],
            "audit_detail": [v[2] for v in verdicts],
        }
    )
    return PhotoTable(table, images=[items[i] for i in wrong])


def _decisions(mistakes, issues):
    """Keep, drop or relabel for each mistake, as the audit page proposes them."""
    proposed = {item: (action, label) for item, action, label in default_decisions(issues)}
    return [(item, *proposed.get(item, ("keep", ""))) for item in mistakes["item"]]


def _audit(items, y, args, label_budget, verbose):
    """find_issues' wrong labels, off-topic and poor photos, from the rows the model's embedder reads."""
    import pandas as pd

    from ..audit import COLUMNS

    if not args["imagenet"]:
        return pd.DataFrame(columns=list(COLUMNS))
    return find_issues(
        items,
        y,
        backbone=args["backbone"],
        views=args["views"],
        cache=args["cache"],
        precision=args["precision"],
        n_jobs=args["n_jobs"],
        checks=[issue for issue in VERDICTS if y is not None or issue in QUALITY_CHECKS],
        label_fraction=label_budget,
        verbose=verbose,
    )


@validate_params(
    {
        "model": [HasMethods(["fit", "predict_proba"])],
        "X": ["array-like"],
        "y": ["array-like"],
        "cv": [Interval(numbers.Integral, 2, None, closed="left"), HasMethods(["split", "get_n_splits"])],
        "max_mistakes": [Interval(numbers.Integral, 0, None, closed="left")],
        "audit": ["boolean"],
        "n_jobs": [numbers.Integral, None],
        "title": [str, None],
        "verbose": ["verbose"],
    },
    prefer_skip_nested_validation=True,
)
def training_report(model, X, y, *, cv=5, max_mistakes=100, audit=True, n_jobs=None, title=None, verbose=0):
    """Cross-validate a photo classifier and show where it fails.

    One cross-validation gives the per-fold scores and every photo's
    out-of-fold probabilities; the photos the model gets wrong are ranked,
    the most confident mistake first, with their top ImageNet classes and
    what :func:`skcatdog.find_issues` says of them (a wrong label, an
    off-topic photo, a poor photo). Both read the rows the model's embedder
    caches: on a warm cache nothing goes through the network again.

    Parameters
    ----------
    model : estimator
        An unfitted classifier of photos with ``predict_proba``, such as
        :func:`skcatdog.make_default_pipeline` builds: it must hold a
        :class:`~skcatdog.KerasEmbeddingTransformer`. It is cloned per fold
        and left unfitted.
    X : sequence of str, path-like or ndarray
        The photos.
    y : array-like of shape (n_samples,)
        Their labels; at least two labels, each with at least ``cv`` photos.
    cv : int or cross-validation splitter, default=5
        An int ``k`` means ``StratifiedKFold(k, shuffle=True,
        random_state=0)``, the folds of ``skcatdog train``'s estimate.
    max_mistakes : int, default=100
        The most mistakes shown on the page and in a notebook, worst first;
        ``TrainingReport.mistakes`` holds them all.
    audit : bool, default=True
        Run :func:`skcatdog.find_issues` for wrong labels, off-topic and poor
        photos. Without it (or with an embedder whose weights are not
        ImageNet's) the ``audit`` column says ``"none"``.
    n_jobs : int, default=None
        Folds fitted in parallel (``cross_val_predict``'s ``n_jobs``).
    title : str, default=None
        The page's title.
    verbose : int, default=0
        ``1`` shows progress bars while the audit embeds photos.

    Returns
    -------
    TrainingReport
        The scores, the out-of-fold probabilities and the mistakes; it
        writes the page with :meth:`TrainingReport.write` and shows itself
        in a notebook.

    Raises
    ------
    ValueError
        If the model takes no photos, ``y`` has one label or a label with
        fewer photos than folds.
    skcatdog.ImageLoadError
        Naming every photo that cannot be read.

    See Also
    --------
    prediction_report : The same for new photos, least confident first.
    skcatdog.find_issues : The audit the report quotes.

    Examples
    --------
    >>> from skcatdog import load_image_folder, make_default_pipeline
    >>> from skcatdog.report import training_report
    >>> paths, labels = load_image_folder("photos/")  # doctest: +SKIP
    >>> report = training_report(make_default_pipeline(), paths, labels)  # doctest: +SKIP
    >>> report.fold_scores  # doctest: +SKIP
    >>> report.mistakes.head()  # doctest: +SKIP
    >>> report.write("report.html")  # doctest: +SKIP
    """
    from sklearn.base import clone

    start = time.perf_counter()
    items = as_items(X)
    y, classes = _labels(items, y, cv)
    embedder = _embedder(model)
    args = _engine_args(embedder)
    names = [describe(item, i) for i, item in enumerate(items)]
    # Before the cross-validation: the audit embeds every photo (naming every unreadable one in a single
    # error) and so fills the rows that the folds then read. Its label budget covers the mistakes shown.
    label_budget = min(1.0, max(0.01, max_mistakes / len(items)))
    audit = audit and args["imagenet"]
    if audit:
        issues = _audit(items, y, args, label_budget, verbose)
    else:
        issues = _audit(items, y, {**args, "imagenet": False}, label_budget, verbose)
        clone(embedder).set_params(verbose=verbose).transform(items)
    audited = time.perf_counter()
    proba, fold, scores, cv = _cross_validate(model, X, y, classes, cv, n_jobs)
    validated = time.perf_counter()
    mistakes = _mistakes(names, items, y, classes, proba, fold, issues, args)
    counts = zip(*np.unique(y, return_counts=True), strict=True)
    settings = {
        "photos": f"{len(items)}: " + ", ".join(f"{n} {c}" for c, n in counts),
        "cross-validation": repr(cv),
        "model": repr(model),
        "audit": (
            f"skcatdog.find_issues on {args['backbone']}'s rows: wrong labels (at most "
            f"{int(np.ceil(label_budget * len(items)))} photos), off-topic and poor photos"
            if audit
            else "none (turned off, or the embedder's weights are not ImageNet's)"
        ),
        "written": _now(),
    }
    machine = _machine(args["backbone"])
    timings = {"audit": audited - start, "cross-validation": validated - audited}
    timings["mistakes and settings"] = time.perf_counter() - validated
    return TrainingReport(
        names=names,
        y_true=y,
        classes=classes,
        y_proba=proba,
        folds=fold,
        fold_scores=scores,
        mistakes=mistakes,
        decisions=_decisions(mistakes, issues),
        issues=issues,
        settings=settings,
        machine=machine,
        timings=timings,
        max_mistakes=max_mistakes,
        title=title or f"Where the model fails: {len(items)} photos",
    )


@validate_params(
    {
        "model": [HasMethods(["predict_proba"])],
        "X": ["array-like"],
        "max_photos": [Interval(numbers.Integral, 0, None, closed="left")],
        "audit": ["boolean"],
        "title": [str, None],
        "verbose": ["verbose"],
    },
    prefer_skip_nested_validation=True,
)
def prediction_report(model, X, *, max_photos=100, audit=True, title=None, verbose=0):
    """Predict new photos and show the ones the model is least sure of first.

    Parameters
    ----------
    model : estimator
        A fitted classifier of photos (holding a
        :class:`~skcatdog.KerasEmbeddingTransformer`), such as
        ``skcatdog.model_files.load_model(path)["model"]``.
    X : sequence of str, path-like or ndarray
        The new photos.
    max_photos : int, default=100
        The most photos shown on the page and in a notebook, least confident
        first; ``PredictionReport.predictions`` holds them all.
    audit : bool, default=True
        Check the photos with :func:`skcatdog.find_issues` (poor photos).
    title : str, default=None
        The page's title.
    verbose : int, default=0
        ``1`` shows progress bars while embedding.

    Returns
    -------
    PredictionReport
        The probabilities (``y_proba``, in input order, columns ``classes``)
        and the table of predictions, least confident first; it writes the
        page with :meth:`PredictionReport.write` and shows itself in a notebook.

    Raises
    ------
    ValueError
        If the model takes no photos or is not fitted.
    skcatdog.ImageLoadError
        Naming every photo that cannot be read.

    See Also
    --------
    training_report : Where a classifier fails in cross-validation.

    Examples
    --------
    >>> from skcatdog.model_files import load_model
    >>> from skcatdog.report import prediction_report
    >>> model = load_model("model.skops")["model"]  # doctest: +SKIP
    >>> report = prediction_report(model, ["new/1.jpg", "new/2.jpg"])  # doctest: +SKIP
    >>> report.write("predictions.html")  # doctest: +SKIP
    """
    import pandas as pd
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    items = as_items(X)
    args = _engine_args(_embedder(model))
    try:
        check_is_fitted(model)
    except NotFittedError:
        raise ValueError(f"the model {type(model).__name__} is not fitted: fit it on labelled photos first") from None
    names = [describe(item, i) for i, item in enumerate(items)]
    proba = model.predict_proba(X)
    classes = np.asarray(model.classes_)
    issues = _audit(items, None, args if audit else {**args, "imagenet": False}, 0.01, verbose)
    verdicts = _verdicts(names, issues)
    confidence = proba.max(axis=1)
    order = np.argsort(confidence, kind="stable")
    table = pd.DataFrame(
        {
            "item": [names[i] for i in order],
            "predicted_label": classes[proba[order].argmax(axis=1)],
            "confidence": confidence[order],
            "top_imagenet": _top_classes([items[i] for i in order], args),
            "audit": [verdicts[i][0] for i in order],
            "audit_detail": [verdicts[i][2] for i in order],
        }
    )
    return PredictionReport(
        names=names,
        classes=classes,
        y_proba=proba,
        predictions=PhotoTable(table, images=[items[i] for i in order]),
        settings={"photos": str(len(items)), "model": repr(model), "written": _now()},
        machine=_machine(args["backbone"]),
        max_photos=max_photos,
        title=title or f"Predictions for {len(items)} photos, least confident first",
    )
