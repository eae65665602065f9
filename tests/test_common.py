"""scikit-learn's and imbalanced-learn's estimator checks, for every public estimator.

``parametrize_with_checks`` (scikit-learn's) skips every data-dependent check
for estimators whose input tag is one-dimensional strings (it only knows how
to make 2-D numeric X), so for the two image estimators the generic checks
that apply to any estimator are run here by name, and ``test_embedding.py`` and
``test_outlier_filter.py`` re-create the data-dependent ones (fit returns self,
idempotence, sample-order and subset invariance, pickling, parameters not
overwritten, ``sample_indices_``) with real image inputs.

imbalanced-learn's checks run for the sampler and the two meta-estimators; the
ones that feed ``make_classification`` matrices to ``ImageNetOutlierFilter``
are expected to fail, each with its reason.
"""

import numpy as np
import pytest
from imblearn.utils.estimator_checks import parametrize_with_checks as imblearn_parametrize_with_checks
from sklearn.linear_model import LogisticRegression
from sklearn.svm import OneClassSVM
from sklearn.utils import estimator_checks as ec
from sklearn.utils.estimator_checks import parametrize_with_checks

from skcatdog import ClippedClassifier, FitOnInliers, ImageNetOutlierFilter
from tests._helpers import tiny_transformer

IMAGE_ESTIMATORS = [
    tiny_transformer(cache=None),
    ImageNetOutlierFilter(backbone="tiny_test", weights=None, cache=None),
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
    # Calls fit with numeric X and a bad parameter: validation comes before the input is read.
    ec.check_param_validation,
]


@pytest.mark.parametrize("estimator", IMAGE_ESTIMATORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("check", GENERIC_CHECKS, ids=lambda c: c.__name__)
def test_sklearn_generic_checks(estimator, check):
    check(type(estimator).__name__, estimator)


@pytest.mark.parametrize("estimator", IMAGE_ESTIMATORS, ids=lambda e: type(e).__name__)
def test_numeric_matrices_are_refused_with_the_reason(estimator):
    # Why sklearn's data-dependent checks cannot apply: the 2-D float X they make is not images.
    X, y = np.zeros((4, 3)), np.array(["cat", "dog"] * 2)
    with pytest.raises(ValueError, match=r"image paths or an \(n, height, width, 3\) uint8 array.*float64.*\(4, 3\)"):
        estimator.fit(X, y)


# What decides rows and how the engine runs: one parameter each, shared by every estimator that asks
# the engine for rows, with the same default and the same documentation.
ENGINE_DEFAULTS = {
    "weights": "imagenet",
    "batch_size": "auto",
    "cache": "auto",
    "n_jobs": -1,
    "precision": "auto",
    "decoder": "auto",
    "verbose": 0,
}


@pytest.mark.parametrize("estimator", IMAGE_ESTIMATORS, ids=lambda e: type(e).__name__)
def test_every_image_estimator_takes_the_engine_parameters_documented_once(estimator):
    cls = type(estimator)
    assert ENGINE_DEFAULTS.items() <= cls().get_params().items()
    for name in ENGINE_DEFAULTS:
        assert f"\n    {name} : " in cls.__doc__, name
    assert 'decoder : {"auto", "pillow", "gpu"}, default="auto"' in cls.__doc__


@parametrize_with_checks([ClippedClassifier(LogisticRegression(), eps=0.01)])
def test_clipped_classifier_passes_every_sklearn_check(estimator, check):
    # Numeric input: ClippedClassifier gets the full battery, data-dependent checks included.
    check(estimator)


_NOT_IMAGES = "makes a make_classification matrix; the filter takes images (twin with images: test_outlier_filter)"


def _expected_imblearn_failures(estimator):
    if isinstance(estimator, ImageNetOutlierFilter):
        return {
            "check_samplers_one_label": "a cleaning filter needs no second class; and the check's X is not images",
            "check_samplers_fit": _NOT_IMAGES,
            "check_samplers_fit_resample": _NOT_IMAGES,
            "check_samplers_string": "labels 0/1 have no ImageNet synsets; the check's X is not images",
            "check_samplers_list": _NOT_IMAGES,
            "check_samplers_multiclass_ova": _NOT_IMAGES,
            "check_samplers_preserve_dtype": _NOT_IMAGES,
            "check_samplers_sample_indices": _NOT_IMAGES,
            "check_samplers_2d_target": _NOT_IMAGES,
        }
    if isinstance(estimator, FitOnInliers):
        return {
            "check_classifier_on_multilabel_or_multioutput_targets": "an outlier detector: y only picks the inliers",
            "check_classifiers_with_encoded_labels": "an outlier detector: y only picks the inliers (label 1)",
        }
    return {}


@imblearn_parametrize_with_checks(
    [
        ImageNetOutlierFilter(backbone="tiny_test", weights=None, cache=None),
        ClippedClassifier(LogisticRegression(), eps=0.01),
        FitOnInliers(OneClassSVM()),
    ],
    expected_failed_checks=_expected_imblearn_failures,
)
def test_imblearn_checks(estimator, check):
    check(estimator)
