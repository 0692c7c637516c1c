"""Run a ServerApp and a ClientApp in Flower's simulation engine, quietly, and clean up."""

import contextlib
import logging
import os
import warnings

from flwr.simulation import run_simulation

from ._inprocess import run_in_process

__all__ = ["simulate"]


@contextlib.contextmanager
def _quiet_flower(verbose):
    """Flower logs every round at INFO, and a deprecation notice for run_simulation."""
    logger = logging.getLogger("flwr")
    level = logger.level
    if not verbose:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            # Ray's notice about a future change of its GPU environment defaults.
            warnings.filterwarnings("ignore", category=FutureWarning, module="ray")
            yield
    finally:
        logger.setLevel(level)


def simulate(server_app, client_app, n_sites, *, backend="ray", verbose=0):
    """Run the apps with one simulated Flower node per site.

    ``backend="ray"``: Flower's simulation engine; each node gets one CPU,
    Ray runs as many at once as the machine has cores, and is shut down
    after. ``backend="in-process"``: the nodes run one after the other in
    this process (:mod:`._inprocess`).
    """
    if backend == "in-process":
        with _quiet_flower(verbose):
            run_in_process(server_app, client_app, n_sites)
        return
    import ray

    backend_config = {
        "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
        "init_args": {
            "num_cpus": max(1, min(n_sites, os.cpu_count() or 1)),
            "logging_level": logging.INFO if verbose else logging.ERROR,
            "log_to_driver": bool(verbose),
            "include_dashboard": False,
        },
    }
    with _quiet_flower(verbose):
        try:
            run_simulation(
                server_app=server_app,
                client_app=client_app,
                num_supernodes=n_sites,
                backend_config=backend_config,
                verbose_logging=bool(verbose > 1),
            )
        finally:
            if ray.is_initialized():
                ray.shutdown()
