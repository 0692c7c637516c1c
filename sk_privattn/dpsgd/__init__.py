"""DP-SGD, the mechanism: it reads a :class:`~sk_privattn.privacy.Plan` and imports no
estimator code.

- :mod:`._poisson`: exact Poisson sampling of rows and persons at O(batch) per step, keyed draws;
- :mod:`._sampling`: the batch sources, Poisson batches of rows or of persons, in memory or
  gathered by a pass over partitioned data;
- :mod:`._clipping`: per-sample clipping in one backward pass;
- :mod:`._optimizer`: the noise, Opacus' optimizer and the record of what ran;
- :mod:`._net`: the skorch net and its dataset of named tensors;
- :mod:`._train`: the one training routine, :func:`train_module`.
"""

from ._net import OPTIMIZERS, TensorBatchDataset, UnitTarget
from ._optimizer import DPSGD, RowWeightedDPOptimizer, make_private, strip_opacus_state
from ._sampling import (
    DEFAULT_MAX_ROWS_PER_PERSON,
    BatchSource,
    GatheredBatches,
    PersonBatch,
    PersonBatches,
    PersonIndex,
    RowBatches,
    batch_source,
    person_index,
    poisson_loader,
)
from ._train import TrainingResult, train_module, train_with

__all__ = [
    "DEFAULT_MAX_ROWS_PER_PERSON",
    "BatchSource",
    "DPSGD",
    "GatheredBatches",
    "OPTIMIZERS",
    "PersonBatch",
    "PersonBatches",
    "PersonIndex",
    "RowBatches",
    "RowWeightedDPOptimizer",
    "TensorBatchDataset",
    "TrainingResult",
    "UnitTarget",
    "batch_source",
    "make_private",
    "person_index",
    "poisson_loader",
    "strip_opacus_state",
    "train_module",
    "train_with",
]
