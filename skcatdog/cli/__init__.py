"""The ``skcatdog`` command: train, predict, and scan a photo folder for outliers.

One module per command (:mod:`~skcatdog.cli.train`, ``predict``, ``outliers``,
``audit``, ``restore``, ``info``), each with ``HELP``, ``DESCRIPTION``,
``add_arguments(parser)`` and ``run(args, out)``; what several share is in
``_common``. Building the parser imports no scikit-learn, pandas or Keras
(``skcatdog --help`` answers at once): each ``run`` imports what it uses.
"""

from __future__ import annotations

import argparse
import sys

from . import audit, info, outliers, predict, restore, train
from ._common import SUB_EPILOG, UsageError

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

#: Each command's module, in the order ``--help`` lists them.
COMMANDS = {
    "train": train,
    "predict": predict,
    "outliers": outliers,
    "audit": audit,
    "restore": restore,
    "info": info,
}

__all__ = ["COMMANDS", "UsageError", "build_parser", "main"]


def build_parser():
    """The argument parser (exposed for tests and documentation).

    Returns
    -------
    argparse.ArgumentParser
        ``skcatdog``'s parser, a sub-parser per command.
    """
    from .._version import __version__

    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="skcatdog", description=DESCRIPTION, epilog=EPILOG, formatter_class=fmt)
    parser.add_argument("--version", action="version", version=f"skcatdog {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        command.add_arguments(
            sub.add_parser(
                name, help=command.HELP, description=command.DESCRIPTION, epilog=SUB_EPILOG, formatter_class=fmt
            )
        )
    return parser


def main(argv=None, out=None):
    """Run the command line.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments; ``None`` reads ``sys.argv[1:]``.
    out : file-like, default=None
        Where a command prints its results; ``None`` is ``sys.stdout``.

    Returns
    -------
    int
        The exit status: 0 success, 2 bad input (one line on stderr), 130 interrupted.
    """
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    from .._images import ImageLoadError

    try:
        COMMANDS[args.command].run(args, out)
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
