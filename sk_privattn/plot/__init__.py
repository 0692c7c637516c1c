"""Visual diagnostics, following scikit-learn's Display API.

Each display is built with a ``from_*`` class method, draws with ``plot(ax=...)``
and keeps its matplotlib objects in attributes ending in ``_``. matplotlib is
an optional dependency: ``pip install "sk_privattn[plot]"``.
"""

from ._attention import AttentionDisplay
from ._privacy_utility import PrivacyUtilityDisplay

__all__ = ["PrivacyUtilityDisplay", "AttentionDisplay"]
