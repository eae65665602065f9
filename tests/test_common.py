"""scikit-learn's estimator checks, for every public estimator.

``parametrize_with_checks`` skips every data-dependent check for estimators
whose input tag is one-dimensional strings (it only knows how to make 2-D
numeric X), so the generic checks that apply to any estimator are run here by
name, and ``test_embedding.py`` re-creates the data-dependent ones (fit
returns self, idempotence, sample-order and subset invariance, pickling,
parameters not overwritten) with real image inputs.
"""

import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.utils import estimator_checks as ec
from sklearn.utils.estimator_checks import parametrize_with_checks

from skcatdog import ClippedClassifier, ImageNetOutlierFilter, KerasEmbeddingTransformer

ESTIMATORS = [
    KerasEmbeddingTransformer(backbone="tiny_test", weights=None),
    ImageNetOutlierFilter(backbone="tiny_test", weights=None),
]

GENERIC_CHECKS = [
    ec.check_estimator_cloneable,
    ec.check_estimator_repr,
    ec.check_no_attributes_set_in_init,
    ec.check_parameters_default_constructible,
    ec.check_get_params_invariance,
    ec.check_set_params,
    ec.check_do_not_raise_errors_in_init_or_set_params,
    ec.check_mixin_order,
    ec.check_valid_tag_types,
    ec.check_estimator_tags_renamed,
]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("check", GENERIC_CHECKS, ids=lambda c: c.__name__)
def test_sklearn_generic_checks(estimator, check):
    check(type(estimator).__name__, estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_sklearn_skips_the_numeric_checks_for_the_stated_reason(estimator):
    # If sklearn ever learns to make image inputs, this fails and the skipped
    # checks should move into parametrize_with_checks.
    tags = estimator.__sklearn_tags__()
    assert tags.input_tags.one_d_array and tags.input_tags.string and not tags.input_tags.two_d_array


@parametrize_with_checks([ClippedClassifier(LogisticRegression(), eps=0.01)])
def test_clipped_classifier_passes_every_sklearn_check(estimator, check):
    # Numeric input: ClippedClassifier gets the full battery, data-dependent checks included.
    check(estimator)
