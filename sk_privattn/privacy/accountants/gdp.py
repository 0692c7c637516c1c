"""``accountant="gdp"``: Opacus' Gaussian DP accountant, a central-limit *approximation*.

Kept, behind the interface, for comparison with the literature that reports
it, and marked as what it is: ``is_bound = False``, so no budget, remote job
or ledger total is charged by it (a ledger records the "prv" bound of such a
fit), and every fit that uses it says so (:attr:`GDPAccountant.warning`). It
is not deprecated: removing it would change what existing code computes,
and the warning already keeps anyone from mistaking it for a guarantee.
"""

from ._registry import register_accountant
from ._opacus import OpacusAccountant

__all__ = ["GDP_WARNING", "GDPAccountant"]

GDP_WARNING = (
    "accountant='gdp' is a central-limit approximation that Opacus marks "
    "experimental: it can underestimate the ε spent, so epsilon_ is not a "
    "guarantee. Use accountant='auto' (the default), 'pld', 'prv' or 'rdp' for one."
)


@register_accountant
class GDPAccountant(OpacusAccountant):
    name = "gdp"
    is_bound = False
    composes = False
    bounded_by = "prv"
    warning = GDP_WARNING
    summary = (
        "a central-limit approximation that Opacus marks experimental, that can underestimate ε, and that "
        "cannot compose warm starts"
    )

    def _history(self, history):
        """Merge ``history`` into one entry, or raise.

        Opacus' GDP accountant reads only the last entry of its history, so a
        history of several different mechanisms would silently lose all but one.
        """
        mechanisms = {(noise_multiplier, sample_rate) for noise_multiplier, sample_rate, _ in history}
        if len(mechanisms) > 1:
            raise ValueError(
                f"accountant='gdp' cannot compose mechanisms with different noise multipliers or "
                f"sample rates (got {sorted(mechanisms)}), such as the fits of a warm start; use "
                "accountant='prv' or 'rdp'."
            )
        (noise_multiplier, sample_rate), = mechanisms
        return [(noise_multiplier, sample_rate, sum(steps for _, _, steps in history))]
