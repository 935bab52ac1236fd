"""The fixed choices of adapter operations, apart from the heavy code that performs them, so the CLI can offer
them without importing torch."""

from typing import Literal

# PEFT's add_weighted_adapter combination types.
CombinationType = Literal["linear", "cat", "svd", "ties", "ties_svd", "dare_linear", "dare_ties", "magnitude_prune"]
# full: the full-precision base; dequantized: the NF4 base a QLoRA adapter was trained on, dequantized.
MergeInto = Literal["full", "dequantized"]
