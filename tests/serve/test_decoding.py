"""The pure pieces of decoding and streaming: padding, token choice, incremental text."""

import torch

from adaptlab.models import load_tokenizer
from adaptlab.serve.engines.batching.decoding import choose_token, left_padded
from adaptlab.serve.errors import validation_message
from adaptlab.serve.generation import IncrementalText


def test_left_padding_aligns_prompts_right_with_positions_from_zero():
    input_ids, attention_mask, position_ids = left_padded([[5, 6, 7], [9]], pad_token_id=0)
    assert input_ids.tolist() == [[5, 6, 7], [0, 0, 9]]
    assert attention_mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert position_ids.tolist() == [[0, 1, 2], [0, 0, 0]]


def test_greedy_takes_the_argmax_and_top_p_keeps_only_the_nucleus():
    logits = torch.tensor([0.0, 5.0, 4.9, -3.0])
    assert choose_token(logits, 0.0, 1.0, None) == 1
    generator = torch.Generator().manual_seed(0)
    drawn = {choose_token(logits, 1.0, 0.5, generator) for _ in range(200)}
    assert drawn == {1}  # token 1 alone holds more than half the mass
    drawn = {choose_token(logits, 1.0, 0.99, generator) for _ in range(200)}
    assert drawn == {1, 2}


def test_incremental_text_never_splits_a_multibyte_character(tiny_model):
    tokenizer = load_tokenizer(tiny_model.path)
    text = "naïve café — 東京 ✓"
    stream = IncrementalText(tokenizer)
    pieces = [stream.push(token_id) for token_id in tokenizer(text, add_special_tokens=False)["input_ids"]]
    pieces.append(stream.rest())
    assert "".join(pieces) == text
    assert not any("\ufffd" in piece for piece in pieces)
    assert len([piece for piece in pieces if piece]) > 1


def test_validation_message_names_the_field():
    message, param = validation_message(
        [{"loc": ("body", "messages", 0, "role"), "msg": "Input should be 'user'", "type": "literal_error"}]
    )
    assert param == "messages.0.role" and message.startswith("messages.0.role: ")
    message, param = validation_message([{"loc": ("body", 7), "msg": "JSON decode error", "type": "json_invalid"}])
    assert (message, param) == ("the request body is not valid JSON", None)
