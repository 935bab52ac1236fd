"""What the gateway needs to know of the base model without loading its weights (an engine may hold those
in another process or machine): its context length and the token ids that end an answer."""

from dataclasses import dataclass
from pathlib import Path

from adaptlab.serve.config import ServeConfig


@dataclass(frozen=True)
class BaseLimits:
    max_context_tokens: int
    stop_token_ids: frozenset[int]


def read_base_limits(model_dir: Path, tokenizer, config: ServeConfig) -> BaseLimits:
    """From the folder's config and generation config; a model with no stated context takes the server's own limits."""
    from transformers import AutoConfig, GenerationConfig

    model_config = AutoConfig.from_pretrained(model_dir)
    try:
        generation = GenerationConfig.from_pretrained(model_dir)
    except OSError:  # no generation_config.json: transformers derives it from the model config, as here
        generation = GenerationConfig.from_model_config(model_config)
    stop_ids = {tokenizer.eos_token_id}
    configured = generation.eos_token_id
    stop_ids.update(configured if isinstance(configured, list) else [configured])
    context = int(getattr(model_config, "max_position_embeddings", 0) or config.max_prompt_tokens + config.max_tokens_limit)
    return BaseLimits(max_context_tokens=context, stop_token_ids=frozenset(i for i in stop_ids if i is not None))
