"""Empirical privacy audits: a one-run audit with a valid ε lower bound, and membership-inference scores.

- :func:`one_run_audit` (Steinke, Nasr & Jagielski, 2023): the auditor
  decides by fair coins which canaries join the training data, trains once,
  and turns the number of right "in"/"out" guesses into an ε lower bound with
  their theorem, in a black-box mode (``predict_proba``) or a white-box one
  (the trained module). The bound is valid at the stated confidence: its only
  randomness is the auditor's coins.
- :func:`membership_inference`: the loss-threshold attack (Yeom et al. 2018)
  and the offline LiRA attack (Carlini et al. 2022) against any fitted
  classifier, reported as scores (ROC AUC, best advantage) of how well they
  tell the training rows from other rows. They give no ε bound: the rows
  they score were not put into the training data by a coin of the auditor,
  and they are scored against one trained model, so they are not independent
  trials, and a confidence interval computed as if they were is not valid.

A lower bound from one attack says little when it is small: a weak attack
proves nothing. It is a check that an implementation does not leak much more
than it claims (a bound above the claimed ε is a bug), not a proof of privacy.
"""

import numpy as np
from scipy.stats import norm
from sklearn.base import clone
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.utils import _safe_indexing, check_random_state

from ._one_run import OneRunAuditResult, concat_rows, one_run_audit, one_run_epsilon

__all__ = ["MembershipInferenceResult", "OneRunAuditResult", "membership_inference", "one_run_audit",
           "one_run_epsilon"]


class MembershipInferenceResult:
    """What :func:`membership_inference` found: how well the attack's scores separate members.

    Attributes
    ----------
    attack : str
    auc : float
        ROC AUC of the attack's scores, members against non-members.
    advantage : float
        max over thresholds of TPR - FPR.
    tpr_at_low_fpr : float
        The largest TPR at an FPR of at most 1 %.
    """

    def __init__(self, attack, auc, advantage, tpr_at_low_fpr):
        self.attack = attack
        self.auc = auc
        self.advantage = advantage
        self.tpr_at_low_fpr = tpr_at_low_fpr

    def __repr__(self):
        return (
            f"MembershipInferenceResult(attack={self.attack!r}, auc={self.auc:.3f}, "
            f"advantage={self.advantage:.3f}, tpr_at_low_fpr={self.tpr_at_low_fpr:.3f})"
        )


def _true_class_probability(estimator, X, y):
    classes, y = np.asarray(estimator.classes_), np.asarray(y)
    index = np.minimum(np.searchsorted(classes, y), len(classes) - 1)
    if not np.array_equal(classes[index], y):
        raise ValueError(f"y holds labels that {type(estimator).__name__} does not know (not in classes_).")
    proba = estimator.predict_proba(X)
    return np.clip(proba[np.arange(len(index)), index], 1e-12, 1.0)


def _logit_confidence(estimator, X, y):
    """log(p / (1 - p)) of the true class: what LiRA models as Gaussian."""
    p = np.clip(_true_class_probability(estimator, X, y), 1e-12, 1 - 1e-12)
    return np.log(p) - np.log1p(-p)


def _lira_offline_scores(estimator, X_target, y_target, reference, target_in_reference, n_shadow, rng):
    """LiRA offline (Carlini et al. 2022): how far above the OUT shadows' confidence a row's confidence is.

    Each shadow model is a clone of ``estimator`` fit on a random half of
    the reference rows. A target row's OUT shadows are those whose half
    did not contain it; its score is the one-sided z-score of the target
    model's logit confidence against theirs (one global standard deviation,
    as Carlini et al. advise with few shadows).
    """
    X_ref, y_ref = reference
    n_ref = len(y_ref)
    observed = _logit_confidence(estimator, X_target, y_target)
    shadow_conf, shadow_out = [], []
    for index in range(n_shadow):
        # Pairs of complementary halves: every reference row is OUT for half the shadows.
        half = rng.permutation(n_ref) < n_ref // 2 if index % 2 == 0 else ~half
        rows = np.flatnonzero(half)
        shadow = clone(estimator).fit(_safe_indexing(X_ref, rows), _safe_indexing(y_ref, rows))
        shadow_conf.append(_logit_confidence(shadow, X_target, y_target))
        # A target that is a reference row is OUT for the shadows that did not train on it.
        out = np.ones(len(observed), dtype=bool)
        rows = target_in_reference >= 0
        out[rows] = ~half[target_in_reference[rows]]
        shadow_out.append(out)
    conf, out = np.array(shadow_conf), np.array(shadow_out)
    n_out = out.sum(axis=0)
    mean_out = np.where(out, conf, 0).sum(axis=0) / n_out
    residuals = np.where(out, conf - mean_out, np.nan)
    std = max(float(np.nanstd(residuals)), 1e-6)
    return norm.logcdf((observed - mean_out) / std)


def membership_inference(
    estimator,
    X_member,
    y_member,
    X_nonmember,
    y_nonmember,
    *,
    attack="loss",
    X_reference=None,
    y_reference=None,
    n_shadow=8,
    random_state=None,
):
    """Score a fitted classifier by a membership-inference attack.

    Works for any scikit-learn classifier with ``predict_proba`` and
    ``classes_``: a DP estimator of this package, a ``LogisticRegression``,
    a random forest. The result says how well the attack tells members from
    non-members; it is not an ε bound (see :func:`one_run_audit` for one).

    Parameters
    ----------
    estimator : fitted classifier
        Trained on ``X_member, y_member`` (and maybe other rows), never on
        ``X_nonmember, y_nonmember``.
    X_member, y_member : array-like
        Rows that were in the training data.
    X_nonmember, y_nonmember : array-like
        Rows from the same distribution that were not.
    attack : {"loss", "lira"}, default="loss"
        ``"loss"``: the loss-threshold attack (Yeom et al. 2018): a row with a
        low loss is called a member. ``"lira"``: the offline likelihood-ratio
        attack of Carlini et al. 2022, stronger, which trains ``n_shadow``
        clones of ``estimator`` on random halves of the reference rows.
    X_reference, y_reference : array-like, default=None
        For ``attack="lira"``: rows from the same distribution that the
        shadow models train on, e.g. public data. ``None`` uses the
        non-member rows (each non-member then counts only the shadows that
        did not train on it as OUT). Never pass member rows.
    n_shadow : int, default=8
        For ``attack="lira"``: the number of shadow models, even: they are
        trained in pairs on complementary halves, so each reference row is
        OUT for half of them.
    random_state : int, RandomState instance or None, default=None
        The shadows' halves.

    Returns
    -------
    MembershipInferenceResult

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from sk_privattn.audit import membership_inference
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(800, 5))
    >>> y = (X[:, 0] + rng.normal(size=800) > 0).astype(int)
    >>> forest = RandomForestClassifier(random_state=0).fit(X[:400], y[:400])
    >>> result = membership_inference(forest, X[:400], y[:400], X[400:], y[400:], random_state=0)
    >>> result.auc > 0.6     # a random forest memorises its training rows
    True
    """
    if attack not in ("loss", "lira"):
        raise ValueError(f"attack={attack!r}; use 'loss' or 'lira'.")
    if attack == "lira" and (n_shadow < 2 or n_shadow % 2):
        raise ValueError(f"n_shadow={n_shadow}; LiRA trains shadows in complementary pairs: use an even number >= 2.")
    if not hasattr(estimator, "predict_proba"):
        raise ValueError(f"{type(estimator).__name__} has no predict_proba; the attacks read class probabilities.")
    rng = check_random_state(random_state)
    n_members = len(y_member)
    X_target = concat_rows([X_member, X_nonmember])
    y_target = np.concatenate([np.asarray(y_member), np.asarray(y_nonmember)])
    if attack == "loss":
        scores = np.log(_true_class_probability(estimator, X_target, y_target))  # minus the loss
    else:
        if X_reference is None:
            reference = (X_nonmember, np.asarray(y_nonmember))
            target_in_reference = np.concatenate([np.full(n_members, -1), np.arange(len(y_nonmember))])
        else:
            reference = (X_reference, np.asarray(y_reference))
            target_in_reference = np.full(len(y_target), -1)
        scores = _lira_offline_scores(estimator, X_target, y_target, reference, target_in_reference, n_shadow, rng)
    is_member = np.r_[np.ones(n_members), np.zeros(len(y_target) - n_members)]
    auc = float(roc_auc_score(is_member, scores))
    fpr, tpr, _ = roc_curve(is_member, scores)
    return MembershipInferenceResult(attack, auc, float(np.max(tpr - fpr)), float(np.max(tpr[fpr <= 0.01])))
