"""``skcatdog train``: cross-validate and fit the default pipeline, save it to a model file."""

from __future__ import annotations

import os

from .._defaults import DEFAULT_C, DEFAULT_TOP_K, DEFAULT_VIEWS
from .._images import VIEWS
from .._kaggle import KAGGLE_TOP10, REFERENCE
from ..backbones import DEFAULT_BACKBONE
from ._common import (
    UsageError,
    add_backbone_option,
    add_decoder_option,
    add_engine_options,
    cache_setting,
    check_report_path,
    load_labelled,
    one_or_list,
)

HELP = "cross-validate and fit a pipeline"

DESCRIPTION = f"""\
Fit embeddings + LogisticRegression (C tuned by an inner 5-fold search
on log-loss) to the labelled photos in DATA. With --cv K, first print
the K-fold cross-validated log-loss and accuracy beside the Kaggle
top-10% line ({KAGGLE_TOP10}) and a single-Xception reference
({REFERENCE}). The defaults (skcatdog.make_default_pipeline: Lite2,
views crop and full) are the best setting measured on the
documentation's performance page."""

#: The embedder's views, the default ones first (the order ``--views``' errors list them in).
VIEW_CHOICES = (*DEFAULT_VIEWS, *(view for view in VIEWS if view not in DEFAULT_VIEWS))


def add_arguments(parser):
    """Add ``train``'s arguments to ``parser``."""
    parser.add_argument(
        "data", metavar="DATA", help="labelled photo folder, or a CSV of path,label[,xmin,ymin,xmax,ymax]"
    )
    add_backbone_option(
        parser, several=True, help=f"backbone name(s); several are concatenated (default {DEFAULT_BACKBONE})"
    )
    parser.add_argument(
        "--views",
        nargs="+",
        choices=VIEW_CHOICES,
        default=list(DEFAULT_VIEWS),
        metavar="VIEW",
        help="how photos are shown to the network, embeddings averaged: crop (ImageNet's central crop), "
        "full (the whole photo squashed), crop_mirror, mirror (default: crop full)",
    )
    parser.add_argument("--C", type=float, nargs="+", default=list(DEFAULT_C), help="values of C to search")
    parser.add_argument(
        "--standardize",
        action="store_true",
        help="StandardScaler before LogisticRegression (helped some ensembles, never the default)",
    )
    parser.add_argument("--clip", type=float, default=0.0, metavar="EPS", help="clip probabilities to [EPS, 1-EPS]")
    parser.add_argument(
        "--drop-outliers",
        type=int,
        default=0,
        metavar="K",
        help=f"drop training photos with no class of their label in the top K ImageNet classes "
        f"(0 = keep all; {DEFAULT_TOP_K} finds junk to review, a gentler 50 suits log-loss)",
    )
    parser.add_argument(
        "--decisions",
        metavar="CSV",
        help="a decisions file (`skcatdog audit`): drop and relabel photos as it says before training",
    )
    parser.add_argument("--cv", type=int, default=5, help="folds for the printed estimate; 0 skips it (default 5)")
    parser.add_argument(
        "--report",
        metavar="HTML",
        help="also write a page of where the model fails, from the same cross-validation: scores per fold, "
        "calibration, confusion, the most confident mistakes with what the audit says of them and "
        "keep / drop / relabel choices to export for --decisions",
    )
    parser.add_argument(
        "--out",
        default="model.skops",
        help="where to save the fitted pipeline: a skops file (default model.skops); "
        "a .joblib name writes a pickle, which predict loads only with --allow-pickle",
    )
    add_engine_options(parser)
    add_decoder_option(parser)


def run(args, out):
    """Print the photos' counts and the cross-validated scores, fit on all photos, save the model."""
    if args.cv == 1 or args.cv < 0:
        raise UsageError(f"--cv must be 0 (skip) or at least 2, got {args.cv}")
    if args.report:
        if args.cv == 0:
            raise UsageError("--report shows the cross-validation: it cannot go with --cv 0")
        check_report_path(args.report)
    import numpy as np

    from ..model_files import save_model

    paths, labels = load_labelled(args.data, allow_csv=True)
    if args.decisions:
        paths, labels = _apply_decisions(paths, labels, args.decisions, out)
    classes, counts = np.unique(labels, return_counts=True)
    counted = ", ".join(f"{n} {c}" for c, n in zip(classes, counts, strict=True))
    print(f"{len(paths)} photos in {args.data}: {counted}", file=out)
    pipe = _pipeline(args, labels)
    _warm_cache(pipe, paths, args.quiet)
    report = None
    if args.report:
        report = _training_report(pipe, paths, labels, args)
        scores, std = {"log_loss": report.log_loss, "accuracy": report.accuracy}, report.fold_scores["log_loss"]
        cv_scores = _print_scores(scores, float(std.std(ddof=0)), args.cv, out)
    else:
        cv_scores = _cross_validate(pipe, paths, labels, args.cv, out) if args.cv else {}
    pipe.fit(paths, labels)
    clf = pipe[-1].estimator_ if hasattr(pipe[-1], "estimator_") else pipe[-1]
    save_model(pipe, args.out, classes=[str(c) for c in pipe.classes_], data=os.fspath(args.data), cv=cv_scores)
    print(f"fitted on all {len(paths)} photos (C = {clf.best_params_['C']:g}); saved {args.out}", file=out)
    if report is not None:
        report.write(args.report)
        print(f"wrote the report {args.report}: {len(report.mistakes)} mistakes, the most confident first", file=out)


def _pipeline(args, labels):
    import numpy as np

    from ..recipe import make_default_pipeline

    # The inner search runs on the training part of each outer fold: size its folds to the rarest class there.
    smallest = int(np.unique(labels, return_counts=True)[1].min())
    inner = min(5, smallest * (args.cv - 1) // args.cv if args.cv else smallest)
    if inner < 2:
        raise UsageError(f"too few photos: the rarest class has {smallest}, too few to tune C by cross-validation")
    return make_default_pipeline(
        backbone=one_or_list(args.backbone),
        views=tuple(args.views),
        C=args.C,
        cv=inner,
        standardize=args.standardize,
        clip=args.clip,
        drop_outliers=args.drop_outliers or None,
        cache=cache_setting(args),
        batch_size=args.batch_size,
        decoder=args.decoder,
    )


def _warm_cache(pipe, paths, quiet):
    """Embed everything once, with progress bars; the CV folds then read the cache.

    An outlier filter with the same backbone reads the same cached rows (they
    hold logits and embeddings), so warming the embedder warms it too.
    """
    from sklearn.base import clone

    from ..embedding import KerasEmbeddingTransformer

    for _, est in pipe.steps:
        if isinstance(est, KerasEmbeddingTransformer):
            clone(est).set_params(verbose=int(not quiet)).transform(paths)


def _cross_validate(pipe, paths, labels, folds, out):
    """Print the ``folds``-fold log-loss and accuracy beside the targets; return them for the model file."""
    from sklearn.model_selection import StratifiedKFold, cross_validate

    cv = StratifiedKFold(folds, shuffle=True, random_state=0)
    res = cross_validate(pipe, paths, labels, cv=cv, scoring=["neg_log_loss", "accuracy"])
    scores = {"log_loss": float(-res["test_neg_log_loss"].mean()), "accuracy": float(res["test_accuracy"].mean())}
    return _print_scores(scores, float(res["test_neg_log_loss"].std()), folds, out)


def _training_report(pipe, paths, labels, args):
    """The report's one cross-validation (on the folds of the printed estimate), the audit's verdicts with it."""
    from .._images import ImageLoadError
    from ..report import training_report

    try:
        return training_report(pipe, paths, labels, cv=args.cv, verbose=int(not args.quiet))
    except ImageLoadError:
        raise  # the command names every unreadable photo
    except ValueError as exc:  # a label with fewer photos than folds
        raise UsageError(str(exc)) from exc


def _print_scores(scores, std, folds, out):
    """Print the cross-validated scores beside the targets; return them for the model file."""
    print(f"{folds}-fold cross-validation:", file=out)
    print(f"  log-loss  {scores['log_loss']:.5f} (± {std:.5f})", file=out)
    print(f"  accuracy  {scores['accuracy']:.4f}", file=out)
    print(f"  targets   {KAGGLE_TOP10} Kaggle top-10% line, {REFERENCE} single-Xception reference", file=out)
    return scores


def _apply_decisions(paths, labels, decisions_path, out):
    """The photos and labels as a decisions file says: dropped ones left out, relabelled ones relabelled."""
    import numpy as np

    from ..audit.report import read_decisions

    try:
        decisions = read_decisions(decisions_path)
    except (OSError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    kept_paths, kept_labels, dropped, relabelled = [], [], 0, 0
    for path, label in zip(paths, labels, strict=True):
        action, new = decisions.get(str(path), ("keep", ""))
        if action == "drop":
            dropped += 1
            continue
        if action == "relabel" and new != label:
            relabelled += 1
            label = new
        kept_paths.append(path)
        kept_labels.append(label)
    print(f"decisions from {decisions_path}: {dropped} photos dropped, {relabelled} relabelled", file=out)
    return np.asarray(kept_paths, dtype=object), np.asarray(kept_labels)
