"""PrivacyUtilityDisplay: the score of a model against its privacy budget ε."""

import math

import numpy as np
from sklearn.base import is_classifier, is_regressor
from sklearn.model_selection import validation_curve
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ._matplotlib import check_matplotlib

__all__ = ["PrivacyUtilityDisplay"]


def _epsilon_parameter(names, where):
    """The one parameter among ``names`` that is an ``epsilon`` (possibly nested)."""
    found = [name for name in names if name == "epsilon" or name.endswith("__epsilon")]
    if len(found) != 1:
        raise ValueError(
            f"{where} must have exactly one parameter named 'epsilon' or ending in '__epsilon'; "
            f"found {found or 'none'}. Pass param_name='...' to say which one is the privacy budget."
        )
    return found[0]


def _estimator_name(estimator):
    """The class name of the estimator, or of the last step of a Pipeline."""
    return type(estimator[-1] if isinstance(estimator, Pipeline) else estimator).__name__


def _default_score_name(estimator, scoring):
    if isinstance(scoring, str):
        return scoring
    if scoring is None and is_classifier(estimator):
        return "accuracy"
    if scoring is None and is_regressor(estimator):
        return "R²"
    return "score"


def _split_private_from_reference(epsilons, scores):
    """Private ε in increasing order with their scores, and the scores at ε = inf (or None)."""
    epsilons = np.asarray(epsilons, dtype=float)
    scores = np.asarray(scores, dtype=float)
    finite = np.isfinite(epsilons)
    order = np.argsort(epsilons[finite])
    reference = scores[~finite][0] if (~finite).any() else None
    return epsilons[finite][order], scores[finite][order], reference


class PrivacyUtilityDisplay:
    """Privacy-utility curve: the score of a model against ε, on a log scale.

    Each point is the mean score over folds (or seeds) at one ε, with an
    error bar of one standard deviation; the score of the same model trained
    without privacy (``epsilon=np.inf``) is a horizontal reference line.

    Build it with :meth:`from_cv_results` (from a fitted
    :class:`~sklearn.model_selection.GridSearchCV` or
    :class:`~sklearn.model_selection.RandomizedSearchCV` over ``epsilon``) or
    :meth:`from_estimator` (which fits and scores); all parameters are
    stored as attributes. Needs matplotlib (``pip install
    "sk_privattn[plot]"``).

    .. warning::
       The scores are computed on the rows the search or the cross-validation
       held out, which are usually private too. Each fit is private, but a
       published score (or this figure) is a statistic of those rows that no
       ε covers: draw it on public or synthetic data when you can.

    Parameters
    ----------
    epsilons : array-like of shape (n_epsilons,)
        Finite privacy budgets ε, in increasing order.
    scores : array-like of shape (n_epsilons, n_splits)
        Score of each fold (or seed) at each ε.
    non_private_scores : array-like of shape (n_splits,), default=None
        Scores of the same model at ``epsilon=np.inf``; ``None`` draws no
        reference line.
    score_name : str, default="score"
        Label of the y-axis.
    name : str, default=None
        Legend label of the private curve; ``None`` writes "DP model".

    Attributes
    ----------
    errorbar_ : matplotlib ErrorbarContainer
        The private curve and its error bars.
    line_ : matplotlib Line2D
        The private curve (``errorbar_.lines[0]``).
    reference_line_ : matplotlib Line2D or None
        The mean non-private score; ``None`` without ``non_private_scores``.
    reference_band_ : matplotlib Polygon or None
        One standard deviation around the non-private score; ``None`` with
        fewer than two non-private scores.
    ax_ : matplotlib Axes
        Axes with the curve.
    figure_ : matplotlib Figure
        Figure containing the curve.

    See Also
    --------
    sklearn.model_selection.ValidationCurveDisplay : the same idea for any
        hyper-parameter, without the privacy reading.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sk_privattn.plot import PrivacyUtilityDisplay
    >>> display = PrivacyUtilityDisplay(
    ...     epsilons=[0.5, 1, 3, 8],
    ...     scores=[[0.80, 0.82], [0.83, 0.84], [0.85, 0.85], [0.85, 0.86]],
    ...     non_private_scores=[0.86, 0.86], score_name="accuracy",
    ... ).plot()
    >>> display.ax_.get_xscale()
    'log'
    >>> float(display.reference_line_.get_ydata()[0])
    0.86
    """

    def __init__(self, *, epsilons, scores, non_private_scores=None, score_name="score", name=None):
        self.epsilons = epsilons
        self.scores = scores
        self.non_private_scores = non_private_scores
        self.score_name = score_name
        self.name = name

    def plot(self, ax=None, *, name=None, errorbar_kw=None, reference_line_kw=None):
        """Plot the score against ε.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` makes a new figure.
        name : str, default=None
            Legend label of the private curve; ``None`` uses ``self.name``.
        errorbar_kw : dict, default=None
            Keyword arguments for matplotlib's ``errorbar``.
        reference_line_kw : dict, default=None
            Keyword arguments for matplotlib's ``axhline`` (the non-private
            score).

        Returns
        -------
        display : PrivacyUtilityDisplay
            The display, with its matplotlib objects stored.
        """
        check_matplotlib(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import NullLocator

        epsilons = np.asarray(self.epsilons, dtype=float)
        scores = np.asarray(self.scores, dtype=float).reshape(len(epsilons), -1)
        if ax is None:
            _, ax = plt.subplots()
        self.ax_, self.figure_ = ax, ax.figure

        label = name if name is not None else (self.name if self.name is not None else "DP model")
        errorbar_kw = {"marker": "o", "capsize": 3, "label": label, **(errorbar_kw or {})}
        self.errorbar_ = ax.errorbar(epsilons, scores.mean(axis=1), yerr=scores.std(axis=1), **errorbar_kw)
        self.line_ = self.errorbar_.lines[0]

        self.reference_line_ = self.reference_band_ = None
        if self.non_private_scores is not None:
            reference = np.asarray(self.non_private_scores, dtype=float).ravel()
            mean = reference.mean()
            reference_line_kw = {
                "color": "black",
                "linestyle": "--",
                "label": f"non-private (ε = ∞): {mean:.3g}",
                **(reference_line_kw or {}),
            }
            self.reference_line_ = ax.axhline(mean, **reference_line_kw)
            if reference.size > 1:
                std = reference.std()
                self.reference_band_ = ax.axhspan(
                    mean - std, mean + std, color=self.reference_line_.get_color(), alpha=0.1, linewidth=0
                )

        ax.set_xscale("log")
        ax.set_xticks(epsilons, [f"{epsilon:g}" for epsilon in epsilons])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set(xlabel="ε (privacy budget, log scale)", ylabel=self.score_name)
        ax.legend(loc="best")
        return self

    @classmethod
    def from_cv_results(cls, search, *, param_name=None, scoring=None, name=None, ax=None):
        """Plot the scores of a fitted search over ``epsilon``.

        Reads ``search.cv_results_``: at each ε, the test score of every
        split (``split*_test_score``). When the search also varies other
        parameters, each ε shows its best candidate (highest mean test
        score), as the search would have chosen at that ε. The candidate at
        ``epsilon=np.inf``, if any, is the non-private reference line.

        Each fit of the search spent its own ε on the rows it trained on;
        the curve shows what one model at each ε achieves, not the privacy
        cost of the search as a whole.

        Parameters
        ----------
        search : GridSearchCV or RandomizedSearchCV
            Fitted search whose candidates vary ``epsilon``.
        param_name : str, default=None
            The parameter that is the privacy budget; ``None`` finds the one
            named ``epsilon`` or ending in ``__epsilon`` (in a Pipeline).
        scoring : str, default=None
            With several metrics, which one to plot; ``None`` plots the
            search's ``refit`` metric, or its only one.
        name : str, default=None
            Legend label; ``None`` uses the class name of the searched
            estimator (of its last step, for a Pipeline).
        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` makes a new figure.

        Returns
        -------
        display : PrivacyUtilityDisplay

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import numpy as np
        >>> from sklearn.model_selection import GridSearchCV
        >>> from sk_privattn import DPAttentionClassifier
        >>> from sk_privattn.plot import PrivacyUtilityDisplay
        >>> rng = np.random.RandomState(0)
        >>> X = rng.uniform(-1, 1, size=(300, 3))
        >>> y = (X[:, 0] + X[:, 1] > 0).astype(int)
        >>> clf = DPAttentionClassifier(bounds=(-1, 1), max_epochs=2, d_token=8,
        ...                             n_heads=2, n_layers=1, random_state=0)
        >>> search = GridSearchCV(clf, {"epsilon": [1, 4, np.inf]}, cv=2).fit(X, y)
        >>> display = PrivacyUtilityDisplay.from_cv_results(search)
        >>> display.epsilons
        array([1., 4.])
        >>> display.scores.shape
        (2, 2)
        """
        check_matplotlib(f"{cls.__name__}.from_cv_results")
        check_is_fitted(search, "cv_results_")
        results = search.cv_results_
        if param_name is None:
            params = [key.removeprefix("param_") for key in results if key.startswith("param_")]
            param_name = _epsilon_parameter(params, f"the search {type(search).__name__}")
        if f"param_{param_name}" not in results:
            raise ValueError(
                f"param_name={param_name!r} is not a searched parameter; the search varies "
                f"{sorted(key.removeprefix('param_') for key in results if key.startswith('param_'))}."
            )

        if scoring is None:
            scoring = search.refit if isinstance(search.refit, str) else "score"
        if f"mean_test_{scoring}" not in results:
            metrics = sorted(key.removeprefix("mean_test_") for key in results if key.startswith("mean_test_"))
            raise ValueError(f"scoring={scoring!r} is not a metric of the search; it has {metrics}.")
        split_keys = sorted(
            (key for key in results if key.startswith("split") and key.endswith(f"_test_{scoring}")),
            key=lambda key: int(key[len("split") :].split("_")[0]),
        )
        split_scores = np.column_stack([np.asarray(results[key], dtype=float) for key in split_keys])

        candidate_epsilons = np.asarray(np.ma.getdata(results[f"param_{param_name}"]), dtype=float)
        means = np.asarray(results[f"mean_test_{scoring}"], dtype=float)
        epsilons, scores = [], []
        for epsilon in np.unique(candidate_epsilons):
            candidates = np.flatnonzero(candidate_epsilons == epsilon)
            best = candidates[np.nanargmax(means[candidates])]
            epsilons.append(epsilon)
            scores.append(split_scores[best])
        epsilons, scores, reference = _split_private_from_reference(epsilons, scores)

        estimator = search.estimator
        display = cls(
            epsilons=epsilons,
            scores=scores,
            non_private_scores=reference,
            score_name=_default_score_name(estimator, search.scoring) if scoring == "score" else scoring,
            name=name if name is not None else _estimator_name(estimator),
        )
        return display.plot(ax=ax)

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y,
        *,
        epsilons,
        cv=5,
        scoring=None,
        param_name=None,
        include_non_private=True,
        n_jobs=None,
        name=None,
        ax=None,
    ):
        """Cross-validate ``estimator`` at each ε, and plot the scores.

        A clone of ``estimator`` is fitted on the training folds and scored
        on the test fold, for each ε in ``epsilons`` (and ``np.inf`` for the
        reference line), by :func:`sklearn.model_selection.validation_curve`.
        The error bars are the standard deviation over the folds; to see the
        spread over seeds on the same split, pass e.g.
        ``cv=ShuffleSplit(n_splits=5, random_state=0)``.

        Every fit spends its own ε on the rows it trains on, and the scores
        read the held-out rows: see the warning in the class docstring.

        Parameters
        ----------
        estimator : estimator or Pipeline
            Has a parameter ``epsilon`` (or ``<step>__epsilon``).
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        epsilons : array-like of float
            Privacy budgets to compare.
        cv : int, cross-validation generator or iterable, default=5
            As in :func:`~sklearn.model_selection.cross_val_score`.
        scoring : str or callable, default=None
            ``None`` uses the estimator's ``score`` (accuracy, or R²).
        param_name : str, default=None
            The parameter that is the privacy budget; ``None`` finds the one
            named ``epsilon`` or ending in ``__epsilon``.
        include_non_private : bool, default=True
            Also fit at ``epsilon=np.inf`` and draw its score as a reference
            line.
        n_jobs : int, default=None
            Fits in parallel, as in scikit-learn.
        name : str, default=None
            Legend label; ``None`` uses the estimator's class name (of its
            last step, for a Pipeline).
        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` makes a new figure.

        Returns
        -------
        display : PrivacyUtilityDisplay

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import numpy as np
        >>> from sk_privattn import DPAttentionClassifier
        >>> from sk_privattn.plot import PrivacyUtilityDisplay
        >>> rng = np.random.RandomState(0)
        >>> X = rng.uniform(-1, 1, size=(300, 3))
        >>> y = (X[:, 0] + X[:, 1] > 0).astype(int)
        >>> clf = DPAttentionClassifier(bounds=(-1, 1), max_epochs=2, d_token=8,
        ...                             n_heads=2, n_layers=1, random_state=0)
        >>> display = PrivacyUtilityDisplay.from_estimator(clf, X, y, epsilons=[2], cv=2)
        >>> display.scores.shape, display.non_private_scores.shape
        ((1, 2), (2,))
        """
        check_matplotlib(f"{cls.__name__}.from_estimator")
        if param_name is None:
            param_name = _epsilon_parameter(estimator.get_params(), type(estimator).__name__)
        values = [float(epsilon) for epsilon in np.ravel(epsilons)]
        if not values or any(math.isnan(value) or value <= 0 for value in values):
            raise ValueError(f"epsilons must be a non-empty list of values > 0; got {epsilons!r}.")
        if include_non_private and math.inf not in values:
            values.append(math.inf)
        _, test_scores = validation_curve(
            estimator, X, y, param_name=param_name, param_range=values, cv=cv, scoring=scoring, n_jobs=n_jobs
        )
        epsilons, scores, reference = _split_private_from_reference(values, test_scores)
        display = cls(
            epsilons=epsilons,
            scores=scores,
            non_private_scores=reference,
            score_name=_default_score_name(estimator, scoring),
            name=name if name is not None else _estimator_name(estimator),
        )
        return display.plot(ax=ax)
