"""A reference profile of a model's training prompts, stored with its registry version so live traffic
can be tested against it: the lengths (characters) of a bounded uniform sample of the prompts, and the
sentence embeddings of a smaller sample of them. No prompt text is kept.

Saved as one safetensors file (two tensors plus string metadata), never pickle."""

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from adaptlab.data.prompts import reservoir_sample
from adaptlab.errors import ArtifactError

if TYPE_CHECKING:  # the encoder module's package loads transformers; this module is read by lightweight code too
    from adaptlab.models.encoder import SentenceEncoder

DRIFT_PROFILE_FILE = "adaptlab_drift_profile.safetensors"
DEFAULT_PROFILE_PROMPTS = 256  # prompts embedded into a registered version's profile unless told otherwise
PROFILE_FORMAT = "adaptlab-prompt-profile/1"
UNKNOWN_ENCODER = "unknown"
LENGTH_SAMPLE_PROMPTS = 4096  # enough for a two-sample length test; far fewer than a large dataset's rows


@dataclass(frozen=True)
class PromptProfile:
    embeddings: np.ndarray  # float32 (prompts, dimensions), unit vectors
    prompt_lengths_chars: np.ndarray  # int64, a larger sample than the embeddings'
    prompts_seen: int
    encoder: str

    @property
    def embedded_prompts(self) -> int:
        return int(self.embeddings.shape[0])


def build_prompt_profile(prompts, encoder: "SentenceEncoder", embed_prompts: int, seed: int = 0) -> PromptProfile:
    """Profile an iterable of prompt texts: a uniform sample for lengths, and its first `embed_prompts` (itself uniform) embedded."""
    sample, seen = reservoir_sample(prompts, max(LENGTH_SAMPLE_PROMPTS, embed_prompts), seed)
    return PromptProfile(
        embeddings=encoder.embed(sample[:embed_prompts]),
        prompt_lengths_chars=np.array([len(text) for text in sample], dtype=np.int64),
        prompts_seen=seen,
        encoder=encoder.name,
    )


def write_prompt_profile(profile: PromptProfile, path: Path) -> None:
    from safetensors.numpy import save_file

    tensors = {"embeddings": np.ascontiguousarray(profile.embeddings, dtype=np.float32), "prompt_lengths_chars": profile.prompt_lengths_chars}
    metadata = {"format": PROFILE_FORMAT, "encoder": profile.encoder, "prompts_seen": str(profile.prompts_seen)}
    save_file(tensors, str(path), metadata=metadata)


def read_prompt_profile(path: Path) -> PromptProfile:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="np") as reader:
            metadata = reader.metadata() or {}
            if metadata.get("format") != PROFILE_FORMAT:
                raise ArtifactError(f"{path}: not a prompt profile (format {metadata.get('format')!r}, expected {PROFILE_FORMAT!r})")
            embeddings = reader.get_tensor("embeddings")
            lengths = reader.get_tensor("prompt_lengths_chars")
    except (SafetensorError, OSError) as exc:
        raise ArtifactError(f"{path}: unreadable prompt profile ({exc})") from exc
    if embeddings.ndim != 2 or lengths.ndim != 1:
        raise ArtifactError(f"{path}: prompt profile tensors have shapes {embeddings.shape} and {lengths.shape}; expected 2-D and 1-D")
    return PromptProfile(embeddings, lengths, int(metadata.get("prompts_seen", len(lengths))), metadata.get("encoder", UNKNOWN_ENCODER))
