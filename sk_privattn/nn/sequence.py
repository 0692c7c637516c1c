"""Attention networks over time series: an LSTM with attention pooling, and
a transformer over patches of time steps.

Both take a batch ``x`` of shape (batch, n_timesteps, n_inputs) and a
boolean ``mask`` of shape (batch, n_timesteps) that is ``True`` on the steps
of each series and ``False`` on its padding. Padding gets exactly zero
attention weight, so appending padding to a series leaves its output
unchanged.

With ``n_kernels > 0`` a patch is not read from its values but from what
:meth:`~sk_privattn.nn.RandomConvolutions.count_positive` counted in it:
``x`` then has shape (batch, n_patches, n_kernels + 1), for each patch the
number of positive outputs of each random kernel, and last the number of
observed (not missing) steps. Each becomes a proportion of the patch's steps
in the series, mapped to [-1, 1]; the proportion of positive values is the
feature of ROCKET (Dempster et al., 2020), here per patch. With
``additive_terms``, ROCKET's own classifier sits beside the attention: a
linear term on each kernel's proportion over the whole series
(:class:`KernelTerms`).
"""

import torch
from opacus.layers import DPLSTM
from torch import nn
from torch.nn import functional as F

from .transformer import TransformerBlock, encode_cls

__all__ = ["AdditiveAttentionPooling", "CountEmbedding", "KernelTerms", "LSTMAttention", "PatchTransformer"]

#: With ``additive_terms``, the attention's logits are multiplied by this before the terms are added.
ATTENTION_SCALE = 0.1


def _patches(x, mask, patch_size):
    """Cut (batch, time, n_inputs) into (batch, n_patches, patch_size * n_inputs).

    The last patch is padded with zeros. Returns the patches, the patch mask
    (True where a patch holds a step of the series) and the padded step mask.
    """
    batch, n_steps, n_inputs = x.shape
    n_patches = -(-n_steps // patch_size)
    pad = n_patches * patch_size - n_steps
    values = F.pad(x, (0, 0, 0, pad)).reshape(batch, n_patches, patch_size * n_inputs)
    step_mask = F.pad(mask, (0, pad))
    patch_mask = step_mask.reshape(batch, n_patches, patch_size).any(dim=2)
    return values, patch_mask, step_mask


def _patch_inputs(x, mask, patch_size, n_kernels):
    """The patches' features, the patch mask and the padded step mask.

    Without kernels, the values of the patch's steps (:func:`_patches`); with
    them, the proportions that ``x`` counts, in [-1, 1].
    """
    if not n_kernels:
        return _patches(x, mask, patch_size)
    batch, n_patches, _ = x.shape
    step_mask = F.pad(mask, (0, n_patches * patch_size - mask.shape[1]))
    steps = step_mask.reshape(batch, n_patches, patch_size).sum(dim=2)
    values = 2 * x.float() / steps.clamp_min(1).unsqueeze(-1) - 1
    return values, steps > 0, step_mask


class CountEmbedding(nn.Module):
    """A linear map of a patch's proportions of positive kernel outputs and of observed steps.

    Two layers, one per kind of proportion, each fed a contiguous tensor: a
    matrix product of odd width, or over a strided slice, gives a row a
    result that depends, in its last bits, on its position in the batch
    (measured with torch 2.13 on CPU), and a prediction must not.
    """

    def __init__(self, n_kernels, d_out):
        super().__init__()
        self.kernels = nn.Linear(n_kernels, d_out)
        self.observed = nn.Linear(1, d_out, bias=False)

    def forward(self, values):
        return self.kernels(values[..., :-1].contiguous()) + self.observed(values[..., -1:].contiguous())


class KernelTerms(nn.Module):
    """ROCKET's linear classifier: one weight per kernel and output on the
    whole series' proportion of positive outputs of that kernel.

    It reads the per-patch counts of
    :meth:`~sk_privattn.nn.RandomConvolutions.count_positive` (the last
    entry, the observed steps, is left out), sums them over the patches, and
    divides by the steps of the series, mapped to [-1, 1]: the feature of
    ROCKET (Dempster et al., 2020) for each kernel. Padding counts nothing
    and is not a step, so appending it changes nothing. The weights and the
    bias start at zero: the term predicts nothing until it has learned.

    Parameters
    ----------
    n_kernels : int
    n_outputs : int
    """

    def __init__(self, n_kernels, n_outputs):
        super().__init__()
        self.linear = nn.Linear(n_kernels, n_outputs)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x, mask):
        """The terms' logits (batch, n_outputs) for counts ``x`` (batch, n_patches, n_kernels + 1)."""
        steps = mask.sum(dim=1, keepdim=True).clamp_min(1)
        # Summed in float32, which holds every count below 2**24 exactly, whatever the order.
        proportions = 2 * x[..., :-1].sum(dim=1, dtype=torch.float32) / steps - 1
        return self.linear(proportions.contiguous())


def _kernel_terms(additive_terms, n_kernels, n_outputs):
    if not additive_terms:
        return None
    if not n_kernels:
        raise ValueError("additive_terms=True needs random-convolution counts (n_kernels > 0); got n_kernels=0.")
    return KernelTerms(n_kernels, n_outputs)


def _add_terms(terms, logits, x, mask):
    """``logits`` alone, or the kernel terms plus ``ATTENTION_SCALE`` times ``logits``."""
    if terms is None:
        return logits
    return terms(x, mask) + ATTENTION_SCALE * logits


def _spread_over_steps(patch_weights, step_mask, patch_size, n_steps):
    """Share each patch's weight equally among its steps of the series."""
    batch, n_patches = patch_weights.shape
    steps_in_patch = step_mask.reshape(batch, n_patches, patch_size).sum(dim=2).clamp_min(1)
    per_step = (patch_weights / steps_in_patch).repeat_interleave(patch_size, dim=1) * step_mask
    return per_step[:, :n_steps]


class AdditiveAttentionPooling(nn.Module):
    """Additive (Bahdanau) attention pooling over time.

    Each step's state ``h_t`` gets the score ``v · tanh(W h_t + b)``; the
    scores of the steps of a series go through a softmax over time, and the
    pooled state is the sum of the states weighted by it.

    Parameters
    ----------
    d_hidden : int
        Size of each state.
    d_score : int, default=None
        Size of the score's hidden layer (``d_hidden`` when ``None``).
    """

    def __init__(self, d_hidden, d_score=None):
        super().__init__()
        d_score = d_score or d_hidden
        self.project = nn.Linear(d_hidden, d_score)
        self.score = nn.Linear(d_score, 1, bias=False)

    def forward(self, states, mask):
        """Pool ``states`` (batch, time, d_hidden) over the steps where ``mask``.

        Returns
        -------
        pooled : Tensor of shape (batch, d_hidden)
        weights : Tensor of shape (batch, time)
            Zero on padding; each row sums to 1.
        """
        scores = self.score(torch.tanh(self.project(states))).squeeze(-1)  # (batch, time)
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = scores.softmax(dim=1)
        # (batch, 1, time) @ (batch, time, d_hidden): a 3-D batched product.
        pooled = torch.bmm(weights.unsqueeze(1), states).squeeze(1)
        return pooled, weights


class LSTMAttention(nn.Module):
    """LSTM encoder, additive attention pooling over its states, linear head.

    The encoder is Opacus' :class:`~opacus.layers.DPLSTM`, an LSTM built from
    linear layers that Opacus computes per-sample gradients for. It reads the
    series forwards, so trailing padding cannot change the states of the
    steps before it, and the pooling gives padding zero weight. With
    ``patch_size > 1`` each LSTM step reads a patch of consecutive time
    steps: ``patch_size`` times fewer recurrent steps, which is what makes
    DP-SGD on long series affordable (Opacus computes per-sample gradients
    step by step), and a patch's attention weight is shared by its steps.

    Parameters
    ----------
    n_inputs : int
        Values per time step.
    n_outputs : int
    d_hidden : int, default=64
        LSTM state size.
    n_layers : int, default=1
        Stacked LSTM layers.
    dropout : float, default=0.0
        Dropout between LSTM layers and before the head.
    patch_size : int, default=1
        Time steps per LSTM step.
    n_kernels : int, default=0
        With ``n_kernels > 0``, ``x`` holds counts of random convolutions per
        patch (see the module's docstring), which a linear layer maps to
        ``d_hidden`` before the LSTM reads them.
    additive_terms : bool, default=False
        With ``n_kernels > 0``, add :class:`KernelTerms`, a linear model of
        the whole series' kernel proportions, to the logits; the attention's
        logits are then multiplied by ``ATTENTION_SCALE`` (0.1), so that
        under DP-SGD the linear model, which needs few rows, learns first
        and the attention adds what it can. Needs ``n_kernels > 0``.
    """

    def __init__(self, n_inputs, n_outputs, *, d_hidden=64, n_layers=1, dropout=0.0, patch_size=1, n_kernels=0,
                 additive_terms=False):
        super().__init__()
        self.patch_size = int(patch_size)
        self.n_kernels = int(n_kernels)
        d_input = self.patch_size * n_inputs
        if self.n_kernels:
            self.embed = CountEmbedding(self.n_kernels, d_hidden)
            d_input = d_hidden
        self.lstm = DPLSTM(
            d_input, d_hidden, num_layers=n_layers, batch_first=True, dropout=dropout if n_layers > 1 else 0.0
        )
        self.pooling = AdditiveAttentionPooling(d_hidden)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(d_hidden, n_outputs)
        # Last, so that the attention's parameters draw the same initial values with or without it.
        self.terms = _kernel_terms(additive_terms, self.n_kernels, n_outputs)

    def forward(self, x, mask, *, need_weights=False):
        """Return the logits (batch, n_outputs), and with ``need_weights``
        the attention over time steps (batch, time)."""
        values, patch_mask, step_mask = _patch_inputs(x, mask, self.patch_size, self.n_kernels)
        if self.n_kernels:
            values = self.embed(values)
        states, _ = self.lstm(values)
        pooled, weights = self.pooling(states, patch_mask)
        logits = _add_terms(self.terms, self.head(self.dropout(pooled)), x, mask)
        if not need_weights:
            return logits
        return logits, _spread_over_steps(weights, step_mask, self.patch_size, mask.shape[1])


class PatchTransformer(nn.Module):
    """Transformer over patches of time steps, read through a ``[CLS]`` token.

    The series is cut into patches of ``patch_size`` consecutive steps (the
    last one padded). Each patch becomes a token by a linear map of its
    values plus a learned positional embedding; a ``[CLS]`` token is
    prepended, and pre-norm transformer blocks, as in
    :class:`~sk_privattn.nn.FTTransformer`, run over the tokens. A patch
    with no step of the series is padding: it gets exactly zero attention.

    Parameters
    ----------
    n_inputs : int
        Values per time step.
    n_outputs : int
    max_patches : int
        Number of positional embeddings: the longest series is
        ``max_patches * patch_size`` steps.
    patch_size : int, default=8
    d_token : int, default=64
    n_heads : int, default=4
    n_layers : int, default=2
    ffn_factor : float, default=2.0
    dropout : float, default=0.0
    n_kernels : int, default=0
        With ``n_kernels > 0``, ``x`` holds counts of random convolutions per
        patch (see the module's docstring), and the token of a patch is a
        linear map of their proportions.
    additive_terms : bool, default=False
        With ``n_kernels > 0``, add :class:`KernelTerms`, a linear model of
        the whole series' kernel proportions, to the logits; the attention's
        logits are then multiplied by ``ATTENTION_SCALE`` (0.1), so that
        under DP-SGD the linear model, which needs few rows, learns first
        and the attention adds what it can. Needs ``n_kernels > 0``.
    """

    def __init__(
        self,
        n_inputs,
        n_outputs,
        max_patches,
        *,
        patch_size=8,
        d_token=64,
        n_heads=4,
        n_layers=2,
        ffn_factor=2.0,
        dropout=0.0,
        n_kernels=0,
        additive_terms=False,
    ):
        super().__init__()
        self.patch_size = int(patch_size)
        self.max_patches = int(max_patches)
        self.n_kernels = int(n_kernels)
        if self.n_kernels:
            self.patch = CountEmbedding(self.n_kernels, d_token)
        else:
            self.patch = nn.Linear(self.patch_size * n_inputs, d_token)
        # Row 0 is the [CLS] token, row 1 + p the position of patch p: an
        # nn.Embedding, so that Opacus has per-sample gradients for them.
        self.positions = nn.Embedding(1 + self.max_patches, d_token)
        nn.init.normal_(self.positions.weight, std=0.02)
        d_ffn = max(1, round(ffn_factor * d_token))
        self.blocks = nn.ModuleList(TransformerBlock(d_token, n_heads, d_ffn, dropout) for _ in range(n_layers))
        self.head_norm = nn.LayerNorm(d_token)
        self.head = nn.Linear(d_token, n_outputs)
        # Last, so that the attention's parameters draw the same initial values with or without it.
        self.terms = _kernel_terms(additive_terms, self.n_kernels, n_outputs)

    def forward(self, x, mask, *, need_weights=False):
        """Return the logits (batch, n_outputs), and with ``need_weights``
        the last block's ``[CLS]`` attention spread over time steps (batch,
        time): each patch's weight, averaged over heads, shared equally by
        its steps of the series."""
        batch, n_steps = mask.shape
        values, patch_mask, step_mask = _patch_inputs(x, mask, self.patch_size, self.n_kernels)
        n_patches = values.shape[1]
        if n_patches > self.max_patches:
            raise ValueError(
                f"a series of {n_steps} steps needs {n_patches} patches, but the model has "
                f"positions for {self.max_patches}."
            )
        index = torch.arange(1 + n_patches, device=x.device).repeat(batch, 1)
        position = self.positions(index.contiguous())
        tokens = torch.cat([position[:, :1], self.patch(values) + position[:, 1:]], dim=1)
        padding = torch.cat([patch_mask.new_zeros(batch, 1), ~patch_mask], dim=1)
        cls, weights = encode_cls(self.blocks, tokens, key_padding_mask=padding, need_weights=need_weights)
        logits = _add_terms(self.terms, self.head(F.relu(self.head_norm(cls))), x, mask)
        if not need_weights:
            return logits
        patch_weights = weights[:, :, 1:].mean(dim=1)  # (batch, n_patches), [CLS] dropped
        patch_weights = patch_weights / patch_weights.sum(dim=1, keepdim=True).clamp_min(1e-12)
        return logits, _spread_over_steps(patch_weights, step_mask, self.patch_size, n_steps)
