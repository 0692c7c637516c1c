"""The one DP training routine: a skorch net (:mod:`._net`) trained by DP-SGD
(:mod:`._optimizer`) on the plan's Poisson batches (:mod:`._sampling`).

Every estimator hands this module a torch module, a dataset and its
:class:`~sk_privattn.privacy.Plan`; it returns the trained plain module,
the skorch net and what was spent. The loader runs exactly the plan's steps at
exactly its sample rate, and the accountant's record of what ran is checked
against the plan. Nothing that DP-SGD did not release survives the call: no
Opacus hook, wrapper, per-sample or un-noised gradient, and no training loss
or batch size in the net's history.
"""

import math
import warnings
from dataclasses import dataclass, field

import torch
import tqdm
from skorch.callbacks import LRScheduler, PrintLog

from ._net import OPTIMIZERS, _FitProgress, _PrivateNet, _RecordEpsilon
from ._optimizer import make_private, strip_opacus_state
from ._sampling import batch_source, poisson_loader

__all__ = ["TrainingResult", "train_module", "train_with"]


@dataclass
class TrainingResult:
    """What a training routine returns to the fit path.

    Attributes
    ----------
    module : torch.nn.Module
        The trained module, with nothing of Opacus left on it.
    n_steps : int
        Optimizer steps taken (rounds, for a federation at client level).
    history : list of (noise_multiplier, sample_rate, steps)
        The mechanism that ``epsilon`` accounts, as it ran (noise multiplier
        0.0 when not private).
    epsilon : float
        ε spent (``inf`` when not private), composed with the plan's
        ``prior_history``.
    log : list of dict
        One row per epoch (or round) for ``history_``: what the plan
        released, never a statistic of the rows.
    attributes : dict
        Further fitted attributes, by name: the skorch net (``net_``), or a
        federation's ``sites_``.
    """

    module: torch.nn.Module
    n_steps: int
    history: list
    epsilon: float
    log: list = field(default_factory=list)
    attributes: dict = field(default_factory=dict)



def _check_ran_as_planned(ran, plan, steps):
    """A completed fit took exactly the planned steps, and the accountant recorded exactly those."""
    if steps != plan.n_steps or [tuple(entry) for entry in ran] != [tuple(entry) for entry in plan.history()]:
        raise RuntimeError(
            f"The fit ran {steps} steps and the accountant recorded {ran}, but the training plan is "
            f"{plan.history()}; the privacy accounting would not describe the training. This is a "
            "bug in sk_privattn."
        )


def train_module(
    module,
    dataset,
    plan,
    *,
    criterion,
    max_grad_norm,
    lr,
    optimizer,
    weight_decay,
    device,
    seed,
    verbose,
    lr_schedule="constant",
    recorder=None,
    account=True,
    clipping="auto",
    persons=None,
    max_rows_per_person=None,
    batches=None,
):
    """Train ``module`` on ``dataset`` by ``plan``: DP-SGD, or without clipping
    or noise when the plan is not private.

    Both run the same Poisson batches: the non-private fit differs from the
    private one only in its clipping and noise.

    Parameters
    ----------
    module : torch.nn.Module
        Its ``forward`` takes the keys of ``dataset.inputs`` as keywords. It
        may be already trained: training continues from its weights.
    dataset : TensorBatchDataset
        The training rows: the Poisson sampler draws from all of them (or,
        with ``batches``, they are the rows it drew).
        ``plan.n_samples`` is their count as the plan reads it (public, or a
        DP count), which sets the batch size and the divisor of the noisy
        sum, not necessarily ``len(dataset)``.
    plan : TrainingPlan
    criterion : torch.nn.Module
        A loss that returns one loss per row (``reduction="none"``); the
        routine averages them (weighting them by ``dataset.row_weight``
        without privacy). A row's loss must depend on that row only, so that
        Opacus' per-row gradients are what clipping bounds.
    max_grad_norm : float
        Per-sample gradient clipping bound.
    lr, weight_decay : float
    optimizer : str or type
        A key of ``OPTIMIZERS`` or a ``torch.optim.Optimizer`` class.
    device : str
    seed : int
        The secret that keys the Poisson batches (:mod:`._sampling`), and the
        seed of the DP noise.
    verbose : int
        0 silent; 1 a progress bar over all steps, with its ETA, and a log
        line per epoch with the ε spent so far.
    lr_schedule : {"constant", "cosine"}, default="constant"
        "cosine" anneals the learning rate to zero over the plan's steps.
    account : bool, default=True
        Compute the ε spent after every epoch and at the end. ``False`` for a
        caller that accounts the steps itself (a site of a federation, whose
        plan spans all its rounds): the result's ``epsilon`` is then NaN and
        its ``log`` empty.
    recorder : object, default=None
        The fit's record in the active privacy ledgers (see
        :func:`sk_privattn.privacy._recording.begin_fit`): ``recorder.start()``
        before the first step, and ``recorder.spent(history)`` once training
        stops, completed or not, with the mechanism that actually ran.
    clipping : {"auto", "bookkeeping", "opacus"}, default="auto"
        How DP-SGD clips the rows' gradients (see
        :func:`~sk_privattn.dpsgd._optimizer.make_private`); the same clipped sums.
    persons : PersonIndex, default=None
        Person-level DP-SGD: the plan samples persons, each brings at most
        ``max_rows_per_person`` of its rows, and each person's mean gradient
        is clipped as a whole (:mod:`~sk_privattn.dpsgd._sampling`). ``None``: rows.
    max_rows_per_person : int, default=None
        With ``persons``.
    batches : BatchSource, default=None
        Where the batches come from; ``None`` draws them from ``dataset``'s
        rows (or ``persons``), keyed by ``seed``. A pass over partitioned data
        gives :class:`~._sampling.GatheredBatches` of the rows it drew.

    Returns
    -------
    TrainingResult
    """
    if recorder is not None:
        recorder.start()
    optimizer_class = OPTIMIZERS[optimizer] if isinstance(optimizer, str) else optimizer
    # The noise is drawn on the CPU whatever the device: a fit on a GPU adds the same noise.
    noise_generator = torch.Generator().manual_seed(int(seed) + 1)

    callbacks = [("epsilon", _RecordEpsilon(plan))] if account else []
    if lr_schedule == "cosine":
        schedule = LRScheduler(
            policy=torch.optim.lr_scheduler.CosineAnnealingLR, T_max=plan.n_steps, step_every="batch"
        )
        callbacks.append(("lr_schedule", schedule))
    if verbose:
        # The log lines print above the progress bar.
        callbacks += [("progress", _FitProgress(plan)), ("print_log", PrintLog(sink=tqdm.tqdm.write))]
    net = _PrivateNet(
        module,
        criterion=criterion,
        optimizer=optimizer_class,
        lr=lr,
        optimizer__weight_decay=weight_decay,
        max_epochs=plan.epochs,
        batch_size=plan.batch_size,
        train_split=None,
        callbacks=callbacks,
        predict_nonlinearity=None,
        device=device,
        verbose=int(verbose),
    )
    net.initialize()
    net.steps_taken_ = 0
    net.module_.train()  # Opacus refuses a module in eval mode, as a fitted one is
    if batches is None:
        batches = batch_source(plan, secret=seed, n_rows=len(dataset), persons=persons,
                               max_rows_per_person=max_rows_per_person)
    loader = poisson_loader(dataset, batches)
    dpsgd = None
    if plan.private:
        dpsgd = make_private(
            net.module_, net.optimizer_, plan, max_grad_norm=max_grad_norm, noise_generator=noise_generator,
            clipping=clipping,
        )
        net.optimizer_ = dpsgd.optimizer
        net.dpsgd_ = dpsgd
    net.train_loader_ = loader
    ran = []
    try:
        with warnings.catch_warnings():
            # The input tensors need no gradient, so torch notes that the
            # first layer's full backward hook sees only output gradients,
            # which is all that Opacus' per-sample rules read.
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            net.partial_fit(dataset, y=None)
    finally:
        # Leave nothing of DP-SGD behind: hooks and what they hold, per-sample
        # and un-noised gradients, the DP optimizer, the Poisson loader, the
        # accountant.
        steps = net.steps_taken_
        if dpsgd is not None:
            ran = [tuple(entry) for entry in dpsgd.accountant.history]
            dpsgd.cleanup()
            net.optimizer_ = dpsgd.optimizer.original_optimizer
            del net.dpsgd_
        elif steps:
            ran = plan.history(steps)
        strip_opacus_state(net.module_)
        del net.train_loader_
        for _, callback in net.callbacks_:
            if isinstance(callback, LRScheduler):
                callback.lr_scheduler_ = None  # it held the DP optimizer
            if isinstance(callback, _FitProgress):
                callback.close()
        if recorder is not None:
            recorder.spent(ran)
    _check_ran_as_planned(ran, plan, steps)
    log = [{"epoch": row["epoch"], "epsilon": row["epsilon"]} for row in net.history] if account else []
    return TrainingResult(
        module=net.module_,
        n_steps=steps,
        history=ran,
        epsilon=plan.epsilon(steps) if account else math.nan,
        log=log,
        attributes={"net_": net},
    )


def train_with(estimator, module, dataset, plan, *, criterion, seed, verbose=0, recorder=None, account=True,
               persons=None, batches=None):
    """:func:`train_module` with the training parameters of ``estimator`` (``max_grad_norm``,
    ``lr``, ``optimizer``, ``weight_decay``, ``device``, ``lr_schedule``, and with
    ``persons`` its ``max_rows_per_person``)."""
    return train_module(
        module,
        dataset,
        plan,
        criterion=criterion,
        max_grad_norm=estimator.max_grad_norm,
        lr=estimator.lr,
        optimizer=estimator.optimizer,
        weight_decay=estimator.weight_decay,
        device=estimator.device,
        seed=seed,
        verbose=verbose,
        lr_schedule=estimator.lr_schedule,
        recorder=recorder,
        account=account,
        persons=persons,
        max_rows_per_person=getattr(estimator, "max_rows_per_person", None),
        batches=batches,
    )
