"""AttentionDisplay: where a fitted attention model looks, row by row and on average."""

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ._matplotlib import check_matplotlib

__all__ = ["AttentionDisplay"]


def _final_step_and_input(estimator, X):
    """The estimator whose ``attention`` to call, and ``X`` as that estimator sees it."""
    if isinstance(estimator, Pipeline):
        final = estimator[-1]
        if hasattr(final, "attention"):
            check_is_fitted(estimator)
            return final, estimator[:-1].transform(X) if len(estimator) > 1 else X
    else:
        final = estimator
    if not hasattr(final, "attention"):
        raise TypeError(
            f"AttentionDisplay needs an estimator with an attention(X) method, such as "
            f"DPAttentionClassifier, or a Pipeline ending in one; got {type(final).__name__}."
        )
    check_is_fitted(final)
    return final, X


def _is_table(X):
    """Whether ``X`` is a 2-D table (not sequences, which are 3-D or ragged)."""
    try:
        return np.ndim(X) == 2
    except ValueError:
        return False


class AttentionDisplay:
    """Attention heatmap (rows × features or time steps) and mean attention per feature.

    The top panel shows, for each row passed, the attention weights of the
    model over the features of a tabular row (or over the time steps of a
    sequence); each row sums to 1. The bottom panel shows their mean over
    the rows, one bar per feature or time step.

    Build it with :meth:`from_estimator`; all parameters are stored as
    attributes. Needs matplotlib (``pip install "sk_privattn[plot]"``).

    .. warning::
       Attention is computed from the rows you pass, after training.
       Attention computed on private (training) rows is **not** covered by
       the differential-privacy guarantee of the fit: the heatmap shows
       those rows' values through the model, and publishing it can reveal
       them. Draw it on public or fresh data, or treat the figure as
       private.

    Parameters
    ----------
    attention : array-like of shape (n_samples, n_positions)
        Attention of each row over its features or time steps.
    feature_names : array-like of str, default=None
        Label of each column; ``None`` numbers them.
    axis_label : str, default="feature"
        What a column is: "feature" for tabular data, "time step" for
        sequences.
    name : str, default=None
        Title of the figure; ``None`` writes none.

    Attributes
    ----------
    heatmap_ : matplotlib AxesImage
        The heatmap.
    colorbar_ : matplotlib Colorbar
        Its colour scale.
    bars_ : matplotlib BarContainer
        The mean attention per feature or time step.
    axes_ : ndarray of matplotlib Axes, shape (2,)
        The heatmap's axes, then the bar chart's.
    figure_ : matplotlib Figure
        Figure containing both.

    See Also
    --------
    sk_privattn.DPAttentionClassifier.attention : the weights shown.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sk_privattn.plot import AttentionDisplay
    >>> display = AttentionDisplay(
    ...     attention=[[0.7, 0.2, 0.1], [0.5, 0.3, 0.2]],
    ...     feature_names=["age", "income", "sex"],
    ... ).plot()
    >>> [round(float(bar.get_height()), 2) for bar in display.bars_]
    [0.6, 0.25, 0.15]
    """

    def __init__(self, *, attention, feature_names=None, axis_label="feature", name=None):
        self.attention = attention
        self.feature_names = feature_names
        self.axis_label = axis_label
        self.name = name

    def plot(self, ax=None, *, cmap="viridis", heatmap_kw=None, bar_kw=None):
        """Draw the heatmap and the bar chart.

        Parameters
        ----------
        ax : sequence of two matplotlib Axes, default=None
            Axes for the heatmap and for the bar chart; ``None`` makes a new
            figure with the heatmap above the bars.
        cmap : str or matplotlib Colormap, default="viridis"
            Colour map of the heatmap.
        heatmap_kw : dict, default=None
            Keyword arguments for matplotlib's ``imshow``.
        bar_kw : dict, default=None
            Keyword arguments for matplotlib's ``bar``.

        Returns
        -------
        display : AttentionDisplay
            The display, with its matplotlib objects stored.
        """
        check_matplotlib(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        attention = np.asarray(self.attention, dtype=float)
        if attention.ndim != 2:
            raise ValueError(
                f"attention must have shape (n_samples, n_positions); got shape {attention.shape}."
            )
        n_samples, n_positions = attention.shape
        if ax is None:
            figure, ax = plt.subplots(
                2, 1, sharex=True, height_ratios=[3, 1], layout="constrained",
                figsize=(max(6.4, 0.45 * n_positions), 6.4),
            )
        if len(ax) != 2:
            raise ValueError(f"ax must be two Axes, for the heatmap and the bar chart; got {len(ax)}.")
        heatmap_ax, bar_ax = ax
        self.axes_, self.figure_ = np.asarray(ax, dtype=object), heatmap_ax.figure

        heatmap_kw = {"aspect": "auto", "interpolation": "nearest", "cmap": cmap, **(heatmap_kw or {})}
        self.heatmap_ = heatmap_ax.imshow(attention, **heatmap_kw)
        self.colorbar_ = self.figure_.colorbar(self.heatmap_, ax=heatmap_ax, label="attention")
        heatmap_ax.set_ylabel(f"row ({n_samples} rows)")

        self.bars_ = bar_ax.bar(np.arange(n_positions), attention.mean(axis=0), **(bar_kw or {}))
        bar_ax.set(xlabel=self.axis_label, ylabel="mean attention")
        if self.feature_names is not None:
            bar_ax.set_xticks(np.arange(n_positions), [str(name) for name in self.feature_names], rotation=45,
                              ha="right")
        if self.name is not None:
            heatmap_ax.set_title(self.name)
        return self

    @classmethod
    def from_estimator(cls, estimator, X, *, feature_names=None, axis_label=None, name=None, ax=None,
                       cmap="viridis"):
        """Compute ``estimator.attention(X)`` and plot it.

        Works for any fitted estimator with an ``attention(X)`` method: the
        tabular estimators of this package return one weight per feature,
        a sequence model one per time step. A
        :class:`~sklearn.pipeline.Pipeline` whose last step has
        ``attention`` is accepted too: ``X`` goes through the earlier
        steps' ``transform`` first.

        See the warning in the class docstring: attention on private rows
        is not covered by the privacy guarantee.

        Parameters
        ----------
        estimator : estimator or Pipeline
            Fitted, with an ``attention`` method (or a last step with one).
        X : array-like or DataFrame
            The rows to show, as the estimator takes them; a few dozen
            rows make a readable heatmap.
        feature_names : array-like of str, default=None
            Column labels; ``None`` uses the estimator's
            ``feature_names_in_`` when it has one per column.
        axis_label : str, default=None
            ``None`` writes "feature" when the attention has one column per
            input feature, "time step" otherwise.
        name : str, default=None
            Title of the figure.
        ax : sequence of two matplotlib Axes, default=None
            Axes for the heatmap and the bar chart.
        cmap : str or matplotlib Colormap, default="viridis"
            Colour map of the heatmap.

        Returns
        -------
        display : AttentionDisplay

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import numpy as np
        >>> from sk_privattn import DPAttentionClassifier
        >>> from sk_privattn.plot import AttentionDisplay
        >>> rng = np.random.RandomState(0)
        >>> X = rng.uniform(-1, 1, size=(300, 3))
        >>> y = (X[:, 0] + X[:, 1] > 0).astype(int)
        >>> clf = DPAttentionClassifier(epsilon=1.0, bounds=(-1, 1), max_epochs=2,
        ...                             d_token=8, n_heads=2, n_layers=1,
        ...                             random_state=0).fit(X, y)
        >>> X_public = rng.uniform(-1, 1, size=(20, 3))   # not training rows
        >>> display = AttentionDisplay.from_estimator(clf, X_public)
        >>> display.heatmap_.get_array().shape
        (20, 3)
        """
        check_matplotlib(f"{cls.__name__}.from_estimator")
        final, X_final = _final_step_and_input(estimator, X)
        attention = np.asarray(final.attention(X_final), dtype=float)
        n_positions = attention.shape[-1]
        # A sequence model (it has n_timesteps_) attends over time steps, even on a 2-D X of
        # univariate series, whose n_features_in_ is then the number of time steps.
        per_feature = (
            not hasattr(final, "n_timesteps_")
            and getattr(final, "n_features_in_", None) == n_positions
            and _is_table(X_final)
        )
        if feature_names is None and per_feature and hasattr(final, "feature_names_in_"):
            feature_names = final.feature_names_in_
        if axis_label is None:
            axis_label = "feature" if per_feature else "time step"
        display = cls(attention=attention, feature_names=feature_names, axis_label=axis_label, name=name)
        return display.plot(ax=ax, cmap=cmap)
