"""sk_privattn: scikit-learn estimators that train attention networks with
differential privacy (DP-SGD by Opacus, wrapped by skorch)."""

from . import _compat, audit, model_selection
from .classifier import DPAttentionClassifier
from .exceptions import BudgetExceededError, PrivacyLeakWarning
from .privacy import PrivacyBudget, PrivacyLedger
from .regressor import DPAttentionRegressor
from .report import PrivacyReport, privacy_report
from .sequence import DPSequenceClassifier

_compat.install()

__version__ = "0.1.0"

__all__ = [
    "DPAttentionClassifier",
    "DPAttentionRegressor",
    "DPSequenceClassifier",
    "PrivacyLedger",
    "PrivacyBudget",
    "PrivacyReport",
    "privacy_report",
    "PrivacyLeakWarning",
    "BudgetExceededError",
    "__version__",
]
