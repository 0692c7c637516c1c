"""Save and load a fitted estimator without pickle: JSON for the settings and
fitted attributes, NumPy arrays for the weights, in one zip file.

Loading a pickle runs whatever code the file names, so many hospitals and
banks forbid it, and ``skops.io`` cannot hold torch tensors. :func:`load`
reads JSON and ``np.load(..., allow_pickle=False)`` only, and instantiates
only the estimators of this package.
"""

import io
import json
import zipfile

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted


__all__ = ["load", "save"]

_FORMAT = "sk_privattn-estimator"
_VERSION = 1
#: Fitted attributes that are not saved: the module (saved as weights), the
#: skorch net of the last call (rebuilt by a new fit, not needed to predict).
_NOT_SAVED = {"module_", "net_"}


def _estimator_classes():
    from . import DPAttentionClassifier, DPAttentionRegressor, DPSequenceClassifier

    return {cls.__name__: cls for cls in (DPAttentionClassifier, DPAttentionRegressor, DPSequenceClassifier)}


def _rebuildable_modules():
    from .nn import RandomConvolutions

    return {"RandomConvolutions": RandomConvolutions}


def to_json(value):
    """``value`` as JSON, with arrays, tuples and optimizer classes tagged (:func:`from_json` reads it)."""
    if isinstance(value, np.ndarray):
        items = [to_json(item) for item in value.ravel().tolist()] if value.dtype == object else value.tolist()
        return {"__ndarray__": items, "dtype": str(value.dtype), "shape": list(value.shape)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return {"__tuple__": [to_json(item) for item in value]}
    if isinstance(value, list):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            return {"__dict_items__": [[to_json(key), to_json(item)] for key, item in value.items()]}
        return {key: to_json(item) for key, item in value.items()}
    if isinstance(value, type) and issubclass(value, torch.optim.Optimizer) and getattr(torch.optim, value.__name__, None) is value:
        return {"__torch_optimizer__": value.__name__}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if type(value).__name__ in _rebuildable_modules() and type(value) is _rebuildable_modules()[type(value).__name__]:
        # A module that its arguments build again exactly: the random kernels of a sequence model.
        return {"__module__": type(value).__name__, "config": value.config()}
    raise TypeError(
        f"{type(value).__name__} {value!r} cannot be saved without pickle; only numbers, strings, arrays, "
        "lists, dicts and torch.optim classes can. Use pickle or joblib for such an estimator."
    )


def from_json(value):
    """The value that :func:`to_json` wrote."""
    if isinstance(value, list):
        return [from_json(item) for item in value]
    if not isinstance(value, dict):
        return value
    if "__ndarray__" in value:
        if value["dtype"] == "object":
            array = np.empty(len(value["__ndarray__"]), dtype=object)
            array[:] = [from_json(item) for item in value["__ndarray__"]]
            return array.reshape(value["shape"])
        return np.asarray(value["__ndarray__"], dtype=value["dtype"]).reshape(value["shape"])
    if "__tuple__" in value:
        return tuple(from_json(item) for item in value["__tuple__"])
    if "__dict_items__" in value:
        return {from_json(key): from_json(item) for key, item in value["__dict_items__"]}
    if "__module__" in value:
        modules = _rebuildable_modules()
        if value["__module__"] not in modules:
            raise ValueError(f"{value['__module__']!r} is not a module that sk_privattn.persistence rebuilds.")
        return modules[value["__module__"]](**value["config"])
    if "__torch_optimizer__" in value:
        optimizer = getattr(torch.optim, value["__torch_optimizer__"])
        if not (isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer)):
            raise ValueError(f"{value['__torch_optimizer__']!r} is not a torch.optim optimizer.")
        return optimizer
    return {key: from_json(item) for key, item in value.items()}


def save(estimator, path):
    """Save a fitted estimator of this package to ``path``, without pickle.

    Parameters
    ----------
    estimator : DPAttentionClassifier, DPAttentionRegressor or DPSequenceClassifier
        Fitted.
    path : str or path-like
        The zip file to write.

    Notes
    -----
    What is saved: the parameters, the fitted attributes (``epsilon_``,
    ``classes_``, ``bounds_``, ``history_``, ...) and the weights of
    ``module_``: everything ``predict`` needs, and what the privacy report
    reads. Not saved: ``net_``, the skorch net of the last call; a loaded
    estimator has none, and ``warm_start`` continues it with a new one.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from sk_privattn import DPAttentionClassifier
    >>> from sk_privattn.persistence import load, save
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(200, 3))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> clf = DPAttentionClassifier(bounds=(-1, 1), classes=[0, 1], max_epochs=1, d_token=8, n_heads=2,
    ...                             n_layers=1, random_state=0).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.zip")
    >>> save(clf, path)
    >>> np.array_equal(load(path).predict_proba(X), clf.predict_proba(X))
    True
    """
    if type(estimator).__name__ not in _estimator_classes():
        raise TypeError(f"save takes an estimator of sk_privattn ({sorted(_estimator_classes())}); got {type(estimator).__name__}.")
    check_is_fitted(estimator)
    fitted = {
        name: value
        for name, value in vars(estimator).items()
        if name.endswith("_") and not name.startswith("_") and name not in _NOT_SAVED
    }
    document = {
        "format": _FORMAT,
        "version": _VERSION,
        "estimator": type(estimator).__name__,
        "params": to_json(estimator.get_params(deep=False)),
        "fitted": to_json(fitted),
    }
    weights = io.BytesIO()
    state = {name: tensor.detach().cpu().numpy() for name, tensor in estimator.module_.state_dict().items()}
    np.savez(weights, **state)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("estimator.json", json.dumps(document, allow_nan=True))
        archive.writestr("weights.npz", weights.getvalue())


def load(path):
    """Load an estimator saved by :func:`save`; reads no pickle.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    estimator
        Fitted, as it was saved, without ``net_``.
    """
    with zipfile.ZipFile(path) as archive:
        document = json.loads(archive.read("estimator.json"))
        if document.get("format") != _FORMAT or document.get("version") != _VERSION:
            raise ValueError(f"{path} is not an estimator saved by sk_privattn.persistence.save (version {_VERSION}).")
        classes = _estimator_classes()
        if document["estimator"] not in classes:
            raise ValueError(f"{path} holds a {document['estimator']!r}, not an estimator of sk_privattn.")
        weights = np.load(io.BytesIO(archive.read("weights.npz")), allow_pickle=False)
        state = {name: torch.from_numpy(np.array(weights[name])) for name in weights.files}
    estimator = classes[document["estimator"]](**from_json(document["params"]))
    return estimator._restore(from_json(document["fitted"]), state)
