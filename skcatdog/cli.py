"""The ``skcatdog`` command: train, predict, and scan a photo folder for outliers."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from pathlib import Path

from ._kaggle import KAGGLE_TOP10, REFERENCE
from ._moves import MANIFEST

DESCRIPTION = """\
Transfer-learning image classification from the command line: a frozen
ImageNet CNN turns photos into embeddings (cached on disk, so nothing is
computed twice) and a LogisticRegression learns your labels.

A labelled DATA folder has one sub-folder per class (DATA/cat/*.jpg,
DATA/dog/*.jpg) or Kaggle's flat layout (DATA/cat.0.jpg, DATA/dog.0.jpg).
`train` also reads a CSV manifest: path,label[,xmin,ymin,xmax,ymax], with
Open Images style boxes (fractions of width and height) to crop.
"""

EPILOG = """\
commands:
  train     cross-validate and fit a pipeline, save it to a .skops file
  predict   apply a saved pipeline to photos, write a CSV (Kaggle format
            for numbered photos and cat/dog models)
  outliers  list training photos whose top ImageNet classes miss their
            label; optionally move them aside and write an HTML contact sheet
  audit     find copies, leaks, wrong labels, junk and poor photos; write
            a page to review and a decisions file for `train --decisions`
  restore   move photos set aside by `outliers --move-to` back
  info      versions, CPU and GPU, and what "auto" picks here (decoder,
            precision, runtime): for checking a GPU set-up and bug reports

examples:
  skcatdog train photos/ --out model.skops
  skcatdog predict model.skops test/ --out submission.csv
  skcatdog outliers train/ --report outliers.html --move-to rejected/
  skcatdog restore rejected/
  skcatdog info

environment:
  SKCATDOG_CACHE_DIR  where embeddings are cached (default ~/.cache/skcatdog)

exit status:
  0 success, 2 bad input (missing or incompatible model file, empty
  folder, unreadable image), 1 anything else. An output file is written
  whole or not at all.
"""


VIEW_CHOICES = ("crop", "full", "crop_mirror", "mirror")
SUB_EPILOG = "exit status: 0 success, 2 bad input (one line on stderr), 1 anything else."


class UsageError(Exception):
    """Bad input: reported in one line, exit status 2."""


def _batch_size(text):
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer or 'auto', got {text!r}")
    return value


def _backbone_help():
    from .backbones import DEFAULT_BACKBONE

    return f"backbone name(s); several are concatenated (default {DEFAULT_BACKBONE})"


def build_parser():
    """The argument parser (exposed for tests and documentation)."""
    from ._version import __version__
    from .backbones import DEFAULT_BACKBONE
    from .outlier_filter import DEFAULT_TOP_K
    from .recipe import DEFAULT_C, DEFAULT_VIEWS

    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="skcatdog", description=DESCRIPTION, epilog=EPILOG, formatter_class=fmt)
    parser.add_argument("--version", action="version", version=f"skcatdog {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def common(p):
        p.add_argument("--cache", default="auto", help="embedding cache folder, or 'none' (default: auto)")
        p.add_argument(
            "--batch-size",
            type=_batch_size,
            default="auto",
            help="images per forward pass, or auto: 256 on a GPU, 64 elsewhere (default auto)",
        )
        p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")

    t = sub.add_parser(
        "train",
        help="cross-validate and fit a pipeline",
        epilog=SUB_EPILOG,
        formatter_class=fmt,
        description=textwrap.dedent(
            f"""\
            Fit embeddings + LogisticRegression (C tuned by an inner 5-fold search
            on log-loss) to the labelled photos in DATA. With --cv K, first print
            the K-fold cross-validated log-loss and accuracy beside the Kaggle
            top-10% line ({KAGGLE_TOP10}) and a single-Xception reference
            ({REFERENCE}). The defaults (skcatdog.make_default_pipeline: Lite2,
            views crop and full) are the best setting measured on the
            documentation's performance page."""
        ),
    )
    t.add_argument("data", metavar="DATA", help="labelled photo folder, or a CSV of path,label[,xmin,ymin,xmax,ymax]")
    t.add_argument("--backbone", nargs="+", default=[DEFAULT_BACKBONE], metavar="NAME", help=_backbone_help())
    t.add_argument(
        "--views",
        nargs="+",
        choices=VIEW_CHOICES,
        default=list(DEFAULT_VIEWS),
        metavar="VIEW",
        help="how photos are shown to the network, embeddings averaged: crop (ImageNet's central crop), "
        "full (the whole photo squashed), crop_mirror, mirror (default: crop full)",
    )
    t.add_argument("--C", type=float, nargs="+", default=list(DEFAULT_C), help="values of C to search")
    t.add_argument(
        "--standardize",
        action="store_true",
        help="StandardScaler before LogisticRegression (helped some ensembles, never the default)",
    )
    t.add_argument("--clip", type=float, default=0.0, metavar="EPS", help="clip probabilities to [EPS, 1-EPS]")
    t.add_argument(
        "--drop-outliers",
        type=int,
        default=0,
        metavar="K",
        help=f"drop training photos with no class of their label in the top K ImageNet classes "
        f"(0 = keep all; {DEFAULT_TOP_K} finds junk to review, a gentler 50 suits log-loss)",
    )
    t.add_argument(
        "--decisions",
        metavar="CSV",
        help="a decisions file (`skcatdog audit`): drop and relabel photos as it says before training",
    )
    t.add_argument("--cv", type=int, default=5, help="folds for the printed estimate; 0 skips it (default 5)")
    t.add_argument(
        "--out",
        default="model.skops",
        help="where to save the fitted pipeline: a skops file (default model.skops); "
        "a .joblib name writes a pickle, which predict loads only with --allow-pickle",
    )
    common(t)

    p = sub.add_parser(
        "predict",
        help="apply a saved pipeline",
        epilog=SUB_EPILOG,
        formatter_class=fmt,
        description=textwrap.dedent(
            """\
            Predict the photos in IMAGES (files or folders) with a model saved by
            `skcatdog train`. For a cat/dog model and numbered photos (1.jpg, 2.jpg,
            ...) the CSV is Kaggle's submission format: id,label with label =
            P(dog), sorted by id. Otherwise: path,label,proba_<class>..."""
        ),
    )
    p.add_argument(
        "model", metavar="MODEL", help="a .skops (or, with --allow-pickle, .joblib) file written by `skcatdog train`"
    )
    p.add_argument(
        "--trust",
        action="store_true",
        help="load a skops file even if it holds types other than skcatdog's, scikit-learn's, "
        "imbalanced-learn's and numpy's (they are named when refused)",
    )
    p.add_argument(
        "--allow-pickle",
        action="store_true",
        help="load a .joblib (pickle) model file: loading a pickle can run arbitrary code, "
        "so use it only for files you made or trust",
    )
    p.add_argument("images", metavar="IMAGES", nargs="+", help="image files and/or folders of images")
    p.add_argument("--out", default="submission.csv", help="CSV to write (default submission.csv)")
    common(p)

    o = sub.add_parser(
        "outliers",
        help="find photos whose ImageNet classes miss their label",
        epilog=SUB_EPILOG,
        formatter_class=fmt,
        description=textwrap.dedent(
            """\
            Rank every photo's ImageNet classes and flag those whose top K hold no
            class of their label's kind (a 'dog' photo with no dog breed in its
            top K). Flagged photos are listed with their top-5 classes. Nothing is
            ever deleted: --move-to moves them into DEST/<label>/ and records each
            move in DEST/skcatdog-moved.csv, which `skcatdog restore DEST` undoes."""
        ),
    )
    o.add_argument("data", metavar="DIR", help="labelled photo folder (labels cat and dog are built in)")
    o.add_argument("--top-k", type=int, default=DEFAULT_TOP_K, metavar="K", help=f"default {DEFAULT_TOP_K}")
    o.add_argument("--backbone", nargs="+", default=[DEFAULT_BACKBONE], metavar="NAME", help="one or several (vote)")
    o.add_argument("--vote", choices=["all", "any"], default="all", help="with several backbones (default all)")
    o.add_argument("--move-to", metavar="DEST", help="move flagged photos here (undo: skcatdog restore DEST)")
    o.add_argument("--report", metavar="HTML", help="write a self-contained contact sheet of the flagged photos")
    common(o)

    a = sub.add_parser(
        "audit",
        help="find copies, leaks, wrong labels, junk and poor photos",
        epilog=SUB_EPILOG,
        formatter_class=fmt,
        description=textwrap.dedent(
            """\
            Look for every problem in a labelled photo folder (or CSV) at once:
            exact and near copies, photos that also sit in a test set, labels
            that look wrong (with the label they look like), off-topic photos,
            and dark, light, blurry, low-information, tiny, oddly shaped or
            greyscale photos. Prints a summary; --report writes a page to review
            (a tab per issue, keep / drop / relabel choices it exports as a
            decisions file); --decisions writes the proposed decisions directly.
            `skcatdog train --decisions FILE` trains on the photos as decided."""
        ),
    )
    a.add_argument("data", metavar="DATA", help="labelled photo folder, or a CSV of path,label")
    a.add_argument("--test", metavar="DIR", help="a test folder: training photos with a copy in it are leaks")
    a.add_argument("--backbone", default=DEFAULT_BACKBONE, metavar="NAME", help=f"default {DEFAULT_BACKBONE}")
    a.add_argument(
        "--flag-fraction",
        type=float,
        default=0.01,
        metavar="F",
        help="the most each quality check flags, as a fraction of the photos (default 0.01)",
    )
    a.add_argument(
        "--near-distance",
        type=float,
        default=0.2,
        metavar="D",
        help="photos whose embeddings are at most this cosine distance apart, and whose small grey copies "
        "match, are near copies (default 0.2)",
    )
    a.add_argument("--report", metavar="HTML", help="write the page to review")
    a.add_argument("--decisions", metavar="CSV", help="write the proposed keep / drop / relabel decisions")
    common(a)

    r = sub.add_parser(
        "restore",
        help="undo `outliers --move-to`",
        formatter_class=fmt,
        description=textwrap.dedent(
            f"""\
            Move every photo recorded in DEST/{MANIFEST} back to where `skcatdog
            outliers --move-to DEST` found it, then remove the manifest. Nothing is
            moved if any original path exists again or any moved photo is gone.
            A restore that stops partway leaves the manifest listing the photos
            still away: run it again to finish."""
        ),
        epilog=SUB_EPILOG,
    )
    r.add_argument("dest", metavar="DEST", help="the folder given to --move-to")
    r.add_argument("-q", "--quiet", action="store_true")

    i = sub.add_parser(
        "info",
        help="versions, CPU and GPU, and what `auto` picks here",
        formatter_class=fmt,
        description=textwrap.dedent(
            """\
            Print skcatdog's and its dependencies' versions, the CPU (and whether it
            computes in bfloat16) and the GPU the Keras backend sees, and what each
            "auto" picks in this environment: precision, runtime, batch size and the
            decoder (on the GPU with nvImageCodec, or Pillow in threads or
            processes). Builds and downloads nothing."""
        ),
        epilog=SUB_EPILOG,
    )
    i.add_argument("--backbone", default=DEFAULT_BACKBONE, metavar="NAME", help=f"default {DEFAULT_BACKBONE}")
    return parser


def _cache(args):
    return None if args.cache.lower() == "none" else args.cache


def _one_or_list(names):
    return names[0] if len(names) == 1 else list(names)


def _load_labelled(folder, allow_csv=False):
    from .datasets import load_image_csv, load_image_folder

    try:
        if allow_csv and str(folder).lower().endswith(".csv"):
            return load_image_csv(folder)
        return load_image_folder(folder)
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(str(exc)) from exc


def _train_pipeline(args, labels):
    import numpy as np

    from .recipe import make_default_pipeline

    # The inner search runs on the training part of each outer fold: size its folds to the rarest class there.
    smallest = int(np.unique(labels, return_counts=True)[1].min())
    inner = min(5, smallest * (args.cv - 1) // args.cv if args.cv else smallest)
    if inner < 2:
        raise UsageError(f"too few photos: the rarest class has {smallest}, too few to tune C by cross-validation")
    return make_default_pipeline(
        backbone=_one_or_list(args.backbone),
        views=tuple(args.views),
        C=args.C,
        cv=inner,
        standardize=args.standardize,
        clip=args.clip,
        drop_outliers=args.drop_outliers or None,
        cache=_cache(args),
        batch_size=args.batch_size,
    )


def _warm_cache(pipe, paths, quiet):
    """Embed everything once, with progress bars; the CV folds then read the cache.

    An outlier filter with the same backbone reads the same cached rows (they
    hold logits and embeddings), so warming the embedder warms it too.
    """
    from sklearn.base import clone

    from . import KerasEmbeddingTransformer

    for _, est in pipe.steps:
        if isinstance(est, KerasEmbeddingTransformer):
            clone(est).set_params(verbose=int(not quiet)).transform(paths)


def cmd_train(args, out):
    import numpy as np
    from sklearn.model_selection import StratifiedKFold, cross_validate

    from .model_files import save_model

    paths, labels = _load_labelled(args.data, allow_csv=True)
    if args.decisions:
        paths, labels = _apply_decisions(paths, labels, args.decisions, out)
    classes, counts = np.unique(labels, return_counts=True)
    counted = ", ".join(f"{n} {c}" for c, n in zip(classes, counts, strict=True))
    print(f"{len(paths)} photos in {args.data}: {counted}", file=out)
    pipe = _train_pipeline(args, labels)
    _warm_cache(pipe, paths, args.quiet)
    cv_scores = {}
    if args.cv:
        cv = StratifiedKFold(args.cv, shuffle=True, random_state=0)
        res = cross_validate(pipe, paths, labels, cv=cv, scoring=["neg_log_loss", "accuracy"])
        cv_scores = {
            "log_loss": float(-res["test_neg_log_loss"].mean()),
            "accuracy": float(res["test_accuracy"].mean()),
        }
        std = res["test_neg_log_loss"].std()
        print(f"{args.cv}-fold cross-validation:", file=out)
        print(f"  log-loss  {cv_scores['log_loss']:.5f} (± {std:.5f})", file=out)
        print(f"  accuracy  {cv_scores['accuracy']:.4f}", file=out)
        print(f"  targets   {KAGGLE_TOP10} Kaggle top-10% line, {REFERENCE} single-Xception reference", file=out)
    pipe.fit(paths, labels)
    clf = pipe[-1].estimator_ if hasattr(pipe[-1], "estimator_") else pipe[-1]
    save_model(pipe, args.out, classes=[str(c) for c in pipe.classes_], data=os.fspath(args.data), cv=cv_scores)
    print(f"fitted on all {len(paths)} photos (C = {clf.best_params_['C']:g}); saved {args.out}", file=out)


def _apply_decisions(paths, labels, decisions_path, out):
    """The photos and labels as a decisions file says: dropped ones left out, relabelled ones relabelled."""
    import numpy as np

    from .audit.report import read_decisions

    try:
        decisions = read_decisions(decisions_path)
    except (OSError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    keep, new_labels, dropped, relabelled = [], [], 0, 0
    for path, label in zip(paths, labels, strict=True):
        action, new = decisions.get(str(path), ("keep", ""))
        if action == "drop":
            dropped += 1
            continue
        if action == "relabel" and new != label:
            relabelled += 1
            label = new
        keep.append(path)
        new_labels.append(label)
    print(f"decisions from {decisions_path}: {dropped} photos dropped, {relabelled} relabelled", file=out)
    return np.asarray(keep, dtype=object), np.asarray(new_labels)


def cmd_audit(args, out):
    import pandas as pd

    from ._atomic import atomic_write
    from ._html import thumbnail
    from .audit import find_issues
    from .audit.report import default_decisions, render, write_decisions

    paths, labels = _load_labelled(args.data, allow_csv=True)
    test = None
    if args.test:
        test = _collect_images([args.test])
    try:
        issues = find_issues(
            list(paths),
            labels,
            X_test=test,
            backbone=args.backbone,
            cache=_cache(args),
            flag_fraction=args.flag_fraction,
            near_duplicate_distance=args.near_distance,
            verbose=int(not args.quiet),
        )
    except ValueError as exc:  # unreadable photos (ImageLoadError), a label with one photo
        raise UsageError(str(exc)) from exc
    counts = issues.groupby("issue", sort=False)["item"].nunique()
    print(f"{issues['item'].nunique()} of {len(paths)} photos in {args.data} have issues:", file=out)
    with pd.option_context("display.width", 200):
        for issue, n in counts.items():
            print(f"  {issue:16} {n}", file=out)
    if args.report:
        with atomic_write(args.report, encoding="utf-8") as f:
            f.write(render(issues, f"skcatdog audit: {args.data}", thumbnail))
        print(f"wrote the report {args.report}", file=out)
    if args.decisions:
        with atomic_write(args.decisions, newline="", encoding="utf-8") as f:
            write_decisions(f, default_decisions(issues))
        print(f"wrote the proposed decisions {args.decisions}", file=out)


def _collect_images(inputs):
    from ._images import IMAGE_EXTENSIONS
    from .datasets import images_in

    found = []
    for name in inputs:
        path = Path(name)
        if path.is_dir():
            images = images_in(path)
            if not images:
                # Photos one level down (a labelled cat/ dog/ layout) are not taken silently: their
                # names would clash in a Kaggle submission, so the user names the folders.
                subs = sorted(os.fspath(p) for p in path.iterdir() if p.is_dir() and images_in(p))
                if subs:
                    shown = " ".join(subs[:5]) + (" ..." if len(subs) > 5 else "")
                    raise UsageError(
                        f"no images in folder {name!r} itself, but its subfolders hold some: "
                        f"pass them instead (skcatdog predict MODEL {shown})"
                    )
                raise UsageError(f"no images in folder {name!r} (extensions: {', '.join(IMAGE_EXTENSIONS)})")
            found += images
        elif path.is_file():
            found.append(path)
        else:
            raise UsageError(f"{name!r} does not exist")
    return [os.fspath(p) for p in found]


def cmd_predict(args, out):
    from ._atomic import atomic_write
    from ._kaggle import write_predictions
    from .model_files import load_model

    try:
        model = load_model(args.model, trust=args.trust, allow_pickle=args.allow_pickle)["model"]
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    paths = _collect_images(args.images)
    for step in model.steps[:-1]:
        if hasattr(step[1], "verbose") and not args.quiet:
            step[1].set_params(verbose=1)
        if hasattr(step[1], "cache") and args.cache != "auto":
            step[1].set_params(cache=_cache(args))
    proba = model.predict_proba(paths)
    with atomic_write(args.out, newline="") as f:
        write_predictions(f, paths, proba, model.classes_)
    print(f"wrote {len(paths)} predictions to {args.out}", file=out)


def cmd_outliers(args, out):
    import pandas as pd

    from . import ImageNetOutlierFilter
    from ._atomic import atomic_write
    from ._html import contact_sheet
    from ._moves import MoveRefused, move_aside, plan_moves

    paths, labels = _load_labelled(args.data)
    filt = ImageNetOutlierFilter(
        backbone=_one_or_list(args.backbone),
        top_k=args.top_k,
        vote=args.vote,
        cache=_cache(args),
        batch_size=args.batch_size,
        verbose=int(not args.quiet),
    )
    try:
        filt.fit(paths, labels)
    except ValueError as exc:  # a label with no synsets, bad top_k, every photo of a label flagged
        raise UsageError(str(exc)) from exc
    report = filt.report_  # built from compact arrays on each access: build it once
    flagged = report[report["outlier"]]
    print(f"{len(flagged)} of {len(paths)} photos ({len(flagged) / len(paths):.2%}) have no class of their", file=out)
    print(f"label's kind in their top {args.top_k} ImageNet classes:", file=out)
    with pd.option_context("display.max_colwidth", 200, "display.width", 250, "display.max_rows", None):
        if len(flagged):
            print(flagged[["item", "label", "rank", "top5"]].to_string(index=False), file=out)
    try:
        moves = plan_moves(flagged["item"], flagged["label"], args.move_to) if args.move_to else []
    except MoveRefused as exc:
        raise UsageError(str(exc)) from exc
    if args.report:
        note = (
            f"{len(flagged)} of {len(paths)} photos in {args.data} flagged: none of their top {args.top_k} ImageNet "
            f"classes is of their label's kind ({', '.join(args.backbone)}). Worst first."
        )
        with atomic_write(args.report, encoding="utf-8") as f:
            f.write(contact_sheet(flagged, f"skcatdog outliers: {args.data}", note))
        print(f"wrote the contact sheet {args.report}", file=out)
    if moves:
        done = move_aside(moves, args.move_to)
        dest = os.fspath(args.move_to)
        print(f"moved {done} photos to {dest} (undo: skcatdog restore {dest})", file=out)


def cmd_restore(args, out):
    from ._moves import MoveRefused, restore

    try:
        done = restore(args.dest)
    except MoveRefused as exc:
        raise UsageError(str(exc)) from exc
    print(f"restored {done} photos", file=out)


def cmd_info(args, out):
    import contextlib

    from ._show_versions import show_versions

    try:
        with contextlib.redirect_stdout(out):
            show_versions(backbone=args.backbone)
    except ValueError as exc:  # an unknown backbone
        raise UsageError(str(exc)) from exc


COMMANDS = {
    "train": cmd_train,
    "predict": cmd_predict,
    "outliers": cmd_outliers,
    "audit": cmd_audit,
    "restore": cmd_restore,
    "info": cmd_info,
}


def main(argv=None, out=None):
    """Run the command line; returns the exit status."""
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    from ._images import ImageLoadError
    from ._quiet import import_keras_quietly

    try:
        if args.command == "train" and (args.cv == 1 or args.cv < 0):
            raise UsageError(f"--cv must be 0 (skip) or at least 2, got {args.cv}")
        if args.command != "restore":
            import_keras_quietly()
        COMMANDS[args.command](args, out)
    except ImageLoadError as exc:
        problems = "; ".join(f"{name}: {why}" for name, why in exc.problems[:3])
        more = f"; and {len(exc.problems) - 3} more" if len(exc.problems) > 3 else ""
        print(f"skcatdog {args.command}: error: {len(exc.problems)} bad image(s): {problems}{more}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"skcatdog {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"skcatdog {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
