"""Pre-norm transformer blocks and the FT-Transformer classifier network."""

import math

from torch import nn
from torch.nn import functional as F

from .additive import additive_terms_beside
from .tokenizer import FeatureTokenizer

__all__ = ["MultiHeadSelfAttention", "TransformerBlock", "FTTransformer", "encode_cls"]


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention built from ``nn.Linear`` layers.

    Opacus' default hooks mode has per-sample gradient rules for
    ``nn.Linear``, so this layer needs neither ``DPMultiheadAttention`` nor a
    functorch fallback, and it can return its attention weights.

    Parameters
    ----------
    d_token : int
        Token size; must be divisible by ``n_heads``.
    n_heads : int
        Number of attention heads.
    dropout : float
        Dropout on the attention weights during training.
    """

    def __init__(self, d_token, n_heads, dropout=0.0):
        super().__init__()
        if d_token % n_heads:
            raise ValueError(f"d_token={d_token} is not divisible by n_heads={n_heads}.")
        self.n_heads = n_heads
        self.dropout = dropout
        self.qkv = nn.Linear(d_token, 3 * d_token)
        self.out = nn.Linear(d_token, d_token)

    def forward(self, x, *, n_queries=None, key_padding_mask=None, need_weights=False):
        """Attend from the first ``n_queries`` tokens to every token.

        Parameters
        ----------
        x : Tensor of shape (batch, n_tokens, d_token)
        n_queries : int, default=None
            Only the first ``n_queries`` tokens attend (all when ``None``).
            The last block of a ``[CLS]`` classifier needs only ``[CLS]``.
        key_padding_mask : bool Tensor of shape (batch, n_tokens), default=None
            ``True`` marks padding, which gets exactly zero attention.
        need_weights : bool, default=False
            Also return the attention weights, shape
            (batch, n_heads, n_queries, n_tokens).
        """
        batch, n_tokens, d_token = x.shape
        d_head = d_token // self.n_heads
        q, k, v = self.qkv(x).split(d_token, dim=-1)
        if n_queries is not None:
            q = q[:, :n_queries]
        q, k, v = (t.reshape(batch, t.shape[1], self.n_heads, d_head).transpose(1, 2) for t in (q, k, v))
        mask = None
        if key_padding_mask is not None:
            mask = ~key_padding_mask[:, None, None, :]
        weights = None
        if need_weights:
            scores = q @ k.transpose(-2, -1) / math.sqrt(d_head)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = scores.softmax(dim=-1)
            context = F.dropout(weights, self.dropout, self.training) @ v
        else:
            context = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
            )
        context = context.transpose(1, 2).reshape(batch, q.shape[2], d_token)
        return self.out(context), weights


class TransformerBlock(nn.Module):
    """Pre-norm transformer block: self-attention, then a feed-forward layer.

    Parameters
    ----------
    d_token : int
    n_heads : int
    d_ffn : int
        Hidden size of the feed-forward layer.
    dropout : float
        Dropout on attention weights, the feed-forward hidden layer and both
        residual branches.
    """

    def __init__(self, d_token, n_heads, d_ffn, dropout=0.0):
        super().__init__()
        self.attention_norm = nn.LayerNorm(d_token)
        self.attention = MultiHeadSelfAttention(d_token, n_heads, dropout)
        self.ffn_norm = nn.LayerNorm(d_token)
        self.ffn_in = nn.Linear(d_token, d_ffn)
        self.ffn_out = nn.Linear(d_ffn, d_token)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, *, n_queries=None, key_padding_mask=None, need_weights=False):
        attended, weights = self.attention(
            self.attention_norm(x),
            n_queries=n_queries,
            key_padding_mask=key_padding_mask,
            need_weights=need_weights,
        )
        if n_queries is not None:
            x = x[:, :n_queries]
        x = x + self.dropout(attended)
        hidden = self.dropout(F.gelu(self.ffn_in(self.ffn_norm(x))))
        return x + self.dropout(self.ffn_out(hidden)), weights


def encode_cls(blocks, tokens, *, key_padding_mask=None, need_weights=False):
    """Run ``blocks`` over ``tokens`` whose first token is ``[CLS]``.

    The last block computes only the ``[CLS]`` query, the only one a head
    reads.

    Returns
    -------
    cls : Tensor of shape (batch, d_token)
        The ``[CLS]`` state after the last block.
    weights : Tensor of shape (batch, n_heads, n_tokens) or None
        With ``need_weights``, the last block's attention from ``[CLS]`` to
        every token, ``[CLS]`` first.
    """
    weights = None
    for i, block in enumerate(blocks):
        last = i == len(blocks) - 1
        tokens, weights = block(
            tokens,
            n_queries=1 if last else None,
            key_padding_mask=key_padding_mask,
            need_weights=need_weights and last,
        )
    return tokens[:, 0], (weights[:, :, 0, :] if need_weights else None)


class FTTransformer(nn.Module):
    """FT-Transformer (Gorishniy et al., 2021) for tabular data.

    Feature tokens plus a ``[CLS]`` token go through ``n_layers`` pre-norm
    transformer blocks; the head reads ``[CLS]``. The last block computes
    only the ``[CLS]`` query, the only one the head reads.

    Parameters
    ----------
    n_numeric : int
    cardinalities : sequence of int
    n_outputs : int
        Number of logits (classes) or regression outputs.
    d_token : int, default=32
    n_heads : int, default=4
    n_layers : int, default=2
    ffn_factor : float, default=2.0
        ``d_ffn = round(ffn_factor * d_token)``.
    dropout : float, default=0.0
    n_views : int, default=1
        Values per numeric feature; see :class:`FeatureTokenizer`.
    additive_terms : bool, default=False
        Add :class:`AdditiveTerms` (one learned term per feature, no
        interaction) to the logits, so that the network contains a
        generalized additive model, and start the attention head at zero:
        the network starts as that (zero) additive model, and the attention
        learns what the features add in interaction.
    """

    def __init__(
        self,
        n_numeric,
        cardinalities,
        n_outputs,
        *,
        d_token=32,
        n_heads=4,
        n_layers=2,
        ffn_factor=2.0,
        dropout=0.0,
        n_views=1,
        additive_terms=False,
    ):
        super().__init__()
        self.tokenizer = FeatureTokenizer(n_numeric, cardinalities, d_token, n_views)
        d_ffn = max(1, round(ffn_factor * d_token))
        self.blocks = nn.ModuleList(
            TransformerBlock(d_token, n_heads, d_ffn, dropout) for _ in range(n_layers)
        )
        self.head_norm = nn.LayerNorm(d_token)
        self.head = nn.Linear(d_token, n_outputs)
        self.additive = None
        if additive_terms:
            self.additive = additive_terms_beside(self.head, n_numeric, cardinalities, n_outputs, n_views)

    def forward(self, x_num, x_cat, *, need_weights=False):
        """Return the logits, shape (batch, n_outputs).

        With ``need_weights=True`` return ``(logits, weights)`` where
        ``weights`` (batch, n_heads, n_tokens) is the last block's attention
        from ``[CLS]`` to every token, ``[CLS]`` first.
        """
        cls, weights = encode_cls(self.blocks, self.tokenizer(x_num, x_cat), need_weights=need_weights)
        logits = self.head(F.relu(self.head_norm(cls)))
        if self.additive is not None:
            logits = logits + self.additive(x_num, x_cat)
        return (logits, weights) if need_weights else logits
