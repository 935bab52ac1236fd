"""Loss masks: decoding the target tokens gives exactly the responses plus the end-of-turn token."""

import pytest

from adaptlab.data import IGNORE_INDEX
from adaptlab.data.encode import FALLBACK_CHAT_TEMPLATE
from adaptlab.errors import DataError

from .support import prepare_rows, target_spans

SYSTEM = {"role": "system", "content": "You answer briefly."}
MULTI_TURN = [
    SYSTEM,
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "4"},
    {"role": "user", "content": "And 3+3?"},
    {"role": "assistant", "content": "6, as you know.\nSure."},
]


def rendered(tokenizer, messages) -> str:
    template = tokenizer.chat_template or FALLBACK_CHAT_TEMPLATE
    return tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False)


def single_turn(prompt: str, answer: str) -> list[dict]:
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]


@pytest.fixture(params=["tiny_tokenizer", "plain_tokenizer", "smollm2_tokenizer"])
def tokenizer(request):
    """builtin:tiny's ChatML template, the plain fallback format, and SmolLM2's real template."""
    if request.param == "smollm2_tokenizer":
        request.applymarker(pytest.mark.integration)
    return request.getfixturevalue(request.param)


@pytest.mark.parametrize(
    ("row", "messages"),
    [
        ({"prompt": "Capital of France?", "completion": " Paris "}, single_turn("Capital of France?", " Paris ")),
        ({"instruction": "Translate.", "input": "chat", "output": "cat"}, single_turn("Translate.\n\nchat", "cat")),
        ({"instruction": "Say hi.", "output": "hi"}, single_turn("Say hi.", "hi")),
        ({"messages": MULTI_TURN}, MULTI_TURN),
    ],
    ids=["prompt_completion", "alpaca", "alpaca-no-input", "chat-multi-turn"],
)
def test_targets_are_the_assistant_contents_and_end_token(tmp_path, tokenizer, row, messages):
    example = prepare_rows(tmp_path, [row], tokenizer).train[0]
    replies = [message["content"] for message in messages if message["role"] == "assistant"]
    assert target_spans(tokenizer, example) == [reply + tokenizer.eos_token for reply in replies]
    assert tokenizer.decode(example.input_ids) == rendered(tokenizer, messages)


def test_text_rows_are_all_targets_and_end_with_eos(tmp_path, tokenizer):
    example = prepare_rows(tmp_path, [{"text": "Once upon a time."}], tokenizer).train[0]
    assert example.labels == example.input_ids
    assert example.input_ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(example.input_ids, skip_special_tokens=True) == "Once upon a time."


def test_train_on_prompt_makes_every_token_a_target_with_the_same_tokens(tmp_path, tiny_tokenizer):
    row = {"prompt": "Q?", "completion": "A."}
    masked = prepare_rows(tmp_path, [row], tiny_tokenizer).train[0]
    unmasked = prepare_rows(tmp_path, [row], tiny_tokenizer, train_on_prompt=True).train[0]
    assert unmasked.input_ids == masked.input_ids
    assert unmasked.labels == unmasked.input_ids
    assert IGNORE_INDEX in masked.labels


def test_fallback_format_is_the_documented_one(tmp_path, plain_tokenizer):
    example = prepare_rows(tmp_path, [{"messages": [SYSTEM, *single_turn("Hi", "Hello")]}], plain_tokenizer).train[0]
    assert plain_tokenizer.decode(example.input_ids) == (
        "### System:\nYou answer briefly.\n\n### User:\nHi\n\n### Assistant:\nHello<|im_end|>\n\n"
    )


def test_smollm2_default_system_prompt_carries_no_loss(tmp_path, smollm2_tokenizer):
    example = prepare_rows(tmp_path, [{"prompt": "Hi", "completion": "Hello"}], smollm2_tokenizer).train[0]
    assert smollm2_tokenizer.decode(example.input_ids).startswith("<|im_start|>system\nYou are a helpful AI assistant")
    assert target_spans(smollm2_tokenizer, example) == ["Hello<|im_end|>"]


def test_truncation_cuts_and_keeps_rows_whose_response_survives(tmp_path, tiny_tokenizer):
    rows = [{"prompt": "p" * 10, "completion": "c" * 50}, {"prompt": "p" * 80, "completion": "c"}]
    prepared = prepare_rows(tmp_path, rows, tiny_tokenizer, max_seq_len=40, max_bad_rows=1)
    assert [len(example) for example in prepared.train] == [40]
    assert target_spans(tiny_tokenizer, prepared.train[0])[0].startswith("cccc")
    assert [str(bad_row) for bad_row in prepared.bad_rows] == [
        f"{tmp_path / 'rows.jsonl'}:2: too long: no response token is left after truncating 102 tokens to max_seq_len 40; "
        "shorten the prompt or raise max_seq_len"
    ]


def test_reject_makes_over_long_rows_bad_rows(tmp_path, tiny_tokenizer):
    rows = [{"text": "short"}, {"text": "x" * 100}]
    prepared = prepare_rows(tmp_path, rows, tiny_tokenizer, max_seq_len=40, truncation="reject", max_bad_rows=1)
    assert prepared.info.train_examples == 1
    assert prepared.bad_rows[0].line == 2
    assert prepared.bad_rows[0].reason.startswith("too long: 101 tokens > max_seq_len 40 (truncation=reject)")


def test_a_conversation_may_open_with_the_assistant(tmp_path, tiny_tokenizer):
    messages = [{"role": "assistant", "content": "How can I help?"}, *single_turn("Nothing.", "Bye.")]
    example = prepare_rows(tmp_path, [{"messages": messages}], tiny_tokenizer).train[0]
    assert target_spans(tiny_tokenizer, example) == ["How can I help?<|im_end|>", "Bye.<|im_end|>"]


def test_templates_that_rewrite_history_or_refuse_give_bad_rows(tmp_path, tiny_model):
    from adaptlab.models import load_tokenizer

    tokenizer = load_tokenizer(tiny_model.path)
    tokenizer.chat_template = (
        "{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('no system turns') }}{% endif %}"
        "{% if loop.last or m.role == 'user' %}{{ m.content }}{% else %}[earlier reply]{% endif %}{% endfor %}"
    )
    rows = [
        {"messages": [*single_turn("a", "b"), *single_turn("c", "d")]},
        {"messages": [SYSTEM, *single_turn("a", "b")]},
    ]
    with pytest.raises(DataError) as raised:
        prepare_rows(tmp_path, rows, tokenizer)
    first, second = str(raised.value).splitlines()[1:]
    assert first.endswith(":1: the chat template renders earlier turns differently once later turns follow, so the "
                          "replies cannot be located; split the conversation into one row per assistant turn")
    assert second.endswith(":2: the chat template rejects this conversation: no system turns")
