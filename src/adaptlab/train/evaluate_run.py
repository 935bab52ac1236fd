"""Evaluate a finished run on new held-out data, tokenized exactly as in training."""

from pathlib import Path

from rich.table import Table

from adaptlab.data import prepare_data
from adaptlab.errors import CompatibilityError
from adaptlab.eval.loss import evaluate_loss
from adaptlab.methods import get_method
from adaptlab.models import load_tokenizer, resolve_model
from adaptlab.schemas.run_record import read_run_record
from adaptlab.schemas.train_config import TrainConfig


def evaluate_run(run_dir: Path, data_files: list[Path]) -> dict:
    """Loss and perplexity of the trained run on every usable row of `data_files`."""
    record = read_run_record(run_dir)
    config = TrainConfig.model_validate(record.config)
    base = resolve_model(record.base_model.spec)
    if base.weights_sha256 != record.base_model.weights_sha256:
        raise CompatibilityError(
            f"{run_dir} was trained on {record.base_model.model_id} (weights {record.base_model.weights_sha256[:12]}), "
            f"but {record.base_model.spec} now resolves to weights {base.weights_sha256[:12]}"
        )
    tokenizer = load_tokenizer(run_dir)
    # prepare_data's first split is every row when nothing is held out; here all of them are evaluated
    data = prepare_data(data_files, [], tokenizer, config.model_copy(update={"eval_fraction": 0.0}))
    evaluated = data.train
    model = get_method(record.method).load_trained(base, Path(run_dir))
    result = evaluate_loss(model, evaluated, tokenizer.pad_token_id, batch_size=config.micro_batch_size)
    return {
        "run_dir": str(run_dir),
        "method": record.method,
        "examples": len(evaluated),
        "target_tokens": result.target_tokens,
        "loss": result.loss,
        "perplexity": result.perplexity,
        "data_sha256": {f.path: f.sha256 for f in data.info.files},
    }


def result_table(result: dict) -> Table:
    table = Table(title=f"eval: {result['run_dir']} ({result['method']})", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("examples", f"{result['examples']:,}")
    table.add_row("target tokens", f"{result['target_tokens']:,}")
    table.add_row("loss", f"{result['loss']:.4f}")
    table.add_row("perplexity", f"{result['perplexity']:.3f}")
    return table
