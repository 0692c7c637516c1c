"""The Flower server of a federation: FedAvg, client-level DP noise, SecAgg+, and fault tolerance."""

import math

import numpy as np
from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays
from flwr.server import LegacyContext, ServerApp, ServerConfig
from flwr.server.strategy import FedAvg, Strategy
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow

from ._plan import sites_per_round

__all__ = ["ClientLevelNoise", "FederationError", "FederationStrategy", "build_server_app", "make_strategy"]


class FederationError(RuntimeError):
    """More sites failed in a round than ``max_failed_fraction`` allows."""


def _fit_config(server_round):
    return {"server_round": server_round}


class ClientLevelNoise:
    """The server's step under client-level DP: the noisy sum of the updates over a fixed denominator.

    ``new = global + (sum of the clipped updates + N(0, (noise_multiplier *
    clipping_norm)^2)) / denominator``, for every weight, every round, also a
    round in which no site joined. The denominator is public (the expected
    number of sampled sites), so the release is a Gaussian mechanism of
    sensitivity ``clipping_norm`` on the sum, which the accountant composes.

    Parameters
    ----------
    plan : ClientLevelPlan
    clipping_norm : float
    seed : int
        Seeds the noise (from the operating system's secret entropy when the
        estimator's ``random_state`` is ``None``).
    """

    def __init__(self, plan, clipping_norm, seed):
        self.std = plan.noise_multiplier * clipping_norm
        self.denominator = plan.denominator
        self.generator = np.random.default_rng(seed)

    def __call__(self, global_arrays, results):
        """The new global arrays from ``results``, each a site's weights (global + its update).

        Under SecAgg+ every result holds the average of the updates instead,
        so the same sum over the results is the sum of the updates.
        """
        total = [np.zeros(array.shape) for array in global_arrays]
        for _, fit_res in results:
            for sum_, new, old in zip(total, parameters_to_ndarrays(fit_res.parameters), global_arrays):
                sum_ += np.asarray(new, dtype=np.float64) - old
        updated = []
        for sum_, old in zip(total, global_arrays):
            noise = self.generator.normal(0.0, self.std, size=old.shape) if self.std > 0 else 0.0
            updated.append((old + (sum_ + noise) / self.denominator).astype(old.dtype))
        return updated


class FederationStrategy(Strategy):
    """Flower strategy that wraps another, stops on too many failures and keeps the result.

    Parameters
    ----------
    strategy : flwr.server.strategy.Strategy
        FedAvg.
    max_failed_fraction : float
        A round in which more than this fraction of the sampled sites fail
        stops the federation with :class:`FederationError`.
    client_level : ClientLevelNoise or None, default=None
        Client level: how the updates become the new global model (instead
        of FedAvg's weighted average).
    on_round : callable or None, default=None
        ``on_round(server_round, arrays)`` after each aggregated round, with
        the new global model (e.g. to follow the test accuracy in a
        benchmark; each round's model is itself DP, by post-processing).

    Attributes
    ----------
    arrays : list of ndarray or None
        The global model after the last aggregated round.
    rounds : list of dict
        Per aggregated round: ``round``, ``n_results``, ``n_failures``,
        ``aggregated``.
    rounds_started : int
        Rounds that asked sites to train, aggregated or not: what the
        accounting counts.
    site_metrics : dict
        The last metrics each site reported, by ``site_index``.
    error : Exception or None
        What stopped the federation, if anything.
    """

    def __init__(self, strategy, max_failed_fraction, client_level=None, on_round=None):
        super().__init__()
        self.strategy = strategy
        self.max_failed_fraction = max_failed_fraction
        self.client_level = client_level
        self.on_round = on_round
        self.arrays = None
        self.rounds = []
        self.rounds_started = 0
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
        self.rounds_started += 1
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
        if self.client_level is not None:
            self.arrays = self.client_level(self.arrays, results)
            parameters, metrics = ndarrays_to_parameters(self.arrays), {}
        else:
            parameters, metrics = self.strategy.aggregate_fit(server_round, results, failures)
            if parameters is not None:
                self.arrays = parameters_to_ndarrays(parameters)
        if parameters is not None and self.on_round is not None:
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


def make_strategy(estimator, n_sites, initial_arrays, client_level_plan=None, noise_seed=None):
    """FedAvg over ``n_sites`` inside a FederationStrategy; at client level with the server's noise.

    ``client_level_plan`` (a :class:`~._plan.ClientLevelPlan`) and
    ``noise_seed`` are needed at client level only. There every site is asked
    every round (each joins by its own coin, and clips its update).
    """
    asked = sites_per_round(estimator, n_sites)
    client_level = estimator.dp_level == "client"
    strategy = FedAvg(
        fraction_fit=asked / n_sites,
        fraction_evaluate=0.0,
        min_fit_clients=asked,
        min_evaluate_clients=0,
        min_available_clients=n_sites,
        accept_failures=True,
        initial_parameters=ndarrays_to_parameters(initial_arrays),
        on_fit_config_fn=_fit_config,
    )
    noise = ClientLevelNoise(client_level_plan, estimator.clipping_norm, noise_seed) if client_level else None
    return FederationStrategy(strategy, estimator.max_failed_fraction, client_level=noise)


def build_server_app(strategy, *, n_rounds, n_sampled, secure_aggregation, max_weight, on_done=None):
    """A Flower ServerApp running ``strategy`` for ``n_rounds`` rounds.

    With ``secure_aggregation``, the fit rounds run Flower's SecAgg+ protocol:
    every sampled site (at least 2) shares its mask with all others, and any
    ``reconstruction_threshold`` (a majority, at least 2) of them can unmask
    the sum if some drop out. ``max_weight`` must bound every site's
    aggregation weight (its number of rows under record-level DP, 1 at
    client level).
    ``on_done()`` runs after the last round.
    """
    app = ServerApp()

    @app.main()
    def main(grid, context):
        legacy = LegacyContext(context=context, config=ServerConfig(num_rounds=n_rounds), strategy=strategy)
        fit_workflow = None
        if secure_aggregation:
            fit_workflow = SecAggPlusWorkflow(
                num_shares=1.0,  # every sampled site: Flower refuses 2 as an int
                reconstruction_threshold=max(2, math.floor(n_sampled / 2) + 1),
                max_weight=float(max_weight),
            )
        DefaultWorkflow(fit_workflow=fit_workflow)(grid, legacy)
        if on_done is not None:
            on_done()

    return app
