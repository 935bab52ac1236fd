"""`adaptlab data check` (validate and tokenize data files, report provenance) and `adaptlab data glossary`
(write the built-in demo task)."""

from pathlib import Path

import typer

from adaptlab.cli_config import overrides_from_flags, with_config_options
from adaptlab.data.options import DataOptions
from adaptlab.schemas.train_config import TrainConfig

# `adaptlab train`'s own flags for what `check` needs: the data options, the model and the held-out files.
CHECK_FIELDS = (*DataOptions.model_fields, "model", "eval_data")

SHOWN_BAD_ROWS = 20

data_app = typer.Typer(help="Check training data files; write the built-in demo task.", no_args_is_help=True)


def check_command(
    files: list[Path] = typer.Argument(..., help="training data files (JSONL, JSON, CSV/TSV, Parquet)"),
    card: Path | None = typer.Option(None, "--card", help="also write a Markdown data card to this file"),
    **flags,
) -> None:
    """Validate and tokenize data exactly as `adaptlab train` would (same default model, so the same tokenizer and
    chat template); list bad rows, counts, hashes, PII findings, duplicates and contamination."""
    from pydantic import ValidationError
    from rich.console import Console

    from adaptlab.data.prepare import prepare_data
    from adaptlab.errors import ConfigError
    from adaptlab.models import load_tokenizer, resolve_model
    from adaptlab.schemas.config_files import format_validation_error

    given = overrides_from_flags(TrainConfig, flags)
    model = given.pop("model", TrainConfig.model_fields["model"].default)
    eval_files = given.pop("eval_data", [])
    try:
        options = DataOptions.model_validate(given)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from exc
    console = Console()
    with console.status(f"Loading the tokenizer of {model}"):
        tokenizer = load_tokenizer(resolve_model(model).path)
    prepared = prepare_data(files, eval_files, tokenizer, options, show_progress=True)
    for bad_row in prepared.bad_rows[:SHOWN_BAD_ROWS]:
        console.print(f"[yellow]skipped[/] {bad_row}", highlight=False, soft_wrap=True)
    if len(prepared.bad_rows) > SHOWN_BAD_ROWS:
        console.print(f"[yellow]skipped[/] ... and {len(prepared.bad_rows) - SHOWN_BAD_ROWS} more")
    console.print(_files_table(prepared.info))
    console.print(_summary_table(prepared, model))
    console.print(_quality_table(prepared.info.quality))
    quality = prepared.info.quality
    for warning in (quality.duplicates.warning(), quality.contamination.warning()):
        if warning:
            console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    if card is not None:
        from adaptlab import atomic
        from adaptlab.data.card import data_card

        atomic.write_text(card, data_card(prepared.info, model, len(prepared.bad_rows)))
        console.print(f"wrote the data card to {card}", highlight=False)


def glossary_command(
    out_dir: Path = typer.Argument(..., help="folder for train.jsonl and eval.jsonl"),
    train_rows: int = typer.Option(400, "--train-rows", min=1, help="training records"),
    eval_rows: int = typer.Option(100, "--eval-rows", min=0, help="held-out records (sentences unseen in training)"),
    seed: int = typer.Option(0, "--seed", help="same seed, same files"),
) -> None:
    """Write the Acme house-style rewriting task: prompt/completion JSONL with a measurable short answer."""
    from rich.console import Console
    from rich.table import Table

    from adaptlab.data.glossary_task import glossary_task, write_jsonl

    train, held_out = glossary_task(train_rows, eval_rows, seed)
    table = Table(title=f"Glossary task (seed {seed})")
    for column in ("file", "records", "first prompt", "its completion"):
        table.add_column(column)
    for name, records in (("train.jsonl", train), ("eval.jsonl", held_out)):
        write_jsonl(records, out_dir / name)
        first = records[0] if records else {"prompt": "", "completion": ""}
        table.add_row(str(out_dir / name), str(len(records)), first["prompt"], first["completion"])
    Console().print(table)


def _files_table(info):
    from rich.table import Table

    table = Table(title="Data files")
    for column in ("file", "role", "rows", "bad rows", "sha256"):
        table.add_column(column, justify="right" if column in ("rows", "bad rows") else "left")
    for file in info.files:
        table.add_row(file.path, file.role, str(file.rows), str(file.bad_rows), file.sha256[:16])
    return table


def _summary_table(prepared, model: str):
    from rich.table import Table

    lengths = [len(example) for example in prepared.train]
    table = Table(title="Prepared data", show_header=False)
    table.add_column("what")
    table.add_column("value", overflow="fold")
    for what, value in (
        ("format", prepared.info.format),
        ("tokenizer", model),
        ("train examples", str(prepared.info.train_examples)),
        ("eval examples", str(prepared.info.eval_examples)),
        ("train tokens", str(sum(lengths))),
        ("tokens per example (mean / max)", f"{sum(lengths) / len(lengths):.1f} / {max(lengths)}"),
        ("train target tokens", str(prepared.info.train_target_tokens)),
        ("skipped bad rows", str(len(prepared.bad_rows))),
        ("tokenized sha256", prepared.info.tokenized_sha256),
    ):
        table.add_row(what, value)
    return table


def _quality_table(quality):
    from rich.table import Table

    table = Table(title="Data checks", show_header=False)
    table.add_column("what")
    table.add_column("value", overflow="fold")
    counts = ", ".join(f"{name} {count}" for name, count in quality.pii.findings_by_type.items()) or "none"
    duplicates, contamination = quality.duplicates, quality.contamination
    for what, value in (
        (f"PII findings (pii={quality.pii.mode})", counts),
        ("PII by field", ", ".join(f"{name} {count}" for name, count in quality.pii.findings_by_field.items()) or "none"),
        (
            f"duplicates (dedup={duplicates.mode})",
            f"exact {duplicates.exact}, near {duplicates.near}, dropped {duplicates.dropped} ({duplicates.rate:.1%})",
        ),
        ("contamination", f"{contamination.contaminated} of {contamination.eval_rows} held-out rows, dropped {contamination.dropped}"),
    ):
        table.add_row(what, value)
    return table


def register(app: typer.Typer) -> None:
    data_app.command("check")(with_config_options(TrainConfig, check_command, fields=CHECK_FIELDS))
    data_app.command("glossary")(glossary_command)
    app.add_typer(data_app, name="data")
