"""Per-sample gradient clipping in one backward pass, without per-sample gradients.

Opacus' hooks mode materialises one gradient per row for every parameter,
then takes their norms, scales them and sums them. :class:`BookKeepingClipper`
computes the same clipped sum from what one backward pass already has: each
layer's input (kept by a forward hook) and the gradient of the loss with
respect to its output (asked of autograd). It is the book-keeping design of
Bu et al. (ICML 2023):

1. ``torch.autograd.grad`` gives the output gradients of every covered layer.
   Autograd computes no parameter gradient on the way: those are the ones
   this module forms, clipped.
2. Each row's gradient norm, layer by layer, by the ghost-norm identity
   (``||sum_t g_t a_t^T||^2 = sum_{t,s} (g_t . g_s)(a_t . a_s)``, Li et al.,
   2022) where that is cheaper than the row's gradient itself.
3. The clip factor of each row, ``min(1, C / (norm + 1e-6))``, as Opacus
   computes it, times the row's weight.
4. Each parameter's clipped sum: the layer's own weight-gradient product,
   with each row's output gradient scaled by its factor.

Row ``i`` contributes ``w_i * clip(g_i)`` exactly as in
:class:`~sk_privattn.dpsgd._optimizer.RowWeightedDPOptimizer`. A layer called several
times in one forward pass (tied weights) is handled: its calls are
concatenated along the token axis, which sums the row's gradient over calls
before its norm is taken.

The rules cover ``nn.Linear``, ``nn.Embedding`` and ``nn.LayerNorm`` (exact
types, as Opacus matches them); :func:`covers` says whether every trainable
parameter of a module lies in a covered layer. A module with anything else
(``DPLSTM``, a bare ``nn.Parameter``) stays on Opacus' hooks.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["BookKeepingClipper", "covers"]


def _embedding_is_plain(embedding):
    return not (embedding.sparse or embedding.scale_grad_by_freq or embedding.max_norm is not None)


#: The layers covered, and the condition on their options.
_COVERED = {nn.Linear: None, nn.LayerNorm: None, nn.Embedding: _embedding_is_plain}


def _trainable_parameters(module):
    """The trainable parameters that ``module`` holds itself (not its children)."""
    return [p for p in module.parameters(recurse=False) if p.requires_grad]


def covers(module):
    """Whether every trainable parameter of ``module`` lies in a layer that
    :class:`BookKeepingClipper` has a rule for.

    >>> from torch import nn
    >>> covers(nn.Sequential(nn.Embedding(5, 4), nn.LayerNorm(4), nn.Linear(4, 2)))
    True
    >>> covers(nn.LSTM(4, 2))
    False
    """
    for submodule in module.modules():
        if not _trainable_parameters(submodule):
            continue
        if type(submodule) not in _COVERED:
            return False
        condition = _COVERED[type(submodule)]
        if condition is not None and not condition(submodule):
            return False
    return True


# -- the rules ------------------------------------------------------------------
#
# Each rule sees one layer's calls of one batch: its input ``a`` as the rule
# reads it, of shape (batch, tokens, features), and ``g``, the gradient of
# the batch's loss with respect to the layer's output, of shape (batch,
# tokens, outputs). ``squared_norms`` returns each row's squared gradient
# norm (in units of ``g``) and whatever the clipped sum can reuse;
# ``clipped_sum`` returns each parameter's sum of the rows' gradients, row
# ``i`` multiplied by ``factor[i]``.


def _tokens(tensor, n_features):
    """(batch, ..., n_features) as (batch, tokens, n_features); empty batches included."""
    return tensor.reshape(len(tensor), math.prod(tensor.shape[1:]) // n_features, n_features)


def _units(tokens, rows_per_unit):
    """(rows, tokens, features) as (units, rows_per_unit * tokens, features)."""
    if rows_per_unit == 1:
        return tokens
    return tokens.reshape(len(tokens) // rows_per_unit, rows_per_unit * tokens.shape[1], tokens.shape[2])


def _squared_norms(tensor):
    """The squared norm of each row (first axis) of ``tensor``, in one pass."""
    return torch.linalg.vector_norm(tensor.flatten(1), dim=1).square()


def _linear_inputs(layer, x):
    return _tokens(x, x.shape[-1])


def _linear_squared_norms(layer, a, g):
    squared, per_row, bias_rows = g.new_zeros(len(g)), None, None
    if layer.weight.requires_grad:
        n_tokens, n_in, n_out = a.shape[1], a.shape[2], g.shape[2]
        if n_tokens == 1:
            squared += _squared_norms(g) * _squared_norms(a)
        elif n_tokens * (n_in + n_out) < n_in * n_out:
            # The ghost norm: (tokens x tokens) products instead of (out x in).
            squared += (g @ g.transpose(1, 2) * (a @ a.transpose(1, 2))).sum(dim=(1, 2))
        else:
            per_row = g.transpose(1, 2) @ a
            squared += _squared_norms(per_row)
    if layer.bias is not None and layer.bias.requires_grad:
        bias_rows = g.sum(dim=1)
        squared += _squared_norms(bias_rows)
    return squared, (per_row, bias_rows)


def _linear_clipped_sum(layer, a, g, factor, reuse):
    per_row, bias_rows = reuse
    sums = {}
    if layer.weight.requires_grad:
        if per_row is not None:
            sums[layer.weight] = (factor @ per_row.flatten(1)).view_as(layer.weight)
        elif a.shape[2] <= g.shape[2]:  # scale the smaller of the two
            sums[layer.weight] = g.flatten(0, 1).T @ (a * factor[:, None, None]).flatten(0, 1)
        else:
            sums[layer.weight] = (g * factor[:, None, None]).flatten(0, 1).T @ a.flatten(0, 1)
    if bias_rows is not None:
        sums[layer.bias] = factor @ bias_rows
    return sums


def _embedding_inputs(layer, index):
    return _tokens(index, 1)


def _embedding_squared_norms(layer, index, g):
    if layer.padding_idx is not None:
        # torch gives the padding row no gradient: its tokens drop out.
        g = g * (index != layer.padding_idx)
    ordered = index.squeeze(2).sort(dim=1).values
    if not (ordered[:, 1:] == ordered[:, :-1]).any():
        # Each token of a row reads its own table row: the norms add up.
        return _squared_norms(g), g
    # Tokens of one row that read the same table row add up before the norm.
    same_row = index == index.transpose(1, 2)
    return (g @ g.transpose(1, 2) * same_row).sum(dim=(1, 2)), g


def _embedding_clipped_sum(layer, index, g, factor, kept_g):
    rows = (kept_g * factor[:, None, None]).flatten(0, 1)
    return {layer.weight: torch.zeros_like(layer.weight).index_add_(0, index.reshape(-1), rows)}


def _layer_norm_inputs(layer, x):
    normalized = F.layer_norm(x, layer.normalized_shape, eps=layer.eps)
    return _tokens(normalized, math.prod(layer.normalized_shape))


def _layer_norm_squared_norms(layer, normalized, g):
    # Each row's gradient of each parameter is small (the size of one token).
    per_row = {}
    if layer.weight is not None and layer.weight.requires_grad:
        per_row[layer.weight] = (g * normalized).sum(dim=1)
    if layer.bias is not None and layer.bias.requires_grad:
        per_row[layer.bias] = g.sum(dim=1)
    return sum(_squared_norms(row) for row in per_row.values()), per_row


def _layer_norm_clipped_sum(layer, normalized, g, factor, per_row):
    return {parameter: (factor @ row).view_as(parameter) for parameter, row in per_row.items()}


#: Per layer type: (its input as the rule reads it, squared norms, clipped sum).
_RULES = {
    nn.Linear: (_linear_inputs, _linear_squared_norms, _linear_clipped_sum),
    nn.Embedding: (_embedding_inputs, _embedding_squared_norms, _embedding_clipped_sum),
    nn.LayerNorm: (_layer_norm_inputs, _layer_norm_squared_norms, _layer_norm_clipped_sum),
}


class BookKeepingClipper:
    """Forms ``sum_i w_i * clip(g_i)`` for every trainable parameter of ``module`` in
    one backward pass, without materialising the per-sample gradients ``g_i``.

    Forward hooks on the covered layers record, while the module trains with
    gradients enabled, each call's input and output. :meth:`backward` then
    replaces ``loss.backward()``: it sets each parameter's ``.grad`` to the
    clipped, weighted sum of the rows' gradients, which a DP optimizer that
    only adds noise (Opacus' ``DPOptimizerFastGradientClipping``) turns into a
    step. :meth:`cleanup` removes the hooks and everything recorded.

    Parameters
    ----------
    module : torch.nn.Module
        Every trainable parameter in a covered layer (see :func:`covers`);
        each layer's first input axis is the batch.
    max_grad_norm : float
        The clipping bound ``C``.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sk_privattn.dpsgd._clipping import BookKeepingClipper
    >>> module = nn.Linear(3, 1)
    >>> clipper = BookKeepingClipper(module, max_grad_norm=1.0)
    >>> x = torch.full((4, 3), 10.0)
    >>> clipper.backward(module(x).mean(), batch_size=4)
    >>> module.weight.grad.norm() <= 4 * 1.0  # four rows, each clipped to norm 1
    tensor(True)
    >>> clipper.cleanup()
    """

    def __init__(self, module, *, max_grad_norm):
        if not covers(module):
            raise ValueError(
                f"{type(module).__name__} has trainable parameters outside nn.Linear, nn.Embedding and "
                "nn.LayerNorm; train it with Opacus' per-sample gradient hooks instead."
            )
        self.max_grad_norm = float(max_grad_norm)
        self._parameters = [p for p in module.parameters() if p.requires_grad]
        self._calls = {}  # layer -> list of (input, output, output version)
        self._handles = [
            layer.register_forward_hook(self._record)
            for layer in module.modules()
            if type(layer) in _RULES and _trainable_parameters(layer)
        ]

    def _record(self, layer, inputs, output):
        if layer.training and torch.is_grad_enabled():
            self._calls.setdefault(layer, []).append((inputs[0].detach(), output, output._version))

    def backward(self, loss, *, batch_size, row_weight=None, rows_per_unit=None):
        """Set each parameter's ``.grad`` to ``sum_i w_i * clip(g_i)`` over the batch.

        Parameters
        ----------
        loss : Tensor
            The mean over the ``batch_size`` rows of each row's own loss.
        batch_size : int
            Rows in the batch (0 for an empty Poisson batch: every ``.grad``
            is then zero).
        row_weight : Tensor of shape (batch_size,), default=None
            ``w_i`` in [0, 1]; ``None`` for all 1.
        rows_per_unit : int, default=None
            Person-level clipping: the batch is ``batch_size / rows_per_unit``
            units of that many consecutive rows, and each unit's gradient (the
            sum of its rows' gradients, weighted inside ``loss``) is clipped as a
            whole. Each layer's rows are regrouped as units with the rows' tokens
            side by side, so that the rules take a unit's gradient, with the
            cross terms between its rows, for a row's.
        """
        rows_per_unit = 1 if rows_per_unit is None else int(rows_per_unit)
        if rows_per_unit > 1 and row_weight is not None:
            raise ValueError("Person-level clipping weighs the rows inside the loss; pass row_weight=None.")
        calls, self._calls = self._calls, {}
        layers = list(calls)
        outputs = [output for layer in layers for _, output, _ in calls[layer]]
        for layer in layers:
            for _, output, version in calls[layer]:
                if output._version != version:
                    raise RuntimeError(
                        f"The output of {layer} was modified in place after the layer ran; per-sample "
                        "clipping needs it as the layer returned it. Use an out-of-place operation."
                    )
        grads = iter(torch.autograd.grad(loss, outputs, allow_unused=True) if outputs else ())
        per_layer = []
        n_units = batch_size // rows_per_unit
        squared = loss.new_zeros(n_units)
        for layer in layers:
            read, squared_norms, _ = _RULES[type(layer)]
            inputs, output_grads = [], []
            for layer_input, output, _ in calls[layer]:
                grad = next(grads)
                if len(layer_input) != batch_size:
                    raise RuntimeError(
                        f"{layer} ran on a tensor whose first axis has {len(layer_input)} entries, but the "
                        f"batch has {batch_size} rows; per-sample clipping needs the batch on the first axis."
                    )
                inputs.append(read(layer, layer_input))
                output_grads.append(_tokens(torch.zeros_like(output) if grad is None else grad, output.shape[-1]))
            # A layer called several times: its tokens of all calls, one row's gradient; and a
            # unit's rows: their tokens side by side, one unit's gradient.
            a, g = (_units(torch.cat(t, dim=1) if len(t) > 1 else t[0], rows_per_unit)
                    for t in (inputs, output_grads))
            layer_squared, reuse = squared_norms(layer, a, g)
            squared += layer_squared
            per_layer.append((layer, a, g, reuse))
        # The loss is the mean over the batch: row i's own gradient is
        # batch_size times its part of the loss's gradient.
        norms = squared.sqrt() * batch_size
        factor = (self.max_grad_norm / (norms + 1e-6)).clamp(max=1.0) * batch_size
        if row_weight is not None:
            factor = factor * row_weight.to(factor)
        sums = {}
        for layer, a, g, reuse in per_layer:
            sums.update(_RULES[type(layer)][2](layer, a, g, factor, reuse))
        for parameter in self._parameters:
            # A layer that did not run in this pass has a zero gradient.
            parameter.grad = sums[parameter].view_as(parameter) if parameter in sums else torch.zeros_like(parameter)

    def cleanup(self):
        """Remove the hooks and whatever the last forward pass recorded."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._calls = {}
