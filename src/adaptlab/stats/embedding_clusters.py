"""Where live prompts sit: k-means clusters of their embeddings (scikit-learn), each with its size, its
most central member, and how close it comes to the reference (cosine similarity of the cluster's centre
to its nearest reference embedding): a large cluster far from every reference prompt is new traffic."""

import numpy as np
from pydantic import BaseModel, Field

PROMPTS_PER_CLUSTER = 10  # fewer clusters than this many prompts each would split noise


class PromptCluster(BaseModel):
    size: int
    share: float = Field(description="fraction of the live window in this cluster")
    central_index: int = Field(description="row of the live window closest to the cluster's centre")
    nearest_reference_similarity: float = Field(description="cosine similarity of the centre to its nearest reference prompt (1: same)")


def cluster_prompts(live: np.ndarray, reference: np.ndarray, max_clusters: int, seed: int = 0) -> list[PromptCluster]:
    """Clusters of unit-vector rows `live`, largest first; at most one per PROMPTS_PER_CLUSTER prompts."""
    from sklearn.cluster import KMeans

    if len(live) == 0:
        return []
    count = max(1, min(max_clusters, len(live) // PROMPTS_PER_CLUSTER))
    kmeans = KMeans(n_clusters=count, n_init=3, random_state=seed).fit(live)
    centres = kmeans.cluster_centers_ / np.linalg.norm(kmeans.cluster_centers_, axis=1, keepdims=True).clip(min=1e-12)
    nearest_reference = (centres @ reference.T).max(axis=1) if len(reference) else np.full(count, np.nan)
    clusters = []
    for label in range(count):
        members = np.flatnonzero(kmeans.labels_ == label)
        central = members[np.argmax(live[members] @ centres[label])]
        clusters.append(
            PromptCluster(
                size=len(members),
                share=len(members) / len(live),
                central_index=int(central),
                nearest_reference_similarity=float(nearest_reference[label]),
            )
        )
    return sorted(clusters, key=lambda cluster: -cluster.size)
