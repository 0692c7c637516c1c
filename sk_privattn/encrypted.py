"""Encrypted inference: scores for rows that the model's owner never sees.

A model trained with differential privacy can simply be shipped to whoever
holds the rows: DP bounds what its weights reveal about the training rows
(docs/private_inference.md). Where the owner keeps the weights, a client
encrypts its rows with CKKS homomorphic encryption (TenSEAL), the owner's
:class:`EncryptedServer` computes on the ciphertexts with the client's
public keys only, and only the :class:`EncryptedClient` can decrypt the
scores. The model must be one that CKKS can evaluate: an estimator fitted
with ``architecture="polynomial"``
(:class:`~sk_privattn.nn.PolynomialAttention`).

Everything that crosses the wire is bytes:

1. the owner sends :meth:`EncryptedServer.model_spec`: the model's public
   input encoding (bounds, categories, classes), the CKKS parameters and the
   model's fingerprint, never its weights;
2. the client sends :meth:`EncryptedClient.public_context` (keys without
   the secret key) and :meth:`EncryptedClient.encrypt` of its rows;
3. the owner returns :meth:`EncryptedServer.score`, which the client reads
   with :meth:`EncryptedClient.decrypt`, :meth:`~EncryptedClient.predict_proba`
   or :meth:`~EncryptedClient.predict`.

Layout: one ciphertext per input term of the network's polynomial
(:class:`~sk_privattn.nn.PolynomialLayout`), with up to
``ROWS_PER_CIPHERTEXT`` rows in its slots. The server needs no rotations,
so the client sends no Galois keys. TenSEAL is an optional dependency
(``pip install "sk_privattn[encrypted]"``), imported when first needed.
"""

import hashlib
import json
import struct

import numpy as np
from scipy.special import softmax
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted

from ._classification import DPClassifierMixin
from ._tabular import BaseDPAttention, as_numeric_or_object
from .nn import PolynomialAttention, PolynomialForm, PolynomialLayout
from .persistence import from_json, to_json
from .preprocessing import NUMERIC_ENCODINGS, TabularEncoder
from .regressor import unscale_target

__all__ = ["EncryptedClient", "EncryptedServer"]

#: CKKS ring degree: ciphertexts of ``POLY_MODULUS_DEGREE / 2`` slots.
POLY_MODULUS_DEGREE = 8192
#: The primes of the coefficient modulus, in bits: 218 bits in all, the most
#: that 128-bit security allows at degree 8192 (the homomorphic encryption
#: standard, which SEAL enforces). Three 38-bit primes for the three products
#: of :class:`~sk_privattn.nn.PolynomialForm`, a 52-bit first prime that
#: leaves 14 bits above the scale for the decrypted outputs, and a 52-bit
#: special prime for relinearisation.
COEFF_MOD_BIT_SIZES = (52, 38, 38, 38, 52)
#: The CKKS scale, ``2 ** SCALE_BITS``: the precision of the encoding.
SCALE_BITS = 38
#: Rows packed in the slots of one ciphertext.
ROWS_PER_CIPHERTEXT = POLY_MODULUS_DEGREE // 2
#: Largest output the server evaluates: a quarter of what the first prime
#: decrypts without wrapping around.
OUTPUT_LIMIT = 2.0 ** (COEFF_MOD_BIT_SIZES[0] - SCALE_BITS - 3)

_FORMAT = "sk_privattn.encrypted"
_VERSION = 1
_MAGIC = b"sk_privattn.encrypted\n"
#: What makes each kind of message, for the errors.
_PRODUCERS = {
    "model": "EncryptedServer.model_spec()",
    "query": "EncryptedClient.encrypt(X)",
    "result": "EncryptedServer.score(...)",
}


def _tenseal():
    try:
        import tenseal
    except ImportError as exc:
        raise ImportError(
            "sk_privattn.encrypted needs TenSEAL, which is not installed. Install it with "
            'python -m pip install "sk_privattn[encrypted]" (or tenseal==0.3.18).'
        ) from exc
    return tenseal


def _pack(kind, header, blobs=()):
    """A message: a JSON header, then length-prefixed binary parts."""
    head = json.dumps({"format": _FORMAT, "version": _VERSION, "kind": kind, **header}).encode()
    parts = [_MAGIC, struct.pack("<Q", len(head)), head]
    for blob in blobs:
        parts += [struct.pack("<Q", len(blob)), blob]
    return b"".join(parts)


def _unpack(data, kind, name):
    """The header and the binary parts of a message of ``kind``, passed as the argument ``name``."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"{name} must be bytes, as {_PRODUCERS[kind]} returns them; got {type(data).__name__}.")
    data = memoryview(data)
    if bytes(data[: len(_MAGIC)]) != _MAGIC:
        raise ValueError(
            f"{name} is not a message of {_FORMAT}: it does not start with its header. Pass the bytes "
            f"that {_PRODUCERS[kind]} returned, unchanged."
        )
    parts, offset = [], len(_MAGIC)
    try:
        while offset < len(data):
            (size,) = struct.unpack_from("<Q", data, offset)
            parts.append(bytes(data[offset + 8 : offset + 8 + size]))
            offset += 8 + size
        header = json.loads(parts[0])
    except (struct.error, IndexError, ValueError) as exc:
        raise ValueError(f"{name} is truncated or corrupted; pass the bytes that {_PRODUCERS[kind]} returned.") from exc
    if header.get("version") != _VERSION:
        raise ValueError(
            f"{name} has version {header.get('version')} of the {_FORMAT} format, but this sk_privattn reads "
            f"version {_VERSION}; use the same sk_privattn on both sides."
        )
    if header.get("kind") != kind:
        raise ValueError(
            f"{name} is a {header.get('kind')!r} message, not a {kind!r} one: pass what {_PRODUCERS[kind]} "
            "returned."
        )
    return header, parts[1:]


def _fingerprint(spec, module):
    """SHA-256 of the public spec and of the weights: which model a message is for."""
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode())
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().numpy().tobytes())
    return digest.hexdigest()[:32]


def _check_fingerprint(header, fingerprint, name, holder):
    if header.get("fingerprint") != fingerprint:
        raise ValueError(
            f"{name} is for the model with fingerprint {header.get('fingerprint')}, but {holder} is for the "
            f"model {fingerprint}. Encrypt the rows with an EncryptedClient made from this model's "
            "model_spec(), and send them to the server of that model."
        )


class EncryptedServer:
    """The model owner's side of encrypted inference: scores ciphertexts, with public keys only.

    It holds the fitted model and never a secret key: :meth:`score` refuses
    a context that holds one. It keeps nothing of a query between calls.

    Parameters
    ----------
    estimator : DPAttentionClassifier, DPAttentionRegressor or FederatedDPAttentionClassifier
        Fitted with ``architecture="polynomial"``.

    Attributes
    ----------
    fingerprint : str
        Identifies the model (a hash of its public encoding and of its
        weights); every query and result carries it, and a query for another
        model is refused.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_privattn import DPAttentionClassifier
    >>> from sk_privattn.encrypted import EncryptedClient, EncryptedServer
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(300, 3))
    >>> y = (X[:, 0] + X[:, 1] > 0).astype(int)
    >>> clf = DPAttentionClassifier(architecture="polynomial", bounds=(-1, 1), classes=[0, 1], d_token=8,
    ...                             n_heads=2, max_epochs=3, random_state=0).fit(X, y)
    >>> server = EncryptedServer(clf)                      # the owner
    >>> client = EncryptedClient(server.model_spec())      # the client: makes the keys
    >>> result = server.score(client.public_context(), client.encrypt(X[:5]))
    >>> np.allclose(client.predict_proba(result), clf.predict_proba(X[:5]), atol=1e-3)
    True
    """

    def __init__(self, estimator):
        check_is_fitted(estimator)
        if not isinstance(estimator, BaseDPAttention) or not isinstance(estimator.module_, PolynomialAttention):
            architecture = getattr(estimator, "architecture", None)
            raise ValueError(
                f"EncryptedServer evaluates the network of architecture='polynomial' only (additions, "
                f"products and squares, which CKKS computes); got a {type(estimator).__name__} with "
                f"architecture={architecture!r}, whose softmax, LayerNorm and GELU it cannot. Fit a "
                "DPAttentionClassifier or DPAttentionRegressor with architecture='polynomial'."
            )
        self._form = estimator.module_.polynomial()
        bound = float(self._form.output_bound().max())
        if bound > OUTPUT_LIMIT:
            raise ValueError(
                f"The outputs of this model can reach {bound:.4g} in absolute value, beyond the "
                f"{OUTPUT_LIMIT:g} that the CKKS parameters decrypt safely (the first prime of "
                f"{COEFF_MOD_BIT_SIZES[0]} bits, the scale of {SCALE_BITS}). Train with a stronger "
                "weight_decay or a smaller lr, which keep the weights smaller."
            )
        spec = _model_spec(estimator, self._form)
        self.fingerprint = _fingerprint(spec, estimator.module_)
        self._spec = {**spec, "fingerprint": self.fingerprint}

    def model_spec(self):
        """What a client needs to encrypt rows for this model, as bytes; no weights.

        The model's input encoding (the public ``bounds_``, ``categories_``
        and feature names), its outputs (``classes_`` or ``target_bounds_``),
        the CKKS parameters and the fingerprint.

        Returns
        -------
        model_spec : bytes
        """
        return _pack("model", self._spec)

    def score(self, public_context, query):
        """The encrypted outputs of the model for the encrypted rows of ``query``.

        Parameters
        ----------
        public_context : bytes
            :meth:`EncryptedClient.public_context`: the CKKS parameters and
            the relinearisation keys, without the secret key.
        query : bytes
            :meth:`EncryptedClient.encrypt`, for this model.

        Returns
        -------
        result : bytes
            The outputs, encrypted: only the client's secret key decrypts them
            (:meth:`EncryptedClient.decrypt`).
        """
        header, batches = _unpack(query, "query", "query")
        _check_fingerprint(header, self.fingerprint, "query", "this server")
        context = _public_context(public_context, self._spec["ckks"])
        tenseal = _tenseal()
        outputs = []
        for batch in batches:
            try:
                terms = tenseal.ckks_tensor_from(context, batch)
            except (ValueError, RuntimeError) as exc:
                raise ValueError(
                    f"query holds a ciphertext that public_context cannot read ({exc}): send the public "
                    "context of the EncryptedClient that encrypted the query."
                ) from exc
            if terms.shape != [self._form.layout.n_terms]:
                raise ValueError(
                    f"query holds batches of {terms.shape} encrypted inputs, but this model takes "
                    f"{self._form.layout.n_terms}: encrypt with EncryptedClient(model_spec()) of this model."
                )
            outputs.append(_evaluate(self._form, terms, tenseal).serialize())
        return _pack("result", {"fingerprint": self.fingerprint}, outputs)


def _model_spec(estimator, form):
    """The public description of a fitted model that a client encrypts for."""
    if isinstance(estimator, DPClassifierMixin):
        outputs = {"classes": to_json(estimator.classes_)}
    else:
        outputs = {"target_bounds": to_json(estimator.target_bounds_)}
    names = getattr(estimator, "feature_names_in_", None)
    return {
        "estimator": type(estimator).__name__,
        "n_features_in": int(estimator.n_features_in_),
        "feature_names_in": None if names is None else [str(name) for name in names],
        "is_categorical": [bool(value) for value in estimator.is_categorical_],
        "bounds": to_json(estimator.bounds_),
        "categories": to_json(estimator.categories_),
        "numeric_encoding": estimator.numeric_encoding,
        "n_terms": form.layout.n_terms,
        "n_outputs": len(form.bias),
        "outputs": outputs,
        "ckks": {
            "poly_modulus_degree": POLY_MODULUS_DEGREE,
            "coeff_mod_bit_sizes": list(COEFF_MOD_BIT_SIZES),
            "scale_bits": SCALE_BITS,
        },
    }


def _public_context(data, ckks):
    """The client's TenSEAL context from ``data``, checked: public, with the keys and parameters needed."""
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(
            f"public_context must be bytes, as EncryptedClient.public_context() returns them; got {type(data).__name__}."
        )
    tenseal = _tenseal()
    try:
        context = tenseal.context_from(bytes(data))
    except (ValueError, RuntimeError) as exc:
        raise ValueError(
            f"public_context is not a serialised TenSEAL context ({exc}); pass EncryptedClient.public_context()."
        ) from exc
    if context.has_secret_key():
        raise ValueError(
            "public_context holds the secret key, with which whoever holds it decrypts every query and "
            "result. The server must never receive it: send EncryptedClient.public_context(), which leaves "
            "it out, and keep the secret key on the client (make new keys: this one is no longer secret)."
        )
    if not context.has_relin_keys():
        raise ValueError(
            "public_context has no relinearisation keys, which the square of the model needs. Send "
            "EncryptedClient.public_context(), which includes them (TenSEAL: serialize(save_relin_keys=True))."
        )
    data_levels = context.seal_context().data.first_context_data()
    degree = data_levels.parms().poly_modulus_degree()
    depth = data_levels.chain_index()
    try:
        scale = context.global_scale
    except ValueError:
        scale = None
    if degree != ckks["poly_modulus_degree"] or depth < PolynomialForm.depth or scale != 2.0 ** ckks["scale_bits"]:
        raise ValueError(
            f"public_context has poly modulus degree {degree}, {depth} multiplicative levels and scale "
            f"{scale}, but the model needs degree {ckks['poly_modulus_degree']}, {PolynomialForm.depth} levels "
            f"(coefficient modulus {ckks['coeff_mod_bit_sizes']} bits) and scale 2**{ckks['scale_bits']}. "
            "Make the keys with EncryptedClient(model_spec), which reads them from the model's spec."
        )
    return context


def _evaluate(form, terms, tenseal):
    """``form`` on a batch of encrypted terms (one ciphertext per term), as a ciphertext tensor.

    Three levels: the product with ``hidden_weight``, the square, the product
    with ``square_weight``. The biases are added as plain values after each
    product, never before one (TenSEAL issue #462).
    """

    def plain(matrix):
        return tenseal.plain_tensor(np.atleast_2d(matrix))

    terms = terms.reshape([1, form.layout.n_terms])
    hidden = terms.mm(plain(form.hidden_weight.T)) + plain(form.hidden_bias)
    outputs = hidden.square().mm(plain(form.square_weight.T))
    return outputs + terms.mm(plain(form.linear_weight.T)) + plain(form.bias)


class EncryptedClient:
    """The data holder's side of encrypted inference: keys, encryption, decryption.

    It makes a CKKS key pair for the model that ``model_spec`` describes,
    encodes rows with the model's public input encoding (the bounds and
    categories of the fit, nothing learned), encrypts them, and decrypts the
    server's result. The secret key never leaves it.

    Parameters
    ----------
    model_spec : bytes
        :meth:`EncryptedServer.model_spec` of the model to query.

    Attributes
    ----------
    fingerprint : str
        The model's fingerprint, from ``model_spec``.
    n_features_in_ : int
        Columns that ``X`` must have.
    feature_names_in_ : ndarray of str or None
        Their names, when the model was fitted on a DataFrame.

    Examples
    --------
    See :class:`EncryptedServer`.
    """

    def __init__(self, model_spec):
        tenseal = _tenseal()
        spec, _ = _unpack(model_spec, "model", "model_spec")
        self._spec = spec
        self.fingerprint = spec["fingerprint"]
        self.n_features_in_ = spec["n_features_in"]
        names = spec["feature_names_in"]
        self.feature_names_in_ = None if names is None else np.asarray(names, dtype=object)
        self._encoder = TabularEncoder.from_fitted(
            np.asarray(spec["is_categorical"], dtype=bool),
            bounds=from_json(spec["bounds"]),
            categories=from_json(spec["categories"]),
            feature_names=self.feature_names_in_,
            numeric_encoding=spec["numeric_encoding"],
            estimator_name="EncryptedClient",
        )
        self._layout = PolynomialLayout(
            self._encoder.numeric_.size,
            [len(categories) for categories in self._encoder.categories_],
            NUMERIC_ENCODINGS[spec["numeric_encoding"]],
        )
        ckks = spec["ckks"]
        self._context = tenseal.context(
            tenseal.SCHEME_TYPE.CKKS, ckks["poly_modulus_degree"], coeff_mod_bit_sizes=ckks["coeff_mod_bit_sizes"]
        )
        self._context.global_scale = 2.0 ** ckks["scale_bits"]

    def public_context(self):
        """The keys that the server computes with, as bytes: no secret key.

        The CKKS parameters and the relinearisation keys; neither the secret
        key, nor Galois keys (the layout needs no rotations), nor the public
        key (the server encrypts nothing).

        Returns
        -------
        public_context : bytes
        """
        return self._context.serialize(
            save_public_key=False, save_secret_key=False, save_galois_keys=False, save_relin_keys=True
        )

    def encrypt(self, X):
        """Encode the rows of ``X`` with the model's public encoding and encrypt them.

        Rows are packed ``ROWS_PER_CIPHERTEXT`` to a ciphertext, one ciphertext
        per input term of the model; the server learns the number of rows of
        each batch, not their values.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            The columns the model was fitted on, in the same order; missing
            values as the estimator takes them.

        Returns
        -------
        query : bytes
        """
        tenseal = _tenseal()
        X = self._validate(X)
        batches = []
        for start in range(0, X.shape[0], ROWS_PER_CIPHERTEXT):
            x_num, x_cat = self._encoder.transform(X[start : start + ROWS_PER_CIPHERTEXT])
            terms = tenseal.plain_tensor(self._layout.features(x_num, x_cat))
            batches.append(tenseal.ckks_tensor(self._context, terms, batch=True).serialize())
        return _pack("query", {"fingerprint": self.fingerprint}, batches)

    def _validate(self, X):
        """``X`` as the estimator's encoder reads it, with the model's columns."""
        columns = getattr(X, "columns", None)
        names = self.feature_names_in_
        if names is not None and columns is not None and [str(c) for c in columns] != list(names):
            raise ValueError(
                f"X has the columns {list(columns)}, but the model was fitted on {list(names)}; pass "
                "X[model_columns], the same columns in the same order."
            )
        X = check_array(X, dtype=None, ensure_all_finite=False, input_name="X")
        if X.shape[1] != self.n_features_in_:
            listed = f" ({', '.join(names)})" if names is not None else ""
            raise ValueError(
                f"X has {X.shape[1]} features, but the model {self.fingerprint} takes {self.n_features_in_}"
                f"{listed}. Pass the columns it was fitted on, in the same order."
            )
        return as_numeric_or_object(X)

    def decrypt(self, result):
        """The model's outputs for the encrypted rows: the logits, or the scaled regression output.

        As ``module_`` of the estimator returns them, up to the CKKS
        approximation error (below 1e-3 on the logits of a model of Adult).

        Parameters
        ----------
        result : bytes
            :meth:`EncryptedServer.score` of this client's query.

        Returns
        -------
        outputs : ndarray of shape (n_samples, n_outputs)
        """
        header, batches = _unpack(result, "result", "result")
        _check_fingerprint(header, self.fingerprint, "result", "this client")
        tenseal = _tenseal()
        n_outputs = self._spec["n_outputs"]
        outputs = [np.zeros((0, n_outputs))]
        for batch in batches:
            plain = tenseal.ckks_tensor_from(self._context, batch).decrypt()
            outputs.append(np.asarray(plain.raw, dtype=np.float64).reshape(-1, n_outputs))
        return np.concatenate(outputs)

    def predict_proba(self, result):
        """Class probabilities, as the classifier's ``predict_proba`` gives them.

        Parameters
        ----------
        result : bytes
            :meth:`EncryptedServer.score` of this client's query.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        if "classes" not in self._spec["outputs"]:
            raise ValueError(
                f"predict_proba is for classifiers, but the model is a {self._spec['estimator']}; use predict."
            )
        return softmax(self.decrypt(result), axis=1)

    def predict(self, result):
        """Predicted class or value of each row, as the estimator's ``predict`` gives them.

        Parameters
        ----------
        result : bytes
            :meth:`EncryptedServer.score` of this client's query.

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        outputs = self.decrypt(result)
        if "classes" in self._spec["outputs"]:
            return from_json(self._spec["outputs"]["classes"])[np.argmax(outputs, axis=1)]
        return unscale_target(outputs[:, 0], from_json(self._spec["outputs"]["target_bounds"]))
