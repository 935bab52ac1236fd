"""Load a resolved folder as a causal LM or a sequence classifier (full precision or 4-bit NF4) and its tokenizer."""

import logging
import warnings
from pathlib import Path

from adaptlab.errors import ModelLoadError


AUTO_CLASSES = {"causal_lm": "AutoModelForCausalLM", "classification": "AutoModelForSequenceClassification"}


def quiet_libraries() -> None:
    """adaptlab shows its own progress; silence the libraries' per-tensor bars and known-harmless notices."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    # bitsandbytes tries an optional hub kernel for CPU 4-bit matmuls and falls back to its own; the notice is noise
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)


def load_tokenizer(model_dir: Path):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
    except Exception as exc:
        raise ModelLoadError(f"{model_dir}: could not load tokenizer ({type(exc).__name__}: {exc})") from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(model_dir: Path, *, load_in_4bit: bool = False, compute_dtype: str = "float32", allow_pickle: bool = False):
    """Full precision (fp32 weights) or, with `load_in_4bit`, an NF4-quantized frozen base (bitsandbytes)."""
    return load_model_for_task(model_dir, "causal_lm", load_in_4bit=load_in_4bit, compute_dtype=compute_dtype, allow_pickle=allow_pickle)


def load_model_for_task(
    model_dir: Path, task: str, labels: list[str] | tuple[str, ...] = (), *, load_in_4bit: bool = False,
    compute_dtype: str = "float32", allow_pickle: bool = False,
):
    """`task` causal_lm: the LM with its output projection; classification: the body with a sequence-classification
    head of len(labels) outputs (new and randomly initialised on a base; the trained one in a saved classifier,
    whose own labels stand when `labels` is empty). An encoder pools its first token, a causal LM its last."""
    import torch
    import transformers
    from transformers import BitsAndBytesConfig

    kwargs: dict = {"dtype": torch.float32, "use_safetensors": None if allow_pickle else True}
    if labels:
        kwargs |= {"num_labels": len(labels), "id2label": dict(enumerate(labels)), "label2id": {label: i for i, label in enumerate(labels)}}
    if load_in_4bit:
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=getattr(torch, compute_dtype),
            bnb_4bit_quant_storage=torch.uint8,
        )
        kwargs["device_map"] = {"": "cuda:0" if torch.cuda.is_available() else "cpu"}
    try:
        model = getattr(transformers, AUTO_CLASSES[task]).from_pretrained(model_dir, **kwargs)
    except OSError as exc:
        hint = "" if allow_pickle else " (only safetensors weights are loaded unless --allow-pickle is given)"
        raise ModelLoadError(f"{model_dir}: could not load model weights{hint}: {exc}") from exc
    if labels and model.config.pad_token_id is None:  # a causal LM classifier finds each row's last token by the padding
        eos = model.config.eos_token_id
        model.config.pad_token_id = eos[0] if isinstance(eos, list) else eos
    if load_in_4bit:
        keep_4bit_weights_differentiable(model)
        release_checkpoint_mapping(model)
    return model


def release_checkpoint_mapping(model) -> None:
    """Copy the tensors left unquantized (embeddings, norms) out of the memory-mapped checkpoint.

    While one of them still points into the mapping, every page of the full-precision file that
    quantization read stays resident: ~0.4 GiB of RSS for SmolLM2-135M that the 4-bit model never uses.
    """
    import bitsandbytes as bnb
    import torch

    with torch.no_grad():
        for module in model.modules():
            for tensor in [*module.parameters(recurse=False), *module.buffers(recurse=False)]:
                if tensor.device.type == "cpu" and not isinstance(tensor, bnb.nn.Params4bit):
                    tensor.data = tensor.data.clone()


def keep_4bit_weights_differentiable(model) -> None:
    """Stop bitsandbytes from repacking 4-bit weights into its CPU inference layout.

    On AVX512-BF16 CPUs, Linear4bit repacks its weight at the first eval-mode forward without grad
    (a training loop's first evaluation) and from then on multiplies through a kernel with no
    autograd: the gradient through the frozen base is silently dropped, and QLoRA trains on wrong
    gradients. Every 4-bit model adaptlab loads keeps one numeric path, in training and inference.
    """
    import bitsandbytes as bnb

    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            module.support_avx512bf16_for_cpu = False
