"""A real Flower deployment on this machine: a SuperLink, two SuperNodes and ``flwr run``.

It follows docs/federated.md ("A real deployment: two sites on one machine") command for
command: it writes the Flower App (``pyproject.toml`` and ``adult_sites.py``), the data of two
sites (Adult training rows, one pickle per site) and the ``$FLWR_HOME/config.toml`` that names
the connection ``local-deployment``, all in a temporary directory; starts::

    flower-superlink --insecure --disable-runtime-dependency-installation
    flower-supernode --insecure --superlink 127.0.0.1:8000 --port 9094 --node-config 'partition-id=0 data-path="..."'
    flower-supernode --insecure --superlink 127.0.0.1:8000 --port 9095 --node-config 'partition-id=1 data-path="..."'

and runs ``flwr run . local-deployment --stream`` from the app directory. The federation uses
record-level DP and SecAgg+. When the ServerApp has written the fitted model, the script stops
the three processes it started and prints the model's test accuracy and ε beside those of the
in-process run of the same setting (``FederatedDPAttentionClassifier(backend="in-process")``,
the same sites, the same ``random_state``). It needs ports 8000 (and Flower's own defaults next
to it), 9094 and 9095 free on 127.0.0.1, and the Flower CLIs of the current environment.

It reports, and never asserts; it does not write the docs. Usage::

    python benchmarks/federated_localhost.py            # 2 sites of 800 rows, 2 rounds
    python benchmarks/federated_localhost.py --quick    # 2 sites of 300 rows, 1 round
"""

import argparse
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import command_line, machine_description, markdown_table  # noqa: E402

from sk_privattn.datasets import load_adult  # noqa: E402
from sk_privattn.federated import FederatedDPAttentionClassifier  # noqa: E402

PORTS = (8000, 9094, 9095)

#: The settings of the federation, written into the app and used by the in-process run alike.
SETTINGS = dict(epsilon=1.0, dp_level="record", secure_aggregation=True, d_token=8, n_heads=2, n_layers=1,
                classes=[0, 1], random_state=0)

APP = '''\
import pandas as pd

from sk_privattn.datasets import load_adult
from sk_privattn.federated import FederatedDPAttentionClassifier, make_client_app, make_server_app

schema = load_adult(subset="test", as_frame=True)      # published: bounds, categories, layout
spec = FederatedDPAttentionClassifier(
    n_rounds={n_rounds}, bounds=schema.bounds, categories=schema.categories, **{settings!r},
)


def load_site(context):
    """This site's rows, from the path its SuperNode was started with."""
    frame = pd.read_pickle(context.node_config["data-path"])
    return frame.drop(columns="income"), frame["income"]


client_app = make_client_app(spec, load_site)
server_app = make_server_app(spec, schema.data.head(2), n_sites=2, output_path={output!r})
'''

PYPROJECT = '''\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "adult-sites"
version = "1.0.0"
dependencies = ["sk_privattn[federated]"]

[tool.hatch.build.targets.wheel]
packages = ["."]

[tool.flwr.app]
publisher = "example"

[tool.flwr.app.components]
serverapp = "adult_sites:server_app"
clientapp = "adult_sites:client_app"
'''

CONFIG = '''\
[superlink.local-deployment]
address = "127.0.0.1:8000"
insecure = true
'''


def _check_ports_free():
    for port in PORTS:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                raise SystemExit(f"Port {port} on 127.0.0.1 is in use; stop what listens there and rerun.")


def _sites(n_rows):
    """Two sites of ``n_rows`` Adult training rows each: (X, y, site) pooled, and one frame per site."""
    adult = load_adult(subset="train", as_frame=True)
    rows = np.random.RandomState(0).permutation(len(adult.target))[: 2 * n_rows]
    X, y = adult.data.iloc[rows].reset_index(drop=True), np.asarray(adult.target)[rows]
    site = np.repeat([0, 1], n_rows)
    frames = [X[site == k].assign(income=y[site == k]) for k in (0, 1)]
    return X, y, site, frames


def _start(command, log, env, cwd):
    print("+", " ".join(command), flush=True)
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                            start_new_session=True)


def _stop(process):
    """Stop a process that this script started, and its children (its own session)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def deploy(n_rows, n_rounds, workdir, timeout):
    """Run the documented deployment; return the fitted model the ServerApp wrote, and the seconds."""
    _check_ports_free()
    app_dir, data_dir, flwr_home = workdir / "adult-sites", workdir / "data", workdir / "flwr-home"
    for directory in (app_dir, data_dir, flwr_home):
        directory.mkdir(parents=True)
    _, _, _, frames = _sites(n_rows)
    paths = []
    for name, frame in zip("ab", frames):
        paths.append(data_dir / f"site_{name}.pkl")
        frame.to_pickle(paths[-1])
    output = workdir / "federated_model.pkl"
    (app_dir / "pyproject.toml").write_text(PYPROJECT)
    (app_dir / "adult_sites.py").write_text(APP.format(n_rounds=n_rounds, settings=SETTINGS, output=str(output)))
    (flwr_home / "config.toml").write_text(CONFIG)
    env = {**os.environ, "FLWR_HOME": str(flwr_home), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    bin_dir = Path(sys.executable).parent
    processes = []
    start = time.perf_counter()
    with open(workdir / "processes.log", "w") as log:
        try:
            processes.append(_start([str(bin_dir / "flower-superlink"), "--insecure",
                                     "--disable-runtime-dependency-installation"], log, env, workdir))
            time.sleep(5)
            for index, (port, path) in enumerate(zip(PORTS[1:], paths)):
                processes.append(_start([str(bin_dir / "flower-supernode"), "--insecure", "--superlink",
                                         "127.0.0.1:8000", "--port", str(port), "--node-config",
                                         f'partition-id={index} data-path="{path}"'], log, env, workdir))
            time.sleep(5)
            run = [str(bin_dir / "flwr"), "run", ".", "local-deployment", "--stream"]
            print("+", " ".join(run), f"(in {app_dir})", flush=True)
            result = subprocess.run(run, cwd=app_dir, env=env, capture_output=True, text=True, timeout=timeout)
            print(result.stdout[-3000:], result.stderr[-2000:], flush=True)
            deadline = time.monotonic() + timeout
            while not output.exists() and time.monotonic() < deadline:
                time.sleep(2)
        finally:
            for process in reversed(processes):
                _stop(process)
    if not output.exists():
        print((workdir / "processes.log").read_text()[-5000:])
        raise SystemExit("The ServerApp wrote no model; the log of the SuperLink and the SuperNodes is above.")
    with open(output, "rb") as f:
        return pickle.load(f), time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 sites of 300 rows, 1 round")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for the run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (app, data, logs)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", FutureWarning)
    n_rows, n_rounds = (300, 1) if args.quick else (800, 2)
    workdir = Path(tempfile.mkdtemp(prefix="sk_privattn_flower_"))
    try:
        deployed, deploy_seconds = deploy(n_rows, n_rounds, workdir, args.timeout)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    schema, test = load_adult(subset="test", as_frame=True), load_adult(subset="test", as_frame=True)
    X, y, site, _ = _sites(n_rows)
    start = time.perf_counter()
    in_process = FederatedDPAttentionClassifier(n_rounds=n_rounds, bounds=schema.bounds, categories=schema.categories,
                                                backend="in-process", **SETTINGS).fit(X, y, groups=site)
    in_process_seconds = time.perf_counter() - start
    rows = []
    for name, model, seconds in [("SuperLink + 2 SuperNodes, flwr run", deployed, deploy_seconds),
                                 ("in process (backend='in-process')", in_process, in_process_seconds)]:
        rows.append([name, f"{model.score(test.data, test.target):.4f}", f"{model.epsilon_:.4f}", f"{model.delta_:.3g}",
                     " / ".join(f"{row['n_results']}" for row in model.history_), f"{seconds:.0f}"])
    agreement = float(np.mean(deployed.predict(test.data) == in_process.predict(test.data)))
    largest = float(np.max(np.abs(deployed.predict_proba(test.data) - in_process.predict_proba(test.data))))
    table = markdown_table(["run", "test accuracy", "ε", "δ", "sites per round", "seconds"], rows)
    print("\n" + "\n".join([
        f"Two sites of {n_rows} Adult training rows each, {n_rounds} round(s), record-level DP at ε = 1 and "
        "SecAgg+, d_token=8, 1 block, random_state=0.",
        "",
        table,
        "",
        f"The two models predict the same class on {agreement:.2%} of the {len(test.target):,} test rows; "
        f"their probabilities differ by at most {largest:.1e} (SecAgg+ rounds the sum).",
        f"Command: `{command_line('federated_localhost.py', *(['--quick'] if args.quick else []))}`.",
        f"Machine: {machine_description()}.",
    ]))


if __name__ == "__main__":
    main()
