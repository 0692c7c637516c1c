"""FederatedDPAttentionClassifier and the Flower apps: privacy accounting, faults, scikit-learn use.

Most fits use backend="in-process", which calls the same Flower ClientApp and
ServerApp without Ray; one test runs Flower's Ray simulation engine and checks
that it gives the same model.
"""

import math
import pickle
import sys
import warnings

import numpy as np
import pytest
import torch
from scipy import optimize
from scipy.special import logsumexp
from scipy.stats import norm

flwr = pytest.importorskip("flwr")

import sklearn  # noqa: E402
from flwr.common import FitRes, Status, Code, ndarrays_to_parameters  # noqa: E402
from sklearn.model_selection import GridSearchCV, GroupKFold  # noqa: E402

from sk_privattn import BudgetExceededError, PrivacyBudget, PrivacyLedger, PrivacyLeakWarning, privacy_report  # noqa: E402
from sk_privattn.federated import (  # noqa: E402
    FederatedDPAttentionClassifier,
    make_client_app,
    make_server_app,
)
from sk_privattn.privacy._recording import row_fingerprints  # noqa: E402
from sk_privattn.federated import _client  # noqa: E402
from sk_privattn.federated._client import SiteClient  # noqa: E402
from sk_privattn.federated._inprocess import run_in_process  # noqa: E402
from sk_privattn.federated._plan import ClientLevelPlan  # noqa: E402
from sk_privattn.federated._server import ClientLevelNoise, FederationError  # noqa: E402
from sk_privattn.privacy import GDP_WARNING, compute_epsilon, default_delta  # noqa: E402

# Small model, few rounds; "rdp" accounts in milliseconds where PRV takes seconds.
FAST = dict(n_rounds=2, d_token=8, n_heads=2, n_layers=1, bounds=(-1, 1), classes=[0, 1], accountant="rdp",
            backend="in-process", random_state=0)


def make_sites(n_per_site=(120, 90, 150), seed=0):
    rng = np.random.RandomState(seed)
    n = sum(n_per_site)
    X = rng.uniform(-1, 1, size=(n, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    site = np.repeat(np.array(["north", "south", "west", "east", "up"])[: len(n_per_site)], n_per_site)
    return X, y, site


def test_record_level_accounts_each_site_over_all_rounds():
    X, y, site = make_sites()
    # Site "south" has only class 0: the classes come from the union of the sites.
    y[site == "south"] = 0
    sizes = {name: int(np.sum(site == name)) for name in np.unique(site)}
    clf = FederatedDPAttentionClassifier(epsilon=2.0, local_epochs=2, public_count=sizes, **FAST)
    clf.fit(X, y, groups=site)
    np.testing.assert_array_equal(clf.classes_, [0, 1])
    assert set(clf.sites_) == {"north", "south", "west"}
    for name, info in clf.sites_.items():
        n_rows = sizes[name]
        steps_per_epoch = int(np.ceil(n_rows / info["batch_size"]))
        assert info["n_rows"] == n_rows
        assert info["count_epsilon"] == 0.0
        assert info["delta"] == default_delta(n_rows)
        assert info["sample_rate"] == 1.0 / steps_per_epoch
        # Two rounds of two local epochs each, all composed by the site's accountant.
        assert info["n_steps"] == steps_per_epoch * 2 * 2
        expected = compute_epsilon([(info["noise_multiplier"], info["sample_rate"], info["n_steps"])],
                                   info["delta"], "rdp")
        assert info["epsilon"] == pytest.approx(expected)
        assert 0.9 * 2.0 < info["epsilon"] <= 2.0
    worst = max(clf.sites_, key=lambda name: clf.sites_[name]["epsilon"])
    assert clf.epsilon_ == clf.sites_[worst]["epsilon"]
    assert clf.delta_ == max(info["delta"] for info in clf.sites_.values())
    assert clf.accountant_history_ == [
        (clf.sites_[worst]["noise_multiplier"], clf.sites_[worst]["sample_rate"], clf.sites_[worst]["n_steps"])
    ]
    assert [row["n_results"] for row in clf.history_] == [3, 3]
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert set(np.unique(clf.predict(X))) <= {0, 1}
    assert 0.0 <= clf.score(X, y) <= 1.0
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), proba)


def test_client_level_accounts_rounds_and_site_sampling_with_secure_aggregation():
    X, y, site = make_sites((100, 100, 100, 100))
    clf = FederatedDPAttentionClassifier(
        epsilon=3.0, dp_level="client", fraction_fit=0.75, secure_aggregation=True, clipping_norm=0.5, **FAST
    ).fit(X, y, groups=site)
    # Each site joins each round by a coin of 3/4: the Poisson-sampled Gaussian mechanism, once per round.
    assert clf.delta_ == default_delta(4)
    assert clf.sample_rate_ == 0.75
    assert clf.n_steps_ == 2
    assert clf.batch_size_ == 0.75 * 4  # the fixed denominator of the noisy sum
    assert clf.accountant_history_ == [(clf.noise_multiplier_, 0.75, 2)]
    assert clf.epsilon_ == pytest.approx(compute_epsilon(clf.accountant_history_, clf.delta_, "rdp"))
    assert 0.9 * 3.0 < clf.epsilon_ <= 3.0
    # Every site answers every round (with a zero update when its coin says no), so SecAgg+ hides who joined.
    assert [row["n_results"] for row in clf.history_] == [4, 4]
    # A site's size and local training are part of what client-level DP protects: not kept.
    assert clf.sites_ == {"east": {}, "north": {}, "south": {}, "west": {}}
    assert clf.predict(X[:5]).shape == (5,)


def _gaussian_epsilon(mu, delta):
    """ε of a mu-GDP mechanism at δ, exactly (Dong, Roth & Su 2019, Corollary 2.13)."""
    def excess(eps):
        return norm.cdf(-eps / mu + mu / 2) - math.exp(eps) * norm.cdf(-eps / mu - mu / 2) - delta

    return optimize.brentq(excess, 0.0, 100.0)


def _sampled_gaussian_rdp(q, sigma, orders):
    """RDP of the Poisson-sampled Gaussian of sensitivity 1 at ``orders``: the log of
    E_{z ~ N(0, sigma^2)}[((1 - q) + q exp((2z - 1) / (2 sigma^2)))^order] / (order - 1)
    (Mironov, Talwar & Zhang 2019), integrated numerically on a fine grid."""
    z, dz = np.linspace(-40 * sigma, 40 * sigma + 2 * max(orders) * sigma**2, 400_001, retstep=True)
    log_ratio = np.logaddexp(math.log1p(-q), math.log(q) + (2 * z - 1) / (2 * sigma**2))
    log_density = norm.logpdf(z, scale=sigma)
    return np.array([(logsumexp(log_density + order * log_ratio) + math.log(dz)) / (order - 1) for order in orders])


def test_client_level_epsilon_is_that_of_zeroing_out_one_site():
    """epsilon_ against computations that share no code with the accountant.

    All sites every round: the release is a Gaussian mechanism of
    sensitivity clipping_norm on the sum, whose exact ε follows from GDP. With
    sites sampled by coins of rate q: the sampled Gaussian's RDP, integrated
    numerically and converted as Balle et al. (2020) do.
    """
    X, y, site = make_sites((60, 60, 60, 60, 60))
    params = {**FAST, "n_rounds": 3, "d_token": 4, "n_heads": 1}
    every = FederatedDPAttentionClassifier(epsilon=2.0, dp_level="client", accountant="prv",
                                           **{k: v for k, v in params.items() if k != "accountant"})
    every.fit(X, y, groups=site)
    mu = math.sqrt(every.n_steps_) / every.noise_multiplier_
    exact = _gaussian_epsilon(mu, every.delta_)
    assert exact <= every.epsilon_ <= exact + 0.02
    # Replacing one site by another moves the sum twice as far: that ε is not what epsilon_ covers.
    assert _gaussian_epsilon(2 * mu, every.delta_) > 1.8 * every.epsilon_

    sampled = FederatedDPAttentionClassifier(epsilon=2.0, dp_level="client", fraction_fit=0.4, **params)
    sampled.fit(X, y, groups=site)
    q, sigma, rounds, delta = sampled.sample_rate_, sampled.noise_multiplier_, sampled.n_steps_, sampled.delta_
    orders = np.r_[np.arange(1.1, 11, 0.1), np.arange(11, 64)]
    rdp = rounds * _sampled_gaussian_rdp(q, sigma, orders)
    independent = np.min(rdp - (np.log(delta) + np.log(orders)) / (orders - 1) + np.log((orders - 1) / orders))
    assert sampled.epsilon_ == pytest.approx(independent, rel=2e-3)


def test_client_level_sites_join_by_independent_coins(monkeypatch):
    """Poisson sampling of sites, as the accountant assumes: not a fixed number per round."""

    def train_round(estimator, module, *args):
        with torch.no_grad():
            for parameter in module.parameters():
                parameter += 1.0
        return module

    monkeypatch.setattr(_client, "train_round", train_round)
    spec = FederatedDPAttentionClassifier(dp_level="client", fraction_fit=0.3, clipping_norm=0.5)
    received = [np.zeros((1, 2), dtype=np.float32), np.zeros(1, dtype=np.float32)]
    joined = np.zeros((5, 400), dtype=bool)
    for index in range(5):
        client = SiteClient(spec, torch.nn.Linear(2, 1), None, None, index, 7, None)
        for server_round in range(400):
            arrays, weight, _ = client.fit(received, {"server_round": server_round + 1})
            assert weight == 1
            joined[index, server_round] = arrays is not received
            if joined[index, server_round]:
                # The update (all ones, norm sqrt(3)) clipped to clipping_norm at the site.
                norm = math.sqrt(sum(float(np.sum(a**2)) for a in arrays))
                assert norm == pytest.approx(0.5, rel=1e-5)
    # Each site joins at rate 0.3 (within 4 standard deviations), and the number per round varies.
    assert np.all(np.abs(joined.mean(axis=1) - 0.3) < 4 * math.sqrt(0.3 * 0.7 / 400))
    assert len(np.unique(joined.sum(axis=0))) >= 4


def _fit_res(arrays):
    return (None, FitRes(Status(Code.OK, ""), ndarrays_to_parameters(arrays), 1, {}))


def test_client_level_server_adds_noise_to_the_sum_over_a_fixed_denominator():
    plan = ClientLevelPlan(n_sites=10, sample_rate=0.5, n_rounds=1, noise_multiplier=0.0, delta=1e-3, accountant="rdp")
    global_arrays = [np.zeros(20000, dtype=np.float32)]
    updates = [np.full(20000, 0.1, dtype=np.float32), np.full(20000, 0.3, dtype=np.float32)]
    exact = ClientLevelNoise(plan, clipping_norm=1.0, seed=0)(global_arrays, [_fit_res([u]) for u in updates])
    # The sum of the updates over the expected number of sites (5), not over the 2 that joined.
    np.testing.assert_allclose(exact[0], 0.4 / 5, rtol=1e-6)
    noisy_plan = ClientLevelPlan(10, 0.5, 1, noise_multiplier=2.0, delta=1e-3, accountant="rdp")
    noisy = ClientLevelNoise(noisy_plan, clipping_norm=0.5, seed=0)
    new = noisy(global_arrays, [_fit_res([u]) for u in updates])
    noise = new[0] * 5 - 0.4
    assert np.std(noise) == pytest.approx(2.0 * 0.5, rel=0.03) and abs(np.mean(noise)) < 0.03
    # A round in which no site joined still releases noise only.
    assert np.std(noisy(global_arrays, [])[0] * 5) == pytest.approx(1.0, rel=0.03)


def test_secure_aggregation_gives_the_plain_average():
    X, y, site = make_sites()
    plain = FederatedDPAttentionClassifier(epsilon=1.0, **FAST).fit(X, y, groups=site)
    secure = FederatedDPAttentionClassifier(epsilon=1.0, secure_aggregation=True, **FAST).fit(X, y, groups=site)
    # SecAgg+ quantizes the updates; the sum it reveals is the same up to that.
    np.testing.assert_allclose(secure.predict_proba(X), plain.predict_proba(X), atol=1e-3)
    assert secure.epsilon_ == plain.epsilon_


@pytest.mark.parametrize("dp_level", ["record", "client"])
def test_infinite_epsilon_trains_without_noise(dp_level):
    X, y, site = make_sites()
    clf = FederatedDPAttentionClassifier(epsilon=np.inf, dp_level=dp_level, **FAST).fit(X, y, groups=site)
    assert clf.epsilon_ == np.inf
    assert clf.noise_multiplier_ == 0.0


def test_ray_simulation_gives_the_in_process_model():
    X, y, site = make_sites()
    params = {**FAST, "backend": "ray"}
    ray_model = FederatedDPAttentionClassifier(epsilon=1.0, **params).fit(X, y, groups=site)
    local_model = FederatedDPAttentionClassifier(epsilon=1.0, **FAST).fit(X, y, groups=site)
    np.testing.assert_allclose(ray_model.predict_proba(X), local_model.predict_proba(X), atol=1e-6)
    import ray

    assert not ray.is_initialized()


def test_grid_search_routes_the_sites_to_each_fit():
    X, y, site = make_sites((60, 60, 60, 60))
    seen = []

    class Recording(FederatedDPAttentionClassifier):
        def fit(self, X, y, groups=None):
            seen.append(np.unique(groups).tolist())
            return super().fit(X, y, groups=groups)

    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(
            Recording(epsilon=1.0, **{**FAST, "n_rounds": 1}).set_fit_request(groups=True),
            {"lr": [0.02]},
            cv=GroupKFold(n_splits=2),
        ).fit(X, y, groups=site)
    # Each fold trains on two of the four sites; the refit on all four.
    assert [len(sites) for sites in seen] == [2, 2, 4]
    assert sorted(seen[0] + seen[1]) == ["east", "north", "south", "west"]
    assert search.best_estimator_.predict(X[:3]).shape == (3,)


def test_grid_search_without_routing_says_how_to_pass_groups():
    X, y, site = make_sites()
    search = GridSearchCV(FederatedDPAttentionClassifier(**FAST), {"lr": [0.02]}, cv=GroupKFold(n_splits=2),
                          error_score="raise")
    with pytest.raises(ValueError, match="set_fit_request\\(groups=True\\)"):
        search.fit(X, y, groups=site)


def test_a_client_level_ledger_and_report_show_the_public_roster_not_the_rows():
    """Finding 3 of issue 32: the ledger record and the report held the exact pooled row count
    (the sites' exact sizes, which client-level DP protects); they show the roster now."""
    X, y, site = make_sites((100, 100, 100, 100))
    with PrivacyLedger() as ledger:
        clf = FederatedDPAttentionClassifier(dp_level="client", **FAST).fit(X, y, groups=site)
    (record,) = ledger.records
    assert record["n_samples"] == record["count"]["value"] == 4 and record["count"]["source"] == "roster"
    assert privacy_report(clf, ledger=ledger).fits[0]["n_samples"] == 4
    assert privacy_report(clf).fits[0]["n_samples"] == 4


def test_small_site_for_the_batch_size_is_named_at_record_level_by_its_count():
    X, y, site = make_sites((120, 20, 150))
    clf = FederatedDPAttentionClassifier(batch_size=32, public_count={"north": 120, "south": 20, "west": 150},
                                         **FAST)
    with pytest.raises(ValueError, match=r"Site 'south' .* counts 20 rows \(public_count\), fewer than batch_size=32"):
        clf.fit(X, y, groups=site)
    # At client level a site's size is private: a batch above it takes the whole site, silently.
    clf = FederatedDPAttentionClassifier(batch_size=32, dp_level="client", **FAST).fit(X, y, groups=site)
    assert clf.count_ == 3 and clf.sites_ == {"north": {}, "south": {}, "west": {}}


def test_each_site_plans_from_its_own_dp_count_under_add_or_remove():
    """Without public counts, each site releases a DP count of its rows: its plan, its weight in
    FedAvg and sites_ read that count, and its ε includes the count's pure ε."""
    X, y, site = make_sites()
    clf = FederatedDPAttentionClassifier(epsilon=2.0, **FAST).fit(X, y, groups=site)
    exact = {name: int(np.sum(site == name)) for name in np.unique(site)}
    assert [info["n_rows"] for info in clf.sites_.values()] != list(exact.values())
    for info in clf.sites_.values():
        assert info["count_epsilon"] == pytest.approx(0.02 * 2.0)
        history = [(info["noise_multiplier"], info["sample_rate"], info["n_steps"])]
        assert info["epsilon"] == pytest.approx(info["count_epsilon"] + compute_epsilon(history, info["delta"], "rdp"))
        assert info["epsilon"] <= 2.0


@pytest.mark.parametrize(
    "params, message",
    [
        ({"secure_aggregation": True, "fraction_fit": 0.5}, "secure_aggregation=True needs at least 2 sites"),
        ({"dp_level": "site"}, "dp_level"),
    ],
)
def test_bad_settings_are_explained(params, message):
    X, y, site = make_sites()
    with pytest.raises(ValueError, match=message):
        FederatedDPAttentionClassifier(**{**FAST, **params}).fit(X, y, groups=site)


def test_one_site_or_no_groups_is_refused():
    X, y, site = make_sites()
    with pytest.raises(ValueError, match="at least two sites"):
        FederatedDPAttentionClassifier(**FAST).fit(X, y, groups=np.zeros(len(X)))
    with pytest.raises(ValueError, match="groups=None"):
        FederatedDPAttentionClassifier(**FAST).fit(X, y)


@pytest.mark.parametrize("missing", ["bounds", "classes"])
def test_a_federation_needs_public_metadata_and_says_why(missing):
    X, y, site = make_sites()
    with pytest.raises(ValueError, match=f"{missing}=None asks for a DP release.*a federation's sites and server"):
        FederatedDPAttentionClassifier(**{**FAST, missing: None}).fit(X, y, groups=site)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"bounds": "data"}, "bounds='data'.*pooled rows of all sites"),
        ({"classes": "data"}, "classes='data': the labels present in y.*were read from the pooled rows of all sites"),
        ({"accountant": "gdp"}, "accountant='gdp'"),
        ({"delta": 0.05}, "delta=0.05 is not below 1/n for the sites 'north' .*'south'"),
    ],
)
def test_each_leak_and_weak_setting_is_warned_once_at_the_callers_line(params, match):
    X, y, site = make_sites()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # Sites of about a hundred rows: the plan's noise outweighs its signal, which is warned too.
        warnings.filterwarnings("ignore", message="DP-SGD will likely learn little")
        FederatedDPAttentionClassifier(**{**FAST, **params}).fit(X, y, groups=site)
    assert len(caught) == 1, [str(w.message) for w in caught]
    assert caught[0].filename == __file__
    assert caught[0].category is (PrivacyLeakWarning if "classes" in params or "bounds" in params else UserWarning)
    import re

    assert re.search(match, str(caught[0].message))
    if "accountant" in params:
        assert str(caught[0].message) == GDP_WARNING


def test_a_failed_fit_leaves_the_previous_fit_as_it_was(monkeypatch):
    X, y, site = make_sites()
    clf = FederatedDPAttentionClassifier(**FAST).fit(X, y, groups=site)
    before = {name: value for name, value in vars(clf).items() if name != "module_"}
    weights = {name: tensor.clone() for name, tensor in clf.module_.state_dict().items()}

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(_client, "train_round", crash)
    wider = np.c_[X, X[:, :1]]  # four features: a fit that got as far as training would have changed them
    with pytest.raises(FederationError, match="disk full"):
        clf.set_params(max_failed_fraction=0.0).fit(wider, y, groups=site)
    assert clf.n_features_in_ == 3 and clf.max_failed_fraction == 0.0
    assert vars(clf).keys() - {"module_"} == before.keys()
    assert clf.epsilon_ == before["epsilon_"] and clf.history_ == before["history_"]
    assert clf.sites_ == before["sites_"]
    for name, tensor in clf.module_.state_dict().items():
        assert bool((tensor == weights[name]).all()), name


def test_a_budget_refuses_a_federated_fit_that_would_exceed_it():
    X, y, site = make_sites()
    clf = FederatedDPAttentionClassifier(epsilon=1.0, delta=1e-4, **FAST)
    with PrivacyBudget(epsilon=1.2, delta=1e-4, accountant="rdp") as budget:
        clf.fit(X, y, groups=site)
        with pytest.raises(BudgetExceededError, match="FederatedDPAttentionClassifier.*over the budget"):
            clf.fit(X, y, groups=site)
    # The refused fit had its sites release their DP counts of their rows: that is spent too.
    record, refused = budget.records
    assert refused["status"] == "refused" and refused["pure_epsilon"] == pytest.approx(0.02)
    assert record["status"] == "complete" and record["estimator"] == "FederatedDPAttentionClassifier"
    # One mechanism per group of rows: each site's DP-SGD over both rounds.
    assert sorted(tuple(map(tuple, group)) for group in record["groups"]) == sorted(
        ((info["noise_multiplier"], info["sample_rate"], info["n_steps"]),) for info in clf.sites_.values()
    )
    assert record["epsilon"] == pytest.approx(max(info["epsilon"] for info in clf.sites_.values()))


def test_privacy_report_over_a_grid_search_of_federated_fits():
    X, y, site = make_sites((50, 70, 60, 80))
    with sklearn.config_context(enable_metadata_routing=True), PrivacyLedger() as ledger:
        # Public counts of the sites, so that sites of other sizes run other mechanisms.
        sizes = {name: int(np.sum(site == name)) for name in np.unique(site)}
        spec = FederatedDPAttentionClassifier(epsilon=1.0, public_count=sizes, **{**FAST, "n_rounds": 1})
        spec.set_fit_request(groups=True)
        search = GridSearchCV(spec, {"lr": [0.02]}, cv=GroupKFold(n_splits=2)).fit(X, y, groups=site)
    report = privacy_report(search, ledger=ledger)
    assert report.to_frame()["role"].value_counts().to_dict() == {"cv fold": 2, "refit": 1}
    # A row trains in one of the two fold fits, and in the refit.
    assert report.rows_per_fit_count == {2: len(X)}
    assert report.selected_epsilon == search.best_estimator_.epsilon_
    # Each time by its own site's DP-SGD: sites of other sizes run other mechanisms.
    records = ledger.read(with_rows=True)
    assert all(len(record["groups"]) > 1 for record in records)
    worst = 0.0
    for name in np.unique(site):
        mine = row_fingerprints(X[site == name], y[site == name], ledger.key)
        history = []
        for record in records:
            hit = np.isin(record["rows"], mine)
            if hit.any():
                (group,) = set(record["row_group"][hit].tolist())  # a site's rows pay one mechanism
                history += [tuple(entry) for entry in record["groups"][group]]
        worst = max(worst, compute_epsilon(history, report.total_delta))
    assert report.total_epsilon == pytest.approx(worst)


def test_a_client_level_fit_charges_each_row_twice_the_sensitivity_in_a_ledger():
    X, y, site = make_sites()
    with PrivacyLedger() as ledger:
        clf = FederatedDPAttentionClassifier(epsilon=1.0, dp_level="client", **FAST).fit(X, y, groups=site)
    (record,) = ledger.records
    assert record["groups"] == [[[clf.noise_multiplier_ / 2, 1.0, 2]]]
    assert record["epsilon"] > clf.epsilon_


def _deployment(tmp_path, failing_site, **params):
    X, y, site = make_sites()
    spec = FederatedDPAttentionClassifier(**{**FAST, **params})
    names = ["north", "south", "west"]

    def load_site(context):
        index = int(context.node_config["partition-id"])
        if index == failing_site:
            raise OSError(f"site {names[index]}: data volume not mounted")
        return X[site == names[index]], y[site == names[index]]

    output = tmp_path / "model.pkl"
    # SecAgg+ quantizes by max_weight: the largest site, as fit uses.
    server_app = make_server_app(spec, X[:2], n_sites=3, output_path=output, max_site_rows=150)
    client_app = make_client_app(spec, load_site)
    return server_app, client_app, output, X


def test_deployment_apps_tolerate_a_failing_site(tmp_path):
    server_app, client_app, output, X = _deployment(tmp_path, failing_site=1, max_failed_fraction=0.5)
    run_in_process(server_app, client_app, 3)
    with open(output, "rb") as f:
        model = pickle.load(f)
    assert [(row["n_results"], row["n_failures"]) for row in model.history_] == [(2, 1), (2, 1)]
    # The failing site never trained, so only the two others are accounted.
    assert set(model.sites_) == {0, 2}
    assert model.epsilon_ <= 1.0
    assert model.predict_proba(X[:4]).shape == (4, 2)


@pytest.mark.parametrize("dp_level", ["record", "client"])
def test_deployment_apps_give_the_in_process_model(tmp_path, dp_level):
    """The apps of a deployment run what fit runs: the same model for the same random_state."""
    server_app, client_app, output, X = _deployment(tmp_path, failing_site=None, dp_level=dp_level,
                                                    secure_aggregation=True)
    run_in_process(server_app, client_app, 3)
    with open(output, "rb") as f:
        deployed = pickle.load(f)
    X, y, site = make_sites()
    fitted = FederatedDPAttentionClassifier(**FAST, dp_level=dp_level, secure_aggregation=True).fit(X, y, groups=site)
    # Up to SecAgg+'s quantization, which rounds differently in every run, and which the
    # second round's training amplifies.
    np.testing.assert_allclose(deployed.predict_proba(X), fitted.predict_proba(X), atol=1e-2)
    assert deployed.epsilon_ == fitted.epsilon_ and deployed.accountant_history_ == fitted.accountant_history_
    assert list(deployed.sites_.values()) == list(fitted.sites_.values())


def test_deployment_stops_when_too_many_sites_fail(tmp_path):
    server_app, client_app, output, _ = _deployment(tmp_path, failing_site=1, max_failed_fraction=0.0)
    with pytest.raises(FederationError, match="1 of the 3 sites sampled in round 1 failed.*not mounted"):
        run_in_process(server_app, client_app, 3)
    assert not output.exists()


def test_deployment_needs_public_encoding():
    spec = FederatedDPAttentionClassifier(n_rounds=1)
    X, _, _ = make_sites()
    with pytest.raises(ValueError, match="bounds and classes must be given for a deployment"):
        make_server_app(spec, X[:2], n_sites=3, output_path="unused.pkl")


def test_import_without_flower_names_the_extra(monkeypatch):
    for name in [m for m in sys.modules if m.startswith("sk_privattn.federated")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "flwr", None)
    with pytest.raises(ImportError, match=r'pip install "sk_privattn\[federated\]"'):
        import sk_privattn.federated  # noqa: F401
