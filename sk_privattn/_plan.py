"""The training plan of a DP fit: the one source of n, the batch size, the
steps, the sample rate, the noise and δ.

Everything that needs one of these numbers (the training loop and its
Poisson sampler, the accountant, the ledger, the budget, private model
selection, each site of a federation) reads them from a :class:`TrainingPlan`
made by :func:`plan_training`, never recomputes them. The plan reads nothing
but the number of rows, which is treated as public, and the parameters.
"""

import math
from dataclasses import dataclass, replace

from .privacy import calibrate_noise_multiplier, compute_epsilon, default_delta

__all__ = ["TrainingPlan", "plan_training", "resolve_batch_size"]

#: Largest batch that ``batch_size="auto"`` picks.
MAX_AUTO_BATCH_SIZE = 1024


def resolve_batch_size(batch_size, n_samples):
    """``batch_size``, or for "auto" ``round(sqrt(32 * n))`` capped at 1024.

    On 32,000 rows "auto" gives the 1024 the defaults were tuned with (32
    steps per epoch); on a few thousand rows it keeps enough steps for DP-SGD
    to learn. Only ``n_samples`` enters it.
    """
    if batch_size == "auto":
        return int(min(MAX_AUTO_BATCH_SIZE, max(1, round(math.sqrt(32 * n_samples)))))
    return int(batch_size)


@dataclass(frozen=True)
class TrainingPlan:
    """What a DP fit will run: ``epochs`` epochs of ``steps_per_epoch`` steps.

    At each step every row joins the batch independently with probability
    ``sample_rate`` (Poisson sampling), the clipped gradients are summed and
    Gaussian noise of standard deviation ``noise_multiplier * max_grad_norm``
    is added. The sample rate is exactly ``1 / steps_per_epoch``, so that an
    epoch sees each row once in expectation, and the sampler runs exactly
    ``steps_per_epoch`` steps: what the accountant composes is what runs.

    Attributes
    ----------
    n_samples : int
    batch_size : int
        Expected batch size asked for; the expected size of a Poisson batch
        is ``n_samples * sample_rate``.
    steps_per_epoch : int
        ``ceil(n_samples / batch_size)``.
    sample_rate : float
        ``1 / steps_per_epoch``.
    epochs : int
    noise_multiplier : float
        0.0 for a plan without privacy (ε = inf).
    delta : float
    accountant : str
    prior_history : tuple of (noise_multiplier, sample_rate, steps)
        Mechanisms that earlier calls ran on the same rows (a warm start),
        which the ε of this plan composes with.
    """

    n_samples: int
    batch_size: int
    steps_per_epoch: int
    sample_rate: float
    epochs: int
    noise_multiplier: float
    delta: float
    accountant: str
    prior_history: tuple = ()

    @property
    def n_steps(self):
        """Optimizer steps of the whole plan."""
        return self.steps_per_epoch * self.epochs

    @property
    def private(self):
        return self.noise_multiplier > 0

    def history(self, steps=None):
        """This plan's mechanism after ``steps`` steps (all of them by default), as
        Opacus' accountant history: ``[(noise_multiplier, sample_rate, steps)]``."""
        steps = self.n_steps if steps is None else int(steps)
        return [(self.noise_multiplier, self.sample_rate, steps)]

    def epsilon(self, steps=None):
        """ε spent after ``steps`` steps of this plan, composed with ``prior_history``."""
        if not self.private:
            return math.inf
        return compute_epsilon([*self.prior_history, *self.history(steps)], self.delta, self.accountant)

    @property
    def expected_batch_size(self):
        """``n_samples * sample_rate``: the mean size of a Poisson batch."""
        return self.n_samples * self.sample_rate

    def noise_to_signal(self, n_parameters):
        """How much the noise outweighs the largest signal in the average of all updates.

        Each step adds Gaussian noise of norm about
        ``noise_multiplier * max_grad_norm * sqrt(n_parameters)`` to a sum of
        ``expected_batch_size`` clipped gradients, each of norm at most
        ``max_grad_norm``. Averaged over ``n_steps`` steps, noise and signal
        compare as ``noise_multiplier * sqrt(n_parameters) /
        (expected_batch_size * sqrt(n_steps))``. Above 1 the noise drowns even
        gradients that all point the same way. For a fixed ε it scales as
        ``sqrt(n_parameters) / (epsilon * n_samples)``: more rows, a larger ε
        or a smaller model lower it; batch size and epochs barely do. All of
        it is public (the parameters and n); 0.0 without privacy.
        """
        if not self.private:
            return 0.0
        return self.noise_multiplier * math.sqrt(n_parameters) / (self.expected_batch_size * math.sqrt(self.n_steps))

    def with_epochs(self, epochs):
        """The same mechanism for ``epochs`` epochs: one round of a site that
        was calibrated over all its rounds."""
        return replace(self, epochs=int(epochs))


def plan_training(
    n_samples,
    *,
    epsilon,
    delta,
    batch_size,
    epochs,
    accountant,
    prior_history=(),
    noise_multiplier=None,
):
    """The plan of a DP fit on ``n_samples`` rows.

    Parameters
    ----------
    n_samples : int
        At least 1.
    epsilon : float
        ε that the plan may spend, composed with ``prior_history``; ``inf``
        for a plan without clipping or noise.
    delta : float or None
        ``None`` uses ``1 / (10 * n_samples)``.
    batch_size : int or "auto"
    epochs : int
    accountant : {"prv", "rdp", "gdp"}
    prior_history : sequence of (noise_multiplier, sample_rate, steps), default=()
    noise_multiplier : float, default=None
        Skip the calibration and use this noise (a caller that calibrated it
        already); ``epsilon`` must then be finite.

    Returns
    -------
    TrainingPlan

    Examples
    --------
    >>> from sk_privattn._plan import plan_training
    >>> plan = plan_training(930, epsilon=1.0, delta=1e-4, batch_size=10, epochs=1, accountant="prv")
    >>> plan.steps_per_epoch, plan.sample_rate == 1 / 93, plan.n_steps
    (93, True, 93)
    >>> plan.epsilon() <= 1.0
    True
    """
    n_samples = int(n_samples)
    if n_samples < 1:
        raise ValueError(f"Found {n_samples} sample(s), while a DP fit needs a minimum of 1.")
    batch_size = resolve_batch_size(batch_size, n_samples)
    steps_per_epoch = math.ceil(n_samples / batch_size)
    sample_rate = 1.0 / steps_per_epoch
    delta = float(delta) if delta is not None else default_delta(n_samples)
    prior_history = tuple(tuple(entry) for entry in prior_history)
    if not math.isfinite(epsilon):
        noise_multiplier = 0.0
    elif noise_multiplier is None:
        noise_multiplier = calibrate_noise_multiplier(
            epsilon=float(epsilon),
            delta=delta,
            sample_rate=sample_rate,
            steps=steps_per_epoch * int(epochs),
            accountant=accountant,
            prior_history=prior_history,
        )
    return TrainingPlan(
        n_samples=n_samples,
        batch_size=batch_size,
        steps_per_epoch=steps_per_epoch,
        sample_rate=sample_rate,
        epochs=int(epochs),
        noise_multiplier=float(noise_multiplier),
        delta=delta,
        accountant=accountant,
        prior_history=prior_history,
    )
