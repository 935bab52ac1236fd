"""Base models: resolve a `--model` spec to a local Hugging Face folder, hash it, load it."""

from adaptlab.models.hashing import weights_sha256
from adaptlab.models.loading import load_causal_lm, load_model_for_task, load_tokenizer, quiet_libraries
from adaptlab.models.resolve import ResolvedModel, resolve_model

quiet_libraries()

__all__ = ["ResolvedModel", "resolve_model", "load_causal_lm", "load_model_for_task", "load_tokenizer", "weights_sha256"]
