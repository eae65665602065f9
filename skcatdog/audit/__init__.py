"""Finding problems in an image dataset: copies, leaks, wrong labels, junk, poor photos.

:func:`find_issues` returns them as one table; ``skcatdog audit`` writes
them as a page to review and a decisions file that ``skcatdog train`` honours.
"""

from .issues import COLUMNS, ISSUES, QUALITY_CHECKS, find_issues

__all__ = ["COLUMNS", "ISSUES", "QUALITY_CHECKS", "find_issues"]
