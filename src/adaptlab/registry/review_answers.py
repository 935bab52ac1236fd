"""Both models' answers to a review set's prompts: greedy, in batches, each model loaded once from its verified
checkout (an adapter on the base it records, 4-bit where it trained on one; or a whole fine-tuned model)."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from adaptlab.data.encode import SampleEncoder
from adaptlab.data.formats import Prompt
from adaptlab.data.options import DataOptions
from adaptlab.registry.entities import VersionRecord

OnBatch = Callable[[int], None]
"""Called with the number of prompts answered by each batch, for progress (twice as many calls as batches: two models)."""


@dataclass(frozen=True)
class AnsweredPrompt:
    prompt: Prompt
    candidate_answer: str
    baseline_answer: str


def pair_answers(prompts: Sequence[Prompt], candidate: list[str], baseline: list[str]) -> list[AnsweredPrompt]:
    return [AnsweredPrompt(prompt, mine, theirs) for prompt, mine, theirs in zip(prompts, candidate, baseline, strict=True)]


def version_answers(
    candidate: VersionRecord, baseline: VersionRecord, prompts: Sequence[Prompt], max_new_tokens: int, batch_size: int, on_batch: OnBatch | None = None
) -> list[AnsweredPrompt]:
    """Each version (checked out: `local_path` set) answers every prompt, one model in memory at a time."""
    answers = [answers_of(record, prompts, max_new_tokens, batch_size, on_batch) for record in (candidate, baseline)]
    return pair_answers(prompts, *answers)


def answers_of(record: VersionRecord, prompts: Sequence[Prompt], max_new_tokens: int, batch_size: int, on_batch: OnBatch | None) -> list[str]:
    model, tokenizer = load_version(record)
    return model_answers(model, tokenizer, prompts, max_new_tokens, batch_size, on_batch)


def model_answers(model, tokenizer, prompts: Sequence[Prompt], max_new_tokens: int, batch_size: int, on_batch: OnBatch | None) -> list[str]:
    """Greedy answers, each prompt encoded as training encodes what precedes a reply (SampleEncoder.encode_prompt)."""
    from adaptlab.eval.generation import greedy_answers

    encoder = SampleEncoder.for_tokenizer(tokenizer, DataOptions())
    prompt_ids = [encoder.encode_prompt(prompt.sample) for prompt in prompts]
    return greedy_answers(model, tokenizer, prompt_ids, max_new_tokens, batch_size, on_batch)


def load_version(record: VersionRecord):
    """(model, tokenizer) of a checked-out version."""
    from adaptlab.adapters.files import open_adapter_folder
    from adaptlab.adapters.loading import load_base_with_adapters
    from adaptlab.models import load_causal_lm, load_tokenizer

    if record.local_path is None:
        raise ValueError(f"{record.ref} is not checked out (Registry.checkout sets local_path)")
    if record.is_adapter:
        folder = open_adapter_folder(record.local_path)
        quantized = folder.metadata is not None and folder.metadata.quantized_base
        return load_base_with_adapters(None, [folder.path], load_in_4bit=quantized)
    model = load_causal_lm(record.local_path)
    model.eval()
    return model, load_tokenizer(record.local_path)
