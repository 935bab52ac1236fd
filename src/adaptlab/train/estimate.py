"""Rough training-memory estimate for `--dry-run` and for `recommend` without a comparison.

bytes = weights + gradients + AdamW moments + activations + loss logits, where
- weights: fp32 (4 B/param); QLoRA stores decoder linear weights in NF4 (~0.5 B/param + scales);
- gradients 4 B and AdamW 8 B per trainable parameter;
- activations per layer ≈ 34·b·s·h elements (Korthikanti et al. 2022) at 4 B (2 B under bf16 autocast),
  or only the layer input b·s·h when gradient checkpointing recomputes the rest;
- logits: 2 × target tokens × vocab × 4 B (computed at target positions only).
Process overhead (Python, libraries) is not included. Measured figures always win.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class MemoryEstimate:
    weights_bytes: int
    gradients_bytes: int
    optimizer_bytes: int
    activations_bytes: int
    logits_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.gradients_bytes + self.optimizer_bytes + self.activations_bytes + self.logits_bytes


def estimate_training_memory(
    *,
    total_params: int,
    quantized_params: int,
    trainable_params: int,
    hidden_size: int,
    num_layers: int,
    vocab_size: int,
    micro_batch_size: int,
    seq_len: int,
    bf16: bool,
    gradient_checkpointing: bool,
) -> MemoryEstimate:
    activation_bytes_per_element = 2 if bf16 else 4
    tokens = micro_batch_size * seq_len
    per_layer_elements = tokens * hidden_size * (1 if gradient_checkpointing else 34)
    recompute_elements = tokens * hidden_size * 34 if gradient_checkpointing else 0
    return MemoryEstimate(
        weights_bytes=int((total_params - quantized_params) * 4 + quantized_params * 0.5625),
        gradients_bytes=trainable_params * 4,
        optimizer_bytes=trainable_params * 8,
        activations_bytes=(per_layer_elements * num_layers + recompute_elements) * activation_bytes_per_element,
        logits_bytes=2 * tokens * vocab_size * 4 // 2,  # about half the tokens are targets in instruction data
    )
