"""The parameters and fitted attributes that several estimators share: their defaults and
their documentation, each written once.

``DEFAULTS`` holds the default of every shared parameter; each public
estimator's signature takes it from there (``epsilon=DEFAULTS["epsilon"]``),
or states, beside a literal, why it differs.

A public estimator's docstring has one placeholder line per shared
parameter, in the order of its signature (``{epsilon}``, ``{delta}``, ...),
as imbalanced-learn's ``Substitution`` does, and marker lines for groups of
fitted attributes (``{privacy attributes}``, ...); its ``fit`` docstring
may hold placeholders of shared ``fit`` parameters (``{sample_weight}``). The class is decorated
with :func:`shared_docstring`, which puts the entries in place and writes
each parameter's default as the signature has it: the signature is the one
source of a default.
"""

import inspect
import re
import textwrap

from ..privacy.accountants import AUTO, accountant_names, get_accountant

__all__ = ["DEFAULTS", "shared_docstring"]

#: The default of each shared parameter, read by the estimators' signatures.
DEFAULTS = {
    "epsilon": 1.0,
    "delta": None,
    "neighbouring": "add_or_remove",
    "public_count": None,
    "max_grad_norm": 1.0,
    "accountant": "auto",
    "max_epochs": "auto",
    "batch_size": "auto",
    "lr": 0.02,
    "lr_schedule": "cosine",
    "optimizer": "adamw",
    "weight_decay": 0.0,
    "architecture": "ft_transformer",
    "d_token": 16,
    "n_heads": 4,
    "n_layers": 1,
    "dropout": 0.0,
    "additive_terms": True,
    "categorical_features": "from_dtype",
    "categories": None,
    "bounds": None,
    "numeric_encoding": "linear+log",
    "classes": None,
    "class_weight": None,
    "max_sample_weight": None,
    "max_rows_per_person": 8,
    "random_state": None,
    "device": "cpu",
    "verbose": 0,
    "warm_start": False,
    "metadata_noise_multiplier": 10.0,
}

def _accountant_entry(what, **filters):
    """The entry of an ``accountant`` parameter, from the registry of accountants (``filters`` as
    :func:`~sk_privattn.privacy.accountant_names` takes them): no list of names to drift."""
    names = accountant_names(**filters)
    choices = ", ".join(f'"{name}"' for name in ("auto", *names))
    text = f'{what} "auto" is "{AUTO}", {get_accountant(AUTO).summary}.'
    for name in names:
        if name != AUTO:
            accountant = get_accountant(name)
            relations = " and ".join(sorted(str(relation).replace("_", "-") for relation in accountant.relations))
            text += f' "{name}" (under {relations} only): {accountant.summary}.'
    body = textwrap.fill(text, width=76, initial_indent="    ", subsequent_indent="    ", break_on_hyphens=False)
    return f"accountant : {{{{{choices}}}}}, default={{default}}\n" + body.replace("{", "{{").replace("}", "}}")


#: One entry per shared parameter; ``{default}`` becomes the default of the
#: decorated estimator's signature.
PARAMETERS = {
    "epsilon": """\
epsilon : float, default={default}
    Privacy budget ε, > 0: the accountant's ε of the fitted model is at
    most this. ``np.inf`` trains the same model without clipping or noise
    (not private), to compare in one grid search. With ``warm_start``, it
    is the budget over all calls to ``fit``, not per call.""",
    "delta": """\
delta : float, default={default}
    Privacy parameter δ in (0, 1). ``None`` uses a δ of public inputs
    only: ``1 / (10 n)`` when the count ``n`` of rows that the plan reads
    is public (``public_count``, or the exact count under replace-one), and
    ``DEFAULT_DELTA`` (1e-5) when it is a DP count (a δ computed from the
    DP count would not hold as reported: docs/privacy.md, "The number of
    rows"). The value used is stored in ``delta_``. A value ≥ ``1 / n``
    warns, since it permits publishing a whole row.""",
    "neighbouring": """\
neighbouring : {{"add_or_remove", "replace_one"}}, default={default}
    The pair of data sets that ε compares. "add_or_remove": the data with
    one row more or less, so that the number of rows is protected too
    (nothing released is a fixed function of it); the plan reads
    ``public_count``, or else a count of the rows released with pure DP at
    2 % of ``epsilon`` (``count_``). "replace_one": the data with one row
    replaced by another; the number of rows is public by this relation
    (choose it when it is published anyway, as a census total is), and ε
    is the replace-one ε, computed by Google's dp_accounting, about twice
    the add-or-remove ε of the same noise. See docs/privacy.md, "Which
    neighbouring relation".""",
    "public_count": """\
public_count : int or None, default={default}
    A public number of training rows (from a published total, say) that
    the plan reads instead of the exact count: the batch size, the steps,
    the sample rate, the divisor of the noisy gradient sum and the default
    δ are then the same for any data of any size, and no ε is spent on a
    count. It need not equal the exact count: a wrong value costs accuracy,
    not privacy. ``None``: under add-or-remove, a DP count of the rows;
    under replace-one, the exact count, public by the relation.""",
    "max_grad_norm": """\
max_grad_norm : float, default={default}
    Bound on each row's gradient norm (per-sample clipping).""",
    "accountant": _accountant_entry("Accountant that calibrates the noise and reports ``epsilon_`` (resolved in ``accountant_``)."),
    "max_epochs": """\
max_epochs : int or "auto", default={default}
    Passes over the data. Each epoch is ``ceil(n / batch_size)`` steps.
    "auto" takes as many epochs as give about 800 steps, at least 1 and
    at most 50 (25 epochs on 1,000 rows and on 32,561, 4 on 200,000, 1
    from about 550,000 to 2,000,000; stored in ``max_epochs_``): small data
    get enough steps to learn, large data few passes. Above 2,000,000 rows
    (``AUTO_MAX_ROWS``) "auto" processes 2,000,000 rows whatever n: one
    epoch of ``2,000,000 / batch_size`` steps (1,953 at batches of 1,024),
    which sees a share ``2,000,000 / n`` of the rows in expectation, so
    that the fit's cost stops growing with n (see docs/privacy.md,
    "Choosing max_grad_norm, batch_size and max_epochs"). Only the count of
    rows that the plan reads (public or DP, ``count_``) enters it.""",
    "batch_size": """\
batch_size : int or "auto", default={default}
    Expected batch size under Poisson sampling: each row joins each
    step's batch with probability ``1 / ceil(n / batch_size)``
    (``sample_rate_``). "auto" uses ``n / 32`` (32 steps an epoch), at
    least ``sqrt(n)`` and at most 1024 (32 on 1,000 rows, 1,018 on
    32,561), stored in ``batch_size_``; it does not grow further with n,
    since above a million rows the noise per row is already small and a
    fixed budget of rows goes further in more steps. Only the count of rows
    that the plan reads (public or DP, ``count_``) enters it, and the
    divisor of the noisy gradient sum is the expected batch size of that
    count.""",
    "lr": """\
lr : float, default={default}
    Learning rate (peak learning rate under the cosine schedule).""",
    "lr_schedule": """\
lr_schedule : {{"cosine", "constant"}}, default={default}
    "cosine" anneals the learning rate to zero over the ``n_steps_``
    steps of each call to ``fit``; "constant" keeps it fixed.""",
    "optimizer": """\
optimizer : {{"adamw", "adam", "sgd"}} or torch optimizer class, default={default}""",
    "weight_decay": """\
weight_decay : float, default={default}""",
    "architecture": """\
architecture : {{"ft_transformer", "polynomial"}}, default={default}
    The network. "ft_transformer": the FT-Transformer (pre-norm blocks with
    softmax attention, LayerNorm and GELU). "polynomial": one block that
    homomorphic encryption can evaluate, so that a client can have rows
    scored without showing them (:mod:`sk_privattn.encrypted`,
    docs/private_inference.md): attention from ``[CLS]`` whose weights are
    ``(1 + s / 2) ** 2 / n_tokens`` for the score ``s``, a feed-forward
    layer with activation ``x ** 2``, a linear head, and no LayerNorm
    (:class:`~sk_privattn.nn.PolynomialAttention`). It takes
    ``n_layers=1`` and ``numeric_encoding`` "linear" or "linear+log". Both
    train by the same DP-SGD with the same guarantee.""",
    "d_token": """\
d_token : int, default={default}
    Token size.""",
    "n_heads": """\
n_heads : int, default={default}
    Attention heads; must divide ``d_token``.""",
    "n_layers": """\
n_layers : int, default={default}
    Transformer blocks.""",
    "dropout": """\
dropout : float, default={default}
    Dropout in the blocks (DP noise already regularises).""",
    "additive_terms": """\
additive_terms : bool, default={default}
    Add one learned term per feature to the logits, beside the attention
    (:class:`~sk_privattn.nn.AdditiveTerms`): a weight on each view of a
    numeric feature (linear and logarithmic for "linear+log"), or its own
    "missing" value, and a category's own value. The network then contains a generalized
    additive model, which it starts as (at zero, the attention head at zero
    too); the attention learns what the features add in interaction. On
    small tables, where DP noise leaves the attention little to learn, this
    is what carries the model (docs/benchmarks.md, "suite"). ``False`` gives
    the plain FT-Transformer. Encrypted inference evaluates both.""",
    "categorical_features": """\
categorical_features : None, "from_dtype", or array-like, default={default}
    Which features are categorical, as in
    :class:`~sklearn.ensemble.HistGradientBoostingClassifier`: ``None``,
    a boolean mask, integer indices, or feature names. ``"from_dtype"``
    takes the DataFrame columns of dtype category, object or string.""",
    "categories": """\
categories : None, "from_dtype", "data", list, or dict, default={default}
    Public category lists: one array-like per categorical feature, in
    column order, or a dict ``{{feature: categories}}``; they cost no ε.
    ``"from_dtype"`` takes the categories of each pandas categorical
    dtype, which you assert are public. ``None`` releases them with DP, in
    the metadata release (``metadata_noise_multiplier``): a category is
    kept when its rows, plus Gaussian noise, reach a threshold set by δ,
    so a category that few rows hold becomes "unknown" (docs/privacy.md,
    "Metadata"). ``"data"`` reads them from the training data and raises a
    :class:`~sk_privattn.exceptions.PrivacyLeakWarning`. Values outside the
    lists, and missing values, map to an "unknown" embedding.""",
    "bounds": """\
bounds : None, "data", tuple, or dict, default={default}
    Public ``(lower, upper)`` bounds of the numeric features: scalars, or
    sequences with one entry per numeric feature, or a dict
    ``{{feature: (lower, upper)}}``; they cost no ε. Values are clipped to
    them and scaled to [-1, 1]. ``None`` releases a robust range of each
    numeric feature (about its 1 % and 99 % quantiles) with DP, in the
    metadata release (``metadata_noise_multiplier``); a feature whose
    release finds no range is encoded by a data-free signed logarithm
    (``bounds_`` is NaN for it). ``"data"`` reads the minimum and maximum
    from the training data and raises a
    :class:`~sk_privattn.exceptions.PrivacyLeakWarning`.""",
    "numeric_encoding": """\
numeric_encoding : {{"linear+log", "linear", "piecewise"}}, default={default}
    How a numeric value reaches its token. "linear" scales it to [-1, 1]
    with the bounds. "linear+log" adds a second, logarithmic view,
    ``log1p(x - lower)`` scaled to [-1, 1] by the same bounds, so that
    heavy right tails (incomes, counts) are not squashed against the lower
    bound. "piecewise" adds to these a piecewise-linear (thermometer)
    encoding on 8 equal bins of each scale, so each token is a learned
    piecewise-linear function of the value. All are fixed transforms of
    the public bounds: none reads the data.""",
    "classes": """\
classes : array-like, "data" or None, default={default}
    The public list of the task's labels (e.g. ``[0, 1]``), which sets
    ``classes_``; labels absent from ``y`` are allowed; it costs no ε. A
    row whose label is outside the list, or missing (NaN, None), stays in
    the Poisson sampling with weight 0, silently: an error or a warning
    would say whether one row holds such a label (docs/privacy.md, "Rows
    that the public metadata does not allow"). Labels of another type than
    the list's (text against numbers) raise. ``None`` takes
    ``[False, True]`` for a boolean ``y``, and otherwise releases the
    labels with DP, in the metadata release
    (``metadata_noise_multiplier``): a label is kept when its rows, plus
    Gaussian noise, reach a threshold set by δ, and the rows of a label
    that is not kept weigh 0 as well. A rare class (a few percent of a few
    thousand rows) may not be kept: pass the classes then. ``"data"``
    reads the labels present in ``y`` and raises a
    :class:`~sk_privattn.exceptions.PrivacyLeakWarning`: which labels occur
    is a statistic of the rows, and a label that one row holds reveals it.""",
    "metadata_noise_multiplier": """\
metadata_noise_multiplier : float, default={default}
    The noise of the DP metadata release: what the fit releases of
    ``bounds``, ``categories`` and ``classes`` (and a regressor's
    ``target_bounds``) that were left ``None``. Every histogram of the
    release gets Gaussian noise of standard deviation
    ``metadata_noise_multiplier * sqrt(H)`` rows, for its ``H`` histograms,
    and the whole release is one Gaussian mechanism of this noise
    multiplier, composed with DP-SGD in the fit's accountant: it is part of
    ``epsilon_``, and the noise of DP-SGD is calibrated for what it leaves.
    Larger values cost DP-SGD less (at ε = 1: about +7 % noise at 10, +5 %
    at 12) and release coarser metadata. Unused when every piece of
    metadata is public, or without privacy (ε = inf, when what is not
    given is read from the data). See docs/privacy.md, "Metadata".""",
    "class_weight": """\
class_weight : None, dict, or "balanced", default={default}
    Weight of each class. ``None`` weighs every class 1. A dict
    ``{{class: weight}}`` is public (classes it leaves out weigh 1).
    ``"balanced"`` weighs class ``c`` by
    ``n_samples / (n_classes * count(c))``, as in scikit-learn: the class
    counts are read from the training data, outside the accounted ε, and
    a :class:`~sk_privattn.exceptions.PrivacyLeakWarning` says so; pass a
    dict of public weights (e.g. from published class frequencies) to
    prevent it. Under DP-SGD a row's weight, over the largest class weight,
    multiplies its *clipped* gradient, so it acts on every row, the clipped
    ones included, and no row contributes more than ``max_grad_norm``: the
    guarantee is unchanged. Without privacy it weighs the row's loss.""",
    "max_sample_weight": """\
max_sample_weight : float, default={default}
    Public upper bound on ``sample_weight`` (e.g. the largest weight your
    survey design allows). DP-SGD multiplies each row's clipped gradient
    by its weight over this bound (and by its class weight, over the
    largest), so that no row contributes more than ``max_grad_norm``.
    ``None`` uses the largest weight passed to ``fit``, read from the data
    with a :class:`~sk_privattn.exceptions.PrivacyLeakWarning`. Unused
    without ``sample_weight``.""",
    "max_rows_per_person": """\
max_rows_per_person : int, default={default}
    With ``fit(..., person_id=...)``: a public bound on the rows that one
    person contributes to one step. A sampled person with more rows brings
    this many, drawn afresh at every step; their contribution is the mean of
    those rows' gradients, clipped as a whole. It bounds a step's memory and
    time, not the privacy (a person's contribution is clipped whatever it
    holds). Unused without ``person_id``.""",
    "random_state": """\
random_state : int, RandomState instance or None, default={default}
    Seeds the weights, the Poisson sampler and the noise. ``None`` draws
    the seeds from the operating system's secret entropy (``secrets``),
    so that nobody can regenerate the noise. A fixed seed makes fits
    reproducible, but it is kept in the estimator and its pickle, and
    whoever knows it can regenerate the noise and remove it: use one for
    experiments, ``None`` for a model you release. Each call of a warm
    start draws fresh seeds.""",
    "device": """\
device : str, default={default}
    Torch device, e.g. ``"cuda"`` when one is available.""",
    "verbose": """\
verbose : int, default={default}
    0 is silent; 1 shows a progress bar per epoch and logs the ε spent
    after each epoch. It never shows a loss, which would be an un-noised
    statistic of the training rows.""",
    "warm_start": """\
warm_start : bool, default={default}
    False: every call to ``fit`` trains a new model. True: a call to
    ``fit`` on a fitted estimator continues training ``module_`` for
    ``max_epochs`` more epochs, and spends only what the earlier calls
    left of ``epsilon``; raise ``epsilon`` before the call to give it
    more. A call with less than 5 % of ``epsilon`` left raises
    :class:`~sk_privattn.exceptions.BudgetExceededError`. The data must
    have the same columns (or channels) as in the first fit; the
    architecture, the input encoding and ``delta_`` stay those of the
    first fit, and changing a parameter that sets them raises. The
    optimizer state and learning-rate schedule start afresh in each call.
    See docs/privacy.md, "Warm starts".""",
}

#: Entries of a shared parameter that some classes and functions document otherwise: the
#: placeholder's name, and the parameter it documents with its text.
VARIANTS = {
    "composing accountant": ("accountant", _accountant_entry(
        "The accountant that composes the fits; only those whose ε is a bound and that compose different "
        "mechanisms.", bounds=True, composing=True)),
}

#: Parameters of ``fit`` that several estimators share.
FIT_PARAMETERS = {
    "person_id": """\
person_id : array-like of shape (n_samples,), default=None
    The person of each row, for person-level privacy: ε then protects a
    person (adding or removing all of their rows, or replacing them), not
    one row. The plan counts persons, each step samples persons, and each
    sampled person's rows (at most ``max_rows_per_person``) count as one
    clipped gradient. ``None``: each row is its own unit. Not named
    ``groups``, which a federation uses for its sites and scikit-learn's
    group splitters for folds: in a ``GridSearchCV`` with ``GroupKFold``,
    route the same array to both with
    ``set_fit_request(person_id="groups")`` (docs/persons.md).""",
    "sample_weight": """\
sample_weight : array-like of shape (n_samples,), default=None
    Non-negative weight of each row (survey or inverse-probability
    weights, say). Under DP-SGD a row's weight, over
    ``max_sample_weight``, multiplies its clipped gradient, so that no
    row contributes more than ``max_grad_norm`` and the guarantee is
    unchanged. Without privacy it weighs the row's loss.""",
}

FEATURE_ATTRIBUTES = """\
n_features_in_ : int
feature_names_in_ : ndarray of shape (`n_features_in_`,)
    Only when ``X`` has string column names."""

PRIVACY_ATTRIBUTES = """\
epsilon_ : float
    ε spent over every call to ``fit`` since the model was built (one call
    unless ``warm_start``), under ``neighbouring_``: the pure ε of the DP
    counts (``count_epsilon_``) plus what the accountant composes from
    ``accountant_history_``; always ≤ ``epsilon``.
delta_ : float
    δ of ``epsilon_``: what partition selection adds (``partition_delta_``)
    and the δ at which the accountant composes the rest.
partition_delta_ : float
    The part of ``delta_`` that the DP release of categories and classes
    (partition selection) takes, outside the accountant; 0.0 when none was
    released.
neighbouring_ : str
    The relation ``epsilon_`` is for.
privacy_unit_ : {"row", "person"}
    What ``epsilon_`` protects: a row, or a person (``fit(..., person_id=...)``).
count_ : int
    The count of rows that the last call's plan read: ``public_count``, a
    DP count (add-or-remove, a DP release), or the exact count where it is
    public (replace-one, or ε = inf).
count_epsilon_ : float
    Pure ε spent on DP counts over every call (0.0 with public counts).
accountant_ : str
    The accountant that ``accountant`` resolved to.
noise_multiplier_ : float
    Noise standard deviation over ``max_grad_norm`` in the last call to
    ``fit``; 0.0 when ε is inf.
batch_size_ : int
    Expected batch size used by the last call (``batch_size``, or its
    "auto" value).
max_epochs_ : int
    Epochs of the last call (``max_epochs``, or its "auto" value).
sample_rate_ : float
    Poisson sampling probability of each row per step, in the last call.
n_steps_ : int
    Optimizer steps taken by the last call.
accountant_history_ : list of (noise_multiplier, sample_rate, steps)
    What the accountant composes: the DP metadata release of the first call
    (one Gaussian, ``(m, 1.0, 1)``, when metadata was released) and one entry
    per call to ``fit`` since the model was built (noise multiplier 0.0 for a
    call with ε = inf). ``epsilon_`` is ``count_epsilon_ +
    compute_epsilon(accountant_history_, delta_ - partition_delta_,
    accountant_, neighbouring_)``.
metadata_history_ : list of (noise_multiplier, sample_rate, steps)
    The entries of ``accountant_history_`` that released metadata (bounds,
    categories, classes not given) before training; empty when all of it
    was public. ``privacy_report`` shows each part's ε on its own."""

TABULAR_ATTRIBUTES = """\
is_categorical_ : ndarray of bool, shape (`n_features_in_`,)
bounds_ : ndarray of shape (n_numeric_features, 2)
    Bounds used for the numeric features, in column order.
categories_ : list of ndarray
    Categories used for each categorical feature, in column order."""

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
    any batch."""

#: Marker lines of groups of fitted attributes.
ATTRIBUTE_GROUPS = {
    "feature attributes": FEATURE_ATTRIBUTES,
    "tabular attributes": TABULAR_ATTRIBUTES,
    "privacy attributes": PRIVACY_ATTRIBUTES + "\n" + TRAINING_ATTRIBUTES,
}

_PLACEHOLDER = re.compile(r"^(?P<indent> *)\{(?P<name>[a-z_ ]+)\}$", re.M)


def _format_default(value):
    return f'"{value}"' if isinstance(value, str) else repr(value)


def shared_docstring(cls):
    """Class (or function) decorator: put the shared entries in place of their placeholder lines.

    Raises ``ValueError`` for a placeholder that names no shared entry, or
    a shared parameter of the signature that the docstring leaves out: a
    docstring that drifted from its signature does not import.
    """
    defaults = {name: parameter.default for name, parameter in inspect.signature(cls).parameters.items()}

    def expand(match):
        name, indent = match.group("name"), match.group("indent")
        if name in PARAMETERS:
            text = PARAMETERS[name].format(default=_format_default(defaults[name]))
        elif name in VARIANTS:
            parameter, template = VARIANTS[name]
            text = template.format(default=_format_default(defaults[parameter]))
        elif name in FIT_PARAMETERS:
            text = FIT_PARAMETERS[name]
        elif name in ATTRIBUTE_GROUPS:
            text = ATTRIBUTE_GROUPS[name]
        else:
            raise ValueError(f"the docstring of {cls.__name__} has the placeholder {{{name}}}, which names no entry.")
        return "\n".join(indent + line if line else line for line in text.splitlines())

    doc = _PLACEHOLDER.sub(expand, cls.__doc__)
    missing = [name for name in defaults if name in PARAMETERS and not re.search(rf"^ *{name} : ", doc, re.M)]
    if missing:
        raise ValueError(f"the docstring of {cls.__name__} documents none of {missing}; add a placeholder for each.")
    cls.__doc__ = doc
    fit = cls.__dict__.get("fit")
    if fit is not None and fit.__doc__:
        fit.__doc__ = _PLACEHOLDER.sub(expand, fit.__doc__)
    return cls
