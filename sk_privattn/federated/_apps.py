"""Flower apps for a real deployment: each site runs the ClientApp on its own data."""

import pickle

from sklearn.base import clone

from ..privacy import DPCount, PublicCount, TrainingPlan, resolve_accountant
from ._client import PLAN_FIELDS, SiteClient, build_client_app
from ._plan import (
    FederatedPlan,
    check_secure_aggregation,
    client_level_plan,
    site_count_seed,
    site_plan,
    sites_per_round,
)
from ._server import build_server_app, make_strategy
from ._site import SiteData, get_arrays

__all__ = ["make_client_app", "make_server_app"]


def _site_name(context):
    return context.node_config.get("partition-id", context.node_id)


def _reported_plan(settings, metrics):
    """A site's plan, rebuilt by the server from what the site reported."""
    fields = {field: metrics[field] for field in PLAN_FIELDS}
    count_epsilon = float(fields["count_epsilon"])
    count = (DPCount(int(fields["n_samples"]), count_epsilon) if count_epsilon > 0
             else PublicCount(int(fields["n_samples"]), "given"))
    neighbouring = settings._neighbouring
    return TrainingPlan(**fields, accountant=resolve_accountant(settings.accountant, neighbouring.relation),
                        neighbouring=neighbouring, count=count)


def make_client_app(estimator, load_site):
    """The Flower ClientApp that a site runs on its own rows.

    Parameters
    ----------
    estimator : FederatedDPAttentionClassifier
        Not fitted; the same parameters as the server's. ``bounds`` (for
        numeric columns), ``categories`` (for categorical ones) and
        ``classes`` must be public values, so that every site encodes its
        rows like the others without seeing them.
    load_site : callable
        ``load_site(context) -> (X, y)``: this site's rows. ``context`` is
        Flower's Context; ``context.node_config`` holds what the site's
        ``flower-supernode --node-config`` set (e.g. a data path).

    Returns
    -------
    flwr.client.ClientApp

    Examples
    --------
    >>> import numpy as np
    >>> from sk_privattn.federated import FederatedDPAttentionClassifier, make_client_app
    >>> spec = FederatedDPAttentionClassifier(bounds=(-1, 1), classes=[0, 1])
    >>> def load_site(context):
    ...     rng = np.random.RandomState(int(context.node_config["partition-id"]))
    ...     X = rng.uniform(-1, 1, size=(100, 3))
    ...     return X, (X[:, 0] > 0).astype(int)
    >>> app = make_client_app(spec, load_site)
    """
    settings = clone(estimator)
    settings._validate_params()

    def make_client(context):
        X, y = load_site(context)
        site = clone(settings)
        dataset, module, criterion, seed = site._site_training(X, y)
        name = _site_name(context)
        plan = site_plan(site, name, len(dataset), site_count_seed(seed, int(name)))
        return SiteClient(site, module, SiteData(name, dataset), plan, int(name), seed, criterion)

    return build_client_app(settings, make_client)


def make_server_app(estimator, X_public, *, n_sites, output_path, max_site_rows=100_000):
    """The Flower ServerApp of a deployment; it writes the fitted estimator to ``output_path``.

    Parameters
    ----------
    estimator : FederatedDPAttentionClassifier
        Not fitted; the same parameters as the sites'.
    X_public : array-like or DataFrame
        A few public rows (made up, or published) with the columns and dtypes
        of the sites' data: the server reads only their layout, to build the
        model. It never sees a site's rows.
    n_sites : int
        Sites that take part (the public roster); each round waits for them
        to connect.
    output_path : str or path
        Where to pickle the fitted estimator after the last round.
    max_site_rows : int, default=100_000
        Secure aggregation at record level only: an upper bound on any site's
        number of rows (SecAgg+'s ``max_weight``).

    Returns
    -------
    flwr.server.ServerApp
    """
    settings = clone(estimator)
    settings._validate_params()
    attributes, module, noise_seed = settings._server_model(X_public)
    check_secure_aggregation(settings, n_sites)
    server = client_level_plan(settings, n_sites) if settings.dp_level == "client" else None
    strategy = make_strategy(settings, n_sites, get_arrays(module), server, noise_seed)

    def on_done():
        if strategy.error is not None:
            raise strategy.error
        names = tuple(sorted(strategy.site_metrics))
        site_plans = ()
        if server is None:
            site_plans = tuple(_reported_plan(settings, strategy.site_metrics[name]) for name in names)
            if not site_plans:
                raise RuntimeError(
                    "No site reported its DP-SGD settings (SecAgg+ hides them from the server), so "
                    "the server cannot account the record-level ε; each site's own calibration "
                    "still bounds it by epsilon."
                )
        plan = FederatedPlan(settings.dp_level, settings.n_rounds, settings.local_epochs, names, site_plans, server)
        fitted = settings._store_deployment(attributes, plan, strategy, module)
        with open(output_path, "wb") as f:
            pickle.dump(fitted, f)

    return build_server_app(
        strategy,
        n_rounds=settings.n_rounds,
        n_sampled=sites_per_round(settings, n_sites),
        secure_aggregation=settings.secure_aggregation,
        max_weight=max_site_rows if server is None else 1,
        on_done=on_done,
    )
