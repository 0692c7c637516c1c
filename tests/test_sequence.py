"""DPSequenceClassifier: the input forms, padding, attention over time, bad input.

The privacy accounting, persistence, clone and search tests of the core run
on the sequence classifier too (``KINDS`` in conftest.py).
"""

import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sk_privattn import DPSequenceClassifier
from sk_privattn.privacy import plan_training
from sk_privattn.dpsgd import TensorBatchDataset, train_module
from sk_privattn.nn import KernelTerms, LSTMAttention, PatchTransformer, RandomConvolutions
from sk_privattn.nn.sequence import ATTENTION_SCALE

from _settings import FAST_SEQUENCE_PARAMS
from conftest import fit_recording_leaks, make_series, recorded_batch_sizes

ARCHITECTURES = ["transformer", "lstm_attention"]
EMBEDDINGS = ["random_conv", "linear"]


def _clf(**params):
    return DPSequenceClassifier(**{**FAST_SEQUENCE_PARAMS, "random_state": 0, "classes": [0, 1], **params})


@pytest.fixture(
    scope="module",
    params=[(a, e) for a in ARCHITECTURES for e in EMBEDDINGS],
    ids=lambda p: "-".join(p),
)
def fitted(request):
    X, y = make_series()
    architecture, embedding = request.param
    return _clf(architecture=architecture, embedding=embedding).fit(X, y), X, y


def _ragged(X, lengths):
    return [X[i, :length] for i, length in enumerate(lengths)]


def test_input_forms_agree(fitted):
    clf, X, _ = fitted
    proba = clf.predict_proba(X)
    # The same series as a list, and NaN-padded to a longer array.
    np.testing.assert_allclose(clf.predict_proba(list(X)), proba, rtol=1e-5, atol=1e-6)
    padded = np.concatenate([X, np.full((len(X), 5, X.shape[2]), np.nan)], axis=1)
    np.testing.assert_allclose(clf.predict_proba(padded), proba, rtol=1e-5, atol=1e-6)


def test_appending_padding_does_not_change_a_prediction(fitted):
    clf, X, _ = fitted
    rng = np.random.RandomState(1)
    lengths = rng.randint(3, X.shape[1] + 1, size=20)
    series = _ragged(X, lengths)
    proba = clf.predict_proba(series)
    attention = clf.attention(series)
    for extra in (1, 4):
        # Every series gets `extra` more NaN steps: a longer padded array.
        padded = np.full((20, X.shape[1] + extra, X.shape[2]), np.nan)
        for i, s in enumerate(series):
            padded[i, : len(s)] = s
        np.testing.assert_allclose(clf.predict_proba(padded), proba, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(clf.attention(padded)[:, : attention.shape[1]], attention, atol=1e-6)
    # Each series alone, without the others' padding, gets the same prediction.
    for i in (0, 7):
        np.testing.assert_allclose(clf.predict_proba([series[i]]), proba[i : i + 1], rtol=1e-5, atol=1e-6)


def test_padding_gets_exactly_zero_attention(fitted):
    clf, X, _ = fitted
    lengths = np.array([4, 9, X.shape[1]])
    attention = clf.attention(_ragged(X, lengths))
    assert attention.shape == (3, X.shape[1])
    for row, length in zip(attention, lengths):
        assert np.all(row[length:] == 0.0)
        assert np.all(row[:length] >= 0)
        assert row.sum() == pytest.approx(1.0, rel=1e-5)


def test_univariate_2d_input_and_attention_shape():
    X, y = make_series(n_channels=1)
    X2 = X[:, :, 0]
    clf = _clf().fit(X2, y)
    assert clf.n_channels_ == 1 and clf.n_features_in_ == X2.shape[1] and clf.n_timesteps_ == X2.shape[1]
    np.testing.assert_allclose(clf.predict_proba(X2), clf.predict_proba(X), rtol=1e-6)
    assert clf.attention(X2[:5]).shape == (5, X2.shape[1])


def test_multivariate_lists_of_different_lengths_fit():
    X, y = make_series(n_channels=3)
    lengths = np.random.RandomState(0).randint(4, X.shape[1] + 1, size=len(X))
    series = _ragged(X, lengths)
    clf = _clf(max_timesteps=X.shape[1]).fit(series, y)
    assert clf.n_channels_ == 3 and clf.n_timesteps_ == X.shape[1]
    assert not hasattr(clf, "n_features_in_")
    assert clf.predict(series).shape == (len(X),)


def test_longest_length_read_from_ragged_data_is_warned():
    X, y = make_series()
    lengths = np.random.RandomState(0).randint(4, X.shape[1], size=len(X))
    series = _ragged(X, lengths)
    leaks = fit_recording_leaks(_clf(max_timesteps="data"), series, y)
    assert len(leaks) == 1 and "pass max_timesteps" in str(leaks[0].message)
    assert f"({lengths.max()} steps)" in str(leaks[0].message)
    # A public maximum, the common length of an array, or an LSTM: nothing read.
    assert fit_recording_leaks(_clf(max_timesteps=40), series, y) == []
    assert fit_recording_leaks(_clf(), X, y) == []
    # NaN padding that every row shares: read with "data" (warned); by default the array's width, its
    # public shape, sizes the positions.
    padded = np.concatenate([X, np.full((len(X), 3, X.shape[2]), np.nan)], axis=1)
    assert len(fit_recording_leaks(_clf(max_timesteps="data"), padded, y)) == 1
    assert fit_recording_leaks(_clf(), padded, y) == [] and _clf().fit(padded, y).n_timesteps_ == padded.shape[1]
    lstm = _clf(architecture="lstm_attention")
    assert fit_recording_leaks(lstm, series, y) == [] and lstm.n_timesteps_ is None
    with pytest.raises(ValueError, match="max_timesteps=8"):
        _clf(max_timesteps=8).fit(series, y)


def test_missing_values_inside_a_series_are_allowed(fitted):
    clf, X, _ = fitted
    X = X.copy()
    X[0, 2, 0] = np.nan
    X[1, 3, :] = np.nan
    assert np.all(np.isfinite(clf.predict_proba(X[:2])))


@pytest.mark.parametrize("embedding", EMBEDDINGS)
def test_learns_the_frequency_without_privacy(embedding):
    X, y = make_series(n_samples=400)
    for architecture in ARCHITECTURES:
        clf = _clf(architecture=architecture, embedding=embedding, epsilon=np.inf, max_epochs=15, lr=0.01)
        clf.fit(X[:300], y[:300])
        assert clf.score(X[300:], y[300:]) > 0.9, architecture


def test_random_kernels_are_drawn_from_the_seed_and_the_length_only():
    X, y = make_series()
    other_X, other_y = make_series(seed=1)
    first = _clf().fit(X, y).convolutions_
    second = _clf().fit(other_X * 5 + 3, other_y).convolutions_
    assert isinstance(first, RandomConvolutions) and first.n_kernels == FAST_SEQUENCE_PARAMS["n_kernels"]
    assert first.groups == second.groups
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    # Frozen: buffers, which no optimizer and no DP-SGD step sees.
    assert list(first.parameters()) == [] and not any(p.requires_grad for p in first.buffers())
    other_seed = _clf(random_state=1).fit(X, y).convolutions_
    assert other_seed.groups != first.groups or not torch.equal(other_seed.weight_0, first.weight_0)
    assert _clf(embedding="linear").fit(X, y).convolutions_ is None


def test_count_positive_counts_the_steps_of_each_series_only():
    torch.manual_seed(0)
    convolutions = RandomConvolutions(2, 12, max_timesteps=10, seed=3)
    x = torch.randn(3, 10, 2)
    mask = torch.arange(10)[None, :] < torch.tensor([[10], [7], [2]])
    x = x * mask[..., None]  # padding enters the network as 0
    counts = convolutions.count_positive(x, mask, patch_size=4)
    assert counts.shape == (3, 3, 12) and counts.dtype == torch.uint8
    positive = (convolutions(x) > 0) & mask[..., None]
    expected = torch.stack([positive[:, 0:4].sum(1), positive[:, 4:8].sum(1), positive[:, 8:].sum(1)], dim=1)
    torch.testing.assert_close(counts.long(), expected.long())
    # Longer padding changes nothing on the steps of a series.
    longer = convolutions.count_positive(torch.cat([x, torch.zeros(3, 6, 2)], 1), torch.cat([mask, mask[:, :6] & False], 1), 4)
    torch.testing.assert_close(longer[:, :3], counts)
    assert not longer[:, 3:].any()


def test_count_positive_refuses_a_patch_longer_than_a_byte_counts():
    # 256 positive outputs in a byte would wrap to 0: refused rather than miscounted.
    convolutions = RandomConvolutions(1, 4, max_timesteps=300, seed=0)
    x, mask = torch.randn(2, 300, 1), torch.ones(2, 300, dtype=torch.bool)
    with pytest.raises(ValueError, match="patch_size=300 must be between 1 and 255"):
        convolutions.count_positive(x, mask, patch_size=300)
    counts = convolutions.count_positive(x, mask, patch_size=255).sum(dim=1, dtype=torch.int64)
    torch.testing.assert_close(counts, ((convolutions(x) > 0) & mask[..., None]).sum(dim=1))


def test_kernel_terms_read_rockets_whole_series_proportions():
    # Counted per patch of 4 steps, with the observed steps last, as the estimator counts them.
    convolutions = RandomConvolutions(1, 6, max_timesteps=10, seed=0)
    x = torch.randn(3, 10, 1)
    mask = torch.arange(10)[None, :] < torch.tensor([[10], [7], [2]])
    x = x * mask[..., None]
    counts = convolutions.count_positive(x, mask, patch_size=4)
    observed = torch.full((3, 3, 1), 7, dtype=torch.uint8)  # any value: the terms leave it out
    counts = torch.cat([counts, observed], dim=2)
    terms = KernelTerms(6, 6)
    assert not terms(counts, mask).any()  # zero at the start: it predicts nothing until it learns
    with torch.no_grad():
        terms.linear.weight.copy_(torch.eye(6))
    # ROCKET's feature: the proportion of positive outputs over the steps of the series, in [-1, 1].
    positive = ((convolutions(x) > 0) & mask[..., None]).sum(dim=1) / mask.sum(dim=1, keepdim=True)
    torch.testing.assert_close(terms(counts, mask), 2 * positive - 1)
    # Padding appended: no count and no step, so the same terms.
    longer_mask = torch.cat([mask, torch.zeros(3, 6, dtype=torch.bool)], 1)
    longer = convolutions.count_positive(torch.cat([x, torch.zeros(3, 6, 1)], 1), longer_mask, patch_size=4)
    longer = torch.cat([longer, torch.zeros(3, 4, 1, dtype=torch.uint8)], dim=2)
    torch.testing.assert_close(terms(longer, longer_mask), terms(counts, mask))


def test_additive_terms_sit_beside_the_attention():
    X, y = make_series()
    clf = _clf(epsilon=np.inf).fit(X, y)
    assert isinstance(clf.module_.terms, KernelTerms)
    assert _clf(additive_terms=False).fit(X, y).module_.terms is None
    assert _clf(embedding="linear").fit(X, y).module_.terms is None  # no kernels to count: ignored
    assert isinstance(_clf(architecture="lstm_attention").fit(X, y).module_.terms, KernelTerms)
    # The logits: the terms plus the attention's logits scaled down.
    inputs = clf._transform_inputs(X[:5])
    module = clf.module_
    with torch.no_grad():
        logits = module(**inputs)
        terms = module.terms(inputs["x"], inputs["mask"])
        module.terms = None
        attention = module(**inputs)
    torch.testing.assert_close(logits, terms + ATTENTION_SCALE * attention)
    assert terms.abs().max() > 0 and attention.abs().max() > 0


def test_additive_terms_need_kernel_counts():
    with pytest.raises(ValueError, match="additive_terms=True needs random-convolution counts"):
        PatchTransformer(3, 2, 2, patch_size=2, d_token=8, n_heads=2, additive_terms=True)


def test_random_conv_patch_size_is_limited():
    X, y = make_series()
    with pytest.raises(ValueError, match="patch_size=300 is too large for embedding='random_conv'"):
        _clf(patch_size=300).fit(X, y)
    assert _clf(patch_size=300, embedding="linear").fit(X, y).n_timesteps_ == X.shape[1]


def test_scaling_per_series_ignores_level_and_bounds_keep_it():
    X, y = make_series(n_channels=1)
    clf = _clf(scaling="per_series").fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(X * 3 + 10), clf.predict_proba(X), rtol=1e-4, atol=1e-5)
    bounded = _clf(scaling="bounds", bounds=(-2, 2)).fit(X, y)
    assert not np.allclose(bounded.predict_proba(X + 1), bounded.predict_proba(X))
    assert bounded.bounds == (-2, 2)


BAD_FITS = {
    "ragged channels": (lambda X: [X[0], X[1][:, :1]] + list(X[2:]), "X\\[1\\] has 1 channels, but X\\[0\\] has 2"),
    "length 0 in a list": (lambda X: [X[0][:0]] + list(X[1:]), "length 0"),
    "all-NaN series": (lambda X: np.concatenate([np.full((1,) + X.shape[1:], np.nan), X[1:]]), "X\\[0\\] is a series of length 0"),
    "zero time steps": (lambda X: X[:, :0], "length 0"),
    "infinity": (lambda X: np.where(np.arange(X.shape[1])[None, :, None] == 2, np.inf, X), "infinity|infinite"),
    "4-D": (lambda X: X[..., None], "4 dimensions|Found array with dim 4"),
}


@pytest.mark.parametrize("case", list(BAD_FITS))
def test_bad_input_raises_clearly(case):
    X, y = make_series()
    change, match = BAD_FITS[case]
    with pytest.raises(ValueError, match=match):
        _clf().fit(change(X), y)


def test_different_channels_at_predict(fitted):
    clf, X, _ = fitted
    with pytest.raises(ValueError, match="X has 3 channels, but the estimator was fitted on 2"):
        clf.predict(np.concatenate([X, X[:, :, :1]], axis=2))
    with pytest.raises(ValueError, match="X has 1 channels, but the estimator was fitted on 2"):
        clf.predict(X[:, :, 0])


def test_transformer_refuses_series_longer_than_its_positions():
    X, y = make_series(n_timesteps=12)
    clf = _clf(architecture="transformer", patch_size=4).fit(X, y)
    longer = np.concatenate([X, X], axis=1)
    with pytest.raises(ValueError, match="n_timesteps_=12.*architecture='lstm_attention'"):
        clf.predict(longer)
    lstm = _clf(architecture="lstm_attention").fit(X, y)
    assert lstm.predict(longer).shape == (len(X),)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(scaling="bounds", bounds=(0, 1, 2)), "scaling='bounds' needs bounds"),
        (dict(bounds=(0, 1)), "used only with scaling='bounds'"),
        (dict(scaling="bounds", bounds=(1, 0)), "lower < upper"),
        (dict(d_model=10, n_heads=4), "d_model=10 must be divisible by n_heads=4"),
        (dict(architecture="gru"), "architecture"),
    ],
)
def test_bad_parameters_raise_clearly(params, match):
    X, y = make_series()
    with pytest.raises(ValueError, match=match):
        _clf(**params).fit(X, y)


def test_warm_start_continues_and_checks_channels():
    X, y = make_series()
    clf = _clf(warm_start=True, epsilon=1.0).fit(X, y)
    first = clf.epsilon_
    clf.set_params(epsilon=2.0).fit(X, y)
    assert first < clf.epsilon_ <= 2.0 and len(clf.accountant_history_) == 2
    with pytest.raises(ValueError, match="channels"):
        clf.set_params(epsilon=4.0).fit(X[:, :, :1], y)
    with pytest.raises(ValueError, match="architecture"):
        clone(clf).set_params(architecture="lstm_attention")  # clone is unfitted: no error
        clf.set_params(architecture="lstm_attention", epsilon=4.0).fit(X, y)


def test_warm_start_keeps_the_random_kernels():
    X, y = make_series()
    clf = _clf(warm_start=True).fit(X, y)
    kernels = clf.convolutions_
    assert clf.set_params(epsilon=2.0).fit(X, y).convolutions_ is kernels
    with pytest.raises(ValueError, match="n_kernels"):
        clf.set_params(n_kernels=8, epsilon=4.0).fit(X, y)


@pytest.mark.parametrize(
    "make_module",
    [lambda: LSTMAttention(3, 2, d_hidden=8), lambda: PatchTransformer(3, 2, 2, patch_size=2, d_token=8, n_heads=2, n_layers=2)],
    ids=["lstm_attention", "transformer"],
)
def test_empty_poisson_batches_are_noise_only_steps(make_module):
    torch.manual_seed(0)
    x = torch.randn(2, 4, 3)
    dataset = TensorBatchDataset({"x": x, "mask": torch.ones(2, 4, dtype=torch.bool)}, torch.tensor([0, 1]))
    plan = plan_training(2, epsilon=8.0, delta=1e-3, batch_size=1, epochs=20, accountant="rdp")
    module = make_module()
    with recorded_batch_sizes(module) as sizes:
        result = train_module(
            module, dataset, plan, criterion=torch.nn.CrossEntropyLoss(reduction="none"), max_grad_norm=1.0, lr=0.1, optimizer="sgd",
            weight_decay=0.0, device="cpu", seed=0, verbose=0,
        )
    assert 0 in sizes and len(sizes) == result.n_steps == 40
    assert result.history == [(plan.noise_multiplier, 0.5, 40)]
    assert all(torch.isfinite(p).all() for p in result.module.parameters())


@pytest.mark.parametrize(
    "make_module",
    [
        lambda: LSTMAttention(3, 2, d_hidden=8),
        lambda: LSTMAttention(3, 2, d_hidden=8, patch_size=4),
        lambda: PatchTransformer(3, 2, 3, patch_size=2, d_token=8, n_heads=2, n_layers=2),
        lambda: LSTMAttention(3, 2, d_hidden=8, patch_size=2, n_kernels=5),
        lambda: PatchTransformer(3, 2, 3, patch_size=2, d_token=8, n_heads=2, n_layers=2, n_kernels=5),
        lambda: LSTMAttention(3, 2, d_hidden=8, patch_size=2, n_kernels=5, additive_terms=True),
        lambda: PatchTransformer(3, 2, 3, patch_size=2, d_token=8, n_heads=2, n_layers=2, n_kernels=5,
                                 additive_terms=True),
    ],
    ids=["lstm_attention", "lstm_attention_patches", "transformer", "lstm_attention_kernels", "transformer_kernels",
         "lstm_attention_terms", "transformer_terms"],
)
def test_per_sample_gradients_match_row_by_row_gradients(make_module):
    from opacus import GradSampleModule

    torch.manual_seed(0)
    module = make_module()
    x, mask, y = torch.randn(4, 6, 3), torch.ones(4, 6, dtype=torch.bool), torch.tensor([0, 1, 1, 0])
    mask[1, 4:] = False
    if module.n_kernels:
        # Counts per patch of 2 steps: of positive kernel outputs, then of observed steps.
        x = torch.randint(0, 3, (4, 3, module.n_kernels + 1), dtype=torch.uint8)
    wrapped = GradSampleModule(module, loss_reduction="sum")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        torch.nn.functional.cross_entropy(wrapped(x, mask), y, reduction="sum").backward()
    per_sample = {id(p): p.grad_sample.clone() for p in module.parameters()}
    wrapped._close()
    for row in range(4):
        module.zero_grad()
        torch.nn.functional.cross_entropy(module(x[row : row + 1], mask[row : row + 1]), y[row : row + 1]).backward()
        for p in module.parameters():
            torch.testing.assert_close(per_sample[id(p)][row], p.grad, atol=1e-5, rtol=1e-4)


def test_class_weights_as_in_the_tabular_classifier():
    X, y = make_series()
    leaks = fit_recording_leaks(_clf(class_weight="balanced"), X, y)
    assert len(leaks) == 1 and "class_weight='balanced'" in str(leaks[0].message)
    clf = _clf(class_weight={1: 3.0}).fit(X, y)
    np.testing.assert_array_equal(clf.class_weight_, [1.0, 3.0])
