"""DPSequenceClassifier: differentially private attention over time series."""

import math
import warnings
from numbers import Integral

import numpy as np
import torch
from sklearn.base import _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_feature_names, validate_data

from ._base import BaseDPEstimator, check_target
from ._classification import DPClassifierMixin
from .utils._docs import DEFAULTS, shared_docstring
from ._series import SCALINGS, as_padded_series, is_ragged, n_channels_of, scale_series
from .utils._warnings import caller_stacklevel
from .exceptions import PrivacyLeakWarning
from .privacy._metadata import FROM_DATA, reads_data
from .nn import LSTMAttention, PatchTransformer, RandomConvolutions

__all__ = ["DPSequenceClassifier"]

ARCHITECTURES = ("transformer", "lstm_attention")
EMBEDDINGS = ("random_conv", "linear")

#: Without a public maximum length, the LSTM's random kernels span up to this many patches.
_LSTM_KERNEL_PATCHES = 16


@shared_docstring
class DPSequenceClassifier(DPClassifierMixin, BaseDPEstimator):
    """Attention classifier for time series, trained with differential privacy.

    Each sample is a series of time steps with one or more channels: a
    patient's vital signs over a stay, a customer's transactions, a meter's
    readings. The network is trained with DP-SGD by Opacus, through the same
    fit path, accounting and guarantees as
    :class:`~sk_privattn.DPAttentionClassifier`: the ε the accountant
    reports after the fit, ``epsilon_``, is at most ``epsilon``.

    ``X`` may be a 3-D array (n_samples, n_timesteps, n_channels), a 2-D
    array (n_samples, n_timesteps) of univariate series, a list of arrays of
    different lengths, or an array padded with NaN. A series ends at its last
    time step with an observed value; what follows is padding, which gets
    exactly zero attention, so appending padding never changes a prediction.
    NaN before the end of a series is a missing value.

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
    architecture : {"transformer", "lstm_attention"}, default="transformer"
        "transformer": patches of ``patch_size`` steps become tokens (see
        ``embedding``, plus a positional embedding) and pre-norm transformer
        blocks read them through a ``[CLS]`` token, as in
        :class:`~sk_privattn.DPAttentionClassifier`. It can predict series
        up to ``n_timesteps_`` steps, rounded up to whole patches.
        "lstm_attention": an LSTM (Opacus' :class:`~opacus.layers.DPLSTM`)
        reads one patch per step; its states are pooled by learned additive
        attention over time, then a linear head. It accepts series of any
        length, but trains slower than the transformer under DP.
    embedding : {"random_conv", "linear"}, default="random_conv"
        How a patch of ``patch_size`` steps becomes the input of the
        network. "random_conv": ``n_kernels`` random dilated convolutions
        (ROCKET, Dempster et al., 2020), drawn from ``random_state`` and the
        public length only and never trained, run over the series; a patch is
        read as the proportion of positive outputs of each kernel on its
        steps (and of observed steps), which a linear layer maps to
        ``d_model``. The features cost no privacy, and under DP-SGD they
        train far better than raw values (docs/sequences.md). "linear": a
        linear map of the patch's values, as in PatchTST.
    n_kernels : int, default=1000
        Random convolutions of ``embedding="random_conv"``.
    additive_terms : bool, default=True
        With ``embedding="random_conv"``, add ROCKET's linear classifier to
        the logits, beside the attention: one learned weight per kernel and
        class on the kernel's proportion of positive outputs over the whole
        series (:class:`~sk_privattn.nn.KernelTerms`), which starts at zero;
        the attention's logits are scaled by 0.1. With few training series,
        DP noise leaves the attention little to learn, and the linear model
        carries the prediction; with many, the attention adds to it
        (docs/sequences.md). ``False`` gives the attention network alone.
        Ignored with ``embedding="linear"``, which counts no kernels.
    d_model : int, default=32
        Token size of the transformer, state size of the LSTM.
    n_heads : int, default=4
        Attention heads of the transformer; must divide ``d_model``.
    n_layers : int, default=1
        Transformer blocks, or stacked LSTM layers.
    patch_size : int, default=8
        Time steps per transformer token, or per LSTM step. Opacus computes
        the LSTM's per-sample gradients one recurrent step at a time, so
        ``patch_size`` divides the cost of a private LSTM; 1 gives the
        classic LSTM over single time steps. At most 255 with
        ``embedding="random_conv"``.
    dropout : float, default=0.0
        Dropout in the transformer blocks, or between LSTM layers and before
        the head.
    scaling : {"per_series", "bounds", "none"}, default="per_series"
        How values are scaled. "per_series" standardises each channel of
        each series by its own mean and standard deviation: it reads only
        that series, so it reveals nothing about the other rows, but it
        discards each series' level and spread. "bounds" clips to the public
        ``bounds`` and maps them to [-1, 1], keeping levels. "none" passes
        the values unscaled. None of them reads statistics of the training
        set.
    bounds : tuple of (lower, upper), default=None
        Public bounds of the values for ``scaling="bounds"``: two scalars,
        or two sequences with one entry per channel.
    max_timesteps : int, default=None
        Public maximum length of a series, for the transformer's positional
        embeddings, and the longest dilation of the random convolutions.
        ``None`` takes the length of the longest training series (and, for
        "lstm_attention", dilations for series of 16 patches). When the
        series do not all fill ``X`` (a list of different lengths, or NaN
        padding), that length is read from the data, outside
        the accounted ε, and a
        :class:`~sk_privattn.exceptions.PrivacyLeakWarning` says so; series
        that fill an array without padding reveal only its shape.
        "lstm_attention" accepts any length and reads no length from the
        data: ``max_timesteps`` only bounds its kernels' dilations.
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
    n_channels_ : int
        Channels of each series.
    n_timesteps_ : int or None
        Longest series the transformer accepts (``max_timesteps``, or the
        longest training series); ``None`` for "lstm_attention".
    convolutions_ : RandomConvolutions or None
        The frozen random kernels of ``embedding="random_conv"``, drawn from
        ``random_state`` and the public length only; ``None`` for "linear".
    n_features_in_ : int
        Columns of ``X`` when it was a 2-D array (one univariate series per
        row), as in scikit-learn; a 2-D ``X`` at predict time must have as
        many. Not set for 3-D or list input.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Only when ``X`` was a DataFrame with string column names.
    {privacy attributes}

    See Also
    --------
    DPAttentionClassifier : the same for tabular data.

    Notes
    -----
    The guarantee covers what the fitted estimator learned from ``X, y``
    through DP-SGD. It does not cover anything you compute later on private
    rows, such as :meth:`attention` or scores on them.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_privattn import DPSequenceClassifier
    >>> rng = np.random.RandomState(0)
    >>> t = np.linspace(0, 1, 24)
    >>> y = rng.randint(2, size=300)
    >>> X = np.sin(2 * np.pi * (1 + y[:, None]) * t) + 0.3 * rng.randn(300, 24)
    >>> clf = DPSequenceClassifier(epsilon=3.0, classes=[0, 1], max_epochs=3, random_state=0).fit(X, y)
    >>> clf.epsilon_ <= 3.0
    True
    >>> clf.attention(X[:2]).shape
    (2, 24)
    """

    _parameter_constraints = {
        **BaseDPEstimator._parameter_constraints,
        **DPClassifierMixin._classifier_constraints,
        "architecture": [StrOptions(set(ARCHITECTURES))],
        "embedding": [StrOptions(set(EMBEDDINGS))],
        "n_kernels": [Interval(Integral, 1, None, closed="left")],
        "additive_terms": ["boolean"],
        "d_model": [Interval(Integral, 1, None, closed="left")],
        "n_heads": [Interval(Integral, 1, None, closed="left")],
        "n_layers": [Interval(Integral, 1, None, closed="left")],
        "patch_size": [Interval(Integral, 1, None, closed="left")],
        "scaling": [StrOptions(set(SCALINGS))],
        "bounds": [tuple, list, StrOptions({FROM_DATA}), None],
        "max_timesteps": [Interval(Integral, 1, None, closed="left"), StrOptions({FROM_DATA}), None],
    }

    _structural_params = (
        "architecture", "embedding", "n_kernels", "additive_terms", "d_model", "n_heads", "n_layers", "patch_size",
        "dropout", "scaling", "bounds", "max_timesteps",
    )

    def __init__(
        self,
        *,
        epsilon=DEFAULTS["epsilon"],
        delta=DEFAULTS["delta"],
        neighbouring=DEFAULTS["neighbouring"],
        public_count=DEFAULTS["public_count"],
        max_grad_norm=DEFAULTS["max_grad_norm"],
        accountant=DEFAULTS["accountant"],
        max_epochs=50,  # max_epochs, batch_size, lr: the private ROCKET peer's plan (docs/sequences.md)
        batch_size=1024,
        lr=0.05,
        lr_schedule=DEFAULTS["lr_schedule"],
        optimizer=DEFAULTS["optimizer"],
        weight_decay=DEFAULTS["weight_decay"],
        architecture="transformer",
        embedding="random_conv",
        n_kernels=1000,
        additive_terms=DEFAULTS["additive_terms"],
        d_model=32,
        n_heads=DEFAULTS["n_heads"],
        n_layers=DEFAULTS["n_layers"],
        patch_size=8,
        dropout=DEFAULTS["dropout"],
        scaling="per_series",
        bounds=None,
        max_timesteps=None,
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
            dropout=dropout,
            random_state=random_state,
            device=device,
            verbose=verbose,
        )
        self.max_epochs = max_epochs
        self.architecture = architecture
        self.embedding = embedding
        self.n_kernels = n_kernels
        self.additive_terms = additive_terms
        self.d_model = d_model
        self.n_heads = n_heads
        self.n_layers = n_layers
        self.patch_size = patch_size
        self.scaling = scaling
        self.bounds = bounds
        self.max_timesteps = max_timesteps
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
        X : array-like of shape (n_samples, n_timesteps[, n_channels]) or list of array-like
            The series: a 2-D array of univariate series, a 3-D array, a
            list of arrays of shape (n_timesteps_i, n_channels) of different
            lengths, or an array padded with NaN.
        y : array-like of shape (n_samples,)
        {sample_weight}
        {person_id}

        Returns
        -------
        self : object
        """
        return self._fit_keeping_state(X, y, sample_weight=sample_weight, person_id=person_id)

    def _check_params(self):
        if self.architecture == "transformer" and self.d_model % self.n_heads:
            raise ValueError(
                f"d_model={self.d_model} must be divisible by n_heads={self.n_heads}; "
                f"for example d_model={self.n_heads * max(1, round(self.d_model / self.n_heads))}."
            )
        if self.embedding == "random_conv" and self.patch_size > 255:
            raise ValueError(
                f"patch_size={self.patch_size} is too large for embedding='random_conv', which counts "
                "the positive outputs of each patch in a byte; use patch_size <= 255, or embedding='linear'."
            )
        if self.scaling == "bounds" and not (self.bounds is None or reads_data(self.bounds)):
            if len(self.bounds) != 2:
                raise ValueError(
                    f"scaling='bounds' needs bounds=(lower, upper), got bounds={self.bounds!r}. Pass the "
                    "public range of the values, None for a range released with DP, or use scaling='per_series'."
                )
            low, high = (np.asarray(b, dtype=float) for b in self.bounds)
            if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(low < high)):
                raise ValueError(
                    f"bounds={self.bounds!r} must be finite with lower < upper for every channel."
                )
        elif self.scaling != "bounds" and self.bounds is not None:
            raise ValueError(
                f"bounds={self.bounds!r} is used only with scaling='bounds', but scaling={self.scaling!r}. "
                "Set scaling='bounds' to use them, or bounds=None."
            )
        super()._check_params()

    def _series(self, X, *, reset):
        """``X`` as a NaN-padded 3-D array, the length of each series, and the width of ``X``.

        2-D input is validated as scikit-learn does.
        """
        if not is_ragged(X) and _ndim(X) <= 2:
            X = validate_data(self, X, reset=reset, ensure_all_finite="allow-nan", dtype=np.float64)
        elif reset:
            for name in ("n_features_in_", "feature_names_in_"):
                self.__dict__.pop(name, None)
            _check_feature_names(self, X, reset=True)
        elif hasattr(self, "n_features_in_"):
            _check_feature_names(self, X, reset=False)
        n_channels = None if reset else self.n_channels_
        series, lengths = as_padded_series(X, n_channels=n_channels)
        # The width as passed, then without the columns that are padding in every row.
        width = series.shape[1]
        series = series[:, : lengths.max()]
        if np.isinf(series).any():
            raise ValueError("X contains infinity; values must be finite or NaN (missing or padding).")
        if self.scaling == "bounds" and isinstance(self.bounds, (tuple, list)):
            for bound in self.bounds:
                if np.ndim(bound) and len(bound) != series.shape[2]:
                    raise ValueError(
                        f"bounds={self.bounds!r} has {len(bound)} entries per side, but X has "
                        f"{series.shape[2]} channels. Give one (lower, upper) per channel, or scalars."
                    )
        return series, lengths, width

    def _inputs(self, series, lengths, convolutions, value_bounds):
        x, mask = scale_series(series, lengths, self.scaling, value_bounds)
        x, mask = torch.from_numpy(x), torch.from_numpy(mask)
        if convolutions is not None:
            x = _count_patches(x, mask, convolutions, self.patch_size)
        return {"x": x, "mask": mask}

    def _releases_series_metadata(self, X):
        """Whether a fit on ``X`` releases the series' value ranges and longest length with DP: the
        range of each channel for ``scaling="bounds"`` without ``bounds``, the length for a
        transformer on a list of series without ``max_timesteps``; both together when either is
        needed."""
        needs_values = self.scaling == "bounds" and self.bounds is None
        ragged = X is None or is_ragged(X)  # an unknown schema may be a list of series
        needs_length = self.architecture == "transformer" and self.max_timesteps is None and ragged
        return needs_values or needs_length

    def _input_metadata_needs(self, X):
        """The ``n_channels + 1`` ranges of :meth:`_releases_series_metadata`, or none."""
        if not self._releases_series_metadata(X):
            return (0, 0, 0)
        return (1 if X is None else n_channels_of(X) + 1, 0, 0)

    def _fit_inputs(self, X, y, previous, metadata=None):
        series, lengths, width = self._series(X, reset=True)
        y = check_target(y, series)
        if previous is not None and series.shape[2] != previous["n_channels_"]:
            raise ValueError(
                f"X has {series.shape[2]} channels, but warm_start=True continues a model fitted on "
                f"{previous['n_channels_']}. Pass series with the same channels, or set "
                "warm_start=False to train a new model."
            )
        releases = previous is None and metadata is not None and self._releases_series_metadata(X)
        released = self._released_series(series, lengths, metadata) if releases else None
        if previous is not None:
            n_timesteps, value_bounds = previous["n_timesteps_"], previous["value_bounds_"]
        else:
            n_timesteps = self._resolve_max_timesteps(lengths, width, is_ragged(X), released)
            value_bounds = self._resolve_value_bounds(series, released)
        if n_timesteps is not None and released is None and lengths.max() > self._max_steps(n_timesteps):
            raise ValueError(
                f"X has a series of {lengths.max()} steps, but the transformer has positions for "
                f"{self._max_steps(n_timesteps)} (max_timesteps={n_timesteps}). Raise max_timesteps, "
                "or cut the series."
            )
        if n_timesteps is not None:
            # A length released with DP may be below the longest series: it is cut, never refused.
            series, lengths = series[:, : self._max_steps(n_timesteps)], np.minimum(lengths, self._max_steps(n_timesteps))
        if previous is not None:
            convolutions = previous["convolutions_"]
        else:
            convolutions = self._draw_convolutions(series.shape[2], n_timesteps)
        attributes = {"n_channels_": series.shape[2], "n_timesteps_": n_timesteps, "value_bounds_": value_bounds,
                      "convolutions_": convolutions}
        # Each series without its padding, whatever the width of the array it came in.
        rows = np.empty((len(series), 1), dtype=object)
        rows[:, 0] = [s[:length].tobytes() for s, length in zip(series, lengths)]
        return self._inputs(series, lengths, convolutions, value_bounds), y, attributes, rows

    def _draw_convolutions(self, n_channels, n_timesteps):
        """The random kernels of ``embedding="random_conv"``, from public quantities only."""
        if self.embedding != "random_conv":
            return None
        span = n_timesteps or self.max_timesteps or _LSTM_KERNEL_PATCHES * self.patch_size
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        return RandomConvolutions(n_channels, self.n_kernels, span, seed=seed)

    def _released_series(self, series, lengths, metadata):
        """The DP value ranges and longest length of the series."""
        unpadded = [one[:length] for one, length in zip(series, lengths)]
        return metadata.series(unpadded, series.shape[2])

    def _resolve_max_timesteps(self, lengths, width, ragged, released):
        """The transformer's longest series: public, released with DP (a list of series), the
        width of ``X`` (an array: its shape is public), or read ("data", warned)."""
        if self.architecture != "transformer":
            return None
        if self.max_timesteps is not None and not reads_data(self.max_timesteps):
            return self.max_timesteps
        if self.max_timesteps is None:
            if released is not None:
                if released.max_length is None:
                    raise ValueError(
                        "max_timesteps=None: the DP release of the series' lengths found no range (too few "
                        "series for the noise). Pass max_timesteps, a public maximum length."
                    )
                return released.max_length
            # An array's width is its shape, public; a list's longest series without privacy (ε = inf).
            return int(lengths.max()) if ragged else int(width)
        if self._unpublished(None).private and np.any(lengths != width):
            warnings.warn(
                f"max_timesteps={FROM_DATA!r}: DPSequenceClassifier read the length of the longest training "
                f"series ({lengths.max()} steps) from the data to size the transformer's positional embeddings; "
                "it is the length of one row, and it is not protected by the differential-privacy guarantee. "
                "Leave max_timesteps=None for a length released with DP, or pass max_timesteps (a public "
                "maximum length), to prevent this.",
                PrivacyLeakWarning,
                stacklevel=caller_stacklevel(),
            )
        return int(lengths.max())

    def _resolve_value_bounds(self, series, released):
        """The bounds of each channel's values for ``scaling="bounds"``: public, released with DP,
        or read ("data", warned); ``None`` for the other scalings."""
        if self.scaling != "bounds":
            return None
        if not (self.bounds is None or reads_data(self.bounds)):
            return tuple(self.bounds)
        if self.bounds is None and released is not None:
            low, high = released.value_lower, released.value_upper
            missing = np.flatnonzero(~(np.isfinite(low) & np.isfinite(high) & (low < high)))
            if missing.size:
                raise ValueError(
                    f"bounds=None: the DP release of the values found no range for channel {int(missing[0])} "
                    "(too few values for the noise). Pass public bounds=(lower, upper), or "
                    "scaling='per_series'."
                )
            return (low, high)
        values = series.reshape(-1, series.shape[2]).astype(np.float64)
        if self._unpublished(None).private:
            warnings.warn(
                f"bounds={FROM_DATA!r}: the smallest and largest value of each channel were read from the "
                "training series to scale them; they are not protected by the differential-privacy guarantee "
                "and can reveal the most extreme rows. Leave bounds=None for a range released with DP, or pass "
                "public bounds=(lower, upper), to prevent this.",
                PrivacyLeakWarning,
                stacklevel=caller_stacklevel(),
            )
        return (np.nanmin(values, axis=0), np.nanmax(values, axis=0))

    def _max_steps(self, n_timesteps):
        return math.ceil(n_timesteps / self.patch_size) * self.patch_size

    def _transform_inputs(self, X):
        series, lengths, _ = self._series(X, reset=False)
        if self.n_timesteps_ is not None and series.shape[1] > self._max_steps(self.n_timesteps_):
            raise ValueError(
                f"X has a series of {series.shape[1]} steps, but architecture='transformer' was fitted for "
                f"series of at most n_timesteps_={self.n_timesteps_} steps and has positions for "
                f"{self._max_steps(self.n_timesteps_)}. Cut the series, or use "
                "architecture='lstm_attention', which accepts any length."
            )
        # Models saved before value_bounds_ existed scaled by the public bounds parameter.
        return self._inputs(series, lengths, self.convolutions_, getattr(self, "value_bounds_", self.bounds))

    def _build_module(self, attributes, n_outputs):
        n_inputs = attributes["n_channels_"] + 1  # the values and an "observed" flag
        convolutions = attributes["convolutions_"]
        n_kernels = 0 if convolutions is None else convolutions.n_kernels
        additive_terms = bool(self.additive_terms and n_kernels)
        if self.architecture == "lstm_attention":
            return LSTMAttention(
                n_inputs,
                n_outputs,
                d_hidden=self.d_model,
                n_layers=self.n_layers,
                dropout=self.dropout,
                patch_size=self.patch_size,
                n_kernels=n_kernels,
                additive_terms=additive_terms,
            )
        return PatchTransformer(
            n_inputs,
            n_outputs,
            math.ceil(attributes["n_timesteps_"] / self.patch_size),
            patch_size=self.patch_size,
            d_token=self.d_model,
            n_heads=self.n_heads,
            n_layers=self.n_layers,
            dropout=self.dropout,
            n_kernels=n_kernels,
            additive_terms=additive_terms,
        )

    def attention(self, X):
        """Attention over the time steps of each series of ``X``.

        For "lstm_attention", the pooling's weight of each step. For
        "transformer", the last block's attention from ``[CLS]`` to each
        patch, averaged over heads and shared equally by the steps of the
        patch. Padding gets exactly 0, and each row sums to 1.

        .. warning::
           This reads the rows you pass. Attention computed on private
           (training) rows is **not** covered by the differential-privacy
           guarantee of the fit: publishing it can reveal those rows. Compute
           it on public or fresh data, or treat the result as private.

        Parameters
        ----------
        X : array-like or list of array-like
            Series in any form that ``fit`` accepts.

        Returns
        -------
        attention : ndarray of shape (n_samples, n_timesteps)
            ``n_timesteps`` is the length of ``X`` as passed (the longest
            series of a list), padding included.
        """
        _, weights = self._forward(X, need_weights=True)
        n_steps = max(len(series) for series in X) if is_ragged(X) else np.asarray(X).shape[1]
        attention = np.zeros((weights.shape[0], n_steps), dtype=weights.dtype)
        attention[:, : weights.shape[1]] = weights
        return attention

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def _count_patches(x, mask, convolutions, patch_size):
    """Per patch, the positive outputs of each random kernel and the observed steps.

    The kernels read the values (missing values and padding are 0 there);
    the last channel of ``x``, the "observed" flag, is counted beside them.
    """
    counts = convolutions.count_positive(x[:, :, :-1], mask, patch_size)
    n_patches = counts.shape[1]
    flags = torch.nn.functional.pad(x[:, :, -1], (0, n_patches * patch_size - x.shape[1]))
    observed = flags.reshape(len(x), n_patches, patch_size).sum(dim=2).to(torch.uint8)
    return torch.cat([counts, observed.unsqueeze(-1)], dim=2)


def _ndim(X):
    """Dimensions of an array-like, without NumPy's array-function protocol."""
    ndim = getattr(X, "ndim", None)
    return ndim if isinstance(ndim, int) else np.asarray(X).ndim
