"""One learned term per feature, summed into the logits: a generalized additive model."""

import torch
from torch import nn

from .tokenizer import FeatureTokenizer

__all__ = ["AdditiveTerms", "additive_terms_beside"]


class AdditiveTerms(nn.Module):
    """The additive part of a tabular network: ``sum_j f_j(x_j)`` per output.

    Each feature contributes to each output on its own, without interaction:
    a numeric feature ``sum_v x_jv * w_jv + b_j`` over its views (for
    "linear+log", a linear and a logarithmic term), or its own learned value
    ``m_j`` where it is missing; a categorical feature the learned value of
    its category (code 0, unknown or missing, has one too). With one view
    this is a logistic (or linear) regression on the one-hot / scaled
    design; with several it is a generalized additive model of the encoded
    features. A constant (the intercept) is added.

    It is a :class:`FeatureTokenizer` whose tokens have one entry per output,
    summed over the tokens, so its parameters are two ``nn.Embedding``
    tables, which DP-SGD clips per row. They start at zero: the term
    predicts nothing until it has learned.

    Parameters
    ----------
    n_numeric : int
    cardinalities : sequence of int
        Known categories of each categorical feature, without the unknown slot.
    n_outputs : int
    n_views : int, default=1
        Values per numeric feature; see :class:`FeatureTokenizer`.

    Examples
    --------
    >>> import torch
    >>> terms = AdditiveTerms(2, [3], 2)
    >>> terms(torch.tensor([[0.5, float("nan")]]), torch.tensor([[1]]))
    tensor([[0., 0.]], grad_fn=<SumBackward1>)
    """

    def __init__(self, n_numeric, cardinalities, n_outputs, n_views=1):
        super().__init__()
        self.terms = FeatureTokenizer(n_numeric, cardinalities, n_outputs, n_views)
        for parameter in self.terms.parameters():
            nn.init.zeros_(parameter)

    def forward(self, x_num, x_cat):
        """The sum of the terms, shape (batch, n_outputs); inputs as :class:`FeatureTokenizer` reads them."""
        return self.terms(x_num, x_cat).sum(dim=1)

    @torch.no_grad()
    def linear_form(self, layout):
        """The terms as ``weight @ f + bias`` for the terms ``f`` of a
        :class:`~sk_privattn.nn.PolynomialLayout` (float64).

        Only the layout's terms of degree 1 get a weight: a numeric view,
        a "missing" indicator, a category other than code 0.

        Returns
        -------
        weight : Tensor of shape (n_outputs, n_terms)
        bias : Tensor of shape (n_outputs,)
        """
        tokenizer = self.terms
        table = tokenizer.table.weight.double()
        scale = tokenizer.scale.weight.double() if tokenizer.scale is not None else None
        n_numeric = tokenizer.n_numeric
        offsets = tokenizer._categorical_offsets
        # Every row at its baseline: the intercept, each numeric feature present
        # with all views 0, each categorical feature at code 0.
        bias = table[0] + table[1 : 1 + n_numeric].sum(dim=0) + sum((table[offset] for offset in offsets),
                                                                   torch.zeros_like(table[0]))
        weight = torch.zeros(table.shape[1], layout.n_terms, dtype=table.dtype)
        for k, term in enumerate(layout.terms):
            kind, feature = term[0], term[1]
            if kind == "numeric" and len(term[2]) == 1:
                weight[:, k] = scale[term[2][0] * n_numeric + feature]
            elif kind == "missing":
                weight[:, k] = table[1 + n_numeric + feature] - table[1 + feature]
            elif kind == "category":
                weight[:, k] = table[offsets[feature] + term[2]] - table[offsets[feature]]
        return weight, bias


def additive_terms_beside(head, n_numeric, cardinalities, n_outputs, n_views):
    """:class:`AdditiveTerms` for a network whose attention ends in the linear layer ``head``,
    which is set to zero: the network starts as the (zero) additive model."""
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    return AdditiveTerms(n_numeric, cardinalities, n_outputs, n_views)
