"""An attention network that is a polynomial of its inputs, for encrypted inference.

:class:`PolynomialAttention` is the one-block FT-Transformer of the tabular
estimators with every operation that homomorphic encryption (CKKS) cannot
evaluate replaced: no softmax, LayerNorm, GELU or ReLU, only additions,
products with weights and squares. Its only query is the ``[CLS]`` token, a
learned constant, so each feature's attention score depends on that
feature alone, and the whole network is a polynomial of low degree in the
encoded inputs. :meth:`PolynomialAttention.polynomial` gives that
polynomial exactly, as the few matrices that an encrypted evaluation needs
(:mod:`sk_privattn.encrypted`); :class:`PolynomialLayout` lists its inputs,
which only public quantities define.
"""

import itertools
import math

import numpy as np
import torch
from torch import nn

from .additive import additive_terms_beside
from .tokenizer import FeatureTokenizer

__all__ = ["PolynomialAttention", "PolynomialForm", "PolynomialLayout", "attention_polynomial"]


def attention_polynomial(scores):
    """The attention weight of a score before normalisation: ``(1 + s / 2) ** 2``.

    It is ``exp(s)`` to first order (``exp(s) = exp(s / 2) ** 2``), never
    negative, and 1 at ``s = 0``, so a block whose scores start near 0
    starts as mean pooling, as softmax attention does.
    """
    return (1.0 + scores / 2.0).square()


class PolynomialLayout:
    """The inputs of a :class:`PolynomialAttention` as a polynomial: public and fixed.

    Each input (term) is one of:

    - ``("numeric", j, views)``: the product of the views of numeric
      feature ``j`` that ``views`` lists, one to three of them (its monomials
      of degree 1 to 3);
    - ``("missing", j)``: 1 where numeric feature ``j`` is missing, else 0
      (its views are then 0);
    - ``("category", i, c)``: 1 where categorical feature ``i`` has code
      ``c`` (``c >= 1``), else 0; code 0, "unknown or missing", is the
      baseline that the constant term holds.

    The terms depend on the number of features, of views and of categories
    only: nothing learned, nothing read from data.

    Parameters
    ----------
    n_numeric : int
    cardinalities : sequence of int
        Known categories of each categorical feature, without the unknown slot.
    n_views : int, default=1
        Values per numeric feature (see :class:`FeatureTokenizer`).

    Examples
    --------
    >>> import numpy as np
    >>> layout = PolynomialLayout(1, [2])
    >>> layout.terms
    [('numeric', 0, (0,)), ('numeric', 0, (0, 0)), ('numeric', 0, (0, 0, 0)), ('missing', 0), ('category', 0, 1), ('category', 0, 2)]
    >>> layout.features(np.array([[0.5], [np.nan]]), np.array([[2], [0]]))
    array([[0.5  , 0.25 , 0.125, 0.   , 0.   , 1.   ],
           [0.   , 0.   , 0.   , 1.   , 0.   , 0.   ]])
    """

    def __init__(self, n_numeric, cardinalities, n_views=1):
        self.n_numeric = int(n_numeric)
        self.cardinalities = [int(c) for c in cardinalities]
        self.n_views = int(n_views)
        terms = []
        for j in range(self.n_numeric):
            for degree in (1, 2, 3):
                terms += [("numeric", j, views)
                          for views in itertools.combinations_with_replacement(range(self.n_views), degree)]
            terms.append(("missing", j))
        for i, cardinality in enumerate(self.cardinalities):
            terms += [("category", i, code) for code in range(1, cardinality + 1)]
        self.terms = terms

    @property
    def n_terms(self):
        return len(self.terms)

    def features(self, x_num, x_cat):
        """The terms for encoded rows, as :class:`FeatureTokenizer` reads them.

        Parameters
        ----------
        x_num : array-like of shape (n_samples, n_numeric * n_views)
            View ``v`` of feature ``j`` in column ``v * n_numeric + j``; NaN
            where the value is missing.
        x_cat : array-like of int, shape (n_samples, n_categorical)
            Codes in ``[0, cardinality]``.

        Returns
        -------
        features : ndarray of float64, shape (n_samples, n_terms)
        """
        x_num = np.asarray(x_num, dtype=np.float64).reshape(len(x_cat), -1)
        x_cat = np.asarray(x_cat)
        missing = np.isnan(x_num[:, : self.n_numeric])
        x_num = np.nan_to_num(x_num, nan=0.0)
        columns = []
        for term in self.terms:
            kind, feature = term[0], term[1]
            if kind == "numeric":
                columns.append(np.prod([x_num[:, view * self.n_numeric + feature] for view in term[2]], axis=0))
            elif kind == "missing":
                columns.append(missing[:, feature])
            else:
                columns.append(x_cat[:, feature] == term[2])
        return np.column_stack(columns).astype(np.float64) if columns else np.zeros((len(x_cat), 0))


class PolynomialForm:
    """A :class:`PolynomialAttention` in eval mode, written as the polynomial it computes.

    For the terms ``f`` of :class:`PolynomialLayout` (one row),
    ``outputs = linear_weight @ f + square_weight @ (hidden_weight @ f + hidden_bias) ** 2 + bias``:
    one product with a weight matrix, a square, and another product. Made by
    :meth:`PolynomialAttention.polynomial`; all arrays are float64.

    Attributes
    ----------
    layout : PolynomialLayout
    hidden_weight : ndarray of shape (d_ffn, n_terms)
    hidden_bias : ndarray of shape (d_ffn,)
    linear_weight : ndarray of shape (n_outputs, n_terms)
    square_weight : ndarray of shape (n_outputs, d_ffn)
    bias : ndarray of shape (n_outputs,)
    """

    #: Products of an encrypted value in :meth:`__call__`, one after the other: the
    #: multiplicative depth that a CKKS evaluation of it needs.
    depth = 3

    def __init__(self, layout, *, hidden_weight, hidden_bias, linear_weight, square_weight, bias):
        self.layout = layout
        self.hidden_weight = hidden_weight
        self.hidden_bias = hidden_bias
        self.linear_weight = linear_weight
        self.square_weight = square_weight
        self.bias = bias

    def __call__(self, features):
        """The outputs for the terms ``features``, shape (n_samples, n_outputs)."""
        hidden = features @ self.hidden_weight.T + self.hidden_bias
        return features @ self.linear_weight.T + np.square(hidden) @ self.square_weight.T + self.bias

    def output_bound(self):
        """A bound on the absolute value of every output, for terms of any rows.

        Numeric terms lie in [-1, 1] (the encoder scales numeric values to
        [-1, 1]); the terms of one categorical feature are 0 except one at
        most; a numeric feature's ``missing`` term is 1 only when its other
        terms are 0. CKKS decrypts a value exactly only below a limit that its
        parameters set (see :mod:`sk_privattn.encrypted`).
        """

        def bound(weight):  # (outputs, n_terms) -> the largest |weight @ f| per output
            total = np.zeros(len(weight))
            for kind, feature in {(term[0], term[1]) for term in self.layout.terms}:
                columns = [k for k, term in enumerate(self.layout.terms) if term[:2] == (kind, feature)]
                if kind == "numeric":
                    missing = self.layout.terms.index(("missing", feature))
                    total += np.maximum(np.abs(weight[:, columns]).sum(axis=1), np.abs(weight[:, missing]))
                elif kind == "category":
                    total += np.abs(weight[:, columns]).max(axis=1)
            return total

        hidden = np.abs(self.hidden_bias) + bound(self.hidden_weight)
        return np.abs(self.bias) + bound(self.linear_weight) + np.abs(self.square_weight) @ np.square(hidden)


class PolynomialAttention(nn.Module):
    """Attention for tabular data that CKKS can evaluate: a polynomial network.

    The one-block FT-Transformer of :class:`FTTransformer`, with only
    additions, products with weights and squares:

    - the tokens of :class:`FeatureTokenizer`, ``[CLS]`` first;
    - attention from ``[CLS]`` to every token, with weights
      ``(1 + s / 2) ** 2 / n_tokens`` for the score ``s`` (see
      :func:`attention_polynomial`) in place of a softmax: ``n_tokens`` is a
      public normaliser, and the weights are 1 / ``n_tokens`` when every
      score is 0;
    - the residual to ``[CLS]``, then a feed-forward layer whose activation is
      ``x ** 2``, with its residual;
    - a linear head, without LayerNorm;
    - with ``additive_terms``, :class:`AdditiveTerms` added to the logits
      (terms of degree 1 of the polynomial), the head starting at zero.

    ``[CLS]`` is a learned constant, so each token's score depends on its own
    feature only: the attention block is a sum over features of polynomials
    of degree 3 in each feature's values, and the feed-forward layer makes
    them interact in pairs. Trainable parameters are in ``nn.Linear`` and
    ``nn.Embedding`` layers only, which DP-SGD clips per row in one
    backward pass.

    Parameters
    ----------
    n_numeric : int
    cardinalities : sequence of int
    n_outputs : int
        Number of logits (classes) or regression outputs.
    d_token : int, default=16
    n_heads : int, default=4
    ffn_factor : float, default=2.0
        ``d_ffn = round(ffn_factor * d_token)``.
    dropout : float, default=0.0
        Dropout on the attention weights, the feed-forward hidden layer and
        both residual branches, in training only.
    n_views : int, default=1
        Values per numeric feature; see :class:`FeatureTokenizer`.
    additive_terms : bool, default=False
        Add one learned term per feature to the logits, as in
        :class:`FTTransformer`.

    Examples
    --------
    >>> import numpy as np, torch
    >>> module = PolynomialAttention(2, [3], 2, d_token=8, n_heads=2).eval()
    >>> x_num, x_cat = torch.tensor([[0.5, -0.2]]), torch.tensor([[1]])
    >>> form = module.polynomial()
    >>> outputs = form(form.layout.features(x_num.numpy(), x_cat.numpy()))
    >>> np.allclose(outputs, module(x_num, x_cat).detach().numpy(), atol=1e-6)
    True
    """

    def __init__(self, n_numeric, cardinalities, n_outputs, *, d_token=16, n_heads=4, ffn_factor=2.0, dropout=0.0,
                 n_views=1, additive_terms=False):
        super().__init__()
        if d_token % n_heads:
            raise ValueError(f"d_token={d_token} is not divisible by n_heads={n_heads}.")
        self.tokenizer = FeatureTokenizer(n_numeric, cardinalities, d_token, n_views)
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_token, 3 * d_token)
        self.out = nn.Linear(d_token, d_token)
        d_ffn = max(1, round(ffn_factor * d_token))
        self.ffn_in = nn.Linear(d_token, d_ffn)
        self.ffn_out = nn.Linear(d_ffn, d_token)
        self.head = nn.Linear(d_token, n_outputs)
        self.dropout = nn.Dropout(dropout)
        self.additive = None
        if additive_terms:
            self.additive = additive_terms_beside(self.head, n_numeric, cardinalities, n_outputs, n_views)

    @property
    def layout(self):
        """The :class:`PolynomialLayout` of this network's inputs."""
        tokenizer = self.tokenizer
        return PolynomialLayout(tokenizer.n_numeric, tokenizer.cardinalities, tokenizer.n_views)

    def forward(self, x_num, x_cat, *, need_weights=False):
        """Return the logits, shape (batch, n_outputs).

        With ``need_weights=True`` return ``(logits, weights)`` where
        ``weights`` (batch, n_heads, n_tokens) are the attention weights from
        ``[CLS]`` to every token, ``[CLS]`` first.
        """
        tokens = self.tokenizer(x_num, x_cat)
        batch, n_tokens, d_token = tokens.shape
        d_head = d_token // self.n_heads
        q, k, v = self.qkv(tokens).split(d_token, dim=-1)
        q = q[:, :1].reshape(batch, 1, self.n_heads, d_head).transpose(1, 2)
        k, v = (t.reshape(batch, n_tokens, self.n_heads, d_head).transpose(1, 2) for t in (k, v))
        scores = (q * k).sum(dim=-1) / math.sqrt(d_head)
        weights = attention_polynomial(scores) / n_tokens
        context = (self.dropout(weights).unsqueeze(-1) * v).sum(dim=2).reshape(batch, d_token)
        cls = tokens[:, 0] + self.dropout(self.out(context))
        hidden = self.dropout(self.ffn_in(cls).square())
        logits = self.head(cls + self.dropout(self.ffn_out(hidden)))
        if self.additive is not None:
            logits = logits + self.additive(x_num, x_cat)
        return (logits, weights) if need_weights else logits

    @torch.no_grad()
    def polynomial(self):
        """The network in eval mode as a :class:`PolynomialForm`, exactly, in float64.

        Each token is an affine function of its feature's values (numeric) or
        a table row (categorical); its share of the attention output is then
        a polynomial of degree 3 in those values, whose coefficients are
        expanded here; the maps that follow are linear up to the square.
        """
        weights = {name: value.double() for name, value in self.state_dict().items()}
        tokenizer = self.tokenizer
        table = weights["tokenizer.table.weight"]
        d_token = table.shape[1]
        n_tokens = tokenizer.n_tokens
        w_q, w_k, w_v = weights["qkv.weight"].split(d_token)
        b_q, b_k, b_v = weights["qkv.bias"].split(d_token)
        d_head = d_token // self.n_heads
        query = (w_q @ table[0] + b_q).reshape(self.n_heads, d_head)
        head_of_dim = torch.arange(d_token) // d_head

        def share(token):
            """Attention output of a token ``token[0] + sum_v x_v token[1 + v]``: {views: coefficients}."""
            keys = token @ w_k.T
            values = token @ w_v.T
            keys[0] += b_k
            values[0] += b_v
            scores = (keys.reshape(len(token), self.n_heads, d_head) * query).sum(dim=-1) / math.sqrt(d_head)
            # (1 + s/2)^2 with s affine: the square of the affine form 1 + s/2.
            half = scores / 2.0
            half[0] += 1.0
            half = half[:, head_of_dim]
            product = torch.einsum("ak,bk,ck->abck", half, half, values) / n_tokens
            coefficients = {}
            for index in itertools.product(range(len(token)), repeat=3):
                views = tuple(sorted(i - 1 for i in index if i > 0))
                coefficients[views] = coefficients.get(views, 0.0) + product[index]
            return coefficients

        layout = self.layout
        constant = share(table[:1])[()]
        numeric = []
        for j in range(tokenizer.n_numeric):
            slopes = weights["tokenizer.scale.weight"][j :: tokenizer.n_numeric]
            numeric.append(share(torch.cat([table[1 + j : 2 + j], slopes])))
            constant = constant + numeric[j][()]
        categories = []
        for offset, cardinality in zip(tokenizer._categorical_offsets, tokenizer.cardinalities):
            rows = [share(table[offset + code : offset + code + 1])[()] for code in range(cardinality + 1)]
            categories.append(rows)
            constant = constant + rows[0]
        columns = []
        for term in layout.terms:
            if term[0] == "numeric":
                columns.append(numeric[term[1]][term[2]])
            elif term[0] == "missing":
                missing_token = table[1 + tokenizer.n_numeric + term[1]]
                columns.append(share(missing_token[None])[()] - numeric[term[1]][()])
            else:
                columns.append(categories[term[1]][term[2]] - categories[term[1]][0])
        context = torch.stack(columns, dim=1) if columns else torch.zeros(d_token, 0, dtype=table.dtype)
        # [CLS] after the attention block: cls_bias + cls_weight @ f.
        cls_bias = table[0] + weights["out.weight"] @ constant + weights["out.bias"]
        cls_weight = weights["out.weight"] @ context
        head = weights["head.weight"]
        linear_weight = head @ cls_weight
        bias = head @ (cls_bias + weights["ffn_out.bias"]) + weights["head.bias"]
        if self.additive is not None:
            additive_weight, additive_bias = self.additive.linear_form(layout)
            linear_weight, bias = linear_weight + additive_weight, bias + additive_bias
        return PolynomialForm(
            layout,
            hidden_weight=(weights["ffn_in.weight"] @ cls_weight).numpy(),
            hidden_bias=(weights["ffn_in.weight"] @ cls_bias + weights["ffn_in.bias"]).numpy(),
            linear_weight=linear_weight.numpy(),
            square_weight=(head @ weights["ffn_out.weight"]).numpy(),
            bias=bias.numpy(),
        )
