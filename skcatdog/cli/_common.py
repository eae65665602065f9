"""What several commands share: the engine options, the backbone option, reading photos, bad input.

Only light modules are imported here: building the parser (for ``--help`` too)
must not load scikit-learn, pandas or Keras. What a command computes with is
imported inside its ``run``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .._defaults import DECODERS
from ..backbones import DEFAULT_BACKBONE

SUB_EPILOG = "exit status: 0 success, 2 bad input (one line on stderr), 1 anything else."


class UsageError(Exception):
    """Bad input: reported in one line, exit status 2."""


def check_report_path(path):
    """Refuse a report that could not be written (its folder missing, or a folder), before any work."""
    from ..report import check_report_path as check

    try:
        check(path)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def batch_size(text):
    """``--batch-size``: a positive integer or ``"auto"``."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer or 'auto', got {text!r}")
    return value


def add_engine_options(parser):
    """``--cache``, ``--batch-size`` and ``--quiet``: how a command that embeds photos computes."""
    parser.add_argument("--cache", default="auto", help="embedding cache folder, or 'none' (default: auto)")
    parser.add_argument(
        "--batch-size",
        type=batch_size,
        default="auto",
        help="images per forward pass, or auto: 256 on a GPU, 64 elsewhere (default auto)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def add_decoder_option(parser):
    """``--decoder``: what decodes the photos (it decides their rows, so a fitted model keeps its own)."""
    parser.add_argument(
        "--decoder",
        choices=DECODERS,
        default="auto",
        help="what decodes photos: pillow (CPU), gpu (nvImageCodec), or auto: the GPU where the model runs on one "
        "and GPU decoding is installed, else Pillow (default auto)",
    )


def add_backbone_option(parser, *, several=False, help=None):
    """``--backbone NAME`` (``several``: one or more, as a list), defaulting to skcatdog's default backbone."""
    if several:
        parser.add_argument("--backbone", nargs="+", default=[DEFAULT_BACKBONE], metavar="NAME", help=help)
    else:
        parser.add_argument(
            "--backbone", default=DEFAULT_BACKBONE, metavar="NAME", help=help or f"default {DEFAULT_BACKBONE}"
        )


def cache_setting(args):
    """The estimators' ``cache`` parameter for ``--cache`` (``none`` turns the cache off)."""
    return None if args.cache.lower() == "none" else args.cache


def one_or_list(names):
    """The estimators' ``backbone`` parameter for ``--backbone NAME [NAME ...]``."""
    return names[0] if len(names) == 1 else list(names)


def load_labelled(folder, allow_csv=False):
    """Paths and labels of a labelled folder (or, with ``allow_csv``, a CSV manifest)."""
    from ..datasets import load_image_csv, load_image_folder

    try:
        if allow_csv and str(folder).lower().endswith(".csv"):
            return load_image_csv(folder)
        return load_image_folder(folder)
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(str(exc)) from exc


def collect_images(inputs):
    """The image paths that files and folders name, in order; a folder must hold images itself."""
    from .._images import IMAGE_EXTENSIONS
    from ..datasets import images_in

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
