"""The Flower client of a site: receive the global model, train it locally, send it back."""

import copy
import math

import torch
from flwr.client import ClientApp, NumPyClient
from flwr.client.mod import fixedclipping_mod, secaggplus_mod

from ._site import get_arrays, round_seed, set_arrays, train_round

__all__ = ["SiteClient", "build_client_app"]


class SiteClient(NumPyClient):
    """One site's Flower client (Flower's NumPyClient interface).

    Parameters
    ----------
    estimator : FederatedDPAttentionClassifier
        Carries the training settings; not fitted.
    module : torch.nn.Module
        A module of the federation's architecture; its weights are replaced
        by the global ones at every round.
    data : SiteData
    mechanism : SiteMechanism
    site_index : int
    seed : int
        Base of the per-round seeds of this site.
    """

    def __init__(self, estimator, module, data, mechanism, site_index, seed):
        self.estimator = estimator
        self.module = module
        self.data = data
        self.mechanism = mechanism
        self.site_index = site_index
        self.seed = seed

    def get_parameters(self, config):
        return get_arrays(self.module)

    def fit(self, parameters, config):
        set_arrays(self.module, parameters)
        seed = round_seed(self.seed, self.site_index, int(config["server_round"]))
        module = train_round(
            self.estimator, self.module, self.data, self.mechanism, seed, torch.nn.CrossEntropyLoss
        )
        # Client level: every site weighs the same, so that one site moves the
        # average by at most clipping_norm / n_sampled, as DP-FedAvg assumes.
        weight = len(self.data) if self.estimator.dp_level == "record" else 1
        metrics = {
            "site_index": self.site_index,
            "noise_multiplier": self.mechanism.noise_multiplier,
            "sample_rate": self.mechanism.sample_rate,
            "steps": self.mechanism.steps_per_round,
            "batch_size": self.mechanism.batch_size,
            "delta": self.mechanism.delta,
        }
        return get_arrays(module), weight, metrics


def build_client_app(estimator, make_client):
    """A Flower ClientApp whose ``client_fn`` is ``make_client(context)``.

    The mods follow the settings: ``secaggplus_mod`` for secure aggregation,
    ``fixedclipping_mod`` for client-level DP with a finite ε (innermost, so
    that the update is clipped before it is masked).
    """
    mods = []
    if estimator.secure_aggregation:
        mods.append(secaggplus_mod)
    if estimator.dp_level == "client" and math.isfinite(estimator.epsilon):
        mods.append(fixedclipping_mod)

    def client_fn(context):
        return make_client(context).to_client()

    return ClientApp(client_fn=client_fn, mods=mods)


def simulation_client(estimator, module, sites, mechanisms, seed):
    """``make_client`` for the simulation: the site is the node's partition id."""

    def make_client(context):
        index = int(context.node_config["partition-id"])
        return SiteClient(estimator, copy.deepcopy(module), sites[index], mechanisms[index], index, seed)

    return make_client
