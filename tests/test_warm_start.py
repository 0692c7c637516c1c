"""warm_start: training continues, and the privacy spent composes over every call to fit."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import sk_privattn.dpsgd._train
from sk_privattn import BudgetExceededError, DPAttentionClassifier, DPAttentionRegressor, PrivacyLeakWarning
from sk_privattn.dpsgd import train_module
from sk_privattn._warm_start import MIN_SHARE_LEFT
from sk_privattn.privacy import calibrate_noise_multiplier, compute_epsilon

from _settings import FAST_PARAMS


def _clf(**params):
    # The RDP accountant calibrates faster than PRV; both compose warm starts.
    settings = {**FAST_PARAMS, "random_state": 0, "bounds": (-1, 1), "classes": [0, 1], "accountant": "rdp"}
    return DPAttentionClassifier(**{**settings, **params})


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(200, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return X, y


@pytest.fixture
def fitted(data):
    X, y = data
    return _clf(epsilon=1.0, warm_start=True).fit(X, y)


@pytest.mark.parametrize("accountant", ["prv", "rdp"])
def test_epsilon_spent_is_the_composition_of_every_call(data, accountant):
    X, y = data
    clf = _clf(epsilon=1.0, accountant=accountant, warm_start=True).fit(X, y)
    first = (clf.noise_multiplier_, clf.sample_rate_, clf.n_steps_)
    first_epsilon = clf.epsilon_
    clf.set_params(epsilon=2.0, max_epochs=3).fit(X, y)
    second = (clf.noise_multiplier_, clf.sample_rate_, clf.n_steps_)
    assert clf.accountant_history_ == [first, second]
    # Each call released its own DP count of the rows, whose pure ε adds.
    assert clf.count_epsilon_ == pytest.approx(0.02 * 1.0 + 0.02 * 2.0)
    expected = clf.count_epsilon_ + compute_epsilon([first, second], clf.delta_, accountant)
    assert clf.epsilon_ == pytest.approx(expected, rel=1e-6)
    assert first_epsilon < clf.epsilon_ <= 2.0
    # history_ shows each call, with the ε spent so far over all calls.
    assert [row["call"] for row in clf.history_] == [1, 1, 2, 2, 2]
    assert [row["epoch"] for row in clf.history_] == [1, 2, 1, 2, 3]
    spent = [row["epsilon"] for row in clf.history_]
    assert spent == sorted(spent) and spent[1] == first_epsilon and spent[-1] == clf.epsilon_


def test_warm_start_continues_the_weights_and_cold_start_does_not(data):
    X, y = data
    clf = _clf(epsilon=np.inf, max_epochs=10, warm_start=True).fit(X, y)
    trained = clf.predict_proba(X)
    # With a vanishing learning rate, continuing leaves the trained weights...
    clf.set_params(lr=1e-12, max_epochs=1).fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(X), trained, atol=1e-5)
    assert [row["call"] for row in clf.history_][-1] == 2
    # ...while a refit without warm_start starts from fresh weights.
    clf.set_params(warm_start=False).fit(X, y)
    assert np.abs(clf.predict_proba(X) - trained).max() > 1e-2
    assert {row["call"] for row in clf.history_} == {1} and len(clf.accountant_history_) == 1


def test_cold_refit_spends_only_its_own_budget(fitted, data):
    X, y = data
    fitted.set_params(warm_start=False).fit(X, y)
    assert 0 < fitted.epsilon_ <= 1.0
    assert len(fitted.accountant_history_) == 1


def test_call_with_budget_spent_raises_and_keeps_the_fit(fitted, data):
    X, y = data
    state = dict(fitted.__dict__)
    with pytest.raises(BudgetExceededError, match=r"epsilon=1.0 is the privacy budget .* have spent ε=0.99"):
        fitted.fit(X, y)
    assert fitted.__dict__.keys() == state.keys()
    assert fitted.module_ is state["module_"] and fitted.epsilon_ == state["epsilon_"]
    # Raising epsilon by less than MIN_SHARE_LEFT of it is still not enough.
    with pytest.raises(BudgetExceededError, match="leaving less than 5%"):
        fitted.set_params(epsilon=fitted.epsilon_ / (1 - MIN_SHARE_LEFT / 2)).fit(X, y)


def test_each_call_draws_fresh_noise_and_batches(data, monkeypatch):
    X, y = data
    seeds = []

    def recording_seed(*args, seed, **kwargs):
        seeds.append(seed)
        return train_module(*args, seed=seed, **kwargs)

    monkeypatch.setattr(sk_privattn.dpsgd._train, "train_module", recording_seed)
    clf = _clf(epsilon=1.0, warm_start=True).fit(X, y)
    clf.set_params(epsilon=2.0).fit(X, y)
    # The seed of a call seeds its Poisson batches and its noise.
    assert len(seeds) == 2 and seeds[0] != seeds[1]


def test_a_failed_call_leaves_the_module_untouched(fitted, data, monkeypatch):
    X, y = data
    before = {name: value.clone() for name, value in fitted.module_.state_dict().items()}

    def train_then_fail(module, *args, **kwargs):
        with torch.no_grad():
            for parameter in module.parameters():
                parameter.add_(1.0)
        raise RuntimeError("interrupted")

    monkeypatch.setattr(sk_privattn.dpsgd._train, "train_module", train_then_fail)
    with pytest.raises(RuntimeError, match="interrupted"):
        fitted.set_params(epsilon=2.0).fit(X, y)
    for name, value in fitted.module_.state_dict().items():
        torch.testing.assert_close(value, before[name])


def test_continuing_without_privacy_makes_epsilon_inf(fitted, data):
    X, y = data
    fitted.set_params(epsilon=np.inf).fit(X, y)
    assert fitted.epsilon_ == math.inf
    assert fitted.accountant_history_[-1][0] == 0.0
    with pytest.raises(BudgetExceededError, match="trained without privacy"):
        fitted.set_params(epsilon=5.0).fit(X, y)


def _with_column(X):
    return np.column_stack([X, X[:, :1]])


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda X, y: (X[:, :2], y, {}), "X has 2 features, but warm_start=True continues a model fitted on 3"),
        (lambda X, y: (pd.DataFrame(X, columns=list("abc")), y, {}), r"X has the feature names \['a', 'b', 'c'\]"),
        (lambda X, y: (X, np.where(y == 1, "yes", "no"), {}), r"y holds text \(dtype <U3\), but the classes of the model that warm_start=True continues are numbers"),
        (lambda X, y: (X, y, {"d_token": 16}), "continues the model built with d_token=8, but d_token is now 16"),
        (lambda X, y: (X, y, {"bounds": (-2, 2)}), r"built with bounds=\(-1, 1\)"),
        (lambda X, y: (X, y, {"delta": 1e-3}), r"delta=0.001, but .* composes all its fits at delta_="),
        (lambda X, y: (X, y, {"accountant": "gdp"}), "accountant='gdp' cannot compose the fits of a warm start"),
    ],
    ids=["n_features", "feature_names", "classes", "d_token", "bounds", "delta", "gdp"],
)
def test_a_warm_start_that_cannot_continue_raises_clearly(fitted, data, change, match):
    X, y, params = change(*data)
    fitted.set_params(epsilon=2.0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gdp's own warning, categories read from the data
        with pytest.raises(ValueError, match=match):
            fitted.fit(X, y)


def test_columns_of_another_kind_raise(mixed_frame):
    X, y = mixed_frame
    clf = _clf(bounds={"age": (18, 80), "income": (0, 100)}, categories="from_dtype", warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match=r"The categorical columns of X are \[1\], but .* are \[1, 3\]"):
        clf.set_params(epsilon=2.0).fit(X.astype({"size": object}).assign(size=1.0), y)


def test_warm_start_reuses_the_encoding_and_warns_no_more(data):
    X, y = data
    with pytest.warns(PrivacyLeakWarning, match="bounds='data'"):
        clf = _clf(bounds="data", warm_start=True).fit(X, y)
    bounds = clf.bounds_.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrivacyLeakWarning)
        clf.set_params(epsilon=2.0).fit(3 * X, y)  # wider values are clipped to the first fit's bounds
    np.testing.assert_array_equal(clf.bounds_, bounds)


def test_regressor_warm_start_keeps_its_target_scaling(data):
    X, _ = data
    y = 50 * X[:, 0]
    with pytest.warns(PrivacyLeakWarning, match="minimum and maximum of y"):
        reg = DPAttentionRegressor(**FAST_PARAMS, bounds=(-1, 1), target_bounds="data", accountant="rdp",
                                   random_state=0, warm_start=True)
        reg.fit(X, y)
    target_bounds = reg.target_bounds_.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrivacyLeakWarning)
        reg.set_params(epsilon=2.0).fit(X, 2 * y)
    np.testing.assert_array_equal(reg.target_bounds_, target_bounds)
    expected = reg.count_epsilon_ + compute_epsilon(reg.accountant_history_, reg.delta_, "rdp")
    assert reg.epsilon_ == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="continues the model built with target_bounds='data'"):
        reg.set_params(epsilon=3.0, target_bounds=(-60, 60)).fit(X, y)


@pytest.mark.parametrize("accountant", ["prv", "rdp"])
def test_calibration_after_prior_mechanisms_meets_the_total(accountant):
    prior = [(1.2, 0.05, 200)]
    noise = calibrate_noise_multiplier(
        epsilon=4.0, delta=1e-5, sample_rate=0.1, steps=100, accountant=accountant, prior_history=prior
    )
    assert compute_epsilon([*prior, (noise, 0.1, 100)], 1e-5, accountant) <= 4.0
    assert compute_epsilon([*prior, (noise * 0.98, 0.1, 100)], 1e-5, accountant) > 4.0


def test_gdp_refuses_to_compose_different_mechanisms():
    # Opacus' GDP accountant reads only the last entry: composing would be silently wrong.
    with pytest.raises(ValueError, match="accountant='gdp' cannot compose mechanisms with different"):
        compute_epsilon([(1.0, 0.1, 100), (2.0, 0.1, 100)], 1e-5, "gdp")
    split = compute_epsilon([(1.0, 0.1, 100), (1.0, 0.1, 100)], 1e-5, "gdp")
    assert split == compute_epsilon([(1.0, 0.1, 200)], 1e-5, "gdp")
