"""scikit-learn's parameter validation and fit context, imported in this one place.

scikit-learn publishes neither its constraint language (``Interval``,
``StrOptions``, ``HasMethods``, ``validate_params``...) nor ``_fit_context``
under a public path; imbalanced-learn imports them from the same modules,
the fit context through sklearn-compat, which keeps it working across
scikit-learn versions.
"""

from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    InvalidParameterError,
    StrOptions,
    validate_params,
)
from sklearn_compat.base import _fit_context as fit_context

__all__ = ["HasMethods", "Interval", "InvalidParameterError", "StrOptions", "fit_context", "validate_params"]
