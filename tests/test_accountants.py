"""The registry of accountants is the only list of them: an accountant registered in a few
lines, in one place, is used by a fit, a warm start, a budget, a report and a remote request."""

import dp_accounting
import numpy as np
import pytest
from dp_accounting.rdp import rdp_privacy_accountant

from sk_privattn import DPAttentionClassifier, PrivacyBudget, privacy_report
from sk_privattn.privacy import (
    Accountant,
    Relation,
    UnsupportedEventError,
    accountant_names,
    compute_epsilon,
    get_accountant,
    register_accountant,
    resolve_accountant,
)
from sk_privattn.privacy.accountants import _registry
from sk_privattn.privacy.accountants import history_event

from _settings import FAST_PARAMS


@pytest.fixture
def dp_rdp():
    """dp_accounting's RDP accountant, registered as "dp_rdp" for the test only."""

    @register_accountant
    class DpAccountingRDP(Accountant):
        name = "dp_rdp"
        relations = frozenset(Relation)
        summary = "dp_accounting's RDP accountant"

        def supports(self, event, relation):
            engine = rdp_privacy_accountant.RdpAccountant(neighboring_relation=Relation(relation).dp_accounting)
            return super().supports(event, relation) and engine.supports(event)

        def epsilon(self, event, delta, relation):
            engine = rdp_privacy_accountant.RdpAccountant(neighboring_relation=Relation(relation).dp_accounting)
            return float(engine.compose(event).get_epsilon(delta))

    yield DpAccountingRDP.name
    _registry._REGISTRY.pop(DpAccountingRDP.name)


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(200, 3))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


def _clf(**params):
    return DPAttentionClassifier(**{**FAST_PARAMS, "bounds": (-1, 1), "classes": [0, 1], "random_state": 0, **params})


def _request(**params):
    """What a scientist asks for: no seed, which only the data owner sets, and no bounds, which the
    dataset's public metadata gives."""
    return _clf(**params).set_params(random_state=None, bounds=None)


def test_a_registered_accountant_is_listed_and_reported_unsupported_where_it_cannot_account(dp_rdp):
    assert dp_rdp in accountant_names() and dp_rdp in accountant_names("add_or_remove")
    # dp_accounting's RDP accountant refuses Poisson-subsampled events under replace-one: the
    # registry reports it as unsupported there, by the event it cannot account.
    assert dp_rdp not in accountant_names("replace_one")
    step = history_event([(1.0, 0.01, 10)])
    assert not get_accountant(dp_rdp).supports(step, "replace_one")
    with pytest.raises(ValueError, match="accountant='dp_rdp' cannot account neighbouring='replace_one'.*'pld'"):
        resolve_accountant(dp_rdp, "replace_one")
    assert resolve_accountant(dp_rdp, "add_or_remove") == dp_rdp


def test_opacus_accountants_refuse_what_is_not_dp_sgd():
    count = dp_accounting.dp_event.DiscreteLaplaceDpEvent(0.02, 1)
    assert not get_accountant("prv").supports(count, "add_or_remove")
    with pytest.raises(UnsupportedEventError, match="accountant='rdp' cannot account DiscreteLaplaceDpEvent"):
        get_accountant("rdp").epsilon(count, 1e-5, "add_or_remove")
    assert get_accountant("pld").supports(count, "add_or_remove")


def test_a_registered_accountant_serves_a_fit_and_its_warm_start(data, dp_rdp):
    X, y = data
    clf = _clf(epsilon=1.0, accountant=dp_rdp, warm_start=True).fit(X, y)
    assert clf.accountant_ == dp_rdp
    # Its ε is dp_accounting's RDP, recomputed independently here.
    engine = rdp_privacy_accountant.RdpAccountant()
    engine.compose(history_event(clf.accountant_history_))
    assert clf.epsilon_ == pytest.approx(clf.count_epsilon_ + engine.get_epsilon(clf.delta_), rel=1e-9)
    assert clf.epsilon_ <= 1.0
    clf.set_params(epsilon=2.0).fit(X, y)
    assert len(clf.accountant_history_) == 2
    assert clf.epsilon_ == pytest.approx(
        clf.count_epsilon_ + compute_epsilon(clf.accountant_history_, clf.delta_, dp_rdp), rel=1e-9)
    assert clf.epsilon_ <= 2.0


def test_a_registered_accountant_serves_a_budget_and_a_report(data, dp_rdp):
    X, y = data
    with PrivacyBudget(epsilon=3.0, delta=1e-4, accountant=dp_rdp) as budget:
        clf = _clf(epsilon=1.0, delta=1e-4, accountant=dp_rdp).fit(X, y)
    assert budget.accountant == dp_rdp
    assert budget.spent_epsilon == pytest.approx(clf.epsilon_, rel=1e-9)
    report = privacy_report(clf, accountant=dp_rdp)
    assert report.accountant == dp_rdp and report.total_epsilon == pytest.approx(clf.epsilon_, rel=1e-9)


def test_the_accountant_parameter_is_validated_against_the_registry(data, dp_rdp):
    X, y = data
    with pytest.raises(ValueError, match="The 'accountant' parameter of DPAttentionClassifier must be"):
        _clf(accountant="unregistered").fit(X, y)
    with pytest.raises(ValueError, match="The 'accountant' parameter of PrivacyBudget.__init__ must be"):
        PrivacyBudget(epsilon=1.0, delta=1e-5, accountant="gdp")  # not a bound
    with pytest.raises(ValueError, match="The 'accountant' parameter of privacy_report must be"):
        privacy_report(_clf().fit(X, y), accountant="gdp")


def test_a_registered_accountant_passes_a_remote_request_validation(dp_rdp):
    pytest.importorskip("pandas")
    from sk_privattn.remote import make_request
    from sk_privattn.remote._data import PublicMetadata
    from sk_privattn.remote._request import build_estimator

    metadata = PublicMetadata(target="y", task="classification", features=["a"], bounds={"a": (0.0, 1.0)},
                              classes=[0, 1], delta=1e-5)
    estimator, requested = build_estimator(make_request(_request(accountant=dp_rdp), "d"), metadata)
    assert estimator.accountant == dp_rdp and requested == 1.0
    replace_one = PublicMetadata(target="y", task="classification", features=["a"], bounds={"a": (0.0, 1.0)},
                                 classes=[0, 1], delta=1e-5, neighbouring="replace_one")
    from sk_privattn.exceptions import JobRefusedError

    with pytest.raises(JobRefusedError, match="accountant='dp_rdp' cannot account neighbouring='replace_one'"):
        build_estimator(make_request(_request(accountant=dp_rdp), "d"), replace_one)
