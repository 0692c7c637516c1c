"""The four leaks found by reading a fitted estimator as an attacker would, each as a test,
and the training plan that the sampler, the accountant and the estimator share."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sk_privattn import DPAttentionClassifier, DPAttentionRegressor, PrivacyLedger
from sk_privattn.privacy import plan_training
from sk_privattn.dpsgd import TensorBatchDataset, batch_source, poisson_loader

from _settings import FAST_PARAMS
from conftest import KINDS, make_case


def _parameters_of_every_copy(fitted):
    """The parameters of module_ and of net_.module_, as pickled and unpickled."""
    copy = pickle.loads(pickle.dumps(fitted))
    for estimator in (fitted, copy):
        for module in (estimator.module_, estimator.net_.module_):
            yield from module.named_parameters()


@pytest.mark.parametrize("kind", KINDS)
def test_no_opacus_attribute_or_gradient_survives_fit(kind):
    """Leak 1: Opacus' summed_grad, the clipped un-noised sum of the last batch, stayed on every parameter."""
    estimator, X, y = make_case(kind, epsilon=0.5)
    fitted = estimator.fit(X, y)
    for name, parameter in _parameters_of_every_copy(fitted):
        assert vars(parameter) == {}, (name, sorted(vars(parameter)))
        assert parameter.grad is None, name
    for module in fitted.module_.modules():
        assert not {"activations", "max_batch_len"} & set(vars(module))


def _holds(value, needle):
    """Whether ``needle`` is a key anywhere in the nested dicts and lists of ``value``."""
    if isinstance(value, dict):
        return needle in value or any(_holds(item, needle) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds(item, needle) for item in value)
    return False


def test_no_training_loss_or_batch_size_is_recorded():
    """Leak 2: history_, net_.history (per batch, with each batch's size) and verbose held the exact loss.

    The reproduction: 100 identical rows and one target row with another label,
    and a learning rate so small that the weights stay where they started; the
    recorded loss equalled the released model's loss on a known row exactly when
    the target was out. Nothing of the kind may be recorded now.
    """
    X = np.zeros((101, 2))
    y = np.ones(101)
    y[-1] = -1.0
    reg = DPAttentionRegressor(
        **FAST_PARAMS, epsilon=0.5, lr=1e-12, bounds=(-1, 1), target_bounds=(-1, 1), random_state=0
    ).fit(X, y)
    assert {key for row in reg.history_ for key in row} == {"call", "epoch", "epsilon"}
    history = reg.net_.history.to_list()
    for key in ("train_loss", "train_batch_size", "dur"):
        assert not _holds(history, key), key
    assert [row["train_batch_count"] for row in history] == [reg.n_steps_ // reg.max_epochs] * reg.max_epochs


def test_epsilon_spent_stays_below_epsilon_asked_where_opacus_sampler_ran_one_step_less():
    """Leak 3: with n = 930 and batch_size = 10 (k = 93 steps an epoch) Opacus' Poisson
    loader ran 92 steps at sample rate 1/92, and epsilon_ came out at 1.0048 > 1."""
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(930, 3))
    y = (X[:, 0] > 0).astype(int)
    clf = DPAttentionClassifier(
        epsilon=1.0, delta=1e-4, bounds=(-1, 1), classes=[0, 1], max_epochs=1, batch_size=10, d_token=8, n_heads=2,
        n_layers=1, random_state=0, public_count=930,
    )
    with PrivacyLedger() as ledger:
        clf.fit(X, y)
    assert int(1 / (1 / 93)) == 92  # what Opacus' sampler would run
    assert clf.n_steps_ == clf.net_.steps_taken_ == 93
    assert clf.sample_rate_ == 1 / 93
    assert clf.epsilon_ <= 1.0
    (record,) = ledger.records
    assert record["status"] == "complete" and record["history"] == [[clf.noise_multiplier_, 1 / 93, 93]]


def test_warm_start_on_more_rows_warns_when_the_first_delta_is_no_longer_below_one_over_n():
    """Leak 4: a warm start keeps the first fit's δ, silently, even where it is ≥ 1/n."""
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(2000, 3))
    y = (X[:, 0] > 0).astype(int)
    clf = DPAttentionClassifier(
        **{**FAST_PARAMS, "max_epochs": 1}, epsilon=1.0, bounds=(-1, 1), warm_start=True, random_state=0,
        public_count=100,
    ).fit(X[:100], y[:100])
    assert clf.delta_ == 1 / 1000
    with pytest.warns(UserWarning, match=r"warm_start=True keeps the delta_=0.001 .* not below 1/n=0.0005 for the "
                                         r"count of training rows n=2000 \(public_count\)"):
        clf.set_params(epsilon=2.0, public_count=2000).fit(X, y)
    assert clf.delta_ == 1 / 1000


def test_random_state_none_draws_secret_seeds():
    """Without a seed nobody can regenerate the noise: two fits differ, whatever numpy's global state."""
    estimator, X, y = make_case("tabular", random_state=None)
    weights = []
    for _ in range(2):
        np.random.seed(0)
        weights.append(next(estimator.fit(X, y).module_.parameters()).detach().clone())
    assert not torch.equal(*weights)


@settings(max_examples=25, deadline=None)
@given(
    n_samples=st.integers(1, 20_000),
    batch_size=st.integers(1, 2048),
    epochs=st.integers(1, 5),
    epsilon=st.sampled_from([0.3, 1.0, 8.0]),
)
def test_plan_spends_at_most_epsilon_for_any_n_and_batch_size(n_samples, batch_size, epochs, epsilon):
    plan = plan_training(
        n_samples, epsilon=epsilon, delta=None, batch_size=batch_size, epochs=epochs, accountant="prv"
    )
    assert plan.sample_rate == 1 / plan.steps_per_epoch
    assert plan.epsilon() <= epsilon


def test_sampler_runs_exactly_the_planned_steps_for_every_k():
    """For every k up to 3,000 steps an epoch, the loader has k batches, and Opacus,
    which accounts the sample rate 1 / len(loader), accounts the plan's."""
    for k in range(1, 3001):
        batch_size = 1 + k % 17
        n_samples = k * batch_size - (k > 1) * (k % batch_size)  # a partly filled last batch too
        plan = plan_training(
            n_samples, epsilon=1.0, delta=None, batch_size=batch_size, epochs=1, accountant="prv",
            noise_multiplier=1.0,
        )
        loader = poisson_loader(range(n_samples), batch_source(plan, secret=0, n_rows=n_samples))
        assert plan.steps_per_epoch == k and len(loader) == k and 1 / len(loader) == plan.sample_rate, k
    # And the batches really are that many.
    dataset = TensorBatchDataset({"x": torch.zeros(930, 1)}, torch.zeros(930))
    plan = plan_training(930, epsilon=1.0, delta=None, batch_size=10, epochs=1, accountant="prv")
    assert sum(1 for _ in poisson_loader(dataset, batch_source(plan, secret=0, n_rows=930))) == 93


def test_a_run_that_differs_from_the_plan_is_refused(monkeypatch):
    """The accountant's record is checked against the plan: a batch source that runs one step
    less an epoch (as Opacus' own sampler did at k = 93) raises instead of reporting a wrong ε."""
    import sk_privattn.dpsgd._train

    original = sk_privattn.dpsgd._train.batch_source

    def one_step_less(plan, **kwargs):
        source = original(plan, **kwargs)
        source.steps_per_epoch -= 1
        return source

    monkeypatch.setattr(sk_privattn.dpsgd._train, "batch_source", one_step_less)
    estimator, X, y = make_case("tabular")
    with warnings.catch_warnings(), pytest.raises(RuntimeError, match="the training plan is"):
        warnings.simplefilter("ignore")
        estimator.fit(X, y)
