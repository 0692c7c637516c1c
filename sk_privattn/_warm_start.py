"""What a warm start may continue, and what it must refuse.

A warm start trains the fitted ``module_`` further. It keeps the
architecture, the input encoding and the δ of the fit that built the model,
and its privacy cost composes with what the earlier calls spent: ``epsilon``
is the budget of the model over all calls. Each check raises an error that
names the parameter, the value received, and the fix.
"""

import copy
import math

import joblib
import numpy as np

from .exceptions import BudgetExceededError
from .privacy import Relation, Unit, accountant_names, compute_epsilon, get_accountant, resolve_accountant

__all__ = [
    "MIN_SHARE_LEFT",
    "check_budget_left",
    "check_same_columns",
    "check_same_delta",
    "check_same_neighbouring",
    "check_same_structure",
    "check_same_unit",
    "structure",
]

_NEW_MODEL = "or set warm_start=False to train a new model"

#: Share of ``epsilon`` that a warm start needs left. Calibration leaves a
#: percent or so of a budget unspent; a call that could spend only such a
#: remainder would add so much noise that it trains on noise alone.
MIN_SHARE_LEFT = 0.05


def structure(estimator):
    """A copy of the structural parameters of ``estimator``, by name.

    They are the parameters that set the architecture of ``module_`` or the
    encoding of its inputs, which each estimator lists in
    ``_structural_params``.
    """
    params = estimator.get_params(deep=False)
    return {name: copy.deepcopy(params[name]) for name in estimator._structural_params}


def check_same_structure(built_with, estimator):
    """Raise if a structural parameter differs from the fit that built the model."""
    current = structure(estimator)
    for name, value in built_with.items():
        if joblib.hash(value) != joblib.hash(current[name]):
            raise ValueError(
                f"warm_start=True continues the model built with {name}={value!r}, but {name} is "
                f"now {current[name]!r}; it fixes the model's architecture or input encoding. "
                f"Set {name}={value!r} again, {_NEW_MODEL}."
            )


def check_same_columns(previous, n_features, feature_names, is_categorical):
    """Raise unless ``X`` has the columns (and column kinds) of the previous fit.

    ``previous`` is the estimator's ``__dict__`` before this call.
    """
    if n_features != previous["n_features_in_"]:
        raise ValueError(
            f"X has {n_features} features, but warm_start=True continues a model fitted on "
            f"{previous['n_features_in_']} features. Pass X with the same columns, {_NEW_MODEL}."
        )
    before = previous.get("feature_names_in_")
    if (before is None) != (feature_names is None) or (
        before is not None and not np.array_equal(before, feature_names)
    ):
        raise ValueError(
            f"X has the feature names {None if feature_names is None else list(feature_names)}, but "
            "warm_start=True continues a model fitted on "
            f"{None if before is None else list(before)}. Pass X with the same columns, {_NEW_MODEL}."
        )
    if not np.array_equal(is_categorical, previous["is_categorical_"]):
        raise ValueError(
            f"The categorical columns of X are {np.flatnonzero(is_categorical).tolist()}, but "
            "warm_start=True continues a model whose categorical columns are "
            f"{np.flatnonzero(previous['is_categorical_']).tolist()}. Give X the same column "
            f"dtypes (or categorical_features), {_NEW_MODEL}."
        )


def check_same_delta(delta, previous_delta):
    """δ of a warm start: the one of the fit that built the model."""
    if delta is not None and delta != previous_delta:
        raise ValueError(
            f"delta={delta}, but warm_start=True continues a model whose (ε, δ) composes all its "
            f"fits at delta_={previous_delta}. Use delta=None or delta={previous_delta}, {_NEW_MODEL}."
        )
    return previous_delta


def check_same_neighbouring(neighbouring, previous_neighbouring):
    """A warm start composes its calls under one neighbouring relation: the first fit's."""
    if neighbouring != previous_neighbouring:
        raise ValueError(
            f"neighbouring={neighbouring!r}, but warm_start=True continues a model whose ε is accounted "
            f"under neighbouring={previous_neighbouring!r}, and the two do not compose. Set "
            f"neighbouring={previous_neighbouring!r} again, {_NEW_MODEL}."
        )


def check_same_unit(unit, previous_unit):
    """A warm start protects the unit of the first fit: rows, or persons (``person_id``)."""
    if unit != previous_unit:
        given = "with person_id" if unit == Unit.PERSON else "without person_id"
        first = "with person_id (the unit is the person)" if previous_unit == Unit.PERSON else "without person_id"
        raise ValueError(
            f"This call to fit is {given}, but warm_start=True continues a model fitted {first}: a "
            f"row-level and a person-level ε do not compose. Call fit {first.split(' (')[0]} again, "
            f"{_NEW_MODEL}."
        )


def check_budget_left(prior_history, epsilon, delta, accountant, *, relation=Relation.ADD_OR_REMOVE, count_epsilon=0.0):
    """Raise unless the earlier calls (their steps and their DP counts) left some of ``epsilon`` for this one."""
    if math.isinf(epsilon):
        return
    accountant = resolve_accountant(accountant, relation)
    if not get_accountant(accountant).composes:
        raise ValueError(
            f"accountant={accountant!r} cannot compose the fits of a warm start (it reads one mechanism "
            f"only). Use accountant='auto' or one of {accountant_names(relation, composing=True)}, {_NEW_MODEL}."
        )
    spent = count_epsilon + compute_epsilon(prior_history, delta, accountant, relation)
    if math.isinf(spent):
        raise BudgetExceededError(
            f"epsilon={epsilon}, but warm_start=True continues a model that was trained without "
            "privacy (ε = inf): no further training can make it private. Set warm_start=False to "
            "train a private model from scratch."
        )
    if spent > (1 - MIN_SHARE_LEFT) * epsilon:
        raise BudgetExceededError(
            f"epsilon={epsilon} is the privacy budget of the model over all its calls to fit, and "
            f"the earlier calls have spent ε={spent:.4g} of it, leaving less than "
            f"{MIN_SHARE_LEFT:.0%} for this call. To train further, raise epsilon to the new total "
            f"(e.g. epsilon={2 * epsilon:g}), {_NEW_MODEL}."
        )
