"""The private peer of the sequence benchmark: ROCKET features, a linear classifier, DP-SGD.

ROCKET (Dempster et al., 2020) convolves each series with random dilated kernels and keeps,
for each kernel, the proportion of positive outputs (PPV). The kernels, dilations and biases
are drawn from a seed and the series length, so the features read each series alone and
nothing else: they cost no privacy. A linear classifier on them is then trained by the
package's own DP-SGD routine, with the same plan (Poisson sampling, calibrated noise,
accountant, δ) as ``DPSequenceClassifier``. This is the strongest simple private baseline for
series that we know of.

It is a benchmark helper, not part of the package: it accepts equal-length, fully observed
univariate series only, as the benchmark's data are.
"""

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin

from sk_privattn.privacy import plan_training
from sk_privattn.privacy import Neighbouring, resolve_count
from sk_privattn._series import scale_series
from sk_privattn.dpsgd import TensorBatchDataset, train_module
from sk_privattn.nn import RandomConvolutions

__all__ = ["PrivateRocketClassifier", "rocket_features"]

#: The longest patch that ``RandomConvolutions.count_positive`` counts in a byte.
MAX_PATCH = 255


def rocket_features(X, convolutions):
    """PPV of each kernel over each whole series, mapped to [-1, 1]: shape (n, n_kernels).

    ``count_positive`` counts in bytes, per patch of at most 255 steps; the patches' counts are
    summed as integers, so that a series longer than 255 steps gets its true proportion.
    """
    X = np.asarray(X, dtype=np.float32)
    lengths = np.full(len(X), X.shape[1])
    x, mask = scale_series(X[:, :, None], lengths, "per_series", None)
    x, mask = torch.from_numpy(x[:, :, :1]), torch.from_numpy(mask)
    counts = convolutions.count_positive(x, mask, patch_size=min(X.shape[1], MAX_PATCH))
    return 2 * counts.sum(dim=1, dtype=torch.int64).float() / X.shape[1] - 1


class PrivateRocketClassifier(ClassifierMixin, BaseEstimator):
    """ROCKET features and a linear classifier trained with DP-SGD at ``epsilon``.

    Parameters
    ----------
    epsilon : float
        ``inf`` trains the same model without clipping or noise.
    delta : float, default=None
        ``None``: the default δ of the plan's count (``sk_privattn.privacy.default_delta``:
        1e-5 under its DP count).
    n_kernels : int, default=1000
    batch_size, max_epochs, lr, max_grad_norm : as in ``DPSequenceClassifier``
    classes : array-like, default=None
        The public labels; ``None`` reads them from ``y`` (which DP does not cover).
    random_state : int, default=0
        Seeds the kernels, the sampler and the noise.
    """

    def __init__(self, *, epsilon=1.0, delta=None, n_kernels=1000, batch_size=1024, max_epochs=50, lr=0.05,
                 max_grad_norm=1.0, classes=None, random_state=0):
        self.epsilon = epsilon
        self.delta = delta
        self.n_kernels = n_kernels
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.lr = lr
        self.max_grad_norm = max_grad_norm
        self.classes = classes
        self.random_state = random_state

    def fit(self, X, y):
        if self.classes is None:
            self.classes_, target = np.unique(y, return_inverse=True)
        else:
            self.classes_ = np.asarray(self.classes)
            code = {label: i for i, label in enumerate(self.classes_.tolist())}
            target = np.array([code[label] for label in np.asarray(y).tolist()])  # KeyError: not in classes
        self.convolutions_ = RandomConvolutions(1, self.n_kernels, np.shape(X)[1], seed=self.random_state)
        features = rocket_features(X, self.convolutions_)
        # The relation of the package's estimators: add-or-remove, a DP count of the rows (2 % of ε).
        neighbouring = Neighbouring("add_or_remove")
        count = resolve_count(len(features), neighbouring=neighbouring, public_count=None,
                              epsilon=float(self.epsilon), seed=self.random_state)
        plan = plan_training(
            count, epsilon=float(self.epsilon), delta=self.delta, batch_size=self.batch_size,
            epochs=self.max_epochs, accountant="auto", neighbouring=neighbouring,
        )
        linear = torch.nn.Linear(self.n_kernels, len(self.classes_))
        torch.nn.init.zeros_(linear.weight)
        torch.nn.init.zeros_(linear.bias)
        result = train_module(
            _Linear(linear), TensorBatchDataset({"x": features}, torch.from_numpy(target)), plan,
            criterion=torch.nn.CrossEntropyLoss(reduction="none"), max_grad_norm=self.max_grad_norm, lr=self.lr,
            optimizer="adam", weight_decay=0.0, device="cpu", seed=self.random_state, verbose=0, lr_schedule="cosine",
        )
        self.module_ = result.module.eval()
        self.epsilon_ = result.epsilon
        return self

    def predict(self, X):
        with torch.inference_mode():
            logits = self.module_(x=rocket_features(X, self.convolutions_))
        return self.classes_[logits.argmax(dim=1).numpy()]



class _Linear(torch.nn.Module):
    """A linear layer called by keyword, as ``train_module`` calls a module; Opacus' hooks read
    a layer's positional input, so the layer itself is called inside."""

    def __init__(self, linear):
        super().__init__()
        self.linear = linear

    def forward(self, x):
        return self.linear(x)
