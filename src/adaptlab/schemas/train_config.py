"""The training config: one typed model. YAML files and CLI flags are two views of it.

Every field's description is its help text; `adaptlab train --help` is generated from this class.
"""

from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from adaptlab.data.options import DataOptions
from adaptlab.errors import ConfigError
from adaptlab.schemas.config_files import format_validation_error, read_yaml
from adaptlab.schemas.run_record import Method

LoraInit = Literal["default", "gaussian", "pissa", "olora", "eva", "loftq"]


class TrainConfig(DataOptions):
    """Data fields come from DataOptions (declared once there); the rest is the run."""

    model_config = ConfigDict(extra="forbid")

    # what to train
    model: str = Field("builtin:smollm2-135m", description="base model: builtin:smollm2-135m, builtin:tiny, a HF folder, a .gguf file or a hub id")
    method: Method = Field(
        "lora",
        description="full | lora | dora | qlora | hybrid (LoRA on a fully fine-tuned base given as --model) | ia3 | loha | lokr | oft | vera | prompt | prefix",
    )
    task: Literal["causal_lm", "classification"] = Field(
        "causal_lm", description="causal_lm: a language model; classification: a sequence-classification head on {text, label} rows"
    )
    objective: Literal["sft", "dpo", "simpo"] = Field(
        "sft",
        description="sft: supervised fine-tuning (next-token loss on responses, or label cross-entropy); "
        "dpo: preference tuning on {prompt|messages, chosen, rejected} rows (sigmoid DPO against the base); "
        "simpo: the same rows, reference-free (SimPO: length-normalised log-probabilities, no reference model)",
    )
    beta: float | None = Field(
        None, gt=0, description="dpo: strength of the pull towards the reference (β, default 0.1); simpo: reward scale (β, default 2.0)"
    )
    simpo_gamma: float = Field(1.0, ge=0, description="simpo: target reward margin γ the chosen response is pushed above the rejected one")
    precompute_reference: bool = Field(
        False, description="dpo: compute the base's log-probabilities of every pair in one pass before training, kept in a file in the run "
        "folder, instead of holding a frozen copy of the model (full) or running the base each step (adapters)",
    )
    labels: list[str] = Field([], description="classification labels in head order (default: the sorted labels found in the training data)")
    out: Path | str | None = Field(
        None, description="output folder of the run (required), or an fsspec URL (s3://bucket/run, gs://…, file:///…, memory://…) "
        "the run and its checkpoints are copied to from a local staging folder",
    )
    # data
    data: list[Path] = Field([], description="training data files (JSONL, JSON, CSV/TSV, Parquet)")
    eval_data: list[Path] = Field([], description="held-out data files; otherwise --eval-fraction of the training rows")
    packing: bool = Field(True, description="pack several examples per row; exact, as attention never crosses example boundaries")
    group_by_length: bool = Field(
        False, description="unpacked rows: micro-batches of rows of similar length, so little compute goes to padding (Hugging Face's "
        "group_by_length); a step's rows are then less like a random sample, which can cost quality (docs/training.md)",
    )
    # LoRA family
    rank: int = Field(16, ge=1, description="LoRA rank r")
    alpha: float = Field(32.0, gt=0, description="LoRA alpha (scale = alpha/r, or alpha/sqrt(r) with rsLoRA)")
    # 0 as in PEFT's LoraConfig: a dropout mask on every adapted module's input made SmolLM2 LoRA training 1.57x slower
    # on 2 CPU cores at 0.05 (298 against 469 tokens/s, bench/README.md)
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="LoRA dropout (0: none, PEFT's default)")
    target_modules: list[str] = Field(["all-linear"], description="modules to adapt: all-linear or names such as q_proj v_proj")
    rslora: bool = Field(False, description="rank-stabilised LoRA scaling alpha/sqrt(r)")
    init: LoraInit = Field(
        "default", description="lora/dora/qlora initialisation (other methods ignore it): default (PEFT's: Kaiming A, zero B), gaussian, pissa, olora, "
        "eva (SVD of the run's own first training batches' activations) or loftq (qlora only)"
    )
    loraplus_lr_ratio: float | None = Field(
        None, gt=0, description="lora/dora/qlora (other methods ignore it): LoRA+, B matrices learn this many times faster than A (PEFT's create_loraplus_optimizer; paper: 16)"
    )
    # other PEFT methods (LoHa/LoKr use --rank and --alpha too; IA3, OFT and VeRA --target-modules)
    ia3_feedforward_modules: list[str] = Field(
        ["down_proj"], description="IA3: modules whose input (not output) is scaled, the feed-forward ones (Llama: down_proj)"
    )
    oft_block_size: int = Field(32, ge=1, description="OFT: size of the orthogonal blocks (must divide the adapted layers' input size)")
    vera_rank: int = Field(256, ge=1, description="VeRA: rank of the shared random projections")
    num_virtual_tokens: int = Field(20, ge=1, description="prompt/prefix tuning: virtual tokens prepended to every sequence")
    prompt_init_text: str | None = Field(
        None, description="prompt tuning: initialise the virtual tokens from this text's embeddings (default: random)"
    )
    # optimisation
    learning_rate: float | None = Field(None, gt=0, description="peak learning rate; default: the method's own (docs/training.md lists them with their sources)")
    lr_schedule: Literal["cosine", "linear", "constant"] = Field("cosine", description="learning-rate schedule after warm-up")
    warmup_steps: int = Field(0, ge=0, description="linear warm-up steps")
    weight_decay: float = Field(0.0, ge=0.0, description="AdamW weight decay")
    max_grad_norm: float | None = Field(1.0, description="clip gradients to this norm (None: no clipping)")
    epochs: int = Field(1, ge=1, description="passes over the training data (ignored when --max-steps is set)")
    max_steps: int | None = Field(None, ge=1, description="optimizer steps to run; overrides --epochs")
    micro_batch_size: int = Field(4, ge=1, description="rows per forward pass (--task classification: 32, the objective's default)")
    grad_accum: int = Field(1, ge=1, description="micro-batches per optimizer step")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="bf16 autocast (weights stay fp32) or fp32; auto: bf16 where the hardware computes it natively"
    )
    gradient_checkpointing: bool = Field(False, description="recompute activations in the backward pass to save memory")
    # speed (each default measured: bench/README.md, "Training levers")
    optimizer_kernel: Literal["fused", "foreach", "for_loop"] = Field(
        "fused", description="AdamW implementation: fused (one kernel over all parameters), foreach (batched ops) or for_loop (per parameter)"
    )
    compile_layers: bool = Field(False, description="compile each decoder layer with torch.compile (inductor) before training; compile time counts")
    seed: int = Field(0, description="seed of the held-out split, and of initialisation, data order and dropout unless --training-seed is set")
    training_seed: int | None = Field(
        None, description="seed for initialisation, data order and dropout only (default: --seed); the held-out split keeps --seed"
    )
    eval_every: int | None = Field(None, ge=1, description="evaluate every N optimizer steps (always at the end)")
    save_every: int | None = Field(None, ge=1, description="checkpoint every N optimizer steps (for --resume)")
    log_every: int = Field(1, ge=1, description="record the training loss every N steps")
    allow_pickle: bool = Field(False, description="allow loading pickle-based (.bin/.pt) base weights")
    # where the processes run (docs/training.md "Scaling out")
    launcher: Literal["local", "accelerate", "ray"] = Field(
        "local", description="local: this process, or the processes `accelerate launch` started; accelerate: start "
        "`accelerate launch --config_file <--accelerate-config>` (compare: for each run); ray: --workers Ray Train workers "
        "on the cluster at RAY_ADDRESS (a local one when unset)"
    )
    accelerate_config: Path | None = Field(
        None, description="--launcher accelerate: accelerate's config file, e.g. configs/accelerate/ddp.yaml, fsdp2.yaml, zero2.yaml or zero3.yaml"
    )
    workers: int = Field(2, ge=1, description="--launcher ray: training processes (Ray Train workers), one CPU each (one GPU each where Ray sees GPUs)")

    @property
    def run_seed(self) -> int:
        """The seed of the training randomness: initialisation, data order, dropout."""
        return self.seed if self.training_seed is None else self.training_seed

    @field_validator("out", mode="before")
    @classmethod
    def _folder_or_url(cls, value):
        return value if value is None or is_url(value) else Path(value)

    @model_validator(mode="after")
    def _check(self) -> "TrainConfig":
        if self.out is None:
            raise ValueError("out: an output folder is required (--out)")
        if not self.data:
            raise ValueError("data: at least one training data file is required (--data)")
        if (self.launcher == "accelerate") != (self.accelerate_config is not None):
            raise ValueError("accelerate_config: --launcher accelerate and --accelerate-config go together")
        return self


def is_url(location: str | Path) -> bool:
    """An fsspec URL (`scheme://…`) rather than a local path."""
    return isinstance(location, str) and "://" in location


def build_config(yaml_file: Path | None, overrides: dict, config_class: type[TrainConfig] = TrainConfig) -> TrainConfig:
    """Defaults < YAML file < CLI flags. Unknown keys and bad values are errors naming the key."""
    values: dict = {}
    if yaml_file is not None:
        values.update(read_yaml(yaml_file))
    values.update({key: value for key, value in overrides.items() if value is not None})
    try:
        return config_class.model_validate(values)
    except ValidationError as exc:
        where = f"{yaml_file}: " if yaml_file else ""
        raise ConfigError(where + format_validation_error(exc)) from exc
