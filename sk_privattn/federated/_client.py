"""The Flower client of a site: receive the global model, train it locally, send it back."""

import copy
import math

from flwr.client import ClientApp, NumPyClient
from flwr.client.mod import secaggplus_mod

from ._site import clip_update, get_arrays, round_rng, set_arrays, train_round

__all__ = ["PLAN_FIELDS", "SiteClient", "build_client_app", "simulation_client"]

#: The fields of a site's TrainingPlan that it reports to the server at record
#: level (scalars, as Flower's metrics must be); the server rebuilds the plan
#: from them to account the record-level ε.
PLAN_FIELDS = (
    "n_samples", "batch_size", "steps_per_epoch", "sample_rate", "epochs", "noise_multiplier", "delta",
    "count_epsilon",
)


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
        The site's plan over all rounds (see :func:`._plan.site_plan`).
    site_index : int
    seed : int
        Base of the site's coins and training seeds, one per round.
    criterion : type or torch.nn.Module
        The loss.
    """

    def __init__(self, estimator, module, data, plan, site_index, seed, criterion):
        self.estimator = estimator
        self.module = module
        self.data = data
        self.plan = plan
        self.site_index = site_index
        self.seed = seed
        self.criterion = criterion

    def get_parameters(self, config):
        return get_arrays(self.module)

    def fit(self, parameters, config):
        rng = round_rng(self.seed, self.site_index, int(config["server_round"]))
        client_level = self.estimator.dp_level == "client"
        # Client level: the site joins the round by its own coin (Poisson
        # sampling of sites, as the accountant assumes). A site that does not
        # join sends the global model back, an update of zero, so that under
        # SecAgg+ the server does not even learn which sites joined.
        if client_level and rng.random() >= self.estimator.fraction_fit:
            return parameters, 1, {"site_index": self.site_index}
        set_arrays(self.module, parameters)
        module = train_round(self.estimator, self.module, self.data, self.plan, _seed(rng), self.criterion)
        if client_level:
            # Every site weighs the same: the server sums the updates, each clipped here.
            arrays = get_arrays(module)
            if math.isfinite(self.estimator.epsilon):
                arrays = clip_update(arrays, parameters, self.estimator.clipping_norm)
            return arrays, 1, {"site_index": self.site_index}
        # Record level: weighted by the count of its rows that its plan read
        # (public, or its DP count: under add-or-remove its exact size is
        # private), with the site's plan, which the server needs to account
        # the record-level ε.
        metrics = {"site_index": self.site_index, **{name: getattr(self.plan, name) for name in PLAN_FIELDS}}
        return get_arrays(module), int(self.plan.n_samples), metrics


def _seed(rng):
    return int(rng.integers(2**31 - 1))


def build_client_app(estimator, make_client):
    """A Flower ClientApp whose ``client_fn`` is ``make_client(context)``.

    With secure aggregation, ``secaggplus_mod`` masks what the client
    returns: at client level the update is clipped before (in
    :meth:`SiteClient.fit`).
    """
    mods = [secaggplus_mod] if estimator.secure_aggregation else []

    def client_fn(context):
        return make_client(context).to_client()

    return ClientApp(client_fn=client_fn, mods=mods)


def simulation_client(estimator, module, sites, plans, seed, criterion):
    """``make_client`` for the simulation: the site is the node's partition id."""

    def make_client(context):
        index = int(context.node_config["partition-id"])
        return SiteClient(estimator, copy.deepcopy(module), sites[index], plans[index], index, seed, criterion)

    return make_client
