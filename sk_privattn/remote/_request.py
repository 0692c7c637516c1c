"""What a scientist asks for, as data: an estimator of an allow-list and its parameters.

A remote job carries no code of the scientist's. Its folder holds the fixed
runner that ships in this package (``runner.py``, known to the owner by its
SHA-256) and ``request.json``: the dataset, the estimator's class name and
the parameters that differ from the defaults, in the JSON of
:mod:`sk_privattn.persistence` (numbers, strings, lists, dicts, tuples,
arrays: nothing that runs code when read).

The owner rebuilds the estimator from the request (:func:`build_estimator`)
and accepts it only if every parameter passes the check of its class in the
owner's table (:mod:`._parameters`): no unknown or unclassified parameter, no
parameter that is the owner's to set (the seed, the device), the owner's δ and
neighbouring relation, the public metadata of the dataset for its bounds,
categories and labels (a request that states others is refused), and the
estimator's own validation, on rows drawn from the metadata alone, of
everything else; nothing may read the private rows outside DP-SGD. All of it
is decided before any private row is read.
"""

import difflib
import functools
import hashlib
import inspect
import json
import math
from pathlib import Path

from ..exceptions import JobRefusedError
from ..persistence import from_json, to_json
from ..privacy import accountant_names, get_accountant
from ._parameters import (
    METADATA,
    OWNER_PARAMETERS,
    OWNER_TERMS,
    check_metadata_parameters,
    parameter_classes,
    refuse_unclassified,
)

__all__ = ["RUNNER", "REQUEST_FILE", "build_estimator", "make_request", "runner_sha256"]

#: The runner that ships in the package: every job carries it, unchanged, as ``main.py``.
RUNNER = Path(__file__).with_name("runner.py")
RUNNER_NAME = "main.py"
REQUEST_FILE = "request.json"
_FORMAT = "sk_privattn-remote-request"
_VERSION = 1
#: The largest request the owner reads.
MAX_REQUEST_BYTES = 1_000_000


@functools.cache
def runner_sha256():
    """The SHA-256 (hex) of the runner that ships in this package: how an owner knows the job is ours.

    Examples
    --------
    >>> from sk_privattn.remote import runner_sha256
    >>> len(runner_sha256())
    64
    """
    return hashlib.sha256(RUNNER.read_bytes()).hexdigest()


def _estimators():
    from .. import DPAttentionClassifier, DPAttentionRegressor
    from ..model_selection import PrivateRandomSearch

    return {cls.__name__: cls for cls in (DPAttentionClassifier, DPAttentionRegressor, PrivateRandomSearch)}


#: The task each estimator of the allow-list fits.
_TASKS = {"DPAttentionClassifier": "classification", "DPAttentionRegressor": "regression"}


def _is_default(value, default):
    try:
        return value is default or (type(value) is type(default) and bool(value == default))
    except (TypeError, ValueError):  # arrays compare element-wise
        return False


def _changed_params(estimator):
    """The parameters of ``estimator`` that differ from its signature's defaults."""
    signature = inspect.signature(type(estimator)).parameters
    return {name: value for name, value in estimator.get_params(deep=False).items()
            if name not in signature or signature[name].default is inspect.Parameter.empty
            or not _is_default(value, signature[name].default)}


def _describe(estimator, inner=False):
    name = type(estimator).__name__
    allowed = _estimators()
    if inner:
        allowed = {key: cls for key, cls in allowed.items() if key in _TASKS}
    if type(estimator) is not allowed.get(name):
        raise TypeError(
            f"A remote job fits {' or '.join(sorted(allowed))}; got {name}. Other estimators cannot run "
            "remotely: the owner runs only the package's own fits, with the parameters as data."
        )
    params = _changed_params(estimator)
    if "estimator" in params:
        params["estimator"] = _describe(params["estimator"], inner=True)
    return {"class": name, "params": to_json(params)}


def make_request(estimator, dataset):
    """The request that asks for a fit of ``estimator`` on ``dataset``: what ``request.json`` holds.

    :meth:`DataScientist.submit` writes it beside the runner; the owner
    reads nothing else of a job.

    Parameters
    ----------
    estimator : DPAttentionClassifier, DPAttentionRegressor or PrivateRandomSearch
        Unfitted; a search's estimator must be one of the first two.
    dataset : str

    Returns
    -------
    request : dict
        JSON-able: the dataset, the class name and the parameters that
        differ from the defaults (in the JSON of
        :mod:`sk_privattn.persistence`), and the package's version.

    Raises
    ------
    TypeError
        For an estimator outside the allow-list.

    Examples
    --------
    >>> from sk_privattn import DPAttentionClassifier
    >>> from sk_privattn.remote import make_request
    >>> make_request(DPAttentionClassifier(epsilon=2.0, max_epochs=5), "adult")["estimator"]
    {'class': 'DPAttentionClassifier', 'params': {'epsilon': 2.0, 'max_epochs': 5}}
    """
    from .. import __version__

    return {"format": _FORMAT, "version": _VERSION, "dataset": str(dataset),
            "estimator": _describe(estimator), "sk_privattn": __version__}


def read_request(text):
    """The request of a ``request.json`` text; :class:`JobRefusedError` if it is not one."""
    try:
        request = json.loads(text)
    except json.JSONDecodeError as error:
        raise JobRefusedError(f"request.json is not JSON ({error}).") from None
    if not isinstance(request, dict) or request.get("format") != _FORMAT or request.get("version") != _VERSION:
        raise JobRefusedError(f"request.json is not an sk_privattn request (format {_FORMAT!r}, version {_VERSION}).")
    if not isinstance(request.get("dataset"), str) or not isinstance(request.get("estimator"), dict):
        raise JobRefusedError("request.json names no dataset or no estimator.")
    return request


def _refuse_owner_parameters(names, where):
    taken = [name for name in names if name in OWNER_PARAMETERS]
    if taken:
        reasons = "; ".join(f"{name}: {OWNER_PARAMETERS[name]}" for name in taken)
        raise JobRefusedError(f"{where} sets {taken}, which only the data owner sets ({reasons}). Leave them out.")


def _check_terms(params, metadata, where):
    """Refuse a δ or a relation other than the owner's; then set the owner's."""
    terms = {"delta": metadata.delta, "neighbouring": metadata.neighbouring}
    for name, value in terms.items():
        if params.get(name) is not None and params[name] != value:
            raise JobRefusedError(
                f"{where} asks for {name}={params[name]!r}, but the owner of this dataset accounts every job at "
                f"{name}={value!r} (its budgets compose at that {name} only). Leave {name} out, or set {value!r}."
            )
    params.update(terms)


def _read_params(name, cls, description):
    """The parameters that ``description`` sets for ``cls``, read and checked against its signature."""
    params = description.get("params")
    if not isinstance(params, dict):
        raise JobRefusedError(f"The parameters of {name} in the request are not a JSON object.")
    try:
        params = from_json(params)
    except (ValueError, TypeError, KeyError) as error:
        raise JobRefusedError(f"The parameters of {name} cannot be read: {error}") from None
    valid = list(inspect.signature(cls).parameters)
    for unknown in [key for key in params if key not in valid]:
        close = difflib.get_close_matches(unknown, valid, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise JobRefusedError(f"{name} has no parameter {unknown!r}.{hint} Its parameters are {valid}.")
    where = f"The request for {name}"
    refuse_unclassified(params, parameter_classes(cls), where)
    _refuse_owner_parameters(params, where)
    return params


def _build_one(description, metadata, inner=False):
    """The unfitted estimator that ``description`` asks for, validated under the owner's terms."""
    allowed = _estimators()
    name = description.get("class")
    if inner:
        allowed = {key: cls for key, cls in allowed.items() if key in _TASKS}
    if name not in allowed:
        raise JobRefusedError(f"The request asks for {name!r}; the owner runs only {sorted(allowed)}.")
    cls = allowed[name]
    params = _read_params(name, cls, description)
    if name == "PrivateRandomSearch":
        return _build_search(cls, params, metadata)
    task = _TASKS[name]
    if task != metadata.task:
        raise JobRefusedError(f"{name} fits a {task}, but the dataset's task is a {metadata.task}.")
    where = f"The request for {name}"
    _check_terms(params, metadata, where)
    check_metadata_parameters(params, _defaults(cls), metadata, where)
    if params.get("class_weight") == "balanced":
        raise JobRefusedError(
            "class_weight='balanced' reads the number of rows of each class from the private data, outside "
            "DP. Pass class_weight as a dict of public weights."
        )
    accountant = params.get("accountant", "auto")
    if isinstance(accountant, str) and accountant in accountant_names() and not get_accountant(accountant).is_bound:
        raise JobRefusedError(
            f"accountant={accountant!r} can underestimate ε, so no budget can be charged by it; use 'auto' or one of "
            f"{accountant_names(bounds=True)}."
        )
    estimator = _validated(cls, params, name)
    if not math.isfinite(float(estimator.epsilon)):
        raise JobRefusedError(f"{name}(epsilon=inf) is not private; the owner releases DP models only.")
    return estimator


def _defaults(cls):
    return {name: parameter.default for name, parameter in inspect.signature(cls).parameters.items()}


def _validated(cls, params, name):
    try:
        estimator = cls(**params)
        estimator._validate_params()
        if hasattr(estimator, "_check_params"):
            estimator._check_params()
    except (ValueError, TypeError) as error:
        raise JobRefusedError(f"The parameters of {name} do not pass its validation: {error}") from None
    return estimator


def _check_grid(points, inner):
    """Refuse a grid that is not a dict of lists (or a list of them), or that varies a parameter
    other than those the estimator validates (by the table of :mod:`._parameters`)."""
    if not all(isinstance(point, dict) for point in points):
        raise JobRefusedError("The param_grid of PrivateRandomSearch must be a dict of lists, or a list of them.")
    classes = parameter_classes(type(inner))
    for point in points:
        refuse_unclassified(point, classes, "The param_grid")
        _refuse_owner_parameters(point, "The param_grid")
        fixed = [key for key in point if classes[key] == OWNER_TERMS]
        if fixed:
            raise JobRefusedError(f"The param_grid sets {fixed}, which the owner's terms fix; leave them out.")
        public = [key for key in point if classes[key] == METADATA]
        if public:
            raise JobRefusedError(
                f"The param_grid sets {public}, which the public metadata of the dataset fixes; leave them out."
            )


def _build_search(cls, params, metadata):
    if not isinstance(params.get("estimator"), dict):
        raise JobRefusedError("The request for PrivateRandomSearch names no estimator to search over.")
    inner = _build_one(params["estimator"], metadata, inner=True)
    grid = params.get("param_grid")
    _check_grid(grid if isinstance(grid, list) else [grid], inner)
    params["estimator"] = inner
    where = "The request for PrivateRandomSearch"
    _check_terms(params, metadata, where)
    check_metadata_parameters(params, _defaults(cls), metadata, where)
    if params.get("public_count") is None:
        params["public_count"] = inner.public_count
    search = _validated(cls, params, "PrivateRandomSearch")
    from sklearn.model_selection import ParameterGrid

    try:
        for candidate in ParameterGrid(search.param_grid):
            _validated(type(inner), {**inner.get_params(deep=False), **candidate},
                       f"{type(inner).__name__} of the grid")
    except TypeError as error:
        raise JobRefusedError(f"The param_grid of PrivateRandomSearch is not a grid: {error}") from None
    return search


def build_estimator(request, metadata):
    """The unfitted estimator of ``request`` on a dataset of ``metadata``, and the ε it asks for.

    Parameters
    ----------
    request : dict
        As :func:`make_request` writes it.
    metadata : PublicMetadata
        The public metadata of the dataset, with the owner's terms.

    Returns
    -------
    estimator : estimator
        Unfitted, its parameters validated, with the owner's δ and relation
        and the metadata's public bounds, categories and labels.
    requested_epsilon : float
        The most ε its fit can spend: ``epsilon`` of a DP estimator (its
        ``epsilon_`` is at most that), the bound of a search.

    Raises
    ------
    JobRefusedError
        With a message that depends on the request and the metadata only.
    """
    estimator = _build_one(request["estimator"], metadata)
    if type(estimator).__name__ != "PrivateRandomSearch":
        return estimator, float(estimator.epsilon)
    if estimator.public_count is None:
        raise JobRefusedError(
            "A PrivateRandomSearch job needs a public count of the rows (public_count): its ε is bounded from "
            "it before any row is read, and checked against your budget. This dataset publishes none; pass "
            "public_count (a public number of rows; a wrong one costs accuracy, not privacy)."
        )
    try:
        return estimator, float(estimator.planned_epsilon())
    except ValueError as error:
        raise JobRefusedError(f"The search cannot be bounded: {error}") from None
