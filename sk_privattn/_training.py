"""The one DP training routine: a skorch net trained by Opacus' DP-SGD.

Every estimator hands this module a torch module, a dataset and its
settings; it returns the trained plain module, the skorch net and what was
spent. No Opacus hook, wrapper or data loader survives the call.
"""

import math
import warnings
from dataclasses import dataclass

import torch
from opacus import PrivacyEngine
from skorch import NeuralNet
from skorch.callbacks import Callback, EpochTimer, LRScheduler, PassthroughScoring, PrintLog, ProgressBar
from torch.utils.data import DataLoader, Dataset

from .privacy import _quiet_accounting, calibrate_noise_multiplier, compute_epsilon

__all__ = ["TensorBatchDataset", "TrainingResult", "train_module"]

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
    """

    def __init__(self, inputs, target):
        self.inputs = inputs
        self.target = target

    def __len__(self):
        return len(self.target)

    def __getitem__(self, index):
        return {name: tensor[index] for name, tensor in self.inputs.items()}, self.target[index]

    def __getitems__(self, indices):
        index = torch.as_tensor(indices, dtype=torch.long)
        return self.__getitem__(index)


def _batch_as_is(batch):
    return batch


class _PrivateNet(NeuralNet):
    """skorch net whose training batches come from a loader given at fit time.

    The loader is Opacus' Poisson-sampling ``DPDataLoader`` for a private fit,
    and a shuffling loader of the same batch size for ``epsilon=inf``.
    """

    @property
    def _default_callbacks(self):
        return [
            ("epoch_timer", EpochTimer()),
            ("train_loss", _MeanLoss(name="train_loss", on_train=True)),
            ("print_log", PrintLog()),
        ]

    def get_iterator(self, dataset, training=False):
        if training:
            return self.train_loader_
        return super().get_iterator(dataset, training)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        if len(y_true) == 0:
            # An empty Poisson batch: a zero gradient, to which DP-SGD still
            # adds its noise, as the accountant assumes.
            return y_pred.sum() * 0.0
        return super().get_loss(y_pred, y_true, X=X, training=training)


class _RecordEpsilon(Callback):
    """Record the ε spent so far, by the accountant of the fit, after every epoch.

    ``accountant`` is the Opacus accountant that the DP optimizer steps, or
    ``None`` when training is not private (ε is then inf). The ε composes
    ``prior_history``, the mechanisms of earlier fits, with this fit's steps.
    """

    def __init__(self, accountant, delta, prior_history=()):
        self.accountant = accountant
        self.delta = delta
        self.prior_history = prior_history

    def on_epoch_end(self, net, **kwargs):
        epsilon = math.inf
        if self.accountant is not None:
            history = [*self.prior_history, *self.accountant.history]
            epsilon = compute_epsilon(history, self.delta, self.accountant.mechanism())
        net.history.record("epsilon", epsilon)


class _MeanLoss(PassthroughScoring):
    """skorch's per-epoch mean loss, NaN when every Poisson batch was empty."""

    def get_avg_score(self, history):
        if sum(history[-1, "batches", :, "train_batch_size"]) == 0:
            return float("nan")
        return super().get_avg_score(history)


def _spent_history(engine, net, sample_rate):
    """The mechanisms run so far: the accountant's history, or the steps taken without noise."""
    if engine is not None:
        return list(engine.accountant.history)
    steps = sum(len(epoch["batches"]) for epoch in net.history)
    return [(0.0, sample_rate, steps)]


@dataclass
class TrainingResult:
    """What :func:`train_module` returns.

    Attributes
    ----------
    module : torch.nn.Module
        The trained module, with no Opacus hooks or attributes left.
    net : skorch.NeuralNet
        The skorch net that trained it; its ``module_`` is ``module``.
    noise_multiplier : float
        0.0 when not private.
    sample_rate : float
    n_steps : int
        Optimizer steps taken.
    epsilon : float
        ε spent according to the accountant (``inf`` when not private),
        composed with the ``prior_history`` passed to :func:`train_module`.
    accountant_history : list of (noise_multiplier, sample_rate, steps)
        This call's mechanisms only (empty when not private).
    """

    module: torch.nn.Module
    net: NeuralNet
    noise_multiplier: float
    sample_rate: float
    n_steps: int
    epsilon: float
    accountant_history: list


def train_module(
    module,
    dataset,
    *,
    criterion,
    epsilon,
    delta,
    max_grad_norm,
    accountant,
    max_epochs,
    batch_size,
    lr,
    optimizer,
    weight_decay,
    device,
    seed,
    verbose,
    lr_schedule="constant",
    prior_history=(),
    noise_multiplier=None,
    recorder=None,
):
    """Train ``module`` on ``dataset`` with DP-SGD (or without, if ε is inf).

    Parameters
    ----------
    module : torch.nn.Module
        Its ``forward`` takes the keys of ``dataset.inputs`` as keywords. It
        may be already trained: training continues from its weights.
    dataset : TensorBatchDataset
    criterion : type or torch.nn.Module
        A torch loss class, instantiated with its defaults, or a loss
        instance. Either must average over the batch (``reduction="mean"``),
        and a row's loss must depend on that row only, so that Opacus' per-row
        gradients are what clipping bounds.
    epsilon : float
        Target ε; ``math.inf`` trains without clipping or noise. With
        ``prior_history``, the total over the prior mechanisms and this call.
    delta : float
    max_grad_norm : float
        Per-sample gradient clipping bound.
    accountant : {"prv", "rdp", "gdp"}
    max_epochs : int
    batch_size : int
        Expected batch size. Each epoch takes ``ceil(n / batch_size)`` steps,
        and each row joins each step's batch with probability
        ``1 / ceil(n / batch_size)``.
    lr, weight_decay : float
    optimizer : str or type
        A key of ``OPTIMIZERS`` or a ``torch.optim.Optimizer`` class.
    device : str
    seed : int
        Seeds the batch sampler and the DP noise.
    verbose : int
        0 silent; 1 a progress bar per epoch and a log line per epoch.
    lr_schedule : {"constant", "cosine"}, default="constant"
        "cosine" anneals the learning rate to zero over all steps.
    prior_history : list of (noise_multiplier, sample_rate, steps), default=()
        Mechanisms that earlier calls ran on the same data: the noise is
        calibrated so that their composition with this call's steps meets
        ``epsilon``, and the recorded ε is that composition.
    noise_multiplier : float, default=None
        Use this noise multiplier instead of calibrating one from
        ``epsilon`` (which must then be finite; it is not checked against the
        ε spent). For a caller that calibrated once for several calls, such
        as a federated site over all its rounds.
    recorder : object, default=None
        The fit's record in the active privacy ledgers (see
        :func:`sk_privattn.ledger.begin_fit`): ``recorder.start(planned)``
        before the first step, and ``recorder.spent(history)`` once training
        stops, completed or not, with the mechanisms actually run.

    Returns
    -------
    TrainingResult
    """
    n_samples = len(dataset)
    steps_per_epoch = math.ceil(n_samples / batch_size)
    sample_rate = 1.0 / steps_per_epoch
    n_steps = steps_per_epoch * max_epochs
    private = math.isfinite(epsilon)
    if noise_multiplier is not None and private:
        noise_multiplier = float(noise_multiplier)
    elif private:
        noise_multiplier = calibrate_noise_multiplier(
            epsilon=epsilon,
            delta=delta,
            sample_rate=sample_rate,
            steps=n_steps,
            accountant=accountant,
            prior_history=prior_history,
        )
    else:
        noise_multiplier = 0.0
    if recorder is not None:
        recorder.start([(noise_multiplier, sample_rate, n_steps)])
    optimizer_class = OPTIMIZERS[optimizer] if isinstance(optimizer, str) else optimizer
    sampler_generator = torch.Generator().manual_seed(int(seed))
    noise_generator = torch.Generator(device=device).manual_seed(int(seed) + 1)

    callbacks = [_RecordEpsilon(None, delta, list(prior_history))]
    if lr_schedule == "cosine":
        callbacks.append(
            LRScheduler(policy=torch.optim.lr_scheduler.CosineAnnealingLR, T_max=n_steps, step_every="batch")
        )
    if verbose:
        callbacks.append(ProgressBar(batches_per_epoch=steps_per_epoch, postfix_keys=["train_loss"]))
    net = _PrivateNet(
        module,
        criterion=criterion,
        optimizer=optimizer_class,
        lr=lr,
        optimizer__weight_decay=weight_decay,
        max_epochs=max_epochs,
        batch_size=batch_size,
        train_split=None,
        callbacks=callbacks,
        predict_nonlinearity=None,
        device=device,
        verbose=int(verbose),
    )
    net.initialize()
    net.module_.train()  # Opacus refuses a module in eval mode, as a fitted one is
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=not private,
        collate_fn=_batch_as_is,
        generator=sampler_generator,
    )
    hooks = dp_optimizer = None
    engine = None
    if private:
        with _quiet_accounting(), warnings.catch_warnings():
            # Opacus' reminder that secure_mode is off; docs/privacy.md states
            # what a seeded, non-cryptographic RNG means for the guarantee.
            warnings.filterwarnings("ignore", message="Secure RNG turned off")
            engine = PrivacyEngine(accountant=accountant)
        hooks, dp_optimizer, loader = engine.make_private(
            module=net.module_,
            optimizer=net.optimizer_,
            data_loader=loader,
            noise_multiplier=noise_multiplier,
            max_grad_norm=max_grad_norm,
            poisson_sampling=True,
            noise_generator=noise_generator,
            grad_sample_mode="hooks",
            wrap_model=False,
        )
        net.optimizer_ = dp_optimizer
        callbacks[0].accountant = engine.accountant
    net.train_loader_ = loader
    try:
        with warnings.catch_warnings():
            # The input tensors need no gradient, so torch notes that the
            # first layer's full backward hook sees only output gradients,
            # which is all that Opacus' per-sample rules read.
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            net.partial_fit(dataset, y=None)
    finally:
        # Leave nothing of Opacus behind: hooks, per-sample gradients,
        # the DP optimizer, the Poisson loader, the accountant.
        if hooks is not None:
            hooks.cleanup()
        if dp_optimizer is not None:
            net.optimizer_ = dp_optimizer.original_optimizer
        del net.train_loader_
        callbacks[0].accountant = None
        for _, callback in net.callbacks_:
            if isinstance(callback, LRScheduler):
                callback.lr_scheduler_ = None  # it held the DP optimizer
        if recorder is not None:
            recorder.spent(_spent_history(engine, net, sample_rate))
    history = list(engine.accountant.history) if engine is not None else []
    spent = net.history[-1, "epsilon"] if private else math.inf
    return TrainingResult(
        module=net.module_,
        net=net,
        noise_multiplier=float(noise_multiplier),
        sample_rate=sample_rate,
        n_steps=n_steps,
        epsilon=float(spent),
        accountant_history=history,
    )
