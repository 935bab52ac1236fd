"""`adaptlab train` and `adaptlab eval`."""

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from adaptlab.cli_config import flag_name, overrides_from_flags, with_config_options
from adaptlab.errors import ConfigError
from adaptlab.schemas.train_config import TrainConfig, build_config

RESUME_FLAGS = ("out", "allow_pickle")  # the settings `--resume` takes besides the stored config


def train_command(
    config: Optional[Path] = typer.Option(None, "--config", help="YAML config; flags override its keys"),
    resume: bool = typer.Option(False, "--resume", help="continue the interrupted run in --out from its last checkpoint"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print trainable/total params and estimated memory; do not train"),
    **flags,
) -> None:
    """Fine-tune a model with full fine-tuning, LoRA, DoRA or QLoRA."""
    from adaptlab.objectives import get_objective
    from adaptlab.train.accelerate_launch import needs_launch, train_under_accelerate
    from adaptlab.train.dry_run import dry_run as plan_run
    from adaptlab.train.dry_run import print_dry_run
    from adaptlab.train.loop import train
    from adaptlab.train.ray_launch import train_on_ray

    overrides = overrides_from_flags(TrainConfig, flags)
    if resume:
        train_config = stored_config(config, overrides)
    else:
        train_config = build_config(config, overrides)
    # before a launcher passes the config on as a whole, where every field looks set
    train_config = get_objective(train_config.task, train_config.objective).with_defaults(train_config)
    if dry_run:
        print_dry_run(plan_run(train_config), Console())
        return
    if needs_launch(train_config):  # --launcher accelerate: its processes come back here, marked as launched
        raise typer.Exit(train_under_accelerate(train_config, resume=resume))
    if train_config.launcher == "ray":
        train_on_ray(train_config, resume=resume)
        return
    train(train_config, resume=resume)


def stored_config(yaml_file: Path | None, overrides: dict) -> TrainConfig:
    """A resumed run uses the config it started with (in its run record); only --out may (and must) be given,
    so no --config or flag can silently differ from what the checkpoint was trained with. --allow-pickle may be
    added: it changes what may be read (a sharded checkpoint), not how the run trains."""
    from adaptlab.schemas.run_record import RUN_RECORD_FILE
    from adaptlab.train.run_location import read_record_json

    changing = [flag_name(name) for name in overrides if name not in RESUME_FLAGS]
    if yaml_file is not None:
        changing.insert(0, "--config")
    if changing:
        raise ConfigError(
            f"--resume takes only --out (and --allow-pickle), not {', '.join(changing)}: the run continues with the config "
            f"stored in its {RUN_RECORD_FILE}; start a new run in another --out to change it"
        )
    if "out" not in overrides:
        raise ConfigError("--resume needs --out: the folder (or URL) of the interrupted run")
    record = read_record_json(overrides["out"])
    if record is None:
        raise ConfigError(f"{overrides['out']}: nothing to resume (no {RUN_RECORD_FILE})")
    stored = record["config"]
    return TrainConfig.model_validate(stored | {"allow_pickle": stored["allow_pickle"] or overrides.get("allow_pickle", False)})


def eval_command(
    run_dir: Path = typer.Argument(..., help="output folder of `adaptlab train`"),
    data: list[Path] = typer.Option(..., "--data", help="held-out data files"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Held-out loss and perplexity of a trained run, with the run's own data settings."""
    from adaptlab.train.evaluate_run import evaluate_run, result_table

    result = evaluate_run(run_dir, data)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        Console().print(result_table(result))


def register(app: typer.Typer) -> None:
    app.command("train", context_settings={"help_option_names": ["-h", "--help"]})(with_config_options(TrainConfig, train_command))
    app.command("eval")(eval_command)
