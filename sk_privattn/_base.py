"""The fit path that every differentially private estimator shares.

``fit`` runs, in this order: validate the parameters (nothing reads data
yet); count the rows, publicly or with DP (:mod:`sk_privattn.privacy._count`), and plan the
training from that count (a privacy budget may refuse the fit here, see
:mod:`sk_privattn.privacy._recording`); for a Dask ``X``, draw every step's batch in one
pass where the partitions live (:mod:`sk_privattn.data._dask_source`); validate ``X`` and ``y`` and encode
the inputs (public bounds and categories, or warned); build the torch module;
train it (``_train``: DP-SGD through
:func:`~sk_privattn.dpsgd.train_module`, or the Flower rounds of the
federated estimator); store the plain module and what was spent. A subclass
supplies its inputs (tabular in ``_tabular.py``, sequences in
``sequence.py``), its target handling and its loss (``_classification.py``,
``regressor.py``). With ``warm_start=True`` a fitted estimator skips the
input preparation and the module building of the first fit, and continues
both the training and the privacy accounting (see :mod:`sk_privattn._warm_start`).
"""

import contextlib
import copy
import dataclasses
import math
import secrets
import warnings
from abc import ABCMeta, abstractmethod
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    _num_samples,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
)

from ._warm_start import (
    check_budget_left,
    check_same_delta,
    check_same_neighbouring,
    check_same_structure,
    check_same_unit,
    structure,
)
from .data._dask_metadata import PartitionedSource
from .data._dask_source import (
    check_partitioned_fit,
    count_partitioned,
    draw_steps,
    is_partitioned,
    predict_by_partition,
)
from .dpsgd import OPTIMIZERS, TensorBatchDataset, person_index, train_with
from .exceptions import PrivacyLeakWarning
from .privacy import (
    DEFAULT_DELTA,
    RELATIONS,
    Neighbouring,
    Relation,
    Unit,
    count_source,
    get_accountant,
    plan_training,
    resolve_accountant,
    resolve_count,
)
from .privacy._metadata import PARTITION_DELTA_SHARE, UnpublishedMetadata, plan_metadata
from .privacy._recording import RecordsFits, begin_fit
from .privacy.accountants import AccountantOptions
from .utils._warnings import caller_stacklevel

__all__ = [
    "BaseDPEstimator",
    "PreparedTarget",
    "check_target",
    "default_delta_is_weak",
    "initial_module",
    "module_inputs",
    "planned_histories",
]

#: Rows per predict batch; every batch is padded to it (see ``_forward``).
_PREDICT_BATCH_SIZE = 512

#: Mixed into the training seed for the seeds of the DP metadata release.
_METADATA_SEED = 0x6D657461


def _partition_share(previous, metadata):
    """The share of δ that partition selection takes: that of the first call for a warm start
    (whose δ and categories it continues), :data:`PARTITION_DELTA_SHARE` for a release with
    partitions, 0 otherwise."""
    if previous is not None:
        return previous.get("partition_delta_", 0.0) / previous["delta_"]
    return PARTITION_DELTA_SHARE if metadata is not None and metadata.n_partitions else 0.0


def _check_device(device):
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r}, but torch sees no CUDA device on this machine; use device='cpu'."
        )
    return device


@dataclass
class FitCall:
    """One call to ``fit`` before it reads a row: its unit, what it continues, its seeds and its plan.

    Made by :meth:`BaseDPEstimator._plan_call` from the parameters and a count
    of the units (public or DP) only.

    Attributes
    ----------
    unit : Unit
    persons : PersonIndex or None
        Person level in memory: which rows belong to whom (``None`` at row level,
        and for a Dask ``X``, whose pass groups each step's rows by person).
    previous : dict or None
        The estimator's attributes before a warm start.
    call : int
        1 for the fit that builds the model, 2 for the first warm start, ...
    module_seed, train_seed : int
        Seeds of the weights (and dropout), and of the sampler and the noise.
    plan : Plan
    metadata : MetadataRelease or None
        What the call releases of its metadata with DP (bounds, categories,
        classes not given as public), planned from the schema; ``None`` when
        it releases none.
    """

    unit: Unit
    persons: object
    previous: dict
    call: int
    module_seed: int
    train_seed: int
    plan: object
    metadata: object = None


@dataclass
class PreparedTarget:
    """The target as the module trains on it (what the ``_prepare_target`` hook returns).

    Attributes
    ----------
    tensor : Tensor
        One entry per row; a row that ``usable`` leaves out holds a placeholder.
    n_outputs : int
    attributes : dict
        The fitted attributes of the target (``classes_``, ``target_bounds_``, ...).
    usable : ndarray of bool or None
        Which rows hold a target that the fit can use. The others (a missing
        target, a label outside the public classes) stay in the Poisson
        sampling with weight 0: nothing about them changes the plan, and no
        error or warning says that they were there (docs/privacy.md, "Rows
        that the public metadata does not allow"). ``None``: every row.
    """

    tensor: torch.Tensor
    n_outputs: int
    attributes: dict
    usable: np.ndarray = None


def check_target(y, X):
    """``y`` as a 1-D array with one entry per row of ``X``.

    Missing and infinite values pass: the ``_prepare_target`` hooks give a
    missing target weight 0 and clip an infinite one, so that one row cannot
    make a fit raise where its neighbour would not.
    """
    y = column_or_1d(y, warn=True)
    check_consistent_length(X, y)
    return y


@dataclass
class Encoded:
    """Rows encoded for the module (made by :meth:`BaseDPEstimator._encode`).

    Attributes
    ----------
    dataset : TensorBatchDataset
        The inputs, the encoded target and the row weights.
    attributes : dict
        The fitted attributes of the input encoding and of the target.
    n_outputs : int
    rows : array-like
        The rows as validated, which ledgers fingerprint.
    y : ndarray
        The validated target.
    """

    dataset: TensorBatchDataset
    attributes: dict
    n_outputs: int
    rows: object
    y: object


@dataclass
class PreparedFit:
    """A call to ``fit`` ready to train: its inputs encoded, its target, its module.

    Made by :meth:`BaseDPEstimator._prepare_call`.

    Attributes
    ----------
    call : FitCall
    dataset : TensorBatchDataset
    module : torch.nn.Module
    criterion : torch.nn.Module or type
    attributes : dict
        The fitted attributes of the input encoding and of the target.
    rows : array-like
        The training rows as validated, which ledgers fingerprint.
    y : ndarray
        The validated target.
    """

    call: FitCall
    dataset: TensorBatchDataset
    module: torch.nn.Module
    criterion: object
    attributes: dict
    rows: object
    y: object


class BaseDPEstimator(RecordsFits, BaseEstimator, metaclass=ABCMeta):
    """Base class of every DP estimator: the privacy and training parameters,
    and the one fit path.

    ``fit`` runs :meth:`_plan_call` (parameters and a count only), the open
    budgets' check, :meth:`_prepare_call` (the rows are read here), ``_train``
    and ``_store_fit``. Every driver goes through the same steps: a warm start,
    a federation's sites and server, :mod:`sk_privattn.persistence`, and
    :class:`~sk_privattn.model_selection.PrivateRandomSearch`. A subclass
    supplies its inputs (``_fit_inputs``, ``_transform_inputs``,
    ``_build_module``), its target (``_prepare_target``, ``_n_outputs``,
    ``_criterion``) and its ``__init__``, which calls this one. Not for direct
    use.
    """

    _parameter_constraints = {
        "epsilon": [Interval(Real, 0, None, closed="neither"), Options(Real, {math.inf})],
        "delta": [Interval(Real, 0, 1, closed="neither"), None],
        "neighbouring": [StrOptions(set(RELATIONS))],
        "public_count": [Interval(Integral, 1, None, closed="left"), None],
        "max_grad_norm": [Interval(Real, 0, None, closed="neither")],
        "accountant": [AccountantOptions()],
        "max_epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions({"constant", "cosine"})],
        "optimizer": [StrOptions(set(OPTIMIZERS)), type],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "random_state": ["random_state"],
        "device": [str],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "max_sample_weight": [Interval(Real, 0, None, closed="neither"), None],
        "max_rows_per_person": [Interval(Integral, 1, None, closed="left")],
        "metadata_noise_multiplier": [Interval(Real, 0, None, closed="neither")],
    }

    #: Parameters that set the architecture of ``module_`` or the encoding of
    #: its inputs; a warm start must keep them (see ``_warm_start.py``).
    _structural_params = ()

    #: Where what a fit reads of the data outside DP-SGD comes from, for the
    #: PrivacyLeakWarning that says so.
    _training_rows = "the training data"

    #: Why the estimator releases no DP metadata (a federation), or ``None``: it does.
    _no_dp_metadata = None
    #: Whether ``fit`` and ``predict`` take a Dask collection (:mod:`sk_privattn.data._dask_source`).
    _partitioned_input = False

    # No defaults here: each public estimator's signature is the one source of them.
    def __init__(
        self,
        *,
        epsilon,
        delta,
        neighbouring,
        public_count,
        max_grad_norm,
        accountant,
        batch_size,
        lr,
        lr_schedule,
        optimizer,
        weight_decay,
        dropout,
        random_state,
        device,
        verbose,
    ):
        self.epsilon = epsilon
        self.delta = delta
        self.neighbouring = neighbouring
        self.public_count = public_count
        self.max_grad_norm = max_grad_norm
        self.accountant = accountant
        self.batch_size = batch_size
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    # -- what a subclass supplies ------------------------------------------

    @abstractmethod
    def _fit_inputs(self, X, y, previous, metadata=None):
        """Validate ``X`` and ``y`` and turn ``X`` into the module's inputs.

        Returns ``(inputs, y, attributes, rows)``: ``inputs`` a dict of
        tensors with the rows on their first axis, keyed by the keywords of
        the module's ``forward``; ``y`` validated; ``attributes`` the fitted
        attributes of the input encoding, set on the estimator once the fit
        succeeds; ``rows`` the training rows as received (validated, not
        encoded: the encoding may depend on the data), one per row of an
        array, which privacy ledgers fingerprint to find the fits that
        trained on the same row. Anything read from the data here must be public or warned.
        ``previous`` is ``None``, or the estimator's attributes before a warm
        start, whose encoding must then be reused. ``metadata`` is the call's DP
        metadata release (or ``None``), through which whatever is neither public
        nor read by an explicit ``"data"`` is released.
        """

    @abstractmethod
    def _transform_inputs(self, X):
        """The module's inputs (a dict of tensors) for ``X`` at predict time."""

    @abstractmethod
    def _build_module(self, attributes, n_outputs):
        """The torch module for inputs encoded as ``attributes`` describe."""

    def _categorical_of_schema(self, X):
        """The mask of categorical columns of the Dask collection ``X``, from its schema alone
        (estimators with ``_partitioned_input``)."""
        raise NotImplementedError

    def _restore_inputs(self):
        """The private attributes of the input encoding, rebuilt from the public fitted
        ones (``sk_privattn.persistence.load``); none by default."""
        return {}

    @abstractmethod
    def _n_outputs(self):
        """Outputs of ``module_`` for the fitted target."""

    @abstractmethod
    def _prepare_target(self, y, previous, metadata=None):
        """Validate ``y``; return a :class:`PreparedTarget`.

        Total on any ``y`` of the right kind: a row whose target the fit cannot
        use (missing, or outside the classes) is left out of
        :attr:`PreparedTarget.usable`, never raised on. ``previous`` is
        ``None``, or the estimator's attributes before a warm start: the
        target must then be encoded as in that fit. ``metadata`` as for
        :meth:`_fit_inputs`.
        """

    @abstractmethod
    def _criterion(self, target_attributes):
        """The torch loss, a class or an instance, that returns one loss per row (reduction="none")."""

    # -- the shared fit path -----------------------------------------------

    def _check_params(self):
        """Checks that ``_parameter_constraints`` cannot express."""
        if isinstance(self.optimizer, type) and not issubclass(self.optimizer, torch.optim.Optimizer):
            raise ValueError(
                f"optimizer={self.optimizer!r} is not a torch.optim.Optimizer subclass; "
                f"use one of {sorted(OPTIMIZERS)} or such a class."
            )
        resolve_accountant(self.accountant, self.neighbouring)
        _check_device(self.device)

    @property
    def _neighbouring(self):
        """The stated relation, with the row as the unit: what the plan, the ledgers and the
        report read (person-level fits use :meth:`_neighbouring_of`)."""
        return Neighbouring(self.neighbouring)

    def _neighbouring_of(self, unit):
        return Neighbouring(self.neighbouring, unit)

    def _count(self, n_units, seed, unit=Unit.ROW):
        """The count of the ``n_units`` units (rows, or persons) that the plan reads:
        ``public_count``, the exact count where it is public (replace-one, or no
        privacy), or a DP count."""
        return resolve_count(n_units, neighbouring=self._neighbouring_of(unit), public_count=self.public_count,
                             epsilon=float(self.epsilon), seed=seed)

    def _plan_fit(self, n_units, previous, *, seed, unit=Unit.ROW, metadata=None):
        """The plan of this fit on ``n_units`` units: count them (:meth:`_count`, with
        ``seed``), then plan from the count (:meth:`_training_plan`). The federated
        estimator counts each site's rows instead."""
        return self._training_plan(self._count(n_units, seed, unit), previous, unit, metadata)

    def _training_plan(self, count, previous=None, unit=Unit.ROW, metadata=None):
        """The :class:`~sk_privattn.privacy.TrainingPlan` of a fit whose units (rows, or
        persons) are counted by ``count``, and which releases ``metadata`` (a
        :class:`~sk_privattn.privacy._metadata.MetadataRelease`, or ``None``) before it trains.

        Reads the parameters, the count and the planned release only (an int is a
        public count). ``previous`` is the estimator's ``__dict__`` before a warm
        start, whose δ and spent mechanisms the plan continues.
        """
        return plan_training(
            count,
            epsilon=float(self.epsilon),
            delta=previous["delta_"] if previous is not None else self.delta,
            batch_size=self.batch_size,
            epochs=self.max_epochs,
            accountant=self.accountant,
            neighbouring=self._neighbouring_of(unit),
            prior_history=previous["accountant_history_"] if previous is not None else (),
            prior_count_epsilon=previous.get("count_epsilon_", 0.0) if previous is not None else 0.0,
            release_history=metadata.history() if metadata is not None else (),
            partition_share=_partition_share(previous, metadata),
        )

    def _warm_start_state(self, unit=Unit.ROW):
        """The attributes of the fit that this call continues (a warm start), or ``None``."""
        if not (self.warm_start and hasattr(self, "module_")):
            return None
        previous = dict(vars(self))
        check_same_structure(previous["_structure"], self)
        check_same_neighbouring(self.neighbouring, previous.get("neighbouring_", Relation.ADD_OR_REMOVE))
        check_same_unit(unit, previous.get("privacy_unit_", Unit.ROW))
        check_same_delta(self.delta, previous["delta_"])
        check_budget_left(previous["accountant_history_"], self.epsilon, previous["delta_"],
                          self.accountant, relation=self.neighbouring,
                          count_epsilon=previous.get("count_epsilon_", 0.0))
        return previous

    def _plan_call(self, X, y, person_id=None, **fit_params):
        """The :class:`FitCall` of a call to ``fit`` on ``X``: its unit, what it continues,
        its seeds, and its plan. Reads the parameters and a count of the units (public,
        or released with DP) and nothing else of the data. ``fit_params`` (a
        federation's ``groups``) go to ``_plan_fit``.
        """
        self._check_params()
        persons, n_units = self._units(X, person_id)
        unit = Unit.ROW if person_id is None else Unit.PERSON
        previous = self._warm_start_state(unit)
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None.")
        call = 1 if previous is None else previous["history_"][-1]["call"] + 1
        module_seed, train_seed = self._seeds(call)
        metadata = self._plan_metadata(X, y, train_seed, person_id) if previous is None else None
        plan = self._plan_fit(n_units, previous, seed=train_seed, unit=unit, metadata=metadata, **fit_params)
        if metadata is not None:
            metadata = dataclasses.replace(metadata, partition_delta=plan.partition_delta)
        return FitCall(unit, persons, previous, call, module_seed, train_seed, plan, metadata)

    def _plan_metadata(self, X, y, seed, person_id=None):
        """The metadata release of a fit on ``X, y`` (:class:`~sk_privattn.privacy._metadata.MetadataRelease`),
        planned from the schema and the parameters (``_metadata_needs``): ``None`` when the fit
        is not private, or needs no metadata that is not public."""
        if not math.isfinite(float(self.epsilon)):
            return None
        n_numeric, n_categorical, n_labels = self._metadata_needs(X, y)
        if n_numeric + n_categorical + n_labels == 0:
            return None
        partitioned = is_partitioned(X)
        release = plan_metadata(
            self.metadata_noise_multiplier,
            n_numeric=n_numeric,
            n_categorical=n_categorical,
            n_labels=n_labels,
            relation=self.neighbouring,
            entropy=np.random.SeedSequence([int(seed), _METADATA_SEED]).generate_state(1)[0],
            groups=None if person_id is None or partitioned else np.asarray(person_id),
        )
        if partitioned:  # the histograms are summed where the partitions live
            release = dataclasses.replace(release, source=PartitionedSource(X, y, person_id))
        return release

    def _metadata_needs(self, X, y):
        """``(n_numeric, n_categorical, n_labels)``: the ranges, category lists and label domains
        (0 or 1) that a fit on ``X, y`` must release with DP, from their schema (column kinds,
        the type of ``y``) and the parameters, never from their values: those of the inputs
        (``_input_metadata_needs``) and of the target (``_target_metadata_needs``). With
        ``X=None`` (``y=None``) the schema is unknown: one of each kind that the parameters
        may release, an upper bound of the release's cost, whose noise multiplier does not
        depend on the schema."""
        inputs, target = self._input_metadata_needs(X), self._target_metadata_needs(y)
        return tuple(a + b for a, b in zip(inputs, target))

    def _unpublished(self, metadata):
        """How this fit obtains the bounds, categories and classes that are not public: released
        with DP through ``metadata``, or, without privacy, read from the data."""
        return UnpublishedMetadata(release=metadata, private=math.isfinite(float(self.epsilon)),
                                   source=self._training_rows, unavailable=self._no_dp_metadata)

    def _input_metadata_needs(self, X):
        """What the input encoding of ``X`` releases with DP (see :meth:`_metadata_needs`); none by default."""
        return (0, 0, 0)

    def _target_metadata_needs(self, y):
        """What the target encoding of ``y`` releases with DP (see :meth:`_metadata_needs`); none by default."""
        return (0, 0, 0)

    def _units(self, X, person_id=None):
        """``(persons, n_units)``: the :class:`~sk_privattn.dpsgd.PersonIndex` of ``person_id`` (or
        ``None``) and the exact number of units, rows or persons, that :meth:`_count` releases. A
        Dask ``X`` is counted where it lives (:func:`~sk_privattn.data._dask_source.count_partitioned`)."""
        if is_partitioned(X):
            return None, count_partitioned(X, person_id)
        persons = None if person_id is None else person_index(person_id, _num_samples(X))
        return persons, (_num_samples(X) if persons is None else persons.n_persons)

    def _read_table(self, X, y=None):
        """``X`` and ``y`` as the estimator reads them (a table estimator reads polars and Arrow
        through pandas); as they are by default. The fit path reads them so before it plans,
        so that the schema it plans the metadata release from is the one it encodes."""
        return X, y

    def _check_source(self, X, y, person_id=None, sample_weight=None):
        """Refuse, before any count, a fit on data that the fit path cannot read privately: here a
        Dask ``X`` that this estimator or its parameters do not allow
        (:func:`~sk_privattn.data._dask_source.check_partitioned_fit`)."""
        if is_partitioned(X):
            check_partitioned_fit(self, X, y, person_id, sample_weight)

    def _draw_steps(self, call, X, y, person_id=None):
        """``(X, y, batches)``: the rows that training reads and where its batches come from.
        In memory, the rows as given and ``batches=None`` (the training routine draws them);
        for a Dask ``X``, one pass draws every step's batch where the partitions live, and
        training reads only those rows (:func:`~sk_privattn.data._dask_source.draw_steps`)."""
        if not is_partitioned(X):
            return X, y, None
        return draw_steps(call.plan, X, y, secret=call.train_seed, person_id=person_id,
                          max_rows_per_person=getattr(self, "max_rows_per_person", None))

    def _prepare_call(self, call, X, y, sample_weight=None):
        """The :class:`PreparedFit` of ``call``: the inputs encoded, the target, the row
        weights and the module (built from ``module_seed`` in torch's seeded generator,
        see :meth:`_seeded_torch`, or copied from the model that a warm start continues).

        This reads the rows. Every warning of a fit is raised here or in
        :meth:`_plan_call`: what it reads outside DP-SGD, and what its plan calls for.
        """
        previous = call.previous
        encoded = self._encode(X, y, sample_weight, previous, plan=call.plan, metadata=call.metadata)
        if previous is None:
            module = self._build_module(encoded.attributes, encoded.n_outputs)
        else:
            # A copy, so that a failed call leaves the fitted module as it was.
            module = copy.deepcopy(previous["module_"])
        self._warn_if_noise_dominates(call.plan, module)
        return PreparedFit(call, encoded.dataset, module, self._criterion(encoded.attributes), encoded.attributes,
                           encoded.rows, encoded.y)

    def _encode(self, X, y, sample_weight=None, previous=None, *, plan=None, metadata=None):
        """The rows ``X, y`` as the module trains on them: an :class:`Encoded`.

        The one step that reads the rows, for a fit and for a federation's
        site alike: the input encoding and the target, with ``metadata`` (the
        call's DP metadata release) where they are not public. With ``plan``,
        the warnings that the plan calls for are raised after those of the input
        encoding.
        """
        inputs, y, input_attributes, rows = self._fit_inputs(X, y, previous, metadata)
        if plan is not None:
            self._warn_about_plan(plan, previous)
        target = self._prepare_target(y, previous, metadata)
        row_weight = self._row_weights(target, sample_weight, len(target.tensor))
        return Encoded(TensorBatchDataset(inputs, target.tensor, row_weight), {**target.attributes, **input_attributes},
                       target.n_outputs, rows, y)

    def _initial_module(self, attributes=None, n_outputs=None):
        """The module that the first call of ``fit`` starts from: built from ``attributes``
        and ``n_outputs`` (the fitted ones by default) in torch's generator seeded with the
        seed of the weights of call 1."""
        attributes = vars(self) if attributes is None else attributes
        n_outputs = self._n_outputs() if n_outputs is None else n_outputs
        with self._seeded_torch(self._seeds(1)[0]):
            return self._build_module(attributes, n_outputs)

    def _restore(self, fitted, state_dict):
        """Make this unfitted estimator the fitted one whose public attributes are ``fitted``
        (a dict) and whose module's weights are ``state_dict``, as
        :func:`sk_privattn.persistence.load` reads them."""
        for name, value in fitted.items():
            setattr(self, name, value)
        for name, value in self._restore_inputs().items():
            setattr(self, name, value)
        self._structure = structure(self)
        with torch.random.fork_rng(devices=[]):
            module = self._build_module(vars(self), self._n_outputs())
        module.load_state_dict(state_dict)
        self.module_ = module.eval()
        return self

    def _fit(self, X, y, sample_weight=None, person_id=None, **fit_params):
        """The fit path: check the source (:meth:`_check_source`), plan the call, let the open
        budgets refuse it before any row is read, draw the steps' rows of a Dask ``X``
        (:meth:`_draw_steps`), prepare the call, train, and store what was fitted and spent.

        With ``person_id`` the unit is the person (:mod:`sk_privattn.dpsgd._sampling`):
        the plan counts persons, the sampler samples them, and each person's rows are
        clipped as one.
        """
        if not is_partitioned(X):
            X, y = self._read_table(X, y)
        self._check_source(X, y, person_id, sample_weight)
        call = self._plan_call(X, y, person_id, **fit_params)
        # The plan read a count of the units (rows or persons), public or released with DP,
        # and nothing else of the data; ledgers and budgets (sk_privattn.privacy._recording)
        # record it, and a budget refuses the fit here, before the rows are read.
        recorder = begin_fit(self, call.plan, call.previous)
        # Seed torch's global generator (weights, dropout) for this fit only.
        with self._seeded_torch(call.module_seed):
            X, y, batches = self._draw_steps(call, X, y, person_id)
            prepared = self._prepare_call(call, X, y, sample_weight)
            recorder = (recorder.for_rows(prepared.rows, prepared.y) if call.persons is None
                        else recorder.for_persons(call.persons.ids))
            result = self._train(prepared.module, prepared.dataset, call.plan, criterion=prepared.criterion,
                                 seed=call.train_seed, recorder=recorder, persons=call.persons, batches=batches)
        return self._store_fit(prepared.attributes, call.plan, result, call.previous, call.call)

    def _train(self, module, dataset, plan, *, criterion, seed, recorder, persons=None, batches=None):
        """Train ``module`` on ``dataset`` by ``plan``; return a
        :class:`~sk_privattn.dpsgd.TrainingResult`.

        DP-SGD on all rows here (of ``persons``, at person level), or on the
        ``batches`` that a pass over partitioned data drew; the
        federated estimator runs Flower rounds instead. ``recorder`` is the
        fit's record in the open ledgers: call its ``start()`` before the first
        step and its ``spent(...)`` when training stops, completed or not.
        """
        return train_with(self, module, dataset, plan, criterion=criterion, seed=seed, verbose=self.verbose,
                          recorder=recorder, persons=persons, batches=batches)

    def _store_fit(self, attributes, plan, result, previous=None, call=1):
        """Set the fitted attributes: the encoding's, the module, and what ``plan`` spent."""
        for name, value in {**attributes, **result.attributes}.items():
            setattr(self, name, value)
        self._structure = structure(self) if previous is None else previous["_structure"]
        self.module_ = result.module.eval()
        spent = {
            "neighbouring_": plan.relation.value,
            "privacy_unit_": plan.neighbouring.unit.value,
            "accountant_": plan.accountant,
            "count_": plan.count.value,
            "count_epsilon_": plan.count_epsilon,
            "delta_": plan.delta,
            "partition_delta_": plan.partition_delta,
            "epsilon_": result.epsilon,
            "noise_multiplier_": plan.noise_multiplier,
            "sample_rate_": plan.sample_rate,
            "n_steps_": result.n_steps,
            "batch_size_": plan.batch_size,
            **plan.fitted_attributes(),
        }
        for name, value in spent.items():
            setattr(self, name, value)
        self.accountant_history_ = [*plan.prior_history, *plan.release_history, *result.history]
        # The entries of accountant_history_ that the fits released before they trained (their DP metadata).
        self.metadata_history_ = [*(previous.get("metadata_history_", []) if previous is not None else []),
                                  *plan.release_history]
        earlier = previous["history_"] if previous is not None else []
        self.history_ = earlier + [{"call": call, **row} for row in result.log]
        return self

    def _target_row_weights(self, target, target_attributes):
        """Each row's weight from its target (a classifier's class weights), in [0, 1]; or ``None``."""
        return None

    def _row_weights(self, target, sample_weight, n_samples):
        """The weight of each row in [0, 1] (a tensor), or ``None`` when all weigh the same.

        DP-SGD multiplies each row's clipped gradient by it (see
        :class:`~sk_privattn._dpsgd.RowWeightedDPOptimizer`), so it must be at
        most 1 and depend on that row only, and public values: class weights
        over the largest class weight, ``sample_weight`` over
        ``max_sample_weight`` (or over the largest sample weight, read from the
        data and warned), and 0 for a row whose target is not usable
        (:class:`PreparedTarget`).
        """
        weights = self._target_row_weights(target.tensor, target.attributes)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, np.empty((n_samples, 0)), ensure_non_negative=True)
            bound = self._sample_weight_bound(sample_weight)
            weights = sample_weight / bound if weights is None else weights * sample_weight / bound
        if target.usable is not None:
            weights = target.usable.astype(float) if weights is None else weights * target.usable
        if weights is None or np.all(weights == 1.0):
            return None
        return torch.as_tensor(weights, dtype=torch.float32)

    def _sample_weight_bound(self, sample_weight):
        """``max_sample_weight``, or the largest weight of ``sample_weight`` (read, warned)."""
        if self.max_sample_weight is not None:
            if sample_weight.max() > self.max_sample_weight:
                raise ValueError(
                    f"sample_weight holds weights up to {sample_weight.max():g}, above "
                    f"max_sample_weight={self.max_sample_weight}. Raise max_sample_weight to the "
                    "largest weight your design allows, or cap the weights."
                )
            return float(self.max_sample_weight)
        if not sample_weight.any():
            raise ValueError("sample_weight is 0 for every row; give some row a positive weight.")
        warnings.warn(
            "max_sample_weight was not given, so the largest value of sample_weight was read from "
            "the training data: each row's weight is divided by it, so that no row weighs more "
            "than one. That value is not protected by the differential-privacy guarantee. Pass "
            "max_sample_weight (a public bound on the weights, e.g. the largest weight your survey "
            "design allows) to prevent this.",
            PrivacyLeakWarning,
            stacklevel=caller_stacklevel(),
        )
        return float(sample_weight.max())

    @contextlib.contextmanager
    def _seeded_torch(self, seed):
        """Torch's global generator seeded with ``seed`` inside the block, restored after it."""
        with torch.random.fork_rng(devices=None if self.device.startswith("cuda") else []):
            torch.manual_seed(seed)
            yield

    def _seeds(self, call):
        """The seeds of the weights and of the training (sampler and noise) of call ``call``.

        ``random_state=None`` draws them from the operating system's secret
        entropy (``secrets``): nobody can regenerate the noise. A fixed
        ``random_state`` makes fits reproducible, and whoever knows it can
        regenerate the noise (docs/privacy.md). Each call of a warm start gets
        fresh seeds: reusing the noise of an earlier call would break the
        accountant's independence assumption.
        """
        if self.random_state is None:
            return secrets.randbits(31), secrets.randbits(31)
        seeds = check_random_state(self.random_state).randint(np.iinfo(np.int32).max, size=(call, 2))
        return int(seeds[-1, 0]), int(seeds[-1, 1])

    def _warn_about_plan(self, plan, previous):
        """The warnings that the privacy parameters of this fit call for, each once."""
        weak = self._weak_delta(plan, previous)
        if weak is not None:
            warnings.warn(weak, UserWarning, stacklevel=caller_stacklevel())
        warning = get_accountant(self.accountant).warning
        if warning is not None and plan.private:
            warnings.warn(warning, UserWarning, stacklevel=caller_stacklevel())
        self._warn_about_batch_size(plan)

    def _warn_about_batch_size(self, plan):
        """Warn when a fixed ``batch_size`` is above the plan's count (public or DP): every step
        then takes every row. The federated estimator checks each site's count instead."""
        if self.batch_size != "auto" and self.batch_size > plan.n_samples:
            warnings.warn(
                f"batch_size={self.batch_size} is larger than the count of training rows "
                f"({plan.n_samples}, {count_source(plan.count)}): every "
                "step then samples each row with probability 1, a single step per epoch, with no "
                "privacy amplification by sampling. Use a smaller batch_size, or batch_size='auto'.",
                UserWarning,
                stacklevel=caller_stacklevel(),
            )

    def _warn_if_noise_dominates(self, plan, module):
        """Warn when the noise of the whole plan outweighs any signal (see ``TrainingPlan.noise_to_signal``)."""
        n_parameters = sum(parameter.numel() for parameter in module.parameters() if parameter.requires_grad)
        ratio = plan.noise_to_signal(n_parameters)
        if ratio > 1.0:
            warnings.warn(
                f"DP-SGD will likely learn little: at noise multiplier {plan.noise_multiplier:.3g}, the noise "
                f"in the average of this fit's updates is {ratio:.1f} times larger than the largest signal "
                f"that clipping lets through, for a model of {n_parameters:,} parameters (see "
                "TrainingPlan.noise_to_signal). The ratio grows with the square root of the number of "
                "parameters and falls with epsilon times the number of rows: train a smaller model "
                "(fewer d_token or n_layers), raise epsilon, or use more rows.",
                UserWarning,
                stacklevel=caller_stacklevel(),
            )

    def _weak_delta(self, plan, previous):
        """What is wrong with δ, if it is not below 1/n for the plan's count n; ``None`` when it is."""
        if plan.delta < 1.0 / plan.n_samples:
            return None
        if previous is not None:
            origin = f"warm_start=True keeps the delta_={plan.delta:g} of the fit that built the model, but it"
            fix = "Fit the first model with a smaller delta, or set warm_start=False to train a new model."
        elif self.delta is None:
            origin, fix = default_delta_is_weak(plan.delta)
        else:
            origin = f"delta={plan.delta}"
            fix = (f"Use a smaller value, or delta=None (1/(10·n) for a public count n, {DEFAULT_DELTA:g} for a "
                   "DP count).")
        return (
            f"{origin} is not below 1/n={1.0 / plan.n_samples:.3g} for the count of training rows "
            f"n={plan.n_samples} ({count_source(plan.count)}). A mechanism that "
            f"publishes one whole random row meets that δ, so the guarantee is weak. {fix}"
        )

    def _fit_keeping_state(self, X, y, **fit_params):
        """Run ``_fit``; on any error leave a previous fit exactly as it was."""
        state = dict(self.__dict__)
        try:
            return self._fit(X, y, **fit_params)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(state)
            raise

    # -- the shared predict path -------------------------------------------

    def _forward(self, X, *, need_weights=False):
        """Run ``module_`` on ``X`` in eval mode, batched, without gradients.

        Returns the outputs as a float64 ndarray, and with ``need_weights``
        also the module's attention weights. Every batch has the same shape
        (the last one is padded with copies of its last row): float32
        arithmetic then gives each row the same outputs whichever rows it is
        predicted with, as scikit-learn's invariance checks expect.
        """
        check_is_fitted(self)
        if is_partitioned(X):
            return predict_by_partition(self, X, need_weights=need_weights)
        inputs = self._transform_inputs(X)
        n_samples = len(next(iter(inputs.values())))
        device = next(self.module_.parameters()).device
        outputs, weights = [], []
        self.module_.eval()
        with torch.inference_mode():
            for start in range(0, n_samples, _PREDICT_BATCH_SIZE):
                batch = {
                    name: _padded(tensor[start : start + _PREDICT_BATCH_SIZE]).to(device)
                    for name, tensor in inputs.items()
                }
                size = min(_PREDICT_BATCH_SIZE, n_samples - start)
                result = self.module_(**batch, need_weights=need_weights)
                if need_weights:
                    result, attention = result
                    weights.append(attention[:size].cpu())
                outputs.append(result[:size].cpu())
        logits = torch.cat(outputs).double().numpy() if outputs else np.zeros((0, 0))
        if need_weights:
            return logits, torch.cat(weights).double().numpy()
        return logits


def default_delta_is_weak(delta):
    """What a warning says of ``delta=None`` when its δ (``DEFAULT_DELTA``, under a DP count) is not
    below ``1 / n``: ``(origin, fix)``."""
    origin = (f"delta=None gives δ={delta:g} when the plan reads a DP count of the rows (a δ computed from "
              "that count would not hold as reported: docs/privacy.md, \"The number of rows\"), which")
    fix = ("Pass delta, e.g. 1/(10·n) for a public estimate n of the number of rows, or public_count, whose "
           "default δ is 1/(10·public_count).")
    return origin, fix


def _padded(rows):
    """``rows`` padded to ``_PREDICT_BATCH_SIZE`` rows with copies of its last row."""
    missing = _PREDICT_BATCH_SIZE - len(rows)
    if missing <= 0 or len(rows) == 0:
        return rows
    return torch.cat([rows, rows[-1:].expand(missing, *rows.shape[1:])])


def planned_histories(estimator, count, X=None, y=None):
    """What a fit of ``estimator`` on ``X, y`` whose rows are counted by ``count`` (public,
    an int) would run, one history per group of rows, from its parameters, ``count`` and the
    schema of ``X, y`` alone (no value is read): its metadata release and its training.

    Raises
    ------
    ValueError
        Without ``X``, for an estimator that may release metadata with DP: whether it
        does, and so what its training runs, depends on the columns of ``X``.
    """
    if X is None and any(estimator._metadata_needs(None, None)) and math.isfinite(float(estimator.epsilon)):
        raise ValueError(
            f"{type(estimator).__name__} releases its bounds, categories or classes with DP where they are None, "
            "and whether it does depends on the columns of X: pass X and y (their schema is read, never their "
            "values), or public bounds, categories and classes."
        )
    metadata = estimator._plan_metadata(X, y, seed=0)
    return estimator._training_plan(count, metadata=metadata).row_histories()


def initial_module(fitted):
    """The module that the first call of ``fitted.fit`` started from, built again from its seed.

    The initial weights depend on the parameters and the seed only, not on
    the data, so a white-box audit may know them. Needs an int
    ``random_state`` (with ``None`` the seed was secret).
    """
    check_is_fitted(fitted)
    if fitted.random_state is None:
        raise ValueError(
            f"{type(fitted).__name__} was fitted with random_state=None, from secret seeds: its initial "
            "weights cannot be rebuilt. Fit it with an int random_state."
        )
    return fitted._initial_module()


def module_inputs(fitted, X):
    """The inputs of ``fitted.module_`` for the rows ``X``: a dict of tensors."""
    check_is_fitted(fitted)
    return fitted._transform_inputs(X)
