"""``skcatdog audit``: find copies, leaks, wrong labels, junk and poor photos in one pass."""

from __future__ import annotations

from ._common import (
    UsageError,
    add_backbone_option,
    add_decoder_option,
    add_engine_options,
    cache_setting,
    collect_images,
    load_labelled,
)

HELP = "find copies, leaks, wrong labels, junk and poor photos"

DESCRIPTION = """\
Look for every problem in a labelled photo folder (or CSV) at once:
exact and near copies, photos that also sit in a test set, labels
that look wrong (with the label they look like), off-topic photos,
and dark, light, blurry, low-information, tiny, oddly shaped or
greyscale photos. Prints a summary; --report writes a page to review
(a tab per issue, keep / drop / relabel choices it exports as a
decisions file); --decisions writes the proposed decisions directly.
`skcatdog train --decisions FILE` trains on the photos as decided."""


def add_arguments(parser):
    """Add ``audit``'s arguments to ``parser``."""
    parser.add_argument("data", metavar="DATA", help="labelled photo folder, or a CSV of path,label")
    parser.add_argument("--test", metavar="DIR", help="a test folder: training photos with a copy in it are leaks")
    add_backbone_option(parser)
    parser.add_argument(
        "--flag-fraction",
        type=float,
        default=0.01,
        metavar="F",
        help="the most each quality check flags, as a fraction of the photos (default 0.01)",
    )
    parser.add_argument(
        "--near-distance",
        type=float,
        default=0.2,
        metavar="D",
        help="photos whose embeddings are at most this cosine distance apart, and whose small grey copies "
        "match, are near copies (default 0.2)",
    )
    parser.add_argument("--report", metavar="HTML", help="write the page to review")
    parser.add_argument("--decisions", metavar="CSV", help="write the proposed keep / drop / relabel decisions")
    add_engine_options(parser)
    add_decoder_option(parser)


def run(args, out):
    """Print how many photos have each issue; write the page to review and the decisions if asked."""
    import pandas as pd

    from .._atomic import atomic_write
    from .._html import thumbnail
    from ..audit import find_issues
    from ..audit.report import default_decisions, render, write_decisions

    paths, labels = load_labelled(args.data, allow_csv=True)
    test = collect_images([args.test]) if args.test else None
    try:
        issues = find_issues(
            list(paths),
            labels,
            X_test=test,
            backbone=args.backbone,
            cache=cache_setting(args),
            decoder=args.decoder,
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
