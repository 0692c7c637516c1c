"""A white-box one-run audit (Steinke, Nasr & Jagielski, 2023) of a DP fit.

Each of ``M`` canaries (a row with a ward that no other row has, and a
label that contradicts its feature) goes into the training data by a fair
coin. The model is trained once. The attacker knows the public category list
and the initial weights (data-independent, so knowing them breaks no DP
guarantee) and reads everything the fitted estimator holds: it scores each
canary by how far its ward's embedding moved, and by any per-sample or
un-noised gradient left on the model. It guesses "in" for the highest
scores and "out" for the lowest. The number of right guesses gives an ε
lower bound, which must not exceed ``epsilon_``. The same attack on the
same fit with the noise turned off must find a large ε: the audit can fail.

The attacker does not regenerate the noise from ``random_state``: whoever
knows a fixed seed can, which is why ``random_state=None`` draws secret
seeds (docs/privacy.md). The seed is fixed here so that the test is
deterministic.
"""

import numpy as np
import pandas as pd
import pytest

from sk_privattn import DPAttentionClassifier
from sk_privattn.audit import one_run_epsilon

N_CANARIES = 400
N_GUESSES_EACH_WAY = 150
COMMON_WARDS = ["a", "b", "c"]
PARAMS = dict(bounds={"x": (-1, 1)}, categories="from_dtype", d_token=8, n_heads=2, n_layers=1, batch_size=32,
              max_epochs=6, random_state=0)


def _canary_data():
    rng = np.random.RandomState(0)
    x = rng.uniform(-1, 1, 200)
    wards = rng.choice(COMMON_WARDS, 200)
    canary_wards = np.array([f"canary{j}" for j in range(N_CANARIES)])
    included = rng.rand(N_CANARIES) < 0.5
    canary_x = rng.uniform(-1, 1, N_CANARIES)
    X = pd.DataFrame(
        {
            "x": np.r_[x, canary_x[included]],
            "ward": pd.Categorical(np.r_[wards, canary_wards[included]], categories=[*COMMON_WARDS, *canary_wards]),
        }
    )
    y = np.r_[x > 0, canary_x[included] <= 0].astype(int)
    return X, y, included


def _canary_scores(fitted, initial):
    """How much each canary's ward embedding moved, plus anything gradient-like left on that table."""
    tokenizer = fitted.module_.tokenizer
    first = tokenizer._categorical_offsets[0] + 1 + len(COMMON_WARDS)  # code 0 is "unknown"
    rows = slice(first, first + N_CANARIES)
    table = tokenizer.table.weight
    moved = (table - initial.module_.tokenizer.table.weight).detach()[rows].norm(dim=1).numpy()
    for name, value in {**vars(table), "grad": table.grad}.items():
        if value is not None and getattr(value, "shape", None) == table.shape:
            moved = moved + 1e6 * (value.detach()[rows].abs().sum(dim=1).numpy() > 0)
    return moved


def _audit(epsilon, architecture):
    X, y, included = _canary_data()
    params = {**PARAMS, "architecture": architecture}
    fitted = DPAttentionClassifier(epsilon=epsilon, **params).fit(X, y)
    # The initial weights: the same seed, a learning rate too small to move them.
    initial = DPAttentionClassifier(epsilon=np.inf, **{**params, "lr": 1e-30, "max_epochs": 1}).fit(X, y)
    order = np.argsort(_canary_scores(fitted, initial), kind="stable")
    guessed_in, guessed_out = order[-N_GUESSES_EACH_WAY:], order[:N_GUESSES_EACH_WAY]
    correct = int(included[guessed_in].sum() + (~included[guessed_out]).sum())
    bound = one_run_epsilon(N_CANARIES, 2 * N_GUESSES_EACH_WAY, correct, delta=fitted.delta_)
    return bound, fitted


#: Every network of the tabular estimators; both keep the canaries' wards in ``tokenizer.table``.
ARCHITECTURES = ["ft_transformer", "polynomial"]


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("epsilon", [1.0, 8.0])
def test_one_run_audit_stays_below_the_epsilon_spent(epsilon, architecture):
    bound, fitted = _audit(epsilon, architecture)
    assert bound <= fitted.epsilon_ <= epsilon


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_one_run_audit_detects_training_without_noise(architecture):
    """The negative control: the same attack, noise and clipping off, finds a large ε."""
    bound, fitted = _audit(np.inf, architecture)
    assert bound > 3.0
