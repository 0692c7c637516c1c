"""Empirical privacy audit: membership inference against any fitted classifier.

An attack scores each candidate row; a high score says "this row was in the
training data". From how well the scores separate known members from known
non-members we report the ROC AUC, the best attacker advantage
max(TPR - FPR), and the ε that the attack *proves* the training algorithm
spent at least: any (ε, δ)-DP algorithm must satisfy
``TPR <= e^ε FPR + δ`` and ``1 - FPR <= e^ε (1 - TPR) + δ`` for every
threshold (Kairouz et al. 2015), so

    ε_lb = max(log((TPR - δ) / FPR), log((1 - FPR - δ) / (1 - TPR)))

with TPR taken at its lower and FPR at its upper Clopper-Pearson bound, so
that the bound holds with the stated confidence.

Choosing the best threshold on the same rows that then certify it would
overstate ε_lb. The rows are therefore split in two halves: the threshold is
chosen on one, the bound computed on the other (AUC and advantage, which are
descriptive, use all rows).

A lower bound from one attack says little when it is small: a weak attack
proves nothing. It is a check that an implementation does not leak much more
than it claims (a bound above the claimed ε is a bug), not a proof of privacy.
"""

import math

import numpy as np
from scipy.stats import beta, binom, norm
from sklearn.base import clone
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.utils import check_random_state

__all__ = ["MembershipInferenceResult", "empirical_epsilon", "membership_inference", "one_run_epsilon"]


class MembershipInferenceResult:
    """What :func:`membership_inference` found.

    Attributes
    ----------
    attack : str
    auc : float
        ROC AUC of the attack's scores, members against non-members.
    advantage : float
        max over thresholds of TPR - FPR.
    epsilon_lower_bound : float
        ε that the attack proves, at ``delta`` and ``confidence`` (0 when it
        proves nothing).
    tpr, fpr : float
        The rates at the chosen threshold, on the held-out half.
    delta, confidence : float
    """

    def __init__(self, attack, auc, advantage, epsilon_lower_bound, tpr, fpr, delta, confidence):
        self.attack = attack
        self.auc = auc
        self.advantage = advantage
        self.epsilon_lower_bound = epsilon_lower_bound
        self.tpr = tpr
        self.fpr = fpr
        self.delta = delta
        self.confidence = confidence

    def __repr__(self):
        return (
            f"MembershipInferenceResult(attack={self.attack!r}, auc={self.auc:.3f}, "
            f"advantage={self.advantage:.3f}, epsilon_lower_bound={self.epsilon_lower_bound:.3f} "
            f"at delta={self.delta:g}, {self.confidence:.0%} confidence)"
        )


def _clopper_pearson(successes, trials, level):
    """Two-sided exact (Clopper-Pearson) interval at ``level``, vectorised.

    The same interval as ``scipy.stats.binomtest(k, n).proportion_ci(level, method="exact")``.
    """
    successes = np.asarray(successes, dtype=float)
    alpha = 1 - level
    with np.errstate(invalid="ignore"):
        low = np.where(successes > 0, beta.ppf(alpha / 2, successes, trials - successes + 1), 0.0)
        high = np.where(successes < trials, beta.ppf(1 - alpha / 2, successes + 1, trials - successes), 1.0)
    return low, high


def _bound_at(true_pos, n_members, false_pos, n_nonmembers, delta, confidence):
    """ε lower bound from counts at one or more thresholds, with Clopper-Pearson intervals."""
    # Both intervals hold together with probability >= confidence (Bonferroni).
    level = 1 - (1 - confidence) / 2
    tpr_low, _ = _clopper_pearson(true_pos, n_members, level)
    _, fpr_high = _clopper_pearson(false_pos, n_nonmembers, level)
    with np.errstate(divide="ignore", invalid="ignore"):
        positive = np.log(np.maximum(tpr_low - delta, 0) / fpr_high)
        negative = np.log(np.maximum(1 - fpr_high - delta, 0) / (1 - tpr_low))
    bound = np.maximum(np.nan_to_num(positive, nan=0.0, neginf=0.0), np.nan_to_num(negative, nan=0.0, neginf=0.0))
    return np.maximum(bound, 0.0) if np.ndim(bound) else max(float(bound), 0.0)


def _bound_over_thresholds(member_scores, nonmember_scores, thresholds, delta, confidence):
    """(ε bound, threshold) maximising the bound over ``thresholds`` (predict member if score >= t)."""
    members, nonmembers = np.sort(member_scores), np.sort(nonmember_scores)
    true_pos = len(members) - np.searchsorted(members, thresholds, side="left")
    false_pos = len(nonmembers) - np.searchsorted(nonmembers, thresholds, side="left")
    bounds = _bound_at(true_pos, len(members), false_pos, len(nonmembers), delta, confidence)
    best = int(np.argmax(bounds))
    return (float(bounds[best]), thresholds[best]) if bounds[best] > 0 else (0.0, math.inf)


def empirical_epsilon(member_scores, nonmember_scores, *, delta=1e-5, confidence=0.95, random_state=0):
    """ε lower bound proved by attack scores, with a threshold chosen on half the rows.

    Parameters
    ----------
    member_scores, nonmember_scores : array-like of shape (n,)
        Higher means "member".
    delta : float, default=1e-5
    confidence : float, default=0.95
    random_state : int, RandomState instance or None, default=0
        The split into the half that picks the threshold and the half that
        certifies it.

    Returns
    -------
    epsilon_lower_bound, tpr, fpr : float
        The bound, and the rates at the chosen threshold on the certifying half.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_privattn.audit import empirical_epsilon
    >>> rng = np.random.RandomState(0)
    >>> same = empirical_epsilon(rng.normal(size=1000), rng.normal(size=1000))
    >>> separated = empirical_epsilon(rng.normal(3, 1, 1000), rng.normal(size=1000))
    >>> same[0] < 0.5 < separated[0]
    True
    """
    rng = check_random_state(random_state)
    member_scores, nonmember_scores = np.asarray(member_scores, float), np.asarray(nonmember_scores, float)
    m_pick = rng.permutation(len(member_scores)) < len(member_scores) // 2
    n_pick = rng.permutation(len(nonmember_scores)) < len(nonmember_scores) // 2
    candidates = np.unique(np.concatenate([member_scores[m_pick], nonmember_scores[n_pick]]))
    _, threshold = _bound_over_thresholds(
        member_scores[m_pick], nonmember_scores[n_pick], candidates, delta, confidence
    )
    members, nonmembers = member_scores[~m_pick], nonmember_scores[~n_pick]
    true_pos, false_pos = int(np.sum(members >= threshold)), int(np.sum(nonmembers >= threshold))
    bound = _bound_at(true_pos, len(members), false_pos, len(nonmembers), delta, confidence)
    return bound, true_pos / max(1, len(members)), false_pos / max(1, len(nonmembers))


def _one_run_p_value(n_canaries, n_guesses, n_correct, epsilon, delta):
    """P[at least ``n_correct`` right of ``n_guesses``] under (ε, δ)-DP (Steinke et al. 2023, Thm 5.2).

    An ε-DP algorithm lets no guesser beat randomised response, whose guesses
    are right with probability ``q = e^ε / (1 + e^ε)``: the count of right
    guesses is dominated by Binomial(r, q). δ adds at most
    ``2 m δ max_i P[v - i <= Binomial(r, q) < v] / i``.
    """
    q = 1.0 / (1.0 + math.exp(-epsilon))
    p_value = binom.sf(n_correct - 1, n_guesses, q)
    if delta > 0 and n_correct > 0:
        below = binom.pmf(n_correct - np.arange(1, n_correct + 1), n_guesses, q)
        p_value += 2 * n_canaries * delta * float(np.max(np.cumsum(below) / np.arange(1, n_correct + 1)))
    return min(float(p_value), 1.0)


def one_run_epsilon(n_canaries, n_guesses, n_correct, *, delta, confidence=0.95):
    """ε lower bound of a one-run audit (Steinke, Nasr & Jagielski, 2023).

    The auditor puts each of ``n_canaries`` canaries into the training data
    by its own fair coin, trains **once**, then guesses "in" or "out" for
    ``n_guesses`` of them (abstaining on the rest) from anything the trained
    model reveals. If the training is (ε, δ)-DP, the number of right guesses
    is, with probability at least ``confidence``, below what randomised
    response at ε could reach; the largest ε that this count rules out is
    returned. Unlike a bound computed from many rows scored against one
    model as if they were independent trials, this one is valid: the coins
    are the auditor's, and the theorem holds for guesses that depend on each
    other.

    Parameters
    ----------
    n_canaries : int
        Canaries, each included with probability 1/2.
    n_guesses : int
        Guesses made (``<= n_canaries``).
    n_correct : int
        Right guesses (``<= n_guesses``).
    delta : float
        δ of the hypothesis, in [0, 1].
    confidence : float, default=0.95

    Returns
    -------
    epsilon_lower_bound : float
        0 when the guesses rule nothing out.

    Examples
    --------
    >>> from sk_privattn.audit import one_run_epsilon
    >>> one_run_epsilon(1000, 100, 50, delta=1e-5)    # a coin toss proves nothing
    0.0
    >>> round(one_run_epsilon(1000, 100, 100, delta=1e-5), 2)
    3.47
    """
    if not 0 <= n_correct <= n_guesses <= n_canaries:
        raise ValueError(
            f"Need 0 <= n_correct <= n_guesses <= n_canaries; got n_correct={n_correct}, "
            f"n_guesses={n_guesses}, n_canaries={n_canaries}."
        )
    alpha = 1.0 - confidence
    if n_guesses == 0 or _one_run_p_value(n_canaries, n_guesses, n_correct, 0.0, delta) >= alpha:
        return 0.0
    low, high = 0.0, 1.0
    while _one_run_p_value(n_canaries, n_guesses, n_correct, high, delta) < alpha:
        low, high = high, 2 * high
        if high > 1e3:
            return low
    while high - low > 1e-4:
        middle = (low + high) / 2
        if _one_run_p_value(n_canaries, n_guesses, n_correct, middle, delta) < alpha:
            low = middle
        else:
            high = middle
    return low


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


def _take(data, indices):
    return data.iloc[indices] if hasattr(data, "iloc") else np.asarray(data)[indices]


def _concat(parts):
    if hasattr(parts[0], "iloc"):
        import pandas as pd

        return pd.concat(parts, ignore_index=True)
    return np.concatenate([np.asarray(part) for part in parts])


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
        shadow = clone(estimator).fit(_take(X_ref, np.flatnonzero(half)), _take(y_ref, np.flatnonzero(half)))
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
    delta=1e-5,
    confidence=0.95,
    X_reference=None,
    y_reference=None,
    n_shadow=8,
    random_state=None,
):
    """Audit a fitted classifier by a membership-inference attack.

    Works for any scikit-learn classifier with ``predict_proba`` and
    ``classes_``: a DP estimator of this package, a ``LogisticRegression``,
    a random forest.

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
    delta : float, default=1e-5
        δ of the empirical ε bound; use the δ the model claims.
    confidence : float, default=0.95
        Confidence of the Clopper-Pearson bounds.
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
        The shadows' halves, and the split that picks the threshold.

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
    X_target = _concat([X_member, X_nonmember])
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
    bound, tpr_at, fpr_at = empirical_epsilon(
        scores[:n_members], scores[n_members:], delta=delta, confidence=confidence, random_state=rng
    )
    return MembershipInferenceResult(attack, auc, float(np.max(tpr - fpr)), bound, tpr_at, fpr_at, delta, confidence)
