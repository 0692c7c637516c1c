"""The fit path that every differentially private estimator shares.

``fit`` runs, in this order: validate the parameters (nothing reads data
yet); validate ``X`` and ``y``; prepare the inputs (public bounds and
categories, or warned); build the torch module; train it with DP-SGD through
:func:`~sk_privattn._training.train_module`; store the plain module and what
was spent. A subclass supplies only its target handling, its loss and its
output head. With ``warm_start=True`` a fitted estimator skips the input
preparation and the module building of the first fit, and continues both
the training and the privacy accounting (see :mod:`._warm_start`).
"""

import copy
import math
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._training import OPTIMIZERS, TensorBatchDataset, train_module
from ._warm_start import check_budget_left, check_same_columns, check_same_delta, check_same_structure, structure
from .nn import FTTransformer
from .preprocessing import NUMERIC_ENCODINGS, TabularEncoder, resolve_categorical_features
from .privacy import ACCOUNTANTS, GDP_WARNING, default_delta

__all__ = ["BaseDPAttention"]

_PREDICT_BATCH_SIZE = 8192


def _check_device(device):
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r}, but torch sees no CUDA device on this machine; use device='cpu'."
        )
    return device


class BaseDPAttention(BaseEstimator):
    """Base class of the DP attention estimators on tabular data.

    Not for direct use: see :class:`~sk_privattn.DPAttentionClassifier` and
    :class:`~sk_privattn.DPAttentionRegressor`.
    """

    _parameter_constraints = {
        "epsilon": [Interval(Real, 0, None, closed="neither"), Options(Real, {math.inf})],
        "delta": [Interval(Real, 0, 1, closed="neither"), None],
        "max_grad_norm": [Interval(Real, 0, None, closed="neither")],
        "accountant": [StrOptions(set(ACCOUNTANTS))],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions({"constant", "cosine"})],
        "optimizer": [StrOptions(set(OPTIMIZERS)), type],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "d_token": [Interval(Integral, 1, None, closed="left")],
        "n_heads": [Interval(Integral, 1, None, closed="left")],
        "n_layers": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "categorical_features": ["array-like", StrOptions({"from_dtype"}), None],
        "categories": [list, dict, StrOptions({"from_dtype"}), None],
        "bounds": ["array-like", dict, None],
        "numeric_encoding": [StrOptions(set(NUMERIC_ENCODINGS))],
        "random_state": ["random_state"],
        "device": [str],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
    }

    #: Parameters of the subclass that, like ``_warm_start.STRUCTURAL_PARAMS``,
    #: a warm start must keep.
    _structural_params = ()

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
        random_state=None,
        device="cpu",
        verbose=0,
        warm_start=False,
    ):
        self.epsilon = epsilon
        self.delta = delta
        self.max_grad_norm = max_grad_norm
        self.accountant = accountant
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.d_token = d_token
        self.n_heads = n_heads
        self.n_layers = n_layers
        self.dropout = dropout
        self.categorical_features = categorical_features
        self.categories = categories
        self.bounds = bounds
        self.numeric_encoding = numeric_encoding
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.warm_start = warm_start

    # -- what a subclass supplies ------------------------------------------

    def _prepare_target(self, y, previous):
        """Validate ``y``; return (target tensor, n_outputs, fitted attributes).

        ``previous`` is ``None``, or the estimator's attributes before a warm
        start: the target must then be encoded as in that fit.
        """
        raise NotImplementedError

    def _criterion(self, target_attributes):
        """The torch loss, a class or an instance, averaging over the rows."""
        raise NotImplementedError

    # -- the shared fit path -----------------------------------------------

    def _check_params(self):
        """Checks that ``_parameter_constraints`` cannot express."""
        if self.d_token % self.n_heads:
            raise ValueError(
                f"d_token={self.d_token} must be divisible by n_heads={self.n_heads}; "
                f"for example d_token={self.n_heads * max(1, round(self.d_token / self.n_heads))}."
            )
        if isinstance(self.optimizer, type) and not issubclass(self.optimizer, torch.optim.Optimizer):
            raise ValueError(
                f"optimizer={self.optimizer!r} is not a torch.optim.Optimizer subclass; "
                f"use one of {sorted(OPTIMIZERS)} or such a class."
            )
        _check_device(self.device)

    def _validate_X(self, X, y=None, *, reset):
        """``validate_data`` keeping mixed columns (object dtype) for the encoder."""
        options = dict(reset=reset, dtype=None, ensure_all_finite=False)
        if y is None:
            validated = validate_data(self, X, **options)
        else:
            validated, y = validate_data(self, X, y, **options)
        if validated.dtype.kind not in "biufO":
            validated = validated.astype(object)
        return validated, y

    def _fit(self, X, y):
        self._check_params()
        # What a warm start continues: the attributes of the previous fit.
        previous = dict(vars(self)) if self.warm_start and hasattr(self, "module_") else None
        if previous is not None:
            check_same_structure(previous["_structure"], self)
        X_original = X
        X, y = self._validate_X(X, y, reset=True)
        feature_names = getattr(self, "feature_names_in_", None)
        is_categorical = resolve_categorical_features(X_original, X.shape[1], self.categorical_features, feature_names)
        delta = self._resolve_delta(X.shape[0])
        batch_size = self._resolve_batch_size(X.shape[0])
        prior_history = []
        if previous is not None:
            check_same_columns(previous, X.shape[1], feature_names, is_categorical)
            delta = check_same_delta(self.delta, previous["delta_"])
            prior_history = previous["accountant_history_"]
            check_budget_left(prior_history, self.epsilon, delta, self.accountant)
        target, n_outputs, target_attributes = self._prepare_target(y, previous)
        if previous is None:
            encoder = TabularEncoder(
                is_categorical,
                bounds=self.bounds,
                categories=self.categories,
                feature_names=feature_names,
                numeric_encoding=self.numeric_encoding,
            )
            x_num, x_cat = encoder.fit_transform(X, X_original, type(self).__name__)
        else:
            encoder = previous["_encoder"]
            x_num, x_cat = encoder.transform(X)
        dataset = TensorBatchDataset(
            {"x_num": torch.from_numpy(x_num), "x_cat": torch.from_numpy(x_cat)}, target
        )
        call = 1 if previous is None else previous["history_"][-1]["call"] + 1
        # Fresh seeds for every call of a warm start: reusing the noise of an
        # earlier call would break the accountant's independence assumption.
        seeds = check_random_state(self.random_state).randint(np.iinfo(np.int32).max, size=(call, 2))
        module_seed, train_seed = seeds[-1]
        # Seed torch's global generator (weights, dropout) for this fit only.
        with torch.random.fork_rng(devices=None if self.device.startswith("cuda") else []):
            torch.manual_seed(int(module_seed))
            if previous is None:
                module = self._build_module(encoder, n_outputs)
            else:
                # A copy, so that a failed call leaves the fitted module as it was.
                module = copy.deepcopy(previous["module_"])
            result = train_module(
                module,
                dataset,
                criterion=self._criterion(target_attributes),
                epsilon=float(self.epsilon),
                delta=delta,
                max_grad_norm=self.max_grad_norm,
                accountant=self.accountant,
                max_epochs=self.max_epochs,
                batch_size=batch_size,
                lr=self.lr,
                optimizer=self.optimizer,
                weight_decay=self.weight_decay,
                device=self.device,
                seed=train_seed,
                verbose=self.verbose,
                lr_schedule=self.lr_schedule,
                prior_history=prior_history,
            )
        for name, value in target_attributes.items():
            setattr(self, name, value)
        self.is_categorical_ = is_categorical
        self.bounds_ = encoder.bounds_
        self.categories_ = encoder.categories_
        self._encoder = encoder
        self._structure = structure(self) if previous is None else previous["_structure"]
        self.module_ = result.module.eval()
        self.net_ = result.net
        self.delta_ = delta
        self.epsilon_ = result.epsilon
        self.noise_multiplier_ = result.noise_multiplier
        self.sample_rate_ = result.sample_rate
        self.n_steps_ = result.n_steps
        self.batch_size_ = batch_size
        # A non-private call is a mechanism with no noise: it makes ε inf.
        this_call = result.accountant_history or [(0.0, result.sample_rate, result.n_steps)]
        self.accountant_history_ = [*prior_history, *this_call]
        earlier_epochs = previous["history_"] if previous is not None else []
        self.history_ = earlier_epochs + [
            {"call": call, **{key: row[key] for key in ("epoch", "train_loss", "epsilon", "dur")}}
            for row in result.net.history
        ]
        return self

    def _resolve_delta(self, n_samples):
        """The δ of this fit, with the warnings that the privacy parameters call for."""
        if self.delta is not None and self.delta >= 1.0 / n_samples:
            warnings.warn(
                f"delta={self.delta} is not below 1/n_samples={1.0 / n_samples:.3g}. A mechanism "
                "that publishes one whole random row meets that δ, so the guarantee is weak. "
                "Use delta=None (the default, 1/(10·n_samples)) or a smaller value.",
                UserWarning,
                stacklevel=6,
            )
        if self.accountant == "gdp" and math.isfinite(self.epsilon):
            warnings.warn(GDP_WARNING, UserWarning, stacklevel=6)
        return self.delta if self.delta is not None else default_delta(n_samples)

    def _resolve_batch_size(self, n_samples):
        """``batch_size``, or for "auto" ``round(sqrt(32 * n))`` capped at 1024.

        On 32,000 rows "auto" gives the 1024 the defaults were tuned with
        (32 steps per epoch); on a few thousand rows it keeps enough steps
        for DP-SGD to learn instead of collapsing to the majority class.
        """
        if self.batch_size == "auto":
            return int(min(1024, max(1, round(math.sqrt(32 * n_samples)))))
        return self.batch_size

    def _build_module(self, encoder, n_outputs):
        """The torch module for inputs encoded by ``encoder``."""
        return FTTransformer(
            encoder.numeric_.size,
            [len(categories) for categories in encoder.categories_],
            n_outputs,
            d_token=self.d_token,
            n_heads=self.n_heads,
            n_layers=self.n_layers,
            dropout=self.dropout,
            n_views=NUMERIC_ENCODINGS[self.numeric_encoding],
        )

    def _fit_keeping_state(self, X, y):
        """Run ``_fit``; on any error leave a previous fit exactly as it was."""
        state = dict(self.__dict__)
        try:
            return self._fit(X, y)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(state)
            raise

    # -- the shared predict path -------------------------------------------

    def _encode(self, X):
        check_is_fitted(self)
        X, _ = self._validate_X(X, reset=False)
        x_num, x_cat = self._encoder.transform(X)
        return torch.from_numpy(x_num), torch.from_numpy(x_cat)

    def _forward(self, X, *, need_weights=False):
        """Run ``module_`` on ``X`` in eval mode, batched, without gradients."""
        x_num, x_cat = self._encode(X)
        device = next(self.module_.parameters()).device
        outputs, weights = [], []
        self.module_.eval()
        with torch.inference_mode():
            for start in range(0, len(x_num), _PREDICT_BATCH_SIZE):
                stop = start + _PREDICT_BATCH_SIZE
                result = self.module_(
                    x_num[start:stop].to(device), x_cat[start:stop].to(device), need_weights=need_weights
                )
                if need_weights:
                    result, attention = result
                    weights.append(attention.float().cpu())
                outputs.append(result.float().cpu())
        logits = torch.cat(outputs).numpy() if outputs else np.zeros((0, 0))
        if need_weights:
            return logits, torch.cat(weights).numpy()
        return logits

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
        tags.input_tags.allow_nan = False
        return tags
