"""sk_privattn: scikit-learn estimators that train attention networks with
differential privacy (DP-SGD by Opacus, wrapped by skorch)."""

from .classifier import DPAttentionClassifier
from .exceptions import BudgetExceededError, PrivacyLeakWarning
from .regressor import DPAttentionRegressor
from .sequence import DPSequenceClassifier

__version__ = "0.1.0"

__all__ = [
    "DPAttentionClassifier",
    "DPAttentionRegressor",
    "DPSequenceClassifier",
    "PrivacyLeakWarning",
    "BudgetExceededError",
    "__version__",
]
