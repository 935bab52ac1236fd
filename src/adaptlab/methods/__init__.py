"""Fine-tuning methods. Each prepares a trainable model from a base folder and saves its artifact;
the training loop is the same for all of them. Adding a method: one module here (or a small class in
tuners.py), one entry below, and its name in adaptlab.schemas.run_record.Method (the vocabulary of the
records, which sit below methods)."""

from adaptlab.methods.base import FineTuningMethod
from adaptlab.methods.full import FullFineTuning
from adaptlab.methods.lora import LoraFamily
from adaptlab.methods.tuners import (
    IA3,
    OFT,
    LoHa,
    LoKr,
    PrefixTuning,
    PromptTuning,
    VeRA,
)

METHODS: dict[str, FineTuningMethod] = {
    method.name: method
    for method in (
        FullFineTuning(),
        LoraFamily(name="lora", label="LoRA", description="LoRA"),
        # PEFT's DoRA rescales by the merged weight's norm, which the per-row mixed path does not compute
        LoraFamily(
            name="dora", label="DoRA", description="DoRA", use_dora=True, serving="merged",
            step_cost_note="every forward recomputes the norm of each adapted weight (base plus update): on CPU, SmolLM2-135M "
                           "steps took about 5x LoRA's CPU time",
        ),
        LoraFamily(name="qlora", label="QLoRA", description="QLoRA (LoRA on a 4-bit base)", quantized_base=True),
        LoraFamily(
            name="hybrid", label="Hybrid", description="Hybrid (full fine-tuning of one shared base, then a LoRA adapter per client)",
            tuned_base_method="full",
        ),
        IA3(),
        LoHa(),
        LoKr(),
        OFT(),
        VeRA(),
        PromptTuning(),
        PrefixTuning(),
    )
}


def get_method(name: str) -> FineTuningMethod:
    return METHODS[name]


def method_for_adapter_config(config: dict) -> FineTuningMethod | None:
    """The method whose artifact a PEFT adapter_config.json describes (None for a tuner adaptlab does not train)."""
    if config.get("peft_type") == "LORA" and config.get("use_dora"):
        return METHODS["dora"]
    return next((m for m in METHODS.values() if getattr(m, "peft_type", None) == config.get("peft_type")), None)


__all__ = ["METHODS", "FineTuningMethod", "get_method", "method_for_adapter_config"]
