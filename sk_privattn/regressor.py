"""DPAttentionRegressor: a differentially private FT-Transformer regressor."""

import math
import warnings

import numpy as np
import torch
from sklearn.base import RegressorMixin, _fit_context
from sklearn.utils._param_validation import StrOptions

from ._base import PreparedTarget
from ._tabular import BaseDPAttention
from .preprocessing import as_numbers
from .utils._docs import DEFAULTS, shared_docstring
from .utils._warnings import caller_stacklevel
from .exceptions import PrivacyLeakWarning
from .privacy._metadata import FROM_DATA, reads_data

__all__ = ["DPAttentionRegressor"]

#: Threshold of the Huber loss on the scaled target, which spans [-1, 1]:
#: 5 % of the range of ``target_bounds``.
HUBER_DELTA = 0.1

#: Per-row losses; the training routine averages them.
_LOSSES = {
    "squared_error": lambda: torch.nn.MSELoss(reduction="none"),
    "huber": lambda: torch.nn.HuberLoss(delta=HUBER_DELTA, reduction="none"),
    "absolute_error": lambda: torch.nn.L1Loss(reduction="none"),
}


def scale_target(y, bounds):
    """Clip ``y`` to ``bounds`` and map it linearly to [-1, 1]."""
    low, high = bounds
    span = high - low if high > low else 1.0
    return 2.0 * (np.clip(y, low, high) - low) / span - 1.0


def _as_target_numbers(y):
    """``y`` as float64, NaN (missing) where a value is not a number; text labels are refused, by
    their dtype (a schema error): they belong to a classifier."""
    y = np.asarray(y)
    if y.dtype.kind in "US":
        raise ValueError(
            f"y holds text (dtype {y.dtype}); a regressor needs numbers. For class labels use "
            "DPAttentionClassifier."
        )
    try:
        return y.astype(np.float64)
    except (TypeError, ValueError):
        return as_numbers(y)


def unscale_target(z, bounds):
    """Map model outputs on the [-1, 1] scale back to the target's units, within ``bounds``."""
    low, high = bounds
    return np.clip(low + (np.asarray(z, dtype=np.float64) + 1.0) * (high - low) / 2.0, low, high)


@shared_docstring
class DPAttentionRegressor(RegressorMixin, BaseDPAttention):
    """Attention regressor for tabular data, trained with differential privacy.

    The network, the training (DP-SGD by Opacus: Poisson sampling,
    per-sample gradient clipping, Gaussian noise, a privacy accountant) and
    the privacy contract are those of
    :class:`~sk_privattn.DPAttentionClassifier`; the head has one output and
    the loss is a regression loss. The noise is calibrated so that the ε the
    accountant reports after the fit, ``epsilon_``, is at most ``epsilon``.

    The target is clipped to ``target_bounds`` and scaled to [-1, 1] for
    training; predictions come back in the original units. Public target
    bounds keep the scaling private; scaling by the data's mean and standard
    deviation, or by its minimum and maximum, would not be.

    It is a drop-in replacement for
    :class:`~sklearn.linear_model.LinearRegression`, including in
    :class:`~sklearn.pipeline.Pipeline` and
    :class:`~sklearn.model_selection.GridSearchCV` over ``epsilon``.

    Parameters
    ----------
    {epsilon}
    {delta}
    {neighbouring}
    {public_count}
    {max_grad_norm}
    {accountant}
    {max_epochs}
    {batch_size}
    {lr}
    {lr_schedule}
    {optimizer}
    {weight_decay}
    {architecture}
    {d_token}
    {n_heads}
    {n_layers}
    {dropout}
    {additive_terms}
    {categorical_features}
    {categories}
    {bounds}
    {numeric_encoding}
    loss : {"squared_error", "huber", "absolute_error"}, default="squared_error"
        Loss on the scaled target. "huber" is quadratic for residuals up to
        0.1 on the [-1, 1] scale (5 % of the range of ``target_bounds``) and
        linear beyond; "absolute_error" is the mean absolute error.
        Per-sample clipping already bounds the pull of any one row on the
        model, whichever the loss.
    target_bounds : None, "data" or tuple (low, high), default=None
        Public bounds of the target, ``low < high``, from domain knowledge
        rather than from the data (e.g. ``(0, 120)`` for an age in years).
        ``y`` is clipped to them and scaled linearly to [-1, 1]; predictions
        are mapped back to the original units and lie in ``[low, high]``.
        ``None`` releases a robust range of ``y`` (about its 1 % and 99 %
        quantiles) with DP, as part of the metadata release (see
        ``metadata_noise_multiplier``); a fit whose release finds no range
        raises, and asks for public bounds. ``"data"`` reads the minimum and
        maximum of ``y`` from the training data and raises a
        :class:`~sk_privattn.exceptions.PrivacyLeakWarning`: they are not
        protected by the guarantee and can reveal the most extreme rows.
    {max_sample_weight}
    {max_rows_per_person}
    {metadata_noise_multiplier}
    {random_state}
    {device}
    {verbose}
    {warm_start}

    Attributes
    ----------
    target_bounds_ : ndarray of shape (2,)
        The ``(low, high)`` used to clip and scale ``y``: ``target_bounds``,
        the range released with DP, or the minimum and maximum of the
        training ``y`` (``"data"``, warned).
    {feature attributes}
    {privacy attributes}
    {tabular attributes}

    See Also
    --------
    DPAttentionClassifier : the classifier with the same network and privacy.
    sklearn.linear_model.LinearRegression : the non-private linear model.

    Notes
    -----
    The guarantee covers what the fitted estimator learned from ``X, y``
    through DP-SGD. It does not cover bounds or categories of the features,
    nor the bounds of the target, when they are read from the data (each is
    warned), nor anything you compute later on private rows, such as
    :meth:`attention` or scores on them.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_privattn import DPAttentionRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(400, 3))
    >>> y = 10 * X[:, 0] + rng.normal(size=400)
    >>> reg = DPAttentionRegressor(epsilon=1.0, bounds=(-1, 1), target_bounds=(-15, 15),
    ...                            max_epochs=5, batch_size=100, random_state=0).fit(X, y)
    >>> reg.epsilon_ <= 1.0
    True
    >>> reg.predict(X[:2]).shape
    (2,)
    """

    _parameter_constraints = {
        **BaseDPAttention._parameter_constraints,
        "loss": [StrOptions(set(_LOSSES))],
        "target_bounds": ["array-like", StrOptions({FROM_DATA}), None],
    }

    # Changing the scaling of the target would change what module_'s output means.
    _structural_params = (*BaseDPAttention._structural_params, "target_bounds")

    def __init__(
        self,
        *,
        epsilon=DEFAULTS["epsilon"],
        delta=DEFAULTS["delta"],
        neighbouring=DEFAULTS["neighbouring"],
        public_count=DEFAULTS["public_count"],
        max_grad_norm=DEFAULTS["max_grad_norm"],
        accountant=DEFAULTS["accountant"],
        max_epochs=DEFAULTS["max_epochs"],
        batch_size=DEFAULTS["batch_size"],
        lr=DEFAULTS["lr"],
        lr_schedule=DEFAULTS["lr_schedule"],
        optimizer=DEFAULTS["optimizer"],
        weight_decay=DEFAULTS["weight_decay"],
        architecture=DEFAULTS["architecture"],
        d_token=DEFAULTS["d_token"],
        n_heads=DEFAULTS["n_heads"],
        n_layers=DEFAULTS["n_layers"],
        dropout=DEFAULTS["dropout"],
        additive_terms=DEFAULTS["additive_terms"],
        categorical_features=DEFAULTS["categorical_features"],
        categories=DEFAULTS["categories"],
        bounds=DEFAULTS["bounds"],
        numeric_encoding=DEFAULTS["numeric_encoding"],
        loss="squared_error",
        target_bounds=None,
        max_sample_weight=DEFAULTS["max_sample_weight"],
        max_rows_per_person=DEFAULTS["max_rows_per_person"],
        metadata_noise_multiplier=DEFAULTS["metadata_noise_multiplier"],
        random_state=DEFAULTS["random_state"],
        device=DEFAULTS["device"],
        verbose=DEFAULTS["verbose"],
        warm_start=DEFAULTS["warm_start"],
    ):
        super().__init__(
            epsilon=epsilon,
            delta=delta,
            neighbouring=neighbouring,
            public_count=public_count,
            max_grad_norm=max_grad_norm,
            accountant=accountant,
            batch_size=batch_size,
            lr=lr,
            lr_schedule=lr_schedule,
            optimizer=optimizer,
            weight_decay=weight_decay,
            architecture=architecture,
            d_token=d_token,
            n_heads=n_heads,
            n_layers=n_layers,
            dropout=dropout,
            additive_terms=additive_terms,
            categorical_features=categorical_features,
            categories=categories,
            bounds=bounds,
            numeric_encoding=numeric_encoding,
            random_state=random_state,
            device=device,
            verbose=verbose,
        )
        self.max_epochs = max_epochs
        self.loss = loss
        self.target_bounds = target_bounds
        self.max_sample_weight = max_sample_weight
        self.max_rows_per_person = max_rows_per_person
        self.metadata_noise_multiplier = metadata_noise_multiplier
        self.warm_start = warm_start

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, person_id=None):
        """Fit the regressor with DP-SGD.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Numeric features must be finite; missing categorical values are
            allowed.
        y : array-like of shape (n_samples,)
            Finite numbers.
        {sample_weight}
        {person_id}

        Returns
        -------
        self : object
        """
        return self._fit_keeping_state(X, y, sample_weight=sample_weight, person_id=person_id)

    def _check_params(self):
        super()._check_params()
        if self.target_bounds is None or reads_data(self.target_bounds):
            return
        try:
            low, high = (float(bound) for bound in self.target_bounds)
        except (TypeError, ValueError):
            low = high = math.nan
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(
                f"target_bounds={self.target_bounds!r} must be a pair (low, high) of finite "
                "numbers with low < high, the public range of the target (e.g. (0, 120) for an "
                "age); None for a range released with DP; or 'data' to read it from the data, which warns."
            )

    def _target_metadata_needs(self, y):
        """A range of the target to release with DP, when ``target_bounds`` is ``None``."""
        return (int(self.target_bounds is None), 0, 0)

    def _prepare_target(self, y, previous, metadata=None):
        y = _as_target_numbers(y)
        missing = np.isnan(y)
        if previous is not None:
            bounds = previous["target_bounds_"]
        elif self.target_bounds is not None and not reads_data(self.target_bounds):
            bounds = np.asarray(self.target_bounds, dtype=np.float64)
        elif self.target_bounds is None and self._unpublished(metadata).private:
            bounds = self._released_target_bounds(y, metadata)
        else:
            bounds = self._target_bounds_from_data(y[np.isfinite(y)])
        # A missing target weighs 0 (its placeholder, the lower bound, trains nothing); an infinite one is clipped.
        scaled = scale_target(np.where(missing, bounds[0], y), bounds)
        target = torch.as_tensor(scaled, dtype=torch.float32).reshape(-1, 1)
        return PreparedTarget(target, 1, {"target_bounds_": bounds}, None if not missing.any() else ~missing)

    def _released_target_bounds(self, y, metadata):
        """A robust range of ``y`` released with DP; an error, a function of the release only,
        when it released none."""
        release = self._unpublished(metadata).require_release("target_bounds")
        ranges = release.numeric_ranges(y[:, None], purpose="target")
        low, high = float(ranges.lower[0]), float(ranges.upper[0])
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(
                "target_bounds=None: the DP release of the target's range found none (no power-of-two "
                f"bucket of y held enough rows to clear the noise, about {ranges.coarse_threshold:.4g} rows). "
                "Pass public target_bounds=(low, high), or use more rows or a larger epsilon."
            )
        return np.array([low, high])

    def _target_bounds_from_data(self, y):
        """The smallest and largest finite target: read from the data (warned), or without privacy
        (silently)."""
        if not len(y):
            raise ValueError(
                "y holds no finite target to read target_bounds from; pass public target_bounds=(low, high)."
            )
        if self._unpublished(None).private:
            warnings.warn(
                f"target_bounds={FROM_DATA!r}: the minimum and maximum of y were read from the "
                "training data to scale the target. These values are not protected by the "
                "differential-privacy guarantee: they can reveal the most extreme rows. Leave "
                "target_bounds=None for a range released with DP, or pass public "
                "target_bounds=(low, high), to prevent this.",
                PrivacyLeakWarning,
                stacklevel=caller_stacklevel(),
            )
        return np.array([y.min(), y.max()])

    def _n_outputs(self):
        return 1

    def _criterion(self, target_attributes):
        return _LOSSES[self.loss]()

    def predict(self, X):
        """Predicted target of each row, in the units of ``y``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Within ``target_bounds_``.
        """
        return unscale_target(self._forward(X)[:, 0], self.target_bounds_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # On the 200 rows of scikit-learn's toy problem DP-SGD takes few,
        # noisy steps (one per epoch at the default batch size), which keeps
        # R² below the 0.5 bar of check_regressors_train.
        tags.regressor_tags.poor_score = True
        return tags
