"""Datasets shipped with sk_privattn, with the public metadata DP training needs."""

from ._adult import load_adult

__all__ = ["load_adult"]
