"""Every parameter that a request can set, by how the owner treats it: the table the owner checks.

A request sets parameters of an estimator of the allow-list (and, for a
:class:`~sk_privattn.model_selection.PrivateRandomSearch`, of its estimator and
its grid). Each parameter of their signatures is in exactly one class:

- **owner only** (:data:`OWNER_PARAMETERS`): refused, with the reason;
- **owner's terms** (:data:`TERMS`): δ and the neighbouring relation, which
  the dataset's metadata states; a request leaves them out or states the
  owner's value;
- **public metadata** (:data:`METADATA_PARAMETERS`): the classes, categories,
  bounds, which columns are categorical, the target's bounds, the public
  count: a request leaves them out or states the metadata's value, and the
  owner then sets the metadata's (a ``public_count`` is the scientist's own
  public number only where the metadata publishes none);
- **validated by the estimator** (:data:`VALIDATED_PARAMETERS`): any value
  that passes the estimator's own validation, on rows drawn from the public
  metadata alone (:func:`~sk_privattn.remote._result.check_on_schema`), before
  any private row is read.

A parameter that no class lists is refused: a new parameter of an estimator
joins the owner's checks (and ``tests/test_remote.py``, which asserts that
every parameter is in exactly one class) when it is classified here.
"""

import json
from numbers import Real

import numpy as np

from ..exceptions import JobRefusedError

__all__ = [
    "CLASSES",
    "METADATA",
    "METADATA_PARAMETERS",
    "OWNER_ONLY",
    "OWNER_PARAMETERS",
    "OWNER_TERMS",
    "TERMS",
    "VALIDATED",
    "VALIDATED_PARAMETERS",
    "check_metadata_parameters",
    "metadata_values",
    "parameter_classes",
    "refuse_unclassified",
]

OWNER_ONLY = "owner only"
OWNER_TERMS = "owner's terms"
METADATA = "public metadata"
VALIDATED = "validated by the estimator"

#: Parameters that only the owner sets, and why.
OWNER_PARAMETERS = {
    "random_state": "the seeds of the DP noise are the owner's: a seed that the scientist knows lets them "
                    "regenerate the noise and undo the privacy",
    "device": "the owner runs the fit on its own hardware",
    "verbose": "the owner's console is not released",
    "warm_start": "every job trains a new model",
}
#: Parameters that the owner's terms fix (the metadata states them).
TERMS = ("delta", "neighbouring")
#: Parameters whose values the public metadata gives.
METADATA_PARAMETERS = ("bounds", "categories", "categorical_features", "classes", "target_bounds", "public_count")
#: Parameters that the estimator's own validation checks, on rows drawn from the metadata.
VALIDATED_PARAMETERS = (
    # The privacy and training parameters of every DP estimator.
    "epsilon", "max_grad_norm", "accountant", "max_epochs", "batch_size", "lr", "lr_schedule", "optimizer",
    "weight_decay", "max_sample_weight", "max_rows_per_person", "metadata_noise_multiplier",
    # The network and the encoding of its inputs.
    "architecture", "d_token", "n_heads", "n_layers", "dropout", "additive_terms", "numeric_encoding",
    # The target: a classifier's class weights (a dict of public weights; "balanced" is refused), a regressor's loss.
    "class_weight", "loss",
    # PrivateRandomSearch: its estimator and grid (each checked by this table), and its own settings.
    "estimator", "param_grid", "mean_n_candidates", "validation_fraction", "score_noise",
)

#: The classes, by name: each parameter of the allow-list is in exactly one.
CLASSES = {
    OWNER_ONLY: tuple(OWNER_PARAMETERS),
    OWNER_TERMS: TERMS,
    METADATA: METADATA_PARAMETERS,
    VALIDATED: VALIDATED_PARAMETERS,
}


def parameter_classes(cls):
    """The class of every parameter of ``cls`` (an estimator of the allow-list): ``{name: class}``.

    A parameter that no class lists maps to ``None``: the owner refuses it.

    Examples
    --------
    >>> from sk_privattn import DPAttentionClassifier
    >>> from sk_privattn.remote._parameters import parameter_classes
    >>> classes = parameter_classes(DPAttentionClassifier)
    >>> classes["random_state"], classes["delta"], classes["classes"], classes["epsilon"]
    ('owner only', "owner's terms", 'public metadata', 'validated by the estimator')
    """
    import inspect

    return {name: next((label for label, names in CLASSES.items() if name in names), None)
            for name in inspect.signature(cls).parameters}


def metadata_values(metadata):
    """The value that the public metadata gives each parameter of :data:`METADATA_PARAMETERS` it states."""
    values = metadata.estimator_defaults()
    values["categorical_features"] = list(metadata.categories)
    return values


def _canonical(value):
    """``value`` in one form for comparison: numbers as floats, sequences as lists, keys as text."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, dict):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_canonical(item) for item in list(value)]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, Real):
        return float(value)
    return repr(value)


def _same(name, value, public):
    """Whether the request's ``value`` of ``name`` is the metadata's ``public`` one (as a set, for
    the labels and the categorical columns, whose order means nothing)."""
    mine, theirs = _canonical(value), _canonical(public)
    if name in ("classes", "categorical_features") and isinstance(mine, list) and isinstance(theirs, list):
        mine, theirs = sorted(map(json.dumps, mine)), sorted(map(json.dumps, theirs))
    return mine == theirs


def check_metadata_parameters(params, defaults, metadata, where):
    """Refuse a parameter of the public metadata that the request sets to another value than the
    metadata's; then set the metadata's values in ``params``.

    ``defaults`` are the estimator's signature defaults: a parameter at its
    default was left out. A ``public_count`` is kept where the metadata
    publishes none: a public number that the scientist chose.
    """
    public = metadata_values(metadata)
    for name in METADATA_PARAMETERS:
        if name not in defaults or name not in params or _same(name, params[name], defaults[name]):
            continue
        if name not in public:
            continue  # a public count where the metadata publishes none: the scientist's public number
        if not _same(name, params[name], public[name]):
            raise JobRefusedError(
                f"{where} asks for {name}={params[name]!r}, but the public metadata of this dataset states "
                f"{name}={public[name]!r}: a fit on the private rows must use the dataset's own. Leave {name} out "
                "(the owner fills it from the metadata), or set the metadata's value."
            )
    params.update({name: value for name, value in public.items() if name in defaults and name != "categorical_features"})


def refuse_unclassified(names, classes, where):
    """Refuse the parameters ``names`` whose class (in ``classes``) the table does not know."""
    unknown = [name for name in names if classes.get(name) is None]
    if unknown:
        raise JobRefusedError(
            f"{where} sets {unknown}, which the owner's table of parameters does not classify, so the owner "
            "cannot check them: this version of sk_privattn does not run them remotely. Leave them out."
        )
