"""The privacy contract: ε spent ≤ ε asked, calibration, warnings, ε = inf."""

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sk_privattn import DPAttentionClassifier, PrivacyLeakWarning
from sk_privattn.privacy import plan_training, resolve_batch_size, resolve_epochs
from sk_privattn.privacy._plan import AUTO_MAX_ROWS
from sk_privattn.dpsgd import TensorBatchDataset, train_module
from sk_privattn.nn import FTTransformer
from sk_privattn.privacy import (
    ACCOUNTANTS,
    DEFAULT_DELTA,
    DPCount,
    calibrate_noise_multiplier,
    compose_worst_row,
    compute_epsilon,
    default_delta,
)
from sk_privattn.privacy import _count

from _settings import FAST_PARAMS
from conftest import KINDS, PUBLIC, fit_recording_leaks, make_case, recorded_batch_sizes
from test_relation import dp_accounting_epsilon


def _fit(X, y, **params):
    # Public metadata (X is uniform on [-1, 1], y holds 0 and 1): the DP metadata release is tested in
    # tests/test_metadata.py.
    settings_ = {**FAST_PARAMS, "random_state": 0, "bounds": (-1, 1), "classes": [0, 1], **params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        warnings.filterwarnings("ignore", message="accountant='gdp'")
        return DPAttentionClassifier(**settings_).fit(X, y)


@pytest.mark.parametrize("accountant", ACCOUNTANTS)
@pytest.mark.parametrize(
    "epsilon, n_samples, batch_size, max_epochs",
    [(0.5, 120, 16, 3), (1.0, 200, 64, 2), (8.0, 60, 100, 4)],
)
def test_epsilon_spent_never_exceeds_epsilon_asked(accountant, epsilon, n_samples, batch_size, max_epochs):
    rng = np.random.RandomState(n_samples)
    X = rng.uniform(-1, 1, size=(n_samples, 3))
    y = (X[:, 0] > 0).astype(int)
    clf = _fit(X, y, epsilon=epsilon, batch_size=batch_size, max_epochs=max_epochs, accountant=accountant)
    assert 0 < clf.epsilon_ <= epsilon
    # The spent ε is the pure ε of the DP count of the rows plus the accountant's
    # composition of the steps actually taken.
    assert clf.count_epsilon_ == pytest.approx(0.02 * epsilon)
    history = [(clf.noise_multiplier_, clf.sample_rate_, clf.n_steps_)]
    expected = clf.count_epsilon_ + compute_epsilon(history, clf.delta_, accountant)
    assert clf.epsilon_ == pytest.approx(expected, rel=1e-6)
    # Calibration is tight: within a few percent of the budget.
    assert clf.epsilon_ >= 0.95 * epsilon
    assert clf.history_[-1]["epsilon"] == clf.epsilon_
    assert [row["epsilon"] for row in clf.history_] == sorted(row["epsilon"] for row in clf.history_)


@settings(max_examples=10, deadline=None)
@given(
    epsilon=st.floats(0.2, 10.0),
    sample_rate=st.sampled_from([1 / 64, 1 / 8, 1 / 2, 1.0]),
    steps=st.integers(1, 400),
    delta=st.sampled_from([1e-6, 1e-5, 1e-3]),
    accountant=st.sampled_from(["rdp", "gdp"]),
)
def test_calibrated_noise_meets_the_budget(epsilon, sample_rate, steps, delta, accountant):
    noise = calibrate_noise_multiplier(
        epsilon=epsilon, delta=delta, sample_rate=sample_rate, steps=steps, accountant=accountant
    )
    assert compute_epsilon([(noise, sample_rate, steps)], delta, accountant) <= epsilon
    # And it is the smallest such noise, to the bisection's precision.
    assert compute_epsilon([(noise * 0.98, sample_rate, steps)], delta, accountant) > epsilon


@pytest.mark.parametrize("accountant", ACCOUNTANTS)
def test_noise_multiplier_grows_as_epsilon_shrinks(accountant):
    noises = [
        calibrate_noise_multiplier(epsilon=e, delta=1e-5, sample_rate=0.02, steps=500, accountant=accountant)
        for e in (8.0, 3.0, 1.0, 0.5)
    ]
    assert noises == sorted(noises) and len(set(noises)) == 4


def test_estimator_noise_multiplier_grows_as_epsilon_shrinks(numeric_data):
    X, y = numeric_data
    noises = [_fit(X, y, epsilon=e, bounds=(-1, 1)).noise_multiplier_ for e in (4.0, 1.0, 0.3)]
    assert noises[0] < noises[1] < noises[2]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("accountant", ["prv", "rdp"])
def test_every_estimator_spends_at_most_epsilon(kind, accountant):
    clf, X, y = make_case(kind, epsilon=0.7, accountant=accountant, max_epochs=3)
    clf.fit(X, y)
    assert 0.95 * 0.7 <= clf.epsilon_ <= 0.7
    history = [(clf.noise_multiplier_, clf.sample_rate_, clf.n_steps_)]
    expected = clf.count_epsilon_ + compute_epsilon(history, clf.delta_, accountant)
    assert clf.epsilon_ == pytest.approx(expected, rel=1e-6)
    # Under a DP count of the rows the default δ is a constant: public inputs only.
    assert clf.delta_ == DEFAULT_DELTA


@pytest.mark.parametrize("kind", KINDS)
def test_n_steps_matches_the_data_loader(kind):
    clf, X, y = make_case(kind, batch_size=48, max_epochs=3)
    clf.fit(X, y)
    steps_per_epoch = math.ceil(clf.count_ / 48)
    assert clf.sample_rate_ == pytest.approx(1 / steps_per_epoch)
    assert clf.n_steps_ == 3 * steps_per_epoch
    assert clf.net_.history[:, "train_batch_count"] == [steps_per_epoch] * 3
    assert clf.net_.steps_taken_ == clf.n_steps_


def test_gdp_accountant_warns_that_it_is_approximate(numeric_data):
    X, y = numeric_data
    with pytest.warns(UserWarning, match="accountant='gdp'.*underestimate"):
        DPAttentionClassifier(accountant="gdp", bounds=(-1, 1), classes=[0, 1], **FAST_PARAMS).fit(X, y)


def test_default_delta_is_below_one_over_n(numeric_data):
    X, y = numeric_data
    clf = _fit(X, y, bounds=(-1, 1))
    assert clf.delta_ == DEFAULT_DELTA < 1 / clf.count_
    public = _fit(X, y, bounds=(-1, 1), public_count=len(X))
    assert public.delta_ == default_delta(len(X)) == 1 / (10 * len(X))
    assert _fit(X, y, bounds=(-1, 1), delta=1e-7).delta_ == 1e-7


@pytest.mark.parametrize("public_count", [None, 250])
def test_the_default_delta_reads_public_inputs_only_and_holds_as_reported(public_count, numeric_data, monkeypatch):
    """Finding 4 of issue 32: two neighbouring tables (one row removed) whose DP counts released
    very different values get the same default δ, the one computed here from public inputs:
    the constant 1e-5 under a DP count, 1/(10·public_count) with a public count. The ε of each
    fit is what dp_accounting computes for its plan at that δ, plus the count's pure ε."""
    X, y = numeric_data
    fits = []
    for rows, released in [(slice(None), 120), (slice(1, None), 460)]:
        monkeypatch.setattr(_count, "release_count", lambda n, epsilon, seed, value=released: DPCount(value, epsilon))
        fits.append(_fit(X[rows], y[rows], bounds=(-1, 1), public_count=public_count))
    expected = 1e-5 if public_count is None else 1 / (10 * public_count)
    assert fits[0].delta_ == fits[1].delta_ == expected
    if public_count is None:
        assert (fits[0].count_, fits[1].count_) == (120, 460)
    for fitted in fits:
        recomputed = fitted.count_epsilon_ + dp_accounting_epsilon(
            fitted.noise_multiplier_, fitted.sample_rate_, fitted.n_steps_, expected, "add_or_remove")
        assert recomputed <= fitted.epsilon
        assert recomputed == pytest.approx(fitted.epsilon_, rel=0.02)


def test_a_default_delta_under_a_dp_count_of_a_large_table_warns_with_the_fix(numeric_data, monkeypatch):
    X, y = numeric_data
    monkeypatch.setattr(_count, "release_count", lambda n, epsilon, seed: DPCount(250_000, epsilon))
    with pytest.warns(UserWarning, match=r"delta=None gives δ=1e-05 when the plan reads a DP count.*not below "
                                         r"1/n=4e-06.*Pass delta, e\.g\. 1/\(10·n\) for a public estimate n.*"
                                         r"or public_count"):
        _fit(X, y, bounds=(-1, 1), max_epochs=1, batch_size=100_000)


def _privacy_warnings(X, y, **params):
    clf = DPAttentionClassifier(**{**FAST_PARAMS, "random_state": 0, "classes": [0, 1], **params})
    return [str(w.message) for w in fit_recording_leaks(clf, X, y)]


def test_leak_warning_when_bounds_are_read_from_data(mixed_frame):
    X, y = mixed_frame
    messages = _privacy_warnings(X, y, bounds="data", categories=PUBLIC["categories"])
    assert len(messages) == 1
    assert "bounds" in messages[0] and "'age'" in messages[0] and "'income'" in messages[0]
    assert "'color'" not in messages[0]


def test_leak_warning_when_categories_are_read_from_data(mixed_frame):
    X, y = mixed_frame
    messages = _privacy_warnings(X, y, bounds=PUBLIC["bounds"], categories="data")
    assert len(messages) == 1
    assert "categories" in messages[0] and "'color'" in messages[0] and "'size'" in messages[0]


def test_both_warnings_when_the_metadata_is_read_from_the_data(mixed_frame):
    X, y = mixed_frame
    assert len(_privacy_warnings(X, y, bounds="data", categories="data")) == 2
    # Without public metadata the fit releases it with DP, and warns of nothing.
    assert _privacy_warnings(X, y) == []


@pytest.mark.parametrize("categories", [PUBLIC["categories"], "from_dtype", [["red", "green", "blue"], ["S", "M", "L", "XL"]]])
def test_no_leak_warning_with_public_metadata(mixed_frame, categories):
    X, y = mixed_frame
    assert _privacy_warnings(X, y, bounds=PUBLIC["bounds"], categories=categories) == []


def test_no_leak_warning_for_numeric_data_with_bounds(numeric_data):
    X, y = numeric_data
    assert _privacy_warnings(X, y, bounds=(-1, 1)) == []
    assert len(_privacy_warnings(X, y, bounds="data")) == 1
    assert _privacy_warnings(X, y) == []


def test_public_bounds_clip_and_are_not_written_back(numeric_data):
    X, y = numeric_data
    clf = _fit(X, y, bounds=(-0.5, 0.5))
    assert clf.bounds == (-0.5, 0.5)
    np.testing.assert_array_equal(clf.bounds_, [[-0.5, 0.5]] * 4)
    x_num, _ = clf._encoder.transform(X)
    assert x_num.min() == -1.0 and x_num.max() == 1.0
    # Data-derived bounds land in bounds_, never in the bounds parameter.
    derived = _fit(X, y, bounds="data")
    assert derived.bounds == "data"
    np.testing.assert_allclose(derived.bounds_, np.column_stack([X.min(0), X.max(0)]))


def test_epsilon_inf_trains_without_noise(numeric_data):
    X, y = numeric_data
    clf = _fit(X, y, epsilon=np.inf, bounds=(-1, 1))
    assert clf.epsilon_ == math.inf
    assert clf.noise_multiplier_ == 0.0
    assert all(row["epsilon"] == math.inf for row in clf.history_)


def _train(module, dataset, *, epsilon, max_epochs, batch_size, **settings):
    """train_module with plain SGD on CPU; ``settings`` override the defaults."""
    plan = plan_training(
        len(dataset), epsilon=epsilon, delta=1e-3, batch_size=batch_size, epochs=max_epochs, accountant="rdp"
    )
    options = dict(criterion=torch.nn.CrossEntropyLoss(reduction="none"), optimizer="sgd", weight_decay=0.0, device="cpu", seed=0,
                   verbose=0)
    return plan, train_module(module, dataset, plan, **{**options, **settings})


def _one_step(epsilon, max_grad_norm):
    """One full-batch SGD step (lr=1) of a linear model from zero weights."""
    torch.manual_seed(0)
    X = torch.randn(64, 3) * 10
    y = (X[:, 0] > 0).long()
    module = torch.nn.Linear(3, 2)
    torch.nn.init.zeros_(module.weight)
    torch.nn.init.zeros_(module.bias)

    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = module

        def forward(self, x):
            return self.linear(x)

    wrapped = Wrapped()
    plan, result = _train(
        wrapped,
        TensorBatchDataset({"x": X}, y),
        epsilon=epsilon,
        max_grad_norm=max_grad_norm,
        max_epochs=1,
        batch_size=64,
        lr=1.0,
    )
    reference = torch.nn.Linear(3, 2)
    torch.nn.init.zeros_(reference.weight)
    torch.nn.init.zeros_(reference.bias)
    torch.nn.functional.cross_entropy(reference(X), y).backward()
    return plan, result, -reference.weight.grad


def test_epsilon_inf_step_is_the_exact_unclipped_gradient():
    # Gradients here have norm far above max_grad_norm: clipping would show.
    plan, result, expected = _one_step(math.inf, max_grad_norm=1e-3)
    torch.testing.assert_close(result.module.linear.weight.detach(), expected)
    assert plan.noise_multiplier == 0.0 and result.history == [(0.0, 1.0, 1)] and result.epsilon == math.inf


def test_private_step_is_clipped_and_noised():
    plan, result, expected = _one_step(1.0, max_grad_norm=1e-3)
    step = result.module.linear.weight.detach()
    assert not torch.allclose(step, expected)
    assert plan.noise_multiplier > 0
    assert result.history == [(plan.noise_multiplier, 1.0, 1)]


class _Linear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)

    def forward(self, x_num, x_cat):
        return self.linear(x_num)


@pytest.mark.parametrize(
    "make_module",
    [_Linear, lambda: FTTransformer(2, [3], 2, d_token=8, n_heads=2, n_layers=2, n_views=2)],
    ids=["linear", "ft_transformer"],
)
def test_empty_poisson_batches_are_noise_only_steps(make_module):
    # Two rows, expected batch size 1: about one step in four has no row.
    torch.manual_seed(0)
    dataset = TensorBatchDataset(
        {"x_num": torch.randn(2, 4)[:, : 3 if make_module is _Linear else 4], "x_cat": torch.randint(0, 4, (2, 1))},
        torch.tensor([0, 1]),
    )
    module = make_module()
    with recorded_batch_sizes(module) as sizes:
        plan, result = _train(module, dataset, epsilon=8.0, max_grad_norm=1.0, max_epochs=20, batch_size=1, lr=0.1)
    assert 0 in sizes
    assert len(sizes) == result.n_steps == 40
    # Every step, empty or not, was a DP step that the accountant counted.
    assert result.history == [(plan.noise_multiplier, 0.5, 40)]
    assert result.epsilon <= 8.0
    assert all(torch.isfinite(p).all() for p in result.module.parameters())


@pytest.mark.parametrize(
    "n_samples, expected_batch, expected_epochs", [(50, 7, 50), (200, 14, 50), (1000, 32, 25), (3000, 94, 25)]
)
def test_auto_batch_size_and_epochs_give_small_data_enough_steps(n_samples, expected_batch, expected_epochs):
    plan = plan_training(n_samples, epsilon=1.0, delta=None, batch_size="auto", epochs="auto", accountant="prv")
    assert plan.batch_size == expected_batch == max(round(math.sqrt(n_samples)), math.ceil(n_samples / 32))
    assert plan.epochs == expected_epochs == min(50, round(800 / math.ceil(n_samples / expected_batch)))
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(n_samples, 2))
    y = (X[:, 0] > 0).astype(int)
    clf = _fit(X, y, batch_size="auto", max_epochs="auto", bounds=(-1, 1), d_token=4, n_heads=1,
               public_count=n_samples)
    assert clf.batch_size == "auto" and clf.batch_size_ == expected_batch
    assert clf.max_epochs == "auto" and clf.max_epochs_ == expected_epochs
    assert clf.sample_rate_ == pytest.approx(1 / math.ceil(n_samples / expected_batch))
    assert clf.n_steps_ == math.ceil(n_samples / expected_batch) * expected_epochs


def test_auto_plan_caps_the_batch_and_the_rows_processed():
    assert resolve_batch_size("auto", 32561) == 1018 and resolve_batch_size("auto", 10**7) == 1024
    assert resolve_batch_size(64, 10**6) == 64
    # Large data: few passes, at least one up to AUTO_MAX_ROWS rows; above it, a share of one pass.
    assert resolve_epochs("auto", 32, 32561) == 25 and resolve_epochs("auto", 196, 200_000) == 4
    assert resolve_epochs("auto", 977, 10**6) == 1 and resolve_epochs("auto", 1954, 2 * 10**6) == 1
    assert resolve_epochs("auto", 9766, 10**7) == pytest.approx(0.2)
    assert resolve_epochs(7, 32, 32561) == 7 and resolve_epochs(1, 9766, 10**7) == 1


@pytest.mark.parametrize("n_samples", [2_000_001, 5 * 10**6, 10**8])
def test_above_the_cap_an_auto_plan_processes_the_same_rows_whatever_n(n_samples):
    plan = plan_training(n_samples, epsilon=1.0, delta=None, batch_size="auto", epochs="auto", accountant="pld",
                         noise_multiplier=1.0)
    assert plan.epochs == 1 and plan.sample_rate == 1 / math.ceil(n_samples / 1024)
    assert plan.n_steps == round(math.ceil(n_samples / 1024) * AUTO_MAX_ROWS / n_samples)
    assert abs(plan.n_steps * plan.expected_batch_size - AUTO_MAX_ROWS) < 1024


def test_warnings_of_fit_point_at_the_callers_line(numeric_data):
    # Every warning that a fit raises names the line that called fit, however deep in
    # the fit path it was raised.
    from sk_privattn import DPAttentionRegressor, DPSequenceClassifier

    X, y = numeric_data
    fits = [
        lambda: DPAttentionClassifier(class_weight="balanced", delta=0.5, bounds="data", classes="data",
                                      **FAST_PARAMS).fit(X, y),
        lambda: DPAttentionRegressor(bounds="data", target_bounds="data", **FAST_PARAMS).fit(X, X[:, 0]),
        lambda: DPSequenceClassifier(max_epochs=1, d_model=8, n_heads=2, max_timesteps="data", classes=[0, 1]).fit(
            [x[: 1 + i % 4] for i, x in enumerate(X)], y),
    ]
    for fit in fits:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit()
        assert caught
        assert {w.filename for w in caught} == {__file__}, [(w.filename, str(w.message)[:40]) for w in caught]


@settings(max_examples=15, deadline=None)
@given(
    noises=st.lists(st.floats(0.6, 5.0), min_size=1, max_size=3),
    rate=st.floats(0.01, 1.0),
    steps=st.integers(1, 200),
)
def test_the_worst_row_pays_at_least_each_group_and_one_group_is_the_accountant(noises, rate, steps):
    groups = [[(noise, rate, steps)] for noise in noises]
    if len(groups) == 1:
        assert compose_worst_row([groups], 1e-5, "rdp") == compute_epsilon(groups[0], 1e-5, "rdp")
    worst = compose_worst_row([groups, [[(1.0, 0.1, 10)]]], 1e-5, "rdp")
    for group in groups:
        assert worst >= compute_epsilon([*group, (1.0, 0.1, 10)], 1e-5, "rdp") - 1e-9
