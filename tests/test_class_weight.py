"""class_weight and sample_weight: public dicts, warned balanced weights, and row weights that act on
clipped gradients without raising any row's contribution above max_grad_norm."""

import warnings

import numpy as np
import pytest
import torch
from opacus.grad_sample import GradSampleHooks
from sklearn.utils.class_weight import compute_class_weight

import sk_privattn.dpsgd._train
from sk_privattn import DPAttentionClassifier, DPAttentionRegressor, PrivacyLeakWarning
from sk_privattn.dpsgd import RowWeightedDPOptimizer
from sk_privattn.dpsgd import train_module

from _settings import FAST_PARAMS
import conftest
from conftest import fit_recording_leaks


def _clf(**params):
    return DPAttentionClassifier(**{**FAST_PARAMS, "random_state": 0, "bounds": (-1, 1), "classes": [0, 1], **params})


@pytest.fixture(scope="module")
def imbalanced():
    """About 12 % positives, which depend on the first feature."""
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(400, 3))
    y = (X[:, 0] + rng.normal(0, 0.5, size=400) > 1.0).astype(int)
    return X, y


@pytest.fixture
def row_weights(monkeypatch):
    """The row weights that each fit hands to the training routine, in order."""
    seen = []

    def recording(module, dataset, plan, **kwargs):
        seen.append(None if dataset.row_weight is None else dataset.row_weight.numpy())
        return train_module(module, dataset, plan, **kwargs)

    monkeypatch.setattr(sk_privattn.dpsgd._train, "train_module", recording)
    return seen


def test_no_class_weight_trains_every_row_alike(imbalanced, row_weights):
    X, y = imbalanced
    clf = _clf()
    assert fit_recording_leaks(clf, X, y) == []
    np.testing.assert_array_equal(clf.class_weight_, [1.0, 1.0])
    assert row_weights == [None]


def test_dict_weights_are_public_and_reach_training(imbalanced, row_weights):
    X, y = imbalanced
    labels = np.array(["no", "yes"])[y]
    clf = _clf(class_weight={"yes": 4.0}, classes=["no", "yes"])
    assert fit_recording_leaks(clf, X, labels) == []
    np.testing.assert_array_equal(clf.class_weight_, [1.0, 4.0])  # "no" left out: weight 1
    # Each row's weight over the largest class weight: at most 1.
    np.testing.assert_array_equal(row_weights[0], np.where(y == 1, 1.0, 0.25))
    assert clf.class_weight == {"yes": 4.0}


def test_sample_weights_over_a_public_bound_reach_training(imbalanced, row_weights):
    X, y = imbalanced
    weights = np.linspace(1.0, 50.0, len(y))
    clf = _clf(class_weight={1: 2.0}, max_sample_weight=100.0)
    assert fit_recording_leaks(clf, X, y, sample_weight=weights) == []
    np.testing.assert_allclose(row_weights[0], weights / 100.0 * np.where(y == 1, 1.0, 0.5), rtol=1e-6)
    with pytest.raises(ValueError, match=r"sample_weight holds weights up to 50, above max_sample_weight=10.0"):
        _clf(max_sample_weight=10.0).fit(X, y, sample_weight=weights)


def test_sample_weights_without_a_bound_warn_that_their_maximum_was_read(imbalanced, row_weights):
    X, y = imbalanced
    caught = fit_recording_leaks(_clf(), X, y, sample_weight=np.arange(len(y)) % 4)
    assert len(caught) == 1 and "largest value of sample_weight" in str(caught[0].message)
    assert "max_sample_weight" in str(caught[0].message)
    np.testing.assert_allclose(row_weights[0], (np.arange(len(y)) % 4) / 3, rtol=1e-6)
    # Weights that are all alike change nothing.
    assert fit_recording_leaks(_clf(max_sample_weight=2.0), X, y, sample_weight=np.full(len(y), 2.0)) == []
    assert row_weights[-1] is None


def test_sample_weight_is_routed_by_scikit_learn_metadata_routing(imbalanced, row_weights):
    import sklearn
    from sklearn.model_selection import cross_validate

    X, y = imbalanced
    weights = np.where(y == 1, 5.0, 1.0)
    with sklearn.config_context(enable_metadata_routing=True):
        clf = _clf(max_sample_weight=5.0, max_epochs=1).set_fit_request(sample_weight=True)
        clf.set_score_request(sample_weight=False)
        cross_validate(clf, X, y, cv=2, params={"sample_weight": weights})
    # Each fold's fit received its rows' weights.
    assert len(row_weights) == 2 and all(np.isclose(w[:, None], [0.2, 1.0]).any(axis=1).all() for w in row_weights)


def test_balanced_weights_warn_that_class_counts_leaked(imbalanced):
    X, y = imbalanced
    clf = _clf(class_weight="balanced")
    caught = fit_recording_leaks(clf, X, y)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "class_weight='balanced'" in message and "number of training rows of each class" in message
    assert "dict {class: weight}" in message
    # The warning points at the line that called fit (the helper, in conftest.py).
    assert caught[0].filename == conftest.__file__
    np.testing.assert_allclose(clf.class_weight_, compute_class_weight("balanced", classes=np.array([0, 1]), y=y))
    assert clf.class_weight == "balanced"


@pytest.mark.parametrize(
    "class_weight, match",
    [
        ({2: 1.0}, r"gives a weight to \[2\], which is not a class of y \(classes: \[0, 1\]\)"),
        ({1: -1.0}, "negative or not finite"),
        ({1: np.nan}, "negative or not finite"),
        ("auto", "'class_weight' parameter .* Got 'auto'"),
    ],
)
def test_bad_class_weight_raises_clearly(imbalanced, class_weight, match):
    X, y = imbalanced
    with pytest.raises(ValueError, match=match):
        _clf(class_weight=class_weight).fit(X, y)


def test_weighting_the_minority_class_raises_its_predicted_share(imbalanced):
    X, y = imbalanced
    params = dict(epsilon=np.inf, max_epochs=5)
    plain = _clf(**params).fit(X, y).predict_proba(X)[:, 1].mean()
    weighted = _clf(class_weight={1: 7.0}, **params).fit(X, y).predict_proba(X)[:, 1].mean()
    assert weighted > plain + 0.05


def test_private_fit_with_weights_keeps_the_budget(imbalanced):
    X, y = imbalanced
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        clf = _clf(class_weight="balanced", epsilon=1.0).fit(X, y)
    assert 0 < clf.epsilon_ <= 1.0
    assert np.all(np.isfinite(clf.predict_proba(X)))


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
def test_each_rows_clipped_gradient_is_weighted_and_bounded():
    """Row i contributes w_i * clip(g_i): its weight acts on it although it is clipped, and no
    row's contribution exceeds max_grad_norm, as Opacus' per-sample gradients show."""
    torch.manual_seed(0)
    linear = torch.nn.Linear(4, 3)
    x, labels = torch.randn(6, 4) * 10, torch.tensor([0, 1, 2, 0, 1, 2])
    weights = torch.tensor([1.0, 0.25, 0.5, 1.0, 0.0, 0.75])
    hooks = GradSampleHooks(linear, loss_reduction="mean")
    optimizer = RowWeightedDPOptimizer(
        torch.optim.SGD(linear.parameters(), lr=1.0), noise_multiplier=0.0, max_grad_norm=1.0, expected_batch_size=6
    )
    torch.nn.functional.cross_entropy(linear(x), labels, reduction="none").mean().backward()
    per_row = [p.grad_sample.clone() for p in optimizer.params]
    norms = torch.stack([g.reshape(6, -1).norm(dim=1) for g in per_row], dim=1).norm(dim=1)
    assert torch.all(norms > 1.0)  # every row is clipped
    optimizer.row_weight = weights
    optimizer.clip_and_accumulate()
    contributed = torch.stack([p.grad_sample.reshape(6, -1).norm(dim=1) for p in optimizer.params], dim=1).norm(dim=1)
    torch.testing.assert_close(contributed, weights, atol=1e-5, rtol=0)  # w_i * max_grad_norm
    assert torch.all(contributed <= 1.0 + 1e-6)
    for p, g in zip(optimizer.params, per_row):
        expected = torch.einsum("i,i...", weights / (norms + 1e-6), g)
        torch.testing.assert_close(p.summed_grad, expected, rtol=1e-4, atol=1e-6)
    hooks.cleanup()


def test_class_weights_raise_minority_predictions_under_dp(imbalanced):
    """Before, a weight multiplied the gradient before clipping, which undid it on every clipped
    row: predictions were bit-identical with and without weights."""
    X, y = imbalanced
    params = dict(epsilon=1.0, max_epochs=5, batch_size=64)
    plain = _clf(**params).fit(X, y).predict_proba(X)[:, 1].mean()
    weighted = _clf(class_weight={1: 8.0}, **params).fit(X, y).predict_proba(X)[:, 1].mean()
    assert weighted > plain + 0.05


def test_regressor_takes_sample_weight(imbalanced, row_weights):
    X, _ = imbalanced
    target = X[:, 0]
    reg = DPAttentionRegressor(**{**FAST_PARAMS, "random_state": 0, "bounds": (-1, 1), "target_bounds": (-1, 1)})
    reg.set_params(max_sample_weight=2.0).fit(X, target, sample_weight=np.where(target > 0, 2.0, 1.0))
    np.testing.assert_array_equal(row_weights[0], np.where(target > 0, 1.0, 0.5))
