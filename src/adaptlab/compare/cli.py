"""`adaptlab recommend` (and, beside it, the other comparison commands)."""

import re
import tempfile
from pathlib import Path
from typing import Optional

import typer
from pydantic import ValidationError
from rich.console import Console

from adaptlab.cli_config import overrides_from_flags, with_config_options
from adaptlab.compare.recommend import Bound, Constraints, DryRunEstimate
from adaptlab.errors import ConfigError
from adaptlab.schemas.config_files import format_validation_error

BYTE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)


def parse_bytes(text: str, flag: str = "--memory-budget") -> int:
    """'8GB', '8 GiB', '512MB', '1.5G' -> bytes. K/M/G/T are powers of 1024, as memory is reported by nvidia-smi and PyTorch."""
    match = _SIZE.match(text)
    if match is None or (not match.group(2) and not match.group(3)):
        raise ConfigError(f"{flag}: cannot read {text!r} as a size; write a number with a unit, e.g. 8GB, 512MB or 24GiB")
    return int(float(match.group(1)) * BYTE_UNITS[match.group(2).lower()])


def _help(field: str) -> str:
    return Constraints.model_fields[field].description or ""


def _default(field: str):
    return Constraints.model_fields[field].default


def recommend_command(
    comparison_dir: Optional[Path] = typer.Argument(None, help="folder written by `adaptlab compare` (holds report.json)"),
    memory_budget: Optional[str] = typer.Option(None, "--memory-budget", help=f"e.g. 8GB or 24GiB; {_help('memory_budget_bytes')}"),
    tenants: int = typer.Option(1, "--tenants", min=1, help=_help("tenants")),
    min_quality: float = typer.Option(Constraints.model_fields["min_quality"].default, "--min-quality", min=0.0, help=f"{_help('min_quality')}; 0 to ignore quality"),
    max_forgetting: Optional[float] = typer.Option(None, "--max-forgetting", help=_help("max_forgetting_percent")),
    budget_usd: Optional[float] = typer.Option(None, "--budget-usd", min=0.0, help=_help("budget_usd")),
    model: Optional[str] = typer.Option(None, "--model", help="without a comparison: estimate every method on this base (dry run)"),
    data: list[Path] = typer.Option([], "--data", help="with --model: the training data the dry run tokenizes"),
    config: Optional[Path] = typer.Option(None, "--config", help="with --model: a train YAML whose settings (rank, seq len, batch) the estimate uses"),
    quality_bound: Bound = typer.Option(_default("quality_bound"), "--quality-bound", help=_help("quality_bound")),
    forgetting_bound: Bound = typer.Option(_default("forgetting_bound"), "--forgetting-bound", help=_help("forgetting_bound")),
    prefer: Optional[str] = typer.Option(None, "--prefer", help=f"comma-separated, e.g. lora,ia3: {_help('prefer')}"),
    as_json: bool = typer.Option(False, "--json", help="print the recommendation as JSON"),
    write_report: bool = typer.Option(False, "--write-report", help="re-render the comparison's report.md and report.html "
                                                                    "so that they open with this recommendation"),
) -> None:
    """Recommend a method (or the hybrid) from a comparison and your constraints; cheapest to serve and store first.

    Exits 1 when no method meets the constraints (the output says which constraint fails, by how much).
    """
    from adaptlab.compare.recommend import recommend
    from adaptlab.compare.recommendation_view import print_recommendation
    from adaptlab.compare.report import print_warnings, write_reports
    from adaptlab.compare.schema import read_comparison

    try:
        constraints = Constraints(
            memory_budget_bytes=None if memory_budget is None else parse_bytes(memory_budget),
            tenants=tenants,
            min_quality=min_quality or None,
            max_forgetting_percent=max_forgetting,
            budget_usd=budget_usd,
            quality_bound=quality_bound,
            forgetting_bound=forgetting_bound,
            prefer=[name.strip() for name in (prefer or "").split(",") if name.strip()],
        )
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None
    if write_report and comparison_dir is None:
        raise ConfigError("--write-report needs a comparison folder (the --out of `adaptlab compare`)")
    comparison = read_comparison(comparison_dir) if comparison_dir is not None else None
    if comparison is not None:
        recommendation = recommend(comparison, constraints)
        if write_report:
            folder = comparison_dir if comparison_dir.is_dir() else comparison_dir.parent
            written = write_reports(comparison, folder, constraints, with_json=False)
            Console(stderr=True).print(f"re-rendered {written['markdown']} and {written['html']} with these constraints")
    elif model is not None:
        recommendation = recommend(None, constraints, dry_run_estimates(model, data, config))
    else:
        raise ConfigError("pass a comparison folder (the --out of `adaptlab compare`), or --model and --data for an estimate without one")
    if as_json:
        typer.echo(recommendation.model_dump_json(indent=2))
    else:
        print_recommendation(recommendation, Console())
        if comparison is not None:
            print_warnings(comparison, Console())
    if recommendation.choice is None:
        raise typer.Exit(1)


def dry_run_estimates(model: str, data: list[Path], config: Path | None) -> list[DryRunEstimate]:
    """Every method's `adaptlab train --dry-run` figures on this base and data (the hybrid's come from them)."""
    from adaptlab.methods import METHODS
    from adaptlab.schemas.train_config import build_config
    from adaptlab.train.dry_run import dry_run

    estimates = []
    on_given_base = [name for name, method in METHODS.items() if not method.tuned_base_method]  # the hybrid is estimated from these
    with Console(stderr=True).status(f"estimating {', '.join(on_given_base)} (dry run)…"), tempfile.TemporaryDirectory() as unused_out:
        for method in on_given_base:
            plan = dry_run(build_config(config, {"model": model, "data": data or None, "method": method, "out": Path(unused_out)}))
            estimates.append(DryRunEstimate(method=method, trainable_params=plan.trainable_params, total_params=plan.total_params,
                                            estimated_peak_memory_bytes=plan.memory.total_bytes))
    return estimates


def compare_command(
    config: Optional[Path] = typer.Option(None, "--config", help="YAML config; flags override its keys"),
    **flags,
) -> None:
    """Train every method on the same base, data, split, seed and token budget; report them side by side.

    With --base-data, each --data file is one client: full fine-tuning on the shared data gives the hybrid's base, and
    every method is compared per client. With --staged and --target, methods train in order until one meets the target.
    Re-running the same command resumes: finished runs are reused, interrupted ones continue.
    """
    from adaptlab.compare.clients import compare_any
    from adaptlab.compare.config import CompareConfig
    from adaptlab.schemas.train_config import build_config
    from adaptlab.train.environment import check_not_launched

    check_not_launched("compare")
    compare_any(build_config(config, overrides_from_flags(CompareConfig, flags), config_class=CompareConfig))


def demo_command(
    out: Path = typer.Option(Path("adaptlab-demo"), "--out", help="folder for the demo's data, runs and reports"),
) -> None:
    """The whole story on the embedded SmolLM2-135M, offline: full FT vs LoRA vs QLoRA on a built-in task."""
    from adaptlab.compare.demo import run_demo

    run_demo(out)


def register(app: typer.Typer) -> None:
    from adaptlab.compare.config import PER_METHOD_FIELDS, CompareConfig

    shared_fields = [name for name in CompareConfig.model_fields if name not in PER_METHOD_FIELDS]
    app.command("compare")(with_config_options(CompareConfig, compare_command, fields=shared_fields))
    app.command("recommend")(recommend_command)
    app.command("demo")(demo_command)
