"""The drift tests on embeddings (domain classifier ROC AUC with an interval) and prompt lengths (KS),
and the clusters of a live window, on synthetic data whose answer is known."""

import numpy as np
import pytest

from adaptlab.stats.drift import DRIFT_THRESHOLD_ROC_AUC, MIN_PROMPTS_PER_GROUP, domain_classifier_drift, length_drift
from adaptlab.stats.embedding_clusters import cluster_prompts


def unit_rows(rng: np.random.Generator, rows: int, centre: np.ndarray, spread: float) -> np.ndarray:
    vectors = centre + spread * rng.standard_normal((rows, len(centre)))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_same_distribution_is_not_drift(rng):
    centre = rng.standard_normal(32)
    result = domain_classifier_drift(unit_rows(rng, 200, centre, 1.0), unit_rows(rng, 150, centre, 1.0))
    assert result.roc_auc < DRIFT_THRESHOLD_ROC_AUC and not result.drifted
    assert result.interval.contains(0.5)
    assert (result.reference_prompts, result.live_prompts) == (200, 150)


def test_shifted_distribution_is_drift(rng):
    reference = unit_rows(rng, 200, rng.standard_normal(32), 1.0)
    live = unit_rows(rng, 150, rng.standard_normal(32), 1.0)
    result = domain_classifier_drift(reference, live)
    assert result.drifted and result.roc_auc > 0.9
    assert result.interval.low > DRIFT_THRESHOLD_ROC_AUC and result.interval.contains(result.roc_auc)


def test_too_few_prompts_are_refused(rng):
    centre = rng.standard_normal(8)
    with pytest.raises(ValueError, match=f"at least {MIN_PROMPTS_PER_GROUP} prompts"):
        domain_classifier_drift(unit_rows(rng, 50, centre, 1.0), unit_rows(rng, MIN_PROMPTS_PER_GROUP - 1, centre, 1.0))


def test_length_drift(rng):
    short = rng.integers(10, 60, 300)
    assert length_drift(short, rng.integers(10, 60, 200)).p_value > 0.01
    longer = length_drift(short, rng.integers(200, 400, 200))
    assert longer.p_value < 1e-6 and longer.ks_statistic == 1.0 and longer.live_median_chars > 200


def test_clusters_find_the_new_traffic(rng):
    """Live traffic: 60 prompts like the reference, 30 from elsewhere. Two clusters, the new one far from every reference prompt."""
    known, new = rng.standard_normal(32), rng.standard_normal(32)
    reference = unit_rows(rng, 100, known, 0.1)
    live = np.vstack([unit_rows(rng, 60, known, 0.1), unit_rows(rng, 30, new, 0.1)])
    clusters = cluster_prompts(live, reference, max_clusters=2)
    assert [cluster.size for cluster in clusters] == [60, 30]
    assert clusters[0].share == pytest.approx(60 / 90)
    assert clusters[0].nearest_reference_similarity > 0.95 > 0.5 > clusters[1].nearest_reference_similarity
    assert clusters[0].central_index < 60 <= clusters[1].central_index
    assert len(cluster_prompts(live[:15], reference, max_clusters=5)) == 1  # at most one cluster per 10 prompts
