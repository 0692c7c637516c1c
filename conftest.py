"""Doctest collection of sk_privattn/: skip the Flower modules where Flower is not installed."""

import importlib.util

collect_ignore_glob = [] if importlib.util.find_spec("flwr") else ["sk_privattn/federated/*"]
