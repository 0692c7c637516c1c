"""What one site does with its own rows: encode them, and train the global model locally.

Nothing here imports Flower: the Flower client (:mod:`._apps`) and the
estimator call these functions, so that the simulation and a real deployment
run the same training and the same accounting.
"""

import math
import warnings
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

from .._plan import plan_training
from .._training import TensorBatchDataset, train_module

__all__ = ["SiteData", "get_arrays", "set_arrays", "site_plan", "train_round"]


@dataclass
class SiteData:
    """The encoded rows of one site, and its name (for messages only)."""

    name: object
    x_num: np.ndarray
    x_cat: np.ndarray
    target: np.ndarray

    def __len__(self):
        return len(self.target)

    def dataset(self):
        inputs = {"x_num": torch.from_numpy(self.x_num), "x_cat": torch.from_numpy(self.x_cat)}
        return TensorBatchDataset(inputs, torch.as_tensor(self.target, dtype=torch.long))


def site_plan(estimator, name, n_rows):
    """The training plan of a site with ``n_rows`` rows over the whole federation.

    Record level: the noise is calibrated once, so that all ``n_rounds``
    rounds of ``local_epochs`` epochs compose to ``epsilon`` at the site's δ
    (``delta``, or ``1 / (10 * n_rows)``); each round trains
    ``plan.with_epochs(local_epochs)``. Client level (or ``epsilon=inf``):
    local training without noise. Only the number of rows, treated as public
    as in the central estimators, enters it.
    """
    private = estimator.dp_level == "record" and math.isfinite(estimator.epsilon)
    plan = plan_training(
        n_rows,
        epsilon=float(estimator.epsilon) if private else math.inf,
        delta=estimator.delta,
        batch_size=estimator.batch_size,
        epochs=estimator.local_epochs * estimator.n_rounds,
        accountant=estimator.accountant,
    )
    if plan.batch_size > n_rows:
        raise ValueError(
            f"Site {name!r} (a value of groups) has {n_rows} rows, fewer than batch_size={plan.batch_size}. "
            "Lower batch_size (or use batch_size='auto'), or merge this site with another."
        )
    if estimator.dp_level == "record" and plan.delta >= 1.0 / n_rows:
        warnings.warn(
            f"delta={plan.delta} is not below 1/n={1.0 / n_rows:.3g} for site {name!r} ({n_rows} rows): a "
            "mechanism that publishes one whole random row of that site meets that δ. Use "
            "delta=None (1/(10 n) per site) or a smaller value.",
            UserWarning,
            stacklevel=2,
        )
    return plan


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


def round_seed(random_state_seed, site_index, server_round):
    """A fresh seed for each site and round: reused DP noise would break the accounting."""
    return int(np.random.SeedSequence([random_state_seed, site_index, server_round]).generate_state(1)[0] >> 1)


def train_round(estimator, module, data, plan, seed, criterion):
    """Train ``module`` (holding the global weights) on one site for one round, in place.

    Record level: DP-SGD with the site's noise, calibrated over all rounds.
    Client level: plain local training; the update is clipped and noised by
    Flower's mods and strategy wrappers, not here.
    """
    result = train_module(
        module,
        data.dataset(),
        plan.with_epochs(estimator.local_epochs),
        criterion=criterion,
        max_grad_norm=estimator.max_grad_norm,
        lr=estimator.lr,
        optimizer=estimator.optimizer,
        weight_decay=estimator.weight_decay,
        device=estimator.device,
        seed=seed,
        verbose=0,
        lr_schedule=estimator.lr_schedule,
    )
    return result.module
