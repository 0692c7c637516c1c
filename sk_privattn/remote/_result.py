"""The fit of a job, and what it releases: the DP model (safe persistence) and its report.

The owner (on the private part) and the scientist (on the mock part) run
the same :func:`fit_job`; the owner deposits what :func:`write_result`
writes, the scientist reads it back with :func:`read_result`. A search
releases its chosen model. No seed leaves: the released model's
``random_state`` is ``None``, whatever seeded the fit.
"""

import json
import warnings
from pathlib import Path

from sklearn.model_selection import ParameterGrid

from ..exceptions import JobRefusedError, PrivacyLeakWarning
from ..model_selection import PrivateRandomSearch, training_count
from ..persistence import from_json, load, save, to_json
from ..privacy import Unit
from ._data import mock_rows

__all__ = ["RESULT_FOLDER", "RemoteResult", "check_on_schema", "fit_job", "read_result", "write_result"]

#: The folder that a job's outputs hold.
RESULT_FOLDER = "sk_privattn_result"
MODEL_FILE = "model.zip"
REPORT_FILE = "report.json"
_FORMAT = "sk_privattn-remote-report"
_VERSION = 1


def check_on_schema(estimator, metadata):
    """Refuse the request unless ``estimator`` plans and prepares on rows drawn from ``metadata`` alone.

    Everything that the request and the public metadata decide (the
    parameters, their fit with the dataset's columns and labels, whether the
    fit would read the rows outside DP-SGD) is checked here, before the owner
    reads a private row: the estimator's own fit path plans and prepares a
    fit (every candidate of a search's grid) on rows of :func:`mock_rows`,
    without training it. A request that fails here fails on the metadata,
    whatever the private rows hold.

    Raises
    ------
    JobRefusedError
        With the estimator's own message, which names the parameter.
    """
    X, y = mock_rows(metadata)
    try:
        raised = _prepared_warnings(estimator, X, y)
    except (ValueError, TypeError) as error:
        raise JobRefusedError(
            f"The request does not fit this dataset (checked on rows drawn from its public metadata, before any "
            f"private row was read): {error}"
        ) from None
    leaks = [message for category, message in raised if issubclass(category, PrivacyLeakWarning)]
    if leaks:
        raise JobRefusedError(f"The fit would read the private rows outside DP-SGD: {leaks[0]}")


def _prepared_warnings(estimator, X, y):
    """The warnings (category, message) that planning and preparing the fit of ``estimator``
    on ``X, y`` raises: a search's whole grid, or the estimator's own fit path."""
    if isinstance(estimator, PrivateRandomSearch):
        return estimator._grid_warnings(list(ParameterGrid(estimator.param_grid)), X, y,
                                        training_count(estimator.public_count, estimator.validation_fraction), {})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call = estimator._plan_call(X, y)
        with estimator._seeded_torch(call.module_seed):
            estimator._prepare_call(call, X, y)
    return [(record.category, str(record.message)) for record in caught]


def fit_job(estimator, X, y):
    """Fit ``estimator`` on ``X, y``; a :class:`PrivacyLeakWarning` is an error here.

    The owner's validation fills every public parameter from the metadata,
    so no fit of an accepted job reads the rows outside DP-SGD; this makes
    sure of it.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrivacyLeakWarning)
        return estimator.fit(X, y)


def _released_model(fitted):
    model = getattr(fitted, "best_estimator_", fitted)
    return model.set_params(random_state=None)


def privacy_terms(fitted):
    """What the fit spent, in the terms of its guarantee (a JSON-able dict)."""
    terms = {
        "estimator": type(fitted).__name__,
        "epsilon": float(fitted.epsilon_),
        "delta": float(fitted.delta_),
        "neighbouring": fitted.neighbouring_,
        "unit": getattr(fitted, "privacy_unit_", Unit.ROW.value),
        "accountant": getattr(fitted, "accountant_", "rdp"),
    }
    if hasattr(fitted, "best_estimator_"):
        terms.update(best_params=to_json(fitted.best_params_), best_score=float(fitted.best_score_))
    return terms


def write_result(folder, fitted, report):
    """Write the released model of ``fitted`` and ``report`` into ``folder`` (created)."""
    folder = Path(folder)
    folder.mkdir(parents=True)
    save(_released_model(fitted), folder / MODEL_FILE)
    (folder / REPORT_FILE).write_text(json.dumps({"format": _FORMAT, "version": _VERSION, **report}, indent=1))
    return folder


def read_result(folder):
    """The :class:`RemoteResult` in ``folder``, read without pickle."""
    folder = Path(folder)
    report = json.loads((folder / REPORT_FILE).read_text())
    if report.pop("format", None) != _FORMAT or report.pop("version", None) != _VERSION:
        raise ValueError(f"{folder} holds no result of an sk_privattn remote job (version {_VERSION}).")
    return RemoteResult(load(folder / MODEL_FILE), report)


class RemoteResult:
    """The result of a remote job: a fitted DP model and its privacy report.

    Returned by ``RemoteJob.result()``; not built by hand.

    Attributes
    ----------
    estimator : DPAttentionClassifier or DPAttentionRegressor
        The fitted model, loaded without pickle; a search's chosen model.
    trained_on : {"private", "mock"}
        Which part of the dataset it was trained on. A model trained on the
        mock part says nothing about the private data, and spent no budget.
    epsilon : float
        ε that the fit spent (its accountant's ``epsilon_``; a search's bound).
    delta : float
    neighbouring : str
        The relation of ``epsilon``.
    unit : str
        What one neighbour adds or removes: a row.
    requested_epsilon : float
        The ε the job asked for, which the budget checked.
    budget : dict or None
        The scientist's budget on the dataset after the job: ``epsilon``
        (the budget), ``spent_epsilon`` and ``spent_delta`` (basic
        composition of their jobs), ``remaining_epsilon``. ``None`` for a
        mock fit.
    best_params : dict or None
        A search's chosen parameters.
    report : dict
        The whole report, as received.
    """

    def __init__(self, estimator, report):
        self.estimator = estimator
        self.report = report
        self.trained_on = report["trained_on"]
        self.dataset = report["dataset"]
        self.epsilon = report["epsilon"]
        self.delta = report["delta"]
        self.neighbouring = report["neighbouring"]
        self.unit = report["unit"]
        self.requested_epsilon = report["requested_epsilon"]
        self.budget = report.get("budget")
        self.best_params = from_json(report["best_params"]) if "best_params" in report else None

    def __repr__(self):
        budget = ""
        if self.budget is not None:
            budget = (f", budget left ε={self.budget['remaining_epsilon']:.4g} of "
                      f"ε={self.budget['epsilon']:g}")
        return (f"RemoteResult({type(self.estimator).__name__}, trained_on={self.trained_on!r}, "
                f"dataset={self.dataset!r}, ε={self.epsilon:.4g}, δ={self.delta:g}, "
                f"{self.neighbouring}{budget})")
