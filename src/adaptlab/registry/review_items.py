"""How a review set's items are stored and shown: the prompt as JSON, the blind view of an item for one reviewer,
corrected answers as training rows, and the hash of the stored items the audit log records. Pure functions."""

import hashlib
import json
from collections.abc import Sequence

from adaptlab.data.formats import Prompt, Text
from adaptlab.registry.audit import canonical_json
from adaptlab.registry.blind import blind, candidate_shown_first, shown_answers
from adaptlab.registry.entities import Correction, PromptMessage, ReviewItemView
from adaptlab.registry.tables import ReviewItem, ReviewSet, ReviewVote

TEXT_ROLE = "text"  # a plain text the model continues, shown as one message


def prompt_json(prompt: Prompt) -> str:
    """`{"text": ...}` or `{"messages": [{"role", "content"}, ...]}`."""
    sample = prompt.sample
    if isinstance(sample, Text):
        return canonical_json({"text": sample.text})
    return canonical_json({"messages": sample.as_dicts()})


def prompt_messages(stored_json: str) -> list[PromptMessage]:
    stored = json.loads(stored_json)
    if "text" in stored:
        return [PromptMessage(role=TEXT_ROLE, content=stored["text"])]
    return [PromptMessage(**message) for message in stored["messages"]]


def item_view(review: ReviewSet, item: ReviewItem, reviewer: str, vote: ReviewVote | None) -> ReviewItemView:
    """The item as `reviewer` sees it: answers in their order for it, and their vote (if any) in their A/B terms."""
    candidate_first = candidate_shown_first(review.blind_salt, item.id, reviewer)
    answer_a, answer_b = shown_answers(item.candidate_answer, item.baseline_answer, candidate_first)
    return ReviewItemView(
        review_id=review.id,
        item=item.position,
        prompt=prompt_messages(item.prompt_json),
        answer_a=answer_a,
        answer_b=answer_b,
        my_verdict=blind(vote.verdict, candidate_first) if vote is not None else None,
    )


def correction_rows(corrections: Sequence[Correction]) -> list[dict]:
    """prompt/completion rows when every corrected prompt is a single message, else chat rows (one format per file;
    a plain-text prompt becomes the user's turn)."""
    if all(len(correction.prompt) == 1 for correction in corrections):
        return [{"prompt": correction.prompt[0].content, "completion": correction.corrected_answer} for correction in corrections]
    return [
        {"messages": [_chat_message(message) for message in correction.prompt] + [{"role": "assistant", "content": correction.corrected_answer}]}
        for correction in corrections
    ]


def _chat_message(message: PromptMessage) -> dict[str, str]:
    return {"role": "user" if message.role == TEXT_ROLE else message.role, "content": message.content}


def items_sha256(items: Sequence[ReviewItem]) -> str:
    """A hash of the stored prompts and answers, recorded when the set is created."""
    content = [[item.position, item.prompt_json, item.reference, item.candidate_answer, item.baseline_answer] for item in items]
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()
