"""GGUF → plain Hugging Face folder, once, cached.

A model loaded from GGUF will not `save_pretrained`, so we build a plain `LlamaForCausalLM`-style
model from its config (without `quantization_config`) and load the dequantized state dict into it.
"""

import hashlib
from pathlib import Path

from adaptlab.atomic import staging_dir
from adaptlab.errors import ModelLoadError


def cached_conversion(gguf_file: Path, models_cache: Path) -> Path:
    """The converted folder for this exact file (path, size, mtime), converting it the first time."""
    stat = gguf_file.stat()
    key = hashlib.sha256(f"{gguf_file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    return convert_gguf_to_hf(gguf_file, models_cache / f"gguf-{gguf_file.stem}-{key}")


def convert_gguf_to_hf(gguf_file: Path, target: Path) -> Path:
    if (target / "config.json").is_file():
        return target
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
        loaded = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name, dtype=torch.float32)
    except Exception as exc:  # transformers raises many types for unreadable GGUF
        raise ModelLoadError(f"{gguf_file}: could not read GGUF file ({type(exc).__name__}: {exc})") from exc
    config_dict = loaded.config.to_dict()
    config_dict.pop("quantization_config", None)
    config = AutoConfig.for_model(**config_dict)
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict(), strict=True)
    with staging_dir(target) as staged:
        plain.save_pretrained(staged)
        tokenizer.save_pretrained(staged)
    return target
