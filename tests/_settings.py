"""Small, fast constructor settings shared by the tests.

Everything here trades accuracy for speed so that the suite fits CI; each
value is the smallest that still exercises the code path it names.
"""

# One tiny transformer block, few epochs: enough to run the whole DP fit path.
FAST_PARAMS = dict(max_epochs=2, batch_size=32, d_token=8, n_heads=2, n_layers=1)

# The same for the sequence classifier: one small block or LSTM layer, few random kernels.
FAST_SEQUENCE_PARAMS = dict(max_epochs=2, batch_size=32, d_model=8, n_heads=2, n_layers=1, patch_size=4, n_kernels=16)
