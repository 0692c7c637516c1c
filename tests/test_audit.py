"""Membership-inference audit: any classifier, the bounds it proves, and their honesty."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from sk_privattn import DPAttentionClassifier
from sk_privattn.audit import _bound_at, empirical_epsilon, membership_inference

from _settings import FAST_PARAMS


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
    assert on_forest.auc > 0.75 and on_forest.advantage > 0.4
    assert on_forest.epsilon_lower_bound > 0.5
    assert 0.4 < on_linear.auc < 0.6 and on_linear.epsilon_lower_bound < on_forest.epsilon_lower_bound
    assert "loss" in repr(on_forest)


def test_lira_with_reference_rows_and_with_the_non_member_pool():
    members, nonmembers, reference = _split_data()
    forest = RandomForestClassifier(n_estimators=30, min_samples_leaf=1, random_state=0).fit(*members)
    with_reference = membership_inference(
        forest, *members, *nonmembers, attack="lira", X_reference=reference[0], y_reference=reference[1],
        n_shadow=4, random_state=0,
    )
    from_pool = membership_inference(forest, *members, *nonmembers, attack="lira", n_shadow=4, random_state=0)
    assert with_reference.auc > 0.75 and from_pool.auc > 0.75


def test_a_dp_model_is_not_proved_to_spend_more_than_its_epsilon():
    members, nonmembers, _ = _split_data(n=900)
    clf = DPAttentionClassifier(epsilon=1.0, delta=1e-4, bounds=(-4, 4), **FAST_PARAMS, random_state=0)
    clf.fit(*members)
    result = membership_inference(clf, *members, *nonmembers, delta=1e-4, random_state=0)
    assert result.epsilon_lower_bound <= clf.epsilon_


def test_audit_rejects_what_it_cannot_attack():
    members, nonmembers, _ = _split_data(n=300)
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(*members)
    with pytest.raises(ValueError, match="attack='mia'"):
        membership_inference(forest, *members, *nonmembers, attack="mia")
    with pytest.raises(ValueError, match="does not know"):
        membership_inference(forest, members[0], members[1] + 5, *nonmembers)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(20, 400),
    true_pos=st.integers(0, 400),
    false_pos=st.integers(0, 400),
    delta=st.sampled_from([0.0, 1e-5, 1e-2]),
)
def test_the_bound_is_at_most_the_point_estimate(n, true_pos, false_pos, delta):
    # Clopper-Pearson only shrinks the bound below what the raw rates would say.
    true_pos, false_pos = min(true_pos, n), min(false_pos, n)
    bound = _bound_at(true_pos, n, false_pos, n, delta, 0.95)
    tpr, fpr = true_pos / n, false_pos / n
    point = [0.0]
    if tpr - delta > 0 and fpr > 0:
        point.append(np.log((tpr - delta) / fpr))
    if 1 - fpr - delta > 0 and 1 - tpr > 0:
        point.append(np.log((1 - fpr - delta) / (1 - tpr)))
    if fpr > 0 and 1 - tpr > 0:
        assert bound <= max(point) + 1e-9
    assert bound >= 0


def test_indistinguishable_scores_prove_little():
    rng = np.random.RandomState(1)
    bounds = [empirical_epsilon(rng.normal(size=500), rng.normal(size=500), random_state=s)[0] for s in range(10)]
    # At 95% confidence, a bound above 0 from identical distributions is a rare false alarm.
    assert sum(bound > 0 for bound in bounds) <= 2
