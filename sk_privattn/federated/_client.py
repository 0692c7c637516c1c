"""The Flower client of a site: receive the global model, train it locally, send it back."""

import copy
import math

import torch
from flwr.client import ClientApp, NumPyClient
from flwr.client.mod import fixedclipping_mod, secaggplus_mod

from ._site import get_arrays, round_seed, set_arrays, train_round

__all__ = ["PLAN_FIELDS", "SiteClient", "build_client_app"]

#: The fields of a site's TrainingPlan that it reports to the server (scalars,
#: as Flower's metrics must be); the server rebuilds the plan from them.
PLAN_FIELDS = ("n_samples", "batch_size", "steps_per_epoch", "sample_rate", "epochs", "noise_multiplier", "delta")


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
    plan : TrainingPlan
        The site's plan over all rounds (see :func:`._site.site_plan`).
    site_index : int
    seed : int
        Base of the per-round seeds of this site.
    """

    def __init__(self, estimator, module, data, plan, site_index, seed):
        self.estimator = estimator
        self.module = module
        self.data = data
        self.plan = plan
        self.site_index = site_index
        self.seed = seed

    def get_parameters(self, config):
        return get_arrays(self.module)

    def fit(self, parameters, config):
        set_arrays(self.module, parameters)
        seed = round_seed(self.seed, self.site_index, int(config["server_round"]))
        module = train_round(
            self.estimator, self.module, self.data, self.plan, seed, torch.nn.CrossEntropyLoss(reduction="none")
        )
        # Client level: every site weighs the same, so that one site moves the
        # average by at most clipping_norm / n_sampled, as DP-FedAvg assumes.
        weight = len(self.data) if self.estimator.dp_level == "record" else 1
        # The site's plan, which the server needs to account the record-level ε.
        metrics = {"site_index": self.site_index, **{name: getattr(self.plan, name) for name in PLAN_FIELDS}}
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


def simulation_client(estimator, module, sites, plans, seed):
    """``make_client`` for the simulation: the site is the node's partition id."""

    def make_client(context):
        index = int(context.node_config["partition-id"])
        return SiteClient(estimator, copy.deepcopy(module), sites[index], plans[index], index, seed)

    return make_client
