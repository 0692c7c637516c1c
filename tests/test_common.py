"""scikit-learn's own estimator checks over every public estimator."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sk_privattn import DPAttentionClassifier, DPAttentionRegressor, DPSequenceClassifier
from sk_privattn.exceptions import PrivacyLeakWarning

from _settings import FAST_PARAMS, FAST_SEQUENCE_PARAMS

#: The checks fit on a few dozen to a few hundred rows, where a DP release of the metadata
#: (the default: bounds, categories and classes released with noise of standard deviation
#: metadata_noise_multiplier * sqrt(H) rows) releases almost nothing: no range, no class. So
#: they read the metadata from the data ("data", warned, and the warnings are ignored below);
#: the DP release is tested on data large enough for it (tests/test_metadata.py).
FROM_DATA = dict(bounds="data", categories="data", classes="data")

ESTIMATORS = [
    DPAttentionClassifier(random_state=0, **FROM_DATA, **FAST_PARAMS),
    DPAttentionRegressor(random_state=0, bounds="data", categories="data", target_bounds="data", **FAST_PARAMS),
    DPAttentionClassifier(random_state=0, architecture="polynomial", **FROM_DATA, **FAST_PARAMS),
    # The checks feed 2-D arrays: univariate series, one per row.
    DPSequenceClassifier(random_state=0, classes="data", **FAST_SEQUENCE_PARAMS),
    DPSequenceClassifier(random_state=0, architecture="lstm_attention", classes="data", **FAST_SEQUENCE_PARAMS),
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
    # The checks feed data without public metadata, read from the data ("data", see FROM_DATA):
    # every fit warns that it read them; those warnings are tested elsewhere.
    assert PrivacyLeakWarning
    check(estimator)
