"""The report objects: what they hold, the page they write, how a notebook shows them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .._atomic import atomic_write
from .._html import document, fragment
from ..audit.report import write_decisions
from . import _page

__all__ = ["PredictionReport", "TrainingReport", "check_report_path"]


def check_report_path(path):
    """Check that a report can be written at ``path`` before any work is done.

    Parameters
    ----------
    path : str or path-like
        Where the page is to go.

    Returns
    -------
    path : pathlib.Path
        The same path.

    Raises
    ------
    ValueError
        If its folder does not exist or ``path`` is a folder.

    Examples
    --------
    >>> from skcatdog.report import check_report_path
    >>> check_report_path("report.html").name
    'report.html'
    >>> check_report_path("no/such/folder/report.html")
    Traceback (most recent call last):
    ...
    ValueError: cannot write the report 'no/such/folder/report.html': the folder 'no/such/folder' does not exist
    """
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        where = f"the folder {os.fspath(folder)!r} does not exist"
        raise ValueError(f"cannot write the report {os.fspath(path)!r}: {where}")
    if path.is_dir():
        raise ValueError(f"cannot write the report {os.fspath(path)!r}: it is a folder")
    return path


class _Page:
    """What a report does with its page: render it, write it, show it in a notebook (``_body(self)`` makes it)."""

    def to_html(self):
        """Render the report as one self-contained HTML page.

        Returns
        -------
        str
            The page: figures and thumbnails embedded, nothing to fetch.
        """
        return document(self.title, *self._body())

    def write(self, path):
        """Write the page.

        Parameters
        ----------
        path : str or path-like
            The HTML file; its folder must exist.

        Returns
        -------
        pathlib.Path
            Where it was written.
        """
        path = check_report_path(path)
        with atomic_write(path, encoding="utf-8") as f:
            f.write(self.to_html())
        return path

    def _repr_html_(self):
        return fragment(*self._body())


class TrainingReport(_Page):
    """Where a photo classifier fails, from one cross-validation; see :func:`training_report`.

    Parameters
    ----------
    names : list of str
        Each photo's name (its path; ``"X[i] (array)"`` for arrays).
    y_true : ndarray of shape (n_samples,)
        The given labels.
    classes : ndarray of shape (n_classes,)
        The labels in the columns of ``y_proba``.
    y_proba : ndarray of shape (n_samples, n_classes)
        Out-of-fold probabilities.
    folds : ndarray of shape (n_samples,)
        The fold each photo was predicted in.
    fold_scores : list of (int, int, float, float)
        ``(fold, photos, log-loss, accuracy)`` per fold.
    mistakes : PhotoTable
        The photos predicted wrong, worst first.
    decisions : list of (str, str, str)
        ``(item, action, label)`` proposed for each mistake.
    issues : pandas.DataFrame
        What :func:`skcatdog.find_issues` found on all the photos.
    settings : dict of str to str
        How the report was made.
    machine : str
        The machine it ran on, as :func:`skcatdog.show_versions` prints it.
    timings : dict of str to float
        Seconds spent per phase.
    max_mistakes : int
        The most mistakes shown.
    title : str
        The page's title.

    Attributes
    ----------
    fold_scores : pandas.DataFrame
        Columns ``fold``, ``photos``, ``log_loss``, ``accuracy``.
    mistakes : PhotoTable
        Columns ``item``, ``given_label``, ``predicted_label``, ``proba_given``
        (the out-of-fold probability of the given label), ``fold``,
        ``top_imagenet`` (the photo's top ImageNet classes), ``audit`` (``"wrong
        label"``, ``"off-topic"``, ``"poor photo"`` or ``"none"``),
        ``suggested_label`` (for a wrong label) and ``audit_detail``.

    See Also
    --------
    training_report : Build one.

    Examples
    --------
    >>> from skcatdog.report import training_report
    >>> report = training_report(model, paths, labels)  # doctest: +SKIP
    >>> report.log_loss, report.accuracy  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        names,
        y_true,
        classes,
        y_proba,
        folds,
        fold_scores,
        mistakes,
        decisions,
        issues,
        settings,
        machine,
        timings,
        max_mistakes,
        title,
    ):
        self.names = list(names)
        self.y_true = np.asarray(y_true)
        self.classes = np.asarray(classes)
        self.y_proba = np.asarray(y_proba)
        self.folds = np.asarray(folds)
        self.fold_scores = pd.DataFrame(fold_scores, columns=["fold", "photos", "log_loss", "accuracy"])
        self.mistakes = mistakes
        self.decisions = list(decisions)
        self.issues = issues
        self.settings = dict(settings)
        self.machine = machine
        self.timings = dict(timings)
        self.max_mistakes = max_mistakes
        self.title = title

    @property
    def log_loss(self):
        """The mean of the folds' log-loss, as ``cross_validate`` reports it (float)."""
        return float(self.fold_scores["log_loss"].mean())

    @property
    def accuracy(self):
        """The mean of the folds' accuracy (float)."""
        return float(self.fold_scores["accuracy"].mean())

    def write_decisions(self, path):
        """Write the proposed keep / drop / relabel choice for each mistake, for ``skcatdog train --decisions``.

        Parameters
        ----------
        path : str or path-like
            The CSV file (columns ``item``, ``action``, ``label``); its folder must exist.

        Returns
        -------
        pathlib.Path
            Where it was written.
        """
        path = check_report_path(path)
        with atomic_write(path, newline="", encoding="utf-8") as f:
            write_decisions(f, self.decisions)
        return path

    _body = _page.training_body

    def __repr__(self):
        return (
            f"<TrainingReport: {len(self.names)} photos, {len(self.fold_scores)} folds, "
            f"log-loss {self.log_loss:.5f}, accuracy {self.accuracy:.4f}, {len(self.mistakes)} mistakes>"
        )


class PredictionReport(_Page):
    """New photos' predictions, least confident first; see :func:`prediction_report`.

    Parameters
    ----------
    names : list of str
        Each photo's name, in input order.
    classes : ndarray of shape (n_classes,)
        The labels in the columns of ``y_proba``.
    y_proba : ndarray of shape (n_samples, n_classes)
        The model's probabilities, in input order.
    predictions : PhotoTable
        One row per photo, least confident first.
    settings : dict of str to str
        How the report was made.
    machine : str
        The machine it ran on, as :func:`skcatdog.show_versions` prints it.
    max_photos : int
        The most photos shown.
    title : str
        The page's title.

    Attributes
    ----------
    predictions : PhotoTable
        Columns ``item``, ``predicted_label``, ``confidence`` (the highest
        probability), ``top_imagenet``, ``audit`` (``"poor photo"`` or
        ``"none"``) and ``audit_detail``.

    See Also
    --------
    prediction_report : Build one.

    Examples
    --------
    >>> from skcatdog.report import prediction_report
    >>> report = prediction_report(model, ["new/1.jpg"])  # doctest: +SKIP
    >>> report.predictions  # doctest: +SKIP
    """

    def __init__(self, *, names, classes, y_proba, predictions, settings, machine, max_photos, title):
        self.names = list(names)
        self.classes = np.asarray(classes)
        self.y_proba = np.asarray(y_proba)
        self.predictions = predictions
        self.settings = dict(settings)
        self.machine = machine
        self.max_photos = max_photos
        self.title = title

    _body = _page.prediction_body

    def __repr__(self):
        least = self.predictions["confidence"].min() if len(self.predictions) else float("nan")
        return f"<PredictionReport: {len(self.names)} photos, least confidence {least:.3f}>"
