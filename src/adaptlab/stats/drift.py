"""Has live traffic drifted from the data a model was trained on?

Embeddings, by the domain-classifier test (Evidently's default for embedding drift): a classifier learns
to tell reference embeddings from live ones; its out-of-fold ROC AUC is about 0.5 when it cannot (same
distribution) and nears 1 as the two separate; drift is declared above a threshold, 0.55 by default as in
Evidently. scikit-learn does the numerics (LogisticRegression, stratified K-fold `cross_val_predict`,
`roc_auc_score`). The interval is a bootstrap of the out-of-fold scores, each group resampled on its own,
with the AUC as the Mann-Whitney U statistic divided by the pairs (scipy; the same number as the AUC).

Prompt lengths, by the two-sample Kolmogorov-Smirnov test (scipy)."""

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import stats as scipy_stats

from adaptlab.stats.intervals import Interval, bootstrap

DRIFT_THRESHOLD_ROC_AUC = 0.55
CLASSIFIER_FOLDS = 5
INTERVAL_RESAMPLES = 1000
MIN_PROMPTS_PER_GROUP = CLASSIFIER_FOLDS * 2


class EmbeddingDrift(BaseModel):
    model_config = ConfigDict(frozen=True)

    method: str = Field("domain_classifier_roc_auc", description="the test: a classifier's out-of-fold ROC AUC, reference vs live")
    roc_auc: float = Field(description="0.5: live prompts look like the reference; 1: fully separable")
    interval: Interval = Field(description="bootstrap interval of the ROC AUC")
    threshold: float
    drifted: bool = Field(description="roc_auc above threshold")
    reference_prompts: int
    live_prompts: int


class LengthDrift(BaseModel):
    model_config = ConfigDict(frozen=True)

    ks_statistic: float = Field(description="largest gap between the two length distributions' CDFs (0..1)")
    p_value: float = Field(description="two-sample Kolmogorov-Smirnov p-value (small: the lengths differ)")
    reference_median_chars: float
    live_median_chars: float


def domain_classifier_drift(
    reference: np.ndarray, live: np.ndarray, *, threshold: float = DRIFT_THRESHOLD_ROC_AUC, seed: int = 0
) -> EmbeddingDrift:
    """Reference vs live embeddings (rows); each group needs at least MIN_PROMPTS_PER_GROUP rows."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    smaller = min(len(reference), len(live))
    if smaller < MIN_PROMPTS_PER_GROUP:
        raise ValueError(f"the domain-classifier test needs at least {MIN_PROMPTS_PER_GROUP} prompts per group, got {smaller}")
    features = np.vstack([reference, live])
    is_live = np.concatenate([np.zeros(len(reference), dtype=int), np.ones(len(live), dtype=int)])
    classifier = LogisticRegression(class_weight="balanced", max_iter=1000)
    folds = StratifiedKFold(n_splits=CLASSIFIER_FOLDS, shuffle=True, random_state=seed)
    live_probability = cross_val_predict(classifier, features, is_live, cv=folds, method="predict_proba")[:, 1]
    roc_auc = float(roc_auc_score(is_live, live_probability))
    resampled = bootstrap(
        [live_probability[is_live == 1], live_probability[is_live == 0]],
        _mann_whitney_auc,
        resamples=INTERVAL_RESAMPLES,
        seed=seed,
        paired=False,
    )
    return EmbeddingDrift(
        roc_auc=roc_auc,
        interval=resampled.interval,
        threshold=threshold,
        drifted=roc_auc > threshold,
        reference_prompts=len(reference),
        live_prompts=len(live),
    )


def length_drift(reference_lengths: np.ndarray, live_lengths: np.ndarray) -> LengthDrift:
    result = scipy_stats.ks_2samp(reference_lengths, live_lengths)
    return LengthDrift(
        ks_statistic=float(result.statistic),
        p_value=float(result.pvalue),
        reference_median_chars=float(np.median(reference_lengths)),
        live_median_chars=float(np.median(live_lengths)),
    )


def _mann_whitney_auc(live_scores: np.ndarray, reference_scores: np.ndarray, axis: int = -1) -> np.ndarray:
    """P(a live score > a reference score), ties counting half: the ROC AUC, vectorised over resamples."""
    pairs = live_scores.shape[axis] * reference_scores.shape[axis]
    return scipy_stats.mannwhitneyu(live_scores, reference_scores, axis=axis, method="asymptotic").statistic / pairs
