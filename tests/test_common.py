"""scikit-learn's own estimator checks over every public estimator."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sk_privattn import DPAttentionClassifier, DPAttentionRegressor, DPSequenceClassifier
from sk_privattn.exceptions import PrivacyLeakWarning

from _settings import FAST_PARAMS, FAST_SEQUENCE_PARAMS

ESTIMATORS = [
    DPAttentionClassifier(random_state=0, **FAST_PARAMS),
    DPAttentionRegressor(random_state=0, **FAST_PARAMS),
    DPAttentionClassifier(random_state=0, architecture="polynomial", **FAST_PARAMS),
    # The checks feed 2-D arrays: univariate series, one per row.
    DPSequenceClassifier(random_state=0, **FAST_SEQUENCE_PARAMS),
    DPSequenceClassifier(random_state=0, architecture="lstm_attention", **FAST_SEQUENCE_PARAMS),
]

# Checks that may fail, each with its reason. (The low scores that DP noise
# gives on the checks' toy problems are declared by the poor_score tags of the
# estimators, with their reasons.)
EXPECTED_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data": (
        "DP-SGD is not invariant to repeating a row in place of a weight: n sets the Poisson "
        "sample rate and the noise, and a weighted row is still one row, whose clipped gradient "
        "its weight (at most 1 after max_sample_weight) can only shrink."
    ),
}


@pytest.mark.filterwarnings("ignore::sk_privattn.exceptions.PrivacyLeakWarning")
@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_sklearn_compatible(estimator, check):
    # The checks feed data without public bounds, so every fit warns that
    # it read the bounds (and the regressor's target bounds) from the data;
    # those warnings are tested elsewhere.
    assert PrivacyLeakWarning
    check(estimator)
