"""DPAttentionClassifier: a differentially private FT-Transformer classifier."""

from sklearn.base import _fit_context

from ._classification import DPClassifierMixin
from ._tabular import BaseDPAttention
from .utils._docs import DEFAULTS, shared_docstring

__all__ = ["DPAttentionClassifier"]


@shared_docstring
class DPAttentionClassifier(DPClassifierMixin, BaseDPAttention):
    """Attention classifier for tabular data, trained with differential privacy.

    An FT-Transformer (each feature becomes a token, a ``[CLS]`` token reads
    them through pre-norm transformer blocks) trained with DP-SGD by Opacus:
    Poisson sampling, per-sample gradient clipping, Gaussian noise, and a
    privacy accountant. The noise is calibrated so that the ε the accountant
    reports after the fit, ``epsilon_``, is at most ``epsilon``. With
    ``architecture="polynomial"`` the network is one that homomorphic
    encryption evaluates, for scoring rows that the model's owner never sees
    (:mod:`sk_privattn.encrypted`).

    It is a drop-in replacement for
    :class:`~sklearn.linear_model.LogisticRegression`, including in
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
    {classes}
    {class_weight}
    {max_sample_weight}
    {max_rows_per_person}
    {metadata_noise_multiplier}
    {random_state}
    {device}
    {verbose}
    {warm_start}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    class_weight_ : ndarray of shape (n_classes,)
        Weight of each class of ``classes_`` in the loss (all 1.0 for
        ``class_weight=None``).
    {feature attributes}
    {privacy attributes}
    {tabular attributes}

    See Also
    --------
    sklearn.linear_model.LogisticRegression : the non-private linear model.

    Notes
    -----
    The guarantee covers what the fitted estimator learned from ``X, y``
    through DP-SGD. It does not cover bounds, categories or class counts read
    from the data (warned), nor anything you compute later on private rows,
    such as :meth:`attention` or scores on them.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_privattn import DPAttentionClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(400, 3))
    >>> y = (X[:, 0] + X[:, 1] > 0).astype(int)
    >>> clf = DPAttentionClassifier(epsilon=1.0, bounds=(-1, 1), classes=[0, 1], max_epochs=5,
    ...                             batch_size=100, random_state=0).fit(X, y)
    >>> clf.epsilon_ <= 1.0
    True
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    """

    _parameter_constraints = {
        **BaseDPAttention._parameter_constraints,
        **DPClassifierMixin._classifier_constraints,
    }

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
        classes=DEFAULTS["classes"],
        class_weight=DEFAULTS["class_weight"],
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
        self.classes = classes
        self.class_weight = class_weight
        self.max_sample_weight = max_sample_weight
        self.max_rows_per_person = max_rows_per_person
        self.metadata_noise_multiplier = metadata_noise_multiplier
        self.warm_start = warm_start

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, person_id=None):
        """Fit the classifier with DP-SGD.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Numeric features must be finite; missing categorical values are
            allowed.
        y : array-like of shape (n_samples,)
        {sample_weight}
        {person_id}

        Returns
        -------
        self : object
        """
        return self._fit_keeping_state(X, y, sample_weight=sample_weight, person_id=person_id)
