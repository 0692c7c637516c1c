"""sk_privattn: scikit-learn estimators that train attention networks with
differential privacy (DP-SGD by Opacus, wrapped by skorch)."""

from . import audit, model_selection
from .budget import PrivacyBudget
from .classifier import DPAttentionClassifier
from .exceptions import BudgetExceededError, PrivacyLeakWarning
from .ledger import PrivacyLedger
from .regressor import DPAttentionRegressor
from .sequence import DPSequenceClassifier
from .report import PrivacyReport, privacy_report

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
