"""Doctest collection of sk_privattn/: skip the modules whose optional dependency is not installed
(Flower for sk_privattn.federated, TenSEAL for sk_privattn.encrypted, polars for the examples of
sk_privattn.data._frames, pyarrow for those of sk_privattn.data._dask_pass; its Dask examples skip
themselves), and the scripts that wrote the test data (tests/data)."""

import importlib.util

collect_ignore_glob = ["tests/data/*"] + [
    pattern
    for module, pattern in [("flwr", "sk_privattn/federated/*"), ("tenseal", "sk_privattn/encrypted.py"),
                            ("polars", "sk_privattn/data/_frames.py"), ("pyarrow", "sk_privattn/data/_dask_pass.py")]
    if importlib.util.find_spec(module) is None
]
