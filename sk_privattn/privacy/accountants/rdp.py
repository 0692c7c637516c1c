"""``accountant="rdp"``: Opacus' Rényi DP accountant, with orders up to 2048."""

from ._registry import register_accountant
from ._opacus import OpacusAccountant

__all__ = ["RDP_ORDERS", "RDPAccountant"]

#: The RDP orders of the "rdp" accountant. Opacus' default orders stop at 63,
#: which cannot certify ε below about log(1/δ)/62; larger orders let the RDP
#: accountant reach small ε too.
RDP_ORDERS = [1 + x / 10.0 for x in range(1, 100)] + list(range(11, 64)) + [
    80, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048,
]


@register_accountant
class RDPAccountant(OpacusAccountant):
    name = "rdp"
    summary = "the classic, slightly looser Rényi bound"

    def _options(self):
        return {"alphas": RDP_ORDERS}
