"""Doctest collection of sk_privattn/: skip the modules whose optional dependency is not installed
(Flower for sk_privattn.federated, TenSEAL for sk_privattn.encrypted)."""

import importlib.util

collect_ignore_glob = [
    pattern
    for module, pattern in [("flwr", "sk_privattn/federated/*"), ("tenseal", "sk_privattn/encrypted.py")]
    if importlib.util.find_spec(module) is None
]
