"""How the files of this folder were written: with main at ef22742 (before the privacy/ and dpsgd/
layout of issue 33), from the tests/ folder: ``python data/written_by_ef22742/write.py``."""
import pickle, shutil, sys
from pathlib import Path
import numpy as np
sys.path.insert(0, ".")
from conftest import PUBLIC, make_mixed_frame
from sk_privattn import DPAttentionClassifier, DPSequenceClassifier, PrivacyLedger
from sk_privattn.persistence import save
from conftest import make_series


def main():
    out = Path("data/written_by_ef22742")
    X, y = make_mixed_frame(n_samples=200)
    clf = DPAttentionClassifier(max_epochs=1, batch_size=32, d_token=8, n_heads=2, n_layers=1, **PUBLIC, classes=[0, 1], random_state=0)
    ledger_path = out / "ledger"
    shutil.rmtree(ledger_path, ignore_errors=True)
    with PrivacyLedger(path=ledger_path):
        clf.fit(X, y)
    (out / "classifier.pkl").write_bytes(pickle.dumps(clf))
    save(clf, out / "classifier.zip")
    series, labels = make_series(n_samples=120)
    seq = DPSequenceClassifier(max_epochs=1, batch_size=32, d_model=8, n_heads=2, n_layers=1, patch_size=4, n_kernels=16, classes=[0, 1], random_state=0).fit(series, labels)
    (out / "sequence.pkl").write_bytes(pickle.dumps(seq))
    save(seq, out / "sequence.zip")
    np.savez(out / "expected.npz", classifier=clf.predict_proba(X), sequence=seq.predict_proba(series))
    print(clf.epsilon_, seq.epsilon_)


if __name__ == "__main__":
    main()
