"""What one site does with its own rows: encode them, and train the global model locally.

Nothing here imports Flower: the Flower client (:mod:`._apps`) and the
estimator call these functions, so that the simulation and a real deployment
run the same training and the same accounting.
"""

import functools
import math
import warnings
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

from .._training import TensorBatchDataset, train_module
from ..privacy import calibrate_noise_multiplier, default_delta

__all__ = ["SiteData", "get_arrays", "set_arrays", "site_mechanism", "train_round"]


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


@dataclass
class SiteMechanism:
    """The DP-SGD mechanism of one site over the whole federation (record level).

    Attributes
    ----------
    batch_size : int
    sample_rate : float
        Poisson sampling probability of each row per local step.
    steps_per_round : int
    noise_multiplier : float
        0.0 when the site does not run DP-SGD (``epsilon=inf`` or client level).
    delta : float
    """

    batch_size: int
    sample_rate: float
    steps_per_round: int
    noise_multiplier: float
    delta: float

    def history(self, n_rounds):
        """Opacus' accountant history of ``n_rounds`` rounds of this site."""
        return [(self.noise_multiplier, self.sample_rate, self.steps_per_round * n_rounds)]


def site_mechanism(estimator, name, n_rows):
    """Batch size, sampling and noise of a site with ``n_rows`` rows.

    Record level: the noise is calibrated once, so that all ``n_rounds``
    rounds of ``local_epochs`` epochs compose to ``epsilon`` at the site's δ
    (``delta``, or ``1 / (10 * n_rows)``). Only the number of rows, treated as
    public as in the central estimators, enters it.
    """
    batch_size = estimator._resolve_batch_size(n_rows)
    if batch_size > n_rows:
        raise ValueError(
            f"Site {name!r} (a value of groups) has {n_rows} rows, fewer than batch_size={batch_size}. "
            "Lower batch_size (or use batch_size='auto'), or merge this site with another."
        )
    steps_per_epoch = math.ceil(n_rows / batch_size)
    delta = estimator.delta if estimator.delta is not None else default_delta(n_rows)
    if estimator.dp_level == "record" and delta >= 1.0 / n_rows:
        warnings.warn(
            f"delta={delta} is not below 1/n={1.0 / n_rows:.3g} for site {name!r} ({n_rows} rows): a "
            "mechanism that publishes one whole random row of that site meets that δ. Use "
            "delta=None (1/(10 n) per site) or a smaller value.",
            UserWarning,
            stacklevel=2,
        )
    noise_multiplier = 0.0
    if estimator.dp_level == "record" and math.isfinite(estimator.epsilon):
        noise_multiplier = _calibrate(
            float(estimator.epsilon),
            delta,
            1.0 / steps_per_epoch,
            steps_per_epoch * estimator.local_epochs * estimator.n_rounds,
            estimator.accountant,
        )
    return SiteMechanism(
        batch_size=batch_size,
        sample_rate=1.0 / steps_per_epoch,
        steps_per_round=steps_per_epoch * estimator.local_epochs,
        noise_multiplier=noise_multiplier,
        delta=delta,
    )


@functools.lru_cache(maxsize=256)
def _calibrate(epsilon, delta, sample_rate, steps, accountant):
    # Sites of the same size need the same noise: calibrate it once.
    return calibrate_noise_multiplier(
        epsilon=epsilon, delta=delta, sample_rate=sample_rate, steps=steps, accountant=accountant
    )


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


def train_round(estimator, module, data, mechanism, seed, criterion):
    """Train ``module`` (holding the global weights) on one site for one round, in place.

    Record level: DP-SGD with the site's fixed noise. Client level: plain
    local training; the update is clipped and noised by Flower's mods and
    strategy wrappers, not here.
    """
    private = estimator.dp_level == "record" and math.isfinite(estimator.epsilon)
    result = train_module(
        module,
        data.dataset(),
        criterion=criterion,
        epsilon=float(estimator.epsilon) if private else math.inf,
        delta=mechanism.delta,
        max_grad_norm=estimator.max_grad_norm,
        accountant=estimator.accountant,
        max_epochs=estimator.local_epochs,
        batch_size=mechanism.batch_size,
        lr=estimator.lr,
        optimizer=estimator.optimizer,
        weight_decay=estimator.weight_decay,
        device=estimator.device,
        seed=seed,
        verbose=0,
        lr_schedule=estimator.lr_schedule,
        noise_multiplier=mechanism.noise_multiplier if private else None,
    )
    return result.module
