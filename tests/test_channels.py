"""Every channel of every entry point is the same on neighbouring inputs, the trained weights apart.

Each test runs an entry point on two neighbouring inputs with the harness of ``_channels.py``
(same seeds, the DP count pinned) and asserts that nothing an observer sees differs: the
returned object, its pickle and saved file, stdout and stderr, warnings, exceptions, logging
records and files written. The inputs differ by one row that an adversary chose where it
matters: a label outside the public classes, a missing label, an infinite value, a string in a
numeric column, a category outside the public list.
"""

import shutil

import numpy as np
import pytest

from sk_privattn import (
    BudgetExceededError,
    DPAttentionClassifier,
    DPAttentionRegressor,
    DPSequenceClassifier,
    PrivacyBudget,
    PrivacyLedger,
    privacy_report,
)
from sk_privattn.model_selection import PrivateRandomSearch

from _channels import (
    channel_differences,
    describe,
    observe,
    observe_neighbours,
    pin_dp_releases,
    with_row,
    with_row_replaced,
    without_person,
    without_row,
)
from conftest import PUBLIC, make_mixed_frame, make_series

#: The smallest fits that run the whole path: one epoch of two Poisson steps on the pinned count.
TINY = dict(max_epochs=1, batch_size=50, d_token=8, n_heads=2, n_layers=1)
TABULAR = dict(TINY, epsilon=1.0, random_state=0, classes=[0, 1], verbose=1, **PUBLIC)
N_ROWS = 60

pytestmark = pytest.mark.filterwarnings("ignore:DP-SGD will likely learn little")


@pytest.fixture
def pinned(monkeypatch):
    pin_dp_releases(monkeypatch)


def _table():
    return make_mixed_frame(n_samples=N_ROWS)


def _assert_same(first, second, **options):
    found = channel_differences(first, second, **options)
    assert found == {}, f"the channels {sorted(found)} differ:\n{describe(found)}"


def _in_a_ledger(fit):
    """An entry point: ``fit(X, y, *rest)`` inside a PrivacyLedger, then its privacy report printed."""

    def entry(folder, X, y, *rest):
        with PrivacyLedger(path=folder / "ledger") as ledger:
            fitted = fit(X, y, *rest)
        print(privacy_report(fitted, ledger=ledger))
        return fitted

    return entry


def _warm_fit(X, y):
    clf = DPAttentionClassifier(**TABULAR, warm_start=True)
    clf.fit(X, y)
    return clf.set_params(epsilon=2.0).fit(X, y)


def _regression(X, y):
    return X, X["age"].to_numpy() / 10.0 + y


REGRESSOR = {**{key: value for key, value in TABULAR.items() if key != "classes"}, "target_bounds": (0, 10)}
NO_METADATA = {key: value for key, value in TABULAR.items() if key not in ("bounds", "categories", "classes")}


def _on_dask(fit):
    """``fit`` on ``X, y`` as Dask collections of two partitions, on the synchronous scheduler."""

    def fit_on_dask(X, y):
        dd = pytest.importorskip("dask.dataframe")
        import dask
        import pandas as pd

        with dask.config.set(scheduler="sync"):
            return fit(dd.from_pandas(X, npartitions=2), dd.from_pandas(pd.Series(y, name="y"), npartitions=2))

    return fit_on_dask


#: name -> (fit(X, y, *rest), the two neighbouring inputs)
ESTIMATOR_CASES = {
    "classifier, one row removed": (
        lambda X, y: DPAttentionClassifier(**TABULAR).fit(X, y),
        lambda X, y: [(X, y), without_row(X, y)],
    ),
    "classifier, replace-one, a label outside classes": (
        lambda X, y: DPAttentionClassifier(**TABULAR, neighbouring="replace_one").fit(X, y),
        lambda X, y: [(X, y), with_row_replaced(X, y, 0, X.iloc[1], 2)],
    ),
    "classifier, a missing label": (
        lambda X, y: DPAttentionClassifier(**TABULAR).fit(X, y),
        lambda X, y: [(X, y.astype(float)), with_row_replaced(X, y.astype(float), 0, X.iloc[1], np.nan)],
    ),
    "classifier, an infinite value": (
        lambda X, y: DPAttentionClassifier(**TABULAR).fit(X, y),
        lambda X, y: [(X, y), with_row_replaced(X, y, 0, {"income": np.inf}, y[0])],
    ),
    "classifier, a string in a numeric column": (
        lambda X, y: DPAttentionClassifier(**TABULAR, categorical_features=["color", "size"]).fit(X, y),
        lambda X, y: [(X.astype({"age": object}), y), with_row_replaced(X.astype({"age": object}), y, 0,
                                                                        {"age": "forty"}, y[0])],
    ),
    "classifier, a category outside the list": (
        lambda X, y: DPAttentionClassifier(**TABULAR).fit(X, y),
        lambda X, y: [(X, y), with_row_replaced(X, y, 0, {"color": "purple"}, y[0])],
    ),
    "classifier, warm start": (_warm_fit, lambda X, y: [(X, y), without_row(X, y)]),
    # No metadata given: bounds, categories and classes released with DP (pinned), and a neighbour holding
    # a rare category, an extreme value and a label of its own.
    "classifier, no metadata, an adversarial row": (
        lambda X, y: DPAttentionClassifier(**NO_METADATA).fit(X, y),
        lambda X, y: [(X, y), with_row_replaced(X, y, 0, {"color": "purple", "age": 1e9}, 7)],
    ),
    "regressor, no metadata, an extreme target": (
        lambda X, y: DPAttentionRegressor(**NO_METADATA).fit(X, y),
        lambda X, y: [_regression(X, y), with_row_replaced(*_regression(X, y), 0, X.iloc[1], 1e12)],
    ),
    "regressor, a missing target": (
        lambda X, y: DPAttentionRegressor(**REGRESSOR).fit(X, y),
        lambda X, y: [_regression(X, y), with_row_replaced(*_regression(X, y), 0, X.iloc[1], np.nan)],
    ),
    "regressor, an infinite target": (
        lambda X, y: DPAttentionRegressor(**REGRESSOR).fit(X, y),
        lambda X, y: [_regression(X, y), with_row_replaced(*_regression(X, y), 0, X.iloc[1], np.inf)],
    ),
}


@pytest.mark.parametrize("case", list(ESTIMATOR_CASES))
def test_an_estimator_emits_the_same_on_neighbouring_data(case, pinned, tmp_path):
    fit, neighbours = ESTIMATOR_CASES[case]
    first, second = observe_neighbours(_in_a_ledger(fit), *neighbours(*_table()), tmp_path / "run")
    _assert_same(first, second)
    assert "epsilon" in first.stdout and first.files  # the progress and the ledger were seen


#: Fits on Dask collections (issue 35), outside a ledger, which a fit on Dask refuses.
DASK_CASES = {
    "classifier on Dask, no metadata, an adversarial row": (
        _on_dask(lambda X, y: DPAttentionClassifier(**NO_METADATA).fit(X, y)),
        lambda X, y: [(X, y), with_row_replaced(X, y, 0, {"color": "purple", "age": 1e9}, 7)],
    ),
    "regressor on Dask, no metadata, a row removed": (
        _on_dask(lambda X, y: DPAttentionRegressor(**NO_METADATA).fit(X, y)),
        lambda X, y: [_regression(X, y), without_row(*_regression(X, y))],
    ),
}


@pytest.mark.parametrize("case", list(DASK_CASES))
def test_a_fit_on_dask_emits_the_same_on_neighbouring_data(case, pinned, tmp_path):
    fit, neighbours = DASK_CASES[case]

    def entry(folder, X, y):
        fitted = fit(X, y)
        print(privacy_report(fitted))
        return fitted

    first, second = observe_neighbours(entry, *neighbours(*_table()), tmp_path / "run")
    _assert_same(first, second)
    assert "epsilon" in first.stdout


def test_a_person_level_fit_emits_the_same_without_one_person(pinned, tmp_path):
    X, y = _table()
    person = np.arange(N_ROWS) // 3
    fit = _in_a_ledger(lambda X, y, ids: DPAttentionClassifier(**TABULAR).fit(X, y, person_id=ids))
    first, second = observe_neighbours(fit, (X, y, person), without_person(X, y, person, 0), tmp_path / "run")
    _assert_same(first, second)


def test_a_sequence_classifier_emits_the_same_without_one_series(pinned, tmp_path):
    X, y = make_series(n_samples=40)
    params = dict(max_epochs=1, batch_size=50, d_model=8, n_heads=2, n_layers=1, patch_size=4, n_kernels=16,
                  classes=[0, 1], random_state=0, verbose=1)
    fit = _in_a_ledger(lambda X, y: DPSequenceClassifier(**params).fit(X, y))
    _assert_same(*observe_neighbours(fit, (X, y), without_row(X, y), tmp_path / "run"))


# -- PrivateRandomSearch ------------------------------------------------------------


class _Candidates(np.random.RandomState):
    """The search's generator, with its draw of the number of candidates fixed to ``k``."""

    def __init__(self, seed, k):
        super().__init__(seed)
        self.k = k

    def geometric(self, p, size=None):
        super().geometric(p, size)
        return self.k


def _search(**params):
    clf = DPAttentionClassifier(**{**TABULAR, **params})
    return PrivateRandomSearch(clf, {"lr": [0.01, 0.02]}, mean_n_candidates=2, random_state=0)


def _with_k(monkeypatch, k):
    monkeypatch.setattr(PrivateRandomSearch, "_generator", lambda self: _Candidates(0, k))


@pytest.mark.parametrize("k", [2, 3])
def test_a_search_prints_and_warns_the_same_for_every_number_of_candidates(k, monkeypatch, tmp_path):
    """With verbose=1, and a parameter that warns (bounds read from the data): nothing tells K."""
    X, y = _table()

    def entry(folder):
        return _search(bounds=None).fit(X, y)

    observed = {}
    for candidates in (1, k):
        _with_k(monkeypatch, candidates)
        folder = tmp_path / str(candidates)
        folder.mkdir()
        observed[candidates] = observe(entry, folder)
    assert observed[1].warnings  # the bounds read from the data are warned
    _assert_same(observed[1], observed[k], state=False)


def test_a_search_emits_the_same_without_one_row(pinned, monkeypatch, tmp_path):
    _with_k(monkeypatch, 1)
    X, y = _table()
    entry = _in_a_ledger(lambda X, y: _search().fit(X, y))
    _assert_same(*observe_neighbours(entry, (X, y), without_row(X, y), tmp_path / "run"))


# -- budgets and reports -----------------------------------------------------------


def test_a_budget_refuses_and_reports_the_same_without_one_row(pinned, tmp_path):
    def entry(folder, X, y):
        clf = DPAttentionClassifier(**{**TABULAR, "verbose": 0}, delta=1e-5)
        with PrivacyBudget(epsilon=1.2, delta=1e-5, path=folder / "budget") as budget:
            clf.fit(X, y)
            try:
                clf.fit(X, y)
            except BudgetExceededError as refusal:
                print(refusal)
            print(budget)
            report = privacy_report(clf, ledger=budget)
        print(report)
        return {"fits": report.fits, "total": report.total_epsilon, "spent": budget.spent_epsilon}

    X, y = _table()
    first, second = observe_neighbours(entry, (X, y), without_row(X, y), tmp_path / "run")
    _assert_same(first, second)
    assert "over the budget" in first.stdout


# -- the federation ----------------------------------------------------------------


FEDERATED = dict(TINY, n_rounds=1, classes=[0, 1], accountant="rdp", backend="in-process", random_state=0,
                 **PUBLIC)


def _sites(sizes):
    return np.repeat(np.array(["north", "south", "west"]), sizes)


def _federated_entry(**params):
    pytest.importorskip("flwr")
    from sk_privattn.federated import FederatedDPAttentionClassifier

    params = {key: value for key, value in {**FEDERATED, **params}.items() if key != "max_epochs"}
    return _in_a_ledger(lambda X, y, sites: FederatedDPAttentionClassifier(**params).fit(X, y, groups=sites))


def test_a_record_level_federation_emits_the_same_without_one_row_of_a_site(pinned, tmp_path):
    X, y = _table()
    sites = _sites([20, 20, 20])
    entry = _federated_entry()
    first, second = observe_neighbours(entry, (X, y, sites), (*without_row(X, y), sites[:-1]), tmp_path / "run")
    _assert_same(first, second)


@pytest.mark.parametrize("batch_size", ["auto", 20])
def test_a_client_level_federation_emits_the_same_when_a_site_changes_size(batch_size, tmp_path):
    """Client level: one site's data replaced by data of another size (here one row fewer); at
    batch_size=20 the site then holds fewer rows than a batch."""
    X, y = _table()
    entry = _federated_entry(dp_level="client", batch_size=batch_size)
    first, second = observe_neighbours(entry, (X, y, _sites([20, 20, 20])),
                                       (*without_row(X, y), _sites([20, 20, 19])), tmp_path / "run")
    _assert_same(first, second)


# -- the remote owner ---------------------------------------------------------------


METADATA = dict(target="label", task="classification", features=["age", "color", "income", "size"],
                classes=[0, 1, 2], **PUBLIC)


def _remote_table():
    X, y = _table()
    return X.assign(label=y)


#: One row that an adversary adds, by what it probes.
ADVERSARIAL_ROWS = {
    "a rare label": {"age": 40.0, "color": "red", "income": 50.0, "size": "M", "label": 2},
    "a label outside classes": {"age": 40.0, "color": "red", "income": 50.0, "size": "M", "label": 7},
    "a missing target": {"age": 40.0, "color": "red", "income": 50.0, "size": "M", "label": None},
    "a rare category": {"age": 40.0, "color": "purple", "income": 50.0, "size": "M", "label": 1},
    "an extreme value": {"age": 1e12, "color": "red", "income": 50.0, "size": "M", "label": 1},
    "an infinite value": {"age": 40.0, "color": "red", "income": "inf", "size": "M", "label": 1},
    "a string in a numeric column": {"age": "forty", "color": "red", "income": 50.0, "size": "M", "label": 1},
    "a new person's row": {"age": 33.0, "color": "blue", "income": 20.0, "size": "S", "label": 0},
}

#: Requests that set every parameter that the owner's table validates by the estimator (the
#: parameters spread over a few requests, each fitted on neighbouring tables), and the adversarial
#: rows each is fitted against. ``test_every_validated_parameter_is_in_a_request`` keeps it whole.
VALIDATED_REQUESTS = {
    "network": ({"architecture": "polynomial", "additive_terms": False, "numeric_encoding": "linear",
                 "class_weight": {0: 1.0, 1: 2.0, 2: 1.0}, "dropout": 0.1},
                ["a label outside classes", "a missing target"]),
    "training": ({"epsilon": 2.0, "max_epochs": 2, "batch_size": 20, "lr": 0.05, "lr_schedule": "constant",
                  "optimizer": "sgd", "weight_decay": 0.01, "max_grad_norm": 0.5, "accountant": "prv"},
                 ["a rare label", "an infinite value"]),
    "sizes": ({"d_token": 16, "n_heads": 4, "n_layers": 2, "numeric_encoding": "piecewise",
               "max_sample_weight": 2.0, "max_rows_per_person": 2, "metadata_noise_multiplier": 5.0},
              ["a string in a numeric column", "a rare category"]),
}

#: Requests that set a parameter of the public metadata to another value than the metadata's.
OTHER_THAN_THE_METADATA = {
    "classes": [0, 1],
    "bounds": {"age": (0, 100), "income": (0, 100)},
    "categories": {"color": ["red", "green"], "size": ["S", "M", "L", "XL"]},
    "categorical_features": ["color"],
}


REGRESSION_METADATA = dict(target="wage", task="regression", features=["age", "color", "income", "size"],
                           target_bounds=(0.0, 10.0), **PUBLIC)


def _owner_reply(estimator_request, metadata=METADATA):
    """An entry point: the owner reviews one job that asks for ``estimator_request`` on a table;
    the result is what the scientist receives."""
    from sk_privattn.remote import DataOwner, PublicMetadata
    from sk_privattn.remote._data import write_part
    from sk_privattn.remote._request import make_request

    from _fake_syft import Job, OwnerClient

    def entry(folder, table):
        public = PublicMetadata(**metadata)
        private = folder.parent / f"{folder.name}-private"
        shutil.rmtree(private, ignore_errors=True)
        write_part(private, table, public)
        request = {**make_request(DPAttentionClassifier(), "visits"), "estimator": estimator_request}
        job = Job(folder, request)
        owner = DataOwner(OwnerClient(private, [job]), ledger=folder / "budgets.json", epsilon=20.0,
                          delta=1e-5, random_state=0)
        owner.review()
        return job.reply()

    return entry


def _classifier_request(**params):
    from sk_privattn.persistence import to_json

    return {"class": "DPAttentionClassifier", "params": to_json({"epsilon": 1.0, **TINY, **params})}


def _replies(request, row, folder):
    table = _remote_table()
    return observe_neighbours(_owner_reply(request), (table,), (with_row(table, ADVERSARIAL_ROWS[row]),), folder)


@pytest.mark.parametrize("row", list(ADVERSARIAL_ROWS))
def test_the_owner_replies_the_same_whatever_one_adversarial_row(row, pinned, tmp_path):
    first, second = _replies(_classifier_request(), row, tmp_path / "run")
    _assert_same(first, second)
    assert first.result["status"] == "done"


@pytest.mark.parametrize("name", list(VALIDATED_REQUESTS))
def test_the_owner_replies_the_same_to_every_validated_parameter(name, pinned, tmp_path):
    params, rows = VALIDATED_REQUESTS[name]
    for row in rows:
        first, second = _replies(_classifier_request(**params), row, tmp_path / row)
        _assert_same(first, second)
        assert first.result["status"] == "done", first.result["reason"]


def test_every_validated_parameter_is_in_a_request():
    """A new parameter of the classifier joins the harness by construction: this fails until a
    request above sets it."""
    from sk_privattn.remote._parameters import VALIDATED, parameter_classes

    validated = {name for name, label in parameter_classes(DPAttentionClassifier).items() if label == VALIDATED}
    assert validated == {name for params, _ in VALIDATED_REQUESTS.values() for name in params}


@pytest.mark.parametrize("name", list(OTHER_THAN_THE_METADATA))
def test_the_owner_refuses_metadata_other_than_its_own_before_reading_a_row(name, pinned, tmp_path):
    """The reproduction of finding 1: classes=[0, 1] asked of a dataset whose public classes are
    [0, 1, 2], with one private row labelled 2 or not; and the same for every parameter of the
    public metadata."""
    first, second = _replies(_classifier_request(**{name: OTHER_THAN_THE_METADATA[name]}), "a rare label",
                             tmp_path / "run")
    _assert_same(first, second)
    assert first.result["status"] == "rejected"
    assert f"asks for {name}=" in first.result["reason"] and "public metadata of this dataset" in first.result["reason"]


@pytest.mark.parametrize("params, status", [({"loss": "huber"}, "done"), ({"target_bounds": (0, 5)}, "rejected")])
def test_the_owner_replies_the_same_to_a_regression_whatever_its_target(params, status, pinned, tmp_path):
    from sk_privattn.persistence import to_json

    X, y = _table()
    table = X.assign(wage=X["age"] / 10.0 + y)
    request = {"class": "DPAttentionRegressor", "params": to_json({"epsilon": 1.0, **TINY, **params})}
    for row in ({**ADVERSARIAL_ROWS["a new person's row"], "wage": None},
                {**ADVERSARIAL_ROWS["a new person's row"], "wage": "n/a"}):
        row.pop("label")
        first, second = observe_neighbours(_owner_reply(request, REGRESSION_METADATA), (table,),
                                           (with_row(table, row),), tmp_path / str(row["wage"]))
        _assert_same(first, second)
        assert first.result["status"] == status, first.result["reason"]


def test_the_owner_replies_the_same_to_a_private_search(pinned, tmp_path):
    search = {"class": "PrivateRandomSearch", "params": {
        "estimator": _classifier_request(), "param_grid": {"lr": [0.01, 0.02]}, "mean_n_candidates": 2.0,
        "validation_fraction": 0.3, "score_noise": 5.0, "public_count": 80}}
    first, second = _replies(search, "a label outside classes", tmp_path / "run")
    _assert_same(first, second)
    assert first.result["status"] == "done", first.result["reason"]


# -- the encrypted server ------------------------------------------------------------


def test_the_encrypted_server_replies_the_same_for_neighbouring_models(pinned, tmp_path):
    pytest.importorskip("tenseal")
    from sk_privattn.encrypted import EncryptedClient, EncryptedServer, _unpack

    X, y = _table()

    def entry(folder, X_fit, y_fit):
        clf = DPAttentionClassifier(**{**TABULAR, "verbose": 0}, architecture="polynomial").fit(X_fit, y_fit)
        server = EncryptedServer(clf)
        client = EncryptedClient(server.model_spec())
        spec, _ = _unpack(server.model_spec(), "model", "spec")
        header, parts = _unpack(server.score(client.public_context(), client.encrypt(X.iloc[:3])), "result", "result")
        try:
            server.score(client._context.serialize(save_secret_key=True), client.encrypt(X.iloc[:1]))
        except ValueError as refusal:
            print(refusal)
        del spec["fingerprint"], header["fingerprint"]  # a hash of the weights
        return {"spec": spec, "header": header, "n_parts": len(parts)}

    _assert_same(*observe_neighbours(entry, (X, y), without_row(X, y), tmp_path / "run"))
