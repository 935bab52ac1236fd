"""What `GET /monitor/drift` answers and `adaptlab monitor drift` shows: a served version's live prompt window
tested against its registered reference (stats/drift.py), and the window's clusters (stats/embedding_clusters.py)."""

from datetime import datetime, timezone
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from adaptlab.data.prompt_profile import PromptProfile
from adaptlab.stats.drift import EmbeddingDrift, LengthDrift, domain_classifier_drift, length_drift
from adaptlab.stats.embedding_clusters import cluster_prompts

MAX_CLUSTERS = 5

DriftStatus = Literal["no_reference", "encoder_unavailable", "collecting", "measured"]


class ReferenceSummary(BaseModel):
    prompts_seen: int = Field(description="training prompts the profile was sampled from")
    embedded_prompts: int
    length_sample_prompts: int
    encoder: str


class ClusterView(BaseModel):
    size: int
    share: float = Field(description="fraction of the window")
    nearest_reference_similarity: float = Field(description="cosine similarity of the cluster's centre to its nearest training prompt")
    central_sample_id: int = Field(description="id of the sampled prompt nearest the centre")
    central_prompt_length_chars: int
    central_prompt: str | None = Field(description="its text, only when the server keeps prompt text (--keep-prompt-text)")


class DriftFigures(BaseModel):
    embedding: EmbeddingDrift
    length: LengthDrift
    computed_at: str = Field(description="UTC time of the test")


class DriftReport(BaseModel):
    model: str = Field(description="the model as asked (an alias resolves to the version it points at now)")
    version: str
    status: DriftStatus
    detail: str
    sample_rate: float
    window_prompts: int
    window_capacity: int
    min_prompts: int = Field(description="prompts the window needs before drift is tested")
    reference: ReferenceSummary | None
    figures: DriftFigures | None
    clusters: list[ClusterView]
    prompt_text_kept: bool


def reference_summary(profile: PromptProfile) -> ReferenceSummary:
    return ReferenceSummary(
        prompts_seen=profile.prompts_seen,
        embedded_prompts=profile.embedded_prompts,
        length_sample_prompts=len(profile.prompt_lengths_chars),
        encoder=profile.encoder,
    )


def measure(reference: PromptProfile, live_embeddings: np.ndarray, live_lengths: np.ndarray, threshold: float) -> DriftFigures:
    return DriftFigures(
        embedding=domain_classifier_drift(reference.embeddings, live_embeddings, threshold=threshold),
        length=length_drift(reference.prompt_lengths_chars, live_lengths),
        computed_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def cluster_views(
    reference: PromptProfile, live_embeddings: np.ndarray, sample_ids: list[int], lengths: list[int], texts: list[str | None]
) -> list[ClusterView]:
    return [
        ClusterView(
            size=cluster.size,
            share=cluster.share,
            nearest_reference_similarity=cluster.nearest_reference_similarity,
            central_sample_id=sample_ids[cluster.central_index],
            central_prompt_length_chars=lengths[cluster.central_index],
            central_prompt=texts[cluster.central_index],
        )
        for cluster in cluster_prompts(live_embeddings, reference.embeddings, MAX_CLUSTERS)
    ]
