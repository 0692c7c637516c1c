"""Torch modules used by the sk_privattn estimators.

Every module here is built from layers that DP-SGD clips per row without a
functorch fallback: ``nn.Linear``, ``nn.LayerNorm`` and ``nn.Embedding``
(book-keeping clipping, ``sk_privattn._clipping``, in one backward pass),
and Opacus' ``DPLSTM`` (Opacus' per-sample gradient hooks); the random
convolutions are frozen buffers, with no gradient at all. So they train
under DP-SGD and pickle cleanly afterwards. Nothing in this sub-package imports scikit-learn.
"""

from .additive import AdditiveTerms
from .polynomial import PolynomialAttention, PolynomialForm, PolynomialLayout
from .random_conv import RandomConvolutions
from .sequence import AdditiveAttentionPooling, KernelTerms, LSTMAttention, PatchTransformer
from .tokenizer import FeatureTokenizer
from .transformer import FTTransformer, MultiHeadSelfAttention, TransformerBlock

__all__ = [
    "AdditiveAttentionPooling",
    "AdditiveTerms",
    "KernelTerms",
    "LSTMAttention",
    "PatchTransformer",
    "PolynomialAttention",
    "PolynomialForm",
    "PolynomialLayout",
    "RandomConvolutions",
    "FeatureTokenizer",
    "FTTransformer",
    "MultiHeadSelfAttention",
    "TransformerBlock",
]
