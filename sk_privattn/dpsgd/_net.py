"""The skorch side of DP-SGD: the net that trains a module on the plan's batches, its
dataset of named tensors, and the callbacks that show and record the ε spent.

skorch records each batch's loss and size by default; under DP both are
un-noised statistics of the training rows (a Poisson batch's size even says
whether a given row was sampled). :class:`_PrivateNet` records, per epoch,
the number of steps, and the callbacks add the ε spent; nothing else.
"""

import torch
import tqdm
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.dataset import unpack_data
from torch.utils.data import Dataset

from ._sampling import PersonBatch

__all__ = ["OPTIMIZERS", "TensorBatchDataset", "UnitTarget"]

#: The optimizers that ``optimizer`` names.
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
    its :class:`~sk_privattn.dpsgd._optimizer.DPSGD`, which clips each row's gradient
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
        :class:`~sk_privattn.dpsgd._optimizer.DPSGD`), so the loss is left unweighted;
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
