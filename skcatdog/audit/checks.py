"""The audit's checks: one interface, a registry, and the table a check returns.

Each kind of problem :func:`~skcatdog.audit.find_issues` reports is an
:class:`IssueCheck`: a name (the ``issue`` column of the result), what it
needs (embeddings, ImageNet logits, labels, pixel measures, grey prints, a
test set) and a :meth:`~IssueCheck.find` method that reads the audit's
:class:`~skcatdog.audit.AuditContext` and returns the photos it flags.
``find_issues`` builds the context once, computing only what the selected
checks need, and runs them in turn. :func:`register_check` adds a check of
your own, which ``find_issues`` and the page ``skcatdog audit --report``
writes then show beside the built-in ones.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

__all__ = [
    "FIND_COLUMNS",
    "NEEDS",
    "IssueCheck",
    "available_checks",
    "get_check",
    "issue_frame",
    "register_check",
    "unregister_check",
]

#: What a check may need: ``embeddings`` (the mean over the views of each
#: photo's embedding), ``logits`` (its ImageNet logits), ``labels``,
#: ``pixel_measures`` (brightness, sharpness...), ``grey_prints`` (small grey
#: copies that confirm near copies) and ``test_set``. A check that needs
#: ``labels`` or ``test_set`` is skipped when the call has none.
NEEDS = ("embeddings", "logits", "labels", "pixel_measures", "grey_prints", "test_set")

#: The columns :meth:`IssueCheck.find` may return: ``index`` (the photo's
#: position in ``X``) and ``score`` (higher is worse) are required.
FIND_COLUMNS = ("index", "score", "group", "given_label", "suggested_label", "detail")


class IssueCheck(ABC):
    """One kind of problem in an image dataset, found from the audit's context.

    Subclass it, set :attr:`name` and :attr:`needs`, write :meth:`find`, and
    pass an instance to :func:`register_check`.

    Attributes
    ----------
    name : str
        The issue's name: what ``checks=[...]`` selects and what the result's
        ``issue`` column says.
    needs : frozenset of str
        Of :data:`NEEDS`: what :meth:`find` reads from the context.
    optional : frozenset of str
        Of :data:`NEEDS`: what :meth:`find` reads when the audit has it and
        does without otherwise (the near-copy check confirms its pairs with
        grey prints when photos were read, not when embeddings were given).
        The photo audit computes it as it computes :attr:`needs`.
    description : str
        One line on how the issue is found.

    Examples
    --------
    >>> import numpy as np
    >>> from skcatdog.audit import IssueCheck, issue_frame
    >>> class Square(IssueCheck):
    ...     name = "square"
    ...     needs = frozenset({"pixel_measures"})
    ...     description = "a photo as wide as it is high"
    ...
    ...     def find(self, context):
    ...         m = context.measures
    ...         rows = np.flatnonzero(m["width"].to_numpy() == m["height"].to_numpy())
    ...         return issue_frame(rows, np.ones(len(rows)), detail="square")
    >>> Square().name
    'square'
    """

    name: str = ""
    needs: frozenset = frozenset()
    optional: frozenset = frozenset()
    description: str = ""

    @abstractmethod
    def find(self, context):
        """The photos this check flags.

        Parameters
        ----------
        context : AuditContext
            What the audit computed, once, for every check.

        Returns
        -------
        pandas.DataFrame
            One row per flagged photo, with the columns of
            :data:`FIND_COLUMNS` (``index`` and ``score`` required; see
            :func:`issue_frame`).
        """

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"


def issue_frame(index, score, *, group=None, given_label=None, suggested_label=None, detail=""):
    """The table :meth:`IssueCheck.find` returns, from columns (scalars are repeated).

    Parameters
    ----------
    index : array-like of int
        The flagged photos' positions in ``X``.
    score : array-like of float
        Higher is worse.
    group, given_label, suggested_label, detail : scalar or array-like, optional
        See :func:`~skcatdog.audit.find_issues`'s result.

    Returns
    -------
    pandas.DataFrame
        With the columns of :data:`FIND_COLUMNS`.

    Examples
    --------
    >>> from skcatdog.audit import issue_frame
    >>> issue_frame([3, 7], [0.9, 0.4], detail="too dark")
       index  score group given_label suggested_label    detail
    0      3    0.9  None        None            None  too dark
    1      7    0.4  None        None            None  too dark
    """
    import numpy as np
    import pandas as pd

    index = np.asarray(index, dtype=np.int64).ravel()
    columns = {"index": index, "score": np.asarray(score, dtype=np.float64).ravel()}
    for name, value in (
        ("group", group),
        ("given_label", given_label),
        ("suggested_label", suggested_label),
        ("detail", detail),
    ):
        columns[name] = list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value] * len(index)
    return pd.DataFrame(columns, columns=list(FIND_COLUMNS))


_REGISTRY: dict[str, IssueCheck] = {}


def register_check(check, *, replace=False):
    """Add a check to the audit, so that :func:`~skcatdog.audit.find_issues` runs it.

    Parameters
    ----------
    check : IssueCheck
        Its ``name`` becomes an issue ``find_issues`` reports and accepts in
        ``checks=[...]``; its ``needs`` must be of :data:`NEEDS`.
    replace : bool, default=False
        Allow replacing a registered check of the same name.

    Returns
    -------
    check : IssueCheck
        The registered check, so that a module can write
        ``MINE = register_check(Mine())``.

    Raises
    ------
    TypeError
        If ``check`` is not an :class:`IssueCheck`.
    ValueError
        For an empty name, an unknown need, or a name already taken without
        ``replace=True``.

    Examples
    --------
    >>> from skcatdog.audit import available_checks
    >>> "near_duplicate" in available_checks()
    True
    """
    if isinstance(check, type) and issubclass(check, IssueCheck):
        raise TypeError(f"expected an IssueCheck instance, got the class {check.__name__}: register {check.__name__}()")
    if not isinstance(check, IssueCheck):
        raise TypeError(f"expected an IssueCheck instance, got {type(check).__name__}")
    if not isinstance(check.name, str) or not check.name:
        raise ValueError(f"{check!r} has no name: set the class attribute `name` to a non-empty string")
    unknown = (set(check.needs) | set(check.optional)) - set(NEEDS)
    if unknown:
        raise ValueError(f"check {check.name!r} needs {sorted(unknown)}, which the audit does not know; use {NEEDS}")
    if check.name in _REGISTRY and not replace:
        raise ValueError(f"a check named {check.name!r} is already registered (pass replace=True to replace it)")
    _REGISTRY[check.name] = check
    return check


def unregister_check(name):
    """Remove a registered check; the built-in ones included.

    Parameters
    ----------
    name : str
        The check's name.

    Raises
    ------
    ValueError
        If no check has that name.
    """
    if name not in _REGISTRY:
        raise ValueError(f"no check named {name!r} is registered; registered: {available_checks()}")
    del _REGISTRY[name]


def get_check(name):
    """The registered check called ``name``.

    Parameters
    ----------
    name : str
        A name of :func:`available_checks`.

    Returns
    -------
    IssueCheck
        The check.

    Raises
    ------
    ValueError
        If none is; the message lists the registered ones.
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown check {name!r}; choose among {available_checks()}") from None


def available_checks():
    """The names of the registered checks, in the order their issues are reported.

    Returns
    -------
    list of str
        The built-in checks (:data:`~skcatdog.audit.ISSUES`) first, then any
        registered with :func:`register_check`, in registration order.

    Examples
    --------
    >>> from skcatdog.audit import ISSUES, available_checks
    >>> tuple(available_checks()[: len(ISSUES)]) == ISSUES
    True
    """
    return list(_REGISTRY)
