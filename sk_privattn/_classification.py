"""What every DP classifier shares: class labels, class weights, the loss,
and the methods that turn logits into predictions."""

import math
import warnings

import numpy as np
import torch
from scipy.special import log_softmax, softmax
from sklearn.base import ClassifierMixin
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.multiclass import check_classification_targets

from ._base import PreparedTarget
from .exceptions import PrivacyLeakWarning
from .preprocessing import is_missing
from .privacy._metadata import FROM_DATA, reads_data
from .utils._warnings import caller_stacklevel

__all__ = ["DPClassifierMixin"]


def _is_boolean(y):
    """Whether ``y`` has a boolean type, whose classes ``[False, True]`` are public."""
    return getattr(np.asarray(y), "dtype", None) == np.dtype(bool)


def _label_kind(dtype):
    """"numbers" or "text" for an array of labels of one type; ``None`` for mixed (object) labels."""
    if dtype.kind in "biuf":
        return "numbers"
    if dtype.kind in "US":
        return "text"
    return None


def _encode_labels(y, missing, classes):
    """``(usable, encoded)``: which rows hold a label of ``classes``, and each row's index in
    ``classes`` (0 for the others, whose weight will be 0)."""
    encoded = np.zeros(len(y), dtype=np.int64)
    if _label_kind(y.dtype) == _label_kind(classes.dtype) == "numbers":
        usable = ~missing & np.isin(y, classes)
        encoded[usable] = np.searchsorted(classes, y[usable])
        return usable, encoded
    position = {label: index for index, label in enumerate(classes.tolist())}
    for row, (label, gone) in enumerate(zip(y.tolist(), missing)):
        try:
            encoded[row] = -1 if gone else position.get(label, -1)
        except TypeError:  # an unhashable value is no label
            encoded[row] = -1
    usable = encoded >= 0
    encoded[~usable] = 0
    return usable, encoded


class DPClassifierMixin(ClassifierMixin):
    """Classification on top of :class:`~sk_privattn._base.BaseDPEstimator`.

    Supplies ``_prepare_target`` and ``_criterion`` to the shared fit path,
    and ``decision_function``, ``predict_proba``, ``predict_log_proba`` and
    ``predict`` from the module's logits. The estimator has a
    ``class_weight`` parameter.
    """

    _classifier_constraints = {
        "classes": ["array-like", StrOptions({FROM_DATA}), None],
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def _target_metadata_needs(self, y):
        """A label domain to release with DP: when ``classes`` is ``None`` and ``y``'s type does not
        fix the labels (a boolean ``y`` has the public classes ``[False, True]``)."""
        return (0, 0, int(self.classes is None and (y is None or not _is_boolean(y))))

    def _prepare_target(self, y, previous, metadata=None):
        y = np.asarray(y)
        missing = is_missing(y)
        if previous is not None:
            classes = previous["classes_"]
        elif self.classes is not None and not reads_data(self.classes):
            classes = np.unique(np.asarray(self.classes))
        elif _is_boolean(y):
            classes = np.array([False, True])
        elif self.classes is None and self._unpublished(metadata).private:
            # Rows of a label that the release did not release weigh 0, as any label outside classes.
            classes = self._released_classes(y[~missing], metadata)
        else:
            classes = self._classes_from_data(y[~missing])
        self._check_classes(y, classes, previous)
        usable, encoded = _encode_labels(y, missing, classes)
        attributes = {"classes_": classes, "class_weight_": self._class_weights(classes, encoded[usable])}
        return PreparedTarget(torch.as_tensor(encoded, dtype=torch.long), len(classes), attributes,
                              None if usable.all() else usable)

    def _check_classes(self, y, classes, previous):
        """Raise for a schema error, read from types and parameters, never from the values of ``y``:
        labels of another kind than ``classes`` (text against numbers), or fewer than two classes."""
        origin = (
            "the classes of the model that warm_start=True continues"
            if previous is not None
            else "classes" if self.classes is not None else "the labels read from y"
        )
        kinds = _label_kind(y.dtype), _label_kind(classes.dtype)
        if None not in kinds and kinds[0] != kinds[1]:
            raise ValueError(
                f"y holds {kinds[0]} (dtype {y.dtype}), but {origin} are {kinds[1]} ({classes.tolist()}). Pass y "
                "with labels of the same type as classes, or set warm_start=False to train a new model."
            )
        if len(classes) < 2:
            raise ValueError(
                f"{origin} holds one label ({classes.tolist()}); a classifier needs at least two. Pass classes, "
                "the public list of the task's labels (e.g. classes=[0, 1])."
            )

    def _released_classes(self, y, metadata):
        """The classes released with DP (partition selection); an error, a function of the release
        only, when fewer than two were released."""
        release = self._unpublished(metadata).require_release("classes").classes(np.asarray(y, dtype=object))
        classes = np.asarray(release.categories[0])
        if len(classes) < 2:
            raise ValueError(
                f"classes=None: the DP release of the labels released {len(classes)} class(es), fewer than the two "
                f"a classifier needs: a class is released when its rows, plus Gaussian noise of standard "
                f"deviation {release.noise_std:.3g}, reach {release.threshold:.4g}. Pass the public classes "
                "(e.g. classes=[0, 1]): they cost nothing."
            )
        return classes

    def _classes_from_data(self, y):
        """The labels present in ``y``: read from the data (warned), or without privacy (silently);
        ``y`` holds no missing label."""
        check_classification_targets(y)
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError(
                f"y contains only one class ({', '.join(repr(c) for c in classes.tolist()) or 'none'}); a "
                "classifier needs at least two classes in the training data, or two in classes."
            )
        if self._unpublished(None).private:
            warnings.warn(
                f"classes={FROM_DATA!r}: the labels present in y ({', '.join(repr(c) for c in classes.tolist()[:10])}"
                f"{', ...' if len(classes) > 10 else ''}) were read from {self._training_rows}. Which labels occur "
                "is not protected by the differential-privacy guarantee: a label that only one row holds "
                "reveals that row. Leave classes=None for classes released with DP, or pass classes, the "
                "public list of the task's labels (e.g. classes=[0, 1]), to prevent this.",
                PrivacyLeakWarning,
                stacklevel=caller_stacklevel(),
            )
        return classes

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
                stacklevel=caller_stacklevel(),
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
        if not all(math.isfinite(w) and w >= 0 for w in weights) or not weights.any():
            raise ValueError(
                f"class_weight={self.class_weight!r} holds a weight that is negative or not "
                "finite, or gives every class weight 0; every weight must be a finite number >= 0, "
                "and one at least > 0."
            )
        return weights

    def _n_outputs(self):
        return len(self.classes_)

    def _criterion(self, target_attributes):
        return torch.nn.CrossEntropyLoss(reduction="none")

    def _target_row_weights(self, target, target_attributes):
        """Each row's class weight over the largest class weight (public, or warned for "balanced")."""
        weights = target_attributes["class_weight_"]
        if np.all(weights == weights[0]):
            return None
        return weights[target.numpy()] / weights.max()

    def decision_function(self, X):
        """Confidence scores: the logits.

        Parameters
        ----------
        X : array-like
            Samples, in any form that ``fit`` accepts.

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
        X : array-like
            Samples, in any form that ``fit`` accepts.

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
        X : array-like
            Samples, in any form that ``fit`` accepts.

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
