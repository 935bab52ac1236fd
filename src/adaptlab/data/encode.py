"""Tokenize samples into `Example`s whose labels say which tokens carry loss.

Text: the tokenizer's own encoding (its BOS if it adds one) plus EOS; every token is a target.

Conversations are rendered with the tokenizer's chat template. The replies are found by rendering prefixes: for
each assistant turn i, `render(messages[:i], add_generation_prompt=True)` ends where the reply starts and
`render(messages[:i+1])` ends after it. Inside that span the loss covers the assistant content and the
end-of-turn token that closes it (the first special token after the content, e.g. `<|im_end|>`); role headers
and the template's text after the end token (ChatML's newline) carry none. Each piece is tokenized on its own, so
a reply is tokenized exactly as the model would generate it after the rendered prompt. All assistant turns of a
multi-turn conversation are targets. With `train_on_prompt` every token is a target.

A tokenizer without a chat template gets this plain format (FALLBACK_CHAT_TEMPLATE), one block per message,
EOS closing each assistant turn and a blank line after every block:

    ### System:
    {system content}

    ### User:
    {user content}

    ### Assistant:
    {assistant content}{eos_token}
"""

from collections.abc import Callable
from dataclasses import dataclass

from jinja2 import TemplateError

from adaptlab.data.example import IGNORE_INDEX, Example
from adaptlab.data.formats import Conversation, RowRejected, Sample, Text
from adaptlab.data.options import DataOptions

FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '### ' + (message['role'] | capitalize) + ':\n' + message['content'] }}"
    "{% if message['role'] == 'assistant' and eos_token %}{{ eos_token }}{% endif %}"
    "{{ '\n\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '### Assistant:\n' }}{% endif %}"
)

Render = Callable[[list[dict[str, str]], bool], str]  # (messages, add_generation_prompt) -> text
Segment = tuple[str, bool]  # (text, carries loss)

_NOT_PREFIX_STABLE = (
    "the chat template renders earlier turns differently once later turns follow, so the replies cannot be "
    "located; split the conversation into one row per assistant turn"
)


@dataclass(frozen=True)
class SampleEncoder:
    """Everything tokenizing needs from the tokenizer, looked up once per dataset."""

    tokenizer: object
    render: Render
    end_of_turn_tokens: tuple[str, ...]
    options: DataOptions

    @classmethod
    def for_tokenizer(cls, tokenizer, options: DataOptions) -> "SampleEncoder":
        return cls(tokenizer, chat_renderer(tokenizer), special_token_texts(tokenizer), options)

    def encode(self, sample: Sample) -> Example:
        """The sample as an Example of at most max_seq_len tokens; raises RowRejected when it cannot be one."""
        if isinstance(sample, Text):
            input_ids, labels = self._encode_text(sample.text)
        else:
            segments = reply_segments(sample, self.render, self.end_of_turn_tokens)
            input_ids, labels = self._tokenize_segments(segments)
        return fit_to_length(input_ids, labels, self.options)

    def encode_prompt(self, sample: Sample) -> list[int]:
        """The tokens a model is given to answer a prompt (formats.to_prompt), encoded as training encodes what
        precedes a reply: a text with the tokenizer's own special tokens, a conversation rendered up to the reply."""
        if isinstance(sample, Text):
            return list(self.tokenizer(sample.text, add_special_tokens=True)["input_ids"])
        return list(self.tokenizer(self.render(sample.as_dicts(), True), add_special_tokens=False)["input_ids"])

    def _encode_text(self, text: str) -> tuple[list[int], list[int]]:
        input_ids = list(self.tokenizer(text, add_special_tokens=True)["input_ids"])
        eos_token_id = self.tokenizer.eos_token_id
        if eos_token_id is not None and (not input_ids or input_ids[-1] != eos_token_id):
            input_ids.append(eos_token_id)
        return input_ids, list(input_ids)

    def _tokenize_segments(self, segments: list[Segment]) -> tuple[list[int], list[int]]:
        pieces = self.tokenizer([text for text, _ in segments], add_special_tokens=False)["input_ids"]
        input_ids: list[int] = []
        labels: list[int] = []
        for piece, (_, carries_loss) in zip(pieces, segments, strict=True):
            input_ids.extend(piece)
            labels.extend(piece if carries_loss or self.options.train_on_prompt else [IGNORE_INDEX] * len(piece))
        return input_ids, labels


def chat_renderer(tokenizer) -> Render:
    """The tokenizer's chat template, or FALLBACK_CHAT_TEMPLATE when it has none."""
    template = None if tokenizer.chat_template else FALLBACK_CHAT_TEMPLATE

    def render(messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
        try:
            return tokenizer.apply_chat_template(
                messages, chat_template=template, tokenize=False, add_generation_prompt=add_generation_prompt
            )
        except (TemplateError, ValueError, TypeError) as exc:  # a template's own checks (raise_exception) included
            raise RowRejected(f"the chat template rejects this conversation: {exc}") from exc

    return render


def special_token_texts(tokenizer) -> tuple[str, ...]:
    """Texts of the tokenizer's special tokens: the candidates for the token that ends an assistant turn."""
    added = (token.content for token in tokenizer.added_tokens_decoder.values() if token.special)
    return tuple(sorted({*tokenizer.all_special_tokens, *added}))


def reply_segments(conversation: Conversation, render: Render, end_of_turn_tokens: tuple[str, ...]) -> list[Segment]:
    """The rendered conversation cut into consecutive (text, carries loss) pieces; joined they are the full render."""
    messages = conversation.as_dicts()
    segments: list[Segment] = []
    rendered = ""
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before_reply = render(messages[:index], True) if index else ""
        with_reply = render(messages[: index + 1], False)
        if not (before_reply.startswith(rendered) and with_reply.startswith(before_reply)):
            raise RowRejected(_NOT_PREFIX_STABLE)
        segments.append((before_reply[len(rendered) :], False))
        segments.extend(split_reply(with_reply[len(before_reply) :], message["content"], end_of_turn_tokens))
        rendered = with_reply
    full = rendered if messages[-1]["role"] == "assistant" else render(messages, False)
    if not full.startswith(rendered):
        raise RowRejected(_NOT_PREFIX_STABLE)
    segments.append((full[len(rendered) :], False))
    return merge_segments(segments)


def split_reply(reply: str, content: str, end_of_turn_tokens: tuple[str, ...]) -> list[Segment]:
    """A rendered assistant turn -> [template text before, content + end-of-turn token (the target), text after].

    When the template changed the content beyond stripping whitespace, the whole turn is the target."""
    start = reply.find(content)
    if start < 0:
        content = content.strip()
        start = reply.find(content) if content else -1
    if start < 0:
        return [(reply, True)]
    end = start + len(content)
    tail = reply[end:]
    found = [tail.find(token) + len(token) for token in end_of_turn_tokens if token and token in tail]
    target_end = end + (min(found) if found else len(tail))
    return [(reply[:start], False), (reply[start:target_end], True), (reply[target_end:], False)]


def merge_segments(segments: list[Segment]) -> list[Segment]:
    """Drop empty pieces and join neighbours with the same loss flag (fewer, longer pieces tokenize more naturally)."""
    merged: list[Segment] = []
    for text, carries_loss in segments:
        if not text:
            continue
        if merged and merged[-1][1] == carries_loss:
            merged[-1] = (merged[-1][0] + text, carries_loss)
        else:
            merged.append((text, carries_loss))
    return merged


def fit_to_length(input_ids: list[int], labels: list[int], options: DataOptions) -> Example:
    """Apply the truncation policy; an example must keep at least one target token."""
    length = len(input_ids)
    truncated = length > options.max_seq_len
    if truncated and options.truncation == "reject":
        raise RowRejected(
            f"too long: {length} tokens > max_seq_len {options.max_seq_len} (truncation=reject); "
            "shorten the row, raise max_seq_len or use truncation=truncate"
        )
    example = Example(input_ids[: options.max_seq_len], labels[: options.max_seq_len])
    if example.target_tokens == 0:
        if truncated:
            raise RowRejected(
                f"too long: no response token is left after truncating {length} tokens to max_seq_len "
                f"{options.max_seq_len}; shorten the prompt or raise max_seq_len"
            )
        raise RowRejected("no token carries loss after tokenization")
    return example
