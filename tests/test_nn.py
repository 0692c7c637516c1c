"""The torch modules: Opacus compatibility, shapes, and independence from sklearn."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from opacus import GradSampleModule
from opacus.validators import ModuleValidator

from sk_privattn.dpsgd._clipping import covers
from sk_privattn.nn import AdditiveTerms, FTTransformer, PolynomialAttention, PolynomialLayout

pytestmark = pytest.mark.filterwarnings("ignore:Full backward hook is firing")


@pytest.mark.parametrize("additive_terms", [False, True])
@pytest.mark.parametrize("n_numeric, cardinalities", [(3, [2, 5]), (0, [4]), (2, [])])
def test_every_parameter_gets_per_sample_gradients_in_hooks_mode(n_numeric, cardinalities, additive_terms):
    module = FTTransformer(n_numeric, cardinalities, 3, d_token=8, n_heads=2, n_layers=2, n_views=2,
                           additive_terms=additive_terms)
    assert ModuleValidator.validate(module, strict=False) == []
    wrapped = GradSampleModule(module, batch_first=True, loss_reduction="sum")
    x_num = torch.randn(5, 2 * n_numeric)
    x_cat = torch.stack([torch.randint(0, c + 1, (5,)) for c in cardinalities], dim=1) if cardinalities else torch.zeros(5, 0, dtype=torch.long)
    wrapped(x_num, x_cat).sum().backward()
    for name, parameter in module.named_parameters():
        assert parameter.grad_sample is not None, name
        assert parameter.grad_sample.shape == (5, *parameter.shape), name
    wrapped._close()


def test_per_sample_gradients_match_one_row_at_a_time():
    torch.manual_seed(0)
    module = FTTransformer(2, [3], 2, d_token=8, n_heads=2, n_layers=2)
    x_num, x_cat = torch.randn(4, 2), torch.randint(0, 4, (4, 1))
    wrapped = GradSampleModule(module, batch_first=True, loss_reduction="sum")
    torch.nn.functional.cross_entropy(wrapped(x_num, x_cat), torch.tensor([0, 1, 1, 0]), reduction="sum").backward()
    per_sample = {name: p.grad_sample.clone() for name, p in module.named_parameters()}
    wrapped._close()
    for row in range(4):
        module.zero_grad()
        logits = module(x_num[row : row + 1], x_cat[row : row + 1])
        torch.nn.functional.cross_entropy(logits, torch.tensor([[0, 1, 1, 0][row]])).backward()
        for name, parameter in module.named_parameters():
            torch.testing.assert_close(per_sample[name][row], parameter.grad, atol=1e-5, rtol=1e-4)


def test_attention_weights_are_a_distribution_over_tokens():
    module = FTTransformer(2, [3, 4], 2, d_token=8, n_heads=4, n_layers=2).eval()
    logits, weights = module(torch.randn(6, 2), torch.randint(0, 3, (6, 2)), need_weights=True)
    assert logits.shape == (6, 2) and weights.shape == (6, 4, 5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(6, 4))


def test_fused_and_explicit_attention_agree():
    torch.manual_seed(1)
    module = FTTransformer(3, [2], 2, d_token=8, n_heads=2, n_layers=2).eval()
    x_num, x_cat = torch.randn(7, 3), torch.randint(0, 3, (7, 1))
    torch.testing.assert_close(module(x_num, x_cat), module(x_num, x_cat, need_weights=True)[0])


def _random_rows(n_numeric, cardinalities, n_views, n_rows=40):
    generator = torch.Generator().manual_seed(0)
    x_num = torch.rand(n_rows, n_numeric * n_views, generator=generator, dtype=torch.float64) * 2 - 1
    x_num[::5] = float("nan")  # missing: every view of the feature
    x_cat = torch.stack([torch.arange(n_rows) % (c + 1) for c in cardinalities], dim=1) if cardinalities else \
        torch.zeros(n_rows, 0, dtype=torch.long)
    return x_num, x_cat


@pytest.mark.parametrize("additive_terms", [False, True])
@pytest.mark.parametrize("n_numeric, cardinalities, n_views", [(3, [2, 5], 2), (0, [4], 1), (2, [], 2), (1, [3], 1)])
def test_polynomial_form_is_the_polynomial_network_exactly(n_numeric, cardinalities, n_views, additive_terms):
    torch.manual_seed(0)
    module = PolynomialAttention(n_numeric, cardinalities, 3, d_token=8, n_heads=2, n_views=n_views,
                                 additive_terms=additive_terms).double().eval()
    for parameter in module.parameters():  # weights far from their small initial values
        parameter.data.normal_(0.0, 0.5)
    x_num, x_cat = _random_rows(n_numeric, cardinalities, n_views)
    form = module.polynomial()
    outputs = form(form.layout.features(x_num.numpy(), x_cat.numpy()))
    np.testing.assert_allclose(outputs, module(x_num, x_cat).detach().numpy(), rtol=1e-10, atol=1e-10)
    assert np.all(np.abs(outputs) <= form.output_bound())


def test_additive_terms_are_a_linear_model_of_the_encoded_features():
    # Each feature's own term, checked against the one-hot / views design it is a linear model of.
    torch.manual_seed(0)
    terms = AdditiveTerms(2, [3], 2, n_views=2).double()
    x_num, x_cat = _random_rows(2, [3], 2)
    assert torch.count_nonzero(terms(x_num, x_cat)) == 0  # it starts at zero
    for parameter in terms.parameters():
        parameter.data.normal_(0.0, 1.0)
    table, scale = terms.terms.table.weight, terms.terms.scale.weight
    expected = table[0].expand(len(x_num), 2).clone()
    for j in range(2):
        missing = torch.isnan(x_num[:, j])
        present = table[1 + j] + sum(torch.nan_to_num(x_num[:, v * 2 + j, None]) * scale[v * 2 + j] for v in range(2))
        expected += torch.where(missing[:, None], table[3 + j], present)
    expected += table[5 + x_cat[:, 0]]
    torch.testing.assert_close(terms(x_num, x_cat), expected)


@pytest.mark.parametrize("architecture", [FTTransformer, PolynomialAttention])
def test_with_additive_terms_a_network_starts_at_zero_and_learns_the_terms(architecture):
    module = architecture(2, [3], 2, d_token=8, n_heads=2, additive_terms=True)
    x_num, x_cat = _random_rows(2, [3], 1, n_rows=6)
    logits = module(x_num.float(), x_cat)
    assert torch.count_nonzero(logits) == 0
    assert covers(module)
    logits.sum().backward()
    # The additive terms get a gradient at once; without them the same network is the plain one.
    assert torch.count_nonzero(module.additive.terms.table.weight.grad) > 0
    plain = architecture(2, [3], 2, d_token=8, n_heads=2)
    assert plain.additive is None and torch.count_nonzero(plain(x_num.float(), x_cat)) > 0


def test_polynomial_layout_depends_on_public_sizes_only():
    layout = PolynomialLayout(2, [3, 1], n_views=2)
    # 9 monomials of degree 1 to 3 in two views and a missing flag per numeric feature, one flag per known category.
    assert layout.n_terms == 2 * (9 + 1) + 3 + 1
    assert layout.terms[:3] == [("numeric", 0, (0,)), ("numeric", 0, (1,)), ("numeric", 0, (0, 0))]


def test_polynomial_network_trains_by_book_keeping_clipping_and_starts_as_mean_pooling():
    module = PolynomialAttention(2, [3], 2, d_token=8, n_heads=2, n_views=2)
    assert covers(module)
    assert ModuleValidator.validate(module, strict=False) == []
    with torch.no_grad():
        module.qkv.weight.zero_()
        module.qkv.bias.zero_()
    x_num, x_cat = _random_rows(2, [3], 2, n_rows=4)
    _, weights = module(x_num.float(), x_cat, need_weights=True)
    # Scores of 0 give every token ([CLS] and the three features) the weight 1 / n_tokens.
    torch.testing.assert_close(weights, torch.full((4, 2, 4), 0.25))


def test_torch_modules_do_not_import_sklearn():
    # Import sk_privattn.nn without running sk_privattn/__init__.py (which
    # imports the estimators), then see whether sklearn came along.
    probe = (
        "import sys, types, importlib.util, pathlib\n"
        "import torch\n"
        "spec = importlib.util.find_spec('sk_privattn')\n"
        "root = pathlib.Path(spec.origin).parent\n"
        "package = types.ModuleType('sk_privattn'); package.__path__ = [str(root)]\n"
        "sys.modules['sk_privattn'] = package\n"
        "import sk_privattn.nn\n"
        "print('sklearn' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
