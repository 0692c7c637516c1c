"""
=======================================
Where the model looks: attention maps
=======================================

The FT-Transformer turns each feature into a token, and a ``[CLS]`` token reads them
through attention. :meth:`~sk_privattn.DPAttentionClassifier.attention` returns, for each
row, the weight of each feature in the last block (averaged over heads, summing to 1), and
:class:`~sk_privattn.plot.AttentionDisplay` draws them: a heatmap of the rows, and the
mean attention per feature as bars.

.. warning::
   Attention is computed from the rows you pass, *after* training: the fit's privacy
   guarantee does not cover it. Attention computed on private (training) rows can reveal
   them. Here it is computed on the public test split of Adult, not on the training rows.

.. note::
   Under CI (``SK_PRIVATTN_DOC_QUICK`` or ``CI`` set) the model trains on 6,000 rows for
   5 epochs in batches of 128; otherwise on all 32,561 rows for 10 epochs with the default
   batch size.
"""

# %%
# A private model
# ---------------
import os

import matplotlib.pyplot as plt

from sk_privattn import DPAttentionClassifier
from sk_privattn.datasets import load_adult
from sk_privattn.plot import AttentionDisplay

QUICK = bool(os.environ.get("SK_PRIVATTN_DOC_QUICK") or os.environ.get("CI"))
n_rows, max_epochs, batch_size = (6000, 5, 128) if QUICK else (None, 10, "auto")

train = load_adult(subset="train", as_frame=True)
test = load_adult(subset="test", as_frame=True)
clf = DPAttentionClassifier(
    epsilon=1.0,
    bounds=train.bounds,
    categories=train.categories, classes=train.classes,
    max_epochs=max_epochs,
    batch_size=batch_size,
    random_state=0,
)
clf.fit(train.data.iloc[:n_rows], train.target.iloc[:n_rows])
print(f"ε spent: {clf.epsilon_:.3f}, test accuracy: {clf.score(test.data, test.target):.3f}")

# %%
# The attention of 40 test rows
# -----------------------------
# Rows of the test split, which were not used for training.
display = AttentionDisplay.from_estimator(clf, test.data.iloc[:40], name="Attention of [CLS], Adult test rows")
plt.show()

# %%
# Reading the map
# ---------------
# Attention says which tokens the ``[CLS]`` token reads in the last block, not how much
# each feature changes the prediction: a heavily attended feature may matter little, and
# features also mix in earlier blocks. Treat it as a view into the model, and compare it
# with a permutation importance on public data (:func:`sklearn.inspection.permutation_importance`)
# before drawing conclusions.
