"""The prompt of a sample: what a user sends a served model, so that training data and live traffic
can be compared (drift monitoring). A text sample's prompt is its text; a conversation's is its
system and user turns, one per line (the assistant's turns are what the model is trained to answer)."""

import random
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from adaptlab.data.formats import Conversation, RowRejected, Sample, Text, rename_columns, to_sample
from adaptlab.data.options import MAX_LINE_BYTES
from adaptlab.data.readers import read_source_file

PROMPT_ROLES = ("system", "user")


def prompt_text(sample: Sample) -> str:
    if isinstance(sample, Text):
        return sample.text
    return "\n".join(content for role, content in sample.messages if role in PROMPT_ROLES)


def chat_prompt_text(messages: Iterable[tuple[str, str]]) -> str:
    """The prompt of a chat request's (role, content) messages, as training conversations are read."""
    return prompt_text(Conversation(tuple(messages)))


def file_prompts(
    files: Sequence[Path], fmt: str, columns: dict[str, str] | None = None, max_line_bytes: int = MAX_LINE_BYTES
) -> Iterator[str]:
    """Every readable row's non-empty prompt, file by file; rows that fail validation are skipped (training skipped them too)."""
    for path in files:
        for row in read_source_file(path, max_line_bytes).rows:
            if row.record is None:
                continue
            try:
                text = prompt_text(to_sample(rename_columns(row.record, columns or {}), fmt, columns or {}))
            except RowRejected:
                continue
            if text.strip():
                yield text


def reservoir_sample(items: Iterable[str], size: int, seed: int = 0) -> tuple[list[str], int]:
    """(a uniform sample of at most `size` items, how many items there were), holding only the sample (Algorithm R)."""
    rng = random.Random(seed)
    sample: list[str] = []
    seen = 0
    for seen, item in enumerate(items, start=1):
        if len(sample) < size:
            sample.append(item)
        elif (slot := rng.randrange(seen)) < size:
            sample[slot] = item
    return sample, seen
