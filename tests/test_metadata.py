"""Private by default: the metadata that is not given (bounds, categories, classes, a regressor's
target range, a series' range and length) is released with DP, composed in the fit's accountant,
and nothing else of it reaches the fitted estimator."""

import math
import pickle
import warnings

import dp_accounting
import numpy as np
import pandas as pd
import pytest
from dp_accounting.pld import pld_privacy_accountant

from sk_privattn import DPAttentionClassifier, DPAttentionRegressor, DPSequenceClassifier, PrivacyLeakWarning
from sk_privattn.model_selection import PrivateRandomSearch
from sk_privattn.preprocessing import SIGNED_LOG_LIMIT
from sk_privattn.privacy._metadata import PARTITION_DELTA_SHARE, signed_log
from sk_privattn.utils._docs import DEFAULTS

from _settings import FAST_PARAMS, FAST_SEQUENCE_PARAMS
from conftest import PUBLIC, make_mixed_frame, make_series
from test_neighbouring import differences

M = DEFAULTS["metadata_noise_multiplier"]
#: A small network, and one plan for every fit on the 3,000 rows: a public count and a fixed δ, so that
#: the noise is calibrated once per process.
SMALL = dict(max_epochs=1, batch_size=64, d_token=8, n_heads=2, n_layers=1, public_count=3000, delta=1e-5)


@pytest.fixture(scope="module")
def table():
    return make_mixed_frame(n_samples=3000)


def _fit_silently(estimator, X, y, **fit_params):
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrivacyLeakWarning)
        return estimator.fit(X, y, **fit_params)


def _pld_epsilon(events, delta, relation):
    engine = pld_privacy_accountant.PLDAccountant(neighboring_relation=relation, value_discretization_interval=1e-3)
    for event in events:
        engine.compose(event)
    return engine.get_epsilon(delta)


def _dp_sgd(clf):
    step = dp_accounting.GaussianDpEvent(clf.noise_multiplier_)
    if clf.sample_rate_ < 1:
        step = dp_accounting.PoissonSampledDpEvent(clf.sample_rate_, step)
    return dp_accounting.SelfComposedDpEvent(step, clf.n_steps_)


def test_a_default_fit_releases_its_metadata_with_dp_and_warns_of_nothing(table):
    X, y = table
    clf = _fit_silently(DPAttentionClassifier(epsilon=1.0, random_state=0, **SMALL), X, y)
    # The ages are uniform on [18, 80] and the incomes on [0, 100]: robust ranges, within the grid's reach.
    assert clf.bounds_.shape == (2, 2) and np.isfinite(clf.bounds_).all()
    assert 0 <= clf.bounds_[0, 0] < 30 and 60 < clf.bounds_[0, 1] < 130
    assert [list(values) for values in clf.categories_] == [["blue", "green", "red"], ["L", "M", "S", "XL"]]
    np.testing.assert_array_equal(clf.classes_, [0, 1])
    # One Gaussian mechanism of noise multiplier m, before the steps; partition selection takes
    # PARTITION_DELTA_SHARE of δ, outside the accountant.
    assert clf.accountant_history_[0] == (M, 1.0, 1) and len(clf.accountant_history_) == 2
    assert clf.partition_delta_ == pytest.approx(PARTITION_DELTA_SHARE * clf.delta_)
    assert 0.95 <= clf.epsilon_ <= 1.0


@pytest.mark.parametrize("neighbouring", ["add_or_remove", "replace_one"])
def test_the_epsilon_of_a_fit_with_dp_metadata_is_what_dp_accounting_computes(table, neighbouring):
    X, y = table
    clf = _fit_silently(DPAttentionClassifier(epsilon=1.0, neighbouring=neighbouring, random_state=0, **SMALL), X, y)
    relation = (dp_accounting.NeighboringRelation.ADD_OR_REMOVE_ONE if neighbouring == "add_or_remove"
                else dp_accounting.NeighboringRelation.REPLACE_ONE)
    # The histograms' replace-one sensitivity is sqrt(2H), against dp_accounting's 2 for a Gaussian event.
    metadata = dp_accounting.GaussianDpEvent(M if neighbouring == "add_or_remove" else math.sqrt(2) * M)
    recomputed = clf.count_epsilon_ + _pld_epsilon([metadata, _dp_sgd(clf)], clf.delta_ - clf.partition_delta_,
                                                   relation)
    assert clf.epsilon_ == pytest.approx(recomputed, rel=1e-6)
    assert clf.epsilon_ <= 1.0


def test_a_rare_category_an_extreme_value_and_a_rare_label_reach_nothing_of_the_fitted_state(table):
    X, y = table
    rare = X.iloc[:1].copy()
    rare["color"] = pd.Categorical(["purple"], categories=["red", "green", "blue", "purple"])
    rare["age"] = 123_456_789.0
    X = pd.concat([X.astype({"color": rare["color"].dtype}), rare], ignore_index=True)
    y = np.append(y, 7)
    clf = _fit_silently(DPAttentionClassifier(epsilon=1.0, random_state=0, **SMALL), X, y)
    assert "purple" not in clf.categories_[0]
    assert clf.bounds_[0, 1] < 1000
    np.testing.assert_array_equal(clf.classes_, [0, 1])  # the row of label 7 trained with a loss of 0
    state = pickle.dumps(clf)
    assert b"purple" not in state and b"123456789" not in state


@pytest.fixture
def pinned_metadata(monkeypatch):
    """The DP metadata releases made equal on both sides of a neighbouring pair (same bounds, same
    categories, same classes): the releases are tested above, the rest must not differ."""
    from sk_privattn.privacy._metadata import _release

    released = {}

    def pinned(name, original):
        def release(*args, **kwargs):
            if name not in released:
                released[name] = original(*args, **kwargs)
            return released[name]

        return release

    for name in ("release_numeric_ranges", "release_categories", "release_classes"):
        monkeypatch.setattr(_release, name, pinned(name, getattr(_release, name)))
    return released


def test_neighbours_differ_in_their_weights_and_their_dp_releases_only(table, pinned_metadata):
    X, y = table
    other_X, other_y = make_mixed_frame(n_samples=10, seed=5)
    neighbour_X = pd.concat([X.iloc[1:], other_X.iloc[:1]], ignore_index=True)
    neighbour_y = np.append(y[1:], 1 - other_y[0])

    def fit(X, y):
        return DPAttentionClassifier(epsilon=1.0, random_state=0, **SMALL).fit(X, y)

    assert differences(fit(X, y), fit(neighbour_X, neighbour_y)) == []
    assert set(pinned_metadata) == {"release_numeric_ranges", "release_categories", "release_classes"}


def test_what_is_read_from_the_data_is_warned_and_without_privacy_read_silently(table):
    X, y = table
    with pytest.warns(PrivacyLeakWarning, match="bounds='data'"):
        DPAttentionClassifier(bounds="data", categories=PUBLIC["categories"], classes=[0, 1], **SMALL).fit(X, y)
    with pytest.warns(PrivacyLeakWarning, match="categories='data'"):
        DPAttentionClassifier(categories="data", bounds=PUBLIC["bounds"], classes=[0, 1], **SMALL).fit(X, y)
    exact = _fit_silently(DPAttentionClassifier(epsilon=np.inf, random_state=0, **SMALL), X, y)
    np.testing.assert_array_equal(exact.bounds_[:, 0], [X["age"].min(), X["income"].min()])
    assert exact.accountant_history_[0][0] == 0.0 and len(exact.accountant_history_) == 1


def test_a_column_with_no_released_range_is_encoded_by_a_signed_logarithm(table):
    X, y = table
    X = X.assign(gains=np.where(np.arange(len(X)) % 50 == 0, 5.0, np.nan))
    clf = _fit_silently(DPAttentionClassifier(epsilon=1.0, random_state=0, **SMALL), X, y)
    assert np.isnan(clf.bounds_[2]).all()  # 60 observed values, under the noise: no range
    x_num, _ = clf._encoder.transform(clf._validate_X(X.iloc[:5], reset=False)[0])
    # Row 0 holds 5.0: sign(x) log1p(|x|) / 10 on the public scale [-2, 2], so its linear view is half of it;
    # the other rows are missing, a token of their own.
    np.testing.assert_allclose(x_num[0, 2], signed_log(5.0) / SIGNED_LOG_LIMIT, rtol=1e-6)
    assert np.isnan(x_num[1:, 2]).all() and np.isfinite(x_num[:, :2]).all()


def test_a_regressor_releases_its_target_range_and_a_sequence_classifier_its_lengths():
    X, y = make_mixed_frame(n_samples=3000)
    target = X["age"].to_numpy() * 1000.0
    reg = _fit_silently(DPAttentionRegressor(epsilon=1.0, random_state=0, **PUBLIC, **SMALL), X, target)
    low, high = reg.target_bounds_
    assert 0 < low < 25_000 and 70_000 < high < 130_000
    assert reg.accountant_history_[0] == (M, 1.0, 1)

    series, labels = make_series(n_samples=3000, n_timesteps=24)
    lengths = np.random.RandomState(0).randint(8, 25, size=len(series))
    ragged = [one[:length] for one, length in zip(series, lengths)]
    clf = _fit_silently(DPSequenceClassifier(**FAST_SEQUENCE_PARAMS, epsilon=1.0, scaling="bounds", random_state=0),
                        ragged, labels)
    assert 20 <= clf.n_timesteps_ <= 64
    low, high = clf.value_bounds_
    assert np.all(low < -0.5) and np.all(high > 0.5) and np.all(high < 8)
    np.testing.assert_array_equal(clf.classes_, [0, 1])


def test_a_person_level_fit_releases_its_metadata_per_person(table):
    X, y = table
    person = np.arange(len(X)) // 3
    clf = _fit_silently(DPAttentionClassifier(epsilon=1.0, random_state=0, **SMALL), X, y, person_id=person)
    assert clf.privacy_unit_ == "person" and np.isfinite(clf.bounds_).all()
    np.testing.assert_array_equal(clf.classes_, [0, 1])


def test_a_larger_metadata_noise_multiplier_leaves_dp_sgd_less_noise(table):
    X, y = table
    noises = [DPAttentionClassifier(epsilon=1.0, metadata_noise_multiplier=m, random_state=0,
                                    **SMALL).fit(X, y).noise_multiplier_ for m in (6.0, 12.0)]
    public = DPAttentionClassifier(epsilon=1.0, random_state=0, classes=[0, 1], **PUBLIC,
                                   **SMALL).fit(X, y).noise_multiplier_
    assert noises[0] > noises[1] > public


def test_a_private_search_refuses_candidates_that_would_release_categories_or_classes(table):
    X, y = table
    search = PrivateRandomSearch(DPAttentionClassifier(bounds=PUBLIC["bounds"], **SMALL), {"epsilon": [1.0]},
                                 random_state=0)
    with pytest.raises(ValueError, match="would release its categories or classes with DP"):
        search.fit(X, y)
