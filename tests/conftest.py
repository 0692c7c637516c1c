import contextlib
import warnings

import numpy as np
import pandas as pd
import pytest

from sk_privattn import PrivacyLeakWarning


def fit_recording_leaks(estimator, X, y, **fit_params):
    """Fit ``estimator``; return the PrivacyLeakWarnings that the fit raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimator.fit(X, y, **fit_params)
    return [w for w in caught if issubclass(w.category, PrivacyLeakWarning)]


@contextlib.contextmanager
def recorded_batch_sizes(module):
    """The size of every training batch that ``module`` sees inside the block, in order."""
    sizes = []

    def record(module, args, kwargs):
        if module.training:
            sizes.append(len(next(iter(kwargs.values())) if kwargs else args[0]))

    handle = module.register_forward_pre_hook(record, with_kwargs=True)
    try:
        yield sizes
    finally:
        handle.remove()


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


def make_series(n_samples=160, n_timesteps=16, n_channels=2, seed=0):
    """Noisy sine waves whose frequency is the label, in a 3-D array."""
    rng = np.random.RandomState(seed)
    y = rng.randint(2, size=n_samples)
    t = np.linspace(0, 1, n_timesteps)
    phase = rng.uniform(0, 2 * np.pi, size=(n_samples, 1, n_channels))
    X = np.sin(2 * np.pi * (1 + 2 * y[:, None, None]) * t[None, :, None] + phase)
    return X + 0.2 * rng.randn(n_samples, n_timesteps, n_channels), y


#: Estimator kinds that every test of the shared machinery (privacy
#: accounting, persistence, search) runs on, and the data each one takes.
KINDS = ["tabular", "sequence-transformer", "sequence-lstm"]


def make_case(kind, **params):
    """An unfitted small estimator of ``kind`` and data for it."""
    from sk_privattn import DPAttentionClassifier, DPSequenceClassifier

    from _settings import FAST_PARAMS, FAST_SEQUENCE_PARAMS

    if kind == "tabular":
        X, y = make_mixed_frame()
        estimator = DPAttentionClassifier(**{**FAST_PARAMS, "random_state": 0, **PUBLIC, "classes": [0, 1], **params})
    else:
        X, y = make_series()
        architecture = "transformer" if kind == "sequence-transformer" else "lstm_attention"
        estimator = DPSequenceClassifier(
            **{**FAST_SEQUENCE_PARAMS, "random_state": 0, "architecture": architecture, "classes": [0, 1], **params}
        )
    return estimator, X, y


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
