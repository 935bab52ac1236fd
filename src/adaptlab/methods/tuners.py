"""PEFT methods beyond LoRA, one small class each: IA3, LoHa, LoKr, OFT and VeRA change weights (and merge
into them); prompt and prefix tuning change the input (virtual tokens) and leave every weight alone.

Default learning rates and their sources (docs/training.md repeats them): PEFT's method comparison on
MetaMathQA (`method_comparison/MetaMathQA/experiments/<method>/<experiment>`) unless said otherwise.
"""

import re

from adaptlab.methods.peft_adapter import PEFT_TASK_TYPES, PeftAdapterMethod, target_modules
from adaptlab.schemas.train_config import TrainConfig

VIRTUAL_TOKEN_PACKING_REFUSAL = (
    "virtual tokens are prepended once per row, so in a packed row only the first example would see them "
    "(and PEFT ignores the position ids that keep packed examples apart); rows are padded instead"
)


class WeightTuner(PeftAdapterMethod):
    """A PEFT tuner that changes the adapted layers' weights: mergeable, served merged (`serve --merge`)."""

    serving = "merged"


class VirtualTokenTuner(PeftAdapterMethod):
    """Prompt and prefix tuning: trainable virtual tokens; no weight delta, nothing to merge, no server path."""

    serving = "not_served"
    has_weight_delta = False
    merge_refusal = "it trains virtual tokens fed in with every input and changes no weight, so there is nothing to merge"
    packing_refusal = VIRTUAL_TOKEN_PACKING_REFUSAL
    sharding_refusal = (
        "PEFT's prompt encoder feeds its whole virtual-token embeddings into the sharded base's layers (FSDP2 refuses the "
        "mix); train it data-parallel (ddp, or --launcher ray)"
    )


class IA3(WeightTuner):
    name = "ia3"
    label = "IA3"
    description = "IA3 (learned rescaling vectors)"
    peft_type = "IA3"
    default_learning_rate = 5e-3  # ia3/llama-3.2-3B-all-attn-5k-lr0.005 (the (IA)³ paper, Liu et al. 2022: 3e-3)

    def peft_config(self, config: TrainConfig, base):
        from peft import IA3Config

        # as a pattern, not a list: PEFT saves "all-linear" as full module paths, and then refuses (when loading) a
        # list of short names as not a subset of the targets
        feedforward = rf".*\.({'|'.join(map(re.escape, config.ia3_feedforward_modules))})$"
        return IA3Config(task_type=PEFT_TASK_TYPES[config.task], target_modules=target_modules(config), feedforward_modules=feedforward)


class LoHa(WeightTuner):
    name = "loha"
    label = "LoHa"
    description = "LoHa (low-rank Hadamard product)"
    peft_type = "LOHA"
    default_learning_rate = 2e-4  # loha/llama-3.2-3B-rank32 trains with the comparison's shared optimizer settings, as LoRA

    def peft_config(self, config: TrainConfig, base):
        from peft import LoHaConfig

        return LoHaConfig(task_type=PEFT_TASK_TYPES[config.task], r=config.rank, alpha=config.alpha, target_modules=target_modules(config))


class LoKr(WeightTuner):
    name = "lokr"
    label = "LoKr"
    description = "LoKr (low-rank Kronecker product)"
    peft_type = "LOKR"
    default_learning_rate = 2e-4  # lokr/llama-3.2-3B-rank32 trains with the comparison's shared optimizer settings, as LoRA

    def peft_config(self, config: TrainConfig, base):
        from peft import LoKrConfig

        return LoKrConfig(task_type=PEFT_TASK_TYPES[config.task], r=config.rank, alpha=config.alpha, target_modules=target_modules(config))


class OFT(WeightTuner):
    name = "oft"
    label = "OFT"
    description = "OFT (orthogonal fine-tuning, block-diagonal rotations)"
    peft_type = "OFT"
    default_learning_rate = 2e-4  # oft/llama-3.2-3B-rank32 trains with the comparison's shared optimizer settings, as LoRA

    def peft_config(self, config: TrainConfig, base):
        from peft import OFTConfig

        return OFTConfig(task_type=PEFT_TASK_TYPES[config.task], r=0, oft_block_size=config.oft_block_size, target_modules=target_modules(config))


class VeRA(WeightTuner):
    name = "vera"
    label = "VeRA"
    description = "VeRA (shared random projections, trained scaling vectors)"
    peft_type = "VERA"
    default_learning_rate = 1e-3  # vera/llama-3.2-3B-default

    def peft_config(self, config: TrainConfig, base):
        from peft import VeraConfig

        return VeraConfig(
            task_type=PEFT_TASK_TYPES[config.task], r=config.vera_rank, target_modules=target_modules(config),
            vera_dropout=config.dropout, projection_prng_key=config.seed, save_projection=True,
        )


class PromptTuning(VirtualTokenTuner):
    name = "prompt"
    label = "Prompt tuning"
    description = "Prompt tuning (trained virtual-token embeddings)"
    peft_type = "PROMPT_TUNING"
    default_learning_rate = 1e-3  # prompt_tuning/llama-3.2-3B-lr_0.001

    def peft_config(self, config: TrainConfig, base):
        from peft import PromptTuningConfig, PromptTuningInit

        text = config.prompt_init_text
        return PromptTuningConfig(
            task_type=PEFT_TASK_TYPES[config.task],
            num_virtual_tokens=config.num_virtual_tokens,
            prompt_tuning_init=PromptTuningInit.TEXT if text else PromptTuningInit.RANDOM,
            prompt_tuning_init_text=text,
            tokenizer_name_or_path=str(base.path) if text else None,
        )


class PrefixTuning(VirtualTokenTuner):
    name = "prefix"
    label = "Prefix tuning"
    description = "Prefix tuning (trained per-layer key/value prefixes)"
    peft_type = "PREFIX_TUNING"
    default_learning_rate = 1e-3  # prefixtuning/llama-3.2-3B-lr_0.001

    def peft_config(self, config: TrainConfig, base):
        from peft import PrefixTuningConfig

        return PrefixTuningConfig(task_type=PEFT_TASK_TYPES[config.task], num_virtual_tokens=config.num_virtual_tokens)
