"""``skcatdog outliers``: list training photos whose top ImageNet classes miss their label."""

from __future__ import annotations

import os

from .._defaults import DEFAULT_TOP_K, DEFAULT_VOTE, VOTES
from .._moves import MANIFEST
from ._common import (
    UsageError,
    add_backbone_option,
    add_decoder_option,
    add_engine_options,
    cache_setting,
    load_labelled,
    one_or_list,
)

HELP = "find photos whose ImageNet classes miss their label"

DESCRIPTION = f"""\
Rank every photo's ImageNet classes and flag those whose top K hold no
class of their label's kind (a 'dog' photo with no dog breed in its
top K). Flagged photos are listed with their top-5 classes. Nothing is
ever deleted: --move-to moves them into DEST/<label>/ and records each
move in DEST/{MANIFEST}, which `skcatdog restore DEST` undoes."""


def add_arguments(parser):
    """Add ``outliers``' arguments to ``parser``."""
    parser.add_argument("data", metavar="DIR", help="labelled photo folder (labels cat and dog are built in)")
    parser.add_argument("--top-k", type=int, default=DEFAULT_TOP_K, metavar="K", help=f"default {DEFAULT_TOP_K}")
    add_backbone_option(parser, several=True, help="one or several (vote)")
    parser.add_argument(
        "--vote", choices=sorted(VOTES), default=DEFAULT_VOTE, help=f"with several backbones (default {DEFAULT_VOTE})"
    )
    parser.add_argument("--move-to", metavar="DEST", help="move flagged photos here (undo: skcatdog restore DEST)")
    parser.add_argument("--report", metavar="HTML", help="write a self-contained contact sheet of the flagged photos")
    add_engine_options(parser)
    add_decoder_option(parser)


def run(args, out):
    """Print the flagged photos; write the contact sheet and move the photos aside if asked."""
    from .._moves import MoveRefused, move_aside, plan_moves

    paths, labels = load_labelled(args.data)
    flagged = _flag(args, paths, labels, out)
    try:
        moves = plan_moves(flagged["item"], flagged["label"], args.move_to) if args.move_to else []
    except MoveRefused as exc:
        raise UsageError(str(exc)) from exc
    if args.report:
        _write_contact_sheet(args, flagged, len(paths), out)
    if moves:
        done = move_aside(moves, args.move_to)
        dest = os.fspath(args.move_to)
        print(f"moved {done} photos to {dest} (undo: skcatdog restore {dest})", file=out)


def _flag(args, paths, labels, out):
    """Fit the outlier filter and print the flagged photos; returns their rows of its report."""
    import pandas as pd

    from ..outlier_filter import ImageNetOutlierFilter

    filt = ImageNetOutlierFilter(
        backbone=one_or_list(args.backbone),
        top_k=args.top_k,
        vote=args.vote,
        cache=cache_setting(args),
        batch_size=args.batch_size,
        decoder=args.decoder,
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
    return flagged


def _write_contact_sheet(args, flagged, n_photos, out):
    from .._atomic import atomic_write
    from .._html import contact_sheet

    note = (
        f"{len(flagged)} of {n_photos} photos in {args.data} flagged: none of their top {args.top_k} ImageNet "
        f"classes is of their label's kind ({', '.join(args.backbone)}). Worst first."
    )
    with atomic_write(args.report, encoding="utf-8") as f:
        f.write(contact_sheet(flagged, f"skcatdog outliers: {args.data}", note))
    print(f"wrote the contact sheet {args.report}", file=out)
