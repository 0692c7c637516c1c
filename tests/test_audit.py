"""Empirical audits: the one-run audit's valid bound, and membership-inference scores."""

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from sk_privattn import DPAttentionClassifier
from sk_privattn.audit import membership_inference, one_run_audit, one_run_epsilon


def _split_data(n=1200, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 5))
    y = (X[:, 0] + rng.normal(scale=1.5, size=n) > 0).astype(int)
    third = n // 3
    return (X[:third], y[:third]), (X[third:2 * third], y[third:2 * third]), (X[2 * third:], y[2 * third:])


def test_loss_attack_finds_a_memorising_forest_and_not_a_linear_model():
    members, nonmembers, _ = _split_data()
    forest = RandomForestClassifier(n_estimators=50, random_state=0).fit(*members)
    linear = LogisticRegression().fit(*members)
    on_forest = membership_inference(forest, *members, *nonmembers, random_state=0)
    on_linear = membership_inference(linear, *members, *nonmembers, random_state=0)
    assert on_forest.auc > 0.75 and on_forest.advantage > 0.4 and on_forest.tpr_at_low_fpr > 0.05
    assert 0.4 < on_linear.auc < 0.6
    assert "loss" in repr(on_forest)
    # Scores only: rows scored against one model are not independent trials, so no ε bound.
    assert not hasattr(on_forest, "epsilon_lower_bound")


def test_lira_with_reference_rows_and_with_the_non_member_pool():
    members, nonmembers, reference = _split_data()
    forest = RandomForestClassifier(n_estimators=30, min_samples_leaf=1, random_state=0).fit(*members)
    with_reference = membership_inference(
        forest, *members, *nonmembers, attack="lira", X_reference=reference[0], y_reference=reference[1],
        n_shadow=4, random_state=0,
    )
    from_pool = membership_inference(forest, *members, *nonmembers, attack="lira", n_shadow=4, random_state=0)
    assert with_reference.auc > 0.75 and from_pool.auc > 0.75


def test_audit_rejects_what_it_cannot_attack():
    members, nonmembers, _ = _split_data(n=300)
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(*members)
    with pytest.raises(ValueError, match="attack='mia'"):
        membership_inference(forest, *members, *nonmembers, attack="mia")
    with pytest.raises(ValueError, match="does not know"):
        membership_inference(forest, members[0], members[1] + 5, *nonmembers)
    with pytest.raises(ValueError, match="mode='grey-box'"):
        one_run_audit(forest, *members, *nonmembers, mode="grey-box")
    with pytest.raises(ValueError, match="int random_state"):
        one_run_audit(DPAttentionClassifier(), *members, *nonmembers, mode="white-box")


N_CANARIES = 400
COMMON_WARDS = ["a", "b", "c"]
# Small, and trained long enough that without noise it memorises its canaries.
CANARY_MODEL = dict(bounds={"x": (-1, 1)}, categories="from_dtype", d_token=8, n_heads=2, n_layers=1, batch_size=32,
                    max_epochs=15, lr=0.05, random_state=0)


def _canaries():
    """200 rows, and canaries that only memorising fits: each has a ward of its own and the wrong label."""
    rng = np.random.RandomState(0)
    wards = [*COMMON_WARDS, *[f"canary{j}" for j in range(N_CANARIES)]]
    x, canary_x = rng.uniform(-1, 1, 200), rng.uniform(-1, 1, N_CANARIES)
    X = pd.DataFrame({"x": x, "ward": pd.Categorical(rng.choice(COMMON_WARDS, 200), categories=wards)})
    X_canary = pd.DataFrame({"x": canary_x, "ward": pd.Categorical(wards[len(COMMON_WARDS):], categories=wards)})
    return X, (x > 0).astype(int), X_canary, (canary_x <= 0).astype(int)


# Black-box: guesses on the 50 highest and 50 lowest scores only, where the attack is surest.
GUESSES = {"black-box": 100, "white-box": 300}


@pytest.mark.parametrize("mode", ["black-box", "white-box"])
def test_one_run_audit_of_a_dp_fit_stays_below_its_epsilon(mode):
    result = one_run_audit(DPAttentionClassifier(epsilon=1.0, **CANARY_MODEL), *_canaries(), mode=mode,
                           n_guesses=GUESSES[mode], random_state=0)
    assert result.epsilon_lower_bound <= result.estimator.epsilon_ <= 1.0
    assert result.delta == result.estimator.delta_


@pytest.mark.parametrize("mode, at_least", [("black-box", 1.5), ("white-box", 3.0)])
def test_one_run_audit_finds_a_fit_without_noise(mode, at_least):
    """The negative control: the same canaries, no clipping or noise, a clearly positive bound."""
    result = one_run_audit(DPAttentionClassifier(epsilon=np.inf, **CANARY_MODEL), *_canaries(), mode=mode,
                           n_guesses=GUESSES[mode], delta=1e-4, random_state=0)
    assert result.epsilon_lower_bound > at_least


class _Recording(LogisticRegression):
    def fit(self, X, y):
        self.trained_on_ = np.asarray(X)[:, 0]
        return super().fit(X, y)


def test_one_run_audit_membership_is_the_auditors_coin():
    X, y, X_canary, y_canary = _canaries()
    X, X_canary = X[["x"]].to_numpy(), X_canary[["x"]].to_numpy()
    first = one_run_audit(_Recording(), X, y, X_canary, y_canary, delta=1e-5, random_state=1)
    again = one_run_audit(_Recording(), X, y, X_canary, y_canary, delta=1e-5, random_state=1)
    other = one_run_audit(_Recording(), X, y, X_canary, y_canary, delta=1e-5, random_state=2)
    np.testing.assert_array_equal(first.included, again.included)
    assert not np.array_equal(first.included, other.included)
    assert abs(first.included.mean() - 0.5) < 0.1
    # Trained on the rows and the canaries whose coin said so, and nothing else.
    np.testing.assert_array_equal(first.estimator.trained_on_, np.r_[X[:, 0], X_canary[first.included, 0]])
    assert first.epsilon_lower_bound == one_run_epsilon(N_CANARIES, 100, first.n_correct, delta=1e-5)
    assert "guesses right" in repr(first)
