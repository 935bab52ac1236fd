"""Record formats: detect which one a dataset uses and turn each row into a `Text` or a `Conversation`.

text `{"text"}` -> Text. prompt/completion `{"prompt", "completion"}` and Alpaca `{"instruction", "input"?,
"output"}` -> a user -> assistant Conversation (Alpaca's user turn is the instruction, then a blank line and the
input when there is one). chat `{"messages": [{"role", "content"}, ...]}` -> Conversation. Other fields are ignored.

A prompt file (rows a model is asked to answer, e.g. for a human review) uses the same formats with the answer
optional: `to_prompt` keeps what the model is asked and the row's own answer, if any, as a reference.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from adaptlab.data.readers import json_type_name

CHAT_ROLES = ("system", "user", "assistant")
EXPECTED_FIELDS = {
    "text": "text",
    "prompt_completion": "prompt, completion",
    "alpaca": "instruction, output (input optional)",
    "chat": "messages",
}
FORMATS_HELP = "{text} | {prompt, completion} | {instruction, input?, output} | {messages}"


class RowRejected(ValueError):
    """A row fails validation; the message is the reason a user reads after `file:line:`."""


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Conversation:
    messages: tuple[tuple[str, str], ...]  # (role, content) pairs

    def as_dicts(self) -> list[dict[str, str]]:
        return [{"role": role, "content": content} for role, content in self.messages]


Sample = Text | Conversation
SAMPLE_FIELDS = {"text": ("text",), "prompt_completion": ("prompt", "completion"), "alpaca": ("instruction", "output"), "chat": ("messages",)}
PROMPT_FIELDS = {"text": ("text",), "prompt_completion": ("prompt",), "alpaca": ("instruction",), "chat": ("messages",)}
"""The fields a row of each format must have: as a training sample, and as a prompt (the answer optional)."""


@dataclass(frozen=True)
class Prompt:
    """What a model is asked: a text to continue, or a conversation ending with a user turn; and the row's answer."""

    sample: Sample
    reference: str | None


def rename_columns(record: dict, columns: dict[str, str]) -> dict:
    """Source columns renamed to field names (`columns` maps field -> column); other keys kept."""
    renamed = dict(record)
    for field, column in columns.items():
        if column in renamed:
            renamed[field] = renamed.pop(column)
    return renamed


def row_format(record: dict) -> str | None:
    """The format whose fields this row has, or None; a row with several formats' fields counts as the richest."""
    if "messages" in record:
        return "chat"
    if "instruction" in record or "output" in record:
        return "alpaca"
    if "prompt" in record or "completion" in record:
        return "prompt_completion"
    if "text" in record:
        return "text"
    return None


def detect_format(records: Iterable[dict]) -> str | None:
    """The format most rows match (ties: the one seen first), so odd rows become bad rows, not the rule."""
    counts = Counter(fmt for fmt in map(row_format, records) if fmt is not None)
    return counts.most_common(1)[0][0] if counts else None


def to_sample(record: dict, fmt: str, columns: dict[str, str]) -> Sample:
    """Validate one (renamed) row against `fmt`; raises RowRejected with the reason."""
    _require_format_fields(record, fmt, columns, SAMPLE_FIELDS[fmt])
    if fmt == "text":
        return Text(_response(record, "text", columns))
    if fmt == "prompt_completion":
        prompt = _string(record, "prompt", columns)
        return Conversation((("user", prompt), ("assistant", _response(record, "completion", columns))))
    if fmt == "alpaca":
        return Conversation((("user", _alpaca_prompt(record, columns)), ("assistant", _response(record, "output", columns))))
    return Conversation(_chat_messages(record["messages"]))


def to_prompt(record: dict, fmt: str, columns: dict[str, str]) -> Prompt:
    """Validate one (renamed) row of a prompt file against `fmt`: its answer field may be absent. A conversation
    that ends with an assistant turn is asked what precedes it, that turn being the reference. Raises RowRejected."""
    _require_format_fields(record, fmt, columns, PROMPT_FIELDS[fmt])
    answer_field = {"prompt_completion": "completion", "alpaca": "output"}.get(fmt)
    reference = _string(record, answer_field, columns) if answer_field in record else None
    if fmt == "text":
        return Prompt(Text(_response(record, "text", columns)), None)
    if fmt == "prompt_completion":
        return Prompt(Conversation((("user", _asked("prompt", _string(record, "prompt", columns))),)), reference)
    if fmt == "alpaca":
        return Prompt(Conversation((("user", _asked("instruction", _alpaca_prompt(record, columns))),)), reference)
    messages = _chat_messages(record["messages"], need_reply=False)
    if messages[-1][0] == "assistant":
        messages, reference = messages[:-1], messages[-1][1]
    if not messages or messages[-1][0] != "user":
        raise RowRejected("a prompt conversation must end with a user message (optionally followed by the expected assistant reply)")
    return Prompt(Conversation(messages), reference)


def _alpaca_prompt(record: dict, columns: dict[str, str]) -> str:
    """Alpaca's user turn: the instruction, then a blank line and the input when there is one."""
    instruction = _string(record, "instruction", columns)
    extra_input = record.get("input")
    if extra_input is not None and not isinstance(extra_input, str):
        raise RowRejected(f"field 'input' must be a string, got {json_type_name(extra_input)}")
    require_unicode(extra_input or "", "field 'input'")
    return f"{instruction}\n\n{extra_input}" if extra_input and extra_input.strip() else instruction


def _asked(field: str, prompt: str) -> str:
    if not prompt.strip():
        raise RowRejected(f"empty prompt: field {field!r} is empty")
    return prompt


def _require_format_fields(record: dict, fmt: str, columns: dict[str, str], required: tuple[str, ...]) -> None:
    missing = [field for field in required if field not in record]
    if not missing:
        return
    found = ", ".join(sorted(record)) or "none"
    other = row_format(record)
    if other not in (None, fmt) and len(missing) == len(required):
        raise RowRejected(
            f"fields ({found}) look like a {other} row, but this dataset is {fmt}: expected {EXPECTED_FIELDS[fmt]}"
        )
    field = missing[0]
    mapped = f" (mapped from column {columns[field]!r})" if field in columns else ""
    raise RowRejected(f"missing field {field!r}{mapped}; expected {EXPECTED_FIELDS[fmt]}, found: {found}")


def _string(record: dict, field: str, columns: dict[str, str]) -> str:
    value = record[field]
    if not isinstance(value, str):
        mapped = f" (column {columns[field]!r})" if field in columns else ""
        raise RowRejected(f"field {field!r}{mapped} must be a string, got {json_type_name(value)}")
    return require_unicode(value, f"field {field!r}")


def require_unicode(value: str, what: str) -> str:
    """A JSON escape such as `\\ud800` decodes to half a character, which no tokenizer accepts."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            code = f"\\u{ord(value[exc.start]):04x}"
            pair = "(half of a \\uXXXX\\uXXXX pair)"
            raise RowRejected(f"{what} is not valid Unicode: a lone surrogate {code} {pair}") from None
    return value


def _response(record: dict, field: str, columns: dict[str, str]) -> str:
    value = _string(record, field, columns)
    if not value.strip():
        raise RowRejected(f"empty response: field {field!r} is empty")
    return value


def _chat_messages(messages: object, need_reply: bool = True) -> tuple[tuple[str, str], ...]:
    if not isinstance(messages, list):
        raise RowRejected(f"field 'messages' must be a list of {{role, content}} objects, got {json_type_name(messages)}")
    if not messages:
        raise RowRejected("field 'messages' is an empty list")
    pairs = [_chat_message(number, message) for number, message in enumerate(messages, start=1)]
    if need_reply and not any(role == "assistant" for role, _ in pairs):
        raise RowRejected("empty response: the conversation has no assistant message")
    return tuple(pairs)


def _chat_message(number: int, message: object) -> tuple[str, str]:
    where = f"message {number}"
    if not isinstance(message, dict):
        raise RowRejected(f"{where}: expected a {{role, content}} object, got {json_type_name(message)}")
    for key in ("role", "content"):
        if key not in message:
            raise RowRejected(f"{where}: missing {key!r}; each message needs role and content")
    role, content = message["role"], message["content"]
    if role not in CHAT_ROLES:
        shown = repr(role) if isinstance(role, str) else json_type_name(role)
        raise RowRejected(f"{where}: unknown role {shown}; expected one of {', '.join(CHAT_ROLES)}")
    if not isinstance(content, str):
        raise RowRejected(f"{where}: content must be a string, got {json_type_name(content)}")
    require_unicode(content, f"{where}: content")
    if role == "assistant" and not content.strip():
        raise RowRejected(f"{where}: empty response: the assistant content is empty")
    return role, content
