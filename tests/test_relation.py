"""Every ε holds for the neighbouring relation it states, checked against Google's dp_accounting.

Under add-or-remove the plan reads a count of the rows that is public or released
with pure DP, and ε adds the count's pure ε to the accountant's; under replace-one
the count is public and ε is the replace-one ε. The ledger, the report, the budget
and warm starts compose one relation only.
"""

import itertools
import math
import warnings

import dp_accounting
import numpy as np
import pytest
import torch
from dp_accounting.pld import pld_privacy_accountant

from sk_privattn import (
    BudgetExceededError,
    DPAttentionClassifier,
    DPSequenceClassifier,
    PrivacyBudget,
    PrivacyLedger,
    privacy_report,
)
from sk_privattn.dpsgd import make_private
from sk_privattn.privacy import plan_training
from sk_privattn.privacy import COUNT_EPSILON_SHARE, DPCount, Neighbouring, PublicCount, release_count
from sk_privattn.model_selection import PrivateRandomSearch
from sk_privattn.privacy import compute_epsilon

from _settings import FAST_PARAMS, FAST_SEQUENCE_PARAMS
from conftest import make_series

TINY = dict(FAST_PARAMS, bounds=(-1, 1), classes=[0, 1], random_state=0)


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(300, 3))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


def dp_accounting_epsilon(noise_multiplier, sample_rate, steps, delta, relation):
    """ε of the Poisson-subsampled Gaussian mechanism by dp_accounting's PLD accountant, at a
    finer discretisation than the package uses: an independent recomputation."""
    accountant = pld_privacy_accountant.PLDAccountant(
        neighboring_relation=Neighbouring(relation).dp_accounting, value_discretization_interval=1e-4
    )
    event = dp_accounting.PoissonSampledDpEvent(sample_rate, dp_accounting.GaussianDpEvent(noise_multiplier))
    accountant.compose(dp_accounting.SelfComposedDpEvent(event, steps))
    return accountant.get_epsilon(delta)


SCAN = list(itertools.product([200, 3_000, 60_000], ["auto", 50], ["auto", 3], [0.5, 2.0]))


@pytest.mark.parametrize("relation", ["add_or_remove", "replace_one"])
@pytest.mark.parametrize("n_samples, batch_size, epochs, epsilon", SCAN)
def test_the_plan_spends_at_most_epsilon_for_its_relation_by_dp_accounting(n_samples, batch_size, epochs, epsilon,
                                                                            relation):
    if relation == "add_or_remove":
        count = release_count(n_samples, COUNT_EPSILON_SHARE * epsilon, seed=n_samples)
    else:
        count = PublicCount(n_samples, "relation")
    plan = plan_training(count, epsilon=epsilon, delta=None, batch_size=batch_size, epochs=epochs,
                         accountant="auto", neighbouring=Neighbouring(relation))
    recomputed = count.epsilon + dp_accounting_epsilon(
        plan.noise_multiplier, plan.sample_rate, plan.n_steps, plan.delta, relation
    )
    assert recomputed <= epsilon
    assert recomputed == pytest.approx(plan.epsilon(), rel=0.02)
    assert plan.epsilon() <= epsilon
    if relation == "add_or_remove":
        # Opacus' PRV accountant, another implementation, within its own error bound of 0.01.
        prv = count.epsilon + compute_epsilon(plan.history(), plan.delta, "prv")
        assert abs(prv - plan.epsilon()) <= 0.02 * epsilon + 0.01


@pytest.mark.parametrize("relation", ["add_or_remove", "replace_one"])
@pytest.mark.parametrize("epsilon", [1.0, 8.0])
def test_a_batch_larger_than_n_takes_every_row_at_every_step_and_is_accounted_so(relation, epsilon):
    """DPSequenceClassifier's defaults (batch_size=1024, 50 epochs) on a few hundred series: the
    sample rate is 1, no amplification by sampling, and the ε is that of 50 Gaussian releases
    composed, recomputed without the Poisson event."""
    n_samples = 200
    if relation == "add_or_remove":
        count = release_count(n_samples, COUNT_EPSILON_SHARE * epsilon, seed=0)
    else:
        count = PublicCount(n_samples, "relation")
    plan = plan_training(count, epsilon=epsilon, delta=1 / (10 * n_samples), batch_size=1024, epochs=50,
                         accountant="auto", neighbouring=Neighbouring(relation))
    assert plan.sample_rate == 1.0 and plan.steps_per_epoch == 1 and plan.n_steps == 50
    accountant = pld_privacy_accountant.PLDAccountant(
        neighboring_relation=Neighbouring(relation).dp_accounting, value_discretization_interval=1e-4
    )
    accountant.compose(dp_accounting.GaussianDpEvent(plan.noise_multiplier), 50)
    recomputed = count.epsilon + accountant.get_epsilon(plan.delta)
    assert recomputed <= epsilon
    assert recomputed == pytest.approx(plan.epsilon(), rel=0.02)


def test_replace_one_costs_more_than_add_or_remove_for_the_same_noise():
    """The figures of issue 19: the ε that was printed for Adult at ε = 1 was the add-or-remove
    ε, about half the replace-one ε of the same mechanism."""
    history = [(3.703, 1 / 32, 800)]
    add_or_remove = compute_epsilon(history, 3.07e-6, "pld", "add_or_remove")
    replace_one = compute_epsilon(history, 3.07e-6, "pld", "replace_one")
    assert add_or_remove == pytest.approx(0.987, abs=0.005)
    assert replace_one == pytest.approx(2.02, abs=0.01)
    assert compute_epsilon(history, 3.07e-6, "prv") == pytest.approx(add_or_remove, rel=0.01)


@pytest.mark.parametrize("kind", ["tabular", "sequence"])
def test_a_replace_one_fit_spends_at_most_epsilon_by_dp_accounting(kind):
    if kind == "tabular":
        X = np.random.RandomState(0).uniform(-1, 1, size=(300, 3))
        y = (X[:, 0] > 0).astype(int)
        estimator = DPAttentionClassifier(**TINY, neighbouring="replace_one")
    else:
        X, y = make_series()
        estimator = DPSequenceClassifier(**FAST_SEQUENCE_PARAMS, classes=[0, 1], random_state=0,
                                         neighbouring="replace_one")
    estimator.fit(X, y)
    assert estimator.neighbouring_ == "replace_one" and estimator.accountant_ == "pld"
    # n is public under replace-one: the plan reads it, and nothing is spent on a count.
    assert estimator.count_ == len(y) and estimator.count_epsilon_ == 0.0
    recomputed = dp_accounting_epsilon(estimator.noise_multiplier_, estimator.sample_rate_, estimator.n_steps_,
                                       estimator.delta_, "replace_one")
    assert recomputed <= estimator.epsilon <= 1.0
    assert recomputed == pytest.approx(estimator.epsilon_, rel=0.02)
    # The same plan, accounted as add-or-remove, would print about half.
    assert dp_accounting_epsilon(estimator.noise_multiplier_, estimator.sample_rate_, estimator.n_steps_,
                                 estimator.delta_, "add_or_remove") < 0.7 * estimator.epsilon_


def test_the_dp_count_is_the_exact_count_plus_noise_that_the_seed_fixes():
    """Two neighbours fitted with the same seed draw the same noise: their counts differ by the
    one row. The noise is discrete Laplace of scale 1 / epsilon: its variance is
    2 e^-ε / (1 - e^-ε)^2."""
    assert release_count(1000, 0.05, seed=3).value - release_count(999, 0.05, seed=3).value == 1
    noise = np.array([release_count(10_000, 0.05, seed=seed).value - 10_000 for seed in range(4000)])
    expected_variance = 2 * math.exp(-0.05) / (1 - math.exp(-0.05)) ** 2
    assert abs(noise.mean()) < 3 * math.sqrt(expected_variance / len(noise))
    assert noise.var() == pytest.approx(expected_variance, rel=0.1)
    # Released counts below the floor are raised to it: post-processing.
    assert release_count(3, 0.05, seed=0).value == 100


def test_dp_sgd_divides_by_the_expected_batch_size_of_the_count_not_of_the_rows():
    module = torch.nn.Linear(3, 2)
    plan = plan_training(PublicCount(500, "given"), epsilon=1.0, delta=1e-5, batch_size=50, epochs=1,
                         accountant="prv")
    dpsgd = make_private(module, torch.optim.SGD(module.parameters(), lr=0.1), plan, max_grad_norm=1.0,
                         noise_generator=torch.Generator().manual_seed(0))
    try:
        assert dpsgd.optimizer.expected_batch_size == 500 * plan.sample_rate == 50
    finally:
        dpsgd.cleanup()


def test_the_accountant_must_know_the_relation(data):
    X, y = data
    with pytest.raises(ValueError, match="accountant='prv' cannot account neighbouring='replace_one'.*'pld'"):
        DPAttentionClassifier(**TINY, neighbouring="replace_one", accountant="prv").fit(X, y)
    with pytest.raises(ValueError, match="neighbouring"):
        DPAttentionClassifier(**TINY, neighbouring="add_one").fit(X, y)


def test_a_report_refuses_to_compose_two_relations(data):
    X, y = data
    with PrivacyLedger() as ledger:
        DPAttentionClassifier(**TINY).fit(X, y)
        DPAttentionClassifier(**TINY, neighbouring="replace_one").fit(X, y)
    with pytest.raises(ValueError, match="neighbouring='add_or_remove' and the other under "
                                         "neighbouring='replace_one'"):
        privacy_report(ledger=ledger)
    records = ledger.records
    assert [record["neighbouring"] for record in records] == ["add_or_remove", "replace_one"]
    assert records[0]["count"]["source"] == "dp" and records[1]["count"]["source"] == "relation"


def test_a_budget_composes_one_relation_and_counts_the_dp_counts(data):
    X, y = data
    with PrivacyBudget(epsilon=3.0, delta=1e-4, neighbouring="replace_one") as budget:
        with pytest.raises(ValueError, match="PrivacyBudget and a fit of DPAttentionClassifier.*"
                                             "neighbouring='replace_one'.*neighbouring='add_or_remove'"):
            DPAttentionClassifier(**TINY, delta=1e-4).fit(X, y)
        fitted = DPAttentionClassifier(**TINY, delta=1e-4, neighbouring="replace_one").fit(X, y)
    assert budget.spent_epsilon == pytest.approx(fitted.epsilon_, rel=1e-6)
    with PrivacyBudget(epsilon=3.0, delta=1e-4) as budget:
        first = DPAttentionClassifier(**TINY, delta=1e-4).fit(X, y)
    assert budget.records[0]["pure_epsilon"] == first.count_epsilon_ == pytest.approx(0.02)
    assert budget.spent_epsilon == pytest.approx(first.epsilon_, rel=1e-6)


def test_a_warm_start_keeps_its_relation(data):
    X, y = data
    clf = DPAttentionClassifier(**TINY, warm_start=True, neighbouring="replace_one").fit(X, y)
    with pytest.raises(ValueError, match="neighbouring='add_or_remove', but warm_start=True continues a model "
                                         "whose ε is accounted under neighbouring='replace_one'"):
        clf.set_params(epsilon=2.0, neighbouring="add_or_remove").fit(X, y)
    clf.set_params(neighbouring="replace_one").fit(X, y)
    history = [(noise, rate, steps) for noise, rate, steps in clf.accountant_history_]
    assert clf.epsilon_ == pytest.approx(compute_epsilon(history, clf.delta_, "pld", "replace_one"), rel=1e-6)
    assert clf.epsilon_ <= 2.0


def test_a_private_search_reads_one_count_and_passes_shares_of_it_to_the_candidates(data):
    X, y = data
    search = PrivateRandomSearch(DPAttentionClassifier(**TINY), {"epsilon": [1.0, 2.0]}, mean_n_candidates=2,
                                 random_state=0).fit(X, y)
    assert search.neighbouring_ == "add_or_remove" and search.count_epsilon_ == pytest.approx(0.02)
    # The candidates counted nothing: their plans read the training share of the search's count.
    assert search.best_estimator_.count_epsilon_ == 0.0
    assert search.best_estimator_.count_ == round(search.count_ * 0.8)
    assert search.delta_ == 1e-5  # the default δ under a DP count
    with pytest.raises(ValueError, match="states neighbouring='replace_one', but the search states"):
        PrivateRandomSearch(DPAttentionClassifier(**TINY, neighbouring="replace_one"), {"lr": [0.02]}).fit(X, y)
    replace_one = PrivateRandomSearch(DPAttentionClassifier(**TINY, neighbouring="replace_one"),
                                      {"epsilon": [1.0, 2.0]}, mean_n_candidates=2, neighbouring="replace_one",
                                      random_state=0).fit(X, y)
    assert replace_one.count_ == len(y) and replace_one.count_epsilon_ == 0.0
    assert replace_one.epsilon_ > search.epsilon_


def test_public_count_makes_the_plan_the_same_for_every_n(data):
    X, y = data
    plans = []
    for n_rows in (300, 299, 150):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf = DPAttentionClassifier(**TINY, public_count=300).fit(X[:n_rows], y[:n_rows])
        plans.append((clf.delta_, clf.n_steps_, clf.sample_rate_, clf.noise_multiplier_, clf.batch_size_,
                      clf.epsilon_, clf.count_, clf.count_epsilon_))
    assert plans[0] == plans[1] == plans[2]
    assert plans[0][-2:] == (300, 0.0)


def test_a_dp_count_that_overdraws_epsilon_is_refused():
    with pytest.raises(ValueError, match="leaves nothing for training once the DP counts"):
        plan_training(DPCount(500, 1.0), epsilon=1.0, delta=1e-5, batch_size=50, epochs=1, accountant="prv")
