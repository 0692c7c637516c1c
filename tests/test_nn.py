"""The torch modules: Opacus compatibility, shapes, and independence from sklearn."""

import subprocess
import sys

import pytest
import torch
from opacus import GradSampleModule
from opacus.validators import ModuleValidator

from sk_privattn.nn import FTTransformer

pytestmark = pytest.mark.filterwarnings("ignore:Full backward hook is firing")


@pytest.mark.parametrize("n_numeric, cardinalities", [(3, [2, 5]), (0, [4]), (2, [])])
def test_every_parameter_gets_per_sample_gradients_in_hooks_mode(n_numeric, cardinalities):
    module = FTTransformer(n_numeric, cardinalities, 3, d_token=8, n_heads=2, n_layers=2, n_views=2)
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
