"""The privacy of a whole workflow: the ledger, the report, the budget, private selection."""

import math
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sk_privattn import (
    BudgetExceededError,
    DPAttentionClassifier,
    PrivacyBudget,
    PrivacyLedger,
    privacy_report,
)
from sk_privattn.privacy._recording import record_id
from sk_privattn.model_selection import PrivateRandomSearch, selection_rdp
from sk_privattn.privacy import compute_epsilon

from _settings import FAST_PARAMS

TINY = dict(FAST_PARAMS, bounds=(-1, 1), classes=[0, 1], random_state=0)


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(300, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return X, y


def _history(record):
    return [tuple(entry) for entry in record["history"]]


def test_report_of_a_parallel_search_composes_the_fits_of_each_row(data):
    X, y = data
    search = GridSearchCV(DPAttentionClassifier(**TINY), {"epsilon": [1.0, 3.0]}, cv=KFold(2), n_jobs=2)
    with PrivacyLedger() as ledger:
        search.fit(X, y)
    records = ledger.records
    # 2 candidates x 2 folds in the worker processes, and the refit in this one.
    assert len(records) == 5 and all(record["status"] == "complete" for record in records)
    report = privacy_report(search, ledger=ledger)
    roles = report.to_frame()["role"].value_counts().to_dict()
    assert roles == {"cv fold": 4, "refit": 1}
    # With cv=2 every row is in one fold fit of each candidate, and in the refit.
    assert report.rows_per_fit_count == {3: len(X)}
    refit = next(r for r in records if r["id"] == record_id(search.best_estimator_))
    # Each fit planned from its own DP count of its rows, never from their exact number.
    assert all(r["count"]["source"] == "dp" and r["pure_epsilon"] > 0 for r in records)
    assert all(r["n_samples"] == r["count"]["value"] for r in records)
    assert report.total_delta == min(r["delta"] for r in records)
    assert report.selected_epsilon == search.best_estimator_.epsilon_
    # Not a sum, and more than any single fit, and less than composing all five.
    all_five = sum(r["pure_epsilon"] for r in records) + compute_epsilon(
        [e for r in records for e in _history(r)], report.total_delta
    )
    assert max(r["epsilon"] for r in records) < report.total_epsilon < all_five
    assert report.total_epsilon < sum(r["epsilon"] for r in records)
    assert not report.covers_selection
    assert "validation scores" in repr(report)


def test_report_needs_the_ledger_for_a_search(data):
    X, y = data
    search = GridSearchCV(DPAttentionClassifier(**TINY), {"epsilon": [1.0]}, cv=2).fit(X, y)
    with pytest.raises(ValueError, match=r"with sk_privattn.PrivacyLedger\(\) as ledger"):
        privacy_report(search)


def test_report_of_a_pipeline_and_of_cross_validate(data):
    X, y = data
    pipe = make_pipeline(FunctionTransformer(), DPAttentionClassifier(**TINY)).fit(X, y)
    report = privacy_report(pipe)
    assert report.total_epsilon == pipe[-1].epsilon_ == report.selected_epsilon
    assert report.to_frame().loc[0, "steps"] == pipe[-1].n_steps_

    with PrivacyLedger() as ledger:
        cv = cross_validate(pipe, X, y, cv=KFold(3), return_estimator=True)
    exact = privacy_report(cv, ledger=ledger)
    assert exact.rows_per_fit_count == {2: len(X)}  # each row is in 2 of the 3 fold fits
    conservative = privacy_report(cv)
    assert "upper bound" in conservative.method
    assert exact.total_epsilon < conservative.total_epsilon


def test_recording_survives_clone_and_pickle_and_ends_with_the_block(data):
    X, y = data
    with PrivacyLedger() as ledger:
        travelled = pickle.loads(pickle.dumps(clone(DPAttentionClassifier(**TINY))))
    # Unpickled inside the block, fitted in it: recorded, as in a joblib worker.
    with PrivacyLedger() as second:
        pickled_in_second = pickle.dumps(DPAttentionClassifier(**TINY))
        pickle.loads(pickled_in_second).fit(X, y)
    assert len(second.records) == 1
    # After its block, a ledger records nothing more.
    travelled.fit(X, y)
    pickle.loads(pickled_in_second).fit(X, y)
    assert ledger.records == [] and len(second.records) == 1


def test_the_report_of_one_model_is_its_own_epsilon(data):
    X, y = data
    clf = DPAttentionClassifier(epsilon=2.0, **TINY).fit(X, y)
    report = privacy_report(clf)
    assert report.total_epsilon == clf.epsilon_
    with pytest.raises(ValueError, match="holds no fitted DP estimator"):
        privacy_report(FunctionTransformer())


def test_budget_allows_two_fits_and_refuses_a_third(data):
    X, y = data
    clf = DPAttentionClassifier(epsilon=1.3, delta=1e-4, **TINY)
    with PrivacyBudget(epsilon=2.0, delta=1e-4) as budget:
        clf.fit(X, y)
        clf.fit(X, y)
        spent = budget.spent_epsilon
        assert 1.3 < spent <= 2.0
        with pytest.raises(BudgetExceededError, match=r"over the budget of ε=2\. Remaining budget: ε=0\.18") as error:
            clf.fit(X, y)
        assert "DPAttentionClassifier(epsilon=1.3) would spend ε=1.29" in str(error.value)
    # The refused fit had released its DP count of the rows to make its plan: that is spent.
    assert [record["status"] for record in budget.records] == ["complete", "complete", "refused"]
    assert budget.records[-1]["history"] == [] and budget.records[-1]["pure_epsilon"] == pytest.approx(0.026)
    assert budget.spent_epsilon == pytest.approx(spent + 0.026)


class _NoReading:
    """Training data that must not be read: it has a shape and nothing else."""

    shape = (300, 3)

    def __len__(self):
        return 300

    def __array__(self, *args, **kwargs):
        raise AssertionError("the data was read")


def test_budget_refuses_before_reading_any_data(data):
    X, y = data
    with PrivacyBudget(epsilon=1.0, delta=1e-4):
        with pytest.raises(BudgetExceededError, match="over the budget"):
            DPAttentionClassifier(epsilon=3.0, delta=1e-4, **TINY).fit(_NoReading(), y)
        with pytest.raises(BudgetExceededError, match="over the budget"):
            DPAttentionClassifier(epsilon=np.inf, **TINY).fit(_NoReading(), y)


class _FailingAdam(torch.optim.Adam):
    """Fails at its third step, as a fit that runs out of memory part-way would."""

    def step(self, closure=None):
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls == 3:
            raise RuntimeError("out of memory")
        return super().step(closure)


def test_a_fit_that_fails_part_way_still_records_what_it_spent(data):
    X, y = data
    with PrivacyBudget(epsilon=5.0, delta=1e-4) as budget:
        with pytest.raises(RuntimeError, match="out of memory"):
            DPAttentionClassifier(epsilon=1.0, delta=1e-4, optimizer=_FailingAdam, **TINY).fit(X, y)
    (record,) = budget.records
    assert record["status"] == "failed"
    # The accountant counts a step before the wrapped optimizer's update runs.
    assert sum(steps for *_, steps in record["history"]) == 3
    assert 0 < budget.spent_epsilon < 1.0


def test_private_search_covers_the_selection(data):
    X, y = data
    clf = DPAttentionClassifier(**TINY)
    search = PrivateRandomSearch(clf, {"epsilon": [0.5, 1.0]}, mean_n_candidates=3, random_state=0).fit(X, y)
    assert search.best_params_ in [{"epsilon": 0.5}, {"epsilon": 1.0}]
    # Only the chosen candidate is public: the number of candidates and the other scores are not kept.
    assert not {"n_candidates_", "candidates_"} & set(vars(search))
    assert np.isfinite(search.best_score_)
    assert search.predict(X).shape == (len(X),)
    report = privacy_report(search)
    assert report.covers_selection and report.total_epsilon == search.epsilon_
    # Each candidate trained on its own seed, drawn from the search's generator.
    assert search.best_estimator_.random_state != clf.random_state
    # The whole search costs more than its most expensive candidate alone, but is finite.
    assert 1.0 < search.epsilon_ < 10.0


class _SeedRecording(DPAttentionClassifier):
    """Records the random_state with which each candidate trains."""

    seeds = []

    def fit(self, X, y):
        type(self).seeds.append(self.random_state)
        return super().fit(X, y)


@pytest.mark.parametrize("search_seed", [None, 0, np.random.RandomState(0)])
def test_private_search_trains_each_candidate_on_its_own_seed(data, search_seed):
    X, y = data
    _SeedRecording.seeds = []
    # The base estimator has a fixed seed, as in the docstring example: no candidate may train on it.
    search = PrivateRandomSearch(_SeedRecording(**TINY), {"epsilon": [1.0, 2.0]}, mean_n_candidates=3,
                                 random_state=search_seed)
    generator_before = pickle.dumps(search_seed)
    search.fit(X, y)
    seeds = _SeedRecording.seeds
    assert 0 not in seeds
    if search_seed is None:
        # Secret seeds, drawn by each candidate; none is kept in best_estimator_'s parameters.
        assert seeds == [None] * len(seeds)
    else:
        assert len(seeds) == 4 and len(set(seeds)) == 4  # search seed 0 draws four candidates
    if isinstance(search_seed, np.random.RandomState):
        # One draw from the caller's generator, whatever the number of candidates.
        expected = pickle.loads(generator_before)
        expected.randint(np.iinfo(np.int32).max)
        assert pickle.dumps(search_seed) == pickle.dumps(expected)


def test_private_search_refuses_a_non_private_candidate(data):
    X, y = data
    search = PrivateRandomSearch(DPAttentionClassifier(**TINY), {"epsilon": [1.0, np.inf]})
    with pytest.raises(ValueError, match=r"not private \(epsilon=inf\)"):
        search.fit(X, y)


@settings(max_examples=30, deadline=None)
@given(
    rdp=st.lists(st.floats(0.0, 5.0), min_size=3, max_size=3),
    extra=st.floats(0.0, 1.0),
    mean=st.floats(1.01, 100.0),
)
def test_selection_rdp_is_above_one_run_and_grows_with_it_and_with_the_candidates(rdp, extra, mean):
    orders = np.array([2.0, 8.0, 32.0])
    rdp = np.array(rdp)
    bound = selection_rdp(rdp, mean, orders)
    assert np.all(bound >= rdp)
    assert np.all(selection_rdp(rdp + extra, mean, orders) >= bound - 1e-12)
    assert np.all(selection_rdp(rdp, mean * 2, orders) >= bound)
    assert np.all(np.isfinite(bound)) and not math.isnan(bound.sum())


def test_the_report_splits_one_model_into_its_metadata_count_and_training(tmp_path):
    """No bounds given and a DP count: the report shows each part's ε on its own, recomputed here
    with dp_accounting, and the fit's columns (noise, rate, steps) are its training's, in the
    ledger too."""
    from dp_accounting import GaussianDpEvent, NeighboringRelation, pld

    rng = np.random.RandomState(1)
    X = rng.uniform(-1, 1, size=(3000, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    settings_ = dict(FAST_PARAMS, epsilon=2.0, delta=1e-5, classes=[0, 1], accountant="pld", random_state=0)
    with PrivacyLedger(path=tmp_path / "ledger") as ledger:
        clf = DPAttentionClassifier(**settings_).fit(X, y)
    (release,) = clf.metadata_history_
    assert release == clf.accountant_history_[0] and release[1:] == (1.0, 1)

    report = privacy_report(clf)
    accountant = pld.PLDAccountant(NeighboringRelation.ADD_OR_REMOVE_ONE, value_discretization_interval=1e-4)
    metadata_alone = accountant.compose(GaussianDpEvent(release[0])).get_epsilon(1e-5)
    assert report.parts["metadata"] == pytest.approx(metadata_alone, rel=1e-3)
    assert report.parts["count"] == clf.count_epsilon_ > 0
    training = compute_epsilon(clf.accountant_history_[1:], clf.delta_, "pld", "add_or_remove")
    assert report.parts["training"] == pytest.approx(training)
    assert max(report.parts.values()) < clf.epsilon_ < sum(report.parts.values())
    assert "metadata released with DP ε = " in repr(report) and "DP-SGD training ε = " in repr(report)
    (fit,) = report.fits
    assert (fit["noise_multiplier"], fit["sample_rate"], fit["steps"]) == (
        clf.noise_multiplier_, clf.sample_rate_, clf.n_steps_)
    assert fit["metadata_noise_multiplier"] == release[0]
    (recorded,) = privacy_report(ledger=ledger).fits
    assert (recorded["noise_multiplier"], recorded["sample_rate"], recorded["steps"]) == (
        clf.noise_multiplier_, clf.sample_rate_, clf.n_steps_)
    assert recorded["metadata_noise_multiplier"] == release[0]
    assert privacy_report(clf.set_params(bounds=(-1, 1)).fit(X, y)).parts.keys() == {"count", "training"}
