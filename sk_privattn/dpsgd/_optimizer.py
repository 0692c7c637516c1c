"""The DP-SGD step: per-sample clipping (with a weight per row), Gaussian
noise and the accountant.

:func:`make_private` attaches them to a module and its optimizer for one
:class:`~sk_privattn.privacy.TrainingPlan`: the accountant records the plan's
sample rate at every step, so the plan is the one source of what is
accounted. The clipping is :class:`BookKeepingClipper`
(one backward pass, no per-sample gradient) where it covers every layer of
the module, and Opacus' per-sample gradient hooks elsewhere; the noise, the
step and the accountant are Opacus' own. :func:`strip_opacus_state` removes
everything Opacus left on the module once training stops.
"""

import torch
from opacus.accountants import create_accountant
from opacus.grad_sample import GradSampleHooks
from opacus.optimizers import DPOptimizer, DPOptimizerFastGradientClipping
from opacus.validators import ModuleValidator

from ..privacy import quiet_accounting
from ._clipping import BookKeepingClipper, covers

__all__ = ["DPSGD", "RowWeightedDPOptimizer", "make_private", "strip_opacus_state"]

#: The values of ``make_private``'s ``clipping``.
CLIPPING = ("auto", "bookkeeping", "opacus")

#: Attributes that Opacus' hooks set on a module while it trains: the
#: activations of the current batch among them.
_OPACUS_MODULE_ATTRIBUTES = ("activations", "max_batch_len", "ft_compute_sample_grad", "autograd_grad_sample_hooks")


class _NoiseDrawnOnCPU:
    """Draw the Gaussian noise with the optimizer's CPU generator, whatever the
    parameters' device.

    Opacus draws it on each parameter's device, with a generator of that
    device; drawn on the CPU (as Opacus draws it there) and moved, the noise
    of a fit on a GPU is the noise of the same fit on the CPU.
    """

    def add_noise(self):
        std = self.noise_multiplier * self.max_grad_norm
        for p in self.params:
            noise = torch.normal(mean=0, std=std, size=p.summed_grad.shape, generator=self.generator)
            p.grad = (p.summed_grad + noise.to(p.summed_grad.device)).view_as(p)


class _NoiseOnlyDPOptimizer(_NoiseDrawnOnCPU, DPOptimizerFastGradientClipping):
    """Opacus' DP optimizer for gradients clipped already (by :class:`BookKeepingClipper`):
    it adds the noise to ``.grad``, scales by the expected batch size and steps."""


class RowWeightedDPOptimizer(_NoiseDrawnOnCPU, DPOptimizer):
    """Opacus' DP optimizer, where each row's clipped gradient is multiplied by its weight.

    Before a step, ``row_weight`` holds the weight of each row of the batch,
    in [0, 1] (``None``: all 1). Row ``i`` contributes ``w_i * clip(g_i)``,
    where ``clip`` scales the per-sample gradient ``g_i`` to norm at most
    ``max_grad_norm``: a weight acts on every row, the clipped ones included,
    and no row contributes more than ``max_grad_norm``, so the noise that
    Opacus calibrates for ``max_grad_norm`` still bounds one row's influence.
    (A weight applied to the loss before clipping would be undone by the
    clipping of every row whose gradient is clipped.)
    """

    row_weight = None
    #: Person-level: the batch's units are blocks of this many rows, whose gradients are
    #: summed into one per unit before the clipping (``None``: each row is a unit).
    rows_per_unit = None

    def clip_and_accumulate(self):
        if self.rows_per_unit is not None:
            for p in self.params:
                units = p.grad_sample.reshape(-1, self.rows_per_unit, *p.grad_sample.shape[1:])
                p.grad_sample = units.sum(dim=1)
        if self.row_weight is not None and len(self.grad_samples[0]):
            norms = torch.stack([g.reshape(len(g), -1).norm(2, dim=-1) for g in self.grad_samples], dim=1).norm(2, dim=1)
            factor = (self.max_grad_norm / (norms + 1e-6)).clamp(max=1.0) * self.row_weight.to(norms)
            for p in self.params:
                shape = (-1,) + (1,) * (p.grad_sample.dim() - 1)
                p.grad_sample = p.grad_sample * factor.to(p.grad_sample).view(shape)
            # Every row now has norm at most max_grad_norm: Opacus' own clipping
            # below leaves it as it is, and sums.
        super().clip_and_accumulate()


class DPSGD:
    """DP-SGD attached to a module and its optimizer (made by :func:`make_private`).

    A training step calls :meth:`backward` instead of ``loss.backward()``,
    then ``optimizer.step()``: the optimizer adds the noise, steps, and
    feeds the accountant.

    Attributes
    ----------
    optimizer : opacus.optimizers.DPOptimizer
        Wraps the module's optimizer.
    accountant : opacus.accountants.IAccountant
    clipping : {"bookkeeping", "opacus"}
        Which per-sample clipping runs.
    """

    def __init__(self, optimizer, accountant, clipper=None, hooks=None):
        self.optimizer = optimizer
        self.accountant = accountant
        self.clipping = "bookkeeping" if clipper is not None else "opacus"
        self._clipper = clipper
        self._hooks = hooks

    def backward(self, loss, *, batch_size, row_weight=None, rows_per_unit=None):
        """Leave on each parameter what the optimizer needs to add noise to: the sum
        over the batch's rows of ``row_weight[i] * clip(g_i)``; or, with
        ``rows_per_unit``, over its units (blocks of that many rows, a person's)
        of ``clip(g_u)``, ``g_u`` the unit's gradient.

        ``loss`` is the mean over the ``batch_size`` rows of each row's own loss
        (weighted inside its unit, for units).
        """
        if self._clipper is not None:
            self._clipper.backward(loss, batch_size=batch_size, row_weight=row_weight, rows_per_unit=rows_per_unit)
        else:
            self.optimizer.row_weight = row_weight
            self.optimizer.rows_per_unit = rows_per_unit
            loss.backward()

    def cleanup(self):
        """Remove the hooks and what the last batch left on them (the parameters'
        own state is for :func:`strip_opacus_state`)."""
        for attached in (self._clipper, self._hooks):
            if attached is not None:
                attached.cleanup()
        self._clipper = self._hooks = None


def make_private(module, optimizer, plan, *, max_grad_norm, noise_generator, clipping="auto"):
    """Attach DP-SGD to ``module`` and ``optimizer`` for ``plan``.

    Parameters
    ----------
    module, optimizer
    plan : TrainingPlan
    max_grad_norm : float
    noise_generator : torch.Generator
        A CPU generator, whatever the device of ``module``.
    clipping : {"auto", "bookkeeping", "opacus"}, default="auto"
        "bookkeeping": :class:`BookKeepingClipper` and
        Opacus' noise-only optimizer; "opacus": Opacus' per-sample gradient
        hooks and :class:`RowWeightedDPOptimizer`; "auto": "bookkeeping" when
        it covers every layer of ``module``. Both clip to the same sum.

    Returns
    -------
    DPSGD
        Its ``accountant`` (Opacus' RDP accountant, used as a record) holds
        every step at the plan's sample rate.
    """
    if clipping not in CLIPPING:
        raise ValueError(f"clipping={clipping!r}; use one of {CLIPPING}.")
    ModuleValidator.validate(module, strict=True)
    options = dict(
        noise_multiplier=plan.noise_multiplier,
        max_grad_norm=max_grad_norm,
        # The mean over a Poisson batch divides by its expected size, not by its
        # size: the size is random, and reveals which rows were sampled. The
        # expected size is the plan's, from its public or DP count of the rows,
        # never from the exact count, which add-or-remove protects.
        expected_batch_size=plan.expected_batch_size,
        loss_reduction="mean",
        generator=noise_generator,
    )
    clipper = hooks = None
    if clipping == "bookkeeping" or (clipping == "auto" and covers(module)):
        clipper = BookKeepingClipper(module, max_grad_norm=max_grad_norm)
        dp_optimizer = _NoiseOnlyDPOptimizer(optimizer, **options)
    else:
        hooks = GradSampleHooks(module, batch_first=True, loss_reduction="mean", strict=True)
        dp_optimizer = RowWeightedDPOptimizer(optimizer, **options)
    with quiet_accounting():
        # An Opacus accountant records the steps that ran, at the plan's sample rate
        # (``accountant.history``); the plan's own accountant, under its relation,
        # computes the ε from that record (``TrainingPlan.epsilon``).
        accountant = create_accountant(mechanism="rdp")
    dp_optimizer.attach_step_hook(accountant.get_optimizer_hook_fn(sample_rate=plan.sample_rate))
    return DPSGD(dp_optimizer, accountant, clipper=clipper, hooks=hooks)


def strip_opacus_state(module):
    """Remove from ``module`` whatever Opacus attached to it while it trained.

    The parameters of our modules carry no attributes of their own, so all
    of a parameter's attributes go: ``grad_sample`` (per-sample gradients),
    ``summed_grad`` (the clipped, *un-noised* sum of the last batch), and the
    bookkeeping flags. Gradients go too. So do the activations and batch
    sizes that Opacus' hooks keep on the layers.
    """
    for submodule in module.modules():
        for name in _OPACUS_MODULE_ATTRIBUTES:
            submodule.__dict__.pop(name, None)
    for parameter in module.parameters():
        parameter.__dict__.clear()
        parameter.grad = None
    return module
