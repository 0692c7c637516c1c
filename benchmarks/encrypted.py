"""Benchmark: encrypted inference on UCI Adult (CKKS through TenSEAL, ``sk_privattn.encrypted``).

In one run, on the official Adult train/test split (shipped with the package):

1. accuracy and ROC AUC on the test set of ``DPAttentionClassifier(architecture="polynomial")``,
   the network that CKKS evaluates, beside the default network, at ε = 1 and 8, several seeds;
2. for the polynomial model at ε = 1 (first seed): the sizes of what crosses the wire (the model
   spec, the public context, a query, one ciphertext, a result), the time to make the keys, to
   encrypt, to score on the server and to decrypt, the server's rows per second with rows packed
   in the slots (4,096 rows a ciphertext) and with one row per ciphertext (a query of one row),
   the latency of one row, and the error of the decrypted scores against the plaintext model on
   the same rows;
3. published figures of Concrete ML (Zama) and of TenSEAL's own tutorial, quoted, not measured.

Needs the ``encrypted`` extra (TenSEAL). Prints a table and writes it to docs/benchmarks.md and
docs/private_inference.md (section "encrypted"). It reports; it never asserts. Usage::

    python benchmarks/encrypted.py           # 3 seeds, all the test rows (4 packed batches), 3 single rows
    python benchmarks/encrypted.py --quick   # a smoke run: 6,000 training rows, 1 seed, 1 batch, 1 single row
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import adult_split  # noqa: E402
from _report import DOCS, command_line, machine_description, markdown_table, write_section  # noqa: E402

from sk_privattn import DPAttentionClassifier  # noqa: E402
from sk_privattn.encrypted import (  # noqa: E402
    COEFF_MOD_BIT_SIZES, POLY_MODULUS_DEGREE, ROWS_PER_CIPHERTEXT, SCALE_BITS, EncryptedClient, EncryptedServer,
)

PAGE = DOCS.parent / "private_inference.md"
ARCHITECTURES = ("ft_transformer", "polynomial")
EPSILONS = (1.0, 8.0)

#: Published figures, as the project's HE notes quote them; not measured here.
PUBLISHED = [
    ("Concrete ML 1.9 (Zama), TFHE on 2–4-bit integers", "MNIST, MLP", "4.05 s per sample"),
    ("Concrete ML 1.9 (Zama), TFHE", "digits, small CNN (99 % accuracy)", "2.6 s per inference"),
    ("TenSEAL tutorial, CKKS at degree 8192", "MNIST, conv + x² + 2 dense layers (97.48 %)", "about 2 s per image"),
]


def _mean_sd(values):
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.4f} ± {values.std(ddof=1) if len(values) > 1 else 0.0:.4f}"


def fit_models(seeds, n_rows):
    """Every (architecture, ε, seed): the fitted classifier, its test scores and fit seconds."""
    train, X, y, test = adult_split(n_rows)
    runs = {}
    for architecture in ARCHITECTURES:
        for epsilon in EPSILONS:
            for seed in seeds:
                clf = DPAttentionClassifier(epsilon=epsilon, architecture=architecture, bounds=train.bounds,
                                            categories=train.categories, classes=train.classes, random_state=seed)
                start = time.perf_counter()
                clf.fit(X, y)
                seconds = time.perf_counter() - start
                scores = {"accuracy": clf.score(test.data, test.target),
                          "ROC AUC": roc_auc_score(test.target, clf.predict_proba(test.data)[:, 1]),
                          "ε spent": clf.epsilon_, "seconds": seconds}
                print(f"{architecture} ε={epsilon:g} seed={seed}: "
                      + ", ".join(f"{name} {value:.4f}" for name, value in scores.items()), flush=True)
                runs[architecture, epsilon, seed] = (clf, scores)
    return runs, len(X), test


def _timed(function, *args):
    start = time.perf_counter()
    value = function(*args)
    return value, time.perf_counter() - start


def measure_encrypted(clf, X, n_batches, n_single):
    """Sizes, times, throughput and error of encrypted inference of ``clf`` on the rows ``X``."""
    server = EncryptedServer(clf)
    spec = server.model_spec()
    client, keys_seconds = _timed(EncryptedClient, spec)
    context = client.public_context()
    rows = X.iloc[: n_batches * ROWS_PER_CIPHERTEXT]
    query, encrypt_seconds = _timed(client.encrypt, rows)
    result, score_seconds = _timed(server.score, context, query)
    outputs, decrypt_seconds = _timed(client.decrypt, result)
    log_odds = outputs[:, 1] - outputs[:, 0]
    proba = client.predict_proba(result)
    single = []
    for i in range(n_single):
        row = X.iloc[[i]]
        one_query, one_encrypt = _timed(client.encrypt, row)
        one_result, one_score = _timed(server.score, context, one_query)
        _, one_decrypt = _timed(client.decrypt, one_result)
        single.append((one_encrypt, one_score, one_decrypt, len(one_query)))
    single = np.asarray(single)
    n_terms = clf.module_.polynomial().layout.n_terms
    return {
        "n_terms": n_terms,
        "n_rows": len(rows),
        "n_batches": -(-len(rows) // ROWS_PER_CIPHERTEXT),
        "spec bytes": len(spec),
        "context bytes": len(context),
        "query bytes": len(query),
        "ciphertext bytes": len(query) / (n_terms * -(-len(rows) // ROWS_PER_CIPHERTEXT)),
        "result bytes": len(result),
        "keys seconds": keys_seconds,
        "encrypt seconds": encrypt_seconds,
        "score seconds": score_seconds,
        "decrypt seconds": decrypt_seconds,
        "single": single,
        "log-odds error": float(np.abs(log_odds - clf.decision_function(rows)).max()),
        "proba error": float(np.abs(proba - clf.predict_proba(rows)).max()),
        "same class": float(np.mean(client.predict(result) == clf.predict(rows))),
        "plaintext rows/s": len(rows) / min(_timed(clf.predict_proba, rows)[1] for _ in range(3)),
    }


def _megabytes(n_bytes):
    return f"{n_bytes / 1e6:.2f} MB"


def report(runs, seeds, n_train, he, command, quick):
    accuracy = markdown_table(
        ["network", "ε asked", "ε spent (max)", "test accuracy (mean ± sd)", "test ROC AUC (mean ± sd)",
         "fit seconds (mean)"],
        [
            (f'architecture="{architecture}"', f"{epsilon:g}",
             f"{max(runs[architecture, epsilon, s][1]['ε spent'] for s in seeds):.3f}",
             _mean_sd([runs[architecture, epsilon, s][1]["accuracy"] for s in seeds]),
             _mean_sd([runs[architecture, epsilon, s][1]["ROC AUC"] for s in seeds]),
             f"{np.mean([runs[architecture, epsilon, s][1]['seconds'] for s in seeds]):.1f}")
            for architecture in ARCHITECTURES for epsilon in EPSILONS
        ],
    )
    single = he["single"]
    packed_rows_per_second = he["n_rows"] / he["score seconds"]
    costs = markdown_table(
        ["", "rows packed in the slots", "one row per ciphertext"],
        [
            ("rows per query", f"{he['n_rows']:,} ({he['n_batches']} × {ROWS_PER_CIPHERTEXT:,} slots)", "1"),
            ("query (client → server)", _megabytes(he["query bytes"]), _megabytes(single[:, 3].mean())),
            ("client: encrypt", f"{he['encrypt seconds']:.2f} s", f"{single[:, 0].mean():.2f} s"),
            ("server: score", f"{he['score seconds']:.2f} s", f"{single[:, 1].mean():.2f} s"),
            ("client: decrypt", f"{he['decrypt seconds']:.3f} s", f"{single[:, 2].mean():.3f} s"),
            ("server rows per second", f"{packed_rows_per_second:,.0f}", f"{1 / single[:, 1].mean():.2f}"),
            ("latency per row (encrypt + score + decrypt, no network)",
             f"{(he['encrypt seconds'] + he['score seconds'] + he['decrypt seconds']) / he['n_rows'] * 1e3:.2f} ms",
             f"{single[:, :3].sum(axis=1).mean():.2f} s"),
        ],
    )
    sizes = markdown_table(
        ["what", "size or time"],
        [
            ("model spec (owner → client: encoding, CKKS parameters, fingerprint)", f"{he['spec bytes'] / 1e3:.1f} kB"),
            ("public context (client → server: relinearisation keys, no Galois keys)",
             _megabytes(he["context bytes"])),
            ("one ciphertext (4,096 slots)", f"{he['ciphertext bytes'] / 1e3:.0f} kB"),
            ("result (server → client)", _megabytes(he["result bytes"])),
            ("client: make the keys", f"{he['keys seconds']:.2f} s"),
            ("largest absolute error of the decrypted log-odds", f"{he['log-odds error']:.1e}"),
            ("largest absolute error of the decrypted probabilities", f"{he['proba error']:.1e}"),
            ("rows whose predicted class is the plaintext one", f"{he['same class']:.2%}"),
            ("plaintext predict_proba of the same model, rows per second (best of 3)",
             f"{he['plaintext rows/s']:,.0f}"),
        ],
    )
    published = markdown_table(["system (published, not measured here)", "task", "time"], PUBLISHED)
    smoke = (
        "\n**Quick smoke run (`--quick`, fewer training rows, one seed, on a shared machine): it shows "
        "that the benchmark runs, not the figures to quote. Rerun the command without `--quick` on an "
        "idle machine to replace this section.**\n" if quick else ""
    )
    return f"""## Encrypted inference on UCI Adult
{smoke}
Command: `{command}`

Machine: {machine_description()}

Data: the official split, {n_train:,} training and 16,281 test rows; the public bounds, categories
and classes of `load_adult`; {len(seeds)} seed(s) per row (mean ± sd); the other parameters at
their defaults (one block, tokens of 16).

{accuracy}

The encrypted costs are those of the polynomial model at ε = 1 (seed {seeds[0]}), on the first
{he['n_rows']:,} test rows. CKKS: ring degree {POLY_MODULUS_DEGREE:,}, coefficient modulus
{list(COEFF_MOD_BIT_SIZES)} bits (218 bits, 128-bit security), scale 2^{SCALE_BITS}; one ciphertext per
input term of the network's polynomial ({he['n_terms']} terms: 9 monomials of the two views and a
missing flag per numeric feature, a flag per known category), rows in the slots, no rotations.
Times are single queries, TenSEAL's own threads, no network.

{costs}

{sizes}

For scale, figures that others published, for other tasks, schemes and machines (quoted, not
measured here):

{published}
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="6,000 training rows, 1 seed, one packed batch, one single row (a smoke run)")
    args = parser.parse_args(argv)
    seeds = list(range(1 if args.quick else args.seeds))
    command = command_line("encrypted.py", *(["--quick"] if args.quick else []),
                           *([f"--seeds {args.seeds}"] if args.seeds != 3 and not args.quick else []))
    runs, n_train, test = fit_models(seeds, n_rows=6000 if args.quick else None)
    he = measure_encrypted(runs["polynomial", 1.0, seeds[0]][0], test.data, n_batches=1 if args.quick else 4,
                           n_single=1 if args.quick else 3)
    text = report(runs, seeds, n_train, he, command, args.quick)
    print("\n" + text)
    for path in (DOCS, PAGE):
        print(f"written to {write_section('encrypted', text, path)}")


if __name__ == "__main__":
    main()
