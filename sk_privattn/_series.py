"""Time series as the sequence estimators accept them, made into one padded
array and a mask.

Accepted forms of ``X``:

- a 3-D array (n_samples, n_timesteps, n_channels);
- a 2-D array (n_samples, n_timesteps): univariate series;
- a list of arrays of shape (n_timesteps_i, n_channels) or (n_timesteps_i,),
  of different lengths;
- any of the arrays above padded with NaN.

A series ends at its last time step with an observed (non-NaN) value; the
steps after it are padding. NaN before that step is a missing value.
"""

import warnings

import numpy as np
from sklearn.utils import check_array

__all__ = ["SCALINGS", "as_padded_series", "is_ragged", "n_channels_of", "scale_series"]

#: How values are scaled before they reach the network.
SCALINGS = ("per_series", "bounds", "none")


def is_ragged(X):
    """Whether ``X`` is a list of series of different shapes."""
    if not isinstance(X, (list, tuple)) or len(X) == 0:
        return False
    if not all(isinstance(series, (list, tuple, np.ndarray)) for series in X):
        return False
    return len({np.shape(series) for series in X}) > 1


def n_channels_of(X):
    """The number of channels of the series ``X``, from its shape alone (no value is read)."""
    if is_ragged(X):
        first = np.asarray(X[0]) if len(X) else np.zeros((0,))
        return 1 if first.ndim < 2 else int(first.shape[1])
    shape = np.shape(X)
    return 1 if len(shape) < 3 else int(shape[2])


def as_padded_series(X, *, n_channels=None):
    """Return ``X`` as a float array (n_samples, n_timesteps, n_channels),
    NaN-padded, and the length of each series.

    Parameters
    ----------
    X : array-like or list of array-like
        See the module docstring. A 2-D input must already be validated.
    n_channels : int, default=None
        Channels the series must have (those of the fit), or ``None``.

    Returns
    -------
    series : ndarray of shape (n_samples, n_timesteps, n_channels), float32
        ``n_timesteps`` is the width of ``X`` (the longest series of a list).
    lengths : ndarray of int, shape (n_samples,)
    """
    if is_ragged(X):
        arrays = []
        for i, series in enumerate(X):
            array = check_array(
                series, ensure_2d=False, ensure_all_finite="allow-nan", dtype=np.float64,
                ensure_min_samples=0, input_name=f"X[{i}]",
            )
            if array.ndim == 1:
                array = array[:, None]
            if array.ndim != 2:
                raise ValueError(
                    f"X[{i}] has {array.ndim} dimensions; each series of a list must be an array of "
                    "shape (n_timesteps,) or (n_timesteps, n_channels)."
                )
            if arrays and array.shape[1] != arrays[0].shape[1]:
                raise ValueError(
                    f"X[{i}] has {array.shape[1]} channels, but X[0] has {arrays[0].shape[1]}; every "
                    "series must have the same channels (pad a missing channel with NaN)."
                )
            arrays.append(array)
        n_steps = max(len(array) for array in arrays)
        series = np.full((len(arrays), n_steps, arrays[0].shape[1]), np.nan)
        for i, array in enumerate(arrays):
            series[i, : len(array)] = array
    else:
        series = check_array(
            X, ensure_2d=False, allow_nd=True, ensure_all_finite="allow-nan", dtype=np.float64
        )
        if series.ndim == 2:
            series = series[:, :, None]
        elif series.ndim != 3:
            raise ValueError(
                f"X has {series.ndim} dimensions; pass a 2-D array (n_samples, n_timesteps), a 3-D "
                "array (n_samples, n_timesteps, n_channels), or a list of 2-D arrays."
            )
    if n_channels is not None and series.shape[2] != n_channels:
        raise ValueError(
            f"X has {series.shape[2]} channels, but the estimator was fitted on {n_channels}. Pass "
            f"series with the {n_channels} channels of the training data."
        )
    if series.shape[1] == 0:
        raise ValueError("X has series of length 0; every series needs at least one observed time step.")
    observed = ~np.isnan(series).all(axis=2)  # (n, T)
    lengths = np.where(observed.any(axis=1), series.shape[1] - np.argmax(observed[:, ::-1], axis=1), 0)
    empty = np.flatnonzero(lengths == 0)
    if empty.size:
        raise ValueError(
            f"X[{empty[0]}] is a series of length 0 (no observed value){' (and %d more)' % (empty.size - 1) if empty.size > 1 else ''}; "
            "every series needs at least one observed time step. Drop such rows before fit or predict."
        )
    return series.astype(np.float32), lengths


def scale_series(series, lengths, scaling, bounds):
    """The network's input: scaled values and an "observed" flag per step.

    ``"per_series"`` standardises each channel of each series by its own
    mean and standard deviation over its observed values: it reads that
    series only, so it reveals nothing about the other rows. ``"bounds"``
    clips to the public ``bounds`` and maps them to [-1, 1]. ``"none"``
    passes the values as they are. Missing values and padding become 0; the
    last input channel is 1 on observed steps and 0 elsewhere.

    Returns
    -------
    x : ndarray of shape (n_samples, n_timesteps, n_channels + 1), float32
    mask : ndarray of bool, shape (n_samples, n_timesteps)
        True on the steps of each series, False on its padding.
    """
    values = series.astype(np.float64)
    if scaling == "per_series":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a channel with no observed value
            mean = np.nanmean(values, axis=1, keepdims=True)
            std = np.nanstd(values, axis=1, keepdims=True)
        mean = np.nan_to_num(mean)
        std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
        values = (values - mean) / std
    elif scaling == "bounds":
        low, high = (np.asarray(b, dtype=np.float64) for b in bounds)
        values = 2 * (np.clip(values, low, high) - low) / (high - low) - 1
    observed = ~np.isnan(values).all(axis=2, keepdims=True)
    x = np.concatenate([np.nan_to_num(values, nan=0.0), observed.astype(np.float64)], axis=2)
    mask = np.arange(series.shape[1])[None, :] < lengths[:, None]
    return x.astype(np.float32), mask
