"""Torch modules used by the sk_privattn estimators.

Every module here is built from layers that Opacus computes per-sample
gradients for in its default ``"hooks"`` mode (``nn.Linear``,
``nn.LayerNorm``, ``nn.Embedding``, and Opacus' ``DPLSTM``; the random
convolutions are frozen buffers, with no gradient at all), so that they train under DP-SGD with no
functorch fallback and pickle cleanly afterwards. Nothing in this sub-package
imports scikit-learn.
"""

from .random_conv import RandomConvolutions
from .sequence import AdditiveAttentionPooling, LSTMAttention, PatchTransformer
from .tokenizer import FeatureTokenizer
from .transformer import FTTransformer, MultiHeadSelfAttention, TransformerBlock

__all__ = [
    "AdditiveAttentionPooling",
    "LSTMAttention",
    "PatchTransformer",
    "RandomConvolutions",
    "FeatureTokenizer",
    "FTTransformer",
    "MultiHeadSelfAttention",
    "TransformerBlock",
]
