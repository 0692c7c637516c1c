"""FederatedDPAttentionClassifier and the Flower apps: privacy accounting, faults, scikit-learn use.

Most fits use backend="in-process", which calls the same Flower ClientApp and
ServerApp without Ray; one test runs Flower's Ray simulation engine and checks
that it gives the same model.
"""

import pickle
import sys

import numpy as np
import pytest

flwr = pytest.importorskip("flwr")

import sklearn  # noqa: E402
from sklearn.model_selection import GridSearchCV, GroupKFold  # noqa: E402

from sk_privattn import PrivacyLeakWarning  # noqa: E402
from sk_privattn.federated import (  # noqa: E402
    FederatedDPAttentionClassifier,
    make_client_app,
    make_server_app,
)
from sk_privattn.federated._inprocess import run_in_process  # noqa: E402
from sk_privattn.federated._server import FederationError  # noqa: E402
from sk_privattn.privacy import compute_epsilon, default_delta  # noqa: E402

# Small model, few rounds; "rdp" accounts in milliseconds where PRV takes seconds.
FAST = dict(n_rounds=2, d_token=8, n_heads=2, n_layers=1, bounds=(-1, 1), accountant="rdp",
            backend="in-process", random_state=0)


def make_sites(n_per_site=(120, 90, 150), seed=0):
    rng = np.random.RandomState(seed)
    n = sum(n_per_site)
    X = rng.uniform(-1, 1, size=(n, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    site = np.repeat(np.array(["north", "south", "west", "east"])[: len(n_per_site)], n_per_site)
    return X, y, site


def test_record_level_accounts_each_site_over_all_rounds():
    X, y, site = make_sites()
    # Site "south" has only class 0: the classes come from the union of the sites.
    y[site == "south"] = 0
    clf = FederatedDPAttentionClassifier(epsilon=2.0, local_epochs=2, **FAST).fit(X, y, groups=site)
    np.testing.assert_array_equal(clf.classes_, [0, 1])
    assert set(clf.sites_) == {"north", "south", "west"}
    for name, info in clf.sites_.items():
        n_rows = int(np.sum(site == name))
        steps_per_epoch = int(np.ceil(n_rows / info["batch_size"]))
        assert info["n_rows"] == n_rows
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
    # Three of the four sites train each round: Gaussian mechanism sampled at 3/4, once per round.
    assert clf.delta_ == default_delta(4)
    assert clf.sample_rate_ == 0.75
    assert clf.n_steps_ == 2
    assert clf.accountant_history_ == [(clf.noise_multiplier_, 0.75, 2)]
    assert clf.epsilon_ == pytest.approx(compute_epsilon(clf.accountant_history_, clf.delta_, "rdp"))
    assert 0.9 * 3.0 < clf.epsilon_ <= 3.0
    assert [row["n_results"] for row in clf.history_] == [3, 3]
    assert clf.predict(X[:5]).shape == (5,)


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


def test_small_site_for_the_batch_size_is_named():
    X, y, site = make_sites((120, 20, 150))
    clf = FederatedDPAttentionClassifier(batch_size=32, **FAST)
    with pytest.raises(ValueError, match="Site 'south' .* has 20 rows, fewer than batch_size=32"):
        clf.fit(X, y, groups=site)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"secure_aggregation": True, "fraction_fit": 0.5}, "secure_aggregation=True needs at least 3 sites"),
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


@pytest.mark.filterwarnings("ignore:bounds were not given:sk_privattn.exceptions.PrivacyLeakWarning")
def test_bounds_read_from_pooled_data_warn():
    X, y, site = make_sites()
    params = {**FAST, "bounds": None}
    with pytest.warns(PrivacyLeakWarning, match="pooled rows of all sites"):
        FederatedDPAttentionClassifier(**params).fit(X, y, groups=site)


def _deployment(tmp_path, failing_site, **params):
    X, y, site = make_sites()
    spec = FederatedDPAttentionClassifier(classes=[0, 1], **{**FAST, **params})
    names = ["north", "south", "west"]

    def load_site(context):
        index = int(context.node_config["partition-id"])
        if index == failing_site:
            raise OSError(f"site {names[index]}: data volume not mounted")
        return X[site == names[index]], y[site == names[index]]

    output = tmp_path / "model.pkl"
    server_app = make_server_app(spec, X[:2], n_sites=3, output_path=output)
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
