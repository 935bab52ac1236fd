"""Preference data: `{"prompt", "chosen", "rejected"}` rows, or the chat form `{"messages", "chosen", "rejected"}`
whose messages end with a user turn -> `PreferencePair`s: the prompt followed by each response, tokenized through
the chat template with only the response tokens carrying labels (the log-probabilities DPO compares). Each pair is
numbered (training pairs first, then held-out ones), so log-probabilities computed once can be looked up by it."""

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from adaptlab.data.bad_rows import BadRow, too_many_bad_rows
from adaptlab.data.encode import SampleEncoder
from adaptlab.data.example import Example
from adaptlab.data.formats import (
    Conversation,
    RowRejected,
    rename_columns,
    require_unicode,
    to_prompt,
)
from adaptlab.data.options import DataOptions
from adaptlab.data.prepare import PreparedData, read_sources
from adaptlab.data.readers import SourceFile, json_type_name
from adaptlab.data.split import held_out_indices
from adaptlab.errors import DataError
from adaptlab.schemas.run_record import DataFileInfo, DataInfo


@dataclass(frozen=True)
class PreferencePair:
    chosen: Example
    rejected: Example
    index: int = 0  # its number in the prepared data: training pairs 0..n-1, then the held-out ones

    def __len__(self) -> int:
        return len(self.chosen) + len(self.rejected)

    @property
    def target_tokens(self) -> int:
        """One comparison carries the loss: the loop averages the summed loss over pairs."""
        return 1


def prepare_preference_data(train_files: Sequence[Path], eval_files: Sequence[Path], tokenizer, options: DataOptions) -> PreparedData:
    encoder = SampleEncoder.for_tokenizer(tokenizer, options.model_copy(update={"train_on_prompt": False}))
    sources = read_sources(train_files, eval_files, options)
    checked = [(source, role, *_pairs(source, encoder, options.columns)) for source, role in sources]
    bad_rows = [bad for *_, bads in checked for bad in bads]
    if len(bad_rows) > options.max_bad_rows:
        raise too_many_bad_rows(bad_rows, options.max_bad_rows)
    train_items = [item for _, role, items, _ in checked if role == "train" for item in items]
    if not train_items:
        raise DataError(f"no usable preference rows in {', '.join(map(str, train_files))}")
    held = held_out_indices([conversation for conversation, _ in train_items], options.eval_fraction, options.seed)
    train = [pair for index, (_, pair) in enumerate(train_items) if index not in held]
    held_out = [pair for _, role, items, _ in checked if role == "eval" for _, pair in items]
    held_out += [pair for index, (_, pair) in enumerate(train_items) if index in held]
    train, held_out = numbered(train, 0), numbered(held_out, len(train))
    digest = hashlib.sha256()
    for split, pairs in (("train", train), ("eval", held_out)):
        for pair in pairs:
            digest.update(f"{split}:{pair.chosen.input_ids}:{pair.chosen.labels}:{pair.rejected.input_ids}:{pair.rejected.labels}\n".encode())
    info = DataInfo(
        format="preference",
        files=[DataFileInfo(path=str(s.path), sha256=s.sha256, rows=len(s.rows), bad_rows=len(b), role=r) for s, r, _, b in checked],
        train_examples=len(train),
        eval_examples=len(held_out),
        train_target_tokens=sum(pair.chosen.target_tokens + pair.rejected.target_tokens for pair in train),
        tokenized_sha256=digest.hexdigest(),
    )
    return PreparedData(train=train, eval=held_out, info=info, bad_rows=bad_rows)


def numbered(pairs: list[PreferencePair], start: int) -> list[PreferencePair]:
    return [dataclasses.replace(pair, index=start + offset) for offset, pair in enumerate(pairs)]


def _pairs(source: SourceFile, encoder: SampleEncoder, columns: dict[str, str]) -> tuple[list, list[BadRow]]:
    """(conversation with the chosen reply, pair) per usable row, and the bad rows."""
    items, bad_rows = [], []
    for row in source.rows:
        try:
            if row.record is None:
                raise RowRejected(row.problem)
            record = rename_columns(row.record, columns)
            prompt = _prompt(record, columns)
            chosen, rejected = (_response(record, field) for field in ("chosen", "rejected"))
            with_chosen = Conversation((*prompt.messages, ("assistant", chosen)))
            pair = PreferencePair(encoder.encode(with_chosen), encoder.encode(Conversation((*prompt.messages, ("assistant", rejected)))))
            items.append((with_chosen, pair))
        except RowRejected as exc:
            bad_rows.append(BadRow(str(source.path), row.line, str(exc), source.unit))
    return items, bad_rows


def _prompt(record: dict, columns: dict[str, str]) -> Conversation:
    if "messages" not in record and "prompt" not in record:
        raise RowRejected(f"missing field 'prompt' (or 'messages'); expected prompt, chosen, rejected, found: {', '.join(sorted(record)) or 'none'}")
    prompt = to_prompt(record, "chat" if "messages" in record else "prompt_completion", columns)
    if prompt.reference is not None and "messages" in record:
        raise RowRejected("the messages of a preference row must end with a user turn; the replies are 'chosen' and 'rejected'")
    return prompt.sample


def _response(record: dict, field: str) -> str:
    if field not in record:
        raise RowRejected(f"missing field {field!r}; expected prompt (or messages), chosen, rejected")
    value = record[field]
    if not isinstance(value, str):
        raise RowRejected(f"field {field!r} must be a string, got {json_type_name(value)}")
    if not value.strip():
        raise RowRejected(f"empty response: field {field!r} is empty")
    return require_unicode(value, f"field {field!r}")
