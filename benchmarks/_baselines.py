"""Hand-written baselines for the Adult benchmark.

What a user could write without sk_privattn: a plain Opacus DP-SGD MLP on one-hot
features (:func:`fit_dp_mlp`), InterpretML's DP-EBM, the peer that practitioners pick for
private tables (:func:`fit_dp_ebm`), and two non-private scikit-learn pipelines
(:func:`non_private_baselines`). The benchmarks import them with the benchmarks folder
on ``sys.path``::

    from _baselines import fit_dp_ebm, fit_dp_mlp, non_private_baselines

The DP MLP's preprocessing uses only the public metadata of
:func:`sk_privattn.datasets.load_adult` (category lists from the schema, domain bounds),
so its ``epsilon_`` covers everything it learns from the training rows.
"""

import contextlib
import math
import time
import warnings

import numpy as np
import torch
from opacus import PrivacyEngine
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from sk_privattn.datasets import load_adult


def _clip_and_scale(X, *, low, high):
    """Clip each column to ``[low, high]`` and map that interval onto ``[0, 1]``."""
    X = np.clip(np.asarray(X, dtype=np.float64), low, high)
    return (X - low) / (high - low)


def _clip_and_log_scale(X, *, low, high):
    """Clip each column to ``[low, high]`` and map it onto ``[0, 1]`` on a log scale."""
    X = np.clip(np.asarray(X, dtype=np.float64), low, high)
    return np.log1p(X - low) / np.log1p(high - low)


def _bounds_scaler(func, bounds, columns):
    low = np.array([bounds[name][0] for name in columns])
    high = np.array([bounds[name][1] for name in columns])
    return FunctionTransformer(
        func, kw_args={"low": low, "high": high}, feature_names_out="one-to-one"
    )


def make_public_preprocessor(categories, bounds, *, log_scaled=()):
    """One-hot encode and scale the Adult features with public metadata only.

    Parameters
    ----------
    categories : dict of str to list of str
        Public category list of each categorical column (``load_adult().categories``).
        Missing values and values outside the lists encode as all zeros.

    bounds : dict of str to tuple of float
        Public ``(low, high)`` bounds of each numeric column (``load_adult().bounds``).
        Values are clipped to them, then scaled linearly to ``[0, 1]``.

    log_scaled : sequence of str, default=()
        Numeric columns that get a second, log-scaled copy,
        ``log1p(x - low) / log1p(high - low)``. The transform is fixed in advance, so
        it leaks nothing.

    Returns
    -------
    preprocessor : ColumnTransformer
        Unfitted. Fitting it reads only the column names of the data: every learned
        quantity is taken from ``categories`` and ``bounds``.
    """
    categorical, numeric, log_scaled = list(categories), list(bounds), list(log_scaled)
    unknown = sorted(set(log_scaled) - set(numeric))
    if unknown:
        raise ValueError(
            f"log_scaled names {unknown}, which are not numeric columns with bounds; "
            f"choose among {numeric}."
        )
    one_hot = OneHotEncoder(
        categories=[list(categories[name]) for name in categorical],
        handle_unknown="ignore",
        sparse_output=False,
        dtype=np.float32,
    )
    linear = _bounds_scaler(_clip_and_scale, bounds, numeric)
    log = _bounds_scaler(_clip_and_log_scale, bounds, log_scaled)
    return ColumnTransformer(
        [
            ("one_hot", one_hot, categorical),
            ("scale", linear, numeric),
            ("log_scale", log, log_scaled),
        ]
    )


class DPMLPBaseline:
    """A fitted hand-written MLP, as returned by :func:`fit_dp_mlp`.

    Attributes
    ----------
    preprocessor_ : ColumnTransformer
        The public-metadata preprocessing, fitted.
    module_ : torch.nn.Module
        The trained MLP (one logit per sample), unwrapped from Opacus.
    epsilon_ : float
        The privacy accountant's epsilon after training, at the requested delta;
        ``inf`` for non-private training.
    fit_seconds_ : float
        Wall-clock time of preprocessing and training.
    """

    def __init__(self, preprocessor, module, epsilon, fit_seconds):
        self.preprocessor_ = preprocessor
        self.module_ = module
        self.epsilon_ = epsilon
        self.fit_seconds_ = fit_seconds

    def predict_proba(self, X):
        """Return the probabilities of classes 0 and 1, shape (n_samples, 2)."""
        features = torch.as_tensor(self.preprocessor_.transform(X), dtype=torch.float32)
        self.module_.eval()
        with torch.no_grad():
            positive = torch.sigmoid(self.module_(features)).squeeze(1).numpy()
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X):
        """Return the predicted class, 0 or 1, of each sample."""
        return (self.predict_proba(X)[:, 1] > 0.5).astype(np.int64)


@contextlib.contextmanager
def _known_opacus_warnings_silenced():
    """Silence three Opacus warnings that say nothing about this baseline's results."""
    with warnings.catch_warnings():
        # secure_mode is off: fine for a benchmark, not for production.
        warnings.filterwarnings("ignore", message="Secure RNG turned off")
        # Raised by the RDP bound that the PRV accountant uses only to size its domain.
        warnings.filterwarnings("ignore", message="Optimal order is the")
        # Opacus's per-sample hooks fire on a first layer whose input needs no grad.
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        yield


def fit_dp_mlp(
    X_train,
    y_train,
    *,
    epsilon,
    delta,
    random_state,
    epochs=15,
    batch_size=1024,
    lr=0.01,
    max_grad_norm=1.0,
    hidden_size=64,
    log_scaled=("capital-gain", "capital-loss"),
    categories=None,
    bounds=None,
):
    """Train a two-layer MLP with Opacus DP-SGD on one-hot Adult features.

    The textbook recipe: public preprocessing (:func:`make_public_preprocessor`),
    ``Linear -> ReLU -> Linear``, binary cross-entropy, Poisson-sampled batches and
    ``PrivacyEngine.make_private_with_epsilon``, which picks the noise multiplier that
    reaches ``(epsilon, delta)`` after ``epochs`` epochs. The optimizer is Adam (the
    noise is added to the clipped gradients before Adam sees them).

    Parameters
    ----------
    X_train : DataFrame of shape (n_samples, n_features)
        Training features with the columns named in ``categories`` and ``bounds``.

    y_train : array-like of shape (n_samples,)
        Binary target, 0 or 1.

    epsilon : float
        Target epsilon, > 0. ``np.inf`` trains the same model without privacy (no
        clipping, no noise, shuffled batches of ``batch_size``).

    delta : float
        Target delta, in (0, 1); typically below ``1 / n_samples``.

    random_state : int
        Seed of the weight initialisation, the batch sampling and the noise.

    epochs : int, default=15
        Number of passes (in expectation, with Poisson sampling) over the data.

    batch_size : int, default=1024
        Expected batch size; the sampling rate is ``batch_size / n_samples``.

    lr : float, default=0.01
        Adam learning rate.

    max_grad_norm : float, default=1.0
        Per-sample gradient clipping norm of DP-SGD.

    hidden_size : int, default=64
        Width of the hidden layer.

    log_scaled : sequence of str, default=("capital-gain", "capital-loss")
        Numeric columns that get a second, log-scaled copy next to the linear one (see
        :func:`make_public_preprocessor`). Linear min-max scaling squeezes the
        capital amounts (bounded by the top-code 99,999) into a sliver of ``[0, 1]``
        that DP-SGD's noise drowns; the log-scaled copy lets the model use them. Pass
        ``()`` for plain min-max scaling only.

    categories, bounds : dict or None, default=None
        Public metadata for the preprocessing; None takes them from
        :func:`sk_privattn.datasets.load_adult`.

    Returns
    -------
    model : DPMLPBaseline
        The fitted model, with ``predict``, ``predict_proba``, ``epsilon_`` and
        ``fit_seconds_``.
    """
    if not epsilon > 0:
        raise ValueError(
            f"epsilon must be > 0 (np.inf for no privacy); got {epsilon!r}."
        )
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), e.g. 1e-5; got {delta!r}.")
    if categories is None or bounds is None:
        adult = load_adult()
        categories = adult.categories if categories is None else categories
        bounds = adult.bounds if bounds is None else bounds

    start = time.perf_counter()
    preprocessor = make_public_preprocessor(categories, bounds, log_scaled=log_scaled)
    features = torch.as_tensor(preprocessor.fit_transform(X_train), dtype=torch.float32)
    target = torch.tensor(np.asarray(y_train, dtype=np.float32)).unsqueeze(1)

    generator = torch.Generator().manual_seed(random_state)
    with torch.random.fork_rng():
        torch.manual_seed(random_state)
        module = nn.Sequential(
            nn.Linear(features.shape[1], hidden_size),
            nn.ReLU(),
            nn.Linear(hidden_size, 1),
        )
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    criterion = nn.BCEWithLogitsLoss()
    loader = DataLoader(
        TensorDataset(features, target),
        batch_size=batch_size,
        shuffle=True,
        generator=generator,
    )
    privacy_engine = None
    with _known_opacus_warnings_silenced():
        if not math.isinf(epsilon):
            privacy_engine = PrivacyEngine()
            module, optimizer, loader = privacy_engine.make_private_with_epsilon(
                module=module,
                optimizer=optimizer,
                data_loader=loader,
                target_epsilon=epsilon,
                target_delta=delta,
                epochs=epochs,
                max_grad_norm=max_grad_norm,
                noise_generator=generator,
            )
        module.train()
        for _ in range(epochs):
            for batch_features, batch_target in loader:
                optimizer.zero_grad()
                loss = criterion(module(batch_features), batch_target)
                loss.backward()
                optimizer.step()
        if privacy_engine is None:
            spent = math.inf
        else:
            spent = privacy_engine.get_epsilon(delta)
            module = module._module
    fit_seconds = time.perf_counter() - start
    return DPMLPBaseline(preprocessor, module, spent, fit_seconds)


def _dp_ebm_inputs(X, *, bounds, categories):
    """DP-EBM's private binning takes no missing value: a missing category becomes the
    public category "missing", a missing number the lower end of its public bounds (without
    public bounds, 0: DP-EBM's default reads the rest of the bounds from the rows anyway)."""
    X = X.copy()
    for name in X.columns:
        if name in categories:
            X[name] = X[name].astype(object).where(X[name].notna(), "missing")
        elif bounds is None:
            X[name] = X[name].fillna(0.0)
        elif name in bounds:
            X[name] = X[name].fillna(bounds[name][0])
    return X


def fit_dp_ebm(X, y, *, epsilon, delta, bounds, categories, random_state):
    """InterpretML's ``DPExplainableBoostingClassifier`` with public metadata only.

    Parameters
    ----------
    X : DataFrame
        Numeric columns named in ``bounds``, categorical ones in ``categories``; missing
        values allowed (see the returned pipeline).
    y : array-like of shape (n_samples,)
    epsilon, delta : float
    bounds : dict of str to (float, float) or None
        Public bounds of the numeric columns (DP-EBM's ``privacy_bounds``); ``None`` is
        DP-EBM's default, which reads each column's minimum and maximum from the training rows
        (and warns "Possible privacy violation").
    categories : dict of str to list of str
        Public category lists, given as the categorical columns' ``feature_types``, so
        that DP-EBM reads no category from the rows.
    random_state : int

    Returns
    -------
    model : Pipeline
        Fitted: a stateless step that fills missing values with public values (a missing
        category becomes "missing", a missing number the lower end of its bounds), then
        the DP-EBM. ``fit_seconds_`` holds the wall-clock time of the fit.
    """
    from interpret.privacy import DPExplainableBoostingClassifier

    feature_types = [
        [*categories[name], "missing"] if name in categories else "continuous" for name in X.columns
    ]
    model = make_pipeline(
        FunctionTransformer(_dp_ebm_inputs, kw_args={"bounds": bounds, "categories": categories}),
        DPExplainableBoostingClassifier(
            feature_types=feature_types,
            epsilon=epsilon,
            delta=delta,
            privacy_bounds=None if bounds is None else {name: tuple(bounds[name]) for name in X.columns
                                                        if name in bounds},
            random_state=random_state,
        ),
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, np.asarray(y))
    model.fit_seconds_ = time.perf_counter() - start
    return model


def non_private_baselines():
    """Non-private scikit-learn pipelines for the Adult DataFrame.

    Both take the ``as_frame=True`` output of :func:`sk_privattn.datasets.load_adult`
    (category-dtype categorical columns, float numeric columns, NaN for missing) and
    learn their preprocessing from the data, as a non-private user would.

    Returns
    -------
    baselines : dict of str to Pipeline
        ``"LogisticRegression"``: one-hot encoding of the categorical columns (missing
        values as their own category) and standard scaling of the numeric ones, then
        ``LogisticRegression(max_iter=2000)``. ``"HistGradientBoosting"``:
        ``HistGradientBoostingClassifier(categorical_features="from_dtype")`` with its
        defaults otherwise.
    """
    categorical = make_column_selector(dtype_include="category")
    numeric = make_column_selector(dtype_include="number")
    logistic = make_pipeline(
        ColumnTransformer(
            [
                ("one_hot", OneHotEncoder(handle_unknown="ignore"), categorical),
                ("scale", StandardScaler(), numeric),
            ]
        ),
        LogisticRegression(max_iter=2000),
    )
    boosting = make_pipeline(
        HistGradientBoostingClassifier(
            categorical_features="from_dtype", random_state=0
        )
    )
    return {"LogisticRegression": logistic, "HistGradientBoosting": boosting}


def _fill_public(X, *, bounds, categories):
    """Missing values filled with public values: a number the lower end of its bounds, a
    category an unknown value (all zeros in the one-hot design)."""
    X = X.copy()
    for name in X.columns:
        if name in categories:
            X[name] = X[name].astype(object).where(X[name].notna(), "__missing__")
        elif name in bounds:
            X[name] = X[name].astype(float).fillna(bounds[name][0])
    return X


class DPLogisticBaseline:
    """A fitted DP logistic regression, as returned by :func:`fit_dp_logistic`."""

    def __init__(self, preprocessor, linear, classes, epsilon, fit_seconds):
        self.preprocessor_, self.linear_, self.classes_ = preprocessor, linear, np.asarray(classes)
        self.epsilon_, self.fit_seconds_ = epsilon, fit_seconds

    def predict_proba(self, X):
        features = torch.as_tensor(self.preprocessor_.transform(X), dtype=torch.float32)
        with torch.inference_mode():
            return torch.softmax(self.linear_(x=features), dim=1).numpy().astype(np.float64)

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def fit_dp_logistic(X, y, *, epsilon, delta, bounds, categories, classes, random_state, lr=0.05):
    """A multinomial logistic regression trained by the package's own DP-SGD routine.

    The design is the public one-hot / bounds-scaled one of :func:`make_public_preprocessor`
    (missing numbers at the lower bound, missing categories all zeros), so the
    preprocessing reads nothing from the rows. The plan is the package's: under
    add-or-remove a DP count of the rows (2 % of ε, as the estimators do), δ as given, the
    "auto" batch and epochs, the default accountant (PLD), Adam at ``lr`` with a cosine
    schedule, clipping at 1. ``epsilon=inf`` trains it without clipping or noise.
    """
    from _private_rocket import _Linear

    from sk_privattn.privacy import plan_training
    from sk_privattn.privacy import Neighbouring, resolve_count
    from sk_privattn.dpsgd import TensorBatchDataset, train_module

    start = time.perf_counter()
    classes = list(classes)
    preprocessor = make_pipeline(
        FunctionTransformer(_fill_public, kw_args={"bounds": bounds, "categories": categories}),
        make_public_preprocessor(categories, bounds),
    )
    features = torch.as_tensor(preprocessor.fit_transform(X), dtype=torch.float32)
    code = {label: index for index, label in enumerate(classes)}
    target = torch.as_tensor([code[label] for label in np.asarray(y).tolist()], dtype=torch.long)
    neighbouring = Neighbouring("add_or_remove")
    count = resolve_count(len(target), neighbouring=neighbouring, public_count=None, epsilon=float(epsilon),
                          seed=random_state)
    plan = plan_training(count, epsilon=float(epsilon), delta=delta, batch_size="auto", epochs="auto",
                         accountant="auto", neighbouring=neighbouring)
    torch.manual_seed(random_state)
    linear = nn.Linear(features.shape[1], len(classes))
    nn.init.zeros_(linear.weight)
    nn.init.zeros_(linear.bias)
    result = train_module(
        _Linear(linear), TensorBatchDataset({"x": features}, target), plan,
        criterion=nn.CrossEntropyLoss(reduction="none"), max_grad_norm=1.0, lr=lr, optimizer="adam",
        weight_decay=0.0, device="cpu", seed=random_state, verbose=0, lr_schedule="cosine",
    )
    return DPLogisticBaseline(preprocessor, result.module.eval(), classes, result.epsilon,
                              time.perf_counter() - start)


def table_baselines():
    """Non-private pipelines for any table of category and float columns (NaN allowed):
    ``"LogisticRegression"`` (one-hot with missing as a category; median imputation with a
    missing indicator and standard scaling of the numbers) and ``"HistGradientBoosting"``."""
    from sklearn.impute import SimpleImputer

    categorical = make_column_selector(dtype_include="category")
    numeric = make_column_selector(dtype_include="number")
    logistic = make_pipeline(
        ColumnTransformer([
            ("one_hot", make_pipeline(FunctionTransformer(lambda X: X.astype(object).where(X.notna(), "missing")),
                                      OneHotEncoder(handle_unknown="ignore")), categorical),
            ("scale", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()), numeric),
        ]),
        LogisticRegression(max_iter=2000),
    )
    boosting = make_pipeline(HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0))
    return {"LogisticRegression": logistic, "HistGradientBoosting": boosting}
