"""The move log behind ``skcatdog outliers --move-to`` and ``skcatdog restore``.

Every move is recorded in ``DEST/skcatdog-moved.csv`` (``original,moved_to``,
absolute paths), rewritten atomically, so that a run that stops partway, in
either direction, leaves a manifest that says exactly which photos are still
away, and rerunning ``restore`` finishes the job.
"""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

from ._atomic import atomic_write

MANIFEST = "skcatdog-moved.csv"


class MoveRefused(ValueError):
    """Nothing was moved: the reason names the first offending path."""


def _write_manifest(manifest, rows):
    with atomic_write(manifest, newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["original", "moved_to"])
        writer.writerows(rows)


def _read_manifest(manifest):
    with open(manifest, newline="", encoding="utf-8") as f:
        return [(r["original"], r["moved_to"]) for r in csv.DictReader(f)]


def plan_moves(items, labels, dest):
    """``(from, to)`` per item, into ``dest/<label>/``; refused before anything is written if a target exists."""
    dest = Path(dest)
    moves = [(Path(item), dest / str(label) / Path(item).name) for item, label in zip(items, labels, strict=True)]
    clash = [os.fspath(new) for _, new in moves if new.exists()]
    if clash:
        raise MoveRefused(f"{len(clash)} file(s) already in {os.fspath(dest)}, e.g. {clash[0]!r}: nothing was moved")
    return moves


def move_aside(moves, dest):
    """Carry out ``moves`` (from :func:`plan_moves`), appending each to the manifest; returns how many moved."""
    manifest = Path(dest) / MANIFEST
    rows = _read_manifest(manifest) if manifest.exists() else []
    done = 0
    try:
        for old, new in moves:
            new.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(os.fspath(old), os.fspath(new))
            rows.append((os.path.abspath(old), os.path.abspath(new)))
            done += 1
    finally:
        # Record every move that happened, even if a later one failed, so restore can undo it.
        _write_manifest(manifest, rows)
    return done


def restore(dest):
    """Move every photo recorded in ``dest``'s manifest back; returns how many moved.

    A row whose original is back and whose moved copy is gone was restored by
    an earlier run that was stopped before it could rewrite the manifest: it
    counts as done. Anything else that does not match the manifest (an
    original back while its moved copy is still there, or both gone) refuses
    before moving anything.
    """
    manifest = Path(dest) / MANIFEST
    if not manifest.is_file():
        raise MoveRefused(f"no {MANIFEST} in {os.fspath(dest)!r}: nothing to restore")
    rows = _read_manifest(manifest)
    state = [(Path(orig).exists(), Path(moved).exists()) for orig, moved in rows]
    clash = [orig for (orig, _), (o, m) in zip(rows, state, strict=True) if o and m]
    if clash:
        raise MoveRefused(f"{len(clash)} original path(s) exist again, e.g. {clash[0]!r}: nothing was restored")
    missing = [moved for (_, moved), (o, m) in zip(rows, state, strict=True) if not o and not m]
    if missing:
        raise MoveRefused(f"{len(missing)} moved photo(s) are gone, e.g. {missing[0]!r}: nothing was restored")
    pending = [row for row, (_, m) in zip(rows, state, strict=True) if m]
    done = 0
    try:
        for orig, moved in pending:
            Path(orig).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(moved, orig)
            done += 1
    finally:
        left = pending[done:]
        if left:
            _write_manifest(manifest, left)
        else:
            manifest.unlink()
    return done
