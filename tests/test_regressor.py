"""DPAttentionRegressor: target scaling without leaks, losses, and the shared privacy contract."""

import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.model_selection import cross_val_score

from sk_privattn import DPAttentionRegressor
from sk_privattn.privacy import compute_epsilon
from sk_privattn.regressor import HUBER_DELTA, scale_target, unscale_target

from _settings import FAST_PARAMS
import conftest
from conftest import fit_recording_leaks


def _reg(**params):
    return DPAttentionRegressor(**{**FAST_PARAMS, "random_state": 0, "bounds": (-1, 1), **params})


@pytest.fixture(scope="module")
def linear_data():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(300, 3))
    y = 100.0 + 40.0 * X[:, 0] - 20.0 * X[:, 1] + rng.normal(0, 2, size=300)
    return X, y


def test_predictions_come_back_in_the_original_units(linear_data):
    X, y = linear_data
    reg = _reg(epsilon=np.inf, max_epochs=30, target_bounds=(0, 200)).fit(X, y)
    predictions = reg.predict(X)
    assert predictions.shape == (len(X),) and predictions.dtype == np.float64
    assert reg.score(X, y) > 0.8
    assert abs(predictions.mean() - y.mean()) < 10


def test_private_fit_keeps_the_privacy_contract(linear_data):
    X, y = linear_data
    reg = _reg(epsilon=1.0, target_bounds=(0, 200)).fit(X, y)
    assert 0 < reg.epsilon_ <= 1.0
    expected = reg.count_epsilon_ + compute_epsilon(reg.accountant_history_, reg.delta_, reg.accountant_)
    assert reg.epsilon_ == pytest.approx(expected, rel=1e-6)
    assert reg.accountant_history_ == [(reg.noise_multiplier_, reg.sample_rate_, reg.n_steps_)]
    assert np.all(np.isfinite(reg.predict(X)))


def test_public_target_bounds_clip_and_do_not_warn(linear_data):
    X, y = linear_data
    reg = _reg(target_bounds=(90, 110))
    assert fit_recording_leaks(reg, X, y) == []
    np.testing.assert_array_equal(reg.target_bounds_, [90.0, 110.0])
    assert reg.target_bounds == (90, 110)
    predictions = reg.predict(X)
    assert predictions.min() >= 90 and predictions.max() <= 110


def test_target_bounds_from_the_data_warn_and_are_not_written_back(linear_data):
    X, y = linear_data
    reg = _reg(target_bounds="data")
    caught = fit_recording_leaks(reg, X, y)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "minimum and maximum of y" in message and "target_bounds=(low, high)" in message
    # The warning points at the line that called fit (the helper, in conftest.py).
    assert caught[0].filename == conftest.__file__
    np.testing.assert_array_equal(reg.target_bounds_, [y.min(), y.max()])
    assert reg.target_bounds == "data"


@pytest.mark.parametrize(
    "target_bounds", [(1, 0), (0, 0), (0, np.inf), (np.nan, 1), (1, 2, 3), ("low", "high")]
)
def test_bad_target_bounds_raise_clearly(linear_data, target_bounds):
    X, y = linear_data
    with pytest.raises(ValueError, match=r"target_bounds=.* must be a pair \(low, high\) of finite numbers"):
        _reg(target_bounds=target_bounds).fit(X, y)


def test_a_text_target_raises_and_a_missing_one_weighs_zero(linear_data):
    X, y = linear_data
    with pytest.raises(ValueError, match=r"y holds text \(dtype <U4\); a regressor needs numbers"):
        _reg(target_bounds=(0, 1)).fit(X, np.array(["low", "high"] * (len(X) // 2)))
    # A missing target (or one that is not a number) stays in the sampling with weight 0; an
    # infinite one is clipped to the bounds: silently, whatever one row holds.
    target = np.array(y, dtype=object)
    target[:3] = [np.nan, "n/a", np.inf]
    reg = _reg(target_bounds=(0, 200))
    encoded = reg._encode(X, target)
    np.testing.assert_array_equal(encoded.dataset.row_weight.numpy()[:4], [0, 0, 1, 1])
    assert encoded.dataset.target[2, 0] == 1.0  # the upper bound, scaled


def test_unknown_loss_raises(linear_data):
    X, y = linear_data
    with pytest.raises(ValueError, match="'loss' parameter .* Got 'poisson'"):
        _reg(loss="poisson", target_bounds=(0, 200)).fit(X, y)


@pytest.mark.parametrize(
    "loss, criterion", [("squared_error", torch.nn.MSELoss), ("huber", torch.nn.HuberLoss), ("absolute_error", torch.nn.L1Loss)]
)
def test_each_loss_trains(linear_data, loss, criterion):
    X, y = linear_data
    reg = _reg(loss=loss, epsilon=np.inf, max_epochs=30, target_bounds=(0, 200)).fit(X, y)
    assert type(reg.net_.criterion_) is criterion
    if loss == "huber":
        assert reg.net_.criterion_.delta == HUBER_DELTA
    assert reg.score(X, y) > 0.5


@settings(max_examples=50, deadline=None)
@given(
    y=st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=20),
    low=st.floats(-1e3, 1e3),
    width=st.floats(1e-3, 1e4),
)
def test_scaling_maps_the_bounds_to_plus_minus_one_and_inverts(y, low, width):
    y, bounds = np.array(y), (low, low + width)
    scaled = scale_target(y, bounds)
    assert np.all((scaled >= -1 - 1e-12) & (scaled <= 1 + 1e-12))
    np.testing.assert_allclose(scale_target(np.array(bounds), bounds), [-1.0, 1.0], atol=1e-9)
    np.testing.assert_allclose(unscale_target(scaled, bounds), np.clip(y, *bounds), rtol=1e-9, atol=1e-9 * width)


def test_cross_validation_and_pickle(linear_data):
    X, y = linear_data
    reg = _reg(target_bounds=(0, 200))
    scores = cross_val_score(reg, X, y, cv=2, error_score="raise")
    assert scores.shape == (2,) and np.all(np.isfinite(scores))
    reg.fit(X, y)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(reg)).predict(X), reg.predict(X))
