"""Finding problems in an image dataset: copies, leaks, wrong labels, junk, poor photos.

:func:`find_issues` returns them as one table; ``skcatdog audit`` writes
them as a page to review and a decisions file that ``skcatdog train`` honours.
Each kind of problem is an :class:`IssueCheck` in a registry:
:func:`register_check` adds one of your own.
"""

from .checks import (
    FIND_COLUMNS,
    NEEDS,
    IssueCheck,
    available_checks,
    get_check,
    issue_frame,
    register_check,
    unregister_check,
)
from .context import AuditContext, PhotoSet
from .issues import COLUMNS, ISSUES, QUALITY_CHECKS, find_issues

__all__ = [
    "COLUMNS",
    "FIND_COLUMNS",
    "ISSUES",
    "NEEDS",
    "QUALITY_CHECKS",
    "AuditContext",
    "IssueCheck",
    "PhotoSet",
    "available_checks",
    "find_issues",
    "get_check",
    "issue_frame",
    "register_check",
    "unregister_check",
]
