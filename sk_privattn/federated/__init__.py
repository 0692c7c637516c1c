"""Federated DP training across data silos, on Flower.

Each site (hospital, branch, ...) keeps its rows; only model updates travel.
:class:`FederatedDPAttentionClassifier` runs the whole federation as a Flower
simulation inside ``fit``; :func:`make_client_app` and
:func:`make_server_app` give the Flower apps that run the same code in a real
deployment. Flower is an optional dependency: ``pip install
"sk_privattn[federated]"``.
"""

try:
    import flwr  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised by a test with flwr hidden
    raise ImportError(
        "sk_privattn.federated needs Flower (flwr), an optional dependency. Install it with "
        "pip install \"sk_privattn[federated]\"."
    ) from exc

from ._apps import make_client_app, make_server_app
from ._estimator import FederatedDPAttentionClassifier

__all__ = ["FederatedDPAttentionClassifier", "make_client_app", "make_server_app"]
