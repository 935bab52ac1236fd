"""Fine-tuning methods. Each prepares a trainable model from a base folder and saves its artifact;
the training loop is the same for all of them."""

from adaptlab.methods.base import FineTuningMethod
from adaptlab.methods.full import FullFineTuning
from adaptlab.methods.lora import LoraFamily

METHODS: dict[str, FineTuningMethod] = {
    "full": FullFineTuning(),
    "lora": LoraFamily(use_dora=False, quantize_base=False),
    "dora": LoraFamily(use_dora=True, quantize_base=False),
    "qlora": LoraFamily(use_dora=False, quantize_base=True),
}


def get_method(name: str) -> FineTuningMethod:
    return METHODS[name]


__all__ = ["METHODS", "FineTuningMethod", "get_method"]
