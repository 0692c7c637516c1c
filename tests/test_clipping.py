"""The book-keeping clipper forms the same clipped, weighted sum as Opacus' hooks mode."""

import pytest
import torch
from opacus.grad_sample import GradSampleHooks
from torch import nn

from sk_privattn.dpsgd._clipping import BookKeepingClipper, covers
from sk_privattn.dpsgd import RowWeightedDPOptimizer
from sk_privattn.nn import FTTransformer
from sk_privattn.nn.sequence import LSTMAttention, PatchTransformer

pytestmark = pytest.mark.filterwarnings("ignore:Full backward hook is firing")

N_ROWS = 12


class _Head(nn.Module):
    """``body`` then a linear head on the mean over tokens: one loss per row."""

    def __init__(self, body, d_out, n_classes=3):
        super().__init__()
        self.body = body
        self.head = nn.Linear(d_out, n_classes)

    def forward(self, x):
        hidden = self.body(x)
        if hidden.dim() == 3:
            hidden = hidden.mean(dim=1)
        return self.head(hidden)


class _Tied(nn.Module):
    """One linear layer called twice in a forward pass (tied weights)."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(6, 6)
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        return self.head(torch.tanh(self.linear(torch.tanh(self.linear(x)))).mean(dim=1))


def _tokens(n_features):
    return torch.randn(N_ROWS, 5, n_features) * 3


def _ft_transformer():
    module = FTTransformer(3, [4, 2], 3, d_token=8, n_heads=2, n_layers=2, n_views=2)
    x_num = torch.randn(N_ROWS, 6)
    x_cat = torch.randint(0, 3, (N_ROWS, 2))
    return module, {"x_num": x_num, "x_cat": x_cat}


def _patch_transformer():
    module = PatchTransformer(2, 3, max_patches=4, patch_size=3, d_token=8, n_heads=2, n_layers=2)
    x = torch.randn(N_ROWS, 10, 2)
    mask = torch.ones(N_ROWS, 10, dtype=torch.bool)
    mask[: N_ROWS // 2, 7:] = False  # some series are shorter: their last patch is padding
    return module, {"x": x, "mask": mask}


CASES = {
    "linear on rows": lambda: (_Head(nn.Linear(4, 5), 5), {"x": torch.randn(N_ROWS, 4) * 3}),
    # (tokens x (in + out)) below (in x out): the ghost norm.
    "linear on tokens, ghost norm": lambda: (_Head(nn.Linear(16, 16), 16), {"x": _tokens(16)}),
    # and above it: the row's gradient itself.
    "linear on tokens, direct norm": lambda: (_Head(nn.Linear(3, 2), 2), {"x": _tokens(3)}),
    "linear without bias": lambda: (_Head(nn.Linear(4, 5, bias=False), 5), {"x": _tokens(4)}),
    # Several tokens of a row read the same table row.
    "embedding": lambda: (_Head(nn.Embedding(4, 6), 6), {"x": torch.randint(0, 4, (N_ROWS, 7))}),
    "layer norm on tokens": lambda: (_Head(nn.LayerNorm(5), 5), {"x": _tokens(5)}),
    "layer norm on rows": lambda: (_Head(nn.LayerNorm(5), 5), {"x": torch.randn(N_ROWS, 5) * 3}),
    "tied linear": lambda: (_Tied(), {"x": _tokens(6)}),
    "FT-Transformer": _ft_transformer,
    "PatchTransformer": _patch_transformer,
}


def _loss(module, inputs, target):
    return nn.functional.cross_entropy(module(**inputs), target, reduction="none").mean()


def _opacus_clipped_sum(module, inputs, target, row_weight, max_grad_norm):
    """Opacus' hooks mode: per-sample gradients, then RowWeightedDPOptimizer's clipping."""
    hooks = GradSampleHooks(module, batch_first=True, loss_reduction="mean", strict=True)
    optimizer = RowWeightedDPOptimizer(
        torch.optim.SGD(module.parameters(), lr=0.0),
        noise_multiplier=0.0,
        max_grad_norm=max_grad_norm,
        expected_batch_size=len(target),
    )
    try:
        _loss(module, inputs, target).backward()
        norms = torch.stack([g.reshape(len(g), -1).norm(dim=1) for g in optimizer.grad_samples], dim=1).norm(dim=1)
        optimizer.row_weight = row_weight
        optimizer.clip_and_accumulate()
        return [p.summed_grad.clone() for p in module.parameters()], norms
    finally:
        hooks.cleanup()
        for p in module.parameters():
            p.__dict__.clear()
            p.grad = None


def _bookkeeping_clipped_sum(module, inputs, target, row_weight, max_grad_norm):
    clipper = BookKeepingClipper(module, max_grad_norm=max_grad_norm)
    try:
        clipper.backward(_loss(module, inputs, target), batch_size=len(target), row_weight=row_weight)
        return [p.grad.clone() for p in module.parameters()]
    finally:
        clipper.cleanup()
        for p in module.parameters():
            p.grad = None


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "row weights"])
@pytest.mark.parametrize("case", list(CASES))
def test_same_clipped_sum_as_opacus_hooks(case, weighted):
    torch.manual_seed(0)
    module, inputs = CASES[case]()
    module.train()
    target = torch.randint(0, 3, (N_ROWS,))
    row_weight = torch.rand(N_ROWS) if weighted else None
    # A bound at the median row norm: half of the rows are clipped, half are not.
    _, norms = _opacus_clipped_sum(module, inputs, target, None, 1.0)
    max_grad_norm = norms.median().item()
    assert (norms > max_grad_norm).any() and (norms < max_grad_norm).any()
    expected, _ = _opacus_clipped_sum(module, inputs, target, row_weight, max_grad_norm)
    found = _bookkeeping_clipped_sum(module, inputs, target, row_weight, max_grad_norm)
    for name, e, f in zip([n for n, _ in module.named_parameters()], expected, found):
        torch.testing.assert_close(f, e, rtol=1e-4, atol=1e-6, msg=lambda m: f"{case}, {name}: {m}")


def _clipped_sum_row_by_row(module, inputs, target, row_weight, max_grad_norm):
    """The definition: each row's gradient on its own, clipped, weighted, summed."""
    total = [torch.zeros_like(p) for p in module.parameters()]
    for i in range(len(target)):
        row = {name: tensor[i : i + 1] for name, tensor in inputs.items()}
        grads = torch.autograd.grad(_loss(module, row, target[i : i + 1]), list(module.parameters()))
        norm = torch.cat([g.reshape(-1) for g in grads]).norm()
        factor = min(1.0, max_grad_norm / (norm.item() + 1e-6)) * row_weight[i]
        total = [t + factor * g for t, g in zip(total, grads)]
    return total


def test_embedding_padding_rows_get_no_gradient():
    # torch gives the padding row no gradient; Opacus' embedding rule does, so the
    # reference here is the definition, row by row.
    torch.manual_seed(0)
    module = _Head(nn.Embedding(5, 4, padding_idx=0), 4)
    inputs = {"x": torch.randint(0, 5, (N_ROWS, 6))}
    target, row_weight = torch.randint(0, 3, (N_ROWS,)), torch.rand(N_ROWS)
    expected = _clipped_sum_row_by_row(module, inputs, target, row_weight, 0.5)
    found = _bookkeeping_clipped_sum(module, inputs, target, row_weight, 0.5)
    assert torch.all(found[0][0] == 0)
    for e, f in zip(expected, found):
        torch.testing.assert_close(f, e, rtol=1e-4, atol=1e-6)


def test_no_row_contributes_more_than_max_grad_norm():
    """With one row in the batch, the clipped sum is that row's contribution."""
    torch.manual_seed(0)
    module, inputs = _ft_transformer()
    for i in range(4):
        row = {name: tensor[i : i + 1] * 100 for name, tensor in inputs.items() if name == "x_num"}
        row["x_cat"] = inputs["x_cat"][i : i + 1]
        found = _bookkeeping_clipped_sum(module, row, torch.tensor([i % 3]), torch.tensor([0.7]), 0.25)
        norm = torch.cat([g.reshape(-1) for g in found]).norm()
        assert norm <= 0.7 * 0.25 * (1 + 1e-5)


def test_an_empty_batch_gives_zero_gradients():
    torch.manual_seed(0)
    module, inputs = _ft_transformer()
    empty = {name: tensor[:0] for name, tensor in inputs.items()}
    clipper = BookKeepingClipper(module, max_grad_norm=1.0)
    output = module(**empty)
    clipper.backward(output.sum() * 0.0, batch_size=0)
    clipper.cleanup()
    assert all(p.grad is not None and torch.all(p.grad == 0) for p in module.parameters())


def test_cleanup_leaves_nothing_on_the_module():
    module, inputs = _ft_transformer()
    hooks_before = [dict(m._forward_hooks) for m in module.modules()]
    clipper = BookKeepingClipper(module, max_grad_norm=1.0)
    module(**inputs)
    clipper.cleanup()
    assert [dict(m._forward_hooks) for m in module.modules()] == hooks_before
    assert clipper._calls == {}


def test_coverage():
    assert covers(FTTransformer(3, [4], 2))
    assert covers(_patch_transformer()[0])
    assert not covers(LSTMAttention(2, 3))  # DPLSTM stays on Opacus' hooks
    assert not covers(nn.Embedding(4, 2, scale_grad_by_freq=True))
    frozen = nn.Sequential(nn.Linear(2, 2), nn.GRU(2, 2))
    frozen[1].requires_grad_(False)
    assert covers(frozen)  # nothing to clip in a frozen layer
    with pytest.raises(ValueError, match="Opacus' per-sample gradient hooks"):
        BookKeepingClipper(LSTMAttention(2, 3), max_grad_norm=1.0)


def test_a_layer_that_is_not_batch_first_is_refused():
    class Positions(nn.Module):
        def __init__(self):
            super().__init__()
            self.positions = nn.Embedding(5, 3)
            self.head = nn.Linear(3, 2)

        def forward(self, x):
            return self.head(x + self.positions(torch.arange(x.shape[1]))).mean(dim=1)

    module = Positions()
    clipper = BookKeepingClipper(module, max_grad_norm=1.0)
    loss = module(torch.randn(4, 5, 3)).sum()
    with pytest.raises(RuntimeError, match="batch on the first axis"):
        clipper.backward(loss, batch_size=4)
    clipper.cleanup()
