"""A plan with a noise multiplier fixed by the caller (as each round of a federated site has)."""

import torch

from sk_privattn.privacy import plan_training
from sk_privattn.dpsgd import TensorBatchDataset, train_module
from sk_privattn.nn import FTTransformer
from sk_privattn.privacy import compute_epsilon


def test_a_given_noise_multiplier_is_used_and_accounted():
    generator = torch.Generator().manual_seed(0)
    x_num = torch.rand(120, 2, generator=generator) * 2 - 1
    target = (x_num[:, 0] > 0).long()
    dataset = TensorBatchDataset({"x_num": x_num, "x_cat": torch.zeros(120, 0, dtype=torch.long)}, target)
    module = FTTransformer(2, [], 2, d_token=8, n_heads=2, n_layers=1)
    plan = plan_training(120, epsilon=5.0, delta=1e-3, batch_size=40, epochs=2, accountant="rdp", noise_multiplier=3.0)
    result = train_module(
        module, dataset, plan, criterion=torch.nn.CrossEntropyLoss(reduction="none"), max_grad_norm=1.0, lr=0.01, optimizer="adamw",
        weight_decay=0.0, device="cpu", seed=0, verbose=0,
    )
    # Three steps per epoch at sample rate 1/3, all at the given noise, not one calibrated to ε=5.
    assert plan.noise_multiplier == 3.0
    assert result.history == [(3.0, 1 / 3, 6)]
    assert result.epsilon == compute_epsilon([(3.0, 1 / 3, 6)], 1e-3, "rdp")
