"""DPAttentionClassifier: a differentially private FT-Transformer classifier."""

import math
import warnings

import numpy as np
import torch
from scipy.special import log_softmax, softmax
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.multiclass import check_classification_targets

from ._base import BaseDPAttention
from ._docs import shared_docstring
from .exceptions import PrivacyLeakWarning
from .nn import RowWeightedCrossEntropy

__all__ = ["DPAttentionClassifier"]


@shared_docstring
class DPAttentionClassifier(ClassifierMixin, BaseDPAttention):
    """Attention classifier for tabular data, trained with differential privacy.

    An FT-Transformer (each feature becomes a token, a ``[CLS]`` token reads
    them through pre-norm transformer blocks) trained with DP-SGD by Opacus:
    Poisson sampling, per-sample gradient clipping, Gaussian noise, and a
    privacy accountant. The noise is calibrated so that the ε the accountant
    reports after the fit, ``epsilon_``, is at most ``epsilon``.

    It is a drop-in replacement for
    :class:`~sklearn.linear_model.LogisticRegression`, including in
    :class:`~sklearn.pipeline.Pipeline` and
    :class:`~sklearn.model_selection.GridSearchCV` over ``epsilon``.

    Parameters
    ----------
    {shared parameters}
    class_weight : None, dict, or "balanced", default=None
        Weight of each class in the loss. ``None`` weighs every class 1. A
        dict ``{class: weight}`` is public (classes it leaves out weigh 1).
        ``"balanced"`` weighs class ``c`` by
        ``n_samples / (n_classes * count(c))``, as in scikit-learn: the class
        counts are read from the training data, outside the accounted ε, and
        a :class:`~sk_privattn.exceptions.PrivacyLeakWarning` says so; pass a
        dict of public weights (e.g. from published class frequencies) to
        prevent it. A weight multiplies its row's gradient *before*
        per-sample clipping, so clipping bounds it: a weight of 5 cannot make
        a row's gradient longer than ``max_grad_norm``, and the privacy
        guarantee is unchanged. It also means that a weight above 1 has no
        effect on a row whose gradient is clipped, and under DP-SGD those
        are often the misclassified rows that matter most: weights change a
        private model much less than a non-private one (see the class-weight
        benchmark in docs/benchmarks.md).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    class_weight_ : ndarray of shape (n_classes,)
        Weight of each class of ``classes_`` in the loss (all 1.0 for
        ``class_weight=None``).
    {shared attributes}

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
    >>> clf = DPAttentionClassifier(epsilon=1.0, bounds=(-1, 1), max_epochs=5,
    ...                             batch_size=100, random_state=0).fit(X, y)
    >>> clf.epsilon_ <= 1.0
    True
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    """

    _parameter_constraints = {
        **BaseDPAttention._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(
        self,
        *,
        epsilon=1.0,
        delta=None,
        max_grad_norm=1.0,
        accountant="prv",
        max_epochs=10,
        batch_size="auto",
        lr=0.02,
        lr_schedule="cosine",
        optimizer="adamw",
        weight_decay=0.0,
        d_token=32,
        n_heads=4,
        n_layers=2,
        dropout=0.0,
        categorical_features="from_dtype",
        categories=None,
        bounds=None,
        numeric_encoding="linear+log",
        class_weight=None,
        random_state=None,
        device="cpu",
        verbose=0,
        warm_start=False,
    ):
        super().__init__(
            epsilon=epsilon,
            delta=delta,
            max_grad_norm=max_grad_norm,
            accountant=accountant,
            max_epochs=max_epochs,
            batch_size=batch_size,
            lr=lr,
            lr_schedule=lr_schedule,
            optimizer=optimizer,
            weight_decay=weight_decay,
            d_token=d_token,
            n_heads=n_heads,
            n_layers=n_layers,
            dropout=dropout,
            categorical_features=categorical_features,
            categories=categories,
            bounds=bounds,
            numeric_encoding=numeric_encoding,
            random_state=random_state,
            device=device,
            verbose=verbose,
            warm_start=warm_start,
        )
        self.class_weight = class_weight

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit the classifier with DP-SGD.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Numeric features must be finite; missing categorical values are
            allowed.
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : object
        """
        return self._fit_keeping_state(X, y)

    def _prepare_target(self, y, previous):
        check_classification_targets(y)
        classes, encoded = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"y contains only one class ({classes[0]!r}); a classifier needs at least "
                "two classes in the training data."
            )
        if previous is not None and not np.array_equal(classes, previous["classes_"]):
            raise ValueError(
                f"y has the classes {classes.tolist()}, but warm_start=True continues a model "
                f"fitted on the classes {previous['classes_'].tolist()}. Pass y with the same "
                "classes, or set warm_start=False to train a new model."
            )
        attributes = {"classes_": classes, "class_weight_": self._class_weights(classes, encoded)}
        return torch.as_tensor(encoded, dtype=torch.long), len(classes), attributes

    def _class_weights(self, classes, encoded):
        """The weight of each class: public (None, dict) or from the counts (warned)."""
        if self.class_weight is None:
            return np.ones(len(classes))
        if isinstance(self.class_weight, str):  # "balanced"
            warnings.warn(
                "class_weight='balanced' read the number of training rows of each class "
                f"({', '.join(repr(c) for c in classes.tolist())}) from the training data to "
                "weight the loss. These counts are not protected by the differential-privacy "
                "guarantee. Pass class_weight as a dict {class: weight} of public weights (e.g. "
                "from published class frequencies) to prevent this.",
                PrivacyLeakWarning,
                stacklevel=7,
            )
            return len(encoded) / (len(classes) * np.bincount(encoded, minlength=len(classes)))
        known = set(classes.tolist())
        unknown = [label for label in self.class_weight if label not in known]
        if unknown:
            raise ValueError(
                f"class_weight={self.class_weight!r} gives a weight to {unknown!r}, which is not "
                f"a class of y (classes: {classes.tolist()}). Key the dict by the labels of y."
            )
        weights = np.array([self.class_weight.get(label, 1.0) for label in classes.tolist()], dtype=float)
        if not all(math.isfinite(w) and w >= 0 for w in weights):
            raise ValueError(
                f"class_weight={self.class_weight!r} holds a weight that is negative or not "
                "finite; every weight must be a finite number >= 0."
            )
        return weights

    def _criterion(self, target_attributes):
        weights = target_attributes["class_weight_"]
        if np.all(weights == 1.0):
            return torch.nn.CrossEntropyLoss
        return RowWeightedCrossEntropy(weights)

    def decision_function(self, X):
        """Confidence scores: the logits.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            For two classes, the log-odds of ``classes_[1]`` (positive means
            that class is predicted), as in
            :class:`~sklearn.linear_model.LogisticRegression`; otherwise one
            logit per class.
        """
        logits = self._forward(X)
        if logits.shape[1] == 2:
            return logits[:, 1] - logits[:, 0]
        return logits

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        return softmax(self._forward(X), axis=1)

    def predict_log_proba(self, X):
        """Logarithm of the class probabilities, shape (n_samples, n_classes)."""
        return log_softmax(self._forward(X), axis=1)

    def predict(self, X):
        """Most probable class of each row.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        logits = self._forward(X)
        return self.classes_[np.argmax(logits, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # DP noise on the few hundred rows of scikit-learn's toy problems
        # keeps accuracy below the bar of check_classifiers_train.
        tags.classifier_tags.poor_score = True
        return tags
