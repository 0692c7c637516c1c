"""Turn one row of mixed numeric and categorical features into tokens."""

import math

import torch
from torch import nn

__all__ = ["FeatureTokenizer"]


class FeatureTokenizer(nn.Module):
    """FT-Transformer feature tokenizer with a leading ``[CLS]`` token.

    Numeric feature ``j`` becomes the token ``x_j * w_j + b_j`` (its own
    learned affine map). With ``n_views > 1`` each numeric feature arrives
    as several fixed transforms of the same value (for example linear and
    logarithmic scaling), and its token is ``sum_v x_jv * w_jv + b_j``. A
    missing value (NaN) becomes the feature's own learned "missing" token
    ``m_j`` instead: it reads nothing but that row. Categorical feature ``j``
    with code ``c`` becomes the embedding row for ``(j, c)``; code 0 of every
    categorical feature is the slot for "unknown or missing". A learned
    ``[CLS]`` token is prepended, so the output has
    ``1 + n_numeric + n_categorical`` tokens.

    All parameters live in two ``nn.Embedding`` tables, so Opacus computes
    their per-sample gradients with its embedding grad sampler:

    - ``scale``: one row ``w_jv`` per numeric feature and view;
    - ``table``: the ``[CLS]`` row, one bias row ``b_j`` per numeric feature,
      one missing row ``m_j`` per numeric feature, then
      ``cardinality_j + 1`` rows per categorical feature.

    Parameters
    ----------
    n_numeric : int
        Number of numeric features.
    cardinalities : sequence of int
        Number of known categories of each categorical feature, without the
        unknown slot.
    d_token : int
        Size of each token.
    n_views : int, default=1
        Number of values per numeric feature.
    """

    def __init__(self, n_numeric, cardinalities, d_token, n_views=1):
        super().__init__()
        cardinalities = [int(c) for c in cardinalities]
        if n_numeric + len(cardinalities) == 0:
            raise ValueError("FeatureTokenizer needs at least one feature.")
        self.n_numeric = int(n_numeric)
        self.n_categorical = len(cardinalities)
        self.cardinalities = cardinalities
        self.d_token = int(d_token)
        self.n_views = int(n_views)
        # Row layout of ``table``: [CLS], numeric biases, numeric "missing"
        # tokens, then each categorical feature's unknown slot followed by its
        # categories.
        offsets, start = [], 1 + 2 * self.n_numeric
        for cardinality in cardinalities:
            offsets.append(start)
            start += cardinality + 1
        self._categorical_offsets = offsets
        self.table = nn.Embedding(start, d_token)
        self.scale = nn.Embedding(self.n_numeric * self.n_views, d_token) if self.n_numeric else None
        bound = 1.0 / math.sqrt(d_token)
        for embedding in (self.table, self.scale):
            if embedding is not None:
                nn.init.uniform_(embedding.weight, -bound, bound)

    @property
    def n_tokens(self):
        """Number of tokens per row, ``[CLS]`` included."""
        return 1 + self.n_numeric + self.n_categorical

    def forward(self, x_num, x_cat):
        """Tokenize a batch.

        Parameters
        ----------
        x_num : Tensor of shape (batch, n_numeric * n_views), float
            View ``v`` of feature ``j`` in column ``v * n_numeric + j``; NaN
            (in every view) where the value is missing.
        x_cat : Tensor of shape (batch, n_categorical), long
            Codes in ``[0, cardinality_j]``; 0 means unknown or missing.

        Returns
        -------
        tokens : Tensor of shape (batch, n_tokens, d_token)
        """
        batch = x_num.shape[0] if self.n_numeric else x_cat.shape[0]
        device = self.table.weight.device
        rows = [torch.zeros(batch, 1, dtype=torch.long, device=device)]
        if self.n_numeric:
            missing = torch.isnan(x_num[:, : self.n_numeric])
            x_num = torch.nan_to_num(x_num, nan=0.0)
            bias = torch.arange(1, 1 + self.n_numeric, device=device).repeat(batch, 1)
            rows.append(bias + self.n_numeric * missing.long())
        if self.n_categorical:
            offsets = torch.tensor(self._categorical_offsets, device=device)
            rows.append(x_cat.long() + offsets)
        # Opacus' embedding grad sampler needs contiguous indices.
        tokens = self.table(torch.cat(rows, dim=1).contiguous())
        if self.n_numeric:
            index = torch.arange(self.n_numeric * self.n_views, device=device).repeat(batch, 1)
            numeric = x_num.unsqueeze(-1) * self.scale(index)
            if self.n_views > 1:
                numeric = numeric.reshape(batch, self.n_views, self.n_numeric, self.d_token).sum(dim=1)
            tokens = torch.cat(
                [tokens[:, :1], tokens[:, 1 : 1 + self.n_numeric] + numeric, tokens[:, 1 + self.n_numeric :]],
                dim=1,
            )
        return tokens
