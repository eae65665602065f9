"""``skcatdog info``: versions, CPU and GPU, and what each ``auto`` picks here."""

from __future__ import annotations

from ._common import UsageError, add_backbone_option

HELP = "versions, CPU and GPU, and what `auto` picks here"

DESCRIPTION = """\
Print skcatdog's and its dependencies' versions, the CPU (and whether it
computes in bfloat16) and the GPU the Keras backend sees, and what each
"auto" picks in this environment: precision, runtime, batch size and the
decoder (on the GPU with nvImageCodec, or Pillow in threads or
processes). Builds and downloads nothing."""


def add_arguments(parser):
    """Add ``info``'s arguments to ``parser``."""
    add_backbone_option(parser)


def run(args, out):
    """Print :func:`skcatdog.show_versions` for ``--backbone``."""
    import contextlib

    from .._show_versions import show_versions

    try:
        with contextlib.redirect_stdout(out):
            show_versions(backbone=args.backbone)
    except ValueError as exc:  # an unknown backbone
        raise UsageError(str(exc)) from exc
