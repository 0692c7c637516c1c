"""The parameters and fitted attributes that every estimator shares, documented once.

A public estimator's docstring holds marker lines (``{shared parameters}``
and ``{shared attributes}`` for the tabular estimators; ``{privacy
parameters}``, ``{run parameters}`` and ``{privacy attributes}`` for the
others) where these entries belong, and the class is decorated with
:func:`shared_docstring`. The defaults written here are checked
against the signatures by ``tests/test_docs.py``.
"""

import inspect

__all__ = ["shared_docstring"]

PRIVACY_PARAMETERS = """\
    epsilon : float, default=1.0
        Privacy budget ε, > 0: the accountant's ε of the fitted model is at
        most this. ``np.inf`` trains the same model without clipping or noise
        (not private), to compare in one grid search. With ``warm_start``, it
        is the budget over all calls to ``fit``, not per call.
    delta : float, default=None
        Privacy parameter δ in (0, 1). ``None`` uses ``1 / (10 * n_samples)``;
        the value used is stored in ``delta_``. A value ≥ ``1 / n_samples``
        warns, since it permits publishing a whole row.
    max_grad_norm : float, default=1.0
        Bound on each row's gradient norm (per-sample clipping).
    accountant : {"prv", "rdp", "gdp"}, default="prv"
        Opacus accountant that calibrates the noise and reports ``epsilon_``.
        "prv" is the tightest; "rdp" the classic, slightly looser bound; "gdp"
        a central-limit approximation that Opacus marks experimental, that
        can underestimate ε, and that cannot compose warm starts.
    max_epochs : int, default={default:max_epochs}
        Passes over the data. Each epoch is ``ceil(n / batch_size)`` steps.
    batch_size : int or "auto", default="auto"
        Expected batch size under Poisson sampling: each row joins each
        step's batch with probability ``1 / ceil(n / batch_size)``
        (``sample_rate_``). DP-SGD prefers large batches, but small data
        need enough steps: "auto" uses ``round(sqrt(32 * n))``, capped at
        1024 (1024 on 32,000 rows, 400 on 5,000), stored in ``batch_size_``.
        Only the number of rows, treated as public, enters it.
    lr : float, default={default:lr}
        Learning rate (peak learning rate under the cosine schedule).
    lr_schedule : {"cosine", "constant"}, default="cosine"
        "cosine" anneals the learning rate to zero over the ``n_steps_``
        steps of each call to ``fit``; "constant" keeps it fixed.
    optimizer : {"adamw", "adam", "sgd"} or torch optimizer class, default="adamw"
    weight_decay : float, default=0.0
"""

TABULAR_PARAMETERS = """\
    d_token : int, default=32
        Token size.
    n_heads : int, default=4
        Attention heads; must divide ``d_token``.
    n_layers : int, default=2
        Transformer blocks.
    dropout : float, default=0.0
        Dropout in the blocks (DP noise already regularises).
    categorical_features : None, "from_dtype", or array-like, default="from_dtype"
        Which features are categorical, as in
        :class:`~sklearn.ensemble.HistGradientBoostingClassifier`: ``None``,
        a boolean mask, integer indices, or feature names. ``"from_dtype"``
        takes the DataFrame columns of dtype category, object or string.
    categories : None, "from_dtype", list, or dict, default=None
        Public category lists: one array-like per categorical feature, in
        column order, or a dict ``{feature: categories}``. ``"from_dtype"``
        takes the categories of each pandas categorical dtype, which you
        assert are public. ``None`` reads them from the training data and
        raises a :class:`~sk_privattn.exceptions.PrivacyLeakWarning`. Values
        outside the lists, and missing values, map to an "unknown" embedding.
    bounds : None, tuple, or dict, default=None
        Public ``(lower, upper)`` bounds of the numeric features: scalars, or
        sequences with one entry per numeric feature, or a dict
        ``{feature: (lower, upper)}``. Values are clipped to them and scaled
        to [-1, 1]. ``None`` reads the minimum and maximum from the training
        data and raises a :class:`~sk_privattn.exceptions.PrivacyLeakWarning`.
    numeric_encoding : {"linear+log", "linear", "piecewise"}, default="linear+log"
        How a numeric value reaches its token. "linear" scales it to [-1, 1]
        with the bounds. "linear+log" adds a second, logarithmic view,
        ``log1p(x - lower)`` scaled to [-1, 1] by the same bounds, so that
        heavy right tails (incomes, counts) are not squashed against the lower
        bound. "piecewise" adds to these a piecewise-linear (thermometer)
        encoding on 8 equal bins of each scale, so each token is a learned
        piecewise-linear function of the value. All are fixed transforms of
        the public bounds: none reads the data.
"""

RUN_PARAMETERS = """\
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the Poisson sampler and the noise. ``None`` draws
        the seeds from the operating system's secret entropy (``secrets``),
        so that nobody can regenerate the noise. A fixed seed makes fits
        reproducible, but it is kept in the estimator and its pickle, and
        whoever knows it can regenerate the noise and remove it: use one for
        experiments, ``None`` for a model you release. Each call of a warm
        start draws fresh seeds.
    device : str, default="cpu"
        Torch device, e.g. ``"cuda"`` when one is available.
    verbose : int, default=0
        0 is silent; 1 shows a progress bar per epoch and logs the ε spent
        after each epoch. It never shows a loss, which would be an un-noised
        statistic of the training rows.
    warm_start : bool, default=False
        False: every call to ``fit`` trains a new model. True: a call to
        ``fit`` on a fitted estimator continues training ``module_`` for
        ``max_epochs`` more epochs, and spends only what the earlier calls
        left of ``epsilon``; raise ``epsilon`` before the call to give it
        more. A call with less than 5 % of ``epsilon`` left raises
        :class:`~sk_privattn.exceptions.BudgetExceededError`. The data must
        have the same columns (or channels) as in the first fit; the
        architecture, the input encoding and ``delta_`` stay those of the
        first fit, and changing a parameter that sets them raises. The optimizer state and learning-rate schedule start afresh
        in each call. See docs/privacy.md, "Warm starts".
"""

FEATURE_ATTRIBUTES = """\
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Only when ``X`` has string column names.
"""

PRIVACY_ATTRIBUTES = """\
    epsilon_ : float
        ε spent, as the accountant reports it, over every call to ``fit``
        since the model was built (one call unless ``warm_start``); always
        ≤ ``epsilon``.
    delta_ : float
        δ used.
    noise_multiplier_ : float
        Noise standard deviation over ``max_grad_norm`` in the last call to
        ``fit``; 0.0 when ε is inf.
    batch_size_ : int
        Expected batch size used by the last call (``batch_size``, or its
        "auto" value).
    sample_rate_ : float
        Poisson sampling probability of each row per step, in the last call.
    n_steps_ : int
        Optimizer steps taken by the last call.
    accountant_history_ : list of (noise_multiplier, sample_rate, steps)
        One entry per call to ``fit`` since the model was built (noise
        multiplier 0.0 for a call with ε = inf). ``epsilon_`` is
        ``compute_epsilon(accountant_history_, delta_, accountant)``.
"""

TABULAR_ATTRIBUTES = """\
    is_categorical_ : ndarray of bool, shape (`n_features_in_`,)
    bounds_ : ndarray of shape (n_numeric_features, 2)
        Bounds used for the numeric features, in column order.
    categories_ : list of ndarray
        Categories used for each categorical feature, in column order.
"""

TRAINING_ATTRIBUTES = """\
    history_ : list of dict
        Per epoch: ``call`` (1 for the fit that built the model, 2 for the
        first warm start, ...), ``epoch`` (counted within its call) and
        ``epsilon`` (spent so far, over all calls). No training loss: it is
        an un-noised statistic of the training rows (docs/privacy.md).
    module_ : torch.nn.Module
        The trained network (a module of :mod:`sk_privattn.nn`), with no
        Opacus hooks or wrappers.
    net_ : skorch.NeuralNet
        The skorch net of the last call to ``fit``. Its history holds, per
        epoch, the steps taken and the ε spent, not the loss or the size of
        any batch.
"""

_MARKERS = {
    # The tabular estimators.
    "    {shared parameters}\n": PRIVACY_PARAMETERS + TABULAR_PARAMETERS + RUN_PARAMETERS,
    "    {shared attributes}\n": FEATURE_ATTRIBUTES + PRIVACY_ATTRIBUTES + TABULAR_ATTRIBUTES + TRAINING_ATTRIBUTES,
    # Any estimator: the privacy and training parameters, the run parameters.
    "    {privacy parameters}\n": PRIVACY_PARAMETERS,
    "    {run parameters}\n": RUN_PARAMETERS,
    "    {privacy attributes}\n": PRIVACY_ATTRIBUTES + TRAINING_ATTRIBUTES,
}


def shared_docstring(cls):
    """Class decorator: put the shared entries in place of their marker lines."""
    doc = cls.__doc__
    found = [marker for marker in _MARKERS if marker in doc]
    if not found:
        raise ValueError(f"the docstring of {cls.__name__} has none of the lines {[m.strip() for m in _MARKERS]}.")
    for marker in found:
        doc = doc.replace(marker, _MARKERS[marker])
    # Defaults that differ between estimators are read from the signature.
    for name, parameter in inspect.signature(cls).parameters.items():
        doc = doc.replace("{default:%s}" % name, repr(parameter.default))
    cls.__doc__ = doc
    return cls
