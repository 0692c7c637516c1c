"""device="cuda": the same fit and predictions as on the CPU, to float tolerance."""

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sk_privattn import DPAttentionClassifier

from _settings import FAST_PARAMS
from conftest import PUBLIC, make_mixed_frame
from test_clipping import CASES, _bookkeeping_clipped_sum

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device, and torch sees none on this machine"
)


@pytest.mark.parametrize("epsilon", [np.inf, 1.0])
def test_a_fit_on_the_gpu_matches_the_fit_on_the_cpu(epsilon):
    # Same weights at the start, same Poisson batches, and the noise is drawn
    # on the CPU whatever the device: only float rounding differs.
    X, y = make_mixed_frame(300, seed=0)
    cpu = DPAttentionClassifier(**{**FAST_PARAMS, **PUBLIC, "epsilon": epsilon, "random_state": 0}).fit(X, y)
    gpu = clone(cpu).set_params(device="cuda").fit(X, y)
    assert all(parameter.is_cuda for parameter in gpu.module_.parameters())
    assert gpu.epsilon_ == cpu.epsilon_ and gpu.n_steps_ == cpu.n_steps_
    np.testing.assert_allclose(gpu.predict_proba(X), cpu.predict_proba(X), atol=1e-4)
    np.testing.assert_allclose(gpu.attention(X), cpu.attention(X), atol=1e-4)


@pytest.mark.parametrize("case", ["FT-Transformer", "PatchTransformer", "embedding", "linear on tokens, ghost norm"])
def test_the_clipped_sum_on_the_gpu_is_the_one_on_the_cpu(case):
    torch.manual_seed(0)
    module, inputs = CASES[case]()
    target, row_weight = torch.randint(0, 3, (len(next(iter(inputs.values()))),)), None
    expected = _bookkeeping_clipped_sum(module, inputs, target, row_weight, 0.5)
    module.cuda()
    found = _bookkeeping_clipped_sum(
        module, {name: tensor.cuda() for name, tensor in inputs.items()}, target.cuda(), row_weight, 0.5
    )
    for e, f in zip(expected, found):
        torch.testing.assert_close(f.cpu(), e, rtol=1e-4, atol=1e-5)
