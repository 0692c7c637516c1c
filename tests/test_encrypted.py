"""Encrypted inference (sk_privattn.encrypted): the decrypted scores are the model's, the
server never holds a secret key, client and server run apart, and misuse gets a clear error."""

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from sk_privattn import DPAttentionClassifier, DPAttentionRegressor, PrivacyLeakWarning
from sk_privattn import encrypted
from sk_privattn.encrypted import COEFF_MOD_BIT_SIZES, SCALE_BITS, EncryptedClient, EncryptedServer
from sk_privattn.persistence import save

from _settings import FAST_PARAMS
from conftest import PUBLIC, make_mixed_frame
from test_neighbouring import neighbouring_fits

tenseal = pytest.importorskip("tenseal")

ROOT = Path(__file__).resolve().parent.parent

#: Largest difference allowed between a decrypted probability (or scaled
#: regression output) and the plaintext one. CKKS at scale 2**38 gives about 1e-5.
TOLERANCE = 1e-3

POLYNOMIAL = dict(FAST_PARAMS, architecture="polynomial", random_state=0, **PUBLIC)


def _rows(n_samples=300, seed=0):
    """The mixed frame, with some ages missing (the network's "missing" term)."""
    X, y = make_mixed_frame(n_samples=n_samples, seed=seed)
    return X.assign(age=X["age"].where(np.arange(n_samples) % 7 > 0)), y


def _fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrivacyLeakWarning)
        return estimator.fit(X, y)


@pytest.fixture(scope="module")
def classifier():
    return _fit(DPAttentionClassifier(**POLYNOMIAL, classes=[0, 1]), *_rows())


@pytest.fixture(scope="module")
def server(classifier):
    return EncryptedServer(classifier)


@pytest.fixture(scope="module")
def client(server):
    return EncryptedClient(server.model_spec())


@pytest.fixture(scope="module")
def query(client):
    X, _ = _rows(n_samples=20, seed=1)
    return client.encrypt(X)


def _regressor():
    X, _ = _rows()
    target = X["income"].to_numpy() / 10 + (X["color"] == "red") * 3.0
    return _fit(DPAttentionRegressor(**POLYNOMIAL, target_bounds=(0, 15)), X, target)


def _federated():
    pytest.importorskip("flwr")
    from sk_privattn.federated import FederatedDPAttentionClassifier

    X, y = _rows(n_samples=150)
    settings = {key: value for key, value in POLYNOMIAL.items() if key != "max_epochs"}
    federated = FederatedDPAttentionClassifier(**settings, n_rounds=2, classes=[0, 1], backend="in-process")
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrivacyLeakWarning)
        # 50 rows a site learn little under DP; the test is about the encrypted scores.
        warnings.filterwarnings("ignore", "DP-SGD will likely learn little", UserWarning)
        return federated.fit(X, y, groups=np.repeat(["north", "south", "west"], 50))


ESTIMATORS = {"regressor": _regressor, "federated classifier": _federated}


def test_decrypted_probabilities_are_the_classifiers(classifier, server, client, query, monkeypatch):
    X, _ = _rows(n_samples=20, seed=1)
    result = server.score(client.public_context(), query)
    np.testing.assert_allclose(client.predict_proba(result), classifier.predict_proba(X), atol=TOLERANCE)
    np.testing.assert_array_equal(client.predict(result), classifier.predict(X))
    # Rows beyond one ciphertext's slots go into further ciphertexts, in order.
    monkeypatch.setattr(encrypted, "ROWS_PER_CIPHERTEXT", 8)
    result = server.score(client.public_context(), client.encrypt(X))
    np.testing.assert_allclose(client.predict_proba(result), classifier.predict_proba(X), atol=TOLERANCE)


@pytest.mark.parametrize("kind", list(ESTIMATORS))
def test_decrypted_scores_are_the_estimators(kind):
    fitted = ESTIMATORS[kind]()
    X, _ = _rows(n_samples=20, seed=1)
    server = EncryptedServer(fitted)
    client = EncryptedClient(server.model_spec())
    result = server.score(client.public_context(), client.encrypt(X))
    if kind == "regressor":
        low, high = fitted.target_bounds_
        np.testing.assert_allclose(client.predict(result), fitted.predict(X), atol=TOLERANCE * (high - low) / 2)
        with pytest.raises(ValueError, match="predict_proba is for classifiers, but the model is a DPAttentionRegressor"):
            client.predict_proba(result)
    else:
        np.testing.assert_allclose(client.predict_proba(result), fitted.predict_proba(X), atol=TOLERANCE)


def test_the_model_spec_of_neighbouring_fits_differs_only_in_the_fingerprint():
    """What the owner sends to clients is public metadata, and a hash of the DP weights."""
    specs = [encrypted._unpack(EncryptedServer(fitted).model_spec(), "model", "model_spec")[0]
             for fitted in neighbouring_fits("classifier, polynomial architecture and missing values")]
    assert specs[0]["fingerprint"] != specs[1]["fingerprint"]
    assert {**specs[0], "fingerprint": None} == {**specs[1], "fingerprint": None}


def test_the_public_context_cannot_decrypt(server, client, query):
    context = tenseal.context_from(client.public_context())
    assert not context.has_secret_key() and not context.has_galois_keys()
    _, batches = encrypted._unpack(server.score(client.public_context(), query), "result", "result")
    for ciphertext in (batches[0], encrypted._unpack(query, "query", "query")[1][0]):
        with pytest.raises(ValueError, match="doesn't hold a secret_key"):
            tenseal.ckks_tensor_from(context, ciphertext).decrypt()


def _context(poly_modulus_degree=8192, coeff_mod_bit_sizes=COEFF_MOD_BIT_SIZES, **serialize):
    context = tenseal.context(tenseal.SCHEME_TYPE.CKKS, poly_modulus_degree,
                              coeff_mod_bit_sizes=list(coeff_mod_bit_sizes))
    context.global_scale = 2.0 ** SCALE_BITS
    return context.serialize(**{"save_secret_key": False, **serialize})


BAD_CONTEXTS = {
    "with the secret key": (lambda: _context(save_secret_key=True), "holds the secret key"),
    "without relinearisation keys": (lambda: _context(save_relin_keys=False), "no relinearisation keys"),
    "too small": (lambda: _context(4096, (40, 20, 40)),
                  r"poly modulus degree 4096, 1 multiplicative levels .* needs degree 8192, 3 levels"),
    "too shallow": (lambda: _context(8192, (60, 40, 40, 60)), "2 multiplicative levels .* 3 levels"),
    "not a context": (lambda: b"not a context", "not a serialised TenSEAL context"),
}


@pytest.mark.parametrize("case", list(BAD_CONTEXTS))
def test_a_bad_public_context_is_refused(server, query, case):
    make, message = BAD_CONTEXTS[case]
    with pytest.raises(ValueError, match=message):
        server.score(make(), query)


def test_a_query_for_another_model_is_refused(classifier, server, client, query):
    other = EncryptedServer(_fit(DPAttentionClassifier(**{**POLYNOMIAL, "random_state": 1}, classes=[0, 1]),
                                 *_rows(n_samples=100)))
    assert other.fingerprint != server.fingerprint
    with pytest.raises(ValueError, match=f"query is for the model with fingerprint {server.fingerprint}, but this "
                                         f"server is for the model {other.fingerprint}"):
        other.score(client.public_context(), query)
    other_client = EncryptedClient(other.model_spec())
    result = other.score(other_client.public_context(), other_client.encrypt(_rows(n_samples=5)[0]))
    with pytest.raises(ValueError, match="result is for the model with fingerprint .* but this client"):
        client.decrypt(result)


def test_the_wrong_columns_are_refused(client):
    X, _ = _rows(n_samples=5)
    with pytest.raises(ValueError, match=r"X has 3 features, but the model \w+ takes 4 \(age, color, income, size\)"):
        client.encrypt(X.to_numpy()[:, :3])
    with pytest.raises(ValueError, match=r"X has the columns \['color', 'age', 'income', 'size'\], but the model "
                                         r"was fitted on \['age', 'color', 'income', 'size'\]"):
        client.encrypt(X[["color", "age", "income", "size"]])


def test_messages_that_are_not_the_expected_bytes_are_refused(server, client, query):
    with pytest.raises(ValueError, match=r"query is not a message of sk_privattn.encrypted.*EncryptedClient.encrypt"):
        server.score(client.public_context(), b"rows in the clear")
    with pytest.raises(ValueError, match="query is a 'model' message, not a 'query' one"):
        server.score(client.public_context(), server.model_spec())
    with pytest.raises(ValueError, match="query is truncated or corrupted"):
        server.score(client.public_context(), query[:100])
    with pytest.raises(TypeError, match="query must be bytes.* got str"):
        server.score(client.public_context(), "query")
    with pytest.raises(ValueError, match="model_spec is a 'query' message, not a 'model' one"):
        EncryptedClient(query)


def test_only_a_fitted_polynomial_tabular_model_is_served(classifier):
    with pytest.raises(NotFittedError):
        EncryptedServer(DPAttentionClassifier(architecture="polynomial"))
    default = _fit(DPAttentionClassifier(**{**POLYNOMIAL, "architecture": "ft_transformer"}, classes=[0, 1]),
                   *_rows(n_samples=100))
    with pytest.raises(ValueError, match="architecture='polynomial' only .* got a DPAttentionClassifier with "
                                         "architecture='ft_transformer'"):
        EncryptedServer(default)


def test_a_model_whose_outputs_ckks_cannot_decrypt_is_refused(classifier, monkeypatch):
    monkeypatch.setattr(encrypted, "OUTPUT_LIMIT", 1e-3)
    with pytest.raises(ValueError, match="outputs of this model can reach .* beyond the 0.001"):
        EncryptedServer(classifier)


def test_without_tenseal_the_error_says_how_to_install_it(server, monkeypatch):
    monkeypatch.setitem(sys.modules, "tenseal", None)
    with pytest.raises(ImportError, match=r'pip install "sk_privattn\[encrypted\]"'):
        EncryptedClient(server.model_spec())


SERVER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from sk_privattn.encrypted import EncryptedServer
    from sk_privattn.persistence import load

    folder = Path(sys.argv[2])
    server = EncryptedServer(load(folder / "model.zip"))
    if sys.argv[1] == "spec":
        (folder / "spec.bin").write_bytes(server.model_spec())
    else:
        result = server.score((folder / "context.bin").read_bytes(), (folder / "query.bin").read_bytes())
        (folder / "result.bin").write_bytes(result)
""")


def test_client_and_server_in_two_processes(classifier, tmp_path):
    """The owner's server runs in other processes; only bytes in files pass between them."""
    save(classifier, tmp_path / "model.zip")

    def run_server(step):
        subprocess.run([sys.executable, "-c", SERVER, step, str(tmp_path)], cwd=ROOT, check=True, timeout=300)

    run_server("spec")
    client = EncryptedClient((tmp_path / "spec.bin").read_bytes())
    X, _ = _rows(n_samples=20, seed=1)
    (tmp_path / "context.bin").write_bytes(client.public_context())
    (tmp_path / "query.bin").write_bytes(client.encrypt(X))
    run_server("score")
    proba = client.predict_proba((tmp_path / "result.bin").read_bytes())
    np.testing.assert_allclose(proba, classifier.predict_proba(X), atol=TOLERANCE)
