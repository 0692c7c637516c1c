"""FederatedDPAttentionClassifier: the DP attention classifier trained across sites with Flower."""

import functools
import math
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import _fit_context, clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, column_or_1d

from .._tabular import BaseDPAttention
from ..classifier import DPAttentionClassifier
from ..exceptions import PrivacyLeakWarning
from ..privacy import GDP_WARNING, calibrate_noise_multiplier, compute_epsilon, default_delta
from ._client import build_client_app, simulation_client
from ._server import build_server_app, make_strategy, n_sampled_sites
from ._simulation import simulate
from ._site import SiteData, get_arrays, set_arrays, site_plan

__all__ = ["FederatedDPAttentionClassifier"]

_UNUSED = {"max_epochs", "class_weight", "warm_start"}


class FederatedDPAttentionClassifier(DPAttentionClassifier):
    """DP attention classifier trained across sites that keep their rows (federated, on Flower).

    ``fit(X, y, groups=site)`` runs a Flower simulation with one client per
    value of ``groups``: each round, the server sends the global model to
    the sites, each trains it on its own rows only, and the server averages
    the results (FedAvg). The fitted estimator is an ordinary classifier
    (``predict``, ``predict_proba``, ``score``, pickling), with the fitted
    attributes of :class:`~sk_privattn.DPAttentionClassifier`. For a real
    deployment, :func:`make_client_app` and :func:`make_server_app` run the
    same code as Flower apps. See docs/federated.md.

    It subclasses :class:`~sk_privattn.DPAttentionClassifier` for the model,
    the encoding of the inputs and the prediction methods; only ``fit``
    differs.

    Parameters
    ----------
    epsilon : float, default=1.0
        Privacy budget ε over all rounds; ``np.inf`` trains the same
        federation without any clipping or noise (per-row or per-site). What
        it protects depends on ``dp_level``.
    delta : float, default=None
        δ. ``None`` uses ``1 / (10 * n)``, where ``n`` is the site's number of
        rows under record-level DP (each site its own), and the number of
        sites under client-level DP. The largest δ used is ``delta_``.
    dp_level : {"record", "client"}, default="record"
        "record": every site trains with DP-SGD on its own rows; each row of
        every site is protected, also from the server and the other sites;
        ``epsilon_`` is the largest ε any site spent. "client" (DP-FedAvg):
        sites train without noise, each site's whole update is clipped to
        ``clipping_norm`` and the server adds Gaussian noise to the average;
        a whole site's data is protected, but only in the model that comes
        out, not from the server, and only many sites make it useful.
    n_rounds : int, default=10
        Federated rounds.
    local_epochs : int, default=1
        Passes over its rows that a site makes in each round.
    fraction_fit : float, default=1.0
        Fraction of the sites that train in each round (at least one).
    max_failed_fraction : float, default=0.5
        A site whose training raises is left out of that round's average, up
        to this fraction of the sampled sites; more failures stop ``fit``.
        Under client-level DP, Flower's DP wrapper skips the aggregation of a
        round with any failure (the round still counts as spent).
    clipping_norm : float, default=1.0
        Client level only: bound on the L2 norm of each site's update (its
        new weights minus the global ones).
    secure_aggregation : bool, default=False
        Run Flower's SecAgg+ protocol: the server learns only the sum of the
        sites' updates, never one site's. Needs at least 3 sampled sites.
    max_grad_norm : float, default=1.0
        Record level: per-sample gradient clipping bound of DP-SGD.
    accountant : {"prv", "rdp", "gdp"}, default="prv"
    batch_size : int or "auto", default="auto"
        Expected batch size of each site's DP-SGD; "auto" is
        ``round(sqrt(32 * n))`` for a site of ``n`` rows, capped at 1024.
    lr : float, default=0.02
    lr_schedule : {"constant", "cosine"}, default="constant"
        Within each round's local training.
    optimizer : {"adamw", "adam", "sgd"} or torch optimizer class, default="adamw"
        Local optimizer; its state starts afresh at every round.
    weight_decay : float, default=0.0
    d_token, n_heads, n_layers, dropout
        The FT-Transformer, as in :class:`~sk_privattn.DPAttentionClassifier`.
    categorical_features, categories, bounds, numeric_encoding
        As in :class:`~sk_privattn.DPAttentionClassifier`. Read from the
        data, bounds and categories come from the pooled rows of all sites,
        which a real federation cannot do: pass public values.
    classes : array-like or None, default=None
        The public class labels. ``None`` takes the union of the labels of
        ``y`` over all sites; a deployment needs them.
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
    epsilon_ : float
        Record level: the largest ε spent by a site, over all rounds, at its
        own δ; every round counts, whether or not the site was sampled or
        failed (an upper bound when ``fraction_fit < 1``). Client level: ε of the whole federation with respect to one
        site, from Opacus' accountant over ``n_rounds`` Gaussian mechanisms
        sampling ``fraction_fit`` of the sites.
    delta_ : float
    noise_multiplier_, sample_rate_, n_steps_, batch_size_, accountant_history_
        Record level: those of the site with the largest ε (``n_steps_``
        counts its local steps over all rounds). Client level: the server's
        noise multiplier, the fraction of sites sampled, the rounds, and the
        largest site batch size.
    sites_ : dict
        Per site (value of ``groups``): ``n_rows``, ``batch_size``,
        ``noise_multiplier``, ``sample_rate``, ``n_steps``, ``delta`` and, at
        record level, ``epsilon``.
    history_ : list of dict
        Per round: ``round``, ``n_results`` (sites that returned an update),
        ``n_failures`` and ``aggregated`` (whether the global model changed).
    module_ : torch.nn.Module
        The global model after the last round.
    n_features_in_, feature_names_in_, is_categorical_, bounds_, categories_
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
    >>> clf = FederatedDPAttentionClassifier(epsilon=1.0, n_rounds=2, bounds=(-1, 1),
    ...                                      d_token=8, n_heads=2, n_layers=1,
    ...                                      backend="in-process", random_state=0)
    >>> clf = clf.fit(X, y, groups=site)
    >>> clf.epsilon_ <= 1.0
    True
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    """

    _parameter_constraints = {
        **{k: v for k, v in DPAttentionClassifier._parameter_constraints.items() if k not in _UNUSED},
        "dp_level": [StrOptions({"record", "client"})],
        "n_rounds": [Interval(Integral, 1, None, closed="left")],
        "local_epochs": [Interval(Integral, 1, None, closed="left")],
        "fraction_fit": [Interval(Real, 0, 1, closed="right")],
        "max_failed_fraction": [Interval(Real, 0, 1, closed="both")],
        "clipping_norm": [Interval(Real, 0, None, closed="neither")],
        "secure_aggregation": ["boolean"],
        "classes": ["array-like", None],
        "backend": [StrOptions({"ray", "in-process"})],
    }

    def __init__(
        self,
        *,
        epsilon=1.0,
        delta=None,
        dp_level="record",
        n_rounds=10,
        local_epochs=1,
        fraction_fit=1.0,
        max_failed_fraction=0.5,
        clipping_norm=1.0,
        secure_aggregation=False,
        max_grad_norm=1.0,
        accountant="prv",
        batch_size="auto",
        lr=0.02,
        lr_schedule="constant",
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
        classes=None,
        backend="ray",
        random_state=None,
        device="cpu",
        verbose=0,
    ):
        self.epsilon = epsilon
        self.delta = delta
        self.dp_level = dp_level
        self.n_rounds = n_rounds
        self.local_epochs = local_epochs
        self.fraction_fit = fraction_fit
        self.max_failed_fraction = max_failed_fraction
        self.clipping_norm = clipping_norm
        self.secure_aggregation = secure_aggregation
        self.max_grad_norm = max_grad_norm
        self.accountant = accountant
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
        self.classes = classes
        self.backend = backend
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, groups=None):
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

        Returns
        -------
        self : object
        """
        if groups is None:
            raise ValueError(
                "groups=None: FederatedDPAttentionClassifier.fit needs groups, the site of each "
                "row (fit(X, y, groups=site)). Inside GridSearchCV, enable metadata routing "
                "(sklearn.set_config(enable_metadata_routing=True)) and use "
                "FederatedDPAttentionClassifier(...).set_fit_request(groups=True)."
            )
        self._check_params()
        settings = clone(self)
        X, is_categorical, encoder, x_num, x_cat, X_valid = self._prepare_inputs(X, deployment=False)
        y = column_or_1d(y, warn=True)
        groups = column_or_1d(groups)
        check_consistent_length(X_valid, y, groups)
        classes, target = self._encode_classes(y)
        site_names, site_of_row = np.unique(groups, return_inverse=True)
        if len(site_names) < 2:
            raise ValueError(
                f"groups has a single value ({site_names[0]!r}): a federation needs at least two "
                "sites. For one site, use DPAttentionClassifier."
            )
        sites = [
            SiteData(name, x_num[site_of_row == k], x_cat[site_of_row == k], target[site_of_row == k])
            for k, name in enumerate(site_names.tolist())
        ]
        plans = [site_plan(settings, site.name, len(site)) for site in sites]
        n_sites = len(sites)
        n_sampled = self._check_sampling(n_sites)
        client_noise, client_delta = self._client_level_noise(n_sites, n_sampled)
        module, seed = self._initial_module(encoder, len(classes))
        strategy = make_strategy(settings, n_sites, get_arrays(module), client_noise)
        server_app = build_server_app(
            strategy,
            n_rounds=self.n_rounds,
            n_sampled=n_sampled,
            secure_aggregation=self.secure_aggregation,
            max_weight=max(len(site) for site in sites),
        )
        client_app = build_client_app(settings, simulation_client(settings, module, sites, plans, seed))
        simulate(server_app, client_app, n_sites, backend=self.backend, verbose=self.verbose)
        if strategy.error is not None:
            raise strategy.error
        if not strategy.rounds:
            raise RuntimeError(
                "The Flower simulation ended before any round was aggregated; rerun with "
                "verbose=1 to see Flower's and Ray's logs."
            )
        set_arrays(module, strategy.arrays)
        self._set_fitted(encoder, is_categorical, classes, module, dict(zip(site_names.tolist(), plans)),
                         strategy.rounds, client_noise, client_delta, n_sampled / n_sites)
        return self

    # -- shared with the deployment apps -----------------------------------

    def _check_params(self):
        BaseDPAttention._check_params(self)
        if self.accountant == "gdp" and math.isfinite(self.epsilon):
            warnings.warn(GDP_WARNING, UserWarning, stacklevel=3)

    def _prepare_inputs(self, X, *, deployment):
        """Validate ``X`` and build the encoder (public bounds/categories, or warned)."""
        X_original = X
        X_valid, _, is_categorical = self._validate_columns(X)
        missing = []
        if self.bounds is None and not is_categorical.all():
            missing.append("bounds")
        if self.categories is None and is_categorical.any():
            missing.append("categories")
        if deployment and (missing or self.classes is None):
            missing += ["classes"] if self.classes is None else []
            raise ValueError(
                f"{' and '.join(missing)} must be given for a deployment: every site and the server "
                "must encode the columns and the labels the same way without seeing each other's "
                "data. Pass public values to FederatedDPAttentionClassifier."
            )
        if missing:
            warnings.warn(
                f"{' and '.join(missing)} were read from the pooled rows of all sites, which a real "
                "federation cannot do (and which the sites would have to share outside the DP "
                f"guarantee). Pass public {' and '.join(missing)} to prevent this.",
                PrivacyLeakWarning,
                stacklevel=4,
            )
        encoder, x_num, x_cat = self._fit_encoder(X_valid, X_original, is_categorical)
        return X_original, is_categorical, encoder, x_num, x_cat, X_valid

    def _encode_classes(self, y):
        """The classes (public ``classes``, or the union over the sites) and ``y`` encoded."""
        check_classification_targets(y)
        present = np.unique(y)
        classes = present if self.classes is None else np.unique(np.asarray(self.classes))
        unknown = np.setdiff1d(present, classes)
        if unknown.size:
            raise ValueError(
                f"y holds labels {unknown.tolist()} that are not in classes={list(self.classes)!r}; "
                "list every label in classes."
            )
        if len(classes) < 2:
            raise ValueError(
                f"y contains only one class ({classes[0]!r}) over all sites; a classifier needs at "
                "least two classes."
            )
        return classes, np.searchsorted(classes, y)

    def _initial_module(self, encoder, n_classes):
        """The global model before the first round, and the base seed of the sites."""
        module_seed, site_seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max, size=2)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(module_seed))
            module = self._build_module({"_encoder": encoder}, n_classes)
        return module, int(site_seed)

    def _check_sampling(self, n_sites):
        n_sampled = n_sampled_sites(self.fraction_fit, n_sites)
        if self.secure_aggregation and n_sampled < 3:
            raise ValueError(
                f"secure_aggregation=True needs at least 3 sites per round for SecAgg+, but "
                f"fraction_fit={self.fraction_fit} samples {n_sampled} of the {n_sites} sites. "
                "Raise fraction_fit, add sites, or set secure_aggregation=False."
            )
        return n_sampled

    def _client_level_noise(self, n_sites, n_sampled):
        """Client level: the server's noise multiplier, calibrated over the rounds, and its δ."""
        if self.dp_level != "client":
            return 0.0, None
        delta = self.delta if self.delta is not None else default_delta(n_sites)
        if delta >= 1.0 / n_sites:
            warnings.warn(
                f"delta={delta} is not below 1/n_sites={1.0 / n_sites:.3g}: under client-level DP, a "
                "mechanism that publishes one whole random site meets that δ. Use delta=None "
                "(1/(10 n_sites)) or a smaller value.",
                UserWarning,
                stacklevel=3,
            )
        if not math.isfinite(self.epsilon):
            return 0.0, delta
        noise = calibrate_noise_multiplier(
            epsilon=float(self.epsilon),
            delta=delta,
            sample_rate=n_sampled / n_sites,
            steps=self.n_rounds,
            accountant=self.accountant,
        )
        return noise, delta

    def _set_fitted(self, encoder, is_categorical, classes, module, plans, rounds, client_noise, client_delta,
                    client_rate):
        """Store the model and what it spent (``plans``: site name -> the site's TrainingPlan)."""
        self.classes_ = classes
        self.class_weight_ = np.ones(len(classes))
        for name, value in self._encoding_attributes(encoder, is_categorical).items():
            setattr(self, name, value)
        self.module_ = module.eval()
        # Every round counts, whether or not the site was sampled or failed.
        ran = {name: plan.with_epochs(self.local_epochs * len(rounds)) for name, plan in plans.items()}
        self.sites_ = {
            name: {
                "n_rows": plan.n_samples,
                "batch_size": plan.batch_size,
                "noise_multiplier": plan.noise_multiplier,
                "sample_rate": plan.sample_rate,
                "n_steps": plan.n_steps,
                "delta": plan.delta,
            }
            for name, plan in ran.items()
        }
        if self.dp_level == "record":
            for name, plan in ran.items():
                self.sites_[name]["epsilon"] = self._spent(tuple(plan.history()), plan.delta)
            worst = max(ran, key=lambda name: self.sites_[name]["epsilon"])
            plan = ran[worst]
            self.epsilon_ = self.sites_[worst]["epsilon"]
            self.delta_ = max(plan.delta for plan in ran.values())
            self.noise_multiplier_ = plan.noise_multiplier
            self.sample_rate_ = plan.sample_rate
            self.n_steps_ = plan.n_steps
            self.batch_size_ = plan.batch_size
            self.accountant_history_ = plan.history()
        else:
            self.delta_ = client_delta
            self.noise_multiplier_ = client_noise
            self.sample_rate_ = client_rate
            self.n_steps_ = len(rounds)
            self.batch_size_ = max(plan.batch_size for plan in ran.values())
            self.accountant_history_ = [(client_noise, client_rate, len(rounds))]
            self.epsilon_ = self._spent(self.accountant_history_, client_delta)
        self.history_ = [dict(row) for row in rounds]

    def _spent(self, history, delta):
        if not math.isfinite(self.epsilon):
            return math.inf
        return _cached_epsilon(tuple(history), delta, self.accountant)


@functools.lru_cache(maxsize=256)
def _cached_epsilon(history, delta, accountant):
    # Sites of the same size run the same mechanism: account it once.
    return compute_epsilon(list(history), delta, accountant)
