"""class_weight: public dicts, warned balanced weights, and a per-row loss that DP-SGD can clip."""

import warnings

import numpy as np
import pytest
import torch
from opacus import GradSampleModule
from sklearn.utils.class_weight import compute_class_weight

from sk_privattn import DPAttentionClassifier, PrivacyLeakWarning
from sk_privattn.nn import RowWeightedCrossEntropy

from _settings import FAST_PARAMS
import conftest
from conftest import fit_recording_leaks


def _clf(**params):
    return DPAttentionClassifier(**{**FAST_PARAMS, "random_state": 0, "bounds": (-1, 1), **params})


@pytest.fixture(scope="module")
def imbalanced():
    """About 12 % positives, which depend on the first feature."""
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(400, 3))
    y = (X[:, 0] + rng.normal(0, 0.5, size=400) > 1.0).astype(int)
    return X, y


def test_no_class_weight_is_plain_cross_entropy(imbalanced):
    X, y = imbalanced
    clf = _clf()
    assert fit_recording_leaks(clf, X, y) == []
    np.testing.assert_array_equal(clf.class_weight_, [1.0, 1.0])
    assert type(clf.net_.criterion_) is torch.nn.CrossEntropyLoss


def test_dict_weights_are_public_and_reach_the_loss(imbalanced):
    X, y = imbalanced
    labels = np.array(["no", "yes"])[y]
    clf = _clf(class_weight={"yes": 4.0})
    assert fit_recording_leaks(clf, X, labels) == []
    np.testing.assert_array_equal(clf.class_weight_, [1.0, 4.0])  # "no" left out: weight 1
    assert isinstance(clf.net_.criterion_, RowWeightedCrossEntropy)
    np.testing.assert_array_equal(clf.net_.criterion_.weight.numpy(), [1.0, 4.0])
    assert clf.class_weight == {"yes": 4.0}


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


def _linear():
    linear = torch.nn.Linear(4, 3)
    torch.nn.init.constant_(linear.weight, 0.1)
    torch.nn.init.zeros_(linear.bias)
    return linear


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
def test_a_rows_weighted_gradient_depends_on_that_row_only():
    # Opacus clips each row's gradient: it must be weight[y_i] times the
    # row's own gradient, whatever the other rows' labels. torch's
    # CrossEntropyLoss(weight=...) divides by the batch's total weight instead.
    x = torch.linspace(-1, 1, 24).reshape(6, 4)
    weight = torch.tensor([1.0, 5.0, 0.5])

    def per_row_gradients(labels):
        module = GradSampleModule(_linear(), loss_reduction="mean")
        RowWeightedCrossEntropy(weight)(module(x), labels).backward()
        gradients = module._module.weight.grad_sample.clone()
        module._close()
        return gradients

    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    relabelled = torch.tensor([0, 0, 2, 0, 1, 0])  # rows 0, 2 and 4 keep their labels; the total weight changes
    first, second = per_row_gradients(labels), per_row_gradients(relabelled)
    torch.testing.assert_close(first[[0, 2, 4]], second[[0, 2, 4]])
    alone = _linear()
    torch.nn.functional.cross_entropy(alone(x[1:2]), labels[1:2]).backward()
    torch.testing.assert_close(first[1], 5.0 * alone.weight.grad)
