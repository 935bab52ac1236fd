"""The pure pieces of the one-pass checks: which texts are screened, how redaction is put back, length buckets."""

from adaptlab.data.quality import field_texts, token_length_histogram, with_field_texts


def test_token_lengths_fall_in_power_of_two_buckets():
    assert token_length_histogram([1, 16, 17, 32, 33, 64, 65, 1000]) == {
        "1-16": 2, "17-32": 2, "33-64": 2, "65-128": 1, "513-1024": 1
    }


def test_field_texts_are_the_format_fields_that_hold_text():
    record = {"instruction": "a", "input": None, "output": "b", "extra": "not read"}
    assert field_texts(record, "alpaca") == [("instruction", "a"), ("output", "b")]


def test_redacted_chat_texts_go_back_into_their_messages():
    record = {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]}
    redacted = with_field_texts(record, "chat", {"messages[2].content": "<EMAIL>"})
    assert redacted["messages"] == [{"role": "user", "content": "x"}, {"role": "assistant", "content": "<EMAIL>"}]
    assert record["messages"][1]["content"] == "y"
