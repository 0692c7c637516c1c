"""The inputs of the tabular estimators: mixed numeric and categorical columns
encoded for an FT-Transformer.

Numeric columns are scaled by public bounds, categorical ones mapped to
public category lists (or both read from the data, with a
:class:`~sk_privattn.exceptions.PrivacyLeakWarning`); see
:mod:`~sk_privattn.preprocessing`.
"""

from numbers import Integral

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _get_feature_names, _num_features, validate_data

from . import preprocessing
from ._base import BaseDPEstimator, check_target
from ._warm_start import check_same_columns
from .data._dask_source import is_partitioned
from .data._frames import as_pandas, is_pandas_like, read_target
from .nn import FTTransformer, PolynomialAttention
from .preprocessing import NUMERIC_ENCODINGS, TabularEncoder, check_numeric_dtypes, resolve_categorical_features
from .privacy._metadata import FROM_DATA

__all__ = ["ARCHITECTURES", "BaseDPAttention", "as_numeric_or_object"]

#: The networks of ``architecture``.
ARCHITECTURES = ("ft_transformer", "polynomial")


class BaseDPAttention(BaseDPEstimator):
    """Base class of the DP attention estimators on tabular data.

    Not for direct use: see :class:`~sk_privattn.DPAttentionClassifier` and
    :class:`~sk_privattn.DPAttentionRegressor`.
    """

    _parameter_constraints = {
        **BaseDPEstimator._parameter_constraints,
        "architecture": [StrOptions(set(ARCHITECTURES))],
        "d_token": [Interval(Integral, 1, None, closed="left")],
        "n_heads": [Interval(Integral, 1, None, closed="left")],
        "n_layers": [Interval(Integral, 1, None, closed="left")],
        "additive_terms": ["boolean"],
        "categorical_features": ["array-like", StrOptions({"from_dtype"}), None],
        "categories": [list, dict, StrOptions({"from_dtype", FROM_DATA}), None],
        "bounds": ["array-like", dict, StrOptions({FROM_DATA}), None],
        "numeric_encoding": [StrOptions(set(NUMERIC_ENCODINGS))],
    }

    _structural_params = (
        "categorical_features",
        "categories",
        "bounds",
        "numeric_encoding",
        "architecture",
        "d_token",
        "n_heads",
        "n_layers",
        "dropout",
        "additive_terms",
    )

    # No defaults here: each public estimator's signature is the one source of them.
    def __init__(
        self,
        *,
        epsilon,
        delta,
        neighbouring,
        public_count,
        max_grad_norm,
        accountant,
        batch_size,
        lr,
        lr_schedule,
        optimizer,
        weight_decay,
        architecture,
        d_token,
        n_heads,
        n_layers,
        dropout,
        additive_terms,
        categorical_features,
        categories,
        bounds,
        numeric_encoding,
        random_state,
        device,
        verbose,
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
        self.architecture = architecture
        self.d_token = d_token
        self.n_heads = n_heads
        self.n_layers = n_layers
        self.additive_terms = additive_terms
        self.categorical_features = categorical_features
        self.categories = categories
        self.bounds = bounds
        self.numeric_encoding = numeric_encoding

    def _check_params(self):
        if self.d_token % self.n_heads:
            raise ValueError(
                f"d_token={self.d_token} must be divisible by n_heads={self.n_heads}; "
                f"for example d_token={self.n_heads * max(1, round(self.d_token / self.n_heads))}."
            )
        if self.architecture == "polynomial":
            if self.n_layers != 1:
                raise ValueError(
                    f"architecture='polynomial' has one attention block, whose polynomial is what "
                    f"encrypted inference evaluates (docs/private_inference.md); got n_layers={self.n_layers}. "
                    "Use n_layers=1, or architecture='ft_transformer' for more blocks."
                )
            if self.numeric_encoding == "piecewise":
                raise ValueError(
                    "numeric_encoding='piecewise' gives each numeric feature 18 values, and "
                    "architecture='polynomial' needs every product of up to three of them as an "
                    "encrypted input (1,329 per feature). Use numeric_encoding='linear+log' or 'linear'."
                )
        super()._check_params()

    def _validate_X(self, X, y=None, *, reset):
        """``validate_data`` keeping mixed columns (object dtype) for the encoder.

        Missing and infinite values pass (the encoder turns them into tokens,
        or clips them), in ``X`` and in ``y`` (:func:`~sk_privattn._base.check_target`);
        a sparse matrix is refused with what to pass instead.
        """
        if sp.issparse(X):
            raise TypeError(
                f"{type(self).__name__} got a sparse matrix X, such as OneHotEncoder returns. Pass "
                "the raw columns instead, categorical ones as they are, and their public category "
                "lists as categories=...: the estimator gives each category an embedding of its own."
            )
        if preprocessing._is_dataframe(X):
            X = preprocessing.numpy_backed(X)
            if X.shape[0] > preprocessing.ENCODE_CHUNK_ROWS:
                return self._validate_large_frame(X, y, reset=reset)
        validated = validate_data(self, X, reset=reset, dtype=None, ensure_all_finite=False)
        return as_numeric_or_object(validated), (None if y is None else check_target(y, validated))

    def _validate_large_frame(self, X, y, *, reset):
        """:meth:`_validate_X` of a DataFrame of many rows, without an array of all its cells.

        The feature names and counts are checked (or set) as ``validate_data``
        does; the values are validated by :class:`_RowChunks`, a chunk of rows
        (or the columns asked for) at a time, as the encoder reads them.
        """
        validate_data(self, X, reset=reset, skip_check_array=True)
        return _RowChunks(X, self), (None if y is None else check_target(y, X))

    _partitioned_input = True

    def _categorical_of_schema(self, X):
        names = np.asarray(X.columns, dtype=object) if hasattr(X, "columns") else None
        return resolve_categorical_features(X, X.shape[1], self.categorical_features, names,
                                            categories=self.categories)

    def _read_table(self, X, y=None):
        """``X`` and ``y`` as the estimator reads them: a polars DataFrame or a pyarrow Table
        as a pandas DataFrame of the same column kinds (:func:`~sk_privattn.data._frames.as_pandas`:
        a polars ``String`` column is categorical whatever its content), a polars Series or
        an Arrow array ``y`` as a numpy array; pandas and arrays as they are."""
        return as_pandas(X), (y if y is None or is_pandas_like(y) else read_target(y))

    def _fit_inputs(self, X, y, previous, metadata=None):
        X, y = self._read_table(X, y)
        X_valid, y, is_categorical = self._validate_columns(X, y)
        if previous is None:
            encoder, x_num, x_cat = self._fit_encoder(X_valid, X, is_categorical, metadata)
        else:
            check_same_columns(previous, X_valid.shape[1], getattr(self, "feature_names_in_", None), is_categorical)
            encoder = previous["_encoder"]
            x_num, x_cat = encoder.transform(X_valid)
        inputs = {"x_num": torch.from_numpy(x_num), "x_cat": torch.from_numpy(x_cat)}
        return inputs, y, self._encoding_attributes(encoder, is_categorical), X_valid

    def _validate_columns(self, X, y=None):
        """Validate ``X`` (and ``y``) for a fit; also return which columns are categorical."""
        X_valid, y = self._validate_X(X, y, reset=True)
        feature_names = getattr(self, "feature_names_in_", None)
        is_categorical = resolve_categorical_features(
            X, X_valid.shape[1], self.categorical_features, feature_names, categories=self.categories
        )
        check_numeric_dtypes(X, is_categorical)
        return X_valid, y, is_categorical

    def _input_metadata_needs(self, X):
        """The numeric ranges and category lists that a fit on ``X`` releases with DP: those
        of the features whose ``bounds`` or ``categories`` are ``None``, from ``X``'s schema."""
        if X is None:
            return int(self.bounds is None), int(self.categories is None), 0
        if self.bounds is not None and self.categories is not None:
            return 0, 0, 0
        ndim = len(X.shape) if hasattr(X, "shape") else np.ndim(X)  # the schema, not the values
        if not preprocessing._is_dataframe(X) and ndim != 2:
            return 0, 0, 0  # not a table: validation refuses it, with its own message
        if is_partitioned(X):  # a Dask DataFrame: its schema, as the Dask path reads it
            is_categorical, n_features = self._categorical_of_schema(X), X.shape[1]
        else:
            n_features = _num_features(X)
            is_categorical = resolve_categorical_features(X, n_features, self.categorical_features,
                                                          _get_feature_names(X), categories=self.categories)
        dtypes = X.dtypes.tolist() if preprocessing._is_dataframe(X) else [None] * n_features
        boolean = np.array([preprocessing._dtype_kind(dtype) in preprocessing._BOOLEAN_DTYPES for dtype in dtypes],
                           dtype=bool)
        n_numeric = int((~is_categorical).sum()) if self.bounds is None else 0
        n_categorical = int((is_categorical & ~boolean).sum()) if self.categories is None else 0
        return n_numeric, n_categorical, 0

    def _fit_encoder(self, X_valid, X_original, is_categorical, metadata=None):
        """The input encoder fitted to ``X`` (bounds and categories public, released with DP, or
        read and warned), and ``X`` encoded: ``(encoder, x_num, x_cat)``."""
        encoder = TabularEncoder(
            is_categorical,
            bounds=self.bounds,
            categories=self.categories,
            feature_names=getattr(self, "feature_names_in_", None),
            numeric_encoding=self.numeric_encoding,
        )
        x_num, x_cat = encoder.fit_transform(X_valid, X_original, type(self).__name__, self._unpublished(metadata))
        return encoder, x_num, x_cat

    @staticmethod
    def _encoding_attributes(encoder, is_categorical):
        """The fitted attributes that describe the input encoding."""
        return {
            "is_categorical_": is_categorical,
            "bounds_": encoder.bounds_,
            "categories_": encoder.categories_,
            "_encoder": encoder,
        }

    def _restore_inputs(self):
        encoder = TabularEncoder.from_fitted(
            self.is_categorical_,
            bounds=self.bounds_,
            categories=self.categories_,
            feature_names=getattr(self, "feature_names_in_", None),
            numeric_encoding=self.numeric_encoding,
            estimator_name=type(self).__name__,
        )
        return {"_encoder": encoder}

    def _transform_inputs(self, X):
        X, _ = self._validate_X(self._read_table(X)[0], reset=False)
        x_num, x_cat = self._encoder.transform(X)
        return {"x_num": torch.from_numpy(x_num), "x_cat": torch.from_numpy(x_cat)}

    def _build_module(self, attributes, n_outputs):
        encoder = attributes["_encoder"]
        inputs = (encoder.numeric_.size, [len(categories) for categories in encoder.categories_], n_outputs)
        sizes = dict(d_token=self.d_token, n_heads=self.n_heads, dropout=self.dropout,
                     n_views=NUMERIC_ENCODINGS[self.numeric_encoding], additive_terms=self.additive_terms)
        if self.architecture == "polynomial":
            return PolynomialAttention(*inputs, **sizes)
        return FTTransformer(*inputs, n_layers=self.n_layers, **sizes)

    def attention(self, X):
        """Attention from ``[CLS]`` to each feature, for the rows ``X``.

        The last transformer block's attention weights from the ``[CLS]``
        token to each feature token, averaged over heads and renormalised
        to sum to 1 over the features (``[CLS]``'s attention to itself is
        dropped).

        .. warning::
           This reads the rows you pass. Attention computed on private
           (training) rows is **not** covered by the differential-privacy
           guarantee of the fit: publishing it can reveal those rows. Compute
           it on public or fresh data, or treat the result as private.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        attention : ndarray of shape (n_samples, `n_features_in_`)
            Columns in the order of the features of ``X``.
        """
        _, weights = self._forward(X, need_weights=True)
        features = weights.mean(axis=1)[:, 1:]
        features = features / features.sum(axis=1, keepdims=True)
        n_numeric = self._encoder.numeric_.size
        attention = np.empty_like(features)
        attention[:, self._encoder.numeric_] = features[:, :n_numeric]
        attention[:, self._encoder.categorical_] = features[:, n_numeric:]
        return attention

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.categorical = True
        # Categorical columns of text; a value of a numeric column that is not a number is missing.
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        tags.input_tags.sparse = False
        return tags


def as_numeric_or_object(validated):
    """A validated array as the encoder reads it: numeric, or object when mixed."""
    return validated if validated.dtype.kind in "biufO" else validated.astype(object)


class _RowChunks:
    """A DataFrame of many rows, as the encoder reads it: validated part by part.

    scikit-learn's validation of a DataFrame that mixes numeric and
    categorical columns is one array of Python objects, one per cell (about
    0.6 KiB a row for 40 columns). The encoder reads rows in chunks
    (``X[start:stop]``), and whole columns (``X[:, j]``) only where it reads
    bounds or categories from the data; this view validates just what is
    read, with ``check_array`` as ``validate_data`` calls it, so each cell
    has the value it has in the array of the whole frame. ``np.asarray``
    gives that whole array (the privacy ledgers' row fingerprints ask for it).
    """

    dtype = np.dtype(object)

    def __init__(self, frame, estimator):
        self.frame = frame
        self.estimator = estimator
        self.shape = frame.shape

    def __len__(self):
        return self.shape[0]

    def _validated(self, part):
        return as_numeric_or_object(
            check_array(part, dtype=None, ensure_all_finite=False, estimator=self.estimator, input_name="X")
        )

    def __getitem__(self, key):
        if isinstance(key, slice):
            return self._validated(self.frame.iloc[key])
        rows, columns = key
        if isinstance(columns, Integral):
            return self._validated(self.frame.iloc[rows, [columns]])[:, 0]
        return self._validated(self.frame.iloc[rows, np.asarray(columns)])

    def __array__(self, dtype=None, copy=None):
        validated = self._validated(self.frame)
        return validated if dtype is None else validated.astype(dtype)
