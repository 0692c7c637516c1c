"""Flower apps for a real deployment: each site runs the ClientApp on its own data."""

import pickle

from sklearn.base import clone

from .._plan import TrainingPlan
from ._client import PLAN_FIELDS, SiteClient, build_client_app
from ._server import build_server_app, make_strategy
from ._site import SiteData, get_arrays, set_arrays, site_plan

__all__ = ["make_client_app", "make_server_app"]


def _site_name(context):
    return context.node_config.get("partition-id", context.node_id)


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
    settings._check_params()

    def make_client(context):
        X, y = load_site(context)
        site = clone(settings)
        _, _, encoder, x_num, x_cat, _ = site._prepare_inputs(X, deployment=True)
        classes, target = site._encode_classes(y)
        module, seed = site._initial_module(encoder, len(classes))
        name = _site_name(context)
        data = SiteData(name, x_num, x_cat, target)
        return SiteClient(site, module, data, site_plan(site, name, len(data)), int(name), seed)

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
        Sites that take part; each round waits for them to connect.
    output_path : str or path
        Where to pickle the fitted estimator after the last round.
    max_site_rows : int, default=100_000
        Secure aggregation only: an upper bound on any site's number of rows
        (SecAgg+'s ``max_weight``).

    Returns
    -------
    flwr.server.ServerApp
    """
    settings = clone(estimator)
    settings._check_params()
    _, is_categorical, encoder, _, _, _ = settings._prepare_inputs(X_public, deployment=True)
    classes = settings._encode_classes(settings.classes)[0]
    module, _ = settings._initial_module(encoder, len(classes))
    n_sampled = settings._check_sampling(n_sites)
    client_noise, client_delta = settings._client_level_noise(n_sites, n_sampled)
    strategy = make_strategy(settings, n_sites, get_arrays(module), client_noise)

    def on_done():
        if strategy.error is not None:
            raise strategy.error
        set_arrays(module, strategy.arrays)
        plans = {
            name: TrainingPlan(**{field: metrics[field] for field in PLAN_FIELDS}, accountant=settings.accountant)
            for name, metrics in strategy.site_metrics.items()
        }
        if not plans:
            raise RuntimeError(
                "No site reported its DP-SGD settings (SecAgg+ hides them from the server), so "
                "the server cannot account the record-level ε; each site's own calibration "
                "still bounds it by epsilon."
            )
        settings._set_fitted(encoder, is_categorical, classes, module, plans, strategy.rounds,
                             client_noise, client_delta, n_sampled / n_sites)
        with open(output_path, "wb") as f:
            pickle.dump(settings, f)

    return build_server_app(
        strategy,
        n_rounds=settings.n_rounds,
        n_sampled=n_sampled,
        secure_aggregation=settings.secure_aggregation,
        max_weight=max_site_rows,
        on_done=on_done,
    )
