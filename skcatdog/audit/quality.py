"""Poor photos: too dark, too light, blurry, nearly uniform, greyscale, tiny or oddly shaped.

Each check reads one of the :data:`~skcatdog.audit.pixels.MEASURES`, which
the engine computes in the decode that embeds the photo.
"""

from __future__ import annotations

import numpy as np

from .checks import IssueCheck, issue_frame

__all__ = ["QUALITY_CHECKS", "QualityCheck"]

#: Quality checks: ``name -> (measure, direction, default bound, budgeted)``. A photo is flagged
#: when its measure is beyond the bound and, for budgeted checks, among the ``flag_fraction``
#: most extreme photos; a threshold given for a check replaces its bound and its budget.
QUALITY_CHECKS = {
    "dark": ("brightness", "low", 45.0, True),
    "light": ("brightness", "high", 220.0, True),
    "blurry": ("sharpness", "low", 25.0, True),
    "low_information": ("entropy", "low", 4.0, True),
    "grayscale": ("colourfulness", "low", 1.0, False),
    "tiny": ("min_side", "low", 64.0, False),
    "odd_aspect": ("aspect", "high", 3.0, False),
}

_DESCRIBED = {
    "brightness": "mean brightness",
    "sharpness": "the variance of the Laplacian",
    "entropy": "the entropy of the grey levels",
    "colourfulness": "how far the colour channels differ",
    "min_side": "the shorter side in pixels",
    "aspect": "the longer side over the shorter",
}


def measure_values(measures, measure):
    """One measure of every photo: a column of ``measures``, or the shorter side, or the aspect."""
    width, height = measures["width"].to_numpy(), measures["height"].to_numpy()
    short, long_ = np.minimum(width, height), np.maximum(width, height)
    if measure == "min_side":
        return short
    if measure == "aspect":
        return long_ / np.maximum(short, 1)
    return measures[measure].to_numpy()


class QualityCheck(IssueCheck):
    """Photos whose measure is beyond a bound, the most extreme first.

    Parameters
    ----------
    name : str
    measure : str
        A column of the pixel measures, ``"min_side"`` or ``"aspect"``.
    direction : {"low", "high"}
        Which side of ``bound`` is poor.
    bound : float
        Replaced by ``thresholds[name]`` when :func:`~skcatdog.audit.find_issues` is given one.
    budgeted : bool
        Whether at most ``flag_fraction`` of the photos are flagged (unless a threshold is given).
    """

    needs = frozenset({"pixel_measures"})

    def __init__(self, name, measure, direction, bound, budgeted):
        if direction not in ("low", "high"):
            raise ValueError(f"quality check {name!r}: direction must be 'low' or 'high', got {direction!r}")
        self.name, self.measure, self.direction = name, measure, direction
        self.bound, self.budgeted = float(bound), bool(budgeted)

    @property
    def description(self):
        return f"{_DESCRIBED[self.measure]} {'under' if self.direction == 'low' else 'over'} {self.bound:g}"

    def find(self, context):
        bound, budgeted = self.bound, self.budgeted
        thresholds = context.settings["thresholds"]
        if self.name in thresholds:
            bound, budgeted = float(thresholds[self.name]), False
        v = measure_values(context.measures, self.measure)
        beyond = v < bound if self.direction == "low" else v > bound
        rows = np.flatnonzero(beyond & ~np.isnan(v))
        rows = rows[np.argsort(v[rows] if self.direction == "low" else -v[rows], kind="stable")]
        if budgeted:
            rows = rows[: max(1, int(np.floor(context.settings["flag_fraction"] * len(v))))]
        return issue_frame(
            rows,
            np.abs(v[rows] - bound) / max(abs(bound), 1.0),
            detail=[f"{self.measure} {v[i]:.4g}" for i in rows],
        )
