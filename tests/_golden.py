"""Golden outputs: what a fixed matrix of fits produces, to show that a change of layout
changes no behaviour.

:func:`golden_outputs` fits a small matrix (the three estimators, both
relations, a person-level fit, a warm start, and federated fits at both levels), each
inside a :class:`~sk_privattn.PrivacyLedger`, with a fixed ``random_state``, and returns
for each fit:

- ``weights``: the trained ``state_dict`` of ``module_`` (compared to a tolerance: float
  arithmetic may differ in its last bits between CPUs; a change of behaviour, such as
  another Poisson sample or noise draw, moves weights by orders of magnitude more);
- ``ledger``: a SHA-256 of the ledger's records, without what is random by design (the
  record id, the process id, the start time);
- ``saved``: a SHA-256 of what :func:`sk_privattn.persistence.save` writes, but the
  weights (the zip's own timestamps apart), for the estimators that it saves;
- ``attributes``: a SHA-256 of the fitted privacy attributes (ε, δ, noise, count, ...).

``python tests/_golden.py`` writes them to ``tests/data/golden.npz`` and
``tests/data/golden.json``; ``tests/test_golden.py`` compares a fresh run with those files.
"""

import hashlib
import io
import json
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from conftest import PUBLIC, make_mixed_frame, make_series

DATA = Path(__file__).parent / "data"
_SMALL = dict(max_epochs=2, batch_size=32, d_token=8, n_heads=2, n_layers=1)
_RANDOM_BY_DESIGN = ("id", "pid", "started")
_ATTRIBUTES = ("epsilon_", "delta_", "noise_multiplier_", "sample_rate_", "n_steps_", "batch_size_", "count_",
               "count_epsilon_", "accountant_", "neighbouring_", "privacy_unit_", "accountant_history_", "history_")


def _digest(value):
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=repr).encode()).hexdigest()


def _ledger_digest(ledger):
    records = [{key: value for key, value in record.items() if key not in _RANDOM_BY_DESIGN}
               for record in ledger.records]
    return _digest(records)


def _saved_digest(estimator):
    from sk_privattn.persistence import save

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.zip"
        save(estimator, path)
        with zipfile.ZipFile(path) as archive:
            return hashlib.sha256(archive.read("estimator.json")).hexdigest()


def _attributes_digest(estimator):
    return _digest({name: getattr(estimator, name, None) for name in _ATTRIBUTES})


def _cases():
    from sk_privattn import DPAttentionClassifier, DPAttentionRegressor, DPSequenceClassifier

    X, y = make_mixed_frame(n_samples=240)
    tabular = dict(**_SMALL, **PUBLIC, classes=[0, 1], random_state=0)
    regression_target = X["age"].to_numpy() / 10.0 + np.where(y == 1, 1.0, 0.0)
    series, labels = make_series(n_samples=160)
    sequence = dict(max_epochs=2, batch_size=32, d_model=8, n_heads=2, n_layers=1, patch_size=4, n_kernels=16,
                    classes=[0, 1], random_state=0)
    persons = np.arange(len(y)) // 3

    def warm_start():
        clf = DPAttentionClassifier(**{**tabular, "warm_start": True, "epsilon": 1.0})
        clf.fit(X, y)
        return clf.set_params(epsilon=2.0).fit(X, y)

    def federated(level):
        from sk_privattn.federated import FederatedDPAttentionClassifier

        sites = np.array(["north", "south", "west"])[np.arange(len(y)) % 3]
        params = dict(d_token=8, n_heads=2, n_layers=1, **PUBLIC, classes=[0, 1], random_state=0, n_rounds=2,
                      backend="in-process", dp_level=level)
        return FederatedDPAttentionClassifier(**params).fit(X, y, groups=sites)

    return {
        "classifier-add_or_remove": lambda: DPAttentionClassifier(**tabular).fit(X, y),
        "classifier-replace_one": lambda: DPAttentionClassifier(**tabular, neighbouring="replace_one").fit(X, y),
        "classifier-person": lambda: DPAttentionClassifier(**tabular).fit(X, y, person_id=persons),
        "classifier-warm_start": warm_start,
        "regressor-add_or_remove": lambda: DPAttentionRegressor(
            **{key: value for key, value in tabular.items() if key != "classes"}, target_bounds=(0, 10)
        ).fit(X, regression_target),
        "sequence-add_or_remove": lambda: DPSequenceClassifier(**sequence).fit(series, labels),
        "sequence-replace_one": lambda: DPSequenceClassifier(**sequence, neighbouring="replace_one").fit(
            series, labels),
        "federated-record": lambda: federated("record"),
        "federated-client": lambda: federated("client"),
    }


def golden_outputs(names=None):
    """``(weights, digests)``: per case, its ``state_dict`` arrays and the digests of its channels."""
    import torch

    from sk_privattn import PrivacyLedger

    torch.set_num_threads(1)
    weights, digests = {}, {}
    for name, fit in _cases().items():
        if names is not None and name not in names:
            continue
        with tempfile.TemporaryDirectory() as folder, PrivacyLedger(path=folder) as ledger:
            fitted = fit()
        digests[name] = {"ledger": _ledger_digest(ledger), "attributes": _attributes_digest(fitted)}
        if not name.startswith("federated"):
            digests[name]["saved"] = _saved_digest(fitted)
        for key, tensor in fitted.module_.state_dict().items():
            weights[f"{name}/{key}"] = tensor.detach().cpu().numpy()
    return weights, digests


def write():
    weights, digests = golden_outputs()
    DATA.mkdir(exist_ok=True)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **weights)
    (DATA / "golden.npz").write_bytes(buffer.getvalue())
    (DATA / "golden.json").write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    write()
