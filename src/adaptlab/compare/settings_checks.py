"""Settings that are known to hold LoRA back, checked before anyone reads the comparison as a verdict on LoRA.

Each warning cites where its rule comes from:
- Biderman et al. 2024, "LoRA Learns Less and Forgets Less" (arXiv:2405.09673): LoRA's best learning
  rate is about an order of magnitude above full fine-tuning's; targeting every module, the MLPs
  included, works best.
- Schulman et al. 2025, "LoRA Without Regret" (Thinking Machines Lab, https://thinkingmachines.ai/blog/lora/):
  the optimal LoRA rate is ~10× full fine-tuning's; attention-only LoRA underperforms, the MLP layers
  matter most; LoRA falls behind once the data exceeds its capacity; LoRA pays a larger penalty than
  full fine-tuning at large batch sizes.
- Dettmers et al. 2023, "QLoRA" (arXiv:2305.14314): LoRA on all linear layers is needed to match full fine-tuning.
The thresholds (5–30×, 256 rows per step) are adaptlab's reading of those results, not the papers' numbers.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

LR_RATIO_RANGE = (5.0, 30.0)
LARGE_BATCH_ROWS = 256
# Names of MLP (feed-forward) linear layers across common architectures: Llama/Mistral/Qwen/SmolLM, GPT-2,
# GPT-NeoX/Falcon, Phi/OPT, T5, Mixtral experts; and the usual container names.
MLP_MODULE_NAMES = frozenset(
    {"gate_proj", "up_proj", "down_proj", "c_fc", "dense_h_to_4h", "dense_4h_to_h", "fc1", "fc2", "wi", "wo",
     "w1", "w2", "w3", "mlp", "feed_forward", "ffn"}
)
ALL_LINEAR = "all-linear"

BIDERMAN_2024 = "Biderman et al. 2024, LoRA Learns Less and Forgets Less (arXiv:2405.09673)"
SCHULMAN_2025 = "Schulman et al. 2025, LoRA Without Regret (thinkingmachines.ai/blog/lora)"
DETTMERS_2023 = "Dettmers et al. 2023, QLoRA (arXiv:2305.14314)"

Rule = Literal["lora_learning_rate", "lora_not_on_mlp", "lora_capacity", "lora_large_batch"]


class SettingsWarning(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: Rule
    message: str = Field(description="what is set, and what the rule expects")
    source: str = Field(description="where the rule comes from")


@dataclass(frozen=True)
class MethodSettings:
    label: str
    low_rank: bool  # a LoRA-family adapter; the other (full fine-tuning) is the learning-rate reference
    learning_rate: float
    trainable_params: int


def settings_warnings(
    methods: Sequence[MethodSettings], target_modules: Sequence[str], train_target_tokens: int, rows_per_step: int
) -> list[SettingsWarning]:
    """Every warning the settings of one comparison raise (none when nothing low-rank is compared)."""
    low_rank = [m for m in methods if m.low_rank]
    if not low_rank:
        return []
    warnings = learning_rate_warnings(methods)
    if not targets_mlp(target_modules):
        warnings.append(SettingsWarning(
            rule="lora_not_on_mlp",
            message=f"LoRA targets {', '.join(target_modules)}, none of them an MLP layer; LoRA on the attention "
                    f"layers alone learns less. Use --target-modules all-linear",
            source=f"{SCHULMAN_2025}; {BIDERMAN_2024}; {DETTMERS_2023}",
        ))
    for method in low_rank:
        if method.trainable_params < train_target_tokens:
            warnings.append(SettingsWarning(
                rule="lora_capacity",
                message=f"{method.label} trains {method.trainable_params:,} parameters on {train_target_tokens:,} target tokens: "
                        f"fewer parameters than tokens to learn, so it may run out of capacity before full FT does. "
                        f"Raise --rank if it trails full FT",
                source=SCHULMAN_2025,
            ))
    if rows_per_step >= LARGE_BATCH_ROWS:
        warnings.append(SettingsWarning(
            rule="lora_large_batch",
            message=f"{rows_per_step} rows per optimizer step (micro batch × grad accum × processes): LoRA loses more than "
                    f"full FT at large batches; keep it under {LARGE_BATCH_ROWS}",
            source=SCHULMAN_2025,
        ))
    return warnings


def learning_rate_warnings(methods: Sequence[MethodSettings]) -> list[SettingsWarning]:
    """LoRA's rate against full fine-tuning's, when the comparison has both."""
    full = next((m for m in methods if not m.low_rank), None)
    if full is None:
        return []
    low, high = LR_RATIO_RANGE
    return [
        SettingsWarning(
            rule="lora_learning_rate",
            message=f"{m.label}'s learning rate {m.learning_rate:g} is {m.learning_rate / full.learning_rate:.3g}× {full.label}'s "
                    f"{full.learning_rate:g}; LoRA's best rate is about 10× full FT's (expected {low:g}–{high:g}×)",
            source=f"{BIDERMAN_2024}; {SCHULMAN_2025}",
        )
        for m in methods
        if m.low_rank and not low <= m.learning_rate / full.learning_rate <= high
    ]


def targets_mlp(target_modules: Sequence[str]) -> bool:
    """Whether the targets reach an MLP layer: `all-linear` does; otherwise a named target must be one."""
    if ALL_LINEAR in target_modules:
        return True
    return any(part in MLP_MODULE_NAMES for target in target_modules for part in re.split(r"\W+", target.lower()))
