"""What one site does with its own rows: train the global model locally.

Nothing here imports Flower: the Flower client (:mod:`._client`) calls these
functions, so that the simulation and a real deployment run the same
training and the same accounting.
"""

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

from ..dpsgd import TensorBatchDataset, train_with

__all__ = ["SiteData", "clip_update", "get_arrays", "round_rng", "set_arrays", "train_round"]


@dataclass
class SiteData:
    """The encoded rows of one site, and its name (for messages only)."""

    name: object
    dataset: TensorBatchDataset

    def __len__(self):
        return len(self.dataset)


def get_arrays(module):
    """The module's state as a list of numpy arrays, in ``state_dict`` order."""
    return [tensor.detach().cpu().numpy().copy() for tensor in module.state_dict().values()]


def set_arrays(module, arrays):
    """Load arrays from :func:`get_arrays` (of the same architecture) into ``module``."""
    keys = list(module.state_dict())
    if len(keys) != len(arrays):
        raise ValueError(
            f"Received {len(arrays)} arrays for a module with {len(keys)} tensors: the server and "
            "the sites must build the model with the same parameters and public columns."
        )
    module.load_state_dict(OrderedDict((key, torch.as_tensor(np.asarray(a))) for key, a in zip(keys, arrays)))


def clip_update(new_arrays, old_arrays, clipping_norm):
    """``new_arrays`` with their update (``new - old``, all arrays as one vector)
    scaled down to L2 norm at most ``clipping_norm``. An update of zero stays zero."""
    updates = [np.asarray(new, dtype=np.float64) - old for new, old in zip(new_arrays, old_arrays)]
    norm = float(np.sqrt(sum(np.sum(update**2) for update in updates)))
    scale = min(1.0, clipping_norm / norm) if norm > 0 else 1.0
    return [(old + scale * update).astype(np.asarray(new).dtype)
            for new, old, update in zip(new_arrays, old_arrays, updates)]


def round_rng(site_seed, site_index, server_round):
    """A fresh generator for each site and round: reused DP noise or coins would break the accounting."""
    return np.random.default_rng([site_seed, site_index, server_round])


def train_round(estimator, module, data, plan, seed, criterion):
    """Train ``module`` (holding the global weights) on one site for one round, in place.

    Record level: DP-SGD with the site's noise, calibrated over all rounds.
    Client level: plain local training; the site clips the update
    (:func:`clip_update`) and the server noises the sum, not here.
    """
    # The federation accounts the site's plan over all rounds, not each round.
    result = train_with(estimator, module, data.dataset, plan.with_epochs(estimator.local_epochs),
                        criterion=criterion, seed=seed, account=False)
    return result.module
