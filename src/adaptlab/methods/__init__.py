"""Fine-tuning methods. Each prepares a trainable model from a base folder and saves its artifact;
the training loop is the same for all of them. Adding a method: one module here, one entry below,
and its name in adaptlab.schemas.run_record.Method (the vocabulary of the records, which sit below methods)."""

from adaptlab.methods.base import FineTuningMethod
from adaptlab.methods.full import FullFineTuning
from adaptlab.methods.lora import LoraFamily

METHODS: dict[str, FineTuningMethod] = {
    method.name: method
    for method in (
        FullFineTuning(),
        LoraFamily(name="lora", label="LoRA", description="LoRA"),
        LoraFamily(name="dora", label="DoRA", description="DoRA", use_dora=True),
        LoraFamily(name="qlora", label="QLoRA", description="QLoRA (LoRA on a 4-bit base)", quantized_base=True),
        LoraFamily(
            name="hybrid", label="Hybrid", description="Hybrid (full fine-tuning of one shared base, then a LoRA adapter per client)",
            tuned_base_method="full",
        ),
    )
}


def get_method(name: str) -> FineTuningMethod:
    return METHODS[name]


__all__ = ["METHODS", "FineTuningMethod", "get_method"]
