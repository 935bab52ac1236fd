"""The LoRA family through PEFT: LoRA, DoRA (weight-decomposed), QLoRA (LoRA on a frozen 4-bit NF4 base), and the
hybrid (LoRA on a base first fully fine-tuned on data shared by every client).

Options of the family, not methods of their own: the initialisation (`--init`: PEFT's default, gaussian, PiSSA,
OLoRA, EVA, LoftQ) and LoRA+ (`--loraplus-lr-ratio`, PEFT's create_loraplus_optimizer).
"""

import copy
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from adaptlab.errors import ConfigError
from adaptlab.methods.base import ServingMode, adamw_kernel
from adaptlab.methods.peft_adapter import PEFT_TASK_TYPES, PeftAdapterMethod, target_modules
from adaptlab.schemas.train_config import TrainConfig

# Inits that rewrite the base weights in memory (W − the adapter's start): the saved adapter is converted to one
# for the untouched base (PEFT's path_initial_model_for_weight_conversion), at twice the rank.
BASE_REWRITING_INITS = ("pissa", "olora")
PEFT_INIT_VALUE = {"default": True, "gaussian": "gaussian", "pissa": "pissa", "olora": "olora", "eva": "eva", "loftq": True}


def init_refusal(init: str, quantized_base: bool, has_cuda: bool) -> str | None:
    """Why `--init` cannot run with this method on this machine (None when it can)."""
    if init == "loftq" and not quantized_base:
        return "--init loftq fits the adapter to the 4-bit base's quantization error; use it with --method qlora"
    if init == "loftq" and not has_cuda:
        return "--init loftq: PEFT's LoftQ (replace_lora_weights_loftq) computes on a CUDA GPU, and this machine has none"
    if init in BASE_REWRITING_INITS and quantized_base:
        return f"--init {init} rewrites the base weights, which a frozen 4-bit base cannot hold; use --method lora or dora"
    return None


def lora_config(config: TrainConfig, use_dora: bool):
    from peft import EvaConfig, LoraConfig

    return LoraConfig(
        task_type=PEFT_TASK_TYPES[config.task],
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=target_modules(config),
        use_rslora=config.rslora,
        use_dora=use_dora,
        init_lora_weights=PEFT_INIT_VALUE[config.init],
        eva_config=EvaConfig() if config.init == "eva" else None,
    )


@dataclass(frozen=True)
class LoraFamily(PeftAdapterMethod):
    name: str
    label: str
    description: str
    use_dora: bool = False
    quantized_base: bool = False
    step_cost_note: str | None = None
    tuned_base_method: str | None = None
    serving: ServingMode = "per_row"
    peft_type = "LORA"
    lora_guidance_applies = True
    default_learning_rate = 2e-4  # Biderman et al. 2024 ("LoRA Learns Less and Forgets Less"); PEFT's method comparison

    def load_base(self, base, config: TrainConfig):
        import torch
        from peft import prepare_model_for_kbit_training

        from adaptlab.models import load_model_for_task

        if refusal := init_refusal(config.init, self.quantized_base, torch.cuda.is_available()):
            raise ConfigError(refusal)
        if not self.quantized_base:
            return super().load_base(base, config)
        # a bf16 run computes the 4-bit matmuls in bf16 too; an fp32 compute dtype would keep fp32 copies of every input
        compute_dtype = "bfloat16" if config.precision == "bf16" else "float32"
        model = load_model_for_task(
            base.path, config.task, config.labels, load_in_4bit=True, compute_dtype=compute_dtype, allow_pickle=config.allow_pickle
        )
        return prepare_model_for_kbit_training(model, use_gradient_checkpointing=config.gradient_checkpointing)

    def prepare(self, base, config: TrainConfig):
        peft_model = super().prepare(base, config)
        if config.init == "loftq":
            from peft import replace_lora_weights_loftq

            try:
                replace_lora_weights_loftq(peft_model, model_path=str(Path(base.path) / "model.safetensors"))
            except ValueError as exc:
                raise ConfigError(f"--init loftq: {exc}") from None
        return peft_model

    def peft_config(self, config: TrainConfig, base):
        return lora_config(config, self.use_dora)

    def optimizer(self, model, config: TrainConfig):
        if config.loraplus_lr_ratio is None:
            return super().optimizer(model, config)
        import torch
        from peft.optimizers import create_loraplus_optimizer

        return create_loraplus_optimizer(
            model, torch.optim.AdamW, lr=self.learning_rate(config), loraplus_lr_ratio=config.loraplus_lr_ratio,
            loraplus_weight_decay=config.weight_decay, **adamw_kernel(config),
        )

    def needs_data_pass(self, config: TrainConfig) -> bool:
        return config.init == "eva"

    def initialize_from_data(self, model, config: TrainConfig, batches: Iterable[dict]) -> None:
        """EVA: the adapters' A matrices from an SVD of each layer's inputs on these batches (PEFT cycles through
        them until the components converge), ranks redistributed across layers."""
        if not self.needs_data_pass(config):
            return
        from peft import initialize_lora_eva_weights

        try:
            initialize_lora_eva_weights(model, dataloader=list(batches), show_progress_bar=False)
        except ValueError as exc:
            raise ConfigError(f"--init eva: {exc}") from None

    def save(self, model, out_dir: Path, base, state_dict: dict | None = None) -> None:
        trained = model.peft_config["default"]
        if trained.init_lora_weights not in BASE_REWRITING_INITS:
            return super().save(model, out_dir, base, state_dict)
        with tempfile.TemporaryDirectory() as initial_dir:
            initial = self._initial_adapter(base, trained)
            initial.save_pretrained(initial_dir, safe_serialization=True, save_embedding_layers=False)
            model.save_pretrained(
                out_dir, safe_serialization=True, save_embedding_layers=False, path_initial_model_for_weight_conversion=initial_dir,
                state_dict=state_dict,
            )
        self.write_metadata(out_dir, base)

    def _initial_adapter(self, base, trained_config):
        """The adapter as PiSSA/OLoRA started it (a deterministic decomposition of the base weights), recomputed
        on a fresh base, marked as a plain LoRA init, as PEFT's conversion to an adapter for the untouched base needs."""
        from peft import get_peft_model

        from adaptlab.models import load_causal_lm

        initial = get_peft_model(load_causal_lm(base.path), copy.deepcopy(trained_config))
        initial.peft_config["default"].init_lora_weights = True
        return initial
