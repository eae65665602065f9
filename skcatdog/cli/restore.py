"""``skcatdog restore``: move photos set aside by ``outliers --move-to`` back."""

from __future__ import annotations

from .._moves import MANIFEST
from ._common import UsageError

HELP = "undo `outliers --move-to`"

DESCRIPTION = f"""\
Move every photo recorded in DEST/{MANIFEST} back to where `skcatdog
outliers --move-to DEST` found it, then remove the manifest. Nothing is
moved if any original path exists again or any moved photo is gone.
A restore that stops partway leaves the manifest listing the photos
still away: run it again to finish."""


def add_arguments(parser):
    """Add ``restore``'s arguments to ``parser``."""
    parser.add_argument("dest", metavar="DEST", help="the folder given to --move-to")
    parser.add_argument("-q", "--quiet", action="store_true")


def run(args, out):
    """Move the photos back (no Keras: restoring moves files only)."""
    from .._moves import MoveRefused, restore

    try:
        done = restore(args.dest)
    except MoveRefused as exc:
        raise UsageError(str(exc)) from exc
    print(f"restored {done} photos", file=out)
