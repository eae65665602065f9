"""``skcatdog predict``: apply a saved pipeline to photos and write a CSV."""

from __future__ import annotations

from ._common import UsageError, add_engine_options, cache_setting, check_report_path, collect_images

HELP = "apply a saved pipeline"

DESCRIPTION = """\
Predict the photos in IMAGES (files or folders) with a model saved by
`skcatdog train`. For a cat/dog model and numbered photos (1.jpg, 2.jpg,
...) the CSV is Kaggle's submission format: id,label with label =
P(dog), sorted by id. Otherwise: path,label,proba_<class>..."""


def add_arguments(parser):
    """Add ``predict``'s arguments to ``parser``."""
    parser.add_argument(
        "model", metavar="MODEL", help="a .skops (or, with --allow-pickle, .joblib) file written by `skcatdog train`"
    )
    parser.add_argument(
        "--trust",
        action="store_true",
        help="load a skops file even if it holds types other than skcatdog's, scikit-learn's, "
        "imbalanced-learn's and numpy's (they are named when refused)",
    )
    parser.add_argument(
        "--allow-pickle",
        action="store_true",
        help="load a .joblib (pickle) model file: loading a pickle can run arbitrary code, "
        "so use it only for files you made or trust",
    )
    parser.add_argument("images", metavar="IMAGES", nargs="+", help="image files and/or folders of images")
    parser.add_argument("--out", default="submission.csv", help="CSV to write (default submission.csv)")
    parser.add_argument(
        "--report",
        metavar="HTML",
        help="also write a page of the predictions, the least confident first, with each photo's "
        "top ImageNet classes and whether it is a poor photo",
    )
    add_engine_options(parser)


def run(args, out):
    """Load the model, predict every photo, write the CSV whole or not at all (and the report page)."""
    if args.report:
        check_report_path(args.report)
    from .._atomic import atomic_write
    from .._kaggle import write_predictions
    from ..model_files import load_model

    try:
        model = load_model(args.model, trust=args.trust, allow_pickle=args.allow_pickle)["model"]
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    _check_takes_photos(model, args.model)
    paths = collect_images(args.images)
    for _, step in model.steps[:-1]:
        if hasattr(step, "verbose") and not args.quiet:
            step.set_params(verbose=1)
        if hasattr(step, "cache") and args.cache != "auto":
            step.set_params(cache=cache_setting(args))
    report = None
    if args.report:
        report = _prediction_report(model, paths, args)
        proba, classes = report.y_proba, report.classes  # the report's probabilities: nothing predicted twice
    else:
        proba, classes = model.predict_proba(paths), model.classes_
    with atomic_write(args.out, newline="") as f:
        write_predictions(f, paths, proba, classes)
    print(f"wrote {len(paths)} predictions to {args.out}", file=out)
    if report is not None:
        report.write(args.report)
        print(f"wrote the report {args.report}: the least confident predictions first", file=out)


def _check_takes_photos(model, path):
    """Refuse a model file whose model was not fitted on photos (no embedding step, or not fitted)."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    from ..embedding import KerasEmbeddingTransformer

    steps = [step for _, step in getattr(model, "steps", [])]
    if not any(isinstance(step, KerasEmbeddingTransformer) for step in steps):
        raise UsageError(
            f"{path} holds a {type(model).__name__}, not a model of photos (no embedding step): "
            "save one with `skcatdog train`"
        )
    try:
        check_is_fitted(model)
    except NotFittedError:
        raise UsageError(
            f"{path} holds a {type(model).__name__} that is not fitted: save one with `skcatdog train`"
        ) from None


def _prediction_report(model, paths, args):
    from .._images import ImageLoadError
    from ..report import prediction_report

    try:
        return prediction_report(model, paths, verbose=int(not args.quiet))
    except ImageLoadError:
        raise  # the command names every unreadable photo
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
