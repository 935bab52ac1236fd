"""`adaptlab train --dry-run`: what would be trained, and roughly how much memory it needs, without training."""

from dataclasses import asdict, dataclass

from rich.console import Console
from rich.table import Table

from adaptlab.data import prepare_data
from adaptlab.methods import get_method
from adaptlab.models import load_tokenizer, resolve_model
from adaptlab.models.hashing import count_parameters
from adaptlab.schemas.train_config import TrainConfig
from adaptlab.train.environment import choose_precision
from adaptlab.train.estimate import MemoryEstimate, estimate_training_memory
from adaptlab.train.progress import format_bytes


@dataclass(frozen=True)
class DryRun:
    method: str
    model_id: str
    trainable_params: int
    total_params: int
    train_examples: int
    eval_examples: int
    train_target_tokens: int
    memory: MemoryEstimate
    step_cost_note: str | None = None

    def as_dict(self) -> dict:
        return asdict(self) | {"estimated_memory_bytes": self.memory.total_bytes}


def dry_run(config: TrainConfig) -> DryRun:
    config = config.model_copy(update={"precision": choose_precision(config.precision)[0]})  # as the run would train
    base = resolve_model(config.model)
    tokenizer = load_tokenizer(base.path)
    data = prepare_data(config.data, config.eval_data, tokenizer, config)
    method = get_method(config.method)
    model = method.prepare(base, config)
    base_params = count_parameters(base.path, allow_pickle=config.allow_pickle)
    params = method.parameter_counts(model, base_params)
    model_config = model.config
    return DryRun(
        method=config.method,
        model_id=base.model_id,
        trainable_params=params.trainable,
        total_params=params.total,
        train_examples=len(data.train),
        eval_examples=len(data.eval),
        train_target_tokens=data.info.train_target_tokens,
        memory=estimate_training_memory(
            total_params=base_params,
            quantized_params=quantized_linear_params(model),
            trainable_params=params.trainable,
            hidden_size=model_config.hidden_size,
            num_layers=model_config.num_hidden_layers,
            vocab_size=model_config.vocab_size,
            micro_batch_size=config.micro_batch_size,
            seq_len=config.max_seq_len,
            bf16=config.precision == "bf16",
            gradient_checkpointing=config.gradient_checkpointing,
        ),
        step_cost_note=method.step_cost_note,
    )


def quantized_linear_params(model) -> int:
    """Original element count of every 4-bit weight (bitsandbytes Params4bit keep their unpacked shape in
    quant_state); 0 for a model without any."""
    total = 0
    for param in model.parameters():
        quant_state = getattr(param, "quant_state", None)
        if quant_state is not None:
            count = 1
            for dim in quant_state.shape:
                count *= dim
            total += count
    return total


def dry_run_table(result: DryRun) -> Table:
    table = Table(title=f"dry run: {result.method} on {result.model_id}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    percent = 100.0 * result.trainable_params / result.total_params
    table.add_row("trainable params", f"{result.trainable_params:,} of {result.total_params:,} ({percent:.3f}%)")
    table.add_row("examples", f"{result.train_examples:,} train, {result.eval_examples:,} eval")
    table.add_row("target tokens / epoch", f"{result.train_target_tokens:,}")
    for name, value in asdict(result.memory).items():
        table.add_row(f"  {name.removesuffix('_bytes')}", format_bytes(value))
    table.add_row("estimated memory", f"{format_bytes(result.memory.total_bytes)} (rough; excludes process overhead)")
    if result.step_cost_note:
        table.add_row("compute per step", result.step_cost_note)
    return table


def print_dry_run(result: DryRun, console: Console) -> None:
    console.print(dry_run_table(result))
