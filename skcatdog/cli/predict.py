"""``skcatdog predict``: apply a saved pipeline to photos and write a CSV."""

from __future__ import annotations

from ._common import UsageError, add_engine_options, cache_setting, collect_images

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
    add_engine_options(parser)


def run(args, out):
    """Load the model, predict every photo, write the CSV whole or not at all."""
    from .._runtimes.keras import load as load_keras

    load_keras()
    from .._atomic import atomic_write
    from .._kaggle import write_predictions
    from ..model_files import load_model

    try:
        model = load_model(args.model, trust=args.trust, allow_pickle=args.allow_pickle)["model"]
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    paths = collect_images(args.images)
    for _, step in model.steps[:-1]:
        if hasattr(step, "verbose") and not args.quiet:
            step.set_params(verbose=1)
        if hasattr(step, "cache") and args.cache != "auto":
            step.set_params(cache=cache_setting(args))
    proba = model.predict_proba(paths)
    with atomic_write(args.out, newline="") as f:
        write_predictions(f, paths, proba, model.classes_)
    print(f"wrote {len(paths)} predictions to {args.out}", file=out)
