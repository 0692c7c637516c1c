"""The Flower server of a federation: FedAvg, Flower's DP wrapper, SecAgg+, and fault tolerance."""

import math

from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays
from flwr.server import LegacyContext, ServerApp, ServerConfig
from flwr.server.strategy import DifferentialPrivacyClientSideFixedClipping, FedAvg, Strategy
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow

__all__ = ["FederationError", "FederationStrategy", "build_server_app", "n_sampled_sites"]


class FederationError(RuntimeError):
    """More sites failed in a round than ``max_failed_fraction`` allows."""


def n_sampled_sites(fraction_fit, n_sites):
    """How many sites Flower's FedAvg samples per round (at least one)."""
    return max(1, int(n_sites * fraction_fit))


def _fit_config(server_round):
    return {"server_round": server_round}


class FederationStrategy(Strategy):
    """Flower strategy that wraps another, stops on too many failures and keeps the result.

    Parameters
    ----------
    strategy : flwr.server.strategy.Strategy
        FedAvg, or FedAvg wrapped by Flower's client-side DP clipping.
    max_failed_fraction : float
        A round in which more than this fraction of the sampled sites fail
        stops the federation with :class:`FederationError`.
    on_round : callable or None, default=None
        ``on_round(server_round, arrays)`` after each aggregated round, with
        the new global model (e.g. to follow the test accuracy in a
        benchmark; each round's model is itself DP, by post-processing).

    Attributes
    ----------
    arrays : list of ndarray or None
        The global model after the last aggregated round.
    rounds : list of dict
        Per round: ``round``, ``n_results``, ``n_failures``, ``aggregated``.
    site_metrics : dict
        The last metrics each site reported, by ``site_index``.
    error : Exception or None
        What stopped the federation, if anything.
    """

    def __init__(self, strategy, max_failed_fraction, on_round=None):
        super().__init__()
        self.strategy = strategy
        self.max_failed_fraction = max_failed_fraction
        self.on_round = on_round
        self.arrays = None
        self.rounds = []
        self.site_metrics = {}
        self.error = None

    def __repr__(self):
        return f"FederationStrategy({self.strategy!r})"

    def initialize_parameters(self, client_manager):
        parameters = self.strategy.initialize_parameters(client_manager)
        if parameters is not None:
            self.arrays = parameters_to_ndarrays(parameters)
        return parameters

    def configure_fit(self, server_round, parameters, client_manager):
        return self.strategy.configure_fit(server_round, parameters, client_manager)

    def aggregate_fit(self, server_round, results, failures):
        n_sampled = len(results) + len(failures)
        if len(failures) > self.max_failed_fraction * n_sampled:
            reasons = "; ".join(_describe(failure) for failure in failures)
            self.error = FederationError(
                f"{len(failures)} of the {n_sampled} sites sampled in round {server_round} failed, "
                f"more than max_failed_fraction={self.max_failed_fraction} allows: {reasons}"
            )
            raise self.error
        for _, fit_res in results:
            if "site_index" in fit_res.metrics:
                self.site_metrics[int(fit_res.metrics["site_index"])] = dict(fit_res.metrics)
        parameters, metrics = self.strategy.aggregate_fit(server_round, results, failures)
        if parameters is not None:
            self.arrays = parameters_to_ndarrays(parameters)
            if self.on_round is not None:
                self.on_round(server_round, self.arrays)
        self.rounds.append(
            {
                "round": server_round,
                "n_results": len(results),
                "n_failures": len(failures),
                "aggregated": parameters is not None,
            }
        )
        return parameters, metrics

    def configure_evaluate(self, server_round, parameters, client_manager):
        return []

    def aggregate_evaluate(self, server_round, results, failures):
        return None, {}

    def evaluate(self, server_round, parameters):
        return None


def _describe(failure):
    if isinstance(failure, BaseException):
        return f"{type(failure).__name__}: {failure}"
    _, res = failure
    return f"{getattr(res, 'status', res)}"


def make_strategy(estimator, n_sites, initial_arrays, noise_multiplier):
    """FedAvg over ``n_sites`` (wrapped for client-level DP) inside a FederationStrategy."""
    n_sampled = n_sampled_sites(estimator.fraction_fit, n_sites)
    strategy = FedAvg(
        fraction_fit=estimator.fraction_fit,
        fraction_evaluate=0.0,
        min_fit_clients=n_sampled,
        min_evaluate_clients=0,
        min_available_clients=n_sites,
        accept_failures=True,
        initial_parameters=ndarrays_to_parameters(initial_arrays),
        on_fit_config_fn=_fit_config,
    )
    if estimator.dp_level == "client" and math.isfinite(estimator.epsilon):
        strategy = DifferentialPrivacyClientSideFixedClipping(
            strategy,
            noise_multiplier=noise_multiplier,
            clipping_norm=estimator.clipping_norm,
            num_sampled_clients=n_sampled,
        )
    return FederationStrategy(strategy, estimator.max_failed_fraction)


def build_server_app(strategy, *, n_rounds, n_sampled, secure_aggregation, max_weight, on_done=None):
    """A Flower ServerApp running ``strategy`` for ``n_rounds`` rounds.

    With ``secure_aggregation``, the fit rounds run Flower's SecAgg+ protocol:
    every sampled site (at least 3) shares its mask with all others, and any
    ``reconstruction_threshold`` (a majority, at least 2) of them can unmask
    the sum if some drop out. ``max_weight`` must bound every site's
    aggregation weight (its number of rows under record-level DP).
    ``on_done()`` runs after the last round.
    """
    app = ServerApp()

    @app.main()
    def main(grid, context):
        legacy = LegacyContext(context=context, config=ServerConfig(num_rounds=n_rounds), strategy=strategy)
        fit_workflow = None
        if secure_aggregation:
            fit_workflow = SecAggPlusWorkflow(
                num_shares=n_sampled,
                reconstruction_threshold=max(2, math.floor(n_sampled / 2) + 1),
                max_weight=float(max_weight),
            )
        DefaultWorkflow(fit_workflow=fit_workflow)(grid, legacy)
        if on_done is not None:
            on_done()

    return app
