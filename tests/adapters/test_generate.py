from adaptlab.adapters.generate import format_prompt, generate_text
from adaptlab.adapters.loading import load_base_with_adapters
from adaptlab.models import load_tokenizer


def test_chat_template_is_used_when_the_tokenizer_has_one(tiny_model):
    tokenizer = load_tokenizer(tiny_model.path)
    text, templated = format_prompt(tokenizer, "hello", system="be brief")
    assert templated
    assert text == "<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n"

    tokenizer.chat_template = None
    assert format_prompt(tokenizer, "hello") == ("hello", False)


def test_greedy_generation_is_repeatable_and_bounded(make_adapter, tiny_model):
    model, tokenizer = load_base_with_adapters(tiny_model, [make_adapter("a", seed=1)])
    first = generate_text(model, tokenizer, "hi there", max_new_tokens=12)
    second = generate_text(model, tokenizer, "hi there", max_new_tokens=12)
    assert first.text == second.text
    assert 0 < first.new_tokens <= 12 and first.used_chat_template
    assert first.prompt_tokens == len(tokenizer(format_prompt(tokenizer, "hi there")[0], add_special_tokens=False).input_ids)


def test_adapters_change_what_is_generated(make_adapter, tiny_model):
    base, tokenizer = load_base_with_adapters(tiny_model, [])
    tuned, _ = load_base_with_adapters(tiny_model, [make_adapter("a", seed=1, targets="all-linear")])
    prompt = "tell me a story"
    assert generate_text(base, tokenizer, prompt, max_new_tokens=16).text != generate_text(tuned, tokenizer, prompt, max_new_tokens=16).text
