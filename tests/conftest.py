import warnings

import numpy as np
import pandas as pd
import pytest

from sk_privattn import PrivacyLeakWarning


def fit_recording_leaks(estimator, X, y):
    """Fit ``estimator``; return the PrivacyLeakWarnings that the fit raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimator.fit(X, y)
    return [w for w in caught if issubclass(w.category, PrivacyLeakWarning)]


def make_mixed_frame(n_samples=300, seed=0):
    """Two numeric and two categorical columns; the label depends on both kinds."""
    rng = np.random.RandomState(seed)
    age = rng.uniform(18, 80, n_samples)
    income = rng.uniform(0, 100, n_samples)
    color = rng.choice(["red", "green", "blue"], n_samples)
    size = rng.choice(["S", "M", "L", "XL"], n_samples)
    score = (age - 50) / 30 + (income - 50) / 50 + (color == "red") * 1.5 - (size == "S")
    X = pd.DataFrame(
        {
            "age": age,
            "color": pd.Categorical(color, categories=["red", "green", "blue"]),
            "income": income,
            "size": pd.Categorical(size, categories=["S", "M", "L", "XL"]),
        }
    )
    y = (score + rng.normal(0, 0.3, n_samples) > 0).astype(int)
    return X, y


PUBLIC = dict(
    bounds={"age": (18, 80), "income": (0, 100)},
    categories={"color": ["red", "green", "blue"], "size": ["S", "M", "L", "XL"]},
)


@pytest.fixture
def mixed_frame():
    return make_mixed_frame()


@pytest.fixture
def numeric_data():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(200, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return X, y


def pytest_configure(config):
    # Under pytest-xdist every worker is its own process: one torch thread
    # each keeps two workers from fighting over the two cores, which costs
    # small models far more than it saves.
    import os

    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)
