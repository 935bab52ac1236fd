"""Greedy generation for task metrics: prompts and reference answers recovered from tokenized examples."""

from collections.abc import Callable
from dataclasses import dataclass

import torch

from adaptlab.data import Example
from adaptlab.data.example import IGNORE_INDEX
from adaptlab.train.loss import adds_virtual_tokens


@dataclass(frozen=True)
class TaskItem:
    prompt_ids: list[int]
    reference: str


def task_items(examples: list[Example], tokenizer) -> list[TaskItem]:
    """Prompt = the tokens before the first target token; reference = the first target span, decoded."""
    items = []
    for example in examples:
        first = next((i for i, label in enumerate(example.labels) if label != IGNORE_INDEX), None)
        if not first:
            continue
        end = next((i for i in range(first, len(example.labels)) if example.labels[i] == IGNORE_INDEX), len(example.labels))
        reference = tokenizer.decode(example.input_ids[first:end], skip_special_tokens=True).strip()
        items.append(TaskItem(prompt_ids=example.input_ids[:first], reference=reference))
    return items


@torch.no_grad()
def greedy_answers(
    model, tokenizer, prompts: list[list[int]], max_new_tokens: int, batch_size: int = 16, on_batch: Callable[[int], None] | None = None
) -> list[str]:
    """Greedy decoding, left-padded batches, a fixed token limit; special tokens stripped from the answers.
    `on_batch(answered)` is called after each batch (for progress)."""
    model.eval()
    if adds_virtual_tokens(model):
        stop_ids = {tokenizer.eos_token_id}
        return [tokenizer.decode(uncached_greedy(model, prompt, max_new_tokens, stop_ids), skip_special_tokens=True).strip()
                for prompt in prompts]
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id
    answers: list[str] = []
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start : start + batch_size]
        width = max(len(p) for p in batch)
        input_ids = torch.tensor([[pad_id] * (width - len(p)) + p for p in batch], device=device)
        attention_mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in batch], device=device)
        output = model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=pad_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        for row in output[:, width:]:
            answers.append(tokenizer.decode(row, skip_special_tokens=True).strip())
        if on_batch is not None:
            on_batch(len(batch))
    return answers


@torch.no_grad()
def uncached_greedy(model, prompt_ids: list[int], max_new_tokens: int, stop_ids: set[int]) -> list[int]:
    """Greedy new tokens (stop token excluded), one whole forward pass per step, one prompt at a time.

    For prompt/prefix tuning: with PEFT 0.21.2 on transformers 5.24, `generate` loses the virtual tokens (prefix
    tuning from the first step, prompt tuning after it: its tokens equal the base's, or drift from what the
    forward pass predicts), while the forward pass applies them. Without a cache each step re-reads the sequence.
    """
    device = next(model.parameters()).device
    ids = torch.tensor([prompt_ids], device=device)
    new_ids: list[int] = []
    for _ in range(max_new_tokens):
        token = int(model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0, -1].argmax())
        if token in stop_ids:
            break
        new_ids.append(token)
        ids = torch.cat([ids, ids.new_tensor([[token]])], dim=1)
    return new_ids

