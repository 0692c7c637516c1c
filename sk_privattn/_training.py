"""The one DP training routine: a skorch net trained by DP-SGD (``_dpsgd.py``).

Every estimator hands this module a torch module, a dataset and its
:class:`~sk_privattn._plan.TrainingPlan`; it returns the trained plain module,
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
from opacus.utils.uniform_sampler import UniformWithReplacementSampler
from skorch import NeuralNet
from skorch.callbacks import Callback, LRScheduler, PrintLog
from skorch.dataset import unpack_data
from torch.utils.data import DataLoader, Dataset

from ._dpsgd import make_private, strip_opacus_state
from ._persons import PersonBatch, PersonSampler

__all__ = ["TensorBatchDataset", "TrainingResult", "train_module", "train_with"]

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}

class TensorBatchDataset(Dataset):
    """Rows of named input tensors and a target, fetched a batch at a time.

    ``__getitems__`` lets the data loader index whole batches at once instead
    of collating row by row; an empty index list gives tensors with zero rows,
    which is what an empty Poisson batch must be.

    Parameters
    ----------
    inputs : dict of str to Tensor
        Each tensor has the rows on its first axis; the keys are the keyword
        arguments of the module's ``forward``.
    target : Tensor
    row_weight : Tensor of shape (n_rows,), default=None
        The weight of each row, in [0, 1]; with it, a row's target comes as
        the pair ``(target, row_weight)``.
    """

    def __init__(self, inputs, target, row_weight=None):
        self.inputs = inputs
        self.target = target
        self.row_weight = row_weight

    def __len__(self):
        return len(self.target)

    def __getitem__(self, index):
        inputs = {name: tensor[index] for name, tensor in self.inputs.items()}
        if self.row_weight is None:
            return inputs, self.target[index]
        return inputs, (self.target[index], self.row_weight[index])

    def __getitems__(self, indices):
        if isinstance(indices, PersonBatch):
            # Person-level batches: the rows of each sampled person in a block, with the weight
            # of each row inside its person's mean (its own row weight times 1/k, 0 for padding).
            inputs = {name: tensor[indices.rows] for name, tensor in self.inputs.items()}
            weight = indices.weight if self.row_weight is None else indices.weight * self.row_weight[indices.rows]
            return inputs, UnitTarget(self.target[indices.rows], weight, indices.rows_per_person)
        index = torch.as_tensor(indices, dtype=torch.long)
        return self.__getitem__(index)

    def subset(self, rows):
        """The dataset of the rows ``rows`` (indices or a boolean mask), in that order."""
        rows = torch.as_tensor(rows)
        row_weight = None if self.row_weight is None else self.row_weight[rows]
        return TensorBatchDataset(
            {name: tensor[rows] for name, tensor in self.inputs.items()}, self.target[rows], row_weight
        )


def _batch_as_is(batch):
    return batch


class UnitTarget(tuple):
    """A person-level batch's target: ``(target, weight, rows_per_unit)``.

    The batch holds ``len(target) / rows_per_unit`` units (persons), each in a
    block of ``rows_per_unit`` rows; ``weight`` weighs each row's loss inside
    its unit's mean (0 for padding), before the unit's gradient is clipped.
    """

    def __new__(cls, target, weight, rows_per_unit):
        return super().__new__(cls, (target, weight, int(rows_per_unit)))


def _target_and_weight(y):
    """A batch's target and its rows' weights (``None`` when the rows weigh the same)."""
    if isinstance(y, UnitTarget):
        return y[0], y[1]
    return y if isinstance(y, (tuple, list)) else (y, None)


class _PrivateNet(NeuralNet):
    """skorch net whose training batches come from a loader given at fit time,
    and whose history records no statistic of the training rows.

    skorch records each batch's loss and size; under DP both are un-noised
    statistics of the rows (a Poisson batch's size even says whether a given
    row was sampled). This net records, per epoch, the number of steps, and
    the callbacks add the ε spent. While a private fit runs, ``dpsgd_`` is
    its :class:`~sk_privattn._dpsgd.DPSGD`, which clips each row's gradient
    in place of ``loss.backward()``.
    """

    dpsgd_ = None

    @property
    def _default_callbacks(self):
        # skorch's epoch timer and loss scoring record statistics of the rows;
        # the epoch log is added by train_module when verbose.
        return []

    def get_iterator(self, dataset, training=False):
        if training:
            return self.train_loader_
        return super().get_iterator(dataset, training)

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        if iterator is None:
            return
        steps = 0
        for batch in iterator:
            self.notify("on_batch_begin", batch=batch, training=training)
            step_fn(batch, **fit_params)
            steps += 1
            if training:
                self.steps_taken_ += 1
            self.notify("on_batch_end", batch=batch, training=training)
        self.history.record(prefix + "_batch_count", steps)

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        if self.dpsgd_ is None:
            loss.backward()
        elif isinstance(yi, UnitTarget):
            # The weights are inside the loss; each unit's block of rows is clipped as a whole.
            self.dpsgd_.backward(loss, batch_size=len(yi[0]), rows_per_unit=yi[2])
        else:
            target, row_weight = _target_and_weight(yi)
            self.dpsgd_.backward(loss, batch_size=len(target), row_weight=row_weight)
        return {"loss": loss, "y_pred": y_pred}

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """The mean of the rows' losses; the criterion returns one loss per row.

        With row weights, DP-SGD weighs each row's *clipped* gradient (see
        :class:`~sk_privattn._dpsgd.DPSGD`), so the loss is left unweighted;
        without privacy the weights multiply the losses.
        """
        target, row_weight = _target_and_weight(y_true)
        if len(target) == 0:
            # An empty Poisson batch: a zero gradient, to which DP-SGD still
            # adds its noise, as the accountant assumes.
            return y_pred.sum() * 0.0
        # The loader gives the rows on the CPU; the module may be on a GPU.
        target = target.to(y_pred.device)
        losses = self.criterion_(y_pred, target)
        if losses.dim() == 0:
            raise ValueError(
                f"The criterion {self.criterion_!r} returned one loss for the batch; it must return "
                "one loss per row (reduction='none'), which the training routine averages."
            )
        losses = losses.reshape(len(target), -1).mean(dim=1)
        if isinstance(y_true, UnitTarget):
            # Each unit's part is the weighted mean of its rows' losses. DP-SGD reads each unit's
            # gradient as len(target) times its part (see BookKeepingClipper); without privacy
            # the units are averaged.
            weighted = (losses * row_weight.to(losses)).sum()
            return weighted / len(target) if self.dpsgd_ is not None else weighted / (len(target) // y_true[2])
        if row_weight is None or self.dpsgd_ is not None:
            return losses.mean()
        return (losses * row_weight.to(losses)).mean()


class _FitProgress(Callback):
    """One progress bar over every step of the fit, with its ETA, the epoch and the ε spent.

    The epoch log (skorch's ``PrintLog``) prints above it, through
    ``tqdm.write``. Nothing here reads the training rows.
    """

    def __init__(self, plan):
        self.plan = plan
        self.bar_ = None

    def on_train_begin(self, net, **kwargs):
        description = "DP-SGD" if self.plan.private else "no privacy"
        self.bar_ = tqdm.tqdm(total=self.plan.n_steps, unit="step", desc=description, dynamic_ncols=True)

    def on_batch_end(self, net, training=False, **kwargs):
        if training and self.bar_ is not None:
            self.bar_.update()

    def on_epoch_end(self, net, **kwargs):
        if self.bar_ is not None:
            epsilon = net.history[-1, "epsilon"]
            self.bar_.set_postfix(epoch=f"{len(net.history)}/{self.plan.epochs}", epsilon=f"{epsilon:.3g}")

    def close(self):
        if self.bar_ is not None:
            self.bar_.close()
            self.bar_ = None

    def on_train_end(self, net, **kwargs):
        self.close()


class _RecordEpsilon(Callback):
    """Record the ε spent so far after every epoch: the plan's ε after the
    steps taken (composed with the earlier calls of a warm start)."""

    def __init__(self, plan):
        self.plan = plan

    def on_epoch_end(self, net, **kwargs):
        net.history.record("epsilon", self.plan.epsilon(net.steps_taken_))


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


def _poisson_loader(dataset, plan, generator, persons=None, max_rows_per_person=None):
    """Exactly ``plan.steps_per_epoch`` Poisson batches per epoch at ``plan.sample_rate``:
    of rows, or of ``persons`` (a :class:`~sk_privattn._persons.PersonIndex`).

    Opacus' own ``DPDataLoader`` runs ``int(1 / sample_rate)`` steps, which
    is one fewer than planned for many step counts (93, 99, 105, ...); its
    sampler is given the plan's number of steps here instead.
    """
    if persons is not None:
        sampler = PersonSampler(persons, sample_rate=plan.sample_rate, steps=plan.steps_per_epoch,
                                max_rows_per_person=max_rows_per_person, generator=generator)
    else:
        sampler = UniformWithReplacementSampler(
            num_samples=len(dataset),
            sample_rate=plan.sample_rate,
            generator=generator,
            steps=plan.steps_per_epoch,
        )
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=_batch_as_is)


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
        The training rows: the Poisson sampler draws from all of them.
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
        Seeds the batch sampler and the DP noise.
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
        :func:`sk_privattn._recording.begin_fit`): ``recorder.start()``
        before the first step, and ``recorder.spent(history)`` once training
        stops, completed or not, with the mechanism that actually ran.
    clipping : {"auto", "bookkeeping", "opacus"}, default="auto"
        How DP-SGD clips the rows' gradients (see
        :func:`~sk_privattn._dpsgd.make_private`); the same clipped sums.
    persons : PersonIndex, default=None
        Person-level DP-SGD: the plan samples persons, each brings at most
        ``max_rows_per_person`` of its rows, and each person's mean gradient
        is clipped as a whole (:mod:`~sk_privattn._persons`). ``None``: rows.
    max_rows_per_person : int, default=None
        With ``persons``.

    Returns
    -------
    TrainingResult
    """
    if recorder is not None:
        recorder.start()
    optimizer_class = OPTIMIZERS[optimizer] if isinstance(optimizer, str) else optimizer
    sampler_generator = torch.Generator().manual_seed(int(seed))
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
    loader = _poisson_loader(dataset, plan, sampler_generator, persons, max_rows_per_person)
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
               persons=None):
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
    )
