"""Loss functions whose per-row terms depend on that row only, as DP-SGD needs."""

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["RowWeightedCrossEntropy"]


class RowWeightedCrossEntropy(nn.Module):
    """Cross-entropy with a weight per class, averaged over the rows of the batch.

    Row ``i`` contributes ``weight[y_i] * loss_i / n_rows``. Per-sample
    clipping bounds the gradient of each row's term, which must therefore be
    a function of that row alone. ``nn.CrossEntropyLoss(weight=...)`` instead
    divides by the batch's total weight, so a row's gradient would also
    depend on the labels of the other rows in its batch.

    Parameters
    ----------
    weight : array-like of shape (n_classes,)
        Non-negative weight of each class.
    """

    def __init__(self, weight):
        super().__init__()
        self.register_buffer("weight", torch.as_tensor(weight, dtype=torch.float32))

    def forward(self, input, target):
        """Mean over the rows of ``weight[target] * cross_entropy(input, target)``."""
        return (F.cross_entropy(input, target, reduction="none") * self.weight[target]).mean()
