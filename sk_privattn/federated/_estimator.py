"""FederatedDPAttentionClassifier: the DP attention classifier trained across sites with Flower."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _num_samples

from .._classification import DPClassifierMixin
from .._base import default_delta_is_weak
from .._tabular import BaseDPAttention
from ..dpsgd import TensorBatchDataset, TrainingResult
from ..privacy import DEFAULT_DELTA, Unit, count_source
from ..privacy._metadata import FROM_DATA
from ..utils._docs import DEFAULTS, shared_docstring
from ._client import build_client_app, simulation_client
from ._plan import federation_seeds, plan_federation, sites_per_round
from ._server import build_server_app, make_strategy
from ._simulation import simulate
from ._site import SiteData, get_arrays, set_arrays

__all__ = ["FederatedDPAttentionClassifier"]


@shared_docstring
class FederatedDPAttentionClassifier(DPClassifierMixin, BaseDPAttention):
    """DP attention classifier trained across sites that keep their rows (federated, on Flower).

    ``fit(X, y, groups=site)`` runs a Flower simulation with one client per
    value of ``groups``: each round, the server sends the global model to
    the sites, each trains it on its own rows only, and the server averages
    the results (FedAvg). The fitted estimator is an ordinary classifier
    (``predict``, ``predict_proba``, ``score``, pickling), with the fitted
    attributes of :class:`~sk_privattn.DPAttentionClassifier`. For a real
    deployment, :func:`make_client_app` and :func:`make_server_app` run the
    same code as Flower apps. See docs/federated.md.

    It runs the fit path of every estimator of this package (validation, the
    privacy ledgers and budgets, a failed fit that leaves the previous one
    intact); only the training differs: Flower rounds instead of one DP-SGD
    run.

    Parameters
    ----------
    epsilon : float, default=1.0
        Privacy budget ε over all rounds; ``np.inf`` trains the same
        federation without any clipping or noise (per-row or per-site). What
        it protects depends on ``dp_level``.
    delta : float, default=None
        δ. ``None`` uses, under record-level DP, ``1 / (10 * n)`` for a site
        whose count ``n`` of rows is public (``public_count[site]``, or its
        exact count under replace-one) and ``DEFAULT_DELTA`` (1e-5) for a
        site that counts its rows with DP; under client-level DP,
        ``1 / (10 * n_sites)`` for the public roster of sites. The largest δ
        used is ``delta_``.
    neighbouring : {"add_or_remove", "replace_one"}, default="add_or_remove"
        Record level: adding or removing one row of one site, or replacing
        one. Under add-or-remove a site's number of rows is private: each
        site's plan, its weight in FedAvg and ``sites_`` read
        ``public_count[site]``, or else a count that the site releases of its
        own rows with pure DP at 2 % of ``epsilon`` (which its ε includes).
        Client level: zeroing out one site's data ("add_or_remove"), or
        replacing one site's data by any other ("replace_one", accounted by
        dp_accounting); the roster of sites is public by construction. See
        docs/federated.md.
    public_count : dict or None, default=None
        Record level only: a public number of rows for every site,
        ``{site: count}``, which the site's plan reads instead of counting
        its rows (a wrong value costs accuracy, not privacy).
    dp_level : {"record", "client"}, default="record"
        "record": every site trains with DP-SGD on its own rows; ``epsilon_``
        covers adding or removing one row of one site (the largest ε any
        site spent), also against the server and the other sites. "client"
        (DP-FedAvg): sites train without noise, each site joins a round by
        its own coin with probability ``fraction_fit``, its update is
        clipped to ``clipping_norm``, and the server adds Gaussian noise to
        the sum of the updates, divided by the fixed ``fraction_fit`` times
        the number of sites; ``epsilon_`` covers zeroing out one whole site
        (its data replaced by data that contributes nothing; the roster of
        sites is public), in the model that comes out, not against the
        server, and only many sites make it useful. See docs/federated.md.
    n_rounds : int, default=10
        Federated rounds.
    local_epochs : int, default=1
        Passes over its rows that a site makes in each round.
    fraction_fit : float, default=1.0
        Record level: the fraction of the sites that Flower samples to train
        in each round (at least one). Client level: the probability with
        which each site joins each round (Poisson sampling of sites).
    max_failed_fraction : float, default=0.5
        A site whose training raises is left out of that round, up to this
        fraction of the sites asked; more failures stop ``fit``. The round
        still counts as spent.
    clipping_norm : float, default=1.0
        Client level only: bound on the L2 norm of each site's update (its
        new weights minus the global ones).
    secure_aggregation : bool, default=False
        Run Flower's SecAgg+ protocol: the server learns only the sum of the
        sites' updates, never one site's. Needs at least 2 sites per round.
    {max_grad_norm}
        At record level only: the sites' DP-SGD.
    {accountant}
    batch_size : int or "auto", default="auto"
        Expected batch size of each site's DP-SGD; "auto" as in
        :class:`~sk_privattn.DPAttentionClassifier`, for the site's count.
        Record level: a site whose count (public, or its DP count) is below a
        fixed batch size raises. Client level: a batch above a site's rows
        takes the whole site at each local step.
    {lr}
    lr_schedule : {"constant", "cosine"}, default="constant"
        Within each round's local training.
    {optimizer}
        Local optimizer; its state starts afresh at every round.
    {weight_decay}
    {architecture}
    {d_token}
    {n_heads}
    {n_layers}
    {dropout}
    {additive_terms}
        Off by default here: the federated benchmarks in docs/federated.md
        were measured without it.
    {categorical_features}
    {categories}
        In a federation ``None`` raises: it releases no metadata with DP
        across sites. ``"data"`` reads the pooled rows of all sites, which
        a real federation cannot do: pass public values.
    {bounds}
        In a federation ``None`` raises, and ``"data"`` reads the pooled
        rows of all sites, as for ``categories``: pass public values.
    {numeric_encoding}
    classes : array-like, "data" or None, default=None
        The public class labels. A federation needs them (and public bounds
        and categories): it releases no metadata with DP, so ``None`` raises,
        and says so. ``"data"`` takes the union of the labels of ``y`` over
        all sites, which a real federation cannot do, with a
        :class:`~sk_privattn.exceptions.PrivacyLeakWarning`; a deployment
        needs public ones.
    backend : {"ray", "in-process"}, default="ray"
        "ray" runs Flower's simulation engine: one Ray worker per site, in
        parallel. "in-process" calls the same Flower ClientApp and ServerApp
        one site after the other in this process, without Ray: no worker
        start-up (which costs seconds per site), no parallelism. Both give
        the same model for the same ``random_state``.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial model, the sampling and the DP noise of every site
        and round.
    device : str, default="cpu"
    verbose : int, default=0
        1 shows Flower's and Ray's logs.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    class_weight_ : ndarray of shape (n_classes,)
        All 1.0.
    epsilon_ : float
        Record level: the largest ε spent by a site, over all rounds, at its
        own δ; every round counts, whether or not the site was sampled or
        failed (an upper bound when ``fraction_fit < 1``). Client level: ε of
        the whole federation for zeroing out one site, from Opacus'
        accountant over ``n_rounds`` Gaussian mechanisms, each sampling the
        sites with probability ``fraction_fit``.
    delta_ : float
        The largest δ used.
    noise_multiplier_ : float
        Record level: that of the site with the largest ε. Client level: the
        server's.
    sample_rate_ : float
        Record level: that of the site with the largest ε. Client level:
        ``fraction_fit``.
    n_steps_ : int
        Record level: the local steps of the site with the largest ε over
        all rounds. Client level: the rounds.
    batch_size_ : int or float
        Record level: the batch size of the site with the largest ε. Client
        level: the fixed denominator of the server's noisy sum,
        ``fraction_fit`` times the number of sites.
    accountant_history_ : list of (noise_multiplier, sample_rate, steps)
        The mechanism that ``epsilon_`` composes.
    sites_ : dict
        Record level, per site (value of ``groups``): ``n_rows`` (the count
        its plan read: public, or its DP count, never its exact size),
        ``count_epsilon`` (the pure ε of its DP count), ``batch_size``,
        ``noise_multiplier``, ``sample_rate``, ``n_steps``, ``delta`` and
        ``epsilon``. Client level: the names of the sites, each
        with an empty dict (a site's size and local training are part of the
        data that client-level DP protects).
    history_ : list of dict
        Per round: ``call``, ``round``, ``n_results`` (sites that returned an
        update), ``n_failures`` and ``aggregated`` (whether the global model
        changed).
    module_ : torch.nn.Module
        The global model after the last round.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Defined only when ``X`` has string column names.
    is_categorical_, bounds_, categories_
        As in :class:`~sk_privattn.DPAttentionClassifier`. There is no
        ``net_``: each site trains its own skorch net, every round.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_privattn.federated import FederatedDPAttentionClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(300, 3))
    >>> y = (X[:, 0] + X[:, 1] > 0).astype(int)
    >>> site = np.repeat(["north", "south", "west"], 100)
    >>> clf = FederatedDPAttentionClassifier(epsilon=1.0, n_rounds=2, bounds=(-1, 1), classes=[0, 1],
    ...                                      d_token=8, n_heads=2, n_layers=1,
    ...                                      backend="in-process", random_state=0)
    >>> clf = clf.fit(X, y, groups=site)
    >>> clf.epsilon_ <= 1.0
    True
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    """

    _parameter_constraints = {
        **BaseDPAttention._parameter_constraints,
        "dp_level": [StrOptions({"record", "client"})],
        "n_rounds": [Interval(Integral, 1, None, closed="left")],
        "local_epochs": [Interval(Integral, 1, None, closed="left")],
        "fraction_fit": [Interval(Real, 0, 1, closed="right")],
        "max_failed_fraction": [Interval(Real, 0, 1, closed="both")],
        "clipping_norm": [Interval(Real, 0, None, closed="neither")],
        "secure_aggregation": ["boolean"],
        "classes": ["array-like", StrOptions({FROM_DATA}), None],
        "backend": [StrOptions({"ray", "in-process"})],
        "public_count": [dict, None],
    }

    #: Where the bounds, categories and classes come from when they are not given.
    _training_rows = "the pooled rows of all sites (which a real federation cannot do)"
    #: Each site holds its rows in memory.
    _partitioned_input = False

    #: A federation weighs every class 1: it has no class_weight parameter.
    class_weight = None

    _no_dp_metadata = (
        "a federation's sites and server must encode the columns and the labels alike without seeing each "
        "other's rows, and no DP release of metadata across sites is implemented yet"
    )

    def __init__(
        self,
        *,
        epsilon=DEFAULTS["epsilon"],
        delta=DEFAULTS["delta"],
        neighbouring=DEFAULTS["neighbouring"],
        public_count=DEFAULTS["public_count"],
        dp_level="record",
        n_rounds=10,
        local_epochs=1,
        fraction_fit=1.0,
        max_failed_fraction=0.5,
        clipping_norm=1.0,
        secure_aggregation=False,
        max_grad_norm=DEFAULTS["max_grad_norm"],
        accountant=DEFAULTS["accountant"],
        batch_size=DEFAULTS["batch_size"],
        lr=DEFAULTS["lr"],
        lr_schedule="constant",  # a schedule within each round's few local steps gains nothing
        optimizer=DEFAULTS["optimizer"],
        weight_decay=DEFAULTS["weight_decay"],
        architecture=DEFAULTS["architecture"],
        d_token=32,  # d_token, n_layers, additive_terms: the network of the federated benchmarks (docs/federated.md)
        n_heads=DEFAULTS["n_heads"],
        n_layers=2,
        dropout=DEFAULTS["dropout"],
        additive_terms=False,
        categorical_features=DEFAULTS["categorical_features"],
        categories=DEFAULTS["categories"],
        bounds=DEFAULTS["bounds"],
        numeric_encoding=DEFAULTS["numeric_encoding"],
        classes=DEFAULTS["classes"],
        backend="ray",
        random_state=DEFAULTS["random_state"],
        device=DEFAULTS["device"],
        verbose=DEFAULTS["verbose"],
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
            architecture=architecture,
            d_token=d_token,
            n_heads=n_heads,
            n_layers=n_layers,
            dropout=dropout,
            additive_terms=additive_terms,
            categorical_features=categorical_features,
            categories=categories,
            bounds=bounds,
            numeric_encoding=numeric_encoding,
            random_state=random_state,
            device=device,
            verbose=verbose,
        )
        self.dp_level = dp_level
        self.n_rounds = n_rounds
        self.local_epochs = local_epochs
        self.fraction_fit = fraction_fit
        self.max_failed_fraction = max_failed_fraction
        self.clipping_norm = clipping_norm
        self.secure_aggregation = secure_aggregation
        self.classes = classes
        self.backend = backend

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, groups=None, person_id=None):
        """Train across the sites given by ``groups``, in a Flower simulation.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        groups : array-like of shape (n_samples,)
            The site of each row; one Flower client per distinct value. In
            :class:`~sklearn.model_selection.GridSearchCV`, enable metadata
            routing and call ``set_fit_request(groups=True)`` so that each
            fit receives the sites of its rows (see docs/federated.md).
        person_id : None
            Person-level privacy is not available in a federation: passing
            it raises, with the reason (see docs/persons.md).

        Returns
        -------
        self : object
        """
        if person_id is not None:
            raise ValueError(
                "person_id: FederatedDPAttentionClassifier does not train at person level. Its sites run "
                "row-level DP-SGD, and a person whose rows lie on several sites would be protected only by "
                "the composition of every site that holds them; nothing here knows which sites those are. "
                "Train DPAttentionClassifier(...).fit(X, y, person_id=...) on the pooled rows, or use "
                "dp_level='client', whose unit is a whole site (a person whose rows are all on one site is "
                "protected by it)."
            )
        if groups is None:
            raise ValueError(
                "groups=None: FederatedDPAttentionClassifier.fit needs groups, the site of each "
                "row (fit(X, y, groups=site)). Inside GridSearchCV, enable metadata routing "
                "(sklearn.set_config(enable_metadata_routing=True)) and use "
                "FederatedDPAttentionClassifier(...).set_fit_request(groups=True)."
            )
        return self._fit_keeping_state(X, y, groups=groups)

    # -- the hooks of the shared fit path ---------------------------------

    def _plan_metadata(self, X, y, seed, person_id=None):
        # A federation releases no DP metadata (see _no_dp_metadata): it needs public metadata.
        return None

    def _warm_start_state(self, unit=Unit.ROW):
        # No warm start across federations; fit refuses person_id, so the unit is the row.
        return None

    def _plan_fit(self, n_samples, previous, *, seed, groups, unit=Unit.ROW, metadata=None):
        # Each site counts its own rows (site_count); nothing counts the pooled rows.
        return plan_federation(self, groups, n_samples, seed)

    def _check_params(self):
        if self.public_count is not None and self.dp_level == "client":
            raise ValueError(
                f"public_count={self.public_count!r} is for record level, where each site's DP-SGD plan "
                "reads its count of rows; at client level the sites train without noise and the server "
                "counts sites, which are public. Set public_count=None."
            )
        super()._check_params()

    def _weak_delta(self, plan, previous):
        if plan.server is not None:
            if plan.delta < 1.0 / plan.n_sites:
                return None
            return (
                f"delta={plan.delta:g} is not below 1/n_sites={1.0 / plan.n_sites:.3g}: under client-level DP, "
                "a mechanism that publishes one whole random site meets that δ. Use delta=None "
                "(1/(10 n_sites)) or a smaller value."
            )
        weak = [
            f"{name!r} ({site.n_samples} rows, {count_source(site.count)})"
            for name, site in zip(plan.site_names, plan.site_plans)
            if site.private and site.delta >= 1.0 / site.n_samples
        ]
        if not weak:
            return None
        if self.delta is None:
            origin, fix = default_delta_is_weak(DEFAULT_DELTA)
            fix = fix.replace("public_count)", "public_count[site])")
        else:
            origin = f"delta={self.delta}"
            fix = (f"Use a smaller value, or delta=None (1/(10·n) for a site's public count n, {DEFAULT_DELTA:g} "
                   "for its DP count).")
        return (
            f"{origin} is not below 1/n for the sites {', '.join(weak)}: a mechanism that publishes one whole "
            f"random row of a site meets that δ. {fix}"
        )

    def _warn_about_batch_size(self, plan):
        """Nothing: at record level each site's plan refuses a batch above the site's count
        (:func:`._plan.site_plan`); at client level a batch above a site's rows takes the whole
        site at each step of its local, non-private training."""

    def _train(self, module, dataset, plan, *, criterion, seed, recorder, persons=None, batches=None):
        """Flower rounds instead of one DP-SGD run: a simulation, one client per site (each draws
        its own batches, so ``batches`` is always None here)."""
        site_seed, noise_seed = federation_seeds(seed)
        sites = [SiteData(name, dataset.subset(plan.site_of_row == k)) for k, name in enumerate(plan.site_names)]
        strategy = make_strategy(self, plan.n_sites, get_arrays(module), plan.server, noise_seed)
        server_app = build_server_app(
            strategy,
            n_rounds=self.n_rounds,
            n_sampled=sites_per_round(self, plan.n_sites),
            secure_aggregation=self.secure_aggregation,
            # SecAgg+'s bound on a site's weight: the sites' counts, never their exact sizes.
            max_weight=max(site.n_samples for site in plan.site_plans) if plan.server is None else 1,
        )
        client_app = build_client_app(
            self, simulation_client(self, module, sites, plan.site_plans, site_seed, criterion)
        )
        recorder.start()
        try:
            simulate(server_app, client_app, plan.n_sites, backend=self.backend, verbose=self.verbose)
            if strategy.error is not None:
                raise strategy.error
            if not strategy.rounds:
                raise RuntimeError(
                    "The Flower simulation ended before any round was aggregated; rerun with "
                    "verbose=1 to see Flower's and Ray's logs."
                )
        finally:
            # Every round that started counts, for every site, aggregated or not.
            recorder.spent(*plan.row_histories(strategy.rounds_started))
        return federation_result(plan, strategy, module)

    # -- the steps of a deployment (._apps), which fit's own steps serve --------

    def _check_public_encoding(self, X):
        """Raise unless the encoding of ``X`` and of the labels needs no data: a deployment's
        sites and server must encode alike without seeing each other's rows."""
        _, _, is_categorical = self._validate_columns(X)
        missing = [
            name
            for name, needed in [
                ("bounds", not is_categorical.all()),
                ("categories", is_categorical.any()),
                ("classes", True),
            ]
            if needed and getattr(self, name) is None
        ]
        if missing:
            raise ValueError(
                f"{' and '.join(missing)} must be given for a deployment: every site and the server "
                "must encode the columns and the labels the same way without seeing each other's "
                "data. Pass public values to FederatedDPAttentionClassifier."
            )

    def _site_training(self, X, y):
        """A deployment's site: its rows encoded by the public encoding, ``(dataset, module,
        criterion, seed)``. The module has the federation's architecture (its weights are
        replaced by the global ones every round); ``seed`` is the base of the site's coins and
        training seeds."""
        self._check_public_encoding(X)
        encoded = self._encode(X, y)
        module = self._build_module(encoded.attributes, encoded.n_outputs)
        site_seed, _ = federation_seeds(self._seeds(1)[1])
        return encoded.dataset, module, self._criterion(encoded.attributes), site_seed

    def _server_model(self, X_public):
        """A deployment's server: its initial model, from the layout of a few public rows,
        ``(attributes, module, seed)``. ``attributes`` are the fitted attributes of the
        encoding and the labels; ``seed`` seeds the server's client-level noise."""
        self._check_public_encoding(X_public)
        classes = np.asarray(self.classes)
        labels = np.resize(classes, _num_samples(X_public))  # public placeholders: only the layout is read
        encoded = self._encode(X_public, labels)
        module = self._initial_module(encoded.attributes, encoded.n_outputs)
        return encoded.attributes, module, federation_seeds(self._seeds(1)[1])[1]

    def _store_deployment(self, attributes, plan, strategy, module):
        """Make this estimator the fitted model of a deployment's federation, as fit does."""
        return self._store_fit(attributes, plan, federation_result(plan, strategy, module))



def federation_result(plan, strategy, module):
    """The :class:`~sk_privattn.dpsgd.TrainingResult` of a federation that ran ``strategy``.

    Every round that started counts, for every site, whether or not it was
    sampled, failed or aggregated.
    """
    set_arrays(module, strategy.arrays)
    rounds = strategy.rounds_started
    return TrainingResult(
        module=module,
        n_steps=plan.steps(rounds),
        history=plan.history(rounds),
        epsilon=plan.epsilon(rounds),
        log=[dict(row) for row in strategy.rounds],
        attributes={"sites_": plan.sites(rounds)},
    )


# -- what the deployment apps (._apps) share with fit ------------------------


def check_public_encoding(estimator, X):
    """Raise unless the encoding of ``X`` and of the labels needs no data: a deployment's
    sites and server must encode alike without seeing each other's rows."""
    _, _, is_categorical = estimator._validate_columns(X)
    missing = [
        name
        for name, needed in [
            ("bounds", not is_categorical.all()),
            ("categories", is_categorical.any()),
            ("classes", True),
        ]
        if needed and getattr(estimator, name) is None
    ]
    if missing:
        raise ValueError(
            f"{' and '.join(missing)} must be given for a deployment: every site and the server "
            "must encode the columns and the labels the same way without seeing each other's "
            "data. Pass public values to FederatedDPAttentionClassifier."
        )
