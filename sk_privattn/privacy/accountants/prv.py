"""``accountant="prv"``: Opacus' privacy random variables (Gopi, Lee & Wutschitz 2021)."""

from ._registry import register_accountant
from ._opacus import OpacusAccountant

__all__ = ["PRVAccountant"]


@register_accountant
class PRVAccountant(OpacusAccountant):
    name = "prv"
    summary = "Opacus' privacy random variables"
